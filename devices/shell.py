"""The small interface profiles use to reach a device; the director's transports implement it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol, Sequence


@dataclass(frozen=True)
class CommandResult:
    """What a command did: its exit code and its output."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0


class Shell(Protocol):
    """Runs commands and reads files on one device (SSH or local), never through a shell string.

    argv is quoted by the implementation; sudo=True runs it through `sudo -n` per the device's
    sudo policy. read_text returns None when the file does not exist or cannot be read.
    """

    def run(
        self, argv: Sequence[str], timeout_s: float = 60.0, sudo: bool = False, stdin: Optional[str] = None
    ) -> CommandResult:
        ...

    def read_text(self, path: str) -> Optional[str]:
        ...
