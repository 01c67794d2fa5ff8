"""The Raspberry Pi profile: vcgencmd temperature, throttled flags and the Pi 5 PMIC rails."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple

from devices.errors import ProfileError
from devices.profiles.base import RailReading
from devices.profiles.linux import LinuxProfile

THROTTLE_BITS: Mapping[int, str] = {
    0: "under_voltage",
    1: "freq_capped",
    2: "throttled",
    3: "soft_temp_limit",
    16: "under_voltage_occurred",
    17: "freq_capped_occurred",
    18: "throttled_occurred",
    19: "soft_temp_limit_occurred",
}
"""`vcgencmd get_throttled` bits (Raspberry Pi documentation): 0-3 now, 16-19 since boot."""

_PMIC_LINE = re.compile(r"^\s*(\S+)_([AV])\s+(?:current|volt)\((\d+)\)=(\S+?)([AV])\s*$")


@dataclass(frozen=True)
class ThrottleState:
    """Decoded `vcgencmd get_throttled`: the raw bit field and the names of the bits set."""

    raw: int
    flags: Tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no documented bit is set (nothing now, nothing since boot)."""
        return not self.flags

    @property
    def now(self) -> Tuple[str, ...]:
        """Conditions in force now (bits 0-3)."""
        return tuple(f for f in self.flags if not f.endswith("_occurred"))

    @property
    def occurred(self) -> Tuple[str, ...]:
        """Conditions seen since boot (bits 16-19)."""
        return tuple(f for f in self.flags if f.endswith("_occurred"))

    def has(self, flag: str) -> bool:
        """True when the bit named FLAG (a THROTTLE_BITS value) is set."""
        return flag in self.flags


def parse_throttled(text: str) -> ThrottleState:
    """`throttled=0x50000` -> ThrottleState(0x50000, ('under_voltage_occurred', 'throttled_occurred'))."""
    match = re.search(r"throttled=(0x[0-9a-fA-F]+|\d+)", text)
    if not match:
        raise ProfileError(f"unexpected `vcgencmd get_throttled` output: {text.strip()[:200]!r}")
    raw = int(match.group(1), 0)
    return ThrottleState(raw, tuple(name for bit, name in sorted(THROTTLE_BITS.items()) if raw >> bit & 1))


def parse_measure_temp(text: str) -> float:
    """`temp=48.3'C` -> 48.3 (°C)."""
    match = re.search(r"temp=([-\d.]+)'C", text)
    if not match:
        raise ProfileError(f"unexpected `vcgencmd measure_temp` output: {text.strip()[:200]!r}")
    return float(match.group(1))


@dataclass(frozen=True)
class PmicRail:
    """One PMIC rail, paired by name: voltage (V) and current (A), each None where the PMIC has none."""

    name: str
    voltage_v: Optional[float] = None
    current_a: Optional[float] = None

    @property
    def power_w(self) -> Optional[float]:
        """V × I (W) where both exist (NaN when either read NaN); None otherwise."""
        if self.voltage_v is None or self.current_a is None:
            return None
        return self.voltage_v * self.current_a


@dataclass(frozen=True)
class PmicReading:
    """`vcgencmd pmic_read_adc`: every rail by name. Σ V×I of these is NOT the board's input power.

    The PMIC measures its own output rails: USB peripherals, the fan, the PMIC's conversion losses
    and anything on the 5 V input are not in the sum. EXT5V (the 5 V input) has a voltage only.
    """

    rails: Mapping[str, PmicRail] = field(default_factory=dict)

    @property
    def input_voltage_v(self) -> Optional[float]:
        """The 5 V input (EXT5V) voltage, or None where absent."""
        rail = self.rails.get("EXT5V")
        return rail.voltage_v if rail else None

    @property
    def rails_sum_w(self) -> float:
        """Σ V×I over rails with both readings and no NaN: the PMIC's rails only, not board input power."""
        powers = [r.power_w for r in self.rails.values() if r.power_w is not None and not math.isnan(r.power_w)]
        return math.fsum(powers)


def parse_pmic_read_adc(text: str) -> PmicReading:
    """Pair `<RAIL>_A current(i)=<x>A` and `<RAIL>_V volt(j)=<y>V` lines by RAIL (indices differ); `nanV` kept as NaN."""
    volts: Dict[str, float] = {}
    amps: Dict[str, float] = {}
    order = []
    for line in text.splitlines():
        match = _PMIC_LINE.match(line)
        if not match or match.group(2) != match.group(5):
            continue
        rail, kind, value = match.group(1), match.group(2), match.group(4)
        try:
            number = float(value)
        except ValueError:
            continue
        (amps if kind == "A" else volts)[rail] = number
        if rail not in order:
            order.append(rail)
    if not order:
        raise ProfileError(f"`vcgencmd pmic_read_adc` gave no readings (Raspberry Pi 5 only): {text.strip()[:200]!r}")
    return PmicReading({rail: PmicRail(rail, volts.get(rail), amps.get(rail)) for rail in order})


class RaspberryPiProfile(LinuxProfile):
    """Raspberry Pi: LinuxProfile plus vcgencmd (needs the `video` group; no power modes)."""

    name = "raspberrypi"

    def vcgencmd(self, *args: str) -> str:
        """Run `vcgencmd ARGS` and return its output; ProfileError when it fails."""
        argv = ["vcgencmd", *args]
        return self.run_checked(argv, f"vcgencmd {' '.join(args)}", timeout_s=15.0).stdout

    def measure_temp_c(self) -> float:
        """The SoC temperature (°C) from `vcgencmd measure_temp`."""
        return parse_measure_temp(self.vcgencmd("measure_temp"))

    def throttled(self) -> ThrottleState:
        """Under-voltage, frequency capping, throttling and soft temperature limit, now and since boot."""
        return parse_throttled(self.vcgencmd("get_throttled"))

    def pmic(self) -> PmicReading:
        """Every PMIC rail (Pi 5). Each call spawns a process: about 10 Hz at most is practical."""
        return parse_pmic_read_adc(self.vcgencmd("pmic_read_adc"))

    def rails(self) -> Dict[str, RailReading]:
        """PMIC rails that have both a voltage and a current (W = V × A)."""
        out = {}
        for name, rail in self.pmic().rails.items():
            if rail.voltage_v is not None and rail.current_a is not None and rail.power_w is not None:
                out[name] = RailReading(rail.voltage_v, rail.current_a, rail.power_w)
        return out

    def board_power_w(self) -> float:
        """Always ProfileError: the PMIC has no input current, and Σ V×I of its rails is not input power."""
        raise ProfileError(
            f"{self.device.name}: on-board input power is unavailable on a Raspberry Pi: EXT5V has a voltage "
            "but no current, and the sum of PMIC rails leaves out USB, the fan and PMIC losses: use the wall analyzer"
        )

    def extra_facts(self) -> Dict[str, object]:
        """vcgencmd temperature and throttled flags (None with the error when vcgencmd is unavailable)."""
        extra: Dict[str, object] = {}
        try:
            extra["measure_temp_c"] = self.measure_temp_c()
            state = self.throttled()
            extra["throttled"] = {"raw": hex(state.raw), "flags": list(state.flags)}
        except ProfileError as e:
            extra.setdefault("measure_temp_c", None)
            extra["throttled"] = None
            extra["vcgencmd_error"] = str(e)
        return extra
