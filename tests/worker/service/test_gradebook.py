"""An exam's gradebook through the real service: every upload of the exam graded as one class
(equal to `scangrade grade` given the same PDFs), reviewed through the review API, and an
upload of another exam's sheets that says so instead of "done"."""

from __future__ import annotations

import io
import json

import pikepdf
import pytest
from typer.testing import CliRunner

from tests.helpers.service import Cluster, create_exam, sample_paths, upload, wait_done
from worker.grading.report_files import CSV_REPORTS, JOURNAL_CSV
from worker.measure.local_cluster import wait_for

SAMPLE_PAGES = 15
SPLIT_AT = 8  # the copier's first file ends here


def halves(folder):
    files = []
    with pikepdf.open(sample_paths()["scans"]) as source:
        for name, pages in (("part 1.pdf", source.pages[:SPLIT_AT]),
                            ("part 2.pdf", source.pages[SPLIT_AT:])):
            with pikepdf.new() as part:
                part.pages.extend(pages)
                part.save(folder / name)
            files.append(folder / name)
    return files


@pytest.fixture(scope="module")
def cli_two_files(tmp_path_factory):
    """`scangrade grade part1.pdf part2.pdf`: the laptop's one run over both files."""
    from api.cli import build_app

    folder = tmp_path_factory.mktemp("two-files")
    first, second = halves(folder)
    paths = sample_paths()
    out = folder / "reports"
    result = CliRunner().invoke(build_app(), [
        "grade", str(first), str(second), "--layout", str(paths["layout"]), "--key",
        str(paths["key"]), "--roster", str(paths["roster"]), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    return out, (first, second)


def wait_gradebook(http, exam_id: str, uploads: int) -> dict:
    def ready() -> bool:
        book = http.get(f"/api/exams/{exam_id}").json()["gradebook"]
        return book is not None and book["uploads_included"] == uploads
    wait_for(ready, 120, f"the gradebook of {uploads} uploads", poll_s=0.25)
    return http.get(f"/api/exams/{exam_id}").json()["gradebook"]


def test_two_uploads_are_one_class_and_the_review_changes_the_reports(
        service: Cluster, cli_two_files) -> None:
    reports, (first, second) = cli_two_files
    with service.client() as http:
        exam_id = create_exam(http)
        for part in (first, second):
            wait_done(service, http, upload(http, exam_id, part.read_bytes(), part.name))
        book = wait_gradebook(http, exam_id, 2)
        assert book["students"] == 12 and book["uploads_graded"] == 2
        for name in CSV_REPORTS:
            ours = http.get(f"/api/exams/{exam_id}/reports/{name}").content
            assert ours == (reports / name).read_bytes(), f"{name} differs from the CLI's"

        queue = http.get(f"/api/exams/{exam_id}/review").json()
        assert len(queue["items"]) == book["to_review"] > 0
        crop = http.get(queue["items"][0]["crop_url"])
        assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
        decisions = [{"copy": item["copy"], "question": item["question"],
                      "value": "yes" if item["kind"] == "sheet" else
                      (item["candidates"][0]["student_id"] if item["kind"] == "id" else "ok")}
                     for item in queue["items"]]
        bad = http.post(f"/api/exams/{exam_id}/review",
                        json={"decisions": [{**decisions[0], "question": "q99"}]})
        assert bad.status_code == 422 and bad.json()["detail"].startswith("decision 1:")
        done = http.post(f"/api/exams/{exam_id}/review", json={"decisions": decisions})
        assert done.status_code == 200, done.text
        assert done.json()["items"] == []
        journal = http.get(f"/api/exams/{exam_id}/reports/{JOURNAL_CSV}").text
        assert journal.count("review-screen.csv") == len(decisions)
        students = http.get(f"/api/exams/{exam_id}/reports/students.csv").text
        assert "needs review" not in students
        # the first file uploaded again: the gradebook is regraded from every upload...
        late = upload(http, exam_id, first.read_bytes(), "part 1 again.pdf")
        wait_done(service, http, late)
        again = wait_gradebook(http, exam_id, 3)
        # ...the decisions stand; only the sheets scanned twice now ask for a look
        items = http.get(f"/api/exams/{exam_id}/review").json()["items"]
        assert len(items) == again["to_review"] > 0
        assert all(item["kind"] == "sheet" and "scanned 2 times" in item["reason"]
                   for item in items)
        assert http.get(f"/api/exams/{exam_id}/reports/{JOURNAL_CSV}").text == journal


def test_an_upload_of_another_exam_says_so(service: Cluster) -> None:
    with service.client() as http:
        exam_id = http.post("/api/exams", data={"form": json.dumps({
            "name": "Another quiz", "questions": [{"boxes": 2, "answer": "12"}]})}).json()[
            "exam_id"]
        with pikepdf.open(sample_paths()["scans"]) as source, pikepdf.new() as part:
            part.pages.extend(source.pages[:3])
            buffer = io.BytesIO()
            part.save(buffer)
        job_id = upload(http, exam_id, buffer.getvalue(), "wrong class.pdf")

        def failed() -> bool:
            return http.get(f"/api/jobs/{job_id}").json()["status"] == "failed"
        wait_for(failed, 120, "the job to fail", poll_s=0.25)
        error = http.get(f"/api/jobs/{job_id}").json()["error"]
        assert error.startswith('none of the 3 pages is a sheet of exam "Another quiz"')
        assert "are sheets of exam math7-unit4 (upload them to that exam)" in error
