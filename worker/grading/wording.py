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
