"""Fair model work, on one real `rqworker --purpose semantic` and the active embedder (MiniLM unless set).

* Time to searchable: while user A regenerates N notes (20,000; quick: 2,000),
  user B creates 20 notes (quick: 6) at intervals across it; the time from each
  create to its vector being stored from its current text (from then on
  `mode=semantic` finds it; `semantic/tests/test_fairness.py` asserts the search
  itself). Baseline: the same creates on the idle worker.
* Fairness: two equal regenerations (N/2 notes each) started together; notes/s
  of each while both run, A against B (target 0.8-1.25).
* Throughput: A's regeneration (sliced, on the worker) against bare
  `embedder.encode` of the same texts in batches of SEMANTIC_BATCH_SIZE here.
* Scale out: the same regeneration (N/2 notes) on two semantic workers against
  one (a report: on a 2-core host the model's threads already use both cores).

`python -m bench fairness [--quick]`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(quick: bool = False) -> list[dict]:
    from bench._setup import setup_django

    drop, where = setup_django("bench_fairness")
    try:
        return _run(quick, where)
    finally:
        drop()


def _notes(user, count: int, word: str) -> None:
    from notes.models import Note

    Note.objects.bulk_create(
        Note(user=user, title=f"{word.title()} {i}", content=f"{word} entry {i}: " + "a longer sentence " * (i % 9))
        for i in range(count)
    )


def _start_worker(log_path: Path, expect: int = 1) -> subprocess.Popen:
    from rq import Worker

    from jobs.rqkeys import rq_connection

    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "rqworker", "--purpose", "semantic", "--without-scheduler"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=open(log_path, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180

    def ready() -> int:
        # A worker registers ("started"), then loads the model (its warm-up), then waits for work ("idle").
        return sum(worker.get_state() != "started" for worker in Worker.all(connection=rq_connection()))

    while ready() < expect:
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"the semantic worker did not start; see {log_path}")
        time.sleep(0.2)
    return process


def _searchable_after(note, created: float, timeout: float = 600) -> float:
    from semantic.models import NoteEmbedding
    from semantic.selectors import note_embedding_text, text_hash

    digest = text_hash(note_embedding_text(title=note.title, content=note.content))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if NoteEmbedding.objects.filter(note=note, text_hash=digest).exists():
            return time.monotonic() - created
        time.sleep(0.05)
    raise RuntimeError(f"note {note.pk} not embedded within {timeout} s")


def _create_and_wait(user, day: int) -> float:
    """Create one note; seconds until it is searchable."""
    from notes.services import note_create

    created = time.monotonic()
    note = note_create(user=user, title=f"Sailing log {day}", content=f"reefed the mainsail in gusts, day {day}")
    return _searchable_after(note, created)


def _wait_done(job, timeout: float = 3600):
    from jobs.models import BackgroundJob, JobStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = BackgroundJob.objects.get(pk=job.pk)
        if row.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            assert row.status == JobStatus.COMPLETED, row.error_message
            return row
        time.sleep(0.2)
    raise RuntimeError("regeneration did not finish")


def _run(quick: bool, where: str) -> list[dict]:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from bench._setup import percentile, require_disposable_redis
    from jobs.models import BackgroundJob, JobStatus
    from jobs.rqkeys import rq_connection
    from notes.models import Note
    from semantic.embedders import get_embedder
    from semantic.models import NoteEmbedding
    from semantic.selectors import note_embedding_text
    from semantic.services import note_embeddings_regenerate_start

    connection = rq_connection()
    require_disposable_redis(connection)
    connection.flushdb()
    total = 2_000 if quick else 20_000
    creates = 6 if quick else 20
    users = get_user_model().objects
    alice = users.create_user(username="alice", password="x")
    bob = users.create_user(username="bob", password="x")
    carol = users.create_user(username="carol", password="x")
    _notes(alice, total, "garden")
    _notes(carol, total // 2, "kitchen")
    embedder = get_embedder()
    print(f"# fairness benchmark on {where}: {total:,} notes, {embedder.model_name}", file=sys.stderr)
    log_dir = Path(os.environ["SCRIBES_VAR_DIR"])
    workers = [_start_worker(log_dir / "worker.log")]
    try:
        idle: list[float] = []
        for day in range(creates):
            idle.append(_create_and_wait(bob, day))
            time.sleep(0.5)

        # Time to searchable while A's regeneration runs; creates spread across it.
        job, _ = note_embeddings_regenerate_start(user=alice)
        started = time.monotonic()
        busy: list[float] = []
        while len(busy) < creates:
            busy.append(_create_and_wait(bob, creates + len(busy)))
            row = BackgroundJob.objects.get(pk=job.pk)
            if row.status != JobStatus.RUNNING and row.status != JobStatus.QUEUED:
                break
            # The rest of the creates spread evenly over what is left of A's regeneration, at its rate so far.
            done, elapsed = row.processed_items, time.monotonic() - started
            left = elapsed * (total - done) / done if done else 10.0
            time.sleep(max(0.0, left / (creates - len(busy) + 1)))
        row = _wait_done(job)
        regen_seconds = (row.completed_at - row.started_at).total_seconds()
        embedded = row.result_data

        # Bare model.encode on the same texts, in batches, here (the worker idles).
        texts = [
            note_embedding_text(title=title, content=content)
            for title, content in Note.objects.filter(user=alice).values_list("title", "content")
        ]
        embedder.load()
        size = settings.SEMANTIC_BATCH_SIZE
        bare_started = time.monotonic()
        for start in range(0, len(texts), size):
            embedder.encode(texts[start : start + size])
        bare_seconds = time.monotonic() - bare_started

        # Two equal regenerations started together: A keeps the first half of its notes, C has as many.
        NoteEmbedding.objects.all().delete()
        half = list(Note.objects.filter(user=alice).order_by("id").values_list("id", flat=True)[total // 2 :])
        Note.objects.filter(pk__in=half).delete()
        first, _ = note_embeddings_regenerate_start(user=alice)
        second, _ = note_embeddings_regenerate_start(user=carol)
        samples = []
        while True:
            a, c = BackgroundJob.objects.get(pk=first.pk), BackgroundJob.objects.get(pk=second.pk)
            samples.append((time.monotonic(), a.status, a.processed_items, c.status, c.processed_items))
            if JobStatus.COMPLETED in (a.status, c.status) or {a.status, c.status} & {JobStatus.FAILED}:
                break
            time.sleep(0.25)
        _wait_done(first), _wait_done(second)
        both = [s for s in samples if s[1] == s[3] == JobStatus.RUNNING]
        span = both[-1][0] - both[0][0] if len(both) > 1 else 0
        rate_a = (both[-1][2] - both[0][2]) / span if span else 0
        rate_c = (both[-1][4] - both[0][4]) / span if span else 0

        # One regeneration (C's N/2 notes) on one worker, then on two.
        def regeneration_seconds() -> tuple[float, dict]:
            NoteEmbedding.objects.filter(user=carol).delete()
            job, _ = note_embeddings_regenerate_start(user=carol)
            row = _wait_done(job)
            return (row.completed_at - row.started_at).total_seconds(), row.result_data

        one_seconds, _ = regeneration_seconds()
        workers.append(_start_worker(log_dir / "worker-2.log", expect=2))
        two_seconds, two_result = regeneration_seconds()
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work-horse
            worker.wait()

    p50, p99 = percentile(busy, 0.5), percentile(busy, 0.99)
    idle50, idle99 = percentile(idle, 0.5), percentile(idle, 0.99)
    return [
        {
            "benchmark": f"fairness: time to searchable of {len(busy)} notes of user B while user A regenerates "
            f"{total:,} notes on one semantic worker ({embedder.model_name}), p50 / p99 (s)",
            "figure": f"{p50:.2f} / {p99:.2f} (A's regeneration {regen_seconds:.0f} s, {embedded['slices']} slices)",
            "baseline": f"idle worker {idle50:.2f} / {idle99:.2f}",
            "ratio": f"{p99 / idle99:.1f} (p99)" if idle99 else "–",
            "target": "p99 <= 10 s",
        },
        {
            "benchmark": f"fairness: two equal regenerations ({total // 2:,} notes each) started together, "
            "notes/s of A and of C while both run",
            "figure": f"{rate_a:.1f} / {rate_c:.1f} over {span:.0f} s",
            "baseline": "equal shares",
            "ratio": f"{rate_a / rate_c:.2f}" if rate_c else "–",
            "target": "0.8-1.25",
        },
        {
            "benchmark": f"fairness: regeneration of {total:,} notes as slices on the worker against bare "
            f"`encode` in batches of {settings.SEMANTIC_BATCH_SIZE} (s)",
            "figure": f"{regen_seconds:.1f}",
            "baseline": f"{bare_seconds:.1f}",
            "ratio": f"{bare_seconds / regen_seconds:.2f}",
            "target": ">= 0.90",
        },
        {
            "benchmark": f"fairness: one regeneration of {total // 2:,} notes on two semantic workers against one "
            f"(s; {os.cpu_count()} cores)",
            "figure": f"{two_seconds:.1f} ({two_result['slices']} slices)",
            "baseline": f"{one_seconds:.1f}",
            "ratio": f"{one_seconds / two_seconds:.2f}",
            "target": "report",
        },
    ]


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
