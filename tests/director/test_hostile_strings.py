"""User strings that look like shell run nothing, secrets stay out of results, and what the director
writes to decide trust or work is the owner's alone — against a real sshd board (issue 8's security pass)."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path
from typing import List

from tests.devices.fakes import orin_nano, stub_lines
from tests.director.commandline import MODELS, QUICK, board_toml, make_director, one_error
from tests.sshd import Board

HOSTILE = "m$(touch PWNED1);`touch PWNED2`'q\"x\nnext line.onnx"
SECRET = "hf_s3cr3t-value"


def markers(*roots: Path) -> List[Path]:
    """Any PWNED file a hostile string would have created."""
    return [p for root in roots for p in root.rglob("PWNED*")]


def test_a_hostile_model_path_is_just_a_name_and_secrets_stay_out(sshd: Board, tmp_path):
    model = tmp_path / HOSTILE
    shutil.copyfile(MODELS / "tiny_float_b1.onnx", model)
    inventory = tmp_path / "devices.toml"
    inventory.write_text(board_toml(sshd, extra=f'env = {{ HF_TOKEN = "{SECRET}", PLAIN = "visible" }}'))
    known_hosts = tmp_path / "new" / "known_hosts"
    results = tmp_path / "results"
    done = make_director(tmp_path)("--inventory", inventory, "--known-hosts", known_hosts, "run", "--device", "board",
                                   "--model", model, "--ranges", "300,0.5", "--trust-host", *QUICK,
                                   "--results", results, "--json", timeout=180)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["model"]["path"] == str(model)
    assert run["device"]["env"] == {"HF_TOKEN": "***", "PLAIN": "visible"}
    assert markers(tmp_path, sshd.home, sshd.root) == []
    written = [p for p in results.rglob("*") if p.is_file()]
    assert [p for p in written if SECRET.encode() in p.read_bytes()] == []
    assert SECRET not in done.stdout + done.stderr
    assert stat.S_IMODE((results / "results.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(known_hosts.stat().st_mode) == 0o600


def test_hostile_power_mode_names_run_nothing(sshd: Board, tmp_path):
    fake = orin_nano(tmp_path)
    inventory = tmp_path / "devices.toml"
    inventory.write_text(board_toml(sshd, extra=f"""profile = "jetson"
sudo = "passwordless"
fs_root = "{fake.root}"
env = {{ PATH = "{fake.bin}:/usr/bin:/bin" }}
power_modes = {{ evil = "7W; touch PWNED3" }}"""))
    director = make_director(tmp_path)
    modes = "(board modes: 15W, 25W, MAXN_SUPER, 7W, evil (7W; touch PWNED3))"
    for asked, expected in (("x$(touch PWNED4)\n;touch PWNED5",
                             f"board: unknown power mode 'x$(touch PWNED4)\\n;touch PWNED5' {modes}"),
                            ("evil", f"board: power mode 'evil' = '7W; touch PWNED3' in devices.toml, which is "
                                     f"not on the board {modes}")):
        done = director("--inventory", inventory, "--known-hosts", sshd.known_hosts, "run", "--device", "board",
                        "--power-mode", asked, "--ranges", "300,0.5", *QUICK, "--results", tmp_path / "results")
        message = one_error(done, 2, progress=True)
        assert message == expected
    assert stub_lines(fake, "nvpmodel -m") == []
    assert markers(tmp_path, sshd.home, sshd.root) == []


def test_a_device_name_that_could_leave_the_results_folder_is_refused(tmp_path):
    inventory = tmp_path / "devices.toml"
    inventory.write_text('[devices."../../x$(touch PWNED6)"]\nhost = "127.0.0.1"\n')
    done = make_director(tmp_path)("--inventory", inventory, "devices")
    assert one_error(done, 2) == (f"{inventory}:1: device '../../x$(touch PWNED6)': not a name (expected letters, "
                                  "digits, '_', '-' and '.', starting with a letter or digit, at most 64)")
    assert markers(tmp_path) == []
