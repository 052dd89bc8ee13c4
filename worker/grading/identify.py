"""Who wrote each sheet: the student ID from the handwritten ID boxes.

Without a roster the ID is the digits read, flagged when a box is blank or when the whole ID
is less probable than 1 - `review_risk` (the product of its boxes' probabilities). With a
roster, sheets are matched to roster students by the assignment that is most probable overall
(maximum total log-probability of the IDs under the per-digit reads, solved exactly with the
Hungarian method), so an unsure digit is resolved by the students who are actually in the
class, and two sheets never get the same student. A sheet is flagged only when the match
itself is uncertain: it matches nobody well (the ID is improbable for every roster student:
a student not on the roster, or a confidently misread digit), another roster student takes
more than `review_risk` of the probability (how sure the match is, with every roster student
equally likely beforehand), or another sheet reads as the same student. An unsure digit that
no other roster ID shares does not send the sheet to review.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp

from model.inference.classes import DIGIT_CLASSES
from worker.grading.roster import Roster
from worker.grading.wording import percent, runner_up
from worker.scan.results import BoxRead

UNREAD_DIGIT = "?"
CANDIDATES_SHOWN = 3  # roster students offered for a sheet whose ID needs a look


@dataclass(frozen=True)
class IdentifySettings:
    review_risk: float  # an ID less sure than 1 - this goes to review
    min_probability: float  # a roster match less probable than this matches nobody well
    probability_floor: float  # per-digit probabilities are clipped to this before logs


@dataclass
class Identity:
    student_id: str  # "" when unknown
    read_id: str  # digits as read box by box, "?" for a blank or missing box
    name: str = ""
    # how sure the ID is: without a roster the probability of the digits read, with one the
    # probability that the sheet is this roster student's
    probability: float | None = None
    reasons: list[str] = field(default_factory=list)  # why the ID needs review
    on_roster: bool = False
    corrected: bool = False  # set by a teacher's override
    # the roster students this sheet may be, most probable first: (ID, name, probability)
    candidates: list[tuple[str, str, float]] = field(default_factory=list)


def _read_id(boxes: list[BoxRead], id_digits: int) -> str:
    by_index = {b.index: b for b in boxes}
    chars = []
    for i in range(id_digits):
        box = by_index.get(i)
        chars.append(
            UNREAD_DIGIT if box is None or box.blank or box.digit is None else str(box.digit)
        )
    return "".join(chars)


def _shown(read: str) -> str:
    """The ID to show for a sheet without a roster match: as read, unreadable boxes as ?."""
    return read if read.strip(UNREAD_DIGIT) else ""


def _digit_probs(boxes: list[BoxRead], id_digits: int) -> np.ndarray | None:
    """(id_digits, 10) probabilities of each digit in each box; None when a box is missing."""
    by_index = {b.index: b for b in boxes}
    if any(i not in by_index for i in range(id_digits)):
        return None
    return np.array([by_index[i].probs[:DIGIT_CLASSES] for i in range(id_digits)], dtype=float)


def _id_probability(boxes: list[BoxRead]) -> float:
    probability = 1.0
    for box in boxes:
        probability *= box.confidence
    return probability


def _without_roster(
    id_boxes: dict[int, list[BoxRead]], id_digits: int, settings: IdentifySettings
) -> dict[int, Identity]:
    result: dict[int, Identity] = {}
    for copy, boxes in id_boxes.items():
        read = _read_id(boxes, id_digits)
        identity = Identity(_shown(read), read)
        if len(boxes) < id_digits:
            identity.reasons.append("ID boxes not read (page missing or unreadable)")
            result[copy] = identity
            continue
        identity.probability = _id_probability(boxes)
        empty = [str(b.index + 1) for b in sorted(boxes, key=lambda b: b.index) if b.blank]
        if empty:
            identity.reasons.append(f"ID read as {read}: box {', '.join(empty)} empty")
        elif 1.0 - identity.probability > settings.review_risk:
            box = min(boxes, key=lambda b: b.confidence)
            identity.reasons.append(
                f"ID read as {read} is unsure ({percent(identity.probability)} sure): box"
                f" {box.index + 1} could be {runner_up(box.probs, box.digit, digits_only=True)}"
            )
        result[copy] = identity
    return result


def _flag_shared_ids(result: dict[int, Identity]) -> None:
    """Two sheets with one ID (as read, or as a teacher set it): both need a look."""
    counts = Counter(i.student_id for i in result.values() if i.student_id)
    for copy, identity in result.items():
        if counts[identity.student_id] > 1:
            others = [
                str(c)
                for c, o in result.items()
                if o.student_id == identity.student_id and c != copy
            ]
            identity.reasons.append(f"ID {identity.student_id} is also on copy {', '.join(others)}")


def identify(
    id_boxes: dict[int, list[BoxRead]],
    id_digits: int,
    roster: Roster | None,
    settings: IdentifySettings,
    fixed: dict[int, str] | None = None,
) -> dict[int, Identity]:
    """Identity of every copy. `fixed`: copy -> ID a teacher set; taken as given."""
    result = _identities(id_boxes, id_digits, roster, settings, fixed or {})
    _flag_shared_ids(result)
    return result


def _identities(
    id_boxes: dict[int, list[BoxRead]],
    id_digits: int,
    roster: Roster | None,
    settings: IdentifySettings,
    fixed: dict[int, str],
) -> dict[int, Identity]:
    if roster is None:
        result = _without_roster(
            {c: b for c, b in id_boxes.items() if c not in fixed}, id_digits, settings
        )
        for copy, student_id in fixed.items():
            result[copy] = Identity(
                student_id, _read_id(id_boxes.get(copy, []), id_digits), corrected=True
            )
        return result

    by_id = roster.by_id()
    result = {}
    for copy, student_id in fixed.items():
        known = by_id.get(student_id)
        result[copy] = Identity(
            student_id,
            _read_id(id_boxes.get(copy, []), id_digits),
            name=known.name if known else "",
            on_roster=known is not None,
            corrected=True,
            reasons=[] if known else [f"ID {student_id} (set by the teacher) is not on the"
                                      f" roster {roster.source}"],
        )
    taken = set(fixed.values())
    candidates = [s for s in roster.students if s.student_id not in taken]
    candidate_digits = np.array([[int(ch) for ch in s.student_id] for s in candidates])  # (R, D)
    sheets: list[int] = []
    rows: list[np.ndarray] = []
    for copy in sorted(id_boxes):
        if copy in fixed:
            continue
        read = _read_id(id_boxes[copy], id_digits)
        probs = _digit_probs(id_boxes[copy], id_digits)
        if probs is None:
            result[copy] = Identity(
                "", read, reasons=["ID boxes not read (page missing or unreadable)"]
            )
            continue
        if not candidates:
            result[copy] = Identity(_shown(read), read, reasons=[f"ID {read} is not on the roster"])
            continue
        logp = np.log(np.maximum(probs, settings.probability_floor))
        # log P(ID) = sum over boxes of log P(that box holds the ID's digit there)
        rows.append(logp[np.arange(id_digits)[None, :], candidate_digits].sum(axis=1))  # (R,)
        sheets.append(copy)
    if not sheets:
        return result

    scores = np.vstack(rows)  # (sheets, roster) log-probabilities
    assigned_rows, assigned_cols = linear_sum_assignment(scores, maximize=True)
    assignment = dict(zip(assigned_rows.tolist(), assigned_cols.tolist(), strict=True))
    best = scores.argmax(axis=1)
    # A sheet claims the roster student it reads as most probably, if that is plausible at all.
    plausible = scores.max(axis=1) >= math.log(settings.min_probability)
    claims = Counter(int(b) for b, ok in zip(best, plausible, strict=True) if ok)
    for row, copy in enumerate(sheets):
        read = _read_id(id_boxes[copy], id_digits)
        if row not in assignment:  # more sheets than roster students
            result[copy] = Identity(
                _shown(read),
                read,
                reasons=[
                    f"ID read as {read} is not on the roster (every"
                    " roster student is matched to another sheet)"
                ],
            )
            continue
        col = assignment[row]
        student = candidates[col]
        logp = float(scores[row, col])
        if logp < math.log(settings.min_probability):
            # Never guess: the sheet keeps the ID as read and the roster student stays absent.
            top = candidates[int(best[row])]
            result[copy] = Identity(
                _shown(read),
                read,
                reasons=[
                    f"ID read as {read} matches no roster student well (closest:"
                    f" {top.student_id} {top.name}, probability"
                    f" {math.exp(float(scores[row].max())):.0e})"
                ],
            )
            continue
        # How sure the match is: this student's share of the probability over the roster.
        posterior = math.exp(logp - float(logsumexp(scores[row])))
        identity = Identity(student.student_id, read, student.name, posterior, on_roster=True)
        if 1.0 - posterior > settings.review_risk:
            order = np.argsort(scores[row])[::-1]
            rival = candidates[int(next(c for c in order if c != col))]
            identity.reasons.append(
                f"ID read as {read} could also be {rival.student_id} {rival.name}"
                f" ({percent(posterior)} sure it is {student.student_id})"
            )
        if plausible[row] and claims[int(best[row])] > 1:
            rivals = [
                str(sheets[r])
                for r in range(len(sheets))
                if plausible[r] and best[r] == best[row] and r != row
            ]
            identity.reasons.append(
                f"copies {copy} and {', '.join(rivals)} both read as"
                f" {candidates[int(best[row])].student_id}"
            )
        if student.student_id in roster.duplicates:
            identity.reasons.append(
                f"ID {student.student_id} is on roster lines"
                f" {', '.join(map(str, roster.duplicates[student.student_id]))}"
            )
        result[copy] = identity
    for row, copy in enumerate(sheets):
        shares = np.exp(scores[row] - logsumexp(scores[row]))
        result[copy].candidates = [
            (candidates[int(c)].student_id, candidates[int(c)].name, float(shares[c]))
            for c in np.argsort(scores[row])[::-1][:CANDIDATES_SHOWN]]
    return result
