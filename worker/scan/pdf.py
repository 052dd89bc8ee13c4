"""Scanned PDFs checked as files: readable, unencrypted, 1..max_pages pages, page count known.

Whole-file problems (not a PDF, truncated, encrypted, no pages, too many pages) raise a
`PdfError` subclass whose message says what is wrong and what to do; nothing is rasterized
before a file has passed. A run inspects each file once: the `PdfInfo` it gets travels on
to rasterizing, the page numbering across files and review.pdf.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from scangrade.config.scan import ScanSettings

# Bytes searched for the PDF header and the end-of-file marker. Readers (Acrobat, poppler)
# accept a header within the first 1 KiB; an `%%EOF` may be followed by a little junk.
HEADER_SEARCH_BYTES = 1024
PDF_MAGIC = b"%PDF-"  # the header every PDF starts with, within HEADER_SEARCH_BYTES
TRAILER_SEARCH_BYTES = 2048


class PdfError(ValueError):
    """The file as a whole cannot be read as scanned pages. The message says why."""


class NotAPdfError(PdfError):
    pass


class TruncatedPdfError(PdfError):
    pass


class DamagedPdfError(PdfError):
    pass


class EncryptedPdfError(PdfError):
    pass


class EmptyPdfError(PdfError):
    pass


class TooManyPagesError(PdfError):
    pass


@dataclass(frozen=True)
class PdfInfo:
    path: Path
    n_pages: int


def inspect_pdf(path: str | Path, settings: ScanSettings) -> PdfInfo:
    """Check that `path` is a readable, unencrypted PDF with 1..max_pages pages."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, PdfReadError, PyPdfError

    path = Path(path)
    name = path.name
    if not path.is_file():
        raise NotAPdfError(f"{name}: no such file")
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(HEADER_SEARCH_BYTES)
        fh.seek(max(0, size - TRAILER_SEARCH_BYTES))
        tail = fh.read()
    if PDF_MAGIC not in head:
        raise NotAPdfError(
            f"{name} is not a PDF (it starts with {head[:16]!r}); scan to PDF and upload that"
        )
    if b"%%EOF" not in tail:
        raise TruncatedPdfError(
            f"{name} is truncated: the PDF ends after {size} bytes without its end-of-file "
            "marker; the upload or the scan was cut off, please send the whole file again"
        )
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            _decrypt_or_raise(reader, path)
        n_pages = _page_count(reader)
    except DependencyError:
        # pypdf cannot decrypt AES without an extra package; poppler can.
        n_pages = _page_count_with_pdfinfo(path)
    except (PdfReadError, PyPdfError, KeyError, ValueError, TypeError, AttributeError) as exc:
        if isinstance(exc, PdfError):
            raise
        raise DamagedPdfError(f"{name} is a damaged PDF that cannot be read: {exc}") from exc
    if n_pages == 0:
        raise EmptyPdfError(f"{name} has no pages")
    if n_pages > settings.max_pages:
        raise TooManyPagesError(
            f"{name} has {n_pages} pages; at most {settings.max_pages} are accepted "
            "(setting max_pages); split the scan into smaller files"
        )
    return PdfInfo(path=path, n_pages=n_pages)


def count_pages(path: Path) -> int:
    """The page count of a PDF this run did not inspect (an older report folder's saved scan);
    0 when it cannot be read."""
    from pypdf import PdfReader

    try:
        return _page_count(PdfReader(path, strict=False))
    except Exception:  # an unreadable copy is shown as blank pages, like a missing one
        return 0


def _page_count(reader) -> int:
    """The page tree's /Count: O(1), where counting pypdf's pages walks the whole tree
    (0.4 s for 2,000 pages, paid again by every chunk task). A /Count that lies only costs
    the missing pages a per-page error later."""
    count = reader.trailer["/Root"]["/Pages"].get("/Count")
    if isinstance(count, int) and count >= 0:
        return int(count)
    return len(reader.pages)


def _decrypt_or_raise(reader, path: Path) -> None:
    # Owner-password-only PDFs (print/copy restrictions) open with the empty user password.
    if not reader.decrypt(""):
        raise EncryptedPdfError(
            f"{path.name} is encrypted with a password; save it without a password and upload again"
        )


def _page_count_with_pdfinfo(path: Path) -> int:
    result = subprocess.run(
        ["pdfinfo", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    if "password" in result.stderr.lower():
        raise EncryptedPdfError(
            f"{path.name} is encrypted with a password; save it without a password and upload again"
        )
    if result.returncode != 0:
        raise DamagedPdfError(f"{path.name} cannot be read: {result.stderr.strip()}")
    for line in result.stdout.splitlines():
        if line.startswith("Pages:"):
            return int(line.split(":", 1)[1])
    return 0


def page_range(info: PdfInfo, first_page: int = 1, last_page: int | None = None) -> tuple[int, int]:
    """Validated 1-based inclusive page range within the PDF."""
    return checked_range(info.n_pages, first_page, last_page, "the PDF's")


def checked_range(
    n_pages: int, first_page: int, last_page: int | None, whose: str
) -> tuple[int, int]:
    """`first_page..last_page` (default: to the end) when it lies within pages 1..n_pages;
    ValueError naming `whose` pages otherwise."""
    last = n_pages if last_page is None else last_page
    if not 1 <= first_page <= last <= n_pages:
        raise ValueError(f"page range {first_page}..{last} is outside {whose} pages 1..{n_pages}")
    return first_page, last
