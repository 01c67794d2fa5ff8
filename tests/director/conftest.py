"""Fixtures for the director: a board behind real sshd on loopback, one with a shifted clock, the local device, PostgreSQL.

The board's HOME is a temporary folder (sshd `SetEnv HOME=...`), so the agent cache and runs land
there, never in the real home. See tests/sshd.py.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Iterator

import pytest

from tests.missing import missing
from tests.pgserver import PgServer, missing_reason, start_pg
from tests.sshd import Board, faketime_lib, start_sshd

BOARD_PYTHON = sys.executable  # the board runs the agent with this venv's Python (it has the runtimes)
FAKETIME_OFFSET_S = 3.7


@pytest.fixture(scope="session")
def sshd(tmp_path_factory) -> Iterator[Board]:
    """A board: sshd on 127.0.0.1 and a free port, throwaway keys, its host key in its own known_hosts."""
    board = start_sshd(tmp_path_factory.mktemp("board"))
    yield board
    board.stop()


@pytest.fixture(scope="session")
def sshd_faketime(tmp_path_factory) -> Iterator[Board]:
    """A board whose wall clock runs FAKETIME_OFFSET_S ahead (libfaketime), monotonic untouched."""
    if faketime_lib() is None:
        pytest.fail("libfaketime not installed: apt-get install faketime (.ci/run does)")
    board = start_sshd(tmp_path_factory.mktemp("board_faketime"), faketime=f"+{FAKETIME_OFFSET_S}s")
    yield board
    board.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server on a unix socket (tests/pgserver.py); skipped where absent, a failure under CI=true."""
    reason = missing_reason()
    if reason:
        missing(reason)
    server = start_pg()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """The URL of a new, empty store on each engine: a SQLite file in tmp_path, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    return request.getfixturevalue("pg_server").create_database()


@pytest.fixture
def ssh(sshd: Board):
    """An SSHTransport to the board, closed after the test."""
    with sshd.transport() as transport:
        yield transport


@pytest.fixture
def board_python() -> str:
    """The Python the board runs the agent with."""
    return BOARD_PYTHON


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory) -> str:
    """A Python without the agent's modules: a venv made `--without-pip` does not see the site-packages
    of the Python it was made from, so numpy, psutil, the runtimes (and an installed agent) are absent."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return str(venv / "bin" / "python")


@pytest.fixture
def fresh_board(tmp_path) -> Iterator[Board]:
    """A board of its own (for host-key tests that change known_hosts or the host key)."""
    board = start_sshd(tmp_path / "board", trusted=False)
    yield board
    board.stop()

