"""Bad input through the real `director` command: one `director: error:` line, the right exit code, nothing lost.

Exit codes (director/errors.py): 1 failed, 2 bad input, 5 unreachable. Bad input found before a run
starts leaves no result folder; a failure after the start leaves run.json with status "failed", its
reason, and every sample already measured in samples.csv.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from power.samples_csv import read_samples_csv
from tests.director.commandline import QUICK, Director, board_toml, make_director, one_error
from tests.sshd import Board, free_port, keygen

KNOWN_INVENTORY_KEYS = ("kind, ssh_alias, host, user, port, identity_files, proxy_jump, python, workdir, profile, "
                        "analyzer, power_modes, sudo, env, fs_root, tags, notes")


@pytest.fixture
def director(tmp_path) -> Director:
    return make_director(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def failed_run(results: Path) -> dict:
    """run.json of the one run folder under results (a run that started, then failed)."""
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    run = json.loads((folder / "run.json").read_text())
    assert run["status"] == "failed" and run["folder"] == str(folder)
    return run


def fingerprint(public_key: Path) -> str:
    """`SHA256:...` of a public key, as ssh-keygen prints it."""
    return subprocess.run(["ssh-keygen", "-l", "-f", str(public_key)], capture_output=True, text=True,
                          check=True).stdout.split()[1]


@pytest.mark.parametrize("args, message", [
    ((), "the following arguments are required: COMMAND; see `director --help`"),
    (("frobnicate",), "argument COMMAND: invalid choice: 'frobnicate' (choose from run, devices, analyzers, results, "
                      "setup, sweep, report, worker, submission, check, tui); see `director --help`"),
    (("run", "--scenario", "Server"), "argument --scenario: invalid choice: 'Server' (choose from SingleStream, "
                                      "Offline); see `director run --help`"),
    (("run", "--idle", "0"), "argument --idle: wants seconds (a number > 0), not '0'; see `director run --help`"),
    (("run", "--settle", "nan"), "argument --settle: wants seconds (a number >= 0), not 'nan'; see `director run --help`"),
    (("run", "--threads", "two"), "argument --threads: wants a whole number of at least 1, not 'two'; "
                                  "see `director run --help`"),
    (("results", "--limit", "0"), "argument --limit: wants a whole number of at least 1, not '0'; "
                                  "see `director results --help`"),
])
def test_usage_mistakes_are_one_line(director, tmp_path, args, message):
    proc = director(*args, "--results", tmp_path / "results") if args[:1] == ("run",) else director(*args)
    error = one_error(proc, 2)
    if "(choose from " in error:  # argparse quotes the choices or not, depending on the Python version
        error = error.replace("'", "").replace(f"choice: {args[-1]}", f"choice: '{args[-1]}'")
    assert error == message and proc.stdout == ""
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("flag, value, message", [
    ("--ranges", "300", "--ranges wants VOLTS,AMPS such as 300,0.5 (got '300')"),
    ("--ranges", "300,half", "--ranges wants VOLTS,AMPS such as 300,0.5 (got '300,half')"),
    ("--ranges", "300,0.5,1", "--ranges wants VOLTS,AMPS such as 300,0.5 (got '300,0.5,1')"),
    ("--ranges", "0,0.5", "--ranges must be positive numbers (got '0,0.5')"),
    ("--ranges", "nan,0.5", "--ranges must be positive numbers (got 'nan,0.5')"),
    ("--ranges", "300,inf", "--ranges must be positive numbers (got '300,inf')"),
    ("--setting", "min_duration", "--setting wants KEY=NUMBER, a LoadGen key and a number >= 0, such as "
                                  "min_duration=60000 (got 'min_duration')"),
    ("--setting", "min_duration=ten", "--setting wants KEY=NUMBER, a LoadGen key and a number >= 0, such as "
                                      "min_duration=60000 (got 'min_duration=ten')"),
    ("--setting", "=1500", "--setting wants KEY=NUMBER, a LoadGen key and a number >= 0, such as "
                           "min_duration=60000 (got '=1500')"),
    ("--setting", "min_duration=-1", "--setting wants KEY=NUMBER, a LoadGen key and a number >= 0, such as "
                                     "min_duration=60000 (got 'min_duration=-1')"),
    ("--setting", "qsl_rng_seed=5", "--setting 'qsl_rng_seed' is not a LoadGen setting (known: "
                                    "accuracy_log_rng_seed, accuracy_log_sampling_target, "
                                    "accuracy_sample_count_override, max_duration, max_query_count, min_duration, "
                                    "min_query_count, performance_issue_same, performance_issue_same_index, "
                                    "performance_issue_unique, performance_sample_count_override, print_timestamps, "
                                    "target_latency, target_latency_percentile, target_qps)"),
])
def test_malformed_ranges_and_settings_stop_before_the_run(director, tmp_path, flag, value, message):
    results = tmp_path / "results"
    proc = director("run", "--analyzer", "sim", flag, value, "--results", results)
    assert one_error(proc, 2) == message
    assert not results.exists()


def test_an_unknown_device_lists_the_known_ones(director, tmp_path):
    inventory = write(tmp_path / "devices.toml", '[devices.bench1]\nhost = "192.0.2.7"\n')
    results = tmp_path / "results"
    known = f"(known: bench1, local; from {inventory}); did you mean 'bench1'?"
    proc = director("--inventory", inventory, "run", "--device", "bench2", "--analyzer", "sim", "--results", results)
    assert one_error(proc, 2) == f"unknown device 'bench2' {known}"
    assert not results.exists()
    assert one_error(director("--inventory", inventory, "devices", "check", "bench2"), 2) == f"unknown device 'bench2' {known}"
    assert one_error(director("--inventory", inventory, "analyzers", "check", "simm"), 2) == (
        f"unknown analyzer 'simm' (known: sim; from {inventory}); did you mean 'sim'?")


@pytest.mark.parametrize("text, message", [
    ('[devices.bench1]\nhost = "192.0.2.7"\nport = 22\nuser = "pi\n',
     ":4:11: invalid TOML: Illegal character '\\n' (at line 4, column 11)"),
    ('[devices.bench1]\nhost = "192.0.2.7"\n\nhostname = "bench1.lab"\n',
     f":4: device 'bench1', key 'hostname': unknown key (known: {KNOWN_INVENTORY_KEYS})"),
    ('[devices.bench1]\nhost = "192.0.2.7"\nanalyzer = "wt999"\n',
     ":3: device 'bench1', key 'analyzer': no analyzer 'wt999' (known: sim)"),
    ('[devices.bench1]\nhost = "192.0.2.7"\nport = "twenty-two"\n',
     ":3: device 'bench1', key 'port': must be an integer, not a string"),
])
def test_a_bad_inventory_names_file_and_line(director, tmp_path, text, message):
    inventory = write(tmp_path / "devices.toml", text)
    for args in (("devices",), ("run", "--device", "bench1", "--results", tmp_path / "results")):
        error = one_error(director("--inventory", inventory, *args), 2)
        assert error == f"{inventory}{message}"
    assert not (tmp_path / "results").exists()


def test_a_missing_inventory_file_is_named(director, tmp_path):
    proc = director("--inventory", tmp_path / "nope.toml", "devices")
    assert one_error(proc, 2) == f"{tmp_path / 'nope.toml'}: inventory file not found (given with --inventory)"


def test_an_unreachable_host_exits_5_with_host_and_port(director, tmp_path):
    port = free_port()  # nobody listens there
    inventory = write(tmp_path / "devices.toml", f'[devices.gone]\nhost = "127.0.0.1"\nport = {port}\nuser = "root"\n')
    refused = f"127.0.0.1:{port}: connection refused (is sshd running on that port?)"
    assert one_error(director("--inventory", inventory, "devices", "check", "gone"), 5) == refused
    # the list still lists it, as down, and exits 0
    listing = director("--inventory", inventory, "devices")
    assert listing.returncode == 0 and listing.stderr == ""
    assert [line for line in listing.stdout.splitlines() if line.startswith("gone ")][0].endswith(f"DOWN: {refused}")
    results = tmp_path / "results"
    proc = director("--inventory", inventory, "run", "--device", "gone", "--analyzer", "sim", "--results", results)
    assert one_error(proc, 5, progress=True) == refused
    run = failed_run(results)
    assert run["reason"] == f"preflight: {refused}" and run["sample_count"] == 0
    assert not (Path(run["folder"]) / "samples.csv").exists()


def test_failed_authentication_says_which_keys_were_refused(director, sshd, tmp_path):
    stranger = keygen(tmp_path / "stranger_ed25519")  # not in the board's authorized_keys
    inventory = write(tmp_path / "devices.toml", board_toml(sshd, identity=stranger))
    proc = director("--inventory", inventory, "--known-hosts", sshd.known_hosts, "devices", "check", "board")
    assert one_error(proc, 5) == (
        f"root@127.0.0.1:{sshd.port} refused every key offered ({stranger}); add one to the device's "
        f"authorized_keys or set identity_files")


def test_an_unknown_host_key_is_refused_until_trusted(director, fresh_board: Board, tmp_path):
    inventory = write(tmp_path / "devices.toml", board_toml(fresh_board))
    known_hosts = fresh_board.known_hosts  # empty: the board's key is not trusted
    where = f"[127.0.0.1]:{fresh_board.port}"
    check = ("--inventory", inventory, "--known-hosts", known_hosts, "devices", "check", "board")
    assert one_error(director(*check), 5) == (
        f"unknown SSH host key for {where}: ssh-ed25519 {fingerprint(fresh_board.host_key.with_suffix('.pub'))} "
        f"(not in {known_hosts}); check it, then pass --trust-host to add it")
    assert known_hosts.read_text() == ""
    trusted = director(*check, "--trust-host")
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout.startswith("board: reachable; agent at ")
    assert known_hosts.read_text() == fresh_board.host_public_line
    assert director(*check).returncode == 0  # trusted from now on, without the flag


def test_a_changed_host_key_is_refused_until_replaced(director, fresh_board: Board, tmp_path):
    inventory = write(tmp_path / "devices.toml", board_toml(fresh_board))
    impostor = keygen(tmp_path / "impostor_ed25519").with_suffix(".pub")
    known_hosts = write(fresh_board.known_hosts, f"[127.0.0.1]:{fresh_board.port} {' '.join(impostor.read_text().split()[:2])}\n")
    check = ("--inventory", inventory, "--known-hosts", known_hosts, "devices", "check", "board")
    assert one_error(director(*check), 5) == (
        f"SSH host key for [127.0.0.1]:{fresh_board.port} CHANGED: server offers ssh-ed25519 "
        f"{fingerprint(fresh_board.host_key.with_suffix('.pub'))}, {known_hosts} holds a different key; "
        f"if the device was re-installed, pass --replace-host-key")
    # --trust-host only adds unknown keys; it never overrides a changed one
    assert one_error(director(*check, "--trust-host"), 5).startswith(f"SSH host key for [127.0.0.1]:{fresh_board.port} CHANGED")
    replaced = director(*check, "--replace-host-key")
    assert replaced.returncode == 0, replaced.stderr
    assert known_hosts.read_text() == fresh_board.host_public_line


def test_a_device_python_without_the_modules_lists_what_to_install(director, sshd, bare_python, tmp_path):
    inventory = write(tmp_path / "devices.toml", board_toml(sshd, python=bare_python))
    version = ".".join(map(str, sys.version_info[:3]))
    lacks = (f"board: Python {version} at {bare_python} lacks numpy, psutil, mlperf_loadgen, a runtime (onnxruntime, "
             f"ai_edge_litert or tflite_runtime); ")
    common = ("--inventory", inventory, "--known-hosts", sshd.known_hosts)
    proc = director(*common, "devices", "check", "board")
    error = one_error(proc, 1)
    assert error.startswith(lacks) and error.endswith(", or run `director setup --device board`"), error
    assert "pip install" in error and "mlcommons-loadgen" in error and "onnxruntime" in error
    assert "  missing: " in proc.stdout  # the report is still printed
    results = tmp_path / "results"
    proc = director(*common, "run", "--device", "board", "--results", results)
    assert one_error(proc, 1, progress=True) == error
    run = failed_run(results)
    assert run["reason"] == f"preflight: {error}" and run["sample_count"] == 0


def test_a_missing_model_file_stops_before_the_run(director, tmp_path):
    results = tmp_path / "results"
    model = tmp_path / "nope.onnx"
    proc = director("run", "--analyzer", "sim", "--model", model, "--results", results)
    assert one_error(proc, 2) == f"model not found: {model}"
    assert not results.exists()


def test_a_corrupt_model_fails_the_run_and_keeps_the_samples(director, tmp_path):
    model = write(tmp_path / "corrupt.onnx", "not a protobuf at all\n" * 50)
    results = tmp_path / "results"
    proc = director("run", "--analyzer", "sim", "--model", model, *QUICK, "--results", results)
    error = one_error(proc, 1, progress=True)
    assert error.startswith(f"ranging pass failed on the device: cannot load ONNX model {model}: "), error
    run = failed_run(results)
    assert run["reason"] == f"ranging: {error}"
    # the idle baseline was measured before the pass failed: it is all still there
    assert run["idle"]["duration_s"] == pytest.approx(1.0, abs=0.2)
    samples = read_samples_csv(Path(run["folder"]) / "samples.csv")
    assert len(samples) == run["sample_count"] >= 10
    assert (Path(run["folder"]) / "ranging" / "events.jsonl").exists()


def test_an_absent_analyzer_is_one_line(director, tmp_path):
    inventory = write(tmp_path / "devices.toml", '[analyzers.bench]\nmodel = "WT310E"\nurl = "/dev/ttyNOPE"\n')
    absent = ("analyzer 'bench' (WT310E at /dev/ttyNOPE): cannot open analyzer port /dev/ttyNOPE: "
              "no such device (is the meter plugged in?)")
    assert one_error(director("--inventory", inventory, "analyzers", "check", "bench"), 1) == absent
    # In a run the analyzer is opened in preflight, after the start: a failed run.json, nothing measured.
    results = tmp_path / "results"
    proc = director("--inventory", inventory, "run", "--analyzer", "bench", "--results", results)
    assert one_error(proc, 1, progress=True) == absent
    run = failed_run(results)
    assert run["reason"] == f"preflight: {absent}" and run["sample_count"] == 0 and "analyzer" not in run


def test_a_busy_analyzer_is_refused_not_shared(director, tmp_path):
    link = tmp_path / "meter"
    meter = subprocess.Popen([sys.executable, "-m", "power.simulators", "wt310e", "--pty", "--link", str(link)],
                             stdout=subprocess.PIPE, text=True, env=director.env())
    holder = None
    try:
        assert "simulator on" in meter.stdout.readline()
        inventory = write(tmp_path / "devices.toml",
                          f'[analyzers.bench]\nmodel = "WT310E"\nurl = "{link}"\nbaudrate = 9600\n')
        # another program holds the port the way a second director would: pyserial's exclusive lock
        holder = subprocess.Popen(
            [sys.executable, "-c", "import serial, sys, time; p = serial.Serial(sys.argv[1], exclusive=True); "
                                   "print('held', flush=True); time.sleep(60)", str(link)],
            stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline() == "held\n"
        proc = director("--inventory", inventory, "analyzers", "check", "bench")
        assert one_error(proc, 1) == (f"analyzer 'bench' (WT310E at {link}): cannot open analyzer port {link}: busy, "
                                      f"another program has it open (see `fuser -v {link}`)")
        holder.kill()
        holder.wait()
        freed = director("--inventory", inventory, "analyzers", "check", "bench")
        assert freed.returncode == 0 and freed.stdout.startswith("bench: YOKOGAWA WT310E"), freed.stderr
    finally:
        for process in (holder, meter):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(10)


def test_results_show_without_a_database_creates_nothing(director, tmp_path):
    results = tmp_path / "results"
    assert one_error(director("results", "show", "nosuch", "--results", results), 2) == (
        f"no run 'nosuch': no results database at {results / 'results.db'}")
    listing = director("results", "--results", results)
    assert listing.returncode == 0 and listing.stdout == "no runs stored yet\n"
    assert not results.exists()
