"""One digit box as the scan pipeline cuts it from a page: paper, printed box border, the
student's digit (or nothing), scanner blur, noise, binarisation and JPEG.

Used to train the reader on what it will really see, to make realistic blank boxes for the
blank class, and to measure accuracy on the scan path (`scangrade eval reader`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.training.ink import random_style, stamp_digit
from model.training.pens import PENS, draw_pen


@dataclass(frozen=True)
class ScanPathConfig:
    box_width_px: tuple[int, int] = (34, 90)  # 7 mm boxes between ~125 and ~325 dpi
    box_aspect: tuple[float, float] = (1.1, 1.4)  # height / width
    margin: tuple[float, float] = (0.1, 0.3)  # crop margin around the box, of its width
    paper_gray: tuple[int, int] = (200, 252)
    border_gray: tuple[int, int] = (110, 215)  # light printed box lines
    border_offset_px: int = 4  # alignment error of the crop against the printed box
    blur_sigma: tuple[float, float] = (0.0, 1.3)
    noise_sigma: tuple[float, float] = (0.0, 9.0)
    binarise_probability: float = 0.15  # black-and-white scanner modes
    binarise_max_ink: float = 90.0  # only dark enough ink survives black-and-white scanning
    jpeg_probability: float = 0.5
    jpeg_quality: tuple[int, int] = (35, 92)
    speck_rate: float = 0.8  # mean number of dust specks per box
    stray_mark_probability: float = 0.15  # a faint pencil touch or eraser rest in the box
    # Pens beyond the ballpoint (model/training/pens.py): the share of digits drawn with one
    # of `pens`. Zero draws nothing extra, so a set made without pens stays the same.
    pen_probability: float = 0.0
    pens: tuple[str, ...] = PENS


DEFAULT_SCAN_PATH = ScanPathConfig()  # wide ranges: what training prepares the reader for
# Training draws a share of its scan-path digits with the unusual pens as well.
TRAINING_SCAN_PATH = ScanPathConfig(pen_probability=0.35)

# The crops scangrade's own pipeline cuts: 7.5 x 9.5 mm boxes at 6 px/mm with 1.5 mm margin
# (printer scale 0.9-1.05), alignment within ~0.3 mm, an office scanner's blur, noise and
# JPEG. Pens and hands vary as widely as in training. `scangrade eval reader` reports this.
PIPELINE_SCAN_PATH = ScanPathConfig(
    box_width_px=(40, 48),
    box_aspect=(1.24, 1.30),
    margin=(0.18, 0.22),
    border_offset_px=2,
    blur_sigma=(0.0, 1.0),
    noise_sigma=(0.0, 6.0),
    binarise_probability=0.1,
    jpeg_quality=(50, 92),
    speck_rate=0.5,
    stray_mark_probability=0.1,
)


def _lighting(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A smooth brightness gradient: scanner lamps and curled paper are uneven."""
    h, w = shape
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    slope = rng.normal(0, 12.0, 2)
    return (slope[0] * gy / h + slope[1] * gx / w).astype(np.float32)


def _specks(canvas: np.ndarray, rng: np.random.Generator, rate: float) -> None:
    h, w = canvas.shape
    for _ in range(rng.poisson(rate)):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(canvas, centre, int(rng.integers(0, 2)), float(rng.uniform(30, 170)), -1)


def _stray_mark(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """A short faint line: a pen touching the paper, a rubbed-out stroke."""
    h, w = canvas.shape
    p0 = np.array([rng.uniform(0, w), rng.uniform(0, h)])
    p1 = p0 + rng.normal(0, min(h, w) * 0.12, 2)
    cv2.line(canvas, tuple(int(v) for v in p0), tuple(int(v) for v in p1),
             float(rng.uniform(150, 215)), 1, cv2.LINE_AA)


def render_box_crop(digit28: np.ndarray | None, rng: np.random.Generator,
                    config: ScanPathConfig = DEFAULT_SCAN_PATH) -> np.ndarray:
    """A grayscale uint8 crop of one box with `digit28` (MNIST, white on black) written in
    it, or an empty box when `digit28` is None."""
    box_w = int(rng.integers(*config.box_width_px))
    box_h = round(box_w * rng.uniform(*config.box_aspect))
    margin = round(box_w * rng.uniform(*config.margin))
    h, w = box_h + 2 * margin, box_w + 2 * margin
    paper = float(rng.uniform(*config.paper_gray))
    canvas = np.full((h, w), paper, np.float32)
    canvas += _lighting((h, w), rng)

    off = rng.integers(-config.border_offset_px, config.border_offset_px + 1, 2)
    x0, y0 = margin + int(off[0]), margin + int(off[1])
    thickness = int(rng.integers(1, 3))
    cv2.rectangle(canvas, (x0, y0), (x0 + box_w, y0 + box_h),
                  float(rng.uniform(*config.border_gray)), thickness)
    _specks(canvas, rng, config.speck_rate)
    if rng.random() < config.stray_mark_probability:
        _stray_mark(canvas, rng)
    style, pen = random_style(rng), None
    if config.pen_probability and rng.random() < config.pen_probability:
        style, pen = draw_pen(str(rng.choice(config.pens)), style, rng)
    if digit28 is not None:
        stamp_digit(canvas, digit28, (margin, margin, box_w, box_h), rng, style, pen)

    sigma = rng.uniform(*config.blur_sigma)
    if sigma > 0.3:
        canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)
    canvas += rng.normal(0, rng.uniform(*config.noise_sigma), canvas.shape).astype(np.float32)
    crop = np.clip(canvas, 0, 255).astype(np.uint8)
    # Black-and-white scanning keeps dark ink only; a faint pencil would vanish entirely,
    # which no reader can undo, so those are not simulated.
    dark_ink = style.ink_gray < config.binarise_max_ink and (pen is None or pen.contrast is None)
    if rng.random() < config.binarise_probability and dark_ink:
        level = rng.uniform(0.55, 0.85) * paper
        crop = np.where(crop < level, 0, 255).astype(np.uint8)
    if rng.random() < config.jpeg_probability:
        quality = int(rng.integers(*config.jpeg_quality))
        _ok, encoded = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
        crop = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    return crop
