"""The pure kernels of course_lib.ops that assignment 1 asks students to write.

Gradients are checked against float64 central differences with a random
upstream gradient; softmax cross-entropy is compared with tf.keras.
"""
import warnings

import numpy as np
import pytest

from course_lib import ops
from course_lib.testing.gradient_check import assert_gradients_close

GRADIENT_TOLERANCE = 1e-6


class KernelPair:
    """A forward/backward pair seen by the course's one gradient checker as a weightless layer."""

    dtype = "float64"
    trainable_weight_names = ()
    trainable_weights = ()

    def __init__(self, name, forward, backward):
        self.name, self._forward, self._backward = name, forward, backward

    def __call__(self, x, training=False):
        out, self._cache = self._forward(x)
        return out

    def backward(self, dout):
        return self._backward(dout, self._cache)


def assert_kernel_gradients(name, forward, backward, x, **kwargs):
    assert_gradients_close(KernelPair(name, forward, backward), x, tolerance=GRADIENT_TOLERANCE, **kwargs)


def away_from_zero(rng, shape):
    # ReLU's derivative jumps at 0; keep central differences off the kink.
    return rng.uniform(0.1, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


# --- ReLU ------------------------------------------------------------------------


def test_relu_forward_values_and_shape():
    out, _ = ops.relu_forward(np.array([[-1.0, 0.0, 2.5], [3.0, -0.5, 0.1]]))
    np.testing.assert_array_equal(out, [[0.0, 0.0, 2.5], [3.0, 0.0, 0.1]])


def test_relu_backward_passes_gradient_only_where_input_positive():
    _, cache = ops.relu_forward(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(ops.relu_backward(np.array([5.0, 5.0, 5.0]), cache), [0.0, 0.0, 5.0])


@pytest.mark.parametrize("shape", [(4, 5), (1, 1), (2, 3, 4)])
def test_relu_gradient_check(rng, shape):
    assert_kernel_gradients("relu", ops.relu_forward, ops.relu_backward, away_from_zero(rng, shape))


def test_relu_backward_rejects_wrong_shape():
    _, cache = ops.relu_forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"relu_backward: .*\(2, 3\).*Received: dout.shape=\(3, 2\)"):
        ops.relu_backward(np.ones((3, 2)), cache)


# --- sigmoid ---------------------------------------------------------------------


def test_sigmoid_forward_values():
    out, _ = ops.sigmoid_forward(np.array([0.0, np.log(3.0)]))
    np.testing.assert_allclose(out, [0.5, 0.75])


def test_sigmoid_is_stable_for_large_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning would fail the test
        out, _ = ops.sigmoid_forward(np.array([-1000.0, 1000.0]))
    np.testing.assert_array_equal(out, [0.0, 1.0])


@pytest.mark.parametrize("shape", [(3, 4), (1,), (2, 2, 3)])
def test_sigmoid_gradient_check(rng, shape):
    assert_kernel_gradients("sigmoid", ops.sigmoid_forward, ops.sigmoid_backward, rng.normal(scale=3.0, size=shape))


def test_sigmoid_keeps_float32():
    out, _ = ops.sigmoid_forward(np.ones(3, dtype="float32"))
    assert out.dtype == np.float32


# --- softmax and cross-entropy ---------------------------------------------------------


def test_softmax_rows_sum_to_one_and_survive_large_logits(rng):
    logits = rng.normal(size=(5, 7)) * 50 + 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probs = ops.softmax(logits)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert np.all(np.isfinite(probs))


def test_softmax_cross_entropy_uniform_logits():
    loss, dlogits = ops.softmax_cross_entropy(np.zeros((2, 4)), np.array([0, 3]))
    assert isinstance(loss, float)
    assert loss == pytest.approx(np.log(4.0))
    np.testing.assert_allclose(dlogits, [[-0.375, 0.125, 0.125, 0.125], [0.125, 0.125, 0.125, -0.375]])


@pytest.mark.parametrize("batch, classes, offset", [(5, 10, 0.0), (1, 3, 0.0), (4, 2, 0.0), (6, 10, 1000.0)])
def test_softmax_cross_entropy_gradient_check(rng, batch, classes, offset):
    # Unit-scale logits: with widely spread ones some probabilities are ~1e-7 and
    # their gradients drown in the finite difference's own error, whatever the step.
    logits = rng.normal(size=(batch, classes)) + offset
    labels = rng.integers(0, classes, size=batch)

    def forward(z):
        loss, dlogits = ops.softmax_cross_entropy(z, labels)
        return np.array(loss), dlogits

    def backward(dloss, dlogits):
        return dloss * dlogits

    # The loss is one number of order 1: a 1e-4 step keeps round-off in the
    # difference of two losses small, and truncation error is smaller still.
    assert_kernel_gradients("softmax_cross_entropy", forward, backward, logits, epsilon=1e-4)


def test_softmax_cross_entropy_is_shift_invariant_for_huge_logits(rng):
    """Adding a constant to every logit changes nothing, even when exp() of it overflows."""
    logits = rng.normal(scale=3.0, size=(6, 10))
    labels = rng.integers(0, 10, size=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shifted_loss, shifted_grad = ops.softmax_cross_entropy(logits + 1e4, labels)
    loss, grad = ops.softmax_cross_entropy(logits, labels)
    assert shifted_loss == pytest.approx(loss, rel=1e-9)
    np.testing.assert_allclose(shifted_grad, grad, rtol=1e-6, atol=1e-12)


@pytest.mark.parity
def test_softmax_cross_entropy_matches_keras(rng):
    import tensorflow as tf
    from tensorflow import keras

    logits = rng.normal(scale=4.0, size=(8, 10)).astype("float32")
    logits[0] += 500.0  # a row that overflows a naive exp
    labels = rng.integers(0, 10, size=8)
    loss, dlogits = ops.softmax_cross_entropy(logits.astype("float64"), labels)

    keras_loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variable = tf.Variable(logits)
    with tf.GradientTape() as tape:
        keras_loss = keras_loss_fn(labels, variable)
    keras_grad = tape.gradient(keras_loss, variable).numpy()

    assert loss == pytest.approx(float(keras_loss.numpy()), rel=1e-6)
    np.testing.assert_allclose(dlogits, keras_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "logits, labels, error, message",
    [
        (np.zeros(4), np.array([0]), ValueError, r"logits must have shape \(batch, classes\)"),
        (np.zeros((2, 3)), np.array([0, 1, 2]), ValueError, r"labels must have shape \(2,\)"),
        (np.zeros((2, 3)), np.array([0.0, 1.0]), TypeError, "labels must be integers"),
        (np.zeros((2, 3)), np.array([0, 3]), ValueError, r"labels must lie in \[0, 3\)"),
        (np.zeros((2, 3)), np.array([-1, 0]), ValueError, r"labels must lie in \[0, 3\)"),
    ],
)
def test_softmax_cross_entropy_rejects_bad_input(logits, labels, error, message):
    with pytest.raises(error, match=f"softmax_cross_entropy: {message}"):
        ops.softmax_cross_entropy(logits, labels)


# --- SGD ------------------------------------------------------------------------------


def test_sgd_step_updates_arrays_in_place(rng):
    params = {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=(2,))}
    grads = {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=(2,))}
    expected = {key: params[key] - 0.1 * grads[key] for key in params}
    originals = dict(params)
    assert ops.sgd_step(params, grads, 0.1) is None
    for key in params:
        assert params[key] is originals[key]
        np.testing.assert_allclose(params[key], expected[key])


def test_sgd_step_accepts_numpy_learning_rate():
    params = {"w": np.array([1.0])}
    ops.sgd_step(params, {"w": np.array([2.0])}, np.float32(0.5))
    np.testing.assert_allclose(params["w"], [0.0])


@pytest.mark.parametrize(
    "grads, learning_rate, message",
    [
        ({"w": np.ones(2)}, 0.0, "learning_rate must be a positive number. Received: learning_rate=0.0"),
        ({"w": np.ones(2)}, "0.1", "learning_rate must be a positive number"),
        ({"v": np.ones(2)}, 0.1, r"grads must have the same names as params"),
        ({"w": np.ones(3)}, 0.1, r"grads\['w'\] must have shape \(2,\). Received: \(3,\)"),
    ],
)
def test_sgd_step_rejects_bad_input(grads, learning_rate, message):
    with pytest.raises(ValueError, match=f"sgd_step: {message}"):
        ops.sgd_step({"w": np.ones(2)}, grads, learning_rate)


def test_kernels_train_a_tiny_network(rng):
    """The kernels compose: a few SGD steps on a separable toy problem lower the loss."""
    x = rng.normal(size=(32, 4))
    labels = (x[:, 0] > 0).astype(int)
    params = {"W": rng.normal(scale=0.1, size=(4, 2)), "b": np.zeros(2)}
    losses = []
    for _ in range(50):
        logits, cache = ops.dense_forward(x, params["W"], params["b"])
        loss, dlogits = ops.softmax_cross_entropy(logits, labels)
        _, dW, db = ops.dense_backward(dlogits, cache)
        ops.sgd_step(params, {"W": dW, "b": db}, 0.5)
        losses.append(loss)
    assert losses[-1] < 0.5 * losses[0]
