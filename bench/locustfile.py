"""The web-tier mix for Locust: users that sign in, write, read and search notes, and follow a job.

Run by `make load` (bench/_load.py starts the Procfile's processes on PostgreSQL
and runs this headless); by hand: `locust -f bench/locustfile.py --host http://127.0.0.1:8000`.

Each user registers (a fresh name), signs in, writes LOAD_NOTES_PER_USER notes,
then: lists and opens notes, creates and edits them, searches by keyword (both
endpoints) and hybrid, lists its jobs, and now and then starts a regeneration,
polls it and streams its events until the final one. A 503 with `Retry-After`
is the server refusing politely: counted apart (printed at the end), not an error.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import uuid
from collections import Counter

from locust import HttpUser, between, events, task

NOTES_PER_USER = int(os.environ.get("LOAD_NOTES_PER_USER", "20"))
STREAM_SECONDS = float(os.environ.get("LOAD_STREAM_SECONDS", "10"))
#: A JSON file of prepared accounts ([{"token": ..., "notes": [ids]}], bench/load.py writes it):
#: users take one each in turn instead of registering, so a short run measures the mix, not sign-ups.
ACCOUNTS = json.loads(open(os.environ["LOAD_ACCOUNTS"]).read()) if os.environ.get("LOAD_ACCOUNTS") else []
_NEXT_ACCOUNT = itertools.count()
WORDS = (
    "meeting budget garden travel recipe invoice project deadline python database music "
    "holiday report family doctor flight review lecture notes ideas coffee"
).split()

# Locust draws each user's next task and wait from the module's generator: seeded, every
# layout measured in one run gets the same sequence of draws, hence the same mix.
random.seed(20261207)

#: Polite refusals (503 + Retry-After) per request name.
REFUSED: Counter = Counter()


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


class ScribesUser(HttpUser):
    wait_time = between(0.05, 0.2)

    def _call(self, method: str, path: str, name: str, **kwargs):
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as response:
            if response.status_code == 503 and response.headers.get("Retry-After"):
                REFUSED[name] += 1
                response.success()
            elif response.status_code >= 400:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            return response

    def _until_served(self, method: str, path: str, name: str, **kwargs):
        """A sign-up or login refused with 503 is tried again after its Retry-After, as a client would."""
        for _ in range(10):
            reply = self._call(method, path, name, **kwargs)
            if reply.status_code != 503:
                return reply
            time.sleep(float(reply.headers.get("Retry-After", "1")))
        return reply

    def on_start(self):
        self.job_id = None
        index = next(_NEXT_ACCOUNT)
        # Each user's choices come from its own seeded generator, so every layout measured
        # gets the same mix of requests (the searches cost far more than the rest).
        self.rng = random.Random(index)
        if ACCOUNTS:
            account = ACCOUNTS[index % len(ACCOUNTS)]
            self.client.headers["Authorization"] = f"Bearer {account['token']}"
            self.note_ids = list(account["notes"])
            return
        username = f"load-{uuid.uuid4().hex[:12]}"
        password = f"pw-{uuid.uuid4().hex}"
        account = {"username": username, "email": f"{username}@example.com", "password": password}
        self._until_served("POST", "/auth/register", "POST /auth/register", json=account)
        login = {"username": username, "password": password}
        reply = self._until_served("POST", "/auth/token", "POST /auth/token", json=login)
        token = reply.json().get("access_token", "") if reply.status_code == 200 else ""
        self.client.headers["Authorization"] = f"Bearer {token}"
        self.note_ids: list[int] = []
        for _ in range(NOTES_PER_USER):
            self._create()
        self.job_id = None

    def _create(self):
        reply = self._call(
            "POST", "/notes", "POST /notes", json={"title": _text(self.rng, 4), "content": _text(self.rng, 60)}
        )
        if reply.status_code == 201:
            self.note_ids.append(reply.json()["id"])

    @task(6)
    def list_notes(self):
        self._call("GET", "/notes?page_size=20", "GET /notes")

    @task(8)
    def open_note(self):
        if self.note_ids:
            self._call("GET", f"/notes/{self.rng.choice(self.note_ids)}", "GET /notes/{id}")

    @task(3)
    def create_note(self):
        self._create()

    @task(3)
    def edit_note(self):
        if self.note_ids:
            note = self.rng.choice(self.note_ids)
            self._call("PATCH", f"/notes/{note}", "PATCH /notes/{id}", json={"content": _text(self.rng, 60)})

    @task(2)
    def keyword_search_notes(self):
        self._call("GET", f"/notes?search={self.rng.choice(WORDS)}", "GET /notes?search=")

    @task(2)
    def keyword_search(self):
        self._call("GET", f"/semantic/search?q={self.rng.choice(WORDS)}&mode=keyword", "GET /semantic/search keyword")

    @task(3)
    def hybrid_search(self):
        query = f"{self.rng.choice(WORDS)} {self.rng.choice(WORDS)}"
        self._call("GET", f"/semantic/search?q={query}", "GET /semantic/search hybrid")

    @task(2)
    def job_list(self):
        self._call("GET", "/jobs", "GET /jobs")

    @task(1)
    def regenerate_and_follow(self):
        if self.rng.random() > 0.2:
            return
        reply = self._call("POST", "/semantic/regenerate-embeddings", "POST /semantic/regenerate-embeddings", json={})
        if reply.status_code != 202:
            return
        job_id = reply.json()["job_id"]
        self._call("GET", f"/jobs/{job_id}", "GET /jobs/{id}")
        started = time.perf_counter()
        with self.client.get(
            f"/jobs/{job_id}/events", name="GET /jobs/{id}/events", stream=True, catch_response=True, timeout=30
        ) as response:
            if response.status_code == 503 and response.headers.get("Retry-After"):
                REFUSED["GET /jobs/{id}/events"] += 1
                response.success()
                return
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
                return
            for line in response.iter_lines():
                if line.startswith(b"event: ") and line[7:] in (b"completed", b"failed", b"cancelled"):
                    break
                if time.perf_counter() - started > STREAM_SECONDS:
                    break
            response.success()


@events.quitting.add_listener
def _report_refusals(environment, **kwargs):
    total = sum(REFUSED.values())
    print(f"503 with Retry-After (counted apart, not errors): {total}")
    for name, count in sorted(REFUSED.items()):
        print(f"  {name}: {count}")
