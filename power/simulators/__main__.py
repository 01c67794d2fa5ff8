"""Run a simulated meter until Ctrl-C: `python -m power.simulators wt310e --pty [--tcp PORT] [--load 60W]`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from typing import IO, List, Optional

from power.errors import PowerError
from power.simulators.serve import Link, PtyServer, Rfc2217Server, TcpServer, build, parse_load_w

MODELS = ("wt310", "wt310e", "wt310eh", "wt332e", "wt333e", "wt210")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m power.simulators", description=__doc__)
    p.add_argument("model", type=str.lower, choices=MODELS, help="meter model to simulate")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal (the default)")
    where.add_argument("--tcp", type=int, metavar="PORT", help="serve on TCP 127.0.0.1:PORT (0 = any)")
    p.add_argument("--rfc2217", type=int, metavar="PORT", help="also serve the pty over RFC 2217 on PORT")
    p.add_argument("--link", metavar="PATH", help="keep a stable symlink to the pty at PATH")
    p.add_argument("--baud", type=int, default=None, help="line speed (pty default 9600; tcp default 0 = instant)")
    p.add_argument("--rate", type=float, default=0.1, help="update interval in s (0.1 .. 5)")
    p.add_argument("--load", default="60W", help="constant load, e.g. 60W (idle watts with --cpu-coupled)")
    p.add_argument("--cpu-coupled", action="store_true", help="power follows this host's CPU load")
    p.add_argument("--spl", metavar="FILE", help="replay the Watts/Volts/Amps/PF of an MLPerf spl.txt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-noise", action="store_true", help="exact values (no measurement noise)")
    p.add_argument("--legacy", action="store_true", help="WT210 not in 488.2 mode: stays silent")
    p.add_argument("--record", metavar="FILE", help="append every update as a JSON line (t_end_ns, power_w...)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


class _Recorder:
    """Writes each completed update of the meter as one JSON line."""

    def __init__(self, link: Link, out: IO[str]) -> None:
        self.link, self.out, self.last = link, out, 0

    def __call__(self) -> None:
        history = self.link.meter.history
        if not history or history[-1].index <= self.last:
            return
        fresh = [u for u in reversed(history) if u.index > self.last][::-1]
        for u in fresh:
            self.out.write(json.dumps({"index": u.index, "t_end_ns": u.t_end_ns, "interval_ns": u.interval_ns,
                                       "power_w": u.power_w, "voltage_range_v": u.voltage_range_v,
                                       "current_range_a": u.current_range_a, "no_data": u.no_data}) + "\n")
        self.out.flush()
        self.last = fresh[-1].index


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    servers: list = []
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        instrument = build(args.model.upper(), load_w=parse_load_w(args.load), update_s=args.rate, seed=args.seed,
                           cpu_coupled=args.cpu_coupled, noise=not args.no_noise, mode_4882=not args.legacy,
                           spl=args.spl)
        tcp = args.tcp is not None
        baud = args.baud if args.baud is not None else (0 if tcp else 9600)
        link = Link(instrument, baud=baud)
        server = TcpServer(link, args.tcp) if tcp else PtyServer(link, args.link)
        record = open(args.record, "a") if args.record else None
        if record is not None:
            server.on_tick = _Recorder(link, record)
        servers.append(server.start())
        where = server.url if tcp else server.path
        line = f"{baud} baud 8N1" if baud else "no byte pacing"
        load = f"replay of {args.spl}" if args.spl else "CPU-coupled" if args.cpu_coupled else args.load
        print(f"{args.model.upper()} simulator on {where} ({line}, update {args.rate:g} s, "
              f"load {load}); Ctrl-C to stop", flush=True)
        if args.rfc2217 is not None:
            if tcp:
                raise PowerError("--rfc2217 serves the pty: use it with --pty")
            rfc = Rfc2217Server(server.path, args.rfc2217).start()
            servers.append(rfc)
            print(f"RFC 2217 on {rfc.url}", flush=True)
        done.wait()
    except PowerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot serve the simulator: {e}", file=sys.stderr)
        return 2
    finally:
        for s in reversed(servers):
            s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
