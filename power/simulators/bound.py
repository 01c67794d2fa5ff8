"""The built-in `sim:` analyzer URLs: a WT310E-family simulator on a pseudo-terminal, opened like a real meter.

`sim:cpu` follows this host's CPU load (or, with the `cpu_of` option, only the processes whose command
line holds that text); `sim:constant` draws a constant idle_w. Whoever starts it reads it through the
production driver on the pty, so it runs in the same process as that driver (the sampler child).
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

from power.analyzer import AnalyzerConfig
from power.errors import PowerError

SIM_URL_PREFIX = "sim:"
SIM_KINDS = ("cpu", "constant")
SIM_BAUD = 57600  # the WT300E's fastest RS-232 speed; 100 ms updates need more than 9600 baud
SIM_UPDATE_S = 0.1
SIM_IDLE_W = 6.0  # a small edge board at rest
SIM_LOAD_W = 9.0  # added at 100 % CPU
_SIM_ONLY = ("update_s", "cpu_of", "idle_w", "load_w", "seed")


class UnknownSimulator(PowerError):
    """A `sim:` URL names a simulator that does not exist."""


def is_sim_url(url: str) -> bool:
    """True for the built-in simulator URLs (`sim:cpu`, `sim:constant`), not pyserial's `sim://`."""
    return url.startswith(SIM_URL_PREFIX) and not url.startswith("sim://")


def sim_kind(url: str) -> str:
    """The simulator a `sim:` URL names (`cpu` when empty); raises UnknownSimulator for others."""
    kind = url[len(SIM_URL_PREFIX):] or "cpu"
    if kind not in SIM_KINDS:
        raise UnknownSimulator(f"unknown simulator {url!r} (sim:cpu or sim:constant)")
    return kind


def start_simulator(config: AnalyzerConfig) -> Tuple[Any, AnalyzerConfig]:
    """Start the simulator a `sim:` config names on a pty: (the started PtyServer, the config to open it with)."""
    from power.simulators.serve import Link, PtyServer, build

    kind = sim_kind(config.url)
    options: Dict[str, Any] = dict(config.options)
    utilisation = None
    cpu_of = str(options.get("cpu_of", ""))
    if cpu_of:
        from power.simulators.load import ProcessLoad

        utilisation = ProcessLoad(cpu_of)
    instrument = build(
        config.model.upper(),
        load_w=float(options.get("idle_w", SIM_IDLE_W)),
        cpu_load_w=float(options.get("load_w", SIM_LOAD_W)),
        update_s=float(options.get("update_s", SIM_UPDATE_S)),
        cpu_coupled=kind == "cpu",
        utilisation=utilisation,
        seed=int(options.get("seed", 0)),
    )
    baud = int(options.get("baudrate", SIM_BAUD))
    server = PtyServer(Link(instrument, baud=baud)).start()
    driver_options = {k: v for k, v in options.items() if k not in _SIM_ONLY}
    driver_options.setdefault("baudrate", baud)
    return server, AnalyzerConfig(model=config.model, url=server.path, options=driver_options)
