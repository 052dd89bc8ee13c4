"""The HTTP API over a real socket: auth, exam checks, upload limits. No worker needed."""

from __future__ import annotations

import io
import time

import pytest

from tests.helpers.service import ADMIN_TOKEN, OTHER_TOKEN, TEST_SETTINGS, Cluster, stored_files

LAYOUT = """\
exam_id: api-test
name: API test
id_digits: 4
questions:
  - {id: q1, boxes: 2}
  - {id: q2, boxes: 1, points: 2}
"""
KEY = "question,answer,points\nq1,42,1\nq2,7,2\n"
ROSTER = "student_id,name\n0001,Ada\n0002,Grace\n"


def one_page_pdf() -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, "not an answer sheet")
    page.save()
    return buffer.getvalue()


@pytest.fixture
def exam_id(client) -> str:
    response = client.post(
        "/api/exams",
        files={
            "layout": ("layout.yaml", LAYOUT),
            "key": ("key.csv", KEY),
            "roster": ("roster.csv", ROSTER),
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["layout_exam_id"] == "api-test"
    assert body["questions"] == 2 and body["roster_students"] == 2
    return body["exam_id"]


def test_health_needs_no_token(cluster: Cluster) -> None:
    with cluster.client(token=None) as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        ready = anonymous.get("/readyz").json()
        assert ready["redis"] == "ok"


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
def test_requests_without_a_valid_token_are_refused(cluster: Cluster, token) -> None:
    with cluster.client(token=token) as http:
        for method, path in [
            ("POST", "/api/exams"),
            ("GET", "/api/exams/AAAAAAAAAAAAAAAAAAAAAA"),
            ("GET", "/api/jobs/AAAAAAAAAAAAAAAAAAAAAA"),
            ("POST", "/api/exams/AAAAAAAAAAAAAAAAAAAAAA/jobs"),
            ("GET", "/api/jobs/AAAAAAAAAAAAAAAAAAAAAA/reports/students.csv"),
        ]:
            response = http.request(method, path)
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"


def _status_before_sending_a_body(cluster: Cluster, authorization: str | None,
                                  length: int) -> int:
    """Sends only the headers of a large multipart POST and returns the status the server
    answers with before a byte of the body has been sent (it must not wait for the body)."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(cluster.base_url)
    lines = ["POST /api/exams HTTP/1.1", f"Host: {url.hostname}",
             "Content-Type: multipart/form-data; boundary=xyz", f"Content-Length: {length}"]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


def test_no_token_is_refused_before_the_body_is_read(cluster: Cluster) -> None:
    assert _status_before_sending_a_body(cluster, None, 100 * 1024 * 1024) == 401
    assert _status_before_sending_a_body(cluster, "Bearer wrong", 100 * 1024 * 1024) == 401


def test_oversized_exam_form_is_refused_before_the_body_is_read(cluster: Cluster) -> None:
    from tests.helpers.service import TOKEN

    status = _status_before_sending_a_body(cluster, f"Bearer {TOKEN}", 100 * 1024 * 1024)
    assert status == 413


def test_teachers_see_only_their_own_exams_and_the_office_sees_all(
        cluster: Cluster, client, exam_id: str) -> None:
    job_id = client.post(f"/api/exams/{exam_id}/jobs", content=one_page_pdf(),
                         headers={"Content-Type": "application/pdf"}).json()["job_id"]
    mine = [exam["exam_id"] for exam in client.get("/api/exams").json()]
    assert exam_id in mine
    with cluster.client(token=OTHER_TOKEN) as other:
        assert exam_id not in [exam["exam_id"] for exam in other.get("/api/exams").json()]
        for path in (f"/api/exams/{exam_id}", f"/api/exams/{exam_id}/sheets.pdf",
                     f"/api/exams/{exam_id}/review", f"/api/exams/{exam_id}/reports/students.csv",
                     f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/reports/students.csv",
                     f"/api/jobs/{job_id}/pages/1"):
            response = other.get(path)
            assert response.status_code == 404, path  # as if it did not exist
            assert exam_id not in response.text or "no exam" in response.text
        upload = other.post(f"/api/exams/{exam_id}/jobs", content=one_page_pdf(),
                            headers={"Content-Type": "application/pdf"})
        assert upload.status_code == 404
    with cluster.client(token=ADMIN_TOKEN) as office:
        assert office.get(f"/api/exams/{exam_id}").status_code == 200
        assert exam_id in [exam["exam_id"] for exam in office.get("/api/exams").json()]


def test_ids_are_unguessable_and_unknown_ids_404(client, exam_id: str) -> None:
    assert len(exam_id) >= 22  # 128 random bits, URL-safe base64
    assert client.get("/api/jobs/AAAAAAAAAAAAAAAAAAAAAA").status_code == 404
    assert client.get("/api/jobs/..%2F..%2Fetc").status_code == 404


def test_a_bad_layout_is_refused_with_its_line_and_nothing_is_stored(
    cluster: Cluster, client
) -> None:
    before = stored_files(cluster.storage)
    bad = LAYOUT.replace("boxes: 1", "boxes: 99")
    response = client.post(
        "/api/exams", files={"layout": ("layout.yaml", bad), "key": ("key.csv", KEY)}
    )
    assert response.status_code == 422
    assert "boxes" in response.json()["detail"]
    assert str(cluster.storage) not in response.json()["detail"]  # no server paths leak
    response = client.post(
        "/api/exams",
        files={"layout": ("layout.yaml", LAYOUT), "key": ("key.csv", "question,answer\nq1,x\n")},
    )
    assert response.status_code == 422
    assert "key.csv" in response.json()["detail"]
    assert stored_files(cluster.storage) == before


def test_a_deeply_nested_layout_is_refused_at_once(cluster: Cluster, client) -> None:
    """20,000 levels in 40 KB: parsing it would take the API tens of seconds."""
    before = stored_files(cluster.storage)
    deep = "[" * 20_000 + "]" * 20_000
    started = time.monotonic()
    response = client.post(
        "/api/exams", files={"layout": ("layout.json", deep), "key": ("key.csv", KEY)}
    )
    assert time.monotonic() - started < 2.0
    assert response.status_code == 422, response.text
    assert "nested more than 20 levels deep" in response.json()["detail"]
    assert stored_files(cluster.storage) == before


def test_non_pdf_upload_is_refused_and_nothing_is_stored(
    cluster: Cluster, client, exam_id: str
) -> None:
    before = stored_files(cluster.storage)
    for body in [b"PK\x03\x04 a zip file" * 100, b"hello", b"x" * 5000]:
        response = client.post(f"/api/exams/{exam_id}/jobs", content=body)
        assert response.status_code == 415, response.text
        assert "neither a PDF nor a photo" in response.json()["detail"]
    # Right magic bytes, broken inside: pypdf cannot read it.
    response = client.post(f"/api/exams/{exam_id}/jobs", content=b"%PDF-1.7\ngarbage\n%%EOF\n")
    assert response.status_code == 422, response.text
    assert stored_files(cluster.storage) == before


def test_oversized_upload_is_refused_and_nothing_is_stored(
    cluster: Cluster, client, exam_id: str
) -> None:
    before = stored_files(cluster.storage)
    limit = TEST_SETTINGS["max_upload_bytes"]
    pdf = one_page_pdf()
    oversized = pdf + b"\n%" + b"0" * (limit - len(pdf))  # a valid PDF with a long comment

    # Declared length over the limit: refused before the body is read.
    response = client.post(f"/api/exams/{exam_id}/jobs", content=oversized)
    assert response.status_code == 413, response.text

    # No declared length (chunked): refused while streaming.
    def pieces():
        for start in range(0, len(oversized), 256 * 1024):
            yield oversized[start : start + 256 * 1024]

    response = client.post(f"/api/exams/{exam_id}/jobs", content=pieces())
    assert response.status_code == 413, response.text
    assert stored_files(cluster.storage) == before


def test_upload_to_unknown_exam_is_404(client) -> None:
    response = client.post("/api/exams/AAAAAAAAAAAAAAAAAAAAAA/jobs", content=one_page_pdf())
    assert response.status_code == 404


def test_openapi_documents_the_endpoints(cluster: Cluster) -> None:
    with cluster.client(token=None) as anonymous:
        paths = anonymous.get("/openapi.json").json()["paths"]
        assert anonymous.get("/docs").status_code == 200
    for path in [
        "/api/exams",
        "/api/exams/{exam_id}/jobs",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/reports/{name}",
        "/api/jobs/{job_id}/overrides",
    ]:
        assert path in paths
