"""Two classic regressions scikit-learn does not ship: forward stepwise selection and LOESS.

* :class:`ForwardStepwiseRegression` grows a least-squares model one feature
  at a time, stopping by Akaike's information criterion or by the t-test
  p-value of the feature it would add (the statistics are computed here with
  ``scipy.stats``, no statsmodels needed).
* :class:`LocallyWeightedRegression` (LOESS) fits, around every query point,
  a low-degree polynomial by weighted least squares on its nearest training
  points; all query points are solved at once with batched linear algebra.

Both follow scikit-learn's estimator API (``fit``/``predict``/``score``).

Example::

    from course_lib.ml.regression import ForwardStepwiseRegression
    model = ForwardStepwiseRegression(criterion="pvalue", threshold=0.01).fit(X, y)
    model.selected_features_, model.coef_
"""
from __future__ import annotations

import itertools
from numbers import Integral, Real

import numpy
import scipy.linalg
import scipy.spatial.distance
import scipy.stats
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from course_lib.ml.linear import _center, _validate


class ForwardStepwiseRegression(RegressorMixin, BaseEstimator):
    """Least squares on features chosen one at a time (forward stepwise selection).

    Start from the intercept-only model. At each step every unused feature is
    tried as the next one; the candidate that lowers the residual sum of
    squares ``RSS`` the most is the one with the lowest AIC among models of
    that size and also the one with the smallest p-value, so both criteria
    pick it. It enters the model if

    * ``criterion="aic"``: the Gaussian AIC ``n log(RSS / n) + 2 k`` (``k``
      coefficients, intercept included) falls by more than ``threshold``
      (default 0: any decrease);
    * ``criterion="pvalue"``: the two-sided t-test of its coefficient in the
      enlarged model, ``t² = (RSS_before - RSS_after) / (RSS_after / (n - k))``
      on ``n - k`` degrees of freedom, gives a p-value below ``threshold``
      (default 0.05);

    otherwise, or once ``max_features`` are in, the search stops. The final
    model is ordinary least squares on the chosen columns.

    The candidates are scored together: with ``Q`` an orthonormal basis of
    the chosen (centred) columns and ``r`` the current residual, candidate
    ``j`` lowers the RSS by ``(z_jᵀ r)² / ||z_j||²``, where
    ``z_j = x_j - Q Qᵀ x_j`` is the part of ``x_j`` the model cannot yet
    explain.

    Args:
        criterion: ``"aic"`` or ``"pvalue"``.
        threshold: the entry threshold described above; ``None`` for the default.
        max_features: most features to select; ``None`` for no limit (at most
            ``n_samples - 2`` with an intercept, so a residual degree of freedom remains).
        fit_intercept: include an intercept (always in the model, never tested).

    Attributes:
        selected_features_: column indices in the order they entered, shape ``(n_selected,)``.
        support_: boolean mask of the selected columns, shape ``(n_features,)``.
        criterion_values_: after each entry, the model's AIC (``"aic"``) or the
            entering feature's p-value (``"pvalue"``), shape ``(n_selected,)``.
        aic_: AIC of the final model.
        coef_: shape ``(n_features,)``, zero for unselected columns.
        intercept_: float.
        n_features_in_: number of columns seen in ``fit``.
    """

    _parameter_constraints: dict = {
        "criterion": [StrOptions({"aic", "pvalue"})],
        "threshold": [Interval(Real, None, None, closed="both"), None],
        "max_features": [Interval(Integral, 1, None, closed="left"), None],
        "fit_intercept": ["boolean"],
    }

    def __init__(self, criterion="aic", threshold=None, max_features=None, fit_intercept=True):
        self.criterion = criterion
        self.threshold = threshold
        self.max_features = max_features
        self.fit_intercept = fit_intercept

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Select features forward, then fit least squares on them.

        Args:
            X: array of shape ``(n_samples, n_features)``.
            y: array of shape ``(n_samples,)``.

        Returns:
            self.
        """
        name = type(self).__name__
        X, y = _validate(self, X, y, y_numeric=True)
        threshold = self.threshold
        if threshold is None:
            threshold = 0.0 if self.criterion == "aic" else 0.05
        if self.criterion == "pvalue" and not 0.0 < threshold <= 1.0:
            raise ValueError(f"{name}: a p-value threshold must be in (0, 1]. Received: threshold={threshold}")
        n_samples, n_features = X.shape
        X_centered, y_centered, X_offset, y_offset = _center(X, y, self.fit_intercept)
        n_params = int(self.fit_intercept)
        limit = min(self.max_features or n_features, n_features, n_samples - n_params - 1)

        def aic(rss):
            return n_samples * numpy.log(max(rss, numpy.finfo(float).tiny) / n_samples) + 2 * n_params

        basis = numpy.empty((n_samples, 0))
        residual = y_centered.copy()
        rss = residual @ residual
        current_aic = aic(rss)
        selected, values = [], []
        while len(selected) < limit and rss > 1e-12 * (y_centered @ y_centered):
            candidates = numpy.setdiff1d(numpy.arange(n_features), selected)
            columns = X_centered[:, candidates]
            unexplained = columns - basis @ (basis.T @ columns)
            unexplained -= basis @ (basis.T @ unexplained)  # twice, for orthogonality in floating point
            norms2 = numpy.sum(unexplained**2, axis=0)
            usable = norms2 > 1e-10 * numpy.maximum(numpy.sum(columns**2, axis=0), numpy.finfo(float).tiny)
            if not usable.any():
                break  # every remaining column is a combination of the chosen ones (or constant)
            gains = numpy.where(usable, (unexplained.T @ residual) ** 2 / numpy.where(usable, norms2, 1.0), -1.0)
            best = int(gains.argmax())
            new_rss = max(rss - gains[best], 0.0)
            n_params += 1
            new_aic = aic(new_rss)
            with numpy.errstate(over="ignore", divide="ignore"):  # a perfect fit: t = inf, p = 0
                t_squared = gains[best] / (new_rss / (n_samples - n_params))
            p_value = 2.0 * scipy.stats.t.sf(numpy.sqrt(t_squared), df=n_samples - n_params)
            accept = new_aic < current_aic - threshold if self.criterion == "aic" else p_value < threshold
            if not accept:
                n_params -= 1
                break
            direction = unexplained[:, best] / numpy.sqrt(norms2[best])
            basis = numpy.column_stack([basis, direction])
            residual -= (direction @ residual) * direction
            rss, current_aic = residual @ residual, new_aic
            selected.append(int(candidates[best]))
            values.append(new_aic if self.criterion == "aic" else p_value)

        self.selected_features_ = numpy.array(selected, dtype=int)
        self.support_ = numpy.isin(numpy.arange(n_features), self.selected_features_)
        self.criterion_values_ = numpy.array(values)
        self.coef_ = numpy.zeros(n_features)
        if selected:
            self.coef_[selected] = scipy.linalg.lstsq(X_centered[:, selected], y_centered)[0]
        self.intercept_ = float(y_offset - X_offset @ self.coef_) if self.fit_intercept else 0.0
        final_residual = y - X @ self.coef_ - self.intercept_
        self.aic_ = aic(final_residual @ final_residual)
        return self

    def predict(self, X):
        """Least-squares predictions from the selected columns, shape ``(n_samples,)``."""
        check_is_fitted(self)
        X = _validate(self, X, reset=False)
        return X @ self.coef_ + self.intercept_


# ---------------------------------------------------------------------------
# LOESS
# ---------------------------------------------------------------------------


def _tricube(u):
    return numpy.clip(1.0 - u**3, 0.0, None) ** 3


def _epanechnikov(u):
    return numpy.clip(1.0 - u**2, 0.0, None)


def _uniform(u):
    return (u < 1.0).astype(float)


_KERNELS = {"tricube": _tricube, "epanechnikov": _epanechnikov, "uniform": _uniform}


def polynomial_terms(offsets, degree):
    """Monomials of the coordinates up to ``degree``: ``1``, ``u_a``, ``u_a u_b`` (``a <= b``) ...

    Args:
        offsets: shape ``(..., n_features)``.
        degree: 0, 1 or 2 (any non-negative integer works).

    Returns:
        shape ``(..., n_terms)``, the constant term first.
    """
    n_features = offsets.shape[-1]
    terms = [numpy.ones(offsets.shape[:-1])]
    for power in range(1, degree + 1):
        for combination in itertools.combinations_with_replacement(range(n_features), power):
            terms.append(numpy.prod(offsets[..., list(combination)], axis=-1))
    return numpy.stack(terms, axis=-1)


def local_polynomial_fit(queries, X, y, n_neighbors, degree, kernel):
    """LOESS estimates at ``queries``: one weighted least-squares polynomial per query, solved together.

    For a query ``x₀`` with bandwidth ``h`` (the distance to its
    ``n_neighbors``-th nearest training point), training point ``i`` gets the
    weight ``K(||x_i - x₀|| / h)`` and the local fit is

        beta = argmin Σ_i w_i (y_i - beta · phi((x_i - x₀) / h))²

    with ``phi`` the monomials of :func:`polynomial_terms`. Because the
    polynomial is centred at ``x₀``, the estimate there is ``beta[0]``. The
    normal equations ``ΦᵀWΦ beta = ΦᵀWy`` of all queries form one stack of
    small matrices; a batched pseudo-inverse solves them (and still gives the
    weighted mean when a neighbourhood is degenerate, e.g. all one point).

    Args:
        queries: shape ``(n_queries, n_features)``.
        X: training inputs, shape ``(n_samples, n_features)``.
        y: training targets, shape ``(n_samples,)``.
        n_neighbors: neighbourhood size, ``<= n_samples``.
        degree: local polynomial degree.
        kernel: a function of ``u = distance / h`` (zero for ``u >= 1``).

    Returns:
        shape ``(n_queries,)``.
    """
    distances = scipy.spatial.distance.cdist(queries, X)
    nearest = numpy.argpartition(distances, n_neighbors - 1, axis=1)[:, :n_neighbors]
    near_distances = numpy.take_along_axis(distances, nearest, axis=1)  # (n_queries, n_neighbors)
    bandwidth = near_distances.max(axis=1, keepdims=True)
    bandwidth[bandwidth == 0] = 1.0  # every neighbour sits on the query: they all weigh 1
    weights = kernel(near_distances / bandwidth)
    design = polynomial_terms((X[nearest] - queries[:, None, :]) / bandwidth[..., None], degree)
    weighted_design = design * weights[..., None]  # (n_queries, n_neighbors, n_terms)
    normal_matrices = numpy.einsum("qkt,qks->qts", weighted_design, design)
    right_sides = numpy.einsum("qkt,qk->qt", weighted_design, y[nearest])
    beta = numpy.einsum("qts,qs->qt", numpy.linalg.pinv(normal_matrices, hermitian=True), right_sides)
    return beta[:, 0]


class LocallyWeightedRegression(RegressorMixin, BaseEstimator):
    """LOESS: locally weighted polynomial regression on the nearest ``frac`` of the data.

    The prediction at ``x₀`` is the value at ``x₀`` of the polynomial of
    degree ``degree`` fitted by weighted least squares to the
    ``k = ceil(frac * n)`` training points nearest to ``x₀``, point ``i``
    weighted by ``K(||x_i - x₀|| / h(x₀))``, ``h(x₀)`` the distance to the
    ``k``-th nearest (see :func:`local_polynomial_fit`). The default kernel is
    Cleveland's tricube ``K(u) = (1 - u³)³`` on ``[0, 1)``. Unlike
    Cleveland's ``lowess`` there are no robustifying re-weighting passes.
    ``k`` is raised to ``n_terms + 1`` when smaller (``n_terms`` coefficients
    of the local polynomial; the ``k``-th point weighs zero).

    Fitting only stores the training data; the work happens in ``predict``,
    in chunks of query points so memory stays bounded.

    Args:
        frac: share of the training points in each neighbourhood, in ``(0, 1]``.
        degree: degree of the local polynomial: 0 (a weighted mean), 1 or 2.
        kernel: ``"tricube"``, ``"epanechnikov"`` (``1 - u²``) or ``"uniform"``.

    Attributes:
        X_fit_: training inputs, shape ``(n_samples, n_features)``.
        y_fit_: training targets, shape ``(n_samples,)``.
        n_neighbors_: neighbourhood size ``k``.
        n_features_in_: number of columns seen in ``fit``.
    """

    _parameter_constraints: dict = {
        "frac": [Interval(Real, 0, 1, closed="right")],
        "degree": [Interval(Integral, 0, 2, closed="both")],
        "kernel": [StrOptions(set(_KERNELS))],
    }

    def __init__(self, frac=0.3, degree=1, kernel="tricube"):
        self.frac = frac
        self.degree = degree
        self.kernel = kernel

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Store the training data and fix the neighbourhood size.

        Args:
            X: array of shape ``(n_samples, n_features)``.
            y: array of shape ``(n_samples,)``.

        Returns:
            self.
        """
        X, y = _validate(self, X, y, y_numeric=True)
        n_samples, n_features = X.shape
        n_terms = polynomial_terms(numpy.zeros((1, n_features)), self.degree).shape[-1]
        if n_samples < n_terms + 1:
            raise ValueError(
                f"{type(self).__name__} with degree={self.degree} on {n_features} feature(s) needs "
                f"at least {n_terms + 1} samples; got {n_samples} sample(s)."
            )
        self.n_neighbors_ = min(n_samples, max(int(numpy.ceil(self.frac * n_samples)), n_terms + 1))
        self.X_fit_, self.y_fit_ = X, y
        return self

    def predict(self, X):
        """LOESS estimates at the rows of ``X``.

        Args:
            X: array of shape ``(n_queries, n_features)``.

        Returns:
            shape ``(n_queries,)``.
        """
        check_is_fitted(self)
        X = _validate(self, X, reset=False)
        chunk = max(1, 2_000_000 // (self.n_neighbors_ * (self.n_features_in_ + 1)))
        pieces = [
            local_polynomial_fit(X[start:start + chunk], self.X_fit_, self.y_fit_, self.n_neighbors_,
                                 self.degree, _KERNELS[self.kernel])
            for start in range(0, len(X), chunk)
        ]
        return numpy.concatenate(pieces) if pieces else numpy.empty(0)
