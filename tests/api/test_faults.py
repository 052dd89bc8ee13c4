"""What the API answers when something underneath fails, over a real socket with a real
redis-server: Redis down, a full disk, clients that send too slowly. Quickly, in words,
keeping nothing."""

from __future__ import annotations

import contextlib
import errno
import socket
import time

import httpx
import pytest
from fastapi import HTTPException

from api.faults import disk_full_as_507
from tests.helpers.paths import SAMPLES
from tests.helpers.service import (
    TEST_SETTINGS,
    TOKEN,
    Cluster,
    create_exam,
    elapsed,
    stored_files,
    upload,
)
from worker.measure.local_cluster import start_api, wait_for

# A teacher waiting on a page: "try again" must come at once, not after Redis' retries.
QUICK_S = 3.0
# Slow clients are cut off within their timeout and this much more (a loaded CI machine).
CUT_OFF_MARGIN_S = 4.0


def one_page() -> bytes:
    import io

    import pikepdf

    buffer = io.BytesIO()
    with pikepdf.open(SAMPLES / "scans.pdf") as source, pikepdf.new() as pdf:
        pdf.pages.append(source.pages[0])
        pdf.save(buffer)
    return buffer.getvalue()


def test_redis_down_is_503_at_once_and_an_upload_keeps_nothing(cluster: Cluster) -> None:
    with cluster.client() as http:
        exam_id = create_exam(http)
        job_id = upload(http, exam_id, one_page(), "one.pdf")
        before = stored_files(cluster.storage)
        cluster.redis.stop()
        try:
            for method, path, body in (
                ("GET", f"/api/jobs/{job_id}", None),
                ("POST", f"/api/exams/{exam_id}/jobs", one_page()),
                ("POST", f"/api/jobs/{job_id}/resume", None),
            ):
                start = time.monotonic()
                response = http.request(method, path, content=body,
                                        headers={"Content-Type": "application/pdf"})
                assert response.status_code == 503, (path, response.text)
                assert elapsed(start) < QUICK_S, path
                assert response.headers["Retry-After"] == "30"
                assert "try again in a minute" in response.json()["detail"]
            assert http.get("/readyz").status_code == 503
            # the exam's page still shows its jobs: they are listed on disk
            assert http.get(f"/api/exams/{exam_id}").json()["jobs"] == [job_id]
            assert stored_files(cluster.storage) == before  # the refused upload left nothing
        finally:
            cluster.redis.start()
        wait_for(lambda: http.get(f"/api/jobs/{job_id}").status_code == 200, 15,
                 "the API after Redis came back")


@pytest.fixture(scope="module")
def full_disk_api(cluster: Cluster, tmp_path_factory):
    """A second API on the same Redis whose disk counts as full (min_free_bytes above any
    disk's free space): (its URL, its storage folder)."""
    root = tmp_path_factory.mktemp("full-disk")
    env = {**cluster.env, "SCANGRADE_STORAGE_DIR": str(root / "storage"),
           "SCANGRADE_MIN_FREE_BYTES": str(2**62)}
    api, base_url = start_api(env, root / "logs")
    yield base_url, root / "storage"
    api.stop()


def test_a_full_disk_is_507_and_keeps_nothing(full_disk_api) -> None:
    base_url, storage = full_disk_api
    with httpx.Client(base_url=base_url, timeout=60,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        exam_id = create_exam(http)
        before = stored_files(storage)
        response = http.post(f"/api/exams/{exam_id}/jobs", content=one_page(),
                             headers={"Content-Type": "application/pdf"})
    assert response.status_code == 507, response.text
    assert "disk is full" in response.json()["detail"]
    assert stored_files(storage) == before


def test_a_disk_that_fills_while_writing_is_507() -> None:
    """/dev/full answers every write with ENOSPC, as a disk that just filled up does."""
    with (pytest.raises(HTTPException) as caught, disk_full_as_507(),
          open("/dev/full", "wb", buffering=0) as fh):
        fh.write(b"%PDF-1.4 a page")
    assert caught.value.status_code == 507
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.errno == errno.ENOSPC


def _open_slowly(base_url: str, count: int) -> list[socket.socket]:
    host, port = base_url.removeprefix("http://").split(":")
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)), timeout=10)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: scangrade\r\n")  # and never the end
        sockets.append(sock)
    return sockets


def _closed(sock: socket.socket) -> bool:
    try:
        sock.settimeout(0.05)
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_slow_clients_cannot_hold_the_servers_sockets(cluster: Cluster) -> None:
    """A slowloris: many connections that send their request head a byte at a time. Each is
    closed once header_read_timeout_s has passed; the API answers everyone else meanwhile."""
    timeout_s = float(TEST_SETTINGS["header_read_timeout_s"])
    sockets = _open_slowly(cluster.base_url, 100)
    start = time.monotonic()
    try:
        with cluster.client() as http:
            while elapsed(start) < timeout_s + CUT_OFF_MARGIN_S:
                for sock in sockets:
                    with contextlib.suppress(OSError):  # closed already
                        sock.sendall(b"X")  # one more byte of a header that never ends
                assert http.get("/healthz").status_code == 200
                if all(_closed(sock) for sock in sockets):
                    break
                time.sleep(0.5)
        open_left = [sock for sock in sockets if not _closed(sock)]
        assert not open_left, f"{len(open_left)} of {len(sockets)} slow connections still open"
        assert elapsed(start) > timeout_s - 1  # not closed before their time
    finally:
        for sock in sockets:
            sock.close()


def test_an_upload_that_stalls_is_408_and_keeps_nothing(cluster: Cluster) -> None:
    timeout_s = float(TEST_SETTINGS["body_read_timeout_s"])
    with cluster.client() as http:
        exam_id = create_exam(http)
    before = stored_files(cluster.storage)
    host, port = cluster.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = (f"POST /api/exams/{exam_id}/jobs HTTP/1.1\r\nHost: scangrade\r\n"
                f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/pdf\r\n"
                "Content-Length: 100000\r\n\r\n")
        sock.sendall(head.encode() + b"%PDF-1.4 the first bytes of a scan")
        start = time.monotonic()
        answer = sock.recv(4096)  # then nothing more is sent
        while answer.count(b"\r\n\r\n") and not answer.endswith(b"}"):  # the body may follow
            more = sock.recv(4096)
            if not more:
                break
            answer += more
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"nothing arrived" in answer
    assert timeout_s - 1 < elapsed(start) < timeout_s + CUT_OFF_MARGIN_S
    wait_for(lambda: stored_files(cluster.storage) == before, 5, "the staging file removed")
