"""course_lib.metrics: per-sample functions, stateful accumulation and compile-time lookup.

Parity tests feed the same batches to tf.keras metric objects in the same test.
Tolerance: rtol 1e-6, atol 1e-7 (both accumulate in float32).
"""
import numpy as np
import pytest

from course_lib import losses, metrics

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")  # Keras 3, the package behind tf.keras

TOL = dict(rtol=1e-6, atol=1e-7)


def batches_for(kind, rng, count=3):
    """``count`` batches of (y_true, y_pred) of varying sizes for one metric family."""
    out = []
    for size in (5, 8, 3)[:count]:
        if kind == "binary":
            y_true = rng.integers(0, 2, size).astype("float32")  # (N,) against (N, 1)
            y_pred = rng.uniform(0, 1, (size, 1)).astype("float32")
            y_pred[0, 0] = 0.5  # exactly on the threshold counts as 0
        elif kind == "categorical":
            y_true = np.eye(4, dtype="float32")[rng.integers(0, 4, size)]
            y_pred = rng.uniform(0, 1, (size, 4)).astype("float32")
        elif kind == "sparse":
            y_true = rng.integers(0, 4, size)
            y_pred = rng.uniform(0, 1, (size, 4)).astype("float32")
        elif kind == "sparse_column":
            y_true = rng.integers(0, 4, (size, 1)).astype("float32")
            y_pred = rng.uniform(0, 1, (size, 4)).astype("float32")
        elif kind == "labels":
            y_true = rng.integers(0, 3, (size, 2)).astype("float32")
            y_pred = np.where(rng.uniform(size=(size, 2)) < 0.6, y_true,
                              rng.integers(0, 3, (size, 2))).astype("float32")
        elif kind == "regression":
            y_true = rng.normal(size=(size, 3)).astype("float32")
            y_pred = rng.normal(size=(size, 3)).astype("float32")
        elif kind == "positive":
            y_true = rng.uniform(0.1, 2, (size, 3)).astype("float32")
            y_pred = rng.uniform(0, 2, (size, 3)).astype("float32")
        elif kind == "probabilities":
            y_true = np.eye(3, dtype="float32")[rng.integers(0, 3, size)]
            y_pred = rng.dirichlet(np.ones(3), size).astype("float32")
        elif kind == "binary_probabilities":
            y_true = rng.integers(0, 2, (size, 2)).astype("float32")
            y_pred = rng.uniform(0, 1, (size, 2)).astype("float32")
        else:
            raise AssertionError(kind)
        out.append((y_true, y_pred))
    return out


METRIC_CASES = [
    ("Accuracy", {}, "labels"),
    ("BinaryAccuracy", {}, "binary"),
    ("BinaryAccuracy", {"threshold": 0.7}, "binary"),
    ("CategoricalAccuracy", {}, "categorical"),
    ("SparseCategoricalAccuracy", {}, "sparse"),
    ("SparseCategoricalAccuracy", {}, "sparse_column"),
    ("MeanAbsoluteError", {}, "regression"),
    ("MeanSquaredError", {}, "regression"),
    ("MeanAbsolutePercentageError", {}, "positive"),
    ("MeanSquaredLogarithmicError", {}, "positive"),
    ("CategoricalCrossentropy", {}, "probabilities"),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "regression"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("BinaryCrossentropy", {}, "binary_probabilities"),
    ("KLDivergence", {}, "probabilities"),
    ("Hinge", {}, "binary_probabilities"),
]
CASE_IDS = [f"{name}-{kind}-{kwargs}" for name, kwargs, kind in METRIC_CASES]


@pytest.mark.parity
@pytest.mark.parametrize("weights", ["none", "per_sample", "column"])
@pytest.mark.parametrize("name,kwargs,kind", METRIC_CASES, ids=CASE_IDS)
def test_stateful_accumulation_matches_keras(name, kwargs, kind, weights, rng):
    ours = getattr(metrics, name)(**kwargs)
    theirs = getattr(keras.metrics, name)(**kwargs)
    assert ours.name == theirs.name
    for y_true, y_pred in batches_for(kind, rng):
        size = y_pred.shape[0]
        sample_weight = {"none": None,
                         "per_sample": rng.uniform(0, 2, size).astype("float32"),
                         "column": rng.uniform(0, 2, (size, 1)).astype("float32")}[weights]
        ours.update_state(y_true, y_pred, sample_weight=sample_weight)
        theirs.update_state(y_true, y_pred, sample_weight=sample_weight)
        assert isinstance(ours.result(), float)
        np.testing.assert_allclose(ours.result(), float(theirs.result()), **TOL)
    ours.reset_state()
    theirs.reset_state()
    assert ours.result() == float(theirs.result()) == 0.0


@pytest.mark.parity
@pytest.mark.parametrize("function_name,kind", [
    ("accuracy", "labels"), ("binary_accuracy", "binary"),
    ("categorical_accuracy", "categorical"), ("sparse_categorical_accuracy", "sparse"),
    ("sparse_categorical_accuracy", "sparse_column"),
    ("mean_absolute_error", "regression"), ("mean_squared_error", "regression"),
])
def test_per_sample_functions_match_keras(function_name, kind, rng):
    for y_true, y_pred in batches_for(kind, rng, count=2):
        ours = getattr(metrics, function_name)(y_true, y_pred)
        # keras.metrics does not export `accuracy`; it lives beside the class.
        from keras.src.metrics import accuracy_metrics
        function = getattr(accuracy_metrics, function_name, None) or getattr(keras.metrics, function_name)
        theirs = np.asarray(function(y_true, y_pred))
        assert ours.shape == theirs.shape and ours.dtype == np.float32
        np.testing.assert_allclose(ours, theirs, **TOL)


@pytest.mark.parity
def test_binary_accuracy_threshold_function(rng):
    y_true, y_pred = batches_for("binary", rng, count=1)[0]
    for threshold in (0.2, 0.5, 0.9):
        np.testing.assert_array_equal(
            metrics.binary_accuracy(y_true, y_pred, threshold=threshold),
            np.asarray(keras.metrics.binary_accuracy(y_true, y_pred, threshold=threshold)))


@pytest.mark.parity
def test_mean_matches_keras_for_values_and_weights(rng):
    ours, theirs = metrics.Mean(), keras.metrics.Mean()
    for values, weight in [(rng.normal(size=7), None), (rng.normal(size=(4, 3)), rng.uniform(size=4)),
                           (np.float32(2.5), None), (rng.normal(size=(2, 3)), rng.uniform(size=(2, 3)))]:
        ours.update_state(values, sample_weight=weight)
        theirs.update_state(values, sample_weight=weight)
        np.testing.assert_allclose(ours.result(), float(theirs.result()), **TOL)
    assert ours(np.array([1.0, 2.0])) == pytest.approx(float(theirs(np.array([1.0, 2.0]))), rel=1e-6)


# --------------------------------------------------------------------------- compile-time lookup

COMPILE_CASES = [
    # loss, metric name written by the user, number of outputs, output activation, label kind
    ("binary_crossentropy", "accuracy", 1, "sigmoid", "binary"),
    ("binary_crossentropy", "acc", 1, "sigmoid", "binary_column"),
    ("categorical_crossentropy", "accuracy", 3, "softmax", "onehot"),
    ("categorical_crossentropy", "acc", 3, "softmax", "onehot"),
    ("sparse_categorical_crossentropy", "accuracy", 3, "softmax", "sparse"),
    ("sparse_categorical_crossentropy", "acc", 3, "softmax", "sparse_column"),
    ("mse", "accuracy", 1, None, "regression"),
    ("mse", "acc", 3, None, "regression3"),
]


def compile_labels(kind, rng, size=16):
    return {
        "binary": rng.integers(0, 2, size).astype("float32"),
        "binary_column": rng.integers(0, 2, (size, 1)).astype("float32"),
        "onehot": np.eye(3, dtype="float32")[rng.integers(0, 3, size)],
        "sparse": rng.integers(0, 3, size),
        "sparse_column": rng.integers(0, 3, (size, 1)),
        "regression": rng.integers(0, 2, size).astype("float32"),
        "regression3": np.eye(3, dtype="float32")[rng.integers(0, 3, size)],
    }[kind]


@pytest.mark.parity
@pytest.mark.parametrize("loss,identifier,outputs,activation,label_kind", COMPILE_CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[4]}" for c in COMPILE_CASES])
def test_accuracy_is_resolved_as_keras_compile_resolves_it(loss, identifier, outputs, activation,
                                                           label_kind, rng):
    x = rng.normal(size=(16, 4)).astype("float32")
    y = compile_labels(label_kind, rng)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(outputs, activation=activation)])
    # run_eagerly skips tf.function tracing: same numbers, a second faster.
    model.compile(optimizer="sgd", loss=loss, metrics=[identifier], run_eagerly=True)
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    (keras_metric,) = model.metrics[1].metrics

    predictions = np.asarray(model(x))
    ours = metrics.get(identifier, loss=loss, y_true=y, y_pred=predictions)
    assert type(ours).__name__ == type(keras_metric).__name__
    assert ours.name == keras_metric.name == identifier
    ours.update_state(y, predictions)
    np.testing.assert_allclose(ours.result(), logs[identifier], **TOL)
    # Without a batch, a cross-entropy loss decides; Keras 3 agrees on these cases.
    if "crossentropy" in loss:
        assert type(metrics.get(identifier, loss=loss)) is type(ours)


@pytest.mark.parity
def test_metric_names_in_keras_logs(rng):
    written = ["mae", "mse", "mean_absolute_error", "MeanSquaredError", "mape", "msle"]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", metrics=written, run_eagerly=True)
    history = model.fit(rng.normal(size=(8, 4)), rng.uniform(size=(8, 2)), epochs=1, verbose=0)
    ours = [metrics.get(name).name for name in written]
    assert ours == written
    assert set(ours) <= set(history.history)
    assert metrics.get(metrics.MeanAbsoluteError()).name == "mean_absolute_error"


def test_get_other_identifiers():
    metric = metrics.BinaryAccuracy(threshold=0.3)
    assert metrics.get(metric) is metric
    assert type(metrics.get(metrics.CategoricalAccuracy)) is metrics.CategoricalAccuracy
    assert type(metrics.get("accuracy")) is metrics.Accuracy  # keras.metrics.get's answer
    assert type(metrics.get("binary_accuracy")) is metrics.BinaryAccuracy

    def hits(y_true, y_pred):
        return (np.abs(y_true - y_pred) < 0.5).astype("float32")

    wrapped = metrics.get(hits)
    assert isinstance(wrapped, metrics.MeanMetricWrapper) and wrapped.name == "hits"
    wrapped.update_state(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.1, 2.9, 3.2, 0.0]))
    assert wrapped.result() == pytest.approx(0.5)


def test_get_errors_are_clear():
    with pytest.raises(ValueError, match=r"metrics\.get.*'acuracy'.*Known names:.*accuracy"):
        metrics.get("acuracy")
    with pytest.raises(ValueError, match=r"metrics\.get.*'crossentropy'"):
        metrics.get("crossentropy")  # Keras 3 rejects it too
    with pytest.raises(ValueError, match="'acc' is resolved from the shapes"):
        metrics.get("acc")
    with pytest.raises(ValueError, match="cannot be guessed from the loss alone"):
        metrics.get("accuracy", loss="mse")
    with pytest.raises(ValueError, match=r"metrics\.get.*3\.5"):
        metrics.get(3.5)


@pytest.mark.parity
def test_an_unknown_metric_is_refused_as_keras_refuses_it():
    for name in ("crossentropy", "accuracyy"):
        with pytest.raises(ValueError):
            keras.metrics.get(name)
        with pytest.raises(ValueError, match=rf"metrics.get: could not interpret metric identifier '{name}'"):
            metrics.get(name)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"sparse_categorical_accuracy.*one class id per sample"):
        metrics.SparseCategoricalAccuracy().update_state(np.zeros(4), np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"binary_accuracy.*same shape.*\(4, 1\).*\(5, 1\)"):
        metrics.BinaryAccuracy().update_state(np.zeros(4), np.zeros((5, 1)))
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) does not fit"):
        metrics.MeanSquaredError().update_state(np.zeros((4, 2)), np.zeros((4, 2)), np.ones(3))
    with pytest.raises(TypeError, match="accuracy: expected a numeric array"):
        metrics.accuracy(np.array(["a"]), np.array([1.0]))
    with pytest.raises(TypeError, match="MeanMetricWrapper: fn must be callable"):
        metrics.MeanMetricWrapper(3)


def test_serialize_round_trip():
    for metric in (metrics.BinaryAccuracy(name="acc", threshold=0.3), metrics.Mean(name="loss"),
                   metrics.CategoricalCrossentropy(from_logits=True)):
        rebuilt = metrics.deserialize(metrics.serialize(metric))
        assert type(rebuilt) is type(metric) and rebuilt.get_config() == metric.get_config()


def test_metric_functions_reuse_the_loss_functions():
    assert metrics.mean_absolute_error is losses.mean_absolute_error
    assert metrics.mse is losses.mean_squared_error
