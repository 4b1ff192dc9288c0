"""course_lib.ml.semi_supervised against sklearn.semi_supervised, computed in the same test.

On iris with 70 % of the labels hidden, both models take the same number of
steps as scikit-learn's and their ``label_distributions_`` agree to 1e-6
(in practice to about 1e-13). The ``knn`` kernel is compared on iris with a
1e-3 jitter: iris holds duplicate flowers, and which of several equally near
samples becomes a neighbour is a tie that scikit-learn's tree search and our
stable sort break differently.
"""
import numpy as np
import pytest
from sklearn import semi_supervised as sklearn_semi_supervised
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics.pairwise import rbf_kernel as sklearn_rbf_kernel
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from course_lib.ml.semi_supervised import (
    LabelPropagation, LabelSpreading, knn_graph, propagation_matrix, rbf_kernel, spreading_matrix,
)

DISTRIBUTION_TOLERANCE = 1e-6

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
IRIS_X_WITHOUT_TIES = IRIS_X + np.random.RandomState(1).normal(scale=1e-3, size=IRIS_X.shape)


def _hide_labels(y, fraction=0.7, seed=0):
    hidden = y.copy()
    hidden[np.random.RandomState(seed).rand(len(y)) < fraction] = -1
    return hidden


IRIS_Y_PARTIAL = _hide_labels(IRIS_Y)

PAIRS = [(LabelPropagation, sklearn_semi_supervised.LabelPropagation),
         (LabelSpreading, sklearn_semi_supervised.LabelSpreading)]
SETTINGS = [
    ("rbf", {}, IRIS_X), ("rbf", {"gamma": 2.0}, IRIS_X),
    ("knn", {}, IRIS_X_WITHOUT_TIES), ("knn", {"n_neighbors": 12}, IRIS_X_WITHOUT_TIES),
]


@pytest.mark.parametrize("ours_class, sklearn_class", PAIRS, ids=["propagation", "spreading"])
@pytest.mark.parametrize("kernel, options, X", SETTINGS, ids=["rbf", "rbf-gamma2", "knn", "knn-12"])
def test_matches_sklearn_on_iris_with_70_percent_hidden(ours_class, sklearn_class, kernel, options, X):
    assert 0.65 < np.mean(IRIS_Y_PARTIAL == -1) < 0.75
    ours = ours_class(kernel=kernel, **options).fit(X, IRIS_Y_PARTIAL)
    theirs = sklearn_class(kernel=kernel, **options).fit(X, IRIS_Y_PARTIAL)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.label_distributions_, theirs.label_distributions_,
                               atol=DISTRIBUTION_TOLERANCE)
    np.testing.assert_array_equal(ours.transduction_, theirs.transduction_)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    new = X[::7] + 0.05
    np.testing.assert_allclose(ours.predict_proba(new), theirs.predict_proba(new), atol=DISTRIBUTION_TOLERANCE)
    np.testing.assert_array_equal(ours.predict(new), theirs.predict(new))


def test_transduction_recovers_most_hidden_iris_labels():
    model = LabelSpreading(kernel="knn", n_neighbors=10).fit(IRIS_X, IRIS_Y_PARTIAL)
    hidden = IRIS_Y_PARTIAL == -1
    assert np.mean(model.transduction_[hidden] == IRIS_Y[hidden]) > 0.9


def test_labels_need_not_be_0_to_k_minus_1():
    codes = np.array([10, 20, 30])[IRIS_Y]
    codes[IRIS_Y_PARTIAL == -1] = -1  # -1 still marks the unlabeled samples
    as_indices = LabelPropagation().fit(IRIS_X, IRIS_Y_PARTIAL)
    as_codes = LabelPropagation().fit(IRIS_X, codes)
    np.testing.assert_array_equal(as_codes.classes_, [10, 20, 30])
    np.testing.assert_array_equal(as_codes.transduction_, as_codes.classes_[as_indices.transduction_])


def test_label_propagation_clamps_the_known_labels():
    model = LabelPropagation(gamma=2.0).fit(IRIS_X, IRIS_Y_PARTIAL)
    known = IRIS_Y_PARTIAL != -1
    np.testing.assert_array_equal(model.label_distributions_[known].argmax(axis=1), IRIS_Y_PARTIAL[known])
    np.testing.assert_allclose(model.label_distributions_[known].max(axis=1), 1.0)


def test_label_spreading_reaches_its_closed_form_fixed_point():
    alpha = 0.5
    model = LabelSpreading(gamma=2.0, alpha=alpha, max_iter=1000, tol=1e-12).fit(IRIS_X, IRIS_Y_PARTIAL)
    S = spreading_matrix(rbf_kernel(IRIS_X, IRIS_X, 2.0))
    Y = (IRIS_Y_PARTIAL[:, None] == np.arange(3)).astype(float)
    F = (1 - alpha) * np.linalg.solve(np.eye(len(S)) - alpha * S, Y)
    np.testing.assert_allclose(model.label_distributions_, F / F.sum(axis=1, keepdims=True), atol=1e-9)


def test_graph_helpers():
    np.testing.assert_allclose(rbf_kernel(IRIS_X, IRIS_X[:5], 0.3), sklearn_rbf_kernel(IRIS_X, IRIS_X[:5], gamma=0.3),
                               rtol=1e-12)
    graph = knn_graph(IRIS_X_WITHOUT_TIES, 5)
    np.testing.assert_array_equal(graph.sum(axis=1), 5)
    np.testing.assert_array_equal(np.diag(graph), 1)  # every sample is one of its own neighbours
    np.testing.assert_allclose(propagation_matrix(graph).sum(axis=1), 1.0)
    assert np.all(np.diag(spreading_matrix(graph)) == 0)


def test_a_sample_far_from_everything_gets_equal_probabilities():
    model = LabelPropagation(gamma=20).fit(IRIS_X, IRIS_Y_PARTIAL)
    probabilities = model.predict_proba(np.full((1, 4), 100.0))
    np.testing.assert_allclose(probabilities, [[1 / 3, 1 / 3, 1 / 3]])


def test_warns_when_max_iter_is_reached():
    with pytest.warns(ConvergenceWarning, match="LabelPropagation: max_iter=2 was reached"):
        model = LabelPropagation(max_iter=2).fit(IRIS_X, IRIS_Y_PARTIAL)
    assert model.n_iter_ == 2


def test_bad_input():
    with pytest.raises(ValueError, match="LabelSpreading: Found input variables with inconsistent numbers"):
        LabelSpreading().fit(IRIS_X, IRIS_Y_PARTIAL[:-1])
    X = IRIS_X.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LabelPropagation().fit(X, IRIS_Y_PARTIAL)
    with pytest.raises(NotFittedError, match="This LabelPropagation instance is not fitted yet"):
        LabelPropagation().predict(IRIS_X)
    with pytest.raises(InvalidParameterError, match="'alpha' parameter of LabelSpreading.*Got 1.5"):
        LabelSpreading(alpha=1.5).fit(IRIS_X, IRIS_Y_PARTIAL)
    with pytest.raises(InvalidParameterError, match="'gamma' parameter of LabelPropagation.*Got 'wide'"):
        LabelPropagation(gamma="wide").fit(IRIS_X, IRIS_Y_PARTIAL)
    with pytest.raises(ValueError, match="LabelPropagation: n_neighbors=200 is larger than the number of samples"):
        LabelPropagation(kernel="knn", n_neighbors=200).fit(IRIS_X, IRIS_Y_PARTIAL)
    with pytest.raises(ValueError, match="LabelPropagation: Unknown label type"):
        LabelPropagation().fit(IRIS_X, IRIS_X[:, 0])


@parametrize_with_checks([LabelPropagation(), LabelSpreading(), LabelSpreading(kernel="knn", n_neighbors=3)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
