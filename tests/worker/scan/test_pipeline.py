"""The scan pipeline end to end: a synthetic scanned class set (worker.synth.class_set, MNIST
test digits) with foreign pages mixed in goes through real poppler, alignment and the shipped
reader."""

import json
import os
import subprocess
import sys

import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen import canvas

from scangrade.config.scan import ScanSettings
from worker.measure.eval_pipeline import EXPECTED_FOREIGN_STATUS, score_pages
from worker.scan.pdf import inspect_pdf
from worker.scan.pipeline import read_pages, read_scan
from worker.scan.rasterize import rasterize_pages
from worker.scan.results import PageResult, PageStatus
from worker.sheets.units import MM_PER_INCH

SETTINGS = ScanSettings(dpi=150, chunk_pages=3)
MM = 72 / MM_PER_INCH


@pytest.fixture(scope="module")
def results(class_set, layout, reader) -> list[PageResult]:
    path, _ = class_set
    return list(read_scan(inspect_pdf(path, SETTINGS), {layout.exam_id: layout}, reader, SETTINGS))


def test_every_page_is_identified_and_foreign_pages_get_their_reason(results, class_set):
    _, truth = class_set
    assert [r.source_page for r in results] == list(range(1, truth["n_pages"] + 1))
    for result, page in zip(results, truth["pages"], strict=True):
        if page["kind"] == "sheet":
            assert result.status == PageStatus.OK, result.message
            assert (result.exam_id, result.copy, result.page) == (
                page["exam_id"], page["copy"], page["page"])
            assert result.rotation == page["rotation"]
            assert result.residual_mm < 0.5
        else:
            assert result.status == EXPECTED_FOREIGN_STATUS[page["kind"]], result.message
            assert result.message and not result.boxes


def test_boxes_match_the_ground_truth(results, class_set, layout):
    _, truth = class_set
    report = score_pages(results, truth, layout, confidence_threshold=0.97)
    assert report["sheet_pages_aligned_and_identified"] == 1.0
    assert report["box_quad_error_mm"]["max"] < 0.6
    assert report["digit_accuracy_written_boxes"] >= 0.97
    assert report["blank_boxes_called_blank"] >= 0.98
    assert report["written_boxes_called_blank"] <= 0.02


def test_results_round_trip_through_json(results):
    for result in results:
        assert PageResult.from_json(json.loads(json.dumps(result.to_json()))) == result


def test_mixed_pdf_with_a_huge_page_never_aborts(class_set, layout, reader, tmp_path):
    path, truth = class_set
    huge = tmp_path / "huge.pdf"
    pdf = canvas.Canvas(str(huge), pagesize=(5000 * MM, 5000 * MM))
    pdf.drawString(100, 100, "a 5 m x 5 m page")
    pdf.showPage()
    pdf.save()
    writer = PdfWriter()
    scans = PdfReader(path)
    writer.add_page(scans.pages[0])
    writer.add_page(PdfReader(huge).pages[0])
    writer.add_page(scans.pages[1])
    mixed = tmp_path / "mixed.pdf"
    writer.write(mixed)
    results = list(read_scan(inspect_pdf(mixed, SETTINGS), {layout.exam_id: layout}, reader,
                            SETTINGS))
    assert [r.source_page for r in results] == [1, 2, 3]
    assert results[1].status == PageStatus.ERROR and "max_page_pixels" in results[1].message
    for result, page in zip((results[0], results[2]), truth["pages"][:2], strict=True):
        expected = PageStatus.OK if page["kind"] == "sheet" else EXPECTED_FOREIGN_STATUS[
            page["kind"]]
        assert result.status == expected


def test_page_range_and_progress(class_set, layout, reader):
    path, _truth = class_set
    seen = []
    info = inspect_pdf(path, SETTINGS)
    results = list(read_scan(info, {layout.exam_id: layout}, reader, SETTINGS, first_page=2,
                            last_page=5, progress=lambda done, total: seen.append((done, total))))
    assert [r.source_page for r in results] == [2, 3, 4, 5]
    assert seen == [(3, 4), (4, 4)]  # chunks of 3 pages
    with pytest.raises(ValueError, match="outside"):
        next(read_scan(info, {}, reader, SETTINGS, first_page=1, last_page=99))


def test_read_pages_takes_page_images(class_set, layout, reader):
    """The per-chunk step on its own, as a Celery task calls it with any page images."""
    path, _truth = class_set
    pages = rasterize_pages(inspect_pdf(path, SETTINGS), 1, 3, SETTINGS)
    pages[1].image = None  # a page that failed to rasterize upstream
    pages[1].error = "lost in transit"
    results = read_pages(pages, {layout.exam_id: layout}, reader, SETTINGS)
    assert results[1].status == PageStatus.ERROR and results[1].message == "lost in transit"
    assert results[0].status != PageStatus.ERROR and results[2].status != PageStatus.ERROR


def test_read_command_prints_json_lines(class_set, layout, tmp_path, repo_root):
    path, _truth = class_set
    layout_path = tmp_path / "layout.json"
    layout_path.write_text(json.dumps(layout.model_dump(mode="json")))
    command = [sys.executable, "-c", "from api.cli import main; main()", "read", str(path),
               "--layout", str(layout_path), "--last-page", "2", "--no-probs"]
    env = os.environ | {"SCANGRADE_DPI": "150"}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env,
                          cwd=repo_root)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["source_page"] for line in lines] == [1, 2]
    assert lines[0]["dpi"] == 150
    assert all("probs" not in box for line in lines for box in line["boxes"])

    bad = tmp_path / "bad.pdf"
    bad.write_text("hello")
    done = subprocess.run([*command[:4], str(bad), *command[5:]], capture_output=True,
                          text=True, env=env, cwd=repo_root)
    assert done.returncode == 2 and "neither a PDF nor a photo" in done.stderr
