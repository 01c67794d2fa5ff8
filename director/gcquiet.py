"""Keeping Python's garbage collector from pausing the analyzer's reader thread.

A full collection walks every object the process holds and stops every thread while it does; with
matplotlib, paramiko and a few sessions loaded that took 100-270 ms here, longer than the driver
waits for a reply, so the stream resynchronised and the window got gap samples. Loading the big
libraries first and then freezing what exists moves those objects out of the collector's walk.
"""

from __future__ import annotations

import gc
import importlib

HEAVY_MODULES = ("matplotlib.figure", "matplotlib.backends.backend_agg", "paramiko")
_done = False


def quiet_gc() -> None:
    """Load the heavy modules a session uses, then gc.freeze() everything alive (once per process)."""
    global _done
    if _done:
        return
    for name in HEAVY_MODULES:  # loaded now, so that they are frozen below
        importlib.import_module(name)
    gc.collect()
    gc.freeze()
    _done = True
