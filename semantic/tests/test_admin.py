"""Admin: embeddings are listed read-only; the action starts one job per owner."""

import pytest

from jobs.models import BackgroundJob
from semantic.models import NoteEmbedding
from semantic.services import note_embeddings_regenerate

pytestmark = pytest.mark.django_db


def test_changelist_and_regenerate_action(
    admin_client, user, other_user, make_notes, fake_redis, django_capture_on_commit_callbacks
):
    make_notes(user, ["A: one", "B: two"])
    make_notes(other_user, ["C: three"])
    note_embeddings_regenerate(user=user)
    note_embeddings_regenerate(user=other_user)
    url = "/admin/semantic/noteembedding/"
    page = admin_client.get(url)
    assert page.status_code == 200 and b"hashing-384" in page.content
    selected = list(NoteEmbedding.objects.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            url, {"action": "regenerate_for_owners", "_selected_action": selected}, follow=True
        )
    assert response.status_code == 200
    assert "2 regenerate job(s) started for 2 user(s)" in response.content.decode()
    assert BackgroundJob.objects.filter(job_type="regenerate_embeddings").count() == 2
    detail = admin_client.get(f"{url}{selected[0]}/change/")
    assert detail.status_code == 200
