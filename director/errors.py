"""Exceptions of the director: one root, a few specific kinds, each with an exit code for the CLI."""

from __future__ import annotations

from typing import Sequence

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INVALID = 3
EXIT_UNREACHABLE = 5


class DirectorError(Exception):
    """Root of every error the director reports; its message is one line for the user."""

    exit_code = EXIT_FAILED


class BadInput(DirectorError):
    """A wrong argument, file or name given by the user."""

    exit_code = EXIT_BAD_INPUT


class TransportError(DirectorError):
    """A device could not be reached, or the link to it broke."""

    exit_code = EXIT_UNREACHABLE


class HostKeyError(TransportError):
    """The device's SSH host key is unknown or changed; the message gives the fingerprint and the flag."""


class AuthenticationError(TransportError):
    """The device refused every key or agent identity offered."""


class CommandFailed(DirectorError):
    """A command on the device exited non-zero; carries its exit code and both outputs."""

    def __init__(self, argv: Sequence[str], exit_code: int, stdout: str, stderr: str) -> None:
        last = (stderr.strip() or stdout.strip()).splitlines()[-1:] or [""]
        super().__init__(f"{' '.join(argv)} exited {exit_code}: {last[0]}")
        self.argv = list(argv)
        self.exit_code_remote = exit_code
        self.stdout = stdout
        self.stderr = stderr


class AgentUnavailable(DirectorError):
    """The device lacks Python or the agent's modules; the message lists what to install."""


class PassFailed(DirectorError):
    """A pass ended on the device without a LoadGen result; `kind` is the agent's error kind
    (agent.protocol.ERROR_*, or "lost" when the worker vanished)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class Cancelled(DirectorError):
    """The session was asked to stop (a sweep's cancel or its watchdog)."""
