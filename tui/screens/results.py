"""Results: stored runs to sort and filter; a run's figures, checks with reasons, power trace and files."""

from __future__ import annotations

from typing import Optional, Tuple

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Input, Label, Static

from director.lab import SORT_KEYS, ReportResult, ResultDetail, ResultListing, ResultRow, filter_rows, sort_rows
from tui.screens.base import LabScreen, number, sync_table
from tui.widgets.power_chart import PowerChart
from tui.widgets.result_view import STATUS_STYLE, ResultView

COLUMNS = (("started", "started (UTC)", 16), ("device", "device", 7), ("model", "model", 14), ("scenario", "sc", 3),
           ("status", "status", 8), ("avg_power_w", "W", 6), ("energy_per_query_mj", "energy", 9))
SCENARIO_SHORT = {"SingleStream": "SS", "Offline": "Off"}
STATUS_SHORT = {"checks_failed": "checks ✗", "cancelled": "cancel'd"}


def cells(row: ResultRow) -> Tuple[object, ...]:
    """A run as table cells; energy is mJ/query (SingleStream) or samples/J (Offline)."""
    if row.scenario == "SingleStream":
        energy = number(row.energy_per_query_mj, ".3f", " mJ")
    else:
        energy = number(row.samples_per_j, ".2f", " s/J")
    return (row.started[:16], row.device, row.model, SCENARIO_SHORT.get(row.scenario, row.scenario),
            Text(STATUS_SHORT.get(row.status, row.status), style=STATUS_STYLE.get(row.status, "")),
            Text(number(row.avg_power_w, ".3f"), justify="right"), Text(energy, justify="right"))


class ResultsScreen(LabScreen):
    """Every stored run: / filters, o changes the sort column (or click a header), i inverts, Enter opens one."""

    MODE = "results"
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("o", "sort", "Sort"),
        Binding("i", "invert", "Invert"),
        Binding("u", "reload", "Reload"),
        Binding("enter", "open", "Open", show=True),
    ]
    DEFAULT_CSS = """
    ResultsScreen #filter-row { height: 1; padding: 0 1; }
    ResultsScreen #filter-row Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    ResultsScreen #filter { width: 1fr; }
    ResultsScreen #results { height: 1fr; }
    ResultsScreen #results-status { height: 1; padding: 0 1; background: $boost; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.listing = ResultListing((), "")
        self.shown: Tuple[ResultRow, ...] = ()
        self.sort_key = "started"
        self.descending = True

    def body(self) -> ComposeResult:
        """The filter, the table, a status line."""
        with Horizontal(id="filter-row"):
            yield Label("filter")
            yield Input(placeholder="words that must all match: device, model, status, scenario, run id",
                        id="filter", compact=True)
        yield DataTable(id="results", cursor_type="row")
        yield Static(id="results-status")

    def on_mount(self) -> None:
        """Columns, then the runs."""
        table = self.query_one("#results", DataTable)
        for key, title, width in COLUMNS:
            table.add_column(title, width=width, key=key)
        table.focus()
        self.action_reload()

    def on_screen_resume(self) -> None:
        """Coming back here shows runs finished meanwhile."""
        if self.is_mounted:
            self.action_reload()

    def action_reload(self) -> None:
        """Read the runs again."""
        self.read_results()

    @work(thread=True, exclusive=True, exit_on_error=False, group="read")
    def read_results(self) -> None:
        """The newest runs from the database."""
        self.from_thread(self._listed, self.lab.results_list())

    def _listed(self, listing: ResultListing) -> None:
        self.listing = listing
        self.show_rows()

    def show_rows(self) -> None:
        """The listing filtered and sorted (by the lab's rules), into the table."""
        text = self.query_one("#filter", Input).value
        self.shown = sort_rows(filter_rows(self.listing.rows, text), self.sort_key, self.descending)
        sync_table(self.query_one("#results", DataTable), [(r.run_id, cells(r)) for r in self.shown])
        order = "descending" if self.descending else "ascending"
        status = Text(f"{len(self.shown)} of {len(self.listing.rows)} runs · sorted by {self.sort_key} {order}")
        if text.strip():
            status.append(f" · filter {text.strip()!r}")
        if self.listing.error:
            status = Text(self.listing.error, style="dim")
        self.query_one("#results-status", Static).update(status)

    def on_input_changed(self, event: Input.Changed) -> None:
        """Filter as the user types."""
        self.show_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the filter goes back to the table."""
        self.query_one("#results", DataTable).focus()

    def action_filter(self) -> None:
        """Type a filter."""
        self.query_one("#filter", Input).focus()

    def action_sort(self) -> None:
        """Sort by the next column (newest first for time, ascending for the rest; i flips it)."""
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self.descending = self.sort_key == "started"
        self.show_rows()

    def action_invert(self) -> None:
        """Flip the order."""
        self.descending = not self.descending
        self.show_rows()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """A click on a header sorts by it (again: the other way round)."""
        key = str(event.column_key.value)
        if key in SORT_KEYS:
            self.descending = not self.descending if key == self.sort_key else key == "started"
            self.sort_key = key
            self.show_rows()

    def action_open(self) -> None:
        """The run under the cursor in full."""
        table = self.query_one("#results", DataTable)
        if self.shown and table.row_count:
            run_id = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
            self.app.push_screen(ResultScreen(run_id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter or a click on a run opens it."""
        self.app.push_screen(ResultScreen(str(event.row_key.value)))


class ResultScreen(LabScreen):
    """One run: status, power trace with the idle level and its windows, figures, checks, files (Escape: back)."""

    MODE = "results"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("p", "report", "Write report")]
    DEFAULT_CSS = """
    ResultScreen #result-title { height: 1; padding: 0 1; background: $boost; }
    ResultScreen #result-chart { height: 7; }
    ResultScreen #result-body { height: 1fr; padding: 0 1; }
    """

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.detail: Optional[ResultDetail] = None

    def body(self) -> ComposeResult:
        """Title, trace, the rest."""
        yield Static(Text(f"{self.run_id}  loading ...", style="dim"), id="result-title")
        yield PowerChart(id="result-chart")
        with VerticalScroll(id="result-body"):
            yield ResultView(id="result-view")

    def on_mount(self) -> None:
        """Read the run in a thread (samples.csv may be long)."""
        self.query_one("#result-body").focus()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail")
    def load(self) -> None:
        """run.json, its checks and samples.csv."""
        self.from_thread(self.show_detail, self.lab.result(self.run_id))

    def show_detail(self, detail: ResultDetail) -> None:
        """Everything about the run."""
        self.detail = detail
        title = Text(f"{detail.run_id}  ")
        title.append(detail.status.upper(), style=STATUS_STYLE.get(detail.status, ""))
        if detail.reason:
            title.append(f"  {detail.reason}", style="red")
        self.query_one("#result-title", Static).update(title)
        self.query_one("#result-chart", PowerChart).show(detail.trace, detail.idle_w, detail.windows,
                                                        "no samples.csv in the run's folder")
        self.query_one("#result-view", ResultView).show(detail)

    def action_report(self) -> None:
        """Write the report of this run's sweep."""
        if self.detail is None or not self.detail.sweep_id:
            self.notify("this run is not part of a sweep: no sweep report to write", severity="warning")
            return
        self.write_report(self.detail.sweep_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="report")
    def write_report(self, sweep_id: str) -> None:
        """`director report SWEEP` in a thread, then the run again (with the report's path)."""
        self.from_thread(self._reported, self.lab.write_report(sweep_id))

    def _reported(self, result: ReportResult) -> None:
        self.notify(f"report: {result.html}" if result.html else f"no report: {result.error}",
                    severity="information" if result.html else "error", timeout=8)
        self.load()
