"""Real run folders for the submission tests: `director run` on the local device with the sim analyzer,
performance (3 s passes) and accuracy (the tiny labelled dataset), both scenarios; made once per session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import pytest

from tests.director.commandline import MODELS, REPO, make_director

TINY = REPO / "tests" / "fixtures" / "datasets" / "tiny"
PERF = ("--setting", "min_duration=3000", "--settle", "0.3", "--idle", "1", "--calibration", "0.5")
ANSWERS = """
[system]
host_storage_capacity = "64 GB"
host_storage_type = "eMMC"
host_memory_configuration = "2x LPDDR5"
host_networking = "Gig Ethernet"
host_network_card_count = "1"
host_networking_topology = "N/A"
cooling = "passive heatsink"

[measurements]
retraining = "No"
weight_data_types = "fp32"
weight_transformations = "none"
"""


@pytest.fixture(scope="session")
def edge_runs(tmp_path_factory) -> Dict[str, Path]:
    """{"SingleStream": folder, "Offline": ..., "SingleStream-accuracy": ..., "Offline-accuracy": ...}."""
    root = tmp_path_factory.mktemp("edge_runs")
    director = make_director(root)
    results = root / "results"
    runs: Dict[str, Path] = {}
    for scenario in ("SingleStream", "Offline"):
        for mode, extra in (("performance", PERF), ("accuracy", ("--npy", str(TINY), "--settle", "0.3", "--idle", "1"))):
            done = director("run", "--device", "local", "--analyzer", "sim", "--model", MODELS / "tiny_float.onnx",
                            "--scenario", scenario, "--mode", mode, "--results", results, "--json", *extra, timeout=180)
            assert done.returncode == 0, done.stderr
            folder = Path(json.loads(done.stdout)["folder"])
            runs[scenario if mode == "performance" else f"{scenario}-accuracy"] = folder
    return runs


@pytest.fixture()
def answers(tmp_path) -> Path:
    """An --answers file with what the runs cannot tell."""
    path = tmp_path / "answers.toml"
    path.write_text(ANSWERS)
    return path
