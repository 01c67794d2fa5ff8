"""KeptOpen: a sweep's analyzers stay open across jobs, and are opened afresh after a fault."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from director.sweep_kept import KeptOpen

INVENTORY = """
[analyzers.meter]
model = "WT310E"
url = "sim:constant"

[devices.a]
host = "127.0.0.1"
analyzer = "meter"

[devices.b]
host = "127.0.0.1"
analyzer = "meter"
"""


def test_analyzer_is_reused_until_dropped_or_dead(tmp_path: Path) -> None:
    inventory = tmp_path / "devices.toml"
    inventory.write_text(INVENTORY)
    kept = KeptOpen(str(inventory), None)
    try:
        first = kept.analyzer("a")
        assert first is not None and kept.analyzer("a") is first  # the second job gets the same sampler
        other = kept.analyzer("b")
        assert other is not None and other.analyzer.pid != first.analyzer.pid  # a simulator per device

        kept.drop("a")  # after a fault
        assert not first.analyzer.running
        second = kept.analyzer("a")
        assert second is not None and second.analyzer.pid != first.analyzer.pid

        os.kill(second.analyzer.pid, signal.SIGKILL)  # the sampler process died between jobs
        second.analyzer._proc.wait(5)
        third = kept.analyzer("a")
        assert third is not None and third.analyzer.running and third.analyzer.pid != second.analyzer.pid

        kept.release("a")  # a's jobs are over: b keeps its own
        assert not third.analyzer.running and other.analyzer.running
    finally:
        kept.close()
    assert not other.analyzer.running
