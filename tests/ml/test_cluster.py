"""course_lib.ml.cluster against scikit-learn and scipy, computed in the same test.

- KMeans: from the same initial centres, the same partition (here even the
  same labels) and inertia to 1e-8 relative as ``sklearn.cluster.KMeans(
  algorithm="lloyd")`` on iris and digits; with the same seed the same
  k-means++ and random starts; the best of ``n_init`` k-means++ starts within
  1 % of scikit-learn's; the empty-cluster rule and the tolerance rule.
- AgglomerativeClustering: the same partition as scikit-learn for every
  linkage, and the linkage matrix equal to ``scipy.cluster.hierarchy.linkage``
  to 1e-10, on data without distance ties (iris and wine with a 1e-3 jitter:
  the raw data hold duplicate samples, whose zero-distance merges may be made
  in any order). The Lance–Williams updates are checked against distances
  computed from the cluster members themselves.
- scikit-learn's estimator checks, and the errors bad input gets.
"""
import numpy as np
import pytest
from scipy.cluster import hierarchy
from sklearn import cluster as sklearn_cluster
from sklearn.datasets import load_digits, load_iris, load_wine
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from course_lib.ml.cluster import (
    AgglomerativeClustering, KMeans, agglomerative_tree, cut_tree, kmeans_assign, kmeans_update,
    lance_williams, linkage_matrix, pairwise_euclidean,
)

INERTIA_RTOL = 1e-8
HEIGHT_TOLERANCE = 1e-10
LINKAGES = ["ward", "complete", "average", "single"]

IRIS = load_iris().data
DIGITS = load_digits().data
WINE = load_wine().data


def _without_ties(X, seed=0):
    """X plus a 1e-3 jitter: no two pairwise distances are equal any more."""
    return X + np.random.default_rng(seed).normal(scale=1e-3, size=X.shape)


def _same_partition(labels_a, labels_b):
    return adjusted_rand_score(labels_a, labels_b) == 1.0


# --------------------------------------------------------------------------- the step functions
def test_kmeans_assign_equals_a_loop_over_samples():
    rng = np.random.default_rng(0)
    X, centers = rng.normal(size=(40, 3)), rng.normal(size=(5, 3))
    expected = [np.argmin([np.sum((x - c) ** 2) for c in centers]) for x in X]
    np.testing.assert_array_equal(kmeans_assign(X, centers), expected)


def test_kmeans_update_equals_the_mean_of_each_cluster():
    rng = np.random.default_rng(1)
    X, labels = rng.normal(size=(50, 4)), rng.integers(0, 6, size=50)
    labels[labels == 5] = 0  # cluster 5 is left empty
    centers = kmeans_update(X, labels, 6)
    for j in range(5):
        np.testing.assert_allclose(centers[j], X[labels == j].mean(axis=0), rtol=1e-12)
    largest = np.argmax(np.bincount(labels, minlength=6))
    np.testing.assert_array_equal(centers[5], centers[largest])


# --------------------------------------------------------------------------- KMeans vs scikit-learn
@pytest.mark.parametrize("name, X, k", [("iris", IRIS, 3), ("iris", IRIS, 8), ("digits", DIGITS, 10)])
def test_kmeans_from_the_same_centres_matches_sklearn_lloyd(name, X, k):
    init = X[np.random.RandomState(k).choice(len(X), k, replace=False)]
    ours = KMeans(k, init=init, n_init=1).fit(X)
    theirs = sklearn_cluster.KMeans(k, init=init, n_init=1, algorithm="lloyd").fit(X)
    assert _same_partition(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.inertia_, theirs.inertia_, rtol=INERTIA_RTOL)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, atol=1e-10)


@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("seed", [0, 1])
def test_kmeans_with_the_same_seed_makes_the_same_starts_as_sklearn(init, seed):
    ours = KMeans(10, init=init, n_init=3, random_state=seed).fit(DIGITS)
    theirs = sklearn_cluster.KMeans(10, init=init, n_init=3, random_state=seed, algorithm="lloyd").fit(DIGITS)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.inertia_, theirs.inertia_, rtol=INERTIA_RTOL)


@pytest.mark.parametrize("name, X, k", [("iris", IRIS, 3), ("wine", WINE, 3), ("digits", DIGITS, 10)])
def test_kmeans_plusplus_is_within_a_percent_of_sklearn_best(name, X, k):
    # Different seeds: the two libraries' best of 10 starts should still be as good as each other.
    ours = KMeans(k, n_init=10, random_state=123).fit(X)
    theirs = sklearn_cluster.KMeans(k, n_init=10, random_state=7, algorithm="lloyd").fit(X)
    assert ours.inertia_ <= 1.01 * theirs.inertia_


def test_kmeans_hands_an_empty_cluster_the_farthest_sample_as_sklearn():
    X = IRIS
    # Two starting centres far from every sample: they attract nothing in the first step.
    init = np.vstack([X[[0, 60, 120]], [[50.0, 50.0, 50.0, 50.0], [-50.0, 50.0, -50.0, 50.0]]])
    ours = KMeans(5, init=init, n_init=1).fit(X)
    theirs = sklearn_cluster.KMeans(5, init=init, n_init=1, algorithm="lloyd").fit(X)
    assert np.unique(ours.labels_).size == 5
    assert _same_partition(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.inertia_, theirs.inertia_, rtol=INERTIA_RTOL)
    assert ours.n_iter_ == theirs.n_iter_


@pytest.mark.parametrize("tol, max_iter", [(0.5, 300), (1e-4, 2), (0.0, 300)])
def test_kmeans_stops_by_sklearn_rules(tol, max_iter):
    """A tol relative to the mean variance, and the extra assignment when it stops early."""
    init = DIGITS[:10]
    ours = KMeans(10, init=init, n_init=1, tol=tol, max_iter=max_iter).fit(DIGITS)
    theirs = sklearn_cluster.KMeans(10, init=init, n_init=1, tol=tol, max_iter=max_iter,
                                    algorithm="lloyd").fit(DIGITS)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.inertia_, theirs.inertia_, rtol=INERTIA_RTOL)


def test_kmeans_n_init_auto_follows_sklearn():
    # "random" runs 10 starts under "auto": the same seed then gives sklearn's best of 10.
    ours = KMeans(4, init="random", random_state=3).fit(WINE)
    theirs = sklearn_cluster.KMeans(4, init="random", random_state=3, algorithm="lloyd").fit(WINE)
    np.testing.assert_allclose(ours.inertia_, theirs.inertia_, rtol=INERTIA_RTOL)


def test_kmeans_predict_transform_score():
    model = KMeans(3, n_init=4, random_state=0).fit(IRIS)
    np.testing.assert_array_equal(model.predict(IRIS), model.labels_)
    np.testing.assert_allclose(model.transform(IRIS), euclidean_distances(IRIS, model.cluster_centers_),
                               atol=1e-7)
    np.testing.assert_allclose(model.score(IRIS), -model.inertia_, rtol=1e-10)
    np.testing.assert_array_equal(model.fit_predict(IRIS), model.labels_)
    assert list(model.get_feature_names_out()) == ["kmeans0", "kmeans1", "kmeans2"]


def test_kmeans_keeps_float32_data_float32():
    model = KMeans(3, n_init=2, random_state=0).fit(IRIS.astype(np.float32))
    assert model.cluster_centers_.dtype == np.float32
    assert model.transform(IRIS.astype(np.float32)).dtype == np.float32


# --------------------------------------------------------------------------- KMeans: bad input
def test_kmeans_refuses_nan_and_inf():
    X = IRIS.copy()
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN.*KMeans|KMeans.*NaN"):
        KMeans(3).fit(X)
    X[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        KMeans(3).fit(X)


def test_kmeans_refuses_more_clusters_than_samples():
    with pytest.raises(ValueError, match=r"KMeans: n_clusters=8 is larger than the number of samples n_samples=5"):
        KMeans(8).fit(IRIS[:5])


def test_kmeans_refuses_a_string_where_a_number_is_expected():
    with pytest.raises(InvalidParameterError, match="'n_clusters' parameter of KMeans must be an int.*Got '3'"):
        KMeans(n_clusters="3").fit(IRIS)
    with pytest.raises(ValueError, match="KMeans: could not convert string to float"):
        KMeans(2).fit([["a", "b"], ["c", "d"], ["e", "f"]])


def test_kmeans_predict_before_fit_names_the_estimator():
    with pytest.raises(NotFittedError, match="This KMeans instance is not fitted yet"):
        KMeans(3).predict(IRIS)


def test_kmeans_checks_the_initial_centres():
    with pytest.raises(ValueError, match=r"KMeans: init must have shape .*\(3, 4\).*\(2, 4\)"):
        KMeans(3, init=IRIS[:2]).fit(IRIS)
    with pytest.warns(RuntimeWarning, match="one start is run instead of n_init=5"):
        KMeans(3, init=IRIS[:3], n_init=5).fit(IRIS)


def test_kmeans_predict_checks_the_number_of_features():
    model = KMeans(3, random_state=0).fit(IRIS)
    with pytest.raises(ValueError, match="X has 3 features, but KMeans is expecting 4 features"):
        model.predict(IRIS[:, :3])


# --------------------------------------------------------------------------- agglomerative
def test_pairwise_euclidean_is_exact_on_duplicates():
    distances = pairwise_euclidean(IRIS)
    np.testing.assert_allclose(distances, euclidean_distances(IRIS), atol=1e-6)
    # iris rows 101 and 142 are the same flower measurements: distance exactly 0.
    assert distances[101, 142] == 0.0


@pytest.mark.parametrize("linkage", LINKAGES)
def test_lance_williams_equals_distances_recomputed_from_the_members(linkage):
    rng = np.random.default_rng(2)
    clusters = [rng.normal(size=(size, 3)) for size in (3, 2, 4, 1, 5)]

    def direct(a, b):
        pair = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))
        if linkage == "single":
            return pair.min()
        if linkage == "complete":
            return pair.max()
        if linkage == "average":
            return pair.mean()
        # Ward's distance: sqrt(2 n_a n_b / (n_a + n_b)) ||mean_a - mean_b||, as scipy defines it.
        return np.sqrt(2 * len(a) * len(b) / (len(a) + len(b))) * np.linalg.norm(a.mean(0) - b.mean(0))

    i, j, others = clusters[0], clusters[1], clusters[2:]
    updated = lance_williams(
        linkage, np.array([direct(k, i) for k in others]), np.array([direct(k, j) for k in others]),
        direct(i, j), len(i), len(j), np.array([len(k) for k in others], dtype=float),
    )
    expected = [direct(k, np.vstack([i, j])) for k in others]
    np.testing.assert_allclose(updated, expected, rtol=1e-12)


@pytest.mark.parametrize("linkage", LINKAGES)
@pytest.mark.parametrize("n_clusters", [2, 3, 6])
def test_agglomerative_partition_matches_sklearn_on_iris(linkage, n_clusters):
    ours = AgglomerativeClustering(n_clusters, linkage=linkage).fit(IRIS)
    theirs = sklearn_cluster.AgglomerativeClustering(n_clusters, linkage=linkage).fit(IRIS)
    assert _same_partition(ours.labels_, theirs.labels_)
    assert ours.n_clusters_ == n_clusters and ours.n_leaves_ == len(IRIS)


@pytest.mark.parametrize("name, X", [("iris", _without_ties(IRIS)), ("wine", _without_ties(WINE))])
@pytest.mark.parametrize("linkage", LINKAGES)
def test_agglomerative_tree_matches_scipy_linkage(name, X, linkage):
    ours = AgglomerativeClustering(4, linkage=linkage, compute_distances=True).fit(X)
    reference = hierarchy.linkage(X, method=linkage)
    ours_matrix = linkage_matrix(ours)
    assert ours_matrix.shape == (len(X) - 1, 4)
    np.testing.assert_allclose(ours_matrix[:, 2], reference[:, 2], rtol=HEIGHT_TOLERANCE, atol=HEIGHT_TOLERANCE)
    np.testing.assert_array_equal(ours_matrix[:, [0, 1, 3]], reference[:, [0, 1, 3]])
    theirs = sklearn_cluster.AgglomerativeClustering(4, linkage=linkage).fit(X)
    assert _same_partition(ours.labels_, theirs.labels_)
    # The matrix is one scipy can draw, with the same leaf order as its own tree.
    drawn = hierarchy.dendrogram(ours_matrix, no_plot=True)
    assert drawn["leaves"] == hierarchy.dendrogram(reference, no_plot=True)["leaves"]


@pytest.mark.parametrize("linkage", ["ward", "average"])
def test_agglomerative_distance_threshold_matches_sklearn(linkage):
    X = _without_ties(IRIS)
    threshold = 3.0 if linkage == "ward" else 1.0
    ours = AgglomerativeClustering(None, linkage=linkage, distance_threshold=threshold).fit(X)
    theirs = sklearn_cluster.AgglomerativeClustering(None, linkage=linkage, distance_threshold=threshold).fit(X)
    assert ours.n_clusters_ == theirs.n_clusters_ > 1
    assert _same_partition(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.distances_, theirs.distances_, rtol=HEIGHT_TOLERANCE)


def test_agglomerative_precomputed_distances_give_the_same_tree():
    X = _without_ties(WINE)
    direct = AgglomerativeClustering(3, linkage="average").fit(X)
    precomputed = AgglomerativeClustering(3, linkage="average", metric="precomputed").fit(euclidean_distances(X))
    np.testing.assert_array_equal(direct.children_, precomputed.children_)


def test_cut_tree_equals_scipy_fcluster():
    X = _without_ties(IRIS)
    children, _ = agglomerative_tree(pairwise_euclidean(X), "complete")
    reference = hierarchy.linkage(X, method="complete")
    for k in (1, 2, 5, 17, len(X)):
        assert _same_partition(cut_tree(children, k), hierarchy.fcluster(reference, k, criterion="maxclust"))


def test_distances_are_kept_only_when_asked_for():
    model = AgglomerativeClustering(3).fit(IRIS)
    assert not hasattr(model, "distances_")
    with pytest.raises(ValueError, match="compute_distances=True"):
        linkage_matrix(model)


def test_agglomerative_bad_input():
    with pytest.raises(ValueError, match="exactly one of n_clusters and distance_threshold.*n_clusters=2"):
        AgglomerativeClustering(2, distance_threshold=1.0).fit(IRIS)
    with pytest.raises(ValueError, match="Ward's linkage needs Euclidean distances"):
        AgglomerativeClustering(2, metric="precomputed").fit(euclidean_distances(IRIS))
    with pytest.raises(ValueError, match="square distance matrix.*\\(150, 4\\)"):
        AgglomerativeClustering(2, linkage="single", metric="precomputed").fit(IRIS)
    with pytest.raises(ValueError, match="n_clusters=200 is larger than the number of samples n_samples=150"):
        AgglomerativeClustering(200).fit(IRIS)
    with pytest.raises(ValueError, match="minimum of 2 is required by AgglomerativeClustering"):
        AgglomerativeClustering(1).fit(IRIS[:1])
    with pytest.raises(InvalidParameterError, match="'linkage' parameter of AgglomerativeClustering"):
        AgglomerativeClustering(linkage="centroid").fit(IRIS)
    with pytest.raises(ValueError, match="NaN"):
        AgglomerativeClustering(2).fit(np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]))


# --------------------------------------------------------------------------- scikit-learn's checks
@parametrize_with_checks([KMeans(n_clusters=3, n_init=2, random_state=0), AgglomerativeClustering()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
