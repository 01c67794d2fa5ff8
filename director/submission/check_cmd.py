"""`director check PATH`: the rules' verdicts on a run folder or an MLPerf results tree; exit 3 if any failed."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from director.errors import EXIT_INVALID, BadInput
from director.submission.checker import CheckOptions, check_path
from director.submission.findings import format_report, report_json
from director.submission.rules import MIN_DURATION_MS, SEEDS

EXIT_OK = 0


def cmd_check(args: argparse.Namespace) -> int:
    """Check args.path; print the report (text or --json); 0 when nothing failed, 3 otherwise."""
    if args.min_duration <= 0:
        raise BadInput(f"check: --min-duration must be positive, not {args.min_duration:g} s")
    options = CheckOptions(min_duration_ms=round(args.min_duration * 1000), version=args.version,
                           division=args.division)
    report = check_path(args.path, options)
    if args.json:
        json.dump(report_json(report), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print(format_report(report))
    return EXIT_INVALID if report.failed else EXIT_OK


def add_parser(sub: Any) -> None:
    """The `check` subcommand."""
    check = sub.add_parser(
        "check", help="check a run folder or an MLPerf results tree against the submission and power rules",
        description="Check PATH: an edgepower run folder (run.json, ranging/, run_1/), a performance/ folder "
        "(run_1/, ranging/, power/) or an MLPerf results tree (a submission root with results/ and systems/, "
        "or any folder of results/<system>/<benchmark>/<scenario>/). Each finding names its rule and where the "
        "rule comes from: LoadGen's logs (validity, duration, seeds, counts, errors), accuracy, the official "
        "power metric recomputed from run_1/spl.txt, the power checks (fixed ranges, testing vs ranging power, "
        "window margin, gaps, bad readings, uncertainty, clocks) from power-dev/PTDaemon files or edgepower's "
        "samples, and in a tree the required files and the system and measurements descriptions. "
        "Exit codes: 0 nothing failed, 2 bad input, 3 something failed.",
    )
    check.add_argument("path", help="a run folder, a performance/ folder or a results tree")
    check.add_argument("--min-duration", type=float, default=MIN_DURATION_MS / 1000, metavar="S",
                       help="LoadGen's minimum duration in seconds (600): the rules' minimum; lower it only to "
                       "rehearse the tree with short runs")
    check.add_argument("--version", choices=tuple(SEEDS), metavar="ROUND",
                       help=f"the round whose RNG seeds the logs must have ({', '.join(SEEDS)}); default: any "
                       "known round, named in the finding")
    check.add_argument("--division", choices=("open", "closed"),
                       help="the division for the accuracy target (default: the systems JSON's)")
    check.add_argument("--json", action="store_true", help="the report as JSON")
    check.set_defaults(func=cmd_check)
