"""A tiny real Shell for tests: subprocess with argv lists and the device's env, never a shell string."""

from __future__ import annotations

import os
import subprocess
from typing import Dict, Optional, Sequence

from devices.inventory import Device
from devices.shell import CommandResult


class LocalShell:
    """Runs commands on this machine the way a transport would on a board (sudo -n when asked)."""

    def __init__(self, device: Device) -> None:
        self.env: Dict[str, str] = {**os.environ, **device.env}

    def run(
        self, argv: Sequence[str], timeout_s: float = 60.0, sudo: bool = False, stdin: Optional[str] = None
    ) -> CommandResult:
        """Run ARGV; a missing program is exit 127 like a shell would report it."""
        full = (["sudo", "-n"] if sudo else []) + list(argv)
        try:
            proc = subprocess.run(
                full, input=stdin, stdin=subprocess.DEVNULL if stdin is None else None,
                capture_output=True, text=True, env=self.env, timeout=timeout_s,
            )
        except FileNotFoundError:
            return CommandResult(127, "", f"{full[0]}: command not found")
        return CommandResult(proc.returncode, proc.stdout, proc.stderr)

    def read_text(self, path: str) -> Optional[str]:
        """The file's text, or None when it is missing or unreadable."""
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return None
