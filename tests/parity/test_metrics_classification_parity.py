"""Precision, Recall, AUC, F1Score/FBetaScore and RootMeanSquaredError give tf.keras's numbers.

Every test feeds the same batches (or trains the same model) through tf.keras
and course_lib in the same test. Both accumulate in float32; the streamed
results measured within 3e-7 relative of Keras's (a near-zero PR-gain area
within 4e-8 absolute), and the fit histories within 2.2e-7, so the tolerances
are rtol 1e-5 / atol 1e-6.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import metrics

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6


def _batches(kind, rng, sizes=(7, 12, 5)):
    out = []
    for size in sizes:
        if kind == "binary":  # labels (N,) against scores (N, 1)
            y_true = rng.integers(0, 2, size).astype("float32")
            y_pred = rng.uniform(0, 1, (size, 1)).astype("float32")
            y_pred[0, 0] = 0.5  # exactly on the default threshold: not above it
        elif kind == "edges":  # exact 0s and 1s, and scores on the grid of 3 thresholds
            y_true = rng.integers(0, 2, (size, 2)).astype("float32")
            y_pred = rng.choice(np.array([0.0, 0.25, 0.5, 0.75, 1.0], "float32"), (size, 2))
        elif kind == "multi":  # multi-label / multi-class scores
            y_true = rng.integers(0, 2, (size, 4)).astype("float32")
            y_pred = rng.uniform(0, 1, (size, 4)).astype("float32")
        elif kind == "onehot":
            y_true = np.eye(4, dtype="float32")[rng.integers(0, 4, size)]
            y_pred = rng.dirichlet(np.ones(4), size).astype("float32")
        elif kind == "logits":
            y_true = rng.integers(0, 2, (size, 3)).astype("float32")
            y_pred = rng.normal(size=(size, 3)).astype("float32")
        elif kind == "regression":
            y_true = rng.normal(size=(size, 3)).astype("float32")
            y_pred = rng.normal(size=(size, 3)).astype("float32")
        else:
            raise AssertionError(kind)
        out.append((y_true, y_pred))
    return out


CASES = [
    ("Precision", {}, "binary"),
    ("Recall", {}, "binary"),
    ("Precision", {"thresholds": [0.2, 0.5, 0.9]}, "multi"),
    ("Recall", {"thresholds": [0.0, 0.5, 1.0]}, "edges"),  # evenly spaced: Keras's bucketed update
    ("Precision", {"thresholds": [0.0, 0.5, 1.0]}, "edges"),
    ("Precision", {"top_k": 2}, "multi"),
    ("Recall", {"top_k": 1}, "onehot"),
    ("Precision", {"class_id": 2}, "onehot"),
    ("Recall", {"class_id": 1, "thresholds": [0.3, 0.7]}, "multi"),
    ("Recall", {"top_k": 2, "class_id": 3}, "multi"),
    ("AUC", {}, "binary"),
    ("AUC", {}, "edges"),
    ("AUC", {"num_thresholds": 3}, "edges"),
    ("AUC", {"curve": "PR"}, "multi"),
    ("AUC", {"curve": "PR", "summation_method": "minoring"}, "multi"),
    ("AUC", {"summation_method": "majoring"}, "multi"),
    ("AUC", {"curve": "PRGAIN", "num_thresholds": 50}, "multi"),
    ("AUC", {"thresholds": [0.1, 0.4, 0.45, 0.8]}, "multi"),
    ("AUC", {"thresholds": [0.25, 0.5, 0.75]}, "edges"),  # given, and evenly spaced with the end points
    ("AUC", {"multi_label": True}, "multi"),
    ("AUC", {"multi_label": True, "curve": "PR", "label_weights": [1.0, 2.0, 0.5, 3.0]}, "multi"),
    ("AUC", {"multi_label": True, "num_labels": 4, "thresholds": [0.3, 0.5]}, "multi"),
    ("AUC", {"label_weights": [1.0, 2.0, 0.5, 3.0]}, "multi"),
    ("AUC", {"from_logits": True}, "logits"),
    ("F1Score", {}, "onehot"),
    ("F1Score", {"average": "micro", "threshold": 0.3}, "multi"),
    ("F1Score", {"average": "macro"}, "multi"),
    ("F1Score", {"average": "weighted", "threshold": 0.5}, "multi"),
    ("FBetaScore", {"beta": 2.0, "threshold": 0.4}, "multi"),
    ("FBetaScore", {"average": "macro", "beta": 0.5}, "onehot"),
    ("RootMeanSquaredError", {}, "regression"),
]
IDS = [f"{name}-{kwargs}-{kind}" for name, kwargs, kind in CASES]


def _plain(value):
    """A config value as plain Python (Keras keeps label_weights as a tensor, thresholds as numpy floats)."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "numpy") or isinstance(value, (np.ndarray, np.generic)):
        return _plain(np.asarray(value).tolist())
    return value


@pytest.mark.parametrize("weighting", ["none", "per_sample", "per_entry"])
@pytest.mark.parametrize("name,kwargs,kind", CASES, ids=IDS)
def test_streamed_batches_match_keras(name, kwargs, kind, weighting, rng):
    if weighting == "per_entry" and (name in ("F1Score", "FBetaScore") or kind == "binary"):
        pytest.skip("Keras's F-scores take one weight per sample; binary labels have one entry per sample")
    keras.utils.clear_session()
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    assert ours.name == theirs.name
    config = ours.get_config()
    assert list(config) == list(theirs.get_config())
    assert config == {key: _plain(value) for key, value in theirs.get_config().items()}
    for y_true, y_pred in _batches(kind, rng):
        size = y_pred.shape[0]
        sample_weight = {"none": None, "per_sample": rng.uniform(0, 2, size).astype("float32"),
                         "per_entry": rng.uniform(0, 2, y_pred.shape).astype("float32")}[weighting]
        if weighting == "per_entry" and "class_id" in kwargs:
            # One weight per entry of every class, against the one column scored: both refuse it.
            with pytest.raises(tf.errors.InvalidArgumentError):
                theirs.update_state(y_true, y_pred, sample_weight=sample_weight)
            with pytest.raises(ValueError, match=f"{name}: sample_weight of shape .* does not broadcast"):
                ours.update_state(y_true, y_pred, sample_weight=sample_weight)
            return
        ours.update_state(y_true, y_pred, sample_weight=sample_weight)
        theirs.update_state(y_true, y_pred, sample_weight=sample_weight)
        expected = np.asarray(theirs.result())
        received = ours.result()
        assert isinstance(received, float) if expected.ndim == 0 else received.shape == expected.shape
        np.testing.assert_allclose(received, expected, rtol=RTOL, atol=ATOL)
    ours.reset_state()
    theirs.reset_state()
    np.testing.assert_array_equal(np.asarray(ours.result()), np.asarray(theirs.result()))


def test_confusion_counts_match_keras_variables(rng):
    """The accumulators themselves, bucketed (AUC's 200 thresholds) and per threshold (Precision's list)."""
    ours_auc, theirs_auc = metrics.AUC(multi_label=True), keras.metrics.AUC(multi_label=True)
    ours_p, theirs_p = metrics.Precision(thresholds=[0.1, 0.6]), keras.metrics.Precision(thresholds=[0.1, 0.6])
    for y_true, y_pred in _batches("multi", rng):
        weight = rng.uniform(0, 2, y_pred.shape[0]).astype("float32")
        for ours, theirs in ((ours_auc, theirs_auc), (ours_p, theirs_p)):
            ours.update_state(y_true, y_pred, sample_weight=weight)
            theirs.update_state(y_true, y_pred, sample_weight=weight)
    for name in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
        np.testing.assert_allclose(getattr(ours_auc, name), np.asarray(getattr(theirs_auc, name)),
                                   rtol=RTOL, atol=ATOL, err_msg=name)
    for name in ("true_positives", "false_positives"):
        np.testing.assert_allclose(getattr(ours_p, name), np.asarray(getattr(theirs_p, name)), rtol=RTOL, atol=ATOL)


def test_names_as_keras_numbers_them():
    keras.utils.clear_session()
    cl.backend.clear_session()
    for make in (lambda m: m.Precision(), lambda m: m.Precision(), lambda m: m.AUC(), lambda m: m.Recall(top_k=2)):
        assert make(metrics).name == make(keras.metrics).name
    # A string takes the class's automatic name first, as keras.metrics.get does (which keeps it, auc_1);
    # compile then writes the identifier, and course_lib's get does both at once.
    assert (metrics.get("auc").name, keras.metrics.get("auc").name) == ("auc", "auc_1")
    assert metrics.AUC().name == keras.metrics.AUC().name == "auc_2"


# --------------------------------------------------------------------------- fit

def _binary_data(seed=0, samples=80):
    generator = np.random.default_rng(seed)
    x = generator.standard_normal((samples, 5)).astype("float32")
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.5 * generator.standard_normal(samples) > 0).astype("float32")
    return x, y


def _assert_same_history(ours, theirs):
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=RTOL, atol=ATOL, err_msg=key)


@pytest.mark.parametrize("extra", ["strings", "with_instances"])
def test_fit_history_with_auc_precision_recall_matches_keras(extra):
    keras.utils.clear_session()
    cl.backend.clear_session()
    keras.utils.set_random_seed(0)
    keras_model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"),
                                    keras.layers.Dense(1, activation="sigmoid")])
    ours = cl.testing.from_keras(keras_model)

    def compiled(library):
        names = ["auc", "precision", "recall"]
        if extra == "strings":
            return names
        # An instance made before the strings are resolved is `auc` as well: the logs call it auc_1.
        return names + [library.metrics.AUC(curve="PR"), library.metrics.Precision(thresholds=0.7),
                        library.metrics.RootMeanSquaredError()]

    keras_model.compile(optimizer="adam", loss="binary_crossentropy", metrics=compiled(keras))
    ours.compile(optimizer="adam", loss="binary_crossentropy", metrics=compiled(cl))
    x, y = _binary_data()
    kwargs = dict(epochs=4, batch_size=16, shuffle=False, verbose=0, validation_split=0.25)
    keras_history = keras_model.fit(x, y, **kwargs).history
    our_history = ours.fit(x, y, **kwargs).history
    _assert_same_history(our_history, keras_history)
    if extra == "strings":
        np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), keras_model.evaluate(x, y, verbose=0),
                                   rtol=RTOL, atol=ATOL)
        return
    assert "auc_1" in our_history and "precision_1" in our_history
    # Keras's evaluate list repeats a repeated name's first value (its order lists metric names, not
    # log keys); course_lib lists each log once, so the dicts are compared here.
    _assert_same_history(ours.evaluate(x, y, verbose=0, return_dict=True),
                         keras_model.evaluate(x, y, verbose=0, return_dict=True))


def test_fit_history_with_f1_top_k_and_class_id_matches_keras():
    keras.utils.clear_session()  # the automatic names (precision, recall) start again in both
    keras.utils.set_random_seed(1)
    keras_model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"),
                                    keras.layers.Dense(4, activation="softmax")])
    ours = cl.testing.from_keras(keras_model)

    def compiled(library):
        return [library.metrics.F1Score(average="macro"), library.metrics.F1Score(average="weighted", name="wf1"),
                library.metrics.Precision(class_id=1), library.metrics.Recall(top_k=2),
                library.metrics.AUC(multi_label=True, name="ml_auc")]

    keras_model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=compiled(keras))
    ours.compile(optimizer="adam", loss="categorical_crossentropy", metrics=compiled(cl))
    generator = np.random.default_rng(2)
    x = generator.standard_normal((64, 5)).astype("float32")
    y = np.eye(4, dtype="float32")[np.argmax(x[:, :4] + 0.5 * generator.standard_normal((64, 4)), axis=1)]
    kwargs = dict(epochs=3, batch_size=16, shuffle=False, verbose=0, validation_split=0.25)
    _assert_same_history(ours.fit(x, y, **kwargs).history, keras_model.fit(x, y, **kwargs).history)


# --------------------------------------------------------------------------- .keras files both ways

def _file_metrics(library):
    return [library.metrics.AUC(curve="PR", num_thresholds=50, label_weights=[2.0], name="pr"),
            library.metrics.AUC(thresholds=[0.2, 0.6], summation_method="minoring", name="roc2"),
            library.metrics.Precision(thresholds=0.3, name="p3"), library.metrics.Recall(class_id=0, name="r0"),
            library.metrics.F1Score(average="micro", threshold=0.5), library.metrics.RootMeanSquaredError(),
            "auc", "precision"]


def _file_data():
    x, y = _binary_data(seed=3, samples=32)
    return x, y[:, None]


def _binary_model(library):
    return library.Sequential([library.Input((5,)), library.layers.Dense(1, activation="sigmoid")])


def test_a_keras_file_with_these_metrics_opens_in_course_lib(tmp_path):
    keras.utils.set_random_seed(4)
    original = _binary_model(keras)
    original.compile("adam", "binary_crossentropy", metrics=_file_metrics(keras))
    original.save(tmp_path / "keras.keras")
    loaded = cl.models.load_model(tmp_path / "keras.keras")
    x, y = _file_data()
    expected = original.evaluate(x, y, verbose=0, return_dict=True)
    received = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(received) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(received[key], expected[key], rtol=RTOL, atol=ATOL, err_msg=key)


def test_a_course_lib_file_with_these_metrics_opens_in_keras(tmp_path):
    cl.utils.set_random_seed(4)
    original = _binary_model(cl)
    original.compile("adam", "binary_crossentropy", metrics=_file_metrics(cl))
    original.save(tmp_path / "ours.keras")
    loaded = keras.models.load_model(tmp_path / "ours.keras")
    x, y = _file_data()
    expected = loaded.evaluate(x, y, verbose=0, return_dict=True)
    received = original.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(received) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(received[key], expected[key], rtol=RTOL, atol=ATOL, err_msg=key)


def test_a_metric_with_one_value_per_threshold_or_class_is_kept_as_an_array_in_the_history_as_keras():
    from course_lib.testing import from_keras

    keras.utils.set_random_seed(0)
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    ours = from_keras(theirs)
    x = np.random.default_rng(0).random((40, 3)).astype("float32")
    y = (x[:, :1] > 0.5).astype("float32")
    histories = []
    for library, model in ((keras, theirs), (cl, ours)):
        model.compile(optimizer="adam", loss="binary_crossentropy",
                      metrics=[library.metrics.Precision(thresholds=[0.3, 0.7], name="precision"),
                               library.metrics.F1Score(name="f1")])  # named: the automatic names count instances
        histories.append(model.fit(x, y, epochs=2, batch_size=8, shuffle=False, validation_split=0.25,
                                   verbose=0).history)
    expected, got = histories
    assert sorted(got) == sorted(expected)
    for name in expected:
        for theirs_value, ours_value in zip(expected[name], got[name]):
            assert np.shape(ours_value) == np.shape(theirs_value), name
            np.testing.assert_allclose(ours_value, theirs_value, rtol=1e-5, atol=1e-6, err_msg=name)
