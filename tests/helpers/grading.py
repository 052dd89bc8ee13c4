"""Builders for grading tests: real layouts (worker.sheets.layout) and page results as the pipeline
writes them, with chosen digits and confidences."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from model.inference.classes import BLANK, NUM_CLASSES
from scangrade.settings import get_settings
from worker.grading import Exam, grade_and_report
from worker.scan.results import BoxRead, PageResult, PageStatus
from worker.sheets.layout import Layout
from worker.sheets.units import MM_PER_INCH

DPI = 100
NEVER_WRONG = 0.99999  # the confidence of pages_from_truth's reads


def small_layout(
    exam_id: str = "quiz", id_digits: int = 4, pages: int | None = None, version: str = "1"
) -> Layout:
    data = {
        "exam_id": exam_id,
        "name": "Quiz",
        "version": version,
        "id_digits": id_digits,
        "questions": [
            {"id": "q1", "boxes": 2},
            {"id": "q2", "boxes": 3, "points": 2},
            {"id": "q3", "boxes": 1},
            {"id": "q4", "boxes": 2},
        ],
    }
    if pages:
        data["pages"] = pages
    return Layout.from_data(data)


def probs_for(symbol: int, confidence: float, runner_up: int | None = None) -> list[float]:
    """11 class probabilities: `confidence` on `symbol`, the rest on `runner_up` (or spread)."""
    rest = 1.0 - confidence
    if runner_up is not None:
        probs = [0.0] * NUM_CLASSES
        probs[runner_up] = rest
    else:
        probs = [rest / (NUM_CLASSES - 1)] * NUM_CLASSES
    probs[symbol] = confidence
    return probs


def box(
    field: str,
    index: int,
    char: str,
    confidence: float = 0.999,
    runner_up: int | None = None,
    quad=None,
) -> BoxRead:
    symbol = BLANK if char in (" ", "_") else int(char)
    return BoxRead(
        field=field,
        index=index,
        digit=None if symbol == BLANK else symbol,
        confidence=confidence,
        blank=symbol == BLANK,
        probs=probs_for(symbol, confidence, runner_up),
        quad=quad or [[0, 0]] * 4,
    )


def page_result(
    layout: Layout,
    copy: int,
    values: dict[str, str],
    page: int = 1,
    source_page: int | None = None,
    unsure: dict[tuple[str, int], tuple] | None = None,
    status: PageStatus = PageStatus.OK,
    exam_id: str | None = None,
) -> PageResult:
    """A page as read: `values` maps a field to its boxes' contents (" " = blank box);
    fields not given read blank. `unsure`: (field, index) -> (confidence, runner_up digit)."""
    unsure = unsure or {}
    boxes = []
    for cell in layout.cells(page):
        text = values.get(cell.field, "").ljust(99)
        confidence, runner_up = unsure.get((cell.field, cell.index), (0.999, None))
        to_px = DPI / MM_PER_INCH
        x, y, w, h = (v * to_px for v in (cell.x_mm, cell.y_mm, cell.w_mm, cell.h_mm))
        quad = [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
        boxes.append(box(cell.field, cell.index, text[cell.index], confidence, runner_up, quad))
    width, height = (round(v / MM_PER_INCH * DPI) for v in layout.page_size_mm)
    return PageResult(
        source_page=source_page if source_page is not None else copy,
        status=status,
        exam_id=exam_id or layout.exam_id,
        layout_version=layout.version,
        copy=copy,
        page=page,
        rotation=0,
        residual_mm=0.1,
        dpi=DPI,
        width_px=width,
        height_px=height,
        boxes=boxes,
    )


def pages_from_truth(truth: dict, layout: Layout) -> list[PageResult]:
    """Page results exactly as the synthetic scan's ground truth says (a reader that is never
    wrong), with box corners projected through each page's true mm->px transform: for
    testing grading and review.pdf on a real scan without the model."""
    import numpy as np

    pages = []
    dpi = truth["dpi"]
    for page in truth["pages"]:
        if page["kind"] != "sheet":
            status = (
                PageStatus.UNKNOWN_EXAM if page["kind"] == "other-exam" else PageStatus.NOT_A_SHEET
            )
            pages.append(
                PageResult(
                    source_page=page["source_page"],
                    status=status,
                    message=f"synthetic {page['kind']} page",
                    exam_id=page.get("exam_id"),
                    layout_version=page.get("layout_version"),
                    dpi=dpi,
                )
            )
            continue
        matrix = np.array(page["mm_to_px"])
        digits = {(b["field"], b["index"]): b["digit"] for b in page["boxes"]}
        boxes = []
        for cell in layout.cells(page["page"]):
            corners = (
                np.array(
                    [
                        [cell.x_mm, cell.y_mm, 1],
                        [cell.x_mm + cell.w_mm, cell.y_mm, 1],
                        [cell.x_mm + cell.w_mm, cell.y_mm + cell.h_mm, 1],
                        [cell.x_mm, cell.y_mm + cell.h_mm, 1],
                    ]
                )
                @ matrix.T
            )
            quad = (corners[:, :2] / corners[:, 2:]).tolist()
            digit = digits[(cell.field, cell.index)]
            boxes.append(box(cell.field, cell.index, " " if digit is None else str(digit),
                             confidence=NEVER_WRONG, quad=quad))
        pages.append(
            PageResult(
                source_page=page["source_page"],
                status=PageStatus.OK,
                exam_id=page["exam_id"],
                layout_version=page["layout_version"],
                copy=page["copy"],
                page=page["page"],
                rotation=page["rotation"],
                residual_mm=0.1,
                dpi=dpi,
                width_px=page["width_px"],
                height_px=page["height_px"],
                boxes=boxes,
            )
        )
    return pages


def true_scores(truth: dict, exam) -> dict[str, float]:
    """student_id -> the score the truth's answers earn on `exam` (its key and points)."""
    questions = {q.id: q for q in exam.questions}
    scores = {}
    for student in truth["students"]:
        scores[student["student_id"]] = sum(
            questions[qid].points
            for qid, answer in student["answers"].items()
            if answer is not None and questions[qid].key.accepts(answer)
        )
    return scores


SMALL_CLASS_KEY = "question,answer\nq1,12\nq2,7|07\nq3,0\nq4,45\n"


def read_csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 BOM"
    assert b"\r\n" in raw or raw.count(b"\n") == 0
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def grade_small_class(tmp_path: Path):
    """Ann right, Bob unsure whether q4 is 45 or 46, a name that is a formula, a missing ID,
    and a roster student who handed nothing in."""
    layout = small_layout()
    layout_path = tmp_path / "in" / "layout.yaml"
    layout_path.parent.mkdir()
    layout_path.write_text(layout.to_yaml(), encoding="utf-8")
    (tmp_path / "in" / "key.csv").write_text(SMALL_CLASS_KEY)
    (tmp_path / "in" / "roster.csv").write_text(
        'student_id,name,class,email\n1234,Ann Müller,5a,ann@school.example\n'
        '5678,=HYPERLINK("http://x"),-5b,\n9999,Absent,5a,\n',
        encoding="utf-8",
    )
    exam = Exam.load(layout_path, tmp_path / "in" / "key.csv", tmp_path / "in" / "roster.csv")
    pages = [
        page_result(
            layout, 1, {"student_id": "1234", "q1": "12", "q2": "  7", "q3": "0", "q4": "45"}
        ),
        page_result(
            layout,
            2,
            {"student_id": "5678", "q1": "13", "q2": "7", "q4": "45"},
            unsure={("q4", 1): (0.6, 6)},
        ),
        page_result(layout, 3, {"student_id": "    ", "q1": "12", "q2": "7 7"}),
    ]
    out = tmp_path / "out"
    summary = grade_and_report(pages, exam, out, settings=get_settings())
    return out, summary
