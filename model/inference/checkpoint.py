"""Reader weights on disk: one .npz of arrays plus a .json of metadata beside it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx

from model.inference.cnn import CnnConfig, DigitCnn

FORMAT_VERSION = 2  # 2: the cnn config lists channels per stage (1: five channel counts)


class WeightsError(RuntimeError):
    """Weights missing, corrupt or not matching the model."""


def _weights_state(model: nnx.Module) -> nnx.State:
    """What a trained model is: parameters and batch-norm statistics (no RNG state)."""
    return nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat))


def _flat_state(model: nnx.Module) -> dict[str, np.ndarray]:
    leaves, _ = jax.tree_util.tree_flatten_with_path(_weights_state(model))
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def metadata_path(weights_path: Path) -> Path:
    return Path(weights_path).with_suffix(".json")


def save_weights(model: nnx.Module, cnn_config: CnnConfig, weights_path: Path,
                 metadata: dict[str, Any]) -> None:
    weights_path = Path(weights_path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = weights_path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **_flat_state(model))
    tmp.replace(weights_path)  # atomic: a reader never sees half a file
    meta = {"format_version": FORMAT_VERSION, "cnn": asdict(cnn_config), **metadata}
    metadata_path(weights_path).write_text(json.dumps(meta, indent=2, default=str) + "\n")


def load_metadata(weights_path: Path) -> dict[str, Any]:
    path = metadata_path(weights_path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise WeightsError(f"weights metadata missing: {path}") from None
    except json.JSONDecodeError as exc:
        raise WeightsError(f"weights metadata is not valid JSON: {path}: {exc}") from None


def _format_1_config(cnn: dict[str, Any]) -> dict[str, Any]:
    """Format 1 named five channel counts: one conv at 28 px, two at 14, two at 7."""
    cnn = dict(cnn)
    channels = list(cnn.pop("channels"))
    if len(channels) != 5:
        raise ValueError(f"format 1 needs five channel counts, got {channels}")
    return {"space_to_depth": 1, "stage28": channels[:1], "stage14": channels[1:3],
            "stage7": channels[3:], **cnn}


def _format_1_key(key: str) -> str:
    """Format 1 kept the 28 px conv outside a Sequential."""
    prefix = "['stage28']['"
    return key.replace(prefix, "['stage28']['layers'][0]['", 1) if key.startswith(prefix) else key


def load_weights(weights_path: Path) -> tuple[DigitCnn, dict[str, Any]]:
    """Builds the model the metadata describes and fills it with the stored arrays."""
    weights_path = Path(weights_path)
    if not weights_path.exists():
        raise WeightsError(
            f"reader weights not found: {weights_path} (train with `scangrade train "
            "--model full|second|screen`, or set SCANGRADE_WEIGHTS_PATH, "
            "SCANGRADE_ENSEMBLE_WEIGHTS_PATHS or SCANGRADE_SCREEN_WEIGHTS_PATH)"
        )
    metadata = load_metadata(weights_path)
    format_1 = metadata.get("format_version") == 1
    try:
        cnn = _format_1_config(metadata["cnn"]) if format_1 else metadata["cnn"]
        cnn_config = CnnConfig(**{k: tuple(v) if isinstance(v, list) else v
                                  for k, v in cnn.items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"weights metadata has no valid 'cnn' config: {exc}") from None
    # Only the shapes: building the model for real runs every initializer as its own compiled
    # op, seconds of start-up for values the stored arrays replace at once.
    model = nnx.eval_shape(lambda: DigitCnn(cnn_config, rngs=nnx.Rngs(0)))
    model.dropout = nnx.Dropout(cnn_config.dropout)  # no random state: inference only
    state = _weights_state(model)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(state)
    try:
        with np.load(weights_path) as stored:
            arrays = {_format_1_key(key) if format_1 else key: stored[key]
                      for key in stored.files}
    except Exception as exc:  # zip/pickle/OS errors all mean the same to a user
        raise WeightsError(f"cannot read reader weights {weights_path}: {exc}") from None
    new_leaves = []
    for path, leaf in leaves:
        key = jax.tree_util.keystr(path)
        if key not in arrays:
            raise WeightsError(f"{weights_path}: missing array {key}")
        if arrays[key].shape != tuple(leaf.shape):
            raise WeightsError(
                f"{weights_path}: {key} has shape {arrays[key].shape}, model needs "
                f"{tuple(leaf.shape)}"
            )
        new_leaves.append(arrays[key])
    nnx.update(model, jax.tree_util.tree_unflatten(treedef, new_leaves))
    model.eval()
    return model, metadata
