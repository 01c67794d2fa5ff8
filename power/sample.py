"""The Sample: one analyzer reading, an average over its own update interval."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class Status(str, enum.Enum):
    """Quality of a sample; only OK samples carry numbers."""

    OK = "ok"
    OVERRANGE = "overrange"
    NO_DATA = "no_data"
    GAP = "gap"


@dataclass(frozen=True)
class Sample:
    """One reading, stamped with the host's UTC ns at the end of its averaging interval.

    Fields and units: t_end_ns (UTC ns), interval_ns (ns), power_w (W), voltage_v (V),
    current_a (A), power_factor (1), voltage_range_v (V), current_range_a (A),
    uncertainty_w (W). Values that the instrument flagged are NaN, never numbers;
    a range of NaN means unknown, and auto ranging is recorded in the *_auto flags.
    """

    t_end_ns: int
    interval_ns: int
    power_w: float
    voltage_v: float
    current_a: float
    power_factor: float
    voltage_range_v: float
    current_range_a: float
    status: Status = Status.OK
    uncertainty_w: float = math.nan
    voltage_auto: bool = False
    current_auto: bool = False

    @property
    def t_start_ns(self) -> int:
        """UTC ns at the start of the averaging interval."""
        return self.t_end_ns - self.interval_ns

    @property
    def ok(self) -> bool:
        """True when the sample carries a usable power reading."""
        return self.status is Status.OK and not math.isnan(self.power_w)

    @property
    def relative_uncertainty(self) -> float:
        """Uncertainty as a fraction of |power_w| (NaN when unknown or zero power)."""
        if not self.ok or self.power_w == 0 or math.isnan(self.uncertainty_w):
            return math.nan
        return self.uncertainty_w / abs(self.power_w)


def gap(t_end_ns: int, interval_ns: int) -> Sample:
    """A placeholder for an interval the instrument did not cover (never filled in)."""
    nan = math.nan
    return Sample(t_end_ns, interval_ns, nan, nan, nan, nan, nan, nan, Status.GAP)
