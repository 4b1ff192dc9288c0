"""ReLU, the noise layers and Normalization give tf.keras's numbers, computed in the same test.

Forward values and input gradients (``tf.GradientTape.gradient(y, x, output_gradients=dy)``)
are compared in float32 on the same inputs. Training-mode draws: Keras's
stateless TensorFlow generator cannot be reproduced in NumPy, so the tests
inject the SAME draw into both libraries: course_lib's layer gets a
``np.random.default_rng(seed)`` as its generator, and Keras's
``backend.random.normal`` / ``backend.random.dropout`` are replaced (for the
test only) by functions drawing from a generator with that seed with the
shape, mean, standard deviation and noise shape Keras's layer asks for. So
Keras's own ``call`` (its stddev formula, its noise shape, its add or
multiply) and TensorFlow's gradient meet course_lib's. Keras's real draws
are compared statistically (drop fractions, whole channels, scaling).

Normalization: ``adapt`` on an array, on a list of batches and with
``invert=True`` against Keras's weights and outputs; ``.keras`` files written
by one library and opened by the other, with the same predictions.

Measured against tf.keras 3.15 on CPU: every forward, gradient, adapted
weight and file prediction here is bit-exact (0.0 difference), except the
adapt over a list of batches, whose per-batch means and variances TensorFlow
sums in another order (up to 4.8e-7 absolute, 7e-8 relative, on variances
near 9), and the scale 1 / (1 - rate) of Keras's real dropout masks (one
float32 ulp, 2.4e-8 relative). Hence rtol 1e-5 with atol 1e-6, as the other
parity tests.
"""
import math

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)
from keras.src import backend as keras_backend  # noqa: E402
from keras_tape import keras_forward_backward  # noqa: E402

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6


def _normal(shape, seed=0, scale=2.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype("float32")


def _compare(ours, theirs, x, training=False, dy_seed=1):
    y = ours(x, training=training)
    dy = _normal(y.shape, dy_seed, 1.0)
    dx = ours.backward(dy)
    expected_y, (expected_dx,) = keras_forward_backward(theirs, [x], dy, training=training)
    assert y.dtype == np.float32 and y.shape == expected_y.shape
    np.testing.assert_allclose(y, expected_y, rtol=RTOL, atol=ATOL, err_msg="forward")
    np.testing.assert_allclose(dx, expected_dx, rtol=RTOL, atol=ATOL, err_msg="input gradient")
    return y, expected_y


def _configs_agree(ours, theirs):
    mine, keras_config = ours.get_config(), theirs.get_config()
    mine.pop("name"), keras_config.pop("name")
    assert mine == keras_config
    rebuilt = cl.testing.layer_from_keras(theirs)
    back = cl.testing.layer_to_keras(ours)
    assert type(rebuilt) is type(ours) and type(back) is type(theirs)
    assert {k: v for k, v in back.get_config().items() if k != "name"} == keras_config


# ----------------------------------------------------------------------- ReLU
RELU_CASES = [
    ("default", {}),
    ("max-value", {"max_value": 2.5}),
    ("relu6", {"max_value": 6}),
    ("leaky", {"negative_slope": 0.2}),
    ("threshold", {"threshold": 0.5}),
    ("threshold-leaky", {"threshold": 1.0, "negative_slope": 0.1}),
    ("all-three", {"max_value": 3.0, "negative_slope": 0.3, "threshold": 0.5}),
]


@pytest.mark.parametrize("kwargs", [c[1] for c in RELU_CASES], ids=[c[0] for c in RELU_CASES])
def test_relu_matches_keras_forward_gradients_and_config(kwargs):
    x = _normal((6, 8), scale=3.0)
    # The kinks themselves, where the conventions of the gradient matter.
    x[0, :5] = [0.0, kwargs.get("threshold", 0.0), kwargs.get("max_value") or 1.0, 6.0, -0.0]
    ours, theirs = cl.layers.ReLU(**kwargs), keras.layers.ReLU(**kwargs)
    _compare(ours, theirs, x)
    _configs_agree(ours, theirs)


# ---------------------------------------------------------------- Gaussian layers
@pytest.fixture
def same_normal_draw(monkeypatch):
    """Keras's normal draws replaced by ``mean + stddev * default_rng(seed).standard_normal(shape)``."""
    def give(seed):
        def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
            z = generator.standard_normal(tuple(shape))
            return tf.constant((mean + stddev * z).astype(dtype or "float32"))

        generator = np.random.default_rng(seed)
        monkeypatch.setattr(keras_backend.random, "normal", normal)

    return give


@pytest.mark.parametrize("class_name, kwargs", [
    ("GaussianNoise", {"stddev": 0.3}),
    ("GaussianNoise", {"stddev": 1.0}),
    ("GaussianDropout", {"rate": 0.3}),
    ("GaussianDropout", {"rate": 0.75}),
], ids=["noise-0.3", "noise-1", "dropout-0.3", "dropout-0.75"])
def test_gaussian_layers_match_keras_in_training_given_the_same_draw(same_normal_draw, class_name, kwargs):
    x = _normal((5, 4, 3))
    ours, theirs = getattr(cl.layers, class_name)(**kwargs), getattr(keras.layers, class_name)(**kwargs)
    ours._rng = np.random.default_rng(21)
    same_normal_draw(21)
    y, _ = _compare(ours, theirs, x, training=True)
    assert not np.allclose(y, x)  # the noise is there
    _configs_agree(ours, theirs)


@pytest.mark.parametrize("class_name, kwargs", [
    ("GaussianNoise", {"stddev": 0.3}), ("GaussianDropout", {"rate": 0.3}),
], ids=["GaussianNoise", "GaussianDropout"])
def test_gaussian_layers_match_keras_at_inference(class_name, kwargs):
    x = _normal((5, 4))
    _compare(getattr(cl.layers, class_name)(**kwargs, seed=1), getattr(keras.layers, class_name)(**kwargs, seed=1), x)


def test_gaussian_layers_real_keras_draws_have_our_statistics():
    x = np.ones((300, 200), dtype="float32")
    for library in (keras, cl):
        noise = np.asarray(library.layers.GaussianNoise(0.4, seed=3)(x, training=True)) - 1
        assert abs(noise.mean()) < 0.01 and abs(noise.std() - 0.4) < 0.01, library.__name__
        multiplier = np.asarray(library.layers.GaussianDropout(0.2, seed=3)(x, training=True))
        assert abs(multiplier.mean() - 1) < 0.01 and abs(multiplier.std() - math.sqrt(0.2 / 0.8)) < 0.01


# --------------------------------------------------------------- spatial dropout
SPATIAL_CASES = [
    ("1D", "SpatialDropout1D", {}, (4, 5, 6)),
    ("2D", "SpatialDropout2D", {}, (4, 3, 2, 6)),
    ("2D-channels_first", "SpatialDropout2D", {"data_format": "channels_first"}, (4, 6, 3, 2)),
    ("3D", "SpatialDropout3D", {}, (3, 2, 3, 2, 6)),
    ("3D-channels_first", "SpatialDropout3D", {"data_format": "channels_first"}, (3, 6, 2, 3, 2)),
]


@pytest.mark.parametrize("class_name, kwargs, shape", [c[1:] for c in SPATIAL_CASES],
                         ids=[c[0] for c in SPATIAL_CASES])
def test_spatial_dropout_matches_keras_given_the_same_mask(monkeypatch, class_name, kwargs, shape):
    rate, mask_seed = 0.4, 5
    asked = []

    def dropout(inputs, rate, noise_shape=None, seed=None):
        asked.append(tuple(int(s) for s in noise_shape))
        keep = np.random.default_rng(mask_seed).random(asked[-1]) >= rate
        return inputs * tf.constant(keep.astype("float32") / np.float32(1 - rate))

    monkeypatch.setattr(keras_backend.random, "dropout", dropout)
    ours = getattr(cl.layers, class_name)(rate, **kwargs)
    theirs = getattr(keras.layers, class_name)(rate, **kwargs)
    ours._rng = np.random.default_rng(mask_seed)
    y, _ = _compare(ours, theirs, _normal(shape), training=True)
    assert (y == 0).any() and (y != 0).any()
    channel = 1 if kwargs.get("data_format") == "channels_first" else len(shape) - 1
    expected_noise_shape = tuple(s if axis in (0, channel) else 1 for axis, s in enumerate(shape))
    assert asked == [expected_noise_shape]  # Keras's noise shape is ours
    _compare(ours, theirs, _normal(shape))  # inference: the identity in both
    _configs_agree(ours, theirs)


@pytest.mark.parametrize("class_name, kwargs, shape", [c[1:] for c in SPATIAL_CASES],
                         ids=[c[0] for c in SPATIAL_CASES])
def test_spatial_dropout_real_keras_masks_follow_our_rule(class_name, kwargs, shape):
    rate = 0.3
    big = (400,) + shape[1:]
    x = np.ones(big, dtype="float32")
    channel = 1 if kwargs.get("data_format") == "channels_first" else len(big) - 1
    spatial = tuple(axis for axis in range(1, len(big)) if axis != channel)
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        keras_y = getattr(keras.layers, class_name)(rate, seed=2, **kwargs)(tensor, training=True)
    dy = _normal(big, 3, 1.0)
    keras_dx = tape.gradient(keras_y, tensor, output_gradients=tf.constant(dy)).numpy()
    keras_y = keras_y.numpy()
    ours = getattr(cl.layers, class_name)(rate, seed=2, **kwargs)
    ours_y = ours(x, training=True)
    for y in (keras_y, ours_y):
        per_channel = y.max(axis=spatial, keepdims=True)
        np.testing.assert_array_equal(y, np.broadcast_to(per_channel, y.shape))  # whole channels
        assert abs(np.mean(per_channel == 0) - rate) < 0.05
        np.testing.assert_allclose(y[y != 0], 1 / (1 - rate), rtol=1e-6)
    np.testing.assert_allclose(keras_dx, dy * keras_y, rtol=1e-6)  # backward: the forward's mask
    np.testing.assert_allclose(ours.backward(dy), dy * ours_y, rtol=1e-6)


def test_spatial_dropout_rate_one_zeros_as_keras():
    x = _normal((2, 3, 4))
    np.testing.assert_array_equal(cl.layers.SpatialDropout1D(1.0)(x, training=True),
                                  keras.layers.SpatialDropout1D(1.0)(x, training=True).numpy())


# ------------------------------------------------------------------ Normalization
def _adapt_data(shape=(40, 3), seed=0):
    generator = np.random.default_rng(seed)
    return (3 * generator.standard_normal(shape) + np.arange(shape[-1]) - 1).astype("float32")


def _weights_agree(ours, theirs):
    mine, keras_weights = ours.get_weights(), theirs.get_weights()
    assert [w.shape for w in mine] == [tuple(w.shape) for w in keras_weights]
    assert [w.dtype for w in mine] == [w.dtype for w in keras_weights]
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights] == ["mean", "variance", "count"]
    assert [w.trainable for w in ours.weights] == [w.trainable for w in theirs.weights] == [False] * 3
    for a, b in zip(mine, keras_weights):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


NORMALIZATION_CASES = [
    ("last", {}, (40, 3)),
    ("invert", {"invert": True}, (40, 3)),
    ("axis-none", {"axis": None}, (40, 3)),
    ("two-axes", {"axis": (1, 2)}, (12, 4, 3)),
    ("middle-axis", {"axis": 1}, (12, 4, 3)),
    ("middle-axis-invert", {"axis": -2, "invert": True}, (12, 4, 3)),
]


@pytest.mark.parametrize("kwargs, shape", [c[1:] for c in NORMALIZATION_CASES],
                         ids=[c[0] for c in NORMALIZATION_CASES])
def test_normalization_adapt_on_an_array_matches_keras(kwargs, shape):
    data = _adapt_data(shape)
    ours, theirs = cl.layers.Normalization(**kwargs), keras.layers.Normalization(**kwargs)
    ours.adapt(data)
    theirs.adapt(data)
    _weights_agree(ours, theirs)
    _compare(ours, theirs, _normal((5,) + shape[1:], 7))
    _compare(ours, theirs, _normal((5,) + shape[1:], 8), training=True)
    _configs_agree(ours, theirs)


@pytest.mark.parametrize("kwargs", [{}, {"invert": True}, {"axis": None}], ids=["last", "invert", "axis-none"])
def test_normalization_adapt_on_batches_matches_keras(kwargs):
    data = _adapt_data((50, 3), 1)
    batches = [data[:8], data[8:21], data[21:40], data[40:]]
    ours, theirs = cl.layers.Normalization(**kwargs), keras.layers.Normalization(**kwargs)
    ours.adapt(batches)
    theirs.adapt(batches)
    _weights_agree(ours, theirs)
    _compare(ours, theirs, _normal((6, 3), 9))


def test_normalization_adapt_on_tuple_batches_from_a_generator_matches_keras():
    data = _adapt_data((30, 4), 2)

    def batches():
        for start in range(0, 30, 7):
            yield data[start:start + 7], np.zeros(len(data[start:start + 7]))

    ours, theirs = cl.layers.Normalization(), keras.layers.Normalization()
    ours.adapt(batches())
    theirs.adapt(batches())
    _weights_agree(ours, theirs)


@pytest.mark.parametrize("kwargs, shape", [
    ({"mean": 3.0, "variance": 2.0}, (4, 3)),
    ({"mean": [1.0, -2.0, 0.5], "variance": [1.0, 4.0, 0.25]}, (4, 3)),
    ({"mean": [1.0, 2.0], "variance": [0.5, 3.0], "axis": (1, 2)}, (3, 4, 2)),
    ({"mean": [1.0, -2.0, 0.5], "variance": [1.0, 4.0, 0.25], "invert": True}, (4, 3)),
    ({"mean": 0.0, "variance": 0.0}, (4, 3)),  # the epsilon floor
], ids=["scalar", "per-feature", "lower-rank", "invert", "zero-variance"])
def test_normalization_with_given_statistics_matches_keras(kwargs, shape):
    ours, theirs = cl.layers.Normalization(**kwargs), keras.layers.Normalization(**kwargs)
    _compare(ours, theirs, _normal(shape, 4))
    assert ours.weights == [] and theirs.weights == []
    _configs_agree(ours, theirs)


def _normalizing_model(library, data):
    norm = library.layers.Normalization(name="norm")
    norm.adapt(data)
    inputs = library.Input((4,))
    hidden = library.layers.GaussianNoise(0.1, name="noise")(norm(inputs))
    hidden = library.layers.ReLU(max_value=6.0, name="relu")(library.layers.Dense(5, name="dense")(hidden))
    hidden = library.layers.GaussianDropout(0.2, name="gdrop")(hidden)
    outputs = library.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0], invert=True,
                                           name="denorm")(library.layers.Dense(2, name="out")(hidden))
    return library.Model(inputs, outputs)


def test_a_keras_file_with_normalization_opens_in_course_lib(tmp_path):
    keras.utils.set_random_seed(0)
    data = _adapt_data((64, 4), 3)
    original = _normalizing_model(keras, data)
    path = tmp_path / "from_keras.keras"
    original.save(path)
    loaded = cl.models.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in original.layers]
    _weights_agree(loaded.get_layer("norm"), original.get_layer("norm"))
    np.testing.assert_allclose(loaded.predict(data, verbose=0), original.predict(data, verbose=0),
                               rtol=1e-6, atol=1e-6)


def test_a_course_lib_file_with_normalization_opens_in_keras(tmp_path):
    cl.utils.set_random_seed(0)
    data = _adapt_data((64, 4), 4)
    original = _normalizing_model(cl, data)
    path = tmp_path / "from_course_lib.keras"
    original.save(path)
    loaded = keras.models.load_model(path)
    _weights_agree(original.get_layer("norm"), loaded.get_layer("norm"))
    np.testing.assert_allclose(loaded.predict(data, verbose=0), original.predict(data, verbose=0),
                               rtol=1e-6, atol=1e-6)
    # And the weights file alone, into a fresh Keras model of the same architecture.
    original.save_weights(tmp_path / "weights.weights.h5")
    fresh = _normalizing_model(keras, np.zeros((2, 4), "float32"))
    fresh.load_weights(tmp_path / "weights.weights.h5")
    np.testing.assert_allclose(fresh.predict(data, verbose=0), original.predict(data, verbose=0),
                               rtol=1e-6, atol=1e-6)


def test_a_keras_file_with_spatial_dropout_opens_in_course_lib_and_back(tmp_path):
    keras.utils.set_random_seed(1)
    original = keras.Sequential([keras.Input((5, 4, 3)), keras.layers.SpatialDropout2D(0.3, name="sd"),
                                 keras.layers.Flatten(), keras.layers.Dense(2)])
    original.save(tmp_path / "sd.keras")
    loaded = cl.models.load_model(tmp_path / "sd.keras")
    assert loaded.get_layer("sd").get_config() == original.get_layer("sd").get_config()
    x = _normal((3, 5, 4, 3))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), original.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    loaded.save(tmp_path / "back.keras")
    again = keras.models.load_model(tmp_path / "back.keras")
    assert again.get_layer("sd").get_config() == original.get_layer("sd").get_config()
