"""The HTTP API of the grading service: `create_app()` builds it from the settings object.

Run with `scangrade serve` (uvicorn with api.server's protocol, which disconnects clients
that never finish their request head; a bare `uvicorn api.app:create_app --factory` lacks
that guard). OpenAPI docs at /docs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import faults
from api.deps import Services
from api.guard import RequestGuard
from api.routers import docs, exams, health, jobs, review, ui
from api.workers import WorkerWatch
from scangrade import __version__
from scangrade.settings import Settings, get_settings
from worker.service.celery_app import create_celery_app
from worker.service.job_state import JobStore, connect
from worker.service.recovery import Sweeper
from worker.service.storage import Storage


@asynccontextmanager
async def _background(app: FastAPI) -> AsyncIterator[None]:
    """While the app serves: the recovery sweep (worker.service.recovery) and the watch on
    the workers (api.workers)."""
    services = app.state.services
    sweeper = Sweeper(services.storage, services.jobs, services.celery, services.settings)
    sweeper.start()
    services.workers.start()
    try:
        yield
    finally:
        services.workers.stop()
        sweeper.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="scangrade",
        version=__version__,
        description="Grade scanned answer sheets: create an exam, upload scans, download "
        "reports. Every endpoint but /healthz and /readyz needs `Authorization: Bearer "
        "<token>`.",
        lifespan=_background,
        docs_url=None,  # served from packaged assets instead (api.routers.docs)
        redoc_url=None,
    )
    celery = create_celery_app(settings)
    app.state.services = Services(
        settings=settings,
        storage=Storage(settings.storage_dir),
        jobs=JobStore(connect(settings.redis_url, patient=False), settings.job_ttl_s),
        celery=celery,
        workers=WorkerWatch(celery, settings.worker_watch_s, settings.worker_ping_timeout_s),
    )
    for router in (health.router, exams.router, review.router, jobs.router, ui.router,
                   docs.router):
        app.include_router(router)
    ui.mount_static(app)
    docs.mount_assets(app)
    faults.install(app, settings)
    app.add_middleware(RequestGuard, settings=settings)
    return app
