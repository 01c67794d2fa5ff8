"""The Analyzer interface every instrument driver implements, and the registry by model name."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Union

from power.errors import AnalyzerNotFound
from power.sample import Sample

AUTO = "auto"
"""Pass as a range to turn the instrument's auto ranging on."""

RangeSetting = Union[float, str]


@dataclass(frozen=True)
class Identity:
    """What the instrument says it is (from *IDN? or PTDaemon's Identify)."""

    vendor: str
    model: str
    serial: str
    firmware: str
    raw: str = ""


@dataclass(frozen=True)
class Ranges:
    """The ranges in force: voltage_v (V) and current_a (A), each with its auto flag."""

    voltage_v: float
    current_a: float
    voltage_auto: bool
    current_auto: bool


@dataclass(frozen=True)
class AnalyzerConfig:
    """How to open one analyzer: its model name, a URL, and driver options."""

    model: str
    url: str
    options: Mapping[str, Any] = field(default_factory=dict)


SampleSink = Callable[[Sample], None]


class Analyzer(abc.ABC):
    """A wall power analyzer: identify, ranges, update interval, a stream of Samples."""

    @abc.abstractmethod
    def identify(self) -> Identity:
        """Ask the instrument who it is."""

    @abc.abstractmethod
    def get_ranges(self) -> Ranges:
        """Read the voltage and current ranges in force."""

    @abc.abstractmethod
    def set_ranges(self, voltage_v: RangeSetting, current_a: RangeSetting) -> Ranges:
        """Set fixed ranges (rounded up to the instrument's table) or AUTO; return what is in force."""

    @abc.abstractmethod
    def set_interval(self, interval_s: float) -> float:
        """Set the update interval (s); return the interval in force."""

    @abc.abstractmethod
    def start(self, sink: SampleSink) -> None:
        """Start streaming: sink receives each Sample from the driver's own thread."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop streaming; returns once no more samples will be delivered."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the port; the analyzer cannot be used afterwards."""

    def __enter__(self) -> "Analyzer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Factory = Callable[[AnalyzerConfig], Analyzer]
_REGISTRY: Dict[str, Factory] = {}


def register(*models: str) -> Callable[[Factory], Factory]:
    """Class or function decorator: make a driver openable by these model names (case-insensitive)."""

    def wrap(factory: Factory) -> Factory:
        for name in models:
            _REGISTRY[name.lower()] = factory
        return factory

    return wrap


def known_models() -> list:
    """Model names that open_analyzer accepts, sorted."""
    _load_drivers()
    return sorted(_REGISTRY)


def open_analyzer(config: AnalyzerConfig) -> Analyzer:
    """Open the driver registered for config.model."""
    _load_drivers()
    factory: Optional[Factory] = _REGISTRY.get(config.model.lower())
    if factory is None:
        raise AnalyzerNotFound(
            f"unknown analyzer model {config.model!r} (known: {', '.join(sorted(_REGISTRY))})"
        )
    return factory(config)


def _load_drivers() -> None:
    # Importing the driver modules runs their @register decorators.
    import power.analyzers  # noqa: F401
