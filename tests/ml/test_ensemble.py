"""course_lib.ml.ensemble: random forests and gradient boosting against scikit-learn.

The forests draw their bootstrap samples as scikit-learn's do, so with every
feature examined at each node (``max_features=None`` or 1.0) and one best
split per node, each of their trees is scikit-learn's tree. Boosting's trees
are deterministic CART trees on the residuals: with ``subsample=1`` and one
best split per node, every stage equals scikit-learn's. Where random feature
draws make the two libraries' models differ, the tests compare accuracy
instead (within two points, same hyper-parameters, same split).
"""
import warnings

import numpy as np
import pytest
from sklearn import ensemble as sklearn_ensemble
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from course_lib.ml.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

ESTIMATORS = [
    RandomForestClassifier(n_estimators=5, random_state=0),
    RandomForestClassifier(n_estimators=4, criterion="entropy", bootstrap=False, max_features=2, random_state=0),
    RandomForestRegressor(n_estimators=5, random_state=0),
    GradientBoostingClassifier(n_estimators=5, random_state=0),
    GradientBoostingClassifier(n_estimators=5, subsample=0.7, max_depth=2, random_state=0),
    GradientBoostingRegressor(n_estimators=5, random_state=0),
    GradientBoostingRegressor(n_estimators=5, subsample=0.5, random_state=0),
]


def expected_failed_checks(estimator):
    failures = {}
    if getattr(estimator, "bootstrap", False):
        failures["check_sample_weight_equivalence_on_dense_data"] = (
            "a bootstrap draws n_samples rows: three repeated copies of a sample change n_samples and the "
            "draws, where a weight of 3 does not (scikit-learn's forests fail this check too)"
        )
    if getattr(estimator, "subsample", 1.0) < 1:
        failures["check_sample_weight_equivalence_on_dense_data"] = (
            "subsample draws a fraction of the rows: repeated copies are drawn one by one, a weighted "
            "sample once"
        )
    return failures


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def assert_unique_regression_splits(reference_tree, X, target, weight, min_samples_leaf):
    """Every split node of a fitted scikit-learn regression tree had one best split, by a relative 1e-6."""
    in_node = reference_tree.decision_path(X).toarray().astype(bool) & (weight > 0)[:, None]
    for node in np.flatnonzero(reference_tree.tree_.children_left != -1):
        rows = in_node[:, node]
        x, t, w = X[rows].astype(np.float32), target[rows], weight[rows]
        order = np.argsort(x, axis=0, kind="stable")
        x_sorted = np.take_along_axis(x, order, axis=0)
        stats = np.stack([w, w * t, w * t * t], axis=1)
        left = np.cumsum(stats[order], axis=0)[:-1]
        right = stats.sum(axis=0) - left
        scores = left[..., 2] - left[..., 1] ** 2 / left[..., 0] + right[..., 2] - right[..., 1] ** 2 / right[..., 0]
        n_left = np.arange(1, len(x))[:, None]
        allowed = (x_sorted[1:] > x_sorted[:-1] + np.float32(1e-7)) & (n_left >= min_samples_leaf)
        allowed &= len(x) - n_left >= min_samples_leaf
        best, runner_up = np.sort(scores[allowed])[:2]
        assert (runner_up - best) / best > 1e-6, f"node {node}: two splits nearly as good"


# ---------------------------------------------------------------------------
# Random forests
# ---------------------------------------------------------------------------


def test_forest_draws_scikit_learns_bootstrap_samples_and_grows_its_trees():
    X, y = load_diabetes(return_X_y=True)
    ours = RandomForestRegressor(n_estimators=10, min_samples_leaf=20, random_state=0).fit(X, y)
    theirs = sklearn_ensemble.RandomForestRegressor(n_estimators=10, min_samples_leaf=20, random_state=0).fit(X, y)
    for mine, reference in zip(ours.estimators_, theirs.estimators_):
        assert mine.random_state == reference.random_state
        counts = np.bincount(np.random.RandomState(mine.random_state).randint(0, len(X), len(X)), minlength=len(X))
        assert_unique_regression_splits(reference, X, y, counts, 20)
        np.testing.assert_array_equal(mine.tree_.feature, reference.tree_.feature)
        np.testing.assert_array_equal(mine.tree_.n_node_samples, reference.tree_.n_node_samples)
        np.testing.assert_allclose(mine.tree_.threshold, reference.tree_.threshold, rtol=0, atol=1e-12)
        np.testing.assert_allclose(mine.tree_.value, reference.tree_.value, rtol=1e-12)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-12)
    np.testing.assert_allclose(ours.feature_importances_, theirs.feature_importances_, rtol=1e-9)


def test_forest_accuracy_on_digits_within_two_points_of_scikit_learns():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    ours = RandomForestClassifier(n_estimators=100, oob_score=True, random_state=0).fit(X_train, y_train)
    theirs = sklearn_ensemble.RandomForestClassifier(n_estimators=100, oob_score=True, random_state=0)
    theirs.fit(X_train, y_train)
    assert abs(ours.score(X_test, y_test) - theirs.score(X_test, y_test)) <= 0.02
    assert abs(ours.oob_score_ - theirs.oob_score_) <= 0.02
    assert ours.oob_decision_function_.shape == (len(X_train), 10)
    np.testing.assert_allclose(ours.oob_decision_function_.sum(axis=1), 1.0)
    # The same out-of-bag samples: every tree's root holds the same number of distinct samples.
    assert [e.tree_.n_node_samples[0] for e in ours.estimators_] == [
        e.tree_.n_node_samples[0] for e in theirs.estimators_
    ]
    importances = ours.feature_importances_
    assert importances.sum() == pytest.approx(1.0)
    assert np.corrcoef(importances, theirs.feature_importances_)[0, 1] > 0.95


def test_forest_oob_score_is_the_accuracy_of_out_of_bag_votes():
    X, y = load_iris(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=25, oob_score=True, random_state=1).fit(X, y)
    votes, counts = np.zeros((len(X), 3)), np.zeros(len(X))
    for tree in forest.estimators_:
        unseen = np.bincount(np.random.RandomState(tree.random_state).randint(0, 150, 150), minlength=150) == 0
        votes[unseen] += tree.predict_proba(X[unseen])
        counts[unseen] += 1
    np.testing.assert_allclose(forest.oob_decision_function_, votes / counts[:, None])
    assert forest.oob_score_ == np.mean(np.argmax(votes, axis=1) == y)
    with pytest.warns(UserWarning, match="do not have OOB scores"):
        RandomForestClassifier(n_estimators=2, oob_score=True, random_state=0).fit(X, y)


def test_forest_regressor_matches_scikit_learns_r2():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    ours = RandomForestRegressor(n_estimators=50, max_features=0.5, oob_score=True, random_state=0)
    theirs = sklearn_ensemble.RandomForestRegressor(n_estimators=50, max_features=0.5, oob_score=True, random_state=0)
    ours.fit(X_train, y_train)
    theirs.fit(X_train, y_train)
    assert abs(ours.score(X_test, y_test) - theirs.score(X_test, y_test)) < 0.03
    assert abs(ours.oob_score_ - theirs.oob_score_) < 0.03
    assert ours.oob_prediction_.shape == (len(X_train),)


def test_forest_threads_and_batches_grow_the_same_trees():
    X, y = load_breast_cancer(return_X_y=True)
    one = RandomForestClassifier(n_estimators=12, random_state=5).fit(X, y)
    two = RandomForestClassifier(n_estimators=12, n_jobs=2, random_state=5).fit(X, y)
    for a, b in zip(one.estimators_, two.estimators_):
        np.testing.assert_array_equal(a.tree_.feature, b.tree_.feature)
        np.testing.assert_array_equal(a.tree_.threshold, b.tree_.threshold)
    np.testing.assert_array_equal(one.apply(X), two.apply(X))
    assert one.apply(X).shape == (len(X), 12)


def test_forest_without_bootstrap_and_with_sample_weight():
    X, y = load_iris(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=3, bootstrap=False, max_features=None, random_state=0).fit(X, y)
    assert all(e.tree_.n_node_samples[0] == 150 for e in forest.estimators_)
    weight = np.where(y == 2, 0.0, 1.0)
    weighted = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y, sample_weight=weight)
    assert set(weighted.predict(X)) <= {0, 1}, "a class of weight 0 is never drawn into a bootstrap sample"


# ---------------------------------------------------------------------------
# Gradient boosting
# ---------------------------------------------------------------------------


def test_boosted_regressor_equals_scikit_learns_stage_by_stage():
    X, y = load_diabetes(return_X_y=True)
    ours = GradientBoostingRegressor(n_estimators=100, random_state=0).fit(X, y)
    theirs = sklearn_ensemble.GradientBoostingRegressor(n_estimators=100, random_state=0).fit(X, y)
    assert ours.init_raw_prediction_[0] == pytest.approx(y.mean())
    previous = np.full(len(y), y.mean())
    for stage, raw in zip(range(5), theirs.staged_predict(X)):
        # The first trees are deterministic CART trees on the residuals.
        assert_unique_regression_splits(theirs.estimators_[stage, 0], X, y - previous, np.ones(len(y)), 1)
        mine, reference = ours.estimators_[stage, 0], theirs.estimators_[stage, 0]
        np.testing.assert_allclose(mine.predict(X), reference.predict(X), rtol=0, atol=1e-8)
        np.testing.assert_allclose(mine.feature_importances_, reference.feature_importances_, rtol=1e-9)
        previous = raw
    np.testing.assert_allclose(ours.train_score_, theirs.train_score_, rtol=1e-9)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)
    assert np.all(np.diff(ours.train_score_) < 0), "the training loss decreases at every stage"
    np.testing.assert_allclose(list(ours.staged_predict(X))[-1], ours.predict(X))
    # Later stages fit small residuals where two features can cut the samples alike: the
    # predictions agree, the credit may go to either feature.
    np.testing.assert_allclose(ours.feature_importances_, theirs.feature_importances_, atol=0.005)


def test_boosted_classifier_takes_scikit_learns_newton_steps():
    # Residuals of a 0/1 target take two values per stage, and on breast_cancer two features
    # often cut a node alike; "diabetes above its median" has one best split per node.
    X, y = load_diabetes(return_X_y=True)
    y = (y > np.median(y)).astype(int)
    ours = GradientBoostingClassifier(n_estimators=50, random_state=0).fit(X, y)
    theirs = sklearn_ensemble.GradientBoostingClassifier(n_estimators=50, random_state=0).fit(X, y)
    prior = y.mean()
    assert ours.init_raw_prediction_[0] == pytest.approx(np.log(prior / (1 - prior)))
    previous = np.full(len(y), np.log(prior / (1 - prior)))
    for stage, raw in zip(range(5), theirs.staged_decision_function(X)):
        reference = theirs.estimators_[stage, 0]
        assert_unique_regression_splits(reference, X, y - 1 / (1 + np.exp(-previous)), np.ones(len(y)), 1)
        mine = ours.estimators_[stage, 0]
        np.testing.assert_array_equal(mine.tree_.feature, reference.tree_.feature)
        leaves = reference.tree_.children_left == -1
        # Leaf values after the Newton step sum(y - p) / sum(p (1 - p)).
        np.testing.assert_allclose(mine.tree_.value[leaves], reference.tree_.value[leaves], rtol=0, atol=1e-8)
        previous = raw.ravel()
    np.testing.assert_allclose(ours.train_score_[:5], theirs.train_score_[:5], rtol=1e-10)
    assert np.all(np.diff(ours.train_score_) < 0), "the training loss decreases at every stage"
    np.testing.assert_allclose(ours.predict_proba(X).sum(axis=1), 1.0)
    np.testing.assert_array_equal(ours.predict(X), (ours.decision_function(X) >= 0).astype(int))
    np.testing.assert_allclose(list(ours.staged_predict_proba(X))[-1], ours.predict_proba(X))


def test_boosted_classifier_accuracy_on_breast_cancer_within_two_points():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    ours = GradientBoostingClassifier(random_state=0).fit(X_train, y_train)
    theirs = sklearn_ensemble.GradientBoostingClassifier(random_state=0).fit(X_train, y_train)
    assert abs(ours.score(X_test, y_test) - theirs.score(X_test, y_test)) <= 0.02
    assert np.all(np.diff(ours.train_score_) < 0)


def test_boosted_multiclass_takes_scikit_learns_scaled_newton_steps():
    """Three classes: a tree per class and stage, leaves stepped by (K - 1) / K times Newton's."""
    X, y = load_diabetes(return_X_y=True)
    y = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    parameters = dict(n_estimators=3, max_depth=2, random_state=0)
    ours = GradientBoostingClassifier(**parameters).fit(X, y)
    theirs = sklearn_ensemble.GradientBoostingClassifier(**parameters).fit(X, y)
    log_prior = np.log(np.bincount(y) / len(y))
    np.testing.assert_allclose(ours.init_raw_prediction_, log_prior - log_prior.mean(), rtol=1e-12)
    previous = np.tile(ours.init_raw_prediction_, (len(y), 1))
    for stage, raw in enumerate(theirs.staged_decision_function(X)):
        probability = np.exp(previous) / np.exp(previous).sum(axis=1, keepdims=True)
        for k in range(3):
            reference = theirs.estimators_[stage, k]
            assert_unique_regression_splits(reference, X, (y == k) - probability[:, k], np.ones(len(y)), 1)
            np.testing.assert_array_equal(ours.estimators_[stage, k].tree_.feature, reference.tree_.feature)
            np.testing.assert_allclose(ours.estimators_[stage, k].tree_.value, reference.tree_.value, atol=1e-8)
        previous = raw
    np.testing.assert_allclose(ours.train_score_, theirs.train_score_, rtol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-9)


@pytest.mark.slow
def test_boosted_multiclass_on_digits_within_two_points_of_scikit_learns():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    parameters = dict(n_estimators=25, learning_rate=0.2, random_state=0)
    ours = GradientBoostingClassifier(**parameters).fit(X_train, y_train)
    theirs = sklearn_ensemble.GradientBoostingClassifier(**parameters).fit(X_train, y_train)
    assert ours.estimators_.shape == (25, 10)
    assert np.all(np.diff(ours.train_score_) < 0)
    assert abs(ours.score(X_test, y_test) - theirs.score(X_test, y_test)) <= 0.02
    np.testing.assert_allclose(ours.init_raw_prediction_.sum(), 0.0, atol=1e-12)  # centred log-priors


def test_boosting_with_subsample_reports_out_of_bag_improvement():
    X, y = load_breast_cancer(return_X_y=True)
    model = GradientBoostingClassifier(n_estimators=40, subsample=0.5, random_state=0).fit(X, y)
    assert model.oob_improvement_.shape == (40,) and model.oob_scores_.shape == (40,)
    assert model.oob_score_ == model.oob_scores_[-1]
    assert np.all(model.oob_scores_[1:] - model.oob_scores_[:-1] == pytest.approx(-model.oob_improvement_[1:]))
    assert model.train_score_[-1] < model.train_score_[0] and model.score(X, y) > 0.95
    again = GradientBoostingClassifier(n_estimators=40, subsample=0.5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(model.train_score_, again.train_score_)
    # Each stage's tree sees about half the samples.
    assert all(abs(t.tree_.n_node_samples[0] - len(X) // 2) <= 1 for t in model.estimators_[:, 0])


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make", [RandomForestClassifier, RandomForestRegressor, GradientBoostingClassifier, GradientBoostingRegressor]
)
def test_bad_input_errors_name_the_estimator(make):
    name = make.__name__
    X, y = load_iris(return_X_y=True)
    with pytest.raises(NotFittedError, match=name):
        make().predict(X)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match=f"(?s)NaN.*{name}|{name}.*NaN"):
        make(n_estimators=2).fit(bad, y)
    with pytest.raises(ValueError, match=rf"{name}.*inconsistent numbers of samples: \[150, 10\]"):
        make(n_estimators=2).fit(X, y[:10])
    with pytest.raises(InvalidParameterError, match="n_estimators"):
        make(n_estimators=0).fit(X, y)


def test_classifier_specific_errors():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="GradientBoostingClassifier.*1 class.*minimum of 2"):
        GradientBoostingClassifier().fit(X, np.zeros(len(X)))
    forest = RandomForestClassifier(n_estimators=3).fit(X, np.zeros(len(X)))  # as scikit-learn: one leaf
    assert np.all(forest.predict(X) == 0)
    with pytest.raises(ValueError, match="RandomForestClassifier.*bootstrap=True.*oob_score=True"):
        RandomForestClassifier(oob_score=True, bootstrap=False).fit(X, y)
    with pytest.raises(ValueError, match="GradientBoostingRegressor.*could not convert string to float"):
        GradientBoostingRegressor().fit(np.array([["a", "b"]] * 4), np.arange(4.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RandomForestRegressor(n_estimators=3, random_state=0).fit(X, y.astype(float))
