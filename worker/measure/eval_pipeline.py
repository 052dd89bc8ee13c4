"""`scangrade eval pipeline`: the whole scan path measured against synthetic ground truth.

A fresh synthetic class set (worker.synth.class_set: MNIST **test** digits, scanner simulation,
foreign pages mixed in) goes through `read_pdf`; every page and box is compared with the truth.
Alignment failures (a sheet page not `ok`, or identified wrongly) are reported apart from
reading errors (a box on a correctly aligned page read wrongly).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from scangrade.settings import Settings
from worker.scan.results import PageResult, PageStatus
from worker.sheets.layout import Layout
from worker.sheets.units import MM_PER_INCH

# What each kind of foreign page must be reported as.
EXPECTED_FOREIGN_STATUS = {
    "blank": PageStatus.BLANK_PAGE,
    "text": PageStatus.NOT_A_SHEET,
    "other-exam": PageStatus.UNKNOWN_EXAM,
}
# The evaluation exam: a 5-digit student ID and 12 two-digit questions on one A4 page (29
# boxes, ~22 written). Sized so that 300 pages need ~6,500 digits: the synthesizer uses each
# MNIST test digit once, and the test split holds only 892 fives.
EVAL_LAYOUT = {
    "exam_id": "eval-quiz", "name": "Pipeline evaluation", "paper": "a4", "id_digits": 5,
    "questions": [{"id": f"q{n}", "boxes": 2} for n in range(1, 13)],
}
FOREIGN_SHARE = 0.04  # of the pages, split evenly among blank, text and other-exam pages


def eval_layout() -> Layout:
    return Layout.from_data(EVAL_LAYOUT, source="eval layout")


def make_eval_set(
    out_dir: Path, pages: int, seed: int, settings: Settings, synth_dpi: int = 200,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Path, dict[str, Any], Layout]:
    """Write a synthetic scanned PDF of about `pages` pages and its truth JSON; returns
    (pdf, truth, layout). An earlier set of the same pages and seed in out_dir is reused."""
    import json

    from model.training.data import mnist_loader
    from worker.synth.class_set import SynthOptions, synthesize

    layout = eval_layout()
    pdf = out_dir / f"eval-{pages}p-seed{seed}-{synth_dpi}dpi.pdf"
    truth_path = pdf.with_suffix(".truth.json")
    if pdf.is_file() and truth_path.is_file():
        return pdf, json.loads(truth_path.read_text()), layout
    foreign_each = max(1, round(pages * FOREIGN_SHARE / 3))
    students = max(1, math.ceil((pages - 3 * foreign_each) / layout.n_pages))
    options = SynthOptions(students=students, seed=seed, dpi=synth_dpi,
                           blank_pages=foreign_each, text_pages=foreign_each,
                           other_exam_pages=foreign_each)
    result = synthesize(layout, mnist_loader(settings), options, progress=progress)
    pdf.write_bytes(result.pdf)
    truth_path.write_text(json.dumps(result.truth))
    return pdf, result.truth, layout


def score_pages(results: list[PageResult], truth: dict[str, Any], layout: Layout,
                confidence_threshold: float) -> dict[str, Any]:
    """Compare page results with the synthetic ground truth (pure)."""
    by_page = {r.source_page: r for r in results}
    sheet_pages = foreign_pages = aligned = identified = 0
    foreign_right = foreign_taken = 0
    alignment_failures: list[dict[str, Any]] = []
    foreign_wrong: list[dict[str, Any]] = []
    written = written_right = written_blank = blank = blank_right = 0
    confident = confident_right = 0
    quad_errors: list[float] = []
    foreign_statuses: dict[str, Counter] = {}
    for page in truth["pages"]:
        result = by_page.get(page["source_page"])
        status = result.status if result else None
        if page["kind"] != "sheet":
            foreign_pages += 1
            expected = EXPECTED_FOREIGN_STATUS[page["kind"]]
            foreign_statuses.setdefault(page["kind"], Counter())[str(status)] += 1
            foreign_right += status == expected
            taken = status in (PageStatus.OK, PageStatus.LOW_QUALITY)
            foreign_taken += taken
            if status != expected:
                foreign_wrong.append({"source_page": page["source_page"], "kind": page["kind"],
                                      "status": str(status),
                                      "message": result.message if result else "missing"})
            continue
        sheet_pages += 1
        same = result is not None and (result.exam_id, result.layout_version, result.copy,
                                       result.page) == (page["exam_id"], page["layout_version"],
                                                        page["copy"], page["page"])
        identified += same
        if status != PageStatus.OK or not same:
            alignment_failures.append({"source_page": page["source_page"], "status": str(status),
                                       "message": result.message if result else "missing",
                                       "identified": same})
            continue
        aligned += 1
        reads = {(b.field, b.index): b for b in result.boxes}
        scale = result.dpi / truth["dpi"]
        mm_to_truth_px = np.asarray(page["mm_to_px"], np.float64)
        for cell in layout.cells(page["page"]):
            quad_errors.append(_quad_error_mm(cell, reads[cell.field, cell.index].quad,
                                              mm_to_truth_px, scale, truth["dpi"]))
        for box in page["boxes"]:
            read = reads[box["field"], box["index"]]
            if box["digit"] is None:
                blank += 1
                blank_right += read.blank
            else:
                written += 1
                written_right += read.digit == box["digit"]
                written_blank += read.blank
            if read.confidence >= confidence_threshold:
                confident += 1
                confident_right += read.digit == box["digit"]
    boxes = written + blank
    return {
        "pages": len(truth["pages"]),
        "sheet_pages": sheet_pages,
        "sheet_pages_aligned_and_identified": _share(aligned, sheet_pages),
        "sheet_pages_identified": _share(identified, sheet_pages),
        "alignment_failures": alignment_failures,
        "foreign_pages": foreign_pages,
        "foreign_pages_right_reason": _share(foreign_right, foreign_pages),
        "foreign_pages_taken_for_a_student": foreign_taken,
        "foreign_statuses": {kind: dict(c) for kind, c in foreign_statuses.items()},
        "foreign_wrong": foreign_wrong,
        "boxes_read": boxes,
        "box_accuracy": _share(written_right + blank_right, boxes),
        "digit_accuracy_written_boxes": _share(written_right, written),
        "blank_boxes_called_blank": _share(blank_right, blank),
        "written_boxes_called_blank": _share(written_blank, written),
        "written_boxes": written,
        "blank_boxes": blank,
        "confidence_threshold": confidence_threshold,
        "share_at_or_above_threshold": _share(confident, boxes),
        "accuracy_at_or_above_threshold": _share(confident_right, confident),
        "box_quad_error_mm": {
            "mean": round(float(np.mean(quad_errors)), 3) if quad_errors else None,
            "p99": round(float(np.percentile(quad_errors, 99)), 3) if quad_errors else None,
            "max": round(float(np.max(quad_errors)), 3) if quad_errors else None,
        },
    }


def _quad_error_mm(cell, quad_px, mm_to_truth_px: np.ndarray, scale: float, truth_dpi: float
                   ) -> float:
    """Largest distance between a found box corner and the truth, in mm."""
    import cv2

    corners = np.array([[cell.x_mm, cell.y_mm], [cell.x_mm + cell.w_mm, cell.y_mm],
                        [cell.x_mm + cell.w_mm, cell.y_mm + cell.h_mm],
                        [cell.x_mm, cell.y_mm + cell.h_mm]], np.float64)
    true_px = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), mm_to_truth_px).reshape(4, 2)
    # pixel centres: a scan at `scale` x the truth's DPI has (p + 0.5) = scale * (q + 0.5)
    found = (np.asarray(quad_px, np.float64) + 0.5) / scale - 0.5
    return float(np.linalg.norm(found - true_px, axis=1).max() * MM_PER_INCH / truth_dpi)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 5) if whole else None


def evaluate_pipeline(
    settings: Settings, pages: int = 300, seed: int = 20261130, keep_dir: Path | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Synthesize a fresh batch of about `pages` pages, read it, and score it (JSON-able)."""
    from model.inference.reader import DigitReader
    from worker.scan.pdf import inspect_pdf
    from worker.scan.pipeline import read_pdf

    with tempfile.TemporaryDirectory(prefix="scangrade-eval-") as tmp:
        out_dir = keep_dir or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        pdf, truth, layout = make_eval_set(
            out_dir, pages, seed, settings,
            progress=lambda done, total: log(f"synth {done}/{total}") if done % 50 == 0 else None)
        synth_s = time.perf_counter() - started
        reader = DigitReader.load(settings)
        reader.warm_up()
        started = time.perf_counter()
        info = inspect_pdf(pdf, settings)
        results = list(read_pdf(info, {layout.exam_id: layout}, reader, settings))
        read_s = time.perf_counter() - started
    report = score_pages(results, truth, layout, settings.confidence_threshold)
    statuses = Counter(str(r.status) for r in results)
    return {
        "what": "scan pipeline on a fresh synthetic batch (MNIST test digits)",
        "seed": seed, "dpi": settings.dpi, "synth_dpi": truth["dpi"],
        "statuses": dict(statuses), **report,
        "seconds": {"synthesize": round(synth_s, 1), "read": round(read_s, 1)},
    }
