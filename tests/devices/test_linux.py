"""The linux profile on a fake tree through a real shell: facts, thermal, governors, settle, reboot."""

from __future__ import annotations

import math
import platform
from pathlib import Path
from typing import List

import pytest

from devices.errors import ProfileError
from devices.profiles import (
    PROFILES, JetsonProfile, LinuxProfile, RaspberryPiProfile, TempReading, ThermalZone, detect_profile,
    profile_for,
)
from tests.devices import fakes
from tests.devices.fakes import FakeBoard

CPUFREQ = "sys/devices/system/cpu/cpufreq"


def linux(board: FakeBoard, **changes: object) -> LinuxProfile:
    device = board.device("linux", **changes)
    return profile_for(device, board.shell(device))


def test_facts(linux_board: FakeBoard) -> None:
    facts = linux(linux_board).facts()
    assert facts.profile == "linux"
    assert (facts.kernel, facts.hostname, facts.boot_id) == ("5.15.148-tegra", "board-host", fakes.BOOT_ID)
    assert facts.arch == platform.machine()
    assert (facts.model, facts.os_name) == (None, "Ubuntu 22.04.5 LTS")
    assert facts.cpu_online_count == 6
    assert dict(facts.governors) == {"policy0": "schedutil", "policy4": "schedutil"}
    assert facts.thermal == (ThermalZone("thermal_zone0", "cpu-thermal", 47.25),
                             ThermalZone("thermal_zone1", "gpu-thermal", 45.5))
    assert (facts.mem_total_bytes, facts.mem_available_bytes) == (7990892 * 1024, 6623480 * 1024)
    assert facts.to_dict()["thermal"][0] == {"name": "thermal_zone0", "type": "cpu-thermal", "temp_c": 47.25}


def test_cpu_online_ranges(tmp_path: Path) -> None:
    board = fakes.linux_board(tmp_path, online="0-3,6,8-9")
    assert linux(board).facts().cpu_online_count == 7


def test_temperatures_repeat_types_and_skip_unreadable(tmp_path: Path) -> None:
    board = fakes.linux_board(tmp_path, zones=[("cpu-thermal", 51000), ("cpu-thermal", 52500), ("tj", None),
                                               ("soc", -1500)])
    profile = linux(board)
    assert profile.temperatures_c() == {"cpu-thermal": 51.0, "cpu-thermal#1": 52.5, "soc": -1.5}
    assert math.isnan(profile.thermal_zones()[2].temp_c)


def test_set_and_restore_governor_through_sudo(linux_board: FakeBoard) -> None:
    profile = linux(linux_board)
    assert profile.set_governor("performance") == {"policy0": "schedutil", "policy4": "schedutil"}
    assert profile.governors() == {"policy0": "performance", "policy4": "performance"}
    profile.set_governor("powersave")
    profile.restore_governors()
    assert linux_board.read(f"{CPUFREQ}/policy4/scaling_governor") == "schedutil\n"
    tees = fakes.stub_lines(linux_board, "sudo tee")
    assert tees[0] == f"sudo tee {linux_board.root}/{CPUFREQ}/policy0/scaling_governor"
    assert len(tees) == 6


def test_unknown_governor_lists_the_available(linux_board: FakeBoard) -> None:
    with pytest.raises(ProfileError) as error:
        linux(linux_board).set_governor("turbo")
    assert str(error.value) == ("board: governor 'turbo' not available on policy0 (available: conservative, "
                                "ondemand, userspace, powersave, performance, schedutil)")
    assert linux_board.read(f"{CPUFREQ}/policy0/scaling_governor") == "schedutil\n"


def test_sudo_never_runs_commands_directly(linux_board: FakeBoard) -> None:
    linux(linux_board, sudo="never").set_governor("performance")
    assert fakes.stub_lines(linux_board, "sudo") == []
    assert linux_board.read(f"{CPUFREQ}/policy0/scaling_governor") == "performance\n"


def test_failed_write_names_command_and_sudo_policy(linux_board: FakeBoard) -> None:
    (linux_board.root / CPUFREQ / "policy0" / "scaling_governor").unlink()
    (linux_board.root / CPUFREQ / "policy0" / "scaling_governor").mkdir()  # tee cannot write a folder
    profile = linux(linux_board, sudo="never")
    with pytest.raises(ProfileError) as error:
        profile._write_governors({"policy0": "performance"})
    path = f"{linux_board.root}/{CPUFREQ}/policy0/scaling_governor"
    assert str(error.value) == (f"board: setting policy0 governor failed: tee {path} exited 1: tee: {path}: "
                                'Is a directory (device sudo = "never": set sudo = "passwordless" in '
                                "devices.toml if this needs root)")


def test_settle_until_cool(linux_board: FakeBoard) -> None:
    profile = linux(linux_board)
    temps = iter([60000, 55000, 49000])
    now = [100.0]
    slept: List[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds
        linux_board.write("sys/class/thermal/thermal_zone1/temp", f"{next(temps)}\n")

    linux_board.write("sys/class/thermal/thermal_zone1/temp", "65000\n")
    result = profile.settle_until(50.0, timeout_s=60.0, poll_s=5.0, sleep=sleep, clock=lambda: now[0])
    assert result.settled and result.max_temp_c == 49.0 and result.waited_s == 15.0
    assert result.readings == (TempReading(0.0, 65.0, "gpu-thermal"), TempReading(5.0, 60.0, "gpu-thermal"),
                               TempReading(10.0, 55.0, "gpu-thermal"), TempReading(15.0, 49.0, "gpu-thermal"))
    assert slept == [5.0, 5.0, 5.0]


def test_settle_until_gives_up_at_timeout(linux_board: FakeBoard) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    result = linux(linux_board).settle_until(40.0, timeout_s=10.0, poll_s=4.0, sleep=sleep, clock=lambda: now[0])
    assert not result.settled
    assert [r.elapsed_s for r in result.readings] == [0.0, 4.0, 8.0]
    assert (result.max_temp_c, result.waited_s) == (47.25, 8.0)


def test_settle_needs_a_thermal_zone(tmp_path: Path) -> None:
    board = fakes.linux_board(tmp_path, zones=[])
    with pytest.raises(ProfileError, match=r"^board: no readable thermal zone under .*/sys/class/thermal$"):
        linux(board).settle_until(50.0, timeout_s=1.0, poll_s=0.1)


def test_plain_linux_has_no_power_modes_or_board_power(linux_board: FakeBoard) -> None:
    profile = linux(linux_board)
    assert profile.power_modes() == [] and profile.current_power_mode() is None and profile.rails() == {}
    with pytest.raises(ProfileError) as error:
        profile.set_power_mode("MAXN")
    assert str(error.value) == "board: profile 'linux' has no power modes (asked for 'MAXN')"
    with pytest.raises(ProfileError) as error:
        profile.board_power_w()
    assert str(error.value) == "board: profile 'linux' has no on-board input power sensor"


def test_reboot_changes_boot_id(linux_board: FakeBoard) -> None:
    profile = linux(linux_board)
    assert profile.reboot() == fakes.BOOT_ID
    assert profile.boot_id() != fakes.BOOT_ID
    assert fakes.stub_lines(linux_board, "sudo reboot") == ["sudo reboot"]


def test_missing_boot_id_is_a_profile_error(linux_board: FakeBoard) -> None:
    (linux_board.root / "proc/sys/kernel/random/boot_id").unlink()
    with pytest.raises(ProfileError) as error:
        linux(linux_board).boot_id()
    assert str(error.value) == f"board: cannot read boot_id ({linux_board.root}/proc/sys/kernel/random/boot_id)"


def test_profile_for_and_detect(tmp_path: Path, linux_board: FakeBoard) -> None:
    assert sorted(PROFILES) == ["jetson", "linux", "raspberrypi"]
    nano, pi = fakes.orin_nano(tmp_path), fakes.raspberry_pi5(tmp_path)
    assert type(profile_for(nano.device("jetson"), nano.shell())) is JetsonProfile
    assert type(profile_for(pi.device("raspberrypi"), pi.shell())) is RaspberryPiProfile
    assert [detect_profile(b.device(), b.shell()) for b in (linux_board, nano, pi)] == [
        "linux", "jetson", "raspberrypi"]
    with pytest.raises(ProfileError) as error:
        profile_for(linux_board.device("bsd"), linux_board.shell())
    assert str(error.value) == "board: unknown profile 'bsd' (known: jetson, linux, raspberrypi)"
