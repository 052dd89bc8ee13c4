"""review.pdf on the real sample scan (reads from its ground truth): a legend first, pages to
check next, a bookmark per student, searchable words, boxes outlined in their grade's colour;
and the page images come from the read pass, not from rasterizing the PDF again."""

import json

import numpy as np
import pytest
from pdf2image import convert_from_path
from pypdf import PdfReader

from scangrade.settings import get_settings
from tests.helpers.grading import pages_from_truth
from worker.grading import Exam, grade_and_report
from worker.grading.grade import grade
from worker.grading.marked_pages import AMBER, GREEN, RED
from worker.grading.review_pdf import SECTIONS, plan_pages
from worker.scan.pdf import inspect_pdf

SETTINGS = get_settings()


@pytest.fixture(scope="module")
def sample(repo_root, tmp_path_factory):
    samples = repo_root / "samples"
    exam = Exam.load(samples / "layout.yaml", samples / "key.csv", samples / "roster.csv")
    truth = json.loads((samples / "truth.json").read_text())
    pages = pages_from_truth(truth, exam.layout)
    # copy 5's first right answer: a coin toss between what was written and another digit
    unsure = next(p for p in pages if p.ok and p.copy == 5)
    answers = next(s for s in truth["students"] if s["copy"] == 5)["answers"]
    right = next(q for q in exam.questions if answers[q.id] and q.key.accepts(answers[q.id]))
    box = next(b for b in unsure.boxes if b.field == right.id and not b.blank)
    other = (box.digit + 1) % 10
    box.probs = [0.0] * 11
    box.probs[box.digit], box.probs[other] = 0.55, 0.45
    box.confidence = 0.55
    out = tmp_path_factory.mktemp("review")
    scans = [inspect_pdf(samples / "scans.pdf", SETTINGS)]
    summary = grade_and_report(pages, exam, out, settings=SETTINGS, scans=scans)
    return out, summary, exam, truth, pages, unsure


def colours(image) -> set[tuple[int, int, int]]:
    return {tuple(int(v) for v in c) for c in np.asarray(image.convert("RGB")).reshape(-1, 3)}


def near(colour, palette, tolerance=40) -> bool:
    target = np.array([round(v * 255) for v in colour])
    return any(np.abs(np.array(c) - target).max() <= tolerance for c in palette)


def test_legend_then_pages_to_check_then_the_rest(sample):
    out, summary, exam, truth, pages, unsure = sample
    review = PdfReader(out / "review.pdf")
    assert len(review.pages) == 1 + summary.review_pages == 1 + len(truth["pages"])
    legend = review.pages[0].extract_text()
    assert "What the colours mean" in legend and "--overrides review.csv" in legend
    plan = plan_pages(grade(pages, exam, SETTINGS), pages)
    assert plan[0].page is unsure and plan[0].section == SECTIONS[0]
    stray = {p["source_page"] for p in truth["pages"] if p["kind"] != "sheet"}
    assert {p.page.source_page for p in plan[1: 1 + len(stray)]} == stray
    first = review.pages[1].extract_text()  # searchable: the student, the score, the reason
    student = next(s for s in grade(pages, exam, SETTINGS).students if s.copy == 5)
    assert student.name in first and f"{student.score:g}/{student.max_score:g}" in first
    assert "Check:" in first and "could be" in first


def test_every_student_has_a_bookmark(sample):
    out, summary, *_ = sample
    outline = PdfReader(out / "review.pdf").outline
    titles = []

    def walk(items):
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                titles.append(item.title)

    walk(outline)
    assert titles[0] == "How to read this file"
    assert {SECTIONS[0], SECTIONS[1], SECTIONS[2]} <= set(titles)
    assert sum("·" in t for t in titles) == summary.students


def test_boxes_are_outlined_in_their_grade_colour(sample):
    out, *_ = sample
    (checked,) = convert_from_path(out / "review.pdf", dpi=60, first_page=2, last_page=2)
    palette = colours(checked)
    assert near(AMBER, palette) and near(GREEN, palette) and near(RED, palette)


def test_pages_come_from_the_read_pass_images(sample, tmp_path, repo_root):
    """Without the scans (moved away), review.pdf is still drawn from the kept previews."""
    from worker.grading import regrade
    from worker.grading.inputs import previews_dir
    from worker.scan.previews import PreviewFolder

    out, *_, pages, _ = sample
    folder = previews_dir(out)
    sink = PreviewFolder(folder, SETTINGS.review_dpi, SETTINGS.review_jpeg_quality)
    for page in pages:
        if page.width_px:
            sink(page.source_page, np.full((page.height_px, page.width_px), 200, np.uint8),
                 page.dpi)
    for scan in (out / "inputs" / "scans").iterdir():
        scan.unlink()
    regrade(out, settings=SETTINGS)
    (drawn,) = convert_from_path(out / "review.pdf", dpi=30, first_page=2, last_page=2)
    grey = np.asarray(drawn.convert("L"))
    assert (np.abs(grey.astype(int) - 200) < 12).mean() > 0.5  # the preview's paper, not white
