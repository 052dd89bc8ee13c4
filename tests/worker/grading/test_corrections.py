"""Teacher corrections: checked row by row, kept in the folder's journal, accumulated across
regrades (a later row wins), carried through a corrected key, never lost."""

import pytest

from scangrade.settings import get_settings
from tests.helpers.grading import read_csv
from worker.grading import CorrectionsError, regrade
from worker.grading.corrections import load_journal
from worker.grading.report_files import JOURNAL_CSV, REVIEW_CSV

SETTINGS = get_settings()


def corrections(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_corrections_accumulate_and_a_later_row_wins(graded, tmp_path):
    out, _ = graded
    first = corrections(tmp_path, "monday.csv",
                        "student,question,value\n5678,q4,46\ncopy:3,student_id,9999\n")
    summary = regrade(out, settings=SETTINGS, overrides_path=first)
    assert (summary.overrides, summary.corrections_added) == (2, 2)
    rows = {r["copy"]: r for r in read_csv(out / "students.csv")}
    assert (rows["2"]["score"], rows["3"]["student_id"], rows["3"]["name"]) == (
        "2", "9999", "Absent")
    # a second file: q4 corrected again (it wins), and 9999 is now the ID copy 3 goes by
    second = corrections(tmp_path, "tuesday.csv",
                         "student,question,value\n5678,q4,45\n9999,q2,77\n")
    summary = regrade(out, settings=SETTINGS, overrides_path=second)
    assert (summary.overrides, summary.corrections_added) == (3, 2)
    assert summary.corrections_sources == {"monday.csv": 1, "tuesday.csv": 2}
    rows = {r["copy"]: r for r in read_csv(out / "students.csv")}
    assert (rows["2"]["score"], rows["3"]["q2"]) == ("3", "77")
    journal = load_journal(out)
    assert [(c.copy, c.target, c.value, c.source) for c in journal] == [
        (2, "q4", "46", "monday.csv"), (3, "student_id", "9999", "monday.csv"),
        (2, "q4", "45", "tuesday.csv"), (3, "q2", "77", "tuesday.csv")]
    # regrade without a file re-applies the journal: the same reports again
    before = (out / "students.csv").read_bytes()
    again = regrade(out, settings=SETTINGS)
    assert again.overrides == 3 and (out / "students.csv").read_bytes() == before
    assert "3 corrections applied (1 from monday.csv, 2 from tuesday.csv)" in again.text()


def test_a_filled_in_review_csv_is_a_corrections_file(graded):
    out, summary = graded
    assert summary.needs_review == 2
    review = out / REVIEW_CSV
    lines = review.read_text(encoding="utf-8-sig").splitlines()
    filled = [lines[0]]
    for line in lines[1:]:  # confirm Bob's q4 as read; leave the unknown ID for later
        filled.append(line.replace(",45,,", ",45,ok,") if ",q4," in line else line)
    review.write_text("\n".join(filled) + "\n", encoding="utf-8-sig")
    summary = regrade(out, settings=SETTINGS, overrides_path=review)
    assert (summary.corrections_added, summary.needs_review) == (1, 1)
    bob = next(r for r in read_csv(out / "students.csv") if r["copy"] == "2")
    assert (bob["needs_review"], bob["score"]) == ("no", "3")
    assert [r["copy"] for r in read_csv(out / REVIEW_CSV)] == ["3"]  # what is left to check


def test_a_corrected_key_keeps_every_correction(graded, tmp_path):
    out, _ = graded
    regrade(out, settings=SETTINGS, overrides_path=corrections(
        tmp_path, "fix.csv", "student,question,value\n5678,q4,45\n"))
    key = corrections(tmp_path, "key-v2.csv", "question,answer\nq1,13\nq2,7\nq3,0\nq4,45\n")
    summary = regrade(out, settings=SETTINGS, key_path=key)
    assert summary.key_replaced == "key-v2.csv" and summary.overrides == 1
    rows = {r["copy"]: r for r in read_csv(out / "students.csv")}
    assert (rows["1"]["score"], rows["2"]["score"]) == ("4", "4")  # q1 is 13 now
    assert "answer key replaced by key-v2.csv; corrections kept" in summary.text()
    assert regrade(out, settings=SETTINGS).key_replaced == ""  # the new key is the saved one
    assert {r["copy"]: r["score"] for r in read_csv(out / "students.csv")} == {
        "1": "4", "2": "4", "3": "0", "": ""}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("student,question,value\n1234,q9,1\n", "fix.csv, line 2: 'q9' is neither a question"),
        ("student,question,value\n1234,q1,1\n4444,q1,1\n", "line 3: no student '4444'"),
        ("student,question,value\ncopy:7,q1,1\n", "line 2: no sheet with copy number 7"),
        ("student,question,value\n1234,q1,1x\n", "line 2: answer '1x' to q1 must be digits"),
        ("student,question,value\n1234,q3,12345\n",
         "line 2: answer '12345' to q3 has 5 digits but the question has 1 box"),
        ("student,question,value\ncopy:3,student_id,4321\n",
         "line 2: student ID 4321 is not on the roster"),
        ("student,question,value\n1234,reviewed,maybe\n", "line 2: reviewed must be yes or no"),
    ],
)
def test_bad_rows_name_their_line_and_change_nothing(graded, tmp_path, text, words):
    out, _ = graded
    before = {name: (out / name).read_bytes() for name in ("students.csv", "review.pdf")}
    with pytest.raises(CorrectionsError, match=words):
        regrade(out, settings=SETTINGS, overrides_path=corrections(tmp_path, "fix.csv", text))
    assert {name: (out / name).read_bytes() for name in before} == before
    assert not (out / JOURNAL_CSV).exists()


def test_a_correction_the_new_scans_have_no_sheet_for_is_kept_and_reported(graded, tmp_path):
    from worker.grading import grade_and_report
    from worker.grading.inputs import load_saved

    out, _ = graded
    regrade(out, settings=SETTINGS, overrides_path=corrections(
        tmp_path, "fix.csv", "student,question,value\ncopy:3,q1,13\n"))
    saved = load_saved(out)
    without_copy_3 = [p for p in saved.pages if p.copy != 3]
    summary = grade_and_report(without_copy_3, saved.exam, out, settings=SETTINGS)
    assert any("copy 3" in p and "not applied" in p for p in summary.problems)
    assert len(load_journal(out)) == 1  # still there for when copy 3 is scanned


def test_rows_of_one_file_follow_an_id_it_corrects(graded, tmp_path):
    out, _ = graded
    fix = corrections(tmp_path, "fix.csv", "student,question,value\ncopy:3,student_id,9999\n"
                                           "9999,q3,0\n")
    summary = regrade(out, settings=SETTINGS, overrides_path=fix)
    assert summary.corrections_added == 2
    row = next(r for r in read_csv(out / "students.csv") if r["copy"] == "3")
    assert (row["student_id"], row["q3"]) == ("9999", "0")


def test_ok_for_an_answer_that_was_never_read_is_refused(graded, tmp_path):
    from worker.grading import grade_and_report
    from worker.grading.inputs import load_saved

    out, _ = graded
    saved = load_saved(out)
    for page in saved.pages:  # copy 2's q4 boxes lost
        if page.copy == 2:
            page.boxes = [b for b in page.boxes if b.field != "q4"]
    grade_and_report(saved.pages, saved.exam, out, settings=SETTINGS)
    with pytest.raises(CorrectionsError, match=r"q4 was not read .* write the answer"):
        regrade(out, settings=SETTINGS, overrides_path=corrections(
            tmp_path, "fix.csv", "student,question,value\n5678,q4,ok\n"))


def test_a_bad_row_with_a_new_key_saves_neither(graded, tmp_path):
    out, _ = graded
    saved_key = (out / "inputs" / "key.csv").read_bytes()
    key = corrections(tmp_path, "key2.csv", "question,answer\nq1,13\nq2,7\nq3,0\nq4,45\n")
    with pytest.raises(CorrectionsError):
        regrade(out, settings=SETTINGS, key_path=key, overrides_path=corrections(
            tmp_path, "fix.csv", "student,question,value\n4444,q1,1\n"))
    assert (out / "inputs" / "key.csv").read_bytes() == saved_key


def test_two_sheets_given_one_id_are_both_flagged(graded, tmp_path):
    out, _ = graded
    regrade(out, settings=SETTINGS, overrides_path=corrections(
        tmp_path, "fix.csv", "student,question,value\ncopy:3,student_id,1234\n"))
    rows = {r["copy"]: r for r in read_csv(out / "students.csv")}
    assert "ID 1234 is also on copy 3" in rows["1"]["review_reasons"]
    assert "ID 1234 is also on copy 1" in rows["3"]["review_reasons"]
