"""The review screen of an exam's gradebook (api.review): its queue, crops, and decisions
that go into the gradebook's correction journal, the reports regraded at once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api import review
from api.deps import Authorized, CallerDep, Services, ServicesDep
from api.ownership import owned_exam
from worker.grading.review_queue import Decision
from worker.service.publish import load_exam, publish_graded

# A decision waits this long for the gradebook while a new upload is taken in
HOLD_WAIT_S = 30.0
HOLD_POLL_S = 0.2

router = APIRouter(prefix="/api/exams/{exam_id}/review", tags=["review"],
                   dependencies=[Authorized])


def _base(exam_id: str) -> str:
    return f"/api/exams/{exam_id}/review"


@router.get("")
def review_queue(exam_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Every flagged item of the gradebook, in students.csv order, with crop URLs."""
    owned_exam(services.storage, caller, exam_id)
    return review.queue(services.storage.exam_reports_dir(exam_id), _base(exam_id))


@router.get("/crops/{page}/{field}", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}})
def review_crop(exam_id: str, page: int, field: str, services: ServicesDep,
                caller: CallerDep) -> Response:
    owned_exam(services.storage, caller, exam_id)
    return review.crop(services.storage.exam_reports_dir(exam_id), page, field)


@router.post("", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "example": {"decisions": [
        {"copy": 3, "question": "q2", "value": "ok"},
        {"copy": 5, "question": "q7", "value": "14"},
        {"copy": 5, "question": "student_id", "value": "240152"}]}}}}}})
async def decide(exam_id: str, request: Request, services: ServicesDep, caller: CallerDep
                 ) -> dict[str, Any]:
    """Decisions of the review screen: `ok` (as read), digits, `blank`, an ID for
    student_id, `yes` for reviewed. Added to the gradebook's correction journal (nothing
    earlier is dropped) and the reports regraded; the new queue comes back."""
    owned_exam(services.storage, caller, exam_id)
    chosen = await review.decisions(request)
    await run_in_threadpool(_regrade, services, exam_id, chosen)
    return review.queue(services.storage.exam_reports_dir(exam_id), _base(exam_id))


def _regrade(services: Services, exam_id: str, chosen: list[Decision]) -> None:
    storage, settings = services.storage, services.settings
    current = storage.exam_reports_dir(exam_id)
    if not current.is_dir():
        raise HTTPException(status.HTTP_409_CONFLICT,
                            "nothing graded yet: upload scans of this exam first")
    exam = load_exam(storage, exam_id)
    hold = _wait_for_hold(services, exam_id)

    def write(folder: Path):
        return review.regrade_folder(folder, chosen, settings, exam)

    with hold:
        publish_graded(storage, current, write, from_current=True)


def _wait_for_hold(services: Services, exam_id: str):
    """The gradebook for this regrade; a new upload being taken in first takes seconds."""
    deadline = time.monotonic() + HOLD_WAIT_S
    while True:
        hold = services.jobs.hold_exam_reports(exam_id, services.settings.reports_lock_ttl_s)
        if hold is not None:
            return hold
        if time.monotonic() > deadline:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                "the gradebook is busy taking in a new upload; your decisions"
                                " were not saved yet: send them again in a minute")
        time.sleep(HOLD_POLL_S)
