"""Opening the analyzer a run is bound to, including the built-in `sim` (a WT310E on a pseudo-terminal).

Each analyzer's driver runs in its own process (power.analyzers.subprocess_analyzer), so nothing in the
director (other sessions' threads, SSH, plotting, GC pauses) can hold it off an instrument's deadline.
The `sim` simulator is served on a real /dev/pts path in that process and read through the production
Yokogawa driver, so a demo run exercises the same code as a bench with a real meter. Its power follows
this host's CPU load, which for the `local` device is the device's load. The option `in_process = true`
opens the driver in the director's own process instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from devices.inventory import AnalyzerBinding
from director.errors import BadInput, DirectorError
from power.analyzer import Analyzer, AnalyzerConfig, open_analyzer
from power.analyzers.subprocess_analyzer import ProcessAnalyzer
from power.errors import PowerError
from power.simulators.bound import (SIM_BAUD, SIM_IDLE_W, SIM_LOAD_W, SIM_UPDATE_S, SIM_URL_PREFIX, UnknownSimulator,
                                    is_sim_url, sim_settings, start_simulator)
from power.uncertainty import PowerAccuracy, accuracy_for

log = logging.getLogger(__name__)

__all__ = ["OpenAnalyzer", "SIM_BAUD", "SIM_IDLE_W", "SIM_LOAD_W", "SIM_UPDATE_S", "SIM_URL_PREFIX", "describe",
           "open_bound_analyzer"]


@dataclass
class OpenAnalyzer:
    """An analyzer ready to stream, its accuracy model, and how to release what was started for it."""

    analyzer: Analyzer
    config: AnalyzerConfig
    accuracy: Optional[PowerAccuracy]
    simulated: bool = False
    _cleanups: List[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Close the analyzer, then stop anything started for it (the simulator, when in process)."""
        try:
            self.analyzer.close()
        except PowerError as e:
            log.warning("closing the analyzer: %s", e)
        for cleanup in reversed(self._cleanups):
            cleanup()
        self._cleanups.clear()


def open_bound_analyzer(binding: AnalyzerBinding, in_process: Optional[bool] = None) -> OpenAnalyzer:
    """Open (and for `sim`, first start) the analyzer of a binding, in its own process unless in_process."""
    config = binding.to_config()
    options: Dict[str, Any] = dict(config.options)
    option = options.pop("in_process", False)
    in_process = bool(option) if in_process is None else in_process
    config = AnalyzerConfig(config.model, config.url, options)
    simulated = is_sim_url(binding.url)
    if simulated:
        try:
            sim_settings(config)
        except UnknownSimulator as e:
            raise BadInput(f"analyzer {binding.name!r}: {e}") from e
    cleanups: List[Callable[[], None]] = []
    analyzer: Optional[Analyzer] = None
    try:
        if in_process:
            if simulated:
                server, config = start_simulator(config)
                cleanups.append(server.stop)
            analyzer = open_analyzer(config)
        else:
            proxy = ProcessAnalyzer(config)
            analyzer, config = proxy, proxy.opened_config
        analyzer.identify()
    except PowerError as e:
        for cleanup in reversed(cleanups):
            cleanup()
        if analyzer is not None:
            _close_quietly(analyzer)
        raise DirectorError(f"analyzer {binding.name!r} ({binding.model} at {binding.url}): {e}") from e
    try:
        accuracy: Optional[PowerAccuracy] = accuracy_for(binding.model)
    except PowerError:
        accuracy = None
    return OpenAnalyzer(analyzer, config, accuracy, simulated, cleanups)


def _close_quietly(analyzer: Analyzer) -> None:
    try:
        analyzer.close()
    except PowerError as e:
        log.warning("closing the analyzer after a failed open: %s", e)


def describe(open_: OpenAnalyzer) -> Any:
    """Identity and ranges of an open analyzer, as JSON."""
    identity = open_.analyzer.identify()
    ranges = open_.analyzer.get_ranges()
    return {
        "model": open_.config.model,
        "url": open_.config.url,
        "simulated": open_.simulated,
        "identity": {"vendor": identity.vendor, "model": identity.model, "serial": identity.serial,
                     "firmware": identity.firmware},
        "ranges": {"voltage_v": ranges.voltage_v, "current_a": ranges.current_a,
                   "voltage_auto": ranges.voltage_auto, "current_auto": ranges.current_auto},
    }
