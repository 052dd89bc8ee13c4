"""Grading: answer key, roster, students, scores, item analysis and the reports a teacher uses.

`Exam.load` reads the inputs, `grade_and_report` turns page results into the files in an
output folder; the CLI and the Celery chord callback both call it.
"""

from worker.grading.errors import AnswerKeyError, GradingInputError, OverridesError, RosterError
from worker.grading.exam import Exam
from worker.grading.run import grade_and_report, regrade
from worker.grading.summary import GradingSummary

__all__ = [
    "AnswerKeyError",
    "Exam",
    "GradingInputError",
    "GradingSummary",
    "OverridesError",
    "RosterError",
    "grade_and_report",
    "regrade",
]
