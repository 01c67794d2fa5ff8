"""Power truth sources for the simulated meter: what the wall socket really delivers, and its exact energy."""

from __future__ import annotations

import abc
import bisect
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence, Tuple, Union

from power.errors import FileFormatError, PowerError
from power.spl import parse_text, read_spl

SQRT2 = math.sqrt(2.0)
NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class Point:
    """Load at an instant or averaged over a window: RMS voltage_v (V), current_a (A), power_w (W), frequency_hz,
    and the signal peaks voltage_peak_v (V), current_peak_a (A)."""

    voltage_v: float
    current_a: float
    power_w: float
    frequency_hz: float
    voltage_peak_v: float
    current_peak_a: float

    @classmethod
    def of(
        cls,
        voltage_v: float,
        current_a: float,
        power_factor: float = 1.0,
        frequency_hz: float = 50.0,
        voltage_crest: float = SQRT2,
        current_crest: float = SQRT2,
    ) -> "Point":
        """A point from RMS values, the power factor and crest factors (sinusoid by default)."""
        return cls(
            voltage_v,
            current_a,
            voltage_v * current_a * power_factor,
            frequency_hz,
            abs(voltage_v) * voltage_crest,
            abs(current_a) * current_crest,
        )

    @classmethod
    def from_power(
        cls, power_w: float, voltage_v: float = 230.0, power_factor: float = 0.9, **kw: float
    ) -> "Point":
        """A point drawing power_w (W) at voltage_v with the given power factor."""
        current_a = abs(power_w) / (voltage_v * power_factor) if voltage_v and power_factor else 0.0
        return cls.of(voltage_v, current_a, math.copysign(power_factor, power_w) if power_w else power_factor, **kw)

    @property
    def power_factor(self) -> float:
        """P / (U·I); NaN when U·I is zero."""
        apparent = self.voltage_v * self.current_a
        return self.power_w / apparent if apparent else math.nan


class Truth(abc.ABC):
    """A source of true load: instantaneous values, window means and exact energy."""

    @abc.abstractmethod
    def at(self, t_ns: int) -> Point:
        """The load at UTC instant t_ns."""

    @abc.abstractmethod
    def mean(self, t0_ns: int, t1_ns: int) -> Point:
        """Time-average over [t0_ns, t1_ns): mean RMS values, mean power; peaks are the maxima."""

    @abc.abstractmethod
    def energy_j(self, t0_ns: int, t1_ns: int) -> float:
        """Exact energy (J) delivered over [t0_ns, t1_ns)."""


class Piecewise(Truth):
    """A step function of Points: segment k holds from starts_ns[k] until the next start.

    Before the first start the first point holds. With period_ns the whole script repeats.
    """

    def __init__(self, steps: Sequence[Tuple[int, Point]], period_ns: Optional[int] = None) -> None:
        if not steps:
            raise PowerError("a power script needs at least one step")
        ordered = sorted(steps, key=lambda s: s[0])
        self._starts: List[int] = [int(t) for t, _ in ordered]
        self._points: List[Point] = [p for _, p in ordered]
        self._period_ns = period_ns
        self._lock = threading.Lock()

    def _append(self, t_ns: int, point: Point) -> None:
        with self._lock:
            self._starts.append(int(t_ns))
            self._points.append(point)

    def _fold(self, t_ns: int) -> int:
        if self._period_ns:
            return self._starts[0] + (t_ns - self._starts[0]) % self._period_ns
        return t_ns

    def at(self, t_ns: int) -> Point:
        """The point in force at t_ns."""
        with self._lock:
            k = bisect.bisect_right(self._starts, self._fold(t_ns)) - 1
            return self._points[max(k, 0)]

    def _chunks(self, t0_ns: int, t1_ns: int) -> Iterable[Tuple[int, int]]:
        """Split [t0, t1) at period boundaries, folded into the first period."""
        if not self._period_ns:
            yield t0_ns, t1_ns
            return
        t = t0_ns
        while t < t1_ns:
            folded = self._fold(t)
            room = self._starts[0] + self._period_ns - folded
            step = min(room, t1_ns - t)
            yield folded, folded + step
            t += step

    def _integrals(self, t0_ns: int, t1_ns: int) -> Tuple[float, float, float, float, float, float]:
        """∫U, ∫I, ∫P, ∫f (value × ns) and the peak maxima over [t0, t1)."""
        su = si = sp = sf = 0.0
        upk = ipk = 0.0
        with self._lock:
            starts, points = self._starts, self._points
            last = len(starts) - 1
            for a, b in self._chunks(t0_ns, t1_ns):
                k = max(bisect.bisect_right(starts, a) - 1, 0)
                t = a
                while t < b:
                    end = min(starts[k + 1], b) if k < last else b
                    if end > t:
                        p = points[k]
                        dt = end - t
                        su += p.voltage_v * dt
                        si += p.current_a * dt
                        sp += p.power_w * dt
                        sf += p.frequency_hz * dt
                        upk = max(upk, p.voltage_peak_v)
                        ipk = max(ipk, p.current_peak_a)
                        t = end
                    k = min(k + 1, last)
        return su, si, sp, sf, upk, ipk

    def mean(self, t0_ns: int, t1_ns: int) -> Point:
        """Time-weighted mean over [t0_ns, t1_ns) (steps inside the window are weighted exactly)."""
        if t1_ns <= t0_ns:
            return self.at(t0_ns)
        su, si, sp, sf, upk, ipk = self._integrals(t0_ns, t1_ns)
        dt = float(t1_ns - t0_ns)
        return Point(su / dt, si / dt, sp / dt, sf / dt, upk, ipk)

    def energy_j(self, t0_ns: int, t1_ns: int) -> float:
        """Exact energy (J) over [t0_ns, t1_ns)."""
        if t1_ns <= t0_ns:
            return 0.0
        return self._integrals(t0_ns, t1_ns)[2] / NS_PER_S


class Constant(Piecewise):
    """A steady load: power_w (W) at voltage_v (V) and power_factor."""

    def __init__(
        self,
        power_w: float = 60.0,
        voltage_v: float = 230.0,
        power_factor: float = 0.9,
        frequency_hz: float = 50.0,
        current_crest: float = SQRT2,
    ) -> None:
        point = Point.from_power(
            power_w, voltage_v, power_factor, frequency_hz=frequency_hz, current_crest=current_crest
        )
        super().__init__([(0, point)])


class Scripted(Piecewise):
    """Steps at given UTC instants; a step may fall inside an update interval."""

    @classmethod
    def power_steps(
        cls,
        start_ns: int,
        steps_s: Sequence[Tuple[float, float]],
        voltage_v: float = 230.0,
        power_factor: float = 0.9,
        period_s: Optional[float] = None,
    ) -> "Scripted":
        """Steps given as (offset_s from start_ns, power_w)."""
        return cls(
            [(start_ns + round(off_s * NS_PER_S), Point.from_power(w, voltage_v, power_factor)) for off_s, w in steps_s],
            period_ns=round(period_s * NS_PER_S) if period_s else None,
        )


class SplReplay(Piecewise):
    """Replays an MLPerf spl.txt (Watts/Volts/Amps/PF per row), shifted so its first row starts at start_ns.

    Each row holds until the next one. Rows with V/A/PF = -1 (N/A) get voltage_v and power_factor defaults.
    With loop=True the recording repeats forever.
    """

    def __init__(
        self,
        source: Union[str, Path, Iterable[str]],
        start_ns: int,
        loop: bool = True,
        voltage_v: float = 230.0,
        power_factor: float = 0.9,
    ) -> None:
        # the MLPerf reader: its errors name the file and line, and what the row should hold
        if isinstance(source, (str, Path)):
            name, records = str(source), read_spl(source)
        else:
            name = "<spl>"
            records = parse_text("".join(line.rstrip("\r\n") + "\n" for line in source), name).records
        rows = [(r.t_ns, r.watts, r.volts, r.amps, r.pf) for r in records]
        if not rows:
            raise FileFormatError(f"{name}: no Time rows (expected spl.txt rows such as "
                                  "Time,MM-DD-YYYY HH:MM:SS.mmm,Watts,W,Volts,V,Amps,A,PF,PF)")
        t0 = rows[0][0]
        steps = []
        for t_ns, w, v, a, pf in rows:
            if v <= 0 or a < 0 or pf < 0 or pf > 1:
                point = Point.from_power(w, voltage_v, power_factor)
            else:
                point = Point(v, a, w, 50.0, v * SQRT2, a * SQRT2)
            steps.append((start_ns + t_ns - t0, point))
        spacing = (rows[-1][0] - t0) // (len(rows) - 1) if len(rows) > 1 else NS_PER_S
        super().__init__(steps, period_ns=(rows[-1][0] - t0 + spacing) if loop else None)
        self.rows = len(rows)


class CpuLoadCoupled(Piecewise):
    """idle_w + load_w × host CPU utilisation (psutil), recorded as it is observed so energy stays exact."""

    def __init__(
        self,
        idle_w: float = 5.0,
        load_w: float = 10.0,
        voltage_v: float = 230.0,
        power_factor: float = 0.9,
        utilisation: Optional[Callable[[], float]] = None,
        start_ns: int = 0,
    ) -> None:
        if utilisation is None:
            import psutil

            psutil.cpu_percent(None)
            utilisation = lambda: psutil.cpu_percent(None) / 100.0  # noqa: E731
        self._utilisation = utilisation
        self._idle_w, self._load_w = idle_w, load_w
        self._voltage_v, self._pf = voltage_v, power_factor
        self._observed_ns = start_ns
        super().__init__([(start_ns, Point.from_power(idle_w, voltage_v, power_factor))])

    def _observe(self, t_ns: int) -> None:
        if t_ns <= self._observed_ns:
            return
        load = min(max(float(self._utilisation()), 0.0), 1.0)
        point = Point.from_power(self._idle_w + self._load_w * load, self._voltage_v, self._pf)
        self._append(self._observed_ns, point)
        self._observed_ns = t_ns

    def mean(self, t0_ns: int, t1_ns: int) -> Point:
        """Mean over the window; utilisation since the last observation is attributed to the unseen part."""
        self._observe(t1_ns)
        return super().mean(t0_ns, t1_ns)
