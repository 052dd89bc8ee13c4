"""The CSV reports: students.csv, responses.csv, questions.csv, pages.csv.

Encoding: UTF-8 with a byte-order mark and CRLF line ends. Excel only detects UTF-8 in a CSV by
its BOM (without it, names like "Müller" come out garbled), and LibreOffice, Google Sheets and
Python's csv module ("utf-8-sig") all accept it. Comma-separated, first row the header.

Formula injection: a text cell starting with = + - @ or a tab or carriage return would be run
as a formula by a spreadsheet, so it is written with a leading apostrophe (OWASP's advice).
Numbers are written as numbers and never neutralised: a negative discrimination index is data,
not a formula. Answers are digit strings (boxes cannot hold signs), so they never start with
one of those characters.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from worker.grading.grade import Gradebook, StudentResult
from worker.grading.items import ItemStats
from worker.grading.outputs import PAGES_CSV, QUESTIONS_CSV, RESPONSES_CSV, STUDENTS_CSV
from worker.scan.results import PageResult
from worker.sheets.layout import STUDENT_ID

ENCODING = "utf-8-sig"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
REASON_SEPARATOR = "; "

STUDENT_COLUMNS = (
    STUDENT_ID,
    "name",
    "score",
    "max_score",
    "percent",
    "needs_review",
    "review_reasons",
)
STUDENT_TRAILING_COLUMNS = ("copy", "pdf_pages", "id_read", "id_probability")
RESPONSE_COLUMNS = (
    STUDENT_ID,
    "name",
    "copy",
    "question",
    "answer",
    "key",
    "outcome",
    "correct",
    "points",
    "max_points",
    "digits",
    "confidences",
    "flags",
    "needs_review",
)
QUESTION_COLUMNS = (
    "question",
    "points",
    "key",
    "students",
    "correct",
    "share_correct",
    "share_blank",
    "most_common_wrong",
    "most_common_wrong_count",
    "discrimination",
)
PAGE_COLUMNS = ("pdf_page", "status", "exam_id", "copy", "sheet_page", STUDENT_ID, "note")


def cell(value: object) -> str:
    """One CSV cell: numbers as numbers, text neutralised against formula injection."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.3f}".rstrip("0")
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    with open(path, "w", encoding=ENCODING, newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow([cell(h) for h in header])
        for row in rows:
            writer.writerow([cell(v) for v in row])


def _extra_columns(book: Gradebook) -> list[str]:
    return list(book.exam.roster.extra_columns) if book.exam.roster is not None else []


def student_rows(book: Gradebook) -> tuple[list[str], list[list[object]]]:
    extra = _extra_columns(book)
    questions = [q.id for q in book.exam.questions]
    header = [*STUDENT_COLUMNS, *questions, *STUDENT_TRAILING_COLUMNS, *extra]
    rows = []
    for s in book.students:
        probability = s.identity.probability
        rows.append(
            [
                s.student_id,
                s.name,
                s.score,
                s.max_score,
                s.percent,
                s.needs_review,
                REASON_SEPARATOR.join(s.review_reasons),
                *[r.answer for r in s.responses],
                s.copy,
                " ".join(map(str, s.sheets.source_pages)),
                s.identity.read_id,
                round(probability, 4) if probability is not None else None,
                *[s.extra.get(c, "") for c in extra],
            ]
        )
    return header, rows


def response_rows(book: Gradebook) -> list[list[object]]:
    rows = []
    for s in book.students:
        for question, r in zip(book.exam.questions, s.responses, strict=True):
            rows.append(
                [
                    s.student_id,
                    s.name,
                    s.copy,
                    r.question,
                    r.answer,
                    "|".join(question.key.answers) if question.key else "",
                    str(r.outcome),
                    r.outcome == "correct",
                    r.points,
                    r.max_points,
                    " ".join("_" if b.blank or b.digit is None else str(b.digit) for b in r.boxes),
                    " ".join(f"{b.confidence:.3f}" for b in r.boxes),
                    " ".join(str(f) for f in r.flags),
                    s.needs_review,
                ]
            )
    return rows


def question_rows(stats: list[ItemStats]) -> list[list[object]]:
    return [
        [
            i.question,
            i.points,
            i.key,
            i.students,
            i.correct,
            i.share_correct,
            i.share_blank,
            i.most_common_wrong,
            i.most_common_wrong_count,
            i.discrimination,
        ]
        for i in stats
    ]


def page_rows(book: Gradebook, pages: list[PageResult]) -> list[list[object]]:
    """One row per scanned page: where it went, or why it went nowhere."""
    used = {p.source_page for s in book.students for p in s.sheets.pages.values()}
    by_copy: dict[int, StudentResult] = {s.copy: s for s in book.students}
    reasons = {u.page.source_page: u.reason for u in book.unassigned}
    rows = []
    for p in sorted(pages, key=lambda p: p.source_page):
        student = None if p.source_page in reasons else by_copy.get(p.copy)
        note = reasons.get(p.source_page, p.message)
        if student is not None and p.source_page not in used:
            note = "duplicate scan of this sheet page, not used"
        rows.append(
            [
                p.source_page,
                str(p.status),
                p.exam_id,
                p.copy,
                p.page,
                student.student_id if student else None,
                note,
            ]
        )
    return rows


def write_reports(
    book: Gradebook, stats: list[ItemStats], pages: list[PageResult], out_dir: Path
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    header, rows = student_rows(book)
    tables = {
        STUDENTS_CSV: (header, rows),
        RESPONSES_CSV: (RESPONSE_COLUMNS, response_rows(book)),
        QUESTIONS_CSV: (QUESTION_COLUMNS, question_rows(stats)),
        PAGES_CSV: (PAGE_COLUMNS, page_rows(book, pages)),
    }
    for name, (columns, table) in tables.items():
        write_csv(out_dir / name, columns, table)
    return [out_dir / name for name in tables]
