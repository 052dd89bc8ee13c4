"""PDF pages to greyscale images, a chunk of pages at a time: a page that is one embedded
JPEG is decoded straight from it (worker.scan.embedded, setting decode_jpeg_directly),
every other page is rendered by poppler.

The file was checked first (worker.scan.pdf). Page problems (a page too large to rasterize, a
page poppler cannot render) become a `RasterPage` with `error` set, so one bad page never
stops the others.
"""

from __future__ import annotations

import contextlib
import logging
import math
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scangrade.config.scan import ScanSettings
from worker.scan.embedded import (
    DirectPage,
    decode_page_jpeg,
    direct_plans,
    page_jpeg,
    rendered_size,
)
from worker.scan.pdf import DamagedPdfError, PdfInfo, page_range
from worker.sheets.units import MM_PER_INCH, POINTS_PER_INCH

log = logging.getLogger(__name__)

DAMAGED_PAGE = ("{file} page {number} is damaged: its description in the PDF cannot be read;"
                " rescan it, or save the PDF again and upload that")


@dataclass
class RasterPage:
    """One rasterized page; `image` is None exactly when `error` says why."""

    number: int  # 1-based page number in the PDF
    dpi: int
    image: np.ndarray | None  # 2-D uint8, dark ink on light paper
    error: str | None = None
    # The DPI is a guess (a photo's): the page's scale is measured from its markers.
    nominal: bool = False


def page_sizes_pt(info: PdfInfo, first: int, last: int) -> dict[int, tuple[float, float]]:
    """Page number -> (width, height) in points as pdftoppm renders it: the media box
    (pdf2image's default, use_cropbox=False), turned by the page's /Rotate. Poppler's own view
    of the pages, for just this range; a page it cannot read is missing from the result."""
    result = subprocess.run(
        ["pdfinfo", "-box", "-f", str(first), "-l", str(last), str(info.rendered)],
        capture_output=True, text=True, timeout=120, check=False, errors="replace",
    )
    if result.returncode != 0 and "MediaBox:" not in result.stdout:
        # not one page of the range could be read: the file itself is gone or broken
        log.info("pdfinfo on %s: %s", info.rendered, result.stderr.strip())
        raise DamagedPdfError(f"{info.path.name} cannot be read any more (none of pages"
                              f" {first}-{last} can be opened); upload it again")
    boxes: dict[int, tuple[float, float]] = {}
    rotations: dict[int, int] = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 7 and parts[0] == "Page" and parts[2] == "MediaBox:":
            x0, y0, x1, y1 = (float(v) for v in parts[3:7])
            boxes[int(parts[1])] = (abs(x1 - x0), abs(y1 - y0))
        elif len(parts) >= 4 and parts[0] == "Page" and parts[2] == "rot:":
            rotations[int(parts[1])] = int(float(parts[3]))
    return {
        number: (height, width) if rotations.get(number, 0) % 180 == 90 else (width, height)
        for number, (width, height) in boxes.items()
    }


def page_dpi(size_pt: tuple[float, float], settings: ScanSettings) -> int | str:
    """The DPI to rasterize a page at, or an error message when the page is unusable.

    A page whose image at `settings.dpi` would exceed `max_page_pixels` is rasterized at the
    highest DPI that fits, as long as that stays >= `min_page_dpi`.
    """
    width_in, height_in = size_pt[0] / POINTS_PER_INCH, size_pt[1] / POINTS_PER_INCH
    if width_in <= 0 or height_in <= 0:
        return f"page has an empty size ({size_pt[0]:.0f} x {size_pt[1]:.0f} pt)"
    def pixels(dpi: int) -> int:
        width, height = rendered_size(size_pt, dpi)
        return width * height

    if pixels(settings.dpi) <= settings.max_page_pixels:
        return settings.dpi
    fitting = math.floor(math.sqrt(settings.max_page_pixels / (width_in * height_in)))
    while fitting > 0 and pixels(fitting) > settings.max_page_pixels:
        fitting -= 1
    if fitting >= settings.min_page_dpi:
        return fitting
    return (
        f"page is {width_in * MM_PER_INCH:.0f} x {height_in * MM_PER_INCH:.0f} mm: even at "
        f"{settings.min_page_dpi} DPI (setting min_page_dpi) it would exceed "
        f"{settings.max_page_pixels} pixels (setting max_page_pixels); not rasterized"
    )


@dataclass
class DirectPages:
    """The pages of an open PDF that are decoded from their JPEG instead of rendered."""

    pdf: object  # pikepdf.Pdf, open while pages are decoded
    plans: dict[int, DirectPage]
    threads: int = 1  # pages decoded side by side

    def decode_all(self, pages: list[tuple[int, int]]) -> dict[int, np.ndarray | None]:
        """Page number -> its image, for those of `pages` (number, DPI) that it plans and
        can decode; a page missing or None is rendered by poppler instead, which says what
        is wrong if anything."""
        jobs = []
        for number, dpi in pages:  # the JPEGs read out of the PDF here, in one thread
            plan = self.plans.get(number)
            if plan is not None:
                try:
                    jobs.append((number, page_jpeg(self.pdf, plan), plan, dpi))
                except Exception:
                    log.info("page %d: its JPEG cannot be read", number, exc_info=True)

        def decoded(job) -> tuple[int, np.ndarray | None]:
            number, data, plan, dpi = job
            try:
                return number, decode_page_jpeg(data, plan, dpi)
            except Exception:
                log.info("page %d: direct decoding failed", number, exc_info=True)
                return number, None

        if self.threads <= 1 or len(jobs) <= 1:
            return dict(map(decoded, jobs))
        with ThreadPoolExecutor(max_workers=min(self.threads, len(jobs)),
                                thread_name_prefix="decode") as pool:
            return dict(pool.map(decoded, jobs))


def rasterize_pages(
    info: PdfInfo, first_page: int, last_page: int, settings: ScanSettings,
    sizes: dict[int, tuple[float, float]] | None = None, direct: DirectPages | None = None,
) -> list[RasterPage]:
    """Rasterize pages first_page..last_page (1-based, inclusive) into greyscale arrays.

    Pages `direct` plans are decoded from their JPEG (falling back to poppler if that
    fails). Consecutive other pages sharing a DPI go through one pdftoppm call; when a call
    fails, its pages are retried one by one so that only the page poppler cannot render gets
    an error. `sizes` (from page_sizes_pt) saves a pdfinfo call when the caller has them.
    """
    if sizes is None:
        sizes = page_sizes_pt(info, first_page, last_page)
    damaged = set(info.damaged_pages)
    plans: list[tuple[int, int | str]] = [
        (number, DAMAGED_PAGE.format(file=info.path.name, number=number) if number in damaged
         else page_dpi(sizes[number], settings) if number in sizes
         else "page cannot be read: poppler finds no such page in the PDF")
        for number in range(first_page, last_page + 1)
    ]
    decoded = direct.decode_all([(n, dpi) for n, dpi in plans if isinstance(dpi, int)]
                                ) if direct else {}
    pages: list[RasterPage] = []
    run: list[int] = []
    run_dpi: int | None = None
    for number, dpi in [*plans, (0, "")]:  # sentinel flushes the last run
        image = decoded.get(number)
        if run and (dpi != run_dpi or image is not None):
            pages.extend(_rasterize_run(info.rendered, run, run_dpi, settings))
            run = []
        if isinstance(dpi, str):
            if number:
                pages.append(RasterPage(number=number, dpi=settings.dpi, image=None, error=dpi))
            continue
        if image is not None:
            pages.append(RasterPage(number, dpi, image))
            continue
        run.append(number)
        run_dpi = dpi
    return pages


def _rasterize_run(
    path: Path, numbers: list[int], dpi: int, settings: ScanSettings
) -> list[RasterPage]:
    try:
        images = _pdftoppm(path, numbers[0], numbers[-1], dpi, settings)
        if len(images) == len(numbers):
            return [RasterPage(n, dpi, image) for n, image in zip(numbers, images, strict=True)]
    except Exception:
        if len(numbers) == 1:
            log.info("rasterizing page %d of %s", numbers[0], path, exc_info=True)
            return [RasterPage(numbers[0], dpi, None, "page could not be rasterized (poppler "
                               "failed on it); rescan it, or save the PDF again")]
    if len(numbers) == 1:
        return [RasterPage(numbers[0], dpi, None, "page could not be rasterized: poppler "
                           "returned no image")]
    return [page for n in numbers for page in _rasterize_run(path, [n], dpi, settings)]


def _pdftoppm(path: Path, first: int, last: int, dpi: int, settings: ScanSettings):
    """pdftoppm writes PGM files into a temporary folder, read back by OpenCV: cheaper than
    piping them through Python and PIL (one copy instead of three). The files live for one
    chunk, so they rarely leave the page cache."""
    import cv2
    from pdf2image import convert_from_path

    with tempfile.TemporaryDirectory(prefix="scangrade-raster-",
                                     dir=settings.raster_temp_dir) as folder:
        files = convert_from_path(
            path, dpi=dpi, first_page=first, last_page=last, grayscale=True,
            output_folder=folder, paths_only=True, timeout=settings.rasterize_timeout_s,
        )
        images = [cv2.imread(str(file), cv2.IMREAD_GRAYSCALE) for file in sorted(files)]
    if any(image is None for image in images):
        raise RuntimeError("poppler wrote an unreadable page image")
    return images


def iter_chunks(
    info: PdfInfo, settings: ScanSettings, first_page: int = 1, last_page: int | None = None
) -> Iterator[list[RasterPage]]:
    """Rasterized pages in chunks of `chunk_pages`, made one at a time as they are asked for."""
    first, last = page_range(info, first_page, last_page)
    sizes = page_sizes_pt(info, first, last)
    with _direct_pages(info, first, last, settings) as direct:
        for start in range(first, last + 1, settings.chunk_pages):
            yield rasterize_pages(info, start, min(last, start + settings.chunk_pages - 1),
                                  settings, sizes, direct)


@contextlib.contextmanager
def _direct_pages(info: PdfInfo, first: int, last: int, settings: ScanSettings
                  ) -> Iterator[DirectPages | None]:
    """The file opened once for direct decoding, or None (setting off, or unreadable here:
    poppler renders every page then)."""
    if not settings.decode_jpeg_directly:
        yield None
        return
    import pikepdf

    try:
        pdf = pikepdf.open(info.rendered)
    except Exception:
        log.info("%s: pages rendered by poppler only", info.path.name, exc_info=True)
        yield None
        return
    with pdf:
        yield DirectPages(pdf, direct_plans(pdf, first, last), settings.page_threads)
