"""From a scanned box crop to an MNIST-style 28x28 digit image.

Pure functions; the pixel loops are compiled (`model/inference/preprocess_kernels.py`). A crop is a
grayscale uint8 image of one digit box as cut from a page, dark ink on light paper, with
some margin, so remnants of the printed box border and paper specks may be in it. Steps:
scale to a working size, measure ink against the paper, remove border lines, drop specks
and marks outside the box, then fit the ink into 20x20 keeping its aspect ratio and centre
it by mass in 28x28, as MNIST was made.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from model.inference.preprocess_kernels import CONFIG_FIELDS, MNIST_SIDE, preprocess_packed


@dataclass(frozen=True)
class PreprocessConfig:
    work_side: int = 64  # longer side of a crop while cleaning; thresholds below assume it
    min_crop_side: int = 8  # smaller crops cannot hold a readable digit
    paper_percentile: float = 70.0  # the paper level: most of a box is paper
    min_contrast: int = 36  # ink is at least this much darker than paper (0-255); noise is not
    # Hysteresis: fainter pixels joined to real ink still count, so thin or faint strokes
    # that the main threshold breaks into pieces stay whole instead of becoming specks.
    low_contrast: int = 22
    low_fraction: float = 0.5  # the low threshold is this share of the main one
    border_band: float = 0.3  # outer fraction of each side where box border lines may remain
    inner_band: float = 0.2  # a mark must reach inside this margin to belong to the digit
    # A thin mark (a line fragment) belongs to the digit only when it is centred in the box:
    # the stroke of a 1 is; a leftover piece of the printed border is not.
    thin_extent: float = 0.12
    min_inner_share: float = 0.3  # of a mark's pixels inside the inner area (box corners fail)
    thin_centre_band: float = 0.3
    border_line_fraction: float = 0.65  # a straight run this long (of the side) may be a border
    # ...and is one only if it is this thin (of the side): printed borders are hairlines,
    # the top bar of a 7 or 5 is a pen stroke.
    border_max_thickness: float = 0.08
    border_side_rows: float = 0.04  # rows beside a candidate line that are looked at
    border_max_inked_beside: float = 0.45  # share of its length with ink beside it
    speck_area: float = 0.0035  # components below this share of the crop area are specks
    min_ink_area: float = 0.006  # less ink than this share of the crop area: blank box
    # Ink smaller than this share of the crop's longer side is not magnified to full digit
    # size, so specks and dashes stay small for the model instead of becoming digit-sized.
    min_digit_extent: float = 0.25
    ink_percentile: float = 90.0  # this ink percentile becomes full intensity (faint pencil)
    # A box without ink by the thresholds above is looked at again for faint strokes (a hard
    # pencil pressed lightly): on the crop averaged over 3x3 pixels, darkness against the
    # brightest paper within this share of the side; ink where it stands out of the paper's
    # own noise by these many spreads (median minus 16th percentile of that darkness), and
    # by at least these contrasts. Off unless the reader's CNNs were trained with it: the
    # faint marks it finds in empty boxes are new to CNNs that were not (the `styles`
    # training recipe uses it; `scangrade eval reader` measures both).
    faint_pass: bool = False
    faint_paper_window: float = 0.25
    faint_min_contrast: int = 10
    faint_low_contrast: int = 6
    faint_high_spreads: float = 3.5
    faint_low_spreads: float = 1.5
    # ...and a mark that large (share of the crop) above the low threshold is ink too, however
    # faint: noise that weak makes only small flecks, a stroke makes one long mark.
    faint_stroke_area: float = 0.012

    def __post_init__(self) -> None:
        if self.work_side < 16 or self.min_crop_side < 1:
            raise ValueError("preprocess config: work_side must be >= 16, min_crop_side >= 1")
        for name in ("paper_percentile", "ink_percentile"):
            if not 0 < getattr(self, name) <= 100:
                raise ValueError(f"preprocess config: {name} must be in (0, 100]")
        for name in ("border_band", "inner_band", "thin_centre_band"):
            if not 0 <= getattr(self, name) < 0.5:
                raise ValueError(f"preprocess config: {name} must be in [0, 0.5)")


DEFAULT_CONFIG = PreprocessConfig()

# Below this many crops a thread is not worth its hand-over.
MIN_CROPS_PER_THREAD = 16


class CropError(ValueError):
    """A crop that cannot be read: wrong type, shape or values. Names the crop."""


def as_gray_uint8(crop: np.ndarray, index: int = 0) -> np.ndarray:
    """Validates one crop; colour crops are converted to grey (a defined result)."""
    crop = np.asarray(crop)
    if crop.dtype != np.uint8:
        raise CropError(f"crop {index}: expected uint8 pixels, got {crop.dtype}")
    if crop.ndim == 3 and crop.shape[2] in (3, 4) and min(crop.shape[:2]) > 0:
        code = cv2.COLOR_BGR2GRAY if crop.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        crop = cv2.cvtColor(np.ascontiguousarray(crop), code)
    elif crop.ndim == 3 and crop.shape[2] == 1:
        crop = crop[..., 0]
    if crop.ndim != 2:
        raise CropError(f"crop {index}: expected a 2-D grayscale image, got shape {crop.shape}")
    if min(crop.shape) < DEFAULT_CONFIG.min_crop_side:
        raise CropError(
            f"crop {index}: {crop.shape[1]}x{crop.shape[0]} px is smaller than the "
            f"{DEFAULT_CONFIG.min_crop_side}x{DEFAULT_CONFIG.min_crop_side} minimum"
        )
    return np.ascontiguousarray(crop)


def kernel_config(config: PreprocessConfig) -> np.ndarray:
    return np.array([getattr(config, name) for name in CONFIG_FIELDS], np.float64)


def _clean(grays: Sequence[np.ndarray], config: PreprocessConfig, images: np.ndarray,
           blank: np.ndarray) -> None:
    """Cleans crops in one compiled call: they travel packed end to end in one buffer."""
    shapes = np.array([gray.shape for gray in grays], np.int64).reshape(-1, 2)
    offsets = np.zeros(len(grays), np.int64)
    np.cumsum(shapes[:-1, 0] * shapes[:-1, 1], out=offsets[1:])
    pixels = np.concatenate([gray.ravel() for gray in grays])
    preprocess_packed(pixels, offsets, shapes, config.work_side, kernel_config(config), images,
                      blank)


def default_threads() -> int:
    """The CPUs this process may run on (a container's or taskset's limit), at most 8."""
    return max(1, min(len(os.sched_getaffinity(0)), 8))


_pool_lock = threading.Lock()
_pools: dict[int, ThreadPoolExecutor] = {}  # threads → pool


def _forget_pools_in_child() -> None:
    """A forked child (a Celery prefork worker) has none of the parent's threads: it makes
    its own pools, behind a fresh lock."""
    global _pool_lock
    _pool_lock = threading.Lock()
    _pools.clear()


os.register_at_fork(after_in_child=_forget_pools_in_child)


def _thread_pool(threads: int) -> ThreadPoolExecutor:
    """A pool kept for the process: starting threads for every call costs more than a
    64-crop batch's whole overhead budget."""
    with _pool_lock:
        if threads not in _pools:
            _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="preprocess")
        return _pools[threads]


def preprocess_batch(crops: Sequence[np.ndarray] | np.ndarray,
                     config: PreprocessConfig = DEFAULT_CONFIG,
                     threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Many crops → (images float32 (N, 28, 28), blank bool (N,)). Blank boxes get zeros.

    Validation happens first for all crops, so a bad crop fails the call before any work.
    The crops are cleaned by compiled kernels that release the GIL, split over `threads`
    threads (default: the CPU count).
    """
    grays = [as_gray_uint8(crop, i) for i, crop in enumerate(crops)]
    return preprocess_validated(grays, config, threads)


def preprocess_validated(grays: Sequence[np.ndarray], config: PreprocessConfig = DEFAULT_CONFIG,
                         threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """preprocess_batch for crops already passed through `as_gray_uint8`."""
    images = np.zeros((len(grays), MNIST_SIDE, MNIST_SIDE), np.float32)
    blank = np.zeros(len(grays), bool)
    threads = threads or default_threads()
    parts = max(1, min(threads, len(grays) // MIN_CROPS_PER_THREAD))
    jobs = [part for part in np.array_split(np.arange(len(grays)), parts) if len(part)]

    def run(indices: np.ndarray) -> None:
        part_images = np.empty((len(indices), MNIST_SIDE, MNIST_SIDE), np.float32)
        part_blank = np.empty(len(indices), bool)
        _clean([grays[i] for i in indices], config, part_images, part_blank)
        images[indices], blank[indices] = part_images, part_blank

    if len(jobs) <= 1:
        for job in jobs:
            run(job)
    else:
        list(_thread_pool(threads).map(run, jobs))  # list(): re-raises a worker's exception
    return images, blank


def preprocess(crop: np.ndarray, config: PreprocessConfig = DEFAULT_CONFIG,
               index: int = 0) -> np.ndarray | None:
    """One crop → 28x28 float32 digit image, or None when the box is blank."""
    images, blank = preprocess_validated([as_gray_uint8(crop, index)], config, threads=1)
    return None if blank[0] else images[0]
