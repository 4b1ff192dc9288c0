"""ReLU, GaussianNoise, GaussianDropout, SpatialDropout1D/2D/3D and Normalization: behaviour, gradients, errors.

Every layer's backward is checked against central differences in float64
(relative error < 1e-6, ``cl.testing.assert_gradients_close``), in inference
and in training; the random layers are reseeded before every forward pass so
that the finite differences see the same draw as the backward. The draws
themselves are checked against the layer's generator (``np.random.default_rng(seed)``).
The tf.keras comparison lives in ``tests/parity/test_noise_and_normalization_parity.py``.
"""
import math

import numpy as np
import pytest

import course_lib as cl
from course_lib import layers

GRADIENT_TOLERANCE = 1e-6
# The finite-difference step: every layer here is linear (piecewise linear, ReLU) in its input, so the
# truncation error is zero and a step of 1e-4 keeps the float64 rounding of sum(y * dy) far below the
# smallest gradient entries (the default 1e-6 leaves a few of them at 1.2e-6 relative error).
STEP = 1e-4


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _reseeding(layer, seed):
    """``before_forward`` for the gradient checker: the same draw at every forward pass."""
    def reseed():
        layer._rng = np.random.default_rng(seed)
    return reseed


# ----------------------------------------------------------------------- ReLU
def _away_from_kinks(shape, kinks, seed=0):
    """Normal values kept 0.05 away from each kink, so central differences never straddle one."""
    x = 3 * _normal(shape, seed)
    for kink in kinks:
        close = np.abs(x - kink) < 0.05
        x[close] = kink + 0.1 * np.sign(x[close] - kink + 1e-12)
    return x


RELU_CASES = [
    ("default", {}),
    ("max-value", {"max_value": 2.5}),
    ("relu6", {"max_value": 6}),
    ("negative-slope", {"negative_slope": 0.2}),
    ("threshold", {"threshold": 0.5}),
    ("all-three", {"max_value": 2.0, "negative_slope": 0.3, "threshold": 0.5}),
]


def _relu_reference(x, max_value=None, negative_slope=0.0, threshold=0.0):
    y = np.where(x >= threshold, x, negative_slope * (x - threshold))
    return y if max_value is None else np.minimum(y, max_value)


@pytest.mark.parametrize("kwargs", [c[1] for c in RELU_CASES], ids=[c[0] for c in RELU_CASES])
def test_relu_forward_follows_the_formula_and_its_backward_passes_the_gradient_check(kwargs):
    kinks = [0.0, kwargs.get("threshold", 0.0)] + ([kwargs["max_value"]] if "max_value" in kwargs else [])
    x = _away_from_kinks((4, 6), kinks)
    with cl.backend.floatx_scope("float64"):
        layer = layers.ReLU(**kwargs)
        np.testing.assert_allclose(layer(x), _relu_reference(x, **kwargs), rtol=1e-12)
        for training in (False, True):
            report = cl.testing.assert_gradients_close(layer, x, training=training, epsilon=STEP,
                                                       tolerance=GRADIENT_TOLERANCE)
            assert report.max_error < GRADIENT_TOLERANCE


def test_relu_uses_the_relu_activation_itself():
    x = np.linspace(-8, 8, 41).astype("float32")
    layer = layers.ReLU(max_value=6, negative_slope=0.1, threshold=1.0)
    options = {"max_value": 6, "negative_slope": 0.1, "threshold": 1.0}
    y = layer(x)
    np.testing.assert_array_equal(y, cl.activations.relu(x, **options))
    dy = _normal(x.shape).astype("float32")
    np.testing.assert_array_equal(layer.backward(dy), cl.activations.relu.backward(x, y, dy, **options))
    assert y.dtype == np.float32


def test_relu_config_keeps_the_values_as_given_and_round_trips():
    layer = layers.ReLU(max_value=6, name="capped")
    config = layer.get_config()
    assert {k: config[k] for k in ("max_value", "negative_slope", "threshold")} == {
        "max_value": 6, "negative_slope": 0.0, "threshold": 0.0}
    assert type(config["max_value"]) is int
    rebuilt = layers.deserialize(layers.serialize(layer))
    assert type(rebuilt) is layers.ReLU and rebuilt.get_config() == config
    assert layers.ReLU().name.startswith("re_lu")  # Keras's automatic name


@pytest.mark.parametrize("kwargs, error, text", [
    ({"max_value": -1.0}, ValueError, "max_value must be a float >= 0"),
    ({"negative_slope": -0.1}, ValueError, "negative_slope must be a float >= 0"),
    ({"threshold": -0.5}, ValueError, "threshold must be a float >= 0"),
    ({"negative_slope": None}, TypeError, "negative_slope must be a real number"),
    ({"threshold": None}, TypeError, "threshold must be a real number"),
    ({"max_value": "6"}, TypeError, "max_value must be a real number or None"),
])
def test_relu_refuses_bad_arguments_naming_the_class(kwargs, error, text):
    with pytest.raises(error, match=rf"ReLU: {text}.*Received"):
        layers.ReLU(**kwargs)


# ---------------------------------------------------------------- Gaussian layers
@pytest.mark.parametrize("layer_class, kwargs", [
    (layers.GaussianNoise, {"stddev": 0.3, "seed": 4}),
    (layers.GaussianDropout, {"rate": 0.3, "seed": 4}),
], ids=["GaussianNoise", "GaussianDropout"])
def test_gaussian_layers_are_the_identity_at_inference(layer_class, kwargs):
    x = _normal((5, 7)).astype("float32")
    layer = layer_class(**kwargs)
    np.testing.assert_array_equal(layer(x), x)  # no training argument: inference, as in Keras
    np.testing.assert_array_equal(layer(x, training=False), x)
    dy = _normal(x.shape, 1).astype("float32")
    np.testing.assert_array_equal(layer.backward(dy), dy)


def test_gaussian_noise_adds_stddev_times_the_generators_draw():
    x = _normal((4, 5)).astype("float32")
    layer = layers.GaussianNoise(0.25, seed=7)
    y = layer(x, training=True)
    z = np.random.default_rng(7).standard_normal(x.shape)
    np.testing.assert_array_equal(y, x + (0.25 * z).astype("float32"))
    assert y.dtype == np.float32
    dy = _normal(x.shape, 1).astype("float32")
    np.testing.assert_array_equal(layer.backward(dy), dy)  # the noise does not depend on x
    assert not np.array_equal(layer(x, training=True), y)  # a new draw at every call


def test_gaussian_noise_statistics_and_zero_stddev():
    x = np.zeros((400, 250), dtype="float32")
    noise = layers.GaussianNoise(0.4, seed=0)(x, training=True)
    assert abs(noise.mean()) < 0.005 and abs(noise.std() - 0.4) < 0.005
    np.testing.assert_array_equal(layers.GaussianNoise(0.0)(x + 1, training=True), x + 1)


def test_gaussian_dropout_multiplies_by_one_plus_its_stddev_times_the_draw():
    rate = 0.3
    x = _normal((4, 5)).astype("float32")
    layer = layers.GaussianDropout(rate, seed=9)
    y = layer(x, training=True)
    multiplier = (1.0 + math.sqrt(rate / (1 - rate)) * np.random.default_rng(9).standard_normal(x.shape))
    multiplier = multiplier.astype("float32")
    np.testing.assert_array_equal(y, x * multiplier)
    dy = _normal(x.shape, 1).astype("float32")
    np.testing.assert_array_equal(layer.backward(dy), dy * multiplier)  # the same draw


def test_gaussian_dropout_statistics():
    rate = 0.2
    y = layers.GaussianDropout(rate, seed=1)(np.ones((400, 250), dtype="float32"), training=True)
    assert abs(y.mean() - 1) < 0.005 and abs(y.std() - math.sqrt(rate / (1 - rate))) < 0.005


def test_gaussian_dropout_with_rate_one_is_refused_only_in_training():
    layer = layers.GaussianDropout(1.0)
    x = np.ones((2, 3), dtype="float32")
    np.testing.assert_array_equal(layer(x), x)
    with pytest.raises(ValueError, match=r"GaussianDropout .*rate=1 gives the noise an infinite standard"):
        layer(x, training=True)
    np.testing.assert_array_equal(layers.GaussianDropout(0.0)(x, training=True), x)


@pytest.mark.parametrize("layer_class, kwargs", [
    (layers.GaussianNoise, {"stddev": 0.5}),
    (layers.GaussianDropout, {"rate": 0.4}),
], ids=["GaussianNoise", "GaussianDropout"])
@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_gaussian_layers_pass_the_gradient_check(layer_class, kwargs, training):
    with cl.backend.floatx_scope("float64"):
        layer = layer_class(**kwargs, seed=3)
        report = cl.testing.assert_gradients_close(layer, _normal((4, 5)), training=training,
                                                   before_forward=_reseeding(layer, 3), epsilon=STEP,
                                                   tolerance=GRADIENT_TOLERANCE)
    assert report.max_error < GRADIENT_TOLERANCE


@pytest.mark.parametrize("layer_class, argument", [
    (layers.GaussianNoise, "stddev"), (layers.GaussianDropout, "rate"),
], ids=["GaussianNoise", "GaussianDropout"])
def test_gaussian_layers_refuse_bad_arguments(layer_class, argument):
    name = layer_class.__name__
    for value in (-0.1, 1.5):  # Keras's range is [0, 1] for both
        with pytest.raises(ValueError, match=rf"{name}: {argument} must be a float in the range \[0, 1\]"):
            layer_class(value)
    with pytest.raises(TypeError, match=rf"{name}: {argument} must be a real number. Received"):
        layer_class("0.1")
    with pytest.raises(TypeError, match=rf"{name}: seed must be an int or None. Received: seed=1.5"):
        layer_class(0.1, seed=1.5)


@pytest.mark.parametrize("layer_class, argument", [
    (layers.GaussianNoise, "stddev"), (layers.GaussianDropout, "rate"),
], ids=["GaussianNoise", "GaussianDropout"])
def test_gaussian_layers_configs_round_trip(layer_class, argument):
    layer = layer_class(0.25, seed=5, name="noisy")
    config = layer.get_config()
    assert config[argument] == 0.25 and config["seed"] == 5
    assert set(config) == {"name", "trainable", "dtype", argument, "seed"}
    rebuilt = layers.deserialize(layers.serialize(layer))
    assert type(rebuilt) is layer_class and rebuilt.get_config() == config
    x = _normal((3, 4)).astype("float32")
    np.testing.assert_array_equal(rebuilt(x, training=True), layer(x, training=True))  # the same seed


# ---------------------------------------------------------------- spatial dropout
SPATIAL_CASES = [
    ("1D", layers.SpatialDropout1D, {}, (6, 5, 8), (1,), -1),
    ("2D", layers.SpatialDropout2D, {}, (6, 3, 4, 8), (1, 2), -1),
    ("2D-channels_first", layers.SpatialDropout2D, {"data_format": "channels_first"}, (6, 8, 3, 4), (2, 3), 1),
    ("3D", layers.SpatialDropout3D, {}, (4, 2, 3, 2, 8), (1, 2, 3), -1),
    ("3D-channels_first", layers.SpatialDropout3D, {"data_format": "channels_first"}, (4, 8, 2, 3, 2), (2, 3, 4), 1),
]


@pytest.mark.parametrize("layer_class, kwargs, shape, spatial, channel", [c[1:] for c in SPATIAL_CASES],
                         ids=[c[0] for c in SPATIAL_CASES])
def test_spatial_dropout_drops_whole_channels_with_keras_noise_shape(layer_class, kwargs, shape, spatial, channel):
    rate = 0.4
    layer = layer_class(rate, seed=2, **kwargs)
    x = np.ones(shape, dtype="float32")
    np.testing.assert_array_equal(layer(x), x)
    y = layer(x, training=True)
    # One draw per (sample, channel): the same value along every spatial axis.
    np.testing.assert_array_equal(y, np.broadcast_to(y.max(axis=spatial, keepdims=True), y.shape))
    assert set(np.unique(y)) <= {0.0, np.float32(1) / np.float32(1 - rate)}
    # The mask is Dropout's, drawn with the noise shape Keras uses: (batch, 1.., channels).
    noise_shape = [1] * len(shape)
    noise_shape[0], noise_shape[channel] = shape[0], shape[channel]
    keep = np.random.default_rng(2).random(tuple(noise_shape)) >= rate
    np.testing.assert_array_equal(y, np.broadcast_to(keep / np.float32(1 - rate), shape).astype("float32"))
    dy = _normal(shape, 1).astype("float32")
    np.testing.assert_array_equal(layer.backward(dy), dy * y)


def test_spatial_dropout_drops_the_rate_of_the_channels():
    y = layers.SpatialDropout2D(0.3, seed=0)(np.ones((200, 2, 2, 50), dtype="float32"), training=True)
    assert abs(np.mean(y[:, 0, 0, :] == 0) - 0.3) < 0.02


@pytest.mark.parametrize("layer_class, kwargs, shape, spatial, channel", [c[1:] for c in SPATIAL_CASES],
                         ids=[c[0] for c in SPATIAL_CASES])
@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_spatial_dropout_passes_the_gradient_check(layer_class, kwargs, shape, spatial, channel, training):
    with cl.backend.floatx_scope("float64"):
        layer = layer_class(0.5, seed=6, **kwargs)
        report = cl.testing.assert_gradients_close(layer, _normal(shape), training=training,
                                                   before_forward=_reseeding(layer, 6), epsilon=STEP,
                                                   tolerance=GRADIENT_TOLERANCE)
    assert report.max_error < GRADIENT_TOLERANCE


def test_spatial_dropout_rate_zero_and_one():
    x = _normal((2, 3, 4)).astype("float32")
    np.testing.assert_array_equal(layers.SpatialDropout1D(0.0)(x, training=True), x)
    layer = layers.SpatialDropout1D(1.0)
    np.testing.assert_array_equal(layer(x, training=True), np.zeros_like(x))
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.zeros_like(x))


@pytest.mark.parametrize("layer_class, rank", [
    (layers.SpatialDropout1D, 3), (layers.SpatialDropout2D, 4), (layers.SpatialDropout3D, 5),
])
def test_spatial_dropout_checks_the_input_rank(layer_class, rank):
    with pytest.raises(ValueError, match=rf"expected ndim={rank}, found ndim={rank - 1}"):
        layer_class(0.2)(np.ones((2,) * (rank - 1), dtype="float32"))


def test_spatial_dropout_refuses_bad_arguments_naming_the_class():
    with pytest.raises(ValueError, match=r"SpatialDropout2D: rate must be a float in the range \[0, 1\]"):
        layers.SpatialDropout2D(1.2)
    with pytest.raises(TypeError, match=r"SpatialDropout1D: rate must be a real number"):
        layers.SpatialDropout1D("half")
    with pytest.raises(ValueError, match=r"SpatialDropout3D: data_format must be 'channels_last' or"):
        layers.SpatialDropout3D(0.2, data_format="channels_middle")
    with pytest.raises(TypeError, match=r"SpatialDropout1D: seed must be an int or None"):
        layers.SpatialDropout1D(0.2, seed="one")
    with pytest.raises(TypeError):  # Keras's SpatialDropout takes rate, (data_format,) seed, name, dtype only
        layers.SpatialDropout1D(0.2, trainable=False)


def test_spatial_dropout_configs_are_keras_short_ones_and_round_trip():
    one = layers.SpatialDropout1D(0.25, seed=3, name="sd1")
    assert one.get_config() == {"rate": 0.25, "seed": 3, "name": "sd1", "dtype": "float32"}
    two = layers.SpatialDropout2D(0.5, data_format="Channels_First", name="sd2")
    assert two.get_config() == {"rate": 0.5, "seed": None, "name": "sd2", "dtype": "float32",
                                "data_format": "channels_first"}
    three = layers.SpatialDropout3D(0.1, name="sd3")
    assert three.get_config()["data_format"] == "channels_last"
    for layer in (one, two, three):
        rebuilt = layers.deserialize(layers.serialize(layer))
        assert type(rebuilt) is type(layer) and rebuilt.get_config() == layer.get_config()


# ------------------------------------------------------------------ Normalization
def _data(shape=(40, 3), seed=0):
    return (3 * _normal(shape, seed) + np.arange(shape[-1])).astype("float32")


@pytest.mark.parametrize("axis, shape, reduce", [
    (-1, (40, 3), (0,)),
    (None, (40, 3), (0, 1)),
    (1, (10, 4, 3), (0, 2)),
    ((1, 2), (10, 4, 3), (0,)),
    ((-1, 1), (10, 4, 3), (0,)),
    (0, (6, 3), (1,)),
], ids=["last", "none", "middle", "two-axes", "unsorted-negative", "batch-axis"])
def test_adapt_on_an_array_takes_mean_and_biased_variance_over_the_other_axes(axis, shape, reduce):
    data = _data(shape)
    layer = layers.Normalization(axis=axis)
    layer.adapt(data)
    mean, variance, count = layer.get_weights()
    np.testing.assert_array_equal(mean, np.mean(data, axis=reduce))
    np.testing.assert_array_equal(variance, np.var(data, axis=reduce))
    assert count == 0 and count.dtype == np.int64  # Keras keeps it for old files and never updates it
    y = layer(data)
    expected = (data - layer.mean) / np.maximum(np.sqrt(layer.variance), np.float32(1e-7))
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_allclose(y.mean(axis=reduce), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=reduce), 1, rtol=1e-5)


def test_adapt_on_batches_combines_them_as_one_array():
    data = _data((50, 4)).astype("float64")
    with cl.backend.floatx_scope("float64"):
        whole = layers.Normalization()
        whole.adapt(data)
        cases = {
            "list": [data[:7], data[7:30], data[30:]],
            "generator": (data[i:i + 8] for i in range(0, 50, 8)),
            "tuples": [(data[:20], np.zeros(20)), (data[20:], np.zeros(30), np.ones(30))],
        }
        for name, batches in cases.items():
            layer = layers.Normalization()
            layer.adapt(batches)
            for mine, theirs in zip(layer.get_weights()[:2], whole.get_weights()[:2]):
                np.testing.assert_allclose(mine, theirs, rtol=1e-12, err_msg=name)


def test_adapt_on_a_py_dataset():
    data = _data((30, 3))

    class Batches(cl.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            return data[10 * index:10 * index + 10], np.zeros(10)

    layer = layers.Normalization()
    layer.adapt(Batches())
    np.testing.assert_allclose(layer.get_weights()[0], data.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(layer.get_weights()[1], data.var(axis=0), rtol=1e-5)


def test_adapt_errors_name_the_layer_and_say_what_was_expected():
    with pytest.raises(ValueError, match=r"Normalization.adapt: received an empty iterable"):
        layers.Normalization().adapt([])
    with pytest.raises(TypeError, match=r"yields arrays .*Received an element of type float.*list of batches"):
        layers.Normalization().adapt([1.0, 2.0, 3.0])  # a list is a list of batches, as in Keras
    with pytest.raises(TypeError, match=r"Normalization.adapt: expected an array or an iterable .*Received: int"):
        layers.Normalization().adapt(3)
    layer = layers.Normalization()
    layer.adapt(_data((10, 3)))
    with pytest.raises(ValueError, match=r"built with input_shape=\(10, 3\).*data.shape=\(10, 4\)"):
        layer.adapt(_data((10, 4)))
    with pytest.raises(ValueError, match=r"incompatible shape, batch.shape=\(5, 4\)"):
        layer.adapt([_data((5, 3)), _data((5, 4))])
    given = layers.Normalization(mean=1.0, variance=2.0)
    with pytest.raises(ValueError, match=r"adapt\(\) computes the mean and variance, but they were given"):
        given.adapt(_data())


def test_adapt_again_replaces_the_statistics_and_a_built_layer_adapts():
    layer = layers.Normalization()
    layer(np.zeros((2, 3), dtype="float32"))  # built by a call, mean 0 and variance 1
    np.testing.assert_array_equal(layer(np.ones((2, 3), dtype="float32")), np.ones((2, 3)))
    data = _data((20, 3))
    layer.adapt(data)
    np.testing.assert_array_equal(layer.get_weights()[0], data.mean(axis=0))
    layer.adapt(data * 2)
    np.testing.assert_array_equal(layer.get_weights()[0], (data * 2).mean(axis=0))


@pytest.mark.parametrize("mean, variance, axis, shape, expected_mean, expected_variance", [
    (3.0, 2.0, -1, (4, 3), np.full((1, 3), 3.0), np.full((1, 3), 2.0)),
    ([1.0, 2.0, 3.0], [1.0, 4.0, 9.0], -1, (4, 3), np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 4.0, 9.0]])),
    ([1.0, 2.0], [1.0, 4.0], (1, 2), (3, 4, 2), np.broadcast_to([[[1.0, 2.0]]], (1, 4, 2)),
     np.broadcast_to([[[1.0, 4.0]]], (1, 4, 2))),
    (2.0, 4.0, None, (3, 4), np.full((1, 1), 2.0), np.full((1, 1), 4.0)),
], ids=["scalar", "per-feature", "lower-rank-right-aligned", "axis-none"])
def test_given_mean_and_variance_are_broadcast_as_keras_does(mean, variance, axis, shape, expected_mean,
                                                             expected_variance):
    layer = layers.Normalization(axis=axis, mean=mean, variance=variance)
    x = _data(shape)
    y = layer(x)
    assert layer.weights == []  # given statistics are no weights, as in Keras
    np.testing.assert_array_equal(layer.mean, expected_mean.astype("float32"))
    np.testing.assert_array_equal(layer.variance, expected_variance.astype("float32"))
    np.testing.assert_allclose(y, (x - expected_mean) / np.sqrt(expected_variance), rtol=1e-6)
    config = layer.get_config()
    assert config["mean"] == np.asarray(mean).tolist() and config["variance"] == np.asarray(variance).tolist()


def test_invert_maps_normalized_values_back():
    data = _data((30, 3))
    forward, inverse = layers.Normalization(), layers.Normalization(invert=True)
    forward.adapt(data)
    inverse.adapt(data)
    np.testing.assert_allclose(inverse(forward(data)), data, rtol=1e-5, atol=1e-5)
    std = np.sqrt(forward.variance)
    dy = _normal(data.shape).astype("float32")
    np.testing.assert_allclose(forward.backward(dy), dy / std, rtol=1e-6)
    np.testing.assert_allclose(inverse(data), forward.mean + data * std, rtol=1e-6)
    np.testing.assert_allclose(inverse.backward(dy), dy * std, rtol=1e-6)


def test_a_zero_variance_divides_by_epsilon():
    layer = layers.Normalization()
    layer.adapt(np.zeros((4, 3), dtype="float32"))
    np.testing.assert_allclose(layer(np.ones((1, 3), dtype="float32")), np.full((1, 3), 1e7), rtol=1e-6)
    np.testing.assert_allclose(layer.backward(np.ones((1, 3), dtype="float32")), np.full((1, 3), 1e7), rtol=1e-6)


NORMALIZATION_GRADIENT_CASES = [
    ("adapted", {}, (5, 3)),
    ("adapted-invert", {"invert": True}, (5, 3)),
    ("adapted-two-axes", {"axis": (1, 2)}, (3, 4, 2)),
    ("adapted-axis-none", {"axis": None}, (4, 3)),
    ("given", {"mean": [0.5, -1.0, 2.0], "variance": [0.25, 4.0, 9.0]}, (5, 3)),
    ("given-invert", {"mean": 1.5, "variance": 2.0, "invert": True}, (4, 3)),
]


@pytest.mark.parametrize("kwargs, shape", [c[1:] for c in NORMALIZATION_GRADIENT_CASES],
                         ids=[c[0] for c in NORMALIZATION_GRADIENT_CASES])
@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_normalization_passes_the_gradient_check(kwargs, shape, training):
    with cl.backend.floatx_scope("float64"):
        layer = layers.Normalization(**kwargs)
        if "mean" not in kwargs:
            layer.adapt(_data((12,) + shape[1:], seed=4).astype("float64"))
        report = cl.testing.assert_gradients_close(layer, _normal(shape), training=training,
                                                   epsilon=STEP, tolerance=GRADIENT_TOLERANCE)
    assert report.max_error < GRADIENT_TOLERANCE


def test_an_input_broadcast_against_the_statistics_gets_its_gradient_summed_back():
    with cl.backend.floatx_scope("float64"):
        layer = layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0])
        layer.build((None, 3))
        x = _normal((4, 1))
        y = layer(x)
        assert y.shape == (4, 3)  # Keras broadcasts the same way
        report = cl.testing.assert_gradients_close(layer, x, epsilon=STEP, tolerance=GRADIENT_TOLERANCE)
    assert report.max_error < GRADIENT_TOLERANCE


def test_normalization_weights_are_keras_non_trainable_mean_variance_count():
    layer = cl.testing.layer_test(layers.Normalization, {}, input_shape=(2, 3), expected_output_shape=(None, 3),
                                  expected_num_weights=3, expected_num_params=7)
    assert layer.trainable_weights == [] and layer.weight_names == ["mean", "variance", "count"]
    assert [w.path for w in layer.weights] == [f"{layer.name}/mean", f"{layer.name}/variance", f"{layer.name}/count"]
    assert [w.dtype.name for w in layer.weights] == ["float32", "float32", "int64"]
    assert layer.weights == [layer.adapt_mean, layer.adapt_variance, layer.count]  # Keras's attribute names
    layer.backward(np.ones((2, 3), dtype="float32"))
    assert layer.grads == {}


def test_normalization_config_and_file_round_trip(tmp_path):
    data = _data((20, 3))
    norm = layers.Normalization(axis=-1, name="norm")
    norm.adapt(data)
    config = norm.get_config()
    assert config["axis"] == (-1,) and config["invert"] is False and config["mean"] is None
    rebuilt = layers.deserialize(layers.serialize(norm))
    assert type(rebuilt) is layers.Normalization and rebuilt.get_config() == config
    assert rebuilt.built and rebuilt.get_weights()[0].shape == (3,)  # from the build config

    model = cl.Sequential([cl.Input((3,)), norm, layers.Dense(2)])
    model.save(tmp_path / "norm.keras")
    loaded = cl.models.load_model(tmp_path / "norm.keras")
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
    np.testing.assert_array_equal(loaded.layers[0].get_weights()[0], data.mean(axis=0))

    model.save_weights(tmp_path / "norm.weights.h5")
    fresh = cl.Sequential([cl.Input((3,)), layers.Normalization(name="norm"), layers.Dense(2)])
    fresh.load_weights(tmp_path / "norm.weights.h5")
    np.testing.assert_array_equal(fresh.predict(data, verbose=0), model.predict(data, verbose=0))


@pytest.mark.parametrize("kwargs, error, text", [
    ({"mean": 1.0}, ValueError, r"Normalization: when setting values directly, both `mean` and `variance`"),
    ({"variance": 1.0}, ValueError, r"both `mean` and `variance` must be set"),
    ({"mean": [1.0, 2.0], "variance": [1.0]}, ValueError, r"must have the same shape. Received: mean shape \(2,\)"),
    ({"axis": None, "mean": [1.0], "variance": [1.0]}, ValueError,
     r"the rank of `mean` must be less than or equal to the number of axes \(0\)"),
    ({"axis": "last"}, TypeError, r"Normalization: axis must be an int, a tuple of ints or None"),
    ({"axis": 1.5}, TypeError, r"Normalization: axis must be an int, a tuple of ints or None"),
    ({"mean": "zero", "variance": "one"}, TypeError, r"Normalization mean: expected a numeric array"),
])
def test_normalization_refuses_bad_arguments(kwargs, error, text):
    with pytest.raises(error, match=text):
        layers.Normalization(**kwargs)


def test_normalization_build_errors():
    with pytest.raises(ValueError, match=r"all `axis` values must be in the range \[-ndim, ndim\).*ndim=2"):
        layers.Normalization(axis=2)(np.ones((2, 3), dtype="float32"))
    with pytest.raises(ValueError, match=r"values to be kept must have a known size.*unknown axis at index 1"):
        layers.Normalization()(cl.Input((None,)))
    with pytest.raises(ValueError, match=r"mean/variance of shape \(2,\) cannot be broadcast to the kept axes"):
        layers.Normalization(mean=[1.0, 2.0], variance=[1.0, 1.0])(np.ones((2, 3), dtype="float32"))


def test_normalization_in_a_trained_model_keeps_its_statistics():
    data = _data((32, 3))
    norm = layers.Normalization()
    norm.adapt(data)
    before = norm.get_weights()
    model = cl.Sequential([cl.Input((3,)), norm, layers.GaussianNoise(0.1), layers.Dense(4), layers.ReLU(),
                           layers.GaussianDropout(0.2), layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(data, data[:, :1], epochs=2, verbose=0)
    for mine, theirs in zip(norm.get_weights(), before):
        np.testing.assert_array_equal(mine, theirs)


def test_strict_backend_gives_numpy_numbers():
    x, dy = 2 * _normal((4, 3, 2, 5)) + 1, _normal((4, 3, 2, 5), seed=1)
    data = _data((12, 3, 2, 5)).astype("float64")
    results = []
    for name in ("numpy", "strict"):
        cl.backend.clear_session()
        with cl.backend.backend_scope(name), cl.backend.floatx_scope("float64"):
            xp = cl.backend.xp
            built = [layers.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.5), layers.GaussianNoise(0.3, seed=1),
                     layers.GaussianDropout(0.3, seed=1), layers.SpatialDropout2D(0.4, seed=1),
                     layers.SpatialDropout2D(0.4, data_format="channels_first", seed=1),
                     layers.Normalization(axis=(1, -1), invert=True),
                     layers.Normalization(mean=[1.0, 2.0, 3.0, 4.0, 5.0], variance=[1.0, 2.0, 0.0, 4.0, 5.0])]
            built[5].adapt(xp.asarray(data))
            adapted = layers.Normalization(axis=None)
            adapted.adapt([xp.asarray(data[:5]), xp.asarray(data[5:])])
            outputs = list(built[5].get_weights()) + list(adapted.get_weights())
            for layer in built + [adapted]:
                outputs += [layer(xp.asarray(x), training=True), layer.backward(xp.asarray(dy))]
            results.append([cl.backend.to_numpy(value) for value in outputs])
    for numpy_value, strict_value in zip(*results, strict=True):
        np.testing.assert_array_equal(numpy_value, strict_value)
