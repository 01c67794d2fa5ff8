"""The sweep report's figures as PNG bytes: figures against power mode, latency strips, one power trace.

Only matplotlib's object API (Figure + FigureCanvasAgg), never pyplot: pyplot keeps global state
that is not safe when reports are built from worker threads.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, Set, Tuple

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from power.sample import Sample, Status

DPI = 100
_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
            "tab:grey", "tab:olive", "tab:cyan")
GAP_LABEL = "no data / gap samples"  # the trace's legend entries for samples without a reading
OVERRANGE_LABEL = "overrange samples"
Percentiles = Tuple[Optional[float], Optional[float], Optional[float]]  # p50, p90, p99 latency (ms)


@dataclass(frozen=True)
class Series:
    """One line against power mode: its label and, per power mode label, the values of its runs."""

    label: str
    runs: Mapping[str, Sequence[float]]


@dataclass(frozen=True)
class Panel:
    """One axes: a title, the y label (with its unit), the power modes in order along x, its series."""

    title: str
    ylabel: str
    modes: Sequence[str]
    series: Sequence[Series]


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _plain(text: str) -> str:
    return str(text).replace("$", r"\$")  # names are text, never mathtext


def _finite(values: Sequence[Optional[float]]) -> List[float]:
    return [v for v in values if v is not None and not math.isnan(v) and not math.isinf(v)]


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def power_mode_png(panels: Sequence[Panel]) -> Optional[bytes]:
    """Panels side by side: per series the median over its runs, min–max bars, each run a dot; None when empty."""
    panels = [p for p in panels if any(_finite(v) for s in p.series for v in s.runs.values())]
    if not panels:
        return None
    fig = Figure(figsize=(5.2 * len(panels) + 1.0, 4.2))
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        count = len(panel.series)
        for k, series in enumerate(panel.series):
            colour = _COLOURS[k % len(_COLOURS)]
            shift = (k - (count - 1) / 2) * min(0.08, 0.5 / max(count, 1))  # keep series apart at one mode
            xs, medians, low, high = [], [], [], []
            for x, mode in enumerate(panel.modes):
                values = _finite(series.runs.get(mode, ()))
                if not values:
                    continue
                middle = _median(values)
                xs.append(x + shift)
                medians.append(middle)
                low.append(middle - min(values))
                high.append(max(values) - middle)
                ax.scatter([x + shift] * len(values), values, s=12, color=colour, alpha=0.45, zorder=3)
            if xs:
                ax.errorbar(xs, medians, yerr=[low, high], color=colour, marker="o", capsize=4, linewidth=1.2,
                            label=_plain(series.label), zorder=4)
        ax.set_xticks(range(len(panel.modes)))
        ax.set_xticklabels([_plain(m) for m in panel.modes], rotation=20 if len(panel.modes) > 4 else 0)
        ax.set_xlim(-0.5, len(panel.modes) - 0.5)
        ax.set_xlabel("power mode")
        ax.set_ylabel(panel.ylabel)
        ax.set_title(_plain(panel.title), fontsize="medium")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="x-small", loc="best")
    fig.tight_layout()
    return _png(fig)


def latency_png(cases: Sequence[Tuple[str, Sequence[Percentiles]]]) -> Optional[bytes]:
    """Per case (one row each) p50, p90 and p99 latency of every run; None when no run has a latency."""
    cases = [(label, runs) for label, runs in cases if any(_finite(list(r)) for r in runs)]
    if not cases:
        return None
    fig = Figure(figsize=(9.0, 1.4 + 0.5 * len(cases)))
    ax = fig.add_subplot(1, 1, 1)
    markers = (("p50", "o", "tab:green"), ("p90", "s", "tab:blue"), ("p99", "^", "tab:red"))
    everything: List[float] = []
    for row, (_, runs) in enumerate(cases):
        for j, percentiles in enumerate(runs):
            y = row + (j - (len(runs) - 1) / 2) * min(0.12, 0.6 / max(len(runs), 1))
            for (name, marker, colour), value in zip(markers, percentiles):
                if _finite([value]):
                    ax.scatter([value], [y], marker=marker, color=colour, s=22, alpha=0.8,
                               label=name if row == 0 and j == 0 else None)
                    everything.append(float(value))  # type: ignore[arg-type]
    if min(everything) > 0 and max(everything) / min(everything) > 20:
        ax.set_xscale("log")
    ax.set_yticks(range(len(cases)))
    ax.set_yticklabels([_plain(label) for label, _ in cases], fontsize="small")
    ax.set_ylim(len(cases) - 0.5, -0.5)
    ax.set_xlabel("latency (ms); each run's p50, p90, p99")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return _png(fig)


def trace_png(
    samples: Sequence[Sample], window_ns: Optional[Sequence[int]], idle_w: Optional[float], title: str
) -> Optional[bytes]:
    """trace_figure() as PNG bytes; None without samples."""
    return _png(trace_figure(samples, window_ns, idle_w, title)) if samples else None


def trace_figure(
    samples: Sequence[Sample], window_ns: Optional[Sequence[int]], idle_w: Optional[float], title: str
) -> Figure:
    """Wall power as steps (each sample holds over its interval), the measured window and bad samples shaded
    (each kind with its legend entry: GAP_LABEL, OVERRANGE_LABEL), idle dashed."""
    starts = [s.t_start_ns for s in samples]
    origin = min(starts + ([int(window_ns[0])] if window_ns else []))
    xs: List[float] = []
    ys: List[float] = []
    for sample in samples:
        value = sample.power_w if sample.ok else math.nan
        xs += [(sample.t_start_ns - origin) / 1e9, (sample.t_end_ns - origin) / 1e9]
        ys += [value, value]
    fig = Figure(figsize=(9.0, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(xs, ys, color="tab:blue", linewidth=1.0, label="wall power")
    labelled: Set[str] = set()
    for sample in samples:
        if not sample.ok:
            kind = OVERRANGE_LABEL if sample.status is Status.OVERRANGE else GAP_LABEL
            ax.axvspan((sample.t_start_ns - origin) / 1e9, (sample.t_end_ns - origin) / 1e9, color="red",
                       alpha=0.4 if kind == OVERRANGE_LABEL else 0.15, linewidth=0,
                       label=None if kind in labelled else kind)
            labelled.add(kind)
    if window_ns:
        t0_s, t1_s = (int(window_ns[0]) - origin) / 1e9, (int(window_ns[1]) - origin) / 1e9
        ax.axvspan(t0_s, t1_s, color="tab:orange", alpha=0.2, label="measured window")
    if idle_w is not None and _finite([idle_w]):
        ax.axhline(idle_w, color="grey", linestyle="--", linewidth=1.0, label=f"idle {idle_w:.2f} W")
    ax.set_xlabel("time since first sample (s)")
    ax.set_ylabel("W")
    ax.set_title(_plain(title), fontsize="small")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="x-small", loc="upper left")
    fig.tight_layout()
    return fig
