"""What a teacher hands in, as files of pages: PDFs and images, one inspection per file.

    inspect_scan(path, settings)      -> PdfInfo | ImageInfo (ScanFile), or ScanFileError
    expand_inputs(paths, work_dir)    -> the files in given folders and zip archives
    iter_page_chunks(info, ...)       -> RasterPage chunks: rendered by poppler or decoded

The kind of a file comes from its first bytes, never its name.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from scangrade.config.scan import ScanSettings
from worker.scan.errors import NotAScanError, ScanFileError
from worker.scan.images import (
    IMAGE_KINDS_IN_WORDS,
    ImageInfo,
    image_kind,
    inspect_image,
    iter_image_chunks,
)
from worker.scan.pdf import HEADER_SEARCH_BYTES, PDF_MAGIC, PdfInfo, inspect_pdf
from worker.scan.rasterize import RasterPage, iter_chunks

ScanFile = PdfInfo | ImageInfo
ZIP_MAGIC = b"PK\x03\x04"
# A zip of a class's photos: bounded so that a crafted archive cannot fill the disk.
MAX_ZIP_MEMBERS = 2000
MAX_ZIP_BYTES = 4 * 1024**3
MAX_ZIP_RATIO = 200  # uncompressed / compressed size of a member; images barely compress


def file_kind(path: Path) -> str | None:
    """'pdf', 'zip', an image kind (worker.scan.images.image_kind), or None."""
    try:
        with Path(path).open("rb") as fh:
            head = fh.read(HEADER_SEARCH_BYTES)
    except OSError:
        return None
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if image_kind(head) is not None:
        return image_kind(head)
    return "pdf" if PDF_MAGIC in head else None


def not_a_scan(name: str, head: bytes) -> NotAScanError:
    return NotAScanError(f"{name} is neither a PDF nor a photo (it starts with {head[:16]!r});"
                         f" upload a scanned PDF or a {IMAGE_KINDS_IN_WORDS} image")


def inspect_scan(path: str | Path, settings: ScanSettings, work_dir: Path | None = None
                 ) -> ScanFile:
    """The file checked as its kind asks (worker.scan.pdf.inspect_pdf or
    worker.scan.images.inspect_image); ScanFileError in words otherwise."""
    path = Path(path)
    if not path.is_file():
        raise NotAScanError(f"{path.name}: no such file")
    kind = file_kind(path)
    if kind == "pdf":
        return inspect_pdf(path, settings, work_dir)
    if kind not in (None, "zip"):
        return inspect_image(path, settings)
    with path.open("rb") as fh:
        head = fh.read(16)
    if kind == "zip":
        raise NotAScanError(f"{path.name} is a zip archive; give it to `scangrade grade` or"
                            " upload its PDFs and photos")
    raise not_a_scan(path.name, head)


def scan_file(path: Path, n_pages: int, note: str = "",
              damaged_pages: tuple[int, ...] = ()) -> ScanFile:
    """A file inspected before (a job's stored upload, a report folder's saved scan)."""
    if file_kind(path) not in ("pdf", None):
        return ImageInfo(path, n_pages, note=note, damaged_pages=tuple(damaged_pages))
    return PdfInfo(path, n_pages, note=note, damaged_pages=tuple(damaged_pages))


def iter_page_chunks(info: ScanFile, settings: ScanSettings, first: int, last: int
                     ) -> Iterator[list[RasterPage]]:
    if isinstance(info, ImageInfo):
        return iter_image_chunks(info, settings, first, last)
    return iter_chunks(info, settings, first, last)


def expand_inputs(paths: Sequence[str | Path], work_dir: Path) -> tuple[list[Path], list[str]]:
    """The scan files of `paths` in order: a folder gives its files sorted by name (hidden
    files and other kinds skipped), a zip archive its members extracted into `work_dir`.
    Returns (files, problems in words); a problem never stops the other inputs."""
    files: list[Path] = []
    problems: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = [entry for entry in sorted(path.rglob("*"))
                     if entry.is_file() and not _hidden(entry.relative_to(path))
                     and file_kind(entry) not in (None, "zip")]
            if not found:
                problems.append(f"folder {path.name} holds no PDF or photo")
            files.extend(found)
        elif path.is_file() and file_kind(path) == "zip":
            try:
                files.extend(_extract(path, work_dir / f"{len(files):04d}-{path.stem}"))
            except ScanFileError as exc:
                problems.append(str(exc))
        else:
            files.append(path)  # inspected (and refused in words) later
    return files, problems


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in relative.parts)


def _extract(archive: Path, folder: Path) -> list[Path]:
    name = archive.name
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist()
                       if not m.is_dir() and not _hidden(Path(m.filename))]
            if len(members) > MAX_ZIP_MEMBERS:
                raise ScanFileError(f"{name} holds {len(members)} files; at most"
                                    f" {MAX_ZIP_MEMBERS} are read from one archive")
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES or any(
                    m.file_size > MAX_ZIP_RATIO * max(1, m.compress_size) for m in members):
                raise ScanFileError(f"{name} unpacks to far more than it holds; zip the scans"
                                    " again and upload that")
            folder.mkdir(parents=True, exist_ok=True)
            extracted = []
            for index, member in enumerate(sorted(members, key=lambda m: m.filename)):
                # a flat, numbered name: never a path from inside the archive
                target = folder / f"{index:04d}-{Path(member.filename).name}"
                with zf.open(member) as source, target.open("wb") as out:
                    out.write(source.read())
                if file_kind(target) in (None, "zip"):
                    target.unlink()
                    continue
                extracted.append(target)
    except zipfile.BadZipFile as exc:
        raise ScanFileError(f"{name} is a damaged zip archive; zip the scans again") from exc
    if not extracted:
        raise ScanFileError(f"{name} holds no PDF or photo")
    return extracted
