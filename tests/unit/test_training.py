"""The training engine: compile, fit, evaluate, predict, the *_on_batch methods, generators, errors.

Whole-run agreement with tf.keras (History and weights after fit) is in
``tests/parity/test_fit_parity.py``; this file checks behaviour: which samples
validation uses, what is printed, what each method returns, and that bad
input gets an error naming what was expected and what was received.
"""
import math
import re

import numpy as np
import pytest

import course_lib as cl
from course_lib import layers


def constant_model(metrics=("mae",)):
    """Always predicts 0 and never learns: losses are plain statistics of the targets."""
    model = cl.Sequential([cl.Input((2,)), layers.Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer=cl.optimizers.SGD(learning_rate=0.0), loss="mse", metrics=list(metrics))
    return model


def classifier(metrics=("accuracy",), optimizer="adam"):
    model = cl.Sequential([cl.Input((4,)), layers.Dense(16, activation="relu"), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=list(metrics))
    return model


def blobs(samples=120, seed=0):
    """Three well separated classes in 4-D."""
    generator = np.random.default_rng(seed)
    labels = generator.integers(0, 3, samples)
    centers = 3 * np.eye(3, 4)
    x = (centers[labels] + 0.5 * generator.standard_normal((samples, 4))).astype("float32")
    return x, labels


# -------------------------------------------------------------- validation
@pytest.mark.parametrize("shuffle", [False, True])
def test_validation_split_takes_the_last_fraction_before_shuffling(shuffle):
    model = constant_model()
    x = np.ones((10, 2), dtype="float32")
    y = np.arange(10, dtype="float32")
    history = model.fit(x, y, validation_split=0.3, epochs=2, batch_size=4, shuffle=shuffle, verbose=0).history
    # Training on samples 0..6 and validating on 7, 8, 9: mse and mae of a zero prediction.
    np.testing.assert_allclose(history["loss"], [np.mean(np.arange(7) ** 2)] * 2, rtol=1e-6)
    np.testing.assert_allclose(history["mae"], [3.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(history["val_loss"], [np.mean([49, 64, 81])] * 2, rtol=1e-6)
    np.testing.assert_allclose(history["val_mae"], [8.0, 8.0], rtol=1e-6)


def test_validation_split_rounds_the_training_part_down():
    model = constant_model()
    y = np.arange(7, dtype="float32")
    history = model.fit(np.ones((7, 2)), y, validation_split=0.25, epochs=1, verbose=0).history
    # floor(7 * 0.75) = 5 training samples, the last 2 for validation (as Keras does).
    np.testing.assert_allclose(history["val_mae"], [5.5], rtol=1e-6)


def test_validation_data_is_evaluated_after_each_epoch():
    x, labels = blobs()
    x_val, labels_val = blobs(30, seed=1)
    model = classifier()
    history = model.fit(x, labels, validation_data=(x_val, labels_val), epochs=3, batch_size=16, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == [0, 1, 2] and model.history is history
    assert history.params["epochs"] == 3 and history.params["steps"] == math.ceil(120 / 16)
    loss, accuracy = model.evaluate(x_val, labels_val, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(loss, rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(accuracy)
    # validation_data wins over validation_split, as in Keras.
    both = model.fit(x, labels, validation_split=0.5, validation_data=(x_val, labels_val), epochs=1, verbose=0)
    assert both.params["steps"] == math.ceil(120 / 32)


def test_validation_freq_skips_epochs():
    x, labels = blobs(40)
    history = classifier().fit(x, labels, validation_split=0.25, validation_freq=2, epochs=4, verbose=0)
    assert len(history.history["loss"]) == 4
    assert len(history.history["val_loss"]) == 2


def test_shuffled_training_still_converges():
    x, labels = blobs()
    model = classifier(optimizer=cl.optimizers.Adam(learning_rate=0.01))
    history = model.fit(x, labels, epochs=15, batch_size=16, shuffle=True, verbose=0).history
    assert history["loss"][-1] < 0.3 * history["loss"][0]
    assert history["accuracy"][-1] > 0.95


def test_initial_epoch_counts_from_where_training_stopped():
    x, labels = blobs(32)
    history = classifier().fit(x, labels, epochs=5, initial_epoch=3, verbose=0)
    assert history.epoch == [3, 4]


# ----------------------------------------------------------------- printing
def test_verbose_0_prints_nothing(capsys):
    x, labels = blobs(32)
    model = classifier()
    model.fit(x, labels, epochs=2, verbose=0)
    model.evaluate(x, labels, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_verbose_1_prints_a_bar_per_epoch(capsys):
    x, labels = blobs(40)
    classifier().fit(x, labels, epochs=3, batch_size=16, validation_split=0.2, verbose=1)
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("Epoch")] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    bars = re.findall(
        r"^2/2 ━{20} \d+s \d+(?:ms|us)/step - accuracy: \d\.\d{4} - loss: \d+\.\d{4} - val_accuracy: \d\.\d{4}"
        r" - val_loss: \d+\.\d{4}$",
        out, flags=re.MULTILINE,
    )
    assert len(bars) == 3, out


def test_verbose_2_prints_one_line_per_epoch(capsys):
    x, labels = blobs(40)
    classifier().fit(x, labels, epochs=2, batch_size=16, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    for line in (lines[1], lines[3]):
        assert re.fullmatch(r"3/3 - \d+s - \d+(?:ms|us)/step - accuracy: \d\.\d{4} - loss: \d+\.\d{4}", line), line


def test_evaluate_and_predict_print_a_bar_with_verbose_1(capsys):
    x, labels = blobs(40)
    model = classifier()
    model.evaluate(x, labels, batch_size=20, verbose=1)
    model.predict(x, batch_size=20, verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"2/2 ━{20} \d+s \d+(?:ms|us)/step - accuracy: \d\.\d{4} - loss: \d+\.\d{4}", out[0]), out
    assert re.fullmatch(r"2/2 ━{20} \d+s \d+(?:ms|us)/step", out[1]), out


# ------------------------------------------------------------- return types
def test_return_types_without_metrics():
    x, labels = blobs(32)
    model = classifier(metrics=())
    assert model.metrics_names == ["loss"]
    assert isinstance(model.evaluate(x, labels, verbose=0), float)
    assert isinstance(model.train_on_batch(x, labels), float)
    assert isinstance(model.test_on_batch(x, labels), float)
    assert set(model.evaluate(x, labels, verbose=0, return_dict=True)) == {"loss"}


def test_return_types_with_metrics():
    x, labels = blobs(32)
    model = classifier(metrics=("accuracy", "sparse_categorical_crossentropy"))
    result = model.train_on_batch(x, labels)
    assert isinstance(result, list) and len(result) == 3
    assert model.metrics_names == ["loss", "compile_metrics"]  # Keras 3's trackers
    loss, accuracy, crossentropy = model.test_on_batch(x, labels)
    assert crossentropy == pytest.approx(loss, rel=1e-5)
    assert 0 <= accuracy <= 1
    evaluated = model.evaluate(x, labels, batch_size=32, verbose=0)
    assert evaluated == pytest.approx([loss, accuracy, crossentropy])
    as_dict = model.test_on_batch(x, labels, return_dict=True)
    assert as_dict == pytest.approx({"loss": loss, "accuracy": accuracy, "sparse_categorical_crossentropy": crossentropy})


def test_train_on_batch_takes_one_step_and_test_on_batch_none():
    x, labels = blobs(32)
    model = classifier(optimizer=cl.optimizers.SGD(learning_rate=0.5))
    before = model.get_weights()
    model.test_on_batch(x, labels)
    model.predict_on_batch(x)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    first = model.train_on_batch(x, labels)[0]
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert model.train_on_batch(x, labels)[0] < first


def test_predict_returns_arrays_in_order_and_batches_agree():
    x, _ = blobs(50)
    model = classifier()
    whole = model.predict(x, batch_size=64, verbose=0)
    pieces = model.predict(x, batch_size=7, verbose=0)
    assert isinstance(whole, np.ndarray) and whole.shape == (50, 3)
    np.testing.assert_allclose(pieces, whole, rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x), whole, rtol=1e-6)
    np.testing.assert_allclose(model(x), whole, rtol=1e-6)


def test_two_output_model_returns_lists():
    inputs = cl.Input((4,))
    hidden = layers.Dense(6, activation="relu")(inputs)
    model = cl.Model(inputs, [layers.Dense(3, activation="softmax", name="cls")(hidden),
                              layers.Dense(1, name="reg")(hidden)])
    model.compile("adam", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"}, metrics={"cls": ["accuracy"]})
    x, labels = blobs(20)
    target = np.ones((20, 1), dtype="float32")
    predictions = model.predict(x, verbose=0)
    assert isinstance(predictions, list) and [p.shape for p in predictions] == [(20, 3), (20, 1)]
    assert isinstance(model.predict_on_batch(x), list)
    result = model.train_on_batch(x, {"cls": labels, "reg": target})
    assert model.metrics_names == ["loss", "compile_metrics", "cls_loss", "reg_loss"]
    assert len(result) == 4
    assert result[0] == pytest.approx(result[1] + result[2], rel=1e-5)
    history = model.fit(x, [labels, target], epochs=1, verbose=0).history
    assert set(history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy"}


@pytest.mark.parametrize(
    "name, loss, units, activation",
    [("acc", "sparse_categorical_crossentropy", 3, "softmax"),
     ("accuracy", "categorical_crossentropy", 3, "softmax"),
     ("accuracy", "binary_crossentropy", 1, "sigmoid")],
)
def test_accuracy_is_resolved_from_the_loss_and_targets(name, loss, units, activation):
    x, labels = blobs(30)
    model = cl.Sequential([cl.Input((4,)), layers.Dense(units, activation=activation)])
    model.compile("sgd", loss, metrics=[name])
    predictions = model.predict(x, verbose=0)
    if units == 1:
        targets = (labels == 1).astype("float32")[:, None]
        expected = np.mean((predictions > 0.5) == targets)
    else:
        targets = labels if loss.startswith("sparse") else cl.utils.to_categorical(labels, 3)
        expected = np.mean(np.argmax(predictions, axis=1) == labels)
    result = model.evaluate(x, targets, verbose=0, return_dict=True)
    assert set(result) == {"loss", name}
    assert result[name] == pytest.approx(expected)


# --------------------------------------------------------------- generators
class BatchSequence:
    """Sequence-like: __len__, __getitem__ and on_epoch_end, as keras.utils.PyDataset has."""

    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.epochs_ended = 0
        self.requested = []

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        self.requested.append(index)
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]

    def on_epoch_end(self):
        self.epochs_ended += 1


def endless(x, y, batch_size, counter):
    while True:
        for start in range(0, len(x), batch_size):
            counter.append(start)
            yield x[start:start + batch_size], y[start:start + batch_size]


def test_fit_on_a_python_generator_with_steps_per_epoch():
    x, labels = blobs()
    counter = []
    model = classifier()
    history = model.fit(endless(x, labels, 20, counter), steps_per_epoch=4, epochs=3, verbose=0)
    assert len(counter) == 12
    # The generator is not restarted between epochs: epoch 2 goes on where epoch 1 stopped.
    assert counter[:8] == [0, 20, 40, 60, 80, 100, 0, 20]
    assert history.params["steps"] == 4
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_fit_on_a_sequence_calls_on_epoch_end():
    x, labels = blobs(50)
    sequence = BatchSequence(x, labels, 16)
    validation = BatchSequence(x[:20], labels[:20], 10)
    history = classifier().fit(sequence, validation_data=validation, epochs=2, verbose=0)
    assert sequence.requested == [0, 1, 2, 3] * 2
    assert sequence.epochs_ended == 2
    assert validation.requested == [0, 1] * 2
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.params["steps"] == 4


def test_validation_generator_with_validation_steps():
    x, labels = blobs(40)
    counter = []
    model = classifier()
    history = model.fit(x, labels, validation_data=endless(x, labels, 10, counter), validation_steps=2,
                        epochs=2, verbose=0)
    assert len(counter) == 4 and len(history.history["val_loss"]) == 2


def test_evaluate_and_predict_on_generators():
    x, labels = blobs(40)
    model = classifier()
    expected = model.evaluate(x, labels, batch_size=10, verbose=0)
    assert model.evaluate(endless(x, labels, 10, []), steps=4, verbose=0) == pytest.approx(expected, rel=1e-6)
    assert model.evaluate(BatchSequence(x, labels, 10), verbose=0) == pytest.approx(expected, rel=1e-6)
    inputs_only = (x[i:i + 10] for i in range(0, 40, 10))
    np.testing.assert_allclose(model.predict(inputs_only, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    as_tuples = ((x[i:i + 10],) for i in range(0, 40, 10))
    assert model.predict(as_tuples, steps=4, verbose=0).shape == (40, 3)


def test_a_generator_that_runs_out_raises_a_clear_error():
    x, labels = blobs(40)
    finite = ((x[i:i + 10], labels[i:i + 10]) for i in range(0, 40, 10))
    with pytest.raises(ValueError, match=r"fit: the generator ran out after 4 batches, but steps=5 were requested"):
        classifier().fit(finite, steps_per_epoch=5, epochs=1, verbose=0)
    finite = ((x[i:i + 10], labels[i:i + 10]) for i in range(0, 40, 10))
    with pytest.raises(ValueError, match=r"ran out after 0 batches, but steps=4"):
        classifier().fit(finite, steps_per_epoch=4, epochs=2, verbose=0)


def test_generator_errors():
    x, labels = blobs(20)
    model = classifier()
    with pytest.raises(ValueError, match=r"fit: when x is a generator or Sequence, it yields the targets.*do not pass y"):
        model.fit(endless(x, labels, 10, []), labels, steps_per_epoch=1, verbose=0)
    with pytest.raises(ValueError, match=r"fit: do not pass batch_size with a generator"):
        model.fit(endless(x, labels, 10, []), batch_size=4, steps_per_epoch=1, verbose=0)
    with pytest.raises(ValueError, match=r"validation_split is only supported for array inputs"):
        model.fit(BatchSequence(x, labels, 5), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match=r"must yield \(x, y\) tuples.*Received: ndarray"):
        model.fit((x for _ in range(3)), steps_per_epoch=1, verbose=0)


def test_fit_generator_points_to_fit():
    with pytest.raises(AttributeError, match=r"fit_generator was removed in Keras 3.*pass the generator to `fit\("):
        classifier().fit_generator(endless(*blobs(10), 5, []), steps_per_epoch=2)


# --------------------------------------------------------------- bad input
def test_fit_evaluate_before_compile():
    model = cl.Sequential([cl.Input((4,)), layers.Dense(2)])
    for method in (model.fit, model.evaluate, model.train_on_batch, model.test_on_batch):
        message = (
            rf"You must call `compile\(\)` before using "
            rf"the model \({method.__name__} was called\)"
        )
        with pytest.raises(ValueError, match=message):
            method(np.ones((2, 4)), np.ones((2, 2)))
    model.compile("sgd")
    with pytest.raises(ValueError, match=r"fit: the model was compiled without a loss; pass `loss=`"):
        model.fit(np.ones((2, 4)), np.ones((2, 2)), verbose=0)
    # predict needs no compile.
    assert model.predict(np.ones((2, 4)), verbose=0).shape == (2, 2)


def test_mismatched_x_and_y_lengths():
    message = (
        r"fit: x, y \(and sample_weight\) must have the same number of "
        r"samples\. Received: x sizes \[10\], y sizes \[9\]"
    )
    with pytest.raises(ValueError, match=message):
        constant_model().fit(np.ones((10, 2)), np.ones(9), verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: x, y \(and sample_weight\) must have the same number.*\[4\].*\[5\]"):
        constant_model().evaluate(np.ones((4, 2)), np.ones(5), verbose=0)


@pytest.mark.parametrize("split", [1.0, 1.5, -0.1])
def test_validation_split_out_of_range(split):
    with pytest.raises(ValueError, match=rf"fit: validation_split must be in \[0, 1\)\. Received: {split}"):
        constant_model().fit(np.ones((10, 2)), np.ones(10), validation_split=split, verbose=0)


def test_validation_split_leaving_an_empty_part():
    with pytest.raises(ValueError, match=r"validation_split=0\.5 leaves no samples in one part \(1 samples in all\)"):
        constant_model().fit(np.ones((1, 2)), np.ones(1), validation_split=0.5, verbose=0)


def test_bad_fit_arguments():
    model = constant_model()
    x, y = np.ones((6, 2)), np.ones(6)
    with pytest.raises(ValueError, match=r"fit: epochs must be a positive int\. Received: epochs=0"):
        model.fit(x, y, epochs=0)
    with pytest.raises(ValueError, match=r"fit: batch_size must be a positive int\. Received: batch_size=2\.5"):
        model.fit(x, y, batch_size=2.5, verbose=0)
    with pytest.raises(ValueError, match=r"fit: y \(the targets\) is required"):
        model.fit(x, verbose=0)
    with pytest.raises(ValueError, match=r"fit: pass either sample_weight or class_weight, not both"):
        model.fit(x, y, sample_weight=np.ones(6), class_weight={0: 1.0}, verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(samples,\).*Received: shape \(6, 2\)"):
        model.fit(x, y, sample_weight=np.ones((6, 2)), verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight sizes \[5\]"):
        model.fit(x, y, sample_weight=np.ones(5), verbose=0)
    with pytest.raises(TypeError, match=r"class_weight must be a dict"):
        model.fit(x, y, class_weight=[1.0, 2.0], verbose=0)
    message = (
        r"validation_data must be a tuple \(x_val, "
        r"y_val\).*Received: list of length 1"
    )
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, validation_data=[x], verbose=0)
    with pytest.raises(TypeError, match=r"fit: targets must be numeric\. Received: an array of dtype <U"):
        model.fit(x, np.array(["a"] * 6), verbose=0)
    with pytest.raises(TypeError, match=r"Model 'sequential'.*numeric array.*dtype complex128"):
        model.fit(x * 1j, y, verbose=0)
    message = (
        r"callbacks: every entry must be a "
        r"course_lib\.callbacks\.Callback\. Received: 'stop'"
    )
    with pytest.raises(TypeError, match=message):
        model.fit(x, y, callbacks=["stop"], verbose=0)


def test_bad_compile_arguments():
    model = cl.Sequential([cl.Input((4,)), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"could not interpret loss identifier 'mean_squared'"):
        model.compile("sgd", loss="mean_squared")
    with pytest.raises(ValueError, match=r"could not interpret optimizer identifier 'adamw2'"):
        model.compile("adamw2", loss="mse")
    message = (
        r"the argument `lr` was renamed "
        r"`learning_rate`.*SGD\(learning_rate=0\.1\).*Received: lr=0\.1"
    )
    with pytest.raises(ValueError, match=message):
        model.compile(cl.optimizers.SGD(lr=0.1), loss="mse")
    with pytest.raises(TypeError, match=r"compile: unrecognized keyword arguments: \['loss_weight'\]"):
        model.compile("sgd", loss="mse", loss_weight=[1.0])
    with pytest.raises(TypeError, match=r"compile: metrics must be a list or a dict\. Received: 'accuracy'"):
        model.compile("sgd", loss="mse", metrics="accuracy")


def test_compile_per_output_arguments_must_match_outputs():
    inputs = cl.Input((3,))
    model = cl.Model(inputs, [layers.Dense(1, name="a")(inputs), layers.Dense(1, name="b")(inputs)])
    with pytest.raises(ValueError, match=r"loss must have one entry per output \(2: \['a', 'b'\]\)\. Received 3"):
        model.compile("sgd", loss=["mse", "mse", "mse"])
    with pytest.raises(ValueError, match=r"loss has keys \['c'\] that are not outputs \['a', 'b'\]"):
        model.compile("sgd", loss={"a": "mse", "c": "mse"})


def test_diverging_training_goes_on_as_in_keras_and_warns_once():
    model = cl.Sequential([cl.Input((2,)), layers.Dense(1)])
    model.compile(cl.optimizers.SGD(learning_rate=1e6), "mse")
    x = np.random.default_rng(0).standard_normal((64, 2)).astype("float32") * 100
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match=r"the loss became (nan|inf)") as caught:
        history = model.fit(x, x[:, :1] * 1e3, epochs=5, verbose=0)
    assert len(history.history["loss"]) == 5 and not np.isfinite(history.history["loss"][-1])
    assert sum("the loss became" in str(w.message) for w in caught) == 1


def test_terminate_on_nan_stops_at_the_first_bad_batch(capsys):
    model = cl.Sequential([cl.Input((2,)), layers.Dense(1)])
    model.compile(cl.optimizers.SGD(learning_rate=1e6), "mse")
    x = np.random.default_rng(0).standard_normal((64, 2)).astype("float32") * 100
    seen = []
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        model.fit(x, x[:, :1] * 1e3, epochs=50, batch_size=8, verbose=0, callbacks=[
            cl.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(logs["loss"])),
            cl.callbacks.TerminateOnNaN(),
        ])
    assert not np.isfinite(seen[-1]) and all(np.isfinite(seen[:-1]))
    assert "Invalid loss, terminating training" in capsys.readouterr().out
    with np.errstate(all="ignore"), pytest.raises(RuntimeError, match="NaN or Inf loss"):  # warned once already
        model.fit(x, x[:, :1] * 1e3, epochs=5, verbose=0, callbacks=[cl.callbacks.TerminateOnNaN(raise_error=True)])


# ------------------------------------------------------ user-written pieces
class CountAboveHalf(cl.metrics.Metric):
    """A custom metric in Keras's shape: state, update_state, result, reset_state."""

    def __init__(self, name="above_half", **kwargs):
        super().__init__(name=name, **kwargs)
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.count += float((np.asarray(y_pred) > 0.5).sum())

    def result(self):
        return self.count

    def reset_state(self):
        self.count = 0.0


class HalfSquaredError(cl.losses.Loss):
    """A custom loss with its backward: mean over the last axis of (y - t)^2 / 2."""

    def call(self, y_true, y_pred):
        return 0.5 * np.mean((y_pred - y_true) ** 2, axis=-1)

    def backward(self, y_true, y_pred, d_losses):
        return d_losses[..., None] * (y_pred - y_true) / y_pred.shape[-1]


def test_a_custom_metric_and_a_custom_loss_with_backward_train():
    x = np.random.default_rng(0).standard_normal((32, 3)).astype("float32")
    y = np.ones((32, 1), "float32")
    model = cl.Sequential([cl.Input((3,)), layers.Dense(1, activation="sigmoid")])
    model.compile(cl.optimizers.SGD(learning_rate=0.5), HalfSquaredError(), metrics=[CountAboveHalf()])
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert set(history) == {"loss", "above_half"} and history["above_half"][-1] >= history["above_half"][0]
    with cl.backend.floatx_scope("float64"):
        predictions = np.random.default_rng(1).random((4, 2))
        loss = HalfSquaredError()
        analytic = loss.gradient(np.zeros((4, 2)), predictions)
        step = 1e-6
        numeric = np.zeros_like(predictions)
        for index in np.ndindex(predictions.shape):
            shifted = predictions.copy()
            shifted[index] += step
            numeric[index] = (loss(np.zeros((4, 2)), shifted) - loss(np.zeros((4, 2)), predictions)) / step
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-6)


def test_a_custom_loss_function_without_backward_explains_at_the_first_step():
    def squared_gap(y_true, y_pred):
        return (y_true - y_pred) ** 2

    model = cl.Sequential([cl.Input((3,)), layers.Dense(1)])
    model.compile("sgd", squared_gap)
    assert model.evaluate(np.ones((4, 3)), np.ones((4, 1)), verbose=0) >= 0  # evaluating works
    with pytest.raises(TypeError, match=r"custom function 'squared_gap'.*no derivative.*subclass losses.Loss"):
        model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
