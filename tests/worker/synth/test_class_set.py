"""Synthetic scans: deterministic, faithful to the layout, MNIST test digits only, and a
ground truth whose geometry matches what a detector finds in the scanned PDF."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
import zxingcpp
from pdf2image import convert_from_bytes
from pypdf import PdfReader
from typer.testing import CliRunner

from api.cli import build_app
from model.training.data import mnist_loader
from scangrade.settings import get_settings
from tests.helpers.paths import SAMPLES
from worker.sheets.layout import STUDENT_ID, Layout
from worker.sheets.qr import encode_payload
from worker.sheets.units import MM_PER_INCH
from worker.synth.class_set import SynthOptions, box_digits, synthesize, truth_summary

MNIST = mnist_loader(get_settings())
DPI = 150  # lower than the pipeline's default to keep the tests quick; still a real scan
KEY = {"a1": "7", "a2": "42", "a3": "305", "a4": "9"}
ROSTER = [f"{n:04d}" for n in (1234, 2345, 3456, 4567, 5678)]


@pytest.fixture(scope="module")
def layout() -> Layout:
    return Layout.model_validate({
        "exam_id": "synth-test", "name": "Synth test", "version": "4", "id_digits": 4,
        "questions": [{"id": "a1", "boxes": 1}, {"id": "a2", "boxes": 2},
                      {"id": "a3", "boxes": 3}, {"id": "a4", "boxes": 2}],
    })


@pytest.fixture(scope="module")
def mnist_calls() -> list[str]:
    return []


@pytest.fixture(scope="module")
def class_set(layout, mnist_calls):
    """A class of 4 students plus one foreign page of each kind, scanned at DPI."""
    def recording_loader(split: str):
        mnist_calls.append(split)
        return MNIST(split)

    options = SynthOptions(students=4, seed=11, dpi=DPI)
    result = synthesize(layout, recording_loader, options, key=KEY, roster_ids=ROSTER)
    pages = [np.asarray(p) for p in convert_from_bytes(result.pdf, dpi=DPI, grayscale=True)]
    return result, pages


def test_same_seed_same_scans_other_seed_other_scans(layout, class_set):
    result, _ = class_set
    options = SynthOptions(students=4, seed=11, dpi=DPI)
    again = synthesize(layout, MNIST, options, key=KEY, roster_ids=ROSTER)
    assert again.pdf == result.pdf
    assert json.dumps(again.truth) == json.dumps(result.truth)
    other = synthesize(layout, MNIST, SynthOptions(students=4, seed=12, dpi=DPI), key=KEY,
                       roster_ids=ROSTER)
    assert other.pdf != result.pdf


def test_truth_is_consistent_with_the_layout(layout, class_set):
    result, pages = class_set
    truth = result.truth
    assert truth["n_pages"] == len(truth["pages"]) == len(pages) == 4 + 3
    assert truth_summary(truth)["kinds"] == {"sheet": 4, "blank": 1, "text": 1, "other-exam": 1}
    students = {s["copy"]: s for s in truth["students"]}
    assert sorted(students) == [1, 2, 3, 4]
    assert len({s["student_id"] for s in students.values()}) == 4
    assert {s["student_id"] for s in students.values()} <= set(ROSTER)
    for page in truth["pages"]:
        assert [page["source_page"] for page in truth["pages"]] == list(range(1, 8))
        if page["kind"] != "sheet":
            continue
        assert (page["exam_id"], page["layout_version"]) == ("synth-test", "4")
        student = students[page["copy"]]
        assert student["source_pages"] == [page["source_page"]]
        expected = box_digits(layout, student["student_id"], student["answers"])
        got = {(b["field"], b["index"]): b["digit"] for b in page["boxes"]}
        assert got == expected
        assert [(b["field"], b["index"]) for b in page["boxes"]] == [
            (c.field, c.index) for c in layout.cells(page["page"])]
        sid = "".join(str(b["digit"]) for b in page["boxes"] if b["field"] == STUDENT_ID)
        assert sid == student["student_id"]
        for question in layout.questions:
            answer = student["answers"][question.id]
            digits = [got[question.id, i] for i in range(question.boxes)]
            if answer is None:
                assert digits == [None] * question.boxes
            else:  # written from the leftmost box, trailing boxes blank
                assert digits == [int(d) for d in answer] + [None] * (question.boxes -
                                                                       len(answer))


def test_digits_come_from_the_mnist_test_split(class_set, mnist_calls):
    result, _ = class_set
    assert mnist_calls == ["test"]
    assert result.truth["mnist_split"] == "test"
    _, labels = MNIST("test")
    used = [(b["mnist_index"], b["digit"]) for p in result.truth["pages"] for b in p["boxes"]
            if b["digit"] is not None]
    assert used
    assert all(labels[index] == digit for index, digit in used)
    assert len({index for index, _ in used}) == len(used)  # no digit image used twice
    blanks = [b for p in result.truth["pages"] for b in p["boxes"] if b["digit"] is None]
    assert blanks and all(b["mnist_index"] is None for b in blanks)


def detect_markers(gray: np.ndarray) -> dict[int, np.ndarray]:
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX  # blurred scans: sub-pixel
    corners, ids, _ = cv2.aruco.ArucoDetector(dictionary, params).detectMarkers(gray)
    return {} if ids is None else {int(i): c[0] for i, c in zip(ids.ravel(), corners,
                                                                 strict=True)}


def test_scans_match_the_truth_geometry(layout, class_set):
    """QR payload, marker positions (through mm_to_px) and rotation, as a detector sees them."""
    result, pages = class_set
    for page, gray in zip(result.truth["pages"], pages, strict=True):
        # poppler rounds the page size (points) back to pixels: within a pixel of the JPEG.
        assert np.abs(np.subtract(gray.shape, (page["height_px"], page["width_px"]))).max() <= 1
        qr = [r.text for r in zxingcpp.read_barcodes(gray)]
        markers = detect_markers(gray)
        if page["kind"] in ("blank", "text"):
            assert qr == [] and markers == {}
            continue
        assert qr == [encode_payload(page["exam_id"], page["layout_version"], page["copy"],
                                     page["page"])]
        assert sorted(markers) == [0, 1, 2, 3]
        mm_to_px = np.array(page["mm_to_px"])
        for marker_id, expected_mm in layout.marker_corners_mm(1).items():
            expected = cv2.perspectiveTransform(expected_mm[None], mm_to_px)[0]
            found = markers[marker_id]
            # ArUco orders corners as the marker is printed, so the order survives rotation.
            error_px = np.linalg.norm(found - expected, axis=1).max()
            assert error_px * MM_PER_INCH / DPI < 0.5, (page["source_page"], marker_id, error_px)
        upright = np.rot90(gray, k=page["rotation"] // 90)
        centres = {i: c.mean(axis=0) for i, c in
                   detect_markers(np.ascontiguousarray(upright)).items()}
        # Upright again: marker 0 left of 1 and above 3 (skew stays within +-10 degrees).
        assert centres[1][0] - centres[0][0] > 100 and centres[3][1] - centres[0][1] > 100
        assert abs(centres[1][1] - centres[0][1]) < 0.2 * (centres[1][0] - centres[0][0])


def box_contrast(gray: np.ndarray, cell, mm_to_px: np.ndarray) -> float:
    """Paper level minus darkest ink inside a box (1 mm in from its border), upright."""
    scale = 8.0  # px per mm of the upright crop
    inset = 1.0
    to_crop = np.array([[scale, 0, -scale * (cell.x_mm + inset)],
                        [0, scale, -scale * (cell.y_mm + inset)], [0, 0, 1]])
    size = (round((cell.w_mm - 2 * inset) * scale), round((cell.h_mm - 2 * inset) * scale))
    crop = cv2.warpPerspective(gray, to_crop @ np.linalg.inv(mm_to_px), size)
    return float(np.percentile(crop, 90) - np.percentile(crop, 1))


def test_ink_lands_in_the_boxes_the_truth_names(layout, class_set):
    result, pages = class_set
    written, blank = [], []
    for page, gray in zip(result.truth["pages"], pages, strict=True):
        if page["kind"] != "sheet":
            continue
        cells = {(c.field, c.index): c for c in layout.cells(page["page"])}
        for box in page["boxes"]:
            contrast = box_contrast(gray, cells[box["field"], box["index"]],
                                    np.array(page["mm_to_px"]))
            (blank if box["digit"] is None else written).append(contrast)
    assert written and blank
    assert min(written) > 40, sorted(written)[:5]
    assert max(blank) < 25, sorted(blank)[-5:]


def test_synth_command_writes_pdf_and_truth(tmp_path, layout):
    layout_path = tmp_path / "layout.yaml"
    layout_path.write_text(layout.to_yaml())
    roster = tmp_path / "roster.csv"
    with roster.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "name"])
        writer.writerows([sid, f"Student {sid}"] for sid in ROSTER)
    out, truth = tmp_path / "scans.pdf", tmp_path / "truth.json"
    args = ["synth", str(layout_path), "--students", "2", "--roster", str(roster),
            "--dpi", "100", "--blank-pages", "0", "--text-pages", "0", "--other-exam-pages",
            "1", "--clean", "--out", str(out), "--truth", str(truth)]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["pages"] == 3 and summary["kinds"] == {"sheet": 2, "other-exam": 1}
    data = json.loads(truth.read_text())
    assert len(PdfReader(out).pages) == data["n_pages"] == 3
    assert all(page["rotation"] == 0 for page in data["pages"])  # --clean
    assert {s["student_id"] for s in data["students"]} <= set(ROSTER)
    again = CliRunner().invoke(build_app(), args)
    assert again.exit_code == 2 and "--force" in again.stderr
    too_many = CliRunner().invoke(build_app(), [*args[:3], "9", *args[4:], "--force"])
    assert too_many.exit_code == 2 and "roster has 5 students, 9 requested" in too_many.stderr
    roster.write_text("id,name\n1234,A\n")
    no_column = CliRunner().invoke(build_app(), [*args, "--force"])
    assert no_column.exit_code == 2 and "missing student_id" in no_column.stderr


def test_samples_are_consistent():
    """samples/ is regenerated by samples/make_samples.sh; its parts must agree."""
    layout = Layout.load(SAMPLES / "layout.yaml")
    truth = json.loads((SAMPLES / "truth.json").read_text())
    assert len(PdfReader(SAMPLES / "scans.pdf").pages) == truth["n_pages"]
    assert truth["exam_id"] == layout.exam_id and truth["mnist_split"] == "test"
    with (SAMPLES / "roster.csv").open(newline="") as handle:
        roster = {row["student_id"] for row in csv.DictReader(handle)}
    with (SAMPLES / "key.csv").open(newline="") as handle:
        key = {row["question"]: row["answer"].split("|") for row in csv.DictReader(handle)}
    assert set(key) == {q.id for q in layout.questions}
    students = truth["students"]
    assert len(students) == 12 and {s["student_id"] for s in students} < roster
    kinds = {p["kind"] for p in truth["pages"]}
    assert kinds == {"sheet", "blank", "text", "other-exam"}
    scores = [sum(s["answers"][q] in key[q] for q in key) for s in students]
    assert len(set(scores)) > 3  # skills differ, so scores vary
    for page in truth["pages"]:
        if page["kind"] == "sheet":
            assert len(page["boxes"]) == len(layout.cells(page["page"]))
    assert len(PdfReader(SAMPLES / "sheets.pdf").pages) == 14
    assert (SAMPLES / "scans.pdf").stat().st_size < 5_000_000


def test_digit_pool_is_reused_not_exhausted_on_large_sets():
    """Eval sets need more 5s than MNIST test has: the pool reshuffles, still test split only."""
    from worker.synth.class_set import DigitSource

    images, labels = MNIST("test")
    subset = (images[:60], labels[:60])  # a small real slice of the test split
    source = DigitSource(np.random.default_rng(0), lambda split: subset)
    fives = int((subset[1] == 5).sum())
    taken = [source.take(5)[0] for _ in range(fives + 3)]
    assert all(labels[i] == 5 and i < 60 for i in taken)
    assert len(set(taken[:fives])) == fives  # every image once before any repeats
    assert source.reused == 3
