"""Settings of grading and reports (worker/: score, report)."""

from pydantic_settings import BaseSettings


class GradingSettings(BaseSettings):
    pass
