"""Training the digit reader: config as data, pure jitted steps, I/O at the edges.

Data: MNIST train (through TFDS) split into train and validation; each epoch mixes
  * clean MNIST digits (1s and 7s partly restyled the continental way), augmented;
  * the same kind of digits drawn into scanned boxes and brought back by the reader's own
    preprocessing (the scan path), lightly augmented;
  * blank boxes whose specks, stray marks and border remnants survived preprocessing.
The `styles` recipe (`model_config(model, "styles")`) adds the handwriting MNIST lacks: a
share of 0, 1, 5, 7, 8 and 9 redrawn in other forms, elastic distortion, unusual pens in
the scan path (faint pencil, skipping fine-liner, marker, outlined or hatched strokes),
training digits handed to preprocessing as they are (inverted 28x28), and preprocessing's
faint pass; its validation set (best epoch, temperature) holds those forms and pens too.
A run may start from earlier weights (`init_from`) to fine-tune instead of training from
scratch.
The epoch with the best validation accuracy is kept; a softmax temperature fitted on the
validation set makes the confidences calibrated.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from model.inference.checkpoint import load_weights, save_weights
from model.inference.classes import BLANK
from model.inference.cnn import CnnConfig, DigitCnn
from model.inference.preprocess import DEFAULT_CONFIG, PreprocessConfig, preprocess_batch
from model.training.augment import AugmentConfig, augment_batch
from model.training.data import MnistLoader, data_fingerprint, mnist_loader
from model.training.forms import apply_forms
from model.training.scanpath import (
    DEFAULT_SCAN_PATH,
    TRAINING_SCAN_PATH,
    ScanPathConfig,
    render_box_crop,
)
from model.training.styles import apply_regional_styles
from scangrade.config.reader import ReaderSettings


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 16
    batch_size: int = 128
    peak_learning_rate: float = 3e-3
    warmup_epochs: float = 1.0
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    seed: int = 0
    validation_size: int = 5000
    scan_path_digits: int = 40000  # training digits also drawn through the scan path
    scan_path: ScanPathConfig = DEFAULT_SCAN_PATH
    raw_digits: int = 0  # training digits read as given (inverted 28x28) via preprocessing
    form_probability: float = 0.0  # share of 0, 1, 5, 7, 8, 9 redrawn in another form
    preprocess: PreprocessConfig = DEFAULT_CONFIG  # the reader's, for the scan path
    blank_candidates: int = 30000  # empty boxes rendered; those preprocessing keeps are used
    limit_train: int | None = None  # for smoke tests: use only this many training digits
    cnn: CnnConfig = field(default_factory=CnnConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    init_from: str | None = None  # weights file to start from (fine-tuning); None: scratch
    light_augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(
        rotation_deg=5.0, scale=(0.95, 1.03), shear=0.08, shift_px=1.0, thicken_probability=0.05,
        thin_probability=0.05, blur_probability=0.05, fade_probability=0.05))
    # Blank boxes with more dirt than usual: the hard cases the blank class must learn.
    blank_scan_path: ScanPathConfig = field(default_factory=lambda: dataclasses.replace(
        DEFAULT_SCAN_PATH, speck_rate=4.0, stray_mark_probability=0.9, border_offset_px=8))


# The reader's CNNs (model/inference/reader.py) and the configs their shipped weights were trained
# with: "full" and "second" average into the full stage of the cascade (the same
# architecture; "full" draws every training digit through the scan path as well), "screen"
# reads every crop first at about 40% of the cost on a CPU (3.0 M multiply-adds, its 28 px
# stage folded into channels).
SCREEN_CNN = CnnConfig(space_to_depth=2, stage28=(), stage14=(32, 32), stage7=(64,))
MODELS = ("full", "second", "screen")
RECIPES = ("shipped", "styles")
# The styles recipe: handwriting MNIST lacks (see the module doc).
STYLES = {
    "scan_path": TRAINING_SCAN_PATH,
    "raw_digits": 20000,
    "form_probability": 0.2,
    "augment": AugmentConfig(elastic_probability=0.3),
    "preprocess": dataclasses.replace(DEFAULT_CONFIG, faint_pass=True),
}


def model_config(model: str, recipe: str = "shipped") -> TrainConfig:
    """The training config of one of the reader's CNNs: "full", "second" or "screen"; the
    "shipped" recipe made the weights in model/weights/, "styles" adds STYLES."""
    if model == "full":
        config = TrainConfig(epochs=20, seed=2, scan_path_digits=55000)
    elif model == "second":
        config = TrainConfig()
    elif model == "screen":
        config = TrainConfig(epochs=20, seed=1, cnn=SCREEN_CNN)
    else:
        raise ValueError(f"unknown model {model!r}: one of {', '.join(MODELS)}")
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}: one of {', '.join(RECIPES)}")
    return dataclasses.replace(config, **STYLES) if recipe == "styles" else config


@dataclass
class Datasets:
    clean_x: np.ndarray  # uint8 MNIST digits, restyled per epoch
    clean_y: np.ndarray
    scan_x: np.ndarray  # float32 28x28 after the scan path
    scan_y: np.ndarray
    blank_x: np.ndarray  # float32 28x28 blanks that preprocessing did not clear
    val_x: np.ndarray  # float32: clean validation digits, then their scan-path versions
    val_y: np.ndarray


def scan_path_images(digits: np.ndarray | None, count: int, rng: np.random.Generator,
                     config: ScanPathConfig = DEFAULT_SCAN_PATH, chunk: int = 4096,
                     preprocess: PreprocessConfig = DEFAULT_CONFIG
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Draws digits (or empty boxes when `digits` is None) through paper and scanner and
    preprocesses them; returns (images (M, 28, 28) float32, index of the source of each)."""
    images, sources = [], []
    for start in range(0, count, chunk):
        indices = range(start, min(start + chunk, count))
        crops = [render_box_crop(None if digits is None else digits[i], rng, config)
                 for i in indices]
        batch, blank = preprocess_batch(crops, preprocess)
        images.append(batch[~blank])
        sources.append(np.asarray(indices)[~blank])
    if not images:
        return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64)
    return np.concatenate(images), np.concatenate(sources)


def build_datasets(config: TrainConfig, mnist: MnistLoader, log=print) -> Datasets:
    rng = np.random.default_rng(config.seed)
    images, labels = mnist("train")
    order = rng.permutation(len(images))
    val_idx, train_idx = order[: config.validation_size], order[config.validation_size:]
    if config.limit_train:
        train_idx = train_idx[: config.limit_train]
        val_idx = val_idx[: max(config.limit_train // 5, 50)]
    train_x, train_y = images[train_idx], labels[train_idx]

    started = time.time()
    n_scan = min(config.scan_path_digits, len(train_x))
    pick = rng.choice(len(train_x), n_scan, replace=False)
    styled = apply_regional_styles(train_x[pick], train_y[pick], rng)
    styled = apply_forms(styled, train_y[pick], rng, config.form_probability)
    scan_x, src = scan_path_images(styled, n_scan, rng, config.scan_path,
                                   preprocess=config.preprocess)
    scan_y = train_y[pick][src]
    kept = f"{len(scan_x)}/{n_scan} digits kept"
    n_raw = min(config.raw_digits, len(train_x))
    if n_raw:
        raw_pick = rng.choice(len(train_x), n_raw, replace=False)
        raw_x, raw_blank = preprocess_batch(list(255 - train_x[raw_pick]), config.preprocess)
        kept += f", {(~raw_blank).sum()}/{n_raw} read as given"
        scan_x = np.concatenate([scan_x, raw_x[~raw_blank]])
        scan_y = np.concatenate([scan_y, train_y[raw_pick][~raw_blank]])
    n_blank = config.blank_candidates if not config.limit_train else config.limit_train // 4
    blank_x, _ = scan_path_images(None, n_blank, rng, config.blank_scan_path,
                                  preprocess=config.preprocess)
    log(f"scan path: {kept}, {len(blank_x)}/{n_blank} blank boxes needed the blank class "
        f"({time.time() - started:.0f} s)")

    val_digits, val_labels = images[val_idx], labels[val_idx]
    # Validation (best epoch, temperature) includes the new forms and pens, so confidences
    # are calibrated on them too, not only on clean MNIST.
    val_styled = apply_forms(val_digits, val_labels, rng, config.form_probability)
    val_scan, val_src = scan_path_images(val_styled, len(val_digits), rng, config.scan_path,
                                         preprocess=config.preprocess)
    val_x = np.concatenate([val_digits.astype(np.float32) / 255.0, val_scan])
    val_y = np.concatenate([val_labels, val_labels[val_src]])
    return Datasets(train_x, train_y, scan_x, scan_y, blank_x, val_x, val_y)


def epoch_arrays(data: Datasets, config: TrainConfig, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's shuffled, augmented images and labels."""
    styled = apply_regional_styles(data.clean_x, data.clean_y, rng)
    clean = apply_forms(styled, data.clean_y, rng, config.form_probability)
    clean = clean.astype(np.float32) / 255.0
    parts_x = [augment_batch(clean, rng, config.augment),
               augment_batch(data.scan_x, rng, config.light_augment),
               augment_batch(data.blank_x, rng, config.light_augment)]
    parts_y = [data.clean_y, data.scan_y, np.full(len(data.blank_x), BLANK)]
    x, y = np.concatenate(parts_x), np.concatenate(parts_y)
    order = rng.permutation(len(x))
    return x[order], y[order]


def loss_fn(model: DigitCnn, images: jax.Array, labels: jax.Array, smoothing: float):
    logits = model(images)
    targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), smoothing)
    return optax.softmax_cross_entropy(logits, targets).mean(), logits


@nnx.jit(static_argnames="smoothing")
def train_step(model: DigitCnn, optimizer: nnx.Optimizer, images: jax.Array, labels: jax.Array,
               smoothing: float) -> jax.Array:
    (loss, _), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, images, labels, smoothing)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def predict_logits(model: DigitCnn, images: jax.Array) -> jax.Array:
    return model(images)


def logits_of(model: DigitCnn, images: np.ndarray, batch: int = 1000) -> np.ndarray:
    model.eval()
    out = []
    for start in range(0, len(images), batch):
        chunk = images[start: start + batch]
        padded = np.zeros((batch, 28, 28), np.float32)
        padded[: len(chunk)] = chunk  # one compiled shape for every chunk
        out.append(np.asarray(predict_logits(model, jnp.asarray(padded)))[: len(chunk)])
    return np.concatenate(out)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The softmax temperature that minimises validation NLL (calibrated confidences)."""
    best_t, best_nll = 1.0, np.inf
    for t in np.arange(0.5, 3.01, 0.05):
        scaled = logits / t
        log_probs = scaled - jax.nn.logsumexp(scaled, axis=1, keepdims=True)
        nll = float(-np.mean(np.asarray(log_probs)[np.arange(len(labels)), labels]))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def train_and_save(config: TrainConfig, weights_path: Path, settings: ReaderSettings,
                   log=print) -> dict:
    """Trains on MNIST (found through `settings`), keeps the best epoch, calibrates, saves
    weights + metadata; returns metadata."""
    started = time.time()
    data = build_datasets(config, mnist_loader(settings), log)
    rng = np.random.default_rng(config.seed + 1)
    model = DigitCnn(config.cnn, rngs=nnx.Rngs(params=config.seed, dropout=config.seed + 2))
    started_from = None
    if config.init_from:
        start, start_meta = load_weights(Path(config.init_from))
        nnx.update(model, nnx.state(start, nnx.Any(nnx.Param, nnx.BatchStat)))
        started_from = {key: start_meta.get(key) for key in
                        ("trained_at", "train_seconds", "best_epoch", "validation_accuracy")}
        started_from["epochs"] = (start_meta.get("train_config") or {}).get("epochs")
    samples = len(data.clean_x) + len(data.scan_x) + len(data.blank_x)
    steps_per_epoch = samples // config.batch_size
    total_steps = config.epochs * steps_per_epoch
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=config.peak_learning_rate / 20, peak_value=config.peak_learning_rate,
        warmup_steps=min(int(config.warmup_epochs * steps_per_epoch), total_steps // 2),
        decay_steps=total_steps, end_value=config.peak_learning_rate / 200)
    optimizer = nnx.Optimizer(model, optax.adamw(schedule, weight_decay=config.weight_decay),
                              wrt=nnx.Param)

    best = {"accuracy": -1.0}
    best_state = None
    history = []
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.time()
        x, y = epoch_arrays(data, config, rng)
        model.train()
        losses = []
        for step in range(steps_per_epoch):
            sl = slice(step * config.batch_size, (step + 1) * config.batch_size)
            losses.append(train_step(model, optimizer, jnp.asarray(x[sl]), jnp.asarray(y[sl]),
                                     config.label_smoothing))
        val_pred = logits_of(model, data.val_x).argmax(1)
        accuracy = float((val_pred == data.val_y).mean())
        record = {"epoch": epoch, "loss": float(np.mean(jax.device_get(losses))),
                  "val_accuracy": accuracy, "seconds": round(time.time() - epoch_start, 1)}
        history.append(record)
        log(f"epoch {epoch:2d}/{config.epochs}  loss {record['loss']:.4f}  "
            f"val acc {accuracy:.4%}  ({record['seconds']:.0f} s)")
        if accuracy > best["accuracy"]:
            best = {"accuracy": accuracy, "epoch": epoch}
            best_state = jax.tree.map(jnp.copy, nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat)))

    nnx.update(model, best_state)
    model.eval()
    temperature = fit_temperature(logits_of(model, data.val_x), data.val_y)
    metadata = {
        "trained_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "train_config": dataclasses.asdict(config),
        "temperature": temperature,
        "best_epoch": best["epoch"],
        "validation_accuracy": best["accuracy"],
        "history": history,
        "train_seconds": round(time.time() - started, 1),
        # Fine-tuned: the weights it started from (their own training time adds to this run's).
        "started_from": started_from,
        "data": {"source": "tensorflow-datasets mnist 3.0.1",
                 "train_sha256": data_fingerprint("train", settings),
                 "test_sha256": data_fingerprint("test", settings)},
        "devices": [str(d) for d in jax.devices()],
    }
    save_weights(model, config.cnn, weights_path, metadata)
    log(f"best epoch {best['epoch']} (val acc {best['accuracy']:.4%}), temperature "
        f"{temperature:.2f}, saved {weights_path} in {metadata['train_seconds']:.0f} s")
    return metadata
