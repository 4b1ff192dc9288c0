"""MixUp, CutMix, RandomColorDegeneration, RandomSaturation, RandomHue, RandomGaussianBlur,
RandomColorJitter, RandomElasticTransform, Equalization, ContrastLimitedAdaptiveHistogramEqualization and
Pipeline: behaviour, errors, gradients."""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend
from course_lib.layers import (
    ContrastLimitedAdaptiveHistogramEqualization as CLAHE, CutMix, Equalization, MixUp, Pipeline,
    RandomColorDegeneration, RandomColorJitter, RandomElasticTransform, RandomGaussianBlur, RandomHue,
    RandomSaturation,
)
from course_lib.layers.preprocessing_newer import _hsv_to_rgb, _rgb_to_hsv, gaussian_kernel
from course_lib.testing import assert_gradients_close
from augmentation_checks import assert_same_numbers_strictly, pinned as _pinned  # noqa: E402

RANDOM_LAYERS = [
    (MixUp, {"alpha": 0.5}),
    (CutMix, {}),
    (RandomColorDegeneration, {"factor": (0.5, 1.0)}),
    (RandomSaturation, {"factor": (0.1, 0.3)}),
    (RandomHue, {"factor": (0.3, 0.6)}),
    (RandomGaussianBlur, {"sigma": (0.5, 1.0)}),
    (RandomColorJitter, {"brightness_factor": 0.3, "hue_factor": 0.4}),
    (RandomElasticTransform, {"scale": 0.5}),
]
_IDS = [c.__name__ for c, _ in RANDOM_LAYERS]


def _images(generator, shape=(4, 6, 7, 3), high=255.0):
    return (generator.random(shape) * high).astype("float32")


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("layer_class, kwargs, message", [
    (MixUp, {"alpha": 0}, "MixUp: alpha must be a positive number"),
    (MixUp, {"alpha": "big"}, "MixUp: alpha"),
    (CutMix, {"factor": 1.5}, r"CutMix: factor .* \[0, 1\]"),
    (CutMix, {"factor": (0.1, 0.2, 0.3)}, "CutMix: factor"),
    (RandomColorDegeneration, {"factor": 2.0}, r"RandomColorDegeneration: factor .* \[-1, 1\]"),
    (RandomColorDegeneration, {"factor": 0.5, "value_range": 255}, "RandomColorDegeneration: value_range"),
    (RandomSaturation, {"factor": (1.5, 2.0)}, "RandomSaturation: factor"),
    (RandomSaturation, {"factor": 0.5, "value_range": (0, 1, 2)}, "RandomSaturation: value_range"),
    (RandomHue, {"factor": -0.2}, r"RandomHue: factor .* \[0, 1\]"),
    (RandomHue, {"factor": 0.2, "value_range": "rgb"}, "RandomHue: value_range"),
    (RandomGaussianBlur, {"kernel_size": 4}, "RandomGaussianBlur: kernel_size must be an odd number"),
    (RandomGaussianBlur, {"kernel_size": (3, 4)}, "RandomGaussianBlur: kernel_size"),
    (RandomGaussianBlur, {"sigma": 2.0}, "RandomGaussianBlur: sigma .* Received: sigma=2.0"),
    (RandomGaussianBlur, {"factor": "all"}, "RandomGaussianBlur: factor"),
    (RandomColorJitter, {"hue_factor": 3.0}, "RandomHue: factor"),
    (Equalization, {"bins": 1}, "Equalization: bins must be an int"),
    (Equalization, {"value_range": 255}, "Equalization: value_range"),
    (RandomElasticTransform, {"factor": 1.5}, r"RandomElasticTransform: factor .* \[0, 1\]"),
    (RandomElasticTransform, {"scale": 2.0}, r"RandomElasticTransform: scale .* Received: scale=2.0"),
    (RandomElasticTransform, {"fill_mode": "mirror"}, "RandomElasticTransform: fill_mode 'mirror' is refused"),
    (RandomElasticTransform, {"fill_value": "black"}, "RandomElasticTransform: fill_value must be a number"),
    (RandomElasticTransform, {"value_range": 1}, "RandomElasticTransform: value_range"),
    (CLAHE, {"value_range": (0, 1, 2)}, "ContrastLimitedAdaptiveHistogramEqualization: value_range must be a list"),
    (CLAHE, {"value_range": (1, 1)}, "ContrastLimitedAdaptiveHistogramEqualization: value_range must hold two"),
    (CLAHE, {"clip_limit": "4"}, r"ContrastLimitedAdaptiveHistogramEqualization: clip_limit .* clip_limit='4'"),
    (CLAHE, {"clip_limit": True}, "ContrastLimitedAdaptiveHistogramEqualization: clip_limit must be a number"),
    (CLAHE, {"tile_grid_size": (0, 2)}, r"ContrastLimitedAdaptiveHistogramEqualization: tile_grid_size .*=\(0, 2\)"),
    (CLAHE, {"tile_grid_size": 8}, "ContrastLimitedAdaptiveHistogramEqualization: tile_grid_size must be two"),
    (CLAHE, {"tile_grid_size": (2.0, 2)}, "ContrastLimitedAdaptiveHistogramEqualization: tile_grid_size"),
])
def test_bad_arguments_raise_naming_the_layer(layer_class, kwargs, message):
    with pytest.raises(ValueError, match=message):
        layer_class(**kwargs)


def test_a_wrong_rank_or_channel_count_names_the_layer(rng):
    with pytest.raises(ValueError, match="MixUp .* rank 3"):
        MixUp()(rng.random((5, 5)), training=True)
    with pytest.raises(ValueError, match="RandomColorDegeneration .*3 \\(RGB\\) or 1"):
        RandomColorDegeneration(0.5)(rng.random((2, 4, 4, 2)), training=True)
    with pytest.raises(ValueError, match="RandomColorDegeneration .* 3 channels"):
        RandomColorDegeneration(0.5).compute_output_shape((None, 4, 4, 1))
    for layer in (RandomSaturation(0.5), RandomHue(0.5)):
        with pytest.raises(ValueError, match=f"{type(layer).__name__} .*3 channels"):
            layer(rng.random((2, 4, 4, 4)), training=True)


def test_saturation_refuses_integer_images_while_training(rng):
    x = (rng.random((2, 4, 5, 3)) * 255).astype("uint8")
    with pytest.raises(TypeError, match="RandomSaturation .* Cast them to float"):
        RandomSaturation(0.5)(x, training=True)
    assert RandomSaturation(0.5)(x, training=False).dtype == np.uint8
    assert RandomHue(0.5)(x, training=True).dtype == np.float32  # Keras's hue casts first


def test_dict_inputs_are_checked(rng):
    x = _images(rng)
    with pytest.raises(ValueError, match="MixUp .* needs an 'images' entry"):
        MixUp()({"labels": np.eye(4)})
    with pytest.raises(ValueError, match="CutMix .* 'images' and 'labels' only"):
        CutMix()({"images": x, "bounding_boxes": np.zeros((4, 1, 4))})


def test_hue_and_saturation_have_no_gradient_while_training(rng):
    x = _images(rng)
    for layer in (RandomSaturation(0.5), RandomHue(0.5)):
        assert layer.differentiable is False
        layer(x, training=True)
        with pytest.raises(TypeError, match=f"{type(layer).__name__} .* no gradient"):
            layer.backward(np.ones_like(x))
        layer(x, training=False)
        np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.ones_like(x))
    assert RandomColorJitter(brightness_factor=0.2, contrast_factor=0.3).differentiable is True
    assert RandomColorJitter(brightness_factor=0.2, saturation_factor=0.3).differentiable is False


# ---------------------------------------------------------------- behaviour
@pytest.mark.parametrize("layer_class, kwargs", RANDOM_LAYERS, ids=_IDS)
def test_random_layers_are_the_identity_at_inference(layer_class, kwargs, rng):
    x = _images(rng)
    np.testing.assert_array_equal(layer_class(**kwargs)(x, training=False), x)
    # A call without `training` augments, as Keras's call(training=True) default does.
    outputs = layer_class(seed=2, **kwargs)(x)  # seed 1 happens to draw the identity order for MixUp
    assert outputs.shape == x.shape and not np.allclose(outputs, x)


@pytest.mark.parametrize("layer_class, kwargs", RANDOM_LAYERS, ids=_IDS)
def test_a_seed_fixes_the_draws(layer_class, kwargs, rng):
    x = _images(rng, (6, 6, 7, 3))
    first = layer_class(seed=3, **kwargs)(x, training=True)
    second = layer_class(seed=3, **kwargs)(x, training=True)
    np.testing.assert_array_equal(first, second)


def test_integer_images_at_inference_follow_keras(rng):
    x = (rng.random((2, 5, 6, 3)) * 255).astype("uint8")
    for layer in (MixUp(), RandomColorDegeneration(0.5), RandomSaturation(0.5), RandomHue(0.5),
                  RandomColorJitter(brightness_factor=0.2)):
        result = layer(x, training=False)
        assert result.dtype == np.uint8
        np.testing.assert_array_equal(result, x)
    for layer in (CutMix(), RandomGaussianBlur()):
        assert layer(x, training=False).dtype == np.float32


def test_mixup_mixes_images_and_labels_with_the_same_weights(rng):
    x = _images(rng, (5, 4, 4, 3))
    labels = np.eye(5, dtype="float32")
    transformation = {"mix_weight": np.array([0.9, 0.2, 0.5, 1.0, 0.0], "float32"),
                      "permutation_order": np.array([1, 0, 3, 4, 2])}
    layer = _pinned(MixUp, transformation)
    out = layer({"images": x, "labels": labels})
    weight = transformation["mix_weight"]
    order = transformation["permutation_order"]
    np.testing.assert_allclose(out["images"], weight[:, None, None, None] * x
                               + (1 - weight[:, None, None, None]) * x[order], rtol=1e-6)
    np.testing.assert_allclose(out["labels"], weight[:, None] * labels + (1 - weight[:, None]) * labels[order],
                               rtol=1e-6)
    np.testing.assert_array_equal(out["images"][3], x[3])
    np.testing.assert_array_equal(out["images"][4], x[2])
    # A single image is mixed with itself.
    np.testing.assert_allclose(MixUp(seed=1)(x[0]), x[0], rtol=1e-6)
    drawn = MixUp(alpha=0.3, seed=2).get_random_transformation(x)
    assert sorted(drawn["permutation_order"].tolist()) == list(range(5))
    assert np.all((drawn["mix_weight"] >= 0) & (drawn["mix_weight"] <= 1))


def test_cutmix_pastes_a_rectangle_and_weighs_the_labels_by_its_area(rng):
    x = _images(rng, (6, 8, 9, 3)) + 1.0
    layer = CutMix(seed=4)
    transformation = layer.get_random_transformation(x)
    masks, order = transformation["batch_masks"], transformation["permutation_order"]
    assert masks.dtype == bool and order.dtype == np.int32 and transformation["mix_weight"].shape == (6, 1, 1, 1)
    y = layer.transform_images(x, transformation)
    for index in range(6):
        pasted = masks[index, ..., 0]
        np.testing.assert_array_equal(y[index][pasted], x[order[index]][pasted])
        np.testing.assert_array_equal(y[index][~pasted], x[index][~pasted])
        if pasted.any():  # a rectangle: every pixel of its bounding box is pasted
            rows, columns = np.nonzero(pasted)
            assert pasted[rows.min():rows.max() + 1, columns.min():columns.max() + 1].all()
        # The weight is 1 - the rectangle's area (in continuous coordinates) over the image's.
        assert 0.0 <= transformation["mix_weight"][index, 0, 0, 0] <= 1.0
    labels = np.eye(6, dtype="float32")
    mixed = layer.transform_labels(labels, transformation)
    weight = transformation["mix_weight"].reshape(-1, 1)
    np.testing.assert_allclose(mixed, weight * labels + (1 - weight) * labels[order.astype(int)], rtol=1e-6)
    # One image: nothing drawn, only the cast.
    assert layer.get_random_transformation(x[0]) is None
    np.testing.assert_array_equal(layer(x[0]), x[0])


def test_color_degeneration_fixed_factors(rng):
    x = _images(rng)
    np.testing.assert_array_equal(RandomColorDegeneration((0.0, 0.0))(x, training=True), x)
    grey = RandomColorDegeneration((1.0, 1.0))(x, training=True)
    expected = x @ np.array([0.2989, 0.5870, 0.1140], "float32")
    np.testing.assert_allclose(grey, np.repeat(expected[..., None], 3, axis=-1), rtol=1e-5)
    assert RandomColorDegeneration(0.4).factor == (-0.4, 0.4)  # Keras's base rule: a number is symmetric


def test_hsv_conversions_round_trip_and_saturation_and_hue_fixed_points(rng):
    x = rng.random((3, 5, 6, 3)).astype("float32")
    hue, saturation, value = _rgb_to_hsv(x)
    assert np.all((hue >= 0) & (hue < 1)) and np.all((saturation >= 0) & (saturation <= 1))
    np.testing.assert_allclose(_hsv_to_rgb(hue, saturation, value), x, rtol=1e-5, atol=1e-6)
    # factor 0.5 gives the multiplier 1 (up to epsilon); 0 removes the colour.
    np.testing.assert_allclose(RandomSaturation((0.5, 0.5), value_range=(0, 1))(x, training=True), x,
                               rtol=1e-5, atol=1e-6)
    grey = RandomSaturation((0.0, 0.0))(x * 255, training=True)
    np.testing.assert_allclose(grey, np.repeat(grey[..., :1], 3, axis=-1), rtol=1e-6)
    np.testing.assert_allclose(RandomHue((0.0, 0.0), value_range=(0, 1))(x, training=True), x, rtol=1e-5, atol=1e-6)
    # A whole turn (1/2 one way twice) is the identity too; a third of a turn rotates R -> G -> B.
    red = np.zeros((1, 1, 1, 3), "float32")
    red[..., 0] = 1.0
    turned = _pinned(RandomHue, {"factor": np.array([1 / 3], "float32")}, factor=0.5, value_range=(0, 1))
    np.testing.assert_allclose(turned(red, training=True)[0, 0, 0], [0, 1, 0], atol=1e-5)


def test_gaussian_kernel_and_blur(rng):
    kernel = gaussian_kernel((3, 3), (1.0, 1.0), "float64")
    one_d = np.exp(-0.5 * np.array([-1.0, 0.0, 1.0]) ** 2)
    one_d /= one_d.sum()
    np.testing.assert_allclose(kernel, np.outer(one_d, one_d), rtol=1e-12)
    assert gaussian_kernel((3, 5), (0.5, 0.8), "float32").shape == (3, 5)
    x = _images(rng)
    layer = _pinned(RandomGaussianBlur, {"should_apply_blur": np.array([True, False, True, False]),
                                         "blur_factor": np.array([1.0, 1.0], "float32")})
    y = layer(x, training=True)
    np.testing.assert_array_equal(y[1], x[1])
    # Inside, away from the zero padding, a blurred pixel is the kernel-weighted mean of its neighbours.
    expected = (x[0, 1:4, 2:5, :] * kernel.astype("float32")[..., None]).sum(axis=(0, 1))
    np.testing.assert_allclose(y[0, 2, 3], expected, rtol=1e-5)
    assert RandomGaussianBlur().get_random_transformation(x, training=False) is None


def test_color_jitter_applies_its_parts_in_keras_s_order(rng):
    x = _images(rng)
    draws = {"brightness": {"rgb_delta": np.full((4, 1, 1, 1), 20.0, "float32")},
             "contrast": {"contrast_factor": np.full((4, 1, 1, 1), 1.5, "float32")}}
    jitter = RandomColorJitter(brightness_factor=0.2, contrast_factor=0.5)
    result = jitter.transform_images(x, draws)
    brightened = np.clip(x + 20.0, 0, 255)
    mean = brightened.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(result, np.clip((brightened - mean) * 1.5 + mean, 0, 255), rtol=1e-5, atol=1e-4)
    own = jitter.get_random_transformation(x)
    assert list(own) == ["brightness", "contrast"]
    assert RandomColorJitter().transform_images(x, None).dtype == np.float32  # no parts: only the cast


def test_configs_round_trip_through_serialization():
    layers = [MixUp(0.3, seed=1), CutMix((0.2, 0.7), data_format="channels_first"),
              RandomColorDegeneration((0.1, 0.4), value_range=(0, 1)), RandomSaturation(0.6, seed=3),
              RandomHue((0.1, 0.2), value_range=(0, 1)),
              RandomGaussianBlur(0.5, kernel_size=(3, 5), sigma=(0.2, 0.6), seed=2),
              RandomColorJitter((0, 1), brightness_factor=0.1, contrast_factor=(0.2, 0.4), hue_factor=0.3, seed=9)]
    for layer in layers:
        again = cl.layers.deserialize(cl.layers.serialize(layer))
        assert type(again) is type(layer)
        config, rebuilt = layer.get_config(), again.get_config()
        config.pop("name"), rebuilt.pop("name")
        assert rebuilt == config


def test_channels_first_gives_the_channels_last_result(rng):
    x = _images(rng)
    first = np.moveaxis(x, -1, 1).copy()
    cases = [(MixUp, {}), (RandomColorDegeneration, {"factor": (0.2, 0.9)}), (RandomSaturation, {"factor": 0.7}),
             (RandomHue, {"factor": 0.6}), (RandomGaussianBlur, {"kernel_size": 5}), (CutMix, {})]
    for layer_class, kwargs in cases:
        last = layer_class(seed=6, **kwargs)
        transformation = theirs = last.get_random_transformation(x, training=True)
        if layer_class is CutMix:
            transformation = dict(transformation, batch_masks=np.moveaxis(transformation["batch_masks"], -1, 1))
        ours = layer_class(data_format="channels_first", **kwargs)
        np.testing.assert_allclose(ours.transform_images(first, transformation),
                                   np.moveaxis(last.transform_images(x, theirs), -1, 1), rtol=1e-5, atol=1e-4)


# ---------------------------------------------------------------- gradients
def _check(layer, x):
    assert_gradients_close(layer, x, training=True)


def test_gradients_of_the_mixing_layers(rng):
    x = rng.standard_normal((4, 5, 6, 2))
    with backend.floatx_scope("float64"):
        mix = {"mix_weight": np.array([0.3, 0.9, 0.5, 0.1]), "permutation_order": np.array([2, 0, 3, 1])}
        _check(_pinned(MixUp, mix), x)
        _check(_pinned(MixUp, {"mix_weight": np.array([0.4]), "permutation_order": np.array([0])}), x[0])
        for data_format, images in (("channels_last", x), ("channels_first", np.moveaxis(x, -1, 1).copy())):
            draw = CutMix(seed=3, data_format=data_format).get_random_transformation(images)
            assert draw["batch_masks"].any() and not draw["batch_masks"].all()
            _check(_pinned(CutMix, draw, data_format=data_format), images)


def test_gradients_of_the_colour_and_blur_layers(rng):
    x = rng.random((3, 5, 6, 3))
    unit = {"value_range": (0, 1)}
    with backend.floatx_scope("float64"):
        degeneration = {"factor": np.array([-0.8, 0.3, 1.0]).reshape(3, 1, 1, 1)}
        layer = _pinned(RandomColorDegeneration, degeneration, factor=0.5, **unit)
        assert np.any(layer(x, training=True) == 1.0)  # the negative factor saturated some values past 1
        _check(layer, x)
        _check(_pinned(RandomColorDegeneration, degeneration, factor=0.5, data_format="channels_first", **unit),
               np.moveaxis(x, -1, 1).copy())
        _check(_pinned(RandomColorDegeneration, {"factor": np.array([0.6]).reshape(1, 1, 1, 1)}, factor=0.5, **unit),
               x[0])
        for kernel_size in (3, (3, 5), 5):
            blur = {"should_apply_blur": np.array([True, False, True]), "blur_factor": np.array([0.7, 1.3])}
            _check(_pinned(RandomGaussianBlur, blur, kernel_size=kernel_size, **unit), x * 1.2 - 0.1)
            _check(_pinned(RandomGaussianBlur, blur, kernel_size=kernel_size, data_format="channels_first", **unit),
                   np.moveaxis(x, -1, 1).copy())
        jitter = {"brightness": {"rgb_delta": np.array([0.1, -0.2, 0.3]).reshape(3, 1, 1, 1)},
                  "contrast": {"contrast_factor": np.array([1.3, 0.7, 1.1]).reshape(3, 1, 1, 1)}}
        _check(_pinned(RandomColorJitter, jitter, brightness_factor=0.3, contrast_factor=0.3, **unit), x)


def test_a_planted_bug_in_a_backward_pass_is_caught(rng):
    """The checks above can fail: MixUp without the gradient of the permuted term does not pass."""
    x = rng.standard_normal((4, 3, 3, 2))
    mix = {"mix_weight": np.array([0.3, 0.9, 0.5, 0.1]), "permutation_order": np.array([2, 0, 3, 1])}

    class Wrong(MixUp):
        def get_random_transformation(self, data, training=True, seed=None):
            return mix

        def backward(self, output_grads, cache):  # the direct term only
            weight, order, unbatched = cache
            return output_grads * weight, {}

    with backend.floatx_scope("float64"):
        _check(_pinned(MixUp, mix), x)
        with pytest.raises(AssertionError, match="Gradient check failed"):
            _check(Wrong(), x)


def test_a_model_trains_through_the_differentiable_layers(rng):
    x = _images(rng, (8, 6, 6, 3)) / 255
    y = rng.random((8, 1)).astype("float32")
    model = cl.Sequential([
        cl.Input((6, 6, 3)), cl.layers.MixUp(seed=1), cl.layers.CutMix(seed=2),
        cl.layers.RandomColorDegeneration(0.5, value_range=(0, 1)),
        cl.layers.RandomGaussianBlur(value_range=(0, 1)),
        cl.layers.RandomColorJitter((0, 1), brightness_factor=0.2, contrast_factor=0.3),
        cl.layers.Flatten(), cl.layers.Dense(1),
    ])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_the_layers_give_the_same_numbers_strictly(rng):
    """Under the strict stand-in for CuPy: no NumPy-only call, no host number taken from a device array."""
    images = (rng.random((3, 7, 8, 3)) * 255).astype("float32")
    labels = np.eye(3, dtype="float32")

    def workflow():
        x = backend.xp.asarray(images)
        results = []
        for layer in (MixUp(seed=1), CutMix(seed=1), RandomColorDegeneration(0.5, seed=1),
                      RandomGaussianBlur(kernel_size=(3, 5), seed=1),
                      RandomColorJitter(brightness_factor=0.2, contrast_factor=0.3, seed=1), Equalization(bins=64),
                      Pipeline([cl.layers.RandomFlip(seed=1), RandomColorDegeneration(0.4, seed=1)])):
            out = layer(x, training=True)
            results += [out, layer.backward(out)]
        for layer in (RandomSaturation(0.6, seed=1), RandomHue(0.5, seed=1)):
            results.append(layer(x, training=True))
        mixed = MixUp(seed=2)({"images": x, "labels": backend.xp.asarray(labels)})
        results += [mixed["images"], mixed["labels"]]
        return [backend.to_numpy(value) for value in results]

    assert_same_numbers_strictly(workflow)


# ------------------------------------------------------- equalization, pipeline
def test_equalization_spreads_a_narrow_histogram_and_keeps_constant_channels(rng):
    x = 100.0 + _images(rng, (2, 8, 8, 3)) / 10  # values in [100, 125.5)
    x[..., 2] = 42.0
    y = Equalization()(x)
    assert Equalization().training_default is True  # Keras's call defaults to training=True
    for channel in (0, 1):
        assert y[..., channel].min() == 0 and y[..., channel].max() == 255
        # Monotone: a larger value never gets a smaller equalized value.
        order = np.argsort(x[..., channel].ravel(), kind="stable")
        assert np.all(np.diff(y[..., channel].ravel()[order]) >= 0)
    np.testing.assert_array_equal(y[..., 2], 42.0)
    np.testing.assert_array_equal(Equalization()(x, training=False), x)
    unit = Equalization(value_range=(0, 1), bins=32, data_format="channels_first")(np.moveaxis(x, -1, 1) / 255)
    assert unit.max() <= 1.0 and unit.min() >= 0.0
    # The histogram is taken over the whole batch, as Keras 3.15 does: two copies of an image are one histogram.
    doubled = Equalization()(np.concatenate([x[:1], x[:1]]))
    np.testing.assert_array_equal(doubled[0], doubled[1])
    np.testing.assert_array_equal(doubled[0], Equalization()(x[:1])[0])


def test_equalization_gradient_is_zero_but_for_kept_channels(rng):
    x = rng.random((2, 4, 5, 3)) * 200
    x[..., 1] = 3.0
    with backend.floatx_scope("float64"):
        layer = Equalization()
        layer(x, training=True)
        dx = layer.backward(np.ones_like(x))
        np.testing.assert_array_equal(dx[..., 1], 1.0)
        np.testing.assert_array_equal(dx[..., (0, 2)], 0.0)
        _check(Equalization(value_range=(0, 1)), np.where(x > 100, 0.5, 0.1) + x[..., :1] * 0)


def test_pipeline_applies_its_layers_in_order_with_the_call_s_training(rng):
    x = _images(rng)
    pipeline = Pipeline([cl.layers.Rescaling(2.0), cl.layers.Rescaling(1.0, offset=-1.0),
                         RandomColorDegeneration((1.0, 1.0), value_range=(0, 1000))])
    grey = np.repeat((x * 2 - 1) @ np.array([0.2989, 0.5870, 0.1140], "float32"), 3).reshape(x.shape)
    np.testing.assert_allclose(pipeline(x), np.clip(grey, 0, 1000), rtol=1e-5, atol=1e-4)  # training by default
    np.testing.assert_allclose(pipeline(x, training=False), x * 2 - 1, rtol=1e-6)
    assert pipeline.layers[0].scale == 2.0 and len(pipeline.layers) == 3
    assert pipeline.compute_output_shape((None, 6, 7, 3)) == (None, 6, 7, 3)
    assert Pipeline([cl.layers.Resizing(3, 4), cl.layers.CenterCrop(2, 2)]).compute_output_shape(
        (None, 6, 7, 3)) == (None, 2, 2, 3)
    assert Pipeline([RandomHue(0.2)]).differentiable is False and pipeline.differentiable is True
    with pytest.raises(TypeError, match="Pipeline: layers must be a list of layers"):
        Pipeline(cl.layers.Rescaling(2.0))
    with pytest.raises(TypeError, match="Pipeline '.*': .* weightless .* layer 'dense'"):
        Pipeline([cl.layers.Dense(2, name="dense")])(x)
    with pytest.raises(ValueError, match="Pipeline: the config must contain a 'layers' key"):
        Pipeline.from_config({"layers": None, "name": "p"})


def test_pipeline_round_trips_and_backpropagates(rng):
    x = rng.random((3, 5, 6, 3))
    pipeline = Pipeline([cl.layers.RandomFlip(seed=1), MixUp(seed=2), Equalization(value_range=(0, 1))], name="aug")
    again = cl.layers.deserialize(cl.layers.serialize(pipeline))
    assert type(again) is Pipeline and again.name == "aug"
    assert [type(layer).__name__ for layer in again.layers] == ["RandomFlip", "MixUp", "Equalization"]
    assert again.layers[1].seed == 2
    mix = {"mix_weight": np.array([0.3, 0.9, 0.5]), "permutation_order": np.array([2, 0, 1])}
    blur = {"should_apply_blur": np.array([True, False, True]), "blur_factor": np.array([0.7, 1.3])}
    with backend.floatx_scope("float64"):
        _check(Pipeline([_pinned(MixUp, mix), _pinned(RandomGaussianBlur, blur, value_range=(0, 1)),
                         cl.layers.Rescaling(3.0)]), x)
    out = Pipeline([cl.layers.RandomFlip(seed=1), MixUp(seed=2), CutMix(seed=3)])(
        {"images": _images(rng), "labels": np.eye(4, dtype="float32")})
    assert out["images"].shape == (4, 6, 7, 3) and out["labels"].shape == (4, 4)
    with pytest.raises(TypeError, match="Pipeline .* image preprocessing layers only"):
        Pipeline([cl.layers.Dense(2)])({"images": _images(rng)})


# ---------------------------------------------------------------------- CLAHE
def _equalization_table(pixels, clip_limit):
    """The 256-entry table of plain histogram equalization with a contrast limit, for uint8 ``pixels``:
    what CLAHE computes for one tile, written directly in float64."""
    area = pixels.size
    counts = np.bincount(pixels.ravel(), minlength=256).astype(np.float64)
    if clip_limit > 0:
        cut = np.minimum(counts, clip_limit * area / 256)
        counts = cut + (counts - cut).sum() / 256
    cdf = np.cumsum(counts)
    return np.clip((cdf - cdf[0]) * 255 / max(area - cdf[0], 1), 0, 255)


@pytest.mark.parametrize("clip_limit", [0.0, -1.0, 1.5, 4.0])
def test_clahe_with_one_tile_is_plain_histogram_equalization_with_a_limit(rng, clip_limit):
    images = (rng.random((2, 9, 11, 2)) ** 3 * 120 + 30).astype("uint8")
    result = CLAHE(clip_limit=clip_limit, tile_grid_size=(1, 1))(images.astype("float32"))
    for n in range(2):
        for c in range(2):
            image = images[n, ..., c]
            np.testing.assert_allclose(result[n, ..., c], _equalization_table(image, clip_limit)[image],
                                       rtol=1e-5, atol=1e-3)
    # Keras's rule: the table subtracts the count of level 0, not of the darkest level present, so an image
    # without black pixels gets no black; without a limit the brightest level goes to 255.
    assert result.min() > 0
    if clip_limit <= 0:
        assert result.max() == 255


@pytest.mark.parametrize("clip_limit", [0.0, 2.0])
def test_clahe_blends_the_tables_of_the_two_nearest_tile_centres(rng, clip_limit):
    # One row of two 16x16 tiles, the right one brighter. A pixel left of the first centre (column 8) or
    # right of the last (column 24) takes its own tile's table; one in between, the blend
    # (1 - w) * left + w * right of the two tables at its level, w = (j - 8) / 16.
    image = np.concatenate([rng.integers(20, 90, (16, 16)), rng.integers(120, 250, (16, 16))], axis=1)
    image = image.astype("uint8")
    result = CLAHE(clip_limit=clip_limit, tile_grid_size=(1, 2))(image[None, :, :, None].astype("float32"))
    left, right = _equalization_table(image[:, :16], clip_limit), _equalization_table(image[:, 16:], clip_limit)
    weight = np.clip((np.arange(32) - 8) / 16, 0, 1)
    np.testing.assert_allclose(result[0, :, :, 0], (1 - weight) * left[image] + weight * right[image],
                               rtol=1e-5, atol=1e-3)


def test_clahe_keeps_dtypes_layouts_and_unbatched_images(rng):
    x = (rng.random((2, 12, 10, 3)) * 200).astype("uint8")
    layer = CLAHE(tile_grid_size=(3, 2))
    result = layer(x)
    assert result.dtype == np.uint8 and result.shape == x.shape
    floats = layer(x.astype("float64"))
    assert floats.dtype == np.float32  # the layer's float type, as Keras's autocast
    np.testing.assert_array_equal(result, floats.astype("uint8"))  # an integer image's blend is truncated
    np.testing.assert_array_equal(layer(x[0]), result[0])
    np.testing.assert_array_equal(layer(x, training=False), result)  # not random: the same at inference
    first = CLAHE(tile_grid_size=(3, 2), data_format="channels_first")(np.moveaxis(x, -1, 1))
    np.testing.assert_array_equal(np.moveaxis(first, 1, -1), result)
    unit = CLAHE(tile_grid_size=(3, 2), value_range=(0, 1))(x.astype("float32") / 255)
    np.testing.assert_allclose(unit * 255, floats, rtol=1e-5, atol=1e-3)
    assert layer.compute_output_shape((None, 12, 10, 3)) == (None, 12, 10, 3)


def test_clahe_refuses_images_smaller_than_their_padding_and_has_no_gradient(rng):
    with pytest.raises(ValueError, match=r"ContrastLimitedAdaptiveHistogramEqualization '.*': a 3x3 image .* "
                                         r"8x8 grid .* smaller tile_grid_size"):
        CLAHE()(rng.random((1, 3, 3, 1)).astype("float32"))
    assert CLAHE(tile_grid_size=(2, 2))(rng.random((1, 3, 3, 1)).astype("float32")).shape == (1, 3, 3, 1)
    layer = CLAHE(tile_grid_size=(2, 2))
    layer(rng.random((1, 6, 6, 1)).astype("float32"))
    assert layer.differentiable is False
    with pytest.raises(TypeError, match="ContrastLimitedAdaptiveHistogramEqualization .* no gradient"):
        layer.backward(np.ones((1, 6, 6, 1), "float32"))


def test_a_model_trains_behind_clahe_and_round_trips_it(rng):
    x = (rng.random((16, 8, 8, 1)) * 255).astype("float32")
    y = rng.integers(0, 2, 16)
    cl.utils.set_random_seed(0)
    model = cl.Sequential([cl.Input((8, 8, 1)), CLAHE(clip_limit=2.0, tile_grid_size=(2, 2)),
                           cl.layers.Rescaling(1 / 255), cl.layers.Flatten(), cl.layers.Dense(2)])
    model.compile(optimizer="sgd", loss=cl.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.layers[-1].get_weights()[0].copy()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not np.allclose(model.layers[-1].get_weights()[0], before)
    again = cl.layers.deserialize(cl.layers.serialize(model.layers[0]))
    assert type(again) is CLAHE and again.get_config() == model.layers[0].get_config()
    np.testing.assert_array_equal(again(x), model.layers[0](x))


# --------------------------------------------------------- elastic warp
def _elastic_draw(shape, distortion=1.0, apply=None, seed=4):
    """A pinned draw for RandomElasticTransform: its dict, with a known normal field."""
    generator = np.random.default_rng(seed)
    n = shape[0]
    return {"apply_transform": np.ones(n, bool) if apply is None else np.asarray(apply),
            "distortion_factor": np.float64(distortion), "noise": generator.standard_normal((n,) + shape[1:3])}


def test_elastic_transform_reads_each_pixel_at_its_displaced_position(rng):
    # A tiny distortion: sigma < 1, so the blur is one pixel wide and the displacement is alpha * sigma * noise,
    # the same along both axes. A plane image (value = 3 * row + col) read bilinearly at (r + s, c + s) gives
    # 3 (r + s) + (c + s) exactly, inside the image.
    with backend.floatx_scope("float64"):
        rows, cols = np.meshgrid(np.arange(20.0), np.arange(24.0), indexing="ij")
        x = (3 * rows + cols)[None, :, :, None]
        draw = _elastic_draw(x.shape, distortion=0.5)
        layer = _pinned(RandomElasticTransform, draw, value_range=(-1000, 1000))
        out = layer(x, training=True)
        alpha, sigma = 24 * 0.1 * 0.5, 20 * 0.05 * 0.5
        shift = alpha * sigma * draw["noise"][0]
        inside = (rows + shift >= 0) & (rows + shift <= 19) & (cols + shift >= 0) & (cols + shift <= 23)
        assert inside.mean() > 0.8
        np.testing.assert_allclose(out[0, ..., 0][inside], (3 * (rows + shift) + cols + shift)[inside], atol=1e-9)
        nearest = _pinned(RandomElasticTransform, draw, interpolation="nearest", value_range=(-1000, 1000))(
            x, training=True)
        expected = 3 * np.round(rows + shift) + np.round(cols + shift)
        np.testing.assert_array_equal(nearest[0, ..., 0][inside], expected[inside])


@pytest.mark.parametrize("shift, expected", [
    (-3, {"constant": [-1, -1, -1, 0, 1, 2, 3, 4], "nearest": [0, 0, 0, 0, 1, 2, 3, 4],
          "wrap": [5, 6, 7, 0, 1, 2, 3, 4], "reflect": [3, 2, 1, 0, 1, 2, 3, 4]}),  # Keras: abs(index) first
    (3, {"constant": [3, 4, 5, 6, 7, -1, -1, -1], "nearest": [3, 4, 5, 6, 7, 7, 7, 7],
         "wrap": [3, 4, 5, 6, 7, 0, 1, 2], "reflect": [3, 4, 5, 6, 7, 7, 6, 5]}),
])
def test_elastic_transform_fill_modes_follow_keras_s_map_coordinates(shift, expected):
    # Every pixel reads `shift` rows and columns away (a constant field, no blur), so the first or last
    # three rows read outside the image, where each fill mode decides; the values are the row index.
    with backend.floatx_scope("float64"):
        x = np.repeat(np.arange(8.0)[None, :, None, None], 8, axis=2)
        sigma = 8 * 0.05 * 0.2
        draw = {"apply_transform": np.array([True]), "distortion_factor": np.float64(0.2),
                "noise": np.full((1, 8, 8), shift / (8 * 0.1 * 0.2 * sigma))}
        for mode, column in expected.items():
            out = _pinned(RandomElasticTransform, draw, fill_mode=mode, fill_value=-1.0, value_range=(-5, 10),
                          interpolation="nearest")(x, training=True)
            assert out[0, :, 4, 0].tolist() == column, mode  # column 4 reads column 1 or 7: inside


def test_elastic_transform_gradients(rng):
    # For a fixed draw the warp is linear in the images, out = A x: its backward must be the adjoint,
    # <A x, u> = <x, A^T u> to float64 rounding for any x and u (the dot-product test, no finite
    # differences), and pass the gradient check where the clip is inactive.
    with backend.floatx_scope("float64"):
        for data_format in ("channels_last", "channels_first"):
            for interpolation, fill_mode in (("bilinear", "reflect"), ("bilinear", "constant"), ("nearest", "wrap")):
                x = rng.random((2, 22, 21, 2)) * 0.8 + 0.1  # inside value_range: the clip passes every gradient
                draw = _elastic_draw(x.shape, distortion=0.9, apply=[True, False])
                if data_format == "channels_first":
                    x = np.moveaxis(x, -1, 1).copy()
                layer = _pinned(RandomElasticTransform, draw, interpolation=interpolation, fill_mode=fill_mode,
                                fill_value=0.0, value_range=(-100, 100), data_format=data_format)
                upstream = rng.standard_normal(x.shape)
                layer(x, training=True)
                adjoint = layer.backward(upstream)
                assert np.isclose(np.sum(layer(x, training=True) * upstream), np.sum(x * adjoint), rtol=1e-12)
                # Linear, so any step is exact; a large one keeps rounding out of the tiny entries of the
                # pixels read only as far corners.
                assert_gradients_close(_pinned(RandomElasticTransform, draw, interpolation=interpolation,
                                               fill_mode=fill_mode, fill_value=0.3, value_range=(0, 1),
                                               data_format=data_format), x, training=True, epsilon=1e-3)
        clipped = _pinned(RandomElasticTransform, _elastic_draw((1, 12, 12, 1)), value_range=(0.3, 0.7))
        _check(clipped, rng.random((1, 12, 12, 1)))


def test_elastic_transform_refuses_unknown_choices_as_keras_does():
    # Keras raises NotImplementedError for an unknown interpolation or fill_mode of its warping layers.
    with pytest.raises(NotImplementedError, match="RandomElasticTransform: unknown interpolation 'bicubic'"):
        RandomElasticTransform(interpolation="bicubic")
    with pytest.raises(NotImplementedError, match="RandomElasticTransform: unknown fill_mode 'edge'"):
        RandomElasticTransform(fill_mode="edge")


def test_elastic_transform_draws_and_inference(rng):
    x = _images(rng, (4, 20, 22, 3))
    layer = RandomElasticTransform(seed=5)
    draw = layer.get_random_transformation(x)
    assert draw["apply_transform"].shape == (4,) and draw["apply_transform"].dtype == bool
    assert draw["noise"].shape == (4, 20, 22) and draw["noise"].dtype == np.float32
    assert 0 <= float(draw["distortion_factor"]) <= 1
    assert RandomElasticTransform(seed=5).get_random_transformation(x)["noise"].tolist() == draw["noise"].tolist()
    assert RandomElasticTransform(scale=0.0).get_random_transformation(x) is None
    assert RandomElasticTransform(factor=0.0).get_random_transformation(x) is None
    np.testing.assert_array_equal(layer(x, training=False), x)  # inference: only cast
    assert layer(x.astype("uint8")).dtype == np.float32
    warped = layer(x)  # training by default, as Keras's augmentation layers
    assert warped.shape == x.shape and not np.allclose(warped, x)
    assert warped.min() >= 0 and warped.max() <= 255
    keras_like = {key: value for key, value in draw.items() if key != "noise"}
    with pytest.raises(ValueError, match="RandomElasticTransform: the transformation has no 'noise' field"):
        layer.transform_images(x, keras_like)
    with pytest.raises(ValueError, match=r"RandomElasticTransform: transformation\['noise'\] must be \(N, 20, 22\)"):
        layer.transform_images(x, dict(draw, noise=draw["noise"][:, :5]))


def test_clahe_and_the_elastic_warp_give_the_same_numbers_strictly(rng):
    """Under the strict stand-in for CuPy: no NumPy-only call, no host number taken from a device array."""
    images = (rng.random((2, 21, 23, 3)) * 255).astype("float32")

    def workflow():
        x = backend.xp.asarray(images)
        warp = RandomElasticTransform(seed=1, factor=(1.0, 1.0), fill_mode="constant", fill_value=9.0)
        warped = warp(x, training=True)
        results = [warped, warp.backward(warped), CLAHE(tile_grid_size=(3, 4))(x)]
        results.append(CLAHE(value_range=(0, 1), clip_limit=0)(x / 255))
        return [backend.to_numpy(value) for value in results]

    assert_same_numbers_strictly(workflow)
