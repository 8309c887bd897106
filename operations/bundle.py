"""`doctor --bundle FILE`: one archive an operator attaches to a ticket, with nothing secret in it.

The old guide's "when to contact support" list (versions, `pip freeze`,
`redis-cli INFO`, the last failed jobs, logs) as one tar.gz: doctor's findings,
versions, settings with every secret masked, queue and worker state, and the
last failures with their tracebacks, Redis INFO, and the tails of the process
logs in LOG_DIR. Masking is by name (anything that looks like a password, key,
token or DSN) and by value (URL passwords and secret query parameters, and the
secret key's value wherever else it appears). The file is written 0600.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import sys
import tarfile
import time
from importlib import metadata

from django.conf import settings
from django.utils import timezone

from common.env import mask_url

MASK = "***"
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|(^|_)KEY$|API_KEY|DSN|CREDENTIAL|PRIVATE|SIGNING|SALT", re.I)
#: Settings whose names end in KEY but hold no secret.
NOT_SECRET = {"DEFAULT_AUTO_FIELD", "SECURE_PROXY_SSL_HEADER"}
FAILURES = 50
#: user:password@ inside any URL in free text (a traceback, a finding's message).
URL_PASSWORD = re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s\"']*:)[^@\s\"']+@", re.I)
#: A secret query parameter (?password=..., &token=...) inside any URL in free text.
URL_SECRET_PARAM = re.compile(
    r"([?&][^=&\s\"']*(?:pass|pwd|secret|token|key|auth|credential)[^=&\s\"']*=)[^&\s\"']+", re.I
)
#: Redis INFO sections the bundle carries (no section holds a secret; `requirepass` is CONFIG's, not INFO's).
REDIS_INFO_SECTIONS = ("server", "memory", "clients", "persistence")
#: Lines kept from the end of each log file in LOG_DIR.
LOG_TAIL_LINES = 500

README = """Scribes support bundle
======================
doctor.json     every doctor finding (level, message, fix, data), as `manage.py doctor --json`
versions.json   Python, Django, RQ, Redis server, database server, and every installed package
settings.json   Django settings; passwords, keys, tokens and URL passwords replaced by ***
queues.json     per queue: length, paused flag, workers listening; every worker's state and current job
failures.json   the last {failures} failed jobs: type, queue, times, attempts, error, traceback, log lines
redis_info.json Redis INFO: server, memory, clients, persistence
logs/           the last {log_lines} lines of each *.log file in LOG_DIR (when it is set), secrets masked
Read doctor.json first: each non-OK finding names its fix.
"""


def _secret_values() -> list[str]:
    values = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [value for value in values if isinstance(value, str) and len(value) >= 8]


def mask_text(text: str, secrets: list[str]) -> str:
    text = URL_PASSWORD.sub(rf"\1{MASK}@", text)
    text = URL_SECRET_PARAM.sub(rf"\1{MASK}", text)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def mask_settings_value(name: str, value, secrets: list[str] | None = None):
    """`value` with secrets replaced: by its name, inside URLs, and any known secret value anywhere."""
    secrets = _secret_values() if secrets is None else secrets
    if name and SECRET_NAME.search(name) and name.upper() not in NOT_SECRET:
        return MASK if value not in (None, "", [], {}) else value
    if isinstance(value, dict):
        return {key: mask_settings_value(str(key), item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_settings_value("", item, secrets) for item in value]
    if isinstance(value, str):
        if "://" in value:
            value = mask_url(value)
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask_settings_value("", repr(value), secrets)


def settings_snapshot() -> dict:
    secrets = _secret_values()
    return {
        name: mask_settings_value(name, getattr(settings, name), secrets) for name in dir(settings) if name.isupper()
    }


def versions() -> dict:
    from django.db import connection

    from jobs.rqkeys import rq_connection

    found = {"python": sys.version, "platform": platform.platform()}
    for package in ("django", "rq", "django-rq", "rq-scheduler", "redis", "djangorestframework", "psycopg"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    try:
        found["redis_server"] = rq_connection().info("server").get("redis_version")
    except Exception as exc:
        found["redis_server"] = f"unreachable: {type(exc).__name__}"
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT sqlite_version()" if connection.vendor == "sqlite" else "SELECT version()")
            found["database_server"] = f"{connection.vendor} {cursor.fetchone()[0]}"
    except Exception as exc:
        found["database_server"] = f"unreachable: {type(exc).__name__}"
    found["packages"] = sorted(f"{dist.metadata['Name']}=={dist.version}" for dist in metadata.distributions())
    return found


def queue_state() -> dict:
    from jobs.pausing import paused_queues
    from operations.selectors import live_workers, redis_health

    state: dict = {"health": redis_health()}
    try:
        state["paused"] = paused_queues()
        state["workers"] = live_workers()
    except Exception as exc:
        state["error"] = f"Redis unreachable: {type(exc).__name__}: {exc}"
    return state


def redis_info() -> dict:
    from jobs.rqkeys import rq_connection

    try:
        connection = rq_connection()
        return {section: connection.info(section) for section in REDIS_INFO_SECTIONS}
    except Exception as exc:
        return {"error": f"Redis unreachable: {type(exc).__name__}: {exc}"}


def log_tails(lines: int = LOG_TAIL_LINES) -> dict[str, str]:
    """The last `lines` lines of each `*.log` in LOG_DIR (the processes' logs), by file name; {} without LOG_DIR."""
    from collections import deque
    from pathlib import Path

    directory = getattr(settings, "LOG_DIR", "")
    if not directory or not Path(directory).is_dir():
        return {}
    tails = {}
    for path in sorted(Path(directory).glob("*.log")):
        try:
            with path.open(errors="replace") as handle:
                tails[f"logs/{path.name}"] = "".join(deque(handle, maxlen=lines))
        except OSError as exc:
            tails[f"logs/{path.name}"] = f"unreadable: {exc}\n"
    return tails


def recent_failures(limit: int = FAILURES) -> list[dict]:
    from jobs.models import BackgroundJob, JobStatus

    fields = ["job_id", "job_type", "queue", "created_at", "started_at", "completed_at", "attempts"]
    fields += ["error_message", "error_traceback", "log"]
    rows = BackgroundJob.objects.filter(status=JobStatus.FAILED).order_by("-completed_at").values(*fields)[:limit]
    return list(rows)


def support_bundle_write(*, path: str, findings: list) -> list[str]:
    """Write the tar.gz at `path`; returns the names of its members."""
    secrets = _secret_values()
    members = {
        "README.txt": README.format(failures=FAILURES, log_lines=LOG_TAIL_LINES),
        "doctor.json": [finding.as_dict() for finding in findings],
        "versions.json": versions(),
        "settings.json": settings_snapshot(),
        "queues.json": queue_state(),
        "failures.json": recent_failures(),
        "redis_info.json": redis_info(),
        "created.json": {"at": timezone.now().isoformat(), "by": "manage.py doctor --bundle"},
        **log_tails(),
    }
    # Owner-only from the first byte: the bundle describes the deployment even with secrets masked.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(descriptor, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
        for name, content in members.items():
            text = content if isinstance(content, str) else json.dumps(content, indent=2, default=str)
            # Tracebacks and findings may quote a URL or the secret key: mask values once more.
            text = mask_text(text, secrets)
            data = text.encode()
            info = tarfile.TarInfo(f"scribes-bundle/{name}")
            info.size = len(data)
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return list(members)
