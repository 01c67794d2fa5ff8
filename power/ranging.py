"""Fixed ranges from a ranging pass, the MLPerf way, without crashing on bad low-current readings.

Voltage range >= the highest voltage seen; current range >= margin (1.1) x the highest current
seen, at least a configurable floor; both rounded up to the instrument's table (power.ranges).
Overrange, NaN and negative readings are counted and reported, never fatal on their own
(power-dev#253: a WT310E below 0.2 A read negative values in ranging and crashed the server).
A warning is raised when the chosen ranges would put ranging samples above the uncertainty limit.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple

from power.errors import PowerError
from power.ranges import current_ranges, round_up, voltage_ranges
from power.sample import Sample, Status
from power.uncertainty import PowerAccuracy, accuracy_for

log = logging.getLogger(__name__)

CURRENT_MARGIN = 1.1
"""MLPerf's testing current range factor over the ranging maximum (power-dev PR #317)."""


@dataclass(frozen=True)
class RangeChoice:
    """Ranges chosen from a ranging pass.

    max_voltage_v / max_current_a: highest valid readings; requested_voltage_v /
    requested_current_a: what the MLPerf flow asks the meter for (max V; margin x max A, at least
    the floor); voltage_range_v / current_range_a: those rounded up to the model's table.
    used / rejected count samples; overrange counts overrange readings among the rejected.
    worst_uncertainty is the highest relative uncertainty the ranging samples would have on the
    chosen ranges; above_limit counts those over limit. warnings are for a person to read.
    """

    model: str
    voltage_range_v: float
    current_range_a: float
    max_voltage_v: float
    max_current_a: float
    requested_voltage_v: float
    requested_current_a: float
    used: int
    rejected: int
    overrange: int
    worst_uncertainty: float
    above_limit: int
    warnings: Tuple[str, ...]


def _valid(sample: Sample) -> bool:
    if sample.status is not Status.OK:
        return False
    v, a = sample.voltage_v, sample.current_a
    return math.isfinite(v) and math.isfinite(a) and v > 0 and a >= 0


def choose_ranges(
    samples: Iterable[Sample],
    model: str,
    crest_factor: str = "3",
    current_margin: float = CURRENT_MARGIN,
    current_floor_a: float = 0.0,
    accuracy: Optional[PowerAccuracy] = None,
    uncertainty_limit: float = 0.01,
) -> RangeChoice:
    """Choose fixed ranges for testing from ranging samples; PowerError if none is usable."""
    volts_table = voltage_ranges(model, crest_factor)
    amps_table = current_ranges(model, crest_factor)
    if accuracy is None:
        accuracy = accuracy_for(model)
    used: List[Sample] = []
    rejected = overrange = negative = 0
    for sample in samples:
        if _valid(sample):
            used.append(sample)
            continue
        rejected += 1
        if sample.status is Status.OVERRANGE:
            overrange += 1
        elif (sample.status is Status.OK and math.isfinite(sample.current_a)
              and sample.current_a < 0):
            negative += 1
    if not used:
        raise PowerError(
            f"ranging gave no usable voltage/current readings ({rejected} rejected, "
            f"{overrange} overrange, {negative} negative): check the wiring and the load"
        )
    max_v = max(s.voltage_v for s in used)
    max_a = max(s.current_a for s in used)
    requested_a = max(current_margin * max_a, current_floor_a)
    warnings: List[str] = []
    range_v = round_up(max_v, volts_table)
    range_a = round_up(requested_a, amps_table)
    if max_v > range_v:
        warnings.append(f"highest voltage {max_v:g} V exceeds the largest range {range_v:g} V")
    if requested_a > range_a:
        warnings.append(f"current {requested_a:g} A exceeds the largest range {range_a:g} A")
    if overrange:
        warnings.append(f"{overrange} overrange reading(s) in ranging: the true maximum may be "
                        "higher than the readings show")
    if negative:
        warnings.append(f"{negative} negative current reading(s) ignored (very low current?)")
    if rejected - overrange - negative:
        warnings.append(f"{rejected - overrange - negative} reading(s) without data ignored")
    worst, above = _uncertainty_on(used, accuracy, range_v, range_a, uncertainty_limit)
    if above:
        warnings.append(
            f"{above} of {len(used)} ranging samples would be above "
            f"{100 * uncertainty_limit:.2f} % uncertainty on {range_v:g} V / {range_a:g} A "
            f"(worst {100 * worst:.2f} %): the load is small for this range"
        )
    for text in warnings:
        log.warning("ranging: %s", text)
    return RangeChoice(model, range_v, range_a, max_v, max_a, max_v, requested_a, len(used),
                       rejected, overrange, worst, above, tuple(warnings))


def _uncertainty_on(samples: List[Sample], accuracy: PowerAccuracy, range_v: float,
                    range_a: float, limit: float) -> Tuple[float, int]:
    worst = math.nan
    above = 0
    for sample in samples:
        power_w = sample.power_w
        if not math.isfinite(power_w) or power_w == 0:
            continue
        rel = accuracy.uncertainty_w(power_w, range_v, range_a) / abs(power_w)
        if math.isnan(worst) or rel > worst:
            worst = rel
        if rel > limit:
            above += 1
    return worst, above
