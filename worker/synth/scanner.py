"""What printing and scanning do to a sheet, simulated on page images (pure functions).

A paper page (upright, at scan resolution) is turned into a scan: printer scale, skew, shift,
slight perspective, any of the four orientations, uneven lighting, blur, noise, and the
scanner's JPEG compression, in greyscale or colour. Every random choice is drawn from the
given numpy Generator, so a seed reproduces a scan exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from worker.sheets.units import px_per_mm


@dataclass(frozen=True)
class ScanRanges:
    """How far each degradation goes; each range is a reason real scans differ."""

    max_skew_deg: float = 10.0  # a page laid crooked on the glass or pulled askew by a feeder
    scale: tuple[float, float] = (0.9, 1.05)  # printer "fit to page" shrinks; some enlarge
    max_shift_mm: float = 6.0  # page not against the scanner's corner
    max_perspective: float = 0.006  # corner displacement / page side: phone-like keystone
    orientations: tuple[int, ...] = (0, 90, 180, 270)  # a stack fed upside down or sideways
    blur_sigma_px: tuple[float, float] = (0.0, 1.1)  # scanner optics, slight defocus
    noise_sigma: tuple[float, float] = (0.5, 4.0)  # sensor noise, grey levels
    lighting_depth: tuple[float, float] = (0.0, 0.25)  # darkening across the page (lid gap)
    jpeg_quality: tuple[int, int] = (50, 85)  # scanner "medium" .. "high" quality
    colour_probability: float = 0.5  # scanned in colour or greyscale
    paper_gray: tuple[float, float] = (232.0, 252.0)  # recycled .. bright white paper
    lid_gray: tuple[float, float] = (200.0, 250.0)  # the scanner lid/feeder seen around a sheet


CLEAN = ScanRanges(max_skew_deg=0.0, scale=(1.0, 1.0), max_shift_mm=0.0, max_perspective=0.0,
                   orientations=(0,), blur_sigma_px=(0.0, 0.0), noise_sigma=(0.0, 0.0),
                   lighting_depth=(0.0, 0.0), jpeg_quality=(92, 92), colour_probability=0.0,
                   paper_gray=(255.0, 255.0), lid_gray=(255.0, 255.0))


@dataclass(frozen=True)
class ScanParams:
    """One page's drawn degradations (recorded in the ground truth)."""

    rotation: int  # clockwise degrees the upright page was turned: np.rot90(scan, rotation//90)
    skew_deg: float  # counter-clockwise in the image, before the quarter turn
    scale: float
    shift_mm: tuple[float, float]
    perspective: tuple[tuple[float, float], ...]  # per page corner (TL, TR, BR, BL), pixels
    blur_sigma_px: float
    noise_sigma: float
    lighting_depth: float
    lighting_angle_deg: float
    jpeg_quality: int
    colour: bool
    paper_gray: float
    lid_gray: float

    def to_json(self) -> dict:
        return asdict(self)


def draw_params(rng: np.random.Generator, ranges: ScanRanges, page_px: tuple[int, int],
                dpi: float) -> ScanParams:
    width, height = page_px
    jitter = ranges.max_perspective * max(width, height)
    return ScanParams(
        rotation=int(rng.choice(ranges.orientations)),
        skew_deg=float(rng.uniform(-ranges.max_skew_deg, ranges.max_skew_deg)),
        scale=float(rng.uniform(*ranges.scale)),
        shift_mm=(float(rng.uniform(-1, 1) * ranges.max_shift_mm),
                  float(rng.uniform(-1, 1) * ranges.max_shift_mm)),
        perspective=tuple((float(rng.uniform(-jitter, jitter)), float(rng.uniform(-jitter, jitter)))
                          for _ in range(4)),
        blur_sigma_px=float(rng.uniform(*ranges.blur_sigma_px)) * dpi / 200.0,
        noise_sigma=float(rng.uniform(*ranges.noise_sigma)),
        lighting_depth=float(rng.uniform(*ranges.lighting_depth)),
        lighting_angle_deg=float(rng.uniform(0, 360)),
        jpeg_quality=int(rng.integers(ranges.jpeg_quality[0], ranges.jpeg_quality[1] + 1)),
        colour=bool(rng.random() < ranges.colour_probability),
        paper_gray=float(rng.uniform(*ranges.paper_gray)),
        lid_gray=float(rng.uniform(*ranges.lid_gray)),
    )


def page_to_scan_matrix(params: ScanParams, page_px: tuple[int, int], dpi: float
                        ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """(page->scan homography of the printed content, of the paper sheet, scan size).

    The printer scales the content within the paper (the paper keeps its size); the paper
    then lies skewed, shifted and slightly keystoned on the glass; the scan covers the whole
    sheet (as auto-size scanners do), so skew never cuts a corner off; last the quarter turn.
    """
    width, height = page_px
    centre = np.array([width / 2, height / 2])
    printer = np.array([[params.scale, 0, (1 - params.scale) * centre[0]],
                        [0, params.scale, (1 - params.scale) * centre[1]], [0, 0, 1]])
    angle = np.deg2rad(params.skew_deg)
    rot = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)
    placed = (corners - centre) @ rot.T + centre + np.array(params.perspective)
    # The glass around the sheet: a margin, wider on one side when the sheet is shifted.
    mm_px = px_per_mm(dpi)
    shift = np.array(params.shift_mm) * mm_px
    margin = np.abs(shift).max() + 2 * mm_px
    placed -= placed.min(axis=0) - (margin + shift)
    scan_w, scan_h = (int(v) for v in np.ceil(placed.max(axis=0) + margin - shift))
    sheet = cv2.getPerspectiveTransform(corners.astype(np.float32), placed.astype(np.float32))
    turn = _quarter_turn(params.rotation, (scan_w, scan_h))
    out_size = scan_size(params.rotation, (scan_w, scan_h))
    return turn @ sheet @ printer, turn @ sheet, out_size


def _quarter_turn(rotation: int, page_px: tuple[int, int]) -> np.ndarray:
    """Turns the (width x height) image clockwise by `rotation` degrees."""
    width, height = page_px
    return {
        0: np.eye(3),
        90: np.array([[0, -1, height], [1, 0, 0], [0, 0, 1]], np.float64),
        180: np.array([[-1, 0, width], [0, -1, height], [0, 0, 1]], np.float64),
        270: np.array([[0, 1, 0], [-1, 0, width], [0, 0, 1]], np.float64),
    }[rotation]


def scan_size(rotation: int, page_px: tuple[int, int]) -> tuple[int, int]:
    width, height = page_px
    return (height, width) if rotation in (90, 270) else (width, height)


def simulate_scan(paper: np.ndarray, params: ScanParams, dpi: float,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(scan image uint8, grey (H, W) or RGB (H, W, 3); page->scan matrix of the printed
    content) for a paper page (uint8 grey or RGB, upright, white = 255)."""
    if not params.colour and paper.ndim == 3:
        paper = cv2.cvtColor(paper, cv2.COLOR_RGB2GRAY)
    height, width = paper.shape[:2]
    content, sheet, (out_w, out_h) = page_to_scan_matrix(params, (width, height), dpi)
    scan = cv2.warpPerspective(paper, content, (out_w, out_h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
    # One brightness field does paper tone (on the sheet), lid tone (around it) and lighting.
    corners = np.array([[[0, 0], [width, 0], [width, height], [0, height]]], np.float64)
    outline = cv2.perspectiveTransform(corners, sheet)[0]
    on_sheet = np.zeros((out_h, out_w), np.uint8)
    cv2.fillPoly(on_sheet, [np.round(outline * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    field = on_sheet.astype(np.float32)
    field *= (params.paper_gray - params.lid_gray) / (255.0 * 255.0)
    field += params.lid_gray / 255.0
    field *= _lighting(out_w, out_h, params.lighting_depth, params.lighting_angle_deg)
    scan = scan.astype(np.float32)
    if params.colour:
        scan *= field[..., None]
        cv2.multiply(scan, (1.0, 0.985, 0.95, 0.0), dst=scan)  # RGB: warm paper in colour
    else:
        scan *= field
    if params.blur_sigma_px > 0.05:
        scan = cv2.GaussianBlur(scan, (0, 0), params.blur_sigma_px)
    if params.noise_sigma > 0:
        noise = rng.standard_normal((out_h, out_w), dtype=np.float32)
        noise *= params.noise_sigma
        scan += noise[..., None] if params.colour else noise
    np.clip(scan, 0, 255, out=scan)
    return scan.astype(np.uint8), content


def _lighting(width: int, height: int, depth: float, angle_deg: float) -> np.ndarray:
    """A smooth brightness field, 1 on one side falling to 1 - depth on the other
    (computed coarse and resized: it is smooth, and a full-size ramp costs ~0.1 s)."""
    if depth <= 0:
        return np.ones((height, width), np.float32)
    angle = np.deg2rad(angle_deg)
    coarse = 64
    xs = np.linspace(0, 1, coarse, dtype=np.float32)[None, :] * np.cos(angle) * width
    ys = np.linspace(0, 1, coarse, dtype=np.float32)[:, None] * np.sin(angle) * height
    ramp = xs + ys
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
    small = (1.0 - depth * ramp**2).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of a grey or RGB image, as a scanner writes them."""
    bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()
