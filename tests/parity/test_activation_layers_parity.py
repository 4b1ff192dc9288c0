"""Softmax, ELU and PReLU give tf.keras's numbers, computed in the same test.

Forward values, input gradients (``tf.GradientTape.gradient(y, x, output_gradients=dy)``)
and PReLU's ``alpha`` gradient are compared on the same inputs and weights, in
float32 (and float64 for a few cases), the kinks (exact zeros) included.
Softmax: every axis form (an int, a one-element list, several axes) and masks
of every broadcastable shape and dtype (bool, float read as > 0.5, integer
read as > 0), float16 too. PReLU: every kind of ``shared_axes``; a few Adam
steps of small models with a PReLU (regularized and constrained), an ELU and
a Softmax give the same losses and weights; ``.keras`` files written by one
library open in the other with the same predictions; configs are Keras's.

Measured against tf.keras 3.15 on CPU (largest absolute differences): PReLU's
forward and input gradient bit-exact (0.0), its alpha gradient (sums in another
order) within 1.4e-6 on values up to ~6 (5.5e-6 relative); ELU within 1.2e-7
(one float32 ulp: expm1 against TensorFlow's elu); Softmax, masked or not, one
axis or several (Keras's ``exp(x - logsumexp(x))``), within 3.6e-7 forward and
2.2e-7 in the input gradient; float64 within 2e-15 everywhere; float16 within
1.2e-4 (hence its own 2e-3 / 1e-3). Adam steps: losses within 9.5e-7 (6.4e-8
relative), weights within 3e-8; file predictions within 6e-8. Hence rtol 1e-5
with atol 1e-6, as the other parity tests (training: 1e-4 / 1e-5).
"""
import warnings

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)
from keras_tape import assert_same_fit, compare_layer, keras_forward_backward  # noqa: E402

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6
TRAIN_RTOL, TRAIN_ATOL = 1e-4, 1e-5


def _normal(shape, seed=0, scale=2.0, dtype="float32"):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def _with_kinks(shape, seed=0, dtype="float32"):
    x = _normal(shape, seed, dtype=dtype)
    x.reshape(-1)[:: max(1, x.size // 7)] = 0.0  # exact zeros: the kinks, where gradient conventions matter
    return x


def _compare(ours, theirs, x, mask=None, dy_seed=1, rtol=RTOL, atol=ATOL):
    """Forward and input gradient of both layers on ``x`` (and ``mask``); returns the largest difference."""
    y = ours(x) if mask is None else ours(x, mask=mask)
    dy = _normal(y.shape, dy_seed, 1.0, dtype=y.dtype)
    dx = ours.backward(dy)
    if mask is None:
        expected_y, (expected_dx,) = keras_forward_backward(theirs, [x], dy)
    else:
        tensor = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            keras_y = theirs(tensor, mask=tf.constant(mask))
        expected_dx = tape.gradient(keras_y, tensor, output_gradients=tf.constant(dy)).numpy()
        expected_y = keras_y.numpy()
    assert y.dtype == expected_y.dtype == np.dtype(x.dtype) and y.shape == expected_y.shape
    np.testing.assert_allclose(y, expected_y, rtol=rtol, atol=atol, err_msg="forward")
    np.testing.assert_allclose(dx, expected_dx, rtol=rtol, atol=atol, err_msg="input gradient")
    return max(float(np.max(np.abs(y - expected_y))), float(np.max(np.abs(dx - expected_dx))))


def _configs_agree(ours, theirs):
    mine, keras_config = ours.get_config(), theirs.get_config()
    mine.pop("name"), keras_config.pop("name")
    assert mine == keras_config
    rebuilt = cl.testing.layer_from_keras(theirs)
    back = cl.testing.layer_to_keras(ours)
    assert type(rebuilt) is type(ours) and type(back) is type(theirs)
    assert {k: v for k, v in rebuilt.get_config().items() if k != "name"} == keras_config
    assert {k: v for k, v in back.get_config().items() if k != "name"} == keras_config


# -------------------------------------------------------------------- Softmax
SOFTMAX_CASES = [
    ("default", {}),
    ("middle", {"axis": 1}),
    ("negative", {"axis": -2}),
    ("one-element-list", {"axis": [2]}),
    ("two-axes-tuple", {"axis": (1, 2)}),
    ("two-axes-list", {"axis": [1, 3]}),
    ("three-axes", {"axis": (1, 2, 3)}),
]


@pytest.mark.parametrize("kwargs", [c[1] for c in SOFTMAX_CASES], ids=[c[0] for c in SOFTMAX_CASES])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_matches_keras_for_every_axis_form(kwargs, dtype):
    x = _normal((3, 4, 5, 2), 2, 3.0, dtype)
    tolerance = {} if dtype == "float32" else {"rtol": 1e-12, "atol": 1e-14}
    _compare(cl.layers.Softmax(dtype=dtype, **kwargs), keras.layers.Softmax(dtype=dtype, **kwargs), x, **tolerance)
    _configs_agree(cl.layers.Softmax(**kwargs), keras.layers.Softmax(**kwargs))


MASKS = [
    ("bool-full", (3, 4, 5), "bool"),
    ("bool-per-key", (3, 1, 5), "bool"),
    ("bool-per-query", (3, 4, 1), "bool"),
    ("bool-no-batch", (4, 5), "bool"),
    ("float", (3, 4, 5), "float32"),
    ("int", (3, 1, 5), "int32"),
]


def _mask(shape, dtype, seed=3):
    values = np.random.default_rng(seed).random(shape)
    if dtype == "bool":
        return values > 0.4
    if dtype == "int32":
        return (3 * values).astype("int32") - (values < 0.5)  # -1, 0, 1, 2: Keras keeps > 0
    return values.astype(dtype)  # Keras keeps > 0.5


@pytest.mark.parametrize("shape, mask_dtype", [c[1:] for c in MASKS], ids=[c[0] for c in MASKS])
@pytest.mark.parametrize("axis", [-1, 1, (1, 2)], ids=["last", "middle", "two-axes"])
def test_masked_softmax_matches_keras(shape, mask_dtype, axis):
    x = _normal((3, 4, 5), 4, 3.0)
    mask = _mask(shape, mask_dtype)
    _compare(cl.layers.Softmax(axis=axis), keras.layers.Softmax(axis=axis), x, mask=mask)


def test_a_fully_masked_row_gives_zeros_in_both():
    x = _normal((3, 6), 5)
    mask = np.array([[True] * 3 + [False] * 3, [False] * 6, [True] * 6])
    _compare(cl.layers.Softmax(), keras.layers.Softmax(), x, mask=mask)
    assert np.all(cl.layers.Softmax()(x, mask=mask)[1] == 0)


def test_masked_softmax_in_float16_matches_keras():
    x = _normal((4, 6), 6, 2.0, "float16")
    mask = _mask((4, 6), "bool", 7)
    ours, theirs = cl.layers.Softmax(dtype="float16"), keras.layers.Softmax(dtype="float16")
    _compare(ours, theirs, x, mask=mask, rtol=2e-3, atol=1e-3)  # float16: 11 bits of mantissa


@pytest.mark.parametrize("mask_shape", [(2, 3, 5, 1), (2, 4), (2, 3, 8)], ids=["higher-rank", "wrong-size", "wrong-last"])
def test_both_refuse_a_mask_that_does_not_broadcast(mask_shape):
    x = _normal((2, 3, 4))
    mask = np.ones(mask_shape, bool)
    with pytest.raises(ValueError, match="must be broadcastable"):
        keras.layers.Softmax()(x, mask=mask)
    with pytest.raises(ValueError, match="must be broadcastable"):
        cl.layers.Softmax()(x, mask=mask)


def test_an_embedding_mask_reaching_softmax_is_refused_in_both_as_keras_does():
    """Keras hands the (batch, steps) mask of Embedding(mask_zero=True) to Softmax with (batch, steps, dim)
    inputs, which it refuses at run time; course_lib's graph does the same."""
    tokens = np.array([[1, 2, 0, 0, 3]])
    for library in (keras, cl):
        inputs = library.Input((5,), dtype="int32")
        outputs = library.layers.Softmax()(library.layers.Embedding(10, 3, mask_zero=True)(inputs))
        with pytest.raises(ValueError, match="must be broadcastable"):
            library.Model(inputs, outputs).predict(tokens, verbose=0)


# ------------------------------------------------------------------------ ELU
@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0, 0], ids=["default", "half", "two", "zero-int"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_elu_matches_keras_forward_gradients_and_config(alpha, dtype):
    x = _with_kinks((6, 8), 8, dtype)
    x[0, :3] = [-40.0, 40.0, -0.0]
    tolerance = {} if dtype == "float32" else {"rtol": 1e-12, "atol": 1e-14}
    ours, theirs = cl.layers.ELU(alpha=alpha, dtype=dtype), keras.layers.ELU(alpha=alpha, dtype=dtype)
    _compare(ours, theirs, x, **tolerance)
    _configs_agree(ours, theirs)


# ---------------------------------------------------------------------- PReLU
PRELU_CASES = [
    ("not-shared-2d", {}, (6, 5)),
    ("not-shared-3d", {}, (4, 3, 5)),
    ("int", {"shared_axes": 1}, (4, 3, 5)),
    ("spatial", {"shared_axes": [1, 2]}, (3, 4, 2, 5)),
    ("channels-first", {"shared_axes": (2, 3)}, (3, 5, 4, 2)),
    ("all", {"shared_axes": [1, 2, 3]}, (3, 4, 2, 5)),
    ("negative-index-quirk", {"shared_axes": [-1]}, (4, 3, 5)),
]


@pytest.mark.parametrize("kwargs, shape", [c[1:] for c in PRELU_CASES], ids=[c[0] for c in PRELU_CASES])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_prelu_matches_keras_forward_input_and_alpha_gradients(kwargs, shape, dtype):
    x = _with_kinks(shape, 9, dtype)
    ours, theirs, _ = compare_layer("PReLU", kwargs, x, np.random.default_rng(10), dtype=dtype)
    assert ours.alpha.shape == tuple(theirs.alpha.shape)
    assert ours.alpha.path == theirs.alpha.path.replace(theirs.name, ours.name)
    assert ours.input_spec.ndim == theirs.input_spec.ndim
    assert ours.input_spec.axes == (theirs.input_spec.axes or {})
    _configs_agree(cl.layers.PReLU(**kwargs), keras.layers.PReLU(**kwargs))


def test_prelu_config_with_every_option_matches_keras():
    kwargs = dict(alpha_initializer=keras.initializers.Constant(0.25), alpha_regularizer="l1l2",
                  alpha_constraint={"class_name": "MaxNorm", "config": {"max_value": 1.5}}, shared_axes=(1,))
    ours = cl.layers.PReLU(**{**kwargs, "alpha_initializer": cl.initializers.Constant(0.25)})
    _configs_agree(ours, keras.layers.PReLU(**kwargs))


def _dense_prelu_model(library):
    return library.Sequential([
        library.Input((3, 4)),
        library.layers.Dense(6, name="dense"),
        library.layers.PReLU(alpha_initializer=library.initializers.Constant(0.1),
                             alpha_regularizer=library.regularizers.L2(0.05),
                             alpha_constraint="non_neg", shared_axes=[1], name="prelu"),
        library.layers.ELU(alpha=0.7, name="elu"),
        library.layers.Flatten(),
        library.layers.Dense(2, name="out"),
    ])


def _assert_same_weights(ours, theirs):
    for mine, reference in zip(ours.weights, theirs.weights, strict=True):
        assert mine.path == reference.path
        np.testing.assert_allclose(mine.numpy(), reference.numpy(), rtol=TRAIN_RTOL, atol=TRAIN_ATOL,
                                   err_msg=mine.path)


def test_adam_steps_of_a_model_with_a_regularized_constrained_prelu_match_keras():
    keras.utils.set_random_seed(4)
    keras_model = _dense_prelu_model(keras)
    ours = cl.testing.from_keras(keras_model)
    generator = np.random.default_rng(4)
    x = generator.standard_normal((32, 3, 4)).astype("float32")
    # Targets that pull some slopes below zero, so the non_neg constraint has work to do.
    y = (-3 * generator.standard_normal((32, 2))).astype("float32")
    for model in (keras_model, ours):
        model.compile(optimizer=keras.optimizers.Adam(0.05) if model is keras_model else cl.optimizers.Adam(0.05),
                      loss="mse")
    for step in range(5):
        batch = slice(8 * (step % 4), 8 * (step % 4) + 8)
        np.testing.assert_allclose(ours.train_on_batch(x[batch], y[batch]),
                                   keras_model.train_on_batch(x[batch], y[batch]),
                                   rtol=TRAIN_RTOL, atol=TRAIN_ATOL, err_msg=f"step {step}")
    _assert_same_weights(ours, keras_model)
    alpha = ours.get_layer("prelu").alpha.numpy()
    assert alpha.shape == (1, 6) and np.all(alpha >= 0) and np.any(alpha == 0) and np.any(alpha > 0.1)
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras_model.predict(x, verbose=0),
                               rtol=TRAIN_RTOL, atol=TRAIN_ATOL)


def test_adam_steps_of_a_classifier_ending_in_softmax_match_keras():
    keras.utils.set_random_seed(5)
    keras_model = keras.Sequential([
        keras.Input((5,)), keras.layers.Dense(8), keras.layers.PReLU(), keras.layers.Dense(3),
        keras.layers.Softmax(),
    ])
    ours = cl.testing.from_keras(keras_model)
    generator = np.random.default_rng(5)
    x = generator.standard_normal((24, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[generator.integers(0, 3, 24)]
    for model in (keras_model, ours):
        model.compile(optimizer="adam", loss="categorical_crossentropy")
    for step in range(4):
        batch = slice(6 * step, 6 * step + 6)
        np.testing.assert_allclose(ours.train_on_batch(x[batch], y[batch]),
                                   keras_model.train_on_batch(x[batch], y[batch]),
                                   rtol=TRAIN_RTOL, atol=TRAIN_ATOL, err_msg=f"step {step}")
    _assert_same_weights(ours, keras_model)



@pytest.mark.parametrize("head", ["Softmax layer", "Dense softmax, from_logits=True"])
def test_a_saturated_softmax_output_is_scored_and_trained_from_its_logits_as_keras_does(head):
    """Keras's TensorFlow backend reads a softmax output's logits (`_keras_logits`): after a separate
    Softmax layer too, and even when the loss says from_logits=True (after its warning)."""
    keras.utils.set_random_seed(5)
    if head == "Softmax layer":
        keras_model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3), keras.layers.Softmax()])
    else:
        keras_model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    kernel, bias = keras_model.layers[0].get_weights()
    keras_model.layers[0].set_weights([40 * kernel, bias])  # logits in the hundreds: probabilities of 0 and 1
    ours = cl.testing.from_keras(keras_model)
    generator = np.random.default_rng(5)
    x = generator.standard_normal((24, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[generator.integers(0, 3, 24)]
    for model, library in ((keras_model, keras), (ours, cl)):
        loss = library.losses.CategoricalCrossentropy(from_logits=head != "Softmax layer")
        model.compile(optimizer=library.optimizers.SGD(0.01, name="sgd"), loss=loss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # from_logits=True on a softmax: both warn
        np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), keras_model.evaluate(x, y, verbose=0),
                                   rtol=TRAIN_RTOL, atol=TRAIN_ATOL)
        assert_same_fit(ours, keras_model, x, y, TRAIN_RTOL, TRAIN_ATOL, epochs=2, batch_size=8, shuffle=False,
                        verbose=0)
    for mine, theirs in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=TRAIN_RTOL, atol=TRAIN_ATOL)


def _file_model(library):
    inputs = library.Input((4, 3))
    hidden = library.layers.Dense(5, name="dense")(inputs)
    hidden = library.layers.PReLU(alpha_initializer="random_uniform", alpha_regularizer="l2",
                                  shared_axes=1, name="prelu")(hidden)
    hidden = library.layers.ELU(alpha=0.4, name="elu")(library.layers.PReLU(name="prelu_full")(hidden))
    hidden = library.layers.Softmax(axis=(1, 2), name="joint")(hidden)
    return library.Model(inputs, library.layers.Softmax(axis=1, name="per_column")(hidden))


def _same_layers(loaded, original):
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in original.layers]
    for mine, reference in zip(loaded.layers, original.layers):
        mine_config, reference_config = mine.get_config(), reference.get_config()
        # A tuple axis comes back from the file's JSON as a list, in both libraries.
        assert mine_config == reference_config or type(mine).__name__ == "InputLayer", mine.name
        for a, b in zip(mine.get_weights(), reference.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_keras_file_with_these_layers_opens_in_course_lib(tmp_path):
    keras.utils.set_random_seed(6)
    original = _file_model(keras)
    original.get_layer("prelu_full").set_weights([_normal((4, 5), 11, 0.5)])
    path = tmp_path / "from_keras.keras"
    original.save(path)
    loaded = cl.models.load_model(path)
    _same_layers(loaded, keras.models.load_model(path))
    x = _with_kinks((6, 4, 3), 12)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), original.predict(x, verbose=0), rtol=1e-6, atol=1e-7)


def test_a_course_lib_file_with_these_layers_opens_in_keras(tmp_path):
    cl.utils.set_random_seed(7)
    original = _file_model(cl)
    original.get_layer("prelu_full").set_weights([_normal((4, 5), 13, 0.5)])
    path = tmp_path / "from_course_lib.keras"
    original.save(path)
    loaded = keras.models.load_model(path)
    _same_layers(cl.models.load_model(path), loaded)
    x = _with_kinks((6, 4, 3), 14)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), original.predict(x, verbose=0), rtol=1e-6, atol=1e-7)
    # And the weights file alone, into a fresh Keras model of the same architecture.
    original.save_weights(tmp_path / "weights.weights.h5")
    fresh = _file_model(keras)
    fresh.load_weights(tmp_path / "weights.weights.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), original.predict(x, verbose=0), rtol=1e-6, atol=1e-7)
