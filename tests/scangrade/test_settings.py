"""The one settings object: safe defaults, environment parsing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scangrade.settings import Settings
from scangrade.tokens import entry_for, teacher_of


def test_default_settings_are_consistent() -> None:
    settings = Settings(_env_file=None)
    assert settings.api_tokens == ()  # fail closed until tokens are configured
    assert settings.task_soft_time_limit_s < settings.task_time_limit_s
    assert settings.broker_visibility_timeout_s > settings.task_time_limit_s


def test_tokens_are_teachers_with_hashes_never_the_tokens(monkeypatch) -> None:
    monkeypatch.setenv("SCANGRADE_API_TOKENS",
                       f" {entry_for('ada', 't1')}, {entry_for('office', 't2')} ,,")
    monkeypatch.setenv("SCANGRADE_ADMIN_TEACHERS", "office")
    settings = Settings(_env_file=None)
    assert [entry.teacher for entry in settings.api_tokens] == ["ada", "office"]
    assert "t1" not in repr(settings.api_tokens)
    assert teacher_of(settings.api_tokens, "t1") == "ada"
    assert teacher_of(settings.api_tokens, "t3") is None
    assert settings.admin_teachers == ("office",)


@pytest.mark.parametrize("entry", ["plain-token", "ada:not-a-hash", ":" + "0" * 64,
                                   "a b:" + "0" * 64])
def test_a_token_in_the_clear_is_refused_with_the_fix(monkeypatch, entry) -> None:
    monkeypatch.setenv("SCANGRADE_API_TOKENS", entry)
    with pytest.raises(ValidationError, match="scangrade token <teacher>"):
        Settings(_env_file=None)


@pytest.mark.parametrize("limits", [
    {"task_soft_time_limit_s": 100, "task_time_limit_s": 100},
    {"task_time_limit_s": 130, "broker_visibility_timeout_s": 120},
    {"report_soft_time_limit_s": 1800, "report_time_limit_s": 1800},
    {"report_time_limit_s": 30000, "staging_max_age_s": 21600},
])
def test_time_limits_that_would_run_work_twice_are_refused(limits) -> None:
    """A chunk still running when its visibility timeout ends would be handed to a second
    worker; a report step outliving the staging age would lose its folder to the sweep."""
    with pytest.raises(ValidationError, match="must hold"):
        Settings(_env_file=None, **limits)


def test_a_dead_host_stalls_a_job_a_couple_of_minutes_by_default() -> None:
    settings = Settings(_env_file=None)
    assert settings.broker_visibility_timeout_s <= 120
    assert settings.recovery_sweep_s + settings.recovery_grace_s <= 60
