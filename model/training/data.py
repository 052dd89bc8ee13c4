"""MNIST through tensorflow-datasets, without TensorFlow.

TFDS's own MNIST builder is reused (same name, version 3.0.1 and features); only where the
raw IDX files come from changes: a local folder (`settings.mnist_dir`, e.g. ../shared/mnist)
or, without one, TFDS's download manager with its registered checksums. The prepared
dataset is array_record, read with `tfds.data_source`, TFDS's route for JAX.
"""

from __future__ import annotations

import gzip
import hashlib
import urllib.parse
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image
from tensorflow_datasets.image_classification import mnist as tfds_mnist

from scangrade.config.reader import ReaderSettings

IDX_FILES = {
    "train_data": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_data": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
IMAGE_HEADER_BYTES = 16
LABEL_HEADER_BYTES = 8


class MnistDataError(RuntimeError):
    """MNIST could not be found, prepared or read."""


def _read_idx(path: Path, header_bytes: int) -> np.ndarray:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic: TFDS's download keeps the .gz as it came
        raw = gzip.decompress(raw)
    return np.frombuffer(raw, dtype=np.uint8, offset=header_bytes)


class LocalMnist(tfds_mnist.MNIST, skip_registration=True):
    """TFDS's MNIST builder, fed from raw IDX files in a local folder when one is given."""

    name = "mnist"

    def __init__(self, *, raw_dir: Path | None = None, **kwargs):
        self._raw_dir = raw_dir
        super().__init__(**kwargs)

    def _split_generators(self, dl_manager):
        if self._raw_dir is not None:
            files = {key: self._raw_dir / name for key, name in IDX_FILES.items()}
            missing = [str(path) for path in files.values() if not path.exists()]
            if missing:
                raise MnistDataError(f"MNIST IDX files missing: {', '.join(missing)}")
        else:
            files = dl_manager.download(
                {k: urllib.parse.urljoin(self.URL, v) for k, v in IDX_FILES.items()}
            )
        return [
            tfds.core.SplitGenerator(
                name=split,
                gen_kwargs={"data_path": files[f"{prefix}_data"],
                            "label_path": files[f"{prefix}_labels"]},
            )
            for split, prefix in ((tfds.Split.TRAIN, "train"), (tfds.Split.TEST, "test"))
        ]

    def _generate_examples(self, data_path, label_path):
        images = _read_idx(Path(data_path), IMAGE_HEADER_BYTES).reshape(-1, 28, 28, 1)
        labels = _read_idx(Path(label_path), LABEL_HEADER_BYTES)
        if len(images) != len(labels):
            raise MnistDataError(f"{data_path}: {len(images)} images but {len(labels)} labels")
        for index, (image, label) in enumerate(zip(images, labels, strict=True)):
            # PIL images: TFDS encodes numpy arrays with TensorFlow, PIL images without it.
            yield index, {"image": Image.fromarray(image[..., 0]), "label": int(label)}


MnistLoader = Callable[[str], tuple[np.ndarray, np.ndarray]]  # split -> (images, labels)


def prepare_mnist(data_dir: Path, raw_dir: Path | None) -> LocalMnist:
    """Prepares MNIST as array_record once (about 5 s) in `data_dir` from the raw IDX files in
    `raw_dir` (None: TFDS downloads them); later calls only open it."""
    builder = LocalMnist(raw_dir=raw_dir, data_dir=str(data_dir), file_format="array_record")
    if not builder.is_prepared():
        # Checked first: an unprepared dataset on an offline machine stalls for minutes.
        builder.download_and_prepare()
    return builder


@lru_cache(maxsize=2)
def load_mnist(split: str, settings: ReaderSettings) -> tuple[np.ndarray, np.ndarray]:
    """All of one split as arrays: images uint8 (N, 28, 28), labels int64 (N,); where MNIST
    lives comes from `settings` (mnist_dir, tfds_data_dir)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    builder = prepare_mnist(Path(settings.tfds_data_dir), settings.mnist_dir)
    source = builder.as_data_source(split=split)
    records = source.__getitems__(range(len(source)))
    images = np.stack([r["image"][..., 0] for r in records]).astype(np.uint8)
    labels = np.array([r["label"] for r in records], dtype=np.int64)
    return images, labels


def mnist_loader(settings: ReaderSettings) -> MnistLoader:
    """`load_mnist` with the settings bound, for code that only names the split."""
    return lambda split: load_mnist(split, settings)


def data_fingerprint(split: str, settings: ReaderSettings) -> str:
    """sha256 of one split's pixels and labels, recorded with trained weights."""
    images, labels = load_mnist(split, settings)
    digest = hashlib.sha256(images.tobytes())
    digest.update(labels.tobytes())
    return digest.hexdigest()
