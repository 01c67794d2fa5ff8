"""Reading paramiko channels: a command's outputs until it exits, and the agent's line channel."""

from __future__ import annotations

import logging
import select
import socket
import time
from typing import Callable, Optional

import paramiko

from director.errors import TransportError
from director.lines import LineBuffer, Tail
from director.transport import Channel, TimedOut

log = logging.getLogger(__name__)

CHUNK = 65536
KILLED = -1  # exit code reported when the remote command was ended by a signal (no exit status)
LINK_ERRORS = (paramiko.SSHException, EOFError, OSError, socket.error)


def _wait(chan: paramiko.Channel, timeout_s: float) -> None:
    """Sleep until the channel has something to say (data, stderr, EOF) or the time is up."""
    if chan.recv_ready() or chan.recv_stderr_ready() or chan.closed or chan.eof_received:
        return
    try:
        select.select([chan.fileno()], [], [], max(0.0, min(timeout_s, 0.5)))
    except (OSError, ValueError):
        time.sleep(min(timeout_s, 0.01))


def _exit_status(chan: paramiko.Channel) -> Optional[int]:
    """The exit status the server sent, or None (paramiko also sets its event, with -1, on close)."""
    return chan.exit_status if chan.status_event.is_set() and chan.exit_status >= 0 else None


def _link_alive(chan: paramiko.Channel, settle_s: float = 0.2) -> bool:
    """True when the connection under a closed channel is still up (paramiko closes channels first)."""
    transport = chan.get_transport()
    deadline = time.monotonic() + settle_s
    while transport is not None and transport.is_active() and time.monotonic() < deadline:
        time.sleep(0.01)
    return transport is not None and transport.is_active()


def pump(
    chan: paramiko.Channel,
    where: str,
    timeout_s: float,
    on_stdout: Callable[[bytes], None],
    on_stderr: Callable[[bytes], None],
) -> int:
    """Read both outputs of an exec channel until the command exits; return its exit status."""
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            got = False
            while chan.recv_ready():
                data = chan.recv(CHUNK)
                if not data:
                    break
                on_stdout(data)
                got = True
            while chan.recv_stderr_ready():
                on_stderr(chan.recv_stderr(CHUNK))
                got = True
            idle = not chan.recv_ready() and not chan.recv_stderr_ready()
            if idle and _exit_status(chan) is not None:
                return chan.exit_status
            if idle and chan.closed:
                if chan.eof_received and _link_alive(chan):
                    return KILLED  # the server closed it without an exit status: killed by a signal
                raise TransportError(f"{where}: the connection dropped while a command was running")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimedOut(f"{where}: command still running after {timeout_s:g} s")
            if not got:
                _wait(chan, left)
    except LINK_ERRORS as e:
        raise TransportError(f"{where}: link lost while running a command: {e or type(e).__name__}") from e


class SSHChannel(Channel):
    """A remote process's stdin/stdout as a line channel over one SSH session channel."""

    def __init__(self, chan: paramiko.Channel, where: str) -> None:
        self._chan = chan
        self._where = where
        self._out = LineBuffer()
        self._err = Tail()
        self._eof = False

    def send_line(self, line: str) -> None:
        """Write one line (a newline is added when missing)."""
        data = (line if line.endswith("\n") else line + "\n").encode("utf-8")
        try:
            self._chan.sendall(data)
        except LINK_ERRORS as e:
            raise TransportError(f"{self._where}: agent channel lost while sending: {e or type(e).__name__}") from e

    def read_line(self, timeout_s: float) -> str:
        """The next stdout line with its newline; '' at end of stream; TimedOut when none in time."""
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                line = self._out.pop()
                if line is not None:
                    return line
                if self._eof:
                    return self._out.rest()
                self._read_available()
                if self._out.has_line() or self._eof:
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimedOut(f"{self._where}: no answer from the agent within {timeout_s:g} s")
                _wait(self._chan, left)
        except LINK_ERRORS as e:
            raise TransportError(f"{self._where}: agent channel lost: {e or type(e).__name__}") from e

    def _read_available(self) -> None:
        while self._chan.recv_stderr_ready():
            self._err.feed(self._chan.recv_stderr(CHUNK))
        while self._chan.recv_ready():
            data = self._chan.recv(CHUNK)
            if not data:
                self._eof = True
                break
            self._out.feed(data)
        if not self._chan.recv_ready() and (self._chan.eof_received or self._chan.closed):
            while self._chan.recv_stderr_ready():
                self._err.feed(self._chan.recv_stderr(CHUNK))
            self._eof = True

    def stderr_text(self) -> str:
        """The last lines the remote process wrote to stderr."""
        try:
            self._read_available()
        except LINK_ERRORS:
            pass
        return self._err.text()

    @property
    def exit_status(self) -> Optional[int]:
        """The remote process's exit status once known."""
        return _exit_status(self._chan)

    def close(self) -> None:
        """Close stdin (the agent ends on EOF), wait a moment for it, then close the channel."""
        try:
            if not self._chan.closed:
                self._chan.shutdown_write()
                deadline = time.monotonic() + 5.0
                while _exit_status(self._chan) is None and not self._chan.closed and time.monotonic() < deadline:
                    self._read_available()
                    _wait(self._chan, 0.1)
        except LINK_ERRORS as e:
            log.debug("%s: closing the agent channel: %s", self._where, e)
        finally:
            self._chan.close()
