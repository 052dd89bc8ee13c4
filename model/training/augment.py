"""Per-epoch augmentation of 28x28 digit images (float32, ink = 1), numpy/OpenCV on the host.

The reader meets crops from scans, not MNIST: digits slanted, squeezed, written with thin
or felt pens, blurred by the scanner. These changes are small enough that a digit stays
the digit it was labelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIDE = 28


@dataclass(frozen=True)
class AugmentConfig:
    rotation_deg: float = 12.0
    scale: tuple[float, float] = (0.85, 1.08)
    shear: float = 0.22
    shift_px: float = 1.5
    thicken_probability: float = 0.2
    thin_probability: float = 0.15
    blur_probability: float = 0.15
    blur_sigma: tuple[float, float] = (0.4, 0.8)
    fade_probability: float = 0.2  # ink not quite saturated: faint strokes after normalising
    fade_range: tuple[float, float] = (0.6, 1.0)
    noise_sigma: float = 0.04
    # Elastic distortion (Simard et al. 2003): every writer's strokes wobble differently.
    elastic_probability: float = 0.0
    elastic_alpha: tuple[float, float] = (20.0, 36.0)  # displacement scale, px
    elastic_sigma: float = 4.5  # smoothness of the displacement field, px


def random_affine(rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """A 2x3 matrix about the image centre: rotation, anisotropic scale, shear, shift."""
    angle = np.deg2rad(rng.uniform(-config.rotation_deg, config.rotation_deg))
    sx = rng.uniform(*config.scale)
    sy = sx * rng.uniform(0.92, 1.08)
    shear = rng.uniform(-config.shear, config.shear)
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    linear = rotation @ np.array([[1, shear], [0, 1]]) @ np.diag([sx, sy])
    centre = np.array([(SIDE - 1) / 2, (SIDE - 1) / 2])
    shift = rng.uniform(-config.shift_px, config.shift_px, 2)
    offset = centre - linear @ centre + shift
    return np.hstack([linear, offset[:, None]]).astype(np.float32)


def elastic(image: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float
            ) -> np.ndarray:
    """Moves each pixel along a smooth random displacement field."""
    field = rng.uniform(-1, 1, (2, SIDE, SIDE)).astype(np.float32)
    dx = cv2.GaussianBlur(field[0], (0, 0), sigma) * alpha
    dy = cv2.GaussianBlur(field[1], (0, 0), sigma) * alpha
    grid_y, grid_x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    return cv2.remap(image, grid_x + dx, grid_y + dy, cv2.INTER_LINEAR, borderValue=0.0)


def augment_one(image: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    if config.elastic_probability and rng.random() < config.elastic_probability:
        image = elastic(image, rng, rng.uniform(*config.elastic_alpha), config.elastic_sigma)
    out = cv2.warpAffine(image, random_affine(rng, config), (SIDE, SIDE),
                         flags=cv2.INTER_LINEAR, borderValue=0.0)
    roll = rng.random()
    if roll < config.thicken_probability:
        out = cv2.dilate(out, np.ones((2, 2), np.uint8))
    elif roll < config.thicken_probability + config.thin_probability:
        thinned = cv2.erode(out, np.ones((2, 2), np.uint8))
        out = thinned if thinned.max() > 0.5 else out  # a thin pen still leaves a line
    if rng.random() < config.blur_probability:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(*config.blur_sigma))
    if rng.random() < config.fade_probability:
        out = out * rng.uniform(*config.fade_range)
    return out


def augment_batch(images: np.ndarray, rng: np.random.Generator,
                  config: AugmentConfig = AugmentConfig()) -> np.ndarray:
    out = np.stack([augment_one(image, rng, config) for image in images])
    out += rng.normal(0, config.noise_sigma, out.shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0)
