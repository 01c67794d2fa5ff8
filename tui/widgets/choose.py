"""A small modal that asks for one choice from a list (a power mode) or a yes / no."""

from __future__ import annotations

from typing import Optional, Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList


class Choose(ModalScreen[Optional[str]]):
    """Pick one of OPTIONS with the arrows and Enter (or a click); Escape picks nothing."""

    DEFAULT_CSS = """
    Choose { align: center middle; }
    Choose > Vertical { width: 60; height: auto; max-height: 18; border: round $accent; background: $surface; }
    Choose Label { width: 100%; padding: 0 1; }
    Choose OptionList { height: auto; max-height: 12; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Back")]

    def __init__(self, title: str, options: Sequence[str], note: str = "") -> None:
        super().__init__()
        self.title_text, self.options, self.note = title, list(options), note

    def compose(self) -> ComposeResult:
        """The question, the options, a note."""
        with Vertical():
            yield Label(self.title_text)
            yield OptionList(*self.options)
            if self.note:
                yield Label(self.note, classes="note")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """The choice made."""
        self.dismiss(self.options[event.option_index])

    def action_dismiss_none(self) -> None:
        """No choice."""
        self.dismiss(None)
