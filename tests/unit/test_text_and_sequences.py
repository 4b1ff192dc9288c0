"""course_lib.preprocessing: pad_sequences, the time-series windows, Keras 2's Tokenizer and TextVectorization's rules.

The expected values are worked out by hand from the rules each docstring
states; tests/parity/test_sequence_utils_parity.py checks the same functions
against Keras itself.
"""
import doctest
import json
import math

import numpy as np
import pytest

import course_lib as cl
from course_lib.preprocessing import sequence, text
from course_lib.preprocessing.sequence import pad_sequences, timeseries_batches, timeseries_steps
from course_lib.preprocessing.text import Tokenizer, Vocabulary, split_whitespace, standardize, text_to_word_sequence


def test_the_docstring_examples_hold():
    for module in (sequence, text):
        assert doctest.testmod(module).failed == 0, module.__name__


# ================================================================ pad_sequences
RAGGED = [[1], [2, 3], [4, 5, 6]]


def test_pad_sequences_is_exported_under_keras_3_and_keras_2_names():
    assert cl.utils.pad_sequences is sequence.pad_sequences is cl.preprocessing.sequence.pad_sequences


@pytest.mark.parametrize("kwargs, expected", [
    ({}, [[0, 0, 1], [0, 2, 3], [4, 5, 6]]),
    ({"value": -1}, [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]),
    ({"padding": "post"}, [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
    ({"maxlen": 2}, [[0, 1], [2, 3], [5, 6]]),
    ({"maxlen": 2, "truncating": "post"}, [[0, 1], [2, 3], [4, 5]]),
    ({"maxlen": 2, "truncating": "post", "padding": "post"}, [[1, 0], [2, 3], [4, 5]]),
    ({"maxlen": 4, "padding": "post"}, [[1, 0, 0, 0], [2, 3, 0, 0], [4, 5, 6, 0]]),
])
def test_pad_sequences_pads_and_truncates_on_the_chosen_side(kwargs, expected):
    padded = pad_sequences(RAGGED, **kwargs)
    assert padded.dtype == np.int32
    np.testing.assert_array_equal(padded, expected)


def test_empty_sequences_become_rows_of_padding():
    np.testing.assert_array_equal(pad_sequences([[], [7, 8], []], value=9), [[9, 9], [7, 8], [9, 9]])
    assert pad_sequences([[], []]).shape == (2, 0)
    assert pad_sequences([], maxlen=3).shape == (0, 3)
    # An empty first sequence does not fix the sample shape: the first non-empty one does.
    assert pad_sequences([[], [[1, 2]], [[3, 4], [5, 6]]]).shape == (3, 2, 2)


def test_maxlen_zero_gives_empty_rows_whichever_end_is_truncated():
    for truncating in ("pre", "post"):
        assert pad_sequences(RAGGED, maxlen=0, truncating=truncating).shape == (3, 0)


def test_values_are_cast_to_the_dtype_as_numpy_casts():
    np.testing.assert_array_equal(pad_sequences([[1]], maxlen=3, value=0.7), [[0, 0, 1]])  # 0.7 -> 0
    np.testing.assert_array_equal(pad_sequences([[1]], maxlen=2, value=-1.7), [[-1, 1]])  # toward zero
    np.testing.assert_array_equal(pad_sequences([[1.9, -2.5]], dtype="int64"), [[1, -2]])
    floats = pad_sequences([[0.25], [0.5, 0.75]], dtype="float32", value=-0.5)
    assert floats.dtype == np.float32
    np.testing.assert_array_equal(floats, [[-0.5, 0.25], [0.5, 0.75]])


def test_strings_need_an_object_or_string_dtype():
    words = pad_sequences([["a"], ["long", "words"]], dtype=object, value="<pad>")
    assert words.dtype == object
    assert words.tolist() == [["<pad>", "a"], ["long", "words"]]
    # A fixed-width string dtype cuts longer strings, as NumPy does.
    assert pad_sequences([["abcdef"]], maxlen=2, dtype="U3", value="xyz").tolist() == [["xyz", "abc"]]
    with pytest.raises(ValueError, match=r"pad_sequences: a string value needs dtype=object .*"
                                         r"Received: value='<pad>' with dtype='int32'"):
        pad_sequences([["a"]], value="<pad>")


def test_sequences_of_vectors_keep_their_sample_shape():
    vectors = [np.ones((1, 2)), np.full((3, 2), 2.0)]
    padded = pad_sequences(vectors, dtype="float32")
    assert padded.shape == (2, 3, 2)
    np.testing.assert_array_equal(padded[0], [[0, 0], [0, 0], [1, 1]])
    with pytest.raises(ValueError, match=r"the sequence at position 1 has samples of shape \(3,\), but the first "
                                         r"non-empty sequence's samples have shape \(2,\)"):
        pad_sequences([[[1, 2]], [[1, 2, 3]]])


def test_arrays_and_tuples_are_sequences_too():
    np.testing.assert_array_equal(pad_sequences((np.array([1, 2]), (3,))), [[1, 2], [0, 3]])
    np.testing.assert_array_equal(pad_sequences(np.array([[1, 2, 3], [4, 5, 6]]), maxlen=2), [[2, 3], [5, 6]])


@pytest.mark.parametrize("kwargs, error, message", [
    ({"maxlen": -1}, ValueError, "pad_sequences: maxlen must be None or a non-negative int. Received: maxlen=-1"),
    ({"maxlen": 2.5}, ValueError, "pad_sequences: maxlen must be None or a non-negative int. Received: maxlen=2.5"),
    ({"maxlen": True}, ValueError, "Received: maxlen=True"),
    ({"padding": "middle"}, ValueError, "pad_sequences: padding must be 'pre' or 'post'. Received: padding='middle'"),
    ({"truncating": "both"}, ValueError, "pad_sequences: truncating must be 'pre' or 'post'. Received: truncating='both'"),
    ({"dtype": "no-such-type"}, TypeError, "pad_sequences: dtype must be a NumPy dtype. Received: dtype='no-such-type'"),
    ({"value": None}, TypeError, "pad_sequences: value=None cannot be stored in dtype='int32'"),
])
def test_pad_sequences_rejects_bad_arguments_naming_them(kwargs, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        pad_sequences(RAGGED, **kwargs)


def test_pad_sequences_rejects_what_is_not_a_list_of_sequences():
    with pytest.raises(ValueError, match=r"pad_sequences: `sequences` must be a list of sequences .*Received: int 5"):
        pad_sequences(5)
    with pytest.raises(ValueError, match=r"each with a length\)\. Received: 7 at position 1"):
        pad_sequences([[1], 7])
    with pytest.raises(ValueError, match="cannot infer maxlen from an empty list of sequences; pass maxlen"):
        pad_sequences([])


# ================================================================ timeseries_batches
def _series(rows=50, features=3):
    """Row r, column c holds 100 * r + c: every value says where it came from."""
    return (100 * np.arange(rows)[:, None] + np.arange(features)).astype("float32")


def test_samples_and_targets_are_the_rows_the_docstring_names():
    data = _series()
    samples, targets = next(timeseries_batches(data, lookback=6, delay=2, batch_size=4, step=2))
    assert samples.shape == (4, 3, 3) and targets.shape == (4,)
    assert samples.dtype == data.dtype == targets.dtype
    for batch, row in enumerate(range(6, 10)):  # the first target rows: min_index + lookback onwards
        np.testing.assert_array_equal(samples[batch], data[[row - 6, row - 4, row - 2]])
        assert targets[batch] == data[row + 2, 1]


def test_a_lookback_that_step_does_not_divide_keeps_the_most_recent_rows():
    data = _series()
    samples, _ = next(timeseries_batches(data, lookback=7, delay=1, batch_size=1, step=3, target_column=0))
    assert samples.shape == (1, 7 // 3, 3)
    np.testing.assert_array_equal(samples[0], data[[7 - 6, 7 - 3]])


def test_in_order_batches_visit_every_row_once_per_pass_then_start_again():
    data = _series(rows=40)
    arguments = dict(lookback=5, delay=3, min_index=2, max_index=30, batch_size=6)
    steps = timeseries_steps(data, **arguments)
    rows = list(range(2 + 5, 30 - 3))  # [min_index + lookback, max_index - delay)
    assert steps == math.ceil(len(rows) / 6) == 4
    generator = timeseries_batches(data, step=1, target_column=2, **arguments)
    passes = [[next(generator)[1] for _ in range(steps)] for _ in range(2)]
    assert [len(batch) for batch in passes[0]] == [6, 6, 6, 2]  # the last batch of a pass is shorter
    seen = np.concatenate(passes[0])
    np.testing.assert_array_equal(seen, data[np.array(rows) + 3, 2])
    np.testing.assert_array_equal(np.concatenate(passes[1]), seen)


def test_windows_and_targets_stay_between_min_index_and_max_index():
    data = _series(rows=60)
    for shuffle in (False, True):
        generator = timeseries_batches(data, lookback=4, delay=5, min_index=10, max_index=40, shuffle=shuffle,
                                       batch_size=7, step=2, target_column=0, seed=3)
        for _ in range(20):
            samples, targets = next(generator)
            source_rows = samples[..., 0] / 100
            assert source_rows.min() >= 10 and (targets / 100).max() < 40


def test_shuffled_batches_are_random_rows_repeatable_by_seed():
    data = _series(rows=200)
    first = timeseries_batches(data, lookback=10, delay=1, shuffle=True, batch_size=32, step=5, seed=0)
    again = timeseries_batches(data, lookback=10, delay=1, shuffle=True, batch_size=32, step=5, seed=0)
    other = timeseries_batches(data, lookback=10, delay=1, shuffle=True, batch_size=32, step=5, seed=1)
    a, b, c = next(first)[1], next(again)[1], next(other)[1]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len(a) == 32 and not np.array_equal(a, np.sort(a))  # not the in-order walk
    rows = (a - 1) / 100 - 1  # target = data[row + 1, 1]
    assert rows.min() >= 10 and rows.max() < 199


def test_without_a_seed_the_shuffle_follows_set_random_seed():
    data = _series(rows=200)
    draws = []
    for _ in range(2):
        cl.utils.set_random_seed(5)
        draws.append(next(timeseries_batches(data, lookback=10, delay=1, shuffle=True, batch_size=16))[1])
    np.testing.assert_array_equal(*draws)


@pytest.mark.parametrize("kwargs, message", [
    ({"lookback": 0}, "timeseries_batches: lookback must be a positive int. Received: lookback=0"),
    ({"delay": -1}, "timeseries_batches: delay must be a non-negative int. Received: delay=-1"),
    ({"step": 0}, "timeseries_batches: step must be a positive int. Received: step=0"),
    ({"batch_size": 2.0}, "timeseries_batches: batch_size must be a positive int. Received: batch_size=2.0"),
    ({"min_index": -3}, "timeseries_batches: min_index must be a non-negative int. Received: min_index=-3"),
    ({"step": 11}, "step must be at most lookback, or a window holds no rows. Received: step=11, lookback=10"),
    ({"max_index": 51}, r"max_index must be None or an int in \[1, len\(data\)=50\]. Received: max_index=51"),
    ({"target_column": 3}, "target_column must be an int index of one of the 3 columns. Received: target_column=3"),
    ({"min_index": 30, "max_index": 45},
     r"the window does not fit: a target row must lie in \[min_index \+ lookback, max_index - delay\) = \[40, 40\)"),
])
def test_timeseries_batches_rejects_bad_arguments_at_the_call(kwargs, message):
    arguments = dict(lookback=10, delay=5, step=2) | kwargs
    with pytest.raises(ValueError, match=message):
        timeseries_batches(_series(), **arguments)  # no next(): the call itself raises


def test_timeseries_batches_needs_a_numeric_table():
    with pytest.raises(ValueError, match=r"data must be a numeric 2-D array of shape \(rows, features\). "
                                         r"Received: an array of dtype float32 and shape \(50,\)"):
        timeseries_batches(_series()[:, 0], lookback=4, delay=1)
    with pytest.raises(ValueError, match="timeseries_steps: the window does not fit"):
        timeseries_steps(_series(rows=10), lookback=8, delay=2)


# ================================================================ text_to_word_sequence
def test_text_to_word_sequence_lowers_filters_and_splits():
    assert text_to_word_sequence("It's NOT good... not good at all!\tReally?") == \
        ["it's", "not", "good", "not", "good", "at", "all", "really"]
    assert text_to_word_sequence("A-B c", lower=False) == ["A", "B", "c"]
    assert text_to_word_sequence("one;two;;three", split=";", filters="") == ["one", "two", "three"]
    assert text_to_word_sequence("keep, the comma", filters="") == ["keep,", "the", "comma"]
    assert text_to_word_sequence("ÉCOLE") == ["école"]  # Keras 2 lowers with str.lower, all of Unicode


def test_text_to_word_sequence_rejects_bad_input():
    with pytest.raises(TypeError, match="text_to_word_sequence: expected a str. Received: list"):
        text_to_word_sequence(["a list"])
    with pytest.raises(ValueError, match="text_to_word_sequence: split must be a non-empty str. Received: split=''"):
        text_to_word_sequence("a b", split="")


# ================================================================ Tokenizer
TEXTS = ["The film was good.", "The film was not good!", "A bad, bad film.", "the end"]


def test_word_index_ranks_by_count_then_by_first_appearance():
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(TEXTS)
    # counts: the 3, film 3, was 2, good 2, bad 2, not 1, a 1, end 1 (in order of first appearance)
    assert tokenizer.word_index == {"the": 1, "film": 2, "was": 3, "good": 4, "bad": 5, "not": 6, "a": 7, "end": 8}
    assert tokenizer.index_word == {index: word for word, index in tokenizer.word_index.items()}
    assert list(tokenizer.word_counts.items()) == [("the", 3), ("film", 3), ("was", 2), ("good", 2), ("not", 1),
                                                   ("a", 1), ("bad", 2), ("end", 1)]
    assert tokenizer.word_docs == {"the": 3, "film": 3, "was": 2, "good": 2, "not": 1, "a": 1, "bad": 1, "end": 1}
    assert tokenizer.index_docs[5] == 1 and tokenizer.index_docs[1] == 3
    assert tokenizer.document_count == 4
    assert tokenizer.texts_to_sequences(["Bad film, the end; unknown words vanish"]) == [[5, 2, 1, 8]]


def test_the_oov_token_takes_index_one_and_replaces_unknown_words():
    tokenizer = Tokenizer(oov_token="<oov>")
    tokenizer.fit_on_texts(TEXTS)
    assert tokenizer.word_index["<oov>"] == 1 and tokenizer.word_index["the"] == 2 and tokenizer.word_index["end"] == 9
    assert tokenizer.texts_to_sequences(["the great film"]) == [[2, 1, 3]]
    assert tokenizer.sequences_to_texts([[2, 1, 3, 99]]) == ["the <oov> film <oov>"]


def test_num_words_keeps_the_indices_below_it_when_converting():
    plain = Tokenizer(num_words=3)
    plain.fit_on_texts(TEXTS)
    assert len(plain.word_index) == 8  # the index itself is not cut
    assert plain.texts_to_sequences(["the film was good"]) == [[1, 2]]
    assert plain.sequences_to_texts([[1, 2, 3, 4]]) == ["the film"]
    with_oov = Tokenizer(num_words=3, oov_token="<oov>")  # the oov token is one of the three
    with_oov.fit_on_texts(TEXTS)
    assert with_oov.texts_to_sequences(["the film was good", "nothing known"]) == [[2, 1, 1, 1], [1, 1]]
    assert with_oov.sequences_to_texts([[2, 3, 4]]) == ["the <oov> <oov>"]


def test_fitting_again_adds_to_the_counts():
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(["b a"])
    tokenizer.fit_on_texts(["a c"])
    assert tokenizer.word_index == {"a": 1, "b": 2, "c": 3} and tokenizer.document_count == 2


def test_token_lists_and_characters_are_fitted_as_given():
    listed = Tokenizer()
    listed.fit_on_texts([["New York", "is", "big"], ["new york"]])
    assert listed.word_index == {"new york": 1, "is": 2, "big": 3}
    characters = Tokenizer(char_level=True)
    characters.fit_on_texts(["Aab!"])
    assert characters.word_index == {"a": 1, "b": 2, "!": 3}  # filters do not apply to characters
    assert characters.texts_to_sequences(["ba?"]) == [[2, 1]]


def test_texts_to_matrix_in_every_mode():
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(TEXTS)
    rows = ["bad bad film", "the end"]
    binary = tokenizer.texts_to_matrix(rows)
    assert binary.shape == (2, 9) and binary.dtype == np.float64  # len(word_index) + 1 columns
    np.testing.assert_array_equal(binary[0], [0, 0, 1, 0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(tokenizer.texts_to_matrix(rows, "count")[0], [0, 0, 1, 0, 0, 2, 0, 0, 0])
    np.testing.assert_allclose(tokenizer.texts_to_matrix(rows, "freq")[0], [0, 0, 1 / 3, 0, 0, 2 / 3, 0, 0, 0])
    tfidf = tokenizer.texts_to_matrix(rows, "tfidf")
    # bad: count 2 in the row, in 1 of the 4 fitted texts; film: count 1, in 3 texts.
    assert tfidf[0, 5] == pytest.approx((1 + math.log(2)) * math.log(1 + 4 / 2))
    assert tfidf[0, 2] == pytest.approx(1 * math.log(1 + 4 / 4))
    capped = Tokenizer(num_words=3)
    capped.fit_on_texts(TEXTS)
    # Columns stop at num_words; freq still divides by the whole sequence (the kept indices).
    np.testing.assert_allclose(capped.texts_to_matrix(["the film was"], "freq"), [[0, 0.5, 0.5]])


def test_fit_on_sequences_counts_documents_for_tfidf():
    tokenizer = Tokenizer(num_words=4)
    tokenizer.fit_on_sequences([[1, 1, 2], [2, 3]])
    assert tokenizer.document_count == 2 and tokenizer.index_docs == {1: 1, 2: 2, 3: 1}
    matrix = tokenizer.sequences_to_matrix([[2]], mode="tfidf")
    assert matrix[0, 2] == pytest.approx(math.log(1 + 2 / 3))


def test_a_tokenizer_survives_its_json():
    tokenizer = Tokenizer(num_words=5, oov_token="<oov>")
    tokenizer.fit_on_texts(TEXTS)
    restored = text.tokenizer_from_json(tokenizer.to_json())
    for name in ("word_index", "index_word", "word_counts", "word_docs", "index_docs", "document_count", "num_words"):
        assert getattr(restored, name) == getattr(tokenizer, name), name
    assert json.loads(tokenizer.to_json())["class_name"] == "Tokenizer"
    with pytest.raises(ValueError, match="tokenizer_from_json: not a Tokenizer's JSON"):
        text.tokenizer_from_json('{"config": {}}')


def test_tokenizer_rejects_bad_arguments_and_input():
    with pytest.raises(ValueError, match="Tokenizer: num_words must be None or a positive int. Received: num_words=0"):
        Tokenizer(num_words=0)
    with pytest.raises(ValueError, match="Tokenizer: split must be a non-empty str"):
        Tokenizer(split="")
    with pytest.raises(TypeError, match=r"Tokenizer.fit_on_texts: texts must be a list of strings .*not one str"):
        Tokenizer().fit_on_texts("one long string")
    with pytest.raises(TypeError, match="Tokenizer: expected a str. Received: int 3"):
        Tokenizer().fit_on_texts(["fine", 3])
    with pytest.raises(ValueError, match="set num_words, or fit on some texts first"):
        Tokenizer().texts_to_matrix(["a"])
    with pytest.raises(ValueError, match="fit the Tokenizer on some data before mode='tfidf'"):
        Tokenizer(num_words=3).sequences_to_matrix([[1]], mode="tfidf")
    fitted = Tokenizer()
    fitted.fit_on_texts(TEXTS)
    with pytest.raises(ValueError, match="mode must be 'binary', 'count', 'freq' or 'tfidf'. Received: mode='tf'"):
        fitted.texts_to_matrix(["a"], mode="tf")


# ================================================================ TextVectorization's rules
@pytest.mark.parametrize("mode, expected", [
    (None, "Don't STOP, Élan; 3.5-star [film]!"),
    ("lower", "don't stop, Élan; 3.5-star [film]!"),  # ASCII letters only, as tf.strings.lower
    ("strip_punctuation", "Dont STOP Élan 35star film"),
    ("lower_and_strip_punctuation", "dont stop Élan 35star film"),
])
def test_standardize_modes(mode, expected):
    assert standardize("Don't STOP, Élan; 3.5-star [film]!", mode) == expected


def test_standardize_strips_exactly_keras_punctuation_set():
    punctuation = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'"
    assert standardize(punctuation + "a", "strip_punctuation") == "a"
    kept = "«»–—…¿¡’"  # typographic punctuation is outside the pattern, as in Keras
    assert standardize(kept, "strip_punctuation") == kept
    assert standardize(["A.", "B!"]) == ["a", "b"]
    with pytest.raises(ValueError, match="standardize: mode must be one of .* Received: mode='upper'"):
        standardize("x", "upper")
    with pytest.raises(TypeError, match="standardize: expected a str. Received: int 3"):
        standardize(3)


def test_split_whitespace_splits_on_ascii_whitespace_only():
    assert split_whitespace("  a  fine\tfilm\n\x0bend\r\x0c") == ["a", "fine", "film", "end"]
    assert split_whitespace("no\xa0break") == ["no\xa0break"]  # tf.strings.split keeps Unicode spaces
    assert split_whitespace("   ") == []


def test_vocabulary_orders_by_count_then_reverse_alphabetically():
    vocabulary = Vocabulary()
    vocabulary.adapt(["b a c", "a b", "d a"])
    # a 3, b 2, then c and d once each: the tie goes to the later word.
    assert vocabulary.get_vocabulary() == ["", "[UNK]", "a", "b", "d", "c"]
    assert vocabulary.vocabulary_size() == 6
    capped = Vocabulary(max_tokens=4)
    capped.adapt(["b a c", "a b", "d a"])
    assert capped.get_vocabulary() == ["", "[UNK]", "a", "b"]


def test_vocabulary_encodes_pads_and_truncates_at_the_end():
    vocabulary = Vocabulary()
    vocabulary.adapt(["The film was good.", "The end!"])
    encoded = vocabulary(["the film was fine", "THE END", ""])
    assert encoded.dtype == np.int64
    the, film, was, end = (vocabulary.get_vocabulary().index(word) for word in ("the", "film", "was", "end"))
    np.testing.assert_array_equal(encoded, [[the, film, was, 1], [the, end, 0, 0], [0, 0, 0, 0]])
    fixed = Vocabulary(output_sequence_length=2)
    fixed.adapt(["The film was good.", "The end!"])
    np.testing.assert_array_equal(fixed(["the film was fine", "end"]), [[the, film], [end, 0]])
    np.testing.assert_array_equal(fixed("the"), [the, 0])
    assert Vocabulary()(["never adapted"]).tolist() == [[1, 1]]


def test_vocabulary_other_splits_and_callables():
    characters = Vocabulary(split="character", standardize=None)
    characters.adapt(["abba"])
    assert characters.get_vocabulary() == ["", "[UNK]", "b", "a"]
    whole = Vocabulary(split=None, standardize=str.upper)
    whole.adapt(["new york", "New York", "paris"])
    assert whole.get_vocabulary() == ["", "[UNK]", "NEW YORK", "PARIS"]
    assert whole(["paris", "rome"]).tolist() == [[3], [1]]


@pytest.mark.parametrize("kwargs, message", [
    ({"max_tokens": 1}, "Vocabulary: max_tokens must be None or an int greater than 1. Received: max_tokens=1"),
    ({"standardize": "upper"}, "Vocabulary: standardize must be one of"),
    ({"split": "comma"}, "Vocabulary: split must be None, 'whitespace', 'character' or a function. Received: split='comma'"),
    ({"output_sequence_length": 0}, "Vocabulary: output_sequence_length must be None or a positive int"),
])
def test_vocabulary_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Vocabulary(**kwargs)


def test_vocabulary_adapt_wants_a_list_of_texts():
    with pytest.raises(TypeError, match="Vocabulary.adapt: texts must be a list of strings"):
        Vocabulary().adapt("one text")
