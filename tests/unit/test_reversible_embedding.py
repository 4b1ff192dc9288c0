"""ReversibleEmbedding: both directions, gradients (float64), weights, errors, configs and graphs."""
import numpy as np
import pytest

import course_lib as cl
from course_lib.testing import assert_gradients_close


def _layer(**kwargs):
    with cl.backend.floatx_scope("float64"):
        return cl.layers.ReversibleEmbedding(7, 4, embeddings_initializer="random_normal", **kwargs)


class _Reversed(cl.layers.ReversibleEmbedding):
    """Called as the gradient checker calls a layer, ``layer(x, training=...)``, it projects in reverse."""

    def __call__(self, inputs, training=None, mask=None):
        return super().__call__(inputs, training=training, reverse=True)


@pytest.mark.parametrize("kwargs", [{}, {"tie_weights": False}, {"logit_soft_cap": 0.5}])
def test_reverse_gradients(kwargs, rng):
    with cl.backend.floatx_scope("float64"):
        layer = _Reversed(7, 4, embeddings_initializer="random_normal", **kwargs)
    hidden = rng.standard_normal((2, 3, 4))
    assert layer(hidden).shape == (2, 3, 7)
    tied = kwargs.get("tie_weights", True)
    assert [w.name for w in layer.weights] == ["embeddings"] + ([] if tied else ["reverse_embeddings"])
    assert_gradients_close(layer, hidden)


def test_tied_reverse_is_the_transposed_embeddings_and_soft_cap(rng):
    layer = _layer(logit_soft_cap=2.0)
    emb = layer(np.array([[3, 1]]))
    np.testing.assert_array_equal(emb[0, 0], layer.embeddings.numpy()[3])
    hidden = rng.standard_normal((2, 4))
    logits = layer(hidden, reverse=True)
    np.testing.assert_allclose(logits, 2.0 * np.tanh(hidden @ layer.embeddings.numpy().T / 2.0), rtol=1e-12)


def test_forward_gradient_and_untied_zero_reverse_gradient():
    layer = _layer(tie_weights=False)
    layer(np.array([[1, 1, 2]]))
    layer.backward(np.ones((1, 3, 4)))
    assert layer.grads["embeddings"][1].tolist() == [2.0] * 4
    assert not layer.grads["reverse_embeddings"].any()


def test_errors(rng):
    layer = cl.layers.ReversibleEmbedding(5, 3)
    with pytest.raises(ValueError, match="output_dim=3"):
        layer(rng.standard_normal((2, 4)).astype("float32"), reverse=True)
    with pytest.raises(TypeError, match="reverse"):
        layer(np.array([1]), reverse="yes")
    with pytest.raises(ValueError, match="logit_soft_cap"):
        cl.layers.ReversibleEmbedding(5, 3, logit_soft_cap=-1.0)
    with pytest.raises(ValueError, match="input_dim"):
        layer(np.array([[9]]))


def test_a_tied_language_model_trains_and_round_trips(tmp_path, rng):
    ids = rng.integers(0, 9, (6, 5))
    inputs = cl.Input((5,), dtype="int32")
    shared = cl.layers.ReversibleEmbedding(9, 4, mask_zero=False, name="tok")
    hidden = cl.layers.Dense(4, activation="tanh")(shared(inputs))
    model = cl.Model(inputs, shared(hidden, reverse=True))
    assert model.outputs[0].shape == (None, 5, 9)
    model.compile(optimizer="adam", loss=cl.losses.SparseCategoricalCrossentropy(from_logits=True))
    first = model.train_on_batch(ids, ids)
    for _ in range(20):
        last = model.train_on_batch(ids, ids)
    assert last < first
    config = model.get_config()
    assert [node["kwargs"] for node in config["layers"][1]["inbound_nodes"]] == [{}, {"reverse": True}]
    model.save(tmp_path / "lm.keras")
    loaded = cl.models.load_model(tmp_path / "lm.keras")
    np.testing.assert_array_equal(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0))


def test_config_keys():
    layer = cl.layers.ReversibleEmbedding(5, 3, tie_weights=False, logit_soft_cap=3.0, name="r")
    config = layer.get_config()
    assert config["tie_weights"] is False and config["reverse_dtype"] is None and config["logit_soft_cap"] == 3.0
    assert cl.layers.deserialize(cl.layers.serialize(layer)).get_config() == config
