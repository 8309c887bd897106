"""No code of ours reads, assigns or calls an underscore name of RQ, django-rq or rq-scheduler.

Their documented extension points (worker, queue and job classes, callbacks,
`handle_work_horse_killed`, exception handlers, CLI options) survive upgrades;
their private names do not. The test collects every `_name` those libraries
define and fails on any use of one in the project (attribute or import).
"""

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("rq", "django_rq", "rq_scheduler")
PROJECT = (
    "common",
    "idempotency",
    "jobs",
    "live",
    "notes",
    "operations",
    "reminders",
    "scribes",
    "semantic",
    "bench",
    "conftest.py",
)


def _python_files(path: Path):
    return [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _library_private_names() -> set[str]:
    names = set()
    for library in LIBRARIES:
        package = Path(importlib.util.find_spec(library).origin).parent
        for path in _python_files(package):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _private(node.name):
                    names.add(node.name)
                elif isinstance(node, ast.Attribute) and _private(node.attr):
                    names.add(node.attr)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and _private(node.id):
                    names.add(node.id)
    return names


def _our_private_names() -> set[str]:
    """Underscore functions, classes and variables the project defines itself (a helper may share a name with RQ's).

    Attributes assigned on `self` do not count: in a subclass of an RQ class they are RQ's.
    """
    names = set()
    for part in PROJECT:
        for path in _python_files(ROOT / part):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _private(node.name):
                    names.add(node.name)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and _private(node.id):
                    names.add(node.id)
    return names


def test_no_private_name_of_rq_django_rq_or_rq_scheduler_is_used():
    private = _library_private_names() - _our_private_names()
    found = []
    for part in PROJECT:
        for path in _python_files(ROOT / part):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                standard = isinstance(node, ast.Attribute) and getattr(node.value, "id", None) in ("os", "sys")
                if isinstance(node, ast.Attribute) and node.attr in private and not standard:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
                elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in LIBRARIES:
                    found += [
                        f"{path.relative_to(ROOT)}:{node.lineno} import {alias.name} from {node.module}"
                        for alias in node.names
                        if _private(alias.name) or any(_private(part) for part in (node.module or "").split("."))
                    ]
    assert not found, "RQ internals used:\n" + "\n".join(found)
