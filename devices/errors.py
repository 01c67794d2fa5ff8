"""Exceptions of the devices package: one root, a few specific kinds."""

from __future__ import annotations


class DeviceError(Exception):
    """Root of every error raised by the devices package; its message is one line for the user."""


class InventoryError(DeviceError):
    """The inventory is malformed or names something unknown; the message gives file and line."""


class UnknownDevice(InventoryError):
    """No device of that name in the inventory or ~/.ssh/config; the message lists the known ones."""


class ProfileError(DeviceError):
    """A board operation failed: an unknown power mode, a command that failed, a sensor not found."""


class UnknownPowerMode(ProfileError):
    """A power mode the board does not have (or a board without power modes asked for one)."""
