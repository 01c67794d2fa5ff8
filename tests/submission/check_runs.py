"""Test data for `director check`: paths into the public v3.0 fixture (read in place, never written) and
editable copies of it."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any, Dict, List, Tuple

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


def window_host_ns(run: Dict[str, Any]) -> Tuple[int, int, int]:
    """(begin, end, offset) of an edgepower run's testing window: LoadGen's power_begin/end in host ns, and
    the device-minus-host clock offset that maps them."""
    run_1 = run["passes"]["run_1"]
    offset, window = run_1["clock"]["offset_ns"], run_1["agent"]["window"]
    return window["loadgen_power_begin_ns"] - offset, window["loadgen_power_end_ns"] - offset, offset


def switch_to_auto_ranging(samples_csv: Path, begin_ns: int, end_ns: int) -> List[Dict[str, str]]:
    """Mark the samples.csv rows strictly inside (begin_ns, end_ns) as read on auto current range; those rows."""
    with open(samples_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    switched = [r for r in rows if begin_ns < int(r["t_end_ns"]) < end_ns]
    for row in switched:
        row["current_auto"] = "true"
    with open(samples_csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return switched
