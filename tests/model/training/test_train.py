"""A full training loop on tiny data: it runs, saves loadable weights with metadata, and the
same seed gives the same weights."""

from pathlib import Path

import numpy as np

from model.inference.checkpoint import load_weights
from model.inference.reader import DigitReader
from model.training.train import TrainConfig, train_and_save
from scangrade.settings import get_settings

TINY = TrainConfig(epochs=1, limit_train=300, scan_path_digits=100, batch_size=64)


def test_smoke_training_saves_a_loadable_reader(tmp_path: Path):
    lines: list[str] = []
    meta = train_and_save(TINY, tmp_path / "reader.npz", get_settings(), log=lines.append)
    assert any(line.startswith("epoch  1/1") for line in lines)
    assert np.isfinite(meta["history"][0]["loss"])
    assert meta["best_epoch"] == 1
    model, stored = load_weights(tmp_path / "reader.npz")
    assert stored["train_config"]["limit_train"] == 300
    reader = DigitReader(model, stored, batch_sizes=(16,))
    probs = reader.classify_images(np.zeros((3, 28, 28), np.float32))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)


def test_same_seed_same_weights(tmp_path: Path):
    train_and_save(TINY, tmp_path / "a.npz", get_settings(), log=lambda _: None)
    train_and_save(TINY, tmp_path / "b.npz", get_settings(), log=lambda _: None)
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert a.files == b.files
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


def test_elastic_distortion_moves_strokes_but_keeps_ink():
    from model.training.augment import elastic

    image = np.zeros((28, 28), np.float32)
    image[6:22, 12:16] = 1.0
    moved = elastic(image, np.random.default_rng(0), alpha=30.0, sigma=4.5)
    assert not np.allclose(moved, image)
    assert abs(moved.sum() - image.sum()) < 0.35 * image.sum()


def test_fine_tuning_starts_from_the_given_weights_and_says_so(tmp_path: Path):
    import dataclasses

    first = train_and_save(TINY, tmp_path / "a.npz", get_settings(), log=lambda _: None)
    tuned = dataclasses.replace(TINY, init_from=str(tmp_path / "a.npz"), peak_learning_rate=0.0)
    meta = train_and_save(tuned, tmp_path / "b.npz", get_settings(), log=lambda _: None)
    assert meta["started_from"]["trained_at"] == first["trained_at"]
    # With a zero learning rate only BatchNorm statistics move: the weights are the start's.
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        kernels = [key for key in a.files if "kernel" in key]
        assert kernels
        for key in kernels:
            np.testing.assert_allclose(a[key], b[key], atol=1e-6)


def test_styles_recipe_runs_the_whole_loop_and_records_it(tmp_path: Path):
    import dataclasses

    from model.training.train import STYLES, model_config

    styled = dataclasses.replace(TINY, **STYLES)
    meta = train_and_save(styled, tmp_path / "styles.npz", get_settings(), log=lambda _: None)
    assert meta["train_config"]["form_probability"] == STYLES["form_probability"]
    assert meta["train_config"]["preprocess"]["faint_pass"] is True
    assert model_config("full", "styles").raw_digits == STYLES["raw_digits"]
    assert model_config("full").form_probability == 0.0
