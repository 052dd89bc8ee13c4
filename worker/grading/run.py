"""A grading run: page results in, every report in the output folder out.

`grade_and_report` is the one place reports are written; the CLI (`scangrade grade`, in
process) and the Celery chord's last step both call it, so a laptop and a cluster write
identical reports. It saves its inputs under DIR/inputs/ (worker.grading.inputs) so `regrade`
needs nothing but DIR, and it applies the folder's correction journal (DIR/corrections.csv,
worker.grading.corrections): whatever regrades the folder, no correction is lost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from scangrade.settings import Settings
from worker.grading.corrections import (
    JOURNAL_COLUMNS,
    CopyOverrides,
    Correction,
    applicable,
    in_effect,
    journal_path,
    journal_rows,
    load_corrections,
    load_journal,
    resolve_corrections,
)
from worker.grading.csvfile import write_csv
from worker.grading.exam import Exam
from worker.grading.grade import grade
from worker.grading.graded_sheets import write_graded_sheets
from worker.grading.inputs import load_saved, previews_dir, save_inputs, save_key, with_key
from worker.grading.items import item_stats
from worker.grading.marked_pages import PageImages
from worker.grading.report_files import GRADED_ZIP, REVIEW_PDF, SUMMARY_FILE
from worker.grading.reports import write_reports
from worker.grading.review_pdf import write_review_pdf
from worker.grading.review_queue import write_review_json
from worker.grading.students import group_pages
from worker.grading.summary import GradingSummary, summarize
from worker.scan.results import PageResult
from worker.scan.sources import ScanFile


def grade_and_report(
    pages: list[PageResult],
    exam: Exam,
    out_dir: str | Path,
    *,
    settings: Settings,
    scans: Sequence[ScanFile] = (),
    problems: Sequence[str] = (),
    previews: Path | None = None,
    keep_inputs: bool = True,
) -> GradingSummary:
    """Grades `pages` with the folder's corrections and writes every report into `out_dir`
    (students.csv, responses.csv, questions.csv, pages.csv, review.csv, the gradebook
    exports, review.pdf, graded/ and graded.zip, summary.json).

    `scans`: the inspected PDFs the pages came from (worker.scan.scans.ScanSet.files);
    `PageResult.source_page` numbers the pages of all of them in order. `problems`: what
    went wrong before grading (e.g. an unreadable PDF), carried into the summary.
    `previews`: the page images the read pass kept, drawn in review.pdf and the graded
    sheets (without them the scans are rasterized again). The CSVs are written before the
    PDFs, so a failure there still leaves the grades.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    problems = list(problems)
    if keep_inputs:
        save_inputs(pages, exam, scans, out_dir, problems, previews)
    kept = previews_dir(out_dir)
    images = PageImages(kept if kept.is_dir() else None, scans, settings.review_dpi,
                        settings.review_jpeg_quality)
    overrides, not_applied = _corrections(load_journal(out_dir), pages, exam)
    problems.extend(not_applied)
    book = grade(pages, exam, settings, overrides)
    stats = item_stats(
        book, settings.discrimination_group_share, settings.discrimination_min_students
    )
    files = write_reports(book, stats, pages, out_dir)
    write_review_json(book, out_dir)  # the review screen's queue
    summary = summarize(book, pages, out_dir, problems, overrides)
    review_path = out_dir / REVIEW_PDF
    try:
        summary.review_pages = write_review_pdf(book, pages, review_path, images)
        files.append(review_path)
    except Exception as exc:  # the CSVs are written; say what is missing rather than lose them
        review_path.unlink(missing_ok=True)  # never leave an earlier run's review.pdf behind
        summary.problems.append(f"review.pdf could not be written: {exc}")
    try:
        files += write_graded_sheets(book, out_dir, images)
    except Exception as exc:  # the grades stand; say which handouts are missing
        (out_dir / GRADED_ZIP).unlink(missing_ok=True)
        summary.problems.append(f"the graded sheets could not be written: {exc}")
    summary.files = [str(p.name) for p in files]
    summary.seconds = round(time.perf_counter() - started, 2)
    (out_dir / SUMMARY_FILE).write_text(
        json.dumps(summary.to_json(), indent=2) + "\n", encoding="utf-8"
    )
    return summary


def _corrections(journal: list[Correction], pages: list[PageResult], exam: Exam
                 ) -> tuple[CopyOverrides, list[str]]:
    """The journal's corrections these sheets have a place for, and why any other is not
    applied (it stays in the journal)."""
    copies = {s.copy for s in group_pages(pages, exam.exam_id, exam.version, exam.n_pages)
              .students}
    usable, problems = applicable(journal, copies, exam)
    return in_effect(usable), problems


def regrade(
    out_dir: str | Path,
    *,
    settings: Settings,
    exam: Exam | None = None,
    overrides_path: str | Path | None = None,
    key_path: str | Path | None = None,
) -> GradingSummary:
    """Rewrites every report of DIR from its saved reads, with its correction journal.

    `overrides_path`: a corrections file (or a filled-in review.csv); every row is checked
    (CorrectionsError names the line of a bad one, and then nothing changes) and added to the
    journal, a later row for the same student and question winning. `key_path`: a corrected
    answer key, saved in DIR/inputs/ from now on; the journal is kept. `exam`: grade against
    this exam instead of the copies saved in DIR/inputs (the service keeps its exams
    elsewhere)."""
    out_dir = Path(out_dir)
    saved = load_saved(out_dir, load_exam=exam is None)
    exam = exam or saved.exam
    assert exam is not None
    if key_path is not None:
        exam = with_key(exam, Path(key_path))
    journal = load_journal(out_dir)
    added = []
    if overrides_path is not None:  # every row checked before anything is written
        rows = load_corrections(overrides_path)
        current = grade(saved.pages, exam, settings, _corrections(journal, saved.pages, exam)[0])
        recorded = datetime.now(UTC).isoformat(timespec="seconds")
        added = resolve_corrections(rows, Path(overrides_path).name, current, recorded)
    if key_path is not None:
        save_key(out_dir, Path(key_path))
    if added:  # the journal before the reports: a failure while writing them keeps it
        write_csv(journal_path(out_dir), JOURNAL_COLUMNS, journal_rows([*journal, *added]))
    summary = grade_and_report(
        saved.pages, exam, out_dir, settings=settings, scans=saved.scans,
        problems=saved.problems, keep_inputs=False,
    )
    summary.corrections_added = len(added)
    summary.corrections_file = Path(overrides_path).name if overrides_path else ""
    summary.key_replaced = Path(key_path).name if key_path else ""
    (out_dir / SUMMARY_FILE).write_text(
        json.dumps(summary.to_json(), indent=2) + "\n", encoding="utf-8"
    )
    return summary
