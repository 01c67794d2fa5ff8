"""pyserial's own RFC 2217 server class (serial.rfc2217.PortManager) serving a serial device on TCP.

Used to put the simulator's pty behind rfc2217://127.0.0.1:PORT for tests, as ser2net would a real port.
"""

from __future__ import annotations

import logging
import select
import socket
import threading

import serial
import serial.rfc2217

log = logging.getLogger(__name__)


class _PtySerial(serial.Serial):
    """A pyserial port on a pty, whose modem lines do not exist: report them low, ignore setting them."""

    cts = dsr = ri = cd = property(lambda self: False)  # type: ignore[assignment]

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    def _update_break_state(self) -> None:
        pass


class Rfc2217Server:
    """pyserial's own RFC 2217 PortManager serving a serial device (the simulator's pty) on TCP."""

    def __init__(self, device: str, port: int = 0, host: str = "127.0.0.1") -> None:
        self.device = device
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(1)
        self.host, self.port = host, self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="Rfc2217Server", daemon=True)

    @property
    def url(self) -> str:
        """The client URL; ign_set_control because a pty has no modem lines."""
        return f"rfc2217://{self.host}:{self.port}?ign_set_control"

    def start(self) -> "Rfc2217Server":
        """Start accepting clients."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop and close."""
        self._stop.set()
        self._listener.close()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([self._listener], [], [], 0.2)
                if not readable:
                    continue
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                self._serve(client)
            except (OSError, serial.SerialException) as e:
                log.info("rfc2217 session ended: %s", e)
            finally:
                client.close()

    def _serve(self, client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        port = _PtySerial(self.device, timeout=0)
        write_lock = threading.Lock()

        class _Connection:
            def write(self, data: bytes) -> None:
                with write_lock:
                    client.sendall(data)

        manager = serial.rfc2217.PortManager(port, _Connection())
        try:
            while not self._stop.is_set():
                readable, _, _ = select.select([client, port.fd], [], [], 0.2)
                if port.fd in readable:
                    data = port.read(port.in_waiting or 1)
                    if data:
                        _Connection().write(b"".join(manager.escape(data)))
                if client in readable:
                    data = client.recv(4096)
                    if not data:
                        return
                    out = b"".join(manager.filter(data))
                    if out:
                        port.write(out)
        finally:
            port.close()
