"""Precision, Recall, AUC, F1Score/FBetaScore and RootMeanSquaredError: behaviour, errors, names, configs.

Expected numbers are worked out by hand (Keras's docstring examples and the
worked cases of its own tests) or by a brute-force count written here in NumPy.
The same metrics against tf.keras live in tests/parity/test_metrics_classification_parity.py.
"""
import json
import math

import numpy as np
import pytest

import course_lib as cl
from course_lib import backend, metrics


def brute_force_counts(y_true, y_pred, thresholds, sample_weight=None):
    """tp, fp, tn, fn per threshold: a prediction above a threshold is positive, a non-zero label is positive."""
    y_pred = np.asarray(y_pred, "float64")
    weights = np.ones_like(y_pred) if sample_weight is None else np.broadcast_to(
        np.asarray(sample_weight, "float64"), y_pred.shape)
    y_true, y_pred, weights = np.asarray(y_true).reshape(-1) != 0, y_pred.reshape(-1), weights.reshape(-1)
    counts = {key: [] for key in ("tp", "fp", "tn", "fn")}
    for threshold in thresholds:
        above = y_pred > np.float32(threshold)
        counts["tp"].append(np.sum(weights * (above & y_true)))
        counts["fp"].append(np.sum(weights * (above & ~y_true)))
        counts["tn"].append(np.sum(weights * (~above & ~y_true)))
        counts["fn"].append(np.sum(weights * (~above & y_true)))
    return {key: np.array(value) for key, value in counts.items()}


def ratio(numerator, denominator):
    return np.where(denominator == 0, 0.0, numerator / np.where(denominator == 0, 1, denominator))


def off_grid(rng, shape, grid=4):
    """Uniform scores kept away from the thresholds k/grid (where float32 rounding could decide)."""
    values = rng.uniform(0, 1, shape)
    nearest = np.round(values * grid) / grid
    return np.where(np.abs(values - nearest) < 1e-3, values + 2e-3, values).clip(0, 1).astype("float32")


# --------------------------------------------------------------------------- Precision and Recall

def test_precision_and_recall_docstring_examples():
    y_true, y_pred = [0, 1, 1, 1], [1, 0, 1, 1]
    for cls in (metrics.Precision, metrics.Recall):
        metric = cls()
        metric.update_state(y_true, y_pred)
        assert metric.result() == pytest.approx(2 / 3, rel=1e-6)
        assert isinstance(metric.result(), float)
        metric.reset_state()
        metric.update_state(y_true, y_pred, sample_weight=[0, 0, 1, 0])
        assert metric.result() == 1.0
    precision = metrics.Precision(top_k=2)
    precision.update_state([0, 0, 1, 1], [1, 1, 1, 1])  # ties go to the lower index: the first two
    assert precision.result() == 0.0
    precision = metrics.Precision(top_k=4)
    precision.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert precision.result() == 0.5


@pytest.mark.parametrize("thresholds", [[0.2, 0.5, 0.9], [0.0, 0.25, 0.5, 0.75, 1.0], (0.3, 0.6)],
                         ids=["uneven", "evenly_spaced", "tuple"])
@pytest.mark.parametrize("weighting", ["none", "per_sample", "per_entry"])
def test_threshold_lists_give_one_value_per_threshold(thresholds, weighting, rng):
    """Several batches, several thresholds; the evenly spaced list takes Keras's bucketed path."""
    precision, recall = metrics.Precision(thresholds=thresholds), metrics.Recall(thresholds=thresholds)
    totals = None
    for size in (6, 9, 4):
        y_true = rng.integers(0, 2, (size, 3)).astype("float32")
        y_pred = off_grid(rng, (size, 3))
        weight = {"none": None, "per_sample": rng.uniform(0, 2, size),
                  "per_entry": rng.uniform(0, 2, (size, 3))}[weighting]
        broadcast = None if weight is None else (weight[:, None] if weight.ndim == 1 else weight)
        counts = brute_force_counts(y_true, y_pred, thresholds, broadcast)
        totals = counts if totals is None else {key: totals[key] + counts[key] for key in totals}
        precision.update_state(y_true, y_pred, sample_weight=weight)
        recall.update_state(y_true, y_pred, sample_weight=weight)
        assert precision.result().shape == recall.result().shape == (len(thresholds),)
        assert precision.result().dtype == np.float32
        np.testing.assert_allclose(precision.result(), ratio(totals["tp"], totals["tp"] + totals["fp"]),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(recall.result(), ratio(totals["tp"], totals["tp"] + totals["fn"]),
                                   rtol=1e-5, atol=1e-6)


def test_evenly_spaced_thresholds_count_the_ends_as_keras_does():
    """Bucketed path: 0 is above no threshold of [0, 0.5, 1]; 1 is above 0 and 0.5 but not 1; 0.5 only above 0."""
    recall = metrics.Recall(thresholds=[0.0, 0.5, 1.0])
    recall.update_state([1, 1, 1], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(recall.result(), [2 / 3, 1 / 3, 0.0], rtol=1e-6)
    uneven = metrics.Recall(thresholds=[0.0, 0.5, 0.999])
    uneven.update_state([1, 1, 1], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(uneven.result(), [2 / 3, 1 / 3, 1 / 3], rtol=1e-6)


def test_class_id_scores_one_column(rng):
    y_true = rng.integers(0, 2, (12, 4)).astype("float32")
    y_pred = off_grid(rng, (12, 4))
    weight = rng.uniform(0, 2, 12)
    for cls in (metrics.Precision, metrics.Recall):
        column, whole = cls(class_id=2), cls()
        column.update_state(y_true, y_pred, sample_weight=weight)
        whole.update_state(y_true[:, 2], y_pred[:, 2], sample_weight=weight)
        assert column.result() == pytest.approx(whole.result(), rel=1e-6)


def test_top_k_keeps_the_k_highest_scores_of_each_row(rng):
    y_true = rng.integers(0, 2, (10, 5)).astype("float32")
    y_pred = rng.uniform(0, 1, (10, 5)).astype("float32")
    top = np.argsort(-y_pred, axis=-1)[:, :2]
    chosen = np.zeros_like(y_true, bool)
    np.put_along_axis(chosen, top, True, axis=-1)
    tp = np.sum(chosen & (y_true != 0))
    precision, recall = metrics.Precision(top_k=2), metrics.Recall(top_k=2)
    precision.update_state(y_true, y_pred)
    recall.update_state(y_true, y_pred)
    assert precision.result() == pytest.approx(tp / chosen.sum(), rel=1e-6)
    assert recall.result() == pytest.approx(tp / np.sum(y_true != 0), rel=1e-6)
    # With a threshold as well, a top-k score must also be above it.
    both = metrics.Precision(top_k=2, thresholds=0.7)
    both.update_state(y_true, y_pred)
    kept = chosen & (y_pred > np.float32(0.7))
    assert both.result() == pytest.approx(np.sum(kept & (y_true != 0)) / kept.sum(), rel=1e-6)
    # top_k and class_id together: the column counts where it is among the row's top k.
    combined = metrics.Recall(top_k=2, class_id=1)
    combined.update_state(y_true, y_pred)
    positives = y_true[:, 1] != 0
    assert combined.result() == pytest.approx(np.sum(chosen[:, 1] & positives) / positives.sum(), rel=1e-6)


def test_labels_of_shape_n_meet_predictions_of_shape_n_1():
    metric = metrics.Precision()
    metric.update_state(np.array([1.0, 0.0, 1.0]), np.array([[0.9], [0.8], [0.2]]))
    assert metric.result() == 0.5


def test_reset_state_forgets_every_batch(rng):
    y_true, y_pred = rng.integers(0, 2, 20), rng.uniform(size=20)
    for metric in (metrics.Precision(thresholds=[0.3, 0.6]), metrics.Recall(), metrics.AUC(),
                   metrics.AUC(multi_label=True), metrics.F1Score(average="macro"),
                   metrics.RootMeanSquaredError()):
        labels, scores = (y_true.reshape(10, 2), y_pred.reshape(10, 2))
        metric.update_state(labels, scores)
        first = metric.result()
        metric.update_state(labels[::-1] * 0, scores)
        metric.reset_state()
        np.testing.assert_array_equal(np.asarray(metric.result()), np.zeros_like(np.asarray(first)))
        metric.update_state(labels, scores)
        np.testing.assert_array_equal(metric.result(), first)


def test_precision_recall_errors():
    with pytest.raises(ValueError, match=r"Precision: threshold values must be in \[0, 1\]. Received: \[1.5\]"):
        metrics.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(TypeError, match="Recall: thresholds must be a real number"):
        metrics.Recall(thresholds=[0.5, None])
    with pytest.raises(TypeError, match="Precision: top_k must be an integer"):
        metrics.Precision(top_k=1.5)
    with pytest.raises(ValueError, match="Recall: class_id must be >= 0"):
        metrics.Recall(class_id=-1)
    with pytest.raises(ValueError, match="Precision: top_k=4 needs at least 4 scores"):
        metrics.Precision(top_k=4).update_state(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="Recall: when class_id is provided, y_pred must be a 2D array"):
        metrics.Recall(class_id=0).update_state([0, 1], [0.2, 0.8])
    with pytest.raises(ValueError, match=r"Precision: class_id=3 is not a column of y_pred of shape \(2, 3\)"):
        metrics.Precision(class_id=3).update_state(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"Recall: y_true and y_pred must have the same shape.*\(4,\).*\(5,\)"):
        metrics.Recall().update_state(np.zeros(4), np.zeros(5))
    with pytest.raises(ValueError, match=r"Precision: sample_weight of shape \(3,\) does not broadcast"):
        metrics.Precision().update_state(np.zeros(4), np.zeros(4), sample_weight=np.ones(3))
    with pytest.raises(TypeError, match="Precision: expected a numeric array"):
        metrics.Precision().update_state(np.array(["a"]), np.array([0.5]))


# --------------------------------------------------------------------------- AUC

KERAS_TEST_CASE = dict(y_true=[0, 0, 1, 1], y_pred=[0.0, 0.5, 0.3, 0.9], sample_weight=[1, 2, 3, 4])


def test_auc_worked_examples():
    """Keras's docstring and test cases with three thresholds: -eps, 0.5, 1+eps."""
    case = KERAS_TEST_CASE
    roc = metrics.AUC(num_thresholds=3)
    assert roc.thresholds == [-1e-7, 0.5, 1 + 1e-7]
    roc.update_state(case["y_true"], case["y_pred"])
    assert roc.result() == pytest.approx(0.75, rel=1e-6)  # recall [1, .5, 0] against fp rate [1, 0, 0]
    roc.reset_state()
    roc.update_state(case["y_true"], case["y_pred"], sample_weight=[1, 0, 0, 1])
    assert roc.result() == 1.0
    # Weighted: tp = [7, 4, 0], fp = [3, 0, 0], fn = [0, 3, 7], tn = [0, 3, 3].
    weighted = metrics.AUC(num_thresholds=3)
    weighted.update_state(case["y_true"], case["y_pred"], sample_weight=case["sample_weight"])
    np.testing.assert_allclose(weighted.true_positives, [7, 4, 0])
    np.testing.assert_allclose(weighted.true_negatives, [0, 3, 3])
    assert weighted.result() == pytest.approx((1 + 4 / 7) / 2, rel=1e-6)
    # The PR curve, interpolated in true/false positives (Davis & Goadrich): slope [0.5, 1], intercept [2, 0].
    pr = metrics.AUC(num_thresholds=3, curve="PR")
    pr.update_state(case["y_true"], case["y_pred"], sample_weight=case["sample_weight"])
    assert pr.result() == pytest.approx((0.5 * (3 + 2 * math.log(2.5)) + 4) / 7, rel=1e-6)
    # Riemann sums of precision [0.7, 1, 0] over recall [1, 4/7, 0].
    minoring = metrics.AUC(num_thresholds=3, curve="PR", summation_method="minoring")
    minoring.update_state(case["y_true"], case["y_pred"], sample_weight=case["sample_weight"])
    assert minoring.result() == pytest.approx(0.7 * 3 / 7, rel=1e-6)
    majoring = metrics.AUC(num_thresholds=3, curve="PR", summation_method="majoring")
    majoring.update_state(case["y_true"], case["y_pred"], sample_weight=case["sample_weight"])
    assert majoring.result() == pytest.approx(3 / 7 + 4 / 7, rel=1e-6)
    gain = metrics.AUC(num_thresholds=3, curve="PRGAIN", summation_method="majoring")
    gain.update_state(case["y_true"], case["y_pred"], sample_weight=case["sample_weight"])
    assert gain.result() == pytest.approx(1.0, rel=1e-6)
    negative = metrics.AUC(num_thresholds=3, curve="PR")
    negative.update_state(case["y_true"], case["y_pred"], sample_weight=[-1, -2, -3, -4])
    assert negative.result() == 0.0


def test_auc_with_a_threshold_between_every_score_is_the_exact_roc_area(rng):
    """The trapezoids through every operating point: the Mann-Whitney statistic, counted directly."""
    y_true = rng.integers(0, 2, 40)
    y_pred = rng.uniform(0.01, 0.99, 40)
    ordered = np.sort(np.unique(y_pred))
    metric = metrics.AUC(thresholds=list((ordered[1:] + ordered[:-1]) / 2))
    metric.update_state(y_true, y_pred.astype("float32"))
    positives, negatives = y_pred[y_true == 1], y_pred[y_true == 0]
    exact = np.mean(positives[:, None] > negatives[None, :])
    assert metric.result() == pytest.approx(exact, rel=1e-6)


def test_auc_default_thresholds_are_evenly_spaced_with_end_points():
    metric = metrics.AUC()
    assert metric.num_thresholds == 200 and len(metric.thresholds) == 200
    assert metric.thresholds[0] == -1e-7 and metric.thresholds[-1] == 1 + 1e-7
    assert metric.thresholds[1] == pytest.approx(1 / 199)
    given = metrics.AUC(thresholds=[0.7, 0.2], num_thresholds=7)
    assert given.num_thresholds == 4 and given.thresholds == [-1e-7, 0.2, 0.7, 1 + 1e-7]


def test_auc_counts_match_a_brute_force_count(rng):
    """200 evenly spaced thresholds take the bucketed path; predictions of exactly 0 and 1 count as Keras's."""
    y_true = rng.integers(0, 2, (30, 2))
    y_pred = rng.uniform(0, 1, (30, 2)).astype("float32")
    y_pred[0, 0], y_pred[1, 1] = 0.0, 1.0
    weight = rng.uniform(0, 2, 30)
    metric = metrics.AUC()
    metric.update_state(y_true, y_pred, sample_weight=weight)
    counts = brute_force_counts(y_true, y_pred, metric.thresholds, weight[:, None])
    for key, name in (("tp", "true_positives"), ("fp", "false_positives"), ("tn", "true_negatives"),
                      ("fn", "false_negatives")):
        np.testing.assert_allclose(getattr(metric, name), counts[key], rtol=1e-5, atol=1e-5, err_msg=key)


@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_multi_label_auc_is_the_mean_of_the_label_aucs(curve, rng):
    y_true = rng.integers(0, 2, (25, 3))
    y_pred = rng.uniform(0, 1, (25, 3)).astype("float32")
    weight = rng.uniform(0, 2, 25)
    label_weights = [1.0, 3.0, 0.5]
    mean, weighted = (metrics.AUC(multi_label=True, curve=curve),
                      metrics.AUC(multi_label=True, curve=curve, label_weights=label_weights))
    for metric in (mean, weighted):
        metric.update_state(y_true[:15], y_pred[:15], sample_weight=weight[:15])
        metric.update_state(y_true[15:], y_pred[15:], sample_weight=weight[15:])
    assert mean.true_positives.shape == (200, 3)
    per_label = []
    for column in range(3):
        single = metrics.AUC(curve=curve)
        single.update_state(y_true[:, column], y_pred[:, column], sample_weight=weight)
        per_label.append(single.result())
    assert mean.result() == pytest.approx(np.mean(per_label), rel=1e-5)
    assert weighted.result() == pytest.approx(np.average(per_label, weights=label_weights), rel=1e-5)
    # Without multi_label, every entry is one example of one curve; label_weights weigh the columns' entries.
    flat = metrics.AUC(curve=curve, label_weights=label_weights)
    flat.update_state(y_true, y_pred, sample_weight=weight)
    reference = metrics.AUC(curve=curve)
    reference.update_state(y_true.reshape(-1), y_pred.reshape(-1),
                           sample_weight=(weight[:, None] * np.array(label_weights)).reshape(-1))
    assert flat.result() == pytest.approx(reference.result(), rel=1e-5)


def test_auc_with_uneven_thresholds_counts_every_threshold(rng):
    """Thresholds that are not evenly spaced: every prediction against every threshold (multi-label too)."""
    y_true = rng.integers(0, 2, (20, 2))
    y_pred = rng.uniform(0, 1, (20, 2)).astype("float32")
    metric = metrics.AUC(thresholds=[0.1, 0.35, 0.4, 0.9], multi_label=True, num_labels=2)
    metric.update_state(y_true, y_pred)
    for column in range(2):
        counts = brute_force_counts(y_true[:, column], y_pred[:, column], metric.thresholds)
        np.testing.assert_allclose(metric.true_positives[:, column], counts["tp"])
        np.testing.assert_allclose(metric.false_negatives[:, column], counts["fn"])


def test_auc_from_logits_applies_a_sigmoid(rng):
    y_true = rng.integers(0, 2, 30)
    logits = rng.normal(size=30).astype("float32")
    from_logits, probabilities = metrics.AUC(from_logits=True), metrics.AUC()
    from_logits.update_state(y_true, logits)
    probabilities.update_state(y_true, 1 / (1 + np.exp(-logits.astype("float64"))))
    assert from_logits.result() == pytest.approx(probabilities.result(), rel=1e-6)


def test_perfect_predictions_give_an_area_of_one():
    for curve in ("ROC", "PR"):
        metric = metrics.AUC(curve=curve)
        metric.update_state([0, 1, 1, 0], [0.0, 1.0, 1.0, 0.0])
        assert metric.result() == pytest.approx(1.0, rel=1e-6)


def test_auc_errors():
    with pytest.raises(ValueError, match='AUC: invalid curve "Roc"'):
        metrics.AUC(curve="Roc")
    with pytest.raises(ValueError, match='AUC: invalid summation_method "trapezoid"'):
        metrics.AUC(summation_method="trapezoid")
    with pytest.raises(ValueError, match="AUC: num_thresholds must be an integer > 1. Received: num_thresholds=1"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(TypeError, match="AUC: num_thresholds must be an integer"):
        metrics.AUC(num_thresholds=10.0)
    with pytest.raises(ValueError, match="AUC: num_labels is needed only when multi_label is True"):
        metrics.AUC(num_labels=3)
    with pytest.raises(TypeError, match="AUC: thresholds must be a list"):
        metrics.AUC(thresholds=0.5)
    with pytest.raises(ValueError, match="AUC: y_pred must have rank 2 when multi_label=True. Found rank 1"):
        metrics.AUC(multi_label=True).update_state([0, 1], [0.2, 0.7])
    built = metrics.AUC(multi_label=True, num_labels=3)
    with pytest.raises(ValueError, match=r"AUC: with multi_label=True, y_pred must have shape \(batch, 3\)"):
        built.update_state(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="AUC: label_weights must be one weight per label"):
        metrics.AUC(label_weights=[[1.0, 2.0]])
    assert metrics.AUC(multi_label=True).result() == 0.0  # nothing seen, the number of labels still unknown


# --------------------------------------------------------------------------- F-scores

F_CASE = dict(y_true=np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], "int32"),
              y_pred=np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]], "float32"))


def test_f_scores_docstring_examples():
    f1 = metrics.F1Score(threshold=0.5)
    f1.update_state(F_CASE["y_true"], F_CASE["y_pred"])
    np.testing.assert_allclose(f1.result(), [0.5, 0.8, 2 / 3], rtol=1e-5)
    assert f1.result().dtype == np.float32
    f2 = metrics.FBetaScore(beta=2.0, threshold=0.5)
    f2.update_state(F_CASE["y_true"], F_CASE["y_pred"])
    np.testing.assert_allclose(f2.result(), [5 / 13, 10 / 11, 5 / 6], rtol=1e-5)


def test_f1_averages_and_argmax_threshold():
    y_true, y_pred = F_CASE["y_true"], F_CASE["y_pred"]
    # threshold=None: the largest score of each row is the prediction (ties all count).
    predicted = np.array([[0, 0, 1], [0, 1, 1], [0, 1, 0]])
    tp = (predicted * y_true).sum(0)
    fp = (predicted * (1 - y_true)).sum(0)
    fn = ((1 - predicted) * y_true).sum(0)
    per_class = 2 * tp / (2 * tp + fp + fn)
    results = {}
    for average in (None, "micro", "macro", "weighted"):
        metric = metrics.F1Score(average=average)
        metric.update_state(y_true, y_pred)
        results[average] = metric.result()
    np.testing.assert_allclose(results[None], per_class, rtol=1e-5, atol=1e-6)
    assert results["macro"] == pytest.approx(per_class.mean(), rel=1e-5)
    assert results["weighted"] == pytest.approx(np.average(per_class, weights=y_true.sum(0)), rel=1e-5)
    assert results["micro"] == pytest.approx(2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()), rel=1e-5)


def test_f1_sample_weights_weigh_rows(rng):
    y_true = rng.integers(0, 2, (8, 3))
    y_pred = rng.uniform(size=(8, 3))
    repeats = rng.integers(0, 3, 8)
    weighted, repeated = metrics.F1Score(threshold=0.5), metrics.F1Score(threshold=0.5)
    weighted.update_state(y_true, y_pred, sample_weight=repeats.astype("float32"))
    repeated.update_state(np.repeat(y_true, repeats, axis=0), np.repeat(y_pred, repeats, axis=0))
    np.testing.assert_allclose(weighted.result(), repeated.result(), rtol=1e-6)


def test_f_score_errors():
    with pytest.raises(ValueError, match="F1Score: invalid average.*'mean'"):
        metrics.F1Score(average="mean")
    with pytest.raises(ValueError, match="FBetaScore: beta must be a Python float. Received: beta=2"):
        metrics.FBetaScore(beta=2)
    with pytest.raises(ValueError, match="FBetaScore: beta must be > 0"):
        metrics.FBetaScore(beta=-1.0)
    with pytest.raises(ValueError, match="F1Score: threshold must verify 0 < threshold <= 1"):
        metrics.F1Score(threshold=0.0)
    with pytest.raises(ValueError, match="F1Score: threshold must be a Python float"):
        metrics.F1Score(threshold=1)
    with pytest.raises(ValueError, match=r"F1Score expects 2D inputs.*y_pred.shape=\(4,\)"):
        metrics.F1Score().update_state(np.zeros(4), np.zeros(4))
    metric = metrics.F1Score()
    metric.update_state(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"F1Score: y_true and y_pred must both have shape \(batch_size, 3\)"):
        metric.update_state(np.zeros((2, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"F1Score: sample_weight must hold one weight per sample, shape \(2,\)"):
        metric.update_state(np.zeros((2, 3)), np.zeros((2, 3)), sample_weight=np.ones((2, 1)))


# --------------------------------------------------------------------------- RootMeanSquaredError

def test_root_mean_squared_error_docstring_examples(rng):
    metric = metrics.RootMeanSquaredError()
    metric.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert metric.result() == 0.5
    metric.reset_state()
    metric.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    assert metric.result() == pytest.approx(math.sqrt(0.5), rel=1e-6)
    metric.reset_state()
    y_true, y_pred = rng.normal(size=(9, 2)), rng.normal(size=(9, 2))
    metric.update_state(y_true[:4], y_pred[:4])
    metric.update_state(y_true[4:], y_pred[4:])
    assert metric.result() == pytest.approx(np.sqrt(np.mean((y_true - y_pred) ** 2)), rel=1e-6)
    with pytest.raises(ValueError, match="RootMeanSquaredError: y_true and y_pred must have the same shape"):
        metric.update_state(np.zeros((3, 2)), np.zeros((4, 2)))


# --------------------------------------------------------------------------- names, configs, lookup

def test_default_names_are_numbered_as_keras_numbers_them():
    assert [metrics.Precision().name, metrics.Precision().name, metrics.Recall().name] == [
        "precision", "precision_1", "recall"]
    assert metrics.AUC().name == "auc"
    assert metrics.F1Score().name == "f1_score" and metrics.FBetaScore().name == "fbeta_score"
    assert metrics.RootMeanSquaredError().name == "root_mean_squared_error"


def test_string_identifiers_resolve_and_take_the_automatic_name():
    for identifier, cls in [("precision", metrics.Precision), ("Precision", metrics.Precision),
                            ("recall", metrics.Recall), ("auc", metrics.AUC), ("AUC", metrics.AUC),
                            ("f1_score", metrics.F1Score), ("f_beta_score", metrics.FBetaScore),
                            ("root_mean_squared_error", metrics.RootMeanSquaredError),
                            ("RootMeanSquaredError", metrics.RootMeanSquaredError)]:
        metric = metrics.get(identifier)
        assert type(metric) is cls and metric.name == identifier
    # "auc" above took the automatic name `auc` (and "AUC" `auc_1`): the next AUC() is auc_2, as in Keras.
    assert metrics.AUC().name == "auc_2"
    assert metrics.get("mae").name == "mae" and type(metrics.get("mse")) is metrics.MeanSquaredError


CONFIG_CASES = [
    (metrics.Precision, {}, {"name": "precision", "dtype": "float32", "thresholds": None, "top_k": None,
                             "class_id": None}),
    (metrics.Recall, {"thresholds": [0.2, 0.7], "top_k": 2, "class_id": 1},
     {"name": "recall", "dtype": "float32", "thresholds": [0.2, 0.7], "top_k": 2, "class_id": 1}),
    (metrics.AUC, {}, {"name": "auc", "dtype": "float32", "num_thresholds": 200, "curve": "ROC",
                       "summation_method": "interpolation", "multi_label": False, "num_labels": None,
                       "label_weights": None, "from_logits": False}),
    (metrics.AUC, {"thresholds": [0.3, 0.1], "curve": "pr", "multi_label": True, "label_weights": [1, 2]},
     {"name": "auc", "dtype": "float32", "num_thresholds": 4, "curve": "PR", "summation_method": "interpolation",
      "multi_label": True, "num_labels": None, "label_weights": [1.0, 2.0], "from_logits": False,
      "thresholds": [0.1, 0.3]}),
    (metrics.F1Score, {"average": "macro", "threshold": 0.4},
     {"name": "f1_score", "dtype": "float32", "average": "macro", "threshold": 0.4}),
    (metrics.FBetaScore, {"beta": 2.0}, {"name": "fbeta_score", "dtype": "float32", "average": None, "beta": 2.0,
                                         "threshold": None}),
    (metrics.RootMeanSquaredError, {}, {"name": "root_mean_squared_error", "dtype": "float32"}),
]


@pytest.mark.parametrize("cls,kwargs,expected", CONFIG_CASES, ids=[f"{c[0].__name__}-{c[1]}" for c in CONFIG_CASES])
def test_get_config_and_serialization_round_trip(cls, kwargs, expected):
    metric = cls(**kwargs)
    config = metric.get_config()
    assert config == expected and list(config) == list(expected)  # Keras's keys, in Keras's order
    json.dumps(config)
    rebuilt = metrics.deserialize(json.loads(json.dumps(metrics.serialize(metric))))
    assert type(rebuilt) is cls and rebuilt.get_config() == config


def test_auc_opens_the_tensor_form_of_label_weights_in_keras_files():
    config = {"name": "auc", "dtype": "float32", "num_thresholds": 5, "curve": "ROC",
              "summation_method": "interpolation", "multi_label": True, "num_labels": 2,
              "label_weights": {"class_name": "__tensor__", "config": {"value": [1.0, 3.0], "dtype": "float32"}},
              "from_logits": False}
    metric = metrics.deserialize({"class_name": "AUC", "config": config})
    assert metric.get_config()["label_weights"] == [1.0, 3.0]


def test_directions_for_early_stopping():
    for cls in (metrics.Precision, metrics.Recall, metrics.AUC, metrics.F1Score, metrics.FBetaScore):
        assert cls._direction == "up"
    assert metrics.RootMeanSquaredError._direction == "down"


def test_repr_shows_one_value_or_one_per_threshold():
    metric = metrics.Precision(thresholds=[0.2, 0.8], name="p")
    metric.update_state([1, 0], [0.9, 0.5])
    assert repr(metric) == "<Precision name='p' result=[0.5 1. ]>"  # 0.2: tp 1, fp 1; 0.8: tp 1
    assert repr(metrics.Recall(name="r")) == "<Recall name='r' result=0>"


def test_the_strict_backend_gives_the_same_numbers(rng):
    """No host arrays mixed in and no silent float(): what a CuPy run needs."""
    y_true = rng.integers(0, 2, (12, 3)).astype("float32")
    y_pred = rng.uniform(size=(12, 3)).astype("float32")
    weight = rng.uniform(size=12).astype("float32")

    def run():
        made = [metrics.Precision(thresholds=[0.3, 0.6]), metrics.Recall(top_k=1, class_id=0),
                metrics.Recall(thresholds=[0.0, 0.5, 1.0]), metrics.AUC(), metrics.AUC(curve="PR", multi_label=True),
                metrics.AUC(thresholds=[0.2, 0.3], label_weights=[1, 2, 3], from_logits=True),
                metrics.AUC(curve="PRGAIN"), metrics.F1Score(), metrics.FBetaScore(average="weighted", beta=0.5),
                metrics.RootMeanSquaredError()]
        for metric in made:
            metric.update_state(backend.xp.asarray(y_true), backend.xp.asarray(y_pred),
                                sample_weight=backend.xp.asarray(weight))
        return [np.asarray(metric.result()) for metric in made]

    expected = run()
    with backend.backend_scope("strict"):
        received = run()
    for ours, theirs in zip(received, expected, strict=True):
        np.testing.assert_array_equal(ours, theirs)


# --------------------------------------------------------------------------- in the training loop

def _binary_model():
    cl.utils.set_random_seed(0)
    model = cl.Sequential([cl.Input((4,)), cl.layers.Dense(1, activation="sigmoid")])
    return model


def test_fit_logs_the_new_metrics_under_keras_names(rng):
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] + 0.3 * rng.normal(size=32) > 0).astype("float32")
    model = _binary_model()
    model.compile("sgd", "binary_crossentropy",
                  metrics=["auc", "precision", "recall", metrics.AUC(curve="PR"), metrics.RootMeanSquaredError()])
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_split=0.25, shuffle=False).history
    # The instance is named `auc` too (made first); the logs number the second one, as Keras's do.
    assert sorted(history) == sorted(["loss", "auc", "precision", "recall", "auc_1", "root_mean_squared_error",
                                      "val_loss", "val_auc", "val_precision", "val_recall", "val_auc_1",
                                      "val_root_mean_squared_error"])
    predictions = model.predict(x[24:], verbose=0)
    check = metrics.AUC()
    check.update_state(y[24:], predictions)
    assert history["val_auc"][-1] == pytest.approx(check.result(), rel=1e-6)
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(results) == {"loss", "auc", "precision", "recall", "auc_1", "root_mean_squared_error"}


def test_compiled_metrics_survive_a_keras_file(tmp_path):
    model = _binary_model()
    compiled = [metrics.AUC(curve="PR", num_thresholds=50, label_weights=[2.0], name="pr"),
                metrics.Precision(thresholds=0.3, name="p3"), metrics.Recall(class_id=0, name="r0"),
                metrics.F1Score(average="micro", threshold=0.5), metrics.RootMeanSquaredError(), "auc"]
    model.compile("adam", "binary_crossentropy", metrics=compiled)
    path = tmp_path / "metrics.keras"
    model.save(path)
    loaded = cl.models.load_model(path)
    x = np.random.default_rng(1).normal(size=(16, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == model.evaluate(x, y, verbose=0, return_dict=True)
    saved = [type(metric).__name__ for _, _, metric in loaded._metric_objects]
    assert saved == ["AUC", "Precision", "Recall", "F1Score", "RootMeanSquaredError", "AUC"]


def test_fit_prints_the_mean_of_a_metric_with_one_value_per_threshold_as_keras_s_progress_bar(capsys):
    model = cl.Sequential([cl.Input((3,)), cl.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=[cl.metrics.Precision(thresholds=[0.3, 0.7], name="precision")])
    x = np.random.default_rng(0).random((20, 3)).astype("float32")
    y = (x[:, :1] > 0.5).astype("float32")
    history = model.fit(x, y, epochs=1, verbose=2)
    shown = float(capsys.readouterr().out.split("precision: ")[1].split()[0])
    assert history.history["precision"][0].shape == (2,)
    assert shown == pytest.approx(float(history.history["precision"][0].mean()), abs=5e-5)
