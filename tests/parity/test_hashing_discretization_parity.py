"""Discretization, Hashing and HashedCrossing give tf.keras's results, computed in the same test.

Both libraries adapt on the same data (arrays, lists of batches, generators,
a ``tf.data.Dataset`` with ``steps``; sizes below and far above ``1 /
epsilon`` so that Keras's summaries are compressed and merged) or get the same
boundaries, then encode the same queries in every output mode.

Measured against tf.keras 3.15 (TensorFlow 2.21, CPU): the learned bin
boundaries are identical floats (Keras's approximate quantiles reproduced step
for step), and every output is identical in values, shape and dtype (int32
bins, float32 vectors for Discretization; int64 bins for Hashing and
HashedCrossing): FarmHash64 and SipHash-2-4 (``salt``) against
``to_hash_bucket_fast`` / ``to_hash_bucket_strong`` on strings of every length
class, integers and floats, masks, and ``cross_hashed``. Configs are equal
dicts (the name aside), Keras's configs rebuild ours, and ``.keras`` files
round-trip both ways.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import layers

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity


def _config(layer):
    config = dict(layer.get_config())
    config.pop("name")
    return config


def _same(ours, theirs):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_array_equal(ours, theirs)


# ------------------------------------------------------------ Discretization
def _data(seed, size):
    generator = np.random.default_rng(seed)
    return np.concatenate([generator.standard_normal(size // 2) * 3, generator.exponential(2.0, size - size // 2)])


ADAPT_CASES = [
    ("small-array", {"num_bins": 4}, lambda: np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]])),
    ("large-array", {"num_bins": 7}, lambda: _data(0, 5000).reshape(50, 100)),
    ("coarse-epsilon", {"num_bins": 5, "epsilon": 0.1}, lambda: _data(1, 333)),
    ("fine-epsilon", {"num_bins": 10, "epsilon": 0.001}, lambda: _data(2, 4000)),
    ("list-of-batches", {"num_bins": 6}, lambda: [_data(3, 120), _data(4, 700), _data(5, 55)]),
    ("generator", {"num_bins": 3, "epsilon": 0.05}, lambda: (_data(s, 300) for s in range(4))),
    ("ties", {"num_bins": 4}, lambda: np.repeat(np.arange(6.0), [1, 40, 2, 30, 3, 24])),
    ("integers", {"num_bins": 5}, lambda: np.arange(-50, 250).reshape(30, 10)),
]


@pytest.mark.parametrize("case, kwargs, make", ADAPT_CASES, ids=[c[0] for c in ADAPT_CASES])
def test_discretization_adapt_matches_keras(case, kwargs, make):
    ours, theirs = layers.Discretization(**kwargs), keras.layers.Discretization(**kwargs)
    ours.adapt(make())
    theirs.adapt(make())
    assert ours.bin_boundaries == theirs.bin_boundaries
    queries = np.concatenate([_data(9, 64), np.array(theirs.bin_boundaries)]).reshape(1, -1).astype("float32")
    _same(ours(queries), theirs(queries))
    assert _config(ours) == _config(theirs)


def test_discretization_adapt_on_a_dataset_with_steps_matches_keras():
    dataset = tf.data.Dataset.from_tensor_slices(_data(7, 2000).astype("float32")).batch(256)
    ours, theirs = layers.Discretization(num_bins=8), keras.layers.Discretization(num_bins=8)
    ours.adapt(dataset, steps=3)
    theirs.adapt(dataset, steps=3)
    assert ours.bin_boundaries == theirs.bin_boundaries


QUERIES = [
    np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]]),
    np.array([[0.5], [2.0], [-7.0]]),
    np.array([0.1, 1.0, 2.5]),
    np.array(1.5),
    np.arange(24.0).reshape(2, 3, 4) / 8 - 0.5,
    np.array([[0, 1, 2], [3, -1, 2]]),  # integers are cast to float32, as Keras's input dtype
]


@pytest.mark.parametrize("output_mode", ["int", "one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("query", range(len(QUERIES)))
def test_discretization_encodings_match_keras(output_mode, query):
    x = QUERIES[query]
    kwargs = {"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": output_mode}
    ours, theirs = layers.Discretization(**kwargs), keras.layers.Discretization(**kwargs)
    _same(ours(x), theirs(x))
    if x.ndim >= 1:
        shape = (None,) + x.shape[1:]
        assert tuple(ours.compute_output_shape(shape)) == tuple(theirs.compute_output_shape(shape))
    assert _config(ours) == _config(theirs)


def test_discretization_float32_comparison_matches_keras():
    # 0.1 in float64 lies above float32(0.1), a boundary: both compare in float32.
    x = np.array([[0.1, np.nextafter(0.1, 1.0), 0.30000001192092896, 0.3]])
    kwargs = {"bin_boundaries": [0.1, 0.2, 0.3]}
    _same(layers.Discretization(**kwargs)(x), keras.layers.Discretization(**kwargs)(x))


def test_discretization_config_of_an_adapted_keras_layer_rebuilds_ours():
    theirs = keras.layers.Discretization(num_bins=5, output_mode="count")
    theirs.adapt(_data(8, 1000))
    ours = layers.Discretization.from_config(theirs.get_config())
    assert ours.get_config() == theirs.get_config()
    x = _data(11, 40).reshape(10, 4)
    _same(ours(x), theirs(x))
    rebuilt = keras.layers.Discretization.from_config(ours.get_config())
    _same(rebuilt(x), theirs(x))


def test_discretization_keras_files_round_trip_both_ways(tmp_path):
    x = _data(12, 40).reshape(10, 4).astype("float32")
    ours = cl.models.Sequential([cl.Input((4,)), layers.Discretization(num_bins=6, output_mode="multi_hot")])
    ours.layers[-1].adapt(_data(13, 800))
    ours.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    _same(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    assert theirs.layers[-1].bin_boundaries == ours.layers[-1].bin_boundaries

    keras_model = keras.Sequential([keras.Input((4,)), keras.layers.Discretization(num_bins=4)])
    keras_model.layers[-1].adapt(_data(14, 500))
    keras_model.save(tmp_path / "theirs.keras")
    loaded = cl.models.load_model(tmp_path / "theirs.keras")
    assert loaded.layers[-1].bin_boundaries == keras_model.layers[-1].bin_boundaries
    _same(loaded.predict(x, verbose=0), keras_model.predict(x, verbose=0))


# ------------------------------------------------------------ Hashing
STRINGS = np.array([["A", "B", "", "hello"], ["a" * 9, "b" * 16, "c" * 17, "d" * 31],
                    ["e" * 33, "f" * 64, "g" * 65, "naïve ünïcödé " * 12]])
INTEGERS = np.array([[0, 1, -1, 7], [101, -4, 2 ** 40, -(2 ** 62)]])
FLOATS = np.array([[1.7, -1.7, 0.0, -0.2], [3.0, 1e9, -4.9, 2.5]])

HASHING_CASES = [
    ("strings", {"num_bins": 7}, STRINGS),
    ("strings-mask", {"num_bins": 7, "mask_value": ""}, STRINGS),
    ("strings-salt-int", {"num_bins": 11, "salt": 133}, STRINGS),
    ("strings-salt-pair", {"num_bins": 11, "salt": [133, 137]}, STRINGS),
    ("strings-salt-mask", {"num_bins": 5, "salt": (7, 2 ** 40), "mask_value": "A"}, STRINGS),
    ("integers", {"num_bins": 13}, INTEGERS),
    ("integers-mask", {"num_bins": 13, "mask_value": 0}, INTEGERS),
    ("integers-salt", {"num_bins": 13, "salt": 5}, INTEGERS),
    ("integers-int32", {"num_bins": 13, "dtype": "int32"}, INTEGERS.astype("int32")),
    ("floats", {"num_bins": 9}, FLOATS),
    ("floats-mask", {"num_bins": 9, "mask_value": 0.0}, FLOATS),
    ("one-bin-mask", {"num_bins": 1, "mask_value": "A"}, STRINGS),
    ("column", {"num_bins": 3}, np.array([["A"], ["B"], ["C"], ["D"], ["E"]])),
]


@pytest.mark.parametrize("output_mode", ["int", "one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("case, kwargs, x", HASHING_CASES, ids=[c[0] for c in HASHING_CASES])
def test_hashing_matches_keras(case, kwargs, x, output_mode):
    kwargs = dict(kwargs, output_mode=output_mode)
    if output_mode != "int":
        kwargs.pop("dtype", None)  # an integer dtype is only for output_mode="int"
    ours, theirs = layers.Hashing(**kwargs), keras.layers.Hashing(**kwargs)
    _same(ours(x), theirs(tf.constant(x)))
    assert _config(ours) == _config(theirs)
    assert _config(layers.Hashing.from_config(theirs.get_config())) == _config(theirs)


def test_hashing_keras_files_round_trip_both_ways(tmp_path):
    x = STRINGS.reshape(-1, 1)
    ours = cl.models.Sequential([cl.Input((1,), dtype="string"),
                                 layers.Hashing(num_bins=6, salt=[3, 4], mask_value="", output_mode="one_hot")])
    ours.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    _same(ours.predict(x, verbose=0), theirs.predict(tf.constant(x), verbose=0))

    keras_model = keras.Sequential([keras.Input((1,), dtype="string"), keras.layers.Hashing(num_bins=17)])
    keras_model.save(tmp_path / "theirs.keras")
    loaded = cl.models.load_model(tmp_path / "theirs.keras")
    assert _config(loaded.layers[-1]) == _config(keras_model.layers[-1])
    _same(loaded.predict(x, verbose=0), keras_model.predict(tf.constant(x), verbose=0))


# ------------------------------------------------------------ HashedCrossing
CROSS_CASES = [
    ("strings-integers", (np.array(["A", "B", "A", "B", "A"]), np.array([101, 101, 101, 102, 102]))),
    ("three-features", (np.array([["x"], ["y"], ["zz" * 20]]), np.array([[-1], [0], [2 ** 50]]),
                        np.array([["p"], ["q"], [""]]))),
    ("integers-int32", (np.array([3, -3, 9], dtype="int32"), np.array([1, 2, 3], dtype="int32"))),
    ("scalars", (np.array("A"), np.array(5))),
]


@pytest.mark.parametrize("output_mode", ["int", "one_hot"])
@pytest.mark.parametrize("case, features", CROSS_CASES, ids=[c[0] for c in CROSS_CASES])
def test_hashed_crossing_matches_keras(case, features, output_mode):
    ours = layers.HashedCrossing(num_bins=7, output_mode=output_mode)
    theirs = keras.layers.HashedCrossing(num_bins=7, output_mode=output_mode)
    _same(ours(features), theirs(tuple(tf.constant(f) for f in features)))
    assert _config(ours) == _config(theirs)
    assert _config(layers.HashedCrossing.from_config(theirs.get_config())) == _config(theirs)


def test_hashed_crossing_keras_files_round_trip_both_ways(tmp_path):
    words, numbers = np.array([["A"], ["B"], ["C"], ["A"]]), np.array([[1], [2], [3], [-4]])

    def model(library, lib_layers):
        first = library.Input((1,), dtype="string")
        second = library.Input((1,), dtype="int64")
        return library.Model([first, second], lib_layers.HashedCrossing(num_bins=9)([first, second]))

    ours = model(cl, layers)
    ours.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    _same(ours.predict([words, numbers], verbose=0), theirs([tf.constant(words), tf.constant(numbers)]))

    keras_model = model(keras, keras.layers)
    keras_model.save(tmp_path / "theirs.keras")
    loaded = cl.models.load_model(tmp_path / "theirs.keras")
    _same(loaded.predict([words, numbers], verbose=0), keras_model([tf.constant(words), tf.constant(numbers)]))
