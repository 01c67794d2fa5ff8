"""The lab's devices for a front end: rows with reachability, a device check, power modes, an analyzer's idle power.

Every function returns a frozen dataclass and never raises for what the lab can get wrong (an
unreachable host, an unknown key, a board without power modes, an analyzer that is not there): the
error is a one-line `error` (or `reason`) field, so a screen shows it as text.
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

from devices.errors import DeviceError
from devices.inventory import Device, load_inventory
from devices.profiles import profile_for
from director.deploy import check_device as check_python, deploy_agent
from director.errors import DirectorError
from director.power_setup import open_bound_analyzer
from director.session import wait_for_reboot
from director.ssh import transport_for
from director.transport import Transport
from power.errors import PowerError
from power.monitor import PowerMonitor

log = logging.getLogger(__name__)

PROBE_CONNECT_S = 3.0  # a probe must not hold a screen: an unreachable bench says so within this
FAULTS = (DirectorError, DeviceError, PowerError)


@dataclass(frozen=True)
class DeviceRow:
    """One device of the inventory and, once probed, whether it answers, its power mode and temperature (°C).

    reachable is None before the probe; reason is the one line why it is not reachable (or why the
    mode or temperature could not be read); answer_ms is the probe's round trip.
    """

    name: str
    kind: str
    where: str
    profile: str
    analyzer: Optional[str]
    reachable: Optional[bool] = None
    reason: str = ""
    power_mode: Optional[str] = None
    temperature_c: Optional[float] = None
    answer_ms: Optional[float] = None


@dataclass(frozen=True)
class DeviceListing:
    """The devices of the inventory (rows), or why the inventory could not be read (error)."""

    rows: Tuple[DeviceRow, ...]
    inventory: str
    error: str = ""


@dataclass(frozen=True)
class DeviceCheck:
    """What `director devices check` reports: the agent's path, Python, runtimes, board facts, power modes."""

    name: str
    ok: bool
    error: str = ""
    agent_path: str = ""
    python_version: str = ""
    executable: str = ""
    runtimes: Tuple[str, ...] = ()
    missing: Tuple[str, ...] = ()
    install: str = ""
    facts: Tuple[Tuple[str, str], ...] = ()
    power_modes: Tuple[str, ...] = ()


@dataclass(frozen=True)
class PowerModes:
    """A board's power modes (its names, then the inventory's aliases) and the one in force."""

    name: str
    modes: Tuple[str, ...]
    current: Optional[str]
    error: str = ""


@dataclass(frozen=True)
class PowerModeResult:
    """How setting a power mode went: the mode now verified in force, whether the board rebooted, or why not."""

    name: str
    mode: str
    ok: bool
    message: str
    rebooted: bool = False


@dataclass(frozen=True)
class IdlePower:
    """An analyzer read for a few seconds: the latest W, the recent samples (UTC ns, W), or why not."""

    analyzer: str
    latest_w: Optional[float]
    samples: Tuple[Tuple[int, float], ...] = ()
    error: str = ""

    @property
    def average_w(self) -> Optional[float]:
        """Mean of the readable samples (W)."""
        watts = [w for _, w in self.samples if not math.isnan(w)]
        return sum(watts) / len(watts) if watts else None


def _where(device: Device) -> str:
    if device.is_local:
        return "this machine"
    return f"{device.user + '@' if device.user else ''}{device.host}:{device.port}"


def _row(device: Device) -> DeviceRow:
    return DeviceRow(device.name, device.kind, _where(device), device.profile,
                     device.analyzer.name if device.analyzer else None)


def _open(device: Device, known_hosts: Optional[str], connect_timeout_s: float = 10.0) -> Transport:
    return transport_for(device, known_hosts=known_hosts, connect_timeout_s=connect_timeout_s,
                         auth_timeout_s=max(connect_timeout_s, 5.0))


def list_devices(inventory: Optional[str] = None) -> DeviceListing:
    """The inventory's devices (and the built-in `local`), not probed yet."""
    try:
        found = load_inventory(inventory)
        rows = tuple(_row(device) for device in found.devices(include_ssh_aliases=False))
        return DeviceListing(rows, str(found.path or "built-ins only"))
    except FAULTS as e:
        return DeviceListing((), str(inventory or ""), str(e))


def probe_device(name: str, inventory: Optional[str] = None, known_hosts: Optional[str] = None,
                 connect_timeout_s: float = PROBE_CONNECT_S) -> DeviceRow:
    """Reach one device (a short connect timeout): its row with reachability, power mode and hottest zone."""
    try:
        device = load_inventory(inventory).get(name)
    except FAULTS as e:
        return DeviceRow(name, "?", "?", "?", None, False, str(e))
    row = _row(device)
    started = time.monotonic()
    try:
        with _open(device, known_hosts, connect_timeout_s) as transport:
            transport.run_check(["true"], timeout_s=connect_timeout_s + 5.0)
            answer_ms = round((time.monotonic() - started) * 1000, 1)
            profile = profile_for(device, transport)
            notes: List[str] = []
            mode = temperature = None
            try:
                current = profile.current_power_mode()
                mode = current.name if current is not None else None
            except FAULTS as e:
                notes.append(f"power mode: {e}")
            try:
                temps = profile.temperatures_c()
                temperature = max(temps.values()) if temps else None
            except FAULTS as e:
                notes.append(f"temperature: {e}")
    except FAULTS as e:
        return DeviceRow(row.name, row.kind, row.where, row.profile, row.analyzer, False, str(e))
    return DeviceRow(row.name, row.kind, row.where, row.profile, row.analyzer, True, "; ".join(notes), mode,
                     temperature, answer_ms)


def probe_devices(inventory: Optional[str] = None, known_hosts: Optional[str] = None,
                  connect_timeout_s: float = PROBE_CONNECT_S) -> DeviceListing:
    """Every device probed at once (in parallel), so one dead bench costs the list one connect timeout."""
    listing = list_devices(inventory)
    if listing.error or not listing.rows:
        return listing
    with ThreadPoolExecutor(max_workers=min(8, len(listing.rows))) as pool:
        rows = list(pool.map(lambda row: probe_device(row.name, inventory, known_hosts, connect_timeout_s),
                             listing.rows))
    return DeviceListing(tuple(rows), listing.inventory)


def check_device(name: str, inventory: Optional[str] = None, known_hosts: Optional[str] = None) -> DeviceCheck:
    """Reach the device, deploy the agent, report its Python, runtimes, board facts and power modes."""
    try:
        device = load_inventory(inventory).get(name)
        with _open(device, known_hosts) as transport:
            deployed = deploy_agent(transport)
            report = check_python(transport, device.python, require=False)
            profile = profile_for(device, transport)
            facts = profile.facts()
            modes = tuple(m.name for m in profile.power_modes())
    except FAULTS as e:
        return DeviceCheck(name, False, str(e))
    hottest = max((z.temp_c for z in facts.thermal if not math.isnan(z.temp_c)), default=None)
    shown = (
        ("board", facts.model or "-"), ("os", facts.os_name or "-"), ("kernel", f"{facts.kernel} {facts.arch}"),
        ("cpus", str(facts.cpu_online_count)), ("governors", ", ".join(sorted(set(facts.governors.values()))) or "-"),
        ("hottest", f"{hottest:.1f} C" if hottest is not None else "no thermal zone"),
    )
    error = "" if report.ok else f"missing {', '.join(report.missing)}; {report.install}"
    return DeviceCheck(name, report.ok, error, deployed, report.python_version, report.executable,
                       report.runtimes, report.missing, report.install, shown, modes)


def power_modes(name: str, inventory: Optional[str] = None, known_hosts: Optional[str] = None) -> PowerModes:
    """The modes a board offers (none on plain Linux) and the one in force."""
    try:
        device = load_inventory(inventory).get(name)
        with _open(device, known_hosts) as transport:
            profile = profile_for(device, transport)
            modes = [m.name for m in profile.power_modes()]
            current = profile.current_power_mode()
    except FAULTS as e:
        return PowerModes(name, (), None, str(e))
    aliases = [alias for alias in device.power_modes if alias not in modes]
    if not modes:
        return PowerModes(name, (), None, f"{name}: profile {device.profile!r} has no power modes")
    return PowerModes(name, tuple(modes + aliases), current.name if current is not None else None)


def set_power_mode(name: str, mode: str, inventory: Optional[str] = None, known_hosts: Optional[str] = None,
                   reboot_timeout_s: float = 300.0, on_step: Optional[Callable[[str], None]] = None) -> PowerModeResult:
    """Switch the board to MODE and verify it, as a run does: a mode that needs a reboot gets one, then the
    new boot_id and the mode are checked. on_step hears each step ("rebooting ...") as it starts."""
    say = on_step or (lambda text: None)
    try:
        device = load_inventory(inventory).get(name)
        with _open(device, known_hosts) as transport:
            profile = profile_for(device, transport)
            say(f"setting {mode} on {name}")
            change = profile.set_power_mode(mode)
            rebooted = False
            if change.needs_reboot:
                say(f"{mode} needs a reboot: rebooting {name} and waiting for it")
                old_boot_id = profile.reboot()
                profile = wait_for_reboot(device, transport, old_boot_id, reboot_timeout_s)
                rebooted = True
            verified = profile.verify_power_mode(mode)
    except FAULTS as e:
        return PowerModeResult(name, mode, False, str(e))
    if not change.changed:
        return PowerModeResult(name, verified.name, True, f"{name} was already in {verified.name}")
    how = " after a reboot" if rebooted else ""
    return PowerModeResult(name, verified.name, True,
                           f"{name}: {change.from_mode.name} -> {verified.name}{how}, verified", rebooted)


def idle_power(analyzer: str, inventory: Optional[str] = None, seconds: float = 2.0,
               keep: int = 120) -> IdlePower:
    """Open the analyzer, read it for SECONDS (what the bench draws now), close it; the latest W and samples."""
    try:
        binding = load_inventory(inventory).analyzer(analyzer)
        opened = open_bound_analyzer(binding)
    except FAULTS as e:
        return IdlePower(analyzer, None, (), str(e))
    monitor = PowerMonitor(opened.analyzer, accuracy=opened.accuracy)
    try:
        monitor.start()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.05)
        monitor.stop()
    except FAULTS as e:
        return IdlePower(analyzer, None, _watts(monitor, keep), f"analyzer {analyzer}: {e}")
    finally:
        opened.close()
    samples = _watts(monitor, keep)
    if not samples:
        return IdlePower(analyzer, None, (), f"analyzer {analyzer} sent no samples in {seconds:g} s")
    return IdlePower(analyzer, samples[-1][1], samples)


def idle_powers(analyzers: Sequence[str], inventory: Optional[str] = None,
                seconds: float = 2.0) -> Tuple[IdlePower, ...]:
    """Several analyzers read at once (each opened, read and closed on its own)."""
    names = list(analyzers)
    if not names:
        return ()
    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        return tuple(pool.map(lambda name: idle_power(name, inventory, seconds), names))


def _watts(monitor: PowerMonitor, keep: int) -> Tuple[Tuple[int, float], ...]:
    samples = monitor.samples()[-keep:]
    return tuple((s.t_end_ns, s.power_w if s.ok else math.nan) for s in samples)
