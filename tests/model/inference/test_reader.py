"""The shipped reader: weights, accuracy on committed MNIST test digits and on the full test
set, batching without recompiles, and bad input."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from model.inference.checkpoint import WeightsError, load_weights
from model.inference.preprocess import CropError
from model.inference.reader import BLANK, DigitReader
from model.training.scanpath import render_box_crop
from scangrade.settings import get_settings
from tests.helpers.paths import MNIST_TEST_SAMPLE

FIXTURE = MNIST_TEST_SAMPLE


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
    from model.training.data import load_mnist

    images, labels = load_mnist("test", get_settings())
    accuracy = (reader.classify_images(images.astype(np.float32) / 255.0).argmax(1) == labels)
    assert accuracy.mean() >= 0.996


def test_any_batch_size_reuses_the_compiled_shapes(reader, sample):
    images, _ = sample
    reader.warm_up()
    def compiled() -> list[int]:
        return reader._full.compiled_shapes() + reader._screen.compiled_shapes()

    assert compiled() == [len(reader.batch_sizes)] * 3  # two full CNNs and the screen
    for n in (1, 17, 64, 300, 1500):
        reader.classify_images(np.resize(images, (n, 28, 28)).astype(np.float32) / 255.0)
        reader.read_batch([render_box_crop(image, np.random.default_rng(n))
                           for image in np.resize(images, (n, 28, 28))[:80]])
    assert compiled() == [len(reader.batch_sizes)] * 3


def test_shipped_reader_is_a_cascade(reader):
    assert reader.cascade and len(reader.ensemble_metadata) == 1
    meta = reader.screen_metadata
    assert meta["cnn"]["space_to_depth"] == 2
    assert meta["data"]["test_sha256"] == reader.metadata["data"]["test_sha256"]
    assert 0.5 < reader.screen_threshold <= 1.0


def _full_and_screen_weights() -> tuple[tuple, tuple]:
    """The shipped full CNN and screening CNN, each (model, metadata)."""
    return load_weights(reader_weights_path()), load_weights(get_settings().screen_weights_path)


def _two_readers(threshold: float) -> tuple[DigitReader, DigitReader, DigitReader]:
    """The full model alone, the screen alone, and the cascade of both at `threshold`."""
    full, screen = _full_and_screen_weights()
    return (DigitReader(*full, batch_sizes=(16, 64)),
            DigitReader(*screen, batch_sizes=(16, 64)),
            DigitReader(*full, batch_sizes=(16, 64), screen=screen,
                        screen_threshold=threshold))


@pytest.fixture(scope="module")
def crops_with_a_blank(sample):
    images, _ = sample
    rng = np.random.default_rng(5)
    crops = [render_box_crop(image, rng) for image in images[:80]]
    crops.insert(7, np.full((60, 50), 235, np.uint8))  # an empty box: no model reads it
    return crops


def test_cascade_gives_the_full_model_the_crops_the_screen_is_unsure_of(crops_with_a_blank):
    crops = crops_with_a_blank
    full, screen, cascade = _two_readers(threshold=0.999)
    by_full, by_screen = full.read_batch(crops), screen.read_batch(crops)
    both = cascade.read_batch(crops)
    unsure = ~by_screen.no_ink & (by_screen.confidences < 0.999)
    assert 0 < unsure.sum() < len(crops) - 1  # some crops of each kind
    np.testing.assert_array_equal(both.full_read, unsure)
    np.testing.assert_allclose(both.probs[~unsure], by_screen.probs[~unsure], atol=1e-6)
    np.testing.assert_allclose(both.probs[unsure], by_full.probs[unsure], atol=1e-6)
    assert both.no_ink[7] and both.labels[7] == BLANK and not both.full_read[7]
    assert by_full.full_read.sum() == len(crops) - 1  # alone, the full model reads all inked


def test_cascade_threshold_one_reads_everything_with_the_full_model(crops_with_a_blank):
    crops = crops_with_a_blank
    full, _, cascade = _two_readers(threshold=1.0)
    both = cascade.read_batch(crops)
    assert both.full_read.sum() == len(crops) - 1  # every inked crop, the saturated ones too
    np.testing.assert_allclose(both.probs, full.read_batch(crops).probs, atol=1e-6)


def test_cascade_in_pipelined_steps_reads_as_in_one(sample):
    images, _ = sample
    rng = np.random.default_rng(9)
    crops = [render_box_crop(image, rng) for image in images[:90]]
    for at in (5, 33, 34):
        crops.insert(at, np.full((60, 50), 235, np.uint8))
    full, screen = _full_and_screen_weights()
    results = [DigitReader(*full, batch_sizes=(16, 64), pipeline_crops=step, screen=screen,
                           screen_threshold=0.999).read_batch(crops) for step in (1000, 7, 32)]
    assert 0 < results[0].full_read.sum() < 90
    for other in results[1:]:
        np.testing.assert_array_equal(results[0].full_read, other.full_read)
        np.testing.assert_array_equal(results[0].labels, other.labels)
        np.testing.assert_allclose(results[0].probs, other.probs, atol=1e-6)


def test_load_with_a_path_reads_with_that_full_cnn_alone():
    settings = get_settings()
    shipped = DigitReader.load(settings)
    assert len(shipped.ensemble_metadata) == len(settings.ensemble_weights_paths) == 1
    assert shipped.screen_threshold == settings.confidence_threshold  # screen_threshold None
    alone = DigitReader.load(settings, settings.weights_path)
    assert alone.ensemble_metadata == [] and alone.cascade
    paired = DigitReader.load(settings, settings.weights_path,
                              ensemble_paths=settings.ensemble_weights_paths)
    assert len(paired.ensemble_metadata) == 1


def test_an_ensemble_averages_its_full_models(sample):
    images, _ = sample
    images = images[:40].astype(np.float32) / 255.0
    full, other = _full_and_screen_weights()  # any CNN will do as a second
    pair = DigitReader(*full, batch_sizes=(16, 64), ensemble=[other])
    expected = (DigitReader(*full, batch_sizes=(16, 64)).classify_images(images)
                + DigitReader(*other, batch_sizes=(16, 64)).classify_images(images)) / 2
    np.testing.assert_allclose(pair.classify_images(images), expected, atol=1e-6)
    assert pair.ensemble_metadata == [other[1]]


def test_reader_without_screen(sample):
    images, labels = sample
    alone = DigitReader.load(get_settings(), screen_path=None)
    assert not alone.cascade and alone.screen_metadata is None
    probs = alone.classify_images(images.astype(np.float32) / 255.0)
    assert (probs.argmax(axis=1) == labels).mean() >= 0.98


def test_bad_screen_threshold():
    model, metadata = load_weights(reader_weights_path())
    with pytest.raises(ValueError, match="screen_threshold"):
        DigitReader(model, metadata, screen=(model, metadata), screen_threshold=0.0)


def test_cpu_library_fusions_are_chosen_per_stage(sample):
    """The full CNN compiles without YNNPACK fusions on a CPU (slower there at 16-32 rows),
    giving the same probabilities as with them (to 1e-5); an unknown stage is refused."""
    import jax

    model, metadata = load_weights(reader_weights_path())
    images = sample[0][:16].astype(np.float32) / 255.0
    readers = [DigitReader(model, metadata, batch_sizes=(16,), cpu_library_fusions=stages)
               for stages in ((), ("full",))]
    if jax.default_backend() == "cpu":
        forward, weights = readers[0]._full.forwards[0]
        assert "ynn" not in forward.lower(weights, images).compile().as_text()
    without, with_fusions = (r.classify_images(images) for r in readers)
    np.testing.assert_allclose(without, with_fusions, atol=1e-5)
    with pytest.raises(ValueError, match="unknown stages"):
        DigitReader(model, metadata, cpu_library_fusions=("fast",))


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
        DigitReader.load(get_settings(), tmp_path / "nope.npz")


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


def test_screen_can_be_switched_off_by_environment(monkeypatch):
    from scangrade.settings import Settings

    monkeypatch.setenv("SCANGRADE_SCREEN_WEIGHTS_PATH", "none")
    monkeypatch.setenv("SCANGRADE_ENSEMBLE_WEIGHTS_PATHS", "[]")
    settings = Settings()
    assert settings.screen_weights_path is None and settings.ensemble_weights_paths == ()
    reader = DigitReader.load(settings=settings)
    assert not reader.cascade and reader.ensemble_metadata == []


# What `scangrade train --init-from W --epochs N --learning-rate R` changes in a config.
FINE_TUNING_FIELDS = ("init_from", "epochs", "peak_learning_rate")


def test_shipped_weights_were_trained_with_the_configs_train_uses():
    """`scangrade train --model M` retrains what is shipped on the same data (format 1's cnn
    config aside); weights fine-tuned from earlier ones say so and from what."""
    import dataclasses

    from model.training.train import TrainConfig, model_config
    settings = get_settings()
    shipped = {"full": settings.weights_path, "second": settings.ensemble_weights_paths[0],
               "screen": settings.screen_weights_path}
    for model, path in shipped.items():
        metadata = json.loads(Path(path).with_suffix(".json").read_text())
        stored = metadata["train_config"]
        config = json.loads(json.dumps(dataclasses.asdict(model_config(model))))
        if model == "second":  # format 1 named five channel counts
            stored.pop("cnn"), config.pop("cnn")
        if stored.get("init_from"):
            assert metadata["started_from"]["trained_at"], model
            for name in FINE_TUNING_FIELDS:
                stored.pop(name), config.pop(name)
        _drop_fields_added_since(stored, config, dataclasses.asdict(TrainConfig()))
        assert stored == config, model


def _drop_fields_added_since(stored: dict, config: dict, defaults: dict) -> None:
    """Fields the config gained after the weights were trained must hold the defaults that
    train as before (e.g. no digit forms), and are then left out of the comparison."""
    for name in list(config):
        if name not in stored:
            assert config.pop(name) == json.loads(json.dumps(defaults[name])), name
        elif isinstance(config[name], dict) and isinstance(stored[name], dict):
            _drop_fields_added_since(stored[name], config[name], defaults[name])
