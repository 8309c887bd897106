"""Writes on reminders, by sub-domain.

- `api`: the API's create, edit and delete;
- `claims`: claiming due reminders and delivering them at most once (its docstring says how);
- `sweep`: the guarded sweep the scheduler runs;
- `operator`: the admin's actions, each audited.
"""

from reminders.services.api import (
    ReminderConflict,
    ReminderLimitExceeded,
    reminder_create,
    reminder_delete,
    reminder_update,
)
from reminders.services.claims import (
    RELEASED_CLAIM,
    UNKNOWN_OUTCOME,
    SweepResult,
    reminder_claim_due,
    reminder_deliver_chunk,
    reminder_deliver_claimed,
    reminder_fail_abandoned,
)
from reminders.services.operator import reminders_cancel, reminders_reset_pending, reminders_send_now
from reminders.services.sweep import (
    SLOT_RETENTION,
    SWEEP_LOCK_KEY,
    reminder_sweep_run,
    reminder_sweep_slot_take,
    reminders_sweep,
)

__all__ = [
    "RELEASED_CLAIM",
    "SLOT_RETENTION",
    "SWEEP_LOCK_KEY",
    "UNKNOWN_OUTCOME",
    "ReminderConflict",
    "ReminderLimitExceeded",
    "SweepResult",
    "reminder_claim_due",
    "reminder_create",
    "reminder_delete",
    "reminder_deliver_chunk",
    "reminder_deliver_claimed",
    "reminder_fail_abandoned",
    "reminder_sweep_run",
    "reminder_sweep_slot_take",
    "reminder_update",
    "reminders_cancel",
    "reminders_reset_pending",
    "reminders_send_now",
    "reminders_sweep",
]
