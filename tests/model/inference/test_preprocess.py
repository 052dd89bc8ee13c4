"""Crop preprocessing on synthetic crops: borders, specks, off-centre and tiny digits, blanks,
and bad input."""

import cv2
import numpy as np
import pytest

from model.inference.preprocess import CropError, PreprocessConfig, preprocess, preprocess_batch

PAPER = 235
FAINT = PreprocessConfig(faint_pass=True)


def blank_box(width: int = 70, height: int = 86, margin: int = 12, border_gray: int = 160):
    crop = np.full((height, width), PAPER, np.uint8)
    cv2.rectangle(crop, (margin, margin), (width - margin, height - margin), border_gray, 1)
    return crop


def draw_seven(crop: np.ndarray, centre=(35, 43), size: int = 40, ink: int = 20, thickness=4):
    cx, cy = centre
    half = size // 2
    cv2.line(crop, (cx - half // 2, cy - half), (cx + half // 2, cy - half), ink, thickness)
    cv2.line(crop, (cx + half // 2, cy - half), (cx - half // 4, cy + half), ink, thickness)
    return crop


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    m = cv2.moments(image)
    return m["m10"] / m["m00"], m["m01"] / m["m00"]


def test_empty_box_with_border_is_blank():
    assert preprocess(blank_box()) is None


def test_dark_thick_border_and_specks_are_blank():
    crop = blank_box(border_gray=40)
    cv2.rectangle(crop, (10, 10), (60, 76), 40, 2)
    for x, y in [(20, 20), (50, 70), (33, 40)]:
        crop[y, x] = 60  # dust
    assert preprocess(crop) is None


def test_border_remnant_at_the_edge_is_not_a_digit():
    crop = np.full((86, 70), PAPER, np.uint8)
    cv2.line(crop, (66, 5), (66, 80), 30, 2)  # a neighbouring box's border
    cv2.line(crop, (3, 30), (3, 60), 30, 2)
    assert preprocess(crop) is None


def test_digit_is_fitted_and_centred_like_mnist():
    image = preprocess(draw_seven(blank_box()))
    assert image is not None and image.shape == (28, 28) and image.dtype == np.float32
    ys, xs = np.nonzero(image > 0.3)
    assert max(np.ptp(ys), np.ptp(xs)) + 1 in range(18, 22)  # longer side fitted into 20 px
    cx, cy = centre_of_mass(image)
    assert abs(cx - 13.5) < 1.0 and abs(cy - 13.5) < 1.0
    assert image.max() > 0.9  # ink normalised to full strength


def test_off_centre_digit_is_centred():
    image = preprocess(draw_seven(blank_box(), centre=(30, 38), size=36))
    cx, cy = centre_of_mass(image)
    assert abs(cx - 13.5) < 1.0 and abs(cy - 13.5) < 1.0


def test_border_does_not_change_the_digit():
    with_border = preprocess(draw_seven(blank_box()))
    without = preprocess(draw_seven(np.full((86, 70), PAPER, np.uint8)))
    correlation = np.corrcoef(with_border.ravel(), without.ravel())[0, 1]
    assert correlation > 0.95


def test_faint_pencil_digit_is_found():
    image = preprocess(draw_seven(blank_box(border_gray=200), ink=170, thickness=2))
    assert image is not None and image.max() > 0.75


def noisy(crop: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, crop.shape)
    return np.clip(crop + noise, 0, 255).astype(np.uint8)


def shaded(crop: np.ndarray, drop: float) -> np.ndarray:
    """Paper darkening by `drop` grey levels from left to right (a lamp, a curled page)."""
    gradient = np.linspace(0, drop, crop.shape[1])[None, :]
    return np.clip(crop - gradient, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("contrast", [18, 25, 30])
def test_very_faint_pencil_on_noisy_shaded_paper_is_found_whole(contrast):
    """Strokes below the fixed minimum contrast are found against the local paper."""
    seven = draw_seven(blank_box(border_gray=120), ink=PAPER - contrast, thickness=2)
    assert preprocess(shaded(noisy(seven, 3.0), 30)) is None  # too faint for the fixed contrast
    image = preprocess(shaded(noisy(seven, 3.0), 30), FAINT)
    assert image is not None
    reference = preprocess(draw_seven(blank_box(border_gray=120), ink=20, thickness=2))
    assert np.corrcoef((image > 0.3).ravel(), (reference > 0.3).ravel())[0, 1] > 0.6


@pytest.mark.parametrize("sigma", [2.0, 4.0, 6.0])
def test_noisy_shaded_paper_with_a_dark_border_is_blank(sigma):
    """Paper grain, scanner noise and shading are never ink, however faint ink may be."""
    for seed in range(5):
        assert preprocess(shaded(noisy(blank_box(border_gray=90), sigma, seed), 40), FAINT) is None


def test_tiny_mark_stays_small_instead_of_becoming_digit_sized():
    crop = blank_box()
    cv2.circle(crop, (35, 43), 3, 20, -1)  # a dot in the middle: not a digit
    image = preprocess(crop)
    assert image is None or (image > 0.3).sum() < 60


def test_batch_marks_blanks_and_keeps_order():
    crops = [blank_box(), draw_seven(blank_box()), blank_box()]
    images, blank = preprocess_batch(crops)
    assert images.shape == (3, 28, 28)
    assert blank.tolist() == [True, False, True]
    assert images[0].max() == 0 and images[1].max() > 0.9


def test_empty_batch():
    images, blank = preprocess_batch([])
    assert images.shape == (0, 28, 28) and blank.shape == (0,)


def test_colour_crop_is_converted_to_grey():
    grey = draw_seven(blank_box())
    colour = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    np.testing.assert_allclose(preprocess(colour), preprocess(grey), atol=1e-6)


@pytest.mark.parametrize(
    ("crop", "message"),
    [
        (np.zeros((40, 40), np.float32), "uint8"),
        (np.full((40, 40), np.nan), "uint8"),
        (np.zeros((1, 1), np.uint8), "smaller than"),
        (np.zeros((40, 40, 2), np.uint8), "2-D grayscale"),
        (np.zeros((4, 40, 40), np.uint8), "2-D grayscale"),
        (np.zeros((0, 40, 3), np.uint8), "2-D grayscale"),  # colour, but no pixels
    ],
)
def test_bad_crops_get_a_clear_error(crop, message):
    with pytest.raises(CropError, match=message):
        preprocess_batch([blank_box(), crop])


def test_bad_crop_error_names_its_index():
    with pytest.raises(CropError, match="crop 1"):
        preprocess_batch([blank_box(), np.zeros((2, 2), np.uint8)])


@pytest.mark.parametrize("fields", [{"paper_percentile": 150.0}, {"ink_percentile": 0.0},
                                    {"border_band": 0.5}, {"work_side": 4}])
def test_impossible_configs_are_refused(fields):
    with pytest.raises(ValueError, match="preprocess config"):
        PreprocessConfig(**fields)


def test_huge_crop_is_read_at_working_size():
    crop = cv2.resize(draw_seven(blank_box()), (10_000, 10_000), interpolation=cv2.INTER_NEAREST)
    image = preprocess(crop)
    assert image is not None and image.shape == (28, 28)


def test_top_bar_of_a_seven_near_the_edge_is_not_a_border():
    """A wide 7 written high in its box: its bar runs straight near the crop's top edge."""
    crop = blank_box(width=60, height=76, margin=9)
    cv2.line(crop, (12, 14), (50, 14), 20, 5)  # the bar, nearly as wide as the box
    cv2.line(crop, (50, 14), (26, 66), 20, 5)
    image = preprocess(crop)
    assert image is not None
    ys, xs = np.nonzero(image > 0.3)
    top_rows = ys < ys.min() + 4
    assert np.ptp(xs[top_rows]) >= 10  # the bar survived as a bar


def test_blurred_double_width_border_is_removed():
    crop = blank_box(border_gray=120)
    cv2.rectangle(crop, (11, 11), (59, 75), 120, 2)
    crop = cv2.GaussianBlur(crop, (0, 0), 1.2)
    assert preprocess(crop) is None
