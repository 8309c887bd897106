"""The web process's gunicorn worker class: uvicorn running scribes.asgi; a slow client costs a socket, not a worker."""

from uvicorn_worker import UvicornWorker


class ScribesUvicornWorker(UvicornWorker):
    CONFIG_KWARGS = {
        **UvicornWorker.CONFIG_KWARGS,
        # uvicorn would take the client address from X-Forwarded-For whenever the
        # peer is 127.0.0.1; NUM_PROXIES (DRF throttles, the admin lockout) is the
        # one setting that says how many proxies to believe.
        "proxy_headers": False,
        # Django has no ASGI lifespan handler; do not probe for one at each start.
        "lifespan": "off",
    }
