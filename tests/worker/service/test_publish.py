"""Publishing a job's reports: written aside and swapped in whole, and a job graded again
(a redelivered last step) keeps its teacher's corrections."""

import pytest

from worker.grading.report_files import JOURNAL_CSV
from worker.grading.summary import GradingSummary
from worker.service.publish import publish_graded
from worker.service.storage import Storage

JOB = "J" * 22


def summary(folder) -> GradingSummary:
    return GradingSummary("exam", str(folder), 0, 0, None, 0, None, 0, 0)


def test_a_fresh_grading_keeps_the_journal_and_replaces_everything_else(tmp_path):
    storage = Storage(tmp_path)
    reports = storage.reports_dir(JOB)
    reports.mkdir(parents=True)
    (reports / JOURNAL_CSV).write_text("the teacher's corrections")
    (reports / "students.csv").write_text("old")

    def write(folder):
        assert (folder / JOURNAL_CSV).read_text() == "the teacher's corrections"
        (folder / "students.csv").write_text("new")
        return summary(folder)

    data = publish_graded(storage, storage.reports_dir(JOB), write)
    assert "out_dir" not in data  # no server path in what the job view shows
    assert (reports / "students.csv").read_text() == "new"
    assert (reports / JOURNAL_CSV).read_text() == "the teacher's corrections"
    assert not list(storage.tmp_dir.iterdir())  # staging cleaned up


def test_a_failing_write_publishes_nothing(tmp_path):
    storage = Storage(tmp_path)
    reports = storage.reports_dir(JOB)
    reports.mkdir(parents=True)
    (reports / "students.csv").write_text("old")

    def write(folder):
        (folder.parent / "half").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        publish_graded(storage, storage.reports_dir(JOB), write, from_current=True)
    assert (reports / "students.csv").read_text() == "old"
    assert not list(storage.tmp_dir.iterdir())
