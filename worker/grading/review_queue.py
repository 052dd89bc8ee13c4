"""The review screen's queue: every flagged item of a graded class, with what is needed to
decide it at a glance, written as review.json beside the other reports; crops of the boxes
from the page images the read pass kept; and the screen's decisions as a corrections file.

Items, in students.csv order (the order of review.csv):
- `answer`: an answer the grading core is not sure of (score.decide): what was read, how
  sure, the key, why; the crop of its boxes.
- `id`: a student ID that needs a look: the ID boxes' crop, what was read, and the roster
  students it may be, most probable first (Plom's identify step).
- `sheet`: what no value can fix (a missing or doubled page): confirm it was checked.
Decisions name the copy (`copy:N`), so they hold whatever the ID turns out to be.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from worker.grading.corrections import CONFIRM, REVIEWED
from worker.grading.grade import Gradebook, StudentResult
from worker.grading.inputs import INPUTS_DIR, PAGES_FILE, previews_dir
from worker.grading.score import Outcome
from worker.scan.previews import preview_path
from worker.scan.results import PageResult
from worker.sheets.layout import STUDENT_ID

REVIEW_JSON = "review.json"
FORMAT = "scangrade-review/1"
# Around a field's boxes in a crop: this share of a box's height on every side, so a digit
# written over the box's edge is still seen whole.
CROP_MARGIN = 0.6
CROP_JPEG_QUALITY = 85
MAX_DECISIONS = 5000  # one request's decisions: a whole class, many times over


@dataclass(frozen=True)
class Decision:
    copy: int
    question: str  # a question id, student_id, or reviewed
    value: str  # digits, ok, blank; an ID; yes


def _page_of(s: StudentResult, field: str) -> int | None:
    for page in s.sheets.pages.values():
        if any(box.field == field for box in page.boxes):
            return page.source_page
    return None


def _who(s: StudentResult) -> dict[str, Any]:
    return {"copy": s.copy, "student_id": s.student_id, "name": s.name,
            "pages": s.sheets.source_pages}


def review_items(book: Gradebook) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    keys = {q.id: (q.key.text if q.key else "") for q in book.exam.questions}
    for s in book.students:
        if not s.needs_review:
            continue
        who = _who(s)
        for reason in s.sheets.problems:
            items.append({"kind": "sheet", **who, "question": REVIEWED, "reason": reason,
                          "crop_page": None})
        if s.identity.reasons:
            items.append({
                "kind": "id", **who, "question": STUDENT_ID,
                "read": s.identity.read_id, "value": s.identity.student_id,
                "on_roster": s.identity.on_roster,
                "probability": s.identity.probability,
                "candidates": [{"student_id": c_id, "name": c_name, "probability": p}
                               for c_id, c_name, p in s.identity.candidates],
                "reason": "; ".join(s.identity.reasons),
                "crop_page": _page_of(s, STUDENT_ID),
            })
        for r in s.responses:
            if not r.needs_review:
                continue
            unread = r.outcome == Outcome.UNREAD
            reason = s.review_reason(r)
            items.append({
                "kind": "answer", **who, "question": r.question,
                "read": None if unread else r.answer, "outcome": str(r.outcome),
                "probability": r.outcome_probability, "key": keys.get(r.question, ""),
                "boxes": len(r.boxes) or next(q.boxes for q in book.exam.questions
                                              if q.id == r.question),
                "reason": reason, "crop_page": _page_of(s, r.question),
            })
    return items


def write_review_json(book: Gradebook, out_dir: Path) -> Path:
    students = sum(1 for s in book.students if s.needs_review)
    data = {"format": FORMAT, "exam_id": book.exam.exam_id, "students": len(book.students),
            "students_to_review": students, "items": review_items(book)}
    path = Path(out_dir) / REVIEW_JSON
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_review(out_dir: Path) -> dict[str, Any] | None:
    path = Path(out_dir) / REVIEW_JSON
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _saved_page(out_dir: Path, number: int) -> PageResult | None:
    path = Path(out_dir) / INPUTS_DIR / PAGES_FILE
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            data = json.loads(line)
            if data.get("source_page") == number:
                return PageResult.from_json(data)
    return None


def field_crop(out_dir: Path, page_number: int, field: str) -> bytes | None:
    """A JPEG of one field's boxes on a page, upright, cut from the page image the read pass
    kept; None when the page, its image or the field is not there."""
    page = _saved_page(out_dir, page_number)
    image_path = preview_path(previews_dir(Path(out_dir)), page_number)
    if page is None or not image_path.is_file() or not page.width_px:
        return None
    quads = [box.quad for box in page.boxes if box.field == field and box.quad]
    if not quads:
        return None
    with Image.open(image_path) as image:
        scale = image.width / page.width_px
        xs = [x * scale for quad in quads for x, _ in quad]
        ys = [y * scale for quad in quads for _, y in quad]
        pad = CROP_MARGIN * min(max(ys) - min(ys), max(xs) - min(xs))
        box = (max(0, int(min(xs) - pad)), max(0, int(min(ys) - pad)),
               min(image.width, int(max(xs) + pad)), min(image.height, int(max(ys) + pad)))
        crop = image.crop(box)
        if page.rotation:  # degrees counter-clockwise that turn the scan upright
            crop = crop.rotate(page.rotation, expand=True)
        buffer = io.BytesIO()
        crop.convert("L").save(buffer, format="JPEG", quality=CROP_JPEG_QUALITY)
    return buffer.getvalue()


def parse_decisions(data: Any) -> list[Decision]:
    """The screen's decisions, {"decisions": [{"copy", "question", "value"}]}; ValueError in
    words for anything else (corrections checks the values against the class)."""
    rows = data.get("decisions") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ValueError("send {\"decisions\": [{\"copy\": N, \"question\": ..., \"value\":"
                         " ...}]} with at least one decision")
    if len(rows) > MAX_DECISIONS:
        raise ValueError(f"at most {MAX_DECISIONS} decisions at once")
    decisions = []
    for number, row in enumerate(rows, 1):
        try:
            copy = int(row["copy"])
            question = str(row["question"]).strip()
            value = str(row.get("value", CONFIRM)).strip()
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"decision {number} needs a copy number, a question and a"
                             " value") from None
        if copy < 1 or not question or "," in value or "\n" in value:
            raise ValueError(f"decision {number} is not a copy, question and value")
        decisions.append(Decision(copy, question, value))
    return decisions


def decisions_csv(decisions: Sequence[Decision]) -> bytes:
    """The decisions as a corrections file (worker.grading.corrections): `copy:N` names
    each sheet; an empty value is a blank answer."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "question", "value"])
    for d in decisions:
        writer.writerow([f"copy:{d.copy}", d.question, d.value or "blank"])
    return buffer.getvalue().encode("utf-8")

