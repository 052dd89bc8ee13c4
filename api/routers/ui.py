"""The upload page for teachers: static HTML + vanilla JS served by the API (no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(tags=["ui"], include_in_schema=False)


@router.get("/")
def upload_page() -> FileResponse:
    # The page itself holds no data; it asks for the token and calls the API with it.
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
