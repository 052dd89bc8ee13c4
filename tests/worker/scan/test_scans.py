"""Several scanned PDFs as one run: each inspected once, pages numbered across the files, a
page range across them (as a Celery chunk reads it), and a bad file that stops nothing."""

import pytest
from pypdf import PdfReader, PdfWriter

from scangrade.config.scan import ScanSettings
from worker.scan.pdf import PdfInfo
from worker.scan.scans import ScanReading, ScanSet, inspect_scans

SETTINGS = ScanSettings(dpi=150, chunk_pages=3)


@pytest.fixture(scope="module")
def halves(class_set, tmp_path_factory):
    """The class set split into two PDFs: its first 3 pages, then the rest."""
    path, truth = class_set
    source = PdfReader(path)
    folder = tmp_path_factory.mktemp("halves")
    files = []
    for name, numbers in (("a.pdf", range(3)), ("b.pdf", range(3, len(source.pages)))):
        writer = PdfWriter()
        for number in numbers:
            writer.add_page(source.pages[number])
        writer.write(folder / name)
        files.append(folder / name)
    return files, truth


def test_files_are_numbered_in_order_and_a_bad_file_is_a_problem(halves, layout, reader, tmp_path):
    (first, second), truth = halves
    bad = tmp_path / "photo.pdf"
    bad.write_bytes(b"\xff\xd8\xff\xe0 a JPEG")
    scans = inspect_scans([first, bad, second], SETTINGS)
    assert [info.path for info in scans.files] == [first, second]
    assert scans.n_pages == truth["n_pages"]
    assert len(scans.problems) == 1 and "photo.pdf is a damaged JPEG" in scans.problems[0]
    reading = ScanReading(scans, {layout.exam_id: layout}, reader, SETTINGS)
    pages = list(reading)
    assert [page.source_page for page in pages] == list(range(1, truth["n_pages"] + 1))
    for page, expected in zip(pages, truth["pages"], strict=True):
        if expected["kind"] == "sheet":
            assert (page.copy, page.page) == (expected["copy"], expected["page"])
    assert reading.problems == list(scans.problems)


def test_a_page_range_across_two_files(halves, layout, reader):
    (first, second), _ = halves
    scans = inspect_scans([first, second], SETTINGS)
    pages = list(ScanReading(scans, {layout.exam_id: layout}, reader, SETTINGS, 2, 5))
    assert [page.source_page for page in pages] == [2, 3, 4, 5]
    with pytest.raises(ValueError, match="outside the scans' pages"):
        ScanReading(scans, {}, reader, SETTINGS, 4, scans.n_pages + 1)


def test_recorded_page_counts_need_no_inspection(halves, layout, reader):
    """The service builds its ScanSet from the page count it recorded on upload."""
    (first, _), _ = halves
    pages = list(ScanReading(ScanSet.of([PdfInfo(first, 3)]), {layout.exam_id: layout},
                             reader, SETTINGS, 3, 3))
    assert [page.source_page for page in pages] == [3]


def test_a_file_gone_after_inspection_costs_only_its_own_pages(halves, layout, reader, tmp_path):
    (first, second), _ = halves
    gone = tmp_path / "gone.pdf"
    gone.write_bytes(first.read_bytes())
    scans = inspect_scans([gone, second], SETTINGS)
    gone.unlink()  # removed after inspection: poppler cannot read it any more
    reading = ScanReading(scans, {layout.exam_id: layout}, reader, SETTINGS)
    pages = list(reading)
    assert [page.source_page for page in pages][-1] == scans.n_pages
    assert all(page.source_page > 3 or page.status == "error" for page in pages)


def test_nothing_to_read(reader):
    reading = ScanReading(ScanSet(problems=("x.pdf has no pages",)), {}, reader, SETTINGS)
    assert list(reading) == [] and reading.problems == ["x.pdf has no pages"]
