"""No-op jobs for the worker-overhead benchmark: one raw RQ function, one tracked task."""

from jobs.registry import tracked_task


def raw_noop(n: int = 0):
    return n


@tracked_task("bench_noop")
def tracked_noop(job, *, n: int = 0):
    job.progress(1, 1)
    return {"n": n}
