"""The figures of one pass: the device's window laid on the analyzer's samples, and MLPerf's formula beside ours.

Samples carry host UTC ns; the agent's window carries device UTC ns. With the measured clock
offset (device − host) the window maps to host time as t_host = t_device − offset. The official
formula compares LoadGen's power_begin/power_end (device clock) with spl.txt stamps, so for it the
samples are mapped the other way, exactly as our spl.txt files are written.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from power.checks import Check, CheckStatus
from power.energy import EnergyMeasurement, OfficialMetric, measure_window, official_metric
from power.errors import PowerError
from power.sample import Sample
from power.spl import record_from_sample
from power.uncertainty import PowerAccuracy


@dataclass(frozen=True)
class PassFigures:
    """Energy and efficiency of one LoadGen pass.

    t0_ns/t1_ns: the window on the host clock (first issue → last completion); energy: our
    time-weighted measurement; official: the checker's plain mean over LoadGen's markers (None
    when no sample fell inside); above_idle_*: the same minus the idle baseline.
    """

    name: str
    scenario: str
    t0_ns: int
    t1_ns: int
    energy: EnergyMeasurement
    official: Optional[OfficialMetric]
    query_count: Optional[int]
    sample_count: Optional[int]
    samples_per_s: Optional[float]
    idle_w: Optional[float]

    @property
    def average_w(self) -> float:
        """Average wall power over the window (W)."""
        return self.energy.average_w

    @property
    def energy_per_query_mj(self) -> Optional[float]:
        """mJ per query (the SingleStream metric)."""
        return self.energy.energy_per_query_mj

    @property
    def samples_per_j(self) -> Optional[float]:
        """Samples per joule (the Offline efficiency: samples/s ÷ W)."""
        if self.samples_per_s is None or not self.average_w or math.isnan(self.average_w):
            return None
        return self.samples_per_s / self.average_w

    @property
    def above_idle_w(self) -> Optional[float]:
        """Average power above the idle baseline (W)."""
        return None if self.idle_w is None else self.average_w - self.idle_w

    def to_json(self) -> Dict[str, Any]:
        """A JSON-ready record for run.json."""
        e = self.energy
        official = self.official
        return {
            "window_host_ns": [self.t0_ns, self.t1_ns],
            "duration_s": e.duration_s,
            "average_w": e.average_w,
            "energy_j": e.energy_j,
            "energy_per_query_mj": e.energy_per_query_mj,
            "samples_per_j": self.samples_per_j,
            "idle_w": self.idle_w,
            "above_idle_w": self.above_idle_w,
            "above_idle_energy_j": None if self.above_idle_w is None else self.above_idle_w * e.duration_s,
            "energy_uncertainty_j": e.energy_uncertainty_j,
            "uncertainty_relative": e.uncertainty_relative,
            "covered_s": e.covered_s,
            "excluded_s": e.excluded_s,
            "sample_count": e.sample_count,
            "query_count": self.query_count,
            "official": None
            if official is None
            else {
                "average_w": official.average_w,
                "energy_per_query_mj": official.energy_per_query_mj,
                "duration_s": official.duration_s,
                "sample_count": official.sample_count,
            },
            "checks": [check_json(c) for c in e.checks],
        }


def check_json(check: Check) -> Dict[str, str]:
    """A Check as JSON."""
    return {"name": check.name, "status": check.status.value, "reason": check.reason}


def pass_figures(
    name: str,
    agent_result: Dict[str, Any],
    samples: Sequence[Sample],
    offset_ns: int,
    idle_w: Optional[float] = None,
    accuracy: Optional[PowerAccuracy] = None,
) -> PassFigures:
    """Figures of a pass from its result.json (device clock) and the samples (host clock)."""
    window = agent_result["window"]
    scenario = agent_result["scenario"]
    t0 = window["first_issue_ns"] - offset_ns
    t1 = window["last_complete_ns"] - offset_ns
    queries = agent_result.get("query_count") if scenario == "SingleStream" else None
    energy = measure_window(samples, t0, t1, query_count=queries, key=name, accuracy=accuracy)
    official = None
    if window.get("loadgen_power_begin") and window.get("loadgen_power_end"):
        # The rows spl.txt holds (device clock, stamps cut to the millisecond, -1 without data), so this
        # is exactly what MLPerf's checker computes from our spl.txt and LoadGen's log.
        rows = (record_from_sample(dataclasses.replace(s, t_end_ns=s.t_end_ns + offset_ns), None) for s in samples)
        points = [(row.t_ns, row.watts) for row in rows]
        try:
            official = official_metric(points, window["loadgen_power_begin"], window["loadgen_power_end"], queries)
        except PowerError:
            official = None  # too short for any sample strictly inside: reported as a check below
    return PassFigures(
        name=name,
        scenario=scenario,
        t0_ns=t0,
        t1_ns=t1,
        energy=energy,
        official=official,
        query_count=agent_result.get("query_count"),
        sample_count=agent_result.get("sample_count"),
        samples_per_s=agent_result.get("samples_per_s"),
        idle_w=idle_w,
    )


def power_consistency(ranging: PassFigures, testing: PassFigures) -> Check:
    """MLPerf's check: testing average power must be above 95 % of ranging's (only lower fails)."""
    if math.isnan(ranging.average_w) or math.isnan(testing.average_w) or ranging.average_w <= 0:
        return Check("ranging_vs_testing_power", CheckStatus.WARN, "average power unavailable in one pass")
    delta = (testing.average_w - ranging.average_w) / ranging.average_w
    status = CheckStatus.PASS if delta > -0.05 else CheckStatus.FAIL
    return Check(
        "ranging_vs_testing_power",
        status,
        f"testing {testing.average_w:.3f} W vs ranging {ranging.average_w:.3f} W ({delta * 100:+.2f} %, limit -5 %)",
    )


def official_check(figures: PassFigures) -> Check:
    """Whether MLPerf's formula could be computed (at least one sample strictly inside the window)."""
    if figures.official is None:
        return Check("official_formula", CheckStatus.WARN, "no sample fell strictly inside LoadGen's window")
    ours, theirs = figures.average_w, figures.official.average_w
    diff = (theirs - ours) / ours * 100 if ours else math.nan
    return Check(
        "official_formula",
        CheckStatus.PASS,
        f"{figures.official.sample_count} samples inside; plain mean {theirs:.4f} W vs weighted {ours:.4f} W ({diff:+.3f} %)",
    )


def all_checks(checks: List[Check]) -> List[Dict[str, str]]:
    """Checks as JSON, worst first."""
    order = {CheckStatus.FAIL: 0, CheckStatus.WARN: 1, CheckStatus.PASS: 2}
    return [check_json(c) for c in sorted(checks, key=lambda c: order[c.status])]
