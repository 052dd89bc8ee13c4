"""Scanned PDFs checked as files, once per run: readable, unencrypted, 1..max_pages pages,
and which pages they really hold.

A PDF's pages are the entries of its page tree, walked as written, never the `/Count` the
file states; poppler, which renders them, must count as many:
- it does, and every entry is a page: the file is rendered as it is;
- otherwise (a `/Count` that lies, an entry that is not a page, which poppler would skip and
  so shift every later page onto its number): a normalised copy is written and rendered
  instead, with a blank stand-in for each damaged entry so every page keeps its number; the
  damaged pages are `PdfInfo.damaged_pages` (reported, not read) and `PdfInfo.note` says
  what was found.
Whole-file problems (not a PDF, truncated, encrypted with a password, damaged beyond use, no
pages, too many pages) raise a `PdfError` subclass whose message says what is wrong and what
to do, in the teacher's words; the same verdict wherever a file is inspected (CLI, API).
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from scangrade.config.scan import ScanSettings
from worker.scan.errors import ScanFileError

if TYPE_CHECKING:
    import pikepdf

# Bytes searched for the PDF header and the end-of-file marker. Readers (Acrobat, poppler)
# accept a header within the first 1 KiB; an `%%EOF` may be followed by a little junk.
HEADER_SEARCH_BYTES = 1024
PDF_MAGIC = b"%PDF-"  # the header every PDF starts with, within HEADER_SEARCH_BYTES
TRAILER_SEARCH_BYTES = 2048
PDFINFO_TIMEOUT_S = 60
# Page trees are a few levels deep (a flat list, or balanced nodes of a few dozen kids);
# a deeper one is a crafted file.
MAX_TREE_DEPTH = 64
# Decoding a page's images to check them: at most this many pixels each (an A4 page at
# 600 dpi has 35 million), so a crafted size cannot exhaust a worker's memory.
MAX_CHECKED_IMAGE_PIXELS = 100_000_000
WALK_LIMIT = 100_000  # page-tree entries walked at most; far beyond any max_pages
STAND_IN_PAGE_PT = (595, 842)  # A4, for an entry that is not a page (never rendered)
RESAVE = "save or export it again as a PDF (or print it to PDF) and upload that"


class PdfError(ScanFileError):
    """The PDF as a whole cannot be read as scanned pages. The message says why."""


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
    """An inspected PDF: its real pages, and the file poppler renders them from."""

    path: Path  # the file as given
    n_pages: int
    render_path: Path | None = None  # a normalised copy to render instead (None: `path`)
    note: str = ""  # what the inspection found and did, for pages.csv and the summary
    damaged_pages: tuple[int, ...] = field(default=())  # 1-based: described beyond reading

    @property
    def rendered(self) -> Path:
        return self.render_path or self.path


def _encrypted(name: str) -> EncryptedPdfError:
    return EncryptedPdfError(
        f"{name} is encrypted with a password; save it without a password and upload again")


def _damaged(name: str, why: str) -> DamagedPdfError:
    return DamagedPdfError(f"{name} is a damaged PDF: {why}; {RESAVE}")


def _check_file(path: Path) -> None:
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


@dataclass(frozen=True)
class _PageTree:
    """A PDF's page tree as it is written."""

    slots: int  # the entries that should be pages, in order, damaged ones included
    damaged: tuple[int, ...]  # 1-based slots whose entry is not a page at all
    stated: int | None  # the /Count the file states (None: none)


@contextlib.contextmanager
def _opened(path: Path | io.BytesIO, name: str, as_written: bool = False
            ) -> Iterator[pikepdf.Pdf]:
    """The PDF opened by qpdf, its failures in words (EncryptedPdfError, DamagedPdfError).
    `as_written`: the page tree as the file has it (by default qpdf flattens it on opening,
    dropping entries that are not pages)."""
    import pikepdf

    try:
        with pikepdf.open(path, inherit_page_attributes=not as_written) as pdf:
            yield pdf
    except PdfError:
        raise  # said in words already (a ValueError, like the library's own below)
    except pikepdf.PasswordError as exc:
        raise _encrypted(name) from exc
    except pikepdf.PdfError as exc:
        why = ("its list of pages loops back on itself" if "Loop detected" in str(exc)
               else "its structure cannot be read")
        raise _damaged(name, why) from exc
    except (RecursionError, MemoryError, ValueError, TypeError, AttributeError, KeyError,
            IndexError) as exc:  # pathological data the library trips over
        raise _damaged(name, "its structure cannot be read") from exc


def _slots(pdf: pikepdf.Pdf, name: str) -> list[tuple[pikepdf.Dictionary, int] | None]:
    """Every entry of the page tree, in order, walked as written (qpdf's own page list drops
    an entry that is not a page, and poppler's shifts every later page onto its number):
    None for a page, (its parent node, index in its /Kids) for an entry that is not one (a
    string, a number, a reference to an object that does not exist). A page listed twice
    counts twice, as readers render it; a node inside itself is a loop. The walk stops past
    WALK_LIMIT entries (a tree whose nodes share children can list billions). `pdf` must be
    opened `as_written`."""
    import pikepdf

    slots: list[tuple[pikepdf.Dictionary, int] | None] = []

    def visit(node: pikepdf.Dictionary, ancestors: frozenset, depth: int) -> None:
        kids = node.get("/Kids")
        if depth > MAX_TREE_DEPTH or not isinstance(kids, pikepdf.Array):
            raise _damaged(name, "its list of pages cannot be read")
        for index, kid in enumerate(kids):
            if len(slots) > WALK_LIMIT:
                return
            if not isinstance(kid, pikepdf.Dictionary):
                slots.append((node, index))
            elif "/Kids" in kid:
                if kid.is_indirect and kid.objgen in ancestors:
                    raise _damaged(name, "its list of pages loops back on itself")
                visit(kid, ancestors | {kid.objgen}, depth + 1)
            else:
                slots.append(None)

    root = pdf.Root.Pages
    visit(root, frozenset({root.objgen} if root.is_indirect else ()), 0)
    return slots


def _page_tree(path: Path) -> _PageTree:
    import pikepdf

    with _opened(path, path.name, as_written=True) as pdf:
        if not isinstance(pdf.Root.get("/Pages"), pikepdf.Dictionary):
            raise _damaged(path.name, "it has no list of pages")
        slots = _slots(pdf, path.name)
        stated = pdf.Root.Pages.get("/Count")
        return _PageTree(
            slots=len(slots),
            damaged=tuple(number for number, slot in enumerate(slots, 1) if slot is not None),
            stated=int(stated) if isinstance(stated, int | Decimal) else None,
        )


def _poppler_pages(path: Path) -> int | None:
    """The pages poppler counts, or None when it cannot read the file."""
    try:
        result = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True,
                                timeout=PDFINFO_TIMEOUT_S, check=False, errors="replace")
    except subprocess.TimeoutExpired:
        return None
    for line in result.stdout.splitlines():
        if line.startswith("Pages:") and result.returncode == 0:
            return int(line.split(":", 1)[1])
    return None


def _pages(numbers: Sequence[int]) -> str:
    return (f"page {numbers[0]} is" if len(numbers) == 1
            else f"pages {', '.join(map(str, numbers))} are")


def _normalised_copy(path: Path, folder: Path) -> Path:
    """The file rewritten whole by qpdf: a true page tree with a true count, no encryption,
    and a blank stand-in for each entry that is not a page, so that every page keeps its
    number (the stand-ins are reported damaged, never rendered)."""
    import pikepdf

    folder.mkdir(parents=True, exist_ok=True)
    # a folder of its own: two files of one run may have the same name
    target = Path(tempfile.mkdtemp(prefix="normalised-", dir=folder)) / path.name
    mended = io.BytesIO()
    with _opened(path, path.name, as_written=True) as pdf:
        for slot in _slots(pdf, path.name):
            if slot is not None:
                parent, index = slot
                parent.Kids[index] = pdf.make_indirect(pikepdf.Dictionary(
                    Type=pikepdf.Name.Page, MediaBox=[0, 0, *STAND_IN_PAGE_PT],
                    Parent=parent))
        pdf.save(mended, encryption=False)
    # opened again the usual way: qpdf flattens the tree (pages get what they inherit) and
    # writes its true count
    with _opened(mended, path.name) as pdf:
        pdf.save(target)
    return target


_process_work_dir: tempfile.TemporaryDirectory | None = None


def _default_work_dir(settings: ScanSettings) -> Path:
    """A folder for this process's normalised copies, removed when the process ends."""
    global _process_work_dir
    if _process_work_dir is None:
        _process_work_dir = tempfile.TemporaryDirectory(prefix="scangrade-pdf-",
                                                        dir=settings.raster_temp_dir)
    return Path(_process_work_dir.name)


def inspect_pdf(path: str | Path, settings: ScanSettings, work_dir: Path | None = None
                ) -> PdfInfo:
    """Checks `path` and finds its real pages (see the module doc). A normalised copy, when
    one is needed, is written into `work_dir`, which must outlive the PdfInfo (default: a
    folder of this process's, removed when it ends)."""
    path = Path(path)
    name = path.name
    _check_file(path)
    tree = _page_tree(path)
    n_pages = tree.slots
    if n_pages == 0:
        raise EmptyPdfError(f"{name} has no pages")
    if n_pages > settings.max_pages:
        counted = f"more than {WALK_LIMIT}" if n_pages > WALK_LIMIT else str(n_pages)
        raise TooManyPagesError(
            f"{name} has {counted} pages; at most {settings.max_pages} are accepted "
            "(setting max_pages); split the scan into smaller files"
        )
    if not tree.damaged and _poppler_pages(path) == n_pages:
        return PdfInfo(path, n_pages)
    copy = _normalised_copy(path, work_dir or _default_work_dir(settings))
    if _poppler_pages(copy) != n_pages:
        raise _damaged(name, "its pages cannot be rendered")
    notes = []
    if tree.stated != n_pages:
        says = (f"says it has {tree.stated} pages" if tree.stated is not None
                else "gives no page count")
        notes.append(f"{name} {says} but holds {n_pages}: all {n_pages} were read (check that"
                     " no page is missing)")
    if tree.damaged:
        notes.append(f"{name}: {_pages(tree.damaged)} damaged (the PDF's description of it"
                     " cannot be read) and not read; every other page was")
    if not notes:
        notes.append(f"{name}: its list of pages is damaged; all {n_pages} pages were read"
                     " from a repaired copy")
    return PdfInfo(path, n_pages, render_path=copy, note="; ".join(notes),
                   damaged_pages=tree.damaged)


def count_pages(path: Path) -> int:
    """The page count of a PDF this run did not inspect (an older report folder's saved scan);
    0 when it cannot be read."""
    try:
        return _page_tree(path).slots
    except PdfError:  # an unreadable copy is shown as blank pages, like a missing one
        return 0


def page_image_problem(path: Path, number: int, name: str) -> str | None:
    """Why a page's scanned image cannot be decoded (a damaged image stream), or None: asked
    of a page that rendered blank or unlike a sheet, as a broken image makes it look. `name`:
    the file's name for the message. Images of a kind this check cannot decode, or too
    large to decode here, get no verdict."""
    import pikepdf
    from pikepdf import PdfImage
    from pikepdf.models.image import (
        HifiPrintImageNotTranscodableError,
        NotExtractableError,
        UnsupportedImageTypeError,
    )

    no_verdict = (UnsupportedImageTypeError, NotExtractableError,
                  HifiPrintImageNotTranscodableError, pikepdf.DependencyError)
    damaged = (f"{name} page {number}: its scanned image is damaged and cannot be read;"
               " rescan the page")
    try:
        with pikepdf.open(path) as pdf:
            for image in pdf.pages[number - 1].get_images().values():
                try:
                    pixels = int(image.get("/Width", 0)) * int(image.get("/Height", 0))
                    if pixels > MAX_CHECKED_IMAGE_PIXELS:
                        continue
                    PdfImage(image).as_pil_image().load()
                except no_verdict:
                    continue
                except Exception:  # the image's data fails to decode: that is the answer
                    return damaged
    except Exception:  # the page itself cannot be opened: the rendering said as much
        return damaged
    return None


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
