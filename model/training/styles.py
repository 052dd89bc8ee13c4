"""Handwriting that MNIST's American writers rarely show, drawn onto MNIST digits.

Continental 1s carry a long up-stroke (flag) and sometimes a base; continental 7s are
crossed. Without these the reader takes a flagged 1 for a 7 and a crossed 7 for anything.
All functions work on 28x28 uint8 MNIST images (white ink on black) and return new images.
"""

from __future__ import annotations

import cv2
import numpy as np

INK = 255
MIN_STROKE_PX = 1
MAX_STROKE_PX = 2


def _ink_points(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.nonzero(image > 128)
    return ys, xs


def continental_one(image: np.ndarray, rng: np.random.Generator, base: bool) -> np.ndarray:
    """Adds a flag from the top of the stroke down to the left (and optionally a base)."""
    ys, xs = _ink_points(image)
    if len(ys) == 0:
        return image
    out = image.copy()
    top_y = int(ys.min())
    top_x = int(np.round(xs[ys <= top_y + 1].mean()))
    height = int(ys.max()) - top_y
    length = rng.uniform(0.25, 0.5) * height
    angle = np.deg2rad(rng.uniform(20, 55))  # below the horizontal, pointing left
    end = (round(top_x - length * np.cos(angle)), round(top_y + length * np.sin(angle)))
    thickness = int(rng.integers(MIN_STROKE_PX, MAX_STROKE_PX + 1))
    cv2.line(out, (top_x, top_y), end, INK, thickness, cv2.LINE_AA)
    if base:
        bottom_y = int(ys.max())
        bottom_x = int(np.round(xs[ys >= bottom_y - 1].mean()))
        half = round(rng.uniform(0.15, 0.3) * height)
        cv2.line(out, (bottom_x - half, bottom_y), (bottom_x + half, bottom_y), INK, thickness,
                 cv2.LINE_AA)
    return out


def crossed_seven(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Adds a short bar across the 7's stem at about mid-height."""
    ys, xs = _ink_points(image)
    if len(ys) == 0:
        return image
    out = image.copy()
    row = round(ys.min() + rng.uniform(0.4, 0.6) * (ys.max() - ys.min()))
    cols = np.nonzero(image[row] > 128)[0]
    centre = int(cols.mean()) if len(cols) else int(xs.mean())
    half = round(rng.uniform(0.18, 0.3) * (ys.max() - ys.min()))
    tilt = int(rng.integers(-1, 2))
    thickness = int(rng.integers(MIN_STROKE_PX, MAX_STROKE_PX + 1))
    cv2.line(out, (centre - half, row + tilt), (centre + half, row - tilt), INK, thickness,
             cv2.LINE_AA)
    return out


def apply_regional_styles(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                          one_flag: float = 0.35, one_base: float = 0.12,
                          seven_cross: float = 0.3) -> np.ndarray:
    """Restyles a share of the 1s and 7s of a batch; other digits are returned unchanged."""
    out = images.copy()
    for i in np.nonzero(labels == 1)[0]:
        if rng.random() < one_flag:
            out[i] = continental_one(images[i], rng, base=rng.random() < one_base / one_flag)
    for i in np.nonzero(labels == 7)[0]:
        if rng.random() < seven_cross:
            out[i] = crossed_seven(images[i], rng)
    return out
