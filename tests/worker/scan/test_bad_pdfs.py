"""Hostile and damaged PDFs (tests/helpers/bad_pdfs.py): every real page is read or the whole
file is refused in words, pages keep their numbers, and nothing else is lost."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time

import pytest

from scangrade.config.scan import ScanSettings
from tests.helpers import bad_pdfs
from tests.helpers.paths import REPO_ROOT, SAMPLES
from worker.scan.pdf import (
    DamagedPdfError,
    EncryptedPdfError,
    TooManyPagesError,
    inspect_pdf,
    page_image_problem,
)
from worker.scan.results import PageStatus
from worker.scan.scans import ScanReading, inspect_scans
from worker.sheets.layout import Layout

PAGES = bad_pdfs.SAMPLE_PAGES
# Inspecting a hostile file takes milliseconds; a generous bound still catches a parser that
# walks a bomb (seconds to minutes).
INSPECTION_S = 2.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return bad_pdfs.make_all(tmp_path_factory.mktemp("bad-pdfs"))


def timed_inspection(path, settings):
    start = time.monotonic()
    try:
        return inspect_pdf(path, settings)
    finally:
        assert time.monotonic() - start < INSPECTION_S, path.name


@pytest.mark.parametrize("case", ["count 3", "count 99"])
def test_a_page_count_that_lies_is_not_believed(corpus, settings, case):
    info = timed_inspection(corpus[case], settings)
    assert info.n_pages == PAGES and info.render_path is not None
    stated = case.split()[-1]
    assert f"says it has {stated} pages but holds {PAGES}: all {PAGES} were read" in info.note


def test_the_page_limit_counts_the_real_pages(corpus, settings):
    with pytest.raises(TooManyPagesError, match="has 2001 pages; at most 2000"):
        timed_inspection(corpus["2001 pages, count 100"], settings)


def test_passwords(corpus, settings):
    info = timed_inspection(corpus["owner password only"], settings)
    assert (info.n_pages, info.note) == (PAGES, "")  # opens without one: graded as it is
    with pytest.raises(EncryptedPdfError, match="encrypted with a password; save it without"):
        timed_inspection(corpus["user password"], settings)


@pytest.mark.parametrize(("case", "why"), [
    ("kids loop", "its list of pages loops back on itself"),
    ("deeply nested", "its structure cannot be read"),
])
def test_structures_that_cannot_be_walked_are_refused_in_words(corpus, settings, case, why):
    with pytest.raises(DamagedPdfError, match=f"is a damaged PDF: {why}; save or export it"):
        timed_inspection(corpus[case], settings)


@pytest.mark.parametrize("page", [1, 8])
def test_a_damaged_page_keeps_every_page_number(corpus, settings, page):
    info = timed_inspection(corpus[f"page {page} damaged"], settings)
    assert (info.n_pages, info.damaged_pages) == (PAGES, (page,))
    assert f"page {page} is damaged" in info.note


def test_an_entry_naming_a_missing_object_is_a_damaged_page(corpus, settings):
    info = timed_inspection(corpus["page 9 missing"], settings)
    assert (info.n_pages, info.damaged_pages) == (PAGES, (9,))


def test_a_page_listed_twice_is_two_pages_not_a_loop(corpus, settings):
    info = timed_inspection(corpus["page listed twice"], settings)
    assert info.n_pages == PAGES + 1


def test_a_corrupt_bilevel_image_is_named_not_raised(corpus):
    problem = page_image_problem(corpus["bilevel image corrupt"], 1, "fax.pdf")
    assert problem == ("fax.pdf page 1: its scanned image is damaged and cannot be read;"
                       " rescan the page")
    assert page_image_problem(SAMPLES / "scans.pdf", 1, "scans.pdf") is None


def test_files_of_the_same_name_keep_their_own_pages(corpus, settings, tmp_path):
    """Two repaired files called scans.pdf in one run: each is rendered from its own copy."""
    first, second = tmp_path / "a" / "scans.pdf", tmp_path / "b" / "scans.pdf"
    for target, case in ((first, "count 3"), (second, "page 8 damaged")):
        target.parent.mkdir()
        target.write_bytes(corpus[case].read_bytes())
    one, two = (timed_inspection(path, settings) for path in (first, second))
    assert one.rendered != two.rendered
    assert (one.damaged_pages, two.damaged_pages) == ((), (8,))
    assert one.rendered.read_bytes() != two.rendered.read_bytes()


def test_reading_grades_every_real_page_and_blames_the_broken_one(corpus, settings, reader):
    """Read as one class: the pages of a file whose count lies all come, a damaged page and
    a page whose image is corrupt are errors that say so, at their own page numbers, and
    every other page reads as the plain sample's does."""
    names = ["count 3", "page 8 damaged", "image of page 5 corrupt"]
    layout = Layout.load(SAMPLES / "layout.yaml")
    layouts = {layout.exam_id: layout}
    plain = inspect_scans([SAMPLES / "scans.pdf"], settings)
    expected = {page.source_page: page for page in ScanReading(plain, layouts, reader, settings)}
    reading = ScanReading(inspect_scans([corpus[name] for name in names], settings), layouts,
                          reader, settings)
    pages = list(reading)
    assert len(pages) == 3 * PAGES
    broken = {PAGES + 8: "damaged-page-8.pdf page 8 is damaged",
              2 * PAGES + 5: "corrupt-image-page-5.pdf page 5: its scanned image is damaged"}
    for page in pages:
        local = (page.source_page - 1) % PAGES + 1
        if page.source_page in broken:
            assert page.status == PageStatus.ERROR and broken[page.source_page] in page.message
        else:
            same = expected[local]
            assert (page.status, page.copy, [box.digit for box in page.boxes]) == (
                same.status, same.copy, [box.digit for box in same.boxes]), page.source_page
    assert any("count-says-3.pdf says it has 3 pages" in line for line in reading.problems)


def test_the_cli_grades_what_it_can_and_prints_no_library_noise(corpus, tmp_path):
    """`scangrade grade` as a teacher runs it, on good, odd and hopeless files at once: exit
    0 with reports; one line in words per problem file; nothing else on stderr."""
    files = [corpus[name] for name in ("count 3", "owner password only", "user password",
                                       "kids loop", "deeply nested", "page 8 damaged")]
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", "grade", *map(str, files),
         "--layout", str(SAMPLES / "layout.yaml"), "--key", str(SAMPLES / "key.csv"),
         "--roster", str(SAMPLES / "roster.csv"), "--out", str(out), "--no-progress",
         "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # no qpdf/poppler/pypdf warnings, no traceback
    summary = json.loads(result.stdout)
    assert summary["pages"] == 3 * PAGES  # count 3, owner-only and damaged-page files
    problems = "\n".join(summary["problems"])
    for words in ("locked-aes256.pdf is encrypted with a password",
                  "kids-loop.pdf is a damaged PDF: its list of pages loops back",
                  "deeply-nested.pdf is a damaged PDF", "says it has 3 pages but holds 15",
                  "damaged-page-8.pdf: page 8 is damaged"):
        assert words in problems, words
    rows = list(csv.DictReader(io.StringIO((out / "pages.csv").read_text("utf-8-sig"))))
    assert len(rows) == 3 * PAGES
    assert rows[2 * PAGES + 7]["status"] == "error"
    assert "damaged-page-8.pdf page 8 is damaged" in rows[2 * PAGES + 7]["note"]


def test_the_scan_set_reports_refused_files_and_keeps_the_rest(corpus):
    scans = inspect_scans([corpus["user password"], corpus["count 99"]], ScanSettings())
    assert [info.path.name for info in scans.files] == ["count-says-99.pdf"]
    assert len(scans.problems) == 1 and "encrypted" in scans.problems[0]
