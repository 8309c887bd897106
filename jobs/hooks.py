"""What apps add to a worker's start-up, registered in their `AppConfig.ready()`: a banner line and a warm-up.

The job core knows no app: the semantic app, for one, registers "name the
active embedder" and "load the model before any fork" for its own queue. A
worker runs the warm-up of a hook only when it listens on one of the hook's
queues, so the system worker never imports torch (`jobs.worker`).
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
    #: Queues whose jobs need the warm-up; empty means every worker runs it.
    queues: tuple[str, ...] = ()

    def serves(self, queue_names) -> bool:
        """Whether a worker listening on `queue_names` needs this hook's warm-up."""
        return not self.queues or any(name in self.queues for name in queue_names)


_HOOKS: dict[str, WorkerHook] = {}


def register_worker_hook(
    name: str,
    *,
    banner: Callable[[], str] | None = None,
    warm_up: Callable[[], None] | None = None,
    queues: tuple[str, ...] = (),
) -> WorkerHook:
    """Register (or replace) the hook `name`; its warm-up runs only in workers on one of `queues` (or all)."""
    hook = WorkerHook(name=name, banner=banner, warm_up=warm_up, queues=tuple(queues))
    _HOOKS[name] = hook
    return hook


def worker_hooks() -> list[WorkerHook]:
    return sorted(_HOOKS.values(), key=lambda hook: hook.name)


#: Housekeeping that rides on the reconciler's periodic pass (retention, rollups), registered by the
#: apps that own it so the job core imports none of them. Each returns figures for the pass's result.
_HOUSEKEEPING: dict[str, Callable[[], dict]] = {}


def register_housekeeping(name: str, func: Callable[[], dict]) -> None:
    """Run `func` on every reconciler pass, after the repairs; registering `name` again replaces it."""
    _HOUSEKEEPING[name] = func


def housekeeping() -> list[tuple[str, Callable[[], dict]]]:
    return sorted(_HOUSEKEEPING.items())
