"""A job's reports, written by the grading core in a private staging folder and swapped in
whole: the chord's last step grades into it, the overrides route regrades a copy of the current
reports in it. A download during either gets the old or the new reports, never a half-written
file, and a run that fails changes nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worker.grading import Exam
from worker.grading.corrections import journal_path
from worker.grading.inputs import link_or_copy
from worker.grading.summary import GradingSummary
from worker.scan.pdf import PdfInfo
from worker.service.job_state import summary_json
from worker.service.storage import JobManifest, Storage


def load_exam(storage: Storage, exam_id: str) -> Exam:
    """The exam's stored layout, key and roster, loaded as the CLI loads them."""
    files = storage.exam_files(exam_id)
    if files is None:
        raise FileNotFoundError(f"exam {exam_id} is missing from storage")
    return Exam.load(files.layout, files.key, files.roster)


def job_scans(storage: Storage, manifest: JobManifest) -> list[PdfInfo]:
    """The job's uploaded PDF as inspected on upload (the manifest keeps what it found; the
    scan stored is the one to render, normalised then when it had to be)."""
    return [PdfInfo(storage.scan_path(manifest.job_id, manifest.filename), manifest.n_pages,
                    note=manifest.scan_note, damaged_pages=manifest.damaged_pages)]


def publish_graded(
    storage: Storage,
    job_id: str,
    write: Callable[[Path], GradingSummary],
    *,
    from_current: bool = False,
) -> dict[str, Any]:
    """Runs `write(folder)` on a fresh reports folder (a copy of the job's current reports when
    `from_current`) and publishes it as the job's reports; returns the summary as the job view
    shows it. `folder` lies in a private staging folder that is removed afterwards, so `write`
    may keep scratch files beside it (`folder.parent`). A fresh folder still gets the job's
    correction journal: grading the job again (a redelivered task) never drops one."""
    staging = storage.staging_dir()
    folder = staging / "reports"
    current = storage.reports_dir(job_id)
    try:
        if from_current:
            shutil.copytree(current, folder, copy_function=link_or_copy)  # the scan: linked
        elif journal_path(current).is_file():
            folder.mkdir()
            shutil.copyfile(journal_path(current), journal_path(folder))
        summary = write(folder)
        storage.publish_reports(folder, job_id)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # a retry or resume starts a fresh one
    data = summary_json(summary)
    # A server path is no one's business outside (the job view gives the reports' URLs),
    # and this one would name the staging folder the reports were written in.
    data.pop("out_dir", None)
    return data
