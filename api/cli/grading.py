"""`scangrade grade` and `scangrade regrade`: grade scans into reports on one machine.

Exit codes (both commands):
  0  reports written (students needing review are counted in the summary, not an error)
  1  unexpected failure (a bug or a broken install; the message says which)
  2  bad input: a layout, key, roster or corrections file that cannot be used, a missing
     scan file, scans holding no sheet of this exam (an empty PDF, another exam's scans), or
     `grade` into a folder that holds corrections (see --keep-corrections, --force); the
     reports are still written when grading could start, so what was read is not lost
  3  only with --fail-on-review: reports written, but some student needs review or some
     page belongs to no student
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from api.cli import CommandGroups

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_NEEDS_REVIEW = 3


def register(groups: CommandGroups) -> None:
    groups.root.command("grade")(grade)
    groups.root.command("regrade")(regrade)
    groups.eval.command("grading")(eval_grading)
    groups.bench.command("grade")(bench_grade)


def bench_grade(
    students: Annotated[int, typer.Option(min=1, help="Students (one page each) in the class.")
                        ] = 300,
    repeats: Annotated[int, typer.Option(min=1, help="Interleaved runs of each command.")] = 3,
    cores: Annotated[int, typer.Option(min=1, help="CPUs the runs are pinned to.")] = 2,
    memory_pages: Annotated[list[int] | None, typer.Option(
        help="Page counts whose peak memory is measured (repeatable; default 10 and 2000).")
    ] = None,
    work_dir: Annotated[Path | None, typer.Option(
        help="Folder for the synthetic class (kept and reused; default: the system's "
             "temporary folder).")] = None,
) -> None:
    """`scangrade grade` as a teacher runs it, start to finish, next to bare pdftoppm on the
    same class PDF; start-up and peak memory of the whole process tree (JSON)."""
    from scangrade.settings import get_settings
    from worker.measure.bench_grade import bench_grade as run

    report = run(get_settings(), students=students, repeats=repeats, cores=cores,
                 memory_pages=tuple(memory_pages) if memory_pages else (10, 2000),
                 work_dir=work_dir, log=lambda line: typer.echo(line, err=True))
    typer.echo(json.dumps(report, indent=2))


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _finish(summary, as_json: bool, fail_on_review: bool, started: float) -> None:
    summary.seconds = round(time.perf_counter() - started, 2)
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    else:
        typer.echo(summary.text())
    if summary.students == 0:
        raise _fail(
            "no student's sheet of this exam was found in the scans"
            + ("" if summary.pages else " (no page could be read)")
        )
    if fail_on_review and (summary.needs_review or summary.pages_unassigned):
        raise typer.Exit(EXIT_NEEDS_REVIEW)


def grade(
    scans: Annotated[list[Path], typer.Argument(
        help="Scanned PDFs, photos (JPEG, PNG, WebP, HEIC, TIFF), folders or zip archives of"
             " them; pages in any order.")],
    layout: Annotated[Path, typer.Option(help="Sheet layout (YAML/JSON).")],
    key: Annotated[Path, typer.Option(help="Answer key CSV: question,answer[,points].")],
    out: Annotated[Path, typer.Option(help="Folder for the reports (created).")],
    roster: Annotated[
        Path | None, typer.Option(help="Class roster CSV: student_id,name[,...].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    fail_on_review: Annotated[
        bool, typer.Option(help="Exit 3 when a student needs review (for scripts).")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    keep_corrections: Annotated[bool, typer.Option(
        help="OUT holds corrections of this exam: apply them to these scans too.")] = False,
    force: Annotated[bool, typer.Option(
        help="OUT holds corrections: set them aside (kept in OUT) and start over.")] = False,
) -> None:
    """Read every page of the scans and write the reports into OUT: students.csv,
    responses.csv, questions.csv, pages.csv, review.csv, the Moodle and Canvas gradebooks,
    review.pdf, graded/ and graded.zip, summary.json. Exit codes: 0 ok, 1 unexpected
    failure, 2 bad input, 3 review needed (only with --fail-on-review)."""
    started = time.perf_counter()
    from worker.grading import Exam, GradingInputError, grade_and_report
    from worker.sheets.layout import LayoutError

    try:
        exam = Exam.load(layout, key, roster)
        set_aside = _check_corrections(out, keep_corrections, force, exam.exam_id)
    except (LayoutError, GradingInputError) as exc:
        raise _fail(str(exc)) from None
    for problem in exam.problems:
        typer.echo(f"warning: {problem}", err=True)
    missing = [str(s) for s in scans if not s.exists()]
    if missing:
        raise _fail(f"no such scan file: {', '.join(missing)}")

    from model.inference.reader import DigitReader
    from scangrade.settings import get_settings
    from worker.grading.inputs import fresh_previews, previews_dir
    from worker.scan.scans import ScanReading, inspect_scans
    from worker.scan.sources import expand_inputs

    settings = get_settings()
    # zip archives are unpacked for the run; the reports keep their own copies of the scans
    unpacked = tempfile.TemporaryDirectory(prefix="scangrade-unpacked-")
    files, unpack_problems = expand_inputs(scans, Path(unpacked.name))
    scan_set = inspect_scans(files, settings)  # each file opened once for the whole run
    scan_set = replace(scan_set, problems=(*unpack_problems, *scan_set.problems))
    # Scans without a page still get (empty) reports and a clear error, without the model.
    try:
        reader = DigitReader.load(settings) if scan_set.n_pages else None
    except OSError as exc:  # weights missing or unreadable: an install problem, not the input
        raise _fail(f"cannot load the digit reader: {exc}", code=1) from None
    previews = fresh_previews(out, settings.review_dpi, settings.review_jpeg_quality)
    reading = ScanReading(scan_set, {exam.exam_id: exam.layout}, reader, settings,
                          previews=previews)
    with _progress_bar(scan_set.n_pages, enabled=progress) as bar:
        pages = []
        for page in reading:
            pages.append(page)
            bar.update(1)
    if set_aside is not None:  # only now that the new reads are in
        from datetime import datetime

        aside = out / f"corrections-set-aside-{datetime.now():%Y%m%d-%H%M%S}.csv"
        set_aside.rename(aside)
        typer.echo(f"the earlier corrections are set aside in {aside}", err=True)
    try:
        summary = grade_and_report(
            pages, exam, out, settings=settings, scans=scan_set.files,
            problems=reading.problems, previews=previews_dir(out),
        )
    finally:
        unpacked.cleanup()
    _finish(summary, as_json, fail_on_review, started)


def _check_corrections(out: Path, keep: bool, force: bool, exam_id: str) -> Path | None:
    """What to do with corrections already in OUT, decided before anything is read (grading
    must never drop one unasked): None to go on, or the journal to set aside (--force) once
    the new reads are in."""
    from worker.grading.corrections import journal_path, load_journal
    from worker.grading.report_files import SUMMARY_FILE

    if keep and force:
        raise _fail("--keep-corrections and --force contradict each other: choose one")
    journal = journal_path(out)
    if not journal.is_file():
        return None
    if force:
        return journal
    count = len(load_journal(out))
    if keep:
        summary = out / SUMMARY_FILE
        graded = json.loads(summary.read_text()).get("exam_id") if summary.is_file() else None
        if graded not in (None, exam_id):
            raise _fail(f"{out} holds corrections of exam {graded!r}, not of {exam_id!r};"
                        " grade these scans into another --out")
        typer.echo(f"applying the {count} correction(s) kept in {journal} to these scans",
                   err=True)
        return None
    raise _fail(
        f"{out} already holds {count} teacher correction(s) (corrections.csv). To grade new"
        " scans of the same exam and keep them, add --keep-corrections; to start over, add"
        " --force (they are set aside in that folder, not deleted); or choose another --out."
    )


def _progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="page",
        desc="reading",
        file=sys.stderr,
        disable=not enabled or total == 0,
        leave=False,
    )


def regrade(
    out_dir: Annotated[Path, typer.Argument(help="Folder a `scangrade grade` wrote.")],
    overrides: Annotated[
        Path | None,
        typer.Option(
            help="Corrections CSV: student,question,value (question may be a question id,"
            " student_id or reviewed; student may be copy:N), e.g. review.csv filled in."
            " Added to the folder's corrections.csv; a later row for the same student and"
            " question wins."
        ),
    ] = None,
    key: Annotated[Path | None, typer.Option(
        help="A corrected answer key: regrade with it, keeping every correction.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    fail_on_review: Annotated[
        bool, typer.Option(help="Exit 3 when a student still needs review.")
    ] = False,
) -> None:
    """Rewrite every report in OUT_DIR from the saved reads with every correction in its
    corrections.csv, adding those of --overrides first (no scanning, no model). Exit codes:
    0 ok, 1 unexpected failure, 2 bad input, 3 review still needed (only with
    --fail-on-review)."""
    started = time.perf_counter()
    from scangrade.settings import get_settings
    from worker.grading import GradingInputError
    from worker.grading import regrade as regrade_dir
    from worker.sheets.layout import LayoutError

    try:
        summary = regrade_dir(out_dir, settings=get_settings(), overrides_path=overrides,
                              key_path=key)
    except (LayoutError, GradingInputError) as exc:
        raise _fail(str(exc)) from None
    _finish(summary, as_json, fail_on_review, started)


def eval_grading(
    scans: Annotated[Path | None, typer.Argument(
        help="A synthetic scanned PDF (scangrade synth); default: fresh synthetic classes.")]
    = None,
    truth: Annotated[Path | None, typer.Option(help="Its ground-truth JSON.")] = None,
    layout: Annotated[Path | None, typer.Option(help="Sheet layout (YAML/JSON).")] = None,
    key: Annotated[Path | None, typer.Option(help="Answer key CSV.")] = None,
    roster: Annotated[Path | None, typer.Option(help="Class roster CSV.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Also write the reports here (default: a temp dir).")
    ] = None,
    students: Annotated[int, typer.Option(
        min=10, help="Students in the synthetic classes (without SCANS).")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic classes.")] = 20261202,
) -> None:
    """Review decisions against ground truth (JSON): students and answers flagged, wrong
    outcomes flagged and not, ID errors. Without SCANS: synthetic classes of the sample exam
    (MNIST test digits), graded with and without their roster."""
    from scangrade.settings import get_settings
    from worker.grading import Exam
    from worker.measure.eval_grading import evaluate_grading, evaluate_synthetic

    settings = get_settings()
    if scans is None:
        figures = evaluate_synthetic(settings, students, seed,
                                     log=lambda line: typer.echo(line, err=True))
    else:
        if truth is None or layout is None or key is None:
            raise _fail("with a scanned PDF, give --truth, --layout and --key too")
        exam = Exam.load(layout, key, roster)
        figures = evaluate_grading(
            scans, json.loads(truth.read_text(encoding="utf-8")), exam, settings, out
        )
    typer.echo(json.dumps(figures, indent=2))
