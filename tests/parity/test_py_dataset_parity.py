"""The same PyDataset subclass through tf.keras and course_lib: same History, hooks, results and errors.

The subclass is written once, on top of either ``keras.utils.PyDataset`` or
``course_lib.utils.PyDataset``. Keras's TensorFlow backend requests the first
two batches once more before training (to learn their shapes) and prefetches
ahead, so batch requests are compared per epoch as sets, and the epoch hooks
by their counts.
"""
import warnings

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

# float32 SGD over a few epochs: losses measured within 3e-7 of Keras's.
RTOL, ATOL = 1e-5, 1e-6


def dataset_class(base):
    """One PyDataset subclass, on top of Keras's base or course_lib's."""

    class Regression(base):
        def __init__(self, batches=6, batch_size=5, seed=0, with_weights=False, endless=False, **kwargs):
            super().__init__(**kwargs)
            generator = np.random.default_rng(seed)
            self.x = generator.standard_normal((batches * batch_size, 4)).astype("float32")
            self.y = (self.x @ np.array([[1.0], [-2.0], [0.5], [0.0]], "float32") + 0.1).astype("float32")
            self.weights = generator.uniform(0.5, 2.0, batches * batch_size).astype("float32")
            self.batches, self.batch_size = batches, batch_size
            self.with_weights, self.endless = with_weights, endless
            self.requested, self.begins, self.ends = [], 0, 0

        @property
        def num_batches(self):
            return None if self.endless else self.batches

        def __getitem__(self, index):
            self.requested.append(index)
            index = index % self.batches
            part = slice(index * self.batch_size, (index + 1) * self.batch_size)
            if self.with_weights:
                return self.x[part], self.y[part], self.weights[part]
            return self.x[part], self.y[part]

        def on_epoch_begin(self):
            self.begins += 1
            self.requested.append("begin")

        def on_epoch_end(self):
            self.ends += 1
            self.requested.append("end")

    return Regression


KerasData, OurData = dataset_class(keras.utils.PyDataset), dataset_class(cl.utils.PyDataset)


def models():
    keras_model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(6, activation="tanh"),
        keras.layers.Dense(1),
    ])
    ours = cl.testing.from_keras(keras_model)
    for model in (keras_model, ours):
        model.compile(optimizer=keras.optimizers.SGD(0.05) if model is keras_model else cl.optimizers.SGD(0.05),
                      loss="mse", metrics=["mae"])
    return keras_model, ours


def assert_same_history(ours, theirs):
    assert sorted(ours.history) == sorted(theirs.history)
    for key in theirs.history:
        np.testing.assert_allclose(ours.history[key], theirs.history[key], rtol=RTOL, atol=ATOL, err_msg=key)
    assert ours.params["steps"] == theirs.params["steps"]


def hooks(data):
    return data.begins, data.ends


def per_epoch_sets(requested):
    """The set of batches requested between on_epoch_begin and on_epoch_end, per epoch (probes dropped)."""
    epochs, current = [], None
    for event in requested:
        if event == "begin":
            current = set()
        elif event == "end":
            if current is not None:
                epochs.append(current)
            current = None
        elif current is not None:
            current.add(event)
    return epochs


@pytest.mark.parametrize("with_weights", [False, True])
def test_fit_with_py_dataset_validation_matches_keras(with_weights):
    keras_model, ours = models()
    theirs_train, our_train = KerasData(with_weights=with_weights), OurData(with_weights=with_weights)
    theirs_val, our_val = KerasData(batches=3, seed=1), OurData(batches=3, seed=1)
    kwargs = dict(epochs=4, shuffle=False, verbose=0)
    keras_history = keras_model.fit(theirs_train, validation_data=theirs_val, **kwargs)
    our_history = ours.fit(our_train, validation_data=our_val, **kwargs)
    assert_same_history(our_history, keras_history)
    for mine, theirs in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=ATOL)
    assert hooks(our_train) == hooks(theirs_train) == (4, 5)
    assert hooks(our_val) == hooks(theirs_val) == (4, 8)
    assert per_epoch_sets(our_train.requested) == per_epoch_sets(theirs_train.requested)


def test_evaluate_and_predict_match_keras():
    keras_model, ours = models()
    for make in (lambda cls: cls(with_weights=True), lambda cls: cls()):
        theirs, mine = make(KerasData), make(OurData)
        np.testing.assert_allclose(ours.evaluate(mine, verbose=0), keras_model.evaluate(theirs, verbose=0),
                                   rtol=RTOL, atol=ATOL)
        assert hooks(mine) == hooks(theirs) == (1, 2)
        theirs, mine = make(KerasData), make(OurData)
        np.testing.assert_allclose(ours.predict(mine, verbose=0), keras_model.predict(theirs, verbose=0),
                                   rtol=RTOL, atol=ATOL)
        assert hooks(mine) == hooks(theirs) == (1, 1)
    theirs, mine = KerasData(), OurData()
    np.testing.assert_allclose(ours.evaluate(mine, steps=2, verbose=0, return_dict=True)["loss"],
                               keras_model.evaluate(theirs, steps=2, verbose=0, return_dict=True)["loss"],
                               rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("steps", [4, 3, 8])
def test_steps_per_epoch_other_than_the_length_matches_keras(steps):
    keras_model, ours = models()
    theirs, mine = KerasData(), OurData()
    kwargs = dict(epochs=3, steps_per_epoch=steps, shuffle=False, verbose=0)
    with warnings.catch_warnings(record=True) as keras_warnings:
        warnings.simplefilter("always")
        keras_history = keras_model.fit(theirs, **kwargs)
    with warnings.catch_warnings(record=True) as our_warnings:
        warnings.simplefilter("always")
        our_history = ours.fit(mine, **kwargs)
    assert_same_history(our_history, keras_history)
    assert hooks(mine) == hooks(theirs) == (3, 4)

    def ran_out(caught):
        return sum("ran out of data" in str(warning.message) for warning in caught)

    # One warning per epoch that ran out: steps=4 in the second epoch, steps=8 in all three.
    assert ran_out(our_warnings) == ran_out(keras_warnings) == {4: 1, 3: 0, 8: 3}[steps]


def test_an_endless_dataset_with_steps_matches_keras():
    keras_model, ours = models()
    theirs, mine = KerasData(endless=True), OurData(endless=True)
    kwargs = dict(epochs=3, steps_per_epoch=4, shuffle=False, verbose=0)
    assert_same_history(ours.fit(mine, **kwargs), keras_model.fit(theirs, **kwargs))
    assert hooks(mine) == hooks(theirs)
    with pytest.warns(UserWarning, match=r"infinite PyDataset"):
        keras_model.fit(KerasData(endless=True), epochs=1, steps_per_epoch=2, verbose=0)
    with pytest.warns(UserWarning, match=r"infinite PyDataset"):
        ours.fit(OurData(endless=True), epochs=1, steps_per_epoch=2, verbose=0)


def test_class_weight_matches_keras():
    class_weight = {0: 3.0, 1: 0.5}

    def classification(base):
        class Classes(dataset_class(base)):
            def __getitem__(self, index):
                x, y = super().__getitem__(index)[:2]
                return x, (y > 0).astype("int32")[:, 0]

        return Classes

    keras_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    ours = cl.testing.from_keras(keras_model)
    keras_model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    ours.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    kwargs = dict(epochs=2, shuffle=False, verbose=0, class_weight=class_weight)
    assert_same_history(ours.fit(classification(cl.utils.PyDataset)(), **kwargs),
                        keras_model.fit(classification(keras.utils.PyDataset)(), **kwargs))


def test_shuffle_does_what_keras_does():
    keras_model, ours = models()
    orders = {}
    for name, model, cls in (("keras", keras_model, KerasData), ("ours", ours, OurData)):
        train, validation = cls(batches=8), cls(batches=3, seed=1)
        model.fit(train, validation_data=validation, epochs=4, shuffle=True, verbose=0)
        # Requests inside each epoch, the TF backend's shape probes (before the first on_epoch_end) dropped.
        events = train.requested[train.requested.index("end"):]
        epochs = []
        for event in events:
            if event == "begin":
                epochs.append([])
            elif event != "end":
                epochs[-1].append(event)
        orders[name] = epochs
        # Every epoch visits each batch once, in a fresh order; validation is never shuffled.
        assert [sorted(epoch) for epoch in epochs] == [list(range(8))] * 4
        assert per_epoch_sets(validation.requested) == [set(range(3))] * 4
        assert [event for event in validation.requested[validation.requested.index("end"):]
                if event not in ("begin", "end")] == [0, 1, 2] * 4
    for epochs in orders.values():
        assert any(epoch != list(range(8)) for epoch in epochs)
        assert len({tuple(epoch) for epoch in epochs}) > 1


def test_errors_match_keras_kinds():
    keras_model, ours = models()
    for model, cls in ((keras_model, KerasData), (ours, OurData)):
        data = cls()
        with pytest.raises(ValueError, match=r"validation_split` is only supported|validation_split is only supported"):
            model.fit(data, validation_split=0.2, verbose=0)
        with pytest.raises(ValueError, match=r"`y` should not be passed"):
            model.fit(data, data.y, verbose=0)
        with pytest.raises(ValueError, match=r"`sample_weight` should not be passed|`sample_weights` should not be"):
            model.fit(data, sample_weight=data.weights, verbose=0)

    def wrong(base):
        class Wrong(dataset_class(base)):
            def __getitem__(self, index):
                return 7

        return Wrong

    for model, base in ((keras_model, keras.utils.PyDataset), (ours, cl.utils.PyDataset)):
        with pytest.raises(ValueError, match=r"__getitem__\(.*must return a tuple or a dict"):
            model.fit(wrong(base)(), verbose=0)

    def forgetful(base):
        class Forgetful(dataset_class(base)):
            def __init__(self):
                self.__dict__.update(dataset_class(base)().__dict__)
                for name in ("_workers", "_use_multiprocessing", "_max_queue_size"):
                    self.__dict__.pop(name)

        return Forgetful

    for model, base in ((keras_model, keras.utils.PyDataset), (ours, cl.utils.PyDataset)):
        with pytest.warns(UserWarning, match=r"should call `super\(\).__init__\(\*\*kwargs\)`"):
            model.fit(forgetful(base)(), verbose=0)
