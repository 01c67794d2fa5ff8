"""The plain Linux profile: facts, cpufreq governors, thermal zones, boot_id, reboot; the base of the others."""

from __future__ import annotations

import logging
import math
import re
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence

from devices.errors import ProfileError, UnknownPowerMode
from devices.inventory import Device
from devices.profiles.base import Facts, ModeChange, PowerMode, RailReading, SettleResult, TempReading, ThermalZone
from devices.shell import CommandResult, Shell

log = logging.getLogger(__name__)

CPUFREQ = "/sys/devices/system/cpu/cpufreq"
THERMAL = "/sys/class/thermal"
BOOT_ID = "/proc/sys/kernel/random/boot_id"


class LinuxProfile:
    """Any Linux board: reads sysfs/proc under the device's fs_root and runs commands through a Shell."""

    name = "linux"

    def __init__(self, device: Device, shell: Shell) -> None:
        self.device = device
        self.shell = shell
        self._saved_governors: Optional[Dict[str, str]] = None

    # ----- reading the device -----

    def path(self, absolute: str) -> str:
        """A device path under fs_root."""
        return self.device.fs_path(absolute)

    def read(self, absolute: str) -> Optional[str]:
        """A file's text under fs_root, stripped of whitespace and trailing NULs; None when unreadable."""
        text = self.shell.read_text(self.path(absolute))
        return None if text is None else text.strip().strip("\x00").strip()

    def read_required(self, absolute: str, what: str) -> str:
        """Like read(), but a missing file is a ProfileError naming WHAT and the path."""
        text = self.read(absolute)
        if text is None:
            raise ProfileError(f"{self.device.name}: cannot read {what} ({self.path(absolute)})")
        return text

    def list_dir(self, absolute: str) -> List[str]:
        """Entry names of a folder under fs_root (sorted; empty when it does not exist)."""
        result = self.shell.run(["ls", "-1", self.path(absolute)], timeout_s=15.0)
        if not result.ok:
            return []
        return sorted(line for line in result.stdout.splitlines() if line)

    def run_checked(
        self, argv: Sequence[str], what: str, sudo: bool = False, stdin: Optional[str] = None,
        timeout_s: float = 60.0,
    ) -> CommandResult:
        """Run ARGV (with `sudo -n` when asked and the device allows it); ProfileError unless it exits 0."""
        result = self.shell.run(list(argv), timeout_s=timeout_s, sudo=sudo and self.device.may_sudo, stdin=stdin)
        if not result.ok:
            raise ProfileError(self._failure(argv, what, result, sudo))
        return result

    def _failure(self, argv: Sequence[str], what: str, result: CommandResult, sudo: bool) -> str:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
        hint = ""
        if sudo and not self.device.may_sudo:
            hint = ' (device sudo = "never": set sudo = "passwordless" in devices.toml if this needs root)'
        return f"{self.device.name}: {what} failed: {' '.join(argv)} exited {result.exit_code}: {last[0]}{hint}"

    # ----- facts -----

    def facts(self) -> Facts:
        """Kernel, arch, hostname, boot_id, model, OS, CPUs, governors, thermal zones, memory."""
        meminfo = _meminfo(self.read("/proc/meminfo") or "")
        arch = self.shell.run(["uname", "-m"], timeout_s=15.0)
        return Facts(
            profile=self.name,
            kernel=self.read("/proc/sys/kernel/osrelease") or "",
            arch=arch.stdout.strip() if arch.ok else "",
            hostname=self.read("/proc/sys/kernel/hostname") or "",
            boot_id=self.boot_id(),
            model=self.read("/proc/device-tree/model") or self.read("/sys/class/dmi/id/product_name"),
            os_name=_os_release(self.read("/etc/os-release") or ""),
            cpu_online_count=_count_cpus(self.read("/sys/devices/system/cpu/online") or ""),
            governors=self.governors(),
            thermal=tuple(self.thermal_zones()),
            mem_total_bytes=meminfo.get("MemTotal"),
            mem_available_bytes=meminfo.get("MemAvailable"),
            extra=self.extra_facts(),
        )

    def extra_facts(self) -> Dict[str, object]:
        """The profile's own facts (none for plain Linux)."""
        return {}

    def boot_id(self) -> str:
        """The kernel's boot_id: changes on every boot (how the director knows a reboot happened)."""
        return self.read_required(BOOT_ID, "boot_id")

    # ----- thermal -----

    def thermal_zones(self) -> List[ThermalZone]:
        """Every thermal zone with its type and temperature (°C; NaN when the zone cannot be read)."""
        zones = []
        for entry in self.list_dir(THERMAL):
            if not re.fullmatch(r"thermal_zone\d+", entry):
                continue
            kind = self.read(f"{THERMAL}/{entry}/type") or entry
            raw = self.read(f"{THERMAL}/{entry}/temp")
            zones.append(ThermalZone(entry, kind, _millideg(raw)))
        return sorted(zones, key=lambda z: int(z.name[len("thermal_zone"):]))

    def temperatures_c(self) -> Dict[str, float]:
        """Readable zone temperatures (°C) by zone type (`type#N` when a type repeats)."""
        temps: Dict[str, float] = {}
        for zone in self.thermal_zones():
            if math.isnan(zone.temp_c):
                continue
            key = zone.type if zone.type not in temps else f"{zone.type}#{zone.name[len('thermal_zone'):]}"
            temps[key] = zone.temp_c
        return temps

    def settle_until(
        self,
        max_temp_c: float,
        timeout_s: float,
        poll_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> SettleResult:
        """Poll until the hottest zone is at or under max_temp_c, or timeout_s passed; return every reading."""
        start = clock()
        readings: List[TempReading] = []
        while True:
            temps = self.temperatures_c()
            if not temps:
                raise ProfileError(f"{self.device.name}: no readable thermal zone under {self.path(THERMAL)}")
            zone, hottest = max(temps.items(), key=lambda item: item[1])
            elapsed = clock() - start
            readings.append(TempReading(elapsed, hottest, zone))
            if hottest <= max_temp_c:
                return SettleResult(True, hottest, elapsed, tuple(readings))
            if elapsed + poll_s > timeout_s:
                log.info("%s: still %.1f °C (%s) after %.0f s", self.device.name, hottest, zone, elapsed)
                return SettleResult(False, hottest, elapsed, tuple(readings))
            sleep(poll_s)

    # ----- cpufreq -----

    def governors(self) -> Dict[str, str]:
        """The cpufreq governor of each policy folder (policy0, policy4 ...)."""
        found = {}
        for entry in self.list_dir(CPUFREQ):
            if re.fullmatch(r"policy\d+", entry):
                governor = self.read(f"{CPUFREQ}/{entry}/scaling_governor")
                if governor is not None:
                    found[entry] = governor
        return found

    def set_governor(self, governor: str) -> Dict[str, str]:
        """Set every policy's governor (sudo); the first call remembers the old ones for restore_governors."""
        before = self.governors()
        if not before:
            raise ProfileError(f"{self.device.name}: no cpufreq policies under {self.path(CPUFREQ)}")
        for policy in before:
            available = (self.read(f"{CPUFREQ}/{policy}/scaling_available_governors") or "").split()
            if available and governor not in available:
                raise ProfileError(f"{self.device.name}: governor {governor!r} not available on {policy} "
                                   f"(available: {', '.join(available)})")
        if self._saved_governors is None:
            self._saved_governors = dict(before)
        self._write_governors({policy: governor for policy in before})
        return before

    def restore_governors(self) -> None:
        """Put back the governors in force before the first set_governor (nothing if never called)."""
        if self._saved_governors is None:
            return
        self._write_governors(self._saved_governors)
        self._saved_governors = None

    def _write_governors(self, wanted: Mapping[str, str]) -> None:
        for policy, governor in wanted.items():
            self.write_sysfs(f"{CPUFREQ}/{policy}/scaling_governor", governor, f"setting {policy} governor")

    def write_sysfs(self, absolute: str, value: str, what: str) -> None:
        """Write VALUE to a file under fs_root through `tee` (sudo when the device allows it)."""
        self.run_checked(["tee", self.path(absolute)], what, sudo=True, stdin=value + "\n")

    # ----- power modes, sensors, reboot (overridden by board profiles) -----

    def power_modes(self) -> List[PowerMode]:
        """The board's power modes (none on plain Linux)."""
        return []

    def current_power_mode(self) -> Optional[PowerMode]:
        """The mode in force (None: the board has no power modes)."""
        return None

    def set_power_mode(self, name: str) -> ModeChange:
        """Switch power mode by name; plain Linux has none, so this always raises ProfileError."""
        raise UnknownPowerMode(f"{self.device.name}: profile {self.name!r} has no power modes (asked for {name!r})")

    def verify_power_mode(self, name: str) -> PowerMode:
        """Check the mode in force is NAME; plain Linux has none, so this always raises ProfileError."""
        raise UnknownPowerMode(f"{self.device.name}: profile {self.name!r} has no power modes (asked for {name!r})")

    def rails(self) -> Dict[str, RailReading]:
        """On-board power rails by name (none on plain Linux)."""
        return {}

    def board_power_w(self) -> float:
        """On-board total input power (W); raises ProfileError where the board has no such sensor."""
        raise ProfileError(f"{self.device.name}: profile {self.name!r} has no on-board input power sensor")

    def reboot(self) -> str:
        """Ask the device to reboot (`sudo reboot`); returns the boot_id from before. The link will drop."""
        before = self.boot_id()
        result = self.shell.run(["reboot"], timeout_s=30.0, sudo=self.device.may_sudo)
        if not result.ok:
            raise ProfileError(self._failure(["reboot"], "reboot", result, sudo=True))
        log.info("%s: reboot requested (boot_id was %s)", self.device.name, before)
        return before


def _millideg(raw: Optional[str]) -> float:
    try:
        return int(raw) / 1000.0 if raw is not None else math.nan
    except ValueError:
        return math.nan


def _count_cpus(ranges: str) -> int:
    count = 0
    for part in ranges.split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        count += int(high) - int(low) + 1 if high else 1
    return count


def _meminfo(text: str) -> Dict[str, int]:
    values = {}
    for line in text.splitlines():
        match = re.match(r"^(\w+):\s+(\d+)\s*kB", line)
        if match:
            values[match.group(1)] = int(match.group(2)) * 1024
    return values


def _os_release(text: str) -> Optional[str]:
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return None
