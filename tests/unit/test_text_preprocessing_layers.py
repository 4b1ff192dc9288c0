"""TextVectorization, StringLookup, IntegerLookup and CategoryEncoding: behaviour, errors, no gradient, saving.

These layers have no backward pass (token lookups have no derivative): the
tests check that the engine stops at them, that a backward call names the
layer, and that a model with a lookup trains the layers after it.
"""
import zipfile

import numpy as np
import pytest

import course_lib as cl
from course_lib import layers
from course_lib.preprocessing import text as text_rules

CORPUS = ["The cat sat.", "the dog sat", "A cat, a dog!", "zebra"]


# ------------------------------------------------------------ host helpers
def test_ngrams_and_ranking_rules():
    assert text_rules.ngrams(["a", "b", "c"], (1, 2)) == ["a", "b", "c", "a b", "b c"]
    assert text_rules.ngrams(["a"], (2, 3)) == []
    assert text_rules.rank_by_count({"b": 2, "a": 2, "c": 1, "d": 3}) == ["d", "b", "a", "c"]
    assert text_rules.rank_by_count({3: 1, 10: 1, -2: 4}) == [-2, 10, 3]


def test_as_host_array_decodes_bytes_and_refuses_numbers():
    array = text_rules.as_host_array([[b"caf\xc3\xa9"], ["x"]], "here")
    assert array.dtype == object and array.shape == (2, 1) and array[0, 0] == "café"
    assert text_rules.as_host_array("one", "here").shape == ()
    with pytest.raises(TypeError, match=r"here: expected strings .* Received: an array of dtype int64"):
        text_rules.as_host_array(np.arange(3), "here")
    with pytest.raises(TypeError, match=r"here: expected integers"):
        text_rules.as_host_array([0.5, 1.0], "here", "int")
    assert text_rules.as_host_array([1.0, 2.0], "here", "int").dtype == np.int64


# --------------------------------------------------------- TextVectorization
def test_text_vectorization_vocabulary_and_indices():
    layer = layers.TextVectorization(output_sequence_length=4)
    layer.adapt(CORPUS)
    # the (3 times), then cat/dog/sat/a at 2 (reverse alphabetical), then zebra.
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "sat", "dog", "cat", "a", "zebra"]
    assert layer.get_vocabulary(include_special_tokens=False)[0] == "the"
    assert layer.vocabulary_size() == 8
    out = layer(["the cat ran away fast", "dog"])
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[2, 5, 1, 1], [4, 0, 0, 0]])  # cut at 4, padded with 0


def test_text_vectorization_pads_to_the_longest_text_without_a_length():
    layer = layers.TextVectorization(vocabulary=["a", "b"])
    np.testing.assert_array_equal(layer(["a b a", "b", ""]), [[2, 3, 2], [3, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(layer("b c"), [3, 1])  # one text: a 1-D row
    np.testing.assert_array_equal(layer(np.array([["a"], ["b b"]])), [[2, 0], [3, 3]])


def test_text_vectorization_max_tokens_counts_the_special_tokens():
    layer = layers.TextVectorization(max_tokens=4)
    layer.adapt(CORPUS)
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "sat"]


def test_text_vectorization_ngrams_follow_widths_in_order():
    layer = layers.TextVectorization(ngrams=2, vocabulary=["a", "b", "a b", "b a"])
    np.testing.assert_array_equal(layer(["a b a"]), [[2, 3, 2, 4, 5]])
    assert layers.TextVectorization(ngrams=3)._ngrams == (1, 2, 3)


def test_text_vectorization_vector_modes():
    counts = layers.TextVectorization(output_mode="count")
    counts.adapt(CORPUS)
    assert counts.get_vocabulary()[:2] == ["[UNK]", "the"]  # no padding entry outside int mode
    out = counts(["the the zebra moon", ""])
    assert out.dtype == np.int64 and out.shape == (2, 7)
    np.testing.assert_array_equal(out, [[1, 2, 0, 0, 0, 0, 1], [0] * 7])
    multi = layers.TextVectorization(output_mode="multi_hot", vocabulary=["a", "b"], max_tokens=5,
                                     pad_to_max_tokens=True)
    np.testing.assert_array_equal(multi(["a a c"]), [[1, 1, 0, 0, 0]])
    tfidf = layers.TextVectorization(output_mode="tf_idf")
    tfidf.adapt(["a b", "b c c"])
    assert tfidf.get_vocabulary() == ["[UNK]", "c", "b", "a"]  # c: 2, b: 2 ("c" > "b"), a: 1
    idf = np.log(1 + 2 / (1 + np.array([1, 2, 1])))  # documents containing c, b, a
    out = tfidf(["c c a x"])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[idf.mean(), 2 * idf[0], 0, idf[2]]], rtol=1e-6)


def test_text_vectorization_callables_take_one_text():
    layer = layers.TextVectorization(standardize=lambda text: text.upper(), split=lambda text: text.split(","))
    layer.adapt(["a,b", "b,c"])
    assert layer.get_vocabulary() == ["", "[UNK]", "B", "C", "A"]
    with pytest.raises(TypeError, match=r"TextVectorization 'text_vectorization_1': the standardize function must "
                                        r"return a str"):
        layers.TextVectorization(standardize=lambda text: 3)(["a"])


def test_adapt_starts_afresh_and_reads_batches():
    layer = layers.TextVectorization()
    layer.adapt(["x y"])
    layer.adapt(batch for batch in (["a b"], ["b"]))
    assert layer.get_vocabulary() == ["", "[UNK]", "b", "a"]
    layer.adapt(iter([["c"], ["d"], ["e"]]), steps=2)
    assert layer.get_vocabulary() == ["", "[UNK]", "d", "c"]


@pytest.mark.parametrize("kwargs, message", [
    ({"max_tokens": 1}, r"TextVectorization: max_tokens must be None or an int greater than 1"),
    ({"standardize": "upper"}, r"TextVectorization: standardize must be .* Received: standardize='upper'"),
    ({"split": "comma"}, r"TextVectorization: split must be .* Received: split='comma'"),
    ({"output_mode": "bag"}, r"TextVectorization: output_mode must be one of .* Received: output_mode='bag'"),
    ({"ngrams": [1, 2]}, r"TextVectorization: ngrams must be None, an int or a tuple of ints"),
    ({"output_mode": "count", "output_sequence_length": 3},
     r"TextVectorization: output_sequence_length is only for output_mode='int'"),
    ({"output_sequence_length": 2.5}, r"TextVectorization: output_sequence_length must be None or an int"),
    ({"pad_to_max_tokens": True}, r"TextVectorization: pad_to_max_tokens=True needs max_tokens"),
    ({"sparse": True}, r"TextVectorization: `sparse=True` is not supported by course_lib"),
    ({"ragged": True}, r"TextVectorization: `ragged=True` is not supported by course_lib"),
    ({"vocabulary": ["a", "a"]}, r"TextVectorization 'text_vectorization': the vocabulary has repeated terms"),
    ({"vocabulary": ["a", "", "b"]}, r"reserved mask token '' at index 1"),
    ({"vocabulary": ["a", "b"], "max_tokens": 3}, r"the vocabulary has 4 entries, more than max_tokens=3"),
    ({"output_mode": "tf_idf", "vocabulary": ["a"]}, r"TextVectorization: with a `vocabulary` in "
                                                      r"output_mode='tf_idf', pass `idf_weights` too"),
    ({"idf_weights": [1.0]}, r"TextVectorization: idf_weights is only for output_mode='tf_idf'"),
    ({"bogus": 1}, r"unrecognized keyword arguments: \['bogus'\]"),
])
def test_text_vectorization_refuses_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        layers.TextVectorization(**kwargs)


def test_text_vectorization_call_errors_name_the_layer():
    layer = layers.TextVectorization(vocabulary=["a"])
    with pytest.raises(ValueError, match=r"TextVectorization 'text_vectorization': to split texts the input must "
                                         r"have rank 1 or a last axis of size 1. Received: input with shape \(1, 2\)"):
        layer([["a", "b"]])
    with pytest.raises(TypeError, match=r"TextVectorization 'text_vectorization' call: expected strings"):
        layer(np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"TextVectorization 'text_vectorization': cannot adapt a layer whose "
                                         r"vocabulary was set"):
        layer.adapt(["b"])
    with pytest.raises(RuntimeError, match=r"TextVectorization 'text_vectorization_1': with "
                                           r"output_mode='multi_hot' and pad_to_max_tokens=False, set the vocabulary"):
        layers.TextVectorization(output_mode="multi_hot")(["a"])
    with pytest.raises(ValueError, match=r"output_mode='one_hot' after splitting"):
        layers.TextVectorization(output_mode="one_hot", vocabulary=["a"])(["a a"])


def test_vector_sizes_are_frozen_as_in_keras():
    layer = layers.TextVectorization(output_mode="multi_hot", vocabulary=["a", "b"])
    with pytest.raises(RuntimeError, match=r"the vocabulary size cannot change once set. Old vocab size is 3, "
                                           r"new vocab size is 4"):
        layer.set_vocabulary(["a", "b", "c"])
    layer.set_vocabulary(["c", "d"])
    np.testing.assert_array_equal(layer(["d"]), [[0, 0, 1]])


# ----------------------------------------------------------------- lookups
def test_string_lookup_indices_mask_and_oov():
    layer = layers.StringLookup(vocabulary=["a", "b", "c"], mask_token="")
    assert layer.get_vocabulary() == ["", "[UNK]", "a", "b", "c"]
    np.testing.assert_array_equal(layer([["a", ""], ["z", "c"]]), [[2, 0], [1, 4]])
    inverse = layers.StringLookup(vocabulary=["a", "b", "c"], mask_token="", invert=True)
    np.testing.assert_array_equal(inverse([[2, 0], [1, 9]]), [["a", ""], ["[UNK]", "[UNK]"]])
    multi = layers.StringLookup(vocabulary=["a", "b"], mask_token="", output_mode="multi_hot")
    np.testing.assert_array_equal(multi([["a", ""], ["", "q"]]), [[0, 1, 0], [1, 0, 0]])  # the mask is dropped


def test_several_oov_indices_hash_as_keras():
    strings = layers.StringLookup(vocabulary=["a"], num_oov_indices=3)
    expected = [text_rules.farmhash_fingerprint64(word.encode()) % 3 for word in ("hello", "world")]
    np.testing.assert_array_equal(strings(["a", "hello", "world"]), [3] + expected)
    integers = layers.IntegerLookup(vocabulary=[5, 7], num_oov_indices=3, mask_token=0)
    np.testing.assert_array_equal(integers([5, 7, 0, 8, 9, 10, -4]), [4, 5, 0, 3, 1, 2, 3])  # floormod


def test_no_oov_index_makes_an_unknown_value_an_error():
    layer = layers.StringLookup(vocabulary=["a"], num_oov_indices=0)
    np.testing.assert_array_equal(layer(["a"]), [0])
    with pytest.raises(ValueError, match=r"StringLookup 'string_lookup': with num_oov_indices=0 every input must be "
                                         r"in the vocabulary; found OOV values \['b'\]"):
        layer(["a", "b"])


def test_integer_lookup_adapt_ranks_ties_by_value_descending():
    layer = layers.IntegerLookup(max_tokens=4)
    layer.adapt(np.array([3, 10, 3, 10, -2, -2, -2, 4]))
    assert layer.get_vocabulary() == [-1, -2, 10, 3]
    assert layer.get_config()["oov_token"] == -1


@pytest.mark.parametrize("cls, kwargs, message", [
    (layers.StringLookup, {"num_oov_indices": -1}, r"StringLookup: num_oov_indices must be an int >= 0"),
    (layers.StringLookup, {"invert": True, "output_mode": "count"}, r"StringLookup: invert=True needs output_mode='int'"),
    (layers.StringLookup, {"salt": 3}, r"StringLookup: `salt` .* is not supported"),
    (layers.StringLookup, {"oov_method": "modulo"}, r"StringLookup: oov_method must be 'floormod' or 'farmhash'"),
    (layers.StringLookup, {"vocabulary": []}, r"StringLookup 'string_lookup': cannot set an empty vocabulary"),
    (layers.StringLookup, {"vocabulary": ["a", "[UNK]"], "invert": True}, r"reserved OOV token '\[UNK\]' at index 1"),
    (layers.IntegerLookup, {"vocabulary_dtype": "int32"}, r"IntegerLookup: only vocabulary_dtype='int64'"),
    (layers.IntegerLookup, {"max_tokens": 0}, r"IntegerLookup: max_tokens must be None or an int greater than 1"),
])
def test_lookups_refuse_bad_arguments(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


def test_lookup_reads_a_vocabulary_file(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("x\ny\n", encoding="utf-8")
    layer = layers.StringLookup(vocabulary=str(path))
    np.testing.assert_array_equal(layer(["y", "x", "z"]), [2, 1, 0])
    assert layer.get_config()["vocabulary"] is None  # as Keras: a file's vocabulary is saved as an asset
    with pytest.raises(ValueError, match=r"StringLookup 'string_lookup_1': the vocabulary file .* does not exist"):
        layers.StringLookup(vocabulary=str(tmp_path / "missing.txt"))


# ---------------------------------------------------------- CategoryEncoding
def test_category_encoding_modes():
    values = np.array([[0, 1], [0, 0], [1, 2], [3, 1]])
    multi = layers.CategoryEncoding(4)(values)
    assert multi.dtype == np.float32
    np.testing.assert_array_equal(multi, [[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1]])
    np.testing.assert_array_equal(layers.CategoryEncoding(4, "count")(values)[1], [2, 0, 0, 0])
    np.testing.assert_array_equal(layers.CategoryEncoding(3, "one_hot")([[2], [0]]), [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(layers.CategoryEncoding(3, "multi_hot")([0, 2]), [1, 0, 1])  # 1-D: one sample
    weighted = layers.CategoryEncoding(3, "count")([[0, 0, 2]], count_weights=[[0.5, 0.25, 2.0]])
    np.testing.assert_allclose(weighted, [[0.75, 0, 2.0]])


def test_category_encoding_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"CategoryEncoding: num_tokens must be set"):
        layers.CategoryEncoding()
    with pytest.raises(ValueError, match=r"CategoryEncoding: num_tokens must be an int >= 1. Received: num_tokens=0"):
        layers.CategoryEncoding(0)
    with pytest.raises(ValueError, match=r"CategoryEncoding: output_mode must be one of"):
        layers.CategoryEncoding(3, "tf_idf")
    layer = layers.CategoryEncoding(3)
    with pytest.raises(ValueError, match=r"CategoryEncoding 'category_encoding': the category indices must be >= 0"):
        layer([[0, -1]])
    with pytest.raises(ValueError, match=r"count_weights is only used in output_mode='count'"):
        layer([[0]], count_weights=[[1.0]])
    with pytest.raises(ValueError, match=r"count_weights must have the inputs' shape \(1, 2\)"):
        layers.CategoryEncoding(3, "count")([[0, 1]], count_weights=[[1.0]])


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("make", [
    lambda: layers.TextVectorization(vocabulary=["a"]),
    lambda: layers.StringLookup(vocabulary=["a"]),
    lambda: layers.IntegerLookup(vocabulary=[3]),
    lambda: layers.CategoryEncoding(3),
])
def test_backward_is_refused_with_the_layers_name(make):
    layer = make()
    assert layer.differentiable is False
    layer(["a"] if not isinstance(layer, (layers.IntegerLookup, layers.CategoryEncoding)) else [[1]])
    with pytest.raises(TypeError, match=rf"{type(layer).__name__} '{layer.name}' is a preprocessing layer: .* no "
                                        r"gradient flows through it"):
        layer.backward(np.ones((1, 1)))


def test_a_model_trains_the_layers_after_a_lookup():
    lookup = layers.IntegerLookup()
    lookup.adapt(np.array([[1, 2, 3, 4, 5]]))
    inputs = cl.Input(shape=(3,), dtype="int64")
    embedding = layers.Embedding(lookup.vocabulary_size(), 4)
    outputs = layers.Dense(1)(layers.GlobalAveragePooling1D()(embedding(lookup(inputs))))
    model = cl.Model(inputs, outputs)
    model.compile("sgd", "mse")
    before = embedding.get_weights()[0].copy()
    x = np.array([[1, 2, 9], [3, 4, 5], [5, 5, 1]])
    history = model.fit(x, np.ones((3, 1)), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    changed = np.any(embedding.get_weights()[0] != before, axis=1)
    assert changed.tolist() == [True, True, True, True, True, True]  # OOV (0) and the five values, all used
    encoded = cl.Sequential([cl.Input((4,), dtype="int64"), layers.CategoryEncoding(5), layers.Dense(2)])
    encoded.compile("sgd", "mse")
    encoded.fit(np.array([[0, 1, 2, 4]]), np.ones((1, 2)), verbose=0)


# ------------------------------------------------------------------- saving
def test_configs_rebuild_the_layers():
    layer = layers.TextVectorization(max_tokens=10, ngrams=(1, 2), vocabulary=["a", "b"], name="tv")
    clone = layers.deserialize(layers.serialize(layer))
    assert isinstance(clone, layers.TextVectorization)
    assert clone.get_config() == layer.get_config()
    np.testing.assert_array_equal(clone(["a b c"]), layer(["a b c"]))
    for layer in (layers.StringLookup(vocabulary=["x"], mask_token="", invert=True),
                  layers.IntegerLookup(vocabulary=[4, 5], output_mode="count"),
                  layers.CategoryEncoding(4, "count")):
        clone = layers.deserialize(layers.serialize(layer))
        assert type(clone) is type(layer) and clone.get_config() == layer.get_config()


def test_an_adapted_lookup_survives_save_and_load(tmp_path):
    lookup = layers.IntegerLookup(output_mode="tf_idf")
    lookup.adapt(np.array([[1, 2, 2], [2, 3, 7]]))
    inputs = cl.Input(shape=(3,), dtype="int64")
    model = cl.Model(inputs, layers.Dense(2)(lookup(inputs)))
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert archive.read("assets/layers/integer_lookup/vocabulary.txt").decode() == "-1\n2\n7\n3\n1"
    loaded = cl.models.load_model(tmp_path / "m.keras")
    assert loaded.layers[1].get_vocabulary() == lookup.get_vocabulary()
    x = np.array([[1, 7, 9], [2, 2, 3]])
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_text_vectorization_saves_its_vocabulary_as_keras_does(tmp_path):
    from course_lib import saving

    layer = layers.TextVectorization(output_mode="tf_idf")
    layer.adapt(CORPUS)
    paths = dict(saving._layer_paths(_Holder([layer])))
    assert set(paths) == {"layers/text_vectorization", "layers/text_vectorization/_lookup_layer"}
    layer.save_assets(str(tmp_path))
    store = {}
    layer.save_own_variables(store)
    clone = layers.TextVectorization.from_config(layer.get_config())
    clone.load_own_variables(store)
    clone.load_assets(str(tmp_path))
    assert clone.get_vocabulary() == layer.get_vocabulary()
    np.testing.assert_array_equal(clone(["the cat", "x"]), layer(["the cat", "x"]))


class _Holder:
    """The little of a model that saving's walk over layers reads."""

    def __init__(self, layer_list):
        self.layers = layer_list


def _string_inputs_supported():
    try:
        cl.Input(shape=(1,), dtype="string")
    except ValueError:
        return False
    return True


@pytest.mark.skipif(not _string_inputs_supported(),
                    reason="course_lib's Input refuses dtype='string' (core.py / models.py change pending)")
def test_a_text_model_survives_save_and_load(tmp_path):
    vectorize = layers.TextVectorization(max_tokens=8, output_sequence_length=4)
    vectorize.adapt(CORPUS)
    model = cl.Sequential([cl.Input(shape=(1,), dtype="string"), vectorize, layers.Embedding(8, 3),
                           layers.GlobalAveragePooling1D(), layers.Dense(1)])
    model.compile("adam", "mse")
    texts = np.array([["the cat"], ["a dog sat"], ["zebra"]], dtype=object)
    model.fit(texts, np.ones((3, 1)), epochs=1, verbose=0)
    model.save(tmp_path / "text.keras")
    loaded = cl.models.load_model(tmp_path / "text.keras")
    assert loaded.layers[0].get_vocabulary() == vectorize.get_vocabulary()
    np.testing.assert_array_equal(loaded.predict(texts, verbose=0), model.predict(texts, verbose=0))


def test_the_layers_follow_the_strict_backends_rules():
    from course_lib import backend

    with backend.backend_scope("strict"):
        vectorize = layers.TextVectorization(output_mode="tf_idf")
        vectorize.adapt(CORPUS)
        weights = backend.to_numpy(vectorize(["the cat", "zebra zebra"]))
        ids = backend.to_numpy(layers.TextVectorization(vocabulary=["a"], output_sequence_length=3)(["a b"]))
        counts = backend.to_numpy(layers.CategoryEncoding(3, "count")(np.array([[0, 2, 2]])))
        lookup = backend.to_numpy(layers.IntegerLookup(vocabulary=[4], output_mode="multi_hot")([[4, 5]]))
    plain = layers.TextVectorization(output_mode="tf_idf")
    plain.adapt(CORPUS)
    np.testing.assert_array_equal(weights, plain(["the cat", "zebra zebra"]))
    np.testing.assert_array_equal(ids, [[2, 1, 0]])
    np.testing.assert_array_equal(counts, [[1, 0, 2]])
    np.testing.assert_array_equal(lookup, [[1, 1]])
