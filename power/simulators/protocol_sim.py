"""pyserial URL handler for the simulator: sim://<model>[?seed=N&rate=S&load=W&baud=B&cpu=1&noise=0&mode4882=0].

Registered by power.simulators.register_url_scheme(); serial.serial_for_url("sim://wt310e?load=60") then
returns a port whose far end is a simulated meter served on a private pseudo-terminal (real tty I/O).
`baud` paces the simulated line (0, the default, sends replies at once); `rate` is the update interval (s).
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any, Dict, Optional

import serial
from serial.serialposix import Serial as _PosixSerial

from power.errors import PowerError
from power.simulators.serve import Link, PtyServer, build, parse_load_w

log = logging.getLogger(__name__)

_KNOWN = {"seed", "rate", "load", "baud", "cpu", "noise", "mode4882", "spl"}


def parse_sim_url(url: str) -> Dict[str, Any]:
    """The simulator settings in a sim:// URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "sim":
        raise PowerError(f"not a sim:// URL: {url!r}")
    query = {k.lower(): v[-1] for k, v in urllib.parse.parse_qs(parts.query).items()}
    unknown = set(query) - _KNOWN
    if unknown:
        raise PowerError(f"sim:// URL {url!r}: unknown option(s) {', '.join(sorted(unknown))}")
    try:
        return {
            "model": (parts.netloc or parts.path.strip("/") or "wt310e").upper(),
            "seed": int(query.get("seed", 0)),
            "update_s": float(query.get("rate", 0.1)),
            "load_w": parse_load_w(query.get("load", "60")),
            "baud": int(query.get("baud", 0)),
            "cpu_coupled": query.get("cpu", "0") not in ("0", "", "false", "no"),
            "noise": query.get("noise", "1") not in ("0", "false", "no"),
            "mode_4882": query.get("mode4882", "1") not in ("0", "false", "no"),
            "spl": query.get("spl"),
        }
    except ValueError as e:
        raise PowerError(f"sim:// URL {url!r}: {e}") from e


class Serial(_PosixSerial):
    """A pyserial port connected to a freshly started simulated meter; `simulator` is its PtyServer."""

    simulator: Optional[PtyServer] = None

    def open(self) -> None:
        """Start the simulator on a pty, then open that pty as a normal serial port."""
        try:
            settings = parse_sim_url(self._port)
            baud = settings.pop("baud")
            link = Link(build(**settings), baud=baud)
        except PowerError as e:
            raise serial.SerialException(str(e)) from e
        self.simulator = PtyServer(link).start()
        url = self._port
        self.portstr = self.simulator.path
        try:
            super().open()
        except BaseException:
            self.simulator.stop()
            self.simulator = None
            raise
        finally:
            self.portstr = url

    def close(self) -> None:
        """Close the port and stop its simulator."""
        super().close()
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None
