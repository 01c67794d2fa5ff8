"""A corpus of bad input (issue 8): every case runs the real command as a user does and gets one clear line.

One table, CASES: each case writes its files into tmp_path, runs `director ...`, `python -m agent ...`
or `python -m power.simulators ...` as a subprocess with its own HOME (tests/director/commandline.py),
and expects its exit code, exactly one error line on stderr (`director: error: `, `agent: error: ` or the
simulator's `error: `) with the expected text, no traceback anywhere, and nothing else on stderr (a
`director run` that fails after its start prints its phase lines first: only those cases allow them).
No case starts a LoadGen test, or measures anything: each fails before.

In files, argv, env and the expected line, $TMP is tmp_path, $MODELS the test models, $JUNK the port of
a TCP server that is neither sshd nor PTDaemon (it says one line and hangs up).

spl.txt and LoadGen's detail log are read from a command line only where the simulator replays an
spl.txt (`sim://wt310e?spl=FILE`, `python -m power.simulators --spl`); their MLPerf readers (power.spl,
power.loadgen_log) have no command of their own, so READERS checks those one-line errors directly.
"""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Mapping, Tuple, Union

import numpy as np
import pytest

from power.errors import FileFormatError
from power.loadgen_log import read_power_window
from power.spl import read_spl
from tests.director.commandline import MODELS, PROGRESS_LINE, make_director

PREFIXES = {"director": "director: error: ", "agent": "agent: error: ", "simulator": "error: "}
MODULES = {"director": "director.cli", "agent": "agent", "simulator": "power.simulators"}
DEVICES = "$TMP/devices.toml"
INVENTORY = ("--inventory", DEVICES)
RUN = ("run", "--results", "$TMP/results")
AGENT_RUN = ("run", "--job", "$TMP/job.json", "--out", "$TMP/out")
SPEC = ("sweep", "plan", "$TMP/sweep.toml")
SETTINGS = ("accuracy_log_rng_seed, accuracy_log_sampling_target, accuracy_sample_count_override, max_duration, "
            "max_query_count, min_duration, min_query_count, performance_issue_same, performance_issue_same_index, "
            "performance_issue_unique, performance_sample_count_override, print_timestamps, target_latency, "
            "target_latency_percentile, target_qps")
ANALYZER_MODELS = "ptd, ptdaemon, wt210, wt310, wt310e, wt310eh, wt332, wt332e, wt333, wt333e"
SPL_ROW = "Time,11-22-2026 10:00:00.000,Watts,5.0,Volts,230.0,Amps,0.05,PF,0.9\n"
SPL_URL = "sim://wt310e?spl=$TMP/spl.txt"

Content = Union[str, bytes, None]  # None: a folder


@dataclass(frozen=True)
class Case:
    """One bad input: the files it needs, the command line, and the one line it must give."""

    id: str
    argv: Tuple[str, ...]
    exit_code: int
    error: str
    files: Mapping[str, Content] = field(default_factory=dict)
    command: str = "director"
    env: Mapping[str, str] = field(default_factory=dict)
    regex: bool = False
    progress: bool = False


def npy(array: Any) -> bytes:
    """An .npy file's bytes."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array))
    return buffer.getvalue()


def job(**fields: Any) -> Dict[str, Content]:
    """job.json for the agent: a quick pass of the tiny float model, with FIELDS changed (None drops one)."""
    raw: Dict[str, Any] = {"model": "$MODELS/tiny_float.onnx", "scenario": "SingleStream", "profile": "quick",
                           "settings": {"min_duration": 500}}
    raw.update(fields)
    return {"job.json": json.dumps({k: v for k, v in raw.items() if v is not None})}


def npy_job(folder: Mapping[str, Content], **dataset: Any) -> Dict[str, Content]:
    """job.json reading the npy folder data/ (with FOLDER's files in it) and the files themselves."""
    files = job(dataset={"kind": "npy", "path": "data", **dataset})
    files["data/"] = None
    files.update({f"data/{name}": content for name, content in folder.items()})
    return files


def inventory(text: str) -> Dict[str, Content]:
    """devices.toml holding TEXT."""
    return {"devices.toml": text}


def sweep(text: str) -> Dict[str, Content]:
    """sweep.toml holding TEXT, beside the (empty) model files it may name."""
    return {"sweep.toml": text, "m.onnx": b"", "m.pb": b""}


SAMPLE = npy(np.zeros((8, 8, 3), np.float32))
TWO_SAMPLES = {"000.npy": SAMPLE, "001.npy": SAMPLE}
BOARD = '[devices.b]\nhost = "192.0.2.7"\n'
SWEEP = '[sweep]\nname = "n"\n[devices.local]\n[models.a]\npath = "m.onnx"\n'

INVENTORY_CASES = (
    Case("inventory-toml-syntax", (*INVENTORY, "devices"), 2,
         f"{DEVICES}:4:11: invalid TOML: Illegal character '\\n' (at line 4, column 11)",
         inventory(BOARD + 'port = 22\nuser = "pi\n')),
    Case("inventory-unknown-key", (*INVENTORY, "devices"), 2,
         f"{DEVICES}:3: device 'b', key 'hostname': unknown key (known: kind, ssh_alias, host, user, port, "
         "identity_files, proxy_jump, python, workdir, profile, analyzer, power_modes, sudo, env, fs_root, tags, "
         "notes)",
         inventory(BOARD + 'hostname = "b.lab"\n')),
    Case("inventory-unknown-top-level-table", (*INVENTORY, "devices"), 2,
         f"{DEVICES}:1: unknown top-level key 'device' (known: analyzers, devices)",
         inventory('[device.b]\nhost = "192.0.2.7"\n')),
    Case("inventory-unknown-analyzer-name", (*INVENTORY, "devices"), 2,
         f"{DEVICES}:3: device 'b', key 'analyzer': no analyzer 'wt999' (known: sim)",
         inventory(BOARD + 'analyzer = "wt999"\n')),
    Case("inventory-port-out-of-range", (*INVENTORY, "devices"), 2,
         f"{DEVICES}:3: device 'b', key 'port': 70000 is not a TCP port (1-65535)",
         inventory(BOARD + "port = 70000\n")),
    Case("inventory-port-a-boolean", (*INVENTORY, "devices"), 2,
         f"{DEVICES}:3: device 'b', key 'port': must be an integer, not a boolean",
         inventory(BOARD + "port = true\n")),
    Case("inventory-tags-not-strings", (*INVENTORY, "devices"), 2,
         f"{DEVICES}:3: device 'b', key 'tags': must be an array of strings, not an array",
         inventory(BOARD + "tags = [1, 2]\n")),
    Case("inventory-unknown-profile", (*INVENTORY, "devices"), 2,
         f"{DEVICES}:3: device 'b', key 'profile': unknown value 'arduino' (known: linux, jetson, raspberrypi)",
         inventory(BOARD + 'profile = "arduino"\n')),
    Case("inventory-invalid-device-name", (*INVENTORY, "devices"), 2,
         f"{DEVICES}:1: device 'bench 1': not a name (expected letters, digits, '_', '-' and '.', starting with a "
         "letter or digit, at most 64)",
         inventory('[devices."bench 1"]\nhost = "192.0.2.7"\n')),
    Case("inventory-duplicate-device", (*INVENTORY, "devices"), 2,
         f"{DEVICES}:3:11: invalid TOML: Cannot declare ('devices', 'b') twice (at line 3, column 11)",
         inventory(BOARD + BOARD)),
    Case("inventory-host-beside-ssh-alias", (*INVENTORY, "devices"), 2,
         f"{DEVICES}:2: device 'b', key 'host': ssh_alias 'b' already gives the host data; say it in "
         "~/.ssh/config only",
         inventory(BOARD + 'ssh_alias = "b"\n')),
    Case("inventory-host-on-the-local-device", (*INVENTORY, "devices"), 2,
         f"{DEVICES}:2: device 'local', key 'host': not used by kind = \"local\"",
         inventory('[devices.local]\nhost = "192.0.2.7"\n')),
    Case("inventory-analyzer-without-url", (*INVENTORY, "analyzers"), 2,
         f"{DEVICES}:1: analyzer 'a': missing key 'url'",
         inventory('[analyzers.a]\nmodel = "WT310E"\n')),
    Case("inventory-unknown-analyzer-model", (*INVENTORY, "analyzers"), 2,
         f"{DEVICES}:2: analyzer 'a', key 'model': unknown analyzer model 'WT999' (known: {ANALYZER_MODELS})",
         inventory('[analyzers.a]\nmodel = "WT999"\nurl = "/dev/ttyUSB0"\n')),
    Case("inventory-bad-stop-bits", (*INVENTORY, "analyzers"), 2,
         f"{DEVICES}:4: analyzer 'a', key 'stopbits': 3 is not one of 1, 1.5, 2",
         inventory('[analyzers.a]\nmodel = "WT310E"\nurl = "/dev/ttyUSB0"\nstopbits = 3\n')),
    Case("inventory-negative-timeout", (*INVENTORY, "analyzers"), 2,
         f"{DEVICES}:4: analyzer 'a', key 'timeout_s': -1 is not a positive number",
         inventory('[analyzers.a]\nmodel = "WT310E"\nurl = "/dev/ttyUSB0"\ntimeout_s = -1\n')),
    Case("inventory-not-utf8", (*INVENTORY, "devices"), 2,
         f"{DEVICES}: cannot read inventory: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
         {"devices.toml": b"\xff\xfe[devices.b]\n"}),
    Case("inventory-missing-file-given-with-flag", ("--inventory", "$TMP/nope.toml", "devices"), 2,
         "$TMP/nope.toml: inventory file not found (given with --inventory)"),
    Case("inventory-missing-file-given-by-env", ("devices",), 2,
         "$TMP/nope.toml: inventory file not found (from $EDGEPOWER_INVENTORY)",
         env={"EDGEPOWER_INVENTORY": "$TMP/nope.toml"}),
)

SWEEP_CASES = (
    Case("sweep-spec-not-found", ("sweep", "plan", "$TMP/nope.toml"), 2, "sweep spec not found: $TMP/nope.toml"),
    Case("sweep-not-toml", SPEC, 2,
         "$TMP/sweep.toml:1: not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 7)",
         sweep("[sweep\n")),
    Case("sweep-unknown-key", SPEC, 2,
         "$TMP/sweep.toml:3: unknown key sweep.repeat (expected one of: name, order, repeats, max_attempts, "
         "job_timeout_s, budget_h, stop_after_failures, stop_at, results, bench)",
         sweep(SWEEP.replace('"n"\n', '"n"\nrepeat = 2\n'))),
    Case("sweep-unknown-device", SPEC, 2,
         "$TMP/sweep.toml:3: unknown device 'board7' (known: local; from no devices.toml found)",
         sweep(SWEEP.replace("local", "board7"))),
    Case("sweep-model-file-missing", SPEC, 2,
         "$TMP/sweep.toml:5: models.a.path: $TMP/gone.onnx does not exist (expected a model file on this host; "
         "a relative path starts at the spec's folder)",
         sweep(SWEEP.replace("m.onnx", "gone.onnx"))),
    Case("sweep-model-not-a-model-file", SPEC, 2,
         '$TMP/sweep.toml:5: models.a.path: "m.pb" is not a model file (expected a .onnx or .tflite file)',
         sweep(SWEEP.replace("m.onnx", "m.pb"))),
    Case("sweep-no-models", SPEC, 2,
         '$TMP/sweep.toml: no [models] table (expected a [models.NAME] table for each, e.g. [models.NAME] with '
         'path = "model.onnx")',
         sweep('[sweep]\nname = "n"\n[devices.local]\n')),
    Case("sweep-empty-product", SPEC, 2,
         "$TMP/sweep.toml:7: the product is empty: matrix.scenarios is [] (expected at least one value)",
         sweep(SWEEP + "[matrix]\nscenarios = []\n")),
    Case("sweep-bad-order", SPEC, 2,
         '$TMP/sweep.toml:3: sweep.order: "random" is not an order (expected one of: interleaved, grouped)',
         sweep(SWEEP.replace('"n"\n', '"n"\norder = "random"\n'))),
    Case("sweep-negative-repeats", SPEC, 2,
         "$TMP/sweep.toml:3: sweep.repeats: -1 is too small (expected a whole number >= 1)",
         sweep(SWEEP.replace('"n"\n', '"n"\nrepeats = -1\n'))),
    Case("sweep-budget-a-string", SPEC, 2,
         '$TMP/sweep.toml:3: sweep.budget_h: "long" is a string (expected a number > 0)',
         sweep(SWEEP.replace('"n"\n', '"n"\nbudget_h = "long"\n'))),
    Case("sweep-stop-at-without-zone", SPEC, 2,
         '$TMP/sweep.toml:3: sweep.stop_at: "2026-11-23T07:00:00" has no time zone (expected a UTC instant such '
         'as "2026-11-23T07:00:00Z", with Z or an offset)',
         sweep(SWEEP.replace('"n"\n', '"n"\nstop_at = "2026-11-23T07:00:00"\n'))),
    Case("sweep-negative-cooldown", SPEC, 2,
         "$TMP/sweep.toml:7: cooldown.seconds: -30 is too small (expected a number >= 0)",
         sweep(SWEEP + "[cooldown]\nseconds = -30\n")),
    Case("sweep-threads-not-a-list", SPEC, 2,
         "$TMP/sweep.toml:7: matrix.threads: 2 is an integer (expected an array such as [2])",
         sweep(SWEEP + "[matrix]\nthreads = 2\n")),
    Case("sweep-runtime-cannot-load-model", SPEC, 2,
         '$TMP/sweep.toml:7: matrix.runtimes: runtime "tflite" cannot load models.a (m.onnx) (expected "auto" or '
         '"onnx"; runtimes = [...] in [models.a] overrides)',
         sweep(SWEEP + '[matrix]\nruntimes = ["tflite"]\n')),
    Case("sweep-key-in-the-wrong-table", SPEC, 2,
         "$TMP/sweep.toml:7: run.settle_s does not belong in [run] (expected seconds = ... in [cooldown])",
         sweep(SWEEP + "[run]\nsettle_s = 5\n")),
    Case("sweep-setting-a-string", SPEC, 2,
         '$TMP/sweep.toml:7: run.settings.min_duration: "x" is a string (expected a number >= 0, in ms)',
         sweep(SWEEP + '[run]\nsettings = { min_duration = "x" }\n')),
    Case("sweep-loadgen-model-with-a-dot", SPEC, 2,
         '$TMP/sweep.toml:7: run.loadgen_model: "resnet.50" is not a LoadGen model name (expected one without '
         'spaces or dots, such as "resnet50")',
         sweep(SWEEP + '[run]\nloadgen_model = "resnet.50"\n')),
)

JOB_CASES = (
    Case("job-file-missing", AGENT_RUN, 2, "job file not found: $TMP/job.json", command="agent"),
    Case("job-malformed-json", AGENT_RUN, 2,
         "$TMP/job.json: not valid JSON (line 1, column 33: Expecting value)",
         {"job.json": '{"model": "m.onnx", "scenario": '}, command="agent"),
    Case("job-not-an-object", AGENT_RUN, 2, "$TMP/job.json: a job must be a JSON object",
         {"job.json": "[1, 2]"}, command="agent"),
    Case("job-missing-scenario", AGENT_RUN, 2, "$TMP/job.json: missing field 'scenario'",
         job(scenario=None), command="agent"),
    Case("job-unknown-scenario", AGENT_RUN, 2,
         "$TMP/job.json: 'scenario' must be one of SingleStream, Offline (got 'Server')",
         job(scenario="Server"), command="agent"),
    Case("job-unknown-field", AGENT_RUN, 2,
         "$TMP/job.json: unknown field(s): treads (known: model, scenario, mode, backend, threads, backend_options, "
         "loadgen_model, profile, settings, dataset, batch_size, postprocess, label_offset, telemetry_interval_s, "
         "calibration_s, performance_sample_count, audit_config)",
         job(treads=4), command="agent"),
    Case("job-setting-not-a-number", AGENT_RUN, 2,
         "$TMP/job.json: 'settings.min_duration' must be a number (got 'x')",
         job(settings={"min_duration": "x"}), command="agent"),
    Case("job-unknown-setting", AGENT_RUN, 2,
         f"$TMP/job.json: unknown LoadGen setting 'foo' (known: {SETTINGS})",
         job(settings={"foo": 1}), command="agent"),
    Case("job-zero-threads", AGENT_RUN, 2, "$TMP/job.json: 'threads' must be at least 1 (got 0)",
         job(threads=0), command="agent"),
    Case("job-fractional-batch", AGENT_RUN, 2, "$TMP/job.json: 'batch_size' must be an integer (got 1.5)",
         job(batch_size=1.5), command="agent"),
    Case("job-loadgen-model-with-a-dot", AGENT_RUN, 2,
         "$TMP/job.json: 'loadgen_model' must be a name without spaces or dots (got 'resnet.50')",
         job(loadgen_model="resnet.50"), command="agent"),
    Case("job-npy-dataset-without-path", AGENT_RUN, 2,
         "$TMP/job.json: an npy dataset needs 'dataset.path' (a folder of .npy samples)",
         job(dataset={"kind": "npy"}), command="agent"),
    Case("job-audit-config-missing", AGENT_RUN, 2, "audit config not found: $TMP/audit.config",
         job(audit_config="audit.config"), command="agent"),
    Case("job-usage-without-job", ("run", "--out", "$TMP/out"), 2,
         "the following arguments are required: --job; see `python3 -m agent run --help`", command="agent"),
)

MODEL_CASES = (
    Case("model-missing", (*RUN, "--analyzer", "sim", "--model", "$TMP/gone.onnx"), 2,
         "model not found: $TMP/gone.onnx"),
    Case("model-unsupported-extension", (*RUN, "--analyzer", "sim", "--model", "$TMP/model.pb"), 2,
         "unknown model format '.pb' for $TMP/model.pb (expected .tflite or .onnx)",
         {"model.pb": b"\x08\x01"}),
    Case("model-for-another-runtime", (*RUN, "--analyzer", "sim", "--runtime", "tflite",
                                       "--model", "$MODELS/tiny_float.onnx"), 2,
         "runtime 'tflite' cannot load $MODELS/tiny_float.onnx (expected runtime auto or onnx for a .onnx model)"),
    Case("model-text-file-named-onnx", AGENT_RUN, 2,  # after the colon: the runtime's own words, by version
         r"cannot load ONNX model \$TMP/text\.onnx: .*INVALID_PROTOBUF.*",
         {**job(model="text.onnx"), "text.onnx": "this is not a model\n"}, command="agent", regex=True),
    Case("model-corrupt-tflite", AGENT_RUN, 2,
         r"cannot load TFLite model \$TMP/corrupt\.tflite: .+",
         {**job(model="corrupt.tflite"), "corrupt.tflite": b"\x08\x01garbage" * 64}, command="agent", regex=True),
    Case("model-missing-on-the-device", AGENT_RUN, 2, "model not found: $TMP/gone.onnx",
         job(model="gone.onnx"), command="agent"),
    Case("model-unknown-runtime-option", AGENT_RUN, 2,
         "unknown onnx backend option(s): fast (known: providers, session_config)",
         job(backend_options={"fast": True}), command="agent"),
)

DATASET_CASES = (
    Case("dataset-folder-missing", AGENT_RUN, 2, "npy dataset folder not found: $TMP/gone",
         job(dataset={"kind": "npy", "path": "gone"}), command="agent"),
    Case("dataset-folder-empty", AGENT_RUN, 2, "npy dataset folder $TMP/data holds no .npy files",
         npy_job({}), command="agent"),
    Case("dataset-labels-missing", AGENT_RUN, 2,
         "cannot read labels file $TMP/labels.txt: No such file or directory",
         npy_job(TWO_SAMPLES, labels="labels.txt"), command="agent"),
    Case("dataset-labels-malformed", AGENT_RUN, 2,
         "$TMP/data/labels.txt:2: expected '<label>' or '<file> <label>'",
         npy_job({**TWO_SAMPLES, "labels.txt": "1\nseven\n"}), command="agent"),
    Case("dataset-labels-count", AGENT_RUN, 2, "$TMP/data/labels.txt: 3 labels for 2 samples",
         npy_job({**TWO_SAMPLES, "labels.txt": "1\n2\n3\n"}), command="agent"),
    Case("dataset-labels-by-name-incomplete", AGENT_RUN, 2,
         "$TMP/data/labels.txt: no label for 001.npy (1 missing)",
         npy_job({**TWO_SAMPLES, "labels.txt": "000.npy 1\n"}), command="agent"),
    Case("dataset-labels-not-text", AGENT_RUN, 2,
         "cannot read labels file $TMP/data/labels.txt: not text ('utf-8' codec can't decode byte 0xff in "
         "position 0: invalid start byte)",
         npy_job({**TWO_SAMPLES, "labels.txt": b"\xff\n"}), command="agent"),
    Case("dataset-wrong-shape", AGENT_RUN, 2,
         "npy sample 000.npy has shape (16, 16, 3) but model input 'input' expects (8, 8, 3)",
         npy_job({"000.npy": npy(np.zeros((16, 16, 3), np.float32))}), command="agent"),
    Case("dataset-wrong-kind-of-values", AGENT_RUN, 2,
         "npy sample 000.npy is <U1 but model input 'input' is float32",
         npy_job({"000.npy": npy(np.full((8, 8, 3), "a"))}), command="agent"),
    Case("dataset-not-an-npy-file", AGENT_RUN, 2,
         "cannot read npy sample $TMP/data/000.npy: not a .npy file (expected numpy's \\x93NUMPY header, as "
         "np.save writes)",
         npy_job({"000.npy": "0.1 0.2 0.3\n"}), command="agent"),
)

ANALYZER_CASES = (
    Case("analyzer-unknown-name", ("analyzers", "check", "simm"), 2,
         "unknown analyzer 'simm' (known: sim; from no devices.toml found); did you mean 'sim'?"),
    Case("analyzer-check-without-name", ("analyzers", "check"), 2,
         "director analyzers check NAME: give an analyzer name (e.g. sim)"),
    Case("analyzer-serial-port-missing", (*INVENTORY, "analyzers", "check", "a"), 1,
         "analyzer 'a' (WT310E at /dev/ttyNOPE): cannot open analyzer port /dev/ttyNOPE: no such device (is the "
         "meter plugged in?)",
         inventory('[analyzers.a]\nmodel = "WT310E"\nurl = "/dev/ttyNOPE"\n')),
    Case("analyzer-unknown-url-scheme", (*INVENTORY, "analyzers", "check", "a"), 1,
         "analyzer 'a' (WT310E at bogus://meter): cannot open analyzer port bogus://meter: invalid URL, protocol "
         "'bogus' not known",
         inventory('[analyzers.a]\nmodel = "WT310E"\nurl = "bogus://meter"\n')),
    Case("analyzer-replies-with-an-echo", (*INVENTORY, "analyzers", "check", "a"), 1,
         "analyzer 'a' (WT310E at loop://): unexpected *IDN? reply from loop://: '*IDN?' (expected "
         "YOKOGAWA,WT310E,...)",
         inventory('[analyzers.a]\nmodel = "WT310E"\nurl = "loop://"\ntimeout_s = 0.5\n')),
    Case("analyzer-element-it-lacks", (*INVENTORY, "analyzers", "check", "a"), 1,
         "analyzer 'a' (WT310E at loop://): WT310E has no element 2 (expected element 1)",
         inventory('[analyzers.a]\nmodel = "WT310E"\nurl = "loop://"\nelement = 2\n')),
    Case("analyzer-not-ptdaemon", (*INVENTORY, "analyzers", "check", "a"), 1,
         "analyzer 'a' (ptdaemon at tcp://127.0.0.1:$JUNK): 127.0.0.1:$JUNK is not PTDaemon (Hello -> '220 "
         "mail.example ESMTP')",
         inventory('[analyzers.a]\nmodel = "ptdaemon"\nurl = "tcp://127.0.0.1:$JUNK"\ntimeout_s = 1\n')),
    Case("analyzer-unknown-simulator", (*INVENTORY, "analyzers"), 2,
         f"{DEVICES}:3: analyzer 'a': unknown simulator 'sim:gpu' (expected sim:cpu or sim:constant)",
         inventory('[analyzers.a]\nmodel = "WT310E"\nurl = "sim:gpu"\n')),
    Case("analyzer-bad-simulator-option", (*INVENTORY, "analyzers", "check", "a"), 2,
         f"{DEVICES}:5: analyzer 'a': simulator option idle_w = 'lots' is wrong (expected watts >= 0)",
         inventory('[analyzers.a]\nmodel = "WT310E"\nurl = "sim:cpu"\n[analyzers.a.options]\nidle_w = "lots"\n')),
    Case("analyzer-simulator-interval", (*INVENTORY, "analyzers"), 2,
         f"{DEVICES}:4: analyzer 'a': simulator option update_s = 0.3 is wrong (expected one of the meter's "
         "update intervals: 0.1, 0.25, 0.5, 1, 2, 5 s)",
         inventory('[analyzers.a]\nmodel = "WT310E"\nurl = "sim:cpu"\noptions = { update_s = 0.3 }\n')),
    Case("analyzer-sim-url-option", (*INVENTORY, "analyzers", "check", "a"), 1,
         "analyzer 'a' (WT310E at sim://wt310e?noise=0&foo=1): cannot open analyzer port "
         "sim://wt310e?noise=0&foo=1: sim:// URL 'sim://wt310e?noise=0&foo=1': unknown option(s) foo",
         inventory('[analyzers.a]\nmodel = "WT310E"\nurl = "sim://wt310e?noise=0&foo=1"\n')),
)

SPL_ANALYZER = inventory(f'[analyzers.a]\nmodel = "WT310E"\nurl = "{SPL_URL}"\n')
SPL_PORT = f"analyzer 'a' (WT310E at {SPL_URL}): cannot open analyzer port {SPL_URL}"
LOG_CASES = (
    Case("spl-missing", (*INVENTORY, "analyzers", "check", "a"), 1,
         f"{SPL_PORT}: $TMP/spl.txt: cannot read (No such file or directory)", SPL_ANALYZER),
    Case("spl-bad-time", (*INVENTORY, "analyzers", "check", "a"), 1,
         f"{SPL_PORT}: $TMP/spl.txt:2: bad Time '11-22-2026 10:00:00.bad': expected MM-DD-YYYY HH:MM:SS.mmm",
         {**SPL_ANALYZER, "spl.txt": SPL_ROW + SPL_ROW.replace(".000", ".bad")}),
    Case("spl-no-rows", (*INVENTORY, "analyzers", "check", "a"), 1,
         f"{SPL_PORT}: $TMP/spl.txt: no Time rows (expected spl.txt rows such as "
         "Time,MM-DD-YYYY HH:MM:SS.mmm,Watts,W,Volts,V,Amps,A,PF,PF)",
         {**SPL_ANALYZER, "spl.txt": "\n"}),
    Case("spl-short-row-replayed", ("wt310e", "--spl", "$TMP/spl.txt"), 2,
         "$TMP/spl.txt:1: row ends where 'Volts' was expected (field 5)",
         {"spl.txt": "Time,11-22-2026 10:00:00.000,Watts,5.0\n"}, command="simulator"),
    Case("spl-not-ascii-replayed", ("wt310e", "--spl", "$TMP/spl.txt"), 2,
         "$TMP/spl.txt: not an ASCII spl.txt ('ascii' codec can't decode byte 0xc2 in position 64: ordinal not "
         "in range(128))",
         {"spl.txt": SPL_ROW.encode()[:64] + "°C\n".encode()}, command="simulator"),
    Case("accuracy-log-missing", ("accuracy", "--log", "$TMP/acc.json", "--labels", "$TMP/labels.txt"), 2,
         "accuracy log not found: $TMP/acc.json", {"labels.txt": "1\n"}, command="agent"),
    Case("accuracy-log-not-json", ("accuracy", "--log", "$TMP/acc.json", "--labels", "$TMP/labels.txt"), 2,
         "$TMP/acc.json: not a LoadGen accuracy log (Expecting ',' delimiter: line 2 column 1 (char 29))",
         {"acc.json": '[{"qsl_idx": 0, "data": "00"\n', "labels.txt": "1\n"}, command="agent"),
    Case("accuracy-log-record-without-index", ("accuracy", "--log", "$TMP/acc.json", "--labels", "$TMP/labels.txt"),
         2, "$TMP/acc.json: record 1 is not a LoadGen response (no 'qsl_idx' field; expected an object with qsl_idx "
            "and hex data)",
         {"acc.json": '[{"seq_id": 0, "data": "00"}]', "labels.txt": "1\n"}, command="agent"),
    Case("accuracy-log-data-not-hex", ("accuracy", "--log", "$TMP/acc.json", "--labels", "$TMP/labels.txt"), 2,
         "$TMP/acc.json: record 1 is not a LoadGen response (non-hexadecimal number found in fromhex() arg at "
         "position 0; expected an object with qsl_idx and hex data)",
         {"acc.json": '[{"qsl_idx": 0, "data": "zz"}]', "labels.txt": "1\n"}, command="agent"),
)

CLI_CASES = (
    Case("cli-no-command", (), 2, "the following arguments are required: COMMAND; see `director --help`"),
    Case("cli-zero-threads", (*RUN, "--threads", "0"), 2,
         "argument --threads: wants a whole number of at least 1, not '0'; see `director run --help`"),
    Case("cli-negative-settle", (*RUN, "--settle", "-1"), 2,
         "argument --settle: wants seconds (a number >= 0), not '-1'; see `director run --help`"),
    Case("cli-ranges-one-number", (*RUN, "--analyzer", "sim", "--ranges", "300"), 2,
         "--ranges wants VOLTS,AMPS such as 300,0.5 (got '300')"),
    Case("cli-unknown-setting", (*RUN, "--analyzer", "sim", "--setting", "foo=1"), 2,
         f"--setting 'foo' is not a LoadGen setting (known: {SETTINGS})"),
    Case("cli-setting-not-a-number", (*RUN, "--analyzer", "sim", "--setting", "min_duration=x"), 2,
         "--setting wants KEY=NUMBER, a LoadGen key and a number >= 0, such as min_duration=60000 "
         "(got 'min_duration=x')"),
    Case("cli-unknown-scenario", (*RUN, "--scenario", "Server"), 2,  # choices quoted or not: the Python's
         r"argument --scenario: invalid choice: 'Server' \(choose from '?SingleStream'?, '?Offline'?\); "
         r"see `director run --help`", regex=True),
    Case("cli-unknown-device", (*RUN, "--device", "jetson9", "--analyzer", "sim"), 2,
         "unknown device 'jetson9' (known: local; from no devices.toml found)"),
    Case("cli-loadgen-model-with-a-dot", (*RUN, "--analyzer", "sim", "--loadgen-model", "resnet.50"), 2,
         "LoadGen model 'resnet.50' is not a name without spaces or dots (expected one from mlperf.conf such as "
         "resnet50)"),
    Case("cli-run-db-bad-url", (*RUN, "--analyzer", "sim", "--db", "mysql://lab/results"), 2,
         "results database URL 'mysql://lab/results': use sqlite:///PATH or postgresql://USER@HOST/DB"),
    Case("cli-results-db-without-file", ("results", "--db", "sqlite:///"), 2,
         "results database URL 'sqlite:///' names no file (expected sqlite:///PATH, such as "
         "sqlite:///results/results.db)"),
    Case("cli-tui-db-bad-url", ("tui", "--results", "$TMP/results", "--db", "mysql://lab/results"), 2,
         "results database URL 'mysql://lab/results': use sqlite:///PATH or postgresql://USER@HOST/DB"),
    Case("cli-results-folder-is-a-file", ("run", "--analyzer", "sim", "--results", "$TMP/file"), 2,
         r"cannot create the result folder \$TMP/file/\d{8}T\d{6}Z-local-SingleStream-[0-9a-f]{4}: Not a directory",
         {"file": ""}, regex=True),
    Case("cli-power-mode-without-modes", (*RUN, "--analyzer", "sim", "--power-mode", "MAXN", "--settle", "0"), 2,
         "local: profile 'linux' has no power modes (asked for 'MAXN')", progress=True),
    Case("cli-report-unknown-sweep", ("report", "nosuch", "--results", "$TMP/results"), 2,
         "no sweep 'nosuch' in $TMP/results/results.db"),
    Case("cli-sweep-status-unknown-sweep", ("sweep", "status", "nosuch", "--results", "$TMP/results"), 2,
         "no sweep 'nosuch' in $TMP/results/results.db"),
    Case("cli-devices-check-without-name", ("devices", "check"), 2,
         "director devices check NAME: give a device name"),
    Case("cli-setup-unknown-device", ("setup", "--device", "jetson9"), 2,
         "unknown device 'jetson9' (known: local; from no devices.toml found)"),
    Case("cli-ssh-port-not-sshd", (*INVENTORY, "devices", "check", "b"), 5,
         "127.0.0.1:$JUNK: SSH handshake failed: no SSH banner from the server (is sshd listening on port $JUNK?)",
         inventory('[devices.b]\nhost = "127.0.0.1"\nport = $JUNK\nuser = "root"\n')),
)

AREAS = {"inventory": INVENTORY_CASES, "sweep specs": SWEEP_CASES, "job files": JOB_CASES, "models": MODEL_CASES,
         "datasets": DATASET_CASES, "analyzers": ANALYZER_CASES, "spl.txt and LoadGen logs": LOG_CASES,
         "CLI arguments": CLI_CASES}
CASES = tuple(case for cases in AREAS.values() for case in cases)


@pytest.fixture(scope="module")
def junk_port() -> Iterator[int]:
    """A TCP port where something else answers: one SMTP-like greeting line, then it hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"220 mail.example ESMTP\r\n")
                conn.settimeout(2)
                try:
                    conn.recv(4096)  # what the client says first: then it reads the greeting, not a reset
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.close()
    thread.join(5)


def test_the_corpus_is_big_and_its_ids_unique():
    assert len(CASES) >= 50 and len({case.id for case in CASES}) == len(CASES)
    assert all(len(cases) >= 5 for cases in AREAS.values())


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_clear_line(case: Case, tmp_path: Path, junk_port: int):
    def fill(text: str, escape: Callable[[str], str] = str) -> str:
        for token, value in (("$TMP", str(tmp_path)), ("$MODELS", str(MODELS)), ("$JUNK", str(junk_port))):
            text = text.replace(escape(token), escape(value))
        return text

    for name, content in case.files.items():
        path = tmp_path / name
        if content is None:
            path.mkdir(parents=True)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(fill(content))
    director = make_director(tmp_path)
    env = {**director.env(), **{k: fill(v) for k, v in case.env.items()}}
    argv = [sys.executable, "-m", MODULES[case.command], *map(fill, case.argv)]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)

    output = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == case.exit_code != 0, output
    assert "Traceback" not in proc.stdout + proc.stderr, output
    lines = proc.stderr.splitlines()
    if case.progress:
        assert all(PROGRESS_LINE.fullmatch(line) for line in lines[:-1]), output
    else:
        assert len(lines) == 1, output
    prefix = PREFIXES[case.command]
    assert lines[-1].startswith(prefix), output
    error = lines[-1][len(prefix):]
    if case.regex:
        assert re.fullmatch(fill(case.error, re.escape), error), output
    else:
        assert error == fill(case.error), output
    if case.argv[:1] == ("run",) and not case.progress:
        assert not (tmp_path / "results").exists(), "refused before the start: no result folder"


# -- the MLPerf readers that no command reaches ----------------------------------------------------------------

DETAIL = ':::MLLOG {"key": "power_begin", "value": "11-22-2026 10:00:00.000"}\n'
READERS = (
    ("spl-missing", read_spl, None, "$FILE: cannot read (No such file or directory)"),
    ("spl-not-ascii", read_spl, SPL_ROW.replace("Watts", "Wätts").encode(),
     "$FILE: not an ASCII spl.txt ('ascii' codec can't decode byte 0xc3 in position 30: ordinal not in range(128))"),
    ("spl-watts-not-a-number", read_spl, SPL_ROW + SPL_ROW.replace("5.0", "five"),
     "$FILE:2: Watts value 'five' at field 4 is not a number"),
    ("spl-unexpected-field", read_spl, SPL_ROW.replace("\n", ",Volts,1\n"),
     "$FILE:1: unexpected field 'Volts' at field 11"),
    ("detail-bad-json", read_power_window, DETAIL + ":::MLLOG {oops\n",
     "$FILE:2: bad :::MLLOG JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    ("detail-no-power-end", read_power_window, DETAIL, "$FILE: no power_end entry (was the run in performance mode?)"),
    ("detail-bad-time", read_power_window, DETAIL + DETAIL.replace("begin", "end").replace("11-22", "22-11"),
     "$FILE: time field out of range: '22-11-2026 10:00:00.000'"),
)


@pytest.mark.parametrize("reader, content, message", [case[1:] for case in READERS], ids=[c[0] for c in READERS])
def test_a_bad_log_file_is_one_line_naming_it(tmp_path: Path, reader: Callable[[Path], Any],
                                              content: Union[str, bytes, None], message: str):
    path = tmp_path / "log.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(FileFormatError) as e:
        reader(path)
    assert str(e.value) == message.replace("$FILE", str(path))
