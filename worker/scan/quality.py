"""How well a page shows its sheet, once aligned: the scale it is seen at, how sharp it is,
and paper evened out under shadows. Pure functions on greyscale images and layout fits.

- `px_per_mm`: the fit's scale at the sheet's centre (a photo has no DPI of its own).
- `edge_blur_mm`: the 10-90% width of the markers' black-to-white edges, resampled at a fixed
  resolution: a sharp print is a fraction of a millimetre, motion or focus blur spreads it.
- `even_paper`: divides each pixel by the paper brightness around it, so a box in a hand's
  shadow reads like a lit one; only when the paper is uneven over the boxes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import cv2
import numpy as np

from scangrade.config.scan import ScanSettings
from worker.scan.align import Alignment, PageFit, project
from worker.scan.results import PageStatus
from worker.sheets.units import MM_PER_INCH

EDGE_MARGIN_MM = 2.0  # resampled around each marker: its whole outer edge and some paper
# An edge's gradient peak and its contrast are taken as these percentiles of the patch.
EDGE_GRADIENT_PERCENTILE = 99.0
CONTRAST_PERCENTILES = (5.0, 95.0)
RAMP_10_90 = 0.8  # a linear ramp's 10-90% rise is 0.8 of its full width
PAPER_PERCENTILES = (5.0, 95.0)
WHITE = 255.0


def px_per_mm(fit: PageFit, centre_mm: tuple[float, float]) -> float:
    """Pixels per millimetre at `centre_mm` on the sheet: the fit's local area scale."""
    x, y = centre_mm
    points = project(fit.mm_to_px, np.array([[x, y], [x + 1, y], [x, y + 1]], np.float64))
    (ax, ay), (bx, by) = points[1] - points[0], points[2] - points[0]
    area = abs(ax * by - ay * bx)
    return float(np.sqrt(area))


def edge_blur_mm(gray: np.ndarray, fit: PageFit, marker_corners_mm: Mapping[int, np.ndarray],
                 settings: ScanSettings) -> float:
    """Median over the fitted markers of their edges' 10-90% width, in mm."""
    k = settings.edge_measure_px_per_mm
    widths = []
    for marker_id in fit.markers_used:
        corners = marker_corners_mm[marker_id]
        x0, y0 = corners.min(axis=0) - EDGE_MARGIN_MM
        x1, y1 = corners.max(axis=0) + EDGE_MARGIN_MM
        size = (round((x1 - x0) * k), round((y1 - y0) * k))
        patch_to_mm = np.array([[1 / k, 0, x0], [0, 1 / k, y0], [0, 0, 1]])
        patch = cv2.warpPerspective(gray, fit.mm_to_px @ patch_to_mm, size,
                                    flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        low, high = np.percentile(patch, CONTRAST_PERCENTILES)
        # The patch is upright on the sheet, so the marker's edges run along its axes: each
        # axis's sharpest edges tell that direction's blur; motion blurs one more than the
        # other, so the worse of the two counts.
        peaks = [float(np.percentile(np.abs(cv2.Sobel(patch, cv2.CV_32F, dx, 1 - dx, ksize=3)
                                             / 8.0), EDGE_GRADIENT_PERCENTILE))
                 for dx in (0, 1)]  # grey levels per pixel
        if min(peaks) <= 0 or high - low <= 0:
            continue  # a flat patch: no marker to measure (the fit says otherwise)
        widths.append(RAMP_10_90 * (high - low) / min(peaks) / k)
    return float(np.median(widths)) if widths else 0.0


def paper_model(gray: np.ndarray, scale_px_per_mm: float, settings: ScanSettings) -> np.ndarray:
    """The paper's brightness under the ink, at `paper_model_px_per_mm` (float32)."""
    factor = min(1.0, settings.paper_model_px_per_mm / scale_px_per_mm)
    small = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    window = 2 * round(settings.paper_ink_removal_mm * settings.paper_model_px_per_mm / 2) + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (window, window))
    lifted = cv2.dilate(small, kernel)  # the brightest nearby: paper where there is ink
    return cv2.GaussianBlur(lifted.astype(np.float32), (0, 0), window / 2)


def even_paper(gray: np.ndarray, scale_px_per_mm: float, boxes_px: Sequence[np.ndarray],
               settings: ScanSettings) -> tuple[np.ndarray, bool]:
    """(the page with its paper evened out, True) when the paper under the boxes varies by
    more than `paper_uneven_levels`; (the page, False) otherwise."""
    if not len(boxes_px):
        return gray, False
    model = paper_model(gray, scale_px_per_mm, settings)
    factor = model.shape[1] / gray.shape[1]
    centres = np.array([quad.mean(axis=0) for quad in boxes_px]) * factor
    cols = np.clip(np.rint(centres[:, 0]).astype(int), 0, model.shape[1] - 1)
    rows = np.clip(np.rint(centres[:, 1]).astype(int), 0, model.shape[0] - 1)
    low, high = np.percentile(model[rows, cols], PAPER_PERCENTILES)
    if high - low <= settings.paper_uneven_levels:
        return gray, False
    paper = cv2.resize(model, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)
    evened = cv2.divide(gray.astype(np.float32), np.maximum(paper, 1.0), scale=WHITE)
    return np.clip(evened, 0, WHITE).astype(np.uint8), True


def judge_quality(gray: np.ndarray, alignment: Alignment, settings: ScanSettings
                  ) -> Alignment:
    """An `ok` alignment made `low-resolution` or `blurry` when the sheet is seen too small
    or too unsharp to read (settings min_px_per_mm, max_edge_blur_mm); with its measured
    scale (`px_per_mm`) either way."""
    if alignment.fit is None or alignment.marker_corners_mm is None:
        return alignment
    corners = alignment.marker_corners_mm
    centre = np.concatenate(list(corners.values())).mean(axis=0)
    scale = px_per_mm(alignment.fit, (float(centre[0]), float(centre[1])))
    alignment = replace(alignment, px_per_mm=scale)
    # an unreadable QR code is often what a far or blurred photo shows first
    if alignment.status not in (PageStatus.OK, PageStatus.NO_QR):
        return alignment
    what = " (its QR code cannot be read either)" if alignment.status == PageStatus.NO_QR \
        else ""
    if scale < settings.min_px_per_mm:
        return replace(alignment, status=PageStatus.LOW_RESOLUTION, message=(
            f"too small to read: the sheet is {scale * MM_PER_INCH:.0f} DPI in this image,"
            f" {settings.min_px_per_mm * MM_PER_INCH:.0f} needed{what}; take the photo closer,"
            " the sheet filling the frame (or scan at 150 DPI or more)"))
    blur = edge_blur_mm(gray, alignment.fit, corners, settings)
    if blur > settings.max_edge_blur_mm:
        return replace(alignment, status=PageStatus.BLURRY, message=(
            f"blurry: the sheet's edges are smeared over {blur:.1f} mm (up to"
            f" {settings.max_edge_blur_mm:g} mm reads well){what}; hold the phone still, let it"
            " focus, and take the photo again"))
    return alignment
