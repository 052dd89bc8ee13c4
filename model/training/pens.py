"""Pens that MNIST's scanned ballpoints and felt tips never show, applied to a digit's ink
mask at scan resolution (`model/training/ink.py` draws the mask onto paper).

Each pen is a reason a real student's digit looks unlike MNIST:
  * faint_pencil: a hard pencil pressed lightly: thin, grey relative to the paper, grainy,
    pressure fading along the stroke;
  * broken: a drying fine-liner: short gaps where the pen skipped;
  * uneven: pressure rising and falling along the stroke;
  * marker: a felt pen or marker so wide that small loops fill;
  * hollow: outlined (bubble) strokes, as doodled or traced digits are;
  * hatched: wide strokes filled with hatching instead of solid ink.
Used by training (a share of the scan-path digits) and by `scangrade eval reader` (one set
per pen). Functions take and return float32 masks (0..1 ink coverage).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from model.training.ink import InkStyle

PENS = ("faint_pencil", "broken", "uneven", "marker", "hollow", "hatched")

FAINT_CONTRAST = (22.0, 55.0)  # darkness of light pencil below the paper (0-255)
FAINT_STROKE_SCALE = (-0.45, 0.0)
PENCIL_GRAIN = (0.55, 1.0)  # graphite covers paper unevenly, pixel by pixel
PRESSURE_LOW = (0.35, 0.7)  # the lightest pressure along a stroke, of the strongest
PENCIL_PRESSURE_LOW = (0.5, 0.85)  # a pencil's faintest part (lighter ones vanish in scanning)
PRESSURE_WAVELENGTH = (0.25, 0.6)  # of the digit height: how fast pressure changes
GAP_SHARE = (0.08, 0.22)  # share of the stroke a skipping pen leaves out
MARKER_STROKE_SCALE = (0.8, 1.5)  # strokes 2-3x as wide as MNIST's: loops close up
OUTLINE_STROKE_SCALE = (0.8, 1.4)
OUTLINE_WIDTH = (0.03, 0.06)  # of the digit height
HATCH_PERIOD = (0.09, 0.16)  # of the digit height
DARK_INK = (0.0, 90.0)


@dataclass(frozen=True)
class DrawnPen:
    """One pen as drawn for one digit (the `Pen` that `stamp_digit` takes)."""

    name: str
    contrast: float | None = None  # relative ink (pencil); None: ink at the style's grey
    pressure_low: float = 1.0
    pressure_wavelength: float = 0.4
    grain: tuple[float, float] | None = None
    gap_share: float = 0.0
    outline_width: float = 0.0
    hatch_period: float = 0.0
    hatch_angle: float = 0.0

    def stroke(self, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        height = mask.shape[0]
        if self.outline_width:
            mask = outline(mask, max(1, round(self.outline_width * height)))
        if self.hatch_period:
            mask = hatch(mask, max(3.0, self.hatch_period * height), self.hatch_angle)
        if self.pressure_low < 1.0:
            field = smooth_field(mask.shape, self.pressure_wavelength * height, rng)
            mask = mask * (self.pressure_low + (1.0 - self.pressure_low) * field)
        if self.gap_share:
            field = smooth_field(mask.shape, 0.12 * height, rng)
            mask = mask * (field > np.quantile(field, self.gap_share))
        if self.grain:
            mask = mask * rng.uniform(*self.grain, mask.shape).astype(np.float32)
        return mask.astype(np.float32)


def smooth_field(shape: tuple[int, int], wavelength_px: float, rng: np.random.Generator
                 ) -> np.ndarray:
    """Smooth random values in 0..1 varying over about `wavelength_px`."""
    noise = rng.random(shape).astype(np.float32)
    field = cv2.GaussianBlur(noise, (0, 0), max(wavelength_px / 4, 0.8))
    low, high = float(field.min()), float(field.max())
    return (field - low) / max(high - low, 1e-6)


def outline(mask: np.ndarray, width_px: int) -> np.ndarray:
    """Only the rim of the strokes, `width_px` wide: a hollow (bubble) digit."""
    solid = (mask > 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width_px + 1, 2 * width_px + 1))
    inner = cv2.erode(solid, kernel)
    if inner.sum() == 0:
        return mask  # too thin to hollow out: the pen still draws a line
    return mask * (1 - inner).astype(np.float32)


def hatch(mask: np.ndarray, period_px: float, angle_rad: float) -> np.ndarray:
    """Strokes filled with parallel lines, their edges kept as an outline."""
    rows, cols = np.mgrid[0: mask.shape[0], 0: mask.shape[1]].astype(np.float32)
    phase = (cols * np.cos(angle_rad) + rows * np.sin(angle_rad)) / period_px
    lines = (np.abs(phase - np.round(phase)) < 0.28).astype(np.float32)
    rim = outline(mask, 1)
    return np.maximum(mask * lines, rim)


def draw_pen(name: str, style: InkStyle, rng: np.random.Generator) -> tuple[InkStyle, DrawnPen]:
    """The pen `name` with its random settings, and the hand's style adapted to it."""
    def with_stroke(scale: tuple[float, float], ink: tuple[float, float] | None = None
                    ) -> InkStyle:
        changes = {"stroke_scale": float(rng.uniform(*scale))}
        if ink is not None:
            changes["ink_gray"] = float(rng.uniform(*ink))
        return dataclasses.replace(style, **changes)

    pressure = {"pressure_low": float(rng.uniform(*PRESSURE_LOW)),
                "pressure_wavelength": float(rng.uniform(*PRESSURE_WAVELENGTH))}
    if name == "faint_pencil":
        return with_stroke(FAINT_STROKE_SCALE), DrawnPen(
            name, contrast=float(rng.uniform(*FAINT_CONTRAST)), grain=PENCIL_GRAIN,
            pressure_low=float(rng.uniform(*PENCIL_PRESSURE_LOW)),
            pressure_wavelength=pressure["pressure_wavelength"])
    if name == "broken":
        return style, DrawnPen(name, gap_share=float(rng.uniform(*GAP_SHARE)))
    if name == "uneven":
        return style, DrawnPen(name, **pressure)
    if name == "marker":
        return with_stroke(MARKER_STROKE_SCALE, DARK_INK), DrawnPen(name)
    if name == "hollow":
        return with_stroke(OUTLINE_STROKE_SCALE, DARK_INK), DrawnPen(
            name, outline_width=float(rng.uniform(*OUTLINE_WIDTH)))
    if name == "hatched":
        return with_stroke(OUTLINE_STROKE_SCALE, DARK_INK), DrawnPen(
            name, hatch_period=float(rng.uniform(*HATCH_PERIOD)),
            hatch_angle=float(rng.uniform(0, np.pi)))
    raise ValueError(f"unknown pen {name!r}: one of {', '.join(PENS)}")
