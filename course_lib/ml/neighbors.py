"""Learning from stored examples and prototypes: k-nearest neighbours, LVQ1, the self-organising map.

* :class:`KNeighborsClassifier` and :class:`KNeighborsRegressor` keep the
  training set and answer from the ``k`` training samples nearest to each
  query. Distances are matrix products, ``‖a‖² + ‖b‖² − 2 a·b``, computed a
  chunk of queries at a time so that memory stays bounded.
* :class:`LearningVectorQuantization` (LVQ1) keeps a few labelled prototypes
  instead of the whole training set and moves them, one sample at a time,
  toward the samples of their own class and away from the others.
* :class:`SelfOrganizingMap` (Kohonen) spreads a grid of units over the data
  so that neighbouring units on the grid end up with similar weights.

Tie rule of the k-nearest neighbours: the neighbours are the ``k`` smallest
distances, and among equal distances the training sample that comes first in
the training set wins, so that the result does not depend on how the search
is carried out. They are returned by increasing distance, equal distances by
increasing index. Among classes with equal votes the prediction is the
smallest class label, as in scikit-learn.

scikit-learn's brute search agrees wherever the distances decide the ``k``
neighbours. Where several training samples tie for the k-th place it keeps
the ones its heap holds at the end of its scan, which depends on its chunks
and threads and may be other samples than the first ones; the neighbour
distances, and the vote whenever the tied samples share a class, are the same.
"""
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    RegressorMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from course_lib.ml._named_validation import validate_named

__all__ = [
    "squared_euclidean_distances",
    "minkowski_distances",
    "k_smallest",
    "KNeighborsClassifier",
    "KNeighborsRegressor",
    "LearningVectorQuantization",
    "lvq1_update",
    "SelfOrganizingMap",
    "som_update",
]

# How many distances one chunk of queries may hold: 2**17 float64 numbers are
# 1 MiB, small enough to stay in the processor's cache while they are searched.
_CHUNK_ELEMENTS = 2**17
# Up to this k, k passes of argmin cost less than one argpartition (measured on digits).
_FEW_NEIGHBOURS = 16


def squared_euclidean_distances(A, B):
    """Squared Euclidean distances between the rows of ``A`` and of ``B`` as one matrix product.

    ``‖a − b‖² = ‖a‖² − 2 a·b + ‖b‖²``, added in that order (scikit-learn's
    order, so both round the same way) and clipped at 0, where rounding can
    leave a tiny negative number for two equal rows.

    Args:
        A: array of shape ``(n_a, n_features)``.
        B: array of shape ``(n_b, n_features)``.

    Returns:
        Array of shape ``(n_a, n_b)``.
    """
    distances = A @ B.T
    distances *= -2.0
    distances += np.einsum("ij,ij->i", A, A)[:, None]
    distances += np.einsum("ij,ij->i", B, B)[None, :]
    return np.maximum(distances, 0.0, out=distances)


def minkowski_distances(A, B, p, powered=False):
    """Minkowski distances ``(Σ_f |a_f − b_f|^p)^(1/p)`` between the rows of ``A`` and of ``B``.

    ``p=2`` is the Euclidean distance (one matrix product), ``p=1`` the
    Manhattan distance; any other ``p ≥ 1`` goes through the differences of
    every pair of rows, so keep ``A`` small (a chunk of queries).

    Args:
        A: array of shape ``(n_a, n_features)``.
        B: array of shape ``(n_b, n_features)``.
        p: the order, a real number ≥ 1.
        powered: return the p-th power of the distances, ``Σ_f |a_f − b_f|^p``:
            the same ranking without the root (what a neighbour search compares).

    Returns:
        Array of shape ``(n_a, n_b)``.
    """
    if p == 2:
        powers = squared_euclidean_distances(A, B)
    else:
        differences = np.abs(A[:, None, :] - B[None, :, :])
        powers = differences.sum(axis=2) if p == 1 else (differences**p).sum(axis=2)
    return powers if powered else _root(powers, p)


def _root(powers, p):
    """``powers ** (1 / p)``, with the exactly rounded square root for ``p=2``."""
    if p == 1:
        return powers
    return np.sqrt(powers) if p == 2 else powers ** (1.0 / p)


def k_smallest(distances, k):
    """The ``k`` smallest entries of each row, ties broken by the smaller column index.

    For a few neighbours, ``k`` passes of ``argmin`` (which returns the first of
    equal minima), each hiding the entry it found; for more, one ``argpartition``.

    Args:
        distances: array of shape ``(n_queries, n_references)``; left as it was.
        k: how many to keep, ``1 ≤ k ≤ n_references``.

    Returns:
        ``(values, indices)``, both of shape ``(n_queries, k)``, sorted by
        increasing value and, among equal values, by increasing index.
    """
    if k > _FEW_NEIGHBOURS:
        return _k_smallest_by_partition(distances, k)
    rows = np.arange(len(distances))
    indices = np.empty((len(distances), k), dtype=np.intp)
    values = np.empty((len(distances), k), dtype=distances.dtype)
    for j in range(k):
        indices[:, j] = np.argmin(distances, axis=1)
        values[:, j] = distances[rows, indices[:, j]]
        distances[rows, indices[:, j]] = np.inf
    distances[rows[:, None], indices] = values  # put back what was hidden
    return values, indices


def _k_smallest_by_partition(distances, k):
    """:func:`k_smallest` through ``argpartition``, which takes any of the entries tied at the k-th place."""
    indices = np.argpartition(distances, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(distances, indices, axis=1)
    kth = values.max(axis=1, keepdims=True)
    # Rows with more entries equal to the k-th value than places left: keep the first ones.
    tied = np.flatnonzero(np.count_nonzero(distances <= kth, axis=1) > k)
    if tied.size:
        rows, row_kth = distances[tied], kth[tied]
        equal = rows == row_kth
        missing = k - np.count_nonzero(rows < row_kth, axis=1, keepdims=True)
        keep = (rows < row_kth) | (equal & (np.cumsum(equal, axis=1) <= missing))
        indices[tied] = np.nonzero(keep)[1].reshape(len(tied), k)
        values[tied] = np.take_along_axis(rows, indices[tied], axis=1)
    order = np.lexsort((indices, values), axis=1)
    return np.take_along_axis(values, order, axis=1), np.take_along_axis(indices, order, axis=1)


def _neighbour_weights(distances, weights):
    """Weights of the neighbours: ones (``"uniform"``) or ``1 / distance`` (``"distance"``).

    A query that sits exactly on training samples (distance 0) takes weight 1
    for those samples and 0 for the others, as in scikit-learn.
    """
    if weights == "uniform":
        return np.ones_like(distances)
    with np.errstate(divide="ignore"):
        inverse = 1.0 / distances
    on_a_sample = np.isinf(inverse).any(axis=1)
    inverse[on_a_sample] = distances[on_a_sample] == 0.0
    return inverse


class _KNeighborsBase(BaseEstimator):
    """What the k-nearest-neighbour classifier and regressor share: storage and search."""

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "weights": [StrOptions({"uniform", "distance"})],
        "p": [Interval(Real, 1, None, closed="left")],
        "metric": [StrOptions({"minkowski", "euclidean", "manhattan"})],
    }

    def __init__(self, n_neighbors=5, *, weights="uniform", p=2, metric="minkowski"):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.p = p
        self.metric = metric

    def _store(self, X, y):
        self._fit_X = X
        self._y = y
        self.n_samples_fit_ = X.shape[0]
        self.effective_p_ = {"euclidean": 2, "manhattan": 1}.get(self.metric, self.p)
        self.effective_metric_ = {1: "manhattan", 2: "euclidean"}.get(self.effective_p_, "minkowski")
        # For the Euclidean ranking score ‖b‖² − 2 a·b (see _search), computed once.
        self._minus_twice_fit_X_T = np.ascontiguousarray(-2.0 * X.T)
        self._fit_squared_norms = np.einsum("ij,ij->i", X, X)

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """Find the ``n_neighbors`` training samples nearest to each query.

        Args:
            X: queries of shape ``(n_queries, n_features)``; None queries the
                training set itself, each sample not counting as its own
                neighbour.
            n_neighbors: how many neighbours (default: the estimator's ``n_neighbors``).
            return_distance: also return the distances.

        Returns:
            ``(distances, indices)`` of shape ``(n_queries, n_neighbors)``, or
            only ``indices`` when ``return_distance`` is False; sorted by
            increasing distance, equal distances by increasing index.

        Raises:
            ValueError: when more neighbours are asked for than there are
                training samples.
        """
        check_is_fitted(self)
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
            raise ValueError(
                f"{type(self).__name__}: n_neighbors must be a positive integer. Received: n_neighbors={k!r}"
            )
        query_is_train = X is None
        X = self._fit_X if query_is_train else validate_named(self, X, reset=False, dtype=np.float64)
        available = self.n_samples_fit_ - 1 if query_is_train else self.n_samples_fit_
        if k > available:
            relation = "<" if query_is_train else "<="
            raise ValueError(
                f"{type(self).__name__}: Expected n_neighbors {relation} n_samples_fit, but "
                f"n_neighbors = {k}, n_samples_fit = {self.n_samples_fit_}, n_samples = {X.shape[0]}"
            )
        distances, indices = self._search(X, k + 1 if query_is_train else k)
        if query_is_train:
            distances, indices = _drop_self(distances, indices)
        return (distances, indices) if return_distance else indices

    def _search(self, X, k):
        """The k nearest training samples of every query, one chunk of queries at a time."""
        p = self.effective_p_
        # Numbers held per query: its scores, and the k differences of the exact distances;
        # for other p, the differences to every training sample.
        row_size = max(self.n_samples_fit_, k * X.shape[1]) if p == 2 else self.n_samples_fit_ * X.shape[1]
        rows = max(1, _CHUNK_ELEMENTS // row_size)
        found = []
        for start in range(0, X.shape[0], rows):
            chunk = X[start : start + rows]
            if p == 2:
                found.append(self._euclidean_neighbours(chunk, k))
            else:
                # Rank by the p-th power of the distance, as scikit-learn does, then take the root.
                powers, indices = k_smallest(minkowski_distances(chunk, self._fit_X, p, powered=True), k)
                found.append((_root(powers, p), indices))
        distances, indices = zip(*found)
        return np.vstack(distances), np.vstack(indices)

    def _euclidean_neighbours(self, queries, k):
        """Rank by ``‖b‖² − 2 a·b``, one matrix product; then the exact distances of the k found.

        ``‖a − b‖² = ‖a‖² − 2 a·b + ‖b‖²``, and ``‖a‖²`` is the same for every candidate
        ``b`` of a query, so it does not change the ranking. The k distances found are then
        computed from the differences, which keeps the digits the product formula loses for
        small distances (a query on a training sample gets exactly 0).
        """
        scores = queries @ self._minus_twice_fit_X_T
        scores += self._fit_squared_norms
        _, indices = k_smallest(scores, k)
        squared = ((queries[:, None, :] - self._fit_X[indices]) ** 2).sum(axis=2)
        order = np.lexsort((indices, squared), axis=1)
        return np.sqrt(np.take_along_axis(squared, order, 1)), np.take_along_axis(indices, order, 1)


def _drop_self(distances, indices):
    """Remove each training sample from its own neighbour list (k + 1 found, k returned).

    When a sample has more exact duplicates than neighbours, it may not be in
    its own list; then the first neighbour is dropped instead, as in scikit-learn.
    """
    n_queries = len(indices)
    keep = indices != np.arange(n_queries)[:, None]
    keep[keep.all(axis=1), 0] = False
    shape = (n_queries, indices.shape[1] - 1)
    return distances[keep].reshape(shape), indices[keep].reshape(shape)


class KNeighborsClassifier(ClassifierMixin, _KNeighborsBase):
    """Classify by a vote of the k nearest training samples.

    The score of class ``c`` for a query ``x`` with neighbours ``N_k(x)`` is

        score_c(x) = Σ_{i ∈ N_k(x)} w_i [y_i = c],   ŷ(x) = argmax_c score_c(x),

    with ``w_i = 1`` (``weights="uniform"``) or ``w_i = 1 / d(x, x_i)``
    (``weights="distance"``); ``predict_proba`` is the scores divided by their sum.
    Ties among equal distances and equal votes are broken as described in the
    module docstring.

    Args:
        n_neighbors: k, the number of neighbours that vote.
        weights: ``"uniform"`` or ``"distance"``.
        p: order of the Minkowski distance when ``metric="minkowski"``:
            2 Euclidean, 1 Manhattan, any real ≥ 1.
        metric: ``"minkowski"`` (with ``p``), ``"euclidean"`` or ``"manhattan"``.

    Attributes:
        classes_: the class labels, shape ``(n_classes,)``.
        n_samples_fit_: number of training samples stored.
        effective_metric_: ``"euclidean"``, ``"manhattan"`` or ``"minkowski"``.
        effective_p_: the order of the distance actually used.
        n_features_in_: number of features seen in ``fit``.
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Store the training set.

        Args:
            X: training samples, shape ``(n_samples, n_features)``.
            y: class labels, shape ``(n_samples,)``.

        Returns:
            self
        """
        X, y = validate_named(self, X, y, classifier=True, dtype=np.float64)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        self._store(X, encoded)
        return self

    def predict_proba(self, X):
        """Share of the (weighted) neighbour votes of each class.

        Args:
            X: queries, shape ``(n_queries, n_features)``.

        Returns:
            Array of shape ``(n_queries, n_classes)``, rows summing to 1,
            columns in the order of ``classes_``.
        """
        distances, indices = self.kneighbors(X)
        votes = np.zeros((len(indices), len(self.classes_)))
        rows = np.arange(len(indices))
        neighbour_weights = _neighbour_weights(distances, self.weights)
        for column in range(indices.shape[1]):  # k steps, each over every query at once
            votes[rows, self._y[indices[:, column]]] += neighbour_weights[:, column]
        return votes / votes.sum(axis=1, keepdims=True)

    def predict(self, X):
        """The class with the most (weighted) neighbour votes; among equals, the smallest label.

        Args:
            X: queries, shape ``(n_queries, n_features)``.

        Returns:
            Array of shape ``(n_queries,)`` of labels from ``classes_``.
        """
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]


class KNeighborsRegressor(RegressorMixin, _KNeighborsBase):
    """Predict the (weighted) mean target of the k nearest training samples.

        ŷ(x) = Σ_{i ∈ N_k(x)} w_i y_i / Σ_{i ∈ N_k(x)} w_i,

    with ``w_i = 1`` (``weights="uniform"``) or ``w_i = 1 / d(x, x_i)``
    (``weights="distance"``).

    Args:
        n_neighbors: k, the number of neighbours averaged.
        weights: ``"uniform"`` or ``"distance"``.
        p: order of the Minkowski distance when ``metric="minkowski"``.
        metric: ``"minkowski"`` (with ``p``), ``"euclidean"`` or ``"manhattan"``.

    Attributes:
        n_samples_fit_: number of training samples stored.
        effective_metric_: ``"euclidean"``, ``"manhattan"`` or ``"minkowski"``.
        effective_p_: the order of the distance actually used.
        n_features_in_: number of features seen in ``fit``.
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Store the training set.

        Args:
            X: training samples, shape ``(n_samples, n_features)``.
            y: targets, shape ``(n_samples,)`` or ``(n_samples, n_outputs)``.

        Returns:
            self
        """
        X, y = validate_named(self, X, y, dtype=np.float64, y_numeric=True, multi_output=True)
        self._store(X, y.astype(np.float64))
        return self

    def predict(self, X):
        """The (weighted) mean target of the neighbours.

        Args:
            X: queries, shape ``(n_queries, n_features)``.

        Returns:
            Array of shape ``(n_queries,)``, or ``(n_queries, n_outputs)`` for a 2-D ``y``.
        """
        distances, indices = self.kneighbors(X)
        if self.weights == "uniform":
            return self._y[indices].mean(axis=1)
        weights = _neighbour_weights(distances, self.weights)
        if self._y.ndim == 2:
            weights = weights[:, :, None]
        return (self._y[indices] * weights).sum(axis=1) / weights.sum(axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class LearningVectorQuantization(ClassifierMixin, BaseEstimator):
    """LVQ1: labelled prototypes pulled toward samples of their class, pushed away from the others.

    For each training sample ``x`` with label ``y`` (in a fresh random order
    every epoch), the nearest prototype ``w`` (label ``c``) moves

        w ← w + η_t (x − w)   if c = y,      w ← w − η_t (x − w)   otherwise,

    with the learning rate falling linearly to zero over the training,
    ``η_t = learning_rate · (1 − t / T)`` for update ``t`` of ``T``. A query
    is given the label of its nearest prototype.

    The updates are sequential by nature (each one changes which prototype
    the next sample finds nearest), so ``fit`` loops over the samples; each
    step is vectorised over the prototypes.

    Args:
        prototypes_per_class: prototypes per class, each started on a random
            training sample of its class (drawn with replacement only when the
            class has fewer samples than prototypes).
        learning_rate: η at the first update.
        n_epochs: passes over the training set.
        random_state: seed or ``RandomState`` for the start and the order of the samples.

    Attributes:
        classes_: the class labels, shape ``(n_classes,)``.
        prototypes_: shape ``(n_classes * prototypes_per_class, n_features)``.
        prototype_labels_: the class label of each prototype.
        training_errors_: share of misclassified training samples at the start
            and after each epoch (``n_epochs + 1`` numbers).
        n_features_in_: number of features seen in ``fit``.
    """

    _parameter_constraints: dict = {
        "prototypes_per_class": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "n_epochs": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, prototypes_per_class=1, learning_rate=0.1, n_epochs=30, random_state=None):
        self.prototypes_per_class = prototypes_per_class
        self.learning_rate = learning_rate
        self.n_epochs = n_epochs
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Place the prototypes and train them.

        Args:
            X: training samples, shape ``(n_samples, n_features)``.
            y: class labels, shape ``(n_samples,)``.

        Returns:
            self
        """
        X, y = validate_named(self, X, y, classifier=True, dtype=np.float64)
        rng = check_random_state(self.random_state)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        starts = [
            rng.choice(np.flatnonzero(encoded == c), self.prototypes_per_class,
                       replace=np.count_nonzero(encoded == c) < self.prototypes_per_class)
            for c in range(len(self.classes_))
        ]
        prototypes = X[np.concatenate(starts)].copy()
        prototype_classes = np.repeat(np.arange(len(self.classes_)), self.prototypes_per_class)
        total_updates = self.n_epochs * len(X)
        self.training_errors_ = [_error_rate(X, encoded, prototypes, prototype_classes)]
        for epoch in range(self.n_epochs):
            for step, i in enumerate(rng.permutation(len(X))):
                rate = self.learning_rate * (1.0 - (epoch * len(X) + step) / total_updates)
                lvq1_update(prototypes, prototype_classes, X[i], encoded[i], rate)
            self.training_errors_.append(_error_rate(X, encoded, prototypes, prototype_classes))
        self.prototypes_ = prototypes
        self._prototype_classes = prototype_classes
        self.prototype_labels_ = self.classes_[prototype_classes]
        return self

    def predict(self, X):
        """The label of the nearest prototype (the first one among equally near).

        Args:
            X: queries, shape ``(n_queries, n_features)``.

        Returns:
            Array of shape ``(n_queries,)`` of labels from ``classes_``.
        """
        check_is_fitted(self)
        X = validate_named(self, X, reset=False, dtype=np.float64)
        nearest = np.argmin(squared_euclidean_distances(X, self.prototypes_), axis=1)
        return self.prototype_labels_[nearest]


def _error_rate(X, encoded, prototypes, prototype_classes):
    nearest = np.argmin(squared_euclidean_distances(X, prototypes), axis=1)
    return float(np.mean(prototype_classes[nearest] != encoded))


def lvq1_update(prototypes, prototype_classes, x, label, rate):
    """One LVQ1 step, in place: the prototype nearest to ``x`` moves toward it or away from it.

    Args:
        prototypes: array of shape ``(n_prototypes, n_features)``, updated in place.
        prototype_classes: class index of each prototype, shape ``(n_prototypes,)``.
        x: one sample, shape ``(n_features,)``.
        label: the class index of ``x``.
        rate: the learning rate of this step.
    """
    nearest = np.argmin(((prototypes - x) ** 2).sum(axis=1))
    sign = 1.0 if prototype_classes[nearest] == label else -1.0
    prototypes[nearest] += sign * rate * (x - prototypes[nearest])


class SelfOrganizingMap(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Kohonen's self-organising map: a grid of units whose weights spread over the data.

    At step ``t`` of ``T`` a random training sample ``x`` is drawn, its
    best-matching unit ``b`` (the unit with the nearest weights) is found, and
    every unit ``u`` at grid position ``r_u`` moves toward ``x``:

        w_u ← w_u + η_t h_u (x − w_u),   h_u = exp(−‖r_u − r_b‖² / (2 σ_t²)),

    with ``η_t = learning_rate / (1 + 2t/T)`` and ``σ_t = sigma / (1 + 2t/T)``
    (both end at a third of their start). Units close on the grid move
    together, so the grid unfolds over the data keeping its neighbourhoods.

    ``transform`` maps each sample to the grid coordinates (row, column) of
    its best-matching unit; ``quantization_error`` is the mean distance from
    the samples to their best-matching unit's weights.

    Args:
        grid: ``(m, n)``, the number of rows and columns of units.
        sigma: width σ of the neighbourhood at the start, in grid steps.
        learning_rate: η at the start.
        n_iter: number of single-sample updates.
        random_state: seed or ``RandomState`` for the start and the samples drawn.

    Attributes:
        weights_: shape ``(m * n, n_features)``; unit ``u`` sits at row
            ``u // n`` and column ``u % n``.
        unit_coordinates_: shape ``(m * n, 2)``, the (row, column) of each unit.
        quantization_error_: ``quantization_error`` of the training set after ``fit``.
        n_features_in_: number of features seen in ``fit``.
    """

    _parameter_constraints: dict = {
        "grid": [tuple, list],
        "sigma": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, grid=(5, 5), sigma=1.0, learning_rate=0.5, n_iter=1000, random_state=None):
        self.grid = grid
        self.sigma = sigma
        self.learning_rate = learning_rate
        self.n_iter = n_iter
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Start the units on random training samples and train the map.

        Args:
            X: training samples, shape ``(n_samples, n_features)``.
            y: ignored.

        Returns:
            self
        """
        grid = tuple(self.grid)
        if len(grid) != 2 or not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in grid):
            raise ValueError(
                f"SelfOrganizingMap: grid must be two positive integers (rows, columns). Received: grid={self.grid!r}"
            )
        X = validate_named(self, X, dtype=np.float64)
        rng = check_random_state(self.random_state)
        rows, columns = np.divmod(np.arange(grid[0] * grid[1]), grid[1])
        self.unit_coordinates_ = np.column_stack([rows, columns]).astype(np.float64)
        weights = X[rng.randint(len(X), size=len(rows))].copy()
        for t, i in enumerate(rng.randint(len(X), size=self.n_iter)):
            decay = 1.0 / (1.0 + 2.0 * t / self.n_iter)
            som_update(weights, self.unit_coordinates_, X[i], self.learning_rate * decay, self.sigma * decay)
        self.weights_ = weights
        self._n_features_out = 2
        self.quantization_error_ = self.quantization_error(X)
        return self

    def _best_matching_units(self, X):
        check_is_fitted(self)
        X = validate_named(self, X, reset=False, dtype=np.float64)
        squared = squared_euclidean_distances(X, self.weights_)
        best = np.argmin(squared, axis=1)
        return best, np.sqrt(squared[np.arange(len(X)), best])

    def transform(self, X):
        """Grid coordinates (row, column) of each sample's best-matching unit.

        Args:
            X: samples, shape ``(n_samples, n_features)``.

        Returns:
            Array of shape ``(n_samples, 2)``.
        """
        best, _ = self._best_matching_units(X)
        return self.unit_coordinates_[best]

    def quantization_error(self, X):
        """Mean Euclidean distance from each sample to its best-matching unit's weights.

        Args:
            X: samples, shape ``(n_samples, n_features)``.

        Returns:
            A float.
        """
        _, distances = self._best_matching_units(X)
        return float(distances.mean())


def som_update(weights, unit_coordinates, x, rate, sigma):
    """One self-organising-map step, in place: every unit moves toward ``x``, the nearer the more.

    Args:
        weights: array of shape ``(n_units, n_features)``, updated in place.
        unit_coordinates: grid position of each unit, shape ``(n_units, 2)``.
        x: one sample, shape ``(n_features,)``.
        rate: the learning rate of this step.
        sigma: the neighbourhood width of this step, in grid steps.
    """
    best = np.argmin(((weights - x) ** 2).sum(axis=1))
    grid_distances = ((unit_coordinates - unit_coordinates[best]) ** 2).sum(axis=1)
    neighbourhood = np.exp(-grid_distances / (2.0 * sigma**2))
    weights += (rate * neighbourhood)[:, None] * (x - weights)
