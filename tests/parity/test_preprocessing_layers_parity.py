"""Image kernels and preprocessing layers give tf.keras's numbers, computed in the same test.

Randomness is pinned the Keras way: Keras's ``get_random_transformation`` draws
(with a seed), and that same transformation goes to both libraries'
``transform_images``. Gradients come from ``tf.GradientTape.gradient(y, x,
output_gradients=dy)``.

Measured against tf.keras 3.15 (TensorFlow 2.21, CPU) on float32 inputs, N(0, 1)
unless said otherwise, over the grids below:

- ``ops.image.resize``: bilinear and nearest are bit-exact (forward, every
  size pair from 1 to 24 for nearest, crop/pad to aspect ratio, 3-D and 4-D,
  both data formats, uint8 included); bicubic, area, lanczos3/5 and
  antialiased resizing within 1e-6 absolute (7.2e-7 worst for lanczos3,
  9.5e-7 for lanczos5: one weight matrix product against TF's running sums);
  on uint8 inputs every method gives the same integers. Gradients within
  2.4e-7 absolute for bilinear, bicubic, lanczos, antialias; nearest is
  exact. (TF has no gradient for ``area``: finite differences check ours.)
- ``ops.image.affine_transform``: bit-exact for every fill mode, both
  interpolations, rotations, zooms, shears, translations (up to 5 image
  lengths away, widths 1 to 7) and projective rows, uint8 included.
- Layers' ``transform_images`` with Keras's transformation: bit-exact for the
  flips, crops, resizing, rotation, zoom, translation and brightness;
  RandomContrast within 1.5e-5 absolute on values in [0, 255] (6e-8 relative:
  the mean is summed in another order). Layer gradients (Rescaling,
  Resizing, CenterCrop, RandomFlip, RandomCrop, RandomContrast,
  RandomBrightness) within 3e-7 absolute.
- Configs: equal dicts (name aside), and Keras's configs rebuild our layers.

Hence: ``assert_array_equal`` where bit-exact was measured and the values are
gathered (nearest, flips, crops, integer images), rtol 1e-5 with atol 2e-6 for
floats elsewhere, atol 5e-5 for RandomContrast on [0, 255].

TensorFlow's registered gradient of the warp (ImageProjectiveTransformV3) is
the warp of the upstream gradient by the INVERSE transform, an approximation
of the adjoint; course_lib computes the exact adjoint (finite differences in
the unit tests). The two agree where the approximation is exact (integer
translations, checked here) and not elsewhere.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib.ops import image as image_ops

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 2e-6
EXACT_RESIZE = ("bilinear", "nearest")


def _numpy(value):
    """Keras's transformation (tensors, TensorShapes, tuples, dicts) as NumPy values."""
    if isinstance(value, dict):
        return {key: _numpy(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_numpy(item) for item in value)
    if isinstance(value, tf.TensorShape):
        return tuple(value)
    if hasattr(value, "numpy"):
        return value.numpy()
    return value


def _config(layer):
    config = dict(layer.get_config())
    config.pop("name")
    return config


# ----------------------------------------------------------------- resize
@pytest.mark.parametrize("interpolation", image_ops.RESIZE_INTERPOLATIONS)
@pytest.mark.parametrize("antialias", [False, True])
def test_resize_forward_up_and_down(interpolation, antialias):
    generator = np.random.default_rng(0)
    for (height, width), size in [((5, 7), (3, 2)), ((5, 7), (10, 14)), ((8, 8), (16, 9)), ((13, 4), (1, 1)),
                                  ((13, 4), (7, 3)), ((6, 9), (26, 8)), ((9, 9), (9, 9))]:
        for shape in [(2, height, width, 3), (height, width, 2)]:
            x = generator.standard_normal(shape).astype("float32")
            expected = keras.ops.image.resize(x, size, interpolation=interpolation, antialias=antialias).numpy()
            ours = image_ops.resize(x, size, interpolation, antialias=antialias)
            assert ours.dtype == expected.dtype and ours.shape == expected.shape
            if interpolation in EXACT_RESIZE and not (antialias and interpolation == "bilinear"):
                np.testing.assert_array_equal(ours, expected)
            else:
                np.testing.assert_allclose(ours, expected, rtol=RTOL, atol=ATOL)


def test_nearest_picks_tensorflow_s_pixel_for_every_size_pair():
    """floor((o + 0.5) * in/out) in float32: ties and near-ties land where TF puts them."""
    generator = np.random.default_rng(1)
    for source in range(1, 25):
        x = generator.standard_normal((1, source, 2, 1)).astype("float32")
        for target in range(1, 25):
            expected = tf.image.resize(x, (target, 2), method="nearest").numpy()
            np.testing.assert_array_equal(image_ops.resize(x, (target, 2), "nearest"), expected)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic", "area", "lanczos3"])
@pytest.mark.parametrize("options", [{}, {"crop_to_aspect_ratio": True}, {"pad_to_aspect_ratio": True, "fill_value": 2}],
                         ids=["stretch", "crop", "pad"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_resize_options_layouts_and_integer_images(interpolation, options, data_format):
    generator = np.random.default_rng(2)
    for shape in [(2, 5, 9, 3), (9, 5, 3)]:
        images = (generator.random(shape) * 255).astype("uint8")
        if data_format == "channels_first":
            images = np.moveaxis(images, -1, -3).copy()
        for x in (images, images.astype("float32")):
            kwargs = dict(interpolation=interpolation, data_format=data_format, **options)
            expected = keras.ops.image.resize(x, (4, 6), **kwargs).numpy()
            ours = image_ops.resize(x, (4, 6), **kwargs)
            assert ours.dtype == expected.dtype and ours.shape == expected.shape
            if x.dtype == np.uint8 or interpolation in EXACT_RESIZE:
                np.testing.assert_array_equal(ours, expected)
            else:
                np.testing.assert_allclose(ours, expected, rtol=RTOL, atol=5e-5)  # values up to 255


@pytest.mark.parametrize("interpolation, antialias", [("bilinear", False), ("nearest", False), ("bicubic", False),
                                                      ("lanczos3", False), ("bilinear", True), ("lanczos5", True)])
def test_resize_gradients_match_the_tape(interpolation, antialias):
    generator = np.random.default_rng(3)
    for (height, width), size in [((5, 7), (9, 4)), ((12, 8), (3, 5))]:
        for shape in [(2, height, width, 3), (height, width, 3)]:
            x = generator.standard_normal(shape).astype("float32")
            tensor = tf.constant(x)
            with tf.GradientTape() as tape:
                tape.watch(tensor)
                y = keras.ops.image.resize(tensor, size, interpolation=interpolation, antialias=antialias)
            dy = generator.standard_normal(y.shape).astype("float32")
            expected = tape.gradient(y, tensor, output_gradients=tf.constant(dy)).numpy()
            _, cache = image_ops.resize_forward(x, size, interpolation, antialias)
            np.testing.assert_allclose(image_ops.resize_backward(dy, cache), expected, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------- affine transform
def _transforms(generator, count, projective):
    angle = generator.uniform(-np.pi, np.pi, count)
    scale = generator.uniform(0.5, 1.6, count)
    shear = generator.uniform(-0.5, 0.5, count)
    c = generator.uniform(-0.02, 0.02, (count, 2)) if projective else np.zeros((count, 2))
    return np.stack([scale * np.cos(angle), -scale * np.sin(angle) + shear, generator.uniform(-5, 5, count),
                     scale * np.sin(angle), scale * np.cos(angle), generator.uniform(-5, 5, count),
                     c[:, 0], c[:, 1]], axis=1).astype("float32")


NAMED_TRANSFORMS = {
    "rotation": [np.cos(0.6), -np.sin(0.6), 2.0, np.sin(0.6), np.cos(0.6), -1.5, 0, 0],
    "zoom": [1.5, 0, -2.5, 0, 0.7, 1.2, 0, 0],
    "shear": [1.0, 0.4, -1.0, 0.3, 1.0, -0.5, 0, 0],
    "translation": [1, 0, -3.25, 0, 1, 2.5, 0, 0],
    "projective": [1.0, 0.1, 0.5, -0.1, 1.1, 0.2, 0.02, -0.03],
}


@pytest.mark.parametrize("fill_mode", image_ops.FILL_MODES)
@pytest.mark.parametrize("interpolation", image_ops.AFFINE_INTERPOLATIONS)
def test_affine_transform_matches_tensorflow(fill_mode, interpolation):
    generator = np.random.default_rng(4)
    options = dict(interpolation=interpolation, fill_mode=fill_mode, fill_value=0.3)
    x = generator.standard_normal((len(NAMED_TRANSFORMS), 9, 11, 2)).astype("float32")
    named = np.array(list(NAMED_TRANSFORMS.values()), "float32")
    expected = keras.ops.image.affine_transform(x, named, **options).numpy()
    np.testing.assert_array_equal(image_ops.affine_transform(x, named, **options), expected)
    for projective in (False, True):
        x = generator.standard_normal((6, int(generator.integers(4, 12)), int(generator.integers(4, 12)), 3))
        x = x.astype("float32")
        transforms = _transforms(generator, 6, projective)
        expected = keras.ops.image.affine_transform(x, transforms, **options).numpy()
        np.testing.assert_array_equal(image_ops.affine_transform(x, transforms, **options), expected)
    # One image and one transform; channels_first; integer images.
    single = keras.ops.image.affine_transform(x[0], transforms[0], **options).numpy()
    np.testing.assert_array_equal(image_ops.affine_transform(x[0], transforms[0], **options), single)
    first = np.moveaxis(x, -1, 1).copy()
    expected = keras.ops.image.affine_transform(first, transforms, data_format="channels_first", **options).numpy()
    np.testing.assert_array_equal(
        image_ops.affine_transform(first, transforms, data_format="channels_first", **options), expected)
    pixels = (generator.random((6, 7, 8, 3)) * 255).astype("uint8")
    options["fill_value"] = 7
    expected = keras.ops.image.affine_transform(pixels, transforms, **options).numpy()
    ours = image_ops.affine_transform(pixels, transforms, **options)
    assert ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("fill_mode", image_ops.FILL_MODES)
@pytest.mark.parametrize("interpolation", image_ops.AFFINE_INTERPOLATIONS)
def test_fill_modes_far_outside_the_image(fill_mode, interpolation):
    """TF's reflect and wrap formulas, checked up to 5 lengths away, half-pixel shifts included."""
    generator = np.random.default_rng(5)
    for length in (1, 2, 3, 4, 7):
        count = 60
        shifts = generator.uniform(-5 * length, 5 * length, (count, 2))
        shifts[::3] = np.round(shifts[::3] * 2) / 2  # exact halves: C's round, away from zero
        transforms = np.zeros((count, 8), "float32")
        transforms[:, 0] = transforms[:, 4] = 1
        transforms[:, 2], transforms[:, 5] = shifts[:, 0], shifts[:, 1]
        x = generator.standard_normal((count, length, length, 2)).astype("float32")
        options = dict(interpolation=interpolation, fill_mode=fill_mode, fill_value=0.7)
        expected = keras.ops.image.affine_transform(x, transforms, **options).numpy()
        np.testing.assert_array_equal(image_ops.affine_transform(x, transforms, **options), expected)


@pytest.mark.parametrize("interpolation", image_ops.AFFINE_INTERPOLATIONS)
def test_warp_gradients_agree_with_tensorflow_for_integer_translations(interpolation):
    """Where TF's inverse-warp gradient is the exact adjoint (whole-pixel shifts), the two agree."""
    generator = np.random.default_rng(6)
    x = generator.standard_normal((2, 6, 7, 2)).astype("float32")
    transform = np.array([[1, 0, 2, 0, 1, -1, 0, 0], [1, 0, -3, 0, 1, 2, 0, 0]], "float32")
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        y = keras.ops.image.affine_transform(tensor, transform, interpolation=interpolation)
    dy = generator.standard_normal(y.shape).astype("float32")
    expected = tape.gradient(y, tensor, output_gradients=tf.constant(dy)).numpy()
    _, cache = image_ops.affine_transform_forward(x, transform, interpolation)
    np.testing.assert_allclose(image_ops.affine_transform_backward(dy, cache), expected, rtol=RTOL, atol=ATOL)


# ----------------------------------------------------------------- layers
LAYER_CASES = [
    ("RandomFlip", {}), ("RandomFlip", {"mode": "horizontal"}), ("RandomFlip", {"mode": "vertical"}),
    ("RandomRotation", {"factor": 0.3}),
    ("RandomRotation", {"factor": (-0.5, 0.2), "fill_mode": "constant", "fill_value": 0.5, "interpolation": "nearest"}),
    ("RandomRotation", {"factor": 0.1, "fill_mode": "wrap"}),
    ("RandomZoom", {"height_factor": 0.4}),
    ("RandomZoom", {"height_factor": (-0.3, 0.5), "width_factor": 0.2, "fill_mode": "wrap"}),
    ("RandomZoom", {"height_factor": -0.2, "width_factor": (0.1, 0.3), "fill_mode": "nearest",
                    "interpolation": "nearest"}),
    ("RandomTranslation", {"height_factor": 0.3, "width_factor": (-0.2, 0.4), "fill_mode": "nearest"}),
    ("RandomTranslation", {"height_factor": (-0.5, 0.5), "width_factor": 0.2, "fill_mode": "constant",
                           "fill_value": 3.0}),
    ("RandomContrast", {"factor": 0.5}), ("RandomContrast", {"factor": (0.2, 0.9), "value_range": (0, 1)}),
    ("RandomBrightness", {"factor": 0.3}), ("RandomBrightness", {"factor": (-0.5, 0.1), "value_range": (1, 0)}),
    ("RandomCrop", {"height": 4, "width": 5}), ("RandomCrop", {"height": 9, "width": 5}),
    ("RandomCrop", {"height": 7, "width": 8}),
    ("CenterCrop", {"height": 4, "width": 5}), ("CenterCrop", {"height": 9, "width": 5}),
    ("Resizing", {"height": 4, "width": 9}),
    ("Resizing", {"height": 4, "width": 9, "crop_to_aspect_ratio": True, "interpolation": "nearest"}),
    ("Resizing", {"height": 5, "width": 3, "pad_to_aspect_ratio": True, "fill_value": 1.5, "interpolation": "bicubic"}),
]
_IDS = [f"{name}-{index}" for index, (name, _) in enumerate(LAYER_CASES)]
_DETERMINISTIC = ("CenterCrop", "Resizing")


def _pair(name, kwargs, data_format):
    kwargs = dict(kwargs, data_format=data_format)
    if name not in _DETERMINISTIC:
        kwargs["seed"] = 5
    return getattr(keras.layers, name)(**kwargs), getattr(cl.layers, name)(**kwargs)


def _images(generator, shape, name, kwargs, data_format):
    x = (generator.random(shape) * 255).astype("float32")
    if kwargs.get("value_range") == (0, 1):
        x /= 255
    return np.moveaxis(x, -1, -3).copy() if data_format == "channels_first" else x


def _keras_transformation(layer, x, name, seed=3):
    if name in _DETERMINISTIC:
        return _numpy(layer.get_random_transformation(x))
    return _numpy(layer.get_random_transformation(x, training=True, seed=keras.random.SeedGenerator(seed)))


@pytest.mark.parametrize("name, kwargs", LAYER_CASES, ids=_IDS)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_transform_images_with_keras_s_transformation(name, kwargs, data_format):
    generator = np.random.default_rng(7)
    for shape in [(3, 7, 8, 2), (7, 8, 2)]:
        x = _images(generator, shape, name, kwargs, data_format)
        theirs, ours = _pair(name, kwargs, data_format)
        transformation = _keras_transformation(theirs, x, name)
        expected = np.asarray(theirs.transform_images(x, transformation, training=True))
        result = ours.transform_images(x, transformation, training=True)
        assert result.shape == expected.shape and result.dtype == expected.dtype
        if name == "RandomContrast" or kwargs.get("interpolation", "bilinear") not in EXACT_RESIZE:
            np.testing.assert_allclose(result, expected, rtol=RTOL, atol=5e-5)  # values up to 255
        else:
            np.testing.assert_array_equal(result, expected)
        # Our own draw has Keras's structure: the same keys (or tuple length), shapes and dtypes.
        own = ours.get_random_transformation(x, training=True) if name not in _DETERMINISTIC else (
            ours.get_random_transformation(x))
        if isinstance(transformation, dict):
            assert own.keys() == transformation.keys()
            for key, value in transformation.items():
                if hasattr(value, "shape"):
                    assert tuple(np.shape(own[key])) == value.shape, key
                    assert np.asarray(own[key]).dtype == value.dtype, key
        else:
            assert len(own) == len(transformation)


def test_rotation_matrices_from_keras_s_angles():
    generator = np.random.default_rng(8)
    for height, width in [(7, 8), (32, 20), (1, 5)]:
        x = generator.random((6, height, width, 1)).astype("float32")
        theirs = keras.layers.RandomRotation((-0.5, 0.5))
        transformation = _numpy(theirs.get_random_transformation(x, training=True, seed=keras.random.SeedGenerator(1)))
        ours = cl.layers.preprocessing.rotation_transforms(transformation["angle"], height, width)
        np.testing.assert_allclose(ours, transformation["rotation_matrix"], rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("name, kwargs", LAYER_CASES, ids=_IDS)
def test_inference_matches_keras_including_dtypes(name, kwargs):
    generator = np.random.default_rng(9)
    images = (generator.random((2, 7, 8, 3)) * 255).astype("uint8")
    for x in (images, images.astype("float32"), images.astype("float64")):
        theirs, ours = _pair(name, kwargs, "channels_last")
        if x.dtype == np.uint8 and kwargs.get("fill_value") == 1.5:
            for layer in (theirs, ours):  # a fractional padding value cannot pad integer images: both refuse
                with pytest.raises((TypeError, ValueError), match=r"1\.5"):
                    layer(x, training=False)
            continue
        expected = np.asarray(theirs(x, training=False))
        result = ours(x, training=False)
        assert result.dtype == expected.dtype and result.shape == expected.shape, (result.dtype, expected.dtype)
        np.testing.assert_allclose(result, expected, rtol=RTOL, atol=5e-5)


@pytest.mark.parametrize("name, kwargs", LAYER_CASES + [("Rescaling", {"scale": 1 / 127.5, "offset": -1})], ids=_IDS + ["Rescaling"])
def test_configs_match_and_rebuild(name, kwargs):
    if name == "Rescaling":
        theirs, ours = keras.layers.Rescaling(**kwargs), cl.layers.Rescaling(**kwargs)
    else:
        theirs, ours = _pair(name, kwargs, "channels_last")
    assert _config(ours) == _config(theirs)
    assert _config(type(ours).from_config(theirs.get_config())) == _config(theirs)
    shape = (None, 9, 10, 3)
    assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))


def test_rescaling_with_per_channel_arrays():
    generator = np.random.default_rng(10)
    x = (generator.random((2, 4, 5, 3)) * 255).astype("uint8")
    scale, offset = np.array([0.5, 1 / 255, 2.0], "float32"), np.array([-1.0, 0.0, 0.5], "float32")
    theirs, ours = keras.layers.Rescaling(scale, offset), cl.layers.Rescaling(scale, offset)
    np.testing.assert_allclose(ours(x), theirs(x).numpy(), rtol=1e-6)
    assert _config(ours) == _config(theirs)
    assert _config(cl.layers.Rescaling.from_config(theirs.get_config())) == _config(theirs)


def _pinned(layer, transformation):
    """``layer`` with its draws replaced by ``transformation`` (for a gradient through the training path)."""
    layer.get_random_transformation = lambda data, training=True, seed=None: transformation
    return layer


GRADIENT_CASES = [
    ("Rescaling", {"scale": 0.5, "offset": 2.0}),
    ("Resizing", {"height": 4, "width": 11}), ("Resizing", {"height": 3, "width": 3, "interpolation": "nearest"}),
    ("Resizing", {"height": 9, "width": 4, "crop_to_aspect_ratio": True, "interpolation": "bicubic"}),
    ("Resizing", {"height": 5, "width": 5, "pad_to_aspect_ratio": True}),
    ("CenterCrop", {"height": 4, "width": 5}), ("CenterCrop", {"height": 9, "width": 5}),
    ("RandomFlip", {}), ("RandomFlip", {"mode": "horizontal"}),
    ("RandomCrop", {"height": 4, "width": 5}), ("RandomCrop", {"height": 9, "width": 5}),
    ("RandomContrast", {"factor": (0.4, 0.9), "value_range": (0, 1)}),
    ("RandomBrightness", {"factor": 0.4, "value_range": (0, 1)}),
    ("RandomTranslation", {"height_factor": 0.0, "width_factor": 0.0, "fill_mode": "constant"}),
]


@pytest.mark.parametrize("name, kwargs", GRADIENT_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(GRADIENT_CASES)])
def test_layer_gradients_match_the_tape(name, kwargs):
    generator = np.random.default_rng(11)
    x = generator.random((3, 7, 8, 2)).astype("float32")
    if name == "Rescaling":
        theirs, ours = keras.layers.Rescaling(**kwargs), cl.layers.Rescaling(**kwargs)
        transformation = None
    else:
        theirs, ours = _pair(name, kwargs, "channels_last")
        transformation = _keras_transformation(theirs, x, name)
        if name == "RandomTranslation":  # whole-pixel shifts, where TF's warp gradient is exact
            transformation["translations"] = np.array([[2, -1], [0, 3], [-2, 1]], "float32")
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        if transformation is None:
            y = theirs(tensor)
        else:
            y = theirs.transform_images(tensor, transformation, training=True)
    dy = generator.standard_normal(y.shape).astype("float32")
    expected = tape.gradient(y, tensor, output_gradients=tf.constant(dy)).numpy()
    if transformation is not None and name not in _DETERMINISTIC:
        ours = _pinned(ours, transformation)
    result = ours(x, training=True)
    np.testing.assert_allclose(result, y.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.backward(dy), expected, rtol=RTOL, atol=ATOL)


def test_a_call_without_training_augments_in_both():
    x = np.random.default_rng(12).random((16, 5, 6, 1)).astype("float32")
    for name, kwargs in [("RandomFlip", {}), ("RandomRotation", {"factor": 0.2}), ("RandomCrop", {"height": 3, "width": 4})]:
        theirs, ours = getattr(keras.layers, name)(seed=1, **kwargs), getattr(cl.layers, name)(seed=1, **kwargs)
        for layer in (theirs, ours):
            outputs = np.asarray(layer(x))
            assert outputs.shape != x.shape or not np.allclose(outputs, x), (name, type(layer).__module__)


def test_a_saved_augmentation_model_opens_in_keras_and_back(tmp_path):
    layers = cl.layers
    model = cl.Sequential([
        cl.Input((10, 12, 3)), layers.Rescaling(1 / 255.0), layers.Resizing(8, 9, interpolation="bicubic"),
        layers.RandomFlip(seed=1), layers.RandomRotation(0.1, seed=2), layers.RandomZoom(0.1, fill_mode="constant"),
        layers.RandomTranslation(0.1, 0.2), layers.RandomContrast(0.2), layers.RandomBrightness(0.1, value_range=(0, 1)),
        layers.CenterCrop(6, 6), layers.Flatten(), layers.Dense(2),
    ])
    model.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    x = (np.random.default_rng(13).random((3, 10, 12, 3)) * 255).astype("float32")
    # At inference the random layers are the identity in both, so the predictions agree.
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=RTOL, atol=ATOL)
    theirs.save(tmp_path / "theirs.keras")
    again = cl.saving.load_model(tmp_path / "theirs.keras")
    assert [_config(layer) for layer in again.layers] == [_config(layer) for layer in theirs.layers]
