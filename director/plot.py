"""The power trace of a run as a PNG: every sample over time, the idle level, each pass's window."""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

from power.sample import Sample

Window = Tuple[str, int, int]  # label, t0_ns, t1_ns (host UTC)
_COLOURS = ("tab:orange", "tab:green", "tab:purple", "tab:brown")


def plot_trace(
    path: str, samples: Sequence[Sample], windows: Sequence[Window], idle_w: Optional[float], title: str
) -> None:
    """Draw the samples as steps (each holds over its own interval) and shade the windows."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on a lab host
    import matplotlib.pyplot as plt

    origin = min([s.t_start_ns for s in samples] + [t0 for _, t0, _ in windows] or [0])
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=110)
    try:
        xs, ys = [], []
        for sample in samples:
            value = sample.power_w if sample.ok else math.nan
            xs += [(sample.t_start_ns - origin) / 1e9, (sample.t_end_ns - origin) / 1e9]
            ys += [value, value]
        ax.plot(xs, ys, color="tab:blue", linewidth=1.0, label="wall power (W)")
        bad = [s for s in samples if not s.ok]
        for sample in bad:
            ax.axvspan((sample.t_start_ns - origin) / 1e9, (sample.t_end_ns - origin) / 1e9, color="red", alpha=0.15)
        if idle_w is not None and not math.isnan(idle_w):
            ax.axhline(idle_w, color="grey", linestyle="--", linewidth=1.0, label=f"idle {idle_w:.2f} W")
        for i, (label, t0, t1) in enumerate(windows):
            ax.axvspan((t0 - origin) / 1e9, (t1 - origin) / 1e9, color=_COLOURS[i % len(_COLOURS)], alpha=0.15, label=label)
        ax.set_xlabel("time since first sample (s)")
        ax.set_ylabel("W")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
