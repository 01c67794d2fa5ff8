"""The built-in `sim:` analyzer URLs: a WT310E-family simulator on a pseudo-terminal, opened like a real meter.

`sim:cpu` follows this host's CPU load (or, with the `cpu_of` option, only the processes whose command
line holds that text); `sim:constant` draws a constant idle_w. Whoever starts it reads it through the
production driver on the pty, so it runs in the same process as that driver (the sampler child).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

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
    """A `sim:` URL names a simulator that does not exist, or one of its options is wrong (`option` names it)."""

    def __init__(self, message: str, option: Optional[str] = None) -> None:
        super().__init__(message)
        self.option = option


def is_sim_url(url: str) -> bool:
    """True for the built-in simulator URLs (`sim:cpu`, `sim:constant`), not pyserial's `sim://`."""
    return url.startswith(SIM_URL_PREFIX) and not url.startswith("sim://")


def sim_kind(url: str) -> str:
    """The simulator a `sim:` URL names (`cpu` when empty); raises UnknownSimulator for others."""
    kind = url[len(SIM_URL_PREFIX):] or "cpu"
    if kind not in SIM_KINDS:
        raise UnknownSimulator(f"unknown simulator {url!r} (expected sim:cpu or sim:constant)")
    return kind


def sim_settings(config: AnalyzerConfig) -> Dict[str, Any]:
    """The simulator's own options of a `sim:` config, checked (idle_w and load_w in W, update_s in s, seed,
    cpu_of); raises UnknownSimulator naming the option at fault and what it takes."""
    from power.simulators.meter import UPDATE_CHOICES_S

    options = config.options
    number = (int, float)
    intervals = ", ".join(f"{c:g}" for c in UPDATE_CHOICES_S)

    def option(key: str, default: Any, kinds: Tuple[type, ...], expected: str, ok: Any = lambda value: True) -> Any:
        value = options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, kinds) or not ok(value):
            raise UnknownSimulator(f"simulator option {key} = {value!r} is wrong (expected {expected})", key)
        return value

    def watts(w: float) -> bool:
        return 0 <= w < math.inf

    def interval(s: float) -> bool:
        return any(abs(s - c) < 1e-9 for c in UPDATE_CHOICES_S)

    return {
        "kind": sim_kind(config.url),
        "idle_w": float(option("idle_w", SIM_IDLE_W, number, "watts >= 0", watts)),
        "load_w": float(option("load_w", SIM_LOAD_W, number, "watts >= 0", watts)),
        "update_s": float(option("update_s", SIM_UPDATE_S, number,
                                 f"one of the meter's update intervals: {intervals} s", interval)),
        "seed": option("seed", 0, (int,), "a whole number"),
        "cpu_of": option("cpu_of", "", (str,), "text from the command lines of the processes to follow"),
    }


def start_simulator(config: AnalyzerConfig) -> Tuple[Any, AnalyzerConfig]:
    """Start the simulator a `sim:` config names on a pty: (the started PtyServer, the config to open it with)."""
    from power.simulators.serve import Link, PtyServer, build

    settings = sim_settings(config)
    options: Dict[str, Any] = dict(config.options)
    utilisation = None
    if settings["cpu_of"]:
        from power.simulators.load import ProcessLoad

        utilisation = ProcessLoad(settings["cpu_of"])
    instrument = build(
        config.model.upper(),
        load_w=settings["idle_w"],
        cpu_load_w=settings["load_w"],
        update_s=settings["update_s"],
        cpu_coupled=settings["kind"] == "cpu",
        utilisation=utilisation,
        seed=settings["seed"],
    )
    baud = int(options.get("baudrate", SIM_BAUD))
    server = PtyServer(Link(instrument, baud=baud)).start()
    driver_options = {k: v for k, v in options.items() if k not in _SIM_ONLY}
    driver_options.setdefault("baudrate", baud)
    return server, AnalyzerConfig(model=config.model, url=server.path, options=driver_options)
