"""Logging in over SSH: the keys offered (files, ssh-agent, ~/.ssh/id_*) and the hops of a ProxyJump."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import paramiko

from director.errors import AuthenticationError, BadInput
from director.hostkeys import fingerprint

log = logging.getLogger(__name__)

DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")


@dataclass(frozen=True)
class Hop:
    """One jump host: where, as whom, with which keys (None user: the target's user)."""

    host: str
    user: Optional[str] = None
    port: int = 22
    identity_files: Tuple[str, ...] = ()


def parse_target(spec: str) -> Tuple[Optional[str], str, int]:
    """`[user@]host[:port]` (IPv6 as `[addr]:port`) → (user, host, port)."""
    user, _, hostport = spec.rpartition("@")
    host, port = hostport, 22
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        if rest.startswith(":"):
            port = _port(rest[1:], spec)
    elif hostport.count(":") == 1:
        host, _, p = hostport.partition(":")
        port = _port(p, spec)
    if not host:
        raise BadInput(f"bad SSH target {spec!r} (expected [user@]host[:port])")
    return user or None, host, port


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise BadInput(f"bad port in SSH target {spec!r}")
    return int(text)


def hops(proxy_jump: Union[None, str, Sequence[Any]]) -> List[Hop]:
    """ProxyJump as hops, first hop first: a `[user@]host[:port],...` string or objects with
    host/user/port/identity_files (devices.sshconfig.JumpHost)."""
    if proxy_jump is None:
        return []
    if isinstance(proxy_jump, str):
        if proxy_jump.strip().lower() in ("", "none"):
            return []
        return [Hop(host, user, port) for user, host, port in (parse_target(h.strip()) for h in proxy_jump.split(","))]
    return [
        Hop(h.host, getattr(h, "user", None), int(getattr(h, "port", 22) or 22), tuple(getattr(h, "identity_files", ()) or ()))
        for h in proxy_jump
    ]


def key_candidates(
    identity_files: Sequence[str], allow_agent: bool, look_for_keys: bool
) -> List[Tuple[str, Callable[[], paramiko.PKey]]]:
    """(label, loader) for each key to offer, in order: identity files, ssh-agent, default ~/.ssh/id_*."""
    out: List[Tuple[str, Callable[[], paramiko.PKey]]] = []
    for path in identity_files:
        out.append((path, lambda p=path: paramiko.PKey.from_path(p)))
    if allow_agent:
        try:
            agent_keys = paramiko.Agent().get_keys()
        except (paramiko.SSHException, OSError) as e:
            log.debug("ssh-agent not usable: %s", e)
            agent_keys = ()
        for key in agent_keys:
            out.append((f"agent {key.get_name()} {fingerprint(key)}", lambda k=key: k))
    if look_for_keys and not identity_files:
        for base in DEFAULT_KEYS:
            path = os.path.expanduser(os.path.join("~", ".ssh", base))
            if os.path.exists(path):
                out.append((path, lambda p=path: paramiko.PKey.from_path(p)))
    return out


def authenticate(
    t: paramiko.Transport,
    user: str,
    where: str,
    identity_files: Sequence[str],
    allow_agent: bool = True,
    look_for_keys: bool = True,
) -> str:
    """Offer each key until one is accepted; returns its label. AuthenticationError lists those tried."""
    tried: List[str] = []
    for label, load in key_candidates(identity_files, allow_agent, look_for_keys):
        try:
            key = load()
        except paramiko.PasswordRequiredException:
            tried.append(f"{label} (encrypted: load it into ssh-agent)")
            continue
        except (OSError, paramiko.SSHException, ValueError) as e:
            tried.append(f"{label} (unreadable: {getattr(e, 'strerror', None) or e})")
            continue
        try:
            t.auth_publickey(user, key)
        except paramiko.BadAuthenticationType as e:
            raise AuthenticationError(f"{user}@{where} does not accept keys (allowed: {', '.join(e.allowed_types)})") from e
        except paramiko.AuthenticationException:
            tried.append(label)
            continue
        if t.is_authenticated():
            return label
    offered = "; ".join(tried) if tried else "no identity file, no ssh-agent key, no ~/.ssh/id_* key"
    raise AuthenticationError(
        f"{user}@{where} refused every key offered ({offered}); add one to the device's authorized_keys "
        f"or set identity_files"
    )
