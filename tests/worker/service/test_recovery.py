"""The recovery sweep against a real Redis and a real Celery broker: stale staging removed,
exams' job lists kept on disk, jobs whose state Redis lost queued again, once."""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from pathlib import Path

import pytest
import redis

from scangrade.settings import Settings
from tests.helpers.service import Cluster
from worker.measure.local_cluster import wait_for
from worker.service.celery_app import create_celery_app
from worker.service.job_state import JobStatus, JobStore, connect
from worker.service.recovery import Sweeper, sweep
from worker.service.storage import JobManifest, Storage, new_id

# A database of its own on the test Redis: no worker of the shared cluster takes the tasks
# these tests queue, so the queue shows exactly what the sweep sent.
SWEEP_DB = 7
GRACE_S = 60.0
TTL_S = 3600


@pytest.fixture
def parts(cluster: Cluster, tmp_path: Path):
    url = cluster.redis.url.rsplit("/", 1)[0] + f"/{SWEEP_DB}"
    settings = Settings(_env_file=None, redis_url=url, storage_dir=tmp_path / "storage",
                        recovery_grace_s=GRACE_S, job_ttl_s=TTL_S)
    client = redis.Redis.from_url(url)
    client.flushdb()
    store = JobStore(connect(url), TTL_S)
    yield Storage(settings.storage_dir), store, create_celery_app(settings), settings, client
    client.flushdb()


def a_job(storage: Storage, age_s: float, exam_id: str = "E" * 22) -> JobManifest:
    storage.root.mkdir(parents=True, exist_ok=True)
    scan = storage.root / "upload.pdf"
    scan.write_bytes(b"%PDF-1.4 a scan\n%%EOF\n")
    manifest = JobManifest(job_id=new_id(), exam_id=exam_id, filename="scan.pdf", n_pages=3,
                           size_bytes=20, created=time.time() - age_s)
    storage.publish_job(scan, manifest)
    return manifest


def queued(client: redis.Redis) -> list[str]:
    """The job ids of the start_job messages waiting in the broker's queue."""
    ids = []
    for raw in client.lrange("celery", 0, -1):
        _args, kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
        ids.append(kwargs["job_id"])
    return ids


def test_a_job_whose_state_was_lost_is_queued_again_once(parts) -> None:
    storage, store, celery, settings, client = parts
    lost = a_job(storage, age_s=2 * GRACE_S)
    kept = a_job(storage, age_s=2 * GRACE_S)
    store.create(kept.job_id, kept.exam_id, kept.filename, kept.n_pages, kept.created)
    just_uploaded = a_job(storage, age_s=1)  # being accepted: no state yet, by design
    expired = a_job(storage, age_s=2 * TTL_S)  # its state expired long ago, as it should
    finished = a_job(storage, age_s=2 * GRACE_S)
    storage.reports_dir(finished.job_id).mkdir(parents=True)
    (storage.reports_dir(finished.job_id) / "students.csv").write_text("graded\n")

    report = sweep(storage, store, celery, settings)
    assert report.resumed == [lost.job_id]
    state = store.get(lost.job_id)
    assert state is not None and state.status == JobStatus.QUEUED
    assert (state.exam_id, state.pages_total) == (lost.exam_id, 3)
    assert queued(client) == [lost.job_id]
    assert {just_uploaded.job_id, expired.job_id, finished.job_id, kept.job_id}.isdisjoint(
        report.resumed)
    assert sweep(storage, store, celery, settings).resumed == []  # idempotent
    assert queued(client) == [lost.job_id]


def test_stale_staging_is_removed_and_fresh_staging_kept(parts) -> None:
    storage, store, celery, settings, _ = parts
    stale, fresh = storage.staging_dir(), storage.staging_dir()
    (stale / "upload.pdf").write_bytes(b"half an upload")
    (fresh / "upload.pdf").write_bytes(b"an upload arriving now")
    old = time.time() - settings.staging_max_age_s - 60
    os.utime(stale, (old, old))
    assert sweep(storage, store, celery, settings).staging_removed == 1
    assert not stale.exists() and (fresh / "upload.pdf").is_file()


def test_exams_list_their_jobs_from_disk_and_old_storage_is_backfilled(parts) -> None:
    storage, store, celery, settings, _ = parts
    first = a_job(storage, age_s=30)
    second = a_job(storage, age_s=20)
    other = a_job(storage, age_s=10, exam_id="X" * 22)
    assert storage.exam_jobs(first.exam_id) == [first.job_id, second.job_id]
    assert storage.exam_jobs(other.exam_id) == [other.job_id]
    # storage written before exams kept lists: the first sweep lists the jobs again
    for marker in (storage.exam_dir(first.exam_id) / "jobs").iterdir():
        marker.unlink()
    for manifest in (first, second, other):
        store.create(manifest.job_id, manifest.exam_id, "scan.pdf", 3, manifest.created)
    assert sweep(storage, store, celery, settings, backfill=True).jobs_listed == 2
    assert storage.exam_jobs(first.exam_id) == [first.job_id, second.job_id]


def test_a_job_under_way_with_nothing_queued_or_running_is_queued_again(parts) -> None:
    """Its messages were lost (Redis down longer than the tasks' retries): the state says
    reading, but the broker holds nothing for anyone."""
    storage, store, celery, settings, client = parts
    stuck = a_job(storage, age_s=2 * GRACE_S)
    store.create(stuck.job_id, stuck.exam_id, stuck.filename, stuck.n_pages, stuck.created)
    store.mark_dispatched(stuck.job_id, 2)
    later = time.time() + settings.broker_visibility_timeout_s + settings.task_time_limit_s + 5
    client.rpush("celery", b"a message of another job")  # the broker is busy: wait
    assert sweep(storage, store, celery, settings, now=later).resumed == []
    client.delete("celery")
    assert sweep(storage, store, celery, settings, now=time.time()).resumed == []  # recent
    assert sweep(storage, store, celery, settings, now=later).resumed == [stuck.job_id]
    state = store.get(stuck.job_id)
    assert state is not None and state.status == JobStatus.QUEUED
    assert not store.is_dispatched(stuck.job_id) and queued(client) == [stuck.job_id]


def test_one_sweeper_at_a_time_and_redis_down_only_postpones(parts, caplog) -> None:
    storage, store, celery, settings, _ = parts
    one, two = (Sweeper(storage, store, celery, settings) for _ in range(2))
    assert one.run_once() is not None
    assert two.run_once() is None  # the other process swept within recovery_sweep_s
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0",
                                       "recovery_sweep_s": 0.05})
    gone = Sweeper(storage, JobStore(connect(down.redis_url, patient=False), TTL_S),
                   create_celery_app(down), down)
    with caplog.at_level(logging.WARNING, logger="worker.service.recovery"):
        gone.start()
        wait_for(lambda: len([r for r in caplog.records if "postponed" in r.message]) >= 3,
                 10, "three postponed passes")
        gone.stop()
    assert not gone._thread.is_alive()
