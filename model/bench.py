"""Speed of the digit reader (`scangrade bench reader`, `make bench`): crops/s at batch
sizes 1, 64 and 1024 with preprocessing included, on realistic scan-path crops."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from model.data import load_mnist
from model.preprocess import preprocess_batch
from model.reader import DigitReader
from model.scanpath import render_box_crop

BENCH_SEED = 7
BATCH_SIZES = (1, 64, 1024)


def _rate(fn, items: int, seconds: float) -> float:
    fn()  # warm: compile, caches
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        fn()
        done += items
    return done / (time.perf_counter() - started)


def bench_reader(seconds_per_size: float = 3.0, reader: DigitReader | None = None
                 ) -> dict[str, Any]:
    reader = reader or DigitReader.load()
    reader.warm_up()
    images, _ = load_mnist("test")
    rng = np.random.default_rng(BENCH_SEED)
    crops = [render_box_crop(images[i], rng) for i in range(max(BATCH_SIZES))]
    normalised = images[: max(BATCH_SIZES)].astype(np.float32) / 255.0
    results: dict[str, Any] = {"device": reader.device, "cpu_count": os.cpu_count(),
                               "batch_sizes_compiled": list(reader.batch_sizes)}
    for size in BATCH_SIZES:
        batch = crops[:size]
        results[f"batch_{size}"] = {
            "crops_per_s": round(_rate(lambda b=batch: reader.read_batch(b), size,
                                       seconds_per_size)),
            "preprocess_only_per_s": round(_rate(lambda b=batch: preprocess_batch(b), size,
                                                 seconds_per_size)),
            "cnn_only_per_s": round(_rate(lambda n=normalised[:size]: reader.classify_images(n),
                                          size, seconds_per_size)),
        }
    return results
