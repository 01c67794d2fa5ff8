"""The store's tables and their versioned migrations, the same statements on SQLite and PostgreSQL.

Types are those both engines read alike: BIGINT for nanoseconds (PostgreSQL's INTEGER has 32 bits),
DOUBLE PRECISION for figures (its REAL has 24 bits of mantissa), TEXT for the rest; SQLite gives them
the affinities its own INTEGER and REAL have.
"""

from __future__ import annotations

from typing import Dict, Sequence

from director.errors import DirectorError
from director.store_engine import Engine

SCHEMA_VERSION = 4

COLUMNS = (
    ("run_id", "TEXT PRIMARY KEY"),
    ("started_ns", "BIGINT NOT NULL"),
    ("device", "TEXT NOT NULL"),
    ("model", "TEXT NOT NULL"),
    ("model_sha256", "TEXT"),
    ("runtime", "TEXT"),
    ("scenario", "TEXT NOT NULL"),
    ("mode", "TEXT NOT NULL"),
    ("power_mode", "TEXT"),
    ("status", "TEXT NOT NULL"),
    ("conformant", "INTEGER"),
    ("avg_power_w", "DOUBLE PRECISION"),
    ("energy_j", "DOUBLE PRECISION"),
    ("energy_per_query_mj", "DOUBLE PRECISION"),
    ("samples_per_j", "DOUBLE PRECISION"),
    ("idle_power_w", "DOUBLE PRECISION"),
    ("p90_latency_ns", "BIGINT"),
    ("qps", "DOUBLE PRECISION"),
    ("samples_per_s", "DOUBLE PRECISION"),
    ("folder", "TEXT NOT NULL"),
    ("summary_json", "TEXT NOT NULL"),
)
# Added by later migrations (ALTER TABLE appends them after the columns above, in this order).
LATER_COLUMNS = (
    ("host", "TEXT"),
)

# Each version's statements, applied in order to bring an older database up to SCHEMA_VERSION.
MIGRATIONS: Dict[int, Sequence[str]] = {
    1: (
        f"CREATE TABLE IF NOT EXISTS runs ({', '.join(f'{name} {kind}' for name, kind in COLUMNS)})",
    ),
    2: (
        """CREATE TABLE IF NOT EXISTS sweeps (
            sweep_id TEXT PRIMARY KEY, name TEXT NOT NULL, spec_path TEXT NOT NULL, spec_json TEXT NOT NULL,
            results TEXT NOT NULL, created_ns BIGINT NOT NULL, started_ns BIGINT, state TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '')""",
        """CREATE TABLE IF NOT EXISTS jobs (
            sweep_id TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, device TEXT NOT NULL,
            model_path TEXT NOT NULL, runtime TEXT NOT NULL, power_mode TEXT, job_json TEXT NOT NULL,
            state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
            not_before_ns BIGINT NOT NULL DEFAULT 0, run_id TEXT, folder TEXT, reason TEXT,
            updated_ns BIGINT NOT NULL, PRIMARY KEY (sweep_id, key))""",
        "CREATE INDEX IF NOT EXISTS jobs_by_device ON jobs (sweep_id, device, state, seq)",
        """CREATE TABLE IF NOT EXISTS attempts (
            sweep_id TEXT NOT NULL, key TEXT NOT NULL, attempt INTEGER NOT NULL, owner TEXT NOT NULL,
            started_ns BIGINT NOT NULL, ended_ns BIGINT, outcome TEXT NOT NULL, reason TEXT,
            run_id TEXT, folder TEXT, phase TEXT, PRIMARY KEY (sweep_id, key, attempt))""",
    ),
    # Leases: a running job belongs to lease_owner until lease_expires_ns (UTC); past it, another worker
    # may take the job over. bench routes a job to one bench host's workers (NULL: any). A job a v2
    # director left running has no heartbeat behind it, so its lease is over already.
    3: (
        "ALTER TABLE jobs ADD COLUMN bench TEXT",
        "ALTER TABLE jobs ADD COLUMN lease_owner TEXT",
        "ALTER TABLE jobs ADD COLUMN lease_expires_ns BIGINT",
        "CREATE INDEX IF NOT EXISTS jobs_claimable ON jobs (sweep_id, device, seq) WHERE state IN ('pending', 'running')",
        "UPDATE jobs SET lease_owner = (SELECT a.owner FROM attempts a WHERE a.sweep_id = jobs.sweep_id "
        "AND a.key = jobs.key AND a.attempt = jobs.attempts), lease_expires_ns = 0 WHERE state = 'running'",
    ),
    # Several bench hosts: a job may ask for any board carrying a tag (jobs.tag) instead of one board; the
    # attempt records which board ran it. A run's folder lives on the host that measured it (runs.host).
    4: (
        "ALTER TABLE jobs ADD COLUMN tag TEXT",
        "ALTER TABLE attempts ADD COLUMN board TEXT",
        "ALTER TABLE runs ADD COLUMN host TEXT",
        "CREATE INDEX IF NOT EXISTS jobs_pooled ON jobs (sweep_id, tag, seq) WHERE state IN ('pending', 'running')",
    ),
}


def migrate(engine: Engine) -> None:
    """Bring the database up to SCHEMA_VERSION in one transaction (one process at a time)."""
    def apply(db: Engine) -> None:
        db.lock_schema()
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise DirectorError(f"{engine.name} has schema version {version}; this director knows up to {SCHEMA_VERSION}")
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[number]:
                db.execute(statement)
        if version != SCHEMA_VERSION:
            db.execute("INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                       (str(SCHEMA_VERSION),))

    engine.write(apply)
