"""A whole multi-epoch fit in course_lib ends where tf.keras's ends: same weights, same History."""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

# float32 training drifts apart by rounding only: after 5 epochs of 6 steps the
# weights measured within 6e-8 of Keras's and the History within 2.4e-7.
RTOL, ATOL = 1e-5, 1e-6


def _data(seed=0, samples=90, features=6, classes=3):
    generator = np.random.default_rng(seed)
    x = generator.standard_normal((samples, features)).astype("float32")
    y = generator.integers(0, classes, samples)
    return x, y


def _mlp(output_activation="softmax", outputs=3):
    return keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(8, activation="tanh"),
        keras.layers.Dense(outputs, activation=output_activation),
    ])


def _assert_same_training(our_history, keras_history, ours=None, keras_model=None):
    """Same History keys and values, and (given the models) the same final weights."""
    assert sorted(our_history) == sorted(keras_history)
    for key in keras_history:
        np.testing.assert_allclose(our_history[key], keras_history[key], rtol=RTOL, atol=ATOL, err_msg=key)
    if ours is not None:
        for ours_w, keras_w in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
            np.testing.assert_allclose(ours_w, keras_w, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    "optimizer, loss, metrics, output_activation, outputs",
    [
        ("sgd", "sparse_categorical_crossentropy", ["accuracy"], "softmax", 3),
        ("adam", "categorical_crossentropy", ["accuracy"], "softmax", 3),
        ("rmsprop", "binary_crossentropy", ["accuracy"], "sigmoid", 1),
        ("adam", "mse", ["mae"], None, 1),
    ],
)
def test_fit_matches_keras(optimizer, loss, metrics, output_activation, outputs):
    x, labels = _data()
    if loss == "categorical_crossentropy":
        y = np.eye(3, dtype="float32")[labels]
    elif outputs == 1:
        y = (labels == 1).astype("float32")
    else:
        y = labels
    keras_model = _mlp(output_activation, outputs)
    ours = cl.testing.from_keras(keras_model)
    keras_model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    ours.compile(optimizer=optimizer, loss=loss, metrics=metrics)

    kwargs = dict(epochs=5, batch_size=16, shuffle=False, verbose=0, validation_split=0.2)
    keras_history = keras_model.fit(x, y, **kwargs).history
    our_history = ours.fit(x, y, **kwargs).history

    _assert_same_training(our_history, keras_history, ours, keras_model)
    np.testing.assert_allclose(
        ours.evaluate(x, y, verbose=0), keras_model.evaluate(x, y, verbose=0), rtol=RTOL, atol=ATOL
    )


def test_train_on_batch_and_two_output_model_match_keras():
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    merged = keras.layers.Concatenate()([a, b])
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(merged)
    added = keras.layers.Add()([hidden, keras.layers.Dense(8, name="skip")(merged)])
    first = keras.layers.Dense(1, name="first")(added)
    second = keras.layers.Dense(3, activation="softmax", name="second")(added)
    keras_model = keras.Model([a, b], [first, second])
    ours = cl.testing.from_keras(keras_model)
    compile_args = dict(optimizer="adam", loss=["mse", "sparse_categorical_crossentropy"],
                        loss_weights=[0.5, 1.0], metrics=[["mae"], ["accuracy"]])
    keras_model.compile(**compile_args)
    ours.compile(**compile_args)
    generator = np.random.default_rng(3)
    xa = generator.standard_normal((32, 4)).astype("float32")
    xb = generator.standard_normal((32, 3)).astype("float32")
    y1 = generator.standard_normal((32, 1)).astype("float32")
    y2 = generator.integers(0, 3, 32)
    for _ in range(5):
        expected = keras_model.train_on_batch([xa, xb], [y1, y2])
        received = ours.train_on_batch([xa, xb], [y1, y2])
        np.testing.assert_allclose(received, expected, rtol=1e-4, atol=1e-6)
    assert ours.metrics_names == keras_model.metrics_names
    np.testing.assert_allclose(ours.evaluate([xa, xb], [y1, y2], verbose=0),
                               keras_model.evaluate([xa, xb], [y1, y2], verbose=0), rtol=1e-4, atol=1e-6)
    assert ours.metrics_names == keras_model.metrics_names
    keras_history = keras_model.fit([xa, xb], [y1, y2], epochs=3, batch_size=8, shuffle=False, verbose=0).history
    our_history = ours.fit([xa, xb], [y1, y2], epochs=3, batch_size=8, shuffle=False, verbose=0).history
    _assert_same_training(our_history, keras_history, ours, keras_model)


@pytest.mark.parametrize("weighting", ["sample_weight", "class_weight"])
def test_weighted_fit_matches_keras(weighting):
    x, labels = _data(seed=5)
    keras_model = _mlp()
    ours = cl.testing.from_keras(keras_model)
    for model in (keras_model, ours):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    generator = np.random.default_rng(6)
    weights = generator.uniform(0.2, 3.0, len(x)).astype("float32")
    kwargs = dict(epochs=3, batch_size=16, shuffle=False, verbose=0)
    if weighting == "sample_weight":
        kwargs["sample_weight"] = weights
        kwargs["validation_data"] = (x[:30], labels[:30], weights[:30])
    else:
        kwargs["class_weight"] = {0: 0.5, 1: 2.0, 2: 1.5}
    keras_history = keras_model.fit(x, labels, **kwargs).history
    our_history = ours.fit(x, labels, **kwargs).history
    _assert_same_training(our_history, keras_history, ours, keras_model)
    np.testing.assert_allclose(
        ours.evaluate(x, labels, sample_weight=weights, verbose=0),
        keras_model.evaluate(x, labels, sample_weight=weights, verbose=0), rtol=RTOL, atol=ATOL,
    )
    np.testing.assert_allclose(
        ours.train_on_batch(x[:16], labels[:16], sample_weight=weights[:16]),
        keras_model.train_on_batch(x[:16], labels[:16], sample_weight=weights[:16]), rtol=RTOL, atol=ATOL,
    )


def _tiny_classifier(library, classes):
    library.utils.set_random_seed(0)
    return library.Sequential([
        library.Input((5,)), library.layers.Dense(6, activation="tanh"),
        library.layers.Dense(classes, activation="sigmoid" if classes == 1 else "softmax"),
    ])


@pytest.mark.parametrize("loss, classes, labels", [
    ("crossentropy", 1, "binary"), ("crossentropy", 4, "sparse"), ("ce", 4, "onehot"),
    ("binary_crossentropy_function", 1, "binary"), ("categorical_crossentropy_function", 4, "onehot"),
    ("mean_squared_error_function", 1, "binary"), ("huber_function", 1, "binary"),
    ("mean_absolute_error_function", 1, "binary"), ("sparse_categorical_crossentropy_function", 4, "sparse"),
])
def test_loss_names_and_builtin_loss_functions_train_as_in_keras(loss, classes, labels):
    """`loss="crossentropy"` resolves from the data, and `loss=keras.losses.binary_crossentropy` trains."""
    generator = np.random.default_rng(0)
    x = generator.standard_normal((40, 5)).astype("float32")
    ids = generator.integers(0, max(classes, 2), 40)
    y = {"binary": ids[:, None].astype("float32"), "sparse": ids, "onehot": np.eye(4, dtype="float32")[ids]}[labels]
    keras_model = _tiny_classifier(keras, classes)
    ours = cl.testing.from_keras(keras_model)
    import keras as keras3  # Keras 3's own namespace: tf.keras lacks some of its loss functions

    for model, library in ((keras_model, keras3), (ours, cl)):
        spec = getattr(library.losses, loss.removesuffix("_function")) if loss.endswith("_function") else loss
        model.compile(library.optimizers.SGD(learning_rate=0.1), spec)
    expected = keras_model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
    received = ours.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(received, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("order", [("priority", "department"), ("department", "priority")])
@pytest.mark.parametrize("metrics", ["lists", "dict", "two_each"])
def test_multi_output_evaluate_unpacks_in_keras_order(order, metrics):
    """The list evaluate returns is in Keras's order, so `loss, a_loss, b_loss, ... = evaluate(...)` unpacks alike."""
    def build(library):
        library.utils.set_random_seed(0)
        inputs = library.Input((4,))
        hidden = library.layers.Dense(5)(inputs)
        heads = {"priority": library.layers.Dense(1, name="priority")(hidden),
                 "department": library.layers.Dense(3, activation="softmax", name="department")(hidden)}
        return library.Model(inputs, [heads[name] for name in order])

    per_output = {"priority": ["mae"], "department": ["accuracy"]}
    if metrics == "two_each":
        per_output = {"priority": ["mse", "mae"], "department": ["accuracy", "sparse_categorical_crossentropy"]}
    spec = per_output if metrics == "dict" else [per_output[name] for name in order]
    generator = np.random.default_rng(0)
    x = generator.standard_normal((16, 4)).astype("float32")
    targets = {"priority": generator.standard_normal((16, 1)).astype("float32"), "department": np.arange(16) % 3}
    keras_model = build(keras)
    ours = cl.testing.from_keras(keras_model)
    for model in (keras_model, ours):
        model.compile("sgd", ["mse" if n == "priority" else "sparse_categorical_crossentropy" for n in order], metrics=spec)
    ys = [targets[name] for name in order]
    assert ours.metrics_names == keras_model.metrics_names
    expected, received = keras_model.evaluate(x, ys, verbose=0), ours.evaluate(x, ys, verbose=0)
    assert len(received) == len(expected)
    np.testing.assert_allclose(received, expected, rtol=1e-5, atol=1e-6)
    assert ours.metrics_names == keras_model.metrics_names
    np.testing.assert_allclose(ours.train_on_batch(x, ys), keras_model.train_on_batch(x, ys), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, kwargs", [
    ("TopKCategoricalAccuracy", {}), ("TopKCategoricalAccuracy", {"k": 2}),
    ("SparseTopKCategoricalAccuracy", {"k": 3}), ("SparseTopKCategoricalAccuracy", {"k": 1}),
    ("SparseTopKCategoricalAccuracy", {"k": 2, "from_sorted_ids": True}),
])
def test_top_k_accuracy_matches_keras(name, kwargs):
    generator = np.random.default_rng(0)
    scores = generator.standard_normal((30, 7)).astype("float32")
    scores[0, :] = 1.0  # ties straddling the boundary count as in the top k, as tf.math.in_top_k
    scores[1, 3] = np.nan
    labels = generator.integers(0, 7, 30)
    if kwargs.get("from_sorted_ids"):
        scores = np.argsort(-np.nan_to_num(scores), axis=-1).astype("float32")
    y_true = np.eye(7, dtype="float32")[labels] if name.startswith("TopK") else labels[:, None]
    ours, theirs = getattr(cl.metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    for metric in (ours, theirs):
        metric.update_state(y_true[:20], scores[:20])
        metric.update_state(y_true[20:], scores[20:])
    assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-6)
    assert ours.get_config() == theirs.get_config()


@pytest.mark.parametrize("loss, metrics, monitor", [
    ("sparse_categorical_crossentropy", ["accuracy"], "val_accuracy"),
    ("sparse_categorical_crossentropy", ["acc"], "acc"),
    ("sparse_categorical_crossentropy", ["sparse_categorical_crossentropy"], "val_sparse_categorical_crossentropy"),
    ("sparse_categorical_crossentropy", ["accuracy"], "val_acc"),
    ("sparse_categorical_crossentropy", [], "val_loss"),
    ("sparse_categorical_crossentropy", [], "val_accuracy"),
    ("mse", ["mae", "mse"], "mae"),
    ("mse", ["mae"], "val_mean_absolute_error"),
])
def test_early_stopping_auto_direction_matches_keras(loss, metrics, monitor):
    """mode='auto' as Keras decides it: from the compiled metric of that name, else a ValueError."""
    import keras as keras3
    from keras.src import ops

    x = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
    y = np.arange(8) % 3 if loss.startswith("sparse") else np.ones((8, 3), "float32")
    verdicts = []
    for library in (keras3, cl):
        model = library.Sequential([library.Input((4,)), library.layers.Dense(3, activation="softmax")])
        model.compile("sgd", loss, metrics=metrics)
        model.evaluate(x, y, verbose=0)
        stopper = library.callbacks.EarlyStopping(monitor=monitor)
        stopper.set_model(model)
        try:
            stopper._set_monitor_op()
        except ValueError:
            verdicts.append("undecidable")
            continue
        if library is keras3:
            verdicts.append("max" if stopper.monitor_op is ops.greater else "min")
        else:
            verdicts.append("max" if stopper._compare(1, 0) else "min")
    assert verdicts[1] == verdicts[0]


@pytest.mark.parametrize("loss, activation, classes", [
    ("SparseCategoricalCrossentropy", "softmax", 3), ("CategoricalCrossentropy", "softmax", 3),
    ("BinaryCrossentropy", "sigmoid", 1), ("SparseCategoricalCrossentropy", None, 3),
])
def test_from_logits_on_probabilities_warns_as_keras(loss, activation, classes):
    import warnings

    x = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
    y = {"Sparse": np.arange(8) % 3, "Catego": np.eye(3, dtype="float32")[np.arange(8) % 3],
         "Binary": np.ones((8, 1), "float32")}[loss[:6]]
    messages = []
    for library in (keras, cl):
        model = library.Sequential([library.Input((4,)), library.layers.Dense(classes, activation=activation)])
        model.compile("sgd", getattr(library.losses, loss)(from_logits=True))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(x, y, epochs=1, verbose=0)
        messages.append(sorted({str(w.message) for w in caught if "from_logits" in str(w.message)}))
    assert messages[1] == messages[0]


def _callback_run(library):
    library.utils.set_random_seed(0)
    generator = np.random.default_rng(4)
    x = generator.standard_normal((60, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], "float32")).astype("float32")
    model = library.Sequential([library.Input((4,)), library.layers.Dense(3, activation="tanh"), library.layers.Dense(1)])
    return model, x, y


@pytest.mark.parametrize("kind", ["scheduler", "scheduler_one_argument", "plateau"])
def test_learning_rate_callbacks_match_keras(kind):
    histories = []
    keras_model, x, y = _callback_run(keras)
    ours = cl.testing.from_keras(keras_model)
    for model, library in ((keras_model, keras), (ours, cl)):
        if kind == "scheduler":
            callback = library.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.8 if epoch >= 3 else lr)
        elif kind == "scheduler_one_argument":
            callback = library.callbacks.LearningRateScheduler(lambda epoch: 0.1 / (1 + epoch))
        else:
            callback = library.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_lr=0.005,
                                                           min_delta=0.05, cooldown=1)
        optimizer = (keras.optimizers.SGD(0.1) if library is keras else cl.optimizers.SGD(0.1))
        model.compile(optimizer, "mse")
        histories.append(model.fit(x, y, epochs=12, batch_size=20, shuffle=False, verbose=0,
                                   callbacks=[callback]).history)
    expected, received = histories
    assert sorted(received) == sorted(expected)
    np.testing.assert_allclose(received["learning_rate"], expected["learning_rate"], rtol=1e-6)
    np.testing.assert_allclose(received["loss"], expected["loss"], rtol=1e-5, atol=1e-7)


def test_model_checkpoint_and_csv_logger_write_what_keras_writes(tmp_path):
    import csv

    rows, saved = {}, {}
    keras_model, x, y = _callback_run(keras)
    ours = cl.testing.from_keras(keras_model)
    for model, library, name in ((keras_model, keras, "keras"), (ours, cl, "ours")):
        folder = tmp_path / name
        folder.mkdir()
        model.compile((keras.optimizers.SGD(0.05) if library is keras else cl.optimizers.SGD(0.05)), "mse")
        model.fit(x, y, epochs=6, batch_size=20, shuffle=False, verbose=0, validation_split=0.25, callbacks=[
            library.callbacks.ModelCheckpoint(str(folder / "best-{epoch:02d}.keras"), save_best_only=True),
            library.callbacks.ModelCheckpoint(str(folder / "last.weights.h5"), save_weights_only=True),
            library.callbacks.CSVLogger(str(folder / "log.csv")),
        ])
        with open(folder / "log.csv", newline="") as handle:
            rows[name] = list(csv.DictReader(handle))
        saved[name] = sorted(p.name for p in folder.iterdir())
    assert saved["ours"] == saved["keras"]
    assert list(rows["ours"][0]) == list(rows["keras"][0])
    for mine, theirs in zip(rows["ours"], rows["keras"], strict=True):
        assert mine["epoch"] == theirs["epoch"]
        for key in mine:
            if key != "epoch":
                assert float(mine[key]) == pytest.approx(float(theirs[key]), rel=1e-5)
    best = sorted(p for p in (tmp_path / "ours").iterdir() if p.name.startswith("best"))[-1]
    reloaded = keras.models.load_model(best)  # a checkpoint course_lib wrote, opened by Keras
    assert reloaded.count_params() == ours.count_params()


def test_under_float64_the_logged_loss_and_metrics_are_float64_as_keras_keeps_them(float64_in_both):
    # Keras's metrics (and the loss tracker) take keras.config.floatx() when given no dtype: after
    # set_floatx("float64") the history agrees to float64 rounding, not float32's.
    assert keras.metrics.Mean().dtype == cl.metrics.Mean().dtype == "float64"
    assert cl.metrics.Mean(dtype="float32").dtype == "float32"
    keras.utils.set_random_seed(0)
    keras_model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="tanh"),
                                    keras.layers.Dense(3, activation="softmax")])
    ours = cl.testing.from_keras(keras_model)
    generator = np.random.default_rng(0)
    x, y = generator.standard_normal((40, 5)), generator.integers(0, 3, 40)
    for model, optimizer in ((keras_model, keras.optimizers.SGD(0.1)), (ours, cl.optimizers.SGD(0.1))):
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    expected = keras_model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    received = ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    for key in expected:
        np.testing.assert_allclose(received[key], expected[key], rtol=1e-12, err_msg=key)
