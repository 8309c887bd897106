"""Worker start-up hooks: apps add banner lines and warm-ups; a broken one never stops the worker."""

import pytest

from common import queues
from jobs import hooks, worker


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(hooks, "_HOOKS", {})
    return hooks


def test_the_worker_runs_every_registered_hook(registry):
    loaded = []
    registry.register_worker_hook("a", banner=lambda: "A ready", warm_up=lambda: loaded.append("a"))
    registry.register_worker_hook("b", warm_up=lambda: loaded.append("b"))
    worker.warm_up(list(queues.ALL))
    assert loaded == ["a", "b"]
    assert "A ready" in worker.banner_lines(list(queues.ALL))


def test_a_broken_hook_is_logged_and_the_others_still_run(registry, caplog):
    loaded = []

    def broken():
        raise RuntimeError("no model")

    registry.register_worker_hook("a", banner=broken, warm_up=broken)
    registry.register_worker_hook("b", warm_up=lambda: loaded.append("b"))
    worker.warm_up(list(queues.ALL))
    assert loaded == ["b"] and "Warm-up a failed" in caplog.text
    assert "a: banner failed (RuntimeError: no model)" in worker.banner_lines(list(queues.ALL))


def test_without_hooks_a_worker_loads_nothing(registry):
    worker.warm_up(list(queues.ALL))
    assert worker.banner_lines(list(queues.ALL))[0] == "Scribes worker starting up"


def test_the_semantic_app_registers_its_model_as_a_hook_for_its_queue_only():
    (hook,) = [hook for hook in hooks.worker_hooks() if hook.name == "semantic"]
    assert hook.warm_up is not None and hook.banner is not None
    assert hook.serves([queues.SEMANTIC]) and not hook.serves([queues.SYSTEM])


def test_a_hook_with_queues_warms_up_only_workers_on_them(registry):
    loaded = []
    registry.register_worker_hook("model", warm_up=lambda: loaded.append("model"), queues=(queues.SEMANTIC,))
    worker.warm_up([queues.SYSTEM])
    assert loaded == []
    assert f"Warm-up model: not loaded (this worker serves none of {queues.SEMANTIC})" in worker.banner_lines(
        [queues.SYSTEM]
    )
    worker.warm_up(list(queues.ALL))
    assert loaded == ["model"]
    assert "Warm-up model: loaded before the first job (kept for every job)" in worker.banner_lines(list(queues.ALL))
