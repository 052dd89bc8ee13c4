"""The samples end to end with the shipped reader: samples/scans.pdf through the real scan
pipeline and `grade_and_report`, against samples/truth.json, plus snapshots of the CSVs.

Snapshots depend on the model's reads; after retraining regenerate them with
    SCANGRADE_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/worker/grading/test_samples.py
"""

import csv
import difflib
import io
import json
import os
import re
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from typer.testing import CliRunner

from api.cli import build_app
from scangrade.settings import get_settings
from tests.helpers.grading import true_scores
from tests.helpers.paths import SNAPSHOTS
from worker.grading import Exam, grade_and_report
from worker.scan import pdf as pdf_module
from worker.scan.scans import read_all_scans

SNAPSHOT_FILES = ("students.csv", "responses.csv", "questions.csv", "pages.csv", "review.csv",
                  "grades-moodle.csv", "grades-canvas.csv")
UPDATE = os.environ.get("SCANGRADE_UPDATE_SNAPSHOTS") == "1"
# Floating-point columns compared with a tolerance: the last digit of a probability may differ
# between CPUs/accelerators without any change in what was read.
FLOAT_COLUMNS = {"confidences": 0.01, "id_probability": 0.01, "outcome_probability": 0.01,
                 "probability": 0.01}
# Text columns that quote a probability as a rounded percentage ("unsure read (box 1 7 at
# 99.3%)"): a value near a rounding edge may print one tenth apart on another CPU.
PERCENT_COLUMNS = {"review_reasons": 0.2, "reason": 0.2}
PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")
TOLERANCES = FLOAT_COLUMNS | PERCENT_COLUMNS


@pytest.fixture(scope="module")
def samples(repo_root) -> Path:
    return repo_root / "samples"


@pytest.fixture(scope="module")
def graded(samples, reader, tmp_path_factory):
    exam = Exam.load(samples / "layout.yaml", samples / "key.csv", samples / "roster.csv")
    settings = get_settings()
    read = read_all_scans([samples / "scans.pdf"], {exam.exam_id: exam.layout}, reader, settings)
    out = tmp_path_factory.mktemp("samples-out")
    summary = grade_and_report(
        read.pages, exam, out, settings=settings, scans=read.files, problems=read.problems
    )
    truth = json.loads((samples / "truth.json").read_text())
    return out, summary, exam, truth


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def test_every_student_found_and_unflagged_scores_exact(graded):
    out, summary, exam, truth = graded
    students = [r for r in rows(out / "students.csv") if r["status"] == "graded"]
    absent = {r["student_id"] for r in rows(out / "students.csv") if r["status"] == "absent"}
    assert absent == set(summary.absent)
    expected = {s["copy"]: s for s in truth["students"]}
    assert sorted(int(r["copy"]) for r in students) == sorted(expected)
    scores = true_scores(truth, exam)
    unflagged = [r for r in students if r["needs_review"] == "no"]
    wrong = [
        (r["copy"], r["student_id"], r["score"])
        for r in unflagged
        if r["student_id"] != expected[int(r["copy"])]["student_id"]
        or float(r["score"]) != scores[r["student_id"]]
    ]
    assert wrong == [], "students not flagged for review must have their true ID and score"
    # How many need review depends on the model and its threshold (reported by `scangrade eval
    # grading`); with none accepted, the exactness check above would say nothing.
    assert unflagged, "no student was accepted without review"
    present = {s["student_id"] for s in truth["students"]}
    roster = {r["student_id"] for r in rows(Path(exam.roster.source))}
    assert set(summary.absent) >= roster - present
    # A present student is only listed absent when their sheet's ID matched nobody: flagged.
    flagged_ids = {
        expected[int(r["copy"])]["student_id"] for r in students if r["needs_review"] == "yes"
    }
    assert set(summary.absent) - (roster - present) <= flagged_ids


def test_pages_of_no_student_are_reported(graded):
    out, summary, _, truth = graded
    others = {p["source_page"] for p in truth["pages"] if p["kind"] != "sheet"}
    pages = {int(r["pdf_page"]): r for r in rows(out / "pages.csv")}
    assert {n for n, r in pages.items() if not r["student_id"]} == others
    assert summary.pages_unassigned == len(others)
    other_exam = next(p["source_page"] for p in truth["pages"] if p["kind"] == "other-exam")
    assert "another exam" in pages[other_exam]["note"]
    assert len(PdfReader(out / "review.pdf").pages) == 1 + len(truth["pages"])  # + the legend


def _masked(path: Path) -> tuple[str, list[tuple[str, str, str]]]:
    """The CSV text with float columns and quoted percentages blanked, and those values to
    compare."""
    table = rows(path)
    if not table:
        return path.read_text(encoding="utf-8-sig"), []
    floats = []
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(table[0]), lineterminator="\n")
    writer.writeheader()
    for number, row in enumerate(table):
        for column in FLOAT_COLUMNS.keys() & row.keys():
            floats.append((f"row {number + 2} {column}", column, row[column]))
            row[column] = "~"
        for column in PERCENT_COLUMNS.keys() & row.keys():
            values = PERCENT.findall(row[column])
            floats.append((f"row {number + 2} {column}", column, " ".join(values)))
            row[column] = PERCENT.sub("~%", row[column])
        writer.writerow(row)
    return buffer.getvalue(), floats


@pytest.mark.parametrize("name", SNAPSHOT_FILES)
def test_csv_snapshots(graded, name):
    out = graded[0]
    snapshot = SNAPSHOTS / f"samples_{name}"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        snapshot.write_bytes((out / name).read_bytes())
    assert snapshot.exists(), f"no snapshot {snapshot}; create it with SCANGRADE_UPDATE_SNAPSHOTS=1"
    got_text, got_floats = _masked(out / name)
    want_text, want_floats = _masked(snapshot)
    diff = "".join(
        difflib.unified_diff(
            want_text.splitlines(True), got_text.splitlines(True), f"snapshot {name}", f"now {name}"
        )
    )
    assert not diff, (
        f"{name} differs from its snapshot (regenerate with"
        f" SCANGRADE_UPDATE_SNAPSHOTS=1 if intended):\n{diff}"
    )
    for (where, column, got), (_, _, want) in zip(got_floats, want_floats, strict=True):
        got_values = [float(v) for v in got.split()]
        want_values = [float(v) for v in want.split()]
        assert len(got_values) == len(want_values), f"{name} {where}"
        assert all(
            abs(g - w) <= TOLERANCES[column]
            for g, w in zip(got_values, want_values, strict=True)
        ), f"{name} {where}: {got} vs snapshot {want}"


def test_cli_on_a_pdf_of_another_exam(samples, tmp_path, reader):
    truth = json.loads((samples / "truth.json").read_text())
    foreign = [p["source_page"] for p in truth["pages"] if p["kind"] != "sheet"]
    writer = PdfWriter()
    source = PdfReader(samples / "scans.pdf")
    for number in foreign:
        writer.add_page(source.pages[number - 1])
    pdf = tmp_path / "other.pdf"
    with open(pdf, "wb") as f:
        writer.write(f)
    result = CliRunner().invoke(
        build_app(),
        [
            "grade",
            str(pdf),
            "--layout",
            str(samples / "layout.yaml"),
            "--key",
            str(samples / "key.csv"),
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "no student's sheet of this exam was found" in result.output
    assert result.stdout.startswith("0 students graded, no scores, 0 need review")
    notes = [r["note"] for r in rows(tmp_path / "out" / "pages.csv")]
    assert len(notes) == len(foreign) and any("another exam" in n for n in notes)


def test_cli_with_the_scans_split_in_two_pdfs_writes_the_same_reports(
    graded, samples, tmp_path, monkeypatch
):
    """Pages are numbered across the scans in order, so two halves grade like the whole; each
    PDF is inspected once for the whole run (page count, reading and review.pdf)."""
    source = PdfReader(samples / "scans.pdf")
    halves = []
    middle = len(source.pages) // 2
    for name, numbers in (("a.pdf", range(middle)), ("b.pdf", range(middle, len(source.pages)))):
        writer = PdfWriter()
        for number in numbers:
            writer.add_page(source.pages[number])
        with open(tmp_path / name, "wb") as f:
            writer.write(f)
        halves.append(str(tmp_path / name))
    opened = []
    real_page_tree = pdf_module._page_tree

    def counting_page_tree(path):
        opened.append(str(path))
        return real_page_tree(path)

    monkeypatch.setattr(pdf_module, "_page_tree", counting_page_tree)
    result = CliRunner().invoke(
        build_app(),
        [
            "grade",
            *halves,
            "--layout",
            str(samples / "layout.yaml"),
            "--key",
            str(samples / "key.csv"),
            "--roster",
            str(samples / "roster.csv"),
            "--out",
            str(tmp_path / "out"),
            "--json",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert sorted(opened) == sorted(halves)
    monkeypatch.undo()
    assert summary["students"] == graded[1].students and summary["pages"] == len(source.pages)
    for name in SNAPSHOT_FILES:
        assert (tmp_path / "out" / name).read_bytes() == (graded[0] / name).read_bytes(), name
    assert len(PdfReader(tmp_path / "out" / "review.pdf").pages) == 1 + len(source.pages)
