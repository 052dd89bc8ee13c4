"""`scangrade grade` and `scangrade regrade` as a teacher runs them: bad input is exit 2 with
the file and line, corrections are never dropped by grading the folder again, and a regrade
needs nothing but the folder."""

import json
import shutil

from pypdf import PdfReader, PdfWriter
from typer.testing import CliRunner

from api.cli import build_app
from tests.helpers.grading import read_csv
from tests.helpers.paths import SAMPLES
from worker.grading.report_files import JOURNAL_CSV


def run_cli(*args):
    return CliRunner().invoke(build_app(), [str(a) for a in args])


def grade_samples(out, *extra):
    return run_cli("grade", SAMPLES / "scans.pdf", "--layout", SAMPLES / "layout.yaml",
                   "--key", SAMPLES / "key.csv", "--roster", SAMPLES / "roster.csv",
                   "--out", out, "--no-progress", *extra)


def test_cli_bad_key_is_exit_2_naming_the_line(tmp_path):
    key = tmp_path / "key.csv"
    key.write_text("question,answer\nq1,7\nq2,five\n")
    result = run_cli("grade", SAMPLES / "scans.pdf", "--layout", SAMPLES / "layout.yaml",
                     "--key", key, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert f"{key}, line 3: question 'q2': answer 'five' is not a whole number" in result.output
    assert not (tmp_path / "out").exists()


def test_cli_missing_scan_and_bad_roster(tmp_path):
    result = run_cli("grade", tmp_path / "nope.pdf", "--layout", SAMPLES / "layout.yaml",
                     "--key", SAMPLES / "key.csv", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "no such scan file" in result.output
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\n1,A\n")
    result = run_cli("grade", SAMPLES / "scans.pdf", "--layout", SAMPLES / "layout.yaml",
                     "--key", SAMPLES / "key.csv", "--roster", roster, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "missing student_id" in result.output


def test_cli_empty_pdf_writes_empty_reports_and_exits_2(tmp_path):
    empty = tmp_path / "empty.pdf"
    with open(empty, "wb") as f:
        PdfWriter().write(f)
    result = run_cli("grade", empty, "--layout", SAMPLES / "layout.yaml", "--key",
                     SAMPLES / "key.csv", "--out", tmp_path / "out", "--json")
    assert result.exit_code == 2
    summary = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert summary["students"] == 0
    assert any("has no pages" in p for p in summary["problems"])
    assert read_csv(tmp_path / "out" / "students.csv") == []
    assert len(PdfReader(tmp_path / "out" / "review.pdf").pages) == 1  # the legend alone
    again = run_cli("regrade", tmp_path / "out", "--json")
    assert again.exit_code == 2
    regraded = json.loads(again.stdout[: again.stdout.rindex("}") + 1])
    assert regraded["problems"] == summary["problems"]  # reading problems are remembered


def test_cli_regrade_of_a_folder_that_was_never_graded(tmp_path):
    result = run_cli("regrade", tmp_path)
    assert result.exit_code == 2 and "not a scangrade output folder" in result.output


def test_the_whole_review_loop_and_grade_never_drops_a_correction(tmp_path, reader):
    out = tmp_path / "out"
    assert grade_samples(out).exit_code == 0
    shutil.copytree(SAMPLES, tmp_path / "gone")  # the teacher's own files may move away
    fixes = tmp_path / "fixes.csv"
    first = read_csv(out / "students.csv")[0]
    fixes.write_text(f"student,question,value\n{first['student_id']},q1,7\n")
    result = run_cli("regrade", out, "--overrides", fixes)
    assert result.exit_code == 0, result.output
    assert "1 correction applied (1 from fixes.csv), kept in corrections.csv; 1 new from" \
        " fixes.csv" in result.output
    # grading into the folder again would drop it: refused, saying what to do
    again = grade_samples(out)
    assert again.exit_code == 2
    assert "already holds 1 teacher correction" in again.output
    assert "--keep-corrections" in again.output and "--force" in again.output
    # the same exam's scans again, keeping the corrections
    kept = grade_samples(out, "--keep-corrections")
    assert kept.exit_code == 0 and "1 correction applied" in kept.output
    # a --force run that fails before grading keeps them where they were
    broken = run_cli("grade", tmp_path / "missing.pdf", "--layout", SAMPLES / "layout.yaml",
                     "--key", SAMPLES / "key.csv", "--out", out, "--force")
    assert broken.exit_code == 2 and (out / JOURNAL_CSV).exists()
    # starting over sets them aside, never deletes them
    forced = grade_samples(out, "--force")
    assert forced.exit_code == 0 and "set aside" in forced.output
    assert not (out / JOURNAL_CSV).exists()
    (aside,) = out.glob("corrections-set-aside-*.csv")
    assert "fixes.csv" in aside.read_text(encoding="utf-8-sig")


def test_exam_copied_into_output_so_regrade_needs_nothing_else(graded, tmp_path):
    out, _ = graded
    shutil.rmtree(tmp_path / "in")  # the teacher's original files are gone
    result = run_cli("regrade", out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["students"] == 3


def test_regrade_with_a_corrected_key(graded, tmp_path):
    out, _ = graded
    key = tmp_path / "key2.csv"
    key.write_text("question,answer\nq1,13\nq2,7\nq3,0\nq4,45\n")
    result = run_cli("regrade", out, "--key", key)
    assert result.exit_code == 0, result.output
    assert "answer key replaced by key2.csv" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nq1,x\n")
    result = run_cli("regrade", out, "--key", bad)
    assert result.exit_code == 2 and "bad.csv, line 2" in result.output
