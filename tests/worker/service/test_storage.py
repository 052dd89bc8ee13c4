"""The service's shared storage: chunk plans, safe names, atomic chunk files, our IDs only."""

from __future__ import annotations

import pytest

from worker.scan.results import PageResult, PageStatus
from worker.service.storage import ChunkRange, JobManifest, Storage, plan_chunks, safe_filename


@pytest.mark.parametrize(
    ("pages", "size", "expected"),
    [(1, 16, [(1, 1)]), (5, 2, [(1, 2), (3, 4), (5, 5)]), (4, 2, [(1, 2), (3, 4)])],
)
def test_plan_chunks_covers_every_page_once(pages, size, expected) -> None:
    chunks = plan_chunks(pages, size)
    assert [(chunk.first, chunk.last) for chunk in chunks] == expected
    assert sum(chunk.n_pages for chunk in chunks) == pages


def test_plan_chunks_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="n_pages"):
        plan_chunks(0, 4)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("scans.pdf", "scans.pdf"),
        ("../../etc/passwd", "passwd.pdf"),
        ("Klasse 7b.PDF", "Klasse_7b.PDF"),
        ("", "scans.pdf"),
        ("C:\\Users\\me\\a.pdf", "a.pdf"),
        ("...", "scans.pdf"),
    ],
)
def test_safe_filename(name, safe) -> None:
    assert safe_filename(name) == safe


def test_writing_a_chunk_twice_leaves_one_copy(tmp_path) -> None:
    storage = Storage(tmp_path)
    job_id = "J" * 22
    manifest = JobManifest(job_id, "E" * 22, "scans.pdf", 3, 10, 0.0)
    staged = tmp_path / "upload.pdf"
    staged.write_bytes(b"%PDF-1.7")
    storage.publish_job(staged, manifest)
    chunk = ChunkRange(1, 2)
    pages = [
        PageResult(source_page=n, status=PageStatus.BLANK_PAGE, message="blank") for n in (1, 2)
    ]
    storage.write_chunk(job_id, chunk, pages)
    first = storage.chunk_path(job_id, chunk).read_bytes()
    storage.write_chunk(job_id, chunk, pages)
    assert storage.chunk_path(job_id, chunk).read_bytes() == first
    assert [p.name for p in storage.pages_dir(job_id).iterdir()] == ["00001-00002.jsonl"]
    assert storage.load_pages(job_id, [chunk]) == pages
    assert storage.missing_chunks(job_id, [chunk, ChunkRange(3, 3)]) == [ChunkRange(3, 3)]


def test_storage_refuses_ids_that_are_not_ours(tmp_path) -> None:
    with pytest.raises(ValueError, match="not a valid id"):
        Storage(tmp_path).job_dir("../../etc")
