"""Looking at what a fault left behind: a run's run.json, a pass still running on the board, its boot_id.

The runner calls these outside any session: after a director died (adopt a finished run, stop a
pass it left running) and after a failed attempt (did the board reboot on its own?).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, Optional

from devices.errors import DeviceError
from devices.inventory import load_inventory
from director.errors import DirectorError
from director.store import JobRow

log = logging.getLogger(__name__)


def read_run(folder: Optional[str]) -> Optional[Dict[str, Any]]:
    """A run folder's run.json, or None when there is none (yet) or it cannot be read."""
    if not folder:
        return None
    try:
        with open(os.path.join(folder, "run.json"), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cancel_leftover(job: JobRow, inventory: Optional[str], known_hosts: Optional[str]) -> None:
    """Stop the passes of a job's last run that a dead director left running, so they do not load the next job."""
    if job.run_id:
        cancel_passes(job.board or job.device, job.run_id, inventory, known_hosts)  # a pool's job: its board


def cancel_passes(device_name: str, run_id: str, inventory: Optional[str], known_hosts: Optional[str]) -> bool:
    """Cancel a run's passes (ranging, run_1) on its device, wherever they stand; whether the device was reached."""
    from director.agent_client import agent_for
    from director.ssh import transport_for

    try:
        device = load_inventory(inventory).get(device_name)
        with transport_for(device, known_hosts=known_hosts) as transport:
            client = agent_for(transport, device.python, device.workdir, env=dict(device.env))
            try:
                for name in ("ranging", "run_1"):
                    try:
                        state = client.cancel(f"{run_id}-{name}")
                        log.info("%s: leftover pass %s-%s is %s", run_id, run_id, name, state)
                    except DirectorError:
                        pass  # that pass never started
            finally:
                client.close()
        return True
    except (DirectorError, DeviceError) as e:
        log.warning("%s: could not reach %s to stop what the run left running: %s", run_id, device_name, e)
        return False


def boot_id(device: str, inventory: Optional[str], known_hosts: Optional[str]) -> Optional[str]:
    """The board's boot_id now, or None when it cannot be read."""
    from devices.profiles import profile_for
    from director.ssh import transport_for

    try:
        target = load_inventory(inventory).get(device)
        with transport_for(target, known_hosts=known_hosts) as transport:
            return profile_for(target, transport).boot_id()
    except (DirectorError, DeviceError, OSError) as e:
        log.info("%s: boot_id not readable now: %s", device, e)
        return None
