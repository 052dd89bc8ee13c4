"""What a grading run saves under DIR/inputs/ so `regrade` needs nothing but DIR: the page
reads as JSON lines and copies of the layout, key, roster and scans, with a manifest."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.grading.errors import GradingInputError
from worker.grading.exam import Exam
from worker.grading.key import load_key
from worker.scan.pdf import count_pages
from worker.scan.previews import PreviewFolder, preview_path
from worker.scan.results import PageResult
from worker.scan.sources import ScanFile, scan_file

INPUTS_DIR = "inputs"
PAGES_FILE = "pages.jsonl"
MANIFEST_FILE = "manifest.json"
PREVIEWS_DIR = "pages"  # the page images the read pass kept (worker.scan.previews)
WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


@dataclass
class SavedInputs:
    """What a previous run saved: its page reads, exam (unless not asked for), scans and the
    problems met while reading."""

    pages: list[PageResult]
    exam: Exam | None
    scans: list[ScanFile]  # the saved copies, with the page counts read when grading
    problems: list[str]


def _copy_into(source: Path, target: Path) -> None:
    """A copy, so that a later rewrite of the teacher's file cannot change the saved one; a
    hard link instead when `source` is read-only (the service's stored scans, never
    rewritten): a class's scans are then kept once. An earlier file at `target` (even a hard
    link to `source`) is replaced, not written into."""
    if target.exists() and target.resolve() == source.resolve():
        return  # grading again from the saved inputs themselves
    target.unlink(missing_ok=True)
    link_or_copy(source, target)


def link_or_copy(source: str | Path, target: str | Path) -> None:
    """A hard link to a read-only `source` (nothing rewrites it in place), else a copy; a
    `shutil.copytree` copy_function."""
    if not os.stat(source).st_mode & WRITE_BITS:
        try:
            os.link(source, target)
            return
        except OSError:  # another filesystem, or links not allowed: copy
            pass
    shutil.copy2(source, target)


def previews_dir(out_dir: Path) -> Path:
    """Where a report folder keeps its page images (the CLI's read pass writes them there)."""
    return Path(out_dir) / INPUTS_DIR / PREVIEWS_DIR


def fresh_previews(out_dir: Path, dpi: int, jpeg_quality: int) -> PreviewFolder:
    """An empty page-image folder in the report folder for a read pass to fill."""
    folder = previews_dir(out_dir)
    shutil.rmtree(folder, ignore_errors=True)
    return PreviewFolder(folder, dpi, jpeg_quality)


def _save_previews(pages: list[PageResult], previews: Path, out_dir: Path) -> None:
    """Links (or copies, across filesystems) each page's image into the folder."""
    target = previews_dir(out_dir)
    if target.exists() and target.resolve() == Path(previews).resolve():
        return  # written there by the read pass
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for page in pages:
        source = preview_path(previews, page.source_page)
        if not source.is_file():
            continue
        try:
            os.link(source, preview_path(target, page.source_page))
        except OSError:
            shutil.copyfile(source, preview_path(target, page.source_page))


def save_inputs(
    pages: list[PageResult], exam: Exam, scans: Sequence[ScanFile], out_dir: Path,
    problems: list[str], previews: Path | None = None,
) -> None:
    """Saves the run's inputs, with the page images in `previews`; a scan file that is gone
    is added to `problems`."""
    inputs = out_dir / INPUTS_DIR
    (inputs / "scans").mkdir(parents=True, exist_ok=True)
    with open(inputs / PAGES_FILE, "w", encoding="utf-8") as f:
        for page in sorted(pages, key=lambda p: p.source_page):
            f.write(json.dumps(page.to_json()) + "\n")
    files: dict[str, Any] = {}
    for name, path in (
        ("layout", exam.layout_path),
        ("key", exam.key_path),
        ("roster", exam.roster_path),
    ):
        if path is None:
            continue
        target = inputs / f"{name}{Path(path).suffix or '.txt'}"
        _copy_into(Path(path), target)
        files[name] = target.name
    if exam.layout_path is None:  # built in memory: save what grading used
        (inputs / "layout.yaml").write_text(exam.layout.to_yaml(), encoding="utf-8")
        files["layout"] = "layout.yaml"
    if exam.key_path is None:
        lines = ["question,answer,points"]
        lines += [
            f"{e.question},{e.text},{'' if e.points is None else e.points}"
            for e in exam.key.entries.values()
        ]
        (inputs / "key.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        files["key"] = "key.csv"
    saved_scans = []
    for number, scan in enumerate(scans, 1):
        target = inputs / "scans" / f"{number:02d}-{scan.path.name}"
        if scan.rendered.is_file():  # the pages as read: a repaired copy when one was needed
            _copy_into(scan.rendered, target)
        else:  # still listed with its page count, so later files keep their page numbers
            problems.append(f"{scan.path.name}: scan file not found; review.pdf shows blank"
                            " pages")
        saved_scans.append({"file": str(target.relative_to(inputs)), "pages": scan.n_pages})
    files["scans"] = saved_scans
    files["problems"] = problems  # what went wrong reading, for the summary of a regrade
    if previews is not None:
        _save_previews(pages, previews, out_dir)
    else:  # an earlier run's images are not of these pages
        shutil.rmtree(previews_dir(out_dir), ignore_errors=True)
    (inputs / MANIFEST_FILE).write_text(json.dumps(files, indent=2) + "\n", encoding="utf-8")


def with_key(exam: Exam, key_path: Path) -> Exam:
    """The exam with a corrected answer key (nothing written); raises AnswerKeyError naming
    the line when the key is bad."""
    corrected = Exam.from_parts(exam.layout, load_key(key_path), exam.roster)
    corrected.layout_path, corrected.key_path = exam.layout_path, Path(key_path)
    corrected.roster_path = exam.roster_path
    return corrected


def save_key(out_dir: Path, key_path: Path) -> None:
    """Makes a corrected key the folder's saved one, for every later regrade."""
    inputs = out_dir / INPUTS_DIR
    manifest_path = inputs / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    target = inputs / manifest.get("key", "key.csv")
    _copy_into(key_path, target)
    manifest["key"] = target.name
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def load_saved(out_dir: str | Path, load_exam: bool = True) -> SavedInputs:
    """The pages, exam, scans and reading problems a previous run saved."""
    inputs = Path(out_dir) / INPUTS_DIR
    manifest_path = inputs / MANIFEST_FILE
    if not manifest_path.is_file() or not (inputs / PAGES_FILE).is_file():
        raise GradingInputError(
            out_dir,
            "not a scangrade output folder (inputs/manifest.json"
            " is missing); run `scangrade grade` into it first",
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    exam = None
    if load_exam:
        roster = inputs / manifest["roster"] if manifest.get("roster") else None
        exam = Exam.load(inputs / manifest["layout"], inputs / manifest["key"], roster)
    with open(inputs / PAGES_FILE, encoding="utf-8") as f:
        pages = [PageResult.from_json(json.loads(line)) for line in f if line.strip()]
    scans = [_saved_scan(inputs, entry) for entry in manifest.get("scans", [])]
    return SavedInputs(pages, exam, scans, list(manifest.get("problems", [])))


def _saved_scan(inputs: Path, entry: dict[str, Any] | str) -> ScanFile:
    if isinstance(entry, str):  # folders graded before page counts were saved (PDFs only)
        return scan_file(inputs / entry, count_pages(inputs / entry))
    return scan_file(inputs / entry["file"], int(entry["pages"]))
