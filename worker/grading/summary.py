"""The summary of a grading run: what the CLI prints, summary.json, and the service's job view."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from worker.grading.corrections import CopyOverrides
from worker.grading.grade import Gradebook
from worker.scan.results import PageResult


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
    overrides: int = 0  # teacher corrections in effect (from the folder's journal)
    corrections_sources: dict[str, int] = field(default_factory=dict)  # file -> corrections
    corrections_added: int = 0  # added to the journal by this run
    corrections_file: str = ""  # the file they were added from
    key_replaced: str = ""  # a corrected answer key this run graded with
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
        if self.key_replaced:
            lines.append(f"answer key replaced by {self.key_replaced}; corrections kept")
        if self.overrides or self.corrections_added:
            sources = ", ".join(f"{n} from {name}" for name, n in self.corrections_sources.items())
            lines.append(
                f"{self.overrides} correction{'s' if self.overrides != 1 else ''} applied"
                f" ({sources}), kept in corrections.csv"
                + (f"; {self.corrections_added} new from {self.corrections_file}"
                   if self.corrections_file else "")
            )
        lines.extend(f"problem: {p}" for p in self.problems)
        lines.append(f"reports in {self.out_dir}")
        return "\n".join(lines)


def summarize(
    book: Gradebook, pages: list[PageResult], out_dir: Path, problems: list[str],
    overrides: CopyOverrides,
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
        overrides=overrides.count,
        corrections_sources=dict(overrides.sources),
    )
