"""Sequences and text through Keras and course_lib: the same arrays, indices and vocabularies.

- ``pad_sequences`` against ``keras.utils.pad_sequences`` on random ragged input;
- the Tokenizer against Keras 2's, which Keras 3 still ships as
  ``tf.keras.preprocessing.text.Tokenizer``;
- ``Vocabulary`` against ``keras.layers.TextVectorization`` (``get_vocabulary()``
  and the integer outputs);
- ``datasets.imdb.load_data``'s processing against ``keras.datasets.imdb.load_data``
  on the same ``.npz`` file (Keras's download step replaced by the file's path).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import course_lib as cl
from course_lib.datasets import imdb
from course_lib.preprocessing.text import Tokenizer, Vocabulary, tokenizer_from_json

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity


# ---------------------------------------------------------------- pad_sequences
def _same_padding(sequences, **kwargs):
    expected = keras.utils.pad_sequences(sequences, **kwargs)
    received = cl.utils.pad_sequences(sequences, **kwargs)
    assert received.dtype == expected.dtype and received.shape == expected.shape
    np.testing.assert_array_equal(received, expected)


ragged = st.lists(st.lists(st.integers(-50, 50), max_size=9), max_size=7)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(sequences=ragged, maxlen=st.one_of(st.none(), st.integers(1, 10)),
       padding=st.sampled_from(["pre", "post"]), truncating=st.sampled_from(["pre", "post"]),
       value=st.one_of(st.integers(-5, 5), st.floats(-3, 3, allow_nan=False)),
       dtype=st.sampled_from(["int32", "int64", "float32", "float64", "int8"]))
def test_pad_sequences_matches_keras_on_random_ragged_input(sequences, maxlen, padding, truncating, value, dtype):
    if maxlen is None and not sequences:
        sequences = [[]]  # Keras fails on max() of no lengths; course_lib says to pass maxlen (unit-tested)
    _same_padding(sequences, maxlen=maxlen, padding=padding, truncating=truncating, value=value, dtype=dtype)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(sequences=st.lists(st.lists(st.text("abc", min_size=1, max_size=4), max_size=5), min_size=1, max_size=5),
       maxlen=st.one_of(st.none(), st.integers(1, 6)), padding=st.sampled_from(["pre", "post"]),
       truncating=st.sampled_from(["pre", "post"]))
def test_pad_sequences_matches_keras_on_strings(sequences, maxlen, padding, truncating):
    _same_padding(sequences, maxlen=maxlen, padding=padding, truncating=truncating, dtype=object, value="<pad>")
    _same_padding(sequences, maxlen=maxlen, padding=padding, truncating=truncating, dtype="U2", value="-")


def test_pad_sequences_matches_keras_on_sequences_of_vectors():
    generator = np.random.default_rng(0)
    sequences = [generator.standard_normal((length, 3)).astype("float32") for length in (0, 4, 1, 6)]
    for padding in ("pre", "post"):
        for truncating in ("pre", "post"):
            _same_padding(sequences, maxlen=5, padding=padding, truncating=truncating, dtype="float32", value=-1.0)


def test_maxlen_zero_is_the_one_documented_difference():
    """Keras's truncating='pre' keeps s[-0:], the whole sequence, and cannot fit it in 0 columns."""
    with pytest.raises(ValueError):
        keras.utils.pad_sequences([[1, 2]], maxlen=0, truncating="pre")
    _same_padding([[1, 2], []], maxlen=0, truncating="post")
    assert cl.utils.pad_sequences([[1, 2]], maxlen=0, truncating="pre").shape == (1, 0)


# ---------------------------------------------------------------- Tokenizer
WORDS = ["film", "Film", "good", "bad", "not", "the", "it's", "end", "<oov>", "a"]
texts_strategy = st.lists(
    st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from([" ", ", ", "! ", "  ", ".\n", "-"])),
             max_size=8).map(lambda pairs: "".join(word + gap for word, gap in pairs)),
    min_size=1, max_size=6)


def _same_tokenizer(ours, theirs, texts, probes):
    ours.fit_on_texts(texts)
    theirs.fit_on_texts(texts)
    assert ours.word_index == theirs.word_index
    assert ours.index_word == theirs.index_word
    assert list(ours.word_counts.items()) == list(theirs.word_counts.items())
    assert ours.word_docs == dict(theirs.word_docs) and ours.index_docs == dict(theirs.index_docs)
    assert ours.document_count == theirs.document_count
    sequences = theirs.texts_to_sequences(probes)
    assert ours.texts_to_sequences(probes) == sequences
    assert ours.sequences_to_texts(sequences + [[0, 1, 2, 50]]) == theirs.sequences_to_texts(sequences + [[0, 1, 2, 50]])
    if theirs.num_words or theirs.word_index:
        for mode in ("binary", "count", "freq", "tfidf"):
            np.testing.assert_allclose(ours.texts_to_matrix(probes, mode), theirs.texts_to_matrix(probes, mode),
                                       rtol=1e-12, err_msg=mode)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(texts=texts_strategy, probes=texts_strategy, num_words=st.one_of(st.none(), st.integers(1, 8)),
       oov_token=st.sampled_from([None, "<oov>", "film"]), lower=st.booleans(), char_level=st.booleans())
def test_tokenizer_matches_keras_2s(texts, probes, num_words, oov_token, lower, char_level):
    options = dict(num_words=num_words, oov_token=oov_token, lower=lower, char_level=char_level)
    _same_tokenizer(Tokenizer(**options), keras.preprocessing.text.Tokenizer(**options), texts, probes)


def test_tokenizer_json_crosses_between_the_libraries():
    texts = ["The film was good.", "The film was not good!", "A bad, bad film."]
    ours = Tokenizer(num_words=6, oov_token="<oov>")
    ours.fit_on_texts(texts)
    theirs = keras.preprocessing.text.tokenizer_from_json(ours.to_json())
    assert theirs.texts_to_sequences(["a good end"]) == ours.texts_to_sequences(["a good end"])
    keras_fitted = keras.preprocessing.text.Tokenizer(oov_token="<oov>")
    keras_fitted.fit_on_texts(texts)
    restored = tokenizer_from_json(keras_fitted.to_json())
    assert restored.word_index == keras_fitted.word_index
    assert restored.texts_to_sequences(["a good end"]) == keras_fitted.texts_to_sequences(["a good end"])


# ---------------------------------------------------------------- TextVectorization
TRICKY = [
    "Don't STOP: it's a 3.5-star film!", "ÉCOLE école Ünïcode", "tabs\tand\nnew\x0blines", "no\xa0break space",
    "«quoted» – dashes … ", "[brackets] (parens) {braces} <angles>", "the the the a a", "", "under_score @home #tag",
]


def _corpus_texts():
    with open(imdb.CORPUS_FILE, encoding="utf-8") as lines:
        return [line.rstrip("\n").split("\t")[2] for line in lines if not line.startswith("#")][1:]


@pytest.mark.parametrize("options", [
    {},
    {"max_tokens": 50, "output_sequence_length": 12},
    {"standardize": "lower", "max_tokens": 200},
    {"standardize": None, "split": "character"},
    {"standardize": "strip_punctuation", "split": None},
], ids=["default", "capped", "lower", "characters", "whole-texts"])
def test_vocabulary_matches_text_vectorization(options):
    texts = _corpus_texts()[:300] + TRICKY
    layer = keras.layers.TextVectorization(output_mode="int", **options)
    layer.adapt(texts)
    ours = Vocabulary(**options)
    ours.adapt(texts)
    assert ours.get_vocabulary() == layer.get_vocabulary()
    probes = _corpus_texts()[300:340] + TRICKY + ["words never seen before, zyzzyva"]
    expected = layer(tf.constant(probes)[:, None] if options.get("split", "whitespace") is None else probes).numpy()
    np.testing.assert_array_equal(ours(probes), expected)


# ---------------------------------------------------------------- imdb.load_data
def _write_npz(path, arrays):
    np.savez(path, **arrays)
    return str(path)


def _random_imdb(generator, reviews=(40, 30), vocabulary=60):
    arrays = {}
    for name, count in zip(("train", "test"), reviews):
        sequences = np.empty(count, dtype=object)
        for position in range(count):
            sequences[position] = generator.integers(1, vocabulary, generator.integers(1, 25)).tolist()
        arrays[f"x_{name}"] = sequences
        arrays[f"y_{name}"] = generator.integers(0, 2, count).astype("int64")
    return arrays


OPTIONS = [
    {},
    {"num_words": 20},
    {"num_words": 30, "skip_top": 5},
    {"maxlen": 12},
    {"maxlen": 15, "num_words": 25, "skip_top": 2, "seed": 7},
    {"start_char": None, "index_from": 0},
    {"start_char": None, "oov_char": None, "num_words": 20},
    {"oov_char": None, "skip_top": 10},
    {"start_char": 5, "oov_char": 9, "index_from": 10, "seed": 0},
]


@pytest.mark.parametrize("options", OPTIONS, ids=[str(options) for options in OPTIONS])
def test_imdb_processing_matches_keras_on_the_same_file(options, tmp_path, monkeypatch):
    import keras.src.datasets.imdb as keras_imdb

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    path = _write_npz(tmp_path / "datasets" / "imdb.npz", _random_imdb(np.random.default_rng(len(str(options)))))
    monkeypatch.setattr(keras_imdb, "get_file", lambda **_: path)  # Keras would check the real file's hash
    assert imdb.source() == imdb.KERAS_CACHE_SOURCE
    _same_imdb(keras_imdb.load_data(**options), imdb.load_data(**options))


def test_the_course_corpus_is_processed_as_keras_processes_imdb(tmp_path, monkeypatch):
    import keras.src.datasets.imdb as keras_imdb

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert imdb.source() == imdb.COURSE_CORPUS_SOURCE
    path = _write_npz(tmp_path / "raw.npz", imdb._corpus_arrays())
    monkeypatch.setattr(keras_imdb, "get_file", lambda **_: path)
    for options in ({}, {"num_words": 500, "skip_top": 10, "maxlen": 14, "seed": 1}):
        _same_imdb(keras_imdb.load_data(**options), imdb.load_data(**options))


def _same_imdb(expected, received):
    for (keras_x, keras_y), (our_x, our_y) in zip(expected, received):
        assert our_x.dtype == keras_x.dtype == object and our_x.shape == keras_x.shape
        assert [list(review) for review in our_x] == [list(review) for review in keras_x]
        assert our_y.dtype == keras_y.dtype
        np.testing.assert_array_equal(our_y, keras_y)
