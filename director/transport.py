"""The one interface to a device, whatever carries it: run commands, move files, open the agent channel."""

from __future__ import annotations

import abc
import re
from typing import Callable, List, Mapping, Optional, Sequence

from devices.shell import CommandResult
from director.errors import BadInput, CommandFailed, TransportError

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TimedOut(TransportError):
    """A command or a channel read did not finish within its time limit (the link may still be up)."""


def wrap_argv(argv: Sequence[str], env: Optional[Mapping[str, str]] = None, sudo: bool = False) -> List[str]:
    """argv with `sudo -n --` (when sudo) and `env -- NAME=value ...` (when env) in front; checks every item."""
    if isinstance(argv, (str, bytes)) or not argv:
        raise BadInput(f"a command must be a non-empty list of arguments, not {argv!r}")
    if not all(isinstance(a, str) for a in argv):
        raise BadInput(f"every command argument must be a string: {list(argv)!r}")
    out: List[str] = ["sudo", "-n", "--"] if sudo else []
    if env:
        bad = [k for k in env if not isinstance(k, str) or not ENV_NAME.match(k)]
        if bad:
            raise BadInput(f"bad environment variable name(s): {', '.join(map(repr, bad))}")
        out += ["env", "--"] + [f"{k}={v}" for k, v in env.items()]
    return out + list(argv)


class Channel(abc.ABC):
    """A running remote process spoken to in lines (the agent's `serve`)."""

    @abc.abstractmethod
    def send_line(self, line: str) -> None:
        """Write one line (with its newline) to the process's stdin."""

    @abc.abstractmethod
    def read_line(self, timeout_s: float) -> str:
        """The next line of its stdout ('' at end of stream); raises TransportError on time-out."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close stdin and let the process end."""

    def stderr_text(self) -> str:
        """The last lines the process wrote to stderr ('' when unknown)."""
        return ""


class Transport(abc.ABC):
    """A device reached over SSH or locally. Implements devices.shell.Shell.

    Commands are always argv lists, quoted by the transport; never a string with user input.
    The connection is made lazily on first use and can be re-made after a drop. `env` adds
    variables to one command (on top of the transport's own), set through `env --`.
    """

    name: str

    @abc.abstractmethod
    def run(
        self,
        argv: Sequence[str],
        timeout_s: float = 60.0,
        sudo: bool = False,
        stdin: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
    ) -> CommandResult:
        """Run a command and wait for it; return its exit code and outputs."""

    def run_check(
        self,
        argv: Sequence[str],
        timeout_s: float = 60.0,
        sudo: bool = False,
        stdin: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
    ) -> CommandResult:
        """Run a command; raise CommandFailed (with exit code and both outputs) unless it exits 0."""
        result = self.run(argv, timeout_s=timeout_s, sudo=sudo, stdin=stdin, **({"env": env} if env else {}))
        if not result.ok:
            raise CommandFailed(argv, result.exit_code, result.stdout, result.stderr)
        return result

    @abc.abstractmethod
    def run_streamed(
        self,
        argv: Sequence[str],
        on_line: Callable[[str], None],
        timeout_s: float = 3600.0,
        sudo: bool = False,
        env: Optional[Mapping[str, str]] = None,
    ) -> CommandResult:
        """Run a command, calling on_line for each line of its stdout (without newline) as it arrives."""

    @abc.abstractmethod
    def read_text(self, path: str) -> Optional[str]:
        """A text file's content, or None when it does not exist or cannot be read."""

    @abc.abstractmethod
    def put(self, local_path: str, remote_path: str) -> None:
        """Copy a local file to the device (parent folders must exist)."""

    @abc.abstractmethod
    def get(self, remote_path: str, local_path: str) -> None:
        """Copy a file from the device."""

    @abc.abstractmethod
    def open_channel(self, argv: Sequence[str], env: Optional[Mapping[str, str]] = None) -> Channel:
        """Start a process with its stdin and stdout as a line channel."""

    @abc.abstractmethod
    def home(self) -> str:
        """The remote user's home folder."""

    @abc.abstractmethod
    def reconnect(self) -> None:
        """Drop the link (if any) and make it again."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the link."""

    # File operations with command-line defaults; SSH and local override them with SFTP and os.
    def exists(self, path: str) -> bool:
        """True when the path exists on the device."""
        return self.run(["test", "-e", path]).ok

    def makedirs(self, path: str) -> None:
        """Create a folder and its parents (no error when it exists)."""
        self.run_check(["mkdir", "-p", "--", path])

    def rename(self, src: str, dst: str) -> None:
        """Rename atomically; fails (TransportError) when dst exists."""
        result = self.run(["mv", "-T", "-n", "--", src, dst])
        if not result.ok or self.exists(src):
            raise TransportError(f"{self.name}: cannot rename {src} to {dst}: {result.stderr.strip() or 'target exists'}")

    def remove_tree(self, path: str) -> None:
        """Delete a folder and everything in it (no error when absent)."""
        self.run(["rm", "-rf", "--", path])

    def expand_home(self, path: str) -> str:
        """A device path with a leading `~` replaced by the home folder (no shell does it for us)."""
        if path == "~" or path.startswith("~/"):
            return self.home().rstrip("/") + path[1:]
        return path

    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
