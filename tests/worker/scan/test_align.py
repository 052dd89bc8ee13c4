"""Aligning scanned sheets: real printed sheets (worker.sheets.render -> poppler) turned, skewed and
scaled by a known transform must come back with their orientation, a small residual and box
quads where the transform puts the boxes."""

import math

import cv2
import numpy as np
import pytest

from scangrade.config.scan import ScanSettings
from worker.scan.align import align_page, detect_markers, fit_page
from worker.scan.crop import crop_boxes, crop_boxes_whole_page
from worker.scan.pdf import inspect_pdf
from worker.scan.rasterize import rasterize_pages
from worker.scan.results import PageStatus
from worker.sheets.layout import Layout
from worker.sheets.render import render_sheets
from worker.sheets.units import MM_PER_INCH

DPI = 150
SETTINGS = ScanSettings(dpi=DPI)


def make_layout(exam_id: str = "algebra-1", paper: str = "a4") -> Layout:
    return Layout.from_data({
        "exam_id": exam_id, "name": "Algebra", "paper": paper, "id_digits": 6,
        "questions": [{"id": f"q{n}", "boxes": 2} for n in range(1, 21)],
    })


@pytest.fixture(scope="module")
def layout() -> Layout:
    return make_layout()


@pytest.fixture(scope="module")
def upright(layout, tmp_path_factory) -> np.ndarray:
    """Copy 7 of the printed sheet, rasterized upright at DPI by poppler."""
    path = tmp_path_factory.mktemp("sheets") / "sheet.pdf"
    path.write_bytes(render_sheets(layout, copies=1, first_copy=7))
    (page,) = rasterize_pages(inspect_pdf(path, SETTINGS), 1, 1, SETTINGS)
    return page.image


def scan(upright: np.ndarray, quarter_turns: int, angle_deg: float = 0.0, scale: float = 1.0,
         perspective: float = 0.0, shift=(0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """The upright page turned counterclockwise by quarter_turns * 90 degrees, then rotated by
    angle_deg, scaled about the centre, shifted and given a slight perspective.
    Returns (scan image, 3x3 upright px -> scan px)."""
    h, w = upright.shape
    turned_to_px = {0: np.eye(3), 1: np.array([[0, 1, 0], [-1, 0, w - 1], [0, 0, 1.0]]),
                    2: np.array([[-1, 0, w - 1], [0, -1, h - 1], [0, 0, 1.0]]),
                    3: np.array([[0, -1, h - 1], [1, 0, 0], [0, 0, 1.0]])}[quarter_turns % 4]
    image = np.rot90(upright, quarter_turns)
    th, tw = image.shape
    centre = np.array([[1, 0, tw / 2], [0, 1, th / 2], [0, 0, 1.0]])
    a = math.radians(angle_deg)
    similarity = np.array([[scale * math.cos(a), -scale * math.sin(a), shift[0]],
                           [scale * math.sin(a), scale * math.cos(a), shift[1]], [0, 0, 1.0]])
    keystone = np.array([[1, 0, 0], [0, 1, 0], [perspective / max(th, tw), 0, 1.0]])
    warp = centre @ keystone @ similarity @ np.linalg.inv(centre)
    scanned = cv2.warpPerspective(np.ascontiguousarray(image), warp, (tw, th),
                                  flags=cv2.INTER_LINEAR, borderValue=255)
    return scanned, warp @ turned_to_px


def mm_to_upright_px() -> np.ndarray:
    s = DPI / MM_PER_INCH
    return np.array([[s, 0, -0.5], [0, s, -0.5], [0, 0, 1.0]])  # pixel centres at +0.5


def true_quads(layout: Layout, transform: np.ndarray) -> np.ndarray:
    truth = transform @ mm_to_upright_px()
    quads = []
    for cell in layout.cells(1):
        x, y, w, h = cell.x_mm, cell.y_mm, cell.w_mm, cell.h_mm
        pts = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64)
        quads.append(cv2.perspectiveTransform(pts.reshape(-1, 1, 2), truth).reshape(4, 2))
    return np.array(quads)


@pytest.mark.parametrize("quarter_turns", [0, 1, 2, 3])
@pytest.mark.parametrize("distortion", [
    {"angle_deg": 7.0, "scale": 0.9, "shift": (12.0, -8.0)},
    {"angle_deg": -4.0, "scale": 0.96, "perspective": 0.04},
])
def test_turned_skewed_scaled_sheets_align(layout, upright, quarter_turns, distortion):
    image, transform = scan(upright, quarter_turns, **distortion)
    result = align_page(image, DPI, {layout.exam_id: layout}, SETTINGS)
    assert result.status == PageStatus.OK, result.message
    assert result.rotation == (4 - quarter_turns) % 4 * 90
    assert (result.payload.exam_id, result.payload.copy, result.payload.page) == ("algebra-1", 7, 1)
    assert result.fit.residual_mm < 0.3
    crops = crop_boxes(image, result.fit.mm_to_px, layout.cells(1), 6.0, 1.5)
    found = np.array([c.quad_px for c in crops])
    error_mm = np.abs(found - true_quads(layout, transform)).max() * MM_PER_INCH / DPI
    assert error_mm < 0.4


def test_crop_is_upright_and_centred_on_the_box(layout, upright):
    image, _ = scan(upright, 2, angle_deg=5.0, scale=0.95)
    result = align_page(image, DPI, {layout.exam_id: layout}, SETTINGS)
    (crop,) = crop_boxes(image, result.fit.mm_to_px, layout.cells(1)[:1], 6.0, 1.5)
    # 7.5 x 9.5 mm box + 1.5 mm margin each side at 6 px/mm; its printed border runs 9 px in
    dark = crop.image < 225  # borders print light grey
    assert crop.image.shape == (75, 63)
    rows, cols = dark.mean(axis=1), dark.mean(axis=0)
    assert rows[7:12].max() > 0.6 and rows[63:68].max() > 0.6  # top and bottom border lines
    assert cols[7:12].max() > 0.6 and cols[51:56].max() > 0.6  # left and right border lines
    assert rows[20:55].max() < 0.3  # nothing but the vertical borders inside the box


def test_whole_page_warp_gives_the_same_crops(layout, upright):
    image, _ = scan(upright, 1, angle_deg=3.0)
    fit = align_page(image, DPI, {layout.exam_id: layout}, SETTINGS).fit
    cells = layout.cells(1)
    per_box = crop_boxes(image, fit.mm_to_px, cells, 6.0, 1.5)
    whole = crop_boxes_whole_page(image, fit.mm_to_px, cells, 6.0, 1.5, layout.page_size_mm)
    for a, b in zip(per_box, whole, strict=True):
        assert a.image.shape == b.image.shape
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 8


def test_three_markers_give_an_affine_fit(layout, upright):
    image, transform = scan(upright, 1, angle_deg=-6.0, scale=0.92)
    markers = detect_markers(image, DPI, SETTINGS)
    x, y, w, h = cv2.boundingRect(markers[2].astype(np.float32))
    image[y - 5: y + h + 5, x - 5: x + w + 5] = 255  # marker 2 torn off
    result = align_page(image, DPI, {layout.exam_id: layout}, SETTINGS)
    assert result.status == PageStatus.OK, result.message
    assert result.fit.markers_used == (0, 1, 3)
    quads = np.array([c.quad_px for c in crop_boxes(image, result.fit.mm_to_px,
                                                   layout.cells(1), 6.0, 1.5)])
    assert np.abs(quads - true_quads(layout, transform)).max() * MM_PER_INCH / DPI < 0.5


def test_three_markers_with_perspective_use_the_homography(layout, upright):
    image, transform = scan(upright, 0, angle_deg=-4.0, perspective=0.04)  # marker 0 cut off
    result = align_page(image, DPI, {layout.exam_id: layout}, SETTINGS)
    assert result.status == PageStatus.OK and result.fit.markers_used == (1, 2, 3)
    quads = np.array([c.quad_px for c in crop_boxes(image, result.fit.mm_to_px,
                                                   layout.cells(1), 6.0, 1.5)])
    assert np.abs(quads - true_quads(layout, transform)).max() * MM_PER_INCH / DPI < 0.5


def test_blurred_noisy_jpeg_scan_aligns(layout, upright):
    image, _ = scan(upright, 3, angle_deg=9.0, scale=0.88)
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(image, (0, 0), 1.3)
    light = np.linspace(0.75, 1.0, image.shape[1])[None, :]  # uneven lighting
    image = np.clip(image * light + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    _, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 35])
    image = cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)
    result = align_page(image, DPI, {layout.exam_id: layout}, SETTINGS)
    assert result.status == PageStatus.OK, result.message
    assert result.rotation == 90 and result.fit.residual_mm < 0.5


def test_too_few_markers_but_a_qr_is_no_markers(layout, upright):
    image = upright.copy()
    h, w = image.shape
    image[h // 2:, :] = 255  # bottom half lost: markers 2 and 3 gone, QR (top right) remains
    image[: h // 8, : w // 4] = 255  # marker 0 too
    result = align_page(image, DPI, {layout.exam_id: layout}, SETTINGS)
    assert result.status == PageStatus.NO_MARKERS
    assert "copy 7" in result.message and result.payload.copy == 7


def test_unreadable_qr_is_no_qr(layout, upright):
    image = upright.copy()
    x, y, w, h = (round(v * DPI / MM_PER_INCH) for v in layout.qr_rect_mm(1))
    image[y: y + h, x: x + w] = 255
    result = align_page(image, DPI, {layout.exam_id: layout}, SETTINGS)
    assert result.status == PageStatus.NO_QR and result.rotation == 0


def test_other_exam_is_unknown_exam(upright):
    other = make_layout("geometry-2")
    result = align_page(upright, DPI, {other.exam_id: other}, SETTINGS)
    assert result.status == PageStatus.UNKNOWN_EXAM
    assert "algebra-1" in result.message and "geometry-2" in result.message


def test_other_layout_version_is_unknown_exam(layout, upright):
    newer = layout.model_copy(update={"version": "2"})
    result = align_page(upright, DPI, {newer.exam_id: newer}, SETTINGS)
    assert result.status == PageStatus.UNKNOWN_EXAM and "version" in result.message


def test_blank_and_text_pages(layout):
    rng = np.random.default_rng(0)
    h, w = round(297 * DPI / MM_PER_INCH), round(210 * DPI / MM_PER_INCH)
    gradient = np.linspace(200, 250, w)[None, :]  # grey, unevenly lit paper with sensor noise
    blank = np.clip(gradient + rng.normal(0, 6, (h, w)), 0, 255).astype(np.uint8)
    result = align_page(blank, DPI, {layout.exam_id: layout}, SETTINGS)
    assert result.status == PageStatus.BLANK_PAGE, result.message

    text = blank.copy()
    for line in range(12):
        cv2.putText(text, "The quick brown fox jumps over the lazy dog", (60, 150 + 40 * line),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.9, 30, 2)
    result = align_page(text, DPI, {layout.exam_id: layout}, SETTINGS)
    assert result.status == PageStatus.NOT_A_SHEET, result.message


def test_a_misdetected_marker_is_dropped(layout, upright):
    markers = detect_markers(upright, DPI, SETTINGS)
    corners = layout.marker_corners_mm(1)
    good = fit_page(markers, corners)
    markers[2] = markers[2] + np.array([40.0, -25.0])  # one marker's corners badly off
    fit = fit_page(markers, corners)
    assert fit.markers_used == (0, 1, 3) and fit.residual_mm < 2 * good.residual_mm + 0.05


def test_letter_sheet_among_a4_and_letter_layouts(tmp_path):
    a4, letter = make_layout("algebra-1"), make_layout("physics-letter", paper="letter")
    path = tmp_path / "letter.pdf"
    path.write_bytes(render_sheets(letter, copies=1, first_copy=3))
    (page,) = rasterize_pages(inspect_pdf(path, SETTINGS), 1, 1, SETTINGS)
    image, transform = scan(page.image, 2, angle_deg=-3.0, scale=0.93)
    result = align_page(image, DPI, {a4.exam_id: a4, letter.exam_id: letter}, SETTINGS)
    assert result.status == PageStatus.OK, result.message
    assert result.layout is letter and result.payload.copy == 3
    quads = np.array([c.quad_px for c in crop_boxes(image, result.fit.mm_to_px,
                                                   letter.cells(1), 6.0, 1.5)])
    assert np.abs(quads - true_quads(letter, transform)).max() * MM_PER_INCH / DPI < 0.4
