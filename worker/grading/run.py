"""The grading job: page results in, every report in the output folder out.

`grade_and_report` is the one place reports are written; the CLI (`scangrade grade`, in
process) and the Celery chord's last step both call it, so a laptop and a cluster write
identical reports. It also saves its inputs under DIR/inputs/ (page results as JSON lines,
copies of layout, key, roster and scans) so `regrade` needs nothing but DIR and the
teacher's overrides.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from worker.grading.errors import GradingInputError
from worker.grading.exam import Exam
from worker.grading.grade import Gradebook, grade
from worker.grading.items import item_stats
from worker.grading.overrides import CopyOverrides, load_overrides, resolve_overrides
from worker.grading.reports import write_reports
from worker.grading.review_pdf import write_review_pdf
from worker.scan.results import PageResult

INPUTS_DIR = "inputs"
PAGES_FILE = "pages.jsonl"
MANIFEST_FILE = "manifest.json"
SUMMARY_FILE = "summary.json"
REVIEW_PDF = "review.pdf"


@dataclass
class GradingSummary:
    exam_id: str
    out_dir: str
    students: int
    needs_review: int
    mean_score: float | None
    max_score: float
    mean_percent: float | None
    pages: int  # scanned pages given
    pages_unassigned: int  # pages that belong to no student (another exam, no QR, ...)
    absent: list[str] = field(default_factory=list)  # roster IDs without a sheet
    problems: list[str] = field(default_factory=list)  # input problems, in words
    overrides: int = 0  # teacher corrections applied
    review_pages: int = 0
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        """The short summary the CLI prints."""
        if self.students:
            mean = f"mean score {self.mean_score:g}/{self.max_score:g}" + (
                f" ({self.mean_percent:g}%)" if self.mean_percent is not None else ""
            )
        else:
            mean = "no scores"
        lines = [
            f"{self.students} student{'s' if self.students != 1 else ''} graded, {mean},"
            f" {self.needs_review} need{'s' if self.needs_review == 1 else ''} review"
            f" ({self.pages} pages in {self.seconds:.1f} s)",
        ]
        if self.pages_unassigned:
            lines.append(f"{self.pages_unassigned} page(s) belong to no student: see pages.csv")
        if self.absent:
            lines.append(
                f"{len(self.absent)} roster student(s) without a sheet: {', '.join(self.absent)}"
            )
        lines.extend(f"problem: {p}" for p in self.problems)
        lines.append(f"reports in {self.out_dir}")
        return "\n".join(lines)


def _summary(
    book: Gradebook, pages: list[PageResult], out_dir: Path, problems: list[str], overrides: int
) -> GradingSummary:
    graded = book.students
    mean = round(sum(s.score for s in graded) / len(graded), 2) if graded else None
    percents = [s.percent for s in graded if s.percent is not None]
    return GradingSummary(
        exam_id=book.exam.exam_id,
        out_dir=str(out_dir),
        students=len(graded),
        needs_review=sum(s.needs_review for s in graded),
        mean_score=mean,
        max_score=book.exam.max_score,
        mean_percent=round(sum(percents) / len(percents), 1) if percents else None,
        pages=len(pages),
        pages_unassigned=len(book.unassigned),
        absent=[r.student_id for r in book.absent],
        problems=[*book.problems, *problems],
        overrides=overrides,
    )


def _copy_into(source: Path, target: Path) -> None:
    """A copy, not a link: a later rewrite of the teacher's file must not change the saved one.
    An earlier file at `target` (even a hard link to `source`) is replaced, not written into."""
    if target.exists() and target.resolve() == source.resolve():
        return  # grading again from the saved inputs themselves
    target.unlink(missing_ok=True)
    shutil.copyfile(source, target)


def save_inputs(
    pages: list[PageResult], exam: Exam, scans: Sequence[Path], out_dir: Path, problems: list[str]
) -> None:
    inputs = out_dir / INPUTS_DIR
    (inputs / "scans").mkdir(parents=True, exist_ok=True)
    with open(inputs / PAGES_FILE, "w", encoding="utf-8") as f:
        for page in sorted(pages, key=lambda p: p.source_page):
            f.write(json.dumps(page.to_json()) + "\n")
    files: dict[str, Any] = {}
    for name, path in (
        ("layout", exam.layout_path),
        ("key", exam.key_path),
        ("roster", exam.roster_path),
    ):
        if path is None:
            continue
        target = inputs / f"{name}{Path(path).suffix or '.txt'}"
        _copy_into(Path(path), target)
        files[name] = target.name
    if exam.layout_path is None:  # built in memory: save what grading used
        (inputs / "layout.yaml").write_text(exam.layout.to_yaml(), encoding="utf-8")
        files["layout"] = "layout.yaml"
    if exam.key_path is None:
        lines = ["question,answer,points"]
        lines += [
            f"{e.question},{'|'.join(e.answers)},{'' if e.points is None else e.points}"
            for e in exam.key.entries.values()
        ]
        (inputs / "key.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        files["key"] = "key.csv"
    saved_scans = []
    for number, scan in enumerate(scans, 1):
        target = inputs / "scans" / f"{number:02d}-{Path(scan).name}"
        if Path(scan).is_file():
            _copy_into(Path(scan), target)
            saved_scans.append(str(target.relative_to(inputs)))
        else:
            problems.append(f"{scan}: scan file not found; review.pdf shows blank pages")
    files["scans"] = saved_scans
    files["problems"] = problems  # what went wrong reading, for the summary of a regrade
    (inputs / MANIFEST_FILE).write_text(json.dumps(files, indent=2) + "\n", encoding="utf-8")


def grade_and_report(
    pages: list[PageResult],
    exam: Exam,
    out_dir: str | Path,
    scans: Sequence[str | Path] = (),
    settings: Any = None,
    overrides: CopyOverrides | None = None,
    problems: Sequence[str] = (),
    keep_inputs: bool = True,
) -> GradingSummary:
    """Grades `pages` and writes students.csv, responses.csv, questions.csv, pages.csv,
    review.pdf and summary.json into `out_dir`.

    `scans`: the scanned PDFs the pages came from; `PageResult.source_page` numbers the pages
    of all of them in order. `problems`: what went wrong before grading (e.g. an unreadable
    PDF), carried into the summary. The CSVs are written before review.pdf, so a failure
    there still leaves the grades.
    """
    from scangrade.settings import get_settings

    started = time.perf_counter()
    settings = settings or get_settings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scan_paths = [Path(s) for s in scans]
    problems = list(problems)
    if keep_inputs:
        save_inputs(pages, exam, scan_paths, out_dir, problems)
    book = grade(pages, exam, settings, overrides)
    stats = item_stats(
        book, settings.discrimination_group_share, settings.discrimination_min_students
    )
    files = write_reports(book, stats, pages, out_dir)
    summary = _summary(book, pages, out_dir, problems, overrides.count if overrides else 0)
    review_path = out_dir / REVIEW_PDF
    try:
        summary.review_pages = write_review_pdf(
            book,
            pages,
            scan_paths,
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


def load_saved(
    out_dir: str | Path, load_exam: bool = True
) -> tuple[list[PageResult], Exam | None, list[Path], list[str]]:
    """The pages, exam, scans and reading problems a previous `grade_and_report` saved."""
    inputs = Path(out_dir) / INPUTS_DIR
    manifest_path = inputs / MANIFEST_FILE
    if not manifest_path.is_file() or not (inputs / PAGES_FILE).is_file():
        raise GradingInputError(
            out_dir,
            "not a scangrade output folder (inputs/manifest.json"
            " is missing); run `scangrade grade` into it first",
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    exam = None
    if load_exam:
        roster = inputs / manifest["roster"] if manifest.get("roster") else None
        exam = Exam.load(inputs / manifest["layout"], inputs / manifest["key"], roster)
    with open(inputs / PAGES_FILE, encoding="utf-8") as f:
        pages = [PageResult.from_json(json.loads(line)) for line in f if line.strip()]
    scans = [inputs / s for s in manifest.get("scans", [])]
    return pages, exam, scans, list(manifest.get("problems", []))


def regrade(
    out_dir: str | Path,
    exam: Exam | None = None,
    overrides_path: str | Path | None = None,
    settings: Any = None,
) -> GradingSummary:
    """Applies a teacher's overrides.csv to the saved reads and rewrites every report.

    `exam`: grade against this exam instead of the copies saved in DIR/inputs (the service
    keeps its exams elsewhere). Raises OverridesError naming the line of a bad override.
    """
    from scangrade.settings import get_settings

    settings = settings or get_settings()
    pages, saved_exam, scans, problems = load_saved(out_dir, load_exam=exam is None)
    exam = exam or saved_exam
    assert exam is not None
    resolved = None
    if overrides_path is not None:
        rows = load_overrides(overrides_path)
        automatic = grade(pages, exam, settings)
        resolved = resolve_overrides(
            rows,
            str(overrides_path),
            automatic.copies_by_id(),
            {s.copy for s in automatic.students},
            [q.id for q in exam.questions],
            exam.id_digits,
        )
        saved = Path(out_dir) / INPUTS_DIR / "overrides.csv"
        if not (saved.exists() and saved.resolve() == Path(overrides_path).resolve()):
            shutil.copyfile(overrides_path, saved)
    return grade_and_report(
        pages, exam, out_dir, scans, settings, resolved, problems, keep_inputs=False
    )


def read_all_scans(
    scans: Sequence[str | Path],
    exam: Exam,
    reader: Any,
    settings: Any,
    on_page: Callable[[PageResult], None] | None = None,
) -> tuple[list[PageResult], list[str]]:
    """Reads every page of every scan in process (the laptop path). Pages are numbered across
    the scans in order. A scan that cannot be opened is a problem, not an exception, so the
    other scans are still graded."""
    from pypdf import PdfReader

    from worker.scan.pipeline import read_scans

    pages: list[PageResult] = []
    problems: list[str] = []
    offset = 0
    for scan in scans:
        try:
            count = len(PdfReader(scan, strict=False).pages)
        except Exception as exc:
            problems.append(f"{scan}: cannot be read as a PDF ({exc})")
            continue
        if count == 0:
            problems.append(f"{scan}: the PDF has no pages")
            continue
        try:
            results: Iterable[PageResult] = read_scans(
                scan, {exam.exam_id: exam.layout}, reader, settings
            )
            for page in results:
                page.source_page += offset
                pages.append(page)
                if on_page is not None:
                    on_page(page)
        except Exception as exc:  # e.g. a damaged PDF the pipeline rejects as a whole
            problems.append(f"{scan}: {exc}")
        offset += count
    return pages, problems
