"""Printed sheets, checked the way the scan pipeline will see them: rasterized by poppler,
markers found by cv2.aruco where the layout says, QR codes decoded by zxing-cpp."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import cv2
import numpy as np
import pytest
import zxingcpp
from pdf2image import convert_from_bytes, convert_from_path
from pypdf import PdfReader
from typer.testing import CliRunner

from api.cli import build_app
from tests.helpers.paths import SAMPLES
from worker.sheets.layout import Layout
from worker.sheets.qr import encode_payload, parse_payload
from worker.sheets.render import STYLE, render_sheets
from worker.sheets.units import MM_PER_INCH

SAMPLE_LAYOUT = SAMPLES / "layout.yaml"
MARKER_TOLERANCE_MM = 0.5


@pytest.fixture(scope="module")
def sample_layout() -> Layout:
    return Layout.load(SAMPLE_LAYOUT)


@pytest.fixture(scope="module")
def two_page_layout() -> Layout:
    return Layout.model_validate({
        "exam_id": "long-exam", "name": "A long exam on Letter paper", "version": "2b",
        "paper": "letter", "id_digits": 8,
        "questions": [{"id": f"q{n}", "boxes": 1 + n % 3} for n in range(1, 71)],
    })


def detect_markers(gray: np.ndarray) -> dict[int, np.ndarray]:
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    detector = cv2.aruco.ArucoDetector(dictionary, cv2.aruco.DetectorParameters())
    corners, ids, _ = detector.detectMarkers(gray)
    return {} if ids is None else {int(i): c[0] for i, c in zip(ids.ravel(), corners,
                                                                 strict=True)}


def qr_texts(gray: np.ndarray) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode)]


def px_to_mm(points_px: np.ndarray, dpi: int) -> np.ndarray:
    return (points_px + 0.5) * MM_PER_INCH / dpi  # pixel centres -> page millimetres


@pytest.mark.parametrize("layout_name", ["sample_layout", "two_page_layout"])
def test_markers_and_qr_are_found_where_the_layout_says_on_every_page(request, layout_name):
    layout: Layout = request.getfixturevalue(layout_name)
    copies, dpi = 2, 150
    pages = convert_from_bytes(render_sheets(layout, copies=copies, first_copy=7), dpi=dpi,
                               grayscale=True)
    assert len(pages) == copies * layout.n_pages
    for number, image in enumerate(pages):
        copy, page = 7 + number // layout.n_pages, 1 + number % layout.n_pages
        gray = np.asarray(image)
        found = detect_markers(gray)
        assert sorted(found) == [0, 1, 2, 3], f"page {number + 1}"
        expected = layout.marker_corners_mm(page)
        for marker_id, corners in found.items():
            error = np.abs(px_to_mm(corners, dpi) - expected[marker_id]).max()
            assert error < MARKER_TOLERANCE_MM, (marker_id, error)
        assert qr_texts(gray) == [encode_payload(layout.exam_id, layout.version, copy, page)]
        # The QR code lies where qr_rect_mm says.
        result = zxingcpp.read_barcodes(gray)[0]
        top_left = np.array([result.position.top_left.x, result.position.top_left.y], float)
        qx, qy, _, _ = layout.qr_rect_mm(page)
        assert np.abs(px_to_mm(top_left, dpi) - [qx, qy]).max() < 1.0


@pytest.mark.parametrize(("scale", "dpi"), [(0.9, 150), (0.95, 100), (1.0, 100)])
def test_sheet_still_reads_when_printed_fit_to_page(sample_layout, scale, dpi):
    """A printer's "fit to page" shrinks everything about the page centre."""
    gray = np.asarray(convert_from_bytes(render_sheets(sample_layout), dpi=dpi,
                                         grayscale=True)[0])
    h, w = gray.shape
    shrink = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, scale)
    printed = cv2.warpAffine(gray, shrink, (w, h), borderValue=255)
    assert sorted(detect_markers(printed)) == [0, 1, 2, 3]
    payload = parse_payload(qr_texts(printed)[0])
    assert payload is not None and (payload.exam_id, payload.copy) == ("math7-unit4", 1)


def test_box_borders_are_thin_and_light(sample_layout):
    """Borders must stay far lighter than ink, and thin, so crops read as blank when empty."""
    dpi = 200
    gray = np.asarray(convert_from_bytes(render_sheets(sample_layout), dpi=dpi,
                                         grayscale=True)[0]).astype(int)
    px = dpi / MM_PER_INCH
    for cell in sample_layout.cells():
        x0, y0 = round(cell.x_mm * px), round(cell.y_mm * px)
        x1, y1 = round((cell.x_mm + cell.w_mm) * px), round((cell.y_mm + cell.h_mm) * px)
        middle = (y0 + y1) // 2
        left_edge = gray[middle, x0 - 3: x0 + 4]
        assert 110 < left_edge.min() < 235  # visible, but lighter than any pen
        assert (left_edge < 235).sum() <= 3  # at most ~0.4 mm wide at 200 dpi
        inside = gray[y0 + 4: y1 - 4, x0 + 4: x1 - 4]
        assert inside.min() >= 250  # nothing printed inside a box
    assert STYLE.border_width_mm <= 0.3


def test_sheets_are_vector_pdf(tmp_path, sample_layout):
    path = tmp_path / "sheets.pdf"
    path.write_bytes(render_sheets(sample_layout, copies=3))
    assert render_sheets(sample_layout, copies=3) == path.read_bytes()  # reproducible bytes
    listing = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    assert len(listing) == 2  # header lines only: no raster image anywhere
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Grade 7 Mathematics" in text and "Student ID" in text and "q14" in text
    assert "leftmost box" in text  # the instruction to students


def test_sheet_command_writes_copies(tmp_path, two_page_layout):
    layout_path = tmp_path / "layout.yaml"
    layout_path.write_text(two_page_layout.to_yaml())
    out = tmp_path / "sheets.pdf"
    result = CliRunner().invoke(build_app(), ["sheet", str(layout_path), "--copies", "3",
                                              "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(PdfReader(out).pages) == 3 * two_page_layout.n_pages == 6
    last = np.asarray(convert_from_path(out, dpi=120, grayscale=True, first_page=6,
                                        last_page=6)[0])
    assert qr_texts(last) == ["SCANGRADE:long-exam:2b:3:2"]


def crop_box(gray: np.ndarray, cell, mm_to_px: np.ndarray, px_per_mm: float,
             margin_mm: float) -> np.ndarray:
    """The box plus `margin_mm`, upright, sampled through the scan's true geometry."""
    x0, y0 = cell.x_mm - margin_mm, cell.y_mm - margin_mm
    size = (round((cell.w_mm + 2 * margin_mm) * px_per_mm),
            round((cell.h_mm + 2 * margin_mm) * px_per_mm))
    crop_to_mm = np.array([[1 / px_per_mm, 0, x0 + 0.5 / px_per_mm],
                           [0, 1 / px_per_mm, y0 + 0.5 / px_per_mm], [0, 0, 1]])
    return cv2.warpPerspective(gray, mm_to_px @ crop_to_mm, size,
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=255)


def test_box_borders_do_not_confuse_the_reader(reader, sample_layout, monkeypatch):
    """The same students' digits, scanned on sheets with and without box borders, cropped with
    the pipeline's margin: borders may not turn blank boxes into digits nor cost accuracy."""
    import worker.sheets.render
    from model.training.data import mnist_loader
    from scangrade.settings import get_settings
    from worker.synth.class_set import SynthOptions, synthesize

    settings = get_settings()
    options = SynthOptions(students=6, seed=5, dpi=200, blank_pages=0, text_pages=0,
                           other_exam_pages=0)

    def read_class(style) -> tuple[list[int | None], list[int | None]]:
        monkeypatch.setattr(worker.sheets.render, "STYLE", style)
        result = synthesize(sample_layout, mnist_loader(settings), options)
        truth, crops = [], []
        pages = convert_from_bytes(result.pdf, dpi=options.dpi, grayscale=True)
        for page, image in zip(result.truth["pages"], pages, strict=True):
            mm_to_px = np.array(page["mm_to_px"])
            for cell, box in zip(sample_layout.cells(page["page"]), page["boxes"], strict=True):
                crops.append(crop_box(np.asarray(image), cell, mm_to_px,
                                      settings.crop_px_per_mm, settings.crop_margin_mm))
                truth.append(box["digit"])
        return truth, [r.digit for r in reader.read(crops)]

    truth, with_borders = read_class(STYLE)
    same_truth, without = read_class(replace(STYLE, border_gray=1.0))
    assert same_truth == truth
    blanks = [i for i, digit in enumerate(truth) if digit is None]
    written = [i for i, digit in enumerate(truth) if digit is not None]
    assert len(blanks) > 20 and len(written) > 150
    assert all(with_borders[i] is None for i in blanks)  # no border read as a digit
    # No digit lost to the border: a written box read blank with borders is read blank
    # without them too (a faint, broken pencil stroke can be lost either way).
    lost_with = {i for i in written if with_borders[i] is None}
    lost_without = {i for i in written if without[i] is None}
    assert lost_with <= lost_without, sorted(lost_with - lost_without)
    errors_with = sum(with_borders[i] != truth[i] for i in written)
    errors_without = sum(without[i] != truth[i] for i in written)
    assert errors_with <= errors_without + 2, (errors_with, errors_without)
