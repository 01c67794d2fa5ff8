"""`director`: measure a model on a device at the wall, and look after devices, analyzers and results."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, NoReturn, Optional

from devices.errors import DeviceError, UnknownDevice
from director.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INVALID, BadInput, DirectorError
from director.runspec import RunSpec, parse_ranges, parse_setting
from power.errors import PowerError

EXIT_OK = 0
EXIT_INTERRUPTED = 130
DEMO_MODEL = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "models" / "tiny_float.onnx"


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one line, like every other error of the director."""

    def error(self, message: str) -> NoReturn:
        """`director: error: <what>; see <prog> --help`, exit 2."""
        self.exit(EXIT_BAD_INPUT, f"director: error: {message}; see `{self.prog} --help`\n")


def _number(kind: str, low: float, low_ok: bool) -> Any:
    """An argparse type: a finite float above LOW (or equal to it when low_ok)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"wants {kind}, not {text!r}") from None
        if not math.isfinite(value) or value < low or (value == low and not low_ok):
            raise argparse.ArgumentTypeError(f"wants {kind}, not {text!r}")
        return value

    return parse


def _count(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"wants a whole number of at least 1, not {text!r}")
    return value


SECONDS = _number("seconds (a number >= 0)", 0.0, True)
POSITIVE_SECONDS = _number("seconds (a number > 0)", 0.0, False)
AMPERES = _number("amperes (a number >= 0)", 0.0, True)
CELSIUS = _number("degrees C (a number)", -math.inf, False)


def _run_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="measure a model on a device: latency or throughput, and energy at the wall",
        description="Run a measured session: preflight, settle, idle baseline, a ranging pass on auto ranges, "
        "a testing pass on the ranges chosen from it, then figures, checks and a result folder. "
        "Exit codes: 0 ok, 1 failed, 2 bad input, 3 LoadGen INVALID or a failed check, 5 device unreachable.",
    )
    p.add_argument("--device", default="local", help="device name from the inventory or an ~/.ssh/config alias (local)")
    p.add_argument("--analyzer", help="analyzer name (default: the device's); `sim` is the built-in simulator")
    p.add_argument("--model", default=str(DEMO_MODEL), help="model file on this host, .tflite or .onnx (a tiny demo model)")
    p.add_argument("--scenario", choices=("SingleStream", "Offline"), default="SingleStream")
    p.add_argument("--mode", choices=("performance", "accuracy"), default="performance")
    p.add_argument("--runtime", choices=("auto", "tflite", "onnx"), default="auto")
    p.add_argument("--threads", type=_count, help="runtime threads on the device")
    p.add_argument("--profile", choices=("quick", "mlperf"), default="quick",
                   help="quick: 10 s passes; mlperf: the rules' 600 s (quick)")
    p.add_argument("--loadgen-model", default="resnet50", help="MLPerf model name for LoadGen's mlperf.conf (resnet50)")
    p.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                   help="a user.conf setting in LoadGen's units, e.g. min_duration=60000 (repeatable)")
    p.add_argument("--npy", metavar="DIR", help="a folder of preprocessed .npy samples ON THE DEVICE (default synthetic)")
    p.add_argument("--labels", metavar="FILE", help="labels for --npy (default DIR/labels.txt)")
    p.add_argument("--batch-size", type=_count, default=32, help="Offline batch for dynamic-batch models (32)")
    p.add_argument("--no-ranging", action="store_true", help="skip the ranging pass; test on auto ranges (not conformant)")
    p.add_argument("--ranges", metavar="V,A", help="fixed testing ranges, no ranging pass (not conformant)")
    p.add_argument("--current-floor", type=AMPERES, default=0.0, metavar="A", help="lowest current range to choose (A)")
    p.add_argument("--settle", type=SECONDS, default=2.0, metavar="S", help="seconds to wait before the idle baseline (2)")
    p.add_argument("--max-temp", type=CELSIUS, metavar="C", help="also wait until the device is cooler than this")
    p.add_argument("--idle", type=POSITIVE_SECONDS, default=3.0, metavar="S", help="seconds of idle baseline (3)")
    p.add_argument("--calibration", type=SECONDS, default=1.0, metavar="S",
                   help="seconds of untimed queries before each pass, to set LoadGen's target latency or QPS (1)")
    p.add_argument("--power-mode", help="board power mode by name (Jetson nvpmodel NAME)")
    p.add_argument("--results", default="results", help="folder for result folders and results.db (./results)")
    p.add_argument("--db", help="results database URL (sqlite:///RESULTS/results.db)")
    p.add_argument("--label", default="", help="a free label kept in run.json")
    p.add_argument("--trust-host", action="store_true", help="add an UNKNOWN SSH host key to known_hosts")
    p.add_argument("--replace-host-key", action="store_true", help="replace a CHANGED SSH host key (check why first)")
    p.add_argument("--json", action="store_true", help="print run.json as JSON at the end, instead of the headline")
    p.set_defaults(func=cmd_run)


def _spec(args: argparse.Namespace) -> RunSpec:
    settings = dict(parse_setting(s) for s in args.setting)
    dataset: Dict[str, Any] = {"kind": "synthetic", "count": 1024, "seed": 0}
    if args.npy:
        dataset = {"kind": "npy", "path": args.npy, **({"labels": args.labels} if args.labels else {})}
    return RunSpec(
        device=args.device, analyzer=args.analyzer, model=args.model, scenario=args.scenario, mode=args.mode,
        runtime=args.runtime, threads=args.threads, profile=args.profile, loadgen_model=args.loadgen_model,
        settings=settings, dataset=dataset, batch_size=args.batch_size, ranging=not args.no_ranging,
        ranges=parse_ranges(args.ranges) if args.ranges else None, current_floor_a=args.current_floor,
        settle_s=args.settle, max_temp_c=args.max_temp, idle_s=args.idle, calibration_s=args.calibration,
        power_mode=args.power_mode,
        results=args.results, database=args.db, label=args.label, inventory=args.inventory,
        trust_host=args.trust_host, replace_host_key=args.replace_host_key, known_hosts=args.known_hosts,
    )


def headline(run: Dict[str, Any]) -> str:
    """The one line that says what was measured."""
    testing = run["passes"]["run_1"]
    figures, agent = testing["figures"], testing["agent"]
    if run.get("mode") == "accuracy":
        line = (agent.get("accuracy") or {}).get("line") or "no accuracy (the dataset has no labels)"
        perf, energy = f"accuracy: {line}", f"{agent.get('sample_count')} samples"
    elif run["scenario"] == "SingleStream":
        perf = f"p90 {agent['latency_ns']['p90'] / 1e6:.3f} ms, {agent['query_count']} queries"
        energy = f"{figures['energy_per_query_mj']:.3f} mJ/query"
    else:
        perf = f"{agent['samples_per_s']:.1f} samples/s"
        energy = f"{figures['samples_per_j']:.2f} samples/J"
    idle = run.get("idle", {}).get("average_w")
    idle_text = f" (idle {idle:.3f} W)" if idle is not None else ""
    simulated = " [simulated analyzer]" if (run.get("analyzer") or {}).get("simulated") else ""
    return (
        f"{run['status'].upper()}: {run['scenario']} {perf}; {figures['average_w']:.3f} W{idle_text}, "
        f"{energy}{simulated}; results in {run['folder']}"
    )


def cmd_run(args: argparse.Namespace) -> int:
    from director.progress import progress_for
    from director.run_recovery import abandoned_runs, recover_run
    from director.session import Session

    spec = _spec(args)
    for folder in abandoned_runs(spec.results, spec.device):
        print(f"director: {recover_run(folder, spec.inventory, spec.known_hosts)}", file=sys.stderr)
    display: Any = progress_for(sys.stderr, f"director run --device {spec.device}")
    session = Session(spec, on_progress=display)
    try:
        run = session.run()
    except KeyboardInterrupt:
        interrupted = True
    else:
        interrupted = False
    finally:
        display.close()
    if interrupted:
        measured = os.path.isdir(session.folder)
        print(f"director: interrupted; what was measured is in {session.folder}" if measured
              else "director: interrupted before anything was measured", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.json:
        json.dump(run, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print(headline(run))
        for check in run["checks"]:
            if check["status"] != "pass":
                print(f"  {check['status']}: {check['name']}: {check['reason']}")
    return EXIT_OK if run["status"] == "ok" else EXIT_INVALID


def cmd_devices(args: argparse.Namespace) -> int:
    from director.device_cmds import check_device_cmd, list_devices

    if args.action == "check":
        if not args.name:
            raise BadInput("director devices check NAME: give a device name")
        return check_device_cmd(args)
    return list_devices(args)


def cmd_analyzers(args: argparse.Namespace) -> int:
    from director.device_cmds import check_analyzer_cmd, list_analyzers

    if args.action == "check":
        if not args.name:
            raise BadInput("director analyzers check NAME: give an analyzer name (e.g. sim)")
        return check_analyzer_cmd(args)
    return list_analyzers(args)


def cmd_results(args: argparse.Namespace) -> int:
    from director.device_cmds import list_results, show_result

    if args.action == "show":
        if not args.run_id:
            raise BadInput("director results show RUN_ID: give a run id (or a unique prefix)")
        return show_result(args)
    return list_results(args)


def cmd_setup(args: argparse.Namespace) -> int:
    from director.device_cmds import setup_cmd

    return setup_cmd(args)


def _host_key_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-host", action="store_true", help="add an UNKNOWN SSH host key to known_hosts")
    p.add_argument("--replace-host-key", action="store_true", help="replace a CHANGED SSH host key (check why first)")


def parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = Parser(prog="director", description=__doc__,
               epilog="Exit codes: 0 ok, 1 failed, 2 bad input, 3 LoadGen INVALID or a failed check, 5 device unreachable.")
    p.add_argument("--inventory", help="devices.toml (else $EDGEPOWER_INVENTORY, ./devices.toml, ~/.config/edgepower/)")
    p.add_argument("--known-hosts", help="SSH known_hosts file to check device keys against (~/.ssh/known_hosts)")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens, to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _run_parser(sub)
    devices = sub.add_parser(
        "devices", help="list devices with reachability, or check one (deploy and facts)",
        description="`director devices` lists every device of the inventory (and the built-in `local`) with "
        "whether it answers now; `director devices check NAME` reaches NAME, deploys the agent and reports its "
        "Python, runtimes, board facts and power modes (exit 1 when modules are missing).",
    )
    devices.add_argument("action", nargs="?", choices=("list", "check"), default="list", help="list (default) or check")
    devices.add_argument("name", nargs="?", help="the device to check")
    devices.add_argument("--json", action="store_true", help="print JSON instead of text")
    _host_key_flags(devices)
    devices.set_defaults(func=cmd_devices)
    analyzers = sub.add_parser(
        "analyzers", help="list analyzers, or check one (identity, ranges, a few samples)",
        description="`director analyzers` lists the analyzers of the inventory and the built-in `sim` (a WT310E "
        "simulator on a pseudo-terminal); `director analyzers check NAME` opens one and prints its identity, "
        "ranges and a few samples.",
    )
    analyzers.add_argument("action", nargs="?", choices=("list", "check"), default="list", help="list (default) or check")
    analyzers.add_argument("name", nargs="?", help="the analyzer to check (e.g. sim)")
    analyzers.add_argument("--json", action="store_true", help="print JSON instead of text")
    analyzers.set_defaults(func=cmd_analyzers)
    results = sub.add_parser(
        "results", help="list stored runs, or show one",
        description="`director results` lists the newest runs in the results database; "
        "`director results show RUN_ID` shows one run's figures (a unique prefix of its id is enough).",
    )
    results.add_argument("action", nargs="?", choices=("list", "show"), default="list", help="list (default) or show")
    results.add_argument("run_id", nargs="?", help="the run to show, or a unique prefix of its id")
    results.add_argument("--results", default="results", help="results folder (./results)")
    results.add_argument("--db", help="results database URL (sqlite:///RESULTS/results.db)")
    results.add_argument("--device", help="only this device's runs")
    results.add_argument("--limit", type=_count, default=20, help="at most this many runs (20)")
    results.add_argument("--json", action="store_true", help="print JSON instead of text")
    results.set_defaults(func=cmd_results)
    setup = sub.add_parser(
        "setup", help="make a venv on the device and install the agent's runtimes",
        description="Make a venv in the device's work folder and pip-install the agent's modules and the "
        "runtimes named by --extras; the device must reach a package index. Prints the python to set in devices.toml.",
    )
    setup.add_argument("--device", required=True, help="the device to set up")
    setup.add_argument("--extras", default="onnx", help="runtimes to install: onnx, tflite (comma-separated)")
    _host_key_flags(setup)
    setup.set_defaults(func=cmd_setup)
    from director.submission.check_cmd import add_parser as add_check_parser
    from director.submission.export_cmd import add_parser as add_submission_parser
    from director.sweep_cmds import add_parsers

    add_parsers(sub)
    add_submission_parser(sub)
    add_check_parser(sub)
    tui = sub.add_parser(
        "tui", help="the lab in a terminal UI: devices, a live run, sweeps, results",
        description="A full-screen terminal UI (keys 1-4 switch screens, the bottom line lists the rest): devices "
        "with reachability and idle power, a run with its live power chart, the sweep queue, stored results. "
        "Its log goes to RESULTS/tui.log.",
    )
    tui.add_argument("--results", default="results", help="results folder and results.db (./results)")
    tui.add_argument("--db", help="results database URL (sqlite:///RESULTS/results.db)")
    tui.set_defaults(func=cmd_tui)
    return p


def cmd_tui(args: argparse.Namespace) -> int:
    from tui.app import main as tui_main  # Textual is loaded only for this command

    return tui_main(args)


def main(argv: Optional[List[str]] = None) -> int:
    """Run a command; errors become one line on stderr and an exit code."""
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="director: %(levelname)s: %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.func(args)
    except DirectorError as e:
        print(f"director: error: {e}", file=sys.stderr)
        return e.exit_code
    except (UnknownDevice, DeviceError) as e:
        print(f"director: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except PowerError as e:
        print(f"director: error: analyzer: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("director: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
