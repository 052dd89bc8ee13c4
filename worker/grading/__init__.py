"""Grading: answer key, roster, students, scores, item analysis and the reports a teacher uses.

`Exam.load` reads the inputs, `grade_and_report` turns page results into the files in an
output folder; the CLI and the Celery chord callback both call it.
"""

from worker.grading.errors import (
    AnswerKeyError,
    CorrectionsError,
    GradingInputError,
    RosterError,
)
from worker.grading.exam import Exam
from worker.grading.run import grade_and_report, regrade
from worker.grading.summary import GradingSummary

__all__ = [
    "AnswerKeyError",
    "CorrectionsError",
    "Exam",
    "GradingInputError",
    "GradingSummary",
    "RosterError",
    "grade_and_report",
    "regrade",
]
