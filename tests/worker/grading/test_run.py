"""A grading run's reports: students (absent ones too), responses with each answer's own
review flag and how sure its outcome is, questions, pages, review.csv, the saved inputs a
regrade needs (folders of older versions too), and the comparison with ground truth."""

import json

from pypdf import PdfWriter

from scangrade.settings import get_settings
from tests.helpers.grading import page_result, pages_from_truth, read_csv, small_layout
from worker.grading import Exam, grade_and_report, regrade
from worker.grading.csvfile import cell
from worker.grading.inputs import MANIFEST_FILE, load_saved
from worker.grading.key import parse_key
from worker.grading.report_files import CSV_REPORTS, REVIEW_CSV
from worker.grading.roster import parse_roster
from worker.scan.pdf import PdfInfo


def test_students_responses_questions_csv(graded):
    out, summary = graded
    assert (summary.students, summary.needs_review, summary.absent) == (3, 2, ["9999"])
    students = read_csv(out / "students.csv")
    assert list(students[0])[:12] == [
        "student_id", "name", "status", "score", "max_score", "percent", "needs_review",
        "review_reasons", "q1", "q2", "q3", "q4"]
    by_id = {row["student_id"]: row for row in students}
    ann = by_id["1234"]
    assert (ann["name"], ann["status"], ann["score"], ann["max_score"], ann["percent"]) == (
        "Ann Müller", "graded", "5", "5", "100")
    assert (ann["needs_review"], ann["q2"], ann["class"]) == ("no", "7", "5a")
    bob = by_id["5678"]
    assert bob["name"] == '\'=HYPERLINK("http://x")' and bob["class"] == "'-5b"
    assert bob["needs_review"] == "yes"
    assert "q4: read 45 (right)" in bob["review_reasons"]
    assert "box 2 could be 6, making 46 (wrong)" in bob["review_reasons"]
    absent = by_id["9999"]
    assert (absent["status"], absent["score"], absent["needs_review"]) == ("absent", "", "no")
    nobody = next(row for row in students if row["copy"] == "3")
    assert nobody["q2"] == "7_7"  # a gap is shown, scored joined up, and no reason to review
    assert "7_7" not in nobody["review_reasons"] and "no roster student" in \
        nobody["review_reasons"]
    responses = read_csv(out / "responses.csv")
    assert len(responses) == 3 * 4
    q4 = next(r for r in responses if r["copy"] == "2" and r["question"] == "q4")
    assert (q4["answer"], q4["outcome"], q4["correct"], q4["points"]) == (
        "45", "correct", "yes", "1")
    assert (q4["digits"], q4["confidences"], q4["flags"], q4["needs_review"]) == (
        "4 5", "0.999 0.600", "unclear", "yes")
    # the class makes 45 likely, but the reader alone is 60/40 on its 5: always checked
    assert 0.5 < float(q4["outcome_probability"]) < 1.0
    q1 = next(r for r in responses if r["copy"] == "2" and r["question"] == "q1")
    assert (q1["needs_review"], q1["flags"]) == ("no", "")  # Bob is flagged, q1 is not
    assert float(q1["outcome_probability"]) > 0.99
    questions = read_csv(out / "questions.csv")
    assert [q["question"] for q in questions] == ["q1", "q2", "q3", "q4"]
    assert json.loads((out / "summary.json").read_text())["students"] == 3
    pages = read_csv(out / "pages.csv")
    assert [p["student_id"] for p in pages] == ["1234", "5678", ""]


def test_review_csv_lists_each_check_with_an_empty_value_to_fill_in(graded):
    out, _ = graded
    rows = read_csv(out / REVIEW_CSV)
    assert list(rows[0]) == ["student", "copy", "name", "question", "read", "probability",
                             "key", "value", "reason"]
    checks = {(r["copy"], r["question"]): r for r in rows}
    assert set(checks) == {("2", "q4"), ("3", "student_id")}
    bob = checks[("2", "q4")]
    assert (bob["student"], bob["read"], bob["key"], bob["value"]) == ("5678", "45", "45", "")
    assert bob["reason"].startswith("q4: read 45 (right)")
    unknown = checks[("3", "student_id")]
    assert unknown["student"] == "copy:3" and "no roster student" in unknown["reason"]


def test_cells_neutralise_formulas_but_keep_numbers():
    assert [cell(v) for v in ("=1+2", "+33", "-x", "@SUM(A1)", "\tx", "\rx")] == [
        "'=1+2", "'+33", "'-x", "'@SUM(A1)", "'\tx", "'\rx"]
    assert [cell(v) for v in (-0.5, 3, 2.0, True, None, "007")] == [
        "-0.5", "3", "2", "yes", "", "007"]


def test_every_csv_report_is_written_whole_with_the_bom(graded):
    out, _ = graded
    for name in CSV_REPORTS:
        assert (out / name).read_bytes().startswith(b"\xef\xbb\xbf"), name
    assert not list(out.glob(".*.tmp"))  # no temporary file left behind


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
    assert (perfect["students_found"], perfect["exact_rate_unflagged"],
            perfect["needs_review"], perfect["wrong_outcomes_unflagged"]) == (12, 1.0, 0, 0)
    # A confident misread of a wrong answer into another wrong one changes nothing graded;
    # a confident misread of a right answer nobody notices counts as an unflagged error.
    sheet = next(p for p in pages if p.ok and p.copy == 2)
    q1 = next(b for b in sheet.boxes if b.field == "q1")  # key 7
    q1.digit = 4
    q1.probs = [1e-7] * 11
    q1.probs[4] = 1 - 1e-6
    misread = compare_with_truth(grade(pages, exam, get_settings()), truth)
    assert misread["exact_rate_unflagged"] == round(11 / 12, 4)
    assert [e["copy"] for e in misread["unflagged_errors"]] == [2]
    assert misread["wrong_outcomes_unflagged"] == 1
    assert misread["unflagged_wrong_answers"][0]["question"] == "q1"


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


def test_a_folder_saved_before_page_counts_were_kept_still_regrades(repo_root, tmp_path):
    samples = repo_root / "samples"
    exam = Exam.load(samples / "layout.yaml", samples / "key.csv", samples / "roster.csv")
    truth = json.loads((samples / "truth.json").read_text())
    pages = pages_from_truth(truth, exam.layout)
    scans = [PdfInfo(samples / "scans.pdf", truth["n_pages"])]
    grade_and_report(pages, exam, tmp_path, settings=get_settings(), scans=scans)
    manifest_path = tmp_path / "inputs" / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["scans"] = [entry["file"] for entry in manifest["scans"]]  # the older format
    manifest_path.write_text(json.dumps(manifest))
    assert load_saved(tmp_path).scans[0].n_pages == truth["n_pages"]
    summary = regrade(tmp_path, settings=get_settings())
    assert summary.review_pages == truth["n_pages"]
