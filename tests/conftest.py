"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.missing import missing

REPO = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """../shared/fixtures, read in place; skipped where absent, a failure under CI=true."""
    if not SHARED_FIXTURES.is_dir():
        missing(f"public MLPerf fixtures not found at {SHARED_FIXTURES} (they live beside the repository)")
    return SHARED_FIXTURES
