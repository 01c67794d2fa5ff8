"""Per-sample accuracy model and the window combination (fully correlated, summed linearly)."""

from __future__ import annotations

import math

import pytest

from power.errors import PowerError
from power.sample import Sample, Status
from power.uncertainty import accuracy_for, combine_window, sample_uncertainty_w

REL = 1e-12


def test_reference_worked_example_10_w_on_half_and_one_amp_ranges() -> None:
    wt = accuracy_for("WT310E")
    # 0.1 % of 10 W + 0.05 % of 300 V x 0.5 A = 0.01 + 0.075 W -> 0.85 %
    assert wt.uncertainty_w(10.0, 300.0, 0.5) == pytest.approx(0.085, rel=REL)
    assert wt.uncertainty_w(10.0, 300.0, 0.5) / 10.0 == pytest.approx(0.0085, rel=REL)
    # Same load on the 1 A range: 0.01 + 0.15 W -> 1.6 %, above MLPerf's 1 % limit.
    assert wt.uncertainty_w(10.0, 300.0, 1.0) / 10.0 == pytest.approx(0.016, rel=REL)
    # Older WT310: 0.1 % range term.
    assert accuracy_for("wt310").uncertainty_w(10.0, 300.0, 0.5) == pytest.approx(0.16, rel=REL)
    with pytest.raises(PowerError, match="no accuracy specification"):
        accuracy_for("HIOKI3334")


def test_window_of_constant_10_w_keeps_the_per_sample_figure() -> None:
    parts = [(10.0, 0.085, 1.0)] * 600
    w = combine_window(parts)
    assert w.relative == pytest.approx(0.0085, rel=1e-9)
    assert w.energy_uncertainty_j == pytest.approx(51.0, rel=1e-9)
    assert w.average_uncertainty_w == pytest.approx(0.085, rel=1e-9)
    assert w.samples_above_limit == 0 and w.known_s == 600.0 and w.unknown_s == 0.0
    # Not the root sum of squares, which would claim ~sqrt(600) times less.
    assert w.energy_uncertainty_j > 10 * math.sqrt(600 * 0.085 ** 2)


def test_window_mixes_loads_linearly_weighted_by_time() -> None:
    # 10 W for 1 s (u 0.085 W) and 20 W for 3 s (u 0.095 W): U = 0.085 + 0.285 = 0.37 J of 70 J.
    w = combine_window([(10.0, 0.085, 1.0), (20.0, 0.095, 3.0)])
    assert w.energy_uncertainty_j == pytest.approx(0.37, rel=REL)
    assert w.relative == pytest.approx(0.37 / 70.0, rel=REL)
    assert w.average_uncertainty_w == pytest.approx(0.37 / 4.0, rel=REL)
    assert w.max_sample_relative == pytest.approx(0.0085, rel=REL)


def test_unknown_parts_are_counted_not_guessed_and_limits_counted() -> None:
    w = combine_window([(10.0, 0.085, 1.0), (10.0, math.nan, 2.0), (5.0, 0.08, 1.0),
                        (math.nan, 0.1, 1.0), (3.0, 0.1, 0.0)])
    assert w.unknown_s == 3.0 and w.known_s == 2.0
    assert w.samples_above_limit == 1  # 0.08 / 5 = 1.6 %
    assert w.max_sample_relative == pytest.approx(0.016, rel=REL)
    empty = combine_window([])
    assert math.isnan(empty.relative) and math.isnan(empty.average_uncertainty_w)


def test_sample_uncertainty_prefers_the_sample_then_the_model_on_fixed_ranges() -> None:
    wt = accuracy_for("WT310E")
    fixed = Sample(1, 1, 10.0, 230.0, 0.05, 0.87, 300.0, 0.5)
    assert sample_uncertainty_w(fixed, wt) == pytest.approx(0.085, rel=REL)
    assert math.isnan(sample_uncertainty_w(fixed, None))
    own = Sample(1, 1, 10.0, 230.0, 0.05, 0.87, 300.0, 0.5, Status.OK, 0.2)
    assert sample_uncertainty_w(own, wt) == 0.2
    auto = Sample(1, 1, 10.0, 230.0, 0.05, 0.87, 300.0, 0.5, current_auto=True)
    assert math.isnan(sample_uncertainty_w(auto, wt))
    flagged = Sample(1, 1, math.nan, 230.0, 0.05, 0.87, 300.0, 0.5, Status.OVERRANGE)
    assert math.isnan(sample_uncertainty_w(flagged, wt))
