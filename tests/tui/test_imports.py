"""tui/ stays thin: Textual, rich, the standard library and director.* only (never paramiko, pyserial or power)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List

from tests.test_boundaries import imports_of

TUI = Path(__file__).resolve().parents[2] / "tui"
ALLOWED_TOP = {"textual", "rich", "director", "tui", "__future__"}


def foreign_imports(root: Path) -> List[str]:
    """Every import under root that is neither stdlib nor allowed, as 'file imports name'."""
    stdlib = set(sys.stdlib_module_names)
    bad = []
    for path in sorted(root.rglob("*.py")):
        for name in sorted(imports_of(path)):
            top = name.split(".")[0]
            if top not in stdlib and top not in ALLOWED_TOP:
                bad.append(f"{path.relative_to(root.parent)} imports {name}")
    return bad


def test_tui_imports_only_textual_rich_stdlib_and_director():
    assert TUI.is_dir()
    assert foreign_imports(TUI) == []


def test_the_check_catches_paramiko_serial_and_power(tmp_path):
    package = tmp_path / "tui"
    package.mkdir()
    (package / "bad.py").write_text("import paramiko\nfrom serial import Serial\nfrom power.analyzers import x\n"
                                    "import json\nfrom director.lab import Lab\n")
    assert foreign_imports(package) == ["tui/bad.py imports paramiko", "tui/bad.py imports power.analyzers",
                                        "tui/bad.py imports power.analyzers.x", "tui/bad.py imports serial",
                                        "tui/bad.py imports serial.Serial"]
