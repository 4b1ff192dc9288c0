"""The newer augmentation layers give tf.keras's numbers, computed in the same test.

Randomness is pinned as in ``test_preprocessing_more_parity.py``: Keras's
``get_random_transformation`` draws (with a seed), and that transformation
goes to both libraries' ``transform_images`` (and ``transform_labels``).

Measured against tf.keras 3.15 (TensorFlow 2.21, CPU), float32 images in
[0, 255] (or the case's value_range), over the cases below: bit-exact for
MixUp, CutMix, RandomSaturation and RandomHue (the HSV conversions follow
TensorFlow's kernel step by step), and for the mixed labels;
RandomColorDegeneration bit-exact on some CPUs and within one float32 ulp
(3.1e-5 absolute on [0, 255]) on others, since TensorFlow's grayscale sum
runs through a contraction whose order depends on the CPU's vector width;
RandomGaussianBlur within 3.1e-5 absolute on [0, 255] (the kernel's
sum in another order); RandomColorJitter within 5.8e-4 absolute on [0, 255]
(6e-6 relative: its contrast takes the mean in another order);
RandomElasticTransform, given the normal field Keras's backend draws from
the transformation's seed (drawn ahead by the test), bit-exact below 20
pixels a side (the blur is then one pixel wide) and within 1.5e-3 absolute
on [0, 255] above (the blur's sums in another order);
ContrastLimitedAdaptiveHistogramEqualization (not random: no draw to pin)
bit-exact on the cases below, float32, float64 and uint8 images (its tables
are float32 cumulative sums, whose order another CPU may change). Gradients
against ``tf.GradientTape``: exact for MixUp and CutMix, within 4.8e-7
absolute for RandomColorDegeneration and 3.6e-7 for RandomGaussianBlur.
Hence ``assert_array_equal`` where bit-exact (EXACT), rtol 1e-5 with atol
5e-5 elsewhere on [0, 255], and rtol 1e-5 with atol 2e-6 for the gradients
and labels.
"""
import json

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

from augmentation_tape import (  # noqa: E402
    assert_configs_match, assert_draw_changes_images, assert_inference_matches, assert_transform_matches,
    config_without_name as _config, images as _images,
    keras_transformation as _keras_transformation, numpy_tree as _numpy, same_structure as _same_structure,
    tape_gradient,
)

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 5e-5
EXACT = {"MixUp", "CutMix", "RandomSaturation", "RandomHue"}

LAYER_CASES = [
    ("MixUp", {}),
    ("MixUp", {"alpha": 0.7}),
    ("CutMix", {}),
    ("CutMix", {"factor": (0.3, 0.8)}),
    ("RandomColorDegeneration", {"factor": (0.0, 1.0)}),
    ("RandomColorDegeneration", {"factor": 0.9}),
    ("RandomColorDegeneration", {"factor": (-1.0, 0.5), "value_range": (0, 1)}),
    ("RandomSaturation", {"factor": (0.2, 0.8)}),
    ("RandomSaturation", {"factor": 0.9, "value_range": (0, 1)}),
    ("RandomHue", {"factor": 0.8}),
    ("RandomHue", {"factor": (0.3, 1.0), "value_range": (0, 1)}),
    ("RandomGaussianBlur", {}),
    ("RandomGaussianBlur", {"factor": (0.4, 0.9), "kernel_size": 5, "sigma": (0.3, 0.9)}),
    ("RandomGaussianBlur", {"kernel_size": (3, 5), "value_range": (0, 1)}),
]
_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(LAYER_CASES)]
MIXING = {"MixUp", "CutMix"}
NO_GRADIENT = {"RandomSaturation", "RandomHue"}  # TensorFlow defines no gradient for hsv_to_rgb


def _pair(name, kwargs, data_format="channels_last"):
    kwargs = dict(kwargs, data_format=data_format, seed=5)
    return getattr(keras.layers, name)(**kwargs), getattr(cl.layers, name)(**kwargs)


@pytest.mark.parametrize("name, kwargs", LAYER_CASES, ids=_IDS)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_transform_images_with_keras_s_transformation(name, kwargs, data_format):
    generator = np.random.default_rng(7)
    for shape in [(5, 7, 8, 3), (7, 8, 3)]:
        theirs, ours = _pair(name, kwargs, data_format)
        assert_transform_matches(theirs, ours, _images(generator, shape, kwargs, data_format), name in EXACT,
                                 RTOL, ATOL)


def test_transformations_that_change_the_images_were_drawn():
    """The cases above are not vacuous: with Keras's draws the layers change the images."""
    generator = np.random.default_rng(8)
    for name, kwargs in LAYER_CASES:
        x = _images(generator, (6, 7, 8, 3), kwargs, "channels_last")
        assert_draw_changes_images(_pair(name, kwargs)[0], x, name)


@pytest.mark.parametrize("name, kwargs", [case for case in LAYER_CASES if case[0] in MIXING],
                         ids=[i for i, case in zip(_IDS, LAYER_CASES) if case[0] in MIXING])
def test_labels_are_mixed_as_keras_mixes_them(name, kwargs):
    generator = np.random.default_rng(17)
    x = _images(generator, (6, 7, 8, 3), kwargs, "channels_last")
    labels = np.eye(4, dtype="float32")[generator.integers(0, 4, 6)]
    theirs, ours = _pair(name, kwargs)
    transformation = _keras_transformation(theirs, x)
    expected = np.asarray(theirs.transform_labels(labels, transformation, training=True))
    result = ours.transform_labels(labels, transformation, training=True)
    assert result.shape == expected.shape and result.dtype == expected.dtype
    np.testing.assert_allclose(result, expected, rtol=RTOL, atol=2e-6)
    np.testing.assert_array_equal(ours.transform_labels(labels, transformation, training=False), labels)


@pytest.mark.parametrize("name", sorted(MIXING))
def test_a_dict_call_returns_keras_s_keys_and_mixed_labels(name):
    generator = np.random.default_rng(18)
    x = _images(generator, (4, 6, 6, 3), {}, "channels_last")
    labels = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    theirs, ours = _pair(name, {})
    result = ours({"images": x, "labels": labels})
    expected = theirs({"images": tf.constant(x), "labels": tf.constant(labels)})
    assert result.keys() == expected.keys()
    for key in result:
        assert result[key].shape == tuple(expected[key].shape) and result[key].dtype == expected[key].dtype
    # Each row of mixed labels still sums to one (the draws differ between libraries).
    np.testing.assert_allclose(result["labels"].sum(axis=1), 1.0, rtol=1e-6)
    at_inference = ours({"images": x, "labels": labels}, training=False)
    keras_inference = theirs({"images": tf.constant(x), "labels": tf.constant(labels)}, training=False)
    np.testing.assert_array_equal(at_inference["images"], keras_inference["images"].numpy())
    np.testing.assert_array_equal(at_inference["labels"], keras_inference["labels"].numpy())


@pytest.mark.parametrize("name, kwargs", LAYER_CASES, ids=_IDS)
def test_inference_matches_keras_including_dtypes(name, kwargs):
    assert_inference_matches(lambda: _pair(name, kwargs))


@pytest.mark.parametrize("name, kwargs", LAYER_CASES, ids=_IDS)
def test_configs_match_and_rebuild(name, kwargs):
    assert_configs_match(*_pair(name, kwargs))


def test_color_degeneration_refuses_other_channel_counts_in_shapes_as_keras_does():
    theirs, ours = _pair("RandomColorDegeneration", {"factor": 0.5})
    for layer in (theirs, ours):
        with pytest.raises(ValueError, match="3 channels"):
            layer.compute_output_shape((None, 9, 10, 4))


# ---------------------------------------------------------------- gradients
def _pinned(layer, transformation):
    layer.get_random_transformation = lambda data, training=True, seed=None: transformation
    return layer


GRADIENT_CASES = [case for case in LAYER_CASES if case[0] not in NO_GRADIENT]


@pytest.mark.parametrize("name, kwargs", GRADIENT_CASES,
                         ids=[i for i, case in zip(_IDS, LAYER_CASES) if case[0] not in NO_GRADIENT])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_layer_gradients_match_the_tape(name, kwargs, data_format):
    generator = np.random.default_rng(12)
    x = _images(generator, (5, 7, 8, 3), kwargs, data_format)
    theirs, ours = _pair(name, kwargs, data_format)
    transformation = _keras_transformation(theirs, x)
    y, dy, expected = tape_gradient(theirs, x, transformation, generator)
    ours = _pinned(ours, transformation)
    result = ours(x, training=True)
    np.testing.assert_allclose(result, y, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.backward(dy), expected, rtol=RTOL, atol=2e-6)


def test_a_saved_model_with_the_newer_layers_opens_in_keras_and_back(tmp_path):
    layers = cl.layers
    model = cl.Sequential([
        cl.Input((10, 12, 3)), layers.MixUp(0.4, seed=1), layers.CutMix((0.2, 0.9), seed=2),
        layers.RandomColorDegeneration(0.6, seed=3), layers.RandomSaturation(0.4, seed=4), layers.RandomHue(0.3),
        layers.RandomGaussianBlur(0.5, kernel_size=(3, 5), sigma=0.4),
        layers.RandomColorJitter(brightness_factor=0.2, hue_factor=0.3, seed=6),
        layers.Rescaling(1 / 255.0), layers.Flatten(), layers.Dense(2),
    ])
    model.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    assert [type(layer).__name__ for layer in theirs.layers[:7]] == [
        "MixUp", "CutMix", "RandomColorDegeneration", "RandomSaturation", "RandomHue", "RandomGaussianBlur",
        "RandomColorJitter"]
    x = (np.random.default_rng(15).random((3, 10, 12, 3)) * 255).astype("float32")
    # At inference they are the identity in both (up to the cast to float32).
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=RTOL, atol=1e-5)
    theirs.save(tmp_path / "theirs.keras")
    again = cl.saving.load_model(tmp_path / "theirs.keras")

    def plain(config):  # the file's JSON turns the pairs into lists
        return {key: tuple(value) if isinstance(value, list) else value for key, value in config.items()}

    assert [plain(_config(layer)) for layer in again.layers] == [plain(_config(layer)) for layer in theirs.layers]


@pytest.mark.parametrize("name", sorted(NO_GRADIENT))
def test_hue_and_saturation_have_no_gradient_in_either(name):
    x = tf.constant(_images(np.random.default_rng(14), (2, 4, 5, 3), {}, "channels_last"))
    theirs, ours = _pair(name, {"factor": 0.6})
    transformation = _keras_transformation(theirs, x.numpy())
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = theirs.transform_images(x, transformation, training=True)
    assert tape.gradient(y, x) is None
    assert ours.differentiable is False
    ours = _pinned(ours, transformation)
    ours(x.numpy(), training=True)
    with pytest.raises(TypeError, match=f"{name} .* no gradient"):
        ours.backward(np.ones(y.shape, "float32"))


# ------------------------------------------------------------ colour jitter
JITTER_CASES = [
    {"brightness_factor": 0.3, "contrast_factor": 0.5},
    {"brightness_factor": (-0.2, 0.4), "contrast_factor": 0.4, "saturation_factor": (0.3, 0.9), "hue_factor": 0.5},
    {"saturation_factor": 0.7, "value_range": (0, 1)},
    {"saturation_factor": 0.7, "hue_factor": (0.2, 0.6), "value_range": (0, 1)},
]


def _keras_jitter(theirs, x):
    """Keras's jitter step by step: each sub-layer's draw (kept) and transform, as its transform_images does."""
    draws, images = {}, tf.cast(tf.constant(x), "float32")
    for part in ("brightness", "contrast", "saturation", "hue"):
        layer = getattr(theirs, f"random_{part}")
        if layer is None:
            continue
        draw = layer.get_random_transformation(images, seed=keras.random.SeedGenerator(len(draws) + 3))
        draws[part] = _numpy(draw)
        images = layer.transform_images(images, draw)
    return draws, images


@pytest.mark.parametrize("kwargs", JITTER_CASES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_color_jitter_composes_keras_s_layers(kwargs, data_format):
    generator = np.random.default_rng(19)
    x = _images(generator, (4, 6, 7, 3), kwargs, data_format)
    theirs, ours = _pair("RandomColorJitter", kwargs, data_format)
    if data_format == "channels_first" and ("saturation_factor" in kwargs or "hue_factor" in kwargs):
        # Keras makes the sub-layers channels_last: its saturation and hue then fail, and so do ours.
        with pytest.raises(Exception, match="3 channels"):
            _keras_jitter(theirs, x)
        with pytest.raises(ValueError, match="RandomSaturation .*3 channels"):
            ours.transform_images(x, None, training=True)
        return
    draws, expected = _keras_jitter(theirs, x)
    result = ours.transform_images(x, draws, training=True)
    assert result.shape == tuple(expected.shape) and result.dtype == expected.dtype
    np.testing.assert_allclose(result, expected.numpy(), rtol=RTOL, atol=ATOL)
    assert not np.allclose(result, x)
    own = ours.get_random_transformation(x, training=True)
    assert own.keys() == draws.keys()
    for part in draws:
        _same_structure(own[part], draws[part])
    for images in (x, (x * 0).astype("uint8")):
        np.testing.assert_array_equal(ours(images, training=False), np.asarray(theirs(images, training=False)))
        assert ours(images, training=False).dtype == np.asarray(theirs(images, training=False)).dtype
    assert _config(ours) == _config(theirs)
    assert _config(type(ours).from_config(theirs.get_config())) == _config(theirs)
    assert ours.differentiable is ("saturation_factor" not in kwargs and "hue_factor" not in kwargs)


def test_color_jitter_gradients_match_the_tape_through_brightness_and_contrast():
    generator = np.random.default_rng(20)
    x = _images(generator, (3, 6, 7, 3), {}, "channels_last")
    theirs, ours = _pair("RandomColorJitter", JITTER_CASES[0])
    draws, _ = _keras_jitter(theirs, x)
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        y = theirs.random_contrast.transform_images(
            theirs.random_brightness.transform_images(tensor, draws["brightness"]), draws["contrast"])
    dy = generator.standard_normal(y.shape).astype("float32")
    expected = tape.gradient(y, tensor, output_gradients=tf.constant(dy)).numpy()
    ours = _pinned(ours, draws)
    np.testing.assert_allclose(ours(x, training=True), y.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.backward(dy), expected, rtol=RTOL, atol=2e-6)


# ------------------------------------------------------------ equalization
@pytest.mark.parametrize("kwargs", [{}, {"bins": 16}, {"value_range": (0, 1)}, {"value_range": (-1, 1), "bins": 64}])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_equalization_matches_keras(kwargs, data_format):
    generator = np.random.default_rng(21)
    for shape in [(3, 6, 7, 3), (6, 7, 3)]:
        x = _images(generator, shape, kwargs, data_format) * 0.6  # a narrow histogram, so that equalizing moves it
        if data_format == "channels_last":
            x[..., 1] = x[..., 1].flat[0]  # a constant channel, kept as it is
        kwargs_ = dict(kwargs, data_format=data_format)
        theirs, ours = keras.layers.Equalization(**kwargs_), cl.layers.Equalization(**kwargs_)
        expected = np.asarray(theirs(x))
        result = ours(x)
        assert result.shape == expected.shape and result.dtype == expected.dtype
        np.testing.assert_allclose(result, expected, rtol=RTOL, atol=1e-6)
        assert not np.allclose(result, x)
        np.testing.assert_array_equal(ours(x, training=False), np.asarray(theirs(x, training=False)))
        tensor = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            y = theirs(tensor, training=True)
        dy = generator.standard_normal(y.shape).astype("float32")
        gradient = tape.gradient(y, tensor, output_gradients=tf.constant(dy))
        expected_gradient = np.zeros_like(x) if gradient is None else gradient.numpy()
        ours(x, training=True)
        np.testing.assert_allclose(ours.backward(dy), expected_gradient, rtol=RTOL, atol=2e-6)
    x = (generator.random((2, 5, 6, 3)) * 255).astype("uint8")
    theirs, ours = keras.layers.Equalization(**kwargs), cl.layers.Equalization(**kwargs)
    for training in (True, False):
        expected = np.asarray(theirs(x, training=training))
        assert ours(x, training=training).dtype == expected.dtype
        np.testing.assert_allclose(ours(x, training=training), expected, rtol=RTOL, atol=1e-6)
    assert _config(ours) == _config(theirs)
    assert _config(cl.layers.Equalization.from_config(theirs.get_config())) == _config(theirs)


# ---------------------------------------------------------- elastic warp
def _keras_elastic_noise(transformation, shape):
    """The normal field Keras's backend will draw from the transformation's seed, drawn ahead from a copy of it
    (``keras.random.normal`` makes the same draw as the backend's ``elastic_transform``)."""
    copy = keras.random.SeedGenerator(0)
    copy.state.assign(transformation["seed"].state.value)
    return np.asarray(keras.random.normal(shape, seed=copy))


ELASTIC_CASES = [  # (shape, kwargs, exact): below 20 pixels a side the blur is one pixel wide, and nothing is summed
    ((2, 16, 18, 3), {}, True),
    ((2, 16, 18, 3), {"interpolation": "nearest"}, True),
    ((2, 16, 18, 1), {"interpolation": "nearest", "fill_mode": "constant", "fill_value": 7.0}, True),
    ((2, 19, 17, 2), {"interpolation": "nearest", "fill_mode": "wrap"}, True),
    ((3, 40, 36, 2), {}, False),
    ((3, 40, 36, 2), {"fill_mode": "constant", "fill_value": 7.0}, False),
    ((2, 40, 36, 1), {"fill_mode": "wrap"}, False),
    ((2, 40, 36, 1), {"fill_mode": "nearest"}, False),
    ((2, 64, 64, 3), {"scale": (0.5, 1.0), "factor": (0.6, 1.0)}, False),
    ((30, 34, 3), {"factor": (1.0, 1.0)}, False),  # one image, always warped
    ((2, 24, 20, 3), {"value_range": (0, 1), "scale": 0.7}, False),
]


@pytest.mark.parametrize("shape, kwargs, exact", ELASTIC_CASES, ids=[str(i) for i in range(len(ELASTIC_CASES))])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_elastic_transform_matches_keras_given_its_noise(shape, kwargs, exact, data_format):
    generator = np.random.default_rng(24)
    x = _images(generator, shape, kwargs, data_format)
    kwargs = dict(kwargs, data_format=data_format)
    theirs = keras.layers.RandomElasticTransform(seed=3, **kwargs)
    ours = cl.layers.RandomElasticTransform(**kwargs)
    keras_draw = theirs.get_random_transformation(x, training=True)
    height, width = x.shape[-2:] if data_format == "channels_first" else x.shape[-3:-1]
    batch = 1 if x.ndim == 3 else x.shape[0]
    draw = {"apply_transform": keras_draw["apply_transform"].numpy(),
            "distortion_factor": keras_draw["distortion_factor"].numpy(),
            "noise": _keras_elastic_noise(keras_draw, (batch, height, width))}
    own_draw = ours.get_random_transformation(x)
    assert own_draw.keys() == draw.keys()
    for key, value in draw.items():
        assert np.shape(own_draw[key]) == np.shape(value) and np.asarray(own_draw[key]).dtype == value.dtype, key
    state = keras_draw["seed"].state.value.numpy()
    expected = np.asarray(theirs.transform_images(x, keras_draw, training=True))
    result = ours.transform_images(x, draw, training=True)
    assert result.dtype == expected.dtype and result.shape == expected.shape
    low, high = kwargs.get("value_range", (0, 255))
    if exact:
        np.testing.assert_array_equal(result, expected)
    else:  # the blur's sums in another order: measured within 1.5e-3 on [0, 255]
        np.testing.assert_allclose(result, expected, rtol=RTOL, atol=5e-3 * (high - low) / 255)
    if draw["apply_transform"].any():
        assert not np.allclose(result, x)
    # The gradient with respect to the images, from the tape with Keras's seed put back where it was.
    keras_draw["seed"].state.assign(state)
    _, dy, expected_gradient = tape_gradient(theirs, x, keras_draw, generator)
    pinned = _pinned(cl.layers.RandomElasticTransform(**kwargs), draw)
    pinned(x, training=True)
    np.testing.assert_allclose(pinned.backward(dy), expected_gradient, rtol=RTOL, atol=1e-5 if exact else 1e-4)
    assert _config(ours) == {**_config(theirs), "seed": None}
    rebuilt = cl.layers.RandomElasticTransform.from_config(theirs.get_config())
    assert _config(rebuilt) == _config(theirs)


def test_elastic_transform_at_inference_and_its_refusals_match_keras():
    x = np.random.default_rng(25).random((2, 12, 14, 3)).astype("float32") * 255
    for module in (keras, cl):
        layer = module.layers.RandomElasticTransform(seed=1)
        np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
        assert np.asarray(layer(x.astype("uint8"), training=False)).dtype == np.float32
        assert module.layers.RandomElasticTransform(scale=0.0).get_random_transformation(x) is None
    with pytest.raises(ValueError, match="Invalid value for argument `fill_mode`"):
        keras.layers.RandomElasticTransform(fill_mode="mirror", seed=1)(x)
    with pytest.raises(ValueError, match="RandomElasticTransform: fill_mode"):
        cl.layers.RandomElasticTransform(fill_mode="mirror")
    refused = [({"scale": 1.5}, ValueError), ({"factor": -0.5}, ValueError),
               ({"interpolation": "bicubic"}, NotImplementedError), ({"fill_mode": "edge"}, NotImplementedError)]
    for bad, error in refused:
        with pytest.raises(error):
            keras.layers.RandomElasticTransform(**bad)
        with pytest.raises(error, match="RandomElasticTransform"):
            cl.layers.RandomElasticTransform(**bad)


# -------------------------------------------------------------------- CLAHE
CLAHE_CASES = [
    ((2, 16, 16, 3), {}),  # 2x2-pixel tiles, no padding
    ((2, 17, 23, 3), {}),  # mirrored padding on both axes
    ((1, 40, 33, 1), {"tile_grid_size": (3, 5)}),
    ((2, 9, 10, 2), {"clip_limit": 0}),
    ((2, 9, 10, 2), {"clip_limit": -2.0, "tile_grid_size": [2, 3]}),  # a list, as a JSON config gives it
    ((2, 12, 14, 3), {"clip_limit": 1.5, "tile_grid_size": (2, 3), "value_range": (0, 1)}),
    ((20, 21, 3), {"tile_grid_size": (4, 4), "value_range": (-1, 1)}),  # one image, unbatched
]


@pytest.mark.parametrize("shape, kwargs", CLAHE_CASES, ids=[str(i) for i in range(len(CLAHE_CASES))])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_clahe_matches_keras(shape, kwargs, data_format):
    generator = np.random.default_rng(23)
    low, high = kwargs.get("value_range", (0, 255))
    x = (low + (high - low) * (0.1 + 0.6 * generator.random(shape) ** 2)).astype("float32")  # a skewed histogram
    if data_format == "channels_first":
        x = np.moveaxis(x, -1, -3).copy()
    kwargs = dict(kwargs, data_format=data_format)
    theirs = keras.layers.ContrastLimitedAdaptiveHistogramEqualization(**kwargs)
    ours = cl.layers.ContrastLimitedAdaptiveHistogramEqualization(**kwargs)
    inputs = [x, x.astype("float64")]
    if (low, high) == (0, 255):
        inputs.append(x.astype("uint8"))
    for images in inputs:
        expected = np.asarray(theirs(images))
        result = ours(images)
        assert result.shape == expected.shape and result.dtype == expected.dtype
        np.testing.assert_allclose(result, expected, rtol=RTOL, atol=ATOL * (high - low) / 255)
        assert not np.allclose(result, images, atol=(high - low) / 255)  # it did change the contrast
        np.testing.assert_array_equal(ours(images, training=False), np.asarray(theirs(images, training=False)))
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        y = theirs(tensor)
    assert tape.gradient(y, tensor) is None  # TensorFlow has no gradient either
    assert _config(ours) == _config(theirs)
    rebuilt = cl.layers.ContrastLimitedAdaptiveHistogramEqualization.from_config(theirs.get_config())
    assert _config(rebuilt) == _config(theirs)
    np.testing.assert_array_equal(rebuilt(x), ours(x))


def test_clahe_refuses_an_image_smaller_than_its_padding_as_keras_does():
    x = np.zeros((1, 3, 3, 1), "float32")
    with pytest.raises(tf.errors.InvalidArgumentError, match="paddings must be no greater than the dimension"):
        keras.layers.ContrastLimitedAdaptiveHistogramEqualization()(x)
    with pytest.raises(ValueError, match="3x3 image cannot be cut into a 8x8 grid"):
        cl.layers.ContrastLimitedAdaptiveHistogramEqualization()(x)
    small = {"tile_grid_size": (2, 2)}  # 2x2 tiles need one row and column of padding: allowed in both
    np.testing.assert_array_equal(cl.layers.ContrastLimitedAdaptiveHistogramEqualization(**small)(x + 7),
                                  np.asarray(keras.layers.ContrastLimitedAdaptiveHistogramEqualization(**small)(x + 7)))


def test_models_with_clahe_and_the_elastic_warp_cross_keras_files_both_ways(tmp_path):
    def build(module):
        layers = module.layers
        return module.Sequential([module.Input((20, 22, 3)),
                                  layers.ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(2, 3)),
                                  layers.RandomElasticTransform(scale=0.5, seed=2), layers.Rescaling(1 / 255),
                                  layers.Conv2D(2, 3)])

    x = (np.random.default_rng(26).random((2, 20, 22, 3)) * 255).astype("float32")
    for writer, reader, name in ((build(cl), keras.models.load_model, "ours.keras"),
                                 (build(keras), cl.models.load_model, "theirs.keras")):
        writer.save(tmp_path / name)
        loaded = reader(tmp_path / name)
        assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in writer.layers]
        as_json = [json.loads(json.dumps(_config(model.layers[1]))) for model in (loaded, writer)]
        assert as_json[0] == as_json[1]  # a file holds JSON: tuples come back as lists, in both libraries
        # predict: CLAHE acts, the warp does not (inference), then the same convolution in both
        np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), np.asarray(writer.predict(x, verbose=0)),
                                   rtol=RTOL, atol=1e-5)


# ---------------------------------------------------------------- pipeline
def _pipeline_pair():
    def layers(module):
        return [module.layers.RandomFlip("horizontal", seed=1), module.layers.RandomColorDegeneration(0.5, seed=2),
                module.layers.Equalization(), module.layers.Rescaling(1 / 255.0)]

    return keras.layers.Pipeline(layers(keras), name="augment"), cl.layers.Pipeline(layers(cl), name="augment")


def test_pipeline_applies_keras_s_layers_in_order_and_its_config_matches():
    theirs, ours = _pipeline_pair()
    x = (np.random.default_rng(22).random((3, 6, 7, 3)) * 255).astype("float32")
    # At inference the random layers and Equalization are the identity: only the rescaling acts, in both.
    np.testing.assert_allclose(ours(x, training=False), np.asarray(theirs(x, training=False)), rtol=1e-6)
    assert ours(x).shape == tuple(theirs(x).shape)  # training by default, as in Keras
    assert not np.allclose(ours(x), x / 255.0)
    assert ours.get_config().keys() == theirs.get_config().keys()
    for own, keras_s in zip(ours.get_config()["layers"], theirs.get_config()["layers"]):
        assert own["class_name"] == keras_s["class_name"] and own["module"] == keras_s["module"]
        own_config, keras_config = dict(own["config"]), dict(keras_s["config"])
        own_config.pop("name"), keras_config.pop("name")
        assert own_config == keras_config
    rebuilt = cl.layers.Pipeline.from_config(theirs.get_config())
    assert [type(layer).__name__ for layer in rebuilt.layers] == [type(layer).__name__ for layer in theirs.layers]
    # Keras's Pipeline has no compute_output_shape; ours chains its layers' (checked in the unit tests).


def test_pipeline_gradients_match_the_tape():
    generator = np.random.default_rng(23)
    x = (generator.random((3, 6, 7, 3)) * 255).astype("float32")
    flip = {"flips": np.array([True, False, True]).reshape(3, 1, 1, 1), "input_shape": x.shape}
    degeneration = {"factor": np.array([0.2, -0.4, 0.9], "float32").reshape(3, 1, 1, 1)}
    theirs = [keras.layers.RandomFlip("horizontal"), keras.layers.RandomColorDegeneration(0.5)]
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        y = theirs[1].transform_images(theirs[0].transform_images(tensor, flip), degeneration)
    dy = generator.standard_normal(y.shape).astype("float32")
    expected = tape.gradient(y, tensor, output_gradients=tf.constant(dy)).numpy()
    ours = cl.layers.Pipeline([_pinned(cl.layers.RandomFlip("horizontal"), flip),
                               _pinned(cl.layers.RandomColorDegeneration(0.5), degeneration)])
    np.testing.assert_allclose(ours(x), y.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.backward(dy), expected, rtol=RTOL, atol=2e-6)


def test_pipeline_takes_keras_s_dict_inputs():
    generator = np.random.default_rng(24)
    x = (generator.random((4, 6, 6, 3)) * 255).astype("float32")
    labels = np.eye(4, dtype="float32")
    theirs = keras.layers.Pipeline([keras.layers.RandomFlip(seed=1), keras.layers.MixUp(seed=2),
                                    keras.layers.CutMix(seed=3)])
    ours = cl.layers.Pipeline([cl.layers.RandomFlip(seed=1), cl.layers.MixUp(seed=2), cl.layers.CutMix(seed=3)])
    expected = theirs({"images": tf.constant(x), "labels": tf.constant(labels)})
    result = ours({"images": x, "labels": labels})
    assert result.keys() == expected.keys()
    for key in result:
        assert result[key].shape == tuple(expected[key].shape) and result[key].dtype == expected[key].dtype
    np.testing.assert_allclose(result["labels"].sum(axis=1), 1.0, rtol=1e-5)


def test_a_saved_pipeline_opens_in_keras_and_back(tmp_path):
    _, pipeline = _pipeline_pair()
    model = cl.Sequential([cl.Input((6, 7, 3)), pipeline, cl.layers.Flatten(), cl.layers.Dense(2)])
    model.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    assert type(theirs.layers[0]).__name__ == "Pipeline"
    assert [type(layer).__name__ for layer in theirs.layers[0].layers] == [
        "RandomFlip", "RandomColorDegeneration", "Equalization", "Rescaling"]
    x = (np.random.default_rng(25).random((3, 6, 7, 3)) * 255).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=RTOL, atol=1e-5)
    theirs.save(tmp_path / "theirs.keras")
    again = cl.saving.load_model(tmp_path / "theirs.keras")
    assert [type(layer).__name__ for layer in again.layers[0].layers] == [
        "RandomFlip", "RandomColorDegeneration", "Equalization", "Rescaling"]
    np.testing.assert_allclose(again.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=RTOL, atol=1e-5)
