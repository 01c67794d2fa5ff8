"""Line transports to an instrument: any pyserial URL, or a USB-TMC character device (/dev/usbtmcN).

Each read_line() also returns the host UTC ns at which the reply's first byte arrived, which the driver
uses to stamp samples. Library exceptions become AnalyzerIOError here, at the boundary.
"""

from __future__ import annotations

import abc
import errno
import fcntl
import logging
import os
import select
import struct
import time
import urllib.parse
from typing import Any, Mapping, Optional, Tuple

import serial

from power.errors import AnalyzerIOError, PowerError

log = logging.getLogger(__name__)

_USBTMC_IOCTL_SET_TIMEOUT = 0x40045B0A  # yoko-tool: timeout in ms (analyzers.md §2)
_POLL_S = 0.05
_PARITIES = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}


class TransportTimeout(AnalyzerIOError):
    """No complete reply within the time allowed."""


class PortBusy(AnalyzerIOError):
    """Another program holds the analyzer's local serial port (its exclusive lock)."""


class Transport(abc.ABC):
    """A byte line to one instrument."""

    url: str = ""
    byte_ns: int = 0  # time one byte takes on the wire; 0 when the medium does not pace bytes

    @abc.abstractmethod
    def write(self, data: bytes) -> None:
        """Send bytes (a command with its terminator)."""

    @abc.abstractmethod
    def read_line(self, timeout_s: float) -> Tuple[str, int]:
        """One reply line without CR/LF, and the host UTC ns at which its first byte arrived."""

    @abc.abstractmethod
    def drain(self, quiet_s: float, max_s: float) -> bytes:
        """Read and discard until the line has been quiet for quiet_s (at most max_s); return what was read."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the port."""

    def cancel(self) -> None:
        """Interrupt a blocked read where the medium allows it."""


def _clean(raw: bytes) -> str:
    # Replies never contain CR inside: strip every CR (terminator or stray) and decode 8-bit safe.
    return raw.replace(b"\r", b"").decode("latin-1")


class SerialTransport(Transport):
    """A pyserial port opened by URL: /dev/ttyUSB0, /dev/pts/N, rfc2217://, socket://, sim://.

    A local tty is opened with pyserial's exclusive=True (an flock on the port), so two programs
    never read one meter: the second is refused with PortBusy instead of stealing half the replies.
    """

    def __init__(self, url: str, options: Mapping[str, Any]) -> None:
        self.url = url
        baud = int(options.get("baudrate", 9600))
        local = "://" not in url
        try:
            port = serial.serial_for_url(url, do_not_open=True)
            if local:
                port.exclusive = True
            port.baudrate = baud
            port.bytesize = int(options.get("bytesize", 8))
            port.parity = _PARITIES[str(options.get("parity", "N")).upper()[:1]]
            stopbits = float(options.get("stopbits", 1))
            port.stopbits = stopbits if stopbits == 1.5 else int(stopbits)
            port.xonxoff = bool(options.get("xonxoff", False))
            port.rtscts = bool(options.get("rtscts", False))
            # One fixed, short read timeout: changing it reconfigures the port (on RFC 2217 a network round
            # trip), so deadlines are kept here instead, polling every _POLL_S at most.
            port.timeout = _POLL_S
            if not url.lower().startswith("rfc2217://"):  # pyserial's RFC 2217 client has no write timeout
                port.write_timeout = 5.0
            port.open()
        except (serial.SerialException, OSError, ValueError, KeyError) as e:
            code = getattr(e, "errno", None) if local else None
            if code in (errno.EAGAIN, errno.EWOULDBLOCK) and "lock" in str(e):
                raise PortBusy(f"cannot open analyzer port {url}: busy, another program has it open "
                               f"(see `fuser -v {url}`)") from e
            if code == errno.ENOENT:
                raise AnalyzerIOError(f"cannot open analyzer port {url}: no such device (is the meter plugged in?)") from e
            if code == errno.EACCES:
                raise AnalyzerIOError(f"cannot open analyzer port {url}: permission denied (join its group, "
                                      f"e.g. dialout)") from e
            raise AnalyzerIOError(f"cannot open analyzer port {url}: {e}") from e
        self._port = port
        self._buf = bytearray()
        self._buf_t_ns = 0
        self._last_len = 0
        self.byte_ns = _byte_ns(url, baud, options)

    def write(self, data: bytes) -> None:
        """Send bytes."""
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as e:
            raise AnalyzerIOError(f"write to analyzer at {self.url} failed: {e}") from e

    def read_line(self, timeout_s: float) -> Tuple[str, int]:
        """Wait for the first byte (stamped), then gather the rest of the line cheaply."""
        deadline = time.monotonic() + timeout_s
        buf = self._buf
        try:
            if not buf:
                first = self._port.read(1)
                while not first:
                    if time.monotonic() >= deadline:
                        raise TransportTimeout(f"analyzer at {self.url} sent nothing within {timeout_s:.1f} s")
                    first = self._port.read(1)
                self._buf_t_ns = time.time_ns()
                buf += first
                # At 9600 baud a 70-byte reply takes ~73 ms: sleep through most of it rather than waking
                # for every few bytes.
                if self.byte_ns and self._last_len > 8:
                    time.sleep((self._last_len - 6) * self.byte_ns / 1e9)
            t_first = self._buf_t_ns
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TransportTimeout(
                        f"analyzer at {self.url} sent an incomplete line within {timeout_s:.1f} s: "
                        f"{_clean(bytes(buf))[:60]!r}"
                    )
                chunk = self._port.read(max(self._port.in_waiting, 1))
                buf += chunk
        except (serial.SerialException, OSError) as e:
            raise AnalyzerIOError(f"analyzer at {self.url} vanished: {e}") from e
        end = buf.index(b"\n")
        line = bytes(buf[:end])
        del buf[: end + 1]
        if buf:
            self._buf_t_ns = time.time_ns()
        self._last_len = end + 1
        return _clean(line), t_first

    def drain(self, quiet_s: float, max_s: float) -> bytes:
        """Discard input until quiet."""
        got = bytearray(self._buf)
        self._buf.clear()
        start = last = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                if now - last >= quiet_s or now - start >= max_s:
                    break
                chunk = self._port.read(max(self._port.in_waiting, 1))
                if chunk:
                    got += chunk
                    last = time.monotonic()
        except (serial.SerialException, OSError) as e:
            raise AnalyzerIOError(f"analyzer at {self.url} vanished: {e}") from e
        return bytes(got)

    def cancel(self) -> None:
        """Wake a blocked read (posix ports and sim://)."""
        cancel = getattr(self._port, "cancel_read", None)
        if cancel is not None:
            try:
                cancel()
            except (OSError, serial.SerialException):
                pass

    def close(self) -> None:
        """Close the port."""
        try:
            self._port.close()
        except (serial.SerialException, OSError) as e:
            log.debug("closing %s: %s", self.url, e)


def _byte_ns(url: str, baud: int, options: Mapping[str, Any]) -> int:
    """Wire time of one 10-bit character, or 0 where the medium delivers whole replies at once."""
    if "byte_time_ns" in options:
        return int(options["byte_time_ns"])
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "socket" or scheme in ("loop", "spy"):
        return 0
    if scheme == "sim":
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        sim_baud = int(query.get("baud", ["0"])[-1] or 0)
        return round(10e9 / sim_baud) if sim_baud else 0
    return round(10e9 / baud) if baud else 0


class UsbTmcTransport(Transport):
    """The Linux usbtmc driver's /dev/usbtmcN: one write() per command, one read() per reply."""

    def __init__(self, path: str, options: Mapping[str, Any]) -> None:
        self.url = path
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        except OSError as e:
            raise AnalyzerIOError(f"cannot open USB-TMC device {path}: {e}") from e
        try:
            fcntl.ioctl(self._fd, _USBTMC_IOCTL_SET_TIMEOUT, struct.pack("I", 5000))
        except OSError as e:
            if e.errno not in (errno.ENOTTY, errno.EINVAL):
                log.debug("usbtmc timeout ioctl on %s: %s", path, e)
        self._pending = bytearray()

    def write(self, data: bytes) -> None:
        """One write() per message."""
        try:
            for message in data.split(b"\n")[:-1] if data.endswith(b"\n") else [data]:
                os.write(self._fd, message + b"\n")
        except OSError as e:
            raise AnalyzerIOError(f"write to {self.url} failed: {e}") from e

    def read_line(self, timeout_s: float) -> Tuple[str, int]:
        """One read() (more only if a reply came in pieces), stamped when it returned."""
        deadline = time.monotonic() + timeout_s
        t_first = 0
        try:
            while b"\n" not in self._pending:
                left = deadline - time.monotonic()
                ready, _, _ = select.select([self._fd], [], [], max(left, 0))
                if not ready:
                    raise TransportTimeout(f"{self.url} sent no reply within {timeout_s:.1f} s")
                chunk = os.read(self._fd, 4096)
                if not chunk:
                    raise AnalyzerIOError(f"{self.url} closed")
                t_first = t_first or time.time_ns()
                self._pending += chunk
        except OSError as e:
            raise AnalyzerIOError(f"{self.url} vanished: {e}") from e
        end = self._pending.index(b"\n")
        line = bytes(self._pending[:end])
        del self._pending[: end + 1]
        return _clean(line), t_first or time.time_ns()

    def drain(self, quiet_s: float, max_s: float) -> bytes:
        """Discard replies until quiet."""
        got = bytearray(self._pending)
        self._pending.clear()
        start = time.monotonic()
        try:
            while time.monotonic() - start < max_s:
                ready, _, _ = select.select([self._fd], [], [], quiet_s)
                if not ready:
                    break
                chunk = os.read(self._fd, 4096)
                if not chunk:
                    break
                got += chunk
        except OSError as e:
            raise AnalyzerIOError(f"{self.url} vanished: {e}") from e
        return bytes(got)

    def close(self) -> None:
        """Close the device."""
        try:
            os.close(self._fd)
        except OSError:
            pass


def open_transport(url: str, options: Optional[Mapping[str, Any]] = None) -> Transport:
    """A USB-TMC device for /dev/usbtmcN (or usbtmc:///path), a pyserial port for everything else."""
    options = options or {}
    if not url:
        raise PowerError("analyzer URL is empty")
    if url.startswith("usbtmc://"):
        return UsbTmcTransport(url[len("usbtmc://"):], options)
    if os.path.basename(url).startswith("usbtmc") or options.get("usbtmc"):
        return UsbTmcTransport(url, options)
    if url.lower().startswith("sim://"):
        from power.simulators import register_url_scheme

        register_url_scheme()
    return SerialTransport(url, options)
