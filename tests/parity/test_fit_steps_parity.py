"""``steps_per_epoch`` over arrays, through tf.keras and course_lib: the same batches in the same epochs.

Keras's EpochIterator keeps its place between epochs when ``steps_per_epoch``
is smaller than the number of batches (the next epoch goes on where the last
stopped, a new pass starts once every batch was seen) and warns when an
epoch runs out of batches before its steps. The model (SGD at learning rate
0, a Dense kernel of ones, the MAE of ``x`` against 0) reports the running mean
of ``x`` over the batches of each epoch, so the logged losses say which
batches each library took.
"""
import warnings

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

X = np.arange(50, dtype="float32").reshape(50, 1)  # five batches of ten: means 4.5, 14.5, ..., 44.5
Y = np.zeros((50, 1), "float32")


def _identity(lib, custom_step=False):
    if not custom_step:
        model = lib.Sequential([lib.Input((1,)), lib.layers.Dense(1, kernel_initializer="ones", use_bias=False)])
    else:
        class FirstSample(lib.Model):  # a train_step that reports the first sample of its batch
            def __init__(self):
                super().__init__()
                self.dense = lib.layers.Dense(1, kernel_initializer="ones", use_bias=False)

            def call(self, inputs):
                return self.dense(inputs)

            def train_step(self, data):
                return {"first": data[0][0, 0]}

        model = FirstSample()
    model.compile(optimizer=lib.optimizers.SGD(0.0), loss="mae")
    return model


def _fit(lib, custom_step=False, **kwargs):
    model = _identity(lib, custom_step)
    seen = []
    key = "first" if custom_step else "loss"

    class Record(lib.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

        def on_train_batch_end(self, batch, logs=None):
            seen.append(round(float(logs[key]), 3))

        def on_epoch_end(self, epoch, logs=None):
            seen.append("|")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(X, Y, batch_size=10, verbose=0, callbacks=[Record()], shuffle=False, **kwargs)
    ran_out = sum("Your input ran out of data" in str(w.message) for w in caught)
    logs = {name: [round(float(v), 3) for v in values] for name, values in history.history.items()}
    return seen, logs, ran_out


@pytest.mark.parametrize("steps", [1, 2, 3, 5, 7])
def test_steps_per_epoch_over_arrays_takes_keras_s_batches(steps):
    kwargs = dict(steps_per_epoch=steps, epochs=4, validation_data=(X, Y), validation_steps=2)
    assert _fit(cl, **kwargs) == _fit(keras, **kwargs)


def test_steps_per_epoch_with_validation_split_and_validation_steps_matches_keras():
    kwargs = dict(steps_per_epoch=2, epochs=3, validation_split=0.4, validation_steps=1)
    ours = _fit(cl, **kwargs)
    assert ours == _fit(keras, **kwargs)
    assert ours[1]["val_loss"] == [34.5] * 3  # one validation batch, the first of the held-out samples


def test_a_custom_train_step_gets_keras_s_batches_with_steps_per_epoch():
    kwargs = dict(steps_per_epoch=3, epochs=3)
    ours = _fit(cl, custom_step=True, **kwargs)
    assert ours == _fit(keras, custom_step=True, **kwargs)
    assert [v for v in ours[0] if isinstance(v, float)] == [0, 10, 20, 30, 40, 0, 10, 20]


def test_evaluate_with_more_steps_than_batches_warns_as_keras_does():
    results = []
    for lib in (keras, cl):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loss = _identity(lib).evaluate(X, Y, batch_size=10, steps=7, verbose=0)
        results.append((round(float(loss), 3), sum("ran out of data" in str(w.message) for w in caught)))
    assert results[0] == results[1] == (24.5, 1)


@pytest.fixture
def capped():
    """keras.config's debugging caps set to 2 epochs and 2 steps in both libraries, then lifted."""
    for lib in (keras, cl):
        lib.config.set_max_epochs(2)
        lib.config.set_max_steps_per_epoch(2)
    yield
    for lib in (keras, cl):
        lib.config.set_max_epochs(None)
        lib.config.set_max_steps_per_epoch(None)


def test_the_debugging_caps_limit_fit_evaluate_and_predict_as_keras_s_do(capped):
    results = []
    for lib in (keras, cl):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fitted = _fit(lib, epochs=4, validation_data=(X, Y))
            predicted = _identity(lib).predict(X, batch_size=10, verbose=0)
            loss = _identity(lib).evaluate(X, Y, batch_size=10, verbose=0)
            _identity(lib).fit(X, Y, epochs=5, verbose=0)
        said = sorted({str(w.message) for w in caught if str(w.message).startswith("Limiting")})
        results.append((fitted, predicted.tolist(), round(float(loss), 3), said))
    assert results[0] == results[1]
    fitted, predicted, loss, said = results[1]
    assert fitted[1]["loss"] == [9.5, 29.5]  # two epochs of two batches, the second going on after the first
    assert len(predicted) == 20 and loss == 9.5
    assert said == ["Limiting epochs to 2", "Limiting steps_per_epoch to 2"]
