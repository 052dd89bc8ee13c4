"""Compiled pixel loops of crop preprocessing (numba, GIL released): one crop at a time,
so a batch is cleaned by plain threads at C speed instead of ~15 OpenCV calls per crop
from Python. Each step mirrors the OpenCV call it replaces (named in its docstring), with
OpenCV's rounding; `tests/model/inference/test_preprocess_kernels.py` holds the whole kernel
to the OpenCV implementation in `tests/helpers/preprocess_reference.py`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

MNIST_SIDE = 28
MNIST_DIGIT_SIDE = 20
_jit = numba.njit(nogil=True, cache=True)


# PreprocessConfig's thresholds reach the kernels as one float64 array, in this order (a
# plain array keeps numba's on-disk cache free of Python classes that a later version could
# rename; see PreprocessConfig for what each means).
CONFIG_FIELDS = (
    "paper_percentile",
    "min_contrast",
    "low_contrast",
    "low_fraction",
    "border_band",
    "inner_band",
    "thin_extent",
    "min_inner_share",
    "thin_centre_band",
    "border_line_fraction",
    "border_max_thickness",
    "border_side_rows",
    "border_max_inked_beside",
    "speck_area",
    "min_ink_area",
    "min_digit_extent",
    "ink_percentile",
    "faint_pass",
    "faint_paper_window",
    "faint_min_contrast",
    "faint_low_contrast",
    "faint_high_spreads",
    "faint_low_spreads",
    "faint_stroke_area",
)
PAPER_PERCENTILE = 0
MIN_CONTRAST = 1
LOW_CONTRAST = 2
LOW_FRACTION = 3
BORDER_BAND = 4
INNER_BAND = 5
THIN_EXTENT = 6
MIN_INNER_SHARE = 7
THIN_CENTRE_BAND = 8
BORDER_LINE_FRACTION = 9
BORDER_MAX_THICKNESS = 10
BORDER_SIDE_ROWS = 11
BORDER_MAX_INKED_BESIDE = 12
SPECK_AREA = 13
MIN_INK_AREA = 14
MIN_DIGIT_EXTENT = 15
INK_PERCENTILE = 16
FAINT_PASS = 17
FAINT_PAPER_WINDOW = 18
FAINT_MIN_CONTRAST = 19
FAINT_LOW_CONTRAST = 20
FAINT_HIGH_SPREADS = 21
FAINT_LOW_SPREADS = 22
FAINT_STROKE_AREA = 23


@_jit
def _round(x: float) -> int:
    """Python's round(): halves to even, as np.rint."""
    return int(np.rint(x))


@_jit
def _histogram(image: np.ndarray) -> np.ndarray:
    """Counts of each uint8 value. Four interleaved counters: paper is mostly one value,
    and incrementing one counter pixel after pixel stalls on its own last store."""
    parts = np.zeros((4, 256), np.int64)
    rows, cols = image.shape
    for r in range(rows):
        c = 0
        while c + 4 <= cols:
            parts[0, image[r, c]] += 1
            parts[1, image[r, c + 1]] += 1
            parts[2, image[r, c + 2]] += 1
            parts[3, image[r, c + 3]] += 1
            c += 4
        while c < cols:
            parts[0, image[r, c]] += 1
            c += 1
    return parts[0] + parts[1] + parts[2] + parts[3]


@_jit
def _dark_histogram(gray_hist: np.ndarray, paper: int) -> np.ndarray:
    """The histogram of max(paper - gray, 0), from the histogram of gray: each darkness
    is one grey level, and everything at or above the paper level is darkness 0."""
    hist = np.zeros(256, np.int64)
    for value in range(1, min(paper, 255) + 1):
        hist[value] = gray_hist[paper - value]
    for level in range(min(paper, 256), 256):
        hist[0] += gray_hist[level]
    return hist


@_jit
def _percentile_of_histogram(hist: np.ndarray, q: float) -> int:
    """np.searchsorted(cumsum(hist), q% of total) on float32, as on cv2.calcHist output."""
    total = np.float32(0.0)
    for i in range(256):
        total += np.float32(hist[i])
    target = np.float32(np.float32(q / 100.0) * total)
    cumulative = np.float32(0.0)
    for i in range(256):
        cumulative += np.float32(hist[i])
        if cumulative >= target:
            return i
    return 256


@_jit
def _otsu_threshold(hist: np.ndarray, pixels: int) -> int:
    """cv2.threshold(..., THRESH_OTSU) on uint8: OpenCV's between-class variance loop."""
    scale = 1.0 / pixels
    mu = 0.0
    for i in range(256):
        mu += i * float(hist[i])
    mu *= scale
    mu1 = 0.0
    q1 = 0.0
    max_sigma = 0.0
    max_val = 0
    eps = 1.1920928955078125e-07  # FLT_EPSILON
    for i in range(256):
        p_i = hist[i] * scale
        mu1 *= q1
        q1 += p_i
        q2 = 1.0 - q1
        if min(q1, q2) < eps or max(q1, q2) > 1.0 - eps:
            continue
        mu1 = (mu1 + i * p_i) / q1
        mu2 = (mu - q1 * mu1) / q2
        sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2)
        if sigma > max_sigma:
            max_sigma = sigma
            max_val = i
    return max_val


@_jit
def _row_opening(mask: np.ndarray, length: int, band: int = -1) -> np.ndarray:
    """cv2.morphologyEx(MORPH_OPEN) with a 1 x length rectangle, anchor at its centre:
    pixels of horizontal runs at least `length` long. As in OpenCV, outside the image
    counts as ink for the erosion, and the dilation uses the reflected window. With
    `band` >= 0 only the first and last `band` rows are computed (the rest stay 0)."""
    rows, cols = mask.shape
    anchor = length // 2
    # The shortest run that can survive: at an edge, or a whole row shorter than the kernel.
    fewest = min(length - anchor, anchor + 1, cols)
    out = np.zeros_like(mask)
    prefix = np.zeros(cols + 1, np.int64)
    cover = np.zeros(cols + 1, np.int64)
    for r in range(rows):
        if 0 <= band <= r < rows - band:
            continue
        ink = 0
        for c in range(cols):
            ink += mask[r, c]
        if ink < fewest:
            continue
        for c in range(cols):
            prefix[c + 1] = prefix[c] + mask[r, c]
        cover[:] = 0
        for x in range(cols):
            lo, hi = max(x - anchor, 0), min(x - anchor + length - 1, cols - 1)
            if prefix[hi + 1] - prefix[lo] == hi - lo + 1:  # eroded pixel survives
                cover[max(x - (length - 1 - anchor), 0)] += 1
                cover[min(x + anchor, cols - 1) + 1] -= 1
        covered = 0
        for c in range(cols):
            covered += cover[c]
            out[r, c] = covered > 0
    return out


@_jit
def _border_runs(mask: np.ndarray, length: int, band: int, max_thickness: int,
                 beside_rows: int, max_inked_beside: float) -> np.ndarray:
    """Printed border lines along the rows of `mask` near its top and bottom: long,
    straight, thin, and with paper on both sides (see the reference's docstring)."""
    rows, cols = mask.shape
    runs = _row_opening(mask, length, band)  # borders live near the edges, not mid-box
    present = np.zeros(rows, np.bool_)
    for r in range(rows):
        if band <= r < rows - band:
            continue
        for c in range(cols):
            if runs[r, c]:
                present[r] = True
                break
    start = 0
    while start < rows:
        if not present[start]:
            start += 1
            continue
        stop = start
        while stop < rows and present[stop]:
            stop += 1
        # Rows beside the line, skipping the one next to it (blur widens hairlines by one).
        above_lo, above_hi = max(0, start - 1 - beside_rows), max(0, start - 1)
        below_lo, below_hi = min(rows, stop + 1), min(rows, stop + 1 + beside_rows)
        inked_share = 0.0
        if above_hi > above_lo or below_hi > below_lo:
            line_columns = 0
            inked_columns = 0
            for c in range(cols):
                on_line = False
                for r in range(start, stop):
                    if runs[r, c]:
                        on_line = True
                        break
                if not on_line:
                    continue
                line_columns += 1
                inked = False
                for r in range(above_lo, above_hi):
                    if mask[r, c]:
                        inked = True
                for r in range(below_lo, below_hi):
                    if mask[r, c]:
                        inked = True
                if inked:
                    inked_columns += 1
            inked_share = inked_columns / line_columns
        if stop - start > max_thickness or inked_share > max_inked_beside:
            for r in range(start, stop):
                runs[r, :] = 0
        start = stop
    return runs


@_jit
def _dilate3(mask: np.ndarray) -> np.ndarray:
    """cv2.dilate with a 3x3 square (outside is paper), as two 3-pixel passes (edges apart,
    so the inner loops have no branches)."""
    rows, cols = mask.shape
    across = np.empty_like(mask)
    for r in range(rows):
        if cols == 1:
            across[r, 0] = mask[r, 0]
            continue
        across[r, 0] = mask[r, 0] | mask[r, 1]
        for c in range(1, cols - 1):
            across[r, c] = mask[r, c - 1] | mask[r, c] | mask[r, c + 1]
        across[r, cols - 1] = mask[r, cols - 2] | mask[r, cols - 1]
    if rows == 1:
        return across
    out = np.empty_like(mask)
    out[0] = across[0] | across[1]
    for r in range(1, rows - 1):
        for c in range(cols):
            out[r, c] = across[r - 1, c] | across[r, c] | across[r + 1, c]
    out[rows - 1] = across[rows - 2] | across[rows - 1]
    return out


@_jit
def _find(parent: np.ndarray, k: int) -> int:
    while parent[k] != k:
        parent[k] = parent[parent[k]]
        k = parent[k]
    return k


@_jit
def _label_runs(mask: np.ndarray):
    """Horizontal runs of ink (row, start, stop) and, for each, the index of the first run
    of its 8-connected component (union-find over runs that touch across rows)."""
    rows, cols = mask.shape
    capacity = rows * ((cols + 1) // 2) + 1
    run_row = np.empty(capacity, np.int64)
    run_start = np.empty(capacity, np.int64)
    run_stop = np.empty(capacity, np.int64)
    parent = np.empty(capacity, np.int64)
    n = 0
    above_first, above_end = 0, 0  # runs of the previous row: [above_first, above_end)
    for r in range(rows):
        row_first = n
        c = 0
        while c < cols:
            if not mask[r, c]:
                c += 1
                continue
            start = c
            while c < cols and mask[r, c]:
                c += 1
            run_row[n], run_start[n], run_stop[n], parent[n] = r, start, c, n
            for k in range(above_first, above_end):  # touching, diagonals included
                if run_start[k] <= c and run_stop[k] >= start:
                    a, b = _find(parent, k), _find(parent, n)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
            n += 1
        above_first, above_end = row_first, n
    for k in range(n):
        parent[k] = _find(parent, k)
    return run_row[:n], run_start[:n], run_stop[:n], parent[:n]


@_jit
def _max_filter_rows(image: np.ndarray, radius: int) -> np.ndarray:
    """The maximum over a window of 2 * radius + 1 along each row, the window cut at the
    edges (cv2.dilate with a 1 x k rectangle): van Herk / Gil-Werman, 3 compares a pixel."""
    rows, cols = image.shape
    k = 2 * radius + 1
    padded = cols + 2 * radius
    blocks = (padded + k - 1) // k * k
    out = np.empty_like(image)
    forward = np.zeros(blocks, np.uint8)
    backward = np.zeros(blocks, np.uint8)
    line = np.zeros(blocks, np.uint8)  # 0 beyond the edges: never above real paper
    for r in range(rows):
        line[radius: radius + cols] = image[r]
        for i in range(blocks):
            forward[i] = line[i] if i % k == 0 else max(forward[i - 1], line[i])
        for i in range(blocks - 1, -1, -1):
            backward[i] = line[i] if (i + 1) % k == 0 else max(backward[i + 1], line[i])
        for c in range(cols):
            out[r, c] = max(backward[c], forward[c + k - 1])
    return out


@_jit
def _mean3(gray: np.ndarray) -> np.ndarray:
    """The rounded mean of each 3x3 neighbourhood, edges mirrored (reflect-101): averages
    paper grain and JPEG noise down before faint strokes are looked for."""
    rows, cols = gray.shape
    out = np.empty_like(gray)
    for r in range(rows):
        for c in range(cols):
            total = 0
            for dr in range(-1, 2):
                rr = abs(r + dr)
                rr = 2 * (rows - 1) - rr if rr >= rows else rr
                rr = min(max(rr, 0), rows - 1)
                for dc in range(-1, 2):
                    cc = abs(c + dc)
                    cc = 2 * (cols - 1) - cc if cc >= cols else cc
                    cc = min(max(cc, 0), cols - 1)
                    total += np.int64(gray[rr, cc])
            out[r, c] = (total + 4) // 9
    return out


@_jit
def _local_darkness(gray: np.ndarray, radius: int) -> np.ndarray:
    """How much darker each pixel is than the brightest paper around it (uint8): contrast
    to the local paper, so shading and lamp gradients do not count as ink."""
    paper = _max_filter_rows(_max_filter_rows(gray, radius).T.copy(), radius).T
    rows, cols = gray.shape
    dark = np.empty((rows, cols), np.uint8)
    for r in range(rows):
        for c in range(cols):
            value = np.int64(paper[r, c]) - np.int64(gray[r, c])
            dark[r, c] = value if value > 0 else 0
    return dark


@_jit
def _digit_ink(gray: np.ndarray, p: np.ndarray, ink: np.ndarray) -> bool:
    """Writes the digit's ink darkness, borders and specks removed, into `ink` (zeroed);
    False for a blank box.

    Ink is first measured against the paper level of the whole crop with a fixed minimum
    contrast. A box that holds no ink by that measure is looked at once more for faint
    strokes (light pencil): on the crop averaged over 3x3 pixels, darkness against the local
    paper, thresholds set by the paper's own noise, so grain and shading stay paper."""
    rows, cols = gray.shape
    gray_hist = _histogram(gray)
    paper = _percentile_of_histogram(gray_hist, p[PAPER_PERCENTILE])
    dark = np.empty((rows, cols), np.uint8)
    for r in range(rows):
        for c in range(cols):
            value = paper - np.int64(gray[r, c])
            dark[r, c] = value if value > 0 else 0
    otsu = _otsu_threshold(_dark_histogram(gray_hist, paper), rows * cols)
    high = max(float(otsu), p[MIN_CONTRAST])
    low = max(p[LOW_CONTRAST], high * p[LOW_FRACTION])
    if _kept_ink(dark, high, low, np.inf, p, ink):
        return True
    if not p[FAINT_PASS]:
        return False
    # What that pass already judged (dark borders, specks and marks, with their blurred
    # edges) is no faint stroke: the faint pass sees only the rest.
    judged = np.empty((rows, cols), np.uint8)
    for r in range(rows):
        for c in range(cols):
            judged[r, c] = dark[r, c] > high
    judged = _dilate3(_dilate3(judged))
    radius = max(1, _round(max(rows, cols) * p[FAINT_PAPER_WINDOW] / 2))
    dark = _local_darkness(_mean3(gray), radius)
    hist = _histogram(dark)
    median = _percentile_of_histogram(hist, 50.0)
    spread = max(1, median - _percentile_of_histogram(hist, 16.0))  # ~ the paper's noise
    for r in range(rows):
        for c in range(cols):
            if judged[r, c]:
                dark[r, c] = 0
    high = max(p[FAINT_MIN_CONTRAST], median + p[FAINT_HIGH_SPREADS] * spread)
    low = max(p[FAINT_LOW_CONTRAST], median + p[FAINT_LOW_SPREADS] * spread)
    return _kept_ink(dark, high, low, p[FAINT_STROKE_AREA] * rows * cols, p, ink)


@_jit
def _kept_ink(dark: np.ndarray, high: float, low: float, stroke_area: float, p: np.ndarray,
              ink: np.ndarray) -> bool:
    """The marks of `dark` (darkness) that belong to the digit, into `ink`: pixels above
    `low` joined to some above `high` (or `stroke_area` pixels of them joined: a long faint
    stroke, where noise makes only small flecks), printed border lines, specks and marks
    outside the box left out. False when none is left."""
    rows, cols = dark.shape
    low_floor = math.floor(low)  # cv2.threshold on uint8 compares with floor(thresh)
    strongest = 0
    mask = np.empty((rows, cols), np.uint8)
    for r in range(rows):
        for c in range(cols):
            mask[r, c] = dark[r, c] > low_floor
            strongest = max(strongest, dark[r, c])
    if not strongest > high and stroke_area == np.inf:
        return False

    def along(n_rows: int, n_cols: int) -> tuple[int, int, int, int]:
        return (max(3, _round(n_cols * p[BORDER_LINE_FRACTION])),
                max(1, _round(n_rows * p[BORDER_BAND])),
                max(2, _round(n_rows * p[BORDER_MAX_THICKNESS])),
                max(1, _round(n_rows * p[BORDER_SIDE_ROWS])))

    length, band, thickness, beside = along(rows, cols)
    horizontal = _border_runs(mask, length, band, thickness, beside,
                              p[BORDER_MAX_INKED_BESIDE])
    length, band, thickness, beside = along(cols, rows)
    vertical = _border_runs(np.ascontiguousarray(mask.T), length, band, thickness, beside,
                            p[BORDER_MAX_INKED_BESIDE])
    lines = horizontal | vertical.T
    if lines.any():
        lines = _dilate3(lines)
        for r in range(rows):
            for c in range(cols):
                if lines[r, c]:
                    mask[r, c] = 0

    # Connected components, 8-connectivity (cv2.connectedComponentsWithStats), labelled
    # by runs: horizontal runs of ink, joined when they touch a run of the row above.
    run_row, run_start, run_stop, parent = _label_runs(mask)
    n_runs = len(run_row)
    left = np.full(n_runs, cols, np.int64)
    right = np.full(n_runs, -1, np.int64)
    top = np.full(n_runs, rows, np.int64)
    bottom = np.full(n_runs, -1, np.int64)
    area = np.zeros(n_runs, np.int64)
    inner_area = np.zeros(n_runs, np.int64)
    has_strong = np.zeros(n_runs, np.bool_)
    inner_rows, inner_cols = _round(rows * p[INNER_BAND]), _round(cols * p[INNER_BAND])
    for k in range(n_runs):
        root = parent[k]
        r, start, stop = run_row[k], run_start[k], run_stop[k]
        left[root] = min(left[root], start)
        right[root] = max(right[root], stop - 1)
        top[root] = min(top[root], r)
        bottom[root] = max(bottom[root], r)
        area[root] += stop - start
        if inner_rows <= r < rows - inner_rows:
            inner_area[root] += max(0, min(stop, cols - inner_cols) - max(start, inner_cols))
        if not has_strong[root]:
            for c in range(start, stop):
                if dark[r, c] > high:
                    has_strong[root] = True
                    break

    h, w = rows, cols
    band_h, band_w = h * p[INNER_BAND], w * p[INNER_BAND]
    keep = np.zeros(n_runs, np.bool_)
    kept_area = 0
    for label in range(n_runs):
        if parent[label] != label:
            continue
        x, y = left[label], top[label]
        bw, bh = right[label] - x + 1, bottom[label] - y + 1
        cx, cy = x + bw / 2, y + bh / 2
        thin_x, thin_y = bw <= p[THIN_EXTENT] * w, bh <= p[THIN_EXTENT] * h
        centre_x = cx > p[THIN_CENTRE_BAND] * w and cx < (1 - p[THIN_CENTRE_BAND]) * w
        centre_y = cy > p[THIN_CENTRE_BAND] * h and cy < (1 - p[THIN_CENTRE_BAND]) * h
        # A mark counts if it holds real ink, is no speck and reaches into the inner area.
        keep[label] = (
            (has_strong[label] or area[label] >= stroke_area)
            and area[label] >= p[SPECK_AREA] * h * w
            and x + bw > band_w and x < w - band_w
            and y + bh > band_h and y < h - band_h
            and (not thin_x or centre_x) and (not thin_y or centre_y)
            and inner_area[label] >= p[MIN_INNER_SHARE] * area[label]
        )
        if keep[label]:
            kept_area += area[label]
    if kept_area == 0 or kept_area < p[MIN_INK_AREA] * h * w:
        return False
    kept = np.zeros((rows, cols), np.uint8)
    for k in range(n_runs):
        if keep[parent[k]]:
            kept[run_row[k], run_start[k]: run_stop[k]] = 1
    # Keep the anti-aliased fringe of kept strokes (MNIST digits have soft edges).
    fringe = _dilate3(kept)
    for r in range(rows):
        for c in range(cols):
            ink[r, c] = dark[r, c] if fringe[r, c] else 0
    return True


@_jit
def _resize_u8_area(src: np.ndarray, out_rows: int, out_cols: int) -> np.ndarray:
    """cv2.resize(INTER_AREA) of uint8 to a size no larger: whole-number ratios average
    blocks with integer sums, others go through the float area weights."""
    rows, cols = src.shape
    ratio_x, ratio_y = 1.0 / (out_cols / cols), 1.0 / (out_rows / rows)  # as OpenCV rounds
    block_x, block_y = int(ratio_x), int(ratio_y)
    out = np.empty((out_rows, out_cols), np.uint8)
    eps = 2.220446049250313e-16  # DBL_EPSILON
    if abs(ratio_x - block_x) < eps and abs(ratio_y - block_y) < eps:
        if block_x == 2 and block_y == 2:
            for r in range(out_rows):
                for c in range(out_cols):
                    total = (np.int64(src[2 * r, 2 * c]) + src[2 * r, 2 * c + 1]
                             + src[2 * r + 1, 2 * c] + src[2 * r + 1, 2 * c + 1])
                    out[r, c] = (total + 2) >> 2
            return out
        inverse_area = np.float32(1.0 / (block_x * block_y))
        for r in range(out_rows):
            for c in range(out_cols):
                total = 0
                for rr in range(r * block_y, (r + 1) * block_y):
                    for cc in range(c * block_x, (c + 1) * block_x):
                        total += src[rr, cc]
                out[r, c] = min(255, int(np.rint(np.float32(total) * inverse_area)))
        return out
    means = _resize_area(src, out_rows, out_cols)
    for r in range(out_rows):
        for c in range(out_cols):
            out[r, c] = min(255, max(0, int(np.rint(means[r, c]))))
    return out


@_jit
def _fixed_linear_taps(size: int, out_size: int, clamp_weight: bool):
    index, weight = _linear_taps(size, out_size, clamp_weight)
    fixed = np.empty((out_size, 2), np.int64)
    for d in range(out_size):
        fixed[d, 0] = int(np.rint((np.float32(1.0) - weight[d]) * np.float32(2048.0)))
        fixed[d, 1] = int(np.rint(weight[d] * np.float32(2048.0)))
    return index, fixed


@_jit
def _resize_u8_linear(src: np.ndarray, out_rows: int, out_cols: int) -> np.ndarray:
    """cv2.resize(INTER_LINEAR) of uint8 to a size no smaller: OpenCV's 11-bit fixed-point
    weights and the rounding of its vectorised vertical pass."""
    rows, cols = src.shape
    xs, wx = _fixed_linear_taps(cols, out_cols, True)
    ys, wy = _fixed_linear_taps(rows, out_rows, False)
    across = np.empty((rows, out_cols), np.int64)
    for r in range(rows):
        for d in range(out_cols):
            s = xs[d]
            if s + 1 < cols:
                across[r, d] = np.int64(src[r, s]) * wx[d, 0] + np.int64(src[r, s + 1]) * wx[d, 1]
            else:
                across[r, d] = np.int64(src[r, s]) * wx[d, 0]
    out = np.empty((out_rows, out_cols), np.uint8)
    for d in range(out_rows):
        r0 = min(max(ys[d], 0), rows - 1)
        r1 = min(max(ys[d] + 1, 0), rows - 1)
        b0, b1 = wy[d, 0], wy[d, 1]
        for c in range(out_cols):
            value = ((((across[r0, c] >> 4) * b0) >> 16) + (((across[r1, c] >> 4) * b1) >> 16)
                     + 2) >> 2
            out[d, c] = min(255, max(0, value))
    return out


@_jit
def _to_work_size(gray: np.ndarray, side: int) -> np.ndarray:
    """The crop scaled so its longer side is `side` (cv2.resize, INTER_AREA to shrink)."""
    rows, cols = gray.shape
    scale = side / max(rows, cols)
    out_rows, out_cols = max(1, _round(rows * scale)), max(1, _round(cols * scale))
    if scale < 1:
        return _resize_u8_area(gray, out_rows, out_cols)
    return _resize_u8_linear(gray, out_rows, out_cols)


@_jit
def _resize_area(src: np.ndarray, out_rows: int, out_cols: int) -> np.ndarray:
    """cv2.resize(INTER_AREA) to a size no larger, in float32: area-weighted means, summed
    in OpenCV's order (each source row across, then the rows down). Rows are turned into
    columns so that each tap of the pass across is one contiguous multiply-add over all
    rows (vectorised); the sums go back to rows for the pass down."""
    rows, cols = src.shape
    x_src, x_dst, x_alpha, nx = _area_table(cols, out_cols)
    y_src, y_dst, y_alpha, ny = _area_table(rows, out_rows)
    across = np.zeros((out_cols, rows), np.float32)  # across[dx] = output column dx, all rows
    block = 256  # rows turned into columns at a time: bounded memory for huge crops
    columns = np.empty((cols, min(rows, block)), np.float32)
    for r0 in range(0, rows, block):
        r1 = min(rows, r0 + block)
        for r in range(r0, r1):
            for c in range(cols):
                columns[c, r - r0] = src[r, c]
        for k in range(nx):  # each output's taps come together, in order
            into, taps, alpha = across[x_dst[k], r0:r1], columns[x_src[k]], x_alpha[k]
            for r in range(r1 - r0):
                into[r] += taps[r] * alpha
    summed = across.T.copy()  # summed[r] = source row r across
    out = np.zeros((out_rows, out_cols), np.float32)
    for j in range(ny):
        into, row, alpha = out[y_dst[j]], summed[y_src[j]], y_alpha[j]
        for dx in range(out_cols):
            into[dx] += alpha * row[dx]
    return out


@_jit
def _area_table(size: int, out_size: int):
    scale = 1.0 / (out_size / size)  # as OpenCV rounds
    src = np.empty(size * 2 + out_size * 2, np.int64)
    dst = np.empty_like(src)
    alpha = np.empty(src.shape[0], np.float32)
    k = 0
    for d in range(out_size):
        f1 = d * scale
        f2 = f1 + scale
        cell = min(scale, size - f1)
        s1 = math.ceil(f1)
        s2 = min(math.floor(f2), size - 1)
        s1 = min(s1, s2)
        if s1 - f1 > 1e-3:
            src[k], dst[k], alpha[k] = s1 - 1, d, (s1 - f1) / cell
            k += 1
        for s in range(s1, s2):
            src[k], dst[k], alpha[k] = s, d, 1.0 / cell
            k += 1
        if f2 - s2 > 1e-3:
            src[k], dst[k], alpha[k] = s2, d, min(min(f2 - s2, 1.0), cell) / cell
            k += 1
    return src, dst, alpha, k


@_jit
def _linear_taps(size: int, out_size: int, clamp_weight: bool):
    """OpenCV's INTER_LINEAR source index and weight of each output pixel (half-pixel
    centres; at the edges the nearest pixel)."""
    scale = 1.0 / (out_size / size)
    index = np.empty(out_size, np.int64)
    weight = np.empty(out_size, np.float32)
    for d in range(out_size):
        f = np.float32((d + 0.5) * scale - 0.5)
        s = math.floor(f)
        f = np.float32(f - s)
        if clamp_weight and s < 0:
            f, s = np.float32(0.0), 0
        if clamp_weight and s >= size - 1:
            f, s = np.float32(0.0), size - 1
        index[d], weight[d] = s, f
    return index, weight


@_jit
def _resize_linear(src: np.ndarray, out_rows: int, out_cols: int) -> np.ndarray:
    """cv2.resize(INTER_LINEAR) of a float32 image to a size no smaller."""
    rows, cols = src.shape
    xs, fx = _linear_taps(cols, out_cols, True)
    ys, fy = _linear_taps(rows, out_rows, False)
    out = np.empty((out_rows, out_cols), np.float32)
    row0 = np.empty(out_cols, np.float32)
    row1 = np.empty(out_cols, np.float32)
    for dy in range(out_rows):
        r0 = min(max(ys[dy], 0), rows - 1)
        r1 = min(max(ys[dy] + 1, 0), rows - 1)
        for dx in range(out_cols):
            s = xs[dx]
            if s + 1 < cols:
                a = np.float32(1.0) - fx[dx]
                row0[dx] = src[r0, s] * a + src[r0, s + 1] * fx[dx]
                row1[dx] = src[r1, s] * a + src[r1, s + 1] * fx[dx]
            else:
                row0[dx] = src[r0, s]
                row1[dx] = src[r1, s]
        b1 = fy[dy]
        b0 = np.float32(1.0) - b1
        for dx in range(out_cols):
            out[dy, dx] = row0[dx] * b0 + row1[dx] * b1
    return out


@_jit
def _blend_across(src: np.ndarray, row: int, col: int, weight: np.float32) -> np.float32:
    """src[row, col] and src[row, col + 1] blended by `weight`, outside the image 0."""
    rows, cols = src.shape
    if not 0 <= row < rows:
        return np.float32(0.0)
    left = src[row, col] if col >= 0 else np.float32(0.0)
    right = src[row, col + 1] if col + 1 < cols else np.float32(0.0)
    return left * (np.float32(1.0) - weight) + right * weight


@_jit
def _shift_bilinear(src: np.ndarray, tx: float, ty: float) -> np.ndarray:
    """cv2.warpAffine by a translation into 28x28 (INTER_LINEAR, constant 0 border);
    OpenCV 5 interpolates at float32 source positions. Only the output pixels the source
    reaches are computed (the digit covers about half of the 28x28)."""
    rows, cols = src.shape
    out = np.zeros((MNIST_SIDE, MNIST_SIDE), np.float32)
    shift_x, shift_y = np.float32(-tx), np.float32(-ty)
    one = np.float32(1.0)
    out_x = np.empty(MNIST_SIDE, np.int64)  # the output columns the source reaches...
    xs = np.empty(MNIST_SIDE, np.int64)  # ...their source column and weight
    wx = np.empty(MNIST_SIDE, np.float32)
    reached = 0
    for x in range(MNIST_SIDE):
        fx = np.float32(x) + shift_x
        sx = math.floor(fx)
        if sx >= cols or sx + 1 < 0:
            continue
        out_x[reached], xs[reached], wx[reached] = x, sx, np.float32(fx - sx)
        reached += 1
    for y in range(MNIST_SIDE):
        fy = np.float32(y) + shift_y
        sy = math.floor(fy)
        ay = np.float32(fy - sy)
        if sy >= rows or sy + 1 < 0:
            continue
        for k in range(reached):
            top = _blend_across(src, sy, xs[k], wx[k])
            bottom = _blend_across(src, sy + 1, xs[k], wx[k])
            out[y, out_x[k]] = top * (one - ay) + bottom * ay
    return out


@_jit
def _to_mnist(ink: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Fits the ink into 20x20 keeping its aspect, centred by mass in 28x28 (float32)."""
    rows, cols = ink.shape
    top, bottom, left, right = rows, -1, cols, -1
    for r in range(rows):
        for c in range(cols):
            if ink[r, c]:
                top, bottom = min(top, r), max(bottom, r)
                left, right = min(left, c), max(right, c)
    h, w = bottom - top + 1, right - left + 1
    hist = _histogram(ink[top: bottom + 1, left: right + 1])
    hist[0] = 0  # the percentile of ink pixels only
    strong = _percentile_of_histogram(hist, p[INK_PERCENTILE])
    gain = np.float32(1.0 / max(strong, 1))
    digit = np.empty((h, w), np.float32)
    for r in range(h):
        for c in range(w):
            digit[r, c] = min(np.float32(ink[top + r, left + c]) * gain, np.float32(1.0))
    extent = max(float(h), float(w), p[MIN_DIGIT_EXTENT] * max(rows, cols))
    scale = MNIST_DIGIT_SIDE / extent
    out_cols = max(1, int(np.rint(w * scale)))
    out_rows = max(1, int(np.rint(h * scale)))
    if scale < 1:
        small = _resize_area(digit, out_rows, out_cols)
    else:
        small = _resize_linear(digit, out_rows, out_cols)
    m00 = m10 = m01 = 0.0
    for r in range(out_rows):
        for c in range(out_cols):
            v = float(small[r, c])
            m00 += v
            m10 += c * v
            m01 += r * v
    if m00 <= 0:
        cy, cx = (out_rows - 1) / 2, (out_cols - 1) / 2
    else:
        cx, cy = m10 / m00, m01 / m00
    centre = (MNIST_SIDE - 1) / 2
    tx = float(np.float32(centre - cx))  # the reference passes a float32 matrix
    ty = float(np.float32(centre - cy))
    return _shift_bilinear(small, tx, ty)


@_jit
def preprocess_packed(pixels: np.ndarray, offsets: np.ndarray, shapes: np.ndarray,
                      side: int, p: np.ndarray, images: np.ndarray, blank: np.ndarray) -> None:
    """Crops packed end to end in `pixels` (crop i: rows x cols = shapes[i] from
    offsets[i]) → images (N, 28, 28) float32 and blank (N,) bool, written in place."""
    for i in range(shapes.shape[0]):
        rows, cols = shapes[i, 0], shapes[i, 1]
        gray = pixels[offsets[i]: offsets[i] + rows * cols].reshape((rows, cols))
        work = _to_work_size(gray, side)
        ink = np.empty(work.shape, np.uint8)
        if _digit_ink(work, p, ink):
            blank[i] = False
            images[i] = _to_mnist(ink, p)
        else:
            blank[i] = True
            images[i] = 0
