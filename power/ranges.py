"""Range tables of the supported instruments, per model and crest factor, and rounding up to them."""

from __future__ import annotations

from typing import Dict, Tuple

from power.errors import PowerError

# IM WT310E-01EN §2 (via ../shared/reference/analyzers.md §6). Keys: crest factor "3", "6", "6A".
_VOLTAGE_CF3 = (15.0, 30.0, 60.0, 150.0, 300.0, 600.0)
_VOLTAGE_CF6 = (7.5, 15.0, 30.0, 75.0, 150.0, 300.0)

_CURRENT: Dict[str, Dict[str, Tuple[float, ...]]] = {
    "WT310E": {
        "3": (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0),
        "6": (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    },
    "WT310EH": {
        "3": (1.0, 2.0, 5.0, 10.0, 20.0, 40.0),
        "6": (0.5, 1.0, 2.5, 5.0, 10.0, 20.0),
    },
    "WT332E": {
        "3": (0.5, 1.0, 2.0, 5.0, 10.0, 20.0),
        "6": (0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    },
    # WT210: 15-600 V and 5 mA-20 A like the WT310 (reference marks this "unverified").
    "WT210": {
        "3": (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0),
        "6": (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    },
}
# Older models share their successor's table.
_ALIASES = {"WT310": "WT310E", "WT333E": "WT332E", "WT332": "WT332E", "WT333": "WT332E"}


def _family(model: str) -> str:
    name = model.upper()
    name = _ALIASES.get(name, name)
    if name not in _CURRENT:
        raise PowerError(f"no range table for analyzer model {model!r}")
    return name


def _cf_key(crest_factor: str) -> str:
    key = str(crest_factor).upper()
    if key == "6A":
        return "6"
    if key not in ("3", "6"):
        raise PowerError(f"crest factor must be 3, 6 or 6A, not {crest_factor!r}")
    return key


def voltage_ranges(model: str, crest_factor: str = "3") -> Tuple[float, ...]:
    """Voltage ranges (V) of the model at the crest factor, ascending."""
    _family(model)
    return _VOLTAGE_CF3 if _cf_key(crest_factor) == "3" else _VOLTAGE_CF6


def current_ranges(model: str, crest_factor: str = "3") -> Tuple[float, ...]:
    """Current ranges (A) of the model at the crest factor, ascending."""
    return _CURRENT[_family(model)][_cf_key(crest_factor)]


def round_up(value: float, table: Tuple[float, ...]) -> float:
    """The smallest range in table that is >= value; the largest if value exceeds them all."""
    for candidate in table:
        if candidate >= value * (1 - 1e-12):
            return candidate
    return table[-1]
