"""What apps add to a worker's start-up, registered in their `AppConfig.ready()`: a banner line and a warm-up.

The job core knows no app: the semantic app, for one, registers "name the
active embedder" and "load the model before any fork". A worker runs every
registered hook (`jobs.worker`); one that serves no job needing a hook's state
can run without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerHook:
    name: str
    #: Returns one line for the worker's start-up banner.
    banner: Callable[[], str] | None = None
    #: Loads heavy, read-only state once, before any fork: horses share it copy-on-write.
    warm_up: Callable[[], None] | None = None


_HOOKS: dict[str, WorkerHook] = {}


def register_worker_hook(
    name: str, *, banner: Callable[[], str] | None = None, warm_up: Callable[[], None] | None = None
) -> WorkerHook:
    """Register (or replace) the hook `name`."""
    hook = WorkerHook(name=name, banner=banner, warm_up=warm_up)
    _HOOKS[name] = hook
    return hook


def worker_hooks() -> list[WorkerHook]:
    return sorted(_HOOKS.values(), key=lambda hook: hook.name)
