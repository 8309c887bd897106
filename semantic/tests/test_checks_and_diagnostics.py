"""System checks and `doctor` findings of the semantic app."""

import pytest

from common.diagnostics import FAIL, OK, WARN
from semantic import checks, diagnostics
from semantic.services import note_embeddings_regenerate


def ids(settings_errors):
    return [e.id for e in settings_errors]


def test_known_embedder_with_model_files_passes(settings):
    settings.SEMANTIC_EMBEDDER = "minilm"
    assert checks.check_embedder(None) == []


def test_unknown_embedder_is_an_error(settings):
    settings.SEMANTIC_EMBEDDER = "bogus"
    assert ids(checks.check_embedder(None)) == ["semantic.E001"]


def test_missing_model_files_is_an_error_with_a_hint(settings, tmp_path):
    settings.SEMANTIC_EMBEDDER = "minilm"
    settings.SEMANTIC_MODEL_PATH = str(tmp_path)
    [error] = checks.check_embedder(None)
    assert error.id == "semantic.E002" and "SEMANTIC_MODEL_PATH" in error.hint


def test_hashing_embedder_is_a_warning(settings):
    assert ids(checks.check_embedder(None)) == ["semantic.W001"]


def test_embedder_finding_levels(settings, tmp_path):
    assert diagnostics.embedder_finding().level == WARN  # hashing
    settings.SEMANTIC_EMBEDDER = "minilm"
    settings.SEMANTIC_MODEL_PATH = str(tmp_path)
    finding = diagnostics.embedder_finding()
    assert finding.level == FAIL and "cannot load" in finding.message


@pytest.mark.django_db
def test_unindexed_notes_finding_counts_notes_without_vectors(user, make_notes):
    make_notes(user, ["A: one", "B: two"])
    finding = diagnostics.unindexed_notes_finding()
    assert finding.level == WARN and finding.data["unindexed"] == 2
    note_embeddings_regenerate(user=user)
    assert diagnostics.unindexed_notes_finding().level == OK
