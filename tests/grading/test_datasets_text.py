"""course_lib.datasets.imdb and .weather: the recurrent chapter's data, with no network.

imdb's tests point KERAS_HOME at an empty folder, so that they test the course
corpus even on a machine that has Keras's imdb.npz; the Keras-file path is
tested with a small file written in that folder.
"""
import pathlib
import pickle
import tomllib

import numpy as np
import pytest

from course_lib.datasets import imdb, weather
from course_lib.preprocessing.sequence import pad_sequences, timeseries_batches, timeseries_steps
from course_lib.preprocessing.text import text_to_word_sequence


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    return tmp_path


def _corpus_rows():
    with open(imdb.CORPUS_FILE, encoding="utf-8") as lines:
        return [line.rstrip("\n").split("\t") for line in lines if not line.startswith("#")][1:]


# ---------------------------------------------------------------- the corpus file
def test_the_corpus_file_is_balanced_unique_and_split_as_documented():
    rows = _corpus_rows()
    assert len(rows) == 800 and all(len(row) == 3 for row in rows)
    counts = {(split, label): 0 for split in ("train", "test") for label in ("0", "1")}
    for split, label, _ in rows:
        counts[split, label] += 1
    assert counts == {("train", "0"): 320, ("train", "1"): 320, ("test", "0"): 80, ("test", "1"): 80}
    texts = [text for _, _, text in rows]
    assert len({text.lower() for text in texts}) == 800
    assert all(6 <= len(text.split()) <= 30 for text in texts)
    with open(imdb.CORPUS_FILE, encoding="utf-8") as lines:
        assert "CC BY 4.0" in lines.readline()
    assert "CC BY 4.0" in (imdb.CORPUS_FILE.parent / "README.md").read_text(encoding="utf-8")


def test_the_data_files_are_declared_as_package_data():
    """A wheel ships data files only if pyproject.toml names them."""
    root = pathlib.Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package = root / "course_lib" / "datasets"
    shipped = {path for pattern in patterns["course_lib.datasets"] for path in package.glob(pattern)}
    assert {imdb.CORPUS_FILE, imdb.CORPUS_FILE.parent / "README.md"} <= shipped


# ---------------------------------------------------------------- imdb from the course corpus
def test_load_data_falls_back_to_the_corpus_and_says_so_once(empty_cache, monkeypatch, capsys):
    monkeypatch.setattr(imdb, "_fallback_announced", False)
    assert imdb.source() == imdb.COURSE_CORPUS_SOURCE == "course corpus"
    (x_train, y_train), (x_test, y_test) = imdb.load_data()
    imdb.load_data()
    assert capsys.readouterr().out.count("using the course corpus") == 1
    assert x_train.shape == (640,) and x_test.shape == (160,) and x_train.dtype == object
    assert y_train.dtype == np.int64 and set(y_train) == {0, 1}
    assert y_train.sum() == 320 and y_test.sum() == 80
    assert all(isinstance(review, list) and review[0] == 1 for review in x_train)
    # num_words=None bounds the indices by the largest one, which Keras's rule then turns into oov_char (2):
    largest = len(imdb.get_word_index()) + 3
    every = [index for review in list(x_train) + list(x_test) for index in review[1:]]
    assert min(every) == 2 and max(every) == largest - 1 and largest not in every


def test_the_word_index_ranks_training_words_by_count(empty_cache):
    word_index = imdb.get_word_index()
    assert sorted(word_index.values()) == list(range(1, len(word_index) + 1))
    counts = {}
    for split, _, text in _corpus_rows():
        if split == "train":
            for word in text_to_word_sequence(text):
                counts[word] = counts.get(word, 0) + 1
    assert word_index.keys() == counts.keys()
    ranked = sorted(word_index, key=word_index.get)
    assert ranked[0] == "the"
    assert all(counts[a] >= counts[b] for a, b in zip(ranked, ranked[1:]))


def test_decoding_with_the_word_index_gives_back_the_review_words(empty_cache):
    """The order is shuffled, so the decoded reviews are compared as sorted lists."""
    word_index = imdb.get_word_index()
    words = {rank + 3: word for word, rank in word_index.items()}
    (x_train, _), (x_test, _) = imdb.load_data(num_words=len(word_index) + 4)  # above every index: no oov
    reviews = {split: [] for split in ("train", "test")}
    for split, _, text in _corpus_rows():
        reviews[split].append(" ".join(word for word in text_to_word_sequence(text) if word in word_index))
    decoded_train = [" ".join(words[index] for index in review[1:]) for review in x_train]
    decoded_test = [" ".join(words[index] for index in review[1:]) for review in x_test]
    assert sorted(decoded_train) == sorted(reviews["train"])
    assert sorted(decoded_test) == sorted(reviews["test"])  # unseen test words are left out, as in IMDB


def test_num_words_skip_top_and_maxlen_act_on_the_corpus(empty_cache):
    (x_train, _), (x_test, _) = imdb.load_data(num_words=100, skip_top=5)
    every = [index for review in list(x_train) + list(x_test) for index in review]
    assert max(every) == 99 and set(every) - {2} <= set(range(5, 100))
    assert sum(index == 2 for index in every) > 0
    (short, labels), _ = imdb.load_data(maxlen=10)
    assert 0 < len(short) < 640 and len(labels) == len(short) and max(map(len, short)) == 9
    first, second = imdb.load_data(seed=1), imdb.load_data(seed=1)
    assert list(first[0][0]) == list(second[0][0])
    assert list(imdb.load_data(seed=2)[0][0]) != list(first[0][0])


def test_the_corpus_is_learnable_by_a_bag_of_words(empty_cache):
    """A real signal: logistic regression on word presence scores clearly above chance on the test reviews."""
    from sklearn.linear_model import LogisticRegression

    (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=2000)

    def bag(reviews):
        matrix = np.zeros((len(reviews), 2000))
        for row, review in enumerate(reviews):
            matrix[row, review] = 1.0
        return matrix

    classifier = LogisticRegression(max_iter=2000).fit(bag(x_train), y_train)
    accuracy = classifier.score(bag(x_test), y_test)
    assert accuracy > 0.7, f"test accuracy {accuracy:.3f}; chance is 0.5"
    shuffled = LogisticRegression(max_iter=2000).fit(bag(x_train), np.random.default_rng(0).permutation(y_train))
    assert shuffled.score(bag(x_test), y_test) < accuracy - 0.1  # the labels carry the signal, not the sizes


def test_padded_reviews_feed_a_model(empty_cache):
    (x_train, _), _ = imdb.load_data(num_words=500)
    padded = pad_sequences(x_train, maxlen=20)
    assert padded.shape == (640, 20) and padded.dtype == np.int32 and padded.max() < 500


@pytest.mark.parametrize("kwargs, message", [
    ({"num_words": 0}, "imdb.load_data: num_words must be None or an int >= 1. Received: num_words=0"),
    ({"skip_top": -1}, "imdb.load_data: skip_top must be an int >= 0. Received: skip_top=-1"),
    ({"maxlen": 2.5}, "imdb.load_data: maxlen must be None or an int >= 1. Received: maxlen=2.5"),
    ({"seed": None}, "imdb.load_data: seed must be an int. Received: seed=None"),
    ({"index_from": True}, "imdb.load_data: index_from must be an int >= 0. Received: index_from=True"),
    ({"maxlen": 2}, "no train review is shorter than maxlen=2: every one was removed. Increase maxlen."),
])
def test_load_data_rejects_bad_arguments(empty_cache, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        imdb.load_data(**kwargs)


def test_a_missing_named_file_is_an_error_not_a_fallback(empty_cache):
    with pytest.raises(FileNotFoundError, match=r"imdb.load_data: no file at .*my_imdb.npz, and course_lib downloads nothing"):
        imdb.load_data(path="my_imdb.npz")


# ---------------------------------------------------------------- imdb from Keras's file
def _write_cache(folder, with_word_index=True):
    (folder / "datasets").mkdir(exist_ok=True)
    arrays = {}
    for name, reviews in (("train", [[1, 2, 3], [4, 5], [6]]), ("test", [[2, 2], [7, 1, 1, 8]])):
        sequences = np.empty(len(reviews), dtype=object)
        sequences[:] = reviews
        arrays[f"x_{name}"], arrays[f"y_{name}"] = sequences, np.arange(len(reviews)) % 2
    np.savez(folder / "datasets" / "imdb.npz", **arrays)
    if with_word_index:
        (folder / "datasets" / "imdb_word_index.json").write_text('{"the": 1, "and": 2}')


def test_keras_file_in_the_cache_folder_is_read_when_present(empty_cache, capsys):
    _write_cache(empty_cache)
    assert imdb.source() == imdb.KERAS_CACHE_SOURCE == "keras-cache imdb.npz"
    (x_train, y_train), (x_test, _) = imdb.load_data(seed=0)
    assert sorted(map(len, x_train)) == [2, 3, 4] and sorted(map(len, x_test)) == [3, 5]
    assert sorted(sorted(review) for review in x_train) == [[1, 4, 5, 6], [1, 7, 8], [1, 9]]
    assert "course corpus" not in capsys.readouterr().out
    assert imdb.get_word_index() == {"the": 1, "and": 2}


def test_a_cached_file_without_its_word_index_is_reported(empty_cache):
    _write_cache(empty_cache, with_word_index=False)
    with pytest.raises(FileNotFoundError, match="imdb.get_word_index: Keras's imdb.npz is in .* but its word index"):
        imdb.get_word_index()


def test_a_tampered_file_cannot_run_code(empty_cache):
    class Gadget:
        def __reduce__(self):
            return (print, ("this must never run",))

    (empty_cache / "datasets").mkdir()
    payload = np.empty(1, dtype=object)
    payload[0] = Gadget()
    np.savez(empty_cache / "datasets" / "imdb.npz", x_train=payload, y_train=np.zeros(1), x_test=payload,
             y_test=np.zeros(1))
    with pytest.raises(pickle.UnpicklingError, match="imdb.load_data: refusing to load builtins.print"):
        imdb.load_data()


# ---------------------------------------------------------------- weather
def test_daily_weather_rows_columns_and_dates():
    values, columns, dates = weather.load_data()
    assert values.shape == (1461, 4) and values.dtype == np.float32
    assert columns == ["precipitation", "temp_max", "temp_min", "wind"]
    assert dates[0] == "2012-01-01" and dates[-1] == "2015-12-31" and len(dates) == 1461
    assert not np.isnan(values).any()
    assert (values[:, 1] >= values[:, 2]).all()  # the maximum is never below the minimum
    assert values[:, 0].min() >= 0 and -10 < values[:, 2].min() and values[:, 1].max() < 40  # mm and Celsius


def test_hourly_weather_rows_and_dates():
    values, columns, dates = weather.load_data("hourly")
    assert values.shape == (8759, 1) and columns == ["temp"] and not np.isnan(values).any()
    assert dates[:2] == ["2010-01-01 00:00", "2010-01-01 01:00"] and dates[-1] == "2010-12-31 23:00"
    assert "2010-03-14 03:00" not in dates  # the hour skipped when the clocks went forward
    assert 10 < values.min() and values.max() < 110  # Fahrenheit


def test_timeseries_batches_on_the_daily_weather():
    values, columns, _ = weather.load_data()
    mean, std = values[:1000].mean(axis=0), values[:1000].std(axis=0)
    normalised = (values - mean) / std
    lookback, delay, step, target = 30, 1, 3, columns.index("temp_max")
    train = timeseries_batches(normalised, lookback, delay, max_index=1000, batch_size=64, step=step,
                               target_column=target)
    validation_steps = timeseries_steps(normalised, lookback, delay, min_index=1000, batch_size=64)
    assert validation_steps == -(-(1461 - 1 - 1030) // 64) == 7
    for batch in range(3):
        samples, targets = next(train)
        assert samples.shape == (64, lookback // step, 4) and targets.shape == (64,)
        for offset in (0, 63):
            row = lookback + 64 * batch + offset
            np.testing.assert_array_equal(samples[offset], normalised[row - lookback:row:step])
            assert targets[offset] == normalised[row + delay, target]


def test_weather_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="weather.load_data: kind must be 'daily' or 'hourly'. Received: kind='monthly'"):
        weather.load_data("monthly")


def test_weather_without_vega_datasets_says_how_to_install_it(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "vega_datasets" else real_find_spec(name, *args))
    with pytest.raises(ImportError, match="pip install vega_datasets"):
        weather.load_data()
