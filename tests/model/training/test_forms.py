"""The digit forms MNIST lacks: each changes the digit the way its docstring says and leaves
an MNIST-framed image (20x20 box, centred by mass)."""

import numpy as np
import pytest

from model.training.forms import FORMS, apply_forms, fit_mnist
from tests.helpers.paths import MNIST_TEST_SAMPLE


@pytest.fixture(scope="module")
def sample():
    with np.load(MNIST_TEST_SAMPLE) as data:
        return data["images"], data["labels"]


def ink_box(image: np.ndarray) -> tuple[int, int]:
    ys, xs = np.nonzero(image > 20)
    return ys.max() - ys.min() + 1, xs.max() - xs.min() + 1


@pytest.mark.parametrize("name", sorted(FORMS))
def test_every_form_changes_its_digit_and_keeps_the_mnist_frame(sample, name):
    images, labels = sample
    digit, form = FORMS[name]
    rng = np.random.default_rng(0)
    originals = images[labels == digit][:10]
    assert len(originals)
    for original in originals:
        drawn = form(original, rng)
        assert drawn.shape == (28, 28) and drawn.dtype == np.uint8
        assert max(ink_box(drawn)) in (19, 20, 21)
        ys, xs = np.nonzero(drawn)
        weights = drawn[ys, xs].astype(float)
        assert abs(np.average(ys, weights=weights) - 13.5) < 1.0
        assert abs(np.average(xs, weights=weights) - 13.5) < 1.0
        assert np.abs(drawn.astype(int) - fit_mnist(original).astype(int)).mean() > 3


def test_open_zero_has_an_opening(sample):
    """A flood fill from the centre of an open 0 reaches the image edge."""
    import cv2

    images, labels = sample
    rng = np.random.default_rng(1)
    opened = 0
    zeros = images[labels == 0][:10]
    for zero in zeros:
        drawn = FORMS["open_zeros"][1](zero, rng)
        walls = (drawn > 60).astype(np.uint8)
        mask = np.zeros((30, 30), np.uint8)
        flood = walls.copy()
        cv2.floodFill(flood, mask, (0, 0), 2)
        opened += flood[14, 14] == 2 or walls[14, 14] == 1
    assert opened >= len(zeros) - 1


def enclosed_paper(image: np.ndarray) -> int:
    """Pixels of paper that no path from the image edge reaches (inside loops)."""
    import cv2

    flood = (image > 60).astype(np.uint8)
    cv2.floodFill(flood, np.zeros((30, 30), np.uint8), (0, 0), 2)
    return int((flood == 0).sum())


def test_filled_head_nine_has_its_loop_filled(sample):
    images, labels = sample
    rng = np.random.default_rng(2)
    nines = images[labels == 9][:10]
    filled = sum(enclosed_paper(FORMS["filled_head_nines"][1](nine, rng))
                 <= max(2, enclosed_paper(fit_mnist(nine)) // 4) for nine in nines)
    assert filled >= 8  # a head left open at the top is not filled, as a pen would not


def test_apply_forms_touches_only_digits_that_have_a_form(sample):
    images, labels = sample
    out = apply_forms(images, labels, np.random.default_rng(3), probability=1.0)
    has_form = np.isin(labels, [digit for digit, _ in FORMS.values()])
    changed = (out != images).any(axis=(1, 2))
    assert changed[has_form].all() and not changed[~has_form].any()
    untouched = apply_forms(images, labels, np.random.default_rng(3), probability=0.0)
    np.testing.assert_array_equal(untouched, images)
