"""course_lib.GradientTape against tf.GradientTape in Keras's custom-training-loop patterns.

Each test runs the same loop through both libraries, on the same weights, in the same test.
"""
import warnings

import numpy as np
import pytest

import course_lib as cl
from course_lib.testing import from_keras

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

GENERATOR = np.random.default_rng(7)
X = GENERATOR.normal(size=(8, 4)).astype("float32")
Y = GENERATOR.normal(size=(8, 1)).astype("float32")


def _both(**dense_options):
    keras.utils.set_random_seed(0)
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, **dense_options), keras.layers.Dense(1)])
    return theirs, from_keras(theirs)


def _gradients(model, library, tape_class, x, add_losses, source="weights"):
    with tape_class() as tape:
        if source == "input" and library is keras:
            x = tf.constant(x)
            tape.watch(x)
        loss = library.losses.MeanSquaredError()(Y, model(x, training=True))
        if add_losses:
            loss = loss + sum(model.losses)
    return float(loss), tape.gradient(loss, x if source == "input" else model.trainable_weights)


def test_loss_plus_the_models_losses_carries_the_weight_penalties_gradients():
    """keras.io's training loop from scratch: `loss + sum(model.losses)` with a kernel_regularizer."""
    theirs, ours = _both(kernel_regularizer=keras.regularizers.L2(0.5))
    expected_loss, expected = _gradients(theirs, keras, tf.GradientTape, X, add_losses=True)
    loss, grads = _gradients(ours, cl, cl.GradientTape, X, add_losses=True)
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    for ours_grad, theirs_grad in zip(grads, expected):
        np.testing.assert_allclose(ours_grad, theirs_grad.numpy(), rtol=1e-5, atol=1e-6)


def test_an_activity_penalty_left_out_of_the_loss_is_reported_where_course_lib_differs():
    """With the penalty added both agree; left out, Keras drops its gradient while course_lib's backward
    keeps it (a deliberate difference, chapter 12): the tape says so instead of differing silently."""
    theirs, ours = _both(activity_regularizer=keras.regularizers.L2(0.5))
    _, expected = _gradients(theirs, keras, tf.GradientTape, X, add_losses=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, grads = _gradients(ours, cl, cl.GradientTape, X, add_losses=True)
    for ours_grad, theirs_grad in zip(grads, expected):
        np.testing.assert_allclose(ours_grad, theirs_grad.numpy(), rtol=1e-5, atol=1e-6)
    _, without = _gradients(theirs, keras, tf.GradientTape, X, add_losses=False)
    with pytest.warns(RuntimeWarning, match="added losses during its call .* that the target does not add"):
        _, ours_without = _gradients(ours, cl, cl.GradientTape, X, add_losses=False)
    assert not np.allclose(ours_without[0], without[0].numpy(), atol=1e-3)  # the difference the warning names


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_gradient_with_respect_to_an_input_the_model_casts_is_keras_s(dtype):
    """Saliency maps and adversarial examples: d loss / d x for `x = images / 255.0` (float64)."""
    theirs, ours = _both()
    x = X.astype(dtype)
    _, expected = _gradients(theirs, keras, tf.GradientTape, x, add_losses=False, source="input")
    _, grad = _gradients(ours, cl, cl.GradientTape, x, add_losses=False, source="input")
    assert grad is not None and grad.dtype == np.dtype(dtype) == expected.numpy().dtype
    np.testing.assert_allclose(grad, expected.numpy(), rtol=1e-5, atol=1e-7)


def test_a_layer_called_on_its_own_passes_its_activity_penalty_gradient_to_its_input():
    """`loss + sum(layer.losses)` for a bare Dense with an activity regularizer: the penalty's gradient
    reaches the input and the weights, as in Keras (a model's backward adds it; a layer's alone must too)."""
    keras.utils.set_random_seed(3)
    theirs = keras.layers.Dense(3, activity_regularizer=keras.regularizers.L1L2(0.3, 0.2))
    theirs.build((None, 4))
    ours = cl.layers.Dense(3, activity_regularizer=cl.regularizers.L1L2(0.3, 0.2))
    ours.build((None, 4))
    ours.set_weights([w.numpy() for w in theirs.weights])
    target = np.ones((8, 3), "float32")
    for with_loss in (True, False):
        x = tf.constant(X)
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = theirs(x)
            loss = sum(theirs.losses) + (keras.losses.MeanSquaredError()(target, out) if with_loss else 0.0)
        expected = tape.gradient(loss, [x] + theirs.trainable_weights)
        x_ours = X.copy()
        with cl.GradientTape() as tape:
            out = ours(x_ours)
            loss = sum(ours.losses) + (cl.losses.MeanSquaredError()(target, out) if with_loss else 0.0)
        grads = tape.gradient(loss, [x_ours] + ours.trainable_weights)
        for mine, reference in zip(grads, expected):
            np.testing.assert_allclose(mine, reference.numpy(), rtol=1e-5, atol=1e-6, err_msg=str(with_loss))


@pytest.mark.parametrize("layer_name", ["Dropout", "Identity", "ActivityRegularization"])
def test_a_layer_that_returns_its_input_is_counted_once(layer_name):
    """Dropout at inference returns its input array itself: the tape must not count the gradient twice."""
    arguments = {"Dropout": {"rate": 0.5}, "Identity": {}, "ActivityRegularization": {}}[layer_name]
    dense = cl.layers.Dense(2)
    dense.build((None, 4))
    passthrough = getattr(cl.layers, layer_name)(**arguments)
    x = X.copy()
    with cl.GradientTape() as tape:
        y = passthrough(dense(x))
        loss = cl.losses.MeanSquaredError()(np.zeros((8, 2), "float32"), y)
    grads = tape.gradient(loss, dense.trainable_weights)
    theirs = keras.layers.Dense(2)
    theirs.build((None, 4))
    theirs.set_weights(dense.get_weights())
    other = getattr(keras.layers, layer_name)(**arguments)
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(np.zeros((8, 2), "float32"), other(theirs(x)))
    for mine, reference in zip(grads, tape.gradient(loss, theirs.trainable_weights)):
        np.testing.assert_allclose(mine, reference.numpy(), rtol=1e-5, atol=1e-7)
