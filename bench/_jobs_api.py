"""Enqueue, bulk fan-out and status-polling rows of bench/jobs.py."""

from __future__ import annotations

import time

from common import queues


def _enqueue(connection, queue, trips, n: int) -> dict:
    from bench._setup import percentile
    from bench._tasks import raw_noop
    from jobs.services import background_job_start

    connection.flushdb()
    queue.enqueue(raw_noop, n=-1)  # connect outside the measurement
    background_job_start(job_type="bench_noop", params={"n": -1})
    raw, ours = [], []
    before = trips()
    for i in range(n):
        started = time.perf_counter()
        queue.enqueue(raw_noop, n=i)
        raw.append(time.perf_counter() - started)
    raw_trips = (trips() - before) / n
    before = trips()
    for i in range(n):
        started = time.perf_counter()
        background_job_start(job_type="bench_noop", params={"n": i})
        ours.append(time.perf_counter() - started)
    our_trips = (trips() - before) / n
    return {
        "raw_p50": percentile(raw, 0.5),
        "raw_p95": percentile(raw, 0.95),
        "our_p50": percentile(ours, 0.5),
        "our_p95": percentile(ours, 0.95),
        "raw_trips": raw_trips,
        "our_trips": our_trips,
    }


def _regenerate_posts(connection, trips, n: int) -> dict:
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from bench._setup import percentile
    from scribes.services import user_token_issue

    connection.flushdb()
    users = get_user_model().objects.bulk_create([get_user_model()(username=f"bench-post-{i}") for i in range(n + 1)])
    tokens = [user_token_issue(user=user)[0] for user in users]
    seconds, sent = [], []
    for i, token in enumerate(tokens):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        before = trips()
        started = time.perf_counter()
        response = client.post("/semantic/regenerate-embeddings", {}, format="json")
        elapsed = time.perf_counter() - started
        if response.status_code != 202 or response.json()["status"] != "queued":
            raise SystemExit(
                f"POST /semantic/regenerate-embeddings answered {response.status_code}: {response.content}"
            )
        if i:  # the first request connects and warms up
            seconds.append(elapsed)
            sent.append(trips() - before)
    return {"p50": percentile(seconds, 0.5), "p95": percentile(seconds, 0.95), "trips": sum(sent) / len(sent)}


def _bulk(connection, trips, n: int) -> dict:
    from jobs.models import BackgroundJob
    from jobs.rqkeys import QUEUE_KEY
    from jobs.services import background_job_start, background_job_start_many

    connection.flushdb()
    BackgroundJob.objects.all().delete()
    before = trips()
    started = time.perf_counter()
    for i in range(n):
        background_job_start(job_type="bench_noop", params={"n": i})
    one_by_one = time.perf_counter() - started
    one_trips = trips() - before
    connection.flushdb()
    BackgroundJob.objects.all().delete()
    before = trips()
    started = time.perf_counter()
    background_job_start_many(job_type="bench_noop", items=[{"params": {"n": i}} for i in range(n)])
    bulk = time.perf_counter() - started
    bulk_trips = trips() - before
    if connection.llen(QUEUE_KEY.format(queues.SYSTEM)) != n or BackgroundJob.objects.count() != n:
        raise SystemExit("bulk fan-out did not create every row and RQ job")
    connection.flushdb()
    return {"one": n / one_by_one, "bulk": n / bulk, "one_trips": one_trips, "bulk_trips": bulk_trips}


def _polling(n: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from bench._setup import percentile, time_alternating
    from jobs.models import BackgroundJob
    from scribes.services import user_token_issue

    user, _ = get_user_model().objects.get_or_create(username="bench")
    token, _ = user_token_issue(user=user)
    job = BackgroundJob.objects.create(job_type="bench_noop", user=user, queue=queues.SYSTEM, rq_job_id="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"/jobs/{job.job_id}").status_code == 200
    queries = len(captured.captured_queries)
    ours, baseline = time_alternating(
        range(n), lambda _: client.get(f"/jobs/{job.job_id}"), lambda _: client.get("/notes?page_size=1")
    )
    return {"queries": queries, "p50": percentile(ours, 0.5), "baseline_p50": percentile(baseline, 0.5)}


def api_rows(connection, queue, trips, *, quick: bool, db_name: str) -> list[dict]:
    """POST /semantic/regenerate-embeddings and background_job_start against raw enqueue, bulk fan-out, polling."""
    rows = []
    posts = _regenerate_posts(connection, trips, 50 if quick else 300)
    enqueue = _enqueue(connection, queue, trips, 100 if quick else 500)
    ms = 1000
    rows.append(
        {
            "benchmark": f"jobs: POST /semantic/regenerate-embeddings, test client, {db_name}, p50 / p95 (ms)",
            "figure": f"{posts['p50'] * ms:.2f} / {posts['p95'] * ms:.2f}",
            "baseline": f"raw queue.enqueue {enqueue['raw_p50'] * ms:.2f} / {enqueue['raw_p95'] * ms:.2f}",
            "ratio": f"{posts['p50'] / enqueue['raw_p50']:.1f}× (p50)",
            "target": "report",
        }
    )
    rows.append(
        {
            "benchmark": "jobs: background_job_start vs queue.enqueue, p50 / p95 (ms)",
            "figure": f"{enqueue['our_p50'] * ms:.2f} / {enqueue['our_p95'] * ms:.2f}",
            "baseline": f"{enqueue['raw_p50'] * ms:.2f} / {enqueue['raw_p95'] * ms:.2f}",
            "ratio": f"{enqueue['our_p50'] / enqueue['raw_p50']:.1f}× (p50)",
            "target": "report",
        }
    )
    rows.append(
        {
            "benchmark": "jobs: Redis round trips per enqueue (POST incl. its throttle counter)",
            "figure": f"{enqueue['our_trips']:.1f} background_job_start ({posts['trips']:.1f} per POST)",
            "baseline": f"{enqueue['raw_trips']:.1f} raw",
            "ratio": f"+{enqueue['our_trips'] - enqueue['raw_trips']:.1f}",
            "target": "≤ +3",
        }
    )
    bulk = _bulk(connection, trips, 100 if quick else 1000)
    rows.append(
        {
            "benchmark": f"jobs: bulk fan-out, background_job_start_many, {db_name} (jobs/s; round trips)",
            "figure": f"{bulk['bulk']:.0f} ({bulk['bulk_trips']} trips)",
            "baseline": f"{bulk['one']:.0f} one by one ({bulk['one_trips']} trips)",
            "ratio": f"{bulk['bulk'] / bulk['one']:.1f}×",
            "target": "≥ 4×",
        }
    )
    polling = _polling(100 if quick else 500)
    rows.append(
        {
            "benchmark": f"jobs: GET /jobs/{{id}}: {polling['queries']} queries, p50 (ms)",
            "figure": f"{polling['p50'] * ms:.2f}",
            "baseline": f"{polling['baseline_p50'] * ms:.2f} (GET /notes?page_size=1)",
            "ratio": f"{polling['p50'] / polling['baseline_p50']:.2f}",
            "target": "≤ 2 queries",
        }
    )
    return rows
