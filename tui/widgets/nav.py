"""The line under the header naming the four screens and their keys, the current one lit; a click switches."""

from __future__ import annotations

from typing import Tuple

from rich.text import Text
from textual import events
from textual.widget import Widget

SCREENS: Tuple[Tuple[str, str, str], ...] = (
    ("devices", "1", "Devices"), ("run", "2", "Run"), ("sweeps", "3", "Sweeps"), ("results", "4", "Results"),
)


class NavBar(Widget):
    """`1 Devices  2 Run  3 Sweeps  4 Results` with the screen shown now highlighted."""

    DEFAULT_CSS = """
    NavBar { height: 1; background: $panel; }
    """

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def render(self) -> Text:
        """The screens, their keys, and where the user is."""
        text = Text(no_wrap=True, overflow="crop")
        for mode, key, title in SCREENS:
            style = "bold reverse" if mode == self.current else ""
            text.append(" ")
            text.append(f" {key} {title} ", style=style)
        return text

    def on_click(self, event: events.Click) -> None:
        """Switch to the screen whose name was clicked."""
        x = 0
        for mode, key, title in SCREENS:
            width = len(f" {key} {title} ") + 1
            if x <= event.x < x + width:
                self.app.switch_mode(mode)
                return
            x += width
