"""PTDaemon's reply texts: parsers for Identify, RR, Watts-style summaries and RL,*,* rows.

Shapes from ../shared/reference/analyzers.md §11 and real PTD 1.10.0 captures (server.json of the
MLPerf v3.0 Orin results); what is not verified against a real PTDaemon 1.11.1 is marked.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Tuple

from power.analyzer import Ranges
from power.errors import AnalyzerProtocolError

DEFAULT_PORT = 8888
HELLO_REPLY = "Hello, PTDaemon here!"
LAST_N = re.compile(r"^Last (\d+) samples")
"""The header of an RL reply; group 1 is the number of rows that follow."""


@dataclass(frozen=True)
class PtdIdentity:
    """PTDaemon's Identify reply: device (e.g. YokogawaWT330E), version (1.11.1-<crc>-<date>), flags."""

    device: str
    version: str
    spec_compliant: bool
    os: str
    mode: str
    idn: str
    raw: str

    @property
    def version_number(self) -> str:
        """The x.y.z part of version (what the MLPerf checker compares with 1.11.1)."""
        return self.version.split("-", 1)[0]


def parse_identify(reply: str) -> PtdIdentity:
    """Parse an Identify reply (token 0 device, token 8 SPEC flag, key=value fields, IDN last)."""
    tokens = reply.split(",")
    if len(tokens) < 9 or not tokens[0]:
        raise AnalyzerProtocolError(f"PTDaemon Identify reply not understood: {reply!r}")
    fields = {t.split("=", 1)[0]: t.split("=", 1)[1] for t in tokens if "=" in t}
    idn = tokens[-1] if ";" in tokens[-1] else ""
    return PtdIdentity(tokens[0], fields.get("version", ""), tokens[8] == "1",
                       fields.get("OS", ""), fields.get("mode", ""), idn, reply)


def parse_ranges(reply: str) -> Tuple[Ranges, str, str]:
    """Parse 'Ranges,<AmpAuto>,<AmpRange>,<VoltAuto>,<VoltRange>' into Ranges and restore strings.

    The shape is verified on PTDaemon 1.10.0 (server.json of the v3.0 Orin results:
    'Ranges,1,0.500000,1,300.000000'). Auto flag -1 = unknown, range -1 = unknown (-> NaN).
    The restore strings follow power-dev: the range text if auto is off and range > 0, else 'Auto'.
    """
    tokens = reply.split(",")
    if len(tokens) != 5 or tokens[0] != "Ranges":
        raise AnalyzerProtocolError(f"PTDaemon RR reply not understood: {reply!r}")
    try:
        amp_auto, amp_range = int(tokens[1]), float(tokens[2])
        volt_auto, volt_range = int(tokens[3]), float(tokens[4])
    except ValueError:
        raise AnalyzerProtocolError(f"PTDaemon RR reply not understood: {reply!r}") from None

    def known(x: float) -> float:
        return x if x > 0 else math.nan

    def restore(auto: int, text: str, value: float) -> str:
        return text if auto == 0 and value > 0 else "Auto"

    ranges = Ranges(known(volt_range), known(amp_range), volt_auto == 1, amp_auto == 1)
    return ranges, restore(volt_auto, tokens[4], volt_range), restore(amp_auto, tokens[2], amp_range)


@dataclass(frozen=True)
class WattsSummary:
    """A 'Watts' (or Volts/Amps/PF) reply: avg, min, max (in the quantity's unit), samples, errors.

    Shape 'Watts,<avg>,<min>,<max>,<samples>,<errors>,...' from SPECjvm2008's parser; the exact
    PTDaemon 1.11.1 formatting is unverified.
    """

    average: float
    minimum: float
    maximum: float
    samples: int
    errors: int
    raw: str


def parse_summary(reply: str, name: str = "Watts") -> WattsSummary:
    """Parse a Watts/Volts/Amps/PF summary reply."""
    tokens = reply.split(",")
    try:
        if tokens[0] != name:
            raise ValueError(tokens[0])
        return WattsSummary(float(tokens[1]), float(tokens[2]), float(tokens[3]),
                            int(tokens[4]), int(tokens[5]), reply)
    except (ValueError, IndexError):
        raise AnalyzerProtocolError(f"PTDaemon {name} reply not understood: {reply!r}") from None


def label_channels(row: str) -> str:
    """Give an RL,*,* row's unlabelled channel groups Ch1, Ch2, ... labels (as power-dev does)."""
    parts = row.split(",Watts,")
    if len(parts) <= 2:
        return row
    return parts[0] + ",Watts," + parts[1] + "".join(
        f",Ch{k},Watts,{p}" for k, p in enumerate(parts[2:], start=1))
