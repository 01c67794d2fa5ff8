"""user.conf: the only way settings reach LoadGen, beside its built-in mlperf.conf.

LoadGen's parser ignores `key=value` without spaces and rejects the whole file on a `#comment`
without a space or a trailing comment, so the file is always written here, one
`model.scenario.key = value` line per setting, and never hand-edited.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional

from agent import protocol

# The keys a job's `settings` may hold (the director checks them too, before a run starts).
KEYS = protocol.USER_CONF_KEYS

# Profiles only shorten runs. `mlperf` keeps every duration of the built-in mlperf.conf.
PROFILE_SETTINGS: Dict[str, Dict[str, Dict[str, float]]] = {
    "mlperf": {"SingleStream": {}, "Offline": {}},
    "quick": {
        "SingleStream": {"min_duration": 10000},
        "Offline": {"min_duration": 10000, "min_query_count": 1},
    },
}


def format_value(value: float) -> str:
    """A number as LoadGen's parser reads it: integers without a point, others in full precision."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def effective_settings(
    profile: str, scenario: str, hints: Mapping[str, float], overrides: Mapping[str, float]
) -> Dict[str, float]:
    """The settings written to user.conf: profile, then calibration hints, then the user's own."""
    settings: Dict[str, float] = dict(PROFILE_SETTINGS[profile][scenario])
    settings.update(hints)
    settings.update(overrides)
    return settings


def render(model: str, scenario: str, settings: Mapping[str, float], notes: Optional[List[str]] = None) -> str:
    """The text of a user.conf holding these settings for one model and scenario."""
    lines = [f"# {note}" for note in (notes or [])]
    for key in sorted(settings):
        if key not in KEYS:
            raise ValueError(f"not a LoadGen conf key: {key}")
        lines.append(f"{model}.{scenario}.{key} = {format_value(settings[key])}")
    return "\n".join(lines) + "\n"
