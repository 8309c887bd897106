"""Creating or editing a note embeds it in the background: after commit, coalesced."""

import django_rq
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from common import queues
from jobs.models import BackgroundJob, JobStatus
from notes.services import note_create, note_delete, note_update
from semantic import services
from semantic.models import NoteEmbedding

pytestmark = pytest.mark.django_db


def queued():
    return django_rq.get_queue(queues.SEMANTIC).jobs


def test_burst_of_edits_enqueues_one_job_after_commit(user, fake_redis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        note = note_create(user=user, title="Draft", content="v0")
    assert queued() == []  # nothing before the commit
    with django_capture_on_commit_callbacks(execute=True):  # the row's enqueue waits for its own commit
        for callback in callbacks:
            callback()
    for i in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            note_update(note=note, content=f"v{i + 1}")
    with django_capture_on_commit_callbacks(execute=True):
        second = note_create(user=user, title="Second")
    jobs = queued()
    assert len(jobs) == 1
    assert jobs[0].func_name == "semantic.tasks.embed_pending_notes"
    # A tracked job: one row for the burst, on the interactive queue, the user's own.
    row = BackgroundJob.objects.get(job_type="embed_pending_notes")
    assert (row.user, row.status, row.queue) == (user, JobStatus.QUEUED, queues.SEMANTIC)
    assert jobs[0].kwargs == {"background_job_id": str(row.job_id)}
    assert fake_redis.smembers(services._pending_key(user.pk)) == {str(note.pk).encode(), str(second.pk).encode()}


def test_the_job_embeds_pending_notes_then_later_edits_schedule_again(
    user, fake_redis, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        note = note_create(user=user, title="Draft", content="first")
    result = services.note_embeddings_embed_pending(user_id=user.pk)
    assert result["embeddings_generated"] == 1
    assert NoteEmbedding.objects.filter(note=note).exists()
    assert services.note_embeddings_embed_pending(user_id=user.pk)["embeddings_generated"] == 0

    with django_capture_on_commit_callbacks(execute=True):
        note_update(note=note, content="second")
    assert len(queued()) == 2
    assert services.note_embeddings_embed_pending(user_id=user.pk)["embeddings_generated"] == 1


def test_update_without_text_change_schedules_nothing(user, fake_redis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        note = note_create(user=user, title="T")
    services.note_embeddings_embed_pending(user_id=user.pk)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        note_update(note=note)
    assert callbacks == []


def test_setting_off_schedules_nothing(user, fake_redis, settings, django_capture_on_commit_callbacks):
    settings.SEMANTIC_AUTO_EMBED = False
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        note_create(user=user, title="T")
    assert callbacks == [] and queued() == []


def test_redis_down_never_fails_the_note_write(user, monkeypatch, django_capture_on_commit_callbacks):
    def refuse(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(services, "rq_connection", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        note = note_create(user=user, title="Still saved")
    assert note.pk is not None


def test_deleted_note_is_skipped_by_the_pending_job(user, fake_redis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        keep = note_create(user=user, title="Keep")
        gone = note_create(user=user, title="Gone")
    note_delete(note=gone)
    result = services.note_embeddings_embed_pending(user_id=user.pk)
    assert result["embeddings_generated"] == 1
    assert list(NoteEmbedding.objects.values_list("note_id", flat=True)) == [keep.pk]


@pytest.mark.django_db(transaction=True)  # autocommit, as after a request: the enqueue runs inside the call
def test_enqueue_refused_clears_the_marker_so_the_next_edit_schedules_again(user, fake_redis, monkeypatch):
    from jobs.services import starting

    def refuse(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(starting, "_queue", refuse)
        note = note_create(user=user, title="First")
    row = BackgroundJob.objects.get(job_type="embed_pending_notes")
    assert row.status == JobStatus.FAILED and "Redis unavailable" in row.error_message
    assert not fake_redis.exists(services._scheduled_key(user.pk))
    note_update(note=note, content="again")
    assert len(queued()) == 1
