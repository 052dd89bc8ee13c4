"""Exams: made from the form or from files (layout, key, roster), each teacher's own; their
printable sheets, their uploads, and their gradebook (every upload of the exam as one class).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ValidationError

from api.deps import Authorized, CallerDep, ServicesDep, SettingsDep, StorageDep
from api.ownership import OWNER, owned_exam
from api.routers.jobs import MEDIA_TYPES, JobView, job_view
from worker.grading.report_files import REPORT_FILES, SUMMARY_FILE
from worker.grading.review_queue import load_review
from worker.service.publish import finished_uploads, gradebook_jobs, load_exam
from worker.service.storage import Storage, new_id

router = APIRouter(prefix="/api/exams", tags=["exams"], dependencies=[Authorized])

LAYOUT_SUFFIXES = (".yaml", ".yml", ".json")
ReportName = Literal[REPORT_FILES]  # type: ignore[valid-type]
# Sheets printed at once from the page: a year group, many times over
MAX_SHEET_COPIES = 2000
DEFAULT_SHEET_COPIES = 30  # without a roster: a class


class ExamCreated(BaseModel):
    exam_id: str
    layout_exam_id: str  # the exam id printed in the sheets' QR codes
    name: str
    questions: int
    id_digits: int
    roster_students: int | None
    problems: list[str]  # e.g. a question the key does not cover (graded as ungraded)


class Gradebook(BaseModel):
    """The exam's reports: every graded upload of the exam as one class."""

    students: int
    needs_review: int  # students with something to check
    to_review: int  # items in the review queue
    mean_percent: float | None
    absent: list[str]  # roster IDs without a sheet
    problems: list[str]
    uploads_included: int
    uploads_graded: int  # when more than included, an update is on its way
    reports: dict[str, str]  # file name -> download URL


class ExamSummary(BaseModel):
    exam_id: str
    name: str
    layout_exam_id: str
    owner: str | None
    created: float
    questions: int
    id_digits: int
    roster_students: int | None
    uploads: int
    gradebook: Gradebook | None


class ExamView(ExamSummary):
    jobs: list[str]  # upload ids, oldest first
    upload_views: list[JobView]
    sheets_url: str


@router.get("", response_model=list[ExamSummary])
def list_exams(services: ServicesDep, caller: CallerDep) -> list[ExamSummary]:
    """The caller's exams (an admin's: every exam), newest first."""
    storage = services.storage
    metas = [meta for meta in (storage.exam_meta(exam_id) for exam_id in storage.exam_ids())
             if meta is not None and caller.may_see(meta.get(OWNER))]
    metas.sort(key=lambda meta: meta.get("created", 0), reverse=True)
    return [_summary(storage, meta) for meta in metas]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ExamCreated)
async def create_exam(
    settings: SettingsDep,
    storage: StorageDep,
    caller: CallerDep,
    form: Annotated[str | None, Form(description=(
        "The exam as the page's form gives it, JSON: {name, id_digits, paper, questions:"
        " [{boxes, points, answer}]}; instead of a layout file."))] = None,
    layout: Annotated[UploadFile | None, File(description="Sheet layout, YAML or JSON.")] = None,
    key: Annotated[UploadFile | None, File(
        description="Answer key CSV: question,answer[,points].")] = None,
    roster: Annotated[UploadFile | None, File(description="Roster CSV: student_id,name.")] = None,
) -> ExamCreated:
    """Check the exam with the loader the CLI uses; store it only when it loads."""
    uploads: dict[str, UploadFile] = {}
    written: dict[str, bytes] = {}
    if form:
        exam_form = _form(form)
        written["layout.yaml"] = _form_layout(exam_form).encode("utf-8")
        if (key is None or not key.filename) and exam_form.has_key():
            written["key.csv"] = exam_form.key_csv().encode("utf-8")
        suffix = ".yaml"
    else:
        if layout is None or not layout.filename:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                "fill in the exam form, or upload a layout file")
        suffix = Path(layout.filename).suffix.lower()
        if suffix not in LAYOUT_SUFFIXES:
            suffix = ".yaml"
        uploads[f"layout{suffix}"] = layout
    if "key.csv" not in written:
        if key is None or not key.filename:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                "the exam needs its answers: type them in the table, or upload"
                                " an answer key CSV (question,answer,points)")
        uploads["key.csv"] = key
    if roster is not None and roster.filename:
        uploads["roster.csv"] = roster
    staging = storage.staging_dir()
    try:
        for name, upload in uploads.items():
            data = await upload.read(settings.max_exam_file_bytes + 1)
            if len(data) > settings.max_exam_file_bytes:
                raise HTTPException(
                    status.HTTP_413_CONTENT_TOO_LARGE,
                    f"{upload.filename or name} is larger than {settings.max_exam_file_bytes} "
                    "bytes (setting max_exam_file_bytes)",
                )
            written[name] = data
        for name, data in written.items():
            (staging / name).write_bytes(data)
        exam = await run_in_threadpool(_load_exam, staging, suffix, "roster.csv" in written)
        exam_id = new_id()
        meta = {
            "exam_id": exam_id,
            OWNER: caller.teacher,
            "layout": f"layout{suffix}",
            "key": "key.csv",
            "roster": "roster.csv" if "roster.csv" in written else None,
            "layout_exam_id": exam.layout.exam_id,
            "name": exam.layout.name,
            "created": time.time(),
            "questions": len(exam.layout.questions),
            "id_digits": exam.layout.id_digits,
            "roster_students": len(exam.roster.students) if exam.roster is not None else None,
            "from_form": bool(form),
            "uploaded_names": {name: upload.filename for name, upload in uploads.items()},
        }
        storage.publish_exam(staging, exam_id, meta)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExamCreated(
        exam_id=exam_id,
        layout_exam_id=exam.layout.exam_id,
        name=exam.layout.name,
        questions=len(exam.layout.questions),
        id_digits=exam.layout.id_digits,
        roster_students=meta["roster_students"],
        problems=list(exam.problems),
    )


def _form(text: str):
    from worker.grading.exam_form import ExamForm

    try:
        return ExamForm.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "the exam form is not valid JSON") from exc
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            _form_problem(exc.errors()[0])) from exc


def _form_problem(error: dict[str, Any]) -> str:
    """A form field's problem as the form shows it: 'question 3: ...'."""
    if tuple(error["loc"]) == ("questions",):
        return "the exam needs at least one question (and at most 500)"
    loc = [part for part in error["loc"] if part != "questions"]
    field = str(loc[-1]) if loc else "form"
    where = f"question {int(loc[0]) + 1}" if loc and isinstance(loc[0], int) else field
    if field == "answer":
        return f"{where}: the answer must be digits (several accepted answers separated by |)"
    message = error["msg"].replace("Input should be", "must be").replace("String", "it")
    return f"{where}{' ' + field if where != field else ''}: {message}"


def _form_layout(exam_form) -> str:
    from worker.sheets.layout import LayoutError

    try:
        return exam_form.layout().to_yaml()
    except LayoutError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"the exam does not fit the sheet: {exc.message}") from exc


def _load_exam(folder: Path, layout_suffix: str, has_roster: bool):
    from worker.grading import Exam, GradingInputError
    from worker.sheets.layout import LayoutError

    try:
        return Exam.load(
            folder / f"layout{layout_suffix}",
            folder / "key.csv",
            folder / "roster.csv" if has_roster else None,
        )
    except (LayoutError, GradingInputError) as exc:
        # The message names file, line and problem; drop our private staging path from it.
        message = str(exc).replace(f"{folder}/", "")
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message) from exc


@router.get("/{exam_id}", response_model=ExamView)
def get_exam(exam_id: str, services: ServicesDep, caller: CallerDep) -> ExamView:
    storage = services.storage
    meta = owned_exam(storage, caller, exam_id)
    jobs = storage.exam_jobs(exam_id)
    views = [job_view(services, manifest, redis_may_be_down=True) for manifest in
             (storage.manifest(job_id) for job_id in jobs) if manifest is not None]
    return ExamView(**_summary(storage, meta).model_dump(), jobs=jobs, upload_views=views,
                    sheets_url=f"/api/exams/{exam_id}/sheets.pdf")


def _summary(storage: Storage, meta: dict[str, Any]) -> ExamSummary:
    exam_id = meta["exam_id"]
    return ExamSummary(
        exam_id=exam_id, name=meta.get("name", ""),
        layout_exam_id=meta.get("layout_exam_id", ""), owner=meta.get(OWNER),
        created=meta.get("created", 0.0), questions=meta.get("questions", 0),
        id_digits=meta.get("id_digits", 0), roster_students=meta.get("roster_students"),
        uploads=len(storage.exam_jobs(exam_id)), gradebook=_gradebook(storage, exam_id),
    )


def _gradebook(storage: Storage, exam_id: str) -> Gradebook | None:
    folder = storage.exam_reports_dir(exam_id)
    summary_path = folder / SUMMARY_FILE
    if not summary_path.is_file():
        return None
    summary = json.loads(summary_path.read_text())
    review = load_review(folder) or {"items": []}
    return Gradebook(
        students=summary.get("students", 0), needs_review=summary.get("needs_review", 0),
        to_review=len(review["items"]), mean_percent=summary.get("mean_percent"),
        absent=summary.get("absent", []), problems=summary.get("problems", []),
        uploads_included=len(gradebook_jobs(storage, exam_id)),
        uploads_graded=len(finished_uploads(storage, exam_id)),
        reports={name: f"/api/exams/{exam_id}/reports/{name}" for name in REPORT_FILES
                 if storage.exam_report_path(exam_id, name) is not None},
    )


@router.get("/{exam_id}/reports/{name}", response_class=FileResponse)
def download_gradebook_report(exam_id: str, name: ReportName, storage: StorageDep,
                              caller: CallerDep) -> FileResponse:
    """A report of the exam's gradebook (every upload of the exam as one class)."""
    owned_exam(storage, caller, exam_id)
    path = storage.exam_report_path(exam_id, name)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"{name} is not written yet: no upload of this exam is graded")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], filename=name)


@router.get("/{exam_id}/sheets.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def printable_sheets(
    exam_id: str, services: ServicesDep, caller: CallerDep,
    copies: Annotated[int | None, Query(ge=1, le=MAX_SHEET_COPIES, description=(
        "Copies to print, one per student (default: the roster's size, else"
        f" {DEFAULT_SHEET_COPIES})."))] = None,
) -> Response:
    """The exam's answer sheets to print: every copy numbered in its QR codes."""
    from worker.sheets.render import render_sheets

    meta = owned_exam(services.storage, caller, exam_id)
    exam = load_exam(services.storage, exam_id)
    count = copies or (len(exam.roster.students) if exam.roster else DEFAULT_SHEET_COPIES)
    pdf = render_sheets(exam.layout, copies=count)
    name = f"{meta.get('layout_exam_id', 'exam')}-sheets.pdf"
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})

