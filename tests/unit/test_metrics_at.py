"""SensitivityAtSpecificity, SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision: behaviour, errors, configs.

Expected numbers are Keras's docstring examples, worked by hand, or a
brute-force count over the threshold grid written here in NumPy. The same
metrics against tf.keras live in tests/parity/test_metrics_at_parity.py.
"""
import json
import math

import numpy as np
import pytest

import course_lib as cl
from course_lib import backend, metrics

CLASSES = (metrics.SensitivityAtSpecificity, metrics.SpecificityAtSensitivity, metrics.PrecisionAtRecall,
           metrics.RecallAtPrecision)
ARGUMENT = {metrics.SensitivityAtSpecificity: "specificity", metrics.SpecificityAtSensitivity: "sensitivity",
            metrics.PrecisionAtRecall: "recall", metrics.RecallAtPrecision: "precision"}
# (constrained rate, dependent rate) of each metric.
RATES = {metrics.SensitivityAtSpecificity: ("specificity", "sensitivity"),
         metrics.SpecificityAtSensitivity: ("sensitivity", "specificity"),
         metrics.PrecisionAtRecall: ("recall", "precision"),
         metrics.RecallAtPrecision: ("precision", "recall")}


def ratio(numerator, denominator):
    return np.where(denominator == 0, 0.0, numerator / np.where(denominator == 0, 1, denominator))


def brute_force(cls, value, y_true, y_pred, thresholds, sample_weight=None):
    """The best dependent rate over the thresholds whose constrained rate is >= value (0 if none)."""
    y_true, y_pred = np.asarray(y_true).reshape(-1) != 0, np.asarray(y_pred, "float64").reshape(-1)
    weights = np.ones_like(y_pred) if sample_weight is None else np.asarray(sample_weight, "float64").reshape(-1)
    rates = {key: [] for key in ("sensitivity", "specificity", "precision", "recall")}
    for threshold in thresholds:
        above = y_pred > threshold
        tp, fp = np.sum(weights * (above & y_true)), np.sum(weights * (above & ~y_true))
        tn, fn = np.sum(weights * (~above & ~y_true)), np.sum(weights * (~above & y_true))
        rates["sensitivity"].append(ratio(tp, tp + fn))
        rates["recall"].append(ratio(tp, tp + fn))
        rates["specificity"].append(ratio(tn, tn + fp))
        rates["precision"].append(ratio(tp, tp + fp))
    constrained, dependent = (np.array(rates[key]) for key in RATES[cls])
    return max(0.0, float(np.max(np.where(constrained >= value, dependent, 0))))


def grid(num_thresholds):
    return [0.5] if num_thresholds == 1 else [i / (num_thresholds - 1) for i in range(num_thresholds)]


def off_grid(rng, shape, num_thresholds):
    """Uniform scores kept away from the thresholds k/(n-1) (where float32 rounding could decide)."""
    steps = max(num_thresholds - 1, 2)
    values = rng.uniform(0, 1, shape)
    nearest = np.round(values * steps) / steps
    return np.where(np.abs(values - nearest) < 1e-3, values + 2e-3, values).clip(0, 1).astype("float32")


# --------------------------------------------------------------------------- values

def test_keras_docstring_examples():
    y_true, y_pred = [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]
    cases = [(metrics.SensitivityAtSpecificity(0.5), 0.5, [1, 1, 2, 2, 1], 0.333333),
             (metrics.SpecificityAtSensitivity(0.5), 0.66666667, [1, 1, 2, 2, 2], 0.5),
             (metrics.PrecisionAtRecall(0.5), 0.5, [2, 2, 2, 1, 1], 0.33333333)]
    for metric, plain, weight, weighted in cases:
        metric.update_state(y_true, y_pred)
        assert metric.result() == pytest.approx(plain, abs=1e-6)
        metric.reset_state()
        metric.update_state(y_true, y_pred, sample_weight=weight)
        assert metric.result() == pytest.approx(weighted, abs=1e-6)
    metric = metrics.RecallAtPrecision(0.8)
    metric.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert metric.result() == pytest.approx(0.5)
    metric.reset_state()
    metric.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert metric.result() == 1.0


@pytest.mark.parametrize("num_thresholds", [1, 2, 5, 200])
@pytest.mark.parametrize("value", [0.0, 0.3, 0.75, 1.0])
@pytest.mark.parametrize("cls", CLASSES)
def test_streamed_batches_match_a_brute_force_search(cls, value, num_thresholds, rng):
    metric = cls(value, num_thresholds=num_thresholds)
    labels, scores, weights = [], [], []
    for size in (11, 4, 17):
        y_true = rng.integers(0, 2, size)
        y_pred = off_grid(rng, size, num_thresholds)
        weight = (rng.integers(0, 9, size) / 4).astype("float32")  # quarters: float32 sums are exact
        metric.update_state(y_true, y_pred, sample_weight=weight)
        labels.append(y_true), scores.append(y_pred), weights.append(weight)
        expected = brute_force(cls, value, np.concatenate(labels), np.concatenate(scores), grid(num_thresholds),
                               np.concatenate(weights))
        assert metric.result() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_the_threshold_grid_is_keras_s():
    assert metrics.PrecisionAtRecall(0.5).thresholds[:3] == [0.0, 1 / 199, 2 / 199]
    default = metrics.PrecisionAtRecall(0.5).thresholds
    assert default[-1] == 1.0 and len(default) == 200
    assert metrics.RecallAtPrecision(0.5, num_thresholds=5).thresholds == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert metrics.RecallAtPrecision(0.5, num_thresholds=2).thresholds == [0.0, 1.0]
    single = metrics.RecallAtPrecision(0.5, num_thresholds=1)
    assert single.thresholds == [0.5] and not single._thresholds_distributed_evenly
    assert metrics.SensitivityAtSpecificity(0.5, num_thresholds=3)._thresholds_distributed_evenly


def test_scores_on_the_thresholds_are_not_above_them():
    """No epsilon at the ends (unlike AUC): a score of exactly 0 is below every threshold, 1 above none."""
    metric = metrics.SensitivityAtSpecificity(0.0, num_thresholds=3)
    metric.update_state([1, 1, 1, 0], [0.0, 0.5, 1.0, 0.5])
    np.testing.assert_array_equal(metric.true_positives, [2, 1, 0])  # above 0: 0.5, 1.0; above 0.5: 1.0
    np.testing.assert_array_equal(metric.false_negatives, [1, 2, 3])
    np.testing.assert_array_equal(metric.false_positives, [1, 0, 0])
    np.testing.assert_array_equal(metric.true_negatives, [0, 1, 1])
    assert metric.result() == pytest.approx(2 / 3)  # every threshold feasible: the best sensitivity
    single = metrics.SensitivityAtSpecificity(0.0, num_thresholds=1)
    single.update_state([1, 1], [0.5, 0.6])
    assert single.result() == 0.5  # 0.5 is not above the threshold 0.5


def test_ties_and_the_feasible_set():
    y_true, y_pred = [0, 0, 1, 1], [0.3, 0.3, 0.3, 0.3]  # every score tied
    metric = metrics.SensitivityAtSpecificity(1.0, num_thresholds=5)
    metric.update_state(y_true, y_pred)
    # Thresholds 0.5, 0.75, 1: specificity 1 but sensitivity 0; 0 and 0.25: specificity 0.
    assert metric.result() == 0.0
    metric = metrics.SensitivityAtSpecificity(0.0, num_thresholds=5)
    metric.update_state(y_true, y_pred)
    assert metric.result() == 1.0  # every threshold feasible
    # Several thresholds feasible with the same precision: the value, whichever threshold holds it.
    metric = metrics.PrecisionAtRecall(0.5, num_thresholds=5)
    metric.update_state([1, 0, 1, 0], [0.9, 0.1, 0.6, 0.2])
    assert metric.result() == 1.0  # thresholds 0.25 and 0.5 both reach recall 1 with precision 1


def test_the_bound_is_reached_with_equality_in_the_counts_float_type():
    y_true = [0, 0, 0, 0, 0, 1, 1]
    y_pred = [0.1, 0.2, 0.3, 0.4, 0.9, 0.6, 0.95]  # threshold 0.5: specificity 4/5, sensitivity 1
    for dtype in ("float32", "float64"):
        metric = metrics.SensitivityAtSpecificity(0.8, num_thresholds=3, dtype=dtype)
        metric.update_state(y_true, y_pred)
        assert metric.true_positives.dtype == np.dtype(dtype)
        assert metric.result() == 1.0, dtype


def test_nothing_reaches_the_bound_gives_zero():
    metric = metrics.RecallAtPrecision(0.9)
    metric.update_state([0, 0, 0, 1], [0.9, 0.8, 0.7, 0.1])
    assert metric.result() == 0.0
    assert metrics.PrecisionAtRecall(0.5).result() == 0.0  # nothing seen: every rate is 0, so only 0 is feasible
    assert metrics.PrecisionAtRecall(0.0).result() == 0.0
    nan = metrics.RecallAtPrecision(math.nan)  # Keras's range test lets NaN through; no threshold reaches it
    nan.update_state([1, 0], [0.9, 0.1])
    assert nan.result() == 0.0


def test_class_id_scores_one_column(rng):
    y_true = np.eye(3, dtype="float32")[rng.integers(0, 3, 30)]
    y_pred = off_grid(rng, (30, 3), 10)
    for cls in CLASSES:
        metric = cls(0.6, num_thresholds=10, class_id=1)
        metric.update_state(y_true, y_pred)
        assert metric.result() == pytest.approx(brute_force(cls, 0.6, y_true[:, 1], y_pred[:, 1], grid(10)))
        weighted = cls(0.6, num_thresholds=10, class_id=1)
        weight = rng.uniform(0, 1, 30).astype("float32")
        weighted.update_state(y_true, y_pred, sample_weight=weight)
        expected = brute_force(cls, 0.6, y_true[:, 1], y_pred[:, 1], grid(10), weight)
        assert weighted.result() == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_without_class_id_every_entry_is_one_example(rng):
    y_true = rng.integers(0, 2, (8, 3))
    y_pred = off_grid(rng, (8, 3), 200)
    metric = metrics.SpecificityAtSensitivity(0.5)
    metric.update_state(y_true, y_pred)
    assert metric.result() == pytest.approx(brute_force(metrics.SpecificityAtSensitivity, 0.5, y_true, y_pred,
                                                        grid(200)), rel=1e-6)


def test_zero_weights_mask_samples_and_labels_of_shape_n_meet_scores_of_shape_n_1():
    masked = metrics.PrecisionAtRecall(0.5, num_thresholds=3)
    masked.update_state([1, 0, 1, 0], [[0.9], [0.8], [0.2], [0.1]], sample_weight=[1, 0, 1, 1])
    plain = metrics.PrecisionAtRecall(0.5, num_thresholds=3)
    plain.update_state([1, 1, 0], [[0.9], [0.2], [0.1]])
    np.testing.assert_array_equal(masked.true_positives, plain.true_positives)
    np.testing.assert_array_equal(masked.false_positives, plain.false_positives)
    assert masked.result() == plain.result() == 1.0


def test_reset_state_forgets_every_batch(rng):
    for cls in CLASSES:
        metric = cls(0.5, num_thresholds=7)
        metric.update_state(rng.integers(0, 2, 10), rng.uniform(size=10))
        metric.reset_state()
        for count in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
            np.testing.assert_array_equal(getattr(metric, count), np.zeros(7, "float32"))
        assert metric.result() == 0.0
        metric.update_state([1, 0], [0.9, 0.1])
        fresh = cls(0.5, num_thresholds=7)
        fresh.update_state([1, 0], [0.9, 0.1])
        assert metric.result() == fresh.result()


def test_calling_updates_then_returns_the_result():
    metric = metrics.RecallAtPrecision(0.8)
    assert metric([0, 0, 1, 1], [0, 0.5, 0.3, 0.9]) == pytest.approx(0.5)
    assert repr(metric) == "<RecallAtPrecision name='recall_at_precision' result=0.5>"


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("cls", CLASSES)
def test_out_of_range_arguments_are_refused_naming_the_class(cls):
    argument = ARGUMENT[cls]
    for value in (-0.1, 1.5):
        with pytest.raises(ValueError, match=rf"{cls.__name__}: {argument} must be in the range \[0, 1\]\. "
                                             rf"Received: {argument}={value}"):
            cls(value)
    for value in ("0.5", None, True):
        with pytest.raises(TypeError, match=f"{cls.__name__}: {argument} must be a real number"):
            cls(value)
    for count in (0, -3):
        with pytest.raises(ValueError, match=rf"{cls.__name__}: num_thresholds must be an integer > 0\. "
                                             rf"Received: num_thresholds={count}"):
            cls(0.5, num_thresholds=count)
    for count in (2.0, True):
        with pytest.raises(TypeError, match=f"{cls.__name__}: num_thresholds must be an integer > 0"):
            cls(0.5, num_thresholds=count)
    with pytest.raises(ValueError, match=f"{cls.__name__}: class_id must be >= 0"):
        cls(0.5, class_id=-1)
    with pytest.raises(TypeError, match=f"{cls.__name__}: class_id must be an integer"):
        cls(0.5, class_id=1.0)
    assert cls(0.0).get_config()[argument] == 0.0 and cls(1).get_config()[argument] == 1  # the ends are in range


def test_update_errors_name_the_class():
    with pytest.raises(ValueError, match="PrecisionAtRecall: class_id=3 is not a column of y_pred"):
        metrics.PrecisionAtRecall(0.5, class_id=3).update_state(np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="RecallAtPrecision: when class_id is provided, y_pred must be a 2D array"):
        metrics.RecallAtPrecision(0.5, class_id=0).update_state(1.0, 0.5)
    with pytest.raises(ValueError, match="SensitivityAtSpecificity: y_true and y_pred must have the same shape"):
        metrics.SensitivityAtSpecificity(0.5).update_state([[1, 0]], [[0.1, 0.2, 0.3]])
    with pytest.raises(ValueError, match="SpecificityAtSensitivity: sample_weight of shape .* does not broadcast"):
        metrics.SpecificityAtSensitivity(0.5).update_state([1, 0, 1], [0.2, 0.3, 0.4], sample_weight=[1, 2])


# --------------------------------------------------------------------------- configs, names, registration

CONFIG_CASES = [
    (metrics.SensitivityAtSpecificity, {"specificity": 0.5},
     {"name": "sensitivity_at_specificity", "dtype": "float32", "class_id": None, "num_thresholds": 200,
      "specificity": 0.5}),
    (metrics.SpecificityAtSensitivity, {"sensitivity": 0.3, "num_thresholds": 1, "class_id": 2},
     {"name": "specificity_at_sensitivity", "dtype": "float32", "class_id": 2, "num_thresholds": 1,
      "sensitivity": 0.3}),
    (metrics.PrecisionAtRecall, {"recall": 0.8, "num_thresholds": 20, "name": "p_at_r", "dtype": "float64"},
     {"name": "p_at_r", "dtype": "float64", "class_id": None, "num_thresholds": 20, "recall": 0.8}),
    (metrics.RecallAtPrecision, {"precision": 1, "class_id": 0},
     {"name": "recall_at_precision", "dtype": "float32", "class_id": 0, "num_thresholds": 200, "precision": 1}),
]


@pytest.mark.parametrize("cls,kwargs,expected", CONFIG_CASES, ids=[c[0].__name__ for c in CONFIG_CASES])
def test_get_config_and_serialization_round_trip(cls, kwargs, expected):
    metric = cls(**kwargs)
    config = metric.get_config()
    assert config == expected and list(config) == list(expected)  # Keras's keys, in Keras's order
    assert getattr(metric, ARGUMENT[cls]) == metric.value == expected[ARGUMENT[cls]]
    rebuilt = metrics.deserialize(json.loads(json.dumps(metrics.serialize(metric))))
    assert type(rebuilt) is cls and rebuilt.get_config() == config
    assert cls.from_config(config).get_config() == config


def test_registered_by_class_name_and_exported():
    for cls in CLASSES:
        assert getattr(cl.metrics, cls.__name__) is cls
        assert metrics._CLASSES[cls.__name__] is cls
        assert cl.saving.serialize_keras_object(cls(0.5))["module"] == "keras.metrics"
        assert cls._direction == "up"  # for EarlyStopping(mode="auto")
    instance = metrics.PrecisionAtRecall(0.5)
    assert metrics.get(instance) is instance
    with pytest.raises(TypeError, match="recall"):  # Keras's get instantiates the class too, and fails the same way
        metrics.get("PrecisionAtRecall")


def test_default_names_are_numbered():
    assert [metrics.PrecisionAtRecall(0.5).name for _ in range(3)] == [
        "precision_at_recall", "precision_at_recall_1", "precision_at_recall_2"]
    assert metrics.RecallAtPrecision(0.5, name="mine").name == "mine"


def test_the_strict_backend_gives_the_same_numbers(rng):
    """No host arrays mixed in and no silent float(): what a CuPy run needs."""
    y_true = rng.integers(0, 2, (12, 3)).astype("float32")
    y_pred = rng.uniform(size=(12, 3)).astype("float32")
    weight = rng.uniform(size=12).astype("float32")

    def run():
        made = [metrics.SensitivityAtSpecificity(0.5), metrics.SpecificityAtSensitivity(0.4, num_thresholds=1),
                metrics.PrecisionAtRecall(0.3, class_id=2), metrics.RecallAtPrecision(0.6, num_thresholds=9)]
        for metric in made:
            metric.update_state(backend.xp.asarray(y_true), backend.xp.asarray(y_pred),
                                sample_weight=backend.xp.asarray(weight))
        return [metric.result() for metric in made]

    expected = run()
    with backend.backend_scope("strict"):
        received = run()
    assert received == expected


# --------------------------------------------------------------------------- in the training loop

def _binary_model():
    cl.utils.set_random_seed(0)
    return cl.Sequential([cl.Input((4,)), cl.layers.Dense(1, activation="sigmoid")])


def _data(seed=1, samples=32):
    generator = np.random.default_rng(seed)
    x = generator.normal(size=(samples, 4)).astype("float32")
    return x, (x[:, :1] + 0.5 * generator.normal(size=(samples, 1)) > 0).astype("float32")


def test_fit_logs_them_and_the_validation_value_is_the_metric_of_the_predictions():
    x, y = _data()
    model = _binary_model()
    model.compile("sgd", "binary_crossentropy",
                  metrics=[metrics.PrecisionAtRecall(0.5), metrics.SensitivityAtSpecificity(0.7, name="se")])
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_split=0.25, shuffle=False).history
    assert sorted(history) == sorted(["loss", "precision_at_recall", "se", "val_loss", "val_precision_at_recall",
                                      "val_se"])
    check = metrics.PrecisionAtRecall(0.5)
    check.update_state(y[24:], model.predict(x[24:], verbose=0))
    assert history["val_precision_at_recall"][-1] == pytest.approx(check.result(), rel=1e-6)


def test_compiled_metrics_survive_a_keras_file(tmp_path):
    model = _binary_model()
    model.compile("adam", "binary_crossentropy",
                  metrics=[metrics.SensitivityAtSpecificity(0.6, num_thresholds=11),
                           metrics.SpecificityAtSensitivity(0.4, name="sp"),
                           metrics.PrecisionAtRecall(0.5, num_thresholds=1), metrics.RecallAtPrecision(0.7)])
    path = tmp_path / "metrics_at.keras"
    model.save(path)
    loaded = cl.models.load_model(path)
    x, y = _data(seed=2, samples=16)
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == model.evaluate(x, y, verbose=0, return_dict=True)
    saved = [metric for _, _, metric in loaded._metric_objects]
    assert [type(metric).__name__ for metric in saved] == [
        "SensitivityAtSpecificity", "SpecificityAtSensitivity", "PrecisionAtRecall", "RecallAtPrecision"]
    assert saved[0].num_thresholds == 11 and saved[1].name == "sp" and saved[2].thresholds == [0.5]
