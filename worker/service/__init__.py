"""The grading service: Celery app and tasks, job state in Redis, files in shared storage."""
