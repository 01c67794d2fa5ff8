"""Range choice from a ranging pass: MLPerf's rule, table rounding, floors, bad readings, warnings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from power import ranging, spl
from power.errors import PowerError
from power.sample import Sample, Status

ORIN = "mlperf-v3.0-orin-maxq/results/Orin_TRT_MaxQ/resnet50"


def reading(volts: float, amps: float, watts: float = 50.0, status: Status = Status.OK) -> Sample:
    return Sample(1, 10**9, watts, volts, amps, 0.9, math.nan, math.nan, status)


def test_voltage_at_least_max_and_current_at_least_margin_times_max() -> None:
    c = ranging.choose_ranges([reading(229.0, 0.3), reading(230.5, 0.45)], "WT310E")
    assert (c.max_voltage_v, c.max_current_a) == (230.5, 0.45)
    assert c.requested_voltage_v == 230.5
    assert c.requested_current_a == pytest.approx(0.495, rel=1e-12)
    assert (c.voltage_range_v, c.current_range_a) == (300.0, 0.5)
    c = ranging.choose_ranges([reading(230.5, 0.46)], "WT310E")
    assert c.current_range_a == 1.0  # 0.506 A does not fit the 0.5 A range
    c = ranging.choose_ranges([reading(120.0, 0.4)], "WT332E", crest_factor="6")
    assert (c.voltage_range_v, c.current_range_a) == (150.0, 0.5)


def test_current_floor_for_low_current_boards() -> None:
    c = ranging.choose_ranges([reading(230.0, 0.01, 2.0)], "WT310E")
    assert c.current_range_a == 0.02
    floored = ranging.choose_ranges([reading(230.0, 0.01, 2.0)], "WT310E", current_floor_a=0.05)
    assert floored.requested_current_a == 0.05 and floored.current_range_a == 0.05


def test_bad_readings_are_counted_never_fatal() -> None:
    nan = math.nan
    samples = [
        reading(230.0, 0.2),
        reading(nan, nan, nan, Status.NO_DATA),
        reading(nan, nan, nan, Status.OVERRANGE),
        reading(230.0, -0.004, -0.9),  # power-dev#253: negative readings below 0.2 A
        reading(-1.0, -1.0, -1.0),  # a PTD -1 row read as numbers
        reading(230.0, nan),
    ]
    c = ranging.choose_ranges(samples, "WT310E")
    assert (c.used, c.rejected, c.overrange) == (1, 5, 1)
    assert c.max_current_a == 0.2 and c.current_range_a == 0.5
    text = " | ".join(c.warnings)
    assert "1 overrange reading(s) in ranging: the true maximum may be higher" in text
    assert "2 negative current reading(s) ignored" in text
    assert "2 reading(s) without data ignored" in text


def test_nothing_usable_is_one_clear_error() -> None:
    with pytest.raises(PowerError, match=r"no usable voltage/current readings \(2 rejected, "
                                         r"1 overrange, 1 negative\)"):
        ranging.choose_ranges([reading(math.nan, math.nan, math.nan, Status.OVERRANGE),
                               reading(230.0, -0.1)], "WT310E")
    with pytest.raises(PowerError, match="no range table"):
        ranging.choose_ranges([reading(230.0, 0.1)], "PA1000")


def test_above_the_largest_range_and_uncertainty_warnings() -> None:
    c = ranging.choose_ranges([reading(700.0, 25.0, 15000.0)], "WT310E")
    assert (c.voltage_range_v, c.current_range_a) == (600.0, 20.0)
    assert c.warnings[:2] == ("highest voltage 700 V exceeds the largest range 600 V",
                              "current 27.5 A exceeds the largest range 20 A")
    # 10 W drawn at 0.46 A (PF ~0.1) forces the 1 A range: 0.1 % + 0.15 W / 10 W = 1.6 %.
    small = ranging.choose_ranges([reading(230.0, 0.46, 10.0), reading(230.0, 0.3, 40.0)],
                                  "WT310E")
    assert small.current_range_a == 1.0
    assert small.above_limit == 1
    assert small.worst_uncertainty == pytest.approx(0.016, rel=1e-12)
    assert small.warnings[-1] == ("1 of 2 ranging samples would be above 1.00 % uncertainty on "
                                  "300 V / 1 A (worst 1.60 %): the load is small for this range")


@pytest.mark.parametrize("scenario", ["SingleStream", "Offline"])
def test_real_orin_ranging_reproduces_the_server_commands(shared_fixtures: Path,
                                                         scenario: str) -> None:
    base = shared_fixtures / ORIN / scenario / "performance"
    records = spl.read_spl(base / "ranging/spl.txt")
    samples = [spl.sample_from_record(r, 10**9) for r in records]
    server = json.loads((base / "power/server.json").read_text())
    sent = [m["cmd"] for m in server["ptd_messages"] if m["cmd"].startswith("SR,")
            and not m["cmd"].endswith("Auto")]
    # The v3.0 power-dev server sent the raw maximum current (margin 1.0); today's uses 1.1.
    c = ranging.choose_ranges(samples, "WT333E", current_margin=1.0)
    assert sent == ["SR,V,%f" % c.requested_voltage_v, "SR,A,%f" % c.requested_current_a]
    assert (c.voltage_range_v, c.current_range_a) == (300.0, 0.5)
    assert c.rejected > 0 and c.overrange == 0  # PTD's -1 rows
    # Idle power of ~6.2 W on 300 V / 0.5 A is above 1 % (PTD logged 1.13 % on this rig).
    assert c.above_limit > 0 and 0.0125 < c.worst_uncertainty < 0.0135
    today = ranging.choose_ranges(samples, "WT333E")
    assert today.requested_current_a == pytest.approx(1.1 * c.max_current_a, rel=1e-12)
