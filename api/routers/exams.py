"""Exams: an answer-sheet layout, an answer key and optionally a roster, checked on upload."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.deps import Authorized, SettingsDep, StorageDep
from worker.service.storage import new_id, valid_id

router = APIRouter(prefix="/api/exams", tags=["exams"], dependencies=[Authorized])

LAYOUT_SUFFIXES = (".yaml", ".yml", ".json")


class ExamCreated(BaseModel):
    exam_id: str
    layout_exam_id: str  # the exam id printed in the sheets' QR codes
    name: str
    questions: int
    id_digits: int
    roster_students: int | None
    problems: list[str]  # e.g. a question the key does not cover (graded as ungraded)


class ExamInfo(BaseModel):
    exam_id: str
    meta: dict[str, Any]
    jobs: list[str]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ExamCreated)
async def create_exam(
    settings: SettingsDep,
    storage: StorageDep,
    layout: Annotated[UploadFile, File(description="Sheet layout, YAML or JSON.")],
    key: Annotated[UploadFile, File(description="Answer key CSV: question,answer[,points].")],
    roster: Annotated[UploadFile | None, File(description="Roster CSV: student_id,name.")] = None,
) -> ExamCreated:
    """Check the files with the same loader the CLI uses; store them only when they load."""
    suffix = Path(layout.filename or "layout.yaml").suffix.lower()
    if suffix not in LAYOUT_SUFFIXES:
        suffix = ".yaml"
    uploads = {f"layout{suffix}": layout, "key.csv": key}
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
            (staging / name).write_bytes(data)
        exam = await run_in_threadpool(_load_exam, staging, suffix, "roster.csv" in uploads)
        exam_id = new_id()
        meta = {
            "exam_id": exam_id,
            "layout": f"layout{suffix}",
            "key": "key.csv",
            "roster": "roster.csv" if "roster.csv" in uploads else None,
            "layout_exam_id": exam.layout.exam_id,
            "name": exam.layout.name,
            "created": time.time(),
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
        roster_students=len(exam.roster.students) if exam.roster is not None else None,
        problems=list(exam.problems),
    )


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


@router.get("/{exam_id}", response_model=ExamInfo)
def get_exam(exam_id: str, storage: StorageDep) -> ExamInfo:
    meta = storage.exam_meta(exam_id) if valid_id(exam_id) else None
    if meta is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no exam {exam_id}")
    return ExamInfo(exam_id=exam_id, meta=meta, jobs=storage.exam_jobs(exam_id))
