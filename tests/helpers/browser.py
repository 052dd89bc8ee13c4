"""Driving the web page in Debian's Chromium: screenshots for a person to look at, and a
watch on requests that leave the server."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.paths import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = REPO_ROOT / "test-screenshots"  # not committed (.gitignore)


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def external_requests(page, base_url: str) -> list[str]:
    """Every request the page makes that does not go to the server itself (filled in as the
    page runs)."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url)
            if not request.url.startswith((base_url, "blob:", "data:")) else None)
    return seen
