"""The registry of tracked tasks: job type → TaskSpec (body, queue, timeout, retries, RQ entry point).

`jobs.runner.tracked_task` fills it; like Zulip's `assign_queue`, it registers
each task with its queue, so the worker banner and the system checks see every
task and the queue it declared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TaskSpec:
    job_type: str
    body: Callable[..., Any]
    queue: str
    #: RQ job timeout in seconds; None means `settings.JOB_TIMEOUT`.
    timeout: int | None = None
    #: How many times RQ retries a failed attempt before the row ends `failed`.
    max_retries: int = 0
    retry_intervals: tuple[int, ...] = field(default_factory=tuple)
    #: The callable RQ imports and runs (set by the decorator).
    entry: Callable[..., Any] | None = None

    @property
    def dotted_name(self) -> str:
        target = self.entry or self.body
        return f"{target.__module__}.{target.__qualname__}"


_REGISTRY: dict[str, TaskSpec] = {}


class UnknownJobType(LookupError):
    pass


def register(spec: TaskSpec) -> None:
    """Add `spec` to the registry; a job type registered by two different functions is an error."""
    existing = _REGISTRY.get(spec.job_type)
    if existing is not None and existing.dotted_name != spec.dotted_name:
        raise ValueError(
            f"job_type {spec.job_type!r} is registered twice: {existing.dotted_name} and {spec.dotted_name}"
        )
    _REGISTRY[spec.job_type] = spec


def get_task(job_type: str) -> TaskSpec:
    try:
        return _REGISTRY[job_type]
    except KeyError:
        raise UnknownJobType(f"No tracked task is registered for job type {job_type!r}.") from None


def all_tasks() -> list[TaskSpec]:
    return sorted(_REGISTRY.values(), key=lambda spec: spec.job_type)
