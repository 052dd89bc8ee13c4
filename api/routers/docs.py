"""The API docs (Swagger UI) from packaged assets: /docs works with no internet, where
FastAPI's default page fetches its script and styles from a CDN."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"

router = APIRouter(include_in_schema=False)


def _assets_dir() -> Path:
    import swagger_ui  # the swagger-ui-py package ships Swagger UI's built files

    return Path(swagger_ui.__file__).resolve().parent / "static"


@router.get("/docs")
def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="scangrade API",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
    )


def mount_assets(app: FastAPI) -> None:
    app.mount(ASSETS_URL, StaticFiles(directory=_assets_dir()), name="docs-assets")
