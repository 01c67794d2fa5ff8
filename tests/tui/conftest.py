"""Fixtures for the lab UI: a lab folder to work in, the app on it, and waiting for what a screen shows.

Every test works in its own folder (the current directory), so relative paths on screen are the
same on every machine; the inventories point at loopback ports nobody listens on, the built-in
`local` device and simulated analyzers.
"""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, Optional

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widget import Widget

from director.lab import Lab
from tests.director.sweepboards import LOCAL_BENCH
from tui.app import LabApp

CLOSED_PORT = 1  # tcpmux: nobody listens there, so a connect is refused at once (and the text is fixed)
LAB_INVENTORY = LOCAL_BENCH
"""The built-in local device with a simulated bench drawing 30 W at rest (fixed ranges read it within 1 %)."""
DEAD_INVENTORY = f"""
[analyzers.bench9]
model = "WT310E"
url = "/dev/ttyEDGEPOWER-NONE"

[devices.dead]
host = "127.0.0.1"
port = {CLOSED_PORT}
user = "root"
analyzer = "bench9"
"""
"""One device on a port nobody listens on, with an analyzer that is not plugged in."""


@pytest.fixture
def lab_dir(tmp_path, monkeypatch) -> Path:
    """An empty folder, the current directory for the test."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def make_lab(lab_dir) -> Iterator[Callable[..., Lab]]:
    """Make Labs on the lab folder (results in ./results); each is closed after the test."""
    made = []

    def make(inventory: Optional[str] = None, **options: Any) -> Lab:
        path = None
        if inventory is not None:
            (lab_dir / "devices.toml").write_text(inventory)
            path = "devices.toml"
        lab = Lab(results="results", inventory=path, known_hosts=str(lab_dir / "known_hosts"), **options)
        made.append(lab)
        return lab

    yield make
    for lab in made:
        lab.close()


def drive(app: LabApp, script: Callable[[Pilot], Awaitable[None]]) -> None:
    """Run the app at 80×24 headless and drive it with script(pilot)."""

    async def main() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await script(pilot)

    asyncio.run(main())


async def wait_until(pilot: Pilot, test: Callable[[], Any], timeout_s: float = 30.0, what: str = "") -> Any:
    """Let the app run until test() is true; its value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = test()
        if value:
            return value
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what or test}")


def text_of(widget: Widget, width: int = 78) -> str:
    """What a Static shows, as plain text."""
    content: Any = widget.content  # type: ignore[attr-defined]
    if hasattr(content, "plain"):
        return str(content.plain)
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()
