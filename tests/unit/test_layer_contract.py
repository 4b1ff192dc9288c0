"""The core's layer contract: pure forward/backward pairs, caches owned by the call,
several outputs per node, non-differentiable layers, the dtype policy and one engine."""
import gc
import inspect
import weakref

import numpy as np
import pytest

import course_lib as cl
from course_lib import layers


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------ pure pairs
def test_forward_returns_outputs_and_a_cache_and_backward_is_pure():
    with cl.backend.floatx_scope("float64"):
        layer = layers.Dense(3, activation="tanh")
        x1, x2, dy = _normal((4, 5)), _normal((4, 5), 1), _normal((4, 3), 2)
        layer(x1)
        _, cache1 = layer.forward(x1)
        _, cache2 = layer.forward(x2)
    dx1, grads1 = layer.backward(dy, cache1)
    dx2, grads2 = layer.backward(dy, cache2)
    assert layer.grads == {}, "the pure backward must not touch layer.grads"
    assert set(grads1) == {"kernel", "bias"}
    assert not np.allclose(grads1["kernel"], grads2["kernel"])
    # The sugar uses the last call's cache and overwrites layer.grads.
    layer(x1)
    np.testing.assert_array_equal(layer.backward(dy), dx1)
    np.testing.assert_array_equal(layer.grads["kernel"], grads1["kernel"])
    layer(x2)
    layer.backward(dy)
    np.testing.assert_array_equal(layer.grads["kernel"], grads2["kernel"])


def test_backward_before_any_call_says_what_to_do():
    with pytest.raises(RuntimeError, match=r"Layer 'dense': backward\(dy\) uses the cache of the layer's last call"):
        layers.Dense(2).backward(np.ones((1, 2)))


def test_a_keras_style_layer_without_backward_runs_but_explains_when_trained():
    class Doubler(layers.Layer):
        def call(self, inputs, training=False):
            return 2 * inputs

    model = cl.Sequential([cl.Input((3,)), Doubler(), layers.Dense(1)])
    np.testing.assert_allclose(model.predict(np.ones((2, 3)), verbose=0).shape, (2, 1))
    model.compile("sgd", "mse")
    # The Dense after it trains (no gradient is needed below it): Doubler's backward never runs.
    model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    model = cl.Sequential([cl.Input((3,)), layers.Dense(3), Doubler(), layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match=r"Layer 'doubler_1' \(Doubler\) defines no backward pass.*differentiable = False"):
        model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)


def test_a_new_layer_needs_forty_lines_and_no_engine_knowledge():
    source = inspect.getsource(inspect.getmodule(layers.LeakyReLU))
    assert len(source.splitlines()) < 40
    for engine_word in ("Node", "graph", "_last_call", "wrt_", "logits", "model"):
        assert engine_word not in source
    with cl.backend.floatx_scope("float64"):
        x = _normal((4, 6))
        cl.testing.assert_gradients_close(layers.LeakyReLU(0.1), x)
        inputs = cl.Input((6,))
        model = cl.Model(inputs, layers.Dense(2)(layers.LeakyReLU()(layers.Dense(5)(inputs))))
        cl.testing.assert_gradients_close(model, x)


# ---------------------------------------------------------- caches per call
class _Tracked:
    """A cache object whose lifetime the test can watch."""


class CacheWatcher(layers.Layer):
    alive = []

    def forward(self, inputs, training=False):
        cache = _Tracked()
        CacheWatcher.alive.append(weakref.ref(cache))
        return inputs * 1.0, cache

    def backward(self, output_grads, cache):
        assert isinstance(cache, _Tracked)
        return output_grads, {}


def test_inference_keeps_no_cache():
    CacheWatcher.alive.clear()
    model = cl.Sequential([cl.Input((3,)), layers.Dense(4), CacheWatcher(), layers.Dense(2)])
    model.predict(np.ones((10, 3)), batch_size=5, verbose=0)
    model.compile("sgd", "mse")
    model.evaluate(np.ones((10, 3)), np.ones((10, 2)), batch_size=5, verbose=0)
    gc.collect()
    assert len(CacheWatcher.alive) == 4 and all(ref() is None for ref in CacheWatcher.alive)
    model.fit(np.ones((10, 3)), np.ones((10, 2)), batch_size=5, verbose=0)  # training uses them
    assert model.layers[0].differentiable


def test_a_shared_layer_keeps_one_cache_per_call():
    with cl.backend.floatx_scope("float64"):
        shared = layers.Dense(3, activation="sigmoid", name="shared")
        a, b = cl.Input((4,)), cl.Input((4,))
        model = cl.Model([a, b], layers.Subtract()([shared(a), shared(b)]))
        report = cl.testing.assert_gradients_close(model, [_normal((5, 4)), _normal((5, 4), 1)])
    assert {"input_0", "input_1", "shared/kernel", "shared/bias"} == set(report.entries)


# ------------------------------------------------------- several outputs
class SplitHalves(layers.Layer):
    """Two outputs: the first and the second half of the features."""

    def compute_output_shape(self, input_shape):
        half = input_shape[-1] // 2
        return [tuple(input_shape[:-1]) + (half,), tuple(input_shape[:-1]) + (half,)]

    def forward(self, inputs, training=False):
        half = inputs.shape[-1] // 2
        return [inputs[..., :half], inputs[..., half:]], inputs.shape

    def backward(self, output_grads, input_shape):
        half = input_shape[-1] // 2
        filled = [
            np.zeros(input_shape[:-1] + (half,)) if grad is None else grad for grad in output_grads
        ]
        return np.concatenate(filled, axis=-1), {}


def test_a_node_with_two_outputs_and_one_unused():
    with cl.backend.floatx_scope("float64"):
        inputs = cl.Input((6,))
        first, second = SplitHalves()(layers.Dense(6)(inputs))
        assert first.shape == second.shape == (None, 3) and (first.index, second.index) == (0, 1)
        model = cl.Model(inputs, layers.Dense(2)(first))  # the second output feeds nothing
        cl.testing.assert_gradients_close(model, _normal((4, 6)))
        both = cl.Model(inputs, [layers.Dense(1)(first), second])
        cl.testing.assert_gradients_close(both, _normal((4, 6)))
    clone = cl.Model.from_config(both.get_config(), custom_objects={"SplitHalves": SplitHalves})
    clone.set_weights(both.get_weights())
    x = _normal((2, 6)).astype("float32")
    for mine, theirs in zip(clone(x), both(x)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)


# ---------------------------------------------------- non-differentiable
class Rounder(layers.Layer):
    """A preprocessing step no gradient flows through."""

    differentiable = False

    def forward(self, inputs, training=False):
        return np.round(inputs), None


def test_the_engine_stops_at_a_non_differentiable_layer():
    model = cl.Sequential([cl.Input((3,)), Rounder(), layers.Dense(2)])
    model.compile("sgd", "mse")
    history = model.fit(_normal((8, 3)), np.ones((8, 2)), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


# ------------------------------------------------------------- dtype policy
def test_integer_inputs_stay_integers_where_keras_keeps_them():
    inputs = cl.Input((2, 3), dtype="int32")
    assert inputs.dtype == "int32"
    flat = layers.Flatten()(inputs)
    assert flat.dtype == "int32"
    out = layers.Dense(2)(flat)
    assert out.dtype == "float32"
    model = cl.Model(inputs, [flat, out])
    ids, dense = model.predict(np.arange(12).reshape(2, 2, 3), verbose=0)
    assert ids.dtype == np.int32 and dense.dtype == np.float32
    np.testing.assert_array_equal(ids, np.arange(12).reshape(2, 6))
    assert layers.Flatten()(np.ones((2, 3), dtype="int64")).dtype == np.int64
    assert layers.Dense(1)(np.ones((2, 3), dtype="int64")).dtype == np.float32


def test_autocast_false_keeps_the_float_type_of_the_input():
    x = np.ones((2, 3), dtype="float64")
    assert layers.Activation("relu")(x).dtype == np.float32
    assert layers.Activation("relu", autocast=False)(x).dtype == np.float64
    assert layers.Activation("relu", autocast=False).get_config()["autocast"] is False


def test_input_rejects_a_non_numeric_dtype():
    """Texts are the one exception (dtype "string", for TextVectorization); complex numbers are refused."""
    with pytest.raises(ValueError, match=r"InputLayer: dtype must be a float, integer or bool type, or 'string' for texts. Received: dtype=.complex64."):
        cl.Input((3,), dtype="complex64")
    assert cl.Input((1,), dtype="string").dtype == "string"


# -------------------------------------------------------------- one engine
def test_sequential_is_a_model_over_its_graph():
    model = cl.Sequential([cl.Input((3,)), layers.Dense(4), layers.Dense(2)])
    assert [node.layer for node in model._nodes][1:] == model.layers
    for name in ("_run", "_backprop", "forward", "backward"):
        assert getattr(type(model), name) is getattr(cl.Model, name)


def test_freezing_a_model_freezes_its_layers_as_keras_does():
    inner = cl.Sequential([cl.Input((3,)), layers.Dense(4), layers.Dense(2)], name="inner")
    inner.trainable = False
    assert all(not layer.trainable for layer in inner.layers)
    assert inner.trainable_weights == [] and len(inner.non_trainable_weights) == 4
    assert inner.count_params() == 3 * 4 + 4 + 4 * 2 + 2
    outer = cl.Sequential([cl.Input((3,)), inner, layers.Dense(1)])
    assert len(outer.trainable_weights) == 2
    before = inner.get_weights()
    outer.compile("sgd", "mse")
    outer.fit(_normal((8, 3)), np.ones((8, 1)), verbose=0)
    for old, new in zip(before, inner.get_weights()):
        np.testing.assert_array_equal(old, new)
    inner.trainable = True
    assert all(layer.trainable for layer in inner.layers)
