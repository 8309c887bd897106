"""Pausing and resuming one queue: the operator's side of the flag that Scribes workers read (jobs.pausing)."""

from __future__ import annotations

import json
import logging

from django.utils import timezone

from common import queues
from jobs.pausing import PAUSED_KEY
from jobs.rqkeys import rq_connection
from operations.audit import operator_action_record

logger = logging.getLogger("operations.pausing")


def _check_name(name: str) -> None:
    if name not in queues.ALL:
        raise ValueError(f"Unknown queue {name!r}; project queues: {', '.join(queues.ALL)}.")


def queue_pause(*, name: str, by, reason: str = "", source: str = "admin", connection=None) -> bool:
    """Pause queue `name`; False when it was already paused. Audited."""
    _check_name(name)
    who = by.get_username() if by is not None and hasattr(by, "get_username") else str(by or source)
    flag = json.dumps({"by": who, "at": timezone.now().isoformat(), "reason": reason, "source": source})
    changed = bool((connection or rq_connection()).hsetnx(PAUSED_KEY, name, flag))
    if changed:
        logger.warning(
            "Queue %s paused by %s (%s): its jobs wait until it is resumed", name, who, reason or "no reason"
        )
        operator_action_record(
            actor=by, source=source, action="queue_pause", target=f"queue:{name}", detail=reason or "paused"
        )
    return changed


def queue_resume(*, name: str, by, source: str = "admin", connection=None) -> bool:
    """Resume queue `name`; False when it was not paused. Audited."""
    _check_name(name)
    changed = bool((connection or rq_connection()).hdel(PAUSED_KEY, name))
    if changed:
        who = by.get_username() if by is not None and hasattr(by, "get_username") else str(by or source)
        logger.warning("Queue %s resumed by %s", name, who)
        operator_action_record(actor=by, source=source, action="queue_resume", target=f"queue:{name}", detail="resumed")
    return changed
