"""`director submission export RUNS... --out DIR`: the command line of director.submission.export."""

from __future__ import annotations

import argparse
from typing import Any

from director.submission.describe import power_label
from director.submission.export import ExportOptions, export
from director.submission.system_desc import CATEGORIES, DIVISIONS, terminal_ask


def cmd_export(args: argparse.Namespace) -> int:
    """Write the tree; print where, what went in and what is still missing."""
    options = ExportOptions(out=args.out, division=args.division, category=args.category, submitter=args.submitter,
                            system=args.system, answers=args.answers, tarball=args.tar)
    result = export(args.runs, options, ask=terminal_ask())
    print(f"wrote {result.root}")
    for case in result.cases:
        parts = ["performance"] + (["accuracy"] if case.accuracy else [])
        print(f"  results/{case.key}: {' + '.join(parts)}")
    labels = sorted({power_label(case.performance[1]) for case in result.cases if case.performance})
    for label in labels:
        print(f"note: {label}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    if result.tarball:
        print(f"tarball: {result.tarball}")
    print(f"next: director check {result.root}")
    return 0


def add_parser(sub: Any) -> None:
    """The `submission` subcommand (`export`)."""
    submission = sub.add_parser(
        "submission", help="assemble an MLPerf results tree from finished runs",
        description="export RUNS... --out DIR: copy finished run folders (performance runs with their ranging "
        "and testing passes, and accuracy runs) into <DIR>/<division>/<submitter>/ laid out as MLPerf's "
        "results tree: results/<system>/<benchmark>/<scenario>/ with LoadGen's logs and spl.txt copied "
        "unmodified, systems/<system>.json filled from the board's facts, measurements.json, user.conf, "
        "README.md, the analyzer table and power settings, the agent's source, and a pre-filled "
        "self-certification checklist. What the runs cannot tell (storage, cooling, how the weights were "
        "made) comes from --answers FILE ([system] and [measurements] TOML tables) or is asked on a terminal. "
        "Then run `director check` on the tree.",
    )
    actions = submission.add_subparsers(dest="action", metavar="ACTION", required=True)
    exp = actions.add_parser("export", help="run folders -> an MLPerf results tree",
                             description="Group run folders by system, benchmark and scenario (one performance "
                             "run and at most one accuracy run each) and write the results tree.")
    exp.add_argument("runs", nargs="+", metavar="RUN", help="run folders (each with run.json)")
    exp.add_argument("--out", required=True, help="where the tree goes: OUT/<division>/<submitter>/")
    exp.add_argument("--division", choices=DIVISIONS, default="open", help="open (default) or closed")
    exp.add_argument("--category", choices=CATEGORIES, default="available",
                     help="the system's availability: available (default), preview or rdi")
    exp.add_argument("--submitter", required=True, help="the submitting organization (a folder name)")
    exp.add_argument("--system", help="the system's name (default: the device's name)")
    exp.add_argument("--answers", metavar="FILE", help="TOML with [system] and [measurements] answers")
    exp.add_argument("--tar", action="store_true", help="also write OUT/<division>.tar.gz")
    exp.set_defaults(func=cmd_export)
