"""What the simulated meter produces: Updates (with peaks and integration values) and its error type."""

from __future__ import annotations

from dataclasses import dataclass

from power.errors import PowerError


class MeterError(PowerError):
    """An error the instrument would put in its error queue: code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code},\"{message}\"")
        self.code = code
        self.text = message


# Yokogawa numbers the IEEE 488.2 errors as positive codes (222 "Data out of range"); the exact WT300E
# numbering is unverified (analyzers.md §8). The 8xx codes are from yoko-tool's handlers.
E_OUT_OF_RANGE = (222, "Data out of range")
E_INTEG_BUSY = (813, "Operation not allowed during integration")
E_INTEG_STARTED = (842, "Integration already started")
E_INTEG_NOT_STARTED = (844, "Integration not started")
E_INTEG_RESET_STARTED = (845, "Cannot reset during integration")


@dataclass(frozen=True)
class Peaks:
    """Signal peaks over one update: u_plus_v, u_minus_v (V), i_plus_a, i_minus_a (A), p_plus_w, p_minus_w (W)."""

    u_plus_v: float
    u_minus_v: float
    i_plus_a: float
    i_minus_a: float
    p_plus_w: float
    p_minus_w: float


@dataclass(frozen=True)
class Integration:
    """Integrator state and values: wh/whp/whm (Wh), ah/ahp/ahm (Ah), time_s (s)."""

    state: str = "RESET"
    mode: str = "NORM"
    timer_s: int = 0
    wh: float = 0.0
    whp: float = 0.0
    whm: float = 0.0
    ah: float = 0.0
    ahp: float = 0.0
    ahm: float = 0.0
    time_s: float = 0.0


@dataclass(frozen=True)
class Update:
    """One completed update: averages over [t_end_ns - interval_ns, t_end_ns). Flagged values are NaN.

    Units: voltage_v (V), current_a (A), power_w (W), apparent_va (VA), reactive_var (var), phase_deg (°),
    freq_u_hz / freq_i_hz (Hz), ranges in V and A. no_data wins over the overrange flags.
    """

    index: int
    t_end_ns: int
    interval_ns: int
    voltage_v: float
    current_a: float
    power_w: float
    power_factor: float
    apparent_va: float
    reactive_var: float
    phase_deg: float
    freq_u_hz: float
    freq_i_hz: float
    peaks: Peaks
    voltage_range_v: float
    current_range_a: float
    voltage_auto: bool
    current_auto: bool
    overrange_v: bool = False
    overrange_i: bool = False
    overrange_p: bool = False
    no_data: bool = False
    integration: Integration = Integration()

    @property
    def t_start_ns(self) -> int:
        """UTC ns at the start of the update interval."""
        return self.t_end_ns - self.interval_ns
