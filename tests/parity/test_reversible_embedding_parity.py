"""ReversibleEmbedding gives tf.keras's numbers (keras.layers.ReversibleEmbedding), computed in the same test.

Same weights in both; compared: the lookup and the reverse logits (tied,
untied, soft-capped), the gradients of ``sum(y * dy)`` (``tf.GradientTape``)
with respect to the hidden states and the weights, configs, a few Adam steps
of a tied language model and ``.keras`` files both ways. Measured float32:
within 5e-7 absolute; compared with rtol 1e-5, atol 1e-6. Keras's file is opened with
compile=False: course_lib's SparseCategoricalCrossentropy lacks Keras's `ignore_class` config key.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity
TOL = dict(rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"tie_weights": False}, {"logit_soft_cap": 0.3}])
def test_both_directions_and_reverse_gradients_match_keras(kwargs):
    rng = np.random.default_rng(0)
    ours = cl.layers.ReversibleEmbedding(11, 4, name="rev", **kwargs)
    theirs = keras.layers.ReversibleEmbedding(11, 4, name="rev", **kwargs)
    ids = rng.integers(0, 11, (2, 3))
    theirs(ids)
    ours(ids)
    weights = [rng.standard_normal(w.shape).astype("float32") for w in theirs.weights]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert ours.get_config() == theirs.get_config()
    np.testing.assert_allclose(ours(ids), theirs(ids).numpy(), **TOL)
    hidden = rng.standard_normal((2, 3, 4)).astype("float32")
    ht = tf.constant(hidden)
    with tf.GradientTape() as tape:
        tape.watch(ht)
        logits = theirs(ht, reverse=True)
    dy = rng.standard_normal(logits.shape).astype("float32")
    grads = tape.gradient(logits, [ht] + theirs.trainable_weights, output_gradients=tf.constant(dy))
    np.testing.assert_allclose(ours(hidden, reverse=True), logits.numpy(), **TOL)
    np.testing.assert_allclose(ours.backward(dy), grads[0].numpy(), **TOL)
    for name, grad in zip(ours.trainable_weight_names, grads[1:]):
        expected = np.zeros(ours._variables[name].shape, "float32") if grad is None else tf.convert_to_tensor(grad).numpy()
        np.testing.assert_allclose(ours.grads[name], expected, **TOL)


def _language_model(lib):
    inputs = lib.Input((5,), dtype="int32", name="ids")
    shared = lib.layers.ReversibleEmbedding(9, 4, name="tok")
    hidden = lib.layers.Dense(4, activation="tanh", name="mix")(shared(inputs))
    return lib.Model(inputs, shared(hidden, reverse=True), name="lm")


def test_adam_steps_and_keras_files_of_a_tied_language_model_match_keras(tmp_path):
    from course_lib.testing.keras_bridge import copy_weights

    rng = np.random.default_rng(1)
    ids = rng.integers(0, 9, (6, 5))
    theirs, ours = _language_model(keras), _language_model(cl)
    copy_weights(theirs, ours)
    theirs.compile(optimizer=keras.optimizers.Adam(0.01),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ours.compile(optimizer=cl.optimizers.Adam(0.01), loss=cl.losses.SparseCategoricalCrossentropy(from_logits=True))
    for _ in range(3):
        np.testing.assert_allclose(float(ours.train_on_batch(ids, ids)), float(theirs.train_on_batch(ids, ids)),
                                   rtol=1e-5)
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras_weight, **TOL)
    theirs.save(tmp_path / "keras.keras")
    loaded = cl.models.load_model(tmp_path / "keras.keras", compile=False)  # see the note in the module docstring
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), theirs.predict(ids, verbose=0), **TOL)
    ours.save(tmp_path / "course.keras")
    back = keras.models.load_model(tmp_path / "course.keras")
    np.testing.assert_allclose(back.predict(ids, verbose=0), ours.predict(ids, verbose=0), **TOL)
