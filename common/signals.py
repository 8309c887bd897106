"""Signals that let a lower app report to the operator tools above it without importing them."""

from django.dispatch import Signal

#: An operator acted from the admin or a command (bulk reminder actions, queue pauses).
#: Keyword arguments: actor, action, target, count, detail, source. `operations` records it in its audit list.
operator_acted = Signal()
