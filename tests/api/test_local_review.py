"""`scangrade review DIR`: the review screen on a teacher's laptop, no Redis or worker, over a
real socket and in Chromium. Decisions land in DIR/corrections.csv and the reports change."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.helpers.browser import external_requests, shoot
from tests.helpers.paths import REPO_ROOT, SAMPLES
from worker.grading.report_files import JOURNAL_CSV, STUDENTS_CSV

ADDRESS = re.compile(r"(http://127\.0\.0\.1:(\d+))/#review\?key=(\S+)")
START_S = 60.0


@pytest.fixture
def graded_samples(tmp_path) -> Path:
    """The sample class graded as a teacher would (`scangrade grade`)."""
    from api.cli import build_app

    out = tmp_path / "7b-reports"
    result = CliRunner().invoke(build_app(), [
        "grade", str(SAMPLES / "scans.pdf"), "--layout", str(SAMPLES / "layout.yaml"),
        "--key", str(SAMPLES / "key.csv"), "--roster", str(SAMPLES / "roster.csv"),
        "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def review_server(graded_samples):
    process = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "review",
         str(graded_samples), "--no-browser"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + START_S
    line = ""
    while time.monotonic() < deadline and not ADDRESS.search(line):
        line = process.stdout.readline()
        assert line or process.poll() is None, "scangrade review exited"
    found = ADDRESS.search(line)
    assert found, "no address printed"
    base, key = found.group(1), found.group(3)
    # the server starts listening just after it prints the address
    for _ in range(100):
        try:
            httpx.get(base + "/api/local", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    yield base, key, found.group(0), graded_samples
    process.terminate()
    process.wait(timeout=10)


def test_the_review_api_on_a_laptop(review_server) -> None:
    base, key, _, folder = review_server
    assert httpx.get(base + "/api/review").status_code == 401  # the address holds the key
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
        queue = http.get("/api/review").json()
        assert queue["items"], "the sample class has flagged items"
        item = queue["items"][0]
        crop = http.get(item["crop_url"])
        assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
        before = (folder / STUDENTS_CSV).read_bytes()
        value = "yes" if item["kind"] == "sheet" else "ok"
        if item["kind"] == "id":
            value = item["candidates"][0]["student_id"]
        left = http.post("/api/review", json={"decisions": [
            {"copy": item["copy"], "question": item["question"], "value": value}]})
        assert left.status_code == 200, left.text
        assert len(left.json()["items"]) == len(queue["items"]) - 1
        assert "review-screen.csv" in (folder / JOURNAL_CSV).read_text(encoding="utf-8-sig")
        assert (folder / STUDENTS_CSV).read_bytes() != before
        wrong = http.post("/api/review", json={"decisions": [
            {"copy": item["copy"], "question": "q1", "value": "12345678901"}]})
        assert wrong.status_code == 422 and "decision 1:" in wrong.json()["detail"]
        assert str(folder) not in wrong.text


def test_the_review_screen_on_a_laptop(review_server, browser) -> None:
    from playwright.sync_api import expect

    base, _, address, folder = review_server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside = external_requests(page, base)
    page.goto(address)
    expect(page.locator("#review-card form")).to_be_visible()
    assert "key=" not in page.url  # the key is kept for the tab, not left in the address
    expect(page.locator("#token-form")).to_be_hidden()
    shoot(page, "10-laptop-review")
    decided = 0
    while page.locator("#review-card form").is_visible() and decided < 40:
        if page.locator(".candidates").count():
            shoot(page, "11-laptop-id-card")
        page.keyboard.press("Enter")
        decided += 1
    expect(page.locator("#review-done")).to_be_visible()
    expect(page.locator("#review-save")).to_contain_text("All decisions saved", timeout=30_000)
    journal = (folder / JOURNAL_CSV).read_text(encoding="utf-8-sig").splitlines()
    assert len(journal) == decided + 1
    assert outside == []
    page.close()


def test_a_refused_decision_loses_none_sent_with_it(review_server, browser) -> None:
    """The server keeps nothing of a batch with one bad decision; the page then sends them one
    at a time, so only the bad one is refused (and named) and the good ones are saved."""
    from playwright.sync_api import expect

    _, _, address, folder = review_server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(address)
    expect(page.locator("#review-card form")).to_be_visible()
    page.evaluate("""() => {
      const [first, second] = Review.state.items.filter((item) => item.kind === "answer");
      Review.state.pending.push(
        { copy: first.copy, question: first.question, value: "ok" },
        { copy: first.copy, question: "q1", value: "12345678901" },
        { copy: second.copy, question: second.question, value: "ok" });
      Review.send();
    }""")
    expect(page.locator("#review-save")).to_contain_text("Not saved: decision 1:",
                                                         timeout=30_000)
    expect(page.locator("#review-save")).to_contain_text("The other decisions are saved",
                                                         timeout=30_000)
    journal = (folder / JOURNAL_CSV).read_text(encoding="utf-8-sig").splitlines()
    assert len(journal) == 1 + 2  # header, the two good decisions
    page.close()
