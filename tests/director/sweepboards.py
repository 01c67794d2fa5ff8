"""Boards for sweep tests: real sshd instances on loopback, each a fake Orin Nano with its own simulated analyzer.

Each board's commands find the fake nvpmodel/reboot first on PATH and read sysfs from its fake
tree (tests/devices/fakes.py); 7W needs a reboot there. Each board's `sim` analyzer follows only
the CPU of the processes started under that board's HOME, so boards measured at the same time do
not see each other's load.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, List, Sequence

import psutil

from tests.devices.fakes import FakeBoard, orin_nano
from tests.director.commandline import MODELS, board_toml
from tests.sshd import Board, start_sshd


# A board drawing 30 W at rest reads well inside 1 % uncertainty on the fixed 300 V / 0.5 A ranges.
IDLE_W = 30.0
LOAD_W = 20.0


LOCAL_BENCH = f"""
[analyzers.wt]
model = "WT310E"
url = "sim:cpu"
options = {{ idle_w = {IDLE_W}, load_w = {LOAD_W} }}

[devices.local]
kind = "local"
analyzer = "wt"
"""
"""An inventory: the built-in local device measured by a simulated bench drawing 30 W at rest."""


@dataclass
class SweepBoard:
    """One board: its sshd and its fake tree."""

    name: str
    sshd: Board
    fake: FakeBoard

    def agent_processes(self) -> List[psutil.Process]:
        """The agent processes (serve and pass workers) running for this board."""
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if "agent" in cmdline and any(str(self.sshd.home) in part for part in cmdline):
                found.append(proc)
        return found

    def reboot_behind_our_back(self) -> None:
        """What a board that rebooted on its own looks like: a new boot_id, its agent processes gone."""
        self.fake.write("proc/sys/kernel/random/boot_id", "0badb007-0000-4000-8000-000000000001\n")
        for proc in self.agent_processes():
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass


def start_boards(tmp: Path, count: int) -> List[SweepBoard]:
    """count boards named board1..boardN."""
    boards = []
    for index in range(1, count + 1):
        name = f"board{index}"
        boards.append(SweepBoard(name, start_sshd(tmp / f"{name}-sshd"), orin_nano(tmp / f"{name}-tree")))
    return boards


@contextlib.contextmanager
def two_boards(tmp: Path) -> Iterator[List[SweepBoard]]:
    """board1 and board2, stopped at the end."""
    found = start_boards(tmp, 2)
    try:
        yield found
    finally:
        for board in found:
            board.sshd.stop()


def write_inventory(path: Path, boards: Sequence[SweepBoard], analyzers: Iterable[str] = ()) -> Path:
    """devices.toml: every board with the jetson profile on its fake tree and its own sim analyzer
    (or the [analyzers] tables given, named `<board>_wt`)."""
    parts = list(analyzers)
    for board in boards:
        if not any(part.startswith(f"[analyzers.{board.name}_wt]") for part in parts):
            parts.append(f'[analyzers.{board.name}_wt]\nmodel = "WT310E"\nurl = "sim:cpu"\n'
                         f'options = {{ cpu_of = "{board.sshd.home}", idle_w = {IDLE_W}, load_w = {LOAD_W} }}\n')
        extra = (f'profile = "jetson"\nsudo = "passwordless"\nfs_root = "{board.fake.root}"\n'
                 f'env = {{ PATH = "{board.fake.bin}{os.pathsep}{os.environ["PATH"]}" }}\n')
        parts.append(board_toml(board.sshd, name=board.name, extra=extra).replace(
            'analyzer = "sim"', f'analyzer = "{board.name}_wt"'))
    path.write_text("\n".join(parts))
    return path


def known_hosts(path: Path, boards: Sequence[SweepBoard]) -> Path:
    """One known_hosts file trusting every board."""
    path.write_text("".join(board.sshd.host_public_line for board in boards))
    return path


def sweep_toml(name: str, devices: Sequence[str], models: Sequence[str] = ("tiny_float_b1.onnx",),
               scenarios: Sequence[str] = ("SingleStream",), power_modes: Sequence[str] = (),
               repeats: int = 1, extra: str = "", min_duration_ms: int = 1000) -> str:
    """A short sweep: fixed ranges (no ranging pass), 1 s passes, 0.2 s calibration, 0.5 s idle."""
    modes = f"power_modes = {list(power_modes)!r}\n" if power_modes else ""
    text = f"""[sweep]
name = "{name}"
repeats = {repeats}
{extra}
[matrix]
scenarios = {list(scenarios)!r}
{modes}
[run]
ranges = [300.0, 0.5]
calibration_s = 0.2
telemetry_interval_s = 0.2
clock_pings = 16
settings = {{ min_duration = {min_duration_ms} }}

[cooldown]
seconds = 0

[idle]
seconds = 0.5
"""
    for device in devices:
        text += f"\n[devices.{device}]\n"
    for model in models:
        stem = Path(model).stem
        text += f'\n[models.{stem}]\npath = "{MODELS / model}"\n'
    return text.replace("'", '"')
