"""Write-cost rows of bench/search_quality.py: note create / edit with and without the keyword index."""

from __future__ import annotations

import time
from contextlib import contextmanager

from bench._search_eval import load_eval, note_text


def write_rows(quick: bool) -> list[dict]:
    """Note create / edit p50 with the keyword index against the table migrated back before it.

    Two levels, timed in the same rounds: what a user waits for (POST /notes and
    PATCH /notes/{id} through the whole HTTP stack: token auth, validation, the
    write, the auto-embed job it starts), which carries the target, and the bare
    services (`note_create`, `note_update`), reported to show the index's own cost.
    """
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import override_settings
    from rest_framework.test import APIClient

    from bench._setup import percentile
    from notes.services import note_create, note_update
    from scribes.services import user_token_issue

    rounds, per_round = (2, 50) if quick else (4, 200)
    user = get_user_model().objects.create_user(username="bench-writes", password="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {user_token_issue(user=user)[0]}")
    docs, _ = load_eval()
    kinds = ("api create", "api edit", "service create", "service edit")
    timings = {arm: {kind: [] for kind in kinds} for arm in ("index", "none")}

    @contextmanager
    def timed(arm: str, kind: str):
        started = time.perf_counter()
        yield
        timings[arm][kind].append(time.perf_counter() - started)

    def one_round(arm: str, offset: int, count: int) -> None:
        for i in range(count):
            title, content = note_text(docs[(offset + i) % len(docs)])
            with timed(arm, "api create"):
                response = client.post("/notes", {"title": title, "content": content})
            assert response.status_code == 201, response.content
            note_id = response.json()["id"]
            with timed(arm, "api edit"):
                response = client.patch(f"/notes/{note_id}", {"content": content + " Ed."})
            assert response.status_code == 200, response.content
            with timed(arm, "service create"):
                note = note_create(user=user, title=title, content=content)
            with timed(arm, "service edit"):
                note_update(note=note, content=content + " Edited.")

    # The product's default: every create and edit starts an auto-embed job (no worker runs here).
    with override_settings(SEMANTIC_AUTO_EMBED=True):
        one_round("index", 0, 30)  # warm up connections, caches and code paths before either arm is timed
        timings = {arm: {kind: [] for kind in kinds} for arm in ("index", "none")}
        for round_no in range(rounds):
            for arm in ("none", "index") if round_no % 2 == 0 else ("index", "none"):
                call_command("migrate", "notes", "0001" if arm == "none" else "0003", verbosity=0)
                one_round(arm, round_no * per_round, per_round)
    call_command("migrate", "notes", verbosity=0)
    rows = []
    for kind in kinds:
        with_index = percentile(timings["index"][kind], 0.5)
        without = percentile(timings["none"][kind], 0.5)
        level, op = kind.split()
        what = (
            f"{'POST /notes' if op == 'create' else 'PATCH /notes/{id}'} p50, whole HTTP stack with auto-embed"
            if level == "api"
            else f"note_{'create' if op == 'create' else 'update'} service p50 (the index's own cost)"
        )
        rows.append(
            {
                "benchmark": f"search: note {op}, {what}, keyword index kept current (abstract-sized notes)",
                "figure": f"{with_index * 1000:.2f} ms",
                "baseline": f"no keyword index {without * 1000:.2f} ms",
                "ratio": round(with_index / without, 2),
                "target": "≤ 1.2" if level == "api" else "report",
            }
        )
    return rows
