"""SensitivityAtSpecificity, SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision give tf.keras's numbers.

Every test feeds the same batches (or trains the same model) through tf.keras
and course_lib in the same test: random scores, and hand-made scores that sit
on the threshold grid, tie with each other and make several thresholds
feasible at once. Both accumulate in float32. Without weights everything came
out equal to Keras's; with weights (summed in another order) the results
measured within 1.5e-7 relative, the counts within 2.5e-7 relative (the
true/false negatives of thresholds above every score, a float32 difference of
two sums in both libraries, within 1e-6 absolute), and the fit histories
within 1.9e-7 relative, so the tolerances are rtol 1e-5 / atol 1e-6.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import metrics

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6
NAMES = ("SensitivityAtSpecificity", "SpecificityAtSensitivity", "PrecisionAtRecall", "RecallAtPrecision")
COUNTS = ("true_positives", "false_positives", "true_negatives", "false_negatives")


def _batches(kind, rng, sizes=(9, 14, 6)):
    out = []
    for size in sizes:
        if kind == "binary":  # labels (N,) against scores (N, 1)
            y_true = rng.integers(0, 2, size).astype("float32")
            y_pred = rng.uniform(0, 1, (size, 1)).astype("float32")
        elif kind == "grid":  # ties: a handful of scores, exact 0s and 1s, on the thresholds of 3, 5 and 200
            y_true = rng.integers(0, 2, (size, 3)).astype("float32")
            y_pred = rng.choice(np.array([0.0, 0.25, 0.5, 0.5, 0.75, 1.0, 1.0], "float32"), (size, 3))
        elif kind == "onehot":  # class_id picks one column of softmax-like scores
            y_true = np.eye(4, dtype="float32")[rng.integers(0, 4, size)]
            y_pred = rng.dirichlet(np.ones(4), size).astype("float32")
        else:
            raise AssertionError(kind)
        out.append((y_true, y_pred))
    return out


CASES = [(name, {"value": value}, kind)
         for name in NAMES for value, kind in ((0.5, "binary"), (0.8, "grid"), (0.0, "grid"), (1.0, "binary"))]
CASES += [
    ("SensitivityAtSpecificity", {"value": 0.6, "num_thresholds": 1}, "binary"),  # the single threshold 0.5
    ("SpecificityAtSensitivity", {"value": 0.4, "num_thresholds": 2}, "grid"),  # thresholds 0 and 1
    ("PrecisionAtRecall", {"value": 0.7, "num_thresholds": 3}, "grid"),  # scores on the thresholds
    ("RecallAtPrecision", {"value": 0.6, "num_thresholds": 5}, "grid"),
    ("RecallAtPrecision", {"value": 0.3, "num_thresholds": 7}, "binary"),
    ("SensitivityAtSpecificity", {"value": 0.9, "class_id": 2}, "onehot"),
    ("SpecificityAtSensitivity", {"value": 0.75, "class_id": 0, "num_thresholds": 50}, "onehot"),
    ("PrecisionAtRecall", {"value": 0.5, "class_id": 1}, "grid"),
    ("RecallAtPrecision", {"value": 0.25, "class_id": 3, "num_thresholds": 10}, "onehot"),
]
IDS = [f"{name}-{kwargs}-{kind}" for name, kwargs, kind in CASES]

_ARGUMENT = {"SensitivityAtSpecificity": "specificity", "SpecificityAtSensitivity": "sensitivity",
             "PrecisionAtRecall": "recall", "RecallAtPrecision": "precision"}


def _pair(name, kwargs):
    kwargs = dict(kwargs)
    kwargs[_ARGUMENT[name]] = kwargs.pop("value")
    return getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)


def _weights(rng, shape, value):
    """Random weights; for the bounds 0 and 1, quarters, whose float32 sums are exact in any order.

    At a threshold below every negative (positive) score the true negatives
    (false negatives) are ``sum(weights) - cumsum(weights)``: 0 exactly, but
    with float weights a float32 rounding residue of about 1e-6 whose sign
    depends on the summation order, which differs between TensorFlow and
    NumPy. Against the bound 0 or 1 that residue decides whether the threshold
    is feasible, in Keras as here, so those cases are fed exact weights.
    """
    if value in (0.0, 1.0):
        return (rng.integers(0, 9, shape) / 4).astype("float32")
    return rng.uniform(0, 2, shape).astype("float32")


def _assert_same_state(ours, theirs):
    np.testing.assert_allclose(ours.result(), np.asarray(theirs.result()), rtol=RTOL, atol=ATOL)
    for count in COUNTS:
        np.testing.assert_allclose(getattr(ours, count), np.asarray(getattr(theirs, count)),
                                   rtol=RTOL, atol=ATOL, err_msg=count)


@pytest.mark.parametrize("weighting", ["none", "per_sample", "per_entry"])
@pytest.mark.parametrize("name,kwargs,kind", CASES, ids=IDS)
def test_streamed_batches_match_keras(name, kwargs, kind, weighting, rng):
    if weighting == "per_entry" and kind == "binary":
        pytest.skip("binary labels have one entry per sample")
    keras.utils.clear_session()
    ours, theirs = _pair(name, kwargs)
    assert ours.name == theirs.name
    assert ours.thresholds == pytest.approx(list(theirs.thresholds), abs=0)
    assert ours._thresholds_distributed_evenly == theirs._thresholds_distributed_evenly
    assert ours.get_config() == theirs.get_config() and list(ours.get_config()) == list(theirs.get_config())
    for y_true, y_pred in _batches(kind, rng):
        shape = {"none": None, "per_sample": y_pred.shape[:1], "per_entry": y_pred.shape}[weighting]
        sample_weight = None if shape is None else _weights(rng, shape, kwargs["value"])
        if sample_weight is not None:
            sample_weight[0] = 0.0  # a masked sample
        if weighting == "per_entry" and "class_id" in kwargs:
            # One weight per entry of every class, against the one column scored: both refuse it.
            with pytest.raises(tf.errors.InvalidArgumentError):
                theirs.update_state(y_true, y_pred, sample_weight=sample_weight)
            with pytest.raises(ValueError, match=f"{name}: sample_weight of shape .* does not broadcast"):
                ours.update_state(y_true, y_pred, sample_weight=sample_weight)
            return
        ours.update_state(y_true, y_pred, sample_weight=sample_weight)
        theirs.update_state(y_true, y_pred, sample_weight=sample_weight)
        assert isinstance(ours.result(), float)
        _assert_same_state(ours, theirs)
    ours.reset_state()
    theirs.reset_state()
    _assert_same_state(ours, theirs)


# Hand-made: every score a tie, several thresholds feasible with the same dependent rate, none feasible,
# exactly on the bound (4/5 = 0.8 and 2/3 compared in float32), and weights that make a rate negative.
TIES = [
    ([0, 0, 0, 1, 1], [0.0, 0.3, 0.8, 0.3, 0.8], None),
    ([0, 0, 0, 0, 0, 1, 1, 1], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], None),
    ([0, 0, 0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.9, 0.6, 0.95], None),
    ([1, 1, 1, 0, 0, 0], [0.7, 0.7, 0.2, 0.7, 0.2, 0.2], [1.0, 2.0, 1.0, 1.0, 2.0, 1.0]),
    ([0, 1, 0, 1], [1.0, 1.0, 0.0, 0.0], None),
    ([1, 1, 1], [0.0, 0.5, 1.0], None),  # no negatives: specificity 0 everywhere
    ([0, 0, 0], [0.0, 0.5, 1.0], None),  # no positives: sensitivity, precision, recall 0 everywhere
    ([0, 1, 1, 0, 1], [0.2, 0.2, 0.6, 0.6, 0.9], [1.0, 1.0, -0.5, 1.0, 1.0]),
]


@pytest.mark.parametrize("num_thresholds", [1, 2, 3, 5, 200])
@pytest.mark.parametrize("value", [0.0, 1 / 3, 0.5, 2 / 3, 0.8, 1.0])
@pytest.mark.parametrize("name", NAMES)
def test_tie_heavy_hand_made_inputs_match_keras(name, value, num_thresholds):
    for y_true, y_pred, weight in TIES:
        ours, theirs = _pair(name, {"value": value, "num_thresholds": num_thresholds})
        y_true, y_pred = np.asarray(y_true, "float32"), np.asarray(y_pred, "float32")
        weight = None if weight is None else np.asarray(weight, "float32")
        ours.update_state(y_true, y_pred, sample_weight=weight)
        theirs.update_state(y_true, y_pred, sample_weight=weight)
        _assert_same_state(ours, theirs)
        # The same batch again, split in two: the counts add up as Keras's do.
        ours.update_state(y_true[:2], y_pred[:2], sample_weight=None if weight is None else weight[:2])
        ours.update_state(y_true[2:], y_pred[2:], sample_weight=None if weight is None else weight[2:])
        theirs.update_state(y_true[:2], y_pred[:2], sample_weight=None if weight is None else weight[:2])
        theirs.update_state(y_true[2:], y_pred[2:], sample_weight=None if weight is None else weight[2:])
        _assert_same_state(ours, theirs)


@pytest.mark.parametrize("name", NAMES)
def test_float64_counts_compare_the_bound_in_float64_as_keras(name):
    """With dtype='float64' the bound is the double 0.8: 4/5 reaches it (float32's 0.8 would not)."""
    keras.utils.clear_session()
    y_true = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], "float32")
    y_pred = np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.6, 0.95, 0.7, 0.2, 0.8], "float32")
    ours, theirs = _pair(name, {"value": 0.8, "num_thresholds": 3})
    ours64, theirs64 = (cls(0.8, num_thresholds=3, dtype="float64")
                        for cls in (getattr(metrics, name), getattr(keras.metrics, name)))
    for first, second in ((ours, theirs), (ours64, theirs64)):
        first.update_state(y_true, y_pred)
        second.update_state(y_true, y_pred)
        assert first.get_config() == second.get_config()
        _assert_same_state(first, second)


def test_names_as_keras_numbers_them():
    keras.utils.clear_session()
    cl.backend.clear_session()
    for name in NAMES + NAMES:
        assert getattr(metrics, name)(0.5).name == getattr(keras.metrics, name)(0.5).name
    assert metrics.PrecisionAtRecall(0.5).name == "precision_at_recall_2"


# --------------------------------------------------------------------------- fit and .keras files

def _binary_data(seed=0, samples=80):
    generator = np.random.default_rng(seed)
    x = generator.standard_normal((samples, 5)).astype("float32")
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.8 * generator.standard_normal(samples) > 0).astype("float32")
    return x, y


def _assert_same_logs(ours, theirs):
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=RTOL, atol=ATOL, err_msg=key)


def _compiled(library):
    return [library.metrics.PrecisionAtRecall(0.5), library.metrics.RecallAtPrecision(0.7),
            library.metrics.SensitivityAtSpecificity(0.8, num_thresholds=20),
            library.metrics.SpecificityAtSensitivity(0.6, num_thresholds=1, name="spec_at_sens")]


def test_fit_history_and_evaluate_match_keras():
    keras.utils.clear_session()
    cl.backend.clear_session()
    keras.utils.set_random_seed(0)
    keras_model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"),
                                    keras.layers.Dense(1, activation="sigmoid")])
    ours = cl.testing.from_keras(keras_model)
    keras_model.compile(optimizer="adam", loss="binary_crossentropy", metrics=_compiled(keras))
    ours.compile(optimizer="adam", loss="binary_crossentropy", metrics=_compiled(cl))
    x, y = _binary_data()
    kwargs = dict(epochs=4, batch_size=16, shuffle=False, verbose=0, validation_split=0.25)
    keras_history = keras_model.fit(x, y, **kwargs).history
    our_history = ours.fit(x, y, **kwargs).history
    assert "val_precision_at_recall" in our_history and "spec_at_sens" in our_history
    _assert_same_logs(our_history, keras_history)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), keras_model.evaluate(x, y, verbose=0),
                               rtol=RTOL, atol=ATOL)


def test_fit_history_with_class_id_on_softmax_outputs_matches_keras():
    keras.utils.clear_session()
    cl.backend.clear_session()
    keras.utils.set_random_seed(1)
    keras_model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"),
                                    keras.layers.Dense(4, activation="softmax")])
    ours = cl.testing.from_keras(keras_model)

    def compiled(library):
        return [library.metrics.PrecisionAtRecall(0.4, class_id=1, name="p_r"),
                library.metrics.RecallAtPrecision(0.5, class_id=2, num_thresholds=30, name="r_p"),
                library.metrics.SensitivityAtSpecificity(0.7, class_id=0, name="se_sp"),
                library.metrics.SpecificityAtSensitivity(0.3, class_id=3, name="sp_se")]

    keras_model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=compiled(keras))
    ours.compile(optimizer="adam", loss="categorical_crossentropy", metrics=compiled(cl))
    generator = np.random.default_rng(2)
    x = generator.standard_normal((64, 5)).astype("float32")
    y = np.eye(4, dtype="float32")[np.argmax(x[:, :4] + 0.5 * generator.standard_normal((64, 4)), axis=1)]
    weight = generator.uniform(0.5, 2.0, 64).astype("float32")
    kwargs = dict(epochs=3, batch_size=16, shuffle=False, verbose=0, validation_split=0.25, sample_weight=weight)
    _assert_same_logs(ours.fit(x, y, **kwargs).history, keras_model.fit(x, y, **kwargs).history)


def _binary_model(library):
    return library.Sequential([library.Input((5,)), library.layers.Dense(1, activation="sigmoid")])


def test_a_keras_file_with_these_metrics_opens_in_course_lib(tmp_path):
    keras.utils.set_random_seed(4)
    original = _binary_model(keras)
    original.compile("adam", "binary_crossentropy", metrics=_compiled(keras))
    original.save(tmp_path / "keras.keras")
    loaded = cl.models.load_model(tmp_path / "keras.keras")
    x, y = _binary_data(seed=3, samples=32)
    _assert_same_logs(loaded.evaluate(x, y, verbose=0, return_dict=True),
                      original.evaluate(x, y, verbose=0, return_dict=True))
    assert [type(metric).__name__ for _, _, metric in loaded._metric_objects] == [
        "PrecisionAtRecall", "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity"]


def test_a_course_lib_file_with_these_metrics_opens_in_keras(tmp_path):
    cl.utils.set_random_seed(4)
    original = _binary_model(cl)
    original.compile("adam", "binary_crossentropy", metrics=_compiled(cl))
    original.save(tmp_path / "ours.keras")
    loaded = keras.models.load_model(tmp_path / "ours.keras")
    x, y = _binary_data(seed=3, samples=32)
    expected = loaded.evaluate(x, y, verbose=0, return_dict=True)
    _assert_same_logs(original.evaluate(x, y, verbose=0, return_dict=True), expected)
    assert "spec_at_sens" in expected
