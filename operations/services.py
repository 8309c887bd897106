"""The operators' writes beyond one job: clearing this project's RQ state (`manage.py reset_queues`)."""

from __future__ import annotations

from collections.abc import Iterable

from common import queues
from jobs.models import ACTIVE_STATUSES, BackgroundJob
from jobs.rqkeys import (
    JOB_KEY,
    RQ_JOB_KEY_TEMPLATES,
    RQ_QUEUE_KEY_TEMPLATES,
    SCHEDULE_ID_PREFIX,
    SCHEDULED_JOBS_KEY,
    rq_connection,
)
from jobs.services import background_job_mark_failed


def rq_queues_reset(*, apply: bool, by=None, reason: str = "") -> dict:
    """Clear this project's RQ keys and fail its queued/running rows (never FLUSHDB).

    Without `apply` nothing changes; the return value says what would. Rows are
    failed first, so a job still running cannot complete a row whose RQ job was
    deleted under it.
    """
    connection = rq_connection()
    active = BackgroundJob.objects.filter(status__in=ACTIVE_STATUSES)
    keys = project_keys(connection, also_job_ids=active.values_list("rq_job_id", flat=True))
    report = {"keys": keys, "rows": active.count(), "applied": apply}
    if not apply:
        return report
    report["rows"] = background_job_mark_failed(
        job_rows=active,
        reason=reason or "Queues reset by an operator (reset_queues): the RQ job was deleted",
        by=by,
        source="command",
        action="reset_queues",
    )
    for start in range(0, len(keys), 500):
        connection.delete(*keys[start : start + 500])
    return report


def project_keys(connection, *, also_job_ids: Iterable[str] = ()) -> list[str]:
    """This project's RQ keys: its queues and registries and the jobs on them (and of `also_job_ids`).

    Leaves alone: other projects' queues and jobs, worker registrations (live
    processes own them) and rq-scheduler's periodic entries (restarting
    `rqscheduler` re-registers them). A job key of the wrong Redis type is
    included: it is corrupt and unreadable by anyone.
    """
    keys: set[str] = set()
    job_ids: set[str] = set(also_job_ids)
    for name in queues.ALL:
        for template in RQ_QUEUE_KEY_TEMPLATES:
            key = template.format(name)
            kind = connection.type(key).decode()
            if kind == "none":
                continue
            keys.add(key)
            if kind == "list":
                job_ids.update(raw.decode() for raw in connection.lrange(key, 0, -1))
            elif kind == "zset":
                # started-registry members are "<job id>:<execution id>"
                job_ids.update(raw.decode().split(":")[0] for raw in connection.zrange(key, 0, -1))
    job_prefix = JOB_KEY.format("")
    for raw in connection.scan_iter(match=JOB_KEY.format("*"), count=1000):
        key = raw.decode()
        rest = key[len(job_prefix) :]
        if ":" in rest:
            continue
        if connection.type(key).decode() != "hash":
            keys.add(key)
        elif (connection.hget(key, "origin") or b"").decode() in queues.ALL:
            job_ids.add(rest)
    scheduled = (
        {raw.decode() for raw in connection.zrange(SCHEDULED_JOBS_KEY, 0, -1)}
        if connection.type(SCHEDULED_JOBS_KEY).decode() == "zset"
        else set()
    )
    for job_id in job_ids:
        if job_id in scheduled or job_id.startswith(SCHEDULE_ID_PREFIX):
            continue
        for template in RQ_JOB_KEY_TEMPLATES:
            keys.add(template.format(job_id))
    pipe = connection.pipeline(transaction=False)
    ordered = sorted(keys)
    for key in ordered:
        pipe.exists(key)
    return [key for key, exists in zip(ordered, pipe.execute(), strict=True) if exists]
