"""Fixtures of the service tests: a real redis-server on a free port, real Celery workers and
the API under uvicorn, all subprocesses, shared by every service test of the session.

The fixtures (`cluster`, `service`, `client`) are in tests/conftest.py. The cluster is a
process-wide singleton (started on first use, stopped at exit) so that the
test files share one Redis, one API and one warm worker; starting a worker costs seconds
(JAX, reader compilation) on a 2-core machine.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.helpers.paths import SAMPLES
from worker.measure.local_cluster import (
    RedisServer,
    ServiceProcess,
    service_env,
    start_api,
    start_worker,
    wait_for,
)

TOKEN = "test-token-5b1f0c"  # teacher ada's
OTHER_TOKEN = "test-token-other-77a3"  # teacher grace's: sees none of ada's exams
ADMIN_TOKEN = "test-token-office-90c2"  # the exam office: sees every exam
TEACHERS = {"ada": TOKEN, "grace": OTHER_TOKEN, "office": ADMIN_TOKEN}
# Small limits so a test can exceed them cheaply, short redelivery so kill -9 recovery is
# quick (a 2-page chunk takes well under a second on a warm worker, so its time limits stay
# below the visibility timeout as the settings demand); chunks of 2 pages so a sample PDF
# becomes several tasks.
TEST_SETTINGS = {
    "max_upload_bytes": 8 * 1024 * 1024,
    "max_exam_file_bytes": 64 * 1024,
    "task_chunk_pages": 2,
    "broker_visibility_timeout_s": 10,
    "broker_restore_interval_s": 1,
    "finish_poll_s": 0.5,
    "task_soft_time_limit_s": 7,
    "task_time_limit_s": 8,
    "recovery_sweep_s": 1,
    "recovery_grace_s": 2,
    "reports_lock_ttl_s": 5,
    "header_read_timeout_s": 3,
    "body_read_timeout_s": 3,
    "worker_ping_timeout_s": 1.0,
}
JOB_TIMEOUT_S = 150.0


@dataclass
class Cluster:
    root: Path
    redis: RedisServer
    env: dict[str, str]
    api: ServiceProcess
    base_url: str
    workers: list[ServiceProcess] = field(default_factory=list)
    _worker_count: int = 0

    @property
    def storage(self) -> Path:
        return Path(self.env["SCANGRADE_STORAGE_DIR"])

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60)

    def start_worker(self) -> ServiceProcess:
        self._worker_count += 1
        process = start_worker(self.env, self.root / "logs", f"w{self._worker_count}")
        self.workers.append(process)
        return process

    def ensure_worker(self) -> ServiceProcess:
        alive = [worker for worker in self.workers if worker.alive()]
        return alive[0] if alive else self.start_worker()

    def stop(self) -> None:
        for worker in self.workers:
            worker.kill9()
        self.api.stop()
        self.redis.stop(kill=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        return "\n".join(
            f"--- {process.name} ---\n{process.log()[-3000:]}"
            for process in [self.api, *self.workers]
        )


_cluster: Cluster | None = None


def get_cluster() -> Cluster:
    global _cluster
    if _cluster is None:
        root = Path(tempfile.mkdtemp(prefix="scangrade-service-"))
        # Persistent (appendonly, fsync always) so the Redis-restart test restarts with data.
        redis = RedisServer(root / "redis", persistent=True).start()
        env = service_env(redis.url, root / "storage", TEACHERS, admins=["office"],
                          **TEST_SETTINGS)
        api, base_url = start_api(env, root / "logs")
        _cluster = Cluster(root=root, redis=redis, env=env, api=api, base_url=base_url)
        atexit.register(_cluster.stop)
    return _cluster


def sample_paths() -> dict[str, Path]:
    return {
        "scans": SAMPLES / "scans.pdf",
        "layout": SAMPLES / "layout.yaml",
        "key": SAMPLES / "key.csv",
        "roster": SAMPLES / "roster.csv",
    }


def create_exam(http: httpx.Client, roster: bool = True) -> str:
    paths = sample_paths()
    files = {
        "layout": ("layout.yaml", paths["layout"].read_bytes()),
        "key": ("key.csv", paths["key"].read_bytes()),
    }
    if roster:
        files["roster"] = ("roster.csv", paths["roster"].read_bytes())
    response = http.post("/api/exams", files=files)
    assert response.status_code == 201, response.text
    return response.json()["exam_id"]


def upload(http: httpx.Client, exam_id: str, pdf: bytes, filename: str = "scans.pdf") -> str:
    response = http.post(
        f"/api/exams/{exam_id}/jobs",
        params={"filename": filename},
        content=pdf,
        headers={"Content-Type": "application/pdf"},
    )
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def wait_done(
    cluster: Cluster, http: httpx.Client, job_id: str, timeout_s: float = JOB_TIMEOUT_S
) -> dict:
    state: dict = {}

    def done() -> bool:
        nonlocal state
        state = http.get(f"/api/jobs/{job_id}").json()
        if state["status"] == "failed":
            raise AssertionError(f"job failed: {state['error']}\n{cluster.logs()}")
        return state["status"] == "done"

    try:
        wait_for(done, timeout_s, f"job {job_id}", poll_s=0.25)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; last state {state}\n{cluster.logs()}") from None
    return state


def stored_files(root: Path) -> list[Path]:
    """Every file under storage (the tests check rejected uploads leave nothing)."""
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def elapsed(start: float) -> float:
    return time.monotonic() - start
