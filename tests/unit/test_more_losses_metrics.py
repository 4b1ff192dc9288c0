"""The losses and metrics added after the first set: gradients by central differences, behaviour, errors.

Loss gradients are checked in float64 against central differences of the
reduced loss (relative error < 1e-6) for every new loss, every reduction, with
and without sample weights. Metrics are fed several batches and compared with
the formulas written out in NumPy; tf.keras is compared in
tests/parity/test_more_losses_metrics_parity.py.
"""
import warnings

import numpy as np
import pytest

from course_lib import backend, losses, metrics

from loss_checks import central_differences, relative_error  # noqa: E402

REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None]


def _data(kind, rng, batch=4, classes=3):
    """float64 labels and predictions, kept away from clip bounds and kinks."""
    if kind == "binary":
        y_true = rng.integers(0, 2, (batch, classes)).astype(float)
        y_pred = rng.uniform(0.05, 0.95, (batch, classes))
    elif kind == "scores01":  # 0/1 labels against scores (hinges, logits)
        y_true = rng.integers(0, 2, (batch, classes)).astype(float)
        y_pred = rng.normal(scale=2.0, size=(batch, classes))
    elif kind == "onehot_scores":
        y_true = np.eye(classes)[rng.integers(0, classes, batch)]
        y_pred = rng.normal(scale=2.0, size=(batch, classes))
    elif kind == "onehot":
        y_true = np.eye(classes)[rng.integers(0, classes, batch)]
        y_pred = rng.uniform(0.1, 1.0, (batch, classes))  # rows that do not sum to one
    elif kind == "counts":
        y_true = rng.poisson(2.0, (batch, classes)).astype(float)
        y_pred = rng.uniform(0.2, 4.0, (batch, classes))
    elif kind == "regression":
        y_true = rng.normal(size=(batch, classes))
        y_pred = y_true + rng.normal(scale=1.5, size=(batch, classes))
    elif kind == "masks":  # (batch, height, width, 1) segmentation masks
        y_true = rng.integers(0, 2, (batch, 3, 2, 1)).astype(float)
        y_pred = rng.uniform(0.05, 0.95, (batch, 3, 2, 1))
    else:
        raise AssertionError(kind)
    return y_true, y_pred


# (class name, constructor kwargs, data kind)
LOSS_CASES = [
    ("SquaredHinge", {}, "scores01"),
    ("CategoricalHinge", {}, "onehot_scores"),
    ("Poisson", {}, "counts"),
    ("LogCosh", {}, "regression"),
    ("CosineSimilarity", {}, "regression"),
    ("CosineSimilarity", {"axis": 1}, "regression"),
    ("BinaryFocalCrossentropy", {}, "binary"),
    ("BinaryFocalCrossentropy", {"gamma": 3.0, "label_smoothing": 0.1}, "binary"),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.3}, "binary"),
    ("BinaryFocalCrossentropy", {"from_logits": True, "apply_class_balancing": True, "label_smoothing": 0.2},
     "scores01"),
    ("CategoricalFocalCrossentropy", {}, "onehot"),
    ("CategoricalFocalCrossentropy", {"alpha": [0.2, 0.5, 0.3], "gamma": 1.5, "label_smoothing": 0.1}, "onehot"),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "onehot_scores"),
    ("Dice", {}, "masks"),
    ("Dice", {"axis": (1, 2, 3)}, "masks"),
    ("Tversky", {"alpha": 0.3, "beta": 0.7}, "masks"),
    ("Tversky", {"axis": (1, 2)}, "masks"),
]
LOSS_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kwargs.items()) or 'default'}"
            for name, kwargs, _ in LOSS_CASES]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kwargs,kind", LOSS_CASES, ids=LOSS_IDS)
def test_gradient_matches_central_differences_in_float64(name, kwargs, kind, reduction, weighted, rng):
    y_true, y_pred = _data(kind, rng)
    # One weight per sample (Dice without axis: one loss for the batch, times each weight).
    sample_weight = rng.uniform(0.5, 2.0, size=y_pred.shape[0]) if weighted else None
    with backend.floatx_scope("float64"):
        loss = getattr(losses, name)(reduction=reduction, **kwargs)
        analytic = loss.gradient(y_true, y_pred, sample_weight=sample_weight)
        assert analytic.dtype == np.float64 and analytic.shape == y_pred.shape
        numeric = central_differences(loss, y_true, y_pred, sample_weight)
        value, fused = loss.value_and_gradient(y_true, y_pred, sample_weight=sample_weight)
    error = relative_error(analytic, numeric)
    assert error < 1e-6, f"{name}: relative error {error:.2e}; expected < 1e-6"
    np.testing.assert_allclose(fused, analytic, rtol=1e-12, atol=0)
    np.testing.assert_allclose(value, loss(y_true, y_pred, sample_weight), rtol=1e-12)


# --------------------------------------------------------------------------- loss values by formula


def test_loss_formulas_written_out(rng):
    y_true, scores = _data("scores01", rng)
    signs = 2 * y_true - 1
    np.testing.assert_allclose(losses.squared_hinge(y_true, scores),
                               np.mean(np.maximum(1 - signs * scores, 0) ** 2, axis=-1), rtol=1e-6)
    onehot, scores = _data("onehot_scores", rng)
    expected = np.maximum(np.max((1 - onehot) * scores, -1) - np.sum(onehot * scores, -1) + 1, 0)
    np.testing.assert_allclose(losses.categorical_hinge(onehot, scores), expected, rtol=1e-6)
    counts, rates = _data("counts", rng)
    np.testing.assert_allclose(losses.poisson(counts, rates),
                               np.mean(rates - counts * np.log(rates + 1e-7), -1), rtol=1e-6)
    targets, predictions = _data("regression", rng)
    np.testing.assert_allclose(losses.log_cosh(targets, predictions),
                               np.mean(np.log(np.cosh(predictions - targets)), -1), rtol=1e-6)
    assert losses.logcosh is losses.log_cosh
    cosine = np.sum(targets * predictions, -1) / np.linalg.norm(targets, axis=-1) / np.linalg.norm(predictions, axis=-1)
    np.testing.assert_allclose(losses.cosine_similarity(targets, predictions), -cosine, rtol=1e-6)
    masks, probabilities = _data("masks", rng)
    intersection = np.sum(masks * probabilities)
    np.testing.assert_allclose(losses.dice(masks, probabilities),
                               1 - 2 * intersection / (masks.sum() + probabilities.sum() + 1e-7), rtol=1e-6)
    assert losses.dice(masks, probabilities).shape == ()
    assert losses.dice(masks, probabilities, axis=(1, 2, 3)).shape == (4,)
    np.testing.assert_allclose(losses.tversky(masks, probabilities), losses.dice(masks, probabilities), rtol=1e-6)


def test_focal_losses_reduce_to_cross_entropies_when_gamma_is_zero(rng):
    y_true, y_pred = _data("binary", rng)
    np.testing.assert_allclose(losses.binary_focal_crossentropy(y_true, y_pred, gamma=0.0),
                               losses.binary_crossentropy(y_true, y_pred), rtol=1e-6)
    logits = np.log(y_pred / (1 - y_pred))
    np.testing.assert_allclose(losses.binary_focal_crossentropy(y_true, logits, gamma=0.0, from_logits=True),
                               losses.binary_crossentropy(y_true, logits, from_logits=True), rtol=1e-6)
    onehot, probabilities = _data("onehot", rng)
    np.testing.assert_allclose(
        losses.categorical_focal_crossentropy(onehot, probabilities, alpha=1.0, gamma=0.0),
        losses.categorical_crossentropy(onehot, probabilities), rtol=1e-6)
    # Easy examples count less: the focal factor is below one.
    assert np.all(losses.binary_focal_crossentropy(y_true, y_pred) < losses.binary_crossentropy(y_true, y_pred))


def test_binary_focal_crossentropy_scores_from_logits_in_the_engine(rng):
    loss = losses.BinaryFocalCrossentropy(gamma=3.0, apply_class_balancing=True)
    assert isinstance(loss, losses.BinaryCrossentropy)  # the engine's sigmoid-logits path applies
    from_logits = loss.with_logits()
    assert type(from_logits) is losses.BinaryFocalCrossentropy and from_logits.from_logits
    assert from_logits.get_config() == {**loss.get_config(), "from_logits": True}
    y_true, logits = _data("scores01", rng)
    probabilities = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(from_logits(y_true, logits), loss(y_true, probabilities), rtol=1e-6)
    # Categorical focal cross-entropy has no logits shortcut, as in Keras.
    assert not hasattr(losses.CategoricalFocalCrossentropy(), "with_logits")


def test_reductions_and_weights_of_a_scalar_dice(rng):
    masks, probabilities = _data("masks", rng)
    weights = rng.uniform(0.5, 2.0, size=4)
    value = losses.dice(masks, probabilities)
    np.testing.assert_allclose(losses.Dice()(masks, probabilities, sample_weight=weights),
                               value * weights.mean(), rtol=1e-6)
    np.testing.assert_allclose(losses.Dice(reduction="sum")(masks, probabilities, sample_weight=weights),
                               value * weights.sum(), rtol=1e-6)
    per_image = losses.Dice(axis=(1, 2, 3), reduction=None)(masks, probabilities)
    assert per_image.shape == (4,)


def test_float64_stays_float64(rng):
    for name, kwargs, kind in LOSS_CASES:
        y_true, y_pred = _data(kind, rng)
        gradient = getattr(losses, name)(**kwargs).gradient(y_true, y_pred)
        assert gradient.dtype == np.float64, name


# --------------------------------------------------------------------------- losses: names, configs, errors


@pytest.mark.parametrize("identifier,expected", [
    ("squared_hinge", losses.SquaredHinge), ("SquaredHinge", losses.SquaredHinge),
    ("categorical_hinge", losses.CategoricalHinge), ("poisson", losses.Poisson), ("Poisson", losses.Poisson),
    ("log_cosh", losses.LogCosh), ("LogCosh", losses.LogCosh), ("cosine_similarity", losses.CosineSimilarity),
    ("binary_focal_crossentropy", losses.BinaryFocalCrossentropy),
    ("CategoricalFocalCrossentropy", losses.CategoricalFocalCrossentropy),
    ("dice", losses.Dice), ("Dice", losses.Dice), ("tversky", losses.Tversky), ("Tversky", losses.Tversky),
])
def test_get_resolves_the_new_names(identifier, expected):
    loss = losses.get(identifier)
    assert type(loss) is expected
    if identifier[0].islower():
        assert loss.name == identifier
    assert type(losses.get(getattr(losses, identifier) if identifier[0].islower() else expected)) is expected


def test_logcosh_is_not_a_loss_name_as_in_keras():
    with pytest.raises(ValueError, match="could not interpret loss identifier 'logcosh'"):
        losses.get("logcosh")


@pytest.mark.parametrize("loss", [
    losses.SquaredHinge(reduction="sum"), losses.CategoricalHinge(name="ch"), losses.Poisson(), losses.LogCosh(),
    losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=1.0, from_logits=True,
                                   label_smoothing=0.1, axis=-1, reduction=None),
    losses.CategoricalFocalCrossentropy(alpha=[0.1, 0.9], gamma=3.0, label_smoothing=0.2),
    losses.Dice(axis=[1, 2]), losses.Tversky(alpha=0.2, beta=0.8, axis=1, dtype="float64"),
], ids=lambda loss: type(loss).__name__)
def test_serialize_round_trip(loss):
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()


def test_cosine_similarity_config_leaves_out_axis_as_keras():
    loss = losses.CosineSimilarity(axis=0)
    assert loss.get_config() == {"name": "cosine_similarity", "reduction": "sum_over_batch_size"}
    assert loss.axis == 0


def test_new_losses_refuse_bad_input():
    with pytest.raises(ValueError, match="binary_focal_crossentropy: y_true and y_pred must have the same shape"):
        losses.binary_focal_crossentropy(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="BinaryFocalCrossentropy: label_smoothing must be a float in"):
        losses.BinaryFocalCrossentropy(label_smoothing=2.0)
    with pytest.raises(TypeError, match="BinaryFocalCrossentropy: gamma must be a real number"):
        losses.BinaryFocalCrossentropy(gamma="2")
    with pytest.raises(TypeError, match="Tversky: alpha must be a real number"):
        losses.Tversky(alpha=None)
    with pytest.raises(ValueError, match="categorical_focal_crossentropy: axis must be of type int"):
        losses.categorical_focal_crossentropy(np.eye(3), np.eye(3), axis=True)
    with pytest.raises(ValueError, match="cosine_similarity: axis=2 is out of range"):
        losses.cosine_similarity(np.ones((2, 3)), np.ones((2, 3)), axis=2)
    with pytest.raises(ValueError, match="dice: y_true and y_pred must have the same shape"):
        losses.dice(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.Poisson(reduction="average")
    with pytest.warns(SyntaxWarning, match="num_classes > 1"):
        losses.categorical_focal_crossentropy(np.ones((3, 1)), np.full((3, 1), 0.5))


# --------------------------------------------------------------------------- metrics


def _stream(metric, batches):
    for batch in batches:
        metric.update_state(*batch)
    return metric.result()


def test_metric_functions_are_the_loss_functions():
    for name in ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
                 "binary_focal_crossentropy", "categorical_focal_crossentropy", "hinge", "squared_hinge",
                 "categorical_hinge", "huber", "kl_divergence", "log_cosh", "poisson"):
        assert getattr(metrics, name) is getattr(losses, name), name
    assert metrics.kld is metrics.KLD is metrics.kullback_leibler_divergence is losses.kl_divergence
    assert metrics.logcosh is losses.log_cosh


def test_confusion_counts_over_batches_and_reset(rng):
    batches = [(rng.integers(0, 2, (n, 3)), rng.uniform(0, 1, (n, 3)), rng.uniform(0, 2, n)) for n in (5, 8, 3)]
    thresholds = [0.2, 0.5, 0.9]
    expected = {key: np.zeros(3) for key in ("tp", "fp", "tn", "fn")}
    for y_true, y_pred, weight in batches:
        for i, threshold in enumerate(thresholds):
            above, positive, w = y_pred > threshold, y_true != 0, np.broadcast_to(weight[:, None], y_pred.shape)
            expected["tp"][i] += w[positive & above].sum()
            expected["fp"][i] += w[~positive & above].sum()
            expected["tn"][i] += w[~positive & ~above].sum()
            expected["fn"][i] += w[positive & ~above].sum()
    for cls, key in ((metrics.TruePositives, "tp"), (metrics.FalsePositives, "fp"),
                     (metrics.TrueNegatives, "tn"), (metrics.FalseNegatives, "fn")):
        metric = cls(thresholds=thresholds)
        result = _stream(metric, batches)
        assert isinstance(result, np.ndarray) and result.shape == (3,)
        np.testing.assert_allclose(result, expected[key], rtol=1e-5)
        metric.reset_state()
        np.testing.assert_array_equal(metric.result(), np.zeros(3))
        single = cls()
        assert isinstance(single(batches[0][0], batches[0][1]), float)
    assert metrics.TruePositives().get_config() == {"name": "true_positives_2", "dtype": "float32",
                                                    "thresholds": None}


def test_sum_sums_the_entries_of_each_sample():
    metric = metrics.Sum()
    metric.update_state([[1.0, 2.0], [3.0, 4.0]])
    metric.update_state([[1.0, 2.0], [3.0, 4.0]], sample_weight=[1.0, 0.0])
    assert metric.result() == 13.0
    metric.reset_state()
    assert metric.result() == 0.0


def test_r2_score_matches_its_formula_over_batches(rng):
    y_true = rng.normal(size=(20, 2))
    y_pred = y_true + rng.normal(scale=0.5, size=(20, 2))
    ss_res = np.sum((y_true - y_pred) ** 2, axis=0)
    ss_tot = np.sum((y_true - y_true.mean(axis=0)) ** 2, axis=0)
    raw = 1 - ss_res / ss_tot
    for aggregation, expected in (("uniform_average", raw.mean()), (None, raw),
                                  ("variance_weighted_average", np.sum(ss_tot * raw) / ss_tot.sum())):
        metric = metrics.R2Score(class_aggregation=aggregation)
        np.testing.assert_allclose(_stream(metric, [(y_true[:7], y_pred[:7]), (y_true[7:], y_pred[7:])]),
                                   expected, rtol=1e-5)
    adjusted = metrics.R2Score(num_regressors=3)
    adjusted.update_state(y_true, y_pred)
    n = y_true.size  # Keras counts every entry
    np.testing.assert_allclose(adjusted.result(), 1 - (1 - raw.mean()) * (n - 1) / (n - 3 - 1), rtol=1e-5)
    too_many = metrics.R2Score(num_regressors=100)
    too_many.update_state(y_true, y_pred)
    with pytest.warns(UserWarning, match="More independent predictors than datapoints"):
        np.testing.assert_allclose(too_many.result(), raw.mean(), rtol=1e-5)
    with pytest.raises(ValueError, match="R2Score: invalid class_aggregation"):
        metrics.R2Score(class_aggregation="mean")
    with pytest.raises(ValueError, match="R2Score: num_regressors must be >= 0"):
        metrics.R2Score(num_regressors=-1)
    with pytest.raises(ValueError, match="R2Score expects 2D inputs"):
        metrics.R2Score().update_state(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))


def test_iou_metrics_from_one_confusion_matrix():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 5])  # 5 is out of range: left out
    matrix = np.zeros((3, 3))
    for t, p in zip(y_true[:-1], y_pred[:-1]):
        matrix[t, p] += 1
    union = matrix.sum(0) + matrix.sum(1) - np.diag(matrix)
    ious = np.diag(matrix) / union
    mean_iou = metrics.MeanIoU(num_classes=3)
    mean_iou.update_state(y_true[:4], y_pred[:4])
    mean_iou.update_state(y_true[4:], y_pred[4:])
    np.testing.assert_array_equal(mean_iou.total_cm, matrix)
    assert mean_iou.total_cm.dtype == np.int64
    np.testing.assert_allclose(mean_iou.result(), ious.mean(), rtol=1e-6)
    iou = metrics.IoU(num_classes=3, target_class_ids=[0, 2])
    iou.update_state(y_true, y_pred)
    np.testing.assert_allclose(iou.result(), ious[[0, 2]].mean(), rtol=1e-6)
    ignoring = metrics.MeanIoU(num_classes=3, ignore_class=2)
    ignoring.update_state(y_true, y_pred)
    assert ignoring.total_cm[2].sum() == 0
    one_hot = metrics.OneHotMeanIoU(num_classes=3)
    one_hot.update_state(np.eye(3)[y_true[:-1]], np.eye(3)[y_pred[:-1]] * 0.9)
    np.testing.assert_allclose(one_hot.result(), ious.mean(), rtol=1e-6)
    one_hot_iou = metrics.OneHotIoU(num_classes=3, target_class_ids=[1])
    one_hot_iou.update_state(np.eye(3)[y_true[:-1]], np.eye(3)[y_pred[:-1]])
    np.testing.assert_allclose(one_hot_iou.result(), ious[1], rtol=1e-6)
    mean_iou.reset_state()
    assert mean_iou.result() == 0.0 and not mean_iou.total_cm.any()


def test_binary_iou_thresholds_at_or_above():
    metric = metrics.BinaryIoU(target_class_ids=[1], threshold=0.5)
    metric.update_state([0, 1, 1, 0], [0.5, 0.5, 0.2, 0.1])  # 0.5 counts as class 1
    np.testing.assert_allclose(metric.result(), 1 / 3, rtol=1e-6)
    assert metric.get_config() == {"target_class_ids": [1], "threshold": 0.5, "name": "binary_io_u",
                                   "dtype": "int64"}


def test_iou_weights_and_errors():
    metric = metrics.MeanIoU(num_classes=2)
    with pytest.warns(UserWarning, match="passing weight as `float`, but dtype is `int`"):
        metric.update_state([0, 1], [0, 1], sample_weight=np.array([1.7, 2.2]))
    np.testing.assert_array_equal(metric.total_cm, [[1, 0], [0, 2]])  # truncated, as Keras casts
    weighted = metrics.MeanIoU(num_classes=2, dtype="float32")
    weighted.update_state([0, 1], [0, 1], sample_weight=[1.5, 2.5])
    np.testing.assert_allclose(weighted.total_cm, [[1.5, 0], [0, 2.5]])
    with pytest.raises(ValueError, match="IoU: target class id 3 is out of range"):
        metrics.IoU(num_classes=3, target_class_ids=[3])
    with pytest.raises(ValueError, match="MeanIoU: y_true and y_pred must hold as many class ids"):
        metrics.MeanIoU(num_classes=2).update_state([0, 1, 1], [0, 1])
    with pytest.raises(TypeError, match="MeanIoU: num_classes must be an integer"):
        metrics.MeanIoU(num_classes=2.0)


def test_correlations_and_wrapped_metrics(rng):
    y_true = rng.normal(size=(6, 5))
    y_pred = y_true + rng.normal(size=(6, 5))
    pearson = [np.corrcoef(a, b)[0, 1] for a, b in zip(y_true, y_pred)]
    np.testing.assert_allclose(metrics.pearson_correlation(y_true, y_pred), pearson, rtol=1e-6)
    metric = metrics.PearsonCorrelation()
    np.testing.assert_allclose(_stream(metric, [(y_true[:2], y_pred[:2]), (y_true[2:], y_pred[2:])]),
                               np.mean(pearson), rtol=1e-5)
    assert metrics.concordance_correlation(y_true, y_true).shape == (6,)
    cosine = metrics.CosineSimilarity()
    cosine.update_state(y_true, y_true)
    np.testing.assert_allclose(cosine.result(), 1.0, rtol=1e-6)
    log_cosh = metrics.LogCoshError()
    assert log_cosh.name == "logcosh"
    np.testing.assert_allclose(log_cosh(y_true, y_pred), np.mean(np.log(np.cosh(y_pred - y_true))), rtol=1e-5)
    for cls in (metrics.Poisson, metrics.SquaredHinge, metrics.CategoricalHinge, metrics.LogCoshError,
                metrics.CosineSimilarity):
        assert list(cls().get_config()) == ["name", "dtype"]


@pytest.mark.parametrize("identifier,expected", [
    ("true_positives", metrics.TruePositives), ("FalseNegatives", metrics.FalseNegatives),
    ("poisson", metrics.Poisson), ("log_cosh_error", metrics.LogCoshError),
    ("cosine_similarity", metrics.CosineSimilarity), ("categorical_hinge", metrics.CategoricalHinge),
    ("squared_hinge", metrics.SquaredHinge), ("r2_score", metrics.R2Score), ("R2Score", metrics.R2Score),
    ("sum", metrics.Sum), ("pearson_correlation", metrics.PearsonCorrelation),
    ("concordance_correlation", metrics.ConcordanceCorrelation),
])
def test_metric_names_resolve(identifier, expected):
    metric = metrics.get(identifier)
    assert type(metric) is expected and metric.name == identifier
    again = metrics.deserialize(metrics.serialize(metric))
    assert type(again) is expected and again.get_config() == metric.get_config()


def test_iou_metrics_serialize_and_need_num_classes():
    for metric in (metrics.IoU(4, [1, 2], ignore_class=0), metrics.MeanIoU(3, sparse_y_pred=False),
                   metrics.BinaryIoU([0], 0.3), metrics.OneHotIoU(3, [2]), metrics.OneHotMeanIoU(3)):
        again = metrics.deserialize(metrics.serialize(metric))
        assert type(again) is type(metric) and again.get_config() == metric.get_config()
    with pytest.raises(TypeError):
        metrics.get("mean_io_u")  # Keras's get fails the same way: num_classes is required
    with pytest.raises(ValueError, match="could not interpret metric identifier 'log_cosh'"):
        metrics.get("log_cosh")  # as Keras: the class is log_cosh_error


def test_directions_for_early_stopping():
    for cls in (metrics.CosineSimilarity, metrics.R2Score, metrics.PearsonCorrelation,
                metrics.ConcordanceCorrelation):
        assert cls._direction == "up"
    for metric in (metrics.MeanIoU(2), metrics.BinaryIoU()):
        assert metric._direction == "up"
    for cls in (metrics.LogCoshError, metrics.SquaredHinge, metrics.CategoricalHinge):
        assert cls._direction == "down"
    for cls in (metrics.Poisson, metrics.Sum, metrics.TruePositives):
        assert cls._direction is None


def test_metrics_quiet_on_constant_rows():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(metrics.pearson_correlation(np.ones((1, 3)), np.arange(3.0)[None])).all()


@pytest.mark.parametrize("name,kwargs,kind", LOSS_CASES, ids=LOSS_IDS)
def test_losses_run_under_the_strict_backend(name, kwargs, kind, rng):
    """No host arrays in device work, no silent float(): the same numbers as on NumPy."""
    y_true, y_pred = _data(kind, rng)
    weights = rng.uniform(0.5, 2.0, size=4)
    results = []
    for backend_name in ("numpy", "strict"):
        with backend.backend_scope(backend_name):
            loss = getattr(losses, name)(reduction=None, **kwargs)
            values, gradient = loss.value_and_gradient(y_true, y_pred, sample_weight=weights)
            results.append((backend.to_numpy(values), backend.to_numpy(gradient)))
    for numpy_result, strict_result in zip(*results):
        np.testing.assert_allclose(strict_result, numpy_result, rtol=1e-12)


def test_metrics_run_under_the_strict_backend(rng):
    batches = [(rng.integers(0, 3, (n, 3)).astype("float32"), rng.uniform(0, 2, (n, 3)).astype("float32"))
               for n in (5, 4)]
    makers = [lambda: metrics.TruePositives(), lambda: metrics.TrueNegatives(thresholds=[0.0, 0.5, 1.0]),
              lambda: metrics.Poisson(), lambda: metrics.LogCoshError(), lambda: metrics.CosineSimilarity(),
              lambda: metrics.R2Score(num_regressors=1), lambda: metrics.IoU(3, [1]),
              lambda: metrics.MeanIoU(3, ignore_class=1), lambda: metrics.BinaryIoU(),
              lambda: metrics.OneHotMeanIoU(3), lambda: metrics.PearsonCorrelation(),
              lambda: metrics.ConcordanceCorrelation()]
    for make in makers:
        results = []
        for backend_name in ("numpy", "strict"):
            with backend.backend_scope(backend_name):
                metric = make()
                for y_true, y_pred in batches:
                    metric.update_state(y_true, y_pred)
                results.append(metric.result())
        np.testing.assert_allclose(results[1], results[0], rtol=1e-6, err_msg=type(metric).__name__)
    with backend.backend_scope("strict"):
        total = metrics.Sum()
        total.update_state(batches[0][1], sample_weight=np.ones(5))
        assert isinstance(total.result(), float)
