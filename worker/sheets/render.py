"""Printable answer sheets as vector PDF: markers, QR code, labels and digit boxes.

Everything is placed from `Layout` (`cells()`, `marker_corners_mm()`, `qr_rect_mm()`), so what
is printed is exactly what the scan pipeline expects. Markers and QR modules are filled as one
path each: adjacent filled squares drawn one by one leave anti-aliasing seams when rasterized.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from worker.sheets.layout import GEOMETRY, STUDENT_ID, Layout
from worker.sheets.qr import encode_payload

ARUCO_DICTIONARY = "DICT_4X4_50"  # contract: ids 0 TL, 1 TR, 2 BR, 3 BL, drawn upright


@dataclass(frozen=True)
class SheetStyle:
    # Box borders: thin and light so the reader (trained on bare digits) ignores their remnants
    # in a crop, but visible enough that students write inside them.
    border_gray: float = 0.68  # 0 = black, 1 = white (~173/255 once printed and scanned)
    border_width_mm: float = 0.25
    title_font: str = "Helvetica-Bold"
    title_size: float = 14.0
    text_font: str = "Helvetica"
    info_size: float = 8.0
    instruction_size: float = 8.5
    label_font: str = "Helvetica-Bold"
    label_size: float = 10.0
    qr_error_correction: str = "M"  # 15% recovery: survives a pen stroke or a smudge


STYLE = SheetStyle()
INSTRUCTION = ("Write one digit per box with a dark pen, starting at the leftmost box; "
               "leave unused boxes empty.")


@lru_cache(maxsize=64)
def aruco_bits(marker_id: int) -> np.ndarray:
    """The marker's 6x6 module grid including its black border; True = black."""
    import cv2

    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, ARUCO_DICTIONARY))
    image = cv2.aruco.generateImageMarker(dictionary, marker_id, 6, borderBits=1)
    return image == 0


def qr_modules(payload: str) -> np.ndarray:
    """The QR symbol's module grid without quiet zone; True = dark."""
    import qrcode
    from qrcode import constants

    level = getattr(constants, f"ERROR_CORRECT_{STYLE.qr_error_correction}")
    code = qrcode.QRCode(error_correction=level, border=0)
    code.add_data(payload)
    code.make(fit=True)
    return np.array(code.get_matrix(), dtype=bool)


class _Page:
    """Drawing on one reportlab page in layout millimetres (origin top-left, y down)."""

    def __init__(self, canvas: Canvas, height_mm: float):
        self.canvas = canvas
        self.height_mm = height_mm

    def y(self, y_mm: float) -> float:
        return (self.height_mm - y_mm) * mm

    def fill_modules(self, bits: np.ndarray, x_mm: float, y_mm: float, side_mm: float) -> None:
        """Fills the True modules of a square grid as one path, so no seams appear."""
        n = bits.shape[0]
        module = side_mm / n
        path = self.canvas.beginPath()
        for row, col in zip(*np.nonzero(bits), strict=True):
            path.rect((x_mm + col * module) * mm, self.y(y_mm + (row + 1) * module),
                      module * mm, module * mm)
        self.canvas.setFillGray(0)
        self.canvas.drawPath(path, stroke=0, fill=1, fillMode=1)  # 1 = non-zero winding

    def text(self, x_mm: float, y_mm: float, text: str, font: str, size: float,
             anchor: str = "left") -> None:
        self.canvas.setFillGray(0)
        self.canvas.setFont(font, size)
        draw = {"left": self.canvas.drawString, "right": self.canvas.drawRightString}[anchor]
        draw(x_mm * mm, self.y(y_mm), text)


def _fit_font_size(text: str, font: str, size: float, width_mm: float) -> float:
    """Shrinks `size` until `text` fits `width_mm` (long exam names, narrow Letter headers)."""
    while size > 5 and stringWidth(text, font, size) > width_mm * mm:
        size -= 0.25
    return size


def _draw_page(page: _Page, layout: Layout, copy: int, page_number: int) -> None:
    g, style = GEOMETRY, STYLE
    for marker_id, corners in layout.marker_corners_mm(page_number).items():
        x, y = corners[0]
        page.fill_modules(aruco_bits(marker_id), x, y, g.marker)
    qx, qy, qside, _ = layout.qr_rect_mm(page_number)
    payload = encode_payload(layout.exam_id, layout.version, copy, page_number)
    page.fill_modules(qr_modules(payload), qx, qy, qside)

    # Header text between the top-left marker and the QR code's quiet zone.
    left = g.margin + g.marker + 4.0
    text_w = qx - g.qr_quiet - left
    size = _fit_font_size(layout.name, style.title_font, style.title_size, text_w)
    page.text(left, g.margin + 5.0, layout.name, style.title_font, size)
    info = f"Copy {copy}  ·  page {page_number} of {layout.n_pages}  ·  {layout.exam_id}"
    page.text(left, g.margin + 11.0, info, style.text_font, style.info_size)
    if page_number == 1:
        size = _fit_font_size(INSTRUCTION, style.text_font, style.instruction_size, text_w)
        page.text(left, g.margin + 20.0, INSTRUCTION, style.text_font, size)
    else:
        page.text(left, g.margin + 20.0, "Student ID and name are on page 1.",
                  style.text_font, style.instruction_size)

    cells = layout.cells(page_number)
    canvas = page.canvas
    canvas.setStrokeGray(style.border_gray)
    canvas.setLineWidth(style.border_width_mm * mm)
    for cell in cells:
        canvas.rect(cell.x_mm * mm, page.y(cell.y_mm + cell.h_mm), cell.w_mm * mm,
                    cell.h_mm * mm, stroke=1, fill=0)

    for cell in cells:
        if cell.index != 0:
            continue
        baseline = cell.y_mm + cell.h_mm / 2 + style.label_size * 0.35 / 2.83  # pt -> mm, centred
        if cell.field == STUDENT_ID:
            page.text(cell.x_mm - 3.0, baseline, "Student ID", style.label_font,
                      style.label_size, anchor="right")
            last = max(c.x_mm + c.w_mm for c in cells if c.field == STUDENT_ID)
            name_x = last + 8.0
            page.text(name_x, baseline, "Name", style.label_font, style.label_size)
            canvas.setStrokeGray(0.4)
            canvas.setLineWidth(0.3 * mm)
            line_y = page.y(cell.y_mm + cell.h_mm)
            right = layout.page_size_mm[0] - g.margin
            canvas.line((name_x + 12.0) * mm, line_y, right * mm, line_y)
            canvas.setStrokeGray(style.border_gray)
            canvas.setLineWidth(style.border_width_mm * mm)
        else:
            label = layout.question(cell.field).printed_label
            size = _fit_font_size(label, style.label_font, style.label_size,
                                  g.question_label_w - 3.0)  # never over the next column
            page.text(cell.x_mm - 2.5, baseline, label, style.label_font, size, anchor="right")


def render_sheets(layout: Layout, copies: int = 1, first_copy: int = 1) -> bytes:
    """PDF bytes with `copies` copies of the sheet (each `layout.n_pages` pages), copy numbers
    first_copy, first_copy+1, ... printed in every page's QR code."""
    if copies < 1:
        raise ValueError(f"copies must be at least 1, not {copies}")
    width, height = layout.page_size_mm
    buffer = io.BytesIO()
    # invariant: no timestamp or random file ID, so the same layout gives the same bytes.
    canvas = Canvas(buffer, pagesize=(width * mm, height * mm), pageCompression=1, invariant=1)
    canvas.setTitle(f"{layout.name} ({layout.exam_id} v{layout.version})")
    canvas.setCreator("scangrade")
    for copy in range(first_copy, first_copy + copies):
        for page_number in range(1, layout.n_pages + 1):
            _draw_page(_Page(canvas, height), layout, copy, page_number)
            canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def write_sheets(layout: Layout, out_path: str | Path, copies: int = 1,
                 first_copy: int = 1) -> Path:
    out_path = Path(out_path)
    out_path.write_bytes(render_sheets(layout, copies, first_copy))
    return out_path
