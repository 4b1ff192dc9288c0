"""The adaptive pooling layers give tf.keras's forward and backward, computed in the same test.

Inputs are float32 and tie-free (a random permutation of distinct values), so
that max pooling has one maximum per window. Input gradients come from
``tf.GradientTape.gradient(y, x, output_gradients=dy)``.

Measured against tf.keras 3.15 (TensorFlow 2.21, CPU) over this grid (down-
and up-sampling, sizes that divide and that do not, both data formats):
max pooling forwards are bit-exact, their gradients too except where
overlapping windows send one input several shares, added in another order
(2.4e-7 absolute); average pooling forwards agree to 1.3e-7 absolute (Keras
divides each window's sum, we multiply by ``1 / size`` in a matrix product;
up to 5e-5 relative on outputs near zero), their gradients to 1.2e-7
absolute. Hence rtol 1e-5 with atol 1e-6, as for every layer. Configs are equal (the name aside),
and ``.keras`` files round-trip both ways.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
from keras_tape import keras_forward_backward  # noqa: E402
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6

CASES = [
    # (class name, kwargs, input shape)
    ("AdaptiveAveragePooling1D", {"output_size": 3}, (2, 7, 3)),
    ("AdaptiveAveragePooling1D", {"output_size": 4}, (2, 8, 3)),
    ("AdaptiveAveragePooling1D", {"output_size": 5, "data_format": "channels_first"}, (2, 3, 3)),
    ("AdaptiveAveragePooling2D", {"output_size": (3, 2)}, (2, 7, 5, 3)),
    ("AdaptiveAveragePooling2D", {"output_size": 4}, (2, 10, 9, 2)),
    ("AdaptiveAveragePooling2D", {"output_size": (5, 6), "data_format": "channels_first"}, (2, 3, 3, 4)),
    ("AdaptiveAveragePooling3D", {"output_size": (2, 3, 2)}, (2, 5, 7, 4, 2)),
    ("AdaptiveAveragePooling3D", {"output_size": 2, "data_format": "channels_first"}, (1, 2, 5, 3, 4)),
    ("AdaptiveMaxPooling1D", {"output_size": 3}, (2, 7, 3)),
    ("AdaptiveMaxPooling1D", {"output_size": 5, "data_format": "channels_first"}, (2, 3, 3)),
    ("AdaptiveMaxPooling2D", {"output_size": (3, 2)}, (2, 7, 5, 3)),
    ("AdaptiveMaxPooling2D", {"output_size": 4}, (2, 10, 9, 2)),
    ("AdaptiveMaxPooling2D", {"output_size": (5, 6), "data_format": "channels_first"}, (2, 3, 3, 4)),
    ("AdaptiveMaxPooling3D", {"output_size": (2, 3, 2)}, (2, 5, 7, 4, 2)),
    ("AdaptiveMaxPooling3D", {"output_size": 2, "data_format": "channels_first"}, (1, 2, 5, 3, 4)),
]


def _distinct(shape, seed=0):
    size = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(size).reshape(shape) * (4.0 / size) - 2.0).astype("float32")


def _config(layer):
    config = dict(layer.get_config())
    config.pop("name")
    return config


@pytest.mark.parametrize("class_name, kwargs, shape", CASES, ids=[f"{c[0]}-{c[2]}-{c[1]}" for c in CASES])
def test_adaptive_pooling_forward_and_backward_match_keras(class_name, kwargs, shape):
    x = _distinct(shape)
    theirs = getattr(keras.layers, class_name)(**kwargs)
    ours = getattr(cl.layers, class_name)(**kwargs)
    y_ours = ours(x)
    dy = np.random.default_rng(1).standard_normal(y_ours.shape).astype("float32")
    y_theirs, (dx_theirs,) = keras_forward_backward(theirs, [x], dy)
    assert y_ours.dtype == y_theirs.dtype and y_ours.shape == y_theirs.shape
    np.testing.assert_allclose(y_ours, y_theirs, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.backward(dy), dx_theirs, rtol=RTOL, atol=ATOL)
    assert tuple(ours.compute_output_shape((None,) + shape[1:])) == \
        tuple(theirs.compute_output_shape((None,) + shape[1:]))
    assert _config(ours) == _config(theirs)
    assert _config(getattr(cl.layers, class_name).from_config(theirs.get_config())) == _config(theirs)


@pytest.mark.parametrize("class_name", ["AdaptiveAveragePooling2D", "AdaptiveMaxPooling2D"])
def test_adaptive_pooling_keras_files_round_trip_both_ways(class_name, tmp_path):
    x = _distinct((2, 9, 7, 3))
    ours = cl.models.Sequential([cl.Input((9, 7, 3)), getattr(cl.layers, class_name)((4, 3))])
    ours.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=RTOL, atol=ATOL)
    assert _config(theirs.layers[-1]) == _config(ours.layers[-1])

    keras_model = keras.Sequential([keras.Input((9, 7, 3)),
                                    getattr(keras.layers, class_name)((2, 5), data_format="channels_last")])
    keras_model.save(tmp_path / "theirs.keras")
    loaded = cl.models.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), keras_model.predict(x, verbose=0), rtol=RTOL,
                               atol=ATOL)
    assert _config(loaded.layers[-1]) == _config(keras_model.layers[-1])
