"""k-nearest neighbours, LVQ1 and the self-organising map, against scikit-learn and by their properties."""
import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn import neighbors as sk_neighbors
from sklearn.datasets import load_diabetes, load_digits, load_iris, load_wine
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from course_lib.ml import neighbors
from course_lib.ml.neighbors import (
    KNeighborsClassifier,
    KNeighborsRegressor,
    LearningVectorQuantization,
    SelfOrganizingMap,
    k_smallest,
    minkowski_distances,
    squared_euclidean_distances,
)


@parametrize_with_checks(
    [
        KNeighborsClassifier(),
        KNeighborsClassifier(weights="distance", p=1),
        KNeighborsRegressor(),
        LearningVectorQuantization(random_state=0),
        SelfOrganizingMap(random_state=0),
    ]
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def _split(X, y):
    return train_test_split(X, y, test_size=0.3, random_state=0)


def _without_ties(X, seed=0):
    """The data plus a little continuous noise: no two distances are equal any more."""
    return X + np.random.default_rng(seed).normal(scale=1e-3 * X.std(), size=X.shape)


def _datasets():
    iris_X, iris_y = load_iris(return_X_y=True)
    digits_X, digits_y = load_digits(return_X_y=True)
    return {"iris": (iris_X, iris_y), "digits": (digits_X, digits_y)}


DATASETS = _datasets()


# ---------------------------------------------------------------------------
# Distances and the tie rule
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("p, scipy_metric", [(1, "cityblock"), (2, "euclidean"), (3, "minkowski")])
def test_minkowski_distances_match_scipy(rng, p, scipy_metric):
    A, B = rng.normal(size=(7, 5)), rng.normal(size=(9, 5))
    expected = cdist(A, B, scipy_metric, p=p) if scipy_metric == "minkowski" else cdist(A, B, scipy_metric)
    np.testing.assert_allclose(minkowski_distances(A, B, p), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(minkowski_distances(A, B, p, powered=True), expected**p, rtol=1e-12, atol=1e-12)


def test_squared_distance_of_a_row_to_itself_is_exactly_zero(rng):
    A = rng.normal(size=(6, 4)) * 1e3
    assert np.all(np.diag(squared_euclidean_distances(A, A)) >= 0.0)
    np.testing.assert_allclose(np.diag(squared_euclidean_distances(A, A)), 0.0, atol=1e-9)


def test_k_smallest_is_a_stable_sort_by_distance_then_index(rng):
    # Small integers: many exactly equal values, in every position.
    distances = rng.integers(0, 4, size=(200, 30)).astype(float)
    original = distances.copy()
    for k in (1, 3, 7, 16, 17, 25, 30):  # both ways: argmin passes up to 16, argpartition beyond
        values, indices = k_smallest(distances, k)
        np.testing.assert_array_equal(distances, original)
        expected = np.argsort(distances, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(indices, expected)
        np.testing.assert_array_equal(values, np.take_along_axis(distances, expected, axis=1))


def test_tie_rule_on_a_hand_made_case_agrees_with_scikit_learn():
    # From the query 0 the distances are 1, 1, 1, 1, 3, 0.5: with k = 3 the nearest is
    # sample 5, then of the four at distance 1 the first two in training order. scikit-learn
    # keeps the same three but does not promise their order among equal distances.
    X = np.array([[1.0], [-1.0], [1.0], [-1.0], [3.0], [0.5]])
    y = np.array([1, 0, 1, 0, 1, 0])
    ours = KNeighborsClassifier(n_neighbors=3).fit(X, y)
    theirs = sk_neighbors.KNeighborsClassifier(n_neighbors=3, algorithm="brute").fit(X, y)
    np.testing.assert_array_equal(ours.kneighbors([[0.0]], return_distance=False), [[5, 0, 1]])
    np.testing.assert_array_equal(np.sort(theirs.kneighbors([[0.0]], return_distance=False)), [[0, 1, 5]])
    np.testing.assert_array_equal(ours.predict_proba([[0.0]]), theirs.predict_proba([[0.0]]))
    # k = 2 gives one vote each to classes 0 and 1: the smaller label wins.
    two = KNeighborsClassifier(n_neighbors=2).fit(X[:2], y[:2])
    assert two.predict([[0.0]])[0] == 0
    assert sk_neighbors.KNeighborsClassifier(n_neighbors=2).fit(X[:2], y[:2]).predict([[0.0]])[0] == 0


def test_chunked_search_equals_one_chunk(monkeypatch):
    X, y = DATASETS["digits"]
    X_train, X_test, y_train, _ = _split(X, y)
    for p in (1, 2):
        model = KNeighborsClassifier(n_neighbors=4, p=p).fit(X_train, y_train)
        whole = model.kneighbors(X_test)
        monkeypatch.setattr(neighbors, "_CHUNK_ELEMENTS", 5000)  # a few rows per chunk
        chunked = model.kneighbors(X_test)
        monkeypatch.undo()
        np.testing.assert_array_equal(whole[1], chunked[1])
        np.testing.assert_array_equal(whole[0], chunked[0])


# ---------------------------------------------------------------------------
# Against scikit-learn's brute search
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", ["iris", pytest.param("digits", marks=pytest.mark.slow)])
@pytest.mark.parametrize("n_neighbors", [1, 5, 10])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("p", [1, 2])
def test_classifier_equals_scikit_learn_without_ties(dataset, n_neighbors, weights, p):
    X, y = DATASETS[dataset]
    X_train, X_test, y_train, _ = _split(_without_ties(X), y)
    params = dict(n_neighbors=n_neighbors, weights=weights, p=p)
    ours = KNeighborsClassifier(**params).fit(X_train, y_train)
    theirs = sk_neighbors.KNeighborsClassifier(algorithm="brute", **params).fit(X_train, y_train)
    our_distances, our_indices = ours.kneighbors(X_test)
    their_distances, their_indices = theirs.kneighbors(X_test)
    np.testing.assert_array_equal(our_indices, their_indices)
    np.testing.assert_allclose(our_distances, their_distances, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(ours.predict(X_test), theirs.predict(X_test))
    np.testing.assert_allclose(ours.predict_proba(X_test), theirs.predict_proba(X_test), rtol=1e-10, atol=1e-12)


def _boundary_tie(distances, k):
    """Queries whose k-th and (k+1)-th nearest distances are equal: the neighbour set is not
    decided by the distances alone."""
    ordered = np.sort(distances, axis=1)
    return ordered[:, k - 1] == ordered[:, k]


@pytest.mark.parametrize("dataset", ["iris", pytest.param("digits", marks=pytest.mark.slow)])
@pytest.mark.parametrize("n_neighbors", [3, 5])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("p", [1, 2])
def test_classifier_equals_scikit_learn_on_data_with_ties(dataset, n_neighbors, weights, p):
    """Raw iris (repeated rows) and digits (integer pixels) have many equal distances.

    Where equal distances sit inside the k nearest, the vote is the same whatever their order
    and the predictions must agree exactly. Where they straddle the k-th place, our rule keeps
    the lower training indices (test_k_smallest_...), while scikit-learn keeps whatever its
    heap holds when the scan ends, which depends on its chunking and threads: those queries
    are compared on their neighbour distances only, which are the same under any tie rule.
    """
    X, y = DATASETS[dataset]
    X_train, X_test, y_train, _ = _split(X, y)
    params = dict(n_neighbors=n_neighbors, weights=weights, p=p)
    ours = KNeighborsClassifier(**params).fit(X_train, y_train)
    theirs = sk_neighbors.KNeighborsClassifier(algorithm="brute", **params).fit(X_train, y_train)
    all_distances = minkowski_distances(X_test, X_train, p)
    decided = ~_boundary_tie(all_distances, n_neighbors)
    assert decided.mean() > 0.8  # most queries are decided by distances alone
    np.testing.assert_array_equal(ours.predict(X_test)[decided], theirs.predict(X_test)[decided])
    np.testing.assert_allclose(ours.predict_proba(X_test)[decided], theirs.predict_proba(X_test)[decided],
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.kneighbors(X_test)[0], theirs.kneighbors(X_test)[0], rtol=1e-10, atol=1e-10)
    # Our neighbours are exactly the stable sort of the distances (lower index first among equals).
    expected = np.argsort(all_distances, axis=1, kind="stable")[:, :n_neighbors]
    np.testing.assert_array_equal(np.sort(ours.kneighbors(X_test, return_distance=False), axis=1),
                                  np.sort(expected, axis=1))


def test_kneighbors_of_the_training_set_excludes_each_sample():
    X, y = DATASETS["iris"]
    X = _without_ties(X)
    ours = KNeighborsClassifier(n_neighbors=4).fit(X, y).kneighbors()
    theirs = sk_neighbors.KNeighborsClassifier(n_neighbors=4, algorithm="brute").fit(X, y).kneighbors()
    np.testing.assert_array_equal(ours[1], theirs[1])
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10, atol=1e-10)
    assert not np.any(ours[1] == np.arange(len(X))[:, None])


def test_distance_weights_on_a_training_point():
    """A query equal to a training sample takes that sample's label (weights 1 and 0)."""
    X, y = DATASETS["iris"]
    X = _without_ties(X)
    ours = KNeighborsClassifier(n_neighbors=7, weights="distance").fit(X, y)
    theirs = sk_neighbors.KNeighborsClassifier(n_neighbors=7, weights="distance", algorithm="brute").fit(X, y)
    np.testing.assert_array_equal(ours.predict(X), y)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-12)
    np.testing.assert_array_equal(ours.predict_proba(X).max(axis=1), 1.0)


@pytest.mark.parametrize("n_neighbors", [1, 5, 12])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("p", [1, 2])
def test_regressor_equals_scikit_learn_on_diabetes(n_neighbors, weights, p):
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, _ = _split(X, y)
    params = dict(n_neighbors=n_neighbors, weights=weights, p=p)
    ours = KNeighborsRegressor(**params).fit(X_train, y_train)
    theirs = sk_neighbors.KNeighborsRegressor(algorithm="brute", **params).fit(X_train, y_train)
    np.testing.assert_allclose(ours.predict(X_test), theirs.predict(X_test), rtol=1e-10)
    assert ours.score(X_test, theirs.predict(X_test)) == pytest.approx(1.0, abs=1e-12)


def test_regressor_with_two_outputs_equals_scikit_learn():
    X, y = load_diabetes(return_X_y=True)
    Y = np.column_stack([y, np.log(y)])
    ours = KNeighborsRegressor(n_neighbors=6, weights="distance").fit(X[:300], Y[:300])
    theirs = sk_neighbors.KNeighborsRegressor(n_neighbors=6, weights="distance", algorithm="brute").fit(X[:300], Y[:300])
    assert ours.predict(X[300:]).shape == (len(X) - 300, 2)
    np.testing.assert_allclose(ours.predict(X[300:]), theirs.predict(X[300:]), rtol=1e-10)


def test_metric_names_set_the_order_of_the_distance():
    X, y = DATASETS["iris"]
    X = _without_ties(X)
    for metric, p in (("manhattan", 1), ("euclidean", 2)):
        by_name = KNeighborsClassifier(metric=metric, p=3).fit(X, y)
        by_p = KNeighborsClassifier(p=p).fit(X, y)
        assert by_name.effective_p_ == p and by_name.effective_metric_ == metric
        np.testing.assert_array_equal(by_name.kneighbors(X[:20])[1], by_p.kneighbors(X[:20])[1])


def test_minkowski_of_order_three_equals_scikit_learn():
    X, y = DATASETS["iris"]
    X_train, X_test, y_train, _ = _split(_without_ties(X), y)
    ours = KNeighborsClassifier(p=3).fit(X_train, y_train)
    theirs = sk_neighbors.KNeighborsClassifier(p=3, algorithm="brute").fit(X_train, y_train)
    np.testing.assert_array_equal(ours.kneighbors(X_test)[1], theirs.kneighbors(X_test)[1])
    np.testing.assert_allclose(ours.kneighbors(X_test)[0], theirs.kneighbors(X_test)[0], rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("Estimator", [KNeighborsClassifier, KNeighborsRegressor])
def test_bad_input_is_refused_with_a_clear_message(Estimator):
    X, y = DATASETS["iris"]
    name = Estimator.__name__
    with pytest.raises(NotFittedError, match=name):
        Estimator().predict(X)
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match=f"Input X contains NaN.*\n{name}"):
        Estimator().fit(X_nan, y)
    with pytest.raises(ValueError, match="infinity"):
        Estimator().fit(X, y).predict(np.full((1, 4), np.inf))
    with pytest.raises(ValueError, match=f"{name}: Found input variables with inconsistent numbers of samples: \\[150, 149\\]"):
        Estimator().fit(X, y[:-1])
    with pytest.raises(ValueError, match=f"{name}: Expected n_neighbors <= n_samples_fit, but n_neighbors = 6, n_samples_fit = 5"):
        Estimator(n_neighbors=6).fit(X[:5], y[:5]).predict(X)
    with pytest.raises(InvalidParameterError, match=f"'n_neighbors' parameter of {name} must be an int in the range \\[1, inf\\). Got 0"):
        Estimator(n_neighbors=0).fit(X, y)
    with pytest.raises(InvalidParameterError, match=f"'n_neighbors' parameter of {name} .* Got '5' instead"):
        Estimator(n_neighbors="5").fit(X, y)
    with pytest.raises(InvalidParameterError, match="'p' parameter"):
        Estimator(p=0.5).fit(X, y)
    with pytest.raises(ValueError, match=f"{name}: could not convert string to float: 'abc'"):
        Estimator().fit([["abc", 1.0], [2.0, 3.0]], [0, 1])
    with pytest.raises(ValueError, match=f"X has 3 features, but {name} is expecting 4 features"):
        Estimator().fit(X, y).predict(X[:, :3])


def test_classifier_refuses_a_continuous_target():
    X, _ = DATASETS["iris"]
    with pytest.raises(ValueError, match="KNeighborsClassifier: Unknown label type: continuous"):
        KNeighborsClassifier().fit(X, np.linspace(0, 1, len(X)))


def test_training_set_query_needs_more_samples_than_neighbours():
    X, y = DATASETS["iris"]
    with pytest.raises(ValueError, match="Expected n_neighbors < n_samples_fit, but n_neighbors = 5, n_samples_fit = 5"):
        KNeighborsClassifier().fit(X[:5], y[:5]).kneighbors()


# ---------------------------------------------------------------------------
# LVQ1
# ---------------------------------------------------------------------------

def _scaled_iris_split():
    X, y = DATASETS["iris"]
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def test_lvq_prototypes_move_toward_their_class():
    X_train, _, y_train, _ = _scaled_iris_split()
    trained = LearningVectorQuantization(prototypes_per_class=2, random_state=3).fit(X_train, y_train)
    # Same seed, negligible steps: the prototypes stay where they started.
    start = LearningVectorQuantization(prototypes_per_class=2, learning_rate=1e-12, random_state=3).fit(X_train, y_train)
    means = {c: X_train[y_train == c].mean(axis=0) for c in np.unique(y_train)}
    before = [np.linalg.norm(w - means[c]) for w, c in zip(start.prototypes_, start.prototype_labels_)]
    after = [np.linalg.norm(w - means[c]) for w, c in zip(trained.prototypes_, trained.prototype_labels_)]
    assert np.mean(after) < 0.8 * np.mean(before)
    np.testing.assert_array_equal(trained.prototype_labels_, [0, 0, 1, 1, 2, 2])


def test_lvq_accuracy_on_iris_is_well_above_chance():
    X_train, X_test, y_train, y_test = _scaled_iris_split()
    for seed in range(3):
        model = LearningVectorQuantization(prototypes_per_class=3, random_state=seed).fit(X_train, y_train)
        assert model.score(X_test, y_test) > 0.9  # chance: 1/3


def test_lvq_training_error_falls():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    for seed in range(5):
        errors = LearningVectorQuantization(n_epochs=10, random_state=seed).fit(X, y).training_errors_
        assert len(errors) == 11  # at the start, then after each epoch
        assert errors[-1] < 0.5 * errors[0]
        assert errors[-1] < 0.05


def _lvq1_by_loops(X, y, prototypes_per_class, learning_rate, n_epochs, seed):
    """LVQ1 written out with scalar loops, drawing the same random numbers as the estimator."""
    rng = np.random.RandomState(seed)
    classes = sorted(set(y.tolist()))
    prototypes, labels = [], []
    for c in classes:
        members = [i for i in range(len(y)) if y[i] == c]
        for i in rng.choice(np.array(members), prototypes_per_class, replace=len(members) < prototypes_per_class):
            prototypes.append([float(v) for v in X[i]])
            labels.append(c)
    total, t = n_epochs * len(X), 0
    for _ in range(n_epochs):
        for i in rng.permutation(len(X)):
            best, best_distance = 0, float("inf")
            for w, prototype in enumerate(prototypes):
                distance = sum((X[i][f] - prototype[f]) ** 2 for f in range(len(prototype)))
                if distance < best_distance:
                    best, best_distance = w, distance
            sign = 1.0 if labels[best] == y[i] else -1.0
            rate = learning_rate * (1.0 - t / total)
            for f in range(len(prototypes[best])):
                prototypes[best][f] += sign * rate * (X[i][f] - prototypes[best][f])
            t += 1
    return np.array(prototypes)


def test_lvq_equals_a_direct_loop_implementation():
    X, y = DATASETS["iris"]
    X, y = StandardScaler().fit_transform(X)[::5], y[::5]  # 30 samples
    model = LearningVectorQuantization(prototypes_per_class=2, learning_rate=0.3, n_epochs=4, random_state=7).fit(X, y)
    np.testing.assert_allclose(model.prototypes_, _lvq1_by_loops(X, y, 2, 0.3, 4, 7), rtol=1e-12, atol=1e-12)


def test_lvq_predicts_the_label_of_the_nearest_prototype():
    X_train, X_test, y_train, _ = _scaled_iris_split()
    model = LearningVectorQuantization(random_state=0).fit(X_train, y_train)
    nearest = np.argmin(cdist(X_test, model.prototypes_), axis=1)
    np.testing.assert_array_equal(model.predict(X_test), model.prototype_labels_[nearest])


def test_lvq_bad_input():
    X, y = DATASETS["iris"]
    with pytest.raises(NotFittedError, match="LearningVectorQuantization"):
        LearningVectorQuantization().predict(X)
    with pytest.raises(InvalidParameterError, match="'learning_rate' parameter of LearningVectorQuantization"):
        LearningVectorQuantization(learning_rate=-0.1).fit(X, y)
    with pytest.raises(ValueError, match="LearningVectorQuantization: Found input variables with inconsistent"):
        LearningVectorQuantization().fit(X, y[:10])


# ---------------------------------------------------------------------------
# Self-organising map
# ---------------------------------------------------------------------------

def test_som_quantisation_error_falls_with_training():
    X = StandardScaler().fit_transform(DATASETS["iris"][0])
    errors = [SelfOrganizingMap(n_iter=n, random_state=0).fit(X).quantization_error_ for n in (10, 300, 3000)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.8 * errors[0]


def test_som_neighbouring_units_end_up_closer_than_distant_ones():
    X = StandardScaler().fit_transform(DATASETS["iris"][0])
    som = SelfOrganizingMap(grid=(6, 5), n_iter=3000, random_state=1).fit(X)
    grid_steps = np.abs(som.unit_coordinates_[:, None] - som.unit_coordinates_[None]).sum(axis=2)
    weight_distances = cdist(som.weights_, som.weights_)
    assert weight_distances[grid_steps == 1].mean() < 0.6 * weight_distances[grid_steps >= 4].mean()


def test_som_transform_gives_the_grid_position_of_the_best_matching_unit():
    X = StandardScaler().fit_transform(DATASETS["iris"][0])
    som = SelfOrganizingMap(grid=(4, 3), random_state=0).fit(X)
    coordinates = som.transform(X)
    assert coordinates.shape == (len(X), 2)
    best = np.argmin(cdist(X, som.weights_), axis=1)
    np.testing.assert_array_equal(coordinates, np.column_stack(np.divmod(best, 3)))
    assert som.quantization_error(X) == pytest.approx(np.min(cdist(X, som.weights_), axis=1).mean(), rel=1e-12)
    np.testing.assert_array_equal(som.get_feature_names_out(), ["selforganizingmap0", "selforganizingmap1"])


def test_som_bad_input():
    X = DATASETS["iris"][0]
    with pytest.raises(ValueError, match=r"grid must be two positive integers \(rows, columns\). Received: grid=\(3, 0\)"):
        SelfOrganizingMap(grid=(3, 0)).fit(X)
    with pytest.raises(InvalidParameterError, match="'sigma' parameter of SelfOrganizingMap"):
        SelfOrganizingMap(sigma=0).fit(X)
    with pytest.raises(NotFittedError, match="SelfOrganizingMap"):
        SelfOrganizingMap().transform(X)
