"""The Celery app of the grading service, configured from the one settings object.

`celery -A worker.service.celery_app worker` (or `scangrade worker`) runs the tasks in
worker.service.tasks.
Delivery is at-least-once: a task is acknowledged only after it finished (acks_late), a task
whose worker process died goes back to the queue (reject_on_worker_lost), and a message held
by a worker that vanished (kill -9, lost node) is redelivered by the Redis transport once it
has been unacknowledged for `broker_visibility_timeout_s`. Tasks are idempotent, so running
one twice is safe.
"""

from __future__ import annotations

from celery import Celery

from scangrade.settings import Settings, get_settings

APP_NAME = "scangrade"


def create_celery_app(settings: Settings) -> Celery:
    app = Celery(
        APP_NAME,
        broker=settings.redis_url,
        backend=settings.redis_url,
        include=["worker.service.tasks"],
    )
    app.conf.update(
        # JSON only: messages carry ids and page ranges, never pickled objects or file bytes.
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        # At-least-once delivery; see the module docstring.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a busy worker holds no extra messages others could run
        task_soft_time_limit=settings.task_soft_time_limit_s,
        task_time_limit=settings.task_time_limit_s,
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout_s,
            "unacked_restore_interval": settings.broker_restore_interval_s,
            # Scan Redis on every sweep: sweeps are already spaced by the interval above.
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout_s
        },
        result_expires=settings.result_expires_s,
        # Ride out a Redis restart: reconnect forever, retry storing results.
        broker_connection_retry=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        result_backend_always_retry=True,
        result_backend_max_retries=20,
        redis_retry_on_timeout=True,
        redis_socket_connect_timeout=5,
        redis_backend_health_check_interval=15,
        # Keep running tasks when the broker connection drops; their acks may be lost, in
        # which case they run again after the visibility timeout (idempotent).
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_proc_alive_timeout=settings.worker_start_timeout_s,
        task_track_started=False,
        worker_hijack_root_logger=False,
        broker_connection_timeout=5,
    )
    return app


app = create_celery_app(get_settings())
