"""Hostile and damaged PDFs uploaded over HTTP get the verdict `scangrade grade` gives them
(one inspection for both, worker.scan.pdf): refused in words with nothing kept, or accepted
with every real page counted."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.helpers import bad_pdfs
from tests.helpers.service import TOKEN, Cluster, create_exam, stored_files
from worker.measure.local_cluster import start_api
from worker.service.storage import Storage

# Its own Redis database: no worker of the shared cluster grades the jobs accepted here.
VERDICT_DB = 8
ANSWER_S = 5.0  # a crafted file is judged at once, not after walking its bomb


@pytest.fixture(scope="module")
def verdict_api(cluster: Cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("verdicts")
    redis_url = cluster.redis.url.rsplit("/", 1)[0] + f"/{VERDICT_DB}"
    env = {**cluster.env, "SCANGRADE_STORAGE_DIR": str(root / "storage"),
           "SCANGRADE_REDIS_URL": redis_url}
    api, base_url = start_api(env, root / "logs")
    with httpx.Client(base_url=base_url, timeout=60,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        yield http, Storage(root / "storage"), create_exam(http), root
    api.stop()


@pytest.mark.parametrize(("case", "status", "words"), [
    ("user password", 422, "is encrypted with a password; save it without a password"),
    ("kids loop", 422, "is a damaged PDF: its list of pages loops back on itself"),
    ("deeply nested", 422, "is a damaged PDF: its structure cannot be read"),
    ("2001 pages, count 100", 413, "has 2001 pages; at most 2000 are accepted"),
])
def test_files_refused_in_words_leave_nothing(verdict_api, case, status, words) -> None:
    http, storage, exam_id, root = verdict_api
    path = bad_pdfs.CASES[case](root)
    before = stored_files(storage.root)
    start = time.monotonic()
    response = http.post(f"/api/exams/{exam_id}/jobs", params={"filename": path.name},
                         content=path.read_bytes(), headers={"Content-Type": "application/pdf"})
    assert time.monotonic() - start < ANSWER_S
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert stored_files(storage.root) == before


@pytest.mark.parametrize(("case", "note"), [
    ("count 3", "says it has 3 pages but holds 15"),
    ("owner password only", ""),
    ("page 8 damaged", "page 8 is damaged"),
])
def test_files_accepted_count_every_real_page(verdict_api, case, note) -> None:
    http, storage, exam_id, root = verdict_api
    path = bad_pdfs.CASES[case](root)
    response = http.post(f"/api/exams/{exam_id}/jobs", params={"filename": path.name},
                         content=path.read_bytes(), headers={"Content-Type": "application/pdf"})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["pages"] == bad_pdfs.SAMPLE_PAGES
    manifest = storage.manifest(job["job_id"])
    assert manifest is not None
    assert note in manifest.scan_note if note else manifest.scan_note == ""
    assert manifest.damaged_pages == ((8,) if case == "page 8 damaged" else ())
    assert not list(storage.tmp_dir.iterdir())  # staging (and any repaired copy's folder) gone
    scans = list(storage.scan_path(job["job_id"], path.name).parent.iterdir())
    assert [scan.name for scan in scans] == [path.name]  # one copy: the one the workers render

