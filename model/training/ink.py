"""Drawing MNIST digits onto paper at scan resolution, as a student's pen would.

Used to make synthetic scans (tests, demo, eval) and the scan-path training data, so the
reader is trained and judged on digits that went through paper, pen and scanner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

# Ranges of the pens and hands we simulate; each one is a reason a real sheet varies.
HEIGHT_FRACTION = (0.55, 0.88)  # digit height relative to the box: small to box-filling
STROKE_SCALE = (-0.45, 0.7)  # stroke change in multiples of the MNIST stroke: thin pen .. felt pen
INK_GRAY = (0.0, 150.0)  # darkest ink value: black felt pen .. faint pencil
MAX_JITTER = 0.12  # off-centre placement, as a fraction of the box side


@dataclass(frozen=True)
class InkStyle:
    height_fraction: float
    stroke_scale: float  # < 0 thins, > 0 thickens, in units of the drawn stroke width
    ink_gray: float  # grey value of full-strength ink on white (0 = black)
    jitter: tuple[float, float]  # (dx, dy) offsets as fractions of the box size


def random_style(rng: np.random.Generator) -> InkStyle:
    return InkStyle(
        height_fraction=float(rng.uniform(*HEIGHT_FRACTION)),
        stroke_scale=float(rng.uniform(*STROKE_SCALE)),
        ink_gray=float(rng.choice([rng.uniform(0, 60), rng.uniform(*INK_GRAY)])),
        jitter=(float(rng.uniform(-MAX_JITTER, MAX_JITTER)),
                float(rng.uniform(-MAX_JITTER, MAX_JITTER))),
    )


def ink_mask(digit28: np.ndarray, height_px: int, width_limit_px: int, stroke_scale: float,
             pad: bool = False) -> np.ndarray:
    """The digit's ink coverage (float 0..1) scaled to `height_px`, stroke width adjusted.
    `pad` leaves room for a thickened stroke instead of cutting it at the digit's extent."""
    ys, xs = np.nonzero(digit28 > 0)
    if len(ys) == 0:
        return np.zeros((max(height_px, 1), 1), np.float32)
    digit = digit28[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1].astype(np.float32) / 255.0
    scale = height_px / digit.shape[0]
    width = max(1, min(round(digit.shape[1] * scale), width_limit_px))
    mask = cv2.resize(digit, (width, max(height_px, 1)), interpolation=cv2.INTER_CUBIC)
    mask = np.clip(mask, 0.0, 1.0)
    # An MNIST stroke is ~2.5 of its 28 px; change it by a fraction of that at this scale.
    radius = round(abs(stroke_scale) * 2.5 * scale / 2)
    if radius >= 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        op = cv2.dilate if stroke_scale > 0 else cv2.erode
        if pad and stroke_scale > 0:
            mask = cv2.copyMakeBorder(mask, radius, radius, radius, radius, cv2.BORDER_CONSTANT)
        thinned = op(mask, kernel)
        # Never erode a stroke away entirely: a thin pen still leaves a line.
        mask = thinned if thinned.max() > 0.5 else mask
    return mask


def stamp_digit(canvas: np.ndarray, digit28: np.ndarray, rect_px: tuple[int, int, int, int],
                rng: np.random.Generator, style: InkStyle | None = None,
                pen: Pen | None = None) -> None:
    """Draws an MNIST digit (white on black, 28x28) into the box `rect_px` = (x, y, w, h)
    of `canvas` (grayscale uint8, or 3-channel; dark ink on light paper), in place.

    `pen` (optional) changes the stroke itself (pressure, gaps, an outline) and may lay its
    ink relative to the paper under it (a faint pencil), instead of at `style.ink_gray`."""
    style = style or random_style(rng)
    x, y, w, h = rect_px
    height = max(4, round(h * style.height_fraction))
    mask = ink_mask(digit28, height, int(w * 0.92), style.stroke_scale, pad=pen is not None)
    if pen is not None:
        mask = pen.stroke(mask, rng)
    mh, mw = mask.shape
    left = x + (w - mw) // 2 + round(style.jitter[0] * w)
    top = y + (h - mh) // 2 + round(style.jitter[1] * h)
    # Clip to the canvas (a jittered digit may cross the box border, as real ones do).
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + mw, canvas.shape[1]), min(top + mh, canvas.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    alpha = mask[y0 - top: y1 - top, x0 - left: x1 - left]
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    if region.ndim == 3:
        alpha = alpha[..., None]
    if pen is not None and pen.contrast is not None:
        inked = region - pen.contrast * alpha  # graphite darkens the paper it lies on
    else:
        inked = region * (1.0 - alpha) + style.ink_gray * alpha
    canvas[y0:y1, x0:x1] = np.clip(np.minimum(region, inked), 0, 255).astype(canvas.dtype)


class Pen(Protocol):
    """A writing instrument beyond the plain ballpoint (see model/training/pens.py)."""

    contrast: float | None  # ink this much darker than the paper under it, or None

    def stroke(self, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...
