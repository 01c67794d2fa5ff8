"""Serve a simulated meter on a real pseudo-terminal, on TCP, or through pyserial's RFC 2217 server.

A Link (link.py) puts the protocol object on a serial line: byte timing at the baud rate in both directions
(10 bits a byte), replies released as the UART would send them, and one-shot faults. Servers run the Link in
their own thread, tick it exactly at the meter's update instants, and can vanish and come back like a USB
adapter being replugged. The RFC 2217 server is in rfc2217_server.py.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
import tty
from typing import Any, Callable, List, Optional

from power.errors import PowerError
from power.simulators.link import FAULTS, Link
from power.simulators.meter import SystemClock
from power.simulators.rfc2217_server import Rfc2217Server
from power.simulators.truth import Constant, CpuLoadCoupled, SplReplay, Truth

log = logging.getLogger(__name__)

__all__ = ["FAULTS", "Link", "PtyServer", "Rfc2217Server", "TcpServer", "build", "parse_load_w"]


def parse_load_w(text: str) -> float:
    """'60', '60W', '7.5w' -> watts."""
    try:
        return float(str(text).strip().rstrip("Ww"))
    except ValueError as e:
        raise PowerError(f"load must be watts like 60W, not {text!r}") from e


def build(
    model: str = "WT310E",
    load_w: float = 60.0,
    update_s: float = 0.1,
    seed: int = 0,
    cpu_coupled: bool = False,
    noise: bool = True,
    mode_4882: bool = True,
    spl: Optional[str] = None,
    truth: Optional[Truth] = None,
    clock: Any = None,
    terminator: bytes = b"\r\n",
    idn: Optional[str] = None,
    cpu_load_w: Optional[float] = None,
    utilisation: Optional[Callable[[], float]] = None,
) -> Any:
    """A protocol object (WT300 or WT210) on a real-time clock with the chosen power truth.

    load_w is the constant load, or with cpu_coupled the idle power, to which cpu_load_w (default
    max(load_w, 10 W)) is added at 100 % host CPU (or of `utilisation`, a 0..1 callable, when given)."""
    from power.simulators.wt300 import make

    clock = clock or SystemClock()
    if truth is None:
        if spl:
            truth = SplReplay(spl, clock.now_ns())
        elif cpu_coupled:
            extra_w = cpu_load_w if cpu_load_w is not None else max(load_w, 10.0)
            truth = CpuLoadCoupled(idle_w=load_w, load_w=extra_w, utilisation=utilisation, start_ns=clock.now_ns())
        else:
            truth = Constant(load_w)
    kw: dict = dict(truth=truth, clock=clock, update_s=update_s, seed=seed, noise=noise, terminator=terminator)
    if idn:
        kw["idn"] = idn
    if model.upper() == "WT210":
        kw["mode_4882"] = mode_4882
    return make(model.upper(), **kw)


class _Server:
    """A thread that serves a Link on some file descriptors until stop()."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._down_until_ns = 0
        self._vanish_request: Optional[float] = None
        self.ready = threading.Event()
        self.on_tick: Optional[Callable[[], None]] = None

    def start(self) -> "_Server":
        """Open the port and start the serving thread."""
        self._open()
        self.ready.set()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(5)
        self._close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def vanish(self, seconds: float) -> None:
        """Close the port now (like unplugging it) and bring it back after seconds."""
        self.ready.clear()
        self._vanish_request = seconds
        os.write(self._wake_w, b"x")

    def __enter__(self) -> "_Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _fds(self) -> List[int]:
        raise NotImplementedError

    def _open(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def _on_readable(self, fd: int, now: int) -> None:
        raise NotImplementedError

    def _send(self, data: bytes) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        link = self.link
        while not self._stop.is_set():
            now = time.time_ns()
            if self._vanish_request is not None:
                seconds, self._vanish_request = self._vanish_request, None
                log.info("simulated port vanishes for %.1f s", seconds)
                self._close()
                link.reset_line()
                self._down_until_ns = now + round(seconds * 1e9)
            if self._down_until_ns:
                if now >= self._down_until_ns:
                    self._down_until_ns = 0
                    self._open()
                    self.ready.set()
                    log.info("simulated port is back")
                else:
                    link.service(now)  # the meter keeps measuring while unplugged
                    self._wait([], min(self._down_until_ns, link.next_deadline_ns(now)) - now)
                    continue
            data = link.service(now)
            if data:
                self._send(data)
            if self.on_tick is not None:
                self.on_tick()
            timeout_ns = link.next_deadline_ns(time.time_ns()) - time.time_ns()
            for fd in self._wait(self._fds(), timeout_ns):
                self._on_readable(fd, time.time_ns())

    def _wait(self, fds: List[int], timeout_ns: int) -> List[int]:
        timeout_s = max(timeout_ns, 0) / 1e9
        try:
            readable, _, _ = select.select(fds + [self._wake_r], [], [], timeout_s)
        except (OSError, ValueError):
            time.sleep(0.001)
            return []
        if self._wake_r in readable:
            os.read(self._wake_r, 64)
            readable.remove(self._wake_r)
        return readable


class PtyServer(_Server):
    """The meter on a pseudo-terminal: clients open `path` (a /dev/pts/N, or a stable symlink to it)."""

    def __init__(self, link: Link, symlink: Optional[str] = None) -> None:
        super().__init__(link)
        self.symlink = symlink
        self._master: Optional[int] = None
        self._slave: Optional[int] = None
        self.pts = ""

    @property
    def path(self) -> str:
        """What a client opens: the symlink when one was asked for, else the /dev/pts path."""
        return self.symlink or self.pts

    def _open(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation: a plain 8-bit line
        os.set_blocking(self._master, False)
        self.pts = os.ttyname(self._slave)
        if self.symlink:
            tmp = f"{self.symlink}.{os.getpid()}.tmp"
            os.symlink(self.pts, tmp)
            os.replace(tmp, self.symlink)

    def _close(self) -> None:
        if self.symlink:
            try:
                os.unlink(self.symlink)
            except FileNotFoundError:
                pass
        for fd in (self._master, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = None

    def _fds(self) -> List[int]:
        return [self._master] if self._master is not None else []

    def _on_readable(self, fd: int, now: int) -> None:
        try:
            data = os.read(fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        if data:
            self.link.receive(data, now)

    def _send(self, data: bytes) -> None:
        if self._master is None:
            return
        try:
            os.write(self._master, data)
        except OSError as e:
            log.debug("pty write failed: %s", e)


class TcpServer(_Server):
    """The meter on TCP 127.0.0.1:port (clients use socket://127.0.0.1:port); one client at a time."""

    def __init__(self, link: Link, port: int = 0, host: str = "127.0.0.1") -> None:
        super().__init__(link)
        self.host, self.port = host, port
        self._listener: Optional[socket.socket] = None
        self._client: Optional[socket.socket] = None

    @property
    def url(self) -> str:
        """The pyserial URL of this server."""
        return f"socket://{self.host}:{self.port}"

    def _open(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(1)
        self.port = listener.getsockname()[1]
        self._listener = listener

    def _close(self) -> None:
        for sock in (self._client, self._listener):
            if sock is not None:
                sock.close()
        self._client = self._listener = None

    def _fds(self) -> List[int]:
        return [s.fileno() for s in (self._listener, self._client) if s is not None]

    def _on_readable(self, fd: int, now: int) -> None:
        if self._listener is not None and fd == self._listener.fileno():
            client, _ = self._listener.accept()
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._client is not None:
                self._client.close()  # the newest client wins, like a serial port reopened
            self._client = client
            self.link.reset_line()
            return
        if self._client is None:
            return
        try:
            data = self._client.recv(4096)
        except OSError:
            data = b""
        if not data:
            self._client.close()
            self._client = None
            return
        self.link.receive(data, now)

    def _send(self, data: bytes) -> None:
        if self._client is not None:
            try:
                self._client.sendall(data)
            except OSError:
                self._client.close()
                self._client = None
