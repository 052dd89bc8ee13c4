"""A teacher's corrections, and the journal in the report folder that keeps every one of them.

A corrections file (`scangrade regrade DIR --overrides FILE`, the API's overrides route) has
rows `student,question,value`; review.csv, filled in, is one:
- `student`: the student_id as in students.csv, or `copy:N` for the printed copy number
  (needed when an ID is unknown or two sheets share one); a `copy` column, when present and
  filled, names the copy directly.
- `question` (also accepted as header `question_or_id`): a question id, `student_id` to
  correct the ID, or `reviewed` to mark the student as checked (value yes/no).
- `value`: the answer's digits, `blank` (or `-`) for no answer, `ok` to confirm what was read;
  the correct student ID (or `ok`); yes/no. An empty value means blank in a plain corrections
  file, and "not looked at, leave it" in a filled-in review.csv (it has a `read` column).

Every row is checked before anything changes (a bad row raises CorrectionsError naming its
line, and nothing of the file is kept), resolved to the printed copy it is about, and added
to the journal DIR/corrections.csv with where it came from and when. Grading applies the
journal: for each copy and question the latest row wins. Nothing is ever taken out of it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from worker.grading.csvfile import decode_csv, parse_csv
from worker.grading.errors import CorrectionsError
from worker.grading.report_files import JOURNAL_CSV
from worker.grading.score import GAP_MARK, Outcome
from worker.sheets.layout import STUDENT_ID

if TYPE_CHECKING:
    from worker.grading.exam import Exam
    from worker.grading.grade import Gradebook

JOURNAL_COLUMNS = ("student", "copy", "question", "value", "source", "line", "recorded")
ID_TARGETS = (STUDENT_ID, "id")
REVIEWED = "reviewed"
CONFIRM = "ok"  # "what was read is right"
BLANK_WORDS = ("blank", "-", "_")
REVIEW_FORM_COLUMN = "read"  # a column only review.csv has: empty values there are skipped
_COPY = re.compile(r"^copy\s*[:#]?\s*(\d+)$", re.IGNORECASE)
_YES = {"yes", "y", "true", "1", "ok", "x"}
_NO = {"no", "n", "false", "0", ""}


@dataclass(frozen=True)
class CorrectionRow:
    """One row as the teacher wrote it."""

    line: int
    student: str
    copy: int | None  # from a `copy` column
    target: str
    value: str


@dataclass(frozen=True)
class Correction:
    """One checked correction, as the journal keeps it."""

    copy: int
    target: str  # a question id, STUDENT_ID or REVIEWED
    value: str  # digits ("" = blank), a full student ID, or "yes"/"no"
    student: str  # as the teacher named the student
    source: str  # the file it came from
    line: int  # its line there
    recorded: str  # when it was added (ISO 8601)


@dataclass
class CopyOverrides:
    """The journal's latest word per copy and question: what grading applies."""

    answers: dict[int, dict[str, str]] = field(default_factory=dict)  # copy -> question -> digits
    ids: dict[int, str] = field(default_factory=dict)  # copy -> student ID
    reviewed: dict[int, bool] = field(default_factory=dict)
    count: int = 0  # corrections in effect
    sources: dict[str, int] = field(default_factory=dict)  # file -> corrections in effect


def parse_corrections(text: str, source: str = "corrections.csv") -> list[CorrectionRow]:
    table = parse_csv(
        text, source, ("student", "value"),
        ("question", "question_or_id", "copy", REVIEW_FORM_COLUMN), CorrectionsError,
    )
    review_form = REVIEW_FORM_COLUMN in {h.lower() for h in table.header}
    rows = []
    for row in table.rows:
        target = row.values["question"] or row.values["question_or_id"]
        value = row.values["value"]
        if review_form and not value:
            continue  # a review.csv row the teacher did not fill in
        copy = row.values["copy"]
        if copy and not copy.isdigit():
            raise CorrectionsError(source, f"copy {copy!r} is not a copy number", row.line)
        if not row.values["student"] and not copy:
            raise CorrectionsError(source, "the student column is empty", row.line)
        if not target:
            raise CorrectionsError(source, "the question column is empty", row.line)
        rows.append(CorrectionRow(row.line, row.values["student"], int(copy) if copy else None,
                                  target, value))
    return rows


def load_corrections(path: str | Path) -> list[CorrectionRow]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CorrectionsError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    return parse_corrections(decode_csv(data, str(path), CorrectionsError), Path(path).name)


def _copy_of(row: CorrectionRow, source: str, book: Gradebook, ids: dict[int, str]) -> int:
    """The copy a row is about; `ids`: copy -> student ID as this file has left them so far
    (a row correcting an ID makes later rows of the file find the student by the new one)."""
    copies = {s.copy for s in book.students}
    if row.copy is not None:
        if row.copy not in copies:
            raise CorrectionsError(source, f"no sheet with copy number {row.copy}", row.line)
        return row.copy
    match = _COPY.match(row.student)
    if match:
        copy = int(match.group(1))
        if copy not in copies:
            raise CorrectionsError(source, f"no sheet with copy number {copy}", row.line)
        return copy
    wanted = {row.student, row.student.zfill(book.exam.id_digits)}
    found = sorted(copy for copy, student_id in ids.items() if student_id in wanted)
    if not found:
        absent = {r.student_id for r in book.absent} & wanted
        if absent:
            raise CorrectionsError(
                source, f"student {row.student!r} handed in no sheet (absent in students.csv)",
                row.line)
        raise CorrectionsError(
            source,
            f"no student {row.student!r} in students.csv (use copy:N for a sheet without a"
            " usable ID)",
            row.line,
        )
    if len(found) > 1:
        raise CorrectionsError(
            source,
            f"student {row.student!r} is on copies {', '.join(map(str, found))}; write"
            " copy:N instead",
            row.line,
        )
    return found[0]


def _checked_value(row: CorrectionRow, copy: int, source: str, book: Gradebook
                   ) -> tuple[str, str]:
    """(target, value) of a row, checked against the exam and the sheet it is about."""
    exam = book.exam
    student = next(s for s in book.students if s.copy == copy)
    target, value = row.target, row.value.strip()
    if target.lower() in ID_TARGETS:
        if value.lower() == CONFIRM:
            value = student.student_id
            if not value:
                raise CorrectionsError(
                    source, "the ID of this sheet is unknown: write the correct ID, not ok",
                    row.line)
        if not (value.isascii() and value.isdigit()) or len(value) > exam.id_digits:
            raise CorrectionsError(
                source, f"student ID {value!r} must be up to {exam.id_digits} digits", row.line)
        value = value.zfill(exam.id_digits)
        if exam.roster is not None and value not in exam.roster.by_id():
            raise CorrectionsError(
                source, f"student ID {value} is not on the roster ({exam.roster.source})",
                row.line)
        return STUDENT_ID, value
    if target.lower() == REVIEWED:
        if value.lower() not in _YES | _NO:
            raise CorrectionsError(source, f"reviewed must be yes or no, not {value!r}", row.line)
        return REVIEWED, "yes" if value.lower() in _YES else "no"
    question = next((q for q in exam.questions if q.id == target), None)
    if question is None:
        raise CorrectionsError(
            source,
            f"{target!r} is neither a question ({', '.join(q.id for q in exam.questions)}) nor"
            " student_id nor reviewed",
            row.line,
        )
    if value.lower() == CONFIRM:
        response = next(r for r in student.responses if r.question == question.id)
        if response.outcome == Outcome.UNREAD:
            raise CorrectionsError(
                source, f"{target} was not read (its page is missing or unreadable): write"
                " the answer instead of ok", row.line)
        value = response.answer.replace(GAP_MARK, "")
    elif value.lower() in BLANK_WORDS:
        value = ""
    if value and not (value.isascii() and value.isdigit()):
        raise CorrectionsError(
            source, f"answer {value!r} to {target} must be digits 0-9, blank or ok", row.line)
    if len(value) > question.boxes:
        raise CorrectionsError(
            source,
            f"answer {value!r} to {target} has {len(value)} digits but the question has"
            f" {question.boxes} box{'es' if question.boxes != 1 else ''}",
            row.line,
        )
    return question.id, value


def resolve_corrections(
    rows: Iterable[CorrectionRow], source: str, book: Gradebook, recorded: str
) -> list[Correction]:
    """Every row checked against the graded class and tied to its copy; raises
    CorrectionsError naming the first bad row's line (then nothing is kept)."""
    resolved = []
    ids = {s.copy: s.student_id for s in book.students if s.student_id}
    for row in rows:
        copy = _copy_of(row, source, book, ids)
        target, value = _checked_value(row, copy, source, book)
        if target == STUDENT_ID:
            ids[copy] = value
        resolved.append(Correction(copy, target, value, row.student or f"copy:{copy}", source,
                                   row.line, recorded))
    return resolved


def in_effect(journal: Iterable[Correction]) -> CopyOverrides:
    """The latest correction per copy and question (the journal is in the order added)."""
    journal = list(journal)
    latest: dict[tuple[int, str], Correction] = {}
    for correction in journal:
        latest[(correction.copy, correction.target)] = correction
    overrides = CopyOverrides(count=len(latest))
    in_use = Counter(correction.source for correction in latest.values())
    for source in dict.fromkeys(c.source for c in journal):  # in the order they came in
        if in_use[source]:
            overrides.sources[source] = in_use[source]
    for (copy, target), correction in latest.items():
        if target == STUDENT_ID:
            overrides.ids[copy] = correction.value
        elif target == REVIEWED:
            overrides.reviewed[copy] = correction.value == "yes"
        else:
            overrides.answers.setdefault(copy, {})[target] = correction.value
    return overrides


def applicable(journal: Iterable[Correction], copies: set[int], exam: Exam
               ) -> tuple[list[Correction], list[str]]:
    """The journal's corrections in effect that these sheets and this exam give a place to,
    and a problem line for each one they do not (it stays in the journal, as every
    correction does: new scans of the missing sheet will take it)."""
    questions = {q.id: q for q in exam.questions}
    usable, problems = [], []
    latest: dict[tuple[int, str], Correction] = {}
    for correction in journal:
        latest[(correction.copy, correction.target)] = correction
    for correction in journal:
        if latest[(correction.copy, correction.target)] is not correction:
            continue  # replaced by a later row: nothing to apply, nothing to report
        where = f"{JOURNAL_CSV}: correction of copy {correction.copy} ({correction.source}" \
                f" line {correction.line})"
        if correction.copy not in copies:
            problems.append(f"{where} not applied: no sheet with copy {correction.copy}")
        elif correction.target not in (STUDENT_ID, REVIEWED) and (
                correction.target not in questions
                or len(correction.value) > questions[correction.target].boxes):
            problems.append(f"{where} not applied: {correction.target} does not fit this exam")
        else:
            usable.append(correction)
    return usable, problems


def journal_path(out_dir: str | Path) -> Path:
    return Path(out_dir) / JOURNAL_CSV


def load_journal(out_dir: str | Path) -> list[Correction]:
    """The report folder's journal, in the order its corrections were added; [] when none."""
    path = journal_path(out_dir)
    if not path.is_file():
        return []
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorrectionsError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    text = decode_csv(data, str(path), CorrectionsError)
    table = parse_csv(text, JOURNAL_CSV, JOURNAL_COLUMNS, (), CorrectionsError)
    journal = []
    for row in table.rows:
        values = row.values
        if not values["copy"].isdigit() or not values["line"].lstrip("'").isdigit():
            raise CorrectionsError(JOURNAL_CSV, "the journal is damaged (copy and line must"
                                   " be numbers)", row.line)
        journal.append(Correction(
            int(values["copy"]), values["question"], values["value"],
            values["student"].removeprefix("'"), values["source"].removeprefix("'"),
            int(values["line"].lstrip("'")), values["recorded"]))
    return journal


def journal_rows(journal: Iterable[Correction]) -> list[list[object]]:
    return [[c.student, c.copy, c.target, c.value, c.source, c.line, c.recorded]
            for c in journal]
