"""One way to define a tracked task: `@tracked_task(job_type, queue=...)`.

The decorated body receives a `JobContext` (progress reporting, the row) and its
keyword arguments. The function the decorator returns is the RQ entry point: RQ
imports it by its dotted name and calls it with the BackgroundJob id, and the
runner moves the row through queued → running → completed/failed around the body.
Like Zulip's `assign_queue`, the decorator registers the task with its queue, so
the worker banner and the system checks see every task and the queue it declared.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scribes import queues


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


def tracked_task(
    job_type: str,
    *,
    queue: str = queues.DEFAULT,
    timeout: int | None = None,
    max_retries: int = 0,
    retry_intervals: tuple[int, ...] = (),
):
    """Register `body(job, **kwargs)` as the task for `job_type` on `queue`."""

    def decorate(body: Callable[..., Any]) -> Callable[..., Any]:
        spec = TaskSpec(
            job_type=job_type,
            body=body,
            queue=queue,
            timeout=timeout,
            max_retries=max_retries,
            retry_intervals=tuple(retry_intervals),
        )

        @functools.wraps(body)
        def entry(background_job_id: str | None = None, **kwargs: Any) -> Any:
            from jobs.runner import run_tracked

            return run_tracked(spec, background_job_id, kwargs)

        object.__setattr__(spec, "entry", entry)
        entry.spec = spec  # type: ignore[attr-defined]
        existing = _REGISTRY.get(job_type)
        if existing is not None and existing.dotted_name != spec.dotted_name:
            raise ValueError(
                f"job_type {job_type!r} is registered twice: {existing.dotted_name} and {spec.dotted_name}"
            )
        _REGISTRY[job_type] = spec
        return entry

    return decorate


def get_task(job_type: str) -> TaskSpec:
    try:
        return _REGISTRY[job_type]
    except KeyError:
        raise UnknownJobType(f"No tracked task is registered for job type {job_type!r}.") from None


def all_tasks() -> list[TaskSpec]:
    return sorted(_REGISTRY.values(), key=lambda spec: spec.job_type)
