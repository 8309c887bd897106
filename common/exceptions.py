"""Error types every app may raise; the project turns them into responses (scribes/handlers.py)."""


class ServiceUnavailable(Exception):
    """A dependency (Redis, the database) is down; the API answers 503."""
