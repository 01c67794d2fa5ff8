"""Fixtures for the agent: the committed test models, the tiny dataset, and running real passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "tests" / "fixtures" / "models"
TINY = REPO / "tests" / "fixtures" / "datasets" / "tiny"

# Short LoadGen runs: long enough for early stopping (>= 64 queries) on the tiny models.
SHORT = {"min_duration": 500}


@dataclass
class AgentRun:
    """A finished `python -m agent run` process and what it left behind."""

    returncode: int
    stdout: str
    stderr: str
    out: Path

    @property
    def result(self) -> Dict[str, Any]:
        return json.loads((self.out / "result.json").read_text())

    def text(self, name: str) -> str:
        return (self.out / name).read_text()

    def events(self) -> list:
        return [json.loads(line) for line in (self.out / "events.jsonl").read_text().splitlines()]


def agent_env(extra_path: Optional[str] = None) -> Dict[str, str]:
    """Environment for an agent subprocess (the repository on its path)."""
    env = dict(os.environ)
    paths = [p for p in (extra_path, str(REPO), env.get("PYTHONPATH")) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run_agent(
    job: Dict[str, Any], folder: Path, out_name: str = "out", extra_path: Optional[str] = None, cwd: Optional[Path] = None
) -> AgentRun:
    """Write job.json into folder and run one real pass in a fresh process."""
    folder.mkdir(parents=True, exist_ok=True)
    job_path = folder / "job.json"
    job_path.write_text(json.dumps(job))
    out = folder / out_name
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--job", str(job_path), "--out", str(out)],
        capture_output=True,
        text=True,
        env=agent_env(extra_path),
        cwd=str(cwd or folder),
        timeout=240,
    )
    return AgentRun(proc.returncode, proc.stdout, proc.stderr, out)


@pytest.fixture(scope="session")
def models() -> Path:
    """The committed test models."""
    return MODELS


@pytest.fixture(scope="session")
def tiny_dataset() -> Path:
    """32 labelled .npy samples whose expected accuracy per model is in expected.json."""
    return TINY


@pytest.fixture(scope="session")
def tiny_expected() -> Dict[str, Any]:
    """expected.json of the tiny dataset."""
    return json.loads((TINY / "expected.json").read_text())
