"""Fixtures shared by every area's tests. Area-specific fixtures live in that area's test files."""

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT / "samples"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def reader():
    """The shipped digit reader, loaded and warmed once per test session."""
    from model.reader import DigitReader

    return DigitReader.load()
