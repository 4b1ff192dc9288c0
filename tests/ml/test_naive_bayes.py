"""Gaussian and multinomial naive Bayes against scikit-learn (1e-8 relative)."""
import numpy as np
import pytest
from sklearn import naive_bayes as sk_naive_bayes
from sklearn.datasets import load_digits, load_iris, load_wine
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from course_lib.ml.naive_bayes import GaussianNB, MultinomialNB

RTOL = 1e-8


@parametrize_with_checks([GaussianNB(), GaussianNB(var_smoothing=1e-3), MultinomialNB(), MultinomialNB(alpha=0.5, fit_prior=False)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def _assert_close(ours, theirs):
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=0)


@pytest.mark.parametrize("loader", [load_iris, load_wine])
@pytest.mark.parametrize("params", [{}, {"var_smoothing": 1e-2}, {"priors": "custom"}])
def test_gaussian_nb_equals_scikit_learn(loader, params):
    X, y = loader(return_X_y=True)
    if params.get("priors") == "custom":
        params = {"priors": np.array([0.2, 0.3, 0.5])}
    ours = GaussianNB(**params).fit(X, y)
    theirs = sk_naive_bayes.GaussianNB(**params).fit(X, y)
    for attribute in ("theta_", "var_", "class_prior_", "class_count_", "epsilon_"):
        _assert_close(getattr(ours, attribute), getattr(theirs, attribute))
    _assert_close(ours.predict_proba(X), theirs.predict_proba(X))
    _assert_close(ours.predict_log_proba(X), theirs.predict_log_proba(X))
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.score(X, y) == theirs.score(X, y)


def test_gaussian_nb_probabilities_far_from_the_data_do_not_overflow():
    X, y = load_iris(return_X_y=True)
    far = X[:5] * 1e3
    ours = GaussianNB().fit(X, y)
    probabilities = ours.predict_proba(far)
    assert np.all(np.isfinite(probabilities))
    _assert_close(probabilities, sk_naive_bayes.GaussianNB().fit(X, y).predict_proba(far))


@pytest.mark.parametrize("params", [
    {}, {"alpha": 0.1}, {"alpha": 0.0}, {"fit_prior": False}, {"class_prior": "custom"}, {"alpha": "per-feature"},
])
def test_multinomial_nb_equals_scikit_learn_on_digits(params):
    X, y = load_digits(return_X_y=True)
    if params.get("class_prior") == "custom":
        params = {"class_prior": np.arange(1, 11) / 55}
    if params.get("alpha") == "per-feature":
        params = {"alpha": np.linspace(0.1, 2.0, X.shape[1])}
    with np.errstate(divide="ignore", invalid="ignore"):  # alpha = 0: log of zero counts, in both
        ours = MultinomialNB(**params).fit(X, y)
        theirs = sk_naive_bayes.MultinomialNB(**params).fit(X, y)
        for attribute in ("feature_count_", "class_count_", "feature_log_prob_", "class_log_prior_"):
            _assert_close(getattr(ours, attribute), getattr(theirs, attribute))
        _assert_close(ours.predict_proba(X), theirs.predict_proba(X))
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_multinomial_nb_binary_problem_equals_scikit_learn():
    X, y = load_digits(return_X_y=True)
    keep = y < 2
    ours = MultinomialNB().fit(X[keep], y[keep])
    theirs = sk_naive_bayes.MultinomialNB().fit(X[keep], y[keep])
    _assert_close(ours.feature_log_prob_, theirs.feature_log_prob_)
    _assert_close(ours.predict_proba(X), theirs.predict_proba(X))


def test_multinomial_nb_tiny_alpha_is_raised_when_not_forced():
    X, y = load_digits(return_X_y=True)
    with pytest.warns(UserWarning, match="setting alpha = 1.0e-10"):
        ours = MultinomialNB(alpha=0.0, force_alpha=False).fit(X, y)
    with pytest.warns(UserWarning):
        theirs = sk_naive_bayes.MultinomialNB(alpha=0.0, force_alpha=False).fit(X, y)
    _assert_close(ours.feature_log_prob_, theirs.feature_log_prob_)


def test_one_class_is_accepted_and_predicted_as_in_scikit_learn():
    X, _ = load_iris(return_X_y=True)
    y = np.full(len(X), 7)
    for Estimator in (GaussianNB, MultinomialNB):
        model = Estimator().fit(X, y)
        np.testing.assert_array_equal(model.predict(X), y)
        np.testing.assert_array_equal(model.predict_proba(X), 1.0)


@pytest.mark.parametrize("Estimator", [GaussianNB, MultinomialNB])
def test_bad_input_is_refused_with_a_clear_message(Estimator):
    X, y = load_iris(return_X_y=True)
    name = Estimator.__name__
    with pytest.raises(NotFittedError, match=name):
        Estimator().predict(X)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match=f"Input X contains NaN.*\n{name}"):
        Estimator().fit(X_nan, y)
    with pytest.raises(ValueError, match=f"{name}: Found input variables with inconsistent numbers of samples: \\[150, 100\\]"):
        Estimator().fit(X, y[:100])
    with pytest.raises(ValueError, match=f"{name}: Unknown label type: continuous"):
        Estimator().fit(X, X[:, 0])
    with pytest.raises(ValueError, match=f"{name}: could not convert string to float"):
        Estimator().fit([["a", "b"], ["c", "d"]], [0, 1])
    with pytest.raises(ValueError, match=f"X has 2 features, but {name} is expecting 4 features"):
        Estimator().fit(X, y).predict(X[:, :2])


def test_gaussian_nb_bad_parameters():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(InvalidParameterError, match="'var_smoothing' parameter of GaussianNB must be a float in the range \\[0.0, inf\\). Got -1 instead"):
        GaussianNB(var_smoothing=-1).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'var_smoothing' parameter of GaussianNB .* Got 'small'"):
        GaussianNB(var_smoothing="small").fit(X, y)
    with pytest.raises(ValueError, match="GaussianNB: Number of priors must match number of classes. Received: 2 priors for 3 classes"):
        GaussianNB(priors=[0.5, 0.5]).fit(X, y)
    with pytest.raises(ValueError, match="GaussianNB: The sum of the priors should be 1. Received: sum=1.5"):
        GaussianNB(priors=[0.5, 0.5, 0.5]).fit(X, y)
    with pytest.raises(ValueError, match=r"GaussianNB: Priors must be non-negative. Received: priors=\[-0.5, 0.5, 1.0\]"):
        GaussianNB(priors=[-0.5, 0.5, 1.0]).fit(X, y)


def test_multinomial_nb_bad_parameters_and_negative_counts():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(InvalidParameterError, match="'alpha' parameter of MultinomialNB"):
        MultinomialNB(alpha=-1.0).fit(X, y)
    with pytest.raises(ValueError, match=r"Negative values in data passed to MultinomialNB \(input X\)"):
        MultinomialNB().fit(X - 10, y)
    with pytest.raises(ValueError, match=r"Negative values in data passed to MultinomialNB \(input X\)"):
        MultinomialNB().fit(X, y).predict(X - 10)
    with pytest.raises(ValueError, match="MultinomialNB: When alpha is an array, it should contain one value per feature. Received: 2 values for 4 features"):
        MultinomialNB(alpha=[1.0, 1.0]).fit(X, y)
    with pytest.raises(ValueError, match=r"MultinomialNB: All values in alpha must be ≥ 0. Received: alpha=\[1.0, -1.0, 1.0, 1.0\]"):
        MultinomialNB(alpha=[1.0, -1.0, 1.0, 1.0]).fit(X, y)
    with pytest.raises(ValueError, match="MultinomialNB: Number of priors must match number of classes. Received: 1 priors for 3 classes"):
        MultinomialNB(class_prior=[1.0]).fit(X, y)
