"""What the semantic app adds to a worker's start-up (registered in SemanticConfig.ready)."""

from jobs.hooks import register_worker_hook


def banner_line() -> str:
    from semantic.embedders import describe_active_embedder

    return f"Embedder: {describe_active_embedder()}"


def load_model() -> None:
    from semantic.embedders import warm_up

    warm_up()


register_worker_hook("semantic", banner=banner_line, warm_up=load_model)
