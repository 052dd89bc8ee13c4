"""What goes back to students and into the gradebook: one graded PDF per student (pages
marked, score in the text) and graded.zip; Moodle's and Canvas's import formats."""

import json
import zipfile

from pypdf import PdfReader

from scangrade.settings import get_settings
from tests.helpers.grading import pages_from_truth, read_csv
from worker.grading import Exam, grade_and_report
from worker.grading.report_files import CANVAS_CSV, GRADED_DIR, GRADED_ZIP, MOODLE_CSV
from worker.scan.pdf import inspect_pdf


def test_one_graded_pdf_per_student_with_the_score_in_its_text(repo_root, tmp_path):
    samples = repo_root / "samples"
    exam = Exam.load(samples / "layout.yaml", samples / "key.csv", samples / "roster.csv")
    truth = json.loads((samples / "truth.json").read_text())
    pages = pages_from_truth(truth, exam.layout)
    scans = [inspect_pdf(samples / "scans.pdf", get_settings())]
    summary = grade_and_report(pages, exam, tmp_path, settings=get_settings(), scans=scans)
    students = [r for r in read_csv(tmp_path / "students.csv") if r["status"] == "graded"]
    pdfs = sorted((tmp_path / GRADED_DIR).glob("*.pdf"))
    assert len(pdfs) == summary.students == len(students)
    for row in students:
        path = next(p for p in pdfs if p.name.startswith(row["student_id"] + "-"))
        document = PdfReader(path)
        assert len(document.pages) == exam.n_pages
        text = document.pages[0].extract_text()
        assert f"Score {row['score']}/{row['max_score']}" in text and row["name"] in text
    with zipfile.ZipFile(tmp_path / GRADED_ZIP) as bundle:
        assert sorted(bundle.namelist()) == sorted(f"{GRADED_DIR}/{p.name}" for p in pdfs)
    assert "graded.zip" in summary.files


def test_graded_file_names_are_plain(graded):
    out, _ = graded
    names = sorted(p.name for p in (out / GRADED_DIR).glob("*.pdf"))
    # accents dropped, a formula made harmless, a sheet naming no sure student by its copy
    assert names == ["1234-Ann-Muller.pdf", "5678-HYPERLINK-http-x.pdf", "copy-3.pdf"]
    assert all(n.isascii() and "?" not in n for n in names)


def test_moodle_and_canvas_gradebooks(graded):
    out, _ = graded
    with (out / MOODLE_CSV).open(encoding="utf-8-sig") as f:
        moodle_header = f.readline().strip()
    assert moodle_header == "First name,Last name,ID number,Email address,Quiz"
    moodle = read_csv(out / MOODLE_CSV)
    ann = next(r for r in moodle if r["ID number"] == "1234")
    assert (ann["First name"], ann["Last name"], ann["Email address"], ann["Quiz"]) == (
        "Ann", "Müller", "ann@school.example", "5")
    assert len(moodle) == 2  # the sheet without an ID cannot be matched to a Moodle user
    canvas = read_csv(out / CANVAS_CSV)
    assert list(canvas[0]) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Quiz"]
    assert canvas[0]["Student"] == "Points Possible" and canvas[0]["Quiz"] == "5"
    assert {r["SIS User ID"]: r["Quiz"] for r in canvas[1:]} == {"1234": "5", "5678": "3"}
