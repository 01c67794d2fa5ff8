"""What a sweep keeps open across a device's jobs: its SSH link with the agent, and its analyzer.

Opening them costs about a second per job (connection, agent start, the analyzer's sampler process
and its identification). A job that ends in a fault drops them, so the next attempt opens them afresh.
An analyzer bound to several devices is kept once and read by one job at a time (the runner's lock).
"""

from __future__ import annotations

import logging
import threading
from typing import Dict, Optional

from devices.inventory import load_inventory
from director.agent_client import DeviceLink
from director.errors import DirectorError
from director.power_setup import OpenAnalyzer, open_bound_analyzer
from power.simulators.bound import is_sim_url

log = logging.getLogger(__name__)


class KeptOpen:
    """Each device's DeviceLink and each analyzer, opened on first use and reused until dropped."""

    def __init__(self, inventory_path: Optional[str], known_hosts: Optional[str]) -> None:
        self.inventory_path = inventory_path
        self.known_hosts = known_hosts
        self._links: Dict[str, DeviceLink] = {}
        self._analyzers: Dict[str, OpenAnalyzer] = {}
        self._guard = threading.Lock()

    def link(self, device: str) -> DeviceLink:
        """The device's open connection and agent."""
        if device not in self._links:
            self._links[device] = DeviceLink.open(load_inventory(self.inventory_path).get(device), self.known_hosts)
        return self._links[device]

    def analyzer(self, device: str) -> Optional[OpenAnalyzer]:
        """The device's analyzer, open (None when the device has none). Call it holding the analyzer's lock."""
        key = self._analyzer_key(device)
        if key is None:
            return None
        with self._guard:
            kept = self._analyzers.get(key)
        if kept is not None and getattr(kept.analyzer, "running", True):
            return kept
        if kept is not None:  # its sampler process died: open a new one
            self._close_analyzer(key)
        binding = load_inventory(self.inventory_path).get(device).analyzer
        assert binding is not None
        opened = open_bound_analyzer(binding)
        with self._guard:
            self._analyzers[key] = opened
        return opened

    def drop(self, device: str) -> None:
        """Close the device's link and analyzer (after a fault: either may be what broke)."""
        self._close_link(device)
        key = self._analyzer_key(device)
        if key is not None:
            self._close_analyzer(key)

    def release(self, device: str) -> None:
        """The device has no more jobs: close its link and its simulator (an instrument stays open until
        close(), as another device may be bound to it too)."""
        self._close_link(device)
        self._close_analyzer(f"{device}/")

    def close(self) -> None:
        """Close everything still open."""
        for device in list(self._links):
            self._close_link(device)
        with self._guard:
            keys = list(self._analyzers)
        for key in keys:
            self._close_analyzer(key)

    def _analyzer_key(self, device: str) -> Optional[str]:
        # A `sim` binding starts one simulator per device; any other names one instrument, whichever device reads it.
        binding = load_inventory(self.inventory_path).get(device).analyzer
        if binding is None:
            return None
        return f"{device}/" if is_sim_url(binding.url) else binding.name

    def _close_link(self, device: str) -> None:
        link = self._links.pop(device, None)
        if link is not None:
            try:
                link.close()
            except DirectorError as e:
                log.info("%s: closing a broken link: %s", device, e)

    def _close_analyzer(self, key: str) -> None:
        with self._guard:
            kept = self._analyzers.pop(key, None)
        if kept is not None:
            kept.close()
