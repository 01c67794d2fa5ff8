"""Command line of the agent: info, run, serve, accuracy."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from typing import Any, Dict, List, NoReturn, Optional

from agent.errors import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_FAILED, AgentError, Cancelled


def _raise_cancelled(signum: int, _frame: Any) -> None:
    raise Cancelled(f"cancelled by signal {signal.Signals(signum).name}")


def describe(result: Dict[str, Any], out: str) -> str:
    """One human line for a finished pass."""
    verdict = "VALID" if result.get("valid") else "INVALID"
    head = f"{result['scenario']} {result['mode']}: {verdict}"
    if result["mode"] == "accuracy":
        accuracy = result.get("accuracy")
        figure = accuracy["line"] if accuracy else "accuracy log written (no labels to score it)"
    elif result["scenario"] == "SingleStream":
        latency = result["latency_ns"]
        figure = (
            f"p90 {latency['p90'] / 1e6:.3f} ms (early-stopping estimate "
            f"{(latency['early_stopping_p90'] or 0) / 1e6:.3f} ms), {result['qps']:.1f} queries/s, "
            f"{result['query_count']} queries"
        )
    else:
        figure = f"{result['samples_per_s']:.1f} samples/s, {result['sample_count']} samples"
    reasons = "" if result.get("valid") else " (" + "; ".join(result.get("validity_reasons") or []) + ")"
    return f"{head}{reasons}; {figure}; results in {out}"


def cmd_info(_args: argparse.Namespace) -> int:
    from agent.info import facts

    json.dump(facts(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from agent.job import read_job
    from agent.runner import Pass, exit_code

    job = read_job(args.job)
    signal.signal(signal.SIGTERM, _raise_cancelled)
    signal.signal(signal.SIGINT, _raise_cancelled)
    run = Pass(job, args.out)
    result = run.run()
    print(describe(result, run.out), flush=True)
    return exit_code(result)


def cmd_serve(args: argparse.Namespace) -> int:
    from agent.serve import serve

    return serve(sys.stdin, sys.stdout, root=args.root)


def cmd_accuracy(args: argparse.Namespace) -> int:
    from agent.accuracy import score_classification
    from agent.datasets import read_labels

    labels = read_labels(args.labels)
    score = score_classification(args.log, labels, args.label_offset, args.out)
    print(score["line"])
    return 0


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one line, like every other error of the agent."""

    def error(self, message: str) -> NoReturn:
        """`agent: error: <what>; see <prog> --help`, exit 2."""
        self.exit(EXIT_BAD_INPUT, f"agent: error: {message}; see `{self.prog} --help`\n")


def parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = Parser(
        prog="python3 -m agent",
        description="edgepower's on-device agent: runs MLPerf LoadGen on a TFLite or ONNX model.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print facts about this machine as JSON").set_defaults(func=cmd_info)
    run = sub.add_parser(
        "run",
        help="run one LoadGen pass described by a job file",
        description="Run one LoadGen pass. Writes events.jsonl as it goes, then LoadGen's logs, "
        "telemetry.csv and result.json into OUT. Exit codes: 0 valid, 1 failed, 2 bad input, "
        "3 INVALID result, 4 cancelled.",
    )
    run.add_argument("--job", required=True, help="job.json (model, scenario, mode, profile, dataset, ...)")
    run.add_argument("--out", required=True, help="output folder (created; must not hold a previous run)")
    run.set_defaults(func=cmd_run)
    serve = sub.add_parser("serve", help="answer JSON-lines requests on stdin/stdout (for the director)")
    serve.add_argument(
        "--root", default=os.path.join("~", ".cache", "edgepower", "runs"), help="where detached runs keep their folders"
    )
    serve.set_defaults(func=cmd_serve)
    acc = sub.add_parser("accuracy", help="score a classification accuracy log into accuracy.txt")
    acc.add_argument("--log", required=True, help="mlperf_log_accuracy.json")
    acc.add_argument("--labels", required=True, help="labels file, one integer per line in sample order")
    acc.add_argument("--label-offset", type=int, default=0, help="added to each arg-max before comparing")
    acc.add_argument("--out", default=None, help="write the accuracy line to this file (accuracy.txt)")
    acc.set_defaults(func=cmd_accuracy)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command; errors become one line on stderr and an exit code."""
    logging.basicConfig(level=logging.WARNING, format="agent: %(levelname)s: %(message)s", stream=sys.stderr)
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except AgentError as e:
        print(f"agent: error: {e}", file=sys.stderr, flush=True)
        return e.exit_code
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    except OSError as e:
        print(f"agent: error: {e}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT if isinstance(e, (FileNotFoundError, PermissionError)) else EXIT_FAILED


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    if threading.active_count() > 1:
        # A cancelled LoadGen test is still running in its thread and cannot be stopped: leave now.
        os._exit(code)
    sys.exit(code)
