"""The digit reader: scanned box crops in, digits (or blank) with calibrated probabilities out.

Crops are preprocessed MNIST-style on the host, then read in padded, fixed-size batches by
a jit-compiled CNN, so a long-lived worker never compiles a new shape after warm-up. JAX
runs on a GPU when it sees one (install the `gpu` extra), on the CPU otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from model.checkpoint import load_weights
from model.cnn import BLANK, NUM_CLASSES, DigitCnn
from model.preprocess import (
    DEFAULT_CONFIG,
    PreprocessConfig,
    as_gray_uint8,
    preprocess_batch,
    preprocess_validated,
)
from model.runtime import enable_compilation_cache

__all__ = ["BLANK", "NUM_CLASSES", "DigitRead", "DigitReader", "ReadBatch"]


@dataclass(frozen=True)
class DigitRead:
    digit: int | None  # 0-9, or None for a blank box
    confidence: float  # probability of the class returned (digit or blank)
    probs: np.ndarray  # (11,): digits 0-9, then blank

    @property
    def blank(self) -> bool:
        return self.digit is None


@dataclass(frozen=True)
class ReadBatch:
    labels: np.ndarray  # (N,) int: 0-9, or BLANK (10)
    confidences: np.ndarray  # (N,) float
    probs: np.ndarray  # (N, 11) float
    no_ink: np.ndarray  # (N,) bool: preprocessing found no ink at all (blank without the CNN)

    def __len__(self) -> int:
        return len(self.labels)

    def reads(self) -> list[DigitRead]:
        return [
            DigitRead(None if label == BLANK else int(label), float(conf), probs)
            for label, conf, probs in zip(self.labels, self.confidences, self.probs, strict=True)
        ]


def _empty_batch() -> ReadBatch:
    return ReadBatch(np.zeros(0, np.int64), np.zeros(0, np.float32),
                     np.zeros((0, NUM_CLASSES), np.float32), np.zeros(0, bool))


class DigitReader:
    def __init__(self, model: DigitCnn, metadata: dict[str, Any],
                 batch_sizes: Sequence[int] = (16, 64, 256, 1024),
                 preprocess_config: PreprocessConfig = DEFAULT_CONFIG,
                 preprocess_threads: int = 0, pipeline_crops: int = 256):
        if not batch_sizes or any(size < 1 for size in batch_sizes):
            raise ValueError(f"batch sizes must be positive, got {batch_sizes}")
        if pipeline_crops < 1:
            raise ValueError(f"pipeline_crops must be positive, got {pipeline_crops}")
        self.metadata = metadata
        self.batch_sizes = tuple(sorted(set(batch_sizes)))
        self.preprocess_config = preprocess_config
        self.preprocess_threads = preprocess_threads or None  # None: every CPU
        self.pipeline_crops = pipeline_crops
        self.temperature = float(metadata.get("temperature", 1.0))
        graphdef, state = nnx.split(model)
        self._state = jax.device_put(state)
        temperature = self.temperature

        @jax.jit
        def forward(state: nnx.State, images: jax.Array) -> jax.Array:
            logits = nnx.merge(graphdef, state).infer(images)
            return jax.nn.softmax(logits / temperature, axis=-1)

        self._forward = forward

    @classmethod
    def load(cls, path: Path | str | None = None, settings=None) -> DigitReader:
        """Loads weights (default: the shipped ones) and enables the compile cache."""
        from scangrade.settings import get_settings

        settings = settings or get_settings()
        enable_compilation_cache(settings.jax_cache_dir)
        model, metadata = load_weights(Path(path) if path else settings.weights_path)
        return cls(model, metadata, batch_sizes=settings.reader_batch_sizes,
                   preprocess_threads=settings.preprocess_threads,
                   pipeline_crops=settings.reader_pipeline_crops)

    @property
    def device(self) -> str:
        return str(jax.devices()[0])

    def warm_up(self) -> None:
        """Compiles every padded batch shape once (from the persistent cache when warm), and
        loads the compiled preprocessing."""
        preprocess_batch([np.full((16, 16), 255, np.uint8)], self.preprocess_config)
        for size in self.batch_sizes:
            self._forward(self._state, jnp.zeros((size, 28, 28), jnp.float32)).block_until_ready()

    def _dispatch(self, images: np.ndarray) -> list[tuple[jax.Array, int]]:
        """Starts the CNN on normalised images in padded fixed-size batches; JAX returns at
        once and computes in the background. Returns (device probs, rows used) per batch."""
        pending = []
        largest = self.batch_sizes[-1]
        for start in range(0, len(images), largest):
            chunk = images[start: start + largest]
            size = next(s for s in self.batch_sizes if s >= len(chunk))
            padded = np.zeros((size, 28, 28), np.float32)
            padded[: len(chunk)] = chunk
            pending.append((self._forward(self._state, jnp.asarray(padded)), len(chunk)))
        return pending

    @staticmethod
    def _collect(pending: list[tuple[jax.Array, int]]) -> np.ndarray:
        return np.concatenate([np.asarray(probs)[:used] for probs, used in pending])

    def classify_images(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 11) for already-normalised 28x28 images (ink = 1)."""
        images = np.asarray(images, np.float32)
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(f"expected images of shape (N, 28, 28), got {images.shape}")
        if not np.isfinite(images).all():
            raise ValueError("images contain NaN or infinite values")
        if not len(images):
            return np.zeros((0, NUM_CLASSES), np.float32)
        return self._collect(self._dispatch(images))

    def read_batch(self, crops: Sequence[np.ndarray] | np.ndarray) -> ReadBatch:
        """Reads every crop: uint8 grayscale (colour is converted), any size >= 8x8.

        Large batches go in steps of `pipeline_crops`: while the CNN reads one step (in
        JAX's threads), the next is cleaned (in GIL-free preprocessing threads)."""
        if len(crops) == 0:
            return _empty_batch()
        grays = [as_gray_uint8(crop, i) for i, crop in enumerate(crops)]  # all checked first
        probs = np.zeros((len(grays), NUM_CLASSES), np.float32)
        no_ink = np.zeros(len(grays), bool)
        pending = []
        for start in range(0, len(grays), self.pipeline_crops):
            step = grays[start: start + self.pipeline_crops]
            images, blank = preprocess_validated(step, self.preprocess_config,
                                                 self.preprocess_threads)
            no_ink[start: start + len(step)] = blank
            inked = np.nonzero(~blank)[0]
            if len(inked):
                pending.append((start + inked, self._dispatch(images[inked])))
        for indices, step_pending in pending:
            probs[indices] = self._collect(step_pending)
        probs[no_ink, BLANK] = 1.0  # nothing on the paper: blank without asking the CNN
        labels = probs.argmax(axis=1)
        return ReadBatch(labels, probs[np.arange(len(labels)), labels], probs, no_ink)

    def read(self, crops: Sequence[np.ndarray] | np.ndarray) -> list[DigitRead]:
        return self.read_batch(crops).reads()
