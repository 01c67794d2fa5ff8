"""Fixtures for the power tests: simulated Yokogawa meters on real ptys, TCP and RFC 2217."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

from power.simulators.meter import ManualClock
from power.simulators.serve import Link, PtyServer, Rfc2217Server, TcpServer, build


@pytest.fixture
def manual_clock() -> ManualClock:
    """A clock that moves only when the test says so."""
    return ManualClock(1_700_000_000_000_000_000)


@pytest.fixture
def sim_pty(tmp_path: Path) -> Iterator[Callable[..., PtyServer]]:
    """Factory: sim_pty(model, baud=57600, rate=0.1, load_w=60, **build options) -> a started PtyServer
    reached through a stable symlink (so it can vanish and come back at the same path)."""
    servers: List[PtyServer] = []

    def make(model: str = "WT310E", baud: int = 57600, rate: float = 0.1, load_w: float = 60.0,
             symlink: str = "", **kw: Any) -> PtyServer:
        link = Link(build(model, load_w=load_w, update_s=rate, seed=len(servers) + 1, **kw), baud=baud)
        path = str(tmp_path / (symlink or f"tty{model}{len(servers)}"))
        server = PtyServer(link, path).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def sim_wt310e_pty(sim_pty: Callable[..., PtyServer]) -> PtyServer:
    """A WT310E at 57600 baud, 0.1 s updates, 60 W load, on a pty."""
    return sim_pty("WT310E")


@pytest.fixture
def sim_wt210_pty(sim_pty: Callable[..., PtyServer]) -> PtyServer:
    """A WT210 in 488.2 mode at 9600 baud, 0.25 s updates, on a pty."""
    return sim_pty("WT210", baud=9600, rate=0.25)


@pytest.fixture
def sim_wt310e_tcp() -> Iterator[TcpServer]:
    """A WT310E on TCP 127.0.0.1 (socket://), replies unpaced."""
    server = TcpServer(Link(build("WT310E", load_w=60.0, update_s=0.1, seed=3), baud=0)).start()
    yield server
    server.stop()


@pytest.fixture
def rfc2217_wt310e(sim_pty: Callable[..., PtyServer]) -> Iterator[Rfc2217Server]:
    """pyserial's RFC 2217 PortManager serving a WT310E pty on 127.0.0.1."""
    pty = sim_pty("WT310E")
    server = Rfc2217Server(pty.path).start()
    server.pty = pty  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
def silent_pty() -> Iterator[str]:
    """A pty nobody answers on: a silent instrument."""
    master, slave = os.openpty()
    import tty

    tty.setraw(slave)
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)
