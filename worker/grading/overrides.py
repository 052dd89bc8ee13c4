"""A teacher's corrections: overrides.csv with rows `student,question,value`.

- `student`: the student_id as in students.csv, or `copy:N` for the printed copy number
  (needed when an ID is unknown or two sheets share one).
- `question` (also accepted as header `question_or_id`): a question id, `student_id` to
  correct the ID, or `reviewed` to mark the student as checked (value yes/no).
- `value`: the answer's digits (empty = blank), the correct student ID, or yes/no.

Each regrade applies the whole file to the original reads, so the file is the complete list of
corrections and running it twice gives the same reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from worker.grading.csvfile import decode_csv, parse_csv
from worker.grading.errors import OverridesError
from worker.sheets.layout import STUDENT_ID

ID_FIELDS = (STUDENT_ID, "id")
REVIEWED_FIELD = "reviewed"
_COPY = re.compile(r"^copy\s*[:#]?\s*(\d+)$", re.IGNORECASE)
_YES = {"yes", "y", "true", "1", "ok", "x"}
_NO = {"no", "n", "false", "0", ""}


@dataclass(frozen=True)
class OverrideRow:
    line: int
    student: str
    target: str
    value: str


@dataclass
class CopyOverrides:
    """Overrides resolved to printed copies (one copy = one student)."""

    answers: dict[int, dict[str, str]] = field(default_factory=dict)  # copy -> question -> digits
    ids: dict[int, str] = field(default_factory=dict)  # copy -> student ID
    reviewed: dict[int, bool] = field(default_factory=dict)
    source: str = ""
    count: int = 0


def parse_overrides(text: str, source: str = "overrides.csv") -> list[OverrideRow]:
    table = parse_csv(
        text, source, ("student", "value"), ("question", "question_or_id"), OverridesError
    )
    rows = []
    for row in table.rows:
        target = row.values["question"] or row.values["question_or_id"]
        if not row.values["student"]:
            raise OverridesError(source, "the student column is empty", row.line)
        if not target:
            raise OverridesError(source, "the question column is empty", row.line)
        rows.append(OverrideRow(row.line, row.values["student"], target, row.values["value"]))
    return rows


def load_overrides(path: str | Path) -> list[OverrideRow]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise OverridesError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    return parse_overrides(decode_csv(data, str(path), OverridesError), str(path))


def resolve_overrides(
    rows: list[OverrideRow],
    source: str,
    copies_by_id: dict[str, list[int]],
    copies: set[int],
    question_ids: list[str],
    id_digits: int,
) -> CopyOverrides:
    """Map each row to a copy and check its value; raises OverridesError naming the line."""
    resolved = CopyOverrides(source=source, count=len(rows))
    for row in rows:
        match = _COPY.match(row.student)
        if match:
            copy = int(match.group(1))
            if copy not in copies:
                raise OverridesError(source, f"no sheet with copy number {copy}", row.line)
        else:
            found = copies_by_id.get(row.student) or copies_by_id.get(row.student.zfill(id_digits))
            if not found:
                raise OverridesError(
                    source,
                    f"no student {row.student!r} in students.csv (use copy:N for a"
                    " sheet without a usable ID)",
                    row.line,
                )
            if len(found) > 1:
                raise OverridesError(
                    source,
                    f"student {row.student!r} is on copies"
                    f" {', '.join(map(str, found))}; write copy:N instead",
                    row.line,
                )
            copy = found[0]
        target = row.target
        value = row.value
        if target.lower() in ID_FIELDS:
            if not (value.isascii() and value.isdigit()) or len(value) > id_digits:
                raise OverridesError(
                    source, f"student ID {value!r} must be up to {id_digits} digits", row.line
                )
            resolved.ids[copy] = value.zfill(id_digits)
        elif target.lower() == REVIEWED_FIELD:
            if value.lower() not in _YES | _NO:
                raise OverridesError(source, f"reviewed must be yes or no, not {value!r}", row.line)
            resolved.reviewed[copy] = value.lower() in _YES
        elif target in question_ids:
            if value and not (value.isascii() and value.isdigit()):
                raise OverridesError(
                    source,
                    f"answer {value!r} to {target} must be digits 0-9 (empty = blank)",
                    row.line,
                )
            resolved.answers.setdefault(copy, {})[target] = value
        else:
            raise OverridesError(
                source,
                f"{target!r} is neither a question ({', '.join(question_ids)}) nor"
                " student_id nor reviewed",
                row.line,
            )
    return resolved
