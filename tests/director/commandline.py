"""Running the real `director` command as a user does: a subprocess, its exit code, stdout and stderr.

The command gets its own HOME (no ~/.ssh/config, known_hosts, ssh-agent or user inventory of the
machine leaks in) and PYTHONPATH pointing at the repository, nothing else.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence

from tests.director.conftest import BOARD_PYTHON
from tests.sshd import Board

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "tests" / "fixtures" / "models"
ERROR = "director: error: "
PROGRESS_LINE = re.compile(
    r"(preflight|power mode|settle|idle|ranging|run_1) +\d\d:\d\d \(eta \d\d:\d\d\) +(--|-?[\d.]+) +W  .*"
)
QUICK = ("--setting", "min_duration=1500", "--settle", "0.3", "--idle", "1", "--calibration", "0.3")
"""A short run: 1.5 s passes, 0.3 s settle and calibration, 1 s idle baseline."""


@dataclass
class Director:
    """Runs `python -m director.cli ARGS` in cwd with HOME=home."""

    home: Path
    cwd: Path

    def env(self) -> dict:
        """The command's environment."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("EDGEPOWER_INVENTORY", "XDG_CONFIG_HOME", "SSH_AUTH_SOCK", "PYTHONPATH")}
        env.update(PYTHONPATH=str(REPO), HOME=str(self.home))
        return env

    def argv(self, args: Sequence[Any]) -> List[str]:
        """The full command line."""
        return [sys.executable, "-m", "director.cli", *map(str, args)]

    def __call__(self, *args: Any, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run to the end; the finished process with text stdout and stderr."""
        return subprocess.run(self.argv(args), cwd=self.cwd, env=self.env(), capture_output=True, text=True,
                              timeout=timeout)

    def start(self, *args: Any) -> subprocess.Popen:
        """Start without waiting (stderr piped, line by line)."""
        return subprocess.Popen(self.argv(args), cwd=self.cwd, env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, bufsize=1)


def make_director(root: Path) -> Director:
    """A Director with a fresh HOME under root, run from root."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    return Director(home, root)


def one_error(proc: subprocess.CompletedProcess, exit_code: int, progress: bool = False) -> str:
    """The one `director: error:` line of a failed command (without the prefix), after checking the rest.

    The exit code must be exit_code, nothing may mention a traceback, and every other stderr line
    must be a progress line (only allowed with progress=True, for `director run`).
    """
    output = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == exit_code, output
    assert "Traceback" not in proc.stderr + proc.stdout, output
    lines = proc.stderr.splitlines()
    errors = [line for line in lines if line.startswith(ERROR)]
    assert len(errors) == 1, output
    others = [line for line in lines if not line.startswith(ERROR)]
    if progress:
        assert all(PROGRESS_LINE.fullmatch(line) for line in others), output
    else:
        assert others == [], output
    return errors[0][len(ERROR):]


def board_toml(board: Board, name: str = "board", python: str = BOARD_PYTHON,
               identity: Optional[Path] = None, extra: str = "") -> str:
    """A [devices.NAME] table for an sshd board."""
    return f"""
[devices.{name}]
host = "{board.host}"
port = {board.port}
user = "root"
identity_files = ["{identity or board.client_key}"]
python = "{python}"
analyzer = "sim"
{extra}
"""
