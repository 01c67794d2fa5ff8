"""SSH transport over paramiko: lazy connection, known_hosts enforced, quoted argv commands, SFTP files."""

from __future__ import annotations

import getpass
import logging
import os
import shlex
import socket
import threading
import time
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union

import paramiko

from devices.shell import CommandResult
from director.errors import AuthenticationError, BadInput, HostKeyError, TransportError
from director.hostkeys import KnownHosts, fingerprint
from director.lines import LineBuffer
from director.local import LocalTransport
from director.ssh_io import LINK_ERRORS, SSHChannel, pump
from director.ssh_login import authenticate, hops
from director.transport import Channel, Transport, wrap_argv

log = logging.getLogger(__name__)

RECONNECT_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)


class _ParamikoErrors(logging.Filter):
    """Keeps paramiko's own ERROR records (a failed handshake logged from its thread, traceback and all) for
    verbose logging only: the director reports the same failure as one TransportError line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR or logging.getLogger().isEnabledFor(logging.INFO)


for _channel in ("paramiko.transport", "paramiko.transport.sftp"):
    logging.getLogger(_channel).addFilter(_ParamikoErrors())


class SSHTransport(Transport):
    """One device over SSH, like a fabric Connection done safely: lazy, host keys checked, argv quoted.

    known_hosts: the file checked (default ~/.ssh/known_hosts). trust_host adds an unknown key to it;
    replace_host_key replaces a changed one; neither ever happens silently. identity_files are tried
    first, then ssh-agent keys, then ~/.ssh/id_* (only when no identity file is given).
    proxy_jump: `[user@]host[:port]` (commas for a chain), hops (devices' JumpHost, first hop first) or
    an SSHTransport to tunnel through (paramiko `direct-tcpip`); a hop without keys of its own is offered
    the target's identity files, and its host key must already be known (trust flags are for the target).
    """

    def __init__(
        self,
        host: str,
        user: Optional[str] = None,
        port: int = 22,
        identity_files: Sequence[str] = (),
        proxy_jump: Union[None, str, Sequence[Any], "SSHTransport"] = None,
        env: Optional[Mapping[str, str]] = None,
        known_hosts: Optional[str] = None,
        trust_host: bool = False,
        replace_host_key: bool = False,
        allow_agent: bool = True,
        look_for_keys: bool = True,
        connect_timeout_s: float = 10.0,
        auth_timeout_s: float = 15.0,
        keepalive_s: float = 15.0,
        name: Optional[str] = None,
    ) -> None:
        self.host = host
        self.user = user or getpass.getuser()
        self.port = int(port)
        self.name = name or f"{self.user}@{host}:{self.port}"
        self.identity_files = [os.path.expanduser(p) for p in identity_files]
        self.env: Dict[str, str] = dict(env or {})
        self.known_hosts = KnownHosts(known_hosts)
        self.trust_host = trust_host
        self.replace_host_key = replace_host_key
        self.allow_agent = allow_agent
        self.look_for_keys = look_for_keys
        self.connect_timeout_s = connect_timeout_s
        self.auth_timeout_s = auth_timeout_s
        self.keepalive_s = keepalive_s
        self._jump = self._make_jump(proxy_jump)
        self._transport: Optional[paramiko.Transport] = None
        self._sftp: Optional[paramiko.SFTPClient] = None
        self._home: Optional[str] = None
        self._lock = threading.RLock()

    @classmethod
    def for_device(cls, device: Any, **options: Any) -> "SSHTransport":
        """Build from an inventory Device (host, user, port, identity_files, proxy_jump, env, name)."""
        if not getattr(device, "host", None):
            raise BadInput(f"device {getattr(device, 'name', '?')} has no host to connect to")
        fields = {k: getattr(device, k, None) for k in ("host", "user", "port", "identity_files", "proxy_jump", "env")}
        kwargs = {k: v for k, v in fields.items() if v is not None}
        if getattr(device, "name", None):
            kwargs["name"] = device.name
        kwargs.update(options)
        return cls(**kwargs)

    @property
    def where(self) -> str:
        """host:port, for messages."""
        return f"{self.host}:{self.port}"

    def _make_jump(self, proxy_jump: Union[None, str, Sequence[Any], "SSHTransport"]) -> Optional["SSHTransport"]:
        """The transport of the last hop (which itself goes through the hops before it)."""
        if proxy_jump is None or isinstance(proxy_jump, SSHTransport):
            return proxy_jump
        previous: Optional[SSHTransport] = None
        for hop in hops(proxy_jump):
            previous = SSHTransport(
                hop.host, user=hop.user, port=hop.port, identity_files=hop.identity_files or self.identity_files,
                proxy_jump=previous, known_hosts=self.known_hosts.path, allow_agent=self.allow_agent,
                look_for_keys=self.look_for_keys, connect_timeout_s=self.connect_timeout_s,
                auth_timeout_s=self.auth_timeout_s, keepalive_s=self.keepalive_s,
            )
        return previous

    # connection -----------------------------------------------------------------------------
    def connected(self) -> paramiko.Transport:
        """The live paramiko transport, connecting first if needed."""
        with self._lock:
            if self._transport is None or not self._transport.is_active():
                self._drop()
                self._transport = self._connect()
            return self._transport

    def _socket(self) -> Any:
        if self._jump is not None:
            try:
                return self._jump.connected().open_channel(
                    "direct-tcpip", (self.host, self.port), ("127.0.0.1", 0), timeout=self.connect_timeout_s
                )
            except LINK_ERRORS as e:
                raise TransportError(f"{self.where} via {self._jump.where}: cannot open a tunnel: {e}") from e
        try:
            return socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        except socket.gaierror as e:
            raise TransportError(f"{self.where}: host name not found ({e.strerror or e})") from e
        except ConnectionRefusedError as e:
            raise TransportError(f"{self.where}: connection refused (is sshd running on that port?)") from e
        except socket.timeout as e:
            raise TransportError(f"{self.where}: no answer within {self.connect_timeout_s:g} s") from e
        except OSError as e:
            raise TransportError(f"{self.where}: cannot connect: {e.strerror or e}") from e

    def _connect(self) -> paramiko.Transport:
        sock = self._socket()
        t = paramiko.Transport(sock)
        t.banner_timeout = t.handshake_timeout = self.connect_timeout_s
        t.auth_timeout = self.auth_timeout_s
        known = self.known_hosts.known_types(self.host, self.port)
        options = t.get_security_options()
        if known:  # ask for the key type on file, so a host with several keys is not taken for changed
            options.key_types = [k for k in known if k in options.key_types] + [k for k in options.key_types if k not in known]
        try:
            t.start_client(timeout=self.connect_timeout_s)
            key = t.get_remote_server_key()
            self.known_hosts.verify(self.host, self.port, key, trust=self.trust_host, replace=self.replace_host_key)
            label = authenticate(t, self.user, self.where, self.identity_files, self.allow_agent, self.look_for_keys)
            if self.keepalive_s:
                t.set_keepalive(int(max(1, self.keepalive_s)))
        except (HostKeyError, AuthenticationError):
            t.close()
            raise
        except LINK_ERRORS as e:
            t.close()
            if "SSH protocol banner" in str(e):  # paramiko appends the socket's error to this text, or nothing
                raise TransportError(f"{self.where}: SSH handshake failed: no SSH banner from the server "
                                     f"(is sshd listening on port {self.port}?)") from e
            raise TransportError(f"{self.where}: SSH handshake failed: {e or type(e).__name__}") from e
        log.info("connected to %s as %s with %s (host key %s)", self.where, self.user, label, fingerprint(key))
        return t

    def _drop(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except LINK_ERRORS:
                pass
            self._sftp = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def reconnect(self, delays_s: Sequence[float] = RECONNECT_DELAYS_S) -> None:
        """Drop the link and make it again (host key re-verified), retrying with back-off."""
        with self._lock:
            self._drop()
            last: Optional[TransportError] = None
            for delay in (0.0, *delays_s):
                time.sleep(delay)
                try:
                    self._transport = self._connect()
                    return
                except (HostKeyError, AuthenticationError):
                    raise
                except TransportError as e:
                    log.info("reconnect to %s failed: %s", self.where, e)
                    last = e
            assert last is not None
            raise last

    def close(self) -> None:
        """Close the SFTP client and the connection (a jump host too)."""
        with self._lock:
            self._drop()
        if self._jump is not None:
            self._jump.close()

    # commands ---------------------------------------------------------------------------------
    def command_line(self, argv: Sequence[str], sudo: bool = False, env: Optional[Mapping[str, str]] = None) -> str:
        """The exact string sent to the remote shell: every argument quoted with shlex."""
        merged = dict(self.env, **(env or {}))
        return shlex.join(wrap_argv(argv, merged, sudo and self.user != "root"))

    def _exec(self, command: str) -> paramiko.Channel:
        try:
            chan = self.connected().open_session(timeout=self.connect_timeout_s)
            chan.exec_command(command)
            return chan
        except LINK_ERRORS as e:
            raise TransportError(f"{self.where}: cannot start a command: {e or type(e).__name__}") from e

    def run(
        self,
        argv: Sequence[str],
        timeout_s: float = 60.0,
        sudo: bool = False,
        stdin: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
    ) -> CommandResult:
        """Run a command and wait for it; return its exit code and outputs."""
        chan = self._exec(self.command_line(argv, sudo, env))
        out, err = bytearray(), bytearray()
        try:
            try:
                if stdin is not None:
                    chan.sendall(stdin.encode("utf-8"))
                chan.shutdown_write()
            except LINK_ERRORS as e:
                raise TransportError(f"{self.where}: cannot write to a command: {e}") from e
            code = pump(chan, self.where, timeout_s, out.extend, err.extend)
        finally:
            chan.close()
        return CommandResult(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def run_streamed(
        self,
        argv: Sequence[str],
        on_line: Callable[[str], None],
        timeout_s: float = 3600.0,
        sudo: bool = False,
        env: Optional[Mapping[str, str]] = None,
    ) -> CommandResult:
        """Run a command, calling on_line for each stdout line (without newline) as it arrives."""
        chan = self._exec(self.command_line(argv, sudo, env))
        lines, out, err = LineBuffer(), [], bytearray()

        def stdout(data: bytes) -> None:
            lines.feed(data)
            for line in lines.pop_all():
                out.append(line)
                on_line(line.rstrip("\n"))

        try:
            chan.shutdown_write()
            code = pump(chan, self.where, timeout_s, stdout, err.extend)
        finally:
            chan.close()
        rest = lines.rest()
        if rest:
            out.append(rest)
            on_line(rest)
        return CommandResult(code, "".join(out), err.decode("utf-8", "replace"))

    def open_channel(self, argv: Sequence[str], env: Optional[Mapping[str, str]] = None) -> Channel:
        """Start a process with its stdin and stdout as a line channel (stderr kept for messages)."""
        return SSHChannel(self._exec(self.command_line(argv, False, env)), self.where)

    def home(self) -> str:
        """The remote $HOME (as a command sees it), else the SFTP start folder."""
        if self._home is None:
            result = self.run(["printenv", "HOME"], timeout_s=self.connect_timeout_s)
            home = result.stdout.strip()
            self._home = home if result.ok and home.startswith("/") else self._sftp_call("home", lambda s: s.normalize("."))
        return self._home

    # files ------------------------------------------------------------------------------------
    def sftp(self) -> paramiko.SFTPClient:
        """The cached SFTP client (opened on first use)."""
        with self._lock:
            t = self.connected()  # after a drop this reconnects, and forgets the old SFTP client
            if self._sftp is not None and self._sftp.get_channel().closed:
                self._sftp = None
            if self._sftp is None:
                try:
                    self._sftp = t.open_sftp_client()
                except LINK_ERRORS as e:
                    raise TransportError(f"{self.where}: cannot open SFTP: {e or type(e).__name__}") from e
                if self._sftp is None:
                    raise TransportError(f"{self.where}: the server has no SFTP subsystem")
            return self._sftp

    def _sftp_call(self, what: str, call: Callable[[paramiko.SFTPClient], Any]) -> Any:
        """Run one SFTP operation; missing-file and permission errors pass through, the rest translated."""
        try:
            return call(self.sftp())
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            raise
        except (paramiko.SSHException, EOFError) as e:
            self._sftp = None
            raise TransportError(f"{self.where}: {what}: link lost: {e or type(e).__name__}") from e
        except OSError as e:
            if self._transport is None or not self._transport.is_active():
                self._sftp = None
                raise TransportError(f"{self.where}: {what}: link lost: {e}") from e
            raise TransportError(f"{self.where}: {what}: {e}") from e  # an SFTP status error: the server's text

    def read_text(self, path: str) -> Optional[str]:
        """A text file's content over SFTP, or None when it does not exist or cannot be read."""

        def read(s: paramiko.SFTPClient) -> bytes:
            with s.open(path, "rb") as f:
                return f.read()

        try:
            data = self._sftp_call(f"read {path}", read)
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            return None
        except TransportError:
            if self._sftp is None:  # the link was lost (not a refusal): say so
                raise
            return None  # the server refused (a folder, a special file): cannot be read
        return data.decode("utf-8", "replace")

    def put(self, local_path: str, remote_path: str) -> None:
        """Copy a local file to the device over SFTP."""
        if not os.path.isfile(local_path):
            raise BadInput(f"cannot copy {local_path} to {self.name}: no such file")
        try:
            self._sftp_call(f"put {remote_path}", lambda s: s.put(local_path, remote_path, confirm=True))
        except (FileNotFoundError, PermissionError, IsADirectoryError) as e:
            raise TransportError(f"{self.where}: cannot write {remote_path}: {e.strerror or e}") from e

    def get(self, remote_path: str, local_path: str) -> None:
        """Copy a file from the device over SFTP."""
        try:
            self._sftp_call(f"get {remote_path}", lambda s: s.get(remote_path, local_path))
        except (FileNotFoundError, PermissionError, IsADirectoryError) as e:
            raise TransportError(f"{self.where}: cannot read {remote_path}: {e.strerror or e}") from e

    def exists(self, path: str) -> bool:
        """True when the path exists on the device."""
        try:
            self._sftp_call(f"stat {path}", lambda s: s.stat(path))
            return True
        except (FileNotFoundError, PermissionError):
            return False

    def makedirs(self, path: str) -> None:
        """Create a folder and its parents over SFTP (no error when it exists)."""
        parts, current = [p for p in path.split("/") if p], ""
        for part in parts:
            current += "/" + part
            if not self.exists(current):
                try:
                    self._sftp_call(f"mkdir {current}", lambda s, c=current: s.mkdir(c))
                except (FileNotFoundError, PermissionError) as e:
                    raise TransportError(f"{self.where}: cannot create {current}: {e}") from e
                except TransportError:
                    if not self.exists(current):  # lost a race with another deployer: fine
                        raise

    def rename(self, src: str, dst: str) -> None:
        """Rename atomically (posix-rename); TransportError when dst exists as a non-empty folder."""
        try:
            self._sftp_call(f"cannot rename {src} to {dst}", lambda s: s.posix_rename(src, dst))
        except (FileNotFoundError, PermissionError) as e:
            raise TransportError(f"{self.where}: cannot rename {src} to {dst}: {e}") from e


def transport_for(device: Any, **ssh_options: Any) -> Transport:
    """The transport of an inventory Device: LocalTransport for kind "local", else SSHTransport.

    ssh_options go to SSHTransport: known_hosts, trust_host, replace_host_key, timeouts.
    """
    if getattr(device, "kind", "ssh") == "local":
        return LocalTransport(name=getattr(device, "name", "local"), env=getattr(device, "env", None))
    return SSHTransport.for_device(device, **ssh_options)
