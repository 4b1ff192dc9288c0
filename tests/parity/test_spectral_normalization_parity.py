"""SpectralNormalization gives tf.keras's numbers, computed in the same test.

Both libraries get the same kernel, bias and ``vector_u`` (``set_weights`` in
Keras's order: kernel, vector_u, bias). Compared: inference outputs, the
``vector_u`` and kernel updates over several training calls, the gradients of
``sum(y * dy)`` (``tf.GradientTape``) with respect to the inputs and weights in
training mode (Keras assigns the normalised kernel, so the gradient is the
wrapped layer's at that kernel), a few optimizer steps of a small named model,
configs and ``.keras`` files both ways.

Measured on tf.keras 3.15 CPU, float32: outputs, u and kernels within 3e-7
(absolute); gradients within 1e-6; after 3 Adam steps weights within 1e-6.
Compared with rtol 1e-5, atol 1e-6.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity
TOL = dict(rtol=1e-5, atol=1e-6)


def _pair(make_ours, make_keras, x, seed=0):
    ours, theirs = make_ours(), make_keras()
    theirs(x)
    ours(x)
    weights = [w.numpy() for w in theirs.weights]
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(w.shape).astype("float32") * 0.5 for w in weights]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return ours, theirs


CASES = {
    "dense": (lambda: cl.layers.SpectralNormalization(cl.layers.Dense(4)),
              lambda: keras.layers.SpectralNormalization(keras.layers.Dense(4)), (3, 5)),
    "conv2d": (lambda: cl.layers.SpectralNormalization(cl.layers.Conv2D(3, 2), power_iterations=3),
               lambda: keras.layers.SpectralNormalization(keras.layers.Conv2D(3, 2), power_iterations=3),
               (2, 5, 5, 2)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_outputs_and_the_u_update_over_training_calls_match_keras(case):
    make_ours, make_keras, shape = CASES[case]
    x = np.random.default_rng(1).standard_normal(shape).astype("float32")
    ours, theirs = _pair(make_ours, make_keras, x)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    np.testing.assert_allclose(ours(x), theirs(x).numpy(), **TOL)
    for _ in range(3):
        np.testing.assert_allclose(ours(x, training=True), theirs(x, training=True).numpy(), **TOL)
        for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(mine, keras_weight, **TOL)
    np.testing.assert_allclose(ours(x), theirs(x).numpy(), **TOL)


@pytest.mark.parametrize("case", sorted(CASES))
def test_training_gradients_match_keras_gradient_tape(case):
    make_ours, make_keras, shape = CASES[case]
    x = np.random.default_rng(2).standard_normal(shape).astype("float32")
    ours, theirs = _pair(make_ours, make_keras, x, seed=3)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = theirs(xt, training=True)
    dy = np.random.default_rng(4).standard_normal(y.shape).astype("float32")
    keras_grads = tape.gradient(y, [xt] + theirs.trainable_weights, output_gradients=tf.constant(dy))
    y_ours = ours(x, training=True)
    np.testing.assert_allclose(y_ours, y.numpy(), **TOL)
    dx = ours.backward(dy)
    np.testing.assert_allclose(dx, keras_grads[0].numpy(), **TOL)
    for name, grad in zip(ours.trainable_weight_names, keras_grads[1:]):
        np.testing.assert_allclose(ours.grads[name], grad.numpy(), **TOL)


def _models(x):
    def build(lib):
        inputs = lib.Input((6,), name="x")
        h = lib.layers.SpectralNormalization(lib.layers.Dense(5, activation="tanh", name="d1"), name="sn1")(inputs)
        out = lib.layers.SpectralNormalization(lib.layers.Dense(1, name="d2"), power_iterations=2, name="sn2")(h)
        return lib.Model(inputs, out, name="disc")

    theirs, ours = build(keras), build(cl)
    return ours, theirs


def test_optimizer_steps_of_a_named_model_match_keras():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 6)).astype("float32")
    y = rng.standard_normal((8, 1)).astype("float32")
    from course_lib.testing.keras_bridge import copy_weights

    ours, theirs = _models(x)
    copy_weights(theirs, ours)
    theirs.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    ours.compile(optimizer=cl.optimizers.Adam(0.01), loss="mse")
    for _ in range(3):
        loss_keras = float(theirs.train_on_batch(x, y))
        loss_ours = float(ours.train_on_batch(x, y))
        np.testing.assert_allclose(loss_ours, loss_keras, rtol=1e-5)
    for layer in ("sn1", "sn2"):
        for mine, keras_weight in zip(ours.get_layer(layer).get_weights(), theirs.get_layer(layer).get_weights()):
            np.testing.assert_allclose(mine, keras_weight, **TOL)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), **TOL)


def test_a_saturated_sigmoid_discriminator_is_scored_from_its_logits_as_keras_does():
    """Keras's wrapper returns the wrapped Dense's output itself, logits (`_keras_logits`) included: the
    binary crossentropy of a confident discriminator is computed from them, in both libraries."""
    from course_lib.testing.keras_bridge import copy_weights

    def build(lib):
        inputs = lib.Input((6,), name="x")
        head = lib.layers.Dense(1, activation="sigmoid", name="d")
        return lib.Model(inputs, lib.layers.SpectralNormalization(head, name="sn")(inputs), name="disc")

    theirs, ours = build(keras), build(cl)
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((16, 6)) * 60).astype("float32")  # logits in the hundreds: probabilities 0 and 1
    y = (rng.random((16, 1)) < 0.5).astype("float32")
    copy_weights(theirs, ours)
    theirs.compile(optimizer=keras.optimizers.SGD(0.01, name="sgd"), loss="binary_crossentropy")
    ours.compile(optimizer=cl.optimizers.SGD(0.01, name="sgd"), loss="binary_crossentropy")
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-5)
    for _ in range(3):
        np.testing.assert_allclose(float(ours.train_on_batch(x, y)), float(theirs.train_on_batch(x, y)), rtol=1e-5)
    for mine, keras_weight in zip(ours.get_layer("sn").get_weights(), theirs.get_layer("sn").get_weights()):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=1e-6)


def test_config_matches_keras_and_round_trips():
    ours = cl.layers.SpectralNormalization(cl.layers.Dense(3, name="d"), power_iterations=2, name="sn")
    theirs = keras.layers.SpectralNormalization(keras.layers.Dense(3, name="d"), power_iterations=2, name="sn")
    assert ours.get_config() == theirs.get_config()
    again = keras.layers.SpectralNormalization.from_config(ours.get_config())
    assert again.get_config() == theirs.get_config()
    import keras as keras3  # tf.keras lacks the saving namespace

    entry = keras3.saving.serialize_keras_object(theirs)
    mine = cl.layers.deserialize(entry)
    assert isinstance(mine, cl.layers.SpectralNormalization) and mine.get_config() == ours.get_config()


def test_keras_files_move_both_ways(tmp_path):
    from course_lib.testing.keras_bridge import copy_weights

    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 6)).astype("float32")
    y = rng.standard_normal((4, 1)).astype("float32")
    ours, theirs = _models(x)
    copy_weights(theirs, ours)
    theirs.compile(optimizer="adam", loss="mse")
    theirs.train_on_batch(x, y)  # u and the kernels are updated: the file holds more than the initial values
    theirs.save(tmp_path / "keras.keras")
    loaded = cl.models.load_model(tmp_path / "keras.keras")
    for layer in ("sn1", "sn2"):
        for mine, keras_weight in zip(loaded.get_layer(layer).get_weights(), theirs.get_layer(layer).get_weights()):
            np.testing.assert_array_equal(mine, keras_weight)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs.predict(x, verbose=0), **TOL)
    loaded.train_on_batch(x, y)
    loaded.save(tmp_path / "course.keras")
    back = keras.models.load_model(tmp_path / "course.keras")
    for layer in ("sn1", "sn2"):
        for mine, keras_weight in zip(loaded.get_layer(layer).get_weights(), back.get_layer(layer).get_weights()):
            np.testing.assert_array_equal(mine, keras_weight)
    np.testing.assert_allclose(back.predict(x, verbose=0), loaded.predict(x, verbose=0), **TOL)
