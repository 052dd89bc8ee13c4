"""`scangrade eval grading`: how much a teacher must review, and whether what is not reviewed
is right, measured against the ground truth of synthetic classes (MNIST test digits only).

By default it makes its own classes: the sample exam (samples/layout.yaml, key.csv), a roster
of random IDs with some students absent, wrong answers of which half miss the key by one
digit (the ones a misread could turn right), scanned with the scanner simulation. Each class
is read once and graded twice, with its roster and without one. Given a scanned PDF and its
truth (`scangrade synth --truth`), it grades that instead.

The figures: share of students and of answers flagged for review, wrong outcomes (an answer
reported correct / wrong / blank when it is not) flagged and unflagged, and ID errors.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from scangrade.config.paths import REPO_ROOT
from scangrade.settings import Settings
from worker.grading.exam import Exam
from worker.grading.grade import Gradebook, grade
from worker.grading.run import grade_and_report
from worker.grading.score import Outcome
from worker.scan.results import PageResult
from worker.scan.scans import read_all_scans

SAMPLES = REPO_ROOT / "samples"
EVAL_SEED = 20261202
EVAL_STUDENTS = 300
ROSTER_EXTRA = 0.1  # roster students who hand in nothing, as a share of those who do
NEAR_MISS_SHARE = 0.5  # wrong answers one digit off the key
CLASS_SIZE = 100  # students per synthetic class (one PDF each)


def true_score(answers: dict[str, str | None], book: Gradebook) -> float:
    total = 0.0
    for question in book.exam.questions:
        answer = answers.get(question.id)
        if question.key is not None and answer is not None and question.key.accepts(answer):
            total += question.points
    return total


def true_outcome(answer: str | None, question) -> Outcome:
    if question.key is None:
        return Outcome.UNGRADED
    if answer is None:
        return Outcome.BLANK
    return Outcome.CORRECT if question.key.accepts(answer) else Outcome.INCORRECT


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 5) if whole else None


def compare_with_truth(book: Gradebook, truth: dict[str, Any]) -> dict[str, Any]:
    """Students found, review shares and the errors that were and were not flagged."""
    expected = {s["copy"]: s for s in truth["students"]}
    found = {s.copy: s for s in book.students}
    unflagged = [s for s in book.students if not s.needs_review]
    errors = []  # students accepted without review whose ID or score is wrong
    flagged_wrong = 0  # students sent to review that did have a wrong ID or score
    answers = answers_flagged = 0
    wrong_flagged = wrong_unflagged = 0
    unflagged_wrong_answers = []
    id_wrong_flagged = id_wrong_unflagged = 0
    for student in book.students:
        truth_student = expected.get(student.copy)
        if truth_student is None:
            continue
        score = true_score(truth_student["answers"], book)
        id_right = student.student_id == truth_student["student_id"]
        right = id_right and student.score == score
        if not right and not student.needs_review:
            errors.append({"copy": student.copy, "student_id": student.student_id,
                           "true_id": truth_student["student_id"], "score": student.score,
                           "true_score": score})
        flagged_wrong += (not right) and student.needs_review
        if not id_right:
            id_flagged = bool(student.identity.reasons) or student.needs_review
            id_wrong_flagged += id_flagged
            id_wrong_unflagged += not id_flagged
        for question, response in zip(book.exam.questions, student.responses, strict=True):
            if question.key is None:
                continue
            answers += 1
            answers_flagged += response.needs_review
            actual = true_outcome(truth_student["answers"].get(question.id), question)
            if response.outcome == actual:
                continue
            if response.needs_review:
                wrong_flagged += 1
            else:
                wrong_unflagged += 1
                unflagged_wrong_answers.append({
                    "copy": student.copy, "question": question.id, "read": response.answer,
                    "written": truth_student["answers"].get(question.id),
                    "outcome_probability": response.outcome_probability})
    n = len(book.students)
    return {
        "students_true": len(expected),
        "students_found": len(set(found) & set(expected)),
        "students_extra": len(set(found) - set(expected)),
        "needs_review": n - len(unflagged),
        "review_rate": round((n - len(unflagged)) / n, 3) if n else None,
        "unflagged": len(unflagged),
        "unflagged_exact": len(unflagged) - len(errors),
        "exact_rate_unflagged": round(1 - len(errors) / len(unflagged), 4) if unflagged else None,
        "flagged_and_wrong": flagged_wrong,
        "unflagged_errors": errors,
        "pages_unassigned": len(book.unassigned),
        "answers": answers,
        "answers_flagged": answers_flagged,
        "answers_flagged_share": _share(answers_flagged, answers),
        "wrong_outcomes_flagged": wrong_flagged,
        "wrong_outcomes_unflagged": wrong_unflagged,
        "unflagged_wrong_share": _share(wrong_unflagged, answers - answers_flagged),
        "unflagged_wrong_answers": unflagged_wrong_answers,
        "id_errors_flagged": id_wrong_flagged,
        "id_errors_unflagged": id_wrong_unflagged,
    }


def summed(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Figures of several classes as one."""
    total: dict[str, Any] = {}
    for key in ("students_true", "students_found", "students_extra", "needs_review",
                "unflagged", "unflagged_exact", "flagged_and_wrong", "pages_unassigned",
                "answers", "answers_flagged", "wrong_outcomes_flagged",
                "wrong_outcomes_unflagged", "id_errors_flagged", "id_errors_unflagged"):
        total[key] = sum(part[key] for part in parts)
    students = total["needs_review"] + total["unflagged"]
    total["review_rate"] = round(total["needs_review"] / students, 3) if students else None
    total["answers_flagged_share"] = _share(total["answers_flagged"], total["answers"])
    total["unflagged_wrong_share"] = _share(
        total["wrong_outcomes_unflagged"], total["answers"] - total["answers_flagged"])
    total["unflagged_errors"] = [e for part in parts for e in part["unflagged_errors"]]
    total["unflagged_wrong_answers"] = [
        a for part in parts for a in part["unflagged_wrong_answers"]]
    return total


@dataclasses.dataclass
class SyntheticClass:
    pdf: Path
    truth: dict[str, Any]
    exam: Exam  # with the class's roster
    pages: list[PageResult]


def make_classes(
    settings: Settings, students: int, seed: int, folder: Path,
    log: Callable[[str], None] = lambda line: None,
) -> list[SyntheticClass]:
    """Classes of up to CLASS_SIZE students of the sample exam, each with its own roster."""
    import json

    from model.inference.reader import DigitReader
    from model.training.data import mnist_loader
    from worker.sheets.layout import Layout
    from worker.synth.class_set import ClassHabits, SynthOptions, write_class_set

    layout = Layout.load(SAMPLES / "layout.yaml")
    habits = ClassHabits(near_miss_share=NEAR_MISS_SHARE)
    reader = DigitReader.load(settings)
    mnist = mnist_loader(settings)
    classes = []
    sizes = [CLASS_SIZE] * (students // CLASS_SIZE) + ([students % CLASS_SIZE]
                                                       if students % CLASS_SIZE else [])
    for number, size in enumerate(sizes):
        class_seed = seed + number
        rng = np.random.default_rng(class_seed)
        on_roster = size + max(1, round(size * ROSTER_EXTRA))
        ids = sorted(f"{int(v):0{layout.id_digits}d}"
                     for v in rng.choice(10**layout.id_digits, on_roster, replace=False))
        roster = folder / f"roster-{class_seed}.csv"
        roster.write_text("student_id,name\n" + "".join(f"{i},Student {i}\n" for i in ids),
                          encoding="utf-8")
        pdf, truth_path = folder / f"class-{class_seed}.pdf", folder / f"class-{class_seed}.json"
        log(f"class {number + 1}/{len(sizes)}: synthesizing {size} students")
        write_class_set(layout, mnist, pdf, truth_path,
                        SynthOptions(students=size, seed=class_seed, habits=habits),
                        key_path=SAMPLES / "key.csv", roster_path=roster)
        log(f"class {number + 1}/{len(sizes)}: reading")
        exam = Exam.load(SAMPLES / "layout.yaml", SAMPLES / "key.csv", roster)
        read = read_all_scans([pdf], {exam.exam_id: exam.layout}, reader, settings)
        classes.append(SyntheticClass(pdf, json.loads(truth_path.read_text()), exam,
                                      read.pages))
    return classes


def evaluate_classes(classes: list[SyntheticClass], settings: Settings) -> dict[str, Any]:
    """Grade each class with its roster and without one; figures of both, summed."""
    with_roster, without = [], []
    for synthetic in classes:
        with_roster.append(compare_with_truth(grade(synthetic.pages, synthetic.exam, settings),
                                              synthetic.truth))
        no_roster = Exam.from_parts(synthetic.exam.layout, synthetic.exam.key)
        without.append(compare_with_truth(grade(synthetic.pages, no_roster, settings),
                                          synthetic.truth))
    return {"with_roster": summed(with_roster), "without_roster": summed(without)}


def evaluate_synthetic(
    settings: Settings, students: int = EVAL_STUDENTS, seed: int = EVAL_SEED,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """`scangrade eval grading` without a PDF: fresh synthetic classes, read and graded."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="scangrade-eval-grading-") as tmp:
        classes = make_classes(settings, students, seed, Path(tmp), log)
    read_s = time.perf_counter() - started
    figures = evaluate_classes(classes, settings)
    return {
        "what": "review decisions on synthetic classes of the sample exam (MNIST test digits)",
        "students": students, "seed": seed, "near_miss_share": NEAR_MISS_SHARE,
        "review_risk": settings.review_risk, "id_review_risk": settings.id_review_risk,
        **figures, "seconds": round(time.perf_counter() - started, 1),
        "synthesize_and_read_s": round(read_s, 1),
    }


def evaluate_grading(
    scans: Path, truth: dict[str, Any], exam: Exam, settings: Settings, out: Path | None = None
) -> dict[str, Any]:
    """`scangrade eval grading SCANS --truth T`: read a synthetic batch (scangrade synth) with
    the shipped reader, grade it as `scangrade grade` does and compare with its ground truth;
    the reports go to `out` (default: a temporary folder)."""
    from model.inference.reader import DigitReader

    started = time.perf_counter()
    reader = DigitReader.load(settings)
    read = read_all_scans([scans], {exam.exam_id: exam.layout}, reader, settings)
    read_s = time.perf_counter() - started
    figures = compare_with_truth(grade(read.pages, exam, settings), truth)
    with tempfile.TemporaryDirectory() as scratch:
        summary = grade_and_report(
            read.pages, exam, out or scratch, settings=settings, scans=read.files,
            problems=read.problems,
        )
    figures.update(
        review_risk=settings.review_risk,
        id_review_risk=settings.id_review_risk,
        pages=len(read.pages),
        read_s=round(read_s, 1),
        report_s=summary.seconds,
        problems=summary.problems,
    )
    return figures
