"""Typed FastAPI dependencies: settings, storage, Redis job state, the Celery sender, auth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from celery import Celery
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.workers import WorkerWatch
from scangrade.settings import Settings
from scangrade.tokens import teacher_of
from worker.service.job_state import JobStore
from worker.service.storage import Storage


@dataclass
class Services:
    """Everything the routes use, built once per app (see api.app.create_app)."""

    settings: Settings
    storage: Storage
    jobs: JobStore
    celery: Celery
    workers: WorkerWatch


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_settings(services: Annotated[Services, Depends(get_services)]) -> Settings:
    return services.settings


def get_storage(services: Annotated[Services, Depends(get_services)]) -> Storage:
    return services.storage


def get_jobs(services: Annotated[Services, Depends(get_services)]) -> JobStore:
    return services.jobs


_bearer = HTTPBearer(auto_error=False, description="A teacher's token (`scangrade token`).")


@dataclass(frozen=True)
class Caller:
    """Who sent the request: a teacher, who sees their own exams, or an admin (the exam
    office), who sees every exam."""

    teacher: str
    admin: bool = False

    def may_see(self, owner: str | None) -> bool:
        return self.admin or owner == self.teacher


def caller_or_problem(settings: Settings, scheme: str | None, token: str | None
                      ) -> Caller | str:
    """The caller a request's credentials name, or why they are refused."""
    if not settings.api_tokens:
        return "no API tokens are configured on this server (set SCANGRADE_API_TOKENS)"
    if token is None or scheme is None or scheme.lower() != "bearer":
        return "missing bearer token: send 'Authorization: Bearer <token>'"
    teacher = teacher_of(settings.api_tokens, token)
    if teacher is None:
        return "invalid bearer token"
    return Caller(teacher, admin=teacher in settings.admin_teachers)


def get_caller(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """401 unless the request carries `Authorization: Bearer <a configured token>`."""
    found = caller_or_problem(settings, credentials and credentials.scheme,
                              credentials and credentials.credentials)
    if isinstance(found, str):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=found,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[Storage, Depends(get_storage)]
JobsDep = Annotated[JobStore, Depends(get_jobs)]
ServicesDep = Annotated[Services, Depends(get_services)]
CallerDep = Annotated[Caller, Depends(get_caller)]
Authorized = Depends(get_caller)
