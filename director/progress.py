"""Showing a session as it runs: a live line on a terminal, plain lines otherwise."""

from __future__ import annotations

import math
import sys
from typing import IO, Optional

from director.session import Progress


def _clock(seconds: Optional[float]) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def describe(progress: Progress) -> str:
    """One line: phase, elapsed / ETA, live W (-- while there is none, or the latest sample is flagged), detail."""
    live = progress.live_w
    watts = "   --   W" if live is None or math.isnan(live) else f"{live:8.3f} W"
    return f"{progress.phase:<11} {_clock(progress.elapsed_s)} (eta {_clock(progress.eta_s)})  {watts}  {printable(progress.detail)}"


def printable(text: str) -> str:
    """text with control characters escaped (a newline or a terminal escape in a user string stays visible)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class PlainProgress:
    """Prints a line when the phase changes (for logs and pipes)."""

    def __init__(self, stream: IO[str] = sys.stderr) -> None:
        self.stream = stream
        self._phase = ""

    def __call__(self, progress: Progress) -> None:
        if progress.phase != self._phase:
            self._phase = progress.phase
            print(describe(progress), file=self.stream, flush=True)

    def close(self) -> None:
        """Nothing to release."""


class LiveProgress:
    """A status line that redraws in place on a terminal (rich)."""

    def __init__(self, title: str) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        self._text = Text
        self._console = Console(stderr=True)
        self._live = Live(Text(title), console=self._console, refresh_per_second=4, transient=False)
        self._live.start()
        self._phase = ""

    def __call__(self, progress: Progress) -> None:
        if progress.phase != self._phase and self._phase:
            self._console.print(f"[dim]✓ {self._phase}[/dim]")
        self._phase = progress.phase
        self._live.update(self._text(describe(progress)))

    def close(self) -> None:
        """Stop redrawing."""
        self._live.stop()


def progress_for(stream: IO[str] = sys.stderr, title: str = "") -> object:
    """A live display on a terminal, plain lines otherwise."""
    return LiveProgress(title) if stream.isatty() else PlainProgress(stream)
