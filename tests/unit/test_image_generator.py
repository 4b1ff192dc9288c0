"""Image augmentation and image files: course_lib.preprocessing.image, utils.image_utils, utils.image_dataset.

What Keras does with the same calls is compared in ``tests/parity/test_image_generator_parity.py``
and ``tests/parity/test_image_dataset_parity.py``; this file checks the rules on their own:
the warp against a slow per-pixel version of SciPy's documented rules and against hand-made
cases, the draws, the iterators' order, lengths and seeds, the folders (and the warning for a
broken file), training from an iterator, and the errors for bad input.
"""
import io
import math
import os
import warnings

import numpy as np
import pytest

import course_lib as cl
import course_lib.datasets.image_folder  # noqa: F401  (course_lib.datasets is not imported by course_lib)
from course_lib import layers
from course_lib.datasets.image_folder import make_digit_folder, sample_images
from course_lib.preprocessing import image as augmentation
from course_lib.preprocessing.image import ImageDataGenerator, affine_matrix, affine_transform_batch
from course_lib.utils import image_dataset_from_directory, image_utils

MODES = ("nearest", "constant", "reflect", "wrap")


def add_broken_files(folder):
    """Put unreadable files into a class folder: a text file named .png and a truncated PNG (plus a .txt, ignored)."""
    folder = os.fspath(folder)
    with open(os.path.join(folder, "zz_not_an_image.png"), "w") as handle:
        handle.write("this is text, not a picture")
    valid = sorted(name for name in os.listdir(folder) if name.endswith(".png") and not name.startswith("zz"))[0]
    with open(os.path.join(folder, valid), "rb") as handle:
        data = handle.read()
    with open(os.path.join(folder, "zz_truncated.png"), "wb") as handle:
        handle.write(data[: len(data) // 2])
    with open(os.path.join(folder, "notes.txt"), "w") as handle:
        handle.write("ignored: not an image extension")
    return ["zz_not_an_image.png", "zz_truncated.png"]


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    return make_digit_folder(tmp_path_factory.mktemp("digits"), classes=(0, 1, 2), per_class=10, size=(12, 10))


# ---------------------------------------------------------------- the warp, slowly, by the documented rules
def _fold(coordinate, length, mode):
    """Where a coordinate reads from (None: outside, cval): SciPy's rules as the docstring states them."""
    if 0 <= coordinate <= length - 1:
        return coordinate
    if mode == "constant":
        return None
    if mode == "nearest":
        return min(max(coordinate, 0.0), length - 1.0)
    if mode == "reflect":  # half-sample symmetric: mirror about -0.5 and length - 0.5
        folded = coordinate % (2 * length)
        return 2 * length - 1 - folded if folded > length - 0.5 else folded
    return coordinate % (length - 1)  # wrap, period length - 1


def _clamped(index, length):
    return min(max(index, 0), length - 1)


def naive_warp(image, matrix, fill_mode, cval, order):
    """One pixel at a time, in float64: the reference for the vectorised warp."""
    height, width, _ = image.shape
    out = np.empty(image.shape)
    for row in range(height):
        for col in range(width):
            x, y, _ = matrix @ np.array([col, row, 1.0])
            y, x = _fold(y, height, fill_mode), _fold(x, width, fill_mode)
            if y is None or x is None:
                out[row, col] = cval
            elif order == 0:
                out[row, col] = image[_clamped(math.floor(y + 0.5), height), _clamped(math.floor(x + 0.5), width)]
            else:
                top, left = math.floor(y), math.floor(x)
                dy, dx = y - top, x - left
                value = 0.0
                for r, wr in ((top, 1 - dy), (top + 1, dy)):
                    for c, wc in ((left, 1 - dx), (left + 1, dx)):
                        value = value + wr * wc * image[_clamped(r, height), _clamped(c, width)]
                out[row, col] = value
    return out


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("fill_mode", MODES)
def test_the_vectorised_warp_matches_the_per_pixel_rules(fill_mode, order, rng):
    images = rng.random((3, 7, 9, 2)).astype("float64")
    matrices = np.stack([
        affine_matrix(theta=rng.uniform(-180, 180), tx=rng.uniform(-6, 6), ty=rng.uniform(-6, 6),
                      shear=rng.uniform(-30, 30), zx=rng.uniform(0.4, 2.5), zy=rng.uniform(0.4, 2.5),
                      height=7, width=9)
        for _ in range(3)
    ])
    warped = affine_transform_batch(images, matrices, fill_mode=fill_mode, cval=-0.5, order=order)
    for n in range(3):
        np.testing.assert_allclose(warped[n], naive_warp(images[n], matrices[n], fill_mode, -0.5, order),
                                   rtol=0, atol=1e-12)


def test_the_boundary_rules_on_a_row_by_hand():
    """A row ``a b c d`` read at -2, -1, 4, 5 (order 0): the table of SciPy's modes."""
    row = np.array([10.0, 20.0, 30.0, 40.0]).reshape(1, 1, 4, 1)
    expected = {  # output columns 0 and 1 shifted by -2 read -2, -1; by +2, columns 2, 3 read 4, 5
        "nearest": ([10, 10], [40, 40]),
        "constant": ([-1, -1], [-1, -1]),
        "reflect": ([20, 10], [40, 30]),   # d c b a | a b c d | d c b a
        "wrap": ([20, 30], [20, 30]),      # period 3: -2 -> 1, -1 -> 2, 4 -> 1, 5 -> 2
    }
    for mode, (left, right) in expected.items():
        back = affine_transform_batch(row, affine_matrix(tx=-2)[None], fill_mode=mode, cval=-1, order=0)
        ahead = affine_transform_batch(row, affine_matrix(tx=2)[None], fill_mode=mode, cval=-1, order=0)
        assert back[0, 0, :2, 0].tolist() == left, mode
        assert ahead[0, 0, 2:, 0].tolist() == right, mode


def test_a_batch_is_warped_image_by_image_and_integer_images_are_rounded(rng):
    images = rng.random((4, 6, 5, 3)).astype("float32")
    matrices = np.stack([affine_matrix(theta=20.0 * n, zx=1.1, height=6, width=5) for n in range(4)])
    together = affine_transform_batch(images, matrices, fill_mode="reflect")
    apart = np.concatenate([affine_transform_batch(images[n:n + 1], matrices[n:n + 1], fill_mode="reflect")
                            for n in range(4)])
    np.testing.assert_array_equal(together, apart)
    assert together.dtype == np.float32
    pixels = (images * 255).astype("uint8")
    rounded = affine_transform_batch(pixels, matrices)
    assert rounded.dtype == np.uint8
    exact = affine_transform_batch(pixels.astype("float64"), matrices)
    np.testing.assert_array_equal(rounded, np.floor(exact + 0.5).astype("uint8"))


def test_affine_matrix_composes_rotation_shift_shear_zoom_and_centres():
    rotation = affine_matrix(theta=90)
    np.testing.assert_allclose(rotation, [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-15)
    np.testing.assert_array_equal(affine_matrix(tx=3, ty=-2), [[1, 0, 3], [0, 1, -2], [0, 0, 1]])
    np.testing.assert_allclose(affine_matrix(shear=30), [[1, -0.5, 0], [0, math.cos(math.pi / 6), 0], [0, 0, 1]])
    np.testing.assert_array_equal(affine_matrix(zx=2, zy=0.5), np.diag([2, 0.5, 1]))
    combined = affine_matrix(theta=10, tx=1, ty=2, shear=5, zx=1.2, zy=0.8)
    product = affine_matrix(theta=10) @ affine_matrix(tx=1, ty=2) @ affine_matrix(shear=5) @ affine_matrix(zx=1.2, zy=0.8)
    np.testing.assert_allclose(combined, product, rtol=1e-15)
    # Centring: Keras puts height/2 - 0.5 on x (the column) and width/2 - 0.5 on y.
    centred = affine_matrix(theta=10, height=8, width=20)
    offset = np.array([[1, 0, 3.5], [0, 1, 9.5], [0, 0, 1]])
    np.testing.assert_allclose(centred, offset @ affine_matrix(theta=10) @ np.linalg.inv(offset), rtol=1e-14)
    np.testing.assert_array_equal(affine_matrix(), np.eye(3))


def test_the_pivot_of_a_rotation_is_the_centre_of_a_square_image():
    image = np.zeros((1, 9, 9, 1))
    image[0, 4, 4, 0] = 1.0
    for theta in (30, 90, 200):
        turned = affine_transform_batch(image, affine_matrix(theta=theta, height=9, width=9)[None], order=0,
                                        fill_mode="constant")
        assert turned[0, 4, 4, 0] == 1.0


def test_tx_moves_along_the_columns_as_in_keras():
    """Keras's quirk kept: tx (drawn from height_shift_range) is the x (column) shift."""
    image = np.zeros((5, 7, 1))
    image[2, 3, 0] = 1.0
    shifted = augmentation.apply_affine_transform(image, tx=2, row_axis=0, col_axis=1, channel_axis=2, order=0,
                                                  fill_mode="constant")
    assert np.argwhere(shifted[..., 0]).tolist() == [[2, 1]]  # output column c reads input column c + 2


def test_apply_affine_transform_handles_both_channel_layouts_and_returns_the_image_when_neutral(rng):
    image = rng.random((6, 8, 3))
    assert augmentation.apply_affine_transform(image, row_axis=0, col_axis=1, channel_axis=2) is image
    last = augmentation.apply_affine_transform(image, theta=25, zy=1.3, row_axis=0, col_axis=1, channel_axis=2)
    first = augmentation.apply_affine_transform(image.transpose(2, 0, 1), theta=25, zy=1.3)
    np.testing.assert_array_equal(first, last.transpose(2, 0, 1))


@pytest.mark.parametrize("call, message", [
    (lambda: affine_transform_batch(np.zeros((2, 3, 3)), np.eye(3)), r"affine_transform_batch: expected images of shape \(N, H, W, C\)"),
    (lambda: affine_transform_batch(np.zeros((2, 3, 3, 1)), np.zeros((3, 3, 3))), r"one \(3, 3\) matrix per image"),
    (lambda: affine_transform_batch(np.zeros((1, 3, 3, 1)), np.eye(3), fill_mode="mirror"), "fill_mode must be one of"),
    (lambda: affine_transform_batch(np.zeros((1, 3, 3, 1)), np.eye(3), order=3), "order must be 0 .* or 1"),
    (lambda: affine_transform_batch(np.zeros((1, 3, 3, 1)), np.full((3, 3), np.nan)), "NaN or infinity"),
    (lambda: affine_matrix(height=4), "pass both height and width"),
    (lambda: affine_matrix(theta="10"), "theta must be a finite real number"),
    (lambda: augmentation.apply_affine_transform(np.zeros((4, 4)), theta=3), "expected one image with channels"),
    (lambda: augmentation.apply_affine_transform(np.zeros((4, 4, 1)), row_axis=0, col_axis=0, channel_axis=2),
     "row_axis, col_axis and channel_axis must be 0, 1 and 2"),
])
def test_the_warp_rejects_bad_input_with_named_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------- ImageDataGenerator: draws and transforms
KEYS = {"theta", "tx", "ty", "shear", "zx", "zy", "flip_horizontal", "flip_vertical", "channel_shift_intensity",
        "brightness"}


def test_random_transforms_stay_in_their_ranges_and_a_seed_repeats_them():
    generator = ImageDataGenerator(rotation_range=30, width_shift_range=0.1, height_shift_range=3, shear_range=10,
                                   zoom_range=[0.5, 0.9], channel_shift_range=5, brightness_range=(0.8, 1.2),
                                   horizontal_flip=True)
    draws = [generator.get_random_transform((20, 40, 3), seed=seed) for seed in range(300)]
    assert all(set(draw) == KEYS for draw in draws)
    assert all(abs(d["theta"]) <= 30 and abs(d["shear"]) <= 10 and 0.5 <= d["zx"] <= 0.9 for d in draws)
    assert all(abs(d["ty"]) <= 0.1 * 40 for d in draws)  # a fraction of the width
    assert {d["tx"] for d in draws} <= {-2, -1, 0, 1, 2}  # an int n: whole pixels from -(n-1) to n-1
    assert {d["flip_horizontal"] for d in draws} == {0, 1} and {d["flip_vertical"] for d in draws} == {0}
    assert all(abs(d["channel_shift_intensity"]) <= 5 and 0.8 <= d["brightness"] <= 1.2 for d in draws)
    assert generator.get_random_transform((20, 40, 3), seed=7) == generator.get_random_transform((20, 40, 3), seed=7)
    assert generator.get_random_transform((20, 40, 3), seed=7) != generator.get_random_transform((20, 40, 3), seed=8)
    neutral = ImageDataGenerator().get_random_transform((5, 5, 1), seed=0)
    assert neutral == {"theta": 0, "tx": 0, "ty": 0, "shear": 0, "zx": 1, "zy": 1, "flip_horizontal": 0,
                       "flip_vertical": 0, "channel_shift_intensity": None, "brightness": None}


def test_a_list_of_shifts_is_chosen_from_with_a_random_sign():
    generator = ImageDataGenerator(width_shift_range=[2, 5], height_shift_range=[0.25])
    draws = [generator.get_random_transform((8, 12, 1), seed=seed) for seed in range(100)]
    assert {d["ty"] for d in draws} == {-5, -2, 2, 5}
    assert {d["tx"] for d in draws} == {-2.0, 2.0}  # 0.25 of the height (a fraction: all choices below 1)


def test_apply_transform_flips_shifts_channels_and_brightens_as_asked(rng):
    image = rng.random((5, 6, 3)).astype("float32") * 200
    generator = ImageDataGenerator()
    np.testing.assert_array_equal(generator.apply_transform(image, {"flip_horizontal": True}), image[:, ::-1])
    np.testing.assert_array_equal(generator.apply_transform(image, {"flip_vertical": True}), image[::-1])
    shifted = generator.apply_transform(image, {"channel_shift_intensity": 30.0})
    np.testing.assert_allclose(shifted, np.clip(image + 30, image.min(), image.max()))
    dimmed = generator.apply_transform(image, {"brightness": 0.5})
    np.testing.assert_allclose(dimmed, np.floor(np.floor(image) * np.float32(0.5)), atol=0)
    np.testing.assert_array_equal(generator.apply_transform(image, {}), image)
    first = ImageDataGenerator(data_format="channels_first")
    np.testing.assert_array_equal(first.apply_transform(image.transpose(2, 0, 1), {"theta": 40.0, "flip_horizontal": 1}),
                                  ImageDataGenerator().apply_transform(image, {"theta": 40.0, "flip_horizontal": 1})
                                  .transpose(2, 0, 1))


def test_standardize_applies_the_steps_in_keras_order_and_fit_learns_the_statistics(rng):
    x = rng.random((40, 4, 5, 3)).astype("float32") * 255
    generator = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True, rescale=1 / 255)
    generator.fit(x)
    assert generator.mean.shape == (1, 1, 3) and generator.std.shape == (1, 1, 3)
    scaled = x * np.float32(1 / 255)
    np.testing.assert_allclose(generator.mean[0, 0], scaled.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(generator.std[0, 0], scaled.std(axis=(0, 1, 2)), rtol=1e-4)
    out = generator.standardize(x.copy())
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-4)
    sample = ImageDataGenerator(samplewise_center=True, samplewise_std_normalization=True).standardize(x[0].copy())
    assert abs(sample.mean()) < 1e-5 and abs(sample.std() - 1) < 1e-4
    with pytest.warns(UserWarning, match="featurewise_center=True but the generator has not been fitted"):
        ImageDataGenerator(featurewise_center=True).standardize(x[0].copy())


def test_zca_whitening_decorrelates_the_pixels(rng):
    mixing = rng.standard_normal((12, 12))
    x = (rng.standard_normal((400, 12)) @ mixing).reshape(400, 2, 2, 3).astype("float64")
    with pytest.warns(UserWarning, match="zca_whitening=True also sets featurewise_center"):
        generator = ImageDataGenerator(zca_whitening=True, dtype="float64")
    generator.fit(x)
    assert generator.zca_whitening_matrix.shape == (12, 12)
    np.testing.assert_allclose(generator.zca_whitening_matrix, generator.zca_whitening_matrix.T, atol=1e-10)
    white = generator.standardize(x.copy()).reshape(400, 12)
    np.testing.assert_allclose(white.T @ white / 400, np.eye(12), atol=1e-4)


def test_fit_with_augment_uses_rounds_of_transformed_copies_and_a_seed(rng):
    x = rng.random((6, 8, 8, 1)).astype("float32")
    one = ImageDataGenerator(featurewise_center=True, rotation_range=90).fit(x, augment=True, rounds=3, seed=4)
    two = ImageDataGenerator(featurewise_center=True, rotation_range=90).fit(x, augment=True, rounds=3, seed=4)
    plain = ImageDataGenerator(featurewise_center=True).fit(x)
    np.testing.assert_array_equal(one.mean, two.mean)
    assert not np.array_equal(one.mean, plain.mean)


# ---------------------------------------------------------------- flow: order, seeds, lengths
def test_flow_batches_repeat_with_a_seed_and_differ_with_another(rng):
    x = rng.random((20, 9, 9, 3)).astype("float32")
    y = np.arange(20)
    generator = ImageDataGenerator(rotation_range=45, zoom_range=0.3, horizontal_flip=True)
    first, again, other = (generator.flow(x, y, batch_size=6, seed=seed) for seed in (11, 11, 12))
    assert len(first) == 4
    for index in range(4):
        (images, labels), (images_again, labels_again) = first[index], again[index]
        np.testing.assert_array_equal(images, images_again)
        np.testing.assert_array_equal(labels, labels_again)
    assert images.shape == (2, 9, 9, 3)
    assert not np.array_equal(first[0][0], other[0][0])
    # Keras's rule: the stream is re-seeded with seed + total_batches_seen, so asking again draws anew.
    assert not np.array_equal(first[0][0], first[0][0])
    # Without a seed, course_lib's set_random_seed makes the batches repeat.
    cl.utils.set_random_seed(5)
    unseeded = generator.flow(x, y, batch_size=6)[0][0]
    cl.utils.set_random_seed(5)
    np.testing.assert_array_equal(generator.flow(x, y, batch_size=6)[0][0], unseeded)


def test_flow_without_shuffle_keeps_the_order_and_next_walks_the_epochs(rng):
    x = rng.random((7, 4, 4, 1)).astype("float32")
    iterator = ImageDataGenerator().flow(x, np.arange(7), batch_size=3, shuffle=False)
    labels = [iterator[i][1].tolist() for i in range(len(iterator))]
    assert labels == [[0, 1, 2], [3, 4, 5], [6]]
    walked = [next(iterator)[1].tolist() for _ in range(4)] + [iterator.next()[1].tolist()]
    assert walked == [[0, 1, 2], [3, 4, 5], [6], [0, 1, 2], [3, 4, 5]]
    np.testing.assert_array_equal(iterator[0][0], x[:3])
    assert iterator.n == 7 and iterator.batch_size == 3 and iter(iterator) is iterator
    with pytest.raises(IndexError, match="batch index must be an int from 0 to 2. Received: 3"):
        iterator[3]


def test_on_epoch_end_reshuffles_and_reset_restarts(rng):
    x = rng.random((30, 2, 2, 1)).astype("float32")
    iterator = ImageDataGenerator().flow(x, np.arange(30), batch_size=30, seed=3)
    before = iterator[0][1].copy()
    assert sorted(before.tolist()) == list(range(30)) and before.tolist() != list(range(30))
    iterator.on_epoch_end()
    assert iterator[0][1].tolist() != before.tolist()
    iterator.batch_index = 5
    iterator.reset()
    assert iterator.batch_index == 0


def test_flow_returns_sample_weights_extra_inputs_and_no_labels(rng):
    x = rng.random((5, 3, 3, 3)).astype("float32")
    extra = rng.random((5, 2))
    weights = np.linspace(0.5, 1.5, 5)
    images, labels, sample_weight = ImageDataGenerator().flow(x, np.arange(5), sample_weight=weights, shuffle=False)[0]
    np.testing.assert_array_equal(sample_weight, weights)
    inputs, labels = ImageDataGenerator().flow((x, extra), np.arange(5), shuffle=False)[0]
    assert isinstance(inputs, list) and np.array_equal(inputs[1], extra)
    alone = ImageDataGenerator().flow(x, batch_size=2, shuffle=False)[0]
    assert isinstance(alone, np.ndarray) and alone.shape == (2, 3, 3, 3)


def test_flow_subsets_take_the_first_fraction_for_validation(rng):
    x = rng.random((10, 2, 2, 1)).astype("float32")
    y = np.array([0, 1] * 5)
    generator = ImageDataGenerator(validation_split=0.3)
    validation = generator.flow(x, y, shuffle=False, subset="validation")
    training = generator.flow(x, y, shuffle=False, subset="training")
    assert validation.n == 3 and training.n == 7
    np.testing.assert_array_equal(validation[0][0], x[:3])
    with pytest.raises(ValueError, match="different classes after the split"):
        generator.flow(x, np.array([0] * 3 + [1] * 7), subset="validation")
    generator.flow(x, np.array([0] * 3 + [1] * 7), subset="validation", ignore_class_split=True)


def test_save_to_dir_writes_every_augmented_image(tmp_path, rng):
    x = rng.random((4, 6, 6, 3)).astype("float32")
    ImageDataGenerator(rotation_range=10).flow(x, batch_size=4, seed=0, save_to_dir=tmp_path, save_prefix="aug",
                                               save_format="jpeg")[0]
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 4 and all(name.startswith("aug_") and name.endswith(".jpeg") for name in names)


def test_fit_trains_a_course_lib_model_from_an_iterator_with_steps_per_epoch(rng):
    x = rng.random((48, 6, 6, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("float32")
    model = cl.Sequential([cl.Input((6, 6, 1)), layers.Flatten(), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    iterator = ImageDataGenerator(horizontal_flip=True, vertical_flip=True).flow(x, y, batch_size=8, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # six batches: two epochs of three, nothing runs out
        history = model.fit(iterator, steps_per_epoch=3, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and all(np.isfinite(history.history["loss"]))
    assert iterator.total_batches_seen == 6
    assert model.evaluate(ImageDataGenerator().flow(x, y, batch_size=16, shuffle=False), verbose=0) > 0


# ---------------------------------------------------------------- flow_from_directory
def test_flow_from_directory_lists_sorted_classes_and_files(digit_folder):
    iterator = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        digit_folder, target_size=(12, 10), batch_size=7, shuffle=False)
    assert iterator.class_indices == {"0": 0, "1": 1, "2": 2} and iterator.num_classes == 3
    assert iterator.filenames == [os.path.join(str(d), f"{d}_{n:03d}.png") for d in range(3) for n in range(10)]
    assert iterator.filepaths[0] == os.path.join(digit_folder, "0", "0_000.png")
    assert iterator.classes.tolist() == [0] * 10 + [1] * 10 + [2] * 10 and iterator.samples == 30
    assert len(iterator) == 5
    images, labels = iterator[4]
    assert images.shape == (2, 12, 10, 3) and labels.shape == (2, 3) and labels[:, 2].all()
    assert 0 <= images.min() and images.max() <= 1


@pytest.mark.parametrize("class_mode, check", [
    ("binary", lambda batch: batch[1].tolist() == [0.0, 0.0, 0.0, 0.0]),
    ("sparse", lambda batch: batch[1].dtype == np.float32),
    ("input", lambda batch: np.array_equal(batch[0], batch[1])),
    (None, lambda batch: isinstance(batch, np.ndarray) and batch.shape == (4, 8, 8, 1)),
])
def test_flow_from_directory_class_modes(digit_folder, class_mode, check):
    classes = ["0", "2"] if class_mode == "binary" else None
    iterator = ImageDataGenerator().flow_from_directory(digit_folder, target_size=(8, 8), color_mode="grayscale",
                                                        classes=classes, class_mode=class_mode, batch_size=4,
                                                        shuffle=False)
    assert check(iterator[0])


def test_flow_from_directory_subsets_split_every_class(digit_folder, capsys):
    generator = ImageDataGenerator(validation_split=0.2)
    validation = generator.flow_from_directory(digit_folder, target_size=(8, 8), subset="validation", shuffle=False)
    training = generator.flow_from_directory(digit_folder, target_size=(8, 8), subset="training", shuffle=False)
    assert validation.classes.tolist() == [0, 0, 1, 1, 2, 2] and training.samples == 24
    assert validation.filenames[:2] == [os.path.join("0", "0_000.png"), os.path.join("0", "0_001.png")]
    assert "Found 6 images belonging to 3 classes." in capsys.readouterr().out


def test_a_broken_file_is_skipped_with_a_warning_naming_it(tmp_path):
    folder = make_digit_folder(tmp_path, classes=(3, 4), per_class=4, size=(8, 8))
    broken = add_broken_files(folder / "4")
    with pytest.warns(UserWarning) as caught:
        iterator = ImageDataGenerator().flow_from_directory(folder, target_size=(8, 8), shuffle=False)
    messages = " ".join(str(warning.message) for warning in caught)
    assert all(name in messages for name in broken) and "notes.txt" not in messages
    assert iterator.samples == 8 and not any("zz_" in name for name in iterator.filenames)
    assert len([iterator[i] for i in range(len(iterator))]) == 1
    with pytest.warns(UserWarning) as caught:
        dataset = image_dataset_from_directory(folder, image_size=(8, 8), shuffle=False, verbose=False)
    assert all(any(name in str(warning.message) for warning in caught) for name in broken)
    assert len(dataset.file_paths) == 8 and dataset.labels.tolist() == [0] * 4 + [1] * 4


def test_a_file_that_fails_to_decode_later_gives_a_black_image_and_a_warning(tmp_path):
    folder = make_digit_folder(tmp_path, classes=(1,), per_class=2, size=(8, 8))
    iterator = ImageDataGenerator().flow_from_directory(folder, target_size=(8, 8), shuffle=False, class_mode=None)
    with open(iterator.filepaths[1], "wb") as handle:
        handle.write(b"gone")
    with pytest.warns(UserWarning, match="could not decode .*1_001.png"):
        images = iterator[0]
    assert images[1].max() == 0 and images[0].max() > 0


@pytest.mark.parametrize("kwargs, message", [
    ({"directory": "/no/such/folder"}, "directory must be an existing folder"),
    ({"class_mode": "multi"}, "class_mode must be one of"),
    ({"color_mode": "cmyk"}, "color_mode must be one of"),
    ({"interpolation": "cubic"}, "interpolation must be one of"),
    ({"target_size": (0, 8)}, r"target_size must be positive. Received: target_size=\(0, 8\)"),
    ({"target_size": 8}, "target_size must be a .height, width. pair"),
    ({"class_mode": "binary"}, "class_mode='binary' needs exactly 2 classes"),
    ({"classes": ["0", "7"]}, r"no folder for the classes \['7'\]"),
    ({"subset": "validation"}, "needs ImageDataGenerator.validation_split=.... above 0"),
    ({"subset": "test"}, "subset must be None, 'training' or 'validation'"),
])
def test_flow_from_directory_errors(digit_folder, kwargs, message):
    arguments = {"directory": digit_folder, **kwargs}
    with pytest.raises(ValueError, match=message):
        ImageDataGenerator().flow_from_directory(**arguments)


def test_an_empty_folder_is_an_error(tmp_path):
    (tmp_path / "cats").mkdir()
    with pytest.raises(ValueError, match="found no images in"):
        ImageDataGenerator().flow_from_directory(tmp_path)


@pytest.mark.parametrize("kwargs, message", [
    ({"fill_mode": "mirror"}, "fill_mode must be one of"),
    ({"interpolation_order": 3}, "interpolation_order must be 0 .* or 1"),
    ({"validation_split": 1.0}, r"validation_split must be a number in \[0, 1\). Received: validation_split=1.0"),
    ({"validation_split": -0.1}, "validation_split must be a number in"),
    ({"zoom_range": [0.5]}, "zoom_range must be a float or a .low, high. pair"),
    ({"brightness_range": 0.5}, "brightness_range must be a .low, high. pair"),
    ({"width_shift_range": -0.2}, "width_shift_range must be a non-negative float"),
    ({"height_shift_range": []}, "height_shift_range as a list must hold one or more numbers"),
    ({"rotation_range": -5}, "rotation_range must be a non-negative number"),
    ({"data_format": "NHWC"}, "data_format must be one of"),
    ({"preprocessing_function": "scale"}, "preprocessing_function must be callable"),
])
def test_image_data_generator_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=f"ImageDataGenerator: .*{message}"):
        ImageDataGenerator(**kwargs)


def test_flow_fit_and_transforms_reject_wrong_ranks():
    generator = ImageDataGenerator()
    with pytest.raises(ValueError, match=r"NumpyArrayIterator: expected images of rank 4.*\(5, 4, 4\)"):
        generator.flow(np.zeros((5, 4, 4)))
    with pytest.raises(ValueError, match=r"ImageDataGenerator.fit: expected images of rank 4"):
        generator.fit(np.zeros((4, 4, 1)))
    with pytest.raises(ValueError, match="x .images. and y .labels. must have the same length. Received: 5 and 4"):
        generator.flow(np.zeros((5, 4, 4, 1)), np.zeros(4))
    with pytest.raises(ValueError, match="get_random_transform: expected the shape of one image"):
        generator.get_random_transform((2, 4, 4, 1))
    with pytest.raises(ValueError, match="apply_transform: expected one image"):
        generator.apply_transform(np.zeros((2, 4, 4, 1)), {})
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        generator.flow(np.zeros((5, 4, 4, 1)), batch_size=0)
    with pytest.warns(UserWarning, match="channels are on axis 3, which has 5 entries"):
        generator.flow(np.zeros((2, 4, 4, 5)))


# ---------------------------------------------------------------- image files
def test_images_go_to_files_and_back(tmp_path, rng):
    pixels = rng.integers(0, 256, (6, 9, 3)).astype("float32")
    cl.utils.save_img(tmp_path / "a.png", pixels, scale=False)
    image = cl.utils.load_img(tmp_path / "a.png")
    assert image.size == (9, 6) and image.mode == "RGB"
    np.testing.assert_array_equal(cl.utils.img_to_array(image), pixels)
    assert cl.utils.img_to_array(image, data_format="channels_first").shape == (3, 6, 9)
    grey = cl.utils.load_img(tmp_path / "a.png", color_mode="grayscale", target_size=(3, 4))
    assert grey.mode == "L" and cl.utils.img_to_array(grey).shape == (3, 4, 1)
    cropped = cl.utils.load_img(tmp_path / "a.png", target_size=(4, 4), keep_aspect_ratio=True)
    assert cropped.size == (4, 4)
    stretched = cl.utils.array_to_img(pixels / 255)
    assert np.asarray(stretched).max() == 255 and np.asarray(stretched).min() == 0
    assert cl.utils.array_to_img(np.zeros((2, 2, 4))).mode == "RGBA"
    buffer = io.BytesIO()
    with pytest.warns(UserWarning, match="JPEG has no alpha channel"):
        cl.utils.save_img(buffer, np.zeros((2, 2, 4)), file_format="jpg")
    assert cl.utils.load_img(io.BytesIO(buffer.getvalue())).size == (2, 2)
    assert augmentation.load_img is cl.utils.load_img and augmentation.save_img is cl.utils.save_img


@pytest.mark.parametrize("call, error, message", [
    (lambda path: cl.utils.load_img(path, color_mode="cmyk"), ValueError, "load_img: color_mode must be one of"),
    (lambda path: cl.utils.load_img(path, target_size=(4, 4), interpolation="cubic"), ValueError,
     "load_img: interpolation must be one of"),
    (lambda path: cl.utils.load_img(42), TypeError, "load_img: path must be a path"),
    (lambda path: cl.utils.array_to_img(np.zeros((2, 2, 2))), ValueError, r"array_to_img: an image has 1, 3 or 4 channels"),
    (lambda path: cl.utils.array_to_img(np.zeros((2, 2))), ValueError, "array_to_img: expected one image, a 3-D array"),
    (lambda path: cl.utils.img_to_array(np.zeros((1, 2, 2, 3))), ValueError, "img_to_array: expected a 2-D"),
    (lambda path: cl.utils.save_img(io.BytesIO(), np.zeros((2, 2, 3))), ValueError, "save_img: pass file_format"),
])
def test_image_file_helpers_name_themselves_in_errors(tmp_path, call, error, message):
    path = tmp_path / "a.png"
    cl.utils.save_img(path, np.zeros((4, 5, 3)))
    with pytest.raises(error, match=message):
        call(path)


# ---------------------------------------------------------------- image_dataset_from_directory
def test_image_dataset_batches_labels_and_files(digit_folder, capsys):
    dataset = image_dataset_from_directory(digit_folder, image_size=(6, 5), batch_size=8, shuffle=False)
    assert capsys.readouterr().out == "Found 30 files belonging to 3 classes.\n"
    assert dataset.class_names == ["0", "1", "2"] and len(dataset) == 4
    assert dataset.file_paths[10] == os.path.join(digit_folder, "1", "1_000.png")
    images, labels = dataset[1]
    assert images.shape == (8, 6, 5, 3) and images.dtype == np.float32
    assert labels.tolist() == [0, 0, 1, 1, 1, 1, 1, 1] and labels.dtype == np.int32
    one_hot = image_dataset_from_directory(digit_folder, image_size=(6, 5), label_mode="categorical", shuffle=False,
                                           verbose=False)[0][1]
    assert one_hot.shape == (30, 3) and one_hot.dtype == np.float32 and one_hot.sum() == 30
    binary = image_dataset_from_directory(digit_folder, class_names=["2", "0"], image_size=(6, 5),
                                          label_mode="binary", shuffle=False, verbose=False)
    assert binary.file_paths[0].endswith("2_000.png") and binary[0][1].shape == (20, 1) and binary[0][1][0] == 0
    only_images = image_dataset_from_directory(digit_folder, labels=None, image_size=(6, 5), verbose=False)
    assert isinstance(only_images[0], np.ndarray) and only_images.class_names is None
    single = image_dataset_from_directory(digit_folder, image_size=(6, 5), batch_size=None, verbose=False,
                                          color_mode="grayscale", interpolation="nearest")
    image, label = single[0]
    assert len(single) == 30 and image.shape == (6, 5, 1) and image.dtype == np.uint8 and label.shape == ()


def test_image_dataset_shuffles_by_seed_and_splits_off_the_last_files(digit_folder, capsys):
    first = image_dataset_from_directory(digit_folder, image_size=(4, 4), seed=9, verbose=False)
    again = image_dataset_from_directory(digit_folder, image_size=(4, 4), seed=9, verbose=False)
    other = image_dataset_from_directory(digit_folder, image_size=(4, 4), seed=10, verbose=False)
    assert first.file_paths == again.file_paths != other.file_paths
    assert sorted(first.file_paths) == sorted(other.file_paths)
    labels = [int(os.path.basename(os.path.dirname(path))) for path in first.file_paths]
    assert first.labels.tolist() == labels
    training, validation = image_dataset_from_directory(digit_folder, image_size=(4, 4), seed=9,
                                                        validation_split=0.2, subset="both")
    assert capsys.readouterr().out.splitlines()[1:] == ["Using 24 files for training.", "Using 6 files for validation."]
    assert training.file_paths + validation.file_paths == first.file_paths
    before = first[0][1].copy()
    first.on_epoch_end()
    assert first[0][1].tolist() != before.tolist()


def test_image_dataset_feeds_fit_evaluate_and_predict(digit_folder):
    training, validation = image_dataset_from_directory(digit_folder, image_size=(8, 8), color_mode="grayscale",
                                                        batch_size=8, seed=1, validation_split=0.2, subset="both",
                                                        verbose=False)
    model = cl.Sequential([cl.Input((8, 8, 1)), layers.Rescaling(1 / 255), layers.Flatten(),
                           layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(training, validation_data=validation, epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2
    assert model.predict(validation, verbose=0).shape == (6, 3)


@pytest.mark.parametrize("kwargs, message", [
    ({"label_mode": "ordinal"}, "label_mode must be 'int', 'categorical', 'binary' or None"),
    ({"label_mode": "binary"}, "label_mode='binary' needs exactly 2 classes"),
    ({"validation_split": 0.2}, "validation_split and subset go together"),
    ({"validation_split": 0.2, "subset": "training"}, "pass a seed"),
    ({"validation_split": 1.5, "subset": "training", "seed": 1}, "validation_split must be between 0 and 1"),
    ({"subset": "test", "validation_split": 0.2, "seed": 1}, "subset must be 'training', 'validation' or 'both'"),
    ({"class_names": ["0", "9"]}, "class_names must name sub-folders"),
    ({"labels": [0, 1]}, "labels must have one entry per image file. Received: 2 labels for 30 images"),
    ({"labels": "folders"}, "labels must be 'inferred'"),
    ({"interpolation": "gaussian"}, "no 'gaussian' or 'mitchellcubic'"),
    ({"image_size": (0, 4)}, "image_size must be positive"),
    ({"color_mode": "bgr"}, "color_mode must be one of"),
    ({"batch_size": 0}, "batch_size must be None or a positive int"),
    ({"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}, "at most one of crop_to_aspect_ratio"),
    ({"directory": "/no/such/folder"}, "directory must be an existing folder"),
])
def test_image_dataset_rejects_bad_arguments(digit_folder, kwargs, message):
    arguments = {"directory": digit_folder, "verbose": False, **kwargs}
    with pytest.raises(ValueError, match=f"image_dataset_from_directory: .*{message}"):
        image_dataset_from_directory(**arguments)


# ---------------------------------------------------------------- the course's image folders
def test_make_digit_folder_is_deterministic_and_splits(tmp_path):
    first = make_digit_folder(tmp_path / "a", classes=(5, 7), per_class=6, size=(10, 14), seed=3, color_mode="rgb")
    second = make_digit_folder(tmp_path / "b", classes=(5, 7), per_class=6, size=(10, 14), seed=3, color_mode="rgb")
    names = sorted(os.listdir(first / "5"))
    assert names == [f"5_{n:03d}.png" for n in range(6)]
    for name in names:
        assert (first / "5" / name).read_bytes() == (second / "5" / name).read_bytes()
    image = cl.utils.load_img(first / "7" / "7_000.png")
    assert image.size == (14, 10) and image.mode == "RGB"
    assert (tmp_path / "c").exists() is False
    other = make_digit_folder(tmp_path / "c", classes=(5, 7), per_class=6, size=(10, 14), seed=4, color_mode="rgb")
    assert (other / "5" / names[0]).read_bytes() != (first / "5" / names[0]).read_bytes()
    parts = make_digit_folder(tmp_path / "d", classes=(0, 1), per_class=10, split={"train": 0.7, "validation": 0.3})
    assert {name: len(os.listdir(path / "1")) for name, path in parts.items()} == {"train": 7, "validation": 3}
    assert cl.utils.load_img(parts["train"] / "0" / "0_000.png", color_mode="grayscale").mode == "L"
    photos = sample_images()
    assert photos.shape == (2, 427, 640, 3) and photos.dtype == np.uint8


@pytest.mark.parametrize("kwargs, message", [
    ({"classes": (1, 12)}, "classes must be digits from 0 to 9"),
    ({"classes": (1, 1)}, "classes must not repeat"),
    ({"per_class": 500}, "per_class must be an int from 1 to"),
    ({"size": (0, 5)}, "size must be a .height, width. pair of positive ints"),
    ({"color_mode": "cmyk"}, "color_mode must be 'grayscale' or 'rgb'"),
    ({"split": {"train": 0.8, "test": 0.4}}, "add up to more than 1"),
    ({"split": [0.5, 0.5]}, "split must be None or a dict"),
])
def test_make_digit_folder_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=f"make_digit_folder: .*{message}"):
        make_digit_folder(tmp_path, **kwargs)


def test_unreadable_reason_names_the_problem(tmp_path):
    path = tmp_path / "x.png"
    path.write_text("hello")
    assert "UnidentifiedImageError" in image_utils.unreadable_reason(path)
    cl.utils.save_img(path, np.zeros((3, 3, 3)))
    assert image_utils.unreadable_reason(path) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert image_utils.readable_image("here", path)


def test_the_single_image_random_helpers_follow_course_libs_seed(rng):
    image = rng.random((3, 8, 10)).astype("float32") * 255  # Keras's defaults: channels first
    helpers = [
        lambda: augmentation.random_rotation(image, 30),
        lambda: augmentation.random_shift(image, 0.2, 0.1),
        lambda: augmentation.random_shear(image, 15, fill_mode="constant"),
        lambda: augmentation.random_zoom(image, (0.7, 1.3), interpolation_order=0),
        lambda: augmentation.random_channel_shift(image, 20.0),
        lambda: augmentation.random_brightness(image.transpose(1, 2, 0), (0.5, 1.5)),
    ]
    for helper in helpers:
        cl.utils.set_random_seed(3)
        first = helper()
        cl.utils.set_random_seed(3)
        np.testing.assert_array_equal(helper(), first)
        assert first.shape in (image.shape, image.transpose(1, 2, 0).shape)
        assert not np.array_equal(first, image) and not np.array_equal(first, image.transpose(1, 2, 0))
    np.testing.assert_array_equal(augmentation.random_zoom(image, (1, 1)), image)
    with pytest.raises(ValueError, match="random_zoom: zoom_range must be a .low, high. pair"):
        augmentation.random_zoom(image, 0.2)
