"""SVC (SMO) against scikit-learn's libsvm, and the RBF networks by their properties and their ridge step."""
import numpy as np
import pytest
from sklearn import svm as sk_svm
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, make_circles
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from course_lib.ml.svm import SVC, RBFNetworkClassifier, RBFNetworkRegressor, kernel_matrix, lloyd_kmeans, smo

EXPECTED_FAILED_CHECKS = {
    "RBFNetworkRegressor": {
        "check_regressors_train": (
            "asks for R² > 0.5 on a linear function of 10 features from 200 samples; ten Gaussian "
            "bumps cannot follow a trend that is linear over the whole space (R² ≈ 0.2, 0.37 with 50)"
        ),
    },
}


@parametrize_with_checks(
    [SVC(), SVC(kernel="linear"), RBFNetworkClassifier(random_state=0), RBFNetworkRegressor(random_state=0)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {}),
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def _dataset(name):
    if name == "iris":
        X, y = load_iris(return_X_y=True)
    elif name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
        X = StandardScaler().fit_transform(X)
    else:  # a digits subset: 600 images, pixels scaled to [0, 1]
        X, y = load_digits(return_X_y=True)
        X, y = X[:600] / 16.0, y[:600]
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


# ---------------------------------------------------------------------------
# SVC against scikit-learn
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", ["iris", "breast_cancer", pytest.param("digits", marks=pytest.mark.slow)])
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_accuracy_within_two_points_of_scikit_learn(dataset, kernel):
    X_train, X_test, y_train, y_test = _dataset(dataset)
    ours = SVC(kernel=kernel).fit(X_train, y_train)
    theirs = sk_svm.SVC(kernel=kernel).fit(X_train, y_train)
    assert abs(ours.score(X_test, y_test) - theirs.score(X_test, y_test)) <= 0.02
    # On these sets the two solvers also find the same support vectors.
    np.testing.assert_array_equal(ours.support_, theirs.support_)
    np.testing.assert_array_equal(ours.n_support_, theirs.n_support_)
    assert ours.dual_coef_.shape == theirs.dual_coef_.shape
    assert ours.intercept_.shape == theirs.intercept_.shape
    assert ours.decision_function(X_test).shape == theirs.decision_function(X_test).shape


def test_separable_two_dimensional_set_gives_scikit_learn_s_support_vectors_and_decision():
    # Petal length and width of setosa against versicolor: linearly separable.
    X, y = load_iris(return_X_y=True)
    keep = y < 2
    X, y = X[keep][:, 2:], y[keep]
    for C in (1.0, 100.0):
        ours = SVC(kernel="linear", C=C).fit(X, y)
        theirs = sk_svm.SVC(kernel="linear", C=C).fit(X, y)
        np.testing.assert_array_equal(ours.support_, theirs.support_)
        np.testing.assert_allclose(ours.support_vectors_, theirs.support_vectors_)
        np.testing.assert_allclose(ours.dual_coef_, theirs.dual_coef_, rtol=1e-5)
        np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-5)
        np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-5)
        np.testing.assert_allclose(ours.decision_function(X), theirs.decision_function(X), atol=1e-5)
        # Free support vectors (0 < α < C) sit on the margin, f(x) = ±1; those at α = C inside it.
        free = np.abs(ours.dual_coef_[0]) < C
        margins = np.abs(ours.decision_function(ours.support_vectors_))
        np.testing.assert_allclose(margins[free], 1.0, atol=1e-3)
        assert np.all(margins[~free] < 1.0)
    assert free.all()  # with C = 100 the margin is hard


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("shape", ["ovr", "ovo"])
def test_multiclass_layout_equals_scikit_learn_on_iris(kernel, shape):
    X, y = load_iris(return_X_y=True)
    ours = SVC(kernel=kernel, decision_function_shape=shape, tol=1e-6).fit(X, y)
    theirs = sk_svm.SVC(kernel=kernel, decision_function_shape=shape, tol=1e-6).fit(X, y)
    np.testing.assert_array_equal(ours.support_, theirs.support_)
    np.testing.assert_allclose(ours.dual_coef_, theirs.dual_coef_, atol=1e-3)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-3)
    np.testing.assert_allclose(ours.decision_function(X), theirs.decision_function(X), atol=1e-3)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    if kernel == "linear":
        np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-3)


def test_string_labels_and_the_sign_of_the_binary_decision():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    labels = np.array(["malignant", "benign"])[y]
    ours = SVC(tol=1e-6).fit(X, labels)
    theirs = sk_svm.SVC(tol=1e-6).fit(X, labels)
    np.testing.assert_array_equal(ours.classes_, ["benign", "malignant"])
    decision = ours.decision_function(X)
    np.testing.assert_array_equal(ours.predict(X), np.where(decision >= 0, "malignant", "benign"))
    np.testing.assert_allclose(decision, theirs.decision_function(X), atol=1e-4)
    np.testing.assert_allclose(ours.dual_coef_, theirs.dual_coef_, atol=1e-4)


@pytest.mark.parametrize("gamma", ["scale", "auto", 0.05])
def test_gamma_equals_scikit_learn(gamma):
    X, y = load_iris(return_X_y=True)
    ours = SVC(gamma=gamma).fit(X, y)
    theirs = sk_svm.SVC(gamma=gamma).fit(X, y)
    assert ours.gamma_ == pytest.approx(theirs._gamma, rel=1e-12)
    np.testing.assert_allclose(ours.decision_function(X), theirs.decision_function(X), atol=1e-3)


# ---------------------------------------------------------------------------
# SMO itself
# ---------------------------------------------------------------------------

def _dual_objective(alpha, y, K):
    return alpha.sum() - 0.5 * (alpha * y) @ K @ (alpha * y)


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_smo_meets_the_kkt_conditions_and_scikit_learn_s_objective(kernel):
    X_train, _, y_train, _ = _dataset("breast_cancer")
    y = np.where(y_train == 1, 1.0, -1.0)
    C, tol = 1.0, 1e-3
    gamma = 1.0 / (X_train.shape[1] * X_train.var())
    K = kernel_matrix(X_train, X_train, kernel, gamma)
    alpha, bias, n_iter, converged = smo(K, y, C, tol)
    assert converged and n_iter > 0
    assert np.all((alpha >= 0) & (alpha <= C))
    assert abs(alpha @ y) < 1e-10
    margins = y * (K @ (alpha * y) + bias)
    slack = tol  # the stopping rule allows violations up to tol
    assert np.all(margins[alpha == 0] >= 1 - slack)
    assert np.all(margins[alpha == C] <= 1 + slack)
    free = (alpha > 0) & (alpha < C)
    np.testing.assert_allclose(margins[free], 1.0, atol=slack)
    # scikit-learn's solution of the same problem has the same dual objective, up to the tolerance.
    theirs = sk_svm.SVC(kernel=kernel, C=C, gamma=gamma, tol=tol).fit(X_train, y)
    their_alpha = np.zeros(len(y))
    their_alpha[theirs.support_] = np.abs(theirs.dual_coef_[0])
    ours, best = _dual_objective(alpha, y, K), _dual_objective(their_alpha, y, K)
    assert abs(ours - best) <= 1e-3 * abs(best)


def test_smo_solution_is_optimal_with_the_errors_recomputed_from_scratch():
    """SMO stops when its cached errors say the KKT conditions hold; with the errors recomputed
    from scratch, E = f − y, the solution must be optimal too (a wrong cache update fails this)."""
    X, y = load_iris(return_X_y=True)
    keep = y > 0
    X, y = X[keep], np.where(y[keep] == 1, 1.0, -1.0)
    K = kernel_matrix(X, X, "rbf", 0.5)
    alpha, bias, _, converged = smo(K, y, 10.0, 1e-4)
    assert converged
    errors = K @ (alpha * y) - y
    # Optimality from scratch: the largest violation is below the tolerance.
    up = np.where(y > 0, alpha < 10.0, alpha > 0)
    low = np.where(y > 0, alpha > 0, alpha < 10.0)
    assert errors[low].max() - errors[up].min() < 1e-4


def test_max_iter_stops_early_with_a_warning():
    X_train, _, y_train, _ = _dataset("breast_cancer")
    with pytest.warns(ConvergenceWarning, match=r"SVC: Solver terminated early \(max_iter=5\)"):
        model = SVC(max_iter=5).fit(X_train, y_train)
    assert np.all(model.n_iter_ == 5)


# ---------------------------------------------------------------------------
# SVC bad input
# ---------------------------------------------------------------------------

def test_svc_bad_input_is_refused_with_a_clear_message():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(NotFittedError, match="SVC"):
        SVC().predict(X)
    with pytest.raises(ValueError, match=r"SVC: The number of classes has to be greater than one; got 1 class \(0\)"):
        SVC().fit(X[:50], y[:50])
    with pytest.raises(InvalidParameterError, match=r"'C' parameter of SVC must be a float in the range \(0.0, inf\). Got -1.0 instead"):
        SVC(C=-1.0).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'C' parameter of SVC .* Got 'big' instead"):
        SVC(C="big").fit(X, y)
    with pytest.raises(InvalidParameterError, match="'kernel' parameter of SVC"):
        SVC(kernel="poly").fit(X, y)
    with pytest.raises(InvalidParameterError, match="'gamma' parameter of SVC"):
        SVC(gamma="wide").fit(X, y)
    X_inf = X.copy()
    X_inf[2, 2] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity.*\nSVC|Input X contains infinity"):
        SVC().fit(X_inf, y)
    with pytest.raises(ValueError, match="SVC: Found input variables with inconsistent numbers of samples: \\[150, 3\\]"):
        SVC().fit(X, y[:3])
    with pytest.raises(AttributeError, match="coef_ is only available when using a linear kernel"):
        SVC().fit(X, y).coef_


# ---------------------------------------------------------------------------
# RBF networks
# ---------------------------------------------------------------------------

def test_lloyd_kmeans_equals_scikit_learn_from_the_same_start():
    X = StandardScaler().fit_transform(load_iris().data)
    centres, n_iter = lloyd_kmeans(X, 5, np.random.RandomState(0))
    start = X[np.random.RandomState(0).choice(len(X), 5, replace=False)]
    theirs = KMeans(n_clusters=5, init=start, n_init=1, algorithm="lloyd", tol=0).fit(X)
    np.testing.assert_allclose(centres, theirs.cluster_centers_, rtol=1e-8, atol=1e-12)
    assert 0 < n_iter <= 100


def test_rbf_network_output_weights_equal_scikit_learn_ridge():
    X, y = load_iris(return_X_y=True)
    model = RBFNetworkClassifier(n_centers=12, alpha=0.1, random_state=0).fit(X, y)
    features = np.exp(-model.gamma_ * ((X[:, None, :] - model.centers_[None]) ** 2).sum(axis=2))
    ridge = Ridge(alpha=0.1).fit(features, np.eye(3)[y])
    np.testing.assert_allclose(model.coef_, ridge.coef_.T, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.intercept_, ridge.intercept_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.decision_function(X), ridge.predict(features), rtol=1e-8, atol=1e-10)


def test_rbf_network_default_width_follows_the_spread_of_the_centres():
    X, y = load_iris(return_X_y=True)
    model = RBFNetworkClassifier(n_centers=8, random_state=1).fit(X, y)
    largest = max(np.sum((a - b) ** 2) for a in model.centers_ for b in model.centers_)
    assert model.gamma_ == pytest.approx(8 / largest, rel=1e-12)


def test_rbf_network_classifier_solves_a_nonlinear_two_dimensional_problem():
    X, y = make_circles(n_samples=400, noise=0.05, factor=0.5, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=0)
    network = RBFNetworkClassifier(n_centers=20, random_state=0).fit(X_train, y_train)
    assert network.score(X_test, y_test) > 0.95
    # A linear classifier cannot: the classes are two rings around the same centre.
    assert LinearDiscriminantAnalysis().fit(X_train, y_train).score(X_test, y_test) < 0.7


def test_rbf_network_regressor_fits_a_nonlinear_surface():
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(600, 2))
    y = np.sin(X[:, 0]) * np.cos(X[:, 1])
    network = RBFNetworkRegressor(n_centers=40, alpha=1e-6, random_state=0).fit(X[:400], y[:400])
    assert network.score(X[400:], y[400:]) > 0.95
    two_outputs = RBFNetworkRegressor(n_centers=40, alpha=1e-6, random_state=0).fit(X[:400], np.column_stack([y, -y])[:400])
    np.testing.assert_allclose(two_outputs.predict(X[400:]), np.column_stack([network.predict(X[400:]), -network.predict(X[400:])]),
                               rtol=1e-8, atol=1e-10)


def test_rbf_network_on_iris():
    X_train, X_test, y_train, y_test = _dataset("iris")
    for seed in range(3):
        network = RBFNetworkClassifier(n_centers=15, random_state=seed).fit(X_train, y_train)
        assert network.score(X_test, y_test) > 0.9


def test_rbf_network_bad_input():
    X, y = load_iris(return_X_y=True)
    for Estimator in (RBFNetworkClassifier, RBFNetworkRegressor):
        name = Estimator.__name__
        with pytest.raises(NotFittedError, match=name):
            Estimator().predict(X)
        with pytest.raises(ValueError, match=f"{name}: n_centers cannot be larger than the number of samples. Received: n_centers=10, n_samples=5"):
            Estimator().fit(X[:5], y[:5])
        with pytest.raises(InvalidParameterError, match=f"'alpha' parameter of {name}"):
            Estimator(alpha=-1.0).fit(X, y)
        with pytest.raises(ValueError, match=f"{name}: Found input variables with inconsistent numbers of samples"):
            Estimator().fit(X, y[:-2])
