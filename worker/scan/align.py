"""Find a scanned page's markers and QR code, fit it onto its layout, and say what it is.

Pure functions on greyscale page images. Markers are ArUco DICT_4X4_50 ids 0 (top-left),
1 (top-right), 2 (bottom-right), 3 (bottom-left), drawn upright, so each detected marker's
corner order already tells the page's orientation, and the corners of all found markers give
a homography from layout millimetres to scan pixels (an affine fit when only 3 are found).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from scangrade.config.scan import ScanSettings
from worker.scan.results import PageStatus
from worker.sheets.layout import Layout
from worker.sheets.qr import QrPayload, parse_payload
from worker.sheets.units import MM_PER_INCH

MARKER_IDS = (0, 1, 2, 3)  # TL, TR, BR, BL
# Sub-pixel refinement stops after this many iterations or when a corner moves less than this.
CORNER_REFINE_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 30, 0.01)


@dataclass(frozen=True)
class PageFit:
    """A fit of layout millimetres onto scan pixels."""

    mm_to_px: np.ndarray  # 3x3 homography (or affine with last row 0 0 1)
    residual_mm: float  # RMS distance between the layout's and the scan's marker corners, in mm
    markers_used: tuple[int, ...]


@dataclass(frozen=True)
class Alignment:
    """What a page is and, when it is a sheet, where its layout lies in the scan."""

    status: PageStatus
    message: str = ""
    rotation: int | None = None  # degrees counterclockwise (np.rot90 / PIL rotate) to upright
    payload: QrPayload | None = None
    layout: Layout | None = None
    fit: PageFit | None = None
    markers: Mapping[int, np.ndarray] | None = None  # marker id -> (4, 2) corners in scan px
    px_per_mm: float | None = None  # the sheet's scale in the image (worker.scan.quality)
    marker_corners_mm: Mapping[int, np.ndarray] | None = None  # the layout geometry fitted


# ----- markers ---------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _detector(windows: tuple[int, int, int], min_perimeter: float, border_bits: float,
              correction: float) -> cv2.aruco.ArucoDetector:
    params = cv2.aruco.DetectorParameters()
    params.adaptiveThreshWinSizeMin, params.adaptiveThreshWinSizeMax, \
        params.adaptiveThreshWinSizeStep = windows
    params.minMarkerPerimeterRate = min_perimeter
    params.maxErroneousBitsInBorderRate = border_bits
    params.errorCorrectionRate = correction
    # Corners are refined at full resolution afterwards (refine_corners), not here.
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_NONE
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    return cv2.aruco.ArucoDetector(dictionary, params)


def detect_markers(gray: np.ndarray, dpi: float, settings: ScanSettings,
                   photo: bool = False) -> dict[int, np.ndarray]:
    """Marker id (0-3) -> its 4 corners in scan pixels (ArUco order: the marker's TL, TR, BR,
    BL), refined to sub-pixel at full resolution.

    A fast search at `marker_detect_dpi` with `aruco_windows` comes first; when it finds fewer
    than 4 markers, a thorough one at `marker_retry_dpi` with `aruco_retry_windows` follows
    and the two are merged. When an id is found twice (a second sheet on the page, a
    photocopied marker) the larger one is kept. A `photo` may show the sheet small in its
    frame: smaller markers count (photo_min_marker_perimeter_rate)."""
    rate = settings.photo_min_marker_perimeter_rate if photo else \
        settings.aruco_min_perimeter_rate
    found = _search(gray, dpi, settings.marker_detect_dpi, settings.aruco_windows, settings,
                    rate)
    if len(found) < len(MARKER_IDS):
        retry = _search(gray, dpi, settings.marker_retry_dpi, settings.aruco_retry_windows,
                        settings, rate)
        found = retry | found if len(retry) <= len(found) else found | retry
    if found:
        window = max(2, round(settings.corner_refine_window_mm * dpi / MM_PER_INCH))
        found = {k: refine_corners(gray, quad, window) for k, quad in found.items()}
    return found


def _search(gray: np.ndarray, dpi: float, search_dpi: float, windows: tuple[int, int, int],
            settings: ScanSettings, min_perimeter_rate: float) -> dict[int, np.ndarray]:
    scale = min(1.0, search_dpi / dpi)
    small = gray if scale == 1.0 else cv2.resize(
        gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    detector = _detector(tuple(windows), min_perimeter_rate,
                         settings.aruco_max_erroneous_border_bits,
                         settings.aruco_error_correction_rate)
    corners, ids, _ = detector.detectMarkers(small)
    found: dict[int, np.ndarray] = {}
    if ids is None:
        return found
    for quad, marker_id in zip(corners, ids.ravel(), strict=True):
        marker_id = int(marker_id)
        if marker_id not in MARKER_IDS:
            continue
        quad = quad.reshape(4, 2).astype(np.float64) / scale
        if marker_id in found and _perimeter(found[marker_id]) >= _perimeter(quad):
            continue
        found[marker_id] = quad
    return found


def refine_corners(gray: np.ndarray, quad: np.ndarray, window: int) -> np.ndarray:
    points = np.ascontiguousarray(quad, dtype=np.float32).reshape(-1, 1, 2)
    cv2.cornerSubPix(gray, points, (window, window), (-1, -1), CORNER_REFINE_CRITERIA)
    return points.reshape(4, 2).astype(np.float64)


def _perimeter(quad: np.ndarray) -> float:
    return float(np.linalg.norm(np.roll(quad, -1, axis=0) - quad, axis=1).sum())


def rotation_from_markers(markers: Mapping[int, np.ndarray]) -> int:
    """Degrees counterclockwise (0/90/180/270) that turn the scan upright.

    Markers are printed upright, so each one's top edge (corner 0 -> 1) points along the
    page's x axis; its mean direction in the scan gives the page's rotation."""
    direction = sum(quad[1] - quad[0] for quad in markers.values())
    angle = np.degrees(np.arctan2(direction[1], direction[0]))  # image y points down
    return int(np.rint(angle / 90.0)) % 4 * 90


# ----- fitting ----------------------------------------------------------------------------


def fit_page(
    found: Mapping[int, np.ndarray], layout_corners: Mapping[int, np.ndarray],
    refit_residual_mm: float = 0.3,
) -> PageFit:
    """Least-squares fit of the found markers' corners: a homography from 4 markers; from 3,
    an affine map unless the page shows perspective (see ThreeMarkerRule).

    With 4 markers, when the fit is worse than `refit_residual_mm` and dropping one marker
    fits much better (one marker misdetected or smudged), the 3-marker fit is used."""
    ids = tuple(sorted(k for k in found if k in layout_corners))
    if len(ids) < 3:
        raise ValueError(f"need at least 3 markers to fit a page, found {len(ids)}")
    best = _fit(found, layout_corners, ids)
    if len(ids) == 4 and best.residual_mm > refit_residual_mm:
        for dropped in ids:
            subset = tuple(k for k in ids if k != dropped)
            candidate = _fit(found, layout_corners, subset)
            if candidate.residual_mm * 3 < best.residual_mm:
                best = candidate
    return best


@dataclass(frozen=True)
class ThreeMarkerRule:
    """With 3 markers, the 12-corner homography extrapolates to the missing corner with ~3x
    the corner noise, the affine fit ignores perspective. The homography is used only when
    the affine fit leaves a clearly larger residual (perspective present): by this factor
    plus this many mm (noise alone changes the ratio by ~6%, 24 equations, 6 vs 8 unknowns)."""

    affine_excess_factor: float = 1.5
    affine_excess_mm: float = 0.05


THREE_MARKER_RULE = ThreeMarkerRule()


def _fit(found, layout_corners, ids: tuple[int, ...]) -> PageFit:
    src = np.concatenate([layout_corners[k] for k in ids]).astype(np.float64)
    dst = np.concatenate([found[k] for k in ids]).astype(np.float64)
    homography, _ = cv2.findHomography(src, dst, 0)
    projective = _checked(homography, src, dst, ids)
    if len(ids) >= 4:
        return projective
    affine = _checked(_affine_lstsq(src, dst), src, dst, ids)
    rule = THREE_MARKER_RULE
    if affine.residual_mm > rule.affine_excess_factor * projective.residual_mm + \
            rule.affine_excess_mm:
        return projective
    return affine


def _checked(matrix, src, dst, ids) -> PageFit:
    if matrix is None or not np.all(np.isfinite(matrix)):
        return PageFit(np.eye(3), float("inf"), ids)
    return PageFit(matrix, _residual_mm(matrix, src, dst), ids)


def _affine_lstsq(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    design = np.hstack([src, np.ones((len(src), 1))])
    solution, *_ = np.linalg.lstsq(design, dst, rcond=None)
    return np.vstack([solution.T, [0.0, 0.0, 1.0]])


def _residual_mm(mm_to_px: np.ndarray, src_mm: np.ndarray, dst_px: np.ndarray) -> float:
    try:
        back = project(np.linalg.inv(mm_to_px), dst_px)
    except np.linalg.LinAlgError:
        return float("inf")
    return float(np.sqrt(np.mean(np.sum((back - src_mm) ** 2, axis=1))))


def project(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 3x3 projective matrix to (N, 2) points."""
    points = np.asarray(points, np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(points, matrix).reshape(-1, 2)


# ----- QR code -----------------------------------------------------------------------------


def decode_qr(gray: np.ndarray, region: tuple[int, int, int, int] | None = None) -> list[str]:
    """Texts of the QR codes in `region` (x0, y0, x1, y1 in pixels) or the whole image."""
    import zxingcpp

    if region is not None:
        x0, y0, x1, y1 = region
        gray = gray[y0:y1, x0:x1]
        if gray.size == 0:
            return []
    results = zxingcpp.read_barcodes(
        np.ascontiguousarray(gray), formats=zxingcpp.BarcodeFormat.QRCode)
    return [result.text for result in results if result.valid]


def qr_search_region(
    fit: PageFit, qr_rect_mm: tuple[float, float, float, float], margin_mm: float,
    shape: tuple[int, int],
) -> tuple[int, int, int, int]:
    """Pixel bounding box of the QR rectangle (plus margin) predicted by a fit."""
    x, y, w, h = qr_rect_mm
    x, y, w, h = x - margin_mm, y - margin_mm, w + 2 * margin_mm, h + 2 * margin_mm
    corners = project(fit.mm_to_px, np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]]))
    x0, y0 = np.floor(corners.min(axis=0)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
    height, width = shape
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def _first_payload(texts: list[str]) -> tuple[QrPayload | None, list[str]]:
    for text in texts:
        payload = parse_payload(text)
        if payload is not None:
            return payload, texts
    return None, texts


# ----- blank test --------------------------------------------------------------------------


def ink_share(gray: np.ndarray, dpi: float, settings: ScanSettings) -> float:
    """Share of the page (less its edges) at least `ink_contrast` darker than the paper near it.

    Measured at `blank_test_dpi` against a wide median background, so uneven lighting and
    grey paper do not count as ink but a line of text does."""
    scale = min(1.0, settings.blank_test_dpi / dpi)
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    px_per_mm = dpi * scale / MM_PER_INCH
    edge = round(settings.blank_ignore_edge_mm * px_per_mm)
    if small.shape[0] > 2 * edge and small.shape[1] > 2 * edge:
        small = small[edge: small.shape[0] - edge, edge: small.shape[1] - edge]
    kernel = 2 * round(settings.blank_background_mm * px_per_mm / 2) + 1  # odd, as medianBlur asks
    background = cv2.medianBlur(small, kernel) if min(small.shape) > kernel else np.full_like(
        small, int(np.median(small)))
    ink = cv2.subtract(background, small) >= settings.ink_contrast
    return float(ink.mean()) if ink.size else 0.0


# ----- the whole decision -------------------------------------------------------------------


def align_page(
    gray: np.ndarray, dpi: float, layouts: Mapping[str, Layout], settings: ScanSettings,
    photo: bool = False,
) -> Alignment:
    """Classify one page and, when it is a sheet of a known exam, fit it onto its layout.

    `layouts` maps exam id -> Layout. Statuses: ok, low-quality (fit residual above
    max_residual_mm), no-qr, unknown-exam, no-markers (a sheet with too few markers),
    not-a-sheet (ink but no markers) and blank-page (no ink)."""
    markers = detect_markers(gray, dpi, settings, photo)
    if len(markers) < settings.min_markers:
        return _without_markers(gray, dpi, markers, settings)

    rotation = rotation_from_markers(markers)
    geometries = _candidate_geometries(layouts)
    payload, texts = None, []
    fits: list[tuple[dict[int, np.ndarray], PageFit]] = []
    for corners, qr_rect in geometries:  # the QR where each known paper size puts it
        fit = fit_page(markers, corners, settings.refit_residual_mm)
        fits.append((corners, fit))
        region = qr_search_region(fit, qr_rect, settings.qr_search_margin_mm, gray.shape)
        payload, texts = _first_payload(decode_qr(gray, region))
        if payload is not None:
            break
    if payload is None:
        payload, texts = _first_payload(decode_qr(gray))
    common = {"rotation": rotation, "markers": markers}
    if payload is None:
        foreign = f" (found a QR code that is not ours: {texts[0][:60]!r})" if texts else ""
        first_corners, first_fit = fits[0]  # how sharp and large the sheet is, all the same
        return Alignment(PageStatus.NO_QR, f"found {len(markers)} markers but no readable "
                         f"scangrade QR code{foreign}", fit=first_fit,
                         marker_corners_mm=first_corners, **common)

    layout = layouts.get(payload.exam_id)
    if layout is None:
        known = ", ".join(sorted(layouts)) or "none"
        return Alignment(PageStatus.UNKNOWN_EXAM, f"sheet of exam {payload.exam_id!r}, which "
                         f"is not among the loaded layouts ({known})", payload=payload, **common)
    if payload.layout_version != layout.version:
        return Alignment(PageStatus.UNKNOWN_EXAM, f"sheet printed from version "
                         f"{payload.layout_version!r} of exam {payload.exam_id!r}, but the loaded "
                         f"layout is version {layout.version!r}", payload=payload, **common)
    if not 1 <= payload.page <= layout.n_pages:
        return Alignment(PageStatus.UNKNOWN_EXAM, f"QR code says page {payload.page}, but exam "
                         f"{payload.exam_id!r} has {layout.n_pages} page(s)", payload=payload,
                         **common)

    corners = layout.marker_corners_mm(payload.page)
    fit = next((f for c, f in fits if _same_corners(c, corners)), None) or fit_page(
        markers, corners, settings.refit_residual_mm)
    if not fit.residual_mm <= settings.max_residual_mm:
        return Alignment(PageStatus.LOW_QUALITY, f"markers fit the layout only to "
                         f"{fit.residual_mm:.2f} mm (limit max_residual_mm = "
                         f"{settings.max_residual_mm} mm): page warped, folded or misprinted",
                         payload=payload, layout=layout, fit=fit, marker_corners_mm=corners,
                         **common)
    return Alignment(PageStatus.OK, payload=payload, layout=layout, fit=fit,
                     marker_corners_mm=corners, **common)


def _candidate_geometries(layouts: Mapping[str, Layout]):
    """Distinct (marker corners, QR rect) of the loaded layouts' first pages."""
    seen: list[tuple[dict[int, np.ndarray], tuple[float, float, float, float]]] = []
    for layout in layouts.values():
        corners, qr_rect = layout.marker_corners_mm(1), layout.qr_rect_mm(1)
        if not any(qr_rect == q and _same_corners(corners, c) for c, q in seen):
            seen.append((corners, qr_rect))
    return seen


def _same_corners(a: Mapping[int, np.ndarray], b: Mapping[int, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _without_markers(gray, dpi, markers, settings: ScanSettings) -> Alignment:
    """A page with too few markers: a damaged sheet (its QR says so), text, or blank paper."""
    payload, _ = _first_payload(decode_qr(gray))
    if payload is not None:
        return Alignment(PageStatus.NO_MARKERS, f"sheet of exam {payload.exam_id!r} copy "
                         f"{payload.copy} page {payload.page}, but only {len(markers)} of 4 "
                         f"alignment markers were found (need {settings.min_markers}): corners "
                         "cut off, covered or smudged, or the photo blurred", payload=payload,
                         markers=markers)
    share = ink_share(gray, dpi, settings)
    if share < settings.blank_max_ink_share:
        return Alignment(PageStatus.BLANK_PAGE, f"blank page (ink on {share:.3%} of it)",
                         markers=markers)
    if markers:
        return Alignment(PageStatus.NO_MARKERS, f"only {len(markers)} of 4 alignment markers "
                         f"and no scangrade QR code found", markers=markers)
    return Alignment(PageStatus.NOT_A_SHEET, "not an answer sheet: no alignment markers and no "
                     "scangrade QR code", markers=markers)
