"""Digit-reader commands: train, eval reader, bench reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from api.cli import CommandGroups


def train(
    epochs: Annotated[int | None, typer.Option(help="Epochs (default: the config's).")] = None,
    out: Annotated[Path | None, typer.Option(help="Weights file to write.")] = None,
    limit_train: Annotated[
        int | None, typer.Option(help="Use only this many training digits (smoke runs).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same weights.")] = 0,
) -> None:
    """Train the digit reader on MNIST (through TFDS) and save weights + metadata."""
    import dataclasses

    from model.train import TrainConfig, train_and_save
    from scangrade.settings import get_settings

    config = TrainConfig(seed=seed)
    if epochs is not None:
        config = dataclasses.replace(config, epochs=epochs)
    if limit_train is not None:
        config = dataclasses.replace(config, limit_train=limit_train)
    weights = out or get_settings().weights_path
    train_and_save(config, weights, log=lambda line: typer.echo(line))


def eval_reader(
    limit: Annotated[int | None, typer.Option(help="Only the first N test digits.")] = None,
    record: Annotated[
        bool, typer.Option(help="Also store the figures in the weights' metadata file.")
    ] = False,
) -> None:
    """Accuracy of the shipped reader on MNIST test, clean and through the scan path (JSON)."""
    from model.checkpoint import load_metadata, metadata_path
    from model.evaluate import evaluate_reader
    from scangrade.settings import get_settings

    figures = evaluate_reader(limit=limit)
    typer.echo(json.dumps(figures, indent=2))
    if record:
        weights = get_settings().weights_path
        metadata = load_metadata(weights)
        metadata["evaluation"] = figures
        metadata_path(weights).write_text(json.dumps(metadata, indent=2) + "\n")


def bench_reader(
    seconds: Annotated[float, typer.Option(help="Time spent per batch size.")] = 3.0,
) -> None:
    """Crops/s of the reader at batch sizes 1, 64 and 1024, preprocessing included (JSON)."""
    from model.bench import bench_reader as run

    typer.echo(json.dumps(run(seconds_per_size=seconds), indent=2))


def register(groups: CommandGroups) -> None:
    groups.root.command("train")(train)
    groups.eval.command("reader")(eval_reader)
    groups.bench.command("reader")(bench_reader)
