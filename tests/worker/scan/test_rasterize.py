"""Rasterizing scanned PDFs: bad pages get a per-page error, the others still render."""

import io
import math

import numpy as np
import pytest
from PIL import Image
from reportlab.lib.pagesizes import A4

from scangrade.config.scan import ScanSettings
from tests.helpers.pdfs import MM, text_pdf
from worker.scan.pdf import inspect_pdf
from worker.scan.rasterize import iter_chunks, page_dpi, rasterize_pages
from worker.sheets.units import MM_PER_INCH


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
    assert math.ceil(297 / MM_PER_INCH * dpi) * math.ceil(420 / MM_PER_INCH * dpi) <= 5_000_000
    assert page_dpi((210 * MM, 297 * MM), settings) == 200


def test_oversized_page_is_rendered_at_its_reduced_dpi(tmp_path):
    settings = ScanSettings(dpi=100, max_page_pixels=1_000_000, min_page_dpi=30)
    a2 = (420 * MM, 594 * MM)  # 1654 x 2339 px at 100 DPI: too many pixels
    path = text_pdf(tmp_path / "mixed.pdf", [A4, a2])
    small, large = rasterize_pages(inspect_pdf(path, settings), 1, 2, settings)
    assert small.dpi == 100 and small.image.shape == (1170, 827)
    assert 30 <= large.dpi < 100 and large.image.size <= 1_000_000
    assert large.image.shape == (math.ceil(594 / MM_PER_INCH * large.dpi),
                                 math.ceil(420 / MM_PER_INCH * large.dpi))


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
