"""The review screen's API, one implementation for both places it runs: the service (an
exam's gradebook, api/routers/review.py) and a teacher's laptop (`scangrade review DIR`,
api/local_review.py). Each gives a report folder and a way to regrade it with decisions.

    GET  .../review                      the queue: flagged items, crop URLs
    GET  .../review/crops/{page}/{field}  a JPEG of one field's boxes, upright
    POST .../review  {"decisions": [...]} decisions into the correction journal; reports
                                          regraded; the new queue back
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.responses import Response

from worker.grading.review_queue import (
    Decision,
    decisions_csv,
    field_crop,
    load_review,
    parse_decisions,
)

# The name the decisions are recorded under in the correction journal
REVIEW_SOURCE = "review-screen.csv"
MAX_DECISIONS_BYTES = 1024 * 1024


_PATH = re.compile(r"(?:/[^\s/()]+)+/([^\s/()]+)")


def without_paths(text: str) -> str:
    """Absolute paths in a message shortened to their file names: the server's folders are
    no one's business, and a teacher knows the file by its name."""
    return _PATH.sub(r"\1", text)


def queue(reports_dir: Path, base_url: str) -> dict[str, Any]:
    """The queue as the screen gets it; `base_url` is the review route's own URL."""
    review = load_review(reports_dir)
    if review is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            "nothing graded yet: upload scans of this exam first")
    for item in review["items"]:
        page = item.get("crop_page")
        item["crop_url"] = f"{base_url}/crops/{page}/{item['question']}" if page else None
    return review


def crop(reports_dir: Path, page: int, field: str) -> Response:
    jpeg = field_crop(reports_dir, page, field)
    if jpeg is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no image of {field} on page {page}")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "max-age=300"})


async def decisions(request: Request) -> list[Decision]:
    body = await request.body()
    if len(body) > MAX_DECISIONS_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "too many decisions at once")
    try:
        return parse_decisions(json.loads(body or b"null"))
    except (json.JSONDecodeError, ValueError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


def regrade_folder(folder: Path, chosen: list[Decision], settings, exam=None,
                   scratch: Path | None = None):
    """Adds the decisions to `folder`'s journal and rewrites its reports (scangrade regrade
    --overrides) and returns the summary; a decision that does not fit the class is a 422
    naming it, and nothing of the batch is kept. The decisions are written as a corrections
    file into `scratch` (default: beside `folder`)."""
    from worker.grading import GradingInputError, regrade

    overrides = (scratch or folder.parent) / REVIEW_SOURCE
    overrides.write_bytes(decisions_csv(chosen))
    try:
        return regrade(folder, settings=settings, exam=exam, overrides_path=overrides)
    except GradingInputError as exc:
        if exc.line is not None and Path(exc.source).name == REVIEW_SOURCE:
            # line 1 is the header: decision n is on line n + 1
            message = f"decision {exc.line - 1}: {without_paths(exc.problem)}"
        else:  # the folder itself (its journal, its saved inputs)
            message = without_paths(str(exc))
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message) from exc
    finally:
        overrides.unlink(missing_ok=True)

