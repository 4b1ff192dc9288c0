"""tf.keras's own dataset loaders and course_lib's read the same cached files: identical arrays, dtypes and shapes.

Small synthetic files are written in Keras's formats into a temporary
KERAS_HOME, where Keras's ``get_file`` finds them. Nothing can reach the
network: ``keras_home()`` is pointed at the folder (Keras reads KERAS_HOME once,
when it is imported), ``urlretrieve`` raises, so a loader that would download
fails the test instead, and the file-hash check is replaced by one that accepts
(a synthetic file cannot have the real file's sha256, and a mismatch makes
``get_file`` download again).
"""
import gzip
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest

from course_lib import config
from course_lib.datasets import (boston_housing, california_housing, cifar10, cifar100, fashion_mnist, mnist,
                                 reuters)

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity


class NetworkBlocked(AssertionError):
    pass


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """One KERAS_HOME for Keras and course_lib, with Keras's download replaced by a failure; its datasets folder."""
    from keras.src.backend import config as keras_config
    from keras.src.utils import file_utils

    def no_download(origin, *args, **kwargs):
        raise NetworkBlocked(f"a Keras loader tried to download {origin}")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path))
    monkeypatch.setattr(file_utils, "urlretrieve", no_download)
    monkeypatch.setattr(file_utils, "validate_file", lambda *args, **kwargs: True)
    (tmp_path / "datasets").mkdir()
    return tmp_path / "datasets"


def _same(expected, received):
    for (keras_x, keras_y), (our_x, our_y) in zip(expected, received):
        for keras_array, our_array in ((keras_x, our_x), (keras_y, our_y)):
            assert our_array.dtype == keras_array.dtype and our_array.shape == keras_array.shape
            if keras_array.dtype == object:
                assert [list(row) for row in our_array] == [list(row) for row in keras_array]
            else:
                np.testing.assert_array_equal(our_array, keras_array)


def test_the_guard_stops_a_download(cache):
    with pytest.raises(NetworkBlocked, match="tried to download .*mnist.npz"):
        keras.datasets.mnist.load_data()


# ---------------------------------------------------------------- mnist, fashion_mnist
def test_mnist_reads_keras_file_as_keras_does(cache):
    generator = np.random.default_rng(0)
    np.savez(cache / "mnist.npz", x_train=generator.integers(0, 256, (12, 28, 28)).astype("uint8"),
             y_train=generator.integers(0, 10, 12).astype("uint8"),
             x_test=generator.integers(0, 256, (2, 28, 28)).astype("uint8"),
             y_test=generator.integers(0, 10, 2).astype("uint8"))
    _same(keras.datasets.mnist.load_data(), mnist.load_data())


def _idx(array):
    return struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + \
        array.astype("uint8").tobytes()


def test_fashion_mnist_reads_keras_files_as_keras_does(cache):
    generator = np.random.default_rng(1)
    folder = cache / "fashion-mnist"
    folder.mkdir()
    for prefix, size in (("train", 9), ("t10k", 4)):
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as file:
            file.write(_idx(generator.integers(0, 256, (size, 28, 28))))
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as file:
            file.write(_idx(generator.integers(0, 10, size)))
    _same(keras.datasets.fashion_mnist.load_data(), fashion_mnist.load_data())


# ---------------------------------------------------------------- cifar10, cifar100
def _write_archive(path, inner, batches):
    """Keras 3's downloaded archive: the pickled batches (bytes keys) in ``inner/``."""
    with tarfile.open(path, "w") as archive:
        for name, batch in batches.items():
            content = pickle.dumps({key.encode(): value for key, value in batch.items()}, protocol=4)
            info = tarfile.TarInfo(f"{inner}/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))


def _three_reads(keras_loader, our_loader):
    """course_lib from the archive alone, then Keras (which extracts it), then course_lib from the extracted folder."""
    from_archive = our_loader()
    expected = keras_loader()
    _same(expected, from_archive)
    _same(expected, our_loader())


@pytest.mark.slow
def test_cifar10_reads_keras_archive_as_keras_does(cache):
    # Keras fills a fixed (50000, 3, 32, 32) array from five batches of 10,000: the file must have that size.
    generator = np.random.default_rng(2)
    batches = {name: {"data": generator.integers(0, 256, (10000, 3072), dtype="uint8"),
                      "labels": generator.integers(0, 10, 10000).tolist(), "batch_label": b"synthetic"}
               for name in cifar10.BATCHES[:5]}
    batches["test_batch"] = {"data": generator.integers(0, 256, (37, 3072), dtype="uint8"),
                             "labels": generator.integers(0, 10, 37).tolist()}
    _write_archive(cache / "cifar-10-batches-py-target_archive", "cifar-10-batches-py", batches)
    _three_reads(keras.datasets.cifar10.load_data, cifar10.load_data)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_reads_keras_archive_as_keras_does(cache, label_mode, data_format):
    generator = np.random.default_rng(3)
    batches = {name: {"data": generator.integers(0, 256, (size, 3072), dtype="uint8"),
                      "fine_labels": generator.integers(0, 100, size).tolist(),
                      "coarse_labels": generator.integers(0, 20, size).tolist()}
               for name, size in (("train", 23), ("test", 6))}
    _write_archive(cache / "cifar-100-python-target_archive", "cifar-100-python", batches)
    keras.config.set_image_data_format(data_format)
    config.set_image_data_format(data_format)
    try:
        _three_reads(lambda: keras.datasets.cifar100.load_data(label_mode=label_mode),
                     lambda: cifar100.load_data(label_mode=label_mode))
    finally:
        keras.config.set_image_data_format("channels_last")
        config.set_image_data_format("channels_last")


# ---------------------------------------------------------------- reuters
def _write_reuters(cache, generator, count=60, vocabulary=80):
    sequences = np.empty(count, dtype=object)
    for position in range(count):
        sequences[position] = generator.integers(1, vocabulary, generator.integers(1, 25)).tolist()
    np.savez(cache / "reuters.npz", x=sequences, y=generator.integers(0, 46, count).astype("int64"))


OPTIONS = [
    {},
    {"num_words": 20},
    {"num_words": 30, "skip_top": 5, "test_split": 0.5},
    {"maxlen": 12},
    {"maxlen": 15, "num_words": 25, "skip_top": 2, "seed": 7, "test_split": 0.1},
    {"start_char": None, "index_from": 0},
    {"start_char": None, "index_from": 0, "maxlen": 10},
    {"start_char": None, "oov_char": None, "num_words": 20},
    {"oov_char": None, "skip_top": 10},
    {"start_char": 5, "oov_char": 9, "index_from": 10, "seed": 0, "test_split": 0.0},
    {"test_split": 1.0},
]


@pytest.mark.parametrize("options", OPTIONS, ids=[str(options) for options in OPTIONS])
def test_reuters_processing_matches_keras_on_the_same_file(cache, options):
    _write_reuters(cache, np.random.default_rng(len(str(options))))
    _same(keras.datasets.reuters.load_data(**options), reuters.load_data(**options))


def test_reuters_word_index_and_label_names_match_keras(cache):
    (cache / "reuters_word_index.json").write_text('{"said": 1, "mln": 2, "vs": 3}')
    assert reuters.get_word_index() == keras.datasets.reuters.get_word_index()
    assert reuters.get_label_names() == keras.datasets.reuters.get_label_names()


# ---------------------------------------------------------------- boston_housing, california_housing
@pytest.mark.parametrize("options", [{}, {"test_split": 0.0}, {"test_split": 0.33, "seed": 4}])
def test_boston_housing_matches_keras(cache, options):
    generator = np.random.default_rng(5)
    np.savez(cache / "boston_housing.npz", x=generator.standard_normal((51, 13)), y=generator.uniform(5, 50, 51))
    _same(keras.datasets.boston_housing.load_data(**options), boston_housing.load_data(**options))


@pytest.mark.parametrize("options", [{}, {"version": "small"}, {"version": "small", "test_split": 0.25, "seed": 9},
                                     {"version": "large", "test_split": 0.0, "seed": 1}])
def test_california_housing_matches_keras(cache, options):
    generator = np.random.default_rng(6)
    np.savez(cache / "california_housing.npz", x=generator.standard_normal((640, 8)).astype("float32"),
             y=generator.uniform(2e4, 5e5, 640).astype("float32"))
    _same(keras.datasets.california_housing.load_data(**options), california_housing.load_data(**options))
