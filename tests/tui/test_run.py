"""The Run screen driven by keys: a real run on `local` with a simulated analyzer, started and finished from the
UI, and one cancelled in its pass."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Select

from tests.tui.conftest import LAB_INVENTORY, drive, text_of, wait_until
from tui.app import LabApp
from tui.screens.run import RunScreen


def test_a_run_started_and_finished_from_the_ui(make_lab, lab_dir):
    lab = make_lab(LAB_INVENTORY, run_overrides={"idle_s": 0.5, "settle_s": 0.3})
    app = LabApp(lab, start="run")

    async def script(pilot):
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await wait_until(pilot, lambda: screen.query_one("#model", Select).value != Select.NULL, 10, "the choices")
        assert screen.query_one("#device", Select).value == "local"
        assert screen.query_one("#analyzer", Select).value == "wt"  # the device's own bench
        assert screen.query_one("#preset", Select).value == "quick"
        await pilot.press("tab", "tab", "enter", "down", "down", "enter")  # preset: quick -> smoke
        assert screen.query_one("#preset", Select).value == "smoke"
        await pilot.press("g")
        await wait_until(pilot, lambda: screen.handle is not None, 10, "the start")
        assert screen.query_one("#form").has_class("hidden")
        await wait_until(pilot, lambda: "power " in text_of(screen.query_one("#run-status")), 10)
        await wait_until(pilot, lambda: screen.result is not None, 90, "the run's end and its result")
        status = text_of(screen.query_one("#run-status"))
        failing = [c for c in screen.result.checks if c.status == "fail" and c.scope != "idle"]
        assert status.startswith("OK") and "LoadGen run_1: finished" in status, f"{status}\n{failing}"
        shown = text_of(screen.query_one("#run-result-view"), width=78)
        assert "status     ok" in shown and "average" in shown and "mJ" in shown and "run.json" in shown
        assert screen.result.status == "ok" and dict(screen.result.figures)["model"] == "tiny_float.onnx"
        run = json.loads((Path(screen.handle.folder) / "run.json").read_text())
        assert run["status"] == "ok" and run["spec"]["label"] == "lab smoke"
        assert Path(screen.handle.folder).parent == lab_dir / "results"
        await pilot.press("n")
        assert not screen.query_one("#form").has_class("hidden")
        await pilot.press("4")
        results = app.screen
        await wait_until(pilot, lambda: len(results.shown) == 1, 10, "the run in Results")
        assert results.shown[0].run_id == screen.handle.run_id and results.shown[0].status == "ok"

    drive(app, script)


def test_a_run_cancelled_from_the_ui_stops_in_its_pass(make_lab):
    lab = make_lab(LAB_INVENTORY, run_overrides={"idle_s": 0.5, "settle_s": 0.3, "calibration_s": 0.2,
                                                 "ranges": (300.0, 0.5)})
    app = LabApp(lab, start="run")

    async def script(pilot):
        screen = app.screen
        await wait_until(pilot, lambda: screen.query_one("#model", Select).value != Select.NULL, 10, "the choices")
        await pilot.press("g")  # the quick preset: a 10 s pass
        await wait_until(pilot, lambda: screen.handle is not None and screen.handle.view().phase == "run_1", 60,
                         "the pass")
        await pilot.press("g")  # a second start while one runs is refused, not queued
        await pilot.press("c")
        await wait_until(pilot, lambda: screen.result is not None, 60, "the cancelled run's end")
        status = text_of(screen.query_one("#run-status"))
        assert status.startswith("CANCELLED") and "cancelled from the lab" in status
        assert json.loads((Path(screen.handle.folder) / "run.json").read_text())["status"] == "cancelled"
        assert screen.result.status == "cancelled"

    drive(app, script)


def test_a_run_on_a_dead_device_shows_why_it_failed(make_lab):
    from tests.tui.conftest import DEAD_INVENTORY

    app = LabApp(make_lab(LAB_INVENTORY + DEAD_INVENTORY), start="run",
                 run_defaults={"device": "dead", "preset": "smoke"})

    async def script(pilot):
        screen = app.screen
        await wait_until(pilot, lambda: screen.query_one("#model", Select).value != Select.NULL, 10, "the choices")
        assert screen.query_one("#analyzer", Select).value == "bench9"
        await pilot.press("g")
        await wait_until(pilot, lambda: screen.result is not None, 30, "the failure")
        status = text_of(screen.query_one("#run-status"))
        assert status.startswith("FAILED") and "127.0.0.1:1: connection refused" in status, status

    drive(app, script)
