"""One screen per workflow: devices, run, sweeps, results."""
