"""course_lib.testing itself: the gradient checker, the layer-test harness and the tf.keras bridge.

A checker that never fails proves nothing, so each tool is shown a broken
layer and must catch it with a message that says what is wrong.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import layers


class WrongKernelGradient(layers.Dense):
    """A Dense whose kernel gradient is off by a factor of 2."""

    def backward(self, dy, cache):
        dx, grads = super().backward(dy, cache)
        return dx, dict(grads, kernel=2 * grads["kernel"])


class WrongInputGradient(layers.Activation):
    """tanh whose backward forgets the derivative."""

    def backward(self, dy, cache):
        return dy, {}


class LyingShape(layers.Flatten):
    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)


class EagerWeights(layers.Dense):
    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.build((None, 4))


class DroppedGradient(layers.Dense):
    def backward(self, dy, cache):
        dx, grads = super().backward(dy, cache)
        return dx, {"kernel": grads["kernel"]}


class WrongInputGradientShape(layers.Dense):
    """Returns the input gradient flattened: the harness must notice the shape."""

    def backward(self, dy, cache):
        dx, grads = super().backward(dy, cache)
        return dx.reshape(-1), grads


class ForgetfulConfig(layers.Dropout):
    def get_config(self):
        config = super().get_config()
        if self.name.endswith("_clone"):
            config["rate"] = 0.0
        return config


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------ gradient check
def test_check_gradients_passes_a_correct_layer_and_reports_each_array():
    with cl.backend.floatx_scope("float64"):
        layer = layers.Dense(3, activation="tanh")
        report = cl.testing.check_gradients(layer, _normal((4, 5)))
    assert report.passed and report.max_error < 1e-7
    assert list(report.entries) == ["input", "kernel", "bias"]
    assert "expected < 1e-06 [ok]" in str(report)


def test_check_gradients_catches_a_wrong_weight_gradient():
    with cl.backend.floatx_scope("float64"):
        layer = WrongKernelGradient(3)
        report = cl.testing.check_gradients(layer, _normal((4, 5)))
        assert not report.passed
        assert report.entries["kernel"][0] > 0.3
        assert report.entries["input"][0] < 1e-6
        message = (
            r"(?s)Gradient check failed for wrong_kernel_gradient:.*\nkernel: "
            r"relative error 3\.33e-01 at index \(\d, \d\).*\[FAILED\]"
        )
        with pytest.raises(AssertionError, match=message):
            cl.testing.assert_gradients_close(layer, _normal((4, 5)))


def test_check_gradients_catches_a_wrong_input_gradient():
    with cl.backend.floatx_scope("float64"):
        layer = WrongInputGradient("tanh")
        message = (
            r"input: relative error .*backward gave .*central "
            r"difference .*expected < 1e-06 \[FAILED\]"
        )
        with pytest.raises(AssertionError, match=message):
            cl.testing.assert_gradients_close(layer, 2 * _normal((3, 4)))


def test_check_gradients_catches_a_wrong_gradient_inside_a_model():
    with cl.backend.floatx_scope("float64"):
        model = cl.Sequential([cl.Input((5,)), layers.Dense(4, activation="relu"), WrongKernelGradient(2, name="bad")])
    report = cl.testing.check_gradients(model, _normal((3, 5)))
    assert not report.passed
    failed = [name for name, entry in report.entries.items() if entry[0] >= report.tolerance]
    assert failed == ["bad/kernel"]


def test_check_gradients_refuses_float32_and_bad_upstream():
    with pytest.raises(TypeError, match=r"build the layer in float64 \(inside backend\.floatx_scope\('float64'\)\)"):
        cl.testing.check_gradients(layers.Dense(2), _normal((2, 3)))
    with cl.backend.floatx_scope("float64"):
        layer = layers.Dense(2)
        with pytest.raises(ValueError, match=r"upstream has shape \(3, 3\), the output has \(2, 2\)"):
            cl.testing.check_gradients(layer, _normal((2, 3)), upstream=np.ones((3, 3)))


def test_check_gradients_samples_large_arrays_and_accepts_an_upstream():
    with cl.backend.floatx_scope("float64"):
        layer = layers.Dense(20)
        report = cl.testing.check_gradients(layer, _normal((10, 30)), upstream=np.ones((10, 20)), max_entries=8)
    assert report.passed
    assert len(report.entries) == 3


def test_check_gradients_before_forward_is_called_every_pass():
    calls = []
    with cl.backend.floatx_scope("float64"):
        layer = layers.Dropout(0.5)

        def reseed():
            calls.append(1)
            layer._rng = np.random.default_rng(0)

        cl.testing.assert_gradients_close(layer, _normal((2, 3)), training=True, before_forward=reseed)
    # One forward, then two per input entry.
    assert len(calls) == 1 + 2 * 6


def test_dropout_without_a_fixed_mask_fails_the_check():
    with cl.backend.floatx_scope("float64"):
        layer = layers.Dropout(0.5)
        report = cl.testing.check_gradients(layer, _normal((4, 6)), training=True)
    assert not report.passed


# --------------------------------------------------------------- layer_test
def test_layer_test_returns_the_built_layer():
    layer = cl.testing.layer_test(layers.Dense, {"units": 3}, input_shape=(2, 4), expected_output_shape=(None, 3),
                                  expected_num_weights=2, expected_num_params=15)
    assert layer.built and layer.kernel.shape == (4, 3)
    data = np.ones((2, 6), dtype="float32")
    assert cl.testing.layer_test(layers.Reshape, {"target_shape": (3, 2)}, input_data=data).built


@pytest.mark.parametrize(
    "layer_class, kwargs, expectation, message",
    [
        (LyingShape, {}, {}, r"LyingShape: call gave shape \(2, 12\), compute_output_shape said \(2, 1\)"),
        (EagerWeights, {"units": 2}, {}, r"EagerWeights: weights were created before build"),
        (DroppedGradient, {"units": 2}, {}, r"grads\['bias'\] missing or misshaped"),
        (layers.Dense, {"units": 3}, {"expected_output_shape": (None, 4)},
         r"expected output shape \(None, 4\), received \(2, 3, 3\)"),
        (layers.Dense, {"units": 3}, {"expected_num_weights": 1}, r"expected 1 weights, found 2"),
        (layers.Dense, {"units": 3}, {"expected_num_params": 10}, r"expected 10 parameters, found 15"),
        (ForgetfulConfig, {"rate": 0.5}, {}, r"config key 'rate' changed in from_config: 0\.5 -> 0\.0"),
        (WrongInputGradientShape, {"units": 2}, {},
         r"WrongInputGradientShape: backward returned shape \(24,\) for an input of shape \(2, 3, 4\)"),
    ],
)
def test_layer_test_catches_broken_layers(layer_class, kwargs, expectation, message):
    input_shape = (2, 3, 4)
    with pytest.raises(AssertionError, match=message):
        cl.testing.layer_test(layer_class, kwargs, input_shape=input_shape, **expectation)


def test_layer_test_needs_an_input():
    with pytest.raises(ValueError, match=r"layer_test: pass input_shape or input_data"):
        cl.testing.layer_test(layers.Dense, {"units": 2})


# ------------------------------------------------------------------- bridge
def test_copy_weights_between_course_lib_models():
    def build():
        return cl.Sequential([
            cl.Input((3,)), layers.Dense(4, name="a"), layers.Dropout(0.1), layers.Dense(2, name="b"),
        ])

    source, target = build(), build()
    cl.testing.copy_weights(source, target)
    for a, b in zip(source.get_weights(), target.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    smaller = cl.Sequential([cl.Input((3,)), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"copy_weights: the source has 2 layers with weights, the target 1"):
        cl.testing.copy_weights(source, smaller)


def test_bridge_round_trip_with_keras():
    tf = pytest.importorskip("tensorflow")
    keras = tf.keras
    inputs = cl.Input((4,), name="x")
    hidden = layers.Dense(6, activation="relu", name="hidden")(inputs)
    model = cl.Model(inputs, [layers.Dense(2, activation="softmax", name="p")(hidden),
                              layers.Dense(1, name="q")(layers.Dropout(0.2, name="d")(hidden))])
    keras_model = cl.testing.to_keras(model)
    assert isinstance(keras_model, keras.Model)
    x = _normal((3, 4)).astype("float32")
    for ours, theirs in zip(model(x), keras_model(x), strict=True):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-5, atol=1e-6)
    back = cl.testing.from_keras(keras_model)
    assert [layer.name for layer in back.layers] == [layer.name for layer in model.layers]
    for a, b in zip(back.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # A single-input, single-output functional model (Keras stores its refs unnested).
    single = keras.Model(keras_model.input, keras_model.output[0])
    rebuilt = cl.testing.from_keras(single)
    assert not isinstance(rebuilt(x), list)
    np.testing.assert_allclose(rebuilt(x), single(x).numpy(), rtol=1e-5, atol=1e-6)


def test_bridge_refuses_a_layer_course_lib_lacks():
    tf = pytest.importorskip("tensorflow")
    keras_model = tf.keras.Sequential([tf.keras.Input((8, 8, 3)),
                                       tf.keras.layers.MaxNumBoundingBoxes(max_number=3, bounding_box_format="xyxy")])
    with pytest.raises(ValueError, match=r"unknown layer class 'MaxNumBoundingBoxes': course_lib has no such layer"
                       r".* pass custom_objects=\{'MaxNumBoundingBoxes': YourClass\} or decorate"):
        cl.testing.from_keras(keras_model)
