"""An exam described by a teacher's form, not a layout file: a name, the student-ID digits,
the paper, and per question its boxes, points and (optionally) its answer. It becomes the
layout YAML and the answer-key CSV that every other path loads (Exam.load), so an exam made
from the form grades exactly like one made from files.
"""

from __future__ import annotations

import re
import secrets
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from worker.sheets.layout import (
    MAX_BOXES_PER_QUESTION,
    MAX_ID_DIGITS,
    MAX_POINTS,
    MAX_QUESTIONS,
    Layout,
    Question,
)
from worker.sheets.qr import MAX_EXAM_ID_LEN

# The exam id in the QR codes: the name's letters and digits, then a few random characters
# so two exams of the same name ("Quiz 3") never read as one.
EXAM_ID_SUFFIX_CHARS = 6
# An answer as the form takes it: digits, several accepted ones separated by | (as in a
# key CSV), or nothing
FORM_ANSWER = r"^\s*([0-9]+\s*(\|\s*[0-9]+\s*)*)?$"


class FormQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    boxes: int = Field(default=2, ge=1, le=MAX_BOXES_PER_QUESTION)
    points: float = Field(default=1.0, ge=0, le=MAX_POINTS)
    answer: str = Field(default="", max_length=80, pattern=FORM_ANSWER,
                        description="Digits; several accepted answers separated by |; empty"
                        " leaves the question ungraded until a key is given.")


class ExamForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    id_digits: int = Field(default=6, ge=1, le=MAX_ID_DIGITS)
    paper: Literal["a4", "letter"] = "a4"
    questions: list[FormQuestion] = Field(min_length=1, max_length=MAX_QUESTIONS)

    def layout(self, exam_id: str | None = None) -> Layout:
        """The sheet: questions q1..qN; raises LayoutError when they do not fit the paper."""
        return Layout.from_data({
            "exam_id": exam_id or new_exam_id(self.name),
            "name": self.name.strip(),
            "paper": self.paper,
            "id_digits": self.id_digits,
            "questions": [
                Question(id=f"q{number}", boxes=q.boxes, points=q.points).model_dump(
                    exclude_none=True)
                for number, q in enumerate(self.questions, 1)
            ],
        }, source="the exam form")

    def has_key(self) -> bool:
        return any(q.answer.strip() for q in self.questions)

    def key_csv(self) -> str:
        """The answer key as a CSV (questions left empty are not in it: ungraded)."""
        lines = ["question,answer,points"]
        lines += [f"q{number},{q.answer.strip()},{q.points:g}"
                  for number, q in enumerate(self.questions, 1) if q.answer.strip()]
        return "\n".join(lines) + "\n"


def new_exam_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "exam"
    suffix = secrets.token_hex(EXAM_ID_SUFFIX_CHARS // 2)
    return f"{slug[: MAX_EXAM_ID_LEN - EXAM_ID_SUFFIX_CHARS - 1].strip('-')}-{suffix}"
