"""Board profiles (linux, jetson, raspberrypi) and profile_for(), which picks one for a device.

A profile reaches its device only through a Shell (`run(argv, timeout_s, sudo, stdin)` and
`read_text(path)`), so the same code runs over SSH, locally, and on the fake trees of the tests.
Every sysfs/proc/etc path is read under the device's `fs_root`.

linux (every board)
    facts() (kernel, arch, hostname, boot_id, model, OS, CPUs online, cpufreq governors, thermal
    zones, memory), boot_id(), temperatures_c(), settle_until(max_temp_c, timeout_s, poll_s),
    set_governor(name) / restore_governors() (root), reboot() (root).

jetson
    Power modes by NAME from /etc/nvpmodel.conf (ids differ between modules): set_power_mode(name)
    runs `nvpmodel -m <id>` and declines nvpmodel's reboot prompt; when the mode needs a reboot it
    is recorded in /var/lib/nvpmodel/status for the next boot and the result says needs_reboot: the
    director then reboots, waits for SSH, checks that boot_id changed and calls verify_power_mode().
    set_max_clocks(True/False): `jetson_clocks --store` then `jetson_clocks`; `--restore` after;
    clocks_show() parses `--show`. rails(): INA3221 rails from sysfs (V, A, W), tegrastats as a
    fallback. board_power_w() is VDD_IN (POM_5V_IN on JetPack 4), the module's input; it is never
    a sum of rails, so boards without a total rail (AGX Orin) raise instead of guessing.
    Needs `sudo = "passwordless"` (or root) for nvpmodel -m, jetson_clocks and reboot.

raspberrypi
    measure_temp_c(), throttled() (under-voltage, frequency capping, throttling, soft temperature
    limit; now and since boot), pmic() (Pi 5 `vcgencmd pmic_read_adc`, rails paired by name).
    vcgencmd needs the `video` group. The PMIC rails are not the board's input power (no current
    on the 5 V input; USB, fan and PMIC losses are outside them): board_power_w() raises.
"""

from __future__ import annotations

from typing import Dict, Type

from devices.errors import ProfileError
from devices.inventory import Device
from devices.profiles.base import (
    Facts, ModeChange, PowerMode, RailReading, SettleResult, TempReading, ThermalZone,
)
from devices.profiles.jetson import JetsonProfile
from devices.profiles.linux import LinuxProfile
from devices.profiles.raspberrypi import RaspberryPiProfile
from devices.shell import Shell

PROFILES: Dict[str, Type[LinuxProfile]] = {
    LinuxProfile.name: LinuxProfile,
    JetsonProfile.name: JetsonProfile,
    RaspberryPiProfile.name: RaspberryPiProfile,
}
"""Profile classes by the name used in devices.toml."""

__all__ = [
    "PROFILES", "Facts", "JetsonProfile", "LinuxProfile", "ModeChange", "PowerMode", "RailReading",
    "RaspberryPiProfile", "SettleResult", "TempReading", "ThermalZone", "detect_profile", "profile_for",
]


def profile_for(device: Device, shell: Shell) -> LinuxProfile:
    """The profile named by device.profile, bound to that device and the shell that reaches it."""
    try:
        cls = PROFILES[device.profile]
    except KeyError:
        raise ProfileError(f"{device.name}: unknown profile {device.profile!r} "
                           f"(known: {', '.join(sorted(PROFILES))})") from None
    return cls(device, shell)


def detect_profile(device: Device, shell: Shell) -> str:
    """Guess the profile from the device itself: nv_tegra_release -> jetson, a Pi model -> raspberrypi."""
    probe = LinuxProfile(device, shell)
    if probe.read("/etc/nv_tegra_release") is not None:
        return JetsonProfile.name
    model = probe.read("/proc/device-tree/model") or ""
    if model.startswith("Raspberry Pi"):
        return RaspberryPiProfile.name
    return LinuxProfile.name
