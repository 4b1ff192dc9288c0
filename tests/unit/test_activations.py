"""course_lib.activations: forward and backward against tf.keras, finite differences and errors.

Measured float32 agreement with tf.keras 3.15 (inputs: normal*3, uniform in
[-100, 100] and the extremes +-1e4, +-88.5): forwards within ``rtol=1e-6,
atol=1e-6`` (most are bit-exact); backwards within ``rtol=1e-6, atol=2e-6``,
except gelu(approximate=True) whose backward needs ``atol=1e-5`` because
TensorFlow's float32 tanh saturates to exactly 1 a little earlier than NumPy's.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course_lib import activations, backend

# (name, keyword arguments) for every activation and the kwargs variants the
# brief asks for.
CASES = [
    ("linear", {}),
    ("relu", {}),
    ("relu", {"max_value": 6.0}),
    ("relu", {"max_value": 5.0}),
    ("relu", {"negative_slope": 0.1}),
    ("relu", {"threshold": 1.5}),
    ("relu", {"threshold": -0.5}),
    ("relu", {"negative_slope": 0.1, "max_value": 5.0, "threshold": 1.0}),
    ("relu", {"negative_slope": 0.3, "max_value": 6.0}),
    ("leaky_relu", {}),
    ("leaky_relu", {"negative_slope": 0.05}),
    ("relu6", {}),
    ("sigmoid", {}),
    ("tanh", {}),
    ("hard_sigmoid", {}),
    ("exponential", {}),
    ("elu", {}),
    ("elu", {"alpha": 0.3}),
    ("selu", {}),
    ("softplus", {}),
    ("softsign", {}),
    ("silu", {}),
    ("swish", {}),
    ("gelu", {}),
    ("gelu", {"approximate": True}),
    ("hard_silu", {}),
    ("mish", {}),
    ("softmax", {}),
    ("log_softmax", {}),
]
CASE_IDS = [name + "".join(f"-{k}={v}" for k, v in kw.items()) for name, kw in CASES]

FORWARD_TOL = {"rtol": 1e-6, "atol": 1e-6}
BACKWARD_TOL = {"rtol": 1e-6, "atol": 2e-6}
BACKWARD_TOL_GELU_TANH = {"rtol": 1e-6, "atol": 1e-5}

# Points where the derivative jumps; finite differences must stay away from them.
KINKS = {
    "relu": lambda kw: [kw.get("threshold", 0.0), 0.0]
    + ([kw["max_value"]] if kw.get("max_value") is not None else []),
    "leaky_relu": lambda kw: [0.0],
    "relu6": lambda kw: [0.0, 6.0],
    "hard_sigmoid": lambda kw: [-3.0, 3.0],
    "hard_silu": lambda kw: [-3.0, 3.0],
    "elu": lambda kw: [0.0],
    "selu": lambda kw: [0.0],
}


def wide_inputs(rng, shape=(6, 200)):
    """float32 inputs from small to huge, with the extremes that break naive formulas."""
    size = int(np.prod(shape))
    values = np.concatenate(
        [
            rng.normal(size=size // 2) * 3,
            rng.uniform(-100, 100, size - size // 2 - 6),
            [1e4, -1e4, 88.5, -88.5, 30.0, -30.0],
        ]
    )
    rng.shuffle(values)
    return values.reshape(shape).astype(np.float32)


def keras_forward_and_gradient(name, kwargs, x, dy):
    import tensorflow as tf
    from tensorflow import keras

    x_tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        y = getattr(keras.activations, name)(x_tensor, **kwargs)
    dx = tape.gradient(y, x_tensor, output_gradients=tf.constant(dy))
    return y.numpy(), dx.numpy()


@pytest.mark.parity
@pytest.mark.parametrize("name, kwargs", CASES, ids=CASE_IDS)
def test_forward_and_backward_match_keras(name, kwargs, rng):
    x = wide_inputs(rng)
    dy = rng.normal(size=x.shape).astype(np.float32)
    fn = getattr(activations, name)

    y = fn(x, **kwargs)
    dx = fn.backward(x, y, dy, **kwargs)
    y_keras, dx_keras = keras_forward_and_gradient(name, kwargs, x, dy)

    assert y.dtype == np.float32 and dx.dtype == np.float32
    assert y.shape == x.shape and dx.shape == x.shape
    np.testing.assert_allclose(y, y_keras, **FORWARD_TOL)
    tolerance = BACKWARD_TOL_GELU_TANH if name == "gelu" and kwargs else BACKWARD_TOL
    np.testing.assert_allclose(dx, dx_keras, **tolerance)


@pytest.mark.parity
@pytest.mark.parametrize(
    "name, kwargs, points",
    [
        ("relu", {}, [0.0]),
        ("relu", {"max_value": 6.0}, [0.0, 6.0]),
        ("relu", {"max_value": 5.0}, [0.0, 5.0]),
        ("relu", {"threshold": 1.0, "max_value": 5.0, "negative_slope": 0.1}, [1.0, 5.0]),
        ("relu", {"threshold": -1.0, "max_value": 5.0}, [-1.0, -0.5, 0.0]),
        ("leaky_relu", {}, [0.0]),
        ("relu6", {}, [0.0, 6.0]),
        ("hard_sigmoid", {}, [-3.0, 3.0]),
        ("hard_silu", {}, [-3.0, 3.0]),
        ("elu", {}, [0.0]),
        ("elu", {"alpha": 0.3}, [0.0]),
        ("selu", {}, [0.0]),
    ],
)
def test_derivative_at_kinks_follows_tensorflow(name, kwargs, points):
    x = np.array(points, dtype=np.float32)
    dy = np.ones_like(x)
    fn = getattr(activations, name)
    _, dx_keras = keras_forward_and_gradient(name, kwargs, x, dy)
    np.testing.assert_allclose(fn.backward(x, fn(x, **kwargs), dy, **kwargs), dx_keras, atol=1e-7)


@pytest.mark.parity
def test_softmax_along_axis_1_of_a_3d_input_matches_keras(rng):
    x = (rng.normal(size=(3, 5, 4)) * 4).astype(np.float32)
    dy = rng.normal(size=x.shape).astype(np.float32)
    y = activations.softmax(x, axis=1)
    dx = activations.softmax.backward(x, y, dy, axis=1)
    y_keras, dx_keras = keras_forward_and_gradient("softmax", {"axis": 1}, x, dy)
    np.testing.assert_allclose(y, y_keras, **FORWARD_TOL)
    np.testing.assert_allclose(dx, dx_keras, **BACKWARD_TOL)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-6)


def numerical_gradient(fn, x, dy, kwargs, step=1e-5):
    """Central differences of ``sum(fn(x) * dy)``, one element of ``x`` at a time.

    The two outputs are subtracted before the sum so that the unperturbed
    elements cancel exactly instead of adding round-off.
    """
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + step
        # copies, because linear returns x itself, which is about to change.
        plus = np.array(fn(x, **kwargs))
        x[index] = original - step
        minus = np.array(fn(x, **kwargs))
        x[index] = original
        grad[index] = np.sum((plus - minus) * dy) / (2 * step)
    return grad


def relative_error(actual, expected):
    """Largest element error, relative to the size of the gradient as a whole.

    Element-wise ratios are meaningless where the derivative crosses zero (gelu
    near -0.75, tanh far out), where both values are ~1e-8 and only round-off
    differs; scaling by the largest entry still flags any wrong element.
    """
    scale = max(np.max(np.abs(actual)), np.max(np.abs(expected)), 1e-12)
    return np.max(np.abs(actual - expected)) / scale


@pytest.mark.parametrize("name, kwargs", CASES, ids=CASE_IDS)
def test_backward_matches_central_differences_in_float64(name, kwargs, rng):
    x = rng.normal(size=(3, 4, 5)) * 2.5
    for kink in KINKS.get(name, lambda kw: [])(kwargs):
        # Move points that sit within 1e-3 of a kink to 1e-2 beside it.
        near = np.abs(x - kink) < 1e-3
        x[near] = kink + 1e-2
    dy = rng.normal(size=x.shape)
    fn = getattr(activations, name)
    y = fn(x, **kwargs)
    assert y.dtype == np.float64
    dx = fn.backward(x, y, dy, **kwargs)
    expected = numerical_gradient(fn, x.copy(), dy, kwargs)
    error = relative_error(dx, expected)
    assert error < 1e-6, f"{name}{kwargs}: relative error {error:.2e}, expected < 1e-6"


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_backward_along_axis_1_matches_central_differences(name, rng):
    x = rng.normal(size=(2, 4, 3)) * 2
    dy = rng.normal(size=x.shape)
    fn = getattr(activations, name)
    dx = fn.backward(x, fn(x, axis=1), dy, axis=1)
    expected = numerical_gradient(fn, x.copy(), dy, {"axis": 1})
    assert relative_error(dx, expected) < 1e-6


def test_large_inputs_give_finite_saturated_values():
    x = np.array([-1e4, -100.0, 100.0, 1e4], dtype=np.float32)
    # exp(-100) ~ 3.7e-44 survives as a float32 subnormal, hence the tiny atol.
    np.testing.assert_allclose(activations.sigmoid(x), [0.0, 0.0, 1.0, 1.0], rtol=0, atol=1e-40)
    np.testing.assert_allclose(activations.softplus(x), [0.0, 0.0, 100.0, 1e4], rtol=0, atol=1e-40)
    np.testing.assert_array_equal(activations.tanh(x), [-1.0, -1.0, 1.0, 1.0])
    assert np.all(np.isfinite(activations.silu(x)))
    assert np.all(np.isfinite(activations.elu(x)))
    assert np.all(np.isfinite(activations.gelu(x)))
    rows = activations.softmax(np.array([[1e4, 1e4 - 1.0, -1e4]], dtype=np.float32))
    np.testing.assert_allclose(rows, [[1 / (1 + math.exp(-1)), 1 / (1 + math.e), 0.0]], rtol=1e-6)


def test_exponential_overflows_to_inf_without_a_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = activations.exponential(np.array([100.0, 0.0], dtype=np.float32))
    assert np.isinf(y[0]) and y[1] == 1.0


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("name", sorted(set(name for name, _ in CASES)))
def test_float_dtype_is_kept(name, dtype, rng):
    x = rng.normal(size=(2, 3)).astype(dtype)
    fn = getattr(activations, name)
    y = fn(x)
    assert y.dtype == np.dtype(dtype)
    assert fn.backward(x, y, np.ones_like(x)).dtype == np.dtype(dtype)


def test_integer_input_is_cast_to_floatx():
    y = activations.relu([-2, 0, 3])
    assert y.dtype == np.dtype(backend.floatx())
    np.testing.assert_array_equal(y, [0.0, 0.0, 3.0])
    with backend.floatx_scope("float64"):
        assert activations.sigmoid([0, 1]).dtype == np.float64


def test_hard_sigmoid_uses_the_keras_3_slope():
    x = np.array([-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0])
    np.testing.assert_allclose(activations.hard_sigmoid(x), [0, 0, 0.25, 0.5, 0.75, 1, 1])


def test_keras_defaults_of_leaky_relu_and_gelu():
    x = np.array([-1.0, 1.0])
    np.testing.assert_allclose(activations.leaky_relu(x), [-0.2, 1.0])
    exact = 0.5 * math.erfc(1 / math.sqrt(2)) * -1.0
    assert activations.gelu(x)[0] == pytest.approx(exact, rel=1e-12)
    assert activations.gelu(x, approximate=True)[0] != pytest.approx(exact, rel=1e-6)


def test_relu_options_by_hand():
    x = np.array([-10.0, -5.0, 0.0, 5.0, 10.0])
    np.testing.assert_allclose(activations.relu(x, negative_slope=0.5), [-5, -2.5, 0, 5, 10])
    np.testing.assert_allclose(activations.relu(x, max_value=5.0), [0, 0, 0, 5, 5])
    np.testing.assert_allclose(activations.relu(x, threshold=5.0), [0, 0, 0, 0, 10])


def test_aliases_are_the_same_objects():
    assert activations.swish is activations.silu
    assert activations.get("swish") is activations.silu
    assert activations.get("hard_swish") is activations.hard_silu
    assert activations.serialize(activations.swish) == "silu"


@pytest.mark.parametrize("name", sorted(set(name for name, _ in CASES)))
def test_get_serialize_deserialize_round_trip(name):
    fn = activations.get(name)
    assert isinstance(fn, activations.ActivationFunction)
    assert activations.deserialize(activations.serialize(fn)) is fn
    assert activations.get(fn) is fn


def test_get_none_and_dicts():
    assert activations.get(None) is activations.linear
    assert activations.get({"class_name": "function", "config": "relu"}) is activations.relu
    assert activations.get({"class_name": "tanh", "config": {}}) is activations.tanh
    assert activations.deserialize({"class_name": "function", "config": "elu"}) is activations.elu


@pytest.mark.parity
def test_keras_serialized_names_are_understood():
    from tensorflow import keras

    for name in ["relu", "sigmoid", "softmax", "gelu", "hard_sigmoid", "leaky_relu", "silu"]:
        keras_name = keras.activations.serialize(keras.activations.get(name))
        assert activations.deserialize(keras_name) is activations.get(name)


@pytest.mark.parametrize("bad", ["rellu", "ReLU", "", 3, 2.5, [1], {"class_name": "nope"}])
def test_unknown_identifiers_raise_a_clear_value_error(bad):
    with pytest.raises(ValueError) as info:
        activations.get(bad)
    message = str(info.value)
    assert "activations.get" in message
    assert repr(bad) in message
    assert "'relu'" in message and "'softmax'" in message


def test_deserialize_unknown_name_names_itself():
    with pytest.raises(ValueError, match=r"activations\.deserialize.*'wobble'"):
        activations.deserialize("wobble")


def test_custom_callable_runs_forward_but_explains_missing_backward():
    def cube(x):
        return x**3

    fn = activations.get(cube)
    assert fn.name == "cube" and not fn.has_backward
    np.testing.assert_allclose(fn(np.array([2.0])), [8.0])
    with pytest.raises(TypeError) as info:
        fn.backward(np.ones(2), np.ones(2), np.ones(2))
    message = str(info.value)
    assert "cube" in message and "no derivative" in message
    assert "ActivationFunction(name, forward, backward)" in message


def test_custom_activation_with_backward_serializes_and_deserializes():
    cube = activations.ActivationFunction(
        "cube", lambda x: x**3, lambda x, y, dy: 3 * x**2 * dy
    )
    assert activations.get(cube) is cube
    name = activations.serialize(cube)
    restored = activations.deserialize(name, custom_objects={"cube": cube})
    np.testing.assert_allclose(restored.backward([2.0], [8.0], [1.0]), [12.0])
    with pytest.raises(ValueError, match="cube"):
        activations.deserialize(name)


def test_misspelled_keyword_is_refused():
    with pytest.raises(TypeError, match=r"relu.*\['max_val'\].*max_value"):
        activations.relu(np.ones(3), max_val=6)
    with pytest.raises(TypeError, match="sigmoid"):
        activations.sigmoid.backward(np.ones(2), np.ones(2), np.ones(2), axis=0)


def test_bad_option_values_raise():
    with pytest.raises(ValueError, match=r"relu: max_value must be >= 0.*max_value=-1"):
        activations.relu(np.ones(3), max_value=-1)
    with pytest.raises(TypeError, match=r"elu: alpha must be a real number.*'big'"):
        activations.elu(np.ones(3), alpha="big")
    with pytest.raises(TypeError, match="approximate must be a bool"):
        activations.gelu(np.ones(3), approximate="tanh")
    with pytest.raises(ValueError, match=r"softmax: axis 2 is out of range.*\(2, 3\)"):
        activations.softmax(np.ones((2, 3)), axis=2)
    with pytest.raises(TypeError, match="numeric"):
        activations.relu(np.array(["a", "b"]))


def test_backward_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match=r"tanh\.backward.*\(3,\).*\(2,\)"):
        activations.tanh.backward(np.ones(3), np.ones(3), np.ones(2))


def test_activation_function_constructor_checks_its_arguments():
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        activations.ActivationFunction("", lambda x: x)
    with pytest.raises(TypeError, match="forward must be callable"):
        activations.ActivationFunction("f", 3)
    with pytest.raises(TypeError, match="backward must be callable"):
        activations.ActivationFunction("f", lambda x: x, "no")


@settings(max_examples=60, deadline=None)
@given(
    data=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6),
        elements=st.floats(-1e4, 1e4, width=32),
    ),
    axis_seed=st.integers(0, 10),
)
def test_softmax_slices_sum_to_one_for_any_shape(data, axis_seed):
    axis = axis_seed % data.ndim - data.ndim * (axis_seed % 2)
    y = activations.softmax(data, axis=axis)
    assert y.shape == data.shape and y.dtype == data.dtype
    assert np.all(np.isfinite(y)) and np.all(y >= 0)
    np.testing.assert_allclose(y.sum(axis=axis), 1.0, atol=1e-5)
    # the softmax Jacobian has zero column sums, so a constant dy gives dx = 0.
    dx = activations.softmax.backward(data, y, np.ones_like(data), axis=axis)
    np.testing.assert_allclose(dx, 0.0, atol=1e-5)
