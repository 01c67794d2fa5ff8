"""The analyzer-side evidence of a power result, from either source: power-dev/PTDaemon files or edgepower's own.

1. power-dev / PTDaemon (power/server.json, client.json, ptd_logs.txt; power-workflow.md §5-6): ranges from
   the SR commands before the testing Go, uncertainty and bad readings from ptd_logs.txt, clocks from the
   phases of both JSON files.
2. edgepower (run.json + samples.csv beside the passes, or performance/power/edgepower_run.json +
   samples.csv in an exported tree): every sample carries its ranges, status and uncertainty, stamped on the
   HOST clock; LoadGen's window is on the DEVICE clock, host = device - offset of that pass.

Both give the same rules (ranges, uncertainty, bad readings, clocks, the workflow label) for power_checks.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from director.submission.describe import power_label
from director.submission.findings import FAIL, PASS, WARN, Finding, finding
from director.submission.rules import CLOCK_LIMIT_NS, PTD_SAMPLE_INTERVAL_NS, UNCERTAINTY_LIMIT
from power.errors import FileFormatError
from power.sample import Sample
from power.samples_csv import read_samples_csv
from power.spl import format_mlperf_time, parse_mlperf_time

PTD, EDGEPOWER = "ptd", "edgepower"
_PTD_LINE = re.compile(r"^(\d\d-\d\d-\d{4} \d\d:\d\d:\d\d\.\d+): (.*)$")
_ABOVE = re.compile(r"WARNING: Uncertainty ([\d.]+)%, which is above ([\d.]+)% limit")


@dataclass(frozen=True)
class Source:
    """Where a performance folder's power evidence is: kind PTD or EDGEPOWER, and its files by role."""

    kind: str
    files: Dict[str, str]


@dataclass(frozen=True)
class Window:
    """LoadGen's power window of one pass: UTC ns on the device's clock, and the strings as logged."""

    begin_ns: int
    end_ns: int
    begin: str
    end: str


@dataclass
class Evidence:
    """What a source tells, gathered as it is read: one finding per rule, and the bad readings (one line each)
    that power_checks merges with spl.txt's into power.no_data."""

    findings: List[Finding] = field(default_factory=list)
    bad: List[str] = field(default_factory=list)


def detect_source(folder: str) -> Optional[Source]:
    """The power source of a performance folder (run_1/ inside), or None for a performance-only result."""
    power = os.path.join(folder, "power")
    if any(os.path.exists(os.path.join(power, n)) for n in ("server.json", "client.json", "ptd_logs.txt")):
        return Source(PTD, {n: os.path.join(power, n) for n in ("server.json", "client.json", "ptd_logs.txt")})
    if os.path.exists(os.path.join(power, "edgepower_run.json")):
        return Source(EDGEPOWER, {"run": os.path.join(power, "edgepower_run.json"),
                                  "samples": os.path.join(power, "samples.csv")})
    if os.path.exists(os.path.join(folder, "run.json")):
        return Source(EDGEPOWER, {"run": os.path.join(folder, "run.json"),
                                  "samples": os.path.join(folder, "samples.csv")})
    if os.path.isdir(power):  # a power/ folder says power result; the official layout is the one to expect
        return Source(PTD, {n: os.path.join(power, n) for n in ("server.json", "client.json", "ptd_logs.txt")})
    return None


def read_json(path: str) -> Dict[str, Any]:
    """A JSON object from a file; FileFormatError names the file."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise FileFormatError(f"{path}: cannot read ({e.strerror or e})") from e
    except ValueError as e:
        raise FileFormatError(f"{path}: not JSON ({e})") from e
    if not isinstance(data, dict):
        raise FileFormatError(f"{path}: expected a JSON object")
    return data


def placement(t_end_ns: int, interval_ns: int, window: Window, tolerance_ns: int) -> Optional[str]:
    """Where a sample (t_end - interval, t_end] lies: "inside" the window shrunk by the clock tolerance,
    at an "edge" (straddling power_begin or power_end within it), or None (outside the window)."""
    # A sample straddling power_begin or power_end averages idle and load power (a low current on ranges set
    # for the load, hence a high uncertainty), and stamps from two clocks agree only within the tolerance.
    start = t_end_ns - interval_ns
    if t_end_ns <= window.begin_ns or start >= window.end_ns:
        return None
    if start >= window.begin_ns + tolerance_ns and t_end_ns <= window.end_ns - tolerance_ns:
        return "inside"
    return "edge"


def _uncertainty(inside: List[str], edge: List[str], unknown: int, tolerance: str, judged: str,
                 path: str) -> Finding:
    rule = "power.uncertainty"
    limit = f"{100 * UNCERTAINTY_LIMIT:.2f} %"
    if inside:
        return finding(rule, FAIL, f"{len(inside)} sample(s) above {limit} inside the testing window: "
                       f"{', '.join(inside[:3])}{' ...' if len(inside) > 3 else ''}", path)
    if edge:
        return finding(rule, WARN, f"{len(edge)} sample(s) above {limit} only at the window's ends (overlapping "
                       f"power_begin or power_end, or within the {tolerance} clock tolerance of them): "
                       f"{', '.join(edge[:3])}{' ...' if len(edge) > 3 else ''}", path)
    if unknown:
        return finding(rule, WARN, f"uncertainty unknown for {unknown} sample(s) in the testing window", path)
    return finding(rule, PASS, f"no sample above {limit} in the testing window ({judged})", path)


def _clock(worst_ns: Optional[int], what: str, where: str, path: str) -> Finding:
    if worst_ns is None:
        return finding("power.clock_sync", WARN, "no clock comparison recorded", path)
    ok = worst_ns <= CLOCK_LIMIT_NS
    return finding("power.clock_sync", PASS if ok else FAIL, f"{what} {worst_ns / 1e6:.3f} ms ({where}) "
                   f"{'<=' if ok else '>'} {CLOCK_LIMIT_NS / 1e6:.0f} ms", path)


def ptd_evidence(source: Source, windows: Dict[str, Window]) -> Evidence:
    """Ranges, uncertainty, bad readings, clocks and windows from power-dev's server.json, client.json and
    ptd_logs.txt (raises FileFormatError when one is unreadable)."""
    server, client = read_json(source.files["server.json"]), read_json(source.files["client.json"])
    logs = source.files["ptd_logs.txt"]
    out = Evidence()
    out.findings.append(finding("power.workflow", WARN, "power-dev / PTDaemon files: the official workflow's "
                                "layout; their source checksums and PTD version are not verified here",
                                os.path.dirname(logs)))
    out.findings.append(_ptd_ranges(server, source.files["server.json"]))
    testing = windows.get("run_1")
    if testing is not None:
        _ptd_log(logs, testing, out)
    out.findings.append(_ptd_clock(client, server, source.files["client.json"]))
    out.findings.extend(_ptd_windows(client, windows, source.files["client.json"]))
    return out


def _ptd_ranges(server: Dict[str, Any], path: str) -> Finding:
    rule = "power.testing_ranges_fixed"
    cmds = [str(m.get("cmd", "")) for m in server.get("ptd_messages") or [] if isinstance(m, dict)]
    go = next((i for i, c in enumerate(cmds) if c.startswith("Go,") and c.endswith("_testing")), None)
    if go is None:
        return finding(rule, FAIL, "no testing Go command in ptd_messages", path)
    ranges = {}
    for cmd in cmds[:go]:
        parts = cmd.split(",")
        if len(parts) == 3 and parts[0] == "SR" and parts[1] in ("V", "A"):
            ranges[parts[1]] = parts[2]
    stop = next((i for i in range(go + 1, len(cmds)) if cmds[i] == "Stop"), len(cmds))
    changed = [c for c in cmds[go + 1:stop] if c.startswith("SR,")]
    auto = [f"SR,{q},{ranges.get(q, '(never set)')}" for q in ("V", "A")
            if ranges.get(q, "Auto").lower() == "auto"]
    if auto or changed:
        what = [f"{c} before the testing Go" for c in auto] + [f"{c} during testing" for c in changed]
        return finding(rule, FAIL, f"testing not on fixed ranges: {'; '.join(what)}", path)
    return finding(rule, PASS, f"testing ranges fixed before the testing Go: V {ranges['V']}, A {ranges['A']}", path)


def _ptd_log(path: str, window: Window, out: Evidence) -> None:
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError as e:
        raise FileFormatError(f"{path}: cannot read ({e.strerror or e})") from e
    inside: List[str] = []
    edge: List[str] = []
    unknown = 0
    errors: List[str] = []
    activated = False
    for line in lines:
        match = _PTD_LINE.match(line.rstrip("\r\n"))
        if not match:
            continue
        stamp, message = match.groups()
        activated = activated or (message.startswith("Uncertainty checking for") and "activated" in message)
        try:
            t_ns = parse_mlperf_time(stamp)
        except ValueError:
            continue  # not a PTDaemon time stamp after all
        above = _ABOVE.match(message)
        if above:
            # Intended rule of power-dev's check 9. Its code adds the 800 ms tolerance to times in seconds
            # (power-workflow.md §7.2), so it misses these in any run shorter than ~1600 s; we do not copy that.
            where = placement(t_ns, PTD_SAMPLE_INTERVAL_NS, window, CLOCK_LIMIT_NS)
            if where is not None:
                (inside if where == "inside" else edge).append(f"{above.group(1)} % at {stamp}")
        elif message.startswith("WARNING: Uncertainty unknown") and window.begin_ns < t_ns < window.end_ns:
            unknown += 1
        elif message.startswith("ERROR:") and window.begin_ns < t_ns < window.end_ns:
            errors.append(f"{message} at {stamp}")
    if not activated:
        out.findings.append(finding("power.uncertainty", FAIL, "no 'Uncertainty checking for ... is activated' "
                                    "line: PTDaemon did not judge the uncertainty", path))
    else:
        out.findings.append(_uncertainty(inside, edge, unknown, f"{CLOCK_LIMIT_NS / 1e6:.0f} ms",
                                         "ptd_logs.txt warnings", path))
    if errors:
        out.bad.append(f"{len(errors)} PTDaemon ERROR line(s) in the testing window, first: {errors[0]}")


def _phases(doc: Dict[str, Any], name: str) -> List[float]:
    return [float(p[0]) for p in (doc.get("phases") or {}).get(name) or []]


def _ptd_clock(client: Dict[str, Any], server: Dict[str, Any], path: str) -> Finding:
    worst: Optional[Tuple[int, str]] = None
    for name in ("ranging", "testing"):
        ours, theirs = _phases(client, name), _phases(server, name)
        if len(ours) != len(theirs):
            return finding("power.clock_sync", FAIL, f"{name}: client has {len(ours)} phases, server "
                           f"{len(theirs)}", path)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            diff = round(abs(a - b) * 1e9)
            if worst is None or diff > worst[0]:
                worst = (diff, f"{name} phase {i}")
    if worst is None:
        return _clock(None, "", "", path)
    return _clock(worst[0], "worst |client - server| wall clock", worst[1], path)


def _ptd_windows(client: Dict[str, Any], windows: Dict[str, Window], path: str) -> List[Finding]:
    findings = []
    for pass_name, phase in (("ranging", "ranging"), ("run_1", "testing")):
        window, phases = windows.get(pass_name), _phases(client, phase)
        if window is None:
            continue
        if len(phases) < 3:
            findings.append(finding("power.loadgen_window", FAIL, f"client.json has no {phase} phases", path))
            continue
        # No +-3600 s fallback as power-dev has for DST mistakes: LoadGen and the phases are both UTC.
        start, stop = round(phases[1] * 1e9), round(phases[2] * 1e9)
        ok = start < window.begin_ns and window.end_ns < stop
        findings.append(finding("power.loadgen_window", PASS if ok else FAIL,
                                f"{pass_name} {window.begin} .. {window.end} {'inside' if ok else 'NOT inside'} "
                                f"the client's {phase} phases {format_mlperf_time(start)} .. "
                                f"{format_mlperf_time(stop)}", path))
    return findings


def edgepower_evidence(source: Source, windows: Dict[str, Window]) -> Evidence:
    """Ranges, uncertainty, bad samples, clock bound and the label from run.json and samples.csv."""
    run = read_json(source.files["run"])
    samples = read_samples_csv(source.files["samples"])
    out = Evidence()
    out.findings.append(_edgepower_label(run, source.files["run"]))
    passes = run.get("passes") or {}
    testing = windows.get("run_1")
    clock = (passes.get("run_1") or {}).get("clock") or {}
    if testing is not None:
        offset = int(clock.get("offset_ns") or 0)
        host = Window(testing.begin_ns - offset, testing.end_ns - offset, testing.begin, testing.end)
        bound = max([int((clock.get(k) or {}).get("bound_ns") or 0) for k in ("before", "after")])
        in_window = [(s, placement(s.t_end_ns, s.interval_ns, host, bound)) for s in samples]
        in_window = [(s, where) for s, where in in_window if where is not None]
        path = source.files["samples"]
        out.findings.append(_edgepower_ranges([s for s, _ in in_window], offset, path))
        out.findings.append(_edgepower_uncertainty(in_window, offset, bound, path))
        bad = [s for s, _ in in_window if not s.ok]
        if bad:
            kinds = sorted({s.status.value for s in bad})
            out.bad.append(f"{len(bad)} {'/'.join(kinds)} sample(s) in the testing window, first at "
                           f"{format_mlperf_time(bad[0].t_end_ns + offset)} (samples.csv)")
    out.findings.append(_edgepower_clock(run, source.files["run"]))
    return out


def _edgepower_label(run: Dict[str, Any], path: str) -> Finding:
    return finding("power.workflow", WARN, power_label(run), path)


def _edgepower_ranges(samples: List[Sample], offset_ns: int, path: str) -> Finding:
    rule = "power.testing_ranges_fixed"
    auto = [s for s in samples if s.voltage_auto or s.current_auto]
    if auto:
        return finding(rule, FAIL, f"{len(auto)} of {len(samples)} samples in the testing window on auto "
                       f"ranging, first at {format_mlperf_time(auto[0].t_end_ns + offset_ns)}", path)
    ranges = sorted({(s.voltage_range_v, s.current_range_a) for s in samples})
    shown = ", ".join(f"{v:g} V / {a:g} A" for v, a in ranges) or "no samples"
    return finding(rule, PASS, f"{len(samples)} samples in the testing window, all on fixed ranges ({shown})", path)


def _edgepower_uncertainty(in_window: List[Tuple[Sample, str]], offset_ns: int, bound_ns: int,
                           path: str) -> Finding:
    inside: List[str] = []
    edge: List[str] = []
    unknown = 0
    worst = 0.0
    for sample, where in in_window:
        if not sample.ok:
            continue
        relative = sample.uncertainty_w / abs(sample.power_w) if sample.power_w else math.nan
        if math.isnan(relative):
            unknown += 1
            continue
        worst = max(worst, relative)
        if relative > UNCERTAINTY_LIMIT:
            text = f"{100 * relative:.2f} % at {format_mlperf_time(sample.t_end_ns + offset_ns)}"
            (inside if where == "inside" else edge).append(text)
    return _uncertainty(inside, edge, unknown, f"{bound_ns / 1e6:.3f} ms",
                        f"worst sample {100 * worst:.2f} % of {len(in_window)}", path)


def _edgepower_clock(run: Dict[str, Any], path: str) -> Finding:
    clocks = [("session", run.get("clock") or {})]
    clocks += [(name, p.get("clock") or {}) for name, p in sorted((run.get("passes") or {}).items())]
    bounds = [(int(c[k]["bound_ns"]), f"{name} {k}") for name, c in clocks for k in ("before", "after")
              if isinstance(c.get(k), dict) and c[k].get("bound_ns") is not None]
    if not bounds:
        return _clock(None, "", "", path)
    worst = max(bounds)
    return _clock(worst[0], "worst clock offset bound", f"{worst[1]}, of {len(bounds)} syncs", path)
