"""Embedders: the hashing fallback, the real MiniLM model, and inference after fork()."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from semantic import embedders
from semantic.embedders import EmbedderUnavailable, HashingEmbedder, get_embedder
from semantic.selectors import note_search
from semantic.services import note_embeddings_regenerate


def test_hashing_embedder_vectors_are_normalized_and_deterministic():
    embedder = HashingEmbedder()
    vectors = embedder.encode(["walk the dog", "walk the dog", "", "tax forms"])
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[[0, 1, 3]], axis=1), 1.0)
    assert np.array_equal(vectors[0], vectors[1])
    assert not vectors[2].any()  # nothing to hash: a zero vector, not NaN
    assert vectors[0] @ embedder.encode(["dogs walking"])[0] > vectors[3] @ embedder.encode(["dogs walking"])[0]


def test_active_embedder_is_named_and_hashing_is_flagged(settings):
    assert get_embedder().model_name == "hashing-384"
    assert "hashing" in embedders.describe_active_embedder()
    assert "WARNING" in embedders.describe_active_embedder()


def test_unknown_embedder_setting_raises(settings):
    settings.SEMANTIC_EMBEDDER = "word2vec"
    with pytest.raises(EmbedderUnavailable, match="word2vec"):
        get_embedder()
    assert embedders.describe_active_embedder().startswith("unavailable:")


def test_missing_model_directory_raises_with_a_fix(settings, tmp_path):
    settings.SEMANTIC_EMBEDDER = "minilm"
    settings.SEMANTIC_MODEL_PATH = str(tmp_path / "nowhere")
    embedder = get_embedder()
    assert "nowhere" in embedders.describe_active_embedder()  # naming it does not load it
    with pytest.raises(EmbedderUnavailable, match="SEMANTIC_MODEL_PATH"):
        embedder.load()


def test_minilm_vectors_are_384_normalized(minilm):
    vectors = minilm.encode(["hello there", "a second sentence"])
    assert minilm.model_name == "all-MiniLM-L6-v2"
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert "all-MiniLM-L6-v2" in embedders.describe_active_embedder()


NOTES = [
    "Weekend: my puppy loves the park and chasing the ball",
    "Accounts: quarterly tax filing is due, gather the receipts",
    "Dessert: chocolate cake recipe with buttercream frosting",
    "Trip: flight to Tokyo next month, remember the passport",
    "Health: doctor appointment about my sore throat and fever",
]


@pytest.mark.django_db
@pytest.mark.realmodel
@pytest.mark.parametrize(
    ("query", "expected_title"),
    [
        ("dog", "Weekend"),
        ("baking something sweet", "Dessert"),
        ("travelling abroad", "Trip"),
        ("feeling ill", "Health"),
        ("paperwork for the IRS", "Accounts"),
    ],
)
def test_real_model_ranks_by_meaning(minilm, user, make_notes, query, expected_title):
    make_notes(user, NOTES)
    note_embeddings_regenerate(user=user)
    results = note_search(user=user, query=query, limit=5)["results"]
    assert results[0]["title"] == expected_title, results
    assert results[0]["score"] > results[-1]["score"]


@pytest.mark.django_db
@pytest.mark.realmodel
def test_real_model_puppy_above_tax_for_dog(minilm, user, make_notes):
    make_notes(user, ["Puppy: my puppy loves the park", "Taxes: quarterly tax filing"])
    note_embeddings_regenerate(user=user)
    found = note_search(user=user, query="dog", limit=10)
    assert [r["title"] for r in found["results"]] == ["Puppy", "Taxes"]
    assert found["model"] == "all-MiniLM-L6-v2"


FORK_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import django
    os.environ["DJANGO_SETTINGS_MODULE"] = "scribes.settings"
    os.environ["SEMANTIC_EMBEDDER"] = "minilm"
    django.setup()
    import torch
    from semantic.embedders import get_embedder, warm_up
    warm_up()  # what ScribesWorker.bootstrap does before forking horses
    threads = torch.get_num_threads()
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            vectors = get_embedder().encode(["a dog in the park"] * 8)
            ok = vectors.shape == (8, 384) and torch.get_num_threads() == threads
            os._exit(0 if ok else 3)
        deadline = time.monotonic() + 60
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                if os.waitstatus_to_exitcode(status) != 0:
                    sys.exit(f"child failed: {status}")
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                sys.exit("child hung")
            time.sleep(0.05)
    print("forked-encode-ok", threads)
    """
)


@pytest.mark.realmodel
def test_warm_up_then_fork_encodes_with_all_threads_and_does_not_hang(subprocess_env):
    result = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT], env=subprocess_env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "forked-encode-ok" in result.stdout


@pytest.mark.realmodel
def test_fork_after_parent_inference_falls_back_instead_of_hanging(minilm):
    import os
    import time

    minilm.encode(["the parent runs multi-threaded inference first"])
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            ok = minilm.encode(["child"]).shape == (1, 384)
        finally:
            os._exit(0 if ok else 3)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            pytest.fail("encoding in a fork after parent inference hung")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0


def test_loading_the_model_prints_no_progress_bar(capfd):
    # doctor loads the model to prove it loads; transformers' "Loading weights" bar filled its output.
    from semantic.embedders import SentenceTransformerEmbedder, configured_model_path

    SentenceTransformerEmbedder(configured_model_path()).load()
    captured = capfd.readouterr()
    assert "Loading weights" not in captured.err + captured.out


def test_numpy_blas_runs_one_thread_beside_torch():
    """OpenBLAS threads left spinning after a search's matrix product starved the next encode (semantic/apps.py)."""
    from threadpoolctl import threadpool_info

    # numpy's own OpenBLAS (scipy, loaded later by the model's imports, brings another that numpy never calls).
    blas = [p for p in threadpool_info() if p["user_api"] == "blas" and "numpy" in p["filepath"]]
    assert blas, f"numpy's BLAS is loaded by the time Django is ready: {threadpool_info()}"
    assert [pool["num_threads"] for pool in blas] == [1] * len(blas), blas
