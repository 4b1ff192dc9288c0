"""LayerNormalization gives tf.keras's numbers, computed in the same test, with the same weights.

Compared: forward, input and gamma/beta gradients
(``tf.GradientTape.gradient(y, [x, gamma, beta], output_gradients=dy)``) over
several axes (the out-of-order list ``[-1, 1]``, whose weights Keras reshapes
rather than transposes, included), center/scale off, the deprecated
``rms_scaling``; float64, float16 and mixed dtypes; the config before and after
build; ``compute_output_shape``; the bridge; a mask through a model; and a
Dense -> LayerNormalization -> Dense model trained with Adam from copied weights.

Measured against tf.keras 3.15 on CPU in float32 (inputs 2*N(0, 1) + 1,
weights N(0, 1) + 1, the cases below with 5 seeds each): outputs within 1.4e-6
absolute (1.3e-7 of the largest, 10.8), input gradients within 7.6e-6
(3.2e-7 of the largest, 23.5), gamma/beta gradients (sums over the batch
axes) within 1.9e-6; the worst entry uses a tenth of the allowance rtol 1e-5,
atol 1e-5. Six Adam steps of the Dense -> LayerNormalization -> Dense model:
the same losses (to the last bit) and weights within 6e-8; training is
compared with rtol 1e-4, atol 1e-5, as for BatchNormalization.
"""
import contextlib
import warnings

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
from keras_tape import keras_forward_backward  # noqa: E402
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-5
TRAIN_RTOL, TRAIN_ATOL = 1e-4, 1e-5

CASES = [
    ("dense-2d", {}, (8, 5)),
    ("sequence-3d", {}, (4, 6, 5)),
    ("axis-1-3d", {"axis": 1}, (4, 6, 5)),
    ("axes-1-2-4d", {"axis": [1, 2]}, (3, 4, 5, 6)),
    ("axes-1-3-4d", {"axis": [1, 3]}, (3, 4, 5, 6)),
    ("axes-all-4d", {"axis": [1, 2, 3]}, (3, 4, 5, 6)),
    ("axes-out-of-order", {"axis": [-1, 1]}, (3, 4, 5, 6)),
    ("negative-axes", {"axis": (-2, -1)}, (3, 4, 5, 6)),
    ("no-center", {"center": False}, (8, 5)),
    ("no-scale", {"scale": False, "axis": [1, 2]}, (3, 4, 5, 6)),
    ("neither", {"center": False, "scale": False}, (8, 5)),
    ("rms-scaling", {"rms_scaling": True}, (8, 5)),
    ("rms-scaling-no-scale-axes", {"rms_scaling": True, "scale": False, "axis": [1, 2]}, (3, 4, 5, 6)),
    ("epsilon", {"epsilon": 0.1}, (6, 7)),
]


@contextlib.contextmanager
def _quiet():
    """Without rms_scaling's deprecation warning, which both libraries give."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _pair(kwargs, shape, seed=0, dtype="float32"):
    """A Keras layer and ours, built, with the same random weights."""
    with _quiet():
        keras_layer = keras.layers.LayerNormalization(dtype=dtype, **kwargs)
        keras_layer.build(shape)
        ours = cl.layers.LayerNormalization(dtype=dtype, **kwargs)
        ours.build(shape)
    generator = np.random.default_rng(seed)
    weights = [(generator.standard_normal(w.shape) + 1).astype(dtype) for w in keras_layer.weights]
    keras_layer.set_weights(weights)
    ours.set_weights(weights)
    return keras_layer, ours


@pytest.mark.parametrize("case, kwargs, shape", CASES, ids=[c[0] for c in CASES])
def test_forward_and_gradients_match_keras(case, kwargs, shape):
    keras_layer, ours = _pair(kwargs, shape)
    generator = np.random.default_rng(1)
    x = (2 * generator.standard_normal(shape) + 1).astype("float32")
    dy = generator.standard_normal(shape).astype("float32")
    with _quiet():
        y_keras, grads = keras_forward_backward(keras_layer, [x], dy)
    y = ours(x)
    dx = ours.backward(dy)
    assert y.dtype == dx.dtype == np.float32
    np.testing.assert_allclose(y, y_keras, rtol=RTOL, atol=ATOL, err_msg="outputs")
    np.testing.assert_allclose(dx, grads[0], rtol=RTOL, atol=ATOL, err_msg="input gradient")
    names = [w.name for w in keras_layer.trainable_weights]
    assert ours.trainable_weight_names == names
    for name, expected in zip(names, grads[1:], strict=True):
        np.testing.assert_allclose(ours.grads[name], expected, rtol=RTOL, atol=ATOL, err_msg=name)
    # The layer is the same in training and inference in both libraries.
    with _quiet():
        y_training = keras_layer(x, training=True).numpy()
    np.testing.assert_allclose(ours(x, training=True), y_training, rtol=RTOL, atol=ATOL)


def test_the_out_of_order_axes_lay_the_weights_as_keras_does():
    """axis=[-1, 1] on (N, 4, 5, 6): gamma is (6, 4), reshaped (not transposed) onto axes (1, 3)."""
    keras_layer, ours = _pair({"axis": [-1, 1], "center": False}, (2, 4, 5, 6))
    assert ours.gamma.shape == tuple(keras_layer.gamma.shape) == (6, 4)
    x = np.random.default_rng(2).standard_normal((2, 4, 5, 6)).astype("float32")
    y = ours(x)
    np.testing.assert_allclose(y, keras_layer(x).numpy(), rtol=RTOL, atol=ATOL)
    transposed = cl.layers.LayerNormalization(axis=[1, 3], center=False)
    transposed.build((2, 4, 5, 6))
    transposed.set_weights([ours.gamma.numpy().T])
    assert not np.allclose(transposed(x), y, atol=1e-3)  # a transpose would put gamma elsewhere


@pytest.mark.parametrize("layer_dtype, input_dtype, rtol, atol", [
    ("float64", "float64", 1e-12, 1e-12),
    ("float16", "float16", 2e-3, 2e-3),
    ("float32", "float16", 1e-6, 1e-6),   # float32 maths, rounded to float16, returned as float32
    ("float32", "float64", 1e-6, 1e-6),   # float64 maths (no autocast), returned as float32
])
def test_dtypes_match_keras(layer_dtype, input_dtype, rtol, atol):
    keras_layer, ours = _pair({"axis": [1, 2]}, (4, 3, 5), dtype=layer_dtype)
    x = (np.random.default_rng(4).standard_normal((4, 3, 5)) * 300 + 100).astype(input_dtype)
    y_keras, y = keras_layer(x).numpy(), ours(x)
    assert y.dtype == y_keras.dtype == np.dtype(layer_dtype)
    np.testing.assert_allclose(y.astype("float64"), y_keras.astype("float64"), rtol=rtol, atol=atol)
    for mine, theirs in zip(ours.weights, keras_layer.weights, strict=True):
        assert mine.dtype == np.dtype(theirs.dtype) == np.dtype(layer_dtype)


def test_keras_rounds_integer_inputs_where_course_lib_does_not():
    """A deliberate difference: Keras casts the normalized values back to int32, course_lib keeps them."""
    x = np.array([[1, 2, 4], [0, 5, 7]], dtype="int32")
    keras_y = keras.layers.LayerNormalization()(x).numpy()
    ours = cl.layers.LayerNormalization()(x)
    floats = cl.layers.LayerNormalization()(x.astype("float32"))
    np.testing.assert_allclose(ours, floats, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(keras_y, np.trunc(floats))
    assert not np.allclose(keras_y, ours, atol=0.1)


# ------------------------------------------------------------ configuration
CONFIGS = [
    {},
    {"axis": 1, "epsilon": 1e-5},
    {"axis": [1, 2], "center": False},
    {"axis": (3, 1), "scale": False},
    {"rms_scaling": True},
    {"gamma_initializer": "random_normal", "beta_initializer": "ones"},
    {"trainable": False, "dtype": "float64", "name": "frozen_ln"},
    {"gamma_regularizer": "l2", "beta_regularizer": {"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}},
     "gamma_constraint": "non_neg", "beta_constraint": {"class_name": "MaxNorm", "config": {"max_value": 1.5}}},
]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_get_config_matches_keras_before_and_after_build(kwargs):
    kwargs = {"name": "ln", **kwargs}
    with _quiet():
        keras_layer = keras.layers.LayerNormalization(**kwargs)
        ours = cl.layers.LayerNormalization(**kwargs)
    assert ours.get_config() == keras_layer.get_config()
    keras_layer.build((None, 3, 4, 5))
    ours.build((None, 3, 4, 5))
    assert ours.get_config() == keras_layer.get_config()  # axis now a sorted list in both
    assert [w.name for w in ours.weights] == [w.name for w in keras_layer.weights]
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in keras_layer.weights]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_bridge_round_trip(kwargs):
    with _quiet():
        keras_layer = keras.layers.LayerNormalization(**kwargs)
        ours = cl.testing.layer_from_keras(keras_layer)
        back = cl.testing.layer_to_keras(ours)
    assert isinstance(ours, cl.layers.LayerNormalization)
    assert ours.get_config() == keras_layer.get_config()
    assert isinstance(back, keras.layers.LayerNormalization)
    assert back.get_config() == keras_layer.get_config()


@pytest.mark.parametrize("axis, shape", [(-1, (None, 5)), (1, (None, 3, 4)), ([1, 2], (2, 3, 4, 4)),
                                         (-3, (None, 3, 4))])
def test_compute_output_shape_matches_keras(axis, shape):
    expected = keras.layers.LayerNormalization(axis=axis).compute_output_shape(shape)
    assert cl.layers.LayerNormalization(axis=axis).compute_output_shape(shape) == tuple(expected)
    with pytest.raises(ValueError, match="out of bounds"):
        keras.layers.LayerNormalization(axis=len(shape)).compute_output_shape(shape)
    with pytest.raises(ValueError, match="out of bounds"):
        cl.layers.LayerNormalization(axis=len(shape)).compute_output_shape(shape)


def test_keras_accepts_the_epsilon_course_lib_refuses():
    """A deliberate difference: Keras stores epsilon=-1; course_lib refuses it."""
    assert keras.layers.LayerNormalization(epsilon=-1.0).epsilon == -1.0
    with pytest.raises(ValueError, match="epsilon must be a float >= 0"):
        cl.layers.LayerNormalization(epsilon=-1.0)


def test_the_mask_passes_through_as_in_keras():
    """Embedding(mask_zero) -> LayerNormalization -> GlobalAveragePooling1D, the mask reaching the pooling."""
    keras.utils.set_random_seed(0)
    keras_model = keras.Sequential([keras.Input((5,), dtype="int32"), keras.layers.Embedding(7, 4, mask_zero=True),
                                    keras.layers.LayerNormalization(), keras.layers.GlobalAveragePooling1D()])
    keras_model.layers[1].set_weights([np.linspace(0.5, 1.5, 4, dtype="float32"),
                                       np.linspace(-1, 1, 4, dtype="float32")])
    ours = cl.testing.from_keras(keras_model)
    ids = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 0], [1, 0, 0, 0, 0]])
    expected = keras_model.predict(ids, verbose=0)
    np.testing.assert_allclose(ours.predict(ids, verbose=0), expected, rtol=RTOL, atol=ATOL)
    unmasked = keras.Sequential([keras.Input((5,), dtype="int32"), keras.layers.Embedding(7, 4),
                                 keras.layers.LayerNormalization(), keras.layers.GlobalAveragePooling1D()])
    unmasked.set_weights(keras_model.get_weights())
    assert not np.allclose(unmasked.predict(ids, verbose=0), expected, atol=1e-3)  # the mask mattered


# ------------------------------------------------------------------ training
def test_adam_steps_of_a_dense_layer_normalization_dense_model_match_keras():
    keras.utils.set_random_seed(0)
    keras_model = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.LayerNormalization(gamma_initializer="random_normal", beta_initializer="random_normal"),
        keras.layers.Dense(3, activation="softmax"),
    ])
    generator = np.random.default_rng(0)
    x = (2 * generator.standard_normal((48, 6)) + 1).astype("float32")
    y = generator.integers(0, 3, 48)
    ours = cl.testing.from_keras(keras_model)
    initial = [w.copy() for w in ours.get_weights()]
    for model in (keras_model, ours):
        model.compile(optimizer=keras.optimizers.Adam(0.01) if model is keras_model else cl.optimizers.Adam(0.01),
                      loss="sparse_categorical_crossentropy")
    for step in range(6):
        batch = slice(8 * step, 8 * step + 8)
        np.testing.assert_allclose(ours.train_on_batch(x[batch], y[batch]),
                                   keras_model.train_on_batch(x[batch], y[batch]),
                                   rtol=TRAIN_RTOL, atol=TRAIN_ATOL)
    names = [w.path for w in keras_model.weights]
    assert any(name.endswith("gamma") for name in names)
    for name, was, mine, theirs in zip(names, initial, ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=TRAIN_RTOL, atol=TRAIN_ATOL, err_msg=name)
        assert not np.allclose(mine, was), name  # every weight moved, in both
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras_model.predict(x, verbose=0),
                               rtol=TRAIN_RTOL, atol=TRAIN_ATOL)
