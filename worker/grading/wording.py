"""How grading's numbers read for people: percentages that never round up past a threshold,
classes as digits or "blank", outcomes as right and wrong."""

from __future__ import annotations

import math

from model.inference.classes import BLANK, DIGIT_CLASSES

OUTCOME_WORDS = {"correct": "right", "incorrect": "wrong", "blank": "blank"}


def percent(probability: float) -> str:
    """A probability for people, rounded down so a read just under 97% never shows as 97%."""
    return f"{math.floor(probability * 1000) / 10:g}%"


def symbol(class_index: int | None) -> str:
    """A class as a teacher reads it: the digit, or "blank"."""
    return "blank" if class_index is None or class_index == BLANK else str(class_index)


def runner_up(probs: list[float], read: int, digits_only: bool = False) -> int:
    """The class the reader found next most likely after `read` (digits only for an ID)."""
    classes = range(DIGIT_CLASSES if digits_only else len(probs))
    return max((c for c in classes if c != read), key=lambda c: probs[c])


def score_text(score: float, max_score: float, percent_of: float | None) -> str:
    """`14/21 (66.7%)`."""
    return f"{score:g}/{max_score:g}" + (f" ({percent_of:g}%)" if percent_of is not None else "")


def no_sheet_reason(statuses: list[tuple[str, str | None]], exam_id: str) -> str:
    """Why a scan graded nobody, from its pages' (status, exam id read): what the pages
    are and what to do, e.g. "none of the 3 pages is a sheet of exam math7: 2 are sheets of
    exam quiz-2 (upload them to that exam), 1 is blank"."""
    others: dict[str, int] = {}
    kinds: dict[str, int] = {}
    for status, found in statuses:
        if status == "unknown-exam" and found:
            others[found] = others.get(found, 0) + 1
        else:
            kinds[status] = kinds.get(status, 0) + 1
    words = {"blank-page": "blank", "not-a-sheet": "not answer sheets",
             "no-markers": "without the sheet's corner markers (cut off, or not our sheets)",
             "no-qr": "sheets whose QR code cannot be read", "error": "unreadable",
             "low-quality": "too distorted to read", "blurry": "blurry (take it again)",
             "low-resolution": "too small in the photo (take it again closer)",
             "ok": "sheets of this exam"}
    parts = [f"{count} {'is a sheet' if count == 1 else 'are sheets'} of exam {other}"
             " (upload them to that exam)" for other, count in sorted(others.items())]
    parts += [f"{count} {'is' if count == 1 else 'are'} {words.get(status, status)}"
              for status, count in sorted(kinds.items())]
    total = len(statuses)
    return (f"none of the {total} page{'s' if total != 1 else ''} is a sheet of exam"
            f" {exam_id} a student can be graded from: {', '.join(parts)}")
