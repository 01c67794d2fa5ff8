"""The raspberrypi profile: vcgencmd temperature, throttled bits and PMIC rails, through a vcgencmd stub."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from devices.errors import ProfileError
from devices.profiles import RailReading, RaspberryPiProfile, profile_for
from devices.profiles.raspberrypi import PmicRail, parse_pmic_read_adc, parse_throttled
from tests.devices import fakes
from tests.devices.fakes import FakeBoard


def pi(board: FakeBoard) -> RaspberryPiProfile:
    device = board.device("raspberrypi")
    profile = profile_for(device, board.shell(device))
    assert isinstance(profile, RaspberryPiProfile)
    return profile


def test_measure_temp_and_throttled(pi5: FakeBoard) -> None:
    profile = pi(pi5)
    assert profile.measure_temp_c() == 48.3
    state = profile.throttled()
    assert (state.raw, state.flags) == (0x50000, ("under_voltage_occurred", "throttled_occurred"))
    assert state.now == () and not state.ok and state.has("throttled_occurred")


@pytest.mark.parametrize("text, flags", [
    ("throttled=0x0", ()),
    ("throttled=0x1", ("under_voltage",)),
    ("throttled=0x80008", ("soft_temp_limit", "soft_temp_limit_occurred")),
    ("throttled=0xF000F", ("under_voltage", "freq_capped", "throttled", "soft_temp_limit", "under_voltage_occurred",
                           "freq_capped_occurred", "throttled_occurred", "soft_temp_limit_occurred")),
    ("throttled=0x20002", ("freq_capped", "freq_capped_occurred")),
])
def test_throttled_bits(text: str, flags: tuple) -> None:
    assert parse_throttled(text).flags == flags


def test_pmic_rails_paired_by_name(pi5: FakeBoard) -> None:
    reading = pi(pi5).pmic()
    assert len(reading.rails) == 14
    assert reading.rails["VDD_CORE"] == PmicRail("VDD_CORE", 0.861733, 6.22421)
    assert reading.rails["VDD_CORE"].power_w == pytest.approx(5.36360715593, rel=1e-12)
    # 3V3_DAC: current index 17, voltage index 20; 0V8_AON: 16 and 19. Names pair them, not indices.
    assert reading.rails["3V3_DAC"] == PmicRail("3V3_DAC", 3.31135, 0.0001221)
    assert reading.rails["0V8_AON"] == PmicRail("0V8_AON", 0.79926, 0.0040986)
    assert reading.rails["EXT5V"] == PmicRail("EXT5V", 5.09066, None)
    assert reading.rails["EXT5V"].power_w is None and reading.input_voltage_v == 5.09066
    assert math.isnan(reading.rails["BATT"].voltage_v) and reading.rails["BATT"].current_a is None
    assert reading.rails_sum_w == pytest.approx(6.8661762126, rel=1e-10)


def test_pmic_order_of_lines_does_not_matter() -> None:
    text = "  VDD_CORE_V volt(15)=0.86173300V\n garbage line\n  VDD_CORE_A current(7)=6.22421000A\n"
    assert parse_pmic_read_adc(text).rails == {"VDD_CORE": PmicRail("VDD_CORE", 0.861733, 6.22421)}
    with pytest.raises(ProfileError) as error:
        parse_pmic_read_adc("Command not registered\n")
    assert str(error.value) == ("`vcgencmd pmic_read_adc` gave no readings (Raspberry Pi 5 only): "
                                "'Command not registered'")


def test_rails_have_both_readings_and_board_power_is_refused(pi5: FakeBoard) -> None:
    profile = pi(pi5)
    rails = profile.rails()
    assert "EXT5V" not in rails and "BATT" not in rails and len(rails) == 12
    assert rails["HDMI"] == RailReading(5.08836, 0.0227106, 5.08836 * 0.0227106)
    with pytest.raises(ProfileError) as error:
        profile.board_power_w()
    assert str(error.value) == (
        "rpi5: on-board input power is unavailable on a Raspberry Pi: EXT5V has a voltage but no current, and "
        "the sum of PMIC rails leaves out USB, the fan and PMIC losses: use the wall analyzer")


def test_facts_of_a_pi(pi5: FakeBoard) -> None:
    facts = pi(pi5).facts()
    assert (facts.profile, facts.model, facts.cpu_online_count) == ("raspberrypi", "Raspberry Pi 5 Model B Rev 1.0", 4)
    assert dict(facts.governors) == {"policy0": "ondemand"}
    assert dict(facts.extra) == {"measure_temp_c": 48.3,
                                 "throttled": {"raw": "0x50000", "flags": ["under_voltage_occurred",
                                                                           "throttled_occurred"]}}


def test_vcgencmd_failure_is_one_line(tmp_path: Path) -> None:
    board = fakes.raspberry_pi5(tmp_path)
    board.write(".stub/vcgencmd_fail", "VCHI initialization failed\n")
    profile = pi(board)
    with pytest.raises(ProfileError) as error:
        profile.throttled()
    assert str(error.value) == ("rpi5: vcgencmd get_throttled failed: vcgencmd get_throttled exited 255: "
                                "VCHI initialization failed")
    extra = profile.facts().extra
    assert extra["throttled"] is None and extra["measure_temp_c"] is None
    assert extra["vcgencmd_error"] == ("rpi5: vcgencmd measure_temp failed: vcgencmd measure_temp exited 255: "
                                       "VCHI initialization failed")
