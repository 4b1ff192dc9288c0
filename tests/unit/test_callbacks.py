"""Callbacks: History, EarlyStopping, LambdaCallback, ProgbarLogger and the hook order of fit.

EarlyStopping's rules are driven directly with scripted monitored values (so
each rule is tested exactly), then inside real fits, and once against
tf.keras's EarlyStopping on the same model and data (marker ``parity``).
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import callbacks, layers


class ScriptedModel:
    """Just enough of a model for a callback: weights that record the epoch, compiled metrics."""

    def __init__(self, metrics=()):
        self.stop_training = False
        self.epoch = -1
        self.restored = None
        self._metric_objects = [(metric.name, 0, metric) for metric in metrics]

    def get_weights(self):
        return [np.array(self.epoch)]

    def set_weights(self, weights):
        self.restored = int(weights[0])


def run_scripted(callback, values, monitor="val_loss", metrics=()):
    """Feed ``values`` as the monitored log, one per epoch; return (epochs run, model)."""
    model = ScriptedModel(metrics)
    callback.set_model(model)
    callback.on_train_begin()
    epochs = 0
    for epoch, value in enumerate(values):
        model.epoch = epoch
        callback.on_epoch_end(epoch, {monitor: value, "loss": 0.0})
        epochs += 1
        if model.stop_training:
            break
    callback.on_train_end()
    return epochs, model


# ---------------------------------------------------------- EarlyStopping
@pytest.mark.parametrize(
    "patience, values, epochs",
    # Keras counts the epoch being judged, so patience 0 and 1 both stop at the first
    # epoch without improvement.
    [(0, [3.0, 2.0, 2.5, 1.0], 3), (1, [3.0, 2.0, 2.5, 1.0], 3), (1, [3.0, 2.0, 1.0, 0.5], 4),
     (2, [3.0, 2.0, 2.5, 2.5, 1.0], 4), (3, [5.0, 4.0, 3.0, 2.0], 4)],
)
def test_early_stopping_patience(patience, values, epochs):
    stopper = callbacks.EarlyStopping(patience=patience)
    ran, model = run_scripted(stopper, values)
    assert ran == epochs
    assert model.stop_training == (epochs < len(values))
    assert stopper.stopped_epoch == (epochs - 1 if model.stop_training else 0)


def test_early_stopping_improvement_is_strict():
    # Equal to the best is not an improvement.
    assert run_scripted(callbacks.EarlyStopping(patience=0), [1.0, 1.0, 0.5])[0] == 2
    # An improvement of exactly min_delta is not enough; more than min_delta is.
    assert run_scripted(callbacks.EarlyStopping(min_delta=0.5, patience=0), [2.0, 1.5, 1.0])[0] == 2
    assert run_scripted(callbacks.EarlyStopping(min_delta=0.5, patience=0), [2.0, 1.25, 0.5])[0] == 3
    # A negative min_delta means the same as its absolute value, as in Keras.
    assert run_scripted(callbacks.EarlyStopping(min_delta=-0.5, patience=0), [2.0, 1.5, 1.0])[0] == 2


@pytest.mark.parametrize("monitor, metric", [
    ("val_accuracy", cl.metrics.Accuracy()), ("accuracy", cl.metrics.SparseCategoricalAccuracy(name="accuracy")),
    ("val_acc", cl.metrics.BinaryAccuracy(name="acc")), ("val_binary_accuracy", cl.metrics.BinaryAccuracy()),
    ("top_k_categorical_accuracy", cl.metrics.TopKCategoricalAccuracy()),
])
def test_early_stopping_mode_auto_maximizes_a_compiled_accuracy(monitor, metric):
    """As Keras: the direction comes from the compiled metric of that name, not from the name's spelling."""
    assert run_scripted(callbacks.EarlyStopping(monitor=monitor), [0.5, 0.6, 0.7, 0.8], monitor, [metric])[0] == 4
    assert run_scripted(callbacks.EarlyStopping(monitor=monitor), [0.7, 0.6, 0.8], monitor, [metric])[0] == 2


def test_early_stopping_mode_auto_raises_where_keras_cannot_tell_the_direction():
    for monitor, metrics in (("val_accuracy", ()), ("val_los", ()), ("out_loss", ()),
                             ("val_mean", (cl.metrics.Mean(name="mean"),))):
        with pytest.raises(ValueError, match=rf"received monitor={monitor}, but course_lib \(like Keras\) isn't able"):
            run_scripted(callbacks.EarlyStopping(monitor=monitor), [0.5], monitor, metrics)


def test_early_stopping_explicit_modes():
    assert run_scripted(callbacks.EarlyStopping(mode="max"), [1.0, 2.0, 3.0])[0] == 3
    assert run_scripted(callbacks.EarlyStopping(mode="min", monitor="val_accuracy"), [0.5, 0.6], "val_accuracy")[0] == 2
    mae = [cl.metrics.MeanAbsoluteError(name="mae")]
    assert run_scripted(callbacks.EarlyStopping(monitor="val_mae"), [0.5, 0.4, 0.45], "val_mae", mae)[0] == 3


def test_restore_best_weights_at_the_end_even_without_stopping():
    ran, model = run_scripted(callbacks.EarlyStopping(patience=10, restore_best_weights=True), [3.0, 1.0, 2.0, 2.5])
    assert ran == 4 and not model.stop_training
    assert model.restored == 1
    ran, model = run_scripted(callbacks.EarlyStopping(patience=1, restore_best_weights=True), [3.0, 1.0, 2.0, 2.5])
    assert ran == 3 and model.restored == 1
    _, model = run_scripted(callbacks.EarlyStopping(patience=1), [3.0, 1.0, 2.0, 2.5])
    assert model.restored is None


def test_early_stopping_baseline_and_start_from_epoch():
    # Without a baseline the improving first epochs reset the wait; with one they do not.
    assert run_scripted(callbacks.EarlyStopping(patience=2), [0.8, 0.9, 0.85, 0.95])[0] == 3
    assert run_scripted(callbacks.EarlyStopping(patience=2, baseline=0.5), [0.8, 0.9, 0.85, 0.95])[0] == 2
    # The first start_from_epoch epochs are not watched at all.
    assert run_scripted(callbacks.EarlyStopping(patience=0), [1.0, 2.0, 3.0, 4.0])[0] == 2
    assert run_scripted(callbacks.EarlyStopping(patience=0, start_from_epoch=2), [1.0, 2.0, 3.0, 4.0])[0] == 4


def test_early_stopping_verbose_messages(capsys):
    run_scripted(callbacks.EarlyStopping(patience=1, verbose=1, restore_best_weights=True), [3.0, 1.0, 2.0, 2.5])
    assert capsys.readouterr().out.splitlines() == [
        "Epoch 3: early stopping", "Restoring model weights from the end of the best epoch: 2.",
    ]


def test_early_stopping_warns_and_skips_a_missing_monitor():
    stopper = callbacks.EarlyStopping(monitor="val_los", mode="min")
    stopper.on_train_begin()
    with pytest.warns(UserWarning, match=r"monitor='val_los' is not in this epoch's logs.*\['loss', 'val_loss'\]"):
        stopper.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.0})
    assert stopper.best is None and stopper.wait == 0


def test_early_stopping_with_validation_freq_skips_epochs_without_validation():
    model = cl.Sequential([cl.Input((2,)), cl.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.ones((10, 2), "float32")
    with pytest.warns(UserWarning, match="val_loss"):
        history = model.fit(x, x[:, :1], validation_split=0.2, validation_freq=2, epochs=4, verbose=0,
                            callbacks=[cl.callbacks.EarlyStopping(patience=5)])
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2


def test_early_stopping_errors():
    with pytest.warns(UserWarning, match=r"EarlyStopping mode 'maximum' is unknown, fallback to auto mode"):
        assert callbacks.EarlyStopping(mode="maximum").mode == "auto"
    with pytest.raises(ValueError, match=r"EarlyStopping: patience must be an int >= 0\. Received: patience=-1"):
        callbacks.EarlyStopping(patience=-1)


def _regression(samples=64, seed=0):
    generator = np.random.default_rng(seed)
    x = generator.standard_normal((samples, 5)).astype("float32")
    y = (x @ generator.standard_normal((5, 1)) + 0.3 * generator.standard_normal((samples, 1))).astype("float32")
    return x, y


def test_early_stopping_inside_fit_restores_the_best_epoch():
    x, y = _regression()
    model = cl.Sequential([cl.Input((5,)), layers.Dense(8, activation="tanh"), layers.Dense(1)])
    # A learning rate this large makes the validation loss bounce, so the best epoch is not the last.
    model.compile(cl.optimizers.SGD(learning_rate=0.3), "mse")
    snapshots = []
    recorder = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    stopper = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=30, batch_size=8, validation_split=0.25, shuffle=False, verbose=0,
                        callbacks=[recorder, stopper]).history
    best = int(np.argmin(history["val_loss"]))
    assert stopper.best_epoch == best
    assert len(history["loss"]) == len(snapshots) <= 30
    for restored, saved in zip(model.get_weights(), snapshots[best]):
        np.testing.assert_array_equal(restored, saved)


@pytest.mark.parity
def test_early_stopping_matches_keras():
    tf = pytest.importorskip("tensorflow")
    keras = tf.keras
    x, y = _regression()
    keras_model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    ours = cl.testing.from_keras(keras_model)
    keras_model.compile(keras.optimizers.SGD(learning_rate=0.05), "mse")
    ours.compile(cl.optimizers.SGD(learning_rate=0.05), "mse")
    kwargs = dict(epochs=40, batch_size=16, shuffle=False, verbose=0, validation_split=0.25)
    # With these settings the improvements that decide the stop differ from min_delta by
    # >= 9e-4, far above the ~1e-7 float32 drift between the two libraries.
    keras_stopper = keras.callbacks.EarlyStopping(min_delta=0.01, patience=2, restore_best_weights=True)
    our_stopper = callbacks.EarlyStopping(min_delta=0.01, patience=2, restore_best_weights=True)
    expected = keras_model.fit(x, y, callbacks=[keras_stopper], **kwargs).history
    received = ours.fit(x, y, callbacks=[our_stopper], **kwargs).history
    assert len(received["loss"]) == len(expected["loss"]) < 40
    assert our_stopper.stopped_epoch == keras_stopper.stopped_epoch
    assert our_stopper.best_epoch == keras_stopper.best_epoch
    np.testing.assert_allclose(received["val_loss"], expected["val_loss"], rtol=2e-4, atol=2e-5)
    for mine, theirs in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=2e-4, atol=2e-5)


# ---------------------------------------------------- other callbacks, hooks
class HookRecorder(callbacks.Callback):
    """Records every hook called, and the logs it got (Keras passes a dict to every hook)."""

    def __init__(self):
        super().__init__()
        self.calls = []
        self.logs = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            calls = object.__getattribute__(self, "calls")
            logs = object.__getattribute__(self, "logs")

            def record(*args, **kwargs):
                calls.append(name)
                logs.append(kwargs.get("logs", args[-1] if args else None))

            return record
        return object.__getattribute__(self, name)


def test_fit_calls_the_hooks_in_keras_order():
    x = np.ones((6, 2), dtype="float32")
    y = np.ones(6, dtype="float32")
    model = cl.Sequential([cl.Input((2,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    recorder = HookRecorder()
    model.fit(x, y, epochs=1, batch_size=4, validation_data=(x, y), callbacks=[recorder], verbose=0)
    assert recorder.calls == [
        "on_train_begin", "on_epoch_begin",
        "on_train_batch_begin", "on_train_batch_end", "on_train_batch_begin", "on_train_batch_end",
        "on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_batch_begin", "on_test_batch_end",
        "on_test_end", "on_epoch_end", "on_train_end",
    ]
    assert recorder.params["epochs"] == 1 and recorder.model is model
    assert all(isinstance(logs, dict) for logs in recorder.logs), recorder.logs
    recorder.calls.clear()
    model.evaluate(x, y, batch_size=6, callbacks=[recorder], verbose=0)
    model.predict(x, batch_size=6, callbacks=[recorder], verbose=0)
    assert recorder.calls == [
        "on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end",
        "on_predict_begin", "on_predict_batch_begin", "on_predict_batch_end", "on_predict_end",
    ]


def test_stop_training_from_a_callback_ends_the_epoch_early():
    x = np.ones((40, 2), dtype="float32")
    model = cl.Sequential([cl.Input((2,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    steps = []

    def stop_after_two(batch, logs):
        steps.append(batch)
        if batch == 1:
            model.stop_training = True

    history = model.fit(x, x[:, 0], epochs=5, batch_size=4, verbose=0,
                        callbacks=[callbacks.LambdaCallback(on_train_batch_end=stop_after_two)])
    assert steps == [0, 1] and len(history.history["loss"]) == 1


def test_lambda_callback_and_history():
    x = np.ones((8, 2), dtype="float32")
    model = cl.Sequential([cl.Input((2,)), layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    seen = []
    hook = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, sorted(logs))))
    history = model.fit(x, x[:, 0], epochs=2, verbose=0, callbacks=[hook])
    assert seen == [(0, ["loss", "mae"]), (1, ["loss", "mae"])]
    assert isinstance(history, callbacks.History)
    assert history.epoch == [0, 1]
    assert all(isinstance(v, float) for v in history.history["loss"])
    with pytest.raises(ValueError, match=r"LambdaCallback: unknown hook 'on_epoch_finish'"):
        callbacks.LambdaCallback(on_epoch_finish=print)


def test_progbar_logger_prints_epochs(capsys):
    logger = callbacks.ProgbarLogger(verbose=2)
    logger.set_params({"epochs": 2, "steps": 3})
    logger.on_epoch_begin(0)
    for step in range(3):
        logger.on_train_batch_end(step, {"loss": 1.0})
    logger.on_epoch_end(0, {"loss": 0.5})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2"
    assert lines[1].startswith("3/3 - ") and lines[1].endswith(" - loss: 0.5000")
