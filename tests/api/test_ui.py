"""The teacher's web app end to end in headless Chromium (Debian's, via playwright) against the
real API, Redis and a Celery worker: sign in, create an exam from the form, print its sheets,
upload the class in two PDFs, see one gradebook, review every flagged item with the keyboard,
see the reports change, reload and find everything again; another teacher sees none of it.
Screenshots of each step go to test-screenshots/ (not committed) for a person to look at."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pikepdf
from pypdf import PdfReader

from tests.helpers.browser import external_requests, shoot
from tests.helpers.service import OTHER_TOKEN, TOKEN, Cluster
from worker.service.storage import Storage

UI_TIMEOUT_MS = 150_000
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
STUDENTS = 6
ANSWERS = ["12", "7", "30", "5", "81", "4"]
ROSTER_IDS = ["240101", "240117", "240125", "240132", "240148", "240156"]


def class_scans(layout_path: Path, folder: Path) -> tuple[Path, Path]:
    """The class's filled-in sheets (MNIST test digits), as the copier made them: two PDFs."""
    from model.training.data import mnist_loader
    from scangrade.settings import get_settings
    from worker.sheets.layout import Layout
    from worker.synth.class_set import SynthOptions, synthesize

    layout = Layout.load(layout_path)
    key = {q.id: answer for q, answer in zip(layout.questions, ANSWERS, strict=True)}
    result = synthesize(layout, mnist_loader(get_settings()),
                        SynthOptions(students=STUDENTS, seed=7, dpi=150, blank_pages=0,
                                     text_pages=1, other_exam_pages=0),
                        key=key, roster_ids=ROSTER_IDS)
    halves = []
    with pikepdf.open(io.BytesIO(result.pdf)) as source:
        middle = len(source.pages) // 2
        for name, pages in (("copier 1.pdf", source.pages[:middle]),
                            ("copier 2.pdf", source.pages[middle:])):
            with pikepdf.new() as part:
                part.pages.extend(pages)
                part.save(folder / name)
            halves.append(folder / name)
    return halves[0], halves[1]


def sign_in(page, token: str) -> None:
    page.fill("#token", token)
    page.click("#save-token")


def test_a_whole_exam_in_the_browser(service: Cluster, browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(accept_downloads=True, viewport=DESKTOP)
    page.set_default_timeout(30_000)
    outside = external_requests(page, service.base_url)
    page.goto(service.base_url + "/")
    expect(page.locator("#token")).to_be_focused()
    shoot(page, "01-sign-in")
    sign_in(page, TOKEN)
    expect(page.locator("#view-home h2").first).to_have_text("Your exams")

    # --- an exam from the form: 6 questions, answers typed in the table, a roster file
    page.fill("#exam-name", "Fractions quiz 7b")
    page.fill("#exam-count", str(len(ANSWERS)))
    for number, answer in enumerate(ANSWERS, 1):
        page.get_by_label(f"Question {number}: answer").fill(answer)
    page.get_by_label("Question 2: boxes").fill("1")
    page.get_by_label("Question 4: boxes").fill("1")
    page.get_by_label("Question 6: boxes").fill("1")
    roster = tmp_path / "roster 7b.csv"
    # Excel's export: a byte-order mark and semicolons; the last student is not on it
    roster.write_bytes("\ufeffstudent_id;name\n".encode() + "".join(
        f"{sid};Student {n}\n" for n, sid in enumerate(ROSTER_IDS[:-1], 1)).encode()
        + b"240199;Not In Class\n")
    page.set_input_files("#roster-file", str(roster))
    shoot(page, "02-new-exam-form")
    page.click("#create-exam")
    expect(page.locator("#exam-title")).to_have_text("Fractions quiz 7b")
    exam_id = re.search(r"#/exam/([\w-]+)", page.url).group(1)
    expect(page.locator("#flash")).to_contain_text("6 questions, 6-digit student IDs")

    # --- print the sheets
    expect(page.locator("#sheet-copies")).to_have_value("6")  # one per roster student
    with page.expect_download() as sheets:
        page.click("#download-sheets")
    assert len(PdfReader(sheets.value.path()).pages) == 6

    # --- upload the class in two files at once
    storage = Storage(service.storage)
    first, second = class_scans(storage.exam_files(exam_id).layout, tmp_path)
    page.set_input_files("#pdf-files", [str(first), str(second)])
    page.click("#upload")
    rows = page.locator("tr.job")
    expect(rows).to_have_count(2)
    for index in range(2):
        expect(rows.nth(index).locator(".status")).to_have_attribute(
            "data-status", "done", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#gradebook .summary")).to_contain_text(
        f"{STUDENTS} student(s) graded from 2 upload(s)", timeout=UI_TIMEOUT_MS)
    shoot(page, "03-exam-graded")
    before = _students_csv(page)
    assert len(before) == STUDENTS + 1  # one row per sheet, plus the roster student absent

    # --- review every flagged item with the keyboard only
    page.click("#start-review")
    expect(page.locator("#review-card form")).to_be_visible()
    shoot(page, "04-review-item")
    reviewed = 0
    while page.locator("#review-card form").is_visible():
        if page.locator(".candidates").count():
            shoot(page, "05-id-card")
        page.keyboard.press("Enter")  # as read, or the most probable roster student
        reviewed += 1
        assert reviewed < 60, "the review never ends"
    expect(page.locator("#review-done")).to_be_visible()
    expect(page.locator("#review-save")).to_contain_text("All decisions saved", timeout=30_000)
    assert reviewed >= 1  # the student off the roster at least
    shoot(page, "06-review-done")

    # --- the reports changed: the gradebook has the decisions and nothing left to review
    page.click("#review-downloads a")
    expect(page.locator("#gradebook")).to_contain_text("Nothing to review")
    journal = _download(page, "corrections.csv")
    assert len(journal) == reviewed
    after = _students_csv(page)
    assert [row["status"] for row in after if row["status"] == "needs review"] == []
    assert before != after

    # --- a reload, and a new tab, find everything again
    page.reload()
    expect(page.locator("#exam-title")).to_have_text("Fractions quiz 7b")
    expect(page.locator("tr.job")).to_have_count(2)
    page.goto(service.base_url + "/#/")
    expect(page.locator("tr.exam", has_text="Fractions quiz 7b")).to_have_count(1)
    shoot(page, "07-exams-list")
    assert outside == [], outside  # no CDN, no font service, nothing outside
    page.close()

    # --- another teacher sees none of it
    other = browser.new_page(viewport=DESKTOP)
    other.goto(service.base_url + "/")
    sign_in(other, OTHER_TOKEN)
    expect(other.locator("#view-home h2").first).to_have_text("Your exams")
    expect(other.locator("tr.exam", has_text="Fractions quiz 7b")).to_have_count(0)
    other.goto(service.base_url + f"/#/exam/{exam_id}")
    expect(other.locator("#flash")).to_contain_text("no such exam among yours")
    other.close()


def _download(page, name: str) -> list[dict[str, str]]:
    with page.expect_download() as info:
        page.locator(f"#gradebook a.download[data-report='{name}']").click()
    text = Path(info.value.path()).read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def _students_csv(page) -> list[dict[str, str]]:
    return _download(page, "students.csv")


def test_the_page_fits_a_phone_and_labels_every_control(service: Cluster, browser) -> None:
    page = browser.new_page(viewport=PHONE)
    page.goto(service.base_url + "/")
    sign_in(page, TOKEN)
    page.wait_for_selector("#exam-form")
    unlabeled = page.evaluate("""() => Array.from(document.querySelectorAll(
        'input, select, textarea')).filter((c) => !c.labels.length &&
        !c.getAttribute('aria-label')).map((c) => c.id || c.outerHTML)""")
    assert unlabeled == []
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width}px)"
    shoot(page, "08-phone")
    page.close()


def test_the_api_docs_work_offline(service: Cluster, browser) -> None:
    page = browser.new_page(viewport=DESKTOP)
    outside = external_requests(page, service.base_url)
    page.goto(service.base_url + "/docs")
    page.wait_for_selector(".swagger-ui .information-container", timeout=30_000)
    assert page.locator(".opblock").count() >= 10  # the endpoints are listed
    assert outside == [], outside
    shoot(page, "09-api-docs")
    page.close()


def test_the_page_loads_fast_without_a_build_step(service: Cluster, browser) -> None:
    page = browser.new_page()
    response = page.goto(service.base_url + "/")
    assert response is not None and response.ok
    sizes = {
        name: len(page.request.get(f"{service.base_url}/static/{name}").body())
        for name in ("app.js", "review.js", "style.css")
    }
    assert all(0 < size < 30_000 for size in sizes.values()), sizes  # plain files, no bundle
    page.close()


def test_photos_taken_one_after_another_on_a_phone(service: Cluster, browser, tmp_path) -> None:
    """The camera button on a phone: each photo is uploaded as it is taken and its card says
    whether it was read or must be taken again, and why."""
    from playwright.sync_api import expect

    from model.training.data import mnist_loader
    from scangrade.settings import get_settings
    from tests.helpers.service import create_exam, sample_paths
    from worker.sheets.layout import Layout
    from worker.synth.camera import PhotoRanges
    from worker.synth.class_set import SynthOptions, synthesize_captures

    captured = synthesize_captures(
        Layout.load(sample_paths()["layout"]), mnist_loader(get_settings()),
        SynthOptions(students=2, seed=9, blank_pages=0, text_pages=0, other_exam_pages=0),
        PhotoRanges(frame_px=(3000, 2250)), conditions=["plain", "blurry"])
    photos = []
    for number, data in enumerate(captured.photos, start=1):
        photos.append(tmp_path / f"IMG_{number:04d}.jpg")
        photos[-1].write_bytes(data)
    with service.client() as http:
        exam_id = create_exam(http)
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{service.base_url}/#/exam/{exam_id}")
    sign_in(page, TOKEN)
    expect(page.locator("label[for=camera]")).to_be_visible()
    for photo in photos:  # one sheet after another, without waiting for the first
        page.set_input_files("#camera", str(photo))
    cards = page.locator("#photos li")
    expect(cards).to_have_count(2)
    read, retake = cards.nth(1), cards.nth(0)  # the newest first
    expect(read).to_have_attribute("data-outcome", "read", timeout=UI_TIMEOUT_MS)
    expect(retake).to_have_attribute("data-outcome", "retake", timeout=UI_TIMEOUT_MS)
    expect(retake).to_contain_text("blurry")
    expect(retake).to_contain_text("take the photo again")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width}px)"
    shoot(page, "12-phone-photos")
    page.close()
