"""Keras 3's newer activations and AlphaDropout give tf.keras's numbers, computed in the same test.

Activations: forward values and ``tf.GradientTape`` gradients on the same float32
inputs (normal*2, uniform in [-30, 30] and the kinks themselves), and the names
Keras serializes. sparsemax: Keras 3.15 computes its threshold from the sum of
the cumulative sums (keras-team/keras#23425, fixed upstream by #23469), which is
wrong whenever more than one entry is kept; course_lib uses the paper's
threshold. So sparsemax is compared with Keras 3.15 itself on inputs whose
support is one entry (where both agree), and, on any input, with the upstream
fix written in TensorFlow ops in the test (its values and its GradientTape
gradients); a third test shows Keras 3.15's outputs there do not sum to 1.

AlphaDropout: Keras's stateless TensorFlow draw cannot be reproduced in NumPy, so
Keras's ``backend.random.uniform`` is replaced, for the test only, by a function
drawing from ``np.random.default_rng(seed)`` with the shape Keras's layer asks
for, and course_lib's layer gets a generator with that seed: Keras's own
``call`` (its formula, its noise shape) and TensorFlow's gradient meet
course_lib's. Keras's real draws are compared statistically.

Measured against tf.keras 3.15 on CPU (the inputs reach +-1e4): hard_shrink,
hard_tanh, soft_shrink, sparse_sigmoid and threshold are bit-exact; the others
within 9.5e-7 absolute forward (log_sigmoid at -1e4, i.e. 1e-10 relative) and
7.2e-7 in gradient (tanh_shrink), except glu, whose a * sigmoid(b) differs by up
to 4.9e-4 on values near 1e4 (5e-8 relative); sparsemax against the fixed formula
within 2.4e-7; AlphaDropout, given the same draw, bit-exact forward and backward.
Hence rtol 1e-5 with atol 1e-6, as the other parity tests.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import activations

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)
from keras.src import backend as keras_backend  # noqa: E402
from keras_tape import keras_forward_backward  # noqa: E402

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6

CASES = [
    ("celu", {}, [0.0]),
    ("celu", {"alpha": 0.5}, [0.0]),
    ("celu", {"alpha": 2.0}, [0.0]),
    ("glu", {}, []),
    ("glu", {"axis": 0}, []),
    ("hard_shrink", {}, [0.5, -0.5]),
    ("hard_shrink", {"threshold": 1.0}, [1.0, -1.0]),
    ("hard_tanh", {}, [1.0, -1.0]),
    ("log_sigmoid", {}, [0.0]),
    ("soft_shrink", {}, [0.5, -0.5]),
    ("soft_shrink", {"threshold": 2.0}, [2.0, -2.0]),
    ("sparse_plus", {}, [1.0, -1.0]),
    ("sparse_sigmoid", {}, [1.0, -1.0]),
    ("squareplus", {}, [0.0]),
    ("squareplus", {"b": 0.5}, [0.0]),
    ("tanh_shrink", {}, [0.0]),
    ("threshold", {"threshold": 0.5, "default_value": -3.0}, [0.5]),
    ("threshold", {"threshold": -1.0, "default_value": 0.0}, [-1.0]),
]
CASE_IDS = [name + "".join(f"-{k}={v}" for k, v in kw.items()) for name, kw, _ in CASES]


def _inputs(kinks, seed=0):
    generator = np.random.default_rng(seed)
    values = np.concatenate([2 * generator.standard_normal(120), generator.uniform(-30, 30, 60),
                             np.repeat(np.asarray(kinks, np.float64), 3), [-88.5, 88.5, 1e4, -1e4]])
    values = np.resize(generator.permutation(values), 8 * 30)
    return values.reshape(8, 30).astype("float32")


def _keras_activation(name, kwargs, x, dy):
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        y = getattr(keras.activations, name)(tensor, **kwargs)
    return y.numpy(), tape.gradient(y, tensor, output_gradients=tf.constant(dy)).numpy()


@pytest.mark.parametrize("name, kwargs, kinks", CASES, ids=CASE_IDS)
def test_forward_and_gradient_match_keras(name, kwargs, kinks):
    x = _inputs(kinks)
    for kink in kinks:  # the kinks themselves are in the input
        assert np.any(x == np.float32(kink))
    fn = getattr(activations, name)
    y = fn(x, **kwargs)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype("float32")
    dx = fn.backward(x, y, dy, **kwargs)
    expected_y, expected_dx = _keras_activation(name, kwargs, x, dy)
    assert y.dtype == np.float32 and dx.dtype == np.float32 and y.shape == expected_y.shape
    np.testing.assert_allclose(y, expected_y, rtol=RTOL, atol=ATOL, err_msg="forward")
    np.testing.assert_allclose(dx, expected_dx, rtol=RTOL, atol=ATOL, err_msg="gradient")


@pytest.mark.parametrize("axis", [-1, 0])
def test_sparsemax_matches_keras_where_one_entry_is_kept(axis):
    generator = np.random.default_rng(2)
    x = generator.standard_normal((6, 7)).astype("float32")
    # The largest entry of each slice 1.5 above the others: a support of one entry.
    top = np.argmax(x, axis=axis)
    np.put_along_axis(x, np.expand_dims(top, axis), np.max(x, axis=axis, keepdims=True) + 1.5, axis=axis)
    dy = generator.standard_normal(x.shape).astype("float32")
    y = activations.sparsemax(x, axis=axis)
    expected_y, expected_dx = _keras_activation("sparsemax", {"axis": axis}, x, dy)
    assert np.all(np.sum(y > 0, axis=axis) == 1)
    np.testing.assert_allclose(y, expected_y, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(activations.sparsemax.backward(x, y, dy, axis=axis), expected_dx,
                               rtol=RTOL, atol=ATOL)


def _fixed_sparsemax_in_tensorflow(x, axis):
    """Keras's TensorFlow sparsemax with the upstream fix (keras-team/keras#23469): the support's sum."""
    ordered = tf.sort(x, direction="DESCENDING", axis=axis)
    cumulative = tf.cumsum(ordered, axis=axis)
    shape = [1] * len(x.shape)
    shape[axis] = -1
    ranks = tf.reshape(tf.range(1, tf.shape(x)[axis] + 1, dtype=x.dtype), shape)
    support = ordered - (cumulative - 1) / ranks > 0
    k = tf.reduce_sum(tf.cast(support, x.dtype), axis=axis, keepdims=True)
    tau = (tf.reduce_sum(tf.where(support, ordered, 0.0), axis=axis, keepdims=True) - 1) / k
    return tf.maximum(x - tau, 0.0)


@pytest.mark.parametrize("axis, scale", [(-1, 1.0), (-1, 0.3), (1, 1.0), (0, 0.5)])
def test_sparsemax_matches_the_upstream_fix_in_tensorflow(axis, scale):
    generator = np.random.default_rng(3)
    x = (scale * generator.standard_normal((5, 6, 8))).astype("float32")
    dy = generator.standard_normal(x.shape).astype("float32")
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        expected = _fixed_sparsemax_in_tensorflow(tensor, axis)
    expected_dx = tape.gradient(expected, tensor, output_gradients=tf.constant(dy)).numpy()
    y = activations.sparsemax(x, axis=axis)
    assert np.any(np.sum(y > 0, axis=axis) > 1)  # supports larger than one entry are exercised
    np.testing.assert_allclose(y, expected.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(activations.sparsemax.backward(x, y, dy, axis=axis), expected_dx,
                               rtol=RTOL, atol=ATOL)


def test_keras_3_15_sparsemax_differs_only_where_it_misses_the_simplex():
    x = np.array([[0.0, 0.5, 1.0], [3.0, 0.0, -1.0]], dtype="float32")
    theirs = keras.activations.sparsemax(tf.constant(x)).numpy()
    ours = activations.sparsemax(x)
    np.testing.assert_allclose(ours.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(ours[1], theirs[1])  # one entry kept: the same
    if not np.allclose(ours[0], theirs[0]):
        assert not np.isclose(theirs[0].sum(), 1.0)  # Keras's does not sum to 1 there


def test_keras_serialized_names_and_activation_layers_are_understood():
    x = _inputs([0.0], seed=4)
    for name, kwargs, _ in CASES:
        if kwargs:
            continue
        keras_name = keras.activations.serialize(keras.activations.get(name))
        assert activations.deserialize(keras_name) is getattr(activations, name)
        theirs = keras.layers.Activation(name)
        ours = cl.testing.layer_from_keras(theirs)
        assert ours.get_config() == {**theirs.get_config(), "name": ours.name}
        assert cl.testing.layer_to_keras(ours).get_config()["activation"] == name
        y = ours(x)
        dy = np.random.default_rng(5).standard_normal(y.shape).astype("float32")
        expected_y, (expected_dx,) = keras_forward_backward(theirs, [x], dy)
        np.testing.assert_allclose(y, expected_y, rtol=RTOL, atol=ATOL, err_msg=name)
        np.testing.assert_allclose(ours.backward(dy), expected_dx, rtol=RTOL, atol=ATOL, err_msg=name)


# -------------------------------------------------------------------- AlphaDropout
@pytest.mark.parametrize("rate, noise_shape, shape", [
    (0.3, None, (4, 6)),
    (0.1, None, (3, 4, 5)),
    (0.5, (None, 1, 5), (3, 4, 5)),
], ids=["2d", "3d", "noise-shape"])
def test_alpha_dropout_matches_keras_given_the_same_draw(monkeypatch, rate, noise_shape, shape):
    draw_seed = 9
    asked = []

    def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        asked.append(tuple(int(s) for s in shape))
        return tf.constant(np.random.default_rng(draw_seed).random(asked[-1]).astype("float32"))

    monkeypatch.setattr(keras_backend.random, "uniform", uniform)
    x = (2 * np.random.default_rng(0).standard_normal(shape)).astype("float32")
    theirs = keras.layers.AlphaDropout(rate, noise_shape=noise_shape)
    ours = cl.layers.AlphaDropout(rate, noise_shape=noise_shape)
    ours._rng = np.random.default_rng(draw_seed)
    y = ours(x, training=True)
    dy = np.random.default_rng(1).standard_normal(shape).astype("float32")
    dx = ours.backward(dy)
    expected_y, (expected_dx,) = keras_forward_backward(theirs, [x], dy, training=True)
    expected_shape = shape if noise_shape is None else tuple(
        s if n is None else n for s, n in zip(shape, noise_shape))
    assert asked == [expected_shape]  # Keras's noise shape is ours
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected_y, rtol=RTOL, atol=ATOL, err_msg="forward")
    np.testing.assert_allclose(dx, expected_dx, rtol=RTOL, atol=ATOL, err_msg="input gradient")
    assert np.any(dx == 0) and np.any(dx != 0)
    # Inference: the identity in both.
    np.testing.assert_array_equal(ours(x), x)
    np.testing.assert_array_equal(theirs(x, training=False).numpy(), x)


def test_alpha_dropout_real_keras_draws_have_our_statistics():
    rate = 0.2
    x = np.random.default_rng(3).standard_normal((1000, 100)).astype("float32")
    keras_y = keras.layers.AlphaDropout(rate, seed=1)(x, training=True).numpy()
    ours_y = cl.layers.AlphaDropout(rate, seed=1)(x, training=True)
    alpha_p = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    dropped_value = np.float32(a * alpha_p - a * alpha_p * rate)
    for y in (keras_y, ours_y):
        assert abs(y.mean()) < 0.02 and abs(y.var() - 1) < 0.03
        assert abs(np.mean(np.isclose(y, dropped_value, rtol=1e-6)) - rate) < 0.01


def test_alpha_dropout_config_and_files_both_ways(tmp_path):
    theirs = keras.layers.AlphaDropout(0.25, noise_shape=(None, 1), seed=3)
    ours = cl.layers.AlphaDropout(0.25, noise_shape=(None, 1), seed=3)
    mine, keras_config = ours.get_config(), theirs.get_config()
    mine.pop("name"), keras_config.pop("name")
    assert mine == keras_config
    assert type(cl.testing.layer_from_keras(theirs)) is cl.layers.AlphaDropout
    back = cl.testing.layer_to_keras(ours)
    assert {k: v for k, v in back.get_config().items() if k != "name"} == keras_config

    def model(library):
        return library.Sequential([library.Input((4,)), library.layers.Dense(3, activation="selu", name="d"),
                                   library.layers.AlphaDropout(0.2, name="ad"),
                                   library.layers.Dense(2, activation="sparse_plus", name="out")])

    x = np.random.default_rng(2).standard_normal((5, 4)).astype("float32")
    keras_model = model(keras)
    keras_model.save(tmp_path / "from_keras.keras")
    loaded = cl.models.load_model(tmp_path / "from_keras.keras")
    assert loaded.get_layer("ad").get_config() == keras_model.get_layer("ad").get_config()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), keras_model.predict(x, verbose=0),
                               rtol=RTOL, atol=ATOL)
    ours_model = model(cl)
    ours_model.save(tmp_path / "from_course_lib.keras")
    opened = keras.models.load_model(tmp_path / "from_course_lib.keras")
    assert opened.get_layer("ad").get_config() == ours_model.get_layer("ad").get_config()
    np.testing.assert_allclose(opened.predict(x, verbose=0), ours_model.predict(x, verbose=0),
                               rtol=RTOL, atol=ATOL)


def test_glu_halves_the_symbolic_shape_where_keras_s_keeps_the_input_s():
    """A deliberate difference (the reference appendix says so): Keras's symbolic shape after glu is the
    input's, though its output is half as wide; course_lib's is the output's, so the next layer builds right."""
    shapes, outputs = [], []
    for library in (keras, cl):
        inputs = library.Input((4, 6))
        symbolic = library.layers.Dense(6, activation="glu")(inputs)
        shapes.append([tuple(library.layers.Activation("glu")(inputs).shape), tuple(symbolic.shape)])
        outputs.append(np.asarray(library.Model(inputs, symbolic)(np.ones((2, 4, 6), "float32"))).shape)
    assert shapes == [[(None, 4, 6), (None, 4, 6)], [(None, 4, 3), (None, 4, 3)]]
    assert outputs == [(2, 4, 3), (2, 4, 3)]
