"""A run's result as text: its figures, its checks (pass / warn / fail with the reason) and where its files are."""

from __future__ import annotations

import os
from typing import List, Optional

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from director.lab import ResultDetail

MARKS = {"pass": ("✓ pass", "green"), "warn": ("! warn", "yellow"), "fail": ("✗ FAIL", "bold red")}
STATUS_STYLE = {"ok": "bold green", "invalid": "bold red", "checks_failed": "bold red", "failed": "bold red",
                "cancelled": "yellow"}


def shown_path(path: Optional[str]) -> str:
    """A path relative to the working folder when it lies under it (shorter, and the same on every machine)."""
    if not path:
        return "-"
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def figures_table(detail: ResultDetail) -> Table:
    """Figures as label / value pairs, two pairs a line."""
    table = Table.grid(padding=(0, 1), expand=True)
    for _ in range(2):
        table.add_column(style="dim", no_wrap=True)
        table.add_column(ratio=1)
    pairs = list(detail.figures)
    for i in range(0, len(pairs), 2):
        row: List[RenderableType] = []
        for label, value in pairs[i:i + 2]:
            style = STATUS_STYLE.get(detail.status, "") if label == "status" else ""
            row += [label, Text(value, style=style)]
        table.add_row(*row)
    return table


def checks_table(detail: ResultDetail) -> Table:
    """Every check, worst first, with its reason."""
    table = Table(box=None, padding=(0, 1), expand=True, show_header=True, header_style="dim")
    table.add_column("check", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("reason", ratio=1)
    for check in detail.checks:
        mark, style = MARKS.get(check.status, (check.status, ""))
        table.add_row(f"{check.scope}:{check.name}", Text(mark, style=style), check.reason)
    return table


class ResultView(Static):
    """A ResultDetail: the figures, then the checks, then the files (run.json, the sweep's report.html)."""

    DEFAULT_CSS = """
    ResultView { height: auto; }
    """

    def show(self, detail: Optional[ResultDetail]) -> None:
        """Show one result (None clears the view)."""
        if detail is None:
            self.update("")
            return
        parts: List[RenderableType] = []
        if detail.error:
            parts.append(Text(detail.error, style="bold red"))
        if detail.figures:
            parts.append(figures_table(detail))
        if detail.checks:
            parts.append(checks_table(detail))
        files = Text()
        files.append("folder ", style="dim").append(shown_path(detail.folder))
        files.append("\nrun.json ", style="dim").append(shown_path(detail.run_json))
        if detail.report_html:
            files.append("\nreport ", style="dim").append(shown_path(detail.report_html))
        elif detail.sweep_id:
            files.append("\nreport ", style="dim").append(f"none yet for sweep {detail.sweep_id} (p writes it)")
        parts.append(files)
        self.update(Group(*parts))
