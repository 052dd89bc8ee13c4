"""Rasterizing scanned PDFs: bad files get a specific error, bad pages a per-page error."""

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from scangrade.config.scan import ScanSettings
from worker.scan.rasterize import (
    DamagedPdfError,
    EmptyPdfError,
    EncryptedPdfError,
    NotAPdfError,
    TooManyPagesError,
    TruncatedPdfError,
    inspect_pdf,
    iter_chunks,
    page_dpi,
    rasterize_pages,
)

MM = 72 / 25.4  # points per millimetre


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


@pytest.fixture
def settings() -> ScanSettings:
    return ScanSettings(dpi=50, chunk_pages=2)


def test_not_a_pdf(tmp_path, settings):
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"PK\x03\x04 this is a zip file")
    with pytest.raises(NotAPdfError, match="not a PDF"):
        inspect_pdf(path, settings)


def test_missing_file(tmp_path, settings):
    with pytest.raises(NotAPdfError, match="no such file"):
        inspect_pdf(tmp_path / "nowhere.pdf", settings)


def test_truncated_pdf(tmp_path, settings):
    whole = text_pdf(tmp_path / "whole.pdf", [A4] * 3).read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(TruncatedPdfError, match="truncated"):
        inspect_pdf(path, settings)


def test_damaged_pdf(tmp_path, settings):
    path = tmp_path / "garbage.pdf"
    path.write_bytes(b"%PDF-1.4\nno objects here, only words\n%%EOF\n")
    with pytest.raises(DamagedPdfError, match="damaged PDF"):
        inspect_pdf(path, settings)


def test_encrypted_pdf(tmp_path, settings):
    writer = PdfWriter(clone_from=text_pdf(tmp_path / "plain.pdf", [A4]))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    writer.write(path)
    with pytest.raises(EncryptedPdfError, match="password"):
        inspect_pdf(path, settings)


def test_owner_password_only_pdf_is_read(tmp_path, settings):
    writer = PdfWriter(clone_from=text_pdf(tmp_path / "plain.pdf", [A4]))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "restricted.pdf"
    writer.write(path)
    info = inspect_pdf(path, settings)
    (page,) = rasterize_pages(info, 1, 1, settings)
    assert page.error is None and page.image.shape == (585, 414)


def test_zero_pages(tmp_path, settings):
    path = tmp_path / "empty.pdf"
    PdfWriter().write(path)
    with pytest.raises(EmptyPdfError, match="no pages"):
        inspect_pdf(path, settings)


def test_too_many_pages(tmp_path):
    path = text_pdf(tmp_path / "five.pdf", [A4] * 5)
    with pytest.raises(TooManyPagesError, match=r"5 pages; at most 4 .*max_pages"):
        inspect_pdf(path, ScanSettings(max_pages=4))


def test_huge_page_gets_a_page_error_and_others_still_render(tmp_path, settings):
    five_metres = 5000 * MM
    path = text_pdf(tmp_path / "huge.pdf", [A4, (five_metres, five_metres), A4])
    info = inspect_pdf(path, settings)
    pages = rasterize_pages(info, 1, 3, settings.model_copy(update={"max_page_pixels": 10**7}))
    assert [p.number for p in pages] == [1, 2, 3]
    assert pages[1].image is None and "max_page_pixels" in pages[1].error
    assert pages[0].image is not None and pages[2].image is not None


def test_large_page_is_rasterized_at_a_reduced_dpi():
    settings = ScanSettings(dpi=200, max_page_pixels=5_000_000, min_page_dpi=60)
    a3 = (297 * MM, 420 * MM)
    dpi = page_dpi(a3, settings)
    assert 60 <= dpi < 200
    assert math.ceil(297 / 25.4 * dpi) * math.ceil(420 / 25.4 * dpi) <= 5_000_000
    assert page_dpi((210 * MM, 297 * MM), settings) == 200


def test_oversized_page_is_rendered_at_its_reduced_dpi(tmp_path):
    settings = ScanSettings(dpi=100, max_page_pixels=1_000_000, min_page_dpi=30)
    a2 = (420 * MM, 594 * MM)  # 1654 x 2339 px at 100 DPI: too many pixels
    path = text_pdf(tmp_path / "mixed.pdf", [A4, a2])
    small, large = rasterize_pages(inspect_pdf(path, settings), 1, 2, settings)
    assert small.dpi == 100 and small.image.shape == (1170, 827)
    assert 30 <= large.dpi < 100 and large.image.size <= 1_000_000
    assert large.image.shape == (math.ceil(594 / 25.4 * large.dpi),
                                 math.ceil(420 / 25.4 * large.dpi))


def test_chunks_cover_the_range_in_order(tmp_path, settings):
    path = text_pdf(tmp_path / "five.pdf", [A4, A4, (A4[1], A4[0]), A4, A4])
    info = inspect_pdf(path, settings)
    chunks = list(iter_chunks(info, settings, first_page=2, last_page=5))
    assert [[p.number for p in chunk] for chunk in chunks] == [[2, 3], [4, 5]]
    landscape = chunks[0][1].image
    assert landscape.shape == (414, 585) and landscape.dtype == np.uint8
    with pytest.raises(ValueError, match="outside"):
        next(iter_chunks(info, settings, first_page=4, last_page=9))


def test_image_only_pdf_at_600_dpi_is_rasterized_at_the_setting_dpi(tmp_path, settings):
    import img2pdf

    scan = np.full((7016, 4961), 255, np.uint8)  # A4 at 600 DPI
    scan[1000:1200, 1000:3000] = 0
    buffer = io.BytesIO()
    Image.fromarray(scan).save(buffer, format="PNG", dpi=(600, 600))
    path = tmp_path / "scan600.pdf"
    path.write_bytes(img2pdf.convert(buffer.getvalue()))
    info = inspect_pdf(path, settings)
    (page,) = rasterize_pages(info, 1, 1, settings)
    assert page.image.shape == (585, 414)
    assert page.image[90, 150] < 50 and page.image[300, 200] > 200
