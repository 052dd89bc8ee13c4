"""The answer key CSV: `question,answer[,points]`, several accepted answers separated by `|`.

Answers are numbers written one digit per box, so they are digit strings; they are compared as
numbers (leading zeros do not matter: "07" == "7"). A `points` cell, when given, overrides the
layout's points for that question.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from worker.grading.csvfile import CsvTable, decode_csv, parse_csv
from worker.grading.errors import AnswerKeyError
from worker.sheets.layout import MAX_POINTS

ALTERNATIVE_SEPARATOR = "|"


def normalize_answer(digits: str) -> str:
    """The canonical form answers are compared in: a digit string without leading zeros."""
    return digits.lstrip("0") or "0"


@dataclass(frozen=True)
class KeyEntry:
    question: str
    answers: tuple[str, ...]  # accepted answers as written in the key
    points: float | None  # None: use the layout's points
    line: int

    @property
    def text(self) -> str:
        """The accepted answers as the key writes them: `9|09`."""
        return ALTERNATIVE_SEPARATOR.join(self.answers)

    def accepts(self, answer: str) -> bool:
        canonical = normalize_answer(answer)
        return any(normalize_answer(a) == canonical for a in self.answers)


@dataclass(frozen=True)
class AnswerKey:
    source: str
    entries: dict[str, KeyEntry]  # question id -> entry, in file order


def _parse_points(cell: str, source: str, line: int) -> float | None:
    if not cell:
        return None
    try:
        points = float(cell.replace(",", "."))  # a decimal comma from a European spreadsheet
    except ValueError:
        raise AnswerKeyError(source, f"points {cell!r} is not a number", line) from None
    if not math.isfinite(points) or not 0 <= points <= MAX_POINTS:
        raise AnswerKeyError(source, f"points {cell!r} must be a number from 0 to"
                             f" {MAX_POINTS:g}", line)
    return points


def _parse_answers(cell: str, question: str, source: str, line: int) -> tuple[str, ...]:
    if not cell:
        raise AnswerKeyError(source, f"question {question!r} has no answer", line)
    answers = tuple(a.strip() for a in cell.split(ALTERNATIVE_SEPARATOR))
    for answer in answers:
        if not answer:
            raise AnswerKeyError(
                source, f"question {question!r}: empty alternative in {cell!r}", line
            )
        if not (answer.isascii() and answer.isdigit()):
            raise AnswerKeyError(
                source,
                f"question {question!r}: answer {answer!r} is not a whole number written in"
                " digits 0-9 (each box holds one digit; signs and decimals cannot be written)",
                line,
            )
    return answers


def key_from_table(table: CsvTable) -> AnswerKey:
    entries: dict[str, KeyEntry] = {}
    for row in table.rows:
        question = row.values["question"]
        if not question:
            raise AnswerKeyError(table.source, "the question column is empty", row.line)
        if question in entries:
            raise AnswerKeyError(
                table.source,
                f"question {question!r} appears twice (lines {entries[question].line}"
                f" and {row.line})",
                row.line,
            )
        entries[question] = KeyEntry(
            question=question,
            answers=_parse_answers(row.values["answer"], question, table.source, row.line),
            points=_parse_points(row.values["points"], table.source, row.line),
            line=row.line,
        )
    if not entries:
        raise AnswerKeyError(table.source, "the key has a header but no questions")
    return AnswerKey(table.source, entries)


def parse_key(text: str, source: str = "key.csv") -> AnswerKey:
    table = parse_csv(text, source, ("question", "answer"), ("points",), AnswerKeyError)
    return key_from_table(table)


def load_key(path: str | Path) -> AnswerKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AnswerKeyError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    return parse_key(decode_csv(data, str(path), AnswerKeyError), str(path))
