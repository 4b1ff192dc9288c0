"""SpectralNormalization: weights, the power iteration, gradients (float64), errors, configs and files."""
import numpy as np
import pytest

import course_lib as cl
from course_lib.layers.spectral_normalization import power_iteration
from course_lib.testing import assert_gradients_close, layer_test


def _layer(make=None, **kwargs):
    """A float64 wrapper (and wrapped layer) for the gradient checks."""
    with cl.backend.floatx_scope("float64"):
        return cl.layers.SpectralNormalization(make() if make else cl.layers.Dense(4), **kwargs)


def test_weights_follow_keras_names_order_and_trainability(rng):
    layer = _layer()
    layer(rng.standard_normal((3, 5)))
    assert [w.name for w in layer.weights] == ["kernel", "vector_u", "bias"]
    assert [w.name for w in layer.trainable_weights] == ["kernel", "bias"]
    assert [w.name for w in layer.non_trainable_weights] == ["vector_u"]
    assert layer.vector_u.shape == (1, 4) and layer.kernel is layer.layer.kernel
    embedding = cl.layers.SpectralNormalization(cl.layers.Embedding(10, 3))
    out = embedding(np.array([[1, 2]]))
    assert [w.name for w in embedding.weights] == ["embeddings", "vector_u"] and out.dtype.kind == "f"


def test_layer_contract():
    layer_test(cl.layers.SpectralNormalization, {"layer": cl.layers.Dense(3)}, input_shape=(2, 4),
               expected_output_shape=(None, 3), expected_num_weights=3, expected_num_params=4 * 3 + 3 + 3)


def test_training_call_divides_the_kernel_by_its_largest_singular_value(rng):
    layer = _layer(power_iterations=1)
    x = rng.standard_normal((3, 5))
    before = layer(x)
    np.testing.assert_array_equal(layer(x), before)  # inference changes nothing
    for _ in range(30):  # the power method converges: sigma(kernel) -> 1
        layer(x, training=True)
    assert abs(np.linalg.svd(layer.kernel.numpy(), compute_uv=False)[0] - 1) < 1e-6
    u = layer.vector_u.numpy()
    np.testing.assert_allclose(np.linalg.norm(u), 1, atol=1e-12)


def test_power_iteration_matches_the_formula(rng):
    kernel = rng.standard_normal((2, 2, 3, 4))
    u = rng.standard_normal((1, 4))
    w = kernel.reshape(-1, 4)
    v = u @ w.T
    v /= np.linalg.norm(v)
    u2 = v @ w
    u2 /= np.linalg.norm(u2)
    new_u, new_kernel = power_iteration(kernel, u, 1)
    np.testing.assert_allclose(new_u, u2, rtol=1e-12)
    np.testing.assert_allclose(new_kernel, kernel / (v @ w @ u2.T), rtol=1e-12)


def test_a_zero_kernel_is_left_unchanged(rng):
    layer = _layer(lambda: cl.layers.Dense(2, kernel_initializer="zeros"))
    layer(rng.standard_normal((2, 3)))
    u = layer.vector_u.numpy()
    layer(rng.standard_normal((2, 3)), training=True)
    np.testing.assert_array_equal(layer.vector_u.numpy(), u)
    assert not layer.kernel.numpy().any()


@pytest.mark.parametrize("make, shape", [
    (lambda: cl.layers.Dense(3, activation="tanh"), (4, 5)),
    (lambda: cl.layers.Conv2D(2, 2), (2, 4, 4, 3)),
])
def test_gradients_in_inference_mode(make, shape, rng):
    layer = _layer(make, power_iterations=2)
    assert_gradients_close(layer, rng.standard_normal(shape))


def test_gradients_in_training_mode_are_the_wrapped_layers_at_the_normalised_kernel(rng):
    """Keras assigns the normalised kernel: no gradient flows through sigma (nor u, v)."""
    layer = _layer(lambda: cl.layers.Dense(3, activation="tanh"))
    x = rng.standard_normal((4, 5))
    layer(x)
    start = [w.copy() for w in layer.get_weights()]

    def restart():
        layer.set_weights(start)

    # The input gradient of the training call, each forward from the same weights (frozen: inputs only).
    layer.trainable = False
    assert_gradients_close(layer, x, training=True, before_forward=restart)
    layer.trainable = True
    restart()
    dy = rng.standard_normal((4, 3))
    layer(x, training=True)
    layer.backward(dy)
    training_grads = dict(layer.grads)
    normalised = layer.get_weights()
    # The same gradients as inference at the normalised kernel, which the checker verifies numerically.
    assert_gradients_close(layer, x, upstream=dy)
    layer.set_weights(normalised)
    layer(x)
    layer.backward(dy)
    for name in ("kernel", "bias"):
        np.testing.assert_allclose(training_grads[name], layer.grads[name], rtol=1e-12)
    # ... and not the gradient of kernel / sigma(kernel) with sigma differentiated.
    restart()
    kernel, u = start[0], start[1]
    eps, (i, j) = 1e-6, (1, 2)

    def loss(k):
        new_kernel = power_iteration(k, u, 1)[1]
        return float(np.sum(np.tanh(x @ new_kernel + start[2]) * dy))

    bumped = kernel.copy()
    bumped[i, j] += eps
    lowered = kernel.copy()
    lowered[i, j] -= eps
    through_sigma = (loss(bumped) - loss(lowered)) / (2 * eps)
    assert abs(through_sigma - training_grads["kernel"][i, j]) > 1e-3


def test_a_second_training_call_does_not_change_the_first_calls_backward(rng):
    layer = _layer(lambda: cl.layers.Dense(3))
    x1, x2 = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    layer(x1)
    y1 = layer(x1, training=True)
    kernel_1 = layer.kernel.numpy()
    cache_1 = layer._last_call
    layer(x2, training=True)
    dy = np.ones_like(y1)
    dx = layer.backward(dy, cache_1)[0]
    np.testing.assert_allclose(dx, dy @ kernel_1.T, rtol=1e-12)
    assert not np.allclose(layer.kernel.numpy(), kernel_1)  # the current kernel is kept


def test_errors_name_the_layer_and_what_was_received(rng):
    with pytest.raises(ValueError, match="no attribute 'kernel' nor 'embeddings'"):
        cl.layers.SpectralNormalization(cl.layers.ReLU())(rng.standard_normal((2, 3)))
    with pytest.raises(ValueError, match="power_iterations=0"):
        cl.layers.SpectralNormalization(cl.layers.Dense(2), power_iterations=0)
    with pytest.raises(TypeError, match="power_iterations"):
        cl.layers.SpectralNormalization(cl.layers.Dense(2), power_iterations=1.5)
    with pytest.raises(ValueError, match="layer instance"):
        cl.layers.SpectralNormalization(cl.layers.Dense)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        cl.layers.SpectralNormalization(cl.layers.Dense(2))(np.float32(3.0))
    layer = cl.layers.SpectralNormalization(cl.layers.Dense(2))
    layer(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="incompatible"):
        layer(np.ones((2, 4), "float32"))


def test_config_round_trip_and_registration():
    layer = cl.layers.SpectralNormalization(cl.layers.Dense(3, name="d"), power_iterations=3, name="sn")
    config = layer.get_config()
    assert config["power_iterations"] == 3 and config["layer"]["class_name"] == "Dense"
    clone = cl.layers.deserialize(cl.layers.serialize(layer))
    assert type(clone) is cl.layers.SpectralNormalization and clone.get_config() == config


def test_a_trained_model_round_trips_through_a_keras_file(tmp_path, rng):
    x, y = rng.standard_normal((8, 4)).astype("float32"), rng.standard_normal((8, 1)).astype("float32")
    model = cl.Sequential([cl.Input((4,)), cl.layers.SpectralNormalization(cl.layers.Dense(3, activation="relu")),
                           cl.layers.SpectralNormalization(cl.layers.Dense(1))])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = cl.models.load_model(tmp_path / "m.keras")
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
