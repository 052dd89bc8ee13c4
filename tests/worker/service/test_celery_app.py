"""The Celery app's delivery guarantees, from its configuration."""

from __future__ import annotations

from scangrade.settings import Settings


def test_celery_app_is_configured_for_at_least_once_delivery() -> None:
    from worker.service.celery_app import create_celery_app

    settings = Settings(
        _env_file=None, redis_url="redis://127.0.0.1:1/0", broker_visibility_timeout_s=777
    )
    conf = create_celery_app(settings).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.broker_transport_options["visibility_timeout"] == 777
    assert conf.task_time_limit == settings.task_time_limit_s
