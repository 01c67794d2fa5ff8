"""Static checks: the agent runs on Python 3.8, and imports flow one way between the packages."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Set

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "power", "devices", "director", "tui")
# What each package may import from the others (DESIGN.md: tui -> director -> {devices, power, agent.protocol}).
ALLOWED: Dict[str, Set[str]] = {
    "agent": set(),
    "power": set(),
    "devices": {"power"},
    "director": {"devices", "power", "agent.protocol"},
    "tui": {"director"},
}
# The one import against the flow: the console script's `tui` command loads the UI, lazily, inside its function.
ENTRY_POINT_IMPORTS: Dict[str, Set[str]] = {"director/cli.py": {"tui.app", "tui.app.main"}}
# The agent is copied alone to the device: besides the standard library it may only use these.
AGENT_THIRD_PARTY = {"numpy", "psutil", "mlperf_loadgen", "onnxruntime", "ai_edge_litert", "tflite_runtime"}


def imports_of(path: Path) -> Set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def vermin_38(path: Path) -> subprocess.CompletedProcess:
    vermin = shutil.which("vermin", path=str(Path(sys.executable).parent)) or shutil.which("vermin")
    assert vermin, "vermin is part of the dev extra"
    return subprocess.run(
        [vermin, "-q", "--eval-annotations", "--no-tips", "--target=3.8-", "--violations", str(path)],
        capture_output=True, text=True,
    )


def test_agent_targets_python_3_8():
    proc = vermin_38(REPO / "agent")
    assert proc.returncode == 0, f"agent/ needs a Python newer than 3.8:\n{proc.stdout}{proc.stderr}"


def test_python_check_can_fail(tmp_path):
    (tmp_path / "new.py").write_text("def f(x: list[int]) -> str:\n    return 'ab'.removeprefix('a')\n")
    assert vermin_38(tmp_path).returncode != 0


# Packages come with the issues that fill them; each is checked from the day it exists.
@pytest.mark.parametrize("package", [p for p in PACKAGES if (REPO / p).is_dir()])
def test_imports_flow_one_way(package):
    root = REPO / package
    bad = []
    for path in sorted(root.rglob("*.py")):
        for name in imports_of(path):
            top = name.split(".")[0]
            if top not in PACKAGES or top == package:
                continue
            if name in ENTRY_POINT_IMPORTS.get(str(path.relative_to(REPO)), set()):
                continue
            if not any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED[package]):
                bad.append(f"{path.relative_to(REPO)} imports {name}")
    assert not bad, "\n".join(bad)


def test_agent_uses_only_its_own_dependencies():
    stdlib = set(sys.stdlib_module_names)
    bad = []
    for path in sorted((REPO / "agent").rglob("*.py")):
        for name in imports_of(path):
            top = name.split(".")[0]
            if top not in stdlib and top != "agent" and top not in AGENT_THIRD_PARTY and top != "__future__":
                bad.append(f"{path.relative_to(REPO)} imports {name}")
    assert not bad, "\n".join(bad)


def test_boundary_check_can_fail(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import director.cli\nfrom power import sample\n")
    assert imports_of(sample) == {"director.cli", "power", "power.sample"}
