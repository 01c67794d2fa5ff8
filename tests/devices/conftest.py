"""Fixtures for the devices tests: fake boards (trees + stub commands) and a clean inventory environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.devices import fakes


@pytest.fixture
def linux_board(tmp_path: Path) -> fakes.FakeBoard:
    """A plain Linux board tree with two thermal zones and two cpufreq policies."""
    return fakes.linux_board(tmp_path)


@pytest.fixture
def orin_nano(tmp_path: Path) -> fakes.FakeBoard:
    """A Jetson Orin Nano with VDD_IN, nvpmodel modes (7W needs a reboot) and stubs."""
    return fakes.orin_nano(tmp_path)


@pytest.fixture
def agx_orin(tmp_path: Path) -> fakes.FakeBoard:
    """A Jetson AGX Orin: two INA3221 monitors, no total rail."""
    return fakes.agx_orin(tmp_path)


@pytest.fixture
def pi5(tmp_path: Path) -> fakes.FakeBoard:
    """A Raspberry Pi 5 with a vcgencmd stub."""
    return fakes.raspberry_pi5(tmp_path)


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME, XDG_CONFIG_HOME unset, EDGEPOWER_INVENTORY unset, cwd: all inside an empty tmp folder."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("EDGEPOWER_INVENTORY", raising=False)
    monkeypatch.chdir(work)
    return tmp_path
