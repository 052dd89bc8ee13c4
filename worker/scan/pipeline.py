"""One scan file (a PDF or an image file) -> one PageResult per page: rasterize or decode a
chunk, align and crop every page, read all crops of the chunk in one reader batch.

`read_pages` is the pure per-chunk step (page images in, results out): `plan_pages` aligns
and crops, `read_plans` reads all crops of the chunk in one batch. `read_scan` adds the
inspected file: a background thread rasterizes (pdftoppm, its own process) or decodes the next
chunk and aligns and crops its pages while the current chunk is read, so on 2 cores the
reader's CNNs and the alignment's OpenCV calls (both outside the GIL) overlap.
At most two chunks of page images are held at any time, whatever the page count. Several
files and page ranges across them: worker.scan.scans.

A photo's page has no DPI of its own: its scale is measured from the markers and becomes
the page's DPI in its result. Every aligned page is checked for resolution and blur, and
its paper evened out under shadows before the boxes are cut (worker.scan.quality).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from model.inference.classes import BLANK
from scangrade.config.scan import ScanSettings
from worker.scan.align import Alignment, align_page
from worker.scan.crop import BoxCrop, box_quad_px, crop_boxes
from worker.scan.pdf import PdfInfo, checked_range, page_image_problem
from worker.scan.previews import PreviewSink
from worker.scan.quality import even_paper, judge_quality
from worker.scan.rasterize import RasterPage
from worker.scan.results import BoxRead, PageResult, PageStatus
from worker.scan.sources import ScanFile, iter_page_chunks
from worker.sheets.layout import Layout
from worker.sheets.units import MM_PER_INCH

log = logging.getLogger(__name__)

# Statuses whose boxes are cut out and read: pages aligned but of doubtful quality are read
# too, so a reviewer sees what the boxes hold, but grading trusts only `ok`.
READ_STATUSES = (PageStatus.OK, PageStatus.LOW_QUALITY, PageStatus.BLURRY,
                 PageStatus.LOW_RESOLUTION)

Progress = Callable[[int, int], None]  # (pages done, pages in the range)


@dataclass
class _PagePlan:
    """One page between alignment and reading."""

    result: PageResult
    crops: list[BoxCrop]


def read_scan(
    info: ScanFile, layouts: Mapping[str, Layout], reader, settings: ScanSettings,
    first_page: int = 1, last_page: int | None = None, progress: Progress | None = None,
    previews: PreviewSink | None = None,
) -> Iterator[PageResult]:
    """Results for pages first_page..last_page (1-based, inclusive) of an inspected file
    (worker.scan.sources.inspect_scan), in order.

    `layouts` maps exam id -> Layout; `reader` has `read_batch(crops)`
    (model.inference.reader.DigitReader). `previews` keeps a small image of every page
    (worker.scan.previews). Raises ValueError for a page range outside the PDF (before
    reading anything); every page problem becomes that page's status instead."""
    whose = "the PDF's" if isinstance(info, PdfInfo) else f"{info.path.name}'s"
    first, last = checked_range(info.n_pages, first_page, last_page, whose)
    total, done = last - first + 1, 0
    chunks = iter_page_chunks(info, settings, first, last)

    def prepared() -> list[_PagePlan] | None:
        pages = next(chunks, None)
        return None if pages is None else plan_pages(pages, layouts, settings, previews)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare") as ahead:
        pending = ahead.submit(prepared)
        while True:
            plans = pending.result()
            if plans is None:
                break
            pending = ahead.submit(prepared)  # the next chunk, while this one is read
            for result in read_plans(plans, reader):
                done += 1
                yield _checked(result, info)
            if progress is not None:
                progress(done, total)


# Page verdicts a damaged image would also give; their images are decoded to tell.
IMAGE_SUSPECT = (PageStatus.BLANK_PAGE, PageStatus.NOT_A_SHEET, PageStatus.NO_MARKERS,
                 PageStatus.NO_QR, PageStatus.LOW_QUALITY)


def _checked(result: PageResult, info: ScanFile) -> PageResult:
    """A page that looks blank, or not like a sheet, may be one whose scanned image cannot
    be decoded (poppler renders white, or what it could decode): say so. The file's
    inspection note goes on its first page."""
    if result.status in IMAGE_SUSPECT and isinstance(info, PdfInfo):  # images: decoded already
        problem = page_image_problem(info.rendered, result.source_page, info.path.name)
        if problem is not None:
            _fail(result, problem)
    if result.source_page == 1 and info.note:
        result.message = f"{result.message}; {info.note}" if result.message else info.note
    return result


def read_pages(
    pages: Sequence[RasterPage], layouts: Mapping[str, Layout], reader, settings: ScanSettings,
    previews: PreviewSink | None = None,
) -> list[PageResult]:
    """Align and crop every page, read all their crops in one batch, and assemble results.

    A page that fails anywhere becomes status `error` with the reason; the others go on."""
    return read_plans(plan_pages(pages, layouts, settings, previews), reader)


def plan_pages(pages: Sequence[RasterPage], layouts: Mapping[str, Layout],
               settings: ScanSettings, previews: PreviewSink | None = None) -> list[_PagePlan]:
    """Every page aligned and its boxes cut out (or its status and why not), pages side by
    side in `align_threads` threads (OpenCV's calls run outside the GIL)."""
    threads = min(settings.page_threads, len(pages))
    if threads <= 1:
        return [_plan_page(page, layouts, settings, previews) for page in pages]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="align") as pool:
        return list(pool.map(lambda page: _plan_page(page, layouts, settings, previews), pages))


def read_plans(plans: Sequence[_PagePlan], reader) -> list[PageResult]:
    """All crops of the planned pages read in one batch; the pages' results."""
    crops = [crop.image for plan in plans for crop in plan.crops]
    if crops:
        try:
            batch = reader.read_batch(crops)
            # as Python numbers at once: element by element, numpy's scalars cost more
            # than the rounding (the same values either way)
            labels = np.asarray(batch.labels).tolist()
            confidences = np.asarray(batch.confidences).tolist()
            probs = np.asarray(batch.probs).tolist()
        except Exception as exc:  # the reader failing must not lose the chunk's pages
            for plan in plans:
                if plan.crops:
                    _fail(plan.result, f"the digit reader failed ({type(exc).__name__}); grade"
                          " the scan again, or review this page by hand")
            return [plan.result for plan in plans]
        offset = 0
        for plan in plans:
            for crop in plan.crops:
                plan.result.boxes.append(_box_read(
                    crop, labels[offset], confidences[offset], probs[offset]))
                offset += 1
    return [plan.result for plan in plans]


def _plan_page(page: RasterPage, layouts: Mapping[str, Layout], settings: ScanSettings,
               previews: PreviewSink | None) -> _PagePlan:
    result = PageResult(source_page=page.number, status=PageStatus.ERROR, dpi=page.dpi or None)
    if page.image is None:
        result.message = page.error or "page could not be rasterized"
        return _PagePlan(result, [])
    result.height_px, result.width_px = page.image.shape[:2]
    gray, dpi = _as_gray(page.image), page.dpi
    try:
        alignment = judge_quality(
            gray, align_page(gray, dpi, layouts, settings, photo=page.nominal), settings)
        if page.nominal and alignment.px_per_mm:  # a photo: its scale, from the markers
            dpi = result.dpi = max(1, round(alignment.px_per_mm * MM_PER_INCH))
        _describe(result, alignment)
        crops: list[BoxCrop] = []
        if alignment.status in READ_STATUSES and alignment.layout is not None:
            cells = alignment.layout.cells(alignment.payload.page)
            mm_to_px = alignment.fit.mm_to_px
            evened, _ = even_paper(gray, alignment.px_per_mm,
                                   [box_quad_px(cell, mm_to_px) for cell in cells], settings)
            crops = crop_boxes(evened, mm_to_px, cells, settings.crop_px_per_mm,
                               settings.crop_margin_mm)
        return _PagePlan(result, crops)
    except Exception as exc:  # one odd page must never stop the batch
        log.info("processing page %d", result.source_page, exc_info=True)
        _fail(result, f"page could not be processed ({type(exc).__name__}); review it by hand")
        return _PagePlan(result, [])
    finally:
        if previews is not None:
            _keep_preview(previews, page.number, gray, dpi)


def _keep_preview(previews: PreviewSink, number: int, gray: np.ndarray, dpi: int) -> None:
    try:
        previews(number, gray, dpi)
    except Exception:  # a thumbnail is not worth the page: the read goes on without it
        log.warning("page %d: its preview could not be written", number, exc_info=True)


def _describe(result: PageResult, alignment: Alignment) -> None:
    result.status = alignment.status
    result.message = alignment.message
    result.rotation = alignment.rotation
    if alignment.payload is not None:
        result.exam_id = alignment.payload.exam_id
        result.layout_version = alignment.payload.layout_version
        result.copy = alignment.payload.copy
        result.page = alignment.payload.page
    if alignment.fit is not None and alignment.payload is not None:
        result.residual_mm = round(alignment.fit.residual_mm, 4)


def _fail(result: PageResult, message: str) -> None:
    result.status = PageStatus.ERROR
    result.message = message
    result.boxes = []


def _box_read(crop: BoxCrop, label: int, confidence: float, probs: list[float]) -> BoxRead:
    blank = label == BLANK
    return BoxRead(
        field=crop.cell.field, index=crop.cell.index, digit=None if blank else label,
        confidence=round(confidence, 5), blank=blank,
        probs=[round(p, 5) for p in probs],
        quad=[[round(x, 2), round(y, 2)] for x, y in crop.quad_px.tolist()],
    )


def _as_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)

