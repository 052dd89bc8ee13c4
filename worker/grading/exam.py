"""An exam as grading sees it: the sheet layout, the answer key and optionally a roster.

A key that does not cover the layout does not stop grading: a question without a key is
reported as ungraded (its answers are still read and written, it adds nothing to the maximum),
a key line naming a question the layout does not have is ignored; both are listed in
`Exam.problems`, which the summary and the CLI show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.grading.key import AnswerKey, KeyEntry, load_key
from worker.grading.roster import Roster, load_roster
from worker.sheets.layout import STUDENT_ID


@dataclass(frozen=True)
class ExamQuestion:
    id: str
    boxes: int
    points: float  # the key's points when given, else the layout's
    key: KeyEntry | None  # None: the key does not cover this question
    page: int  # sheet page (1-based) the question's boxes are on


@dataclass
class Exam:
    layout: Any  # worker.sheets.layout.Layout
    key: AnswerKey
    roster: Roster | None = None
    layout_path: Path | None = None
    key_path: Path | None = None
    roster_path: Path | None = None
    problems: list[str] = field(default_factory=list)
    questions: list[ExamQuestion] = field(default_factory=list)
    id_pages: tuple[int, ...] = ()

    @classmethod
    def load(
        cls,
        layout_path: str | Path,
        key_path: str | Path,
        roster_path: str | Path | None = None,
    ) -> Exam:
        """Raises LayoutError / AnswerKeyError / RosterError naming the file, line and problem."""
        from worker.sheets.layout import Layout

        layout = Layout.load(layout_path)
        key = load_key(key_path)
        roster = load_roster(roster_path, layout.id_digits) if roster_path is not None else None
        exam = cls.from_parts(layout, key, roster)
        exam.layout_path = Path(layout_path)
        exam.key_path = Path(key_path)
        exam.roster_path = Path(roster_path) if roster_path is not None else None
        return exam

    @classmethod
    def from_parts(cls, layout: Any, key: AnswerKey, roster: Roster | None = None) -> Exam:
        pages_of: dict[str, int] = {}
        id_pages: set[int] = set()
        for cell in layout.cells():
            if cell.field == STUDENT_ID:
                id_pages.add(cell.page)
            else:
                pages_of.setdefault(cell.field, cell.page)
        problems: list[str] = []
        questions: list[ExamQuestion] = []
        layout_ids = [q.id for q in layout.questions]
        for q in layout.questions:
            entry = key.entries.get(q.id)
            if entry is None:
                problems.append(
                    f"{key.source}: no answer for question {q.id!r}; it is reported ungraded"
                    " and left out of the maximum score"
                )
            elif any(len(a) > q.boxes for a in entry.answers):
                problems.append(
                    f"{key.source}, line {entry.line}: an answer to question {q.id!r} has more"
                    f" digits than its {q.boxes} boxes"
                )
            points = entry.points if entry is not None and entry.points is not None else q.points
            questions.append(
                ExamQuestion(q.id, q.boxes, float(points), entry, pages_of.get(q.id, 1))
            )
        for qid, entry in key.entries.items():
            if qid not in layout_ids:
                problems.append(
                    f"{key.source}, line {entry.line}: question {qid!r} is not on the sheet"
                    f" (the layout has {', '.join(layout_ids)}); line ignored"
                )
        if roster is not None:
            problems.extend(roster.problems)
        return cls(
            layout=layout,
            key=key,
            roster=roster,
            problems=problems,
            questions=questions,
            id_pages=tuple(sorted(id_pages)),
        )

    @property
    def exam_id(self) -> str:
        return str(self.layout.exam_id)

    @property
    def version(self) -> str:
        return str(self.layout.version)

    @property
    def n_pages(self) -> int:
        return int(self.layout.n_pages)

    @property
    def id_digits(self) -> int:
        return int(self.layout.id_digits)

    @property
    def max_score(self) -> float:
        return sum(q.points for q in self.questions if q.key is not None)
