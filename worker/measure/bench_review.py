"""`scangrade bench review`: how long a teacher waits on the review screen, as JSON.

A 40-student synthetic class (MNIST test digits, with a roster) is graded once; then, both on
a laptop (`scangrade review DIR`) and through the service (an exam's gradebook: Redis, API,
a worker), over HTTP as the page asks:
- the review queue loading (the first time and the median of a few);
- a crop of a field's boxes;
- one decision until the downloadable students.csv has it (the journal written and every
  report regraded before the answer comes).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from scangrade.config.paths import REPO_ROOT
from scangrade.settings import Settings
from worker.measure.bench_service import SAMPLES, _wait_ready
from worker.measure.local_cluster import (
    RedisServer,
    service_env,
    start_api,
    start_worker,
    wait_for,
)

STUDENTS = 40
SEED = 2026
QUEUE_RUNS = 5
TOKEN = "bench-token"
ADDRESS = re.compile(r"(http://127\.0\.0\.1:\d+)/#review\?key=(\S+)")
START_S = 120.0


def run_bench(settings: Settings) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="scangrade-bench-review-") as tmp:
        root = Path(tmp)
        pdf, roster = _class(root, settings)
        figures: dict[str, Any] = {"students": STUDENTS, "pages": _pages(pdf)}
        out = _grade(root, pdf, roster, settings)
        figures["laptop"] = _laptop(out)
        figures["service"] = _service(root, pdf, roster)
    print(json.dumps(figures, indent=2))
    return figures


def _class(root: Path, settings: Settings) -> tuple[Path, Path]:
    from model.training.data import mnist_loader
    from worker.sheets.layout import Layout
    from worker.synth.class_set import SynthOptions, synthesize

    ids = [f"{250000 + 37 * n:06d}" for n in range(STUDENTS)]
    roster = root / "roster.csv"
    roster.write_text("student_id,name\n" + "".join(
        f"{sid},Student {n}\n" for n, sid in enumerate(ids, 1)), encoding="utf-8")
    key = {row.split(",")[0]: row.split(",")[1].split("|")[0]
           for row in (SAMPLES / "key.csv").read_text().splitlines()[1:] if row}
    result = synthesize(Layout.load(SAMPLES / "layout.yaml"), mnist_loader(settings),
                        SynthOptions(students=STUDENTS, seed=SEED), key=key, roster_ids=ids)
    pdf = root / "class-40.pdf"
    pdf.write_bytes(result.pdf)
    return pdf, roster


def _pages(pdf: Path) -> int:
    import pikepdf

    with pikepdf.open(pdf) as opened:
        return len(opened.pages)


def _grade(root: Path, pdf: Path, roster: Path, settings: Settings) -> Path:
    out = root / "reports"
    subprocess.run([sys.executable, "-c", "from api.cli import main; main()", "grade", str(pdf),
                    "--layout", str(SAMPLES / "layout.yaml"), "--key", str(SAMPLES / "key.csv"),
                    "--roster", str(roster), "--out", str(out), "--no-progress"],
                   cwd=REPO_ROOT, check=True, capture_output=True)
    return out


def _measure(http: httpx.Client, review_url: str, students_url: str) -> dict[str, Any]:
    started = time.perf_counter()
    first = http.get(review_url)
    first.raise_for_status()
    cold = time.perf_counter() - started
    runs = []
    for _ in range(QUEUE_RUNS):
        started = time.perf_counter()
        http.get(review_url).raise_for_status()
        runs.append(time.perf_counter() - started)
    items = first.json()["items"]
    figures: dict[str, Any] = {"items": len(items), "queue_first_s": round(cold, 3),
                               "queue_median_s": round(statistics.median(runs), 3)}
    if not items:
        return figures
    item = items[0]
    started = time.perf_counter()
    http.get(item["crop_url"]).raise_for_status()
    figures["crop_s"] = round(time.perf_counter() - started, 3)
    before = http.get(students_url).content
    value = "yes" if item["kind"] == "sheet" else (
        item["candidates"][0]["student_id"] if item["kind"] == "id" else "ok")
    started = time.perf_counter()
    http.post(review_url, json={"decisions": [
        {"copy": item["copy"], "question": item["question"], "value": value}]}
              ).raise_for_status()
    after = http.get(students_url).content
    figures["decision_to_reports_s"] = round(time.perf_counter() - started, 3)
    figures["reports_changed"] = after != before
    return figures


def _laptop(out: Path) -> dict[str, Any]:
    process = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "review", str(out),
         "--no-browser"], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        deadline = time.monotonic() + START_S
        found = None
        while found is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise RuntimeError("scangrade review exited")
            found = ADDRESS.search(line)
        if found is None:
            raise RuntimeError("scangrade review printed no address")
        base, key = found.group(1), found.group(2)
        with httpx.Client(base_url=base, timeout=60,
                          headers={"Authorization": f"Bearer {key}"}) as http:
            wait_for(lambda: _answers(http, "/api/local"), 30, "scangrade review")
            return _measure(http, "/api/review", "/api/review/reports/students.csv")
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(http: httpx.Client, path: str) -> bool:
    try:
        return http.get(path).status_code == 200
    except httpx.TransportError:
        return False


def _service(root: Path, pdf: Path, roster: Path) -> dict[str, Any]:
    redis = RedisServer(root / "redis", persistent=False).start()
    env = service_env(redis.url, root / "storage", {"bench": TOKEN})
    api, base_url = start_api(env, root / "logs")
    worker = start_worker(env, root / "logs", "review-bench", wait=False)
    try:
        with httpx.Client(base_url=base_url, timeout=120,
                          headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            _wait_ready(http, worker)
            files = {"layout": ("layout.yaml", (SAMPLES / "layout.yaml").read_bytes()),
                     "key": ("key.csv", (SAMPLES / "key.csv").read_bytes()),
                     "roster": ("roster.csv", roster.read_bytes())}
            exam_id = http.post("/api/exams", files=files).json()["exam_id"]
            http.post(f"/api/exams/{exam_id}/jobs", content=pdf.read_bytes(),
                      headers={"Content-Type": "application/pdf"}).raise_for_status()

            def graded() -> bool:
                book = http.get(f"/api/exams/{exam_id}").json()["gradebook"]
                return book is not None and book["uploads_included"] == 1
            wait_for(graded, 900, "the gradebook", poll_s=0.5)
            return _measure(http, f"/api/exams/{exam_id}/review",
                            f"/api/exams/{exam_id}/reports/students.csv")
    finally:
        worker.stop()
        api.stop()
        redis.stop(kill=True)
