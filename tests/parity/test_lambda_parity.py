"""Lambda against tf.keras in the same test: configs, inferred shapes, gradients, training runs, files.

course_lib's function is written with NumPy, Keras's with keras.ops (or the
same Python where it is plain arithmetic); weights are copied from the Keras
model, both train on the same data, and the weights must agree after.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib.layers import lambda_layer

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
ops = keras.ops

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def named_scale(x, scale=1.0):
    return x * scale


def _without_name(config):
    return {key: value for key, value in config.items() if key != "name"}


# ---------------------------------------------------------------- configs
@pytest.mark.parametrize("kwargs", [
    {},
    {"output_shape": (3,)},
    {"output_shape": [(3,), (4,)]},
    {"arguments": {"scale": 2.0, "table": np.arange(3)}},
    {"mask": lambda inputs, mask: mask},
    {"output_shape": lambda shape: shape, "arguments": {"scale": 0.5}},
])
@pytest.mark.parametrize("function", [lambda x: x / 255.0, named_scale])
def test_get_config_equals_keras(function, kwargs):
    ours = cl.layers.Lambda(function, **kwargs).get_config()
    theirs = keras.layers.Lambda(function, **kwargs).get_config()
    assert list(ours) == list(theirs)
    assert _without_name(ours) == _without_name(theirs)


def test_get_config_of_a_keras_activation_equals_keras():
    ours = cl.layers.Lambda(cl.activations.relu).get_config()
    theirs = keras.layers.Lambda(keras.activations.relu).get_config()
    assert ours["function"] == theirs["function"]


def test_configs_cross_both_ways_with_keras_safe_mode_rules():
    theirs = keras.layers.Lambda(lambda x: x / 255.0 + 1.0)
    ours_config = cl.layers.Lambda(lambda x: x * 3.0 - 1.0).get_config()
    with pytest.raises(ValueError, match="Requested the deserialization of a `Lambda` layer whose") as keras_refusal:
        keras.layers.Lambda.from_config(dict(ours_config))
    with pytest.raises(ValueError, match="Requested the deserialization of a `Lambda` layer whose") as our_refusal:
        cl.layers.Lambda.from_config(dict(theirs.get_config()))
    assert str(our_refusal.value).startswith(str(keras_refusal.value))
    x = _normal((2, 3))
    ours = cl.layers.Lambda.from_config(dict(theirs.get_config()), safe_mode=False)
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), rtol=RTOL, atol=ATOL)
    back = keras.layers.Lambda.from_config(dict(ours_config), safe_mode=False)
    np.testing.assert_allclose(np.asarray(back(x)), x * 3.0 - 1.0, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------- shapes
SHAPE_CASES = [
    (lambda t: np.sqrt(np.sum(t ** 2, axis=-1, keepdims=True)),
     lambda t: ops.sqrt(ops.sum(t ** 2, axis=-1, keepdims=True)), [(4, 5)]),
    (lambda t: np.reshape(t, (-1, 2)), lambda t: ops.reshape(t, (-1, 2)), [(4, 5)]),
    (lambda t: t[:, :2], lambda t: t[:, :2], [(4, 5)]),
    (lambda t: t[:, 0] * 2.0, lambda t: t[:, 0] * 2.0, [(4, 5)]),
    (lambda t: np.transpose(t, (0, 2, 1)), lambda t: ops.transpose(t, (0, 2, 1)), [(4, 5)]),
    (lambda t: np.concatenate([t, t], axis=1), lambda t: ops.concatenate([t, t], axis=1), [(4, 5)]),
    (lambda t: np.expand_dims(t, 1), lambda t: ops.expand_dims(t, 1), [(3,)]),
    (lambda t: np.mean(t, axis=1), lambda t: ops.mean(t, axis=1), [(4, 5)]),
    (lambda t: t[0] * t[1], lambda t: t[0] * t[1], [(4,), (4,)]),
    (lambda t: [t, t[:, 0]], lambda t: [t, t[:, 0]], [(4, 5)]),
    (lambda t: np.stack([t, t], axis=-1), lambda t: ops.stack([t, t], axis=-1), [(3,)]),
]


@pytest.mark.parametrize("case", range(len(SHAPE_CASES)))
def test_inferred_output_shape_equals_keras(case):
    ours_fn, keras_fn, shapes = SHAPE_CASES[case]
    several = len(shapes) > 1
    our_inputs = [cl.Input(shape) for shape in shapes]
    keras_inputs = [keras.Input(shape) for shape in shapes]
    ours = cl.layers.Lambda(ours_fn)(our_inputs if several else our_inputs[0])
    theirs = keras.layers.Lambda(keras_fn)(keras_inputs if several else keras_inputs[0])
    if isinstance(theirs, (list, tuple)):
        assert [tuple(t.shape) for t in ours] == [tuple(t.shape) for t in theirs]
    else:
        assert tuple(ours.shape) == tuple(theirs.shape)


@pytest.mark.parametrize("output_shape, input_shape", [
    ((3, 4), (None, 4, 5)), ([(3,), (4,)], (7, 4, 5)), ((3,), [(7, 4, 5), (8, 1)]),
])
def test_given_output_shape_equals_keras(output_shape, input_shape):
    ours = cl.layers.Lambda(lambda t: t, output_shape=output_shape).compute_output_shape(input_shape)
    theirs = keras.layers.Lambda(lambda t: t, output_shape=output_shape).compute_output_shape(input_shape)
    assert (list(map(tuple, ours)) if isinstance(ours, list) else ours) == \
        (list(map(tuple, theirs)) if isinstance(theirs, list) else tuple(theirs))


# -------------------------------------------------------------- gradients
def test_input_gradient_of_a_many_op_function_equals_tf_gradient_tape():
    def ours_fn(t):
        a = np.maximum(t, 0.1) * np.tanh(t)[:, ::-1]
        b = np.clip(t, -0.5, 0.5) + np.where(t > 0, np.sqrt(np.abs(t) + 1.0), np.exp(t))
        return np.max(a, axis=-1, keepdims=True) * np.mean(b ** 2, axis=-1, keepdims=True) + t[:, [0, 0, 2]] @ t.T[:3]

    def keras_fn(t):
        a = ops.maximum(t, 0.1) * ops.tanh(t)[:, ::-1]
        b = ops.clip(t, -0.5, 0.5) + ops.where(t > 0, ops.sqrt(ops.abs(t) + 1.0), ops.exp(t))
        gathered = ops.take(t, [0, 0, 2], axis=1)
        return ops.max(a, axis=-1, keepdims=True) * ops.mean(b ** 2, axis=-1, keepdims=True) + \
            gathered @ ops.transpose(t)[:3]

    x = _normal((3, 4), 5)
    dy = _normal((3, 3), 6)
    ours = cl.layers.Lambda(ours_fn)
    y = ours(x, training=True)
    dx = ours.backward(dy)
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        expected = keras.layers.Lambda(keras_fn)(tensor)
    expected_dx = tape.gradient(expected, tensor, output_gradients=tf.constant(dy)).numpy()
    np.testing.assert_allclose(y, expected.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(dx, expected_dx, rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------- training
def _train_both(keras_model, our_model, inputs, targets, steps=4):
    cl.testing.copy_weights(keras_model, our_model)
    keras_model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    our_model.compile(optimizer=cl.optimizers.Adam(learning_rate=0.01), loss="mse")
    kwargs = dict(epochs=steps, batch_size=len(targets), shuffle=False, verbose=0)
    keras_loss = keras_model.fit(inputs, targets, **kwargs).history["loss"]
    our_loss = our_model.fit(inputs, targets, **kwargs).history["loss"]
    np.testing.assert_allclose(our_loss, keras_loss, rtol=RTOL, atol=ATOL)
    for ours, theirs in zip(our_model.get_weights(), keras_model.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


def test_sequential_with_a_rescaling_lambda_first_trains_as_keras():
    def build(library):
        return library.Sequential([
            library.Input((6,)), library.layers.Lambda(lambda x: x / 255.0),
            library.layers.Dense(5, activation="tanh"), library.layers.Dense(1),
        ])

    keras_model, our_model = build(keras), build(cl)
    x = np.abs(_normal((16, 6), 1)) * 255.0
    _train_both(keras_model, our_model, x, _normal((16, 1), 2))


def test_functional_model_with_a_norm_lambda_in_the_middle_trains_as_keras():
    def build(library, norm):
        inputs = library.Input((6,))
        hidden = library.layers.Dense(5, activation="tanh")(inputs)
        normed = library.layers.Lambda(norm)(hidden)
        outputs = library.layers.Dense(1)(library.layers.Concatenate()([hidden, normed]))
        return library.Model(inputs, outputs)

    keras_model = build(keras, lambda t: ops.sqrt(ops.sum(t ** 2, axis=-1, keepdims=True)))
    our_model = build(cl, lambda t: np.sqrt(np.sum(t ** 2, axis=-1, keepdims=True)))
    _train_both(keras_model, our_model, _normal((16, 6), 3), _normal((16, 1), 4))


def test_multi_input_product_lambda_trains_as_keras():
    def build(library):
        a, b = library.Input((4,)), library.Input((4,))
        product = library.layers.Lambda(lambda t: t[0] * t[1])(
            [library.layers.Dense(3)(a), library.layers.Dense(3, activation="tanh")(b)])
        return library.Model([a, b], library.layers.Dense(1)(product))

    keras_model, our_model = build(keras), build(cl)
    _train_both(keras_model, our_model, [_normal((16, 4), 5), _normal((16, 4), 6)], _normal((16, 1), 7))


# ------------------------------------------------------------------ files
def test_keras_files_with_a_lambda_cross_both_ways(tmp_path):
    def build(library):
        return library.Sequential([library.Input((3,)), library.layers.Lambda(lambda x: x / 255.0 - 0.5),
                                   library.layers.Dense(2)])

    x = np.abs(_normal((4, 3), 8)) * 255.0
    ours = build(cl)
    ours.save(tmp_path / "ours.keras")
    with pytest.raises(ValueError, match="Requested the deserialization of a `Lambda`"):
        keras.saving.load_model(tmp_path / "ours.keras")
    theirs = keras.saving.load_model(tmp_path / "ours.keras", safe_mode=False)
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), ours.predict(x, verbose=0),
                               rtol=RTOL, atol=ATOL)
    keras_model = build(keras)
    keras_model.save(tmp_path / "theirs.keras")
    with lambda_layer.safe_mode_scope(False):
        loaded = cl.models.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), np.asarray(keras_model.predict(x, verbose=0)),
                               rtol=RTOL, atol=ATOL)
