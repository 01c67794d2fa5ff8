"""The measured session, the one state machine that touches both the device and the analyzer.

preflight (device facts, analyzer identity, clocks) → settle → idle baseline → ranging pass on
auto ranges → testing pass on the ranges chosen from ranging → clocks again → figures, checks,
the result folder and a database row. The analyzer streams the whole time from its own thread,
every sample flushed to samples.csv as it arrives; run.json is written however the session ends,
so nothing already measured is lost. It is first written at the start (status "running") and again at
each phase, so a director killed outright leaves beside its samples what it was measuring and where it
was. A failed session stays failed, with its reason.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from devices.errors import DeviceError
from devices.inventory import Device, load_inventory
from devices.profiles import profile_for
from director import clocksync
from director.agent_client import AgentClient, DeviceLink, agent_for
from director.errors import (AuthenticationError, BadInput, Cancelled, DirectorError, HostKeyError, PassFailed,
                             TransportError)
from director.figures import PassFigures, all_checks, check_json, official_check, pass_figures, power_consistency
from director.gcquiet import quiet_gc
from director.passes import fetch_pass_files, file_sha256, run_pass, stage_model
from director.power_setup import OpenAnalyzer, describe, open_bound_analyzer
from director.resultdir import plot_run, sanitize, summary_row, write_json, write_run_spl
from director.run_recovery import lock_run_folder
from director.runspec import RunSpec, check_loadgen_model, check_model
from director.ssh import transport_for
from director.store import open_store
from director.store_engine import redact_url, store_target
from director.transport import Transport
from power.analyzer import AUTO
from power.checks import Check, CheckStatus, worst
from power.errors import PowerError
from power.monitor import PowerMonitor
from power.ranging import choose_ranges

log = logging.getLogger(__name__)

REBOOT_POLL_S = 2.0


@dataclass(frozen=True)
class Progress:
    """What the session is doing now, for a display: phase, times (s), the latest wall power (W)."""

    phase: str
    elapsed_s: float
    eta_s: Optional[float]
    live_w: Optional[float]
    detail: str = ""


class Session:
    """Runs one RunSpec end to end; run() returns run.json's content.

    With a DeviceLink the session uses that open connection and agent, and with a lent analyzer that
    analyzer, and leaves them open; otherwise it opens and closes its own.
    """

    def __init__(self, spec: RunSpec, on_progress: Optional[Callable[[Progress], None]] = None,
                 link: Optional[DeviceLink] = None, lent_analyzer: Optional[OpenAnalyzer] = None) -> None:
        self.spec = spec
        self.link = link
        self.lent_analyzer = lent_analyzer
        self.on_progress = on_progress or (lambda progress: None)
        self.started_ns = time.time_ns()
        self._t0 = time.monotonic()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.started_ns / 1e9))
        self.run_id = f"{stamp}-{spec.device}-{spec.scenario}-{secrets.token_hex(2)}"
        self.folder = os.path.abspath(os.path.join(spec.results, self.run_id))
        self.phase = "starting"
        self.checks: List[Check] = []
        self.syncs: List[clocksync.ClockSync] = []
        self.record: Dict[str, Any] = {}
        self.monitor: Optional[PowerMonitor] = None
        self._analyzer: Optional[OpenAnalyzer] = None
        self._transport: Optional[Transport] = None
        self._client: Optional[AgentClient] = None
        self._cancel_reason: Optional[str] = None
        self._lock: Optional[int] = None

    def cancel(self, reason: str = "cancelled") -> None:
        """Ask the session to stop at its next step (from another thread); a running pass is cancelled
        on the device too, and run() raises Cancelled with the reason."""
        self._cancel_reason = reason

    # -- progress ---------------------------------------------------------------------------------
    def _progress(self, phase: Optional[str] = None, detail: str = "") -> None:
        if self._cancel_reason is not None:
            raise Cancelled(self._cancel_reason)
        if phase:
            if phase != self.phase:
                self.phase = phase
                self._save()
            log.info("%s: %s %s", self.run_id, phase, detail)
        elapsed = time.monotonic() - self._t0
        live = None
        if self.monitor is not None and self.monitor.latest() is not None:
            live = self.monitor.latest_w
        self.on_progress(Progress(self.phase, elapsed, max(0.0, self.spec.expected_s() - elapsed), live, detail))

    def _wait(self, seconds: float, detail: str = "") -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
            self._progress(detail=detail)

    # -- the session ------------------------------------------------------------------------------
    def run(self) -> Dict[str, Any]:
        """Run the session; always writes run.json once started; raises when it failed.

        Bad input (an unknown device or analyzer, a missing model or one of another format, a LoadGen
        model name or a database URL that cannot work) is refused before anything starts, and leaves
        no result folder behind.
        """
        spec = self.spec
        quiet_gc()
        inventory = load_inventory(spec.inventory)
        self.device = inventory.get(spec.device)
        self.binding = inventory.analyzer(spec.analyzer) if spec.analyzer else self.device.analyzer
        if self.binding is None:
            raise BadInput(f"device {self.device.name} has no analyzer; give one with --analyzer (e.g. sim)")
        check_model(spec.model, spec.runtime)
        check_loadgen_model(spec.loadgen_model)
        store_target(spec.database or os.path.join(spec.results, "results.db"))  # a bad URL now, not after the run
        try:
            os.makedirs(self.folder)
            self._lock = lock_run_folder(self.folder)
        except OSError as e:
            raise BadInput(f"cannot create the result folder {self.folder}: {e.strerror or e}") from e
        self.record = {
            "run_id": self.run_id,
            "started_ns": self.started_ns,
            "folder": self.folder,
            "host": socket.gethostname(),
            "scenario": spec.scenario,
            "mode": spec.mode,
            "label": spec.label,
            "spec": sanitize({**spec.__dict__, "database": redact_url(spec.database) if spec.database else spec.database}),
            "conformant": spec.conformant,
            "power_mode": spec.power_mode,
            "passes": {},
            "status": "running",
        }
        self._save()
        error: Optional[BaseException] = None
        try:
            self._run()
        except (DirectorError, DeviceError, PowerError, KeyboardInterrupt) as e:
            error = e
            self.record["status"] = "cancelled" if isinstance(e, Cancelled) else "failed"
            self.record["reason"] = f"{self.phase}: {e}" if not isinstance(e, KeyboardInterrupt) else "interrupted"
        finally:
            self._shutdown()
            unwritten = self._finish()
            os.close(self._lock)
        if error is None and unwritten is not None:  # measured, but its record could not be kept
            error = unwritten
            self.record["status"], self.record["reason"] = "failed", str(unwritten)
        if error is not None:
            raise error
        return self.record

    def _run(self) -> None:
        spec = self.spec
        self._progress("preflight", "device")
        device, binding = self.device, self.binding
        self.record["device"] = device.describe()
        self.record["model"] = {"path": os.path.abspath(spec.model), "sha256": _sha(spec.model)}
        if self.link is not None:
            self._transport, self._client = transport, client = self.link.transport, self.link.client
        else:
            self._transport = transport = transport_for(
                device, trust_host=spec.trust_host, replace_host_key=spec.replace_host_key, known_hosts=spec.known_hosts
            )
            self._progress(detail="agent")
            client = self._client = agent_for(transport, device.python, device.workdir, env=dict(device.env))
        profile = profile_for(device, transport)
        if spec.power_mode:
            profile = self._set_power_mode(device, profile)
        self.record["device"]["facts"] = _facts(profile)
        self.record["device"]["agent_info"] = client.info()
        model_path = stage_model(transport, spec.model, device.workdir)
        self._progress(detail="analyzer")
        self._analyzer = self.lent_analyzer or open_bound_analyzer(binding)
        self.record["analyzer"] = describe(self._analyzer)
        self._sync("preflight")
        self.monitor = PowerMonitor(
            self._analyzer.analyzer, samples_csv=os.path.join(self.folder, "samples.csv"), accuracy=self._analyzer.accuracy
        )
        # Auto ranges until ranging ends: the idle baseline is then read on a range that fits it.
        self._analyzer.analyzer.set_ranges(AUTO, AUTO)
        self.monitor.start()
        self._settle(profile)
        self._idle()
        job = spec.job(model_path)
        ranging: Optional[PassFigures] = None
        if "ranging" in spec.passes:
            ranging = self._pass("ranging", job)
            self._choose_ranges(ranging)
        elif spec.ranges is not None:
            self._set_ranges(*spec.ranges)
        testing = self._pass("run_1", job)
        first, last = self.syncs[0], self.syncs[-1]
        self.record["clock"] = {"before": first.to_json(), "after": last.to_json(),
                                "drift_ns_per_s": clocksync.drift(first, last)}
        if ranging is not None:
            self.checks.append(power_consistency(ranging, testing))
        self.record["status"] = self._verdict(testing)

    # -- phases -----------------------------------------------------------------------------------
    def _set_power_mode(self, device: Device, profile: Any) -> Any:
        """Switch the board's power mode by name; a mode that needs it gets a reboot, a wait, a check."""
        name = self.spec.power_mode
        self._progress("power mode", name or "")
        change = profile.set_power_mode(name)
        rebooted = False
        if change.needs_reboot:
            self._progress(detail=f"{name} needs a reboot")
            assert self._client is not None
            self._client.close()  # serve goes down with the board; a new one starts once it is back
            old_boot_id = profile.reboot()
            profile = self._wait_for_reboot(device, old_boot_id)
            self._client.open()
            rebooted = True
        mode = profile.verify_power_mode(name)
        self.record["power_mode_change"] = {
            "from": getattr(change.from_mode, "name", change.from_mode),
            "to": getattr(mode, "name", str(mode)),
            "rebooted": rebooted,
        }
        return profile

    def _wait_for_reboot(self, device: Device, old_boot_id: str) -> Any:
        assert self._transport is not None
        return wait_for_reboot(device, self._transport, old_boot_id, self.spec.reboot_timeout_s,
                               lambda seconds: self._wait(seconds, "waiting for the board to come back"))

    def _settle(self, profile: Any) -> None:
        spec = self.spec
        self._progress("settle", f"{spec.settle_s:g} s")
        self._wait(spec.settle_s, "settling")
        if spec.max_temp_c is not None:
            result = profile.settle_until(spec.max_temp_c, spec.settle_timeout_s)
            self.record["settle"] = getattr(result, "__dict__", str(result))

    def _idle(self) -> None:
        """Measure the idle baseline's window now; its figure is computed once its last samples are in
        (the analyzer delivers them about half a second late), so the first pass need not wait for them."""
        assert self.monitor is not None
        if self.spec.idle_w is not None:
            self._progress("idle", f"{self.spec.idle_w:.3f} W reused from {self.spec.idle_from or 'an earlier run'}")
            self.record["idle"] = {"average_w": self.spec.idle_w, "reused_from": self.spec.idle_from}
            self.idle_w: Optional[float] = self.spec.idle_w
            return
        self._progress("idle", f"{self.spec.idle_s:g} s baseline")
        t0 = time.time_ns()
        self._wait(self.spec.idle_s, "idle baseline")
        self._idle_window = (t0, time.time_ns())

    def _idle_figure(self) -> Optional[float]:
        """The idle baseline (W), computed from its window the first time it is asked for."""
        if getattr(self, "idle_w", None) is None and getattr(self, "_idle_window", None) and self.monitor is not None:
            t0, t1 = self._idle_window
            idle = self.monitor.window(t0, t1, key="idle")
            self.record["idle"] = {"average_w": idle.average_w, "duration_s": idle.duration_s,
                                   "checks": [check_json(c) for c in idle.checks]}
            self.idle_w = idle.average_w
        return getattr(self, "idle_w", None)

    def _sync(self, detail: str) -> clocksync.ClockSync:
        """Measure the device's clock offset now (about 20 ms of pings over the agent channel)."""
        assert self._client is not None
        self._progress(detail=f"clock sync {detail}")
        try:
            sync = clocksync.measure(self._client, pings=self.spec.clock_pings)
        except (HostKeyError, AuthenticationError):
            raise
        except TransportError as e:  # a dropped link: the pings are cheap, measure again on a new one
            log.warning("%s: link dropped during the clock sync (%s); reconnecting", self.run_id, e)
            self._client.reconnect()
            sync = clocksync.measure(self._client, pings=self.spec.clock_pings)
        self.syncs.append(sync)
        return sync

    def _pass(self, name: str, job: Dict[str, Any]) -> PassFigures:
        """One pass, bracketed by clock measurements; its window mapped with the offset between them."""
        assert self.monitor is not None and self._client is not None and self._transport is not None
        self._progress(name, "starting")
        sync_before = self._sync(f"{name} start")

        def on_event(event: Dict[str, Any]) -> None:
            detail = event.get("phase") or event.get("event", "")
            if event.get("event") == "progress":
                detail = f"{event.get('completed_samples', 0)} samples"
            self._progress(detail=f"{name}: {detail}")

        pass_id = f"{self.run_id}-{name}"
        try:
            outcome = run_pass(self._client, name, job, pass_id, on_event, time.time_ns)
        except Cancelled:
            self._cancel_pass(pass_id)
            raise
        local = os.path.join(self.folder, name)
        fetch_pass_files(self._transport, outcome.folder, local)
        entry: Dict[str, Any] = {
            "state": outcome.state, "device_folder": outcome.folder, "agent": outcome.result,
            "host_started_ns": outcome.host_started_ns, "host_ended_ns": outcome.host_ended_ns,
        }
        self.record["passes"][name] = entry
        if not outcome.succeeded:
            reason = (outcome.result or {}).get("reason") or f"the pass ended {outcome.state}"
            kind = (outcome.result or {}).get("error") or ("lost" if outcome.state == "lost" else "failed")
            raise PassFailed(f"{name} pass failed on the device: {reason}", kind)
        result = outcome.result
        assert result is not None
        # Drift during a long pass is a few ppm of its length: interpolate at the window's middle.
        sync_after = self._sync(f"{name} end")
        window = result["window"]
        middle = (window["first_issue_ns"] + window["last_complete_ns"]) // 2 - sync_before.offset_ns
        offset_ns = clocksync.offset_at(sync_before, sync_after, middle)
        spec = self.spec
        check = clocksync.check(sync_before, sync_after, warn_ns=int(spec.clock_warn_ms * 1e6),
                                fail_ns=int(spec.clock_fail_ms * 1e6), name=f"clock_sync_{name}")
        self.checks.append(check)
        entry["clock"] = {"before": sync_before.to_json(), "after": sync_after.to_json(), "offset_ns": offset_ns}
        self.monitor.wait_for(window["last_complete_ns"] - offset_ns, 5.0)
        samples = self.monitor.samples()
        # Kept in run.json at once: should the director die now, the next run writes this pass's spl.txt.
        entry["spl_window"] = {"start_ns": outcome.host_started_ns, "end_ns": outcome.host_ended_ns,
                               "offset_ns": offset_ns}
        self._save()
        figures = pass_figures(name, result, samples, offset_ns, self._idle_figure(), self._analyzer.accuracy)
        entry["figures"] = figures.to_json()
        entry["checks"] = [check_json(official_check(figures))]
        self._progress(detail=f"{name}: {figures.average_w:.3f} W over {figures.energy.duration_s:.1f} s")
        return figures

    def _cancel_pass(self, pass_id: str) -> None:
        """Stop a detached pass on the device, so a cancelled session leaves no work running there."""
        assert self._client is not None
        try:
            self._client.cancel(pass_id)
        except DirectorError as e:
            log.warning("%s: could not cancel %s on the device: %s", self.run_id, pass_id, e)

    def _choose_ranges(self, ranging: PassFigures) -> None:
        assert self.monitor is not None and self._analyzer is not None
        inside = [s for s in self.monitor.samples() if ranging.t0_ns <= s.t_end_ns <= ranging.t1_ns]
        choice = choose_ranges(inside, self._analyzer.config.model, current_floor_a=self.spec.current_floor_a,
                               accuracy=self._analyzer.accuracy)
        self.record["ranges"] = sanitize(dict(choice.__dict__, source="ranging"))
        for warning in choice.warnings:
            self.checks.append(Check("ranging", CheckStatus.WARN, warning))
        self._set_ranges(choice.voltage_range_v, choice.current_range_a)

    def _set_ranges(self, voltage_v: float, current_a: float) -> None:
        assert self._analyzer is not None
        ranges = self._analyzer.analyzer.set_ranges(voltage_v, current_a)
        self.record.setdefault("ranges", {"source": "given"})
        self.record["ranges"].update({"voltage_range_v": ranges.voltage_v, "current_range_a": ranges.current_a})

    def _verdict(self, testing: PassFigures) -> str:
        agent = self.record["passes"]["run_1"]["agent"]
        if self.spec.mode == "accuracy":
            # MLPerf takes no power figure from accuracy mode: its samples are kept, not judged.
            line = (agent.get("accuracy") or {}).get("line")
            self.checks.append(Check("accuracy", CheckStatus.PASS if line else CheckStatus.WARN,
                                     line or "no accuracy.txt: the dataset has no labels"))
        else:
            self.checks.extend(testing.energy.checks)
        if not self.spec.conformant:
            self.checks.append(Check("mlperf_conformance", CheckStatus.WARN, self.spec.why_not_conformant()))
        if agent.get("status") != "ok":
            self.checks.append(Check("loadgen_validity", CheckStatus.FAIL, "; ".join(agent.get("validity_reasons") or [])))
            return "invalid"
        return "ok" if worst(self.checks) is not CheckStatus.FAIL else "checks_failed"

    # -- the end ----------------------------------------------------------------------------------
    def _shutdown(self) -> None:
        if self.monitor is not None:
            try:
                self._idle_figure()  # a session that failed before its first pass still records its baseline
            except PowerError as e:
                log.warning("idle baseline: %s", e)
            try:
                self.monitor.stop()
            except Exception as e:  # the analyzer's own error; what was sampled is already on disk
                log.warning("stopping the analyzer: %s", e)
        if self._analyzer is not None and self.lent_analyzer is None:  # a lent analyzer stays open too
            self._analyzer.close()
        if self.link is None:  # a lent link stays open for the next session
            if self._client is not None:
                self._client.close()
            if self._transport is not None:
                self._transport.close()

    def _save(self) -> None:
        """run.json as the session stands now (status "running"): a trace should the director be killed."""
        if not self.record:
            return
        self.record["phase"] = self.phase
        try:
            write_json(os.path.join(self.folder, "run.json"), sanitize(self.record))
        except OSError as e:  # the final write reports it; measuring goes on
            log.warning("%s: cannot write run.json: %s", self.run_id, e.strerror or e)

    def _write_spl(self, samples: List[Any]) -> Optional[DirectorError]:
        """Each pass's spl.txt, written at the end so the samples after a pass's window (taken while the
        session goes on) show the window inside the sampled span; the error when one cannot be written."""
        problem = write_run_spl(self.folder, self.record, samples)
        if problem is None:
            return None
        log.error("%s: %s", self.run_id, problem)
        if self.record.get("status") not in ("failed", "cancelled"):  # an earlier reason stays first
            self.record["status"], self.record["reason"] = "failed", problem
        return DirectorError(problem)

    def _finish(self) -> Optional[DirectorError]:
        """Write each pass's spl.txt, run.json and the database row; the error when spl.txt or run.json could
        not be written (a full disk)."""
        self.record["ended_ns"] = time.time_ns()
        self.record["checks"] = all_checks(self.checks)
        samples = self.monitor.samples() if self.monitor is not None else []
        self.record["sample_count"] = len(samples)
        unwritten = self._write_spl(samples)
        if samples:
            windows = [
                (name, p["figures"]["window_host_ns"][0], p["figures"]["window_host_ns"][1])
                for name, p in self.record["passes"].items() if p.get("figures")
            ]
            try:
                plot_run(os.path.join(self.folder, "plot.png"), samples, windows,
                         (self.record.get("idle") or {}).get("average_w"), f"{self.run_id}")
            except Exception as e:  # a plot is a convenience; never lose the run over it
                log.warning("plot: %s", e)
        path = os.path.join(self.folder, "run.json")
        try:
            write_json(path, sanitize(self.record))
        except OSError as e:  # what is already in the folder (samples.csv first) stays as it is
            log.error("%s: cannot write %s: %s", self.run_id, path, e.strerror or e)
            return DirectorError(f"{self.phase}: cannot write {path}: {e.strerror or e}")
        if self.record.get("device") and self.record.get("model") and self.spec.add_row:
            try:
                store = open_store(self.spec.database or os.path.join(self.spec.results, "results.db"))
                store.add(summary_row(sanitize(self.record)))
                store.close()
            except DirectorError as e:
                log.error("%s", e)
        return unwritten


def _sha(path: str) -> Optional[str]:
    return file_sha256(path) if os.path.isfile(path) else None


def _facts(profile: Any) -> Dict[str, Any]:
    try:
        facts = profile.facts()
        return facts.to_dict() if hasattr(facts, "to_dict") else dict(facts)
    except Exception as e:  # facts are a record, not a precondition
        return {"error": str(e)}


def wait_for_reboot(device: Device, transport: Transport, old_boot_id: str, timeout_s: float,
                    wait: Callable[[float], None] = time.sleep) -> Any:
    """Reconnect until the board answers with a new boot_id; its new profile. `wait` sleeps between tries."""
    deadline = time.monotonic() + timeout_s
    last_error = "no answer"
    while time.monotonic() < deadline:
        wait(REBOOT_POLL_S)
        try:
            transport.reconnect()
            profile = profile_for(device, transport)
            if profile.boot_id() != old_boot_id:
                return profile
            last_error = "still the same boot_id"
        except (DirectorError, DeviceError) as e:
            last_error = str(e)
    raise DirectorError(f"{device.name} did not come back within {timeout_s:g} s ({last_error})")
