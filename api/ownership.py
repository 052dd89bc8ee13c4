"""Which exams and jobs a caller may see: a teacher their own, an admin every one. Anything
else answers 404, exactly as an id that does not exist, so ids reveal nothing."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status

from api.deps import Caller
from worker.service.storage import JobManifest, Storage, valid_id

OWNER = "owner"  # exam.json: the teacher who created the exam


def owned_exam(storage: Storage, caller: Caller, exam_id: str) -> dict[str, Any]:
    """The exam's metadata (exam.json), or 404."""
    meta = storage.exam_meta(exam_id) if valid_id(exam_id) else None
    if meta is None or not caller.may_see(meta.get(OWNER)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no exam {exam_id}")
    return meta


def owned_job(storage: Storage, caller: Caller, job_id: str) -> JobManifest:
    """The job's manifest, or 404 (a job is its exam's teacher's)."""
    manifest = storage.manifest(job_id) if valid_id(job_id) else None
    if manifest is not None:
        meta = storage.exam_meta(manifest.exam_id)
        if meta is not None and caller.may_see(meta.get(OWNER)):
            return manifest
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id}")
