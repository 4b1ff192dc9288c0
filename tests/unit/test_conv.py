"""Conv1D/2D/3D: gradient checks per configuration family, the fast kernel against the
readable loops, the Layer contract, memory-bounded chunks, the strict backend, bad input."""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend
from course_lib.ops import conv

GRADIENT_CASES = [
    # (id, class, kwargs, input shape)
    ("1d-valid", "Conv1D", {"filters": 3, "kernel_size": 3}, (2, 7, 2)),
    ("1d-same-stride-not-tiling", "Conv1D", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, (2, 8, 3)),
    ("1d-causal-dilated", "Conv1D", {"filters": 2, "kernel_size": 2, "padding": "causal", "dilation_rate": 3}, (2, 9, 2)),
    ("1d-channels-first", "Conv1D", {"filters": 3, "kernel_size": 2, "data_format": "channels_first"}, (2, 3, 6)),
    ("2d-valid-odd", "Conv2D", {"filters": 3, "kernel_size": (3, 2)}, (2, 7, 5, 2)),
    ("2d-same-odd", "Conv2D", {"filters": 2, "kernel_size": 4, "padding": "same"}, (2, 5, 6, 2)),
    ("2d-strides-not-tiling", "Conv2D", {"filters": 2, "kernel_size": 3, "strides": (2, 3)}, (2, 8, 9, 2)),
    ("2d-same-strides", "Conv2D", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, (1, 7, 6, 3)),
    ("2d-dilated-same", "Conv2D", {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same"}, (2, 7, 7, 2)),
    ("2d-groups", "Conv2D", {"filters": 4, "kernel_size": 2, "groups": 2}, (2, 5, 5, 4)),
    ("2d-groups-strided", "Conv2D", {"filters": 6, "kernel_size": 3, "groups": 3, "strides": 2}, (1, 7, 7, 3)),
    ("2d-channels-first", "Conv2D", {"filters": 3, "kernel_size": 3, "data_format": "channels_first", "padding": "same"}, (2, 2, 5, 6)),
    ("2d-tanh-no-bias", "Conv2D", {"filters": 2, "kernel_size": 2, "activation": "tanh", "use_bias": False}, (2, 4, 4, 2)),
    ("3d-valid", "Conv3D", {"filters": 2, "kernel_size": 2}, (1, 4, 3, 5, 2)),
    ("3d-same-strides", "Conv3D", {"filters": 2, "kernel_size": (3, 2, 2), "strides": 2, "padding": "same"}, (1, 5, 4, 3, 2)),
    ("3d-channels-first", "Conv3D", {"filters": 2, "kernel_size": 2, "data_format": "channels_first"}, (1, 2, 3, 4, 3)),
]


@pytest.mark.parametrize("class_name, kwargs, shape", [c[1:] for c in GRADIENT_CASES], ids=[c[0] for c in GRADIENT_CASES])
def test_convolution_gradients(class_name, kwargs, shape):
    with backend.floatx_scope("float64"):
        layer = getattr(cl.layers, class_name)(**kwargs)
        x = np.random.default_rng(1).standard_normal(shape)
        # A step of 1e-5, not the default 1e-6: a convolution is linear in its input and kernel,
        # so the larger step adds no truncation error (tanh's is ~1e-10) and divides the
        # objective's rounding by ten; with 1e-6 that rounding alone reached 1.3e-6 on a
        # 2.6e-4 entry of the 3D case on one CPU (AMD EPYC's BLAS kernels).
        report = cl.testing.assert_gradients_close(layer, x, tolerance=1e-6, epsilon=1e-5)
    assert report.max_error < 1e-6


def test_the_cache_keeps_columns_of_one_piece_only(monkeypatch):
    """Columns are nine times the input for a 3x3 kernel: one piece's worth is kept for backward;
    beyond that, backward remakes them piece by piece from the padded input."""
    x = np.random.default_rng(2).standard_normal((3, 6, 6, 2))
    kernel = np.random.default_rng(3).standard_normal((3, 3, 2, 4))
    out, (x_pad, _, outs, _, kept) = conv.conv_forward(x, kernel, None, 1, "same")
    assert x_pad.shape == (3, 8, 8, 2) and outs == out.shape[1:3]
    np.testing.assert_array_equal(x_pad[:, 1:-1, 1:-1], x)
    assert kept.shape == (1, 3 * 36, 18)
    np.testing.assert_array_equal(kept[0] @ kernel.reshape(18, 4), out.reshape(-1, 4))
    monkeypatch.setattr(conv, "COLUMN_CHUNK_BYTES", 36 * 18 * 8)  # one sample per piece
    assert conv.conv_forward(x, kernel, None, 1, "same")[1][-1] is None


@pytest.mark.parametrize("channels", [3, 1], ids=["colour", "grey"])  # grey images take their own copy
@pytest.mark.parametrize("padding, strides", [("valid", 1), ("same", 1), ("same", 2), ("valid", (2, 3))])
def test_the_vectorised_kernel_equals_the_readable_loops(padding, strides, channels):
    generator = np.random.default_rng(3)
    x = generator.standard_normal((2, 7, 8, channels))
    kernel = generator.standard_normal((3, 2, channels, 4))
    bias = generator.standard_normal(4)
    fast, _ = cl.ops.conv2d_forward(x, kernel, bias, strides, padding)
    np.testing.assert_allclose(fast, cl.ops.conv2d_forward_naive(x, kernel, bias, strides, padding), rtol=1e-12, atol=1e-12)
    assert fast.shape == cl.ops.conv2d_output_shape(x.shape, (3, 2), 4, strides, padding)


@pytest.mark.parametrize("case", [
    dict(strides=1, dilation=1, groups=1, channels=3, filters=2),   # input gradient as a correlation
    dict(strides=2, dilation=1, groups=1, channels=3, filters=2),   # scattered back (col2im)
    dict(strides=1, dilation=2, groups=1, channels=2, filters=6),   # more filters than channels: scattered
    dict(strides=(2, 1), dilation=1, groups=2, channels=4, filters=6),
    dict(strides=(1, 2), dilation=(2, 1), groups=1, channels=1, filters=3),  # grey: copied offset by offset
], ids=["stride1", "stride2", "dilated", "grouped", "one-channel"])
@pytest.mark.parametrize("split", ["samples", "rows"])
def test_pieces_of_samples_or_of_rows_give_the_result_of_one_whole_column_matrix(monkeypatch, case, split):
    """Pieces of two samples, or of three output rows of one sample: the same numbers as one piece."""
    generator = np.random.default_rng(4)
    c, f, groups = case["channels"], case["filters"], case["groups"]
    x = generator.standard_normal((7, 13, 9, c))
    kernel = generator.standard_normal((3, 3, c // groups, f))
    bias = generator.standard_normal(f)
    monkeypatch.setattr(conv, "COLUMN_CHUNK_BYTES", 2**40)  # one piece
    whole, cache = conv.conv_forward(x, kernel, bias, case["strides"], "same", case["dilation"], groups)
    dy = generator.standard_normal(whole.shape)
    expected = conv.conv_backward(dy, cache)
    outs, row_bytes = whole.shape[1:3], whole.shape[2] * 9 * c * 8  # one output row's columns (float64)
    if split == "samples":
        monkeypatch.setattr(conv, "COLUMN_CHUNK_BYTES", 2 * outs[0] * row_bytes)
        assert len(conv._pieces(7, outs, 9 * c * 8)) == 4
    else:
        monkeypatch.setattr(conv, "COLUMN_CHUNK_BYTES", 3 * row_bytes)
        assert len(conv._pieces(7, outs, 9 * c * 8)) == 7 * -(-outs[0] // 3)
    chunked, cache = conv.conv_forward(x, kernel, bias, case["strides"], "same", case["dilation"], groups)
    np.testing.assert_allclose(chunked, whole, rtol=1e-12)
    for mine, theirs in zip(conv.conv_backward(dy, cache), expected, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-12)


def test_the_first_layer_skips_its_input_gradient():
    x = np.random.default_rng(5).standard_normal((2, 5, 5, 1))
    _, cache = conv.conv_forward(x, np.ones((3, 3, 1, 2)), np.zeros(2), 1, "valid")
    dx, dkernel, dbias = conv.conv_backward(np.ones((2, 3, 3, 2)), cache, need_dx=False)
    assert dx is None and dkernel.shape == (3, 3, 1, 2) and dbias.shape == (2,)


@pytest.mark.parametrize("class_name, kwargs, shape, expected", [
    ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal"}, (2, 9, 3), (None, 9, 4)),
    ("Conv2D", {"filters": 32, "kernel_size": 3}, (2, 28, 28, 1), (None, 26, 26, 32)),
    ("Conv2D", {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same"}, (2, 7, 7, 2), (None, 4, 4, 8)),
    ("Conv3D", {"filters": 2, "kernel_size": 2, "data_format": "channels_first"}, (1, 3, 4, 4, 4), (None, 2, 3, 3, 3)),
])
def test_layer_contract(class_name, kwargs, shape, expected):
    layer = cl.testing.layer_test(getattr(cl.layers, class_name), kwargs, input_shape=shape,
                                  expected_output_shape=expected, expected_num_weights=2)
    channels = shape[-1] if kwargs.get("data_format") != "channels_first" else shape[1]
    kernel = layer.kernel_size
    assert layer.count_params() == int(np.prod(kernel)) * channels * kwargs["filters"] + kwargs["filters"]


def test_the_strict_backend_runs_forward_and_backward_with_the_same_numbers():
    generator = np.random.default_rng(6)
    x = generator.standard_normal((2, 6, 5, 4)).astype("float32")
    dy_shape = (2, 3, 3, 6)
    dy = generator.standard_normal(dy_shape).astype("float32")
    results = []
    for name in ("numpy", "strict"):
        with backend.backend_scope(name):
            backend.set_seed(0)
            layer = cl.layers.Conv2D(6, 3, strides=2, padding="same", groups=2, activation="relu")
            y = layer(backend.xp.asarray(x), training=True)
            dx = layer.backward(backend.xp.asarray(dy))
            results.append([backend.to_numpy(a) for a in (y, dx, layer.grads["kernel"], layer.grads["bias"])])
    for mine, theirs in zip(*results):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)


def test_a_cnn_trains_in_a_sequential_model_and_saves_its_config():
    generator = np.random.default_rng(7)
    x = generator.standard_normal((16, 8, 8, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("int64")
    backend.set_seed(1)
    model = cl.Sequential([cl.Input((8, 8, 1)), cl.layers.Conv2D(4, 3, activation="relu"), cl.layers.Flatten(),
                           cl.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    rebuilt = cl.models.model_from_json(model.to_json())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert model.layers[0].name == "conv2d"  # Keras's automatic name, not conv2_d


@pytest.mark.parametrize("kwargs, message", [
    ({"filters": 0, "kernel_size": 3}, r"Conv2D: filters must be a positive int. Received: filters=0"),
    ({"filters": 4, "kernel_size": (3, 0)}, r"Conv2D: kernel_size must be positive ints \(an int or a tuple of 2\). Received: kernel_size=\(3, 0\)"),
    ({"filters": 4, "kernel_size": 3, "strides": -1}, r"Conv2D: strides must be .* Received: strides=-1"),
    ({"filters": 4, "kernel_size": 3, "strides": (1, 1, 1)}, r"a tuple of 2\). Received: strides=\(1, 1, 1\)"),
    ({"filters": 4, "kernel_size": 3, "padding": "full"}, r"Conv2D: padding must be one of \('valid', 'same'\). Received: padding='full'"),
    ({"filters": 4, "kernel_size": 3, "padding": "causal"}, r"Received: padding='causal'"),
    ({"filters": 4, "kernel_size": 3, "data_format": "NHWC"}, r"Conv2D: data_format must be 'channels_last' or 'channels_first'. Received: data_format='NHWC'"),
    ({"filters": 5, "kernel_size": 3, "groups": 2}, r"evenly divisible by the number of groups. Received: groups=2, filters=5"),
    ({"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, r"strides > 1 is not supported together with dilation_rate > 1"),
    ({"filters": 4, "kernel_size": 3, "lora_rank": 2}, r"Conv2D: `lora_rank` is not supported"),
])
def test_bad_arguments_are_refused_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cl.layers.Conv2D(**kwargs)


def test_bad_inputs_are_refused_naming_the_layer():
    with pytest.raises(ValueError, match=r"'c1' is incompatible with the layer: expected ndim=4, found ndim=3"):
        cl.layers.Conv2D(2, 3, name="c1")(np.zeros((2, 5, 5), "float32"))
    with pytest.raises(ValueError, match=r"Conv2D 'c2': the input is too small for the kernel.*spatial shape \(-1, -1\)"):
        cl.layers.Conv2D(2, 5, name="c2")(np.zeros((1, 3, 3, 1), "float32"))
    with pytest.raises(ValueError, match=r"input channels must be evenly divisible by the number of groups. Received: groups=2, but the input has 3"):
        cl.layers.Conv2D(4, 3, groups=2, name="c3")(np.zeros((1, 5, 5, 3), "float32"))
    layer = cl.layers.Conv2D(2, 3, name="c4")
    layer(np.zeros((1, 5, 5, 3), "float32"))
    with pytest.raises(ValueError, match=r"'c4' is incompatible.*expected axis -1 of input shape to have value 3"):
        layer(np.zeros((1, 5, 5, 2), "float32"))
    with pytest.raises(ValueError, match=r"conv2d_forward: the input has 2 channels but the kernel expects 3"):
        cl.ops.conv2d_forward(np.zeros((1, 4, 4, 2)), np.zeros((3, 3, 3, 1)))


def test_the_output_length_formula_table():
    """The chapter's table: valid, same, strides and dilation on a 28-long axis."""
    assert [conv.conv_output_length(28, 3, 1, "valid"), conv.conv_output_length(28, 3, 1, "same"),
            conv.conv_output_length(28, 3, 2, "valid"), conv.conv_output_length(28, 3, 2, "same"),
            conv.conv_output_length(28, 3, 1, "valid", 2), conv.conv_output_length(None, 3)] == [26, 28, 13, 14, 24, None]
    # TF's "same": the odd padding element goes after (right / bottom).
    assert conv.padding_amounts(6, 4, 1, 1, "same") == (1, 2)
    assert conv.padding_amounts(7, 3, 2, 1, "same") == (1, 1)
    assert conv.padding_amounts(8, 3, 2, 1, "same") == (0, 1)
    assert conv.padding_amounts(9, 2, 1, 3, "causal") == (3, 0)
