"""Error reports: SENTRY_DSN turns on sentry-sdk (Django and RQ integrations), scrubbed of user content and secrets.

What an event may carry: the exception, its stack (no local variables), the
request's method, path and a few harmless headers, the user's id, and for a
job its id, type, queue and user id as tags. What it never carries: a note's
text (no local variables, no request bodies, no job arguments, whose repr is
also the RQ job's description), a token or a password (no Authorization or
Cookie headers, no query strings, and any setting that is a secret replaced
wherever it appears). `send_default_pii=False` keeps the SDK's own PII off;
`scrub_event` is the second, explicit line.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

FILTERED = "[Filtered]"
#: Request headers an event keeps; every other one (Authorization, Cookie, X-Api-Key...) is dropped.
SAFE_HEADERS = {"accept", "content-type", "content-length", "host", "user-agent", "x-request-id"}


def sentry_init(*, dsn: str, environment: str = "", release: str = "") -> None:
    """Start the SDK in this process (settings call it when SENTRY_DSN is set: web, workers, commands)."""
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import ignore_logger
    from sentry_sdk.integrations.rq import RqIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        release=release or None,
        integrations=[DjangoIntegration(), RqIntegration()],
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        before_send=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        # Errors only: tracing is a separate decision (cost, sampling).
        traces_sample_rate=0.0,
    )
    # The runner logs each failure at ERROR and re-raises; the RQ integration
    # reports the exception itself, with its traceback: one event, not two.
    ignore_logger("jobs.runner")


def _secrets() -> list[str]:
    """Values of secret settings (and passwords inside the service URLs) to blank out of any event."""
    from django.conf import settings

    values = [
        getattr(settings, "SECRET_KEY", ""),
        getattr(settings, "EMAIL_HOST_PASSWORD", ""),
        getattr(settings, "METRICS_TOKEN", ""),
    ]
    for url in (getattr(settings, "REDIS_URL", ""), settings.DATABASES.get("default", {}).get("PASSWORD", "")):
        if "://" in (url or ""):
            values.append(urlsplit(url).password or "")
        else:
            values.append(url or "")
    return [value for value in values if value and len(value) >= 6]


def _replace(value, secrets: list[str]):
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, FILTERED)
        return value
    if isinstance(value, dict):
        return {key: _replace(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_replace(item, secrets) for item in value]
    return value


def _job_tags(rq_job_id: str) -> dict[str, str]:
    """The tracked row behind an RQ job: its id, type, queue and user (one indexed read)."""
    from jobs.models import BackgroundJob

    row = (
        BackgroundJob.objects.filter(rq_job_id=rq_job_id)
        .order_by("-created_at")
        .values("job_id", "job_type", "queue", "user_id")
        .first()
    )
    if row is None:
        return {}
    return {
        "job_id": str(row["job_id"]),
        "job_type": row["job_type"],
        "queue": row["queue"],
        "user_id": str(row["user_id"]) if row["user_id"] is not None else "none",
    }


def scrub_event(event: dict, hint: dict) -> dict:
    """before_send: tag job events, drop what may hold user content or credentials."""
    rq_job = (event.get("extra") or {}).get("rq-job")
    if isinstance(rq_job, dict):
        for key in ("args", "kwargs", "description"):
            rq_job.pop(key, None)
        try:
            event.setdefault("tags", {}).update(_job_tags(str(rq_job.get("job_id", ""))))
        except Exception as exc:  # the report matters more than its tags (database down, say)
            logger.debug("no job tags for the error report: %s", exc)
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("data", "cookies", "query_string", "env"):
            request.pop(key, None)
        headers = request.get("headers") or {}
        request["headers"] = {name: value for name, value in headers.items() if name.lower() in SAFE_HEADERS}
        if "url" in request:
            request["url"] = str(request["url"]).split("?", 1)[0]
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    secrets = _secrets()
    return _replace(event, secrets) if secrets else event


def scrub_breadcrumb(crumb: dict, hint: dict) -> dict:
    """before_breadcrumb: keep what happened, not its data (SQL parameters, HTTP bodies)."""
    crumb.pop("data", None)
    return crumb
