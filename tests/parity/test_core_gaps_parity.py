"""Cases the first slice's suite let through (each was shown a planted bug it then caught).

Everything here runs course_lib and tf.keras side by side in the same test.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity


@pytest.mark.parametrize("loss, sparse", [
    ("CategoricalCrossentropy", False), ("SparseCategoricalCrossentropy", True), ("BinaryCrossentropy", False),
])
@pytest.mark.parametrize("scale", [1000.0, -1000.0])
def test_loss_gradients_from_extreme_logits_match_keras(loss, sparse, scale):
    """Logits near ±1000: the losses' own softmax / sigmoid must stay finite and exact."""
    generator = np.random.default_rng(0)
    logits = (scale + generator.standard_normal((6, 4)) * 3).astype("float32")
    logits[:, 0] -= np.sign(scale) * 5  # classes far apart at the extreme
    labels = generator.integers(0, 4, 6)
    if loss.startswith("Binary"):
        y_true = (generator.random((6, 4)) > 0.5).astype("float32")
    else:
        y_true = labels if sparse else np.eye(4, dtype="float32")[labels]
    ours = getattr(cl.losses, loss)(from_logits=True)
    theirs = getattr(keras.losses, loss)(from_logits=True)
    tensor = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        expected = theirs(y_true, tensor)
    expected_grad = tape.gradient(expected, tensor).numpy()
    value, grad = ours.value_and_gradient(y_true, logits)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert value == pytest.approx(float(expected), rel=1e-5, abs=1e-5)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-6)


def test_dense_default_kernel_initializer_is_keras_glorot_uniform():
    ours, theirs = cl.layers.Dense(300), keras.layers.Dense(300)
    ours.build((None, 400))
    theirs.build((None, 400))
    limit = np.sqrt(6 / (400 + 300))
    for kernel in (ours.kernel.numpy(), theirs.kernel.numpy()):
        assert np.abs(kernel).max() <= limit
        assert abs(kernel.std() - limit / np.sqrt(3)) < 0.02 * limit
        assert abs(kernel.mean()) < 0.01 * limit
    assert ours.get_config()["kernel_initializer"] == theirs.get_config()["kernel_initializer"]
    np.testing.assert_array_equal(ours.bias.numpy(), theirs.bias.numpy())  # zeros


def test_count_params_of_a_frozen_layer_and_model_match_keras():
    models = []
    for library in (keras, cl):
        model = library.Sequential([library.Input((5,)), library.layers.Dense(4), library.layers.Dense(2)])
        model.layers[0].trainable = False
        models.append(model)
    for mine, theirs in zip(models[1].layers, models[0].layers):
        assert mine.count_params() == theirs.count_params()
        assert len(mine.trainable_weights) == len(theirs.trainable_weights)
        assert len(mine.non_trainable_weights) == len(theirs.non_trainable_weights)
    assert models[1].count_params() == models[0].count_params()


@pytest.mark.parametrize("labels, class_weight", [
    ("onehot", {0: 0.5, 1: 2.0, 2: 1.0}),
    ("onehot", {0: 3.0}),          # classes missing from the dict weigh 1
    ("sparse", {1: 0.25}),
])
def test_class_weight_with_one_hot_labels_and_missing_classes_matches_keras(labels, class_weight):
    generator = np.random.default_rng(1)
    x = generator.standard_normal((36, 4)).astype("float32")
    ids = generator.integers(0, 3, 36)
    y = np.eye(3, dtype="float32")[ids] if labels == "onehot" else ids
    loss = "categorical_crossentropy" if labels == "onehot" else "sparse_categorical_crossentropy"
    keras.utils.set_random_seed(0)
    keras_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    ours = cl.testing.from_keras(keras_model)
    for model in (keras_model, ours):
        model.compile(keras.optimizers.SGD(0.1) if model is keras_model else cl.optimizers.SGD(0.1), loss)
    expected = keras_model.fit(x, y, epochs=3, batch_size=12, shuffle=False, verbose=0, class_weight=class_weight)
    received = ours.fit(x, y, epochs=3, batch_size=12, shuffle=False, verbose=0, class_weight=class_weight)
    np.testing.assert_allclose(received.history["loss"], expected.history["loss"], rtol=1e-5, atol=1e-6)


def test_shuffle_true_really_shuffles_and_shuffle_false_does_not():
    """Record the batches fit sees: in order without shuffling, a new order every epoch with it."""
    seen = []

    class Recorder(cl.layers.Layer):
        def forward(self, inputs, training=False):
            if training:
                seen.append(np.array(inputs[:, 0]))
            return inputs, None

        def backward(self, output_grads, cache):
            return output_grads, {}

    x = np.arange(40, dtype="float32")[:, None]
    model = cl.Sequential([cl.Input((1,)), Recorder(), cl.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(x, x, batch_size=10, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_array_equal(np.concatenate(seen), np.concatenate([x[:, 0], x[:, 0]]))
    seen.clear()
    model.fit(x, x, batch_size=10, epochs=2, shuffle=True, verbose=0)
    first, second = np.concatenate(seen[:4]), np.concatenate(seen[4:])
    for epoch in (first, second):
        assert sorted(epoch) == list(x[:, 0]) and not np.array_equal(epoch, x[:, 0])
    assert not np.array_equal(first, second)


def test_where_course_lib_is_deliberately_more_lenient_than_keras(tmp_path):
    """The book says so (chapter 4): old spellings work in course_lib, Keras 3 refuses them."""
    import keras as keras3

    with pytest.raises(ValueError):
        keras3.Input(shape=64)
    with pytest.raises(ValueError):
        keras3.layers.Dense(3, batch_input_shape=(None, 4))
    assert cl.Input(shape=64).shape == (None, 64)
    model = cl.Sequential([cl.layers.Dense(3, batch_input_shape=(None, 4)), cl.layers.Dense(1)])
    assert model.input_shape == (None, 4)
    # ... and nothing of it reaches a file: Keras opens what course_lib saved.
    model.save(tmp_path / "lenient.keras")
    assert keras3.models.load_model(tmp_path / "lenient.keras").input_shape == (None, 4)
