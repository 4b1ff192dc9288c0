"""Linear models from scratch, with scikit-learn's estimator API and numbers.

Least squares, ridge, lasso and elastic net for regression; logistic
regression (binary and multinomial) for classification. Each estimator keeps
scikit-learn's names, defaults and objective scalings, so ``Lasso(alpha=0.1)``
here and ``sklearn.linear_model.Lasso(alpha=0.1)`` solve the same problem and
the tests compare their coefficients directly.

The solvers are short on purpose:

* :class:`LinearRegression` -- least squares through ``scipy.linalg.lstsq``;
* :class:`Ridge` and :func:`ridge_path` -- one singular value decomposition
  gives the solution for every ``alpha`` at once;
* :class:`Lasso`, :class:`ElasticNet`, :func:`lasso_path`, :func:`enet_path`
  -- cyclic coordinate descent with soft-thresholding, stopped by the duality
  gap exactly as scikit-learn stops it (:func:`coordinate_descent`);
* :class:`LogisticRegression` -- Newton's method (conjugate gradients on
  Hessian-vector products) or plain batch gradient descent.

Every model with an intercept is fitted on centred data (``X - X.mean(0)``,
``y - y.mean()``) and the intercept is recovered afterwards as
``y_mean - X_mean @ coef``: the intercept is never penalised.

Example::

    from course_lib.ml.linear import Lasso
    model = Lasso(alpha=0.1).fit(X, y)
    model.coef_, model.intercept_, model.predict(X[:5])
"""
from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy
import scipy.linalg
import scipy.special
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MultiOutputMixin,
    RegressorMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_array, check_is_fitted

from course_lib.ml._named_validation import validate_named


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def _validate(estimator, X, y="no_validation", **check_params):
    """Input checks in float64 whose errors name the estimator (``validate_named``)."""
    return validate_named(estimator, X, y, dtype=numpy.float64, **check_params)


def _center(X, y, fit_intercept):
    """Centre ``X`` and ``y`` when an intercept is fitted.

    Returns:
        ``(X_centered, y_centered, X_offset, y_offset)``; the offsets are zeros
        when ``fit_intercept`` is false.
    """
    if not fit_intercept:
        return X, y, numpy.zeros(X.shape[1]), numpy.zeros(y.shape[1:])
    X_offset, y_offset = X.mean(axis=0), y.mean(axis=0)
    return X - X_offset, y - y_offset, X_offset, y_offset


def _path_data(X, y, name):
    """``X`` (2-D) and ``y`` (1-D) in float64 for a path function, errors naming it."""
    X = check_array(X, dtype=numpy.float64, estimator=name, input_name="X")
    y = check_array(y, dtype=numpy.float64, ensure_2d=False, estimator=name, input_name="y")
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(
            f"{name}: y must be 1-D with one value per row of X. Received: X of shape {X.shape}, "
            f"y of shape {y.shape}"
        )
    return X, y


def _path_alphas(alphas, name):
    """A path function's grid of penalties as a 1-D float array of values ``>= 0``."""
    alphas = check_array(alphas, dtype=numpy.float64, ensure_2d=False, estimator=name, input_name="alphas")
    if alphas.ndim != 1 or numpy.any(alphas < 0):
        raise ValueError(f"{name}: alphas must be a 1-D array of values >= 0. Received: alphas={alphas}")
    return alphas


class _LinearRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Prediction ``X @ coef_.T + intercept_``, shared by every linear regressor here."""

    def _set_coef_and_intercept(self, coef, X_offset, y_offset):
        """Store ``coef`` (``(n_targets, n_features)``, or ``(n_features,)`` for 1-D ``y``)."""
        self.coef_ = coef
        if self.fit_intercept:
            self.intercept_ = y_offset - X_offset @ coef.T
        else:
            self.intercept_ = 0.0 if coef.ndim == 1 else numpy.zeros(coef.shape[0])

    def predict(self, X):
        """Predictions of the linear model.

        Args:
            X: array of shape ``(n_samples, n_features)``.

        Returns:
            array of shape ``(n_samples,)``, or ``(n_samples, n_targets)`` when
            the model was fitted on a 2-D ``y``.
        """
        check_is_fitted(self)
        X = _validate(self, X, reset=False)
        return X @ self.coef_.T + self.intercept_


# ---------------------------------------------------------------------------
# Least squares and ridge
# ---------------------------------------------------------------------------


class LinearRegression(_LinearRegressor):
    """Ordinary least squares.

    Minimises the residual sum of squares

        ||y - X w - b||²

    over ``w`` (and the intercept ``b``) with ``scipy.linalg.lstsq`` on centred
    data; when ``X`` is rank deficient (a singular value below
    ``max(n, p) * eps`` times the largest) this is the minimum-norm solution,
    the one ``X⁺ y`` (the pseudo-inverse) gives.

    Args:
        fit_intercept: fit an intercept ``b``; if false the model goes through
            the origin.

    Attributes:
        coef_: shape ``(n_features,)``, or ``(n_targets, n_features)`` for a 2-D ``y``.
        intercept_: float, or shape ``(n_targets,)``.
        rank_: rank of the (centred) ``X``.
        singular_: its singular values, shape ``(min(n_samples, n_features),)``.
        n_features_in_: number of columns seen in ``fit``.
    """

    _parameter_constraints: dict = {"fit_intercept": ["boolean"]}

    def __init__(self, fit_intercept=True):
        self.fit_intercept = fit_intercept

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit by least squares.

        Args:
            X: array of shape ``(n_samples, n_features)``.
            y: array of shape ``(n_samples,)`` or ``(n_samples, n_targets)``.

        Returns:
            self.
        """
        X, y = _validate(self, X, y, multi_output=True, y_numeric=True)
        X_centered, y_centered, X_offset, y_offset = _center(X, y, self.fit_intercept)
        # Singular values below max(n, p) * eps * s_max count as zero (NumPy's lstsq rule).
        cond = max(X.shape) * numpy.finfo(float).eps
        coef, _, self.rank_, self.singular_ = scipy.linalg.lstsq(X_centered, y_centered, cond=cond)
        self._set_coef_and_intercept(coef.T, X_offset, y_offset)
        return self


def _ridge_coefficients(X, y, alphas):
    """Ridge solutions for several ``alphas`` from one SVD ``X = U diag(s) Vᵀ``.

    ``w(alpha) = V diag(s / (s² + alpha)) Uᵀ y``: each direction of ``X`` is
    shrunk by ``s² / (s² + alpha)``. Singular values below the rank cutoff
    count as zero, so ``alpha = 0`` gives the minimum-norm least squares solution.

    Args:
        X: shape ``(n_samples, n_features)``.
        y: shape ``(n_samples,)`` or ``(n_samples, n_targets)``.
        alphas: shape ``(n_alphas,)``, non-negative.

    Returns:
        array of shape ``(n_alphas, n_features)`` or ``(n_alphas, n_features, n_targets)``.
    """
    U, s, Vt = numpy.linalg.svd(X, full_matrices=False)
    cutoff = numpy.finfo(float).eps * max(X.shape) * (s[0] if s.size else 0.0)
    denominators = s**2 + alphas[:, None]
    shrink = numpy.divide(s, denominators, out=numpy.zeros_like(denominators), where=s > cutoff)
    projections = U.T @ y  # (rank,) or (rank, n_targets)
    if y.ndim == 1:
        return (shrink * projections) @ Vt
    return numpy.einsum("ar,rt,rf->aft", shrink, projections, Vt)


class Ridge(_LinearRegressor):
    """Least squares with an L2 penalty, solved in closed form.

    Minimises

        ||y - X w - b||² + alpha ||w||²

    whose solution is ``w = (XᵀX + alpha I)⁻¹ Xᵀy`` on centred data, computed
    here through the SVD of ``X`` (see :func:`ridge_path`). The intercept ``b``
    is not penalised.

    Args:
        alpha: penalty strength, ``>= 0`` (``0`` is least squares).
        fit_intercept: fit an intercept.

    Attributes:
        coef_: shape ``(n_features,)``, or ``(n_targets, n_features)`` for a 2-D ``y``.
        intercept_: float, or shape ``(n_targets,)``.
        n_features_in_: number of columns seen in ``fit``.
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
    }

    def __init__(self, alpha=1.0, fit_intercept=True):
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the closed-form ridge solution.

        Args:
            X: array of shape ``(n_samples, n_features)``.
            y: array of shape ``(n_samples,)`` or ``(n_samples, n_targets)``.

        Returns:
            self.
        """
        X, y = _validate(self, X, y, multi_output=True, y_numeric=True)
        X_centered, y_centered, X_offset, y_offset = _center(X, y, self.fit_intercept)
        coef = _ridge_coefficients(X_centered, y_centered, numpy.array([float(self.alpha)]))[0]
        self._set_coef_and_intercept(coef.T, X_offset, y_offset)
        return self


@validate_params(
    {"X": ["array-like"], "y": ["array-like"], "alphas": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def ridge_path(X, y, alphas):
    """Ridge coefficients along a grid of penalties, from a single SVD.

    Solves ``min_w ||y - X w||² + alpha ||w||²`` for each ``alpha`` (no
    intercept: centre ``X`` and ``y`` first for a model with one).

    Args:
        X: array of shape ``(n_samples, n_features)``.
        y: array of shape ``(n_samples,)``.
        alphas: the penalties, shape ``(n_alphas,)``, each ``>= 0``; kept in the given order.

    Returns:
        ``(alphas, coefs)``: ``alphas`` as a float array and ``coefs`` of shape
        ``(n_features, n_alphas)`` (column ``k`` is the solution for ``alphas[k]``).
    """
    X, y = _path_data(X, y, "ridge_path")
    alphas = _path_alphas(alphas, "ridge_path")
    return alphas, _ridge_coefficients(X, y, alphas).T


# ---------------------------------------------------------------------------
# Lasso and elastic net: coordinate descent with the duality-gap stopping rule
# ---------------------------------------------------------------------------


def duality_gap(coef, gram_coef, xty, y_norm2, l1_reg, l2_reg, positive=False):
    """Duality gap of ``½||y - Xw||² + l1_reg ||w||₁ + (l2_reg / 2) ||w||²``.

    Everything comes from the Gram matrix, so ``X`` itself is not needed:
    ``||y - Xw||² = yᵀy - 2 wᵀXᵀy + wᵀ(XᵀX)w`` and ``Xᵀ(y - Xw) = Xᵀy - XᵀXw``.
    The dual point is the residual ``r``, scaled down until it is feasible
    (``||Xᵀr - l2_reg w||_∞ <= l1_reg``); the gap ``primal - dual`` is zero
    exactly at the optimum. Without an L1 term (ridge) the gap has a closed
    form; without any penalty it falls back to ``||Xᵀr||²``.

    Args:
        coef: current coefficients ``w``, shape ``(n_features,)``.
        gram_coef: ``XᵀX w``, shape ``(n_features,)``.
        xty: ``Xᵀy``, shape ``(n_features,)``.
        y_norm2: ``yᵀy``.
        l1_reg, l2_reg: the penalties of the un-normalised objective above.
        positive: coefficients are constrained to be ``>= 0``.

    Returns:
        the gap, a float ``>= 0`` (up to rounding).
    """
    coef_xty = coef @ xty
    residual_norm2 = y_norm2 - 2.0 * coef_xty + coef @ gram_coef
    residual_y = y_norm2 - coef_xty
    xt_residual = xty - gram_coef
    coef_norm2 = coef @ coef
    if l1_reg == 0.0:
        if l2_reg == 0.0:
            return xt_residual @ xt_residual
        return (residual_norm2 + 0.5 * l2_reg * coef_norm2 - residual_y
                + xt_residual @ xt_residual / (2.0 * l2_reg))
    correlations = xt_residual - l2_reg * coef
    dual_norm = correlations.max() if positive else numpy.abs(correlations).max()
    scale = l1_reg / dual_norm if dual_norm > l1_reg else 1.0
    primal = 0.5 * (residual_norm2 + l2_reg * coef_norm2) + l1_reg * numpy.abs(coef).sum()
    dual = -0.5 * scale**2 * (residual_norm2 + l2_reg * coef_norm2) + scale * residual_y
    return primal - dual


def coordinate_descent(gram, xty, y_norm2, coef, l1_reg, l2_reg, max_iter=1000, tol=1e-4,
                       positive=False, rng=None):
    """Minimise ``½||y - Xw||² + l1_reg ||w||₁ + (l2_reg / 2) ||w||²`` one coordinate at a time.

    Each step solves exactly for one ``w_j`` with the others fixed:

        rho_j = X_jᵀ (y - X w + X_j w_j) = (Xᵀy)_j - (XᵀX w)_j + (XᵀX)_jj w_j
        w_j  <- soft_threshold(rho_j, l1_reg) / ((XᵀX)_jj + l2_reg)

    with ``soft_threshold(rho, t) = sign(rho) max(|rho| - t, 0)``. ``XᵀX w`` is
    kept up to date with one row of the Gram matrix per changed coordinate.
    Stopping is scikit-learn's: after a sweep whose largest coefficient change
    is at most ``tol`` times the largest coefficient, the duality gap
    (:func:`duality_gap`) is computed, and the descent stops once it is at most
    ``tol * yᵀy``. (scikit-learn also screens out features proven to be zero at
    the optimum; that only saves work, so it is left out here.)

    Args:
        gram: ``XᵀX``, shape ``(n_features, n_features)``.
        xty: ``Xᵀy``, shape ``(n_features,)``.
        y_norm2: ``yᵀy``.
        coef: starting coefficients, shape ``(n_features,)``; updated in place.
        l1_reg, l2_reg: penalties (``alpha * l1_ratio * n_samples`` and
            ``alpha * (1 - l1_ratio) * n_samples`` for scikit-learn's scaling).
        max_iter: most sweeps over the coordinates.
        tol: relative tolerance, as above.
        positive: constrain the coefficients to be ``>= 0``.
        rng: a ``numpy.random.RandomState`` to visit coordinates in random
            order (drawn with replacement, ``n_features`` per sweep); ``None``
            visits them cyclically.

    Returns:
        ``(coef, gap, n_iter)``: the coefficients, the final duality gap and
        the number of sweeps (0 when the start already met the tolerance).
    """
    n_features = len(coef)
    diagonal, xty_list = numpy.diag(gram).tolist(), xty.tolist()
    gram_coef = gram @ coef
    gap_tol = tol * y_norm2
    gap = duality_gap(coef, gram_coef, xty, y_norm2, l1_reg, l2_reg, positive)
    if gap <= gap_tol:
        return coef, gap, 0
    for n_iter in range(1, max_iter + 1):
        order = range(n_features) if rng is None else rng.randint(n_features, size=n_features)
        largest_change = largest_coef = 0.0
        for j in order:
            if diagonal[j] == 0.0:  # an all-zero column stays at 0
                continue
            old = float(coef[j])
            rho = xty_list[j] - float(gram_coef[j]) + old * diagonal[j]
            shrunk = max(abs(rho) - l1_reg, 0.0) if not positive else max(rho - l1_reg, 0.0)
            new = (shrunk if rho >= 0 or positive else -shrunk) / (diagonal[j] + l2_reg)
            if new != old:
                gram_coef += (new - old) * gram[j]
                coef[j] = new
            largest_change = max(largest_change, abs(new - old))
            largest_coef = max(largest_coef, abs(new))
        if largest_coef == 0.0 or largest_change <= tol * largest_coef or n_iter == max_iter:
            gap = duality_gap(coef, gram_coef, xty, y_norm2, l1_reg, l2_reg, positive)
            if gap <= gap_tol:
                return coef, gap, n_iter
    warnings.warn(
        f"Coordinate descent did not converge in max_iter={max_iter} sweeps: duality gap "
        f"{gap:.3e} > tolerance {gap_tol:.3e}. Increase max_iter, raise tol, or scale the features.",
        ConvergenceWarning,
        stacklevel=3,
    )
    return coef, gap, max_iter


def _alpha_grid(xty, n_samples, l1_ratio, n_alphas, eps, positive):
    """``n_alphas`` values from ``alpha_max`` down to ``eps * alpha_max``, evenly on a log scale.

    ``alpha_max = max_j |X_jᵀy| / (n_samples * l1_ratio)`` is the smallest
    ``alpha`` at which every coefficient is zero.
    """
    correlation = max(xty.max(), 0.0) if positive else numpy.abs(xty).max()
    alpha_max = correlation / (n_samples * l1_ratio)
    if alpha_max <= numpy.finfo(float).resolution:
        return numpy.full(n_alphas, numpy.finfo(float).resolution)
    return numpy.geomspace(alpha_max, alpha_max * eps, num=n_alphas)


_PATH_CONSTRAINTS = {
    "X": ["array-like"],
    "y": ["array-like"],
    "eps": [Interval(Real, 0, None, closed="neither")],
    "n_alphas": [Interval(Integral, 1, None, closed="left")],
    "alphas": ["array-like", None],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "positive": ["boolean"],
}


@validate_params(
    {**_PATH_CONSTRAINTS, "l1_ratio": [Interval(Real, 0, 1, closed="right")]},
    prefer_skip_nested_validation=True,
)
def enet_path(X, y, *, l1_ratio=0.5, eps=1e-3, n_alphas=100, alphas=None, max_iter=1000,
              tol=1e-4, positive=False):
    """Elastic-net coefficients along a decreasing grid of ``alpha``, each warm-started from the last.

    For each ``alpha`` it minimises scikit-learn's objective

        1/(2 n) ||y - X w||² + alpha l1_ratio ||w||₁ + alpha (1 - l1_ratio)/2 ||w||²

    with :func:`coordinate_descent`. There is no intercept (centre ``X`` and
    ``y`` first for a model with one), as in ``sklearn.linear_model.enet_path``.

    Args:
        X: array of shape ``(n_samples, n_features)``.
        y: array of shape ``(n_samples,)``.
        l1_ratio: share of the L1 penalty, in ``(0, 1]``.
        eps: ``alpha_min / alpha_max`` of the automatic grid.
        n_alphas: length of the automatic grid.
        alphas: the grid itself (sorted into decreasing order); ``None`` for
            the automatic one.
        max_iter, tol, positive: as in :func:`coordinate_descent`.

    Returns:
        ``(alphas, coefs, dual_gaps)`` of shapes ``(n_alphas,)``,
        ``(n_features, n_alphas)`` and ``(n_alphas,)``; the gaps are divided
        by ``n_samples`` like scikit-learn's.
    """
    X, y = _path_data(X, y, "enet_path")
    n_samples, n_features = X.shape
    gram, xty, y_norm2 = X.T @ X, X.T @ y, y @ y
    if alphas is None:
        alphas = _alpha_grid(xty, n_samples, l1_ratio, n_alphas, eps, positive)
    else:
        alphas = numpy.sort(_path_alphas(alphas, "enet_path"))[::-1]
    coefs, dual_gaps = numpy.empty((n_features, len(alphas))), numpy.empty(len(alphas))
    coef = numpy.zeros(n_features)
    for k, alpha in enumerate(alphas):
        l1_reg, l2_reg = alpha * l1_ratio * n_samples, alpha * (1.0 - l1_ratio) * n_samples
        coef, gap, _ = coordinate_descent(gram, xty, y_norm2, coef, l1_reg, l2_reg, max_iter, tol, positive)
        coefs[:, k], dual_gaps[k] = coef, gap / n_samples
    return alphas, coefs, dual_gaps


@validate_params(_PATH_CONSTRAINTS, prefer_skip_nested_validation=True)
def lasso_path(X, y, *, alphas=None, n_alphas=100, eps=1e-3, max_iter=1000, tol=1e-4, positive=False):
    """Lasso coefficients along a decreasing grid of ``alpha``: :func:`enet_path` with ``l1_ratio=1``.

    Objective: ``1/(2 n) ||y - X w||² + alpha ||w||₁``, no intercept.

    Returns:
        ``(alphas, coefs, dual_gaps)`` as :func:`enet_path`.
    """
    X, y = _path_data(X, y, "lasso_path")  # checked here too, so that errors name lasso_path
    alphas = None if alphas is None else _path_alphas(alphas, "lasso_path")
    return enet_path(X, y, l1_ratio=1.0, eps=eps, n_alphas=n_alphas, alphas=alphas,
                     max_iter=max_iter, tol=tol, positive=positive)


class ElasticNet(_LinearRegressor):
    """Linear regression with a mixed L1 + L2 penalty, fitted by coordinate descent.

    Minimises scikit-learn's objective

        1/(2 n) ||y - X w - b||² + alpha l1_ratio ||w||₁ + alpha (1 - l1_ratio)/2 ||w||²

    (``n`` = number of samples; the intercept ``b`` is not penalised) with
    :func:`coordinate_descent` on centred data. ``l1_ratio=1`` is the lasso,
    ``l1_ratio=0`` ridge regression with penalty ``n * alpha``.

    Args:
        alpha: overall penalty strength, ``>= 0``.
        l1_ratio: share of the L1 penalty, in ``[0, 1]``.
        fit_intercept: fit an intercept.
        max_iter: most sweeps over the coordinates.
        tol: stop once the duality gap is at most ``tol * ||y - mean(y)||²``
            (checked after any sweep whose largest coefficient change is at
            most ``tol`` times the largest coefficient).
        warm_start: start from the previous ``coef_`` instead of zeros.
        positive: constrain the coefficients to be ``>= 0``.
        selection: ``"cyclic"`` visits the coordinates in order, ``"random"``
            picks them at random (with replacement).
        random_state: seed or ``RandomState`` for ``selection="random"``.

    Attributes:
        coef_: shape ``(n_features,)``, or ``(n_targets, n_features)`` for a 2-D ``y``.
        intercept_: float, or shape ``(n_targets,)``.
        dual_gap_: final duality gap of the objective above (per target for a 2-D ``y``).
        n_iter_: number of sweeps (a list, one per target, for a 2-D ``y``).
        n_features_in_: number of columns seen in ``fit``.
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "positive": ["boolean"],
        "selection": [StrOptions({"cyclic", "random"})],
        "random_state": ["random_state"],
    }

    def __init__(self, alpha=1.0, *, l1_ratio=0.5, fit_intercept=True, max_iter=1000, tol=1e-4,
                 warm_start=False, positive=False, random_state=None, selection="cyclic"):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.positive = positive
        self.random_state = random_state
        self.selection = selection

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit by coordinate descent (one run per column of a 2-D ``y``).

        Args:
            X: array of shape ``(n_samples, n_features)``.
            y: array of shape ``(n_samples,)`` or ``(n_samples, n_targets)``.

        Returns:
            self.
        """
        if self.alpha == 0:
            warnings.warn(
                f"{type(self).__name__}: with alpha=0 coordinate descent converges poorly; "
                "use LinearRegression for least squares.",
                UserWarning,
                stacklevel=2,
            )
        X, y = _validate(self, X, y, multi_output=True, y_numeric=True)
        X_centered, y_centered, X_offset, y_offset = _center(X, y, self.fit_intercept)
        targets = y_centered.reshape(len(y_centered), -1)  # (n_samples, n_targets)
        n_samples, n_features = X.shape
        if self.warm_start and hasattr(self, "coef_") and self.coef_.size == n_features * targets.shape[1]:
            coefs = numpy.array(self.coef_, dtype=float).reshape(targets.shape[1], n_features)
        else:
            coefs = numpy.zeros((targets.shape[1], n_features))
        rng = check_random_state(self.random_state) if self.selection == "random" else None
        l1_reg = self.alpha * self.l1_ratio * n_samples
        l2_reg = self.alpha * (1.0 - self.l1_ratio) * n_samples
        gram, xty = X_centered.T @ X_centered, X_centered.T @ targets
        gaps, n_iters = [], []
        for k in range(targets.shape[1]):
            _, gap, n_iter = coordinate_descent(
                gram, xty[:, k], targets[:, k] @ targets[:, k], coefs[k], l1_reg, l2_reg,
                self.max_iter, self.tol, self.positive, rng,
            )
            gaps.append(gap / n_samples)
            n_iters.append(n_iter)
        one_target = y.ndim == 1
        self.dual_gap_ = gaps[0] if one_target else numpy.array(gaps)
        self.n_iter_ = n_iters[0] if one_target else n_iters
        self._set_coef_and_intercept(coefs[0] if one_target else coefs, X_offset, y_offset)
        return self


class Lasso(ElasticNet):
    """Linear regression with an L1 penalty, fitted by coordinate descent.

    Minimises scikit-learn's objective

        1/(2 n) ||y - X w - b||² + alpha ||w||₁

    i.e. :class:`ElasticNet` with ``l1_ratio=1``. The L1 penalty sets
    coefficients exactly to zero: every ``|X_jᵀ r| / n <= alpha`` at the
    optimum (``r`` the residual), with equality where ``w_j != 0``.

    Args:
        alpha: penalty strength, ``>= 0``.
        fit_intercept, max_iter, tol, warm_start, positive, random_state,
        selection: as in :class:`ElasticNet`.

    Attributes:
        coef_, intercept_, dual_gap_, n_iter_, n_features_in_: as in :class:`ElasticNet`.
    """

    _parameter_constraints: dict = {
        key: value for key, value in ElasticNet._parameter_constraints.items() if key != "l1_ratio"
    }

    def __init__(self, alpha=1.0, *, fit_intercept=True, max_iter=1000, tol=1e-4, warm_start=False,
                 positive=False, random_state=None, selection="cyclic"):
        super().__init__(alpha=alpha, l1_ratio=1.0, fit_intercept=fit_intercept, max_iter=max_iter,
                         tol=tol, warm_start=warm_start, positive=positive,
                         random_state=random_state, selection=selection)


# ---------------------------------------------------------------------------
# Logistic regression
# ---------------------------------------------------------------------------


def logistic_loss_gradient(weights, X1, targets, l2_strength, penalised):
    """Mean log-loss plus ``(l2_strength / 2) ||W||²``, its gradient and the class probabilities.

    One output is the binary model (``p = sigmoid(X̃ w)``, ``targets`` in
    {0, 1}); several are the multinomial one (``P = softmax(X̃ Wᵀ)`` row by
    row, ``targets`` one-hot). Both have the same gradient
    ``(P - Y)ᵀ X̃ / n + l2_strength W``.

    Args:
        weights: ``W``, shape ``(n_outputs, n_columns)`` (intercept in the last column if any).
        X1: the design ``X̃``, shape ``(n_samples, n_columns)``.
        targets: ``Y``, shape ``(n_samples, n_outputs)``.
        l2_strength: ``1 / (C n)``, or 0 without a penalty.
        penalised: 1 for penalised columns, 0 for the intercept, shape ``(n_columns,)``.

    Returns:
        ``(loss, gradient, probabilities)``: a float, shape ``(n_outputs, n_columns)``
        and shape ``(n_samples, n_outputs)``.
    """
    scores = X1 @ weights.T
    if scores.shape[1] == 1:
        probabilities = scipy.special.expit(scores)
        losses = numpy.logaddexp(0.0, scores[:, 0]) - targets[:, 0] * scores[:, 0]
    else:
        log_normaliser = scipy.special.logsumexp(scores, axis=1, keepdims=True)
        probabilities = numpy.exp(scores - log_normaliser)
        losses = log_normaliser[:, 0] - numpy.sum(targets * scores, axis=1)
    loss = losses.mean() + 0.5 * l2_strength * numpy.sum(penalised * weights**2)
    gradient = (probabilities - targets).T @ X1 / len(X1) + l2_strength * penalised * weights
    return loss, gradient, probabilities


def logistic_hessian_product(direction, X1, probabilities, l2_strength, penalised):
    """The Hessian of :func:`logistic_loss_gradient` times ``direction``, without forming the Hessian.

    For one sample the loss's Hessian is ``(diag(p) - p pᵀ) ⊗ x xᵀ``; applied
    to a direction ``V`` it gives ``(p ∘ s - p (pᵀ s)) xᵀ`` with ``s = V x``.
    (One output: ``p (1 - p) s xᵀ``, the same formula.)

    Args:
        direction: ``V``, shape ``(n_outputs, n_columns)``.
        X1, l2_strength, penalised: as in :func:`logistic_loss_gradient`.
        probabilities: shape ``(n_samples, n_outputs)`` at the current weights.

    Returns:
        shape ``(n_outputs, n_columns)``.
    """
    weighted = probabilities * (X1 @ direction.T)
    weighted -= probabilities * weighted.sum(axis=1, keepdims=True)
    return weighted.T @ X1 / len(X1) + l2_strength * penalised * direction


def _conjugate_gradient(matvec, rhs, rtol, max_iter, preconditioner):
    """Approximately solve ``A x = rhs`` for a symmetric positive semi-definite ``A``.

    Preconditioned conjugate gradients: ``preconditioner`` approximates the
    diagonal of ``A`` (Jacobi preconditioning), which evens out features of
    very different scales. Stops when the residual's absolute sum is at most
    ``rtol`` times that of ``rhs``, after ``max_iter`` products, or at a
    direction of no curvature (then the preconditioned ``rhs`` is returned if
    nothing better was found).
    """
    solution, residual = numpy.zeros_like(rhs), rhs.copy()
    preconditioned = residual / preconditioner
    direction, residual_dot = preconditioned.copy(), numpy.sum(residual * preconditioned)
    target = rtol * numpy.abs(rhs).sum()
    for _ in range(max_iter):
        if numpy.abs(residual).sum() <= target:
            break
        product = matvec(direction)
        curvature = numpy.sum(direction * product)
        if curvature <= 0.0:
            break
        step = residual_dot / curvature
        solution += step * direction
        residual -= step * product
        preconditioned = residual / preconditioner
        residual_dot, previous = numpy.sum(residual * preconditioned), residual_dot
        direction = preconditioned + (residual_dot / previous) * direction
    return solution if solution.any() else rhs / preconditioner


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression, binary (sigmoid) or multinomial (softmax), with scikit-learn's ``C``.

    Minimises

        C Σ_i logloss(y_i, softmax(W x_i + b)) + ½ ||W||²

    (two classes: one weight vector and ``sigmoid(w·x + b)``; the intercept
    ``b`` is not penalised; ``penalty=None`` drops ``½ ||W||²``). The
    objective is divided by ``C n`` internally, as scikit-learn does, so the
    stopping rule ``max |gradient| <= tol`` is on the scale of a mean loss.

    Solvers:

    * ``"newton"``: Newton's method ``W <- W - t H⁻¹ g``. The Newton system
      ``H d = -g`` is solved by conjugate gradients from Hessian-vector
      products (:func:`logistic_hessian_product`), to a relative accuracy
      ``min(0.5, sqrt(||g||₁))`` that tightens as ``g`` shrinks, and ``t`` comes
      from a backtracking line search. For two classes, exact Newton steps
      are iteratively reweighted least squares. A few steps reach machine
      precision.
    * ``"gd"``: batch gradient descent ``W <- W - learning_rate g``. With
      ``learning_rate="auto"`` the step is ``1 / L``, where ``L = c ||X̃||₂² / n
      + 1 / (C n)`` bounds the curvature (``c = 1/4`` binary, ``1/2``
      softmax), so every step descends; it needs far more iterations than
      Newton (raise ``max_iter``).

    Args:
        penalty: ``"l2"`` or ``None``.
        C: inverse penalty strength, ``> 0``.
        fit_intercept: fit an intercept per output.
        solver: ``"newton"`` or ``"gd"``.
        max_iter: most iterations (Newton steps or gradient steps).
        tol: stop when the largest gradient entry is at most ``tol``.
        learning_rate: step of ``"gd"``: a float ``> 0`` or ``"auto"``.

    Attributes:
        classes_: the labels, sorted, shape ``(n_classes,)``.
        coef_: shape ``(1, n_features)`` for two classes, else ``(n_classes, n_features)``.
        intercept_: shape ``(1,)`` or ``(n_classes,)``.
        n_iter_: iterations used, shape ``(1,)``.
        n_features_in_: number of columns seen in ``fit``.
    """

    _parameter_constraints: dict = {
        "penalty": [StrOptions({"l2"}), None],
        "C": [Interval(Real, 0, None, closed="neither")],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"newton", "gd"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
    }

    def __init__(self, penalty="l2", *, C=1.0, fit_intercept=True, solver="newton", max_iter=100,
                 tol=1e-4, learning_rate="auto"):
        self.penalty = penalty
        self.C = C
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the weights.

        Args:
            X: array of shape ``(n_samples, n_features)``.
            y: labels, shape ``(n_samples,)``, at least two distinct values.

        Returns:
            self.
        """
        name = type(self).__name__
        X, y = _validate(self, X, y, classifier=True)
        self.classes_, labels = numpy.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{name} needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {self.classes_.tolist()[0]!r}"
            )
        n_samples, n_features = X.shape
        X1 = numpy.hstack([X, numpy.ones((n_samples, 1))]) if self.fit_intercept else X
        binary = len(self.classes_) == 2
        targets = labels[:, None].astype(float) if binary else numpy.eye(len(self.classes_))[labels]
        penalised = numpy.ones(X1.shape[1])
        penalised[n_features:] = 0.0  # the intercept column, if any
        l2_strength = 0.0 if self.penalty is None else 1.0 / (self.C * n_samples)
        problem = dict(X1=X1, l2_strength=l2_strength, penalised=penalised)
        weights = numpy.zeros((targets.shape[1], X1.shape[1]))
        if self.solver == "newton":
            weights, n_iter, converged = self._newton(weights, targets, problem)
        else:
            weights, n_iter, converged = self._gradient_descent(weights, targets, problem, binary)
        if not binary:  # softmax ignores a vector added to every class: report the zero-sum one
            weights = weights - weights.mean(axis=0)
        if not converged:
            warnings.warn(
                f"{name} (solver={self.solver!r}) did not converge in max_iter={self.max_iter} "
                f"iterations (tol={self.tol}). Increase max_iter or scale the features.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.n_iter_ = numpy.array([n_iter])
        self.coef_ = weights[:, :n_features]
        self.intercept_ = weights[:, n_features] if self.fit_intercept else numpy.zeros(len(weights))
        return self

    def _newton(self, weights, targets, problem):
        """Newton-CG steps with backtracking; returns ``(weights, n_iter, converged)``."""
        X1, l2_strength, penalised = problem["X1"], problem["l2_strength"], problem["penalised"]
        loss, gradient, probabilities = logistic_loss_gradient(weights, targets=targets, **problem)
        for n_iter in range(self.max_iter):
            if numpy.abs(gradient).max() <= self.tol:
                return weights, n_iter, True
            # The Hessian's diagonal, (p (1 - p))ᵀ X̃² / n + penalty, preconditions the solve.
            diagonal = (probabilities * (1 - probabilities)).T @ X1**2 / len(X1) + l2_strength * penalised
            step = _conjugate_gradient(
                lambda direction: logistic_hessian_product(direction, probabilities=probabilities, **problem),
                -gradient, rtol=min(0.5, numpy.sqrt(numpy.abs(gradient).sum())),
                max_iter=max(200, gradient.size), preconditioner=numpy.where(diagonal > 0, diagonal, 1.0),
            )
            slope, step_size = numpy.sum(gradient * step), 1.0
            while True:  # Armijo rule: accept once the loss falls by 1e-4 of the predicted decrease
                trial = logistic_loss_gradient(weights + step_size * step, targets=targets, **problem)
                if trial[0] <= loss + 1e-4 * step_size * slope or step_size < 1e-10:
                    break
                step_size /= 2
            weights = weights + step_size * step
            loss, gradient, probabilities = trial
        return weights, self.max_iter, numpy.abs(gradient).max() <= self.tol

    def _gradient_descent(self, weights, targets, problem, binary):
        """Fixed-step gradient descent; returns ``(weights, n_iter, converged)``."""
        learning_rate = self.learning_rate
        if learning_rate == "auto":
            curvature = 0.25 if binary else 0.5
            X1 = problem["X1"]
            learning_rate = 1.0 / (curvature * numpy.linalg.norm(X1, 2) ** 2 / len(X1) + problem["l2_strength"])
        for n_iter in range(self.max_iter):
            gradient = logistic_loss_gradient(weights, targets=targets, **problem)[1]
            if numpy.abs(gradient).max() <= self.tol:
                return weights, n_iter, True
            weights = weights - learning_rate * gradient
        gradient = logistic_loss_gradient(weights, targets=targets, **problem)[1]
        return weights, self.max_iter, numpy.abs(gradient).max() <= self.tol

    def decision_function(self, X):
        """Linear scores ``X @ coef_.T + intercept_``.

        Args:
            X: array of shape ``(n_samples, n_features)``.

        Returns:
            shape ``(n_samples,)`` for two classes (the score of ``classes_[1]``),
            else ``(n_samples, n_classes)``.
        """
        check_is_fitted(self)
        X = _validate(self, X, reset=False)
        scores = X @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Args:
            X: array of shape ``(n_samples, n_features)``.

        Returns:
            shape ``(n_samples, n_classes)``, rows summing to 1.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            positive = scipy.special.expit(scores)
            return numpy.column_stack([1.0 - positive, positive])
        return scipy.special.softmax(scores, axis=1)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, shape ``(n_samples, n_classes)``."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return numpy.column_stack([-numpy.logaddexp(0.0, scores), -numpy.logaddexp(0.0, -scores)])
        return scipy.special.log_softmax(scores, axis=1)

    def predict(self, X):
        """The most probable class for each row, shape ``(n_samples,)``."""
        scores = self.decision_function(X)
        indices = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[indices]
