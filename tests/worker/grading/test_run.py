"""Reports in the output folder: CSV encoding and formula neutralisation, review.pdf drawn on
the real sample scan, regrade with a teacher's overrides, and the CLI's bad-input paths."""

import csv
import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter
from typer.testing import CliRunner

from api.cli import build_app
from scangrade.settings import get_settings
from tests.helpers.grading import page_result, pages_from_truth, small_layout, true_scores
from worker.grading import Exam, OverridesError, grade_and_report, regrade
from worker.grading.inputs import load_saved
from worker.grading.key import parse_key
from worker.grading.reports import cell
from worker.grading.roster import parse_roster
from worker.scan.pdf import PdfInfo, inspect_pdf

KEY = "question,answer\nq1,12\nq2,7|07\nq3,0\nq4,45\n"


def read_csv(path):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 BOM"
    assert b"\r\n" in raw
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


@pytest.fixture
def graded(tmp_path):
    """A small class: Ann right, Bob unsure on q4, a name that is a formula, a missing ID."""
    layout = small_layout()
    layout_path = tmp_path / "in" / "layout.yaml"
    layout_path.parent.mkdir()
    layout_path.write_text(layout.to_yaml(), encoding="utf-8")
    (tmp_path / "in" / "key.csv").write_text(KEY)
    (tmp_path / "in" / "roster.csv").write_text(
        'student_id,name,class\n1234,Ann Müller,5a\n5678,=HYPERLINK("http://x"),-5b\n'
        "9999,Absent,5a\n",
        encoding="utf-8",
    )
    exam = Exam.load(layout_path, tmp_path / "in" / "key.csv", tmp_path / "in" / "roster.csv")
    pages = [
        page_result(
            layout, 1, {"student_id": "1234", "q1": "12", "q2": "  7", "q3": "0", "q4": "45"}
        ),
        page_result(
            layout,
            2,
            {"student_id": "5678", "q1": "13", "q2": "7", "q4": "45"},
            unsure={("q4", 1): (0.6, 6)},
        ),
        page_result(layout, 3, {"student_id": "    ", "q1": "12", "q2": "7 7"}),
    ]
    out = tmp_path / "out"
    summary = grade_and_report(pages, exam, out, settings=get_settings())
    return out, summary


def test_students_responses_questions_csv(graded):
    out, summary = graded
    assert (summary.students, summary.needs_review, summary.absent) == (3, 2, ["9999"])
    students = read_csv(out / "students.csv")
    assert list(students[0])[:11] == [
        "student_id",
        "name",
        "score",
        "max_score",
        "percent",
        "needs_review",
        "review_reasons",
        "q1",
        "q2",
        "q3",
        "q4",
    ]
    by_copy = {row["copy"]: row for row in students}
    ann = by_copy["1"]
    assert (ann["name"], ann["score"], ann["max_score"], ann["percent"]) == (
        "Ann Müller",
        "5",
        "5",
        "100",
    )
    assert (ann["needs_review"], ann["q2"], ann["class"]) == ("no", "7", "5a")
    bob = by_copy["2"]
    assert bob["name"] == '\'=HYPERLINK("http://x")' and bob["class"] == "'-5b"
    assert (
        bob["needs_review"] == "yes" and "q4: unsure read (box 2 5 at 60%)" in bob["review_reasons"]
    )
    nobody = by_copy["3"]
    assert nobody["q2"] == "7_7" and "blank box inside the number 7_7" in nobody["review_reasons"]
    responses = read_csv(out / "responses.csv")
    assert len(responses) == 3 * 4
    q4 = next(r for r in responses if r["copy"] == "2" and r["question"] == "q4")
    assert (q4["answer"], q4["outcome"], q4["correct"], q4["points"]) == (
        "45",
        "correct",
        "yes",
        "1",
    )
    assert (q4["digits"], q4["confidences"], q4["flags"]) == (
        "4 5",
        "0.999 0.600",
        "low-confidence",
    )
    questions = read_csv(out / "questions.csv")
    assert [q["question"] for q in questions] == ["q1", "q2", "q3", "q4"]
    assert json.loads((out / "summary.json").read_text())["students"] == 3
    pages = read_csv(out / "pages.csv")
    assert [p["student_id"] for p in pages] == ["1234", "5678", ""]


def test_cells_neutralise_formulas_but_keep_numbers():
    assert [cell(v) for v in ("=1+2", "+33", "-x", "@SUM(A1)", "\tx", "\rx")] == [
        "'=1+2",
        "'+33",
        "'-x",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
    ]
    assert [cell(v) for v in (-0.5, 3, 2.0, True, None, "007")] == [
        "-0.5",
        "3",
        "2",
        "yes",
        "",
        "007",
    ]


def test_regrade_applies_overrides_and_rewrites_every_report(graded, tmp_path):
    out, _ = graded
    overrides = tmp_path / "overrides.csv"
    overrides.write_text(
        "student,question,value\n5678,q4,45\ncopy:3,student_id,9999\n"
        "copy:3,q2,77\ncopy:3,reviewed,yes\n5678,q1,12\n"
    )
    summary = regrade(out, settings=get_settings(), overrides_path=overrides)
    assert summary.overrides == 5 and summary.needs_review == 0
    rows = {r["copy"]: r for r in read_csv(out / "students.csv")}
    assert (rows["2"]["score"], rows["2"]["needs_review"]) == ("4", "no")  # q3 stays blank
    assert (rows["3"]["student_id"], rows["3"]["name"]) == ("9999", "Absent")
    assert summary.absent == []
    flags = {(r["copy"], r["question"]): r["flags"] for r in read_csv(out / "responses.csv")}
    assert flags[("2", "q4")] == "override"
    names = ("students.csv", "responses.csv", "questions.csv", "pages.csv", "review.pdf")
    first = {name: (out / name).read_bytes() for name in names}
    # the file is the whole list: same result again
    regrade(out, settings=get_settings(), overrides_path=overrides)
    assert {name: (out / name).read_bytes() for name in names} == first


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("student,question,value\n1234,q9,1\n", "line 2: 'q9' is neither a question"),
        ("student,question,value\n4444,q1,1\n", "line 2: no student '4444'"),
        ("student,question,value\ncopy:7,q1,1\n", "no sheet with copy number 7"),
        ("student,question,value\n1234,q1,1x\n", "must be digits"),
    ],
)
def test_bad_overrides_name_the_line(graded, tmp_path, text, words):
    out, _ = graded
    before = (out / "students.csv").read_bytes()
    overrides = tmp_path / "overrides.csv"
    overrides.write_text(text)
    with pytest.raises(OverridesError, match=words):
        regrade(out, settings=get_settings(), overrides_path=overrides)
    assert (out / "students.csv").read_bytes() == before


def test_review_pdf_on_the_sample_scan(repo_root, tmp_path):
    """Ground-truth reads drawn on the real sample scan: every page, review pages first,
    boxes outlined where the digits are."""
    samples = repo_root / "samples"
    exam = Exam.load(samples / "layout.yaml", samples / "key.csv", samples / "roster.csv")
    truth = json.loads((samples / "truth.json").read_text())
    pages = pages_from_truth(truth, exam.layout)
    # Make one student unsure so the order can be checked.
    unsure = next(p for p in pages if p.ok and p.copy == 5)
    unsure.boxes[-1].confidence = 0.5
    scans = [inspect_pdf(samples / "scans.pdf", get_settings())]
    summary = grade_and_report(pages, exam, tmp_path, settings=get_settings(), scans=scans)
    review = PdfReader(tmp_path / "review.pdf")
    assert len(review.pages) == summary.review_pages == len(truth["pages"])
    scores = {r["student_id"]: float(r["score"]) for r in read_csv(tmp_path / "students.csv")}
    assert scores == true_scores(truth, exam)
    from worker.grading.grade import grade
    from worker.grading.review_pdf import (
        AMBER,
        GREEN,
        RED,
        draw_page,
        plan_pages,
        upright_turn,
    )

    plan = plan_pages(grade(pages, exam, get_settings()), pages, 0.97)
    assert plan[0].page is unsure and plan[0].alert  # pages needing review first
    stray = {p["source_page"] for p in truth["pages"] if p["kind"] != "sheet"}
    assert {p.page.source_page for p in plan[1 : 1 + len(stray)]} == stray  # then no student's
    blank = Image.new("L", (unsure.width_px // 2, unsure.height_px // 2), 255)
    drawn = np.asarray(draw_page(blank, plan[0], 100, 0.97))
    upright_height = blank.width if unsure.rotation in (90, 270) else blank.height
    band = drawn.shape[0] - upright_height  # the header band sits above the page
    turn = upright_turn(unsure.rotation, blank.width, blank.height)
    x, y = (round(v) for v in turn(*(v * 100 / unsure.dpi for v in unsure.boxes[-1].quad[0])))
    near_box = {tuple(c) for c in drawn[band + y - 2 : band + y + 3, x - 2 : x + 3].reshape(-1, 3)}
    assert AMBER in near_box, "the unsure box is outlined in amber"
    colours = {tuple(c) for c in drawn.reshape(-1, 3)}
    assert GREEN in colours and RED in colours  # copy 5 has right and wrong answers


def run_cli(*args):
    return CliRunner().invoke(build_app(), [str(a) for a in args])


def test_cli_bad_key_is_exit_2_naming_the_line(repo_root, tmp_path):
    key = tmp_path / "key.csv"
    key.write_text("question,answer\nq1,7\nq2,five\n")
    result = run_cli(
        "grade",
        repo_root / "samples" / "scans.pdf",
        "--layout",
        repo_root / "samples" / "layout.yaml",
        "--key",
        key,
        "--out",
        tmp_path / "out",
    )
    assert result.exit_code == 2
    assert f"{key}, line 3: question 'q2': answer 'five' is not a whole number" in result.output
    assert not (tmp_path / "out").exists()


def test_cli_missing_scan_and_bad_roster(repo_root, tmp_path):
    samples = repo_root / "samples"
    result = run_cli(
        "grade",
        tmp_path / "nope.pdf",
        "--layout",
        samples / "layout.yaml",
        "--key",
        samples / "key.csv",
        "--out",
        tmp_path / "out",
    )
    assert result.exit_code == 2 and "no such scan file" in result.output
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\n1,A\n")
    result = run_cli(
        "grade",
        samples / "scans.pdf",
        "--layout",
        samples / "layout.yaml",
        "--key",
        samples / "key.csv",
        "--roster",
        roster,
        "--out",
        tmp_path / "o",
    )
    assert result.exit_code == 2 and "missing student_id" in result.output


def test_cli_empty_pdf_writes_empty_reports_and_exits_2(repo_root, tmp_path):
    samples = repo_root / "samples"
    empty = tmp_path / "empty.pdf"
    with open(empty, "wb") as f:
        PdfWriter().write(f)
    result = run_cli(
        "grade",
        empty,
        "--layout",
        samples / "layout.yaml",
        "--key",
        samples / "key.csv",
        "--out",
        tmp_path / "out",
        "--json",
    )
    assert result.exit_code == 2
    summary = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert summary["students"] == 0
    assert any("has no pages" in p for p in summary["problems"])
    assert read_csv(tmp_path / "out" / "students.csv") == []
    assert len(PdfReader(tmp_path / "out" / "review.pdf").pages) == 1
    again = run_cli("regrade", tmp_path / "out", "--json")
    assert again.exit_code == 2
    regraded = json.loads(again.stdout[: again.stdout.rindex("}") + 1])
    assert regraded["problems"] == summary["problems"]  # reading problems are remembered


def test_cli_regrade_of_a_folder_that_was_never_graded(tmp_path):
    result = run_cli("regrade", tmp_path)
    assert result.exit_code == 2 and "not a scangrade output folder" in result.output


def test_exam_copied_into_output_so_regrade_needs_nothing_else(graded, tmp_path):
    out, _ = graded
    shutil.rmtree(tmp_path / "in")  # the teacher's original files are gone
    result = run_cli("regrade", out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["students"] == 3


def test_key_and_roster_problems_reach_the_summary(tmp_path):
    layout = small_layout()
    exam = Exam.from_parts(
        layout,
        parse_key("question,answer\nq1,12\nq5,3\n", "key.csv"),
        parse_roster("student_id,name\n1234,A\n1234,B\n", 4, "roster.csv"),
    )
    pages = [page_result(layout, 1, {"student_id": "1234", "q1": "12"})]
    summary = grade_and_report(pages, exam, tmp_path, settings=get_settings())
    assert any("'q5' is not on the sheet" in p for p in summary.problems)
    assert any("no answer for question 'q2'" in p for p in summary.problems)
    row = read_csv(tmp_path / "students.csv")[0]
    assert (row["score"], row["max_score"]) == ("1", "1")
    assert "ID 1234 is on roster lines 2, 3" in row["review_reasons"]
    items = {q["question"]: q for q in read_csv(tmp_path / "questions.csv")}
    assert items["q2"]["key"] == "" and items["q2"]["share_correct"] == ""


def test_compare_with_truth_counts_found_flagged_and_wrong(repo_root):
    from worker.grading.grade import grade
    from worker.measure.eval_grading import compare_with_truth

    samples = repo_root / "samples"
    exam = Exam.load(samples / "layout.yaml", samples / "key.csv", samples / "roster.csv")
    truth = json.loads((samples / "truth.json").read_text())
    pages = pages_from_truth(truth, exam.layout)
    perfect = compare_with_truth(grade(pages, exam, get_settings()), truth)
    assert (
        perfect["students_found"],
        perfect["exact_rate_unflagged"],
        perfect["needs_review"],
    ) == (12, 1.0, 0)
    # A confident misread the grader cannot notice counts as an unflagged error.
    sheet = next(p for p in pages if p.ok and p.copy == 2)
    q1 = next(b for b in sheet.boxes if b.field == "q1")
    q1.digit = (q1.digit + 1) % 10
    misread = compare_with_truth(grade(pages, exam, get_settings()), truth)
    assert misread["exact_rate_unflagged"] == round(11 / 12, 4)
    assert [e["copy"] for e in misread["unflagged_errors"]] == [2]


def test_review_font_prints_accented_names():
    from worker.grading.review_pdf import font

    missing = font(20).getmask("\uffff").getbbox()
    assert all(font(20).getmask(ch).getbbox() != missing for ch in "éüñç")


def test_saved_scans_are_copies_even_over_an_old_hard_link(graded, tmp_path):
    out, _ = graded
    scan = tmp_path / "scan.pdf"
    with open(scan, "wb") as f:
        PdfWriter().write(f)
    original = scan.read_bytes()
    saved = out / "inputs" / "scans" / "01-scan.pdf"
    saved.hardlink_to(scan)  # what an older scangrade left behind
    inputs = load_saved(out)
    grade_and_report(
        inputs.pages, inputs.exam, out, settings=get_settings(), scans=[PdfInfo(scan, 0)]
    )
    assert saved.read_bytes() == original and saved.stat().st_ino != scan.stat().st_ino
    saved.write_bytes(b"changed")
    assert scan.read_bytes() == original
