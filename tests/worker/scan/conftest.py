"""Fixtures of the scan-path tests."""

from pathlib import Path

import pytest

from model.training.data import mnist_loader
from scangrade.config.scan import ScanSettings
from scangrade.settings import get_settings
from worker.sheets.layout import Layout
from worker.synth.class_set import SynthOptions, synthesize


@pytest.fixture
def settings() -> ScanSettings:
    """Low DPI and small chunks: quick to rasterize, several chunks from a few pages."""
    return ScanSettings(dpi=50, chunk_pages=2)


@pytest.fixture(scope="session")
def layout() -> Layout:
    return Layout.from_data({
        "exam_id": "quiz-7", "name": "Quiz 7", "id_digits": 5,
        "questions": [{"id": f"q{n}", "boxes": 2} for n in range(1, 13)],
    })


@pytest.fixture(scope="session")
def class_set(layout, tmp_path_factory) -> tuple[Path, dict]:
    """4 students' scans with a blank page, a text page and another exam's sheet mixed in."""
    result = synthesize(layout, mnist_loader(get_settings()), SynthOptions(students=4, seed=11,
                                                                        dpi=150))
    path = tmp_path_factory.mktemp("scans") / "class.pdf"
    path.write_bytes(result.pdf)
    return path, result.truth
