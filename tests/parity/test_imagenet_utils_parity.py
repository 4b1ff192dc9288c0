"""course_lib.applications.imagenet_utils against Keras's keras.src.applications.imagenet_utils, in the same test.

preprocess_input in the three modes (3D and 4D, both data formats, uint8 and float inputs),
obtain_input_shape over a grid of cases (the same shape, or both raise; the same warning),
correct_pad, and decode_predictions on a synthetic class index written into a temporary
KERAS_HOME. Nothing can reach the network: Keras's cache folder is pointed at the temporary one,
its download raises and its hash check accepts (a synthetic file cannot have the real file's
hash, and a mismatch would make ``get_file`` download again).
"""
import itertools
import json
import warnings

import numpy as np
import pytest

import course_lib as cl
from course_lib.applications import imagenet_utils as ours

tf = pytest.importorskip("tensorflow")
keras = tf.keras
from keras.src.applications import imagenet_utils as theirs  # noqa: E402

pytestmark = pytest.mark.parity


@pytest.fixture
def data_format():
    """Sets the image data format of both libraries for the test, and channels_last again after it."""
    def set_format(value):
        keras.config.set_image_data_format(value)
        cl.config.set_image_data_format(value)
    yield set_format
    set_format("channels_last")


# ---------------------------------------------------------------- preprocess_input
def _images(shape, dtype, seed=0):
    values = np.random.default_rng(seed).uniform(0, 255, shape)
    return values.round().astype(dtype) if dtype == "uint8" else values.astype(dtype)


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("layout, shape", [
    ("channels_last", (2, 5, 4, 3)), ("channels_last", (5, 4, 3)),
    ("channels_first", (2, 3, 5, 4)), ("channels_first", (3, 5, 4)),
])
@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64"])
def test_preprocess_input_matches_keras(mode, layout, shape, dtype):
    x = _images(shape, dtype)
    original = x.copy()
    mine = ours.preprocess_input(x, data_format=layout, mode=mode)
    np.testing.assert_array_equal(x, original)  # course_lib leaves its input unchanged
    keras_result = theirs.preprocess_input(x.copy(), data_format=layout, mode=mode)
    assert mine.dtype == keras_result.dtype  # uint8 -> floatx (float32), a float input keeps its precision
    assert mine.shape == keras_result.shape
    tolerance = 1e-6 if mine.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(mine, keras_result, rtol=tolerance, atol=tolerance * 255)


@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
def test_preprocess_input_follows_the_global_data_format(data_format, layout):
    data_format(layout)
    x = _images((2, 3, 4, 3) if layout == "channels_last" else (2, 3, 4, 4), "float32", seed=1)
    np.testing.assert_allclose(ours.preprocess_input(x), theirs.preprocess_input(x.copy()), rtol=1e-6, atol=1e-4)


def test_keras_changes_a_float_input_in_place_and_course_lib_does_not():
    """The odd corner of Keras's NumPy path that course_lib deliberately does not copy."""
    x = _images((2, 4, 4, 3), "float32", seed=2)
    keras_input, our_input = x.copy(), x.copy()
    theirs.preprocess_input(keras_input, mode="tf")
    ours.preprocess_input(our_input, mode="tf")
    assert not np.array_equal(keras_input, x)
    np.testing.assert_array_equal(our_input, x)


def test_a_wrong_mode_or_data_format_is_refused_by_both():
    x = _images((1, 2, 2, 3), "float32")
    for kwargs in ({"mode": "pytorch"}, {"data_format": "channels_middle"}):
        with pytest.raises(ValueError):
            theirs.preprocess_input(x.copy(), **kwargs)
        with pytest.raises(ValueError, match="preprocess_input: "):
            ours.preprocess_input(x, **kwargs)


# ---------------------------------------------------------------- obtain_input_shape
SHAPES = [None, (224, 224, 3), (32, 32, 3), (31, 64, 3), (64, 16, 3), (None, None, 3), (None, 64, 3),
          (64, 64, 1), (64, 64, 4), (3, 224, 224), (3, 64, 64), (4, 64, 64), (1, 64, 64), (3, 31, 64),
          (3, None, None), (100, 120, 3), (64, 64), (2, 64, 64, 3)]
CASES = list(itertools.product(SHAPES, ["channels_last", "channels_first"], [True, False],
                               [None, "imagenet", "/some/weights.h5"]))


def _outcome(function, *args, **kwargs):
    """(the result or the exception's class, the messages of the warnings it gave)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = function(*args, **kwargs)
        except ValueError:
            result = ValueError
    return result, [str(w.message) for w in caught]


@pytest.mark.parametrize("input_shape, layout, require_flatten, weights", CASES)
def test_obtain_input_shape_gives_keras_s_shape_or_keras_s_error(input_shape, layout, require_flatten, weights):
    keras_result, keras_warnings = _outcome(theirs.obtain_input_shape, input_shape, 224, 32, layout,
                                            require_flatten, weights)
    our_result, our_warnings = _outcome(ours.obtain_input_shape, input_shape, 224, 32, data_format=layout,
                                        require_flatten=require_flatten, weights=weights)
    assert our_result == keras_result
    assert our_warnings == keras_warnings  # "This model usually expects 1 or 3 input channels ..." or none


def test_obtain_input_shape_s_errors_name_the_network():
    with pytest.raises(ValueError, match=r"ResNet50: the input must be at least 32x32"):
        ours.obtain_input_shape((16, 16, 3), 224, 32, "channels_last", False, None, where="ResNet50")
    with pytest.raises(ValueError, match=r"ResNet50: with include_top=True and weights='imagenet', input_shape "
                                         r"must be \(224, 224, 3\)"):
        ours.obtain_input_shape((64, 64, 3), 224, 32, "channels_last", True, "imagenet", where="ResNet50")


def test_obtain_input_shape_defaults_to_the_global_data_format(data_format):
    data_format("channels_first")
    assert ours.obtain_input_shape(None, 224, 32, require_flatten=False) == \
        theirs.obtain_input_shape(None, 224, 32, keras.config.image_data_format(), False) == (3, None, None)


# ---------------------------------------------------------------- correct_pad
@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
@pytest.mark.parametrize("size", [(224, 224), (225, 225), (7, 8), (None, None), (33, None)])
@pytest.mark.parametrize("kernel_size", [3, 5, (3, 5), (2, 2)])
def test_correct_pad_matches_keras(data_format, layout, size, kernel_size):
    data_format(layout)
    shape = size + (3,) if layout == "channels_last" else (3,) + size
    def outcome(function, tensor):
        try:
            return function(tensor, kernel_size)
        except TypeError:  # Keras's rule fails on a free width after a known height: so does course_lib's
            return TypeError
    expected = outcome(theirs.correct_pad, keras.Input(shape))
    assert outcome(ours.correct_pad, cl.layers.Input(shape)) == expected
    assert (expected is TypeError) == (size == (33, None))


# ---------------------------------------------------------------- decode_predictions
class NetworkBlocked(AssertionError):
    pass


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """One KERAS_HOME for Keras and course_lib, Keras's download replaced by a failure; its models folder."""
    from keras.src.backend import config as keras_config
    from keras.src.utils import file_utils

    def no_download(origin, *args, **kwargs):
        raise NetworkBlocked(f"Keras tried to download {origin}")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path))
    monkeypatch.setattr(file_utils, "urlretrieve", no_download)
    monkeypatch.setattr(file_utils, "validate_file", lambda *args, **kwargs: True)
    monkeypatch.setattr(theirs, "CLASS_INDEX", None)  # Keras keeps the first index it read in a global
    (tmp_path / "models").mkdir()
    return tmp_path / "models"


def test_without_the_class_index_keras_would_download_and_course_lib_says_where_to_put_it(keras_home):
    scores = np.full((1, 1000), 1e-3, dtype="float32")
    with pytest.raises(Exception, match="tried to download .*imagenet_class_index.json"):
        theirs.decode_predictions(scores)
    with pytest.raises(FileNotFoundError, match=f"course_lib downloads nothing. Put it at "
                                                f"{keras_home / 'imagenet_class_index.json'}"):
        ours.decode_predictions(scores)


@pytest.mark.parametrize("top", [1, 5, 1000])
def test_decode_predictions_matches_keras_on_a_synthetic_class_index(keras_home, top):
    index = {str(i): [f"n{i:08d}", f"synthetic_{i}"] for i in range(1000)}
    (keras_home / "imagenet_class_index.json").write_text(json.dumps(index))
    preds = np.random.default_rng(3).dirichlet(np.ones(1000), size=3).astype("float32")
    keras_result = theirs.decode_predictions(preds, top=top)
    our_result = ours.decode_predictions(preds, top=top)
    assert our_result == keras_result
    assert len(our_result) == 3 and len(our_result[0]) == top
    assert our_result[0][0] == (index[str(preds[0].argmax())][0], index[str(preds[0].argmax())][1],
                                preds[0].max())


def test_decode_predictions_refuses_what_keras_refuses(keras_home):
    for preds in (np.zeros((2, 10)), np.zeros(1000), np.zeros((1, 1000, 1))):
        with pytest.raises(ValueError):
            theirs.decode_predictions(preds)
        with pytest.raises(ValueError, match="decode_predictions: expected a batch of predictions"):
            ours.decode_predictions(preds)
