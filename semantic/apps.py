"""Note embeddings and search by meaning."""

from django.apps import AppConfig


class SemanticConfig(AppConfig):
    name = "semantic"
    verbose_name = "Semantic search"

    def ready(self):
        import numpy  # noqa: F401  (loads OpenBLAS, so that the limit below reaches it)
        from threadpoolctl import threadpool_limits

        from notes.hooks import register_note_written

        # numpy's OpenBLAS keeps its threads spinning for a while after each call. After
        # a search's matrix-vector product they held the cores torch's threads needed,
        # and the next query's encode took 4x as long (bench/search_quality.py). That
        # product is memory-bound, so one BLAS thread loses nothing; torch keeps its own.
        threadpool_limits(limits=1, user_api="blas")

        # Registers the checks, the doctor's diagnostics, the tracked tasks and the worker hooks.
        from semantic import checks, diagnostics, hooks, tasks  # noqa: F401
        from semantic.services import note_embedding_schedule

        # After commit, coalesced: a burst of note writes enqueues one embedding job.
        register_note_written(note_embedding_schedule)
