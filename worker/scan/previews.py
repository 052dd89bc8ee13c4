"""Small page images kept from the read pass, so review.pdf and the graded sheets never
rasterize the PDF a second time: each page as read, downscaled once to a preview resolution
and JPEG-compressed once, named by its page number across the run's scans.

Orientation is kept as scanned; the page result's rotation says how to turn it upright.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from scangrade.atomic import write_bytes_whole

PREVIEW_SUFFIX = ".jpg"

# (page number, greyscale page image, its DPI): keeps a preview of one page
PreviewSink = Callable[[int, np.ndarray, int], None]


def preview_path(folder: Path, source_page: int) -> Path:
    return Path(folder) / f"{source_page:05d}{PREVIEW_SUFFIX}"


def preview_dpi_of(image_dpi: int, wanted_dpi: int) -> int:
    """The DPI a preview of an image at `image_dpi` is kept at: never upscaled."""
    return min(image_dpi, wanted_dpi)


class PreviewFolder:
    """A PreviewSink writing `<folder>/<page>.jpg` at `dpi`, JPEG `quality`."""

    def __init__(self, folder: Path, dpi: int, quality: int) -> None:
        self.folder = Path(folder)
        self.dpi = dpi
        self.quality = quality
        self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, source_page: int, gray: np.ndarray, dpi: int) -> None:
        target = preview_dpi_of(dpi, self.dpi)
        if target < dpi:
            scale = target / dpi
            size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(PREVIEW_SUFFIX, gray, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return  # the page is drawn on a blank canvas instead
        # whole or not at all: a task run twice rewrites the same bytes
        write_bytes_whole(preview_path(self.folder, source_page), jpeg.tobytes())
