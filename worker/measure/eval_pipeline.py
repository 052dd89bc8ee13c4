"""`scangrade eval pipeline`: the whole scan path measured against synthetic ground truth.

A fresh synthetic class set (worker.synth.class_set: MNIST **test** digits, scanner simulation,
foreign pages mixed in) goes through `read_scan`; every page and box is compared with the truth.
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


def eval_options(layout: Layout, pages: int, seed: int, synth_dpi: int):
    """Synthesis options for a class of about `pages` pages, FOREIGN_SHARE of them foreign."""
    from worker.synth.class_set import SynthOptions

    foreign_each = max(1, round(pages * FOREIGN_SHARE / 3))
    students = max(1, math.ceil((pages - 3 * foreign_each) / layout.n_pages))
    return SynthOptions(students=students, seed=seed, dpi=synth_dpi, blank_pages=foreign_each,
                        text_pages=foreign_each, other_exam_pages=foreign_each)


def make_eval_set(
    out_dir: Path, pages: int, seed: int, settings: Settings, synth_dpi: int = 200,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Path, dict[str, Any], Layout]:
    """Write a synthetic scanned PDF of about `pages` pages and its truth JSON; returns
    (pdf, truth, layout). An earlier set of the same pages and seed in out_dir is reused."""
    import json

    from model.training.data import mnist_loader
    from worker.synth.class_set import synthesize

    layout = eval_layout()
    pdf = out_dir / f"eval-{pages}p-seed{seed}-{synth_dpi}dpi.pdf"
    truth_path = pdf.with_suffix(".truth.json")
    if pdf.is_file() and truth_path.is_file():
        return pdf, json.loads(truth_path.read_text()), layout
    result = synthesize(layout, mnist_loader(settings), eval_options(layout, pages, seed,
                                                                      synth_dpi),
                        progress=progress)
    pdf.write_bytes(result.pdf)
    truth_path.write_text(json.dumps(result.truth))
    return pdf, result.truth, layout


def score_pages(results: list[PageResult], truth: dict[str, Any], layout: Layout,
                confidence_threshold: float, quads: bool = True,
                foreign_status: dict[str, tuple[PageStatus, ...]] | None = None
                ) -> dict[str, Any]:
    """Compare page results with the synthetic ground truth (pure). `quads`: also measure
    where the boxes were found against the truth's page geometry (scans only: a photo's
    geometry is bent by its lens and paper curl)."""
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
            expected = (foreign_status or {}).get(
                page["kind"], (EXPECTED_FOREIGN_STATUS[page["kind"]],))
            foreign_statuses.setdefault(page["kind"], Counter())[str(status)] += 1
            foreign_right += status in expected
            taken = status in (PageStatus.OK, PageStatus.LOW_QUALITY)
            foreign_taken += taken
            if status not in expected:
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
        for cell in layout.cells(page["page"]) if quads else ():
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
    from worker.scan.pipeline import read_scan
    from worker.scan.sources import inspect_scan

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
        info = inspect_scan(pdf, settings)
        results = list(read_scan(info, {layout.exam_id: layout}, reader, settings))
        read_s = time.perf_counter() - started
    report = score_pages(results, truth, layout, settings.confidence_threshold)
    statuses = Counter(str(r.status) for r in results)
    return {
        "what": "scan pipeline on a fresh synthetic batch (MNIST test digits)",
        "seed": seed, "dpi": settings.dpi, "synth_dpi": truth["dpi"],
        "statuses": dict(statuses), **report,
        "seconds": {"synthesize": round(synth_s, 1), "read": round(read_s, 1)},
    }


# ----- photos ---------------------------------------------------------------------------

RSS_SAMPLES = 6  # memory is sampled this many times along the photos
# A blank sheet photographed on a desk among other papers shows their ink: either answer
# says it is no answer sheet.
PHOTO_FOREIGN_STATUS = {"blank": (PageStatus.BLANK_PAGE, PageStatus.NOT_A_SHEET)}


def make_photo_set(out_dir: Path, pages: int, seed: int, settings: Settings,
                   synth_dpi: int = 200, progress: Callable[[int, int], None] | None = None,
                   ) -> tuple[Path, dict[str, Any], list[Path], dict[str, Any], Layout]:
    """The same synthetic class scanned (a PDF) and photographed (one JPEG per page), with
    both truths; an earlier set of the same pages and seed in out_dir is reused."""
    import json

    from model.training.data import mnist_loader
    from worker.synth.class_set import synthesize_captures

    layout = eval_layout()
    stem = out_dir / f"photos-{pages}p-seed{seed}-{synth_dpi}dpi"
    pdf, truth_path, photo_truth_path = (stem.with_suffix(".pdf"), Path(f"{stem}.truth.json"),
                                         Path(f"{stem}.photos.json"))
    folder = Path(f"{stem}-photos")
    if pdf.is_file() and photo_truth_path.is_file():
        photo_truth = json.loads(photo_truth_path.read_text())
        photos = [folder / name for name in photo_truth["files"]]
        return pdf, json.loads(truth_path.read_text()), photos, photo_truth, layout
    result = synthesize_captures(layout, mnist_loader(settings),
                                 eval_options(layout, pages, seed, synth_dpi), progress=progress)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for page, photo in zip(result.photo_truth["pages"], result.photos, strict=True):
        names.append(f"{page['source_page']:04d}-{page['photo']['condition']}.jpg")
        (folder / names[-1]).write_bytes(photo)
    result.photo_truth["files"] = names
    pdf.write_bytes(result.pdf)
    truth_path.write_text(json.dumps(result.truth))
    photo_truth_path.write_text(json.dumps(result.photo_truth))
    return pdf, result.truth, [folder / name for name in names], result.photo_truth, layout


def score_photos(results: list[PageResult], truth: dict[str, Any], layout: Layout,
                 confidence_threshold: float) -> dict[str, Any]:
    """Usable photos scored as pages are; photos made unusable on purpose must each give a
    reason (not `ok`) and never be taken for a student; per condition, what came out."""
    by_page = {r.source_page: r for r in results}
    usable = [page for page in truth["pages"] if page.get("expected_status") in (None, "ok")]
    unusable = [page for page in truth["pages"] if page not in usable]
    report = score_pages(results, {**truth, "pages": usable}, layout, confidence_threshold,
                         quads=False, foreign_status=PHOTO_FOREIGN_STATUS)
    reasons = Counter()
    taken = wrong_reason = 0
    for page in unusable:
        result = by_page.get(page["source_page"])
        status = str(result.status) if result else "missing"
        reasons[f"{page['expected_status']} -> {status}"] += 1
        taken += status == PageStatus.OK
        wrong_reason += status != page["expected_status"]
    conditions: dict[str, Counter] = {}
    for page in truth["pages"]:
        if page["kind"] != "sheet":
            continue
        result = by_page.get(page["source_page"])
        conditions.setdefault(page["photo"]["condition"], Counter())[
            str(result.status) if result else "missing"] += 1
    return {**report, "unusable_photos": len(unusable),
            "unusable_given_a_reason": _share(len(unusable) - taken, len(unusable)),
            "unusable_with_the_expected_status": _share(len(unusable) - wrong_reason,
                                                        len(unusable)),
            "unusable_taken_for_a_student": taken, "unusable_outcomes": dict(reasons),
            "statuses_by_condition": {k: dict(v) for k, v in sorted(conditions.items())}}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def evaluate_photos(
    settings: Settings, pages: int = 300, seed: int = 20261202, keep_dir: Path | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """The same fresh synthetic class as scans and as phone photos, each read and scored;
    CPU per photo (decoding apart) and memory along the photos."""
    from model.inference.reader import DigitReader
    from worker.scan.images import decode_page
    from worker.scan.pipeline import read_scan
    from worker.scan.sources import inspect_scan

    with tempfile.TemporaryDirectory(prefix="scangrade-eval-") as tmp:
        out_dir = keep_dir or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        pdf, truth, photos, photo_truth, layout = make_photo_set(
            out_dir, pages, seed, settings,
            progress=lambda done, total: log(f"synth {done}/{total}") if done % 50 == 0 else None)
        synth_s = time.perf_counter() - started
        reader = DigitReader.load(settings)
        reader.warm_up()
        layouts = {layout.exam_id: layout}
        scans = list(read_scan(inspect_scan(pdf, settings), layouts, reader, settings))
        results: list[PageResult] = []
        rss: list[float] = []
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        for number, path in enumerate(photos, start=1):
            for result in read_scan(inspect_scan(path, settings), layouts, reader, settings):
                result.source_page = number
                results.append(result)
            if number % max(1, len(photos) // RSS_SAMPLES) == 0:
                rss.append(round(_rss_mb()))
        read_cpu_s = time.process_time() - cpu_started
        read_wall_s = time.perf_counter() - wall_started
        decode_started = time.process_time()
        for path in photos:
            decode_page(inspect_scan(path, settings), 1, settings.photo_max_side_px)
        decode_cpu_s = time.process_time() - decode_started
    scan_report = score_pages(scans, truth, layout, settings.confidence_threshold)
    photo_report = score_photos(results, photo_truth, layout, settings.confidence_threshold)
    frame = photo_truth["pages"][0]["photo"]["frame_px"]
    return {
        "what": "the same synthetic class (MNIST test digits) scanned and photographed",
        "seed": seed, "photos": len(photos), "frame_px": frame,
        "photo_statuses": dict(Counter(str(r.status) for r in results)),
        "photos_report": photo_report,
        "scans_digit_accuracy_written_boxes": scan_report["digit_accuracy_written_boxes"],
        "scans_sheet_pages_aligned_and_identified":
            scan_report["sheet_pages_aligned_and_identified"],
        "digit_accuracy_photos_minus_scans_points": round(100 * (
            (photo_report["digit_accuracy_written_boxes"] or 0)
            - (scan_report["digit_accuracy_written_boxes"] or 0)), 2),
        "cpu_ms_per_photo": {
            "read_all": round(1000 * read_cpu_s / len(photos), 1),
            "decode": round(1000 * decode_cpu_s / len(photos), 1),
            "beyond_decoding": round(1000 * (read_cpu_s - decode_cpu_s) / len(photos), 1)},
        "rss_mb_along_the_photos": rss,
        "seconds": {"synthesize": round(synth_s, 1), "read_photos": round(read_wall_s, 1)},
    }
