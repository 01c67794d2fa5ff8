"""The WT310/WT310E/WT310EH/WT332E/WT333E remote protocol ("WT300" command set) over simulated Meters.

Feed it bytes (feed/write), take replies (read), call tick() as time passes. Facts: analyzers.md §3-§8, §15.
"""

from __future__ import annotations

import logging
import math
import struct
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from power.analyzer import AUTO
from power.simulators.meter import E_OUT_OF_RANGE as M_OUT_OF_RANGE
from power.simulators.meter import Clock, Meter, MeterError, Update
from power.simulators.scpi import Bare, Scpi488, Unit
from power.simulators.scpi_syntax import E_OUT_OF_RANGE, fail, nr3, parse_bool, parse_number
from power.simulators.truth import Truth

log = logging.getLogger(__name__)

ELEMENTS = {"WT310": 1, "WT310E": 1, "WT310EH": 1, "WT332": 2, "WT332E": 2, "WT333": 3, "WT333E": 3}
# *IDN? model field: the WT310 reply is real; the E-series spelling is unverified (analyzers.md §4).
SERIALS = {"WT310": "C2PH13047V", "WT333": "C2SF14011V"}
FIRMWARE = {"WT310": "F1.03", "WT333": "F1.01EM"}

# Item functions (analyzers.md §5). Value, number of significant digits (0 = NR1 integer).
_Getter = Callable[[Update], float]
FUNCTIONS: Dict[str, Tuple[_Getter, int, str]] = {
    "U": (lambda u: u.voltage_v, 5, "v"),
    "I": (lambda u: u.current_a, 5, "i"),
    "P": (lambda u: u.power_w, 5, "p"),
    "S": (lambda u: u.apparent_va, 5, "p"),
    "Q": (lambda u: u.reactive_var, 5, "p"),
    "LAMBDA": (lambda u: u.power_factor, 5, "p"),
    "PHI": (lambda u: u.phase_deg, 5, "p"),
    "FU": (lambda u: u.freq_u_hz, 5, "v"),
    "FI": (lambda u: u.freq_i_hz, 5, "i"),
    "UPPEAK": (lambda u: u.peaks.u_plus_v, 5, "v"),
    "UMPEAK": (lambda u: u.peaks.u_minus_v, 5, "v"),
    "IPPEAK": (lambda u: u.peaks.i_plus_a, 5, "i"),
    "IMPEAK": (lambda u: u.peaks.i_minus_a, 5, "i"),
    "PPPEAK": (lambda u: u.peaks.p_plus_w, 5, "p"),
    "PMPEAK": (lambda u: u.peaks.p_minus_w, 5, "p"),
    "WH": (lambda u: u.integration.wh, 6, ""),
    "WHP": (lambda u: u.integration.whp, 6, ""),
    "WHM": (lambda u: u.integration.whm, 6, ""),
    "AH": (lambda u: u.integration.ah, 6, ""),
    "AHP": (lambda u: u.integration.ahp, 6, ""),
    "AHM": (lambda u: u.integration.ahm, 6, ""),
    "TIME": (lambda u: u.integration.time_s, 0, ""),
    "MATH": (lambda u: math.nan, 5, ""),
    "URANGE": (lambda u: u.voltage_range_v, 5, ""),
    "IRANGE": (lambda u: u.current_range_a, 5, ""),
}
# Default items after *RST (IM WT310-17EN Modbus map): U I P S Q LAMBDA PHI FU FI NONE.
DEFAULT_ITEMS = ("U", "I", "P", "S", "Q", "LAMBDA", "PHI", "FU", "FI", "NONE")


class WT300:
    """A WT300-series meter's remote interface: Scpi488 engine plus the WT300 command table."""

    def __init__(
        self,
        model: str = "WT310E",
        truth: Optional[Truth] = None,
        clock: Optional[Clock] = None,
        update_s: float = 0.1,
        seed: int = 0,
        noise: bool = True,
        terminator: bytes = b"\r\n",
        overrange: str = "INF",
        no_data: str = "NAN",
        idn: Optional[str] = None,
        meters: Optional[Sequence[Meter]] = None,
    ) -> None:
        self.model = model.upper()
        if self.model not in ELEMENTS:
            raise MeterError(*M_OUT_OF_RANGE) from None
        if meters is None:
            meters = [
                Meter(self.model, truth, clock, update_s, "3", seed + k, noise) for k in range(ELEMENTS[self.model])
            ]
        base = self.model.rstrip("EH") if self.model != "WT310EH" else "WT310"
        idn = idn or f"YOKOGAWA,{self.model},{SERIALS.get(base, 'C2PH00001V')},{FIRMWARE.get(base, 'F1.03')}"
        self.engine = Scpi488(meters, idn, terminator)
        self.engine.on_update = self._on_update  # type: ignore[assignment]
        self.meter = self.engine.meter
        # ASCII encodings of overrange / no data; INF / NAN is the probable WT310E form (analyzers.md §7,
        # unverified), 9.9E+37 / 9.91E+37 the WT210 and FLOAT-like one.
        self.overrange_text, self.no_data_text = overrange, no_data
        self.remote = False
        self.command_set = "WT300"
        self.numeric_format = "ASCII"
        self.items: List[Tuple[str, int]] = []
        self.hold = False
        self._held_update: Optional[Update] = None
        self.settings: Dict[str, str] = {}
        self._preset_items()
        self._register()

    # ----- the engine's byte interface -----

    def write(self, data: bytes) -> None:
        """Receive bytes from the controller."""
        self.engine.write(data)

    def read(self, max_bytes: Optional[int] = None) -> bytes:
        """Take pending reply bytes."""
        return self.engine.read(max_bytes)

    def feed(self, data: bytes) -> bytes:
        """write, tick, read: the whole exchange for tests."""
        return self.engine.feed(data)

    def tick(self) -> None:
        """Follow the meter clock: complete updates, release :COMM:WAIT."""
        self.engine.tick()

    def pending_output(self) -> int:
        """Reply bytes not yet taken."""
        return self.engine.pending_output()

    @property
    def meters(self) -> List[Meter]:
        """The measuring elements (1 on a WT310E, 3 on a WT333E)."""
        return self.engine.meters

    def next_event_ns(self) -> int:
        """UTC ns of the next update completion (when tick() has something to do)."""
        return self.meter.next_update_ns()

    # ----- state -----

    def _preset_items(self) -> None:
        self.items = [(name, 1) for name in DEFAULT_ITEMS]

    def _on_update(self, update: Update, others: Sequence[Update]) -> None:
        if not self.hold:
            self._held_update = None

    def _latest(self, element: int) -> Optional[Update]:
        meter = self.meters[element - 1]
        if self.hold and self._held_update is not None and element == 1:
            return self._held_update
        return meter.latest

    def encode(self, value: float, digits: int, overrange: bool, no_data: bool) -> str:
        """One item value as the meter sends it: NR3, NR1 for TIME, or the overrange/no-data text."""
        if no_data:
            return self.no_data_text
        if math.isnan(value):
            return self.overrange_text if overrange else self.no_data_text
        if digits == 0:
            return str(int(value + 1e-6))  # TIME: whole seconds
        return nr3(value, digits)

    def item_text(self, name: str, element: int) -> str:
        """The reply text for one item."""
        if name == "NONE":
            return self.no_data_text
        update = self._latest(element)
        if update is None:
            return self.no_data_text
        getter, digits, kind = FUNCTIONS[name]
        flag = {"v": update.overrange_v, "i": update.overrange_i, "p": update.overrange_p}.get(kind, False)
        no_data = update.no_data and name not in ("URANGE", "IRANGE") and digits != 6 and digits != 0
        return self.encode(getter(update), digits, flag, no_data)

    # ----- command table -----

    def _all(self, action: Callable[[Meter], None]) -> None:
        for meter in self.meters:
            action(meter)

    def _register(self) -> None:
        e = self.engine
        on = e.on
        on("*RST", setter=self._rst)
        on("*OPT", getter=lambda u: "C2")
        on("*CAL", getter=lambda u: "0")
        on(":COMMunicate:REMote", setter=lambda u: setattr(self, "remote", parse_bool(e.one(u))),
           getter=lambda u: "1" if self.remote else "0")
        on(":COMMunicate:LOCKout", setter=lambda u: self._store("LOCK", str(int(parse_bool(e.one(u))))),
           getter=lambda u: self.settings.get("LOCK", "0"))
        on(":SYSTem:COMMunicate:COMMand", setter=self._command_set,
           getter=lambda u: self.command_set)
        on(":INPut:MODE", setter=lambda u: self._all(lambda m: m.set_mode(e.word(e.one(u), ("RMS", "VMEAN", "DC")))),
           getter=lambda u: self.meter.mode)
        on(":INPut:CFACtor", setter=self._cfac, getter=lambda u: self.meter.crest_factor)
        on(":INPut:VOLTage[:RANGe]", setter=lambda u: self._range(u, "v"), getter=lambda u: self._range_q("v"))
        on(":INPut:CURRent[:RANGe]", setter=lambda u: self._range(u, "i"), getter=lambda u: self._range_q("i"))
        on(":INPut:VOLTage:AUTO", setter=lambda u: self._all(lambda m: m.set_auto("v", parse_bool(e.one(u)))),
           getter=lambda u: "1" if self.meter.ranges().voltage_auto else "0")
        on(":INPut:CURRent:AUTO", setter=lambda u: self._all(lambda m: m.set_auto("i", parse_bool(e.one(u)))),
           getter=lambda u: "1" if self.meter.ranges().current_auto else "0")
        for name in (":INPut:FILTer:LINE", ":INPut:FILTer:FREQuency", ":MEASure:MHOLd", ":SYSTem:KLOCk",
                     ":MEASure:AVERaging[:STATe]"):
            on(name, setter=self._bool_setting(name), getter=self._setting_q(name, "0"))
        on(":INPut:SYNChronize", setter=lambda u: self._store("SYNC", e.word(e.one(u), ("VOLTage", "CURRent", "OFF"))),
           getter=lambda u: self.settings.get("SYNC", "CURR"))
        on(":INPut:WIRing", getter=lambda u: "P1W2" if len(self.meters) == 1 else "P1W3")
        on(":MEASure:AVERaging:TYPE", setter=lambda u: self._store("AVTYPE", e.word(e.one(u), ("LINear", "EXPonent"))),
           getter=lambda u: e.choice_reply(self.settings.get("AVTYPE", "LINEAR"), 3))
        on(":MEASure:AVERaging:COUNt", setter=self._aver_count, getter=lambda u: self.settings.get("AVCOUNT", "8"))
        on(":SYSTem:RESolution", setter=lambda u: self._store("RES", e.word(e.one(u), ("4", "5"))),
           getter=lambda u: self.settings.get("RES", "5"))
        on(":MATH", setter=lambda u: self._store("MATH", e.one(u).upper()), getter=lambda u: self.settings.get("MATH", "CFU1"))
        for prefix in (":SAMPle", ""):
            on(prefix + ":RATE", setter=self._rate, getter=self._rate_q)
            on(prefix + ":HOLD", setter=self._hold, getter=lambda u: "1" if self.hold else "0")
        on(":NUMeric:FORMat", setter=self._format,
           getter=lambda u: e.choice_reply(self.numeric_format, 3))
        on(":NUMeric[:NORMal]:NUMber", setter=self._count, getter=lambda u: str(len(self.items)))
        on(":NUMeric[:NORMal]:ITEM#", setter=self._item, getter=self._item_q)
        on(":NUMeric[:NORMal]:CLEar", setter=self._clear)
        on(":NUMeric[:NORMal]:PRESet", setter=lambda u: self._preset_items())
        on(":NUMeric[:NORMal]:VALue", getter=self._values)
        on(":INTEGrate:MODE", setter=lambda u: self.meter.set_integration_mode(e.word(e.one(u), ("NORMal", "CONTinuous"))),
           getter=lambda u: e.choice_reply({"NORM": "NORMAL", "CONT": "CONTINUOUS"}[self.meter.integration.mode]))
        on(":INTEGrate:TIMer", setter=self._integ_timer, getter=self._integ_timer_q)
        on(":INTEGrate:STARt", setter=lambda u: self.meter.integration_start())
        on(":INTEGrate:STOP", setter=lambda u: self.meter.integration_stop())
        on(":INTEGrate:RESet", setter=lambda u: self.meter.integration_reset())
        on(":INTEGrate:STATe", getter=lambda u: self.meter.integration.state)

    def _store(self, key: str, value: str) -> None:
        self.settings[key] = value

    def _bool_setting(self, name: str) -> Callable[[Unit], None]:
        return lambda u: self._store(name, "1" if parse_bool(self.engine.one(u)) else "0")

    def _setting_q(self, name: str, default: str) -> Callable[[Unit], str]:
        return lambda u: self.settings.get(name, default)

    def _rst(self, unit: Unit) -> None:
        # *RST defaults (largest ranges, auto off, items preset) are unverified; communication settings stay.
        for meter in self.meters:
            meter.reset()
        self._preset_items()
        self.numeric_format = "ASCII"
        self.hold = False
        self.settings.clear()

    def _command_set(self, unit: Unit) -> None:
        self.command_set = self.engine.word(self.engine.one(unit), ("WT300", "WT200"))

    def _cfac(self, unit: Unit) -> None:
        value = self.engine.one(unit).upper()
        if value not in ("3", "6", "6A") or (value == "6A" and self.model not in ("WT310E", "WT310EH")):
            raise fail(E_OUT_OF_RANGE)
        self._all(lambda m: m.set_crest_factor(value))

    def _range(self, unit: Unit, which: str) -> None:
        text = self.engine.one(unit)
        if text.upper() == "AUTO":  # not a WT300 form; accepted as a convenience
            self._all(lambda m: m.set_auto(which, True))
            return
        value = parse_number(text, "V" if which == "v" else "A")
        if which == "v":
            self._all(lambda m: m.set_voltage_range(value))
        else:
            self._all(lambda m: m.set_current_range(value))

    def _range_q(self, which: str) -> str:
        ranges = self.meter.ranges()
        return nr3(ranges.voltage_v if which == "v" else ranges.current_a, 4)

    def _rate(self, unit: Unit) -> None:
        value = parse_number(self.engine.one(unit), "S")
        self._all(lambda m: m.set_update_interval(value))

    def _rate_q(self, unit: Unit) -> str:
        return rate_text(self.meter.interval_ns)

    def _hold(self, unit: Unit) -> None:
        self.hold = parse_bool(self.engine.one(unit))
        self._held_update = self.meter.latest if self.hold else None

    def _format(self, unit: Unit) -> None:
        self.numeric_format = self.engine.word(self.engine.one(unit), ("ASCii", "FLOat"))

    def _aver_count(self, unit: Unit) -> None:
        value = self.engine.one(unit)
        if value not in ("8", "16", "32", "64"):
            raise fail(E_OUT_OF_RANGE)
        self._store("AVCOUNT", value)

    def _count(self, unit: Unit) -> None:
        n = int(parse_number(self.engine.one(unit)))
        if not 1 <= n <= 255:
            raise fail(E_OUT_OF_RANGE)
        if n > 10:
            log.warning("simulated %s: %d numeric items (real drivers cap the WT310 at 10)", self.model, n)
        self.items = (self.items + [("NONE", 1)] * n)[:n]

    def _item(self, unit: Unit) -> None:
        x = unit.suffixes[0] if unit.suffixes else 1
        if not unit.params or not unit.params[0]:
            raise fail(E_OUT_OF_RANGE)
        name = unit.params[0].strip().upper()
        element = int(parse_number(unit.params[1])) if len(unit.params) > 1 else 1
        if not 1 <= x <= 255 or (name not in FUNCTIONS and name != "NONE") or not 1 <= element <= len(self.meters):
            raise fail(E_OUT_OF_RANGE)
        if x > len(self.items):
            self.items += [("NONE", 1)] * (x - len(self.items))
        self.items[x - 1] = (name, element)

    def _item_q(self, unit: Unit) -> str:
        x = unit.suffixes[0] if unit.suffixes else 1
        if not 1 <= x <= len(self.items):
            raise fail(E_OUT_OF_RANGE)
        name, element = self.items[x - 1]
        return name if name == "NONE" else f"{name},{element}"

    def _clear(self, unit: Unit) -> None:
        text = self.engine.one(unit).upper()
        if text == "ALL":
            self.items = [("NONE", 1)] * len(self.items)
            return
        x = int(parse_number(text))
        if not 1 <= x <= len(self.items):
            raise fail(E_OUT_OF_RANGE)
        self.items[x - 1] = ("NONE", 1)

    def _values(self, unit: Unit) -> str:
        items = self.items
        if unit.params and unit.params[0]:
            x = int(parse_number(unit.params[0]))
            if not 1 <= x <= len(items):
                raise fail(E_OUT_OF_RANGE)
            items = [items[x - 1]]
        texts = [self.item_text(name, element) for name, element in items]
        if self.numeric_format == "FLOAT":
            return Bare(_float_block(texts))
        return Bare(",".join(texts))

    def _integ_timer(self, unit: Unit) -> None:
        parts = [int(parse_number(p)) for p in unit.params if p]
        if not 1 <= len(parts) <= 3:
            raise fail(E_OUT_OF_RANGE)
        self.meter.set_integration_timer(*parts)

    def _integ_timer_q(self, unit: Unit) -> str:
        total = self.meter.integration.timer_s
        return f"{total // 3600},{total // 60 % 60},{total % 60}"


def rate_text(interval_ns: int) -> str:
    """Update interval as the meter prints it: `1.0E+00` (real), `100.0E-03`, `250.0E-03` (one decimal)."""
    text = nr3(interval_ns / 1e9, 5)
    mantissa, exponent = text.split("E")
    return f"{float(mantissa):.1f}E{exponent}"


def _float_block(texts: Sequence[str]) -> str:
    """FLOAT format: #4 + 4-digit byte count + big-endian float32 each (INF/NAN as IEEE specials)."""
    values = [float("inf") if t in ("INF", "9.9E+37") else float(t) for t in texts]
    payload = b"".join(struct.pack(">f", v) for v in values)
    return f"#4{len(payload):04d}" + payload.decode("latin-1")


def make(model: str, **kw: object) -> object:
    """The protocol object for a model name: WT300 for the WT3xx family, WT210 for the WT210."""
    if model.upper() == "WT210":
        from power.simulators.wt210 import WT210

        return WT210(**kw)  # type: ignore[arg-type]
    return WT300(model, **kw)  # type: ignore[arg-type]


__all__ = ["WT300", "make", "FUNCTIONS", "DEFAULT_ITEMS", "AUTO"]
