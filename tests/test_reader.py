"""The shipped reader: weights, accuracy on committed MNIST test digits and on the full test
set, batching without recompiles, and bad input."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from model.checkpoint import WeightsError, load_weights
from model.preprocess import CropError
from model.reader import BLANK, DigitReader
from model.scanpath import render_box_crop

FIXTURE = Path(__file__).parent / "fixtures" / "mnist_test_sample.npz"


@pytest.fixture(scope="module")
def sample():
    with np.load(FIXTURE) as data:
        return data["images"], data["labels"]


def test_shipped_weights_have_metadata(reader):
    meta = reader.metadata
    for key in ("trained_at", "train_config", "temperature", "validation_accuracy", "data", "cnn"):
        assert key in meta, key
    assert meta["data"]["train_sha256"] != meta["data"]["test_sha256"]
    assert 0.3 < reader.temperature < 5


def test_reads_committed_mnist_test_digits(reader, sample):
    images, labels = sample
    probs = reader.classify_images(images.astype(np.float32) / 255.0)
    assert probs.shape == (len(images), 11)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert (probs.argmax(axis=1) == labels).mean() >= 0.98


def test_reads_digits_through_the_scan_path(reader, sample):
    images, labels = sample
    rng = np.random.default_rng(11)
    crops = [render_box_crop(image, rng) for image in images]
    batch = reader.read_batch(crops)
    assert (batch.labels == labels).mean() >= 0.97
    assert (batch.labels == BLANK).mean() <= 0.01


def test_empty_boxes_read_blank(reader):
    rng = np.random.default_rng(12)
    reads = reader.read([render_box_crop(None, rng) for _ in range(200)])
    assert sum(read.blank for read in reads) >= 196
    assert all(read.digit is None or 0 <= read.digit <= 9 for read in reads)


def test_read_returns_digit_confidence_and_probabilities(reader, sample):
    images, labels = sample
    crop = render_box_crop(images[0], np.random.default_rng(0))
    (read,) = reader.read([crop])
    assert read.digit == labels[0]
    assert read.confidence == pytest.approx(read.probs[read.digit])
    assert read.probs.shape == (11,)


def test_full_mnist_test_accuracy(reader):
    from model.data import load_mnist

    images, labels = load_mnist("test")
    accuracy = (reader.classify_images(images.astype(np.float32) / 255.0).argmax(1) == labels)
    assert accuracy.mean() >= 0.996


def test_any_batch_size_reuses_the_compiled_shapes(reader, sample):
    images, _ = sample
    reader.warm_up()
    compiled = reader._forward._cache_size()
    assert compiled == len(reader.batch_sizes)
    for n in (1, 17, 64, 300, 1500):
        reader.classify_images(np.resize(images, (n, 28, 28)).astype(np.float32) / 255.0)
    assert reader._forward._cache_size() == compiled


def test_empty_batch_is_an_empty_result(reader):
    batch = reader.read_batch([])
    assert len(batch) == 0 and batch.probs.shape == (0, 11)
    assert reader.read([]) == []


def test_bad_crops_are_refused_before_any_work(reader):
    good = np.full((40, 40), 230, np.uint8)
    with pytest.raises(CropError, match="crop 1: expected uint8"):
        reader.read([good, np.full((40, 40), np.nan)])
    with pytest.raises(CropError, match=r"crop 0:.*smaller than"):
        reader.read([np.zeros((1, 1), np.uint8)])


def test_nan_images_are_refused(reader):
    with pytest.raises(ValueError, match="NaN"):
        reader.classify_images(np.full((2, 28, 28), np.nan, np.float32))


def test_missing_weights_file(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        DigitReader.load(tmp_path / "nope.npz")


def test_corrupt_weights_file(tmp_path, reader):
    weights = Path(reader_weights_path())
    shutil.copy(weights.with_suffix(".json"), tmp_path / "w.json")
    (tmp_path / "w.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(WeightsError, match="cannot read"):
        load_weights(tmp_path / "w.npz")


def test_weights_of_another_shape(tmp_path):
    weights = Path(reader_weights_path())
    shutil.copy(weights, tmp_path / "w.npz")
    meta = json.loads(weights.with_suffix(".json").read_text())
    meta["cnn"]["hidden"] = meta["cnn"]["hidden"] * 2
    (tmp_path / "w.json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="shape"):
        load_weights(tmp_path / "w.npz")


def reader_weights_path() -> str:
    from scangrade.settings import get_settings

    return str(get_settings().weights_path)


def test_pipelined_steps_read_the_same_as_one_step(sample):
    images, _ = sample
    rng = np.random.default_rng(3)
    crops = [render_box_crop(image, rng) for image in images[:60]]
    for at in (3, 10, 11, 20, 41):  # blanks inside steps shift the inked crops' indices
        crops.insert(at, np.full((60, 50), 235, np.uint8))
    model, metadata = load_weights(reader_weights_path())
    whole = DigitReader(model, metadata, batch_sizes=(16, 64), pipeline_crops=1000)
    results = [whole.read_batch(crops)]
    for sizes, step in (((16, 64), 7), ((16,), 40)):  # the second: several CNN batches a step
        results.append(DigitReader(model, metadata, batch_sizes=sizes,
                                   pipeline_crops=step).read_batch(crops))
    for other in results[1:]:
        np.testing.assert_array_equal(results[0].labels, other.labels)
        np.testing.assert_array_equal(results[0].no_ink, other.no_ink)
        np.testing.assert_allclose(results[0].probs, other.probs, atol=1e-6)
    assert results[0].no_ink[[3, 10, 11, 20, 41]].all() and results[0].no_ink.sum() == 5


def test_weights_of_an_unknown_architecture(tmp_path):
    weights = Path(reader_weights_path())
    shutil.copy(weights, tmp_path / "w.npz")
    meta = json.loads(weights.with_suffix(".json").read_text())
    meta["format_version"] = 2  # format 2 lists channels per stage, not five counts
    meta["cnn"] = {"channels": [16, 32, 32, 64, 96], "hidden": 128}
    (tmp_path / "w.json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="no valid 'cnn' config"):
        load_weights(tmp_path / "w.npz")
