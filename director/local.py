"""Local transport: the built-in `local` device, commands as subprocesses (argv lists, never a shell)."""

from __future__ import annotations

import logging
import os
import selectors
import shutil
import signal
import subprocess
import time
from typing import Callable, Dict, IO, Mapping, Optional, Sequence

from devices.shell import CommandResult
from director.errors import BadInput, TransportError
from director.lines import LineBuffer, Tail
from director.transport import Channel, TimedOut, Transport, wrap_argv

log = logging.getLogger(__name__)

CHUNK = 65536


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


class LocalChannel(Channel):
    """A child process's stdin/stdout as a line channel; its stderr kept for messages."""

    def __init__(self, proc: subprocess.Popen, where: str = "local") -> None:
        self._proc = proc
        self._where = where
        self._out = LineBuffer()
        self._err = Tail()
        self._eof = False
        self._sel = selectors.DefaultSelector()
        assert proc.stdout is not None and proc.stderr is not None
        for stream in (proc.stdout, proc.stderr):
            os.set_blocking(stream.fileno(), False)
            self._sel.register(stream, selectors.EVENT_READ)

    def send_line(self, line: str) -> None:
        """Write one line (a newline is added when missing)."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write((line if line.endswith("\n") else line + "\n").encode("utf-8"))
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as e:
            raise TransportError(f"{self._where}: agent process gone while sending: {self._err.last() or e}") from e

    def _read(self, timeout_s: float) -> None:
        for key, _ in self._sel.select(timeout_s):
            stream: IO[bytes] = key.fileobj  # type: ignore[assignment]
            try:
                data = os.read(stream.fileno(), CHUNK)
            except BlockingIOError:
                continue
            if stream is self._proc.stderr:
                if data:
                    self._err.feed(data)
                else:
                    self._sel.unregister(stream)
            elif data:
                self._out.feed(data)
            else:
                self._sel.unregister(stream)
                self._eof = True

    def read_line(self, timeout_s: float) -> str:
        """The next stdout line with its newline; '' at end of stream; TimedOut when none in time."""
        deadline = time.monotonic() + timeout_s
        while True:
            line = self._out.pop()
            if line is not None:
                return line
            if self._eof:
                return self._out.rest()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimedOut(f"{self._where}: no answer from the agent within {timeout_s:g} s")
            self._read(left)

    def stderr_text(self) -> str:
        """The last lines the process wrote to stderr."""
        try:
            self._read(0)
        except (OSError, ValueError):
            pass
        return self._err.text()

    def close(self) -> None:
        """Close stdin (the agent ends on EOF), wait a moment, kill it if it lingers."""
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _kill_group(self._proc)
        deadline = time.monotonic() + 1.0
        try:
            while self._sel.get_map() and time.monotonic() < deadline:  # keep its last words, for messages
                self._read(0.1)
        except (OSError, ValueError):
            pass
        self._sel.close()
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()


class LocalTransport(Transport):
    """This machine as a device: same interface as SSH, run through subprocess without a shell."""

    def __init__(self, name: str = "local", env: Optional[Mapping[str, str]] = None, cwd: Optional[str] = None) -> None:
        self.name = name
        self.env: Dict[str, str] = dict(env or {})
        self.cwd = cwd

    def _argv(self, argv: Sequence[str], sudo: bool) -> list:
        return wrap_argv(argv, None, sudo and os.geteuid() != 0)

    def _env(self, env: Optional[Mapping[str, str]]) -> Dict[str, str]:
        return dict(os.environ, **self.env, **(env or {}))

    def _spawn(self, argv: Sequence[str], sudo: bool, env: Optional[Mapping[str, str]], stdin: int) -> subprocess.Popen:
        full = self._argv(argv, sudo)
        try:
            return subprocess.Popen(  # noqa: S603 - argv list, no shell: the local device runs commands as the transport's argv
                full, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=self._env(env), cwd=self.cwd, start_new_session=True,
            )
        except FileNotFoundError as e:
            raise _NotFound(f"{full[0]}: command not found") from e
        except PermissionError as e:
            raise _NotFound(f"{full[0]}: permission denied", 126) from e

    def run(
        self,
        argv: Sequence[str],
        timeout_s: float = 60.0,
        sudo: bool = False,
        stdin: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
    ) -> CommandResult:
        """Run a command and wait for it (127 when it does not exist, as a shell would say)."""
        try:
            proc = self._spawn(argv, sudo, env, subprocess.PIPE)
        except _NotFound as e:
            return CommandResult(e.exit_code, "", str(e) + "\n")
        try:
            out, err = proc.communicate(None if stdin is None else stdin.encode("utf-8"), timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            _kill_group(proc)
            raise TimedOut(f"{self.name}: {argv[0]} still running after {timeout_s:g} s") from e
        return CommandResult(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def run_streamed(
        self,
        argv: Sequence[str],
        on_line: Callable[[str], None],
        timeout_s: float = 3600.0,
        sudo: bool = False,
        env: Optional[Mapping[str, str]] = None,
    ) -> CommandResult:
        """Run a command, calling on_line for each stdout line (without newline) as it arrives."""
        try:
            proc = self._spawn(argv, sudo, env, subprocess.DEVNULL)
        except _NotFound as e:
            return CommandResult(e.exit_code, "", str(e) + "\n")
        chan = LocalChannel(proc, self.name)
        out = []
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimedOut(f"{self.name}: {argv[0]} still running after {timeout_s:g} s")
                try:
                    line = chan.read_line(left)
                except TimedOut:
                    continue
                if line == "":
                    break
                out.append(line)
                on_line(line.rstrip("\n"))
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except (TimedOut, subprocess.TimeoutExpired) as e:
            _kill_group(proc)
            raise TimedOut(f"{self.name}: {argv[0]} still running after {timeout_s:g} s") from e
        err = chan.stderr_text()
        chan.close()
        return CommandResult(proc.returncode, "".join(out), err + ("\n" if err else ""))

    def open_channel(self, argv: Sequence[str], env: Optional[Mapping[str, str]] = None) -> Channel:
        """Start a child process with its stdin and stdout as a line channel."""
        try:
            proc = self._spawn(argv, False, env, subprocess.PIPE)
        except _NotFound as e:
            raise TransportError(f"{self.name}: cannot start {argv[0]}: {e}") from e
        return LocalChannel(proc, self.name)

    def read_text(self, path: str) -> Optional[str]:
        """A text file's content, or None when it does not exist or cannot be read."""
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return None

    def put(self, local_path: str, remote_path: str) -> None:
        """Copy a file (both ends on this machine)."""
        if not os.path.isfile(local_path):
            raise BadInput(f"cannot copy {local_path}: no such file")
        try:
            shutil.copyfile(local_path, remote_path)
        except OSError as e:
            raise TransportError(f"{self.name}: cannot write {remote_path}: {e.strerror or e}") from e

    def get(self, remote_path: str, local_path: str) -> None:
        """Copy a file (both ends on this machine)."""
        try:
            shutil.copyfile(remote_path, local_path)
        except OSError as e:
            raise TransportError(f"{self.name}: cannot copy {remote_path}: {e.strerror or e}") from e

    def home(self) -> str:
        """This user's home folder."""
        return os.path.expanduser("~")

    def exists(self, path: str) -> bool:
        """True when the path exists."""
        return os.path.exists(path)

    def makedirs(self, path: str) -> None:
        """Create a folder and its parents."""
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as e:
            raise TransportError(f"{self.name}: cannot create {path}: {e.strerror or e}") from e

    def rename(self, src: str, dst: str) -> None:
        """Rename atomically; fails when dst exists as a non-empty folder."""
        try:
            os.rename(src, dst)
        except OSError as e:
            raise TransportError(f"{self.name}: cannot rename {src} to {dst}: {e.strerror or e}") from e

    def remove_tree(self, path: str) -> None:
        """Delete a folder and everything in it (no error when absent)."""
        shutil.rmtree(path, ignore_errors=True)

    def reconnect(self) -> None:
        """Nothing to re-make for this machine."""

    def close(self) -> None:
        """Nothing to close."""


class _NotFound(Exception):
    def __init__(self, message: str, exit_code: int = 127) -> None:
        super().__init__(message)
        self.exit_code = exit_code
