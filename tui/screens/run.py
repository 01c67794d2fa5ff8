"""Run: pick device, analyzer, model, scenario and preset; start; watch phase, ETA, LoadGen, power, telemetry; cancel."""

from __future__ import annotations

import os
from typing import Any, Optional

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Label, Select, Static

from director.lab import ResultDetail, RunChoices, RunHandle, RunStart, RunView
from tui.screens.base import LabScreen, clock, number, watts
from tui.widgets.power_chart import PowerChart
from tui.widgets.result_view import STATUS_STYLE, ResultView

REFRESH_S = 0.5
FIELDS = ("device", "analyzer", "preset", "model", "scenario")


class RunScreen(LabScreen):
    """One measured run: the form, then its live view (g starts, c cancels, n makes a new one)."""

    MODE = "run"
    BINDINGS = [
        Binding("g", "start", "Start"),
        Binding("c", "cancel", "Cancel run"),
        Binding("n", "new", "New run"),
    ]
    DEFAULT_CSS = """
    RunScreen #form { height: auto; padding: 0 1; }
    RunScreen #form.hidden { display: none; }
    RunScreen .field-row { height: 1; margin-bottom: 1; }
    RunScreen .field-row Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    RunScreen .field-row Select { width: 1fr; margin-right: 2; }
    RunScreen #run-title { height: 1; padding: 0 1; background: $boost; }
    RunScreen #run-status { height: 3; padding: 0 1; }
    RunScreen #run-chart { height: 1fr; min-height: 5; }
    RunScreen #run-result { height: auto; max-height: 10; padding: 0 1; }
    RunScreen #run-result.hidden { display: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.choices: Optional[RunChoices] = None
        self.handle: Optional[RunHandle] = None
        self.result: Optional[ResultDetail] = None
        self.timer: Optional[Timer] = None
        self._loading_result = False
        self._device: Optional[str] = None

    def body(self) -> ComposeResult:
        """The form, the run's title and status, its power chart, its result."""
        with Vertical(id="form"):
            with Horizontal(classes="field-row"):
                for field in FIELDS[:3]:
                    yield Label(field)
                    yield Select([], id=field, compact=True, prompt="-")
            with Horizontal(classes="field-row"):
                for field in FIELDS[3:]:
                    yield Label(field)
                    yield Select([], id=field, compact=True, prompt="-")
        yield Static("New run: pick what to measure, then g starts it", id="run-title")
        yield Static(id="run-status")
        yield PowerChart(id="run-chart")
        with VerticalScroll(id="run-result", classes="hidden"):
            yield ResultView(id="run-result-view")

    def on_mount(self) -> None:
        """The choices come from the inventory and the model folders."""
        self.load_choices()

    @work(thread=True, exclusive=True, exit_on_error=False, group="choices")
    def load_choices(self) -> None:
        """Devices, analyzers, models, presets (in a thread: the inventory is a file)."""
        self.from_thread(self._fill, self.lab.run_choices())

    def _fill(self, choices: RunChoices) -> None:
        self.choices = choices
        defaults = dict(getattr(self.app, "run_defaults", {}) or {})
        device = defaults.get("device") or ("local" if "local" in choices.devices else choices.devices[0])
        options = {
            "device": [(d, d) for d in choices.devices],
            "analyzer": [(a, a) for a in choices.analyzers],
            "preset": [(p, p) for p in choices.presets],
            "model": [(label, path) for label, path in choices.models],
            "scenario": [(s, s) for s in choices.scenarios],
        }
        values = {
            "device": device, "analyzer": defaults.get("analyzer") or choices.analyzer_for(device),
            "preset": defaults.get("preset", "quick"), "scenario": defaults.get("scenario", "SingleStream"),
            "model": defaults.get("model") or (choices.models[0][1] if choices.models else None),
        }
        self._device = device
        for field in FIELDS:
            select = self.query_one(f"#{field}", Select)
            select.set_options(options[field])
            if values[field] is not None and any(value == values[field] for _, value in options[field]):
                select.value = values[field]
        if choices.error:
            self.query_one("#run-status", Static).update(Text(choices.error, style="bold red"))
        self.query_one("#device", Select).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        """Another device brings its own analyzer along."""
        if event.select.id == "device" and self.choices is not None and isinstance(event.value, str):
            if event.value != self._device:
                self._device = event.value
                self.query_one("#analyzer", Select).value = self.choices.analyzer_for(event.value)

    def _value(self, field: str) -> Optional[str]:
        value: Any = self.query_one(f"#{field}", Select).value
        return value if isinstance(value, str) else None

    # -- actions ----------------------------------------------------------------------------------
    def action_start(self) -> None:
        """Start the run the form describes."""
        if self.handle is not None and not self.handle.done:
            self.notify("a run is in progress: c cancels it", severity="warning")
            return
        if self.query_one("#form").has_class("hidden"):
            self.notify("n makes a new run", severity="warning")
            return
        values = {field: self._value(field) for field in FIELDS}
        missing = [field for field, value in values.items() if not value]
        if missing:
            self.notify(f"choose a {', '.join(missing)} first", severity="warning")
            return
        self.query_one("#run-status", Static).update(Text("starting ...", style="dim"))
        self.start(values)

    @work(thread=True, exclusive=True, exit_on_error=False, group="start")
    def start(self, values: dict) -> None:
        """Lab.start_run (the session itself runs in the lab's own thread)."""
        started = self.lab.start_run(values["device"], values["model"], values["scenario"], values["preset"],
                                     values["analyzer"])
        self.from_thread(self._started, started, values)

    def _started(self, started: RunStart, values: dict) -> None:
        if started.handle is None:
            self.query_one("#run-status", Static).update(Text(started.error, style="bold red"))
            return
        self.handle, self.result = started.handle, None
        self._loading_result = False
        self.query_one("#form").add_class("hidden")
        self.query_one("#run-result").add_class("hidden")
        self.query_one("#run-result-view", ResultView).show(None)
        self.query_one("#run-title", Static).update(
            f"{values['device']} · {values['analyzer']} · {os.path.basename(values['model'])} · "
            f"{values['scenario']} · {values['preset']}")
        if self.timer is None:
            self.timer = self.set_interval(REFRESH_S, self.refresh_run)
        else:
            self.timer.resume()
        self.refresh_run()

    def action_cancel(self) -> None:
        """Cancel the running run (its pass is stopped on the device too)."""
        if self.lab.cancel_run():
            self.notify("cancelling: the run stops at its next step")
        else:
            self.notify("no run in progress", severity="warning")

    def action_new(self) -> None:
        """Back to the form for a new run."""
        if self.handle is not None and not self.handle.done:
            self.notify("a run is in progress: c cancels it", severity="warning")
            return
        self.query_one("#form").remove_class("hidden")
        self.query_one("#run-result").add_class("hidden")
        self.query_one("#run-title", Static).update("New run: pick what to measure, then g starts it")
        self.query_one("#run-status", Static).update("")
        self.query_one("#run-chart", PowerChart).show(())
        self.query_one("#device", Select).focus()

    # -- the live view ----------------------------------------------------------------------------
    def refresh_run(self) -> None:
        """Redraw from the handle's snapshot (no I/O); once it ended, load its result."""
        if self.handle is None:
            return
        view = self.handle.view()
        self.query_one("#run-status", Static).update(status_text(view))
        windows = ((("idle",) + view.idle_window_ns,) if view.idle_window_ns else ()) + view.windows
        self.query_one("#run-chart", PowerChart).show(view.samples, view.idle_w, windows)
        if view.finished and self.result is None and not self._loading_result:
            self._loading_result = True
            if self.timer is not None:
                self.timer.pause()  # nothing changes any more
            self.load_result(view.folder)

    @work(thread=True, exclusive=True, exit_on_error=False, group="result")
    def load_result(self, folder: str) -> None:
        """run.json, checks and the trace of the finished run."""
        self.from_thread(self._show_result, self.lab.run_result(folder))

    def _show_result(self, detail: ResultDetail) -> None:
        self.result = detail
        self.refresh_run()  # the pass's last events, read just after the end
        self.query_one("#run-result").remove_class("hidden")
        self.query_one("#run-result-view", ResultView).show(detail)


def status_text(view: RunView) -> Text:
    """Three lines: state and phase with times; power now and idle; LoadGen's progress and the device's telemetry."""
    text = Text(no_wrap=True, overflow="ellipsis")
    state = view.state.upper() if view.finished else view.phase
    text.append(f"{state:<12}", style=STATUS_STYLE.get(view.state, "bold cyan"))
    text.append(f" elapsed {clock(view.elapsed_s)}  eta {clock(view.eta_s)}  ")
    text.append(view.error or view.detail, style="bold red" if view.error else "dim")
    text.append("\npower ").append(watts(view.live_w, ".3f"), style="bold")
    text.append(f"   idle {watts(view.idle_w, '.3f')}   samples {len(view.samples)}")
    text.append("\n")
    loadgen = view.loadgen
    if loadgen is not None:
        done = f", {loadgen.completed_samples} samples in {number(loadgen.elapsed_s, '.1f', ' s')}" \
            if loadgen.completed_samples is not None else ""
        text.append(f"LoadGen {loadgen.pass_name}: {loadgen.phase}{done}")
    else:
        text.append("LoadGen: not started", style="dim")
    telemetry = view.telemetry
    if telemetry is not None:
        cpu = f"CPU {number(telemetry.cpu_percent, '.0f', ' %')} {number(telemetry.cpu_mhz, '.0f', ' MHz')}" \
            if telemetry.cpu_mhz is not None or telemetry.cpu_percent is not None else "CPU -"
        text.append(f"   {cpu}   temp {number(telemetry.temperature_c, '.1f', ' °C')}")
    return text
