"""The CSV reports: students.csv, responses.csv, questions.csv, pages.csv, review.csv and
the gradebook exports (how they are encoded: worker.grading.csvfile)."""

from __future__ import annotations

from pathlib import Path

from worker.grading.corrections import REVIEWED
from worker.grading.csvfile import write_csv
from worker.grading.grade import Gradebook, StudentResult
from worker.grading.items import ItemStats
from worker.grading.report_files import (
    CANVAS_CSV,
    MOODLE_CSV,
    PAGES_CSV,
    QUESTIONS_CSV,
    RESPONSES_CSV,
    REVIEW_CSV,
    STUDENTS_CSV,
)
from worker.grading.score import GAP_MARK, Outcome
from worker.scan.results import PageResult
from worker.sheets.layout import STUDENT_ID

REASON_SEPARATOR = "; "
GRADED, ABSENT = "graded", "absent"  # students.csv status: a sheet was graded / none came in

STUDENT_COLUMNS = (
    STUDENT_ID,
    "name",
    "status",
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
    "outcome_probability",
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
# review.csv: fill in `value` and pass the file back with `scangrade regrade DIR --overrides`
REVIEW_COLUMNS = ("student", "copy", "name", "question", "read", "probability", "key",
                  "value", "reason")
# Moodle's grade import (Grades > Import > CSV file) maps a user field to each column; its own
# export writes these names, and "ID number" maps to the users' idnumber field.
MOODLE_COLUMNS = ("First name", "Last name", "ID number", "Email address")
# Canvas's gradebook import (Grades > Import) matches students by ID, SIS User ID or SIS Login
# ID; a column named after no assignment creates one, and the "Points Possible" row under the
# header gives its points.
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "Points Possible"
EMAIL_COLUMNS = ("email", "e-mail", "email address", "mail")  # a roster's email column


def _extra_columns(book: Gradebook) -> list[str]:
    return list(book.exam.roster.extra_columns) if book.exam.roster is not None else []


def student_rows(book: Gradebook) -> tuple[list[str], list[list[object]]]:
    """Every graded sheet, then every roster student without one (status absent)."""
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
                GRADED,
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
    for r in book.absent:
        rows.append([r.student_id, r.name, ABSENT, None, book.exam.max_score, None, False,
                     "no sheet in the scans", *[None] * len(questions), None, None, None, None,
                     *[r.extra.get(c, "") for c in extra]])
    return header, rows


def response_rows(book: Gradebook) -> list[list[object]]:
    rows = []
    for s in book.students:
        for question, r in zip(book.exam.questions, s.responses, strict=True):
            probability = r.outcome_probability
            rows.append(
                [
                    s.student_id,
                    s.name,
                    s.copy,
                    r.question,
                    r.answer,
                    question.key.text if question.key else "",
                    str(r.outcome),
                    round(probability, 4) if probability is not None else None,
                    r.outcome == "correct",
                    r.points,
                    r.max_points,
                    " ".join(GAP_MARK if b.blank or b.digit is None else str(b.digit)
                             for b in r.boxes),
                    " ".join(f"{b.confidence:.3f}" for b in r.boxes),
                    " ".join(str(f) for f in r.flags),
                    r.needs_review and s.needs_review,
                ]
            )
    return rows


def _named(book: Gradebook, s: StudentResult) -> str:
    """How review.csv names a student: the ID when it names one sheet, else the copy."""
    return s.student_id if s.student_id and len(book.copies_by_id()[s.student_id]) == 1 \
        else f"copy:{s.copy}"


def review_rows(book: Gradebook) -> list[list[object]]:
    """One row per thing to check, in students.csv order: the ID, each unsure answer, and
    a `reviewed` row for what no value can fix (a missing or doubled page)."""
    rows: list[list[object]] = []
    for s in book.students:
        if not s.needs_review:
            continue
        who = [_named(book, s), s.copy, s.name]
        for reason in s.sheets.problems:
            rows.append([*who, REVIEWED, "", None, "", "", reason])
        if s.identity.reasons:
            probability = s.identity.probability
            rows.append([*who, STUDENT_ID, s.identity.student_id or s.identity.read_id,
                         round(probability, 4) if probability is not None else None, "", "",
                         REASON_SEPARATOR.join(s.identity.reasons)])
        for question, r in zip(book.exam.questions, s.responses, strict=True):
            if not r.needs_review:
                continue
            unread = r.outcome == Outcome.UNREAD
            reason = s.review_reason(r)
            probability = r.outcome_probability
            rows.append([*who, r.question, "" if unread else (r.answer or "blank"),
                         round(probability, 4) if probability is not None else None,
                         question.key.text if question.key else "", "", reason])
    return rows


def _split_name(name: str) -> tuple[str, str]:
    """(first, last) as Moodle wants them: the last word is taken as the last name."""
    first, _, last = name.strip().rpartition(" ")
    return (first, last) if first else (last, "")


def _email(book: Gradebook, s: StudentResult) -> str:
    for column in _extra_columns(book):
        if column.lower() in EMAIL_COLUMNS:
            return s.extra.get(column, "")
    return ""


def moodle_rows(book: Gradebook) -> tuple[list[str], list[list[object]]]:
    """Identified students (Gradebook.identified) and their score, one grade column named
    after the exam; a sheet without a sure student is left to the teacher."""
    header = [*MOODLE_COLUMNS, book.exam.layout.name]
    rows = [[*_split_name(s.name), s.student_id, _email(book, s), s.score]
            for s in book.students if book.identified(s)]
    return header, rows


def canvas_rows(book: Gradebook) -> tuple[list[str], list[list[object]]]:
    header = [*CANVAS_COLUMNS, book.exam.layout.name]
    rows: list[list[object]] = [[CANVAS_POINTS_ROW, "", "", "", "", book.exam.max_score]]
    rows += [[s.name, "", s.student_id, "", "", s.score]
             for s in book.students if book.identified(s)]
    return header, rows


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
    tables = {
        STUDENTS_CSV: student_rows(book),
        RESPONSES_CSV: (RESPONSE_COLUMNS, response_rows(book)),
        QUESTIONS_CSV: (QUESTION_COLUMNS, question_rows(stats)),
        PAGES_CSV: (PAGE_COLUMNS, page_rows(book, pages)),
        REVIEW_CSV: (REVIEW_COLUMNS, review_rows(book)),
        MOODLE_CSV: moodle_rows(book),
        CANVAS_CSV: canvas_rows(book),
    }
    for name, (columns, table) in tables.items():
        write_csv(out_dir / name, columns, table)
    return [out_dir / name for name in tables]
