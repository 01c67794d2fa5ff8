"""The sweep report over real runs: report.csv's columns and values, report.json, one self-contained report.html.

Three short real runs (the local device, the sim analyzer, through the `director` command) are the
repeats of a SingleStream case; the aggregation tests reuse their run.json with known figures.
"""

from __future__ import annotations

import base64
import copy
import csv
import dataclasses
import io
import json
import re
import shutil
import statistics
import threading
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from director.report import CSV_COLUMNS, summarize, write_report
from director.report_html import fmt
from director.report_plots import trace_figure
from power.sample import Status, gap
from power.samples_csv import read_samples_csv
from tests.director.commandline import make_director

SHORT = ("--setting", "min_duration=1000", "--settle", "0", "--idle", "1", "--calibration", "0.2", "--no-ranging")
PNG = b"\x89PNG\r\n\x1a\n"
SUMMARY = ["device", "model", "runtime / threads", "scenario", "power mode", "n", "energy figure (median)", "min – max",
           "average W", "performance (median)", "idle W"]
HEADER = ("case,device,model_name,runtime,threads,scenario,power_mode,figure,n,median,min,max,relative_spread,"
          "trimmed_mean,trimmed_mean_n,trimmed,jobs_total,jobs_done,jobs_failed,jobs_invalid,jobs_other")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> List[Dict[str, Any]]:
    """run.json of three short real SingleStream runs (about 6 s each)."""
    root = tmp_path_factory.mktemp("report_runs")
    director = make_director(root)
    found = []
    for _ in range(3):
        proc = director("run", "--device", "local", "--analyzer", "sim", *SHORT, "--results", root / "results",
                        "--json", timeout=120)
        assert proc.returncode == 0, proc.stderr
        folder = Path(json.loads(proc.stdout)["folder"])
        found.append(json.loads((folder / "run.json").read_text()))
    return found


def row(run: Optional[Dict[str, Any]], repeat: int, device: str = "local", power_mode: Optional[str] = None,
        scenario: str = "SingleStream", state: str = "done", reason: Optional[str] = None) -> Dict[str, Any]:
    """A sweep row as the sweep runner hands it over."""
    key = f"{device}/tiny/onnx/t-/{scenario}/{power_mode or '-'}/r{repeat}"
    job = {"key": key, "device": device, "model_name": "tiny", "model_path": "/abs/tiny_float.onnx",
           "runtime": "onnx", "threads": None, "scenario": scenario, "power_mode": power_mode, "repeat": repeat}
    return {"job": job, "state": state, "reason": reason, "attempts": 1, "run": run,
            "folder": run["folder"] if run else None}


def edited(run: Dict[str, Any], p90_ms: float, mj: float, **agent: Any) -> Dict[str, Any]:
    """A copy of a real run.json with its p90 latency and mJ/query replaced."""
    run = copy.deepcopy(run)
    testing = run["passes"]["run_1"]
    testing["agent"]["latency_ns"]["p90"] = int(p90_ms * 1e6)
    testing["figures"]["energy_per_query_mj"] = mj
    testing["agent"].update(agent)
    return run


def read_csv(path: str) -> List[Dict[str, str]]:
    text = Path(path).read_text()
    assert text.split("\n")[0] == HEADER
    return list(csv.DictReader(io.StringIO(text)))


def by_figure(lines: List[Dict[str, str]], case: str) -> Dict[str, Dict[str, str]]:
    return {line["figure"]: line for line in lines if line["case"] == case}


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: List[List[List[str]]] = []
        self.cell: Optional[List[str]] = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "br" and self.cell is not None:
            self.cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def summary_rows(page: str) -> List[List[str]]:
    """The summary table's rows (the header first) as unescaped cell texts; it is the page's first table."""
    parser = _Tables()
    parser.feed(page)
    assert '<table class="summary">' in page and page.index("<table") == page.index('<table class="summary">')
    return parser.tables[0]


def check_sections(page: str) -> None:
    """Summary first, then the plots and traces, then "All figures", then the jobs."""
    order = [page.index("<h2>Summary (one row per case)</h2>"), page.index("<img "), page.rindex("<img "),
             page.index("<h2>All figures</h2>"), page.index("<h2>Failed and invalid jobs</h2>"),
             page.index("<h2>All jobs</h2>")]
    assert order == sorted(order) and "<h2>Cases</h2>" not in page and "trimmed over" not in page


def check_self_contained(page: str) -> List[bytes]:
    """No outside resource at all; every image an inline PNG. Returns the images."""
    assert "http://" not in page and "https://" not in page and "href=" not in page
    assert "<link" not in page and "<script" not in page and "@import" not in page and "url(" not in page
    sources = re.findall(r"<img [^>]*src=\"([^\"]*)\"", page)
    assert len(sources) == page.count("<img ")
    images = []
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        images.append(base64.b64decode(source.split(",", 1)[1], validate=True))
        assert images[-1].startswith(PNG)
    return images


def test_real_runs_as_repeats_of_one_case(runs, tmp_path):
    assert all(run["status"] == "ok" for run in runs), [run["checks"] for run in runs]
    paths = write_report("tiny on local", [row(run, i + 1) for i, run in enumerate(runs)], str(tmp_path / "out"))
    assert paths == {kind: str(tmp_path / "out" / f"report.{kind}") for kind in ("csv", "json", "html")}
    case = "local/tiny/onnx/t-/SingleStream/-"
    lines = read_csv(paths["csv"])
    assert [line["figure"] for line in lines] == ["energy_per_query_mj", "queries_per_j", "average_w", "above_idle_w",
                                                   "idle_w", "p90_latency_ms", "qps"]
    # Ranked by p90 latency (ties by order), the fastest and the slowest run drop out of the trimmed mean.
    p90 = [run["passes"]["run_1"]["agent"]["latency_ns"]["p90"] for run in runs]
    order = sorted(range(3), key=lambda i: (p90[i], i))
    middle = runs[order[1]]
    mj = [run["passes"]["run_1"]["figures"]["energy_per_query_mj"] for run in runs]
    line = by_figure(lines, case)["energy_per_query_mj"]
    assert line == {
        "case": case, "device": "local", "model_name": "tiny", "runtime": "onnx", "threads": "",
        "scenario": "SingleStream", "power_mode": "", "figure": "energy_per_query_mj", "n": "3",
        "median": repr(statistics.median(mj)), "min": repr(min(mj)), "max": repr(max(mj)),
        "relative_spread": repr((max(mj) - min(mj)) / statistics.median(mj)),
        "trimmed_mean": repr(middle["passes"]["run_1"]["figures"]["energy_per_query_mj"]), "trimmed_mean_n": "1",
        "trimmed": "true", "jobs_total": "3", "jobs_done": "3", "jobs_failed": "0", "jobs_invalid": "0",
        "jobs_other": "0",
    }
    figures = by_figure(lines, case)
    assert float(figures["p90_latency_ms"]["median"]) == statistics.median(p90) / 1e6
    assert float(figures["idle_w"]["trimmed_mean"]) == middle["idle"]["average_w"]
    assert float(figures["qps"]["max"]) == max(run["passes"]["run_1"]["agent"]["qps"] for run in runs)
    assert float(figures["queries_per_j"]["min"]) == 1000 / max(mj)
    assert float(figures["above_idle_w"]["median"]) == statistics.median(
        run["passes"]["run_1"]["figures"]["above_idle_w"] for run in runs)

    report = json.loads(Path(paths["json"]).read_text())
    assert set(report) >= {"title", "generated_ns", "cases", "jobs"} and report["title"] == "tiny on local"
    (entry,) = report["cases"]
    assert entry["case"] == case and entry["power_mode"] is None and entry["jobs"] == {"done": 3}
    assert entry["runs"] == [run["run_id"] for run in runs]
    assert entry["dropped_runs"] == sorted([runs[order[0]]["run_id"], runs[order[2]]["run_id"]],
                                           key=[r["run_id"] for r in runs].index)
    assert entry["figures"]["energy_per_query_mj"]["median"] == statistics.median(mj)
    assert entry["representative_job"] == f"local/tiny/onnx/t-/SingleStream/-/r{order[1] + 1}"
    job = report["jobs"][0]
    assert {k: job[k] for k in ("key", "state", "reason", "attempts", "run_id", "folder")} == {
        "key": f"{case}/r1", "state": "done", "reason": None, "attempts": 1, "run_id": runs[0]["run_id"],
        "folder": runs[0]["folder"]}
    assert job["figures"]["energy_per_query_mj"] == mj[0] and job["figures"]["p99_latency_ms"] == (
        runs[0]["passes"]["run_1"]["agent"]["latency_ns"]["p99"] / 1e6)
    # The warn of a short run (and, on auto ranges, maybe the meter's no-data while it changed range); no fail.
    assert "mlperf_conformance" in [c["name"] for c in job["checks"]]
    assert {c["status"] for c in job["checks"]} == {"warn"}

    page = Path(paths["html"]).read_text()
    images = check_self_contained(page)
    assert len(images) == 6  # mJ/query, W, per watt, latency, idle, one trace
    check_sections(page)
    # The summary: one row per case, medians over the three real runs with the energy figure's min–max.
    watts = [run["passes"]["run_1"]["figures"]["average_w"] for run in runs]
    idle_w = [run["idle"]["average_w"] for run in runs]
    assert summary_rows(page) == [SUMMARY, [
        "local", "tiny", "onnx", "SingleStream", "(board default)", "3", f"{fmt(statistics.median(mj))} mJ/query",
        f"{fmt(min(mj))} – {fmt(max(mj))}", fmt(statistics.median(watts)),
        f"{fmt(statistics.median(p90) / 1e6)} ms p90", fmt(statistics.median(idle_w))]]
    # How the trimmed means were taken is said once, under the case's name.
    note = "trimmed mean over 1 of 3 runs, fastest and slowest dropped (ranked by p90 latency ms)"
    assert page.count(note) == 1 and page.index(note) > page.index("<h2>All figures</h2>")
    assert "no data / gap samples" in page  # the traces' shading is explained next to them
    for name in ("energy_per_query_mj", "average_w", "p90_latency_ms"):
        stats = entry["figures"][name]
        assert f'<td class="num">{fmt(stats["median"])}</td><td class="num">{fmt(stats["min"])}</td>' in page
        assert f'<td class="num">{fmt(stats["trimmed_mean"])}</td>' in page
    assert "(board default)" in page
    assert "3 jobs: 3 done" in page and "devices: local" in page


def test_trimmed_mean_drops_fastest_and_slowest_by_p90(runs, tmp_path):
    # p90 1, 2, 3, 4, 100 ms in shuffled order; each run's mJ/query is 10 × its p90.
    p90_ms = [3, 100, 1, 4, 2]
    rows = [row(edited(runs[i % 3], p, 10.0 * p), i + 1) for i, p in enumerate(p90_ms)]
    case = summarize("t", rows)["cases"][0]
    stats = case["figures"]["p90_latency_ms"]
    assert stats == {"n": 5, "median": 3.0, "min": 1.0, "max": 100.0, "relative_spread": 33.0,
                     "trimmed_mean": 3.0, "trimmed_mean_n": 3, "trimmed": True}
    assert case["figures"]["energy_per_query_mj"]["trimmed_mean"] == pytest.approx(30.0)
    assert case["figures"]["energy_per_query_mj"]["median"] == 30.0
    assert case["dropped_runs"] == [rows[1]["run"]["run_id"], rows[2]["run"]["run_id"]]
    # Fewer than 3 runs: nothing to trim, the plain mean, and the report says so.
    two = summarize("t", rows[:2])["cases"][0]["figures"]["p90_latency_ms"]
    assert two == {"n": 2, "median": 51.5, "min": 3.0, "max": 100.0, "relative_spread": 97 / 51.5,
                   "trimmed_mean": 51.5, "trimmed_mean_n": 2, "trimmed": False}
    paths = write_report("two", rows[:2], str(tmp_path))
    page = Path(paths["html"]).read_text()
    assert page.count("trimmed mean: plain mean of 2 runs (fewer than 3 to trim)") == 1  # once for 7 figures
    assert "trimmed over" not in page and "fewer than 3 runs to trim" not in page
    assert {line["trimmed"] for line in read_csv(paths["csv"])} == {"false"}
    paths = write_report("five", rows, str(tmp_path / "five"))
    page = Path(paths["html"]).read_text()
    assert page.count("trimmed mean over 3 of 5 runs, fastest and slowest dropped (ranked by p90 latency ms)") == 1
    assert summary_rows(page)[1][5:8] == ["5", "30 mJ/query", "10 – 1000"]


def test_offline_ranks_by_samples_per_s_and_cases_by_power_mode(runs, tmp_path):
    rows = []
    for i, (rate, mode) in enumerate([(400.0, "10W"), (100.0, "10W"), (300.0, "10W"), (200.0, "10W"), (500.0, None)]):
        run = edited(runs[i % 3], 5.0, 1.0, samples_per_s=rate)
        run["scenario"] = "Offline"
        run["passes"]["run_1"]["figures"]["samples_per_j"] = rate / 10
        rows.append(row(run, i + 1, power_mode=mode, scenario="Offline"))
    rows += [row(edited(runs[0], 2.0, 0.5), 1, power_mode="15W"), row(edited(runs[1], 2.0, 0.4), 1, power_mode="10W")]
    paths = write_report("modes", rows, str(tmp_path))
    lines = read_csv(paths["csv"])
    offline = by_figure(lines, "local/tiny/onnx/t-/Offline/10W")
    assert list(offline) == ["samples_per_s", "samples_per_j", "average_w", "above_idle_w", "idle_w"]
    assert offline["samples_per_s"]["trimmed_mean"] == "250.0" and offline["samples_per_j"]["trimmed_mean"] == "25.0"
    assert offline["samples_per_s"]["power_mode"] == "10W" and offline["samples_per_s"]["n"] == "4"
    alone = by_figure(lines, "local/tiny/onnx/t-/Offline/-")["samples_per_s"]
    assert (alone["n"], alone["median"], alone["trimmed"], alone["relative_spread"]) == ("1", "500.0", "false", "0.0")
    assert by_figure(lines, "local/tiny/onnx/t-/SingleStream/15W")["queries_per_j"]["median"] == "2000.0"
    page = Path(paths["html"]).read_text()
    assert len(check_self_contained(page)) == 5 + 4  # five plots, a trace per case
    check_sections(page)
    summary = summary_rows(page)
    assert [r[3:8] + r[9:10] for r in summary[1:3]] == [
        ["Offline", "10W", "4", "25 samples/J", "10 – 40", "250 samples/s"],
        ["Offline", "(board default)", "1", "50 samples/J", "50 – 50", "500 samples/s"]]
    assert [r[3:5] for r in summary[3:]] == [["SingleStream", "15W"], ["SingleStream", "10W"]]


def test_summary_groups_cases_by_device_then_model(runs, tmp_path):
    order = [("b2", "15W"), ("b1", "15W"), ("b2", "7W"), ("b1", "7W")]
    rows = [row(runs[i % 3], 1, device=device, power_mode=mode) for i, (device, mode) in enumerate(order)]
    offline = edited(runs[0], 5.0, 1.0, samples_per_s=100.0)
    rows.append(row(offline, 1, device="b2", power_mode="15W", scenario="Offline"))
    page = Path(write_report("groups", rows, str(tmp_path))["html"]).read_text()
    summary = summary_rows(page)
    assert [(r[0], r[3], r[4]) for r in summary[1:]] == [
        ("b2", "SingleStream", "15W"), ("b2", "SingleStream", "7W"), ("b2", "Offline", "15W"),
        ("b1", "SingleStream", "15W"), ("b1", "SingleStream", "7W")]
    assert page.count('<tr class="group-start">') == 1  # the line between the devices
    assert len(summary[0]) == len(SUMMARY)  # every job done: no jobs column


def test_trace_legend_names_the_gap_shading(runs):
    samples = read_samples_csv(Path(runs[0]["folder"]) / "samples.csv")
    assert len(samples) >= 8
    samples[2] = gap(samples[2].t_end_ns, samples[2].interval_ns)
    samples[3] = dataclasses.replace(samples[3], power_w=float("nan"), status=Status.NO_DATA)
    samples[5] = dataclasses.replace(samples[5], power_w=float("nan"), status=Status.OVERRANGE)
    window = runs[0]["passes"]["run_1"]["figures"]["window_host_ns"]
    figure = trace_figure(samples, window, 3.0, "trace")
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert labels == ["wall power", "no data / gap samples", "overrange samples", "measured window", "idle 3.00 W"]
    clean = [s for s in samples if s.ok]
    labels = [text.get_text() for text in trace_figure(clean, window, None, "t").axes[0].get_legend().get_texts()]
    assert labels == ["wall power", "measured window"]


def test_failures_missing_values_and_escaping(runs, tmp_path):
    broken = copy.deepcopy(runs[0])
    broken["passes"]["run_1"]["figures"]["energy_per_query_mj"] = float("nan")
    del broken["idle"]
    hostile = "<b>x</b>"
    rows = [
        row(broken, 1, device=hostile),
        row(runs[1], 2, device=hostile),
        row(None, 3, device=hostile, state="done"),
        row(None, 4, device=hostile, state="failed", reason="agent died: <script>alert(1)</script>"),
        row(None, 5, device=hostile, state="invalid", reason="LoadGen INVALID & more"),
        row(None, 6, device=hostile, state="pending"),
        row(None, 7, device=hostile, state="cancelled"),
    ]
    paths = write_report("A & <B>", rows, str(tmp_path))
    figures = by_figure(read_csv(paths["csv"]), f"{hostile}/tiny/onnx/t-/SingleStream/-")
    mj, idle = figures["energy_per_query_mj"], figures["idle_w"]
    mj_value = runs[1]["passes"]["run_1"]["figures"]["energy_per_query_mj"]
    assert (mj["n"], mj["median"], mj["trimmed_mean_n"]) == ("1", repr(mj_value), "1")
    assert (idle["n"], idle["relative_spread"]) == ("1", "0.0")
    assert figures["qps"]["n"] == "2"
    assert [mj[k] for k in ("jobs_total", "jobs_done", "jobs_failed", "jobs_invalid", "jobs_other")] == [
        "7", "3", "1", "1", "2"]
    text = Path(paths["json"]).read_text()
    report = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in report.json"))
    assert report["cases"][0]["jobs"] == {"done": 3, "failed": 1, "invalid": 1, "pending": 1, "cancelled": 1}
    assert report["jobs"][0]["figures"]["energy_per_query_mj"] is None and report["jobs"][2]["run_id"] is None
    page = Path(paths["html"]).read_text()
    check_self_contained(page)
    check_sections(page)
    assert hostile not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    summary = summary_rows(page)  # a job that is not done shows in the summary's jobs column
    assert summary[0] == SUMMARY + ["jobs"]
    assert summary[1][0] == hostile and summary[1][5:7] == ["1", f"{fmt(mj_value)} mJ/query"]
    assert summary[1][-1] == "3 done, 1 cancelled, 1 failed, 1 invalid, 1 pending"
    assert '<td class="fail">3 done, 1 cancelled' in page
    assert page.count("trimmed mean: plain mean of 2 runs (fewer than 3 to trim)") == 1
    assert "agent died: &lt;script&gt;alert(1)&lt;/script&gt;" in page and "LoadGen INVALID &amp; more" in page
    assert "<title>A &amp; &lt;B&gt;</title>" in page


def test_an_empty_sweep_and_one_with_nothing_done(tmp_path):
    paths = write_report("empty", [], str(tmp_path / "empty"))
    assert Path(paths["csv"]).read_text() == HEADER + "\n"
    report = json.loads(Path(paths["json"]).read_text())
    assert (report["title"], report["cases"], report["jobs"]) == ("empty", [], [])
    page = Path(paths["html"]).read_text()
    assert "Nothing in this sweep yet" in page and "<img" not in page and "0 jobs" in page
    paths = write_report("waiting", [row(None, 1, state="pending"), row(None, 2, state="running")], str(tmp_path / "w"))
    lines = read_csv(paths["csv"])
    assert len(lines) == 7 and {(line["n"], line["median"], line["jobs_other"]) for line in lines} == {("0", "", "2")}
    page = Path(paths["html"]).read_text()
    assert "Nothing measured yet" in page and "<img" not in page and tuple(CSV_COLUMNS) == tuple(HEADER.split(","))
    assert summary_rows(page)[1] == ["local", "tiny", "onnx", "SingleStream", "(board default)", "0", "–", "–", "–",
                                     "–", "–", "1 pending, 1 running"]
    assert "trimmed mean: no runs" in page and page.index("Summary") < page.index("All figures")


def test_missing_or_broken_samples_csv_is_a_note(runs, tmp_path):
    rows = []
    for i, (name, damage) in enumerate([("gone", None), ("bad", "t_end_ns,interval_ns,power_w\nx,1,2\n")]):
        folder = tmp_path / name
        shutil.copytree(runs[i]["folder"], folder)
        if damage is None:
            (folder / "samples.csv").unlink()
        else:
            (folder / "samples.csv").write_text(damage)
        run = dict(runs[i], folder=str(folder))
        rows.append(dict(row(run, 1, power_mode=name), folder=str(folder)))
    paths = write_report("traces", rows, str(tmp_path / "out"))
    page = Path(paths["html"]).read_text()
    assert len(check_self_contained(page)) == 5  # the plots, no trace
    assert f"no power trace: {tmp_path / 'gone' / 'samples.csv'} is missing" in page
    assert f"no power trace: {tmp_path / 'bad' / 'samples.csv'}:2: bad t_end_ns value &#x27;x&#x27;" in page


def test_reports_can_be_built_from_worker_threads(runs, tmp_path):
    rows = [row(run, i + 1) for i, run in enumerate(runs)]
    errors: List[BaseException] = []

    def build(name: str) -> None:
        try:
            write_report(name, rows, str(tmp_path / name))
        except BaseException as error:  # handed to the test's own thread
            errors.append(error)

    threads = [threading.Thread(target=build, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for i in range(2):
        assert len(check_self_contained((tmp_path / f"w{i}" / "report.html").read_text())) == 6
