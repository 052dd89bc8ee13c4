"""What a phone camera does to a sheet, simulated on page images (pure functions): the
photographing counterpart of worker.synth.scanner.

A filled paper page (upright RGB) lies on a desk, maybe among other papers, slightly curled,
and is photographed with a phone held at a tilt (perspective up to `max_tilt_deg`) and any
rotation, anywhere in the frame; the lens bends straight lines a little; light falls
unevenly (a gradient, a hand's or the phone's shadow, warm or cold tint, glare); the sensor
adds noise and the phone writes a JPEG. Some photos are made unusable on purpose (motion or
focus blur, taken from too far) and some lose a corner marker (covered by a thumb, or cut off
by the frame) while staying readable. Every random choice comes from the given Generator.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

# What each condition must give: ok pages are graded, the others say why they are not.
CONDITIONS = {"plain": "ok", "shadow": "ok", "glare": "ok", "tilted": "ok",
              "covered-corner": "ok", "cut-corner": "ok", "blurry": "blurry",
              "too-far": "low-resolution"}
MAP_STEP = 4  # the pixel map is computed on a grid this much coarser, then interpolated


@dataclass(frozen=True)
class PhotoRanges:
    """How far each photographic condition goes; each is a reason real photos differ."""

    frame_px: tuple[int, int] = (4032, 3024)  # a 12 MP phone camera, landscape
    fill: tuple[float, float] = (0.6, 0.95)  # the sheet's share of the frame (limiting side)
    too_far_fill: tuple[float, float] = (0.2, 0.26)  # "too-far": under 3 px/mm at 12 MP
    max_tilt_deg: float = 35.0  # the phone not held parallel to the desk
    # Camera distance / the sheet's long side: a phone's ~26 mm lens fills its frame with an
    # A4 sheet from about 30-40 cm, which sets how strongly a tilt foreshortens the far side.
    distance_share: float = 1.3
    lens_k1: tuple[float, float] = (-0.04, 0.01)  # radial distortion, at the frame corner
    curl_mm: tuple[float, float] = (0.0, 1.2)  # the paper's bow across its width
    gradient_depth: tuple[float, float] = (0.0, 0.35)  # light falling off across the frame
    shadow_depth: tuple[float, float] = (0.3, 0.55)  # "shadow": a hand's or phone's shadow
    glare_gain: tuple[float, float] = (50.0, 90.0)  # "glare": grey levels added at its centre
    tint_strength: tuple[float, float] = (0.0, 0.12)  # warm (lamp) or cold (daylight) cast
    noise_sigma: tuple[float, float] = (1.5, 5.0)
    jpeg_quality: tuple[int, int] = (80, 95)
    blur_mm: tuple[float, float] = (1.3, 2.0)  # "blurry": motion length or focus sigma x 3
    other_papers: tuple[int, int] = (0, 3)  # more paper around the sheet


@dataclass(frozen=True)
class PhotoParams:
    """One photo's drawn conditions (recorded in the ground truth)."""

    condition: str
    expected_status: str
    frame_px: tuple[int, int]
    fill: float
    tilt_deg: float
    tilt_axis_deg: float
    rotation_deg: float  # the sheet's turn in the frame, counterclockwise
    centre: tuple[float, float]  # sheet centre in the frame, as a share of its width, height
    lens_k1: float
    curl_mm: float
    gradient_depth: float
    gradient_angle_deg: float
    shadow_depth: float
    glare_gain: float
    tint: tuple[float, float, float]
    noise_sigma: float
    jpeg_quality: int
    blur_mm: float
    motion: bool
    hidden_marker: int | None  # the marker a thumb covers or the frame cuts off (TL 0 .. BL 3)
    other_papers: int

    def to_json(self) -> dict:
        return asdict(self)


def draw_photo_params(rng: np.random.Generator, ranges: PhotoRanges, condition: str
                      ) -> PhotoParams:
    u = lambda bounds: float(rng.uniform(*bounds))  # noqa: E731
    warm = rng.random() < 0.5
    strength = u(ranges.tint_strength)
    tint = (1.0, 1.0 - strength / 2, 1.0 - strength) if warm else (
        1.0 - strength, 1.0 - strength / 3, 1.0)
    tilted = condition == "tilted"
    fill = u(ranges.too_far_fill) if condition == "too-far" else u(ranges.fill)
    return PhotoParams(
        condition=condition, expected_status=CONDITIONS[condition],
        frame_px=ranges.frame_px, fill=fill,
        tilt_deg=u((0.7 * ranges.max_tilt_deg, ranges.max_tilt_deg)) if tilted
        else u((0.0, 0.4 * ranges.max_tilt_deg)),
        tilt_axis_deg=u((0.0, 360.0)), rotation_deg=u((0.0, 360.0)),
        centre=(u((0.0, 1.0)), u((0.0, 1.0))),  # where the free room allows
        lens_k1=u(ranges.lens_k1), curl_mm=u(ranges.curl_mm),
        gradient_depth=u(ranges.gradient_depth), gradient_angle_deg=u((0.0, 360.0)),
        shadow_depth=u(ranges.shadow_depth) if condition == "shadow" else 0.0,
        glare_gain=u(ranges.glare_gain) if condition == "glare" else 0.0,
        tint=tint, noise_sigma=u(ranges.noise_sigma),
        jpeg_quality=int(rng.integers(ranges.jpeg_quality[0], ranges.jpeg_quality[1] + 1)),
        blur_mm=u(ranges.blur_mm) if condition == "blurry" else 0.0,
        motion=bool(rng.random() < 0.5),
        # a cut-off top-right corner takes the QR code beside it: unreadable, truly
        hidden_marker=int(rng.choice([0, 1, 2, 3] if condition == "covered-corner"
                                     else [0, 2, 3]))
        if condition in ("covered-corner", "cut-corner") else None,
        other_papers=int(rng.integers(ranges.other_papers[0], ranges.other_papers[1] + 1)),
    )


def _camera_corners(size: tuple[float, float], params: PhotoParams, distance_share: float
                    ) -> np.ndarray:
    """The paper's corners (TL, TR, BR, BL; paper units, centred) seen by a pinhole camera
    looking down at the desk with the given tilt, in-plane turn and unit distance scale."""
    width, height = size
    corners = np.array([[-width / 2, -height / 2, 0], [width / 2, -height / 2, 0],
                        [width / 2, height / 2, 0], [-width / 2, height / 2, 0]], np.float64)
    turn = math.radians(params.rotation_deg)
    rz = np.array([[math.cos(turn), math.sin(turn), 0], [-math.sin(turn), math.cos(turn), 0],
                   [0, 0, 1]])
    axis_angle = math.radians(params.tilt_axis_deg)
    axis = np.array([math.cos(axis_angle), math.sin(axis_angle), 0.0])
    tilt, _ = cv2.Rodrigues(axis * math.radians(params.tilt_deg))
    points = corners @ rz.T @ tilt.T
    z = points[:, 2] + distance_share * max(width, height)
    return np.stack([points[:, 0] / z, points[:, 1] / z], axis=1)


def page_to_photo(paper_px: tuple[int, int], params: PhotoParams, marker_box_px: np.ndarray,
                  distance_share: float) -> np.ndarray:
    """The homography from paper pixels to (undistorted) photo pixels. `marker_box_px`: the
    paper-pixel corners (TL, TR, BR, BL) of the marker squares, so a cut-off marker can be
    pushed out of the frame."""
    frame_w, frame_h = params.frame_px
    width, height = paper_px
    corners = _camera_corners((width, height), params, distance_share)
    span = corners.max(axis=0) - corners.min(axis=0)
    source = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    fill = params.fill
    while True:
        scale = fill * min(frame_w / span[0], frame_h / span[1])
        room = np.array([frame_w, frame_h]) - (span * scale)
        seen = (corners - corners.min(axis=0)) * scale + room * np.array(params.centre)
        matrix = cv2.getPerspectiveTransform(source, seen.astype(np.float32))
        if params.condition != "cut-corner" or params.hidden_marker is None:
            return matrix
        hidden = params.hidden_marker
        others = [box for k, box in enumerate(marker_box_px) if k != hidden]
        moved = _push_out(matrix, marker_box_px[hidden], others, (frame_w, frame_h))
        if moved is not None or fill < 0.55:
            return moved if moved is not None else matrix
        fill *= 0.9  # the sheet smaller in the frame, until only that corner leaves it


def _push_out(matrix: np.ndarray, marker_px: np.ndarray, others_px: list[np.ndarray],
              frame: tuple[int, int]) -> np.ndarray | None:
    """The photo shifted, away from the sheet's centre, just enough that the marker lies
    beyond the frame's edge; None when the other markers would leave the frame too."""
    def seen(points: np.ndarray, at: np.ndarray = matrix) -> np.ndarray:
        return cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64),
                                        at).reshape(-1, 2)

    marker = seen(marker_px)
    centre = np.mean([seen(other).mean(axis=0) for other in others_px], axis=0)
    direction = marker.mean(axis=0) - centre
    direction /= max(np.linalg.norm(direction), 1e-9)
    size = np.array(frame, np.float64)
    side = float(np.linalg.norm(marker[1] - marker[0]))
    for step in np.linspace(0, size.max(), 400):
        # cut through: its centre a quarter of its side beyond the edge
        shifted = marker.mean(axis=0) + direction * step
        if ((shifted < -side / 4) | (shifted > size + side / 4)).any():
            move = np.array([[1, 0, direction[0] * step], [0, 1, direction[1] * step],
                             [0, 0, 1]]) @ matrix
            # the others whole, with a marker's width of paper around (a detector needs it)
            margin = side
            inside = all(np.all((seen(other, move) > margin)
                                & (seen(other, move) < size - margin)) for other in others_px)
            return move if inside else None
    return None


def _desk(frame: tuple[int, int], params: PhotoParams, rng: np.random.Generator) -> np.ndarray:
    """A desk: a colour with a soft grain, and some other papers lying about."""
    width, height = frame
    base = np.array(rng.choice([[120, 85, 60], [90, 90, 95], [160, 140, 110], [60, 50, 45]]),
                    np.float32)
    grain = rng.normal(0, 12, (height // 32 + 1, width // 32 + 1)).astype(np.float32)
    grain = cv2.resize(cv2.GaussianBlur(grain, (0, 0), 2), (width, height))
    desk = np.clip(base[None, None, :] + grain[..., None], 0, 255).astype(np.uint8)
    for _ in range(params.other_papers):
        centre = (float(rng.uniform(0, width)), float(rng.uniform(0, height)))
        size = (float(rng.uniform(0.3, 0.6) * height), float(rng.uniform(0.4, 0.8) * height))
        box = cv2.boxPoints((centre, size, float(rng.uniform(0, 180)))).astype(np.int32)
        shade = int(rng.uniform(200, 245))
        cv2.fillConvexPoly(desk, box, (shade, shade, shade))
        for line in range(int(rng.integers(3, 12))):  # lines of text on it
            t = (line + 1) / 14
            start = box[0] + (box[3] - box[0]) * t + (box[1] - box[0]) * 0.1
            end = start + (box[1] - box[0]) * float(rng.uniform(0.4, 0.8))
            cv2.line(desk, tuple(int(v) for v in start), tuple(int(v) for v in end),
                     (70, 70, 70), max(2, height // 400))
    return desk


def _pixel_maps(paper_px: tuple[int, int], matrix: np.ndarray, params: PhotoParams,
                paper_px_per_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """For each photo pixel, where it samples the paper: lens distortion undone, the
    homography inverted, the paper's curl applied."""
    frame_w, frame_h = params.frame_px
    grid_w, grid_h = frame_w // MAP_STEP + 2, frame_h // MAP_STEP + 2
    u, v = np.meshgrid(np.arange(grid_w, dtype=np.float64) * MAP_STEP,
                       np.arange(grid_h, dtype=np.float64) * MAP_STEP)
    cx, cy = frame_w / 2, frame_h / 2
    radius = math.hypot(cx, cy)
    r2 = ((u - cx) ** 2 + (v - cy) ** 2) / radius**2
    bend = 1 + params.lens_k1 * r2
    undistorted = np.stack([cx + (u - cx) * bend, cy + (v - cy) * bend], axis=-1)
    paper = cv2.perspectiveTransform(undistorted.reshape(-1, 1, 2), np.linalg.inv(matrix))
    paper = paper.reshape(grid_h, grid_w, 2)
    width, _ = paper_px
    curl_px = params.curl_mm * paper_px_per_mm
    paper[..., 1] -= curl_px * np.sin(np.pi * np.clip(paper[..., 0] / width, 0, 1))
    full = (grid_w * MAP_STEP, grid_h * MAP_STEP)
    map_x = cv2.resize(paper[..., 0].astype(np.float32), full)[:frame_h, :frame_w]
    map_y = cv2.resize(paper[..., 1].astype(np.float32), full)[:frame_h, :frame_w]
    return map_x, map_y


def _light(frame: tuple[int, int], params: PhotoParams, rng: np.random.Generator
           ) -> np.ndarray:
    """The light falling on each pixel (H, W, 3 float32, 1 = full light, with tint)."""
    width, height = frame
    small_w, small_h = width // 16, height // 16
    y, x = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    angle = math.radians(params.gradient_angle_deg)
    along = (x / small_w - 0.5) * math.cos(angle) + (y / small_h - 0.5) * math.sin(angle)
    light = 1.0 - params.gradient_depth * (along + 0.5)
    if params.shadow_depth:  # a hand or a phone: a blurred blob reaching in from one side
        shadow = np.zeros((small_h, small_w), np.float32)
        points = rng.uniform([0, 0], [small_w, small_h], (5, 2)).astype(np.int32)
        points[0] = [0, int(rng.uniform(0, small_h))]
        cv2.fillConvexPoly(shadow, cv2.convexHull(points), 1.0)
        shadow = cv2.GaussianBlur(shadow, (0, 0), small_w / 40)
        light = light * (1.0 - params.shadow_depth * shadow)
    light = cv2.resize(light.astype(np.float32), (width, height))
    tinted = light[..., None] * np.array(params.tint, np.float32)[None, None, :]
    return tinted.astype(np.float32)


def simulate_photo(paper: np.ndarray, params: PhotoParams, rng: np.random.Generator,
                   marker_box_px: np.ndarray, paper_px_per_mm: float,
                   ranges: PhotoRanges = PhotoRanges()) -> tuple[np.ndarray, np.ndarray]:
    """(the photo as RGB uint8, the homography paper px -> photo px before lens bending).
    `marker_box_px`: each marker's corners in paper pixels (TL, TR, BR, BL markers)."""
    frame = params.frame_px
    height, width = paper.shape[:2]
    matrix = page_to_photo((width, height), params, marker_box_px, ranges.distance_share)
    map_x, map_y = _pixel_maps((width, height), matrix, params, paper_px_per_mm)
    sheet = cv2.remap(paper, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                      borderValue=(0, 0, 0))
    inside = cv2.remap(np.full((height, width), 255, np.uint8), map_x, map_y, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    photo = _desk(frame, params, rng)
    mask = inside > 127
    photo[mask] = sheet[mask]
    if params.condition == "covered-corner" and params.hidden_marker is not None:
        _thumb(photo, marker_box_px[params.hidden_marker], matrix, rng)
    lit = photo.astype(np.float32) * _light(frame, params, rng)
    if params.glare_gain:  # a lamp's reflection: washes out what lies under it
        centre = rng.uniform([0.2, 0.2], [0.8, 0.8]) * np.array(frame)
        sigma = float(rng.uniform(0.06, 0.14)) * frame[0]
        y, x = np.ogrid[0:frame[1], 0:frame[0]]
        glare = np.exp(-(((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * sigma**2)))
        lit += (params.glare_gain * glare).astype(np.float32)[..., None]
    if params.blur_mm:
        lit = _blur(lit, params, matrix, paper_px_per_mm)
    noise = np.empty(lit.shape, np.float32)
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
    cv2.randn(noise, 0.0, params.noise_sigma)
    photo = np.clip(lit + noise, 0, 255).astype(np.uint8)
    return photo, matrix


def _thumb(photo: np.ndarray, marker_px: np.ndarray, matrix: np.ndarray,
           rng: np.random.Generator) -> None:
    """A fingertip over a marker: a skin-coloured ellipse larger than it."""
    seen = cv2.perspectiveTransform(marker_px.reshape(-1, 1, 2).astype(np.float64),
                                    matrix).reshape(-1, 2)
    centre = seen.mean(axis=0)
    side = float(np.linalg.norm(seen[1] - seen[0]))
    # half-axes: over the whole marker (half a diagonal is 0.71 of its side), short of the
    # QR code beside the top-right one
    axes = (int(side * rng.uniform(0.75, 0.85)), int(side * rng.uniform(0.8, 0.95)))
    skin = tuple(int(c) for c in rng.choice([[190, 150, 130], [140, 100, 80], [230, 190, 170]]))
    cv2.ellipse(photo, tuple(int(c) for c in centre), axes, float(rng.uniform(0, 180)), 0, 360,
                skin, -1)


def _blur(image: np.ndarray, params: PhotoParams, matrix: np.ndarray, paper_px_per_mm: float
          ) -> np.ndarray:
    """Motion (a line kernel) or focus (Gaussian) blur of `blur_mm` on the sheet."""
    px_per_mm = math.sqrt(abs(np.linalg.det(matrix[:2, :2]) / matrix[2, 2] ** 2)) \
        * paper_px_per_mm
    length = max(3.0, params.blur_mm * px_per_mm)
    if not params.motion:
        return cv2.GaussianBlur(image, (0, 0), length / 3)
    size = int(length) | 1
    kernel = np.zeros((size, size), np.float32)
    kernel[size // 2, :] = 1.0 / size
    turn = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), params.rotation_deg, 1.0)
    kernel = cv2.warpAffine(kernel, turn, (size, size))
    return cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))


def encode_photo(photo: np.ndarray, quality: int) -> bytes:
    """The phone's JPEG (RGB in)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()
