"""Keras 3's newer activations and AlphaDropout: behaviour, errors and float64 gradient checks.

celu, glu, hard_shrink, hard_tanh, log_sigmoid, soft_shrink, sparse_plus,
sparse_sigmoid, sparsemax, squareplus, tanh_shrink and threshold: the backward of
each against central differences (relative error < 1e-6, inputs kept 1e-2 away
from the kinks), the derivative at the kinks by hand (TensorFlow's convention),
registration by name and dtypes. AlphaDropout: the identity at inference, Keras's
affine formula in training, its mean and variance, and its backward.
"""
import math

import numpy as np
import pytest

import course_lib as cl
from course_lib import activations, backend

NEW_CASES = [
    ("celu", {}),
    ("celu", {"alpha": 0.5}),
    ("glu", {}),
    ("glu", {"axis": 1}),
    ("hard_shrink", {}),
    ("hard_shrink", {"threshold": 1.0}),
    ("hard_tanh", {}),
    ("log_sigmoid", {}),
    ("soft_shrink", {}),
    ("soft_shrink", {"threshold": 1.5}),
    ("sparse_plus", {}),
    ("sparse_sigmoid", {}),
    ("sparsemax", {}),
    ("sparsemax", {"axis": 1}),
    ("squareplus", {}),
    ("squareplus", {"b": 1.0}),
    ("tanh_shrink", {}),
    ("threshold", {"threshold": 0.3, "default_value": -2.0}),
]
CASE_IDS = [name + "".join(f"-{k}={v}" for k, v in kw.items()) for name, kw in NEW_CASES]
NEW_NAMES = sorted({name for name, _ in NEW_CASES})

KINKS = {
    "celu": lambda kw: [0.0],
    "hard_shrink": lambda kw: [kw.get("threshold", 0.5), -kw.get("threshold", 0.5)],
    "hard_tanh": lambda kw: [-1.0, 1.0],
    "soft_shrink": lambda kw: [kw.get("threshold", 0.5), -kw.get("threshold", 0.5)],
    "sparse_plus": lambda kw: [-1.0, 1.0],
    "sparse_sigmoid": lambda kw: [-1.0, 1.0],
    "threshold": lambda kw: [kw["threshold"]],
}


def numerical_gradient(fn, x, dy, kwargs, step=1e-6):
    """Central differences of ``sum(fn(x) * dy)``, one element of ``x`` at a time."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + step
        plus = np.array(fn(x, **kwargs))
        x[index] = original - step
        minus = np.array(fn(x, **kwargs))
        x[index] = original
        grad[index] = np.sum((plus - minus) * dy) / (2 * step)
    return grad


def relative_error(actual, expected):
    scale = max(np.max(np.abs(actual)), np.max(np.abs(expected)), 1e-12)
    return np.max(np.abs(actual - expected)) / scale


def _away_from_kinks(name, kwargs, x):
    for kink in KINKS.get(name, lambda kw: [])(kwargs):
        near = np.abs(x - kink) < 1e-2
        x[near] = kink + 2e-2
    return x


@pytest.mark.parametrize("name, kwargs", NEW_CASES, ids=CASE_IDS)
def test_backward_matches_central_differences_in_float64(name, kwargs, rng):
    x = _away_from_kinks(name, kwargs, rng.normal(size=(3, 4, 6)) * 1.5)
    fn = getattr(activations, name)
    y = fn(x, **kwargs)
    assert y.dtype == np.float64
    dy = rng.normal(size=y.shape)
    dx = fn.backward(x, y, dy, **kwargs)
    assert dx.shape == x.shape and dx.dtype == np.float64
    expected = numerical_gradient(fn, x.copy(), dy, kwargs)
    error = relative_error(dx, expected)
    assert error < 1e-6, f"{name}{kwargs}: relative error {error:.2e}, expected < 1e-6"


@pytest.mark.parametrize("name, kwargs, points, expected", [
    ("celu", {}, [0.0], [2.0]),  # TensorFlow's max and min both pass the gradient at 0
    ("hard_tanh", {}, [-1.0, 1.0, 1.5], [1.0, 1.0, 0.0]),
    ("hard_shrink", {}, [-0.5, 0.5, 0.6], [0.0, 0.0, 1.0]),
    ("soft_shrink", {}, [-0.5, 0.5, -0.6], [0.0, 0.0, 1.0]),
    ("sparse_plus", {}, [-1.0, 1.0], [0.0, 1.0]),
    ("sparse_sigmoid", {}, [-1.0, 1.0, 0.0], [0.0, 0.0, 0.5]),
    ("threshold", {"threshold": 0.5, "default_value": 3.0}, [0.5, 0.50001], [0.0, 1.0]),
])
def test_derivative_at_kinks_is_tensorflows(name, kwargs, points, expected):
    fn = getattr(activations, name)
    x = np.array(points)
    np.testing.assert_array_equal(fn.backward(x, fn(x, **kwargs), np.ones_like(x), **kwargs), expected)


def test_values_by_hand():
    x = np.array([-2.0, -1.0, -0.25, 0.0, 0.25, 1.0, 2.0])
    np.testing.assert_allclose(activations.celu(x, alpha=2.0), np.where(x >= 0, x, 2 * np.expm1(x / 2)))
    np.testing.assert_allclose(activations.hard_tanh(x), [-1, -1, -0.25, 0, 0.25, 1, 1])
    np.testing.assert_allclose(activations.hard_shrink(x), [-2, -1, 0, 0, 0, 1, 2])
    np.testing.assert_allclose(activations.soft_shrink(x), [-1.5, -0.5, 0, 0, 0, 0.5, 1.5])
    np.testing.assert_allclose(activations.sparse_plus(x), [0, 0, 0.140625, 0.25, 0.390625, 1, 2])
    np.testing.assert_allclose(activations.sparse_sigmoid(x), [0, 0, 0.375, 0.5, 0.625, 1, 1])
    np.testing.assert_allclose(activations.squareplus(x), (x + np.sqrt(x * x + 4)) / 2)
    np.testing.assert_allclose(activations.tanh_shrink(x), x - np.tanh(x))
    np.testing.assert_allclose(activations.log_sigmoid(x), np.log(1 / (1 + np.exp(-x))))
    np.testing.assert_allclose(activations.threshold(x, threshold=0.0, default_value=-9.0),
                               [-9, -9, -9, -9, 0.25, 1, 2])
    np.testing.assert_allclose(activations.glu(np.array([[1.0, 2.0, 0.0, -1.0]])),
                               [[0.5, 2 / (1 + math.e)]])


def test_log_sigmoid_is_finite_for_large_inputs():
    x = np.array([-1e4, -100.0, 100.0, 1e4], dtype=np.float32)
    y = activations.log_sigmoid(x)
    assert np.all(np.isfinite(y)) and y.dtype == np.float32
    np.testing.assert_allclose(y, [-1e4, -100.0, 0.0, 0.0], atol=1e-30)


def test_sparsemax_projects_onto_the_simplex(rng):
    np.testing.assert_allclose(activations.sparsemax(np.array([[0.0, 0.5, 1.0]])), [[0.0, 0.25, 0.75]])
    np.testing.assert_allclose(activations.sparsemax(np.array([0.1, 0.2, 0.3, 0.4, 0.5])),
                               [0.0, 0.1, 0.2, 0.3, 0.4], atol=1e-12)
    np.testing.assert_allclose(activations.sparsemax(np.array([[3.0, 0.0, -1.0]])), [[1.0, 0.0, 0.0]])
    x = rng.normal(size=(5, 4, 7))
    for axis in (-1, 0, 1):
        y = activations.sparsemax(x, axis=axis)
        assert np.all(y >= 0)
        np.testing.assert_allclose(y.sum(axis=axis), 1.0, atol=1e-12)
    # Ties at the smallest kept value are all kept; the output is sorted like the input.
    np.testing.assert_allclose(activations.sparsemax(np.array([1.0, 1.0, -5.0])), [0.5, 0.5, 0.0])


def test_sparsemax_backward_is_the_projection_jacobian(rng):
    x = rng.normal(size=(6,)) * 2
    y = activations.sparsemax(x)
    support = (y > 0).astype(float)
    jacobian = np.diag(support) - np.outer(support, support) / support.sum()
    dy = rng.normal(size=x.shape)
    np.testing.assert_allclose(activations.sparsemax.backward(x, y, dy), jacobian.T @ dy, atol=1e-12)


def test_glu_halves_the_axis_and_checks_shapes():
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 10
    assert activations.glu(x).shape == (2, 3, 2)
    assert activations.glu(x.reshape(2, 4, 3), axis=1).shape == (2, 2, 3)
    with pytest.raises(ValueError, match="glu.*divisible by 2.*shape=\\(2, 4, 3\\)"):
        activations.glu(x.reshape(2, 4, 3))
    with pytest.raises(ValueError, match="glu: axis 3 is out of range"):
        activations.glu(x, axis=3)
    y = activations.glu(x)
    with pytest.raises(ValueError, match="glu.backward.*halved.*\\(2, 3, 2\\).*dy.shape=\\(2, 3, 4\\)"):
        activations.glu.backward(x, y, np.ones_like(x))
    assert activations.glu.backward(x, y, np.ones_like(y)).shape == x.shape


def test_errors_name_the_function_and_the_value():
    x = np.ones(3)
    with pytest.raises(TypeError, match="threshold"):
        activations.threshold(x)  # both options are required, as in Keras
    with pytest.raises(TypeError, match="'celu' got unexpected keyword.*'beta'"):
        activations.celu(x, beta=1.0)
    with pytest.raises(ValueError, match="celu: alpha must be non-zero"):
        activations.celu(x, alpha=0)
    with pytest.raises(TypeError, match="activations.hard_shrink"):
        activations.hard_shrink(x, threshold="big")
    with pytest.raises(TypeError, match="activations.squareplus"):
        activations.squareplus(x, b=None)
    with pytest.raises(TypeError, match="sparsemax: axis must be an int"):
        activations.sparsemax(x, axis=1.0)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("name", NEW_NAMES)
def test_float_dtype_is_kept(name, dtype, rng):
    kwargs = {"threshold": 0.0, "default_value": 0.0} if name == "threshold" else {}
    x = rng.normal(size=(2, 4)).astype(dtype)
    fn = getattr(activations, name)
    y = fn(x, **kwargs)
    assert y.dtype == np.dtype(dtype)
    assert fn.backward(x, y, np.ones_like(y), **kwargs).dtype == np.dtype(dtype)


def test_integer_input_is_cast_to_floatx():
    assert activations.hard_tanh([-3, 0, 3]).dtype == np.dtype(backend.floatx())
    np.testing.assert_array_equal(activations.hard_tanh([-3, 0, 3]), [-1.0, 0.0, 1.0])


@pytest.mark.parametrize("name", NEW_NAMES)
def test_registered_by_name(name):
    fn = activations.get(name)
    assert fn is getattr(activations, name) and fn.name == name and fn.has_backward
    assert activations.serialize(fn) == name
    assert activations.deserialize(name) is fn
    assert activations.get({"class_name": "function", "config": name}) is fn
    assert name in activations.__all__


def test_activation_layer_with_a_new_activation_has_gradients():
    with backend.floatx_scope("float64"):
        layer = cl.layers.Activation("squareplus")
        cl.testing.assert_gradients_close(layer, np.random.default_rng(0).normal(size=(3, 4)))
        dense = cl.layers.Dense(4, activation="log_sigmoid", bias_initializer="glorot_uniform")
        cl.testing.assert_gradients_close(dense, np.random.default_rng(1).normal(size=(3, 5)))
    assert layer.get_config()["activation"] == "squareplus"


# -------------------------------------------------------------------- AlphaDropout
ALPHA_P = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946


def _alpha_dropout_by_hand(x, keep, rate):
    a = ((1 - rate) * (1 + rate * ALPHA_P ** 2)) ** -0.5
    b = -a * ALPHA_P * rate
    return a * (x * keep + ALPHA_P * (1 - keep)) + b, a * keep


def test_alpha_dropout_is_the_identity_at_inference_and_for_rate_zero(rng):
    x = rng.normal(size=(4, 5)).astype("float32")
    layer = cl.layers.AlphaDropout(0.4)
    assert layer(x) is x or np.array_equal(layer(x), x)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.ones_like(x))
    np.testing.assert_array_equal(cl.layers.AlphaDropout(0.0)(x, training=True), x)


@pytest.mark.parametrize("noise_shape", [None, (None, 1, 6)])
def test_alpha_dropout_follows_keras_formula_with_the_layers_draw(noise_shape, rng):
    rate = 0.3
    x = rng.normal(size=(4, 3, 6)).astype("float32")
    layer = cl.layers.AlphaDropout(rate, noise_shape=noise_shape)
    layer._rng = np.random.default_rng(7)
    y = layer(x, training=True)
    mask_shape = x.shape if noise_shape is None else (4, 1, 6)
    keep = (np.random.default_rng(7).random(mask_shape) >= rate).astype("float32")
    expected, slope = _alpha_dropout_by_hand(x.astype(np.float64), keep, rate)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    dy = rng.normal(size=x.shape).astype("float32")
    np.testing.assert_allclose(layer.backward(dy), dy * slope, rtol=1e-6)
    if noise_shape is not None:  # one draw shared along the axis of size 1
        np.testing.assert_allclose(np.diff(y - x * slope, axis=1), 0, atol=1e-6)
        assert slope.shape == (4, 1, 6)


def test_alpha_dropout_keeps_mean_and_variance_of_standard_inputs():
    x = np.random.default_rng(3).standard_normal((2000, 100))
    with backend.floatx_scope("float64"):
        y = cl.layers.AlphaDropout(0.2, seed=5)(x, training=True)
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.02
    assert abs(np.mean(np.isclose(y, _alpha_dropout_by_hand(0.0, 0.0, 0.2)[0])) - 0.2) < 0.01


def test_alpha_dropout_gradients_in_float64():
    with backend.floatx_scope("float64"):
        layer = cl.layers.AlphaDropout(0.4)

        def reseed():
            layer._rng = np.random.default_rng(11)

        report = cl.testing.assert_gradients_close(layer, np.random.default_rng(0).normal(size=(5, 6)),
                                                   training=True, before_forward=reseed)
    assert report.max_error < 1e-6


def test_alpha_dropout_seed_repeats_and_errors():
    x = np.ones((10, 10), dtype="float32")
    first = cl.layers.AlphaDropout(0.5, seed=3)(x, training=True)
    np.testing.assert_array_equal(first, cl.layers.AlphaDropout(0.5, seed=3)(x, training=True))
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="AlphaDropout: rate must be a float in the range \\[0, 1\\]"):
            cl.layers.AlphaDropout(bad)
    with pytest.raises(TypeError, match="AlphaDropout: rate"):
        cl.layers.AlphaDropout("0.5")
    with pytest.raises(TypeError, match="AlphaDropout: seed must be an int"):
        cl.layers.AlphaDropout(0.5, seed=1.5)
    layer = cl.layers.AlphaDropout(1.0)
    np.testing.assert_array_equal(layer(x), x)  # accepted, as in Keras, and the identity at inference
    with pytest.raises(ValueError, match="AlphaDropout .*rate=1.*cannot be used in training"):
        layer(x, training=True)


def test_alpha_dropout_config_and_model_round_trip(tmp_path):
    layer = cl.layers.AlphaDropout(0.25, noise_shape=(None, 1), seed=4, name="ad")
    config = layer.get_config()
    assert {k: config[k] for k in ("rate", "seed", "noise_shape", "name")} == {
        "rate": 0.25, "seed": 4, "noise_shape": (None, 1), "name": "ad"}
    again = cl.layers.AlphaDropout.from_config(config)
    assert again.get_config() == config
    model = cl.Sequential([cl.Input((3,)), cl.layers.AlphaDropout(0.25, name="ad"), cl.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    loaded = cl.models.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("ad")) is cl.layers.AlphaDropout
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
