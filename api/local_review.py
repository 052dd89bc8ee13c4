"""`scangrade review DIR`: the review screen for a report folder on the teacher's own
computer, no server, Redis or worker needed. It serves the same page and the same review
API as the service (api.review) on 127.0.0.1, behind a one-time token in the address it
prints, and regrades DIR in place as `scangrade regrade` does."""

from __future__ import annotations

import secrets
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import review
from api.routers import ui
from api.routers.jobs import MEDIA_TYPES
from scangrade.settings import Settings
from worker.grading.report_files import REPORT_FILES, SUMMARY_FILE
from worker.grading.review_queue import REVIEW_JSON

BASE = "/api/review"
ReportName = Literal[REPORT_FILES]  # type: ignore[valid-type]
_bearer = HTTPBearer(auto_error=False)


def create_review_app(out_dir: Path, settings: Settings, token: str) -> FastAPI:
    out_dir = Path(out_dir)
    app = FastAPI(title="scangrade review", docs_url=None, redoc_url=None, openapi_url=None)
    writing = threading.Lock()  # one regrade of the folder at a time

    def authorized(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                          Depends(_bearer)]) -> None:
        offered = credentials.credentials if credentials else ""
        if not secrets.compare_digest(offered.encode(), token.encode()):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                "open the address `scangrade review` printed (it holds the"
                                " key to this folder)", headers={"WWW-Authenticate": "Bearer"})

    guarded = [Depends(authorized)]

    @app.get("/api/local")
    def local() -> dict[str, Any]:
        """Tells the page it is the laptop's review screen, and of which folder."""
        return {"mode": "local", "folder": out_dir.name}

    @app.get(BASE, dependencies=guarded)
    def queue() -> dict[str, Any]:
        return review.queue(out_dir, BASE)

    @app.get(BASE + "/crops/{page}/{field}", dependencies=guarded)
    def crop(page: int, field: str) -> Response:
        return review.crop(out_dir, page, field)

    @app.post(BASE, dependencies=guarded)
    async def decide(request: Request) -> dict[str, Any]:
        chosen = await review.decisions(request)

        def regrade() -> None:
            with writing, tempfile.TemporaryDirectory(prefix="scangrade-review-") as scratch:
                review.regrade_folder(out_dir, chosen, settings, scratch=Path(scratch))

        await run_in_threadpool(regrade)
        return review.queue(out_dir, BASE)

    @app.get(BASE + "/reports/{name}", dependencies=guarded)
    def report(name: ReportName) -> FileResponse:
        path = out_dir / name
        if not path.is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{name} is not in the folder")
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], filename=name)

    @app.get(BASE + "/summary", dependencies=guarded)
    def summary() -> FileResponse:
        return FileResponse(out_dir / SUMMARY_FILE, media_type="application/json")

    app.include_router(ui.router)
    ui.mount_static(app)
    return app


def check_folder(out_dir: Path) -> str | None:
    """Why `out_dir` cannot be reviewed, or None."""
    if not out_dir.is_dir():
        return f"{out_dir}: no such folder"
    if not (out_dir / REVIEW_JSON).is_file() and not (out_dir / SUMMARY_FILE).is_file():
        return f"{out_dir} is not a folder `scangrade grade` wrote"
    return None
