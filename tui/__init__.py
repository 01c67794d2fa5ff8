"""The lab's terminal UI (Textual) over director.lab: devices, one run, sweeps, results. No logic of its own."""
