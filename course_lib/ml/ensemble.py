"""Ensembles of CART trees from scratch: random forests and gradient boosting.

* :class:`RandomForestClassifier` / :class:`RandomForestRegressor` (Breiman,
  2001): each tree grows on a bootstrap sample of the training set and
  examines a random subset of the features at every node; the forest averages
  the trees' predictions. The samples a tree did not see ("out of bag")
  estimate the forest's accuracy without a test set (``oob_score_``).
* :class:`GradientBoostingRegressor` / :class:`GradientBoostingClassifier`
  (Friedman, 2001): trees added one at a time, each fitted to the negative
  gradient of the loss at the current predictions, shrunk by the learning
  rate. For the log-loss each leaf then takes one Newton step, as in
  scikit-learn.

The trees are :mod:`course_lib.ml.tree`'s: a forest grows all its trees
together with :func:`~course_lib.ml.tree.grow_trees` (one pass per depth for
the whole forest), and ``estimators_`` holds ordinary fitted
:class:`~course_lib.ml.tree.DecisionTreeClassifier` /
:class:`~course_lib.ml.tree.DecisionTreeRegressor` objects. Names, defaults
and random draws follow scikit-learn's: a forest with the same
``random_state`` trains its trees on the same bootstrap samples as
scikit-learn's.

Example::

    from course_lib.ml.ensemble import RandomForestClassifier
    forest = RandomForestClassifier(n_estimators=100, oob_score=True, random_state=0).fit(X, y)
    forest.oob_score_, forest.predict(X[:5]), forest.feature_importances_
"""
from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.special
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from course_lib.ml.tree import (
    ProbabilisticClassifierMixin,
    TREE_LEAF,
    _TREE_PARAMETERS,
    DecisionTreeClassifier,
    DecisionTreeRegressor,
    _validate_fit_data,
    _validate_predict_data,
    grow_trees,
    rank_columns,
)

__all__ = [
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
]

_MAX_INT = np.iinfo(np.int32).max
_BATCH_ELEMENTS = 1 << 22  # trees grown together: about this many (sample, feature) pairs per level


def _mean_importances(trees, n_features, normalize_each):
    """The mean of the trees' impurity importances, normalised to sum to 1 (zeros if no tree splits)."""
    importances = [t.compute_feature_importances(normalize=normalize_each) for t in trees if t.node_count > 1]
    if not importances:
        return np.zeros(n_features)
    mean = np.mean(importances, axis=0)
    return mean / mean.sum()


# ---------------------------------------------------------------------------
# Random forests
# ---------------------------------------------------------------------------


class BaseForest(BaseEstimator):
    """What the random-forest classifier and regressor share: bootstrap, growth, out-of-bag score.

    Subclasses set ``_tree_class`` and implement ``_set_oob_score``; what one
    tree contributes (``_tree_outputs``, averaged over the forest) is its
    ``tree_``'s values: class probabilities or the mean target.
    """

    _parameter_constraints: dict = {
        **_TREE_PARAMETERS,
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "bootstrap": ["boolean"],
        "oob_score": ["boolean", callable],
        "n_jobs": [Integral, None],
    }
    _tree_class = DecisionTreeRegressor

    @staticmethod
    def _tree_outputs(tree, X):
        return tree.predict(X)[:, 0, :]

    def __init__(
        self,
        *,
        n_estimators,
        criterion,
        max_depth,
        min_samples_split,
        min_samples_leaf,
        max_features,
        bootstrap,
        oob_score,
        n_jobs,
        random_state,
    ):
        self.n_estimators = n_estimators
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.oob_score = oob_score
        self.n_jobs = n_jobs
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Grow ``n_estimators`` trees on ``X`` (shape ``(n_samples, n_features)``) and ``y``.

        Args:
            sample_weight: shape ``(n_samples,)``, or None. With ``bootstrap``
                the bootstrap draws samples in proportion to it (as
                scikit-learn does); without, each tree is weighted by it.

        Returns:
            self
        """
        classifier = self._tree_class is DecisionTreeClassifier
        if self.oob_score and not self.bootstrap:
            raise ValueError(
                f"{type(self).__name__}: out-of-bag estimation needs bootstrap=True. "
                f"Received: oob_score={self.oob_score!r}, bootstrap=False."
            )
        given_weight = sample_weight
        X, y, sample_weight = _validate_fit_data(self, X, y, sample_weight, classifier=classifier)
        n_samples = len(X)
        random_state = check_random_state(self.random_state)
        seeds = [random_state.randint(_MAX_INT) for _ in range(self.n_estimators)]
        tree_states = [np.random.RandomState(seed) for seed in seeds]
        if self.bootstrap:
            weights = np.stack(
                [self._bootstrap_counts(state, n_samples, given_weight, sample_weight) for state in tree_states]
            )
        else:
            weights = np.broadcast_to(sample_weight, (self.n_estimators, n_samples))

        self.estimators_ = [self._make_tree(seed) for seed in seeds]
        for estimator in self.estimators_:
            estimator.n_features_in_ = self.n_features_in_
            if classifier:
                estimator.classes_, estimator.n_classes_ = self.classes_, self.n_classes_
            growth = estimator._growth_parameters(X.shape)
        ranked = rank_columns(X)
        per_batch = max(1, _BATCH_ELEMENTS // (n_samples * growth["max_features"]))
        per_batch = min(per_batch, -(-self.n_estimators // effective_n_jobs(self.n_jobs)))
        batches = [slice(i, i + per_batch) for i in range(0, self.n_estimators, per_batch)]
        grown = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(grow_trees)(X, y, weights[b], tree_states[b], ranked_columns=ranked, **growth) for b in batches
        )
        for estimator, tree in zip(self.estimators_, [t for batch in grown for t in batch]):
            estimator.tree_ = tree
        self.n_outputs_ = 1
        if self.oob_score:
            self._set_oob_score(X, y, weights == 0)
        return self

    @staticmethod
    def _bootstrap_counts(tree_state, n_samples, given_weight, sample_weight):
        """How many times the bootstrap sample of one tree holds each training sample.

        ``n_samples`` draws with replacement, uniform (or in proportion to the
        sample weights when some were given): scikit-learn's draws.
        """
        if given_weight is None:
            drawn = tree_state.randint(0, n_samples, n_samples)
        else:
            drawn = tree_state.choice(n_samples, n_samples, replace=True, p=sample_weight / sample_weight.sum())
        return np.bincount(drawn, minlength=n_samples).astype(np.float64)

    def _make_tree(self, seed):
        tree = self._tree_class(
            criterion=self.criterion,
            max_depth=self.max_depth,
            min_samples_split=self.min_samples_split,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            random_state=seed,
        )
        return tree

    def _average(self, X, rows=None):
        """The mean of ``_tree_outputs`` over the trees (over the trees that did not see a sample, with ``rows``).

        Args:
            X: checked float32 samples.
            rows: None, or a boolean array ``(n_estimators, n_samples)``: tree
                ``t`` only contributes to the samples where ``rows[t]``.

        Returns:
            ``(mean, n_contributions)``; shape ``(n_samples, n_outputs)`` and ``(n_samples,)``.
        """
        total, contributions = 0.0, np.zeros(len(X))
        for t, estimator in enumerate(self.estimators_):
            output = self._tree_outputs(estimator.tree_, X)
            if rows is not None:
                output = output * rows[t][:, None]
                contributions += rows[t]
            total = total + output
        if rows is None:
            contributions[:] = len(self.estimators_)
        return total / np.maximum(contributions, 1)[:, None], contributions

    def _out_of_bag(self, X, out_of_bag):
        """Out-of-bag mean predictions; warns, as scikit-learn does, when a sample was in every bag."""
        mean, contributions = self._average(X, out_of_bag)
        if np.any(contributions == 0):
            warnings.warn(
                "Some inputs do not have OOB scores. This probably means too few trees were used "
                "to compute any reliable OOB estimates.",
                UserWarning,
                stacklevel=3,
            )
        return mean

    def apply(self, X):
        """The leaf of each sample in each tree, shape ``(n_samples, n_estimators)``."""
        X = _validate_predict_data(self, X)
        return np.stack([e.tree_.apply(X) for e in self.estimators_], axis=1)

    @property
    def feature_importances_(self):
        """The trees' impurity importances averaged (each tree's normalised first), summing to 1."""
        check_is_fitted(self)
        return _mean_importances([e.tree_ for e in self.estimators_], self.n_features_in_, normalize_each=True)


class RandomForestClassifier(ProbabilisticClassifierMixin, ClassifierMixin, BaseForest):
    """A random forest of CART classification trees.

    Tree ``t`` grows on a bootstrap sample (``n_samples`` draws with
    replacement) and each of its nodes examines ``max_features`` features
    drawn at random. The forest's class probabilities are the mean of the
    trees' leaf fractions::

        p(class k | x) = (1 / T) * sum_t p_t(class k | x)

    ``oob_score_`` is the accuracy of the same mean taken, for each training
    sample, over the trees whose bootstrap sample left it out.

    Args:
        n_estimators: the number of trees.
        criterion, max_depth, min_samples_split, min_samples_leaf,
            max_features: as :class:`~course_lib.ml.tree.DecisionTreeClassifier`'s
            (``max_features`` defaults to ``"sqrt"``).
        bootstrap: grow each tree on a bootstrap sample (False: on all samples).
        oob_score: compute ``oob_score_`` (True for accuracy, or a callable
            ``score(y_true, y_pred)``).
        n_jobs: threads growing the trees (None: one).
        random_state: seeds the bootstrap samples and the features drawn.

    Attributes:
        estimators_: the fitted trees.
        classes_, n_classes_, n_features_in_, feature_importances_: as scikit-learn's.
        oob_score_, oob_decision_function_: with ``oob_score``.
    """

    _parameter_constraints: dict = {
        **BaseForest._parameter_constraints,
        "criterion": DecisionTreeClassifier._parameter_constraints["criterion"],
    }
    _tree_class = DecisionTreeClassifier

    def __init__(
        self,
        n_estimators=100,
        *,
        criterion="gini",
        max_depth=None,
        min_samples_split=2,
        min_samples_leaf=1,
        max_features="sqrt",
        bootstrap=True,
        oob_score=False,
        n_jobs=None,
        random_state=None,
    ):
        super().__init__(
            n_estimators=n_estimators,
            criterion=criterion,
            max_depth=max_depth,
            min_samples_split=min_samples_split,
            min_samples_leaf=min_samples_leaf,
            max_features=max_features,
            bootstrap=bootstrap,
            oob_score=oob_score,
            n_jobs=n_jobs,
            random_state=random_state,
        )

    def _set_oob_score(self, X, y, out_of_bag):
        self.oob_decision_function_ = self._out_of_bag(X, out_of_bag)
        score = accuracy_score if self.oob_score is True else self.oob_score
        self.oob_score_ = score(y, np.argmax(self.oob_decision_function_, axis=1))

    def predict_proba(self, X):
        """The trees' class fractions averaged, shape ``(n_samples, n_classes)``."""
        return self._average(_validate_predict_data(self, X))[0]


class RandomForestRegressor(RegressorMixin, BaseForest):
    """A random forest of CART regression trees: the mean of the trees' predictions.

    Each tree grows on a bootstrap sample and each node examines
    ``max_features`` features drawn at random (by default all of them, as in
    scikit-learn: then only the bootstrap makes the trees differ)::

        y_hat(x) = (1 / T) * sum_t tree_t(x)

    Args:
        n_estimators, max_depth, min_samples_split, min_samples_leaf,
            bootstrap, n_jobs, random_state: as :class:`RandomForestClassifier`'s.
        criterion: ``"squared_error"``.
        max_features: defaults to 1.0 (every feature).
        oob_score: compute ``oob_score_`` (True for R², or a callable).

    Attributes:
        estimators_, n_features_in_, feature_importances_: as scikit-learn's.
        oob_score_, oob_prediction_: with ``oob_score``.
    """

    _parameter_constraints: dict = {
        **BaseForest._parameter_constraints,
        "criterion": DecisionTreeRegressor._parameter_constraints["criterion"],
    }
    _tree_class = DecisionTreeRegressor

    def __init__(
        self,
        n_estimators=100,
        *,
        criterion="squared_error",
        max_depth=None,
        min_samples_split=2,
        min_samples_leaf=1,
        max_features=1.0,
        bootstrap=True,
        oob_score=False,
        n_jobs=None,
        random_state=None,
    ):
        super().__init__(
            n_estimators=n_estimators,
            criterion=criterion,
            max_depth=max_depth,
            min_samples_split=min_samples_split,
            min_samples_leaf=min_samples_leaf,
            max_features=max_features,
            bootstrap=bootstrap,
            oob_score=oob_score,
            n_jobs=n_jobs,
            random_state=random_state,
        )

    def _set_oob_score(self, X, y, out_of_bag):
        self.oob_prediction_ = self._out_of_bag(X, out_of_bag)[:, 0]
        score = r2_score if self.oob_score is True else self.oob_score
        self.oob_score_ = score(y, self.oob_prediction_)

    def predict(self, X):
        """The trees' predictions averaged, shape ``(n_samples,)``."""
        return self._average(_validate_predict_data(self, X))[0][:, 0]


# ---------------------------------------------------------------------------
# Gradient boosting
# ---------------------------------------------------------------------------
#
# Each loss is a pair: its value and its negative gradient with respect to the
# raw prediction F (the sum of the trees), next to each other. The classifier
# also needs the second derivative for its Newton step in each leaf.


def _mean(values, weight):
    """The weighted mean; NaN for no samples (an empty out-of-bag set)."""
    return np.average(values, weights=weight) if len(values) else np.nan


def _squared_error(y, raw, weight):
    """Mean squared error of raw predictions ``raw`` (shape ``(n, 1)``) and its negative gradient ``y - F``."""
    residual = y - raw[:, 0]
    return _mean(residual**2, weight), residual[:, None]


def _binomial_log_loss(y, raw, weight):
    """Binomial deviance ``2 * mean(log(1 + e^F) - y F)`` and the negative gradient ``y - sigmoid(F)``.

    (Twice the log-loss, as scikit-learn reports it in ``train_score_``.)
    """
    F = raw[:, 0]
    deviance = 2 * _mean(np.logaddexp(0, F) - y * F, weight)
    return deviance, (y - scipy.special.expit(F))[:, None]


def _multinomial_log_loss(y, raw, weight):
    """Mean of ``logsumexp(F) - F[y]`` and the negative gradients ``[y == k] - softmax(F)_k``, shape ``(n, K)``."""
    rows = np.arange(len(y))
    loss = _mean(scipy.special.logsumexp(raw, axis=1) - raw[rows, y], weight)
    negative_gradient = -scipy.special.softmax(raw, axis=1)
    negative_gradient[rows, y] += 1
    return loss, negative_gradient


class BaseGradientBoosting(BaseEstimator):
    """What the boosted regressor and classifier share: the stage loop.

    At stage ``m`` a regression tree ``h_m`` (one per class for more than two
    classes) is fitted, by squared error, to the negative gradient ``g`` of
    the loss at the current raw predictions ``F``; then::

        F_m(x) = F_{m-1}(x) + learning_rate * h_m(x)

    With ``subsample < 1`` each stage fits on a random fraction of the
    samples, drawn without replacement. Subclasses set ``_loss_function`` and
    implement ``_initial_raw``; the classifier also ``_newton_step``.
    """

    _parameter_constraints: dict = {
        **_TREE_PARAMETERS,
        "learning_rate": [Interval(Real, 0.0, None, closed="left")],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "subsample": [Interval(Real, 0.0, 1.0, closed="right")],
    }
    _classifier = False

    def __init__(
        self,
        *,
        loss,
        learning_rate,
        n_estimators,
        subsample,
        max_depth,
        min_samples_split,
        min_samples_leaf,
        max_features,
        random_state,
    ):
        self.loss = loss
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.subsample = subsample
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit ``n_estimators`` stages on ``X`` (shape ``(n_samples, n_features)``) and ``y``.

        Args:
            sample_weight: shape ``(n_samples,)``, or None for ones.

        Returns:
            self
        """
        X, y, sample_weight = _validate_fit_data(self, X, y, sample_weight, classifier=self._classifier)
        n_samples = len(X)
        raw = np.tile(self._initial_raw(y, sample_weight), (n_samples, 1))  # (n_samples, n_trees_per_stage)
        self.init_raw_prediction_ = raw[0].copy()
        n_per_stage = raw.shape[1]
        random_state = check_random_state(self.random_state)
        ranked = rank_columns(X)
        n_in_bag = max(1, int(self.subsample * n_samples))

        self.estimators_ = np.empty((self.n_estimators, n_per_stage), dtype=object)
        self.train_score_ = np.zeros(self.n_estimators)
        if self.subsample < 1:
            self.oob_scores_ = np.zeros(self.n_estimators)
            self.oob_improvement_ = np.zeros(self.n_estimators)
        in_bag = np.ones(n_samples, dtype=bool)
        for stage in range(self.n_estimators):
            if self.subsample < 1:
                in_bag = np.zeros(n_samples, dtype=bool)
                in_bag[random_state.permutation(n_samples)[:n_in_bag]] = True
                if stage == 0:
                    initial_oob = self._loss_function(y[~in_bag], raw[~in_bag], sample_weight[~in_bag])[0]
            _, negative_gradient = self._loss_function(y, raw, sample_weight)
            trees = [self._make_tree(random_state) for _ in range(n_per_stage)]
            growth = trees[0]._growth_parameters(X.shape)
            grown = grow_trees(
                X,
                negative_gradient.T,
                np.broadcast_to(sample_weight * in_bag, (n_per_stage, n_samples)),
                [random_state] * n_per_stage,
                ranked_columns=ranked,
                **growth,
            )
            for k, (tree, tree_) in enumerate(zip(trees, grown)):
                tree._growth_parameters(X.shape)
                tree.tree_, tree.n_features_in_ = tree_, self.n_features_in_
                leaves = tree_.apply(X)
                if self._classifier:  # squared error keeps the tree's leaf means
                    self._newton_step(tree_, leaves, in_bag, y, negative_gradient[:, k], sample_weight, k)
                raw[:, k] += self.learning_rate * tree_.value[leaves, 0, 0]
                self.estimators_[stage, k] = tree
            self.train_score_[stage] = self._loss_function(y[in_bag], raw[in_bag], sample_weight[in_bag])[0]
            if self.subsample < 1:
                self.oob_scores_[stage] = self._loss_function(y[~in_bag], raw[~in_bag], sample_weight[~in_bag])[0]
                # As scikit-learn's: against the previous stage's out-of-bag loss.
                previous = initial_oob if stage == 0 else self.oob_scores_[stage - 1]
                self.oob_improvement_[stage] = previous - self.oob_scores_[stage]
        if self.subsample < 1:
            self.oob_score_ = self.oob_scores_[-1]
        self.n_estimators_ = self.n_estimators
        return self

    def _make_tree(self, random_state):
        return DecisionTreeRegressor(
            max_depth=self.max_depth,
            min_samples_split=self.min_samples_split,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            random_state=random_state,
        )

    def _raw_stages(self, X):
        """``F(x)`` after each stage: one array, shape ``(n_samples, n_trees_per_stage)``, updated in place."""
        X = _validate_predict_data(self, X)
        raw = np.tile(self.init_raw_prediction_, (len(X), 1))
        for stage in self.estimators_:
            for k, tree in enumerate(stage):
                raw[:, k] += self.learning_rate * tree.tree_.predict(X)[:, 0, 0]
            yield raw

    def _final_raw(self, X):
        """``F(x)`` after the last stage."""
        for raw in self._raw_stages(X):
            pass
        return raw

    @property
    def feature_importances_(self):
        """The trees' unnormalised impurity importances averaged, then normalised to sum to 1."""
        check_is_fitted(self)
        trees = [tree.tree_ for stage in self.estimators_ for tree in stage]
        return _mean_importances(trees, self.n_features_in_, normalize_each=False)

    def apply(self, X):
        """The leaf of each sample in each tree, shape ``(n_samples, n_estimators, n_trees_per_stage)``."""
        X = _validate_predict_data(self, X)
        return np.array([[tree.tree_.apply(X) for tree in stage] for stage in self.estimators_]).transpose(2, 0, 1)


class GradientBoostingRegressor(RegressorMixin, BaseGradientBoosting):
    """Gradient boosting of regression trees for the squared error.

    The raw prediction starts at the (weighted) mean of ``y``; the negative
    gradient of ``(y - F)**2 / 2`` is the residual, so each tree is a CART
    regression tree on the current residuals::

        F_0 = mean(y),   F_m(x) = F_{m-1}(x) + learning_rate * tree_m(x),
        tree_m fitted to r_i = y_i - F_{m-1}(x_i)

    Args:
        loss: ``"squared_error"``.
        learning_rate: shrinks every tree's contribution.
        n_estimators: the number of boosting stages.
        subsample: the fraction of samples each stage is fitted on.
        max_depth: the depth of each tree (3, as scikit-learn's).
        min_samples_split, min_samples_leaf, max_features: of each tree.
        random_state: seeds the subsamples and the trees' feature order.

    Attributes:
        estimators_: the trees, an object array of shape ``(n_estimators, 1)``.
        train_score_: the mean squared error on the (in-bag) training samples
            after each stage.
        init_raw_prediction_: ``F_0``, shape ``(1,)``.
        oob_scores_, oob_improvement_, oob_score_: with ``subsample < 1``.
        feature_importances_, n_features_in_: as scikit-learn's.
    """

    _parameter_constraints: dict = {
        **BaseGradientBoosting._parameter_constraints,
        "loss": [StrOptions({"squared_error"})],
    }
    _loss_function = staticmethod(_squared_error)

    def __init__(
        self,
        *,
        loss="squared_error",
        learning_rate=0.1,
        n_estimators=100,
        subsample=1.0,
        max_depth=3,
        min_samples_split=2,
        min_samples_leaf=1,
        max_features=None,
        random_state=None,
    ):
        super().__init__(
            loss=loss,
            learning_rate=learning_rate,
            n_estimators=n_estimators,
            subsample=subsample,
            max_depth=max_depth,
            min_samples_split=min_samples_split,
            min_samples_leaf=min_samples_leaf,
            max_features=max_features,
            random_state=random_state,
        )

    @staticmethod
    def _initial_raw(y, sample_weight):
        return np.array([np.average(y, weights=sample_weight)])

    def predict(self, X):
        """``F(x)``, shape ``(n_samples,)``."""
        return self._final_raw(X)[:, 0]

    def staged_predict(self, X):
        """``F(x)`` after each stage: a generator of arrays of shape ``(n_samples,)``."""
        for raw in self._raw_stages(X):
            yield raw[:, 0].copy()


class GradientBoostingClassifier(ClassifierMixin, BaseGradientBoosting):
    """Gradient boosting of regression trees for the log-loss, with a Newton step in every leaf.

    Two classes: one raw score ``F``, ``p = sigmoid(F)``, starting at the
    log-odds of the class prior. Each tree is fitted to ``y - p``, then every
    leaf ``j`` takes the Newton step of the log-loss over its samples::

        gamma_j = sum_{i in j} w_i (y_i - p_i) / sum_{i in j} w_i p_i (1 - p_i)
        F_m(x) = F_{m-1}(x) + learning_rate * gamma_{leaf(x)}

    ``K > 2`` classes: one score per class and softmax probabilities; stage
    ``m`` fits one tree per class to ``[y == k] - p_k`` and its leaves take
    the same step scaled by ``(K - 1) / K`` (as in scikit-learn and Friedman's
    paper).

    Args:
        loss: ``"log_loss"``.
        learning_rate, n_estimators, subsample, max_depth, min_samples_split,
            min_samples_leaf, max_features, random_state: as
            :class:`GradientBoostingRegressor`'s.

    Attributes:
        estimators_: object array ``(n_estimators, 1)``, or ``(n_estimators, K)``.
        classes_, n_classes_: the labels.
        train_score_: the binomial deviance (twice the log-loss) for two
            classes, the log-loss for more, after each stage.
        init_raw_prediction_, oob_scores_, oob_improvement_,
            feature_importances_: as the regressor's.
    """

    _parameter_constraints: dict = {
        **BaseGradientBoosting._parameter_constraints,
        "loss": [StrOptions({"log_loss"})],
    }
    _classifier = True

    def __init__(
        self,
        *,
        loss="log_loss",
        learning_rate=0.1,
        n_estimators=100,
        subsample=1.0,
        max_depth=3,
        min_samples_split=2,
        min_samples_leaf=1,
        max_features=None,
        random_state=None,
    ):
        super().__init__(
            loss=loss,
            learning_rate=learning_rate,
            n_estimators=n_estimators,
            subsample=subsample,
            max_depth=max_depth,
            min_samples_split=min_samples_split,
            min_samples_leaf=min_samples_leaf,
            max_features=max_features,
            random_state=random_state,
        )

    def _loss_function(self, y, raw, weight):
        if self.n_classes_ == 2:
            return _binomial_log_loss(y, raw, weight)
        return _multinomial_log_loss(y, raw, weight)

    def _initial_raw(self, y, sample_weight):
        """The raw score of the weighted class prior: log-odds, or centred log-probabilities."""
        prior = np.bincount(y, weights=sample_weight, minlength=self.n_classes_) / sample_weight.sum()
        if np.count_nonzero(prior) < 2:
            raise ValueError(
                f"{type(self).__name__}: y holds {np.count_nonzero(prior)} class with a non-zero weight, "
                "while a minimum of 2 classes are required."
            )
        eps = np.finfo(np.float64).eps
        prior = np.clip(prior, eps, 1 - eps)
        if self.n_classes_ == 2:
            return np.array([np.log(prior[1] / prior[0])])
        return np.log(prior) - np.mean(np.log(prior))

    def _newton_step(self, tree, leaves, in_bag, y, negative_gradient, sample_weight, k):
        """Replace each leaf's value of the new tree for class ``k`` by the Newton step of the log-loss.

        The step uses the leaf's in-bag samples; ``leaves`` holds every
        training sample's leaf.
        """
        target = (y == 1) if self.n_classes_ == 2 else (y == k)
        probability = target - negative_gradient
        w = sample_weight * in_bag
        numerator = np.bincount(leaves, weights=w * negative_gradient, minlength=tree.node_count)
        denominator = np.bincount(leaves, weights=w * probability * (1 - probability), minlength=tree.node_count)
        if self.n_classes_ > 2:
            numerator *= (self.n_classes_ - 1) / self.n_classes_
        is_leaf = tree.children_left == TREE_LEAF
        safe = np.abs(denominator) >= 1e-150  # a pure leaf: no step
        step = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=safe)
        tree.value[is_leaf, 0, 0] = step[is_leaf]

    def decision_function(self, X):
        """The raw scores ``F(x)``: shape ``(n_samples,)`` for two classes, ``(n_samples, K)`` for more."""
        raw = self._final_raw(X)
        return raw[:, 0] if raw.shape[1] == 1 else raw

    def staged_decision_function(self, X):
        """:meth:`decision_function` after each stage (a generator)."""
        for raw in self._raw_stages(X):
            yield raw[:, 0].copy() if raw.shape[1] == 1 else raw.copy()

    @staticmethod
    def _probabilities(raw):
        if raw.shape[1] == 1:
            positive = scipy.special.expit(raw[:, 0])
            return np.stack([1 - positive, positive], axis=1)
        return scipy.special.softmax(raw, axis=1)

    def predict_proba(self, X):
        """Class probabilities, shape ``(n_samples, n_classes)``."""
        return self._probabilities(self._final_raw(X))

    predict_log_proba = ProbabilisticClassifierMixin.predict_log_proba

    @staticmethod
    def _classes_of(raw):
        return (raw[:, 0] >= 0).astype(int) if raw.shape[1] == 1 else np.argmax(raw, axis=1)

    def predict(self, X):
        """The most probable class (for two classes: ``F(x) >= 0``), shape ``(n_samples,)``."""
        raw = self._final_raw(X)
        return self.classes_[self._classes_of(raw)]

    def staged_predict(self, X):
        """:meth:`predict` after each stage (a generator)."""
        for raw in self._raw_stages(X):
            yield self.classes_[self._classes_of(raw)]

    def staged_predict_proba(self, X):
        """:meth:`predict_proba` after each stage (a generator)."""
        for raw in self._raw_stages(X):
            yield self._probabilities(raw)
