"""Circle and CategoricalGeneralizedCrossEntropy: gradients by central differences, formulas, masks, errors.

Gradients are checked in float64 against central differences of the reduced
loss (relative error < 1e-6) for every reduction, with and without sample
weights. tf.keras is compared in tests/parity/test_losses_circle_cgce_parity.py;
CTC has its own tests (tests/unit/test_ctc.py).
"""
import numpy as np
import pytest

from course_lib import backend, losses

from loss_checks import central_differences, relative_error  # noqa: E402

REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None]


def _embeddings(rng, batch=6, dim=4):
    x = rng.normal(size=(batch, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _data(name, rng):
    if name == "Circle":
        # Norms of 0.9: the pair of an embedding with itself stays off the max(1 - similarity, 0) kink.
        return np.array([0, 1, 0, 2, 1, 0]), 0.9 * _embeddings(rng)
    y_pred = rng.uniform(0.1, 1.0, (5, 4))
    return rng.integers(0, 4, 5), y_pred / y_pred.sum(axis=1, keepdims=True)


CASES = [
    ("Circle", {}),
    ("Circle", {"gamma": 8.0, "margin": 0.25}),
    ("Circle", {"gamma": 5.0, "remove_diagonal": False}),
    ("CategoricalGeneralizedCrossEntropy", {}),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.2}),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.9}),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kwargs.items()) or 'default'}" for name, kwargs in CASES]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_gradient_matches_central_differences_in_float64(name, kwargs, reduction, weighted, rng):
    y_true, y_pred = _data(name, rng)
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


def test_circle_gradient_with_rows_left_out_of_the_mean(rng):
    # Labels 3 and 4 appear once: those rows have no positive pair, a loss of 0, and are masked out.
    y_true, y_pred = np.array([0, 0, 3, 1, 1, 4]), _embeddings(rng)
    loss = losses.Circle(gamma=6.0)
    values = losses.circle(y_true, y_pred, gamma=6.0)
    assert values[2] == 0 and values[5] == 0 and np.all(values[[0, 1, 3, 4]] > 0)
    np.testing.assert_allclose(loss(y_true, y_pred), values[[0, 1, 3, 4]].mean(), rtol=1e-12)
    analytic = loss.gradient(y_true, y_pred)
    assert np.all(np.isfinite(analytic)) and np.any(analytic[2] != 0)  # still a negative of the others
    numeric = central_differences(lambda t, p, w: loss(t, p, w), y_true, y_pred, None)
    assert relative_error(analytic, numeric) < 1e-6


# --------------------------------------------------------------------------- values by formula


def _logsumexp(x, keep):
    out = np.full(x.shape[0], -np.inf)
    for i in range(x.shape[0]):
        if keep[i].any():
            row = x[i][keep[i]]
            out[i] = row.max() + np.log(np.sum(np.exp(row - row.max())))
    return out


def test_circle_formula_written_out(rng):
    y_true, y_pred = np.array([0, 1, 0, 2, 1, 0]), _embeddings(rng)
    gamma, margin = 20.0, 0.3
    d = np.maximum(1 - y_pred @ y_pred.T, 0)
    same = y_true[:, None] == y_true[None, :]
    positive, negative = same & ~np.eye(6, dtype=bool), ~same
    p = _logsumexp(-gamma * np.maximum(margin + d, 0) * (margin - d), positive)
    n = _logsumexp(gamma * np.maximum(1 + margin - d, 0) * (1 - margin - d), negative)
    expected = np.log1p(np.exp(p + n))
    np.testing.assert_allclose(losses.circle(y_true, y_pred, gamma=gamma, margin=margin), expected, rtol=1e-10)
    # (batch, 1) labels are the same labels.
    np.testing.assert_allclose(losses.circle(y_true[:, None], y_pred, gamma=gamma, margin=margin), expected,
                               rtol=1e-12)


def test_circle_against_separate_references(rng):
    y_true, y_pred = np.array([0, 1, 2]), _embeddings(rng, 3)
    ref_labels, refs = np.array([0, 0, 1, 2, 2]), _embeddings(rng, 5)
    gamma, margin = 10.0, 0.4
    d = np.maximum(1 - y_pred @ refs.T, 0)
    same = y_true[:, None] == ref_labels[None, :]
    positive = same & ~np.eye(3, 5, dtype=bool)  # Keras removes the rectangular diagonal here too
    p = _logsumexp(-gamma * np.maximum(margin + d, 0) * (margin - d), positive)
    n = _logsumexp(gamma * np.maximum(1 + margin - d, 0) * (1 - margin - d), ~same)
    np.testing.assert_allclose(
        losses.circle(y_true, y_pred, ref_labels=ref_labels, ref_embeddings=refs, gamma=gamma, margin=margin),
        np.log1p(np.exp(p + n)), rtol=1e-10)


def test_generalized_cross_entropy_formula_written_out(rng):
    y_true, y_pred = _data("CategoricalGeneralizedCrossEntropy", rng)
    p = y_pred[np.arange(5), y_true]
    for q in (0.1, 0.5, 0.7):
        np.testing.assert_allclose(losses.categorical_generalized_cross_entropy(y_true, y_pred, q),
                                   (1 - p ** q) / q, rtol=1e-12)
    # Several axes of class ids, and a trailing axis of 1, read as one id per sample.
    labels = rng.integers(0, 4, (2, 3))
    probabilities = rng.uniform(0.1, 1, (2, 3, 4))
    picked = np.take_along_axis(probabilities, labels[..., None], -1)[..., 0]
    np.testing.assert_allclose(losses.categorical_generalized_cross_entropy(labels, probabilities, 0.5),
                               (1 - picked ** 0.5) / 0.5, rtol=1e-12)
    np.testing.assert_allclose(losses.CategoricalGeneralizedCrossEntropy(reduction=None)(y_true[:, None], y_pred),
                               (1 - p ** 0.5) / 0.5, rtol=1e-6)


def test_generalized_cross_entropy_at_a_zero_probability_follows_tensorflow():
    y_pred = np.array([[0.0, 1.0], [0.3, 0.7]])
    with backend.floatx_scope("float64"):
        gradient = losses.CategoricalGeneralizedCrossEntropy(reduction="sum").gradient(np.array([0, 1]), y_pred)
    assert gradient[0, 0] == -np.inf and np.isnan(gradient[0, 1])  # q p**(q-1) is inf; inf * 0 off the class
    assert np.all(np.isfinite(gradient[1]))


# --------------------------------------------------------------------------- names, configs, errors


@pytest.mark.parametrize("identifier,expected", [
    ("circle", losses.Circle), ("Circle", losses.Circle),
    ("CategoricalGeneralizedCrossEntropy", losses.CategoricalGeneralizedCrossEntropy),
])
def test_get_resolves_the_names(identifier, expected):
    loss = losses.get(identifier)
    assert type(loss) is expected
    if identifier == "circle":
        assert loss.name == "circle" and type(losses.get(losses.circle)) is losses.Circle


def test_generalized_cross_entropy_function_name_is_not_a_loss_name_as_in_keras():
    with pytest.raises(ValueError, match="could not interpret loss identifier 'categorical_generalized_cross"):
        losses.get("categorical_generalized_cross_entropy")


@pytest.mark.parametrize("loss", [
    losses.Circle(), losses.Circle(gamma=30.0, margin=0.2, remove_diagonal=False, reduction="sum", name="c"),
    losses.CategoricalGeneralizedCrossEntropy(q=0.25, reduction=None, dtype="float64"),
], ids=lambda loss: type(loss).__name__)
def test_serialize_round_trip(loss):
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()


def test_configs():
    assert losses.Circle().get_config() == {"name": "circle", "reduction": "sum_over_batch_size", "gamma": 80.0,
                                            "margin": 0.4, "remove_diagonal": True}
    assert losses.CategoricalGeneralizedCrossEntropy().get_config() == {
        "name": "categorical_generalized_cross_entropy", "reduction": "sum_over_batch_size", "q": 0.5}


def test_bad_input_is_refused_with_the_loss_named(rng):
    with pytest.raises(ValueError, match=r"CategoricalGeneralizedCrossEntropy: q must be in the interval \(0, 1\)"):
        losses.CategoricalGeneralizedCrossEntropy(q=1.0)
    with pytest.raises(TypeError, match="CategoricalGeneralizedCrossEntropy: q must be a real number"):
        losses.CategoricalGeneralizedCrossEntropy(q="0.5")
    with pytest.raises(TypeError, match="Circle: gamma must be a real number"):
        losses.Circle(gamma=None)
    with pytest.raises(ValueError, match=r"CategoricalGeneralizedCrossEntropy: class ids must be in \[0, 3\)"):
        losses.CategoricalGeneralizedCrossEntropy()(np.array([0, 3]), np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="categorical_generalized_cross_entropy: y_true must hold one class id"):
        losses.categorical_generalized_cross_entropy(np.array([0, 1, 2]), np.full((2, 3), 1 / 3), 0.5)
    with pytest.raises(ValueError, match=r"Circle: y_pred must be a batch of embeddings of shape \(batch, dim\)"):
        losses.Circle()(np.array([0, 1]), np.ones((2, 3, 1)))
    with pytest.raises(ValueError, match="Circle: y_true must hold one integer label per embedding"):
        losses.Circle()(np.array([0, 1, 1]), _embeddings(rng, 2))
    with pytest.raises(ValueError, match="circle: ref_embeddings must have the embedding size"):
        losses.circle(np.array([0, 1]), _embeddings(rng, 2, 3), ref_labels=[0, 1],
                      ref_embeddings=_embeddings(rng, 2, 4))
    with pytest.raises(ValueError, match="circle: y_true contains NaN"):
        losses.circle(np.array([0, np.nan]), _embeddings(rng, 2))
