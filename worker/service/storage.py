"""Files of the grading service under `settings.storage_dir`, shared by the API and workers.

    exams/<exam>/exam.json, layout.<ext>, key.csv, roster.csv
    exams/<exam>/jobs/<job>                    one empty marker per upload to the exam
    jobs/<job>/job.json, scan/<name>.pdf       the manifest and the scan (read-only)
    jobs/<job>/plan.json                       pages per chunk, fixed by the first plan
    jobs/<job>/pages/<first>-<last>.jsonl     one file per page chunk, written atomically
    jobs/<job>/previews/<page>.jpg             page images kept by the chunk tasks
    jobs/<job>/reports/                        what grade_and_report writes, for this upload
    exams/<exam>/reports/                      the exam's gradebook: all its uploads as one
    tmp/                                       staging; same filesystem, so rename is atomic

Every file a reader may see is written to a temporary name and renamed into place, so a
worker killed mid-write leaves either the old state or the new one, never half a file.
The disk is the durable record of a job: Redis holds progress and can be rebuilt from it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scangrade.atomic import write_bytes_whole
from worker.grading.report_files import REPORT_FILES
from worker.scan.results import PageResult

# 16 random bytes: 128 bits, so IDs cannot be guessed or enumerated.
ID_BYTES = 16
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
FILENAME_MAX_CHARS = 120  # well under every filesystem's 255-byte limit
READ_ONLY = 0o444
PLAN_FILE = "plan.json"  # the job's chunk size, fixed by its first plan


def new_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


def valid_id(value: str) -> bool:
    """IDs come from URLs; only our own token format may become a path component."""
    return bool(ID_PATTERN.fullmatch(value))


@dataclass(frozen=True)
class ChunkRange:
    first: int  # 1-based, inclusive
    last: int  # inclusive

    @property
    def id(self) -> str:
        return f"{self.first:05d}-{self.last:05d}"

    @property
    def n_pages(self) -> int:
        return self.last - self.first + 1


def plan_chunks(n_pages: int, chunk_pages: int) -> list[ChunkRange]:
    """Split pages 1..n_pages into consecutive ranges of at most chunk_pages pages."""
    if n_pages < 1 or chunk_pages < 1:
        raise ValueError(f"need n_pages >= 1 and chunk_pages >= 1, got {n_pages}, {chunk_pages}")
    return [
        ChunkRange(first, min(first + chunk_pages - 1, n_pages))
        for first in range(1, n_pages + 1, chunk_pages)
    ]


@dataclass(frozen=True)
class JobManifest:
    """What the API knew when it accepted an upload; the job's durable record."""

    job_id: str
    exam_id: str
    filename: str
    n_pages: int
    size_bytes: int
    created: float
    scan_note: str = ""  # what inspecting the upload found (worker.scan.pdf.PdfInfo.note)
    damaged_pages: tuple[int, ...] = ()  # pages poppler counts but cannot read


@dataclass(frozen=True)
class ExamFiles:
    exam_id: str
    layout: Path
    key: Path
    roster: Path | None


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # --- layout of the tree -------------------------------------------------------------
    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def exam_dir(self, exam_id: str) -> Path:
        return self.root / "exams" / _checked(exam_id)

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / _checked(job_id)

    def scan_path(self, job_id: str, filename: str) -> Path:
        """The uploaded PDF, under the teacher's own (sanitized) file name: reports that name
        their source scan then read the same as when the teacher runs `scangrade grade`."""
        return self.job_dir(job_id) / "scan" / safe_filename(filename)

    def pages_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "pages"

    def previews_dir(self, job_id: str) -> Path:
        """Small page images the chunk tasks keep for review.pdf and the graded sheets."""
        return self.job_dir(job_id) / "previews"

    def chunk_path(self, job_id: str, chunk: ChunkRange) -> Path:
        return self.pages_dir(job_id) / f"{chunk.id}.jsonl"

    def reports_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "reports"

    def staging_dir(self) -> Path:
        """A fresh private folder on the storage filesystem (rename into place is atomic)."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=self.tmp_dir))

    # --- exams --------------------------------------------------------------------------
    def exam_files(self, exam_id: str) -> ExamFiles | None:
        folder = self.exam_dir(exam_id)
        meta = folder / "exam.json"
        if not meta.is_file():
            return None
        data = json.loads(meta.read_text())
        roster = data.get("roster")
        return ExamFiles(
            exam_id=exam_id,
            layout=folder / data["layout"],
            key=folder / data["key"],
            roster=folder / roster if roster else None,
        )

    def exam_meta(self, exam_id: str) -> dict[str, Any] | None:
        meta = self.exam_dir(exam_id) / "exam.json"
        return json.loads(meta.read_text()) if meta.is_file() else None

    def publish_exam(self, staging: Path, exam_id: str, meta: dict[str, Any]) -> None:
        """Move a checked staging folder into place as exam `exam_id`."""
        write_json_atomic(staging / "exam.json", meta)
        target = self.exam_dir(exam_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, target)

    # --- jobs ---------------------------------------------------------------------------
    def publish_job(self, staged_pdf: Path, manifest: JobManifest) -> None:
        """Move a checked upload into place as a job of its exam. The scan is made read-only:
        it is never rewritten, so the reports' saved inputs may link to it, not copy it."""
        folder = self.job_dir(manifest.job_id)
        scan = self.scan_path(manifest.job_id, manifest.filename)
        scan.parent.mkdir(parents=True)
        os.replace(staged_pdf, scan)
        scan.chmod(READ_ONLY)
        write_json_atomic(folder / "job.json", asdict(manifest))
        self.add_exam_job(manifest.exam_id, manifest.job_id)

    def add_exam_job(self, exam_id: str, job_id: str) -> None:
        """Lists a job under its exam (idempotent): the disk, not Redis, holds the list."""
        folder = self.exam_dir(exam_id) / "jobs"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / _checked(job_id)).touch()

    def is_exam_job(self, exam_id: str, job_id: str) -> bool:
        return (self.exam_dir(exam_id) / "jobs" / _checked(job_id)).is_file()

    def exam_jobs(self, exam_id: str) -> list[str]:
        """The exam's jobs, oldest upload first."""
        folder = self.exam_dir(exam_id) / "jobs"
        if not folder.is_dir():
            return []
        created = {}
        for marker in folder.iterdir():
            manifest = self.manifest(marker.name) if valid_id(marker.name) else None
            if manifest is not None:
                created[marker.name] = manifest.created
        return sorted(created, key=lambda job_id: (created[job_id], job_id))

    def job_ids(self) -> list[str]:
        """Every job on disk (with or without a manifest yet)."""
        folder = self.root / "jobs"
        if not folder.is_dir():
            return []
        return sorted(entry.name for entry in folder.iterdir() if valid_id(entry.name))

    def remove_job(self, manifest: JobManifest) -> None:
        """Removes a job that was never handed out (its upload could not be queued)."""
        (self.exam_dir(manifest.exam_id) / "jobs" / manifest.job_id).unlink(missing_ok=True)
        shutil.rmtree(self.job_dir(manifest.job_id), ignore_errors=True)

    def manifest(self, job_id: str) -> JobManifest | None:
        path = self.job_dir(job_id) / "job.json"
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        data["damaged_pages"] = tuple(data.get("damaged_pages", ()))
        return JobManifest(**data)

    def planned_chunk_pages(self, job_id: str) -> int | None:
        """Pages per chunk of the job's first plan (None before it was planned)."""
        path = self.job_dir(job_id) / PLAN_FILE
        return int(json.loads(path.read_text())["chunk_pages"]) if path.is_file() else None

    def keep_chunk_pages(self, job_id: str, chunk_pages: int) -> None:
        if self.planned_chunk_pages(job_id) is None:
            write_json_atomic(self.job_dir(job_id) / PLAN_FILE, {"chunk_pages": chunk_pages})

    def write_chunk(self, job_id: str, chunk: ChunkRange, pages: Iterable[PageResult]) -> None:
        lines = "".join(json.dumps(page.to_json(), sort_keys=True) + "\n" for page in pages)
        write_text_atomic(self.chunk_path(job_id, chunk), lines)

    def read_chunk(self, job_id: str, chunk: ChunkRange) -> list[PageResult]:
        text = self.chunk_path(job_id, chunk).read_text()
        return [PageResult.from_json(json.loads(line)) for line in text.splitlines() if line]

    def missing_chunks(self, job_id: str, chunks: Iterable[ChunkRange]) -> list[ChunkRange]:
        return [chunk for chunk in chunks if not self.chunk_path(job_id, chunk).is_file()]

    def load_pages(self, job_id: str, chunks: Iterable[ChunkRange]) -> list[PageResult]:
        pages = [page for chunk in chunks for page in self.read_chunk(job_id, chunk)]
        return sorted(pages, key=lambda page: page.source_page)

    def publish_reports(self, staging: Path, target: Path) -> None:
        """Replace a reports folder (a job's, an exam's) with `staging`: a re-run replaces,
        never mixes."""
        if target.exists():
            old = self.staging_dir()
            os.replace(target, old / "reports")
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)

    def report_path(self, job_id: str, name: str) -> Path | None:
        return _report_in(self.reports_dir(job_id), name)

    # --- an exam's gradebook: every upload of the exam graded as one class ----------------
    def exam_reports_dir(self, exam_id: str) -> Path:
        return self.exam_dir(exam_id) / "reports"

    def exam_report_path(self, exam_id: str, name: str) -> Path | None:
        return _report_in(self.exam_reports_dir(exam_id), name)

    def exam_ids(self) -> list[str]:
        folder = self.root / "exams"
        if not folder.is_dir():
            return []
        return sorted(entry.name for entry in folder.iterdir()
                      if valid_id(entry.name) and (entry / "exam.json").is_file())


def _report_in(folder: Path, name: str) -> Path | None:
    """A report a teacher may download from a reports folder, once it is written."""
    if name not in REPORT_FILES:
        return None
    path = folder / name
    return path if path.is_file() else None


# The endings an uploaded scan keeps (a PDF or a photo); any other name gets ".pdf".
SCAN_SUFFIXES = (".pdf", ".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff")


def safe_filename(name: str, default: str = "scans.pdf") -> str:
    """A file name safe to use as one path component, ending as a scan does (SCAN_SUFFIXES);
    what the file is comes from its content, never this name."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name.replace("\\", "/")).name).strip("._")
    if not base:
        base = default
    if not base.lower().endswith(SCAN_SUFFIXES):
        base += ".pdf"
    return base[-FILENAME_MAX_CHARS:]


def _checked(identifier: str) -> str:
    if not valid_id(identifier):
        raise ValueError(f"not a valid id: {identifier!r}")
    return identifier


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Written whole and fsynced: readers never see half a file, a crash loses no write."""
    write_bytes_whole(path, data, fsync=True)
