"""Sweeps: the queue with job states, each device's job and ETA; start one from a spec; pause, resume, cancel, retry."""

from __future__ import annotations

import os
from typing import Optional

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Label, Static

from director.lab import SweepAction, SweepDetail, SweepListing, holder
from tui.screens.base import LabScreen, clock, sync_table, watts
from tui.widgets.choose import Choose

REFRESH_S = 1.0
STATE_STYLE = {"done": "green", "running": "bold cyan", "failed": "bold red", "invalid": "red", "cancelled": "yellow",
               "pending": "", "active": "bold cyan", "paused": "yellow", "finished": "green", "stopped": "yellow"}


def styled(state: str) -> Text:
    """A job or sweep state in its colour."""
    return Text(state, style=STATE_STYLE.get(state, ""))


class SweepsScreen(LabScreen):
    """Every sweep; the selected one's devices and jobs, refreshed each second from the database."""

    MODE = "sweeps"
    BINDINGS = [
        Binding("n", "new", "New"),
        Binding("p", "pause", "Pause"),
        Binding("u", "resume", "Resume"),
        Binding("c", "cancel_sweep", "Cancel"),
        Binding("t", "retry", "Retry failed"),
        Binding("e", "report", "Report"),
    ]
    DEFAULT_CSS = """
    SweepsScreen #spec-row { height: 1; padding: 0 1; }
    SweepsScreen #spec-row Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    SweepsScreen #spec { width: 1fr; }
    SweepsScreen #sweeps { height: 5; }
    SweepsScreen #sweep-status { height: auto; max-height: 6; padding: 0 1; border-top: solid $panel;
                                 text-wrap: nowrap; text-overflow: ellipsis; }
    SweepsScreen #jobs { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.selected_id: Optional[str] = None
        self.detail: Optional[SweepDetail] = None

    def body(self) -> ComposeResult:
        """The spec line, the sweeps, the selected sweep's status and its jobs."""
        with Horizontal(id="spec-row"):
            yield Label("spec")
            yield Input(placeholder="sweep spec file (TOML); Enter checks, queues and runs it", id="spec",
                        compact=True)
        yield DataTable(id="sweeps", cursor_type="row")
        yield Static(id="sweep-status")
        yield DataTable(id="jobs", cursor_type="row")

    def on_mount(self) -> None:
        """Columns, a first read, then one each second."""
        sweeps = self.query_one("#sweeps", DataTable)
        for title, width in (("sweep", 30), ("state", 9), ("jobs", 34)):
            sweeps.add_column(title, width=width, key=title)
        jobs = self.query_one("#jobs", DataTable)
        for title, width in (("#", 2), ("job", 46), ("state", 9), ("try", 3), ("phase / reason", 60)):
            jobs.add_column(title, width=width, key=title)
        sweeps.focus()
        self.refresh_sweeps()
        self.set_interval(REFRESH_S, self.refresh_sweeps)

    # -- reading ----------------------------------------------------------------------------------
    def refresh_sweeps(self) -> None:
        """Read the queue again (in a thread)."""
        self.read_sweeps(self.selected_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="refresh")
    def read_sweeps(self, selected: Optional[str]) -> None:
        """Every sweep, and the selected one (the newest when none is) in full."""
        listing = self.lab.sweeps()
        ref = selected or (listing.rows[0].sweep_id if listing.rows else None)
        detail = self.lab.sweep(ref) if ref else None
        self.from_thread(self._show, listing, detail)

    def _show(self, listing: SweepListing, detail: Optional[SweepDetail]) -> None:
        sweeps = self.query_one("#sweeps", DataTable)
        sync_table(sweeps, [(s.sweep_id, (s.sweep_id, styled(s.state), s.counts)) for s in listing.rows])
        if self.selected_id is None and detail is not None:
            self.selected_id = detail.sweep_id
        status = self.query_one("#sweep-status", Static)
        if listing.error:
            status.update(Text(listing.error, style="dim"))
        if detail is None or detail.sweep_id != self.selected_id:
            return
        self.detail = detail
        status.update(status_text(detail))
        rows = []
        for job in detail.jobs:
            note = Text(job.phase, style="cyan") if job.phase else Text(job.reason, style="dim")
            rows.append((job.key, (str(job.seq + 1), job.key, styled(job.state), str(job.attempts), note)))
        sync_table(self.query_one("#jobs", DataTable), rows)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The highlighted sweep is the one shown and steered; a highlighted job shows its whole reason."""
        if event.data_table.id == "sweeps" and event.row_key.value != self.selected_id:
            self.selected_id = str(event.row_key.value)
            self.refresh_sweeps()
        elif event.data_table.id == "jobs" and self.detail is not None and event.data_table.has_focus:
            job = next((j for j in self.detail.jobs if j.key == event.row_key.value), None)
            if job is not None and job.reason:
                self.notify(f"{job.key}: {job.reason}", timeout=8)

    # -- steering ---------------------------------------------------------------------------------
    def action_new(self) -> None:
        """Type a spec file's path; Enter starts it."""
        self.query_one("#spec", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Check, queue and run the spec."""
        path = event.value.strip()
        if path:
            self.notify(f"checking {path} ...", timeout=3)
            self.start_sweep(path)

    @work(thread=True, exclusive=True, exit_on_error=False, group="steer")
    def start_sweep(self, path: str) -> None:
        """Lab.start_sweep (the runner works in the lab's own thread)."""
        self.from_thread(self._acted, self.lab.start_sweep(path), True)

    def _acted(self, action: SweepAction, select: bool = False) -> None:
        self.notify(action.message, severity="information" if action.ok else "error", timeout=6)
        if action.ok and select and action.sweep_id:
            self.selected_id = action.sweep_id
            self.query_one("#spec", Input).value = ""
            self.query_one("#sweeps", DataTable).focus()
        self.refresh_sweeps()

    def _steer(self, what: str) -> None:
        if not self.selected_id:
            self.notify("no sweep selected", severity="warning")
            return
        self.steer(what, self.selected_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="steer")
    def steer(self, what: str, sweep_id: str) -> None:
        """One steering action on the store (reaching a runner here or in another director)."""
        act = {"pause": self.lab.pause_sweep, "resume": self.lab.resume_sweep, "cancel": self.lab.cancel_sweep,
               "retry": self.lab.retry_failed}[what]
        self.from_thread(self._acted, act(sweep_id))

    def action_pause(self) -> None:
        """Running jobs finish; no new job starts."""
        self._steer("pause")

    def action_resume(self) -> None:
        """Go on after a pause (runs it here unless a runner here already does)."""
        self._steer("resume")

    def action_retry(self) -> None:
        """Failed jobs back in the queue (then resume)."""
        self._steer("retry")

    def action_cancel_sweep(self) -> None:
        """Cancel the sweep, after a yes."""
        sweep_id = self.selected_id
        if not sweep_id:
            self.notify("no sweep selected", severity="warning")
            return

        def answered(choice: Optional[str]) -> None:
            if choice and choice.startswith("yes"):
                self.steer("cancel", sweep_id)

        self.app.push_screen(Choose(f"Cancel sweep {sweep_id}?", ["yes: cancel pending and running jobs", "no"]),
                             answered)

    def action_report(self) -> None:
        """Write the sweep's report (CSV, JSON, HTML)."""
        if self.selected_id:
            self.write_report(self.selected_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="report")
    def write_report(self, sweep_id: str) -> None:
        """`director report SWEEP` in a thread."""
        result = self.lab.write_report(sweep_id)
        message = f"report: {result.html}" if result.html else f"no report: {result.error}"
        self.from_thread(self.notify, message, severity="information" if result.html else "error", timeout=8)


def status_text(detail: SweepDetail) -> Text:
    """The sweep's state and counts with the ETA, then one line per device."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if detail.error:
        return text.append(detail.error, style="bold red")
    text.append(detail.state, style=STATE_STYLE.get(detail.state, "")).append(f"  {detail.counts}  eta {detail.eta}")
    if detail.note:
        text.append(f"  ({detail.note})", style="dim")
    if detail.runner_error:
        text.append(f"\nrunner: {detail.runner_error}", style="bold red")
    for device in detail.devices:
        text.append(f"\n{device.device:<12} ", style="bold")
        if device.key:
            text.append(f"{device.phase:<10} {clock(device.elapsed_s)} {watts(device.live_w)}  {device.key} "
                        f"(try {device.attempt}{holder(device)}; {device.left} left)")
        else:
            text.append(f"{device.phase:<10} {device.left} left ({clock(device.left_s)})", style="dim")
    results = os.path.relpath(detail.results) if detail.results else "-"
    if len(detail.devices) < 3 and not results.startswith(".."):
        text.append(f"\nresults in {results}", style="dim")
    return text
