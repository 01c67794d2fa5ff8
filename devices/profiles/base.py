"""What profiles report: facts, thermal readings, power modes and rail readings (frozen, SI units)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple


@dataclass(frozen=True)
class ThermalZone:
    """One /sys/class/thermal zone: its folder name, its type, and its temperature (°C, NaN if unreadable)."""

    name: str
    type: str
    temp_c: float


@dataclass(frozen=True)
class Facts:
    """What a device is and how it is set, for run.json: read at preflight and after each pass.

    mem_total_bytes / mem_available_bytes from /proc/meminfo; governors maps cpufreq policy
    folder names to their governor; cpu_online_count counts /sys/devices/system/cpu/online;
    extra holds the profile's own facts (L4T release, power mode, throttled flags ...).
    """

    profile: str
    kernel: str
    arch: str
    hostname: str
    boot_id: str
    model: Optional[str]
    os_name: Optional[str]
    cpu_online_count: int
    governors: Mapping[str, str]
    thermal: Tuple[ThermalZone, ...]
    mem_total_bytes: Optional[int]
    mem_available_bytes: Optional[int]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict (NaN temperatures stay NaN: the JSON writer decides)."""
        data = dataclasses.asdict(self)
        data["governors"] = dict(self.governors)
        data["extra"] = dict(self.extra)
        return data


@dataclass(frozen=True)
class TempReading:
    """The hottest zone at one poll: elapsed_s since the start, its temperature (°C) and its type."""

    elapsed_s: float
    max_temp_c: float
    zone: str


@dataclass(frozen=True)
class SettleResult:
    """How a cool-down went: settled (under the limit) or not, the time waited (s) and every reading."""

    settled: bool
    max_temp_c: float
    waited_s: float
    readings: Tuple[TempReading, ...]


@dataclass(frozen=True)
class PowerMode:
    """A board power mode: the board's own id and NAME (nvpmodel.conf), and whether it is the default."""

    id: int
    name: str
    default: bool = False


@dataclass(frozen=True)
class ModeChange:
    """What set_power_mode did: from_mode -> to_mode; needs_reboot means it takes effect after a reboot.

    When needs_reboot is True the director reboots (profile.reboot()), waits for SSH, checks that
    the boot_id changed and calls verify_power_mode(to_mode.name). output is the tool's text.
    """

    needs_reboot: bool
    from_mode: PowerMode
    to_mode: PowerMode
    output: str = ""

    @property
    def changed(self) -> bool:
        """False when the board was already in the requested mode (nothing was run)."""
        return self.from_mode.id != self.to_mode.id


@dataclass(frozen=True)
class RailReading:
    """One on-board power rail: bus voltage (V), current (A) and power (W) from the same read."""

    voltage_v: float
    current_a: float
    power_w: float
