"""The PDF helper process (worker.grading.pdf_helper): the same files as drawing them all
in one process, and nothing lost when the helper is gone."""

import json
import os
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool

import pytest

from scangrade.settings import get_settings
from tests.helpers.grading import pages_from_truth
from worker.grading import Exam, grade_and_report
from worker.grading.pdf_helper import pdf_helper
from worker.grading.report_files import GRADED_DIR, GRADED_ZIP, REVIEW_PDF
from worker.scan.pdf import inspect_pdf


@pytest.fixture(scope="module")
def sample_inputs(repo_root):
    samples = repo_root / "samples"
    exam = Exam.load(samples / "layout.yaml", samples / "key.csv", samples / "roster.csv")
    pages = pages_from_truth(json.loads((samples / "truth.json").read_text()), exam.layout)
    return exam, pages, [inspect_pdf(samples / "scans.pdf", get_settings())]


def _pdfs(folder):
    files = [folder / REVIEW_PDF, folder / GRADED_ZIP, *sorted((folder / GRADED_DIR).iterdir())]
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in files}


def _grade(sample_inputs, out, helper=None):
    exam, pages, scans = sample_inputs
    return grade_and_report(pages, exam, out, settings=get_settings(), scans=scans,
                            pdf_helper=helper)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the helper needs two CPUs")
def test_the_helper_draws_byte_identical_pdfs(sample_inputs, tmp_path):
    alone = _grade(sample_inputs, tmp_path / "alone")
    with pdf_helper(True) as helper:
        assert helper is not None
        helped = _grade(sample_inputs, tmp_path / "helped", helper)
    assert helped.problems == alone.problems and helped.review_pages == alone.review_pages > 0
    assert _pdfs(tmp_path / "helped") == _pdfs(tmp_path / "alone")


def test_no_helper_when_it_is_turned_off():
    with pdf_helper(False) as helper:
        assert helper is None


class _DeadHelper(Executor):
    """A helper whose process died: every job fails as a broken pool does."""

    def submit(self, fn, /, *args, **kwargs):
        future = Future()
        future.set_exception(BrokenProcessPool("the helper process died"))
        return future


def test_a_dead_helper_loses_no_pdf(sample_inputs, tmp_path):
    alone = _grade(sample_inputs, tmp_path / "alone")
    helped = _grade(sample_inputs, tmp_path / "helped", _DeadHelper())
    assert helped.problems == alone.problems and helped.files == alone.files
    assert _pdfs(tmp_path / "helped") == _pdfs(tmp_path / "alone")
