"""telemetry.csv: CPU load, per-core frequency, memory and temperatures sampled during a pass.

Each row costs a few reads of /proc and /sys; at 10 Hz that stays far below 1 % of one core.
"""

from __future__ import annotations

import csv
import glob
import os
import threading
import time
from typing import IO, Any, List, Optional, Tuple

import psutil


def _thermal_zones() -> List[Tuple[str, str]]:
    """(column name, temp file) for each readable thermal zone."""
    zones = []
    for zone in sorted(glob.glob("/sys/class/thermal/thermal_zone*")):
        temp = os.path.join(zone, "temp")
        try:
            with open(os.path.join(zone, "type")) as f:
                kind = f.read().strip().replace(" ", "_") or os.path.basename(zone)
            with open(temp) as f:
                int(f.read().strip())
        except (OSError, ValueError):
            continue
        zones.append((f"temp_{os.path.basename(zone)}_{kind}_c", temp))
    return zones


def _read_millidegrees(path: str) -> Optional[float]:
    try:
        with open(path) as f:
            return int(f.read().strip()) / 1000.0
    except (OSError, ValueError):
        return None


class Telemetry:
    """Samples the machine at a fixed interval from its own thread, flushing each row.

    A row is also written at start and at stop, so even a short pass has its two ends.
    """

    def __init__(self, path: str, interval_s: float) -> None:
        self.path = path
        self.interval_s = interval_s
        self.rows = 0
        self._cores = psutil.cpu_count() or 1
        self._zones = _thermal_zones()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._file: Optional[IO[str]] = None

    def columns(self) -> List[str]:
        """The CSV header."""
        names = ["t_ns", "cpu_percent", "mem_used_bytes", "mem_available_bytes"]
        names += [f"cpu{i}_percent" for i in range(self._cores)]
        names += [f"cpu{i}_mhz" for i in range(self._cores)]
        return names + [name for name, _ in self._zones]

    def start(self) -> None:
        """Open the file, write the header and start sampling."""
        self._file = open(self.path, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(self.columns())
        psutil.cpu_percent(percpu=True)  # primes the counters for the first interval
        self._write_row()
        self._thread = threading.Thread(target=self._loop, name="telemetry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling and close the file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._write_row()  # the state at the end, however short the pass
        if self._file is not None:
            self._file.close()
            self._file = None

    def _loop(self) -> None:
        next_t = time.monotonic() + self.interval_s
        while not self._stop.wait(max(0.0, next_t - time.monotonic())):
            next_t += self.interval_s
            self._write_row()

    def _write_row(self) -> None:
        per_cpu = psutil.cpu_percent(percpu=True)
        freqs = psutil.cpu_freq(percpu=True) or []
        memory = psutil.virtual_memory()
        row: List[Any] = [time.time_ns(), round(sum(per_cpu) / max(1, len(per_cpu)), 1), memory.used, memory.available]
        row += [per_cpu[i] if i < len(per_cpu) else "" for i in range(self._cores)]
        row += [round(freqs[i].current, 1) if i < len(freqs) else "" for i in range(self._cores)]
        temps = [_read_millidegrees(path) for _, path in self._zones]
        row += ["" if t is None else t for t in temps]
        assert self._file is not None
        self._writer.writerow(row)
        self._file.flush()
        self.rows += 1
