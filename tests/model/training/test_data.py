"""MNIST through TFDS's own builder, fed from the local IDX files."""

import numpy as np
import pytest

from model.training.data import LocalMnist, MnistDataError, load_mnist, prepare_mnist
from scangrade.settings import get_settings

# Label counts of MNIST as published (shared/mnist/README.md).
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_both_splits_have_mnist_shapes_and_counts():
    for split, counts in (("train", TRAIN_COUNTS), ("test", TEST_COUNTS)):
        images, labels = load_mnist(split, get_settings())
        assert images.shape == (sum(counts), 28, 28) and images.dtype == np.uint8
        assert np.bincount(labels).tolist() == counts


def test_builder_is_tfds_mnist():
    settings = get_settings()
    builder = prepare_mnist(settings.tfds_data_dir, settings.mnist_dir)
    assert builder.name == "mnist" and str(builder.version) == "3.0.1"
    assert builder.is_prepared()


def test_unknown_split():
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation", get_settings())


def test_missing_raw_files_are_named(tmp_path):
    builder = LocalMnist(raw_dir=tmp_path / "nowhere", data_dir=str(tmp_path / "tfds"),
                         file_format="array_record")
    with pytest.raises(MnistDataError, match=r"train-images-idx3-ubyte\.gz"):
        builder.download_and_prepare()
