"""Faithful instrument simulators (Yokogawa WT300E/WT210 SCPI, PTDaemon TCP) for tests and demos."""

from __future__ import annotations

import serial


def register_url_scheme() -> None:
    """Make serial.serial_for_url accept sim://<model>?... (see power.simulators.protocol_sim)."""
    if "power.simulators" not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append("power.simulators")
