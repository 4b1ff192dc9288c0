"""Pooling and reshaping layers and the pooling kernels: gradients, contract, bad input, kernels.

Every layer is checked against central differences in float64 (relative
error < 1e-6 through ``cl.testing.assert_gradients_close``), on tie-free
inputs for max pooling (a random permutation of distinct values, so that the
maximum of every window is unique and finite differences see a smooth
function). The kernels are checked against a brute-force loop written here and
against the readable ``*_naive`` versions, and everything runs under the
strict stand-in for CuPy with the same numbers as NumPy. The tf.keras
comparison lives in ``tests/parity/test_pooling_parity.py``.
"""
import itertools

import numpy as np
import pytest

import course_lib as cl
from course_lib import backend, layers, ops

GRADIENT_TOLERANCE = 1e-6


def _distinct(shape, seed=0):
    """Distinct values in [-2, 2): no ties, and gaps far larger than the finite-difference step."""
    size = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(size).reshape(shape) * (4.0 / size) - 2.0


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------- a brute-force reference
def _reference_pool(x, pool, strides, padding, mode):
    """Loops over every output position and channel: slow, obviously right (channels_last)."""
    spatial = x.shape[1:-1]
    if padding == "valid":
        out = [(n - k) // s + 1 for n, k, s in zip(spatial, pool, strides)]
        before = [0] * len(spatial)
    else:
        out = [-(-n // s) for n, s in zip(spatial, strides)]
        before = [max((o - 1) * s + k - n, 0) // 2 for n, k, s, o in zip(spatial, pool, strides, out)]
    y = np.zeros((x.shape[0],) + tuple(out) + (x.shape[-1],))
    dx_map = {}  # output position -> list of (input index, weight) for the backward pass
    for position in itertools.product(*(range(o) for o in out)):
        ranges = []
        for p, k, s, b, n in zip(position, pool, strides, before, spatial):
            start = p * s - b
            ranges.append(range(max(start, 0), min(start + k, n)))
        members = list(itertools.product(*ranges))  # row-major order inside the window
        dx_map[position] = members
        for batch in range(x.shape[0]):
            for channel in range(x.shape[-1]):
                values = [x[(batch,) + m + (channel,)] for m in members]
                y[(batch,) + position + (channel,)] = max(values) if mode == "max" else sum(values) / len(values)
    return y, dx_map


def _reference_pool_backward(x, dy, dx_map, mode):
    dx = np.zeros_like(x, dtype=np.float64)
    for position, members in dx_map.items():
        for batch in range(x.shape[0]):
            for channel in range(x.shape[-1]):
                g = dy[(batch,) + position + (channel,)]
                if mode == "max":
                    values = [x[(batch,) + m + (channel,)] for m in members]
                    winner = members[int(np.argmax(values))]  # the first maximum in row-major order
                    dx[(batch,) + winner + (channel,)] += g
                else:
                    for m in members:
                        dx[(batch,) + m + (channel,)] += g / len(members)
    return dx


KERNEL_CASES = [
    # (input shape, pool, strides, padding)
    ((2, 7, 3), (3,), (2,), "valid"),        # strides that do not tile the input
    ((2, 7, 3), (3,), (1,), "valid"),        # overlapping windows
    ((2, 7, 3), (4,), (3,), "same"),
    ((1, 5, 2), (4,), (1,), "same"),         # the extra padding entry goes at the end
    ((2, 7, 5, 2), (3, 3), (2, 2), "valid"),
    ((2, 7, 5, 2), (3, 2), (1, 2), "same"),
    ((1, 6, 6, 1), (2, 2), (2, 2), "valid"),
    ((2, 5, 4, 3, 2), (2, 3, 2), (2, 1, 2), "same"),
    ((1, 4, 5, 6, 1), (3, 2, 4), (1, 3, 2), "valid"),
]


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("shape, pool, strides, padding", KERNEL_CASES)
def test_pool_kernels_equal_the_brute_force_loop(shape, pool, strides, padding, mode):
    x = _distinct(shape)
    out, cache = ops.pool_forward(x, pool, strides, padding, mode)
    expected, dx_map = _reference_pool(x, pool, strides, padding, mode)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    dy = _normal(out.shape, seed=1)
    np.testing.assert_allclose(ops.pool_backward(dy, cache), _reference_pool_backward(x, dy, dx_map, mode),
                               rtol=1e-12, atol=1e-12)


NAIVE_CASES = [((2, 7, 6, 3), 2, None, "valid"), ((2, 7, 6, 3), 3, 2, "valid"), ((2, 7, 6, 3), 3, 1, "same"),
               ((1, 5, 8, 2), (4, 2), (3, 1), "same"), ((3, 28, 28, 4), 2, None, "valid")]


@pytest.mark.parametrize("shape, pool, strides, padding", NAIVE_CASES)
def test_naive_pool2d_equals_the_fast_one(shape, pool, strides, padding):
    x = _distinct(shape)
    fast_max, _ = ops.max_pool2d_forward(x, pool, strides, padding)
    fast_avg, _ = ops.avg_pool2d_forward(x, pool, strides, padding)
    np.testing.assert_array_equal(ops.max_pool2d_forward_naive(x, pool, strides, padding), fast_max)
    np.testing.assert_allclose(ops.avg_pool2d_forward_naive(x, pool, strides, padding), fast_avg, rtol=1e-13)


def test_the_documents_example_28x28x32_max_pooled_2x2_gives_14x14x32():
    x = _distinct((2, 28, 28, 32))
    out, cache = ops.max_pool2d_forward(x, 2)
    assert out.shape == (2, 14, 14, 32)
    np.testing.assert_array_equal(out, x.reshape(2, 14, 2, 14, 2, 32).max(axis=(2, 4)))
    dx = ops.max_pool2d_backward(np.ones_like(out), cache)
    assert dx.shape == x.shape and dx.sum() == out.size  # one winner per window
    layer = layers.MaxPooling2D((2, 2))
    assert layer(x.astype("float32")).shape == (2, 14, 14, 32)
    assert layer.compute_output_shape((None, 28, 28, 32)) == (None, 14, 14, 32)


def test_max_pool_ties_go_to_the_first_maximum_in_row_major_order():
    x = np.ones((1, 2, 2, 1))
    out, cache = ops.max_pool2d_forward(x, 2)
    np.testing.assert_array_equal(ops.max_pool2d_backward(np.ones_like(out), cache).ravel(), [1, 0, 0, 0])
    x = np.array([[0.0, 5.0], [5.0, 5.0]]).reshape(1, 2, 2, 1)
    out, cache = ops.max_pool2d_forward(x, 2)
    np.testing.assert_array_equal(ops.max_pool2d_backward(np.full_like(out, 3.0), cache).ravel(), [0, 3, 0, 0])


def test_overlapping_windows_sharing_a_maximum_both_route_to_it():
    x = np.array([0.0, 1.0, 9.0, 2.0, 3.0]).reshape(1, 5, 1)
    out, cache = ops.pool_forward(x, 3, 1, "valid", "max")
    np.testing.assert_array_equal(out.ravel(), [9, 9, 9])
    np.testing.assert_array_equal(ops.pool_backward(np.array([1.0, 2.0, 4.0]).reshape(1, 3, 1), cache).ravel(),
                                  [0, 0, 7, 0, 0])


def test_same_average_pooling_divides_by_the_real_entries_and_pads_the_extra_entry_at_the_end():
    x = np.arange(5.0).reshape(1, 5, 1)
    out, _ = ops.pool_forward(x, 4, 1, "same", "average")
    # pad total 3: one before, two after; the first window is (pad, 0, 1, 2) -> mean of 0, 1, 2.
    np.testing.assert_allclose(out.ravel(), [1.0, 1.5, 2.5, 3.0, 3.5])
    out, _ = ops.pool_forward(x, 2, 2, "same", "average")
    np.testing.assert_allclose(out.ravel(), [0.5, 2.5, 4.0])


def test_same_max_pooling_pads_with_minus_infinity():
    x = -np.ones((1, 3, 3, 1)) - np.arange(9.0).reshape(1, 3, 3, 1)
    out, _ = ops.max_pool2d_forward(x, 3, 1, "same")
    assert np.all(out < 0) and np.all(np.isfinite(out))
    assert out[0, 0, 0, 0] == -1.0


@pytest.mark.parametrize("size, pool, stride, padding, expected", [
    (28, 2, 2, "valid", 14), (7, 3, 2, "valid", 3), (7, 3, 1, "valid", 5), (4, 4, 1, "valid", 1),
    (7, 3, 2, "same", 4), (7, 5, 1, "same", 7), (1, 3, 2, "same", 1), (3, 5, 5, "same", 1),
    (None, 2, 2, "valid", None), (10, 3, 4, "SAME", 3),
])
def test_pool_output_length(size, pool, stride, padding, expected):
    assert ops.pool_output_length(size, pool, stride, padding) == expected


@pytest.mark.parametrize("call, message", [
    (lambda: ops.pool_output_length(3, 4, 1, "valid"), "does not fit"),
    (lambda: ops.pool_output_length(3, 0, 1, "valid"), "pool must be positive ints"),
    (lambda: ops.pool_output_length(3, 2, 0, "valid"), "stride must be positive ints"),
    (lambda: ops.pool_output_length(3, 2, 1, "full"), "padding must be 'valid' or 'same'"),
    (lambda: ops.max_pool2d_forward(np.zeros((2, 4, 4)), 2), "expected a 4-D channels_last input"),
    (lambda: ops.avg_pool2d_forward(np.zeros((1, 3, 3, 1)), 4), "does not fit"),
    (lambda: ops.max_pool2d_forward(np.zeros((1, 4, 4, 1)), (2, 2, 2)), "pool_size must be positive ints"),
    (lambda: ops.pool_forward(np.zeros((1, 4, 1)), 2, None, "valid", "median"), "mode must be"),
    (lambda: ops.pool_forward(np.zeros((4, 1)), 2, None, "valid", "max"), "at least one spatial axis"),
    (lambda: ops.max_pool2d_backward(np.zeros((1, 1, 1, 1)), ops.max_pool2d_forward(np.zeros((1, 4, 4, 1)), 2)[1]),
     "dout must have the forward output's shape"),
])
def test_kernels_refuse_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_planted_bug_is_caught_by_the_brute_force_comparison(monkeypatch):
    """Dividing same-average windows by the full window size (the classic bug) must fail the reference test."""
    from course_lib.ops import pooling

    monkeypatch.setattr(pooling, "_real_counts",
                        lambda spatial, pool, strides, out, pads, dtype: np.asarray(float(np.prod(pool)), dtype))
    with pytest.raises(AssertionError):
        test_pool_kernels_equal_the_brute_force_loop((2, 7, 3), (4,), (3,), "same", "average")


# ------------------------------------------------------------- gradient checks
GRADIENT_CASES = [
    ("MaxPooling1D-default", layers.MaxPooling1D, {}, (2, 8, 3)),
    ("MaxPooling1D-not-tiling", layers.MaxPooling1D, {"pool_size": 3, "strides": 2}, (2, 7, 3)),
    ("MaxPooling1D-overlap", layers.MaxPooling1D, {"pool_size": 3, "strides": 1}, (2, 7, 2)),
    ("MaxPooling1D-same-odd", layers.MaxPooling1D, {"pool_size": 4, "strides": 3, "padding": "same"}, (2, 7, 2)),
    ("MaxPooling1D-channels_first", layers.MaxPooling1D,
     {"pool_size": 3, "strides": 2, "padding": "same", "data_format": "channels_first"}, (2, 3, 7)),
    ("MaxPooling2D-default", layers.MaxPooling2D, {}, (2, 6, 6, 2)),
    ("MaxPooling2D-not-tiling", layers.MaxPooling2D, {"pool_size": 3, "strides": 2}, (2, 7, 7, 2)),
    ("MaxPooling2D-overlap", layers.MaxPooling2D, {"pool_size": 3, "strides": 1}, (1, 5, 6, 2)),
    ("MaxPooling2D-same-odd", layers.MaxPooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 7, 5, 2)),
    ("MaxPooling2D-channels_first", layers.MaxPooling2D,
     {"pool_size": (2, 3), "strides": (1, 2), "data_format": "channels_first"}, (2, 3, 5, 7)),
    ("MaxPooling3D-default", layers.MaxPooling3D, {}, (1, 4, 4, 4, 2)),
    ("MaxPooling3D-same-odd", layers.MaxPooling3D, {"pool_size": 3, "strides": 2, "padding": "same"},
     (1, 5, 3, 5, 2)),
    ("MaxPooling3D-channels_first", layers.MaxPooling3D,
     {"pool_size": 2, "strides": 1, "data_format": "channels_first"}, (1, 2, 3, 4, 3)),
    ("AveragePooling1D-not-tiling", layers.AveragePooling1D, {"pool_size": 3, "strides": 2}, (2, 7, 3)),
    ("AveragePooling1D-overlap", layers.AveragePooling1D, {"pool_size": 3, "strides": 1}, (2, 7, 2)),
    ("AveragePooling1D-same-odd", layers.AveragePooling1D, {"pool_size": 4, "strides": 1, "padding": "same"},
     (2, 5, 2)),
    ("AveragePooling2D-not-tiling", layers.AveragePooling2D, {"pool_size": 3, "strides": 2}, (2, 7, 7, 2)),
    ("AveragePooling2D-overlap", layers.AveragePooling2D, {"pool_size": 3, "strides": 1}, (1, 5, 6, 2)),
    ("AveragePooling2D-same-odd", layers.AveragePooling2D, {"pool_size": 3, "strides": 2, "padding": "same"},
     (2, 7, 5, 2)),
    ("AveragePooling2D-channels_first", layers.AveragePooling2D,
     {"pool_size": (3, 2), "strides": 1, "padding": "same", "data_format": "channels_first"}, (2, 3, 5, 4)),
    ("AveragePooling3D-valid", layers.AveragePooling3D, {"pool_size": 2}, (1, 4, 5, 4, 2)),
    ("AveragePooling3D-same-odd", layers.AveragePooling3D, {"pool_size": 3, "strides": 2, "padding": "same"},
     (1, 5, 3, 5, 2)),
    ("AveragePooling3D-channels_first", layers.AveragePooling3D,
     {"pool_size": (2, 1, 3), "data_format": "channels_first"}, (1, 2, 4, 3, 6)),
    ("GlobalMaxPooling1D", layers.GlobalMaxPooling1D, {}, (2, 7, 3)),
    ("GlobalMaxPooling2D-keepdims", layers.GlobalMaxPooling2D, {"keepdims": True}, (2, 4, 5, 3)),
    ("GlobalMaxPooling3D-channels_first", layers.GlobalMaxPooling3D,
     {"data_format": "channels_first", "keepdims": True}, (2, 3, 2, 3, 4)),
    ("GlobalAveragePooling1D-keepdims", layers.GlobalAveragePooling1D, {"keepdims": True}, (2, 7, 3)),
    ("GlobalAveragePooling2D-channels_first", layers.GlobalAveragePooling2D,
     {"data_format": "channels_first"}, (2, 3, 4, 5)),
    ("GlobalAveragePooling3D", layers.GlobalAveragePooling3D, {}, (2, 2, 3, 4, 3)),
    ("ZeroPadding1D", layers.ZeroPadding1D, {"padding": (1, 3)}, (2, 5, 3)),
    ("ZeroPadding2D", layers.ZeroPadding2D, {"padding": ((1, 0), (2, 3))}, (2, 4, 3, 2)),
    ("ZeroPadding2D-channels_first", layers.ZeroPadding2D, {"padding": 2, "data_format": "channels_first"},
     (2, 3, 4, 3)),
    ("ZeroPadding3D", layers.ZeroPadding3D, {"padding": (1, 0, 2)}, (1, 3, 2, 3, 2)),
    ("Cropping1D", layers.Cropping1D, {"cropping": (2, 1)}, (2, 7, 3)),
    ("Cropping2D", layers.Cropping2D, {"cropping": ((1, 0), (2, 1))}, (2, 5, 6, 2)),
    ("Cropping2D-channels_first", layers.Cropping2D, {"cropping": 1, "data_format": "channels_first"}, (2, 3, 4, 5)),
    ("Cropping3D", layers.Cropping3D, {"cropping": ((1, 1), (0, 2), (1, 0))}, (1, 4, 5, 3, 2)),
    ("UpSampling1D", layers.UpSampling1D, {"size": 3}, (2, 4, 3)),
    ("UpSampling2D-nearest", layers.UpSampling2D, {"size": (2, 3)}, (2, 3, 4, 2)),
    ("UpSampling2D-nearest-channels_first", layers.UpSampling2D, {"size": 2, "data_format": "channels_first"},
     (2, 3, 3, 4)),
    ("UpSampling2D-bilinear", layers.UpSampling2D, {"size": (3, 2), "interpolation": "bilinear"}, (2, 4, 3, 2)),
    ("UpSampling2D-bilinear-channels_first", layers.UpSampling2D,
     {"size": (2, 4), "interpolation": "bilinear", "data_format": "channels_first"}, (1, 2, 3, 5)),
    ("UpSampling3D", layers.UpSampling3D, {"size": (1, 2, 3)}, (1, 2, 3, 2, 2)),
    ("UpSampling3D-channels_first", layers.UpSampling3D, {"size": 2, "data_format": "channels_first"},
     (1, 2, 2, 3, 2)),
]
_IDS = [case[0] for case in GRADIENT_CASES]


@pytest.mark.parametrize("name, cls, kwargs, shape", GRADIENT_CASES, ids=_IDS)
def test_gradients_match_central_differences(name, cls, kwargs, shape):
    with cl.backend.floatx_scope("float64"):
        layer = cls(**kwargs)
        report = cl.testing.assert_gradients_close(layer, _distinct(shape), tolerance=GRADIENT_TOLERANCE,
                                                   max_entries=200)
    assert list(report.entries) == ["input"] and report.max_error < GRADIENT_TOLERANCE
    assert layer.grads == {}


def test_global_max_pooling_splits_the_gradient_among_tied_maxima():
    layer = layers.GlobalMaxPooling2D()
    x = np.array([[1.0, 4.0], [4.0, 2.0]], dtype="float32").reshape(1, 2, 2, 1)
    assert layer(x).ravel().tolist() == [4.0]
    np.testing.assert_array_equal(layer.backward(np.array([[6.0]], "float32")).ravel(), [0, 3, 3, 0])


def test_gradients_of_a_small_model_through_padding_pooling_and_upsampling():
    with cl.backend.floatx_scope("float64"):
        model = cl.Sequential([
            cl.Input((6, 5, 2)),
            layers.ZeroPadding2D(((1, 0), (0, 1))),
            layers.MaxPooling2D(3, strides=2, padding="same"),
            layers.UpSampling2D(2, interpolation="bilinear"),
            layers.Cropping2D(1),
            layers.AveragePooling2D(2, padding="same"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3),
        ])
        report = cl.testing.assert_gradients_close(model, _distinct((2, 6, 5, 2)))
    assert report.passed
    assert model.layers[1].output.shape == (None, 4, 3, 2)


# ------------------------------------------------------------ layer contract
CONTRACT_CASES = [
    (layers.MaxPooling1D, {}, (2, 8, 3), (None, 4, 3)),
    (layers.MaxPooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 7, 5, 2), (None, 4, 3, 2)),
    (layers.MaxPooling3D, {"data_format": "channels_first"}, (1, 2, 4, 5, 6), (None, 2, 2, 2, 3)),
    (layers.AveragePooling1D, {"pool_size": 3, "strides": 2}, (2, 7, 3), (None, 3, 3)),
    (layers.AveragePooling2D, {"pool_size": 2, "data_format": "channels_first"}, (2, 3, 5, 4), (None, 3, 2, 2)),
    (layers.AveragePooling3D, {"pool_size": 2, "padding": "same"}, (1, 3, 4, 5, 2), (None, 2, 2, 3, 2)),
    (layers.GlobalMaxPooling1D, {}, (2, 7, 3), (None, 3)),
    (layers.GlobalMaxPooling2D, {"keepdims": True, "data_format": "channels_first"}, (2, 3, 4, 5), (None, 3, 1, 1)),
    (layers.GlobalMaxPooling3D, {}, (2, 2, 3, 4, 5), (None, 5)),
    (layers.GlobalAveragePooling1D, {"data_format": "channels_first"}, (2, 3, 7), (None, 3)),
    (layers.GlobalAveragePooling2D, {"keepdims": True}, (2, 4, 5, 3), (None, 1, 1, 3)),
    (layers.GlobalAveragePooling3D, {"keepdims": True}, (2, 2, 3, 4, 5), (None, 1, 1, 1, 5)),
    (layers.ZeroPadding1D, {"padding": 2}, (2, 5, 3), (None, 9, 3)),
    (layers.ZeroPadding2D, {}, (2, 4, 3, 2), (None, 6, 5, 2)),
    (layers.ZeroPadding3D, {"padding": 1, "data_format": "channels_first"}, (1, 2, 3, 2, 3), (None, 2, 5, 4, 5)),
    (layers.Cropping1D, {}, (2, 5, 3), (None, 3, 3)),
    (layers.Cropping2D, {"cropping": (1, 2)}, (2, 5, 6, 2), (None, 3, 2, 2)),
    (layers.Cropping3D, {}, (1, 4, 5, 3, 2), (None, 2, 3, 1, 2)),
    (layers.UpSampling1D, {}, (2, 4, 3), (None, 8, 3)),
    (layers.UpSampling2D, {"interpolation": "bilinear"}, (2, 3, 4, 2), (None, 6, 8, 2)),
    (layers.UpSampling3D, {}, (1, 2, 3, 2, 2), (None, 4, 6, 4, 2)),
]


@pytest.mark.parametrize("cls, kwargs, shape, expected", CONTRACT_CASES, ids=[c[0].__name__ for c in CONTRACT_CASES])
def test_layer_contract(cls, kwargs, shape, expected):
    layer = cl.testing.layer_test(cls, kwargs, input_shape=shape, expected_output_shape=expected,
                                  expected_num_weights=0, expected_num_params=0)
    assert layer.compute_output_shape((None,) + shape[1:]) == expected
    # A serialized layer comes back as the same class with the same config.
    rebuilt = layers.deserialize(layers.serialize(layer))
    assert type(rebuilt) is cls
    assert {k: v for k, v in rebuilt.get_config().items()} == layer.get_config()
    # Symbolic calls agree with compute_output_shape.
    assert layer(cl.Input(shape[1:])).shape == expected


@pytest.mark.parametrize("cls, kwargs, shape, expected", [
    (layers.MaxPooling2D, {}, (None, None, 6, 3), (None, None, 3, 3)),
    (layers.AveragePooling1D, {"pool_size": 4, "padding": "same"}, (None, None, 3), (None, None, 3)),
    (layers.GlobalMaxPooling2D, {}, (None, None, None, 3), (None, 3)),
    (layers.ZeroPadding2D, {}, (None, None, 4, 2), (None, None, 6, 2)),
    (layers.Cropping2D, {"cropping": 1}, (None, 5, None, 2), (None, 3, None, 2)),
    (layers.UpSampling1D, {"size": 3}, (None, None, 2), (None, None, 2)),
    (layers.UpSampling2D, {}, (None, None, 4, 2), (None, None, 8, 2)),
])
def test_unknown_dimensions_stay_unknown(cls, kwargs, shape, expected):
    output = cls(**kwargs).compute_output_shape(shape)
    assert output == expected and isinstance(output, tuple)


def test_keras_spellings_are_the_same_classes():
    pairs = [("MaxPool1D", "MaxPooling1D"), ("MaxPool2D", "MaxPooling2D"), ("MaxPool3D", "MaxPooling3D"),
             ("AvgPool1D", "AveragePooling1D"), ("AvgPool2D", "AveragePooling2D"), ("AvgPool3D", "AveragePooling3D"),
             ("GlobalMaxPool1D", "GlobalMaxPooling1D"), ("GlobalMaxPool2D", "GlobalMaxPooling2D"),
             ("GlobalMaxPool3D", "GlobalMaxPooling3D"), ("GlobalAvgPool1D", "GlobalAveragePooling1D"),
             ("GlobalAvgPool2D", "GlobalAveragePooling2D"), ("GlobalAvgPool3D", "GlobalAveragePooling3D")]
    for alias, name in pairs:
        assert getattr(layers, alias) is getattr(layers, name)
        assert alias in layers.__all__ and name in layers.__all__
    assert layers.serialize(layers.MaxPool2D())["class_name"] == "MaxPooling2D"


def test_defaults_and_config_standardisation():
    layer = layers.MaxPooling2D()
    assert (layer.pool_size, layer.strides, layer.padding, layer.data_format) == ((2, 2), (2, 2), "valid",
                                                                                   "channels_last")
    layer = layers.AveragePooling3D([3, 2, 1], strides=np.int64(2), data_format="Channels_First")
    assert layer.pool_size == (3, 2, 1) and layer.strides == (2, 2, 2) and layer.data_format == "channels_first"
    assert isinstance(layer.strides[0], int)
    # As in Keras, padding is case-insensitive and kept as written in the config.
    layer = layers.MaxPooling1D(3, padding="SAME")
    assert layer.get_config()["padding"] == "SAME"
    assert layer(np.zeros((1, 7, 1), "float32")).shape == (1, 3, 1)
    assert layers.ZeroPadding2D((1, 2)).padding == ((1, 1), (2, 2))
    assert layers.ZeroPadding3D(2).padding == ((2, 2),) * 3
    assert layers.Cropping2D(((1, 2), 3)).cropping == ((1, 2), (3, 3))
    assert layers.UpSampling2D(3).size == (3, 3)
    assert layers.UpSampling2D(interpolation="BILINEAR").interpolation == "bilinear"
    assert "data_format" not in layers.Cropping1D().get_config()


def test_reshaping_layers_keep_integer_inputs():
    x = np.arange(12, dtype="int32").reshape(1, 3, 2, 2)
    for layer in (layers.ZeroPadding2D(1), layers.Cropping2D(((1, 0), (0, 1))), layers.UpSampling2D(2)):
        assert layer(x).dtype == np.int32
    assert layers.MaxPooling2D(1)(x).dtype == np.float32  # pooling computes in the layer's float type


# ---------------------------------------------------------------- bad input
BAD_ARGUMENTS = [
    (lambda: layers.MaxPooling2D((0, 2)), ValueError, r"MaxPooling2D: pool_size must be positive ints.*\(0, 2\)"),
    (lambda: layers.MaxPooling1D(-1), ValueError, "MaxPooling1D: pool_size must be positive ints"),
    (lambda: layers.MaxPooling2D((2, 2, 2)), ValueError, "a tuple of 2"),
    (lambda: layers.MaxPooling2D(2.0), ValueError, "pool_size must be positive ints"),
    (lambda: layers.AveragePooling2D((2.0, 2.0)), ValueError, "pool_size must be positive ints"),
    (lambda: layers.MaxPooling2D(True), ValueError, "pool_size must be positive ints"),
    # Deliberate: Keras accepts strides=0 in __init__ and fails only when called.
    (lambda: layers.MaxPooling2D(2, strides=0), ValueError, "MaxPooling2D: strides must be positive ints"),
    (lambda: layers.AveragePooling3D(2, strides=(1, -1, 1)), ValueError, "AveragePooling3D: strides must be"),
    (lambda: layers.MaxPooling2D(2, padding="full"), ValueError,
     "MaxPooling2D: padding must be 'valid' or 'same'. Received: padding='full'"),
    (lambda: layers.AveragePooling1D(2, padding=None), ValueError, "padding must be 'valid' or 'same'"),
    (lambda: layers.MaxPooling2D(data_format="nhwc"), ValueError,
     "MaxPooling2D: data_format must be 'channels_last' or 'channels_first'. Received: data_format='nhwc'"),
    (lambda: layers.GlobalAveragePooling2D(data_format="NCHW"), ValueError, "GlobalAveragePooling2D: data_format"),
    (lambda: layers.GlobalMaxPooling1D(keepdims="yes"), TypeError, "GlobalMaxPooling1D: keepdims must be a bool"),
    (lambda: layers.MaxPooling2D(unknown=1), TypeError, "unrecognized keyword arguments"),
    (lambda: layers.AveragePooling2D(), TypeError, "pool_size"),
    (lambda: layers.ZeroPadding1D(-1), ValueError, "ZeroPadding1D: padding must be ints >= 0"),
    (lambda: layers.ZeroPadding2D(-1), ValueError, "ZeroPadding2D: padding"),
    (lambda: layers.ZeroPadding2D((1, 2, 3)), ValueError, "ZeroPadding2D: padding must be an int, a tuple of 2"),
    (lambda: layers.ZeroPadding3D(((1, 1), (1, 1), (1, -1))), ValueError, "3rd entry of padding"),
    (lambda: layers.ZeroPadding2D(data_format="last"), ValueError, "ZeroPadding2D: data_format"),
    (lambda: layers.Cropping1D((1, 2, 3)), ValueError, "Cropping1D: cropping must be"),
    (lambda: layers.Cropping2D(-2), ValueError, "Cropping2D: cropping"),
    (lambda: layers.Cropping3D("abc"), ValueError, "Cropping3D: cropping must be"),
    (lambda: layers.UpSampling1D(2.0), TypeError, "UpSampling1D: size must be a positive int"),
    (lambda: layers.UpSampling1D(0), ValueError, "UpSampling1D: size must be a positive int"),
    (lambda: layers.UpSampling2D((2, 0)), ValueError, "UpSampling2D: size must be positive ints"),
    (lambda: layers.UpSampling2D(interpolation="bicubic"), ValueError, "not supported by course_lib"),
    (lambda: layers.UpSampling2D(interpolation="cubic"), ValueError, "interpolation must be one of"),
    (lambda: layers.UpSampling3D((1, 2)), ValueError, "UpSampling3D: size must be positive ints"),
]


@pytest.mark.parametrize("make, error, message", BAD_ARGUMENTS)
def test_bad_arguments_are_refused_with_a_clear_error(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("layer, shape", [
    (layers.MaxPooling2D(), (2, 4, 4)),
    (layers.AveragePooling1D(2), (2, 4, 4, 1)),
    (layers.MaxPooling3D(), (2, 4, 4, 4)),
    (layers.GlobalAveragePooling2D(), (2, 4)),
    (layers.ZeroPadding2D(), (2, 4, 4)),
    (layers.Cropping1D(), (2, 4)),
    (layers.UpSampling2D(), (2, 3, 4, 5, 6)),
])
def test_wrong_input_rank_is_refused_by_the_input_spec(layer, shape):
    with pytest.raises(ValueError, match=f"Input 0 of layer '{layer.name}' is incompatible.*expected ndim"):
        layer(np.zeros(shape, "float32"))
    with pytest.raises(ValueError, match="expected ndim"):
        layer.compute_output_shape(shape)


@pytest.mark.parametrize("make, shape", [
    (lambda: layers.MaxPooling2D(4), (1, 3, 3, 2)),
    (lambda: layers.AveragePooling2D(4), (1, 3, 3, 2)),
    (lambda: layers.MaxPooling1D(3, strides=1), (1, 2, 1)),
    (lambda: layers.AveragePooling3D((1, 1, 5)), (1, 2, 2, 4, 1)),
    (lambda: layers.MaxPooling2D(4, data_format="channels_first"), (1, 8, 3, 8)),
])
def test_a_window_larger_than_the_input_with_valid_padding_is_a_clear_error(make, shape):
    """Deliberate difference: eager Keras returns an empty tensor (average) or fails inside oneDNN (max)."""
    layer = make()
    with pytest.raises(ValueError, match=f"{type(layer).__name__} '{layer.name}': the pooling window does not fit"):
        layer(np.zeros(shape, "float32"))
    with pytest.raises(ValueError, match="does not fit"):
        layer.compute_output_shape((None,) + shape[1:])
    with pytest.raises(ValueError, match="does not fit"):
        layer(cl.Input(shape[1:]))
    # The same window with "same" padding is fine: one output per stride.
    config = dict(layer.get_config(), padding="same")
    assert type(layer).from_config(config)(np.zeros(shape, "float32")).size > 0


@pytest.mark.parametrize("layer, shape", [
    (layers.Cropping1D((2, 3)), (1, 5, 2)),
    (layers.Cropping2D(((1, 1), (0, 0))), (1, 2, 3, 1)),
    (layers.Cropping3D(((0, 0), (0, 0), (2, 2))), (1, 2, 2, 4, 1)),
])
def test_cropping_everything_is_a_clear_error_as_in_keras(layer, shape):
    with pytest.raises(ValueError, match=f"{type(layer).__name__} '{layer.name}': cropping must leave"):
        layer(np.zeros(shape, "float32"))
    with pytest.raises(ValueError, match="cropping must leave"):
        layer.compute_output_shape(shape)


def test_backward_before_any_call_explains_itself():
    with pytest.raises(RuntimeError, match="Call the layer on arrays first"):
        layers.MaxPooling2D().backward(np.zeros((1, 1, 1, 1)))


# ------------------------------------------------------------ strict backend
STRICT_CASES = [
    (layers.MaxPooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 7, 5, 3)),
    (layers.MaxPooling1D, {"pool_size": 3, "strides": 1, "data_format": "channels_first"}, (2, 3, 7)),
    (layers.AveragePooling2D, {"pool_size": 3, "strides": 2, "padding": "same", "data_format": "channels_first"},
     (2, 3, 7, 5)),
    (layers.AveragePooling3D, {"pool_size": 2, "strides": 1, "padding": "same"}, (1, 3, 4, 3, 2)),
    (layers.GlobalMaxPooling2D, {"keepdims": True}, (2, 4, 5, 3)),
    (layers.GlobalAveragePooling1D, {"data_format": "channels_first"}, (2, 3, 7)),
    (layers.ZeroPadding2D, {"padding": ((1, 0), (2, 1))}, (2, 3, 4, 2)),
    (layers.Cropping3D, {"cropping": 1, "data_format": "channels_first"}, (1, 2, 4, 3, 5)),
    (layers.UpSampling1D, {"size": 2}, (2, 3, 2)),
    (layers.UpSampling2D, {"size": (2, 3), "interpolation": "bilinear"}, (2, 3, 4, 2)),
    (layers.UpSampling3D, {"size": 2, "data_format": "channels_first"}, (1, 2, 2, 3, 2)),
]


@pytest.mark.parametrize("cls, kwargs, shape", STRICT_CASES, ids=[c[0].__name__ for c in STRICT_CASES])
def test_forward_and_backward_under_the_strict_backend_give_numpys_numbers(cls, kwargs, shape):
    x = _distinct(shape).astype("float32")
    layer = cls(**kwargs)
    y = layer(x)
    dy = _normal(y.shape, seed=3).astype("float32")
    dx = layer.backward(dy)
    with backend.backend_scope("strict"):
        strict_layer = cls(**kwargs)
        strict_y = strict_layer(backend.xp.asarray(x))
        strict_dx = strict_layer.backward(backend.xp.asarray(dy))
        assert type(strict_y).__name__ == type(strict_dx).__name__ == "StrictArray"
        strict_y, strict_dx = backend.to_numpy(strict_y), backend.to_numpy(strict_dx)
    np.testing.assert_array_equal(strict_y, y)
    np.testing.assert_array_equal(strict_dx, dx)


def test_kernels_under_the_strict_backend():
    x = _distinct((2, 7, 6, 3))
    dy = _normal((2, 4, 3, 3), seed=2)
    expected = []
    for forward, backward in ((ops.max_pool2d_forward, ops.max_pool2d_backward),
                              (ops.avg_pool2d_forward, ops.avg_pool2d_backward)):
        out, cache = forward(x, 3, 2, "same")
        expected.append((out, backward(dy, cache)))
    naive = ops.max_pool2d_forward_naive(x, 3, 2, "same"), ops.avg_pool2d_forward_naive(x, 3, 2, "same")
    with backend.backend_scope("strict"):
        xs, dys = backend.xp.asarray(x), backend.xp.asarray(dy)
        for (forward, backward), (out, dx) in zip(((ops.max_pool2d_forward, ops.max_pool2d_backward),
                                                  (ops.avg_pool2d_forward, ops.avg_pool2d_backward)), expected):
            strict_out, cache = forward(xs, 3, 2, "same")
            np.testing.assert_array_equal(backend.to_numpy(strict_out), out)
            np.testing.assert_array_equal(backend.to_numpy(backward(dys, cache)), dx)
        np.testing.assert_array_equal(backend.to_numpy(ops.max_pool2d_forward_naive(xs, 3, 2, "same")), naive[0])
        np.testing.assert_allclose(backend.to_numpy(ops.avg_pool2d_forward_naive(xs, 3, 2, "same")), naive[1],
                                   rtol=1e-13)


@pytest.mark.parametrize("shape, pool, padding", [((3, 7, 9, 2), (2, 3), "valid"), ((2, 5, 5, 3), 2, "same"),
                                                  ((2, 8, 4), 2, "valid"), ((1, 4, 6, 2, 2), 2, "valid")])
def test_the_tiled_max_pool_backward_equals_the_offset_loop(monkeypatch, shape, pool, padding):
    """Windows that tile the input take a faster path; it must route exactly as the general loop, ties too."""
    from course_lib.ops import pooling

    x = np.random.default_rng(11).permutation(int(np.prod(shape))).reshape(shape).astype("float64")
    x = np.maximum(x - x.size // 2, 0)  # after a ReLU: half the entries tie at 0
    out, cache = pooling.pool_forward(x, pool, None, padding, "max")
    dy = np.random.default_rng(12).standard_normal(out.shape)
    tiled = pooling.pool_backward(dy, cache)
    monkeypatch.setattr(pooling, "_max_backward_tiled", lambda *args: None)
    np.testing.assert_array_equal(tiled, pooling.pool_backward(dy, cache))
