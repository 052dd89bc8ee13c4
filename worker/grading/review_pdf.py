"""review.pdf: every scanned page with what was read on it, for the teacher's check.

A first page explains the colours and how to send corrections back. Then the pages that need
a teacher's eye come first: students needing review, then pages that belong to no student,
then everyone else. Each digit box is outlined in the colour of its answer's grade (green
right, red wrong or blank, amber unsure: check it, grey no key); beside each answer stand the
key and the points, and above each box the digit read. A header names the student, the score
and, in words, why the sheet needs review. Every student has a bookmark, and every word is
real text, so a teacher can search the PDF for a name or an ID.

Box corners come from the page results in scan pixels at the page's DPI. A page scanned
sideways or upside down is turned upright by quarter turns (the residual skew is kept), so the
outlines land on the ink the reader saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from worker.grading.exam import Exam
from worker.grading.grade import REVIEWED_NOTE, Gradebook, StudentResult
from worker.grading.marked_pages import (
    AMBER,
    GREEN,
    GREY,
    INK,
    RED,
    Colour,
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
from worker.grading.score import Flag, Outcome, Response
from worker.grading.wording import OUTCOME_WORDS, percent, score_text
from worker.scan.results import PageResult
from worker.sheets.layout import STUDENT_ID

OUTCOME_COLOURS = {Outcome.CORRECT: GREEN, Outcome.INCORRECT: RED, Outcome.BLANK: RED}
LEGEND = (
    (GREEN, "green", "the answer is right"),
    (RED, "red", "the answer is wrong or blank"),
    (AMBER, "amber", "unsure: check this answer or ID (the header says why)"),
    (GREY, "grey", "no key for this question, or a page of no student"),
)
HEADER_SIZE = 9.0  # points
LABEL_SIZE = 7.0
LINE_WIDTH = 1.2


@dataclass(frozen=True)
class ReviewPage:
    """One page of review.pdf before drawing."""

    page: PageResult
    student: StudentResult | None  # None: a page that belongs to no student
    section: str  # the bookmark group it is listed under
    sheet_page: int
    why: str = ""  # for a page of no student: why


SECTIONS = ("Needs review", "Pages of no student", "Graded, nothing to check")


def plan_pages(book: Gradebook, pages: list[PageResult]) -> list[ReviewPage]:
    """The pages of review.pdf in order: review first."""
    review, fine = [], []
    used: set[int] = set()
    for s in book.students:
        for sheet_page, page in sorted(s.sheets.pages.items()):
            used.add(page.source_page)
            group = review if s.needs_review else fine
            group.append(ReviewPage(page, s, SECTIONS[0] if s.needs_review else SECTIONS[2],
                                    sheet_page))
    reasons = {u.page.source_page: u.reason for u in book.unassigned}
    stray = [
        ReviewPage(page, None, SECTIONS[1], 0,
                   reasons.get(page.source_page, "duplicate scan of a sheet page, not used"))
        for page in sorted(pages, key=lambda p: p.source_page)
        if page.source_page not in used
    ]
    return [*review, *stray, *fine]


def _who(s: StudentResult) -> str:
    return " ".join(x for x in (s.student_id or "ID unknown", s.name) if x)


def _score(s: StudentResult) -> str:
    return score_text(s.score, s.max_score, s.percent)


def _header_lines(sheet: ReviewPage, n_pages: int) -> list[tuple[str, Colour, bool]]:
    page = sheet.page
    if sheet.student is None:
        return [(f"PDF page {page.source_page}: not graded", INK, True),
                (f"Why: {sheet.why}", AMBER, False)]
    s = sheet.student
    lines = [(f"{_who(s)} · {_score(s)} · copy {s.copy} · sheet page {sheet.sheet_page}/"
              f"{n_pages} · PDF page {page.source_page}", INK, True)]
    if s.needs_review:
        lines += [(f"Check: {reason}", AMBER, False) for reason in s.review_reasons]
    elif s.review_reasons:  # checked by the teacher: say so
        checked = [r for r in s.review_reasons if r != REVIEWED_NOTE]
        lines.append(("Checked by the teacher: " + "; ".join(checked), GREY, False))
    return lines


def _to_check(response: Response, s: StudentResult) -> bool:
    return response.needs_review and s.needs_review  # not once the teacher checked them


def _answer_colour(response: Response, s: StudentResult) -> Colour:
    if _to_check(response, s):
        return AMBER
    return OUTCOME_COLOURS.get(response.outcome, GREY)


def _answer_note(response: Response, s: StudentResult, key: str) -> str:
    if response.outcome == Outcome.UNGRADED:
        return "no key"
    if response.outcome == Outcome.UNREAD:
        return f"check: not read · key {key}"
    points = f"{response.points:g}/{response.max_points:g}"
    if _to_check(response, s):
        if Flag.UNCLEAR in response.flags:
            doubt = f"digits unclear ({percent(response.read_probability or 0.0)} sure)"
        else:
            word = OUTCOME_WORDS.get(response.outcome, "?")
            doubt = f"{percent(response.outcome_probability or 0.0)} sure it is {word}"
        return f"check: {doubt} · key {key} · {points}"
    return f"key {key} · {points}"


def draw_marks(canvas: Canvas, sheet: ReviewPage, images: PageImages, exam: Exam) -> None:
    page = sheet.page
    lines = _header_lines(sheet, exam.n_pages)
    image = images.get(page)
    # the band's width is known once the page is: measure with the scan's upright width
    probe = image.width_px / image.dpi * 72 if (page.rotation or 0) % 180 == 0 \
        else image.height_px / image.dpi * 72
    lines = wrapped(lines, probe - 2 * HEADER_SIZE, HEADER_SIZE)
    band = band_height(len(lines), HEADER_SIZE)
    drawn = start_page(canvas, image, page, band)
    header(canvas, drawn, band, lines, HEADER_SIZE)
    if sheet.student is None:
        for box in page.boxes:
            outline(canvas, drawn, box.quad, GREY, LINE_WIDTH)
        return
    s = sheet.student
    by_question = {r.question: r for r in s.responses}
    keys = {q.id: q.key.text if q.key else ""
            for q in exam.questions}
    fields: dict[str, list] = {}
    for box in page.boxes:
        fields.setdefault(box.field, []).append(box)
    for field, boxes in fields.items():
        boxes.sort(key=lambda b: b.index)
        if field == STUDENT_ID:
            colour = AMBER if s.identity.reasons else GREEN
            note = f"ID {s.student_id or '?'}" + (f" {s.name}" if s.name else "")
        elif field in by_question:
            response = by_question[field]
            colour = _answer_colour(response, s)
            note = _answer_note(response, s, keys.get(field, ""))
        else:
            continue
        right = 0.0
        middle = 0.0
        for box in boxes:
            left, bottom, right, top = outline(canvas, drawn, box.quad, colour, LINE_WIDTH)
            middle = (bottom + top) / 2
            read = "" if box.blank or box.digit is None else str(box.digit)
            if read:
                label(canvas, read, left + 1, top + 1.5, LABEL_SIZE, colour, bold=True)
        label(canvas, note, right + 3, middle - LABEL_SIZE / 3, LABEL_SIZE, colour)


def _legend_page(canvas: Canvas, book: Gradebook, plan: list[ReviewPage]) -> None:
    canvas.setPageSize(A4)
    _, height = A4
    f = fonts()
    y = height - 72
    canvas.setFont(f.bold, 16)
    canvas.setFillColorRGB(*INK)
    canvas.drawString(56, y, f"Review: {book.exam.layout.name}")
    y -= 26
    students = len(book.students)
    to_check = sum(s.needs_review for s in book.students)
    stray = sum(1 for p in plan if p.student is None)
    canvas.setFont(f.regular, 11)
    for line in (f"{students} student{'s' if students != 1 else ''} graded;"
                 f" {to_check} need{'s' if to_check == 1 else ''} a check,"
                 f" {stray} page{'s' if stray != 1 else ''} belong{'s' if stray == 1 else ''}"
                 " to no student.",
                 "Their pages come first; use the bookmarks to jump to a student."):
        canvas.drawString(56, y, line)
        y -= 16
    y -= 10
    canvas.setFont(f.bold, 12)
    canvas.drawString(56, y, "What the colours mean")
    y -= 20
    for colour, name, meaning in LEGEND:
        canvas.setStrokeColorRGB(*colour)
        canvas.setLineWidth(2)
        canvas.rect(60, y - 3, 18, 14, stroke=1, fill=0)
        canvas.setFillColorRGB(*INK)
        canvas.setFont(f.regular, 11)
        canvas.drawString(88, y, f"{name}: {meaning}")
        y -= 22
    canvas.drawString(56, y, "Above each box: the digit read. Beside each answer: the key and"
                      " the points.")
    y -= 30
    canvas.setFont(f.bold, 12)
    canvas.drawString(56, y, "Correcting what was read")
    y -= 18
    canvas.setFont(f.regular, 11)
    for line in ("review.csv lists every check, one per row. Type the right answer (or ok,",
                 "or blank) into its value column, then run:",
                 "    scangrade regrade <this folder> --overrides review.csv",
                 "Every report is rewritten; the corrections are kept in corrections.csv."):
        canvas.drawString(56, y, line)
        y -= 16
    canvas.bookmarkPage("legend")
    canvas.addOutlineEntry("How to read this file", "legend", level=0)
    canvas.showPage()


def write_review_pdf(book: Gradebook, pages: list[PageResult], path: Path, images: PageImages
                     ) -> int:
    """Writes review.pdf; returns its number of scanned pages (the legend page aside)."""
    plan = plan_pages(book, pages)
    canvas = pdf_canvas(path)
    canvas.setTitle(f"scangrade review: {book.exam.layout.name}")
    canvas.setAuthor("scangrade")
    _legend_page(canvas, book, plan)
    section = None
    seen: set[int] = set()
    for number, sheet in enumerate(plan):
        draw_marks(canvas, sheet, images, book.exam)
        key = f"page-{number}"
        canvas.bookmarkPage(key)
        if sheet.section != section:
            section = sheet.section
            canvas.bookmarkPage(f"section-{number}")  # an entry needs a bookmark of its own
            canvas.addOutlineEntry(section, f"section-{number}", level=0)
        if sheet.student is not None and sheet.student.copy not in seen:
            seen.add(sheet.student.copy)
            s = sheet.student
            title = f"{_who(s)} · {_score(s)}" + (" · check" if s.needs_review else "")
            canvas.addOutlineEntry(title, key, level=1)
        elif sheet.student is None:
            canvas.addOutlineEntry(f"PDF page {sheet.page.source_page}", key, level=1)
        canvas.showPage()
    canvas.save()
    return len(plan)
