"""Exceptions of the agent: one root, a few specific kinds, each with an exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INVALID = 3
EXIT_CANCELLED = 4


class AgentError(Exception):
    """Root of every error the agent reports; its message is one line for the user."""

    exit_code = EXIT_FAILED


class BadInput(AgentError):
    """The job, a model, a dataset or a path given by the user is wrong."""

    exit_code = EXIT_BAD_INPUT


class MissingDependency(BadInput):
    """A runtime or LoadGen is not installed; the message names the extra to install."""


class ModelError(BadInput):
    """A model file is missing, corrupt, of an unknown format, or does not fit its inputs."""


class LoadGenError(AgentError):
    """LoadGen refused its settings or logged errors."""


class Cancelled(AgentError):
    """The pass was asked to stop (SIGTERM or SIGINT)."""

    exit_code = EXIT_CANCELLED
