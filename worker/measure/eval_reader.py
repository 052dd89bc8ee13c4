"""Accuracy figures of the digit reader (`scangrade eval reader`, `make eval`).

Everything here uses MNIST *test* digits only. Three views:
  * clean MNIST test images straight into the CNN (the classic figure);
  * the same digits drawn into scanned boxes and read through the reader's whole path
    (preprocessing included), plus the continental 1s and crossed 7s MNIST lacks;
  * empty boxes: how many are called blank.
Calibration: expected calibration error, and at the confidence threshold the error rate of
accepted digits and the share sent to review.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from model.inference.classes import BLANK
from model.inference.reader import DigitReader
from model.training.data import load_mnist
from model.training.scanpath import (
    DEFAULT_SCAN_PATH,
    PIPELINE_SCAN_PATH,
    ScanPathConfig,
    render_box_crop,
)
from model.training.styles import continental_one, crossed_seven
from scangrade.settings import Settings

EVAL_SEED = 20260101  # fixed: the scan-path test set is the same on every run
CALIBRATION_BINS = 15
TARGET_ACCEPTED_ERROR = 0.001  # the review threshold is chosen to keep accepted errors below


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray,
                               bins: int = CALIBRATION_BINS) -> float:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidences, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidences[in_bin].mean())
    return float(ece)


def threshold_report(confidences: np.ndarray, correct: np.ndarray, threshold: float
                     ) -> dict[str, float]:
    accepted = confidences >= threshold
    errors = (~correct & accepted).sum()
    return {
        "threshold": threshold,
        "accepted_error_rate": float(errors / max(accepted.sum(), 1)),
        "review_share": float(1.0 - accepted.mean()),
    }


def lowest_safe_threshold(confidences: np.ndarray, correct: np.ndarray,
                          target: float = TARGET_ACCEPTED_ERROR) -> float:
    """The lowest threshold at which accepted reads are wrong at most `target` of the time."""
    for threshold in np.round(np.arange(0.50, 1.0, 0.001), 3):
        report = threshold_report(confidences, correct, float(threshold))
        if report["accepted_error_rate"] <= target:
            return float(threshold)
    return 1.0


def scan_path_crops(images: np.ndarray, rng: np.random.Generator,
                    config: ScanPathConfig = PIPELINE_SCAN_PATH) -> list[np.ndarray]:
    return [render_box_crop(image, rng, config) for image in images]


def evaluate_reader(settings: Settings, limit: int | None = None,
                    reader: DigitReader | None = None) -> dict[str, Any]:
    started = time.time()
    reader = reader or DigitReader.load(settings)
    threshold = settings.confidence_threshold
    images, labels = load_mnist("test", settings)
    if limit:
        images, labels = images[:limit], labels[:limit]
    rng = np.random.default_rng(EVAL_SEED)

    clean_probs = reader.classify_images(images.astype(np.float32) / 255.0)
    clean_pred = clean_probs.argmax(1)

    scan = reader.read_batch(scan_path_crops(images, rng))
    scan_correct = scan.labels == labels

    ones, sevens = images[labels == 1], images[labels == 7]
    styled = [continental_one(im, rng, base=i % 3 == 0) for i, im in enumerate(ones)]
    crossed = [crossed_seven(im, rng) for im in sevens]
    styled_read = reader.read_batch(scan_path_crops(np.array(styled), rng))
    crossed_read = reader.read_batch(scan_path_crops(np.array(crossed), rng))

    stress = reader.read_batch(scan_path_crops(images, rng, DEFAULT_SCAN_PATH))

    n_blank = max(len(images) // 2, 100)
    blanks = reader.read_batch([render_box_crop(None, rng, PIPELINE_SCAN_PATH)
                                for _ in range(n_blank)])
    dirty = reader.read_batch([render_box_crop(None, rng, DEFAULT_SCAN_PATH)
                               for _ in range(n_blank)])

    return {
        "reader": {"weights_trained_at": reader.metadata.get("trained_at"),
                   "temperature": reader.temperature, "device": reader.device,
                   "screen_trained_at": (reader.screen_metadata or {}).get("trained_at"),
                   "ensemble_trained_at": [meta.get("trained_at")
                                           for meta in reader.ensemble_metadata],
                   "screen_threshold": reader.screen_threshold if reader.cascade else None},
        "mnist_test": {"digits": len(images), "accuracy": float((clean_pred == labels).mean())},
        "scan_path": {
            "digits": len(images),
            "accuracy": float(scan_correct.mean()),
            "written_called_blank": float((scan.labels == BLANK).mean()),
            "expected_calibration_error": expected_calibration_error(scan.confidences,
                                                                     scan_correct),
            "at_threshold": threshold_report(scan.confidences, scan_correct, threshold),
            "threshold_for_0.1pct_accepted_error": lowest_safe_threshold(scan.confidences,
                                                                         scan_correct),
            "read_by_full_model": float(scan.full_read.mean()),
        },
        "scan_path_stress": {
            "about": "the wider training ranges: 34-90 px boxes, heavier blur, noise, JPEG",
            "accuracy": float((stress.labels == labels).mean()),
            "written_called_blank": float((stress.labels == BLANK).mean()),
        },
        "regional_styles": {
            "continental_ones": {"digits": len(styled),
                                 "accuracy": float((styled_read.labels == 1).mean())},
            "crossed_sevens": {"digits": len(crossed),
                               "accuracy": float((crossed_read.labels == 7).mean())},
        },
        "blank_boxes": {
            "boxes": n_blank,
            "called_blank": float((blanks.labels == BLANK).mean()),
            "cleared_by_preprocessing": float(blanks.no_ink.mean()),
            "stress_called_blank": float((dirty.labels == BLANK).mean()),
        },
        "seconds": round(time.time() - started, 1),
    }

