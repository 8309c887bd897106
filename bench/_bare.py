"""A job for the bare RQ worker baseline: importable without Django, so its worker imports only rq."""


def noop(n: int = 0):
    return n
