"""How sure a grade is: the probability of each outcome of a question given its boxes' reads.

The reader gives every box 11 calibrated class probabilities (digits 0-9, blank), boxes read
independently. The scorer (worker.grading.score) reads a question as the digits of its boxes
with every blank box dropped and compares them as a number (leading zeros do not count), so
the answer is correct exactly when the digits, blanks dropped, are zeros and then one of the
key's accepted numbers; blank when every box is blank; wrong otherwise.

What the boxes say (`Evidence`) is, for each kind of answer a student may have written, the
probability of these reads if they wrote it: the key's number (summed over every way of
writing it: `_7_`, `07`, `7`), nothing, a near miss of the key (one digit changed, dropped or
added: a slip, a forgotten carry) or any other number. A near miss matters most: it is what a
misread of a right answer looks like, and what a misread could turn right.

What the class wrote (`AnswerPrior`), estimated per question from the class's own reads, says
how likely each kind is before looking at one sheet: most students write the key, a few leave
it blank, wrong answers spread over near misses and everything else. Bayes' rule combines the
two (`posterior`): a confident read one digit away from the key is then no longer taken as
certainly wrong, and a read of the key with a little doubt about a digit is still a right
answer, as the class makes it. The prior comes from the class, not from MNIST, so the rule
carries over to other handwriting as far as the reader's probabilities are calibrated.

P(correct) sums, over the accepted numbers, the probability of reading that number: a small
automaton per number walks the boxes (a blank keeps its state, a leading zero keeps the start
state, the next digit of the number moves on, anything else fails), so the sum over all 11^n
readings costs O(n x length). Distinct accepted numbers are distinct values: their events are
disjoint and add up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from model.inference.classes import BLANK, DIGIT_CLASSES
from worker.grading.key import normalize_answer

Probs = Sequence[Sequence[float]]  # per box, 11 class probabilities


@dataclass(frozen=True)
class OutcomeOdds:
    """The probabilities of the three graded outcomes; they sum to 1."""

    correct: float
    incorrect: float
    blank: float


@dataclass(frozen=True)
class Evidence:
    """P(these reads | what was written), by kind of answer (see the module doc), each kind
    by the length of its numbers (1..boxes). The `_shifted` parts are the readings whose first
    box is blank: an answer not begun in the leftmost box, as the sheet asks, or a first digit
    too faint to see."""

    boxes: int
    blank: float
    correct: tuple[float, ...]  # summed over the ways of writing an accepted number (_7_, 07)
    correct_shifted: tuple[float, ...]
    near_miss: tuple[float, ...]  # summed over the key's near misses
    near_miss_shifted: tuple[float, ...]
    n_near_misses: int
    other: tuple[float, ...]  # every other number
    other_shifted: tuple[float, ...]
    n_others: tuple[int, ...]  # how many other numbers of each length there are (maybe 0)

    @property
    def total_correct(self) -> float:
        return min(1.0, sum(self.correct))

    @property
    def total_incorrect(self) -> float:
        return sum(self.near_miss) + sum(self.other)


@dataclass(frozen=True)
class AnswerPrior:
    """How a class answers one question: shares of right and blank answers, and the share of
    the wrong answers that are near misses of the key. The other wrong answers are spread
    evenly over their lengths (a one-digit answer is as likely as a three-digit one), then
    evenly over the numbers of each length. How answers are laid out counts too: one begun
    right of the first box is rarer than one begun in it."""

    correct: float
    blank: float
    near_miss_share: float
    shifted_share: float = 0.0  # answers not begun in the leftmost box (0: layout ignored)


def _reads_as(probs: Probs, number: str) -> float:
    """P(the boxes' digits, blanks dropped, are zeros then `number`) for a canonical number
    (no leading zero unless it is "0")."""
    # state j: the first j digits of `number` read so far (0: only blanks and leading zeros).
    # For "0" itself the first zero moves to state 1 and later zeros stay there.
    length = len(number)
    state = [1.0] + [0.0] * length
    for box in probs:
        nxt = [p * box[BLANK] for p in state]  # a blank box changes nothing
        for j in range(length + 1):
            if state[j] == 0.0:
                continue
            if j < length:
                nxt[j + 1] += state[j] * box[int(number[j])]
            if number != "0" and j == 0:
                nxt[0] += state[0] * box[0]  # a leading zero
            if number == "0" and j == length:
                nxt[j] += state[j] * box[0]  # more zeros of the number zero
        state = nxt
    return state[length]


def near_misses(accepted: Iterable[str], boxes: int) -> frozenset[str]:
    """The numbers one edit from an accepted one that fit the boxes: a digit changed, dropped
    or added; never an accepted number itself, always without leading zeros."""
    return _near_misses(frozenset(accepted), boxes)


@lru_cache(maxsize=1024)  # the same for every student: one question's key and boxes
def _near_misses(accepted: frozenset[str], boxes: int) -> frozenset[str]:
    numbers = {normalize_answer(answer) for answer in accepted}
    found: set[str] = set()
    digits = "0123456789"
    for number in numbers:
        for i in range(len(number)):
            found.update(number[:i] + d + number[i + 1:] for d in digits if d != number[i])
            if len(number) > 1:
                found.add(number[:i] + number[i + 1:])
        if len(number) < boxes:
            found.update(number[:i] + d + number[i:] for i in range(len(number) + 1)
                         for d in digits)
    # an edit that leaves a leading zero writes a shorter number (105 -> 05 is 5)
    return frozenset({normalize_answer(n) for n in found if n} - numbers)


def _numbers_of_length(length: int) -> int:
    """Numbers written with exactly `length` digits and no leading zero (0-9 for one)."""
    return DIGIT_CLASSES if length == 1 else 9 * DIGIT_CLASSES ** (length - 1)


def _by_length(probs: Probs) -> list[float]:
    """P(the boxes read as a number of 1, 2, ... n digits), as the scorer reads them (blanks
    dropped, leading zeros not counted): [0] is every box blank."""
    boxes = len(probs)
    # state (k, zero): k significant digits so far; zero: a 0 was read before any of them
    state = {(0, False): 1.0}
    for box in probs:
        nxt: dict[tuple[int, bool], float] = {}
        for (k, zero), p in state.items():
            moves = [((k, zero), box[BLANK]), ((k + 1, zero), 1.0 - box[BLANK] - box[0])]
            moves.append(((k, True), box[0]) if k == 0 else ((k + 1, zero), box[0]))
            for key, q in moves:
                nxt[key] = nxt.get(key, 0.0) + p * q
        state = nxt
    lengths = [0.0] * (boxes + 1)
    for (k, zero), p in state.items():
        lengths[max(k, 1) if zero else k] += p  # only zeros read: the number 0
    return lengths


def _by_number_length(probs: Probs, numbers: Iterable[str], boxes: int) -> list[float]:
    """Summed P(reads as each of `numbers`), by the numbers' length (index 0: length 1)."""
    masses = [0.0] * boxes
    for number in numbers:
        masses[len(number) - 1] += _reads_as(probs, number)
    return masses


def evidence(probs: Probs, accepted: Iterable[str]) -> Evidence:
    """What a question's boxes say; `accepted`: the key's answers as written in the key. Every
    reading is counted by the number it reads as (worker.grading.score), so the kinds of
    answer split all readings between them."""
    accepted = list(accepted)
    boxes = len(probs)
    numbers = {normalize_answer(answer) for answer in accepted} - _too_long(boxes, accepted)
    near = near_misses(accepted, boxes)
    # the readings with a blank first box: that box's blank times the other boxes' readings
    first_blank = probs[0][BLANK] if boxes else 0.0
    rest = probs[1:]

    def split(kind: Iterable[str]) -> tuple[tuple[float, ...], tuple[float, ...]]:
        kind = list(kind)
        shifted = [first_blank * m for m in _by_number_length(rest, kind, boxes)]
        return tuple(_by_number_length(probs, kind, boxes)), tuple(shifted)

    correct, correct_shifted = split(numbers)
    near_miss, near_miss_shifted = split(near)
    lengths, rest_lengths = _by_length(probs), [*_by_length(rest), 0.0]
    other, other_shifted, n_others = [], [], []
    for length in range(1, boxes + 1):
        known = correct[length - 1] + near_miss[length - 1]
        known_shifted = correct_shifted[length - 1] + near_miss_shifted[length - 1]
        other.append(max(0.0, lengths[length] - known))
        other_shifted.append(max(0.0, first_blank * rest_lengths[length] - known_shifted))
        listed = sum(1 for n in (*numbers, *near) if len(n) == length)
        n_others.append(_numbers_of_length(length) - listed)
    return Evidence(boxes, lengths[0], correct, correct_shifted, near_miss, near_miss_shifted,
                    len(near), tuple(other), tuple(other_shifted), tuple(n_others))


def _too_long(boxes: int, accepted: Iterable[str]) -> set[str]:
    """Accepted numbers that cannot be written in the boxes (they are never read)."""
    return {normalize_answer(a) for a in accepted if len(normalize_answer(a)) > boxes}


def reads_alone(seen: Evidence) -> OutcomeOdds:
    """The outcome's odds from the reads alone, every way of filling the boxes equally likely
    beforehand: how much doubt the reader itself leaves."""
    total = seen.total_correct + seen.blank + seen.total_incorrect
    return OutcomeOdds(seen.total_correct / total, seen.total_incorrect / total,
                       seen.blank / total)


def posterior(seen: Evidence, prior: AnswerPrior) -> OutcomeOdds:
    """P(outcome | reads): each kind of answer weighted by the class's prior for one answer
    of that kind (an accepted number, blank, one near miss, one other number) and for how
    it is laid out in the boxes (begun in the first box, or a shift to the right)."""
    boxes = seen.boxes
    wrong = max(0.0, 1.0 - prior.correct - prior.blank)
    lengths_with_others = [k for k in range(boxes) if seen.n_others[k] > 0]
    near_share = prior.near_miss_share if lengths_with_others else 1.0
    per_near_miss = wrong * near_share / max(1, seen.n_near_misses)
    per_length = wrong * (1.0 - near_share) / max(1, len(lengths_with_others))

    def laid_out(masses: Sequence[float], shifted: Sequence[float]) -> float:
        """The masses of each length weighted by the layouts a number that long can have:
        a number filling every box has one, a shorter one is begun in the first box or
        shifted right by one of (boxes - length) places."""
        total = 0.0
        for index, (mass, moved) in enumerate(zip(masses, shifted, strict=True)):
            places = boxes - (index + 1)
            if places == 0 or not prior.shifted_share:
                total += mass
            else:
                total += (1.0 - prior.shifted_share) * (mass - moved) \
                    + prior.shifted_share / places * moved
        return total

    correct = prior.correct * laid_out(seen.correct, seen.correct_shifted)
    blank = prior.blank * seen.blank
    incorrect = per_near_miss * laid_out(seen.near_miss, seen.near_miss_shifted)
    for k in lengths_with_others:
        incorrect += per_length / seen.n_others[k] * laid_out(
            [seen.other[k] if i == k else 0.0 for i in range(boxes)],
            [seen.other_shifted[k] if i == k else 0.0 for i in range(boxes)])
    total = correct + blank + incorrect
    if total <= 0.0:  # reads the class never writes: no prior information, use the reads
        return reads_alone(seen)
    return OutcomeOdds(correct / total, incorrect / total, blank / total)


def estimate_prior(
    correct: int, blank: int, answered: int, default: AnswerPrior, strength: float,
    near_miss_share: float, shifted_share: float,
) -> AnswerPrior:
    """A question's prior from how many of `answered` reads are correct and blank, pulled
    towards `default` by `strength` pseudo-answers (a small class says little)."""
    total = answered + strength
    return AnswerPrior(
        correct=(correct + strength * default.correct) / total,
        blank=(blank + strength * default.blank) / total,
        near_miss_share=near_miss_share,
        shifted_share=shifted_share,
    )


def estimate_share(part: int, whole: int, default: float, strength: float) -> float:
    """A share over the whole exam (wrong answers that are near misses, answers begun right of
    the first box), pulled towards `default` by `strength` pseudo-answers."""
    return (part + strength * default) / (whole + strength)
