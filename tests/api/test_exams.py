"""Exams over HTTP: made from the form (errors in the form's words), listed per teacher,
printable sheets; and honest states while nothing can grade. No worker grades here."""

from __future__ import annotations

import io
import json
import time

import httpx
import pytest
from pypdf import PdfReader

from tests.helpers.service import TOKEN, Cluster
from worker.measure.local_cluster import start_api, wait_for

FORM = {"name": "Quiz 3: fractions", "id_digits": 5, "paper": "a4",
        "questions": [{"boxes": 2, "points": 1, "answer": "12"},
                      {"boxes": 1, "points": 2, "answer": "7|07"},
                      {"boxes": 3, "points": 1, "answer": ""}]}
ROSTER = "\ufeffstudent_id;name\n12345;Ada Lovelace\n23456;Grace Hopper\n"
# Its own Redis database: the shared cluster's workers neither grade its jobs nor answer
# its pings
IDLE_DB = 9


def create(client, form=FORM, **files) -> httpx.Response:
    return client.post("/api/exams", data={"form": json.dumps(form)}, files=files or None)


def test_an_exam_from_the_form(client, cluster: Cluster) -> None:
    response = create(client, roster=("roster.csv", ROSTER.encode()))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["questions"] == 3 and created["id_digits"] == 5
    assert created["roster_students"] == 2
    assert created["layout_exam_id"].startswith("quiz-3-fractions-")
    assert any("q3" in problem for problem in created["problems"])  # no answer: ungraded
    exam = client.get(f"/api/exams/{created['exam_id']}").json()
    assert (exam["name"], exam["owner"], exam["uploads"], exam["gradebook"]) == (
        "Quiz 3: fractions", "ada", 0, None)
    listed = client.get("/api/exams").json()
    assert listed[0]["exam_id"] == created["exam_id"]  # newest first
    key = (cluster.storage / "exams" / created["exam_id"] / "key.csv").read_text()
    assert key.splitlines()[1:] == ["q1,12,1", "q2,7|07,2"]


@pytest.mark.parametrize(("form", "words"), [
    ({**FORM, "questions": [{"boxes": 2, "answer": "1,2"}]},
     "question 1: the answer must be digits"),
    ({**FORM, "questions": [{"boxes": 11}]}, "question 1 boxes"),
    ({**FORM, "questions": []}, "at least one question"),
    ({**FORM, "name": ""}, "name"),
    ({**FORM, "questions": [{"boxes": 2, "answer": ""}]}, "the exam needs its answers"),
])
def test_form_mistakes_are_said_in_the_forms_words(client, form, words) -> None:
    response = create(client, form)
    assert response.status_code == 422
    assert words in response.json()["detail"]


def test_printable_sheets(client) -> None:
    exam_id = create(client, roster=("roster.csv", ROSTER.encode())).json()["exam_id"]
    default = client.get(f"/api/exams/{exam_id}/sheets.pdf")
    assert default.status_code == 200 and default.headers["content-type"] == "application/pdf"
    assert len(PdfReader(io.BytesIO(default.content)).pages) == 2  # the roster's size
    three = client.get(f"/api/exams/{exam_id}/sheets.pdf", params={"copies": 3})
    assert len(PdfReader(io.BytesIO(three.content)).pages) == 3
    assert client.get(f"/api/exams/{exam_id}/sheets.pdf",
                      params={"copies": 0}).status_code == 422


def test_before_any_upload_is_graded(client) -> None:
    exam_id = create(client).json()["exam_id"]
    report = client.get(f"/api/exams/{exam_id}/reports/students.csv")
    assert report.status_code == 404 and "no upload of this exam is graded" in report.text
    review = client.get(f"/api/exams/{exam_id}/review")
    assert review.status_code == 404 and "upload scans of this exam first" in review.text


@pytest.fixture(scope="module")
def idle_api(cluster: Cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("idle")
    env = {**cluster.env, "SCANGRADE_STORAGE_DIR": str(root / "storage"),
           "SCANGRADE_REDIS_URL": cluster.redis.url.rsplit("/", 1)[0] + f"/{IDLE_DB}",
           "SCANGRADE_WORKER_WATCH_S": "0.5"}
    api, base_url = start_api(env, root / "logs")
    with httpx.Client(base_url=base_url, timeout=60,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        yield http
    api.stop()


def test_with_no_worker_running_a_job_says_it_waits_for_one(idle_api) -> None:
    from tests.api.test_routes import one_page_pdf

    exam_id = create(idle_api).json()["exam_id"]
    job_id = idle_api.post(f"/api/exams/{exam_id}/jobs", content=one_page_pdf(),
                           headers={"Content-Type": "application/pdf"}).json()["job_id"]
    started = time.monotonic()
    wait_for(lambda: idle_api.get(f"/api/jobs/{job_id}").json()["waiting_for_worker"], 15,
             "the job to say it waits for a worker")
    assert time.monotonic() - started < 15
    exam = idle_api.get(f"/api/exams/{exam_id}").json()
    assert exam["upload_views"][0]["waiting_for_worker"] is True
