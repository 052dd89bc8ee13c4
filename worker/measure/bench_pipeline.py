"""`scangrade bench pipeline`: pages/s of the whole scan path next to bare `pdftoppm`, and
peak memory for a long PDF.

The bench PDF repeats a fresh synthetic class set (worker.synth.class_set) up to the page count, so
building it is quick while every page is still a real JPEG scan poppler must decode. The
pipeline runs in a child process pinned to `cores` CPUs so its peak RSS is its own.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scangrade.settings import Settings
from worker.measure.eval_pipeline import make_eval_set

UNIQUE_PAGES = 24  # distinct synthetic pages, repeated to the page count


def build_bench_pdf(out_dir: Path, pages: int, seed: int, settings: Settings
                    ) -> tuple[Path, Path]:
    """(bench PDF of `pages` pages, layout JSON) in out_dir."""
    import pikepdf

    pdf, _, layout = make_eval_set(out_dir, min(pages, UNIQUE_PAGES), seed, settings)
    bench_pdf = out_dir / f"bench-{pages}.pdf"
    with pikepdf.open(pdf) as source, pikepdf.new() as writer:
        for number in range(pages):
            writer.pages.append(source.pages[number % len(source.pages)])
        writer.save(bench_pdf)
    layout_path = out_dir / "layout.json"
    layout_path.write_text(json.dumps(layout.model_dump(mode="json")))
    return bench_pdf, layout_path


def time_pdftoppm(pdf: Path, dpi: int, cores: int) -> dict[str, Any]:
    """Bare rasterization: pdftoppm writing greyscale PGM files, as the pipeline asks for."""
    with tempfile.TemporaryDirectory(prefix="scangrade-ppm-") as tmp:
        started = time.perf_counter()
        subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", str(pdf), f"{tmp}/p"], check=True,
                       preexec_fn=lambda: pin_to_cores(cores))
        seconds = time.perf_counter() - started
        pages = len(os.listdir(tmp))
    return {"pages": pages, "seconds": round(seconds, 2), "pages_per_s": round(pages / seconds, 2)}


def run_pipeline_child(pdf: Path, layout_path: Path, dpi: int, cores: int) -> dict[str, Any]:
    """The pipeline in a fresh process pinned to `cores` CPUs; its timing and peak memory."""
    command = [sys.executable, "-m", "worker.measure.bench_pipeline", str(pdf), str(layout_path),
               str(dpi), str(cores)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def pin_to_cores(cores: int) -> None:
    available = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, available[:cores])


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _child(pdf: str, layout_path: str, settings: Settings, cores: int) -> dict[str, Any]:
    """Runs in the child process: warm the reader, then time read_scan over the whole PDF."""
    pin_to_cores(cores)
    from model.inference.reader import DigitReader
    from worker.scan.pipeline import read_scan
    from worker.scan.previews import PreviewFolder
    from worker.scan.sources import inspect_scan
    from worker.sheets.layout import Layout

    layout = Layout.load(layout_path)
    reader = DigitReader.load(settings)
    reader.warm_up()
    timed = _TimedReader(reader)
    rss_samples: list[tuple[int, float]] = []
    baseline = _rss_mb()
    started = time.perf_counter()
    statuses: dict[str, int] = {}
    pages = 0
    with tempfile.TemporaryDirectory(prefix="scangrade-previews-") as folder:
        # the page images kept for review.pdf are part of the scan path's work
        previews = PreviewFolder(Path(folder), settings.review_dpi, settings.review_jpeg_quality)
        for result in read_scan(inspect_scan(pdf, settings), {layout.exam_id: layout}, timed,
                               settings, previews=previews,
                               progress=lambda done, total: rss_samples.append((done, _rss_mb()))):
            pages += 1
            statuses[str(result.status)] = statuses.get(str(result.status), 0) + 1
    seconds = time.perf_counter() - started
    # Peak of this process only: a forked pdftoppm's ru_maxrss includes the Python parent's
    # pages from before its exec, so RUSAGE_CHILDREN would just repeat this figure.
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    early = next((rss for done, rss in rss_samples if done >= pages // 10), baseline)
    return {
        "pages": pages, "seconds": round(seconds, 2), "pages_per_s": round(pages / seconds, 2),
        "reader_seconds": round(timed.seconds, 2), "reader_crops": timed.crops,
        "statuses": statuses,
        "rss_mb": {"after_warm_up": round(baseline, 1), "at_10_percent": round(early, 1),
                   "at_end": round(rss_samples[-1][1], 1) if rss_samples else None,
                   "peak": round(peak_self, 1)},
    }


class _TimedReader:
    """Passes crops to the real reader, adding up the time it takes."""

    def __init__(self, reader):
        self.reader, self.seconds, self.crops = reader, 0.0, 0

    def read_batch(self, crops):
        started = time.perf_counter()
        batch = self.reader.read_batch(crops)
        self.seconds += time.perf_counter() - started
        self.crops += len(crops)
        return batch


def bench_crop_methods(pdf: Path, layout_path: Path, settings: Settings, repeats: int = 20
                       ) -> dict[str, float]:
    """ms per page to cut every box: one small warp per box vs one whole-page warp."""
    from worker.scan.align import align_page
    from worker.scan.crop import crop_boxes, crop_boxes_whole_page
    from worker.scan.rasterize import rasterize_pages
    from worker.scan.sources import inspect_scan
    from worker.sheets.layout import Layout

    layout = Layout.load(layout_path)
    info = inspect_scan(pdf, settings)
    for page in rasterize_pages(info, 1, min(info.n_pages, 8), settings):
        alignment = align_page(page.image, page.dpi, {layout.exam_id: layout}, settings)
        if alignment.fit is not None and alignment.layout is not None:
            break
    else:
        return {}
    cells = layout.cells(alignment.payload.page)
    args = (page.image, alignment.fit.mm_to_px, cells, settings.crop_px_per_mm,
            settings.crop_margin_mm)
    timings = {}
    for name, call in (("per_box_warp_ms", lambda: crop_boxes(*args)),
                       ("whole_page_warp_ms",
                        lambda: crop_boxes_whole_page(*args, layout.page_size_mm))):
        started = time.perf_counter()
        for _ in range(repeats):
            call()
        timings[name] = round((time.perf_counter() - started) / repeats * 1000, 2)
    align_started = time.perf_counter()
    for _ in range(repeats):
        align_page(page.image, page.dpi, {layout.exam_id: layout}, settings)
    timings["align_page_ms"] = round((time.perf_counter() - align_started) / repeats * 1000, 2)
    timings["boxes_per_page"] = len(cells)
    return timings


def bench_pipeline(settings: Settings, pages: int = 300, dpis: tuple[int, ...] = (200,),
                   cores: int = 2, seed: int = 7, log=lambda line: None) -> dict[str, Any]:
    report: dict[str, Any] = {"what": "scan pipeline vs bare pdftoppm, same PDF and DPI",
                              "pages": pages, "cores": cores, "runs": []}
    with tempfile.TemporaryDirectory(prefix="scangrade-bench-") as tmp:
        log(f"building a {pages}-page synthetic PDF")
        pdf, layout_path = build_bench_pdf(Path(tmp), pages, seed, settings)
        report["pdf_mb"] = round(pdf.stat().st_size / 2**20, 1)
        for dpi in dpis:
            log(f"{dpi} DPI: pdftoppm")
            bare = time_pdftoppm(pdf, dpi, cores)
            log(f"{dpi} DPI: pipeline")
            whole = run_pipeline_child(pdf, layout_path, dpi, cores)
            report["runs"].append({
                "dpi": dpi, "pdftoppm": bare, "pipeline": whole,
                "pipeline_cost_vs_pdftoppm": round(whole["seconds"] / bare["seconds"], 2),
                "crop": bench_crop_methods(
                    pdf, layout_path, settings.model_copy(update={"dpi": dpi})),
            })
    return report


if __name__ == "__main__":  # the pinned child process of run_pipeline_child
    from scangrade.settings import get_settings

    pdf_arg, layout_arg, dpi_arg, cores_arg = sys.argv[1:5]
    child_settings = get_settings().model_copy(update={"dpi": int(dpi_arg)})
    print(json.dumps(_child(pdf_arg, layout_arg, child_settings, int(cores_arg))))
