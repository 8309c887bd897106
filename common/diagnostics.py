"""The doctor's registry: each app registers named diagnostics in its `AppConfig.ready()`.

A diagnostic is a function that returns one `Finding` or a list of them;
`@diagnostic("name")` registers it when its module is imported, which each
app's `ready()` does, as Django's checks framework works. `manage.py doctor` and
the admin's job-health page run them all; a diagnostic that raises is itself
reported as FAIL and never crashes the report. The bottom layer: it imports no app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Finding:
    name: str
    level: str  # OK, WARN or FAIL
    message: str
    fix: str = ""
    data: dict | None = None

    def as_dict(self) -> dict:
        return asdict(self)


Diagnostic = Callable[[], Finding | list[Finding]]

_DIAGNOSTICS: dict[str, Diagnostic] = {}


def diagnostic(name: str):
    """Register the decorated function under `name` (registering a name again replaces it)."""

    def decorate(func: Diagnostic) -> Diagnostic:
        _DIAGNOSTICS[name] = func
        return func

    return decorate


def all_diagnostics() -> dict[str, Diagnostic]:
    return dict(_DIAGNOSTICS)


def run_diagnostics() -> list[Finding]:
    findings: list[Finding] = []
    for name, func in all_diagnostics().items():
        try:
            result = func()
        except Exception as exc:  # a broken probe is a finding, not a crash
            findings.append(Finding(name, FAIL, f"diagnostic raised {type(exc).__name__}: {exc}"))
            continue
        findings.extend(result if isinstance(result, list) else [result])
    return findings
