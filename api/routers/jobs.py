"""Jobs: upload a scanned PDF to an exam, follow its progress, download its reports."""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import redis
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from kombu.exceptions import OperationalError
from pydantic import BaseModel

from api.deps import Authorized, CallerDep, Services, ServicesDep, StorageDep
from api.faults import QueueUnavailable, body_pieces, check_free_space, disk_full_as_507
from api.ownership import owned_exam, owned_job
from scangrade.settings import Settings
from worker.grading.report_files import REPORT_FILES, STUDENTS_CSV
from worker.scan.images import image_kind
from worker.scan.pdf import HEADER_SEARCH_BYTES, PDF_MAGIC
from worker.scan.previews import preview_path
from worker.service import recovery
from worker.service.job_state import JobStatus
from worker.service.publish import load_exam, publish_graded
from worker.service.storage import (
    FILENAME_MAX_CHARS,
    JobManifest,
    Storage,
    new_id,
    safe_filename,
    write_bytes_atomic,
)

router = APIRouter(prefix="/api", tags=["jobs"], dependencies=[Authorized])

ReportName = Literal[REPORT_FILES]  # type: ignore[valid-type]  # the names, defined once
OVERRIDES_UPLOAD = "corrections-upload.csv"  # the name of an upload that gives none
MEDIA_TYPES = {".csv": "text/csv; charset=utf-8", ".pdf": "application/pdf",
               ".zip": "application/zip"}


class JobAccepted(BaseModel):
    job_id: str
    exam_id: str
    filename: str
    pages: int
    status_url: str


class JobView(BaseModel):
    job_id: str
    exam_id: str
    status: str  # queued | reading | grading | done | failed | lost (state gone: queued again
    # by the recovery sweep within recovery_sweep_s, or at once by POST .../resume)
    filename: str
    pages_total: int
    pages_done: int
    chunks_total: int = 0
    chunks_done: int = 0
    created: float = 0.0
    updated: float = 0.0
    error: str = ""
    problems: list[dict[str, Any]] = []
    summary: dict[str, Any] | None = None
    reports: dict[str, str] = {}  # file name -> download URL, once done
    waiting_for_worker: bool = False  # queued or reading while no worker answers


@router.post(
    "/exams/{exam_id}/jobs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The scanned PDF or one photo (JPEG, PNG, WebP, HEIC, TIFF) itself"
                           " as the request body (not a form).",
            "content": {kind: {"schema": {"type": "string", "format": "binary"}} for kind in (
                "application/pdf", "image/jpeg", "image/png", "image/webp", "image/heic",
                "image/tiff")},
        }
    },
)
async def upload_scans(
    exam_id: str,
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    filename: Annotated[str, Query(description="The file's name, kept for reports.")] = (
        "scans.pdf"
    ),
) -> JobAccepted:
    """Stream the scan to disk (size-limited), check it, then queue it for grading. Nothing
    is kept of an upload that is refused, or that the queue cannot take."""
    settings, storage = services.settings, services.storage
    owned_exam(storage, caller, exam_id)
    if storage.exam_files(exam_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no exam {exam_id}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > settings.max_upload_bytes:
        raise _too_large(settings)
    await run_in_threadpool(services.jobs.ping)  # Redis down: say so before taking the body
    check_free_space(storage, settings)
    staging = storage.staging_dir()
    name = safe_filename(filename)
    staged = staging / name  # the teacher's file name: messages about the file name it
    try:
        size = await _receive(request, staged, settings)
        manifest = await run_in_threadpool(_accept, services, exam_id, staged, size, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    job_id = manifest.job_id
    return JobAccepted(
        job_id=job_id,
        exam_id=exam_id,
        filename=manifest.filename,
        pages=manifest.n_pages,
        status_url=f"/api/jobs/{job_id}",
    )


def _accept(services: Services, exam_id: str, staged: Path, size: int, staging: Path
            ) -> JobManifest:
    """Inspects a received upload and hands it to the workers: its state in Redis first (so
    the recovery sweep never finds its files without state), then its files, then its first
    task. A failure on the way removes all of it: nothing is kept that the teacher was not
    given an id for."""
    settings, storage, jobs = services.settings, services.storage, services.jobs
    with disk_full_as_507():
        info = _inspect(staged, settings, staging)
    manifest = JobManifest(
        job_id=new_id(), exam_id=exam_id, filename=staged.name, n_pages=info.n_pages,
        size_bytes=size, created=time.time(), scan_note=info.note,
        damaged_pages=info.damaged_pages,
    )
    jobs.create(manifest.job_id, exam_id, manifest.filename, info.n_pages, manifest.created)
    try:
        # the file kept is the one to render: a repaired copy when the PDF needed one
        with disk_full_as_507():
            storage.publish_job(info.rendered, manifest)
        recovery.queue_job(services.celery, manifest.job_id)
    except BaseException as exc:
        storage.remove_job(manifest)
        with contextlib.suppress(Exception):
            jobs.forget(manifest.job_id)
        if isinstance(exc, redis.RedisError | OperationalError):
            raise QueueUnavailable(settings.retry_after_s) from exc
        raise
    return manifest


async def _receive(request: Request, path: Path, settings: Settings) -> int:
    """Write the body to `path` piece by piece; refuse early when too large or not a PDF,
    or when the client stops sending for `body_read_timeout_s`."""
    size = 0
    head = b""
    with disk_full_as_507(), path.open("wb") as fh:
        async for piece in body_pieces(request, settings.body_read_timeout_s):
            size += len(piece)
            if size > settings.max_upload_bytes:
                raise _too_large(settings)
            if len(head) < HEADER_SEARCH_BYTES:
                head += piece[: HEADER_SEARCH_BYTES - len(head)]
                if len(head) >= HEADER_SEARCH_BYTES and not _scan_head(head):
                    raise _not_a_scan(head)
            await run_in_threadpool(fh.write, piece)
    if size == 0:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the upload is empty")
    if not _scan_head(head):
        raise _not_a_scan(head)
    return size


def _scan_head(head: bytes) -> bool:
    """A PDF (its header within the first KiB) or a photo (its magic number first)."""
    return PDF_MAGIC in head or image_kind(head) is not None


def _inspect(path: Path, settings: Settings, work_dir: Path):
    from worker.scan.errors import NotAScanError, ScanFileError
    from worker.scan.pdf import NotAPdfError, TooManyPagesError
    from worker.scan.sources import inspect_scan

    try:
        return inspect_scan(path, settings, work_dir)
    except (NotAPdfError, NotAScanError) as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(exc)) from exc
    except TooManyPagesError as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from exc
    except ScanFileError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except Exception as exc:  # anything else a broken image makes its library raise
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the file cannot be read"
                            " as a PDF or a photo; save or export it again and upload"
                            " that") from exc


def _too_large(settings: Settings) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"the upload is larger than {settings.max_upload_bytes} bytes (setting "
        "max_upload_bytes); split the scan into smaller files",
    )


def _not_a_scan(head: bytes) -> HTTPException:
    return HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        f"neither a PDF nor a photo (it starts with {head[:16]!r}); upload a scanned PDF or"
        " a JPEG, PNG, WebP, HEIC or TIFF photo",
    )


@router.get("/jobs/{job_id}", response_model=JobView)
def job_status(job_id: str, services: ServicesDep, caller: CallerDep) -> JobView:
    return job_view(services, owned_job(services.storage, caller, job_id))


def job_view(services: Services, manifest: JobManifest, redis_may_be_down: bool = False
             ) -> JobView:
    """A job as the page shows it: its state in Redis, or what its files tell when Redis
    lost it; pages with problems get a thumbnail link. `redis_may_be_down`: a Redis that
    does not answer gives a view from the files (status `unknown` until it is done) instead
    of the 503 a single job's view answers."""
    storage, job_id = services.storage, manifest.job_id
    try:
        state = services.jobs.get(job_id)
    except redis.RedisError:
        if not redis_may_be_down:
            raise
        state, unknown = None, True
    else:
        unknown = False
    reports = {
        name: f"/api/jobs/{job_id}/reports/{name}"
        for name in REPORT_FILES
        if storage.report_path(job_id, name) is not None
    }
    if state is None:
        # Redis lost this job (restarted without persistence, or state expired): the files
        # tell whether it finished; the recovery sweep queues an unfinished one again.
        return JobView(
            job_id=job_id,
            exam_id=manifest.exam_id,
            status=str(JobStatus.DONE) if reports else "unknown" if unknown else "lost",
            filename=manifest.filename,
            pages_total=manifest.n_pages,
            pages_done=manifest.n_pages if reports else 0,
            created=manifest.created,
            reports=reports,
        )
    view = state.to_json()
    view["reports"] = reports if state.status == JobStatus.DONE else {}
    view["problems"] = [{**problem, "thumbnail": f"/api/jobs/{job_id}/pages/{problem['page']}"}
                        for problem in state.problems]
    view["waiting_for_worker"] = state.status in (JobStatus.QUEUED, JobStatus.READING) and \
        services.workers.none_alive
    return JobView(**view)


@router.get("/jobs/{job_id}/pages/{page}", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}}})
def page_image(job_id: str, page: int, services: ServicesDep, caller: CallerDep
               ) -> FileResponse:
    """The small image of a scanned page the workers kept (for thumbnails of problems)."""
    owned_job(services.storage, caller, job_id)
    path = preview_path(services.storage.previews_dir(job_id), page)
    if page < 1 or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no image of page {page}")
    return FileResponse(path, media_type="image/jpeg")


@router.post("/jobs/{job_id}/resume", status_code=status.HTTP_202_ACCEPTED)
def resume_job(job_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, str]:
    """Queue a job again whose state Redis lost or that failed; finished chunks are kept."""
    manifest = owned_job(services.storage, caller, job_id)
    state = services.jobs.get(job_id)
    if state is not None and state.status not in (JobStatus.FAILED,):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"job {job_id} is {state.status}; only failed or lost jobs are resumed",
        )
    recovery.resume_job(services.jobs, services.celery, manifest)  # Redis down: 503 (api.faults)
    return {"job_id": job_id, "status": str(JobStatus.QUEUED)}


@router.get("/jobs/{job_id}/reports/{name}", response_class=FileResponse)
def download_report(job_id: str, name: ReportName, storage: StorageDep, caller: CallerDep
                    ) -> FileResponse:
    owned_job(storage, caller, job_id)
    path = storage.report_path(job_id, name)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{name} is not written yet")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], filename=name)


@router.post(
    "/jobs/{job_id}/overrides",
    response_model=JobView,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "Corrections CSV: student,question,value (see `scangrade regrade`;"
            " the job's review.csv filled in works as it is). They are added to the job's"
            " correction journal (corrections.csv): a later row for the same student and"
            " question wins, and no earlier correction is lost.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def apply_overrides(
    job_id: str,
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    filename: Annotated[str, Query(
        description="The corrections file's name, recorded with each correction.")]
    = "corrections-upload.csv",
) -> JobView:
    """Add corrections to the job's journal and rewrite its reports (the CLI's
    `scangrade regrade --overrides`)."""
    storage, settings = services.storage, services.settings
    manifest = owned_job(storage, caller, job_id)
    body = await request.body()
    if len(body) > settings.max_exam_file_bytes:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "the overrides file is too large")
    return await run_in_threadpool(_apply_overrides, services, manifest, body,
                                   _csv_name(filename))


def _apply_overrides(services: Services, manifest: JobManifest, body: bytes, filename: str
                     ) -> JobView:
    storage, jobs, settings = services.storage, services.jobs, services.settings
    job_id = manifest.job_id
    state = jobs.get(job_id)
    finished = storage.report_path(job_id, STUDENTS_CSV) is not None
    if not finished or (state is not None and state.status != JobStatus.DONE):
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} has not finished grading")
    # One writer of a job's reports at a time: two at once would each publish their own
    # copy, and the journal of one would be lost.
    hold = jobs.hold_reports(job_id, settings.reports_lock_ttl_s)
    if hold is None:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"job {job_id} is being regraded; send the corrections again in a"
                            " moment")
    with hold:
        summary = _regrade(storage, manifest, body, settings, filename)
    if state is not None:
        jobs.mark_done(job_id, summary)
    return job_view(services, manifest)


def _csv_name(name: str) -> str:
    """The uploaded file's name as one safe path component ending in .csv."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name.replace("\\", "/")).name).strip("._")
    base = base[-FILENAME_MAX_CHARS:] or OVERRIDES_UPLOAD
    return base if base.lower().endswith(".csv") else f"{base}.csv"


def _regrade(
    storage: Storage, manifest: JobManifest, overrides_csv: bytes, settings: Settings,
    filename: str,
) -> dict[str, Any]:
    """Add a corrections CSV to the job's journal and rewrite its reports (on a copy that is
    swapped in whole: a rejected file changes nothing)."""
    from worker.grading import GradingInputError, regrade
    from worker.sheets.layout import LayoutError

    if storage.exam_files(manifest.exam_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no exam {manifest.exam_id}")
    try:
        exam = load_exam(storage, manifest.exam_id)
    except (LayoutError, GradingInputError) as exc:  # checked on upload: a damaged store
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc

    def write(folder: Path):
        overrides_path = folder.parent / filename
        write_bytes_atomic(overrides_path, overrides_csv)
        try:
            return regrade(folder, settings=settings, exam=exam, overrides_path=overrides_path)
        except GradingInputError as exc:
            message = str(exc).replace(f"{folder.parent}/", "")  # no server paths in the answer
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message) from exc

    return publish_graded(storage, storage.reports_dir(manifest.job_id), write,
                          from_current=True)
