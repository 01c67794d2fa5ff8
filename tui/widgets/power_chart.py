"""A wall-power chart drawn in text: W over time as bars, the idle level as a line, measured windows shaded."""

from __future__ import annotations

import bisect
import math
from typing import List, Optional, Sequence, Tuple

from rich.text import Text
from textual.widget import Widget

BLOCKS = " ▁▂▃▄▅▆▇█"
AXIS_W = 8
WINDOW_BG = "on #203a20"
IDLE_BG = "on #262640"


def _clock(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class PowerChart(Widget):
    """W over time: one bar per column (the mean of its samples), the idle level drawn as a dashed line, each
    measured window (and the idle window) shaded and named on the time axis."""

    DEFAULT_CSS = """
    PowerChart { height: 9; min-height: 5; }
    """

    def __init__(self, *, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__(id=id, classes=classes)
        self.samples: Sequence[Tuple[int, float]] = ()
        self.idle_w: Optional[float] = None
        self.windows: Sequence[Tuple[str, int, int]] = ()
        self.empty_text = "no samples yet"

    def show(self, samples: Sequence[Tuple[int, float]], idle_w: Optional[float] = None,
             windows: Sequence[Tuple[str, int, int]] = (), empty_text: str = "no samples yet") -> None:
        """New data: samples (UTC ns at the end of each interval, W; NaN for flagged), idle W, windows (name, t0, t1)."""
        self.samples, self.idle_w, self.windows, self.empty_text = samples, idle_w, windows, empty_text
        self.refresh()

    def _columns(self, width: int) -> Tuple[List[Optional[float]], int, float]:
        """The value of each column, the first instant (ns) and the ns per column."""
        times = [t for t, _ in self.samples]
        t0, t1 = times[0], max(times[-1], times[0] + 10**9)
        step = (t1 - t0) / width
        values: List[Optional[float]] = []
        for column in range(width):
            lo, hi = t0 + column * step, t0 + (column + 1) * step
            first, last = bisect.bisect_left(times, lo), bisect.bisect_right(times, hi)
            inside = [w for _, w in self.samples[first:last] if not math.isnan(w)]
            if not inside and first < len(times):  # fewer samples than columns: the one covering this instant
                w = self.samples[first][1]
                inside = [] if math.isnan(w) or self.samples[first][0] - hi > 2 * step + 5e8 else [w]
            values.append(sum(inside) / len(inside) if inside else None)
        return values, t0, step

    def _message(self, message: str, style: str) -> Text:
        """A line of text in the middle of the chart's area."""
        width, height = self.size.width, self.size.height
        return Text("\n" * (height // 2) + message.center(width), style=style, no_wrap=True, overflow="crop")

    def render(self) -> Text:
        """The chart, as many lines as the widget is tall."""
        width, height = self.size.width, self.size.height
        plot_w, plot_h = max(1, width - AXIS_W), max(1, height - 1)
        if not self.samples or width <= AXIS_W + 2 or height < 3:
            return self._message(self.empty_text, "dim")
        values, t0, step = self._columns(plot_w)
        known = [v for v in values if v is not None]
        levels = known + ([self.idle_w] if self.idle_w is not None else [])
        if not levels:
            return self._message("no readable samples (the analyzer flagged them)", "yellow")
        lo, hi = min(levels), max(levels)
        span = max(hi - lo, 0.05 * max(abs(hi), 1.0))
        lo, hi = lo - 0.1 * span, hi + 0.1 * span
        shade: List[str] = [""] * plot_w
        labels = [" "] * plot_w
        for name, w0, w1 in self.windows:
            first, last = int((w0 - t0) / step), int(math.ceil((w1 - t0) / step))
            for column in range(max(0, first), min(plot_w, last)):
                shade[column] = IDLE_BG if name == "idle" else WINDOW_BG
            for i, ch in enumerate(name[: max(0, min(plot_w, last) - max(0, first))]):
                labels[max(0, first) + i] = ch
        idle_row = None
        if self.idle_w is not None:
            idle_row = min(plot_h - 1, int((self.idle_w - lo) / (hi - lo) * plot_h))
        text = Text(no_wrap=True, overflow="crop")
        for row in range(plot_h - 1, -1, -1):
            axis = {plot_h - 1: f"{hi:6.2f}W ", 0: f"{lo:6.2f}W "}.get(row, " " * AXIS_W)
            if row == idle_row and row not in (0, plot_h - 1):
                axis = f"{self.idle_w:6.2f}W "
            text.append(axis[:AXIS_W], style="yellow" if row == idle_row else "dim")
            for column, value in enumerate(values):
                cell, style = " ", "green"
                if value is not None:
                    eighths = (value - lo) / (hi - lo) * plot_h * 8 - row * 8
                    cell = BLOCKS[max(0, min(8, int(round(eighths))))]
                if row == idle_row:  # the idle level: a dashed line, or a band through the bars
                    cell, style = ("╌", "yellow") if cell == " " else (cell, "yellow")
                text.append(cell, style=f"{style} {shade[column]}".strip())
            text.append("\n")
        elapsed = _clock((t0 + step * plot_w - t0) / 1e9)
        text.append(f"{'0:00':<{AXIS_W}}", style="dim")
        axis_labels = "".join(labels)
        text.append(axis_labels[: plot_w - len(elapsed) - 1].ljust(plot_w - len(elapsed)), style="bold")
        text.append(elapsed, style="dim")
        return text
