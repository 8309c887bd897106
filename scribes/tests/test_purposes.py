"""Queues by purpose with real processes on a real Redis: reminders and rescue stay on time while the model works.

One system worker, one model worker and the scheduler run as in production
(`rqworker --purpose system|semantic`, `rqscheduler`), with the default
every-minute sweep and reconciler crons. A regeneration made long by a slowed
hashing embedder (`scribes/tests/slowmodel.py`: one note per batch, one second
per note) runs on the model worker:

1. a reminder falls due while it runs: it is sent within 90 s of its time;
2. once the regeneration has run 90 s the model worker is killed with kill -9
   (main process, then its horse): the row is failed or retried within 2
   minutes, and a reminder due meanwhile is still sent within 90 s.

Only the heartbeat settings are shortened (a busy worker beats every 5 s, dead
10 s after a missed beat); the crons keep their production minute resolution.
"""

import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from jobs.models import BackgroundJob, JobStatus
from jobs.tests.faultutils import Child, child_pids, kill_group
from jobs.tests.utils import wait_for
from notes.models import Note
from reminders.models import Reminder, ReminderStatus
from semantic.services import note_embeddings_regenerate_start

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

NOTES = 240  # x 1 s per note: the regeneration would run 4 minutes; it is killed after 90 s
PROMISE_SENT = timedelta(seconds=90)
PROMISE_RESCUED = timedelta(minutes=2)
SLOWMODEL = str(Path(__file__).with_name("slowmodel.py"))


def _kill(pid: int) -> None:
    """SIGKILL a work-horse and its group (whether or not it leads one)."""
    kill_group(pid)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _sent_within(reminder: Reminder, bound: timedelta, what: str) -> timedelta:
    def sent():
        return Reminder.objects.filter(pk=reminder.pk, status=ReminderStatus.SENT).first()

    row = wait_for(
        sent,
        timeout=(reminder.scheduled_at + bound - timezone.now()).total_seconds() + 5,
        interval=0.5,
        what=what,
    )
    lateness = row.sent_at - row.scheduled_at
    assert lateness <= bound, f"{what}: sent {lateness} after its time"
    return lateness


def test_reminders_and_rescue_stay_on_time_while_the_model_worker_is_busy_or_killed(
    user, redis_conn, manage_py, subprocess_env, tmp_path, capsys
):
    env = {
        **subprocess_env,
        "SEMANTIC_EMBEDDER": "hashing",
        "SEMANTIC_BATCH_SIZE": "1",
        "SEMANTIC_AUTO_EMBED": "0",
        "SLOW_EMBED_SECONDS": "1",
        "RQ_SCHEDULER_INTERVAL": "1",
        "RQ_JOB_MONITORING_INTERVAL": "5",
        "JOBS_HEARTBEAT_GRACE": "10",
        "RQ_WORKER_TTL": "15",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
    }
    note = Note.objects.create(user=user, title="Call the vet", content="Before noon.")
    Note.objects.bulk_create(Note(user=user, title=f"Note {i}", content=f"entry {i}") for i in range(NOTES - 1))
    processes = {
        "system": Child([*manage_py, "rqworker", "--purpose", "system"], env, tmp_path / "system.log"),
        "semantic": Child(
            [sys.executable, SLOWMODEL, "rqworker", "--purpose", "semantic"], env, tmp_path / "semantic.log"
        ),
        "scheduler": Child([*manage_py, "rqscheduler"], env, tmp_path / "scheduler.log"),
    }
    try:
        job, created = note_embeddings_regenerate_start(user=user)
        assert created
        row = wait_for(
            lambda: BackgroundJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING, processed_items__gt=0).first(),
            timeout=90,
            interval=0.5,
            what="the regeneration to run on the model worker",
        )
        started = row.started_at

        # 1. A reminder falls due while the regeneration runs.
        first = Reminder.objects.create(user=user, note=note, scheduled_at=timezone.now() + timedelta(seconds=10))
        first_late = _sent_within(first, PROMISE_SENT, "the reminder due during the regeneration")
        row = BackgroundJob.objects.get(pk=job.pk)
        assert row.status == JobStatus.RUNNING, (row.status, row.error_message)  # still busy when it was sent

        # 2. kill -9 of the model worker after the regeneration has run 90 s.
        wait_for(
            lambda: timezone.now() - started >= timedelta(seconds=90),
            timeout=120,
            interval=0.5,
            what="90 s of regeneration",
        )
        row = BackgroundJob.objects.get(pk=job.pk)
        assert row.status == JobStatus.RUNNING and 0 < row.processed_items < NOTES, (row.status, row.processed_items)
        model_worker = processes["semantic"]
        horses = child_pids(model_worker.pid)
        os.kill(model_worker.pid, signal.SIGKILL)  # the worker first: nothing may record the horse's death
        for horse in horses:
            _kill(horse)
        killed_at = timezone.now()
        second = Reminder.objects.create(user=user, note=note, scheduled_at=killed_at + timedelta(seconds=5))

        rescued = wait_for(
            lambda: BackgroundJob.objects.exclude(status=JobStatus.RUNNING).filter(pk=job.pk).first(),
            timeout=PROMISE_RESCUED.total_seconds() + 5,
            interval=0.5,
            what="the killed regeneration to be failed or retried",
        )
        rescue = timezone.now() - killed_at  # observed within one 0.5 s poll
        assert rescued.status in (JobStatus.FAILED, JobStatus.QUEUED), rescued.status
        assert rescue <= PROMISE_RESCUED, f"rescued {rescue} after the kill"
        second_late = _sent_within(second, PROMISE_SENT, "the reminder due after the kill")
        assert processes["system"].alive() and processes["scheduler"].alive()
    finally:
        outputs = {name: process.output() for name, process in processes.items()}
        for process in processes.values():
            # A work-horse runs in a session of its own: kill it too, or it outlives the test.
            for horse in child_pids(process.pid):
                _kill(horse)
            process.stop()
    assert "Warm-up semantic: not loaded" in outputs["system"], outputs["system"][:3000]
    assert "Warm-up semantic: loaded" in outputs["semantic"], outputs["semantic"][:3000]
    with capsys.disabled():
        print(
            f"\nqueues by purpose: regeneration ran {(killed_at - started).total_seconds():.0f} s before kill -9; "
            f"reminder during it sent {first_late.total_seconds():.1f} s late; row {rescued.status} "
            f"{rescue.total_seconds():.1f} s after the kill ({rescued.error_message[:60]!r}); "
            f"reminder after the kill sent {second_late.total_seconds():.1f} s late"
        )
