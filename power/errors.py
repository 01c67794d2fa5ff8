"""Exceptions of the power package: one root, a few specific kinds."""

from __future__ import annotations


class PowerError(Exception):
    """Root of every error raised by the power package."""


class AnalyzerNotFound(PowerError):
    """No driver is registered for the requested analyzer model."""


class AnalyzerIOError(PowerError):
    """The instrument could not be reached, went silent, or vanished."""


class AnalyzerProtocolError(PowerError):
    """The instrument answered with something the protocol does not allow."""


class InstrumentError(PowerError):
    """The instrument reported an error in its own error queue."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"instrument error {code}: {message}")
        self.code = code
        self.text = message


class FileFormatError(PowerError):
    """A power file (spl.txt, samples.csv) is malformed; the message names the line."""


class CommandRejected(PowerError):
    """The instrument (or PTDaemon) refused a command, e.g. an 'Error' reply to a range setting."""
