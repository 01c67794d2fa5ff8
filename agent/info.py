"""Facts about the machine the agent runs on, as JSON."""

from __future__ import annotations

import os
import platform
import socket
import sys
from typing import Any, Dict, Optional

import psutil

from agent import __version__
from agent.backends import installed_runtimes


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip().rstrip("\x00")
    except OSError:
        return None


def _distribution() -> Optional[str]:
    text = _read("/etc/os-release") or ""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    name = fields.get("PRETTY_NAME") or fields.get("NAME")
    return name.strip('"') if name else None


def _cpu_model() -> Optional[str]:
    text = _read("/proc/cpuinfo") or ""
    for key in ("model name", "Hardware", "Model", "cpu model"):
        for line in text.splitlines():
            if line.split(":")[0].strip() == key:
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def loadgen_version() -> Optional[str]:
    """The installed mlcommons-loadgen version, or None."""
    from importlib import metadata

    for dist in ("mlcommons-loadgen", "mlcommons_loadgen", "mlperf-loadgen"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def facts() -> Dict[str, Any]:
    """Hostname, architecture, kernel, distribution, CPU, memory, Python, runtimes, LoadGen, boot_id."""
    uname = platform.uname()
    return {
        "hostname": socket.gethostname(),
        "arch": uname.machine,
        "kernel": uname.release,
        "distribution": _distribution(),
        "board": _read("/proc/device-tree/model"),
        "cpu_model": _cpu_model(),
        "cpu_logical": psutil.cpu_count(logical=True),
        "cpu_physical": psutil.cpu_count(logical=False),
        "memory_bytes": psutil.virtual_memory().total,
        "python": platform.python_version(),
        "python_executable": os.path.realpath(sys.executable),
        "runtimes": installed_runtimes(),
        "loadgen": loadgen_version(),
        "agent_version": __version__,
        "boot_id": _read("/proc/sys/kernel/random/boot_id"),
    }
