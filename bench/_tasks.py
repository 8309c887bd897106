"""Jobs for the worker benchmarks: raw RQ functions and their tracked twins (no-op, one small write)."""

from django.db import connection
from django.utils import timezone

from common import queues
from jobs.runner import tracked_task


def raw_noop(n: int = 0):
    return n


def raw_one_read(n: int = 0):
    """A raw job that makes one database round trip: the least any database-tracked job pays."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return n


def _write(target: str) -> None:
    # One small UPDATE by primary key, as a real job's smallest write.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE jobs_backgroundjob SET updated_at = %s WHERE job_id = %s", [timezone.now(), target])


def raw_one_write(n: int = 0, target: str = ""):
    """A raw job that makes one small database write."""
    _write(target)
    return n


@tracked_task("bench_noop", queue=queues.SYSTEM)
def tracked_noop(ctx, *, n: int = 0):
    ctx.progress(1, 1)
    return {"n": n}


@tracked_task("bench_one_write", queue=queues.SYSTEM)
def tracked_one_write(ctx, *, n: int = 0, target: str = ""):
    _write(target)
    ctx.progress(1, 1)
    return {"n": n}
