"""The meter's integrator: RESET -> START -> STOP (-> RESET), TIMEUP; WH/WHP/WHM, AH, TIME; 8xx errors.

Each completed update contributes its average power over the part of its interval that lies inside an
integration window, so WH is exact for the simulated load. Error codes from yoko-tool (analyzers.md §8).
"""

from __future__ import annotations

from dataclasses import replace
from typing import List, Optional

from power.simulators.clock import NS_PER_S
from power.simulators.readings import (
    E_INTEG_BUSY,
    E_INTEG_NOT_STARTED,
    E_INTEG_RESET_STARTED,
    E_INTEG_STARTED,
    E_OUT_OF_RANGE,
    Integration,
    MeterError,
)

INTEG_MODES = ("NORM", "CONT")


class Integrator:
    """Integration state; the Meter calls accumulate() for each completed update."""

    def __init__(self) -> None:
        self.value = Integration()
        self._windows: List[List[Optional[int]]] = []  # [since_ns, until_ns or None]

    def check_reset(self) -> None:
        """813 unless the integrator is in RESET (ranges, mode, rate may not change)."""
        if self.value.state != "RESET":
            raise MeterError(*E_INTEG_BUSY)

    def set_mode(self, mode: str) -> None:
        """NORM (stops at the timer) or CONT (restarts at the timer)."""
        if mode.upper()[:4] not in INTEG_MODES:
            raise MeterError(*E_OUT_OF_RANGE)
        self.check_reset()
        self.value = replace(self.value, mode=mode.upper()[:4])

    def set_timer(self, hours: int, minutes: int = 0, seconds: int = 0) -> None:
        """Timer h, m, s (0 = no limit in NORM mode); up to 10000 h."""
        total = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
        if not (0 <= minutes < 60 and 0 <= seconds < 60 and 0 <= total <= 10000 * 3600):
            raise MeterError(*E_OUT_OF_RANGE)
        self.check_reset()
        self.value = replace(self.value, timer_s=total)

    def start(self, now_ns: int) -> None:
        """START from RESET or STOP; 842 when already started or timed up."""
        if self.value.state in ("START", "TIMEUP"):
            raise MeterError(*E_INTEG_STARTED)
        self._windows.append([now_ns, None])
        self.value = replace(self.value, state="START")

    def stop(self, now_ns: int) -> None:
        """STOP a started integration; 844 otherwise."""
        if self.value.state != "START":
            raise MeterError(*E_INTEG_NOT_STARTED)
        self._windows[-1][1] = now_ns
        self.value = replace(self.value, state="STOP")

    def reset(self, keep_settings: bool = True) -> None:
        """RESET values; 845 while started."""
        if self.value.state == "START":
            raise MeterError(*E_INTEG_RESET_STARTED)
        self._windows = []
        self.value = Integration(mode=self.value.mode, timer_s=self.value.timer_s) if keep_settings else Integration()

    def accumulate(self, t0: int, t1: int, p: float, i: float, clip_w: float) -> None:
        """Add the update [t0, t1) at power p (W, clipped at clip_w) and current i (A)."""
        if not self._windows:
            return
        p = max(-clip_w, min(clip_w, p))  # integration clips samples beyond ~333 % of range
        g = self.value
        wh, whp, whm, ah, time_s = g.wh, g.whp, g.whm, g.ah, g.time_s
        state = g.state
        windows = self._windows
        for since, until in windows:
            end = t1 if until is None else min(t1, until)
            dt_s = max(0, end - max(t0, since)) / NS_PER_S
            while dt_s > 0:
                step = dt_s
                if g.timer_s and time_s + step >= g.timer_s:
                    step = g.timer_s - time_s
                e_wh, e_ah = p * step / 3600.0, i * step / 3600.0
                wh, ah, time_s = wh + e_wh, ah + e_ah, time_s + step
                whp, whm = (whp + e_wh, whm) if e_wh >= 0 else (whp, whm + e_wh)
                dt_s -= step
                if g.timer_s and time_s >= g.timer_s - 1e-12:
                    if g.mode == "NORM":
                        state, dt_s = "TIMEUP", 0
                        windows = []
                    else:
                        wh = whp = whm = ah = time_s = 0.0
        self._windows = [w for w in windows if w[1] is None or w[1] > t1]
        self.value = replace(g, state=state, wh=wh, whp=whp, whm=whm, ah=ah, ahp=ah, ahm=0.0, time_s=time_s)
