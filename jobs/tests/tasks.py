"""Tracked tasks used only by the tests (imported by RQ in the work-horse by name)."""

import os
import signal
import time

from common import queues
from jobs.runner import Continue, tracked_task


@tracked_task("test_progress", queue=queues.SYSTEM)
def progress_task(ctx, *, steps: int = 4, pause: float = 0.0):
    for done in range(1, steps + 1):
        if pause:
            time.sleep(pause)
        ctx.progress(done, steps)
    return {"steps": steps}


@tracked_task("test_fail", queue=queues.SYSTEM)
def failing_task(ctx, *, message: str = "boom"):
    raise ValueError(message)


@tracked_task("test_log", queue=queues.SYSTEM)
def log_task(job):
    job.log.info("looked at %d notes", 3)
    job.log.warning("note %s had no text", 7)
    return {"ok": True}


@tracked_task("test_log_then_fail", queue=queues.SYSTEM)
def log_then_fail_task(job, *, lines: int = 3, width: int = 10):
    for index in range(lines):
        job.log.info("step %d %s", index, "x" * width)
    raise ValueError(f"gave up after {lines} steps")


@tracked_task("test_sleep", queue=queues.SYSTEM, timeout=1)
def sleeping_task(ctx, *, seconds: float = 10):
    time.sleep(seconds)
    return {"slept": seconds}


@tracked_task("test_suicide", queue=queues.SYSTEM)
def suicide_task(ctx):
    # What the OOM killer does to a work-horse.
    os.kill(os.getpid(), signal.SIGKILL)


@tracked_task("test_flaky", queue=queues.SYSTEM, max_retries=1)
def flaky_task(ctx, *, marker: str):
    # Fails on the first attempt, succeeds on the retry.
    if not os.path.exists(marker):
        with open(marker, "w") as fh:
            fh.write("attempted")
        raise RuntimeError("first attempt fails")
    return {"attempt": "second"}


@tracked_task("test_wait", queue=queues.SYSTEM)
def waiting_task(ctx, *, started: str, release: str, limit: float = 60):
    # Runs until the test creates `release` (or `limit` s pass); writes the
    # work-horse's pid to `started` so a test can kill it.
    with open(started + ".tmp", "w") as fh:
        fh.write(str(os.getpid()))
    os.replace(started + ".tmp", started)
    deadline = time.monotonic() + limit
    while not os.path.exists(release):
        if time.monotonic() > deadline:
            raise TimeoutError("never released")
        time.sleep(0.05)
    return {"released": True}


@tracked_task("test_db_free", queue=queues.SYSTEM)
def db_free_task(ctx, *, size: int = 0):
    # Touches no database itself; reports whether its process holds a connection
    # (the runner's claim opens one), and pads the result to `size` characters.
    from django.db import connections

    ctx.progress(3, 3)
    return {"horse_connected": connections["default"].connection is not None, "pad": "x" * size}


@tracked_task("test_unstorable", queue=queues.SYSTEM)
def unstorable_task(ctx):
    # A result JSON cannot hold: the job must fail, not end with a running row.
    return {"ids": {1, 2}}


@tracked_task("test_modules", queue=queues.SYSTEM)
def modules_task(ctx):
    """Reports what the worker process running it has imported (the system worker must not have torch)."""
    import sys

    return {"torch": "torch" in sys.modules, "sentence_transformers": "sentence_transformers" in sys.modules}


@tracked_task("test_steps", queue=queues.SYSTEM, max_retries=1)
def steps_task(ctx, *, path: str, steps: int = 3, step: int = 0, fail_once_at: int = -1):
    # One step per RQ job (`Continue`), each appended to `path`; fails once at `fail_once_at`.
    with open(path, "a") as fh:
        fh.write(f"{ctx.job_id}:{step}\n")
    marker = f"{path}.failed"
    if step == fail_once_at and not os.path.exists(marker):
        with open(marker, "w") as fh:
            fh.write("failed")
        raise RuntimeError(f"step {step} fails once")
    ctx.progress(step + 1, steps)
    if step + 1 < steps:
        return Continue(kwargs={"path": path, "steps": steps, "step": step + 1, "fail_once_at": fail_once_at})
    return {"steps": steps}
