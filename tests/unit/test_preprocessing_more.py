"""RandomHeight, RandomWidth, RandomShear, RandomGrayscale, RandomInvert, RandomPosterization,
Solarization, AutoContrast, RandomSharpness and RandomErasing: behaviour, errors, gradients."""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend
from course_lib.layers import (
    AutoContrast, RandomErasing, RandomGrayscale, RandomHeight, RandomInvert, RandomPosterization, RandomSharpness,
    RandomShear, RandomWidth, Solarization,
)
from course_lib.testing import assert_gradients_close
from augmentation_checks import assert_same_numbers_strictly, pinned as _pinned  # noqa: E402

RANDOM_LAYERS = [
    (RandomHeight, {"factor": (0.4, 0.6)}),
    (RandomWidth, {"factor": (-0.6, -0.4)}),
    (RandomShear, {"x_factor": 0.3, "y_factor": 0.2}),
    (RandomGrayscale, {"factor": 1.0}),
    (RandomInvert, {}),
    (RandomPosterization, {"factor": 3}),
    (Solarization, {"addition_factor": 0.2, "threshold_factor": 0.5}),
    (RandomSharpness, {"factor": 0.9}),
    (RandomErasing, {}),
]


def _images(generator, shape=(3, 6, 7, 3), high=255.0):
    return (generator.random(shape) * high).astype("float32")


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("layer_class, kwargs, message", [
    (RandomHeight, {"factor": (0.3, 0.1)}, "RandomHeight: factor cannot have an upper bound"),
    (RandomWidth, {"factor": (-1.5, 0.1)}, "RandomWidth: factor must have values larger than -1"),
    (RandomWidth, {"factor": "big"}, "RandomWidth: factor must be a number"),
    (RandomHeight, {"factor": 0.1, "interpolation": "gaussian"}, "RandomHeight: interpolation must be one of"),
    (RandomShear, {"x_factor": 1.5}, "RandomShear: x_factor must be .* Received: x_factor=1.5"),
    (RandomShear, {"y_factor": (0.1, 0.2, 0.3)}, "RandomShear: y_factor"),
    (RandomGrayscale, {"factor": 1.2}, r"RandomGrayscale: factor must be a number in \[0, 1\]"),
    (RandomInvert, {"factor": 2}, "RandomInvert: factor"),
    (RandomPosterization, {"factor": 9}, r"RandomPosterization: factor .* \[1, 8\]"),
    (RandomPosterization, {"factor": 4, "value_range": 255}, "RandomPosterization: value_range"),
    (Solarization, {"addition_factor": -0.1}, "Solarization: addition_factor"),
    (Solarization, {"threshold_factor": (0.1, 1.2)}, "Solarization: threshold_factor"),
    (AutoContrast, {"value_range": (0, 1, 2)}, "AutoContrast: value_range"),
    (RandomSharpness, {"factor": 1.5}, "RandomSharpness: factor"),
    (RandomErasing, {"scale": 2.0}, "RandomErasing: scale .* Received: scale=2.0"),
    (RandomErasing, {"fill_value": (1, 2)}, "RandomErasing: fill_value"),
])
def test_bad_arguments_raise_naming_the_layer(layer_class, kwargs, message):
    with pytest.raises(ValueError, match=message):
        layer_class(**kwargs)


def test_unknown_fill_mode_and_interpolation_of_the_shear_raise_as_in_keras():
    with pytest.raises(NotImplementedError, match="RandomShear"):
        RandomShear(0.1, fill_mode="mirror")
    with pytest.raises(NotImplementedError, match="RandomShear"):
        RandomShear(0.1, interpolation="bicubic")


def test_a_wrong_rank_or_channel_count_names_the_layer(rng):
    with pytest.raises(ValueError, match="RandomInvert .* rank 3"):
        RandomInvert()(rng.random((5, 5)), training=True)
    with pytest.raises(ValueError, match="RandomGrayscale .* 1 \\(grey\\) or 3 \\(RGB\\) channels"):
        RandomGrayscale(1.0)(rng.random((2, 4, 4, 2)), training=True)


def test_posterization_has_no_gradient_while_training(rng):
    layer = RandomPosterization(4)
    assert layer.differentiable is False
    x = _images(rng)
    layer(x, training=True)
    with pytest.raises(TypeError, match="RandomPosterization .* no gradient"):
        layer.backward(np.ones_like(x))
    layer(x, training=False)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.ones_like(x))


# ---------------------------------------------------------------- behaviour
@pytest.mark.parametrize("layer_class, kwargs", RANDOM_LAYERS, ids=[c.__name__ for c, _ in RANDOM_LAYERS])
def test_random_layers_are_the_identity_at_inference(layer_class, kwargs, rng):
    x = _images(rng)
    np.testing.assert_array_equal(layer_class(**kwargs)(x, training=False), x)
    # A call without `training` augments, as Keras's call(training=True) default does.
    outputs = layer_class(seed=1, **kwargs)(x)
    assert outputs.shape != x.shape or not np.allclose(outputs, x)


def test_integer_images_at_inference_follow_keras(rng):
    x = (rng.random((2, 5, 6, 3)) * 255).astype("uint8")
    for layer in (RandomGrayscale(), RandomInvert(), RandomPosterization(4)):
        result = layer(x, training=False)
        assert result.dtype == np.uint8
        np.testing.assert_array_equal(result, x)
    for layer in (RandomShear(0.2), Solarization(), RandomSharpness(0.3), RandomErasing(), RandomHeight(0.2)):
        assert layer(x, training=False).dtype == np.float32
    grey = RandomGrayscale(1.0)(x, training=True)  # stays uint8, the grey value truncated
    assert grey.dtype == np.uint8
    expected = (x.astype("float32") @ np.array([0.2989, 0.5870, 0.1140], "float32")).astype("uint8")
    np.testing.assert_array_equal(grey, np.repeat(expected[..., None], 3, axis=-1))


@pytest.mark.parametrize("layer_class, kwargs", RANDOM_LAYERS, ids=[c.__name__ for c, _ in RANDOM_LAYERS])
def test_a_seed_fixes_the_draws(layer_class, kwargs, rng):
    x = _images(rng, (6, 6, 7, 3))
    first = layer_class(seed=3, **kwargs)(x, training=True)
    second = layer_class(seed=3, **kwargs)(x, training=True)
    np.testing.assert_array_equal(first, second)


def test_fixed_factors_give_known_outputs(rng):
    x = _images(rng)
    np.testing.assert_array_equal(RandomInvert((1.0, 1.0))(x, training=True), 255 - x)
    np.testing.assert_array_equal(RandomInvert((0.0, 0.0))(x, training=True), x)
    np.testing.assert_array_equal(RandomInvert((1, 1), value_range=(0, 1))(x / 255, training=True), 1 - x / 255)
    posterized = RandomPosterization((3, 3))(x, training=True)
    np.testing.assert_array_equal(posterized, (x.astype("uint8") >> 5 << 5).astype("float32"))
    # No threshold: every value turns to 255 - value; with a threshold above 255 none does.
    np.testing.assert_array_equal(Solarization()(x, training=True), 255 - x)
    # Keras 3.15 scales only the upper bound by 255: threshold_factor=(1, 1) draws thresholds in [1, 255).
    thresholds = Solarization(threshold_factor=(1.0, 1.0)).get_random_transformation(x)["thresholds"]
    assert np.all((thresholds >= 1) & (thresholds < 255))
    above = {"additions": np.zeros((3, 1, 1, 1)), "thresholds": np.full((3, 1, 1, 1), 256.0)}
    np.testing.assert_array_equal(_pinned(Solarization, above)(x, training=True), x)
    # factor 0.5 is the identity of the sharpness; zero shears are the identity of the shear.
    np.testing.assert_allclose(RandomSharpness((0.5, 0.5))(x, training=True), x, rtol=1e-6)
    np.testing.assert_allclose(RandomShear(0.0, 0.0)(x, training=True), x, rtol=1e-6, atol=1e-4)
    assert RandomHeight((0.5, 0.5))(x, training=True).shape == (3, 9, 7, 3)
    assert RandomWidth((-0.5, -0.5))(x, training=True).shape == (3, 6, 3, 3)
    assert RandomHeight(0.5).compute_output_shape((None, 6, 7, 3)) == (None, None, 7, 3)


def test_auto_contrast_stretches_each_channel_and_keeps_constant_ones():
    x = np.zeros((1, 2, 2, 2), "float32")
    x[0, :, :, 0] = [[10, 20], [30, 50]]
    x[0, :, :, 1] = 7  # a constant channel: a 0/0, kept as it is
    y = AutoContrast()(x)
    np.testing.assert_allclose(y[0, :, :, 0], [[0, 63.75], [127.5, 255]], rtol=1e-6)
    np.testing.assert_array_equal(y[0, :, :, 1], 7)
    np.testing.assert_allclose(AutoContrast(value_range=(0, 1))(x / 255)[0, :, :, 0], [[0, 0.25], [0.5, 1]],
                               rtol=1e-6, atol=1e-7)
    assert AutoContrast().training_default is False
    np.testing.assert_array_equal(AutoContrast()(x, training=False), y)  # not random: the same at inference


def test_erasing_fills_a_rectangle_of_each_image(rng):
    x = _images(rng, (5, 8, 9, 3)) + 1.0
    y = RandomErasing(factor=(1.0, 1.0), scale=(0.2, 0.3), fill_value=0.0, seed=2)(x, training=True)
    for image in y:
        erased = np.all(image == 0, axis=-1)
        rows, columns = np.nonzero(erased)
        assert erased.sum() > 0
        # A rectangle: every pixel of its bounding box is erased.
        assert erased[rows.min():rows.max() + 1, columns.min():columns.max() + 1].all()
    untouched = RandomErasing(factor=(0.0, 0.0), fill_value=0.0)(x, training=True)
    np.testing.assert_array_equal(untouched, x)


def test_grayscale_probability_and_invert_rates(rng):
    x = _images(rng, (400, 2, 2, 3))
    grey = RandomGrayscale(0.3, seed=1)(x, training=True)
    converted = np.all(grey[..., :1] == grey, axis=(1, 2, 3))
    assert 0.2 < converted.mean() < 0.4
    inverted = RandomInvert((0.5, 0.5), seed=1).get_random_transformation(x)["apply_inversion"]
    assert 0.4 < inverted.mean() < 0.6


def test_configs_round_trip_through_serialization(rng):
    layers = [RandomHeight((0.1, 0.3), interpolation="nearest", seed=1), RandomWidth(0.2),
              RandomShear(0.3, (0.1, 0.2), fill_mode="constant", seed=4), RandomGrayscale(0.4),
              RandomInvert(0.5, value_range=(0, 1)), RandomPosterization((2, 6)),
              Solarization(0.1, (0.2, 0.4), value_range=(0, 1)), AutoContrast(value_range=(0, 1)),
              RandomSharpness(0.7, data_format="channels_first"), RandomErasing(0.5, fill_value=(1, 2, 3))]
    for layer in layers:
        again = cl.layers.deserialize(cl.layers.serialize(layer))
        assert type(again) is type(layer)
        config, rebuilt = layer.get_config(), again.get_config()
        config.pop("name"), rebuilt.pop("name")
        assert rebuilt == config


def test_channels_first_gives_the_channels_last_result(rng):
    x = _images(rng)
    first = np.moveaxis(x, -1, 1).copy()
    cases = [
        (RandomShear, {"x_factor": 0.3, "y_factor": 0.3}),
        (RandomGrayscale, {"factor": 0.5}),
        (RandomSharpness, {"factor": (0.0, 1.0)}),
        (RandomErasing, {"fill_value": 3.0}),
    ]
    for layer_class, kwargs in cases:
        last = layer_class(seed=6, **kwargs)
        transformation = theirs = last.get_random_transformation(x, training=True)
        if layer_class is RandomErasing:
            transformation = dict(transformation, batch_masks=np.moveaxis(transformation["batch_masks"], -1, 1),
                                  fill_value=np.moveaxis(transformation["fill_value"], -1, 1))
        ours = layer_class(data_format="channels_first", **kwargs)
        np.testing.assert_allclose(ours.transform_images(first, transformation),
                                   np.moveaxis(last.transform_images(x, theirs), -1, 1), rtol=1e-6)


# ---------------------------------------------------------------- gradients
def _check(layer, x):
    assert_gradients_close(layer, x, training=True)


def test_gradients_of_the_geometric_layers(rng):
    x = rng.standard_normal((2, 5, 6, 2))
    shear = {"shear_factor": np.array([[0.3, -0.2], [-0.45, 0.1]])}
    with backend.floatx_scope("float64"):
        for fill_mode in ("reflect", "constant", "wrap", "nearest"):
            _check(_pinned(RandomShear, shear, x_factor=0.5, y_factor=0.5, fill_mode=fill_mode), x)
        _check(_pinned(RandomShear, {"shear_factor": np.array([[0.2, 0.3]])}, x_factor=0.5), x[0])
        for interpolation in ("bilinear", "bicubic", "area"):
            _check(_pinned(RandomHeight, {"factor": 1.5}, factor=0.5, interpolation=interpolation), x)
            _check(_pinned(RandomWidth, {"factor": 0.7}, factor=0.5, interpolation=interpolation), x)


def test_gradients_of_the_colour_layers(rng):
    x = rng.random((3, 5, 6, 3))
    unit = {"value_range": (0, 1)}
    with backend.floatx_scope("float64"):
        _check(_pinned(RandomGrayscale, np.array([True, False, True]).reshape(3, 1, 1, 1), factor=0.5), x)
        _check(_pinned(RandomGrayscale, np.array([True]).reshape(1, 1, 1, 1), factor=0.5,
                       data_format="channels_first"), x[0].transpose(2, 0, 1).copy())
        _check(_pinned(RandomInvert, {"apply_inversion": np.array([True, False, True])}, **unit), x)
        solarize = {"additions": np.array([0.1, 0.3, 0.0]).reshape(3, 1, 1, 1) * 255,
                    "thresholds": np.array([0.4, 0.6, 2.0]).reshape(3, 1, 1, 1) * 255}
        layer = _pinned(Solarization, solarize, **unit)
        assert np.any(layer(x, training=True) == 0)  # some values were clipped at 1 then solarized
        _check(layer, x)
        _check(AutoContrast(**unit), x * 0.6 + 0.2)
        _check(AutoContrast(data_format="channels_first", **unit), x)
        sharpness = {"factor": np.array([0.0, 0.5, 1.0])}
        _check(_pinned(RandomSharpness, sharpness, factor=0.5, **unit), x)
        _check(_pinned(RandomSharpness, sharpness, factor=0.5, data_format="channels_first", **unit), x)
        erasing = RandomErasing(factor=(0.5, 1.0), scale=(0.2, 0.5), fill_value=0.5, seed=3)
        _check(_pinned(RandomErasing, erasing.get_random_transformation(x), fill_value=0.5), x)


def test_a_planted_bug_in_a_backward_pass_is_caught(rng):
    """The checks above can fail: AutoContrast without the gradient through its minima and maxima does not pass."""
    x = rng.random((2, 4, 5, 3))

    class Wrong(AutoContrast):
        def backward(self, output_grads, cache):  # the direct term only: min and max taken as constants
            u, low, high, passed, nan, unbatched = cache
            return output_grads * passed * 255 / (high - low), {}

    with backend.floatx_scope("float64"):
        _check(AutoContrast(value_range=(0, 1)), x)
        with pytest.raises(AssertionError, match="Gradient check failed"):
            _check(Wrong(value_range=(0, 1)), x)


def test_a_model_trains_through_the_new_augmentation_layers(rng):
    x = _images(rng, (8, 6, 6, 3)) / 255
    y = rng.random((8, 1)).astype("float32")
    model = cl.Sequential([
        cl.Input((6, 6, 3)), cl.layers.RandomShear(0.1, seed=1), cl.layers.RandomInvert(0.5, value_range=(0, 1)),
        cl.layers.RandomSharpness(0.8, value_range=(0, 1)), cl.layers.AutoContrast(value_range=(0, 1)),
        cl.layers.RandomErasing(value_range=(0, 1)), cl.layers.Flatten(), cl.layers.Dense(1),
    ])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_the_layers_give_the_same_numbers_strictly(rng):
    """Under the strict stand-in for CuPy: no NumPy-only call, no host number taken from a device array."""
    images = (rng.random((2, 7, 8, 3)) * 255).astype("float32")

    def workflow():
        x = backend.xp.asarray(images)
        results = []
        for layer in (RandomHeight(0.3, seed=1), RandomWidth(0.3, seed=1), RandomShear(0.2, 0.2, seed=1),
                      RandomGrayscale(0.5, seed=1), RandomInvert(seed=1), Solarization(0.2, 0.5, seed=1),
                      AutoContrast(), RandomSharpness(0.9, seed=1), RandomErasing(seed=1),
                      RandomErasing(fill_value=(1, 2, 3), seed=1)):
            out = layer(x, training=True)
            results += [out, layer.backward(out)]
        results.append(RandomPosterization((2, 6), seed=1)(x, training=True))
        return [backend.to_numpy(value) for value in results]

    assert_same_numbers_strictly(workflow)
