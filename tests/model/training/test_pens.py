"""Pens beyond the ballpoint, at scan resolution: faint pencil stays faint, a marker is wide,
an outline is hollow, and a scan path without pens is the same as before they existed."""

import dataclasses

import numpy as np
import pytest

from model.training.ink import InkStyle, stamp_digit
from model.training.pens import PENS, draw_pen, hatch, outline
from model.training.scanpath import PIPELINE_SCAN_PATH, render_box_crop
from tests.helpers.paths import MNIST_TEST_SAMPLE

PAPER = 230
STYLE = InkStyle(height_fraction=0.8, stroke_scale=0.0, ink_gray=20.0, jitter=(0.0, 0.0))


@pytest.fixture(scope="module")
def digit():
    with np.load(MNIST_TEST_SAMPLE) as data:
        return data["images"][data["labels"] == 0][0]


def drawn(digit: np.ndarray, pen: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    style, drawn_pen = draw_pen(pen, STYLE, rng)
    canvas = np.full((90, 70), PAPER, np.uint8)
    stamp_digit(canvas, digit, (5, 5, 60, 80), rng, style, drawn_pen)
    return canvas


def test_every_pen_draws_ink(digit):
    for pen in PENS:
        assert (drawn(digit, pen) < PAPER - 10).sum() > 40, pen


def test_faint_pencil_is_faint_relative_to_the_paper(digit):
    for seed in range(5):
        canvas = drawn(digit, "faint_pencil", seed)
        assert PAPER - canvas.min() <= 55
        assert (canvas < PAPER - 5).sum() > 40


def test_marker_is_wider_than_a_ballpoint(digit):
    plain = np.full((90, 70), PAPER, np.uint8)
    stamp_digit(plain, digit, (5, 5, 60, 80), np.random.default_rng(0), STYLE)
    assert (drawn(digit, "marker") < 128).sum() > 1.5 * (plain < 128).sum()


def test_outline_is_hollow():
    solid = np.zeros((40, 40), np.float32)
    solid[5:35, 10:30] = 1.0
    rim = outline(solid, 3)
    assert rim[20, 20] == 0 and rim[20, 11] == 1 and rim[6, 20] == 1
    hatched = hatch(solid, 6.0, 0.0)
    inside = hatched[10:30, 14:26]
    assert 0.2 < inside.mean() < 0.8


def test_scan_path_without_pens_is_unchanged_by_them(digit):
    """pen_probability 0 draws nothing from the generator: earlier sets stay the same."""
    crop = render_box_crop(digit, np.random.default_rng(4), PIPELINE_SCAN_PATH)
    again = render_box_crop(digit, np.random.default_rng(4),
                            dataclasses.replace(PIPELINE_SCAN_PATH, pens=("marker",)))
    np.testing.assert_array_equal(crop, again)


def test_unknown_pen_is_named():
    with pytest.raises(ValueError, match="unknown pen 'quill'"):
        draw_pen("quill", STYLE, np.random.default_rng(0))
