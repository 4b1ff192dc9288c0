"""Conv1DTranspose/2DTranspose/3DTranspose against tf.keras computed in the same test: forward values,
input, kernel and bias gradients, compute_output_shape, configs and weights copied both ways, over a
grid of configurations; then a DCGAN-style generator trained two Adam steps in both libraries.

The grid: kernel 1..5, strides 1..3, both paddings, output_padding None and every value below the
stride, dilation 2 where Keras allows it (stride 1). Both layers get the same random weights
(Keras's, copied with set_weights); gradients come from ``tf.GradientTape.gradient(y, [x, kernel,
bias], output_gradients=dy)``. Float32, inputs and weights N(0, 1). Measured: differences up to
3.8e-6 absolute over the grid, and up to 5.3e-5 on the DCGAN-sized case (800 taps per output
value, values up to 68: 8e-7 of the largest) -- summation order, oneDNN's kernel against one BLAS
product. Hence rtol 1e-5 with an atol of 1e-5 times the largest expected value. The float64 cases
(no dilation: TensorFlow's float64 CPU kernel has none) agree to 4.4e-15, compared at 1e-12.
"""
import itertools

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
from keras_tape import compare_layer  # noqa: E402
keras = tf.keras

pytestmark = pytest.mark.parity


def _refused(kernel_size, dilation, padding, output_padding):
    """TensorFlow's kernel refuses "same" with an even dilated kernel span and output_padding 0."""
    return padding == "same" and output_padding == 0 and ((kernel_size - 1) * dilation + 1) % 2 == 0


def _grid():
    for kernel_size, stride, padding, dilation in itertools.product(range(1, 6), range(1, 4), ("valid", "same"), (1, 2)):
        if stride > 1 and dilation > 1:
            continue  # Keras refuses it (tested in the unit tests)
        for output_padding in (None,) + tuple(range(stride)):
            if not _refused(kernel_size, dilation, padding, output_padding):
                yield kernel_size, stride, padding, dilation, output_padding


def _compare(class_name, kwargs, shape, seed=0, dtype="float32"):
    generator = np.random.default_rng(seed)
    x = generator.standard_normal(shape).astype(dtype)
    ours, theirs, worst = compare_layer(class_name, kwargs, x, generator, dtype)
    return ours, theirs, x, worst


@pytest.mark.parametrize("kernel_size, stride, padding, dilation, output_padding", list(_grid()))
def test_the_grid_matches_keras_forward_gradients_and_shapes(kernel_size, stride, padding, dilation, output_padding):
    # A non-square kernel (k, k - 1) for odd k, unless its even axis makes the configuration one TF refuses.
    kwargs = {"filters": 3, "kernel_size": (kernel_size, max(kernel_size - 1, 1) if kernel_size % 2 else kernel_size),
              "strides": stride, "padding": padding, "dilation_rate": dilation, "output_padding": output_padding}
    if _refused(kwargs["kernel_size"][1], dilation, padding, output_padding):
        kwargs["kernel_size"] = (kernel_size, kernel_size)
    ours, theirs, x, _ = _compare("Conv2DTranspose", kwargs, (2, 4, 3, 2), seed=kernel_size * 10 + stride)
    # And the other way: course_lib's weights into a fresh Keras layer give course_lib's output.
    ours.set_weights([w * 0.5 - 0.1 for w in ours.get_weights()])
    fresh = keras.layers.Conv2DTranspose(**kwargs)
    fresh(x)
    fresh.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x), fresh(x).numpy(), rtol=1e-5, atol=1e-5 * float(np.max(np.abs(ours(x)))))


CASES = [
    ("1d-valid", "Conv1DTranspose", {"filters": 4, "kernel_size": 3}, (2, 7, 3)),
    ("1d-same-stride3-output-padding", "Conv1DTranspose",
     {"filters": 3, "kernel_size": 4, "strides": 3, "padding": "same", "output_padding": 1}, (2, 5, 2)),
    ("1d-dilated", "Conv1DTranspose", {"filters": 2, "kernel_size": 3, "dilation_rate": 3, "padding": "same"}, (2, 8, 2)),
    ("1d-channels-first", "Conv1DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "data_format": "channels_first"}, (2, 4, 6)),
    ("2d-dcgan", "Conv2DTranspose", {"filters": 16, "kernel_size": 5, "strides": 2, "padding": "same"}, (2, 7, 7, 32)),
    ("2d-strides-2-3", "Conv2DTranspose", {"filters": 3, "kernel_size": (3, 2), "strides": (2, 3), "output_padding": (1, 2)}, (2, 4, 3, 2)),
    ("2d-no-bias-tanh", "Conv2DTranspose",
     {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same", "use_bias": False, "activation": "tanh"}, (2, 4, 4, 2)),
    # Output width 6 != 4 filters: the bias must go on the channel axis.
    ("2d-channels-first", "Conv2DTranspose",
     {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "data_format": "channels_first"}, (2, 3, 5, 3)),
    ("3d-valid", "Conv3DTranspose", {"filters": 3, "kernel_size": 2}, (2, 3, 4, 2, 2)),
    ("3d-same-strides", "Conv3DTranspose", {"filters": 2, "kernel_size": 3, "strides": (2, 1, 3), "padding": "same"}, (1, 3, 4, 2, 2)),
    ("3d-output-padding", "Conv3DTranspose",
     {"filters": 2, "kernel_size": (2, 3, 2), "strides": 3, "output_padding": (0, 1, 2)}, (1, 2, 3, 2, 2)),
    ("3d-dilated", "Conv3DTranspose", {"filters": 2, "kernel_size": 2, "dilation_rate": (1, 2, 2)}, (1, 3, 3, 3, 2)),
    ("3d-channels-first", "Conv3DTranspose",
     {"filters": 2, "kernel_size": (2, 3, 2), "strides": 2, "padding": "same", "data_format": "channels_first"}, (1, 3, 2, 3, 2)),
]


@pytest.mark.parametrize("class_name, kwargs, shape", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_rank_and_option_matches_keras(class_name, kwargs, shape):
    ours, theirs, _, _ = _compare(class_name, kwargs, shape)
    assert ours.get_config() == theirs.get_config() | {"name": ours.name}
    rebuilt = cl.testing.layer_to_keras(ours)
    assert type(rebuilt).__name__ == class_name and rebuilt.get_config() == ours.get_config()


@pytest.mark.parametrize("kwargs, shape", [
    ({"filters": 3, "kernel_size": 4, "strides": 3, "padding": "same", "output_padding": 2}, (2, 4, 3, 2)),
    ({"filters": 2, "kernel_size": (2, 5), "strides": 2, "output_padding": 1}, (2, 3, 4, 3)),
])
def test_float64_matches_keras_to_rounding(kwargs, shape):
    _compare("Conv2DTranspose", kwargs, shape, dtype="float64")


def test_the_configuration_tensorflow_refuses_is_refused_by_both():
    x = np.zeros((1, 5, 5, 1), "float32")
    with pytest.raises(Exception):
        keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same", output_padding=0)(x)
    with pytest.raises(ValueError, match=r"even kernel span \(4\) and output_padding=0"):
        cl.layers.Conv2DTranspose(2, 4, strides=2, padding="same", output_padding=0)(x)


def _generator(library, latent=8):
    layers = library.layers
    return library.Sequential([
        layers.Input((latent,)),
        layers.Dense(7 * 7 * 16, use_bias=False),
        layers.Reshape((7, 7, 16)),
        layers.Conv2DTranspose(8, 5, strides=2, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.LeakyReLU(),
        layers.Conv2DTranspose(1, 5, strides=2, padding="same", activation="tanh"),
    ])


def test_a_dcgan_generator_gives_keras_outputs_and_adam_steps():
    generator = np.random.default_rng(11)
    keras.utils.set_random_seed(5)
    theirs = _generator(keras)
    ours = _generator(cl)
    ours.set_weights(theirs.get_weights())
    noise = generator.standard_normal((6, 8)).astype("float32")
    images = np.tanh(generator.standard_normal((6, 28, 28, 1))).astype("float32")
    np.testing.assert_allclose(ours.predict(noise, verbose=0), theirs.predict(noise, verbose=0), rtol=1e-5, atol=1e-6)
    assert ours.output_shape == tuple(theirs.output_shape) == (None, 28, 28, 1)
    assert ours.count_params() == theirs.count_params()
    initial = theirs.get_weights()
    theirs.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss="mse")
    ours.compile(optimizer=cl.optimizers.Adam(learning_rate=1e-2), loss="mse")
    for step in range(2):
        mine = ours.train_on_batch(noise, images)
        expected = theirs.train_on_batch(noise, images)
        np.testing.assert_allclose(mine, expected, rtol=1e-5, err_msg=f"loss of step {step}")
    for layer, reference in zip(ours.layers, theirs.layers):
        for mine, expected in zip(layer.get_weights(), reference.get_weights()):
            np.testing.assert_allclose(mine, expected, rtol=1e-4, atol=1e-5, err_msg=layer.name)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(ours.get_weights(), initial)) > 1e-3  # they moved
    np.testing.assert_allclose(ours.predict(noise, verbose=0), theirs.predict(noise, verbose=0), rtol=1e-4, atol=1e-5)
