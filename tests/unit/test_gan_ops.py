"""The GAN losses of course_lib.ops.gan: tf.keras's numbers, their gradients, and no overflow.

Values and gradients are compared with tf.keras's
``BinaryCrossentropy(from_logits=True)`` computed in the same test (the
discriminator's loss as ``bce(ones, real) + bce(zeros, fake)``, the
generator's as ``bce(ones, fake)``, TensorFlow's DCGAN tutorial), in float64
and float32; the backward passes are checked against central differences in
float64 with a random upstream gradient.
"""
import warnings

import numpy as np
import pytest

from course_lib.ops import gan
from course_lib.testing.gradient_check import assert_gradients_close

GRADIENT_TOLERANCE = 1e-6
SHAPES = [(6,), (5, 1), (1,), (3, 4)]


class LossPair:
    """A loss's forward/backward pair seen by the course's one gradient checker as a weightless layer."""

    dtype = "float64"
    trainable_weight_names = ()
    trainable_weights = ()

    def __init__(self, name, forward, backward):
        self.name, self._forward, self._backward = name, forward, backward

    def __call__(self, inputs, training=False):
        loss, self._cache = self._forward(*inputs) if isinstance(inputs, list) else self._forward(inputs)
        return loss

    def backward(self, d_loss):
        grads = self._backward(d_loss, self._cache)
        return list(grads) if isinstance(grads, tuple) else grads


def _logits(rng, shape, scale=3.0):
    return rng.normal(scale=scale, size=shape)


# --- parity with tf.keras, in the same test ----------------------------------------------------------------


def _keras_losses(tf, real, fake):
    """``(L_D, L_G, dL_D/dreal, dL_D/dfake, dL_G/dfake)`` of tf.keras's BinaryCrossentropy(from_logits=True),
    computed in the logits' dtype (a Keras loss computes in floatx, float32, unless told otherwise)."""
    bce = tf.keras.losses.BinaryCrossentropy(from_logits=True, dtype=str(real.dtype))
    real, fake = tf.constant(real), tf.constant(fake)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([real, fake])
        discriminator = bce(tf.ones_like(real), real) + bce(tf.zeros_like(fake), fake)
        generator = bce(tf.ones_like(fake), fake)
    d_real, d_fake = tape.gradient(discriminator, [real, fake])
    (g_fake,) = tape.gradient(generator, [fake])
    return [value.numpy() for value in (discriminator, generator, d_real, d_fake, g_fake)]


@pytest.mark.parity
@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 2e-6)])
@pytest.mark.parametrize("real_shape, fake_shape", [((8, 1), (8, 1)), ((7,), (4,)), ((3, 2), (5, 2))])
def test_the_losses_and_their_gradients_are_tf_keras_s(rng, dtype, tolerance, real_shape, fake_shape):
    tf = pytest.importorskip("tensorflow")
    real = _logits(rng, real_shape).astype(dtype)
    fake = _logits(rng, fake_shape).astype(dtype)
    expected = _keras_losses(tf, real, fake)
    discriminator, d_cache = gan.discriminator_loss_forward(real, fake)
    generator, g_cache = gan.generator_loss_forward(fake)
    received = [discriminator, generator, *gan.discriminator_loss_backward(1.0, d_cache),
                gan.generator_loss_backward(1.0, g_cache)]
    for name, want, got in zip(("L_D", "L_G", "dL_D/dreal", "dL_D/dfake", "dL_G/dfake"), expected, received):
        assert got.dtype == np.dtype(dtype), name
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance, err_msg=name)


@pytest.mark.parity
@pytest.mark.parametrize("labels", ["zeros", "ones", "soft"])
def test_the_cross_entropy_is_tf_keras_s_for_any_labels(rng, labels):
    tf = pytest.importorskip("tensorflow")
    logits = _logits(rng, (6, 1), scale=10.0)
    targets = {"zeros": np.zeros((6, 1)), "ones": np.ones((6, 1)), "soft": rng.uniform(size=(6, 1))}[labels]
    expected = tf.keras.losses.BinaryCrossentropy(from_logits=True, dtype="float64")(targets, logits).numpy()
    loss, _ = gan.sigmoid_cross_entropy_forward(logits, targets)
    np.testing.assert_allclose(loss, expected, rtol=1e-12)


@pytest.mark.parity
def test_large_logits_give_tf_keras_s_numbers():
    tf = pytest.importorskip("tensorflow")
    real = np.array([1000.0, -1000.0, 40.0, -40.0])
    fake = np.array([-1000.0, 1000.0, 0.0])
    expected = _keras_losses(tf, real, fake)
    discriminator, d_cache = gan.discriminator_loss_forward(real, fake)
    generator, g_cache = gan.generator_loss_forward(fake)
    received = [discriminator, generator, *gan.discriminator_loss_backward(1.0, d_cache),
                gan.generator_loss_backward(1.0, g_cache)]
    for want, got in zip(expected, received):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


# --- the gradients are the slopes of the losses ------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_the_generator_gradients_match_central_differences(rng, shape):
    for name in ("generator_loss", "saturating_generator_loss"):
        pair = LossPair(name, getattr(gan, f"{name}_forward"), getattr(gan, f"{name}_backward"))
        assert_gradients_close(pair, _logits(rng, shape), tolerance=GRADIENT_TOLERANCE)


@pytest.mark.parametrize("real_shape, fake_shape", [((6,), (6,)), ((5, 1), (3, 1)), ((1,), (4,))])
def test_the_discriminator_gradients_match_central_differences(rng, real_shape, fake_shape):
    pair = LossPair("discriminator_loss", gan.discriminator_loss_forward, gan.discriminator_loss_backward)
    assert_gradients_close(pair, [_logits(rng, real_shape), _logits(rng, fake_shape)], tolerance=GRADIENT_TOLERANCE)


@pytest.mark.parametrize("shape", SHAPES)
def test_the_cross_entropy_gradient_matches_central_differences_for_soft_labels(rng, shape):
    labels = rng.uniform(size=shape)
    pair = LossPair("sigmoid_cross_entropy", lambda x: gan.sigmoid_cross_entropy_forward(x, labels),
                    gan.sigmoid_cross_entropy_backward)
    assert_gradients_close(pair, _logits(rng, shape), tolerance=GRADIENT_TOLERANCE)


def test_the_upstream_gradient_scales_every_backward(rng):
    real, fake = _logits(rng, (4,)), _logits(rng, (3,))
    _, d_cache = gan.discriminator_loss_forward(real, fake)
    scaled = gan.discriminator_loss_backward(-2.5, d_cache)
    for one, other in zip(gan.discriminator_loss_backward(1.0, d_cache), scaled):
        np.testing.assert_allclose(other, -2.5 * one, rtol=1e-15)
    _, g_cache = gan.generator_loss_forward(fake)
    np.testing.assert_allclose(gan.generator_loss_backward(0.5, g_cache),
                               0.5 * gan.generator_loss_backward(1.0, g_cache))


# --- the numbers one can work out by hand, and no overflow --------------------------------------------------


def test_logits_of_zero_cost_log_2_each():
    discriminator, _ = gan.discriminator_loss_forward(np.zeros(3), np.zeros(5))
    generator, cache = gan.generator_loss_forward(np.zeros((4, 1)))
    assert discriminator == pytest.approx(2 * np.log(2.0), rel=1e-15)
    assert generator == pytest.approx(np.log(2.0), rel=1e-15)
    np.testing.assert_allclose(gan.generator_loss_backward(1.0, cache), np.full((4, 1), -0.5 / 4))


def test_logits_of_plus_or_minus_1000_neither_overflow_nor_lose_the_loss():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow or a log(0) warning would fail the test
        confident, cache = gan.discriminator_loss_forward(np.array([1000.0, 1000.0]), np.array([-1000.0]))
        d_real, d_fake = gan.discriminator_loss_backward(1.0, cache)
        fooled, _ = gan.discriminator_loss_forward(np.array([-1000.0]), np.array([1000.0, 1000.0]))
        rejected, g_cache = gan.generator_loss_forward(np.array([-1000.0, -1000.0]))
        d_generator = gan.generator_loss_backward(1.0, g_cache)
        saturating, s_cache = gan.saturating_generator_loss_forward(np.array([-1000.0, -1000.0]))
        d_saturating = gan.saturating_generator_loss_backward(1.0, s_cache)
    assert confident == 0.0 and fooled == 2000.0  # 1000 for the real sample called fake, 1000 for the fakes
    np.testing.assert_array_equal(d_real, [0.0, 0.0])
    np.testing.assert_array_equal(d_fake, [0.0])
    assert rejected == 1000.0  # -log σ(-1000) = 1000, not inf
    np.testing.assert_array_equal(d_generator, [-0.5, -0.5])  # the non-saturating loss still pushes
    assert saturating == 0.0
    np.testing.assert_array_equal(d_saturating, [0.0, 0.0])  # the saturating loss has nothing left to give


def test_the_non_saturating_gradient_is_largest_where_the_saturating_one_vanishes():
    logits = np.array([-8.0, -4.0, 0.0, 4.0])
    _, cache = gan.generator_loss_forward(logits)
    non_saturating = gan.generator_loss_backward(1.0, cache)
    _, cache = gan.saturating_generator_loss_forward(logits)
    saturating = gan.saturating_generator_loss_backward(1.0, cache)
    # Both push the same way, towards a larger logit for the fake (descent subtracts a negative gradient) ...
    assert np.all(non_saturating < 0) and np.all(saturating < 0)
    # ... but only the non-saturating loss pushes hard where the discriminator rejects the fake.
    assert abs(non_saturating[0]) > 0.24 and abs(saturating[0]) < 1e-3 * abs(non_saturating[0])
    assert np.all(np.diff(np.abs(non_saturating)) < 0) and np.all(np.diff(np.abs(saturating)) > 0)


def test_batch_and_batch_by_one_logits_give_the_same_loss(rng):
    real, fake = _logits(rng, (6,)), _logits(rng, (4,))
    assert gan.discriminator_loss_forward(real, fake)[0] == pytest.approx(
        gan.discriminator_loss_forward(real[:, None], fake[:, None])[0], rel=1e-15)
    assert gan.generator_loss_forward(fake)[0] == pytest.approx(gan.generator_loss_forward(fake[:, None])[0], rel=1e-15)


def test_the_losses_are_the_cross_entropies_with_the_gan_labels(rng):
    real, fake = _logits(rng, (5,)), _logits(rng, (5,))
    bce = lambda x, y: gan.sigmoid_cross_entropy_forward(x, y)[0]  # noqa: E731
    assert gan.discriminator_loss_forward(real, fake)[0] == pytest.approx(bce(real, 1.0) + bce(fake, 0.0), rel=1e-15)
    assert gan.generator_loss_forward(fake)[0] == pytest.approx(bce(fake, 1.0), rel=1e-15)
    assert gan.saturating_generator_loss_forward(fake)[0] == pytest.approx(-bce(fake, 0.0), rel=1e-15)
    probabilities = 1 / (1 + np.exp(-real))
    assert bce(real, 1.0) == pytest.approx(-np.mean(np.log(probabilities)), rel=1e-12)


def test_integer_logits_are_scored_as_floats():
    loss, _ = gan.generator_loss_forward(np.array([0, 0]))
    assert loss.dtype.kind == "f" and loss == pytest.approx(np.log(2.0))


# --- bad input ---------------------------------------------------------------------------------------------


def test_empty_logits_are_refused_with_the_name_of_the_argument():
    with pytest.raises(ValueError, match=r"discriminator_loss_forward: fake_logits must hold at least one logit.*"
                                         r"Received: fake_logits.shape=\(0,\)"):
        gan.discriminator_loss_forward(np.ones(3), np.ones(0))
    with pytest.raises(ValueError, match=r"generator_loss_forward: fake_logits must hold at least one logit"):
        gan.generator_loss_forward(np.ones((0, 1)))


def test_labels_that_do_not_broadcast_are_refused():
    with pytest.raises(ValueError, match=r"sigmoid_cross_entropy_forward: labels must be broadcastable to the "
                                         r"logits' shape \(4, 1\). Received: labels.shape=\(3,\)"):
        gan.sigmoid_cross_entropy_forward(np.ones((4, 1)), np.ones(3))


def test_the_losses_run_under_the_strict_backend_with_the_same_numbers(rng):
    """Array work through backend.xp only: the CuPy stand-in gives NumPy's numbers."""
    from course_lib import backend

    real, fake = _logits(rng, (5, 1)), _logits(rng, (3, 1))
    results = []
    for name in ("numpy", "strict"):
        with backend.backend_scope(name):
            xp = backend.xp
            discriminator, d_cache = gan.discriminator_loss_forward(xp.asarray(real), xp.asarray(fake))
            generator, g_cache = gan.saturating_generator_loss_forward(xp.asarray(fake))
            values = [discriminator, *gan.discriminator_loss_backward(1.0, d_cache), generator,
                      gan.saturating_generator_loss_backward(1.0, g_cache)]
            results.append([backend.to_numpy(value) for value in values])
    for numpy_value, strict_value in zip(*results):
        np.testing.assert_array_equal(numpy_value, strict_value)
