"""The OpenCV implementation of crop preprocessing that `model/inference/preprocess_kernels.py`
replaced (about 15 OpenCV calls a crop from Python, ~280 us; the kernels run the same steps
compiled). Kept as the oracle the kernels are held to, with one fix: cv2.moments took an
image 2 px wide for a point set, so thin 1s were centred by the wrong moments."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

# The config, crop validation and sizes are the shipped ones: only the pixel steps below
# are the former implementation.
from model.inference.preprocess import DEFAULT_CONFIG, PreprocessConfig, as_gray_uint8
from model.inference.preprocess_kernels import MNIST_DIGIT_SIDE, MNIST_SIDE

_SQUARE3 = np.ones((3, 3), np.uint8)


def _to_work_size(gray: np.ndarray, side: int) -> np.ndarray:
    h, w = gray.shape
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(gray, size, interpolation=interpolation)


def _histogram(image: np.ndarray) -> np.ndarray:
    return cv2.calcHist([image], [0], None, [256], [0, 256]).ravel()


def _percentile_of_histogram(hist: np.ndarray, q: float) -> int:
    cumulative = np.cumsum(hist)
    return int(np.searchsorted(cumulative, q / 100.0 * cumulative[-1]))


def percentile_u8(values: np.ndarray, q: float) -> int:
    """The q-th percentile of uint8 values, from a histogram (np.percentile sorts: slow)."""
    return _percentile_of_histogram(_histogram(np.ascontiguousarray(values)), q)


def ink_darkness(gray: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """How much darker than the paper each pixel is (uint8, 0 = paper)."""
    paper = percentile_u8(gray, config.paper_percentile)
    return cv2.subtract(np.full_like(gray, paper), gray)


@lru_cache(maxsize=256)
def _line_kernel(length: int, horizontal: bool) -> np.ndarray:
    shape = (length, 1) if horizontal else (1, length)
    return cv2.getStructuringElement(cv2.MORPH_RECT, shape)


def _horizontal_border_runs(mask: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Pixels of printed border lines running along the rows of `mask`, near its top and
    bottom: long, straight, thin, and with paper on both sides (a pen stroke that happens
    to run straight for a while has ink beside it where it bends)."""
    rows, cols = mask.shape
    if not cv2.countNonZero(mask):
        return mask
    runs = cv2.morphologyEx(mask, cv2.MORPH_OPEN,
                            _line_kernel(max(3, round(cols * config.border_line_fraction)), True))
    band = max(1, round(rows * config.border_band))
    runs[band: rows - band] = 0  # borders live near the edges; the digit in the middle
    present = runs.any(axis=1)
    if not present.any():
        return runs
    max_thickness = max(2, round(rows * config.border_max_thickness))
    beside_rows = max(1, round(rows * config.border_side_rows))
    edges = np.diff(np.concatenate([[0], present.astype(np.int8), [0]]))
    for start, stop in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True):
        columns = runs[start:stop].any(axis=0)
        # Skip the row next to the line: blur and anti-aliasing widen a hairline by one.
        beside = np.concatenate([mask[max(0, start - 1 - beside_rows): max(0, start - 1)],
                                 mask[stop + 1: stop + 1 + beside_rows]])
        inked_beside = beside.any(axis=0)[columns].mean() if len(beside) else 0.0
        if stop - start > max_thickness or inked_beside > config.border_max_inked_beside:
            runs[start:stop] = 0
    return runs


def _border_lines(mask: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Pixels of printed box borders (horizontal and vertical), widened by one pixel."""
    lines = _horizontal_border_runs(mask, config)
    vertical = _horizontal_border_runs(np.ascontiguousarray(mask.T), config)
    lines = lines | np.ascontiguousarray(vertical.T)
    # Widen by a pixel: anti-aliased line edges would otherwise survive as thin slivers.
    return cv2.dilate(lines, _SQUARE3) if cv2.countNonZero(lines) else lines


def digit_ink(gray: np.ndarray, config: PreprocessConfig = DEFAULT_CONFIG) -> np.ndarray | None:
    """The digit's ink darkness on the working-size crop with borders and specks removed,
    or None for a blank box."""
    work = _to_work_size(gray, config.work_side)
    dark = ink_darkness(work, config)
    otsu, _ = cv2.threshold(dark, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    high = max(float(otsu), float(config.min_contrast))
    low = max(float(config.low_contrast), high * config.low_fraction)
    ink = _kept_ink(dark, high, low, np.inf, config)
    if ink is not None or not config.faint_pass:
        return ink
    # Faint strokes: darkness against the local paper, thresholds from the paper's noise,
    # without what the pass above judged (and its edges).
    judged = cv2.dilate((dark > high).astype(np.uint8), _SQUARE3, iterations=2)
    radius = max(1, round(max(work.shape) * config.faint_paper_window / 2))
    smooth = _mean3(work)
    paper = cv2.dilate(smooth, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))
    dark = cv2.subtract(paper, smooth)
    median = percentile_u8(dark, 50.0)
    spread = max(1, median - percentile_u8(dark, 16.0))
    dark[judged > 0] = 0
    high = max(float(config.faint_min_contrast), median + config.faint_high_spreads * spread)
    low = max(float(config.faint_low_contrast), median + config.faint_low_spreads * spread)
    stroke_area = config.faint_stroke_area * dark.size
    return _kept_ink(dark, high, low, stroke_area, config)


def _mean3(image: np.ndarray) -> np.ndarray:
    """The rounded 3x3 mean, edges mirrored (reflect-101, as OpenCV's default)."""
    padded = np.pad(image, 1, mode="reflect").astype(np.int64)
    total = sum(padded[dr: dr + image.shape[0], dc: dc + image.shape[1]]
                for dr in range(3) for dc in range(3))
    return ((total + 4) // 9).astype(np.uint8)


def _kept_ink(dark: np.ndarray, high: float, low: float, stroke_area: float,
              config: PreprocessConfig) -> np.ndarray | None:
    strong = dark > high
    if not strong.any() and stroke_area == np.inf:
        return None
    _, mask = cv2.threshold(dark, low, 1, cv2.THRESH_BINARY)  # dark > low (uint8 compare)
    lines = _border_lines(mask, config)
    if lines.any():
        mask[lines > 0] = 0

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    h, w = mask.shape
    band_h, band_w = h * config.inner_band, w * config.inner_band
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    cx, cy = x + bw / 2, y + bh / 2
    thin_x, thin_y = bw <= config.thin_extent * w, bh <= config.thin_extent * h
    centre_x = (cx > config.thin_centre_band * w) & (cx < (1 - config.thin_centre_band) * w)
    centre_y = (cy > config.thin_centre_band * h) & (cy < (1 - config.thin_centre_band) * h)
    inner = labels[round(band_h): h - round(band_h), round(band_w): w - round(band_w)]
    inner_area = np.bincount(inner.ravel(), minlength=count)
    has_strong = (np.bincount(labels[strong], minlength=count) > 0) | (area >= stroke_area)
    # A mark counts if it holds real ink, is no speck and reaches into the box's inner area.
    keep = (
        has_strong
        & (area >= config.speck_area * h * w)
        & (x + bw > band_w) & (x < w - band_w)
        & (y + bh > band_h) & (y < h - band_h)
        & (~thin_x | centre_x) & (~thin_y | centre_y)
        & (inner_area >= config.min_inner_share * area)
    )
    keep[0] = False  # background
    if area[keep].sum() < config.min_ink_area * h * w:
        return None
    kept_ids = np.nonzero(keep)[0]
    if len(kept_ids) == 1:  # the usual case: one stroke; a compare beats a lookup
        kept = (labels == kept_ids[0]).astype(np.uint8)
    else:
        kept = keep[labels].astype(np.uint8)
    # Keep the anti-aliased fringe of kept strokes (MNIST digits have soft edges).
    fringe = cv2.dilate(kept, _SQUARE3)
    return cv2.bitwise_and(dark, dark, mask=fringe)


def to_mnist(ink: np.ndarray, config: PreprocessConfig = DEFAULT_CONFIG) -> np.ndarray:
    """Fits ink (uint8 darkness) into 20x20 keeping its aspect, centred by mass in 28x28;
    returns float32 in [0, 1]."""
    x, y, w, h = cv2.boundingRect(ink)  # of the non-zero pixels
    digit = ink[y: y + h, x: x + w]
    hist = _histogram(np.ascontiguousarray(digit))
    hist[0] = 0  # the percentile of ink pixels only
    strong = _percentile_of_histogram(hist, config.ink_percentile)
    digit = np.minimum(digit.astype(np.float32) * (1.0 / max(strong, 1)), 1.0)
    extent = max(digit.shape[0], digit.shape[1], config.min_digit_extent * max(ink.shape))
    scale = MNIST_DIGIT_SIDE / extent
    size = (max(1, round(digit.shape[1] * scale)), max(1, round(digit.shape[0] * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(digit, size, interpolation=interpolation)
    # Not cv2.moments: it takes an N x 2 float image (a digit 2 px wide) for a point set.
    m00 = float(small.sum(dtype=np.float64))
    if m00 <= 0:
        cy, cx = (small.shape[0] - 1) / 2, (small.shape[1] - 1) / 2
    else:
        cx = float((small.sum(axis=0, dtype=np.float64) * np.arange(small.shape[1])).sum()) / m00
        cy = float((small.sum(axis=1, dtype=np.float64) * np.arange(small.shape[0])).sum()) / m00
    centre = (MNIST_SIDE - 1) / 2
    shift = np.float32([[1, 0, centre - cx], [0, 1, centre - cy]])
    return cv2.warpAffine(small, shift, (MNIST_SIDE, MNIST_SIDE), flags=cv2.INTER_LINEAR,
                          borderValue=0.0)


def preprocess(crop: np.ndarray, config: PreprocessConfig = DEFAULT_CONFIG,
               index: int = 0) -> np.ndarray | None:
    """One crop → 28x28 float32 digit image, or None when the box is blank."""
    ink = digit_ink(as_gray_uint8(crop, index), config)
    return None if ink is None else to_mnist(ink, config)


def preprocess_batch(crops: Sequence[np.ndarray] | np.ndarray,
                     config: PreprocessConfig = DEFAULT_CONFIG) -> tuple[np.ndarray, np.ndarray]:
    """Many crops → (images float32 (N, 28, 28), blank bool (N,)). Blank boxes get zeros.

    Validation happens first for all crops, so a bad crop fails the call before any work.
    """
    grays = [as_gray_uint8(crop, i) for i, crop in enumerate(crops)]
    images = np.zeros((len(grays), MNIST_SIDE, MNIST_SIDE), np.float32)
    blank = np.zeros(len(grays), bool)
    # One thread: each crop is many small numpy calls that hold the GIL (threads measured
    # slower), and worker processes already use one process per core.
    for i, gray in enumerate(grays):
        ink = digit_ink(gray, config)
        if ink is None:
            blank[i] = True
        else:
            images[i] = to_mnist(ink, config)
    return images, blank
