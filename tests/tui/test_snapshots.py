"""Each screen's layout at 80×24, held by pytest-textual-snapshot, over data that never changes: devices on loopback
ports nobody listens on, fixed rows in the results database, a sweep queued but not run, the run form.

Update after a deliberate change of layout with `pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import json
import os

from power.sample import Sample
from power.samples_csv import write_samples_csv
from tests.director.sweepboards import sweep_toml
from tests.director.test_lab import stored_runs
from tests.tui.conftest import CLOSED_PORT, DEAD_INVENTORY, LAB_INVENTORY, wait_until
from tui.app import LabApp
from tui.screens.results import ResultScreen

ALL_DOWN = DEAD_INVENTORY + f"""
[devices.local]
kind = "ssh"
host = "127.0.0.1"
port = {CLOSED_PORT}
user = "root"
"""
"""Even `local` is an SSH device on the closed port here, so no row depends on this machine."""


def test_devices_screen(snap_compare, make_lab):
    app = LabApp(make_lab(ALL_DOWN), start="devices")

    async def probed(pilot):
        screen = app.screen
        await wait_until(pilot, lambda: screen.rows and all(r.reachable is False for r in screen.rows.values()), 10)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=probed)


def test_run_screen_before_a_run(snap_compare, make_lab):
    app = LabApp(make_lab(LAB_INVENTORY), start="run")

    async def filled(pilot):
        await wait_until(pilot, lambda: app.screen.choices is not None, 10)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=filled)


def test_sweeps_screen_with_a_queued_sweep(snap_compare, make_lab, lab_dir):
    from devices.inventory import load_inventory
    from director.sweepspec import load_sweep_spec

    lab = make_lab(LAB_INVENTORY)
    (lab_dir / "night.toml").write_text(sweep_toml("night", ["local"], scenarios=("SingleStream", "Offline"),
                                                   repeats=2))
    spec = load_sweep_spec("night.toml", load_inventory("devices.toml"))
    sweep_id = "night-20261122T220000Z"  # a fixed id: queue_sweep would stamp the time
    lab.store(create=True).create_sweep(sweep_id, spec.name, spec.path, spec.to_json(),
                                        os.path.abspath(os.path.join("results", sweep_id)),
                                        [job.to_json() for job in spec.jobs], spec.max_attempts)
    app = LabApp(lab, start="sweeps")

    async def listed(pilot):
        await wait_until(pilot, lambda: app.screen.detail is not None and len(app.screen.detail.jobs) == 4, 10)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=listed)


def test_results_screen(snap_compare, make_lab, lab_dir):
    stored_runs(lab_dir / "results")
    app = LabApp(make_lab(), start="results")

    async def listed(pilot):
        await wait_until(pilot, lambda: len(app.screen.shown) == 3, 10)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=listed)


def test_result_detail_screen(snap_compare, make_lab, lab_dir):
    stored_runs(lab_dir / "results")
    t0_ns = 1_800_000_000 * 10**9
    write_samples_csv(str(lab_dir / "results" / "run1" / "samples.csv"), [
        Sample(t0_ns + i * 10**8, 10**8, 3.0 + (2.25 if 20 <= i < 60 else 0.0) + 0.01 * (i % 3), 230.0, 0.05, 0.9,
               300.0, 0.5) for i in range(80)])
    run_json = lab_dir / "results" / "run1" / "run.json"
    run = json.loads(run_json.read_text())
    run["passes"]["run_1"]["figures"]["window_host_ns"] = [t0_ns + 2 * 10**9, t0_ns + 6 * 10**9]
    run_json.write_text(json.dumps(run))
    app = LabApp(make_lab(), start="results")

    async def opened(pilot):
        await wait_until(pilot, lambda: len(app.screen.shown) == 3, 10)
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ResultScreen) and app.screen.detail is not None, 10)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=opened)
