"""Cut every digit box of an aligned page out of the scan, upright, at a fixed resolution.

Each box is warped on its own (cv2.warpPerspective of just the box and its margin): for a
sheet's ~46 boxes this touches ~1/20 of the pixels a whole-page warp would; measured 2.8 ms
against 16.5 ms a page at 150 DPI, 5.3 against 18.8 at 200 (worker.measure.bench_pipeline.
bench_crop_methods, also printed by `scangrade bench pipeline`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from worker.scan.align import project
from worker.sheets.layout import Cell

PAPER_WHITE = 255  # fills crop pixels that fall outside the scan


@dataclass(frozen=True)
class BoxCrop:
    cell: Cell
    image: np.ndarray  # 2-D uint8, upright, the box plus its margin at px_per_mm
    quad_px: np.ndarray  # (4, 2) the box's corners (TL, TR, BR, BL in layout terms) in scan px


def box_quad_px(cell: Cell, mm_to_px: np.ndarray) -> np.ndarray:
    x, y, w, h = cell.x_mm, cell.y_mm, cell.w_mm, cell.h_mm
    return project(mm_to_px, np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]]))


def crop_boxes(
    gray: np.ndarray, mm_to_px: np.ndarray, cells: Sequence[Cell], px_per_mm: float,
    margin_mm: float,
) -> list[BoxCrop]:
    """One upright crop per cell: the box grown by `margin_mm` on each side, sampled at
    `px_per_mm` through the page fit `mm_to_px`."""
    crops = []
    for cell in cells:
        x0, y0 = cell.x_mm - margin_mm, cell.y_mm - margin_mm
        width = round((cell.w_mm + 2 * margin_mm) * px_per_mm)
        height = round((cell.h_mm + 2 * margin_mm) * px_per_mm)
        # crop pixel (u, v) -> layout mm -> scan px; pixel centres sit at (u + 0.5) / px_per_mm
        crop_to_mm = np.array([
            [1.0 / px_per_mm, 0.0, x0 + 0.5 / px_per_mm],
            [0.0, 1.0 / px_per_mm, y0 + 0.5 / px_per_mm],
            [0.0, 0.0, 1.0],
        ])
        crop_to_px = mm_to_px @ crop_to_mm
        image = cv2.warpPerspective(
            gray, crop_to_px, (width, height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT, borderValue=PAPER_WHITE,
        )
        crops.append(BoxCrop(cell, image, box_quad_px(cell, mm_to_px)))
    return crops


def crop_boxes_whole_page(
    gray: np.ndarray, mm_to_px: np.ndarray, cells: Sequence[Cell], px_per_mm: float,
    margin_mm: float, page_size_mm: tuple[float, float],
) -> list[BoxCrop]:
    """The same crops through one warp of the whole page (kept to measure against)."""
    page_w = round(page_size_mm[0] * px_per_mm)
    page_h = round(page_size_mm[1] * px_per_mm)
    page_to_mm = np.array([
        [1.0 / px_per_mm, 0.0, 0.5 / px_per_mm],
        [0.0, 1.0 / px_per_mm, 0.5 / px_per_mm],
        [0.0, 0.0, 1.0],
    ])
    upright = cv2.warpPerspective(
        gray, mm_to_px @ page_to_mm, (page_w, page_h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT, borderValue=PAPER_WHITE,
    )
    padded = cv2.copyMakeBorder(
        upright, *(4 * [round(margin_mm * px_per_mm) + 1]), cv2.BORDER_CONSTANT,
        value=PAPER_WHITE)
    pad = round(margin_mm * px_per_mm) + 1
    crops = []
    for cell in cells:
        u0 = round((cell.x_mm - margin_mm) * px_per_mm) + pad
        v0 = round((cell.y_mm - margin_mm) * px_per_mm) + pad
        width = round((cell.w_mm + 2 * margin_mm) * px_per_mm)
        height = round((cell.h_mm + 2 * margin_mm) * px_per_mm)
        image = padded[v0: v0 + height, u0: u0 + width].copy()
        crops.append(BoxCrop(cell, image, box_quad_px(cell, mm_to_px)))
    return crops
