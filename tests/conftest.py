"""Fixtures shared by every area's tests. Area-specific fixtures live in that area's test files;
helpers shared by several areas live in `tests/helpers/`."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.register_assert_rewrite("tests.helpers")

from tests.helpers.grading import grade_small_class  # noqa: E402
from tests.helpers.paths import REPO_ROOT  # noqa: E402
from tests.helpers.service import Cluster, get_cluster  # noqa: E402


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def reader():
    """The shipped digit reader, loaded and warmed once per test session."""
    from model.inference.reader import DigitReader
    from scangrade.settings import get_settings

    return DigitReader.load(get_settings())


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """A real redis-server and the API under uvicorn (no worker yet), shared by the session."""
    return get_cluster()


@pytest.fixture
def service(cluster: Cluster) -> Cluster:
    """Redis + API + a warm worker (started once, replaced if a test killed it)."""
    cluster.ensure_worker()
    return cluster


@pytest.fixture
def client(cluster: Cluster) -> Iterator[httpx.Client]:
    with cluster.client() as http:
        yield http


@pytest.fixture
def graded(tmp_path):
    """A small class graded into tmp_path/out: (out, summary); see grade_small_class."""
    return grade_small_class(tmp_path)
