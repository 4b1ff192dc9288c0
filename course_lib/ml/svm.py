"""Kernel methods: the support vector classifier (SMO) and radial-basis-function networks.

* :class:`SVC` solves the soft-margin dual problem by sequential minimal
  optimisation, two multipliers at a time, with the working-set choice of
  Keerthi et al. and Fan, Chen and Lin (the one libsvm uses). More than two
  classes are handled one-vs-one, as scikit-learn does.
* :class:`RBFNetworkClassifier` and :class:`RBFNetworkRegressor` place
  Gaussian bumps on k-means centres and fit the output layer by ridge least
  squares, in closed form.
"""
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from course_lib.ml._named_validation import validate_named
from course_lib.ml.neighbors import squared_euclidean_distances

__all__ = [
    "kernel_matrix",
    "smo",
    "SVC",
    "lloyd_kmeans",
    "RBFNetworkClassifier",
    "RBFNetworkRegressor",
]


def kernel_matrix(A, B, kernel, gamma):
    """The kernel ``K(a, b)`` between every row of ``A`` and every row of ``B``.

    ``"linear"``: ``K(a, b) = a·b``; ``"rbf"``: ``K(a, b) = exp(−γ ‖a − b‖²)``.

    Args:
        A: array of shape ``(n_a, n_features)``.
        B: array of shape ``(n_b, n_features)``.
        kernel: ``"linear"`` or ``"rbf"``.
        gamma: γ of the rbf kernel.

    Returns:
        Array of shape ``(n_a, n_b)``.
    """
    if kernel == "linear":
        return A @ B.T
    return np.exp(-gamma * squared_euclidean_distances(A, B))


def smo(K, y, C, tol=1e-3, max_iter=-1):
    """Sequential minimal optimisation of the soft-margin SVM dual.

    Maximises ``Σ_i α_i − ½ Σ_ij α_i α_j y_i y_j K_ij`` subject to
    ``0 ≤ α_i ≤ C`` and ``Σ_i α_i y_i = 0``. With the error cache
    ``E_i = Σ_j α_j y_j K_ij − y_i``, a pair may improve the objective when
    ``E_i`` (over ``I_up``, where ``y_i α_i`` may grow) is below ``E_j``
    (over ``I_low``, where ``y_j α_j`` may shrink). Each step takes the most
    violating ``i`` and the ``j`` of largest second-order gain
    ``(E_j − E_i)² / η``, ``η = K_ii + K_jj − 2 K_ij``, then moves
    ``y_i α_i`` up and ``y_j α_j`` down by ``(E_j − E_i) / η``, clipped to the box,
    and updates the whole error cache in one vector operation,
    ``E ← E + Δα_i y_i K[:, i] + Δα_j y_j K[:, j]``. It stops when
    ``max_{I_low} E − min_{I_up} E < tol`` (the KKT conditions up to ``tol``).

    Args:
        K: kernel matrix of the training samples, shape ``(n, n)``.
        y: labels in {−1, +1}, shape ``(n,)``.
        C: the box bound (the soft-margin penalty).
        tol: stopping tolerance on the KKT violation.
        max_iter: the most pair updates; -1 for no limit but libsvm's own
            (``max(10⁷, 100 n)``).

    Returns:
        ``(alpha, bias, n_iter, converged)``: the multipliers, shape ``(n,)``;
        the bias ``b`` of ``f(x) = Σ_i α_i y_i K(x_i, x) + b``; the number of
        pair updates; whether the tolerance was met.
    """
    n = len(y)
    alpha = np.zeros(n)
    errors = -y.astype(np.float64)  # E = f − y with every α = 0
    diagonal = np.diag(K)
    limit = max(10_000_000, 100 * n) if max_iter == -1 else max_iter
    n_iter, converged = 0, False
    while n_iter < limit:
        up = np.where(y > 0, alpha < C, alpha > 0)
        low = np.where(y > 0, alpha > 0, alpha < C)
        i = np.argmin(np.where(up, errors, np.inf))
        gap = np.where(low, errors, -np.inf) - errors[i]
        if not up[i] or gap.max() < tol:  # (an empty I_up leaves nothing to move either)
            converged = True
            break
        eta = np.maximum(diagonal[i] + diagonal - 2.0 * K[i], 1e-12)
        j = np.argmax(np.where(low & (gap > 0), gap**2 / eta, -np.inf))
        # Room in the box: y_i α_i may grow by room_i, y_j α_j may shrink by room_j.
        room_i = C - alpha[i] if y[i] > 0 else alpha[i]
        room_j = alpha[j] if y[j] > 0 else C - alpha[j]
        step = min(gap[j] / eta[j], room_i, room_j)
        new_i, new_j = alpha[i] + y[i] * step, alpha[j] - y[j] * step
        # A multiplier that reaches its bound is set to it exactly: rounding must not leave
        # it a hair inside, where it would be picked again for a step of nothing.
        if step == room_i:
            new_i = C if y[i] > 0 else 0.0
        if step == room_j:
            new_j = 0.0 if y[j] > 0 else C
        errors += (new_i - alpha[i]) * y[i] * K[:, i] + (new_j - alpha[j]) * y[j] * K[:, j]
        alpha[i], alpha[j] = new_i, new_j
        n_iter += 1
    return alpha, -_threshold(alpha, y, errors, C), n_iter, converged


def _threshold(alpha, y, errors, C):
    """libsvm's ρ (``f(x) = Σ α_i y_i K_i(x) − ρ``): the mean error over the free multipliers.

    Without free multipliers, the middle of the interval the bounded ones allow.
    """
    free = (alpha > 0) & (alpha < C)
    if free.any():
        return errors[free].mean()
    at_upper = alpha >= C
    upper_side = np.where(y > 0, ~at_upper, at_upper)  # where E bounds ρ from above
    return 0.5 * (errors[upper_side].min(initial=np.inf) + errors[~upper_side].max(initial=-np.inf))


class SVC(ClassifierMixin, BaseEstimator):
    """Support vector classifier, trained by SMO; several classes one-vs-one.

    The decision function of a binary problem is

        f(x) = Σ_{i ∈ SV} α_i y_i K(x_i, x) + b,

    with the ``α`` of the dual problem (see :func:`smo`) and
    ``K(a, b) = a·b`` (``kernel="linear"``) or ``exp(−γ ‖a − b‖²)`` (``"rbf"``).
    For ``k > 2`` classes one such problem is solved for every pair of
    classes; each votes, and the class with most votes wins (the first one
    among equals).

    The layout of the fitted attributes is scikit-learn's (libsvm's): the
    support vectors grouped by class; ``dual_coef_`` of shape
    ``(n_classes − 1, n_SV)`` where the coefficients ``α_i y_i`` of a support
    vector of class ``c`` in its problems against classes ``0 … k−1`` (``c``
    skipped) sit in the rows ``0 … k−2``. In each pair ``(p, q)``, ``p < q``,
    ``y = +1`` means class ``p``, except with two classes, where the signs are
    flipped so that a positive decision function means ``classes_[1]``.

    Each binary problem computes its whole kernel matrix once (``n²``
    memory), meant for the few thousand samples of a course.

    Args:
        C: the penalty of the margin violations (box bound of ``α``).
        kernel: ``"linear"`` or ``"rbf"``.
        gamma: γ of the rbf kernel: ``"scale"`` (``1 / (n_features · Var(X))``),
            ``"auto"`` (``1 / n_features``) or a float ≥ 0.
        tol: SMO's stopping tolerance on the KKT violation.
        max_iter: the most SMO steps per binary problem, -1 for no limit.
        decision_function_shape: ``"ovr"``, votes plus a confidence in
            (−⅓, ⅓) per class, shape ``(n_samples, n_classes)``, or ``"ovo"``,
            one column per pair of classes.

    Attributes:
        classes_: the class labels, shape ``(n_classes,)``.
        support_: indices of the support vectors in the training set.
        support_vectors_: shape ``(n_SV, n_features)``.
        n_support_: support vectors of each class.
        dual_coef_: shape ``(n_classes − 1, n_SV)``, see above.
        intercept_: ``b`` of each pair of classes, shape ``(n_classes (n_classes − 1) / 2,)``.
        coef_: linear kernel only: the weights of each pair's hyperplane.
        n_iter_: SMO steps of each pair of classes.
        gamma_: the γ used.
        n_features_in_: number of features seen in ``fit``.
    """

    _parameter_constraints: dict = {
        "C": [Interval(Real, 0.0, None, closed="neither")],
        "kernel": [StrOptions({"linear", "rbf"})],
        "gamma": [StrOptions({"scale", "auto"}), Interval(Real, 0.0, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="neither")],
        "max_iter": [Interval(Integral, -1, None, closed="left")],
        "decision_function_shape": [StrOptions({"ovr", "ovo"})],
    }

    def __init__(self, *, C=1.0, kernel="rbf", gamma="scale", tol=1e-3, max_iter=-1,
                 decision_function_shape="ovr"):
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.tol = tol
        self.max_iter = max_iter
        self.decision_function_shape = decision_function_shape

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Solve one dual problem per pair of classes.

        Args:
            X: training samples, shape ``(n_samples, n_features)``.
            y: class labels, shape ``(n_samples,)``, at least two classes.

        Returns:
            self

        Raises:
            ValueError: with fewer than two classes.
        """
        X, y = validate_named(self, X, y, classifier=True, dtype=np.float64)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(
                f"SVC: The number of classes has to be greater than one; got 1 class ({self.classes_.tolist()[0]!r})"
            )
        self.gamma_ = self._gamma_for(X)
        pairs = [(p, q) for p in range(n_classes) for q in range(p + 1, n_classes)]
        # alpha_y[k, i] = α_i y_i of training sample i in the problem of pair k (0 outside it).
        alpha_y = np.zeros((len(pairs), len(X)))
        intercepts, n_iters = [], []
        for k, (p, q) in enumerate(pairs):
            # The samples of class p, then those of q, as libsvm orders them.
            members = np.concatenate([np.flatnonzero(encoded == p), np.flatnonzero(encoded == q)])
            signs = np.where(encoded[members] == p, 1.0, -1.0)
            K = kernel_matrix(X[members], X[members], self.kernel, self.gamma_)
            alpha, bias, n_iter, converged = smo(K, signs, self.C, self.tol, self.max_iter)
            if not converged:
                warnings.warn(
                    f"SVC: Solver terminated early (max_iter={self.max_iter}) for classes "
                    f"{self.classes_[p]!r} and {self.classes_[q]!r}. Consider pre-processing your data "
                    f"with StandardScaler or MinMaxScaler.",
                    ConvergenceWarning,
                )
            alpha_y[k, members] = alpha * signs
            intercepts.append(bias)
            n_iters.append(n_iter)
        self._store_support(X, encoded, alpha_y, pairs)
        self.intercept_ = np.array(intercepts)
        self.n_iter_ = np.array(n_iters)
        if n_classes == 2:  # positive decision function for classes_[1], as scikit-learn
            self.intercept_ = -self.intercept_
            self._pair_coef = -self._pair_coef
            self.dual_coef_ = -self.dual_coef_
        return self

    def _gamma_for(self, X):
        if self.gamma == "scale":
            variance = X.var()
            return 1.0 / (X.shape[1] * variance) if variance != 0 else 1.0
        if self.gamma == "auto":
            return 1.0 / X.shape[1]
        return float(self.gamma)

    def _store_support(self, X, encoded, alpha_y, pairs):
        """Support vectors grouped by class and the dual coefficients in libsvm's layout."""
        is_support = np.any(alpha_y != 0, axis=0)
        self.support_ = np.concatenate(
            [np.flatnonzero(is_support & (encoded == c)) for c in range(len(self.classes_))]
        ).astype(np.int32)
        self.support_vectors_ = X[self.support_]
        self.n_support_ = np.bincount(encoded[self.support_], minlength=len(self.classes_)).astype(np.int32)
        self._pair_coef = alpha_y[:, self.support_]  # shape (n_pairs, n_SV)
        support_classes = encoded[self.support_]
        self.dual_coef_ = np.zeros((len(self.classes_) - 1, len(self.support_)))
        for k, (p, q) in enumerate(pairs):
            # Against class q a vector of class p uses row q − 1; against p, a vector of q uses row p.
            self.dual_coef_[q - 1, support_classes == p] = self._pair_coef[k, support_classes == p]
            self.dual_coef_[p, support_classes == q] = self._pair_coef[k, support_classes == q]

    @property
    def coef_(self):
        """Weights of each pair's hyperplane, shape ``(n_pairs, n_features)`` (linear kernel only)."""
        if self.kernel != "linear":
            raise AttributeError("SVC: coef_ is only available when using a linear kernel")
        check_is_fitted(self)
        return self._pair_coef @ self.support_vectors_

    def _pair_decisions(self, X):
        """``f`` of every pair of classes, shape ``(n_samples, n_pairs)``."""
        check_is_fitted(self)
        X = validate_named(self, X, reset=False, dtype=np.float64)
        K = kernel_matrix(X, self.support_vectors_, self.kernel, self.gamma_)
        return K @ self._pair_coef.T + self.intercept_

    def decision_function(self, X):
        """Signed distance-like scores of the samples.

        Args:
            X: samples, shape ``(n_samples, n_features)``.

        Returns:
            Two classes: shape ``(n_samples,)``, positive for ``classes_[1]``.
            More: ``(n_samples, n_classes)`` with ``"ovr"``, or
            ``(n_samples, n_pairs)`` with ``"ovo"``, positive for the first
            class of each pair (pairs in the order (0, 1), (0, 2), …, (1, 2), …).
        """
        decisions = self._pair_decisions(X)
        if len(self.classes_) == 2:
            return decisions.ravel()
        if self.decision_function_shape == "ovo":
            return decisions
        return _ovo_to_ovr(decisions, len(self.classes_))

    def predict(self, X):
        """One-vs-one vote; a zero decision votes for the second class of the pair, as in libsvm.

        Args:
            X: samples, shape ``(n_samples, n_features)``.

        Returns:
            Array of shape ``(n_samples,)`` of labels from ``classes_``.
        """
        decisions = self._pair_decisions(X)
        if len(self.classes_) == 2:
            return self.classes_[(decisions.ravel() >= 0).astype(int)]
        votes = np.zeros((len(decisions), len(self.classes_)))
        for k, (p, q) in enumerate(_pairs(len(self.classes_))):
            votes[:, p] += decisions[:, k] > 0
            votes[:, q] += decisions[:, k] <= 0
        return self.classes_[np.argmax(votes, axis=1)]


def _pairs(n_classes):
    return [(p, q) for p in range(n_classes) for q in range(p + 1, n_classes)]


def _ovo_to_ovr(decisions, n_classes):
    """scikit-learn's one-vs-rest view of one-vs-one decisions: votes + confidence / (3 (|confidence| + 1))."""
    votes = np.zeros((len(decisions), n_classes))
    confidence = np.zeros((len(decisions), n_classes))
    for k, (p, q) in enumerate(_pairs(n_classes)):
        votes[:, p] += decisions[:, k] >= 0
        votes[:, q] += decisions[:, k] < 0
        confidence[:, p] += decisions[:, k]
        confidence[:, q] -= decisions[:, k]
    return votes + confidence / (3.0 * (np.abs(confidence) + 1.0))


def lloyd_kmeans(X, n_clusters, rng, max_iter=100):
    """Lloyd's k-means from ``n_clusters`` distinct random samples: assign, re-centre, repeat.

    A centre that loses all its samples stays where it was.

    Args:
        X: samples, shape ``(n_samples, n_features)``.
        n_clusters: the number of centres, at most ``n_samples``.
        rng: a ``numpy.random.RandomState``.
        max_iter: the most assign/re-centre rounds.

    Returns:
        ``(centres, n_iter)``: shape ``(n_clusters, n_features)``, and the
        number of re-centring rounds done.
    """
    centres = X[rng.choice(len(X), n_clusters, replace=False)]
    nearest = np.argmin(squared_euclidean_distances(X, centres), axis=1)
    n_iter = 0
    while n_iter < max_iter:
        membership = np.eye(n_clusters)[nearest]  # one-hot, shape (n_samples, n_clusters)
        counts = membership.sum(axis=0)[:, None]
        centres = np.where(counts > 0, membership.T @ X / np.maximum(counts, 1), centres)
        n_iter += 1
        previous, nearest = nearest, np.argmin(squared_euclidean_distances(X, centres), axis=1)
        if np.array_equal(nearest, previous):
            break
    return centres, n_iter


class _RBFNetwork(BaseEstimator):
    """Centres by k-means, Gaussian features, output weights by ridge least squares."""

    _parameter_constraints: dict = {
        "n_centers": [Interval(Integral, 1, None, closed="left")],
        "gamma": [Interval(Real, 0.0, None, closed="neither"), None],
        "alpha": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, n_centers=10, *, gamma=None, alpha=1e-3, max_iter=100, random_state=None):
        self.n_centers = n_centers
        self.gamma = gamma
        self.alpha = alpha
        self.max_iter = max_iter
        self.random_state = random_state

    def _fit_targets(self, X, targets):
        if self.n_centers > len(X):
            raise ValueError(
                f"{type(self).__name__}: n_centers cannot be larger than the number of samples. "
                f"Received: n_centers={self.n_centers}, n_samples={len(X)}"
            )
        rng = check_random_state(self.random_state)
        self.centers_, self.n_iter_ = lloyd_kmeans(X, self.n_centers, rng, self.max_iter)
        if self.gamma is None:
            # Width σ = d_max / √(2 n_centers) (d_max the largest distance between centres): γ = 1 / (2σ²).
            largest = squared_euclidean_distances(self.centers_, self.centers_).max()
            self.gamma_ = self.n_centers / largest if largest > 0 else 1.0
        else:
            self.gamma_ = float(self.gamma)
        self.coef_, self.intercept_ = ridge(self._features(X), targets, self.alpha)

    def _features(self, X):
        return np.exp(-self.gamma_ * squared_euclidean_distances(X, self.centers_))

    def _outputs(self, X):
        check_is_fitted(self)
        X = validate_named(self, X, reset=False, dtype=np.float64)
        return self._features(X) @ self.coef_ + self.intercept_


def ridge(Phi, targets, alpha):
    """Ridge least squares with an unpenalised intercept: ``min ‖Y − Φ W − b‖² + α ‖W‖²``.

    Centring ``Φ`` and ``Y`` removes the intercept; then
    ``W = (ΦᵀΦ + α I)⁻¹ ΦᵀY`` and ``b = ȳ − Φ̄ W``.

    Args:
        Phi: features, shape ``(n_samples, n_features)``.
        targets: shape ``(n_samples,)`` or ``(n_samples, n_outputs)``.
        alpha: the penalty α ≥ 0.

    Returns:
        ``(W, b)``: shapes ``(n_features,)`` and ``()``, or
        ``(n_features, n_outputs)`` and ``(n_outputs,)`` for 2-D targets.
    """
    Phi_mean, targets_mean = Phi.mean(axis=0), targets.mean(axis=0)
    centred = Phi - Phi_mean
    gram = centred.T @ centred + alpha * np.eye(Phi.shape[1])
    weights = np.linalg.lstsq(gram, centred.T @ (targets - targets_mean), rcond=None)[0]
    return weights, targets_mean - Phi_mean @ weights


class RBFNetworkClassifier(ClassifierMixin, _RBFNetwork):
    """Radial-basis-function network for classes: one-hot targets, the largest output wins.

        φ_j(x) = exp(−γ ‖x − c_j‖²),   o_c(x) = Σ_j W_jc φ_j(x) + b_c,   ŷ(x) = argmax_c o_c(x),

    with the centres ``c_j`` found by k-means and ``W, b`` by ridge least
    squares on the one-hot targets (:func:`ridge`).

    Args:
        n_centers: number of Gaussian units.
        gamma: γ of the units; None derives it from the spread of the centres,
            ``γ = n_centers / d_max²``.
        alpha: the ridge penalty of the output weights.
        max_iter: the most k-means rounds.
        random_state: seed or ``RandomState`` for the k-means start.

    Attributes:
        classes_: the class labels, shape ``(n_classes,)``.
        centers_: shape ``(n_centers, n_features)``.
        gamma_: the γ used.
        coef_: output weights, shape ``(n_centers, n_classes)``.
        intercept_: shape ``(n_classes,)``.
        n_iter_: k-means rounds done.
        n_features_in_: number of features seen in ``fit``.
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Find the centres, then the output weights.

        Args:
            X: training samples, shape ``(n_samples, n_features)``.
            y: class labels, shape ``(n_samples,)``.

        Returns:
            self
        """
        X, y = validate_named(self, X, y, classifier=True, dtype=np.float64)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        self._fit_targets(X, np.eye(len(self.classes_))[encoded])
        return self

    def decision_function(self, X):
        """The network's outputs, shape ``(n_samples, n_classes)``.

        With two classes, the second output minus the first, shape ``(n_samples,)``.
        """
        outputs = self._outputs(X)
        return outputs[:, 1] - outputs[:, 0] if outputs.shape[1] == 2 else outputs

    def predict(self, X):
        """The class of the largest output (the first among equals), shape ``(n_samples,)``."""
        outputs = self._outputs(X)
        return self.classes_[np.argmax(outputs, axis=1)]


class RBFNetworkRegressor(RegressorMixin, _RBFNetwork):
    """Radial-basis-function network for real targets.

        φ_j(x) = exp(−γ ‖x − c_j‖²),   ŷ(x) = Σ_j w_j φ_j(x) + b,

    with the centres ``c_j`` found by k-means and ``w, b`` by ridge least
    squares (:func:`ridge`).

    Args:
        n_centers: number of Gaussian units.
        gamma: γ of the units; None derives it from the spread of the centres,
            ``γ = n_centers / d_max²``.
        alpha: the ridge penalty of the output weights.
        max_iter: the most k-means rounds.
        random_state: seed or ``RandomState`` for the k-means start.

    Attributes:
        centers_: shape ``(n_centers, n_features)``.
        gamma_: the γ used.
        coef_: output weights, shape ``(n_centers,)`` or ``(n_centers, n_outputs)``.
        intercept_: a float, or shape ``(n_outputs,)``.
        n_iter_: k-means rounds done.
        n_features_in_: number of features seen in ``fit``.
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Find the centres, then the output weights.

        Args:
            X: training samples, shape ``(n_samples, n_features)``.
            y: targets, shape ``(n_samples,)`` or ``(n_samples, n_outputs)``.

        Returns:
            self
        """
        X, y = validate_named(self, X, y, dtype=np.float64, y_numeric=True, multi_output=True)
        self._fit_targets(X, y.astype(np.float64))
        return self

    def predict(self, X):
        """The network's output, shape ``(n_samples,)`` or ``(n_samples, n_outputs)``."""
        return self._outputs(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
