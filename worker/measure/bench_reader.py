"""Speed of the digit reader (`scangrade bench reader`, `make bench`): crops/s at batch
sizes 1, 64 and 1024 with preprocessing included, on two kinds of scan-path crops:
  * "pipeline": the crops scangrade's own pipeline cuts (7.5 x 9.5 mm boxes at 6 px/mm with
    1.5 mm margin, about 63 x 75 px), what a grading worker reads;
  * "any_size": boxes 34-90 px wide (crops about 40-160 px), as from scans at other
    resolutions through the API; larger crops cost more to bring to the working size.
Also the preprocessing and the CNNs alone (the cascade, and the full model alone), to show
where the time goes, and the share of crops the cascade's full model read."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from model.inference.preprocess import preprocess_batch
from model.inference.reader import DigitReader
from model.training.data import load_mnist
from model.training.scanpath import DEFAULT_SCAN_PATH, PIPELINE_SCAN_PATH, render_box_crop
from scangrade.settings import Settings

BENCH_SEED = 7
BATCH_SIZES = (1, 64, 1024)
REPEATS = 5  # best of: a benchmark measures the code, not the neighbours on a shared host


def _rate(fn, items: int, seconds: float) -> float:
    """Items per second: the best of REPEATS timed rounds of about seconds / REPEATS each."""
    fn()  # warm: compile, caches
    best = 0.0
    for _ in range(REPEATS):
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / REPEATS:
            fn()
            done += items
        best = max(best, done / (time.perf_counter() - started))
    return best


def bench_reader(settings: Settings, seconds_per_size: float = 3.0,
                 reader: DigitReader | None = None) -> dict[str, Any]:
    reader = reader or DigitReader.load(settings)
    reader.warm_up()
    images, _ = load_mnist("test", settings)
    largest = max(BATCH_SIZES)
    results: dict[str, Any] = {"device": reader.device, "cpu_count": os.cpu_count(),
                               "batch_sizes_compiled": list(reader.batch_sizes),
                               "cascade": reader.cascade}
    normalised = None
    for name, config in (("pipeline", PIPELINE_SCAN_PATH), ("any_size", DEFAULT_SCAN_PATH)):
        rng = np.random.default_rng(BENCH_SEED)
        crops = [render_box_crop(images[i], rng, config) for i in range(largest)]
        sides = [max(crop.shape) for crop in crops]
        read = reader.read_batch(crops)
        results[name] = {"crop_longer_side_px": [min(sides), int(np.median(sides)), max(sides)],
                         "read_by_full_model": round(float(read.full_read.mean()), 4)}
        for size in BATCH_SIZES:
            batch = crops[:size]
            results[name][f"batch_{size}"] = {
                "crops_per_s": round(_rate(lambda b=batch: reader.read_batch(b), size,
                                           seconds_per_size)),
                "preprocess_only_per_s": round(_rate(lambda b=batch: preprocess_batch(b), size,
                                                     seconds_per_size)),
            }
        if normalised is None:  # the CNNs alone, on the pipeline's crops as they reach them
            normalised, blank = preprocess_batch(crops)
            normalised = normalised[~blank]
    cnn_rates = {"cascade": reader}
    if reader.cascade:
        cnn_rates["full_model_alone"] = reader.without_screen()
    results["cnn_only_per_s"] = {
        name: {f"batch_{size}": round(_rate(lambda n=normalised[:size], r=r:
                                            r.classify_images(n), len(normalised[:size]),
                                            seconds_per_size))
               for size in BATCH_SIZES}
        for name, r in cnn_rates.items()}
    return results
