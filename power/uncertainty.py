"""Per-sample uncertainty of active power from the instrument's accuracy specification."""

from __future__ import annotations

import math
from dataclasses import dataclass

from power.errors import PowerError


@dataclass(frozen=True)
class PowerAccuracy:
    """Accuracy as ±(reading_fraction × |P| + range_fraction × V_range × I_range)."""

    reading_fraction: float
    range_fraction: float

    def uncertainty_w(self, power_w: float, voltage_range_v: float, current_range_a: float) -> float:
        """Uncertainty (W) of one reading on the given ranges; NaN if any input is NaN."""
        if math.isnan(power_w) or math.isnan(voltage_range_v) or math.isnan(current_range_a):
            return math.nan
        return self.reading_fraction * abs(power_w) + self.range_fraction * voltage_range_v * current_range_a


# IM WT310E-02EN §7.3.2, 45-66 Hz, PF = 1, 12-month accuracy. The older WT310/WT332/WT333 have a
# 0.1 % range term. PTDaemon's own computation is not public; this is our model of the spec.
_ACCURACY = {
    "WT310E": PowerAccuracy(0.001, 0.0005),
    "WT310EH": PowerAccuracy(0.001, 0.0005),
    "WT332E": PowerAccuracy(0.001, 0.0005),
    "WT333E": PowerAccuracy(0.001, 0.0005),
    "WT310": PowerAccuracy(0.001, 0.001),
    "WT332": PowerAccuracy(0.001, 0.001),
    "WT333": PowerAccuracy(0.001, 0.001),
    # WT210 accuracy figure: unverified (taken equal to the older WT310's).
    "WT210": PowerAccuracy(0.001, 0.001),
}


def accuracy_for(model: str) -> PowerAccuracy:
    """The power accuracy specification of an instrument model."""
    try:
        return _ACCURACY[model.upper()]
    except KeyError:
        raise PowerError(f"no accuracy specification for analyzer model {model!r}") from None
