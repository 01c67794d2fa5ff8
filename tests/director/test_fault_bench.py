"""bench/faults: one cheap scenario through the bench's own code, so the bench cannot rot silently."""

from __future__ import annotations

from typing import List

from bench._faultlab import Fault, Lab, Trial
from bench.faults import run_scenario, table


def test_the_ssh_drop_scenario_survives_with_nothing_lost(tmp_path):
    lab = Lab(tmp_path, min_duration_ms=2000)
    reported: List[Trial] = []
    try:
        row = run_scenario(lab, "ssh_drop", 1, reported.append)
    finally:
        lab.close()
    (trial,) = reported
    assert (row.trials, row.survived, row.lost) == (1, 1, 0), trial.json()
    assert row.ok and trial.why == []
    # The fault hit the pass with samples already on disk, and the job ended done on its first attempt.
    assert trial.detail["samples_at_fault"] > 0
    assert list(trial.detail["attempts"].values()) == [["done"]]
    assert row.worst_recovery_s is not None and 0 < row.worst_recovery_s < 20
    head, _, line = table([row]).splitlines()
    assert [cell.strip() for cell in head.split("|")] == ["scenario", "trials", "survived", "data lost",
                                                           "worst recovery (s)"]
    assert [cell.strip() for cell in line.split("|")] == ["ssh_drop", "1", "1", "0", f"{row.worst_recovery_s:.1f}"]


def test_data_lost_counts_the_rows_gone_since_the_fault(tmp_path):
    one, two = tmp_path / "run1" / "samples.csv", tmp_path / "run2" / "samples.csv"
    for path in (one, two):
        path.parent.mkdir()
        path.write_text("t_end_ns,interval_ns,power_w\n1000,100,5.0\n1100,100,5.0\n1200,100,5.0\n12")
    fault = Fault()
    fault.mark(tmp_path, "job")
    assert fault.at_fault() == 6  # complete rows only: the one being written is not yet on disk
    with one.open("a") as f:
        f.write("00,100,5.0\n")  # rows written after the fault are not the fault's to lose
    assert fault.lost(tmp_path) == 0
    one.write_text("t_end_ns,interval_ns,power_w\n1000,100,5.0\n")  # truncated
    two.unlink()  # deleted
    assert fault.lost(tmp_path) == 2 + 3
