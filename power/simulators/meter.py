"""The measuring core of a simulated Yokogawa WT300E-family meter, protocol-free.

An update clock on an injectable Clock, ranges with auto-ranging, overrange and no-data flags, the small-value
zero clamp, seeded noise inside the accuracy specification, and the integrator. Facts: analyzers.md §5-§9.
"""

from __future__ import annotations

import collections
import logging
import math
import random
import threading
from dataclasses import replace
from typing import Deque, List, Optional, Tuple, Union

from power.analyzer import AUTO, Ranges
from power.errors import PowerError
from power.ranges import current_ranges, voltage_ranges
from power.simulators.clock import NS_PER_S, Clock, ManualClock, SystemClock
from power.simulators.integrator import INTEG_MODES, Integrator
from power.simulators.readings import (
    E_INTEG_BUSY,
    E_INTEG_NOT_STARTED,
    E_INTEG_RESET_STARTED,
    E_INTEG_STARTED,
    E_OUT_OF_RANGE,
    Integration,
    MeterError,
    Peaks,
    Update,
)
from power.simulators.truth import Constant, Truth

log = logging.getLogger(__name__)

MODELS = ("WT310", "WT310E", "WT310EH", "WT332", "WT332E", "WT333", "WT333E", "WT210")
UPDATE_CHOICES_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
CREST_FACTORS = ("3", "6", "6A")


_NAN = math.nan
_NAN_PEAKS = Peaks(_NAN, _NAN, _NAN, _NAN, _NAN, _NAN)


class Meter:
    """One measuring element of a WT300E-family meter driven by a Truth on a Clock."""

    def __init__(
        self,
        model: str = "WT310E",
        truth: Optional[Truth] = None,
        clock: Optional[Clock] = None,
        update_s: float = 0.1,
        crest_factor: str = "3",
        seed: int = 0,
        noise: bool = True,
        history: int = 100_000,
    ) -> None:
        self.model = model.upper()
        if self.model not in MODELS:
            raise PowerError(f"simulated meter model must be one of {', '.join(MODELS)}, not {model!r}")
        self.truth: Truth = truth if truth is not None else Constant()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.noise = noise
        self._rng = random.Random(seed)  # noqa: S311 - reproducible simulated measurement noise, not cryptography
        self._lock = threading.RLock()
        self.history: Deque[Update] = collections.deque(maxlen=history)
        self.latest: Optional[Update] = None
        self._count = 0
        self.mode = "RMS"
        self._integrator = Integrator()
        self._no_data_until_ns = 0
        self._set_crest(str(crest_factor).upper())
        self._v_idx = len(self._v_table) - 1
        self._i_idx = len(self._i_table) - 1
        self._v_auto = self._i_auto = False
        self._restart_grid(_interval_ns(update_s))

    # ----- clock -----

    def _restart_grid(self, interval_ns: int) -> None:
        self._interval_ns = interval_ns
        self._next_end_ns = self.clock.now_ns() + interval_ns

    @property
    def interval_ns(self) -> int:
        """The update interval (ns)."""
        return self._interval_ns

    def next_update_ns(self) -> int:
        """UTC ns at which the update in progress completes."""
        with self._lock:
            return self._next_end_ns

    def advance(self) -> List[Update]:
        """Complete every update whose end is at or before clock.now_ns(); return them, oldest first."""
        done: List[Update] = []
        with self._lock:
            now = self.clock.now_ns()
            while self._next_end_ns <= now:
                t1 = self._next_end_ns
                update = self._measure(t1 - self._interval_ns, t1)
                self._next_end_ns = t1 + self._interval_ns
                self.history.append(update)
                self.latest = update
                done.append(update)
        return done

    def set_update_interval(self, interval_s: float) -> None:
        """Set the update interval (s), one of 0.1, 0.25, 0.5, 1, 2, 5; a new update starts now."""
        with self._lock:
            self.advance()
            self._integrator.check_reset()
            self._restart_grid(_interval_ns(interval_s))

    # ----- ranges -----

    def _set_crest(self, crest_factor: str) -> None:
        if crest_factor not in CREST_FACTORS:
            raise MeterError(*E_OUT_OF_RANGE)
        self.crest_factor = crest_factor
        self._v_table = voltage_ranges(self.model, crest_factor)
        self._i_table = current_ranges(self.model, crest_factor)
        cf6 = crest_factor != "3"
        self._peak_frac = 6.0 if cf6 else 3.0
        self._up_frac = 2.6 if crest_factor == "6A" else 1.3
        self._over_frac = 2.8 if crest_factor == "6A" else 1.4
        self._zero_frac = 0.01 if cf6 else 0.005

    def set_crest_factor(self, crest_factor: str) -> None:
        """Set crest factor 3, 6 or 6A; ranges keep their position in the new table."""
        with self._lock:
            self.advance()
            self._integrator.check_reset()
            self._set_crest(str(crest_factor).upper())
            self._range_changed()

    def set_mode(self, mode: str) -> None:
        """Set the measurement mode RMS, VMEAN or DC (values are modelled the same in each)."""
        with self._lock:
            if mode.upper() not in ("RMS", "VMEAN", "DC"):
                raise MeterError(*E_OUT_OF_RANGE)
            self.advance()
            self._integrator.check_reset()
            self.mode = mode.upper()

    def _range_changed(self) -> None:
        # The update in progress mixes two ranges: it reports no data.
        self._no_data_until_ns = self._next_end_ns

    @staticmethod
    def _index(value: float, table: Tuple[float, ...]) -> int:
        for k, candidate in enumerate(table):
            if abs(candidate - value) <= 1e-9 * candidate:
                return k
        raise MeterError(*E_OUT_OF_RANGE)

    def set_voltage_range(self, range_v: Union[float, str]) -> None:
        """Set a voltage range from the table (auto off), or AUTO."""
        self._set_range("v", range_v)

    def set_current_range(self, range_a: Union[float, str]) -> None:
        """Set a current range from the table (auto off), or AUTO."""
        self._set_range("i", range_a)

    def _set_range(self, which: str, value: Union[float, str]) -> None:
        with self._lock:
            self.advance()
            if isinstance(value, str) and value.lower() == AUTO:
                self.set_auto(which, True)
                return
            table = self._v_table if which == "v" else self._i_table
            k = self._index(float(value), table)
            self._integrator.check_reset()
            if which == "v":
                changed, self._v_idx, self._v_auto = k != self._v_idx, k, False
            else:
                changed, self._i_idx, self._i_auto = k != self._i_idx, k, False
            if changed:
                self._range_changed()

    def set_auto(self, which: str, on: bool) -> None:
        """Turn auto ranging of 'v' or 'i' on or off (off keeps the range in force)."""
        with self._lock:
            self.advance()
            self._integrator.check_reset()
            if which == "v":
                self._v_auto = bool(on)
            else:
                self._i_auto = bool(on)

    def ranges(self) -> Ranges:
        """The ranges in force and their auto flags."""
        with self._lock:
            return Ranges(self._v_table[self._v_idx], self._i_table[self._i_idx], self._v_auto, self._i_auto)

    @property
    def voltage_table(self) -> Tuple[float, ...]:
        """Valid voltage ranges (V) at the present crest factor."""
        return self._v_table

    @property
    def current_table(self) -> Tuple[float, ...]:
        """Valid current ranges (A) at the present crest factor."""
        return self._i_table

    def reset(self) -> None:
        """*RST: largest ranges, auto off, crest factor 3, RMS, integration reset (defaults unverified)."""
        with self._lock:
            self.advance()
            self._set_crest("3")
            self._v_idx, self._i_idx = len(self._v_table) - 1, len(self._i_table) - 1
            self._v_auto = self._i_auto = False
            self.mode = "RMS"
            self._integrator = Integrator()
            self._range_changed()

    # ----- measurement -----

    def _noisy(self, value: float, range_: float) -> float:
        if not self.noise:
            return value
        bound = 0.001 * abs(value) + 0.0005 * range_
        # sigma = a third of the accuracy bound, clipped just inside it
        return value + max(-0.999 * bound, min(0.999 * bound, self._rng.gauss(0.0, bound / 3.0)))

    def _auto_step(self, k: int, table: Tuple[float, ...], rms: float, peak: float) -> int:
        r = table[k]
        if rms > self._up_frac * r or peak > self._peak_frac * r:
            # Simulator choice: jump straight to the range that holds the signal (a real meter may step
            # one range at a time; unverified).
            while k < len(table) - 1 and (rms > self._up_frac * table[k] or peak > self._peak_frac * table[k]):
                k += 1
            return k
        if k > 0:
            lower = table[k - 1]
            if rms <= 0.3 * r and rms <= 1.25 * lower and peak <= self._peak_frac * lower:
                return k - 1
        return k

    def _measure(self, t0: int, t1: int) -> Update:
        m = self.truth.mean(t0, t1)
        vr, ir = self._v_table[self._v_idx], self._i_table[self._i_idx]
        u = abs(self._noisy(m.voltage_v, vr))
        i = abs(self._noisy(m.current_a, ir))
        p = self._noisy(m.power_w, vr * ir)
        over_i_frac = 1.1 if (self.model == "WT310EH" and ir >= 40.0) else self._over_frac
        ovr_v = u > self._over_frac * vr or m.voltage_peak_v > self._peak_frac * vr
        ovr_i = i > over_i_frac * ir or m.current_peak_a > self._peak_frac * ir
        no_data = t1 <= self._no_data_until_ns
        clip_w = 3.33 * vr * ir * (2.0 if self.crest_factor != "3" else 1.0)
        self._integrator.accumulate(t0, t1, p, i, clip_w)
        u_d = 0.0 if u <= self._zero_frac * vr else u
        i_d = 0.0 if i <= self._zero_frac * ir else i
        s = u_d * i_d
        if s > 0:
            # A meter's P is the mean of u·i over the same samples as its U and I, so |P| <= U·I
            # (Cauchy-Schwarz): noise drawn apart for P must not break that, or λ = P/S leaves ±1.
            p = max(-s, min(s, p))
        pf = max(-1.0, min(1.0, p / s)) if s > 0 else _NAN
        q = math.sqrt(max(s * s - p * p, 0.0))
        phase = math.degrees(math.acos(pf)) if s > 0 else _NAN
        true_pf = m.power_factor if not math.isnan(m.power_factor) else 1.0
        half = m.voltage_peak_v * m.current_peak_a / 2.0
        peaks = Peaks(m.voltage_peak_v, -m.voltage_peak_v, m.current_peak_a, -m.current_peak_a,
                      half * (true_pf + 1.0), half * (true_pf - 1.0))
        fu = m.frequency_hz if u_d > 0 else _NAN
        fi = m.frequency_hz if i_d > 0 else _NAN
        if ovr_v:
            u_d = _NAN
            peaks = replace(peaks, u_plus_v=_NAN, u_minus_v=_NAN)
        if ovr_i:
            i_d = _NAN
            peaks = replace(peaks, i_plus_a=_NAN, i_minus_a=_NAN)
        ovr_p = ovr_v or ovr_i
        if ovr_p:
            p = s = q = pf = phase = _NAN
            peaks = replace(peaks, p_plus_w=_NAN, p_minus_w=_NAN)
        if no_data:
            u_d = i_d = p = s = q = pf = phase = fu = fi = _NAN
            peaks = _NAN_PEAKS
        self._count += 1
        update = Update(
            self._count, t1, t1 - t0, u_d, i_d, p, pf, s, q, phase, fu, fi, peaks,
            vr, ir, self._v_auto, self._i_auto, ovr_v, ovr_i, ovr_p, no_data, self._integrator.value,
        )
        if not no_data:  # the meter does not judge ranges on a settling update
            self._after_update(t1, u, m.voltage_peak_v, i, m.current_peak_a, ovr_i)
        return update

    def _after_update(self, t1: int, u: float, u_pk: float, i: float, i_pk: float, ovr_i: bool) -> None:
        """Auto ranging and mA protection, decided on this update, in force from the next one."""
        changed = False
        if self._v_auto:
            k = self._auto_step(self._v_idx, self._v_table, u, u_pk)
            changed, self._v_idx = k != self._v_idx, k
        if self._i_auto:
            k = self._auto_step(self._i_idx, self._i_table, i, i_pk)
            changed, self._i_idx = changed or k != self._i_idx, k
        elif ovr_i and self.model in ("WT310", "WT310E") and self._i_table[self._i_idx] < 0.5:
            # mA-range protection: excessive input forces 1 A (0.5 A at CF6/6A) and auto on.
            self._i_idx = self._index(0.5 if self.crest_factor != "3" else 1.0, self._i_table)
            self._i_auto = True
            changed = True
            log.info("simulated %s: mA-range protection, current range forced to %g A", self.model,
                     self._i_table[self._i_idx])
        if changed:
            self._no_data_until_ns = t1 + self._interval_ns

    # ----- integration (integrator.py) -----

    @property
    def integration(self) -> Integration:
        """The integrator's state and values as of the last completed update."""
        with self._lock:
            return self._integrator.value

    def set_integration_mode(self, mode: str) -> None:
        """NORM (stops at the timer) or CONT (restarts at the timer)."""
        with self._lock:
            self._integrator.set_mode(mode)

    def set_integration_timer(self, hours: int, minutes: int = 0, seconds: int = 0) -> None:
        """Timer h, m, s (0 = no limit in NORM mode)."""
        with self._lock:
            self._integrator.set_timer(hours, minutes, seconds)

    def integration_start(self) -> None:
        """START from RESET or STOP; 842 when already started or timed up."""
        with self._lock:
            self.advance()
            self._integrator.start(self.clock.now_ns())

    def integration_stop(self) -> None:
        """STOP a started integration; 844 otherwise."""
        with self._lock:
            self.advance()
            self._integrator.stop(self.clock.now_ns())

    def integration_reset(self) -> None:
        """RESET values; 845 while started."""
        with self._lock:
            self.advance()
            self._integrator.reset()


def _interval_ns(interval_s: float) -> int:
    for choice in UPDATE_CHOICES_S:
        if abs(float(interval_s) - choice) < 1e-9:
            return round(choice * NS_PER_S)
    raise MeterError(*E_OUT_OF_RANGE)


__all__ = [
    "Clock", "SystemClock", "ManualClock", "Meter", "MeterError", "Update", "Peaks", "Integration",
    "MODELS", "UPDATE_CHOICES_S", "CREST_FACTORS", "INTEG_MODES", "E_OUT_OF_RANGE", "E_INTEG_BUSY",
    "E_INTEG_STARTED", "E_INTEG_NOT_STARTED", "E_INTEG_RESET_STARTED",
]
