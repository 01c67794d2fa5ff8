"""The SQL engines behind the store's URL: SQLite (embedded, the default) and PostgreSQL (shared by bench hosts).

    sqlite:///results.db             relative path (SQLAlchemy's convention); sqlite:////abs/results.db absolute
    results.db                       a bare path is SQLite too
    postgresql://user@host:5432/db   libpq's URI; a unix socket as postgresql:///db?host=/run/postgresql

The store writes its SQL once, with `?` placeholders and syntax both engines share (ON CONFLICT
upserts, BIGINT, DOUBLE PRECISION). An engine supplies only what differs: the connection, how a
write transaction begins, the row-lock clause of a claim, the schema lock and its error types.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Sequence, Tuple
from urllib.parse import urlparse, urlunparse

from director.errors import BadInput, DirectorError

SCHEMA_LOCK_KEY = 0x65646770  # the advisory lock that serializes migrations on PostgreSQL ("edgp")
WRITE_RETRIES = 3  # PostgreSQL may end a transaction in a deadlock or serialization failure; it is run again


class Engine:
    """One connection shared between threads, one statement or transaction at a time.

    `name` says where the database is in messages (a path, or the URL without its password); `url`
    opens it again (it may hold a password: never print it).
    """

    name = ""
    url = ""
    lock_rows = ""  # appended to a SELECT whose rows the transaction goes on to change
    errors: Tuple[type, ...] = ()
    retryable: Tuple[type, ...] = ()

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """Run one statement (inside `write`); a cursor with fetchone, fetchall and rowcount."""
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per row of arguments (inside `write`)."""
        raise NotImplementedError

    def lock_schema(self) -> None:
        """Inside a transaction: keep other processes from migrating the schema at the same time."""

    def _begin(self) -> Any:
        raise NotImplementedError

    def _ready(self) -> None:
        """Under the lock, before a statement or transaction: the connection usable."""

    def read(self, sql: str, args: Sequence[Any] = ()) -> List[Any]:
        """The rows of one query, as tuples."""
        with self._lock:
            try:
                self._ready()
                return self.execute(sql, args).fetchall()
            except self.errors as e:
                raise DirectorError(f"cannot read results database {self.name}: {one_line(e)}") from e

    def write(self, fn: Callable[["Engine"], Any]) -> Any:
        """fn(engine) in one write transaction (committed when it returns, rolled back when it raises)."""
        for attempt in range(WRITE_RETRIES):
            try:
                with self._lock:
                    self._ready()
                    with self._begin():
                        return fn(self)
            except self.errors as e:
                if isinstance(e, self.retryable) and attempt + 1 < WRITE_RETRIES:
                    continue
                raise DirectorError(f"cannot write to results database {self.name}: {one_line(e)}") from e
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the connection."""
        raise NotImplementedError


class SQLiteEngine(Engine):
    """An SQLite file in WAL mode; a write transaction takes the database's one write lock at BEGIN."""

    errors = (sqlite3.Error,)

    def __init__(self, path: str) -> None:
        super().__init__()
        self.name, self.url = path, f"sqlite:///{path}"
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            # Owner-only: the sweep queue in it is what the runner executes on the boards. SQLite gives its
            # -wal and -shm files the database file's permissions.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as e:
            raise DirectorError(f"cannot open results database {path}: {e}") from e

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self._db.execute(sql, list(args))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    @contextmanager
    def _begin(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")  # the write lock now, so two claims cannot interleave
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostgresEngine(Engine):
    """A PostgreSQL database (psycopg 3): READ COMMITTED transactions, claims lock their job row and skip locked ones."""

    lock_rows = " FOR UPDATE OF j SKIP LOCKED"

    def __init__(self, url: str) -> None:
        super().__init__()
        psycopg = _psycopg()
        self.name, self.url = redact_url(url), url
        self.errors, self.retryable = (psycopg.Error,), (psycopg.errors.DeadlockDetected,
                                                         psycopg.errors.SerializationFailure)
        try:
            psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.Error as e:
            raise BadInput(f"results database URL {self.name!r}: {one_line(e)}") from e
        self._db = self._connect()

    def _connect(self) -> Any:
        psycopg = _psycopg()
        try:
            params = {} if "connect_timeout" in self.url else {"connect_timeout": 10}
            return psycopg.connect(self.url, autocommit=True, **params)
        except psycopg.Error as e:
            raise DirectorError(f"cannot open results database {self.name}: {one_line(e)}") from e

    def _ready(self) -> None:
        # A connection lost (server restarted, network cut) fails the call that meets it; the next one reconnects.
        # The failed write is not run again: whether its COMMIT landed is unknown.
        if self._db.broken:
            self._db = self._connect()

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self._db.execute(_pg_sql(sql), list(args))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._db.cursor().executemany(_pg_sql(sql), rows)

    def lock_schema(self) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK_KEY,))

    def _begin(self) -> Any:
        return self._db.transaction()

    def close(self) -> None:
        with self._lock:
            self._db.close()


@functools.lru_cache(maxsize=256)
def _pg_sql(sql: str) -> str:
    """The store's `?` placeholders as psycopg's `%s` (a literal % doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise BadInput("a postgresql:// store needs psycopg: pip install 'psycopg[binary]>=3.1'") from None
    return psycopg


def store_target(url: str) -> Tuple[str, str]:
    """("sqlite", path) or ("postgresql", url) for a store URL, without opening anything; BadInput for a URL
    naming no engine, so a command can refuse it before it starts."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return "sqlite", parsed.path or url
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else parsed.path
        if not path:
            raise BadInput(f"results database URL {url!r} names no file (expected sqlite:///PATH, such as "
                           "sqlite:///results/results.db)")
        return "sqlite", path
    if parsed.scheme in ("postgresql", "postgres"):
        return "postgresql", url
    raise BadInput(f"results database URL {redact_url(url)!r}: use sqlite:///PATH or postgresql://USER@HOST/DB")


def engine_for(url: str) -> Engine:
    """The engine a URL names (see the module's docstring); a URL naming no engine is one clear error."""
    kind, target = store_target(url)
    return SQLiteEngine(target) if kind == "sqlite" else PostgresEngine(target)


def redact_url(url: str) -> str:
    """The URL with its password (user:PASSWORD@ or ?password=) replaced by ***, for messages and run.json."""
    parsed = urlparse(url)
    if parsed.password is None and "password=" not in parsed.query:
        return url
    if parsed.password is not None:
        parsed = parsed._replace(netloc=f"{parsed.username or ''}:***@{parsed.netloc.rpartition('@')[2]}")
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parsed.query)
    return urlunparse(parsed._replace(query=query))


def one_line(error: BaseException) -> str:
    """An error's message on one line (libpq's span several)."""
    return " ".join(str(error).split())
