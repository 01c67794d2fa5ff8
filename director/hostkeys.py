"""known_hosts checking for the SSH transport: refuse unknown or changed keys unless trusted explicitly."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from dataclasses import dataclass
from typing import List, Optional, Tuple

import paramiko

from director.errors import HostKeyError

log = logging.getLogger(__name__)

DEFAULT_KNOWN_HOSTS = os.path.join("~", ".ssh", "known_hosts")
TRUST_FLAG = "--trust-host"
REPLACE_FLAG = "--replace-host-key"


def host_id(host: str, port: int) -> str:
    """The name a host is filed under in known_hosts: `host`, or `[host]:port` off port 22."""
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint of a public key (`SHA256:` + unpadded base64)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class HostKeyVerdict:
    """What checking a server's key against known_hosts found: 'known', 'unknown', 'changed' or 'revoked'."""

    state: str
    host_id: str
    key_type: str
    fingerprint: str
    known_types: tuple = ()


class KnownHosts:
    """One known_hosts file: look keys up, and add or replace one only when told to."""

    def __init__(self, path: Optional[str] = None) -> None:
        self.path = os.path.expanduser(path or DEFAULT_KNOWN_HOSTS)

    def _entries(self, name: str) -> Tuple[List[paramiko.PKey], List[paramiko.PKey]]:
        """(keys on file for this host, revoked keys): lines that cannot be parsed are skipped, like ssh does."""
        keys: List[paramiko.PKey] = []
        revoked: List[paramiko.PKey] = []
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                lines = f.readlines()
        except FileNotFoundError:
            return keys, revoked
        except OSError as e:
            raise HostKeyError(f"cannot read known_hosts {self.path}: {e.strerror or e}") from e
        for lineno, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            marker = ""
            if line.startswith("@"):
                marker, _, line = line.partition(" ")
                if marker != "@revoked":
                    continue  # @cert-authority: host certificates are not used here
            fields = line.split()
            if len(fields) < 3 or not (marker == "@revoked" and fields[0] == "*" or _names_host(fields[0], name)):
                continue
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line, lineno)
            except (paramiko.hostkeys.InvalidHostKey, paramiko.SSHException, ValueError) as e:
                log.debug("%s line %d skipped: %s", self.path, lineno, e)
                continue
            if entry is not None and entry.key is not None:
                (revoked if marker else keys).append(entry.key)
        return keys, revoked

    def known_types(self, host: str, port: int) -> List[str]:
        """Key types on file for the host (the transport prefers these in key exchange)."""
        keys, _ = self._entries(host_id(host, port))
        return list(dict.fromkeys(k.get_name() for k in keys))

    def verdict(self, host: str, port: int, key: paramiko.PKey) -> HostKeyVerdict:
        """Compare the server's key with the file: 'known', 'unknown', 'changed' or 'revoked'."""
        name = host_id(host, port)
        keys, revoked = self._entries(name)
        known = tuple(dict.fromkeys(k.get_name() for k in keys))
        if any(k.asbytes() == key.asbytes() for k in revoked):
            state = "revoked"
        elif not keys:
            state = "unknown"
        elif any(k.asbytes() == key.asbytes() for k in keys):
            state = "known"
        else:
            state = "changed"
        return HostKeyVerdict(state, name, key.get_name(), fingerprint(key), known)

    def verify(self, host: str, port: int, key: paramiko.PKey, trust: bool = False, replace: bool = False) -> str:
        """Accept the key if on file; add it when trust (unknown) or replace (changed); else HostKeyError.

        Returns the verdict's state before any change ('known', 'unknown' or 'changed').
        """
        v = self.verdict(host, port, key)
        if v.state == "known":
            return v.state
        if v.state == "revoked":
            raise HostKeyError(f"SSH host key of {v.host_id} ({v.key_type} {v.fingerprint}) is marked @revoked in {self.path}")
        if v.state == "unknown":
            if not trust:
                raise HostKeyError(
                    f"unknown SSH host key for {v.host_id}: {v.key_type} {v.fingerprint} "
                    f"(not in {self.path}); check it, then pass {TRUST_FLAG} to add it"
                )
            self._append(v.host_id, key)
            log.warning("added %s key %s of %s to %s (trusted explicitly)", v.key_type, v.fingerprint, v.host_id, self.path)
            return v.state
        if not replace:
            raise HostKeyError(
                f"SSH host key for {v.host_id} CHANGED: server offers {v.key_type} {v.fingerprint}, "
                f"{self.path} holds a different key; if the device was re-installed, pass {REPLACE_FLAG}"
            )
        self._replace(v.host_id, key)
        log.warning("replaced the host key of %s with %s %s in %s", v.host_id, v.key_type, v.fingerprint, self.path)
        return v.state

    def _append(self, name: str, key: paramiko.PKey) -> None:
        folder = os.path.dirname(self.path)
        try:
            if folder:
                os.makedirs(folder, mode=0o700, exist_ok=True)
            needs_newline = os.path.exists(self.path) and os.path.getsize(self.path) > 0 and not _ends_with_newline(self.path)
            # A new file is the owner's alone: whoever can write it decides which hosts are trusted.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(("\n" if needs_newline else "") + f"{name} {key.get_name()} {key.get_base64()}\n")
        except OSError as e:
            raise HostKeyError(f"cannot write known_hosts {self.path}: {e}") from e

    def _replace(self, name: str, key: paramiko.PKey) -> None:
        """Drop every line naming this host (plain or hashed), keep the rest as it was, add the new key."""
        kept: List[str] = []
        try:
            with open(self.path, encoding="utf-8") as f:
                lines = f.readlines()
        except OSError as e:
            raise HostKeyError(f"cannot read known_hosts {self.path}: {e}") from e
        for line in lines:
            fields = line.split()
            if fields and not line.lstrip().startswith(("#", "@")):
                if _names_host(fields[0], name):
                    continue
            kept.append(line if line.endswith("\n") else line + "\n")
        kept.append(f"{name} {key.get_name()} {key.get_base64()}\n")
        tmp = f"{self.path}.tmp-{os.getpid()}"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(kept)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except OSError as e:
            raise HostKeyError(f"cannot write known_hosts {self.path}: {e}") from e


def _names_host(hosts_field: str, name: str) -> bool:
    """True when a known_hosts host field (comma list, maybe hashed) names this host."""
    for h in hosts_field.split(","):
        if h == name:
            return True
        if h.startswith("|1|") and hmac.compare_digest(paramiko.HostKeys.hash_host(name, h), h):
            return True
    return False


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"
