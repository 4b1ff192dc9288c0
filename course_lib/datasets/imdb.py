"""Movie reviews labelled by sentiment, encoded as word indices: Keras's ``keras.datasets.imdb``.

Two sources, one encoding:

- ``"keras-cache imdb.npz"``: Keras's own IMDB file (25,000 training and
  25,000 test reviews), read from the Keras cache folder
  (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``) when it is there, with
  ``imdb_word_index.json`` beside it for :func:`get_word_index`. course_lib
  downloads nothing; a machine that has run Keras's ``imdb.load_data()`` once has both.
- ``"course corpus"``: otherwise, the 800 short reviews that course_lib ships
  in ``datasets/data/reviews.tsv`` (640 for training, 160 for testing, half
  positive and half negative in each), written for this course and licensed
  CC BY 4.0. They are encoded as IMDB is: words (Keras 2's
  :func:`~course_lib.preprocessing.text.text_to_word_sequence`) ranked by
  their count in the training reviews from 1 (ties by first appearance);
  test words that never occur in training are left out, as in IMDB.

:func:`source` says which one :func:`load_data` reads; it prints it once when
it falls back to the corpus. The options (shuffling by ``seed``, ``start_char``,
``index_from``, ``maxlen``, ``skip_top`` and ``num_words``) act the same on both.
"""
import functools
import json
import numbers
import os
import pathlib

import numpy

from course_lib.datasets.keras_cache import cached as _cached
from course_lib.datasets.keras_cache import datasets_folder, read_npz
from course_lib.preprocessing.text import text_to_word_sequence

KERAS_CACHE_SOURCE = "keras-cache imdb.npz"
"""What :func:`source` returns when Keras's ``imdb.npz`` is read."""
COURSE_CORPUS_SOURCE = "course corpus"
"""What :func:`source` returns when the shipped corpus is read."""
SOURCES = (KERAS_CACHE_SOURCE, COURSE_CORPUS_SOURCE)
CORPUS_FILE = pathlib.Path(__file__).parent / "data" / "reviews.tsv"
"""The course corpus: ``split``, ``label`` (1 positive, 0 negative) and ``text`` columns, tab separated."""
CORPUS_LICENSE = "CC BY 4.0"
DEFAULT_PATH = "imdb.npz"

_fallback_announced = False


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def source(path=DEFAULT_PATH):
    """Which data :func:`load_data` reads: ``"keras-cache imdb.npz"`` or ``"course corpus"``."""
    return KERAS_CACHE_SOURCE if os.path.exists(_cached(path)) else COURSE_CORPUS_SOURCE


# ---------------------------------------------------------------- the course corpus
@functools.lru_cache(maxsize=1)
def _corpus():
    """``(train, test, word_index)``: ``train``/``test`` are lists of ``(words, label)``."""
    splits = {"train": [], "test": []}
    with open(CORPUS_FILE, encoding="utf-8") as lines:
        rows = (line.rstrip("\n").split("\t") for line in lines if not line.startswith("#"))
        if next(rows) != ["split", "label", "text"]:
            raise ValueError(f"imdb: {CORPUS_FILE} does not start with the header split, label, text")
        for split, label, text in rows:
            splits[split].append((text_to_word_sequence(text), int(label)))
    counts = {}
    for words, _ in splits["train"]:
        for word in words:
            counts[word] = counts.get(word, 0) + 1
    # sorted() is stable: equal counts keep their order of first appearance.
    ranked = sorted(counts, key=counts.get, reverse=True)
    return splits["train"], splits["test"], {word: rank for rank, word in enumerate(ranked, 1)}


def _corpus_arrays():
    train, test, word_index = _corpus()
    arrays = {}
    for name, reviews in (("train", train), ("test", test)):
        sequences = numpy.empty(len(reviews), dtype=object)  # 1-D even if all lengths were equal
        for position, (words, _) in enumerate(reviews):
            sequences[position] = [word_index[word] for word in words if word in word_index]
        arrays[f"x_{name}"] = sequences
        arrays[f"y_{name}"] = numpy.array([label for _, label in reviews], dtype="int64")
    return arrays


# ---------------------------------------------------------------- the loaders
def check_sequence_options(where, num_words, skip_top, maxlen, seed, start_char, oov_char, index_from):
    """The checks of the word-index options that Keras's IMDB and Reuters loaders share (``where``: the loader)."""
    checks = (("num_words", num_words, 1, True), ("skip_top", skip_top, 0, False), ("maxlen", maxlen, 1, True),
              ("seed", seed, None, False), ("start_char", start_char, None, True), ("oov_char", oov_char, None, True),
              ("index_from", index_from, 0, False))
    for name, value, minimum, may_be_none in checks:
        if may_be_none and value is None:
            continue
        if not _is_int(value) or (minimum is not None and value < minimum):
            bound = "" if minimum is None else (" >= 1" if minimum == 1 else " >= 0")
            raise ValueError(
                f"{where}: {name} must be {'None or ' if may_be_none else ''}an int{bound}. "
                f"Received: {name}={value!r}"
            )


def load_data(path=DEFAULT_PATH, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3):
    """Load the reviews as lists of word indices, exactly as ``keras.datasets.imdb.load_data`` does.

    The source is Keras's ``imdb.npz`` in the Keras cache folder when present,
    else the course corpus of 800 reviews (CC BY 4.0) that course_lib ships;
    :func:`source` tells which. Both are processed in Keras's order:

    1. the training and then the test reviews are shuffled by one
       ``numpy.random.RandomState(seed)``;
    2. every index is shifted by ``index_from`` and ``start_char`` is put in
       front (no shift and no start mark when they are 0 and None);
    3. with ``maxlen``, reviews of ``maxlen`` indices or more (the start mark
       counted) are removed, not cut;
    4. indices outside ``[skip_top, num_words)`` become ``oov_char`` (or are
       removed when it is None). With ``num_words=None`` the bound is the
       largest index present, so, as in Keras, that one rarest word becomes ``oov_char`` too.

    Index 0 is never a word: it is left for padding (see ``pad_sequences``).

    Args:
        path: the file's name in ``~/.keras/datasets`` (or an absolute path);
            only the default name may be missing, which selects the course corpus.
        num_words: None or an int: keep the indices below it.
        skip_top: indices below it (the most frequent words, after the shift) become ``oov_char``.
        maxlen: None or an int: drop the reviews that are not shorter.
        seed: the shuffling seed.
        start_char: the index that starts every review, or None.
        oov_char: the index of removed words, or None to leave them out.
        index_from: the shift of the word indices (0, 1 and 2 stay free for padding, start and oov).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x_*`` 1-D object arrays of
        lists of int, ``y_*`` int64 arrays of 0 (negative) and 1 (positive).
        Keras's file gives 25,000 + 25,000 reviews, the course corpus 640 + 160.

    Raises:
        FileNotFoundError: a ``path`` other than the default is not in the cache folder.
        ValueError: a bad argument, or a ``maxlen`` that removes every review of a set.
    """
    global _fallback_announced
    check_sequence_options("imdb.load_data", num_words, skip_top, maxlen, seed, start_char, oov_char, index_from)
    location = _cached(path)
    if os.path.exists(location):
        arrays = read_npz(location, "imdb.load_data", ("x_train", "y_train", "x_test", "y_test"), DEFAULT_PATH)
    elif os.fspath(path) != DEFAULT_PATH:
        raise FileNotFoundError(
            f"imdb.load_data: no file at {location}, and course_lib downloads nothing. "
            f"Leave path={DEFAULT_PATH!r} to use the course corpus. Received: path={path!r}"
        )
    else:
        if not _fallback_announced:
            print(f"imdb.load_data: no {DEFAULT_PATH} in {datasets_folder()}; using the course corpus "
                  f"(800 short reviews, {CORPUS_LICENSE}).")
            _fallback_announced = True
        arrays = _corpus_arrays()
    return _encode(arrays, num_words, skip_top, maxlen, seed, start_char, oov_char, index_from)


def _encode(arrays, num_words, skip_top, maxlen, seed, start_char, oov_char, index_from):
    """Keras's processing of the raw arrays (word ranks from 1, before any shift)."""
    generator = numpy.random.RandomState(seed)
    shuffled = {}
    for name in ("train", "test"):
        order = numpy.arange(len(arrays[f"x_{name}"]))
        generator.shuffle(order)
        shuffled[name] = (arrays[f"x_{name}"][order], arrays[f"y_{name}"][order])
    start = [] if start_char is None else [start_char]
    sequences = {name: [start + [word + index_from for word in review] for review in reviews]
                 for name, (reviews, _) in shuffled.items()}
    labels = {name: label for name, (_, label) in shuffled.items()}
    if maxlen:
        for name in ("train", "test"):
            kept = [position for position, review in enumerate(sequences[name]) if len(review) < maxlen]
            if not kept:
                raise ValueError(
                    f"imdb.load_data: no {name} review is shorter than maxlen={maxlen}: every one was removed. "
                    "Increase maxlen."
                )
            sequences[name] = [sequences[name][position] for position in kept]
            labels[name] = [labels[name][position] for position in kept]
    every = sequences["train"] + sequences["test"]
    if not num_words:
        # (Keras's max() fails on an empty review, possible with start_char=None; skipping them gives the same bound.)
        num_words = max((max(review) for review in every if review), default=0)
    if oov_char is not None:
        every = [[word if skip_top <= word < num_words else oov_char for word in review] for review in every]
    else:
        every = [[word for word in review if skip_top <= word < num_words] for review in every]
    split = len(sequences["train"])
    all_labels = numpy.concatenate([labels["train"], labels["test"]])
    return ((numpy.array(every[:split], dtype="object"), all_labels[:split]),
            (numpy.array(every[split:], dtype="object"), all_labels[split:]))


def get_word_index(path="imdb_word_index.json"):
    """The dict word -> rank (1 = most frequent) of the data :func:`load_data` reads.

    With Keras's ``imdb.npz`` in the cache folder, this is Keras's
    ``imdb_word_index.json`` beside it; otherwise the course corpus's ranks.
    Add ``index_from`` to a rank to get the index ``load_data`` uses::

        words = {rank + 3: word for word, rank in get_word_index().items()}
        words.update({0: "[PAD]", 1: "[START]", 2: "[OOV]"})
        " ".join(words[index] for index in x_train[0])

    Args:
        path: the JSON file's name in ``~/.keras/datasets`` (or an absolute path).

    Returns:
        A dict from word (str) to rank (int).

    Raises:
        FileNotFoundError: Keras's ``imdb.npz`` is cached but its word index is not.
    """
    if source() == COURSE_CORPUS_SOURCE:
        return dict(_corpus()[2])
    location = _cached(path)
    if not os.path.exists(location):
        raise FileNotFoundError(
            f"imdb.get_word_index: Keras's {DEFAULT_PATH} is in {datasets_folder()} but its word index is not at "
            f"{location}: put imdb_word_index.json there (Keras caches it with keras.datasets.imdb.get_word_index())."
        )
    with open(location, encoding="utf-8") as file:
        return json.load(file)
