"""Pure grading logic: answers from boxes, grouping pages into students, identifying students,
scoring, review and item analysis, on page results built the way the pipeline writes them."""

import pytest

from scangrade.settings import get_settings
from tests.helpers.grading import box, page_result, small_layout
from worker.grading.exam import Exam
from worker.grading.grade import grade
from worker.grading.identify import IdentifySettings, identify
from worker.grading.items import item_stats
from worker.grading.key import parse_key
from worker.grading.outcome import AnswerPrior
from worker.grading.roster import parse_roster
from worker.grading.score import Flag, Outcome, answer_from_digits, decide, score_question
from worker.grading.students import group_pages
from worker.scan.results import PageResult, PageStatus

KEY = "question,answer\nq1,12\nq2,7|07\nq3,0\nq4,45\n"
SETTINGS = get_settings()
ID_SETTINGS = IdentifySettings(review_risk=0.005, min_probability=0.01, probability_floor=1e-6)
EVEN_PRIOR = AnswerPrior(correct=0.5, blank=0.1, near_miss_share=0.5)


def exam(roster: str | None = None, layout=None) -> Exam:
    layout = layout or small_layout()
    return Exam.from_parts(
        layout,
        parse_key(KEY, "key.csv"),
        parse_roster(roster, layout.id_digits) if roster else None,
    )


@pytest.mark.parametrize(
    ("digits", "shown", "gap"),
    [
        ([None, None, 7], "7", False),
        ([7, None, None], "7", False),
        ([None, 1, 2, None], "12", False),
        ([1, None, 2], "1_2", True),
        ([None, None], "", False),
        ([0, 0, 7], "007", False),
    ],
)
def test_answer_from_digits(digits, shown, gap):
    read = answer_from_digits(digits)
    assert (read.shown, read.gap) == (shown, gap)
    assert read.digits == shown.replace("_", "")


def test_score_question_outcomes_and_flags():
    q1, q2 = exam().questions[:2]

    def scored(question, boxes, override=None):
        response = score_question(question, boxes, override)
        decide(response, EVEN_PRIOR, review_risk=0.02, read_doubt=0.3)
        return response

    right = scored(q2, [box("q2", 0, " "), box("q2", 1, "0"), box("q2", 2, "7")])
    assert (right.answer, right.outcome, right.points, right.flags) == (
        "07", Outcome.CORRECT, 2.0, [])
    assert right.outcome_probability > 0.999
    # 12 or 17: the outcome itself is in doubt
    unsure = scored(q1, [box("q1", 0, "1"), box("q1", 1, "2", 0.5, 7)])
    assert unsure.outcome == Outcome.CORRECT and unsure.flags == [Flag.UNSURE]
    assert unsure.needs_review and unsure.outcome_probability < 0.98
    blank = scored(q1, [box("q1", 0, " "), box("q1", 1, " ")])
    assert (blank.outcome, blank.points, blank.needs_review) == (Outcome.BLANK, 0.0, False)
    unread = scored(q1, None)
    assert unread.outcome == Outcome.UNREAD and unread.needs_review
    fixed = scored(q1, [box("q1", 0, "1"), box("q1", 1, "3", 0.4)], override="12")
    assert (fixed.outcome, fixed.points, fixed.flags) == (Outcome.CORRECT, 1.0, [Flag.OVERRIDE])
    assert fixed.read_digits == "13" and fixed.outcome_probability == 1.0


def test_a_wrong_answer_that_is_wrong_whichever_way_it_reads_is_not_flagged():
    q4 = exam().questions[3]  # key 45
    response = score_question(q4, [box("q4", 0, "1"), box("q4", 1, "3", 0.6, runner_up=8)])
    decide(response, EVEN_PRIOR, review_risk=0.02, read_doubt=0.3)
    assert response.outcome == Outcome.INCORRECT and not response.needs_review
    assert response.outcome_probability > 0.999  # 13 or 18: wrong either way
    # one digit from the key, the other way round: the doubt is about the grade itself
    near = score_question(q4, [box("q4", 0, "4"), box("q4", 1, "6", 0.9, runner_up=5)])
    decide(near, EVEN_PRIOR, review_risk=0.02, read_doubt=0.3)
    assert near.outcome == Outcome.INCORRECT and near.needs_review


def test_a_first_digit_too_faint_to_see_is_doubted():
    """45 with the 4 missed (its box read empty) reads as 5, one digit from the key; a sheet
    asks for answers from the leftmost box, so an empty first box is itself suspicious."""
    q4 = exam().questions[3]  # key 45
    faint = [box("q4", 0, " ", 0.9995, runner_up=4), box("q4", 1, "5")]
    left = [box("q4", 0, "5"), box("q4", 1, " ", 0.9995, runner_up=4)]
    outcomes = []
    for boxes in (faint, left):
        response = score_question(q4, boxes)
        decide(response, AnswerPrior(0.7, 0.05, 0.5, shifted_share=0.02), review_risk=0.02,
               read_doubt=0.3)
        outcomes.append((response.answer, response.outcome, response.needs_review))
    assert outcomes == [("5", Outcome.INCORRECT, True), ("5", Outcome.INCORRECT, False)]


def test_a_class_that_mostly_answers_right_makes_a_near_miss_read_less_certain():
    q4 = exam().questions[3]  # key 45
    boxes = [box("q4", 0, "4"), box("q4", 1, "6", 0.999, runner_up=5)]
    risks = []
    for correct_share in (0.1, 0.9):
        response = score_question(q4, boxes)
        decide(response, AnswerPrior(correct_share, 0.05, 0.5), review_risk=0.02, read_doubt=0.3)
        risks.append(1 - response.outcome_probability)
    assert risks[1] > 10 * risks[0]


def test_grouping_pages_in_any_order_reports_missing_duplicate_and_foreign_pages():
    layout = small_layout(pages=2)
    pages = [
        page_result(layout, 2, {}, page=2, source_page=1),
        page_result(layout, 1, {"student_id": "1234"}, page=1, source_page=2),
        page_result(layout, 2, {"student_id": "5678"}, page=1, source_page=3),
        page_result(layout, 1, {}, page=2, source_page=4),
        page_result(layout, 3, {"student_id": "1111"}, page=1, source_page=5),
        page_result(layout, 1, {}, page=2, source_page=6),  # scanned twice
        page_result(small_layout("other"), 1, {}, source_page=7),
        PageResult(source_page=8, status=PageStatus.NO_QR, message="QR unreadable"),
        page_result(small_layout(version="2"), 4, {}, source_page=9),
    ]
    grouping = group_pages(pages, "quiz", "1", n_pages=2)
    assert [s.copy for s in grouping.students] == [1, 2, 3]
    one, two, three = grouping.students
    assert one.source_pages == [2, 4] and two.source_pages == [1, 3]
    assert one.problems == ["sheet page 2 scanned 2 times (PDF pages 4, 6); PDF page 4 used"]
    assert two.problems == [] and two.unread_pages == set()
    assert three.problems == ["sheet page 2 missing from the scans"]
    assert three.unread_pages == {2}
    why = {u.page.source_page: u.reason for u in grouping.unassigned}
    assert set(why) == {7, 8, 9}
    assert "another exam (other" in why[7] and "QR unreadable" in why[8]
    assert "version 2" in why[9]


def test_roster_assignment_is_optimal_not_greedy():
    # Copy 1's last ID digit is a 1 (60%) or 7 (40%); copy 2's is a 1 at 90%. Greedy in copy
    # order gives copy 1 the ID 1111; the most probable assignment overall gives it 1117.
    roster = parse_roster("student_id,name\n1111,Ann\n1117,Bob\n", 4)
    confident = [box("student_id", i, "1") for i in range(3)]
    id_boxes = {
        1: [*confident, box("student_id", 3, "1", 0.6, runner_up=7)],
        2: [*confident, box("student_id", 3, "1", 0.9, runner_up=7)],
    }
    result = identify(id_boxes, 4, roster, ID_SETTINGS)
    assert (result[1].student_id, result[1].name) == ("1117", "Bob")
    assert (result[2].student_id, result[2].name) == ("1111", "Ann")
    assert any("could also be 1111" in r for r in result[1].reasons)
    assert any("both read as 1111" in r for r in result[2].reasons)


def test_roster_resolves_an_unsure_digit_and_flags_ids_matching_nobody():
    roster = parse_roster("student_id,name\n1234,Ann\n5678,Bob\n9999,Cid\n", 4)
    id_boxes = {
        1: [
            box("student_id", 0, "1"),
            box("student_id", 1, "2"),
            box("student_id", 2, "3", 0.7, runner_up=5),
            box("student_id", 3, "4"),
        ],
        2: [box("student_id", i, d) for i, d in enumerate("5671")],  # wrote a wrong digit
        3: [],  # ID page missing
    }
    result = identify(id_boxes, 4, roster, ID_SETTINGS)
    assert result[1].student_id == "1234" and result[1].reasons == []  # roster settles it
    assert result[2].reasons and "matches no roster student well" in result[2].reasons[0]
    assert result[3].student_id == "" and result[3].reasons


def test_without_roster_unsure_blank_and_shared_ids_are_flagged():
    id_boxes = {
        1: [box("student_id", i, d) for i, d in enumerate("1234")],
        2: [box("student_id", i, d) for i, d in enumerate("12 4")],
        3: [
            *[box("student_id", i, d) for i, d in enumerate("567")],
            box("student_id", 3, "8", 0.8),
        ],
        4: [box("student_id", i, d) for i, d in enumerate("1234")],
    }
    result = identify(id_boxes, 4, None, ID_SETTINGS)
    assert result[2].read_id == "12?4" and result[2].reasons[0] == "ID read as 12?4: box 3 empty"
    assert result[3].student_id == "5678"
    assert result[3].reasons[0].startswith("ID read as 5678 is unsure (79.")
    assert result[1].probability > 0.99 and result[3].probability < 0.8
    assert result[1].reasons == ["ID 1234 is also on copy 4"]


def test_grade_totals_review_and_absent_students():
    layout = small_layout()
    the_exam = exam("student_id,name\n1234,Ann\n5678,Bob\n4321,Absent\n", layout)
    pages = [
        page_result(
            layout, 1, {"student_id": "1234", "q1": "12", "q2": "  7", "q3": "0", "q4": "45"}
        ),
        page_result(
            layout,
            2,
            {"student_id": "5678", "q1": "13", "q2": "7", "q4": "4"},
            unsure={("q4", 1): (0.6, 5)},
        ),
    ]
    book = grade(pages, the_exam, SETTINGS)
    ann, bob = book.students
    assert (ann.name, ann.score, ann.max_score, ann.percent, ann.needs_review) == (
        "Ann",
        5,
        5,
        100.0,
        False,
    )
    assert (bob.score, bob.percent, bob.needs_review) == (2, 40.0, True)
    (reason,) = bob.review_reasons
    assert reason.startswith("q4: read 4 (wrong), ")
    assert reason.endswith("sure: box 2 could be 5, making 45 (right)")
    assert [r.student_id for r in book.absent] == ["4321"]


def test_item_analysis_share_blank_wrong_answer_and_discrimination():
    layout = small_layout()
    the_exam = exam(layout=layout)
    answers = [  # strong students get q1 right, weak ones answer 13 or leave it blank
        {"q1": "12", "q2": "7", "q3": "0", "q4": "45"},
        {"q1": "12", "q2": "7", "q3": "0", "q4": "44"},
        {"q1": "12", "q2": "7", "q3": "1", "q4": "44"},
        {"q1": "13", "q2": "7", "q3": "1", "q4": "44"},
        {"q1": "13", "q2": "8", "q3": "1", "q4": "45"},
        {"q1": "", "q2": "8", "q3": "1", "q4": "45"},
    ]
    pages = [
        page_result(layout, c, {"student_id": f"{c:04d}", **a}) for c, a in enumerate(answers, 1)
    ]
    stats = {s.question: s for s in item_stats(grade(pages, the_exam, SETTINGS), 0.27, 5)}
    q1 = stats["q1"]
    assert (q1.students, q1.correct, q1.share_correct) == (6, 3, 0.5)
    assert q1.share_blank == round(1 / 6, 3)
    assert (q1.most_common_wrong, q1.most_common_wrong_count) == ("13", 2)
    assert q1.discrimination == 1.0  # groups of round(0.27 * 6) = 2
    assert stats["q4"].discrimination == -0.5  # weak students got it right more often
    few = item_stats(grade(pages[:4], the_exam, SETTINGS), 0.27, 5)
    assert all(s.discrimination is None for s in few)


def test_missing_page_is_reported_once_and_its_questions_score_nothing():
    layout = small_layout(pages=2)
    the_exam = exam("student_id,name\n1234,Ann\n", layout)
    on_page_2 = [q.id for q in the_exam.questions if q.page == 2]
    assert on_page_2, "the two-page layout puts questions on page 2"
    answers = {"student_id": "1234", "q1": "12", "q2": "7", "q3": "0", "q4": "45"}
    book = grade([page_result(layout, 1, answers, page=1)], the_exam, SETTINGS)
    (ann,) = book.students
    assert ann.needs_review and ann.student_id == "1234"
    assert ann.review_reasons == [
        "sheet page 2 missing from the scans",
        f"not read: {', '.join(on_page_2)}",
    ]
    assert all(r.outcome == Outcome.UNREAD for r in ann.responses if r.question in on_page_2)
    assert ann.max_score == the_exam.max_score  # a missing page is not a smaller test


def test_teacher_fixed_ids_leave_the_roster_and_extra_sheets_are_not_forced_onto_it():
    roster = parse_roster("student_id,name\n1234,Ann\n5678,Bob\n", 4)
    reads = {1: "1234", 2: "5678", 3: "1234"}
    id_boxes = {c: [box("student_id", i, d) for i, d in enumerate(r)] for c, r in reads.items()}
    # The teacher says copy 1 is really Bob: copy 2 must not also be Bob, and 1234 goes to 3.
    result = identify(id_boxes, 4, roster, ID_SETTINGS, fixed={1: "5678"})
    assert (result[1].student_id, result[1].name, result[1].corrected) == ("5678", "Bob", True)
    assert (result[3].student_id, result[3].name) == ("1234", "Ann")
    assert result[2].student_id == "5678" and result[2].name == ""  # kept as read, not Bob
    assert result[2].reasons and not result[2].on_roster
