"""RQ entry points of the semantic app: receive ids, call a service."""

import logging

from common import queues
from jobs.runner import Continue, tracked_task
from semantic.services import (
    EMBED_PENDING_JOB_TYPE,
    REGENERATE_JOB_TYPE,
    note_embeddings_embed_pending,
    note_embeddings_regenerate_slice,
)

logger = logging.getLogger(__name__)


# On the bulk queue, one slice per RQ job: each slice hands the row to the next
# at the back of the queue, so new notes (SEMANTIC) and other users' slices get
# a worker in between. A failed slice is retried (finished notes are skipped).
@tracked_task(REGENERATE_JOB_TYPE, queue=queues.SEMANTIC_BULK, max_retries=2)
def regenerate_embeddings(ctx, *, only_stale: bool = False, after_id: int = 0, done: dict | None = None):
    if ctx.user is None:
        raise ValueError("regenerate_embeddings needs a user; this job has none")
    result, next_slice = note_embeddings_regenerate_slice(
        user=ctx.user,
        since=ctx.row.created_at,
        only_stale=only_stale,
        after_id=after_id,
        done=done,
        progress=ctx.progress,
        log=ctx.log,
    )
    if next_slice is None:
        return result
    return Continue(kwargs={"only_stale": only_stale, **next_slice})


# Interactive: on SEMANTIC, which semantic workers serve before any regeneration slice.
@tracked_task(EMBED_PENDING_JOB_TYPE, queue=queues.SEMANTIC)
def embed_pending_notes(ctx, *, user_id: int | None = None):
    # `user_id`: a plain job enqueued before auto-embeds were tracked (same dotted
    # name, kwargs {"user_id": ...}) still runs, and gets a row of its own.
    owner = ctx.row.user_id or user_id
    if owner is None:
        raise ValueError("embed_pending_notes needs a user; this job has none")
    return note_embeddings_embed_pending(user_id=owner, progress=ctx.progress, log=ctx.log)
