"""`director submission export`: finished run folders → an MLPerf results tree (reference/mlperf.md §11).

<out>/<division>/<submitter>/
  systems/<system>.json
  results/<system>/<benchmark>/<scenario>/  README.md user.conf measurements.json
      performance/run_1/ and ranging/  LoadGen's summary and detail logs and spl.txt, copied unmodified
      performance/power/               edgepower_run.json and samples.csv (every sample, its range and status)
      accuracy/                        LoadGen's logs, mlperf_log_accuracy.json, accuracy.txt
  measurements/<system>/<benchmark>/<scenario>/  analyzer_table.md power_settings.md
  src/<benchmark>/edgepower_agent/     the agent code that ran on the board
  documentation/self_certification_<system>.md

Every file LoadGen or the analyzer wrote is copied byte for byte; only the descriptions are written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from director.deploy import agent_package
from director.errors import BadInput
from director.resultdir import write_json
from director.submission.checklist import write_checklist
from director.submission.describe import analyzer_table, power_settings, scenario_readme
from director.submission.rules import ACCURACY_FILES, PASS_FILES, SYSTEM_NON_EMPTY
from director.submission.system_desc import (MEASUREMENT_KEYS, Ask, complete, load_answers, measurements_from_run,
                                             system_from_run)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ExportOptions:
    """Where the tree goes and what the submission is."""

    out: str
    division: str
    category: str
    submitter: str
    system: Optional[str] = None
    answers: Optional[str] = None
    tarball: bool = False


@dataclass
class Case:
    """One results/<system>/<benchmark>/<scenario> folder: its performance run and its accuracy run."""

    system: str
    benchmark: str
    scenario: str
    performance: Optional[Tuple[str, Dict[str, Any]]] = None
    accuracy: Optional[Tuple[str, Dict[str, Any]]] = None

    @property
    def key(self) -> str:
        return f"{self.system}/{self.benchmark}/{self.scenario}"


@dataclass
class Exported:
    """What export wrote: the submitter folder, its cases, warnings, and the tarball if asked for."""

    root: str
    cases: List[Case]
    warnings: List[str] = field(default_factory=list)
    tarball: Optional[str] = None


def read_run(folder: str) -> Dict[str, Any]:
    """A finished run's run.json, or BadInput saying what is wrong with the folder."""
    path = os.path.join(folder, "run.json")
    try:
        with open(path, encoding="utf-8") as f:
            run = json.load(f)
    except FileNotFoundError:
        raise BadInput(f"{folder}: not a run folder (no run.json)") from None
    except (OSError, ValueError) as e:
        raise BadInput(f"{path}: cannot be read ({e})") from e
    if run.get("status") not in ("ok", "checks_failed", "invalid"):
        raise BadInput(f"{folder}: the run ended {run.get('status')!r}; only finished runs can be exported")
    return run


def plan(folders: List[str], system: Optional[str]) -> List[Case]:
    """Group runs into cases: one performance run and at most one accuracy run per case."""
    cases: Dict[Tuple[str, str, str], Case] = {}
    devices = set()
    for folder in folders:
        run = read_run(folder)
        device = run["device"]["name"]
        devices.add(device)
        name = system or device
        if not _NAME.match(name):
            raise BadInput(f"system name {name!r}: use letters, digits, '_', '-' and '.' (give one with --system)")
        benchmark = (run.get("spec") or {}).get("loadgen_model") or "resnet50"
        key = (name, benchmark, run["scenario"])
        case = cases.setdefault(key, Case(*key))
        slot = "accuracy" if run.get("mode") == "accuracy" else "performance"
        held = getattr(case, slot)
        if held is not None:
            raise BadInput(f"{case.key}: two {slot} runs ({held[0]} and {folder}); give one of them")
        setattr(case, slot, (os.path.abspath(folder), run))
    if system and len(devices) > 1:
        raise BadInput(f"--system {system} names one system, but the runs come from {len(devices)} devices "
                       f"({', '.join(sorted(devices))})")
    for case in cases.values():
        if case.performance is None:
            raise BadInput(f"{case.key}: only an accuracy run; a result needs a performance run too")
    return sorted(cases.values(), key=lambda c: c.key)


def export(folders: List[str], options: ExportOptions, ask: Optional[Ask] = None) -> Exported:
    """Write the tree for the runs in folders; raise BadInput before writing anything when input is wrong."""
    if not folders:
        raise BadInput("give at least one run folder")
    if options.division not in ("open", "closed"):
        raise BadInput(f"--division must be open or closed, not {options.division!r}")
    if not _NAME.match(options.submitter):
        raise BadInput(f"--submitter {options.submitter!r}: use letters, digits, '_', '-' and '.'")
    cases = plan(folders, options.system)
    answers = load_answers(options.answers)
    source = options.answers or ""
    systems: Dict[str, Dict[str, Any]] = {}
    measurements: Dict[str, Dict[str, Any]] = {}
    for case in cases:
        run = case.performance[1]  # type: ignore[index]
        if case.system not in systems:
            systems[case.system] = complete("system", system_from_run(run, case.system, options.division,
                                                                      options.submitter, options.category),
                                            answers["system"], SYSTEM_NON_EMPTY, ask, source)
        measurements[case.key] = complete("measurements", measurements_from_run(run), answers["measurements"],
                                          MEASUREMENT_KEYS, ask, source)
    for case in cases:
        _check_files(case)
    root = os.path.join(os.path.abspath(options.out), options.division, options.submitter)
    if os.path.exists(root) and os.listdir(root):
        raise BadInput(f"{root} already exists and is not empty; choose another --out")
    result = Exported(root, cases)
    for name, system in systems.items():
        _write_text(os.path.join(root, "systems", f"{name}.json"), json.dumps(system, indent=2) + "\n")
    for case in cases:
        result.warnings.extend(_write_case(root, case, measurements[case.key]))
    for name in systems:
        write_checklist(os.path.join(root, "documentation", f"self_certification_{name}.md"),
                        [c for c in cases if c.system == name], systems[name], measurements, options.division)
    if options.tarball:
        result.tarball = _tarball(os.path.abspath(options.out), options.division)
    return result


def _write_case(root: str, case: Case, measurements: Dict[str, Any]) -> List[str]:
    folder, run = case.performance  # type: ignore[misc]
    where = os.path.join(root, "results", case.system, case.benchmark, case.scenario)
    performance = os.path.join(where, "performance")
    warnings = []
    for name in ("ranging", "run_1"):
        if os.path.isdir(os.path.join(folder, name)):
            _copy(folder, name, PASS_FILES, os.path.join(performance, name))
        else:
            warnings.append(f"{case.key}: the performance run {folder} has no {name} pass")
    _copy_file(os.path.join(folder, "run.json"), os.path.join(performance, "power", "edgepower_run.json"))
    _copy_file(os.path.join(folder, "samples.csv"), os.path.join(performance, "power", "samples.csv"))
    _copy_file(os.path.join(folder, "run_1", "user.conf"), os.path.join(where, "user.conf"))
    if case.accuracy is not None:
        _copy(case.accuracy[0], "run_1", ACCURACY_FILES, os.path.join(where, "accuracy"))
    else:
        warnings.append(f"{case.key}: no accuracy run; add one (director run --mode accuracy) before submitting")
    write_json(os.path.join(where, "measurements.json"), measurements)
    _write_text(os.path.join(where, "README.md"), scenario_readme(case, run, measurements))
    detail = os.path.join(root, "measurements", case.system, case.benchmark, case.scenario)
    _write_text(os.path.join(detail, "analyzer_table.md"), analyzer_table(run))
    _write_text(os.path.join(detail, "power_settings.md"), power_settings(run))
    src = os.path.join(root, "src", case.benchmark, "edgepower_agent")
    if not os.path.isdir(src):
        package = agent_package()  # the code deployed to the board, found without importing it
        for rel in package.files:
            _copy_file(os.path.join(package.parent, rel), os.path.join(src, rel))
    return warnings


def _check_files(case: Case) -> None:
    """Every file the case copies is there (checked before anything is written)."""
    folder = case.performance[0]  # type: ignore[index]
    wanted = [os.path.join(folder, f) for f in ("run.json", "samples.csv", os.path.join("run_1", "user.conf"))]
    wanted += [os.path.join(folder, p, f) for p in ("ranging", "run_1") if os.path.isdir(os.path.join(folder, p))
               for f in PASS_FILES]
    if case.accuracy is not None:
        wanted += [os.path.join(case.accuracy[0], "run_1", f) for f in ACCURACY_FILES]
    missing = [path for path in wanted if not os.path.isfile(path)]
    if missing:
        hint = " (an accuracy run needs a dataset with labels: --npy DIR)" if missing[0].endswith("accuracy.txt") else ""
        raise BadInput(f"{missing[0]} is missing{hint}; the run folder is incomplete")


def _copy(folder: str, name: str, files: Tuple[str, ...], dest: str) -> None:
    for f in files:
        _copy_file(os.path.join(folder, name, f), os.path.join(dest, f))


def _copy_file(source: str, dest: str) -> None:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.copyfile(source, dest)  # bytes only: LoadGen's logs and spl.txt stay exactly as written


def _write_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _tarball(out: str, division: str) -> str:
    path = os.path.join(out, f"{division}.tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        tar.add(os.path.join(out, division), arcname=division)
    return path
