"""The registry behind `manage.py doctor`: each app contributes named diagnostics.

An app adds a `diagnostics.py` module whose functions are decorated with
`@diagnostic("name")` and return one `Finding` or a list of them. The doctor
command (and the admin job-health view) run them all; a diagnostic that raises
is itself reported as FAIL, never crashes the report.
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


_DIAGNOSTICS: dict[str, Callable[[], Finding | list[Finding]]] = {}


def diagnostic(name: str):
    def decorate(func: Callable[[], Finding | list[Finding]]):
        _DIAGNOSTICS[name] = func
        return func

    return decorate


def all_diagnostics() -> dict[str, Callable[[], Finding | list[Finding]]]:
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("diagnostics")
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
