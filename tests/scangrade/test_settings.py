"""The one settings object: safe defaults, environment parsing."""

from __future__ import annotations

from scangrade.settings import Settings


def test_default_settings_are_consistent() -> None:
    settings = Settings(_env_file=None)
    assert settings.api_tokens == ()  # fail closed until tokens are configured
    assert settings.task_soft_time_limit_s < settings.task_time_limit_s
    assert settings.broker_visibility_timeout_s > settings.task_time_limit_s


def test_tokens_setting_is_comma_separated(monkeypatch) -> None:
    monkeypatch.setenv("SCANGRADE_API_TOKENS", " a1, b2 ,,c3")
    assert Settings(_env_file=None).api_tokens == ("a1", "b2", "c3")
