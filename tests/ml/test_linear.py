"""course_lib.ml.linear and course_lib.ml.regression against scikit-learn, computed in the same test.

Measured agreement with scikit-learn 1.9 (largest absolute difference over the
largest absolute value of scikit-learn's coefficients, unless said otherwise):

* LinearRegression, Ridge: below 3e-13 on diabetes and wine (asserted 1e-8).
* Lasso, ElasticNet, lasso_path, enet_path: below 1e-12 at scikit-learn's own
  ``tol`` (asserted 1e-6): both run the same cyclic coordinate descent with
  the same duality-gap stopping rule, so they stop after the same sweep.
* LogisticRegression, Newton with ``tol=1e-10``, against ``solver="lbfgs"``
  with ``tol=1e-12``: within 2.5e-5 absolute on iris, wine, breast cancer and
  digits (asserted 1e-4 absolute), probabilities within 1.2e-6. The rest is
  L-BFGS stopping on its objective-change rule: its largest gradient entry is
  about 1e-7 there, ours 1e-12. Gradient descent (``tol=1e-7``): within 6e-5.

The models without a scikit-learn counterpart are checked against a direct
computation: forward stepwise selection against an exhaustive one-step-ahead
search with ``LinearRegression`` and the textbook t-test, LOESS against one
weighted least-squares solve per query point.
"""
import contextlib
import itertools
import warnings

import numpy as np
import pytest
import scipy.stats
from sklearn import linear_model as sk
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from course_lib.ml.linear import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    coordinate_descent,
    duality_gap,
    enet_path,
    lasso_path,
    logistic_hessian_product,
    logistic_loss_gradient,
    ridge_path,
)
from course_lib.ml.regression import (
    ForwardStepwiseRegression,
    LocallyWeightedRegression,
    polynomial_terms,
)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # The test machine is shared: BLAS threads competing for its cores make small
    # matrix products tens of times slower, so every test here uses one.
    with threadpool_limits(1):
        yield


@contextlib.contextmanager
def ignoring_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def relative_error(actual, expected):
    """Largest absolute difference over the largest absolute expected value."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-300)


def standardized(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


DIABETES = load_diabetes(return_X_y=True)
WINE = load_wine(return_X_y=True)


# ---------------------------------------------------------------------------
# scikit-learn's estimator checks
# ---------------------------------------------------------------------------

# Every check passes, so no estimator lists expected failures.
@parametrize_with_checks(
    [
        LinearRegression(),
        Ridge(),
        Lasso(),
        ElasticNet(),
        LogisticRegression(),
        LogisticRegression(solver="gd", max_iter=300),
        ForwardStepwiseRegression(),
        ForwardStepwiseRegression(criterion="pvalue"),
        LocallyWeightedRegression(),
    ],
    expected_failed_checks=lambda estimator: {},
)
def test_scikit_learn_estimator_checks(estimator, check):
    # Gradient descent capped at 300 steps may stop short on the checks' data; that is not what they test.
    with ignoring_convergence_warnings():
        check(estimator)


# ---------------------------------------------------------------------------
# LinearRegression and Ridge
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["diabetes", "wine"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_linear_regression_matches_scikit_learn(dataset, fit_intercept):
    X, y = DIABETES if dataset == "diabetes" else WINE
    ours = LinearRegression(fit_intercept=fit_intercept).fit(X, y)
    theirs = sk.LinearRegression(fit_intercept=fit_intercept).fit(X, y)
    assert relative_error(ours.coef_, theirs.coef_) < 1e-8
    assert abs(ours.intercept_ - theirs.intercept_) <= 1e-8 * max(1.0, abs(theirs.intercept_))
    assert relative_error(ours.predict(X), theirs.predict(X)) < 1e-8
    assert ours.rank_ == theirs.rank_
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y), rel=1e-10)


def test_linear_regression_two_targets_and_a_rank_deficient_design():
    X, y = DIABETES
    X = np.hstack([X, X[:, :1] * 2.0])  # an exact copy (times 2) of column 0
    Y = np.column_stack([y, np.log(y)])
    ours = LinearRegression().fit(X, Y)
    theirs = sk.LinearRegression().fit(X, Y)
    assert ours.coef_.shape == (2, 11) and ours.intercept_.shape == (2,)
    assert ours.rank_ == 10
    # Both return the minimum-norm solution: the weight of column 0 is split 1 : 2 with its copy.
    assert relative_error(ours.coef_, theirs.coef_) < 1e-8
    assert relative_error(ours.intercept_, theirs.intercept_) < 1e-8
    np.testing.assert_allclose(ours.coef_[:, 10], 2.0 * ours.coef_[:, 0], rtol=1e-8)


@pytest.mark.parametrize("dataset", ["diabetes", "wine"])
@pytest.mark.parametrize("alpha", [1e-3, 1.0, 100.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_matches_scikit_learn(dataset, alpha, fit_intercept):
    X, y = DIABETES if dataset == "diabetes" else WINE
    ours = Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
    theirs = sk.Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
    assert relative_error(ours.coef_, theirs.coef_) < 1e-8
    assert abs(ours.intercept_ - theirs.intercept_) <= 1e-8 * max(1.0, abs(theirs.intercept_))
    assert relative_error(ours.predict(X), theirs.predict(X)) < 1e-8


def test_ridge_two_targets_and_more_features_than_samples():
    X, y = DIABETES
    Y = np.column_stack([y, y**0.5])
    ours, theirs = Ridge(alpha=0.5).fit(X, Y), sk.Ridge(alpha=0.5).fit(X, Y)
    assert relative_error(ours.coef_, theirs.coef_) < 1e-8
    assert relative_error(ours.intercept_, theirs.intercept_) < 1e-8
    wide_X, wide_y = X[:8], y[:8]  # 8 samples, 10 features
    ours, theirs = Ridge(alpha=0.1).fit(wide_X, wide_y), sk.Ridge(alpha=0.1).fit(wide_X, wide_y)
    assert relative_error(ours.coef_, theirs.coef_) < 1e-8


def test_ridge_path_columns_are_the_ridge_solutions():
    X, y = DIABETES
    X_centered, y_centered = X - X.mean(0), y - y.mean()
    alphas = [10.0, 0.0, 1e-2, 1.0]  # the given order is kept
    returned_alphas, coefs = ridge_path(X_centered, y_centered, alphas)
    np.testing.assert_array_equal(returned_alphas, alphas)
    assert coefs.shape == (10, 4)
    for k, alpha in enumerate(alphas):
        if alpha == 0.0:
            expected = sk.LinearRegression(fit_intercept=False).fit(X_centered, y_centered).coef_
        else:
            expected = sk.Ridge(alpha=alpha, fit_intercept=False).fit(X_centered, y_centered).coef_
        assert relative_error(coefs[:, k], expected) < 1e-8
    # Stronger penalties give smaller coefficient vectors.
    norms = np.linalg.norm(ridge_path(X_centered, y_centered, np.geomspace(1e-3, 1e3, 7))[1], axis=0)
    assert np.all(np.diff(norms) < 0)


# ---------------------------------------------------------------------------
# Lasso and ElasticNet
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [1.0, 0.1, 0.01, 1e-3])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5, 0.1, 0.0])  # 0: the ridge form of the gap
def test_elastic_net_matches_scikit_learn_on_diabetes(alpha, l1_ratio):
    X, y = DIABETES
    ours = ElasticNet(alpha=alpha, l1_ratio=l1_ratio).fit(X, y)
    theirs = sk.ElasticNet(alpha=alpha, l1_ratio=l1_ratio).fit(X, y)
    assert relative_error(ours.coef_, theirs.coef_) < 1e-6
    assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-6)
    # Same iterates and the same stopping rule: they stop after the same sweep.
    assert ours.n_iter_ == theirs.n_iter_
    # Gaps near zero differ by rounding only (ours from the Gram matrix, theirs from the residual).
    scale = np.sum((y - y.mean()) ** 2) / len(y)
    assert ours.dual_gap_ == pytest.approx(theirs.dual_gap_, rel=1e-6, abs=1e-12 * scale)
    assert ours.dual_gap_ <= ours.tol * np.sum((y - y.mean()) ** 2) / len(y)


@pytest.mark.parametrize("alpha", [0.1, 0.01, 1e-3])
def test_lasso_matches_scikit_learn_on_standardized_breast_cancer(alpha):
    X, y = standardized(load_breast_cancer)
    ours, theirs = Lasso(alpha=alpha).fit(X, y), sk.Lasso(alpha=alpha).fit(X, y)
    assert relative_error(ours.coef_, theirs.coef_) < 1e-6
    assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-6)
    assert np.array_equal(ours.coef_ == 0, theirs.coef_ == 0)  # the same sparsity pattern


@pytest.mark.parametrize("options", [
    {"positive": True},
    {"fit_intercept": False},
    {"alpha": 0.05, "max_iter": 5},  # stops at max_iter after the same 5 sweeps
])
def test_lasso_options_match_scikit_learn(options):
    X, y = DIABETES
    options = {"alpha": 0.1, **options}
    with pytest.warns(ConvergenceWarning) if "max_iter" in options else contextlib.nullcontext():
        ours = Lasso(**options).fit(X, y)
    with ignoring_convergence_warnings():
        theirs = sk.Lasso(**options).fit(X, y)
    assert relative_error(ours.coef_, theirs.coef_) < 1e-6
    assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-6, abs=1e-12)
    if options.get("positive"):
        assert np.all(ours.coef_ >= 0)


def test_lasso_random_selection_reaches_the_same_optimum():
    X, y = DIABETES
    ours = Lasso(alpha=0.01, selection="random", random_state=0, tol=1e-10, max_iter=100_000).fit(X, y)
    theirs = sk.Lasso(alpha=0.01, tol=1e-12, max_iter=100_000).fit(X, y)
    assert relative_error(ours.coef_, theirs.coef_) < 1e-6
    again = Lasso(alpha=0.01, selection="random", random_state=0, tol=1e-10, max_iter=100_000).fit(X, y)
    np.testing.assert_array_equal(again.coef_, ours.coef_)  # random_state fixes the visiting order


def test_lasso_warm_start_and_two_targets():
    X, y = DIABETES
    model = Lasso(alpha=0.01, warm_start=True).fit(X, y)
    first = model.n_iter_
    model.fit(X, y)
    assert model.n_iter_ < first  # started at the solution already
    Y = np.column_stack([y, np.sqrt(y)])
    ours, theirs = Lasso(alpha=0.01).fit(X, Y), sk.Lasso(alpha=0.01).fit(X, Y)
    assert ours.coef_.shape == (2, 10)
    assert relative_error(ours.coef_, theirs.coef_) < 1e-6
    assert relative_error(ours.intercept_, theirs.intercept_) < 1e-6


def test_lasso_solution_satisfies_its_optimality_conditions():
    # At the lasso optimum every |X_jᵀ r| / n <= alpha, with equality where w_j != 0.
    X, y = DIABETES
    alpha = 0.05
    model = Lasso(alpha=alpha, tol=1e-12, max_iter=100_000).fit(X, y)
    correlations = (X - X.mean(0)).T @ (y - model.predict(X)) / len(y)
    assert np.all(np.abs(correlations) <= alpha * (1 + 1e-6))
    active = model.coef_ != 0
    np.testing.assert_allclose(correlations[active], alpha * np.sign(model.coef_[active]), rtol=1e-6)


def test_duality_gap_is_an_upper_bound_and_zero_at_the_optimum():
    X, y = DIABETES
    X, y = X - X.mean(0), y - y.mean()
    gram, xty, y_norm2 = X.T @ X, X.T @ y, y @ y
    l1_reg, l2_reg = 0.05 * len(y), 0.02 * len(y)

    def primal(w):
        return 0.5 * np.sum((y - X @ w) ** 2) + l1_reg * np.abs(w).sum() + 0.5 * l2_reg * w @ w

    optimum, gap, _ = coordinate_descent(gram, xty, y_norm2, np.zeros(10), l1_reg, l2_reg, 100_000, 1e-14)
    assert gap <= 1e-12 * y_norm2
    rng = np.random.default_rng(0)
    for _ in range(20):
        w = rng.normal(scale=300, size=10)
        gap = duality_gap(w, gram @ w, xty, y_norm2, l1_reg, l2_reg)
        # Weak duality: the gap bounds the distance to the optimal objective from above.
        assert gap >= primal(w) - primal(optimum) - 1e-9 * y_norm2
        assert primal(w) - primal(optimum) >= 0


def test_lasso_path_matches_scikit_learn():
    X, y = DIABETES
    ours_alphas, ours_coefs, ours_gaps = lasso_path(X, y)
    their_alphas, their_coefs, their_gaps = sk.lasso_path(X, y, alphas=100)
    assert relative_error(ours_alphas, their_alphas) < 1e-12
    assert ours_coefs.shape == (10, 100)
    assert relative_error(ours_coefs, their_coefs) < 1e-6
    np.testing.assert_allclose(ours_gaps, their_gaps, rtol=1e-5, atol=1e-10 * (y @ y) / len(y))
    # alpha_max is the smallest alpha with every coefficient zero.
    assert np.all(ours_coefs[:, 0] == 0)
    assert np.any(lasso_path(X, y, alphas=[0.99 * ours_alphas[0]], tol=1e-14)[1])


def test_enet_path_with_given_alphas_matches_scikit_learn():
    X, y = standardized(load_wine)
    alphas = [0.01, 1.0, 0.1]  # sorted into decreasing order, as scikit-learn does
    ours = enet_path(X, y, l1_ratio=0.5, alphas=alphas)
    theirs = sk.enet_path(X, y, l1_ratio=0.5, alphas=alphas)
    np.testing.assert_array_equal(ours[0], [1.0, 0.1, 0.01])
    assert relative_error(ours[1], theirs[1]) < 1e-6
    ours = enet_path(X, y, l1_ratio=0.7, n_alphas=20, eps=1e-2, positive=True)
    theirs = sk.enet_path(X, y, l1_ratio=0.7, alphas=20, eps=1e-2, positive=True)
    assert relative_error(ours[0], theirs[0]) < 1e-12
    assert relative_error(ours[1], theirs[1]) < 1e-6


# ---------------------------------------------------------------------------
# LogisticRegression
# ---------------------------------------------------------------------------


def logistic_datasets():
    X_digits, y_digits = load_digits(return_X_y=True)
    return {
        "iris": load_iris(return_X_y=True),
        "wine": standardized(load_wine),
        "breast_cancer": standardized(load_breast_cancer),
        "digits": (X_digits / 16.0, y_digits),
    }


@pytest.mark.parametrize("dataset", ["iris", "wine", "breast_cancer", pytest.param("digits", marks=pytest.mark.slow)])
@pytest.mark.parametrize("C", [1.0, 0.1])
def test_logistic_regression_newton_matches_scikit_learn_lbfgs(dataset, C):
    X, y = logistic_datasets()[dataset]
    ours = LogisticRegression(C=C, tol=1e-10).fit(X, y)
    theirs = sk.LogisticRegression(C=C, solver="lbfgs", tol=1e-12, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.decision_function(X).shape == theirs.decision_function(X).shape
    assert ours.n_iter_.shape == (1,) and ours.n_iter_[0] < 30


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["iris", "breast_cancer"])
def test_logistic_regression_gradient_descent_matches_scikit_learn(dataset):
    X, y = standardized(load_iris) if dataset == "iris" else standardized(load_breast_cancer)
    ours = LogisticRegression(solver="gd", tol=1e-7, max_iter=200_000).fit(X, y)
    theirs = sk.LogisticRegression(tol=1e-12, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=0, atol=1e-4)
    fixed = LogisticRegression(solver="gd", learning_rate=0.05, tol=1e-7, max_iter=200_000).fit(X, y)
    np.testing.assert_allclose(fixed.coef_, theirs.coef_, rtol=0, atol=1e-4)


def test_logistic_regression_string_labels_and_no_penalty():
    X, y = load_iris(return_X_y=True)
    keep = y > 0  # versicolor against virginica: not separable, so the unpenalised optimum exists
    X, labels = X[keep], np.array(["setosa", "versicolor", "virginica"])[y[keep]]
    ours = LogisticRegression(penalty=None, tol=1e-10).fit(X, labels)
    theirs = sk.LogisticRegression(C=np.inf, tol=1e-12, max_iter=100_000).fit(X, labels)
    np.testing.assert_array_equal(ours.classes_, ["versicolor", "virginica"])
    assert ours.coef_.shape == (1, 4) and ours.intercept_.shape == (1,)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-4)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-4)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.decision_function(X).shape == (len(X),)
    np.testing.assert_allclose(np.exp(ours.predict_log_proba(X)), ours.predict_proba(X), rtol=1e-12, atol=1e-15)


def test_logistic_regression_without_intercept_matches_scikit_learn():
    X, y = standardized(load_wine)
    ours = LogisticRegression(fit_intercept=False, tol=1e-10).fit(X, y)
    theirs = sk.LogisticRegression(fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(ours.intercept_, np.zeros(3))
    # The class weights of a softmax model sum to zero at the optimum.
    np.testing.assert_allclose(ours.coef_.sum(axis=0), 0.0, atol=1e-10)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_hessian_product_matches_finite_differences_of_the_gradient(n_classes):
    X, y = load_iris(return_X_y=True)
    keep = y < n_classes
    X, y = X[keep], y[keep]
    X1 = np.hstack([X, np.ones((len(X), 1))])
    targets = y[:, None].astype(float) if n_classes == 2 else np.eye(3)[y]
    penalised = np.array([1.0, 1, 1, 1, 0])
    problem = dict(X1=X1, targets=targets, l2_strength=0.01, penalised=penalised)
    rng = np.random.default_rng(0)
    weights = rng.normal(scale=0.3, size=(targets.shape[1], 5))
    direction = rng.normal(size=weights.shape)
    _, _, probabilities = logistic_loss_gradient(weights, **problem)
    product = logistic_hessian_product(direction, X1, probabilities, 0.01, penalised)
    step = 1e-6
    plus = logistic_loss_gradient(weights + step * direction, **problem)[1]
    minus = logistic_loss_gradient(weights - step * direction, **problem)[1]
    assert relative_error(product, (plus - minus) / (2 * step)) < 1e-7
    # ... and the gradient matches finite differences of the loss.
    loss_plus = logistic_loss_gradient(weights + step * direction, **problem)[0]
    loss_minus = logistic_loss_gradient(weights - step * direction, **problem)[0]
    gradient = logistic_loss_gradient(weights, **problem)[1]
    assert np.sum(gradient * direction) == pytest.approx((loss_plus - loss_minus) / (2 * step), rel=1e-7)


def test_logistic_regression_warns_when_it_stops_at_max_iter():
    X, y = load_iris(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match="LogisticRegression.*max_iter=2"):
        model = LogisticRegression(max_iter=2).fit(X, y)
    assert model.n_iter_[0] == 2


# ---------------------------------------------------------------------------
# ForwardStepwiseRegression
# ---------------------------------------------------------------------------


def gaussian_aic(X, y, columns):
    """AIC ``n log(RSS / n) + 2 k`` of least squares with an intercept on ``columns``, by LinearRegression."""
    if columns:
        prediction = sk.LinearRegression().fit(X[:, columns], y).predict(X[:, columns])
    else:
        prediction = np.full(len(y), y.mean())
    rss = np.sum((y - prediction) ** 2)
    return len(y) * np.log(rss / len(y)) + 2 * (len(columns) + 1)


def t_test_p_value(X, y, columns):
    """Two-sided p-value of the last column's coefficient in least squares on ``columns`` + intercept."""
    design = np.column_stack([np.ones(len(y)), X[:, columns]])
    beta, rss = np.linalg.lstsq(design, y, rcond=None)[:2]
    degrees_of_freedom = len(y) - design.shape[1]
    covariance = rss[0] / degrees_of_freedom * np.linalg.inv(design.T @ design)
    t = beta[-1] / np.sqrt(covariance[-1, -1])
    return 2 * scipy.stats.t.sf(abs(t), degrees_of_freedom)


def test_forward_stepwise_aic_follows_an_exhaustive_one_step_ahead_search():
    X, y = DIABETES
    model = ForwardStepwiseRegression(criterion="aic").fit(X, y)
    chosen, current = [], gaussian_aic(X, y, [])
    while True:
        remaining = [j for j in range(10) if j not in chosen]
        scores = {j: gaussian_aic(X, y, chosen + [j]) for j in remaining}
        best = min(scores, key=scores.get)
        if scores[best] >= current:
            break
        chosen.append(best)
        current = scores[best]
    np.testing.assert_array_equal(model.selected_features_, chosen)
    assert chosen == [2, 8, 3, 4, 1, 5]  # bmi, s5, bp, s1, sex, s2
    np.testing.assert_allclose(model.criterion_values_[-1], current, rtol=1e-10)
    assert model.aic_ == pytest.approx(current, rel=1e-10)
    # The final model is least squares on the chosen columns.
    reference = sk.LinearRegression().fit(X[:, chosen], y)
    assert relative_error(model.coef_[chosen], reference.coef_) < 1e-10
    assert model.intercept_ == pytest.approx(reference.intercept_, rel=1e-10)
    assert np.all(model.coef_[~model.support_] == 0)
    assert model.support_.sum() == len(chosen)
    assert relative_error(model.predict(X), reference.predict(X[:, chosen])) < 1e-10


@pytest.mark.parametrize("threshold", [0.05, 1e-3])
def test_forward_stepwise_p_values_are_the_coefficient_t_tests(threshold):
    X, y = DIABETES
    model = ForwardStepwiseRegression(criterion="pvalue", threshold=threshold).fit(X, y)
    chosen = list(model.selected_features_)
    for step, feature in enumerate(chosen):
        expected = t_test_p_value(X, y, chosen[:step] + [feature])
        assert model.criterion_values_[step] == pytest.approx(expected, rel=1e-6)
        assert model.criterion_values_[step] < threshold
    # The best next candidate (largest RSS decrease = smallest p-value) fails the threshold.
    remaining = [j for j in range(10) if j not in chosen]
    assert min(t_test_p_value(X, y, chosen + [j]) for j in remaining) >= threshold
    assert chosen == [2, 8, 3, 4, 1, 5][: len(chosen)]  # the same order as by AIC


def test_forward_stepwise_max_features_and_a_duplicated_column():
    X, y = DIABETES
    X = np.hstack([X, X[:, [2]]])  # column 10 repeats bmi
    model = ForwardStepwiseRegression(max_features=3).fit(X, y)
    np.testing.assert_array_equal(model.selected_features_, [2, 8, 3])
    everything = ForwardStepwiseRegression(threshold=-np.inf).fit(X, y)  # accept every usable feature
    assert len(everything.selected_features_) == 10  # the copy of bmi adds nothing and is never taken
    assert not everything.support_[10]


# ---------------------------------------------------------------------------
# LocallyWeightedRegression
# ---------------------------------------------------------------------------


def loess_one_point_at_a_time(queries, X, y, frac, degree, kernel):
    """The textbook computation: for each query, sort distances, weigh, solve weighted least squares."""
    kernels = {
        "tricube": lambda u: np.clip(1 - u**3, 0, None) ** 3,
        "epanechnikov": lambda u: np.clip(1 - u**2, 0, None),
        "uniform": lambda u: (u < 1).astype(float),
    }
    n_terms = len(list(itertools.chain.from_iterable(
        itertools.combinations_with_replacement(range(X.shape[1]), p) for p in range(degree + 1))))
    k = min(len(X), max(int(np.ceil(frac * len(X))), n_terms + 1))
    estimates = []
    for query in queries:
        distances = np.linalg.norm(X - query, axis=1)
        bandwidth = np.sort(distances)[k - 1]
        weights = kernels[kernel](distances / bandwidth)
        offsets = X - query  # unscaled: the value at the query does not depend on the scaling
        columns = [np.ones(len(X))]
        for power in range(1, degree + 1):
            for combination in itertools.combinations_with_replacement(range(X.shape[1]), power):
                columns.append(np.prod(offsets[:, combination], axis=1))
        design = np.column_stack(columns)
        root = np.sqrt(weights)
        beta = np.linalg.lstsq(design * root[:, None], y * root, rcond=None)[0]
        estimates.append(beta[0])
    return np.array(estimates)


@pytest.mark.parametrize("degree", [0, 1, 2])
@pytest.mark.parametrize("kernel", ["tricube", "epanechnikov", "uniform"])
@pytest.mark.parametrize("n_features", [1, 2])
def test_loess_equals_one_weighted_least_squares_per_point(degree, kernel, n_features):
    rng = np.random.default_rng(degree + 3 * n_features)
    X = rng.uniform(-2, 2, size=(120, n_features))
    y = np.sin(X).sum(axis=1) + rng.normal(scale=0.1, size=120)
    queries = np.vstack([X[:15], rng.uniform(-2, 2, size=(15, n_features))])
    model = LocallyWeightedRegression(frac=0.25, degree=degree, kernel=kernel).fit(X, y)
    expected = loess_one_point_at_a_time(queries, X, y, 0.25, degree, kernel)
    np.testing.assert_allclose(model.predict(queries), expected, rtol=1e-9, atol=1e-9)


def test_loess_tracks_a_noisy_sine():
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(0, 2 * np.pi, 300))
    y = np.sin(x) + rng.normal(scale=0.3, size=300)
    grid = np.linspace(0.2, 2 * np.pi - 0.2, 200)[:, None]
    model = LocallyWeightedRegression(frac=0.2).fit(x[:, None], y)
    loess_error = np.sqrt(np.mean((model.predict(grid) - np.sin(grid[:, 0])) ** 2))
    line_error = np.sqrt(np.mean((LinearRegression().fit(x[:, None], y).predict(grid) - np.sin(grid[:, 0])) ** 2))
    assert loess_error < 0.1  # a tenth of the noise level
    assert loess_error < line_error / 4
    # frac=1 with a uniform kernel and degree 1 on evenly spread data is close to the global line.
    wide = LocallyWeightedRegression(frac=1.0, kernel="uniform").fit(x[:, None], y)
    assert wide.n_neighbors_ == 300


def test_loess_handles_repeated_inputs_and_small_frac():
    X = np.repeat(np.arange(5.0), 4)[:, None]  # every x four times
    y = np.repeat([0.0, 1.0, 4.0, 9.0, 16.0], 4)
    model = LocallyWeightedRegression(frac=0.01, degree=1).fit(X, y)
    assert model.n_neighbors_ == 3  # raised to n_terms + 1
    # All three nearest neighbours of x = 2 sit on it: the estimate is their mean.
    assert model.predict([[2.0]])[0] == pytest.approx(4.0)
    assert np.all(np.isfinite(model.predict(np.linspace(0, 4, 9)[:, None])))


def test_polynomial_terms_lists_every_monomial_once():
    offsets = np.array([[2.0, 3.0]])
    np.testing.assert_array_equal(polynomial_terms(offsets, 2), [[1, 2, 3, 4, 6, 9]])
    np.testing.assert_array_equal(polynomial_terms(offsets, 0), [[1]])


# ---------------------------------------------------------------------------
# Bad input: clear errors that name the estimator
# ---------------------------------------------------------------------------

REGRESSORS = [LinearRegression, Ridge, Lasso, ElasticNet, ForwardStepwiseRegression, LocallyWeightedRegression]
ALL_ESTIMATORS = REGRESSORS + [LogisticRegression]


def small_problem(estimator_class):
    X, y = load_iris(return_X_y=True)
    return X, (y if estimator_class is LogisticRegression else X[:, 0] * 2.0 + 1.0)


@pytest.mark.parametrize("estimator_class", ALL_ESTIMATORS)
@pytest.mark.parametrize("bad_value, message", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_nan_or_inf_in_X_is_refused_by_name(estimator_class, bad_value, message):
    X, y = small_problem(estimator_class)
    X = X.copy()
    X[3, 1] = bad_value
    with pytest.raises(ValueError, match=f"(?s)(?=.*{message})(?=.*{estimator_class.__name__})"):
        estimator_class().fit(X, y)


@pytest.mark.parametrize("estimator_class", ALL_ESTIMATORS)
def test_mismatched_lengths_are_refused_by_name(estimator_class):
    X, y = small_problem(estimator_class)
    with pytest.raises(ValueError, match=rf"{estimator_class.__name__}.*inconsistent numbers of samples: \[150, 149\]"):
        estimator_class().fit(X, y[:-1])


@pytest.mark.parametrize("estimator_class", ALL_ESTIMATORS)
def test_predict_before_fit_names_the_estimator(estimator_class):
    with pytest.raises(NotFittedError, match=f"This {estimator_class.__name__} instance is not fitted yet"):
        estimator_class().predict(np.ones((2, 4)))


@pytest.mark.parametrize("estimator_class", ALL_ESTIMATORS)
def test_strings_in_X_and_a_wrong_feature_count_are_refused_by_name(estimator_class):
    X, y = small_problem(estimator_class)
    text = X.astype(object)
    text[0, 0] = "tall"
    with pytest.raises(ValueError, match=f"{estimator_class.__name__}.*could not convert string to float: 'tall'"):
        estimator_class().fit(text, y)
    model = estimator_class().fit(X, y)
    with pytest.raises(ValueError, match=f"X has 3 features, but {estimator_class.__name__} is expecting 4"):
        model.predict(X[:, :3])


@pytest.mark.parametrize("estimator, message", [
    (Ridge(alpha=-1.0), r"The 'alpha' parameter of Ridge must be a float in the range \[0.0, inf\)\. Got -1.0"),
    (Lasso(alpha=-0.5), r"The 'alpha' parameter of Lasso must be a float in the range \[0.0, inf\)\. Got -0.5"),
    (Lasso(alpha="large"), r"The 'alpha' parameter of Lasso must be a float .* Got 'large'"),
    (ElasticNet(l1_ratio=1.5), r"The 'l1_ratio' parameter of ElasticNet must be a float in the range \[0.0, 1.0\]"),
    (Lasso(selection="shuffle"), r"The 'selection' parameter of Lasso must be a str among"),
    (LogisticRegression(C=-1.0), r"The 'C' parameter of LogisticRegression must be a float in the range \(0.0, inf\)"),
    (LogisticRegression(C="1"), r"The 'C' parameter of LogisticRegression must be a float .* Got '1'"),
    (LogisticRegression(solver="lbfgs"), r"The 'solver' parameter of LogisticRegression must be a str among"),
    (LogisticRegression(learning_rate=0.0), r"The 'learning_rate' parameter of LogisticRegression"),
    (ForwardStepwiseRegression(criterion="bic"), r"The 'criterion' parameter of ForwardStepwiseRegression"),
    (LocallyWeightedRegression(frac=0.0), r"The 'frac' parameter of LocallyWeightedRegression .* \(0.0, 1.0\]"),
    (LocallyWeightedRegression(degree=3), r"The 'degree' parameter of LocallyWeightedRegression"),
])
def test_bad_hyper_parameters_are_refused_with_name_and_value(estimator, message):
    X, y = small_problem(type(estimator))
    with pytest.raises(InvalidParameterError, match=message):
        estimator.fit(X, y)


def test_model_specific_errors():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="LogisticRegression needs samples of at least 2 classes.*only one class: 'a'"):
        LogisticRegression().fit(X[:5], ["a"] * 5)
    with pytest.raises(ValueError, match="LogisticRegression: Unknown label type: continuous"):
        LogisticRegression().fit(X, X[:, 0])
    with pytest.raises(ValueError, match=r"ForwardStepwiseRegression: a p-value threshold must be in \(0, 1\]"):
        ForwardStepwiseRegression(criterion="pvalue", threshold=2.0).fit(X, y)
    with pytest.raises(ValueError, match="LocallyWeightedRegression with degree=2 .* needs at least 4 samples; got 3"):
        LocallyWeightedRegression(degree=2).fit(X[:3, :1], y[:3])
    with pytest.warns(UserWarning, match="Lasso: with alpha=0"):
        Lasso(alpha=0.0).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="lasso_path: y must be 1-D with one value per row of X"):
        lasso_path(X, y[:-1])
    with pytest.raises(ValueError, match="(?s)Input X contains NaN.*lasso_path does not accept"):
        lasso_path(np.where(X > 7, np.nan, X), y)
    with pytest.raises(ValueError, match=r"ridge_path: alphas must be a 1-D array of values >= 0"):
        ridge_path(X, y, [1.0, -1.0])
    with pytest.raises(InvalidParameterError, match="The 'eps' parameter of enet_path"):
        enet_path(X, y, eps=-1)
