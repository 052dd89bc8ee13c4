"""Jobs through the real service: redis-server, celery workers and the API as subprocesses.

Each job's reports are compared with what `scangrade grade` (in process, the laptop path)
writes for the same files, so the service can only pass by grading exactly like the CLI.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from typer.testing import CliRunner

from tests.helpers import bad_pdfs
from tests.helpers.service import (
    Cluster,
    create_exam,
    sample_paths,
    upload,
    wait_done,
)
from worker.grading.report_files import CSV_REPORTS, GRADED_ZIP, JOURNAL_CSV, REVIEW_PDF
from worker.measure.local_cluster import finished_tasks, unfinished_tasks, wait_for
from worker.service.storage import Storage

SAMPLE_PAGES = 15


@pytest.fixture(scope="module")
def cli_reports(tmp_path_factory) -> Path:
    """`scangrade grade` on the sample files, in this process."""
    from api.cli import build_app

    out = tmp_path_factory.mktemp("cli") / "reports"
    paths = sample_paths()
    result = CliRunner().invoke(
        build_app(),
        ["grade", str(paths["scans"]), "--layout", str(paths["layout"]), "--key",
         str(paths["key"]), "--roster", str(paths["roster"]), "--out", str(out),
         "--no-progress"],
    )  # fmt: skip
    assert result.exit_code in (0, 3), result.output
    return out


def cli_pages(cli_reports: Path) -> list[dict]:
    lines = (cli_reports / "inputs" / "pages.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def service_pages(cluster: Cluster, job_id: str) -> list[dict]:
    """Every page result the workers wrote for a job, across its chunk files."""
    pages = []
    for chunk in sorted(Storage(cluster.storage).pages_dir(job_id).glob("*.jsonl")):
        pages += [json.loads(line) for line in chunk.read_text().splitlines()]
    return pages


def assert_reports_equal_cli(http, job_id: str, cli_reports: Path) -> None:
    for name in CSV_REPORTS:
        response = http.get(f"/api/jobs/{job_id}/reports/{name}")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        expected = (cli_reports / name).read_bytes()
        if response.content != expected:
            diff = [
                (ours, cli)
                for ours, cli in zip(
                    response.content.splitlines(), expected.splitlines(), strict=False
                )
                if ours != cli
            ]
            raise AssertionError(f"{name} differs from the CLI's: (service, cli) {diff[:3]}")
    review = http.get(f"/api/jobs/{job_id}/reports/review.pdf")
    assert review.status_code == 200 and review.content.startswith(b"%PDF-")
    expected = PdfReader(cli_reports / REVIEW_PDF)
    assert len(PdfReader(io.BytesIO(review.content)).pages) == len(expected.pages)
    graded = http.get(f"/api/jobs/{job_id}/reports/{GRADED_ZIP}")
    assert graded.status_code == 200 and graded.headers["content-type"] == "application/zip"


def assert_counted_once(cluster: Cluster, state: dict, n_pages: int) -> None:
    assert state["pages_total"] == n_pages
    assert state["pages_done"] == n_pages  # not more: no chunk counted twice
    assert state["chunks_done"] == state["chunks_total"] > 1
    pages = service_pages(cluster, state["job_id"])
    assert sorted(page["source_page"] for page in pages) == list(range(1, n_pages + 1))
    problem_pages = [problem["page"] for problem in state["problems"]]
    assert len(problem_pages) == len(set(problem_pages))


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def sub_pdf(first: int, last: int) -> bytes:
    writer = PdfWriter()
    for page in PdfReader(sample_paths()["scans"]).pages[first - 1 : last]:
        writer.add_page(page)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_uploaded_sample_gets_the_same_reports_as_the_cli(service: Cluster, cli_reports) -> None:
    with service.client() as http:
        exam_id = create_exam(http)
        job_id = upload(http, exam_id, sample_paths()["scans"].read_bytes())
        state = wait_done(service, http, job_id)
        assert_counted_once(service, state, SAMPLE_PAGES)
        assert_reports_equal_cli(http, job_id, cli_reports)
        # The blank page, the text page and the other exam's sheet are reported as problems.
        assert {problem["status"] for problem in state["problems"]} >= {"blank-page"}
        assert state["summary"]["students"] >= 12
        assert set(state["reports"]) == {*CSV_REPORTS, REVIEW_PDF, GRADED_ZIP}
        # the page images the chunk tasks kept went into the reports: nothing rasterized twice
        previews = Storage(service.storage).previews_dir(job_id)
        assert len(list(previews.glob("*.jpg"))) == SAMPLE_PAGES


def test_two_jobs_at_once_stay_separate(service: Cluster, cli_reports) -> None:
    full = cli_pages(cli_reports)
    split = 7  # one sheet per page, so any split keeps students whole
    with service.client() as http:
        exam_id = create_exam(http, roster=False)
        first = upload(http, exam_id, sub_pdf(1, split), "first.pdf")
        second = upload(http, exam_id, sub_pdf(split + 1, SAMPLE_PAGES), "second.pdf")
        states = [wait_done(service, http, job) for job in (first, second)]
        assert [state["pages_done"] for state in states] == [split, SAMPLE_PAGES - split]
        for job_id, offset in ((first, 0), (second, split)):
            pages = service_pages(service, job_id)
            for page in pages:
                expected = full[page["source_page"] - 1 + offset]
                assert page["status"] == expected["status"]
                assert [box["digit"] for box in page["boxes"]] == [
                    box["digit"] for box in expected["boxes"]
                ]
        ids = [
            {row["student_id"] for row in read_csv(
                http.get(f"/api/jobs/{job}/reports/students.csv").content)}
            for job in (first, second)
        ]  # fmt: skip
        assert ids[0] and ids[1] and not ids[0] & ids[1]


def _wait_some_chunks_done(cluster: Cluster, http, job_id: str) -> None:
    def started() -> bool:
        state = http.get(f"/api/jobs/{job_id}").json()
        assert state["status"] not in ("done", "failed"), "finished before the fault"
        return state["chunks_done"] >= 1

    wait_for(started, 120, "the first chunk", poll_s=0.1)


def test_killed_worker_loses_nothing(service: Cluster, cli_reports) -> None:
    """kill -9 mid-job: the message it held was never acknowledged (acks_late), so Redis
    redelivers it to the next worker after the (test-short) visibility timeout."""
    with service.client() as http:
        exam_id = create_exam(http)
        job_id = upload(http, exam_id, sample_paths()["scans"].read_bytes())
        _wait_some_chunks_done(service, http, job_id)
        killed = [worker for worker in service.workers if worker.alive()]
        # Kill while a chunk runs (not in the instant between two tasks).
        wait_for(
            lambda: any(unfinished_tasks(worker.log()) for worker in killed),
            60,
            "a running chunk",
            poll_s=0.02,
        )
        for worker in killed:
            worker.kill9()
        state = http.get(f"/api/jobs/{job_id}").json()
        in_flight = set().union(*(unfinished_tasks(worker.log()) for worker in killed))
        replacement = service.start_worker()  # before asserting: later tests need a worker
        assert state["status"] != "done" and state["pages_done"] < SAMPLE_PAGES
        assert in_flight, "the worker was killed between tasks; nothing to redeliver"
        state = wait_done(service, http, job_id)
        assert_counted_once(service, state, SAMPLE_PAGES)
        assert_reports_equal_cli(http, job_id, cli_reports)
        # The very message the dead worker held is redelivered and run by the new one. The
        # job may be done before that: a task killed after its work counted but before its
        # ack finished the chord, and its message comes back after the visibility timeout.
        wait_for(lambda: in_flight <= finished_tasks(replacement.log()), 60,
                 "the dead worker's task to run again")


def test_redis_restart_mid_job(service: Cluster, cli_reports) -> None:
    """Redis restarts mid-job. Kept (appendonly, fsync always, as in deploy/compose.yaml but
    fsync per write): the queue, unacknowledged messages, job state and chord counters; the
    workers and the API reconnect. A task whose result or ack was lost runs again
    (idempotent). Without persistence the job state would be gone: see test_lost_state_*."""
    with service.client() as http:
        exam_id = create_exam(http)
        job_id = upload(http, exam_id, sample_paths()["scans"].read_bytes())
        _wait_some_chunks_done(service, http, job_id)
        service.redis.restart(down_s=1.0)
        state = wait_done(service, http, job_id)
        assert_counted_once(service, state, SAMPLE_PAGES)
        assert_reports_equal_cli(http, job_id, cli_reports)


def test_state_lost_in_redis_is_rebuilt_from_storage(service: Cluster) -> None:
    """Redis without persistence loses job state; the files on disk do not. A finished job
    still shows as done with its reports, its exam still lists it, and an unfinished one is
    queued again by the API's recovery sweep on its own: only chunks not on disk are read
    again."""
    import redis

    with service.client() as http:
        exam_id = create_exam(http)
        job_id = upload(http, exam_id, sub_pdf(1, 5), "five.pdf")
        wait_done(service, http, job_id)
        before = {
            name: http.get(f"/api/jobs/{job_id}/reports/{name}").content for name in CSV_REPORTS
        }
        client = redis.Redis.from_url(service.redis.url)
        client.delete(*client.keys(f"scangrade:job:{job_id}*"))
        # Finished: the reports on disk say so, and the exam's list is on disk too.
        assert http.get(f"/api/jobs/{job_id}").json()["status"] == "done"
        assert http.get(f"/api/exams/{exam_id}").json()["jobs"] == [job_id]
        # Unfinished: drop the reports and one chunk, as if Redis died mid-job.
        storage = Storage(service.storage)
        chunks = sorted(storage.pages_dir(job_id).glob("*.jsonl"))
        kept = {path: path.stat().st_mtime_ns for path in chunks[1:]}
        chunks[0].unlink()
        shutil.rmtree(storage.reports_dir(job_id))
        state = wait_done(service, http, job_id)  # no one asked: the sweep queued it again
        assert_counted_once(service, state, 5)
        assert {path: path.stat().st_mtime_ns for path in kept} == kept  # not read again
        for name, content in before.items():
            assert http.get(f"/api/jobs/{job_id}/reports/{name}").content == content, name
        assert http.post(f"/api/jobs/{job_id}/resume").status_code == 409  # done: no resume


def test_redis_emptied_mid_job_heals_on_its_own(service: Cluster, cli_reports) -> None:
    """Redis restarted without persistence mid-job: job state, the queue and the chord's
    counter are gone. The recovery sweep finds the job on disk without state and queues it
    again; its chunks already on disk are kept; the reports equal the CLI's."""
    import redis

    with service.client() as http:
        exam_id = create_exam(http)
        job_id = upload(http, exam_id, sample_paths()["scans"].read_bytes())
        _wait_some_chunks_done(service, http, job_id)
        redis.Redis.from_url(service.redis.url).flushall()
        state = wait_done(service, http, job_id)
        assert state["pages_done"] == SAMPLE_PAGES
        assert_reports_equal_cli(http, job_id, cli_reports)
        assert http.get(f"/api/exams/{exam_id}").json()["jobs"] == [job_id]


def test_a_damaged_page_costs_only_that_page(service: Cluster, cli_reports, tmp_path) -> None:
    """Page 8 of the class scan damaged (a text page, no student's): the job says so at
    page 8, every other page keeps its number, and the students' grades are the CLI's for
    the undamaged scan."""
    damaged = bad_pdfs.damaged_page(tmp_path, 8)
    with service.client() as http:
        exam_id = create_exam(http)
        job_id = upload(http, exam_id, damaged.read_bytes(), damaged.name)
        state = wait_done(service, http, job_id)
        assert state["pages_done"] == SAMPLE_PAGES
        (problem,) = [p for p in state["problems"] if p["page"] == 8]
        assert "damaged-page-8.pdf page 8 is damaged" in problem["message"]
        pages = read_csv(http.get(f"/api/jobs/{job_id}/reports/pages.csv").content)
        expected = read_csv((cli_reports / "pages.csv").read_bytes())
        assert [row["pdf_page"] for row in pages] == [row["pdf_page"] for row in expected]
        for ours, theirs in zip(pages, expected, strict=True):
            if ours["pdf_page"] != "8":
                assert (ours["status"], ours["student_id"]) == (
                    theirs["status"], theirs["student_id"]), ours["pdf_page"]
        students = http.get(f"/api/jobs/{job_id}/reports/students.csv").content
        assert students == (cli_reports / "students.csv").read_bytes()


def test_corrections_accumulate_in_the_jobs_journal(service: Cluster) -> None:
    with service.client() as http:
        exam_id = create_exam(http)
        job_id = upload(http, exam_id, sub_pdf(1, 2), "two.pdf")
        wait_done(service, http, job_id)
        students = read_csv(http.get(f"/api/jobs/{job_id}/reports/students.csv").content)
        student = students[0]["student_id"]
        response = http.post(
            f"/api/jobs/{job_id}/overrides",
            params={"filename": "monday.csv"},
            content=f"student,question,value\n{student},q1,7\n{student},q2,\n",
            headers={"Content-Type": "text/csv"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["summary"]["overrides"] == 2
        # ids and URLs only: no server path (the storage folder, a staging folder) shown
        assert str(service.storage) not in response.text and "out_dir" not in response.text
        # a second file adds to the first: q2 again (it wins) and q3
        response = http.post(
            f"/api/jobs/{job_id}/overrides", params={"filename": "tuesday.csv"},
            content=f"student,question,value\n{student},q2,56\n{student},q3,9\n",
            headers={"Content-Type": "text/csv"},
        )
        assert response.status_code == 200, response.text
        summary = response.json()["summary"]
        assert summary["overrides"] == 3
        assert summary["corrections_sources"] == {"monday.csv": 1, "tuesday.csv": 2}
        journal = http.get(f"/api/jobs/{job_id}/reports/{JOURNAL_CSV}")
        assert journal.status_code == 200 and journal.text.count(student) == 4
        assert JOURNAL_CSV in http.get(f"/api/jobs/{job_id}").json()["reports"]
        responses = http.get(f"/api/jobs/{job_id}/reports/responses.csv").text
        assert responses != ""
        bad = http.post(
            f"/api/jobs/{job_id}/overrides",
            content="student,question,value\nnobody,q1,7\n",
            headers={"Content-Type": "text/csv"},
        )
        assert bad.status_code == 422 and "line 2" in bad.json()["detail"]
        # A rejected overrides file changes nothing: the last good regrade stays published.
        assert http.get(f"/api/jobs/{job_id}/reports/responses.csv").text == responses
        # The scan is kept once: the reports' saved inputs link to the job's copy, before
        # and after regrades.
        storage = Storage(service.storage)
        (scan,) = storage.scan_path(job_id, "two.pdf").parent.iterdir()
        (saved,) = (storage.reports_dir(job_id) / "inputs" / "scans").iterdir()
        assert saved.stat().st_ino == scan.stat().st_ino


def test_a_failing_job_says_why_and_can_be_resumed(service: Cluster) -> None:
    with service.client() as http:
        exam_id = create_exam(http)
        key = Storage(service.storage).exam_dir(exam_id) / "key.csv"
        saved = key.read_bytes()
        key.unlink()  # the shared storage lost a file the workers need
        job_id = upload(http, exam_id, sub_pdf(1, 2), "two.pdf")

        def failed() -> bool:
            return http.get(f"/api/jobs/{job_id}").json()["status"] == "failed"

        wait_for(failed, 60, "the job to fail", poll_s=0.1)
        error = http.get(f"/api/jobs/{job_id}").json()["error"]
        assert "key.csv: cannot read the file" in error
        assert str(service.storage) not in error  # the file's name, never a server path
        key.write_bytes(saved)
        assert http.post(f"/api/jobs/{job_id}/resume").status_code == 202
        state = wait_done(service, http, job_id)
        assert state["pages_done"] == 2 and state["error"] == ""
