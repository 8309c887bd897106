"""RQ entry points of the semantic app: receive ids, call a service."""

import logging

from common import queues
from jobs.runner import Continue, tracked_task
from semantic.regeneration import note_embeddings_regenerate_round, note_embeddings_regenerate_window
from semantic.services import EMBED_PENDING_JOB_TYPE, REGENERATE_JOB_TYPE, note_embeddings_embed_pending

logger = logging.getLogger(__name__)


# On the bulk queue, one round per RQ job: each round embeds one window itself,
# hands one window to each other semantic worker, and hands the row to the next
# round at the back of the queue once they end, so new notes (SEMANTIC) and other
# users' rounds get a worker in between. A failed round is retried (finished notes
# are skipped).
@tracked_task(REGENERATE_JOB_TYPE, queue=queues.SEMANTIC_BULK, max_retries=2)
def regenerate_embeddings(ctx, *, only_stale: bool = False, **round_state):
    if ctx.user is None:
        raise ValueError("regenerate_embeddings needs a user; this job has none")
    result, next_round, waits_for = note_embeddings_regenerate_round(
        row=ctx.row, only_stale=only_stale, progress=ctx.progress, log=ctx.log, **round_state
    )
    if next_round is None:
        return result
    return Continue(kwargs=next_round, depends_on=tuple(waits_for))


def regenerate_window(**window):
    """Plain RQ job (part of a regeneration's row, not a row of its own): one window of one round."""
    return note_embeddings_regenerate_window(**window)


# Interactive: on SEMANTIC, which semantic workers serve before any regeneration slice.
@tracked_task(EMBED_PENDING_JOB_TYPE, queue=queues.SEMANTIC)
def embed_pending_notes(ctx, *, user_id: int | None = None):
    # `user_id`: a plain job enqueued before auto-embeds were tracked (same dotted
    # name, kwargs {"user_id": ...}) still runs, and gets a row of its own.
    owner = ctx.row.user_id or user_id
    if owner is None:
        raise ValueError("embed_pending_notes needs a user; this job has none")
    return note_embeddings_embed_pending(user_id=owner, progress=ctx.progress, log=ctx.log)
