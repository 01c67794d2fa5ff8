"""Per-sample uncertainty of active power from the instrument's accuracy specification."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple

from power.errors import PowerError
from power.sample import Sample


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


def sample_uncertainty_w(sample: Sample, accuracy: Optional[PowerAccuracy] = None) -> float:
    """A sample's uncertainty (W): its own if known, else from accuracy and its fixed ranges, else NaN.

    Under auto ranging the range in force during the interval is not known for sure, so no model
    value is computed (PTDaemon likewise says "Can't evaluate uncertainty of this sample!").
    """
    if not sample.ok:
        return math.nan
    if not math.isnan(sample.uncertainty_w):
        return sample.uncertainty_w
    if accuracy is None or sample.voltage_auto or sample.current_auto:
        return math.nan
    return accuracy.uncertainty_w(sample.power_w, sample.voltage_range_v, sample.current_range_a)


@dataclass(frozen=True)
class WindowUncertainty:
    """Uncertainty of a window's energy and average power, from the samples' own uncertainties.

    energy_uncertainty_j (J) and average_uncertainty_w (W) cover the time whose samples had a
    known uncertainty (known_s, s); unknown_s (s) had none and is not included, never guessed.
    relative is energy_uncertainty_j / |energy over known_s| (NaN if nothing is known).
    max_sample_relative is the worst single sample; samples_above_limit counts those above limit.
    """

    energy_uncertainty_j: float
    average_uncertainty_w: float
    relative: float
    known_s: float
    unknown_s: float
    max_sample_relative: float
    samples_above_limit: int
    limit: float


def combine_window(
    parts: Iterable[Tuple[float, float, float]], limit: float = 0.01
) -> WindowUncertainty:
    """Combine (power_w, uncertainty_w, seconds) parts of a window into its uncertainty.

    Assumption: the terms of the accuracy spec (gain and range offset of one instrument on the
    same ranges) are systematic, so they are fully correlated from one sample to the next. The
    window's uncertainty is then the linear sum of u_i x dt_i, not the root sum of squares; that
    is the conservative choice (an RSS would shrink it by ~sqrt(N) as if the errors were random).
    Parts with a NaN uncertainty are counted in unknown_s only.
    """
    known_j: List[float] = []
    energy_j: List[float] = []
    known_s = 0.0
    unknown_s = 0.0
    worst = math.nan
    above = 0
    for power_w, uncertainty_w, seconds in parts:
        if seconds <= 0:
            continue
        if math.isnan(uncertainty_w) or math.isnan(power_w):
            unknown_s += seconds
            continue
        known_j.append(uncertainty_w * seconds)
        energy_j.append(power_w * seconds)
        known_s += seconds
        if power_w != 0:
            rel = uncertainty_w / abs(power_w)
            if math.isnan(worst) or rel > worst:
                worst = rel
            if rel > limit:
                above += 1
    u_j = math.fsum(known_j)
    e_j = math.fsum(energy_j)
    relative = u_j / abs(e_j) if e_j != 0 else math.nan
    average = u_j / known_s if known_s > 0 else math.nan
    return WindowUncertainty(u_j, average, relative, known_s, unknown_s, worst, above, limit)
