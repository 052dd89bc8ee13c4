"""Digit-reader commands: train, eval reader, bench reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from api.cli import CommandGroups


def train(
    model: Annotated[
        str, typer.Option(help="Which CNN of the reader: full, second (averaged with full) "
                               "or screen.")
    ] = "full",
    epochs: Annotated[int | None, typer.Option(help="Epochs (default: the config's).")] = None,
    out: Annotated[Path | None, typer.Option(help="Weights file to write.")] = None,
    limit_train: Annotated[
        int | None, typer.Option(help="Use only this many training digits (smoke runs).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: the config's); "
                                                  "same seed, same weights.")] = None,
    recipe: Annotated[str, typer.Option(
        help="shipped: how model/weights/ was trained; styles: adds the handwriting MNIST "
             "lacks (digit forms, pens, elastic distortion, the faint pass).")] = "shipped",
    init_from: Annotated[
        Path | None, typer.Option(help="Start from these weights (fine-tuning) instead of "
                                       "from scratch.")
    ] = None,
    learning_rate: Annotated[
        float | None, typer.Option(help="Peak learning rate (default: the config's).")
    ] = None,
) -> None:
    """Train a digit-reader CNN on MNIST (through TFDS) and save weights + metadata."""
    import dataclasses

    from model.training.train import MODELS, RECIPES, model_config, train_and_save
    from scangrade.settings import get_settings

    if model not in MODELS:
        raise typer.BadParameter(f"one of {', '.join(MODELS)}", param_hint="--model")
    if recipe not in RECIPES:
        raise typer.BadParameter(f"one of {', '.join(RECIPES)}", param_hint="--recipe")
    config = model_config(model, recipe)
    if init_from is not None and not init_from.is_file():
        raise typer.BadParameter(f"{init_from} is not a weights file", param_hint="--init-from")
    overrides = {"epochs": epochs, "limit_train": limit_train, "seed": seed,
                 "init_from": str(init_from) if init_from else None,
                 "peak_learning_rate": learning_rate}
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    settings = get_settings()
    shipped = {"full": settings.weights_path, "screen": settings.screen_weights_path,
               "second": (settings.ensemble_weights_paths or (None,))[0]}
    weights = out or shipped[model]
    if weights is None:
        raise typer.BadParameter(f"no weights path is set for the {model} model; pass --out",
                                 param_hint="--out")
    train_and_save(config, weights, settings, log=lambda line: typer.echo(line))


def eval_reader(
    limit: Annotated[int | None, typer.Option(help="Only the first N test digits.")] = None,
    record: Annotated[
        bool, typer.Option(help="Also store the figures in the weights' metadata file.")
    ] = False,
) -> None:
    """Accuracy of the shipped reader on MNIST test, clean and through the scan path (JSON)."""
    from model.inference.checkpoint import load_metadata, metadata_path
    from scangrade.settings import get_settings
    from worker.measure.eval_reader import evaluate_reader

    settings = get_settings()
    figures = evaluate_reader(settings, limit=limit)
    typer.echo(json.dumps(figures, indent=2))
    if record:
        weights = settings.weights_path
        metadata = load_metadata(weights)
        metadata["evaluation"] = figures
        metadata_path(weights).write_text(json.dumps(metadata, indent=2) + "\n")


def bench_reader(
    seconds: Annotated[float, typer.Option(help="Time spent per batch size.")] = 3.0,
) -> None:
    """Crops/s of the reader at batch sizes 1, 64 and 1024, preprocessing included (JSON)."""
    from scangrade.settings import get_settings
    from worker.measure.bench_reader import bench_reader as run

    typer.echo(json.dumps(run(get_settings(), seconds_per_size=seconds), indent=2))


def warm_up() -> None:
    """Compile what a first grading would: the preprocessing kernels and the reader's CNNs at
    every batch size, into the caches on disk, so the first run after installing is as fast
    as later ones (`make setup` runs this)."""
    import time

    from model.inference.reader import DigitReader
    from scangrade.settings import get_settings

    started = time.perf_counter()
    DigitReader.load(get_settings()).warm_up()
    typer.echo(f"reader compiled and cached in {time.perf_counter() - started:.1f} s")


def register(groups: CommandGroups) -> None:
    groups.root.command("warm-up")(warm_up)
    groups.root.command("train")(train)
    groups.eval.command("reader")(eval_reader)
    groups.bench.command("reader")(bench_reader)
