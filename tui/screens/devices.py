"""Devices: the inventory with reachability, profile, power mode, temperature and idle W; check one, set its mode."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from director.lab import DeviceCheck, DeviceListing, DeviceRow, IdlePower, PowerModeResult, PowerModes
from tui.screens.base import LabScreen, number, watts
from tui.widgets.choose import Choose
from tui.widgets.power_chart import PowerChart

COLUMNS = (("device", 10), ("where", 17), ("analyzer", 8), ("state", 8), ("mode", 8), ("°C", 4), ("idle W", 8))


class DevicesScreen(LabScreen):
    """Every device, probed on arrival (u probes again); c checks one, m sets its power mode, w reads idle W."""

    MODE = "devices"
    BINDINGS = [
        Binding("c", "check", "Check"),
        Binding("m", "mode", "Power mode"),
        Binding("w", "power", "Idle W"),
        Binding("u", "probe", "Update"),
    ]
    DEFAULT_CSS = """
    DevicesScreen #devices { height: 1fr; }
    DevicesScreen #device-info { height: auto; max-height: 7; padding: 0 1; border-top: solid $panel; }
    DevicesScreen #device-power { height: 5; display: none; }
    DevicesScreen #device-power.shown { display: block; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.rows: Dict[str, DeviceRow] = {}
        self.checks: Dict[str, DeviceCheck] = {}
        self.notes: Dict[str, Text] = {}
        self.power: Dict[str, IdlePower] = {}
        self.inventory_error = ""

    def body(self) -> ComposeResult:
        """The device table, the selected device's details, its idle power trace."""
        yield DataTable(id="devices", cursor_type="row")
        yield Static(id="device-info")
        yield PowerChart(id="device-power")

    def on_mount(self) -> None:
        """Columns, then a first probe of every device."""
        table = self.query_one("#devices", DataTable)
        for title, width in COLUMNS:
            table.add_column(title, width=width, key=title)
        table.focus()
        self.action_probe()

    # -- showing ----------------------------------------------------------------------------------
    @property
    def selected(self) -> Optional[str]:
        """The device under the cursor."""
        table = self.query_one("#devices", DataTable)
        if not self.rows or table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def _cells(self, row: DeviceRow) -> Sequence[object]:
        if row.reachable is None:
            state: object = Text("checking", style="dim")
        elif row.reachable:
            state = Text(f"up {row.answer_ms:.0f} ms" if row.answer_ms is not None else "up", style="green")
        else:
            state = Text("DOWN", style="bold red")
        power = self.power.get(row.analyzer or "")
        idle = watts(power.latest_w) if power and power.latest_w is not None else ("n/a" if power else "-")
        return (row.name, row.where, row.analyzer or "-", state, row.power_mode or "-",
                number(row.temperature_c, ".0f"), idle)

    def show_listing(self, listing: DeviceListing) -> None:
        """Rows from a (probed or not) listing; the cursor stays on its device."""
        table = self.query_one("#devices", DataTable)
        keep = self.selected
        self.inventory_error = listing.error
        self.rows = {row.name: row for row in listing.rows}
        table.clear()
        for row in listing.rows:
            table.add_row(*self._cells(row), key=row.name)
        if keep in self.rows:
            table.move_cursor(row=list(self.rows).index(keep))
        self.show_info()

    def show_row(self, row: DeviceRow) -> None:
        """One device probed again."""
        self.rows[row.name] = row
        self.show_listing(DeviceListing(tuple(self.rows.values()), "", self.inventory_error))

    def show_info(self) -> None:
        """The selected device in full: where, its state and why, its check, the last note, its idle power."""
        info = self.query_one("#device-info", Static)
        chart = self.query_one("#device-power", PowerChart)
        name = self.selected
        if self.inventory_error or name is None:
            info.update(Text(self.inventory_error or "no devices", style="bold red" if self.inventory_error else "dim"))
            chart.set_class(False, "shown")
            return
        row = self.rows[name]
        text = Text()
        text.append(f"{row.name}", style="bold").append(f"  {row.kind} · {row.where} · profile {row.profile} · "
                                                        f"analyzer {row.analyzer or 'none'}")
        if row.reachable is False:
            text.append("\nDOWN: ", style="bold red").append(row.reason)
        elif row.reachable and row.reason:
            text.append(f"\n{row.reason}", style="yellow")
        check = self.checks.get(name)
        if check is not None:
            text.append("\n")
            text.append_text(_check_text(check))
        if name in self.notes:
            text.append("\n").append_text(self.notes[name])
        power = self.power.get(row.analyzer or "")
        if power is not None:
            text.append(f"\nanalyzer {power.analyzer}: ", style="dim")
            if power.error:
                text.append(power.error, style="red")
            else:
                text.append(f"{watts(power.latest_w, '.3f')} now, {watts(power.average_w, '.3f')} mean "
                            f"of {len(power.samples)} samples")
        info.update(text)
        chart.set_class(bool(power and power.samples), "shown")
        if power and power.samples:
            chart.show(power.samples)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Details follow the cursor."""
        self.show_info()

    def note(self, name: str, text: str, style: str = "") -> None:
        """A line about one device (a step of setting its mode, an outcome)."""
        self.notes[name] = Text(text, style=style)
        self.show_info()

    # -- actions ----------------------------------------------------------------------------------
    def action_probe(self) -> None:
        """Probe every device again."""
        self.probe_all()

    @work(thread=True, exclusive=True, exit_on_error=False, group="probe")
    def probe_all(self) -> None:
        """The inventory at once, then every device probed (in parallel, a short connect timeout each)."""
        self.from_thread(self.show_listing, self.lab.devices())
        self.from_thread(self.show_listing, self.lab.probe_devices())

    def action_check(self) -> None:
        """Check the selected device: deploy the agent, Python, runtimes, facts, power modes."""
        name = self.selected
        if name:
            self.note(name, f"checking {name}: deploying the agent and asking it ...", "dim")
            self.check(name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="check")
    def check(self, name: str) -> None:
        """`director devices check NAME` in a thread."""
        result = self.lab.check_device(name)
        self.from_thread(self._checked, result)

    def _checked(self, result: DeviceCheck) -> None:
        self.checks[result.name] = result
        self.notes.pop(result.name, None)
        self.show_info()

    def action_power(self) -> None:
        """Read every bench's analyzer for a couple of seconds (what each draws at rest)."""
        names = sorted({row.analyzer for row in self.rows.values() if row.analyzer})
        if names:
            for name in self.rows:
                self.notes.pop(name, None)
            self.notify(f"reading {', '.join(names)} for 2 s ...", timeout=3)
            self.read_power(names)
        else:
            self.notify("no device has an analyzer in the inventory", severity="warning")

    @work(thread=True, exclusive=True, exit_on_error=False, group="power")
    def read_power(self, analyzers: Sequence[str]) -> None:
        """Each analyzer opened, read and closed (in parallel)."""
        readings = self.lab.idle_power(analyzers)
        self.from_thread(self._powered, readings)

    def _powered(self, readings: Sequence[IdlePower]) -> None:
        self.power.update({r.analyzer: r for r in readings})
        self.show_listing(DeviceListing(tuple(self.rows.values()), "", self.inventory_error))

    def action_mode(self) -> None:
        """Pick and set the selected board's power mode."""
        name = self.selected
        if name:
            self.note(name, f"asking {name} for its power modes ...", "dim")
            self.fetch_modes(name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="mode")
    def fetch_modes(self, name: str) -> None:
        """The board's modes, then the chooser."""
        self.from_thread(self._choose_mode, self.lab.power_modes(name))

    def _choose_mode(self, modes: PowerModes) -> None:
        if modes.error:
            self.note(modes.name, modes.error, "yellow")
            return
        self.notes.pop(modes.name, None)
        self.show_info()

        def chosen(mode: Optional[str]) -> None:
            if mode:
                self.note(modes.name, f"setting {mode} ...", "dim")
                self.set_mode(modes.name, mode)

        self.app.push_screen(Choose(f"Power mode of {modes.name} (now {modes.current or 'unknown'})", modes.modes,
                                    "A mode that needs a reboot reboots the board, then checks it."), chosen)

    @work(thread=True, exclusive=True, exit_on_error=False, group="mode")
    def set_mode(self, name: str, mode: str) -> None:
        """Set, reboot if needed, verify; then probe the board again."""
        result = self.lab.set_power_mode(name, mode, on_step=lambda step: self.from_thread(self.note, name, step, "dim"))
        self.from_thread(self._mode_set, result)
        self.from_thread(self.show_row, self.lab.probe_device(name))

    def _mode_set(self, result: PowerModeResult) -> None:
        self.note(result.name, result.message, "green" if result.ok else "bold red")


def _check_text(check: DeviceCheck) -> Text:
    text = Text()
    if not check.ok and not check.python_version:
        return text.append("check: ", style="bold red").append(check.error)
    text.append("check: ", style="bold green" if check.ok else "bold red")
    text.append(f"Python {check.python_version}; runtimes {', '.join(check.runtimes) or 'none'}; "
                f"modes {', '.join(check.power_modes) or 'none'}")
    if check.missing:
        text.append(f"\nmissing {', '.join(check.missing)}: {check.install}", style="yellow")
    facts = ", ".join(f"{k} {v}" for k, v in check.facts if v and v != "-")
    if facts:
        text.append(f"\n{facts}", style="dim")
    return text
