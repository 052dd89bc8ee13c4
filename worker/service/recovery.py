"""The service heals itself: a periodic sweep of storage, and queueing a job (again).

The disk is the durable record of every job (worker.service.storage); Redis holds progress
and the queue, and may lose both (restarted without persistence, flushed). One sweep:
- removes staging folders older than `staging_max_age_s` (an upload cut off by a killed API);
- lists under their exam the jobs of a storage written before exams kept their job lists;
- queues again every unfinished job (no reports) uploaded within `job_ttl_s` (older state
  expires by design) whose state Redis lost, or whose state says it is under way although
  nothing is: the broker holds no message, queued or running, and the job has not moved for
  `broker_visibility_timeout_s + task_time_limit_s` (its messages were lost, e.g. Redis was
  down longer than a task's retries). Finished chunks stay on disk and are not read again.

A worker host that dies is not the sweep's business: the broker hands its unacknowledged
task to another worker after `broker_visibility_timeout_s`.

Each API process runs a `Sweeper` thread; a Redis lock lets one sweep at a time, and a job
whose state Redis lost gets fresh state atomically (JobStore.create_if_lost), so two sweeps
never queue it twice. The API writes a job's state before its files, so an upload being
accepted is never taken for a lost job (`recovery_grace_s` is a margin on top).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass, field

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from scangrade.settings import Settings
from worker.grading.report_files import STUDENTS_CSV
from worker.service.job_state import KEY_PREFIX, JobStatus, JobStore
from worker.service.storage import JobManifest, Storage

log = logging.getLogger(__name__)

SWEEP_LOCK = f"{KEY_PREFIX}:recovery-sweep"

START_TASK = "scangrade.start_job"
# Sending a task while Redis is down: one quick retry, then the caller says "try again".
SEND_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.0, "interval_step": 0.2,
                     "interval_max": 0.2}


def queue_job(celery: Celery, job_id: str) -> None:
    """Sends the job's first task; raises quickly (kombu/redis errors) when Redis is down."""
    celery.send_task(START_TASK, kwargs={"job_id": job_id}, retry=True,
                     retry_policy=SEND_RETRY_POLICY)


def resume_job(store: JobStore, celery: Celery, manifest: JobManifest) -> None:
    """Queues a job again from its manifest, with fresh state; chunks on disk are kept."""
    store.forget(manifest.job_id)
    store.create(manifest.job_id, manifest.exam_id, manifest.filename, manifest.n_pages,
                 manifest.created)
    queue_job(celery, manifest.job_id)


@dataclass
class SweepReport:
    staging_removed: int = 0
    jobs_listed: int = 0  # jobs added to their exam's list
    resumed: list[str] = field(default_factory=list)


def sweep(storage: Storage, store: JobStore, celery: Celery, settings: Settings,
          backfill: bool = False, now: float | None = None) -> SweepReport:
    """One pass (see the module doc); `backfill` also lists every job under its exam."""
    now = time.time() if now is None else now
    report = SweepReport(staging_removed=_remove_stale_staging(storage, settings, now))
    job_ids = storage.job_ids()
    if backfill:
        for job_id in job_ids:
            manifest = storage.manifest(job_id)
            if manifest is not None and not storage.is_exam_job(manifest.exam_id, job_id):
                storage.add_exam_job(manifest.exam_id, job_id)
                report.jobs_listed += 1
    # Cheapest checks first: most jobs on disk are finished (one stat each), most others
    # have state (one pipelined EXISTS); only the rest have their manifest read.
    unfinished = [job_id for job_id in job_ids
                  if storage.report_path(job_id, STUDENTS_CSV) is None]
    present = store.existing(unfinished)
    idle = None  # whether the broker holds no message at all; asked once, when needed
    for job_id in unfinished:
        manifest = storage.manifest(job_id)
        if manifest is None or not (
                settings.recovery_grace_s < now - manifest.created < settings.job_ttl_s):
            continue
        if job_id not in present:
            if store.create_if_lost(job_id, manifest.exam_id, manifest.filename,
                                    manifest.n_pages, manifest.created):
                queue_job(celery, job_id)
                report.resumed.append(job_id)
                log.warning("job %s had lost its state in Redis: queued again", job_id)
            continue
        state = store.get(job_id)
        if state is None or state.status in (JobStatus.DONE, JobStatus.FAILED) or (
                now - state.updated < settings.broker_visibility_timeout_s
                + settings.task_time_limit_s):
            continue
        if idle is None:
            idle = broker_idle(store.client, celery)
        if idle:
            resume_job(store, celery, manifest)
            report.resumed.append(job_id)
            log.warning("job %s was %s with nothing queued or running: queued again",
                        job_id, state.status)
    return report


def broker_idle(client: redis.Redis, celery: Celery) -> bool:
    """No task message waits in the queue (any priority) and none is held by a worker. Kombu's
    Redis transport keeps a list per queue and priority step (the plain name for step 0) and
    a hash of the messages workers hold unacknowledged."""
    from kombu.transport.redis import Channel

    queue = celery.conf.task_default_queue
    steps = celery.conf.broker_transport_options.get("priority_steps", Channel.priority_steps)
    names = [queue, *(f"{queue}{Channel.sep}{step}" for step in steps if step)]
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.llen(name)
    pipe.hlen(Channel.unacked_key)
    return not any(pipe.execute())


def _remove_stale_staging(storage: Storage, settings: Settings, now: float) -> int:
    if not storage.tmp_dir.is_dir():
        return 0
    removed = 0
    for entry in storage.tmp_dir.iterdir():
        try:
            stale = now - entry.stat().st_mtime > settings.staging_max_age_s
        except FileNotFoundError:
            continue  # finished meanwhile
        if stale:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
    return removed


class Sweeper:
    """Runs `sweep` every `recovery_sweep_s` in a thread (the first pass backfills exam job
    lists), one process at a time across the service; Redis down only postpones a pass."""

    def __init__(self, storage: Storage, store: JobStore, celery: Celery,
                 settings: Settings) -> None:
        self.storage, self.store, self.celery, self.settings = storage, store, celery, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scangrade-recovery",
                                        daemon=True)
        self._backfilled = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def run_once(self) -> SweepReport | None:
        """One pass unless another process holds the sweep (None then)."""
        lock_s = max(1, int(self.settings.recovery_sweep_s))
        if not self.store.client.set(SWEEP_LOCK, "1", nx=True, ex=lock_s):
            return None
        report = sweep(self.storage, self.store, self.celery, self.settings,
                       backfill=not self._backfilled)
        self._backfilled = True
        return report

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except (redis.RedisError, OperationalError, OSError) as exc:  # Redis or broker down
                log.warning("recovery sweep postponed: %s", exc)
            except Exception:  # never let the thread die: the next pass may succeed
                log.exception("recovery sweep failed")
            self._stop.wait(self.settings.recovery_sweep_s)
