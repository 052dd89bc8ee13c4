"""`scangrade read`, `scangrade eval pipeline`, `scangrade bench pipeline`: the scan pipeline
from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from api.cli import CommandGroups


def read(
    scans: Annotated[Path, typer.Argument(help="Scanned PDF or photo (JPEG, PNG, WebP, HEIC,"
                                                 " TIFF).")],
    layout: Annotated[list[Path], typer.Option(
        "--layout", help="Layout file of an exam the scans may hold (repeat for several).")],
    dpi: Annotated[int | None, typer.Option(help="Rasterization DPI (default: the setting).")]
    = None,
    first_page: Annotated[int, typer.Option(min=1, help="First page to read (1-based).")] = 1,
    last_page: Annotated[int | None, typer.Option(min=1, help="Last page to read.")] = None,
    probs: Annotated[bool, typer.Option(help="Include each box's 11 class probabilities.")]
    = True,
) -> None:
    """Read a scanned PDF or a photo; print one JSON line per page
    (worker.scan.results.PageResult)."""
    from model.inference.reader import DigitReader
    from scangrade.settings import get_settings
    from worker.scan.errors import ScanFileError
    from worker.scan.scans import ScanReading, ScanSet
    from worker.scan.sources import inspect_scan
    from worker.sheets.layout import Layout, LayoutError

    settings = get_settings()
    if dpi is not None:
        settings = settings.model_copy(update={"dpi": dpi})
    layouts = {}
    for path in layout:
        try:
            loaded = Layout.load(path)
        except LayoutError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if loaded.exam_id in layouts:
            typer.echo(f"error: {path}: exam id {loaded.exam_id!r} is given by two layouts",
                       err=True)
            raise typer.Exit(2)
        layouts[loaded.exam_id] = loaded
    try:
        info = inspect_scan(scans, settings)  # a bad file fails before the reader is loaded
        reading = ScanReading(ScanSet.of([info]), layouts, DigitReader.load(settings), settings,
                              first_page, last_page)
    except (ScanFileError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for result in reading:
        data = result.to_json()
        if not probs:
            for box in data["boxes"]:
                box.pop("probs")
        typer.echo(json.dumps(data))
    if reading.problems:
        typer.echo(f"error: {'; '.join(reading.problems)}", err=True)
        raise typer.Exit(2)


DEFAULT_EVAL_SEED = 20261130


def eval_pipeline(
    pages: Annotated[int, typer.Option(min=10, help="Pages in the synthetic batch.")] = 300,
    seed: Annotated[int, typer.Option(help="Synthesis seed (a fresh batch per seed).")]
    = DEFAULT_EVAL_SEED,
    dpi: Annotated[int | None, typer.Option(help="Rasterization DPI (default: the setting).")]
    = None,
    keep: Annotated[Path | None, typer.Option(
        help="Keep the synthetic PDF and truth in this folder, and reuse them when the same "
        "pages and seed are asked for again.")] = None,
    photos: Annotated[bool, typer.Option(
        help="Photograph the batch with a simulated phone too (shadows, tilt, glare, blur, a "
        "covered or cut-off corner, too far) and compare with the same sheets scanned.")]
    = False,
) -> None:
    """Alignment, identification and box reading accuracy on a fresh synthetic batch (JSON)."""
    from scangrade.settings import get_settings
    from worker.measure.eval_pipeline import evaluate_photos, evaluate_pipeline

    settings = get_settings()
    if dpi is not None:
        settings = settings.model_copy(update={"dpi": dpi})
    evaluate = evaluate_photos if photos else evaluate_pipeline
    options = {"seed": seed} if seed != DEFAULT_EVAL_SEED or not photos else {}
    report = evaluate(settings, pages=pages, keep_dir=keep,
                      log=lambda line: typer.echo(line, err=True), **options)
    typer.echo(json.dumps(report, indent=2))


def bench_pipeline(
    pages: Annotated[int, typer.Option(min=10, help="Pages in the bench PDF.")] = 300,
    dpi: Annotated[list[int] | None, typer.Option(help="DPI to measure (repeatable).")] = None,
    cores: Annotated[int, typer.Option(min=1, help="CPUs the runs are pinned to.")] = 2,
) -> None:
    """Pages/s of the scan pipeline next to bare pdftoppm at the same DPI; peak RSS (JSON)."""
    from scangrade.settings import get_settings
    from worker.measure.bench_pipeline import bench_pipeline as run

    settings = get_settings()
    dpis = tuple(dpi) if dpi else (settings.dpi,)
    report = run(settings, pages=pages, dpis=dpis, cores=cores,
                 log=lambda line: typer.echo(line, err=True))
    typer.echo(json.dumps(report, indent=2))


def register(groups: CommandGroups) -> None:
    groups.root.command("read")(read)
    groups.eval.command("pipeline")(eval_pipeline)
    groups.bench.command("pipeline")(bench_pipeline)
