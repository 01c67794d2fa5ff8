"""Dead time of a measured session: its wall time against the sum of the phases it was configured for.

    ./task bench session [--min-duration-ms 10000] [--device local] [--inventory FILE]

Runs one quick session (ranging + testing) on the built-in simulator and prints JSON lines: the
configured phases (settle, idle, and per pass calibration + LoadGen min_duration), the wall time
of each pass and of the whole session, and the overhead per pass. Target (issue 4): ≤ 5 s per pass;
the official flow spends 20 s per pass in fixed sleeps alone.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from director.runspec import RunSpec
from director.session import Session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="local")
    parser.add_argument("--inventory", help="devices.toml for --device")
    parser.add_argument("--known-hosts", help="known_hosts for an SSH device")
    parser.add_argument("--min-duration-ms", type=int, default=10000)
    parser.add_argument("--calibration-s", type=float, default=1.0)
    parser.add_argument("--settle-s", type=float, default=2.0)
    parser.add_argument("--idle-s", type=float, default=3.0)
    parser.add_argument("--scenario", default="SingleStream", choices=("SingleStream", "Offline"))
    args = parser.parse_args()
    from director.cli import DEMO_MODEL

    with tempfile.TemporaryDirectory(prefix="bench-session-") as results:
        spec = RunSpec(
            device=args.device, analyzer="sim", model=str(DEMO_MODEL), scenario=args.scenario, profile="quick",
            settings={"min_duration": args.min_duration_ms}, calibration_s=args.calibration_s,
            settle_s=args.settle_s, idle_s=args.idle_s, results=results, inventory=args.inventory,
            known_hosts=args.known_hosts,
        )
        start = time.monotonic()
        run = Session(spec).run()
        total_s = time.monotonic() - start
    configured_pass_s = args.calibration_s + args.min_duration_ms / 1000
    passes = run["passes"]
    for name, entry in passes.items():
        wall_s = (entry["host_ended_ns"] - entry["host_started_ns"]) / 1e9
        window_s = entry["figures"]["duration_s"]
        print(json.dumps({
            "bench": "session", "pass": name, "configured_s": configured_pass_s, "wall_s": round(wall_s, 3),
            "loadgen_window_s": round(window_s, 3), "overhead_s": round(wall_s - configured_pass_s, 3),
        }), flush=True)
    configured_s = args.settle_s + args.idle_s + len(passes) * configured_pass_s
    print(json.dumps({
        "bench": "session", "device": args.device, "status": run["status"], "passes": len(passes),
        "configured_s": configured_s, "wall_s": round(total_s, 3),
        "overhead_s": round(total_s - configured_s, 3),
        "overhead_per_pass_s": round((total_s - configured_s) / len(passes), 3),
        "official_fixed_sleeps_per_pass_s": 20.0,
    }), flush=True)


if __name__ == "__main__":
    main()
