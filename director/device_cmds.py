"""The CLI's smaller commands: devices, analyzers, results, setup."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any, Dict, List

from devices.inventory import Device, load_inventory
from devices.profiles import profile_for
from director.deploy import check_device, deploy_agent, describe_missing, setup_device
from director.errors import AgentUnavailable, BadInput, DirectorError, TransportError
from director.power_setup import describe, open_bound_analyzer
from director.ssh import transport_for
from director.store import open_store
from director.transport import Transport


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def _transport(args: argparse.Namespace, device: Device, connect_timeout_s: float = 10.0) -> Transport:
    return transport_for(
        device, trust_host=getattr(args, "trust_host", False),
        replace_host_key=getattr(args, "replace_host_key", False), known_hosts=args.known_hosts,
        connect_timeout_s=connect_timeout_s,
    )


def list_devices(args: argparse.Namespace) -> int:
    """Every device in the inventory with whether it answers now."""
    inventory = load_inventory(args.inventory)
    rows: List[Dict[str, Any]] = []
    for device in inventory.devices(include_ssh_aliases=False):
        row = {"name": device.name, "kind": device.kind, "where": device.host or "this machine",
               "profile": device.profile, "analyzer": device.analyzer.name if device.analyzer else None}
        started = time.monotonic()
        try:
            with _transport(args, device, connect_timeout_s=5.0) as transport:
                transport.run_check(["true"], timeout_s=10)
            row.update(reachable=True, answer_ms=round((time.monotonic() - started) * 1000, 1))
        except DirectorError as e:
            row.update(reachable=False, reason=str(e))
        rows.append(row)
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        state = f"up ({row['answer_ms']} ms)" if row["reachable"] else f"DOWN: {row['reason']}"
        print(f"{row['name']:<16} {row['kind']:<5} {row['where']:<24} {row['profile']:<12} "
              f"analyzer={row['analyzer'] or '-':<8} {state}")
    return 0


def check_device_cmd(args: argparse.Namespace) -> int:
    """Reach one device, deploy the agent, report its Python, runtimes and board facts."""
    device = load_inventory(args.inventory).get(args.name)
    with _transport(args, device) as transport:
        deployed = deploy_agent(transport)
        report = check_device(transport, device.python, require=False)
        profile = profile_for(device, transport)
        facts = profile.facts()
        modes = [getattr(m, "name", str(m)) for m in profile.power_modes()]
    result = {"device": device.describe(), "agent_path": deployed,
              "report": {"python": report.python_version, "executable": report.executable,
                         "modules": dict(report.modules), "missing": list(report.missing), "install": report.install},
              "facts": facts.to_dict() if hasattr(facts, "to_dict") else facts, "power_modes": modes}
    if args.json:
        _print_json(result)
    else:
        print(f"{device.name}: reachable; agent at {deployed}")
        print(f"  python {report.python_version} ({report.executable}); runtimes: {', '.join(report.runtimes) or 'none'}")
        if report.missing:
            print(f"  missing: {', '.join(report.missing)}; {report.install}")
        if modes:
            print(f"  power modes: {', '.join(modes)}")
    if not report.ok:
        sys.stdout.flush()
        raise AgentUnavailable(describe_missing(device.name, report))
    return 0


def list_analyzers(args: argparse.Namespace) -> int:
    """Every analyzer the inventory defines, plus the built-ins."""
    inventory = load_inventory(args.inventory)
    rows = [{"name": name, "model": b.model, "url": b.url, "notes": b.notes} for name, b in sorted(inventory.analyzers.items())]
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            print(f"{row['name']:<12} {row['model']:<8} {row['url']:<28} {row['notes']}")
    return 0


def check_analyzer_cmd(args: argparse.Namespace) -> int:
    """Open one analyzer, print its identity and ranges, and stream a few samples."""
    binding = load_inventory(args.inventory).analyzer(args.name)
    opened = open_bound_analyzer(binding)
    samples: List[Any] = []
    try:
        info = describe(opened)
        opened.analyzer.start(samples.append)
        started = time.monotonic()
        while len(samples) < 5 and time.monotonic() < started + 5.0:
            time.sleep(0.05)
        opened.analyzer.stop()
        waited_s = time.monotonic() - started
    finally:
        opened.close()
    info["samples"] = [{"t_end_ns": s.t_end_ns, "power_w": s.power_w, "status": s.status.value} for s in samples]
    if args.json:
        _print_json(info)
    else:
        ident = info["identity"]
        print(f"{args.name}: {ident['vendor']} {ident['model']} serial {ident['serial']} firmware {ident['firmware']}")
        r = info["ranges"]
        print(f"  ranges {r['voltage_v']:g} V{' (auto)' if r['voltage_auto'] else ''}, "
              f"{r['current_a']:g} A{' (auto)' if r['current_auto'] else ''}")
        watts = [s.power_w for s in samples if s.ok]
        print(f"  {len(samples)} samples in {waited_s:.1f} s"
              + (f", {sum(watts) / len(watts):.3f} W average" if watts else ""))
    if not samples:
        raise DirectorError(f"analyzer {args.name} sent no samples in 5 s")
    return 0


def _store(args: argparse.Namespace) -> Any:
    """The results database; None when the default one does not exist yet (reading never creates it)."""
    if args.db:
        return open_store(args.db)
    path = os.path.join(args.results, "results.db")
    return open_store(path) if os.path.isfile(path) else None


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def list_results(args: argparse.Namespace) -> int:
    """The newest stored runs."""
    store = _store(args)
    rows = store.list(device=args.device, limit=args.limit) if store is not None else []
    if args.json:
        _print_json([r.summary for r in rows])
        return 0
    if not rows:
        print("no runs stored yet")
    for r in rows:
        s = r.summary
        print(f"{r.run_id:<44} {r.status:<13} {r.model:<20} {_fmt(s.get('avg_power_w'), '8.3f')} W  "
              f"{_fmt(s.get('energy_per_query_mj'), '9.3f')} mJ/q  {_fmt(s.get('samples_per_j'), '8.2f')} s/J")
    return 0


def show_result(args: argparse.Namespace) -> int:
    """One stored run: its row, and where its folder is."""
    store = _store(args)
    if store is None:
        raise BadInput(f"no run {args.run_id!r}: no results database at {os.path.join(args.results, 'results.db')}")
    row = store.get(args.run_id)
    if args.json:
        _print_json(row.summary)
    else:
        for key in sorted(row.summary):
            print(f"{key:<22} {row.summary[key]}")
    return 0


def setup_cmd(args: argparse.Namespace) -> int:
    """Make a venv on the device and install what the agent needs there."""
    device = load_inventory(args.inventory).get(args.device)
    if device.is_local:
        raise DirectorError("the local device runs the agent with the director's own Python; nothing to set up")
    extras = tuple(e.strip() for e in args.extras.split(",") if e.strip())
    try:
        with _transport(args, device) as transport:
            report = setup_device(transport, device.python, device.workdir, extras=extras)
    except TransportError:
        raise
    print(f"{device.name}: venv ready; set python = \"{report.executable}\" for this device in devices.toml")
    return 0 if report.ok else 1
