"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """../shared/fixtures, read in place; skipped where absent, a failure under CI=true."""
    if not SHARED_FIXTURES.is_dir():
        message = f"public MLPerf fixtures not found at {SHARED_FIXTURES} (they live beside the repository)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_FIXTURES
