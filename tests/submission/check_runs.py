"""Test data for `director check`: paths into the public v3.0 fixture (read in place, never written) and
editable copies of it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

from director.submission.findings import FAIL, CaseReport, Finding

V30 = "mlperf-v3.0-orin-maxq"
RESULTS = Path("results") / "Orin_TRT_MaxQ" / "resnet50"


def v30_copy(shared_fixtures: Path, tmp_path: Path) -> Path:
    """A copy of the whole v3.0 fixture in tmp_path, to break."""
    return Path(shutil.copytree(shared_fixtures / V30, tmp_path / V30))


def performance_copy(shared_fixtures: Path, tmp_path: Path, scenario: str = "SingleStream") -> Path:
    """A copy of one performance/ folder of the v3.0 fixture, under the same results/ path in tmp_path."""
    target = tmp_path / RESULTS / scenario / "performance"
    return Path(shutil.copytree(shared_fixtures / V30 / RESULTS / scenario / "performance", target))


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace old by new in a text file, checking old occurs exactly count times (bytes kept as they are)."""
    text = path.read_bytes().decode("ascii")
    assert text.count(old) == count, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_bytes(text.replace(old, new).encode("ascii"))


def fails(case: CaseReport) -> List[Finding]:
    """The FAIL findings of a case."""
    return [f for f in case.findings if f.status is FAIL]


def only(case: CaseReport, rule: str) -> Finding:
    """The one finding of a rule in a case."""
    found = [f for f in case.findings if f.rule == rule]
    assert len(found) == 1, found
    return found[0]
