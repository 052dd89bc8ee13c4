"""A grading run: page results in, every report in the output folder out.

`grade_and_report` is the one place reports are written; the CLI (`scangrade grade`, in
process) and the Celery chord's last step both call it, so a laptop and a cluster write
identical reports. It saves its inputs under DIR/inputs/ (worker.grading.inputs) so `regrade`
needs nothing but DIR and the teacher's overrides.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from scangrade.settings import Settings
from worker.grading.exam import Exam
from worker.grading.grade import grade
from worker.grading.inputs import load_saved, save_inputs, save_overrides
from worker.grading.items import item_stats
from worker.grading.outputs import REVIEW_PDF, SUMMARY_FILE
from worker.grading.overrides import CopyOverrides, load_overrides, resolve_overrides
from worker.grading.reports import write_reports
from worker.grading.review_pdf import write_review_pdf
from worker.grading.summary import GradingSummary, summarize
from worker.scan.pdf import PdfInfo
from worker.scan.results import PageResult


def grade_and_report(
    pages: list[PageResult],
    exam: Exam,
    out_dir: str | Path,
    *,
    settings: Settings,
    scans: Sequence[PdfInfo] = (),
    overrides: CopyOverrides | None = None,
    problems: Sequence[str] = (),
    keep_inputs: bool = True,
) -> GradingSummary:
    """Grades `pages` and writes students.csv, responses.csv, questions.csv, pages.csv,
    review.pdf and summary.json into `out_dir`.

    `scans`: the inspected PDFs the pages came from (worker.scan.scans.ScanSet.files);
    `PageResult.source_page` numbers the pages of all of them in order. `problems`: what
    went wrong before grading (e.g. an unreadable PDF), carried into the summary. The CSVs
    are written before review.pdf, so a failure there still leaves the grades.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    problems = list(problems)
    if keep_inputs:
        save_inputs(pages, exam, scans, out_dir, problems)
    book = grade(pages, exam, settings, overrides)
    stats = item_stats(
        book, settings.discrimination_group_share, settings.discrimination_min_students
    )
    files = write_reports(book, stats, pages, out_dir)
    summary = summarize(book, pages, out_dir, problems, overrides.count if overrides else 0)
    review_path = out_dir / REVIEW_PDF
    try:
        summary.review_pages = write_review_pdf(
            book,
            pages,
            scans,
            review_path,
            settings.review_dpi,
            settings.confidence_threshold,
            settings.review_jpeg_quality,
            settings.review_workers,
        )
        files.append(review_path)
    except Exception as exc:  # the CSVs are written; say what is missing rather than lose them
        review_path.unlink(missing_ok=True)  # never leave an earlier run's review.pdf behind
        summary.problems.append(f"review.pdf could not be written: {exc}")
    summary.files = [str(p.name) for p in files]
    summary.seconds = round(time.perf_counter() - started, 2)
    (out_dir / SUMMARY_FILE).write_text(
        json.dumps(summary.to_json(), indent=2) + "\n", encoding="utf-8"
    )
    return summary


def regrade(
    out_dir: str | Path,
    *,
    settings: Settings,
    exam: Exam | None = None,
    overrides_path: str | Path | None = None,
) -> GradingSummary:
    """Applies a teacher's overrides.csv to the saved reads and rewrites every report.

    `exam`: grade against this exam instead of the copies saved in DIR/inputs (the service
    keeps its exams elsewhere). Raises OverridesError naming the line of a bad override.
    """
    saved = load_saved(out_dir, load_exam=exam is None)
    exam = exam or saved.exam
    assert exam is not None
    resolved = None
    if overrides_path is not None:
        rows = load_overrides(overrides_path)
        automatic = grade(saved.pages, exam, settings)
        resolved = resolve_overrides(
            rows,
            str(overrides_path),
            automatic.copies_by_id(),
            {s.copy for s in automatic.students},
            [q.id for q in exam.questions],
            exam.id_digits,
        )
        save_overrides(Path(out_dir), Path(overrides_path))
    return grade_and_report(
        saved.pages,
        exam,
        out_dir,
        settings=settings,
        scans=saved.scans,
        overrides=resolved,
        problems=saved.problems,
        keep_inputs=False,
    )
