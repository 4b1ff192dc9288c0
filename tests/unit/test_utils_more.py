"""keras.utils functions: timeseries windows, text folders, split_dataset, Progbar, normalize, the graph helpers.

Behaviour and errors on course_lib alone (tf.keras parity is in
tests/parity/test_utils_more_parity.py): the windows against index
arithmetic written out here, shuffles reproducible from their seed, the
errors naming the function, Progbar's averaging and fit's unchanged lines.
"""
import re

import numpy as np
import pytest

import course_lib as cl
from course_lib import backend
from course_lib.utils.progbar import Progbar
from course_lib.utils.text_dataset import TextFolderDataset
from course_lib.utils.timeseries import TimeseriesDataset

utils = cl.utils


# ---------------------------------------------------------------- timeseries_dataset_from_array
def _expected_windows(data, targets, length, stride, rate, start, end):
    """Keras's windows written out one by one: the reference for the strided views."""
    start = start or 0
    end = len(data) if end is None else end
    count = end - start - (length - 1) * rate
    if targets is not None:
        count = min(count, len(targets))
    starts = list(range(0, max(count, 0), stride))
    windows = [data[start + s:start + s + length * rate:rate] for s in starts]
    return windows, None if targets is None else [targets[start + s] for s in starts]


def _all_batches(dataset):
    return [dataset[i] for i in range(len(dataset))]


SERIES = np.arange(60 * 2, dtype="float32").reshape(60, 2) / 7


@pytest.mark.parametrize("options", [
    dict(sequence_length=5),
    dict(sequence_length=4, sequence_stride=3, sampling_rate=2, batch_size=4),
    dict(sequence_length=3, sampling_rate=5, start_index=7, end_index=50, batch_size=5),
    dict(sequence_length=6, sequence_stride=7, start_index=3, batch_size=2),
    dict(sequence_length=2, end_index=9, batch_size=3),
])
def test_timeseries_windows_and_targets_are_keras_windows(options):
    targets = np.arange(60) * 10
    dataset = utils.timeseries_dataset_from_array(SERIES, targets, **options)
    assert isinstance(dataset, TimeseriesDataset) and isinstance(dataset, utils.PyDataset)
    windows, expected_targets = _expected_windows(SERIES, targets, options["sequence_length"],
                                                  options.get("sequence_stride", 1), options.get("sampling_rate", 1),
                                                  options.get("start_index"), options.get("end_index"))
    batches = _all_batches(dataset)
    batch_size = options.get("batch_size", 128)
    assert [len(x) for x, _ in batches] == [len(windows[i:i + batch_size]) for i in range(0, len(windows), batch_size)]
    got_x = np.concatenate([x for x, _ in batches])
    got_y = np.concatenate([y for _, y in batches])
    np.testing.assert_array_equal(got_x, np.stack(windows))
    np.testing.assert_array_equal(got_y, np.array(expected_targets))
    assert got_x.dtype == SERIES.dtype and got_y.dtype == targets.dtype
    assert got_x.shape[1:] == (options["sequence_length"], 2)


def test_timeseries_without_targets_gives_inputs_only_and_without_batches_one_window():
    data = np.arange(20)
    dataset = utils.timeseries_dataset_from_array(data, None, sequence_length=4, batch_size=None)
    assert len(dataset) == 17
    np.testing.assert_array_equal(dataset[3], [3, 4, 5, 6])
    batched = utils.timeseries_dataset_from_array(data, None, sequence_length=4, batch_size=8)
    assert isinstance(batched[0], np.ndarray) and batched[0].shape == (8, 4) and batched[2].shape == (1, 4)
    with_targets = utils.timeseries_dataset_from_array(data, data * 2, sequence_length=4, batch_size=None)
    window, target = with_targets[5]
    np.testing.assert_array_equal(window, [5, 6, 7, 8])
    assert target == 10


def test_timeseries_too_long_windows_give_an_empty_dataset():
    dataset = utils.timeseries_dataset_from_array(np.arange(10), None, sequence_length=11)
    assert len(dataset) == 0


def test_timeseries_windows_are_views_of_the_series():
    data = np.arange(1000.0)
    dataset = utils.timeseries_dataset_from_array(data, None, sequence_length=50, sampling_rate=3)
    assert np.shares_memory(dataset._windows, data)  # strided views, no copy of every window
    first = dataset[0]
    assert first.flags.c_contiguous and not np.shares_memory(first, data)  # one copy per batch


def test_timeseries_shuffle_is_reproducible_and_keeps_the_windows():
    data, targets = np.arange(50), np.arange(50) + 100
    options = dict(sequence_length=3, sequence_stride=2, batch_size=4)
    plain = utils.timeseries_dataset_from_array(data, targets, **options)
    first = utils.timeseries_dataset_from_array(data, targets, shuffle=True, seed=3, **options)
    second = utils.timeseries_dataset_from_array(data, targets, shuffle=True, seed=3, **options)

    def pairs(dataset):
        return [(tuple(w), int(t)) for x, y in _all_batches(dataset) for w, t in zip(x, y)]

    assert pairs(first) == pairs(second)
    assert pairs(first) != pairs(plain) and sorted(pairs(first)) == sorted(pairs(plain))
    # Keras's shuffle of the starts: numpy.random.RandomState(seed).shuffle
    starts = np.arange(0, 48, 2)
    np.random.RandomState(3).shuffle(starts)
    np.testing.assert_array_equal(first.start_positions, starts)
    assert [t - 100 for _, t in pairs(first)] == starts.tolist()
    before = pairs(first)
    first.on_epoch_end()
    assert pairs(first) != before and sorted(pairs(first)) == sorted(before)
    plain.on_epoch_end()
    assert pairs(plain) == sorted(pairs(plain))


def test_timeseries_shuffle_without_seed_uses_course_libs_generator():
    options = dict(sequence_length=2, shuffle=True, batch_size=None)
    utils.set_random_seed(5)
    a = utils.timeseries_dataset_from_array(np.arange(30), None, **options)
    utils.set_random_seed(5)
    b = utils.timeseries_dataset_from_array(np.arange(30), None, **options)
    np.testing.assert_array_equal(a.start_positions, b.start_positions)


@pytest.mark.parametrize("options, error, message", [
    (dict(start_index=-1), ValueError, r"start_index must be 0 or greater\. Received: start_index=-1"),
    (dict(start_index=30), ValueError, r"start_index must be lower than the length of the data\. Received: "
                                       r"start_index=30, for data of length 30"),
    (dict(start_index=5, end_index=5), ValueError, "end_index must be higher than start_index"),
    (dict(end_index=30), ValueError, "end_index must be lower than the length of the data"),
    (dict(end_index=-2), ValueError, r"end_index must be higher than 0\. Received: end_index=-2"),
    (dict(sampling_rate=0), ValueError, r"sampling_rate must be higher than 0\. Received: sampling_rate=0"),
    (dict(sampling_rate=30), ValueError, "sampling_rate must be lower than the length of the data"),
    (dict(sequence_stride=0), ValueError, "sequence_stride must be higher than 0"),
    (dict(sequence_stride=31), ValueError, "sequence_stride must be lower than the length"),
    (dict(sequence_stride=1.5), TypeError, r"sequence_stride must be an int\. Received: sequence_stride=1\.5"),
    (dict(sequence_length=0), ValueError, r"sequence_length must be a positive int\. Received: sequence_length=0"),
    (dict(batch_size=0), ValueError, "batch_size must be None or a positive int"),
    (dict(format="torch"), ValueError, r"format must be 'tf' or 'grain'\. Received: format='torch'"),
    (dict(start_index=2.0), TypeError, "start_index must be None or an int"),
])
def test_timeseries_errors_name_the_function(options, error, message):
    arguments = dict(data=np.arange(30), targets=None, sequence_length=3)
    arguments.update(options)
    with pytest.raises(error, match="timeseries_dataset_from_array: " + message):
        utils.timeseries_dataset_from_array(**arguments)


def test_timeseries_refuses_targets_too_short_for_the_windows():
    with pytest.raises(ValueError, match=r"timeseries_dataset_from_array: targets is too short for the windows: "
                                         r"the window starting at step 19 has no target \(targets has 10 entries\)"):
        utils.timeseries_dataset_from_array(np.arange(30), np.arange(10), sequence_length=3, start_index=10)
    with pytest.raises(TypeError, match="timeseries_dataset_from_array: data must be an array"):
        utils.timeseries_dataset_from_array(5, None, sequence_length=3)
    with pytest.raises(IndexError, match=r"TimeseriesDataset: index must be an int from 0 to 0\. Received: 1"):
        utils.timeseries_dataset_from_array(np.arange(30), None, sequence_length=3)[1]


def test_fit_a_small_model_on_a_timeseries_dataset():
    # Predict the next value of a noisy sine from the 8 before it.
    steps = np.arange(400, dtype="float32")
    series = (np.sin(steps / 8) + 0.05 * np.random.default_rng(0).standard_normal(400)).astype("float32")
    train = utils.timeseries_dataset_from_array(series[:-8, None], series[8:], sequence_length=8, batch_size=32,
                                                shuffle=True, seed=0, end_index=300)
    test = utils.timeseries_dataset_from_array(series[:-8, None], series[8:], sequence_length=8, batch_size=32,
                                               start_index=300)
    model = cl.Sequential([cl.Input((8, 1)), cl.layers.Flatten(), cl.layers.Dense(16, activation="tanh"),
                           cl.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    before = model.evaluate(test, verbose=0)
    history = model.fit(train, epochs=15, verbose=0, validation_data=test)
    assert len(history.history["loss"]) == 15
    assert history.history["val_loss"][-1] < before / 5
    predictions = model.predict(test, verbose=0)
    assert predictions.shape == (sum(len(x) for x, _ in _all_batches(test)), 1)


def test_timeseries_on_the_strict_backend():
    with backend.backend_scope("strict"):
        dataset = utils.timeseries_dataset_from_array(np.arange(40.0).reshape(20, 2), np.arange(20), sequence_length=4,
                                                      sampling_rate=2, batch_size=5, shuffle=True, seed=1)
        x, y = dataset[0]
        dataset.on_epoch_end()
        x2, _ = dataset[1]
        windows, targets = backend.to_numpy(x), backend.to_numpy(y)
        assert backend.to_numpy(x2).shape == (5, 4, 2)
    np.testing.assert_array_equal(windows[:, 0, 0], targets * 2)
    np.testing.assert_array_equal(np.diff(windows[:, :, 0], axis=1), 4)


# ---------------------------------------------------------------- text_dataset_from_directory
@pytest.fixture
def texts(tmp_path):
    """Two classes of .txt files, a nested folder, a hidden folder and a file that is not .txt."""
    root = tmp_path / "texts"
    contents = {
        "neg/a.txt": "bad film", "neg/b.TXT": "awful", "neg/deep/c.txt": "not good at all",
        "pos/d.txt": "great", "pos/e.txt": "très bien", "pos/f.txt": "loved it", "pos/g.md": "skipped",
        ".hidden/h.txt": "skipped too",
    }
    for name, text in contents.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_text_dataset_reads_the_class_folders(texts, capsys):
    dataset = utils.text_dataset_from_directory(texts, shuffle=False, batch_size=4)
    assert capsys.readouterr().out == "Found 6 files belonging to 2 classes.\n"
    assert isinstance(dataset, TextFolderDataset) and dataset.class_names == ["neg", "pos"]
    assert [p.split("texts/")[1] for p in dataset.file_paths] == [
        "neg/a.txt", "neg/b.TXT", "neg/deep/c.txt", "pos/d.txt", "pos/e.txt", "pos/f.txt"]
    x, y = dataset[0]
    assert x.dtype == object and x.tolist() == ["bad film", "awful", "not good at all", "great"]
    assert y.dtype == np.int32 and y.tolist() == [0, 0, 0, 1]
    assert dataset[1][0].tolist() == ["très bien", "loved it"] and len(dataset) == 2


@pytest.mark.parametrize("label_mode, expected", [
    ("categorical", np.array([[1, 0], [1, 0], [1, 0], [0, 1], [0, 1], [0, 1]], "float32")),
    ("binary", np.array([[0], [0], [0], [1], [1], [1]], "float32")),
])
def test_text_dataset_label_modes(texts, label_mode, expected):
    dataset = utils.text_dataset_from_directory(texts, label_mode=label_mode, shuffle=False, batch_size=6, verbose=False)
    labels = dataset[0][1]
    assert labels.dtype == np.float32
    np.testing.assert_array_equal(labels, expected)


def test_text_dataset_without_labels_and_without_batches(texts, capsys):
    dataset = utils.text_dataset_from_directory(texts, labels=None, shuffle=False, batch_size=None)
    assert capsys.readouterr().out == "Found 7 files.\n"  # without labels the walk starts at the top, hidden folders too
    assert dataset.class_names is None and len(dataset) == 7 and dataset[0] == "skipped too" and dataset[5] == "très bien"
    named = utils.text_dataset_from_directory(texts, class_names=["pos"], shuffle=False, verbose=False)
    assert named[0][0].tolist() == ["great", "très bien", "loved it"] and named[0][1].tolist() == [0, 0, 0]
    explicit = utils.text_dataset_from_directory(texts, labels=[1, 0, 1, 0, 1, 0, 1], shuffle=False, verbose=False)
    assert explicit.class_names == ["0", "1"] and explicit[0][1].tolist() == [1, 0, 1, 0, 1, 0, 1]


def test_text_dataset_max_length_cuts_bytes_and_drops_a_cut_character(texts):
    dataset = utils.text_dataset_from_directory(texts, max_length=5, shuffle=False, batch_size=None, verbose=False)
    assert dataset[2][0] == "not g"
    assert dataset[4][0] == "très"  # 5 bytes: t, r, è (2 bytes), s
    cut = utils.text_dataset_from_directory(texts, max_length=3, shuffle=False, batch_size=None, verbose=False)
    assert cut[4][0] == "tr"  # the third byte is half of the è: left out


def test_text_dataset_shuffle_and_validation_split(texts, capsys):
    options = dict(shuffle=True, seed=4, validation_split=0.34, batch_size=2)
    train = utils.text_dataset_from_directory(texts, subset="training", **options)
    validation = utils.text_dataset_from_directory(texts, subset="validation", **options)
    both = utils.text_dataset_from_directory(texts, subset="both", **options)
    printed = capsys.readouterr().out.splitlines()
    assert printed[:2] == ["Found 6 files belonging to 2 classes.", "Using 4 files for training."]
    assert printed[3] == "Using 2 files for validation."
    assert both[0].file_paths == train.file_paths and both[1].file_paths == validation.file_paths
    assert not set(train.file_paths) & set(validation.file_paths)
    everything = utils.text_dataset_from_directory(texts, shuffle=True, seed=4, verbose=False)
    assert everything.file_paths == train.file_paths + validation.file_paths
    sorted_paths = utils.text_dataset_from_directory(texts, shuffle=False, verbose=False).file_paths
    order = list(sorted_paths)
    np.random.RandomState(4).shuffle(order)  # Keras's shuffle of the listing
    assert everything.file_paths == order
    assert not both[1].shuffle and both[0].shuffle


@pytest.mark.parametrize("options, message", [
    ({"labels": "folders"}, "labels must be 'inferred'"),
    ({"labels": [0, 1], "class_names": ["a"]}, "class_names may only be given with labels='inferred'"),
    ({"label_mode": "sparse"}, "label_mode must be 'int', 'categorical', 'binary' or None"),
    ({"format": "torch"}, "format must be 'tf' or 'grain'"),
    ({"batch_size": 0}, "batch_size must be None or a positive int"),
    ({"max_length": -1}, "max_length must be None or an int >= 0"),
    ({"validation_split": 0.2}, "validation_split and subset go together"),
    ({"validation_split": 1.5, "subset": "training", "seed": 1}, "validation_split must be between 0 and 1"),
    ({"validation_split": 0.2, "subset": "training"}, "with validation_split and shuffle=True pass a seed"),
    ({"subset": "test", "validation_split": 0.2, "seed": 1}, "subset must be 'training', 'validation' or 'both'"),
    ({"class_names": ["neg", "other"]}, "class_names must name sub-folders"),
    ({"labels": [0, 1]}, r"labels must have one entry per text file\. Received: 2 labels for 7 texts"),
    ({"label_mode": "binary", "class_names": ["neg"]}, "label_mode='binary' needs exactly 2 classes"),
])
def test_text_dataset_errors_name_the_function(texts, options, message):
    with pytest.raises(ValueError, match="text_dataset_from_directory: " + message):
        utils.text_dataset_from_directory(texts, verbose=False, **options)


def test_text_dataset_refuses_a_missing_or_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="text_dataset_from_directory: directory must be an existing folder"):
        utils.text_dataset_from_directory(tmp_path / "missing")
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match=r"text_dataset_from_directory: no text files in .*Allowed format: \.txt"):
        utils.text_dataset_from_directory(tmp_path, verbose=False)


def test_image_dataset_listing_is_unchanged_by_the_sharing(tmp_path):
    from PIL import Image

    for name in ("a/1.png", "a/2.png", "b/3.png", "b/notes.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        if name.endswith(".png"):
            Image.fromarray(np.zeros((4, 4, 3), "uint8")).save(tmp_path / name)
        else:
            (tmp_path / name).write_text("not an image")
    dataset = utils.image_dataset_from_directory(tmp_path, image_size=(4, 4), shuffle=False, verbose=False)
    assert [p.rsplit("/", 2)[1] + "/" + p.rsplit("/", 1)[1] for p in dataset.file_paths] == ["a/1.png", "a/2.png",
                                                                                          "b/3.png"]
    with pytest.raises(ValueError, match=r"image_dataset_from_directory: labels must have one entry per image file\. "
                                         r"Received: 2 labels for 3 images"):
        utils.image_dataset_from_directory(tmp_path, labels=[0, 1], verbose=False)


def test_fit_on_a_text_dataset(texts):
    dataset = utils.text_dataset_from_directory(texts, label_mode="binary", batch_size=3, seed=0, verbose=False)
    vectorize = cl.layers.TextVectorization(max_tokens=20, output_mode="multi_hot")
    vectorize.adapt(np.concatenate([dataset[i][0] for i in range(len(dataset))]))
    features = [(vectorize(x), y) for x, y in (dataset[i] for i in range(len(dataset)))]
    model = cl.Sequential([cl.Input((vectorize.vocabulary_size(),)), cl.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(np.concatenate([f for f, _ in features]), np.concatenate([y for _, y in features]),
                        epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3


# ---------------------------------------------------------------- split_dataset
def test_split_dataset_sizes():
    data = np.arange(10)
    left, right = utils.split_dataset(data, left_size=0.25)
    np.testing.assert_array_equal(left, [0, 1])  # round(2.5) == 2: half to even, as Keras
    np.testing.assert_array_equal(right, np.arange(2, 10))
    left, right = utils.split_dataset(data, right_size=3)
    np.testing.assert_array_equal(left, np.arange(7))
    np.testing.assert_array_equal(right, [7, 8, 9])
    left, right = utils.split_dataset(data, left_size=2, right_size=0.3)  # the middle samples are dropped
    np.testing.assert_array_equal(left, [0, 1])
    np.testing.assert_array_equal(right, [7, 8, 9])


def test_split_dataset_of_tuples_lists_and_a_shuffle():
    x, y = np.arange(20).reshape(10, 2).astype("float32"), np.arange(10)
    (lx, ly), (rx, ry) = utils.split_dataset((x, y), left_size=0.6, shuffle=True, seed=7)
    order = list(range(10))
    import random

    random.Random(7).shuffle(order)  # Keras: random.seed(seed); random.shuffle(samples)
    np.testing.assert_array_equal(ly, order[:6])
    np.testing.assert_array_equal(ry, order[6:])
    np.testing.assert_array_equal(lx, x[order[:6]])
    assert lx.dtype == np.float32
    parts = utils.split_dataset([x, y], right_size=0.5)
    assert all(isinstance(part, tuple) and len(part) == 2 for part in parts)
    again = utils.split_dataset((x, y), left_size=0.6, shuffle=True, seed=7)
    np.testing.assert_array_equal(again[0][1], ly)


def test_split_dataset_of_a_py_dataset():
    class Batches(utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, index):
            x = np.arange(index * 3, index * 3 + 3, dtype="float32")[:, None]
            return x if index < 0 else (x, x[:, 0] * 2)

    left, right = utils.split_dataset(Batches(), left_size=8)
    assert isinstance(left, utils.PyDataset) and len(left) == 3 and len(right) == 2
    np.testing.assert_array_equal(left[2][0][:, 0], [6, 7])
    np.testing.assert_array_equal(right[1][1], [22])
    model = cl.Sequential([cl.Input((1,)), cl.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    assert len(model.fit(left, epochs=2, verbose=0).history["loss"]) == 2


@pytest.mark.parametrize("options, error, message", [
    ({}, ValueError, "pass at least one of left_size and right_size"),
    ({"left_size": 0, "right_size": 0}, ValueError, "left_size and right_size are both zero"),
    ({"left_size": 10}, ValueError, r"left_size must be a positive int smaller than 10"),
    ({"left_size": 1.0}, ValueError, r"left_size must be a positive int smaller than 10 .* Received: left_size=1\.0"),
    ({"right_size": -1}, ValueError, "right_size must be a positive int"),
    ({"left_size": 0.6, "right_size": 0.5}, ValueError, "left_size \\+ right_size must be at most 1"),
    ({"left_size": 6, "right_size": 5}, ValueError, r"left_size \+ right_size must be at most the number of samples"),
    ({"left_size": 0.01}, ValueError, "with 10 samples, left_size=0 and right_size=10, the left side would be empty"),
    ({"left_size": "5"}, TypeError, "left_size must be an int, a float or None"),
    ({"right_size": np.int64(3)}, TypeError, "right_size must be an int, a float or None"),
    ({"left_size": True}, TypeError, "left_size must be an int, a float or None"),
])
def test_split_dataset_size_errors(options, error, message):
    with pytest.raises(error, match="split_dataset: " + message):
        utils.split_dataset(np.arange(10), **options)


def test_split_dataset_dataset_errors():
    with pytest.raises(TypeError, match="split_dataset: dataset must be a NumPy array, a list or tuple"):
        utils.split_dataset({"x": np.arange(3)}, left_size=1)
    with pytest.raises(ValueError, match="split_dataset: received an empty tuple"):
        utils.split_dataset((), left_size=1)
    with pytest.raises(ValueError, match=r"split_dataset: expected a list of arrays\. Received: int at index 1"):
        utils.split_dataset([np.arange(3), 4], left_size=1)
    with pytest.raises(ValueError, match="split_dataset: received a tuple of arrays with different lengths"):
        utils.split_dataset((np.arange(3), np.arange(4)), left_size=1)
    with pytest.raises(ValueError, match="split_dataset: received an empty dataset"):
        utils.split_dataset(np.zeros((0, 2)), left_size=0.5)


# ---------------------------------------------------------------- Progbar
def _metric_texts(text):
    return re.findall(r" - (\w+): (\S+)", text)


def test_progbar_averages_values_unless_stateful(capsys):
    bar = Progbar(4, verbose=1, interval=0, stateful_metrics=["acc"])
    bar._dynamic_display = True
    bar.update(1, [("loss", 1.0), ("acc", 0.5)])
    bar.update(3, [("loss", 2.0), ("acc", 0.7)])  # loss weighted by the 2 steps: (1 + 2*2) / 3
    out = capsys.readouterr().out
    assert _metric_texts(out.split("\r")[-1]) == [("loss", "1.6667"), ("acc", "0.7000")]
    bar.add(1, [("loss", 9.0)])  # the last update shows the value it is given
    out = capsys.readouterr().out
    assert out.endswith("\n") and _metric_texts(out) == [("loss", "9.0000"), ("acc", "0.7000")]
    assert bar._seen_so_far == 4


def test_progbar_stateless_metrics_and_the_argument_check(capsys):
    bar = Progbar(None, verbose=1, interval=0, stateless_metrics={"loss"})
    bar._dynamic_display = True
    bar.update(2, [("loss", 4.0), ("lr", 0.1)])
    bar.update(4, [("loss", 2.0), ("lr", 0.2)])
    text = capsys.readouterr().out.split("\r")[-1]
    assert text.startswith("4 ") and _metric_texts(text) == [("loss", "3.0000"), ("lr", "0.2000")]
    with pytest.raises(ValueError, match="Progbar: pass only one of stateful_metrics .* and stateless_metrics"):
        Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])


def test_progbar_verbose_2_and_0(capsys):
    bar = Progbar(3, verbose=2, unit_name="sample")
    for step in (1, 2, 3):
        bar.update(step, [("loss", 0.5 * step), ("tiny", 1e-5)])
    line = capsys.readouterr().out
    assert re.fullmatch(r"3/3 - \d+s - \d+(?:ms|us)/sample - loss: 1\.5000 - tiny: 1\.0000e-05\n", line), line
    silent = Progbar(3, verbose=0)
    silent.add(3, [("loss", 1.0)])
    assert capsys.readouterr().out == ""


def test_progbar_interval_throttles_redraws(capsys):
    bar = Progbar(100, verbose=1, interval=3600)
    bar._dynamic_display = True
    for step in range(1, 100):
        bar.update(step)
    assert capsys.readouterr().out.count("\r") == 1  # the first update only
    bar.update(100)
    out = capsys.readouterr().out
    assert re.fullmatch(r"\r100/100 ━{20} \d+s \d+(?:ms|us)/step *\n", out), out


def test_progbar_outside_a_terminal_prints_the_final_line_only(capsys):
    bar = Progbar(2, verbose=1)
    assert not bar._dynamic_display  # pytest captures stdout
    bar.update(1, [("loss", 1.0)])
    assert capsys.readouterr().out == ""
    bar.update(2, [("loss", 0.25)])
    assert re.fullmatch(r"2/2 ━{20} \d+s \d+(?:ms|us)/step - loss: 0\.2500\n", capsys.readouterr().out)


def test_fit_progress_lines_are_unchanged(capsys):
    x = np.random.default_rng(0).standard_normal((40, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = cl.Sequential([cl.Input((3,)), cl.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, validation_split=0.2, verbose=1)
    model.fit(x, y, epochs=1, batch_size=16, verbose=2)
    model.evaluate(x, y, batch_size=20, verbose=1)
    model.predict(x, batch_size=20, verbose=1)
    out = capsys.readouterr().out.splitlines()
    bar = r"2/2 ━{20} \d+s \d+(?:ms|us)/step - accuracy: \d\.\d{4} - loss: \d+\.\d{4}"
    assert out[0] == "Epoch 1/2" and re.fullmatch(bar + r" - val_accuracy: \d\.\d{4} - val_loss: \d+\.\d{4}", out[1])
    assert re.fullmatch(r"3/3 - \d+s - \d+(?:ms|us)/step - accuracy: \d\.\d{4} - loss: \d+\.\d{4}", out[5]), out
    assert re.fullmatch(bar, out[6]) and re.fullmatch(r"2/2 ━{20} \d+s \d+(?:ms|us)/step", out[7]), out


def test_progbar_is_exported():
    assert utils.Progbar is Progbar and "Progbar" in utils.__all__


# ---------------------------------------------------------------- normalize
def test_normalize_values():
    x = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, -2.0, 2.0]], dtype="float32")
    out = utils.normalize(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, [[0.6, 0.8, 0], [0, 0, 0], [1 / 3, -2 / 3, 2 / 3]], rtol=1e-6)
    np.testing.assert_allclose(utils.normalize(x, order=1)[2], [0.2, -0.4, 0.4], rtol=1e-6)
    np.testing.assert_allclose(utils.normalize(x, order=np.inf)[2], [0.5, -1, 1], rtol=1e-6)
    np.testing.assert_allclose(utils.normalize(x, axis=0), utils.normalize(x.T).T, rtol=1e-6)
    np.testing.assert_allclose(utils.normalize(x, axis=0)[:, 0], [3 / np.sqrt(10), 0, 1 / np.sqrt(10)], rtol=1e-6)
    np.testing.assert_allclose(utils.normalize([3, 4]), [0.6, 0.8])  # a vector keeps its shape
    assert utils.normalize(np.arange(4).reshape(2, 2)).dtype == np.float64
    cube = np.random.default_rng(1).standard_normal((2, 3, 4))
    np.testing.assert_allclose(np.linalg.norm(utils.normalize(cube, axis=1), axis=1), 1)


def test_normalize_errors():
    with pytest.raises(TypeError, match="normalize: axis must be an int"):
        utils.normalize(np.ones((2, 2)), axis=None)
    with pytest.raises(ValueError, match=r"normalize: axis 2 is out of range for an array of shape \(2, 2\)"):
        utils.normalize(np.ones((2, 2)), axis=2)
    with pytest.raises(ValueError, match="normalize: expected an array with at least one axis"):
        utils.normalize(np.float32(3))
    with pytest.raises(TypeError, match="normalize: expected a numeric array"):
        utils.normalize(np.array(["a", "b"]))


# ---------------------------------------------------------------- pack / unpack, graph helpers, clear_session
def test_pack_and_unpack_x_y_sample_weight():
    x, y, w = np.ones(2), np.zeros(2), np.arange(2)
    assert utils.pack_x_y_sample_weight(x) is x
    assert utils.pack_x_y_sample_weight([x, x]) == ([x, x],)
    assert utils.pack_x_y_sample_weight(x, y) == (x, y)
    packed = utils.pack_x_y_sample_weight(x, y, w)
    assert len(packed) == 3 and packed[2] is w
    assert utils.pack_x_y_sample_weight(x, None, w) is x
    assert utils.unpack_x_y_sample_weight(x) == (x, None, None)
    assert utils.unpack_x_y_sample_weight((x,)) == (x, None, None)
    assert utils.unpack_x_y_sample_weight([x, y]) == (x, y, None)
    assert utils.unpack_x_y_sample_weight((x, y, w))[2] is w
    with pytest.raises(ValueError, match=r"unpack_x_y_sample_weight: data is expected to be x, \(x,\), .*4 items"):
        utils.unpack_x_y_sample_weight((x, y, w, w))


def test_is_keras_tensor():
    tensor = cl.Input((3,))
    assert utils.is_keras_tensor(tensor) and utils.is_keras_tensor(cl.layers.Dense(2)(tensor))
    assert not utils.is_keras_tensor(np.ones(3)) and not utils.is_keras_tensor(cl.layers.Dense(2))


def test_get_source_inputs_walks_the_graph():
    a, b, c = cl.Input((3,), name="a"), cl.Input((3,), name="b"), cl.Input((3,), name="c")
    shared = cl.layers.Dense(3)
    left = cl.layers.Add()([shared(c), shared(a)])
    right = cl.layers.Multiply()([left, b, a])
    assert utils.get_source_inputs(a) == [a]
    assert utils.get_source_inputs(left) == [c, a]
    sources = utils.get_source_inputs(right)
    assert len(sources) == 3 and all(s is t for s, t in zip(sources, [c, a, b]))
    inner = cl.Model([a, b], cl.layers.Concatenate()([a, b]))
    d, e = cl.Input((3,), name="d"), cl.Input((3,), name="e")
    nested = cl.layers.Dense(1)(inner([e, d]))
    assert utils.get_source_inputs(nested) == [e, d]
    array = np.ones(3)
    assert utils.get_source_inputs(array) is array


def test_clear_session_resets_the_automatic_names():
    cl.layers.Dense(2)
    assert cl.layers.Dense(2).name == "dense_1"
    utils.clear_session()
    assert cl.layers.Dense(2).name == "dense"
    utils.clear_session(free_memory=False)
    assert cl.layers.Dense(2).name == "dense"


@pytest.mark.parity
def test_standardize_dtype_names_dtypes_as_keras_does():
    keras = pytest.importorskip("tensorflow").keras
    for dtype in [None, "float32", "bfloat16", np.float64, np.dtype("int8"), np.uint16, int, float, bool, str, complex,
                  "int", "string"]:
        assert cl.utils.standardize_dtype(dtype) == keras.utils.standardize_dtype(dtype), dtype
    with backend.floatx_scope("float64"):
        assert cl.utils.standardize_dtype(None) == "float64"
    for bad in ("foo", "float", np.dtype("U3")):
        with pytest.raises(ValueError, match="Invalid dtype"):
            keras.utils.standardize_dtype(bad)
        with pytest.raises(ValueError, match="Invalid dtype"):
            cl.utils.standardize_dtype(bad)
    with pytest.raises(TypeError):
        keras.utils.standardize_dtype([1])
    with pytest.raises(TypeError, match="standardize_dtype: a dtype is a name"):
        cl.utils.standardize_dtype([1])
