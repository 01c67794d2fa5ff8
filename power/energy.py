"""Energy over a window: our time-weighted integral with its checks, and MLPerf's official formula.

Each Sample is the average power over its own interval (t_end_ns - interval_ns, t_end_ns], so the
energy in [t0_ns, t1_ns] weights every sample by the part of its interval inside the window.
Nothing is dropped silently: time not covered by a usable sample is reported (gaps, bad samples,
window outside the sampled span) and judged by checks.

The official formula (inference submission checker, see ../shared/reference/mlperf.md §10) is
a plain mean of the samples stamped strictly inside (power_begin, power_end) with W > 0, times
the window duration.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from power.checks import Check, CheckStatus
from power.errors import PowerError
from power.sample import Sample, Status
from power.spl import SplRecord, parse_mlperf_time
from power.uncertainty import PowerAccuracy, WindowUncertainty, combine_window, sample_uncertainty_w

log = logging.getLogger(__name__)

TimeLike = Union[int, str]
"""UTC ns, or a LoadGen month-first 'MM-DD-YYYY HH:MM:SS.mmm' UTC string."""

_NS_PER_S = 1e9


def to_ns(value: TimeLike) -> int:
    """UTC ns of an int (returned as is) or a LoadGen power_begin/power_end string."""
    if isinstance(value, str):
        try:
            return parse_mlperf_time(value)
        except ValueError as e:
            raise PowerError(str(e)) from e
    if isinstance(value, bool) or not isinstance(value, int):
        raise PowerError(f"a time must be UTC ns (int) or an MLPerf time string, not {value!r}")
    return value


@dataclass(frozen=True)
class EnergyMeasurement:
    """Energy and power over one window, with what was covered, what was excluded, and checks.

    Times in UTC ns, durations in s. covered_s is time under usable samples; the rest of
    duration_s is gap_s (no sample), bad_s (overrange / no-data / gap samples) and outside_s
    (window beyond the sampled span). measured_energy_j integrates covered_s only;
    average_w = measured_energy_j / covered_s; energy_j = average_w x duration_s (equal to
    measured_energy_j when the window is fully covered). energy_per_query_mj uses energy_j.
    Uncertainties follow power.uncertainty.combine_window (NaN when unknown).
    """

    key: str
    t0_ns: int
    t1_ns: int
    duration_s: float
    covered_s: float
    gap_s: float
    bad_s: float
    outside_s: float
    measured_energy_j: float
    average_w: float
    energy_j: float
    sample_count: int
    ok_sample_count: int
    query_count: Optional[int]
    energy_per_query_mj: Optional[float]
    energy_uncertainty_j: float
    uncertainty_relative: float
    uncertainty_unknown_s: float
    checks: Tuple[Check, ...]

    @property
    def excluded_s(self) -> float:
        """Window time not covered by a usable sample (gap_s + bad_s + outside_s)."""
        return self.gap_s + self.bad_s + self.outside_s

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not any(c.failed for c in self.checks)


@dataclass(frozen=True)
class OfficialMetric:
    """MLPerf's power metric: mean W of samples strictly inside the window with W > 0, x duration.

    average_w is the Offline figure (W); energy_per_query_mj the SingleStream one
    (avg_W x duration_s x 1000 / query_count); energy_j = average_w x duration_s.
    """

    power_begin_ns: int
    power_end_ns: int
    duration_s: float
    sample_count: int
    average_w: float
    energy_j: float
    query_count: Optional[int]
    energy_per_query_mj: Optional[float]


def official_metric(
    points: Iterable[Tuple[int, float]],
    power_begin: TimeLike,
    power_end: TimeLike,
    query_count: Optional[int] = None,
) -> OfficialMetric:
    """The checker's formula over (t_ns, watts) points; raises PowerError if none is in the window."""
    begin_ns, end_ns = to_ns(power_begin), to_ns(power_end)
    # Same operations, in the same order, as the checker: a running list, sum()/len(), then
    # avg * duration * 1000 / count, so the result matches its figures to the last bit.
    watts = [w for t, w in points if begin_ns < t < end_ns and w > 0]
    if not watts:
        raise PowerError("no power samples falling in power range "
                         f"({begin_ns} ns .. {end_ns} ns)")
    average_w = sum(watts) / len(watts)
    duration_s = (end_ns - begin_ns) / _NS_PER_S
    per_query = None
    if query_count is not None:
        if query_count <= 0:
            raise PowerError(f"query count must be positive, not {query_count}")
        per_query = average_w * duration_s * 1000 / query_count
    return OfficialMetric(begin_ns, end_ns, duration_s, len(watts), average_w,
                          average_w * duration_s, query_count, per_query)


def official_from_spl(
    records: Iterable[SplRecord],
    power_begin: TimeLike,
    power_end: TimeLike,
    query_count: Optional[int] = None,
) -> OfficialMetric:
    """The official metric over spl.txt rows (Time and Watts columns)."""
    return official_metric(((r.t_ns, r.watts) for r in records), power_begin, power_end,
                           query_count)


def official_from_samples(
    samples: Iterable[Sample],
    power_begin: TimeLike,
    power_end: TimeLike,
    query_count: Optional[int] = None,
) -> OfficialMetric:
    """The official metric over Samples, stamped at the end of their interval like spl.txt rows."""
    return official_metric(((s.t_end_ns, s.power_w) for s in samples if s.ok),
                           power_begin, power_end, query_count)


def effective_intervals(samples: Iterable[Sample]) -> List[Tuple[Sample, int, int]]:
    """(sample, start_ns, end_ns) in time order; a start overlapping the previous end is clipped.

    Clipping keeps overlapping stamps (clock jitter) from counting the same time twice.
    """
    result: List[Tuple[Sample, int, int]] = []
    prev_end: Optional[int] = None
    for sample in sorted(samples, key=lambda s: s.t_end_ns):
        start = sample.t_start_ns if prev_end is None else max(sample.t_start_ns, prev_end)
        end = max(start, sample.t_end_ns)
        result.append((sample, start, end))
        prev_end = end if prev_end is None else max(prev_end, end)
    return result


def _overlap(start: int, end: int, t0: int, t1: int) -> int:
    return max(0, min(end, t1) - max(start, t0))


def measure_window(
    samples: Sequence[Sample],
    t0: TimeLike,
    t1: TimeLike,
    query_count: Optional[int] = None,
    key: str = "",
    accuracy: Optional[PowerAccuracy] = None,
    uncertainty_limit: float = 0.01,
    jitter_fraction: float = 0.02,
    gap_warn_fraction: float = 0.01,
) -> EnergyMeasurement:
    """Integrate power over [t0, t1] with partial intervals weighted, and judge the coverage.

    Gaps no longer than jitter_fraction of the next sample's interval are stamp jitter (reported,
    not warned); other gaps warn up to gap_warn_fraction of the window and fail beyond it. So do gap
    samples (the meter lost): the average over the rest stands for the whole window only while they
    are a small part of it. No-data samples (the meter changing range) warn; overrange always fails.
    """
    t0_ns, t1_ns = to_ns(t0), to_ns(t1)
    if t1_ns <= t0_ns:
        raise PowerError(f"empty window: t1 ({t1_ns} ns) is not after t0 ({t0_ns} ns)")
    if query_count is not None and query_count <= 0:
        raise PowerError(f"query count must be positive, not {query_count}")
    pieces = effective_intervals(samples)
    energy_parts: List[float] = []
    unc_parts: List[Tuple[float, float, float]] = []
    covered_ns = bad_ns = gap_ns = jitter_ns = 0
    big_gaps: List[Tuple[int, int]] = []
    bad_by_status: Dict[Status, Tuple[int, int]] = {}
    count = ok_count = 0
    prev_end: Optional[int] = None
    for sample, start, end in pieces:
        if prev_end is not None and start > prev_end:
            hole = _overlap(prev_end, start, t0_ns, t1_ns)
            if hole > 0:
                gap_ns += hole
                if start - prev_end <= jitter_fraction * sample.interval_ns:
                    jitter_ns += hole
                else:
                    big_gaps.append((prev_end, start))
        prev_end = end if prev_end is None else max(prev_end, end)
        part = _overlap(start, end, t0_ns, t1_ns)
        if part == 0:
            continue
        count += 1
        if sample.ok:
            ok_count += 1
            covered_ns += part
            energy_parts.append(sample.power_w * part)
            unc_parts.append((sample.power_w, sample_uncertainty_w(sample, accuracy),
                              part / _NS_PER_S))
        else:
            bad_ns += part
            n, ns = bad_by_status.get(sample.status, (0, 0))
            bad_by_status[sample.status] = (n + 1, ns + part)
    duration_ns = t1_ns - t0_ns
    outside_ns = duration_ns - covered_ns - bad_ns - gap_ns
    measured_j = math.fsum(energy_parts) / _NS_PER_S
    if covered_ns > 0:
        average_w = measured_j / (covered_ns / _NS_PER_S)
        energy_j = measured_j if covered_ns == duration_ns else average_w * duration_ns / _NS_PER_S
    else:
        average_w = energy_j = math.nan
    unc = combine_window(unc_parts, uncertainty_limit)
    per_query = energy_j * 1000 / query_count if query_count is not None else None
    checks = (
        _check_span(pieces, t0_ns, t1_ns, outside_ns),
        _check_gaps(gap_ns, jitter_ns, big_gaps, duration_ns, gap_warn_fraction),
        _check_bad(bad_by_status, covered_ns, duration_ns, gap_warn_fraction),
        _check_uncertainty(unc, ok_count, uncertainty_limit),
    )
    return EnergyMeasurement(
        key, t0_ns, t1_ns, duration_ns / _NS_PER_S, covered_ns / _NS_PER_S, gap_ns / _NS_PER_S,
        bad_ns / _NS_PER_S, outside_ns / _NS_PER_S, measured_j, average_w, energy_j, count,
        ok_count, query_count, per_query, unc.relative * abs(energy_j), unc.relative,
        unc.unknown_s, checks,
    )


def _s(ns: float) -> str:
    return f"{ns / _NS_PER_S:.3f} s"


def _check_span(pieces: List[Tuple[Sample, int, int]], t0: int, t1: int, outside: int) -> Check:
    name = "window_in_span"
    if not pieces:
        return Check(name, CheckStatus.FAIL, "no samples at all")
    if outside == 0:
        return Check(name, CheckStatus.PASS, "window lies inside the sampled span")
    first, last = pieces[0][1], max(end for _, _, end in pieces)
    parts = []
    if t0 < first:
        parts.append(f"starts {_s(min(first, t1) - t0)} before the first sample")
    if t1 > last:
        parts.append(f"ends {_s(t1 - max(last, t0))} after the last sample")
    return Check(name, CheckStatus.FAIL, "window " + " and ".join(parts))


def _check_gaps(gap_ns: int, jitter_ns: int, big: List[Tuple[int, int]], duration_ns: int,
                warn_fraction: float) -> Check:
    name = "gaps"
    if gap_ns == 0:
        return Check(name, CheckStatus.PASS, "no gaps between samples")
    if not big:
        return Check(name, CheckStatus.PASS, f"only stamp jitter between samples ({_s(jitter_ns)})")
    total = gap_ns - jitter_ns
    status = CheckStatus.WARN if total <= warn_fraction * duration_ns else CheckStatus.FAIL
    return Check(name, status, f"{len(big)} gap(s) totalling {_s(total)} "
                 f"({100.0 * total / duration_ns:.2f} % of the window), longest "
                 f"{_s(max(b - a for a, b in big))}; plus {_s(jitter_ns)} of stamp jitter")


def _check_bad(bad: Dict[Status, Tuple[int, int]], covered_ns: int, duration_ns: int, warn_fraction: float) -> Check:
    name = "bad_samples"
    if covered_ns == 0 and not bad:
        return Check(name, CheckStatus.FAIL, "no usable samples in the window")
    if not bad:
        return Check(name, CheckStatus.PASS, "every sample in the window has data")
    parts = [f"{n} {status.value} sample(s) covering {_s(ns)}"
             for status, (n, ns) in sorted(bad.items(), key=lambda kv: kv[0].value)]
    # An overrange reading under-reads the power: the range was wrong, the figure is not valid.
    # A gap sample is the meter lost (unplugged, silent): beyond a sliver, the rest cannot stand for the
    # window. A no-data sample is the meter itself between ranges: a warning, as the power ran on.
    lost_ns = bad.get(Status.GAP, (0, 0))[1]
    too_much = lost_ns > warn_fraction * duration_ns
    failed = Status.OVERRANGE in bad or covered_ns == 0 or too_much
    share = f" (the meter lost for {100.0 * lost_ns / duration_ns:.1f} % of the window, limit {100.0 * warn_fraction:g} %)" if too_much else ""
    return Check(name, CheckStatus.FAIL if failed else CheckStatus.WARN,
                 "; ".join(parts) + " excluded from the integral" + share)


def _check_uncertainty(unc: WindowUncertainty, ok_count: int, limit: float) -> Check:
    name = "uncertainty"
    pct = 100.0 * limit
    if ok_count == 0:
        return Check(name, CheckStatus.FAIL, "no usable samples to judge")
    if unc.samples_above_limit or (unc.relative > limit):
        return Check(name, CheckStatus.FAIL,
                     f"{unc.samples_above_limit} of {ok_count} samples above {pct:.2f} % "
                     f"(worst {100.0 * unc.max_sample_relative:.2f} %, window "
                     f"{100.0 * unc.relative:.2f} %)")
    if unc.known_s == 0:
        return Check(name, CheckStatus.WARN, f"uncertainty unknown for all {unc.unknown_s:.3f} s "
                     "(auto ranging or no accuracy model)")
    if unc.unknown_s > 0:
        return Check(name, CheckStatus.WARN,
                     f"uncertainty unknown for {unc.unknown_s:.3f} s (auto ranging or no accuracy "
                     f"model); known part {100.0 * unc.relative:.2f} %")
    return Check(name, CheckStatus.PASS, f"window {100.0 * unc.relative:.2f} %, worst sample "
                 f"{100.0 * unc.max_sample_relative:.2f} % (limit {pct:.2f} %)")
