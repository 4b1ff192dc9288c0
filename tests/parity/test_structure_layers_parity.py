"""RepeatVector, Permute, Dot, Identity and ActivityRegularization give tf.keras's numbers, computed in the same test.

Forward values and input gradients (``tf.GradientTape.gradient(y, inputs, output_gradients=dy)``)
are compared in float32 on the same inputs; Dot with every form of ``axes`` and
``normalize``, including vectors whose norm is under Keras's epsilon. Configs are
compared key by key and rebuilt in the other library. ActivityRegularization's
penalty is compared in ``losses``, in the gradient of ``loss + sum(model.losses)``
with respect to the input, and in a whole ``fit`` History; a siamese cosine-similarity
head (a shared Dense tower and ``Dot(normalize=True)``) trains for a few Adam steps
to the same weights; masks go through Identity and ActivityRegularization and stop at
Dot as in Keras; ``.keras`` files written by one library open in the other with the
same predictions.

Measured against tf.keras 3.15 on CPU: RepeatVector, Permute, Identity and
ActivityRegularization (forwards, gradients, penalties) and the mask cases are
bit-exact (0.0 difference). Dot differs by rounding only (TensorFlow's matmul
sums in another order; its rsqrt): up to 1.9e-6 absolute on values up to 30
(6e-8 relative) without normalize, 3e-7 with it; the penalty's input gradient
1.2e-7; the Adam-trained siamese weights 1.5e-7; the fit History and weights
2.4e-7; the file predictions 2.2e-7. Hence rtol 1e-5 with atol 1e-6, as the
other parity tests.
"""
import json

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)
from keras_tape import assert_same_fit, keras_forward_backward  # noqa: E402

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6


def _normal(shape, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype("float32")


def _compare(ours, theirs, xs, dy_seed=1):
    """Forward and input gradients of both layers on the same inputs (a list for several inputs)."""
    several = isinstance(xs, list)
    y = ours(xs)
    dy = _normal(y.shape, dy_seed)
    dx = ours.backward(dy)
    expected_y, expected_dx = keras_forward_backward(theirs, xs if several else [xs], dy)
    assert y.dtype == np.float32 and y.shape == expected_y.shape
    np.testing.assert_allclose(y, expected_y, rtol=RTOL, atol=ATOL, err_msg="forward")
    for mine, reference in zip(dx if several else [dx], expected_dx, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=RTOL, atol=ATOL, err_msg="input gradient")
    return y


def _configs_agree(ours, theirs):
    mine, keras_config = ours.get_config(), theirs.get_config()
    mine.pop("name"), keras_config.pop("name")
    assert mine == keras_config
    rebuilt = cl.testing.layer_from_keras(theirs)
    back = cl.testing.layer_to_keras(ours)
    assert type(rebuilt) is type(ours) and type(back) is type(theirs)
    assert {k: v for k, v in rebuilt.get_config().items() if k != "name"} == keras_config
    assert {k: v for k, v in back.get_config().items() if k != "name"} == keras_config


def _shapes_agree(ours, theirs, shapes):
    assert tuple(ours.compute_output_shape(shapes)) == tuple(theirs.compute_output_shape(shapes))


# ------------------------------------------------------------ RepeatVector, Permute
@pytest.mark.parametrize("n", [1, 4])
def test_repeat_vector_matches_keras(n):
    ours, theirs = cl.layers.RepeatVector(n), keras.layers.RepeatVector(n)
    _compare(ours, theirs, _normal((3, 5)))
    _shapes_agree(ours, theirs, (None, 5))
    _configs_agree(ours, theirs)
    symbolic = (cl.layers.RepeatVector(n)(cl.Input((5,))), keras.layers.RepeatVector(n)(keras.Input((5,))))
    assert symbolic[0].shape == tuple(symbolic[1].shape)


@pytest.mark.parametrize("dims, shape", [
    ((2, 1), (3, 4, 5)), ((1, 2), (3, 4, 5)), ((3, 1, 2), (2, 3, 4, 5)), ((2, 3, 1), (2, 3, 4, 5)),
    ((1,), (3, 4)), ((4, 2, 3, 1), (2, 3, 2, 4, 2)),
], ids=["swap", "identity", "cycle", "cycle-back", "rank-2", "rank-5"])
def test_permute_matches_keras(dims, shape):
    ours, theirs = cl.layers.Permute(dims), keras.layers.Permute(dims)
    _compare(ours, theirs, _normal(shape))
    _shapes_agree(ours, theirs, (None,) + shape[1:])
    _configs_agree(ours, theirs)


def test_invalid_arguments_are_refused_by_both():
    for library in (keras, cl):
        for dims in ((1, 3), (0, 1), (1, 1)):
            with pytest.raises(ValueError):
                library.layers.Permute(dims)
        with pytest.raises(TypeError):
            library.layers.RepeatVector(2.0)
        with pytest.raises(ValueError):
            library.layers.RepeatVector(0)
        with pytest.raises(ValueError):
            library.layers.RepeatVector(2)(library.Input((3, 4)))
        with pytest.raises(TypeError):
            library.layers.Dot("1")
        with pytest.raises(ValueError):
            library.layers.Dot((1, 2, 3))
        with pytest.raises(ValueError):
            library.layers.Dot(1)([library.Input((3,)), library.Input((4,))])
        with pytest.raises(ValueError):
            library.layers.ActivityRegularization(l1=-1.0)


# ------------------------------------------------------------------------ Dot
DOT_CASES = [
    ("int-2d", 1, (4, 5), (4, 5)),
    ("negative-int-2d", -1, (4, 5), (4, 5)),
    ("int-3d", 1, (3, 4, 5), (3, 4, 6)),
    ("negative-int-3d", -1, (3, 4, 5), (3, 6, 5)),
    ("pair", (2, 1), (3, 4, 5), (3, 5, 6)),
    ("list-pair", [1, 2], (3, 4, 5), (3, 6, 4)),
    ("pair-negatives", (-1, -2), (3, 4, 5), (3, 5, 6)),
    ("3d-with-2d", (2, 1), (3, 4, 5), (3, 5)),
    ("2d-with-3d", (1, 1), (3, 5), (3, 5, 6)),
    ("4d-with-3d", (-1, 2), (2, 3, 4, 5), (2, 6, 5)),
    ("3d-with-4d", (1, -1), (2, 3, 4), (2, 5, 2, 3)),
]


@pytest.mark.parametrize("normalize", [False, True], ids=["plain", "normalize"])
@pytest.mark.parametrize("axes, x_shape, y_shape", [c[1:] for c in DOT_CASES], ids=[c[0] for c in DOT_CASES])
def test_dot_matches_keras(axes, x_shape, y_shape, normalize):
    ours, theirs = cl.layers.Dot(axes, normalize=normalize), keras.layers.Dot(axes, normalize=normalize)
    _compare(ours, theirs, [_normal(x_shape, 2, 2.0), _normal(y_shape, 3, 2.0)])
    _shapes_agree(ours, theirs, [(None,) + x_shape[1:], (None,) + y_shape[1:]])
    _configs_agree(ours, theirs)


def test_dot_normalize_under_keras_s_epsilon_matches_keras():
    """Zero and tiny vectors: Keras's ``min(rsqrt(sum(x**2)), 1 / epsilon)`` and its gradient."""
    x = np.array([[0.0, 0.0, 0.0], [1e-9, -2e-9, 2e-9], [1e-8, 5e-8, 0.0], [1.0, 2.0, 2.0]], "float32")
    y = _normal((4, 3), 5)
    y[0] = 0.0
    ours, theirs = cl.layers.Dot(-1, normalize=True), keras.layers.Dot(-1, normalize=True)
    _compare(ours, theirs, [x, y])
    _compare(cl.layers.Dot(-1, normalize=True), keras.layers.Dot(-1, normalize=True), [y, x])


def test_the_functional_dot_matches_keras_s_default_axes():
    x, y = _normal((3, 4, 5), 1), _normal((3, 6, 5), 2)
    np.testing.assert_allclose(cl.layers.dot([x, y]), keras.layers.dot([x, y]).numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(cl.layers.dot([x, x], axes=1, normalize=True),
                               keras.layers.dot([x, x], axes=1, normalize=True).numpy(), rtol=RTOL, atol=ATOL)


def _siamese(library, normalize=True):
    left, right = library.Input((6,), name="left"), library.Input((6,), name="right")
    tower = library.layers.Dense(5, activation="tanh", name="tower")
    similarity = library.layers.Dot(axes=1, normalize=normalize, name="cosine")([tower(left), tower(right)])
    outputs = library.layers.Dense(1, activation="sigmoid", name="head")(similarity)
    return library.Model([left, right], outputs)


def test_a_siamese_cosine_head_trains_to_keras_s_weights_with_adam():
    generator = np.random.default_rng(11)
    left, right = _normal((16, 6), 12), _normal((16, 6), 13)
    labels = generator.integers(0, 2, (16, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    theirs = _siamese(keras)
    ours = cl.testing.from_keras(theirs)
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in theirs.layers]
    for model, library in ((theirs, keras), (ours, cl)):
        model.compile(library.optimizers.Adam(learning_rate=0.05), "binary_crossentropy")
    start = theirs.get_weights()
    for step in range(5):
        batch = slice(4 * (step % 4), 4 * (step % 4) + 4)
        keras_loss = theirs.train_on_batch([left[batch], right[batch]], labels[batch])
        our_loss = ours.train_on_batch([left[batch], right[batch]], labels[batch])
        np.testing.assert_allclose(our_loss, keras_loss, rtol=RTOL, atol=ATOL, err_msg=f"loss at step {step}")
    for mine, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, expected, rtol=RTOL, atol=ATOL)
    assert any(not np.allclose(w, s) for w, s in zip(ours.get_weights(), start))
    np.testing.assert_allclose(ours.predict([left, right], verbose=0), theirs.predict([left, right], verbose=0),
                               rtol=RTOL, atol=ATOL)


# ---------------------------------------------------- Identity, ActivityRegularization
def test_identity_matches_keras():
    ours, theirs = cl.layers.Identity(), keras.layers.Identity()
    _compare(ours, theirs, _normal((3, 4, 2)))
    _configs_agree(ours, theirs)
    assert ours.built and theirs.built


@pytest.mark.parametrize("kwargs", [{}, {"l1": 0.3}, {"l2": 0.2}, {"l1": 0.05, "l2": 0.7}],
                         ids=["default", "l1", "l2", "both"])
def test_activity_regularization_matches_keras_values_losses_and_config(kwargs):
    x = _normal((5, 3, 2), 4, 2.0)
    ours, theirs = cl.layers.ActivityRegularization(**kwargs), keras.layers.ActivityRegularization(**kwargs)
    _compare(ours, theirs, x)  # the layer's own gradient: the upstream one, unchanged, in both
    assert len(ours.losses) == len(theirs.losses) == 1
    np.testing.assert_allclose(float(ours.losses[0]), float(theirs.losses[0]), rtol=RTOL, atol=ATOL)
    _configs_agree(ours, theirs)


def _regularized(library):
    return library.Sequential([
        library.Input((4,)),
        library.layers.Dense(6, activation="tanh", name="hidden"),
        library.layers.ActivityRegularization(l1=0.02, l2=0.05, name="activity"),
        library.layers.Dense(2, name="out"),
    ])


def test_activity_regularization_penalty_gradient_reaches_the_input_as_in_keras():
    """``d(sum(y * dy) + sum(model.losses)) / dx`` on both tapes: the penalty's gradient goes through."""
    keras.utils.set_random_seed(1)
    theirs = _regularized(keras)
    ours = cl.testing.from_keras(theirs)
    x = _normal((5, 4), 6)
    dy = _normal((5, 2), 7)
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        keras_y = theirs(tensor)
        keras_loss = tf.reduce_sum(keras_y * dy) + tf.add_n(theirs.losses)
    keras_dx = tape.gradient(keras_loss, tensor).numpy()
    with cl.GradientTape() as our_tape:
        our_y = ours(x)
        penalty = sum(ours.losses)
    # The tape's targets: y with upstream dy, plus the penalty (a loss on the tape).
    our_dx = our_tape.gradient([our_y, penalty], x, output_gradients=[dy, None])
    np.testing.assert_allclose(float(penalty), float(tf.add_n(theirs.losses)), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(np.asarray(our_y), keras_y.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(our_dx, keras_dx, rtol=RTOL, atol=ATOL)
    # Without the penalty, Keras's gradient is another one: the comparison above did see it.
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        plain = tf.reduce_sum(theirs(tensor) * dy)
    assert not np.allclose(tape.gradient(plain, tensor).numpy(), keras_dx, rtol=RTOL, atol=ATOL)


def test_fit_with_activity_regularization_gives_keras_s_loss_history():
    generator = np.random.default_rng(8)
    x = generator.standard_normal((40, 4)).astype("float32")
    y = generator.standard_normal((40, 2)).astype("float32")
    keras.utils.set_random_seed(2)
    theirs = _regularized(keras)
    ours = cl.testing.from_keras(theirs)
    for model, library in ((theirs, keras), (ours, cl)):
        model.compile(library.optimizers.Adam(learning_rate=0.01), "mse", metrics=["mae"])
    kwargs = dict(epochs=4, batch_size=8, shuffle=False, verbose=0, validation_split=0.25)
    assert_same_fit(ours, theirs, x, y, RTOL, ATOL, **kwargs)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, expected, rtol=RTOL, atol=ATOL)
    # The reported loss holds the penalty: it is above the bare mse.
    bare = np.mean((ours.predict(x[:30], verbose=0) - y[:30]) ** 2)
    assert ours.evaluate(x[:30], y[:30], verbose=0)[0] > bare
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------- masks
@pytest.mark.parametrize("layer", ["Identity", "ActivityRegularization", "Dot"])
def test_masks_pass_or_stop_as_in_keras(layer):
    def build(library):
        ids = library.Input((4,), dtype="int32")
        embedded = library.layers.Embedding(5, 3, mask_zero=True, name="embedding")(ids)
        if layer == "Dot":
            hidden = library.layers.Dot(axes=2)([embedded, embedded])
        else:
            hidden = getattr(library.layers, layer)()(embedded)
        return library.Model(ids, library.layers.GlobalAveragePooling1D()(hidden))

    theirs = build(keras)
    ours = build(cl)
    ours.set_weights(theirs.get_weights())
    tokens = np.array([[1, 2, 0, 0], [3, 0, 0, 0], [4, 4, 1, 2]])
    np.testing.assert_allclose(ours.predict(tokens, verbose=0), theirs.predict(tokens, verbose=0),
                               rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------- files
def _structured(library):
    left, right = library.Input((6,), name="left"), library.Input((6,), name="right")
    tower = library.layers.Dense(4, activation="tanh", name="tower")
    a, b = tower(left), tower(right)
    cosine = library.layers.Dot(axes=-1, normalize=True, name="cosine")([a, b])
    sequence = library.layers.RepeatVector(3, name="repeat")(library.layers.Identity(name="identity")(a))
    permuted = library.layers.Permute((2, 1), name="permute")(sequence)  # (batch, 4, 3)
    attended = library.layers.Dot(axes=(1, 1), name="gram")([permuted, permuted])  # (batch, 3, 3)
    regularized = library.layers.ActivityRegularization(l1=0.01, l2=0.02, name="activity")(
        library.layers.Flatten(name="flat")(attended))
    merged = library.layers.Concatenate(name="concat")([cosine, regularized])
    return library.Model([left, right], library.layers.Dense(2, name="out")(merged))


def _as_saved(config):
    """A config as a file holds it: JSON has no tuples (both libraries read ``axes=(1, 1)`` back as a list)."""
    return json.loads(json.dumps(config))


def _inputs():
    return [_normal((7, 6), 20), _normal((7, 6), 21)]


def test_a_keras_file_with_the_structure_layers_opens_in_course_lib_and_back(tmp_path):
    keras.utils.set_random_seed(3)
    original = _structured(keras)
    original.save(tmp_path / "from_keras.keras")
    loaded = cl.models.load_model(tmp_path / "from_keras.keras")
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in original.layers]
    for name in ("cosine", "repeat", "identity", "permute", "gram", "activity"):
        assert _as_saved(loaded.get_layer(name).get_config()) == _as_saved(original.get_layer(name).get_config()), name
    x = _inputs()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), original.predict(x, verbose=0), rtol=RTOL, atol=ATOL)
    loaded(x)
    original(x)
    np.testing.assert_allclose(float(sum(loaded.losses)), float(tf.add_n(original.losses)), rtol=RTOL, atol=ATOL)
    loaded.save(tmp_path / "back.keras")
    again = keras.models.load_model(tmp_path / "back.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), original.predict(x, verbose=0), rtol=RTOL, atol=ATOL)


def test_a_course_lib_file_with_the_structure_layers_opens_in_keras(tmp_path):
    cl.utils.set_random_seed(4)
    original = _structured(cl)
    original.save(tmp_path / "from_course_lib.keras")
    loaded = keras.models.load_model(tmp_path / "from_course_lib.keras")
    for name in ("cosine", "repeat", "identity", "permute", "gram", "activity"):
        assert _as_saved(loaded.get_layer(name).get_config()) == _as_saved(original.get_layer(name).get_config()), name
    x = _inputs()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), original.predict(x, verbose=0), rtol=RTOL, atol=ATOL)
    # A model trained in one library and evaluated in the other: the penalty is counted the same.
    y = _normal((7, 2), 22)
    for model, library in ((original, cl), (loaded, keras)):
        model.compile(library.optimizers.SGD(0.1), "mse")
    np.testing.assert_allclose(original.evaluate(x, y, verbose=0), loaded.evaluate(x, y, verbose=0),
                               rtol=RTOL, atol=ATOL)
