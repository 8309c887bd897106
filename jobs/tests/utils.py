"""Helpers for tests that run a real RQ worker on a real Redis."""

from django.db import connections

from scribes import queues


def work_burst(*, worker_class=None, queue_names=None):
    """Run a forking ScribesWorker in burst mode until the project queues are empty."""
    from django_rq import get_worker

    connections.close_all()  # the work-horse must not inherit the test's connection
    worker = get_worker(*(queue_names or queues.ALL), worker_class=worker_class)
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    return worker
