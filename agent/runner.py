"""One pass: a job in, LoadGen's logs, events.jsonl, telemetry.csv and result.json out.

One LoadGen test per process: LoadGen loads its built-in mlperf.conf (and so the official seeds)
only on the first FromConfig of a process, and logs a critical error on a second one.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import threading
import time
from typing import Any, Dict, Optional

from agent import __version__, protocol
from agent.backends import Backend, open_backend, require
from agent.calibrate import calibrate
from agent.datasets import Dataset, open_dataset
from agent.errors import (EXIT_INVALID, EXIT_OK, AgentError, BadInput, Cancelled, LoadGenError, MissingDependency,
                          ModelError)
from agent.events import EventLog
from agent.job import Job
from agent.loadgen_logs import read_detail, read_summary
from agent.result import build_result, model_sha256
from agent.sut import Harness
from agent.telemetry import Telemetry
from agent.userconf import effective_settings, render

log = logging.getLogger(__name__)

LOADGEN_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json", "mlperf_log_trace.json")
PROGRESS_INTERVAL_S = 1.0

_loadgen_used = False  # one LoadGen test per process


def prepare_out(out: str) -> str:
    """Create the output folder; refuse one that already holds a LoadGen run (never overwrite)."""
    out = os.path.abspath(out)
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, ".write-test")
        with open(probe, "w") as f:
            f.write("")
        os.remove(probe)
    except OSError as e:
        raise BadInput(f"cannot write to output folder {out}: {e.strerror or e}") from None
    for name in LOADGEN_FILES + ("result.json",):
        if os.path.exists(os.path.join(out, name)):
            raise BadInput(f"output folder {out} already holds a run ({name}); give an empty folder")
    return out


def write_json(path: str, data: Dict[str, Any]) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


class Pass:
    """Runs one job into one output folder."""

    def __init__(self, job: Job, out: str) -> None:
        self.job = job
        self.out = prepare_out(out)
        self.events = EventLog(os.path.join(self.out, "events.jsonl"))
        self.started_ns = time.time_ns()
        self.backend: Optional[Backend] = None
        self.calibration: Dict[str, float] = {}
        self.settings: Dict[str, float] = {}
        self.harness: Optional[Harness] = None
        self.telemetry: Optional[Telemetry] = None
        self.telemetry_rows = 0

    def run(self) -> Dict[str, Any]:
        """Run the pass; always leaves a result.json saying how it ended."""
        job = self.job
        self.events.emit(protocol.EVENT_STARTED, scenario=job.scenario, mode=job.mode, model=job.model, pid=os.getpid())
        try:
            result = self._run()
        except AgentError as e:
            self._record_failure(e)
            raise
        except Exception as e:  # a bug: still leave a result.json, then one line for the user
            log.debug("internal error", exc_info=True)
            error = AgentError(f"internal error: {type(e).__name__}: {e}")
            self._record_failure(error)
            raise error from e
        finally:
            self._stop_telemetry()
            if self.backend is not None:
                self.backend.close()
        write_json(os.path.join(self.out, "result.json"), result)
        self.events.emit(protocol.EVENT_FINISHED, status=result["status"], reasons=result["validity_reasons"])
        self.events.close()
        return result

    def _record_failure(self, error: AgentError) -> None:
        status = protocol.RESULT_CANCELLED if isinstance(error, Cancelled) else protocol.RESULT_FAILED
        result = self.failure(str(error), status)
        result["error"] = error_kind(error)
        write_json(os.path.join(self.out, "result.json"), result)
        self.events.emit(protocol.EVENT_FAILED, status=status, reason=str(error), error=result["error"])
        self.events.close()

    def failure(self, reason: str, status: str = protocol.RESULT_FAILED) -> Dict[str, Any]:
        """A result.json for a pass that did not produce a LoadGen result."""
        return {
            "status": status,
            "reason": reason,
            "job": self.job.to_json(),
            "started_ns": self.started_ns,
            "ended_ns": time.time_ns(),
            "agent_version": __version__,
            "python": platform.python_version(),
        }

    def _run(self) -> Dict[str, Any]:
        global _loadgen_used
        job = self.job
        if job.audit_config is not None and not os.path.isfile(job.audit_config):
            # LoadGen would run without it, silently: a compliance test that tests nothing
            raise BadInput(f"audit config not found: {job.audit_config}")
        lg = require("mlperf_loadgen", "loadgen")
        self.events.emit(protocol.EVENT_PHASE, phase="loading")
        self.backend = backend = open_backend(job.model, job.backend, job.threads, job.backend_options)
        dataset = open_dataset(job.dataset, backend.inputs)
        if job.telemetry_interval_s > 0:
            self.telemetry = Telemetry(os.path.join(self.out, "telemetry.csv"), job.telemetry_interval_s)
            self.telemetry.start()
        hints = self._hints(backend, dataset)
        self.settings = effective_settings(job.profile, job.scenario, hints, job.settings)
        conf_path = os.path.join(self.out, "user.conf")
        with open(conf_path, "w", encoding="utf-8") as f:
            f.write(render(job.loadgen_model, job.scenario, self.settings, notes=["written by edgepower agent"]))
        if _loadgen_used:
            raise LoadGenError("one LoadGen test per process: this process already ran one")
        _loadgen_used = True
        settings = lg.TestSettings()
        rc = settings.FromConfig(conf_path, job.loadgen_model, job.scenario)
        if rc != 0:
            raise LoadGenError(f"LoadGen rejected {conf_path} (FromConfig returned {rc})")
        settings.scenario = getattr(lg.TestScenario, job.scenario)
        settings.mode = lg.TestMode.AccuracyOnly if job.mode == "accuracy" else lg.TestMode.PerformanceOnly
        self._run_loadgen(lg, settings, backend, dataset)
        self._stop_telemetry()
        return self._result(dataset)

    def _stop_telemetry(self) -> None:
        if self.telemetry is not None:
            self.telemetry.stop()
            self.telemetry_rows = self.telemetry.rows
            self.telemetry = None

    def _hints(self, backend: Backend, dataset: Dataset) -> Dict[str, float]:
        job = self.job
        key = "target_latency" if job.scenario == "SingleStream" else "target_qps"
        if key in job.settings or job.mode == "accuracy" or job.calibration_s <= 0:
            return {}
        self.events.emit(protocol.EVENT_PHASE, phase="calibrating", seconds=job.calibration_s)
        self.calibration = calibrate(backend, dataset, job.scenario, job.batch_size, job.calibration_s)
        return {key: self.calibration[key]}

    def _run_loadgen(self, lg: Any, settings: Any, backend: Backend, dataset: Dataset) -> None:
        job = self.job
        harness = self.harness = Harness(lg, backend, dataset, job.scenario, job.batch_size, job.postprocess)
        total = dataset.count
        perf_count = min(total, job.performance_sample_count or total)
        log_settings = lg.LogSettings()
        log_settings.log_output.outdir = self.out
        log_settings.log_output.copy_summary_to_stdout = False
        log_settings.enable_trace = False
        # LoadGen reads audit.config from the working folder by default; a stale one there would
        # silently change the run. Use the job's own, or a path that cannot exist.
        audit = job.audit_config or os.path.join(self.out, "no-audit.config")
        sut = lg.ConstructSUT(harness.issue_queries, harness.flush_queries)
        qsl = lg.ConstructQSL(total, perf_count, harness.load_samples, harness.unload_samples)
        harness.start()
        self.events.emit(protocol.EVENT_PHASE, phase="loadgen", settings=self.settings)
        failure: list = []

        def test() -> None:
            try:
                lg.StartTestWithLogSettings(sut, qsl, settings, log_settings, audit)
            except BaseException as e:  # surfaced below, in the main thread
                failure.append(e)

        # LoadGen runs in a thread so that the main thread stays free for signals (cancel).
        worker = threading.Thread(target=test, name="loadgen")
        cwd = os.getcwd()
        os.chdir(self.out)
        try:
            worker.start()
            while worker.is_alive():
                worker.join(PROGRESS_INTERVAL_S)
                self.events.emit(
                    protocol.EVENT_PROGRESS,
                    completed_samples=harness.completed_samples,
                    elapsed_s=round((time.time_ns() - self.started_ns) / 1e9, 3),
                )
        finally:
            os.chdir(cwd)
            # After a cancel LoadGen is still running in its thread: its handles must outlive it,
            # and the process exits without waiting for it.
            if not worker.is_alive():
                harness.stop()
                lg.DestroyQSL(qsl)
                lg.DestroySUT(sut)
        if failure:
            raise LoadGenError(f"LoadGen failed: {failure[0]}")
        if harness.error is not None:
            raise AgentError(f"inference failed during the run: {harness.error}")

    def _result(self, dataset: Dataset) -> Dict[str, Any]:
        job = self.job
        assert self.backend is not None and self.harness is not None
        detail_path = os.path.join(self.out, "mlperf_log_detail.txt")
        summary_path = os.path.join(self.out, "mlperf_log_summary.txt")
        if not os.path.exists(detail_path) or not os.path.exists(summary_path):
            raise LoadGenError(f"LoadGen wrote no logs in {self.out}")
        result = build_result(
            job=job,
            detail=read_detail(detail_path),
            summary=read_summary(summary_path),
            harness=self.harness,
            backend=self.backend,
            calibration=self.calibration,
            settings=self.settings,
            model_sha256=model_sha256(job.model),
            started_ns=self.started_ns,
        )
        result["telemetry_rows"] = self.telemetry_rows
        if job.mode == "accuracy":
            self.events.emit(protocol.EVENT_PHASE, phase="accuracy")
            result["accuracy"] = self._accuracy(dataset)
        return result

    def _accuracy(self, dataset: Dataset) -> Optional[Dict[str, Any]]:
        from agent.accuracy import score_classification

        if not dataset.has_labels or self.job.postprocess != "argmax":
            return None
        labels = [dataset.label(i) for i in range(dataset.count)]
        return score_classification(
            os.path.join(self.out, "mlperf_log_accuracy.json"),
            labels,
            label_offset=self.job.label_offset,
            out_path=os.path.join(self.out, "accuracy.txt"),
        )


def error_kind(error: AgentError) -> str:
    """The protocol's name for the kind of a failure (protocol.ERROR_*)."""
    for kind, name in ((Cancelled, protocol.ERROR_CANCELLED), (ModelError, protocol.ERROR_MODEL),
                       (MissingDependency, protocol.ERROR_MISSING), (BadInput, protocol.ERROR_BAD_INPUT),
                       (LoadGenError, protocol.ERROR_LOADGEN)):
        if isinstance(error, kind):
            return name
    return protocol.ERROR_FAILED


def exit_code(result: Dict[str, Any]) -> int:
    """The process exit code for a finished pass."""
    return EXIT_OK if result.get("status") == protocol.RESULT_OK else EXIT_INVALID
