"""Answer key, roster and exam inputs: what teachers' spreadsheets produce, and clear errors."""

import pytest

from tests.helpers.grading import small_layout
from worker.grading.errors import AnswerKeyError, RosterError
from worker.grading.exam import Exam
from worker.grading.key import load_key, normalize_answer, parse_key
from worker.grading.roster import load_roster, parse_roster


def test_key_with_bom_blank_lines_alternatives_and_points(tmp_path):
    path = tmp_path / "key.csv"
    path.write_bytes(
        "\ufeffQuestion,Answer,Points\r\n\r\nq1, 12 ,\r\nq2,7|07|70,2.5\r\n\r\n".encode()
    )
    key = load_key(path)
    assert list(key.entries) == ["q1", "q2"]
    assert key.entries["q1"].answers == ("12",) and key.entries["q1"].points is None
    assert key.entries["q2"].answers == ("7", "07", "70") and key.entries["q2"].points == 2.5
    assert key.entries["q2"].accepts("007") and key.entries["q2"].accepts("70")
    assert not key.entries["q2"].accepts("77")
    assert key.entries["q2"].line == 4


def test_key_from_a_european_spreadsheet(tmp_path):
    path = tmp_path / "key.csv"
    path.write_bytes("question;answer;points\nq1;5;1,5\n".encode("cp1252"))
    assert load_key(path).entries["q1"].points == 1.5


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("question,answer\nq1,12\nq2,\n", 3, "has no answer"),
        ("question,answer\nq1,1.5\n", 2, "not a whole number"),
        ("question,answer\nq1,-3\n", 2, "not a whole number"),
        ("question,answer\nq1,1||2\n", 2, "empty alternative"),
        ("question,answer,points\nq1,1,many\n", 2, "not a number"),
        ("question,answer,points\nq1,1,-1\n", 2, "from 0 to 1000"),
            ("question,answer,points\nq1,1,1e308\n", 2, "from 0 to 1000"),
        ("question,answer\nq1,1\nq1,2\n", 3, "appears twice (lines 2 and 3)"),
        ("question,answer\nq1,1,9\n", 2, "a value with a comma must be quoted"),
        ("answer,points\n1,2\n", 1, "missing question"),
    ],
)
def test_key_errors_name_file_line_and_problem(text, line, words):
    with pytest.raises(AnswerKeyError) as caught:
        parse_key(text, "mykey.csv")
    assert caught.value.line == line
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"mykey.csv, line {line}:")


def test_empty_or_missing_key_file(tmp_path):
    with pytest.raises(AnswerKeyError, match="empty file"):
        parse_key("\n\n", "k.csv")
    with pytest.raises(AnswerKeyError, match="no questions"):
        parse_key("question,answer\n", "k.csv")
    with pytest.raises(AnswerKeyError, match="cannot read"):
        load_key(tmp_path / "nope.csv")


def test_answers_compare_as_numbers():
    assert normalize_answer("007") == "7"
    assert normalize_answer("000") == "0"
    assert normalize_answer("10") == "10"


def test_roster_duplicates_named_with_lines_extra_columns_kept(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(
        "student_id,name,class,email\n1234,Ann Müller,5a,a@x\n"
        "77,Bob,5b,b@x\n1234,Ann Again,5a,\nabc,Nobody,,\n",
        encoding="utf-8-sig",
    )
    roster = load_roster(path, id_digits=4)
    assert [s.student_id for s in roster.students] == ["1234", "0077"]  # Excel drops zeros
    assert roster.students[0].name == "Ann Müller"
    assert roster.extra_columns == ["class", "email"]
    assert roster.students[1].extra == {"class": "5b", "email": "b@x"}
    assert roster.duplicates == {"1234": [2, 4]}
    assert any("1234 appears on lines 2, 4" in p for p in roster.problems)
    assert any("line 5" in p and "'abc' is not digits" in p for p in roster.problems)


def test_roster_errors():
    with pytest.raises(RosterError, match="missing name"):
        parse_roster("student_id\n1\n", 4, "r.csv")
    with pytest.raises(RosterError, match="no usable student rows"):
        parse_roster("student_id,name\n123456789,Too Long\n", 4, "r.csv")


def test_key_missing_a_question_or_naming_an_unknown_one_is_reported_not_fatal():
    key = parse_key("question,answer\nq1,12\nq2,7\nq3,1\nq9,4\n", "key.csv")
    exam = Exam.from_parts(small_layout(), key)
    assert [q.key is not None for q in exam.questions] == [True, True, True, False]
    assert any("no answer for question 'q4'" in p for p in exam.problems)
    assert any("line 5" in p and "'q9' is not on the sheet" in p for p in exam.problems)
    assert exam.max_score == 1 + 2 + 1  # q4 ungraded, q2 worth 2 in the layout


def test_key_points_override_layout_and_too_long_answers_are_reported():
    key = parse_key("question,answer,points\nq1,12,5\nq2,7\nq3,12\nq4,1\n", "key.csv")
    exam = Exam.from_parts(small_layout(), key)
    assert [q.points for q in exam.questions] == [5, 2, 1, 1]
    assert any("q3" in p and "more digits than its 1 boxes" in p for p in exam.problems)


def test_exam_load_reads_files(tmp_path):
    layout = tmp_path / "layout.yaml"
    layout.write_text(small_layout().to_yaml(), encoding="utf-8")
    (tmp_path / "key.csv").write_text("question,answer\nq1,1\nq2,2\nq3,3\nq4,4\n")
    (tmp_path / "roster.csv").write_text("student_id,name\n1,A\n")
    exam = Exam.load(layout, tmp_path / "key.csv", tmp_path / "roster.csv")
    assert exam.exam_id == "quiz" and exam.roster.students[0].student_id == "0001"
    assert not exam.problems


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_keys_and_rosters_saved_as_unicode_text(tmp_path, encoding):
    """Excel's "Unicode Text" is tab-separated UTF-16 with a byte-order mark; some tools
    leave the mark out."""
    key = tmp_path / "key.txt"
    key.write_bytes("question\tanswer\tpoints\r\nq1\t12\t\r\nq2\t7\t2\r\n".encode(encoding))
    entries = load_key(key).entries
    assert entries["q1"].answers == ("12",) and entries["q2"].points == 2
    roster = tmp_path / "roster.txt"
    roster.write_bytes("student_id\tname\r\n1234\tAnn Müller\r\n".encode(encoding))
    assert load_roster(roster, id_digits=4).students[0].name == "Ann Müller"


def test_a_binary_file_given_as_a_key_says_what_to_save(tmp_path):
    path = tmp_path / "key.xlsx"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4)
    with pytest.raises(AnswerKeyError) as caught:
        load_key(path)
    message = str(caught.value)
    assert "not a text file" in message and 'save it as "CSV UTF-8"' in message
    assert "\0" not in message
