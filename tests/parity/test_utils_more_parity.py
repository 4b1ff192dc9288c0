"""keras.utils functions through tf.keras and course_lib, on the same inputs in the same test.

- ``timeseries_dataset_from_array``: every batch (windows, targets, shapes,
  dtypes) for several lengths, strides, sampling rates, start and end
  indices, exactly; with ``shuffle=True`` the set of (window, target) pairs
  (TensorFlow reshuffles through a buffer on its own random stream);
- ``text_dataset_from_directory`` on a folder tree made in tmp_path: printed
  lines, ``class_names``, every batch without shuffling, the texts of each
  subset with shuffling, ``max_length`` cuts;
- ``split_dataset``: the same samples in the same order (also shuffled: both
  use Python's ``random`` seeded with ``seed``), the same errors;
- ``normalize``: the values (float32, rtol 1e-6; the same NumPy formula);
- ``get_source_inputs`` of the same functional model built in both libraries;
- ``pack_x_y_sample_weight`` / ``unpack_x_y_sample_weight``;
- ``Progbar``: the averaged and stateful values shown after each update, and
  the ``verbose=2`` line but for its time figures;
- a whole ``fit`` on a timeseries dataset from the same weights.

Tolerances: the datasets are exact (integers and copies of the same floats);
normalize rtol=1e-6; the fit within RTOL/ATOL = 1e-5/1e-6 (float32 rounding
over 3 epochs; measured 6.0e-8 on the History, 1.5e-8 on the weights).
"""
import re

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6


def _theirs(dataset):
    return [tuple(np.asarray(part) for part in batch) if isinstance(batch, tuple) else (np.asarray(batch),)
            for batch in dataset]


def _ours(dataset):
    return [batch if isinstance(batch, tuple) else (batch,) for batch in (dataset[i] for i in range(len(dataset)))]


# ---------------------------------------------------------------- timeseries_dataset_from_array
@pytest.mark.parametrize("options", [
    dict(sequence_length=10),
    dict(sequence_length=10, sampling_rate=2, sequence_stride=3, batch_size=7),
    dict(sequence_length=5, start_index=10, end_index=80, batch_size=16),
    dict(sequence_length=4, sampling_rate=3, batch_size=None),
    dict(sequence_length=6, sequence_stride=5, sampling_rate=4, start_index=3, batch_size=4),
    dict(sequence_length=3, end_index=20, sequence_stride=2, batch_size=3),
    dict(sequence_length=30, sampling_rate=4, batch_size=2),  # longer than the series: no window
])
@pytest.mark.parametrize("with_targets", [True, False])
def test_timeseries_batches_match_keras(options, with_targets):
    data = np.random.default_rng(0).standard_normal((100, 3)).astype("float32")
    targets = np.arange(100, 200) if with_targets else None
    expected = _theirs(keras.utils.timeseries_dataset_from_array(data, targets, **options))
    received = _ours(cl.utils.timeseries_dataset_from_array(data, targets, **options))
    assert len(received) == len(expected)
    for their_batch, our_batch in zip(expected, received):
        assert len(our_batch) == len(their_batch)
        for a, b in zip(their_batch, our_batch):
            assert b.shape == a.shape and b.dtype == a.dtype
            np.testing.assert_array_equal(b, a)


def test_timeseries_of_a_float64_vector_with_short_targets_matches_keras():
    data = np.linspace(0, 1, 50)
    targets = np.arange(30, dtype="float32")  # fewer targets than windows: Keras keeps len(targets) windows
    expected = _theirs(keras.utils.timeseries_dataset_from_array(data, targets, sequence_length=5, batch_size=8))
    received = _ours(cl.utils.timeseries_dataset_from_array(data, targets, sequence_length=5, batch_size=8))
    assert [tuple(p.shape for p in b) for b in received] == [tuple(p.shape for p in b) for b in expected]
    for (a, b), (c, d) in zip(expected, received):
        assert c.dtype == a.dtype and d.dtype == b.dtype
        np.testing.assert_array_equal(c, a)
        np.testing.assert_array_equal(d, b)


@pytest.mark.parametrize("batch_size", [4, None])
def test_timeseries_shuffle_gives_keras_set_of_windows(batch_size):
    data = np.arange(120, dtype="int64").reshape(60, 2)
    targets = np.arange(60) * 10
    options = dict(sequence_length=5, sequence_stride=2, sampling_rate=2, shuffle=True, seed=11,
                   batch_size=batch_size)
    theirs = keras.utils.timeseries_dataset_from_array(data, targets, **options)
    ours = cl.utils.timeseries_dataset_from_array(data, targets, **options)

    def pairs(batches):
        if batch_size is None:
            return sorted((a.tobytes(), int(b)) for a, b in batches)
        return sorted((w.tobytes(), int(t)) for a, b in batches for w, t in zip(a, b))

    for _ in range(2):  # both reshuffle every epoch; the windows stay the same
        assert pairs(_ours(ours)) == pairs(_theirs(theirs))
        ours.on_epoch_end()
    if batch_size is not None:
        assert [len(b[0]) for b in _ours(ours)] == [len(b[0]) for b in _theirs(theirs)]


@pytest.mark.parametrize("options", [
    dict(start_index=-1), dict(start_index=30), dict(start_index=5, end_index=4), dict(end_index=30),
    dict(end_index=-3), dict(sampling_rate=0), dict(sampling_rate=30), dict(sequence_stride=-1),
    dict(sequence_stride=30), dict(format="numpy"),
])
def test_timeseries_refuses_what_keras_refuses(options):
    arguments = dict(data=np.arange(30), targets=None, sequence_length=3, **options)
    with pytest.raises(ValueError) as theirs:
        keras.utils.timeseries_dataset_from_array(**arguments)
    with pytest.raises(ValueError, match="timeseries_dataset_from_array: ") as ours:
        cl.utils.timeseries_dataset_from_array(**arguments)
    # The same complaint: the argument Keras names (in backquotes) is named here too.
    named = re.search(r"`(\w+)`", str(theirs.value)).group(1)
    assert named in str(ours.value)


def test_fit_on_a_timeseries_dataset_matches_keras():
    steps = np.arange(200, dtype="float32")
    series = np.stack([np.sin(steps / 6), np.cos(steps / 9)], axis=1).astype("float32")
    options = dict(sequence_length=6, sampling_rate=2, sequence_stride=2, batch_size=16)
    their_data = keras.utils.timeseries_dataset_from_array(series[:-12], series[12:, 0], **options)
    our_data = cl.utils.timeseries_dataset_from_array(series[:-12], series[12:, 0], **options)
    keras_model = keras.Sequential([keras.Input((6, 2)), keras.layers.SimpleRNN(5), keras.layers.Dense(1)])
    ours = cl.testing.from_keras(keras_model)
    keras_model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    ours.compile(optimizer="adam", loss="mse", metrics=["mae"])
    expected = keras_model.fit(their_data, epochs=3, shuffle=False, verbose=0).history
    received = ours.fit(our_data, epochs=3, shuffle=False, verbose=0).history
    assert sorted(received) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(received[key], expected[key], rtol=RTOL, atol=ATOL, err_msg=key)
    for a, b in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------- text_dataset_from_directory
@pytest.fixture
def texts(tmp_path):
    root = tmp_path / "reviews"
    contents = {
        "neg/a.txt": "bad film", "neg/b.TXT": "awful, really", "neg/deep/c.txt": "not good at all",
        "neg/deep/d.txt": "meh", "pos/e.txt": "great", "pos/f.txt": "très bien, ça", "pos/g.txt": "loved it",
        "pos/h.md": "skipped", "zzz/i.txt": "third class", ".hidden/j.txt": "hidden",
    }
    for name, text in contents.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def _decoded(batches):
    return [tuple(np.array([t.decode("utf-8", errors="ignore") for t in part], dtype=object)
                  if part.dtype == object else part for part in batch) for batch in batches]


def _same_batches(theirs, ours):
    expected, received = _decoded(_theirs(theirs)), _ours(ours)
    assert len(received) == len(expected)
    for their_batch, our_batch in zip(expected, received):
        for a, b in zip(their_batch, our_batch):
            assert b.shape == a.shape and b.dtype == a.dtype
            assert b.tolist() == a.tolist()


@pytest.mark.parametrize("options", [
    {},
    {"label_mode": "categorical", "batch_size": 3},
    {"label_mode": "binary", "class_names": ["pos", "neg"], "batch_size": 2},
    {"labels": None, "batch_size": 4},
    {"label_mode": None, "max_length": 6},
    {"max_length": 3, "batch_size": 5},
    {"labels": [2, 0, 1, 1, 0, 2, 2, 0, 1], "label_mode": "categorical"},
])
def test_text_dataset_batches_match_keras(texts, options, capsys):
    theirs = keras.utils.text_dataset_from_directory(str(texts), shuffle=False, **options)
    printed = capsys.readouterr().out
    ours = cl.utils.text_dataset_from_directory(str(texts), shuffle=False, **options)
    assert capsys.readouterr().out == printed
    assert ours.class_names == theirs.class_names
    _same_batches(theirs, ours)


def test_text_dataset_unbatched_matches_keras(texts):
    theirs = [(t.numpy().decode(), int(y)) for t, y in
              keras.utils.text_dataset_from_directory(str(texts), shuffle=False, batch_size=None, verbose=False)]
    ours = cl.utils.text_dataset_from_directory(str(texts), shuffle=False, batch_size=None, verbose=False)
    assert [(t, int(y)) for t, y in (ours[i] for i in range(len(ours)))] == theirs


def test_text_dataset_shuffled_subsets_hold_keras_texts(texts, capsys):
    options = dict(seed=5, validation_split=0.3, batch_size=3, label_mode="int")
    their_train, their_val = keras.utils.text_dataset_from_directory(str(texts), subset="both", **options)
    printed = capsys.readouterr().out
    our_train, our_val = cl.utils.text_dataset_from_directory(str(texts), subset="both", **options)
    assert capsys.readouterr().out == printed
    for theirs, ours, ordered in ((their_train, our_train, False), (their_val, our_val, True)):
        expected = [(t, int(y)) for x, labels in _decoded(_theirs(theirs)) for t, y in zip(x, labels)]
        received = [(t, int(y)) for x, labels in _ours(ours) for t, y in zip(x, labels)]
        # Keras's validation subset is not reshuffled: the same order; the training one only the same texts.
        assert received == expected if ordered else sorted(received) == sorted(expected)
    # Alone, the validation subset is shuffled (shuffle=True) by both: the same texts.
    single = keras.utils.text_dataset_from_directory(str(texts), subset="validation", verbose=False, **options)
    ours = cl.utils.text_dataset_from_directory(str(texts), subset="validation", verbose=False, **options)
    expected = sorted((t, int(y)) for x, labels in _decoded(_theirs(single)) for t, y in zip(x, labels))
    assert sorted((t, int(y)) for x, labels in _ours(ours) for t, y in zip(x, labels)) == expected
    unshuffled = dict(options, shuffle=False)
    _same_batches(keras.utils.text_dataset_from_directory(str(texts), subset="validation", verbose=False, **unshuffled),
                  cl.utils.text_dataset_from_directory(str(texts), subset="validation", verbose=False, **unshuffled))


@pytest.mark.parametrize("options", [
    {"labels": "folders"}, {"labels": [0, 1], "class_names": ["neg"]}, {"label_mode": "sparse"},
    {"validation_split": 0.2}, {"validation_split": 1.2, "subset": "training", "seed": 1},
    {"validation_split": 0.2, "subset": "training"}, {"subset": "all", "validation_split": 0.2, "seed": 1},
    {"class_names": ["neg", "nope"]}, {"labels": [0, 1]}, {"label_mode": "binary"}, {"format": "numpy"},
])
def test_text_dataset_refuses_what_keras_refuses(texts, options):
    with pytest.raises(ValueError):
        keras.utils.text_dataset_from_directory(str(texts), verbose=False, **options)
    with pytest.raises(ValueError, match="text_dataset_from_directory: "):
        cl.utils.text_dataset_from_directory(str(texts), verbose=False, **options)


# ---------------------------------------------------------------- split_dataset
def _their_split(dataset, **options):
    left, right = keras.utils.split_dataset(dataset, **options)
    return [[tuple(np.asarray(p) for p in item) if isinstance(item, tuple) else np.asarray(item) for item in side]
            for side in (left, right)]


@pytest.mark.parametrize("options", [
    dict(left_size=0.25), dict(right_size=3), dict(left_size=2, right_size=0.3), dict(left_size=0.35),
    dict(left_size=0.5, right_size=0.25), dict(left_size=7, shuffle=True, seed=3),
    dict(right_size=0.45, shuffle=True, seed=123),
])
def test_split_dataset_of_an_array_matches_keras(options):
    data = np.arange(30, dtype="float32").reshape(10, 3)
    theirs = _their_split(data, **options)
    ours = cl.utils.split_dataset(data, **options)
    for their_side, our_side in zip(theirs, ours):
        assert our_side.dtype == data.dtype
        np.testing.assert_array_equal(our_side, np.stack(their_side))


@pytest.mark.parametrize("kind", [tuple, list])
def test_split_dataset_of_arrays_matches_keras(kind):
    x = np.random.default_rng(0).standard_normal((13, 2)).astype("float32")
    y = np.arange(13)
    options = dict(left_size=0.6, shuffle=True, seed=42)
    theirs = _their_split(kind([x, y]), **options)
    ours = cl.utils.split_dataset(kind([x, y]), **options)
    for their_side, our_side in zip(theirs, ours):
        assert isinstance(our_side, tuple) and len(our_side) == 2
        np.testing.assert_array_equal(our_side[0], np.stack([sample[0] for sample in their_side]))
        np.testing.assert_array_equal(our_side[1], np.array([sample[1] for sample in their_side]))


@pytest.mark.parametrize("options", [
    dict(), dict(left_size=0, right_size=0), dict(left_size=10), dict(left_size=1.0), dict(right_size=-2),
    dict(left_size=0.7, right_size=0.4), dict(left_size=6, right_size=5), dict(left_size=0.01),
    dict(left_size="3"), dict(right_size=np.int64(2)), dict(left_size=True),
])
def test_split_dataset_refuses_what_keras_refuses(options):
    data = np.arange(10)
    with pytest.raises((ValueError, TypeError)) as theirs:
        keras.utils.split_dataset(data, **options)
    with pytest.raises(theirs.type, match="split_dataset: "):
        cl.utils.split_dataset(data, **options)


# ---------------------------------------------------------------- normalize
@pytest.mark.parametrize("shape, axis, order", [
    ((4, 5), -1, 2), ((4, 5), 1, 1), ((3, 4, 5), 1, 2), ((3, 4, 5), -1, 3), ((2, 3, 4), 2, np.inf), ((6, 2), -1, 1),
])
def test_normalize_matches_keras(shape, axis, order):
    x = np.random.default_rng(1).standard_normal(shape).astype("float32")
    x[0] = 0  # a zero norm divides by 1
    expected = keras.utils.normalize(x, axis=axis, order=order)
    received = cl.utils.normalize(x, axis=axis, order=order)
    assert received.dtype == expected.dtype and received.shape == expected.shape
    np.testing.assert_allclose(received, expected, rtol=1e-6, atol=0)


def test_normalize_where_keras_changes_the_shape():
    vector = np.array([3.0, -4.0, 12.0])
    expected = keras.utils.normalize(vector)  # Keras: shape (1, 3) for a vector
    np.testing.assert_allclose(cl.utils.normalize(vector), expected[0], rtol=1e-12)
    x = np.random.default_rng(2).standard_normal((3, 4))
    # Keras's axis=0 expands the norm on the last axis (a broadcasting error here); along axis 0, the transpose's values
    np.testing.assert_allclose(cl.utils.normalize(x, axis=0), keras.utils.normalize(x.T, axis=-1).T, rtol=1e-12)


# ---------------------------------------------------------------- graph helpers
def _graph(library):
    a, b, c = (library.Input((4,), name=name) for name in ("a", "b", "c"))
    shared = library.layers.Dense(4, name="shared")
    left = library.layers.Add(name="add")([shared(c), shared(a)])
    out = library.layers.Multiply(name="mul")([left, b, a])
    inner = library.Model([a, b], library.layers.Concatenate(name="cat")([a, b]), name="inner")
    d, e = library.Input((4,), name="d"), library.Input((4,), name="e")
    nested = library.layers.Dense(1, name="head")(inner([e, d]))
    return {"a": a, "left": left, "out": out, "nested": nested}


def test_get_source_inputs_matches_keras():
    theirs, ours = _graph(keras), _graph(cl)
    for key in theirs:
        expected = [tensor.name for tensor in keras.utils.get_source_inputs(theirs[key])]
        received = [tensor.name for tensor in cl.utils.get_source_inputs(ours[key])]
        assert received == expected, key
    assert cl.utils.is_keras_tensor(ours["out"]) and keras.utils.is_keras_tensor(theirs["out"])
    array = np.ones(2)
    assert cl.utils.get_source_inputs(array) is array and keras.utils.get_source_inputs(array) is array


def test_pack_and_unpack_match_keras():
    x, y, w = np.ones(2), np.zeros(2), np.arange(2)
    for arguments in [(x,), (x, y), (x, y, w), ([x, x],), ((x, x), y), (x, None, w)]:
        expected = keras.utils.pack_x_y_sample_weight(*arguments)
        received = cl.utils.pack_x_y_sample_weight(*arguments)
        assert type(received) is type(expected) and repr(received) == repr(expected)
    for data in [x, (x,), [x, y], (x, y, w)]:
        assert repr(cl.utils.unpack_x_y_sample_weight(data)) == repr(keras.utils.unpack_x_y_sample_weight(data))
    with pytest.raises(ValueError):
        keras.utils.unpack_x_y_sample_weight((x, y, w, w))
    with pytest.raises(ValueError, match="unpack_x_y_sample_weight"):
        cl.utils.unpack_x_y_sample_weight((x, y, w, w))


# ---------------------------------------------------------------- Progbar
ANSI = re.compile(r"\x1b\[[0-9;]*m|\x08")
UPDATES = [(1, [("loss", 1.0), ("acc", 0.5)]), (3, [("loss", 2.0), ("acc", 0.25)]), (4, [("loss", -0.5)]),
           (6, [("loss", 0.125), ("acc", 0.75)])]


def _shown(text):
    """The metric parts of every line drawn (the pieces between carriage returns / newlines)."""
    lines = [line for line in re.split(r"[\r\n]", ANSI.sub("", text)) if line.strip()]
    return [re.findall(r" - (\w+): (\S+)", line) for line in lines]


@pytest.mark.parametrize("metrics", [{}, {"stateful_metrics": ["acc"]}, {"stateless_metrics": ["loss"]}])
def test_progbar_shows_keras_values(capsys, metrics):
    theirs = keras.utils.Progbar(8, verbose=1, interval=0, **metrics)
    for current, values in UPDATES:
        theirs.update(current, values)
    theirs.update(8, [("loss", 0.3)], finalize=True)
    expected = _shown(capsys.readouterr().out)
    ours = cl.utils.Progbar(8, verbose=1, interval=0, **metrics)
    ours._dynamic_display = True  # Keras redraws on every POSIX system; course_lib in terminals and notebooks
    for current, values in UPDATES:
        ours.update(current, values)
    ours.update(8, [("loss", 0.3)], finalize=True)
    received = _shown(capsys.readouterr().out)
    assert received == expected and len(received) == 5


def test_progbar_verbose_2_line_is_keras_but_for_the_times(capsys):
    for library in (keras, cl):
        bar = library.utils.Progbar(3, verbose=2)
        for current, loss in [(1, 0.5), (2, 0.25)]:
            bar.add(1, [("loss", loss), ("mae", 0.125)])
        bar.update(3, [("loss", 0.75), ("mae", 0.0625)])
    theirs, ours = capsys.readouterr().out.splitlines()
    times = re.compile(r"\d+s - \d+(?:s|ms|us)/step")
    assert times.sub("T", ours) == times.sub("T", theirs) == "3/3 - T - loss: 0.7500 - mae: 0.0625"
