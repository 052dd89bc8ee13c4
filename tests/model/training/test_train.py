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
