"""Typed FastAPI dependencies: settings, storage, Redis job state, the Celery sender, auth."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from celery import Celery
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from scangrade.settings import Settings
from worker.service.job_state import JobStore
from worker.service.storage import Storage


@dataclass
class Services:
    """Everything the routes use, built once per app (see api.app.create_app)."""

    settings: Settings
    storage: Storage
    jobs: JobStore
    celery: Celery


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_settings(services: Annotated[Services, Depends(get_services)]) -> Settings:
    return services.settings


def get_storage(services: Annotated[Services, Depends(get_services)]) -> Storage:
    return services.storage


def get_jobs(services: Annotated[Services, Depends(get_services)]) -> JobStore:
    return services.jobs


_bearer = HTTPBearer(auto_error=False, description="A token from SCANGRADE_API_TOKENS.")


def token_problem(settings: Settings, scheme: str | None, token: str | None) -> str | None:
    """Why a request's credentials are refused, or None when they carry a valid token."""
    if not settings.api_tokens:
        return "no API tokens are configured on this server (set SCANGRADE_API_TOKENS)"
    if token is None or scheme is None or scheme.lower() != "bearer":
        return "missing bearer token: send 'Authorization: Bearer <token>'"
    offered = token.encode()
    # Compare against every token in constant time, so timing reveals nothing.
    matches = [secrets.compare_digest(offered, known.encode()) for known in settings.api_tokens]
    return None if any(matches) else "invalid bearer token"


def require_token(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless the request carries `Authorization: Bearer <one of settings.api_tokens>`."""
    problem = token_problem(settings, credentials and credentials.scheme,
                            credentials and credentials.credentials)
    if problem:
        _unauthorized(problem)


def _unauthorized(detail: str) -> None:
    raise HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[Storage, Depends(get_storage)]
JobsDep = Annotated[JobStore, Depends(get_jobs)]
ServicesDep = Annotated[Services, Depends(get_services)]
Authorized = Depends(require_token)
