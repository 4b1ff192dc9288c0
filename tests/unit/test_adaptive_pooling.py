"""Adaptive pooling layers: windows, gradients, contract, bad arguments, strict backend.

Every layer is checked against central differences in float64 (relative
error < 1e-6 through ``cl.testing.assert_gradients_close``), on tie-free
inputs for max pooling, and against a brute-force loop over every window
written here. The tf.keras comparison lives in
``tests/parity/test_adaptive_pooling_parity.py``.
"""
import itertools
import math

import numpy as np
import pytest

import course_lib as cl
from course_lib import backend, layers
from course_lib.layers.adaptive_pooling import adaptive_windows

CLASSES = {
    ("average", 1): layers.AdaptiveAveragePooling1D, ("average", 2): layers.AdaptiveAveragePooling2D,
    ("average", 3): layers.AdaptiveAveragePooling3D, ("max", 1): layers.AdaptiveMaxPooling1D,
    ("max", 2): layers.AdaptiveMaxPooling2D, ("max", 3): layers.AdaptiveMaxPooling3D,
}
GEOMETRIES = {1: [((7,), (3,)), ((3,), (5,)), ((8,), (4,))],
              2: [((7, 5), (3, 2)), ((3, 4), (5, 6)), ((6, 6), (6, 6))],
              3: [((5, 7, 4), (2, 3, 2)), ((2, 3, 2), (3, 2, 3))]}
CASES = [(mode, rank, spatial, out, fmt) for (mode, rank) in CLASSES for spatial, out in GEOMETRIES[rank]
         for fmt in ("channels_last", "channels_first")]


def _distinct(shape, seed=0):
    """Distinct values in [-2, 2): no ties, and gaps far larger than the finite-difference step."""
    size = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(size).reshape(shape) * (4.0 / size) - 2.0


def _shape(spatial, fmt, batch=2, channels=3):
    return (batch,) + spatial + (channels,) if fmt == "channels_last" else (batch, channels) + spatial


def _reference(x, out, mode):
    """Loops over every output position: start floor(i n / m), end ceil((i + 1) n / m) (channels_last)."""
    spatial = x.shape[1:-1]
    y = np.empty((x.shape[0],) + tuple(out) + (x.shape[-1],))
    for position in itertools.product(*[range(m) for m in out]):
        window = tuple(slice(math.floor(i * n / m), math.ceil((i + 1) * n / m))
                       for i, n, m in zip(position, spatial, out))
        block = x[(slice(None),) + window + (slice(None),)]
        axes = tuple(range(1, len(out) + 1))
        y[(slice(None),) + position + (slice(None),)] = block.mean(axes) if mode == "average" else block.max(axes)
    return y


def test_windows_are_floor_and_ceil_of_the_scaled_positions():
    for length, output_length in [(7, 3), (3, 5), (10, 4), (1, 1), (5, 5), (64, 7)]:
        starts, ends = adaptive_windows(length, output_length)
        assert starts.tolist() == [math.floor(i * length / output_length) for i in range(output_length)]
        assert ends.tolist() == [math.ceil((i + 1) * length / output_length) for i in range(output_length)]


@pytest.mark.parametrize("mode, rank, spatial, out, fmt", CASES)
def test_forward_matches_a_loop_over_every_window(mode, rank, spatial, out, fmt):
    x = _distinct(_shape(spatial, "channels_last"))
    layer = CLASSES[mode, rank](out, data_format=fmt)
    given = x if fmt == "channels_last" else np.moveaxis(x, -1, 1)
    y = layer(given.astype("float32"))
    expected = _reference(x, out, mode)
    if fmt == "channels_first":
        expected = np.moveaxis(expected, -1, 1)
    assert y.dtype == np.float32 and y.shape == expected.shape == layer.compute_output_shape(given.shape)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode, rank, spatial, out, fmt", CASES)
def test_gradients_match_central_differences(mode, rank, spatial, out, fmt):
    with backend.floatx_scope("float64"):
        layer = CLASSES[mode, rank](out, data_format=fmt)
        cl.testing.assert_gradients_close(layer, _distinct(_shape(spatial, fmt)), tolerance=1e-6)


@pytest.mark.parametrize("mode, rank", list(CLASSES))
def test_layer_contract_and_config(mode, rank):
    cls = CLASSES[mode, rank]
    spatial, out = GEOMETRIES[rank][0]
    layer = cl.testing.layer_test(cls, {"output_size": out}, input_shape=(2,) + spatial + (3,),
                                  expected_output_shape=(None,) + out + (3,), expected_num_weights=0)
    config = layer.get_config()
    assert config["output_size"] == out and config["data_format"] == "channels_last"
    assert set(config) == {"name", "trainable", "dtype", "output_size", "data_format"}
    assert cls(4).output_size == (4,) * rank
    assert cls.from_config(dict(config, output_size=list(out))).output_size == out  # a .keras file's JSON list


def test_max_gradient_goes_to_the_first_maximum_of_each_window():
    x = np.array([[[1.0], [3.0], [3.0], [0.0], [2.0]]])  # windows [0, 2), [1, 4), [3, 5)
    layer = layers.AdaptiveMaxPooling1D(3)
    np.testing.assert_array_equal(layer(x)[0, :, 0], [3.0, 3.0, 2.0])
    np.testing.assert_array_equal(layer.backward(np.ones((1, 3, 1)))[0, :, 0], [0.0, 2.0, 0.0, 0.0, 1.0])


def test_bad_arguments_and_inputs_are_refused_with_the_layers_name():
    with pytest.raises(TypeError, match=r"AdaptiveAveragePooling2D: output_size must be an int or a tuple of 2"):
        layers.AdaptiveAveragePooling2D((2, 2, 2))
    with pytest.raises(TypeError, match=r"AdaptiveMaxPooling1D: output_size must be an int or a tuple of 1"):
        layers.AdaptiveMaxPooling1D("3")
    with pytest.raises(ValueError, match=r"AdaptiveMaxPooling3D: output_size must hold positive ints"):
        layers.AdaptiveMaxPooling3D((2, 0, 2))
    with pytest.raises(ValueError, match=r"AdaptiveMaxPooling2D: data_format must be"):
        layers.AdaptiveMaxPooling2D(2, data_format="NHWC")
    with pytest.raises(ValueError, match=r"expected ndim=4"):
        layers.AdaptiveAveragePooling2D(2)(np.zeros((2, 5, 3)))


def test_in_a_model_it_trains_like_any_layer():
    model = cl.models.Sequential([cl.Input((9, 7, 2)), layers.AdaptiveAveragePooling2D((3, 3)), layers.Flatten(),
                                  layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = _distinct((8, 9, 7, 2)).astype("float32")
    history = model.fit(x, np.ones((8, 1), "float32"), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


STRICT = [(layers.AdaptiveAveragePooling2D, (3, 2), (2, 7, 5, 3), "channels_first"),
          (layers.AdaptiveMaxPooling3D, (2, 3, 2), (1, 5, 7, 4, 2), "channels_last"),
          (layers.AdaptiveMaxPooling1D, 5, (2, 3, 4), "channels_last")]


@pytest.mark.parametrize("cls, out, shape, fmt", STRICT, ids=[c[0].__name__ for c in STRICT])
def test_forward_and_backward_under_the_strict_backend_give_numpys_numbers(cls, out, shape, fmt):
    x = _distinct(shape).astype("float32")
    layer = cls(out, data_format=fmt)
    y = layer(x)
    dy = np.random.default_rng(3).standard_normal(y.shape).astype("float32")
    dx = layer.backward(dy)
    with backend.backend_scope("strict"):
        strict_layer = cls(out, data_format=fmt)
        strict_y = strict_layer(backend.xp.asarray(x))
        strict_dx = strict_layer.backward(backend.xp.asarray(dy))
        assert type(strict_y).__name__ == type(strict_dx).__name__ == "StrictArray"
        strict_y, strict_dx = backend.to_numpy(strict_y), backend.to_numpy(strict_dx)
    np.testing.assert_array_equal(strict_y, y)
    np.testing.assert_array_equal(strict_dx, dx)
