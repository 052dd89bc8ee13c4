"""Reports, written by the grading core in a private staging folder and swapped in whole: a
job's (the chord's last step grades into it, the overrides route regrades a copy of the
current reports in it) and an exam's gradebook (every graded upload of the exam as one class;
the review screen regrades it). A download meanwhile gets the old or the new reports, never
a half-written file, and a run that fails changes nothing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scangrade.settings import Settings
from worker.grading import Exam, grade_and_report
from worker.grading.corrections import journal_path
from worker.grading.inputs import link_or_copy, load_saved
from worker.grading.inputs import previews_dir as saved_previews
from worker.grading.report_files import STUDENTS_CSV
from worker.grading.summary import GradingSummary
from worker.scan.previews import preview_path
from worker.scan.results import PageResult
from worker.scan.sources import ScanFile, scan_file
from worker.service.job_state import summary_json
from worker.service.storage import JobManifest, Storage, write_json_atomic

GRADEBOOK_SOURCES = "sources.json"  # in an exam's reports: the uploads it was graded from


def load_exam(storage: Storage, exam_id: str) -> Exam:
    """The exam's stored layout, key and roster, loaded as the CLI loads them."""
    files = storage.exam_files(exam_id)
    if files is None:
        raise FileNotFoundError(f"exam {exam_id} is missing from storage")
    return Exam.load(files.layout, files.key, files.roster)


def job_scans(storage: Storage, manifest: JobManifest) -> list[ScanFile]:
    """The job's uploaded scan as inspected on upload (the manifest keeps what it found; the
    scan stored is the one to render, normalised then when it had to be)."""
    return [scan_file(storage.scan_path(manifest.job_id, manifest.filename), manifest.n_pages,
                      note=manifest.scan_note, damaged_pages=manifest.damaged_pages)]


def publish_graded(
    storage: Storage,
    current: Path,
    write: Callable[[Path], GradingSummary],
    *,
    from_current: bool = False,
) -> dict[str, Any]:
    """Runs `write(folder)` on a fresh reports folder (a copy of the `current` reports folder,
    a job's or an exam's, when `from_current`) and publishes it there; returns the summary as
    the job view shows it. `folder` lies in a private staging folder that is removed
    afterwards, so `write` may keep scratch files beside it (`folder.parent`). A fresh folder
    still gets the current correction journal: grading again (a redelivered task, a new
    upload of the exam) never drops one."""
    staging = storage.staging_dir()
    folder = staging / "reports"
    try:
        if from_current:
            shutil.copytree(current, folder, copy_function=link_or_copy)  # the scan: linked
        elif journal_path(current).is_file():
            folder.mkdir()
            shutil.copyfile(journal_path(current), journal_path(folder))
        summary = write(folder)
        storage.publish_reports(folder, current)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # a retry or resume starts a fresh one
    data = summary_json(summary)
    # A server path is no one's business outside (the job view gives the reports' URLs),
    # and this one would name the staging folder the reports were written in.
    data.pop("out_dir", None)
    return data


def finished_uploads(storage: Storage, exam_id: str) -> list[str]:
    """The exam's uploads that are graded (their reports written), oldest first."""
    return [job_id for job_id in storage.exam_jobs(exam_id)
            if storage.report_path(job_id, STUDENTS_CSV) is not None]


def grade_gradebook(storage: Storage, exam_id: str, settings: Settings) -> dict[str, Any] | None:
    """The exam's gradebook: every graded upload of the exam read as one class, as the CLI
    grades several PDFs in one run (pages numbered across the uploads in upload order, a
    sheet scanned twice used once, a late page joining its student), with the exam's
    correction journal. None while no upload is graded. The caller holds the exam's
    reports (JobStore.hold_exam_reports)."""
    job_ids = finished_uploads(storage, exam_id)
    if not job_ids:
        return None
    exam = load_exam(storage, exam_id)
    pages: list[PageResult] = []
    scans: list[ScanFile] = []
    problems: list[str] = []
    staging = storage.staging_dir()
    try:
        previews = staging / "previews"
        previews.mkdir()
        offset = 0
        for job_id in job_ids:
            saved = load_saved(storage.reports_dir(job_id), load_exam=False)
            kept = saved_previews(storage.reports_dir(job_id))
            for page in saved.pages:
                image = preview_path(kept, page.source_page)
                page.source_page += offset
                if image.is_file():
                    link_or_copy(image, preview_path(previews, page.source_page))
                pages.append(page)
            scans.extend(saved.scans)
            problems.extend(saved.problems)
            offset += sum(scan.n_pages for scan in saved.scans)

        def write(folder: Path) -> GradingSummary:
            summary = grade_and_report(pages, exam, folder, settings=settings, scans=scans,
                                       problems=problems, previews=previews)
            write_json_atomic(folder / GRADEBOOK_SOURCES, {"jobs": job_ids})
            return summary

        return publish_graded(storage, storage.exam_reports_dir(exam_id), write)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def gradebook_jobs(storage: Storage, exam_id: str) -> list[str]:
    """The uploads the exam's gradebook was last graded from."""
    path = storage.exam_reports_dir(exam_id) / GRADEBOOK_SOURCES
    return json.loads(path.read_text())["jobs"] if path.is_file() else []
