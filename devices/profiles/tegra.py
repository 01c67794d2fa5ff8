"""Jetson text formats: nvpmodel.conf, `nvpmodel -q`, `jetson_clocks --show`, tegrastats, nv_tegra_release."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

from devices.errors import ProfileError
from devices.profiles.base import PowerMode

TOTAL_RAILS = ("VDD_IN", "POM_5V_IN")
"""Rails that measure the module's whole input, in order of preference. Never replaced by a rail sum."""

_CONF_LINE = re.compile(r"^\s*<\s*(\w+)((?:\s+\w+=[^\s>]+)*)\s*>\s*$")
_ATTR = re.compile(r"(\w+)=([^\s>]+)")
_QUERY = re.compile(r"NV Power Mode:\s*(\S+)")
_L4T = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)")
# "<NAME> <now>[mW]/<avg>[mW][/<max>[mW]]" (Thor prints three values, TX2/Nano no unit).
_TEGRA_RAIL = re.compile(r"(?<!\S)([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?:/(\d+)(?:mW)?)?(?=\s|$)")


def parse_nvpmodel_conf(text: str) -> List[PowerMode]:
    """Power modes from /etc/nvpmodel.conf (`< POWER_MODEL ID=0 NAME=MAXN >`, `< PM_CONFIG DEFAULT=2 >`)."""
    modes: List[Tuple[int, str]] = []
    default: Optional[int] = None
    for line in text.splitlines():
        match = _CONF_LINE.match(line)
        if not match:
            continue
        attrs = dict(_ATTR.findall(match.group(2)))
        if match.group(1) == "POWER_MODEL" and "ID" in attrs and "NAME" in attrs and attrs["ID"].isdigit():
            modes.append((int(attrs["ID"]), attrs["NAME"]))
        elif match.group(1) == "PM_CONFIG" and attrs.get("DEFAULT", "").isdigit():
            default = int(attrs["DEFAULT"])
    return [PowerMode(mode_id, name, mode_id == default) for mode_id, name in modes]


def parse_nvpmodel_query(text: str) -> Tuple[str, int]:
    """(NAME, id) from `nvpmodel -q`: `NV Power Mode: MAXN_SUPER` and the id on the next line."""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        match = _QUERY.search(line)
        if not match:
            continue
        for following in lines[number + 1:]:
            if following.strip():
                if following.strip().isdigit():
                    return match.group(1), int(following.strip())
                break
        raise ProfileError(f"`nvpmodel -q` gave mode {match.group(1)} without an id on the next line")
    raise ProfileError(f"`nvpmodel -q` output has no 'NV Power Mode:' line: {text.strip()[:200]!r}")


def nvpmodel_wants_reboot(text: str) -> bool:
    """True when nvpmodel answered a mode switch with its reboot prompt (the switch was not applied)."""
    return re.search(r"reboot required|want to reboot", text, re.IGNORECASE) is not None


def with_pending_mode(status: Optional[str], mode_id: int) -> str:
    """/var/lib/nvpmodel/status text selecting MODE_ID at the next boot (`pmode:0002`, other tokens kept)."""
    token = f"pmode:{mode_id:04d}"
    if status and re.search(r"pmode:\d+", status):
        return re.sub(r"pmode:\d+", token, status.strip(), count=1)
    return f"{status.strip()} {token}".strip() if status else token


def parse_l4t_release(text: str) -> Optional[str]:
    """'36.4.3' from /etc/nv_tegra_release (`# R36 (release), REVISION: 4.3, ...`); None if not found."""
    match = _L4T.search(text)
    return f"{match.group(1)}.{match.group(2)}" if match else None


@dataclass(frozen=True)
class TegraRail:
    """One rail from a tegrastats line: instantaneous and average power (W)."""

    now_w: float
    avg_w: float


def parse_tegrastats_line(line: str) -> Dict[str, TegraRail]:
    """Rails of one tegrastats line (`VDD_IN 5012mW/5012mW`, or unit-less `VDD_IN 1038/1134`, in mW).

    Rails named NC (not connected) are left out.
    """
    rails = {}
    for name, now, avg, _peak in _TEGRA_RAIL.findall(line):
        if name == "NC" or name in rails:
            continue
        rails[name] = TegraRail(int(now) / 1000.0, int(avg) / 1000.0)
    return rails


@dataclass(frozen=True)
class ClocksReport:
    """`jetson_clocks --show`, parsed: per unit (cpu0, GPU, EMC, FAN ...) its key=value settings.

    Values stay strings as printed (frequencies in Hz or kHz as the tool prints them); raw keeps the text.
    """

    soc_family: Optional[str]
    machine: Optional[str]
    online_cpus: Optional[str]
    power_mode: Optional[str]
    units: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    raw: str = ""

    def to_dict(self) -> Dict[str, object]:
        """A JSON-ready dict for the power-settings record."""
        return {"soc_family": self.soc_family, "machine": self.machine, "online_cpus": self.online_cpus,
                "power_mode": self.power_mode, "units": {k: dict(v) for k, v in self.units.items()},
                "clocks_pinned": self.clocks_pinned}

    @property
    def clocks_pinned(self) -> bool:
        """Heuristic for "jetson_clocks is on": MinFreq == MaxFreq on every CPU and the GPU shown."""
        checked = [u for name, u in self.units.items() if name.startswith("cpu") or name == "GPU"]
        pinned = [u for u in checked if "MinFreq" in u and u.get("MinFreq") == u.get("MaxFreq")]
        return bool(checked) and len(pinned) == len(checked)


def parse_jetson_clocks_show(text: str) -> ClocksReport:
    """Parse `jetson_clocks --show` (SOC family/Machine, Online CPUs, cpuN:, GPU, EMC, FAN, NV Power Mode)."""
    soc = machine = online = mode = None
    units: Dict[str, Dict[str, str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("SOC family:"):
            soc_part, _, machine_part = line[len("SOC family:"):].partition("Machine:")
            soc, machine = soc_part.strip() or None, machine_part.strip() or None
        elif line.startswith("Online CPUs:"):
            online = line.split(":", 1)[1].strip()
        elif line.startswith("NV Power Mode:"):
            mode = line.split(":", 1)[1].strip()
        else:
            head, _, rest = line.partition(" ")
            pairs = dict(_ATTR_ANY.findall(rest))
            if pairs:
                units[head.rstrip(":")] = pairs
    return ClocksReport(soc, machine, online, mode, units, text)


_ATTR_ANY = re.compile(r"([\w]+)=(\S+)")
