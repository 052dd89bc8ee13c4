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
from api.routers import exams, health, jobs, ui
from scangrade import __version__
from scangrade.settings import Settings, get_settings
from worker.service.celery_app import create_celery_app
from worker.service.job_state import JobStore, connect
from worker.service.recovery import Sweeper
from worker.service.storage import Storage


@asynccontextmanager
async def _recovery(app: FastAPI) -> AsyncIterator[None]:
    """The recovery sweep (worker.service.recovery) runs while the app serves."""
    services = app.state.services
    sweeper = Sweeper(services.storage, services.jobs, services.celery, services.settings)
    sweeper.start()
    try:
        yield
    finally:
        sweeper.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="scangrade",
        version=__version__,
        description="Grade scanned answer sheets: create an exam, upload scans, download "
        "reports. Every endpoint but /healthz and /readyz needs `Authorization: Bearer "
        "<token>`.",
        lifespan=_recovery,
    )
    app.state.services = Services(
        settings=settings,
        storage=Storage(settings.storage_dir),
        jobs=JobStore(connect(settings.redis_url, patient=False), settings.job_ttl_s),
        celery=create_celery_app(settings),
    )
    for router in (health.router, exams.router, jobs.router, ui.router):
        app.include_router(router)
    ui.mount_static(app)
    faults.install(app, settings)
    app.add_middleware(RequestGuard, settings=settings)
    return app
