"""The digit CNN (Flax NNX): 28x28 grey → 11 logits (digits 0-9, then blank)."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from model.inference.classes import NUM_CLASSES


@dataclass(frozen=True)
class CnnConfig:
    """Stages of 3x3 convs at 28, 14 and 7 px, each followed by 2x2 max pooling; each tuple
    lists the output channels of one stage's convs (about 6.5 M multiply-adds a digit by
    default). `DigitCnn.infer` computes the one conv at 28 px as a conv over 2x2 pixel blocks
    at 14 px, exactly and faster on a CPU.

    With `space_to_depth` 2 the 28 px stage is replaced by folding each 2x2 block of pixels
    into 4 channels of a 14x14 image, so the first conv sees 6x6 px at stride 2. Measured on
    2 cores: 2-3x the digits/s of the default, but less accurate after the same training
    (stage14 (32, 32), stage7 (64, 64), 24 epochs: MNIST test 99.63%, scan path 99.25%,
    continental 1s 98.7%, 18.9% of digits to review at the 0.1%-error threshold, against the
    default's 99.67%, 99.33%, 99.4%, 7.9%); `stage14 (48,)` was faster still and worse.
    So it serves as the reader's screening model (`model.training.train.SCREEN_CNN`, 3.0 M
    multiply-adds): it reads every crop, and the crops it is unsure of go to the default."""

    space_to_depth: int = 1  # 1: a conv stage at 28 px; 2: fold its pixels into channels
    stage28: tuple[int, ...] = (16,)
    stage14: tuple[int, ...] = (32, 32)
    stage7: tuple[int, ...] = (64, 96)
    hidden: int = 128
    dropout: float = 0.25
    batchnorm_momentum: float = 0.9  # 0.99 (Flax's default) lags badly over short runs

    def __post_init__(self) -> None:
        if self.space_to_depth not in (1, 2):
            raise ValueError(f"cnn space_to_depth: 1 or 2, got {self.space_to_depth}")
        if (self.space_to_depth == 1) != bool(self.stage28):
            raise ValueError("cnn stage28: needs channels when space_to_depth is 1 and none "
                             "when it is 2")
        for name in ("stage28", "stage14", "stage7"):
            channels = getattr(self, name)
            if any(int(c) < 1 for c in channels) or (name != "stage28" and not channels):
                raise ValueError(f"cnn {name}: needs positive channel counts, got {channels}")

    @property
    def input_channels(self) -> int:
        return self.space_to_depth ** 2

    def multiply_adds(self) -> int:
        """Multiply-adds of the convs and the dense layers for one digit."""
        total, c_in = 0, self.input_channels
        for side, stage in ((28, self.stage28), (14, self.stage14), (7, self.stage7)):
            for c_out in stage:
                total += side * side * 9 * c_in * c_out
                c_in = c_out
        return total + c_in * 9 * self.hidden + self.hidden * NUM_CLASSES


class ConvBn(nnx.Module):
    def __init__(self, c_in: int, c_out: int, momentum: float, rngs: nnx.Rngs):
        self.conv = nnx.Conv(c_in, c_out, (3, 3), use_bias=False, rngs=rngs)
        self.bn = nnx.BatchNorm(c_out, momentum=momentum, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return nnx.relu(self.bn(self.conv(x)))


def _stage(c_in: int, channels: tuple[int, ...], momentum: float, rngs: nnx.Rngs
           ) -> nnx.Sequential:
    layers = []
    for c_out in channels:
        layers.append(ConvBn(c_in, c_out, momentum, rngs))
        c_in = c_out
    return nnx.Sequential(*layers)


def _pool(x: jax.Array) -> jax.Array:
    return nnx.max_pool(x, (2, 2), (2, 2))


def space_to_depth(x: jax.Array, block: int) -> jax.Array:
    """(N, H, W, C) → (N, H/block, W/block, C*block*block): each block of pixels becomes
    the channels of one pixel."""
    n, h, w, c = x.shape
    x = x.reshape(n, h // block, block, w // block, block, c)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(n, h // block, w // block, block * block * c)


def _block_taps() -> np.ndarray:
    """(3, 3, 4, 4, 9) one-hot: which tap of a 3x3 kernel at 28 px each weight of a 3x3
    kernel over 2x2 pixel blocks is, for every pixel of the input block (4) and of the output
    block (4); all zero where the 28 px kernel does not reach."""
    taps = np.zeros((3, 3, 4, 4, 9), np.float32)
    for out_row in (0, 1):
        for out_col in (0, 1):
            for in_row in (0, 1):
                for in_col in (0, 1):
                    for block_row in (-1, 0, 1):
                        for block_col in (-1, 0, 1):
                            u = 2 * block_row + in_row - out_row
                            v = 2 * block_col + in_col - out_col
                            if -1 <= u <= 1 and -1 <= v <= 1:
                                taps[block_row + 1, block_col + 1, 2 * in_row + in_col,
                                     2 * out_row + out_col, 3 * (u + 1) + (v + 1)] = 1.0
    return taps


_BLOCK_TAPS = _block_taps()


class DigitCnn(nnx.Module):
    def __init__(self, config: CnnConfig, *, rngs: nnx.Rngs):
        m = config.batchnorm_momentum
        self.block = config.space_to_depth
        c_in = config.input_channels
        self.stage28 = _stage(c_in, config.stage28, m, rngs) if config.stage28 else None
        c_in = config.stage28[-1] if config.stage28 else c_in
        self.stage14 = _stage(c_in, config.stage14, m, rngs)
        self.stage7 = _stage(config.stage14[-1], config.stage7, m, rngs)
        self.dense = nnx.Linear(config.stage7[-1] * 3 * 3, config.hidden, use_bias=False,
                                rngs=rngs)
        self.bn_dense = nnx.BatchNorm(config.hidden, momentum=m, rngs=rngs)
        self.dropout = nnx.Dropout(config.dropout, rngs=rngs)
        self.head = nnx.Linear(config.hidden, NUM_CLASSES, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (N, 28, 28) or (N, 28, 28, 1) floats in [0, 1] (ink = 1) → (N, 11) logits."""
        if x.ndim == 3:
            x = x[..., None]
        # 28 → 14: a conv stage and pooling, or the pixels folded into channels
        x = _pool(self.stage28(x)) if self.stage28 is not None else space_to_depth(x, self.block)
        return self._after_28(x)

    def infer(self, x: jax.Array) -> jax.Array:
        """The same logits as calling the model in eval mode, faster on a CPU: a single conv
        at 28 px followed by 2x2 pooling is computed as one conv over 2x2 pixel blocks at
        14 px giving all four pooled positions, then BN, ReLU and the max over the four.
        Exact: the block kernel holds the same weights, zeros where the 3x3 does not reach
        (measured on 2 cores: a 28 px conv costs several times its arithmetic there)."""
        if x.ndim == 3:
            x = x[..., None]
        if self.stage28 is None or len(self.stage28.layers) != 1 or self.block != 1:
            return self(x)
        first = self.stage28.layers[0]
        kernel = first.conv.kernel[...]  # (3, 3, 1, C)
        channels = kernel.shape[-1]
        block_kernel = jnp.einsum("abiot,tc->abioc", _BLOCK_TAPS, kernel.reshape(9, channels))
        y = jax.lax.conv_general_dilated(
            space_to_depth(x, 2), block_kernel.reshape(3, 3, 4, 4 * channels), (1, 1), "SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"))
        y = y.reshape(*y.shape[:3], 4, channels)  # the four positions of each 2x2 block
        x = nnx.relu(first.bn(y)).max(axis=3)
        return self._after_28(x)

    def _after_28(self, x: jax.Array) -> jax.Array:
        x = _pool(self.stage14(x))  # 14 → 7
        x = _pool(self.stage7(x))  # 7 → 3
        x = x.reshape(x.shape[0], -1)
        x = nnx.relu(self.bn_dense(self.dense(x)))
        return self.head(self.dropout(x))


def count_params(model: nnx.Module) -> int:
    return sum(int(jnp.size(p)) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
