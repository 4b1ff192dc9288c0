"""Boston house prices (506 districts, 13 attributes, prices in k$): Keras's ``keras.datasets.boston_housing``.

Read from Keras's ``boston_housing.npz`` in the Keras cache folder
(``$KERAS_HOME/datasets`` or ``~/.keras/datasets``). course_lib downloads
nothing and ships no stand-in: without the file :func:`load_data` raises a
``FileNotFoundError`` that says where it is expected.

Keras's warning stands: one attribute, "B", encodes an assumption about racial
self-segregation; use the data set only to discuss such problems in data.
"""
from course_lib.datasets import _housing

DEFAULT_PATH = "boston_housing.npz"


def load_data(path=DEFAULT_PATH, test_split=0.2, seed=113):
    """Load the Boston housing data exactly as ``keras.datasets.boston_housing.load_data`` does.

    The 506 rows are shuffled by ``numpy.random.RandomState(seed)``; the first
    ``int(506 * (1 - test_split))`` are the training set (404 of them by default).

    Args:
        path: the file's name in ``~/.keras/datasets`` (or an absolute path).
        test_split: the fraction of rows put in the test set, in [0, 1).
        seed: the shuffling seed.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x_*`` float arrays of
        shape ``(samples, 13)``, ``y_*`` float arrays of shape ``(samples,)``
        (median prices in k$, between 5 and 50), in the dtype the file stores, as Keras returns them.

    Raises:
        ValueError: a bad ``test_split`` or ``seed`` (checked before any file is looked for).
        FileNotFoundError: the file is not in the cache folder.
    """
    where = "boston_housing.load_data"
    _housing.check(where, test_split, seed)
    x, y = _housing.read(where, path, DEFAULT_PATH, "keras.datasets.boston_housing.load_data()")
    return _housing.split(x, y, test_split, seed)
