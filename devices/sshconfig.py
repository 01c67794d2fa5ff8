"""Host data from ~/.ssh/config (read with paramiko's SSHConfig): aliases, HostName/User/Port/IdentityFile/ProxyJump."""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import paramiko

from devices.errors import InventoryError

log = logging.getLogger(__name__)

DEFAULT_SSH_PORT = 22
_JUMP_RE = re.compile(r"^(?:ssh://)?(?:(?P<user>[^@]+)@)?(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:]+))(?::(?P<port>\d+))?$")


@dataclass(frozen=True)
class JumpHost:
    """One ProxyJump hop, with its own host data resolved through ~/.ssh/config where it names an alias.

    Fields: host (address or name to connect to), user (None: the local user), port, identity_files
    (from the alias, empty when none), spec (the hop as written, e.g. "bastion" or "ops@gw:2200").
    """

    host: str
    user: Optional[str] = None
    port: int = DEFAULT_SSH_PORT
    identity_files: Tuple[str, ...] = ()
    spec: str = ""


@dataclass(frozen=True)
class HostData:
    """Where and as whom to connect: the SSH part of a Device."""

    host: str
    user: Optional[str]
    port: int
    identity_files: Tuple[str, ...]
    proxy_jump: Tuple[JumpHost, ...]


class SshAliases:
    """The Host entries of one ssh_config file (or none), looked up like `ssh NAME` would."""

    def __init__(self, path: Optional[Path]) -> None:
        self.path = path
        self._config: Optional[paramiko.SSHConfig] = None
        if path is not None and path.is_file():
            try:
                self._config = paramiko.SSHConfig.from_path(str(path))
            except (paramiko.ssh_exception.ConfigParseError, OSError, ValueError) as e:
                raise InventoryError(f"{path}: cannot read ssh config: {e}") from e

    def aliases(self) -> List[str]:
        """Exact Host names (no wildcard patterns, no negations), sorted."""
        if self._config is None:
            return []
        return sorted(h for h in self._config.get_hostnames() if not any(c in h for c in "*?!"))

    def knows(self, name: str) -> bool:
        """True when NAME is an exact Host alias or matches a Host pattern other than a bare `*`."""
        if self._config is None:
            return False
        for pattern in self._config.get_hostnames():
            if pattern == "*" or pattern.startswith("!"):
                continue
            if pattern == name or (any(c in pattern for c in "*?") and fnmatch.fnmatchcase(name, pattern)):
                return True
        return False

    def lookup(self, name: str) -> Dict[str, Any]:
        """paramiko's merged options for NAME ({'hostname': NAME} when nothing matches)."""
        if self._config is None:
            return {"hostname": name}
        try:
            return dict(self._config.lookup(name))
        except (paramiko.ssh_exception.ConfigParseError, paramiko.ssh_exception.CouldNotCanonicalize,
                OSError, ValueError) as e:
            raise InventoryError(f"{self.path}: Host {name}: {e}") from e

    def host_data(
        self,
        name: str,
        user: Optional[str] = None,
        port: Optional[int] = None,
        identity_files: Optional[Tuple[str, ...]] = None,
        proxy_jump: Optional[str] = None,
    ) -> HostData:
        """Resolve NAME like `ssh NAME`: explicit values win, ~/.ssh/config fills what is missing."""
        options = self.lookup(name)
        host = str(options.get("hostname", name))
        if user is None and options.get("user"):
            user = str(options["user"])
        if port is None:
            port = self._port(name, options.get("port"))
        if identity_files is None:
            identity_files = tuple(os.path.expanduser(str(p)) for p in options.get("identityfile", []))
        jump_spec = proxy_jump if proxy_jump is not None else options.get("proxyjump")
        jumps = self.resolve_jump(str(jump_spec)) if jump_spec else ()
        return HostData(host, user, port, tuple(identity_files), jumps)

    def resolve_jump(self, spec: str) -> Tuple[JumpHost, ...]:
        """Parse a ProxyJump value ("a,b", "user@host:port", "ssh://..."), resolving hops that are aliases."""
        if spec.strip().lower() == "none":
            return ()
        hops = []
        for part in (p.strip() for p in spec.split(",")):
            match = _JUMP_RE.match(part)
            if not part or match is None:
                raise InventoryError(f"bad ProxyJump hop {part!r} in {spec!r} (want [user@]host[:port])")
            host = match.group("v6") or match.group("host")
            user = match.group("user")
            port = int(match.group("port")) if match.group("port") else None
            options = self.lookup(host) if self.knows(host) else {"hostname": host}
            if options.get("proxyjump") and str(options["proxyjump"]).lower() != "none":
                log.info("ProxyJump hop %s has its own ProxyJump; only one level is resolved", host)
            hops.append(JumpHost(
                host=str(options.get("hostname", host)),
                user=user or (str(options["user"]) if options.get("user") else None),
                port=port if port is not None else self._port(host, options.get("port")),
                identity_files=tuple(os.path.expanduser(str(p)) for p in options.get("identityfile", [])),
                spec=part,
            ))
        return tuple(hops)

    def _port(self, name: str, value: object) -> int:
        if value is None:
            return DEFAULT_SSH_PORT
        try:
            port = int(str(value))
        except ValueError as e:
            raise InventoryError(f"{self.path}: Host {name}: Port {value!r} is not a number") from e
        if not 0 < port < 65536:
            raise InventoryError(f"{self.path}: Host {name}: Port {port} is out of range")
        return port

