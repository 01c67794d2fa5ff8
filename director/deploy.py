"""Agent deployment: a content-hashed copy of the agent package on the device, and its Python checked."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import agent.protocol
from director.errors import AgentUnavailable, TransportError
from director.local import LocalTransport
from director.transport import Transport

log = logging.getLogger(__name__)

AGENT_CACHE = "~/.cache/edgepower/agent"
DIGEST_HEX = 16
MIN_PYTHON = (3, 8)
REQUIRED = ("numpy", "psutil", "mlperf_loadgen")
RUNTIMES = ("onnxruntime", "ai_edge_litert", "tflite_runtime")
PIP_NAMES = {"mlperf_loadgen": "mlcommons-loadgen", "ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}
RUNTIME_EXTRAS = {"onnx": ("onnxruntime",), "tflite": ("ai-edge-litert",), "tflite-py38": ("tflite-runtime", "numpy<2")}

# Run by the device's Python: written for any Python 3 so an old one can still say its version.
CHECK_SCRIPT = r"""
import json, sys
dists = {"numpy": "numpy", "psutil": "psutil", "mlperf_loadgen": "mlcommons-loadgen",
         "onnxruntime": "onnxruntime", "ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}
probe = {"ai_edge_litert": "ai_edge_litert.interpreter", "tflite_runtime": "tflite_runtime.interpreter"}
out = {"python": sys.version.split()[0], "executable": sys.executable, "version": list(sys.version_info[:3]),
       "modules": {}, "errors": {}}
for name in sorted(dists):
    try:
        module = __import__(probe.get(name, name))
    except Exception as e:
        out["modules"][name] = None
        out["errors"][name] = "%s: %s" % (type(e).__name__, (str(e).splitlines() or [""])[0])
        continue
    version = getattr(module, "__version__", None)
    try:
        from importlib import metadata
        version = metadata.version(dists[name])
    except Exception:
        pass
    out["modules"][name] = str(version or "installed")
print(json.dumps(out))
"""


@dataclass(frozen=True)
class AgentPackage:
    """The agent's .py files as found on the host: the folder holding `agent/`, the files, their hash."""

    parent: str
    files: Tuple[str, ...]
    digest: str


def agent_package(parent: Optional[str] = None) -> AgentPackage:
    """Hash the agent package: sha256 over sorted relative paths and contents, short hex (no import of it)."""
    parent = parent or os.path.dirname(os.path.dirname(os.path.abspath(agent.protocol.__file__)))
    root = os.path.join(parent, "agent")
    files: List[str] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        files += [os.path.relpath(os.path.join(folder, n), parent).replace(os.sep, "/") for n in names if n.endswith(".py")]
    files.sort()
    h = hashlib.sha256()
    for rel in files:
        with open(os.path.join(parent, rel), "rb") as f:
            data = f.read()
        h.update(rel.encode("utf-8") + b"\0" + len(data).to_bytes(8, "big") + data)
    return AgentPackage(parent, tuple(files), h.hexdigest()[:DIGEST_HEX])


def deploy_agent(transport: Transport, package: Optional[AgentPackage] = None, cache: str = AGENT_CACHE) -> str:
    """Copy the agent to `<cache>/<hash>/agent/` unless that folder is there; return the PYTHONPATH entry.

    The copy goes to a temporary name first and is renamed into place, so a half-copied agent is never
    used. The local device runs the repository's agent in place.
    """
    package = package or agent_package()
    if isinstance(transport, LocalTransport):
        return package.parent
    base = transport.expand_home(cache).rstrip("/")
    final = f"{base}/{package.digest}"
    if transport.exists(final):
        log.debug("%s: agent %s already deployed", transport.name, package.digest)
        return final
    tmp = f"{base}/.{package.digest}.tmp-{secrets.token_hex(4)}"
    log.info("%s: copying agent %s (%d files) to %s", transport.name, package.digest, len(package.files), final)
    try:
        for folder in sorted({os.path.dirname(rel) for rel in package.files}):
            transport.makedirs(f"{tmp}/{folder}")
        for rel in package.files:
            transport.put(os.path.join(package.parent, rel), f"{tmp}/{rel}")
        transport.rename(tmp, final)
    except TransportError:
        if transport.exists(final):  # another director deployed the same hash meanwhile
            transport.remove_tree(tmp)
            return final
        transport.remove_tree(tmp)
        raise
    return final


@dataclass(frozen=True)
class DeviceReport:
    """What the device's Python has: version, each module's version (None when missing), what to install."""

    python: str
    executable: str
    python_version: str
    modules: Mapping[str, Optional[str]] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    missing: Tuple[str, ...] = ()
    install: str = ""

    @property
    def ok(self) -> bool:
        """True when the agent can run a pass here."""
        return not self.missing

    @property
    def runtimes(self) -> Tuple[str, ...]:
        """The runtime modules found (onnxruntime, ai_edge_litert, tflite_runtime)."""
        return tuple(r for r in RUNTIMES if self.modules.get(r))


def _install_line(version: Tuple[int, ...], missing: Sequence[str]) -> str:
    names = [PIP_NAMES.get(m, m) for m in missing if m in REQUIRED]
    if "runtime" in missing:
        names.append("onnxruntime")
    line = "pip install " + " ".join(names)
    if "runtime" in missing:
        tflite = "ai-edge-litert" if tuple(version) >= (3, 10) else "'tflite-runtime' 'numpy<2'"
        line += f" (or {tflite} for TFLite models)"
    return line


def check_device(transport: Transport, python: str = "python3", require: bool = True, timeout_s: float = 120.0) -> DeviceReport:
    """Run the device's Python with a small inline check; AgentUnavailable listing what to install (if require)."""
    result = transport.run([python, "-c", CHECK_SCRIPT], timeout_s=timeout_s)
    if result.exit_code in (126, 127) or (not result.ok and "No such file" in result.stderr):
        why = (result.stderr.strip().splitlines() or ["not found"])[-1]
        raise AgentUnavailable(
            f"{transport.name}: no Python at {python!r} ({why}); "
            f"install Python >= {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or set the device's python in the inventory"
        )
    try:
        raw = json.loads(result.stdout.strip().splitlines()[-1])
        version = tuple(int(v) for v in raw["version"])
    except (ValueError, IndexError, KeyError, TypeError) as e:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise AgentUnavailable(f"{transport.name}: {python} could not run the check (exit {result.exit_code}: {last})") from e
    modules: Dict[str, Optional[str]] = dict(raw.get("modules") or {})
    missing: List[str] = []
    if version < MIN_PYTHON:
        missing.append(f"python>={MIN_PYTHON[0]}.{MIN_PYTHON[1]}")
    missing += [m for m in REQUIRED if not modules.get(m)]
    if not any(modules.get(r) for r in RUNTIMES):
        missing.append("runtime")
    report = DeviceReport(
        python=python, executable=str(raw.get("executable") or python), python_version=str(raw.get("python")),
        modules=modules, errors=dict(raw.get("errors") or {}), missing=tuple(missing),
        install=_install_line(version, missing) if missing else "",
    )
    if require and missing:
        raise AgentUnavailable(describe_missing(transport.name, report))
    return report


def describe_missing(device: str, report: DeviceReport) -> str:
    """One line: which Python lacks what, and the command that installs it."""
    if any(m.startswith("python>=") for m in report.missing):
        return (
            f"{device}: {report.executable} is Python {report.python_version}; the agent needs Python >= "
            f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} (set the device's python in the inventory)"
        )
    names = [m for m in report.missing if m != "runtime"]
    if "runtime" in report.missing:
        names.append("a runtime (onnxruntime, ai_edge_litert or tflite_runtime)")
    return (
        f"{device}: Python {report.python_version} at {report.executable} lacks {', '.join(names)}; "
        f"{report.install}, or run `director setup --device {device}`"
    )


def setup_device(
    transport: Transport,
    python: str = "python3",
    workdir: str = "~/.cache/edgepower",
    extras: Sequence[str] = ("onnx",),
    packages: Optional[Sequence[str]] = None,
    pip_args: Sequence[str] = (),
    timeout_s: float = 1800.0,
) -> DeviceReport:
    """Make `<workdir>/venv` on the device and pip install the agent's needs; returns the venv's report.

    extras pick runtimes ('onnx', 'tflite', 'tflite-py38'); packages replaces the whole list (tests);
    pip_args go to pip as they are (e.g. an --index-url for a lab mirror). Needs a package index.
    """
    venv = transport.expand_home(workdir).rstrip("/") + "/venv"
    made = transport.run([python, "-m", "venv", venv], timeout_s=300)
    if not made.ok:
        last = (made.stderr.strip() or made.stdout.strip()).splitlines()[-1:] or [f"exit {made.exit_code}"]
        hint = " (install the python3-venv package)" if "ensurepip" in made.stderr or "venv" in made.stderr else ""
        raise AgentUnavailable(f"{transport.name}: cannot make a venv at {venv}: {last[0]}{hint}")
    venv_python = f"{venv}/bin/python"
    if packages is None:
        packages = ["numpy", "psutil", "mlcommons-loadgen"] + [p for e in extras for p in RUNTIME_EXTRAS.get(e, (e,))]
    if packages:
        pip = transport.run([venv_python, "-m", "pip", "install", "--upgrade", *pip_args, *packages], timeout_s=timeout_s)
        if not pip.ok:
            last = (pip.stderr.strip() or pip.stdout.strip()).splitlines()[-1:] or [f"exit {pip.exit_code}"]
            raise AgentUnavailable(f"{transport.name}: pip install {' '.join(packages)} failed in {venv}: {last[0]}")
    return check_device(transport, venv_python, require=False)


def local_python() -> str:
    """The Python the built-in local device runs the agent with: the director's own."""
    return sys.executable
