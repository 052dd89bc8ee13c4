"""Small PDFs made on the spot for the scan-path tests."""

from pathlib import Path

from reportlab.pdfgen import canvas

from worker.sheets.units import MM_PER_INCH

MM = 72 / MM_PER_INCH  # points per millimetre


def text_pdf(path: Path, pages: list[tuple[float, float]]) -> Path:
    """A vector PDF with one line of text on each page of the given sizes (points)."""
    pdf = canvas.Canvas(str(path))
    for number, size in enumerate(pages, start=1):
        pdf.setPageSize(size)
        pdf.setFont("Helvetica", 24)
        pdf.drawString(72, size[1] - 100, f"page {number}")
        pdf.showPage()
    pdf.save()
    return path
