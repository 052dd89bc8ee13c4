"""The digit CNN (Flax NNX): 28x28 grey → 11 logits (digits 0-9, then blank)."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx

NUM_CLASSES = 11  # digits 0-9 and blank
BLANK = 10


@dataclass(frozen=True)
class CnnConfig:
    """Sized for 2 CPU cores (about 6.5 M multiply-adds a digit): one thin conv at 28 px,
    two at 14 px, two at 7 px, where channels are cheap."""

    channels: tuple[int, int, int, int, int] = (16, 32, 32, 64, 96)
    hidden: int = 128
    dropout: float = 0.25
    batchnorm_momentum: float = 0.9  # 0.99 (Flax's default) lags badly over short runs


class ConvBn(nnx.Module):
    def __init__(self, c_in: int, c_out: int, momentum: float, rngs: nnx.Rngs):
        self.conv = nnx.Conv(c_in, c_out, (3, 3), use_bias=False, rngs=rngs)
        self.bn = nnx.BatchNorm(c_out, momentum=momentum, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return nnx.relu(self.bn(self.conv(x)))


def _pool(x: jax.Array) -> jax.Array:
    return nnx.max_pool(x, (2, 2), (2, 2))


class DigitCnn(nnx.Module):
    def __init__(self, config: CnnConfig, *, rngs: nnx.Rngs):
        c1, c2, c3, c4, c5 = config.channels
        m = config.batchnorm_momentum
        self.stage28 = ConvBn(1, c1, m, rngs)
        self.stage14 = nnx.Sequential(ConvBn(c1, c2, m, rngs), ConvBn(c2, c3, m, rngs))
        self.stage7 = nnx.Sequential(ConvBn(c3, c4, m, rngs), ConvBn(c4, c5, m, rngs))
        self.dense = nnx.Linear(c5 * 3 * 3, config.hidden, use_bias=False, rngs=rngs)
        self.bn_dense = nnx.BatchNorm(config.hidden, momentum=m, rngs=rngs)
        self.dropout = nnx.Dropout(config.dropout, rngs=rngs)
        self.head = nnx.Linear(config.hidden, NUM_CLASSES, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (N, 28, 28) or (N, 28, 28, 1) floats in [0, 1] (ink = 1) → (N, 11) logits."""
        if x.ndim == 3:
            x = x[..., None]
        x = _pool(self.stage28(x))  # 28 → 14
        x = _pool(self.stage14(x))  # 14 → 7
        x = _pool(self.stage7(x))  # 7 → 3
        x = x.reshape(x.shape[0], -1)
        x = nnx.relu(self.bn_dense(self.dense(x)))
        return self.head(self.dropout(x))


def count_params(model: nnx.Module) -> int:
    return sum(int(jnp.size(p)) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
