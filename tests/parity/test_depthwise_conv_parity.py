"""DepthwiseConv1D/2D and SeparableConv1D/2D against tf.keras computed in the same test: forward
values, input and weight gradients, compute_output_shape, weight names and configs, over a grid of
kernel sizes, strides, paddings, dilations (stride > 1 with dilation > 1 included: Keras 3 allows
it here), depth multipliers and both data formats; then ``.keras`` files both ways.

Both layers get the same random weights (Keras's, copied with set_weights); gradients come from
``tf.GradientTape.gradient(y, [x, *weights], output_gradients=dy)``. Float32, inputs and weights
N(0, 1). Measured: differences up to 3.8e-5 absolute (a weight gradient of the MobileNet-sized
separable case, values up to 170: 2.2e-7 of the largest), and nowhere more than 6.9e-7 of the
largest expected value -- summation order, TensorFlow's depthwise kernel against one BLAS product
per channel group. Hence rtol 1e-5 with an atol of 1e-5 times the largest expected value, as for
the other convolutions; float64 agrees to rounding (1e-12). Files: predictions agree within 1e-6,
and a model loaded from either library's file trains on to the same weights.

Left out on purpose: channels_first outputs whose width equals their channel count, where Keras on
TensorFlow adds the bias along the width (see ``_widened_past_keras_bias_quirk``).
"""
import itertools

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
from keras_tape import compare_layer  # noqa: E402
import keras  # noqa: E402  (Keras 3, the library tf.keras is)

pytestmark = pytest.mark.parity

RTOL = 1e-5


def _widened_past_keras_bias_quirk(class_name, kwargs, shape):
    """``shape``, its last axis widened until a channels_first output's width differs from its channels.

    Keras on TensorFlow adds a layer's bias with ``ops.add``, which turns into ``tf.nn.bias_add``
    choosing NHWC whenever the output's LAST axis has the bias's length: a channels_first output
    whose width equals its channel count gets the bias along the width (Keras 3.15; course_lib adds
    it on the channel axis). Those shapes are left out, as in test_conv_transpose_parity.py.
    """
    if kwargs.get("data_format") != "channels_first":
        return shape
    layer = getattr(cl.layers, class_name)(**kwargs)
    while True:
        out = layer.compute_output_shape((None,) + shape[1:])
        if out[-1] != out[1]:
            return shape
        shape = shape[:-1] + (shape[-1] + 1,)


def _compare(class_name, kwargs, shape, seed=0, dtype="float32"):
    shape = _widened_past_keras_bias_quirk(class_name, kwargs, shape)
    generator = np.random.default_rng(seed)
    x = generator.standard_normal(shape).astype(dtype)
    ours, theirs, worst = compare_layer(class_name, kwargs, x, generator, dtype, RTOL)
    return ours, theirs, x, worst


def _grid():
    for kernel_size, stride, padding, dilation, multiplier, data_format in itertools.product(
            (1, 2, 3), (1, 2), ("valid", "same"), (1, 2), (1, 3), ("channels_last", "channels_first")):
        yield kernel_size, stride, padding, dilation, multiplier, data_format


def _grid_id(case):
    kernel_size, stride, padding, dilation, multiplier, data_format = case
    return f"k{kernel_size}-s{stride}-{padding}-d{dilation}-m{multiplier}-{data_format.split('_')[1]}"


GRID = list(_grid())


@pytest.mark.parametrize("kernel_size, stride, padding, dilation, multiplier, data_format", GRID,
                         ids=[_grid_id(c) for c in GRID])
def test_the_depthwise_grid_matches_keras(kernel_size, stride, padding, dilation, multiplier, data_format):
    kwargs = {"kernel_size": (kernel_size, kernel_size + 1), "strides": (stride, 1) if kernel_size == 2 else stride,
              "padding": padding, "dilation_rate": dilation, "depth_multiplier": multiplier,
              "data_format": data_format}
    shape = (2, 3, 9, 8) if data_format == "channels_first" else (2, 9, 8, 3)
    ours, theirs, x, _ = _compare("DepthwiseConv2D", kwargs, shape, seed=kernel_size * 10 + stride)
    assert ours.get_config() == theirs.get_config() | {"name": ours.name}
    # And the other way: course_lib's weights into a fresh Keras layer give course_lib's output.
    ours.set_weights([w * 0.5 - 0.1 for w in ours.get_weights()])
    fresh = keras.layers.DepthwiseConv2D(**kwargs)
    fresh(x)
    fresh.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x), fresh(x).numpy(), rtol=RTOL, atol=RTOL * float(np.max(np.abs(ours(x)))))


@pytest.mark.parametrize("kernel_size, stride, padding, dilation, multiplier, data_format", GRID,
                         ids=[_grid_id(c) for c in GRID])
def test_the_separable_grid_matches_keras(kernel_size, stride, padding, dilation, multiplier, data_format):
    kwargs = {"filters": 4, "kernel_size": (kernel_size + 1, kernel_size), "strides": stride, "padding": padding,
              "dilation_rate": dilation, "depth_multiplier": multiplier, "data_format": data_format}
    shape = (2, 3, 8, 9) if data_format == "channels_first" else (2, 8, 9, 3)
    ours, theirs, _, _ = _compare("SeparableConv2D", kwargs, shape, seed=kernel_size * 10 + stride + 5)
    assert ours.get_config() == theirs.get_config() | {"name": ours.name}


CASES = [
    ("dw1d-valid", "DepthwiseConv1D", {"kernel_size": 3}, (2, 9, 3)),
    ("dw1d-same-stride2-m2", "DepthwiseConv1D", {"kernel_size": 4, "strides": 2, "padding": "same",
                                                 "depth_multiplier": 2}, (2, 9, 3)),
    ("dw1d-dilated", "DepthwiseConv1D", {"kernel_size": 3, "dilation_rate": 3, "padding": "same"}, (2, 10, 2)),
    ("dw1d-stride2-dilation2", "DepthwiseConv1D", {"kernel_size": 3, "strides": 2, "dilation_rate": 2}, (2, 11, 2)),
    ("dw1d-channels-first", "DepthwiseConv1D", {"kernel_size": 2, "strides": 2, "depth_multiplier": 3,
                                                "data_format": "channels_first"}, (2, 3, 9)),
    ("sep1d-valid", "SeparableConv1D", {"filters": 5, "kernel_size": 3}, (2, 9, 3)),
    ("sep1d-same-m2-relu", "SeparableConv1D", {"filters": 4, "kernel_size": 3, "padding": "same",
                                               "depth_multiplier": 2, "activation": "relu"}, (2, 8, 3)),
    ("sep1d-stride2-dilation2", "SeparableConv1D", {"filters": 3, "kernel_size": 2, "strides": 2, "dilation_rate": 2,
                                                    "padding": "same"}, (2, 9, 2)),
    ("sep1d-channels-first", "SeparableConv1D", {"filters": 3, "kernel_size": 3, "strides": 3,
                                                 "data_format": "channels_first"}, (2, 2, 10)),
    ("dw2d-no-bias-tanh", "DepthwiseConv2D", {"kernel_size": 3, "use_bias": False, "activation": "tanh",
                                              "depth_multiplier": 2}, (2, 6, 6, 3)),
    ("dw2d-strides-2-3", "DepthwiseConv2D", {"kernel_size": (3, 2), "strides": (2, 3), "padding": "same"},
     (2, 7, 8, 2)),
    ("sep2d-no-bias-elu", "SeparableConv2D", {"filters": 6, "kernel_size": 3, "use_bias": False,
                                              "activation": "elu"}, (2, 6, 6, 3)),
    ("sep2d-mobilenet-sized", "SeparableConv2D", {"filters": 32, "kernel_size": 3, "padding": "same",
                                                  "strides": 2}, (2, 14, 14, 16)),
]


@pytest.mark.parametrize("class_name, kwargs, shape", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_rank_and_option_matches_keras(class_name, kwargs, shape):
    ours, theirs, _, _ = _compare(class_name, kwargs, shape)
    assert ours.get_config() == theirs.get_config() | {"name": ours.name}
    rebuilt = cl.testing.layer_to_keras(ours)
    assert type(rebuilt).__name__ == class_name and rebuilt.get_config() == ours.get_config()
    back = cl.testing.layer_from_keras(theirs)
    assert type(back).__name__ == class_name and back.get_config() == theirs.get_config()


@pytest.mark.parametrize("class_name, kwargs, shape", [
    ("DepthwiseConv2D", {"kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2}, (2, 7, 6, 3)),
    ("SeparableConv2D", {"filters": 3, "kernel_size": (2, 3), "depth_multiplier": 2}, (2, 6, 7, 2)),
])
def test_float64_matches_keras_to_rounding(class_name, kwargs, shape):
    _compare(class_name, kwargs, shape, dtype="float64")


def test_regularizers_and_constraints_land_on_the_same_weights_as_in_keras():
    kwargs = {"filters": 3, "kernel_size": 3, "depthwise_regularizer": "l2", "pointwise_regularizer": "l1",
              "bias_constraint": "non_neg", "depthwise_constraint": {"class_name": "MaxNorm", "config": {"max_value": 1.5}}}
    x = np.random.default_rng(3).standard_normal((2, 5, 5, 2)).astype("float32")
    theirs, ours = keras.layers.SeparableConv2D(**kwargs), cl.layers.SeparableConv2D(**kwargs)
    theirs(x)
    ours(x)
    ours.set_weights(theirs.get_weights())
    assert ours.get_config() == theirs.get_config() | {"name": ours.name}
    np.testing.assert_allclose(sum(float(v) for v in ours.losses), sum(float(v) for v in theirs.losses), rtol=1e-6)
    for mine, reference in zip(ours.weights, theirs.weights):
        assert (mine.constraint is None) == (reference.constraint is None), mine.name


def _model(library):
    layers = library.layers
    return library.Sequential([
        layers.Input((10, 10, 3)),
        layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu"),
        layers.SeparableConv2D(8, 3, strides=2, activation="relu"),
        layers.DepthwiseConv2D(2, data_format="channels_last", use_bias=False),
        layers.Reshape((9, 8)),
        layers.SeparableConv1D(4, 3, padding="same", depth_multiplier=2),
        layers.DepthwiseConv1D(3, strides=2),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])


def _data(seed):
    generator = np.random.default_rng(seed)
    return generator.standard_normal((16, 10, 10, 3)).astype("float32"), generator.integers(0, 3, 16)


def _same_predictions_then_same_training(first, second, x, y):
    np.testing.assert_allclose(first.predict(x, verbose=0), second.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    histories = [model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
                 for model in (first, second)]
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)
    for mine, theirs in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_a_keras_file_opens_in_course_lib_and_trains_on(tmp_path):
    x, y = _data(4)
    keras.utils.set_random_seed(0)
    theirs = _model(keras)
    theirs.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    theirs.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    theirs.save(tmp_path / "keras.keras")
    ours = cl.models.load_model(tmp_path / "keras.keras")
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in theirs.layers]
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert ours.count_params() == theirs.count_params()
    assert ours.optimizer.iterations == 2
    _same_predictions_then_same_training(theirs, ours, x, y)


def test_a_course_lib_file_opens_in_keras_and_trains_on(tmp_path):
    x, y = _data(5)
    cl.utils.set_random_seed(0)
    ours = _model(cl)
    ours.compile(cl.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    ours.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    ours.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    assert [type(layer).__name__ for layer in theirs.layers] == [type(layer).__name__ for layer in ours.layers]
    assert [[w.name for w in layer.weights] for layer in theirs.layers] == \
        [[w.name for w in layer.weights] for layer in ours.layers]
    assert int(theirs.optimizer.iterations.numpy()) == 2
    _same_predictions_then_same_training(ours, theirs, x, y)
