"""Job state in Redis: status, progress (pages done / total), page problems and errors.

One hash per job plus a set of finished chunk ids and a list of problems. A chunk is counted
by a Lua script that adds its id to the set and, only when the id is new, adds its pages and
problems: a redelivered or retried chunk never counts twice, and the update is atomic.
All keys expire after `job_ttl_s`; the job's files on disk are the durable record.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import redis

KEY_PREFIX = "scangrade"
# Problems kept per job in Redis (the reports list every page anyway); bounds a bad upload.
MAX_PROBLEMS = 1000


class JobStatus(StrEnum):
    QUEUED = "queued"  # accepted, waiting for a worker to split it
    READING = "reading"  # chunk tasks are reading pages
    GRADING = "grading"  # all pages read; the report step runs
    DONE = "done"
    FAILED = "failed"


@dataclass
class JobState:
    job_id: str
    exam_id: str
    status: JobStatus
    filename: str = ""
    pages_total: int = 0
    pages_done: int = 0
    chunks_total: int = 0
    chunks_done: int = 0
    created: float = 0.0
    updated: float = 0.0
    error: str = ""
    problems: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "exam_id": self.exam_id,
            "status": str(self.status),
            "filename": self.filename,
            "pages_total": self.pages_total,
            "pages_done": self.pages_done,
            "chunks_total": self.chunks_total,
            "chunks_done": self.chunks_done,
            "created": self.created,
            "updated": self.updated,
            "error": self.error,
            "problems": self.problems,
            "summary": self.summary,
        }


# KEYS: job hash, finished-chunk set, problems list.
# ARGV: chunk id, pages in chunk, now, ttl, max problems, problem JSON...
_RECORD_CHUNK = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0  -- the job's state is gone (lost or forgotten): never recreate a stub of it
end
local added = redis.call('SADD', KEYS[2], ARGV[1])
if added == 1 then
  redis.call('HINCRBY', KEYS[1], 'pages_done', ARGV[2])
  for i = 6, #ARGV do
    if redis.call('LLEN', KEYS[3]) < tonumber(ARGV[5]) then
      redis.call('RPUSH', KEYS[3], ARGV[i])
    end
  end
end
redis.call('HSET', KEYS[1], 'updated', ARGV[3])
local done = redis.call('SCARD', KEYS[2])
redis.call('HSET', KEYS[1], 'chunks_done', done)
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[4]) end
return added
"""


# KEYS: job hash. ARGV: ttl, then field, value pairs. Updates only a job that exists, so a
# late task never turns a lost job into a stub that looks queued forever.
_UPDATE_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


# KEYS: job hash. ARGV: pages per chunk proposed by this worker. The first planner's size
# wins, so a job re-planned on another kind of worker (CPU vs GPU) keeps the same chunks.
_CHUNK_PAGES = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return tonumber(ARGV[1])
end
redis.call('HSETNX', KEYS[1], 'chunk_pages', ARGV[1])
return tonumber(redis.call('HGET', KEYS[1], 'chunk_pages'))
"""


# KEYS: job hash, finished-chunk set, problems list. ARGV: ttl, then field, value pairs.
# Creates the job's state only when it has none, clearing leftovers of the old state.
_CREATE_IF_LOST = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


# KEYS: lock. ARGV: the owner's token, milliseconds. Extends the lock only while it is ours.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


# KEYS: lock. ARGV: the owner's token. Deletes the lock only when this owner still holds it.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def connect(url: str, patient: bool = True) -> redis.Redis:
    """A Redis client. Patient (a worker's): it rides out a Redis restart, reconnecting and
    retrying for about twenty seconds. Impatient (the API's): it tries once more and gives up
    within a second when Redis refuses connections, within a few when it stops answering,
    so a teacher gets "try again" at once instead of a long wait."""
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    if patient:
        timeouts = {"socket_connect_timeout": 5, "socket_timeout": 30}
        retry = Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=8)
    else:
        timeouts = {"socket_connect_timeout": 0.5, "socket_timeout": 2}
        retry = Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1)
    return redis.Redis.from_url(
        url, decode_responses=True, health_check_interval=15, retry=retry,
        retry_on_error=[redis.ConnectionError, redis.TimeoutError], **timeouts,
    )


class JobStore:
    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self._record_chunk = client.register_script(_RECORD_CHUNK)
        self._update_existing = client.register_script(_UPDATE_EXISTING)
        self._chunk_pages = client.register_script(_CHUNK_PAGES)
        self._unlock = client.register_script(_UNLOCK)
        self._renew = client.register_script(_RENEW)
        self._create_if_lost = client.register_script(_CREATE_IF_LOST)

    @staticmethod
    def _key(job_id: str, part: str = "") -> str:
        return f"{KEY_PREFIX}:job:{job_id}" + (f":{part}" if part else "")

    def _keys(self, job_id: str) -> list[str]:
        return [self._key(job_id), self._key(job_id, "chunks"), self._key(job_id, "problems")]

    def create_if_lost(
        self, job_id: str, exam_id: str, filename: str, pages_total: int, created: float
    ) -> bool:
        """Fresh state for a job that has none (Redis lost it), atomically: False, and
        nothing changed, when the job has state (someone else just created it)."""
        return bool(self._create_if_lost(
            keys=self._keys(job_id),
            args=[self.ttl_s, "exam_id", exam_id, "status", str(JobStatus.QUEUED),
                  "filename", filename, "pages_total", pages_total, "pages_done", 0,
                  "created", created, "updated", time.time()]))

    def create(
        self, job_id: str, exam_id: str, filename: str, pages_total: int, created: float
    ) -> None:
        key = self._key(job_id)
        pipe = self.client.pipeline()
        pipe.hset(
            key,
            mapping={
                "exam_id": exam_id,
                "status": str(JobStatus.QUEUED),
                "filename": filename,
                "pages_total": pages_total,
                "pages_done": 0,
                "created": created,
                "updated": time.time(),
            },
        )
        pipe.expire(key, self.ttl_s)
        pipe.execute()

    def ping(self) -> None:
        """Raises a redis error when Redis does not answer."""
        self.client.ping()

    def exists(self, job_id: str) -> bool:
        return bool(self.client.exists(self._key(job_id)))

    def existing(self, job_ids: list[str]) -> set[str]:
        """Those of `job_ids` whose state Redis holds."""
        pipe = self.client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.exists(self._key(job_id))
        return {job_id for job_id, found in zip(job_ids, pipe.execute(), strict=True) if found}

    def get(self, job_id: str) -> JobState | None:
        pipe = self.client.pipeline()
        pipe.hgetall(self._key(job_id))
        pipe.lrange(self._key(job_id, "problems"), 0, -1)
        data, problems = pipe.execute()
        if not data or "exam_id" not in data:
            return None  # no state, or only a fragment of it: the job is lost
        return JobState(
            job_id=job_id,
            exam_id=data.get("exam_id", ""),
            status=JobStatus(data.get("status", JobStatus.QUEUED)),
            filename=data.get("filename", ""),
            pages_total=int(data.get("pages_total", 0)),
            pages_done=int(data.get("pages_done", 0)),
            chunks_total=int(data.get("chunks_total", 0)),
            chunks_done=int(data.get("chunks_done", 0)),
            created=float(data.get("created", 0)),
            updated=float(data.get("updated", 0)),
            error=data.get("error", ""),
            problems=[json.loads(item) for item in problems],
            summary=json.loads(data["summary"]) if data.get("summary") else None,
        )

    def chunk_pages(self, job_id: str, proposed: int) -> int:
        """Pages per chunk for this job: the first planner's choice, kept for every re-plan."""
        return int(self._chunk_pages(keys=[self._key(job_id)], args=[proposed]))

    def is_dispatched(self, job_id: str) -> bool:
        return self.client.hget(self._key(job_id), "dispatched") == "1"

    def mark_dispatched(self, job_id: str, chunks_total: int) -> None:
        self._update(
            job_id, dispatched="1", chunks_total=chunks_total, status=str(JobStatus.READING)
        )

    def record_chunk(
        self, job_id: str, chunk_id: str, n_pages: int, problems: list[dict[str, Any]]
    ) -> bool:
        """Count a finished chunk once; True when this call counted it."""
        added = self._record_chunk(
            keys=self._keys(job_id),
            args=[
                chunk_id,
                n_pages,
                time.time(),
                self.ttl_s,
                MAX_PROBLEMS,
                *(json.dumps(problem, sort_keys=True) for problem in problems),
            ],
        )
        return bool(added)

    def finished_chunks(self, job_id: str) -> set[str]:
        return set(self.client.smembers(self._key(job_id, "chunks")))

    def mark_grading(self, job_id: str) -> None:
        self._update(job_id, status=str(JobStatus.GRADING))

    def mark_done(self, job_id: str, summary: dict[str, Any]) -> None:
        self._update(job_id, status=str(JobStatus.DONE), summary=json.dumps(summary), error="")

    def mark_failed(self, job_id: str, error: str) -> None:
        self._update(job_id, status=str(JobStatus.FAILED), error=error)

    def hold_reports(self, job_id: str, ttl_s: float) -> ReportsHold | None:
        """Takes the job's reports for one writer (a regrade, the chord's last step), or None
        while another writer holds them. Use the hold as a context manager: while it is
        entered it is renewed every ttl_s / 3, and it is freed on exit. A writer that dies
        (its host gone) stops renewing, so the job is free again after `ttl_s`."""
        return self._hold(self._key(job_id, "reports-lock"), ttl_s)

    def hold_exam_reports(self, exam_id: str, ttl_s: float) -> ReportsHold | None:
        """The same for an exam's gradebook (its uploads graded together, its review)."""
        return self._hold(f"{KEY_PREFIX}:exam:{exam_id}:reports-lock", ttl_s)

    def _hold(self, key: str, ttl_s: float) -> ReportsHold | None:
        token = secrets.token_hex(16)
        if not self.client.set(key, token, nx=True, px=int(ttl_s * 1000)):
            return None
        return ReportsHold(self, key, token, ttl_s)

    def forget(self, job_id: str) -> None:
        self.client.delete(*self._keys(job_id))

    def _update(self, job_id: str, **fields: Any) -> None:
        pairs = [item for pair in {**fields, "updated": time.time()}.items() for item in pair]
        self._update_existing(keys=[self._key(job_id)], args=[self.ttl_s, *pairs])


class ReportsHold:
    """A job's reports held by one writer (JobStore.hold_reports), renewed while entered."""

    def __init__(self, store: JobStore, key: str, token: str, ttl_s: float) -> None:
        self.store, self.key, self.token, self.ttl_s = store, key, token, ttl_s
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name="reports-hold", daemon=True)

    def __enter__(self) -> ReportsHold:
        self._renewer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._renewer.join(timeout=5)
        self.store._unlock(keys=[self.key], args=[self.token])  # only if still ours

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                self.store._renew(keys=[self.key], args=[self.token, int(self.ttl_s * 1000)])
            except redis.RedisError:  # Redis briefly away: the next renewal may get through
                continue


def summary_json(summary: Any) -> dict[str, Any]:
    """The grading summary as plain JSON (whatever shape grading gives it)."""
    if hasattr(summary, "to_json"):
        data = summary.to_json()
    elif dataclasses.is_dataclass(summary):
        data = dataclasses.asdict(summary)
    else:
        data = dict(summary)
    return json.loads(json.dumps(data, default=_jsonable))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    return repr(value)
