"""`scangrade eval grading`: grading measured against a synthetic batch's ground truth
(`scangrade synth --truth`).

The figures that matter to a teacher: every student found, and every student the grader did
not send to review has exactly the right ID and score.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from scangrade.settings import Settings
from worker.grading.exam import Exam
from worker.grading.grade import Gradebook, grade
from worker.grading.run import grade_and_report
from worker.scan.scans import read_all_scans


def true_score(answers: dict[str, str | None], book: Gradebook) -> float:
    total = 0.0
    for question in book.exam.questions:
        answer = answers.get(question.id)
        if question.key is not None and answer is not None and question.key.accepts(answer):
            total += question.points
    return total


def compare_with_truth(book: Gradebook, truth: dict[str, Any]) -> dict[str, Any]:
    expected = {s["copy"]: s for s in truth["students"]}
    found = {s.copy: s for s in book.students}
    unflagged = [s for s in book.students if not s.needs_review]
    errors = []  # students accepted without review whose ID or score is wrong
    flagged_wrong = 0  # students sent to review that did have a wrong ID or score
    for student in book.students:
        truth_student = expected.get(student.copy)
        if truth_student is None:
            continue
        right = student.student_id == truth_student["student_id"] and student.score == true_score(
            truth_student["answers"], book
        )
        if not right and not student.needs_review:
            errors.append(
                {
                    "copy": student.copy,
                    "student_id": student.student_id,
                    "true_id": truth_student["student_id"],
                    "score": student.score,
                    "true_score": true_score(truth_student["answers"], book),
                }
            )
        flagged_wrong += (not right) and student.needs_review
    exact = len(unflagged) - len(errors)
    return {
        "students_true": len(expected),
        "students_found": len(set(found) & set(expected)),
        "students_extra": len(set(found) - set(expected)),
        "needs_review": len(book.students) - len(unflagged),
        "review_rate": round((len(book.students) - len(unflagged)) / len(book.students), 3)
        if book.students
        else None,
        "unflagged": len(unflagged),
        "unflagged_exact": exact,
        "exact_rate_unflagged": round(exact / len(unflagged), 4) if unflagged else None,
        "flagged_and_wrong": flagged_wrong,
        "unflagged_errors": errors,
        "pages_unassigned": len(book.unassigned),
    }


def evaluate_grading(
    scans: Path, truth: dict[str, Any], exam: Exam, settings: Settings, out: Path | None = None
) -> dict[str, Any]:
    """`scangrade eval grading`: read a synthetic batch (scangrade synth) with the shipped
    reader, grade it as `scangrade grade` does and compare with its ground truth; the reports
    go to `out` (default: a temporary folder)."""
    from model.inference.reader import DigitReader

    started = time.perf_counter()
    reader = DigitReader.load(settings=settings)
    read = read_all_scans([scans], {exam.exam_id: exam.layout}, reader, settings)
    pages = read.pages
    read_s = time.perf_counter() - started
    figures = compare_with_truth(grade(pages, exam, settings), truth)
    with tempfile.TemporaryDirectory() as scratch:
        summary = grade_and_report(
            pages, exam, out or scratch, settings=settings, scans=read.files,
            problems=read.problems,
        )
    figures.update(
        confidence_threshold=settings.confidence_threshold,
        pages=len(pages),
        read_s=round(read_s, 1),
        report_s=summary.seconds,
        problems=summary.problems,
    )
    return figures
