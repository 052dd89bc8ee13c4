"""Why a student needs review: the reasons a teacher reads in students.csv, review.csv and
review.pdf, in words that say what is unsure and what it could be."""

from __future__ import annotations

from model.inference.classes import BLANK
from worker.grading.exam import ExamQuestion
from worker.grading.identify import Identity
from worker.grading.score import Flag, Outcome, Response, answer_from_digits, outcome_of
from worker.grading.wording import OUTCOME_WORDS, percent, runner_up, symbol
from worker.scan.results import BoxRead


def _class_read(box: BoxRead) -> int:
    return BLANK if box.blank or box.digit is None else box.digit


def least_sure_box(boxes: list[BoxRead]) -> BoxRead | None:
    return min(boxes, key=lambda b: b.confidence) if boxes else None


def _read_words(answer: str, outcome: Outcome) -> str:
    return f"{answer} ({OUTCOME_WORDS.get(outcome, outcome)})" if answer else "blank"


def _outcome_of(digits: list[int | None], question: ExamQuestion) -> tuple[str, Outcome]:
    read = answer_from_digits(digits)
    return read.shown, outcome_of(question, read.digits)


def likeliest_change(response: Response, question: ExamQuestion
                     ) -> tuple[BoxRead, int, str, Outcome] | None:
    """The one-box misread most likely to change the outcome: (box, class it could be, the
    answer then, its outcome); without such a change, the least sure box's runner-up."""
    read = [None if b.blank else b.digit for b in response.boxes]
    best: tuple[float, BoxRead, int] | None = None
    for position, box in enumerate(response.boxes):
        for other in range(len(box.probs)):
            if other == (BLANK if read[position] is None else read[position]):
                continue
            digits = list(read)
            digits[position] = None if other == BLANK else other
            if _outcome_of(digits, question)[1] != response.outcome and (
                    best is None or box.probs[other] > best[0]):
                best = (box.probs[other], box, other)
    if best is None:
        box = least_sure_box(response.boxes)
        if box is None:
            return None
        best = (0.0, box, runner_up(box.probs, _class_read(box)))
    _, box, other = best
    digits = list(read)
    digits[response.boxes.index(box)] = None if other == BLANK else other
    return (box, other, *_outcome_of(digits, question))


def unsure_reason(response: Response, question: ExamQuestion) -> str:
    """`q4: read 149 (wrong), 2.4% sure: box 3 could be 4, making 144 (right)`; for an answer
    the reads alone leave in doubt, `q4: read 45 (right), the digits alone 60% sure: ...`."""
    unclear = Flag.UNCLEAR in response.flags
    probability = response.read_probability if unclear else response.outcome_probability
    sure = percent(probability or 0.0) + (" sure from the digits alone" if unclear else " sure")
    reason = f"{response.question}: read {_read_words(response.answer, response.outcome)}," \
             f" {sure}"
    change = likeliest_change(response, question)
    if change is None:
        return reason
    box, other, shown, outcome = change
    return f"{reason}: box {box.index + 1} could be {symbol(other)}, making" \
           f" {_read_words(shown, outcome)}"


def response_reasons(response: Response, question: ExamQuestion) -> list[str]:
    flagged = Flag.UNSURE in response.flags or Flag.UNCLEAR in response.flags
    return [unsure_reason(response, question)] if flagged else []


def review_reasons(
    sheet_problems: list[str], identity: Identity, responses: list[Response],
    questions: list[ExamQuestion],
) -> list[str]:
    """Page problems first, then the ID, then questions in sheet order."""
    reasons = list(sheet_problems)
    reasons.extend(identity.reasons)
    unread = [r.question for r in responses if Flag.UNREAD in r.flags]
    if unread:  # one reason for a whole missing page, not one per question
        reasons.append(f"not read: {', '.join(unread)}")
    for response, question in zip(responses, questions, strict=True):
        reasons.extend(response_reasons(response, question))
    return reasons
