"""Settings of the grading service (Celery workers, HTTP API)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

from scangrade.config.paths import CACHE_HOME
from scangrade.tokens import TokenEntry, parse_entry

MIB = 1024 * 1024


class ServiceSettings(BaseSettings):
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Broker and results.")
    storage_dir: Path = Field(
        default=CACHE_HOME / "storage",
        description="Uploads and reports, shared by the API and every worker.",
    )

    # --- HTTP API -------------------------------------------------------------------------
    api_tokens: Annotated[tuple[TokenEntry, ...], NoDecode] = Field(
        default=(),
        description="Who may use the API: comma-separated teacher:<sha256 of the token> "
        "entries (`scangrade token TEACHER` makes a token and its entry). A teacher sees only "
        "their own exams. Empty refuses every request except health checks (fail closed).",
    )
    admin_teachers: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Teachers (names from api_tokens, comma-separated) who see every exam: "
        "the exam office.",
    )
    api_host: str = Field(default="127.0.0.1", description="`scangrade serve` bind address.")
    api_port: int = Field(default=8000, description="`scangrade serve` port.")
    max_upload_bytes: int = Field(
        default=200 * MIB,
        description="Largest scanned PDF accepted; a class of 40 two-page sheets at 200 dpi "
        "is ~30 MiB, so this leaves room for a large school without letting one upload fill "
        "the disk.",
    )
    max_exam_file_bytes: int = Field(
        default=2 * MIB, description="Largest layout, key or roster file accepted."
    )
    worker_ping_timeout_s: float = Field(
        default=1.0, description="How long /readyz waits for a worker to answer a ping."
    )
    worker_watch_s: float = Field(
        default=5.0, gt=0,
        description="How often the API pings the workers, so job views can say 'waiting for "
        "a worker' when none answers.",
    )
    retry_after_s: int = Field(
        default=30, ge=1,
        description="The Retry-After a 503 gives when Redis is down: when to try again.",
    )
    min_free_bytes: int = Field(
        default=256 * MIB, ge=0,
        description="Uploads are refused (507) while the storage disk has less free space than"
        " this, so a full disk never leaves half a job behind.",
    )
    body_read_timeout_s: float = Field(
        default=30.0, gt=0,
        description="An upload whose client sends nothing for this long is dropped (408).",
    )
    header_read_timeout_s: float = Field(
        default=10.0, gt=0,
        description="A connection whose request line and headers have not all arrived this "
        "long after it opened is closed: a slow client cannot hold a socket forever.",
    )
    staging_max_age_s: int = Field(
        default=6 * 3600, ge=60,
        description="Staging files older than this (an upload cut off by a killed API) are "
        "removed by the API's sweep.",
    )
    recovery_sweep_s: float = Field(
        default=30.0, gt=0,
        description="How often the API sweeps storage: exams' job lists rebuilt from disk, "
        "jobs whose state Redis lost queued again, old staging files removed.",
    )
    recovery_grace_s: float = Field(
        default=10.0, gt=0,
        description="A job without state in Redis is queued again by the sweep only once it "
        "was uploaded longer ago than this (an upload has no state for the instant between "
        "its files being stored and its state being written).",
    )

    # --- Celery tasks ---------------------------------------------------------------------
    task_chunk_pages: int = Field(
        default=32,
        ge=1,
        description="Pages per Celery task. Small enough that several workers share one PDF "
        "and a lost worker costs little; large enough to fill the reader's batches and keep "
        "rasterizing ahead within a task (`bench service`, 60 pages: one worker at 0.94x "
        "in-process with 32, 0.86x with 16).",
    )
    task_soft_time_limit_s: int = Field(
        default=90, description="A page-chunk task gets SoftTimeLimitExceeded after this long "
        "(a chunk of task_chunk_pages pages takes seconds)."
    )
    task_time_limit_s: int = Field(
        default=100, description="A page-chunk task's process is killed after this long."
    )
    report_soft_time_limit_s: int = Field(
        default=1500, description="The report step (a whole job's reports and PDFs) gets "
        "SoftTimeLimitExceeded after this long."
    )
    report_time_limit_s: int = Field(
        default=1800, description="The report step's process is killed after this long."
    )
    reports_lock_ttl_s: float = Field(
        default=60.0, gt=0,
        description="A job's reports are held by one writer at a time (the report step, a "
        "regrade); the hold is renewed while the writer runs and lapses this long after it "
        "stopped (its host died). Must be below broker_visibility_timeout_s, so the report "
        "step redelivered from a dead host finds the reports free.",
    )
    broker_visibility_timeout_s: int = Field(
        default=120,
        description="A task held by a worker that vanished (its host died) is redelivered "
        "after this long: the longest a dead host can stall a job. Must exceed "
        "task_time_limit_s, so a page chunk never runs twice; a report step that runs longer "
        "may be redelivered while it runs, and the copy waits for the first (one writer of a "
        "job's reports at a time) and then finds the job done.",
    )
    broker_restore_interval_s: float = Field(
        default=10.0,
        description="How often a worker looks for unacknowledged tasks past the visibility "
        "timeout.",
    )
    task_max_retries: int = Field(
        default=5, description="Retries of a task failing with a transient (connection) error."
    )
    task_retry_backoff_max_s: int = Field(
        default=60, description="Longest wait between retries (exponential backoff)."
    )
    finish_poll_s: float = Field(
        default=2.0,
        description="When the report step finds a chunk not yet written (a redelivered chunk "
        "counted early), it re-queues itself after this many seconds instead of waiting.",
    )
    result_expires_s: int = Field(
        default=24 * 3600, description="Celery task results are dropped from Redis after this."
    )
    job_ttl_s: int = Field(
        default=30 * 24 * 3600,
        description="Job state (status, progress, problems) stays in Redis this long; the "
        "files under storage_dir stay until removed.",
    )
    worker_start_timeout_s: float = Field(
        default=120.0,
        description="A worker process may take this long to start (loading and compiling the "
        "reader) before Celery gives up on it.",
    )

    # --- `scangrade worker` ---------------------------------------------------------------
    gpu_task_chunk_pages: int = Field(
        default=64,
        description="Pages per task on GPU workers: the GPU reads a whole chunk's boxes in "
        "one large batch.",
    )

    gpu_reader_batch_sizes: tuple[int, ...] = Field(
        default=(256, 1024, 4096),
        description="Padded reader batch shapes on GPU workers (replaces reader_batch_sizes "
        "there): a 64-page chunk holds a few thousand boxes, read in one or two calls.",
    )

    @model_validator(mode="after")
    def _limits_fit(self) -> ServiceSettings:
        if not self.task_soft_time_limit_s < self.task_time_limit_s \
                < self.broker_visibility_timeout_s:
            raise ValueError(
                "task_soft_time_limit_s < task_time_limit_s < broker_visibility_timeout_s must"
                " hold, or a page chunk still running is handed to a second worker")
        if not self.reports_lock_ttl_s < self.broker_visibility_timeout_s:
            raise ValueError(
                "reports_lock_ttl_s < broker_visibility_timeout_s must hold, or a report step "
                "redelivered from a dead host waits on the dead host's hold")
        if not self.report_soft_time_limit_s < self.report_time_limit_s < self.staging_max_age_s:
            raise ValueError(
                "report_soft_time_limit_s < report_time_limit_s < staging_max_age_s must hold,"
                " or the sweep removes the folder a report step is writing in")
        return self

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _parse_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            value = [item for item in value.split(",") if item.strip()]
        if isinstance(value, list | tuple):
            return tuple(item if isinstance(item, TokenEntry) else parse_entry(str(item), n)
                         for n, item in enumerate(value, 1))
        return value

    @field_validator("admin_teachers", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value
