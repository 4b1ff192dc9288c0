"""Reuters newswires labelled by topic (46 topics), encoded as word indices: Keras's ``keras.datasets.reuters``.

Read from Keras's ``reuters.npz`` (11,228 newswires) in the Keras cache folder
(``$KERAS_HOME/datasets`` or ``~/.keras/datasets``), with
``reuters_word_index.json`` beside it for :func:`get_word_index`, processed as
Keras processes them. course_lib downloads nothing and ships no stand-in:
without the file :func:`load_data` raises a ``FileNotFoundError`` that says
where it is expected (``course_lib.datasets.imdb`` is the offline text data set).
"""
import json
import numbers
import os

import numpy

from course_lib.datasets import imdb
from course_lib.datasets.keras_cache import cached, missing, read_npz

DEFAULT_PATH = "reuters.npz"
WORD_INDEX_PATH = "reuters_word_index.json"
LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)
"""The topic of each label index, as Keras's ``get_label_names`` lists them."""


def _check_arguments(num_words, skip_top, maxlen, test_split, seed, start_char, oov_char, index_from):
    imdb.check_sequence_options("reuters.load_data", num_words, skip_top, maxlen, seed, start_char, oov_char,
                                index_from)
    if isinstance(test_split, bool) or not isinstance(test_split, numbers.Real) or not 0 <= test_split <= 1:
        raise ValueError(
            f"reuters.load_data: test_split must be a number from 0 to 1. Received: test_split={test_split!r}"
        )


def load_data(path=DEFAULT_PATH, num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113, start_char=1,
              oov_char=2, index_from=3):
    """Load the newswires as lists of word indices, exactly as ``keras.datasets.reuters.load_data`` does.

    Keras's order, which differs from IMDB's in two ways (one shuffle of the
    whole file, and the split made last):

    1. all the newswires are shuffled by ``numpy.random.RandomState(seed)``;
    2. every index is shifted by ``index_from`` and ``start_char`` is put in front;
    3. with ``maxlen``, newswires of ``maxlen`` indices or more are removed, not cut;
    4. indices outside ``[skip_top, num_words)`` become ``oov_char`` (or are
       removed when it is None); with ``num_words=None`` the bound is the
       largest index present, so, as in Keras, that one rarest word becomes ``oov_char`` too;
    5. the first ``int(count * (1 - test_split))`` newswires are the training set.

    Args:
        path: the file's name in ``~/.keras/datasets`` (or an absolute path).
        num_words: None or an int: keep the indices below it.
        skip_top: indices below it (the most frequent words, after the shift) become ``oov_char``.
        maxlen: None or an int: drop the newswires that are not shorter.
        test_split: the fraction of newswires, from 0 to 1, put in the test set.
        seed: the shuffling seed.
        start_char: the index that starts every newswire, or None.
        oov_char: the index of removed words, or None to leave them out.
        index_from: the shift of the word indices (0, 1 and 2 stay free for padding, start and oov).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x_*`` object arrays of lists
        of int (8,982 + 2,246 with Keras's file and the defaults), ``y_*``
        integer arrays of topics 0-45 (see :func:`get_label_names`).

    Raises:
        FileNotFoundError: the file is not in the cache folder.
        ValueError: a bad argument, or a ``maxlen`` that removes every newswire.
    """
    _check_arguments(num_words, skip_top, maxlen, test_split, seed, start_char, oov_char, index_from)
    location = cached(path)
    if not os.path.exists(location):
        raise missing("reuters.load_data", location, "keras.datasets.reuters.load_data()")
    arrays = read_npz(location, "reuters.load_data", ("x", "y"), DEFAULT_PATH)
    sequences, labels = arrays["x"], arrays["y"]
    order = numpy.arange(len(sequences))
    numpy.random.RandomState(seed).shuffle(order)
    sequences, labels = sequences[order], labels[order]
    if start_char is not None:
        sequences = [[start_char] + [word + index_from for word in review] for review in sequences]
    elif index_from:
        sequences = [[word + index_from for word in review] for review in sequences]
    if maxlen:
        kept = [position for position, review in enumerate(sequences) if len(review) < maxlen]
        if not kept:
            raise ValueError(
                f"reuters.load_data: no newswire is shorter than maxlen={maxlen}: every one was removed. "
                "Increase maxlen."
            )
        sequences = [sequences[position] for position in kept]
        labels = [labels[position] for position in kept]
    if not num_words:
        # (Keras's max() fails on an empty newswire, possible with start_char=None; skipping them gives the same bound.)
        num_words = max((max(review) for review in sequences if len(review)), default=0)
    if oov_char is not None:
        sequences = [[word if skip_top <= word < num_words else oov_char for word in review] for review in sequences]
    else:
        sequences = [[word for word in review if skip_top <= word < num_words] for review in sequences]
    split = int(len(sequences) * (1 - test_split))
    return ((numpy.array(sequences[:split], dtype="object"), numpy.array(labels[:split])),
            (numpy.array(sequences[split:], dtype="object"), numpy.array(labels[split:])))


def get_word_index(path=WORD_INDEX_PATH):
    """The dict word -> rank (1 = most frequent) of Keras's Reuters file: its ``reuters_word_index.json``.

    Add ``index_from`` (3) to a rank to get the index :func:`load_data` uses.

    Args:
        path: the JSON file's name in ``~/.keras/datasets`` (or an absolute path).

    Raises:
        FileNotFoundError: the file is not in the cache folder.
    """
    location = cached(path)
    if not os.path.exists(location):
        raise missing("reuters.get_word_index", location, "keras.datasets.reuters.get_word_index()")
    with open(location, encoding="utf-8") as file:
        return json.load(file)


def get_label_names():
    """The 46 topic names, a tuple indexed by label (no file needed)."""
    return LABEL_NAMES
