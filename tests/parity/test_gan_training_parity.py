"""A GAN's training loop written as Keras programs write it, run through both libraries.

Two recipes: the classic one (``train_on_batch`` on a discriminator whose
``trainable`` flag is toggled, and on the stacked generator + discriminator),
and Keras 3's (a subclassed Model with its own ``train_step``, a GradientTape
per network and two optimizers). Each starts both libraries from the same
weights and compares the weights after the steps, in the same test.
"""
import warnings

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

LATENT = 3


def _networks(library, logits=False):
    layers = library.layers
    discriminator = library.Sequential(
        [library.Input((6,)), layers.Dense(8), layers.LeakyReLU(0.2),
         layers.Dense(1, activation=None if logits else "sigmoid")],
        name="discriminator")
    generator = library.Sequential(
        [library.Input((LATENT,)), layers.Dense(8, activation="relu"), layers.Dense(6, activation="tanh")],
        name="generator")
    return discriminator, generator


def _pair(logits=False):
    """(keras networks, course_lib networks) with the same weights."""
    keras_nets, ours = _networks(keras, logits), _networks(cl, logits)
    for source, target in zip(keras_nets, ours):
        target.set_weights(source.get_weights())
    return keras_nets, ours


def _data(seed=0):
    generator = np.random.default_rng(seed)
    real = np.tanh(generator.standard_normal((16, 6))).astype("float32")
    noise = generator.standard_normal((16, LATENT)).astype("float32")
    return real, noise


def _assert_same_weights(keras_model, ours, tolerance=2e-5):
    for expected, received in zip(keras_model.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(received, expected, rtol=tolerance, atol=tolerance)


def _classic_recipe(library, discriminator, generator, real, noise, steps, toggle=True):
    """The Keras 2 book recipe: compile D, freeze it inside the stacked GAN, alternate train_on_batch."""
    discriminator.compile(library.optimizers.Adam(1e-2), "binary_crossentropy")
    discriminator.trainable = False
    gan = library.Sequential([generator, discriminator])
    gan.compile(library.optimizers.Adam(1e-2), "binary_crossentropy")
    half = len(real) // 2
    losses = []
    for step in range(steps):
        fake = generator.predict(noise[:half], verbose=0)
        images = np.concatenate([real[:half], fake])
        labels = np.concatenate([np.ones((half, 1)), np.zeros((half, 1))]).astype("float32")
        if toggle:
            discriminator.trainable = True
        d_loss = discriminator.train_on_batch(images, labels)
        if toggle:
            discriminator.trainable = False
        g_loss = gan.train_on_batch(noise, np.ones((len(noise), 1), "float32"))
        losses.append((float(d_loss), float(g_loss)))
    return losses


def test_one_classic_gan_iteration_matches_keras():
    """Discriminator step then generator step on fixed noise: the same weights after, in both libraries."""
    real, noise = _data()
    (keras_d, keras_g), (our_d, our_g) = _pair()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that a trainable state changed since compile
        expected = _classic_recipe(keras, keras_d, keras_g, real, noise, steps=1)
    received = _classic_recipe(cl, our_d, our_g, real, noise, steps=1)
    np.testing.assert_allclose(received, expected, rtol=1e-5)
    _assert_same_weights(keras_d, our_d)
    _assert_same_weights(keras_g, our_g)


def test_several_classic_iterations_match_keras():
    real, noise = _data(1)
    (keras_d, keras_g), (our_d, our_g) = _pair()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = _classic_recipe(keras, keras_d, keras_g, real, noise, steps=4)
    received = _classic_recipe(cl, our_d, our_g, real, noise, steps=4)
    np.testing.assert_allclose(received, expected, rtol=1e-4)
    _assert_same_weights(keras_d, our_d, 1e-4)
    _assert_same_weights(keras_g, our_g, 1e-4)


def test_a_discriminator_frozen_before_its_first_step_never_trains_as_in_keras():
    """Keras 3's odd corner: freeze D (to compile the GAN) and never unfreeze it: D does not learn."""
    real, noise = _data(2)
    results = []
    for library, (discriminator, generator) in zip((keras, cl), _pair()):
        before = discriminator.get_weights()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _classic_recipe(library, discriminator, generator, real, noise, steps=1, toggle=False)
        changed = any(not np.array_equal(a, b) for a, b in zip(before, discriminator.get_weights()))
        results.append((changed, any("does not have any trainable weights" in str(w.message) for w in caught)))
    assert results[0] == results[1] == (False, True)


def _gan_class(library, tape):
    class GAN(library.Model):
        """keras.io's DCGAN shape: two networks, two optimizers, one loss, its own train_step."""

        def __init__(self, discriminator, generator, **kwargs):
            super().__init__(**kwargs)
            self.discriminator, self.generator = discriminator, generator
            self.d_loss_tracker = library.metrics.Mean(name="d_loss")
            self.g_loss_tracker = library.metrics.Mean(name="g_loss")

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def train_step(self, data):
            real, noise = data[:2]  # fit gives (x, y); train_on_batch (x, y, None), as in Keras
            count = real.shape[0]
            ones, zeros = np.ones((count, 1), "float32"), np.zeros((count, 1), "float32")
            fake = self.generator(noise, training=True)
            with tape() as d_tape:
                d_loss = 0.5 * (self.loss_fn(ones, self.discriminator(real, training=True))
                                + self.loss_fn(zeros, self.discriminator(fake, training=True)))
            grads = d_tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
            with tape() as g_tape:
                g_loss = self.loss_fn(ones, self.discriminator(self.generator(noise, training=True), training=True))
            grads = g_tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    return GAN


@pytest.mark.parametrize("from_logits", [False, True])
def test_a_subclassed_gan_with_its_own_train_step_trains_as_in_keras(from_logits):
    real, noise = _data(3)
    histories, gans = [], []
    pairs = _pair(logits=from_logits)
    for library, tape, (discriminator, generator) in zip((keras, cl), (tf.GradientTape, cl.GradientTape), pairs):
        gan = _gan_class(library, tape)(discriminator, generator)
        gan.compile(library.optimizers.Adam(5e-3), library.optimizers.RMSprop(5e-3),
                    library.losses.BinaryCrossentropy(from_logits=from_logits))
        histories.append(gan.fit(real, noise, epochs=3, batch_size=8, shuffle=False, verbose=0).history)
        gans.append(gan)
    assert sorted(histories[1]) == ["d_loss", "g_loss"]
    for name in ("d_loss", "g_loss"):
        np.testing.assert_allclose(histories[1][name], histories[0][name], rtol=1e-5)
    _assert_same_weights(gans[0].discriminator, gans[1].discriminator)
    _assert_same_weights(gans[0].generator, gans[1].generator)
    # train_on_batch runs the same step and resets the trackers first, as Keras.
    expected = gans[0].train_on_batch(real[:8], noise[:8], return_dict=True)
    received = gans[1].train_on_batch(real[:8], noise[:8], return_dict=True)
    assert sorted(received) == sorted(expected)
    for name in expected:
        np.testing.assert_allclose(received[name], float(expected[name]), rtol=1e-5)


def test_compute_loss_in_a_custom_train_step_matches_keras():
    """keras.io's "customizing fit" example: the compiled loss and metrics inside one's own step."""
    generator = np.random.default_rng(4)
    x = generator.standard_normal((24, 5)).astype("float32")
    y = generator.integers(0, 3, 24)
    results, initial = [], None
    for library, tape in ((keras, tf.GradientTape), (cl, cl.GradientTape)):
        class Custom(library.Model):
            def train_step(self, data):
                features, labels = data
                with tape() as recorder:
                    predictions = self(features, training=True)
                    loss = self.compute_loss(x=features, y=labels, y_pred=predictions)
                grads = recorder.gradient(loss, self.trainable_weights)
                self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
                self.loss_tracker.update_state(loss)
                return {"loss": self.loss_tracker.result()}

        inputs = library.Input((5,))
        hidden = library.layers.Dense(4, activation="tanh", kernel_regularizer=library.regularizers.L2(0.01))(inputs)
        model = Custom(inputs, library.layers.Dense(3, activation="softmax")(hidden))
        model.loss_tracker = library.metrics.Mean(name="loss")
        if initial is None:
            initial = model.get_weights()
        else:
            model.set_weights(initial)
        model.compile(library.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
        results.append((history, model))
    np.testing.assert_allclose(results[1][0]["loss"], results[0][0]["loss"], rtol=1e-5)
    _assert_same_weights(results[0][1], results[1][1])


def test_freezing_after_the_first_step_keras_keeps_training_course_lib_stops():
    """A deliberate difference, pinned: Keras 3 reads `trainable` when it first traces the step.

    Frozen after one step without recompiling, a Keras model keeps updating the
    weights its traced step captured (with a warning to recompile); course_lib
    reads `trainable` at every step, so the frozen model stops, as the Keras
    documentation says it should once recompiled.
    """
    real, _ = _data(5)
    labels = np.ones((len(real), 1), "float32")
    changed = []
    for library, (discriminator, _) in zip((keras, cl), _pair()):
        discriminator.compile(library.optimizers.SGD(0.1), "binary_crossentropy")
        discriminator.train_on_batch(real, labels)
        discriminator.trainable = False
        before = discriminator.get_weights()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            discriminator.train_on_batch(real, labels)
        changed.append(any(not np.array_equal(a, b) for a, b in zip(before, discriminator.get_weights())))
    assert changed == [True, False]
