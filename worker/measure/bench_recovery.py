"""`scangrade bench recovery`: how long a job takes when something fails under it, as JSON.

One class-sized upload (the sample scan four times over, in small chunks so a fault lands
mid-job) is graded once undisturbed, then once per fault, each struck after the job's first
chunk is done:
- a worker host dies: its worker is killed with SIGKILL while it reads a chunk (nothing is
  acknowledged or handed back, as when a machine loses power); a second worker, already
  running, carries on;
- Redis loses its data (a restart without persistence): job state, queue and chord gone;
- Redis restarts with its data (appendonly).
Each figure is the time from the fault to finished reports, and the extra time against the
undisturbed run. The service runs with the given settings (visibility timeout, recovery
sweep), its own redis-server, API and workers (worker.measure.local_cluster).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis as redis_client

from scangrade.settings import Settings
from worker.measure.bench_service import SAMPLES, _create_exam, _repeated, _wait_ready
from worker.measure.local_cluster import (
    RedisServer,
    ServiceProcess,
    service_env,
    start_api,
    start_worker,
    unfinished_tasks,
    wait_for,
)

TOKEN = "bench-token"
REPEAT = 4  # a 60-page class
CHUNK_PAGES = 4  # several chunks per worker, so the fault strikes mid-job
JOB_TIMEOUT_S = 1800.0


def run_bench(settings: Settings) -> dict[str, Any]:
    layout, key, roster = SAMPLES / "layout.yaml", SAMPLES / "key.csv", SAMPLES / "roster.csv"
    with tempfile.TemporaryDirectory(prefix="scangrade-recovery-") as tmp:
        root = Path(tmp)
        pdf = _repeated(SAMPLES / "scans.pdf", REPEAT, root / "class.pdf").read_bytes()
        redis = RedisServer(root / "redis", persistent=True).start()
        env = service_env(
            redis.url, root / "storage", {"bench": TOKEN}, task_chunk_pages=CHUNK_PAGES,
            broker_visibility_timeout_s=settings.broker_visibility_timeout_s,
            task_soft_time_limit_s=settings.task_soft_time_limit_s,
            task_time_limit_s=settings.task_time_limit_s,
            recovery_sweep_s=settings.recovery_sweep_s,
            recovery_grace_s=settings.recovery_grace_s,
        )
        api, base_url = start_api(env, root / "logs")
        workers = [start_worker(env, root / "logs", f"w{n}") for n in (1, 2)]
        figures: dict[str, Any] = {
            "pages": 15 * REPEAT, "task_chunk_pages": CHUNK_PAGES,
            "broker_visibility_timeout_s": settings.broker_visibility_timeout_s,
            "recovery_sweep_s": settings.recovery_sweep_s,
        }
        try:
            with httpx.Client(base_url=base_url, timeout=120,
                              headers={"Authorization": f"Bearer {TOKEN}"}) as http:
                _wait_ready(http, workers[0])
                exam_id = _create_exam(http, layout, key, roster)
                baseline = _job(http, exam_id, pdf, None)
                figures["undisturbed_s"] = round(baseline, 1)

                def kill_a_worker() -> None:
                    wait_for(lambda: any(_reading(worker) for worker in workers), 60,
                             "a running chunk", poll_s=0.02)
                    busy = next(worker for worker in workers if _reading(worker))
                    busy.kill9()
                    workers.remove(busy)
                    # a fresh spare, so that the next fault still finds two workers
                    workers.append(start_worker(env, root / "logs", f"w{len(workers) + 2}",
                                                wait=False))

                faults: dict[str, Callable[[], None]] = {
                    "worker_host_died": kill_a_worker,
                    "redis_data_lost": lambda: redis_client.Redis.from_url(redis.url).flushall(),
                    "redis_restarted": lambda: redis.restart(down_s=1.0),
                }
                for name, fault in faults.items():
                    for worker in workers:
                        _wait_worker(worker)
                    took = _job(http, exam_id, pdf, fault)
                    figures[name] = {"fault_to_reports_s": round(took, 1),
                                     "extra_s": round(took - baseline, 1)}
        finally:
            for worker in workers:
                worker.kill9()
            api.stop()
            redis.stop(kill=True)
    print(json.dumps(figures, indent=2))
    return figures


def _reading(worker: ServiceProcess) -> bool:
    return bool(unfinished_tasks(worker.log()))


def _wait_worker(worker: ServiceProcess) -> None:
    wait_for(lambda: " ready." in worker.log(), 300, f"worker {worker.name}", poll_s=0.2)


def _job(http: httpx.Client, exam_id: str, pdf: bytes, fault: Callable[[], None] | None
         ) -> float:
    """Seconds from the fault (from the upload, without one) to the job's reports."""
    response = http.post(f"/api/exams/{exam_id}/jobs", content=pdf,
                         headers={"Content-Type": "application/pdf"})
    response.raise_for_status()
    job_id = response.json()["job_id"]
    started = time.perf_counter()
    if fault is not None:
        wait_for(lambda: _state(http, job_id).get("chunks_done", 0) >= 1, 600, "a chunk")
        fault()
        started = time.perf_counter()
    wait_for(lambda: _state(http, job_id).get("status") == "done", JOB_TIMEOUT_S,
             f"job {job_id}", poll_s=0.25)
    return time.perf_counter() - started


def _state(http: httpx.Client, job_id: str) -> dict[str, Any]:
    try:
        response = http.get(f"/api/jobs/{job_id}")
    except httpx.HTTPError:
        return {}  # the API is between Redis connections: ask again
    if response.status_code != 200:
        return {}  # 503 while Redis restarts
    state = response.json()
    if state["status"] == "failed":
        raise RuntimeError(f"job {job_id} failed: {state['error']}")
    return state
