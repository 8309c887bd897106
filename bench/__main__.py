"""`make bench`: run every benchmark module in its own process, print and record ratios.

Each module (bench/<name>.py) exposes `run(quick: bool = False) -> list[dict]`
with rows {"benchmark", "figure", "baseline", "ratio", "target"}: the figure is
always compared with a baseline measured in the same run. The table is printed
and written into README.md between the bench markers.
"""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "BENCH-JSON:"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def modules() -> list[str]:
    # locustfile.py is Locust's input (`make load`), not a benchmark module.
    names = (m.name for m in pkgutil.iter_modules([str(ROOT / "bench")]))
    return sorted(name for name in names if not name.startswith("_") and name != "locustfile")


def run_module(name: str, quick: bool) -> list[dict]:
    code = (
        "import json, sys\n"
        f"import bench.{name} as m\n"
        f"rows = m.run(quick={quick!r})\n"
        f"print({MARK!r} + json.dumps(rows, default=str))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    sys.stderr.write(result.stderr[-4000:] if result.returncode else "")
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    return [{"benchmark": f"{name}: FAILED (exit {result.returncode})", "figure": "", "baseline": "", "ratio": ""}]


def _cell(value) -> str:
    return "–" if value is None or value == "" else str(value)


def table(rows: list[dict]) -> str:
    lines = ["| benchmark | figure | baseline | ratio | target |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            "| {benchmark} | {figure} | {baseline} | {ratio} | {target} |".format(
                **{key: _cell(row.get(key)) for key in ("benchmark", "figure", "baseline", "ratio", "target")}
            )
        )
    return "\n".join(lines)


def _prefix(benchmark: str) -> str:
    return benchmark.split(":", 1)[0].strip()


def merged_rows(old_table: str, rows: list[dict]) -> list[dict]:
    """The README's rows with those of the re-run benchmarks (same `prefix:`) replaced in place."""
    fresh = {_prefix(str(row.get("benchmark"))) for row in rows}
    out: list[dict] = []
    placed = False
    for line in old_table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5:
            continue
        if _prefix(cells[0]) in fresh:
            if not placed:
                out.extend(rows)
                placed = True
            continue
        out.append(dict(zip(("benchmark", "figure", "baseline", "ratio", "target"), cells, strict=True)))
    return out if placed else out + rows


def write_readme(rows: list[dict], *, partial: bool) -> None:
    """Rewrite the README table; a partial run (named modules) replaces only its own rows."""
    readme = ROOT / "README.md"
    content = readme.read_text()
    if START in content and END in content:
        head, rest = content.split(START, 1)
        old, tail = rest.split(END, 1)
        text = table(merged_rows(old.strip(), rows) if partial else rows)
        readme.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller data sets (smoke run)")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    args = parser.parse_args()
    rows: list[dict] = []
    for name in args.names or modules():
        print(f"running bench.{name} ...", flush=True)
        rows.extend(run_module(name, args.quick))
    text = table(rows)
    print(text)
    if not args.no_readme and not args.quick:
        write_readme(rows, partial=bool(args.names))
    return 1 if any("FAILED" in str(row.get("benchmark")) for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
