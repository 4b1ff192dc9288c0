"""RandomPerspective, RandAugment and AugMix give tf.keras's numbers, computed in the same test.

Randomness is pinned as in ``test_preprocessing_newer_parity.py``: Keras's
``get_random_transformation`` draws (with a seed), and that transformation
goes to both libraries' ``transform_images``. RandAugment's and AugMix's
draws hold every sub-layer's draw (Keras draws nothing inside their
``transform_images``; AugMix's choice of operations comes from Python's
``random``, also inside the draw), so Keras's whole transformation pins them.
To reach every operation, the tests below also set RandAugment's
``layer_idxes`` and build AugMix's chains from Keras's own sub-layers' draws.

Measured against tf.keras 3.15 (TensorFlow 2.21, CPU), float32 images in
[0, 255] (or the case's value_range), over the cases below: RandomPerspective
within 2.8e-4 absolute on [0, 255] with bilinear interpolation (about 1e-6
relative: the 8x8 homography system is solved by another LU, 4.3e-7 apart),
bit-exact with nearest; RandAugment and AugMix within 3.1e-5 absolute on
[0, 255] (their sub-layers' own differences: contrast's mean, sharpness's
blur, the warps), 1.2e-7 on [0, 1]. Gradients against ``tf.GradientTape``:
within 3.3e-6 for RandomPerspective on whole-pixel shifts (where
TensorFlow's registered warp gradient is the adjoint; the solved shift is
whole to about 1e-6), within 2.9e-6 absolute for RandAugment and AugMix
over the colour operations (AutoContrast's minima and maxima), and zero in
both behind a posterization or an equalization. Hence rtol 1e-5 with atol
5e-4 for RandomPerspective, atol 1e-4 for the policies, and rtol 1e-5 with
atol 1e-5 for the gradients.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

from augmentation_tape import (  # noqa: E402
    assert_configs_match, assert_draw_changes_images, assert_inference_matches, assert_transform_matches,
    config_without_name as _config, images as _images,
    keras_transformation as _keras_transformation, numpy_tree as _numpy, same_structure as _same_structure,
)

pytestmark = pytest.mark.parity

RTOL = 1e-5
ATOL = {"RandomPerspective": 5e-4, "RandAugment": 1e-4, "AugMix": 1e-4}
GRADIENT_ATOL = 1e-5

LAYER_CASES = [
    ("RandomPerspective", {}),
    ("RandomPerspective", {"factor": (0.3, 0.9), "scale": 0.4, "fill_value": 7.0}),
    ("RandomPerspective", {"scale": 0.6, "interpolation": "nearest"}),
    ("RandAugment", {}),
    ("RandAugment", {"num_ops": 4, "factor": 0.8, "value_range": (0, 1)}),
    ("RandAugment", {"factor": (0.2, 0.6), "interpolation": "nearest"}),
    ("AugMix", {}),
    ("AugMix", {"all_ops": False, "chain_depth": 4, "value_range": (0, 1)}),
    ("AugMix", {"num_chains": 2, "factor": (0.1, 0.7), "alpha": 0.5}),
]
_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(LAYER_CASES)]


def _pair(name, kwargs, data_format="channels_last"):
    kwargs = dict(kwargs, data_format=data_format, seed=5)
    return getattr(keras.layers, name)(**kwargs), getattr(cl.layers, name)(**kwargs)


def _compare(theirs, ours, x, transformation, name):
    if x.ndim == 4:
        expected = np.asarray(theirs.transform_images(x, transformation, training=True))
    else:
        expected = np.asarray(theirs.transform_single_image(x, transformation, training=True))
    result = ours.transform_images(x, transformation, training=True)
    assert result.shape == expected.shape and result.dtype == expected.dtype
    np.testing.assert_allclose(result, expected, rtol=RTOL, atol=ATOL[name])
    return expected


@pytest.mark.parametrize("name, kwargs", LAYER_CASES, ids=_IDS)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_transform_images_with_keras_s_transformation(name, kwargs, data_format):
    generator = np.random.default_rng(7)
    for shape in [(5, 9, 10, 3), (9, 10, 3)]:
        theirs, ours = _pair(name, kwargs, data_format)
        assert_transform_matches(theirs, ours, _images(generator, shape, kwargs, data_format), False, RTOL,
                                 ATOL[name])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_rand_augment_applies_every_operation_as_keras_does(data_format):
    generator = np.random.default_rng(21)
    for kwargs in ({}, {"factor": 0.9, "value_range": (0, 1)}):
        theirs, ours = _pair("RandAugment", kwargs, data_format)
        x = _images(generator, (4, 9, 10, 3), kwargs, data_format)
        transformation = _keras_transformation(theirs, x)
        for first in range(11):
            picked = dict(transformation, layer_idxes=np.array([first, (first + 4) % 11], "int32"))
            _compare(theirs, ours, x, picked, "RandAugment")


def _keras_chains(theirs, x, chains, seed=30):
    """AugMix's transformation with the given chains of operations, each drawn by Keras's own sub-layer."""
    transformation = _keras_transformation(theirs, x)
    transformation["chain_transforms"] = [
        [{"layer_name": name,
          "transformation": _numpy(getattr(theirs, name).get_random_transformation(
              x, training=True, seed=keras.random.SeedGenerator(seed + 10 * k + d)))}
         for d, name in enumerate(chain)]
        for k, chain in enumerate(chains)]
    return transformation


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_aug_mix_applies_every_operation_as_keras_does(data_format):
    generator = np.random.default_rng(22)
    theirs, ours = _pair("AugMix", {"factor": 0.6}, data_format)
    x = _images(generator, (4, 9, 10, 3), {}, data_format)
    names = ["random_shear", "random_translation", "random_rotation", "random_posterization", "solarization",
             "auto_contrast", "equalization", "random_brightness", "random_color_degeneration", "random_contrast",
             "random_sharpness"]
    chains = [names[:4], names[4:8], names[8:]]
    _compare(theirs, ours, x, _keras_chains(theirs, x, chains), "AugMix")
    _compare(theirs, ours, x, _keras_chains(theirs, x, [[], names[::-1][:3], []], seed=50), "AugMix")


def test_our_policies_draw_keras_s_structure():
    x = _images(np.random.default_rng(23), (3, 8, 9, 3), {}, "channels_last")
    theirs, ours = _pair("RandAugment", {})
    keras_draw, own = _keras_transformation(theirs, x), ours.get_random_transformation(x, training=True)
    assert list(own["transforms"]) == list(keras_draw["transforms"])
    for key, value in keras_draw["transforms"].items():
        _same_structure(own["transforms"][key], value)
    theirs, ours = _pair("AugMix", {"chain_depth": 6})
    keras_draw, own = _keras_transformation(theirs, x), ours.get_random_transformation(x, training=True)
    assert len(own["chain_transforms"]) == len(keras_draw["chain_transforms"]) == 3
    for step in [step for chain in own["chain_transforms"] for step in chain]:
        theirs_step = _numpy(getattr(theirs, step["layer_name"]).get_random_transformation(x, training=True))
        _same_structure(step["transformation"], theirs_step)


def test_transformations_that_change_the_images_were_drawn():
    """The cases above are not vacuous: with Keras's draws the layers change the images."""
    generator = np.random.default_rng(8)
    for name, kwargs in LAYER_CASES:
        x = _images(generator, (6, 9, 10, 3), kwargs, "channels_last")
        assert_draw_changes_images(_pair(name, kwargs)[0], x, name)


@pytest.mark.parametrize("name, kwargs", LAYER_CASES, ids=_IDS)
def test_inference_matches_keras_including_dtypes(name, kwargs):
    assert_inference_matches(lambda: _pair(name, kwargs))


@pytest.mark.parametrize("name, kwargs", LAYER_CASES, ids=_IDS)
def test_configs_match_and_rebuild(name, kwargs):
    assert_configs_match(*_pair(name, kwargs))


def test_the_homography_is_keras_s():
    from keras.src.backend.tensorflow.image import compute_homography_matrix
    from course_lib.layers.preprocessing_extra import homography_transforms

    theirs, _ = _pair("RandomPerspective", {})
    x = _images(np.random.default_rng(24), (6, 9, 10, 3), {}, "channels_last")
    draw = _keras_transformation(theirs, x)
    expected = compute_homography_matrix(tf.constant(draw["start_points"]), tf.constant(draw["end_points"])).numpy()
    np.testing.assert_allclose(homography_transforms(draw["start_points"], draw["end_points"]), expected,
                               rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- gradients
def _tape(theirs, x, transformation, seed):
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        y = theirs.transform_images(tensor, transformation, training=True)
    dy = np.random.default_rng(seed).standard_normal(y.shape).astype("float32")
    gradient = tape.gradient(y, tensor, output_gradients=tf.constant(dy))
    return y.numpy(), dy, None if gradient is None else gradient.numpy()


def _pinned(layer, transformation):
    layer.get_random_transformation = lambda data, training=True, seed=None: transformation
    return layer


def _check_against_tape(theirs, ours, x, transformation, name, zero=False):
    y, dy, expected = _tape(theirs, x, transformation, 13)
    ours = _pinned(ours, transformation)
    np.testing.assert_allclose(ours(x, training=True), y, rtol=RTOL, atol=ATOL[name])
    result = ours.backward(dy)
    np.testing.assert_allclose(result, expected, rtol=RTOL, atol=GRADIENT_ATOL)
    assert np.all(result == 0) == zero


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_perspective_gradients_match_the_tape_on_whole_pixel_shifts(data_format):
    x = _images(np.random.default_rng(12), (3, 7, 8, 2), {}, data_format)
    theirs, ours = _pair("RandomPerspective", {}, data_format)
    transformation = _keras_transformation(theirs, x)
    shifts = np.array([[2, -1], [0, 3], [-1, 1]], "float32")[:, None, :]
    transformation["end_points"] = transformation["start_points"] + shifts
    transformation["apply_perspective"] = np.array([True, False, True])
    _check_against_tape(theirs, ours, x, transformation, "RandomPerspective")


# The colour operations (TensorFlow's warp gradient is not the adjoint: the warps are checked by finite
# differences in tests/unit), and posterization or equalization (no channel kept), behind which both give zero.
COLOUR_PICKS = [(3, 5), (4, 6), (9, 6), (8, 5), (6, 4)]
POSTERIZED_PICKS = [(7, 3), (5, 7), (9, 10)]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_rand_augment_gradients_match_the_tape(data_format):
    x = _images(np.random.default_rng(14), (3, 7, 8, 3), {}, data_format)
    theirs, ours = _pair("RandAugment", {"factor": 0.7}, data_format)
    transformation = _keras_transformation(theirs, x)
    for picks in COLOUR_PICKS + POSTERIZED_PICKS:
        picked = dict(transformation, layer_idxes=np.array(picks, "int32"))
        _check_against_tape(theirs, ours, x, picked, "RandAugment", zero=picks in POSTERIZED_PICKS)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_aug_mix_gradients_match_the_tape(data_format):
    x = _images(np.random.default_rng(15), (3, 7, 8, 3), {}, data_format)
    theirs, ours = _pair("AugMix", {"factor": 0.6}, data_format)
    chains = [["random_brightness", "random_contrast"], ["solarization", "random_posterization"],
              ["auto_contrast", "random_sharpness", "random_color_degeneration", "equalization"]]
    _check_against_tape(theirs, ours, x, _keras_chains(theirs, x, chains), "AugMix")


# ------------------------------------------------------------------- saving
def test_a_saved_model_with_the_layers_opens_in_keras_and_back(tmp_path):
    layers = cl.layers
    model = cl.Sequential([
        cl.Input((10, 12, 3)), layers.RandomPerspective(0.5, scale=0.3, seed=1),
        layers.RandAugment(num_ops=3, factor=0.4, seed=2), layers.AugMix(all_ops=False, alpha=0.5, seed=3),
        layers.Rescaling(1 / 255.0), layers.Flatten(), layers.Dense(2),
    ])
    model.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    assert [type(layer).__name__ for layer in theirs.layers[:3]] == ["RandomPerspective", "RandAugment", "AugMix"]
    x = (np.random.default_rng(16).random((3, 10, 12, 3)) * 255).astype("float32")
    # At inference they only cast, in both.
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=RTOL, atol=1e-5)
    theirs.save(tmp_path / "theirs.keras")
    again = cl.saving.load_model(tmp_path / "theirs.keras")

    def plain(config):  # the file's JSON turns the pairs into lists
        return {key: tuple(value) if isinstance(value, list) else value for key, value in config.items()}

    assert [plain(_config(layer)) for layer in again.layers] == [plain(_config(layer)) for layer in theirs.layers]
