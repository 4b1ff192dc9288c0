"""RepeatVector, Permute, Dot, Identity and ActivityRegularization: behaviour, gradients, errors, configs.

Every backward is checked against central differences in float64 (relative
error < 1e-6, ``cl.testing.assert_gradients_close``): Dot with each form of
``axes`` (an int, a negative int, a pair, a pair with negative entries, inputs
of different ranks) with and without ``normalize``, also where a norm is under
Keras's epsilon (the capped factor); ActivityRegularization's penalty through
the engine's gradient of the training loss. The tf.keras comparison lives in
``tests/parity/test_structure_layers_parity.py``.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import layers, regularizers

GRADIENT_TOLERANCE = 1e-6


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _check(layer, inputs, **kwargs):
    report = cl.testing.assert_gradients_close(layer, inputs, tolerance=GRADIENT_TOLERANCE, **kwargs)
    assert report.max_error < GRADIENT_TOLERANCE
    return report


# --------------------------------------------------------------- RepeatVector
def test_repeat_vector_repeats_each_sample_and_sums_the_gradient():
    x = _normal((3, 4)).astype("float32")
    layer = layers.RepeatVector(5)
    y = layer(x)
    assert y.shape == (3, 5, 4) and y.dtype == np.float32
    np.testing.assert_array_equal(y, np.stack([x] * 5, axis=1))
    dy = _normal((3, 5, 4), 1).astype("float32")
    np.testing.assert_allclose(layer.backward(dy), dy.sum(axis=1), rtol=1e-6)
    assert layer.compute_output_shape((None, 4)) == (None, 5, 4)
    cl.testing.layer_test(layers.RepeatVector, {"n": 2}, input_shape=(2, 3), expected_output_shape=(None, 2, 3),
                          expected_num_weights=0)


@pytest.mark.parametrize("n", [1, 3])
def test_repeat_vector_gradient_in_float64(n):
    with cl.backend.floatx_scope("float64"):
        _check(layers.RepeatVector(n), _normal((4, 3)))


def test_repeat_vector_keeps_integers_and_symbolic_shapes():
    ids = np.array([[1, 2], [3, 4]], dtype="int32")
    y = layers.RepeatVector(2)(ids)
    assert y.dtype == np.int32 and y.tolist() == [[[1, 2], [1, 2]], [[3, 4], [3, 4]]]
    inputs = cl.Input((7,))
    assert layers.RepeatVector(3)(inputs).shape == (None, 3, 7)


def test_repeat_vector_errors_name_the_layer():
    with pytest.raises(TypeError, match=r"RepeatVector: n must be a positive int\. Received: n=2\.0"):
        layers.RepeatVector(2.0)
    with pytest.raises(TypeError, match=r"RepeatVector: n must be a positive int\. Received: n=True"):
        layers.RepeatVector(True)
    with pytest.raises(ValueError, match=r"RepeatVector: n must be a positive int\. Received: n=0"):
        layers.RepeatVector(0)
    with pytest.raises(ValueError, match=r"Input 0 of layer 'rv' is incompatible.*expected ndim=2, found ndim=3"):
        layers.RepeatVector(2, name="rv")(np.ones((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match=r"expected ndim=2, found ndim=3"):
        layers.RepeatVector(2)(cl.Input((3, 4)))


def test_repeat_vector_and_permute_stop_a_mask_as_keras():
    for layer in (layers.RepeatVector(2), layers.Permute((1,))):
        assert not layer.supports_masking
        inputs = cl.Input((4,))
        masked = layers.Masking(0.0)(inputs)  # a (batch,) mask: any entry not 0
        model = cl.Model(inputs, layer(masked))
        with pytest.warns(UserWarning, match=rf"Layer '{layer.name}' \({type(layer).__name__}\) does not support "
                                             "masking"):
            out = model.predict(np.array([[1.0, 2.0, 3.0, 4.0]]), verbose=0)
        assert model._last_output_masks == [None]
        np.testing.assert_allclose(out.reshape(-1)[:4], [1.0, 2.0, 3.0, 4.0])


# -------------------------------------------------------------------- Permute
@pytest.mark.parametrize("dims, shape", [
    ((2, 1), (3, 4, 5)), ((1, 2), (3, 4, 5)), ((3, 1, 2), (2, 3, 4, 5)), ((2, 3, 1), (2, 3, 4, 5)),
    ((1,), (3, 4)), ((4, 2, 3, 1), (2, 3, 2, 4, 2)),
], ids=["swap", "identity", "cycle", "cycle-back", "rank-2", "rank-5"])
def test_permute_forward_shape_and_gradient(dims, shape):
    x = _normal(shape).astype("float32")
    layer = layers.Permute(dims)
    y = layer(x)
    np.testing.assert_array_equal(y, np.transpose(x, (0,) + dims))
    expected_shape = (None,) + tuple(shape[d] for d in dims)
    assert layer.compute_output_shape((None,) + shape[1:]) == expected_shape
    assert layers.Permute(dims)(cl.Input(shape[1:])).shape == expected_shape
    with cl.backend.floatx_scope("float64"):
        _check(layers.Permute(dims), _normal(shape, 1))


def test_permute_keeps_integers_and_its_config():
    ids = np.arange(12, dtype="int64").reshape(2, 2, 3)
    y = layers.Permute((2, 1))(ids)
    assert y.dtype == np.int64 and y.shape == (2, 3, 2)
    layer = layers.Permute([2, 1])
    assert layer.dims == (2, 1) and layer.get_config()["dims"] == (2, 1)  # a tuple, as Keras stores it
    cl.testing.layer_test(layers.Permute, {"dims": (2, 1)}, input_shape=(2, 3, 4), expected_output_shape=(None, 4, 3))


@pytest.mark.parametrize("dims", [(1, 3), (0, 1), (2, 3), (1, 1), (1.0, 2.0), (True, 2)],
                         ids=["gap", "batch-axis", "not-from-1", "repeat", "floats", "bool"])
def test_permute_refuses_what_is_not_a_permutation(dims):
    with pytest.raises(ValueError, match=r"Permute: dims must be a permutation of 1, 2, \.\.\., len\(dims\)"):
        layers.Permute(dims)


def test_permute_errors_name_the_layer():
    with pytest.raises(TypeError, match=r"Permute: dims must be a tuple of ints\. Received: dims=2"):
        layers.Permute(2)
    with pytest.raises(ValueError, match=r"Input 0 of layer 'p' is incompatible.*expected ndim=3, found ndim=4"):
        layers.Permute((2, 1), name="p")(np.ones((2, 3, 4, 5), "float32"))


# ------------------------------------------------------------------------ Dot
DOT_CASES = [
    # (id, axes, shape of x, shape of y, output shape)
    ("int-2d", 1, (4, 5), (4, 5), (4, 1)),
    ("negative-int-2d", -1, (4, 5), (4, 5), (4, 1)),
    ("int-3d", 1, (3, 4, 5), (3, 4, 6), (3, 5, 6)),
    ("negative-int-3d", -1, (3, 4, 5), (3, 6, 5), (3, 4, 6)),
    ("pair", (2, 1), (3, 4, 5), (3, 5, 6), (3, 4, 6)),
    ("list-pair", [1, 2], (3, 4, 5), (3, 6, 4), (3, 5, 6)),
    ("pair-negatives", (-1, -2), (3, 4, 5), (3, 5, 6), (3, 4, 6)),
    ("3d-with-2d", (2, 1), (3, 4, 5), (3, 5), (3, 4)),
    ("2d-with-3d", (1, 1), (3, 5), (3, 5, 6), (3, 6)),
    ("4d-with-3d", (-1, 2), (2, 3, 4, 5), (2, 6, 5), (2, 3, 4, 6)),
    ("3d-with-4d", (1, -1), (2, 3, 4), (2, 5, 2, 3), (2, 4, 5, 2)),
]


@pytest.mark.parametrize("normalize", [False, True], ids=["plain", "normalize"])
@pytest.mark.parametrize("axes, x_shape, y_shape, out_shape", [c[1:] for c in DOT_CASES],
                         ids=[c[0] for c in DOT_CASES])
def test_dot_matches_an_einsum_and_its_gradient_is_exact(axes, x_shape, y_shape, out_shape, normalize):
    x, y = _normal(x_shape, 1), _normal(y_shape, 2)
    a, b = (axes, axes) if isinstance(axes, int) else axes
    a, b = a % len(x_shape), b % len(y_shape)
    xs, ys = x, y
    if normalize:
        xs = x / np.linalg.norm(x, axis=a, keepdims=True)
        ys = y / np.linalg.norm(y, axis=b, keepdims=True)
    xt, yt = np.moveaxis(xs, a, -1), np.moveaxis(ys, b, 1)
    reference = np.einsum("bmk,bkn->bmn", xt.reshape(len(x), -1, xt.shape[-1]),
                          yt.reshape(len(y), yt.shape[1], -1)).reshape(out_shape)
    with cl.backend.floatx_scope("float64"):
        layer = layers.Dot(axes, normalize=normalize)
        out = layer([x, y])
        assert out.shape == out_shape and out.dtype == np.float64
        np.testing.assert_allclose(out, reference, rtol=1e-12, atol=1e-12)
        assert layer.compute_output_shape([(None,) + x_shape[1:], (None,) + y_shape[1:]]) == (None,) + out_shape[1:]
        symbolic = layers.Dot(axes, normalize=normalize)([cl.Input(x_shape[1:]), cl.Input(y_shape[1:])])
        assert symbolic.shape == (None,) + out_shape[1:]
        _check(layers.Dot(axes, normalize=normalize), [x, y])


def test_dot_normalize_gives_the_cosine_similarity():
    x, y = _normal((6, 4), 3).astype("float32"), _normal((6, 4), 4).astype("float32")
    cosine = np.sum(x * y, axis=1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))
    np.testing.assert_allclose(layers.Dot(1, normalize=True)([x, y])[:, 0], cosine, rtol=1e-5)
    np.testing.assert_allclose(layers.Dot(1, normalize=True)([x, x]), np.ones((6, 1)), rtol=1e-6)


def test_dot_normalize_caps_the_inverse_norm_at_one_over_epsilon_as_keras():
    """``x * min(rsqrt(sum(x**2)), 1 / epsilon)``: a zero vector gives 0, a tiny one is scaled by 1e7."""
    x = np.array([[0.0, 0.0, 0.0], [1e-9, -2e-9, 2e-9], [1.0, 2.0, 2.0]])
    y = _normal((3, 3), 5)
    with cl.backend.floatx_scope("float64"):
        layer = layers.Dot(-1, normalize=True)
        out = layer([x, y])
        unit_y = y / np.linalg.norm(y, axis=1, keepdims=True)
        np.testing.assert_allclose(out[:, 0], [0.0, 1e7 * x[1] @ unit_y[1], x[2] @ unit_y[2] / 3], rtol=1e-12)
        # Under the cap the factor is a constant: the gradient is dy / epsilon, no projection term.
        dy = np.ones((3, 1))
        dx, _ = layer.backward(dy)
        np.testing.assert_allclose(dx[:2], 1e7 * unit_y[:2], rtol=1e-12)
        # Central differences stay under the cap (norms <= 1e-7) with a step of 1e-8.
        _check(layers.Dot(-1, normalize=True), [x[:2], y[:2]], epsilon=1e-8)


def test_dot_casts_integers_and_takes_a_float64_policy():
    ids = np.array([[1, 2], [3, 4]], dtype="int32")
    out = layers.Dot(1)([ids, ids])
    assert out.dtype == np.float32 and out[:, 0].tolist() == [5.0, 25.0]
    assert layers.Dot(1, dtype="float64")([ids, ids]).dtype == np.float64


def test_the_functional_dot_is_keras_s_with_axes_minus_one_by_default():
    x, y = _normal((3, 4, 5), 1).astype("float32"), _normal((3, 6, 5), 2).astype("float32")
    np.testing.assert_allclose(layers.dot([x, y]), layers.Dot(-1)([x, y]), rtol=1e-6)
    np.testing.assert_allclose(layers.dot([x, x], axes=1, normalize=True), layers.Dot(1, normalize=True)([x, x]),
                               rtol=1e-6)
    tensor = layers.dot([cl.Input((4, 5)), cl.Input((6, 5))], axes=(2, 2), name="d")
    assert tensor.shape == (None, 4, 6) and tensor.node.layer.name == "d"


def test_dot_returns_no_mask_as_keras():
    ids = cl.Input((4,), dtype="int32")
    embedded = layers.Embedding(5, 3, mask_zero=True)(ids)
    merged = layers.Dot(axes=2)([embedded, embedded])  # (batch, 4, 4)
    model = cl.Model(ids, layers.GlobalAveragePooling1D()(merged))
    weights = model.get_weights()[0]
    tokens = np.array([[1, 2, 0, 0]])
    seq = weights[tokens[0]]
    # No mask reaches the pooling: the mean runs over all 4 steps, masked ones included.
    np.testing.assert_allclose(model.predict(tokens, verbose=0)[0], (seq @ seq.T).mean(axis=0), rtol=1e-5, atol=1e-7)
    assert model._last_output_masks == [None]


def test_dot_config_and_harness():
    assert layers.Dot(axes=(1, 2)).get_config()["axes"] == (1, 2)
    assert layers.Dot(axes=[1, 2]).get_config()["axes"] == [1, 2]  # kept as given, as Keras does
    config = layers.Dot(axes=-1, normalize=True, name="d").get_config()
    assert {k: config[k] for k in ("name", "axes", "normalize")} == {"name": "d", "axes": -1, "normalize": True}
    assert "activity_regularizer" not in config
    cl.testing.layer_test(layers.Dot, {"axes": (2, 1), "normalize": True}, input_shape=[(2, 3, 4), (2, 4, 5)],
                          expected_output_shape=(None, 3, 5), expected_num_weights=0)


def test_dot_argument_errors_name_the_layer():
    with pytest.raises(TypeError, match=r"Dot: axes must be an int or a pair of ints\. Received: axes='1'"):
        layers.Dot("1")
    with pytest.raises(TypeError, match=r"Dot: axes must be an int or a pair of ints\. Received: axes=True"):
        layers.Dot(True)
    with pytest.raises(ValueError, match=r"Dot: axes must be an int or a pair of ints \(one axis per input\)\. "
                                         r"Received: axes=\(1, 2, 3\)"):
        layers.Dot((1, 2, 3))
    with pytest.raises(ValueError, match=r"Dot: the entries of axes must be ints\. Received: axes=\(1, 2\.0\)"):
        layers.Dot((1, 2.0))
    with pytest.raises(TypeError, match=r"Dot: unrecognized keyword arguments: \['axis'\]"):
        layers.Dot(1, axis=1)


def test_dot_input_errors_name_the_layer():
    two = [np.ones((2, 3), "float32")] * 2
    with pytest.raises(ValueError, match=r"Dot 'd' must be called on a list of exactly 2 inputs\. Received: a list of 3"):
        layers.Dot(1, name="d")(two + two[:1])
    with pytest.raises(ValueError, match=r"Dot 'd' must be called on a list of exactly 2 inputs\. "
                                         r"Received: a single input"):
        layers.Dot(1, name="d")(two[0])
    with pytest.raises(ValueError, match=r"Dot 'd': incompatible input shapes: axis values 3 \(at axis 1\) != 4 "
                                         r"\(at axis 1\)"):
        layers.Dot(1, name="d")([cl.Input((3,)), cl.Input((4,))])
    with pytest.raises(ValueError, match=r"Dot 'd': axes=0 must name a non-batch axis of each input \(never axis 0\)"):
        layers.Dot(0, name="d")(two)
    with pytest.raises(ValueError, match=r"Dot 'd': axes=-2 must name a non-batch axis"):
        layers.Dot(-2, name="d")(two)  # -2 of a rank-2 input is the batch axis
    with pytest.raises(ValueError, match=r"Dot 'd': axes=\(1, 3\) must name a non-batch axis"):
        layers.Dot((1, 3), name="d")(two)
    with pytest.raises(ValueError, match=r"Dot 'd': both inputs must have rank >= 2"):
        layers.Dot(1, name="d")([np.ones(3, "float32"), np.ones(3, "float32")])
    with pytest.raises(ValueError, match=r"Dot 'd': the inputs have different batch sizes"):
        layers.Dot(1, name="d")([np.ones((2, 3), "float32"), np.ones((4, 3), "float32")])


def test_a_siamese_cosine_head_trains_in_float64_with_the_engines_exact_gradient():
    """A shared Dense tower, Dot(normalize=True): one SGD(1.0) step moves the weights by minus the
    gradient, which must be the central difference of the loss."""
    generator = np.random.default_rng(7)
    left, right = generator.standard_normal((6, 4)), generator.standard_normal((6, 4))
    target = generator.uniform(-1, 1, (6, 1))
    with cl.backend.floatx_scope("float64"):
        tower = layers.Dense(3, activation="tanh")
        a, b = cl.Input((4,)), cl.Input((4,))
        model = cl.Model([a, b], layers.Dense(1)(layers.Dot(1, normalize=True)([tower(a), tower(b)])))
    model.compile(cl.optimizers.SGD(learning_rate=1.0), "mse")
    before = model.get_weights()
    model.train_on_batch([left, right], target)
    engine = [w0 - w1 for w0, w1 in zip(before, model.get_weights())]
    model.set_weights(before)

    def loss(weights):
        model.set_weights(weights)
        pred = model.predict([left, right], verbose=0)
        return float(np.mean((pred - target) ** 2))

    for position, weight in enumerate(before):
        numeric = np.zeros_like(weight)
        for index in np.ndindex(weight.shape):
            plus, minus = [w.copy() for w in before], [w.copy() for w in before]
            plus[position][index] += 1e-6
            minus[position][index] -= 1e-6
            numeric[index] = (loss(plus) - loss(minus)) / 2e-6
        np.testing.assert_allclose(engine[position], numeric, rtol=1e-6, atol=1e-9, err_msg=f"weight {position}")
    model.set_weights(before)


# ------------------------------------------------------------------- Identity
def test_identity_returns_its_input_and_passes_the_gradient():
    x = _normal((3, 4)).astype("float32")
    layer = layers.Identity()
    assert layer.built  # built at construction, as in Keras
    y = layer(x)
    np.testing.assert_array_equal(y, x)
    assert y is not x  # a new array object over the same data (the tape tells them apart)
    dy = _normal((3, 4), 1).astype("float32")
    np.testing.assert_array_equal(layer.backward(dy), dy)
    with cl.backend.floatx_scope("float64"):
        _check(layers.Identity(), _normal((2, 3, 4)))
    ids = np.array([[1, 2]], dtype="int32")
    assert layers.Identity()(ids).dtype == np.int32
    a, b = layers.Identity()([x, 2 * x])
    np.testing.assert_array_equal(b, 2 * x)
    assert layers.Identity().get_config().keys() == {"name", "trainable", "dtype"}
    cl.testing.layer_test(layers.Identity, {}, input_shape=(2, 3), expected_output_shape=(None, 3))


def test_identity_passes_the_mask_on_and_works_on_the_tape():
    ids = cl.Input((4,), dtype="int32")
    embedded = layers.Embedding(5, 3, mask_zero=True)(ids)
    model = cl.Model(ids, layers.GlobalAveragePooling1D()(layers.Identity()(embedded)))
    reference = cl.Model(ids, layers.GlobalAveragePooling1D()(embedded))
    tokens = np.array([[1, 2, 0, 0], [3, 0, 0, 0]])
    np.testing.assert_allclose(model.predict(tokens, verbose=0), reference.predict(tokens, verbose=0))
    x = _normal((3, 2))
    with cl.backend.floatx_scope("float64"):
        layer = layers.Identity()
    with cl.GradientTape() as tape:
        loss = cl.losses.MeanSquaredError()(np.zeros((3, 2)), layer(x))
    np.testing.assert_allclose(tape.gradient(loss, x), x / 3, rtol=1e-12)  # once, not twice


# ------------------------------------------------------ ActivityRegularization
def test_activity_regularization_returns_its_input_and_adds_keras_s_penalty():
    x = _normal((4, 3)).astype("float32")
    layer = layers.ActivityRegularization(l1=0.3, l2=0.2)
    assert layer.built
    np.testing.assert_array_equal(layer(x), x)
    expected = (np.float32(0.3) * np.abs(x).sum() + np.float32(0.2) * np.square(x).sum()) / 4
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), expected, rtol=1e-6)
    dy = _normal((4, 3), 1).astype("float32")
    np.testing.assert_array_equal(layer.backward(dy), dy)  # the layer's own backward: unchanged
    default = layers.ActivityRegularization()  # l1 = l2 = 0: a zero penalty, still counted
    np.testing.assert_array_equal(default(x), x)
    assert [float(v) for v in default.losses] == [0.0]


def test_activity_regularization_penalty_reaches_model_losses_and_the_training_loss():
    generator = np.random.default_rng(5)
    x = generator.standard_normal((8, 3)).astype("float32")
    y = generator.standard_normal((8, 2)).astype("float32")
    dense = layers.Dense(2, bias_initializer="ones")
    model = cl.Sequential([cl.Input((3,)), dense, layers.ActivityRegularization(l1=0.1, l2=0.05)])
    model.compile("sgd", "mse")
    out = x @ dense.kernel.numpy() + 1.0
    penalty = (np.float32(0.1) * np.abs(out).sum() + np.float32(0.05) * np.square(out).sum()) / 8
    expected = np.mean((out - y) ** 2) + penalty
    np.testing.assert_allclose(model.test_on_batch(x, y), expected, rtol=1e-6)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-6)
    model(x)
    assert len(model.losses) == 1
    np.testing.assert_allclose(float(model.losses[0]), penalty, rtol=1e-6)


def test_activity_regularization_penalty_gradient_reaches_the_layers_below_in_float64():
    """The engine's gradient of the regularized training loss, read off one SGD(1.0) step, against
    central differences of the loss: the penalty's gradient goes through the layer to the Dense below."""
    generator = np.random.default_rng(6)
    x = generator.standard_normal((5, 4))
    y = generator.standard_normal((5, 2))
    with cl.backend.floatx_scope("float64"):
        model = cl.Sequential([cl.Input((4,)), layers.Dense(3, activation="tanh"),
                               layers.ActivityRegularization(l1=0.2, l2=0.3), layers.Dense(2)])
    model.compile(cl.optimizers.SGD(learning_rate=1.0), "mse")
    before = model.get_weights()
    model.train_on_batch(x, y)
    engine = [w0 - w1 for w0, w1 in zip(before, model.get_weights())]

    def loss(weights):
        model.set_weights(weights)
        hidden = np.tanh(x @ weights[0] + weights[1])
        out = hidden @ weights[2] + weights[3]
        l1, l2 = float(np.float32(0.2)), float(np.float32(0.3))  # Keras casts the factors through float32
        return np.mean((out - y) ** 2) + (l1 * np.abs(hidden).sum() + l2 * np.square(hidden).sum()) / 5

    for position, weight in enumerate(before):
        numeric = np.zeros_like(weight)
        for index in np.ndindex(weight.shape):
            plus, minus = [w.copy() for w in before], [w.copy() for w in before]
            plus[position][index] += 1e-6
            minus[position][index] -= 1e-6
            numeric[index] = (loss(plus) - loss(minus)) / 2e-6
        np.testing.assert_allclose(engine[position], numeric, rtol=1e-6, atol=1e-9, err_msg=f"weight {position}")
    # Without the layer's penalty the first Dense's gradient differs: the penalty's gradient did reach it.
    model.set_weights(before)
    plain = cl.Sequential([cl.Input((4,)), layers.Dense(3, activation="tanh"), layers.Dense(2)], name="plain")
    plain.set_weights(before)
    plain.compile(cl.optimizers.SGD(learning_rate=1.0), "mse")
    plain.train_on_batch(x, y)
    assert not np.allclose(before[0] - plain.get_weights()[0], engine[0])


def test_activity_regularization_gradient_in_float64_and_through_a_model_on_the_tape():
    with cl.backend.floatx_scope("float64"):
        _check(layers.ActivityRegularization(l1=0.1, l2=0.2), _normal((3, 4)))
        model = cl.Sequential([cl.Input((3,)), layers.ActivityRegularization(l1=0.3, l2=0.2)])
    x = _normal((4, 3))
    with cl.GradientTape() as tape:
        loss = cl.losses.MeanSquaredError()(np.zeros((4, 3)), model(x)) + sum(model.losses)
    # d/dx [mean(x**2) + (l1 * sum|x| + l2 * sum x**2) / batch], the factors through float32 as Keras casts them
    l1, l2 = float(np.float32(0.3)), float(np.float32(0.2))
    np.testing.assert_allclose(tape.gradient(loss, x), 2 * x / 12 + (l1 * np.sign(x) + 2 * l2 * x) / 4, rtol=1e-12)


def test_activity_regularization_config_masks_and_errors():
    layer = layers.ActivityRegularization(l1=0.01, name="ar")
    config = layer.get_config()
    assert "activity_regularizer" not in config  # Keras pops it: l1 and l2 say it all
    assert {k: config[k] for k in ("name", "l1", "l2")} == {"name": "ar", "l1": 0.01, "l2": 0.0}
    clone = layers.ActivityRegularization.from_config(config)
    assert isinstance(clone.activity_regularizer, regularizers.L1L2)
    assert clone.activity_regularizer.get_config() == {"l1": 0.01, "l2": 0.0}
    cl.testing.layer_test(layers.ActivityRegularization, {"l1": 0.1, "l2": 0.1}, input_shape=(2, 3))
    with pytest.raises(ValueError, match=r"ActivityRegularization: Invalid value for argument l1: expected a "
                                         r"non-negative float\. Received: l1=-1"):
        layers.ActivityRegularization(l1=-1)
    with pytest.raises(ValueError, match=r"ActivityRegularization: Invalid value for argument l2"):
        layers.ActivityRegularization(l2="big")
    with pytest.raises(TypeError, match=r"ActivityRegularization: the regularizer is L1L2\(l1, l2\)"):
        layers.ActivityRegularization(activity_regularizer="l2")
    # A mask passes through, as in Keras.
    ids = cl.Input((4,), dtype="int32")
    embedded = layers.Embedding(5, 3, mask_zero=True)(ids)
    model = cl.Model(ids, layers.GlobalAveragePooling1D()(layers.ActivityRegularization(0.1)(embedded)))
    reference = cl.Model(ids, layers.GlobalAveragePooling1D()(embedded))
    tokens = np.array([[1, 2, 0, 0]])
    np.testing.assert_allclose(model.predict(tokens, verbose=0), reference.predict(tokens, verbose=0))


def test_every_new_layer_is_registered_under_its_keras_name():
    for name in ("RepeatVector", "Permute", "Dot", "Identity", "ActivityRegularization"):
        layer = getattr(layers, name)(**{"RepeatVector": {"n": 2}, "Permute": {"dims": (1,)},
                                         "Dot": {"axes": 1}}.get(name, {}))
        entry = layers.serialize(layer)
        assert entry["module"] == "keras.layers" and entry["class_name"] == name
        rebuilt = layers.deserialize(entry)
        assert type(rebuilt) is type(layer) and rebuilt.get_config() == layer.get_config()
        assert name in layers.__all__
    assert "dot" in layers.__all__


def test_the_layers_train_under_the_strict_backend_as_on_numpy():
    """CuPy's rules (no host arrays in device work, no silent float()): the same fit on NumPy and strictly."""
    generator = np.random.default_rng(9)
    data = [generator.standard_normal((8, 4)).astype("float32") for _ in range(2)]
    target = generator.standard_normal((8, 1)).astype("float32")
    histories = []
    for name in ("numpy", "strict"):
        cl.backend.clear_session()
        cl.backend.set_seed(3)
        with cl.backend.backend_scope(name):
            left, right = cl.Input((4,)), cl.Input((4,))
            tower = layers.Dense(3)
            cosine = layers.Dot(1, normalize=True)([tower(left), tower(right)])
            gram = layers.Dot((1, 1))([tower(left), tower(right)])
            sequence = layers.Permute((2, 1))(layers.RepeatVector(2)(layers.Identity()(layers.Concatenate()(
                [cosine, gram]))))
            out = layers.Dense(1)(layers.Flatten()(layers.ActivityRegularization(0.1, 0.1)(sequence)))
            model = cl.Model([left, right], out)
            model.compile("adam", "mse")
            xs = [cl.backend.xp.asarray(x) for x in data]
            histories.append(model.fit(xs, cl.backend.xp.asarray(target), epochs=2, batch_size=4, verbose=0).history)
    np.testing.assert_allclose(histories[1]["loss"], histories[0]["loss"], rtol=1e-6)
