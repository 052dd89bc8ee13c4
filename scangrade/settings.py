"""The one settings object. Every field can be set by an environment variable
SCANGRADE_<FIELD> (e.g. SCANGRADE_REDIS_URL) or in a `.env` file; `none` sets an optional
field to None (e.g. SCANGRADE_SCREEN_WEIGHTS_PATH=none)."""

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from scangrade.config.grading import GradingSettings
from scangrade.config.reader import ReaderSettings
from scangrade.config.scan import ScanSettings
from scangrade.config.service import ServiceSettings


class Settings(ServiceSettings, GradingSettings, ScanSettings, ReaderSettings):
    model_config = SettingsConfigDict(
        env_prefix="SCANGRADE_", env_file=".env", extra="ignore", frozen=True,
        env_parse_none_str="none",
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
