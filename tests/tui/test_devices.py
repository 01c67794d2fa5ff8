"""The Devices screen driven by keys: the local device up with its profile, a dead one DOWN with its reason."""

from __future__ import annotations

from textual.widgets import DataTable

from tests.tui.conftest import DEAD_INVENTORY, LAB_INVENTORY, drive, text_of, wait_until
from tui.app import LabApp
from tui.screens.devices import DevicesScreen


def test_devices_are_probed_and_a_dead_one_shows_why(make_lab):
    app = LabApp(make_lab(LAB_INVENTORY + DEAD_INVENTORY))

    async def script(pilot):
        screen = app.screen
        assert isinstance(screen, DevicesScreen)
        await wait_until(pilot, lambda: screen.rows and all(r.reachable is not None for r in screen.rows.values()),
                         10, "the probes")
        table = screen.query_one("#devices", DataTable)
        assert [str(k.value) for k in table.rows] == ["dead", "local"]
        assert str(table.get_row("local")[3]).startswith("up ") and str(table.get_row("dead")[3]) == "DOWN"
        info = text_of(screen.query_one("#device-info"))
        assert "DOWN: 127.0.0.1:1: connection refused" in info  # the cursor starts on dead
        await pilot.press("down")
        info = text_of(screen.query_one("#device-info"))
        assert "local  local · this machine · profile linux · analyzer wt" in info and "DOWN" not in info
        await pilot.press("m")  # a plain Linux board has no power modes: said, not a crash
        await wait_until(pilot, lambda: "has no power modes" in text_of(screen.query_one("#device-info")), 10)
        await pilot.press("w")  # each bench's analyzer read for 2 s
        await wait_until(pilot, lambda: {"wt", "bench9"} <= set(screen.power), 15, "the idle power readings")
        assert screen.power["wt"].latest_w is not None and "ttyEDGEPOWER-NONE" in screen.power["bench9"].error
        assert str(table.get_row("local")[6]).endswith(" W") and str(table.get_row("dead")[6]) == "n/a"
        assert screen.query_one("#device-power").has_class("shown")  # local's idle trace under its details
        await pilot.press("up", "c")
        await wait_until(pilot, lambda: "dead" in screen.checks, 10, "the check")
        assert "check: 127.0.0.1:1: connection refused" in text_of(screen.query_one("#device-info"))
        await pilot.press("2")
        assert app.current_mode == "run"
        await pilot.press("d")
        assert app.current_mode == "devices"

    drive(app, script)


def test_an_unexpected_error_in_a_worker_is_one_line_not_a_crash(make_lab):
    lab = make_lab(LAB_INVENTORY)

    def broken():
        raise OSError("the probe tripped over something")

    lab.probe_devices = broken
    app = LabApp(lab)

    async def script(pilot):
        await wait_until(pilot, lambda: app._notifications, 10, "the notice")
        (notice,) = list(app._notifications)
        assert notice.message == "probe_all failed: OSError: the probe tripped over something"
        assert notice.severity == "error" and app.is_running
        assert list(app.screen.rows) == ["local"]  # the inventory was listed before the probe failed

    drive(app, script)
