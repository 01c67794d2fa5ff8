"""The Results screen driven by keys: sort, filter, and a run's detail with its checks and their reasons."""

from __future__ import annotations

from textual.widgets import DataTable

from tests.director.test_lab import stored_runs
from tests.tui.conftest import drive, text_of, wait_until
from tui.app import LabApp
from tui.screens.results import ResultScreen, ResultsScreen


def devices(screen: ResultsScreen) -> list:
    """The device column, top to bottom."""
    table = screen.query_one("#results", DataTable)
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


def test_runs_are_sorted_filtered_and_opened(make_lab, lab_dir):
    stored_runs(lab_dir / "results")
    app = LabApp(make_lab(), start="results")

    async def script(pilot):
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_until(pilot, lambda: len(screen.shown) == 3, 10, "the runs")
        assert devices(screen) == ["local", "rpi5", "orin1"]  # newest first
        await pilot.press("o")  # next sort column: device, ascending
        assert screen.sort_key == "device" and devices(screen) == ["local", "orin1", "rpi5"]
        await pilot.press("i")
        assert devices(screen) == ["rpi5", "orin1", "local"]
        assert "3 of 3 runs · sorted by device descending" in text_of(screen.query_one("#results-status"))
        await pilot.press("slash", *"invalid", "enter")
        assert devices(screen) == ["rpi5"]
        assert "1 of 3 runs" in text_of(screen.query_one("#results-status"))
        await pilot.press("enter")  # the run under the cursor
        detail = app.screen
        assert isinstance(detail, ResultScreen)
        await wait_until(pilot, lambda: detail.detail is not None, 10, "the run's detail")
        shown = text_of(detail.query_one("#result-view"))
        assert "✗ FAIL" in shown and "min queries not met" in shown and "! warn" in shown and "1.2 %" in shown
        assert "samples/J" in shown and "40.00" in shown
        assert "INVALID" in text_of(detail.query_one("#result-title"))
        await pilot.press("p")  # not a sweep's run: no report to write, and no crash
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("slash", "backspace", "enter")  # focusing the filter selects it: backspace clears it
        assert len(screen.shown) == 3

    drive(app, script)
