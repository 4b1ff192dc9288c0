"""Naive Bayes classifiers: Gaussian features and counts (multinomial).

Both apply Bayes's rule with features taken as independent given the class,

    log P(c | x) = log P(c) + Σ_f log P(x_f | c) − log P(x),

and differ in the model of ``P(x_f | c)``. ``log P(x)`` is the log-sum-exp
of the numerators over the classes, computed without overflow.
"""
import abc
import warnings
from numbers import Real

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, check_non_negative

from course_lib.ml._named_validation import validate_named

__all__ = ["GaussianNB", "MultinomialNB"]


class _NaiveBayes(ClassifierMixin, BaseEstimator, metaclass=abc.ABCMeta):
    """Prediction from the joint log-likelihood ``log P(c) + log P(x | c)`` that subclasses define."""

    @abc.abstractmethod
    def _joint_log_likelihood(self, X):
        """``(n_samples, n_classes)``: ``log P(c) + log P(x | c)`` for each sample and class."""

    def _check_X(self, X):
        check_is_fitted(self)
        return validate_named(self, X, reset=False, dtype=np.float64)

    def predict_log_proba(self, X):
        """Log of the posterior probability of each class.

        Args:
            X: samples, shape ``(n_samples, n_features)``.

        Returns:
            Array of shape ``(n_samples, n_classes)``, columns in the order of ``classes_``.
        """
        joint = self._joint_log_likelihood(self._check_X(X))
        return joint - logsumexp(joint, axis=1, keepdims=True)

    def predict_proba(self, X):
        """Posterior probability of each class.

        Args:
            X: samples, shape ``(n_samples, n_features)``.

        Returns:
            Array of shape ``(n_samples, n_classes)``, rows summing to 1.
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """The class of highest posterior probability.

        Args:
            X: samples, shape ``(n_samples, n_features)``.

        Returns:
            Array of shape ``(n_samples,)`` of labels from ``classes_``.
        """
        joint = self._joint_log_likelihood(self._check_X(X))
        return self.classes_[np.argmax(joint, axis=1)]


class GaussianNB(_NaiveBayes):
    """Naive Bayes with a normal distribution for each feature in each class.

        log P(x | c) = −½ Σ_f [ log(2π σ²_cf) + (x_f − θ_cf)² / σ²_cf ],

    where ``θ_cf`` and ``σ²_cf`` are the mean and the (biased) variance of
    feature ``f`` over the training samples of class ``c``. Every variance is
    increased by ``ε = var_smoothing · max_f Var(x_f)`` (the largest variance
    of a feature over the whole training set), so that a feature constant
    within a class does not divide by zero.

    Args:
        priors: the class probabilities ``P(c)``, shape ``(n_classes,)``; by
            default the classes' shares of the training set.
        var_smoothing: the fraction of the largest feature variance added to
            every variance.

    Attributes:
        classes_: the class labels, shape ``(n_classes,)``.
        class_count_: training samples in each class.
        class_prior_: ``P(c)``, shape ``(n_classes,)``.
        theta_: the means ``θ``, shape ``(n_classes, n_features)``.
        var_: the smoothed variances ``σ²``, shape ``(n_classes, n_features)``.
        epsilon_: the ``ε`` added to the variances.
        n_features_in_: number of features seen in ``fit``.
    """

    _parameter_constraints: dict = {
        "priors": ["array-like", None],
        "var_smoothing": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, *, priors=None, var_smoothing=1e-9):
        self.priors = priors
        self.var_smoothing = var_smoothing

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Estimate the class priors, means and variances.

        Args:
            X: training samples, shape ``(n_samples, n_features)``.
            y: class labels, shape ``(n_samples,)``.

        Returns:
            self

        Raises:
            ValueError: when ``priors`` has the wrong length, does not sum to
                1 or has a negative entry.
        """
        X, y = validate_named(self, X, y, classifier=True, dtype=np.float64)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        self.class_count_ = np.bincount(encoded, minlength=n_classes).astype(np.float64)
        self.theta_ = np.array([X[encoded == c].mean(axis=0) for c in range(n_classes)])
        self.epsilon_ = self.var_smoothing * np.var(X, axis=0).max()
        self.var_ = np.array([X[encoded == c].var(axis=0) for c in range(n_classes)]) + self.epsilon_
        self.class_prior_ = self._checked_priors(n_classes)
        return self

    def _checked_priors(self, n_classes):
        if self.priors is None:
            return self.class_count_ / self.class_count_.sum()
        priors = np.asarray(self.priors, dtype=np.float64)
        if priors.shape != (n_classes,):
            raise ValueError(
                f"GaussianNB: Number of priors must match number of classes. "
                f"Received: {priors.size} priors for {n_classes} classes"
            )
        if not np.isclose(priors.sum(), 1.0):
            raise ValueError(f"GaussianNB: The sum of the priors should be 1. Received: sum={float(priors.sum())!r}")
        if np.any(priors < 0):
            raise ValueError(f"GaussianNB: Priors must be non-negative. Received: priors={priors.tolist()}")
        return priors

    def _joint_log_likelihood(self, X):
        log_normaliser = -0.5 * np.log(2.0 * np.pi * self.var_).sum(axis=1)
        squared = ((X[:, None, :] - self.theta_[None, :, :]) ** 2 / self.var_[None, :, :]).sum(axis=2)
        return np.log(self.class_prior_) + log_normaliser - 0.5 * squared


class MultinomialNB(_NaiveBayes):
    """Naive Bayes for counts (word counts, pixel intensities): one multinomial per class.

        log P(x | c) = Σ_f x_f log p_cf + const,   p_cf = (N_cf + α) / (Σ_g N_cg + α n_features),

    where ``N_cf`` is the total of feature ``f`` over the training samples of
    class ``c`` and ``α`` the additive (Laplace, Lidstone) smoothing. The
    constant (the multinomial coefficient) is the same for every class and is
    left out.

    Args:
        alpha: the smoothing α, a float ≥ 0 or one per feature.
        fit_prior: learn ``P(c)`` from the class shares; when False every
            class gets ``1 / n_classes``.
        class_prior: ``P(c)`` given explicitly, shape ``(n_classes,)``.
        force_alpha: keep ``alpha`` as given even when below ``1e-10``; when
            False such an ``alpha`` is raised to ``1e-10`` with a warning.

    Attributes:
        classes_: the class labels, shape ``(n_classes,)``.
        class_count_: training samples in each class.
        class_log_prior_: ``log P(c)``, shape ``(n_classes,)``.
        feature_count_: ``N_cf``, shape ``(n_classes, n_features)``.
        feature_log_prob_: ``log p_cf``, shape ``(n_classes, n_features)``.
        n_features_in_: number of features seen in ``fit``.
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="left"), "array-like"],
        "fit_prior": ["boolean"],
        "class_prior": ["array-like", None],
        "force_alpha": ["boolean"],
    }

    def __init__(self, *, alpha=1.0, force_alpha=True, fit_prior=True, class_prior=None):
        self.alpha = alpha
        self.force_alpha = force_alpha
        self.fit_prior = fit_prior
        self.class_prior = class_prior

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Count the features of each class and smooth the counts into probabilities.

        Args:
            X: training counts, shape ``(n_samples, n_features)``, non-negative.
            y: class labels, shape ``(n_samples,)``.

        Returns:
            self

        Raises:
            ValueError: for a negative count, a negative ``alpha`` entry or a
                ``class_prior`` of the wrong length.
        """
        X, y = validate_named(self, X, y, classifier=True, dtype=np.float64)
        check_non_negative(X, "MultinomialNB (input X)")
        self.classes_, encoded = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        membership = np.eye(n_classes)[encoded]  # one-hot, shape (n_samples, n_classes)
        self.class_count_ = membership.sum(axis=0)
        self.feature_count_ = membership.T @ X
        smoothed = self.feature_count_ + self._checked_alpha()
        self.feature_log_prob_ = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))
        self.class_log_prior_ = self._log_prior(n_classes)
        return self

    def _checked_alpha(self):
        alpha = np.asarray(self.alpha, dtype=np.float64)
        if alpha.ndim == 1:
            if alpha.shape[0] != self.n_features_in_:
                raise ValueError(
                    f"MultinomialNB: When alpha is an array, it should contain one value per feature. "
                    f"Received: {alpha.shape[0]} values for {self.n_features_in_} features"
                )
            if np.any(alpha < 0):
                raise ValueError(f"MultinomialNB: All values in alpha must be ≥ 0. Received: alpha={alpha.tolist()}")
        if alpha.min() < 1e-10 and not self.force_alpha:
            warnings.warn(
                "MultinomialNB: alpha too small will result in numeric errors, setting alpha = 1.0e-10. "
                "Use `force_alpha=True` to keep alpha unchanged."
            )
            return np.maximum(alpha, 1e-10)
        return alpha

    def _log_prior(self, n_classes):
        if self.class_prior is not None:
            prior = np.asarray(self.class_prior, dtype=np.float64)
            if prior.shape != (n_classes,):
                raise ValueError(
                    f"MultinomialNB: Number of priors must match number of classes. "
                    f"Received: {prior.size} priors for {n_classes} classes"
                )
            return np.log(prior)
        if not self.fit_prior:
            return np.full(n_classes, -np.log(n_classes))
        return np.log(self.class_count_) - np.log(self.class_count_.sum())

    def _check_X(self, X):
        X = super()._check_X(X)
        check_non_negative(X, "MultinomialNB (input X)")
        return X

    def _joint_log_likelihood(self, X):
        return X @ self.feature_log_prob_.T + self.class_log_prior_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        # As scikit-learn's: counts models score poorly on the common checks' shifted Gaussian blobs.
        tags.classifier_tags.poor_score = True
        return tags
