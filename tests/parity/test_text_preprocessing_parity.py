"""TextVectorization, StringLookup, IntegerLookup and CategoryEncoding give tf.keras's results, computed in the same test.

Both libraries adapt on the same small corpus (written so that several
tokens tie in frequency where ``max_tokens`` cuts) or get the same
vocabulary, then encode the same queries (with OOV words, empty texts,
texts longer and shorter than ``output_sequence_length``).

Measured against tf.keras 3.15 (TensorFlow 2.21, CPU): vocabularies, int
indices, one-hot, multi-hot and count vectors and inverted lookups are
identical (values, shapes and dtypes: Keras returns int64 for all of them);
the learned idf weights are identical except the OOV entry, their float32
mean, which TensorFlow sums in another order (1 ulp, 1.2e-7 at most), so
tf_idf vectors agree within 9.6e-7 absolute where an OOV count of 8
multiplies it (8.6e-8 relative), hence rtol 1e-6 with atol 1e-7; CategoryEncoding's
float32 outputs are identical. FarmHash64 (several OOV indices) is bit-exact
against ``tf.strings.to_hash_bucket_fast`` on strings of every length class.
Configs are equal dicts (the name aside), and Keras's configs rebuild ours.
"""
import json
import os
import zipfile

import numpy as np
import pytest

import course_lib as cl
from course_lib import layers
from course_lib.preprocessing import text as text_rules

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-6, 1e-7

# "sat", "dog" and "cat" tie at 3; "a", "mat", "on" at 2; the rest at 1: max_tokens cuts inside ties.
CORPUS = [
    "The cat sat on the mat.",
    "The dog sat, the DOG ran!",
    "A cat and a dog",
    "cat sat on mat",
    "zebra's can't sit",
    "",
    "  spaces\tand\nnewlines  ",
]
QUERIES = ["the cat sat on the zebra", "unknown words only", "", "Dog, dog, DOG and the mat ran far away today",
           "a"]


def _config(layer):
    config = dict(layer.get_config())
    config.pop("name")
    return config


def _same(ours, theirs, tolerance=False):
    theirs = np.asarray(theirs)
    ours = np.asarray(ours)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    if tolerance:
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
    else:
        np.testing.assert_array_equal(ours, theirs)


def _strings(value):
    return np.vectorize(lambda item: item.decode("utf-8") if isinstance(item, bytes) else item, otypes=[object])(
        np.asarray(value))


def _vocabulary(layer):
    return [item.decode() if isinstance(item, bytes) else (item.item() if hasattr(item, "item") else item)
            for item in layer.get_vocabulary()]


# ------------------------------------------------------------ TextVectorization
TEXT_CASES = [
    {},
    {"output_sequence_length": 4},
    {"output_sequence_length": 12},
    {"max_tokens": 5},
    {"max_tokens": 8, "output_sequence_length": 6},
    {"ngrams": 2},
    {"ngrams": (2, 3), "max_tokens": 10},
    {"output_mode": "multi_hot"},
    {"output_mode": "multi_hot", "max_tokens": 6},
    {"output_mode": "count"},
    {"output_mode": "count", "ngrams": 2, "max_tokens": 9},
    {"output_mode": "count", "max_tokens": 12, "pad_to_max_tokens": True},
    {"output_mode": "tf_idf"},
    {"output_mode": "tf_idf", "max_tokens": 7},
    {"output_mode": "tf_idf", "ngrams": 2, "max_tokens": 30, "pad_to_max_tokens": True},
    {"output_mode": "binary"},
    {"split": "character", "output_sequence_length": 10},
    {"split": None},
    {"split": None, "output_mode": "multi_hot"},
    {"standardize": None},
    {"standardize": "lower"},
    {"standardize": "strip_punctuation", "max_tokens": 6},
]


@pytest.mark.parametrize("kwargs", TEXT_CASES, ids=lambda kwargs: json.dumps(kwargs, sort_keys=True))
def test_text_vectorization_adapt_and_call_match_keras(kwargs):
    ours, theirs = layers.TextVectorization(**kwargs), keras.layers.TextVectorization(**kwargs)
    ours.adapt(CORPUS)
    theirs.adapt(CORPUS)
    assert ours.get_vocabulary() == _vocabulary(theirs)
    assert ours.vocabulary_size() == theirs.vocabulary_size()
    assert ours.get_vocabulary(include_special_tokens=False) == [
        str(token) for token in theirs.get_vocabulary(include_special_tokens=False)]
    tolerance = ours.get_config()["output_mode"] == "tf_idf"
    for queries in (QUERIES, np.array(QUERIES, dtype=object)[:, None], QUERIES[0]):
        _same(ours(queries), theirs(tf.constant(queries)), tolerance)
    assert _config(ours) == _config(theirs)


def test_text_vectorization_ties_are_broken_as_keras_breaks_them():
    corpus = ["b a c", "c a b", "d e", "e d", "f"]  # a, b, c tie at 2, d and e too, f alone
    ours, theirs = layers.TextVectorization(max_tokens=6), keras.layers.TextVectorization(max_tokens=6)
    ours.adapt(corpus)
    theirs.adapt(corpus)
    assert ours.get_vocabulary() == _vocabulary(theirs) == ["", "[UNK]", "e", "d", "c", "b"]


def test_text_vectorization_with_a_given_vocabulary_and_idf_weights():
    vocabulary = ["the", "cat", "dog", "sat"]
    for kwargs in ({"vocabulary": vocabulary}, {"vocabulary": ["", "[UNK]"] + vocabulary},
                   {"vocabulary": vocabulary, "output_mode": "count"},
                   {"vocabulary": vocabulary, "output_mode": "tf_idf", "idf_weights": [0.5, 1.5, 2.0, 0.25]},
                   {"vocabulary": ["[UNK]"] + vocabulary, "output_mode": "tf_idf",
                    "idf_weights": [0.1, 0.5, 1.5, 2.0, 0.25]},
                   {"vocabulary": vocabulary, "output_mode": "tf_idf", "idf_weights": [0.5, 1.5, 2.0, 0.25],
                    "max_tokens": 8, "pad_to_max_tokens": True}):
        ours, theirs = layers.TextVectorization(**kwargs), keras.layers.TextVectorization(**kwargs)
        assert ours.get_vocabulary() == _vocabulary(theirs)
        _same(ours(QUERIES), theirs(tf.constant(QUERIES)), tolerance=True)
        assert _config(ours) == _config(theirs)
        rebuilt = layers.TextVectorization.from_config(theirs.get_config())
        _same(rebuilt(QUERIES), theirs(tf.constant(QUERIES)), tolerance=True)


def test_text_vectorization_set_vocabulary_matches_keras(tmp_path):
    path = tmp_path / "vocabulary.txt"
    path.write_text("dog\ncat\nthe\n", encoding="utf-8")
    ours, theirs = layers.TextVectorization(output_sequence_length=5), keras.layers.TextVectorization(
        output_sequence_length=5)
    for vocabulary in (["mat", "on", "sat"], str(path)):
        ours.set_vocabulary(vocabulary)
        theirs.set_vocabulary(vocabulary)
        assert ours.get_vocabulary() == _vocabulary(theirs)
        _same(ours(QUERIES), theirs(tf.constant(QUERIES)))


def test_text_vectorization_callables():
    ours = layers.TextVectorization(standardize=lambda text: text.lower().replace("cat", "dog"),
                                    split=lambda text: text.split("-"))
    theirs = keras.layers.TextVectorization(
        standardize=lambda texts: tf.strings.regex_replace(tf.strings.lower(texts), "cat", "dog"),
        split=lambda texts: tf.strings.split(texts, sep="-"))
    corpus = ["CAT-dog-bird", "bird-bird-cat", "fish", "a--b"]
    ours.adapt(corpus)
    theirs.adapt(corpus)
    assert ours.get_vocabulary() == _vocabulary(theirs)
    queries = ["cat-bird-x", "a--b-fish", "Dog"]
    _same(ours(queries), theirs(tf.constant(queries)))


def test_text_vectorization_adapt_on_batches_and_steps():
    batches = [CORPUS[:3], CORPUS[3:5], CORPUS[5:]]
    for steps in (None, 2):
        ours = layers.TextVectorization(output_mode="tf_idf")
        theirs = keras.layers.TextVectorization(output_mode="tf_idf")
        ours.adapt(iter(batches), steps=steps)
        theirs.adapt(tf.data.Dataset.from_tensor_slices(tf.ragged.constant(batches)).map(lambda x: x),
                     steps=steps)
        assert ours.get_vocabulary() == _vocabulary(theirs)
        _same(ours(QUERIES), theirs(tf.constant(QUERIES)), tolerance=True)


def test_text_vectorization_config_rebuilds_from_keras():
    theirs = keras.layers.TextVectorization(max_tokens=20, ngrams=(1, 2), output_mode="count",
                                            pad_to_max_tokens=True, standardize="lower", split="character")
    ours = layers.TextVectorization.from_config(theirs.get_config())
    assert _config(ours) == _config(theirs)
    ours.adapt(CORPUS)
    theirs.adapt(CORPUS)
    _same(ours(QUERIES), theirs(tf.constant(QUERIES)))


# ---------------------------------------------------------------- StringLookup
STRING_DATA = [["a", "b", "c", "a"], ["c", "a", "d", "e"], ["e", "f", "", "a"], ["b", "b", "g", "h"]]
STRING_QUERIES = [["a", "z", "", "h"], ["unknown", "b", "f", "c"], ["q", "r", "s", "tt"]]
STRING_CASES = [
    {},
    {"max_tokens": 5},
    {"mask_token": ""},
    {"mask_token": "", "max_tokens": 6},
    {"num_oov_indices": 3},
    {"num_oov_indices": 2, "mask_token": ""},
    {"oov_token": "<?>"},
    {"output_mode": "one_hot", "mask_token": ""},
    {"output_mode": "multi_hot", "mask_token": ""},
    {"output_mode": "count", "num_oov_indices": 2},
    {"output_mode": "count", "max_tokens": 10, "pad_to_max_tokens": True},
    {"output_mode": "tf_idf", "mask_token": ""},
    {"output_mode": "tf_idf", "max_tokens": 5},
]


@pytest.mark.parametrize("kwargs", STRING_CASES, ids=lambda kwargs: json.dumps(kwargs, sort_keys=True))
def test_string_lookup_matches_keras(kwargs):
    ours, theirs = layers.StringLookup(**kwargs), keras.layers.StringLookup(**kwargs)
    ours.adapt(STRING_DATA)
    theirs.adapt(tf.constant(STRING_DATA))
    assert ours.get_vocabulary() == _vocabulary(theirs)
    tolerance = kwargs.get("output_mode") == "tf_idf"
    _same(ours(STRING_QUERIES), theirs(tf.constant(STRING_QUERIES)), tolerance)
    if kwargs.get("output_mode", "int") == "int":
        one = [row[0] for row in STRING_QUERIES]  # a 1-D batch too
        _same(ours(one), theirs(tf.constant(one)))
    else:
        column = [[row[0]] for row in STRING_QUERIES]
        _same(ours(column), theirs(tf.constant(column)), tolerance)
    assert _config(ours) == _config(theirs)


def test_string_lookup_adapt_on_a_flat_list_counts_each_entry_as_a_document():
    data = ["a", "b", "a", "c", "a", "b"]
    ours, theirs = layers.StringLookup(output_mode="tf_idf"), keras.layers.StringLookup(output_mode="tf_idf")
    ours.adapt(data)
    theirs.adapt(data)
    assert ours.get_vocabulary() == _vocabulary(theirs)
    _same(ours([["a", "b", "x"]]), theirs(tf.constant([["a", "b", "x"]])), tolerance=True)


@pytest.mark.parametrize("kwargs", [{}, {"mask_token": ""}, {"num_oov_indices": 2, "oov_token": "?"},
                                    {"mask_token": "", "num_oov_indices": 0}])
def test_string_lookup_invert_matches_keras(kwargs):
    vocabulary = ["cat", "dog", "bird"]
    ours = layers.StringLookup(vocabulary=vocabulary, invert=True, **kwargs)
    theirs = keras.layers.StringLookup(vocabulary=vocabulary, invert=True, **kwargs)
    indices = [[0, 1, 2], [3, 4, 5], [6, 2, 0]]
    result = ours(indices)
    assert result.dtype == object
    np.testing.assert_array_equal(result, _strings(theirs(tf.constant(indices))))
    assert ours.get_vocabulary() == _vocabulary(theirs)
    assert _config(ours) == _config(theirs)
    forward = layers.StringLookup(vocabulary=vocabulary, **kwargs)
    np.testing.assert_array_equal(ours(forward([["dog", "cat"]])), [["dog", "cat"]])


def test_farmhash_fingerprint_matches_tensorflow():
    generator = np.random.default_rng(0)
    alphabet = list("abcdefghij é日本")
    strings = ["", "a", "ab", "abc", "abcd", "hello world"] + [
        "".join(generator.choice(alphabet, size)) for size in list(range(1, 140)) + [255, 256, 257, 999]]
    buckets = 2 ** 62
    theirs = tf.strings.to_hash_bucket_fast(strings, buckets).numpy()
    ours = [text_rules.farmhash_fingerprint64(text.encode("utf-8")) % buckets for text in strings]
    np.testing.assert_array_equal(ours, theirs)


# --------------------------------------------------------------- IntegerLookup
INTEGER_DATA = [[12, 36, 12, 7], [7, 7, 1138, 0], [36, 12, 5, 5], [0, 0, 8, 9]]
INTEGER_QUERIES = [[12, 99, 0, 7], [-3, 36, 1138, 4], [5, 6, 10, 11]]
INTEGER_CASES = [
    {},
    {"max_tokens": 4},
    {"mask_token": 0},
    {"num_oov_indices": 3},
    {"num_oov_indices": 3, "oov_method": "farmhash"},
    {"num_oov_indices": 2, "mask_token": 0},
    {"oov_token": -7},
    {"output_mode": "one_hot"},
    {"output_mode": "multi_hot", "mask_token": 0},
    {"output_mode": "count", "num_oov_indices": 2},
    {"output_mode": "count", "max_tokens": 12, "pad_to_max_tokens": True},
    {"output_mode": "tf_idf"},
]


@pytest.mark.parametrize("kwargs", INTEGER_CASES, ids=lambda kwargs: json.dumps(kwargs, sort_keys=True))
def test_integer_lookup_matches_keras(kwargs):
    ours, theirs = layers.IntegerLookup(**kwargs), keras.layers.IntegerLookup(**kwargs)
    ours.adapt(np.array(INTEGER_DATA))
    theirs.adapt(np.array(INTEGER_DATA))
    assert ours.get_vocabulary() == _vocabulary(theirs)
    tolerance = kwargs.get("output_mode") == "tf_idf"
    _same(ours(np.array(INTEGER_QUERIES)), theirs(np.array(INTEGER_QUERIES)), tolerance)
    assert _config(ours) == _config(theirs)


def test_integer_lookup_invert_and_given_vocabulary_match_keras():
    for kwargs in ({"vocabulary": [12, 36, 1138]}, {"vocabulary": [12, 36, 1138], "mask_token": 0},
                   {"vocabulary": [-1, 12, 36]}):
        for invert in (False, True):
            ours = layers.IntegerLookup(invert=invert, **kwargs)
            theirs = keras.layers.IntegerLookup(invert=invert, **kwargs)
            values = [[0, 1, 2, 3], [4, 12, 36, 1138]]
            _same(ours(values), theirs(np.array(values)))
            assert ours.get_vocabulary() == _vocabulary(theirs)
            assert _config(ours) == _config(theirs)
            rebuilt = layers.IntegerLookup.from_config(theirs.get_config())
            _same(rebuilt(values), theirs(np.array(values)))


# ------------------------------------------------------------ CategoryEncoding
@pytest.mark.parametrize("output_mode", ["one_hot", "multi_hot", "count"])
def test_category_encoding_matches_keras(output_mode):
    ours = layers.CategoryEncoding(num_tokens=6, output_mode=output_mode)
    theirs = keras.layers.CategoryEncoding(num_tokens=6, output_mode=output_mode)
    cases = [np.array([[0, 1, 1, 5], [3, 3, 2, 0]]), np.array([4, 0, 4]), np.array([[1], [5], [0]]),
             np.array([[0, 9, 2]])]  # 9 is out of range: dropped, or a zero row
    for values in cases:
        _same(ours(values), theirs(values))
    assert _config(ours) == _config(theirs)
    rebuilt = layers.CategoryEncoding.from_config(theirs.get_config())
    _same(rebuilt(cases[0]), theirs(cases[0]))


def test_category_encoding_count_weights_match_keras():
    ours, theirs = layers.CategoryEncoding(4, output_mode="count"), keras.layers.CategoryEncoding(4, "count")
    values = np.array([[0, 1, 1], [3, 3, 2]])
    weights = np.array([[0.5, 1.0, 1.25], [1.0, 2.0, 3.0]])
    _same(ours(values, count_weights=weights), theirs(values, count_weights=weights))


# ------------------------------------------------------------------- saving
def _integer_lookup_model(library, mode):
    lookup = library.layers.IntegerLookup(output_mode=mode)
    lookup.adapt(np.array(INTEGER_DATA))
    inputs = library.Input(shape=(4,), dtype="int64")
    if mode == "int":
        hidden = library.layers.GlobalAveragePooling1D()(library.layers.Embedding(12, 3)(lookup(inputs)))
    else:
        hidden = lookup(inputs)
    return library.Model(inputs, library.layers.Dense(2)(hidden))


@pytest.mark.parametrize("mode", ["int", "tf_idf"])
def test_a_lookup_model_file_moves_between_the_libraries(tmp_path, mode):
    values = np.array(INTEGER_QUERIES, dtype="int64")
    ours = _integer_lookup_model(cl, mode)
    ours.save(tmp_path / "ours.keras")
    names = zipfile.ZipFile(tmp_path / "ours.keras").namelist()
    assert "assets/layers/integer_lookup/vocabulary.txt" in names
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(theirs.predict(values, verbose=0), ours.predict(values, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert _vocabulary(theirs.layers[1]) == ours.layers[1].get_vocabulary()

    keras_model = _integer_lookup_model(keras, mode)
    keras_model.save(tmp_path / "theirs.keras")
    loaded = cl.models.load_model(tmp_path / "theirs.keras")
    assert loaded.layers[1].get_vocabulary() == _vocabulary(keras_model.layers[1])
    np.testing.assert_allclose(loaded.predict(values, verbose=0), keras_model.predict(values, verbose=0),
                               rtol=1e-5, atol=1e-6)


def _string_inputs_supported():
    try:
        cl.Input(shape=(1,), dtype="string")
    except ValueError:
        return False
    return True


needs_string_inputs = pytest.mark.skipif(
    not _string_inputs_supported(),
    reason="course_lib's Input refuses dtype='string' (course_lib/layers/core.py and models.py need the small "
           "change for string model inputs)",
)


def _text_model(library, mode, corpus):
    vectorize = library.layers.TextVectorization(max_tokens=9, output_mode=mode,
                                                 output_sequence_length=5 if mode == "int" else None)
    vectorize.adapt(corpus)
    inputs = library.Input(shape=(1,), dtype="string")
    hidden = vectorize(inputs)
    if mode == "int":
        hidden = library.layers.GlobalAveragePooling1D()(library.layers.Embedding(9, 4)(hidden))
    return library.Model(inputs, library.layers.Dense(1)(hidden))


@needs_string_inputs
@pytest.mark.parametrize("mode", ["int", "tf_idf"])
def test_a_text_vectorization_model_file_moves_between_the_libraries(tmp_path, mode):
    texts = np.array(QUERIES, dtype=object)[:, None]
    ours = _text_model(cl, mode, CORPUS)
    ours.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    assert _vocabulary(theirs.layers[1]) == ours.layers[1].get_vocabulary()
    np.testing.assert_allclose(theirs.predict(tf.constant(texts.astype(str)), verbose=0),
                               ours.predict(texts, verbose=0), rtol=1e-5, atol=1e-6)

    keras_model = _text_model(keras, mode, CORPUS)
    keras_model.save(tmp_path / "theirs.keras")
    loaded = cl.models.load_model(tmp_path / "theirs.keras")
    assert loaded.layers[1].get_vocabulary() == _vocabulary(keras_model.layers[1])
    np.testing.assert_allclose(loaded.predict(texts, verbose=0),
                               keras_model.predict(tf.constant(texts.astype(str)), verbose=0), rtol=1e-5, atol=1e-6)
    assert os.path.exists(tmp_path / "theirs.keras")
