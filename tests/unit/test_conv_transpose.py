"""Conv1DTranspose/2DTranspose/3DTranspose: gradient checks per configuration family, the fast
kernel against readable loops, the textbook (dilated input) formulation and the convolution's own
input gradient, the output-length formula, the Layer contract, chunks, the strict backend and bad input."""
import itertools

import numpy as np
import pytest

import course_lib as cl
from course_lib import backend
from course_lib.ops import conv
from course_lib.ops import conv_transpose as ct

GRADIENT_CASES = [
    # (id, class, kwargs, input shape)
    ("1d-valid", "Conv1DTranspose", {"filters": 3, "kernel_size": 3}, (2, 5, 2)),
    ("1d-stride2-same", "Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, (2, 4, 3)),
    ("1d-stride3-valid-output-padding", "Conv1DTranspose",
     {"filters": 2, "kernel_size": 2, "strides": 3, "output_padding": 2}, (2, 4, 2)),
    ("1d-dilated-same", "Conv1DTranspose", {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same"}, (2, 6, 2)),
    ("1d-channels-first", "Conv1DTranspose", {"filters": 3, "kernel_size": 2, "strides": 2, "data_format": "channels_first"}, (2, 3, 4)),
    ("2d-valid-stride1", "Conv2DTranspose", {"filters": 3, "kernel_size": (3, 2)}, (2, 4, 3, 2)),
    ("2d-same-stride1-even", "Conv2DTranspose", {"filters": 2, "kernel_size": 4, "padding": "same"}, (2, 4, 5, 2)),
    ("2d-same-stride2", "Conv2DTranspose", {"filters": 2, "kernel_size": 5, "strides": 2, "padding": "same"}, (2, 3, 4, 3)),
    ("2d-same-stride3-output-padding", "Conv2DTranspose",
     {"filters": 2, "kernel_size": 3, "strides": 3, "padding": "same", "output_padding": (1, 2)}, (1, 3, 3, 2)),
    ("2d-same-even-output-padding", "Conv2DTranspose",
     {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same", "output_padding": 1}, (2, 3, 3, 2)),
    ("2d-valid-strides-2-3", "Conv2DTranspose", {"filters": 2, "kernel_size": 2, "strides": (2, 3)}, (2, 3, 3, 2)),
    ("2d-dilated-valid", "Conv2DTranspose", {"filters": 2, "kernel_size": 3, "dilation_rate": (2, 1)}, (2, 3, 4, 2)),
    ("2d-channels-first-same", "Conv2DTranspose",
     {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same", "data_format": "channels_first"}, (2, 2, 3, 4)),
    ("2d-tanh-no-bias", "Conv2DTranspose",
     {"filters": 2, "kernel_size": 3, "strides": 2, "activation": "tanh", "use_bias": False}, (2, 3, 3, 2)),
    ("3d-valid", "Conv3DTranspose", {"filters": 2, "kernel_size": 2}, (1, 3, 2, 3, 2)),
    ("3d-same-stride2", "Conv3DTranspose", {"filters": 2, "kernel_size": (3, 2, 3), "strides": 2, "padding": "same"}, (1, 2, 3, 2, 2)),
    ("3d-stride3-output-padding", "Conv3DTranspose",
     {"filters": 2, "kernel_size": 2, "strides": 3, "output_padding": (0, 1, 2)}, (1, 2, 2, 2, 2)),
    ("3d-channels-first-dilated", "Conv3DTranspose",
     {"filters": 2, "kernel_size": 2, "dilation_rate": 2, "data_format": "channels_first"}, (1, 2, 2, 3, 2)),
]


@pytest.mark.parametrize("class_name, kwargs, shape", [c[1:] for c in GRADIENT_CASES], ids=[c[0] for c in GRADIENT_CASES])
def test_transposed_convolution_gradients(class_name, kwargs, shape):
    with backend.floatx_scope("float64"):
        layer = getattr(cl.layers, class_name)(**kwargs)
        x = np.random.default_rng(1).standard_normal(shape)
        report = cl.testing.assert_gradients_close(layer, x, tolerance=1e-6)
    assert set(report.entries) == {"input", "kernel"} | ({"bias"} if kwargs.get("use_bias", True) else set())
    assert report.max_error < 1e-6


def _naive_2d(x, kernel, bias, strides, padding, output_padding=None):
    """Every input pixel scatters ``x[n, i, j] . kernel`` into a full-size canvas; then the crop."""
    kh, kw, filters, _ = kernel.shape
    (sh, sw), n, height, width = strides, x.shape[0], x.shape[1], x.shape[2]
    extras = (None, None) if output_padding is None else output_padding
    out_h = ct.conv_transpose_output_length(height, kh, sh, padding, extras[0])
    out_w = ct.conv_transpose_output_length(width, kw, sw, padding, extras[1])
    (top, _), (left, _) = conv.padding_amounts(out_h, kh, sh, 1, padding), conv.padding_amounts(out_w, kw, sw, 1, padding)
    canvas = np.zeros((n, max(out_h + top, (height - 1) * sh + kh), max(out_w + left, (width - 1) * sw + kw), filters))
    for i in range(height):
        for j in range(width):
            # (n, C) . (kh, kw, F, C) -> (n, kh, kw, F)
            canvas[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :] += np.einsum("nc,hwfc->nhwf", x[:, i, j, :], kernel)
    return canvas[:, top:top + out_h, left:left + out_w, :] + bias


@pytest.mark.parametrize("kernel_size, strides, padding, output_padding", [
    ((3, 3), (1, 1), "valid", None), ((4, 3), (1, 1), "same", None), ((3, 2), (2, 2), "same", None),
    ((5, 5), (2, 2), "same", (1, 1)), ((2, 3), (3, 2), "valid", (2, 1)), ((1, 1), (3, 3), "valid", None),
    ((2, 2), (3, 3), "same", (2, 1)),
])
def test_the_vectorised_kernel_equals_the_readable_loops(kernel_size, strides, padding, output_padding):
    generator = np.random.default_rng(3)
    x = generator.standard_normal((2, 4, 5, 3))
    kernel = generator.standard_normal(kernel_size + (4, 3))
    bias = generator.standard_normal(4)
    fast, _ = ct.conv_transpose_forward(x, kernel, bias, strides, padding, output_padding)
    np.testing.assert_allclose(fast, _naive_2d(x, kernel, bias, strides, padding, output_padding), rtol=1e-12, atol=1e-12)


def _configurations():
    for k, s, padding, d in itertools.product((1, 2, 3, 4), (1, 2, 3), ("valid", "same"), (1, 2)):
        if s > 1 and d > 1:
            continue
        for extra in (None,) + tuple(range(s)):
            if padding == "same" and extra == 0 and ((k - 1) * d + 1) % 2 == 0:
                continue  # refused (see test_same_with_an_even_kernel_and_no_output_padding_is_refused)
            yield k, s, padding, d, extra


@pytest.mark.parametrize("kernel, stride, padding, dilation, output_padding", list(_configurations()))
def test_it_is_the_input_gradient_of_a_convolution_and_equals_the_dilated_formulation(
        kernel, stride, padding, dilation, output_padding):
    """The definition: forward = conv_backward's dx of the convolution from the output shape back to the input."""
    generator = np.random.default_rng(kernel * 100 + stride * 10 + dilation)
    x = generator.standard_normal((2, 5, 3))
    weights = generator.standard_normal((kernel, 2, 3))  # (k, filters, channels): a conv kernel from 2 to 3 channels
    bias = generator.standard_normal(2)
    out, _ = ct.conv_transpose_forward(x, weights, bias, stride, padding, output_padding, dilation)
    length = ct.conv_transpose_output_length(5, kernel, stride, padding, output_padding, dilation)
    assert out.shape == (2, length, 2)
    probe = generator.standard_normal((2, length, 2))
    _, cache = conv.conv_forward(probe, weights, None, stride, padding, dilation)
    dx = conv.conv_backward(x, cache)[0]
    np.testing.assert_allclose(out, dx + bias, rtol=1e-12, atol=1e-12)
    dilated = ct.conv_transpose_forward_dilated(x, weights, bias, stride, padding, output_padding, dilation)
    np.testing.assert_allclose(dilated, out, rtol=1e-12, atol=1e-12)


def test_the_output_length_formula_and_where_same_crops_the_odd_element():
    length = ct.conv_transpose_output_length
    # valid: (n - 1) * s + span + output_padding; a missing output_padding fills up to max(span, s).
    assert length(7, 5, 2, "valid") == 6 * 2 + 5
    assert length(7, 2, 3, "valid") == 6 * 3 + 3
    assert length(7, 2, 3, "valid", 1) == 6 * 3 + 2 + 1
    assert length(7, 3, 1, "valid", 0, dilation=2) == 6 + 5
    # same: n * s, or (n - 1) * s + span % 2 + output_padding.
    assert length(7, 5, 2, "same") == 14
    assert length(7, 5, 2, "same", 0) == 13 and length(7, 4, 2, "same", 1) == 13
    assert length(None, 3, 2, "same") is None
    # An impulse at position 0 through kernel 4, stride 1, same: the full result is the kernel itself at
    # positions 0..3 and "same" crops (1, 2) of it: one before, the odd one after (TensorFlow's rule).
    kernel = np.arange(1.0, 5.0).reshape(4, 1, 1)
    out, _ = ct.conv_transpose_forward(np.eye(1, 3).reshape(1, 3, 1), kernel, None, 1, "same")
    np.testing.assert_array_equal(out[0, :, 0], kernel[1:4, 0, 0])


def test_a_dcgan_layer_doubles_the_image():
    layer = cl.layers.Conv2DTranspose(64, 5, strides=2, padding="same")
    assert layer.compute_output_shape((None, 7, 7, 128)) == (None, 14, 14, 64)
    y = layer(np.zeros((2, 7, 7, 128), "float32"))
    assert y.shape == (2, 14, 14, 64) and y.dtype == np.float32
    assert layer.kernel.shape == (5, 5, 64, 128) and [w.name for w in layer.weights] == ["kernel", "bias"]


@pytest.mark.parametrize("class_name, kwargs, shape, expected", [
    ("Conv1DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2}, (2, 5, 3), (None, 11, 4)),
    ("Conv2DTranspose", {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same"}, (2, 4, 4, 2), (None, 8, 8, 8)),
    ("Conv2DTranspose", {"filters": 3, "kernel_size": 2, "strides": 3, "output_padding": (1, 2), "use_bias": False},
     (2, 3, 2, 2), (None, 9, 7, 3)),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 2, "data_format": "channels_first"}, (1, 3, 2, 3, 2), (None, 2, 3, 4, 3)),
])
def test_layer_contract(class_name, kwargs, shape, expected):
    with_bias = kwargs.get("use_bias", True)
    layer = cl.testing.layer_test(getattr(cl.layers, class_name), kwargs, input_shape=shape,
                                  expected_output_shape=expected, expected_num_weights=2 if with_bias else 1)
    channels = shape[-1] if kwargs.get("data_format") != "channels_first" else shape[1]
    assert layer.kernel.shape == layer.kernel_size + (kwargs["filters"], channels)
    assert layer.count_params() == int(np.prod(layer.kernel_size)) * channels * kwargs["filters"] + kwargs["filters"] * with_bias


def test_config_round_trips_through_serialize_and_the_keras_aliases_are_the_same_classes():
    layer = cl.layers.Conv2DTranspose(4, 3, strides=2, padding="SAME", output_padding=1, name="up")
    config = layer.get_config()
    assert config["padding"] == "same" and config["output_padding"] == (1, 1) and "groups" not in config
    assert list(config)[3:10] == ["filters", "kernel_size", "strides", "padding", "output_padding", "data_format",
                                  "dilation_rate"]
    layer(np.zeros((1, 3, 3, 2), "float32"))
    rebuilt = cl.layers.deserialize(cl.layers.serialize(layer))
    assert type(rebuilt) is cl.layers.Conv2DTranspose and rebuilt.get_config() == config
    assert rebuilt.kernel.shape == (3, 3, 4, 2)
    assert cl.layers.Convolution1DTranspose is cl.layers.Conv1DTranspose
    assert cl.layers.Convolution2DTranspose is cl.layers.Conv2DTranspose
    assert cl.layers.Convolution3DTranspose is cl.layers.Conv3DTranspose


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_and_gradients_keep_the_layer_dtype(dtype):
    with backend.floatx_scope(dtype):
        layer = cl.layers.Conv2DTranspose(3, 3, strides=2, padding="same")
        y = layer(np.random.default_rng(0).standard_normal((2, 3, 3, 2)).astype(dtype), training=True)
        dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.grads["kernel"].dtype == layer.grads["bias"].dtype == np.dtype(dtype)


def test_the_weight_gradients_alone_equal_those_of_the_full_backward():
    generator = np.random.default_rng(5)
    x = generator.standard_normal((2, 3, 4, 2))
    kernel = generator.standard_normal((3, 3, 4, 2))
    out, cache = ct.conv_transpose_forward(x, kernel, np.zeros(4), 2, "same")
    dy = generator.standard_normal(out.shape)
    dx, dkernel, dbias = ct.conv_transpose_backward(dy, cache)
    none, dkernel_alone, dbias_alone = ct.conv_transpose_backward(dy, cache, need_dx=False)
    assert none is None and dx.shape == x.shape
    np.testing.assert_array_equal(dkernel_alone, dkernel)
    np.testing.assert_array_equal(dbias_alone, dbias)


def test_a_big_batch_is_processed_in_chunks_with_the_same_result(monkeypatch):
    generator = np.random.default_rng(4)
    x = generator.standard_normal((7, 3, 3, 2))
    kernel = generator.standard_normal((3, 3, 4, 2))
    whole, cache = ct.conv_transpose_forward(x, kernel, None, 2, "same")
    dy = generator.standard_normal(whole.shape)
    expected = ct.conv_transpose_backward(dy, cache)
    # One sample's columns: 9 positions * 36 values * 8 bytes; a budget of two samples -> 4 chunks.
    monkeypatch.setattr(conv, "COLUMN_CHUNK_BYTES", 2 * 9 * 36 * 8)
    assert len(conv._chunks(7, 9 * 36 * 8)) == 4
    chunked, cache = ct.conv_transpose_forward(x, kernel, None, 2, "same")
    np.testing.assert_allclose(chunked, whole, rtol=1e-12)
    for mine, theirs in zip(ct.conv_transpose_backward(dy, cache)[:2], expected[:2]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)


def test_the_strict_backend_runs_forward_and_backward_with_the_same_numbers():
    generator = np.random.default_rng(6)
    x = generator.standard_normal((2, 3, 4, 3)).astype("float32")
    dy = generator.standard_normal((2, 3, 8, 6)).astype("float32")
    results = []
    for name in ("numpy", "strict"):
        with backend.backend_scope(name):
            backend.set_seed(0)
            layer = cl.layers.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1,
                                              data_format="channels_first", activation="relu")
            y = layer(backend.xp.asarray(x), training=True)
            dx = layer.backward(backend.xp.asarray(dy))
            results.append([backend.to_numpy(a) for a in (y, dx, layer.grads["kernel"], layer.grads["bias"])])
    for mine, theirs in zip(*results):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)


def test_it_trains_in_a_sequential_model_and_saves_its_config():
    generator = np.random.default_rng(7)
    x = generator.standard_normal((16, 4, 4, 2)).astype("float32")
    target = generator.standard_normal((16, 8, 8, 1)).astype("float32")
    backend.set_seed(1)
    model = cl.Sequential([cl.Input((4, 4, 2)), cl.layers.Conv2DTranspose(4, 3, strides=2, padding="same",
                                                                          activation="relu"),
                           cl.layers.Conv2DTranspose(1, 3, padding="same")])
    model.compile("adam", "mse")
    history = model.fit(x, target, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    rebuilt = cl.models.model_from_json(model.to_json())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert model.layers[0].name == "conv2d_transpose"


@pytest.mark.parametrize("kwargs, message", [
    ({"filters": 4, "kernel_size": 3, "strides": 2, "output_padding": 2},
     r"Conv2DTranspose: `output_padding` must be strictly less than `strides` for all dimensions. At dimension 0, "
     r"`output_padding` is 2 but `strides` is 2. Received: output_padding=\(2, 2\), strides=\(2, 2\)"),
    ({"filters": 4, "kernel_size": 3, "strides": (3, 1), "output_padding": (2, 1), "name": "up"},
     r"Conv2DTranspose 'up': .*At dimension 1, `output_padding` is 1 but `strides` is 1"),
    ({"filters": 4, "kernel_size": 3, "output_padding": 1},
     r"At dimension 0, `output_padding` is 1 but `strides` is 1"),
    ({"filters": 4, "kernel_size": 3, "output_padding": -1},
     r"Conv2DTranspose: output_padding must be ints >= 0 \(an int or a tuple of 2\). Received: output_padding=-1"),
    ({"filters": 0, "kernel_size": 3}, r"Conv2DTranspose: filters must be a positive int. Received: filters=0"),
    ({"filters": -2, "kernel_size": 3}, r"filters must be a positive int. Received: filters=-2"),
    ({"filters": 4, "kernel_size": (3, 0)},
     r"Conv2DTranspose: kernel_size must be positive ints \(an int or a tuple of 2\). Received: kernel_size=\(3, 0\)"),
    ({"filters": 4, "kernel_size": 3, "strides": 0}, r"Conv2DTranspose: strides must be positive ints .* Received: strides=0"),
    ({"filters": 4, "kernel_size": 3, "strides": (1, 1, 1)}, r"a tuple of 2\). Received: strides=\(1, 1, 1\)"),
    ({"filters": 4, "kernel_size": 3, "padding": "causal"},
     r"Conv2DTranspose: padding must be one of \('valid', 'same'\). Received: padding='causal'"),
    ({"filters": 4, "kernel_size": 3, "data_format": "NHWC"}, r"data_format must be 'channels_last' or 'channels_first'"),
    ({"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
     r"strides > 1 is not supported together with dilation_rate > 1"),
])
def test_bad_arguments_are_refused_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cl.layers.Conv2DTranspose(**kwargs)


def test_causal_padding_is_refused_in_1d_too():
    with pytest.raises(ValueError, match=r"Conv1DTranspose: padding must be one of \('valid', 'same'\)"):
        cl.layers.Conv1DTranspose(2, 3, padding="causal")


def test_bad_inputs_are_refused_naming_the_layer():
    with pytest.raises(ValueError, match=r"'t1' is incompatible with the layer: expected ndim=4, found ndim=3"):
        cl.layers.Conv2DTranspose(2, 3, name="t1")(np.zeros((2, 5, 5), "float32"))
    with pytest.raises(ValueError, match=r"'t2' is incompatible with the layer: expected ndim=4, found ndim=5"):
        cl.layers.Conv2DTranspose(2, 3, name="t2")(np.zeros((2, 5, 5, 5, 1), "float32"))
    with pytest.raises(ValueError, match=r"'t3'.*expected ndim=3, found ndim=4"):
        cl.layers.Conv1DTranspose(2, 3, name="t3").compute_output_shape((2, 5, 5, 1))
    layer = cl.layers.Conv2DTranspose(2, 3, name="t4")
    layer(np.zeros((1, 5, 5, 3), "float32"))
    with pytest.raises(ValueError, match=r"'t4' is incompatible.*expected axis -1 of input shape to have value 3"):
        layer(np.zeros((1, 5, 5, 2), "float32"))
    first = cl.layers.Conv2DTranspose(2, 3, data_format="channels_first", name="t5")
    first(np.zeros((1, 3, 4, 4), "float32"))
    with pytest.raises(ValueError, match=r"'t5' is incompatible.*expected axis 1 of input shape to have value 3"):
        first(np.zeros((1, 4, 4, 4), "float32"))
    with pytest.raises(ValueError, match=r"the channel dimension of the input must be known"):
        cl.layers.Conv2DTranspose(2, 3, name="t6").build((None, 4, 4, None))
    with pytest.raises(ValueError, match=r"conv_transpose_forward: the input has 2 channels but the kernel .* expects 3"):
        ct.conv_transpose_forward(np.zeros((1, 4, 4, 2)), np.zeros((3, 3, 1, 3)))


def test_same_with_an_even_kernel_and_no_output_padding_is_refused():
    """TensorFlow refuses it at call time (the output maps back to one input position too few)."""
    layer = cl.layers.Conv2DTranspose(2, (3, 4), strides=2, padding="same", output_padding=0, name="t7")
    assert layer.compute_output_shape((None, 5, 5, 1)) == (None, 9, 8, 2)  # Keras's formula, as Keras gives it
    with pytest.raises(ValueError, match=r"Conv2DTranspose 't7': with padding='same', an even kernel span \(4\) "
                                         r"and output_padding=0 on spatial axis 1, the output length 8 maps back "
                                         r"to 4 input positions, not 5"):
        layer(np.zeros((1, 5, 5, 1), "float32"))
    assert not layer.weights
    with pytest.raises(ValueError, match=r"conv_transpose_forward: with padding='same'"):
        ct.conv_transpose_forward(np.zeros((1, 5, 1)), np.zeros((2, 1, 1)), None, 1, "same", 0)
