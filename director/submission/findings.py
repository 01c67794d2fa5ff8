"""What `director check` reports: findings (each naming its rule), per-case reports, and their text and JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Tuple

from director.submission.rules import SOURCES
from power.checks import CheckStatus

PASS, WARN, FAIL = CheckStatus.PASS, CheckStatus.WARN, CheckStatus.FAIL


@dataclass(frozen=True)
class Finding:
    """One verdict: the rule's stable id, PASS/WARN/FAIL, a one-line message with the figures, the file or
    folder it is about, and where the rule comes from."""

    rule: str
    status: CheckStatus
    message: str
    path: str
    source: str

    def to_json(self) -> Dict[str, str]:
        """A JSON-ready dict."""
        return {"rule": self.rule, "status": self.status.value, "message": self.message, "path": self.path,
                "source": self.source}


def finding(rule: str, status: CheckStatus, message: str, path: str) -> Finding:
    """A Finding whose source is the rule's entry in rules.SOURCES."""
    return Finding(rule, status, message, path, SOURCES[rule])


def unique(findings: Iterable[Finding]) -> Tuple[Finding, ...]:
    """The findings without repeats of the same rule, status and path (the first one kept)."""
    seen = set()
    kept: List[Finding] = []
    for f in findings:
        key = (f.rule, f.status, f.path)
        if key not in seen:
            seen.add(key)
            kept.append(f)
    return tuple(kept)


@dataclass(frozen=True)
class CaseReport:
    """One checked result (a run folder, a performance/ folder or a results/<system>/<benchmark>/<scenario>).

    figures: the official power metric and the performance figure, e.g. energy_per_query_mj and
    early_stopping_latency_ms (SingleStream), average_w and samples_per_s (Offline), accuracy_percent;
    also power_metric/power_unit and performance/performance_unit for display.
    """

    path: str
    system: str
    benchmark: str
    scenario: str
    findings: Tuple[Finding, ...]
    figures: Dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True when a finding failed."""
        return any(f.status is FAIL for f in self.findings)


@dataclass(frozen=True)
class CheckReport:
    """Everything `check_path` found: the cases and the findings about the tree itself (system descriptions)."""

    path: str
    cases: Tuple[CaseReport, ...]
    findings: Tuple[Finding, ...] = ()

    @property
    def failed(self) -> bool:
        """True when any finding, of a case or of the tree, failed."""
        return any(f.status is FAIL for f in self.findings) or any(c.failed for c in self.cases)

    def all_findings(self) -> Tuple[Finding, ...]:
        """The tree's findings, then each case's."""
        return self.findings + tuple(f for c in self.cases for f in c.findings)


def _counts(findings: Iterable[Finding]) -> Dict[str, int]:
    counts = {s.value: 0 for s in (PASS, WARN, FAIL)}
    for f in findings:
        counts[f.status.value] += 1
    return counts


def _figures_line(figures: Dict[str, Any]) -> str:
    parts = []
    if figures.get("power_metric") is not None:
        parts.append(f"power {figures['power_metric']:.6g} {figures['power_unit']} (official)")
    if figures.get("performance") is not None:
        parts.append(f"performance {figures['performance']:.6g} {figures['performance_unit']}")
    if figures.get("accuracy_percent") is not None:
        parts.append(f"accuracy {figures['accuracy_percent']:.3f} %")
    if figures.get("power_samples") is not None:
        parts.append(f"{figures['power_samples']} power samples over {figures['window_s']:.3f} s")
    return "; ".join(parts)


def _finding_lines(findings: Iterable[Finding], indent: str) -> List[str]:
    findings = list(findings)
    lines = [f"{indent}{f.status.value.upper()} {f.rule}: {f.message} ({f.path})"
             for status in (FAIL, WARN) for f in findings if f.status is status]
    passed = [f.rule for f in findings if f.status is PASS]
    if passed:
        lines.append(f"{indent}PASS {len(passed)}: {', '.join(passed)}")
    return lines


def format_report(report: CheckReport) -> str:
    """The report as text: per case a header, its figures, FAIL and WARN findings in full, PASS ones by name."""
    lines: List[str] = []
    for case in report.cases:
        lines.append(f"{case.path}  [{case.system} / {case.benchmark} / {case.scenario}]")
        figures = _figures_line(case.figures)
        if figures:
            lines.append(f"  figures: {figures}")
        lines.extend(_finding_lines(case.findings, "  "))
    if report.findings:
        lines.append(f"{report.path}  [tree]")
        lines.extend(_finding_lines(report.findings, "  "))
    counts = _counts(report.all_findings())
    verdict = "FAILED" if report.failed else "nothing failed"
    lines.append(f"{len(report.cases)} case(s): {counts['fail']} FAIL, {counts['warn']} WARN, "
                 f"{counts['pass']} PASS; {verdict}")
    return "\n".join(lines)


def report_json(report: CheckReport) -> Dict[str, Any]:
    """The report as a JSON-ready dict."""
    return {
        "path": report.path,
        "failed": report.failed,
        "counts": _counts(report.all_findings()),
        "cases": [
            {"path": c.path, "system": c.system, "benchmark": c.benchmark, "scenario": c.scenario,
             "failed": c.failed, "figures": c.figures, "findings": [f.to_json() for f in c.findings]}
            for c in report.cases
        ],
        "findings": [f.to_json() for f in report.findings],
    }
