"""LocalTransport: the built-in `local` device, through subprocess with argv lists."""

from __future__ import annotations

import json
import os
import sys

import pytest

from director.errors import BadInput, CommandFailed, TransportError
from director.local import LocalTransport
from director.transport import TimedOut
from tests.director.test_ssh import HOSTILE


@pytest.fixture
def local() -> LocalTransport:
    """The local device."""
    return LocalTransport()


def test_run_outputs_and_exit_code(local):
    result = local.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert local.run(["cat"], stdin="piped\n").stdout == "piped\n"


def test_hostile_arguments_arrive_intact(local):
    result = local.run_check([sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", *HOSTILE])
    assert json.loads(result.stdout) == HOSTILE


def test_missing_command_is_127_like_a_shell(local):
    result = local.run(["no-such-command-edgepower"])
    assert result.exit_code == 127 and "command not found" in result.stderr
    with pytest.raises(CommandFailed, match="exited 127"):
        local.run_check(["no-such-command-edgepower"])
    with pytest.raises(BadInput):
        local.run("ls -l")


def test_env_and_time_out(local):
    assert local.run(["printenv", "X_EDGE"], env={"X_EDGE": "a b"}).stdout == "a b\n"
    with pytest.raises(TimedOut):
        local.run(["sleep", "5"], timeout_s=0.2)


def test_run_streamed(local, tmp_path):
    flag, seen = tmp_path / "flag", []

    def on_line(line: str) -> None:
        seen.append(line)
        flag.touch()

    script = f"echo one; while [ ! -e {flag} ]; do sleep 0.02; done; echo two >&2; printf three"
    result = local.run_streamed(["sh", "-c", script], on_line, timeout_s=20)
    assert seen == ["one", "three"]
    assert result.ok and result.stdout == "one\nthree" and result.stderr == "two\n"


def test_files(local, tmp_path):
    (tmp_path / "a.txt").write_text("content\n")
    local.put(str(tmp_path / "a.txt"), str(tmp_path / "b.txt"))
    local.get(str(tmp_path / "b.txt"), str(tmp_path / "c.txt"))
    assert local.read_text(str(tmp_path / "c.txt")) == "content\n"
    assert local.read_text(str(tmp_path / "none")) is None and local.read_text(str(tmp_path)) is None
    local.makedirs(str(tmp_path / "x" / "y"))
    local.rename(str(tmp_path / "x"), str(tmp_path / "z"))
    assert local.exists(str(tmp_path / "z" / "y"))
    with pytest.raises(TransportError):
        local.put(str(tmp_path / "a.txt"), str(tmp_path / "no" / "dir" / "f"))
    assert local.home() == os.path.expanduser("~") and local.expand_home("~/x") == os.path.expanduser("~/x")


def test_channel_lines_and_stderr(local):
    chan = local.open_channel([sys.executable, "-c", "import sys\nprint('err', file=sys.stderr, flush=True)\nfor l in sys.stdin: print(l.upper(), end='', flush=True)"])
    chan.send_line("hello")
    assert chan.read_line(10) == "HELLO\n"
    with pytest.raises(TimedOut):
        chan.read_line(0.2)
    chan.close()
    assert "err" in chan.stderr_text()
