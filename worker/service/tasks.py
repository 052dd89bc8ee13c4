"""Celery tasks: one uploaded PDF = one job = page-chunk tasks + one report step (a chord);
then the exam's gradebook takes the upload in.

    start_job(job)                 plans the page chunks and sends the chord, once
      read_chunk(job, first, last) reads pages first..last, writes pages/<first>-<last>.jsonl
      finish_job(job, chunks)      loads every chunk file, calls grade_and_report (as the CLI)
    grade_exam(exam)               every graded upload of the exam as one class (sent by
                                   finish_job, never awaited)

Messages carry the job id and page ranges only; the PDF and results live in shared storage.
Every task is idempotent: a chunk whose file exists is not read again, writing is atomic
(temp + rename), and progress counts a chunk once however often it runs (worker.service.job_state).
No task waits on another; the report step re-queues itself if a chunk is not on disk yet.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
from celery import Task, chord, signals
from kombu.exceptions import OperationalError

from scangrade.settings import Settings, get_settings
from worker.grading import grade_and_report
from worker.grading.report_files import STUDENTS_CSV
from worker.grading.wording import no_sheet_reason
from worker.scan.results import PageResult
from worker.service.celery_app import app
from worker.service.job_state import JobStatus, JobStore, connect
from worker.service.publish import grade_gradebook, job_scans, load_exam, publish_graded
from worker.service.storage import ChunkRange, JobManifest, Storage, plan_chunks

log = logging.getLogger(__name__)

# Pipeline chunks per task (see _read_pages): 4 keeps reader batches >= 4 pages on CPU.
OVERLAP_PARTS = 4

# Errors worth retrying: the broker/result store or Redis was briefly unreachable.
TRANSIENT_ERRORS = (redis.ConnectionError, redis.TimeoutError, OperationalError, ConnectionError)


@functools.cache
def _settings() -> Settings:
    return get_settings()


@functools.cache
def _store() -> JobStore:
    return JobStore(connect(_settings().redis_url), _settings().job_ttl_s)


@functools.cache
def _storage() -> Storage:
    return Storage(_settings().storage_dir)


@functools.cache
def reader():
    """The digit reader, loaded and compiled once per worker process (not per task)."""
    from model.inference.reader import DigitReader

    loaded = DigitReader.load(settings=_settings())
    loaded.warm_up()
    return loaded


def _preload_reader() -> None:
    # A reader that cannot load must not crash the process at start (Celery would respawn it
    # forever): the first task then raises the same error, and its job fails saying why.
    try:
        reader()
    except Exception:
        log.exception("the digit reader could not be loaded; tasks will fail until it can")


@signals.worker_process_init.connect
def _load_reader_in_child(**_: Any) -> None:
    # Prefork: each pool process loads its own reader (JAX must not be set up before fork).
    _preload_reader()


@signals.worker_ready.connect
def _load_reader_in_solo_worker(sender: Any = None, **_: Any) -> None:
    # The solo pool runs tasks in the main process, which gets no worker_process_init.
    pool = getattr(sender, "pool", None)
    if pool is not None and type(pool).__module__.endswith(".solo"):
        _preload_reader()


class JobTask(Task):
    """Marks the job failed when a task gives up for good (after its retries)."""

    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = True
    retry_jitter = True

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        job_id = kwargs.get("job_id")  # every job task is sent with keyword arguments
        if job_id:
            try:
                _store().mark_failed(job_id, failure_message(self.name, exc))
            except TRANSIENT_ERRORS:
                log.exception("could not mark job %s failed", job_id)


class JobInputProblem(Exception):
    """A problem with the job's inputs, in words with no server path (a missing or broken
    exam file, a scan that cannot be read): what the job view shows when a task gives up.
    One plain message, so it crosses Celery's exception handling as itself."""


@contextlib.contextmanager
def _input_problems_in_words() -> Iterator[None]:
    from worker.grading import GradingInputError
    from worker.scan.pdf import PdfError
    from worker.sheets.layout import LayoutError

    try:
        yield
    except (GradingInputError, PdfError, LayoutError) as exc:
        raise JobInputProblem(_without_storage_paths(str(exc))) from exc
    except FileNotFoundError as exc:
        raise JobInputProblem(
            f"a file of this job is missing from the server's storage"
            f" ({Path(exc.filename or '').name or 'unknown'}); restore it, then resume the job"
        ) from exc


def _without_storage_paths(text: str) -> str:
    """Paths under the storage folder shortened to their file names."""
    root = re.escape(str(_storage().root))
    return re.sub(rf"{root}/(?:[^\s:]*/)?", "", text)


def failure_message(task_name: str, exc: BaseException) -> str:
    """What the job view says when a task gave up: an input problem in its words; anything
    else without library text or server paths, saying where the details are."""
    step = task_name.split(".")[-1]
    if isinstance(exc, JobInputProblem):
        return f"{step}: {exc}"
    return (f"{step}: stopped by an unexpected error ({type(exc).__name__}); whoever runs the"
            " server finds the details in the worker's log; resume the job to try again")


_TASK_OPTIONS = {
    "bind": True,
    "base": JobTask,
    "max_retries": _settings().task_max_retries,
    "retry_backoff_max": _settings().task_retry_backoff_max_s,
}


@app.task(name="scangrade.start_job", ignore_result=True, **_TASK_OPTIONS)
def start_job(self: Task, job_id: str) -> None:
    """Split the job into page chunks and send them with the report step as a chord."""
    store, storage, settings = _store(), _storage(), _settings()
    if store.is_dispatched(job_id):
        return  # a redelivered start_job: the chord is already out
    manifest = storage.manifest(job_id)
    if manifest is None:
        store.mark_failed(job_id, "the uploaded file is missing from storage")
        return
    # The first plan's chunk size wins (Redis decides between planners at once) and is kept
    # on disk: a job re-planned after Redis lost its data, on a worker of another kind (CPU:
    # task_chunk_pages, GPU: larger), finds the chunks it already read.
    chunk_pages = storage.planned_chunk_pages(job_id) or store.chunk_pages(
        job_id, settings.task_chunk_pages)
    storage.keep_chunk_pages(job_id, chunk_pages)
    chunks = plan_chunks(manifest.n_pages, chunk_pages)
    ranges = [[chunk.first, chunk.last] for chunk in chunks]
    chord(read_chunk.s(job_id=job_id, first=first, last=last) for first, last in ranges)(
        finish_job.s(job_id=job_id, ranges=ranges)
    )
    # Marked after sending: dying in between sends the chord twice, which is harmless
    # (idempotent chunks, identical reports); marking first could lose the job.
    store.mark_dispatched(job_id, len(chunks))


@app.task(name="scangrade.read_chunk", **_TASK_OPTIONS)
def read_chunk(self: Task, job_id: str, first: int, last: int) -> dict[str, Any]:
    """Read pages first..last of the job's PDF into pages/<first>-<last>.jsonl."""
    store, storage = _store(), _storage()
    chunk = ChunkRange(first, last)
    if storage.chunk_path(job_id, chunk).is_file():
        pages = storage.read_chunk(job_id, chunk)  # ran before (redelivery or retry)
    else:
        with _input_problems_in_words():
            pages = _read_pages(job_id, chunk)
        storage.write_chunk(job_id, chunk, pages)
    problems = [_problem(page) for page in pages if not page.ok]
    counted = store.record_chunk(job_id, chunk.id, len(pages), problems)
    return {"chunk": chunk.id, "pages": len(pages), "problems": len(problems), "new": counted}


def _read_pages(job_id: str, chunk: ChunkRange) -> list[PageResult]:
    from worker.scan.previews import PreviewFolder
    from worker.scan.scans import ScanReading, ScanSet

    storage, settings = _storage(), _settings()
    manifest = _manifest(job_id)
    exam = load_exam(storage, manifest.exam_id)
    # The pipeline rasterizes its next chunk while it reads the current one, so only its
    # first chunk waits for poppler; read a task's pages in a few smaller pipeline chunks so
    # that unoverlapped start stays short in every task.
    overlapped = min(settings.chunk_pages, max(1, math.ceil(chunk.n_pages / OVERLAP_PARTS)))
    settings = settings.model_copy(update={"chunk_pages": overlapped})
    reading = ScanReading(
        ScanSet.of(job_scans(storage, manifest)), {exam.exam_id: exam.layout}, reader(),
        settings, first_page=chunk.first, last_page=chunk.last,
        previews=PreviewFolder(storage.previews_dir(job_id), settings.review_dpi,
                               settings.review_jpeg_quality),
        contain_errors=False,  # a file that fails fails the task: it is retried or says why
    )
    return list(reading)


def _manifest(job_id: str) -> JobManifest:
    manifest = _storage().manifest(job_id)
    if manifest is None:
        raise FileNotFoundError(f"job {job_id}: job.json is missing from storage")
    return manifest


def _problem(page: PageResult) -> dict[str, Any]:
    return {"page": page.source_page, "status": str(page.status), "message": page.message}


def _finish_retries(settings: Settings) -> int:
    # Long enough for a lost chunk to be redelivered (visibility timeout) and read again, and
    # for another writer of the reports (a report step that ran long, a regrade) to finish.
    wait_s = (settings.broker_visibility_timeout_s + 2 * settings.task_time_limit_s
              + settings.report_time_limit_s)
    return math.ceil(wait_s / settings.finish_poll_s)


@app.task(name="scangrade.finish_job", ignore_result=True,
          soft_time_limit=_settings().report_soft_time_limit_s,
          time_limit=_settings().report_time_limit_s, **_TASK_OPTIONS)
def finish_job(self: Task, _chunk_results: Any, job_id: str, ranges: list[list[int]]) -> None:
    """Group students and write the reports from every chunk file (the CLI's code)."""
    store, storage, settings = _store(), _storage(), _settings()
    state = store.get(job_id)
    if state is not None and state.status == JobStatus.FAILED:
        return
    chunks = [ChunkRange(first, last) for first, last in ranges]
    if storage.missing_chunks(job_id, chunks):
        # A redelivered chunk can complete the chord's count before the last original chunk
        # has finished; come back later rather than block this worker.
        raise self.retry(countdown=settings.finish_poll_s, max_retries=_finish_retries(settings))
    if state is not None and state.status == JobStatus.DONE and storage.report_path(
            job_id, STUDENTS_CSV) is not None:
        return  # a copy of a report step that ran long, redelivered: the job is done
    hold = store.hold_reports(job_id, settings.reports_lock_ttl_s)
    if hold is None:  # a teacher's regrade is publishing: its journal must not be lost
        raise self.retry(countdown=settings.finish_poll_s, max_retries=_finish_retries(settings))
    with hold, _input_problems_in_words():
        store.mark_grading(job_id)
        manifest = _manifest(job_id)
        pages = storage.load_pages(job_id, chunks)
        exam = load_exam(storage, manifest.exam_id)
        summary = publish_graded(
            storage,
            storage.reports_dir(job_id),
            lambda folder: grade_and_report(
                pages, exam, folder, settings=settings, scans=job_scans(storage, manifest),
                previews=storage.previews_dir(job_id),
            ),
        )
        if summary.get("students") == 0:  # nothing of this exam in it: say so, not "done"
            store.mark_failed(job_id, no_sheet_reason(
                [(str(page.status), page.exam_id) for page in pages], f"\"{exam.layout.name}\""))
            return
        store.mark_done(job_id, summary)
    # The exam's gradebook takes this upload in; sent, not awaited (it queues behind others)
    grade_exam.apply_async(kwargs={"exam_id": manifest.exam_id})


@app.task(name="scangrade.grade_exam", ignore_result=True,
          soft_time_limit=_settings().report_soft_time_limit_s,
          time_limit=_settings().report_time_limit_s, **_TASK_OPTIONS)
def grade_exam(self: Task, exam_id: str) -> None:
    """Regrade the exam's gradebook from every graded upload of it (worker.service.publish).
    Idempotent; one writer at a time: a second waits, then grades what is there by then."""
    store, storage, settings = _store(), _storage(), _settings()
    hold = store.hold_exam_reports(exam_id, settings.reports_lock_ttl_s)
    if hold is None:  # another upload's run or a review is writing the gradebook
        raise self.retry(countdown=settings.finish_poll_s, max_retries=_finish_retries(settings))
    with hold, _input_problems_in_words():
        grade_gradebook(storage, exam_id, settings)
