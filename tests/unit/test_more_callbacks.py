"""BackupAndRestore and SwapEMAWeights: resuming an interrupted fit exactly, swapping in the averages."""
import json
import os

import numpy as np
import pytest

import course_lib as cl
from course_lib import callbacks, optimizers


class Interrupt(callbacks.Callback):
    """Raises at the start of epoch ``at`` (a crash mid-fit)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise RuntimeError("Interrupting!")


def _data(seed=0, samples=24):
    generator = np.random.default_rng(seed)
    return generator.standard_normal((samples, 4)).astype("float32"), generator.standard_normal((samples, 2)).astype("float32")


def _model(optimizer=None, seed=7):
    cl.backend.set_seed(seed)
    model = cl.Sequential([cl.Input((4,)), cl.layers.Dense(5, activation="tanh"), cl.layers.Dense(2)])
    model.compile(optimizer or optimizers.Adam(learning_rate=0.05), "mse")
    return model


FIT = dict(batch_size=8, shuffle=False, verbose=0)


def _state(model):
    return ([w.copy() for w in model.get_weights()],
            [np.asarray(v).copy() for v in model.optimizer.variables], model.optimizer.iterations)


def _assert_same_state(first, second):
    for a, b in zip(first[0] + first[1], second[0] + second[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert first[2] == second[2]


# --------------------------------------------------------------------------
# BackupAndRestore
# --------------------------------------------------------------------------

@pytest.mark.parametrize("make_optimizer", [lambda: optimizers.Adam(learning_rate=0.05),
                                            lambda: optimizers.Lion(learning_rate=0.01, use_ema=True)],
                         ids=["adam", "lion-ema"])
def test_an_interrupted_fit_resumes_at_the_right_epoch_with_the_same_state(tmp_path, make_optimizer):
    x, y = _data()
    reference = _model(make_optimizer())
    uninterrupted = reference.fit(x, y, epochs=5, **FIT).history["loss"]

    model = _model(make_optimizer())
    backup = callbacks.BackupAndRestore(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="Interrupting!"):
        model.fit(x, y, epochs=5, callbacks=[backup, Interrupt(3)], **FIT)
    # Three epochs done and backed up: Keras's two files.
    assert sorted(os.listdir(tmp_path / "backup")) == ["latest.weights.h5", "training_metadata.json"]
    assert json.loads((tmp_path / "backup" / "training_metadata.json").read_text()) == {"epoch": 3, "batch": 0}

    # A fresh process: a new model (other initial weights) and optimizer, the same backup directory.
    resumed_model = _model(make_optimizer(), seed=99)
    seen = []
    history = resumed_model.fit(x, y, epochs=5, callbacks=[callbacks.BackupAndRestore(tmp_path / "backup"),
                                                           callbacks.LambdaCallback(
                                                               on_epoch_begin=lambda e, logs: seen.append(e))],
                                **FIT)
    assert seen == [3, 4] and history.epoch == [3, 4]
    np.testing.assert_array_equal(history.history["loss"], uninterrupted[3:])
    _assert_same_state(_state(resumed_model), _state(reference))
    assert not os.path.exists(tmp_path / "backup")  # delete_checkpoint=True


def test_fit_ends_with_the_averages_in_the_weights():
    x, y = _data()
    model = _ema_model()
    model.fit(x, y, epochs=2, **FIT)
    for weight, average in zip(model.get_weights(), model.optimizer._model_variables_moving_average):
        np.testing.assert_array_equal(weight, average)


def test_a_fit_without_backup_starts_at_zero_and_keeps_nothing_when_asked(tmp_path):
    x, y = _data()
    model = _model()
    history = model.fit(x, y, epochs=2, callbacks=[callbacks.BackupAndRestore(tmp_path / "b", delete_checkpoint=False)],
                        **FIT)
    assert history.epoch == [0, 1]
    assert json.loads((tmp_path / "b" / "training_metadata.json").read_text())["epoch"] == 2


def test_save_freq_in_batches_backs_up_mid_epoch_and_resumes_at_that_epoch(tmp_path):
    x, y = _data(samples=24)  # 3 batches per epoch
    model = _model()
    saves = []
    backup = callbacks.BackupAndRestore(tmp_path / "b", save_freq=2)
    original = backup._save_model
    backup._save_model = lambda: (saves.append(model.optimizer.iterations), original())
    with pytest.raises(RuntimeError):
        model.fit(x, y, epochs=3, callbacks=[backup, Interrupt(2)], **FIT)
    assert saves == [2, 4, 6]  # every second batch, across the epochs
    # The last backup was taken after batch 2 of epoch 1 (6 steps): epoch 1 finished, so resume at epoch 2.
    assert json.loads((tmp_path / "b" / "training_metadata.json").read_text()) == {"epoch": 1, "batch": 2}
    resumed = _model(seed=5)
    history = resumed.fit(x, y, epochs=3, callbacks=[callbacks.BackupAndRestore(tmp_path / "b")], **FIT)
    assert history.epoch == [1, 2]  # as Keras: the epoch is restarted from the mid-epoch weights
    assert resumed.optimizer.iterations == 6 + 6


def test_double_checkpoint_falls_back_to_the_previous_backup(tmp_path):
    x, y = _data()
    model = _model()
    with pytest.raises(RuntimeError):
        model.fit(x, y, epochs=4, callbacks=[callbacks.BackupAndRestore(tmp_path / "b", double_checkpoint=True),
                                             Interrupt(2)], **FIT)
    assert sorted(os.listdir(tmp_path / "b")) == ["latest.weights.h5", "latest.weights.h5.bkp",
                                                  "training_metadata.json", "training_metadata.json.bkp"]
    (tmp_path / "b" / "latest.weights.h5").write_bytes(b"not an HDF5 file")
    history = _model(seed=3).fit(x, y, epochs=4, callbacks=[callbacks.BackupAndRestore(tmp_path / "b")], **FIT)
    assert history.epoch == [1, 2, 3]  # the previous backup: one epoch done

    # Without a previous backup the error is raised.
    with pytest.raises(RuntimeError):
        _model().fit(x, y, epochs=4, callbacks=[callbacks.BackupAndRestore(tmp_path / "c", delete_checkpoint=False),
                                                Interrupt(2)], **FIT)
    (tmp_path / "c" / "latest.weights.h5").write_bytes(b"broken")
    with pytest.raises(OSError):
        _model().fit(x, y, epochs=4, callbacks=[callbacks.BackupAndRestore(tmp_path / "c")], **FIT)


def test_backup_and_restore_errors_name_the_callback(tmp_path):
    with pytest.raises(ValueError, match="BackupAndRestore: empty `backup_dir`"):
        callbacks.BackupAndRestore("")
    with pytest.raises(ValueError, match=r"BackupAndRestore: invalid value for argument `save_freq`. Received: save_freq='batch'"):
        callbacks.BackupAndRestore(tmp_path, save_freq="batch")
    with pytest.raises(ValueError, match="save_freq=True"):
        callbacks.BackupAndRestore(tmp_path, save_freq=True)
    backup = callbacks.BackupAndRestore(tmp_path / "b")
    unbuilt = cl.Sequential([cl.layers.Dense(2)])
    backup.set_model(unbuilt)
    with pytest.raises(ValueError, match="BackupAndRestore: .*your model must be built before you call `fit\\(\\)`"):
        backup.on_train_begin()


# --------------------------------------------------------------------------
# use_ema and SwapEMAWeights
# --------------------------------------------------------------------------

def test_the_moving_average_of_the_weights():
    weights = [np.array([1.0, 2.0]), np.array([[3.0]])]
    optimizer = optimizers.SGD(learning_rate=0.5, use_ema=True, ema_momentum=0.75)
    optimizer.apply([np.array([1.0, 1.0]), np.array([[2.0]])], weights)
    average = optimizer.variables[:2]
    # The first step: the average is the updated weights.
    np.testing.assert_array_equal(average[0], [0.5, 1.5])
    np.testing.assert_array_equal(average[1], [[2.0]])
    with pytest.warns(UserWarning, match="gradients do not exist for variables at positions \\[1\\]"):
        optimizer.apply([np.array([1.0, 1.0]), None], weights)  # the weight without gradient is averaged too
    np.testing.assert_allclose(average[0], 0.75 * np.array([0.5, 1.5]) + 0.25 * np.array([0.0, 1.0]))
    np.testing.assert_array_equal(average[1], [[2.0]])
    optimizer.finalize_variable_values(weights)
    np.testing.assert_array_equal(weights[0], average[0])
    assert optimizers.SGD(use_ema=False).finalize_variable_values(weights) is None


def test_ema_overwrite_frequency_writes_the_averages_into_the_weights():
    weights = [np.zeros(3)]
    optimizer = optimizers.SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2)
    optimizer.apply([-np.ones(3)], weights)  # step 1: w = 1, average = 1
    optimizer.apply([-np.ones(3)], weights)  # step 2: w = 2, average = 1.5, then w = 1.5
    np.testing.assert_array_equal(weights[0], [1.5] * 3)
    optimizer.apply([-np.ones(3)], weights)  # step 3: w = 2.5 (no overwrite)
    np.testing.assert_array_equal(weights[0], [2.5] * 3)


def test_ema_arguments_are_checked_as_in_keras():
    with pytest.raises(ValueError, match=r"Adam: `ema_momentum` must be a finite float in \[0, 1\]. Received: ema_momentum=1.5"):
        optimizers.Adam(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match=r"SGD: `ema_overwrite_frequency` must be an integer >= 1 or None. Received: ema_overwrite_frequency=0"):
        optimizers.SGD(use_ema=True, ema_overwrite_frequency=0)
    with pytest.raises(TypeError, match=r"Lion: `use_ema` must be True or False. Received: use_ema=1"):
        optimizers.Lion(use_ema=1)
    # As Keras: checked only when the averages are on.
    assert optimizers.SGD(use_ema=False, ema_momentum=5).ema_momentum == 5
    config = optimizers.Adam(use_ema=True, ema_momentum=0.9).get_config()
    assert (config["use_ema"], config["ema_momentum"], config["ema_overwrite_frequency"]) == (True, 0.9, None)
    assert optimizers.Adam.from_config(config).get_config() == config
    assert "use_ema" not in optimizers.Adam().get_config()


def _ema_model(swap_seed=7):
    return _model(optimizers.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.5), seed=swap_seed)


def test_swap_ema_weights_evaluates_with_the_averages_and_swaps_back():
    x, y = _data()
    model = _ema_model()
    for _ in range(4):  # not fit, which ends by writing the averages into the weights
        model.train_on_batch(x, y)
    optimizer = model.optimizer
    weights = [w.copy() for w in model.get_weights()]
    averages = [a.copy() for a in optimizer._model_variables_moving_average]
    assert any(np.max(np.abs(w - a)) > 1e-4 for w, a in zip(weights, averages))
    seen = []
    probe = callbacks.LambdaCallback(on_test_batch_begin=lambda batch, logs: seen.append(model.get_weights()))
    with_ema = model.evaluate(x, y, verbose=0, callbacks=[callbacks.SwapEMAWeights(), probe])
    for inside, average in zip(seen[0], averages):
        np.testing.assert_allclose(inside, average, rtol=1e-6, atol=1e-7)
    for after, before in zip(model.get_weights(), weights):  # swapped back (rounding of the additions only)
        np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-7)
    assert with_ema != pytest.approx(model.evaluate(x, y, verbose=0))


def test_swap_on_epoch_shows_the_averages_to_the_next_callbacks(tmp_path):
    x, y = _data()
    model = _ema_model()
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}.weights.h5"), save_weights_only=True)
    model.fit(x, y, epochs=2, callbacks=[callbacks.SwapEMAWeights(swap_on_epoch=True), checkpoint], **FIT)
    # After the last epoch the averages are in the model and copied back into the optimizer (as Keras).
    for weight, average in zip(model.get_weights(), model.optimizer._model_variables_moving_average):
        np.testing.assert_array_equal(weight, average)
    saved = _ema_model()
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer"):  # unbuilt: as Keras
        saved.load_weights(tmp_path / "e2.weights.h5")
    for mine, theirs in zip(saved.get_weights(), model.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-7)


def test_swap_ema_weights_needs_use_ema():
    x, y = _data()
    model = _model(optimizers.SGD())
    with pytest.raises(ValueError, match=r"SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. Received: use_ema=False"):
        model.fit(x, y, epochs=1, validation_data=(x, y), callbacks=[callbacks.SwapEMAWeights()], **FIT)
