"""`scangrade bench grade`: what a teacher waits for. `scangrade grade` run as a teacher runs
it (a fresh process: start-up, reading, every report) on a synthetic class, interleaved
with bare `pdftoppm -r DPI -gray` on the same PDF, both pinned to the same CPUs; peak
memory of the whole process tree (workers and poppler included) at several page counts;
start-up (a one-page scan).

The class is the sample exam (samples/layout.yaml, key.csv) written by MNIST test digits
(worker.synth.class_set), one sheet per student; it is built once per size and seed and
kept in the work folder. Longer PDFs for the memory figures repeat its pages.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from scangrade.settings import Settings
from worker.measure.bench_pipeline import pin_to_cores

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
RSS_SAMPLE_S = 0.02  # how often the process tree's memory is looked at


def build_class(folder: Path, students: int, seed: int, settings: Settings,
                log: Callable[[str], None]) -> tuple[Path, Path]:
    """(scans PDF, roster CSV) of a synthetic class of the sample exam, reused when built;
    its truth (which page is a student's sheet) beside the PDF."""
    from model.training.data import mnist_loader
    from worker.sheets.layout import Layout
    from worker.synth.class_set import SynthOptions, write_class_set

    folder.mkdir(parents=True, exist_ok=True)
    pdf, roster = folder / f"class-{students}s-seed{seed}.pdf", folder / f"roster-{seed}.csv"
    if pdf.is_file() and roster.is_file() and truth_path(pdf).is_file():
        return pdf, roster
    layout = Layout.load(SAMPLES / "layout.yaml")
    rng = np.random.default_rng(seed)
    ids = sorted(f"{int(v):0{layout.id_digits}d}"
                 for v in rng.choice(10**layout.id_digits, students, replace=False))
    roster.write_text("student_id,name\n" + "".join(f"{i},Student {i}\n" for i in ids),
                      encoding="utf-8")
    log(f"synthesizing a class of {students} students")
    write_class_set(layout, mnist_loader(settings), pdf, truth_path(pdf),
                    SynthOptions(students=students, seed=seed), key_path=SAMPLES / "key.csv",
                    roster_path=roster)
    return pdf, roster


def truth_path(pdf: Path) -> Path:
    return pdf.with_suffix(".truth.json")


def repeated_pdf(source: Path, pages: int, folder: Path) -> Path:
    """`source`'s students' sheets repeated (or cut) to `pages` pages (so that even one page
    is a sheet to grade, not one of the foreign pages mixed into the class)."""
    import json

    import pikepdf

    target = folder / f"{source.stem}-{pages}p.pdf"
    if target.is_file():
        return target
    truth = json.loads(truth_path(source).read_text())
    sheets = [page["source_page"] for page in truth["pages"] if page["kind"] == "sheet"]
    with pikepdf.open(source) as pdf, pikepdf.new() as out:
        for number in range(pages):
            out.pages.append(pdf.pages[sheets[number % len(sheets)] - 1])
        out.save(target)
    return target


def _tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and all its descendants, MB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / 2**20


def run_timed(command: list[str], cores: int) -> dict[str, Any]:
    """Runs `command` pinned to `cores` CPUs: wall seconds and peak memory of its tree."""
    peak = [0.0]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=lambda: pin_to_cores(cores))

    def watch() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mb(process.pid))
            time.sleep(RSS_SAMPLE_S)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _out, err = process.communicate()
    seconds = time.perf_counter() - started
    watcher.join()
    if process.returncode not in (0, 3):  # 3: students need review (--fail-on-review)
        raise RuntimeError(f"{command[0]} failed ({process.returncode}): {err.decode()[-2000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak[0], 1)}


def grade_command(pdf: Path, roster: Path, out: Path) -> list[str]:
    scangrade = Path(sys.executable).with_name("scangrade")
    return [str(scangrade), "grade", str(pdf), "--layout", str(SAMPLES / "layout.yaml"),
            "--key", str(SAMPLES / "key.csv"), "--roster", str(roster), "--out", str(out),
            "--no-progress", "--force"]


def time_grade(pdf: Path, roster: Path, cores: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="scangrade-bench-grade-") as folder:
        return run_timed(grade_command(pdf, roster, Path(folder) / "out"), cores)


def time_pdftoppm(pdf: Path, dpi: int, cores: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="scangrade-bench-ppm-") as folder:
        return run_timed(["pdftoppm", "-r", str(dpi), "-gray", str(pdf), f"{folder}/p"], cores)


def _pages_of(pdf: Path) -> int:
    import pikepdf

    with pikepdf.open(pdf) as opened:
        return len(opened.pages)


def bench_grade(settings: Settings, students: int = 300, repeats: int = 3, cores: int = 2,
                memory_pages: tuple[int, ...] = (10, 2000), seed: int = 7,
                work_dir: Path | None = None, log: Callable[[str], None] = print
                ) -> dict[str, Any]:
    folder = work_dir or Path(tempfile.gettempdir()) / "scangrade-bench"
    pdf, roster = build_class(folder, students, seed, settings, log)
    pages = _pages_of(pdf)
    dpi = settings.dpi
    grade_runs, poppler_runs = [], []
    for repeat in range(repeats):
        log(f"run {repeat + 1}/{repeats}: pdftoppm, then scangrade grade ({pages} pages)")
        poppler_runs.append(time_pdftoppm(pdf, dpi, cores))
        grade_runs.append(time_grade(pdf, roster, cores))
    grade_s = statistics.median(run["seconds"] for run in grade_runs)
    poppler_s = statistics.median(run["seconds"] for run in poppler_runs)

    log("start-up: a one-page scan, twice")
    one_page = repeated_pdf(pdf, 1, folder)
    start_up = [time_grade(one_page, roster, cores)["seconds"] for _ in range(2)]

    memory = {}
    for count in memory_pages:
        log(f"memory: {count} pages")
        run = time_grade(repeated_pdf(pdf, count, folder), roster, cores)
        memory[str(count)] = run | {"pages_per_s": round(count / run["seconds"], 2)}
    return {
        "what": "scangrade grade (whole process, every report) vs bare pdftoppm -gray, "
                "same PDF, same CPUs, interleaved",
        "pages": pages, "dpi": dpi, "cores": cores, "repeats": repeats,
        "grade": {"median_seconds": grade_s, "pages_per_s": round(pages / grade_s, 2),
                  "runs": grade_runs},
        "pdftoppm": {"median_seconds": poppler_s, "pages_per_s": round(pages / poppler_s, 2),
                     "runs": poppler_runs},
        "grade_vs_pdftoppm": round(grade_s / poppler_s, 2),
        "one_page_seconds": {"first": start_up[0], "warm": start_up[1]},
        "peak_rss_mb_by_pages": {count: run["peak_rss_mb"] for count, run in memory.items()},
        "memory_runs": memory,
    }
