"""A PostgreSQL server for tests and benchmarks: Debian's binaries, a throwaway cluster, a unix socket only.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` system user
(Debian's package creates it), else to `nobody`, and initdb and pg_ctl run under `runuser -u USER`;
as any other user they run as that user. The folder is a fresh one under /tmp (pytest's own tmp folders
are root-only), holding the cluster, its socket (short enough for the 107-byte limit) and its log.
No TCP port is opened (listen_addresses is empty); fsync is off, since nothing here must outlive the test.

    initdb -D DIR/data -A trust -U edgepower -E UTF8 --locale=C.UTF-8 --no-sync
    pg_ctl -D DIR/data -l DIR/postgres.log -w start -o "-k DIR -c listen_addresses= -F -c max_connections=100"
    pg_ctl -D DIR/data -m immediate -w stop
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

SUPERUSER = "edgepower"


def pg_bin() -> Optional[Path]:
    """The folder of Debian's PostgreSQL binaries (newest version), or None when none is installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl and shutil.which("initdb") else None


def missing_reason() -> Optional[str]:
    """Why a server cannot be started here (None when it can)."""
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg not installed (pip install 'psycopg[binary]>=3.1')"
    if pg_bin() is None:
        return "PostgreSQL server binaries not found (apt-get install postgresql)"
    return None


def _run_as() -> List[str]:
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
            return ["runuser", "-u", user, "--"]
        except KeyError:
            continue
    raise RuntimeError("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL")


@dataclass
class PgServer:
    """A running cluster: its folder, socket folder, and the superuser's URL to any database on it."""

    root: Path
    bindir: Path
    max_connections: int = 100

    def url(self, database: str = "postgres") -> str:
        """A postgresql:// URL to a database of this server, over its unix socket."""
        return f"postgresql://{SUPERUSER}@/{database}?host={self.root}"

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def start_command(self) -> List[str]:
        """pg_ctl start for this cluster (unix socket only)."""
        return [str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-l", str(self.root / "postgres.log"), "-w",
                "-t", "60", "start", "-o", f"-k {self.root} -c listen_addresses= -F -c max_connections="
                f"{self.max_connections} -c shared_buffers=32MB"]

    def down(self) -> None:
        """Stop the server at once (as a crash would), keeping its cluster for up()."""
        subprocess.run([*_run_as(), str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate",
                        "-w", "stop"], capture_output=True, cwd="/")

    def up(self) -> None:
        """Start the server again after down()."""
        subprocess.run([*_run_as(), *self.start_command()], capture_output=True, cwd="/", check=True)

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        self.down()
        shutil.rmtree(self.root, ignore_errors=True)


def start_pg(max_connections: int = 100) -> PgServer:
    """initdb a cluster in a new folder under /tmp and start it on a unix socket there."""
    bindir = pg_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    run_as = _run_as()
    root = Path(tempfile.mkdtemp(prefix="edgepower-pg-"))
    if run_as:
        shutil.chown(root, user=run_as[2])
    server = PgServer(root, bindir, max_connections)
    steps = (
        [str(bindir / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
         "--locale=C.UTF-8", "--no-sync"],
        server.start_command(),
    )
    for step in steps:
        # cwd=/ : the unprivileged user may not be able to enter the caller's working folder.
        proc = subprocess.run([*run_as, *step], capture_output=True, text=True, cwd="/")
        if proc.returncode != 0:
            log = root / "postgres.log"
            detail = log.read_text()[-2000:] if log.exists() else ""
            server.stop()
            raise RuntimeError(f"{Path(step[0]).name} failed: {proc.stdout}{proc.stderr}{detail}".strip())
    return server
