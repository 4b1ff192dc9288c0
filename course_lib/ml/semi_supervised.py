"""Semi-supervised learning (半监督学习) on a graph: label propagation and label spreading.

A few samples carry labels, the rest are marked ``-1`` (as in scikit-learn).
Both models build a similarity graph over all samples and let the known labels
flow along its edges until the label distributions settle; the unlabeled
samples then take the class with the most mass (``transduction_``).

The graph and the iteration follow ``sklearn.semi_supervised`` exactly (the
same kernels, normalisations, clamping and stopping rule), so the tests compare
``label_distributions_`` number for number.
"""
from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from course_lib.ml._named_validation import validate_named
from course_lib.ml.cluster import squared_distances

__all__ = ["LabelPropagation", "LabelSpreading", "knn_graph", "propagation_matrix", "rbf_kernel",
           "spreading_matrix"]


def rbf_kernel(A, B, gamma):
    """Gaussian (RBF) similarities ``exp(-gamma ||a - b||²)``.

    Args:
        A: shape ``(n_a, n_features)``.
        B: shape ``(n_b, n_features)``.
        gamma: the inverse width, ``gamma >= 0``.

    Returns:
        Shape ``(n_a, n_b)``.
    """
    return np.exp(-gamma * squared_distances(A, B))


def nearest_neighbors(A, B, n_neighbors):
    """Indices of the ``n_neighbors`` rows of ``B`` nearest to each row of ``A``.

    ``argpartition`` finds the ``k`` nearest without sorting whole rows; only
    those ``k`` are then put in order.

    Returns:
        Shape ``(n_a, n_neighbors)``, nearest first; a sample of ``B`` queried
        against itself is its own first neighbour.
    """
    distances = squared_distances(A, B)
    if n_neighbors < distances.shape[1]:
        nearest = np.argpartition(distances, n_neighbors - 1, axis=1)[:, :n_neighbors]
    else:
        nearest = np.broadcast_to(np.arange(distances.shape[1]), distances.shape)
    order = np.argsort(np.take_along_axis(distances, nearest, axis=1), axis=1, kind="stable")
    return np.take_along_axis(nearest, order, axis=1)


def knn_graph(X, n_neighbors):
    """The 0/1 k-nearest-neighbour graph: ``W[i, j] = 1`` when ``j`` is among ``i``'s neighbours.

    As scikit-learn, each sample counts as one of its own ``n_neighbors``
    neighbours, and the graph is not symmetrised.

    Args:
        X: shape ``(n_samples, n_features)``.
        n_neighbors: neighbours per sample, at most ``n_samples``.

    Returns:
        Shape ``(n_samples, n_samples)``.
    """
    graph = np.zeros((X.shape[0], X.shape[0]))
    np.put_along_axis(graph, nearest_neighbors(X, X, n_neighbors), 1.0, axis=1)
    return graph


def propagation_matrix(affinity):
    """Label propagation's transition matrix ``T = D⁻¹ W`` (rows sum to 1).

    Args:
        affinity: non-negative similarities ``W``, shape ``(n, n)``.

    Returns:
        Shape ``(n, n)``.
    """
    return affinity / affinity.sum(axis=1, keepdims=True)


def spreading_matrix(affinity):
    """Label spreading's symmetrically normalised graph ``S = D^-1/2 W D^-1/2``.

    Self-similarities are dropped first (the diagonal of ``W`` is set to 0),
    ``D`` holds the column sums of ``W`` and an isolated sample (degree 0)
    keeps degree 1; this is ``-laplacian(W, normed=True)`` off its diagonal.

    Args:
        affinity: non-negative similarities ``W``, shape ``(n, n)``.

    Returns:
        Shape ``(n, n)``, with a zero diagonal.
    """
    weights = affinity.copy()
    np.fill_diagonal(weights, 0.0)
    degree = weights.sum(axis=0)
    scale = 1.0 / np.sqrt(np.where(degree == 0, 1.0, degree))
    return scale[:, None] * weights * scale[None, :]


class _GraphLabelModel(ClassifierMixin, BaseEstimator):
    """What label propagation and label spreading share: the kernel, the loop, prediction.

    Each model adds its graph (``_graph``), its clamped labels (``_static``)
    and its update (``_step``).
    """

    _parameter_constraints: dict = {
        "kernel": [StrOptions({"rbf", "knn"})],
        "gamma": [Interval(Real, 0, None, closed="left")],
        "n_neighbors": [Interval(Integral, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 0, None, closed="neither")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    def _affinity(self, X):
        if self.kernel == "rbf":
            return rbf_kernel(X, X, self.gamma)
        if self.n_neighbors > X.shape[0]:
            raise ValueError(
                f"{type(self).__name__}: n_neighbors={self.n_neighbors} is larger than the number "
                f"of samples n_samples={X.shape[0]}."
            )
        return knn_graph(X, self.n_neighbors)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Propagate the labels of ``y`` (``-1`` = unlabeled) over the graph of ``X``.

        Args:
            X: samples, shape ``(n_samples, n_features)``.
            y: class labels, ``-1`` for the unlabeled samples, shape ``(n_samples,)``.

        Returns:
            self.
        """
        X, y = validate_named(self, X, y, classifier=True)
        self.X_ = X
        classes = np.unique(y)
        self.classes_ = classes[classes != -1]
        graph = self._graph(self._affinity(X))
        # One-hot rows for the labeled samples, zeros for the unlabeled ones.
        one_hot = (y[:, None] == self.classes_[None, :]).astype(np.float64)
        unlabeled = (y == -1)[:, None]
        static = self._static(one_hot)
        distributions, previous = one_hot, np.zeros_like(one_hot)
        # Stop when the distributions moved by less than tol in total (L1) in the last step.
        steps = 0
        while np.abs(distributions - previous).sum() >= self.tol:
            if steps == self.max_iter:
                warnings.warn(
                    f"{type(self).__name__}: max_iter={self.max_iter} was reached without "
                    "convergence.", ConvergenceWarning, stacklevel=2,
                )
                break
            previous = distributions
            distributions = self._step(graph, distributions, static, unlabeled)
            steps += 1
        self.n_iter_ = steps
        self.label_distributions_ = _normalised_rows(distributions)
        self.transduction_ = self.classes_[np.argmax(self.label_distributions_, axis=1)]
        return self

    def predict_proba(self, X):
        """Class probabilities of new samples, from their similarity to the training samples.

        A new sample's probabilities are the label distributions of the
        training samples weighted by the kernel (``rbf``), or summed over its
        ``n_neighbors`` nearest training samples (``knn``), then normalised. A
        sample so far from every training sample that all its weights
        underflow to 0 gets equal probabilities.

        Args:
            X: shape ``(n_samples, n_features)``.

        Returns:
            Shape ``(n_samples, n_classes)``, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        X = validate_named(self, X, reset=False)
        if self.kernel == "rbf":
            weights = rbf_kernel(X, self.X_, self.gamma)
            scores = weights @ self.label_distributions_
        else:
            neighbors = nearest_neighbors(X, self.X_, self.n_neighbors)
            scores = self.label_distributions_[neighbors].sum(axis=1)
        totals = scores.sum(axis=1, keepdims=True)
        uniform = np.full_like(scores, 1.0 / scores.shape[1])
        return np.divide(scores, totals, out=uniform, where=totals > 0)

    def predict(self, X):
        """The most probable class of each sample: shape ``(n_samples,)``."""
        probabilities = self.predict_proba(X)  # first: it checks that the model is fitted
        return self.classes_[np.argmax(probabilities, axis=1)]


def _normalised_rows(distributions):
    totals = distributions.sum(axis=1, keepdims=True)
    return distributions / np.where(totals == 0, 1.0, totals)


class LabelPropagation(_GraphLabelModel):
    """Label propagation (标签传播, Zhu & Ghahramani 2002) with hard clamping.

    With the row-normalised graph ``T = D⁻¹ W`` (:func:`propagation_matrix`),
    each step moves every distribution to the average of its neighbours' and
    puts the labeled samples back to their one-hot labels:

    .. math::

        F \\leftarrow T F, \\qquad F_i \\leftarrow F_i / \\textstyle\\sum_c F_{ic},
        \\qquad F_{\\text{labeled}} \\leftarrow Y_{\\text{labeled}}.

    Args:
        kernel: ``"rbf"`` (``W = exp(-gamma ||x_i - x_j||²)``) or ``"knn"``
            (``W_ij = 1`` for the ``n_neighbors`` nearest samples).
        gamma: the RBF kernel's inverse width.
        n_neighbors: neighbours of the ``knn`` kernel.
        max_iter: the most steps.
        tol: stop when the distributions change by less than ``tol`` (sum of
            absolute changes) in one step.

    Attributes:
        classes_: the labels seen in ``y`` (without ``-1``).
        label_distributions_: shape ``(n_samples, n_classes)``, rows summing to 1.
        transduction_: the label given to every training sample.
        n_iter_: the steps run.
        X_: the training samples (kept for ``predict``).
    """

    def __init__(self, kernel="rbf", *, gamma=20, n_neighbors=7, max_iter=1000, tol=1e-3):
        self.kernel = kernel
        self.gamma = gamma
        self.n_neighbors = n_neighbors
        self.max_iter = max_iter
        self.tol = tol

    def _graph(self, affinity):
        return propagation_matrix(affinity)

    def _static(self, one_hot):
        return one_hot

    def _step(self, graph, distributions, static, unlabeled):
        distributions = _normalised_rows(graph @ distributions)
        return np.where(unlabeled, distributions, static)


class LabelSpreading(_GraphLabelModel):
    """Label spreading (标签扩散, Zhou et al. 2004) with soft clamping.

    With the normalised graph ``S = D^-1/2 W D^-1/2`` (:func:`spreading_matrix`),
    each step mixes the neighbours' distributions with the initial labels
    ``Y`` (one-hot rows for labeled samples, zeros for the others):

    .. math::

        F \\leftarrow \\alpha S F + (1 - \\alpha) Y,

    whose fixed point is ``F* = (1 - α)(I - α S)⁻¹ Y``: a labeled sample may
    give up its label when its neighbours disagree.

    Args:
        kernel: ``"rbf"`` or ``"knn"``, as in :class:`LabelPropagation`.
        gamma: the RBF kernel's inverse width.
        n_neighbors: neighbours of the ``knn`` kernel.
        alpha: the weight of the neighbours, in ``(0, 1)``.
        max_iter: the most steps.
        tol: stop when the distributions change by less than ``tol`` in one step.

    Attributes:
        classes_, label_distributions_, transduction_, n_iter_, X_: as in
        :class:`LabelPropagation`.
    """

    _parameter_constraints: dict = {
        **_GraphLabelModel._parameter_constraints,
        "alpha": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(self, kernel="rbf", *, gamma=20, n_neighbors=7, alpha=0.2, max_iter=30, tol=1e-3):
        self.kernel = kernel
        self.gamma = gamma
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol

    def _graph(self, affinity):
        return spreading_matrix(affinity)

    def _static(self, one_hot):
        return (1.0 - self.alpha) * one_hot

    def _step(self, graph, distributions, static, unlabeled):
        return self.alpha * (graph @ distributions) + static
