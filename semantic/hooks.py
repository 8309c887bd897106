"""What the semantic app adds to a worker's start-up (registered in SemanticConfig.ready)."""

from common import queues
from jobs.hooks import register_worker_hook


def banner_line() -> str:
    from semantic.embedders import describe_active_embedder

    return f"Embedder: {describe_active_embedder()}"


def load_model() -> None:
    from semantic.embedders import warm_up

    warm_up()


# Only the model worker loads the model: the system worker keeps torch out of its process.
register_worker_hook("semantic", banner=banner_line, warm_up=load_model, queues=queues.PURPOSES["semantic"])
