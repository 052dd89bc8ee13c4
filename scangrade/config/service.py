"""Settings of the grading service (Celery workers, HTTP API)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from scangrade.config.paths import CACHE_HOME


class ServiceSettings(BaseSettings):
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Broker and results.")
    storage_dir: Path = Field(
        default=CACHE_HOME / "storage",
        description="Uploads and reports, shared by the API and every worker.",
    )
