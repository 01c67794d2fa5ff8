"""Agent deployment over real sshd: content hash, copy once, atomic folder; the device's Python checked."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from director.deploy import AGENT_CACHE, agent_package, check_device, deploy_agent, local_python, setup_device
from director.errors import AgentUnavailable
from director.local import LocalTransport

REPO = Path(__file__).resolve().parents[2]


class CountingPuts:
    """Wraps a transport's put to count the files it sends."""

    def __init__(self, transport) -> None:
        self.count = 0
        self._put = transport.put
        transport.put = self

    def __call__(self, local: str, remote: str) -> None:
        self.count += 1
        self._put(local, remote)


def copy_agent(tmp_path: Path) -> Path:
    """A copy of the agent package to change freely, with clutter that must not count."""
    parent = tmp_path / "src"
    shutil.copytree(REPO / "agent", parent / "agent", ignore=shutil.ignore_patterns("__pycache__"))
    (parent / "agent" / "__pycache__").mkdir()
    (parent / "agent" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
    (parent / "agent" / "notes.txt").write_text("not shipped")
    return parent


def test_the_hash_covers_only_py_files_and_changes_with_them(tmp_path):
    parent = copy_agent(tmp_path)
    first = agent_package(str(parent))
    in_repo = agent_package(str(REPO))
    assert (first.files, first.digest) == (in_repo.files, in_repo.digest)  # clutter changes nothing
    assert all(f.startswith("agent/") and f.endswith(".py") for f in first.files) and "agent/serve.py" in first.files
    assert len(first.digest) == 16 and int(first.digest, 16) >= 0
    (parent / "agent" / "serve.py").write_text((parent / "agent" / "serve.py").read_text() + "\n# changed\n")
    assert agent_package(str(parent)).digest != first.digest


def test_deploy_copies_once_then_nothing(ssh, sshd, tmp_path):
    package = agent_package(str(copy_agent(tmp_path)))
    puts = CountingPuts(ssh)
    cache = f"~/cache-{tmp_path.name}"  # the session's board already has the agent in the default cache
    path = deploy_agent(ssh, package, cache=cache)
    assert path == f"{sshd.home}/cache-{tmp_path.name}/{package.digest}"
    assert puts.count == len(package.files)
    shipped = sorted(str(p.relative_to(path)) for p in Path(path).rglob("*") if p.is_file())
    assert shipped == list(package.files)  # .py files only, no __pycache__, no notes
    assert not [p for p in Path(path).parent.iterdir() if ".tmp-" in p.name]  # the temporary name is gone
    assert deploy_agent(ssh, package, cache=cache) == path and puts.count == len(package.files)  # second time: nothing copied


def test_the_deployed_agent_runs_on_the_board(ssh, board_python):
    path = deploy_agent(ssh)
    result = ssh.run_check([board_python, "-c", "import agent, sys; print(agent.__file__)"], env={"PYTHONPATH": path})
    assert result.stdout.strip() == f"{path}/agent/__init__.py"


def test_local_device_uses_the_repository_agent_in_place():
    assert deploy_agent(LocalTransport()) == str(REPO)
    assert local_python() == sys.executable
    assert AGENT_CACHE.startswith("~/")


def test_check_device_reports_modules_and_runtimes(ssh, board_python):
    report = check_device(ssh, board_python)
    assert report.ok and report.python_version == "{}.{}.{}".format(*sys.version_info[:3])
    assert report.modules["numpy"] and report.modules["mlperf_loadgen"] and report.modules["psutil"]
    assert "onnxruntime" in report.runtimes and "ai_edge_litert" in report.runtimes


def test_missing_modules_give_a_list_and_the_install_command(ssh, bare_python):
    with pytest.raises(AgentUnavailable) as err:
        check_device(ssh, bare_python)
    message = str(err.value)
    assert message.startswith("board: Python 3.") and "lacks numpy, psutil, mlperf_loadgen, a runtime" in message
    assert "pip install numpy psutil mlcommons-loadgen onnxruntime" in message
    assert "director setup --device board" in message and "\n" not in message
    report = check_device(ssh, bare_python, require=False)
    assert not report.ok and report.missing == ("numpy", "psutil", "mlperf_loadgen", "runtime")


def test_no_python_at_all(ssh):
    with pytest.raises(AgentUnavailable, match="no Python at 'python9.9'.*command not found"):
        check_device(ssh, "python9.9")


def test_setup_device_makes_a_venv_on_the_device(ssh, sshd):
    # No package index here: an empty package list makes the venv and reports what it lacks.
    report = setup_device(ssh, sys.executable, workdir="~/work", packages=())
    assert report.executable == f"{sshd.home}/work/venv/bin/python" and not report.ok
    assert (sshd.home / "work" / "venv" / "bin" / "pip").exists()
