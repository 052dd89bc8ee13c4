"""`scangrade bench service`: speed of the grading service on this machine, as JSON.

- in-process pages/s (the CLI's path: read_all_scans + grade_and_report) on a PDF;
- pages/s through the service (upload -> reports) with 1 and 2 worker processes;
- latency upload -> finished reports of a one-page job on a warm worker;
- a burst of N one-page uploads submitted at once: all complete, and how long it took.

Everything runs here: its own redis-server, API and workers on free ports
(worker.measure.local_cluster).
"""

from __future__ import annotations

import io
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from scangrade.config.paths import REPO_ROOT
from scangrade.settings import Settings
from worker.measure.local_cluster import (
    RedisServer,
    ServiceProcess,
    service_env,
    start_api,
    start_worker,
    wait_for,
)

SAMPLES = REPO_ROOT / "samples"
TOKEN = "bench-token"
LATENCY_RUNS = 5
THROUGHPUT_RUNS = 3  # the median of a few runs: the machine is shared, single runs are noisy
JOB_TIMEOUT_S = 900.0
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false"


def run_bench(
    settings: Settings, pdf: str | None, uploads: int, chunk_pages: int | None = None,
    repeat: int = 1,
) -> dict[str, Any]:
    chunk_pages = chunk_pages or settings.task_chunk_pages  # the service's default
    source = Path(pdf) if pdf else SAMPLES / "scans.pdf"
    layout, key, roster = SAMPLES / "layout.yaml", SAMPLES / "key.csv", SAMPLES / "roster.csv"
    with tempfile.TemporaryDirectory(prefix="scangrade-bench-") as tmp:
        root = Path(tmp)
        pdf_path = _repeated(source, repeat, root / source.name) if repeat > 1 else source
        figures: dict[str, Any] = {
            "pdf": str(source),
            "repeat": repeat,
            "cpu_count": os.cpu_count(),
            "task_chunk_pages": chunk_pages,
        }
        laptop = InProcess(settings, pdf_path, layout, key, roster)
        redis = RedisServer(root / "redis", persistent=True).start()
        try:
            for processes in (1, 2):
                figures[f"service_{processes}_worker"] = _service_run(
                    root / f"run{processes}",
                    redis,
                    processes,
                    pdf_path,
                    layout,
                    key,
                    roster,
                    uploads if processes == 1 else 0,
                    chunk_pages,
                    laptop,
                )
        finally:
            redis.stop(kill=True)
    print(json.dumps(figures, indent=2))
    return figures


def _repeated(pdf: Path, times: int, out: Path) -> Path:
    """The PDF's pages `times` over: a class-sized scan from a small sample."""
    import pikepdf

    with pikepdf.open(pdf) as source, pikepdf.new() as writer:
        for _ in range(times):
            writer.pages.extend(source.pages)
        writer.save(out)
    return out


class InProcess:
    """The laptop path (`scangrade grade`): read_all_scans + grade_and_report, warm reader."""

    def __init__(self, settings: Settings, pdf: Path, layout: Path, key: Path, roster: Path
                 ) -> None:
        from model.inference.reader import DigitReader
        from worker.grading import Exam

        self.pdf = pdf
        self.settings = settings
        self.reader = DigitReader.load(settings)
        self.reader.warm_up()  # a warm worker is compared with a warm laptop run
        self.exam = Exam.load(layout, key, roster)

    def run(self) -> float:
        from worker.grading import grade_and_report
        from worker.grading.inputs import fresh_previews, previews_dir
        from worker.scan.scans import read_all_scans

        layouts = {self.exam.exam_id: self.exam.layout}
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            previews = fresh_previews(Path(out), self.settings.review_dpi,
                                      self.settings.review_jpeg_quality)
            read = read_all_scans([self.pdf], layouts, self.reader, self.settings, previews)
            grade_and_report(
                read.pages, self.exam, out, settings=self.settings, scans=read.files,
                problems=read.problems, previews=previews_dir(Path(out)),
            )
            return time.perf_counter() - started


def _service_run(
    root: Path,
    redis: RedisServer,
    processes: int,
    pdf: Path,
    layout: Path,
    key: Path,
    roster: Path,
    uploads: int,
    chunk_pages: int,
    laptop: InProcess,
) -> dict[str, Any]:
    redis_db = f"{redis.url.rsplit('/', 1)[0]}/{processes}"  # a fresh database per run
    env = service_env(redis_db, root / "storage", {"bench": TOKEN},
                      task_chunk_pages=chunk_pages)
    if processes >= (os.cpu_count() or 1):
        env["XLA_FLAGS"] = SINGLE_THREAD_XLA  # as `scangrade worker` sets it
        env["SCANGRADE_PREPROCESS_THREADS"] = "1"
    api, base_url = start_api(env, root / "logs")
    worker = start_worker(
        env, root / "logs", f"bench{processes}", concurrency=processes, wait=False, pool="prefork"
    )
    result: dict[str, Any] = {"worker_processes": processes}
    try:
        with httpx.Client(
            base_url=base_url, timeout=120, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http:
            _wait_ready(http, worker)
            exam_id = _create_exam(http, layout, key, roster)
            one_page = _first_page(pdf)
            for _ in range(processes):
                _run_job(http, exam_id, one_page)  # warms every process's first task
            # The machine is shared: alternate laptop and service runs so both see the same
            # load, and take medians.
            service_s, laptop_s, pages = [], [], 0
            for _ in range(THROUGHPUT_RUNS):
                laptop_s.append(laptop.run())
                seconds, pages = _run_job(http, exam_id, pdf.read_bytes())
                service_s.append(seconds)
            service, in_process = statistics.median(service_s), statistics.median(laptop_s)
            result.update(
                pages=pages, runs=THROUGHPUT_RUNS,
                seconds=round(service, 2), pages_per_s=round(pages / service, 3),
                in_process_seconds=round(in_process, 2),
                in_process_pages_per_s=round(pages / in_process, 3),
                vs_in_process=round(in_process / service, 3),
            )  # fmt: skip
            if processes == 1:
                latencies = [_run_job(http, exam_id, one_page)[0] for _ in range(LATENCY_RUNS)]
                result["one_page_latency_s"] = {
                    "median": round(statistics.median(latencies), 3),
                    "max": round(max(latencies), 3),
                    "runs": LATENCY_RUNS,
                }
            if uploads:
                result["burst"] = _burst(http, exam_id, one_page, uploads)
    finally:
        worker.stop()
        api.stop()
    return result


def _wait_ready(http: httpx.Client, worker: ServiceProcess) -> None:
    def ready() -> bool:
        if not worker.alive():
            raise RuntimeError(f"worker exited:\n{worker.log()[-3000:]}")
        return http.get("/readyz").status_code == 200

    wait_for(ready, 300, "a worker", poll_s=0.5)


def _create_exam(http: httpx.Client, layout: Path, key: Path, roster: Path) -> str:
    files = {
        "layout": (layout.name, layout.read_bytes()),
        "key": (key.name, key.read_bytes()),
        "roster": (roster.name, roster.read_bytes()),
    }
    response = http.post("/api/exams", files=files)
    response.raise_for_status()
    return response.json()["exam_id"]


def _first_page(pdf: Path) -> bytes:
    import pikepdf

    buffer = io.BytesIO()
    with pikepdf.open(pdf) as source, pikepdf.new() as writer:
        writer.pages.append(source.pages[0])
        writer.save(buffer)
    return buffer.getvalue()


def _submit(http: httpx.Client, exam_id: str, pdf: bytes) -> tuple[str, int]:
    response = http.post(
        f"/api/exams/{exam_id}/jobs", content=pdf, headers={"Content-Type": "application/pdf"}
    )
    response.raise_for_status()
    body = response.json()
    return body["job_id"], body["pages"]


def _wait_job(http: httpx.Client, job_id: str, poll_s: float = 0.02) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        state = http.get(f"/api/jobs/{job_id}").json()
        if state["status"] == "failed":
            raise RuntimeError(f"job {job_id} failed: {state['error']}")
        if state["status"] == "done":
            return state
        time.sleep(poll_s)
    raise TimeoutError(f"job {job_id} did not finish in {JOB_TIMEOUT_S} s")


def _run_job(http: httpx.Client, exam_id: str, pdf: bytes) -> tuple[float, int]:
    """Seconds from the start of the upload to finished reports, and the job's pages."""
    started = time.perf_counter()
    job_id, pages = _submit(http, exam_id, pdf)
    _wait_job(http, job_id)
    return time.perf_counter() - started, pages


def _burst(http: httpx.Client, exam_id: str, pdf: bytes, uploads: int) -> dict[str, Any]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        submitted = list(pool.map(lambda _: _submit(http, exam_id, pdf)[0], range(uploads)))
    accepted_s = time.perf_counter() - started
    states = [_wait_job(http, job_id, poll_s=0.2) for job_id in submitted]
    seconds = time.perf_counter() - started
    done = sum(state["status"] == "done" and state["pages_done"] == 1 for state in states)
    return {
        "uploads": uploads,
        "completed": done,
        "all_accepted_s": round(accepted_s, 2),
        "all_done_s": round(seconds, 2),
        "jobs_per_s": round(done / seconds, 3),
    }
