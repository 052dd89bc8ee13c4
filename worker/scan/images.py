"""Photos and image scans as pages: JPEG, PNG, WebP, HEIC/HEIF and TIFF (every page of a
multi-page TIFF, as scanners write them), one page per image.

An image has no trustworthy DPI (a phone writes 72 whatever it saw), so its page gets a
nominal one from its size and the scale actually used is measured from the sheet's markers
(worker.scan.align). Large photos are reduced while they are decoded (a JPEG by libjpeg's
DCT scaling, at a fraction of a full decode) to `photo_max_side_px`, so the cost of a page
does not grow with the camera's megapixels. EXIF orientation is applied first.

Whole-file problems raise `ImageFileError` (worker.scan.errors) in words; a frame that
fails to decode becomes that page's error and the others are still read.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scangrade.config.scan import ScanSettings
from worker.scan.errors import ScanFileError
from worker.scan.rasterize import RasterPage

log = logging.getLogger(__name__)

# Magic numbers of the image kinds read, at the start of the file (HEIF: the ISO-BMFF
# `ftyp` box at byte 4 with one of these brands).
HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1",
               b"avif")
IMAGE_KINDS_IN_WORDS = "JPEG, PNG, WebP, HEIC or TIFF"


class ImageFileError(ScanFileError):
    pass


def image_kind(head: bytes) -> str | None:
    """'jpeg', 'png', 'webp', 'tiff' or 'heif' from a file's first bytes, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "heif"
    return None


@dataclass(frozen=True)
class ImageInfo:
    """An inspected image file: its pages (frames), each read as one page."""

    path: Path
    n_pages: int
    note: str = ""
    damaged_pages: tuple[int, ...] = field(default=())

    @property
    def rendered(self) -> Path:
        return self.path


def _register_heif() -> None:
    from pillow_heif import register_heif_opener

    register_heif_opener()


def inspect_image(path: str | Path, settings: ScanSettings) -> ImageInfo:
    """Checks that `path` is an image of a kind read here, not too large, and counts its
    pages, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ImageFileError(f"{name}: no such file")
    with path.open("rb") as fh:
        kind = image_kind(fh.read(16))
    if kind is None:
        raise ImageFileError(f"{name} is not an image scangrade reads ({IMAGE_KINDS_IN_WORDS})")
    if kind == "heif":
        _register_heif()
    try:
        with Image.open(path) as image:
            width, height = image.size
            frames = getattr(image, "n_frames", 1) if kind == "tiff" else 1
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        log.info("opening %s", path, exc_info=True)
        raise ImageFileError(f"{name} is a damaged {kind.upper()} image ({type(exc).__name__});"
                             " take the photo again, or save it again and upload that") from exc
    except Image.DecompressionBombError as exc:
        raise _too_large(name, settings) from exc
    if width * height > settings.max_image_pixels:
        raise _too_large(name, settings)
    if frames > settings.max_pages:
        raise ImageFileError(f"{name} has {frames} pages; at most {settings.max_pages} are"
                             " accepted (setting max_pages); split it into smaller files")
    return ImageInfo(path, frames)


def _too_large(name: str, settings: ScanSettings) -> ImageFileError:
    return ImageFileError(f"{name} is larger than {settings.max_image_pixels:,} pixels (setting"
                          " max_image_pixels); take the photo at a lower resolution")


def nominal_dpi(gray: np.ndarray, settings: ScanSettings) -> int:
    """A DPI for a photo before its markers give its scale: the one at which the first
    marker search (at marker_detect_dpi) looks at a `photo_detect_side_px` copy."""
    return max(1, round(settings.marker_detect_dpi * max(gray.shape)
                        / settings.photo_detect_side_px))


def decode_page(info: ImageInfo, number: int, max_side_px: int) -> np.ndarray:
    """Page `number` (1-based) of an image file as upright greyscale, its longest side at most
    `max_side_px`. Raises what the decoder raises for a damaged image."""
    import cv2
    from PIL import Image, ImageOps

    with Image.open(info.path) as image:
        if number > 1:
            image.seek(number - 1)
        longest = max(image.size)
        if longest > max_side_px and image.format == "JPEG":
            ratio = max_side_px / longest
            # libjpeg decodes at 1/2, 1/4 or 1/8 when the result still covers this size
            image.draft("L", (math.ceil(image.size[0] * ratio), math.ceil(image.size[1] * ratio)))
        upright = ImageOps.exif_transpose(image)
        gray = np.asarray(upright.convert("L"))
    longest = max(gray.shape)
    if longest > max_side_px:
        scale = max_side_px / longest
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(gray)


def decode_pages(info: ImageInfo, first: int, last: int, settings: ScanSettings
                 ) -> list[RasterPage]:
    """Pages first..last, each decoded or with an error that says why not."""
    pages = []
    for number in range(first, last + 1):
        try:
            gray = decode_page(info, number, settings.photo_max_side_px)
        except Exception as exc:  # a truncated or damaged image: this page only
            log.info("decoding %s page %d", info.path, number, exc_info=True)
            where = info.path.name if info.n_pages == 1 else f"{info.path.name} page {number}"
            pages.append(RasterPage(number, 0, None, f"{where} cannot be decoded (the image is"
                                    f" damaged or cut off: {type(exc).__name__}); take the"
                                    " photo again"))
            continue
        pages.append(RasterPage(number, nominal_dpi(gray, settings), gray, nominal=True))
    return pages


def iter_image_chunks(info: ImageInfo, settings: ScanSettings, first: int, last: int
                      ) -> Iterator[list[RasterPage]]:
    """Decoded pages in chunks of `chunk_pages`, made one at a time as they are asked for."""
    for start in range(first, last + 1, settings.chunk_pages):
        yield decode_pages(info, start, min(last, start + settings.chunk_pages - 1), settings)
