"""The simulated meter's measuring core and its power truth sources, on a manual clock."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from power.analyzer import AUTO
from power.simulators.meter import Meter, MeterError
from power.simulators.truth import Constant, CpuLoadCoupled, Point, Scripted, SplReplay

S = 1_000_000_000


def meter(clock, truth=None, noise=False, **kw) -> Meter:
    return Meter("WT310E", truth or Constant(60.0), clock, noise=noise, **kw)


def step(m: Meter, clock, seconds: float):
    clock.advance(round(seconds * S))
    return m.advance()


def test_values_change_only_at_update_boundaries_and_average_the_truth(manual_clock):
    t0 = manual_clock.now_ns()
    m = meter(manual_clock, Scripted.power_steps(t0, [(0, 60.0), (0.35, 120.0)]))
    assert step(m, manual_clock, 0.099) == []
    updates = step(m, manual_clock, 0.501)
    assert [u.t_end_ns - t0 for u in updates] == [k * S // 10 for k in range(1, 7)]
    # The step at 0.35 s falls inside the update [0.3, 0.4): half at 60 W, half at 120 W.
    assert [round(u.power_w, 9) for u in updates] == [60.0, 60.0, 60.0, 90.0, 120.0, 120.0]
    assert m.latest is updates[-1] and list(m.history) == updates


def test_update_energy_equals_truth_energy(manual_clock):
    t0 = manual_clock.now_ns()
    truth = Scripted.power_steps(t0, [(0, 10.0), (0.123, 75.0), (0.71, 33.3)])
    m = meter(manual_clock, truth)
    updates = step(m, manual_clock, 1.0)
    measured_j = sum(u.power_w * u.interval_ns / S for u in updates)
    assert measured_j == pytest.approx(truth.energy_j(t0, t0 + S), rel=1e-12)
    assert truth.energy_j(t0, t0 + S) == pytest.approx(10 * 0.123 + 75 * (0.71 - 0.123) + 33.3 * 0.29)


def test_noise_is_seeded_and_within_accuracy(manual_clock):
    readings = []
    for _ in range(2):
        clock = type(manual_clock)(manual_clock.now_ns())
        m = meter(clock, noise=True, seed=42)
        m.set_voltage_range(300)
        m.set_current_range(0.5)
        readings.append([u.power_w for u in step(m, clock, 100.0)][1:])
    assert readings[0] == readings[1]
    bound = 0.001 * 60 + 0.0005 * 300 * 0.5
    assert max(abs(p - 60.0) for p in readings[0]) <= bound
    assert len(set(readings[0])) > 900  # it really is noisy


def test_setting_a_range_validates_it_turns_auto_off_and_leaves_a_no_data_update(manual_clock):
    m = meter(manual_clock)
    m.set_current_range(AUTO)
    assert m.ranges().current_auto
    with pytest.raises(MeterError) as e:
        m.set_current_range(0.3)
    assert e.value.code == 222
    m.set_current_range(0.5)
    assert (m.ranges().current_a, m.ranges().current_auto) == (0.5, False)
    first, second = step(m, manual_clock, 0.2)
    assert first.no_data and math.isnan(first.power_w) and first.current_range_a == 0.5
    assert not second.no_data and second.power_w == pytest.approx(60.0)
    with pytest.raises(MeterError):
        m.set_update_interval(0.3)


def test_auto_range_goes_down_one_range_per_update_with_no_data_holes(manual_clock):
    m = meter(manual_clock)  # 60 W at 230 V, PF 0.9: 0.29 A, starts on 20 A
    m.set_voltage_range(300)
    m.set_current_range(AUTO)
    updates = step(m, manual_clock, 1.6)
    ranges = [u.current_range_a for u in updates]
    # 0.29 A: <= 30 % of the range and <= 125 % of the next lower range, down to 0.5 A, where it stays.
    assert ranges[:12] == [20.0, 20.0, 10.0, 10.0, 5.0, 5.0, 2.0, 2.0, 1.0, 1.0, 0.5, 0.5]
    assert [u.no_data for u in updates[:12]] == [True, False] * 6
    assert set(ranges[12:]) == {0.5} and not any(u.no_data for u in updates[12:])


def test_auto_range_up_above_130_percent(manual_clock):
    # Jumping straight to the range that holds the signal is a simulator choice (unverified on hardware).
    t0 = manual_clock.now_ns()
    m = meter(manual_clock, Scripted.power_steps(t0, [(0, 30.0), (0.5, 300.0)]))
    m.set_voltage_range(300)
    m.set_current_range(0.5)
    m.set_current_range(AUTO)
    updates = step(m, manual_clock, 1.0)
    by_end = {round((u.t_end_ns - t0) / 1e8): u for u in updates}
    # 300 W: 1.45 A on the 0.5 A range (290 %): overrange, then the range jumps to 2 A (1.45 <= 130 % of 2 A)
    assert by_end[6].overrange_i and math.isnan(by_end[6].current_a) and math.isnan(by_end[6].power_w)
    assert by_end[7].no_data and by_end[7].current_range_a == 2.0
    assert by_end[8].current_a == pytest.approx(300 / 230 / 0.9) and by_end[8].current_range_a == 2.0


def test_overrange_above_140_percent_only(manual_clock):
    m = meter(manual_clock, Scripted([(0, Point.of(230.0, 0.27))]))
    m.set_voltage_range(300)
    m.set_current_range(0.2)
    ok = step(m, manual_clock, 0.2)[-1]  # 135 %: still a reading
    assert not ok.overrange_i and ok.current_a == pytest.approx(0.27)
    m.set_voltage_range(150)  # 230 V on 150 V: 153 %
    over = step(m, manual_clock, 0.2)[-1]
    assert over.overrange_v and over.overrange_p and not over.overrange_i
    assert math.isnan(over.voltage_v) and math.isnan(over.power_w) and over.current_a == pytest.approx(0.27)


def test_small_values_read_zero_and_power_factor_errors(manual_clock):
    m = meter(manual_clock, Constant(10.0, power_factor=1.0))  # 43 mA on the 20 A range: 0.2 %
    u = step(m, manual_clock, 0.1)[-1]
    assert u.current_a == 0.0 and u.apparent_va == 0.0 and math.isnan(u.power_factor)
    assert u.power_w == pytest.approx(10.0) and math.isnan(u.freq_i_hz) and u.freq_u_hz == 50.0


def test_wt310e_milliamp_range_protection_switches_to_1a_auto(manual_clock):
    m = meter(manual_clock)
    m.set_current_range(0.1)
    assert not m.ranges().current_auto
    updates = step(m, manual_clock, 0.6)
    assert [u.current_range_a for u in updates] == [0.1, 0.1, 1.0, 1.0, 0.5, 0.5]
    settling, over, hole, on_1a = updates[:4]
    assert settling.no_data and over.overrange_i and not over.no_data and math.isnan(over.current_a)
    assert hole.no_data and hole.current_auto and m.ranges().current_auto
    assert on_1a.current_a == pytest.approx(0.2899, rel=1e-3)  # then auto ranging continues down


def test_integration_state_machine_and_error_codes(manual_clock):
    m = meter(manual_clock)
    m.set_voltage_range(300)
    m.set_current_range(0.5)
    step(m, manual_clock, 0.25)  # mid-update
    with pytest.raises(MeterError) as e:
        m.integration_stop()
    assert e.value.code == 844
    m.integration_start()
    with pytest.raises(MeterError) as e:
        m.integration_start()
    assert e.value.code == 842
    with pytest.raises(MeterError) as e:
        m.integration_reset()
    assert e.value.code == 845
    with pytest.raises(MeterError) as e:
        m.set_current_range(1.0)
    assert e.value.code == 813
    step(m, manual_clock, 2.0)
    m.integration_stop()
    step(m, manual_clock, 0.2)
    g = m.integration
    assert g.state == "STOP" and g.time_s == pytest.approx(2.0)
    assert g.wh == pytest.approx(60.0 * 2.0 / 3600) and g.whp == g.wh and g.whm == 0.0
    with pytest.raises(MeterError) as e:
        m.set_update_interval(1.0)
    assert e.value.code == 813
    m.integration_reset()
    assert m.integration.state == "RESET" and m.integration.wh == 0.0


def test_integration_timer_times_up(manual_clock):
    m = meter(manual_clock)
    m.set_integration_timer(0, 0, 1)
    m.integration_start()
    step(m, manual_clock, 3.0)
    g = m.integration
    assert g.state == "TIMEUP" and g.time_s == pytest.approx(1.0) and g.wh == pytest.approx(60.0 / 3600)
    with pytest.raises(MeterError) as e:
        m.integration_start()
    assert e.value.code == 842


def test_spl_replay_follows_the_recorded_watts(shared_fixtures: Path, manual_clock):
    spl = next(shared_fixtures.rglob("run_1/spl.txt"))
    rows = [line.split(",") for line in spl.read_text().splitlines() if line.startswith("Time,")]
    t0 = manual_clock.now_ns()
    truth = SplReplay(spl, t0, loop=False)
    assert truth.rows == len(rows)
    watts = [float(r[3]) for r in rows]
    assert truth.at(t0).power_w == watts[0] and truth.at(t0 + 2 * S + S // 2).power_w == pytest.approx(watts[2], abs=0.2)
    assert truth.at(t0).voltage_v == float(rows[0][5]) and truth.at(t0).current_a == float(rows[0][7])
    # Rows are ~1 s apart: ten seconds of replay carry about ten rows' energy.
    assert truth.energy_j(t0, t0 + 10 * S) == pytest.approx(sum(watts[:10]), rel=0.02)


def test_spl_replay_rejects_a_broken_file():
    from power.errors import FileFormatError

    with pytest.raises(FileFormatError, match="^<spl>:1: bad Time"):
        SplReplay(["Time,13-45-2023 99:00:00.000,Watts,1,Volts,2,Amps,3,PF,1"], 0)


def test_cpu_coupled_truth_records_what_it_saw():
    loads = iter([0.0, 1.0, 0.5])
    truth = CpuLoadCoupled(idle_w=5.0, load_w=10.0, utilisation=lambda: next(loads), start_ns=0)
    assert truth.mean(0, S).power_w == pytest.approx(5.0)
    assert truth.mean(S, 2 * S).power_w == pytest.approx(15.0)
    assert truth.mean(2 * S, 3 * S).power_w == pytest.approx(10.0)
    assert truth.energy_j(0, 3 * S) == pytest.approx(30.0)
