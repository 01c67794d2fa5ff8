"""A Jetson power mode set by the measured session over real sshd, on a fake Orin Nano tree with stub commands.

The board is the sshd "board" with profile jetson: its sysfs/proc/etc reads go to the fake tree
(fs_root) and its commands find the stubs first on PATH (tests/devices/fakes.py). Mode 7W needs a
reboot there: nvpmodel declines it, the fake `reboot` applies it and writes a new boot_id.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, List

import pytest

import director.session
from director.errors import DirectorError
from director.runspec import RunSpec
from director.session import Progress, Session
from director.store import open_store
from tests.devices.fakes import BOOT_ID, FakeBoard, orin_nano, stub_lines
from tests.director.commandline import MODELS, QUICK, board_toml, make_director, one_error
from tests.sshd import Board


@pytest.fixture
def orin(tmp_path) -> FakeBoard:
    """A fake Orin Nano in MAXN_SUPER (id 2); 7W (id 3) needs a reboot."""
    return orin_nano(tmp_path)


@pytest.fixture(autouse=True)
def quick_reboot_polls(monkeypatch):
    monkeypatch.setattr(director.session, "REBOOT_POLL_S", 0.05)


def inventory(tmp: Path, board: Board, fake: FakeBoard, extra: str = "") -> Path:
    path = tmp / "devices.toml"
    path.write_text(board_toml(board, extra=f"""profile = "jetson"
sudo = "passwordless"
fs_root = "{fake.root}"
env = {{ PATH = "{fake.bin}{os.pathsep}{os.environ['PATH']}" }}
{extra}"""))
    return path


def spec(tmp: Path, board: Board, fake: FakeBoard, power_mode: str, **changes: Any) -> RunSpec:
    base = dict(
        device="board", model=str(MODELS / "tiny_float_b1.onnx"), power_mode=power_mode, ranges=(300.0, 0.5),
        settings={"min_duration": 1500}, calibration_s=0.3, settle_s=0.3, idle_s=1.0, clock_pings=20,
        results=str(tmp / "results"), inventory=str(inventory(tmp, board, fake)), known_hosts=str(board.known_hosts),
        reboot_timeout_s=20.0,
    )
    base.update(changes)
    return RunSpec(**base)


def test_a_mode_that_needs_a_reboot_reboots_reconnects_and_verifies(tmp_path, sshd, orin):
    seen: List[Progress] = []
    run = Session(spec(tmp_path, sshd, orin, "7W"), on_progress=seen.append).run()
    assert run["status"] == "ok", run.get("reason") or run["checks"]
    assert run["power_mode"] == "7W"
    assert run["power_mode_change"] == {"from": "MAXN_SUPER", "to": "7W", "rebooted": True}
    # nvpmodel declined 7W (it wants a reboot), the board rebooted, and only then was the mode checked by name.
    calls = orin.calls()
    assert calls[:3] == ["nvpmodel -q", "nvpmodel -m 3", "reboot "]
    assert "nvpmodel -q" in calls[3:] and stub_lines(orin, "nvpmodel -m") == ["nvpmodel -m 3"]
    assert orin.read(".stub/nvpmodel_current").strip() == "3"
    # The facts in run.json are the new boot's.
    new_boot = orin.read("proc/sys/kernel/random/boot_id").strip()
    assert new_boot != BOOT_ID and run["device"]["facts"]["boot_id"] == new_boot
    details = [p.detail for p in seen if p.phase == "power mode"]
    assert details[:2] == ["7W", "7W needs a reboot"] and "waiting for the board to come back" in details
    on_disk = json.loads((Path(run["folder"]) / "run.json").read_text())
    assert on_disk["power_mode_change"] == run["power_mode_change"]
    assert open_store(str(tmp_path / "results" / "results.db")).get(run["run_id"]).summary["power_mode"] == "7W"


def test_a_mode_without_a_reboot_is_set_and_verified_in_place(tmp_path, sshd, orin):
    run = Session(spec(tmp_path, sshd, orin, "15W")).run()
    assert run["status"] == "ok", run.get("reason") or run["checks"]
    assert run["power_mode_change"] == {"from": "MAXN_SUPER", "to": "15W", "rebooted": False}
    assert stub_lines(orin, "reboot") == [] and stub_lines(orin, "nvpmodel -m") == ["nvpmodel -m 0"]
    assert orin.read(".stub/nvpmodel_current").strip() == "0"
    assert run["device"]["facts"]["boot_id"] == BOOT_ID


def test_a_board_that_does_not_come_back_fails_the_run_with_the_reason(tmp_path, sshd, orin):
    orin.stub("reboot", 'echo "reboot $*" >> "$S/calls"\nexit 0\n')  # asks, but never reboots
    session = Session(spec(tmp_path, sshd, orin, "7W", reboot_timeout_s=0.5))
    with pytest.raises(DirectorError, match=r"^board did not come back within 0\.5 s \(still the same boot_id\)$"):
        session.run()
    run = json.loads((Path(session.folder) / "run.json").read_text())
    assert run["status"] == "failed"
    assert run["reason"] == "power mode: board did not come back within 0.5 s (still the same boot_id)"
    assert stub_lines(orin, "reboot") == ["reboot "] and orin.read(".stub/nvpmodel_current").strip() == "2"


def test_an_unknown_mode_is_one_line_naming_the_known_modes(tmp_path, sshd, orin):
    inv = inventory(tmp_path, sshd, orin, extra='power_modes = { low = "7W" }')
    results = tmp_path / "results"
    proc = make_director(tmp_path)("--inventory", inv, "--known-hosts", sshd.known_hosts, "run", "--device", "board",
                                   "--power-mode", "3W", *QUICK, "--results", results)
    message = "board: unknown power mode '3W' (board modes: 15W, 25W, MAXN_SUPER, 7W, low (7W))"
    assert one_error(proc, 2, progress=True) == message
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    run = json.loads((folder / "run.json").read_text())
    assert run["status"] == "failed" and run["reason"] == f"power mode: {message}"
    assert stub_lines(orin, "nvpmodel -m") == [] and stub_lines(orin, "reboot") == []


def test_a_power_mode_on_a_board_without_modes_is_one_line(tmp_path):
    results = tmp_path / "results"
    proc = make_director(tmp_path)("run", "--device", "local", "--analyzer", "sim", "--power-mode", "7W", *QUICK,
                                   "--results", results)
    assert one_error(proc, 2, progress=True) == "local: profile 'linux' has no power modes (asked for '7W')"
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    assert json.loads((folder / "run.json").read_text())["reason"] == (
        "power mode: local: profile 'linux' has no power modes (asked for '7W')")
