"""Score one question: the number read from its boxes, compared with the key.

A student may write a short number anywhere in a field of boxes, so blank boxes before and
after the digits are ignored. A blank box between digits is a gap: the digits are scored
joined up and the answer is shown with `_` for the gap.

Review is decided on the grade, not on single digits: the probability that the reported
outcome (correct / incorrect / blank) is right comes from every box's class probabilities
(worker.grading.outcome) and how the class answered, and the answer goes to review only when
the chance that it is wrong exceeds `review_risk`, or when the reads alone leave more doubt
than `review_read_doubt`. An incorrect answer whose digits are unsure but which is incorrect
whichever way it reads is not sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from worker.grading.exam import ExamQuestion
from worker.grading.outcome import (
    AnswerPrior,
    Evidence,
    OutcomeOdds,
    evidence,
    posterior,
    reads_alone,
)
from worker.scan.results import BoxRead

GAP_MARK = "_"


class Outcome(StrEnum):
    CORRECT = "correct"
    INCORRECT = "incorrect"
    BLANK = "blank"  # every box blank: no points
    UNREAD = "unread"  # the page with these boxes is missing or could not be read
    UNGRADED = "ungraded"  # the answer key has no answer for this question


class Flag(StrEnum):
    UNSURE = "unsure"  # the outcome may not be what was read: review
    UNCLEAR = "unclear"  # the reads alone leave the outcome in real doubt: review
    GAP = "gap"  # a blank box between digits (scored joined up; shown with "_")
    UNREAD = "unread"  # review: the page with these boxes is missing or unreadable
    NO_KEY = "no-key"
    OVERRIDE = "override"  # a teacher's correction


REVIEW_FLAGS = (Flag.UNSURE, Flag.UNCLEAR, Flag.UNREAD)


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
    # P(the outcome is what was reported): 1.0 for a teacher's answer, None when not read
    outcome_probability: float | None = None
    read_probability: float | None = None  # the same from the reads alone (no prior)
    read_digits: str = ""  # what the boxes read (before a teacher's correction), gaps removed
    read_outcome: Outcome = Outcome.UNREAD  # the outcome of that read
    evidence: Evidence | None = None  # what the boxes say, for a graded read

    @property
    def needs_review(self) -> bool:
        return any(f in REVIEW_FLAGS for f in self.flags)


def outcome_of(question: ExamQuestion, digits: str) -> Outcome:
    """The outcome of an answer read as `digits` (gaps removed; empty is blank)."""
    if question.key is None:
        return Outcome.UNGRADED
    if not digits:
        return Outcome.BLANK
    return Outcome.CORRECT if question.key.accepts(digits) else Outcome.INCORRECT


def score_question(
    question: ExamQuestion, boxes: list[BoxRead] | None, override: str | None = None
) -> Response:
    """The read answer and its outcome; `boxes` None means the page was not read, `override`
    is a teacher's answer (digits). Review is decided afterwards, with the class's prior
    (`decide`)."""
    max_points = question.points if question.key is not None else 0.0
    flags: list[Flag] = [] if question.key is not None else [Flag.NO_KEY]
    if boxes is None or len(boxes) != question.boxes:
        response = Response(question.id, "", Outcome.UNREAD, 0.0, max_points,
                            list(boxes or []), [*flags, Flag.UNREAD])
    else:
        read = answer_from_digits([None if b.blank else b.digit for b in boxes])
        if read.gap:
            flags.append(Flag.GAP)
        outcome = outcome_of(question, read.digits)
        response = Response(
            question.id, read.shown, outcome,
            max_points if outcome == Outcome.CORRECT else 0.0, max_points, list(boxes), flags,
            outcome_probability=1.0 if question.key is None else None,
            read_digits=read.digits, read_outcome=outcome,
            evidence=(evidence([b.probs for b in boxes], question.key.answers)
                      if question.key is not None else None),
        )
    if override is not None:
        outcome = outcome_of(question, override)
        response.answer, response.outcome = override, outcome
        response.points = max_points if outcome == Outcome.CORRECT else 0.0
        response.flags = [f for f in response.flags if f not in REVIEW_FLAGS] + [Flag.OVERRIDE]
        response.outcome_probability = 1.0
    return response


def _of(odds: OutcomeOdds, outcome: Outcome) -> float:
    return {Outcome.CORRECT: odds.correct, Outcome.INCORRECT: odds.incorrect,
            Outcome.BLANK: odds.blank}[outcome]


def decide(response: Response, prior: AnswerPrior, review_risk: float,
           read_doubt: float) -> None:
    """Sets how sure the outcome is and flags the answer for review when the chance that the
    outcome is not the one reported exceeds `review_risk`, or when the reads alone leave it
    in more doubt than `read_doubt` (the class's prior settles small doubts, never a coin
    toss)."""
    if response.evidence is None or Flag.OVERRIDE in response.flags:
        return
    probability = _of(posterior(response.evidence, prior), response.outcome)
    response.outcome_probability = probability
    response.read_probability = _of(reads_alone(response.evidence), response.outcome)
    if 1.0 - probability > review_risk:
        response.flags.append(Flag.UNSURE)
    elif 1.0 - response.read_probability > read_doubt:
        response.flags.append(Flag.UNCLEAR)
