"""The more augmentation layers give tf.keras's numbers, computed in the same test.

Randomness is pinned as in ``test_preprocessing_layers_parity.py``: Keras's
``get_random_transformation`` draws (with a seed), and that transformation
goes to both libraries' ``transform_images``. RandomHeight and RandomWidth are
Keras's legacy layers (``keras._legacy.layers``), which have no
``get_random_transformation``: a factor ``(f, f)`` makes their draw
deterministic, and whole calls are compared.

Measured against tf.keras 3.15 (TensorFlow 2.21, CPU), float32 images in
[0, 255] (or the case's value_range), over the cases below: bit-exact for
RandomShear, RandomGrayscale, RandomInvert, RandomPosterization, Solarization,
AutoContrast and RandomErasing, and RandomHeight/RandomWidth with bilinear or
nearest; RandomSharpness within 2.3e-5 absolute on [0, 255] (the 3x3 blur
summed in another order), bicubic and area resizes within 3.1e-5. Gradients
against ``tf.GradientTape``: exact for shear (zero shear), grayscale,
inversion and erasing, 4.8e-7 absolute for sharpness, 4.3e-6 for AutoContrast
on [0, 255] (gradients of order 10 through the minima and maxima).
Hence ``assert_array_equal`` where the result is gathered or bit-exact in
every float order (EXACT), rtol 1e-5 with atol 5e-5 elsewhere on [0, 255],
and rtol 1e-5 with atol 2e-6 for the gradients.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras
from keras.src.legacy import layers as legacy_layers  # noqa: E402

from augmentation_tape import (  # noqa: E402
    assert_configs_match, assert_draw_changes_images, assert_inference_matches, assert_transform_matches,
    config_without_name as _config, images as _images,
    keras_transformation as _keras_transformation, tape_gradient,
)

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 5e-5
EXACT = {"RandomShear", "RandomInvert", "RandomPosterization", "Solarization", "RandomErasing"}

LAYER_CASES = [
    ("RandomShear", {"x_factor": 0.3, "y_factor": (0.1, 0.4)}),
    ("RandomShear", {"x_factor": 0.5, "fill_mode": "constant", "fill_value": 3.0, "interpolation": "nearest"}),
    ("RandomGrayscale", {"factor": 0.6}),
    ("RandomInvert", {}),
    ("RandomInvert", {"factor": (0.2, 0.8), "value_range": (0, 1)}),
    ("RandomPosterization", {"factor": (2, 7)}),
    ("RandomPosterization", {"factor": 3, "value_range": (0, 1)}),
    ("Solarization", {"addition_factor": (0.1, 0.3), "threshold_factor": (0.2, 0.7)}),
    ("Solarization", {"value_range": (0, 1)}),
    ("AutoContrast", {}),
    ("AutoContrast", {"value_range": (0, 1)}),
    ("RandomSharpness", {"factor": (0.0, 1.0)}),
    ("RandomSharpness", {"factor": 0.8, "value_range": (0, 1)}),
    ("RandomErasing", {"scale": (0.1, 0.6)}),
    ("RandomErasing", {"factor": (0.5, 1.0), "fill_value": 7.0, "value_range": (0, 100)}),
]
_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(LAYER_CASES)]
_NO_SEED = {"AutoContrast"}


def _pair(name, kwargs, data_format="channels_last"):
    kwargs = dict(kwargs, data_format=data_format)
    if name not in _NO_SEED:
        kwargs["seed"] = 5
    return getattr(keras.layers, name)(**kwargs), getattr(cl.layers, name)(**kwargs)


@pytest.mark.parametrize("name, kwargs", LAYER_CASES, ids=_IDS)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_transform_images_with_keras_s_transformation(name, kwargs, data_format):
    generator = np.random.default_rng(7)
    for shape in [(3, 7, 8, 3), (7, 8, 3)]:
        theirs, ours = _pair(name, kwargs, data_format)
        assert_transform_matches(theirs, ours, _images(generator, shape, kwargs, data_format), name in EXACT,
                                 RTOL, ATOL)


def test_transformations_that_change_the_images_were_drawn():
    """The cases above are not vacuous: with Keras's draws the layers change the images."""
    generator = np.random.default_rng(8)
    for name, kwargs in LAYER_CASES:
        x = _images(generator, (6, 7, 8, 3), kwargs, "channels_last")
        assert_draw_changes_images(_pair(name, kwargs)[0], x, name)


@pytest.mark.parametrize("name, kwargs", LAYER_CASES, ids=_IDS)
def test_inference_matches_keras_including_dtypes(name, kwargs):
    assert_inference_matches(lambda: _pair(name, kwargs), exact=False, rtol=RTOL, atol=ATOL)


def test_grayscale_keeps_integer_images_while_training_as_keras_does():
    x = (np.random.default_rng(10).random((4, 5, 6, 3)) * 255).astype("uint8")
    theirs, ours = _pair("RandomGrayscale", {"factor": 1.0})
    transformation = _keras_transformation(theirs, x)
    expected = np.asarray(theirs.transform_images(x, transformation, training=True))
    result = ours.transform_images(x, transformation, training=True)
    assert result.dtype == expected.dtype == np.uint8
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("name, kwargs", LAYER_CASES, ids=_IDS)
def test_configs_match_and_rebuild(name, kwargs):
    # Keras 3.15 cannot rebuild its own RandomShear(f) (it stores (-f, f) and then refuses negatives); we can.
    assert_configs_match(*_pair(name, kwargs))


# ---------------------------------------------------------- legacy resizes
@pytest.mark.parametrize("name", ["RandomHeight", "RandomWidth"])
@pytest.mark.parametrize("factor, interpolation", [((0.4, 0.4), "bilinear"), ((-0.3, -0.3), "nearest"),
                                                   ((0.25, 0.25), "bicubic"), ((-0.5, -0.5), "area")])
def test_legacy_resizes_match_keras(name, factor, interpolation):
    generator = np.random.default_rng(11)
    for shape in [(2, 9, 10, 3), (9, 10, 3)]:
        x = (generator.random(shape) * 255).astype("float32")
        theirs = getattr(legacy_layers, name)(factor, interpolation=interpolation, seed=1)
        ours = getattr(cl.layers, name)(factor, interpolation=interpolation, seed=1)
        for training in (True, False):
            expected = theirs(x, training=training).numpy()
            result = ours(x, training=training)
            assert result.shape == expected.shape and result.dtype == expected.dtype
            if interpolation in ("bilinear", "nearest"):
                np.testing.assert_array_equal(result, expected)
            else:
                np.testing.assert_allclose(result, expected, rtol=RTOL, atol=ATOL)
        assert _config(ours) == _config(theirs)
        assert ours.compute_output_shape((None, 9, 10, 3)) == tuple(theirs.compute_output_shape((None, 9, 10, 3)))


def test_a_saved_legacy_resize_opens_in_course_lib(tmp_path):
    theirs = keras.Sequential([keras.Input((8, 9, 3)), legacy_layers.RandomHeight((0.5, 0.5), seed=2),
                               legacy_layers.RandomWidth(0.2, interpolation="nearest")])
    theirs.save(tmp_path / "legacy.keras")
    ours = cl.saving.load_model(tmp_path / "legacy.keras")

    def plain(config):  # the file's JSON turns the factor pair into a list
        return {key: tuple(value) if isinstance(value, list) else value for key, value in config.items()}

    assert [plain(_config(layer)) for layer in ours.layers] == [plain(_config(layer)) for layer in theirs.layers]
    x = np.random.default_rng(16).random((2, 8, 9, 3)).astype("float32")
    assert ours(x, training=True).shape[:2] == (2, 12)  # the height x1.5; the width drawn in [7, 10]


# ---------------------------------------------------------------- gradients
def _pinned(layer, transformation):
    layer.get_random_transformation = lambda data, training=True, seed=None: transformation
    return layer


GRADIENT_CASES = [case for case in LAYER_CASES if case[0] != "RandomPosterization"]


@pytest.mark.parametrize("name, kwargs", GRADIENT_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(GRADIENT_CASES)])
def test_layer_gradients_match_the_tape(name, kwargs):
    generator = np.random.default_rng(12)
    x = _images(generator, (3, 7, 8, 3), kwargs, "channels_last")
    theirs, ours = _pair(name, kwargs)
    transformation = _keras_transformation(theirs, x)
    if name == "RandomShear":  # TF's warp gradient is the inverse warp, exact only for whole-pixel moves
        transformation["shear_factor"] = np.zeros((3, 2), "float32")
    y, dy, expected = tape_gradient(theirs, x, transformation, generator)
    ours = _pinned(ours, transformation)
    result = ours(x, training=True)
    np.testing.assert_allclose(result, y, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.backward(dy), expected, rtol=RTOL, atol=2e-6)


@pytest.mark.parametrize("name", ["RandomHeight", "RandomWidth"])
def test_legacy_resize_gradients_match_the_tape(name):
    generator = np.random.default_rng(13)
    x = generator.random((2, 6, 7, 2)).astype("float32")
    theirs, ours = getattr(legacy_layers, name)((0.5, 0.5)), getattr(cl.layers, name)((0.5, 0.5))
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        y = theirs(tensor, training=True)
    dy = generator.standard_normal(y.shape).astype("float32")
    expected = tape.gradient(y, tensor, output_gradients=tf.constant(dy)).numpy()
    np.testing.assert_allclose(ours(x, training=True), y.numpy(), rtol=RTOL, atol=2e-6)
    np.testing.assert_allclose(ours.backward(dy), expected, rtol=RTOL, atol=2e-6)


def test_posterization_has_no_gradient_in_either():
    x = tf.constant((np.random.default_rng(14).random((2, 4, 5, 3)) * 255).astype("float32"))
    theirs, ours = _pair("RandomPosterization", {"factor": 4})
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = theirs.transform_images(x, {"shift_factor": np.array([4, 4], "uint8")}, training=True)
    assert tape.gradient(y, x) is None
    assert ours.differentiable is False


def test_a_saved_augmentation_model_opens_in_keras_and_back(tmp_path):
    layers = cl.layers
    model = cl.Sequential([
        cl.Input((10, 12, 3)), layers.RandomShear((0.1, 0.2), seed=1), layers.RandomGrayscale(0.3),
        layers.RandomInvert(0.5), layers.RandomPosterization(4), layers.Solarization(0.1, 0.5),
        layers.AutoContrast(), layers.RandomSharpness(0.7), layers.RandomErasing(scale=(0.1, 0.2)),
        layers.Rescaling(1 / 255.0), layers.Flatten(), layers.Dense(2),
    ])
    model.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    x = (np.random.default_rng(15).random((3, 10, 12, 3)) * 255).astype("float32")
    # At inference only AutoContrast acts, the same in both.
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=RTOL, atol=1e-5)
    theirs.save(tmp_path / "theirs.keras")
    again = cl.saving.load_model(tmp_path / "theirs.keras")
    assert [_config(layer) for layer in again.layers] == [_config(layer) for layer in theirs.layers]


@pytest.mark.parametrize("name", ["RandomHeight", "RandomWidth"])
def test_a_course_lib_file_with_a_legacy_resize_opens_in_keras(name, tmp_path):
    """Keras 3 has RandomHeight/RandomWidth only under keras._legacy.layers: course_lib's file says so."""
    model = cl.Sequential([cl.Input((8, 8, 3)), getattr(cl.layers, name)(0.2, seed=1), cl.layers.Flatten()])
    assert cl.layers.serialize(model.layers[0])["module"] == "keras._legacy.layers"
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.layers[0]).__name__ == name
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
