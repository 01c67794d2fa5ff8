"""Jetson INA3221 power monitors: find the rail channels in sysfs (hwmon, or JetPack 4's iio) and read them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Protocol

from devices.errors import ProfileError
from devices.profiles.base import RailReading

HWMON_DRIVER = "/sys/bus/i2c/drivers/ina3221"
IIO_DRIVER = "/sys/bus/i2c/drivers/ina3221x"
_I2C_DEV = re.compile(r"\d+-[0-9a-fA-F]{4}")


class _Files(Protocol):
    """What channel discovery needs from a profile: list a folder, read a file, place a path under fs_root."""

    def list_dir(self, absolute: str) -> List[str]:
        """Entry names of a folder (empty when missing)."""

    def read(self, absolute: str) -> Optional[str]:
        """A file's stripped text, or None."""

    def path(self, absolute: str) -> str:
        """The path as the device sees it (under fs_root)."""


@dataclass(frozen=True)
class RailChannel:
    """Where one rail's readings live: the label, its folder (device path), channel index and layout.

    layout "hwmon" (JetPack 5/6): in{n}_input (mV), curr{n}_input (mA).
    layout "iio" (JetPack 4, ina3221x): in_voltage{n}_input (mV), in_current{n}_input (mA).
    """

    name: str
    folder: str
    index: int
    layout: str

    @property
    def voltage_file(self) -> str:
        """The bus-voltage file (mV)."""
        leaf = f"in{self.index}_input" if self.layout == "hwmon" else f"in_voltage{self.index}_input"
        return f"{self.folder}/{leaf}"

    @property
    def current_file(self) -> str:
        """The current file (mA)."""
        leaf = f"curr{self.index}_input" if self.layout == "hwmon" else f"in_current{self.index}_input"
        return f"{self.folder}/{leaf}"


def not_connected(label: str) -> bool:
    """True for labels marking an unused channel (`NC`, `NC_3`, ... as a word of the label)."""
    return "NC" in re.split(r"[\s_]+", label.strip().upper())


def find_channels(files: _Files) -> List[RailChannel]:
    """Every connected rail channel of every INA3221 (hwmon first, then the JetPack 4 iio layout)."""
    channels: List[RailChannel] = []
    for device in (d for d in files.list_dir(HWMON_DRIVER) if _I2C_DEV.fullmatch(d)):
        hwmon_root = f"{HWMON_DRIVER}/{device}/hwmon"
        for hwmon in (h for h in files.list_dir(hwmon_root) if re.fullmatch(r"hwmon\d+", h)):
            folder = f"{hwmon_root}/{hwmon}"
            entries = set(files.list_dir(folder))
            for entry in sorted(entries):
                match = re.fullmatch(r"in(\d+)_label", entry)
                if not match or int(match.group(1)) >= 7 or f"curr{match.group(1)}_input" not in entries:
                    continue  # in7 is the sum of shunt voltages; channels without a current are not rails
                label = files.read(f"{folder}/{entry}") or ""
                if label and not not_connected(label) and not label.lower().startswith("sum"):
                    channels.append(RailChannel(label, folder, int(match.group(1)), "hwmon"))
    if channels:
        return _unique(channels)
    for device in (d for d in files.list_dir(IIO_DRIVER) if _I2C_DEV.fullmatch(d)):
        for iio in (i for i in files.list_dir(f"{IIO_DRIVER}/{device}") if re.fullmatch(r"iio:device\d+", i)):
            folder = f"{IIO_DRIVER}/{device}/{iio}"
            for entry in sorted(files.list_dir(folder)):
                match = re.fullmatch(r"rail_name_(\d+)", entry)
                label = files.read(f"{folder}/{entry}") if match else None
                if match and label and not not_connected(label):
                    channels.append(RailChannel(label, folder, int(match.group(1)), "iio"))
    return _unique(channels)


def _unique(channels: List[RailChannel]) -> List[RailChannel]:
    seen: Dict[str, int] = {}
    for channel in channels:
        seen[channel.name] = seen.get(channel.name, 0) + 1
    out = []
    for channel in channels:
        if seen[channel.name] > 1:  # same label on two monitors: tell them apart by the i2c address
            address = channel.folder.split("/")[6]
            channel = RailChannel(f"{channel.name}@{address}", channel.folder, channel.index, channel.layout)
        out.append(channel)
    return out


def read_channel(files: _Files, channel: RailChannel) -> RailReading:
    """One reading: V = mV/1000, A = mA/1000, W = mV×mA/1e6 (computed from the integers, one rounding)."""
    millivolts = _number(files, channel.voltage_file, channel.name)
    milliamps = _number(files, channel.current_file, channel.name)
    return RailReading(millivolts / 1000.0, milliamps / 1000.0, (millivolts * milliamps) / 1e6)


def _number(files: _Files, path: str, rail: str) -> float:
    text = files.read(path)
    if text is None:
        raise ProfileError(f"cannot read rail {rail} ({files.path(path)}); it may need root or a read permission")
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError as e:
            raise ProfileError(f"rail {rail}: {files.path(path)} holds {text!r}, not a number") from e
