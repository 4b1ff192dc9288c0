"""The tf.data methods of course_lib's loader datasets against tf.data's, on the same series in the same test.

``timeseries_dataset_from_array`` in both libraries, then the same chain of
``take`` / ``skip`` / ``map`` / ``cache`` / ``repeat`` / ``prefetch``: every
element and ``cardinality()`` equal (exactly: copies and the same float
arithmetic); and ``fit`` with its default ``shuffle=True`` keeps the dataset's
order in both, saying once that it ignores ``shuffle`` (the History and the
weights within RTOL/ATOL = 1e-5/1e-6).
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6


def _series():
    steps = np.arange(120, dtype="float32")
    return np.stack([np.sin(steps / 5), np.cos(steps / 7)], axis=1).astype("float32"), steps


def _both(**options):
    data, targets = _series()
    return (keras.utils.timeseries_dataset_from_array(data, targets, **options),
            cl.utils.timeseries_dataset_from_array(data, targets, **options))


def _elements(dataset, limit=None):
    out = []
    for element in dataset.as_numpy_iterator():
        out.append(element if isinstance(element, tuple) else (element,))
        if limit is not None and len(out) == limit:
            break
    return out


def _same(theirs, ours, limit=None):
    expected, received = _elements(theirs, limit), _elements(ours, limit)
    assert len(received) == len(expected)
    for a, b in zip(received, expected):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert x.dtype == y.dtype and x.shape == y.shape
            np.testing.assert_array_equal(x, y)


CHAINS = {
    "take": lambda d: d.take(3),
    "take all": lambda d: d.take(-1),
    "take more than there are": lambda d: d.take(50),
    "skip": lambda d: d.skip(2),
    "skip all": lambda d: d.skip(-1),
    "skip then take": lambda d: d.skip(1).take(2),
    "map unpacks the tuple": lambda d: d.map(lambda x, y: (x * 2 + 1, y - 3)),
    "map to one array": lambda d: d.map(lambda x, y: x[:, -1]),
    "cache then prefetch": lambda d: d.cache().prefetch(4),
    "repeat twice": lambda d: d.repeat(2),
    "map, take, repeat": lambda d: d.map(lambda x, y: (x, y * 0.5)).take(2).repeat(3),
}


@pytest.mark.parametrize("chain", CHAINS, ids=list(CHAINS))
@pytest.mark.parametrize("batch_size", [16, None], ids=["batches", "samples"])
def test_chained_methods_give_tf_datas_elements(chain, batch_size):
    theirs, ours = _both(sequence_length=6, sampling_rate=2, batch_size=batch_size)
    theirs, ours = CHAINS[chain](theirs), CHAINS[chain](ours)
    assert int(ours.cardinality()) == int(theirs.cardinality())
    _same(theirs, ours)


def test_an_endless_repeat_is_endless_in_both():
    theirs, ours = _both(sequence_length=6, batch_size=32)
    theirs, ours = theirs.repeat(), ours.repeat()
    assert int(ours.cardinality()) == int(theirs.cardinality()) == -1  # tf.data.INFINITE_CARDINALITY
    _same(theirs, ours, limit=11)  # more than one pass of 4 batches
    _same(theirs.take(7), ours.take(7))


def test_fit_keeps_a_loader_datasets_order_as_keras_does():
    # Keras's fit never reorders a tf.data.Dataset, whatever `shuffle` says; course_lib's fit
    # reorders a PyDataset's batches, but not a loader's dataset. With SGD the order shows.
    data, targets = _series()
    options = dict(sequence_length=6, sampling_rate=2, batch_size=8)
    their_data = keras.utils.timeseries_dataset_from_array(data[:-6], data[6:, 0], **options)
    our_data = cl.utils.timeseries_dataset_from_array(data[:-6], data[6:, 0], **options)
    keras_model = keras.Sequential([keras.Input((6, 2)), keras.layers.Flatten(), keras.layers.Dense(4, "tanh"),
                                    keras.layers.Dense(1)])
    ours = cl.testing.from_keras(keras_model)
    for model, optimizer in ((keras_model, keras.optimizers.SGD(0.1)), (ours, cl.optimizers.SGD(0.1))):
        model.compile(optimizer=optimizer, loss="mse")
    with pytest.warns(UserWarning, match="`shuffle=True` was passed, but will be ignored") as theirs_said:
        expected = keras_model.fit(their_data.map(lambda x, y: (x, y * 2)), epochs=3, verbose=0).history
    with pytest.warns(UserWarning, match="`shuffle=True` was passed, but will be ignored") as ours_said:
        received = ours.fit(our_data.map(lambda x, y: (x, y * 2)), epochs=3, verbose=0).history
    assert len(ours_said) == len(theirs_said) == 1  # once per fit, not per epoch
    np.testing.assert_allclose(received["loss"], expected["loss"], rtol=RTOL, atol=ATOL)
    for a, b in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
