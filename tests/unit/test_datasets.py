"""course_lib.datasets' Keras loaders: Keras's cached files read in place, the MNIST stand-in, and every error.

Each test points KERAS_HOME at an empty temporary folder and writes there small
files in Keras's own formats (``.npz``, gzip'd IDX files, pickled CIFAR
batches in folders and in a tar archive), so that nothing depends on what this
machine has cached and nothing is downloaded. tests/parity/test_datasets_parity.py
has tf.keras's loaders read the same kind of files.
"""
import gzip
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest

from course_lib import config
from course_lib.datasets import (boston_housing, california_housing, cifar10, cifar100, fashion_mnist, imdb,
                                 keras_cache, mnist, reuters)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty Keras home; returns its ``datasets`` folder (created)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    return tmp_path / "datasets"


def _object_array(sequences):
    array = np.empty(len(sequences), dtype=object)
    array[:] = sequences
    return array


def _pickled_batch(data, **labels):
    """A CIFAR batch as the originals are: bytes keys, ``data`` a (samples, 3072) uint8 array.

    (Protocol 4: protocol 2 stores Python 3 bytes through ``_codecs.encode``, which Keras's unpickler refuses too.)
    """
    batch = {b"batch_label": b"synthetic", b"data": data, b"filenames": [b"x.png"] * len(data)}
    batch.update({key.encode(): list(map(int, value)) for key, value in labels.items()})
    return pickle.dumps(batch, protocol=4)


def _cifar_files(generator, names, sizes, label_keys, classes):
    files, expected = {}, {}
    for name, size in zip(names, sizes):
        data = generator.integers(0, 256, (size, 3072)).astype("uint8")
        labels = {key: generator.integers(0, classes[key], size) for key in label_keys}
        files[name] = _pickled_batch(data, **labels)
        expected[name] = (data, labels)
    return files, expected


def _write_folder(folder, files):
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)


def _write_archive(path, inner, files):
    with tarfile.open(path, "w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(f"{inner}/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))


def _idx(array):
    """An IDX file's bytes (big-endian header: magic with the dimension count, then each dimension)."""
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype("uint8").tobytes()


# ---------------------------------------------------------------- the cache folder
def test_the_cache_folder_follows_keras_home(cache, tmp_path):
    assert keras_cache.datasets_folder() == str(cache)
    assert keras_cache.cached("a.npz") == str(cache / "a.npz")
    assert keras_cache.cached("b.gz", "fashion-mnist") == str(cache / "fashion-mnist" / "b.gz")
    assert keras_cache.cached(str(tmp_path / "elsewhere.npz")) == str(tmp_path / "elsewhere.npz")
    assert imdb.datasets_folder() == str(cache)  # imdb uses the same lookup


def test_without_keras_home_the_cache_is_in_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert keras_cache.datasets_folder() == str(tmp_path / ".keras" / "datasets")


# ---------------------------------------------------------------- mnist
def test_mnist_reads_keras_file_as_it_is(cache, capsys):
    generator = np.random.default_rng(0)
    arrays = {"x_train": generator.integers(0, 256, (6, 28, 28)).astype("uint8"),
              "y_train": generator.integers(0, 10, 6).astype("uint8"),
              "x_test": generator.integers(0, 256, (2, 28, 28)).astype("uint8"),
              "y_test": generator.integers(0, 10, 2).astype("uint8")}
    np.savez(cache / "mnist.npz", **arrays)
    assert mnist.source() == mnist.KERAS_CACHE_SOURCE == "keras-cache mnist.npz"
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    for name, received in (("x_train", x_train), ("y_train", y_train), ("x_test", x_test), ("y_test", y_test)):
        assert received.dtype == arrays[name].dtype and received.shape == arrays[name].shape
        np.testing.assert_array_equal(received, arrays[name])
    assert "stand-in" not in capsys.readouterr().out


def test_mnist_reads_a_named_file(cache):
    np.savez(cache / "other.npz", x_train=np.zeros((1, 28, 28), "uint8"), y_train=np.zeros(1, "uint8"),
             x_test=np.ones((1, 28, 28), "uint8"), y_test=np.ones(1, "uint8"))
    assert mnist.source("other.npz") == mnist.KERAS_CACHE_SOURCE
    assert mnist.load_data("other.npz")[1][0].max() == 1


@pytest.fixture
def stand_in(cache, monkeypatch, capsys):
    monkeypatch.setattr(mnist, "_fallback_announced", False)
    assert mnist.source() == mnist.STAND_IN_SOURCE == "digits stand-in"
    data = mnist.load_data()
    first = capsys.readouterr().out
    mnist.load_data()
    assert "using a stand-in, not MNIST" in first and "scikit-learn" in first
    assert capsys.readouterr().out == ""  # said once
    return data


def test_the_mnist_stand_in_is_laid_out_as_mnist(stand_in):
    (x_train, y_train), (x_test, y_test) = stand_in
    assert x_train.shape == (1540, 28, 28) and x_test.shape == (257, 28, 28)
    assert y_train.shape == (1540,) and y_test.shape == (257,)
    assert x_train.dtype == x_test.dtype == y_train.dtype == y_test.dtype == np.uint8
    assert x_train.min() == 0 and x_train.max() == 255 and set(np.unique(y_train)) == set(range(10))
    for image in np.concatenate([x_train, x_test]):
        rows, columns = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
        height, width = rows[-1] - rows[0] + 1, columns[-1] - columns[0] + 1
        assert max(height, width) in (19, 20) and height <= 20 and width <= 20  # the 20x20 box
        mass = image.astype("float64")
        centre = ((mass.sum(1) * np.arange(28)).sum() / mass.sum(), (mass.sum(0) * np.arange(28)).sum() / mass.sum())
        assert np.all(np.abs(np.array(centre) - 13.5) <= 1.0)  # centred by its centre of mass


def test_the_mnist_stand_in_keeps_mnist_proportion_in_every_class(stand_in):
    (_, y_train), (_, y_test) = stand_in
    from sklearn.datasets import load_digits

    counts = np.bincount(load_digits().target)
    train, test = np.bincount(y_train, minlength=10), np.bincount(y_test, minlength=10)
    np.testing.assert_array_equal(train + test, counts)
    np.testing.assert_array_equal(test, np.round(counts / 7).astype(int))
    assert np.all((train / test > 5.5) & (train / test < 6.5))
    assert len(set(y_train[:20].tolist())) > 5  # mixed, not sorted by class


def test_the_mnist_stand_in_is_deterministic_and_returns_fresh_arrays(stand_in):
    (x_train, y_train), (x_test, y_test) = stand_in
    x_train[:] = 0
    (again, again_labels), (again_test, _) = mnist.load_data()
    assert again.max() == 255
    np.testing.assert_array_equal(again_labels, y_train)
    np.testing.assert_array_equal(again_test, x_test)


def test_the_mnist_stand_in_images_carry_their_labels(stand_in):
    """A linear classifier learns the stand-in: images and labels were not shuffled apart."""
    from sklearn.linear_model import LogisticRegression

    (x_train, y_train), (x_test, y_test) = stand_in
    classifier = LogisticRegression(max_iter=300).fit(x_train.reshape(len(x_train), -1) / 255.0, y_train)
    assert classifier.score(x_test.reshape(len(x_test), -1) / 255.0, y_test) > 0.9


def test_mnist_a_missing_named_file_is_an_error_not_a_fallback(cache):
    with pytest.raises(FileNotFoundError, match=r"mnist.load_data: no file at .*mine.npz, and course_lib downloads "
                                                r"nothing\. Leave path='mnist.npz' to use the digits stand-in"):
        mnist.load_data("mine.npz")


def test_mnist_refuses_object_arrays(cache):
    np.savez(cache / "mnist.npz", x_train=_object_array([[1]]), y_train=np.zeros(1), x_test=np.zeros(1),
             y_test=np.zeros(1))
    with pytest.raises(ValueError, match="mnist.load_data: the file holds an object array"):
        mnist.load_data()


def test_mnist_names_the_arrays_a_wrong_file_lacks(cache):
    np.savez(cache / "mnist.npz", x=np.zeros(1))
    with pytest.raises(ValueError, match=r"lacks the arrays \['x_test', 'x_train', 'y_test', 'y_train'\]: "
                                         r"it is not Keras's mnist.npz"):
        mnist.load_data()


# ---------------------------------------------------------------- fashion_mnist
def _write_fashion(cache, generator, sizes=(7, 3)):
    folder = cache / "fashion-mnist"
    folder.mkdir()
    arrays = {}
    for prefix, size in zip(("train", "t10k"), sizes):
        images, labels = generator.integers(0, 256, (size, 28, 28)), generator.integers(0, 10, size)
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as file:
            file.write(_idx(images))
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as file:
            file.write(_idx(labels))
        arrays[prefix] = (images.astype("uint8"), labels.astype("uint8"))
    return arrays


def test_fashion_mnist_reads_keras_idx_files(cache):
    arrays = _write_fashion(cache, np.random.default_rng(1))
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    for (expected_x, expected_y), received_x, received_y in ((arrays["train"], x_train, y_train),
                                                            (arrays["t10k"], x_test, y_test)):
        assert received_x.dtype == received_y.dtype == np.uint8
        np.testing.assert_array_equal(received_x, expected_x)
        np.testing.assert_array_equal(received_y, expected_y)
    assert len(fashion_mnist.CLASS_NAMES) == 10


def test_fashion_mnist_names_each_missing_file(cache):
    _write_fashion(cache, np.random.default_rng(1))
    (cache / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    expected = str(cache / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError) as error:
        fashion_mnist.load_data()
    message = str(error.value)
    assert message.startswith(f"fashion_mnist.load_data: Keras's cached data is not there: expected {expected}. ")
    assert "course_lib downloads nothing" in message and "keras.datasets.fashion_mnist.load_data()" in message
    assert "train-images" not in message  # only what is missing


# ---------------------------------------------------------------- cifar10 and cifar100
CIFAR10_CLASSES = {"labels": 10}
CIFAR100_CLASSES = {"fine_labels": 100, "coarse_labels": 20}


def _cifar10_expected(expected, channels_first=False):
    train = [expected[name] for name in cifar10.BATCHES[:5]]
    x_train = np.concatenate([data for data, _ in train]).reshape(-1, 3, 32, 32)
    y_train = np.concatenate([labels["labels"] for _, labels in train]).astype("uint8").reshape(-1, 1)
    data, labels = expected["test_batch"]
    x_test, y_test = data.reshape(-1, 3, 32, 32), labels["labels"].astype("uint8").reshape(-1, 1)
    if not channels_first:
        x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
    return (x_train, y_train), (x_test, y_test)


def _same(received, expected):
    for (received_x, received_y), (expected_x, expected_y) in zip(received, expected):
        assert received_x.dtype == expected_x.dtype and received_x.shape == expected_x.shape
        assert received_y.dtype == expected_y.dtype and received_y.shape == expected_y.shape
        np.testing.assert_array_equal(received_x, expected_x)
        np.testing.assert_array_equal(received_y, expected_y)


@pytest.mark.parametrize("place", ["keras 3 folder", "keras 3 archive", "keras 2 folder"])
def test_cifar10_reads_each_place_keras_keeps_its_batches(cache, place):
    files, expected = _cifar_files(np.random.default_rng(2), cifar10.BATCHES, (3, 2, 4, 1, 2, 3), ["labels"],
                                   CIFAR10_CLASSES)
    if place == "keras 3 folder":
        _write_folder(cache / "cifar-10-batches-py-target" / "cifar-10-batches-py", files)
    elif place == "keras 3 archive":
        _write_archive(cache / "cifar-10-batches-py-target_archive", "cifar-10-batches-py", files)
    else:
        _write_folder(cache / "cifar-10-batches-py", files)
    received = cifar10.load_data()
    assert received[0][0].shape == (12, 32, 32, 3) and received[0][1].shape == (12, 1)
    _same(received, _cifar10_expected(expected))


def test_cifar10_follows_the_image_data_format(cache):
    files, expected = _cifar_files(np.random.default_rng(3), cifar10.BATCHES, (1, 1, 1, 1, 2, 2), ["labels"],
                                   CIFAR10_CLASSES)
    _write_folder(cache / "cifar-10-batches-py", files)
    config.set_image_data_format("channels_first")
    try:
        _same(cifar10.load_data(), _cifar10_expected(expected, channels_first=True))
    finally:
        config.set_image_data_format("channels_last")


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_reads_the_labels_asked_for(cache, label_mode):
    files, expected = _cifar_files(np.random.default_rng(4), cifar100.BATCHES, (5, 3), list(CIFAR100_CLASSES),
                                   CIFAR100_CLASSES)
    _write_archive(cache / "cifar-100-python-target_archive", "cifar-100-python", files)
    (x_train, y_train), (x_test, y_test) = cifar100.load_data(label_mode=label_mode)
    for (data, labels), x, y in ((expected["train"], x_train, y_train), (expected["test"], x_test, y_test)):
        assert x.dtype == np.uint8 and y.dtype == np.int64 and y.shape == (len(data), 1)
        np.testing.assert_array_equal(x, data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        np.testing.assert_array_equal(y[:, 0], labels[f"{label_mode}_labels"])


def test_cifar100_rejects_an_unknown_label_mode_before_looking_for_files(cache):
    with pytest.raises(ValueError, match="cifar100.load_data: label_mode must be one of 'fine', 'coarse'. "
                                         "Received: label_mode='medium'"):
        cifar100.load_data("medium")


@pytest.mark.parametrize("module, inner", [(cifar10, "cifar-10-batches-py"), (cifar100, "cifar-100-python")])
def test_cifar_missing_batches_name_every_place_looked_at(cache, module, inner):
    with pytest.raises(FileNotFoundError) as error:
        module.load_data()
    message = str(error.value)
    name = module.__name__.rsplit(".", 1)[1]
    assert message.startswith(f"{name}.load_data: Keras's cached data is not there: expected the folder "
                              f"{cache / f'{inner}-target' / inner} (with ")
    assert f"or the archive {cache / f'{inner}-target_archive'} (holding {inner}/" in message
    assert f"or the folder {cache / inner} (with " in message
    assert "course_lib downloads nothing" in message and f"keras.datasets.{name}.load_data()" in message
    assert "course_lib.datasets.mnist" in message


def test_a_tampered_cifar_batch_cannot_run_code(cache):
    class Gadget:
        def __reduce__(self):
            return (print, ("this must never run",))

    files = {name: pickle.dumps({b"data": Gadget(), b"labels": [0]}) for name in cifar10.BATCHES}
    _write_folder(cache / "cifar-10-batches-py", files)
    with pytest.raises(pickle.UnpicklingError, match="cifar10.load_data: refusing to load builtins.print"):
        cifar10.load_data()


# ---------------------------------------------------------------- reuters
def _write_reuters(cache, sequences, labels):
    np.savez(cache / "reuters.npz", x=_object_array(sequences), y=np.asarray(labels, dtype="int64"))


def _shuffled(count, seed):
    order = np.arange(count)
    np.random.RandomState(seed).shuffle(order)
    return order


def test_reuters_shuffles_shifts_and_splits_as_keras_documents(cache):
    sequences = [[1, 2, 3], [4], [5, 6], [7, 8, 9, 10], [2, 2]]
    _write_reuters(cache, sequences, [0, 1, 2, 3, 4])
    (x_train, y_train), (x_test, y_test) = reuters.load_data(test_split=0.4, seed=5)
    order = _shuffled(5, 5)
    assert len(x_train) == 3 and len(x_test) == 2  # int(5 * 0.6)
    assert x_train.dtype == x_test.dtype == object and y_train.dtype == np.int64
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), order)
    # Shifted by 3 with 1 in front; the largest index (13) is the bound, so it becomes oov (2), as in Keras.
    expected = [[1] + [word + 3 if word + 3 < 13 else 2 for word in sequences[position]] for position in order]
    assert [list(review) for review in np.concatenate([x_train, x_test])] == expected


def test_reuters_vocabulary_options(cache):
    _write_reuters(cache, [[1, 2, 3, 4, 5, 6], [1, 1, 7]], [0, 1])
    (x_train, _), (x_test, _) = reuters.load_data(num_words=8, skip_top=5, test_split=0.0)
    assert len(x_test) == 0 and len(x_train) == 2
    for review in x_train:
        assert all(word == 2 or 5 <= word < 8 for word in review)
    (x_train, _), _ = reuters.load_data(num_words=8, skip_top=5, oov_char=None, start_char=None, index_from=0,
                                        test_split=0.0)
    assert sorted(map(sorted, x_train)) == [[5, 6], [7]]
    (short, labels), _ = reuters.load_data(maxlen=5, test_split=0.0)  # start mark + 3 words < 5
    assert [list(review)[0] for review in short] == [1] and labels.tolist() == [1]


def test_reuters_word_index_and_label_names(cache):
    (cache / "reuters_word_index.json").write_text('{"said": 1, "mln": 2}')
    assert reuters.get_word_index() == {"said": 1, "mln": 2}
    names = reuters.get_label_names()
    assert len(names) == 46 and names[3] == "earn" and names[-1] == "lead"


@pytest.mark.parametrize("kwargs, message", [
    ({"num_words": 0}, "reuters.load_data: num_words must be None or an int >= 1. Received: num_words=0"),
    ({"skip_top": -1}, "reuters.load_data: skip_top must be an int >= 0. Received: skip_top=-1"),
    ({"maxlen": 2.5}, "reuters.load_data: maxlen must be None or an int >= 1. Received: maxlen=2.5"),
    ({"seed": None}, "reuters.load_data: seed must be an int. Received: seed=None"),
    ({"start_char": "a"}, "reuters.load_data: start_char must be None or an int. Received: start_char='a'"),
    ({"oov_char": 1.0}, "reuters.load_data: oov_char must be None or an int. Received: oov_char=1.0"),
    ({"index_from": True}, "reuters.load_data: index_from must be an int >= 0. Received: index_from=True"),
    ({"test_split": 1.5}, "reuters.load_data: test_split must be a number from 0 to 1. Received: test_split=1.5"),
    ({"maxlen": 2}, "reuters.load_data: no newswire is shorter than maxlen=2: every one was removed. Increase maxlen."),
])
def test_reuters_rejects_bad_arguments(cache, kwargs, message):
    _write_reuters(cache, [[1, 2], [3]], [0, 1])
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        reuters.load_data(**kwargs)


@pytest.mark.parametrize("call, loader, file", [
    (reuters.load_data, "reuters.load_data", "reuters.npz"),
    (reuters.get_word_index, "reuters.get_word_index", "reuters_word_index.json"),
    (boston_housing.load_data, "boston_housing.load_data", "boston_housing.npz"),
    (california_housing.load_data, "california_housing.load_data", "california_housing.npz"),
])
def test_a_missing_keras_file_is_named_with_where_it_is_expected(cache, call, loader, file):
    with pytest.raises(FileNotFoundError) as error:
        call()
    message = str(error.value)
    keras_call = f"keras.datasets.{loader}()"
    assert message == (
        f"{loader}: Keras's cached data is not there: expected {cache / file}. course_lib downloads nothing: "
        f"run {keras_call} once on a machine with a network and copy its files into {cache} "
        f"(or point KERAS_HOME at a folder that has them), or use a data set that needs no file: "
        f"course_lib.datasets.{keras_cache.OFFLINE_DATASETS}."
    )


# ---------------------------------------------------------------- boston_housing and california_housing
def _write_housing(cache, name, rows, features, generator):
    x, y = generator.standard_normal((rows, features)), generator.uniform(5, 50, rows)
    np.savez(cache / name, x=x, y=y)
    return x, y


@pytest.mark.parametrize("test_split, seed", [(0.2, 113), (0.0, 1), (0.35, 7)])
def test_boston_housing_split_is_keras_seeded_shuffle(cache, test_split, seed):
    x, y = _write_housing(cache, "boston_housing.npz", 50, 13, np.random.default_rng(5))
    (x_train, y_train), (x_test, y_test) = boston_housing.load_data(test_split=test_split, seed=seed)
    cut = int(50 * (1 - test_split))
    assert x_train.shape == (cut, 13) and y_test.shape == (50 - cut,) and x_train.dtype == np.float64
    order = _shuffled(50, seed)
    np.testing.assert_array_equal(np.concatenate([x_train, x_test]), x[order])
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), y[order])
    np.testing.assert_array_equal(boston_housing.load_data(test_split=test_split, seed=seed)[0][0], x_train)


@pytest.mark.parametrize("version, rows", [("large", 650), ("small", 600)])
def test_california_housing_versions(cache, version, rows):
    x, y = _write_housing(cache, "california_housing.npz", 650, 8, np.random.default_rng(6))
    (x_train, y_train), (x_test, y_test) = california_housing.load_data(version=version, seed=3)
    assert len(x_train) == int(rows * 0.8) and len(x_train) + len(x_test) == rows
    order = _shuffled(rows, 3)
    np.testing.assert_array_equal(np.concatenate([x_train, x_test]), x[:rows][order])
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), y[:rows][order])


@pytest.mark.parametrize("call, message", [
    (lambda: boston_housing.load_data(test_split=1),
     "boston_housing.load_data: test_split must be a number from 0 to 1 (1 excluded). Received: test_split=1"),
    (lambda: boston_housing.load_data(test_split=-0.1),
     "boston_housing.load_data: test_split must be a number from 0 to 1 (1 excluded). Received: test_split=-0.1"),
    (lambda: boston_housing.load_data(seed=1.5), "boston_housing.load_data: seed must be an int. Received: seed=1.5"),
    (lambda: california_housing.load_data(version="medium"),
     "california_housing.load_data: version must be one of 'small', 'large'. Received: version='medium'"),
    (lambda: california_housing.load_data(test_split="0.2"),
     "california_housing.load_data: test_split must be a number from 0 to 1 (1 excluded). Received: test_split='0.2'"),
])
def test_housing_arguments_are_checked_before_any_file_is_looked_for(cache, call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        call()


def test_a_housing_file_with_other_arrays_is_named(cache):
    np.savez(cache / "boston_housing.npz", x_train=np.zeros(1))
    with pytest.raises(ValueError, match=r"boston_housing.load_data: .* lacks the arrays \['x', 'y'\]: "
                                         r"it is not Keras's boston_housing.npz"):
        boston_housing.load_data()
