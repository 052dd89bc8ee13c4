"""Outcome probabilities against brute force over every reading of the boxes, near misses,
and Bayes' rule with the class's prior."""

import itertools

import numpy as np
import pytest

from model.inference.classes import BLANK, NUM_CLASSES
from worker.grading.key import KeyEntry, normalize_answer
from worker.grading.outcome import AnswerPrior, evidence, near_misses, posterior
from worker.grading.score import answer_from_digits


def brute_force(probs: np.ndarray, key: KeyEntry) -> dict[str, np.ndarray]:
    """Every one of the 11^n readings, read as the scorer reads it, its probability added to
    its kind (correct, near_miss, other) and the length of its number, and again to the
    kind's `_shifted` part when its first box is blank."""
    boxes = len(probs)
    near = near_misses(key.answers, boxes)
    found = {kind: np.zeros(boxes) for kind in
             ("correct", "near_miss", "other", "correct_shifted", "near_miss_shifted",
              "other_shifted")}
    found["blank"] = np.zeros(1)
    for reading in itertools.product(range(NUM_CLASSES), repeat=boxes):
        p = float(np.prod([probs[i][c] for i, c in enumerate(reading)]))
        digits = answer_from_digits([None if c == BLANK else c for c in reading]).digits
        if not digits:
            found["blank"][0] += p
            continue
        number = normalize_answer(digits)
        kind = "correct" if key.accepts(digits) else "near_miss" if number in near else "other"
        found[kind][len(number) - 1] += p
        if reading[0] == BLANK:
            found[f"{kind}_shifted"][len(number) - 1] += p
    return found


@pytest.mark.parametrize(("answers", "boxes"), [
    (("7",), 1), (("7",), 3), (("0",), 2), (("56",), 2), (("9", "09"), 2), (("120", "12"), 3),
    (("100",), 3), (("0", "10"), 3)])
def test_every_reading_is_counted_once_by_the_number_it_reads_as(answers, boxes):
    rng = np.random.default_rng(len(answers) * 10 + boxes)
    key = KeyEntry("q", answers, None, 2)
    for _ in range(4):
        probs = rng.dirichlet(np.full(NUM_CLASSES, 0.4), size=boxes)
        seen = evidence(probs, answers)
        expected = brute_force(probs, key)
        assert seen.blank == pytest.approx(expected["blank"][0], abs=1e-12)
        for kind in ("correct", "near_miss", "other", "correct_shifted", "near_miss_shifted",
                     "other_shifted"):
            assert getattr(seen, kind) == pytest.approx(tuple(expected[kind]), abs=1e-12), kind
        total = seen.total_correct + seen.blank + seen.total_incorrect
        assert total == pytest.approx(1.0, abs=1e-9)


def test_near_misses_change_drop_or_add_one_digit():
    near = near_misses(("56",), 3)
    assert {"66", "50", "5", "6", "156", "506", "567"} <= near
    assert not {"56", "056", "65", "57 6"} & near  # not the key, no leading zero, one edit
    assert near_misses(("7",), 1) == {str(d) for d in range(10)} - {"7"}
    assert "9" not in near_misses(("9", "09"), 2) and "09" not in near_misses(("9",), 2)
    assert all(normalize_answer(n) == n for n in near_misses(("120",), 3))


def test_a_prior_that_favours_the_key_moves_doubt_onto_confident_near_misses():
    # "66" read with a faint chance that the first digit is a 5: with key 56 a class that
    # mostly answers right makes "56" a real possibility; "99" has no such neighbour.
    def probs(first: int, doubt: float) -> np.ndarray:
        box0 = np.full(NUM_CLASSES, 1e-6)
        box0[first], box0[5] = 1 - doubt, doubt
        box1 = np.full(NUM_CLASSES, 1e-6)
        box1[6] = 1.0
        return np.array([box0 / box0.sum(), box1 / box1.sum()])

    prior = AnswerPrior(correct=0.8, blank=0.05, near_miss_share=0.5)
    near = posterior(evidence(probs(6, 1e-3), ("56",)), prior)
    far = posterior(evidence(probs(6, 1e-3), ("12",)), prior)
    assert near.correct > 0.05 and far.correct < 1e-6
    assert near.correct + near.incorrect + near.blank == pytest.approx(1.0)


def one_box(**probs: float) -> np.ndarray:
    box = np.full(NUM_CLASSES, 1e-9)
    for name, p in probs.items():
        box[BLANK if name == "blank" else int(name[1:])] = p
    return np.array([box / box.sum()])


def test_no_share_of_the_prior_is_lost_when_every_number_is_a_near_miss():
    """One box, key 7: every other digit is a near miss, so all of the wrong answers' prior
    goes to them (none is kept for 'other numbers' that do not exist)."""
    prior = AnswerPrior(correct=0.5, blank=0.1, near_miss_share=0.5)
    odds = posterior(evidence(one_box(d7=0.8, d1=0.2), ("7",)), prior)
    wrong_per_digit = (1 - 0.5 - 0.1) / 9
    expected = wrong_per_digit * 0.2 / (0.5 * 0.8 + wrong_per_digit * 0.2)
    assert odds.incorrect == pytest.approx(expected, rel=1e-6)


def test_a_layout_that_cannot_happen_weighs_nothing():
    """One box cannot hold a shifted answer: the shifted share changes nothing there."""
    seen = evidence(one_box(blank=0.8, d7=0.2), ("7",))
    odds = [posterior(seen, AnswerPrior(0.5, 0.1, 0.5, shifted_share=s)).correct
            for s in (0.0, 0.2, 0.5)]
    assert odds == pytest.approx([odds[0]] * 3)
