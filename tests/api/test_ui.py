"""The upload page end to end in headless Chromium (Debian's, via playwright): enter the
token, create an exam from files, upload a scan, watch progress reach done, download."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from tests.helpers.service import Cluster, sample_paths

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
UI_TIMEOUT_MS = 150_000


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is missing: make system-tools")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def three_page_scan(tmp_path: Path) -> Path:
    writer = PdfWriter()
    for page in PdfReader(sample_paths()["scans"]).pages[:3]:
        writer.add_page(page)
    path = tmp_path / "class 7b.pdf"
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def test_upload_page_end_to_end(service: Cluster, browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(accept_downloads=True)
    page.set_default_timeout(30_000)
    page.goto(service.base_url + "/")
    expect(page.locator("h1")).to_have_text("scangrade")

    # Without a token the API refuses; the page says so.
    paths = sample_paths()
    page.set_input_files("#layout-file", str(paths["layout"]))
    page.set_input_files("#key-file", str(paths["key"]))
    page.click("#create-exam")
    expect(page.locator("#exam-state")).to_contain_text("401")

    page.fill("#token", "test-token-5b1f0c")
    page.click("#save-token")
    expect(page.locator("#token-state")).to_contain_text("Token set")
    page.set_input_files("#roster-file", str(paths["roster"]))
    page.click("#create-exam")
    expect(page.locator("#exam-state")).to_contain_text("created")
    exam_id = page.input_value("#exam-id")
    assert len(exam_id) >= 22

    scan = three_page_scan(tmp_path)
    page.set_input_files("#pdf-files", str(scan))
    page.click("#upload")
    row = page.locator("tr.job").first
    expect(row.locator(".file")).to_contain_text("class 7b.pdf")
    expect(row.locator(".status")).to_have_text("done", timeout=UI_TIMEOUT_MS)
    expect(row.locator(".count")).to_have_text("3/3 pages")
    expect(row.locator(".summary")).to_contain_text("student(s) graded")
    assert row.locator("progress").evaluate("bar => bar.value === bar.max")

    with page.expect_download() as download_info:
        row.locator("a.download[data-report='students.csv']").click()
    download = download_info.value
    assert download.suggested_filename == "students.csv"
    text = Path(download.path()).read_text(encoding="utf-8-sig")  # Excel-friendly BOM
    assert text.splitlines()[0].startswith("student_id")

    # The token survives a reload of the tab (sessionStorage), the table does not need to.
    page.reload()
    expect(page.locator("#token-state")).to_contain_text("Token set")
    page.close()


def test_upload_page_loads_fast_without_a_build_step(service: Cluster, browser) -> None:
    page = browser.new_page()
    response = page.goto(service.base_url + "/")
    assert response is not None and response.ok
    sizes = {
        name: len(page.request.get(f"{service.base_url}/static/{name}").body())
        for name in ("app.js", "style.css")
    }
    assert all(0 < size < 20_000 for size in sizes.values()), sizes  # plain files, no bundle
    page.close()
