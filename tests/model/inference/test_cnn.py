"""The CNN's shapes and its config's checks."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from model.inference.cnn import NUM_CLASSES, CnnConfig, DigitCnn, space_to_depth


def test_space_to_depth_folds_each_block_into_channels():
    image = jnp.arange(16.0).reshape(1, 4, 4, 1)
    folded = space_to_depth(image, 2)
    assert folded.shape == (1, 2, 2, 4)
    np.testing.assert_array_equal(folded[0, 0, 0], [0, 1, 4, 5])
    np.testing.assert_array_equal(folded[0, 1, 1], [10, 11, 14, 15])


@pytest.mark.parametrize("config", [
    CnnConfig(),
    CnnConfig(space_to_depth=2, stage28=(), stage14=(16,), stage7=(16, 16), hidden=32),
])
def test_both_first_stages_give_logits_per_digit(config):
    model = DigitCnn(config, rngs=nnx.Rngs(0))
    model.eval()
    assert model(jnp.zeros((3, 28, 28))).shape == (3, NUM_CLASSES)
    assert model(jnp.zeros((2, 28, 28, 1))).shape == (2, NUM_CLASSES)
    assert config.multiply_adds() > 0


@pytest.mark.parametrize("fields, message", [
    ({"space_to_depth": 3}, "space_to_depth"),
    ({"space_to_depth": 2}, "stage28"),  # folding 28 px into channels leaves no 28 px stage
    ({"stage28": ()}, "stage28"),
    ({"stage7": ()}, "stage7"),
    ({"stage14": (0,)}, "stage14"),
])
def test_bad_configs_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        CnnConfig(**fields)


def test_inference_path_gives_the_training_paths_logits():
    config = CnnConfig(stage28=(8,), stage14=(16,), stage7=(16, 16), hidden=32)
    model = DigitCnn(config, rngs=nnx.Rngs(1))
    rng = np.random.default_rng(0)
    first = model.stage28.layers[0]  # give batch norm real statistics, some scales negative
    first.bn.mean[...] = jnp.asarray(rng.normal(size=8), jnp.float32)
    first.bn.var[...] = jnp.asarray(rng.uniform(0.5, 2, 8), jnp.float32)
    first.bn.scale[...] = jnp.asarray(rng.normal(size=8), jnp.float32)
    model.eval()
    images = jnp.asarray(rng.random((5, 28, 28)), jnp.float32)
    np.testing.assert_allclose(model.infer(images), model(images), atol=1e-5)
