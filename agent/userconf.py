"""user.conf: the only way settings reach LoadGen, beside its built-in mlperf.conf.

LoadGen's parser ignores `key=value` without spaces and rejects the whole file on a `#comment`
without a space or a trailing comment, so the file is always written here, one
`model.scenario.key = value` line per setting, and never hand-edited.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional

# Keys LoadGen reads from a conf file (test_settings_internal.cc); seeds are deliberately absent:
# LoadGen reads them only from its built-in mlperf.conf.
KEYS = {
    "min_duration": "ms",
    "max_duration": "ms",
    "min_query_count": "queries",
    "max_query_count": "queries",
    "performance_sample_count_override": "samples",
    "accuracy_sample_count_override": "samples",
    "target_latency": "ms",
    "target_latency_percentile": "percent",
    "target_qps": "queries/s",
    "print_timestamps": "flag",
    "accuracy_log_rng_seed": "seed",
    "accuracy_log_sampling_target": "samples",
    "performance_issue_unique": "flag",
    "performance_issue_same": "flag",
    "performance_issue_same_index": "index",
}

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
