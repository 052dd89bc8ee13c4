"""review.pdf: every scanned page re-rasterized from the source PDF and annotated.

Each digit box is outlined in the colour of its question's outcome (green correct, red wrong,
amber when the reader was unsure of that box) with the digit read and its confidence in
percent above it; a header band names the student, the score and the review reasons. Pages
that need a teacher's eye come first: students needing review, then pages that belong to no
student, then everyone else.

Box corners come from the page results in scan pixels at the page's DPI. A page scanned
sideways or upside down is turned upright by quarter turns (the residual skew is kept), so the
outlines land on the ink the reader saw.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from worker.grading.grade import Gradebook, StudentResult
from worker.grading.score import Outcome
from worker.scan.pdf import PdfInfo
from worker.scan.results import BoxRead, PageResult
from worker.sheets.layout import STUDENT_ID

GREEN = (0, 140, 60)
RED = (215, 30, 30)
AMBER = (235, 150, 0)
GREY = (120, 120, 120)
HEADER_BG = (245, 245, 245)
OUTCOME_COLOURS = {Outcome.CORRECT: GREEN, Outcome.INCORRECT: RED, Outcome.BLANK: RED}
A4_INCHES = (8.27, 11.69)  # canvas for a page whose scan cannot be re-rasterized
RASTER_CHUNK = 8  # pages per pdftoppm call: one process per chunk, bounded memory
# Header text holds students' names (é, ı, ł, ж...): Pillow's built-in font covers ASCII only,
# so a system DejaVu Sans is preferred, then reportlab's bundled Vera (Latin-1).
FONT_FILES = ("DejaVuSans.ttf", "Vera.ttf")


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    import reportlab

    bundled = Path(reportlab.__file__).parent / "fonts"
    for name in FONT_FILES:
        for candidate in (name, str(bundled / name)):
            try:
                return ImageFont.truetype(candidate, size)
            except OSError:
                continue
    return ImageFont.load_default(size=size)


@dataclass(frozen=True)
class PageSheet:
    """One page of review.pdf before drawing."""

    page: PageResult
    header: list[str]  # header lines, first is the title
    alert: bool  # header drawn in the alert colour
    colours: dict[tuple[str, int], tuple[int, int, int]]  # (field, index) -> outline colour


class ScanPages:
    """Maps a global page number (pages of every scan in order) to (pdf, page in that pdf)."""

    def __init__(self, scans: Sequence[PdfInfo]) -> None:
        self.spans: list[tuple[Path, int, int]] = []  # (pdf, first global page, n pages)
        start = 1
        for scan in scans:  # page counts from the one inspection of each file
            self.spans.append((scan.path, start, scan.n_pages))
            start += scan.n_pages

    def locate(self, number: int) -> tuple[Path, int] | None:
        for pdf, first, count in self.spans:
            if first <= number < first + count:
                return pdf, number - first + 1
        return None


def _score_line(s: StudentResult) -> str:
    percent = f" ({s.percent:g}%)" if s.percent is not None else ""
    who = " ".join(x for x in (s.student_id or "ID unknown", s.name) if x)
    return f"{who} · {s.score:g}/{s.max_score:g}{percent} · copy {s.copy}"


def _student_sheet(
    s: StudentResult, sheet_page: int, page: PageResult, n_pages: int, threshold: float
) -> PageSheet:
    colours: dict[tuple[str, int], tuple[int, int, int]] = {}
    for r in s.responses:
        base = OUTCOME_COLOURS.get(r.outcome, GREY)
        for b in r.boxes:
            colours[(r.question, b.index)] = AMBER if b.confidence < threshold else base
    id_colour = AMBER if s.identity.reasons else GREEN
    for b in page.boxes:
        if b.field == STUDENT_ID:
            colours[(b.field, b.index)] = AMBER if b.confidence < threshold else id_colour
    header = [f"{_score_line(s)} · sheet page {sheet_page}/{n_pages} · PDF page {page.source_page}"]
    if s.needs_review:
        header.append("NEEDS REVIEW: " + "; ".join(s.review_reasons))
    return PageSheet(page, header, s.needs_review, colours)


def plan_pages(book: Gradebook, pages: list[PageResult], threshold: float) -> list[PageSheet]:
    """The pages of review.pdf in order: review first."""
    n_pages = book.exam.n_pages
    review, fine = [], []
    used: set[int] = set()
    for s in book.students:
        for sheet_page, page in sorted(s.sheets.pages.items()):
            used.add(page.source_page)
            (review if s.needs_review else fine).append(
                _student_sheet(s, sheet_page, page, n_pages, threshold)
            )
    reasons = {u.page.source_page: u.reason for u in book.unassigned}
    stray = []
    for page in sorted(pages, key=lambda p: p.source_page):
        if page.source_page in used:
            continue
        why = reasons.get(page.source_page, "duplicate scan of a sheet page, not used")
        stray.append(
            PageSheet(
                page, [f"PDF page {page.source_page}: not graded", f"NEEDS REVIEW: {why}"], True, {}
            )
        )
    return [*review, *stray, *fine]


def upright_turn(rotation: int | None, width: float, height: float):
    """Maps a point of the page as scanned to the page turned upright: PageResult.rotation is
    the counterclockwise turn (PIL's Image.rotate with expand) that makes it upright."""
    turns = {
        90: lambda x, y: (y, width - x),
        180: lambda x, y: (width - x, height - y),
        270: lambda x, y: (height - y, x),
    }
    return turns.get(rotation or 0, lambda x, y: (x, y))


def _label(box: BoxRead) -> tuple[str, str]:
    """(what was read, its confidence): "_" for blank; 99% at most, as 100% would be a lie."""
    read = "_" if box.blank or box.digit is None else str(box.digit)
    return read, f"{min(99, int(box.confidence * 100))}%"


def draw_page(image: Image.Image, sheet: PageSheet, dpi: int, threshold: float) -> Image.Image:
    """The annotated page: header band on top of the scan with every box outlined."""
    image = image.convert("RGB")
    scale = dpi / sheet.page.dpi if sheet.page.dpi else 1.0
    turn = upright_turn(sheet.page.rotation, image.width, image.height)
    if sheet.page.rotation in (90, 180, 270):
        image = image.rotate(sheet.page.rotation, expand=True)
    draw = ImageDraw.Draw(image)
    digit_font = font(max(8, round(dpi * 0.12)))
    percent_font = font(max(7, round(dpi * 0.085)))
    line_width = max(1, round(dpi / 60))
    for box in sheet.page.boxes:
        colour = sheet.colours.get((box.field, box.index), GREY)
        points = [turn(x * scale, y * scale) for x, y in box.quad]
        draw.polygon(points, outline=colour, width=line_width)
        if not box.blank or box.confidence < threshold:
            left = min(x for x, _ in points)
            top = min(y for _, y in points)
            read, confidence = _label(box)
            draw.text((left, top - 1), read, fill=colour, font=digit_font, anchor="lb")
            after = left + draw.textlength(read, font=digit_font) + 1
            draw.text((after, top - 1), confidence, fill=colour, font=percent_font, anchor="lb")
    header_font = font(max(9, round(dpi * 0.14)))
    sample = "abcdefghijklmnopqrstuvwxyz 0123456789"
    char_width = header_font.getlength(sample) / len(sample)
    chars_per_line = max(40, int(0.95 * image.width / char_width))
    lines = [part for line in sheet.header for part in textwrap.wrap(line, chars_per_line) or [""]]
    line_height = round(header_font.size * 1.35)
    band = line_height * len(lines) + line_height // 2
    page = Image.new("RGB", (image.width, image.height + band), HEADER_BG)
    page.paste(image, (0, band))
    header = ImageDraw.Draw(page)
    for i, line in enumerate(lines):
        colour = RED if sheet.alert and i > 0 else (0, 0, 0)
        header.text(
            (line_height // 2, line_height // 4 + i * line_height),
            line,
            fill=colour,
            font=header_font,
        )
    return page


def _rasterize(scans: ScanPages, numbers: list[int], dpi: int) -> dict[int, Image.Image]:
    """Global page number -> page image; pages that cannot be rendered are left out."""
    from pdf2image import convert_from_path

    images: dict[int, Image.Image] = {}
    located = [(n, scans.locate(n)) for n in sorted(numbers)]
    runs: list[tuple[Path, list[tuple[int, int]]]] = []
    for number, where in located:
        if where is None:
            continue
        pdf, local = where
        if (
            runs
            and runs[-1][0] == pdf
            and runs[-1][1][-1][1] == local - 1
            and len(runs[-1][1]) < RASTER_CHUNK
        ):
            runs[-1][1].append((number, local))
        else:
            runs.append((pdf, [(number, local)]))
    for pdf, run in runs:
        try:
            rendered = convert_from_path(
                pdf, dpi=dpi, first_page=run[0][1], last_page=run[-1][1], grayscale=True
            )
        except Exception:
            continue  # drawn on a blank canvas instead
        for (number, _), image in zip(run, rendered, strict=False):
            images[number] = image
    return images


def _blank_canvas(page: PageResult, dpi: int) -> Image.Image:
    if page.width_px and page.height_px and page.dpi:
        size = (round(page.width_px * dpi / page.dpi), round(page.height_px * dpi / page.dpi))
    else:
        size = (round(A4_INCHES[0] * dpi), round(A4_INCHES[1] * dpi))
    return Image.new("L", size, 255)


def _render_chunk(
    sheets: list[PageSheet], locator: ScanPages, dpi: int, threshold: float, jpeg_quality: int
) -> list[bytes]:
    """JPEG bytes of each annotated page of one chunk (consecutive scan pages)."""
    images = _rasterize(locator, [sheet.page.source_page for sheet in sheets], dpi)
    encoded = []
    for sheet in sheets:
        image = images.get(sheet.page.source_page) or _blank_canvas(sheet.page, dpi)
        buffer = io.BytesIO()
        draw_page(image, sheet, dpi, threshold).save(
            buffer, format="JPEG", quality=jpeg_quality, dpi=(dpi, dpi)
        )
        encoded.append(buffer.getvalue())
    return encoded


def write_review_pdf(
    book: Gradebook,
    pages: list[PageResult],
    scans: Sequence[PdfInfo],
    path: Path,
    dpi: int,
    threshold: float,
    jpeg_quality: int,
    workers: int = 1,
) -> int:
    """Writes review.pdf; returns its page count. Pages come from `scans` in order.

    Chunks render in `workers` threads: pdftoppm runs as a subprocess and JPEG encoding
    releases the GIL, so threads use several cores on a long batch."""
    from concurrent.futures import ThreadPoolExecutor

    import img2pdf

    sheets = plan_pages(book, pages, threshold)
    if not sheets:
        _write_empty_pdf(path)
        return 0
    # Rasterize in scan order (consecutive pages share one pdftoppm call), write in plan order.
    scan_order = sorted(range(len(sheets)), key=lambda i: sheets[i].page.source_page)
    chunks = [scan_order[i : i + RASTER_CHUNK] for i in range(0, len(scan_order), RASTER_CHUNK)]
    locator = ScanPages(list(scans))
    encoded: dict[int, bytes] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        rendered = pool.map(
            lambda chunk: _render_chunk(
                [sheets[i] for i in chunk], locator, dpi, threshold, jpeg_quality
            ),
            chunks,
        )
        for chunk, images in zip(chunks, rendered, strict=True):
            encoded.update(zip(chunk, images, strict=True))
    # No date and img2pdf's own writer: the same grading gives a byte-identical review.pdf.
    path.write_bytes(
        img2pdf.convert(
            [encoded[i] for i in range(len(sheets))], nodate=True, engine=img2pdf.Engine.internal
        )
    )
    return len(sheets)


def _write_empty_pdf(path: Path) -> None:
    """A one-page PDF saying there was nothing to show (a PDF cannot have zero pages)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=True)
    pdf.drawString(72, A4[1] - 72, "scangrade: no scanned pages to review.")
    pdf.save()
