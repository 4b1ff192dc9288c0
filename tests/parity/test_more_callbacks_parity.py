"""BackupAndRestore and SwapEMAWeights against tf.keras, run in the same test on the same weights.

A backup written by one library resumes in the other (Keras's ``latest.weights.h5`` with the
optimizer's state, and ``training_metadata.json``), and the resumed run ends where an uninterrupted
tf.keras run ends. SwapEMAWeights: fit histories (validation computed with the averages) and the
final weights (the averages, written by ``fit`` at its end) equal tf.keras's. Measured within
1.2e-7 (relative) on the histories and 1.8e-7 (absolute) on the weights; asserted at rtol 1e-5 /
atol 1e-6, the project's fit tolerance.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6
FIT = dict(batch_size=8, shuffle=False, verbose=0)


def _data(seed=0, samples=32):
    generator = np.random.default_rng(seed)
    return generator.standard_normal((samples, 5)).astype("float32"), generator.integers(0, 3, samples)


def _pair(make_optimizer):
    """A tf.keras model and its course_lib copy (same weights), compiled with the same optimizer."""
    keras.utils.set_random_seed(0)
    theirs = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="tanh"),
                               keras.layers.Dense(3, activation="softmax")])
    ours = cl.testing.from_keras(theirs)
    theirs.compile(make_optimizer(keras), "sparse_categorical_crossentropy", metrics=["accuracy"])
    ours.compile(make_optimizer(cl), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return ours, theirs


def _interrupt(library, at):
    class Interrupt(library.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == at:
                raise RuntimeError("Interrupting!")
    return Interrupt()


def _assert_weights_close(ours, theirs):
    for mine, reference in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=RTOL, atol=ATOL)


def _adam(library):
    return library.optimizers.Adam(learning_rate=0.05)


@pytest.mark.parametrize("first, then", [("keras", "course_lib"), ("course_lib", "keras")])
def test_a_backup_from_one_library_resumes_in_the_other(first, then, tmp_path):
    x, y = _data()
    reference, _ = _pair(_adam)[::-1]
    uninterrupted = reference.fit(x, y, epochs=4, **FIT).history

    ours, theirs = _pair(_adam)
    models = {"keras": (theirs, keras), "course_lib": (ours, cl)}
    model, library = models[first]
    with pytest.raises(RuntimeError, match="Interrupting!"):
        model.fit(x, y, epochs=4, callbacks=[library.callbacks.BackupAndRestore(str(tmp_path / "b")),
                                             _interrupt(library, 2)], **FIT)
    model, library = models[then]  # the other library's model: still its initial weights, a fresh optimizer
    history = model.fit(x, y, epochs=4, callbacks=[library.callbacks.BackupAndRestore(str(tmp_path / "b"))], **FIT)
    assert history.epoch == [2, 3]
    for key in uninterrupted:
        np.testing.assert_allclose(history.history[key], uninterrupted[key][2:], rtol=RTOL, atol=ATOL, err_msg=key)
    _assert_weights_close(model, reference)
    iterations = model.optimizer.iterations
    assert int(getattr(iterations, "numpy", lambda: iterations)()) == 16
    assert not (tmp_path / "b").exists()


def _ema(library):
    # SGD: with Adam, lr 0.05, one kernel element drifts by 2e-5 in 3 epochs with or without EMA
    # (Adam's m / sqrt(v) amplifies rounding where v is tiny), which would hide what is tested here.
    return library.optimizers.SGD(learning_rate=0.1, momentum=0.5, use_ema=True, ema_momentum=0.8)


@pytest.mark.parametrize("swap_on_epoch", [False, True])
def test_swap_ema_weights_fit_matches_keras(swap_on_epoch):
    x, y = _data(1)
    xv, yv = _data(2, samples=16)
    ours, theirs = _pair(_ema)
    histories = [model.fit(x, y, epochs=3, validation_data=(xv, yv),
                           callbacks=[library.callbacks.SwapEMAWeights(swap_on_epoch=swap_on_epoch)], **FIT).history
                 for model, library in ((ours, cl), (theirs, keras))]
    assert sorted(histories[0]) == sorted(histories[1])
    for key in histories[1]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=RTOL, atol=ATOL, err_msg=key)
    _assert_weights_close(ours, theirs)
    for mine, reference in zip(ours.optimizer._model_variables_moving_average,
                               theirs.optimizer._model_variables_moving_average, strict=True):
        np.testing.assert_allclose(mine, reference.numpy(), rtol=RTOL, atol=ATOL)


def test_evaluate_and_predict_with_swap_ema_weights_match_keras():
    x, y = _data(3)
    ours, theirs = _pair(_ema)
    for model in (ours, theirs):
        for start in range(0, 32, 8):  # train_on_batch: no end-of-fit write of the averages
            model.train_on_batch(x[start:start + 8], y[start:start + 8])
    _assert_weights_close(ours, theirs)
    results = [model.evaluate(x, y, verbose=0, callbacks=[library.callbacks.SwapEMAWeights()])
               for model, library in ((ours, cl), (theirs, keras))]
    np.testing.assert_allclose(results[0], results[1], rtol=RTOL, atol=ATOL)
    _assert_weights_close(ours, theirs)  # swapped back in both
    plain = ours.evaluate(x, y, verbose=0)
    assert plain[0] != pytest.approx(results[0][0])
    # Keras's on_predict_end does not swap back: after predict the averages stay in the model, in both.
    predictions = [model.predict(x, verbose=0, callbacks=[library.callbacks.SwapEMAWeights()])
                   for model, library in ((ours, cl), (theirs, keras))]
    np.testing.assert_allclose(predictions[0], predictions[1], rtol=RTOL, atol=ATOL)
    _assert_weights_close(ours, theirs)
    for weight, average in zip(ours.get_weights(), [a.numpy() for a in theirs.optimizer._model_variables_moving_average]):
        assert not np.allclose(weight, average)  # the averages were swapped with the weights
