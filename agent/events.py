"""events.jsonl: what a pass is doing, one JSON line per event, flushed as it happens."""

from __future__ import annotations

import json
import threading
import time
from typing import IO, Any, Optional


class EventLog:
    """Appends events (each with its UTC ns) to a file; safe to call from several threads."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: Optional[IO[str]] = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        """Write one event now."""
        line = json.dumps(dict({"t_ns": time.time_ns(), "event": event}, **fields), allow_nan=False)
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        """Close the file; later events are dropped."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
