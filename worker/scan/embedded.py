"""Scanned pages decoded straight from their JPEG, without rendering the page.

A scanner's PDF page is, almost always, one JPEG image painted over the whole page. Such a
page is decoded here directly, at the scale the pipeline needs: libjpeg-turbo's DCT scaling
(to 7/8, 6/8 ... 1/8) decodes a 200 or 300 DPI scan at 150 DPI for a fraction of a full
decode, then the image is turned as the page shows it and sized exactly as pdftoppm would
render the page. Anything else on a page (vector drawings, text, annotations, several
images, masks, colour spaces other than grey and RGB, another compression) leaves that page
to poppler: `direct_plans` only plans the pages it is sure of, and a page whose JPEG fails
to decode goes to poppler too (which then reports the damage in its own way).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from worker.sheets.units import POINTS_PER_INCH

if TYPE_CHECKING:
    import pikepdf

log = logging.getLogger(__name__)

# The image must cover the page's media box to within this (points): a scan fills its page.
COVER_TOLERANCE_PT = 1.0
PAINTING_OPERATORS = {"q", "Q", "cm", "Do"}  # a page that only places one image
JPEG_COLOUR_SPACES = {"/DeviceGray": 1, "/DeviceRGB": 3}  # name -> JPEG components


@dataclass(frozen=True)
class DirectPage:
    """How to turn a page's one JPEG into the page as poppler would render it."""

    objgen: tuple[int, int]  # the image XObject
    width: int  # of the JPEG, in pixels
    height: int
    transpose: bool  # image columns run down the page
    flip_rows: bool  # after transposing: the image's first row is at the bottom
    flip_cols: bool
    media_size_pt: tuple[float, float]  # the media box, before the page's /Rotate
    rotate: int  # the page's /Rotate, clockwise degrees, a multiple of 90


def direct_plans(pdf: pikepdf.Pdf, first: int, last: int) -> dict[int, DirectPage]:
    """The pages of first..last (1-based) that are one embedded JPEG and nothing else."""
    plans = {}
    for number in range(first, last + 1):
        try:
            plan = _plan(pdf.pages[number - 1])
        except Exception:  # anything unexpected: poppler renders the page as before
            log.debug("page %d: not decoded directly", number, exc_info=True)
            plan = None
        if plan is not None:
            plans[number] = plan
    return plans


def _plan(page: pikepdf.Page) -> DirectPage | None:
    import pikepdf

    if page.obj.get("/Annots"):
        return None  # poppler draws annotations' appearances over the scan
    rotate = int(page.obj.get("/Rotate", 0)) % 360
    if rotate % 90:
        return None
    instructions = pikepdf.parse_content_stream(page)
    if any(str(op) not in PAINTING_OPERATORS for _operands, op in instructions):
        return None
    painted = [operands for operands, op in instructions if str(op) == "Do"]
    if len(painted) != 1:
        return None
    matrix = _placement(instructions)
    xobjects = page.obj.get("/Resources", {}).get("/XObject", {})
    image = xobjects.get(painted[0][0])
    if matrix is None or not isinstance(image, pikepdf.Stream):
        return None
    if not _plain_jpeg(image):
        return None
    media = [float(v) for v in page.obj.MediaBox]
    x0, y0, x1, y1 = min(media[0], media[2]), min(media[1], media[3]), \
        max(media[0], media[2]), max(media[1], media[3])
    a, b, c, d, e, f = matrix
    corners = [(e, f), (a + e, b + f), (c + e, d + f), (a + c + e, b + d + f)]
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    if max(abs(min(xs) - x0), abs(max(xs) - x1), abs(min(ys) - y0),
           abs(max(ys) - y1)) > COVER_TOLERANCE_PT:
        return None
    # The image's columns run along u, its rows down from v = 1 (its top) to v = 0; the page
    # is shown with y downwards. Which way do they run on the page?
    if abs(b) < 1e-9 and abs(c) < 1e-9 and abs(a) > 0 and abs(d) > 0:
        transpose, flip_rows, flip_cols = False, d < 0, a < 0
    elif abs(a) < 1e-9 and abs(d) < 1e-9 and abs(b) > 0 and abs(c) > 0:
        # columns run along the page's y axis, rows along its x axis: transposed, the rows
        # (the image's columns) run up the page when b > 0, the columns to the left when c > 0
        transpose, flip_rows, flip_cols = True, b > 0, c > 0
    else:
        return None  # a skewed placement: poppler resamples it
    return DirectPage(image.objgen, int(image.Width), int(image.Height), transpose,
                      flip_rows, flip_cols, (x1 - x0, y1 - y0), rotate)


def _placement(instructions) -> tuple[float, ...] | None:
    """The matrix the image is painted with: the `cm`s in force at its `Do`."""
    stack: list[np.ndarray] = []
    current = np.eye(3)
    for operands, op in instructions:
        name = str(op)
        if name == "q":
            stack.append(current.copy())
        elif name == "Q":
            if not stack:
                return None
            current = stack.pop()
        elif name == "cm":
            a, b, c, d, e, f = (float(v) for v in operands)
            current = np.array([[a, b, 0], [c, d, 0], [e, f, 1]]) @ current
        elif name == "Do":
            return (current[0, 0], current[0, 1], current[1, 0], current[1, 1],
                    current[2, 0], current[2, 1])
    return None


def _plain_jpeg(image: pikepdf.Stream) -> bool:
    """An 8-bit grey or RGB baseline image, JPEG-compressed and nothing else."""
    import pikepdf

    if image.get("/Subtype") != pikepdf.Name.Image or image.get("/ImageMask"):
        return False
    filters = image.get("/Filter")
    if isinstance(filters, pikepdf.Array):
        filters = filters[0] if len(filters) == 1 else None
    if filters != pikepdf.Name.DCTDecode:
        return False
    if any(key in image for key in ("/Decode", "/Mask", "/SMask", "/DecodeParms")):
        return False
    return (int(image.get("/BitsPerComponent", 0)) == 8
            and str(image.get("/ColorSpace")) in JPEG_COLOUR_SPACES)


def rendered_size(size_pt: tuple[float, float], dpi: int) -> tuple[int, int]:
    """(width, height) in pixels of a page rendered at `dpi`, rounded up as pdftoppm does
    (a side of an exact number of pixels poppler may make one larger)."""
    return (math.ceil(size_pt[0] / POINTS_PER_INCH * dpi),
            math.ceil(size_pt[1] / POINTS_PER_INCH * dpi))


def page_jpeg(pdf: pikepdf.Pdf, plan: DirectPage) -> bytes:
    """The page's JPEG as stored in the PDF (one thread at a time: pikepdf is not made for
    several)."""
    return pdf.get_object(plan.objgen).read_raw_bytes()


def decode_page(pdf: pikepdf.Pdf, plan: DirectPage, dpi: int) -> np.ndarray | None:
    """The page as a greyscale image at `dpi`, the size pdftoppm gives it; None when the
    JPEG does not decode as its page describes it (poppler then takes the page)."""
    return decode_page_jpeg(page_jpeg(pdf, plan), plan, dpi)


def decode_page_jpeg(data: bytes, plan: DirectPage, dpi: int) -> np.ndarray | None:
    """decode_page from the JPEG's bytes; libjpeg runs outside the GIL, so pages decode side
    by side in threads."""
    import cv2
    import simplejpeg

    try:
        height, width, _colour, _subsampling = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    if (width, height) != (plan.width, plan.height):
        return None
    out_w, out_h = rendered_size(plan.media_size_pt, dpi)  # before the page's turn
    need_w, need_h = (out_h, out_w) if plan.transpose else (out_w, out_h)
    try:  # the smallest DCT scale at least as large as the page at `dpi`
        gray = simplejpeg.decode_jpeg(data, colorspace="GRAY", min_width=min(need_w, width),
                                      min_height=min(need_h, height))[..., 0]
    except ValueError:
        return None
    if plan.transpose:
        gray = gray.T
    if plan.flip_rows:
        gray = gray[::-1]
    if plan.flip_cols:
        gray = gray[:, ::-1]
    if gray.shape != (out_h, out_w):
        shrinking = gray.shape[0] > out_h
        gray = cv2.resize(np.ascontiguousarray(gray), (out_w, out_h),
                          interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if plan.rotate:
        gray = np.rot90(gray, k=-(plan.rotate // 90))
    return np.ascontiguousarray(gray)
