"""devices.toml parsing and checking: every mistake named by file, line, device and key."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from devices.errors import InventoryError
from devices.inventory import (
    BUILTIN_ANALYZERS, DEFAULT_PYTHON, DEFAULT_WORKDIR, KINDS, LOCAL_DEVICE, NAME_RE, NAME_RULE, PROFILES, SUDO_POLICIES,
    AnalyzerBinding, Device,
)
from devices.sshconfig import SshAliases
from power.analyzer import AnalyzerConfig, known_models
from power.simulators.bound import UnknownSimulator, is_sim_url, sim_settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on older Pythons only
    import tomli as tomllib

TOP_KEYS = ("analyzers", "devices")
HOST_KEYS = ("host", "user", "port", "identity_files", "proxy_jump")
DEVICE_KEYS = (
    "kind", "ssh_alias", *HOST_KEYS, "python", "workdir", "profile", "analyzer", "power_modes", "sudo",
    "env", "fs_root", "tags", "notes",
)
SERIAL_KEYS: Mapping[str, type] = {
    "baudrate": int, "bytesize": int, "parity": str, "stopbits": float, "xonxoff": bool, "rtscts": bool,
    "timeout_s": float,
}
SERIAL_VALUES: Mapping[str, Tuple[float, ...]] = {"bytesize": (5, 6, 7, 8), "stopbits": (1, 1.5, 2)}
ANALYZER_KEYS = ("model", "url", "element", *SERIAL_KEYS, "options", "notes")
_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


class Locator:
    """Finds the line of a table or key in the raw text, and formats errors with it."""

    def __init__(self, text: str, path: Path) -> None:
        self.lines = text.splitlines()
        self.path = path

    def line_of(self, table: Sequence[str], key: Optional[str] = None) -> Optional[int]:
        """1-based line of `[a.b]` (or of KEY inside it); falls back to an inline `b = {...}` entry."""
        header = self._header(table)
        if header is None and len(table) > 1:
            parent = self._header(table[:-1])
            found = self._key_line(parent, table[-1]) if parent is not None else None
            return found
        if header is None:
            return None
        if key is None:
            return header
        return self._key_line(header, key) or self._header(tuple(table) + (key,)) or header

    def error(self, subject: str, table: Sequence[str], key: Optional[str], problem: str) -> InventoryError:
        """An InventoryError reading `FILE:LINE: SUBJECT, key 'KEY': PROBLEM`."""
        line = self.line_of(table, key)
        where = f"{self.path}:{line}" if line else str(self.path)
        what = f"{subject}, key {key!r}" if key else subject
        return InventoryError(f"{where}: {what}: {problem}")

    def _header(self, table: Sequence[str]) -> Optional[int]:
        parts = [r"(?:%s|\"%s\"|'%s')" % ((re.escape(p),) * 3) for p in table]
        pattern = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(parts) + r"\s*\]\s*(?:#.*)?$")
        for number, line in enumerate(self.lines, 1):
            if pattern.match(line):
                return number
        return None

    def _key_line(self, header: int, key: str) -> Optional[int]:
        escaped = re.escape(key)
        pattern = re.compile(r"^\s*(?:%s|\"%s\"|'%s')\s*[=.]" % (escaped, escaped, escaped))
        for number in range(header + 1, len(self.lines) + 1):
            line = self.lines[number - 1]
            if re.match(r"^\s*\[", line):
                break
            if pattern.match(line):
                return number
        return None


def parse_inventory(
    text: str, path: Path, ssh: SshAliases
) -> Tuple[Dict[str, Device], Dict[str, AnalyzerBinding]]:
    """Parse and check devices.toml text; return its devices and named analyzers."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        message = str(e)
        pos = _TOML_POS.search(message)
        where = f"{path}:{pos.group(1)}:{pos.group(2)}" if pos else str(path)
        raise InventoryError(f"{where}: invalid TOML: {message}") from e
    where = Locator(text, path)
    for key in data:
        if key not in TOP_KEYS:
            line = _top_key_line(where, key)
            prefix = f"{path}:{line}" if line else str(path)
            raise InventoryError(f"{prefix}: unknown top-level key {key!r} (known: {', '.join(TOP_KEYS)})")
    analyzers_table = _table(where, data.get("analyzers", {}), ("analyzers",), "analyzers")
    devices_table = _table(where, data.get("devices", {}), ("devices",), "devices")
    for kind, table in (("analyzer", analyzers_table), ("device", devices_table)):
        for name in table:
            if not NAME_RE.match(name):  # names become parts of result folders and sweep job keys
                raise where.error(f"{kind} {name!r}", (f"{kind}s", name), None, f"not a name (expected {NAME_RULE})")
    analyzers = {
        name: _analyzer(where, name, entry, ("analyzers", name), f"analyzer {name!r}")
        for name, entry in analyzers_table.items()
    }
    known_analyzers = dict(BUILTIN_ANALYZERS)
    known_analyzers.update(analyzers)
    devices = {
        name: _device(where, name, entry, known_analyzers, ssh) for name, entry in devices_table.items()
    }
    return devices, analyzers


def _top_key_line(where: Locator, key: str) -> Optional[int]:
    # `[key]`, `[key.sub]`, `[[key...` or `key = ...`, `key.sub = ...`
    pattern = re.compile(r"^\s*(?:\[+\s*%s\s*[.\]]|%s\s*[=.])" % ((re.escape(key),) * 2))
    return where.line_of((key,)) or next((n for n, line in enumerate(where.lines, 1) if pattern.match(line)), None)


def _table(where: Locator, value: Any, table: Tuple[str, ...], subject: str) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise where.error(subject, table[:-1] or table, table[-1], f"must be a table, not {_tname(value)}")
    return value


def _tname(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
             dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _device(
    where: Locator, name: str, entry: Any, analyzers: Mapping[str, AnalyzerBinding], ssh: SshAliases
) -> Device:
    table = ("devices", name)
    subject = f"device {name!r}"
    if not isinstance(entry, dict):
        raise where.error("devices", ("devices",), name, f"must be a table, not {_tname(entry)}")
    for key in entry:
        if key not in DEVICE_KEYS:
            raise where.error(subject, table, key, f"unknown key (known: {', '.join(DEVICE_KEYS)})")

    get = _getter(where, subject, table, entry)
    kind = get("kind", _choice(KINDS), "local" if name == LOCAL_DEVICE.name else "ssh")
    profile = get("profile", _choice(PROFILES), "linux")
    sudo = get("sudo", _choice(SUDO_POLICIES), "never")
    common: Dict[str, Any] = dict(
        name=name, kind=kind, profile=profile, sudo=sudo,
        python=get("python", _text, sys.executable if kind == "local" else DEFAULT_PYTHON),
        workdir=get("workdir", _text, DEFAULT_WORKDIR),
        power_modes=get("power_modes", _str_map, {}), env=get("env", _str_map, {}),
        fs_root=get("fs_root", _text, "/"), tags=tuple(get("tags", _str_list, ())),
        notes=get("notes", _str, ""), source=f"{where.path}:{where.line_of(table) or '?'}",
    )
    if "analyzer" in entry:
        common["analyzer"] = _device_analyzer(where, name, entry["analyzer"], analyzers)
    if kind == "local":
        for key in ("ssh_alias",) + HOST_KEYS:
            if key in entry:
                raise where.error(subject, table, key, 'not used by kind = "local"')
        return Device(**common)
    alias = get("ssh_alias", _text)
    if alias is not None:
        for key in HOST_KEYS:
            if key in entry:
                raise where.error(subject, table, key, f"ssh_alias {alias!r} already gives the host data; "
                                                       "say it in ~/.ssh/config only")
        if not ssh.knows(alias):
            known = ", ".join(ssh.aliases()) or "none"
            raise where.error(subject, table, "ssh_alias",
                              f"no Host {alias!r} in {ssh.path} (aliases there: {known})")
        data = ssh.host_data(alias)
    else:
        identity = get("identity_files", _str_list)
        host = get("host", _text)
        if host is None and ssh.knows(name):
            alias = name  # no host given: the device's own name is the alias, as `ssh NAME` would take it
        data = ssh.host_data(
            host or name, user=get("user", _text), port=get("port", _port),
            identity_files=tuple(os.path.expanduser(p) for p in identity) if identity is not None else None,
        )
        if "proxy_jump" in entry:
            spec = get("proxy_jump", _text)
            try:
                data = replace(data, proxy_jump=ssh.resolve_jump(spec))
            except InventoryError as e:
                raise where.error(subject, table, "proxy_jump", str(e)) from e
    return Device(host=data.host, user=data.user, port=data.port, identity_files=data.identity_files,
                  proxy_jump=data.proxy_jump, ssh_alias=alias, **common)


def _device_analyzer(
    where: Locator, name: str, value: Any, analyzers: Mapping[str, AnalyzerBinding]
) -> AnalyzerBinding:
    subject = f"device {name!r}"
    if isinstance(value, str):
        if value not in analyzers:
            raise where.error(subject, ("devices", name), "analyzer",
                              f"no analyzer {value!r} (known: {', '.join(sorted(analyzers))})")
        return analyzers[value]
    if isinstance(value, dict):
        return _analyzer(where, f"{name}.analyzer", value, ("devices", name, "analyzer"),
                         f"device {name!r}, inline analyzer")
    raise where.error(subject, ("devices", name), "analyzer",
                      f"must be an analyzer name or an inline table, not {_tname(value)}")


def _analyzer(where: Locator, name: str, entry: Any, table: Tuple[str, ...], subject: str) -> AnalyzerBinding:
    if not isinstance(entry, dict):
        raise where.error(subject, table[:-1], table[-1], f"must be a table, not {_tname(entry)}")
    for key in entry:
        if key not in ANALYZER_KEYS:
            raise where.error(subject, table, key, f"unknown key (known: {', '.join(ANALYZER_KEYS)})")
    for key in ("model", "url"):
        if key not in entry:
            raise where.error(subject, table, None, f"missing key {key!r}")

    get = _getter(where, subject, table, entry)
    options: Dict[str, Any] = dict(get("options", _dict, {}))
    for key, kind in SERIAL_KEYS.items():
        if key in entry:
            options[key] = get(key, _typed(kind))
    if "parity" in options and options["parity"].upper()[:1] not in ("N", "E", "O", "M", "S"):
        raise where.error(subject, table, "parity", f"{options['parity']!r} is not one of N, E, O, M, S")
    for key, allowed in SERIAL_VALUES.items():
        if key in entry and options[key] not in allowed:
            raise where.error(subject, table, key,
                              f"{options[key]:g} is not one of {', '.join(f'{value:g}' for value in allowed)}")
    for key in ("baudrate", "timeout_s"):
        if key in entry and not options[key] > 0:
            raise where.error(subject, table, key, f"{options[key]:g} is not a positive number")
    model = get("model", _text)
    if model.lower() not in known_models():
        raise where.error(subject, table, "model",
                          f"unknown analyzer model {model!r} (known: {', '.join(known_models())})")
    element = get("element", _typed(int))
    if element is not None and element < 1:
        raise where.error(subject, table, "element", f"{element} is not a positive element number")
    url = get("url", _text)
    if is_sim_url(url):
        try:
            sim_settings(AnalyzerConfig(model, url, options))
        except UnknownSimulator as e:
            line = (where.line_of(table + ("options",), e.option) if e.option else where.line_of(table, "url")
                    ) or where.line_of(table)
            raise InventoryError(f"{where.path}:{line}: {subject}: {e}" if line else f"{where.path}: {subject}: {e}")
    return AnalyzerBinding(name=name, model=model, url=url, element=element, options=options,
                           notes=get("notes", _str, ""))


def _getter(
    where: Locator, subject: str, table: Tuple[str, ...], entry: Mapping[str, Any]
) -> Callable[..., Any]:
    """get(key, check, default): the checked value of KEY, DEFAULT when absent, an InventoryError when wrong."""

    def get(key: str, check: Callable[[Any], Any], default: Any = None) -> Any:
        if key not in entry:
            return default
        try:
            return check(entry[key])
        except _Wrong as e:
            raise where.error(subject, table, key, str(e)) from None

    return get


class _Wrong(ValueError):
    """A value of the wrong type or out of range (turned into an InventoryError with its place)."""


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _Wrong(f"must be a string, not {_tname(value)}")
    return value


def _text(value: Any) -> str:
    if not _str(value).strip():
        raise _Wrong("must not be empty")
    return value


def _dict(value: Any) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise _Wrong(f"must be a table, not {_tname(value)}")
    return value


def _typed(kind: type) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise _Wrong(f"must be {_tname(kind())}, not {_tname(value)}")
        return value
    return check


def _port(value: Any) -> int:
    port = _typed(int)(value)
    if not 0 < port < 65536:
        raise _Wrong(f"{port} is not a TCP port (1-65535)")
    return port


def _choice(choices: Sequence[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if _str(value) not in choices:
            raise _Wrong(f"unknown value {value!r} (known: {', '.join(choices)})")
        return value
    return check


def _str_list(value: Any) -> List[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Wrong(f"must be an array of strings, not {_tname(value)}")
    return list(value)


def _str_map(value: Any) -> Dict[str, str]:
    table = _dict(value)
    for key, item in table.items():
        if not isinstance(item, str):
            raise _Wrong(f"entry {key!r} must be a string, not {_tname(item)}")
    return dict(table)
