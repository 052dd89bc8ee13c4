"""Accuracy figures of the digit reader (`scangrade eval reader`, `make eval`).

Everything here uses MNIST *test* digits only. Views:
  * clean MNIST test images straight into the CNN (the classic figure), and handed to the
    public read() as they are (inverted 28x28: preprocessing included);
  * the same digits drawn into scanned boxes and read through the reader's whole path
    (preprocessing included), plus the continental 1s and crossed 7s MNIST lacks;
  * hard styles: every test digit drawn with each unusual pen (faint pencil, skipping
    fine-liner, uneven pressure, marker, outlined, hatched), and the test digits of each
    unusual form (open 0s, hooked 1s, one-stroke 5s, long-bar 7s, small-loop 8s,
    filled-head 9s). Their generators are also used in training (on training digits), so
    these sets measure how well the reader covers those styles, not how it generalises to
    writers nobody simulated;
  * empty boxes: how many are called blank.
Calibration: expected calibration error, and at the confidence threshold the error rate of
accepted digits and the share sent to review; confident errors (wrong at or above the
threshold) are counted on every set.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from model.inference.classes import BLANK
from model.inference.reader import DigitReader, ReadBatch
from model.training.data import load_mnist
from model.training.forms import FORMS
from model.training.pens import PENS
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


def set_report(read: ReadBatch, truth: np.ndarray, threshold: float) -> dict[str, Any]:
    """Accuracy, blanks and confident errors of one set of written digits."""
    correct = read.labels == truth
    return {"digits": len(truth), "accuracy": float(correct.mean()) if len(truth) else 1.0,
            "called_blank": float((read.labels == BLANK).mean()) if len(truth) else 0.0,
            "confident_errors": int((~correct & (read.confidences >= threshold)).sum())}


def pen_scan_path(pen: str) -> ScanPathConfig:
    """The pipeline's scan path with every digit written by `pen`."""
    return dataclasses.replace(PIPELINE_SCAN_PATH, pen_probability=1.0, pens=(pen,))


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

    raw = reader.read_batch(list(255 - images))  # as a caller hands MNIST to read()
    pens = {pen: set_report(reader.read_batch(scan_path_crops(images, rng, pen_scan_path(pen))),
                            labels, threshold) for pen in PENS}
    forms = {}
    for name, (digit, form) in FORMS.items():
        drawn = np.array([form(image, rng) for image in images[labels == digit]])
        forms[name] = set_report(reader.read_batch(scan_path_crops(drawn, rng)),
                                 labels[labels == digit], threshold)
    written = {"mnist_test_read": set_report(raw, labels, threshold),
               "scan_path": set_report(scan, labels, threshold),
               "scan_path_stress": set_report(stress, labels, threshold),
               "continental_ones": set_report(styled_read, np.ones(len(styled), int), threshold),
               "crossed_sevens": set_report(crossed_read, np.full(len(crossed), 7), threshold),
               **{f"pen_{pen}": report for pen, report in pens.items()}, **forms}

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
        "mnist_test": {"digits": len(images), "accuracy": float((clean_pred == labels).mean()),
                       "through_read": written["mnist_test_read"]},
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
        "hard_styles": {
            "about": "every test digit with each pen; the test digits of each form; drawn "
                     "by the generators training also uses (on training digits)",
            "pens": pens, "forms": forms,
            "lowest_accuracy": min(report["accuracy"] for report in [*pens.values(),
                                                                     *forms.values()]),
        },
        "confident_errors": {
            "threshold": threshold,
            "errors": sum(report["confident_errors"] for report in written.values()),
            "digits": sum(report["digits"] for report in written.values()),
            "blank_boxes_called_digits": int(((blanks.labels != BLANK)
                                              & (blanks.confidences >= threshold)).sum()
                                             + ((dirty.labels != BLANK)
                                                & (dirty.confidences >= threshold)).sum()),
            "per_set": {name: report["confident_errors"] for name, report in written.items()},
        },
        "blank_boxes": {
            "boxes": n_blank,
            "called_blank": float((blanks.labels == BLANK).mean()),
            "cleared_by_preprocessing": float(blanks.no_ink.mean()),
            "stress_called_blank": float((dirty.labels == BLANK).mean()),
        },
        "seconds": round(time.time() - started, 1),
    }

