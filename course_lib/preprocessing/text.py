"""Text to integers: Keras 2's ``Tokenizer`` and Keras 3's ``TextVectorization`` rules.

Two ways of turning texts into sequences of word indices, each the same as the
Keras it comes from:

- Keras 2's ``keras.preprocessing.text``: :func:`text_to_word_sequence` and
  :class:`Tokenizer`, which the older tutorials use. Words are split on
  ``split`` after turning every character of ``filters`` into a separator;
  ``word_index`` ranks words by count (ties by first appearance) from 1, with
  index 1 kept for ``oov_token`` when one is given.
- Keras 3's ``keras.layers.TextVectorization``: :func:`standardize`,
  :func:`split_whitespace` and :class:`Vocabulary`. Index 0 is padding
  (the empty string), 1 is ``"[UNK]"``, and the words follow by count (ties
  broken by the word, in reverse alphabetical order, as Keras does).

Everything here runs on the host in plain Python and NumPy.
"""
import collections
import json
import math
import numbers
import re
import string

import numpy

__all__ = ["Tokenizer", "Vocabulary", "as_host_array", "farmhash_fingerprint64", "ngrams", "rank_by_count",
           "split_whitespace", "standardize", "text_to_word_sequence", "tokenizer_from_json"]

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
"""Keras 2's default ``filters``: punctuation (but not the apostrophe), tab and newline."""

STRIP_PUNCTUATION_PATTERN = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
"""The regular expression TextVectorization removes (``,-\\.`` is the range ``,`` ``-`` ``.``; the apostrophe is in)."""

ASCII_WHITESPACE = " \t\n\v\f\r"
"""What ``tf.strings.split`` splits on: ASCII whitespace only (not ``\\xa0`` or other Unicode spaces)."""

_STRIP_PUNCTUATION = re.compile(STRIP_PUNCTUATION_PATTERN)
_SPLIT_WHITESPACE = re.compile(f"[{re.escape(ASCII_WHITESPACE)}]+")
# tf.strings.lower's default encoding lowercases ASCII letters only ("ÉCOLE" -> "École").
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_STANDARDIZE_MODES = (None, "lower", "strip_punctuation", "lower_and_strip_punctuation")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_text(where, text):
    if not isinstance(text, str):
        raise TypeError(f"{where}: expected a str. Received: {type(text).__name__} {text!r:.80}")


def _check_texts(where, texts):
    """A list of texts, not one string (iterating a string would give its characters)."""
    if isinstance(texts, str) or not hasattr(texts, "__iter__"):
        raise TypeError(
            f"{where}: texts must be a list of strings (or of token lists), not one {type(texts).__name__}. "
            f"Received: {texts!r:.80}"
        )


# ---------------------------------------------------------------- Keras 2: keras.preprocessing.text
def text_to_word_sequence(input_text, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """Split a text into words, Keras 2's way.

    Lowercase (when ``lower``), turn each character of ``filters`` into
    ``split``, split on ``split`` and drop the empty pieces.

    >>> text_to_word_sequence("It's not good. Not good at all!")
    ["it's", 'not', 'good', 'not', 'good', 'at', 'all']

    Args:
        input_text: a str.
        filters: characters removed (they separate words).
        lower: lowercase the text first (``str.lower``, all of Unicode).
        split: the separator, a non-empty str.

    Returns:
        A list of words (str).
    """
    _check_text("text_to_word_sequence", input_text)
    if not isinstance(split, str) or not split:
        raise ValueError(f"text_to_word_sequence: split must be a non-empty str. Received: split={split!r}")
    if lower:
        input_text = input_text.lower()
    input_text = input_text.translate(str.maketrans({character: split for character in filters}))
    return [word for word in input_text.split(split) if word]


class Tokenizer:
    """Keras 2's ``keras.preprocessing.text.Tokenizer``: a word index fitted on texts.

    ``fit_on_texts`` counts words; ``word_index`` then ranks them by count
    from 1 (ties by first appearance; 0 is never a word, it is left for
    padding). With an ``oov_token``, index 1 is that token and unknown words
    become 1. ``num_words`` does not shrink ``word_index``: it acts when
    converting, keeping only indices below ``num_words`` (the ``num_words - 1``
    most frequent, counting the oov token); dropped words become the oov index
    when there is one, and vanish otherwise.

    >>> tokenizer = Tokenizer(num_words=4, oov_token="<oov>")
    >>> tokenizer.fit_on_texts(["the film was good", "the film was not good", "the end"])
    >>> tokenizer.word_index
    {'<oov>': 1, 'the': 2, 'film': 3, 'was': 4, 'good': 5, 'not': 6, 'end': 7}
    >>> tokenizer.texts_to_sequences(["the film was great"])
    [[2, 3, 1, 1]]

    Args:
        num_words: None (keep every word) or a positive int: keep indices below it.
        filters: characters removed before splitting (see :func:`text_to_word_sequence`).
        lower: lowercase the texts.
        split: the word separator.
        char_level: every character is a token (``filters`` and ``split`` are not used).
        oov_token: the token for unknown words, given index 1; None drops unknown words.
        analyzer: a function ``text -> list of tokens`` used instead of
            :func:`text_to_word_sequence` (Keras 2.3's option).

    Attributes:
        word_counts: ``OrderedDict`` word -> count, in order of first appearance.
        word_docs: dict word -> number of texts it appears in.
        index_docs: dict index -> number of texts it appears in (``tfidf`` uses it).
        word_index: dict word -> index. index_word: dict index -> word.
        document_count: number of texts (and sequences) fitted on.
    """

    def __init__(self, num_words=None, filters=DEFAULT_FILTERS, lower=True, split=" ", char_level=False,
                 oov_token=None, analyzer=None, document_count=0):
        if num_words is not None and (not _is_int(num_words) or num_words < 1):
            raise ValueError(f"Tokenizer: num_words must be None or a positive int. Received: num_words={num_words!r}")
        if not isinstance(filters, str):
            raise TypeError(f"Tokenizer: filters must be a str of characters. Received: filters={filters!r}")
        if not isinstance(split, str) or not split:
            raise ValueError(f"Tokenizer: split must be a non-empty str. Received: split={split!r}")
        if analyzer is not None and not callable(analyzer):
            raise TypeError(f"Tokenizer: analyzer must be None or a function text -> tokens. Received: {analyzer!r}")
        if not _is_int(document_count) or document_count < 0:
            raise ValueError(f"Tokenizer: document_count must be a non-negative int. Received: {document_count!r}")
        self.num_words = num_words
        self.filters = filters
        self.lower = bool(lower)
        self.split = split
        self.char_level = bool(char_level)
        self.oov_token = oov_token
        self.analyzer = analyzer
        self.document_count = document_count
        self.word_counts = collections.OrderedDict()
        self.word_docs = {}
        self.index_docs = {}
        self.word_index = {}
        self.index_word = {}

    def _tokens(self, text):
        """A text's tokens: its characters, its given tokens (a list) or its words."""
        if self.char_level or isinstance(text, list):
            if isinstance(text, list):
                return [token.lower() for token in text] if self.lower else list(text)
            _check_text("Tokenizer", text)
            return list(text.lower() if self.lower else text)
        _check_text("Tokenizer", text)
        if self.analyzer is not None:
            return list(self.analyzer(text))
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts):
        """Count the words of ``texts`` (strings, or lists of tokens) and rebuild the index.

        Fitting again adds to the counts: the index is that of all texts seen so far.
        """
        _check_texts("Tokenizer.fit_on_texts", texts)
        for text in texts:
            tokens = self._tokens(text)
            self.document_count += 1
            for token in tokens:
                self.word_counts[token] = self.word_counts.get(token, 0) + 1
            for token in set(tokens):
                self.word_docs[token] = self.word_docs.get(token, 0) + 1
        # sorted() is stable: equal counts keep their order of first appearance.
        ranked = sorted(self.word_counts, key=self.word_counts.get, reverse=True)
        vocabulary = ([] if self.oov_token is None else [self.oov_token]) + ranked
        # A later duplicate (an oov_token that is also a word) takes the later rank, as in Keras.
        self.word_index = {}
        for index, word in enumerate(vocabulary, 1):
            self.word_index[word] = index
        self.index_word = {index: word for word, index in self.word_index.items()}
        for word, documents in self.word_docs.items():
            self.index_docs[self.word_index[word]] = documents

    def fit_on_sequences(self, sequences):
        """Count in how many sequences each index appears (what ``tfidf`` needs), for sequences built elsewhere."""
        _check_texts("Tokenizer.fit_on_sequences", sequences)
        sequences = list(sequences)
        self.document_count += len(sequences)
        for sequence in sequences:
            for index in set(sequence):
                self.index_docs[index] = self.index_docs.get(index, 0) + 1

    def _kept(self, index):
        """``index`` itself, the oov index in its place, or None when it is dropped."""
        oov_index = self.word_index.get(self.oov_token)
        if index is None:
            return oov_index if self.oov_token is not None else None
        if self.num_words and index >= self.num_words:
            return oov_index
        return index

    def texts_to_sequences(self, texts):
        """Each text as a list of word indices (unknown words: the oov index, or dropped)."""
        _check_texts("Tokenizer.texts_to_sequences", texts)
        sequences = []
        for text in texts:
            indices = (self._kept(self.word_index.get(token)) for token in self._tokens(text))
            sequences.append([index for index in indices if index is not None])
        return sequences

    def sequences_to_texts(self, sequences):
        """Each list of indices back to words joined by spaces (unknown indices: the oov token, or dropped)."""
        _check_texts("Tokenizer.sequences_to_texts", sequences)
        texts = []
        for sequence in sequences:
            words = []
            for index in sequence:
                kept = self._kept(index if index in self.index_word else None)
                if kept is not None:
                    words.append(self.index_word[kept])
            texts.append(" ".join(words))
        return texts

    def texts_to_matrix(self, texts, mode="binary"):
        """Each text as a row of ``num_words`` (or ``len(word_index) + 1``) columns: see :meth:`sequences_to_matrix`."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode="binary"):
        """Bag-of-words rows: column ``j`` describes index ``j`` in each sequence.

        Modes: ``"binary"`` (1 if present), ``"count"``, ``"freq"`` (count
        divided by the sequence's length) and ``"tfidf"``, Keras's
        ``(1 + log(count)) * log(1 + document_count / (1 + documents with j))``.
        Indices at or above the width are left out (but still count in ``freq``'s length).

        Returns:
            A float64 array of shape ``(len(sequences), width)``.
        """
        if mode not in ("binary", "count", "freq", "tfidf"):
            raise ValueError(
                "Tokenizer.sequences_to_matrix: mode must be 'binary', 'count', 'freq' or 'tfidf'. "
                f"Received: mode={mode!r}"
            )
        if self.num_words:
            width = self.num_words
        elif self.word_index:
            width = len(self.word_index) + 1
        else:
            raise ValueError("Tokenizer.sequences_to_matrix: set num_words, or fit on some texts first.")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("Tokenizer.sequences_to_matrix: fit the Tokenizer on some data before mode='tfidf'.")
        _check_texts("Tokenizer.sequences_to_matrix", sequences)
        sequences = list(sequences)
        matrix = numpy.zeros((len(sequences), width))
        for row, sequence in enumerate(sequences):
            counts = collections.Counter(index for index in sequence if index < width)
            for index, count in counts.items():
                if mode == "binary":
                    matrix[row, index] = 1.0
                elif mode == "count":
                    matrix[row, index] = count
                elif mode == "freq":
                    matrix[row, index] = count / len(sequence)
                else:
                    idf = math.log(1 + self.document_count / (1 + self.index_docs.get(index, 0)))
                    matrix[row, index] = (1 + math.log(count)) * idf
        return matrix

    def get_config(self):
        """The configuration and the fitted state, in Keras 2's layout (the tables as JSON strings)."""
        return {
            "num_words": self.num_words, "filters": self.filters, "lower": self.lower, "split": self.split,
            "char_level": self.char_level, "oov_token": self.oov_token, "document_count": self.document_count,
            "word_counts": json.dumps(self.word_counts), "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs), "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self, **kwargs):
        """The tokenizer as JSON, which Keras's ``tokenizer_from_json`` and :func:`tokenizer_from_json` read."""
        return json.dumps({"class_name": "Tokenizer", "config": self.get_config()}, **kwargs)


def tokenizer_from_json(json_string):
    """A :class:`Tokenizer` back from :meth:`Tokenizer.to_json`'s string (or Keras 2's)."""
    try:
        config = dict(json.loads(json_string)["config"])
        tables = {name: json.loads(config.pop(name))
                  for name in ("word_counts", "word_docs", "index_docs", "index_word", "word_index")}
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(
            f"tokenizer_from_json: not a Tokenizer's JSON ({error}). Received: {json_string!r:.80}"
        ) from error
    tokenizer = Tokenizer(**config)
    # JSON keys are strings: the integer-keyed tables get their ints back.
    tokenizer.word_counts = collections.OrderedDict(tables["word_counts"])
    tokenizer.word_docs = tables["word_docs"]
    tokenizer.index_docs = {int(index): count for index, count in tables["index_docs"].items()}
    tokenizer.index_word = {int(index): word for index, word in tables["index_word"].items()}
    tokenizer.word_index = tables["word_index"]
    return tokenizer


# ---------------------------------------------------------------- Keras 3: TextVectorization's rules
def standardize(text, mode="lower_and_strip_punctuation"):
    """Standardise a text as ``keras.layers.TextVectorization(standardize=mode)`` does.

    ``"lower"`` lowercases ASCII letters only (TensorFlow's ``tf.strings.lower``
    leaves ``"É"`` as it is); ``"strip_punctuation"`` deletes the characters of
    :data:`STRIP_PUNCTUATION_PATTERN`, the apostrophe included (``"don't"`` ->
    ``"dont"``); ``"lower_and_strip_punctuation"`` does both; None nothing.

    Args:
        text: a str, or a list of str (each standardised).
        mode: None, ``"lower"``, ``"strip_punctuation"`` or ``"lower_and_strip_punctuation"``.

    Returns:
        A str, or a list of str.
    """
    if mode not in _STANDARDIZE_MODES:
        raise ValueError(f"standardize: mode must be one of {_STANDARDIZE_MODES}. Received: mode={mode!r}")
    if isinstance(text, (list, tuple)):
        return [standardize(item, mode) for item in text]
    _check_text("standardize", text)
    if mode in ("lower", "lower_and_strip_punctuation"):
        text = text.translate(_ASCII_LOWER)
    if mode in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = _STRIP_PUNCTUATION.sub("", text)
    return text


def split_whitespace(text):
    """Split a text on runs of ASCII whitespace, as TextVectorization's ``split="whitespace"``.

    >>> split_whitespace("  a  fine\\tfilm\\n")
    ['a', 'fine', 'film']
    """
    _check_text("split_whitespace", text)
    return [token for token in _SPLIT_WHITESPACE.split(text) if token]


class Vocabulary:
    """TextVectorization's ``output_mode="int"`` in plain Python: adapt on texts, then encode them.

    ``adapt`` counts the tokens of standardised, split texts; the vocabulary is
    ``["", "[UNK]"]`` followed by the tokens by count, equal counts in reverse
    alphabetical order (Keras sorts by ``(count, token)`` and reverses), cut to
    ``max_tokens`` entries in all. Encoding gives each token its index (0 is
    padding, 1 any token outside the vocabulary) and pads with 0 at the end,
    or cuts at the end, to ``output_sequence_length``, or to the longest text
    of the batch when that is None.

    >>> vocabulary = Vocabulary(max_tokens=5)
    >>> vocabulary.adapt(["The film was good.", "The end!"])
    >>> vocabulary.get_vocabulary()
    ['', '[UNK]', 'the', 'was', 'good']
    >>> vocabulary(["the film was fine"])
    array([[2, 1, 3, 1]])

    Args:
        max_tokens: None or an int > 1: the size of the vocabulary, padding and ``[UNK]`` included.
        standardize: a mode of :func:`standardize`, or a function ``str -> str``.
        split: ``"whitespace"``, ``"character"``, None (the whole text is one
            token), or a function ``str -> list of str``.
        output_sequence_length: None or a positive int: the length of the encoded rows.
    """

    PADDING = ""
    UNKNOWN = "[UNK]"

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace",
                 output_sequence_length=None):
        if max_tokens is not None and (not _is_int(max_tokens) or max_tokens <= 1):
            raise ValueError(
                f"Vocabulary: max_tokens must be None or an int greater than 1. Received: max_tokens={max_tokens!r}"
            )
        if not (callable(standardize) or standardize in _STANDARDIZE_MODES):
            raise ValueError(
                f"Vocabulary: standardize must be one of {_STANDARDIZE_MODES} or a function. Received: {standardize!r}"
            )
        if not (callable(split) or split in (None, "whitespace", "character")):
            raise ValueError(
                f"Vocabulary: split must be None, 'whitespace', 'character' or a function. Received: split={split!r}"
            )
        if output_sequence_length is not None and (not _is_int(output_sequence_length) or output_sequence_length < 1):
            raise ValueError(
                "Vocabulary: output_sequence_length must be None or a positive int. "
                f"Received: output_sequence_length={output_sequence_length!r}"
            )
        self.max_tokens = max_tokens
        self.standardize = standardize
        self.split = split
        self.output_sequence_length = output_sequence_length
        self._tokens_list = [self.PADDING, self.UNKNOWN]
        self._index = {self.PADDING: 0, self.UNKNOWN: 1}

    def tokenize(self, text):
        """One text's tokens after standardising and splitting."""
        _check_text("Vocabulary", text)
        text = self.standardize(text) if callable(self.standardize) else standardize(text, self.standardize)
        if self.split is None:
            return [text]
        if self.split == "whitespace":
            return split_whitespace(text)
        if self.split == "character":
            return list(text)
        return list(self.split(text))

    def adapt(self, texts):
        """Build the vocabulary from ``texts`` (a list of str); adapting again starts afresh, as Keras's."""
        _check_texts("Vocabulary.adapt", texts)
        counts = collections.Counter()
        for text in texts:
            counts.update(self.tokenize(text))
        for special in (self.PADDING, self.UNKNOWN):
            counts.pop(special, None)
        ranked = [token for token, _ in sorted(counts.items(), key=lambda item: (item[1], item[0]), reverse=True)]
        if self.max_tokens is not None:
            ranked = ranked[:self.max_tokens - 2]
        self._tokens_list = [self.PADDING, self.UNKNOWN] + ranked
        # The empty token is the padding (mask) token: it encodes as 0, as in Keras.
        self._index = {token: index for index, token in enumerate(self._tokens_list)}

    def get_vocabulary(self):
        """The tokens by index: ``["", "[UNK]", most frequent, ...]``."""
        return list(self._tokens_list)

    def vocabulary_size(self):
        """The number of entries of :meth:`get_vocabulary`."""
        return len(self._tokens_list)

    def __call__(self, texts):
        """Encode a list of texts as an int64 array ``(len(texts), length)``; one str gives a 1-D array."""
        if isinstance(texts, str):
            return self([texts])[0]
        _check_texts("Vocabulary", texts)
        rows = [[self._index.get(token, 1) for token in self.tokenize(text)] for text in texts]
        length = self.output_sequence_length
        if length is None:
            length = max((len(row) for row in rows), default=0)
        encoded = numpy.zeros((len(rows), length), dtype="int64")
        for position, row in enumerate(rows):
            row = row[:length]
            encoded[position, :len(row)] = row
        return encoded


# ---------------------------------------------------------------- host helpers of the text layers
def as_host_array(value, where, kind="string", encoding="utf-8"):
    """``value`` as a host NumPy array the text layers read: Python ``str`` (dtype object) or int64.

    Strings come from a str, a list (nested) of str or bytes, a NumPy ``U``,
    ``S`` or object array, or anything with ``.numpy()`` (a TensorFlow
    tensor); bytes are decoded with ``encoding``. ``kind="int"`` asks for
    integers (IntegerLookup's values, the indices an inverting lookup reads):
    integral floats are accepted, strings and fractions are refused.

    Raises:
        TypeError: naming ``where``, for a value of the wrong kind.
    """
    if hasattr(value, "numpy") and not isinstance(value, numpy.ndarray):
        value = value.numpy()
    elif hasattr(value, "get") and hasattr(value, "__cuda_array_interface__"):
        value = value.get()  # a CuPy array: to the host
    array = numpy.asarray(value, dtype=object if isinstance(value, (list, tuple)) else None)
    if kind == "string":
        if array.dtype.kind in "US" or array.dtype == object:
            flat = [item.decode(encoding) if isinstance(item, bytes) else item for item in array.ravel().tolist()]
            bad = next((item for item in flat if not isinstance(item, str)), None)
            if bad is None:
                result = numpy.empty(len(flat), dtype=object)
                result[:] = flat
                return result.reshape(array.shape)
            received = f"an element {bad!r:.40} of type {type(bad).__name__}"
        else:
            received = f"an array of dtype {array.dtype}"
        raise TypeError(f"{where}: expected strings (a str, a list of str or a NumPy string array). "
                        f"Received: {received} with shape {array.shape}")
    if array.dtype == object:
        try:
            array = numpy.asarray(array.tolist())
        except ValueError:
            pass
    if array.dtype.kind == "f" and numpy.all(numpy.isfinite(array)) and numpy.all(array == numpy.round(array)):
        array = array.astype("int64")
    if array.dtype.kind not in "biu":
        raise TypeError(f"{where}: expected integers. Received: an array of dtype {array.dtype} "
                        f"with shape {array.shape}")
    return array.astype("int64")


def ngrams(tokens, widths, separator=" "):
    """TextVectorization's ``ngrams``: every n-gram of each width in ``widths``, width by width.

    As ``tf.strings.ngrams(tokens, widths, separator=" ")``: for each width
    in turn, the n-grams in reading order; a sequence shorter than a width
    gives none of that width.

    >>> ngrams(["the", "cat", "sat"], (1, 2))
    ['the', 'cat', 'sat', 'the cat', 'cat sat']
    """
    grams = []
    for width in widths:
        grams.extend(separator.join(tokens[start:start + width]) for start in range(len(tokens) - width + 1))
    return grams


def rank_by_count(counts):
    """The tokens of ``counts`` (a mapping token -> count) as Keras's lookups rank them after ``adapt``.

    By count, most frequent first; equal counts by the token itself, the
    greatest first (Keras sorts ``(count, token)`` and reverses: strings
    compare by their UTF-8 bytes, which is Python's code-point order).
    """
    return [token for token, _ in sorted(counts.items(), key=lambda item: (item[1], item[0]), reverse=True)]


# FarmHash's Fingerprint64 (farmhashna::Hash64, FarmHash 1.1), what tf.strings.to_hash_bucket_fast uses.
_MASK64 = (1 << 64) - 1
_K0, _K1, _K2 = 0xc3a5c85c97cb3127, 0xb492b66fbe98f273, 0x9ae16a3b2f90404f


def _fetch64(data, offset):
    return int.from_bytes(data[offset:offset + 8], "little")


def _fetch32(data, offset):
    return int.from_bytes(data[offset:offset + 4], "little")


def _rotate(value, shift):
    return value if shift == 0 else ((value >> shift) | (value << (64 - shift))) & _MASK64


def _shift_mix(value):
    return value ^ (value >> 47)


def _hash_len16(u, v, mul):
    a = ((u ^ v) * mul) & _MASK64
    a ^= a >> 47
    b = ((v ^ a) * mul) & _MASK64
    b ^= b >> 47
    return (b * mul) & _MASK64


def _hash_len0to16(data):
    length = len(data)
    if length >= 8:
        mul = _K2 + length * 2
        a = (_fetch64(data, 0) + _K2) & _MASK64
        b = _fetch64(data, length - 8)
        c = (_rotate(b, 37) * mul + a) & _MASK64
        d = ((_rotate(a, 25) + b) * mul) & _MASK64
        return _hash_len16(c, d, mul & _MASK64)
    if length >= 4:
        mul = _K2 + length * 2
        a = _fetch32(data, 0)
        return _hash_len16((length + (a << 3)) & _MASK64, _fetch32(data, length - 4), mul & _MASK64)
    if length > 0:
        a, b, c = data[0], data[length >> 1], data[length - 1]
        y = (a + (b << 8)) & 0xFFFFFFFF
        z = (length + (c << 2)) & 0xFFFFFFFF
        return (_shift_mix(((y * _K2) ^ (z * _K0)) & _MASK64) * _K2) & _MASK64
    return _K2


def _hash_len17to32(data):
    length = len(data)
    mul = (_K2 + length * 2) & _MASK64
    a = (_fetch64(data, 0) * _K1) & _MASK64
    b = _fetch64(data, 8)
    c = (_fetch64(data, length - 8) * mul) & _MASK64
    d = (_fetch64(data, length - 16) * _K2) & _MASK64
    return _hash_len16((_rotate((a + b) & _MASK64, 43) + _rotate(c, 30) + d) & _MASK64,
                       (a + _rotate((b + _K2) & _MASK64, 18) + c) & _MASK64, mul)


def _hash_len33to64(data):
    length = len(data)
    mul = (_K2 + length * 2) & _MASK64
    a = (_fetch64(data, 0) * _K2) & _MASK64
    b = _fetch64(data, 8)
    c = (_fetch64(data, length - 8) * mul) & _MASK64
    d = (_fetch64(data, length - 16) * _K2) & _MASK64
    y = (_rotate((a + b) & _MASK64, 43) + _rotate(c, 30) + d) & _MASK64
    z = _hash_len16(y, (a + _rotate((b + _K2) & _MASK64, 18) + c) & _MASK64, mul)
    e = (_fetch64(data, 16) * mul) & _MASK64
    f = _fetch64(data, 24)
    g = ((y + _fetch64(data, length - 32)) * mul) & _MASK64
    h = ((z + _fetch64(data, length - 24)) * mul) & _MASK64
    return _hash_len16((_rotate((e + f) & _MASK64, 43) + _rotate(g, 30) + h) & _MASK64,
                       (e + _rotate((f + a) & _MASK64, 18) + g) & _MASK64, mul)


def _weak_hash_len32_with_seeds(data, offset, a, b):
    w, x = _fetch64(data, offset), _fetch64(data, offset + 8)
    y, z = _fetch64(data, offset + 16), _fetch64(data, offset + 24)
    a = (a + w) & _MASK64
    b = _rotate((b + a + z) & _MASK64, 21)
    c = a
    a = (a + x) & _MASK64
    a = (a + y) & _MASK64
    b = (b + _rotate(a, 44)) & _MASK64
    return (a + z) & _MASK64, (b + c) & _MASK64


def farmhash_fingerprint64(data):
    """FarmHash's ``Fingerprint64`` of ``data`` (bytes): TensorFlow's ``to_hash_bucket_fast`` is it modulo the buckets.

    Keras's StringLookup and TextVectorization send an out-of-vocabulary
    string to OOV index ``fingerprint64(utf-8 bytes) % num_oov_indices``
    when they have several OOV indices.
    """
    length = len(data)
    if length <= 32:
        return _hash_len0to16(data) if length <= 16 else _hash_len17to32(data)
    if length <= 64:
        return _hash_len33to64(data)
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _MASK64
    z = (_shift_mix((y * _K2 + 113) & _MASK64) * _K2) & _MASK64
    v, w = (0, 0), (0, 0)
    x = (x * _K2 + _fetch64(data, 0)) & _MASK64
    end = ((length - 1) // 64) * 64
    last64 = end + ((length - 1) & 63) - 63
    offset = 0
    while True:
        x = (_rotate((x + y + v[0] + _fetch64(data, offset + 8)) & _MASK64, 37) * _K1) & _MASK64
        y = (_rotate((y + v[1] + _fetch64(data, offset + 48)) & _MASK64, 42) * _K1) & _MASK64
        x ^= w[1]
        y = (y + v[0] + _fetch64(data, offset + 40)) & _MASK64
        z = (_rotate((z + w[0]) & _MASK64, 33) * _K1) & _MASK64
        v = _weak_hash_len32_with_seeds(data, offset, (v[1] * _K1) & _MASK64, (x + w[0]) & _MASK64)
        w = _weak_hash_len32_with_seeds(data, offset + 32, (z + w[1]) & _MASK64,
                                        (y + _fetch64(data, offset + 16)) & _MASK64)
        z, x = x, z
        offset += 64
        if offset == end:
            break
    mul = (_K1 + ((z & 0xff) << 1)) & _MASK64
    offset = last64
    w = ((w[0] + ((length - 1) & 63)) & _MASK64, w[1])
    v = ((v[0] + w[0]) & _MASK64, v[1])
    w = ((w[0] + v[0]) & _MASK64, w[1])
    x = (_rotate((x + y + v[0] + _fetch64(data, offset + 8)) & _MASK64, 37) * mul) & _MASK64
    y = (_rotate((y + v[1] + _fetch64(data, offset + 48)) & _MASK64, 42) * mul) & _MASK64
    x ^= (w[1] * 9) & _MASK64
    y = (y + ((v[0] * 9) & _MASK64) + _fetch64(data, offset + 40)) & _MASK64
    z = (_rotate((z + w[0]) & _MASK64, 33) * mul) & _MASK64
    v = _weak_hash_len32_with_seeds(data, offset, (v[1] * mul) & _MASK64, (x + w[0]) & _MASK64)
    w = _weak_hash_len32_with_seeds(data, offset + 32, (z + w[1]) & _MASK64,
                                    (y + _fetch64(data, offset + 16)) & _MASK64)
    z, x = x, z
    return _hash_len16((_hash_len16(v[0], w[0], mul) + ((_shift_mix(y) * _K0) & _MASK64) + z) & _MASK64,
                       (_hash_len16(v[1], w[1], mul) + x) & _MASK64, mul)
