"""course_lib.utils.PyDataset and how fit/evaluate/predict read it (Keras's rules).

The same runs through tf.keras, compared number for number, are in
``tests/parity/test_py_dataset_parity.py``; this file checks the rules themselves:
which batches each epoch visits and in what order, when the epoch hooks run,
the batch structures accepted, and the errors for everything else.
"""
import math
import threading
import warnings

import numpy as np
import pytest

import course_lib as cl
from course_lib import layers


class Batches(cl.utils.PyDataset):
    """Fixed batches of a regression problem; records every request and epoch hook."""

    def __init__(self, batches=6, batch_size=4, seed=0, with_weights=False, **kwargs):
        super().__init__(**kwargs)
        generator = np.random.default_rng(seed)
        self.x = generator.standard_normal((batches * batch_size, 3)).astype("float32")
        self.y = generator.standard_normal((batches * batch_size, 1)).astype("float32")
        self.weights = generator.uniform(0.5, 2.0, batches * batch_size).astype("float32")
        self.batches, self.batch_size, self.with_weights = batches, batch_size, with_weights
        self.events = []

    def __len__(self):
        return self.batches

    def __getitem__(self, index):
        self.events.append(index)
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        if self.with_weights:
            return self.x[part], self.y[part], self.weights[part]
        return self.x[part], self.y[part]

    def on_epoch_begin(self):
        self.events.append("begin")

    def on_epoch_end(self):
        self.events.append("end")

    def requested(self):
        return [event for event in self.events if isinstance(event, int)]

    def count(self, hook):
        return self.events.count(hook)


class Endless(cl.utils.PyDataset):
    """num_batches is None: batch i is built from i, for ever."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.requested = []

    @property
    def num_batches(self):
        return None

    def __getitem__(self, index):
        self.requested.append(index)
        generator = np.random.default_rng(index)
        return generator.standard_normal((4, 3)).astype("float32"), np.ones((4, 1), "float32")


def regressor():
    model = cl.Sequential([cl.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def epochs_of(events):
    """The batch indices between each on_epoch_begin and its on_epoch_end."""
    epochs, current = [], None
    for event in events:
        if event == "begin":
            current = []
        elif event == "end" and current is not None:
            epochs.append(current)
            current = None
        elif isinstance(event, int):
            current.append(event)
    return epochs


# ---------------------------------------------------------------- the class
def test_the_base_class_keeps_keras_arguments_and_sequence_is_an_alias():
    data = Batches(workers=3, use_multiprocessing=True, max_queue_size=5)
    assert (data.workers, data.use_multiprocessing, data.max_queue_size) == (3, True, 5)
    assert cl.utils.Sequence is cl.utils.PyDataset
    assert data.num_batches == len(data) == 6
    assert len(list(data)) == 6 and data.requested() == list(range(6))


def test_a_subclass_that_skips_super_init_warns_as_keras_does():
    class Forgetful(cl.utils.PyDataset):
        def __init__(self):
            self.x = np.zeros((4, 3), "float32")

        def __len__(self):
            return 1

        def __getitem__(self, index):
            return self.x, self.x[:, :1]

    data = Forgetful()
    with pytest.warns(UserWarning, match=r"should call `super\(\).__init__\(\*\*kwargs\)`"):
        regressor().fit(data, verbose=0)
    assert data.workers == 1 and data.max_queue_size == 10


def test_missing_methods_get_errors_naming_the_class():
    class Empty(cl.utils.PyDataset):
        pass

    with pytest.raises(TypeError, match=r"Empty must implement __len__\(\) or the num_batches property"):
        Empty().num_batches
    with pytest.raises(TypeError, match=r"Empty must implement __getitem__\(index\).*batch 0"):
        Empty()[0]


# ------------------------------------------------------ epochs and the hooks
def test_fit_visits_every_batch_once_per_epoch_and_calls_the_hooks_as_keras():
    data = Batches()
    history = regressor().fit(data, epochs=3, shuffle=False, verbose=0)
    # Keras resets the dataset once before training (an extra on_epoch_end), then one pass per epoch.
    assert data.events[0] == "end"
    assert epochs_of(data.events) == [list(range(6))] * 3
    assert (data.count("begin"), data.count("end")) == (3, 4)
    assert history.params["steps"] == 6 and len(history.history["loss"]) == 3


def test_evaluate_and_predict_call_on_epoch_end_as_keras():
    model = regressor()
    data = Batches()
    model.evaluate(data, verbose=0)
    assert (data.count("begin"), data.count("end")) == (1, 2)
    data = Batches()
    model.predict(data, verbose=0)
    assert (data.count("begin"), data.count("end")) == (1, 1)
    assert data.requested() == list(range(6))


def test_validation_data_as_a_py_dataset_is_reset_before_each_evaluation():
    validation = Batches(batches=2, seed=1)
    history = regressor().fit(Batches(), validation_data=validation, epochs=3, verbose=0)
    assert epochs_of(validation.events) == [[0, 1]] * 3
    assert (validation.count("begin"), validation.count("end")) == (3, 6)
    assert len(history.history["val_loss"]) == 3


def test_shuffle_permutes_the_order_of_batches_every_epoch_not_their_content():
    data = Batches(batches=8)
    regressor().fit(data, epochs=4, shuffle=True, verbose=0)
    epochs = epochs_of(data.events)
    assert all(sorted(epoch) == list(range(8)) for epoch in epochs)
    assert len({tuple(epoch) for epoch in epochs}) > 1 and any(e != list(range(8)) for e in epochs)
    cl.utils.set_random_seed(7)
    first = Batches(batches=8)
    regressor().fit(first, epochs=2, verbose=0)
    cl.utils.set_random_seed(7)
    second = Batches(batches=8)
    regressor().fit(second, epochs=2, verbose=0)
    assert first.events == second.events  # course_lib's seed decides the order


def test_validation_evaluate_and_predict_never_shuffle():
    validation = Batches(batches=5)
    model = regressor()
    model.fit(Batches(), validation_data=validation, epochs=2, shuffle=True, verbose=0)
    assert epochs_of(validation.events) == [list(range(5))] * 2
    data = Batches(batches=5)
    model.evaluate(data, verbose=0)
    model.predict(data, verbose=0)
    assert epochs_of(data.events) == [list(range(5))] * 2


def test_fewer_steps_per_epoch_go_on_where_the_last_epoch_stopped():
    data = Batches(batches=6)
    with pytest.warns(UserWarning, match=r"Your input ran out of data.*Batches has 6 batches; this epoch took the last 2"):
        history = regressor().fit(data, epochs=3, steps_per_epoch=4, shuffle=False, verbose=0)
    # Keras's EpochIterator: epoch 2 takes the 2 batches left, epoch 3 starts a new pass.
    assert epochs_of(data.events) == [[0, 1, 2, 3], [4, 5], [0, 1, 2, 3]]
    assert history.params["steps"] == 4
    data = Batches(batches=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        regressor().fit(data, epochs=3, steps_per_epoch=3, shuffle=False, verbose=0)
    assert epochs_of(data.events) == [[0, 1, 2], [3, 4, 5], [0, 1, 2]]


def test_more_steps_than_batches_end_each_epoch_early_with_a_warning():
    data = Batches(batches=3)
    with pytest.warns(UserWarning, match=r"ran out of data"):
        regressor().fit(data, epochs=2, steps_per_epoch=5, verbose=0, shuffle=False)
    assert epochs_of(data.events) == [[0, 1, 2]] * 2


def test_evaluate_steps_start_from_the_first_batch_every_time():
    model = regressor()
    data = Batches(batches=6)
    first = model.evaluate(data, steps=2, verbose=0)
    second = model.evaluate(data, steps=2, verbose=0)
    assert epochs_of(data.events) == [[0, 1]] * 2 and first == second
    x, y = data.x[:8], data.y[:8]
    assert first == pytest.approx(model.evaluate(x, y, batch_size=4, verbose=0), rel=1e-6)


def test_an_endless_dataset_needs_steps_and_continues_across_epochs():
    data = Endless()
    with pytest.warns(UserWarning, match=r"`shuffle=True` was passed, but will be ignored.*infinite PyDataset"):
        history = regressor().fit(data, epochs=3, steps_per_epoch=2, verbose=0)
    assert data.requested == [0, 1, 2, 3, 4, 5]
    assert history.params["steps"] == 2
    assert regressor().predict(Endless(), steps=3, verbose=0).shape == (12, 1)
    with pytest.raises(ValueError, match=r"fit: Endless is endless \(num_batches is None\): pass steps_per_epoch"):
        regressor().fit(Endless(), verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: Endless is endless.*pass steps"):
        regressor().evaluate(Endless(), verbose=0)


def test_stop_training_mid_epoch_skips_that_epochs_on_epoch_end():
    class StopAfterTwo(cl.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    data = Batches()
    regressor().fit(data, epochs=3, shuffle=False, callbacks=[StopAfterTwo()], verbose=0)
    assert data.events == ["end", "begin", 0, 1]


# ------------------------------------------------------------ the numbers
def test_fit_on_a_py_dataset_equals_fit_on_the_same_batches_of_arrays():
    data = Batches(with_weights=True)
    ours, reference = regressor(), regressor()
    reference.set_weights(ours.get_weights())
    history = ours.fit(data, epochs=3, shuffle=False, verbose=0)
    expected = reference.fit(data.x, data.y, sample_weight=data.weights, batch_size=4, epochs=3,
                             shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-6)
    for mine, theirs in zip(ours.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)
    np.testing.assert_allclose(ours.predict(data, verbose=0), ours.predict(data.x, verbose=0), rtol=1e-6)


def test_the_last_batch_counts_in_evaluate():
    # A batch that is the only one with a large error: dropping or repeating any batch changes the mean.
    class Uneven(Batches):
        def __getitem__(self, index):
            x, y = super().__getitem__(index)
            return x, y + (10.0 if index == self.batches - 1 else 0.0)

    model = regressor()
    data = Uneven(batches=5)
    y = data.y.copy()
    y[-4:] += 10.0
    assert model.evaluate(data, verbose=0) == pytest.approx(model.evaluate(data.x, y, batch_size=4, verbose=0),
                                                          rel=1e-6)


@pytest.mark.parametrize("form", ["tuple", "list", "single", "bare", "dict"])
def test_the_batch_structures_keras_accepts(form):
    x = np.random.default_rng(0).standard_normal((8, 3)).astype("float32")
    y = np.ones((8, 1), "float32")

    class Shapes(cl.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            part = slice(4 * index, 4 * index + 4)
            return {"tuple": (x[part], y[part]), "list": [x[part], y[part]], "single": (x[part],),
                    "bare": x[part], "dict": {"features": x[part]}}[form]

    inputs = cl.Input((3,), name="features")
    model = cl.Model(inputs, layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    np.testing.assert_allclose(model.predict(Shapes(), verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    if form in ("tuple", "list"):
        assert model.evaluate(Shapes(), verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    else:
        with pytest.raises(ValueError, match=r"evaluate: Shapes.__getitem__\(0\) returned inputs without targets"):
            model.evaluate(Shapes(), verbose=0)


def test_a_two_input_two_output_model_reads_nested_batches():
    generator = np.random.default_rng(0)
    a, b = generator.standard_normal((8, 2)).astype("float32"), generator.standard_normal((8, 3)).astype("float32")
    first, second = cl.Input((2,), name="a"), cl.Input((3,), name="b")
    merged = layers.Concatenate()([first, second])
    model = cl.Model([first, second], [layers.Dense(1, name="u")(merged), layers.Dense(2, name="v")(merged)])
    model.compile(optimizer="sgd", loss="mse")
    targets = [np.ones((8, 1), "float32"), np.zeros((8, 2), "float32")]

    class Pairs(cl.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            part = slice(4 * index, 4 * index + 4)
            return {"a": a[part], "b": b[part]}, {"u": targets[0][part], "v": targets[1][part]}

    expected = model.evaluate([a, b], targets, batch_size=4, verbose=0)
    np.testing.assert_allclose(model.evaluate(Pairs(), verbose=0), expected, rtol=1e-6)


def test_class_weight_applies_to_py_dataset_batches():
    x = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])

    class Labelled(cl.utils.PyDataset):
        def __init__(self, with_weights=False):
            super().__init__()
            self.with_weights = with_weights

        def __len__(self):
            return 2

        def __getitem__(self, index):
            part = slice(4 * index, 4 * index + 4)
            return (x[part], labels[part]) + ((np.ones(4),) if self.with_weights else ())

    def model():
        built = cl.Sequential([cl.Input((4,)), layers.Dense(3, activation="softmax")])
        built.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        return built

    ours, reference = model(), model()
    reference.set_weights(ours.get_weights())
    weights = {0: 2.0, 1: 0.5}
    history = ours.fit(Labelled(), class_weight=weights, shuffle=False, verbose=0)
    expected = reference.fit(x, labels, class_weight=weights, batch_size=4, shuffle=False, verbose=0)
    assert history.history["loss"] == pytest.approx(expected.history["loss"], rel=1e-6)
    with pytest.raises(ValueError, match=r"Labelled.__getitem__\(0\) returned sample weights and class_weight"):
        model().fit(Labelled(with_weights=True), class_weight=weights, verbose=0)


# ------------------------------------------------------------- workers
def test_worker_threads_load_batches_in_order_and_finish_before_on_epoch_end():
    class Slow(Batches):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.loading = 0
            self.threads = set()
            self.lock = threading.Lock()

        def __getitem__(self, index):
            with self.lock:
                self.loading += 1
                self.threads.add(threading.get_ident())
            batch = super().__getitem__(index)
            with self.lock:
                self.loading -= 1
            return batch

        def on_epoch_end(self):
            assert self.loading == 0
            super().on_epoch_end()

    threaded, plain = Slow(workers=3, max_queue_size=4), Batches()
    ours, reference = regressor(), regressor()
    reference.set_weights(ours.get_weights())
    history = ours.fit(threaded, epochs=2, shuffle=False, verbose=0)
    expected = reference.fit(plain, epochs=2, shuffle=False, verbose=0)
    assert history.history["loss"] == pytest.approx(expected.history["loss"], rel=1e-6)
    assert sorted(threaded.requested()) == sorted(plain.requested())
    assert threading.get_ident() not in threaded.threads


# --------------------------------------------------------------- errors
def test_arguments_keras_refuses_with_a_py_dataset():
    model = regressor()
    data = Batches()
    with pytest.raises(ValueError, match=r"fit: when x is a PyDataset \(Batches\), `y` should not be passed"):
        model.fit(data, data.y, verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: when x is a PyDataset \(Batches\), `sample_weight` should not"):
        model.evaluate(data, sample_weight=data.weights, verbose=0)
    with pytest.raises(ValueError, match=r"fit: validation_split is only supported for tensors or NumPy arrays.*"
                                         r"Received: x of type Batches"):
        model.fit(data, validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match=r"fit: do not pass batch_size with a PyDataset \(Batches\).*batch_size=8"):
        model.fit(data, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"fit: steps_per_epoch must be a positive int. Received: steps_per_epoch=0"):
        model.fit(data, steps_per_epoch=0, verbose=0)


@pytest.mark.parametrize("bad, received", [(3, "int"), ((1, 2, 3, 4), "a tuple of 4"), ((), "a tuple of 0")])
def test_a_wrong_batch_structure_names_the_class_and_the_index(bad, received):
    class Wrong(Batches):
        def __getitem__(self, index):
            return bad if index == 2 else super().__getitem__(index)

    with pytest.raises(ValueError, match=rf"fit: Wrong.__getitem__\(2\) must return a tuple or a dict.*"
                                         rf"Received: {received}"):
        regressor().fit(Wrong(), shuffle=False, verbose=0)


def test_an_error_inside_getitem_keeps_its_type_and_names_the_batch():
    class Broken(Batches):
        def __getitem__(self, index):
            if index == 3:
                raise IndexError("no file for sample 12")
            return super().__getitem__(index)

    for workers in (1, 2):
        with pytest.raises(IndexError, match=r"no file for sample 12") as caught:
            regressor().fit(Broken(workers=workers), shuffle=False, verbose=0)
        assert "fit: raised by Broken.__getitem__(3)." in getattr(caught.value, "__notes__", [])


def test_a_batch_of_the_wrong_shape_names_the_batch():
    class Narrow(Batches):
        def __getitem__(self, index):
            x, y = super().__getitem__(index)
            return (x[:, :2] if index == 1 else x), y

    with pytest.raises(ValueError, match=r"expected shape=\(None, 3\), found shape=\(4, 2\)") as caught:
        regressor().fit(Narrow(), shuffle=False, verbose=0)
    assert "fit: in the batch returned by Narrow.__getitem__(1)." in caught.value.__notes__


def test_bad_lengths_are_refused():
    class Sized(Batches):
        def __init__(self, length):
            super().__init__()
            self.length = length

        def __len__(self):
            return self.length

    with pytest.raises(ValueError, match=r"fit: Sized has no batches \(its length is 0\)"):
        regressor().fit(Sized(0), verbose=0)

    class Fractional(Batches):
        @property
        def num_batches(self):
            return 2.5

    with pytest.raises(TypeError, match=r"predict: Fractional.num_batches \(or len\) must be a non-negative int.*2.5"):
        regressor().predict(Fractional(), verbose=0)
    assert math.isfinite(regressor().evaluate(Batches(batches=1), verbose=0))
