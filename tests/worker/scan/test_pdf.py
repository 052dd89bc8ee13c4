"""Inspecting scanned PDFs: bad files get a specific error before anything is rasterized."""

import pytest
from pypdf import PdfWriter
from reportlab.lib.pagesizes import A4

from scangrade.config.scan import ScanSettings
from tests.helpers.pdfs import text_pdf
from worker.scan.pdf import (
    DamagedPdfError,
    EmptyPdfError,
    EncryptedPdfError,
    NotAPdfError,
    TooManyPagesError,
    TruncatedPdfError,
    inspect_pdf,
)
from worker.scan.rasterize import rasterize_pages


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
