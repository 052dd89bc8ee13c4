"""Why a student needs review: the reasons a teacher reads in students.csv and review.pdf."""

from __future__ import annotations

from worker.grading.identify import Identity, percent
from worker.grading.score import Flag, Response


def response_reasons(response: Response) -> list[str]:
    reasons = []
    by_index = {b.index: b for b in response.boxes}
    if Flag.LOW_CONFIDENCE in response.flags:
        unsure = ", ".join(
            f"box {i + 1} {'blank' if by_index[i].blank else by_index[i].digit}"
            f" at {percent(by_index[i].confidence)}"
            for i in response.low_confidence_boxes
        )
        reasons.append(f"{response.question}: unsure read ({unsure})")
    if Flag.GAP in response.flags:
        reasons.append(f"{response.question}: blank box inside the number {response.answer}")
    return reasons


def review_reasons(
    sheet_problems: list[str], identity: Identity, responses: list[Response]
) -> list[str]:
    """Page problems first, then the ID, then questions in sheet order."""
    reasons = list(sheet_problems)
    reasons.extend(identity.reasons)
    unread = [r.question for r in responses if Flag.UNREAD in r.flags]
    if unread:  # one reason for a whole missing page, not one per question
        reasons.append(f"not read: {', '.join(unread)}")
    for response in responses:
        reasons.extend(response_reasons(response))
    return reasons
