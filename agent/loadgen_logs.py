"""Readers of LoadGen's mlperf_log_detail.txt and mlperf_log_summary.txt (never written here)."""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List

DETAIL_PREFIX = ":::MLLOG "


@dataclass
class DetailLog:
    """The first value of each key (what the submission checker reads), and errors and warnings."""

    values: Dict[str, Any] = field(default_factory=dict)
    errors: List[Dict[str, Any]] = field(default_factory=list)
    warnings: List[Dict[str, Any]] = field(default_factory=list)


def read_detail(path: str) -> DetailLog:
    """Parse a detail log; lines that are not MLLOG records are ignored."""
    detail = DetailLog()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith(DETAIL_PREFIX):
                continue
            try:
                record = json.loads(line[len(DETAIL_PREFIX) :])
            except ValueError:
                continue
            key = record.get("key")
            metadata = record.get("metadata") or {}
            entry = {"key": key, "value": record.get("value")}
            if metadata.get("is_error"):
                detail.errors.append(entry)
            elif metadata.get("is_warning"):
                detail.warnings.append(entry)
            detail.values.setdefault(key, record.get("value"))
    return detail


_POWER_TIME = re.compile(r"(\d\d)-(\d\d)-(\d{4}) (\d\d):(\d\d):(\d\d)\.(\d{3})")


def power_time_ns(text: str) -> int:
    """LoadGen's power_begin/power_end string (month-first, UTC, milliseconds) as UTC ns."""
    match = _POWER_TIME.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a LoadGen power timestamp: {text!r}")
    month, day, year, hour, minute, second, millis = (int(g) for g in match.groups())
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return seconds * 1_000_000_000 + millis * 1_000_000


@dataclass
class Summary:
    """What mlperf_log_summary.txt says: validity, the reasons for INVALID, and every `key : value`."""

    valid: bool
    reasons: List[str]
    fields: Dict[str, str]
    errors_line: str = ""
    warnings_line: str = ""


def read_summary(path: str) -> Summary:
    """Parse a summary log."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line.rstrip("\n") for line in f]
    fields: Dict[str, str] = {}
    reasons: List[str] = []
    errors_line = warnings_line = ""
    in_recommendations = False
    for line in lines:
        text = line.strip()
        if text.startswith("Recommendations:"):
            in_recommendations = True
            continue
        if in_recommendations:
            if text.startswith("*"):
                reasons.append(text.lstrip("* ").strip())
                continue
            in_recommendations = False
        if "warning" in text.lower() and "encountered" in text.lower():
            warnings_line = text
        elif ("error" in text.lower() and "encountered" in text.lower()) or text.startswith("1 ERROR"):
            errors_line = text
        if ":" in text and not text.startswith("*"):
            key, _, value = text.partition(":")
            key, value = key.strip(), value.strip()
            fields.setdefault(key, value)
            if value.upper() == "NO" and key.endswith("satisfied"):
                reasons.append(f"{key}: NO")
    valid = fields.get("Result is", "").upper() == "VALID"
    return Summary(valid=valid, reasons=reasons, fields=fields, errors_line=errors_line, warnings_line=warnings_line)
