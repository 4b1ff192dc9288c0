"""BatchNormalization gives tf.keras's numbers, computed in the same test, with the same weights.

Compared: forward in training and inference mode, input and gamma/beta
gradients (``tf.GradientTape.gradient(y, [x, gamma, beta], output_gradients=dy)``),
the moving statistics after several training calls, a frozen layer, the
config, ``compute_output_shape``, the bridge both ways, summary counts, and a
Dense -> BatchNormalization -> Dense model trained with SGD and Adam.

Measured against tf.keras 3.15 on CPU in float32 (inputs 2*N(0, 1) + 1,
weights N(0, 1), moving variance |N(0, 1)| + 0.5; 120 random cases, 2D to 4D,
axis -1 and 1, up to N = 1024 values per feature): outputs agree to 3.8e-6
absolute (2.3e-7 of the largest output), input gradients to 9.5e-7 absolute
(2.9e-7 of the largest), and moving statistics to 1.2e-7: all within rtol
1e-5, atol 1e-6. TF writes ``x * s + (beta - mean * s)`` where
course_lib writes ``gamma * x_hat + beta``: the same map, rounded differently.

gamma/beta gradients are float32 sums over the N values of each feature, and
TF computes dgamma as ``sum(dy * x) * r - sum(dy) * mean * r``, which cancels:
their error scales with the largest entry (1.6e-6 of it at worst, 1.7e-4
absolute for N = 1024), not with each entry, so they are compared with rtol
1e-5 and atol 1e-5 times the largest entry (:func:`_assert_sums_close`).

Training the Dense -> BatchNormalization -> Dense model: after 6
``train_on_batch`` steps the losses agree within 2.4e-7 and the weights
(moving statistics included) within 4.8e-7 with SGD and 1.2e-6 with Adam;
a 2-epoch ``fit`` History within 1.2e-7 and its weights within 6e-8; with
gamma/beta regularizers and constraints, losses within 4.8e-7 and weights
within 6e-8. Adam's
1.2e-6 already exceeds the single-call atol 1e-6, so training is compared
with rtol 1e-4, atol 1e-5, about ten times what was measured.
"""
import re

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
from keras_tape import keras_forward_backward  # noqa: E402
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6
TRAIN_RTOL, TRAIN_ATOL = 1e-4, 1e-5

CASES = [
    ("dense-2d", {}, (8, 5)),
    ("channels_last-4d", {}, (4, 3, 5, 6)),
    ("channels_first-4d", {"axis": 1}, (4, 3, 5, 6)),
    ("sequence-3d-axis1", {"axis": 1}, (6, 7, 4)),
    ("channels_first-axis-2", {"axis": -3}, (4, 3, 5, 6)),
    ("no-center", {"center": False}, (8, 5)),
    ("no-scale", {"scale": False, "axis": 1}, (4, 3, 5, 6)),
    ("neither", {"center": False, "scale": False}, (8, 5)),
    ("momentum-epsilon", {"momentum": 0.5, "epsilon": 1e-2}, (16, 4)),
]


def _assert_sums_close(ours, expected, err_msg=""):
    """A weight gradient: a sum over N values, whose float32 error scales with its largest entry."""
    expected = np.asarray(expected)
    scale = float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(ours, expected, rtol=RTOL, atol=max(ATOL, 1e-5 * scale), err_msg=err_msg)


def _pair(kwargs, shape, seed=0):
    """A Keras layer and ours, built, with the same random weights (moving variance positive)."""
    keras_layer = keras.layers.BatchNormalization(**kwargs)
    keras_layer.build(shape)
    generator = np.random.default_rng(seed)
    weights = [generator.standard_normal(w.shape).astype("float32") for w in keras_layer.weights]
    weights[-1] = np.abs(weights[-1]) + 0.5
    keras_layer.set_weights(weights)
    ours = cl.layers.BatchNormalization(**kwargs)
    ours.build(shape)
    ours.set_weights(weights)
    return keras_layer, ours


def _keras_forward_backward(layer, x, dy, training):
    y, grads = keras_forward_backward(layer, [x], dy, training)
    return y, grads[0], {w.name: g for w, g in zip(layer.trainable_weights, grads[1:])}


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("case, kwargs, shape", CASES, ids=[c[0] for c in CASES])
def test_forward_and_gradients_match_keras(case, kwargs, shape, training):
    keras_layer, ours = _pair(kwargs, shape)
    generator = np.random.default_rng(1)
    x = (2 * generator.standard_normal(shape) + 1).astype("float32")
    dy = generator.standard_normal(shape).astype("float32")
    y_keras, dx_keras, grads_keras = _keras_forward_backward(keras_layer, x, dy, training)
    y = ours(x, training=training)
    dx = ours.backward(dy)
    assert y.dtype == dx.dtype == np.float32
    np.testing.assert_allclose(y, y_keras, rtol=RTOL, atol=ATOL, err_msg="outputs")
    np.testing.assert_allclose(dx, dx_keras, rtol=RTOL, atol=ATOL, err_msg="input gradient")
    assert sorted(ours.grads) == sorted(grads_keras)
    for name, expected in grads_keras.items():
        _assert_sums_close(ours.grads[name], expected, err_msg=name)
    # Training mode updated the moving statistics (inference left them): the same in both.
    for mine, theirs in zip(ours.get_weights(), keras_layer.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("kwargs, shape", [({"momentum": 0.9}, (16, 4)), ({"axis": 1}, (4, 3, 5, 6)),
                                           ({"axis": -1, "momentum": 0.0}, (5, 4, 3))])
def test_moving_statistics_after_several_training_calls_match_keras(kwargs, shape):
    keras_layer, ours = _pair(kwargs, shape)
    generator = np.random.default_rng(2)
    for step in range(6):
        x = (3 * generator.standard_normal(shape) + step).astype("float32")
        ours(x, training=True)
        keras_layer(x, training=True)
        # Inference calls in between change nothing in either library.
        np.testing.assert_allclose(ours(x), keras_layer(x, training=False).numpy(), rtol=RTOL, atol=ATOL)
    for mine, theirs in zip(ours.get_weights(), keras_layer.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=ATOL)
    assert ours.moving_mean.dtype == np.float32 == keras_layer.moving_mean.numpy().dtype


def test_a_frozen_layer_runs_in_inference_mode_like_keras():
    """Keras 3: trainable=False makes training=True use (and keep) the moving statistics."""
    keras_layer, ours = _pair({}, (8, 5))
    keras_layer.trainable = ours.trainable = False
    generator = np.random.default_rng(3)
    x = (2 * generator.standard_normal((8, 5)) + 1).astype("float32")
    dy = generator.standard_normal((8, 5)).astype("float32")
    before = ours.get_weights()
    y_keras, dx_keras, _ = _keras_forward_backward(keras_layer, x, dy, training=True)
    y = ours(x, training=True)
    dx = ours.backward(dy)
    np.testing.assert_allclose(y, y_keras, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(dx, dx_keras, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(y, ours(x, training=False), rtol=0, atol=0)
    for was, mine, theirs in zip(before, ours.get_weights(), keras_layer.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, was)
        np.testing.assert_array_equal(theirs, was)
    assert len(ours.trainable_weights) == len(keras_layer.trainable_weights) == 0
    assert len(ours.non_trainable_weights) == len(keras_layer.non_trainable_weights) == 4


@pytest.mark.parametrize("dtype, rtol, atol", [("float64", 1e-12, 1e-12), ("float16", 2e-3, 2e-3)])
def test_other_dtypes_match_keras(dtype, rtol, atol):
    """float64 is computed in float64; float16 in float32 and stored in float16, as in Keras."""
    keras_layer = keras.layers.BatchNormalization(momentum=0.5, dtype=dtype)
    ours = cl.layers.BatchNormalization(momentum=0.5, dtype=dtype)
    x = (np.random.default_rng(4).standard_normal((16, 3)) * 100 + 50).astype(dtype)
    for training in (True, True, False):
        y_keras = keras_layer(x, training=training).numpy()
        y = ours(x, training=training)
        assert y.dtype == y_keras.dtype == np.dtype(dtype)
        np.testing.assert_allclose(y.astype("float64"), y_keras.astype("float64"), rtol=rtol, atol=atol)
    for mine, theirs in zip(ours.get_weights(), keras_layer.get_weights(), strict=True):
        assert mine.dtype == theirs.dtype == np.dtype(dtype)
        np.testing.assert_allclose(mine.astype("float64"), theirs.astype("float64"), rtol=rtol, atol=atol)


# ------------------------------------------------------------ configuration
CONFIGS = [
    {},
    {"axis": 1, "momentum": 0.9, "epsilon": 1e-5},
    {"center": False, "scale": False, "axis": -2},
    {"gamma_initializer": "random_normal", "beta_initializer": "ones", "moving_variance_initializer": "zeros",
     "moving_mean_initializer": {"class_name": "Constant", "config": {"value": 2.0}}},
    {"trainable": False, "dtype": "float64", "name": "frozen_bn"},
    {"gamma_regularizer": "l2", "beta_regularizer": {"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}},
     "gamma_constraint": "non_neg",
     "beta_constraint": {"class_name": "MaxNorm", "config": {"max_value": 1.5}}},
]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_get_config_matches_keras(kwargs):
    kwargs = {"name": "bn", **kwargs}
    expected = keras.layers.BatchNormalization(**kwargs).get_config()
    assert cl.layers.BatchNormalization(**kwargs).get_config() == expected


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_bridge_round_trip(kwargs):
    keras_layer = keras.layers.BatchNormalization(**kwargs)
    ours = cl.testing.layer_from_keras(keras_layer)
    assert isinstance(ours, cl.layers.BatchNormalization)
    assert ours.get_config() == keras_layer.get_config()
    back = cl.testing.layer_to_keras(ours)
    assert isinstance(back, keras.layers.BatchNormalization)
    assert back.get_config() == keras_layer.get_config()


def test_keras_refuses_the_axis_lists_course_lib_accepts():
    """A deliberate difference: Keras 3 runs int(axis); course_lib also takes a list (as Keras 2 did)."""
    with pytest.raises(TypeError):
        keras.layers.BatchNormalization(axis=[1, 2])
    assert cl.layers.BatchNormalization(axis=[1, 2]).get_config()["axis"] == [1, 2]


def test_keras_accepts_the_momentum_and_epsilon_course_lib_refuses():
    """A deliberate difference: Keras 3 stores momentum=1.5 or epsilon=-1; course_lib refuses them."""
    assert keras.layers.BatchNormalization(momentum=1.5, epsilon=-1.0).momentum == 1.5
    with pytest.raises(ValueError, match="momentum must be a float in"):
        cl.layers.BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match="epsilon must be a float >= 0"):
        cl.layers.BatchNormalization(epsilon=-1.0)


@pytest.mark.parametrize("axis, shape", [(-1, (None, 5)), (1, (None, 3, 4, 4)), (-3, (2, 3, 4, 4)),
                                         (2, (None, None, 7))])
def test_compute_output_shape_matches_keras(axis, shape):
    expected = keras.layers.BatchNormalization(axis=axis).compute_output_shape(shape)
    assert cl.layers.BatchNormalization(axis=axis).compute_output_shape(shape) == tuple(expected)
    # Both refuse an axis the input does not have (Keras's ValueError too).
    with pytest.raises(ValueError):
        keras.layers.BatchNormalization(axis=len(shape)).compute_output_shape(shape)
    with pytest.raises(ValueError, match="out of range"):
        cl.layers.BatchNormalization(axis=len(shape)).compute_output_shape(shape)


def test_a_keras_model_file_config_loads():
    """A Sequential config written by Keras (with build_config) rebuilds with the same weights and outputs."""
    keras_model = keras.Sequential([keras.Input((4, 3)),
                                    keras.layers.BatchNormalization(axis=1, momentum=0.8)])
    keras_model.layers[0].set_weights([np.arange(4, dtype="float32") + w for w in (1, 0, -1, 3)])
    ours = cl.testing.from_keras(keras_model)
    x = np.random.default_rng(5).standard_normal((6, 4, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras_model.predict(x, verbose=0),
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours(x, training=True), keras_model(x, training=True).numpy(),
                               rtol=RTOL, atol=ATOL)
    for mine, theirs in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------ summary
def _summary_counts(model):
    lines = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    text = "\n".join(lines)
    return tuple(int(re.search(rf"{label} params: ([\d,]+)", text).group(1).replace(",", ""))
                 for label in ("Total", "Trainable", "Non-trainable"))


def _sequential(k):
    return k.Sequential([k.Input((6,)), k.layers.Dense(5), k.layers.BatchNormalization(), k.layers.Dense(2)])


def _functional(k):
    inputs = k.Input((4, 4, 3))
    hidden = k.layers.BatchNormalization(axis=1, center=False, name="bn_cf")(inputs)
    outputs = k.layers.BatchNormalization(name="bn_cl")(hidden)
    return k.Model(inputs, outputs)


@pytest.mark.parametrize("builder", [_sequential, _functional])
@pytest.mark.parametrize("frozen", [False, True], ids=["trainable", "frozen"])
def test_summary_counts_match_keras(builder, frozen):
    keras_model, ours = builder(keras), builder(cl)
    if frozen:
        keras_model.layers[1].trainable = ours.layers[1].trainable = False
    expected = _summary_counts(keras_model)
    assert _summary_counts(ours) == expected
    assert expected[2] > 0


# ------------------------------------------------------------------ training
def _model_and_data(seed=0):
    keras.utils.set_random_seed(seed)
    keras_model = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.BatchNormalization(momentum=0.8),
        keras.layers.Dense(3, activation="softmax"),
    ])
    generator = np.random.default_rng(seed)
    x = (2 * generator.standard_normal((48, 6)) + 1).astype("float32")
    y = generator.integers(0, 3, 48)
    return keras_model, x, y


def _assert_same_weights(ours, keras_model):
    names = [w.path for w in keras_model.weights]
    assert any("moving_mean" in name for name in names)
    for name, mine, theirs in zip(names, ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=TRAIN_RTOL, atol=TRAIN_ATOL, err_msg=name)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_train_on_batch_with_batch_normalization_matches_keras(optimizer):
    keras_model, x, y = _model_and_data()
    ours = cl.testing.from_keras(keras_model)
    for model in (keras_model, ours):
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    initial = [w.copy() for w in ours.get_weights()]
    for step in range(6):
        batch = slice(8 * step, 8 * step + 8)
        expected = keras_model.train_on_batch(x[batch], y[batch])
        received = ours.train_on_batch(x[batch], y[batch])
        np.testing.assert_allclose(received, expected, rtol=TRAIN_RTOL, atol=TRAIN_ATOL)
    _assert_same_weights(ours, keras_model)
    bn = ours.layers[1]
    assert not np.allclose(bn.moving_mean.numpy(), initial[4])  # the statistics moved, in both
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras_model.predict(x, verbose=0),
                               rtol=TRAIN_RTOL, atol=TRAIN_ATOL)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), keras_model.evaluate(x, y, verbose=0),
                               rtol=TRAIN_RTOL, atol=TRAIN_ATOL)


def test_fit_history_with_batch_normalization_matches_keras():
    keras_model, x, y = _model_and_data(seed=1)
    ours = cl.testing.from_keras(keras_model)
    for model in (keras_model, ours):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    kwargs = dict(epochs=2, batch_size=16, shuffle=False, verbose=0, validation_split=0.25)
    keras_history = keras_model.fit(x, y, **kwargs).history
    our_history = ours.fit(x, y, **kwargs).history
    assert sorted(our_history) == sorted(keras_history)
    for key in keras_history:
        np.testing.assert_allclose(our_history[key], keras_history[key], rtol=TRAIN_RTOL, atol=TRAIN_ATOL,
                                   err_msg=key)
    _assert_same_weights(ours, keras_model)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_with_gamma_beta_regularizers_and_constraints_matches_keras(optimizer):
    """The penalties enter the loss and the gradients, the constraints project after each step."""
    keras.utils.set_random_seed(3)
    keras_model = keras.Sequential([
        keras.Input((6,)),
        # No bias before BatchNormalization: its gradient is zero up to rounding, which Adam
        # would normalize into full-size steps of noise (different noise in each library).
        keras.layers.Dense(8, use_bias=False),
        keras.layers.BatchNormalization(gamma_regularizer=keras.regularizers.L2(0.05), beta_regularizer="l1",
                                        gamma_constraint=keras.constraints.MaxNorm(1.2),
                                        beta_constraint="non_neg"),
        keras.layers.Dense(1),
    ])
    keras_model.layers[1].set_weights([np.full(8, 1.5, "float32"), np.linspace(-1, 1, 8).astype("float32"),
                                       np.zeros(8, "float32"), np.ones(8, "float32")])
    ours = cl.testing.from_keras(keras_model)
    generator = np.random.default_rng(3)
    x = generator.standard_normal((32, 6)).astype("float32")
    y = generator.standard_normal((32, 1)).astype("float32")
    for model in (keras_model, ours):
        model.compile(optimizer=optimizer, loss="mse")
    for step in range(4):
        batch = slice(8 * step, 8 * step + 8)
        np.testing.assert_allclose(ours.train_on_batch(x[batch], y[batch]),
                                   keras_model.train_on_batch(x[batch], y[batch]),
                                   rtol=TRAIN_RTOL, atol=TRAIN_ATOL)
    _assert_same_weights(ours, keras_model)
    gamma, beta = ours.layers[1].get_weights()[:2]
    assert np.all(beta >= 0) and np.linalg.norm(gamma) <= 1.2 + 1e-6


def test_training_a_model_with_a_frozen_batch_normalization_matches_keras():
    """Frozen: inference mode inside fit, statistics kept, gamma/beta not trained (in both)."""
    keras_model, x, y = _model_and_data(seed=2)
    ours = cl.testing.from_keras(keras_model)
    keras_model.layers[1].trainable = ours.layers[1].trainable = False
    frozen = ours.layers[1].get_weights()
    for model in (keras_model, ours):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    kwargs = dict(epochs=2, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_allclose(ours.fit(x, y, **kwargs).history["loss"],
                               keras_model.fit(x, y, **kwargs).history["loss"],
                               rtol=TRAIN_RTOL, atol=TRAIN_ATOL)
    _assert_same_weights(ours, keras_model)
    for was, now in zip(frozen, ours.layers[1].get_weights(), strict=True):
        np.testing.assert_array_equal(was, now)
