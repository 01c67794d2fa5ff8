"""What every screen of the lab UI has: the header, the screen bar, the key help, and a way back from threads."""

from __future__ import annotations

import logging
import math
from typing import Any, Callable, Optional, Sequence, Tuple

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header
from textual.worker import Worker, WorkerState

from director.lab import Lab
from tui.widgets.nav import NavBar

log = logging.getLogger(__name__)


def watts(value: Optional[float], spec: str = ".2f") -> str:
    """'14.98 W', '--' when unknown or flagged."""
    return "--" if value is None or math.isnan(value) else f"{format(value, spec)} W"


def number(value: Optional[float], spec: str, unit: str = "") -> str:
    """A figure with its unit, '-' when unknown."""
    return "-" if value is None or math.isnan(value) else f"{format(value, spec)}{unit}"


def clock(seconds: Optional[float]) -> str:
    """mm:ss (h:mm:ss past an hour), '--:--' when unknown."""
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


class LabScreen(Screen):
    """A workflow screen: header, screen bar, body(), footer with the keys."""

    MODE = ""

    @property
    def lab(self) -> Lab:
        """The lab the app was started on."""
        return self.app.lab  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        """Header, screen bar, the screen's own widgets, key help."""
        yield Header()
        yield NavBar(self.MODE)
        yield from self.body()
        yield Footer()

    def body(self) -> ComposeResult:
        """The screen's own widgets."""
        return iter(())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that met something unexpected: one line on screen, the whole story in the log; the UI goes on."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            log.error("worker %s failed", event.worker.name, exc_info=error)
            self.notify(f"{event.worker.name or 'a task'} failed: {type(error).__name__}: {error}", severity="error",
                        timeout=10)

    def from_thread(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run callback on the UI thread (from a worker); nothing when the app is already gone."""
        try:
            self.app.call_from_thread(callback, *args)
        except RuntimeError:  # the app stopped while the worker was busy
            pass


def sync_table(table: DataTable, rows: Sequence[Tuple[str, Sequence[Any]]]) -> None:
    """Show rows (key, cells) in a table whose columns are made: cells change in place when the keys are the
    same, else the rows are replaced and the cursor stays on its row key (or its place)."""
    keys = [key for key, _ in rows]
    current = [str(key.value) for key in table.rows]
    if keys == current:
        columns = list(table.columns)
        for key, cells in rows:
            for column, cell in zip(columns, cells):
                if table.get_cell(key, column) != cell:
                    table.update_cell(key, column, cell)
        return
    keep = table.cursor_row
    keep_key = current[keep] if 0 <= keep < len(current) else None
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if keep_key in keys:
        table.move_cursor(row=keys.index(keep_key), animate=False)
    elif rows:
        table.move_cursor(row=min(keep, len(rows) - 1), animate=False)
