"""No-op jobs for the worker-overhead benchmark: raw RQ functions and one tracked task."""

from django.db import connection

from jobs.registry import tracked_task


def raw_noop(n: int = 0):
    return n


def raw_one_round_trip(n: int = 0):
    """A raw job that makes one database round trip: the least any database-tracked job pays."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return n


@tracked_task("bench_noop")
def tracked_noop(job, *, n: int = 0):
    job.progress(1, 1)
    return {"n": n}
