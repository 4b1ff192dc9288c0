"""ImageDataGenerator through Keras and course_lib: the same warps, draws, statistics and batches.

Keras 3 (``tf.keras``) still ships Keras 2's ``keras.preprocessing.image``; its
warp is ``scipy.ndimage.affine_transform`` per channel per image, course_lib's
one vectorised NumPy gather per batch (:func:`affine_transform_batch`).

Tolerances, and why:

* ``order=0`` (nearest neighbour) and every fill mode: bit for bit. Where an
  output pixel reads is computed with SciPy's float64 arithmetic in SciPy's
  order (the matrix products in Keras's order, ``offset + row*m0 + col*m1``,
  SciPy's folding at the borders), so the same input pixel is chosen.
* ``order=1`` (bilinear): ``atol = 4e-5`` on float32 images with values in
  0..255 (that is 2**-15 · 1.3, a little over the float32 spacing at 255, 2**-16;
  relative to the scale about 1.6e-7), no ``rtol``. Same neighbours,
  same float64 weights; the difference is only the last step: SciPy sums
  ``(v · w_row) · w_col`` over the four neighbours in float64 and rounds once to
  float32, course_lib multiplies the float32 values by float32 ``w_row · w_col``
  and sums in float32 (three times faster for the batch). The measured worst
  case over these tests is 3.05e-5 (two float32 steps at 255); a wrong
  neighbour or weight would be off by whole pixel values.
  After ``rescale=1/255`` the bound becomes ``2.5e-7``: ``4e-5 / 255`` plus
  the rescaling's own float32 rounding near 1.
* Everything random: equal. With a seed, course_lib draws from
  ``numpy.random.RandomState`` in Keras's order (re-seeded with
  ``seed + total_batches_seen`` before each batch), so the parameters, the
  shuffled order and hence the augmented batches are Keras's.
* ``fit``'s statistics: the same NumPy reductions and the same LAPACK SVD on
  the same float32 data, so mean, std and the ZCA matrix agree to 1e-6 relative.
"""
import itertools
import warnings

import numpy as np
import pytest
from PIL import Image

import course_lib as cl
from course_lib.datasets.image_folder import make_digit_folder
from course_lib.preprocessing import image as augmentation
from course_lib.preprocessing.image import ImageDataGenerator

tf = pytest.importorskip("tensorflow")
keras = tf.keras
KerasGenerator = keras.preprocessing.image.ImageDataGenerator

pytestmark = pytest.mark.parity

MODES = ("nearest", "constant", "reflect", "wrap")
BILINEAR_ATOL = 4e-5  # on 0..255 float32 images: see the module's docstring
RESCALED_ATOL = 2.5e-7  # the same after rescale=1/255: 4e-5 / 255 plus the multiplication's own float32 rounding

PARAMETERS = [
    {"theta": 33.0},
    {"tx": 2.5, "ty": -4.25},
    {"shear": 17.0, "zx": 0.7, "zy": 1.4},
    {"theta": -150.0, "tx": -1.0, "ty": 6.0, "shear": -25.0, "zx": 1.9, "zy": 0.55},
    {"zx": 0.5, "zy": 0.5},  # zooming in: every read inside the image
    {"theta": 90.0, "tx": 30.0},  # reads far outside: the folding rules several periods away
]


def _pixels(rng, shape):
    return (rng.random(shape) * 255).astype("float32")


def _assert_close(received, expected, order):
    if order == 0:
        np.testing.assert_array_equal(received, expected)
    else:
        np.testing.assert_allclose(received, expected, rtol=0, atol=BILINEAR_ATOL)


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("fill_mode", MODES)
def test_apply_affine_transform_matches_keras(fill_mode, order, rng):
    image = _pixels(rng, (11, 14, 3))  # not square: the centring quirk and the axis order both show
    for parameters in PARAMETERS:
        for axes, x in (({"row_axis": 0, "col_axis": 1, "channel_axis": 2}, image),
                        ({"row_axis": 1, "col_axis": 2, "channel_axis": 0}, image.transpose(2, 0, 1))):
            expected = keras.preprocessing.image.apply_affine_transform(
                x, fill_mode=fill_mode, cval=17.0, order=order, **axes, **parameters)
            received = augmentation.apply_affine_transform(x, fill_mode=fill_mode, cval=17.0, order=order,
                                                           **axes, **parameters)
            assert received.dtype == expected.dtype and received.shape == expected.shape
            _assert_close(received, expected, order)


@pytest.mark.parametrize("order", [0, 1])
def test_the_batched_warp_matches_keras_image_by_image(order, rng):
    images = _pixels(rng, (16, 20, 20, 3))
    draws = [dict(theta=rng.uniform(-40, 40), tx=rng.uniform(-4, 4), ty=rng.uniform(-4, 4),
                  shear=rng.uniform(-20, 20), zx=rng.uniform(0.8, 1.2), zy=rng.uniform(0.8, 1.2)) for _ in range(16)]
    matrices = np.stack([augmentation.affine_matrix(**d, height=20, width=20) for d in draws])
    for fill_mode in MODES:
        batch = augmentation.affine_transform_batch(images, matrices, fill_mode=fill_mode, cval=3.0, order=order)
        expected = np.stack([
            keras.preprocessing.image.apply_affine_transform(images[n], row_axis=0, col_axis=1, channel_axis=2,
                                                             fill_mode=fill_mode, cval=3.0, order=order, **draws[n])
            for n in range(16)
        ])
        _assert_close(batch, expected, order)


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("fill_mode", MODES)
def test_apply_transform_matches_keras(fill_mode, order, rng):
    image = _pixels(rng, (13, 10, 3))
    options = {"fill_mode": fill_mode, "cval": 40.0, "interpolation_order": order}
    theirs, ours = KerasGenerator(**options), ImageDataGenerator(**options)
    cases = [
        {"theta": 20.0, "tx": 1.5, "ty": -2.0, "shear": 8.0, "zx": 1.1, "zy": 0.9, "flip_horizontal": 1},
        {"theta": -70.0, "flip_vertical": True, "channel_shift_intensity": 25.0},
        {"zx": 1.3, "zy": 1.3, "brightness": 0.6},
        {"tx": -3.0, "flip_horizontal": 1, "flip_vertical": 1, "channel_shift_intensity": -60.0, "brightness": 1.4},
        {},
    ]
    for parameters in cases:
        expected = theirs.apply_transform(image, parameters)
        received = ours.apply_transform(image, parameters)
        if "brightness" in parameters:
            np.testing.assert_array_equal(received, expected)  # 8-bit Pillow round trip: the same levels
        else:
            _assert_close(received, expected, order)


CONFIGURATIONS = [
    {"rotation_range": 40, "width_shift_range": 0.2, "height_shift_range": 0.2, "shear_range": 0.2,
     "zoom_range": 0.2, "horizontal_flip": True},
    {"width_shift_range": 3, "height_shift_range": [1, 4, 0.5], "zoom_range": [0.5, 1.5], "vertical_flip": True,
     "channel_shift_range": 10.0, "brightness_range": [0.2, 1.8]},
    {"height_shift_range": [0.1, 0.3], "width_shift_range": 1.5, "rotation_range": 5},
    {"samplewise_center": True, "samplewise_std_normalization": True},  # no warp: per-image statistics of a batch
]


@pytest.mark.parametrize("configuration", range(len(CONFIGURATIONS)))
def test_get_random_transform_draws_keras_values_for_every_seed(configuration):
    settings = CONFIGURATIONS[configuration]
    theirs, ours = KerasGenerator(**settings), ImageDataGenerator(**settings)
    for seed in range(60):
        expected = theirs.get_random_transform((24, 32, 3), seed=seed)
        received = ours.get_random_transform((24, 32, 3), seed=seed)
        assert received.keys() == expected.keys()
        for key in expected:
            assert received[key] == expected[key], (seed, key)


def test_unseeded_draws_have_keras_ranges_and_means():
    """Independent streams (Keras's global NumPy state, course_lib's own generator): the same distributions."""
    settings = {"rotation_range": 30, "width_shift_range": 0.25, "height_shift_range": 5, "shear_range": 12,
                "zoom_range": [0.6, 1.2], "horizontal_flip": True, "channel_shift_range": 20.0,
                "brightness_range": (0.5, 1.5)}
    theirs, ours = KerasGenerator(**settings), ImageDataGenerator(**settings)
    np.random.seed(0)
    count = 3000
    expected = [theirs.get_random_transform((40, 60, 3)) for _ in range(count)]
    received = [ours.get_random_transform((40, 60, 3)) for _ in range(count)]
    for key in ("theta", "tx", "ty", "shear", "zx", "zy", "flip_horizontal", "channel_shift_intensity", "brightness"):
        a = np.array([draw[key] for draw in expected], dtype=float)
        b = np.array([draw[key] for draw in received], dtype=float)
        spread = np.sqrt((a.var() + b.var()) / count)
        assert abs(a.mean() - b.mean()) < 5 * spread + 1e-12, key
        assert abs(a.std() - b.std()) < 0.1 * a.std() + 1e-12, key
        assert a.min() <= b.min() + 0.05 * a.std() + 1e-12 and b.max() <= a.max() + 0.05 * a.std() + 1e-12, key
    assert set(np.unique([d["tx"] for d in received])) == set(np.unique([d["tx"] for d in expected]))


def _both(settings):
    """Keras's generator and course_lib's; the overriding warnings (unit-tested) are not the point here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return KerasGenerator(**settings), ImageDataGenerator(**settings)


def test_fit_statistics_and_standardize_match_keras(rng):
    x = _pixels(rng, (30, 5, 4, 3))
    for settings in ({"featurewise_center": True, "featurewise_std_normalization": True, "rescale": 1 / 255},
                     {"zca_whitening": True, "zca_epsilon": 1e-3},
                     {"samplewise_center": True, "samplewise_std_normalization": True, "rescale": 0.5}):
        theirs, ours = _both(settings)
        theirs.fit(x)
        ours.fit(x)
        for name in ("mean", "std", "zca_whitening_matrix"):
            expected, received = getattr(theirs, name), getattr(ours, name)
            if expected is None:
                assert received is None, name
            else:
                assert received.shape == expected.shape and received.dtype == expected.dtype, name
                np.testing.assert_allclose(received, expected, rtol=1e-6, atol=1e-7, err_msg=name)
        for image in x[:3]:
            np.testing.assert_allclose(ours.standardize(image.copy()), theirs.standardize(image.copy()),
                                       rtol=1e-6, atol=1e-6)


def test_fit_with_augmentation_matches_keras_for_a_seed(rng):
    x = _pixels(rng, (8, 9, 9, 1))
    theirs, ours = _both({"featurewise_center": True, "featurewise_std_normalization": True, "rotation_range": 60,
                          "zoom_range": 0.3, "interpolation_order": 0})
    theirs.fit(x, augment=True, rounds=2, seed=3)
    ours.fit(x, augment=True, rounds=2, seed=3)
    np.testing.assert_allclose(ours.mean, theirs.mean, rtol=1e-6)
    np.testing.assert_allclose(ours.std, theirs.std, rtol=1e-6)


@pytest.mark.parametrize("configuration", range(len(CONFIGURATIONS)))
def test_flow_gives_keras_batches_for_a_seed(configuration, rng):
    settings = dict(CONFIGURATIONS[configuration], fill_mode=MODES[configuration % 4], rescale=1 / 255)
    x = _pixels(rng, (23, 15, 12, 3))
    y = np.arange(23) % 4
    weights = rng.random(23)
    theirs = KerasGenerator(**settings).flow(x, y, batch_size=5, seed=7, sample_weight=weights)
    ours = ImageDataGenerator(**settings).flow(x, y, batch_size=5, seed=7, sample_weight=weights)
    assert len(ours) == len(theirs) == 5
    # By index (what fit asks for), an epoch end, then the endless next() (Keras's own order of calls).
    requests = [lambda it, i=i: it[i] for i in range(5)] + [lambda it: it.on_epoch_end()]
    requests += [lambda it, i=i: it[i] for i in (3, 0)] + [lambda it: next(it)] * 6
    for request in requests:
        expected, received = request(theirs), request(ours)
        if expected is None:
            continue
        for part_expected, part_received in zip(expected, received):
            assert part_received.shape == part_expected.shape
            np.testing.assert_allclose(part_received, part_expected, rtol=0, atol=RESCALED_ATOL)


def test_flow_subsets_and_extra_inputs_match_keras(rng):
    x = _pixels(rng, (20, 6, 6, 1))
    y = np.arange(20) % 2
    extra = rng.random((20, 3))
    for subset in ("training", "validation"):
        theirs = KerasGenerator(validation_split=0.25).flow((x, extra), y, batch_size=4, shuffle=True, seed=1,
                                                            subset=subset)
        ours = ImageDataGenerator(validation_split=0.25).flow((x, extra), y, batch_size=4, shuffle=True, seed=1,
                                                              subset=subset)
        assert ours.n == theirs.n
        for index in range(len(theirs)):
            (their_inputs, their_y), (our_inputs, our_y) = theirs[index], ours[index]
            for a, b in zip(their_inputs, our_inputs):
                np.testing.assert_array_equal(b, a)
            np.testing.assert_array_equal(our_y, their_y)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    return {"rgb": make_digit_folder(root / "rgb", classes=(3, 1, 8), per_class=9, size=(18, 24), color_mode="rgb"),
            "grey": make_digit_folder(root / "grey", classes=(0, 5), per_class=7, size=(16, 16))}


@pytest.mark.parametrize("kind, options", [
    ("rgb", {"target_size": (18, 24)}),
    ("rgb", {"target_size": (12, 12), "interpolation": "bilinear", "class_mode": "sparse"}),
    ("rgb", {"target_size": (10, 20), "keep_aspect_ratio": True, "color_mode": "grayscale", "class_mode": "binary",
             "classes": ["8", "1"]}),
    ("grey", {"target_size": (16, 16), "color_mode": "rgba", "class_mode": "input"}),
    ("grey", {"target_size": (20, 20), "interpolation": "lanczos", "class_mode": None}),
])
def test_flow_from_directory_reads_what_keras_reads(folders, kind, options, capsys):
    for subset, split in ((None, 0.0), ("validation", 0.3), ("training", 0.3)):
        theirs = KerasGenerator(validation_split=split).flow_from_directory(
            folders[kind], batch_size=4, shuffle=False, subset=subset, **options)
        ours = ImageDataGenerator(validation_split=split).flow_from_directory(
            folders[kind], batch_size=4, shuffle=False, subset=subset, **options)
        printed = capsys.readouterr().out.splitlines()
        assert printed[0] == printed[1] and printed[0].startswith("Found ")
        assert ours.class_indices == theirs.class_indices and ours.filenames == theirs.filenames
        assert ours.filepaths == theirs.filepaths and ours.samples == theirs.samples
        np.testing.assert_array_equal(ours.classes, theirs.classes)
        assert len(ours) == len(theirs) and ours.image_shape == theirs.image_shape
        for index in range(len(theirs)):
            expected, received = theirs[index], ours[index]
            expected = expected if isinstance(expected, tuple) else (expected,)
            received = received if isinstance(received, tuple) else (received,)
            for a, b in zip(expected, received):
                assert b.shape == a.shape and b.dtype == a.dtype
                np.testing.assert_array_equal(b, a)


def test_flow_from_directory_augments_and_shuffles_as_keras_for_a_seed(folders):
    settings = {"rotation_range": 30, "zoom_range": 0.2, "horizontal_flip": True, "fill_mode": "reflect"}
    theirs = KerasGenerator(**settings).flow_from_directory(folders["rgb"], target_size=(18, 24), batch_size=6,
                                                            seed=5)
    ours = ImageDataGenerator(**settings).flow_from_directory(folders["rgb"], target_size=(18, 24), batch_size=6,
                                                              seed=5)
    for index in itertools.chain(range(len(theirs)), [1]):
        (their_x, their_y), (our_x, our_y) = theirs[index], ours[index]
        np.testing.assert_array_equal(our_y, their_y)
        np.testing.assert_allclose(our_x, their_x, rtol=0, atol=BILINEAR_ATOL)


def test_single_image_helpers_and_smart_resize_match_keras(rng):
    image = _pixels(rng, (12, 20, 3))
    legacy = keras.preprocessing.image
    np.testing.assert_array_equal(augmentation.apply_channel_shift(image, 30.0, channel_axis=2),
                                  legacy.apply_channel_shift(image, 30.0, channel_axis=2))
    for scale in (True, False):
        for x in (image, image - 100):  # inside 0..255, and outside (stretched there and back)
            np.testing.assert_allclose(augmentation.apply_brightness_shift(x, 1.3, scale),
                                       legacy.apply_brightness_shift(x, 1.3, scale), rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(augmentation.flip_axis(image, 1), image[:, ::-1])
    for size in ((8, 8), (6, 24), (30, 10)):
        for interpolation in ("bilinear", "nearest"):
            expected = legacy.smart_resize(image[None], size, interpolation=interpolation)
            np.testing.assert_array_equal(augmentation.smart_resize(image[None], size, interpolation=interpolation),
                                          np.asarray(expected))
            np.testing.assert_array_equal(augmentation.smart_resize(image, size, interpolation=interpolation),
                                          np.asarray(legacy.smart_resize(image, size, interpolation=interpolation)))


def test_image_files_load_and_save_as_keras(tmp_path, rng):
    colour = rng.integers(0, 256, (15, 22, 4)).astype("uint8")
    Image.fromarray(colour, "RGBA").save(tmp_path / "colour.png")
    Image.fromarray(colour[..., 0], "L").save(tmp_path / "grey.png")
    for name in ("colour.png", "grey.png"):
        for color_mode in ("rgb", "rgba", "grayscale"):
            for options in ({}, {"target_size": (9, 9)}, {"target_size": (7, 16), "interpolation": "bicubic"},
                            {"target_size": (10, 4), "keep_aspect_ratio": True, "interpolation": "lanczos"}):
                path = tmp_path / name
                expected = keras.utils.img_to_array(keras.utils.load_img(path, color_mode=color_mode, **options))
                received = cl.utils.img_to_array(cl.utils.load_img(path, color_mode=color_mode, **options))
                assert received.dtype == expected.dtype
                np.testing.assert_array_equal(received, expected)
    for x in (rng.standard_normal((5, 6, 3)), rng.random((5, 6, 1)) * 300, rng.random((4, 5, 4)) * 255):
        for scale in (True, False):
            for data_format in ("channels_last", "channels_first"):
                array = x if data_format == "channels_last" else x.transpose(2, 0, 1)
                expected = keras.utils.array_to_img(array, data_format=data_format, scale=scale)
                received = cl.utils.array_to_img(array, data_format=data_format, scale=scale)
                assert received.mode == expected.mode
                np.testing.assert_array_equal(np.asarray(received), np.asarray(expected))
        keras.utils.save_img(tmp_path / "keras.png", x)
        cl.utils.save_img(tmp_path / "ours.png", x)
        assert (tmp_path / "ours.png").read_bytes() == (tmp_path / "keras.png").read_bytes()
