"""/health, /schema and /docs."""

import pytest

pytestmark = pytest.mark.django_db


def test_health_ok_with_database_and_redis(api_client, redis_conn):
    response = api_client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] in ("ok", "degraded")
    assert body["database"] == "ok" and body["redis"] == "ok"
    assert body["workers"] == 0
    assert body["embedder"]  # which embedder is active is never silent
    assert "no RQ worker is running: queued jobs will wait" in body["problems"]
    assert api_client.get("/health/").status_code == 200


def test_health_503_names_redis_when_it_is_down(api_client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = api_client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["redis"].startswith("error") and body["database"] == "ok"
    assert "redis unreachable" in body["problems"]


def test_health_503_names_database_when_it_is_down(api_client, redis_conn, monkeypatch):
    from django.db.utils import OperationalError

    def broken_cursor(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("scribes.health.connection.cursor", broken_cursor)
    response = api_client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"].startswith("error")
    assert "database unreachable" in response.json()["problems"]


def test_health_counts_a_live_worker(api_client, redis_conn):
    from django_rq import get_worker

    from common import queues

    worker = get_worker(*queues.ALL)
    worker.register_birth()
    try:
        assert api_client.get("/health").json()["workers"] == 1
    finally:
        worker.register_death()


def test_schema_describes_every_endpoint(api_client):
    response = api_client.get("/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json() if response["Content-Type"].endswith("json") else None
    if schema is None:
        import yaml

        schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    for expected in ["/auth/register", "/auth/token", "/notes", "/notes/{id}", "/health", "/jobs", "/jobs/{job_id}"]:
        assert any(p.rstrip("/").replace("{pk}", "{id}") == expected for p in paths), (expected, list(paths))
    token_post = next(v for p, v in paths.items() if p.rstrip("/") == "/auth/token")["post"]
    assert "requestBody" in token_post and "200" in token_post["responses"] and "401" in token_post["responses"]


def test_swagger_ui_is_served_without_a_cdn(client):
    response = client.get("/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html.lower()
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
