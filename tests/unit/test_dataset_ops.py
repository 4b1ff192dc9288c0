"""course_lib.utils.dataset_ops: the tf.data methods of the loaders' datasets, on a small series.

What tf.data itself does is checked against TensorFlow in tests/parity/test_dataset_ops_parity.py;
here: the views' lengths and indexing, that a new pass reaches the source (reshuffling), cache's
memory, the errors, and fit's treatment of a loader's dataset (its order kept, with Keras's warning).
"""
import warnings

import numpy as np
import pytest

import course_lib as cl
from course_lib.utils import Dataset, PyDataset


def _series_dataset(**options):
    data = np.arange(60, dtype="float32").reshape(30, 2)
    return cl.utils.timeseries_dataset_from_array(data, np.arange(30), sequence_length=4, **options)


def test_the_loaders_return_datasets_with_the_tf_data_methods(tmp_path):
    for text, label in (("good", "pos"), ("bad", "neg")):
        (tmp_path / label).mkdir()
        (tmp_path / label / "a.txt").write_text(text)
    texts = cl.utils.text_dataset_from_directory(str(tmp_path), batch_size=1, verbose=False)
    for dataset in (_series_dataset(batch_size=5), texts):
        assert isinstance(dataset, Dataset) and isinstance(dataset, PyDataset)
        assert dataset.take(1).cardinality() == 1


def test_take_skip_and_repeat_lengths_and_indexing():
    dataset = _series_dataset(batch_size=8)  # 27 windows: 4 batches, the last of 3
    assert [dataset.take(n).cardinality() for n in (0, 2, 4, 9, -1)] == [0, 2, 4, 4, 4]
    assert [dataset.skip(n).cardinality() for n in (0, 3, 4, 9, -1)] == [4, 1, 0, 0, 0]
    assert dataset.repeat(3).cardinality() == 12 and dataset.repeat().cardinality() == -1
    np.testing.assert_array_equal(dataset.skip(3)[0][1], dataset[3][1])
    np.testing.assert_array_equal(dataset.repeat(2)[5][1], dataset[1][1])
    assert len(list(dataset.repeat(2))) == 8
    with pytest.raises(IndexError, match=r"_Slice: index must be an int from 0 to 1\. Received: 2"):
        dataset.take(2)[2]


def test_map_runs_at_each_read_and_unpacks_tuples():
    calls = []

    def double(windows, targets):
        calls.append(len(targets))
        return windows * 2, targets

    mapped = _series_dataset(batch_size=10).map(double)
    windows, targets = mapped[1]
    np.testing.assert_array_equal(windows, _series_dataset(batch_size=10)[1][0] * 2)
    mapped[1]
    assert calls == [10, 10]
    single = _series_dataset(batch_size=10).map(lambda windows, targets: targets)  # one array from then on
    assert single.map(lambda targets: targets + 1)[0].tolist() == list(range(1, 11))


def test_cache_reads_each_element_once_and_keeps_the_first_passs_order():
    dataset = _series_dataset(batch_size=9, shuffle=True, seed=3)
    cached = dataset.cache()
    first = [batch[1].tolist() for batch in cached]
    cached.on_epoch_end()  # the source reshuffles; the cache keeps what it read
    assert [batch[1].tolist() for batch in cached] == first
    assert [batch[1].tolist() for batch in dataset] != first


def test_a_repeat_starts_a_new_pass_over_the_source():
    dataset = _series_dataset(batch_size=27, shuffle=True, seed=0)  # one batch per pass
    passes = [sorted(batch[1].tolist()) == list(range(27)) for batch in dataset.repeat(3)]
    orders = [batch[1].tolist() for batch in dataset.repeat(3)]
    assert all(passes) and orders[0] != orders[1]


def test_prefetch_is_the_same_dataset_and_as_numpy_iterator_gives_numpy():
    dataset = _series_dataset(batch_size=8)
    assert dataset.prefetch(2) is dataset
    element = next(dataset.map(lambda w, t: (w, {"t": t}, [t])).as_numpy_iterator())
    assert isinstance(element[0], np.ndarray) and isinstance(element[1]["t"], np.ndarray)


@pytest.mark.parametrize("call, message", [
    (lambda d: d.take(-2), r"Dataset\.take: count must be an int >= -1 \(-1: all\)\. Received: count=-2"),
    (lambda d: d.skip(1.5), r"Dataset\.skip: count must be an int >= -1"),
    (lambda d: d.repeat(True), r"Dataset\.repeat: count must be an int >= -1"),
    (lambda d: d.map(3), r"Dataset\.map: map_func must be callable\. Received: 3"),
    (lambda d: d.cache("file.cache"), r"Dataset\.cache: course_lib caches in memory only"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(_series_dataset(batch_size=8))


def test_tf_data_methods_it_lacks_say_which_it_has():
    with pytest.raises(AttributeError, match=r"TimeseriesDataset\.unbatch: .* only the tf\.data methods take, "
                                             r"skip, map"):
        _series_dataset(batch_size=8).unbatch()
    with pytest.raises(AttributeError, match="has no attribute 'nonsense'"):
        _series_dataset(batch_size=8).nonsense


def _model():
    cl.utils.set_random_seed(0)
    model = cl.Sequential([cl.Input((4, 2)), cl.layers.Flatten(), cl.layers.Dense(1)])
    model.compile(optimizer=cl.optimizers.SGD(0.001), loss="mse")
    return model


def test_fit_keeps_a_loader_datasets_order_and_says_it_ignores_shuffle():
    dataset = _series_dataset(batch_size=4)
    with pytest.warns(UserWarning, match="`shuffle=True` was passed, but will be ignored"):
        kept = _model().fit(dataset, epochs=2, verbose=0).history["loss"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        in_order = _model().fit(dataset, epochs=2, shuffle=False, verbose=0).history["loss"]
    assert kept == in_order


def test_fit_still_reorders_a_plain_pydatasets_batches():
    class Batches(PyDataset):
        def __init__(self):
            super().__init__()
            self.seen = []

        def __len__(self):
            return 6

        def __getitem__(self, index):
            self.seen.append(index)
            return np.full((2, 4, 2), index, "float32"), np.zeros((2, 1), "float32")

    batches = Batches()
    _model().fit(batches, epochs=2, verbose=0)
    assert sorted(batches.seen) == sorted(list(range(6)) * 2) and batches.seen != list(range(6)) * 2
