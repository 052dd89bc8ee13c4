"""Graded sheets to hand back: one PDF per student (graded/<student_id>-<name>.pdf, and all of
them in graded.zip), their own pages with each answer marked right or wrong, its points, the
correct answer where theirs was wrong, and a header with the score. Pages come from the images
the read pass kept (worker.grading.marked_pages); the text is real text, so the score and the
name can be searched and read aloud.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
import zipfile
from pathlib import Path

from reportlab.pdfgen.canvas import Canvas

from worker.grading.exam import Exam
from worker.grading.grade import Gradebook, StudentResult
from worker.grading.marked_pages import (
    GREEN,
    GREY,
    INK,
    RED,
    PageImages,
    band_height,
    fonts,
    header,
    label,
    outline,
    pdf_canvas,
    start_page,
    wrapped,
)
from worker.grading.report_files import GRADED_DIR, GRADED_ZIP
from worker.grading.score import Outcome
from worker.grading.wording import score_text
from worker.scan.results import PageResult

HEADER_SIZE = 11.0
LABEL_SIZE = 8.0
LINE_WIDTH = 1.4
NAME_CHARS = 40  # of a student's name in a file name
ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed: the same grading gives the same zip


def file_name(s: StudentResult, identified: bool) -> str:
    """`<student_id>-<name>.pdf` in plain letters (accents dropped), `copy-<n>.pdf` for a
    sheet that names no sure student."""
    if not identified:
        return f"copy-{s.copy}.pdf"
    plain = unicodedata.normalize("NFKD", s.name).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9]+", "-", plain).strip("-")[:NAME_CHARS].strip("-")
    return f"{s.student_id}-{name}.pdf" if name else f"{s.student_id}.pdf"


def _marks(s: StudentResult, exam: Exam) -> dict[str, tuple[tuple[float, float, float], str]]:
    """Question -> (colour, note) as the student reads them."""
    symbols = fonts().symbols
    right, wrong = ("✓", "✗") if symbols else ("right", "wrong")
    marks = {}
    for question, r in zip(exam.questions, s.responses, strict=True):
        points = f"{r.points:g}/{r.max_points:g}"
        if r.outcome == Outcome.CORRECT:
            marks[r.question] = (GREEN, f"{right} {points}")
        elif r.outcome in (Outcome.INCORRECT, Outcome.BLANK):
            answer = question.key.answers[0] if question.key else ""
            marks[r.question] = (RED, f"{wrong} {points} · answer {answer}")
        elif r.outcome == Outcome.UNREAD:
            marks[r.question] = (GREY, "not read")
        else:
            marks[r.question] = (GREY, "not graded")
    return marks


def _draw_student(canvas: Canvas, s: StudentResult, exam: Exam, images: PageImages) -> None:
    marks = _marks(s, exam)
    who = " ".join(x for x in (s.name, f"({s.student_id})" if s.student_id else "") if x) \
        or f"copy {s.copy}"
    lines = [(f"{exam.layout.name}", INK, False), (f"{who}", INK, True),
             (f"Score {score_text(s.score, s.max_score, s.percent)}", INK, True)]
    if s.needs_review:
        lines.append(("Not final yet: some answers are still being checked by your teacher.",
                      GREY, False))
    for sheet_page, page in sorted(s.sheets.pages.items()):
        image = images.get(page)
        width = (image.width_px if (page.rotation or 0) % 180 == 0 else image.height_px) \
            / image.dpi * 72
        text = wrapped(lines, width - 2 * HEADER_SIZE, HEADER_SIZE)
        band = band_height(len(text), HEADER_SIZE)
        drawn = start_page(canvas, image, page, band)
        header(canvas, drawn, band, text, HEADER_SIZE)
        _mark_page(canvas, drawn, page, marks)
        canvas.bookmarkPage(f"page-{sheet_page}")
        canvas.showPage()


def _mark_page(canvas: Canvas, drawn, page: PageResult, marks) -> None:
    fields: dict[str, list] = {}
    for box in page.boxes:
        fields.setdefault(box.field, []).append(box)
    for field, boxes in fields.items():
        if field not in marks:
            continue  # the ID boxes: nothing to mark
        colour, note = marks[field]
        right = middle = 0.0
        for box in sorted(boxes, key=lambda b: b.index):
            _, bottom, right, top = outline(canvas, drawn, box.quad, colour, LINE_WIDTH)
            middle = (bottom + top) / 2
        label(canvas, note, right + 3, middle - LABEL_SIZE / 3, LABEL_SIZE, colour, bold=True)


def write_graded_sheets(book: Gradebook, out_dir: Path, images: PageImages) -> list[Path]:
    """Writes graded/<student>.pdf for every graded student and graded.zip with them all;
    returns [graded.zip]. An earlier run's graded/ is replaced whole."""
    folder = out_dir / GRADED_DIR
    staging = out_dir / f".{GRADED_DIR}.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    names: list[str] = []
    for s in book.students:
        name = file_name(s, book.identified(s))
        if name in names:  # two sheets read as one student: keep both, apart
            name = name.removesuffix(".pdf") + f"-copy-{s.copy}.pdf"
        names.append(name)
        canvas = pdf_canvas(staging / name)
        canvas.setTitle(f"{book.exam.layout.name}: {s.name or s.student_id or s.copy}")
        canvas.setAuthor("scangrade")
        _draw_student(canvas, s, book.exam, images)
        canvas.save()
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    archive = out_dir / GRADED_ZIP
    partial = out_dir / f".{GRADED_ZIP}.tmp"
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as bundle:  # PDFs are compressed
        for name in sorted(names):
            info = zipfile.ZipInfo(f"{GRADED_DIR}/{name}", ZIP_DATE)
            bundle.writestr(info, (folder / name).read_bytes())
    partial.replace(archive)
    return [archive]
