"""Scanned pages drawn into a PDF with marks on them: what review.pdf and the graded sheets
share. The page image goes in as it was kept (a JPEG is embedded, not decoded), turned
upright; box outlines and words go on top as vector graphics and real text, so the PDF is
small, sharp and searchable.

Page images come from the previews the read pass kept (worker.scan.previews); a report
folder graded before previews were kept has its scans rasterized again instead.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image
from reportlab import rl_config
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from worker.scan.previews import preview_path
from worker.scan.results import PageResult
from worker.scan.sources import ScanFile
from worker.sheets.layout import PAPER_SIZES_MM
from worker.sheets.units import MM_PER_INCH, POINTS_PER_INCH

Colour = tuple[float, float, float]  # RGB, 0..1
GREEN: Colour = (0.0, 0.55, 0.24)
RED: Colour = (0.84, 0.12, 0.12)
AMBER: Colour = (0.85, 0.5, 0.0)
GREY: Colour = (0.47, 0.47, 0.47)
INK: Colour = (0.0, 0.0, 0.0)
HEADER_BG: Colour = (0.96, 0.96, 0.96)
BLANK_PAPER_MM = PAPER_SIZES_MM["a4"]  # canvas for a page whose image is lost
# Students' names need more than Latin-1 (é, ı, ł, ж): a system DejaVu Sans first, then the
# Vera that reportlab bundles; the PDF core fonts are the last resort.
FONT_FILES = (
    ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("Vera.ttf", "VeraBd.ttf"),
)
FONT_FOLDERS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts"),
)


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str
    symbols: bool  # ✓ and ✗ can be drawn


@lru_cache(maxsize=1)
def fonts() -> Fonts:
    import reportlab

    folders = (*FONT_FOLDERS, Path(reportlab.__file__).parent / "fonts")
    for regular, bold in FONT_FILES:
        for folder in folders:
            if (folder / regular).is_file() and (folder / bold).is_file():
                names = (f"scangrade-{Path(regular).stem}", f"scangrade-{Path(bold).stem}")
                pdfmetrics.registerFont(TTFont(names[0], str(folder / regular)))
                pdfmetrics.registerFont(TTFont(names[1], str(folder / bold)))
                return Fonts(*names, symbols=regular.startswith("DejaVu"))
    return Fonts("Helvetica", "Helvetica-Bold", symbols=False)


@dataclass(frozen=True)
class PageImage:
    """A page image as scanned (not yet upright), JPEG bytes, or None for a blank canvas."""

    jpeg: bytes | None
    width_px: int
    height_px: int
    dpi: float


class PageImages:
    """The image of each scanned page: its preview, or the scan rasterized again."""

    def __init__(self, previews: Path | None, scans: Sequence[ScanFile], dpi: int,
                 jpeg_quality: int) -> None:
        self.previews = previews
        self.dpi = dpi
        self.jpeg_quality = jpeg_quality
        self.rasterized: dict[int, PageImage | None] = {}  # drawn twice, rasterized once
        self.spans: list[tuple[ScanFile, int]] = []  # (scan, its first page across the run)
        start = 1
        for scan in scans:  # page counts from the one inspection of each file
            self.spans.append((scan, start))
            start += scan.n_pages

    def get(self, page: PageResult) -> PageImage:
        if self.previews is not None:
            path = preview_path(self.previews, page.source_page)
            if path.is_file():
                return self._from_jpeg(path.read_bytes(), page)
        if page.source_page not in self.rasterized:
            self.rasterized[page.source_page] = self._rasterized(page)
        return self.rasterized[page.source_page] or self._blank(page)

    def _from_jpeg(self, jpeg: bytes, page: PageResult) -> PageImage:
        with Image.open(io.BytesIO(jpeg)) as image:
            width, height = image.size
        # the preview's DPI follows from its size against the page as read
        dpi = width / page.width_px * page.dpi if page.width_px and page.dpi else self.dpi
        return PageImage(jpeg, width, height, dpi)

    def _locate(self, number: int) -> tuple[ScanFile, int] | None:
        for scan, first in self.spans:
            if first <= number < first + scan.n_pages:
                return scan, number - first + 1
        return None

    def _rasterized(self, page: PageResult) -> PageImage | None:
        """A folder without previews (graded by an older scangrade): the scan again."""
        where = self._locate(page.source_page)
        if where is None or not where[0].rendered.is_file():
            return None
        scan, number = where
        try:
            image, dpi = self._page_image(scan, number, page)
        except Exception:  # the page cannot be rendered: drawn on a blank canvas
            return None
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=self.jpeg_quality)
        return PageImage(buffer.getvalue(), image.width, image.height, dpi)

    def _page_image(self, scan: ScanFile, number: int, page: PageResult
                    ) -> tuple[Image.Image, float]:
        from pdf2image import convert_from_path

        from worker.scan.images import ImageInfo

        if isinstance(scan, ImageInfo):  # a photo, at the size it was read at
            from worker.scan.images import decode_page

            if not (page.dpi and page.width_px and page.height_px):
                raise ValueError("the photo was never read")
            gray = decode_page(scan, number, max(page.width_px, page.height_px))
            return Image.fromarray(gray), page.dpi * gray.shape[1] / page.width_px
        (image,) = convert_from_path(scan.rendered, dpi=self.dpi, first_page=number,
                                     last_page=number, grayscale=True)
        return image, self.dpi

    def _blank(self, page: PageResult) -> PageImage:
        if page.width_px and page.height_px and page.dpi:
            return PageImage(None, page.width_px, page.height_px, page.dpi)
        width_mm, height_mm = BLANK_PAPER_MM
        return PageImage(None, round(width_mm / MM_PER_INCH * self.dpi),
                         round(height_mm / MM_PER_INCH * self.dpi), self.dpi)


class JpegReader(ImageReader):
    """JPEG bytes for Canvas.drawImage, embedded as they are. drawImage names each image by
    a digest of its decoded pixels, so a plain ImageReader decodes and hashes every page
    (most of a report's drawing time); the compressed bytes name it just as well."""

    def __init__(self, jpeg: bytes) -> None:
        super().__init__(io.BytesIO(jpeg))
        self._jpeg = jpeg

    def getRGBData(self) -> bytes:  # reportlab's name
        self._dataA = None  # no soft mask
        return self._jpeg


def pdf_canvas(path: Path) -> Canvas:
    """A canvas for a PDF of scanned pages. Invariant: no date or random id, so the same
    grading gives a byte-identical PDF. The scans' JPEGs go in as they are, in binary: the
    ASCII85 text encoding reportlab applies by default runs in pure Python, most of a
    report's time, and makes the file a quarter larger."""
    rl_config.useA85 = 0
    return Canvas(str(path), invariant=True, pageCompression=1)


def upright_turn(rotation: int | None, width: float, height: float
                 ) -> Callable[[float, float], tuple[float, float]]:
    """Maps a point of the page as scanned (y down) to the page turned upright: PageResult.
    rotation is the counterclockwise turn (as np.rot90 counts) that makes it upright."""
    turns = {
        90: lambda x, y: (y, width - x),
        180: lambda x, y: (width - x, height - y),
        270: lambda x, y: (height - y, x),
    }
    return turns.get(rotation or 0, lambda x, y: (x, y))


@dataclass
class DrawnPage:
    """A scanned page on the canvas: `at(x, y)` maps scan pixels (at the page's reading DPI)
    to canvas points; `top` is the height of the scan part, the header band lies above it."""

    at: Callable[[float, float], tuple[float, float]]
    width: float
    top: float


def start_page(canvas: Canvas, image: PageImage, page: PageResult, band: float) -> DrawnPage:
    """Sizes the canvas page to the upright scan plus a header band of `band` points and
    draws the scan; the band is left for the caller."""
    scale = POINTS_PER_INCH / image.dpi
    w, h = image.width_px * scale, image.height_px * scale  # the scan in points, as scanned
    rotation = (page.rotation or 0) % 360
    upright_w, upright_h = (h, w) if rotation in (90, 270) else (w, h)
    canvas.setPageSize((upright_w, upright_h + band))
    if image.jpeg is not None:
        canvas.saveState()
        shift = {0: (0, 0), 90: (upright_w, 0), 180: (w, h), 270: (0, w)}[rotation]
        canvas.translate(*shift)
        canvas.rotate(rotation)
        canvas.drawImage(JpegReader(image.jpeg), 0, 0, w, h)
        canvas.restoreState()
    turn = upright_turn(rotation, w, h)
    per_px = POINTS_PER_INCH / page.dpi if page.dpi else scale

    def at(x: float, y: float) -> tuple[float, float]:
        ux, uy = turn(x * per_px, y * per_px)
        return ux, upright_h - uy

    return DrawnPage(at, upright_w, upright_h)


def outline(canvas: Canvas, drawn: DrawnPage, quad: Sequence[Sequence[float]], colour: Colour,
            width: float) -> tuple[float, float, float, float]:
    """Draws a box outline; returns its bounds (left, bottom, right, top) in points."""
    points = [drawn.at(x, y) for x, y in quad]
    canvas.setStrokeColorRGB(*colour)
    canvas.setLineWidth(width)
    path = canvas.beginPath()
    path.moveTo(*points[0])
    for point in points[1:]:
        path.lineTo(*point)
    path.close()
    canvas.drawPath(path, stroke=1, fill=0)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def label(canvas: Canvas, text: str, x: float, y: float, size: float, colour: Colour,
          bold: bool = False, background: bool = True) -> float:
    """Text with its baseline at (x, y) on a light patch so it reads over ink; its width."""
    font = fonts().bold if bold else fonts().regular
    width = pdfmetrics.stringWidth(text, font, size)
    if background:
        canvas.setFillColorRGB(1, 1, 1, alpha=0.8)
        canvas.rect(x - 1, y - size * 0.25, width + 2, size * 1.15, stroke=0, fill=1)
    canvas.setFillColorRGB(*colour)
    canvas.setFont(font, size)
    canvas.drawString(x, y, text)
    return width


def header(canvas: Canvas, drawn: DrawnPage, band: float, lines: Sequence[tuple[str, Colour,
           bool]], size: float) -> None:
    """Fills the band above the scan with `lines` (text, colour, bold)."""
    canvas.setFillColorRGB(*HEADER_BG)
    canvas.rect(0, drawn.top, drawn.width, band, stroke=0, fill=1)
    y = drawn.top + band - size * 1.3
    for text, colour, bold in lines:
        canvas.setFillColorRGB(*colour)
        canvas.setFont(fonts().bold if bold else fonts().regular, size)
        canvas.drawString(size, y, text)
        y -= size * 1.3


def wrapped(lines: Sequence[tuple[str, Colour, bool]], width: float, size: float
            ) -> list[tuple[str, Colour, bool]]:
    """Lines broken to fit `width` points."""
    out = []
    for text, colour, bold in lines:
        font = fonts().bold if bold else fonts().regular
        out.extend((part, colour, bold) for part in simpleSplit(text, font, size, width) or [""])
    return out


def band_height(lines: int, size: float) -> float:
    return size * (1.3 * lines + 0.8)
