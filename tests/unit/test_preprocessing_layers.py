"""Image preprocessing layers and image kernels: errors, inference, seeds, statistics, gradients.

Gradient checks run in float64 with central differences and a random upstream
gradient (relative error < 1e-6, the project's bar). Every layer here is
linear in its pixels between clipping kinks, so the differences are exact up to
rounding. The random layers are checked with a PINNED transformation (a
subclass whose ``get_random_transformation`` returns a fixed one), so that each
finite-difference evaluation applies the same augmentation.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend
from course_lib.layers import (
    CenterCrop, RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation,
    RandomZoom, Rescaling, Resizing,
)
from course_lib.layers.preprocessing import rotation_transforms
from course_lib.ops import image as image_ops
from course_lib.testing import assert_gradients_close
from augmentation_checks import assert_same_numbers_strictly, pinned as _pinned  # noqa: E402

RANDOM_LAYERS = [
    (RandomFlip, {}),
    (RandomRotation, {"factor": 0.2}),
    (RandomZoom, {"height_factor": 0.3}),
    (RandomTranslation, {"height_factor": 0.2, "width_factor": 0.2}),
    (RandomContrast, {"factor": 0.5}),
    (RandomBrightness, {"factor": 0.3}),
]


def _images(generator, shape=(4, 9, 10, 3), high=255.0):
    return (generator.random(shape) * high).astype("float32")


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("factor", [1.5, -1.2, (-3, -2), (2, 3), (0.1, 0.2, 0.3), "0.2", [0.1, "a"]])
def test_random_rotation_refuses_bad_factors(factor):
    with pytest.raises(ValueError, match=r"RandomRotation: factor must be .* \[-1, 1\].*Received: factor="):
        RandomRotation(factor)


def test_factor_rules_follow_keras():
    assert RandomRotation(0.2).factor == (-0.2, 0.2)
    assert RandomRotation((0.3, -0.1)).factor == (-0.1, 0.3)  # a pair is sorted
    assert RandomRotation((-5, 0.5)).factor == (-5, 0.5)  # Keras only tests the first against 1, the second against -1
    assert RandomRotation(0).factor == (0.0, 0.0)
    assert RandomContrast(0.3).factor == (0, 0.3)  # lower bound 0: the contrast only increases
    assert RandomBrightness(-0.4).factor == (-0.4, 0.4)
    assert RandomBrightness(0.1, value_range=(255, 0)).value_range == [0, 255]
    assert RandomZoom(1.0).height_factor == 1.0
    assert RandomTranslation(-1.0, (1.0, -0.5)).width_lower == -0.5


@pytest.mark.parametrize("layer_class, kwargs, message", [
    (RandomContrast, {"factor": -0.1}, r"RandomContrast: factor .* \[0, 1\]"),
    (RandomContrast, {"factor": 1.5}, r"RandomContrast: factor"),
    (RandomContrast, {"factor": None}, r"Received: factor=None"),
    (RandomBrightness, {"factor": 2}, r"RandomBrightness: factor"),
    (RandomBrightness, {"factor": 0.2, "value_range": 5}, r"value_range must be a list of two numbers"),
    (RandomBrightness, {"factor": 0.2, "value_range": (0, 1, 2)}, r"Received: value_range=\(0, 1, 2\)"),
    (RandomContrast, {"factor": 0.2, "value_range": "0-255"}, r"RandomContrast: value_range"),
    (RandomZoom, {"height_factor": -1.0}, r"RandomZoom: height_factor .* \(-1, 1\]"),
    (RandomZoom, {"height_factor": 1.5}, r"Received: height_factor=1.5"),
    (RandomZoom, {"height_factor": 0.1, "width_factor": (0.1, -1.0)}, r"width_factor"),
    (RandomZoom, {"height_factor": (0.1, 0.2, 0.3)}, r"height_factor"),
    (RandomTranslation, {"height_factor": 1.1, "width_factor": 0.1}, r"RandomTranslation: height_factor .* \[-1, 1\]"),
    (RandomTranslation, {"height_factor": 0.1, "width_factor": (-1.2, 0)}, r"width_factor=\(-1.2, 0\)"),
    (RandomTranslation, {"height_factor": 0.1, "width_factor": "wide"}, r"width_factor='wide'"),
    (RandomFlip, {"mode": "diagonal"}, r"RandomFlip: mode must be one of .*Received: mode='diagonal'"),
    (Resizing, {"height": 4, "width": 4, "interpolation": "cubic"}, r"Resizing: interpolation must be one of"),
    (Resizing, {"height": 4, "width": 4, "fill_mode": "reflect"}, r"Resizing: fill_mode must be 'constant'"),
    (Resizing, {"height": 4, "width": 4, "crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True},
     r"cannot both be True"),
    (Resizing, {"height": 0, "width": 4}, r"Resizing: height must be a positive int. Received: height=0"),
    (CenterCrop, {"height": 3, "width": 2.5}, r"CenterCrop: width must be a positive int"),
    (RandomCrop, {"height": 3, "width": 3, "data_format": "NHWC"}, r"RandomCrop: data_format must be"),
])
def test_bad_arguments_raise_naming_the_layer(layer_class, kwargs, message):
    with pytest.raises(ValueError, match=message):
        layer_class(**kwargs)


@pytest.mark.parametrize("layer_class, kwargs", [
    (RandomRotation, {"factor": 0.1}), (RandomZoom, {"height_factor": 0.1}),
    (RandomTranslation, {"height_factor": 0.1, "width_factor": 0.1}),
])
def test_warping_layers_refuse_unknown_fill_mode_and_interpolation(layer_class, kwargs):
    # Keras raises NotImplementedError for these two arguments.
    with pytest.raises(NotImplementedError, match=rf"{layer_class.__name__}: unknown fill_mode 'mirror'"):
        layer_class(**kwargs, fill_mode="mirror")
    with pytest.raises(NotImplementedError, match=r"unknown interpolation 'bicubic'.*\('nearest', 'bilinear'\)"):
        layer_class(**kwargs, interpolation="bicubic")


@pytest.mark.parametrize("layer", [
    RandomFlip(), RandomRotation(0.1), RandomContrast(0.1), Resizing(2, 2), CenterCrop(2, 2), RandomCrop(2, 2),
])
def test_a_wrong_rank_names_the_layer_and_the_shape(layer):
    with pytest.raises(ValueError, match=rf"{type(layer).__name__} '{layer.name}': expected images of rank 3 .* "
                                         r"Received: input with shape \(5, 6\)"):
        layer(np.ones((5, 6), "float32"), training=True)
    with pytest.raises(ValueError, match=r"shape \(1, 2, 5, 6, 3\)"):
        layer.compute_output_shape((1, 2, 5, 6, 3))


def test_the_kernels_refuse_bad_arguments():
    images = np.ones((2, 5, 6, 3), "float32")
    with pytest.raises(ValueError, match=r"resize: expected images of rank 3 .* Received: images with shape \(5, 6\)"):
        image_ops.resize(np.ones((5, 6)), (2, 2))
    with pytest.raises(ValueError, match=r"resize: size must be \(height, width\).*Received: size=\(2, 0\)"):
        image_ops.resize(images, (2, 0))
    with pytest.raises(ValueError, match=r"resize: interpolation must be one of .*'lanczos5'\). Received: interpolation='cubic'"):
        image_ops.resize(images, (2, 2), interpolation="cubic")
    with pytest.raises(ValueError, match=r"resize: fill_mode must be 'constant'"):
        image_ops.resize(images, (2, 2), pad_to_aspect_ratio=True, fill_mode="reflect")
    with pytest.raises(TypeError, match=r"resize: expected numeric images .* bool"):
        image_ops.resize(images > 0, (2, 2))
    with pytest.raises(ValueError, match=r"affine_transform: transform must have shape \(8,\) or \(batch, 8\).*\(2, 6\)"):
        image_ops.affine_transform(images, np.zeros((2, 6)))
    with pytest.raises(ValueError, match=r"one transform for all images or one per image \(2\). Received: 3"):
        image_ops.affine_transform(images, np.zeros((3, 8)))
    with pytest.raises(ValueError, match=r"affine_transform: fill_mode must be one of .*Received: fill_mode='mirror'"):
        image_ops.affine_transform(images, np.eye(3).reshape(-1)[:8], fill_mode="mirror")
    with pytest.raises(ValueError, match=r"data_format must be 'channels_last' or 'channels_first'"):
        image_ops.affine_transform(images, np.eye(3).reshape(-1)[:8], data_format="NCHW")


def test_integer_images_cannot_be_adjusted_in_colour_while_training():
    images = np.full((2, 4, 4, 3), 100, "uint8")
    for layer in (RandomContrast(0.3), RandomBrightness(0.3)):
        with pytest.raises(TypeError, match=rf"{type(layer).__name__} '{layer.name}': integer images .*Cast them to "
                                            r"float first.*Received: images of dtype uint8"):
            layer(images, training=True)
        same = layer(images, training=False)  # at inference they pass, unchanged, as in Keras
        assert same.dtype == np.uint8 and np.array_equal(same, images)


# --------------------------------------------------------------- inference
@pytest.mark.parametrize("layer_class, kwargs", RANDOM_LAYERS + [(RandomCrop, {"height": 5, "width": 6})],
                         ids=lambda value: getattr(value, "__name__", ""))
def test_random_layers_are_the_identity_at_inference(layer_class, kwargs, rng):
    images = _images(rng)
    layer = layer_class(**kwargs, seed=3)
    outputs = layer(images, training=False)
    np.testing.assert_array_equal(outputs, images)
    # ... and they change the images while training (the same layer, the same images).
    trained = layer(images, training=True)
    assert trained.shape != images.shape or not np.allclose(trained, images)


def test_inference_transformations_are_keras_s(rng):
    images = _images(rng)
    for layer in (RandomFlip(), RandomRotation(0.1), RandomZoom(0.1), RandomTranslation(0.1, 0.1)):
        assert layer.get_random_transformation(images, training=False) is None
    np.testing.assert_array_equal(RandomContrast(0.1).get_random_transformation(images, training=False)
                                  ["contrast_factor"], np.zeros((4, 1, 1, 1)))
    np.testing.assert_array_equal(RandomBrightness(0.1).get_random_transformation(images[0], training=False)
                                  ["rgb_delta"], np.zeros((1, 1, 1)))
    # The centred window of aspect 3:5 (6 x 10 in a 9 x 10 image) starts at row 1.
    assert RandomCrop(3, 5).get_random_transformation(images, training=False) == (1, 0)
    assert Resizing(3, 3).get_random_transformation(images) == (9, 10)
    assert CenterCrop(3, 3).get_random_transformation(images) == {"input_shape": (4, 9, 10, 3)}


def test_random_crop_returns_its_input_unchanged_at_inference_as_keras_does(rng):
    layer = RandomCrop(4, 5, seed=1)
    for images in (_images(rng).astype("float64"), (_images(rng)).astype("uint8")):
        outputs = layer(images, training=False)
        assert outputs.dtype == images.dtype and outputs.shape == images.shape
    assert layer.compute_output_shape((None, 9, 10, 3)) == (None, 4, 5, 3)
    assert layer(_images(rng), training=True).shape == (4, 4, 5, 3)


def test_a_call_without_training_augments_as_in_keras(rng):
    images = _images(rng, (16, 5, 6, 1))
    assert not np.allclose(RandomFlip(seed=2)(images), images)
    assert Resizing(3, 3)(images).shape == (16, 3, 3, 1)  # deterministic layers ignore training


def test_integer_images_follow_keras_dtypes(rng):
    images = (rng.random((2, 6, 8, 3)) * 255).astype("uint8")
    resized = Resizing(3, 4)(images)
    assert resized.dtype == np.uint8
    np.testing.assert_array_equal(resized, np.rint(Resizing(3, 4)(images.astype("float32"))).astype("uint8"))
    assert Rescaling(1 / 255)(images).dtype == np.float32
    assert CenterCrop(3, 3)(images).dtype == np.float32
    assert RandomFlip()(images, training=False).dtype == np.float32
    assert RandomRotation(0.1)(images, training=True).dtype == np.float32
    assert RandomCrop(3, 3)(images, training=True).dtype == np.float32


# ------------------------------------------------------------ determinism
@pytest.mark.parametrize("layer_class, kwargs", RANDOM_LAYERS + [(RandomCrop, {"height": 5, "width": 6})],
                         ids=lambda value: getattr(value, "__name__", ""))
def test_a_seed_fixes_the_draws(layer_class, kwargs, rng):
    images = _images(rng, (8, 9, 10, 3))
    first, second = layer_class(**kwargs, seed=11), layer_class(**kwargs, seed=11)
    a1, b1 = first(images, training=True), second(images, training=True)
    a2, b2 = first(images, training=True), second(images, training=True)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)  # a new draw at every call
    # An explicit seed to get_random_transformation gives the same draw every time.
    pinned = [first.get_random_transformation(images, training=True, seed=5) for _ in range(2)]
    assert repr(pinned[0]) == repr(pinned[1])


def test_set_random_seed_makes_unseeded_layers_repeat(rng):
    images = _images(rng)
    runs = []
    for _ in range(2):
        cl.utils.set_random_seed(42)
        runs.append(RandomRotation(0.3)(images, training=True))
    np.testing.assert_array_equal(*runs)


# ------------------------------------------------------------- statistics
def test_random_flip_flips_about_half_the_images(rng):
    images = rng.standard_normal((4000, 2, 3, 1)).astype("float32")
    outputs = RandomFlip("horizontal", seed=0)(images, training=True)
    flipped = np.all(outputs == images[:, :, ::-1], axis=(1, 2, 3))
    kept = np.all(outputs == images, axis=(1, 2, 3))
    assert np.all(flipped ^ kept)
    assert 0.46 < flipped.mean() < 0.54  # 4000 fair coins: 0.5 +- 0.008 (one standard deviation)
    # horizontal_and_vertical: one draw per image flips both axes together (Keras 3).
    outputs = RandomFlip(seed=1)(images, training=True)
    both = np.all(outputs == images[:, ::-1, ::-1], axis=(1, 2, 3))
    assert np.all(both ^ np.all(outputs == images, axis=(1, 2, 3)))
    assert 0.46 < both.mean() < 0.54


@pytest.mark.parametrize("factor, bounds", [(0.1, (-36, 36)), ((-0.25, 0.05), (-90, 18)), ((0.5, 0.5), (180, 180))])
def test_rotation_angles_stay_in_the_factor_range(factor, bounds):
    layer = RandomRotation(factor, seed=4)
    data = np.zeros((5000, 4, 4, 1), "float32")
    angles = backend.to_numpy(layer.get_random_transformation(data)["angle"])
    low, high = bounds
    assert np.all(angles >= low - 1e-4) and np.all(angles <= high + 1e-4)
    if low < high:  # uniform: reaches near both ends, centred
        spread = high - low
        assert angles.min() < low + 0.01 * spread and angles.max() > high - 0.01 * spread
        assert abs(angles.mean() - (low + high) / 2) < 0.02 * spread


def test_a_quarter_turn_rotates_the_pixels_counter_clockwise():
    image = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    layer = _pinned(RandomRotation, {"rotation_matrix": rotation_transforms([90.0], 4, 4)}, factor=0.25)
    turned = layer(image, training=True)[0, ..., 0]
    np.testing.assert_allclose(turned, np.rot90(image[0, ..., 0], k=1), atol=1e-5)


def test_other_draws_stay_in_their_ranges(rng):
    data = np.zeros((3000, 10, 20, 1), "float32")
    zoom = RandomZoom((-0.2, 0.3), (0.1, 0.4), seed=1).get_random_transformation(data)
    assert 0.8 <= zoom["height_zoom"].min() and zoom["height_zoom"].max() < 1.3
    assert 1.1 <= zoom["width_zoom"].min() and zoom["width_zoom"].max() < 1.4
    same = RandomZoom(0.2, seed=1).get_random_transformation(data)
    np.testing.assert_array_equal(same["height_zoom"], same["width_zoom"])  # width_factor=None keeps the aspect ratio
    shift = RandomTranslation((0.0, 0.5), -0.1, seed=1).get_random_transformation(data)["translations"]
    assert np.all((shift[:, 1] >= 0) & (shift[:, 1] < 5)) and np.all(np.abs(shift[:, 0]) <= 2)
    contrast = RandomContrast((0.2, 0.6), seed=1).get_random_transformation(data)["contrast_factor"]
    assert contrast.shape == (3000, 1, 1, 1) and 0.8 <= contrast.min() and contrast.max() < 1.6
    delta = RandomBrightness(0.1, value_range=(0, 1), seed=1).get_random_transformation(data)["rgb_delta"]
    assert np.all(np.abs(delta) <= 0.1)
    starts = [RandomCrop(4, 15, seed=s).get_random_transformation(data) for s in range(300)]
    assert {top for top, _ in starts} == set(range(7)) and {left for _, left in starts} == set(range(6))


def test_random_crop_falls_back_to_the_centred_aspect_window(rng):
    layer = RandomCrop(8, 8)
    # Larger on one axis only: Keras's rule does not draw; it starts where the centred 5x5 window would.
    assert layer.get_random_transformation(np.zeros((1, 10, 5, 1)), training=True) == (2, 0)
    outputs = layer(_images(rng, (1, 10, 5, 1)), training=True)
    assert outputs.shape == (1, 8, 8, 1)


def test_center_crop_takes_the_middle_and_resizes_small_images(rng):
    images = _images(rng, (2, 7, 8, 3))
    np.testing.assert_array_equal(CenterCrop(3, 4)(images), images[:, 2:5, 2:6])
    small = CenterCrop(9, 4)(images)  # too short: crop to the 9:4 aspect ratio, then resize
    np.testing.assert_allclose(small, image_ops.resize(images[:, :, 2:5], (9, 4)), rtol=1e-6)


# ------------------------------------------------------------------ kernels
@pytest.mark.parametrize("interpolation", image_ops.RESIZE_INTERPOLATIONS)
@pytest.mark.parametrize("antialias", [False, True])
def test_resize_backward_is_the_adjoint_of_the_forward(interpolation, antialias, rng):
    """<resize(x), dy> == <x, resize_backward(dy)> for every method, up and down, with crop and pad."""
    for size, kwargs in [((4, 11), {}), ((13, 3), {"crop_to_aspect_ratio": True}),
                         ((6, 6), {"pad_to_aspect_ratio": True})]:
        x = rng.standard_normal((2, 7, 9, 3))
        y, cache = image_ops.resize_forward(x, size, interpolation, antialias, **kwargs)
        dy = rng.standard_normal(y.shape)
        dx = image_ops.resize_backward(dy, cache)
        assert dx.shape == x.shape
        np.testing.assert_allclose(np.sum(y * dy), np.sum(x * dx), rtol=1e-10)


def test_resize_interpolations_on_known_values():
    row = np.array([0.0, 10.0, 20.0, 30.0]).reshape(1, 1, 4, 1)
    # Half-pixel centres: the 8 outputs sample at -0.25, 0.25, ..., 3.25 (clamped at the ends).
    np.testing.assert_allclose(image_ops.resize(row, (1, 8))[0, 0, :, 0], [0, 2.5, 7.5, 12.5, 17.5, 22.5, 27.5, 30])
    # Nearest: floor((o + 0.5) * 4/8) -> 0 0 1 1 2 2 3 3; shrinking 4 -> 3: floor(0.67, 2, 3.33) -> 0 2 3.
    np.testing.assert_array_equal(image_ops.resize(row, (1, 8), "nearest")[0, 0, :, 0], [0, 0, 10, 10, 20, 20, 30, 30])
    np.testing.assert_array_equal(image_ops.resize(row, (1, 3), "nearest")[0, 0, :, 0], [0, 20, 30])
    np.testing.assert_allclose(image_ops.resize(row, (1, 2), "area")[0, 0, :, 0], [5, 25])
    np.testing.assert_allclose(image_ops.resize(np.ones((5, 7, 2)), (3, 11), "bicubic"), 1.0, rtol=1e-6)
    np.testing.assert_allclose(image_ops.resize(np.ones((5, 7, 2)), (3, 11), "lanczos5", antialias=True), 1.0,
                               rtol=1e-6)


@pytest.mark.parametrize("interpolation", image_ops.AFFINE_INTERPOLATIONS)
@pytest.mark.parametrize("fill_mode", image_ops.FILL_MODES)
def test_affine_backward_is_the_adjoint_of_the_forward(interpolation, fill_mode, rng):
    x = rng.standard_normal((3, 6, 7, 2))
    angle = np.array([0.4, -1.1, 2.5])
    transform = np.stack([1.2 * np.cos(angle), -np.sin(angle) + 0.3, [1.5, -2, 8], np.sin(angle),
                          0.8 * np.cos(angle), [0.5, 3, -9], [0, 0.01, 0], [0, 0, -0.02]], axis=1)
    y, cache = image_ops.affine_transform_forward(x, transform, interpolation, fill_mode, fill_value=0.5)
    dy = rng.standard_normal(y.shape)
    dx = image_ops.affine_transform_backward(dy, cache)
    # The fill value is a constant, not a function of x: remove its share before comparing.
    y0, _ = image_ops.affine_transform_forward(np.zeros_like(x), transform, interpolation, fill_mode, fill_value=0.5)
    np.testing.assert_allclose(np.sum((y - y0) * dy), np.sum(x * dx), rtol=1e-9)


def test_fill_modes_on_one_row():
    row = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 4, 1)

    def shifted(fill_mode, shift):
        transform = [1, 0, shift, 0, 1, 0, 0, 0]  # output column x reads input column x + shift
        return image_ops.affine_transform(row, transform, "nearest", fill_mode, fill_value=9.0)[0, 0, :, 0]

    np.testing.assert_array_equal(shifted("constant", 2), [3, 4, 9, 9])
    np.testing.assert_array_equal(shifted("nearest", 2), [3, 4, 4, 4])
    np.testing.assert_array_equal(shifted("reflect", 2), [3, 4, 4, 3])   # d c b a | a b c d | d c b a
    np.testing.assert_array_equal(shifted("reflect", -3), [3, 2, 1, 1])
    np.testing.assert_array_equal(shifted("wrap", 2), [3, 4, 1, 2])      # a b c d | a b c d
    np.testing.assert_array_equal(shifted("wrap", -1), [4, 1, 2, 3])
    # Nearest rounds halves away from zero (C's round), not to even: 0.5 -> 1, 1.5 -> 2, 2.5 -> 3.
    np.testing.assert_array_equal(shifted("nearest", 0.5), [2, 3, 4, 4])


# ---------------------------------------------------------------- gradients
def _check(layer, x, **kwargs):
    assert_gradients_close(layer, x, training=True, **kwargs)


def test_rescaling_gradients(rng):
    # The map is affine, so a larger step is exact and keeps rounding noise off the small entries.
    with backend.floatx_scope("float64"):
        _check(Rescaling(1 / 127.5, offset=-1), rng.random((2, 3, 4, 3)), epsilon=1e-3)
        _check(Rescaling(np.array([0.5, 2.0, -1.0]), offset=np.array([1.0, 0.0, 3.0])), rng.random((2, 3, 4, 3)),
               epsilon=1e-3)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic", "area", "lanczos3"])
@pytest.mark.parametrize("size, kwargs", [((4, 11), {}), ((11, 4), {"crop_to_aspect_ratio": True}),
                                          ((5, 5), {"pad_to_aspect_ratio": True, "fill_value": 2.0}),
                                          ((3, 2), {"antialias": True, "data_format": "channels_first"})])
def test_resizing_gradients(interpolation, size, kwargs, rng):
    # Nearest resizing is piecewise constant in the POSITION, but linear in the pixel values: exact gradients.
    with backend.floatx_scope("float64"):
        _check(Resizing(*size, interpolation=interpolation, **kwargs), rng.standard_normal((2, 7, 6, 3)))


@pytest.mark.parametrize("size", [(3, 4), (9, 4)], ids=["crop", "resize"])
@pytest.mark.parametrize("shape", [(2, 7, 8, 3), (7, 8, 2)], ids=["batch", "one-image"])
def test_center_crop_gradients(size, shape, rng):
    with backend.floatx_scope("float64"):
        _check(CenterCrop(*size), rng.standard_normal(shape))
        _check(CenterCrop(*size, data_format="channels_first"), rng.standard_normal(shape))


@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_random_flip_gradients(mode, rng):
    flips = np.array([True, False, True]).reshape(3, 1, 1, 1)
    with backend.floatx_scope("float64"):
        _check(_pinned(RandomFlip, {"flips": flips}, mode=mode), rng.standard_normal((3, 4, 5, 2)))
        _check(_pinned(RandomFlip, {"flips": np.ones((1, 1, 1), bool)}, mode=mode), rng.standard_normal((4, 5, 2)))


@pytest.mark.parametrize("size, start", [((4, 5), (2, 1)), ((9, 6), (0, 1))], ids=["crop", "crop-then-resize"])
def test_random_crop_gradients(size, start, rng):
    with backend.floatx_scope("float64"):
        _check(_pinned(RandomCrop, start, height=size[0], width=size[1]), rng.standard_normal((2, 7, 8, 3)))
        _check(_pinned(RandomCrop, start, height=size[0], width=size[1], data_format="channels_first"),
               rng.standard_normal((3, 7, 8)))


@pytest.mark.parametrize("fill_mode", image_ops.FILL_MODES)
@pytest.mark.parametrize("interpolation", image_ops.AFFINE_INTERPOLATIONS)
def test_warping_layer_gradients(fill_mode, interpolation, rng):
    x = rng.standard_normal((2, 6, 7, 2))
    options = {"fill_mode": fill_mode, "interpolation": interpolation, "fill_value": 0.5}
    rotation = RandomRotation(0.3, **options, seed=1).get_random_transformation(x)
    zoom = RandomZoom((-0.4, 0.4), 0.3, **options, seed=2).get_random_transformation(x)
    shift = RandomTranslation(0.3, 0.3, **options, seed=3).get_random_transformation(x)
    with backend.floatx_scope("float64"):
        _check(_pinned(RandomRotation, rotation, factor=0.3, **options), x)
        _check(_pinned(RandomZoom, zoom, height_factor=0.4, **options), x)
        _check(_pinned(RandomTranslation, shift, height_factor=0.3, width_factor=0.3, **options), x)


def test_colour_layer_gradients(rng):
    x = rng.random((3, 5, 6, 2))
    contrast = {"contrast_factor": np.array([1.4, 0.7, 1.9]).reshape(3, 1, 1, 1)}
    brightness = {"rgb_delta": np.array([0.2, -0.3, 0.05]).reshape(3, 1, 1, 1)}
    unit = {"value_range": (0, 1)}
    with backend.floatx_scope("float64"):
        layer = _pinned(RandomContrast, contrast, factor=0.9, **unit)
        assert np.any(layer(x, training=True) == 1)  # some values are clipped: their gradient is 0
        _check(layer, x)
        _check(_pinned(RandomContrast, contrast, factor=0.9, data_format="channels_first", **unit), x)
        _check(_pinned(RandomBrightness, brightness, factor=0.3, **unit), x)


def test_a_planted_bug_in_a_backward_pass_is_caught(rng, monkeypatch):
    """The checks above can fail: the adjoint with a mis-weighted tap does not pass."""
    original = image_ops.affine_transform_backward

    def wrong(output_grads, cache):
        return original(output_grads, dict(cache, interpolation="nearest"))  # the adjoint of another warp

    monkeypatch.setattr("course_lib.layers.preprocessing.affine_transform_backward", wrong)
    x = rng.standard_normal((1, 5, 5, 1))
    with backend.floatx_scope("float64"):
        layer = _pinned(RandomRotation, {"rotation_matrix": rotation_transforms([30.0], 5, 5)}, factor=0.2)
        with pytest.raises(AssertionError, match="Gradient check failed"):
            _check(layer, x)


def test_a_model_trains_through_augmentation_and_resizing(rng):
    """Conv -> Resizing -> RandomFlip -> Flatten -> Dense: gradients reach the convolution correctly."""
    with backend.floatx_scope("float64"):
        inputs = cl.Input((6, 6, 1))
        hidden = cl.layers.Conv2D(2, 3, padding="same")(inputs)
        hidden = Resizing(3, 4)(hidden)
        hidden = _pinned(RandomFlip, {"flips": np.array([True, False]).reshape(2, 1, 1, 1)})(hidden)
        hidden = CenterCrop(2, 3)(hidden)
        outputs = cl.layers.Dense(1)(cl.layers.Flatten()(hidden))
        model = cl.Model(inputs, outputs)
        assert_gradients_close(model, rng.standard_normal((2, 6, 6, 1)), training=True)
    augment = cl.Sequential([cl.Input((8, 8, 3)), Rescaling(1 / 255), RandomFlip(seed=0), RandomRotation(0.1, seed=0),
                             RandomCrop(6, 6, seed=0), cl.layers.Flatten(), cl.layers.Dense(2, activation="softmax")])
    augment.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = augment.fit(_images(rng, (16, 8, 8, 3)), rng.integers(0, 2, 16), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_symbolic_shapes_and_config_round_trip():
    inputs = cl.Input((9, 10, 3))
    x = RandomCrop(4, 5)(Resizing(8, 9)(RandomFlip()(inputs)))
    assert x.shape == (None, 4, 5, 3)
    assert CenterCrop(2, 3, data_format="channels_first").compute_output_shape((3, 9, 9)) == (3, 2, 3)
    for layer in (Rescaling(np.array([1.0, 2.0], "float32"), 0.5), Resizing(3, 4, "bicubic", pad_to_aspect_ratio=True),
                  RandomRotation((-0.1, 0.2), fill_mode="constant", seed=3), RandomZoom(0.2, (0.1, 0.3)),
                  RandomBrightness(0.2, value_range=(1, 0)), RandomContrast(0.4), RandomCrop(3, 3)):
        config = layer.get_config()
        rebuilt = type(layer).from_config(config)
        assert rebuilt.get_config() == config
        assert cl.layers.deserialize(cl.layers.serialize(layer)).get_config() == config


def test_the_kernels_and_layers_give_the_same_numbers_strictly(rng):
    """Under the strict stand-in for CuPy: no NumPy-only call, no host number taken from a device array."""
    images = rng.standard_normal((2, 7, 8, 3)).astype("float32")
    transform = np.array([[0.9, 0.3, 1.0, -0.2, 1.1, -1.0, 0.01, 0.0]] * 2, "float32")

    def workflow():
        results = []
        for method in image_ops.RESIZE_INTERPOLATIONS:
            out, cache = image_ops.resize_forward(backend.xp.asarray(images), (5, 11), method, antialias=True)
            results += [out, image_ops.resize_backward(out, cache)]
        out, cache = image_ops.resize_forward(backend.xp.asarray(images), (9, 4), pad_to_aspect_ratio=True)
        results += [out, image_ops.resize_backward(out, cache)]
        for fill_mode in image_ops.FILL_MODES:
            out, cache = image_ops.affine_transform_forward(backend.xp.asarray(images), backend.xp.asarray(transform),
                                                            fill_mode=fill_mode)
            results += [out, image_ops.affine_transform_backward(out, cache)]
        x = backend.xp.asarray(images * 100)
        for layer in (RandomFlip(seed=1), RandomRotation(0.2, seed=1), RandomZoom(0.2, seed=1),
                      RandomTranslation(0.2, 0.2, seed=1), RandomContrast(0.3, seed=1), RandomBrightness(0.3, seed=1),
                      RandomCrop(4, 5, seed=1), CenterCrop(3, 3), CenterCrop(9, 3), Resizing(4, 4), Rescaling(0.5)):
            out = layer(x, training=True)
            results += [out, layer.backward(out)]
        return [backend.to_numpy(value) for value in results]

    assert_same_numbers_strictly(workflow)
