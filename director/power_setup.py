"""Opening the analyzer a run is bound to, including the built-in `sim` (a WT310E on a pseudo-terminal).

The simulator is served on a real /dev/pts path and read through the production Yokogawa driver,
so a demo run exercises the same code as a bench with a real meter. Its power follows this
host's CPU load, which for the `local` device is the device's load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional

from devices.inventory import AnalyzerBinding
from director.errors import BadInput, DirectorError
from power.analyzer import Analyzer, AnalyzerConfig, open_analyzer
from power.errors import PowerError
from power.uncertainty import PowerAccuracy, accuracy_for

log = logging.getLogger(__name__)

SIM_URL_PREFIX = "sim:"
SIM_BAUD = 57600  # the WT300E's fastest RS-232 speed; 100 ms updates need more than 9600 baud
SIM_UPDATE_S = 0.1
SIM_IDLE_W = 6.0  # a small edge board at rest
SIM_LOAD_W = 9.0  # added at 100 % CPU


@dataclass
class OpenAnalyzer:
    """An analyzer ready to stream, its accuracy model, and how to release what was started for it."""

    analyzer: Analyzer
    config: AnalyzerConfig
    accuracy: Optional[PowerAccuracy]
    simulated: bool = False
    _cleanups: List[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Close the analyzer, then stop anything started for it (the simulator)."""
        try:
            self.analyzer.close()
        except PowerError as e:
            log.warning("closing the analyzer: %s", e)
        for cleanup in reversed(self._cleanups):
            cleanup()
        self._cleanups.clear()


def _start_simulator(binding: AnalyzerBinding) -> tuple:
    from power.simulators.serve import Link, PtyServer, build

    kind = binding.url[len(SIM_URL_PREFIX):] or "cpu"
    if kind not in ("cpu", "constant"):
        raise BadInput(f"analyzer {binding.name!r}: unknown simulator {binding.url!r} (sim:cpu or sim:constant)")
    options = dict(binding.options)
    update_s = float(options.pop("update_s", SIM_UPDATE_S))
    cpu_of = str(options.pop("cpu_of", ""))
    utilisation = None
    if cpu_of:
        from power.simulators.load import ProcessLoad

        utilisation = ProcessLoad(cpu_of)
    instrument = build(
        binding.model.upper(),
        load_w=float(options.pop("idle_w", SIM_IDLE_W)),
        cpu_load_w=float(options.pop("load_w", SIM_LOAD_W)),
        update_s=update_s,
        cpu_coupled=kind == "cpu",
        utilisation=utilisation,
        seed=int(options.pop("seed", 0)),
    )
    baud = int(options.get("baudrate", SIM_BAUD))
    server = PtyServer(Link(instrument, baud=baud)).start()
    options.setdefault("baudrate", baud)
    return server, AnalyzerConfig(model=binding.model, url=server.path, options=options)


def open_bound_analyzer(binding: AnalyzerBinding) -> OpenAnalyzer:
    """Open (and for `sim`, first start) the analyzer of a binding."""
    cleanups: List[Callable[[], None]] = []
    simulated = binding.url.startswith(SIM_URL_PREFIX)
    try:
        if simulated:
            server, config = _start_simulator(binding)
            cleanups.append(server.stop)
        else:
            config = binding.to_config()
        analyzer = open_analyzer(config)
        analyzer.identify()
    except PowerError as e:
        for cleanup in reversed(cleanups):
            cleanup()
        raise DirectorError(f"analyzer {binding.name!r} ({binding.model} at {binding.url}): {e}") from e
    try:
        accuracy: Optional[PowerAccuracy] = accuracy_for(binding.model)
    except PowerError:
        accuracy = None
    return OpenAnalyzer(analyzer, config, accuracy, simulated, cleanups)


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
