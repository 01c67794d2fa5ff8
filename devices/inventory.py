"""The inventory: which devices and analyzers exist, from devices.toml, ~/.ssh/config and two built-ins.

Where the inventory comes from
------------------------------
The first of these that is given or exists is read (they are not merged):

1. the path passed explicitly (`director ... --inventory FILE`);
2. `$EDGEPOWER_INVENTORY` (an error when it names a missing file);
3. `./devices.toml` in the current folder;
4. `$XDG_CONFIG_HOME/edgepower/devices.toml`, else `~/.config/edgepower/devices.toml`.

Without any file the inventory still has the built-ins and every `~/.ssh/config` Host alias.

How a device name resolves
--------------------------
1. A `[devices.NAME]` table in devices.toml.
2. The built-in device `local`: this machine, the agent run as a subprocess of the director's own
   Python (a `[devices.local]` table overrides it).
3. A Host alias in `~/.ssh/config` (an exact `Host` name, or a pattern other than a bare `*`): host
   data from HostName, User, Port, IdentityFile and ProxyJump, profile `linux`, no analyzer.

Host data is never copied: a device entry either names an alias (`ssh_alias = "jetson01"`, and then
may not also say host, user, port, identity_files or proxy_jump) or gives `host` (and optionally
the rest), in which case `~/.ssh/config` still fills what the entry leaves out, as `ssh HOST` would.
An entry with neither uses its own name as the alias.

devices.toml
------------
```toml
[analyzers.wt310]                  # a named analyzer, referenced by devices
model = "WT310E"                   # driver model name (power.analyzer.known_models())
url = "/dev/ttyUSB0"               # pyserial URL: /dev/tty*, rfc2217://host:port, tcp://host:8888 (PTDaemon)
element = 1                        # input element on multi-element meters
baudrate = 9600                    # serial settings: baudrate, bytesize, parity, stopbits,
parity = "N"                       #   xonxoff, rtscts
timeout_s = 2.0                    # reply timeout
options = { crest_factor = 3 }     # any other driver option, passed through unchanged

[devices.jetson01]
ssh_alias = "jetson01"             # host data from ~/.ssh/config Host jetson01
profile = "jetson"                 # linux | jetson | raspberrypi
analyzer = "wt310"                 # a name from [analyzers], "sim", or an inline table
sudo = "passwordless"              # never | passwordless (sudo -n for nvpmodel, governors, reboot)
power_modes = { maxn = "MAXN_SUPER", low = "7W" }   # our name -> nvpmodel NAME

[devices.rpi5]
host = "192.168.1.50"
user = "pi"
port = 22
identity_files = ["~/.ssh/id_ed25519"]
proxy_jump = "bastion"             # an ssh_config alias or [user@]host[:port], comma-separated hops
profile = "raspberrypi"
python = "/home/pi/venv/bin/python"
workdir = "~/.cache/edgepower"
env = { PATH = "/home/pi/bin:/usr/local/bin:/usr/bin:/bin" }   # literal values, no $VAR expansion
tags = ["pi5", "bench-a"]
notes = "active cooler, 27 W supply"
```

See `devices/devices.example.toml` for every key with its default. Mistakes are reported with the
file, the line, the device and the key: an unknown key, a wrong type, an unknown profile, kind or
sudo policy, an analyzer name that is not defined, an analyzer model no driver knows, serial settings
no port takes, a simulator option it does not take, or a device or analyzer name that is not letters,
digits, '.', '_' and '-' (names become parts of result folders and sweep job keys).

Built-in analyzer `sim`: the WT310E simulator on a pseudo-terminal, its power coupled to this host's
CPU load (the director starts it; url `sim:cpu`).
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from devices.errors import InventoryError, UnknownDevice
from devices.sshconfig import DEFAULT_SSH_PORT, JumpHost, SshAliases
from power.analyzer import AnalyzerConfig

log = logging.getLogger(__name__)

ENV_VAR = "EDGEPOWER_INVENTORY"
FILE_NAME = "devices.toml"
KINDS = ("local", "ssh")
PROFILES = ("linux", "jetson", "raspberrypi")
SUDO_POLICIES = ("never", "passwordless")
# Device and analyzer names become parts of result folder names and run ids: no '/', quotes or spaces.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NAME_RULE = "letters, digits, '_', '-' and '.', starting with a letter or digit, at most 64"
DEFAULT_PYTHON = "python3"
DEFAULT_WORKDIR = "~/.cache/edgepower"

__all__ = [
    "AnalyzerBinding", "Device", "Inventory", "JumpHost", "find_inventory_path", "load_inventory",
    "BUILTIN_ANALYZERS", "LOCAL_DEVICE",
]


@dataclass(frozen=True)
class AnalyzerBinding:
    """A named wall power analyzer: driver model, URL, input element and driver/serial options.

    options holds the serial settings (baudrate, bytesize, parity, stopbits, xonxoff, rtscts),
    timeout_s, and any other driver option from the entry's `options` table.
    """

    name: str
    model: str
    url: str
    element: Optional[int] = None
    options: Mapping[str, Any] = field(default_factory=dict)
    notes: str = ""

    def to_config(self) -> AnalyzerConfig:
        """The power package's AnalyzerConfig (element goes into options when set)."""
        options: Dict[str, Any] = dict(self.options)
        if self.element is not None:
            options["element"] = self.element
        return AnalyzerConfig(model=self.model, url=self.url, options=options)


@dataclass(frozen=True)
class Device:
    """One device under test, as described by the inventory (no I/O).

    kind "local" runs on this machine; "ssh" reaches host:port as user (None: the local user) with
    identity_files and proxy_jump hops (first hop first). python is the interpreter on the device,
    workdir the agent's cache folder there. profile picks the board driver. power_modes maps our
    mode names to the profile's (nvpmodel NAMEs). sudo "passwordless" lets profiles run `sudo -n`.
    env is extra environment for every command on the device (literal values). fs_root prefixes
    sysfs/proc/etc reads (tests point it at a fake tree). source says where the entry came from.
    """

    name: str
    kind: str = "ssh"
    host: Optional[str] = None
    user: Optional[str] = None
    port: int = DEFAULT_SSH_PORT
    identity_files: Tuple[str, ...] = ()
    proxy_jump: Tuple[JumpHost, ...] = ()
    ssh_alias: Optional[str] = None
    python: str = DEFAULT_PYTHON
    workdir: str = DEFAULT_WORKDIR
    profile: str = "linux"
    analyzer: Optional[AnalyzerBinding] = None
    power_modes: Mapping[str, str] = field(default_factory=dict)
    sudo: str = "never"
    env: Mapping[str, str] = field(default_factory=dict)
    fs_root: str = "/"
    tags: Tuple[str, ...] = ()
    notes: str = ""
    source: str = ""

    @property
    def is_local(self) -> bool:
        """True for a device reached without SSH."""
        return self.kind == "local"

    @property
    def may_sudo(self) -> bool:
        """True when privileged commands may go through `sudo -n`."""
        return self.sudo == "passwordless"

    def fs_path(self, path: str) -> str:
        """An absolute device path placed under fs_root ("/sys/x" -> "<fs_root>/sys/x")."""
        root = self.fs_root.rstrip("/")
        return root + "/" + path.lstrip("/")

    def describe(self) -> Dict[str, Any]:
        """A JSON-ready description for run.json and `director devices` (no secrets: key paths only)."""
        return {
            "name": self.name, "kind": self.kind, "host": self.host, "user": self.user, "port": self.port,
            "identity_files": list(self.identity_files),
            "proxy_jump": [hop.spec or hop.host for hop in self.proxy_jump], "ssh_alias": self.ssh_alias,
            "python": self.python, "workdir": self.workdir, "profile": self.profile,
            "analyzer": self.analyzer.name if self.analyzer else None,
            "power_modes": dict(self.power_modes), "sudo": self.sudo, "env": redact_env(self.env),
            "tags": list(self.tags), "notes": self.notes, "source": self.source,
        }


SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|PASSPHRASE|API_?KEY|CREDENTIAL|PRIVATE|AUTH", re.IGNORECASE)


def redact_env(env: Mapping[str, str]) -> Dict[str, str]:
    """env with the values of secret-looking names (…TOKEN, …PASSWORD, …API_KEY) replaced by "***"."""
    return {name: "***" if SECRET_NAME.search(name) else value for name, value in env.items()}


SIM_ANALYZER = AnalyzerBinding(
    name="sim", model="WT310E", url="sim:cpu",
    notes="built in: the WT310E simulator on a pty, its power coupled to this host's CPU load",
)
BUILTIN_ANALYZERS: Mapping[str, AnalyzerBinding] = {"sim": SIM_ANALYZER}
"""Analyzers that exist without any file."""

LOCAL_DEVICE = Device(
    name="local", kind="local", python=sys.executable, profile="linux",
    notes="built in: this machine, the agent as a subprocess of the director's Python", source="built-in",
)
"""The device that exists without any file: this machine."""


class Inventory:
    """Devices and analyzers from one devices.toml (or none), ~/.ssh/config and the built-ins."""

    def __init__(
        self,
        devices: Mapping[str, Device],
        analyzers: Mapping[str, AnalyzerBinding],
        path: Optional[Path],
        ssh: SshAliases,
    ) -> None:
        self.path = path
        self.ssh_config_path = ssh.path
        self._devices = dict(devices)
        self._ssh = ssh
        merged = dict(BUILTIN_ANALYZERS)
        merged.update(analyzers)
        self.analyzers: Mapping[str, AnalyzerBinding] = merged

    def names(self, include_ssh_aliases: bool = True) -> List[str]:
        """Device names get() resolves without a pattern: devices.toml, `local`, and (optionally) ssh aliases."""
        names = set(self._devices) | {LOCAL_DEVICE.name}
        if include_ssh_aliases:
            names |= set(self._ssh.aliases())
        return sorted(names)

    def listed(self) -> List[Device]:
        """The devices devices.toml lists, by name (not `local` unless it has a table, nor ssh aliases)."""
        return [self._devices[name] for name in sorted(self._devices)]

    def get(self, name: str) -> Device:
        """The device called NAME; UnknownDevice (listing the known names) when there is none."""
        if name in self._devices:
            return self._devices[name]
        if name == LOCAL_DEVICE.name:
            return LOCAL_DEVICE
        if name and NAME_RE.match(name) and self._ssh.knows(name):  # the name becomes part of folder names
            data = self._ssh.host_data(name)
            return Device(
                name=name, kind="ssh", host=data.host, user=data.user, port=data.port,
                identity_files=data.identity_files, proxy_jump=data.proxy_jump, ssh_alias=name,
                source=f"{self.ssh_config_path} (Host {name})",
            )
        raise UnknownDevice(self._unknown("device", name, self.names()))

    def analyzer(self, name: str) -> AnalyzerBinding:
        """The analyzer called NAME; InventoryError listing the known ones when there is none."""
        try:
            return self.analyzers[name]
        except KeyError:
            raise InventoryError(self._unknown("analyzer", name, sorted(self.analyzers))) from None

    def devices(self, include_ssh_aliases: bool = True) -> List[Device]:
        """Every device of names(), resolved."""
        return [self.get(name) for name in self.names(include_ssh_aliases)]

    def _unknown(self, what: str, name: str, known: List[str]) -> str:
        sources = [str(self.path) if self.path else "no devices.toml found"]
        if self.ssh_config_path is not None and self.ssh_config_path.is_file():
            sources.append(str(self.ssh_config_path))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown {what} {name!r} (known: {', '.join(known) or 'none'}; from {', '.join(sources)}){hint}"


def user_config_path() -> Path:
    """`$XDG_CONFIG_HOME/edgepower/devices.toml`, else `~/.config/edgepower/devices.toml`."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "edgepower" / FILE_NAME


def find_inventory_path(path: Optional[str] = None) -> Optional[Path]:
    """The devices.toml to read: explicit path, $EDGEPOWER_INVENTORY, ./devices.toml, user config; or None."""
    if path:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise InventoryError(f"{explicit}: inventory file not found (given with --inventory)")
        return explicit
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        env_path = Path(from_env).expanduser()
        if not env_path.is_file():
            raise InventoryError(f"{env_path}: inventory file not found (from ${ENV_VAR})")
        return env_path
    for candidate in (Path.cwd() / FILE_NAME, user_config_path()):
        if candidate.is_file():
            return candidate
    return None


def load_inventory(path: Optional[str] = None, ssh_config_path: Optional[str] = None) -> Inventory:
    """Read the inventory (see the module docs for where from); ssh_config_path defaults to ~/.ssh/config."""
    from devices.inventory_toml import parse_inventory  # the parser needs the types above

    ssh_path = Path(ssh_config_path).expanduser() if ssh_config_path else Path.home() / ".ssh" / "config"
    ssh = SshAliases(ssh_path)
    found = find_inventory_path(path)
    if found is None:
        log.debug("no devices.toml found; built-ins and %s only", ssh_path)
        return Inventory({}, {}, None, ssh)
    try:
        text = found.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InventoryError(f"{found}: cannot read inventory: {e}") from e
    devices, analyzers = parse_inventory(text, found, ssh)
    log.debug("inventory %s: %d devices, %d analyzers", found, len(devices), len(analyzers))
    return Inventory(devices, analyzers, found, ssh)


def with_overrides(device: Device, **changes: Any) -> Device:
    """A copy of DEVICE with some fields changed (e.g. analyzer from --analyzer)."""
    return replace(device, **changes)
