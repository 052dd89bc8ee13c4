"""Item analysis for questions.csv: how each question behaved across the class.

The discrimination index is the classic upper-lower one: rank students by total score, take the
top and bottom `discrimination_group_share` of them, and subtract the share of the bottom group
that answered correctly from the share of the top group (-1 to 1; near 0 or negative means the
question does not separate strong from weak students, often a key error).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from worker.grading.grade import Gradebook
from worker.grading.key import normalize_answer
from worker.grading.score import GAP_MARK, Outcome

ANSWERED = (Outcome.CORRECT, Outcome.INCORRECT, Outcome.BLANK)


@dataclass(frozen=True)
class ItemStats:
    question: str
    points: float
    key: str  # accepted answers, "|"-separated; "" when the key has none
    students: int  # students whose answer was read
    correct: int
    share_correct: float | None
    share_blank: float | None
    most_common_wrong: str
    most_common_wrong_count: int
    discrimination: float | None


def item_stats(book: Gradebook, group_share: float, min_students: int) -> list[ItemStats]:
    ranked = sorted(book.students, key=lambda s: (-s.score, s.student_id, s.copy))
    group = max(1, round(group_share * len(ranked)))
    upper, lower = ranked[:group], ranked[-group:]
    stats = []
    for i, question in enumerate(book.exam.questions):
        graded = question.key is not None
        read = [
            s.responses[i]
            for s in book.students
            if s.responses[i].outcome in ANSWERED
            or (not graded and s.responses[i].outcome == Outcome.UNGRADED)
        ]
        n = len(read)
        correct = sum(r.outcome == Outcome.CORRECT for r in read)
        blank = sum(r.answer == "" for r in read)
        wrong = Counter(
            normalize_answer(r.answer.replace(GAP_MARK, ""))
            for r in read
            if r.outcome == Outcome.INCORRECT
        )
        # Most frequent first, then the smaller number, so the choice is deterministic.
        top_wrong = min(wrong.items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0]), default=None)
        discrimination = None
        if graded and len(ranked) >= min_students:

            def share(students, index=i):
                return sum(s.responses[index].outcome == Outcome.CORRECT for s in students) / group

            discrimination = round(share(upper) - share(lower), 3)
        stats.append(
            ItemStats(
                question=question.id,
                points=question.points,
                key=question.key.text if graded else "",
                students=n,
                correct=correct,
                share_correct=round(correct / n, 3) if graded and n else None,
                share_blank=round(blank / n, 3) if n else None,
                most_common_wrong=top_wrong[0] if top_wrong else "",
                most_common_wrong_count=top_wrong[1] if top_wrong else 0,
                discrimination=discrimination,
            )
        )
    return stats
