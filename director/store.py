"""The results database: one row per run, behind a URL (sqlite:///path today, PostgreSQL later).

The row holds the figures people sort and compare by; everything else stays in the run's folder
(run.json), which the row points to.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import urlparse

from director.errors import BadInput, DirectorError

SCHEMA_VERSION = 1

COLUMNS = (
    ("run_id", "TEXT PRIMARY KEY"),
    ("started_ns", "INTEGER NOT NULL"),
    ("device", "TEXT NOT NULL"),
    ("model", "TEXT NOT NULL"),
    ("model_sha256", "TEXT"),
    ("runtime", "TEXT"),
    ("scenario", "TEXT NOT NULL"),
    ("mode", "TEXT NOT NULL"),
    ("power_mode", "TEXT"),
    ("status", "TEXT NOT NULL"),
    ("conformant", "INTEGER"),
    ("avg_power_w", "REAL"),
    ("energy_j", "REAL"),
    ("energy_per_query_mj", "REAL"),
    ("samples_per_j", "REAL"),
    ("idle_power_w", "REAL"),
    ("p90_latency_ns", "INTEGER"),
    ("qps", "REAL"),
    ("samples_per_s", "REAL"),
    ("folder", "TEXT NOT NULL"),
    ("summary_json", "TEXT NOT NULL"),
)


@dataclass(frozen=True)
class RunRow:
    """One stored run; `summary` is the JSON object the row was made from."""

    run_id: str
    started_ns: int
    device: str
    model: str
    scenario: str
    mode: str
    status: str
    folder: str
    summary: Dict[str, Any]

    def get(self, key: str) -> Any:
        """A figure from the summary (None when absent)."""
        return self.summary.get(key)


class Store:
    """Runs in an SQLite database; each write is its own transaction."""

    def __init__(self, path: str) -> None:
        self.path = path
        parent = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(parent, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30)
        except (OSError, sqlite3.Error) as e:
            raise DirectorError(f"cannot open results database {path}: {e}") from e
        self._db.execute("PRAGMA journal_mode=WAL")
        columns = ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
        with self._db:
            self._db.execute(f"CREATE TABLE IF NOT EXISTS runs ({columns})")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def add(self, summary: Dict[str, Any]) -> None:
        """Insert (or replace) the row of one run from its summary dict (keys named as the columns)."""
        names = [name for name, _ in COLUMNS]
        row = {name: summary.get(name) for name in names}
        row["summary_json"] = json.dumps(summary, sort_keys=True)
        if isinstance(row.get("conformant"), bool):
            row["conformant"] = int(row["conformant"])
        placeholders = ", ".join("?" for _ in names)
        try:
            with self._db:
                self._db.execute(
                    f"INSERT OR REPLACE INTO runs ({', '.join(names)}) VALUES ({placeholders})",
                    [row[name] for name in names],
                )
        except sqlite3.Error as e:
            raise DirectorError(f"cannot write to results database {self.path}: {e}") from e

    def list(self, device: Optional[str] = None, limit: int = 50) -> List[RunRow]:
        """The newest runs first, optionally of one device."""
        query = "SELECT run_id, started_ns, device, model, scenario, mode, status, folder, summary_json FROM runs"
        args: List[Any] = []
        if device:
            query += " WHERE device = ?"
            args.append(device)
        query += " ORDER BY started_ns DESC LIMIT ?"
        args.append(limit)
        return [self._row(r) for r in self._db.execute(query, args)]

    def get(self, run_id: str) -> RunRow:
        """One run by id, or by a unique prefix of its id."""
        rows = list(
            self._db.execute(
                "SELECT run_id, started_ns, device, model, scenario, mode, status, folder, summary_json "
                "FROM runs WHERE run_id LIKE ? ORDER BY run_id",
                (run_id.replace("%", "") + "%",),
            )
        )
        if not rows:
            raise BadInput(f"no run {run_id!r} in {self.path}")
        exact = [r for r in rows if r[0] == run_id]
        if len(rows) > 1 and not exact:
            raise BadInput(f"run id {run_id!r} is ambiguous: {', '.join(r[0] for r in rows[:5])}")
        return self._row(exact[0] if exact else rows[0])

    def __iter__(self) -> Iterator[RunRow]:
        return iter(self.list(limit=1 << 30))

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @staticmethod
    def _row(r: Any) -> RunRow:
        return RunRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]))


def open_store(url: str) -> Store:
    """Open the store a URL names: sqlite:///relative/or/absolute/path.db, or a bare path."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return Store(parsed.path or url)
    if parsed.scheme == "sqlite":
        # sqlite:///results.db is relative, sqlite:////abs/results.db absolute (SQLAlchemy's convention).
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else parsed.path
        if not path:
            raise BadInput(f"results database URL {url!r} names no file")
        return Store(path)
    raise BadInput(f"results database URL {url!r}: only sqlite:/// is supported so far")
