"""Print the lowest and the highest release of RQ that requirements.txt allows (one line each, deduplicated).

CI runs the worker, pause and fault tests on both (`.ci/run`): RQ is used only
through its documented extension points, and this is what keeps that true
across the range the project claims to support.
"""

import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def allowed_range() -> Requirement:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and Requirement(line).name == "rq":
            return Requirement(line)
    raise SystemExit("requirements.txt names no rq")


def released() -> list[Version]:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "rq"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"Available versions: (.+)", out)
    if not match:
        raise SystemExit(f"pip index versions rq printed no versions:\n{out}")
    return [Version(text.strip()) for text in match.group(1).split(",")]


def main() -> None:
    requirement = allowed_range()
    versions = sorted(v for v in released() if not v.is_prerelease and requirement.specifier.contains(v))
    if not versions:
        raise SystemExit(f"no released rq satisfies {requirement}")
    for version in dict.fromkeys([versions[0], versions[-1]]):
        print(version)


if __name__ == "__main__":
    main()
