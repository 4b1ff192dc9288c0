"""What Keras programs write beyond Sequential and functional models, run through both libraries.

Model subclassing (layers as attributes, a ``call`` method), clone_model, and
custom metrics and losses, each compared with tf.keras in the same test.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity


def _subclassed(library):
    class TwoTower(library.Model):
        """The keras.io guide's shape: layers in __init__, the computation in call."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.encoder = library.layers.Dense(6, activation="tanh")
            self.mixer = library.layers.Dense(4, activation="relu")
            self.head = library.layers.Dense(3, activation="softmax")
            self.score = library.layers.Dense(1)

        def call(self, inputs, training=None):
            left, right = inputs
            merged = library.layers.concatenate([self.encoder(left), self.encoder(right)])
            hidden = self.mixer(merged)
            return [self.head(hidden), self.score(hidden)]

    return TwoTower()


def _data():
    generator = np.random.default_rng(0)
    xs = [generator.standard_normal((24, 5)).astype("float32") for _ in range(2)]
    return xs, [np.arange(24) % 3, generator.standard_normal((24, 1)).astype("float32")]


def test_a_subclassed_model_trains_as_in_keras():
    xs, ys = _data()
    models = []
    for library in (keras, cl):
        model = _subclassed(library)
        model(xs)  # builds (Keras) / traces (course_lib)
        models.append(model)
    keras_model, ours = models
    # Automatic names count on across tests in Keras: compare the classes, in order.
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in keras_model.layers]
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in keras_model.weights]
    ours.set_weights(keras_model.get_weights())
    np.testing.assert_allclose(ours.predict(xs, verbose=0)[0], keras_model.predict(xs, verbose=0)[0], rtol=1e-5, atol=1e-6)
    for model in models:
        model.compile("adam", ["sparse_categorical_crossentropy", "mse"], metrics=[["accuracy"], []])
    expected = keras_model.fit(xs, ys, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    received = ours.fit(xs, ys, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    assert sorted(received) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(received[key], expected[key], rtol=1e-4, atol=1e-6, err_msg=key)
    for mine, theirs in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def test_a_subclassed_model_compiled_before_its_first_call():
    xs, ys = _data()
    ours = _subclassed(cl)
    assert ours.name == "two_tower" and len(ours.layers) == 4 and not ours.built
    ours.compile("sgd", ["sparse_categorical_crossentropy", "mse"])
    history = ours.fit(xs, ys, epochs=1, verbose=0).history
    assert set(history) == {"loss", "sparse_categorical_crossentropy_loss", "mse_loss"}  # Keras's keys there


def test_a_subclassed_call_that_uses_array_functions_is_explained():
    class Raw(cl.Model):
        def __init__(self):
            super().__init__()
            self.dense = cl.layers.Dense(2)

        def call(self, inputs):
            return np.tanh(self.dense(inputs))

    with pytest.raises(TypeError, match=r"its `call` is traced once on symbolic inputs"):
        Raw()(np.ones((2, 3)))


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_clone_model_rebuilds_the_architecture_with_new_weights(kind):
    def build(library):
        if kind == "sequential":
            return library.Sequential([library.Input((4,)), library.layers.Dense(3, name="a"), library.layers.Dense(2, name="b")])
        inputs = library.Input((4,), name="x")
        shared = library.layers.Dense(3, name="shared")
        return library.Model(inputs, library.layers.Add(name="sum")([shared(inputs), shared(inputs)]))

    keras_clone = keras.models.clone_model(build(keras))
    original = build(cl)
    ours = cl.models.clone_model(original)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in keras_clone.layers]
    assert ours.count_params() == keras_clone.count_params()
    assert all(a is not b for a, b in zip(ours.layers, original.layers))
    assert any(not np.array_equal(a, b) for a, b in zip(ours.get_weights(), original.get_weights()))
    ours.set_weights(keras_clone.get_weights())
    x = np.random.default_rng(1).standard_normal((3, 4)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras_clone.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_add_loss_trains_as_in_keras():
    """A layer that penalises its activations with add_loss, written for each library, trains alike."""
    import keras as keras3

    from penalty_model import penalty_model, regression_data

    x, y = regression_data()
    keras_model, ours = penalty_model(keras3), penalty_model(cl)
    ours.set_weights(keras_model.get_weights())
    keras_model(x)
    ours(x)
    assert len(ours.losses) == len(keras_model.losses) == 1
    assert float(ours.losses[0]) == pytest.approx(float(keras_model.losses[0]), rel=1e-5)
    for model, library in ((keras_model, keras3), (ours, cl)):
        model.compile(library.optimizers.SGD(learning_rate=0.05), "mse")
    expected = keras_model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
    received = ours.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(received, expected, rtol=1e-5)
    for mine, theirs in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(keras_model.evaluate(x, y, verbose=0), rel=1e-5)
