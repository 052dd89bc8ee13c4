"""Liveness and readiness, without auth (for load balancers and orchestrators)."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The API process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(services: ServicesDep) -> JSONResponse:
    """Ready when Redis answers and at least one worker answers a ping; 503 otherwise."""
    checks: dict[str, object] = {}
    try:
        services.jobs.client.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # any failure to reach Redis means not ready
        checks["redis"] = f"unreachable: {exc}"
    workers: list[str] = []
    if checks["redis"] == "ok":
        try:
            replies = services.celery.control.ping(timeout=services.settings.worker_ping_timeout_s)
            workers = sorted(name for reply in replies for name in reply)
        except Exception as exc:  # a broker hiccup: report, do not crash the probe
            checks["workers_error"] = str(exc)
    checks["workers"] = workers
    ready = checks["redis"] == "ok" and bool(workers)
    return JSONResponse(
        {"status": "ready" if ready else "not ready", **checks},
        status_code=status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE,
    )
