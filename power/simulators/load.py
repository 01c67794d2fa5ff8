"""What a CPU-coupled simulator's power follows: this host's whole CPU, or only some processes' CPU.

A "board" in the tests is an sshd account on this same host, so with several boards measured at
once, whole-host load would leak one board's work into every other board's simulated analyzer.
ProcessLoad follows only the processes whose command line holds a given text (a test board's home
folder is in the command line of every pass worker the agent starts there), which is what a wall
meter on that board would mostly see.
"""

from __future__ import annotations

import time
from typing import Dict, Tuple

import psutil

RESCAN_S = 1.0  # how often new processes are looked for; CPU times of known ones are read every call


class ProcessLoad:
    """A utilisation callable (0..1 of the host's CPUs) of the processes whose command line contains `match`."""

    def __init__(self, match: str) -> None:
        if not match:
            raise ValueError("ProcessLoad needs a non-empty text to match command lines against")
        self.match = match
        self._cpus = psutil.cpu_count() or 1
        self._procs: Dict[Tuple[int, float], psutil.Process] = {}
        self._cpu_s: Dict[Tuple[int, float], float] = {}
        self._scanned = -RESCAN_S
        self._last = (time.monotonic(), 0.0)
        self._last = (time.monotonic(), self._total_cpu_s())

    def _rescan(self) -> None:
        for proc in psutil.process_iter(["cmdline", "create_time"]):
            cmdline = proc.info.get("cmdline") or []
            key = (proc.pid, proc.info.get("create_time") or 0.0)
            if key not in self._procs and any(self.match in part for part in cmdline):
                self._procs[key] = proc
        self._scanned = time.monotonic()

    def _total_cpu_s(self) -> float:
        if time.monotonic() - self._scanned >= RESCAN_S:
            self._rescan()
        for key, proc in list(self._procs.items()):
            try:
                times = proc.cpu_times()
                self._cpu_s[key] = times.user + times.system
            except psutil.Error:  # ended: keep what it used, stop asking
                del self._procs[key]
        return sum(self._cpu_s.values())

    def __call__(self) -> float:
        """Utilisation since the previous call, as a fraction of all CPUs."""
        now, total = time.monotonic(), self._total_cpu_s()
        then, before = self._last
        self._last = (now, total)
        if now <= then:
            return 0.0
        return min(max((total - before) / ((now - then) * self._cpus), 0.0), 1.0)
