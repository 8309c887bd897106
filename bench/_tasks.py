"""No-op jobs for the worker-overhead benchmark: raw RQ functions and one tracked task."""

from django.db import connection

from jobs.registry import tracked_task


def raw_noop(n: int = 0):
    return n


def raw_one_read(n: int = 0):
    """A raw job that makes one database round trip: the least any database-tracked job pays."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return n


def raw_one_write(n: int = 0, job_id: str = ""):
    """A raw job that makes one small UPDATE by primary key, committed asynchronously as the claim is.

    The least a tracked job writes: the claim changes its row before the body runs.
    """
    from django.utils import timezone

    from jobs.hotpath import async_commit_term

    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE jobs_backgroundjob SET updated_at = %s WHERE job_id = %s{async_commit_term(connection)}",
            [timezone.now(), job_id],
        )
    return n


@tracked_task("bench_noop")
def tracked_noop(job, *, n: int = 0):
    job.progress(1, 1)
    return {"n": n}
