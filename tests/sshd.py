"""A "board" for tests: OpenSSH's sshd on loopback with throwaway keys, its own HOME, optionally a shifted clock.

Runs as the current user (root here). The board's HOME is a temporary folder set with sshd's
`SetEnv HOME=...` (commands and the agent see it; SFTP starts in the real home, which is why the
transport asks `printenv HOME`). A clock offset uses libfaketime through `SetEnv LD_PRELOAD=...`,
with FAKETIME_DONT_FAKE_MONOTONIC=1, so no hook in the project's code is needed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence

import psutil

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
FAKETIME_LIBS = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
)


def faketime_lib() -> Optional[str]:
    """libfaketime's path, or None when the faketime package is absent."""
    return next((p for p in FAKETIME_LIBS if os.path.exists(p)), None)


def keygen(path: Path) -> Path:
    """A new passphrase-less ed25519 key pair at path (and path.pub)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Board:
    """A running sshd and the files that go with it."""

    root: Path
    host: str
    port: int
    home: Path
    host_key: Path
    client_key: Path
    known_hosts: Path
    pid: int
    process: Optional[subprocess.Popen] = None

    @property
    def host_public_line(self) -> str:
        """The known_hosts line that trusts this board."""
        key_type, key_b64 = (self.host_key.with_suffix(".pub")).read_text().split()[:2]
        return f"[{self.host}]:{self.port} {key_type} {key_b64}\n"

    def transport(self, **options: Any):
        """An SSHTransport to this board with the test client key and this board's known_hosts."""
        from director.ssh import SSHTransport

        kwargs = dict(
            user="root", port=self.port, identity_files=[str(self.client_key)], known_hosts=str(self.known_hosts),
            allow_agent=False, look_for_keys=False, connect_timeout_s=10.0, name="board",
        )
        kwargs.update(options)
        return SSHTransport(self.host, **kwargs)

    def connection_processes(self) -> List[psutil.Process]:
        """The per-connection sshd children of the listener (one per client connection)."""
        try:
            return psutil.Process(self.pid).children()
        except psutil.NoSuchProcess:
            return []

    def kill_connection(self, client_port: int) -> bool:
        """Cut one client connection (an "SSH drop") by killing its sshd child; the listener stays up."""
        for child in self.connection_processes():
            try:
                if not any(c.raddr and c.raddr[1] == client_port for c in child.net_connections(kind="tcp")):
                    continue
                # The privileged monitor and its unprivileged session child both hold the socket; the
                # commands they started (the agent, its detached worker) are left alone, as in a real drop.
                doomed = [p for p in child.children(recursive=True) if p.name().startswith("sshd")] + [child]
            except psutil.NoSuchProcess:
                continue
            for process in doomed:
                try:
                    process.kill()
                except psutil.NoSuchProcess:
                    pass
            psutil.wait_procs(doomed, timeout=5)
            return True
        return False

    def stop(self) -> None:
        """Stop the listener (by the PID in its PidFile) and every connection it still has."""
        pid_file = self.root / "sshd.pid"
        pid = int(pid_file.read_text()) if pid_file.exists() else self.pid
        for child in self.connection_processes():
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if self.process is not None:
            self.process.wait(10)


def start_sshd(
    root: Path,
    host: str = "127.0.0.1",
    faketime: Optional[str] = None,
    trusted: bool = True,
    extra_config: Sequence[str] = (),
    host_key: Optional[Path] = None,
    client_key: Optional[Path] = None,
    env: Sequence[str] = (),
) -> Board:
    """Start sshd on a free port under root; faketime like '+3.7s' shifts the board's wall clock; env adds
    `NAME=value` entries to the environment of the board's commands (sshd takes only one SetEnv line)."""
    root.mkdir(parents=True, exist_ok=True)
    home = root / "home"
    home.mkdir(exist_ok=True)
    host_key = host_key or keygen(root / "host_ed25519")
    client_key = client_key or keygen(root / "client_ed25519")
    (root / "authorized_keys").write_text(client_key.with_suffix(".pub").read_text())
    env = [f"HOME={home}", *env]
    if faketime:
        lib = faketime_lib()
        assert lib, "libfaketime not installed (apt-get install faketime)"
        env += [f"LD_PRELOAD={lib}", f"FAKETIME={faketime}", "FAKETIME_DONT_FAKE_MONOTONIC=1"]
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation folder sshd insists on
    last_error = ""
    for _attempt in range(3):
        port = free_port(host)
        config = root / "sshd_config"
        config.write_text("\n".join([
            f"Port {port}", f"ListenAddress {host}", f"HostKey {host_key}",
            f"AuthorizedKeysFile {root / 'authorized_keys'}", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "StrictModes no", "UsePAM no", "PermitRootLogin prohibit-password",
            f"PidFile {root / 'sshd.pid'}", "Subsystem sftp internal-sftp", "LogLevel VERBOSE",
            "AllowTcpForwarding yes", "ClientAliveInterval 0", f"SetEnv {' '.join(env)}", *extra_config,
        ]) + "\n")
        (root / "sshd.pid").unlink(missing_ok=True)
        # -D keeps sshd in the foreground as our child, so it is reaped when stopped (no zombie).
        proc = subprocess.Popen([SSHD, "-D", "-f", str(config), "-E", str(root / "sshd.log")], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if (root / "sshd.pid").exists() and (root / "sshd.pid").read_text().strip():
                try:
                    socket.create_connection((host, port), timeout=1).close()
                    break
                except OSError:
                    pass
            time.sleep(0.02)
        else:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            log = (root / "sshd.log").read_text().strip() if (root / "sshd.log").exists() else ""
            last_error = log or proc.stderr.read().decode(errors="replace").strip() or "sshd did not start"
            continue
        proc.stderr.close()
        known_hosts = root / "known_hosts"
        board = Board(root, host, port, home, host_key, client_key, known_hosts, int((root / "sshd.pid").read_text()), proc)
        known_hosts.write_text(board.host_public_line if trusted else "")
        return board
    raise RuntimeError(f"sshd did not start: {last_error}")
