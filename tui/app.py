"""`director tui`: the lab in a terminal, one screen per workflow (1 Devices, 2 Run, 3 Sweeps, 4 Results)."""

from __future__ import annotations

import argparse
import gc
import os
from typing import Any, Mapping, Optional

from textual import work
from textual.app import App
from textual.binding import Binding

from director.lab import Lab, log_to_file
from tui.screens.devices import DevicesScreen
from tui.screens.results import ResultsScreen
from tui.screens.run import RunScreen
from tui.screens.sweeps import SweepsScreen


class LabApp(App[None]):
    """The lab UI over a director.lab.Lab; run_defaults preset the run form (device, analyzer, model, preset...)."""

    TITLE = "edgepower lab"
    ENABLE_COMMAND_PALETTE = False
    MODES = {"devices": DevicesScreen, "run": RunScreen, "sweeps": SweepsScreen, "results": ResultsScreen}
    BINDINGS = [
        Binding("1", "switch_mode('devices')", "Devices", show=False),
        Binding("2", "switch_mode('run')", "Run", show=False),
        Binding("3", "switch_mode('sweeps')", "Sweeps", show=False),
        Binding("4", "switch_mode('results')", "Results", show=False),
        Binding("d", "switch_mode('devices')", "Devices", show=False),
        Binding("r", "switch_mode('run')", "Run", show=False),
        Binding("s", "switch_mode('sweeps')", "Sweeps", show=False),
        Binding("x", "switch_mode('results')", "Results", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, lab: Lab, start: str = "devices", run_defaults: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__()
        self.lab = lab
        self.start_mode = start
        self.run_defaults = dict(run_defaults or {})

    def on_mount(self) -> None:
        """The first screen."""
        self.switch_mode(self.start_mode)
        # A run's analyzer reader shares this process: a full collection over Textual's startup objects can hold
        # the GIL past the reader's 0.2 s patience and cost a sample (a gap, a failed check). Frozen, they are skipped.
        self.call_after_refresh(gc.freeze)

    async def action_quit(self) -> None:
        """Leave; a run or sweep of this session is stopped first (a sweep goes back to its queue)."""
        if (self.lab.run is not None and not self.lab.run.done) or any(
                not h.done for h in self.lab.sweep_handles.values()):
            self.notify("stopping the run / sweep before leaving ...", timeout=30)
            self.close_lab()
        else:
            self.exit()

    @work(thread=True, exclusive=True, exit_on_error=False, group="quit")
    def close_lab(self) -> None:
        """Lab.close (it waits for the sessions to end), then exit."""
        self.lab.close()
        self.call_from_thread(self.exit)


def main(args: argparse.Namespace) -> int:
    """Run the UI on the lab the command line names; the log goes to RESULTS/tui.log (the UI owns the terminal)."""
    lab = Lab(results=args.results, database=args.db, inventory=args.inventory, known_hosts=args.known_hosts)
    log_to_file(os.path.join(args.results, "tui.log"), getattr(args, "verbose", False))
    try:
        LabApp(lab).run()
    finally:
        lab.close()
    return 0
