"""Softmax, ELU, PReLU and ThresholdedReLU: behaviour, gradients, masks, weights, errors.

Every backward is checked against central differences in float64 (relative
error < 1e-6, ``cl.testing.assert_gradients_close``): Softmax along one axis and
along several, with masks of every broadcastable shape; ELU for several
``alpha``; PReLU's input and ``alpha`` gradients for every kind of
``shared_axes``. Inputs are kept away from the kinks (0 for ELU and PReLU) so
the finite differences never straddle one; the kinks themselves are checked
against TensorFlow's convention directly. The tf.keras comparison lives in
``tests/parity/test_activation_layers_parity.py``.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import layers

GRADIENT_TOLERANCE = 1e-6


def _normal(shape, seed=0, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal(shape)


def _away_from_zero(shape, seed=0):
    x = 2 * _normal(shape, seed)
    close = np.abs(x) < 0.05
    x[close] = 0.1 * np.sign(x[close] + 1e-12)
    return x


def _softmax_reference(x, axes):
    e = np.exp(x - x.max(axis=axes, keepdims=True))
    return e / e.sum(axis=axes, keepdims=True)


# -------------------------------------------------------------------- Softmax
SOFTMAX_AXES = [
    ("last", -1, (-1,)),
    ("middle", 1, (1,)),
    ("first-after-batch-negative", -3, (1,)),
    ("one-element-list", [2], (2,)),
    ("tuple-of-two", (1, 2), (1, 2)),
    ("list-of-two-negative", [-1, -3], (1, 3)),
    ("three", (1, 2, 3), (1, 2, 3)),
]


@pytest.mark.parametrize("axis, axes", [c[1:] for c in SOFTMAX_AXES], ids=[c[0] for c in SOFTMAX_AXES])
def test_softmax_forward_and_gradient_check_for_every_axis_form(axis, axes):
    x = _normal((2, 3, 4, 5), scale=2.0)
    with cl.backend.floatx_scope("float64"):
        layer = layers.Softmax(axis=axis)
        y = layer(x)
        np.testing.assert_allclose(y, _softmax_reference(x, axes), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(y.sum(axis=axes), 1.0, rtol=1e-12)
        report = cl.testing.assert_gradients_close(layer, x, tolerance=GRADIENT_TOLERANCE)
        assert report.max_error < GRADIENT_TOLERANCE


def test_softmax_on_one_axis_is_the_activation_itself():
    x = _normal((4, 6), 1, 3.0).astype("float32")
    layer = layers.Softmax(axis=0)
    y = layer(x)
    np.testing.assert_array_equal(y, cl.activations.softmax(x, axis=0))
    dy = _normal(x.shape, 2).astype("float32")
    np.testing.assert_array_equal(layer.backward(dy), cl.activations.softmax.backward(x, y, dy, axis=0))
    assert y.dtype == np.float32 and layer.backward(dy).dtype == np.float32


MASK_SHAPES = [
    ("full", (3, 4, 5)),
    ("per-key", (3, 1, 5)),
    ("per-query", (3, 4, 1)),
    ("no-batch-axis", (4, 5)),
    ("last-axis-only", (5,)),
]


@pytest.mark.parametrize("mask_shape", [c[1] for c in MASK_SHAPES], ids=[c[0] for c in MASK_SHAPES])
@pytest.mark.parametrize("axis", [-1, 1, (1, 2)], ids=["last", "middle", "two-axes"])
def test_masked_softmax_zeroes_the_masked_outputs_and_passes_the_gradient_check(mask_shape, axis):
    x = _normal((3, 4, 5), 3)  # moderate logits: no gradient entry small enough to drown in rounding
    mask = np.random.default_rng(4).random(mask_shape) > 0.35
    with cl.backend.floatx_scope("float64"):
        layer = layers.Softmax(axis=axis)
        y = layer(x, mask=mask)
        full = np.broadcast_to(mask, x.shape)
        axes = axis if isinstance(axis, tuple) else (axis,)
        expected = np.where(full, _softmax_reference(np.where(full, x, -1e9), axes), 0.0)
        np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-15)
        assert np.all(y[~full] == 0)
        dy = _normal(x.shape, 5)
        dx = layer.backward(dy)
        assert np.all(dx[~full] == 0)  # a masked logit does not reach the output
        # The checker calls layer(x) without a mask: wrap the masked call as a layer of its own.
        report = cl.testing.assert_gradients_close(_MaskedCall(layer, mask), x, tolerance=GRADIENT_TOLERANCE)
        assert report.max_error < GRADIENT_TOLERANCE


class _MaskedCall(layers.Layer):
    """``softmax(x, mask=mask)`` with a fixed mask, for the gradient checker (which passes no mask)."""

    def __init__(self, softmax, mask):
        super().__init__(dtype="float64")
        self.softmax, self.mask = softmax, mask

    def forward(self, inputs, training=False):
        return self.softmax.forward(inputs, training=training, mask=self.mask)

    def backward(self, output_grads, cache):
        return self.softmax.backward(output_grads, cache)


def test_a_fully_masked_slice_gives_zeros_not_a_uniform_distribution():
    x = _normal((2, 4), 6).astype("float32")
    mask = np.array([[True, False, True, False], [False] * 4])
    layer = layers.Softmax()
    y = layer(x, mask=mask)
    np.testing.assert_array_equal(y[1], 0.0)
    np.testing.assert_allclose(y[0].sum(), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(layer.backward(np.ones_like(y))[1], 0.0)


def test_softmax_reads_float_masks_as_above_one_half_and_integer_masks_as_above_zero():
    x = _normal((1, 4), 7).astype("float32")
    layer = layers.Softmax()
    as_bool = layer(x, mask=np.array([[True, True, False, False]]))
    np.testing.assert_array_equal(layer(x, mask=np.array([[1.0, 0.7, 0.5, 0.3]], "float32")), as_bool)
    np.testing.assert_array_equal(layer(x, mask=np.array([[1, 2, 0, 0]])), as_bool)
    # forward itself (what a model's graph calls) reads them the same way.
    np.testing.assert_array_equal(layer.forward(x, mask=np.array([[0.9, 0.6, 0.4, 0.0]]))[0], as_bool)


def test_masked_softmax_in_float16_uses_keras_smaller_negative_number():
    x = _normal((2, 5), 8).astype("float16")
    mask = np.array([[True, True, False, True, False]] * 2)
    layer = layers.Softmax(dtype="float16")
    y = layer(x, mask=mask)
    assert y.dtype == np.float16 and np.all(np.isfinite(y))
    np.testing.assert_allclose(y, np.where(mask, _softmax_reference(np.where(mask, x, -3e4).astype("float32"), -1), 0),
                               rtol=2e-3, atol=1e-3)
    assert layers.activation_layers._large_negative_number("float16") == -3e4
    assert layers.activation_layers._large_negative_number("float32") == -1e9


def test_softmax_passes_a_mask_on_and_accepts_it_only_in_call():
    layer = layers.Softmax()
    mask = np.array([[True, False]])
    assert layer.supports_masking and layer.uses_mask
    assert layer.compute_mask(np.zeros((1, 2)), mask) is mask


@pytest.mark.parametrize("mask_shape", [(2, 3, 4, 5), (2, 5), (2, 1, 4)], ids=["higher-rank", "wrong-size", "too-big"])
def test_softmax_refuses_a_mask_that_does_not_broadcast(mask_shape):
    x = np.zeros((2, 3, 5), "float32")
    with pytest.raises(ValueError, match=r"Softmax 'softmax.*': the mask must be broadcastable"
                                         r".*Received: scores.shape=\(2, 3, 5\), mask.shape="):
        layers.Softmax()(x, mask=np.ones(mask_shape, bool))


@pytest.mark.parametrize("axis", ["-1", 1.0, True, [], (1, "2"), None], ids=str)
def test_softmax_refuses_an_axis_that_is_not_ints(axis):
    with pytest.raises(TypeError, match=r"Softmax: axis must be an int or a non-empty list/tuple of ints. Received"):
        layers.Softmax(axis=axis)


@pytest.mark.parametrize("axis, text", [(3, "out of range"), ((1, -4), "out of range"), ((1, -2), "must not repeat")])
def test_softmax_refuses_an_axis_the_input_lacks_at_call(axis, text):
    with pytest.raises(ValueError, match=rf"Softmax '.*': axis .*{text}"):
        layers.Softmax(axis=axis)(np.zeros((2, 3, 4), "float32"))


def test_softmax_config_keeps_the_axis_as_given_and_round_trips():
    for axis in (-1, 2, (1, 2), [1, 2]):
        layer = layers.Softmax(axis=axis, name="sm")
        config = layer.get_config()
        assert config["axis"] == axis and type(config["axis"]) is type(axis)
        rebuilt = layers.deserialize(layers.serialize(layer))
        assert type(rebuilt) is layers.Softmax and rebuilt.get_config() == config
    assert layers.Softmax().name.startswith("softmax")
    cl.testing.layer_test(layers.Softmax, {"axis": (1, 2)}, input_shape=(2, 3, 4), expected_num_weights=0)


# ------------------------------------------------------------------------ ELU
@pytest.mark.parametrize("alpha", [1.0, 0.5, 2, 0.0], ids=["default", "half", "two-int", "zero"])
def test_elu_forward_follows_the_formula_and_passes_the_gradient_check(alpha):
    x = _away_from_zero((4, 6), 9)
    with cl.backend.floatx_scope("float64"):
        layer = layers.ELU(alpha=alpha)
        np.testing.assert_allclose(layer(x), np.where(x > 0, x, alpha * np.expm1(x)), rtol=1e-12)
        report = cl.testing.assert_gradients_close(layer, x, tolerance=GRADIENT_TOLERANCE)
        assert report.max_error < GRADIENT_TOLERANCE


def test_elu_uses_the_elu_activation_itself_kinks_included():
    x = np.array([-30.0, -1.0, -0.0, 0.0, 1e-3, 2.0, 100.0], "float32")
    layer = layers.ELU(alpha=0.7)
    y = layer(x)
    dy = _normal(x.shape, 10).astype("float32")
    np.testing.assert_array_equal(y, cl.activations.elu(x, alpha=0.7))
    np.testing.assert_array_equal(layer.backward(dy), cl.activations.elu.backward(x, y, dy, alpha=0.7))
    assert layer.backward(dy)[3] == np.float32(0.7) * dy[3]  # TensorFlow's slope at 0: alpha
    assert y.dtype == np.float32


@pytest.mark.parametrize("alpha", ["1", None, True], ids=str)
def test_elu_refuses_an_alpha_that_is_not_a_number(alpha):
    with pytest.raises(TypeError, match=r"ELU: alpha must be a real number. Received: alpha="):
        layers.ELU(alpha=alpha)


def test_elu_config_keeps_alpha_as_given_and_round_trips():
    layer = layers.ELU(alpha=2, name="e")
    config = layer.get_config()
    assert config["alpha"] == 2 and type(config["alpha"]) is int
    assert layers.deserialize(layers.serialize(layer)).get_config() == config
    assert layers.ELU().get_config()["alpha"] == 1.0
    cl.testing.layer_test(layers.ELU, {"alpha": 0.3}, input_shape=(3, 4), expected_num_weights=0)


# ---------------------------------------------------------------------- PReLU
PRELU_SHAPES = [
    ("not-shared", None, (3, 4, 5), (4, 5)),
    ("int", 1, (3, 4, 5), (1, 5)),
    ("list", [1], (3, 4, 5), (1, 5)),
    ("spatial", [1, 2], (2, 3, 4, 5), (1, 1, 5)),
    ("channels-first-spatial", (2, 3), (2, 5, 3, 4), (5, 1, 1)),
    ("all", [1, 2, 3], (2, 3, 4, 5), (1, 1, 1)),
    ("keras-negative-index", [-1], (3, 4, 5), (1, 5)),  # Keras sets shape[-1 - 1]: the second-to-last
    ("empty", [], (3, 4, 5), (4, 5)),
]


@pytest.mark.parametrize("shared_axes, input_shape, alpha_shape", [c[1:] for c in PRELU_SHAPES],
                         ids=[c[0] for c in PRELU_SHAPES])
def test_prelu_alpha_shape_and_input_and_alpha_gradients(shared_axes, input_shape, alpha_shape):
    x = _away_from_zero(input_shape, 11)
    with cl.backend.floatx_scope("float64"):
        layer = layers.PReLU(alpha_initializer=cl.initializers.RandomUniform(0.05, 0.6, seed=1),
                             shared_axes=shared_axes)
        y = layer(x)
        alpha = layer.alpha.numpy()
        assert alpha.shape == alpha_shape and layer.weights[0].name == "alpha"
        assert [w.name for w in layer.trainable_weights] == ["alpha"]
        np.testing.assert_allclose(y, np.where(x >= 0, x, alpha * x), rtol=1e-12)
        report = cl.testing.assert_gradients_close(layer, x, tolerance=GRADIENT_TOLERANCE)
        assert set(report.entries) == {"input", "alpha"} and report.max_error < GRADIENT_TOLERANCE


def test_prelu_starts_as_relu_and_passes_no_gradient_at_zero():
    x = np.array([[-2.0, -0.0, 0.0, 3.0]], "float32")
    layer = layers.PReLU()
    np.testing.assert_array_equal(layer(x), np.maximum(x, 0))  # alpha_initializer "Zeros"
    layer.set_weights([np.full((4,), 0.25, "float32")])
    y = layer(x)
    np.testing.assert_array_equal(y, [[-0.5, 0.0, 0.0, 3.0]])
    dx = layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(dx, [[0.25, 0.0, 0.0, 1.0]])  # TensorFlow: relu's slope 0 at 0, both sides
    np.testing.assert_array_equal(layer.grads["alpha"], [-2.0, 0.0, 0.0, 0.0])
    assert y.dtype == dx.dtype == layer.grads["alpha"].dtype == np.float32


def test_prelu_input_spec_is_keras_rank_and_not_shared_sizes():
    shared = layers.PReLU(shared_axes=[1])
    shared(np.zeros((2, 3, 4), "float32"))
    assert shared.input_spec.ndim == 3 and shared.input_spec.axes == {2: 4}
    shared(np.zeros((5, 7, 4), "float32"))  # the shared axis may change size
    with pytest.raises(ValueError, match=r"expected axis 2 of input shape to have value 4"):
        shared(np.zeros((2, 3, 5), "float32"))
    with pytest.raises(ValueError, match=r"expected ndim=3, found ndim=2"):
        shared(np.zeros((2, 4), "float32"))
    plain = layers.PReLU()
    plain(np.zeros((2, 3), "float32"))
    assert plain.input_spec.ndim == 2 and plain.input_spec.axes == {}  # Keras fixes no size without sharing


def test_prelu_builds_from_a_symbolic_input_with_an_unknown_shared_axis():
    inputs = cl.Input((None, 4))
    outputs = layers.PReLU(shared_axes=1)(inputs)
    model = cl.Model(inputs, outputs)
    assert model.layers[1].alpha.shape == (1, 4)
    assert model.predict(np.ones((2, 6, 4), "float32"), verbose=0).shape == (2, 6, 4)
    with pytest.raises(ValueError, match=r"PReLU 'p_re_lu.*': every axis not in shared_axes must have a known size"):
        layers.PReLU()(cl.Input((None, 4)))


@pytest.mark.parametrize("shared_axes", [[3], [-3], [1, 4]], ids=str)
def test_prelu_refuses_a_shared_axis_the_input_lacks(shared_axes):
    with pytest.raises(ValueError, match=r"PReLU 'p_re_lu.*': shared axis -?\d is out of range for inputs of shape"):
        layers.PReLU(shared_axes=shared_axes)(np.zeros((2, 3, 4), "float32"))


@pytest.mark.parametrize("kwargs, error, text", [
    ({"shared_axes": "1"}, TypeError, r"PReLU: shared_axes must be None, an int or a list/tuple of ints"),
    ({"shared_axes": [1, 2.0]}, TypeError, r"PReLU: shared_axes must be None, an int or a list/tuple of ints"),
    ({"shared_axes": True}, TypeError, r"PReLU: shared_axes must be None, an int or a list/tuple of ints"),
    ({"alpha_initializer": "no_such_initializer"}, ValueError, r"no_such_initializer"),
    ({"alpha_regularizer": "no_such_regularizer"}, ValueError, r"no_such_regularizer"),
    ({"alpha_constraint": "no_such_constraint"}, ValueError, r"no_such_constraint"),
    ({"alpha": 0.3}, TypeError, r"PReLU: unrecognized keyword arguments: \['alpha'\]"),
])
def test_prelu_refuses_bad_arguments(kwargs, error, text):
    with pytest.raises(error, match=text):
        layers.PReLU(**kwargs)


def test_prelu_config_and_serialization_round_trip():
    layer = layers.PReLU(alpha_initializer="ones", alpha_regularizer=cl.regularizers.L2(0.05),
                         alpha_constraint="non_neg", shared_axes=(1, 2), name="pr")
    config = layer.get_config()
    assert config["shared_axes"] == [1, 2]
    assert config["alpha_initializer"]["class_name"] == "Ones"
    assert config["alpha_regularizer"] == {"module": "keras.regularizers", "class_name": "L2",
                                           "config": {"l2": 0.05}, "registered_name": None}
    assert config["alpha_constraint"]["class_name"] == "NonNeg"
    assert layers.deserialize(layers.serialize(layer)).get_config() == config
    assert layers.PReLU().name.startswith("p_re_lu")  # Keras's automatic name
    cl.testing.layer_test(layers.PReLU, {"shared_axes": [1]}, input_shape=(2, 3, 4), expected_num_weights=1,
                          expected_num_params=4)


def test_prelu_alpha_regularizer_joins_the_losses_and_the_training_loss():
    x = _normal((8, 3), 12).astype("float32")
    y = _normal((8, 3), 13).astype("float32")
    layer = layers.PReLU(alpha_initializer=cl.initializers.Constant(0.5), alpha_regularizer=cl.regularizers.L2(0.1))
    model = cl.Sequential([cl.Input((3,)), layer])
    (penalty,) = model.losses
    np.testing.assert_allclose(penalty, 0.1 * 3 * 0.25, rtol=1e-6)
    model.compile(optimizer=cl.optimizers.SGD(0.1), loss="mse")
    outputs = np.where(x >= 0, x, 0.5 * x)
    loss = model.train_on_batch(x, y)
    np.testing.assert_allclose(loss, np.mean((outputs - y) ** 2) + 0.1 * 3 * 0.25, rtol=1e-5)
    # The step used the penalty's gradient too: d/dalpha of mse + 0.1 * sum(alpha^2).
    dalpha = (2 * (outputs - y) / y.size * np.minimum(x, 0)).sum(axis=0) + 2 * 0.1 * 0.5
    np.testing.assert_allclose(layer.alpha.numpy(), 0.5 - 0.1 * dalpha, rtol=1e-5, atol=1e-7)


def test_prelu_alpha_constraint_projects_after_each_optimizer_step():
    x = -np.abs(_normal((16, 4), 14)).astype("float32") - 0.1
    y = np.full((16, 4), 3.0, "float32")  # alpha * x should be 3 for x < 0: the step pushes alpha negative
    layer = layers.PReLU(alpha_initializer=cl.initializers.Constant(0.05), alpha_constraint="non_neg")
    model = cl.Sequential([cl.Input((4,)), layer])
    model.compile(optimizer=cl.optimizers.SGD(0.5), loss="mse")
    unconstrained = layers.PReLU(alpha_initializer=cl.initializers.Constant(0.05))
    free = cl.Sequential([cl.Input((4,)), unconstrained])
    free.compile(optimizer=cl.optimizers.SGD(0.5), loss="mse")
    model.train_on_batch(x, y)
    free.train_on_batch(x, y)
    assert np.all(unconstrained.alpha.numpy() < 0)  # the step itself went below zero
    np.testing.assert_array_equal(layer.alpha.numpy(), np.maximum(unconstrained.alpha.numpy(), 0))
    assert layer.alpha.constraint is not None and layer.alpha.regularizer is None


# ------------------------------------------------------------- strict backend
def test_strict_backend_gives_numpy_numbers():
    """Under the strict stand-in for CuPy (no host arrays in device work) the three layers give NumPy's numbers."""
    x, dy = _with_zeros((3, 4, 5), 15), _normal((3, 4, 5), 16)
    mask = np.random.default_rng(17).random((3, 1, 5)) > 0.3
    results = []
    for name in ("numpy", "strict"):
        cl.backend.clear_session()
        with cl.backend.backend_scope(name), cl.backend.floatx_scope("float64"):
            xp = cl.backend.xp
            built = [layers.Softmax(), layers.Softmax(axis=(1, 2)), layers.ELU(alpha=0.5),
                     layers.PReLU(alpha_initializer=cl.initializers.Constant(0.2)),
                     layers.PReLU(alpha_initializer=cl.initializers.Constant(0.3), shared_axes=[1])]
            outputs = []
            for layer in built:
                outputs += [layer(xp.asarray(x)), layer.backward(xp.asarray(dy))] + list(layer.grads.values())
            for layer in built[:2]:
                outputs += [layer(xp.asarray(x), mask=xp.asarray(mask)), layer.backward(xp.asarray(dy))]
            results.append([cl.backend.to_numpy(value) for value in outputs])
    for numpy_value, strict_value in zip(*results, strict=True):
        np.testing.assert_array_equal(numpy_value, strict_value)


def _with_zeros(shape, seed):
    x = 2 * _normal(shape, seed)
    x.reshape(-1)[::7] = 0.0
    return x


# ------------------------------------------------------------ ThresholdedReLU
@pytest.mark.parametrize("theta", [1.0, 0.3, 0], ids=["default", "0.3", "zero-int"])
def test_thresholded_relu_follows_the_formula_and_passes_the_gradient_check(theta):
    x = _away_from_zero((4, 6), 11) + theta  # away from the cut at theta
    with cl.backend.floatx_scope("float64"):
        layer = layers.ThresholdedReLU(theta=theta)
        np.testing.assert_array_equal(layer(x), np.where(x > theta, x, 0))
        report = cl.testing.assert_gradients_close(layer, x, tolerance=GRADIENT_TOLERANCE)
        assert report.max_error < GRADIENT_TOLERANCE
    cl.testing.layer_test(layers.ThresholdedReLU, {"theta": theta}, input_shape=(2, 3, 4), expected_num_weights=0)


def test_thresholded_relu_keeps_theta_in_its_dtype_and_passes_a_mask_through():
    assert layers.ThresholdedReLU(theta=0.1).get_config()["theta"] == float(np.float32(0.1))
    assert layers.ThresholdedReLU(theta=0.1, dtype="float64").get_config()["theta"] == 0.1
    assert layers.ThresholdedReLU().supports_masking
