"""The WT210 remote protocol in its "488.2" mode: :CONFigure / :MEASure commands over a simulated Meter.

Facts: analyzers.md §2, §7 and §10 (yoko-tool's _wt210.py). Outside 488.2 mode the meter stays silent.
"""

from __future__ import annotations

import logging
import math
from typing import Callable, Dict, Optional, Tuple

from power.simulators.meter import Clock, Meter, Update
from power.simulators.scpi import Bare, Scpi488, Unit
from power.simulators.scpi_syntax import E_OUT_OF_RANGE, fail, nr3, parse_bool, parse_number
from power.simulators.truth import Truth
from power.simulators.wt300 import rate_text

log = logging.getLogger(__name__)

# Fixed output order of :MEAS:VAL? (analyzers.md §10); value getter, significant digits, overrange kind.
_Getter = Callable[[Update], float]
ITEMS: Tuple[Tuple[str, _Getter, int, str], ...] = (
    ("V", lambda u: u.voltage_v, 4, "v"),
    ("A", lambda u: u.current_a, 4, "i"),
    ("W", lambda u: u.power_w, 4, "p"),
    ("VA", lambda u: u.apparent_va, 4, "p"),
    ("VAR", lambda u: u.reactive_var, 4, "p"),
    ("PF", lambda u: u.power_factor, 4, "p"),
    ("DEGR", lambda u: u.phase_deg, 4, "p"),
    ("VHZ", lambda u: u.freq_u_hz, 4, "v"),
    ("AHZ", lambda u: u.freq_i_hz, 4, "i"),
    ("WH", lambda u: u.integration.wh, 6, ""),
    ("WHP", lambda u: u.integration.whp, 6, ""),
    ("WHM", lambda u: u.integration.whm, 6, ""),
    ("AH", lambda u: u.integration.ah, 6, ""),
    ("AHP", lambda u: u.integration.ahp, 6, ""),
    ("AHM", lambda u: u.integration.ahm, 6, ""),
    ("VPK", lambda u: u.peaks.u_plus_v, 4, "v"),
    ("APK", lambda u: u.peaks.i_plus_a, 4, "i"),
    ("TIME", lambda u: u.integration.time_s, 0, ""),
    ("MATH", lambda u: math.nan, 4, ""),
)
# Items on after reset: unverified; V, A, W is what every WT210 user reads.
DEFAULT_ON = ("V", "A", "W")
OVERRANGE = "9.9E+37"
NO_DATA = "9.91E+37"


class WT210:
    """A WT210 meter's remote interface; mode_4882=False models a meter left in its legacy mode (silent)."""

    model = "WT210"

    def __init__(
        self,
        truth: Optional[Truth] = None,
        clock: Optional[Clock] = None,
        update_s: float = 0.1,
        seed: int = 0,
        noise: bool = True,
        terminator: bytes = b"\r\n",
        idn: str = "YOKOGAWA,WT210,91K000001,F3.01",
        mode_4882: bool = True,
        meter: Optional[Meter] = None,
        **_ignored: object,
    ) -> None:
        meter = meter or Meter("WT210", truth, clock, update_s, "3", seed, noise)
        self.engine = Scpi488([meter], idn, terminator)
        self.meter = meter
        self.mode_4882 = mode_4882
        self.items_on: Dict[str, bool] = {name: name in DEFAULT_ON for name, *_ in ITEMS}
        self.hold = False
        self._held_update: Optional[Update] = None
        self.settings: Dict[str, str] = {}
        self._register()

    # ----- bytes -----

    def write(self, data: bytes) -> None:
        """Receive bytes; ignored unless the meter is in 488.2 mode."""
        if self.mode_4882:
            self.engine.write(data)
        else:
            self.meter.advance()

    def read(self, max_bytes: Optional[int] = None) -> bytes:
        """Take pending reply bytes."""
        return self.engine.read(max_bytes)

    def feed(self, data: bytes) -> bytes:
        """write, tick, read."""
        self.write(data)
        self.tick()
        return self.read()

    def tick(self) -> None:
        """Follow the meter clock."""
        self.engine.tick()

    def pending_output(self) -> int:
        """Reply bytes not yet taken."""
        return self.engine.pending_output()

    @property
    def meters(self) -> list:
        """The single measuring element."""
        return self.engine.meters

    def next_event_ns(self) -> int:
        """UTC ns of the next update completion."""
        return self.meter.next_update_ns()

    # ----- commands -----

    def _register(self) -> None:
        e = self.engine
        on = e.on
        on("*RST", setter=self._rst)
        on(":CONFigure:VOLTage[:RANGe]", setter=lambda u: self._range(u, "v"),
           getter=lambda u: nr3(self.meter.ranges().voltage_v, 4))
        on(":CONFigure:CURRent[:RANGe]", setter=lambda u: self._range(u, "i"),
           getter=lambda u: nr3(self.meter.ranges().current_a, 4))
        on(":CONFigure:VOLTage:AUTO", setter=lambda u: self.meter.set_auto("v", parse_bool(e.one(u))),
           getter=lambda u: "1" if self.meter.ranges().voltage_auto else "0")
        on(":CONFigure:CURRent:AUTO", setter=lambda u: self.meter.set_auto("i", parse_bool(e.one(u))),
           getter=lambda u: "1" if self.meter.ranges().current_auto else "0")
        on(":CONFigure:MODE", setter=lambda u: self.meter.set_mode(e.word(e.one(u), ("RMS", "VMEan", "DC"))),
           getter=lambda u: self.meter.mode)
        on(":CONFigure:CFACtor", setter=self._cfac, getter=lambda u: self.meter.crest_factor)
        on(":CONFigure:WIRing", getter=lambda u: "P1W2")
        for name in (":CONFigure:LFILTer", ":CONFigure:FILTer", ":CONFigure:MHOLd", ":CONFigure:AVERaging:STATe"):
            on(name, setter=self._flag(name), getter=lambda u, n=name: self.settings.get(n, "0"))
        on(":CONFigure:SYNChronize", setter=lambda u: self._store("SYNC", e.word(e.one(u), ("VOLTage", "CURRent", "OFF"))),
           getter=lambda u: self.settings.get("SYNC", "CURR"))
        on(":CONFigure:AVERaging:TYPE", setter=self._aver_type,
           getter=lambda u: self.settings.get("AVTYPE", "LIN,8"))
        on(":SAMPle:RATE", setter=lambda u: self.meter.set_update_interval(parse_number(e.one(u), "S")),
           getter=lambda u: rate_text(self.meter.interval_ns))
        on(":SAMPle:HOLD", setter=self._hold, getter=lambda u: "1" if self.hold else "0")
        for name, *_ in ITEMS:
            on(f":MEASure:ITEM:{name}", setter=self._item_set(name),
               getter=lambda u, n=name: "1" if self.items_on[n] else "0")
        on(":MEASure:VALue", getter=self._values)
        on(":MATH:TYPE", setter=lambda u: self._store("MATH", e.word(e.one(u), ("CFACtor", "AVERage", "ARIThmetic"))),
           getter=lambda u: self.settings.get("MATH", "CFAC"))
        for name in (":MATH:CFACtor", ":MATH:AVERage", ":MATH:ARIThmetic"):
            on(name, setter=lambda u, n=name: self._store(n, ",".join(u.params)),
               getter=lambda u, n=name: self.settings.get(n, ""))
        on(":INTEGrate:STARt", setter=lambda u: self.meter.integration_start())
        on(":INTEGrate:STOP", setter=lambda u: self.meter.integration_stop())
        on(":INTEGrate:RESet", setter=lambda u: self.meter.integration_reset())
        on(":INTEGrate:TIMer", setter=self._integ_timer)

    def _store(self, key: str, value: str) -> None:
        self.settings[key] = value

    def _flag(self, name: str) -> Callable[[Unit], None]:
        return lambda u: self._store(name, "1" if parse_bool(self.engine.one(u)) else "0")

    def _item_set(self, name: str) -> Callable[[Unit], None]:
        def set_item(unit: Unit) -> None:
            self.items_on[name] = parse_bool(self.engine.one(unit))

        return set_item

    def _rst(self, unit: Unit) -> None:
        self.meter.reset()
        self.items_on = {name: name in DEFAULT_ON for name, *_ in ITEMS}
        self.hold = False
        self.settings.clear()

    def _cfac(self, unit: Unit) -> None:
        value = self.engine.one(unit)
        if value not in ("3", "6"):
            raise fail(E_OUT_OF_RANGE)
        self.meter.set_crest_factor(value)

    def _range(self, unit: Unit, which: str) -> None:
        value = parse_number(self.engine.one(unit), "V" if which == "v" else "A")
        if which == "v":
            self.meter.set_voltage_range(value)
        else:
            self.meter.set_current_range(value)

    def _aver_type(self, unit: Unit) -> None:
        if len(unit.params) != 2:
            raise fail(E_OUT_OF_RANGE)
        kind = self.engine.word(unit.params[0], ("LINear", "EXPonent"))
        self._store("AVTYPE", f"{kind[:3]},{int(parse_number(unit.params[1]))}")

    def _hold(self, unit: Unit) -> None:
        self.hold = parse_bool(self.engine.one(unit))
        self._held_update = self.meter.latest if self.hold else None

    def _integ_timer(self, unit: Unit) -> None:
        parts = [int(parse_number(p)) for p in unit.params if p]
        if not 1 <= len(parts) <= 3:
            raise fail(E_OUT_OF_RANGE)
        self.meter.set_integration_timer(*parts)

    def _values(self, unit: Unit) -> str:
        update = self._held_update if self.hold and self._held_update else self.meter.latest
        texts = []
        for name, getter, digits, kind in ITEMS:
            if not self.items_on[name]:
                continue
            if update is None or (update.no_data and digits == 4):
                texts.append(NO_DATA)
                continue
            value = getter(update)
            if math.isnan(value):
                flag = {"v": update.overrange_v, "i": update.overrange_i, "p": update.overrange_p}.get(kind, False)
                texts.append(OVERRANGE if flag else NO_DATA)
            else:
                texts.append(str(int(value + 1e-6)) if digits == 0 else nr3(value, digits))
        return Bare(",".join(texts))
