"""UnitNormalization, GroupNormalization and RMSNormalization give tf.keras's numbers, computed in the same test.

Compared, with the same weights: forward, input and weight gradients
(``tf.GradientTape.gradient(y, [x] + trainable_weights, output_gradients=dy)``,
through ``keras_tape.compare_layer``) over several axes, ``groups`` 1, -1
(instance normalization) and in between, channels-first ``axis=1``, center/scale
off; float64 and float16; the config before and after build; the bridge both
ways; ``compute_output_shape``; a mask through a model; Adam steps of a small
convolutional model with GroupNormalization; ``.keras`` files both ways.

Measured against tf.keras 3.15 on CPU in float32 (inputs 2*N(0, 1) + 1,
Keras's weights set to N(0, 1), the cases below with 5 seeds each): the
worst difference of any output or gradient entry is 5.7e-6 absolute (the beta
gradient of GroupNormalization(groups=-1), a sum of up to 17.6), and no entry
differs by more than 5.7e-7 of the largest entry of its array: the allowance,
rtol 1e-5 and 1e-5 of the largest entry absolute, is used at about a twentieth.
Five Adam steps of the Conv2D -> GroupNormalization -> ... -> Dense model:
losses within 2.4e-7, weights within 3.5e-7; training is compared with rtol
1e-4, atol 1e-5, as for LayerNormalization.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
from keras_tape import compare_layer  # noqa: E402
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-5
TRAIN_RTOL, TRAIN_ATOL = 1e-4, 1e-5

# (id, class name, constructor arguments, input shape).
CASES = [
    ("unit-2d", "UnitNormalization", {}, (8, 5)),
    ("unit-axis-1", "UnitNormalization", {"axis": 1}, (4, 6, 5)),
    ("unit-axes-1-2", "UnitNormalization", {"axis": [1, 2]}, (3, 4, 5, 6)),
    ("unit-axes-unsorted", "UnitNormalization", {"axis": (-1, 1)}, (3, 4, 5, 6)),
    ("group-2", "GroupNormalization", {"groups": 2}, (4, 6, 8)),
    ("group-1", "GroupNormalization", {"groups": 1}, (4, 6, 8)),
    ("group-instance", "GroupNormalization", {"groups": -1}, (3, 5, 4, 6)),
    ("group-channels-first", "GroupNormalization", {"groups": 3, "axis": 1}, (3, 6, 4, 5)),
    ("group-axis-minus-2", "GroupNormalization", {"groups": 2, "axis": -2}, (3, 4, 6, 5)),
    ("group-2d", "GroupNormalization", {"groups": 4}, (8, 12)),
    ("group-no-center", "GroupNormalization", {"groups": 4, "center": False}, (4, 5, 8)),
    ("group-no-scale", "GroupNormalization", {"groups": 2, "scale": False}, (4, 5, 8)),
    ("group-neither", "GroupNormalization", {"groups": 2, "center": False, "scale": False}, (4, 5, 8)),
    ("group-epsilon", "GroupNormalization", {"groups": 2, "epsilon": 0.1}, (4, 5, 8)),
    ("rms-2d", "RMSNormalization", {}, (8, 5)),
    ("rms-3d", "RMSNormalization", {}, (4, 6, 5)),
    ("rms-axes-1-2", "RMSNormalization", {"axis": [1, 2]}, (4, 6, 5)),
    ("rms-axis-1-square", "RMSNormalization", {"axis": 1}, (4, 5, 5)),  # Keras's scale on the last axis
    ("rms-epsilon", "RMSNormalization", {"epsilon": 0.1}, (6, 7)),
]
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize("case, name, kwargs, shape", CASES, ids=IDS)
def test_forward_and_gradients_match_keras(case, name, kwargs, shape):
    generator = np.random.default_rng(0)
    x = (2 * generator.standard_normal(shape) + 1).astype("float32")
    ours, theirs, worst = compare_layer(name, kwargs, x, generator, rtol=RTOL)
    assert ours.trainable_weight_names == [w.name for w in theirs.trainable_weights]
    # The configs after build agree too (groups=-1 resolved, RMSNormalization's axis a sorted list).
    assert dict(ours.get_config(), name=None) == dict(theirs.get_config(), name=None)
    # The same in training and inference in both libraries.
    np.testing.assert_allclose(ours(x, training=True), theirs(x, training=True).numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case, name, kwargs, shape", [CASES[2], CASES[7], CASES[16]], ids=["unit", "group", "rms"])
def test_float64_matches_keras_to_rounding(case, name, kwargs, shape):
    generator = np.random.default_rng(1)
    x = 2 * generator.standard_normal(shape) + 1
    _, _, worst = compare_layer(name, kwargs, x, generator, dtype="float64")
    assert worst < 1e-12


@pytest.mark.parametrize("name, kwargs", [("UnitNormalization", {}), ("GroupNormalization", {"groups": 2}),
                                          ("RMSNormalization", {})])
@pytest.mark.parametrize("layer_dtype, input_dtype, rtol, atol", [
    ("float16", "float16", 3e-3, 3e-3),
    ("float32", "float16", 1e-6, 1e-6),   # Group: float32 maths rounded to float16; the others autocast first
    ("float32", "float64", 1e-6, 1e-6),   # Group: float64 maths (no autocast); the others autocast to float32
])
def test_dtypes_match_keras(name, kwargs, layer_dtype, input_dtype, rtol, atol):
    scale = 3 if name == "UnitNormalization" and layer_dtype == "float16" else 300  # Keras sums squares in float16
    x = (np.random.default_rng(4).standard_normal((4, 3, 6)) * scale + 1).astype(input_dtype)
    theirs = getattr(keras.layers, name)(dtype=layer_dtype, **kwargs)
    ours = getattr(cl.layers, name)(dtype=layer_dtype, **kwargs)
    y_keras, y = theirs(x).numpy(), ours(x)
    assert y.dtype == y_keras.dtype == np.dtype(layer_dtype)
    np.testing.assert_allclose(y.astype("float64"), y_keras.astype("float64"), rtol=rtol, atol=atol)
    for mine, reference in zip(ours.weights, theirs.weights, strict=True):
        assert mine.dtype == np.dtype(reference.dtype) == np.dtype(layer_dtype)


def test_keras_rounds_or_refuses_integer_inputs_where_course_lib_normalizes_them():
    """A deliberate difference: Keras truncates Group's and RMS's float results to int32, Unit raises."""
    x = np.array([[1, 2, 4, 8], [0, 5, 7, 9]], dtype="int32")
    for name, kwargs in [("GroupNormalization", {"groups": 2}), ("RMSNormalization", {})]:
        keras_y = getattr(keras.layers, name)(**kwargs)(x).numpy()
        floats = getattr(cl.layers, name)(**kwargs)(x.astype("float32"))
        np.testing.assert_allclose(getattr(cl.layers, name)(**kwargs)(x), floats, rtol=RTOL, atol=ATOL)
        np.testing.assert_array_equal(keras_y, np.trunc(floats))
    with pytest.raises(Exception, match="int32"):
        keras.layers.UnitNormalization()(x)
    assert cl.layers.UnitNormalization()(x).dtype == np.float32


def test_unit_normalization_clips_tiny_norms_as_keras_does():
    x = np.array([[0.0, 0.0, 0.0], [1e-13, 0.0, 0.0], [1e-3, 2e-3, 2e-3]], dtype="float32")
    dy = np.array([[1.0, 2.0, 3.0]] * 3, dtype="float32")
    x_tensor = tf.constant(x)
    layer = keras.layers.UnitNormalization()
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        y_keras = layer(x_tensor)
    dx_keras = tape.gradient(y_keras, x_tensor, output_gradients=tf.constant(dy)).numpy()
    ours = cl.layers.UnitNormalization()
    np.testing.assert_allclose(ours(x), y_keras.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.backward(dy), dx_keras, rtol=RTOL)


# ------------------------------------------------------------ configuration
CONFIGS = [
    ("UnitNormalization", {}),
    ("UnitNormalization", {"axis": (2, 1)}),
    ("GroupNormalization", {"groups": 2}),
    ("GroupNormalization", {"groups": -1, "axis": 1, "epsilon": 1e-5, "center": False}),
    ("GroupNormalization", {"groups": 1, "scale": False, "trainable": False, "dtype": "float64"}),
    ("GroupNormalization", {"groups": 4, "gamma_initializer": "random_normal", "beta_initializer": "ones",
                            "gamma_regularizer": "l2",
                            "beta_regularizer": {"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}},
                            "gamma_constraint": "non_neg",
                            "beta_constraint": {"class_name": "MaxNorm", "config": {"max_value": 1.5}}}),
    ("RMSNormalization", {}),
    ("RMSNormalization", {"axis": (2, 1), "epsilon": 1e-4, "name": "rms"}),
]


@pytest.mark.parametrize("name, kwargs", CONFIGS)
def test_get_config_matches_keras_before_and_after_build(name, kwargs):
    kwargs = {"name": "norm", **kwargs}
    theirs, ours = getattr(keras.layers, name)(**kwargs), getattr(cl.layers, name)(**kwargs)
    assert ours.get_config() == theirs.get_config()
    shape = (None, 4, 3) if kwargs.get("axis") == (2, 1) else (None, 4, 4)
    theirs.build(shape)
    ours.build(shape)
    assert ours.get_config() == theirs.get_config()
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert [w.trainable for w in ours.weights] == [w.trainable for w in theirs.weights]
    for mine, reference in zip(ours.weights, theirs.weights, strict=True):
        if name != "GroupNormalization" or "gamma_initializer" not in kwargs:
            np.testing.assert_array_equal(mine.numpy(), reference.numpy())  # the same constant initializers


@pytest.mark.parametrize("name, kwargs", CONFIGS)
def test_bridge_round_trip(name, kwargs):
    theirs = getattr(keras.layers, name)(**kwargs)
    ours = cl.testing.layer_from_keras(theirs)
    back = cl.testing.layer_to_keras(ours)
    assert type(ours) is getattr(cl.layers, name) and type(back) is getattr(keras.layers, name)
    assert ours.get_config() == theirs.get_config() == back.get_config()


@pytest.mark.parametrize("name, kwargs, shape", [
    ("UnitNormalization", {"axis": [1, 2]}, (None, 3, 4)), ("GroupNormalization", {"groups": 2}, (None, 3, 4)),
    ("RMSNormalization", {"axis": -1}, (None, 5)), ("GroupNormalization", {"groups": 2, "axis": 1}, (2, 4, 3)),
])
def test_compute_output_shape_matches_keras(name, kwargs, shape):
    expected = getattr(keras.layers, name)(**kwargs).compute_output_shape(shape)
    assert getattr(cl.layers, name)(**kwargs).compute_output_shape(shape) == tuple(expected)
    bad = dict(kwargs, axis=len(shape))
    with pytest.raises(ValueError, match="out of bounds"):
        getattr(keras.layers, name)(**bad).compute_output_shape(shape)
    with pytest.raises(ValueError, match="out of bounds"):
        getattr(cl.layers, name)(**bad).compute_output_shape(shape)


def test_keras_errors_are_course_lib_errors_too():
    """groups that do not divide the channels, and a scale that does not broadcast: refused by both."""
    x = np.ones((2, 3, 4), "float32")
    for library in (keras, cl):
        with pytest.raises(ValueError, match=r"groups"):
            library.layers.GroupNormalization(groups=3)(x)
        with pytest.raises(ValueError, match=r"groups"):
            library.layers.GroupNormalization(groups=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Incompatible shapes"):
        keras.layers.RMSNormalization(axis=1)(x)
    with pytest.raises(ValueError, match="does not broadcast|must have the sizes"):
        cl.layers.RMSNormalization(axis=1)(x)
    # A deliberate difference: Keras stores a negative epsilon, course_lib refuses it.
    assert keras.layers.GroupNormalization(epsilon=-1.0).epsilon == -1.0
    with pytest.raises(ValueError, match="epsilon must be a float >= 0"):
        cl.layers.GroupNormalization(epsilon=-1.0)


def test_masks_pass_through_as_in_keras():
    """Embedding(mask_zero) -> Unit/GroupNormalization -> GlobalAveragePooling1D, the mask reaching the pooling."""
    keras.utils.set_random_seed(0)
    keras_model = keras.Sequential([keras.Input((5,), dtype="int32"), keras.layers.Embedding(7, 4, mask_zero=True),
                                    keras.layers.GroupNormalization(groups=2), keras.layers.UnitNormalization(),
                                    keras.layers.GlobalAveragePooling1D()])
    keras_model.layers[1].set_weights([np.linspace(0.5, 1.5, 4, dtype="float32"),
                                       np.linspace(-1, 1, 4, dtype="float32")])
    ours = cl.testing.from_keras(keras_model)
    ids = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 0], [1, 0, 0, 0, 0]])
    expected = keras_model.predict(ids, verbose=0)
    np.testing.assert_allclose(ours.predict(ids, verbose=0), expected, rtol=RTOL, atol=ATOL)
    unmasked = keras.Sequential([keras.Input((5,), dtype="int32"), keras.layers.Embedding(7, 4),
                                 keras.layers.GroupNormalization(groups=2), keras.layers.UnitNormalization(),
                                 keras.layers.GlobalAveragePooling1D()])
    unmasked.set_weights(keras_model.get_weights())
    assert not np.allclose(unmasked.predict(ids, verbose=0), expected, atol=1e-3)  # the mask mattered
    assert keras.layers.RMSNormalization().supports_masking == cl.layers.RMSNormalization.supports_masking is False


# ------------------------------------------------------------------ training and files
def _conv_model(library, groups=4):
    return library.Sequential([
        library.Input((8, 8, 2)),
        library.layers.Conv2D(8, 3, activation="relu", name="conv"),
        library.layers.GroupNormalization(groups=groups, gamma_initializer="random_normal",
                                          beta_initializer="random_normal", name="gn"),
        library.layers.Conv2D(4, 3, activation="relu", name="conv2"),  # else instance norm cancels gn's beta
        library.layers.GroupNormalization(groups=-1, axis=-1, name="instance"),
        library.layers.Flatten(),
        library.layers.Dense(6, name="dense"),
        library.layers.RMSNormalization(name="rms"),
        library.layers.UnitNormalization(name="unit"),
        library.layers.Dense(3, activation="softmax", name="out"),
    ])


def _data(seed):
    generator = np.random.default_rng(seed)
    return (2 * generator.standard_normal((40, 8, 8, 2)) + 1).astype("float32"), generator.integers(0, 3, 40)


def test_adam_steps_of_a_conv_group_normalization_model_match_keras():
    keras.utils.set_random_seed(0)
    keras_model = _conv_model(keras)
    x, y = _data(0)
    ours = cl.testing.from_keras(keras_model)
    initial = [w.copy() for w in ours.get_weights()]
    keras_model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    ours.compile(optimizer=cl.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    for step in range(5):
        batch = slice(8 * step, 8 * step + 8)
        np.testing.assert_allclose(ours.train_on_batch(x[batch], y[batch]),
                                   keras_model.train_on_batch(x[batch], y[batch]),
                                   rtol=TRAIN_RTOL, atol=TRAIN_ATOL)
    names = [w.path for w in keras_model.weights]
    assert [w.path for w in ours.weights] == names
    for name, was, mine, theirs in zip(names, initial, ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=TRAIN_RTOL, atol=TRAIN_ATOL, err_msg=name)
        assert not np.allclose(mine, was), name  # every weight moved, in both
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras_model.predict(x, verbose=0),
                               rtol=TRAIN_RTOL, atol=TRAIN_ATOL)


def test_a_keras_file_opens_in_course_lib_and_a_course_lib_file_opens_in_keras(tmp_path):
    x, y = _data(1)
    keras.utils.set_random_seed(1)
    theirs = _conv_model(keras)
    theirs.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    theirs.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)  # weights away from their initializers
    theirs.save(tmp_path / "keras.keras")
    ours = cl.models.load_model(tmp_path / "keras.keras")
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in theirs.layers]
    for mine, reference in zip(ours.layers, theirs.layers, strict=True):
        assert mine.get_config() == reference.get_config(), mine.name
    expected = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=RTOL, atol=1e-6)
    # And back: the file course_lib writes opens in Keras with the same predictions.
    ours.save(tmp_path / "ours.keras")
    again = keras.models.load_model(tmp_path / "ours.keras")
    assert [[w.name for w in layer.weights] for layer in again.layers] == \
        [[w.name for w in layer.weights] for layer in theirs.layers]
    np.testing.assert_allclose(again.predict(x, verbose=0), expected, rtol=RTOL, atol=1e-6)
    # A model made in course_lib, saved, opens in Keras and predicts the same.
    cl.utils.set_random_seed(2)
    made = _conv_model(cl, groups=2)
    made.compile(cl.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    made.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    made.save(tmp_path / "made.keras")
    opened = keras.models.load_model(tmp_path / "made.keras")
    assert opened.get_layer("gn").get_config() == made.get_layer("gn").get_config()
    np.testing.assert_allclose(opened.predict(x, verbose=0), made.predict(x, verbose=0), rtol=RTOL, atol=1e-6)
