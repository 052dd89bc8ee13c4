"""The class roster CSV: `student_id,name[,...]`; extra columns are kept and reported.

Student IDs are digit strings. Spreadsheets drop leading zeros ("001234" becomes 1234), so an
ID shorter than the sheet's ID boxes is padded with zeros on the left to match what a student
writes. Problems that do not stop grading (a duplicated ID, an ID that cannot be written in the
boxes) are collected in `Roster.problems` and reported; the rest of the roster is still used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from worker.grading.csvfile import CsvTable, decode_csv, parse_csv
from worker.grading.errors import RosterError
from worker.sheets.layout import STUDENT_ID

REQUIRED_COLUMNS = (STUDENT_ID, "name")  # the ID column has the ID boxes' field name


@dataclass(frozen=True)
class RosterStudent:
    student_id: str  # padded to the sheet's ID length
    name: str
    line: int
    extra: dict[str, str]  # extra roster columns, header name -> cell


@dataclass(frozen=True)
class Roster:
    source: str
    students: list[RosterStudent]  # unique IDs, file order; duplicates' later lines dropped
    extra_columns: list[str]
    problems: list[str] = field(default_factory=list)
    duplicates: dict[str, list[int]] = field(default_factory=dict)  # id -> every line it is on

    def by_id(self) -> dict[str, RosterStudent]:
        return {s.student_id: s for s in self.students}


def roster_from_table(table: CsvTable, id_digits: int) -> Roster:
    students: dict[str, RosterStudent] = {}
    lines_of: dict[str, list[int]] = {}
    problems: list[str] = []
    for row in table.rows:
        raw = row.values[STUDENT_ID]
        where = f"{table.source}, line {row.line}"
        if not raw:
            problems.append(f"{where}: empty student_id; row ignored")
            continue
        if not (raw.isascii() and raw.isdigit()):
            problems.append(f"{where}: student_id {raw!r} is not digits 0-9; row ignored")
            continue
        if len(raw) > id_digits:
            problems.append(
                f"{where}: student_id {raw!r} has {len(raw)} digits but the sheet has"
                f" {id_digits} ID boxes; row ignored"
            )
            continue
        student_id = raw.zfill(id_digits)
        lines_of.setdefault(student_id, []).append(row.line)
        if student_id not in students:
            students[student_id] = RosterStudent(
                student_id, row.values["name"], row.line, row.extra
            )
    duplicates = {sid: lines for sid, lines in lines_of.items() if len(lines) > 1}
    for sid, lines in duplicates.items():
        problems.append(
            f"{table.source}: student_id {sid} appears on lines {', '.join(map(str, lines))};"
            f" the name on line {lines[0]} is used and students matched to it need review"
        )
    if not students:
        raise RosterError(table.source, "no usable student rows")
    extra_columns = [h for h in table.header if h and h.lower() not in REQUIRED_COLUMNS]
    return Roster(table.source, list(students.values()), extra_columns, problems, duplicates)


def parse_roster(text: str, id_digits: int, source: str = "roster.csv") -> Roster:
    table = parse_csv(text, source, REQUIRED_COLUMNS, (), RosterError)
    return roster_from_table(table, id_digits)


def load_roster(path: str | Path, id_digits: int) -> Roster:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise RosterError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    return parse_roster(decode_csv(data, str(path), RosterError), id_digits, str(path))
