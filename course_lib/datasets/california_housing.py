"""California house values (20,640 block groups of the 1990 census, 8 features): Keras's ``keras.datasets.california_housing``.

Read from Keras's ``california_housing.npz`` in the Keras cache folder
(``$KERAS_HOME/datasets`` or ``~/.keras/datasets``). course_lib downloads
nothing and ships no stand-in: without the file :func:`load_data` raises a
``FileNotFoundError`` that says where it is expected.
"""
from course_lib.datasets import _housing

DEFAULT_PATH = "california_housing.npz"
VERSIONS = ("large", "small")
SMALL_SIZE = 600
"""The rows of ``version="small"``: the file's first 600, a stand-in for the Boston data's size."""
FEATURES = ("MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude")
"""The columns of ``x``, from Keras's documentation."""


def load_data(version="large", path=DEFAULT_PATH, test_split=0.2, seed=113):
    """Load the California housing data exactly as ``keras.datasets.california_housing.load_data`` does.

    With ``version="small"`` the file's first 600 rows are kept; the rows are
    then shuffled by ``numpy.random.RandomState(seed)`` and the first
    ``int(rows * (1 - test_split))`` are the training set.

    Args:
        version: ``"large"`` (20,640 rows) or ``"small"`` (600 rows).
        path: the file's name in ``~/.keras/datasets`` (or an absolute path).
        test_split: the fraction of rows put in the test set, in [0, 1).
        seed: the shuffling seed.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x_*`` float arrays of
        shape ``(samples, 8)`` (see :data:`FEATURES`), ``y_*`` float arrays of
        shape ``(samples,)`` (median house values in dollars), in the dtype the file stores, as Keras returns them.

    Raises:
        ValueError: a bad ``version``, ``test_split`` or ``seed`` (checked before
            any file is looked for, where Keras checks ``version`` after reading).
        FileNotFoundError: the file is not in the cache folder.
    """
    where = "california_housing.load_data"
    if version not in VERSIONS:
        raise ValueError(f"{where}: version must be one of 'small', 'large'. Received: version={version!r}")
    _housing.check(where, test_split, seed)
    x, y = _housing.read(where, path, DEFAULT_PATH, "keras.datasets.california_housing.load_data()")
    if version == "small":
        x, y = x[:SMALL_SIZE], y[:SMALL_SIZE]
    return _housing.split(x, y, test_split, seed)
