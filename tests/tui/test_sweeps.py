"""The Sweeps screen driven by keys: a tiny sweep started from its spec runs to done; pause and cancel reach the store."""

from __future__ import annotations

from textual.widgets import DataTable

from tests.director.sweepboards import sweep_toml
from tests.tui.conftest import LAB_INVENTORY, drive, text_of, wait_until
from tui.app import LabApp
from tui.screens.sweeps import SweepsScreen


def test_a_sweep_started_from_a_spec_file_runs_its_jobs_to_done(make_lab, lab_dir):
    (lab_dir / "tiny.toml").write_text(sweep_toml("tiny", ["local"], repeats=1))
    lab = make_lab(LAB_INVENTORY)
    app = LabApp(lab, start="sweeps")

    async def script(pilot):
        screen = app.screen
        assert isinstance(screen, SweepsScreen)
        await pilot.press("n", *"tiny.toml", "enter")
        await wait_until(pilot, lambda: screen.selected_id and screen.selected_id.startswith("tiny-"), 20, "the queue")
        jobs = screen.query_one("#jobs", DataTable)
        await wait_until(pilot, lambda: jobs.row_count == 1, 10, "the job")
        await wait_until(pilot, lambda: screen.detail and screen.detail.state == "finished", 90, "the sweep's end")
        assert str(jobs.get_row_at(0)[2]) == "done" and screen.detail.counts == "1 jobs: 1 done"
        status = text_of(screen.query_one("#sweep-status"))
        assert status.startswith("finished  1 jobs: 1 done  eta 0:00:00") and "results in results/tiny-" in status
        sweeps = screen.query_one("#sweeps", DataTable)
        assert [str(c) for c in sweeps.get_row_at(0)] == [screen.selected_id, "finished", "1 jobs: 1 done"]

    drive(app, script)


def test_pause_and_cancel_keys_change_the_store(make_lab, lab_dir):
    (lab_dir / "later.toml").write_text(sweep_toml("later", ["local"], repeats=2))
    lab = make_lab(LAB_INVENTORY)
    queued = lab.queue_sweep("later.toml")  # queued, not run: steering is the store's business
    assert queued.ok
    app = LabApp(lab, start="sweeps")

    async def script(pilot):
        screen = app.screen
        await wait_until(pilot, lambda: screen.detail is not None, 10, "the sweep")
        assert screen.selected_id == queued.sweep_id and screen.detail.state == "active"
        await pilot.press("p")
        await wait_until(pilot, lambda: lab.store().sweep(queued.sweep_id).state == "paused", 10, "the pause")
        await wait_until(pilot, lambda: screen.detail.state == "paused", 10)
        await pilot.press("c")  # asks first
        await pilot.press("enter")  # yes
        await wait_until(pilot, lambda: lab.store().sweep(queued.sweep_id).state == "cancelled", 10, "the cancel")
        assert lab.store().counts(queued.sweep_id)["cancelled"] == 2
        await wait_until(pilot, lambda: [j.state for j in screen.detail.jobs] == ["cancelled"] * 2, 10)
        await pilot.press("u")  # a cancelled sweep cannot be resumed: said, and nothing runs
        await pilot.pause(0.5)
        assert lab.store().sweep(queued.sweep_id).state == "cancelled" and not lab.sweep_handles

    drive(app, script)
