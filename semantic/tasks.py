"""RQ entry points of the semantic app: receive ids, call a service."""

import logging

from django.db import close_old_connections

from common import queues
from jobs.runner import tracked_task
from semantic.services import REGENERATE_JOB_TYPE, note_embeddings_embed_pending, note_embeddings_regenerate

logger = logging.getLogger(__name__)


@tracked_task(REGENERATE_JOB_TYPE, queue=queues.SEMANTIC)
def regenerate_embeddings(ctx, *, only_stale: bool = False):
    if ctx.user is None:
        raise ValueError("regenerate_embeddings needs a user; this job has none")
    return note_embeddings_regenerate(user=ctx.user, only_stale=only_stale, progress=ctx.progress, log=ctx.log)


def embed_pending_notes(user_id: int):
    """Plain RQ job (no BackgroundJob row): embed a user's recently edited notes."""
    close_old_connections()
    result = note_embeddings_embed_pending(user_id=user_id)
    logger.info("Embedded pending notes of user %s: %s", user_id, result)
    return result
