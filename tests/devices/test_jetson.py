"""The jetson profile on fake Orin trees with stub nvpmodel/jetson_clocks/tegrastats/sudo/reboot."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from devices.errors import ProfileError
from devices.profiles import JetsonProfile, ModeChange, PowerMode, RailReading, profile_for
from tests.devices import fakes
from tests.devices.fakes import FakeBoard, Hwmon

MAXN_SUPER = PowerMode(2, "MAXN_SUPER", True)
W15 = PowerMode(0, "15W")
W7 = PowerMode(3, "7W")


def jetson(board: FakeBoard, **changes: object) -> JetsonProfile:
    device = board.device("jetson", **changes)
    profile = profile_for(device, board.shell(device))
    assert isinstance(profile, JetsonProfile)
    return profile


# ----- power modes -----


def test_modes_by_name_from_nvpmodel_conf(orin_nano: FakeBoard) -> None:
    profile = jetson(orin_nano)
    assert profile.power_modes() == [W15, PowerMode(1, "25W"), MAXN_SUPER, W7]
    assert profile.current_power_mode() == MAXN_SUPER


def test_set_mode_without_reboot(orin_nano: FakeBoard) -> None:
    profile = jetson(orin_nano)
    change = profile.set_power_mode("15W")
    assert change == ModeChange(False, MAXN_SUPER, W15, "")
    assert profile.current_power_mode() == W15
    assert fakes.stub_lines(orin_nano, "sudo nvpmodel -m") == ["sudo nvpmodel -m 0"]
    assert orin_nano.read("var/lib/nvpmodel/status") == "pmode:0000 fmode:quiet\n"


def test_our_mode_names_and_any_case(orin_nano: FakeBoard) -> None:
    profile = jetson(orin_nano, power_modes={"fast": "MAXN_SUPER", "mid": "25W"})
    assert profile.set_power_mode("mid").to_mode == PowerMode(1, "25W")
    assert profile.resolve_mode("maxn_super") == MAXN_SUPER
    assert profile.verify_power_mode("mid") == PowerMode(1, "25W")


def test_same_mode_runs_nothing(orin_nano: FakeBoard) -> None:
    change = jetson(orin_nano).set_power_mode("MAXN_SUPER")
    assert not change.changed and not change.needs_reboot
    assert fakes.stub_lines(orin_nano, "nvpmodel -m") == []


def test_mode_that_needs_a_reboot(orin_nano: FakeBoard) -> None:
    profile = jetson(orin_nano)
    change = profile.set_power_mode("7W")
    assert (change.needs_reboot, change.from_mode, change.to_mode) == (True, MAXN_SUPER, W7)
    assert "Reboot required for changing to this power mode: 3" in change.output
    # nvpmodel's prompt was declined, so the board is still in its old mode until the reboot.
    with pytest.raises(ProfileError) as error:
        profile.verify_power_mode("7W")
    assert str(error.value) == "orin-nano: power mode is MAXN_SUPER (id 2), expected 7W (id 3)"
    assert orin_nano.read("var/lib/nvpmodel/status") == "pmode:0003 fmode:quiet\n"
    before = profile.reboot()
    assert before == fakes.BOOT_ID
    # The director reconnects after a reboot: a fresh profile over a fresh shell.
    after = jetson(orin_nano)
    assert after.boot_id() != before
    assert after.verify_power_mode("7W") == W7
    assert [c for c in orin_nano.calls() if c.startswith("sudo") and "-q" not in c] == [
        "sudo nvpmodel -m 3",
        f"sudo tee {orin_nano.root}/var/lib/nvpmodel/status",
        "sudo reboot",
    ]


def test_unknown_mode_lists_modes_and_aliases(orin_nano: FakeBoard) -> None:
    with pytest.raises(ProfileError) as error:
        jetson(orin_nano, power_modes={"low": "7W"}).set_power_mode("MAXN")
    assert str(error.value) == "orin-nano: unknown power mode 'MAXN' (board modes: 15W, 25W, MAXN_SUPER, 7W, low (7W))"


def test_nvpmodel_error_is_reported(orin_nano: FakeBoard) -> None:
    # nvpmodel may print an error and still exit 0: the error line decides.
    orin_nano.stub("nvpmodel", 'if [ "$1" = -q ]; then printf "NV Power Mode: MAXN_SUPER\\n2\\n"; exit 0; fi\n'
                               'echo "NVPM ERROR: Error opening /sys/devices/gpu.0/railgate_enable"\n')
    with pytest.raises(ProfileError) as error:
        jetson(orin_nano).set_power_mode("15W")
    assert str(error.value) == ("orin-nano: setting power mode 15W failed: nvpmodel -m 0 exited 0: "
                                "NVPM ERROR: Error opening /sys/devices/gpu.0/railgate_enable")


def test_no_sudo_hint_when_nvpmodel_fails(orin_nano: FakeBoard) -> None:
    orin_nano.stub("nvpmodel", 'echo "NVPM ERROR: failed to open /var/lib/nvpmodel/status" >&2; exit 1\n')
    with pytest.raises(ProfileError) as error:
        jetson(orin_nano, sudo="never").current_power_mode()
    assert str(error.value) == ('orin-nano: querying the power mode failed: nvpmodel -q exited 1: NVPM ERROR: '
                                'failed to open /var/lib/nvpmodel/status (device sudo = "never": set sudo = '
                                '"passwordless" in devices.toml if this needs root)')


# ----- jetson_clocks -----


def test_jetson_clocks_store_on_restore(orin_nano: FakeBoard) -> None:
    profile = jetson(orin_nano)
    store = f"{orin_nano.root}/var/lib/edgepower/jetson_clocks.conf"
    assert profile.clocks_store_path == store
    assert not profile.clocks_show().clocks_pinned
    on = profile.set_max_clocks(True)
    assert on.clocks_pinned
    assert on.units["cpu5"]["MinFreq"] == on.units["cpu5"]["MaxFreq"] == "1510400"
    assert orin_nano.read("var/lib/edgepower/jetson_clocks.conf") == "off\n"  # the state before
    profile.set_max_clocks(True)  # a second enable must not overwrite the stored settings
    off = profile.set_max_clocks(False)
    assert not off.clocks_pinned and off.units["GPU"]["MinFreq"] == "306000000"
    assert [c for c in fakes.stub_lines(orin_nano, "sudo jetson_clocks") if c != "sudo jetson_clocks --show"] == [
        f"sudo jetson_clocks --store {store}", "sudo jetson_clocks", "sudo jetson_clocks",
        f"sudo jetson_clocks --restore {store}",
    ]


def test_jetson_clocks_show_is_parsed(orin_nano: FakeBoard) -> None:
    show = jetson(orin_nano).clocks_show()
    assert (show.soc_family, show.machine, show.online_cpus, show.power_mode) == (
        "tegra234", "NVIDIA Jetson Orin Nano Developer Kit", "0-5", "MAXN_SUPER")
    assert dict(show.units["cpu0"]) == {"Online": "1", "Governor": "schedutil", "MinFreq": "729600",
                                        "MaxFreq": "1510400", "CurrentFreq": "729600", "WFI": "1", "cpuidle": "1"}
    assert dict(show.units["EMC"]) == {"MinFreq": "204000000", "MaxFreq": "2133000000",
                                       "CurrentFreq": "2133000000", "FreqOverride": "0"}
    assert dict(show.units["FAN"]) == {"control": "active", "hwmon2_pwm1": "57"}
    assert sorted(show.units) == ["EMC", "FAN", "GPU", "cpu0", "cpu1", "cpu2", "cpu3", "cpu4", "cpu5"]
    record = show.to_dict()
    assert (record["power_mode"], record["clocks_pinned"], record["units"]["GPU"]["MaxFreq"]) == (
        "MAXN_SUPER", False, "624750000")


def test_restore_without_store_fails_clearly(orin_nano: FakeBoard) -> None:
    with pytest.raises(ProfileError) as error:
        jetson(orin_nano).set_max_clocks(False)
    store = f"{orin_nano.root}/var/lib/edgepower/jetson_clocks.conf"
    assert str(error.value) == (f"orin-nano: restoring clocks failed: jetson_clocks --restore {store} exited 1: "
                                f"Error: {store} file not found")


# ----- INA3221 rails -----


def test_orin_nano_rails_and_vdd_in_total(orin_nano: FakeBoard) -> None:
    profile = jetson(orin_nano)
    assert profile.rails() == {
        "VDD_IN": RailReading(5.072, 1.01, 5.12272),
        "VDD_CPU_GPU_CV": RailReading(5.056, 0.125, 0.632),
        "VDD_SOC": RailReading(5.064, 0.275, 1.3926),
    }
    assert profile.board_power_w() == 5.12272
    assert profile.total_rail() == "VDD_IN"
    orin_nano.write("sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3/curr1_input", "2000\n")
    assert profile.board_power_w() == 10.144  # read again, not cached


def test_agx_orin_has_no_total_and_never_sums(agx_orin: FakeBoard) -> None:
    profile = jetson(agx_orin)
    rails = profile.rails()
    assert rails == {
        "VDD_GPU_SOC": RailReading(19.968, 0.12, 2.39616),
        "VDD_CPU_CV": RailReading(19.968, 0.04, 0.79872),
        "VIN_SYS_5V0": RailReading(5.0, 0.704, 3.52),
        "VDDQ_VDD2_1V8AO": RailReading(5.0, 0.06, 0.3),
    }
    assert profile.total_rail() is None
    with pytest.raises(ProfileError) as error:
        profile.board_power_w()
    assert str(error.value) == (
        "agx-orin: on-board total power is unavailable: no VDD_IN or POM_5V_IN rail (rails: VDDQ_VDD2_1V8AO, "
        "VDD_CPU_CV, VDD_GPU_SOC, VIN_SYS_5V0); a sum of rails would leave out carrier-board and conversion "
        "losses, so none is given: use the wall analyzer")


def test_unreadable_rail_is_named(orin_nano: FakeBoard) -> None:
    profile = jetson(orin_nano)
    profile.rail_channels()
    path = orin_nano.root / "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3/curr2_input"
    path.unlink()
    with pytest.raises(ProfileError) as error:
        profile.rails()
    assert str(error.value) == (f"orin-nano: cannot read rail VDD_CPU_GPU_CV ({path}); it may need root or a "
                                "read permission")


def test_same_label_on_two_monitors_is_told_apart(tmp_path: Path) -> None:
    monitors = [Hwmon("1-0040", "hwmon1", {1: ("VDD_IN", 5000, 1000)}),
                Hwmon("1-0041", "hwmon2", {1: ("VDD_IN", 5000, 2000)})]
    board = fakes.jetson_board(tmp_path, "twin", "Jetson", monitors)
    assert sorted(jetson(board).rails()) == ["VDD_IN@1-0040", "VDD_IN@1-0041"]


def test_jetpack4_iio_layout(tmp_path: Path) -> None:
    board = fakes.jetson_board(tmp_path, "nano", "NVIDIA Jetson Nano Developer Kit", [])
    folder = "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    for index, (name, millivolts, milliamps) in enumerate([("POM_5V_IN", 5008, 624), ("POM_5V_GPU", 5000, 40),
                                                           ("POM_5V_CPU", 5000, 160)]):
        board.write(f"{folder}/rail_name_{index}", name + "\n")
        board.write(f"{folder}/in_voltage{index}_input", f"{millivolts}\n")
        board.write(f"{folder}/in_current{index}_input", f"{milliamps}\n")
    profile = jetson(board)
    assert profile.rails()["POM_5V_IN"] == RailReading(5.008, 0.624, 3.124992)
    assert profile.board_power_w() == 3.124992


def test_tegrastats_fallback_without_sysfs(tmp_path: Path) -> None:
    board = fakes.jetson_board(tmp_path, "no-sysfs", "NVIDIA Jetson Orin NX", [])
    profile = jetson(board)
    rails = profile.rails()
    assert sorted(rails) == ["VDD_CPU_GPU_CV", "VDD_IN", "VDD_SOC"]
    assert rails["VDD_IN"].power_w == 5.012 and math.isnan(rails["VDD_IN"].voltage_v)
    assert profile.board_power_w() == 5.012
    assert fakes.stub_lines(board, "tegrastats") == ["tegrastats --interval 200", "tegrastats --interval 200"]


def test_facts_of_a_jetson(orin_nano: FakeBoard) -> None:
    facts = jetson(orin_nano).facts()
    assert facts.profile == "jetson"
    assert facts.model == "NVIDIA Jetson Orin Nano Developer Kit"
    assert dict(facts.extra) == {
        "l4t_release": "36.4.3",
        "nv_tegra_release": "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, "
                            "DATE: Wed Jan  8 01:49:37 UTC 2025",
        "power_mode": {"id": 2, "name": "MAXN_SUPER"},
        "power_mode_default": "MAXN_SUPER",
        "rails": ["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"],
        "total_rail": "VDD_IN",
    }
