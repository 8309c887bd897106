"""The operator audit list: one row per operator action, written by the service that acts."""

from __future__ import annotations

import logging

from operations.models import OperatorAction

logger = logging.getLogger("operations.audit")


def operator_action_record(
    *, actor, action: str, target: str = "", count: int = 0, detail: str = "", source: str = "admin"
) -> OperatorAction:
    """Record who did `action` on `target`; an actor that is not a saved user is kept as text in `detail`."""
    user = actor if getattr(actor, "pk", None) is not None else None
    if actor is not None and user is None:
        detail = f"{detail} (by {actor})".strip()
    entry = OperatorAction.objects.create(
        actor=user, source=source, action=action, target=target[:255], count=count, detail=detail
    )
    logger.info(
        "Operator action %s on %s by %s (%s): %s",
        action,
        target or "-",
        getattr(user, "username", None) or source,
        source,
        detail,
    )
    return entry


def operator_action_receiver(sender, *, actor, action, target="", count=0, detail="", source="admin", **kwargs):
    """`common.signals.operator_acted` → one audit row (connected in OperationsConfig.ready)."""
    operator_action_record(actor=actor, action=action, target=target, count=count, detail=detail, source=source)
