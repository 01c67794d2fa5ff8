"""`director run --mode accuracy`: one pass over the whole labelled dataset, scored, power kept but not judged."""

from __future__ import annotations

import json


def test_accuracy_run_has_one_scored_pass(edge_runs) -> None:
    for scenario in ("SingleStream", "Offline"):
        run = json.loads((edge_runs[f"{scenario}-accuracy"] / "run.json").read_text())
        assert (run["mode"], run["status"], run["conformant"], list(run["passes"])) == ("accuracy", "ok", True, ["run_1"])
        checks = {c["name"]: (c["status"], c["reason"]) for c in run["checks"]}
        assert checks["accuracy"] == ("pass", "accuracy=75.000%, good=24, total=32")
        assert "uncertainty" not in checks and "bad_samples" not in checks  # a 2 ms window's power is not judged
        assert run["passes"]["run_1"]["agent"]["accuracy"]["total"] == 32
