"""Helpers for tests that run a real RQ worker on a real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

from django.db import connections

from common import queues


def work_burst(*, worker_class=None, queue_names=None):
    """Run a forking ScribesWorker in burst mode until the project queues are empty."""
    from django_rq import get_worker

    connections.close_all()  # the work-horse must not inherit the test's connection
    worker = get_worker(*(queue_names or queues.ALL), worker_class=worker_class)
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    return worker


def wait_for(condition: Callable[[], object], *, timeout: float = 30, interval: float = 0.1, what: str = "condition"):
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class WorkerProcess:
    """`manage.py rqworker` as a child process (its own session, so signals reach only it)."""

    def __init__(self, manage_py: list[str], env: dict, *, extra_env: dict | None = None, log_path=None):
        self.log = open(log_path, "w") if log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [*manage_py, "rqworker", "--without-scheduler"],
            env={**env, **(extra_env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def wait(self, timeout: float = 30) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        if self.log is not subprocess.DEVNULL:
            self.log.close()
