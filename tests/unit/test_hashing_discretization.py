"""Discretization, Hashing and HashedCrossing: behaviour, encodings, adapt, errors, no gradient, strict backend.

Known values come from Keras's own docstrings (the examples of each layer) and
from the SipHash paper's test vector; the tf.keras comparison, computed in the
same test, lives in ``tests/parity/test_hashing_discretization_parity.py``.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend, layers
from course_lib.layers.hashing_and_discretization import siphash64

X = np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]])
LETTERS = [["A"], ["B"], ["C"], ["D"], ["E"]]


# ------------------------------------------------------------ Discretization
def test_discretization_buckets_with_given_boundaries_as_keras_documents():
    y = layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0])(X)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, [[0, 2, 3, 1], [1, 3, 2, 1]])


def test_discretization_adapt_learns_keras_documented_boundaries():
    layer = layers.Discretization(num_bins=4, epsilon=0.01)
    layer.adapt(X)
    np.testing.assert_array_equal(layer(X), [[0, 2, 3, 2], [1, 3, 3, 1]])
    assert layer.bin_boundaries == [0.0, 0.5, float(np.float32(1.3))]
    assert layer.get_config()["num_bins"] == 4


def test_discretization_adapt_of_uniform_data_gives_its_quantiles():
    layer = layers.Discretization(num_bins=4, epsilon=0.001)
    layer.adapt(np.arange(10000.0))
    # Approximate quantiles: within epsilon * N = 10 of the exact ones.
    np.testing.assert_allclose(layer.bin_boundaries, np.quantile(np.arange(10000.0), [0.25, 0.5, 0.75]), atol=10)
    again = layers.Discretization(num_bins=4, epsilon=0.001)
    again.adapt(iter([np.arange(5000.0), np.arange(5000.0, 10000.0)]))  # batches, merged
    np.testing.assert_allclose(again.bin_boundaries, layer.bin_boundaries, atol=10)
    partial = layers.Discretization(num_bins=2)
    partial.adapt([np.zeros(10), np.ones(10) * 100], steps=1)  # only the first batch
    assert partial.bin_boundaries == [0.0]


@pytest.mark.parametrize("output_mode, expected", [
    ("one_hot", np.eye(4)[[[0, 2, 3, 1], [1, 3, 2, 1]]]),
    ("multi_hot", [[1, 1, 1, 1], [0, 1, 1, 1]]),
    ("count", [[1, 1, 1, 1], [0, 2, 1, 1]]),
])
def test_discretization_encodings(output_mode, expected):
    layer = layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode=output_mode)
    y = layer(X)
    assert y.dtype == np.float32 and y.shape == layer.compute_output_shape(X.shape)
    np.testing.assert_array_equal(y, expected)


def test_discretization_shapes_of_the_encodings():
    layer = layers.Discretization(bin_boundaries=[0.0, 1.0], output_mode="one_hot")
    assert layer(np.zeros((5, 1))).shape == (5, 3)  # a last axis of 1 is replaced
    assert layer(np.array(0.5)).shape == (1, 3)  # a scalar is a batch of one
    count = layers.Discretization(bin_boundaries=[0.0, 1.0], output_mode="count")
    assert count(np.zeros((2, 4, 5))).shape == (2, 5, 3) == count.compute_output_shape((2, 4, 5))


def test_discretization_config_and_from_config_of_an_adapted_layer():
    layer = layers.Discretization(num_bins=3, output_mode="multi_hot")
    layer.adapt(np.arange(30.0))
    config = layer.get_config()
    assert set(config) == {"bin_boundaries", "num_bins", "epsilon", "output_mode", "sparse", "name", "dtype"}
    assert config["dtype"] == "float32" and config["sparse"] is False
    clone = layers.Discretization.from_config(config)
    assert clone.bin_boundaries == layer.bin_boundaries
    np.testing.assert_array_equal(clone(np.arange(30.0)[None]), layer(np.arange(30.0)[None]))


def test_discretization_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"Discretization: set num_bins or bin_boundaries, not both"):
        layers.Discretization(bin_boundaries=[0.0], num_bins=2)
    with pytest.raises(ValueError, match=r"Discretization: set either num_bins"):
        layers.Discretization()
    with pytest.raises(ValueError, match=r"Discretization: num_bins must be an int >= 0. Received: num_bins=-1"):
        layers.Discretization(num_bins=-1)
    with pytest.raises(ValueError, match=r"Discretization: output_mode must be one of"):
        layers.Discretization(num_bins=2, output_mode="tf_idf")
    with pytest.raises(ValueError, match=r"Discretization: `sparse=True` may only be used"):
        layers.Discretization(num_bins=2, sparse=True)
    with pytest.raises(ValueError, match=r"Discretization: `sparse=True` is not supported by course_lib"):
        layers.Discretization(num_bins=2, sparse=True, output_mode="count")
    with pytest.raises(ValueError, match=r"Discretization 'unfit': pass `bin_boundaries` or call `adapt"):
        layers.Discretization(num_bins=2, name="unfit")(X)
    with pytest.raises(ValueError, match=r"cannot adapt a layer made with `bin_boundaries`"):
        layers.Discretization(bin_boundaries=[1.0]).adapt(X)
    with pytest.raises(ValueError, match=r"bin_boundaries must be sorted"):
        layers.Discretization(bin_boundaries=[1.0, 0.0])(X)
    with pytest.raises(TypeError, match=r"Discretization 'd'.*expected a numeric array"):
        layers.Discretization(bin_boundaries=[1.0], name="d")(np.array(["a"]))


# ------------------------------------------------------------ Hashing
def test_hashing_as_keras_documents_it():
    np.testing.assert_array_equal(layers.Hashing(num_bins=3)(LETTERS), [[1], [0], [1], [1], [2]])
    masked = layers.Hashing(num_bins=3, mask_value="")([["A"], ["B"], [""], ["C"], ["D"]])
    np.testing.assert_array_equal(masked, [[1], [1], [0], [2], [2]])
    np.testing.assert_array_equal(layers.Hashing(num_bins=3, salt=[133, 137])(LETTERS), [[1], [2], [1], [0], [2]])
    np.testing.assert_array_equal(layers.Hashing(num_bins=3, salt=133)(LETTERS), [[0], [0], [2], [1], [0]])
    y = layers.Hashing(num_bins=3)(LETTERS)
    assert y.dtype == np.int64 and y.shape == (5, 1)


def test_siphash_matches_the_papers_test_vector():
    key = bytes(range(16))
    assert siphash64(int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little"), bytes(range(15))) \
        == 0xa129ca6149be45e5


def test_hashing_integers_hash_their_decimal_string_and_floats_are_truncated():
    layer = layers.Hashing(num_bins=97)
    np.testing.assert_array_equal(layer(np.array([[12, -3]])), layer([["12", "-3"]]))
    np.testing.assert_array_equal(layer(np.array([[12.9, -3.7]])), layer([["12", "-3"]]))
    assert layers.Hashing(num_bins=5, dtype="int32")(np.array([1, 2])).dtype == np.int32


def test_hashing_encodings_and_shapes():
    for mode in ("one_hot", "multi_hot", "count"):
        layer = layers.Hashing(num_bins=4, output_mode=mode)
        assert layer.dtype == "float32" and layer.get_config()["dtype"]["config"]["name"] == "float32"
    one_hot = layers.Hashing(num_bins=4, output_mode="one_hot")(LETTERS)
    assert one_hot.shape == (5, 4) and one_hot.dtype == np.float32
    np.testing.assert_array_equal(one_hot.argmax(-1), layers.Hashing(num_bins=4)(LETTERS)[:, 0])
    count = layers.Hashing(num_bins=4, output_mode="count")([["A", "A", "B"]])
    np.testing.assert_array_equal(count.sum(-1), [3])
    assert layers.Hashing(num_bins=4, output_mode="count").compute_output_shape((None, 3)) == (None, 4)


def test_hashing_config():
    config = layers.Hashing(num_bins=3, salt=7, mask_value="").get_config()
    assert config["salt"] == [7, 7] and config["mask_value"] == "" and config["dtype"]["config"]["name"] == "int64"
    assert set(config) == {"name", "trainable", "dtype", "num_bins", "salt", "mask_value", "output_mode", "sparse"}
    assert layers.Hashing.from_config(config).get_config() == config


def test_hashing_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"Hashing: num_bins must be a positive int. Received: num_bins=0"):
        layers.Hashing(num_bins=0)
    with pytest.raises(ValueError, match=r"Hashing: salt must be an int or a tuple of 2 ints"):
        layers.Hashing(num_bins=3, salt=(1, 2, 3))
    with pytest.raises(ValueError, match=r"Hashing: with output_mode='int' the dtype must be 'int32' or 'int64'"):
        layers.Hashing(num_bins=3, dtype="float32")
    with pytest.raises(ValueError, match=r"Hashing: output_mode must be one of"):
        layers.Hashing(num_bins=3, output_mode="tf_idf")
    with pytest.raises(ValueError, match=r"Hashing: `sparse` may only be True"):
        layers.Hashing(num_bins=3, sparse=True)


# ------------------------------------------------------------ HashedCrossing
def test_hashed_crossing_as_keras_documents_it():
    features = (np.array(["A", "B", "A", "B", "A"]), np.array([101, 101, 101, 102, 102]))
    y = layers.HashedCrossing(num_bins=5)(features)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, [1, 4, 1, 1, 3])
    one_hot = layers.HashedCrossing(num_bins=5, output_mode="one_hot")(features)
    assert one_hot.dtype == np.float32
    np.testing.assert_array_equal(one_hot, np.eye(5)[[1, 4, 1, 1, 3]])


def test_hashed_crossing_shapes_and_config():
    layer = layers.HashedCrossing(num_bins=7)
    assert layer([np.array([["a"], ["b"]]), np.array([[1], [2]])]).shape == (2, 1)
    assert layer([np.array("a"), np.array(1)]).shape == ()
    assert layer.compute_output_shape([(None, 1), (None, 1)]) == (None, 1)
    config = layer.get_config()
    assert config == {"num_bins": 7, "output_mode": "int", "sparse": False, "name": layer.name, "dtype": "int64"}
    assert layers.HashedCrossing.from_config(config).get_config() == config


def test_hashed_crossing_errors_name_the_layer():
    layer = layers.HashedCrossing(num_bins=3, name="cross")
    with pytest.raises(ValueError, match=r"HashedCrossing 'cross': call it on at least two inputs"):
        layer([np.array([1, 2])])
    with pytest.raises(ValueError, match=r"HashedCrossing 'cross': call it on a list or tuple"):
        layer(np.array([1, 2]))
    with pytest.raises(ValueError, match=r"HashedCrossing 'cross': every input must have shape \(\)"):
        layer([np.zeros((2, 2), "int64"), np.zeros((2, 2), "int64")])
    with pytest.raises(ValueError, match=r"HashedCrossing 'cross': all inputs must have the same shape"):
        layer([np.array([1, 2]), np.array([1, 2, 3])])
    with pytest.raises(ValueError, match=r"HashedCrossing 'cross': every input must be integers or strings"):
        layer([np.array([1.5, 2.0]), np.array([1, 2])])
    with pytest.raises(ValueError, match=r"HashedCrossing: output_mode must be one of \('int', 'one_hot'\)"):
        layers.HashedCrossing(num_bins=3, output_mode="count")


# ------------------------------------------------------------ all three
MAKERS = [
    (lambda: layers.Discretization(bin_boundaries=[0.0], name="d"), X, "Discretization 'd'"),
    (lambda: layers.Hashing(num_bins=3, name="h"), LETTERS, "Hashing 'h'"),
    (lambda: layers.HashedCrossing(num_bins=3, name="c"), [np.array(["a"]), np.array([1])], "HashedCrossing 'c'"),
]


@pytest.mark.parametrize("make, x, label", MAKERS, ids=["Discretization", "Hashing", "HashedCrossing"])
def test_backward_is_refused_with_the_layers_name(make, x, label):
    layer = make()
    y = layer(x)
    assert layer.differentiable is False
    with pytest.raises(TypeError, match=f"{label} is a preprocessing layer"):
        layer.backward(np.ones(y.shape))


def test_in_a_model_the_gradient_stops_at_the_preprocessing_layer():
    inputs = cl.Input((4,))
    bins = layers.Discretization(bin_boundaries=[-1.0, 0.0, 1.0], output_mode="count")(inputs)
    model = cl.models.Model(inputs, layers.Dense(1)(bins))
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).standard_normal((16, 4)).astype("float32")
    history = model.fit(x, np.ones((16, 1), "float32"), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_under_the_strict_backend_the_numbers_are_numpys():
    expected = [layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode="count")(X),
                layers.Hashing(num_bins=5, output_mode="one_hot")(LETTERS),
                layers.HashedCrossing(num_bins=5)([np.array(["a", "b"]), np.array([1, 2])])]
    with backend.backend_scope("strict"):
        adapted = layers.Discretization(num_bins=4)
        adapted.adapt(backend.xp.asarray(X))
        assert adapted.bin_boundaries == [0.0, 0.5, float(np.float32(1.3))]
        found = [layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode="count")(backend.xp.asarray(X)),
                 layers.Hashing(num_bins=5, output_mode="one_hot")(LETTERS),
                 layers.HashedCrossing(num_bins=5)([np.array(["a", "b"]), backend.xp.asarray(np.array([1, 2]))])]
        assert all(type(y).__name__ == "StrictArray" for y in found)
        found = [backend.to_numpy(y) for y in found]
    for ours, theirs in zip(found, expected):
        np.testing.assert_array_equal(ours, theirs)
