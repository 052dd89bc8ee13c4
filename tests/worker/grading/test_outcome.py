"""Outcome probabilities against brute force over every reading of the boxes, near misses,
and Bayes' rule with the class's prior."""

import itertools

import numpy as np
import pytest

from model.inference.classes import BLANK, NUM_CLASSES
from worker.grading.key import KeyEntry, normalize_answer
from worker.grading.outcome import AnswerPrior, evidence, near_misses, posterior
from worker.grading.score import answer_from_digits


def brute_force(probs: np.ndarray, key: KeyEntry) -> tuple[float, float, float, list[float]]:
    """P(correct), P(blank), P(a near miss), P(another number of each length) by summing over
    all 11^n readings, read as the scorer reads them."""
    near = near_misses(key.answers, len(probs))
    correct = blank = near_mass = 0.0
    other = [0.0] * len(probs)
    for reading in itertools.product(range(NUM_CLASSES), repeat=len(probs)):
        p = float(np.prod([probs[i][c] for i, c in enumerate(reading)]))
        digits = answer_from_digits([None if c == BLANK else c for c in reading]).digits
        if not digits:
            blank += p
        elif key.accepts(digits):
            correct += p
        elif normalize_answer(digits) in near:
            near_mass += p
        else:
            other[len(normalize_answer(digits)) - 1] += p
    return correct, blank, near_mass, other


@pytest.mark.parametrize(("answers", "boxes"), [
    (("7",), 1), (("7",), 3), (("0",), 2), (("56",), 2), (("9", "09"), 2), (("120", "12"), 3),
    (("100",), 3), (("0", "10"), 3)])
def test_correct_and_blank_match_every_reading_summed(answers, boxes):
    rng = np.random.default_rng(len(answers) * 10 + boxes)
    key = KeyEntry("q", answers, None, 2)
    for _ in range(4):
        probs = rng.dirichlet(np.full(NUM_CLASSES, 0.4), size=boxes)
        seen = evidence(probs, answers)
        correct, blank, near, other = brute_force(probs, key)
        assert seen.correct == pytest.approx(correct, abs=1e-12)
        assert seen.blank == pytest.approx(blank, abs=1e-12)
        assert seen.near_miss == pytest.approx(near, abs=1e-12)
        assert seen.other == pytest.approx(other, abs=1e-12)


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
