"""The digit reader: scanned box crops in, digits (or blank) with calibrated probabilities out.

Crops are preprocessed MNIST-style on the host, then read in padded, fixed-size batches by
jit-compiled CNNs, so a long-lived worker never compiles a new shape after warm-up. JAX
runs on a GPU when it sees one (install the `gpu` extra), on the CPU otherwise.

Reading is a cascade of two CNNs: a small screening model (about 40% of the full model's
cost on a CPU) reads every crop; where it is sure beyond the review threshold, its read
stands (most crops), and the rest are read by the full stage instead: the full CNN, or an
ensemble of full CNNs averaged (two are shipped). Measured on the scan path, the cascade is
as accurate as the full stage alone, its CNN time 2-3x less (see
`ReaderSettings.screen_threshold`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import jax
import numpy as np
from flax import nnx

from model.inference.checkpoint import load_weights
from model.inference.classes import BLANK, DIGIT_CLASSES, NUM_CLASSES
from model.inference.cnn import DigitCnn
from model.inference.preprocess import (
    DEFAULT_CONFIG,
    PreprocessConfig,
    as_gray_uint8,
    preprocess_batch,
    preprocess_validated,
)
from model.inference.runtime import enable_compilation_cache
from scangrade.config.reader import ReaderSettings, ReaderStage

__all__ = ["BLANK", "NUM_CLASSES", "DigitRead", "DigitReader", "ReadBatch"]

# A batch padded to a compiled size computes its padding too: above this share of padding,
# the rows go in several smaller compiled batches instead, each call costing a little more
# (measured on 2 cores: 0.2 ms for the full CNN, 0.13 ms for the screen, about 4 and 8 rows'
# worth). A cost-minimising split over the sizes measured no faster than this rule.
MAX_PADDING = 0.5

STAGES: tuple[str, ...] = get_args(ReaderStage)  # the cascade's stages


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
    full_read: np.ndarray  # (N,) bool: the full model read it (the screen was unsure, or none)

    def __len__(self) -> int:
        return len(self.labels)

    def reads(self) -> list[DigitRead]:
        return [
            DigitRead(None if label == BLANK else int(label), float(conf), probs)
            for label, conf, probs in zip(self.labels, self.confidences, self.probs, strict=True)
        ]


def _empty_batch() -> ReadBatch:
    return ReadBatch(np.zeros(0, np.int64), np.zeros(0, np.float32),
                     np.zeros((0, NUM_CLASSES), np.float32), np.zeros(0, bool),
                     np.zeros(0, bool))


# XLA's CPU compiler hands parts of a graph to the YNNPACK library (in these CNNs, the dense
# layers with the pooling and batch norm before them). Measured on 2 cores (jaxlib 0.10.2):
# that makes the full CNN 2.5-3x slower at 16 and 32 rows (2.6 and 4.3 ms instead of 0.9
# and 1.6) and no faster at 64 or more, while the screening CNN runs 1.2-1.5x faster with it
# from 64 rows up. So each stage says whether it may use it.
_NO_LIBRARY_FUSIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


def _calibrated_forward(model: DigitCnn, temperature: float, cpu_library_fusions: bool
                        ) -> tuple[Any, list[jax.Array]]:
    """A jitted function (weights, images) → calibrated class probabilities, and the model's
    weights on the device as the flat list it takes (flattening an nnx.State on every call
    costs more than the call itself at small batches)."""
    graphdef, state = nnx.split(model)
    weights, treedef = jax.tree.flatten(state)

    def forward(weights: list[jax.Array], images: jax.Array) -> jax.Array:
        logits = nnx.merge(graphdef, jax.tree.unflatten(treedef, weights)).infer(images)
        return jax.nn.softmax(logits / temperature, axis=-1)

    on_cpu = jax.default_backend() == "cpu"
    return (jax.jit(forward, compiler_options=None if cpu_library_fusions or not on_cpu
                    else _NO_LIBRARY_FUSIONS),
            jax.device_put(weights))


@dataclass
class _Cnn:
    """One stage of the cascade: one CNN, or an ensemble whose members' probabilities are
    averaged; its members' metadata, compiled forwards and weights on the device."""

    metadata: list[dict[str, Any]]
    temperatures: list[float]
    forwards: list[tuple[Any, list[jax.Array]]]  # (jitted forward, its weights) per member

    @classmethod
    def of(cls, *members: tuple[DigitCnn, dict[str, Any]], cpu_library_fusions: bool) -> _Cnn:
        metadata = [meta for _, meta in members]
        temperatures = [float(meta.get("temperature", 1.0)) for meta in metadata]
        return cls(metadata, temperatures,
                   [_calibrated_forward(model, t, cpu_library_fusions)
                    for (model, _), t in zip(members, temperatures, strict=True)])

    def start(self, images: np.ndarray | jax.Array) -> list[jax.Array]:
        """Starts every member on the images; JAX returns at once. (Separate calls
        measured as fast as one jitted call of the whole ensemble, and simpler.)"""
        return [forward(weights, images) for forward, weights in self.forwards]

    @staticmethod
    def average(started: list[jax.Array]) -> np.ndarray:
        probs = [np.asarray(member) for member in started]
        return probs[0] if len(probs) == 1 else sum(probs[1:], probs[0]) / len(probs)

    def compiled_shapes(self) -> list[int]:
        return [forward._cache_size() for forward, _ in self.forwards]


class DigitReader:
    def __init__(self, model: DigitCnn, metadata: dict[str, Any],
                 batch_sizes: Sequence[int] = (8, 16, 64, 256),
                 preprocess_config: PreprocessConfig = DEFAULT_CONFIG,
                 preprocess_threads: int = 0, pipeline_crops: int = 256,
                 screen: tuple[DigitCnn, dict[str, Any]] | None = None,
                 screen_threshold: float = 1.0,
                 ensemble: Sequence[tuple[DigitCnn, dict[str, Any]]] = (),
                 cpu_library_fusions: Collection[str] = ("screen",),
                 no_ink_digit_probability: float = 0.0):
        """`model` is the full CNN (`ensemble`: more full CNNs, averaged with it); `screen`
        an optional small one that reads every crop first, its reads at or above
        `screen_threshold` standing, the rest read by the full CNNs (see the module doc).
        `cpu_library_fusions`: the stages ("screen", "full") that XLA may compile with
        YNNPACK on a CPU (see _NO_LIBRARY_FUSIONS). `no_ink_digit_probability`: the chance
        that a crop preprocessing finds empty held a digit after all (spread over the ten
        digits), so that even an empty box is never read as certain."""
        if not batch_sizes or any(size < 1 for size in batch_sizes):
            raise ValueError(f"batch sizes must be positive, got {batch_sizes}")
        if pipeline_crops < 1:
            raise ValueError(f"pipeline_crops must be positive, got {pipeline_crops}")
        if not 0.0 < screen_threshold <= 1.0:
            raise ValueError(f"screen_threshold must be in (0, 1], got {screen_threshold}")
        if not 0.0 <= no_ink_digit_probability < 1.0:
            raise ValueError("no_ink_digit_probability must be in [0, 1), got "
                             f"{no_ink_digit_probability}")
        self.no_ink_probs = np.full(NUM_CLASSES, no_ink_digit_probability / DIGIT_CLASSES,
                                    np.float32)
        self.no_ink_probs[BLANK] = 1.0 - no_ink_digit_probability
        self.metadata = metadata
        self.batch_sizes = tuple(sorted(set(batch_sizes)))
        self.preprocess_config = preprocess_config
        self.preprocess_threads = preprocess_threads or None  # None: every CPU
        self.pipeline_crops = pipeline_crops
        self.screen_threshold = screen_threshold
        unknown = set(cpu_library_fusions) - set(STAGES)
        if unknown:
            raise ValueError(f"cpu_library_fusions: unknown stages {sorted(unknown)}, "
                             f"expected some of {STAGES}")
        self._full = _Cnn.of((model, metadata), *ensemble,  # the full CNNs, read as one
                             cpu_library_fusions="full" in cpu_library_fusions)
        self._screen = (_Cnn.of(screen, cpu_library_fusions="screen" in cpu_library_fusions)
                        if screen is not None else None)
        self.temperature = self._full.temperatures[0]

    @classmethod
    def load(cls, settings: ReaderSettings, path: Path | str | None = None, *,
             screen_path: Path | str | bool | None = True,
             ensemble_paths: Sequence[Path | str] | None = None) -> DigitReader:
        """Loads weights and enables the compile cache. Default: the settings' (shipped)
        full stage, screen and threshold.

        `path`: the full CNN's weights; given, the full stage is that CNN alone unless
        `ensemble_paths` names more. `screen_path`: the screening CNN's weights; True takes
        the settings' (none when they name none), None or False reads without a screen."""
        enable_compilation_cache(settings.jax_cache_dir)
        model, metadata = load_weights(Path(path) if path else settings.weights_path)
        if screen_path is True:
            screen_path = settings.screen_weights_path
        screen = load_weights(Path(screen_path)) if screen_path else None
        if ensemble_paths is None:
            ensemble_paths = settings.ensemble_weights_paths if path is None else ()
        ensemble = [load_weights(Path(other)) for other in ensemble_paths]
        threshold = settings.screen_threshold or settings.confidence_threshold
        preprocess_config = dataclasses.replace(DEFAULT_CONFIG,
                                                faint_pass=settings.preprocess_faint_pass)
        return cls(model, metadata, batch_sizes=settings.reader_batch_sizes,
                   preprocess_config=preprocess_config,
                   preprocess_threads=settings.preprocess_threads,
                   pipeline_crops=settings.reader_pipeline_crops, screen=screen,
                   screen_threshold=threshold, ensemble=ensemble,
                   cpu_library_fusions=settings.cpu_library_fusions,
                   no_ink_digit_probability=settings.no_ink_digit_probability)

    def without_screen(self) -> DigitReader:
        """The same reader with the full model alone (its compiled functions shared)."""
        alone = copy.copy(self)
        alone._screen = None
        return alone

    @property
    def ensemble_metadata(self) -> list[dict[str, Any]]:
        """The metadata of the full CNNs after the first."""
        return self._full.metadata[1:]

    @property
    def screen_metadata(self) -> dict[str, Any] | None:
        return self._screen.metadata[0] if self._screen is not None else None

    @property
    def cascade(self) -> bool:
        return self._screen is not None

    @property
    def _first(self) -> _Cnn:
        """The model that reads every crop."""
        return self._screen if self._screen is not None else self._full

    @property
    def device(self) -> str:
        return str(jax.devices()[0])

    def warm_up(self) -> None:
        """Compiles every padded batch shape once (from the persistent cache when warm), and
        loads the compiled preprocessing."""
        preprocess_batch([np.full((16, 16), 255, np.uint8)], self.preprocess_config)
        for cnn in (c for c in (self._full, self._screen) if c is not None):
            for size in self.batch_sizes:
                for probs in cnn.start(np.zeros((size, 28, 28), np.float32)):
                    probs.block_until_ready()

    def _dispatch(self, cnn: _Cnn, images: np.ndarray) -> list[tuple[list[jax.Array], int]]:
        """Starts a CNN on normalised images in padded fixed-size batches; JAX returns at
        once and computes in the background. Returns (device probs, rows used) per batch."""
        pending = []
        start = 0
        while start < len(images):
            size, used = self._batch_for(len(images) - start)
            padded = np.zeros((size, 28, 28), np.float32)
            padded[:used] = images[start: start + used]
            pending.append((cnn.start(padded), used))  # jit copies it to the device
            start += used
        return pending

    def _batch_for(self, remaining: int) -> tuple[int, int]:
        """(compiled batch size, rows of it used) for the next batch of `remaining` rows:
        the smallest size that holds them all when padding wastes at most MAX_PADDING of
        it, else the largest size that they fill (the rest goes in the next batches)."""
        fits = [size for size in self.batch_sizes if size >= remaining]
        smallest = self.batch_sizes[0]
        if fits and (fits[0] == smallest or fits[0] - remaining <= MAX_PADDING * fits[0]):
            return fits[0], remaining
        size = max(s for s in self.batch_sizes if s <= remaining)
        return size, size

    @staticmethod
    def _collect(pending: list[tuple[list[jax.Array], int]]) -> np.ndarray:
        return np.concatenate([_Cnn.average(started)[:used] for started, used in pending])

    def _second_look(self, probs: np.ndarray, images: np.ndarray) -> np.ndarray:
        """The cascade's second stage, in place on the screen's probabilities: crops read
        below the screen threshold are read by the full CNNs instead. Returns which rows
        the full CNNs read."""
        if self._screen is None:
            return np.ones(len(probs), bool)  # the full CNNs were the first
        # At 1.0 every crop goes on: a float32 softmax can round a sure read to exactly 1.
        unsure = (probs.max(axis=1) < self.screen_threshold if self.screen_threshold < 1.0
                  else np.ones(len(probs), bool))
        if unsure.any():
            probs[unsure] = self._collect(self._dispatch(self._full, images[unsure]))
        return unsure

    def classify_images(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 11) for already-normalised 28x28 images (ink = 1)."""
        images = np.asarray(images, np.float32)
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(f"expected images of shape (N, 28, 28), got {images.shape}")
        if not np.isfinite(images).all():
            raise ValueError("images contain NaN or infinite values")
        if not len(images):
            return np.zeros((0, NUM_CLASSES), np.float32)
        probs = self._collect(self._dispatch(self._first, images))
        self._second_look(probs, images)
        return probs

    def read_batch(self, crops: Sequence[np.ndarray] | np.ndarray) -> ReadBatch:
        """Reads every crop: uint8 grayscale (colour is converted), any size >= 8x8.

        Large batches go in steps of `pipeline_crops`: while the first CNN reads one step
        (in JAX's threads), the next is cleaned (in GIL-free preprocessing threads). The
        crops the screen is unsure of then go to the full CNNs in one go."""
        if len(crops) == 0:
            return _empty_batch()
        grays = [as_gray_uint8(crop, i) for i, crop in enumerate(crops)]  # all checked first
        probs = np.zeros((len(grays), NUM_CLASSES), np.float32)
        no_ink = np.zeros(len(grays), bool)
        full_read = np.zeros(len(grays), bool)
        pending, inked_images = [], []
        for start in range(0, len(grays), self.pipeline_crops):
            step = grays[start: start + self.pipeline_crops]
            images, blank = preprocess_validated(step, self.preprocess_config,
                                                 self.preprocess_threads)
            no_ink[start: start + len(step)] = blank
            inked = np.nonzero(~blank)[0]
            if len(inked):
                inked_images.append(images[inked])
                pending.append((start + inked, self._dispatch(self._first, images[inked])))
        if pending:
            rows = np.concatenate([indices for indices, _ in pending])
            read = np.concatenate([self._collect(step) for _, step in pending])
            full_read[rows] = self._second_look(read, np.concatenate(inked_images))
            probs[rows] = read
        probs[no_ink] = self.no_ink_probs  # nothing on the paper: blank without the CNN
        labels = probs.argmax(axis=1)
        return ReadBatch(labels, probs[np.arange(len(labels)), labels], probs, no_ink,
                         full_read)

    def read(self, crops: Sequence[np.ndarray] | np.ndarray) -> list[DigitRead]:
        return self.read_batch(crops).reads()
