"""Checks: the pass/warn/fail verdicts that travel with every figure instead of silent drops."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable


class CheckStatus(str, enum.Enum):
    """Verdict of one check."""

    PASS = "pass"  # noqa: S105 - a check status, not a password
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    """One named check with its verdict and a reason a person can act on."""

    name: str
    status: CheckStatus
    reason: str

    @property
    def failed(self) -> bool:
        """True for a FAIL verdict."""
        return self.status is CheckStatus.FAIL


def worst(checks: Iterable[Check]) -> CheckStatus:
    """The worst verdict among checks (PASS when there are none)."""
    order = {CheckStatus.PASS: 0, CheckStatus.WARN: 1, CheckStatus.FAIL: 2}
    result = CheckStatus.PASS
    for check in checks:
        if order[check.status] > order[result]:
            result = check.status
    return result
