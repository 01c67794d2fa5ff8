"""Byte streams cut into text lines, and a bounded tail of a process's stderr for error messages."""

from __future__ import annotations

import collections
from typing import Deque, List, Optional

MAX_LINE_BYTES = 16 << 20  # a line longer than this is a broken peer, not a message


class LineBuffer:
    """Collects bytes as they arrive and hands back complete lines (with their newline)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        """Append bytes read from the stream."""
        self._buf += data
        if len(self._buf) > MAX_LINE_BYTES and b"\n" not in self._buf:
            raise ValueError(f"a line longer than {MAX_LINE_BYTES} bytes")

    def has_line(self) -> bool:
        """True when a complete line is waiting."""
        return b"\n" in self._buf

    def pop(self) -> Optional[str]:
        """The next complete line, or None when no newline has arrived yet."""
        end = self._buf.find(b"\n")
        if end < 0:
            return None
        line = bytes(self._buf[: end + 1])
        del self._buf[: end + 1]
        return line.decode("utf-8", errors="replace")

    def pop_all(self) -> List[str]:
        """Every complete line held."""
        lines = []
        while True:
            line = self.pop()
            if line is None:
                return lines
            lines.append(line)

    def rest(self) -> str:
        """What is left after the last newline (a final line without one), emptied."""
        data = bytes(self._buf)
        self._buf.clear()
        return data.decode("utf-8", errors="replace")


class Tail:
    """The last few lines of a stream (a process's stderr), for one-line error messages."""

    def __init__(self, max_lines: int = 50) -> None:
        self._lines: Deque[str] = collections.deque(maxlen=max_lines)
        self._buf = LineBuffer()

    def feed(self, data: bytes) -> None:
        """Append bytes read from the stream."""
        try:
            self._buf.feed(data)
        except ValueError:
            self._lines.append(self._buf.rest())
        for line in self._buf.pop_all():
            self._lines.append(line.rstrip("\n"))

    def text(self) -> str:
        """The kept lines, joined."""
        pending = self._buf.rest()
        if pending:
            self._lines.append(pending)
        return "\n".join(self._lines)

    def last(self) -> str:
        """The last non-empty line ('' when none)."""
        for line in reversed(self.text().splitlines()):
            if line.strip():
                return line.strip()
        return ""
