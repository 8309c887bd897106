"""A regeneration in slices: windows of a user's notes, run in rounds over every semantic worker there is.

One `BackgroundJob` row per regeneration. Each run of its task (a *round*,
`jobs.runner.Continue` between rounds) plans up to one window of notes per
semantic worker listening on the bulk queue, hands all but the first to other
workers as plain RQ jobs (`semantic.tasks.regenerate_window`, same queue),
embeds the first itself, and continues once every window of the round has ended
(RQ dependencies that may fail). The next round first reads what the other
windows returned: a window that did not finish (its worker killed, its slice
stopped on time) is planned again, and its finished notes are then found
current and skipped. That skip (a vector from the active model and the note's
current text, written since the request) is what makes any slice safe to run
twice. Figures are summed over windows; "embeddings_generated" counts the notes
the regeneration made current, including ones an auto-embed or an earlier,
interrupted slice had already embedded since the request ("already_current").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import django_rq
from django.conf import settings
from django.db import close_old_connections
from rq import Retry
from rq.job import Job

from common import queues
from jobs.models import BackgroundJob, JobStatus
from jobs.rqkeys import rq_connection
from jobs.selectors import workers_by_queue
from notes.models import Note
from semantic.embedders import get_embedder
from semantic.selectors import note_embedding_text, note_ids_to_embed, text_hash
from semantic.services import FAILED_IDS_KEPT, _embed_batch, _Tally

logger = logging.getLogger(__name__)

#: The plain RQ job that runs one window for a round (semantic.tasks), by name.
WINDOW_TASK = "semantic.tasks.regenerate_window"
_SUMMED = ("embeddings_generated", "chunks_embedded", "failed_notes", "deleted_notes", "already_current")


class _Stopped(Exception):
    """The regeneration's row left `running` (cancelled, failed, a new attempt) under a window."""


def _merge(done: dict, part: dict) -> dict:
    merged = {**done, **{key: done.get(key, 0) + part.get(key, 0) for key in (*_SUMMED, "processed_notes")}}
    merged["failed_note_ids"] = (done.get("failed_note_ids", []) + part.get("failed_note_ids", []))[:FAILED_IDS_KEPT]
    merged["seconds"] = round(done.get("seconds", 0) + part.get("seconds", 0), 3)
    merged["slices"] = done.get("slices", 0) + part.get("slices", 0)
    return merged


def _run_window(
    *,
    user,
    since,
    only_stale: bool,
    lo: int,
    hi: int | None,
    tried: list[int] | None,
    base: int,
    total: int,
    progress,
    log=logger,
) -> tuple[dict, list[int] | None]:
    """Embed the not yet current notes with `lo < id <= hi` (`hi` None: no upper end); `(figures, unfinished)`.

    Stops between batches after SEMANTIC_SLICE_SECONDS: `unfinished` is then the
    window's failed note ids, for the window's next slice to skip (it reads the
    window again; what this slice finished is found current). `tried` set: this
    is such a next slice, whose finished notes the earlier one counted.
    """
    started = time.monotonic()
    embedder = get_embedder()
    embedder.load()
    notes = Note.objects.filter(user=user, pk__gt=lo)
    if hi is not None:
        notes = notes.filter(pk__lte=hi)
    window = notes.values_list(
        "id", "title", "content", "embedding__model", "embedding__text_hash", "embedding__updated_at"
    )
    skip = set(tried or ())
    todo: list[tuple[int, int]] = []
    current = 0
    for note_id, title, content, vector_model, vector_hash, written_at in window:
        text = note_embedding_text(title=title, content=content)
        if note_id in skip:
            continue
        if vector_model == embedder.model_name and vector_hash == text_hash(text):
            if written_at >= since:
                current += 0 if tried is not None else 1  # a later slice of the window: counted by the first
                continue
            if only_stale:
                continue  # current before the request: it was never stale
        todo.append((-len(text), note_id))  # longest first: batches of similar length
    ids = [note_id for _, note_id in sorted(todo)]
    tally = _Tally()
    unfinished = None
    size = settings.SEMANTIC_BATCH_SIZE
    for start in range(0, len(ids), size):
        _embed_batch(embedder=embedder, user=user, note_ids=ids[start : start + size], tally=tally, log=log)
        processed = base + current + tally.succeeded + tally.failed + tally.deleted
        progress(processed, max(total, processed))  # notes created meanwhile may add to the total
        if start + size < len(ids) and time.monotonic() - started > settings.SEMANTIC_SLICE_SECONDS:
            unfinished = sorted(skip.union(tally.failed_ids))
            break
    figures = {
        "embeddings_generated": tally.succeeded + current,
        "chunks_embedded": tally.chunks,
        "failed_notes": tally.failed,
        "failed_note_ids": tally.failed_ids,
        "deleted_notes": tally.deleted,
        "already_current": current,
        "processed_notes": current + tally.succeeded + tally.failed + tally.deleted,
        "seconds": time.monotonic() - started,
        "slices": 1,
    }
    return figures, unfinished


def _plan(*, user, after_id: int, count: int) -> tuple[list[list], int]:
    """Up to `count` new windows `[lo, hi]` after `after_id` (the last one open-ended); and the new `after_id`."""
    size = settings.SEMANTIC_SLICE_NOTES
    ids = list(
        Note.objects.filter(user=user, pk__gt=after_id).order_by("id").values_list("id", flat=True)[: size * count + 1]
    )
    windows = []
    lo = after_id
    for start in range(0, len(ids), size):
        if start + size >= len(ids):
            windows.append([lo, None, None])  # the last notes, and any created meanwhile
            return windows, -1
        windows.append([lo, ids[start + size - 1], None])
        lo = ids[start + size - 1]
        if len(windows) == count:
            return windows, lo
    return windows, -1


def _finished(done: dict, log) -> dict:
    log.info(
        "Embedding regeneration complete: %d made current, %d failed in %d slice(s)",
        done.get("embeddings_generated", 0),
        done.get("failed_notes", 0),
        done.get("slices", 0),
    )
    empty = {key: 0 for key in (*_SUMMED, "processed_notes", "seconds", "slices")}
    return {**empty, "failed_note_ids": [], **done}


def _width() -> int:
    """Windows per round: one per semantic worker alive on the bulk queue (at least one)."""
    return max(1, len(workers_by_queue().get(queues.SEMANTIC_BULK, [])))


def note_embeddings_regenerate_round(
    *,
    row: BackgroundJob,
    only_stale: bool = False,
    after_id: int = 0,
    done: dict | None = None,
    windows: list | None = None,
    others: list | None = None,
    progress: Callable[[int, int], None],
    log: logging.Logger | logging.LoggerAdapter = logger,
) -> tuple[dict, dict | None, list[str]]:
    """One round of `row`'s regeneration: `(figures so far, kwargs of the next round or None, RQ ids it waits for)`.

    `windows` are windows `[lo, hi, tried]` to run again (a slice that stopped on
    time); `others` are `[rq_id, lo, hi]` of the windows the previous round gave
    to other workers. `after_id` -1: every note has had its window.
    """
    user = row.user
    model = get_embedder().model_name
    if done is None:
        # The first round fixes the total the progress is measured against.
        if only_stale:
            total = len(note_ids_to_embed(user=user, model=model, only_stale=True))
        else:
            total = Note.objects.filter(user=user).count()
        done = {"total_notes": total, "only_stale": only_stale, "model": model}
    todo = list(windows or [])
    rq_jobs = Job.fetch_many([rq_id for rq_id, _, _ in others or ()], connection=rq_connection())
    for (_, lo, hi), rq_job in zip(others or (), rq_jobs, strict=True):
        value = rq_job.return_value() if rq_job is not None and rq_job.get_status() == "finished" else None
        if isinstance(value, dict) and "figures" in value:
            done = _merge(done, value["figures"])
            if value["unfinished"] is not None:
                todo.append([lo, hi, value["unfinished"]])
        else:
            todo.append([lo, hi, None])  # failed, killed or lost: run it again (its finished notes are skipped)
    width = _width()
    if after_id >= 0 and len(todo) < width:
        planned, after_id = _plan(user=user, after_id=after_id, count=width - len(todo))
        todo += planned
    if not todo:
        return _finished(done, log), None, []
    handed = [[_enqueue_window(row=row, only_stale=only_stale, window=window), *window[:2]] for window in todo[1:]]
    lo, hi, tried = todo[0]
    figures, unfinished = _run_window(
        user=user,
        since=row.created_at,
        only_stale=only_stale,
        lo=lo,
        hi=hi,
        tried=tried,
        base=done.get("processed_notes", 0),
        total=done["total_notes"],
        progress=progress,
        log=log,
    )
    done = _merge(done, figures)
    again = [[lo, hi, unfinished]] if unfinished is not None else []
    if not again and not handed and after_id < 0:
        return _finished(done, log), None, []  # the last window: no empty round after it
    log.info(
        "Round: %d/%d processed, %d window(s) on other workers",
        done["processed_notes"],
        done["total_notes"],
        len(handed),
    )
    next_round = {"only_stale": only_stale, "after_id": after_id, "done": done, "windows": again, "others": handed}
    return done, next_round, [rq_id for rq_id, _, _ in handed]


def _enqueue_window(*, row: BackgroundJob, only_stale: bool, window: list) -> str:
    lo, hi, tried = window
    rq_job = django_rq.get_queue(queues.SEMANTIC_BULK).enqueue_call(
        func=WINDOW_TASK,
        kwargs={
            "regeneration_id": str(row.job_id),
            "attempt": row.attempts,
            "only_stale": only_stale,
            "lo": lo,
            "hi": hi,
            "tried": tried,
        },  # fmt: skip
        timeout=settings.JOB_TIMEOUT,
        result_ttl=settings.JOB_RESULT_TTL,
        # A window whose worker died is run again by RQ; after that, by the next round.
        retry=Retry(max=1),
        meta={"regeneration": str(row.job_id)},
        description=f"regenerate_embeddings {row.job_id} window ({lo}, {hi if hi is not None else '...'}]",
    )
    return rq_job.id


def note_embeddings_regenerate_window(
    *, regeneration_id: str, attempt: int, only_stale: bool, lo: int, hi: int | None, tried: list[int] | None
) -> dict:
    """Run one window handed out by a round, while the regeneration's row runs the same attempt."""
    close_old_connections()
    running = BackgroundJob.objects.filter(pk=regeneration_id, status=JobStatus.RUNNING, attempts=attempt)
    row = running.select_related("user").first()
    if row is None:
        # Cancelled, failed or retried since the round handed it out: no slice starts.
        logger.info("Window (%s, %s] of regeneration %s not started: the row is not running", lo, hi, regeneration_id)
        return {"skipped": "the regeneration is not running"}

    def still_running(processed: int, total: int) -> None:
        if not running.exists():
            raise _Stopped

    try:
        figures, unfinished = _run_window(
            user=row.user, since=row.created_at, only_stale=only_stale, lo=lo, hi=hi, tried=tried,
            base=0, total=0, progress=still_running,
        )  # fmt: skip
    except _Stopped:
        logger.info("Window (%s, %s] of regeneration %s stopped: the row left running", lo, hi, regeneration_id)
        return {"stopped": "the regeneration left running"}
    return {"figures": figures, "unfinished": unfinished}
