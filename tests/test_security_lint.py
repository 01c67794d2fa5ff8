"""The security lint (ruff's S rules, from bandit) over every package: no finding without a reason in place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CODE = ("agent", "director", "devices", "power", "tui", "bench", "tools")


def test_security_lint_is_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", *CODE],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip().splitlines()[-1:]) == (0, ["All checks passed!"]), done.stdout + done.stderr


def test_lint_catches_a_shell_command(tmp_path) -> None:
    """The lint is live: a string-pasted shell command is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("import subprocess\n\ndef run(name):\n    subprocess.call('nvpmodel -m ' + name, shell=True)\n")
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
                           "--config", str(REPO / "pyproject.toml"), str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "S602" in done.stdout
