"""A synthetic 30-student class set (MNIST test digits, scanner simulation) graded end to end
with the shipped reader: every student found, and every student not sent to review has
exactly the true ID and score."""

import json

import pytest

from model.training.data import mnist_loader
from scangrade.settings import get_settings
from worker.grading import Exam
from worker.grading.grade import grade
from worker.measure.eval_grading import compare_with_truth
from worker.scan.scans import read_all_scans
from worker.sheets.layout import Layout
from worker.synth.class_set import SynthOptions, write_class_set

STUDENTS = 30
ROSTER_SIZE = 34  # four roster students do not hand in


@pytest.mark.slow
def test_thirty_students_found_and_unflagged_scores_exact(repo_root, reader, tmp_path):
    samples = repo_root / "samples"
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "student_id,name\n"
        + "".join(f"{310000 + 37 * i:06d},Student {i}\n" for i in range(ROSTER_SIZE)),
        encoding="utf-8",
    )
    pdf, truth_path = tmp_path / "class.pdf", tmp_path / "truth.json"
    write_class_set(
        Layout.load(samples / "layout.yaml"),
        mnist_loader(get_settings()),
        pdf,
        truth_path,
        SynthOptions(students=STUDENTS, seed=30),
        key_path=samples / "key.csv",
        roster_path=roster,
    )
    truth = json.loads(truth_path.read_text())
    exam = Exam.load(samples / "layout.yaml", samples / "key.csv", roster)
    read = read_all_scans([pdf], {exam.exam_id: exam.layout}, reader, get_settings())
    assert read.problems == []
    figures = compare_with_truth(grade(read.pages, exam, get_settings()), truth)
    print(json.dumps(figures))  # the figures, for `pytest -s`
    assert figures["students_found"] == STUDENTS and figures["students_extra"] == 0
    assert figures["unflagged_errors"] == []
    assert figures["unflagged"] > 0, "no student accepted without review: nothing was checked"
    assert figures["pages_unassigned"] == len(truth["pages"]) - STUDENTS
