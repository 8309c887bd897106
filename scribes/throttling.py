"""DRF's scoped throttle, failing open: with the cache (Redis) down a request is served, not a 500.

The counters live in the Redis cache so every web process counts against one
limit; when Redis cannot be reached the limit is not enforced for that request
(a warning is logged, at most once a minute per process), which keeps login,
search and job creation working while Redis is down. Job creation itself still
needs Redis and answers 503 without it.
"""

import logging
import time

from rest_framework.throttling import ScopedRateThrottle

logger = logging.getLogger("scribes.throttling")

_WARN_EVERY_SECONDS = 60.0
_last_warning = [0.0]


class FailOpenScopedRateThrottle(ScopedRateThrottle):
    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # the cache backend's errors (redis.exceptions.*, OSError) vary
            now = time.monotonic()
            if now - _last_warning[0] >= _WARN_EVERY_SECONDS:
                _last_warning[0] = now
                logger.warning(
                    "Throttle %r not enforced: the cache is unavailable (%s: %s)",
                    getattr(self, "scope", None),
                    type(exc).__name__,
                    exc,
                )
            return True
