"""Energy over a window (hand-computed cases), the official MLPerf formula, and the real Orin figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import pytest

from power import energy, loadgen_log, spl
from power.checks import CheckStatus
from power.errors import FileFormatError, PowerError
from power.sample import Sample, Status, gap

S = 1_000_000_000
MS = 1_000_000
T = 1_700_000_000 * S
ORIN = "mlperf-v3.0-orin-maxq/results/Orin_TRT_MaxQ/resnet50"


def ok(end_s: float, power_w: float, interval_s: float = 1.0, u_w: float = math.nan,
       ranges: Optional[tuple] = None) -> Sample:
    v_range, a_range = ranges if ranges else (math.nan, math.nan)
    return Sample(T + round(end_s * S), round(interval_s * S), power_w, 230.0, power_w / 230.0, 1.0,
                  v_range, a_range, Status.OK, u_w)


def bad(end_s: float, status: Status) -> Sample:
    nan = math.nan
    return Sample(T + round(end_s * S), S, nan, nan, nan, nan, 300.0, 0.5, status)


def check(result: energy.EnergyMeasurement, name: str):
    return next(c for c in result.checks if c.name == name)


def test_partial_intervals_are_weighted_by_overlap() -> None:
    samples = [ok(1, 2.0), ok(2, 4.0), ok(3, 6.0), ok(4, 8.0)]
    m = energy.measure_window(samples, T + S // 2, T + 3 * S + S // 2, query_count=3)
    # 2 W x 0.5 s + 4 W x 1 s + 6 W x 1 s + 8 W x 0.5 s
    assert m.measured_energy_j == 15.0
    assert m.energy_j == 15.0
    assert m.average_w == 5.0
    assert m.duration_s == 3.0 and m.covered_s == 3.0 and m.excluded_s == 0.0
    assert m.energy_per_query_mj == 5000.0
    assert m.sample_count == 4 and m.ok
    assert all(c.status is CheckStatus.PASS for c in m.checks[:3])


def test_step_inside_an_interval_is_carried_by_the_sample_average() -> None:
    # Truth: 10 W until 1.25 s, then 30 W. The sample ending at 2 s averages 10x0.25 + 30x0.75 = 25 W.
    samples = [ok(1, 10.0), ok(2, 25.0), ok(3, 30.0)]
    whole = energy.measure_window(samples, T, T + 3 * S)
    assert whole.energy_j == 10.0 + 25.0 + 30.0  # exact: the window holds whole intervals
    # A window cutting the step sample in half takes half of its average (truth would be 17.5 J).
    half = energy.measure_window(samples, T + S, T + 3 * S // 2)
    assert half.energy_j == 12.5
    assert half.average_w == 25.0


def test_gap_is_reported_and_never_filled_silently() -> None:
    samples = [ok(1, 10.0), ok(2, 10.0), ok(4, 20.0)]  # nothing covers (2 s, 3 s]
    m = energy.measure_window(samples, T, T + 4 * S, query_count=2)
    assert m.measured_energy_j == 40.0
    assert m.covered_s == 3.0 and m.gap_s == 1.0 and m.excluded_s == 1.0
    assert m.average_w == 40.0 / 3.0
    assert m.energy_j == pytest.approx(160.0 / 3.0, rel=1e-15)  # the gap at the covered average
    assert m.energy_per_query_mj == pytest.approx(m.energy_j * 1000 / 2, rel=1e-15)
    gaps = check(m, "gaps")
    assert gaps.status is CheckStatus.FAIL
    assert "1 gap(s) totalling 1.000 s (25.00 % of the window)" in gaps.reason
    assert not m.ok


def test_short_gap_warns_and_stamp_jitter_passes() -> None:
    samples = [ok(k, 10.0) for k in range(1, 101)]
    del samples[50]  # one missing second out of 200
    samples += [ok(k, 10.0) for k in range(101, 201)]
    m = energy.measure_window(samples, T, T + 200 * S)
    assert check(m, "gaps").status is CheckStatus.WARN
    assert m.gap_s == 1.0
    jitter = [ok(1, 10.0), ok(2.001, 20.0), ok(3.0, 30.0)]  # 1 ms hole, then 1 ms overlap
    j = energy.measure_window(jitter, T, T + 3 * S)
    assert check(j, "gaps").status is CheckStatus.PASS
    assert "stamp jitter" in check(j, "gaps").reason
    assert j.gap_s == 0.001
    # The overlap is clipped, not counted twice: 10 + 20 + 30 x 0.999 J.
    assert j.measured_energy_j == pytest.approx(10.0 + 20.0 + 29.97, rel=1e-15)


def test_window_outside_the_sampled_span_fails_with_its_reason() -> None:
    samples = [ok(1, 10.0), ok(2, 10.0)]
    m = energy.measure_window(samples, T - S // 2, T + 3 * S)
    span = check(m, "window_in_span")
    assert span.status is CheckStatus.FAIL
    assert span.reason == ("window starts 0.500 s before the first sample and ends 1.000 s "
                           "after the last sample")
    assert m.outside_s == 1.5 and m.covered_s == 2.0
    none = energy.measure_window([], T, T + S)
    assert math.isnan(none.energy_j) and not none.ok
    assert check(none, "bad_samples").reason == "no usable samples in the window"


def test_overrange_fails_no_data_warns_and_both_are_excluded() -> None:
    samples = [ok(1, 10.0), bad(2, Status.NO_DATA), ok(3, 10.0), gap(T + 4 * S, S)]
    m = energy.measure_window(samples, T, T + 4 * S)
    assert m.bad_s == 2.0 and m.covered_s == 2.0 and m.measured_energy_j == 20.0
    assert m.average_w == 10.0 and m.energy_j == 40.0
    # The meter lost for a quarter of the window: the average of the rest does not stand for it.
    assert check(m, "bad_samples").status is CheckStatus.FAIL
    assert check(m, "bad_samples").reason == (
        "1 gap sample(s) covering 1.000 s; 1 no_data sample(s) covering 1.000 s excluded from the integral "
        "(the meter lost for 25.0 % of the window, limit 1 %)")
    # No data while the meter changes range is a warning however long; a lost second in 200 is within 1 %.
    changing = [ok(1, 10.0), bad(2, Status.NO_DATA), bad(3, Status.NO_DATA), ok(4, 10.0)]
    m1 = energy.measure_window(changing, T, T + 4 * S)
    assert check(m1, "bad_samples").status is CheckStatus.WARN and m1.average_w == 10.0
    long = [ok(i, 10.0) for i in range(1, 201) if i != 7] + [gap(T + 7 * S, S)]
    m2 = energy.measure_window(sorted(long, key=lambda s: s.t_end_ns), T, T + 200 * S)
    assert check(m2, "bad_samples").status is CheckStatus.WARN and m2.average_w == 10.0
    assert check(m2, "bad_samples").reason == "1 gap sample(s) covering 1.000 s excluded from the integral"
    m3 = energy.measure_window(samples + [bad(5, Status.OVERRANGE)], T, T + 5 * S)
    assert check(m3, "bad_samples").status is CheckStatus.FAIL
    assert "1 overrange sample(s) covering 1.000 s" in check(m3, "bad_samples").reason


def test_uncertainty_checks_and_window_figure() -> None:
    good = [ok(1, 10.0, u_w=0.085), ok(2, 20.0, u_w=0.095)]
    m = energy.measure_window(good, T, T + 2 * S)
    assert m.uncertainty_relative == pytest.approx(0.18 / 30.0, rel=1e-12)
    assert m.energy_uncertainty_j == pytest.approx(0.18, rel=1e-12)
    assert check(m, "uncertainty").status is CheckStatus.PASS
    high = good + [ok(3, 5.0, u_w=0.08)]  # 1.6 %
    h = energy.measure_window(high, T, T + 3 * S)
    assert check(h, "uncertainty").status is CheckStatus.FAIL
    assert "1 of 3 samples above 1.00 % (worst 1.60 %" in check(h, "uncertainty").reason
    unknown = good + [ok(3, 5.0)]
    u = energy.measure_window(unknown, T, T + 3 * S)
    assert check(u, "uncertainty").status is CheckStatus.WARN
    assert u.uncertainty_unknown_s == 1.0


def test_accuracy_model_fills_in_sample_uncertainty_on_fixed_ranges() -> None:
    from power.uncertainty import accuracy_for

    samples = [ok(k, 10.0, ranges=(300.0, 0.5)) for k in (1, 2)]
    m = energy.measure_window(samples, T, T + 2 * S, accuracy=accuracy_for("WT310E"))
    assert m.uncertainty_relative == pytest.approx(0.0085, rel=1e-12)
    assert m.energy_uncertainty_j == pytest.approx(0.17, rel=1e-12)


def test_bad_windows_raise() -> None:
    with pytest.raises(PowerError, match="empty window"):
        energy.measure_window([ok(1, 1.0)], T + S, T + S)
    with pytest.raises(PowerError, match="query count"):
        energy.measure_window([ok(1, 1.0)], T, T + S, query_count=0)
    with pytest.raises(PowerError, match="not a month-first"):
        energy.measure_window([ok(1, 1.0)], "2023-02-24 06:22:00", T + S)


def test_official_formula_hand_examples() -> None:
    # Reference (mlperf.md §10): 10 W at 1 Hz around a 2.001 s window with 1659 queries.
    begin, end = T + S // 2, T + S // 2 + 2001 * MS
    points = [(T + k * S, 10.0) for k in range(0, 5)]
    m = energy.official_metric(points, begin, end, query_count=1659)
    assert m.sample_count == 2  # stamps at 1 s and 2 s
    assert m.energy_per_query_mj == 10.0 * 2.001 * 1000 / 1659
    assert round(m.energy_per_query_mj, 2) == 12.06
    # Strict bounds and W > 0: a stamp equal to begin or end, and a 0 W or -1 row, are left out.
    points = [(begin, 99.0), (T + S, 0.0), (T + S + 1, -1.0), (T + 2 * S, 250.0), (end, 99.0)]
    assert energy.official_metric(points, begin, end).average_w == 250.0
    w = energy.official_metric([(T + 300 * S, 250.0)], T, T + 600 * S, query_count=100000)
    assert w.energy_per_query_mj == 1500.0
    with pytest.raises(PowerError, match="no power samples falling in power range"):
        energy.official_metric([(begin, 10.0)], begin, end)


def test_official_formula_on_samples_matches_spl_rows() -> None:
    samples = [ok(1, 10.0), bad(2, Status.NO_DATA), ok(3, 30.0)]
    m = energy.official_from_samples(samples, T, T + 4 * S)
    assert m.sample_count == 2 and m.average_w == 20.0


@pytest.mark.parametrize("scenario, figure", [
    ("SingleStream", 22.193258802933546),
    ("Offline", 22.6593553223388),
])
def test_official_formula_gives_the_published_orin_figures(shared_fixtures: Path, scenario: str,
                                                           figure: float) -> None:
    base = shared_fixtures / ORIN / scenario / "performance/run_1"
    window = loadgen_log.read_power_window(base / "mlperf_log_detail.txt")
    records = spl.read_spl(base / "spl.txt")
    m = energy.official_from_spl(records, window.power_begin, window.power_end, window.query_count)
    if scenario == "SingleStream":
        assert window.query_count == 400518
        assert (m.sample_count, round(m.duration_s, 3)) == (600, 600.002)
        assert m.energy_per_query_mj == pytest.approx(figure, rel=1e-9)
        assert round(m.energy_per_query_mj, 6) == 22.193259
        assert round(1000 / m.energy_per_query_mj, 3) == 45.059
    else:
        assert (m.sample_count, round(m.duration_s, 3)) == (667, 667.03)
        assert m.average_w == pytest.approx(figure, rel=1e-9)
        assert round(m.average_w, 6) == 22.659355
    # Our integral over the same data: full coverage, within 0.1 % of the official figure.
    samples = [spl.sample_from_record(r, S) for r in records]
    ours = energy.measure_window(samples, window.begin_ns, window.end_ns)
    assert ours.outside_s == 0.0 and ours.bad_s == 0.0
    assert check(ours, "gaps").status is CheckStatus.PASS
    assert ours.average_w == pytest.approx(m.average_w, rel=1e-3)


def _detail(tmp_path: Path, lines: List[str]) -> Path:
    path = tmp_path / "mlperf_log_detail.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _mllog(key: str, value: object) -> str:
    import json

    return ":::MLLOG " + json.dumps({"key": key, "value": value, "time_ms": 1.0})


def test_detail_log_first_occurrence_wins_and_legacy_form(tmp_path: Path) -> None:
    path = _detail(tmp_path, [
        "noise", _mllog("power_begin", "11-22-2026 09:19:11.478"),
        _mllog("power_end", "11-22-2026 09:19:13.479"), _mllog("power_begin", "12-01-2026 00:00:00.000"),
        _mllog("result_query_count", 1659),
    ])
    w = loadgen_log.read_power_window(path)
    assert (w.power_begin, w.power_end, w.query_count) == (
        "11-22-2026 09:19:11.478", "11-22-2026 09:19:13.479", 1659)
    assert w.end_ns - w.begin_ns == 2001 * MS and w.duration_s == 2.001
    legacy = _detail(tmp_path, ["POWER_BEGIN: 11-22-2026 09:19:11.478",
                                "POWER_END: 11-22-2026 09:19:13.479"])
    assert loadgen_log.read_power_window(legacy).query_count is None


def test_detail_log_errors_are_named(tmp_path: Path) -> None:
    path = _detail(tmp_path, [_mllog("power_begin", "11-22-2026 09:19:11.478"), ":::MLLOG {oops"])
    with pytest.raises(FileFormatError, match=r"mlperf_log_detail.txt:2: bad :::MLLOG JSON"):
        loadgen_log.read_power_window(path)
    path = _detail(tmp_path, [_mllog("power_begin", "11-22-2026 09:19:11.478")])
    with pytest.raises(FileFormatError, match="no power_end entry"):
        loadgen_log.read_power_window(path)
    path = _detail(tmp_path, [_mllog("power_begin", "2026-11-22 09:19:11"),
                              _mllog("power_end", "11-22-2026 09:19:13.479")])
    with pytest.raises(FileFormatError, match="not a month-first"):
        loadgen_log.read_power_window(path)
