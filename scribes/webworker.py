"""The web process's gunicorn worker class: uvicorn running scribes.asgi; a slow client costs a socket, not a worker."""

import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from scribes.env import env_float

logger = logging.getLogger("scribes.webworker")


class ScribesUvicornWorker(UvicornWorker):
    CONFIG_KWARGS = {
        **UvicornWorker.CONFIG_KWARGS,
        # uvicorn would take the client address from X-Forwarded-For whenever the
        # peer is 127.0.0.1; NUM_PROXIES (DRF throttles, the admin lockout) is the
        # one setting that says how many proxies to believe.
        "proxy_headers": False,
        # Django has no ASGI lifespan handler; do not probe for one at each start.
        "lifespan": "off",
        # Request headers that do not arrive within HTTP_HEADER_TIMEOUT seconds close the connection.
        "http": "scribes.webworker:HeaderTimeoutProtocol",
    }


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request headers are too slow.

    uvicorn has no such timeout of its own (its keep-alive timer stops at the first
    byte): the clock starts when the connection is made and again at the first
    byte of each later request on it, and stops once the headers are complete;
    HTTP_HEADER_TIMEOUT seconds (default 10, nginx's client_header_timeout in
    compose) without them closes the connection, without a response.
    """

    header_timeout = env_float("HTTP_HEADER_TIMEOUT", 10.0, minimum=0.1)

    def connection_made(self, transport):
        super().connection_made(transport)
        self._header_timer = None
        self._arm_header_timer()

    def _arm_header_timer(self):
        if getattr(self, "_header_timer", None) is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_timer(self):
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self):
        self._header_timer = None
        if not self.transport.is_closing():
            logger.info("Closing a connection whose headers took over %s s", self.header_timeout)
            self.transport.close()

    def on_message_begin(self):
        super().on_message_begin()
        self._arm_header_timer()

    def on_headers_complete(self):
        self._disarm_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc):
        self._disarm_header_timer()
        super().connection_lost(exc)
