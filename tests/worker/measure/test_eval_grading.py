"""`scangrade eval grading` on a small synthetic class (MNIST test digits, fixed seed): the
figures a teacher's review depends on are there and say what they should."""

import json

from typer.testing import CliRunner

from api.cli import build_app


def test_eval_grading_on_a_fixed_seed():
    result = CliRunner().invoke(build_app(), ["eval", "grading", "--students", "20",
                                              "--seed", "7"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    for graded in ("with_roster", "without_roster"):
        part = figures[graded]
        assert part["students_found"] == part["students_true"] == 20
        assert part["answers"] == 20 * 14
        assert 0 <= part["answers_flagged_share"] <= 1 and 0 <= part["review_rate"] <= 1
        assert part["wrong_outcomes_unflagged"] == len(part["unflagged_wrong_answers"])
        assert part["unflagged_exact"] + len(part["unflagged_errors"]) == part["unflagged"]
    with_roster = figures["with_roster"]
    assert with_roster["wrong_outcomes_unflagged"] == 0
    assert with_roster["id_errors_unflagged"] == 0
    assert figures["review_risk"] == 0.02 and figures["near_miss_share"] == 0.5
