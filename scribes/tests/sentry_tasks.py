"""A tracked task that fails while holding a note's text, for the error-report test (imported by the work-horse)."""

from common import queues
from jobs.runner import tracked_task
from notes.models import Note


@tracked_task("test_sentry_fail", queue=queues.SYSTEM)
def read_note_then_fail(ctx, *, note_id: int):
    note = Note.objects.get(pk=note_id)
    content = note.content  # a local the report must not carry
    ctx.log.info("read %d characters", len(content))
    raise RuntimeError(f"could not index note {note.pk}")
