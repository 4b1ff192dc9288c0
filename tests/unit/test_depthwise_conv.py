"""DepthwiseConv1D/2D and SeparableConv1D/2D: gradient checks over strides, paddings, dilations,
depth multipliers and data formats; the grouped-convolution path against its definition (a full
convolution with a block-diagonal kernel, and per-channel loops); the Layer contract, configs,
names, dtypes, the strict backend, training, files and bad arguments."""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend
from course_lib.layers import convolutional_depthwise as dw
from course_lib.ops import conv

GRADIENT_CASES = [
    # (id, class, kwargs, input shape)
    ("2d-valid", "DepthwiseConv2D", {"kernel_size": 3}, (2, 5, 4, 3)),
    ("2d-same-multiplier2", "DepthwiseConv2D", {"kernel_size": 3, "padding": "same", "depth_multiplier": 2}, (2, 4, 5, 2)),
    ("2d-stride2-same-even", "DepthwiseConv2D", {"kernel_size": (2, 3), "strides": 2, "padding": "same"}, (2, 5, 6, 3)),
    ("2d-strides-2-3-valid-m3", "DepthwiseConv2D", {"kernel_size": 2, "strides": (2, 3), "depth_multiplier": 3},
     (2, 5, 7, 2)),
    ("2d-dilated-same", "DepthwiseConv2D", {"kernel_size": 3, "dilation_rate": (2, 1), "padding": "same"}, (2, 6, 5, 2)),
    ("2d-stride2-and-dilation2", "DepthwiseConv2D",
     {"kernel_size": 3, "strides": 2, "dilation_rate": 2, "padding": "same", "depth_multiplier": 2}, (2, 7, 8, 2)),
    ("2d-channels-first", "DepthwiseConv2D",
     {"kernel_size": 3, "strides": 2, "depth_multiplier": 2, "data_format": "channels_first"}, (2, 3, 7, 6)),
    ("2d-tanh-no-bias", "DepthwiseConv2D",
     {"kernel_size": 3, "activation": "tanh", "use_bias": False, "depth_multiplier": 2}, (2, 5, 5, 2)),
    ("1d-valid", "DepthwiseConv1D", {"kernel_size": 3}, (2, 7, 3)),
    ("1d-same-stride2-m2", "DepthwiseConv1D", {"kernel_size": 4, "strides": 2, "padding": "same", "depth_multiplier": 2},
     (2, 9, 2)),
    ("1d-dilated-channels-first", "DepthwiseConv1D",
     {"kernel_size": 3, "dilation_rate": 3, "data_format": "channels_first"}, (2, 3, 10)),
    ("sep2d-valid", "SeparableConv2D", {"filters": 4, "kernel_size": 3}, (2, 5, 5, 3)),
    ("sep2d-same-stride2-m2", "SeparableConv2D",
     {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2}, (2, 6, 5, 2)),
    ("sep2d-stride2-dilation2", "SeparableConv2D",
     {"filters": 2, "kernel_size": 2, "strides": 2, "dilation_rate": 2, "depth_multiplier": 3}, (2, 7, 7, 2)),
    ("sep2d-channels-first-relu-no-bias", "SeparableConv2D",
     {"filters": 5, "kernel_size": (3, 2), "data_format": "channels_first", "activation": "elu", "use_bias": False},
     (2, 2, 5, 6)),
    ("sep1d-same-dilated-m2", "SeparableConv1D",
     {"filters": 3, "kernel_size": 3, "dilation_rate": 2, "padding": "same", "depth_multiplier": 2}, (2, 8, 2)),
    ("sep1d-channels-first-stride3", "SeparableConv1D",
     {"filters": 2, "kernel_size": 2, "strides": 3, "data_format": "channels_first"}, (2, 3, 10)),
]


# Central-difference step. The convolutions are linear in the input and in each weight, so only the
# activation adds truncation error (4e-8 for tanh at 1e-4), while the objective's rounding error
# grows as the step shrinks: at the default 1e-6 it reaches 3e-10, which is 4e-6 relative on an input
# gradient that nearly cancels (-3.2e-5 in 2d-dilated-same). Measured at 1e-4: worst 1.3e-7 overall.
STEP = 1e-4


@pytest.mark.parametrize("class_name, kwargs, shape", [c[1:] for c in GRADIENT_CASES], ids=[c[0] for c in GRADIENT_CASES])
def test_depthwise_and_separable_gradients(class_name, kwargs, shape):
    with backend.floatx_scope("float64"):
        layer = getattr(cl.layers, class_name)(**kwargs)
        x = np.random.default_rng(1).standard_normal(shape)
        report = cl.testing.assert_gradients_close(layer, x, tolerance=1e-6, epsilon=STEP)
    kernels = {"kernel"} if class_name.startswith("Depthwise") else {"depthwise_kernel", "pointwise_kernel"}
    assert set(report.entries) == {"input"} | kernels | ({"bias"} if kwargs.get("use_bias", True) else set())
    assert report.max_error < 1e-6


def _block_diagonal(kernel):
    """``(*k, C, M)`` -> the full ``(*k, C, C * M)`` kernel that is zero between different channels."""
    *window, channels, multiplier = kernel.shape
    full = np.zeros(tuple(window) + (channels, channels * multiplier))
    for c in range(channels):
        full[..., c, c * multiplier:(c + 1) * multiplier] = kernel[..., c, :]
    return full


@pytest.mark.parametrize("kernel_size, strides, padding, dilation, multiplier", [
    ((3, 3), 1, "valid", 1, 1), ((3, 2), 1, "same", 1, 2), ((2, 3), 2, "same", 1, 3), ((3, 3), (2, 1), "valid", 1, 2),
    ((3, 3), 1, "same", 2, 1), ((2, 2), 2, "same", 2, 2), ((1, 1), 3, "valid", 1, 4), ((4, 4), 1, "same", 1, 1),
])
def test_it_is_a_full_convolution_with_a_block_diagonal_kernel_forward_and_backward(
        kernel_size, strides, padding, dilation, multiplier):
    generator = np.random.default_rng(7)
    x = generator.standard_normal((2, 7, 6, 3))
    kernel = generator.standard_normal(kernel_size + (3, multiplier))
    bias = generator.standard_normal(3 * multiplier)
    out, cache = dw.depthwise_conv_forward(x, kernel, bias, strides, padding, dilation)
    full_out, full_cache = conv.conv_forward(x, _block_diagonal(kernel), bias, strides, padding, dilation)
    np.testing.assert_allclose(out, full_out, rtol=1e-12, atol=1e-12)
    dy = generator.standard_normal(out.shape)
    dx, dkernel, dbias = dw.depthwise_conv_backward(dy, cache)
    full_dx, full_dkernel, full_dbias = conv.conv_backward(dy, full_cache)
    np.testing.assert_allclose(dx, full_dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dbias, full_dbias, rtol=1e-12, atol=1e-12)
    # The kernel gradient is the block diagonal of the full one.
    for c in range(3):
        np.testing.assert_allclose(dkernel[..., c, :], full_dkernel[..., c, c * multiplier:(c + 1) * multiplier],
                                   rtol=1e-12, atol=1e-12)


def test_output_channel_c_times_m_plus_m_is_channel_c_through_kernel_c_m():
    """Keras's channel order, checked with the readable loops of conv2d_forward_naive, one channel at a time."""
    generator = np.random.default_rng(8)
    x = generator.standard_normal((2, 6, 5, 3))
    kernel = generator.standard_normal((3, 2, 3, 2))
    out, _ = dw.depthwise_conv_forward(x, kernel, None, (2, 1), "same")
    for c in range(3):
        for m in range(2):
            alone = conv.conv2d_forward_naive(x[..., c:c + 1], kernel[..., c:c + 1, m:m + 1], None, (2, 1), "same")
            np.testing.assert_allclose(out[..., c * 2 + m], alone[..., 0], rtol=1e-12, atol=1e-12)


def test_separable_is_depthwise_then_pointwise():
    generator = np.random.default_rng(9)
    x = generator.standard_normal((2, 6, 6, 3))
    depthwise, pointwise = generator.standard_normal((3, 3, 3, 2)), generator.standard_normal((1, 1, 6, 4))
    bias = generator.standard_normal(4)
    out, cache = dw.separable_conv_forward(x, depthwise, pointwise, bias, 2, "same", 1)
    middle, _ = dw.depthwise_conv_forward(x, depthwise, None, 2, "same", 1)
    np.testing.assert_allclose(out, np.einsum("nhwc,cf->nhwf", middle, pointwise[0, 0]) + bias, rtol=1e-12, atol=1e-12)
    dy = generator.standard_normal(out.shape)
    full = dw.separable_conv_backward(dy, cache)
    alone = dw.separable_conv_backward(dy, cache, need_dx=False)
    assert alone[0] is None
    for mine, theirs in zip(alone[1:], full[1:]):
        np.testing.assert_array_equal(mine, theirs)


def test_the_weight_gradients_alone_equal_those_of_the_full_backward():
    generator = np.random.default_rng(5)
    x = generator.standard_normal((2, 5, 4, 2))
    kernel = generator.standard_normal((3, 3, 2, 2))
    out, cache = dw.depthwise_conv_forward(x, kernel, np.zeros(4), 2, "same")
    dy = generator.standard_normal(out.shape)
    dx, dkernel, dbias = dw.depthwise_conv_backward(dy, cache)
    none, dkernel_alone, dbias_alone = dw.depthwise_conv_backward(dy, cache, need_dx=False)
    assert none is None and dx.shape == x.shape and dkernel.shape == kernel.shape
    np.testing.assert_array_equal(dkernel_alone, dkernel)
    np.testing.assert_array_equal(dbias_alone, dbias)


@pytest.mark.parametrize("class_name, kwargs, shape, expected, weights, params", [
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2}, (2, 6, 5, 3), (None, 4, 3, 6), 2, 9 * 3 * 2 + 6),
    ("DepthwiseConv2D", {"kernel_size": 3, "strides": 2, "padding": "same", "use_bias": False}, (2, 7, 7, 4),
     (None, 4, 4, 4), 1, 9 * 4),
    ("DepthwiseConv2D", {"kernel_size": (3, 1), "data_format": "channels_first", "depth_multiplier": 3},
     (2, 2, 5, 4), (None, 6, 3, 4), 2, 3 * 2 * 3 + 6),
    ("DepthwiseConv1D", {"kernel_size": 3, "strides": 2}, (2, 9, 3), (None, 4, 3), 2, 3 * 3 + 3),
    ("SeparableConv2D", {"filters": 8, "kernel_size": 3, "padding": "same", "depth_multiplier": 2}, (2, 5, 5, 3),
     (None, 5, 5, 8), 3, 9 * 3 * 2 + 6 * 8 + 8),
    ("SeparableConv2D", {"filters": 4, "kernel_size": 2, "data_format": "channels_first", "use_bias": False},
     (2, 3, 4, 4), (None, 4, 3, 3), 2, 4 * 3 + 3 * 4),
    ("SeparableConv1D", {"filters": 5, "kernel_size": 3, "dilation_rate": 2}, (2, 9, 2), (None, 5, 5), 3,
     3 * 2 + 2 * 5 + 5),
])
def test_layer_contract(class_name, kwargs, shape, expected, weights, params):
    layer = cl.testing.layer_test(getattr(cl.layers, class_name), kwargs, input_shape=shape,
                                  expected_output_shape=expected, expected_num_weights=weights,
                                  expected_num_params=params)
    channels = shape[1] if kwargs.get("data_format") == "channels_first" else shape[-1]
    multiplier = kwargs.get("depth_multiplier", 1)
    if class_name.startswith("Depthwise"):
        assert [w.name for w in layer.weights] == ["kernel", "bias"][:weights]
        assert layer.kernel.shape == layer.kernel_size + (channels, multiplier)
    else:
        assert [w.name for w in layer.weights] == ["depthwise_kernel", "pointwise_kernel", "bias"][:weights]
        assert layer.depthwise_kernel.shape == layer.kernel_size + (channels, multiplier)
        assert layer.pointwise_kernel.shape == (1,) * layer.rank + (channels * multiplier, kwargs["filters"])


def test_configs_round_trip_the_names_resolve_and_the_aliases_are_the_same_classes():
    layer = cl.layers.SeparableConv2D(4, 3, strides=2, padding="SAME", depth_multiplier=2,
                                      depthwise_regularizer="l2", pointwise_constraint="non_neg", name="sep")
    config = layer.get_config()
    assert config["padding"] == "same" and config["strides"] == (2, 2) and "groups" not in config
    assert list(config)[3:11] == ["depth_multiplier", "filters", "kernel_size", "strides", "padding", "data_format",
                                  "dilation_rate", "activation"]
    layer(np.zeros((1, 5, 5, 2), "float32"))
    assert layer.depthwise_kernel.regularizer is layer.depthwise_regularizer
    assert layer.pointwise_kernel.constraint is layer.pointwise_constraint
    rebuilt = cl.layers.deserialize(cl.layers.serialize(layer))
    assert type(rebuilt) is cl.layers.SeparableConv2D and rebuilt.get_config() == config
    assert rebuilt.pointwise_kernel.shape == (1, 1, 4, 4)
    depthwise = cl.layers.DepthwiseConv1D(3, depth_multiplier=2, depthwise_initializer="he_normal")
    config = depthwise.get_config()
    assert list(config)[3:9] == ["depth_multiplier", "kernel_size", "strides", "padding", "data_format",
                                 "dilation_rate"]
    assert config["depthwise_initializer"]["class_name"] == "HeNormal"
    entry = {"module": "keras.layers", "class_name": "DepthwiseConv2D", "config": {"kernel_size": 3}}
    assert type(cl.layers.deserialize(entry)) is cl.layers.DepthwiseConv2D
    assert cl.layers.SeparableConvolution1D is cl.layers.SeparableConv1D
    assert cl.layers.SeparableConvolution2D is cl.layers.SeparableConv2D


def test_automatic_names_follow_keras():
    assert [cl.layers.DepthwiseConv2D(3).name, cl.layers.DepthwiseConv2D(3).name] == [
        "depthwise_conv2d", "depthwise_conv2d_1"]
    assert cl.layers.DepthwiseConv1D(3).name == "depthwise_conv1d"
    assert cl.layers.SeparableConv2D(2, 3).name == "separable_conv2d"
    assert cl.layers.SeparableConvolution1D(2, 3).name == "separable_conv1d"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("class_name, kwargs", [("DepthwiseConv2D", {"kernel_size": 3}),
                                                ("SeparableConv2D", {"filters": 3, "kernel_size": 3})])
def test_forward_and_gradients_keep_the_layer_dtype(dtype, class_name, kwargs):
    with backend.floatx_scope(dtype):
        layer = getattr(cl.layers, class_name)(strides=2, padding="same", depth_multiplier=2, **kwargs)
        y = layer(np.random.default_rng(0).standard_normal((2, 5, 5, 2)).astype(dtype), training=True)
        dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.dtype(dtype)
    assert all(g.dtype == np.dtype(dtype) for g in layer.grads.values())


def test_the_strict_backend_runs_forward_and_backward_with_the_same_numbers():
    generator = np.random.default_rng(6)
    x = generator.standard_normal((2, 3, 6, 5)).astype("float32")
    dy = generator.standard_normal((2, 4, 3, 3)).astype("float32")
    results = []
    for name in ("numpy", "strict"):
        with backend.backend_scope(name):
            backend.set_seed(0)
            layer = cl.layers.SeparableConv2D(4, 3, strides=2, padding="same", depth_multiplier=2,
                                              data_format="channels_first", activation="relu")
            y = layer(backend.xp.asarray(x), training=True)
            dx = layer.backward(backend.xp.asarray(dy))
            results.append([backend.to_numpy(a) for a in (y, dx, *layer.grads.values())])
    for mine, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)


def test_a_mobilenet_style_block_trains_and_saves(tmp_path):
    generator = np.random.default_rng(7)
    x = generator.standard_normal((16, 8, 8, 3)).astype("float32")
    y = generator.integers(0, 2, 16)
    backend.set_seed(1)
    model = cl.Sequential([
        cl.Input((8, 8, 3)),
        cl.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu"),
        cl.layers.Conv2D(4, 1),
        cl.layers.SeparableConv2D(6, 3, strides=2, activation="relu"),
        cl.layers.Flatten(),
        cl.layers.Dense(2, activation="softmax"),
    ])
    model.compile(cl.optimizers.AdamW(learning_rate=0.01), "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=8, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m.keras")
    loaded = cl.models.load_model(tmp_path / "m.keras")
    assert [type(layer).__name__ for layer in loaded.layers][:3] == ["DepthwiseConv2D", "Conv2D", "SeparableConv2D"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert model.layers[0].name == "depthwise_conv2d" and model.layers[2].name == "separable_conv2d"


@pytest.mark.parametrize("make, message", [
    (lambda: cl.layers.DepthwiseConv2D(3, depth_multiplier=0),
     r"DepthwiseConv2D: depth_multiplier must be a positive int. Received: depth_multiplier=0"),
    (lambda: cl.layers.DepthwiseConv2D(3, depth_multiplier=1.5), r"depth_multiplier must be a positive int"),
    (lambda: cl.layers.SeparableConv2D(0, 3), r"SeparableConv2D: filters must be a positive int. Received: filters=0"),
    (lambda: cl.layers.SeparableConv1D(None, 3), r"SeparableConv1D: filters must be a positive int"),
    (lambda: cl.layers.DepthwiseConv2D((3, 0)),
     r"DepthwiseConv2D: kernel_size must be positive ints \(an int or a tuple of 2\). Received: kernel_size=\(3, 0\)"),
    (lambda: cl.layers.DepthwiseConv2D(3, strides=0), r"DepthwiseConv2D: strides must be positive ints"),
    (lambda: cl.layers.SeparableConv2D(2, 3, dilation_rate=(1, 1, 1)), r"a tuple of 2\). Received: dilation_rate="),
    (lambda: cl.layers.DepthwiseConv1D(3, padding="causal"),
     r"DepthwiseConv1D: padding must be one of \('valid', 'same'\). Received: padding='causal'"),
    (lambda: cl.layers.SeparableConv1D(2, 3, padding="causal"), r"SeparableConv1D: padding must be one of"),
    (lambda: cl.layers.DepthwiseConv2D(3, data_format="NHWC"),
     r"DepthwiseConv2D: data_format must be 'channels_last' or 'channels_first'"),
])
def test_bad_arguments_are_refused_at_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_inputs_are_refused_naming_the_layer():
    with pytest.raises(ValueError, match=r"'d1' is incompatible with the layer: expected ndim=4, found ndim=3"):
        cl.layers.DepthwiseConv2D(3, name="d1")(np.zeros((2, 5, 5), "float32"))
    with pytest.raises(ValueError, match=r"'d2'.*expected ndim=3, found ndim=4"):
        cl.layers.SeparableConv1D(2, 3, name="d2").compute_output_shape((2, 5, 5, 1))
    layer = cl.layers.DepthwiseConv2D(3, name="d3")
    layer(np.zeros((1, 5, 5, 3), "float32"))
    with pytest.raises(ValueError, match=r"'d3' is incompatible.*expected axis -1 of input shape to have value 3"):
        layer(np.zeros((1, 5, 5, 2), "float32"))
    first = cl.layers.SeparableConv2D(2, 3, data_format="channels_first", name="d4")
    first(np.zeros((1, 3, 4, 4), "float32"))
    with pytest.raises(ValueError, match=r"'d4' is incompatible.*expected axis 1 of input shape to have value 3"):
        first(np.zeros((1, 4, 4, 4), "float32"))
    with pytest.raises(ValueError, match=r"DepthwiseConv2D 'd5': the channel dimension of the input must be known"):
        cl.layers.DepthwiseConv2D(3, name="d5").build((None, 4, 4, None))
    small = cl.layers.SeparableConv2D(2, 5, name="d6")
    with pytest.raises(ValueError, match=r"SeparableConv2D 'd6': the input is too small for the kernel: the output "
                                         r"would have spatial shape \(0, -1\)"):
        small(np.zeros((1, 4, 3, 2), "float32"))
    assert not small.weights
    with pytest.raises(ValueError, match=r"depthwise_conv_forward: the input has 2 channels but the kernel expects 3"):
        dw.depthwise_conv_forward(np.zeros((1, 4, 4, 2)), np.zeros((3, 3, 3, 1)))
