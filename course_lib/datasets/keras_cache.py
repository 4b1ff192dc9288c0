"""Keras's dataset cache, read in place: the one lookup every loader of ``course_lib.datasets`` shares.

Keras's ``keras.utils.get_file`` keeps what it downloads in
``$KERAS_HOME/datasets`` (``~/.keras/datasets`` without ``KERAS_HOME``), in
sub-folders for some data sets (``fashion-mnist/``) and with archives
extracted beside them (``cifar-10-batches-py-target/``). course_lib never
downloads: its loaders read those files when a machine that has run Keras's
loaders once has them, and otherwise fall back to a data set shipped offline or
raise :func:`missing` 's ``FileNotFoundError``, which says what is expected and where.

The ``.npz`` files of IMDB and Reuters hold ragged sequences as NumPy object
arrays, which only a pickle can store; :func:`read_npz` rebuilds them with an
unpickler that accepts NumPy's array globals and nothing else (as Keras's
``npz_utils.load_npz`` does), so a tampered file cannot run code.
"""
import io
import os
import pickle
import zipfile

import numpy

OFFLINE_DATASETS = ("mnist (scikit-learn's digits laid out as MNIST when mnist.npz is absent), digits, "
                    "imdb (the course corpus when imdb.npz is absent), image_folder, weather")
"""What :func:`missing` suggests instead: the loaders of ``course_lib.datasets`` that need no Keras file."""

_ARRAY_GLOBALS = frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
})


def datasets_folder():
    """Keras's cache folder for datasets: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``."""
    # The models folder's sibling: the one rule for $KERAS_HOME lives in applications.imagenet_utils.
    from course_lib.applications.imagenet_utils import keras_cache_folder

    return os.path.join(os.path.dirname(keras_cache_folder()), "datasets")


def cached(path, subdir=None):
    """Where Keras's ``get_file`` keeps ``path``: inside the datasets folder (or its ``subdir``); an absolute path is kept."""
    folder = datasets_folder() if subdir is None else os.path.join(datasets_folder(), subdir)
    return os.path.join(folder, os.fspath(path))


def missing(where, expected, keras_loader):
    """The ``FileNotFoundError`` of a loader whose Keras file is not in the cache.

    Args:
        where: the loader, e.g. ``"cifar10.load_data"``.
        expected: the file or folder it looked for (an absolute path), or several joined by ``" or "``.
        keras_loader: the Keras call that caches it, e.g. ``"keras.datasets.cifar10.load_data()"``.
    """
    return FileNotFoundError(
        f"{where}: Keras's cached data is not there: expected {expected}. course_lib downloads nothing: "
        f"run {keras_loader} once on a machine with a network and copy its files into {datasets_folder()} "
        f"(or point KERAS_HOME at a folder that has them), or use a data set that needs no file: "
        f"course_lib.datasets.{OFFLINE_DATASETS}."
    )


class ArrayOnlyUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays (and the lists, dicts and bytes around them) and nothing else."""

    def __init__(self, file, where, **kwargs):
        super().__init__(file, **kwargs)
        self._where = where

    def find_class(self, module, name):
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{self._where}: refusing to load {module}.{name} from a dataset file")


def _read_npy(stream, where, allow_objects):
    """One ``.npy`` member: plain arrays without pickle, object arrays through the restricted unpickler."""
    version = numpy.lib.format.read_magic(stream)
    # Version 3.0 differs from 2.0 only in the header's text encoding, which 2.0's reader handles.
    reader = numpy.lib.format.read_array_header_1_0 if version[0] == 1 else numpy.lib.format.read_array_header_2_0
    _, _, dtype = reader(stream)
    if dtype.hasobject:
        if not allow_objects:
            raise ValueError(f"{where}: the file holds an object array, which this data set never has")
        return ArrayOnlyUnpickler(stream, where).load()
    stream.seek(0)
    return numpy.lib.format.read_array(stream, allow_pickle=False)


def read_npz(path, where, required, name, allow_objects=True):
    """The arrays of an ``.npz`` file as a dict, without running any pickled code.

    Args:
        path: the file.
        where: the loader, for the errors.
        required: the array names the file must hold.
        name: Keras's name of the file, for the errors (``"imdb.npz"``).
        allow_objects: whether object arrays (ragged sequences) may be read;
            Keras reads MNIST and the housing files with ``allow_pickle=False``.

    Raises:
        ValueError: an array is missing, or an object array where none is allowed.
        pickle.UnpicklingError: the file asks for anything but NumPy's array globals.
    """
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                arrays[member[:-len(".npy")]] = _read_npy(io.BytesIO(archive.read(member)), where, allow_objects)
    absent = set(required) - arrays.keys()
    if absent:
        raise ValueError(f"{where}: {path} lacks the arrays {sorted(absent)}: it is not Keras's {name}")
    return arrays


def read_pickle(stream, where):
    """A Python 2 pickle such as CIFAR's batches (bytes keys), read with :class:`ArrayOnlyUnpickler`."""
    return ArrayOnlyUnpickler(stream, where, encoding="bytes").load()
