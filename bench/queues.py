"""Queues by purpose: the system worker against a bare RQ worker, and reminder lateness while the model works.

1. Throughput on no-op jobs of `manage.py rqworker --purpose system` (tracked
   jobs: each has its BackgroundJob row; no fork, the system worker's default)
   against `rq worker` (a process that imports only rq, untracked jobs), same
   Redis, same job count, rotating rounds (the same worker forking a horse per
   job beside them). Jobs/s is measured
   from RQ's own started/ended stamps (first start to last end), so process
   start-up is not counted. The peak RSS of each worker's
   main process is reported.
2. Reminder lateness: 200 reminders due across 5 minutes while a regeneration
   runs on the model worker for the whole time (slowed hashing embedder, as in
   scribes/tests/test_purposes.py), with the production every-minute sweep and
   its follow-ups (reminders/tasks.py): p50 and p99 of (sent_at - scheduled_at).
   Takes about 6.5 minutes (`--quick`: 40 reminders across 1 minute).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _run_worker(command: list[str], env: dict) -> float:
    """Run a burst worker to the end; return the peak RSS (MB) of its main process."""
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    peak = [0.0]

    def sample():
        while process.poll() is None:
            peak[0] = max(peak[0], _rss_mb(process.pid))
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    if process.wait(timeout=600):
        raise SystemExit(f"{command} exited {process.returncode}")
    thread.join()
    return peak[0]


def _jobs_per_second(connection, ids: list[str]) -> float:
    from rq.job import Job

    jobs = [job for job in Job.fetch_many(ids, connection=connection) if job is not None]
    if len(jobs) != len(ids) or any(job.get_status() != "finished" for job in jobs):
        raise SystemExit("not every benchmark job finished")
    span = max(job.ended_at for job in jobs) - min(job.started_at for job in jobs)
    return len(jobs) / span.total_seconds()


def _throughput(quick: bool) -> list[dict]:
    import django_rq

    from common import queues
    from jobs.services import background_job_start_many

    queue = django_rq.get_queue(queues.SYSTEM)
    connection = queue.connection
    n, rounds = (100, 2) if quick else (300, 3)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
    url = os.environ["REDIS_URL"]
    rq_bin = str(Path(sys.executable).parent / "rq")
    results = {"system": [[], []], "forking": [[], []], "bare": [[], []]}
    system = [sys.executable, "manage.py", "rqworker", "--purpose", "system", "--burst", "--without-scheduler"]

    def tracked_round(command):
        rows = background_job_start_many(job_type="bench_noop", items=[{"params": {"n": i}} for i in range(n)])
        ids = [row.rq_job_id for row in rows]
        rss = _run_worker(command, env)
        return _jobs_per_second(connection, ids), rss

    def system_round():
        return tracked_round(system)

    def forking_round():
        # The same worker with a work-horse forked per job (what every other purpose runs).
        return tracked_round([*system, "--worker-class", "jobs.worker.ScribesWorker"])

    def bare_round():
        ids = [queue.enqueue("bench._bare.noop", i, result_ttl=600).id for i in range(n)]
        rss = _run_worker([rq_bin, "worker", "--burst", "-u", url, queues.SYSTEM], env)
        return _jobs_per_second(connection, ids), rss

    order = [("system", system_round), ("forking", forking_round), ("bare", bare_round)]
    for round_no in range(rounds):
        shift = round_no % len(order)
        for name, measure in order[shift:] + order[:shift]:
            rate, rss = measure()
            results[name][0].append(rate)
            results[name][1].append(rss)
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    system, forking, bare = (median(results[name][0]) for name in ("system", "forking", "bare"))
    system_rss, bare_rss = max(results["system"][1]), max(results["bare"][1])
    return [
        {
            "benchmark": f"queues: system worker (rqworker --purpose system: ScribesSimpleWorker, no fork) vs bare "
            f"`rq worker`, "
            f"{n} no-op jobs x {rounds} alternating rounds (jobs/s, median)",
            "figure": f"{system:.0f} tracked",
            "baseline": f"{bare:.0f} bare RQ",
            "ratio": f"{system / bare:.2f}",
            "target": "≥ 0.70",
        },
        {
            "benchmark": "queues: the same system worker forking a work-horse per job (ScribesWorker) vs bare "
            "`rq worker` (jobs/s, median)",
            "figure": f"{forking:.0f} tracked",
            "baseline": f"{bare:.0f} bare RQ",
            "ratio": f"{forking / bare:.2f}",
            "target": "report",
        },
        {
            "benchmark": "queues: peak RSS of the worker's main process (MB)",
            "figure": f"{system_rss:.0f} system worker",
            "baseline": f"{bare_rss:.0f} bare RQ",
            "ratio": f"{system_rss / bare_rss:.2f}",
            "target": "report",
        },
    ]


def _lateness(quick: bool) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from bench._setup import percentile
    from notes.models import Note
    from reminders.models import Reminder, ReminderStatus
    from semantic.services import note_embeddings_regenerate_start

    count, spread = (40, timedelta(minutes=1)) if quick else (200, timedelta(minutes=5))
    user = get_user_model().objects.create_user(username="bench-late", email="late@example.com", password="x")
    notes = int(spread.total_seconds()) + 150  # one second per note: runs past the last reminder
    Note.objects.bulk_create(Note(user=user, title=f"n{i}", content=f"entry {i}") for i in range(notes))
    note = Note.objects.filter(user=user).first()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SEMANTIC_EMBEDDER": "hashing",
        "SEMANTIC_BATCH_SIZE": "1",
        "SEMANTIC_AUTO_EMBED": "0",
        "SLOW_EMBED_SECONDS": "1",
        "RQ_SCHEDULER_INTERVAL": "1",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    manage = [sys.executable, "manage.py"]
    commands = [
        [*manage, "rqworker", "--purpose", "system"],
        [sys.executable, "scribes/tests/slowmodel.py", "rqworker", "--purpose", "semantic"],
        [*manage, "rqscheduler"],
    ]
    processes = [
        subprocess.Popen(c, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT) for c in commands
    ]
    try:
        job, _ = note_embeddings_regenerate_start(user=user)
        start = timezone.now() + timedelta(seconds=20)
        step = spread / count
        Reminder.objects.bulk_create(
            Reminder(user=user, note=note, scheduled_at=start + step * i) for i in range(count)
        )
        deadline = time.monotonic() + (start - timezone.now() + spread).total_seconds() + 150
        while Reminder.objects.filter(status=ReminderStatus.PENDING).exists():
            if time.monotonic() > deadline:
                raise SystemExit("reminders still pending long after their time")
            time.sleep(1)
        from jobs.models import BackgroundJob

        regen = BackgroundJob.objects.get(pk=job.pk)
        if regen.status != "running":
            raise SystemExit(f"the regeneration ended ({regen.status}) before the last reminder was sent")
    finally:
        from jobs.tests.faultutils import child_pids, kill_group

        for process in processes:
            horses = child_pids(process.pid)  # a work-horse has a session of its own
            process.kill()
            process.wait()
            for horse in horses:
                kill_group(horse)
    late = [
        (sent - scheduled).total_seconds()
        for sent, scheduled in Reminder.objects.filter(user=user).values_list("sent_at", "scheduled_at")
    ]
    p50, p99 = percentile(late, 0.5), percentile(late, 0.99)
    return [
        {
            "benchmark": f"queues: reminder lateness, {count} reminders due across {spread.seconds // 60} min while a "
            "regeneration runs on the model worker, sweep every minute + follow-ups (s, p50 / p99)",
            "figure": f"{p50:.1f} / {p99:.1f}",
            "baseline": "the every-minute cron alone (up to 60 s by design)",
            "ratio": f"{p99 / 60:.2f} (p99 / 60 s)",
            "target": "p99 ≤ 60 s",
        }
    ]


def run(quick: bool = False) -> list[dict]:
    from bench._setup import require_disposable_redis, setup_django

    drop, where = setup_django("bench_queues")
    try:
        import django_rq

        import bench._tasks  # noqa: F401  (registers the tracked tasks)
        from common import queues

        connection = django_rq.get_connection(queues.SYSTEM)
        require_disposable_redis(connection)
        connection.flushdb()
        rows = _throughput(quick)
        connection.flushdb()
        rows += _lateness(quick)
        connection.flushdb()
        return rows
    finally:
        drop()
