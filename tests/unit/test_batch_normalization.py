"""BatchNormalization: gradient checks, Keras's update rule, modes, the Layer contract, bad input.

Every configuration is checked against central differences in float64
(relative error < 1e-6 on the input and on gamma/beta, through
``cl.testing.assert_gradients_close``), in training mode (the full gradient,
through the batch mean and variance) and in inference mode (the affine one),
with the checker's random upstream gradient and with one of our own. The
tf.keras comparison lives in ``tests/parity/test_batch_normalization_parity.py``.
"""
import re

import numpy as np
import pytest

import course_lib as cl
from course_lib import layers

GRADIENT_TOLERANCE = 1e-6
# The finite-difference step. The objective sum(y * dy) adds ~100 products of size ~5, so its float64
# rounding divided by 2 * step swamps the smallest gradient entries at the default step 1e-6: one
# dgamma entry of 1.5e-3 measured a relative error of 1.4e-6 there, 2.7e-7 at 1e-5 and 3.6e-9 at 1e-4.
# At 1e-4 the worst entry over every case below measured 1.3e-8 (the truncation error stays tiny: the
# layer is smooth), a wide margin under the tolerance.
STEP = 1e-4

# (id, constructor arguments, input shape): after Dense, channels_last, channels_first, lists of axes.
CASES = [
    ("dense-2d", {}, (6, 4)),
    ("channels_last-4d", {}, (3, 4, 5, 2)),
    ("channels_first-4d", {"axis": 1}, (3, 2, 4, 5)),
    ("sequence-3d-axis1", {"axis": 1}, (4, 3, 5)),
    ("no-center", {"center": False}, (6, 4)),
    ("no-scale", {"scale": False, "axis": 1}, (3, 2, 4, 5)),
    ("neither", {"center": False, "scale": False}, (5, 3)),
    ("axis-list", {"axis": [1, 2]}, (4, 3, 2, 5)),
    ("axis-list-negative", {"axis": [-1, 1]}, (4, 3, 2, 5)),
    ("momentum-epsilon", {"momentum": 0.5, "epsilon": 0.1}, (6, 4)),
]


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _random_weights(layer, seed=1):
    """Random gamma/beta/moving_mean, and a positive moving_variance far from 1."""
    generator = np.random.default_rng(seed)
    values = [generator.standard_normal(w.shape) for w in layer.weights]
    for index, name in enumerate(layer.weight_names):
        if name == "moving_variance":
            values[index] = np.abs(values[index]) + 0.5
    layer.set_weights(values)
    return values


def _built(kwargs, shape, seed=1):
    layer = layers.BatchNormalization(**kwargs)
    layer.build(shape)
    _random_weights(layer, seed)
    return layer


def _reference(x, weights, kwargs, training):
    """Batch normalization written out in NumPy for one feature axis set: (y, mean, variance)."""
    axis = kwargs.get("axis", -1)
    features = sorted(a % x.ndim for a in (axis if isinstance(axis, list) else [axis]))
    reduced = tuple(i for i in range(x.ndim) if i not in features)
    shape = [x.shape[i] if i in features else 1 for i in range(x.ndim)]
    weights = list(weights)
    gamma = weights.pop(0).reshape(shape) if kwargs.get("scale", True) else 1.0
    beta = weights.pop(0).reshape(shape) if kwargs.get("center", True) else 0.0
    moving_mean, moving_variance = (w.reshape(shape) for w in weights)
    if training:
        mean = x.mean(axis=reduced, keepdims=True)
        variance = ((x - mean) ** 2).mean(axis=reduced, keepdims=True)
    else:
        mean, variance = moving_mean, moving_variance
    y = gamma * (x - mean) / np.sqrt(variance + kwargs.get("epsilon", 1e-3)) + beta
    return y, mean, variance


# ------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("case, kwargs, shape", CASES, ids=[c[0] for c in CASES])
def test_gradients_match_central_differences(case, kwargs, shape, training):
    with cl.backend.floatx_scope("float64"):
        layer = _built(kwargs, shape)
        x = 2 * _normal(shape, seed=2) + 0.5
        # The checker's own random upstream gradient (never all ones: that one hides the mean terms).
        report = cl.testing.assert_gradients_close(layer, x, training=training, tolerance=GRADIENT_TOLERANCE,
                                                   epsilon=STEP)
        expected = {"input"} | ({"gamma"} if kwargs.get("scale", True) else set()) | (
            {"beta"} if kwargs.get("center", True) else set())
        assert set(report.entries) == expected
        # And one of ours, with a nonzero mean per feature and large entries.
        upstream = 3 * _normal(shape, seed=3) + 1.0
        report = cl.testing.assert_gradients_close(
            layer, x, upstream=upstream, training=training, tolerance=GRADIENT_TOLERANCE, seed=4, epsilon=STEP
        )
    assert report.max_error < GRADIENT_TOLERANCE


def test_training_gradient_goes_through_the_batch_statistics():
    """The training dx is not the affine one: it sums to zero over each feature's values."""
    with cl.backend.floatx_scope("float64"):
        layer = _built({}, (8, 3))
        x, dy = _normal((8, 3), seed=5), _normal((8, 3), seed=6)
        layer(x, training=True)
        dx_training = layer.backward(dy)
        layer(x, training=False)
        dx_inference = layer.backward(dy)
    np.testing.assert_allclose(dx_training.sum(axis=0), 0, atol=1e-12)
    gamma, variance = layer.gamma.numpy(), layer.moving_variance.numpy()
    np.testing.assert_allclose(dx_inference, dy * gamma / np.sqrt(variance + 1e-3), rtol=1e-12)
    assert not np.allclose(dx_training, dx_inference)


def test_gradient_check_of_a_model_with_batch_normalization_in_training_mode():
    with cl.backend.floatx_scope("float64"):
        model = cl.Sequential([cl.Input((5,)), layers.Dense(4, activation="tanh"),
                               layers.BatchNormalization(), layers.Dense(2)])
        cl.testing.assert_gradients_close(model, _normal((7, 5), seed=8), training=True,
                                          tolerance=GRADIENT_TOLERANCE, epsilon=STEP)


# --------------------------------------------------------------- the numbers
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("case, kwargs, shape", CASES, ids=[c[0] for c in CASES])
def test_forward_equals_the_formula(case, kwargs, shape, training):
    with cl.backend.floatx_scope("float64"):
        layer = _built(kwargs, shape)
        weights = layer.get_weights()
        x = 2 * _normal(shape, seed=2) + 0.5
        y = layer(x, training=training)
    expected, _, _ = _reference(x, weights, kwargs, training)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_training_uses_the_biased_batch_variance():
    """Two samples 0 and 2: mean 1, biased variance 1 (the unbiased one would be 2)."""
    layer = layers.BatchNormalization(epsilon=0.0, momentum=0.0)
    y = layer(np.array([[0.0], [2.0]], dtype="float32"), training=True)
    np.testing.assert_array_equal(y, [[-1.0], [1.0]])
    np.testing.assert_array_equal(layer.moving_mean.numpy(), [1.0])
    np.testing.assert_array_equal(layer.moving_variance.numpy(), [1.0])


def test_moving_statistics_follow_keras_update_rule_in_float32():
    """``moving * momentum + batch * (1 - momentum)``, each factor a float32, in this order, bit for bit."""
    layer = layers.BatchNormalization(momentum=0.9)
    generator = np.random.default_rng(0)
    moving_mean, moving_variance = np.zeros(3, "float32"), np.ones(3, "float32")
    momentum, rest = np.float32(0.9), np.float32(1.0 - 0.9)
    for step in range(4):
        x = (3 * generator.standard_normal((10, 3)) + step).astype("float32")
        layer(x, training=True)
        mean = x.mean(axis=0, keepdims=True, dtype="float32")
        variance = np.square(x - mean).mean(axis=0, dtype="float32")
        moving_mean = moving_mean * momentum + mean[0] * rest
        moving_variance = moving_variance * momentum + variance * rest
        np.testing.assert_allclose(layer.moving_mean.numpy(), moving_mean, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(layer.moving_variance.numpy(), moving_variance, rtol=1e-6)
    assert layer.moving_mean.dtype == layer.moving_variance.dtype == np.float32


def test_inference_neither_uses_nor_updates_the_batch_statistics():
    layer = _built({}, (6, 4))
    before = layer.get_weights()
    x = (5 * _normal((6, 4)) + 3).astype("float32")
    y = layer(x)  # training defaults to False
    for was, now in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(was, now)
    expected, _, _ = _reference(x, before, {}, training=False)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_moving_statistics_are_updated_in_place():
    """Optimizers, savers and attributes hold the Variables (and their arrays): they must see the update."""
    layer = layers.BatchNormalization()
    layer.build((5, 3))
    variable, array = layer.moving_mean, layer.moving_mean.value
    assert layer.weights[2] is variable
    layer((_normal((5, 3)) + 4).astype("float32"), training=True)
    assert layer.moving_mean is variable and layer.moving_mean.value is array
    assert np.all(array > 0)


def test_a_frozen_layer_runs_in_inference_mode_even_when_training():
    """Keras 3: ``trainable=False`` means inference mode, no update, and the affine backward."""
    with cl.backend.floatx_scope("float64"):
        frozen = _built({"trainable": False}, (6, 4))
        live = _built({}, (6, 4))  # same seed: the same weights
    before = frozen.get_weights()
    x, dy = 3 * _normal((6, 4)) + 1, _normal((6, 4), seed=9)
    y = frozen(x, training=True)
    np.testing.assert_array_equal(y, live(x, training=False))
    for was, now in zip(before, frozen.get_weights()):
        np.testing.assert_array_equal(was, now)
    np.testing.assert_array_equal(frozen.backward(dy), live.backward(dy))
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 4
    with cl.backend.floatx_scope("float64"):
        cl.testing.assert_gradients_close(frozen, x, training=True, tolerance=GRADIENT_TOLERANCE,
                                          epsilon=STEP)
    # Unfreezing brings batch statistics back.
    frozen.trainable = True
    assert not np.allclose(frozen(x, training=True), y)


def test_fit_updates_the_moving_statistics_and_predict_does_not():
    """The engine calls forward with training=True in fit, False in evaluate and predict."""
    model = cl.Sequential([cl.Input((3,)), layers.BatchNormalization(momentum=0.5), layers.Dense(1)])
    x = (4 * _normal((32, 3)) + 2).astype("float32")
    y = _normal((32, 1), seed=1).astype("float32")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    bn = model.layers[0]
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.5 * x.mean(axis=0), rtol=1e-5)
    after_fit = bn.get_weights()
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    for was, now in zip(after_fit, bn.get_weights()):
        np.testing.assert_array_equal(was, now)
    # A frozen model (model.trainable = False reaches its layers) keeps its statistics through fit.
    model.trainable = False
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    for was, now in zip(after_fit, bn.get_weights()):
        np.testing.assert_array_equal(was, now)


def test_float16_is_computed_in_float32_and_stored_in_float16():
    layer = layers.BatchNormalization(dtype="float16")
    x = (_normal((8, 3)) * 200).astype("float16")  # squares overflow float16 (max 65504)
    y = layer(x, training=True)
    assert y.dtype == np.float16 and layer.moving_variance.dtype == np.float16
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(layer.moving_variance.numpy()))
    initial = [np.ones(3), np.zeros(3), np.zeros(3), np.ones(3)]
    expected, _, _ = _reference(x.astype("float32"), initial, {}, training=True)
    np.testing.assert_allclose(y, expected, rtol=2e-3, atol=2e-3)
    dx = layer.backward(np.ones_like(y))
    assert dx.dtype == np.float16 and layer.grads["gamma"].dtype == np.float16


def test_strict_backend_gives_numpy_numbers():
    """One forward and backward under the strict stand-in for CuPy, in both modes, equal to NumPy's."""
    x, dy = 2 * _normal((4, 3, 5, 2)) + 1, _normal((4, 3, 5, 2), seed=1)
    results = []
    for name in ("numpy", "strict"):
        cl.backend.clear_session()
        with cl.backend.backend_scope(name), cl.backend.floatx_scope("float64"):
            xp = cl.backend.xp
            layer = layers.BatchNormalization(axis=1, momentum=0.8)
            layer.build(x.shape)
            _random_weights(layer)  # set_weights moves the host arrays to the array module
            outputs = []
            for training in (True, False):
                y = layer(xp.asarray(x), training=training)
                dx = layer.backward(xp.asarray(dy))
                outputs += [y, dx, layer.grads["gamma"], layer.grads["beta"]]
            outputs += [w.value for w in layer.weights]
            results.append([cl.backend.to_numpy(value) for value in outputs])
    for numpy_value, strict_value in zip(*results):
        np.testing.assert_array_equal(numpy_value, strict_value)


# ------------------------------------------------------------- the contract
@pytest.mark.parametrize("case, kwargs, shape", CASES, ids=[c[0] for c in CASES])
def test_layer_contract(case, kwargs, shape):
    features = int(np.prod([shape[a] for a in
                            (kwargs.get("axis", -1) if isinstance(kwargs.get("axis", -1), list)
                             else [kwargs.get("axis", -1)])]))
    trainable = int(kwargs.get("scale", True)) + int(kwargs.get("center", True))
    layer = cl.testing.layer_test(
        layers.BatchNormalization, kwargs=kwargs, input_shape=shape, expected_output_shape=shape,
        expected_num_weights=trainable + 2, expected_num_params=(trainable + 2) * features,
    )
    assert layer.weight_names == (["gamma"] if kwargs.get("scale", True) else []) + (
        ["beta"] if kwargs.get("center", True) else []) + ["moving_mean", "moving_variance"]
    assert [w.trainable for w in layer.weights] == [True] * trainable + [False, False]


def test_weights_shapes_and_paths():
    layer = layers.BatchNormalization(axis=[1, 2], name="bn")
    layer.build((None, 3, 4, 5))
    assert [w.path for w in layer.weights] == ["bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance"]
    assert {w.shape for w in layer.weights} == {(3, 4)}
    np.testing.assert_array_equal(layer.moving_variance.numpy(), np.ones((3, 4)))


def test_initializers_are_used():
    layer = layers.BatchNormalization(gamma_initializer="zeros", beta_initializer="ones",
                                      moving_mean_initializer=cl.initializers.Constant(2.0),
                                      moving_variance_initializer="zeros")
    layer.build((2, 3))
    np.testing.assert_array_equal(np.stack(layer.get_weights()), [[0] * 3, [1] * 3, [2] * 3, [0] * 3])


def test_config_round_trip_and_deserialize():
    layer = layers.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False, name="bn",
                                      gamma_initializer="random_normal")
    config = layer.get_config()
    assert {key: config[key] for key in ("axis", "momentum", "epsilon", "center", "scale", "synchronized",
                                         "renorm", "renorm_clipping", "renorm_momentum",
                                         "beta_regularizer", "gamma_constraint")} == {
        "axis": 1, "momentum": 0.9, "epsilon": 1e-5, "center": False, "scale": True, "synchronized": False,
        "renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99,
        "beta_regularizer": None, "gamma_constraint": None,
    }
    clone = layers.BatchNormalization.from_config(config)
    assert clone.get_config() == config
    rebuilt = layers.deserialize({"class_name": "BatchNormalization", "config": config,
                                  "build_config": {"input_shape": [None, 3, 4]}})
    assert isinstance(rebuilt, layers.BatchNormalization) and rebuilt.built
    assert rebuilt.moving_mean.shape == (3,)
    assert layers.BatchNormalization(axis=(1, 2)).get_config()["axis"] == [1, 2]


def test_regularizers_and_constraints_reach_gamma_and_beta():
    layer = layers.BatchNormalization(gamma_regularizer="l2", beta_regularizer=cl.regularizers.L1(0.5),
                                      gamma_constraint="non_neg", beta_constraint=cl.constraints.MaxNorm(1.0))
    layer.build((4, 3))
    assert isinstance(layer.gamma.regularizer, cl.regularizers.L2)
    assert isinstance(layer.beta.regularizer, cl.regularizers.L1)
    assert isinstance(layer.gamma.constraint, cl.constraints.NonNeg)
    assert isinstance(layer.beta.constraint, cl.constraints.MaxNorm)
    assert layer.moving_mean.regularizer is None and layer.moving_variance.constraint is None
    config = layer.get_config()
    assert config["gamma_regularizer"] == {"module": "keras.regularizers", "class_name": "L2",
                                           "config": {"l2": 0.01}, "registered_name": None}
    assert config["beta_constraint"]["class_name"] == "MaxNorm"
    assert layers.BatchNormalization.from_config(config).get_config() == config
    cl.testing.layer_test(layers.BatchNormalization, input_shape=(4, 3),
                          kwargs={"gamma_regularizer": "l2", "beta_constraint": "non_neg"})


def test_a_gamma_regularizer_adds_its_penalty_to_the_training_loss():
    bn = layers.BatchNormalization(gamma_regularizer=cl.regularizers.L2(0.5), gamma_initializer="ones")
    model = cl.Sequential([cl.Input((3,)), bn])
    model.compile(optimizer=cl.optimizers.SGD(0.0), loss="mse")
    x = _normal((8, 3)).astype("float32")
    plain = float(np.mean(np.square(model(x, training=True))))
    assert model.train_on_batch(x, np.zeros((8, 3), "float32")) == pytest.approx(plain + 0.5 * 3, rel=1e-5)


def test_symbolic_call_and_compute_output_shape():
    inputs = cl.Input((4, 5, 3))
    outputs = layers.BatchNormalization()(inputs)
    assert outputs.shape == (None, 4, 5, 3)
    assert layers.BatchNormalization(axis=1).compute_output_shape((None, 4, 5)) == (None, 4, 5)


def _summary_counts(model):
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    return tuple(int(re.search(rf"{label} params: ([\d,]+)", text).group(1).replace(",", ""))
                 for label in ("Total", "Trainable", "Non-trainable"))


def test_summary_counts_the_moving_statistics_as_non_trainable():
    model = cl.Sequential([cl.Input((5,)), layers.Dense(4), layers.BatchNormalization(), layers.Dense(2)])
    assert _summary_counts(model) == (24 + 16 + 10, 24 + 8 + 10, 8)
    inputs = cl.Input((6, 6, 3))
    functional = cl.Model(inputs, layers.BatchNormalization(axis=[1, 3])(inputs))
    assert _summary_counts(functional) == (4 * 18, 2 * 18, 2 * 18)
    model.layers[1].trainable = False
    assert _summary_counts(model) == (50, 34, 16)


# ------------------------------------------------------------- bad input
def test_axis_out_of_range_names_the_layer_the_range_and_the_axis():
    layer = layers.BatchNormalization(axis=3, name="bn_bad_axis")
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn_bad_axis'.*axis 3 is out of range for an "
                                         r"input of rank 2: expected -2 <= axis < 2\. Received: axis=3"):
        layer(np.zeros((4, 5), "float32"))
    with pytest.raises(ValueError, match=r"'bn_bad_axis'.*axis -3 .* Received: axis=\[1, -3\]"):
        layers.BatchNormalization(axis=[1, -3], name="bn_bad_axis").compute_output_shape((None, 5))
    with pytest.raises(ValueError, match=r"'bn_twice'.*the same axis twice.*Received: axis=\[1, -1\]"):
        layers.BatchNormalization(axis=[1, -1], name="bn_twice").build((2, 3))
    with pytest.raises(TypeError, match=r"BatchNormalization 'bn_type': axis must be an int or a non-empty "
                                        r"list of ints\. Received: axis='1'"):
        layers.BatchNormalization(axis="1", name="bn_type")  # Keras runs int(axis): a deliberate difference
    with pytest.raises(TypeError, match=r"Received: axis=\[\]"):
        layers.BatchNormalization(axis=[])


@pytest.mark.parametrize("momentum", [1.5, -0.1, float("nan"), True, "0.9"])
def test_momentum_outside_0_1_is_refused(momentum):
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn_m': momentum must be a float in \[0, 1\]\. "
                                         rf"Received: momentum={re.escape(repr(momentum))}"):
        layers.BatchNormalization(momentum=momentum, name="bn_m")


def test_negative_epsilon_is_refused():
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn_e': epsilon must be a float >= 0\. "
                                         r"Received: epsilon=-0\.001"):
        layers.BatchNormalization(epsilon=-1e-3, name="bn_e")
    assert layers.BatchNormalization(momentum=0, epsilon=0).get_config()["epsilon"] == 0.0


def test_a_second_call_with_another_feature_size_or_rank_is_refused():
    layer = layers.BatchNormalization(name="bn_features")
    layer(np.zeros((4, 3), "float32"))
    with pytest.raises(ValueError, match=r"layer 'bn_features'.*expected axis -1 of input shape to have "
                                         r"value 3\. Received: input with shape \(4, 5\)"):
        layer(np.zeros((4, 5), "float32"))
    with pytest.raises(ValueError, match=r"layer 'bn_features'.*expected ndim=2, found ndim=3"):
        layer(np.zeros((4, 2, 3), "float32"))
    first = layers.BatchNormalization(axis=1, name="bn_cf")
    first(np.zeros((2, 3, 4, 4), "float32"))
    with pytest.raises(ValueError, match=r"'bn_cf'.*expected axis 1 of input shape to have value 3"):
        first(np.zeros((2, 4, 4, 3), "float32"))


def test_unknown_feature_size_is_refused():
    with pytest.raises(ValueError, match=r"'bn_none'.*feature axis.*must be known.*\(None, None\)"):
        layers.BatchNormalization(name="bn_none").build((None, None))


@pytest.mark.parametrize("option, value", [
    ("renorm", True), ("renorm_clipping", {"rmax": 3.0}), ("renorm_momentum", 0.9), ("synchronized", True),
])
def test_keras_options_course_lib_lacks_are_refused(option, value):
    with pytest.raises(ValueError, match=rf"BatchNormalization 'bn_opt': `{option}` is not supported"):
        layers.BatchNormalization(name="bn_opt", **{option: value})
