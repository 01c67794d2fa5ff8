"""The sweep spec: real TOML files and a real inventory in tmp_path, jobs in their exact order, estimates,
overrides, the JSON round trip, the plan, and every kind of bad input as its exact one-line message."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import List

import pytest

from devices.errors import UnknownDevice
from devices.inventory import Inventory, load_inventory
from director.errors import BadInput
from director.runspec import RunSpec
from director.sweepplan import POWER_MODE_CHANGE_S, hms
from director.sweepread import key_lines
from director.sweepspec import (
    Cooldown, IdlePolicy, SweepJob, SweepSpec, check_power_modes, format_plan, job_estimate_s, load_sweep_spec,
)

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "tests" / "fixtures" / "models"

BASE = """\
[sweep]
name = "nightly"
repeats = 2

[matrix]
scenarios = ["SingleStream", "Offline"]
power_modes = ["15W", "7W"]

[run]
profile = "quick"
settings = { min_duration = 1000 }

[cooldown]
seconds = 30

[idle]
policy = "every_job"

[devices.board1]
[devices.board2]

[models.a]
path = "models/a.onnx"

[models.b]
path = "models/b.onnx"
"""
"""2 devices x 2 models x 2 scenarios x 2 modes x 2 repeats; the line numbers matter to the error tests."""


@pytest.fixture
def inventory(tmp_path) -> Inventory:
    """board1 and board2 (ssh, never reached) plus the built-in local."""
    path = tmp_path / "devices.toml"
    path.write_text('[devices.board1]\nhost = "127.0.0.1"\nprofile = "jetson"\n\n'
                    '[devices.board2]\nhost = "127.0.0.2"\nprofile = "jetson"\n')
    return load_inventory(str(path), ssh_config_path=str(tmp_path / "no_ssh_config"))


@pytest.fixture
def folder(tmp_path) -> Path:
    """The spec's folder, with models/a.onnx, models/b.onnx and models/c.tflite."""
    root = tmp_path / "spec"
    (root / "models").mkdir(parents=True)
    shutil.copy(MODELS / "tiny_float_b1.onnx", root / "models" / "a.onnx")
    shutil.copy(MODELS / "tiny_int8.onnx", root / "models" / "b.onnx")
    shutil.copy(MODELS / "tiny_float.tflite", root / "models" / "c.tflite")
    return root


def write(folder: Path, text: str) -> str:
    path = folder / "sweep.toml"
    path.write_text(text)
    return str(path)


def load(folder: Path, inventory: Inventory, text: str = BASE) -> SweepSpec:
    return load_sweep_spec(write(folder, text), inventory)


def keys(jobs) -> List[str]:
    return [job.key for job in jobs]


# -- jobs and their order ---------------------------------------------------------------------------------

INTERLEAVED_BOARD1 = [
    "a/auto/t-/SingleStream/15W/r1", "a/auto/t-/Offline/15W/r1", "b/auto/t-/SingleStream/15W/r1",
    "b/auto/t-/Offline/15W/r1",
    "a/auto/t-/SingleStream/7W/r1", "a/auto/t-/Offline/7W/r1", "b/auto/t-/SingleStream/7W/r1",
    "b/auto/t-/Offline/7W/r1",
    "a/auto/t-/Offline/15W/r2", "b/auto/t-/SingleStream/15W/r2", "b/auto/t-/Offline/15W/r2",
    "a/auto/t-/SingleStream/15W/r2",
    "a/auto/t-/Offline/7W/r2", "b/auto/t-/SingleStream/7W/r2", "b/auto/t-/Offline/7W/r2",
    "a/auto/t-/SingleStream/7W/r2",
]
GROUPED_BOARD1 = [
    "a/auto/t-/SingleStream/15W/r1", "a/auto/t-/SingleStream/15W/r2", "a/auto/t-/Offline/15W/r1",
    "a/auto/t-/Offline/15W/r2", "b/auto/t-/SingleStream/15W/r1", "b/auto/t-/SingleStream/15W/r2",
    "b/auto/t-/Offline/15W/r1", "b/auto/t-/Offline/15W/r2",
    "a/auto/t-/SingleStream/7W/r1", "a/auto/t-/SingleStream/7W/r2", "a/auto/t-/Offline/7W/r1",
    "a/auto/t-/Offline/7W/r2", "b/auto/t-/SingleStream/7W/r1", "b/auto/t-/SingleStream/7W/r2",
    "b/auto/t-/Offline/7W/r1", "b/auto/t-/Offline/7W/r2",
]


def test_interleaved_order_goes_repeat_by_repeat_mode_by_mode_with_cases_rotated(folder, inventory):
    spec = load(folder, inventory)
    assert spec.order == "interleaved" and len(spec.jobs) == 32
    assert keys(spec.jobs[0::2]) == [f"board1/{case}" for case in INTERLEAVED_BOARD1]
    assert keys(spec.jobs[1::2]) == [f"board2/{case}" for case in INTERLEAVED_BOARD1]
    first = spec.jobs[0]
    assert first == SweepJob(
        key="board1/a/auto/t-/SingleStream/15W/r1", device="board1", model_name="a",
        model_path=str(folder / "models" / "a.onnx"), runtime="auto", threads=None, scenario="SingleStream",
        power_mode="15W", repeat=1, run={"profile": "quick", "settings": {"min_duration": 1000.0}},
    )


def test_grouped_order_runs_a_cases_repeats_back_to_back_within_its_mode(folder, inventory):
    spec = load(folder, inventory, BASE.replace("repeats = 2", 'repeats = 2\norder = "grouped"'))
    assert spec.order == "grouped"
    assert keys(spec.jobs[0::2]) == [f"board1/{case}" for case in GROUPED_BOARD1]
    assert keys(spec.jobs[1::2]) == [f"board2/{case}" for case in GROUPED_BOARD1]


def test_defaults_give_one_job_per_device_and_model_and_keys_name_threads_and_no_mode(folder, inventory):
    text = '[sweep]\nname = "s"\n[devices.local]\n[models.a]\npath = "models/a.onnx"\nthreads = [2, 4]\n'
    spec = load(folder, inventory, text)
    assert keys(spec.jobs) == ["local/a/auto/t2/SingleStream/-/r1", "local/a/auto/t4/SingleStream/-/r1"]
    assert [job.threads for job in spec.jobs] == [2, 4] and spec.jobs[0].power_mode is None
    assert (spec.cooldown, spec.idle, spec.max_attempts) == (Cooldown(), IdlePolicy(), 3)
    assert (spec.job_timeout_s, spec.budget_s, spec.stop_after_failures, spec.stop_at_ns, spec.results) == (
        None, None, None, None, None)


def test_devices_with_different_job_counts_interleave_until_the_longer_one_is_done(folder, inventory):
    text = BASE.replace("[devices.board2]", '[devices.board2]\npower_modes = ["7W"]')
    spec = load(folder, inventory, text)
    devices = [job.device for job in spec.jobs]
    assert devices == ["board1", "board2"] * 8 + ["board1"] * 8


# -- overrides and [run] ------------------------------------------------------------------------------------

OVERRIDES = """\
[sweep]
name = "o"
[matrix]
runtimes = ["auto"]
[run]
batch_size = 8
settings = { min_duration = 1000, target_qps = 5 }
ranges = [300, 0.5]
dataset = { count = 64 }
[devices.board1]
power_modes = ["MAXN"]
run = { batch_size = 16, calibration_s = 0.5 }
[models.a]
path = "models/a.onnx"
runtimes = ["onnx"]
[models.a.run]
settings = { min_duration = 2000 }
telemetry_interval_s = 0
[models.c]
path = "models/c.tflite"
scenarios = ["Offline"]
run = { batch_size = 64, ranging = false, clock_pings = 10, mode = "accuracy", loadgen_model = "mobilenet" }
"""


def test_device_then_model_overrides_win_over_matrix_and_run(folder, inventory):
    spec = load(folder, inventory, OVERRIDES)
    assert keys(spec.jobs) == ["board1/a/onnx/t-/SingleStream/MAXN/r1", "board1/c/auto/t-/Offline/MAXN/r1"]
    a, c = spec.jobs
    assert a.run == {"batch_size": 16, "calibration_s": 0.5, "ranges": (300.0, 0.5), "telemetry_interval_s": 0.0,
                     "settings": {"min_duration": 2000.0, "target_qps": 5.0},
                     "dataset": {"kind": "synthetic", "count": 64}}
    assert c.run["batch_size"] == 64 and c.run["settings"] == {"min_duration": 1000.0, "target_qps": 5.0}
    assert (c.run["ranging"], c.run["clock_pings"], c.run["mode"], c.run["loadgen_model"]) == (
        False, 10, "accuracy", "mobilenet")
    for job in spec.jobs:
        run = RunSpec(device=job.device, model=job.model_path, scenario=job.scenario, runtime=job.runtime,
                      threads=job.threads, power_mode=job.power_mode, **job.run)
        assert run.batch_size == job.run["batch_size"] and run.ranges == (300.0, 0.5)


def test_every_accepted_run_key_builds_a_runspec(folder, inventory):
    text = OVERRIDES.replace("batch_size = 8", 'batch_size = 8\nprofile = "mlperf"\ncurrent_floor_a = 0.01')
    for job in load(folder, inventory, text).jobs:
        run = RunSpec(device=job.device, model=job.model_path, **job.run)
        assert (run.profile, run.current_floor_a) == ("mlperf", 0.01)


def test_sweep_table_values_results_budget_and_stop_at(folder, inventory):
    text = BASE.replace("repeats = 2", 'repeats = 1\nmax_attempts = 5\njob_timeout_s = 1800\nbudget_h = 2.5\n'
                        'stop_after_failures = 4\nstop_at = "2026-11-23T07:00:00Z"\nresults = "out"')
    spec = load(folder, inventory, text)
    stop = datetime(2026, 11, 23, 7, tzinfo=timezone.utc)
    assert (spec.max_attempts, spec.job_timeout_s, spec.budget_s, spec.stop_after_failures) == (5, 1800.0, 9000.0, 4)
    assert spec.stop_at_ns == int(stop.timestamp()) * 10**9 == 1795417200 * 10**9
    assert spec.results == str(folder / "out")


@pytest.mark.parametrize("value", ["2026-11-23T09:00:00+02:00", "2026-11-23T07:00:00Z"])
def test_stop_at_takes_an_offset_or_a_toml_date_time(folder, inventory, value):
    for written in (f'"{value}"', value):
        spec = load(folder, inventory, BASE.replace("repeats = 2", f"stop_at = {written}"))
        assert spec.stop_at_ns == 1795417200 * 10**9


# -- estimates ----------------------------------------------------------------------------------------------

ESTIMATE = """\
[sweep]
name = "e"
repeats = 2
[matrix]
power_modes = ["A", "B"]
[run]
settings = {{ min_duration = 4000 }}
calibration_s = 1
ranges = [300, 0.5]
[cooldown]
seconds = 10
[idle]
policy = "{policy}"
seconds = 2
[devices.board1]
[devices.board2]
power_modes = ["A"]
run = {{ ranges = [300, 0.5], settings = {{ min_duration = 20000 }} }}
[models.a]
path = "models/a.onnx"
"""


def test_estimates_add_cooldown_idle_session_and_mode_changes(folder, inventory):
    spec = load(folder, inventory, ESTIMATE.format(policy="every_job"))
    session_s = (1 + 4 + 3) + 5  # one pass (fixed ranges): calibration + min_duration + start-up; + 5
    board1 = [job for job in spec.jobs if job.device == "board1"]
    assert keys(board1) == ["board1/a/auto/t-/SingleStream/A/r1", "board1/a/auto/t-/SingleStream/B/r1",
                            "board1/a/auto/t-/SingleStream/A/r2", "board1/a/auto/t-/SingleStream/B/r2"]
    first = 10 + 2 + session_s
    assert [job_estimate_s(spec, job) for job in board1] == [first, first + 60, first + 60, first + 60]
    run = RunSpec(device="board1", model=board1[0].model_path, **board1[0].run)
    assert job_estimate_s(spec, board1[0]) == 10 + 2 + run.expected_s() - run.settle_s - run.idle_s
    board2_each = 10 + 2 + (1 + 20 + 3) + 5
    assert [job_estimate_s(spec, job) for job in spec.jobs if job.device == "board2"] == [board2_each] * 2
    assert spec.estimate_s() == max(4 * first + 3 * POWER_MODE_CHANGE_S, 2 * board2_each) == 280


def test_once_per_mode_counts_the_idle_baseline_for_the_first_job_of_each_mode_only(folder, inventory):
    spec = load(folder, inventory, ESTIMATE.format(policy="once_per_mode"))
    board1 = [job for job in spec.jobs if job.device == "board1"]
    assert [job_estimate_s(spec, job) for job in board1] == [25, 85, 83, 83]
    assert [job_estimate_s(spec, job) for job in spec.jobs if job.device == "board2"] == [41, 39]


def test_a_ranging_pass_doubles_the_passes_in_the_estimate(folder, inventory):
    text = ESTIMATE.format(policy="every_job").replace("ranges = [300, 0.5]\n[cooldown]", "[cooldown]")
    spec = load(folder, inventory, text)
    assert job_estimate_s(spec, spec.jobs[0]) == 10 + 2 + 2 * (1 + 4 + 3) + 5


# -- JSON round trip ----------------------------------------------------------------------------------------

def test_to_json_and_back_keeps_everything_including_where(folder, inventory):
    text = OVERRIDES.replace('name = "o"', 'name = "o"\nbudget_h = 1\nstop_at = "2026-11-23T07:00:00Z"\n'
                             'stop_after_failures = 2\njob_timeout_s = 60\nresults = "r"')
    spec = load(folder, inventory, text)
    again = SweepSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert again == spec
    assert again.jobs[0].run["ranges"] == (300.0, 0.5)
    assert again.where("devices", "board1", "power_modes") == spec.where("devices", "board1", "power_modes") == (
        f"{folder / 'sweep.toml'}:16")
    assert SweepJob.from_json(spec.jobs[1].to_json()) == spec.jobs[1]


# -- where --------------------------------------------------------------------------------------------------

def test_key_lines_follow_tables_dotted_keys_inline_tables_and_multiline_arrays():
    text = """\
[sweep]
name = "x"
[matrix]
scenarios = [
  "SingleStream",  # a comment with = and [brackets]
  "Offline",
]
threads = [1]
[devices."odd.name"]
run = { settings = { min_duration = 5, target_qps = 2 }, batch_size = 3 }
models.a.path = "m.onnx"
notes = \"\"\"
fake = 1
\"\"\"
after = 2
"""
    lines = key_lines(text)
    assert lines[("sweep", "name")] == 2
    assert lines[("matrix", "scenarios")] == 4 and lines[("matrix", "threads")] == 8
    assert lines[("devices", "odd.name")] == 9
    assert lines[("devices", "odd.name", "run", "settings", "target_qps")] == 10
    assert lines[("devices", "odd.name", "run", "batch_size")] == 10
    assert lines[("devices", "odd.name", "models", "a", "path")] == 11
    assert ("devices", "odd.name", "fake") not in lines and lines[("devices", "odd.name", "after")] == 15


def test_where_falls_back_to_the_nearest_table_then_to_the_file(folder, inventory):
    spec = load(folder, inventory)
    file = str(folder / "sweep.toml")
    assert spec.where("matrix", "power_modes") == f"{file}:7"
    assert spec.where("devices", "board2", "power_modes") == f"{file}:20"
    assert spec.where("nothing", "here") == file


# -- the plan -----------------------------------------------------------------------------------------------

def test_format_plan_has_a_header_and_one_line_per_job(folder, inventory):
    text = BASE.replace("repeats = 2", 'repeats = 2\nbudget_h = 10\nstop_after_failures = 5\n'
                        'stop_at = "2026-11-23T07:00:00Z"')
    spec = load(folder, inventory, text)
    lines = format_plan(spec).splitlines()
    assert lines[0] == "sweep      nightly"
    assert lines[1] == f"file       {folder / 'sweep.toml'}"
    assert lines[2] == "jobs       32 jobs on 2 devices: board1 (16), board2 (16)"
    assert lines[3] == f"estimate   {hms(spec.estimate_s())} (slowest device board1; devices run in parallel)"
    assert lines[4] == "order      interleaved, 2 repeats"
    assert lines[5] == "budget     10:00:00"
    assert lines[6] == "stop       after 5 failed jobs; no new job after 2026-11-23T07:00:00Z"
    assert "power-mode change" in format_plan(spec) and "unknown" in format_plan(spec)
    rows = [line for line in lines if line[:5].strip().isdigit()]
    assert len(rows) == 32 and all(len(line) <= 100 for line in lines if not line.startswith("file"))
    first = rows[0].split()
    assert first[:2] == ["1", "board1/a/auto/t-/SingleStream/15W/r1"]
    assert float(first[2]) == round(job_estimate_s(spec, spec.jobs[0]))
    assert rows[-1].split()[:2] == ["32", "board2/a/auto/t-/SingleStream/7W/r2"]


def test_format_plan_shows_the_first_100_and_last_20_of_a_long_sweep(folder, inventory):
    threads = ", ".join(str(n) for n in range(1, 12))
    text = f'[sweep]\nname = "long"\nrepeats = 10\n[matrix]\nscenarios = ["SingleStream", "Offline"]\n' \
           f'threads = [{threads}]\n[devices.local]\n[models.a]\npath = "models/a.onnx"\n'
    spec = load(folder, inventory, text)
    assert len(spec.jobs) == 220
    lines = format_plan(spec).splitlines()
    rows = [line for line in lines if line[:5].strip().isdigit()]
    assert [int(row.split()[0]) for row in rows] == list(range(1, 101)) + list(range(201, 221))
    more = " " * 7 + "... 100 more ..."
    assert lines.index(more) == lines.index(rows[99]) + 1
    assert rows[-1].split()[1] == spec.jobs[-1].key


def test_format_plan_says_when_the_budget_is_shorter_than_the_estimate(folder, inventory):
    spec = load(folder, inventory, BASE.replace("repeats = 2", "repeats = 2\nbudget_h = 0.1"))
    assert "budget     0:06:00 (shorter than the estimate: later jobs will not start)" in format_plan(spec)


# -- power modes against the boards ------------------------------------------------------------------------

def test_check_power_modes_names_the_line_the_mode_came_from(folder, inventory):
    spec = load(folder, inventory, BASE.replace("[devices.board2]", '[devices.board2]\npower_modes = ["3W"]'))
    check_power_modes(spec, {"board1": ["15W", "7w", "MAXN"]})  # any case; board2 not checked
    with pytest.raises(BadInput) as e:
        check_power_modes(spec, {"board1": ["15W", "7W", "MAXN"], "board2": ["MAXN", "7W", "15W"]})
    assert str(e.value) == f"{folder / 'sweep.toml'}:21: board2 has no power mode '3W' (board modes: 15W, 7W, MAXN)"
    with pytest.raises(BadInput) as e:
        check_power_modes(spec, {"board1": ["15W"]})
    assert str(e.value) == f"{folder / 'sweep.toml'}:7: board1 has no power mode '7W' (board modes: 15W)"


# -- the example ----------------------------------------------------------------------------------------------

def test_the_example_spec_loads_against_the_built_in_local_device(tmp_path):
    (tmp_path / "devices.toml").write_text("")
    inventory = load_inventory(str(tmp_path / "devices.toml"), ssh_config_path=str(tmp_path / "none"))
    spec = load_sweep_spec(str(REPO / "examples" / "sweep.toml"), inventory)
    assert {job.device for job in spec.jobs} == {"local"}
    assert {job.model_path for job in spec.jobs} == {
        str(MODELS / "tiny_float_b1.onnx"), str(MODELS / "tiny_int8.onnx")}
    assert len(spec.jobs) == 12 and spec.estimate_s() > 0
    for job in spec.jobs:
        RunSpec(device=job.device, model=job.model_path, scenario=job.scenario, **job.run)


# -- bad input ----------------------------------------------------------------------------------------------

SWEEP_KEYS = "name, order, repeats, max_attempts, job_timeout_s, budget_h, stop_after_failures, stop_at, results, bench"
RUN_KEYS = ("profile, loadgen_model, mode, batch_size, calibration_s, telemetry_interval_s, ranging, ranges, "
            "current_floor_a, clock_pings, settings, dataset")
MATRIX_PLACE = "in [matrix], [devices.NAME] or [models.NAME]"
BAD = [
    ("repeats = 2", 'repeats = "two"', ':3: sweep.repeats: "two" is a string (expected a whole number >= 1)'),
    ("repeats = 2", "repeats = 0", ":3: sweep.repeats: 0 is too small (expected a whole number >= 1)"),
    ("repeats = 2", "repeat = 2", f":3: unknown key sweep.repeat (expected one of: {SWEEP_KEYS})"),
    ("repeats = 2", 'repeats = 2\norder = "random"',
     ':4: sweep.order: "random" is not an order (expected one of: interleaved, grouped)'),
    ('name = "nightly"', 'name = "night ly"',
     ":2: sweep.name: \"night ly\" is not a name (expected letters, digits, '.', '_' or '-')"),
    ('name = "nightly"\n', "", ':1: sweep.name is missing (expected name = "..." in [sweep])'),
    ("repeats = 2", 'repeats = 2\nstop_at = "tomorrow"',
     ':4: sweep.stop_at: "tomorrow" is not a date-time (expected a UTC instant such as "2026-11-23T07:00:00Z", '
     "with Z or an offset)"),
    ("repeats = 2", 'repeats = 2\nstop_at = "2026-11-23T07:00:00"',
     ':4: sweep.stop_at: "2026-11-23T07:00:00" has no time zone (expected a UTC instant such as '
     '"2026-11-23T07:00:00Z", with Z or an offset)'),
    ("repeats = 2", "repeats = 2\nbudget_h = 0", ":4: sweep.budget_h: 0 is too small (expected a number > 0)"),
    ('power_modes = ["15W", "7W"]', 'power_mode = ["15W"]',
     ":7: unknown key matrix.power_mode (expected one of: scenarios, power_modes, runtimes, threads)"),
    ('"Offline"]', '"Server"]',
     ':6: matrix.scenarios: "Server" is not a scenario (expected one of: SingleStream, Offline)'),
    ('power_modes = ["15W", "7W"]', 'runtimes = ["tensorrt"]',
     ':7: matrix.runtimes: "tensorrt" is not a runtime (expected one of: auto, tflite, onnx)'),
    ('power_modes = ["15W", "7W"]', 'runtimes = ["tflite"]',
     ':7: matrix.runtimes: runtime "tflite" cannot load models.a (a.onnx) (expected "auto" or "onnx"; '
     "runtimes = [...] in [models.a] overrides)"),
    ('power_modes = ["15W", "7W"]', "threads = [0]",
     ":7: matrix.threads: 0 is too small (expected a whole number >= 1)"),
    ('power_modes = ["15W", "7W"]', "threads = 2",
     ":7: matrix.threads: 2 is an integer (expected an array such as [2])"),
    ('"SingleStream", "Offline"', '"Offline", "Offline"',
     ':6: matrix.scenarios: "Offline" is listed twice (expected each value once)'),
    ('scenarios = ["SingleStream", "Offline"]', "scenarios = []",
     ":6: the product is empty: matrix.scenarios is [] (expected at least one value)"),
    ("[devices.board2]", "[devices.board2]\npower_modes = []",
     ":21: the product is empty: devices.board2.power_modes is [] (expected at least one value)"),
    ("[devices.board2]", '[devices.board2]\npower = ["x"]',
     ":21: unknown key devices.board2.power (expected one of: scenarios, power_modes, runtimes, threads, run, bench, "
     "tag)"),
    ("[devices.board2]", '[devices.board2]\nbench = "rack 2"',
     ":21: devices.board2.bench: \"rack 2\" is not a name (expected letters, digits, '.', '_' or '-')"),
    ("repeats = 2", 'repeats = 2\nbench = 2', ":4: sweep.bench: 2 is not a name (expected letters, digits, '.', '_' or '-')"),
    ('profile = "quick"', 'profil = "quick"', f":10: unknown key run.profil (expected one of: {RUN_KEYS})"),
    ('profile = "quick"', 'profile = "fast"',
     ':10: run.profile: "fast" is not a profile (expected one of: quick, mlperf)'),
    ('profile = "quick"', "threads = 2",
     f":10: run.threads does not belong in [run] (expected threads = [...] {MATRIX_PLACE})"),
    ('profile = "quick"', "settle_s = 5",
     ":10: run.settle_s does not belong in [run] (expected seconds = ... in [cooldown])"),
    ('profile = "quick"', "idle_s = 5",
     ":10: run.idle_s does not belong in [run] (expected seconds = ... in [idle])"),
    ('profile = "quick"', 'device = "board1"',
     ":10: run.device does not belong in [run] (expected a [devices.NAME] table per device)"),
    ('profile = "quick"', 'results = "x"',
     ":10: run.results does not belong in [run] (expected results = ... in [sweep])"),
    ("[devices.board2]", "[devices.board2]\nrun = { power_mode = \"7W\" }",
     f":21: devices.board2.run.power_mode does not belong in [devices.board2.run] "
     f"(expected power_modes = [...] {MATRIX_PLACE})"),
    ('profile = "quick"', "ranges = [300]",
     ":10: run.ranges: [300] is not a pair (expected [VOLTS, AMPS] such as [300, 0.5])"),
    ('profile = "quick"', "batch_size = 2.5", ":10: run.batch_size: 2.5 is a number (expected a whole number >= 1)"),
    ('profile = "quick"', 'dataset = { kind = "npy" }',
     ':10: run.dataset: kind "npy" needs path (expected a folder of .npy files on the device)'),
    ("min_duration = 1000", "min_durations = 1000",
     ":11: unknown LoadGen setting run.settings.min_durations (expected one of: accuracy_log_rng_seed, "
     "accuracy_log_sampling_target, accuracy_sample_count_override, max_duration, max_query_count, "
     "min_duration, min_query_count, performance_issue_same, performance_issue_same_index, "
     "performance_issue_unique, performance_sample_count_override, print_timestamps, target_latency, "
     "target_latency_percentile, target_qps)"),
    ("min_duration = 1000", "min_duration = -5",
     ":11: run.settings.min_duration: -5 is too small (expected a number >= 0, in ms)"),
    ("seconds = 30", "seconds = -30", ":14: cooldown.seconds: -30 is too small (expected a number >= 0)"),
    ("seconds = 30", "secs = 30", ":14: unknown key cooldown.secs (expected one of: seconds, max_temp_c, timeout_s)"),
    ('policy = "every_job"', 'policy = "sometimes"',
     ':17: idle.policy: "sometimes" is not an idle policy (expected one of: every_job, once_per_mode)'),
    ('policy = "every_job"', "seconds = 0", ":17: idle.seconds: 0 is too small (expected a number > 0)"),
    ('path = "models/b.onnx"', 'path = "models/b.onnx"\nsize = 3',
     ":27: unknown key models.b.size (expected one of: path, scenarios, power_modes, runtimes, threads, run)"),
    ('path = "models/b.onnx"', 'path = "models/b.pb"',
     ':26: models.b.path: "models/b.pb" is not a model file (expected a .onnx or .tflite file)'),
    ('path = "models/b.onnx"', 'file = "models/b.onnx"', ":26: unknown key models.b.file (expected one of: path, "
     "scenarios, power_modes, runtimes, threads, run)"),
    ("[models.b]\npath", "[models.b]\nthreads = [1]\n#path",
     ':25: models.b.path is missing (expected path = "model.onnx" or ".tflite")'),
    ("[models.b]", "[models.b]\n[extra]\nx = 1\n[models.d]",
     ":26: unknown key extra (expected one of: sweep, matrix, run, cooldown, idle, devices, models)"),
]


@pytest.mark.parametrize("old, new, message", BAD, ids=[case[2].split(" (")[0][:60] for case in BAD])
def test_bad_input_is_one_line_with_file_line_and_what_was_expected(folder, inventory, old, new, message):
    assert old in BASE
    path = write(folder, BASE.replace(old, new, 1))
    with pytest.raises(BadInput) as e:
        load_sweep_spec(path, inventory)
    assert str(e.value) == path + message
    assert "\n" not in str(e.value)


def test_a_pool_runs_on_any_board_with_its_tag_and_bench_routes_jobs(folder, tmp_path):
    inventory_path = tmp_path / "tagged.toml"
    inventory_path.write_text('[devices.agx1]\nhost = "127.0.0.1"\ntags = ["orin"]\n')
    tagged = load_inventory(str(inventory_path), ssh_config_path=str(tmp_path / "no_ssh_config"))
    text = BASE.replace("repeats = 2", 'repeats = 2\nbench = "rack1"').replace(
        "[devices.board1]\n", '[devices.orins]\ntag = "orin"\nbench = "rack2"\n').replace("[devices.board2]\n", "")
    spec = load_sweep_spec(write(folder, text), tagged)
    assert {(job.device, job.tag, job.bench) for job in spec.jobs} == {("orins", "orin", "rack2")}
    assert SweepSpec.from_json(spec.to_json()).jobs == spec.jobs
    path = write(folder, text.replace('tag = "orin"', 'tag = "xavier"'))
    with pytest.raises(BadInput) as e:
        load_sweep_spec(path, tagged)
    assert str(e.value) == (f"{path}:21: devices.orins.tag: no board in {inventory_path} carries the tag 'xavier' "
                            '(expected tags = ["xavier", ...] on a board in devices.toml)')
    # Submitted to a shared store, names and tags are the bench hosts' business.
    shared = load_sweep_spec(path, tagged, shared=True)
    assert {job.tag for job in shared.jobs} == {"xavier"}
    named = load_sweep_spec(write(folder, BASE.replace("[devices.board2]", "[devices.board9]")), tagged, shared=True)
    assert {job.device for job in named.jobs} == {"board1", "board9"}


def test_a_missing_model_file_names_its_full_path(folder, inventory):
    path = write(folder, BASE.replace("models/b.onnx", "models/missing.onnx"))
    with pytest.raises(BadInput) as e:
        load_sweep_spec(path, inventory)
    assert str(e.value) == (f"{path}:26: models.b.path: {folder / 'models' / 'missing.onnx'} does not exist "
                            "(expected a model file on this host; a relative path starts at the spec's folder)")


def test_an_unknown_device_gives_the_inventorys_message_at_its_line(folder, inventory):
    path = write(folder, BASE.replace("[devices.board2]", "[devices.board9]"))
    with pytest.raises(UnknownDevice) as known:
        inventory.get("board9")
    with pytest.raises(BadInput) as e:
        load_sweep_spec(path, inventory)
    assert str(e.value) == f"{path}:20: {known.value}"
    assert str(e.value).startswith(f"{path}:20: unknown device 'board9' (known: board1, board2, local; from ")


@pytest.mark.parametrize("table", ["devices", "models"])
def test_a_spec_without_devices_or_models_is_refused(folder, inventory, table):
    text = "".join(line for line in BASE.splitlines(True) if not line.startswith(f"[{table}.")
                   and not line.startswith("path ="))
    if table == "devices":
        text = BASE.replace("[devices.board1]\n[devices.board2]\n", "")
    path = write(folder, text)
    with pytest.raises(BadInput) as e:
        load_sweep_spec(path, inventory)
    example = "[devices.local]" if table == "devices" else '[models.NAME] with path = "model.onnx"'
    assert str(e.value) == f"{path}: no [{table}] table (expected a [{table}.NAME] table for each, e.g. {example})"


def test_invalid_toml_names_the_line_and_tomllibs_message(folder, inventory):
    path = write(folder, BASE.replace("repeats = 2", "repeats = "))
    with pytest.raises(BadInput) as e:
        load_sweep_spec(path, inventory)
    assert str(e.value).startswith(f"{path}:3: not valid TOML: ")
    assert "(at line 3, column" in str(e.value)


def test_a_missing_spec_file_is_one_line(tmp_path, inventory):
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(BadInput) as e:
        load_sweep_spec(missing, inventory)
    assert str(e.value) == f"sweep spec not found: {missing}"


def test_the_complete_example_of_the_docs_loads(tmp_path):
    docs = (REPO / "docs" / "sweeps.md").read_text()
    text = docs.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "models").mkdir()
    for name in ("mobilenet_v2.tflite", "resnet50_int8.onnx"):
        (tmp_path / "models" / name).write_bytes(b"")
    (tmp_path / "devices.toml").write_text('[devices.orin1]\nhost = "10.0.0.1"\n[devices.orin2]\nhost = "10.0.0.2"\n')
    inventory = load_inventory(str(tmp_path / "devices.toml"), ssh_config_path=str(tmp_path / "none"))
    spec = load_sweep_spec(write(tmp_path, text), inventory)
    assert len(spec.jobs) == 48 and spec.results == str(tmp_path / "results")
    assert {job.power_mode for job in spec.jobs if job.device == "orin1"} == {"MAXN_SUPER", "7W"}
    assert {job.run.get("batch_size") for job in spec.jobs if job.device == "orin2"} == {16, 64}
    assert spec.where("devices", "orin1", "power_modes").endswith(":32")
