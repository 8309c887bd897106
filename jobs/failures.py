"""Why a job failed, for operators: its traceback and the lines it logged through its context, both bounded.

Users see one line (`error_message`); the row keeps the full traceback of
the last failure (`error_traceback`) and the task's log (`log`), and each
retried attempt's traceback goes into the audit trail. Sizes are capped by
`JOBS_TRACEBACK_MAX_CHARS` and `JOBS_LOG_MAX_CHARS` so a runaway task cannot
bloat the table.
"""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime

from django.conf import settings


def bounded(text: str, limit: int, *, keep: str = "both") -> str:
    """`text` cut to `limit` characters: the head and tail of a traceback, or the latest of a log."""
    if len(text) <= limit:
        return text
    if keep == "tail":
        return f"[{len(text) - limit} earlier characters cut]\n" + text[-limit:]
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"


def traceback_text(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return bounded(text, settings.JOBS_TRACEBACK_MAX_CHARS)


class JobLog(logging.LoggerAdapter):
    """The task's `job.log`: logs as before (with the job id) and keeps the lines for the row, bounded."""

    def __init__(self, logger: logging.Logger, job_id: str):
        super().__init__(logger, {"job_id": job_id})
        self.lines: list[str] = []
        self._size = 0

    def log(self, level, msg, *args, **kwargs):
        if self.isEnabledFor(level) or level >= logging.INFO:
            try:
                text = msg % args if args else str(msg)
            except (TypeError, ValueError):
                text = f"{msg} {args}"
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            line = f"{stamp} {logging.getLevelName(level)} {text}"
            self.lines.append(line)
            self._size += len(line) + 1
            # Keep memory bounded too: drop the oldest lines once well past the cap.
            limit = settings.JOBS_LOG_MAX_CHARS
            while self._size > 2 * limit and len(self.lines) > 1:
                self._size -= len(self.lines.pop(0)) + 1
        super().log(level, msg, *args, **kwargs)

    def text(self) -> str:
        return bounded("\n".join(self.lines), settings.JOBS_LOG_MAX_CHARS, keep="tail")
