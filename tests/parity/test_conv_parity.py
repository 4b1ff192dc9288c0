"""Conv1D/2D/3D against tf.keras computed in the same test: forward values, input and
weight gradients, output shapes, configs and the bridge, over a grid and over shapes
drawn by Hypothesis.

Both layers get the same random weights (copied with set_weights); gradients come from
``tf.GradientTape.gradient(y, [x, kernel, bias], output_gradients=dy)``. Float32,
inputs and weights N(0, 1). Measured: forward differences up to 2.9e-6 absolute on
outputs of size ~10 (kernels of 3x3x8 taps), gradients up to 3.8e-6 -- summation order
(oneDNN's direct convolution against one BLAS product). Hence rtol 1e-5 with an atol
of 1e-5 times the largest expected value.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
from keras_tape import keras_forward_backward  # noqa: E402
keras = tf.keras
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

pytestmark = pytest.mark.parity

CASES = [
    ("1d-valid", "Conv1D", {"filters": 4, "kernel_size": 3}, (2, 9, 3)),
    ("1d-same-strides", "Conv1D", {"filters": 3, "kernel_size": 4, "strides": 3, "padding": "same"}, (2, 10, 2)),
    ("1d-causal", "Conv1D", {"filters": 3, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}, (2, 11, 2)),
    ("1d-groups", "Conv1D", {"filters": 4, "kernel_size": 2, "groups": 2}, (2, 6, 4)),
    ("1d-channels-first", "Conv1D", {"filters": 3, "kernel_size": 3, "data_format": "channels_first"}, (2, 4, 8)),
    ("2d-documents", "Conv2D", {"filters": 32, "kernel_size": 3, "activation": "relu"}, (2, 28, 28, 1)),
    ("2d-same-even-kernel", "Conv2D", {"filters": 3, "kernel_size": 4, "padding": "same"}, (2, 7, 6, 2)),
    ("2d-strides-not-tiling", "Conv2D", {"filters": 4, "kernel_size": 3, "strides": (2, 3), "padding": "same"}, (2, 9, 10, 3)),
    ("2d-valid-strides", "Conv2D", {"filters": 4, "kernel_size": (3, 2), "strides": 2}, (2, 9, 8, 3)),
    ("2d-dilated", "Conv2D", {"filters": 2, "kernel_size": 3, "dilation_rate": (2, 1), "padding": "same"}, (2, 9, 7, 3)),
    ("2d-groups", "Conv2D", {"filters": 6, "kernel_size": 3, "groups": 3, "padding": "same"}, (2, 6, 6, 6)),
    ("2d-no-bias-sigmoid", "Conv2D", {"filters": 3, "kernel_size": 2, "use_bias": False, "activation": "sigmoid"}, (2, 5, 5, 2)),
    # Output width 5 != 4 filters: see test_channels_first_bias_goes_on_the_channel_axis.
    ("2d-channels-first", "Conv2D", {"filters": 4, "kernel_size": 3, "data_format": "channels_first"}, (2, 3, 7, 7)),
    ("3d-valid", "Conv3D", {"filters": 3, "kernel_size": 2}, (2, 4, 5, 3, 2)),
    ("3d-same-strides", "Conv3D", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, (1, 5, 6, 4, 2)),
    ("3d-channels-first", "Conv3D", {"filters": 2, "kernel_size": (2, 3, 2), "data_format": "channels_first"}, (1, 3, 4, 5, 4)),
]


def _compare(class_name, kwargs, shape, seed=0):
    generator = np.random.default_rng(seed)
    x = generator.standard_normal(shape).astype("float32")
    theirs = getattr(keras.layers, class_name)(**kwargs)
    theirs(x)
    theirs.set_weights([generator.standard_normal(w.shape).astype("float32") for w in theirs.get_weights()])
    ours = getattr(cl.layers, class_name)(**kwargs)
    ours(x)
    ours.set_weights(theirs.get_weights())
    y = ours(x)
    dy = generator.standard_normal(y.shape).astype("float32")
    dx = ours.backward(dy)
    expected_y, expected = keras_forward_backward(theirs, [x], dy)
    assert y.dtype == np.float32 and y.shape == expected_y.shape
    received = [dx] + [ours.grads[name] for name in ours.trainable_weight_names]
    for label, mine, reference in [("forward", y, expected_y)] + list(zip(["dx", "dkernel", "dbias"], received, expected)):
        scale = float(np.max(np.abs(reference), initial=1.0))
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-5 * scale, err_msg=label)


@pytest.mark.parametrize("class_name, kwargs, shape", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_convolution_matches_keras_forward_and_gradients(class_name, kwargs, shape):
    _compare(class_name, kwargs, shape)


@settings(max_examples=25, deadline=None)
@given(
    rank=st.integers(1, 2),
    size=st.integers(3, 9),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    padding=st.sampled_from(["valid", "same"]),
    channels=st.integers(1, 3),
    filters=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_match_keras(rank, size, kernel, stride, dilation, padding, channels, filters, seed):
    hypothesis.assume(stride == 1 or dilation == 1)  # Keras refuses both > 1 together
    hypothesis.assume(padding == "same" or (kernel - 1) * dilation < size)
    class_name = f"Conv{rank}D"
    kwargs = {"filters": filters, "kernel_size": kernel, "strides": stride, "dilation_rate": dilation,
              "padding": padding}
    _compare(class_name, kwargs, (2,) + (size,) * rank + (channels,), seed)


@pytest.mark.parametrize("class_name, kwargs, shape", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_output_shape_config_and_bridge_match_keras(class_name, kwargs, shape):
    theirs = getattr(keras.layers, class_name)(**kwargs)
    ours = getattr(cl.layers, class_name)(**kwargs)
    batch_shape = (None,) + shape[1:]
    assert ours.compute_output_shape(batch_shape) == tuple(theirs.compute_output_shape(batch_shape))
    config, expected = ours.get_config(), theirs.get_config()
    config.pop("name"), expected.pop("name")
    assert config == expected
    rebuilt = cl.testing.layer_from_keras(theirs)
    assert type(rebuilt) is type(ours) and rebuilt.kernel_size == ours.kernel_size
    back = cl.testing.layer_to_keras(ours)
    assert type(back) is type(theirs) and back.get_config()["padding"] == kwargs.get("padding", "valid")


def test_the_automatic_names_and_parameter_counts_are_keras_s():
    keras.backend.clear_session()
    cl.backend.clear_session()
    def build(lib):
        return lib.Sequential([lib.Input((28, 28, 1)), lib.layers.Conv2D(32, 3), lib.layers.Conv2D(64, 3),
                               lib.layers.Flatten(), lib.layers.Dense(10)])
    ours, theirs = build(cl), build(keras)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert ours.count_params() == theirs.count_params()


def test_keras_refuses_what_course_lib_refuses():
    """The bad arguments course_lib refuses are refused by Keras too (not a course_lib invention)."""
    for kwargs in ({"filters": 0, "kernel_size": 3}, {"filters": 5, "kernel_size": 3, "groups": 2},
                   {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
                   {"filters": 4, "kernel_size": 3, "padding": "full"}):
        with pytest.raises(ValueError):
            keras.layers.Conv2D(**kwargs)
        with pytest.raises(ValueError):
            cl.layers.Conv2D(**kwargs)
    with pytest.raises(ValueError):
        keras.layers.Conv2D(2, 5)(np.zeros((1, 3, 3, 1), "float32"))


def test_channels_first_bias_goes_on_the_channel_axis():
    """Keras 3.15 on TensorFlow's CPU adds a channels_first Conv2D's bias along the LAST axis when
    the output width happens to equal the number of filters (measured: off by the bias itself).
    course_lib adds it on the channel axis always: it equals Keras's channels_last layer on the
    transposed input, which is the definition. (Chapter 7 mentions it.)"""
    generator = np.random.default_rng(3)
    x = generator.standard_normal((2, 3, 7, 6)).astype("float32")  # output width 4 == filters
    channels_last = keras.layers.Conv2D(4, 3)
    channels_last(x.transpose(0, 2, 3, 1))
    weights = [generator.standard_normal(w.shape).astype("float32") for w in channels_last.get_weights()]
    channels_last.set_weights(weights)
    expected = channels_last(x.transpose(0, 2, 3, 1)).numpy().transpose(0, 3, 1, 2)
    ours = cl.layers.Conv2D(4, 3, data_format="channels_first")
    ours(x)
    ours.set_weights(weights)
    np.testing.assert_allclose(ours(x), expected, rtol=1e-5, atol=1e-5)
