"""Linear discriminant analysis against scikit-learn: 1e-8 relative, each direction up to its sign."""
import numpy as np
import pytest
from sklearn import discriminant_analysis as sk_discriminant
from sklearn.covariance import ledoit_wolf
from sklearn.datasets import load_iris, load_wine
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from course_lib.ml.discriminant import LinearDiscriminantAnalysis, ledoit_wolf_covariance

RTOL = 1e-8


@parametrize_with_checks([
    LinearDiscriminantAnalysis(),
    LinearDiscriminantAnalysis(solver="eigen"),
    LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto"),
])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def _relative(ours, theirs):
    return np.abs(ours - theirs).max() / np.abs(theirs).max()


def _assert_close(ours, theirs):
    assert ours.shape == theirs.shape
    assert _relative(ours, theirs) < RTOL


def _assert_close_up_to_sign(ours, theirs):
    """Columns equal up to a sign each (an eigenvector or singular vector's sign is arbitrary)."""
    assert ours.shape == theirs.shape
    signs = np.sign(np.sum(ours * theirs, axis=0))
    assert np.all(signs != 0)
    _assert_close(ours * signs, theirs)


DATASETS = {"iris": load_iris(return_X_y=True), "wine": load_wine(return_X_y=True)}
SETTINGS = [
    {"solver": "svd"},
    {"solver": "svd", "store_covariance": True},
    {"solver": "svd", "n_components": 1},
    {"solver": "svd", "priors": [0.2, 0.3, 0.5]},
    {"solver": "eigen"},
    {"solver": "eigen", "shrinkage": "auto"},
    {"solver": "eigen", "shrinkage": 0.3},
    {"solver": "eigen", "n_components": 1, "priors": [0.5, 0.25, 0.25]},
]


@pytest.mark.parametrize("dataset", ["iris", "wine"])
@pytest.mark.parametrize("params", SETTINGS, ids=lambda params: "-".join(f"{k}={v}" for k, v in params.items()))
def test_equals_scikit_learn(dataset, params):
    X, y = DATASETS[dataset]
    ours = LinearDiscriminantAnalysis(**params).fit(X, y)
    theirs = sk_discriminant.LinearDiscriminantAnalysis(**params).fit(X, y)
    for attribute in ("coef_", "intercept_", "means_", "priors_", "explained_variance_ratio_"):
        _assert_close(getattr(ours, attribute), getattr(theirs, attribute))
    if hasattr(theirs, "covariance_"):
        _assert_close(ours.covariance_, theirs.covariance_)
    if params["solver"] == "svd":
        _assert_close(ours.xbar_, theirs.xbar_)
    # Only the discriminant directions are unique; the eigen solver's remaining columns span
    # the null space of the between-class scatter, where any basis is as good.
    n_directions = len(theirs.classes_) - 1
    _assert_close_up_to_sign(ours.scalings_[:, :n_directions], theirs.scalings_[:, :n_directions])
    _assert_close_up_to_sign(ours.transform(X), theirs.transform(X))
    _assert_close(ours.decision_function(X), theirs.decision_function(X))
    _assert_close(ours.predict_proba(X), theirs.predict_proba(X))
    _assert_close(ours.predict_log_proba(X), theirs.predict_log_proba(X))
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_array_equal(ours.get_feature_names_out(), theirs.get_feature_names_out())


@pytest.mark.parametrize("solver", ["svd", "eigen"])
def test_two_classes_equal_scikit_learn(solver):
    X, y = DATASETS["wine"]
    keep = y > 0
    ours = LinearDiscriminantAnalysis(solver=solver).fit(X[keep], y[keep])
    theirs = sk_discriminant.LinearDiscriminantAnalysis(solver=solver).fit(X[keep], y[keep])
    assert ours.coef_.shape == (1, X.shape[1]) and ours.intercept_.shape == (1,)
    _assert_close(ours.coef_, theirs.coef_)
    _assert_close(ours.intercept_, theirs.intercept_)
    _assert_close(ours.decision_function(X), theirs.decision_function(X))
    _assert_close(ours.predict_proba(X), theirs.predict_proba(X))
    _assert_close_up_to_sign(ours.transform(X), theirs.transform(X))


def test_ledoit_wolf_equals_scikit_learn(rng):
    X = rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6))
    covariance, shrinkage = ledoit_wolf_covariance(X)
    their_covariance, their_shrinkage = ledoit_wolf(X)
    assert shrinkage == pytest.approx(their_shrinkage, rel=RTOL)
    _assert_close(covariance, their_covariance)


def test_projection_separates_the_classes_of_iris():
    """Fisher's criterion on the projected data: between-class variance over within-class is λ."""
    X, y = DATASETS["iris"]
    projected = LinearDiscriminantAnalysis(solver="eigen").fit(X, y).transform(X)
    within = sum((y == c).mean() * np.var(projected[y == c], axis=0) for c in range(3))
    total = np.var(projected, axis=0)
    ratio = (total - within) / within
    assert ratio[0] > ratio[1] > 0
    assert ratio[0] > 10  # iris's first discriminant separates setosa by far


def test_bad_input_is_refused_with_a_clear_message():
    X, y = DATASETS["iris"]
    with pytest.raises(NotFittedError, match="LinearDiscriminantAnalysis"):
        LinearDiscriminantAnalysis().predict(X)
    with pytest.raises(NotFittedError, match="LinearDiscriminantAnalysis"):
        LinearDiscriminantAnalysis().transform(X)
    X_nan = X.copy()
    X_nan[1, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN.*\nLinearDiscriminantAnalysis"):
        LinearDiscriminantAnalysis().fit(X_nan, y)
    with pytest.raises(ValueError, match="LinearDiscriminantAnalysis: Found input variables with inconsistent numbers of samples"):
        LinearDiscriminantAnalysis().fit(X, y[1:])
    with pytest.raises(ValueError, match=r"LinearDiscriminantAnalysis needs at least 2 classes; got 1 class \(0\)"):
        LinearDiscriminantAnalysis().fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="The number of samples must be more than the number of classes. Received: 3 samples of 3 classes"):
        LinearDiscriminantAnalysis().fit(X[[0, 50, 100]], y[[0, 50, 100]])
    with pytest.raises(NotImplementedError, match="shrinkage not supported with 'svd' solver"):
        LinearDiscriminantAnalysis(shrinkage=0.5).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'shrinkage' parameter of LinearDiscriminantAnalysis"):
        LinearDiscriminantAnalysis(solver="eigen", shrinkage=1.5).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'solver' parameter of LinearDiscriminantAnalysis"):
        LinearDiscriminantAnalysis(solver="qr").fit(X, y)
    with pytest.raises(ValueError, match=r"n_components cannot be larger than min\(n_features, n_classes - 1\) = 2. Received: n_components=3"):
        LinearDiscriminantAnalysis(n_components=3).fit(X, y)
    with pytest.raises(ValueError, match=r"priors must be non-negative. Received: \[-0.5, 1.0, 0.5\]"):
        LinearDiscriminantAnalysis(priors=[-0.5, 1.0, 0.5]).fit(X, y)
    with pytest.warns(UserWarning, match="The priors do not sum to 1. Renormalizing"):
        model = LinearDiscriminantAnalysis(priors=[1.0, 1.0, 2.0]).fit(X, y)
    np.testing.assert_allclose(model.priors_, [0.25, 0.25, 0.5])
