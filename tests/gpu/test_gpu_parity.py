"""course_lib on CuPy against Keras 3 on the same GPU (marker ``gpu``).

Run with ``make test-gpu`` on a machine with an NVIDIA GPU, CuPy and Keras 3
on JAX (``KERAS_BACKEND=jax``: the GPU machine has no TensorFlow). Everywhere
else every test here is skipped with the reason. The CPU suite already runs
the same workflows under the strict stand-in for CuPy
(tests/unit/test_strict_backend.py), so what can fail here is what only a GPU
shows: cuBLAS summation order, device-only code paths.
"""
import importlib.util
import os

import numpy as np
import pytest

pytestmark = pytest.mark.gpu


def _gpu_available():
    if importlib.util.find_spec("cupy") is None:
        return "CuPy is not installed"
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device"
    except Exception as error:  # no driver, no device
        return f"CUDA is not usable here ({type(error).__name__}: {error})"
    if importlib.util.find_spec("keras") is None:
        return "Keras is not installed (the GPU reference is Keras 3 on JAX)"
    return None


REASON = _gpu_available()
if REASON:
    pytest.skip(f"GPU tests skipped: {REASON}", allow_module_level=True)

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402

import course_lib as cl  # noqa: E402
from course_lib import backend  # noqa: E402


@pytest.fixture(autouse=True)
def on_the_gpu():
    with backend.backend_scope("cupy"):
        yield


def _data(seed=0, samples=256):
    generator = np.random.default_rng(seed)
    x = generator.standard_normal((samples, 20)).astype("float32")
    return x, generator.integers(0, 4, samples)


def _mlp(library):
    library.utils.set_random_seed(0)
    return library.Sequential([library.Input((20,)), library.layers.Dense(64, activation="relu"),
                               library.layers.Dense(4, activation="softmax")])


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_an_mlp_fits_on_the_gpu_as_keras_does(optimizer):
    x, y = _data()
    keras_model = _mlp(keras)
    ours = cl.testing.from_keras(keras_model)
    assert type(ours.weights[0].value).__module__.startswith("cupy")
    for model in (keras_model, ours):
        model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    expected = keras_model.fit(x, y, epochs=3, batch_size=32, shuffle=False, verbose=0).history
    received = ours.fit(x, y, epochs=3, batch_size=32, shuffle=False, verbose=0).history
    np.testing.assert_allclose(received["loss"], expected["loss"], rtol=1e-4)  # cuBLAS vs XLA summation order
    for mine, theirs in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
    assert isinstance(ours.predict(x, verbose=0), np.ndarray)  # numbers leave the GPU at the API, as in Keras


def test_gradients_in_float64_on_the_gpu():
    with backend.floatx_scope("float64"):
        inputs = cl.Input((6,))
        model = cl.Model(inputs, cl.layers.Dense(3, activation="tanh")(cl.layers.Dense(5)(inputs)))
        report = cl.testing.check_gradients(model, np.random.default_rng(0).standard_normal((4, 6)))
    assert report.passed, str(report)


def _cnn(library):
    library.utils.set_random_seed(0)
    layers = library.layers
    return library.Sequential([
        library.Input((12, 12, 1)),
        layers.Conv2D(8, 3, padding="same", use_bias=False, kernel_regularizer=library.regularizers.L2(1e-3)),
        layers.BatchNormalization(), layers.Activation("relu"), layers.MaxPooling2D(),
        layers.Conv2D(16, 3, strides=2, activation="relu"), layers.GlobalAveragePooling2D(),
        layers.Dense(4, activation="softmax"),
    ])


def test_a_cnn_with_batch_normalization_fits_on_the_gpu_as_keras_does():
    generator = np.random.default_rng(1)
    x = generator.standard_normal((128, 12, 12, 1)).astype("float32")
    y = generator.integers(0, 4, 128)
    keras_model = _cnn(keras)
    ours = cl.testing.from_keras(keras_model)
    assert type(ours.layers[0].kernel.value).__module__.startswith("cupy")
    for model in (keras_model, ours):
        model.compile("adam", "sparse_categorical_crossentropy")
    expected = keras_model.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0).history
    received = ours.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0).history
    np.testing.assert_allclose(received["loss"], expected["loss"], rtol=1e-4)
    for mine, theirs in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-3, atol=1e-4)  # moving statistics included


def _transformer(library):
    """Chapter 12's encoder block on real-valued sequences (no Embedding: Keras's sparse update differs)."""
    library.utils.set_random_seed(0)
    layers = library.layers
    inputs = library.Input((7, 5))
    x = layers.Dense(8)(inputs)
    attended = layers.MultiHeadAttention(2, key_dim=4)(x, x, use_causal_mask=True)
    x = layers.LayerNormalization()(layers.Add()([x, attended]))
    fed = layers.Dense(8)(layers.Dense(16, activation="relu")(x))
    x = layers.LayerNormalization()(layers.Add()([x, fed]))
    return library.Model(inputs, layers.Dense(1, activation="sigmoid")(layers.GlobalAveragePooling1D()(x)))


def test_a_transformer_block_fits_on_the_gpu_as_keras_does():
    generator = np.random.default_rng(2)
    x = generator.standard_normal((64, 7, 5)).astype("float32")
    y = (x[:, :, 0].mean(axis=1) > 0).astype("float32")[:, None]
    keras_model, ours = _transformer(keras), _transformer(cl)
    ours.set_weights(keras_model.get_weights())
    assert type(ours.weights[0].value).__module__.startswith("cupy")
    for model in (keras_model, ours):
        model.compile("adam", "binary_crossentropy")
    expected = keras_model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    received = ours.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    np.testing.assert_allclose(received["loss"], expected["loss"], rtol=1e-4)
    for variable, mine, theirs in zip(ours.weights, ours.get_weights(), keras_model.get_weights(), strict=True):
        if not variable.path.endswith("key/bias"):  # zero gradient: Adam steps on rounding noise (chapter 12)
            np.testing.assert_allclose(mine, theirs, rtol=1e-3, atol=1e-4, err_msg=variable.path)


def _dcgan(library):
    library.utils.set_random_seed(0)
    layers = library.layers
    generator = library.Sequential([
        library.Input((8,)), layers.Dense(4 * 4 * 8), layers.Reshape((4, 4, 8)),
        layers.Conv2DTranspose(8, 3, strides=2, padding="same", use_bias=False), layers.BatchNormalization(),
        layers.LeakyReLU(0.2), layers.Conv2D(1, 3, padding="same", activation="tanh"),
    ])
    discriminator = library.Sequential([
        library.Input((8, 8, 1)), layers.Conv2D(8, 3, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Flatten(), layers.Dense(1, activation="sigmoid"),
    ])
    return generator, discriminator


def test_two_gan_iterations_on_the_gpu_as_keras_does():
    """The classic recipe (trainable toggled around train_on_batch) with a transposed convolution."""
    generator_data = np.random.default_rng(3)
    real = np.tanh(generator_data.standard_normal((16, 8, 8, 1))).astype("float32")
    noise = generator_data.standard_normal((16, 8)).astype("float32")
    networks = [_dcgan(keras), _dcgan(cl)]
    for source, target in zip(*networks):
        target.set_weights(source.get_weights())
    for library, (generator, discriminator) in zip((keras, cl), networks):
        discriminator.compile("adam", "binary_crossentropy")
        discriminator.trainable = False
        stacked = library.Sequential([generator, discriminator])
        stacked.compile("adam", "binary_crossentropy")
        for _ in range(2):
            images = np.concatenate([real[:8], generator.predict(noise[:8], verbose=0)])
            labels = np.concatenate([np.ones((8, 1)), np.zeros((8, 1))]).astype("float32")
            discriminator.trainable = True
            discriminator.train_on_batch(images, labels)
            discriminator.trainable = False
            stacked.train_on_batch(noise, np.ones((16, 1), "float32"))
    for theirs, mine in zip(*networks):
        for a, b in zip(mine.get_weights(), theirs.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
