"""Digit shapes students write that MNIST's writers rarely did, made from MNIST digits.

  * open_zero: a 0 left open (C-shaped, reversed C, open at the top);
  * hooked_one: a 1 whose foot curls to the right, or whose stem bends like an "l";
  * long_bar_seven: a 7 with a long top bar over a short stem;
  * one_stroke_five: a 5 whose cap joins the stem in one stroke, as a rounded corner;
  * small_loop_eight: an italic 8 with a small top loop;
  * filled_head_nine: a 9 with a small, filled-in head.
Each takes a 28x28 uint8 MNIST image (white ink on black) and returns a new one, fitted
back into MNIST's frame (20x20 box, centred by mass), so it looks like any other digit.
Used by training (a share of each epoch's digits) and `scangrade eval reader` (one set per
form); the eval sets use MNIST test digits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import cv2
import numpy as np

SIDE = 28
DIGIT_SIDE = 20
WORK = 56  # forms are drawn at twice MNIST's size, then fitted back
INK_LEVEL = 128


def fit_mnist(image: np.ndarray) -> np.ndarray:
    """Any white-on-black digit image → 28x28 uint8, ink fitted into 20x20 keeping its
    aspect and centred by mass (how MNIST was made)."""
    ys, xs = np.nonzero(image > 20)
    if len(ys) == 0:
        return np.zeros((SIDE, SIDE), np.uint8)
    digit = image[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1].astype(np.float32)
    scale = DIGIT_SIDE / max(digit.shape)
    size = (max(1, round(digit.shape[1] * scale)), max(1, round(digit.shape[0] * scale)))
    small = cv2.resize(digit, size, interpolation=cv2.INTER_AREA)
    moments = cv2.moments(small)
    if moments["m00"] <= 0:
        return np.zeros((SIDE, SIDE), np.uint8)
    cx, cy = moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]
    shift = np.float32([[1, 0, (SIDE - 1) / 2 - cx], [0, 1, (SIDE - 1) / 2 - cy]])
    out = cv2.warpAffine(small, shift, (SIDE, SIDE), flags=cv2.INTER_LINEAR, borderValue=0)
    return np.clip(out, 0, 255).astype(np.uint8)


def _large(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (WORK, WORK), interpolation=cv2.INTER_CUBIC)


def _stroke_px(large: np.ndarray) -> int:
    """The pen width of a drawn (large) digit: ink area over its skeleton length, roughly."""
    ink = large > INK_LEVEL
    edge = ink & ~cv2.erode(ink.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return int(np.clip(round(2 * ink.sum() / max(edge.sum(), 1)), 3, 9))


def _remap_rows(large: np.ndarray, source_row: Callable[[np.ndarray], np.ndarray]
                ) -> np.ndarray:
    """Moves each output row y to source row `source_row(y)` (a vertical warp)."""
    rows = source_row(np.arange(WORK, dtype=np.float32))
    map_y = np.repeat(rows[:, None], WORK, axis=1).astype(np.float32)
    map_x = np.repeat(np.arange(WORK, dtype=np.float32)[None, :], WORK, axis=0)
    return cv2.remap(large, map_x, map_y, cv2.INTER_LINEAR, borderValue=0)


def _squeeze_top(large: np.ndarray, top: int, bottom: int, split: float, new_split: float
                 ) -> np.ndarray:
    """Moves the row `split` up to `new_split`: the part above shrinks, the part below
    stretches to keep the digit's top and bottom (a smaller top loop or head)."""

    def source(y: np.ndarray) -> np.ndarray:
        upper = top + (y - top) * (split - top) / (new_split - top)
        lower = split + (y - new_split) * (bottom - split) / (bottom - new_split)
        return np.where(y <= new_split, upper, lower)

    return _remap_rows(large, source)


def _ink_rows(large: np.ndarray) -> tuple[int, int]:
    ys = np.nonzero((large > INK_LEVEL).any(axis=1))[0]
    return int(ys.min()), int(ys.max())


def _shear(large: np.ndarray, amount: float) -> np.ndarray:
    """Slants the digit: positive leans the top to the right (italic)."""
    centre = WORK / 2
    matrix = np.float32([[1, -amount, amount * centre], [0, 1, 0]])
    return cv2.warpAffine(large, matrix, (WORK, WORK), flags=cv2.INTER_LINEAR, borderValue=0)


def open_zero(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Erases a sector of the ring: open to the right (C), to the left or at the top."""
    large = _large(image)
    ys, xs = np.nonzero(large > INK_LEVEL)
    if len(ys) == 0:
        return image
    cy, cx = ys.mean(), xs.mean()
    side = rng.choice([0.0, np.pi, -np.pi / 2, -np.pi / 4], p=[0.45, 0.25, 0.15, 0.15])
    direction = float(side + rng.normal(0, 0.25))
    width = np.deg2rad(rng.uniform(35, 80))
    rows, cols = np.mgrid[0:WORK, 0:WORK]
    angle = np.arctan2(rows - cy, cols - cx)
    gap = np.abs(np.angle(np.exp(1j * (angle - direction)))) < width / 2
    out = large.copy()
    out[gap] = 0
    if rng.random() < 0.3:  # an open loop that ends in a small tail
        ends = np.nonzero((out > INK_LEVEL) & (np.abs(np.angle(np.exp(1j * (angle - direction))))
                                              < width / 2 + 0.3))
        if len(ends[0]):
            k = int(rng.integers(len(ends[0])))
            start = (int(ends[1][k]), int(ends[0][k]))
            tail = (round(start[0] + 8 * np.cos(direction)),
                    round(start[1] + 8 * np.sin(direction)))
            cv2.line(out, start, tail, 255, _stroke_px(large), cv2.LINE_AA)
    return fit_mnist(out)


def hooked_one(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A foot curling to the right at the bottom of the stem, and/or the stem bent."""
    large = _large(image)
    top, bottom = _ink_rows(large)
    height = max(bottom - top, 1)
    out = large
    if rng.random() < 0.6:  # bend the stem like an "l": rows shift along a parabola
        bend = rng.uniform(-0.18, 0.18) * height
        rows = np.arange(WORK, dtype=np.float32)
        t = np.clip((rows - top) / height, 0, 1)
        shift = bend * (4 * t * (1 - t) - 0.5)
        map_x = (np.arange(WORK, dtype=np.float32)[None, :] - shift[:, None]).astype(np.float32)
        map_y = np.repeat(rows[:, None], WORK, axis=1)
        out = cv2.remap(out, map_x, map_y, cv2.INTER_LINEAR, borderValue=0)
    out = out.copy()
    ys, xs = np.nonzero(out > INK_LEVEL)
    foot_y = int(ys.max())
    foot_x = int(np.round(xs[ys >= foot_y - 2].mean()))
    radius = rng.uniform(0.12, 0.25) * height
    centre = (round(foot_x + radius), round(foot_y - radius))
    axes = (max(2, round(radius)), max(2, round(radius * rng.uniform(0.6, 1.0))))
    cv2.ellipse(out, centre, axes, 0, 90, 180 - rng.uniform(-20, 40), 255, _stroke_px(large),
                cv2.LINE_AA)
    return fit_mnist(out)


def long_bar_seven(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lengthens the top bar on both sides and shortens the stem."""
    large = _large(image)
    top, bottom = _ink_rows(large)
    height = max(bottom - top, 1)
    out = large.copy()
    band = large[top: top + max(3, round(0.25 * height))] > INK_LEVEL
    cols = np.nonzero(band.any(axis=0))[0]
    if len(cols) == 0:
        return image
    row_left = top + int(np.argmax(band[:, cols[0]]))  # the bar's row at its left end
    extra = rng.uniform(0.2, 0.5) * (cols[-1] - cols[0] + 1)
    stroke = _stroke_px(large)
    left_end = (round(cols[0] - extra * rng.uniform(0.2, 0.6)), row_left + int(rng.integers(-1, 2)))
    cv2.line(out, (int(cols[0]), row_left), left_end, 255, stroke, cv2.LINE_AA)
    row_right = int(top + np.nonzero(band[:, cols[-1]])[0].mean())
    right_end = (round(cols[-1] + extra), row_right + int(rng.integers(-2, 2)))
    cv2.line(out, (int(cols[-1]), row_right), right_end, 255, stroke, cv2.LINE_AA)
    squash = rng.uniform(0.6, 0.85)  # the stem is shorter: rows below the bar squeezed
    split = top + 0.2 * height

    def source(y: np.ndarray) -> np.ndarray:
        return np.where(y <= split, y, split + (y - split) / squash)

    return fit_mnist(_remap_rows(out, source))


def one_stroke_five(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Redraws the top of a 5 as one stroke: from the stem up and over into the cap, as a
    rounded curve (or nearly square corner), instead of a cap set on a separate stem."""
    large = _large(image)
    top, bottom = _ink_rows(large)
    height = max(bottom - top, 1)
    ink = large > INK_LEVEL
    stroke = _stroke_px(large)
    cap_cols = np.nonzero(ink[top: top + max(3, round(0.2 * height))].any(axis=0))[0]
    corner_y = top + round(rng.uniform(0.28, 0.4) * height)
    stem_cols = np.nonzero(ink[corner_y: corner_y + max(2, stroke)].any(axis=0))[0]
    if len(cap_cols) == 0 or len(stem_cols) == 0:
        return image
    out = large.copy()
    out[: corner_y - stroke // 2] = 0  # the old cap and the top of the stem
    stem_x = float(stem_cols[0] + stroke / 2)
    start = np.array([stem_x, corner_y], np.float32)
    end = np.array([cap_cols[-1] + rng.uniform(0, 4), top + rng.uniform(0, 0.08) * height],
                   np.float32)
    rounding = rng.uniform(0.0, 1.0)  # 0: a near-square corner; 1: one round arc
    control = np.array([stem_x + rounding * rng.uniform(0, 0.3) * (end[0] - stem_x),
                        top - rounding * rng.uniform(0, 0.15) * height], np.float32)
    t = np.linspace(0, 1, 24)[:, None]
    curve = (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t ** 2 * end
    cv2.polylines(out, [np.round(curve).astype(np.int32)], False, 255, stroke, cv2.LINE_AA)
    return fit_mnist(out)


def small_loop_eight(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shrinks the top loop of an 8 and slants it: an italic 8."""
    large = _large(image)
    top, bottom = _ink_rows(large)
    height = max(bottom - top, 1)
    new_waist = top + rng.uniform(0.25, 0.35) * height
    out = _squeeze_top(large, top, bottom, top + 0.45 * height, new_waist)
    return fit_mnist(_shear(out, rng.uniform(0.15, 0.45)))


def filled_head_nine(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fills the 9's loop with ink and makes the head small."""
    large = _large(image)
    ink = (large > INK_LEVEL).astype(np.uint8)
    # A loop left slightly open is still a loop to fill: close small gaps first.
    gap = 2 * _stroke_px(large) + 1
    flood = cv2.morphologyEx(ink, cv2.MORPH_CLOSE,
                             cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (gap, gap)))
    mask = np.zeros((WORK + 2, WORK + 2), np.uint8)
    cv2.floodFill(flood, mask, (0, 0), 1)
    holes = flood == 0
    out = large.copy()
    out[holes] = 255
    top, bottom = _ink_rows(out)
    height = max(bottom - top, 1)
    new_head = top + rng.uniform(0.25, 0.35) * height
    return fit_mnist(_squeeze_top(out, top, bottom, top + 0.45 * height, new_head))


# The forms, by the digit they change.
FORMS: dict[str, tuple[int, Callable[[np.ndarray, np.random.Generator], np.ndarray]]] = {
    "open_zeros": (0, open_zero),
    "hooked_ones": (1, hooked_one),
    "long_bar_sevens": (7, long_bar_seven),
    "one_stroke_fives": (5, one_stroke_five),
    "small_loop_eights": (8, small_loop_eight),
    "filled_head_nines": (9, filled_head_nine),
}


def apply_forms(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                probability: float) -> np.ndarray:
    """Redraws `probability` of the digits that have a form (0, 1, 5, 7, 8, 9) in it."""
    out = images.copy()
    if probability <= 0:
        return out  # draws nothing from `rng`: runs without forms stay as they were
    for digit, form in FORMS.values():
        for i in np.nonzero(labels == digit)[0]:
            if rng.random() < probability:
                # a digit too odd for the form stays as its writer made it
                with contextlib.suppress(ValueError, IndexError, cv2.error):
                    out[i] = form(images[i], rng)
    return out
