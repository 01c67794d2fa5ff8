"""A `director run` killed mid-session, put in order by the next run on the same device.

While a session runs it holds a lock on its folder (.session.lock, flock), which the kernel releases
however the director dies. A folder whose run.json still says "running" and whose lock is free was
left by a dead director: its passes may still be running on the board (they are detached, to survive
a dropped link), and its spl.txt files were never written (they are written at the session's end).
The next run on that device cancels those passes, writes the spl.txt of each pass that had finished,
from samples.csv, and marks the run `interrupted`.
"""

from __future__ import annotations

import fcntl
import os
from typing import List, Optional

from director.resultdir import sanitize, write_json, write_run_spl
from director.sweep_recovery import cancel_passes, read_run
from power.errors import PowerError
from power.samples_csv import read_samples_csv

LOCK_NAME = ".session.lock"


def lock_run_folder(folder: str) -> int:
    """Hold the folder's session lock (until the returned descriptor is closed, or the process dies)."""
    fd = os.open(os.path.join(folder, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def _director_gone(folder: str) -> bool:
    try:
        fd = os.open(os.path.join(folder, LOCK_NAME), os.O_RDWR)
    except OSError:
        return False  # no lock file: not a session of this director (or not ours to judge)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False  # a live session holds it
    finally:
        os.close(fd)


def abandoned_runs(results: str, device: str) -> List[str]:
    """Run folders directly under results, of this device, left "running" by a director that is gone."""
    try:
        names = sorted(os.listdir(results))
    except OSError:
        return []
    found = []
    for name in names:
        folder = os.path.join(results, name)
        record = read_run(folder)
        if (record and record.get("status") == "running" and (record.get("device") or {}).get("name") == device
                and _director_gone(folder)):
            found.append(folder)
    return found


def recover_run(folder: str, inventory: Optional[str], known_hosts: Optional[str]) -> str:
    """Put in order a run whose director died (see the module); one line saying what was done."""
    record = read_run(folder) or {}
    run_id, device = str(record.get("run_id")), str((record.get("device") or {}).get("name"))
    reached = cancel_passes(device, run_id, inventory, known_hosts)
    done = [f"its passes on {device} cancelled" if reached else f"{device} not reached to cancel its passes"]
    try:
        samples = read_samples_csv(os.path.join(folder, "samples.csv"))
    except (OSError, PowerError) as e:
        samples, problem = [], f"no samples.csv to write spl.txt from ({e})"
    else:
        problem = write_run_spl(folder, record, samples)
    written = [name for name, entry in (record.get("passes") or {}).items() if "spl_rows" in entry]
    done.append(problem or (f"spl.txt of {', '.join(written)} written from samples.csv" if written
                            else "no pass had finished, so no spl.txt"))
    record["status"] = "interrupted"
    record["reason"] = f"the director stopped during {record.get('phase') or 'the session'}"
    record["sample_count"] = len(samples)
    try:
        write_json(os.path.join(folder, "run.json"), sanitize(record))
    except OSError as e:
        done.append(f"run.json not updated: {e.strerror or e}")
    return f"run {run_id} was left running by a director that stopped: {'; '.join(done)}"
