"""Score one question: the number read from its boxes, compared with the key.

A student may write a short number anywhere in a field of boxes, so blank boxes before and
after the digits are ignored. A blank box between digits is a gap: the digits are scored
joined up but the answer is shown with `_` for the gap and sent to review.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from worker.grading.exam import ExamQuestion
from worker.scan.results import BoxRead

GAP_MARK = "_"


class Outcome(StrEnum):
    CORRECT = "correct"
    INCORRECT = "incorrect"
    BLANK = "blank"  # every box blank: no points
    UNREAD = "unread"  # the page with these boxes is missing or could not be read
    UNGRADED = "ungraded"  # the answer key has no answer for this question


class Flag(StrEnum):
    LOW_CONFIDENCE = "low-confidence"
    GAP = "gap"
    UNREAD = "unread"
    NO_KEY = "no-key"
    OVERRIDE = "override"


@dataclass(frozen=True)
class AnswerRead:
    digits: str  # the digits, gaps removed ("" when blank)
    shown: str  # as written, a gap shown as "_"
    gap: bool


def answer_from_digits(digits: list[int | None]) -> AnswerRead:
    filled = [i for i, d in enumerate(digits) if d is not None]
    if not filled:
        return AnswerRead("", "", gap=False)
    inner = digits[filled[0] : filled[-1] + 1]
    shown = "".join(GAP_MARK if d is None else str(d) for d in inner)
    return AnswerRead(shown.replace(GAP_MARK, ""), shown, gap=GAP_MARK in shown)


@dataclass
class Response:
    question: str
    answer: str  # as shown to the teacher: digits, "_" for a gap, "" when blank
    outcome: Outcome
    points: float  # awarded
    max_points: float  # 0 for an ungraded question
    boxes: list[BoxRead] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    low_confidence_boxes: list[int] = field(default_factory=list)  # box indexes

    @property
    def needs_review(self) -> bool:
        return any(f in (Flag.LOW_CONFIDENCE, Flag.GAP, Flag.UNREAD) for f in self.flags)


def _outcome(question: ExamQuestion, digits: str) -> Outcome:
    if question.key is None:
        return Outcome.UNGRADED
    if not digits:
        return Outcome.BLANK
    return Outcome.CORRECT if question.key.accepts(digits) else Outcome.INCORRECT


def score_question(
    question: ExamQuestion,
    boxes: list[BoxRead] | None,
    confidence_threshold: float,
    override: str | None = None,
) -> Response:
    """`boxes` None means the page was not read; `override` is a teacher's answer (digits)."""
    max_points = question.points if question.key is not None else 0.0
    flags: list[Flag] = [] if question.key is not None else [Flag.NO_KEY]
    if override is not None:
        outcome = _outcome(question, override)
        points = max_points if outcome == Outcome.CORRECT else 0.0
        return Response(
            question.id,
            override,
            outcome,
            points,
            max_points,
            list(boxes or []),
            [*flags, Flag.OVERRIDE],
        )
    if boxes is None or len(boxes) != question.boxes:
        return Response(
            question.id,
            "",
            Outcome.UNREAD,
            0.0,
            max_points,
            list(boxes or []),
            [*flags, Flag.UNREAD],
        )
    read = answer_from_digits([None if b.blank else b.digit for b in boxes])
    low = [b.index for b in boxes if b.confidence < confidence_threshold]
    if low:
        flags.append(Flag.LOW_CONFIDENCE)
    if read.gap:
        flags.append(Flag.GAP)
    outcome = _outcome(question, read.digits)
    points = max_points if outcome == Outcome.CORRECT else 0.0
    return Response(question.id, read.shown, outcome, points, max_points, list(boxes), flags, low)
