"""Linear discriminant analysis: a Gaussian classifier with one shared covariance, and its projection.

Each class ``c`` is modelled as a normal distribution with its own mean
``μ_c`` and a covariance ``Σ`` shared by all classes. The log-posterior is
then linear in ``x``,

    δ_c(x) = x·Σ⁻¹μ_c − ½ μ_c·Σ⁻¹μ_c + log π_c,

and the directions that separate the class means best relative to the
within-class spread (Fisher's criterion: largest ``vᵀ S_b v / vᵀ S_w v``)
give a projection to at most ``n_classes − 1`` dimensions.
"""
import warnings
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from scipy.special import expit, softmax
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from course_lib.ml._named_validation import validate_named

__all__ = ["LinearDiscriminantAnalysis", "ledoit_wolf_covariance"]


def ledoit_wolf_covariance(X):
    """Ledoit and Wolf's shrunk covariance: ``(1 − s) S + s μ I`` with the shrinkage ``s`` estimated.

    ``S`` is the biased sample covariance and ``μ = trace(S) / n_features``.
    With ``X`` centred, ``δ = ‖S − μ I‖²_F / n_features`` measures how far
    ``S`` is from a multiple of the identity and
    ``β = (Σ_i ‖x_i x_iᵀ − S‖²_F / n_samples²) / n_features`` how noisy
    ``S`` is; the shrinkage is ``s = min(β, δ) / δ``.

    Args:
        X: samples, shape ``(n_samples, n_features)``.

    Returns:
        ``(covariance, shrinkage)``: array of shape ``(n_features, n_features)`` and a float.
    """
    n_samples, n_features = X.shape
    X = X - X.mean(axis=0)
    covariance = X.T @ X / n_samples
    if n_features == 1:
        return covariance, 0.0
    mu = np.trace(covariance) / n_features
    delta = ((covariance - mu * np.eye(n_features)) ** 2).sum() / n_features
    # Σ_i ‖x_i x_iᵀ − S‖² = Σ_i ‖x_i‖⁴ − n ‖S‖², with Σ_i ‖x_i‖⁴ = sum of (X²)ᵀ X².
    squares = X**2
    beta = ((squares.T @ squares).sum() / n_samples - (covariance**2).sum()) / (n_features * n_samples)
    shrinkage = 0.0 if delta == 0 else min(beta, delta) / delta
    return (1.0 - shrinkage) * covariance + shrinkage * mu * np.eye(n_features), shrinkage


def _covariance(X, shrinkage):
    """Biased covariance of ``X``: plain, shrunk by a fixed amount, or by Ledoit-Wolf (``"auto"``)."""
    if shrinkage == "auto":
        # Ledoit-Wolf on standardised features, then back to the original units.
        scale = X.std(axis=0)
        scale[scale == 0] = 1.0
        shrunk, _ = ledoit_wolf_covariance((X - X.mean(axis=0)) / scale)
        return scale[:, None] * shrunk * scale[None, :]
    centred = X - X.mean(axis=0)
    covariance = centred.T @ centred / len(X)
    if shrinkage is None:
        return covariance
    mu = np.trace(covariance) / covariance.shape[0]
    return (1.0 - shrinkage) * covariance + shrinkage * mu * np.eye(covariance.shape[0])


class LinearDiscriminantAnalysis(ClassNamePrefixFeaturesOutMixin, ClassifierMixin, TransformerMixin, BaseEstimator):
    """Linear discriminant analysis (Fisher, Rao): classifier and supervised projection.

    Decision function of class ``c`` (the log-posterior up to a constant):

        δ_c(x) = x·Σ⁻¹μ_c − ½ μ_c·Σ⁻¹μ_c + log π_c,

    ``Σ = Σ_c π_c Σ_c`` the prior-weighted within-class covariance. The
    projection ``transform(x) = (x − x̄) V`` uses the directions ``V`` that
    maximise the between-class over the within-class variance; they solve
    ``S_b v = λ S_w v``, with ``λ`` the variance explained.

    Solvers:

    * ``"svd"`` never forms a covariance: it whitens the within-class
      centred data by an SVD, then finds the directions of the whitened class
      means by a second SVD. Stable when ``Σ`` is singular; no shrinkage.
    * ``"eigen"`` forms ``S_w`` (optionally shrunk) and the total covariance
      ``S_t`` and solves the generalised eigenproblem ``(S_t − S_w) v = λ S_w v``.

    Args:
        solver: ``"svd"`` or ``"eigen"``.
        shrinkage: eigen only: None, ``"auto"`` (Ledoit-Wolf) or a float in
            [0, 1], the weight of ``μ I`` in ``(1 − s) S + s μ I``.
        priors: the class probabilities ``π``, shape ``(n_classes,)``; by
            default the classes' shares of the training set.
        n_components: dimensions kept by ``transform``, at most
            ``min(n_classes − 1, n_features)`` (the default).
        store_covariance: svd only: also compute ``covariance_`` (the eigen
            solver always does).
        tol: svd only: singular values below ``tol`` count as zero (rank).

    Attributes:
        classes_: the class labels, shape ``(n_classes,)``.
        priors_: ``π``, shape ``(n_classes,)``.
        means_: the class means, shape ``(n_classes, n_features)``.
        xbar_: svd only: the overall mean ``Σ_c π_c μ_c``.
        covariance_: ``Σ``, shape ``(n_features, n_features)`` (see ``store_covariance``).
        scalings_: the directions ``V``, one per column.
        explained_variance_ratio_: share of the between-class variance of each direction.
        coef_: shape ``(n_classes, n_features)``, or ``(1, n_features)`` for two classes.
        intercept_: shape ``(n_classes,)``, or ``(1,)`` for two classes.
        n_features_in_: number of features seen in ``fit``.
    """

    _parameter_constraints: dict = {
        "solver": [StrOptions({"svd", "eigen"})],
        "shrinkage": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="both"), None],
        "priors": ["array-like", None],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "store_covariance": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, solver="svd", shrinkage=None, priors=None, n_components=None,
                 store_covariance=False, tol=1e-4):
        self.solver = solver
        self.shrinkage = shrinkage
        self.priors = priors
        self.n_components = n_components
        self.store_covariance = store_covariance
        self.tol = tol

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Estimate the means, the shared covariance (or its whitening) and the directions.

        Args:
            X: training samples, shape ``(n_samples, n_features)``.
            y: class labels, shape ``(n_samples,)``.

        Returns:
            self

        Raises:
            ValueError: with fewer than two classes, as many samples as
                classes, negative priors or too many components.
            NotImplementedError: shrinkage with the svd solver.
        """
        X, y = validate_named(self, X, y, classifier=True, dtype=np.float64, ensure_min_samples=2)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        n_samples, n_features = X.shape
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(
                f"LinearDiscriminantAnalysis needs at least 2 classes; got 1 class ({self.classes_.tolist()[0]!r})"
            )
        if n_samples == n_classes:
            raise ValueError(
                f"LinearDiscriminantAnalysis: The number of samples must be more than the number of classes. "
                f"Received: {n_samples} samples of {n_classes} classes"
            )
        if self.solver == "svd" and self.shrinkage is not None:
            raise NotImplementedError("LinearDiscriminantAnalysis: shrinkage not supported with 'svd' solver.")
        self.priors_ = self._checked_priors(encoded, n_classes)
        largest = min(n_classes - 1, n_features)
        if self.n_components is not None and self.n_components > largest:
            raise ValueError(
                f"LinearDiscriminantAnalysis: n_components cannot be larger than min(n_features, n_classes - 1) "
                f"= {largest}. Received: n_components={self.n_components}"
            )
        self._max_components = largest if self.n_components is None else self.n_components
        self.means_ = np.array([X[encoded == c].mean(axis=0) for c in range(n_classes)])
        if self.solver == "svd":
            self._solve_svd(X, encoded)
        else:
            self._solve_eigen(X, encoded)
        if n_classes == 2:  # one decision function: log-odds of the second class
            self.coef_ = self.coef_[1:] - self.coef_[:1]
            self.intercept_ = self.intercept_[1:] - self.intercept_[:1]
        self._n_features_out = self._max_components
        return self

    def _checked_priors(self, encoded, n_classes):
        if self.priors is None:
            return np.bincount(encoded, minlength=n_classes) / len(encoded)
        priors = np.asarray(self.priors, dtype=np.float64)
        if priors.shape != (n_classes,):
            raise ValueError(
                f"LinearDiscriminantAnalysis: Number of priors must match number of classes. "
                f"Received: {priors.size} priors for {n_classes} classes"
            )
        if np.any(priors < 0):
            raise ValueError(f"LinearDiscriminantAnalysis: priors must be non-negative. Received: {priors.tolist()}")
        if abs(priors.sum() - 1.0) > 1e-5:
            warnings.warn("LinearDiscriminantAnalysis: The priors do not sum to 1. Renormalizing", UserWarning)
            priors = priors / priors.sum()
        return priors

    def _within_class_covariance(self, X, encoded, shrinkage=None):
        return sum(prior * _covariance(X[encoded == c], shrinkage) for c, prior in enumerate(self.priors_))

    def _solve_svd(self, X, encoded):
        """Two SVDs: whiten the within-class scatter, then span the whitened class means."""
        n_samples = len(X)
        n_classes = len(self.classes_)
        if self.store_covariance:
            self.covariance_ = self._within_class_covariance(X, encoded)
        self.xbar_ = self.priors_ @ self.means_
        within = X - self.means_[encoded]
        # Scale each feature by its within-class spread so that the rank test below is unit-free.
        spread = within.std(axis=0)
        spread[spread == 0] = 1.0
        _, singular, Vt = linalg.svd(within / spread / np.sqrt(n_samples), full_matrices=False)
        rank = np.sum(singular > self.tol)
        # Whitening: x ↦ x W has identity within-class covariance.
        whitening = (Vt[:rank] / spread).T / singular[:rank]
        # Class means, centred, weighted by √(n π_c / (n_classes − 1)), in whitened space.
        weighted_means = np.sqrt(n_samples * self.priors_ / (n_classes - 1))[:, None] * (self.means_ - self.xbar_)
        _, singular, Vt = linalg.svd(weighted_means @ whitening, full_matrices=False)
        self.explained_variance_ratio_ = (singular**2 / np.sum(singular**2))[: self._max_components]
        rank = np.sum(singular > self.tol * singular[0])
        self.scalings_ = whitening @ Vt.T[:, :rank]
        projected_means = (self.means_ - self.xbar_) @ self.scalings_
        self.coef_ = projected_means @ self.scalings_.T
        self.intercept_ = -0.5 * np.sum(projected_means**2, axis=1) + np.log(self.priors_) - self.coef_ @ self.xbar_

    def _solve_eigen(self, X, encoded):
        """The generalised eigenproblem ``S_b v = λ S_w v`` with ``S_b = S_t − S_w``."""
        self.covariance_ = self._within_class_covariance(X, encoded, self.shrinkage)
        between = _covariance(X, self.shrinkage) - self.covariance_
        eigenvalues, eigenvectors = linalg.eigh(between, self.covariance_)
        order = np.argsort(eigenvalues)[::-1]
        self.explained_variance_ratio_ = (eigenvalues[order] / eigenvalues.sum())[: self._max_components]
        self.scalings_ = eigenvectors[:, order]
        self.coef_ = self.means_ @ self.scalings_ @ self.scalings_.T
        self.intercept_ = -0.5 * np.sum(self.means_ * self.coef_, axis=1) + np.log(self.priors_)

    def _validated(self, X):
        check_is_fitted(self)
        return validate_named(self, X, reset=False, dtype=np.float64)

    def decision_function(self, X):
        """``δ_c(x)`` for each class, or the log-odds ``δ_1 − δ_0`` for two classes.

        Args:
            X: samples, shape ``(n_samples, n_features)``.

        Returns:
            Array of shape ``(n_samples, n_classes)``, or ``(n_samples,)`` for two classes.
        """
        scores = self._validated(X) @ self.coef_.T + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """The class of largest decision function.

        Args:
            X: samples, shape ``(n_samples, n_features)``.

        Returns:
            Array of shape ``(n_samples,)`` of labels from ``classes_``.
        """
        scores = self.decision_function(X)
        best = (scores > 0).astype(int) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return self.classes_[best]

    def predict_proba(self, X):
        """Posterior probability of each class (softmax of the decision functions).

        Args:
            X: samples, shape ``(n_samples, n_features)``.

        Returns:
            Array of shape ``(n_samples, n_classes)``, rows summing to 1.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            positive = expit(scores)
            return np.column_stack([1.0 - positive, positive])
        return softmax(scores, axis=1)

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba` (zeros raised to the smallest normal float first)."""
        probabilities = self.predict_proba(X)
        return np.log(np.maximum(probabilities, np.finfo(probabilities.dtype).smallest_normal))

    def transform(self, X):
        """Project onto the discriminant directions.

        Args:
            X: samples, shape ``(n_samples, n_features)``.

        Returns:
            Array of shape ``(n_samples, n_components)`` (fewer columns with
            the svd solver when the class means span fewer dimensions).
        """
        X = self._validated(X)
        centred = X - self.xbar_ if self.solver == "svd" else X
        return (centred @ self.scalings_)[:, : self._max_components]
