"""Decision trees from scratch: CART as scikit-learn grows it, ID3 and C4.5.

Three algorithms, one idea: split the samples of a node by the test on one
feature that makes the children as pure as possible, then split the children.

* :class:`DecisionTreeClassifier` and :class:`DecisionTreeRegressor` are CART
  (Breiman et al., 1984) with scikit-learn's names, defaults and numbers:
  binary splits ``x[feature] <= threshold``, thresholds halfway between two
  neighbouring values, Gini or entropy for classes, squared error for
  regression. On data where every node has one best split they grow the very
  tree scikit-learn grows (same features, thresholds, values, node numbers).
* :class:`ID3Classifier` (Quinlan, 1986): categorical features, one branch per
  category, the split with the largest information gain.
* :class:`C45Classifier` (Quinlan, 1993): the gain ratio, binary thresholds on
  continuous features and multiway splits on categorical ones.

:func:`best_split` is the CART split search of one node written to be read:
sort every feature, accumulate class weights (or target sums) along the sorted
order, and the impurity of both children of every cut comes out at once.

The estimators grow their trees with :func:`grow_trees`, the same search
vectorised over all the nodes of a depth at once (a tree grows level by level,
and a random forest grows all its trees together), so that Python's cost is
paid per level and not per node. ``tests/ml/test_tree.py`` checks that the two
agree.

Like scikit-learn, CART works on ``X`` converted to float32: thresholds are
midpoints of float32 values and two values closer than ``FEATURE_THRESHOLD``
(1e-7) are treated as equal.

Example::

    from course_lib.ml.tree import DecisionTreeClassifier
    tree = DecisionTreeClassifier(max_depth=3).fit(X, y)
    tree.predict(X[:5]), tree.get_depth(), tree.tree_.threshold
"""
from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
import scipy.special
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, RealNotInt, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from course_lib.ml._named_validation import named_errors

__all__ = [
    "C45Classifier",
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "ID3Classifier",
    "Tree",
    "best_split",
    "entropy",
    "gain_ratio",
    "grow_trees",
    "information_gain",
    "node_impurity",
    "rank_columns",
]

FEATURE_THRESHOLD = np.float32(1e-7)  # scikit-learn's: closer float32 values count as equal
EPSILON = np.finfo(np.float64).eps  # a node at most this impure is pure
TREE_LEAF = -1  # children_left / children_right of a leaf
TREE_UNDEFINED = -2  # feature / threshold of a leaf
_CLASSIFICATION_CRITERIA = ("gini", "entropy", "log_loss")
_MAX_BLOCK_ELEMENTS = 1 << 22  # (feature, position) pairs searched at once: bounds the memory of a level


# ---------------------------------------------------------------------------
# Input checks that name the estimator
# ---------------------------------------------------------------------------


def _validate_fit_data(estimator, X, y, sample_weight, *, classifier, dtype=np.float32):
    """Checked ``(X, y, sample_weight)`` for ``fit``; ``y`` becomes class indices for a classifier.

    Sets ``n_features_in_`` (and ``feature_names_in_``), plus ``classes_`` and
    ``n_classes_`` for a classifier. ``sample_weight`` comes back as float64
    weights, all ones when None.
    """
    with named_errors(estimator):
        X, y = validate_data(estimator, X, y, dtype=dtype, y_numeric=not classifier)
        if classifier:
            check_classification_targets(y)
            estimator.classes_, y = np.unique(y, return_inverse=True)
            estimator.n_classes_ = len(estimator.classes_)
        else:
            y = np.asarray(y, dtype=np.float64)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    return X, y, sample_weight


def _validate_predict_data(estimator, X, dtype=np.float32):
    """``X`` checked against what ``fit`` saw (fitted estimator, feature count, finite values)."""
    check_is_fitted(estimator)
    with named_errors(estimator):
        return validate_data(estimator, X, dtype=dtype, reset=False)


# ---------------------------------------------------------------------------
# Impurity and the readable split search of one node
# ---------------------------------------------------------------------------


def node_impurity(stats, criterion):
    """Impurity of nodes from their summary statistics, held in the last axis.

    For classification ``stats`` are the class weights ``w_k`` of a node, and
    with ``p_k = w_k / sum(w)``::

        gini    = 1 - sum_k p_k**2
        entropy = -sum_k p_k * log2(p_k)

    For regression ``stats = (sum w, sum w*y, sum w*y**2)`` and the impurity is
    the variance of ``y`` in the node::

        squared_error = sum(w*y**2) / sum(w) - (sum(w*y) / sum(w))**2

    Args:
        stats: shape ``(..., n_classes)`` or ``(..., 3)``.
        criterion: ``"gini"``, ``"entropy"`` (``"log_loss"`` is the same) or
            ``"squared_error"``.

    Returns:
        The impurity, shape ``stats.shape[:-1]``.
    """
    weight = _node_weight(stats, criterion)
    with np.errstate(divide="ignore", invalid="ignore"):
        if criterion == "squared_error":
            return stats[..., 2] / weight - (stats[..., 1] / weight) ** 2
        fractions = stats / weight[..., None]
        if criterion == "gini":
            return 1.0 - np.sum(fractions**2, axis=-1)
        logs = np.log2(np.where(fractions > 0, fractions, 1.0))
        return -np.sum(fractions * logs, axis=-1)


def _node_weight(stats, criterion):
    """The total sample weight of nodes from their statistics (see :func:`node_impurity`)."""
    return stats[..., 0] if criterion == "squared_error" else stats.sum(axis=-1)


def _sample_statistics(y, weight, criterion, n_classes):
    """Per-sample statistics whose sums over a node feed :func:`node_impurity`.

    Returns shape ``(n_samples, n_classes)`` (the weight in the column of the
    sample's class) or ``(n_samples, 3)`` for regression: ``(w, w*y, w*y**2)``.
    """
    if criterion == "squared_error":
        return np.stack([weight, weight * y, weight * y * y], axis=-1)
    stats = np.zeros((len(y), n_classes))
    stats[np.arange(len(y)), y] = weight
    return stats


def best_split(X, y, criterion="gini", sample_weight=None, min_samples_leaf=1):
    """The best CART split ``X[:, feature] <= threshold`` of one node.

    Every feature is sorted; a cumulative sum along the sorted order gives the
    statistics of the left child of every cut at once, the right child is the
    rest. The split chosen minimises the weighted impurity of the children,
    ``(w_left * impurity_left + w_right * impurity_right) / w``; cuts lie
    between neighbouring values more than ``FEATURE_THRESHOLD`` apart, with at
    least ``min_samples_leaf`` samples on each side, at the midpoint of the two
    values. Equally good splits are resolved towards the lower feature index,
    then the lower threshold.

    Args:
        X: the node's samples, shape ``(n_samples, n_features)`` (used as float32).
        y: class indices ``0 .. n_classes - 1`` for ``"gini"``/``"entropy"``,
            real targets for ``"squared_error"``; shape ``(n_samples,)``.
        criterion: ``"gini"``, ``"entropy"`` or ``"squared_error"``.
        sample_weight: shape ``(n_samples,)``, or None for ones.
        min_samples_leaf: the fewest samples a child may hold.

    Returns:
        ``(feature, threshold, impurity_decrease)``: the parent's impurity
        minus the weighted impurity of the children. ``(None, None, 0.0)``
        when no cut is allowed.
    """
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    weight = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    X, y, weight = X[weight > 0], y[weight > 0], weight[weight > 0]  # as the estimators: weight 0 is absent
    n_samples, n_features = X.shape
    n_classes = 0 if criterion == "squared_error" else int(np.max(y)) + 1
    stats = _sample_statistics(y, weight, criterion, n_classes)  # (n, C)

    order = np.argsort(X, axis=0, kind="stable")  # (n, d): each feature sorted
    x_sorted = np.take_along_axis(X, order, axis=0)
    left = np.cumsum(stats[order], axis=0)[:-1]  # (n - 1, d, C): left of the cut after row i
    right = stats.sum(axis=0) - left
    children = (
        _node_weight(left, criterion) * node_impurity(left, criterion)
        + _node_weight(right, criterion) * node_impurity(right, criterion)
    ) / weight.sum()  # (n - 1, d)

    n_left = np.arange(1, n_samples)[:, None]
    allowed = (
        (x_sorted[1:] > x_sorted[:-1] + FEATURE_THRESHOLD)
        & (n_left >= min_samples_leaf)
        & (n_samples - n_left >= min_samples_leaf)
    )
    if not allowed.any():
        return None, None, 0.0
    children = np.where(allowed, children, np.inf).T  # (d, n - 1): scanned feature by feature
    feature, cut = np.unravel_index(np.argmin(children), children.shape)
    threshold = float(x_sorted[cut, feature]) / 2 + float(x_sorted[cut + 1, feature]) / 2
    decrease = node_impurity(stats.sum(axis=0), criterion) - children[feature, cut]
    return int(feature), threshold, float(decrease)


# ---------------------------------------------------------------------------
# The fitted tree: arrays with scikit-learn's names
# ---------------------------------------------------------------------------


class Tree:
    """The arrays of a fitted binary tree, named and numbered as scikit-learn's ``tree_``.

    Nodes are numbered depth first, left child before right (the root is 0).
    For node ``i``: ``children_left[i]``/``children_right[i]`` are its
    children (``-1`` for a leaf); a sample goes left when
    ``x[feature[i]] <= threshold[i]`` (both ``-2`` at a leaf);
    ``value[i, 0]`` holds the class fractions of the node's training samples
    (classification) or their mean target (regression); ``impurity[i]``,
    ``n_node_samples[i]`` and ``weighted_n_node_samples[i]`` describe the
    same samples.

    Args:
        children_left, children_right, feature, threshold, value, impurity,
        n_node_samples, weighted_n_node_samples: the arrays above, one entry
            per node (``value`` has shape ``(node_count, 1, n_values)``).
        max_depth: the depth of the deepest leaf (the root has depth 0).
        n_features: the number of features of the training data.
    """

    def __init__(
        self,
        children_left,
        children_right,
        feature,
        threshold,
        value,
        impurity,
        n_node_samples,
        weighted_n_node_samples,
        max_depth,
        n_features,
    ):
        self.children_left = children_left
        self.children_right = children_right
        self.feature = feature
        self.threshold = threshold
        self.value = value
        self.impurity = impurity
        self.n_node_samples = n_node_samples
        self.weighted_n_node_samples = weighted_n_node_samples
        self.max_depth = int(max_depth)
        self.n_features = int(n_features)

    @property
    def node_count(self):
        return len(self.children_left)

    @property
    def n_leaves(self):
        return int(np.count_nonzero(self.children_left == TREE_LEAF))

    def apply(self, X):
        """The leaf each sample of ``X`` (shape ``(n_samples, n_features)``) lands in.

        All samples walk down together, one level per step.
        """
        node = np.zeros(len(X), dtype=np.intp)
        rows = np.arange(len(X))
        feature = np.maximum(self.feature, 0)  # leaves read column 0, then stay where they are
        for _ in range(self.max_depth):
            go_left = X[rows, feature[node]] <= self.threshold[node]
            child = np.where(go_left, self.children_left[node], self.children_right[node])
            node = np.where(child == TREE_LEAF, node, child)
        return node

    def predict(self, X):
        """``value`` of the leaf of each sample, shape ``(n_samples, 1, n_values)``."""
        return self.value[self.apply(X)]

    def compute_feature_importances(self, normalize=True):
        """Total impurity decrease brought by each feature, as scikit-learn defines it.

        Each split adds ``w * impurity - w_left * impurity_left - w_right *
        impurity_right`` to its feature; the totals are divided by the root's
        weight and, with ``normalize``, by their sum (all zeros stay zeros).

        Returns:
            Shape ``(n_features,)``.
        """
        internal = np.flatnonzero(self.children_left != TREE_LEAF)
        left, right = self.children_left[internal], self.children_right[internal]
        weighted = self.weighted_n_node_samples * self.impurity
        decrease = weighted[internal] - weighted[left] - weighted[right]
        importances = np.bincount(self.feature[internal], weights=decrease, minlength=self.n_features)
        importances /= self.weighted_n_node_samples[0]
        total = importances.sum()
        if normalize and total > 0:
            importances /= total
        return importances


# ---------------------------------------------------------------------------
# Growing trees level by level: the split search of every node of a depth at once
# ---------------------------------------------------------------------------
#
# The samples of all the nodes of one depth (of one tree, or of every tree of a
# forest) sit in flat "position" arrays, grouped node after node: sample[p] is
# the training sample at position p, node_of[p] its node (non-decreasing in p),
# weight[p] and target[p] its weight and target in that tree. Sorting inside
# every node at once is one sort of the keys node * n_ranks + rank, and a
# cumulative sum over the whole level, minus its value where a node starts,
# is a cumulative sum inside every node.


@dataclass
class RankedColumns:
    """The training data as the level-wise search reads it: one row per feature, values and ranks.

    Attributes:
        values: float32, shape ``(n_features, n_samples)``.
        ranks: int64 dense ranks of the values of each row (equal values share
            a rank), same shape: sorting by rank is sorting by value.
        n_ranks: one more than the largest rank.
        rank_values: ``rank_values[f, r]`` is the value of rank ``r`` of
            feature ``f``, shape ``(n_features, n_ranks)``.
        cut_by_rank: True when any two different values of a feature are
            more than ``FEATURE_THRESHOLD`` apart (the usual case): then a cut
            is allowed exactly between different ranks, and the search never
            reads the values themselves.
    """

    values: np.ndarray
    ranks: np.ndarray
    n_ranks: int
    rank_values: np.ndarray
    cut_by_rank: bool


def rank_columns(X):
    """:class:`RankedColumns` of float32 ``X`` (shape ``(n_samples, n_features)``), sorted once per fit."""
    columns = np.ascontiguousarray(X.T)
    rows = np.arange(len(columns))[:, None]
    order = np.argsort(columns, axis=1)
    in_order = columns[rows, order]
    new_value = np.zeros(columns.shape, dtype=bool)
    new_value[:, 1:] = in_order[:, 1:] != in_order[:, :-1]
    rank_in_order = np.cumsum(new_value.astype(np.int64), axis=1)
    ranks = np.empty_like(rank_in_order)
    ranks[rows, order] = rank_in_order
    n_ranks = int(rank_in_order[:, -1].max(initial=0)) + 1
    rank_values = np.zeros((len(columns), n_ranks), dtype=np.float32)
    rank_values[rows, rank_in_order] = in_order
    close = in_order[:, 1:] <= in_order[:, :-1] + FEATURE_THRESHOLD
    return RankedColumns(columns, ranks, n_ranks, rank_values, not np.any(new_value[:, 1:] & close))


def _stable_argsort(keys, key_bound):
    """``np.argsort(keys, axis=-1, kind="stable")`` for integer keys in ``[0, key_bound)``, and the sorted keys.

    Packs each key with its position into one int64 and sorts those with
    ``np.sort``, several times faster than an argsort (the position makes
    every packed key distinct, so the order of equal keys is kept).

    Returns:
        ``(order, sorted_keys)``, both of the shape of ``keys``.
    """
    n = keys.shape[-1]
    position_bits = max(int(n - 1).bit_length(), 1)
    if int(key_bound - 1).bit_length() + position_bits > 62:
        order = np.argsort(keys, axis=-1, kind="stable")
        return order, np.take_along_axis(keys, order, axis=-1)
    packed = np.left_shift(keys, position_bits, dtype=np.int64)
    packed |= np.arange(n)
    packed.sort(axis=-1)
    return packed & ((1 << position_bits) - 1), packed >> position_bits


def _node_statistics(node_of, weight, target, n_nodes, criterion, n_classes):
    """The sums of :func:`_sample_statistics` over each node, shape ``(n_nodes, C)``."""
    if criterion == "squared_error":
        columns = (weight, weight * target, weight * target * target)
        return np.stack([np.bincount(node_of, weights=c, minlength=n_nodes) for c in columns], axis=-1)
    flat = np.bincount(node_of * n_classes + target, weights=weight, minlength=n_nodes * n_classes)
    return flat.reshape(n_nodes, n_classes)


def _weighted_impurity(stats, criterion):
    """``w * impurity`` of nodes from their statistics, shape ``(n_nodes, C)``, in few operations.

    The same numbers as ``_node_weight * node_impurity``, rearranged so that
    no fraction is formed (``w`` is a node's weight, ``s`` its statistics)::

        gini:          w * (1 - sum_k (s_k / w)**2)       = w - sum_k s_k**2 / w
        entropy:       -w * sum_k (s_k / w) log2(s_k / w) = w log2 w - sum_k s_k log2 s_k
        squared_error: w * (s_2 / w - (s_1 / w)**2)       = s_2 - s_1**2 / w

    Returns:
        Shape ``(n_nodes,)``.
    """
    if criterion == "squared_error":
        return stats[:, 2] - stats[:, 1] ** 2 / stats[:, 0]
    weight = stats.sum(axis=1)
    if criterion == "gini":
        return weight - np.einsum("ij,ij->i", stats, stats) / weight
    return (scipy.special.xlogy(weight, weight) - scipy.special.xlogy(stats, stats).sum(axis=1)) / np.log(2)


def _best_splits(data, sample, node_of, weight, target, node_features, criterion, n_classes, min_samples_leaf):
    """The best cut of every node of a level over the features listed for it.

    This is :func:`best_split` for many nodes at once. For each node and each
    of its features (a "block"), the node's samples are sorted by that
    feature; runs of values closer than ``FEATURE_THRESHOLD`` cannot be cut,
    so statistics are summed per run and accumulated along the block. The
    first best cut in the order of ``node_features`` (then of thresholds)
    wins, as in scikit-learn's search (splits within 1e-10 of the best, relative
    to the node's impurity, count as equally good).

    Args:
        data: the :class:`RankedColumns` of the training data.
        sample, node_of, weight, target: the level's position arrays (see
            the comment above).
        node_features: shape ``(n_nodes, k)``, the features to try for each node.

    Returns:
        ``(feature, threshold, score, all_constant)``, each of shape
        ``(n_nodes,)``: the best split (``feature`` is -2 where no cut is
        allowed), its weighted children impurity (``inf`` if none) and
        whether every feature tried was constant in the node.
    """
    n_nodes, k = node_features.shape
    m = len(sample)
    n_samples, n_ranks = data.values.shape[1], data.n_ranks
    slot_feature = node_features.T[:, node_of]  # (k, m): the feature of block row j at position p
    rank = data.ranks.take(slot_feature * n_samples + sample)  # (k, m)
    order, node_rank = _stable_argsort(node_of * n_ranks + rank, n_nodes * n_ranks)  # ascending in every block

    node_start = np.ones(m, dtype=bool)
    node_start[1:] = node_of[1:] != node_of[:-1]
    cut_after = np.zeros((k, m), dtype=bool)
    if data.cut_by_rank:  # different values are far enough apart: cut wherever the rank changes
        cut_after[:, :-1] = ~node_start[1:] & (node_rank[:, 1:] != node_rank[:, :-1])
    else:  # cut where the values differ by more than FEATURE_THRESHOLD
        values = data.values.take(slot_feature * n_samples + sample[order])
        cut_after[:, :-1] = ~node_start[1:] & (values[:, 1:] > values[:, :-1] + FEATURE_THRESHOLD)
    run_start = node_start | np.concatenate([np.zeros((k, 1), bool), cut_after[:, :-1]], axis=1)

    flat_start = np.flatnonzero(run_start)
    n_runs = len(flat_start)
    run_last = np.append(flat_start[1:], k * m) - 1  # flat index of the last position of each run
    run_of = np.cumsum(run_start.ravel().astype(np.intp)) - 1
    run_stats = _node_statistics(run_of, weight[order].ravel(), target[order].ravel(), n_runs, criterion, n_classes)
    run_count = np.diff(np.append(flat_start, k * m))

    # Cumulative statistics inside each block: left of the cut after each run.
    block_first_run = np.flatnonzero(node_start[flat_start % m])
    block_of_run = np.cumsum(node_start[flat_start % m].astype(np.intp)) - 1
    cumulative = np.cumsum(run_stats, axis=0)
    cumulative_count = np.cumsum(run_count)
    before = np.vstack([np.zeros((1, run_stats.shape[1])), cumulative[block_first_run[1:] - 1]])
    before_count = np.append(0, cumulative_count[block_first_run[1:] - 1])
    block_last_run = np.append(block_first_run[1:], n_runs) - 1
    block_total = cumulative[block_last_run] - before
    block_count = cumulative_count[block_last_run] - before_count

    cut = np.flatnonzero(cut_after.ravel()[run_last])  # runs followed by an allowed cut
    block = block_of_run[cut]
    left = cumulative[cut] - before[block]
    right = block_total[block] - left
    n_left = cumulative_count[cut] - before_count[block]
    allowed = (n_left >= min_samples_leaf) & (block_count[block] - n_left >= min_samples_leaf)
    children = _weighted_impurity(left, criterion) + _weighted_impurity(right, criterion)

    feature = np.full(n_nodes, TREE_UNDEFINED, dtype=np.intp)
    threshold = np.full(n_nodes, float(TREE_UNDEFINED))
    best = np.full(n_nodes, np.inf)
    cut, children = cut[allowed], children[allowed]
    if len(cut):
        cut_node = node_of[run_last[cut] % m]
        np.minimum.at(best, cut_node, children)
        tolerance = _tie_tolerance(block_total[:n_nodes], criterion)
        winner = np.flatnonzero(children <= (best + tolerance)[cut_node])  # the first winner is the earliest
        first = np.full(n_nodes, len(cut))
        np.minimum.at(first, cut_node[winner], winner)
        found = np.flatnonzero(first < len(cut))
        row, position = np.divmod(run_last[cut[first[found]]], m)
        feature[found] = winners = node_features[found, row]
        if data.cut_by_rank:
            below = data.rank_values[winners, node_rank[row, position] % n_ranks]
            above = data.rank_values[winners, node_rank[row, position + 1] % n_ranks]
        else:
            below, above = values[row, position], values[row, position + 1]
        threshold[found] = below.astype(np.float64) / 2 + above.astype(np.float64) / 2  # as scikit-learn

    node_first = np.flatnonzero(node_start)
    node_last = np.append(node_first[1:], m) - 1
    if data.cut_by_rank:
        constant = node_rank[:, node_last] == node_rank[:, node_first]  # (k, n_nodes)
    else:
        constant = values[:, node_last] <= values[:, node_first] + FEATURE_THRESHOLD
    return feature, threshold, best, constant.all(axis=0)


def _tie_tolerance(node_stats, criterion):
    """How close to the best a split's score must be to tie with it: 1e-10 of the node's ``w * impurity``.

    Splits that differ by rounding only are ties, resolved by the drawing
    order of the features: the same split whichever order the sums were
    taken in (weights, or the same samples repeated).
    """
    return 1e-10 * np.abs(_weighted_impurity(node_stats, criterion))


def _first_varying_feature(X, sample, node_of, features_in_order):
    """For each node, the first feature in ``features_in_order`` that is not constant in it.

    Args:
        features_in_order: shape ``(n_nodes, n_candidates)``.

    Returns:
        Feature indices, shape ``(n_nodes,)``; -1 where every candidate is constant.
    """
    node_first = np.flatnonzero(np.append(True, node_of[1:] != node_of[:-1]))
    node_values = X[sample]
    low = np.minimum.reduceat(node_values, node_first, axis=0)
    high = np.maximum.reduceat(node_values, node_first, axis=0)
    varying = np.take_along_axis(high > low + FEATURE_THRESHOLD, features_in_order, axis=1)
    first = np.argmax(varying, axis=1)
    rows = np.arange(len(first))
    return np.where(varying[rows, first], features_in_order[rows, first], -1)


def _keep_nodes(keep, node_of, *arrays):
    """The position arrays restricted to the nodes where ``keep`` is True, nodes renumbered."""
    at = keep[node_of]
    new_index = np.cumsum(keep.astype(np.intp)) - 1
    return (new_index[node_of[at]], *(a[at] for a in arrays))


def _split_level(X, data, level, random_states, max_features, criterion, n_classes, min_samples_leaf):
    """The split of every node of a level: ``(feature, threshold)``, shape ``(n_nodes,)`` each.

    Each node draws the order in which it examines the features (a random
    permutation) and examines the first ``max_features`` of them; if all of
    those are constant in the node, it goes on to the first one that is not.
    That is scikit-learn's rule (and, with all features examined, its way of
    breaking ties between equally good splits at random).
    """
    node_of, sample, weight, target, node_tree = level
    n_nodes, n_features = len(node_tree), X.shape[1]
    trees, per_tree = np.unique(node_tree, return_counts=True)
    keys = np.concatenate([random_states[t].random_sample((c, n_features)) for t, c in zip(trees, per_tree)])
    drawing_order = np.argsort(keys, axis=1)
    if criterion == "squared_error":  # centred in each node: the same splits, sums without cancellation
        node_sum = np.bincount(node_of, weights=weight * target, minlength=n_nodes)
        target = target - (node_sum / np.bincount(node_of, weights=weight, minlength=n_nodes))[node_of]
    feature, threshold, all_constant = _search_in_chunks(
        data, (sample, node_of, weight, target), drawing_order[:, :max_features],
        criterion, n_classes, min_samples_leaf,
    )
    if max_features < n_features and all_constant.any():
        sub_node_of, sub_sample, sub_weight, sub_target = _keep_nodes(all_constant, node_of, sample, weight, target)
        retry = np.flatnonzero(all_constant)
        extra = _first_varying_feature(X, sub_sample, sub_node_of, drawing_order[retry, max_features:])
        extra = np.where(extra < 0, drawing_order[retry, 0], extra)  # all constant: nothing to cut anyway
        f, t, _, _ = _best_splits(
            data, sub_sample, sub_node_of, sub_weight, sub_target, extra[:, None],
            criterion, n_classes, min_samples_leaf,
        )
        feature[retry], threshold[retry] = f, t
    return feature, threshold


def _search_in_chunks(data, positions, node_features, criterion, n_classes, min_samples_leaf):
    """:func:`_best_splits` over a few features at a time, so that no array outgrows ``_MAX_BLOCK_ELEMENTS``.

    A later chunk's split replaces an earlier one only when it is better
    by more than the tie tolerance: the first best in drawing order wins,
    as in one search over all the features.

    Returns:
        ``(feature, threshold, all_constant)``, shape ``(n_nodes,)`` each.
    """
    sample, node_of, weight, target = positions
    n_nodes, k = node_features.shape
    per_chunk = max(1, _MAX_BLOCK_ELEMENTS // len(sample))
    feature, threshold, score, all_constant = _best_splits(
        data, sample, node_of, weight, target, node_features[:, :per_chunk], criterion, n_classes, min_samples_leaf
    )
    if per_chunk < k:
        stats = _node_statistics(node_of, weight, target, n_nodes, criterion, n_classes)
        tolerance = _tie_tolerance(stats, criterion)
        for start in range(per_chunk, k, per_chunk):
            f, t, chunk_score, chunk_constant = _best_splits(
                data, sample, node_of, weight, target, node_features[:, start : start + per_chunk],
                criterion, n_classes, min_samples_leaf,
            )
            better = chunk_score < score - tolerance
            feature[better], threshold[better], score[better] = f[better], t[better], chunk_score[better]
            all_constant &= chunk_constant
    return feature, threshold, all_constant


def grow_trees(
    X,
    targets,
    sample_weights,
    random_states,
    *,
    criterion,
    n_classes=0,
    max_depth=None,
    min_samples_split=2,
    min_samples_leaf=1,
    max_features=None,
    ranked_columns=None,
):
    """Grow one CART tree per row of ``sample_weights``, all of them together, level by level.

    A node becomes a leaf when it reaches ``max_depth``, holds fewer than
    ``min_samples_split`` or ``2 * min_samples_leaf`` samples, is pure, or has
    no allowed cut; otherwise it is split by the cut that minimises the
    weighted impurity of its children (see :func:`best_split`).

    Args:
        X: float32 array of shape ``(n_samples, n_features)``.
        targets: class indices (``n_classes > 0``) or real targets, shape
            ``(n_samples,)`` for all trees or ``(n_trees, n_samples)``.
        sample_weights: shape ``(n_trees, n_samples)``; a sample of weight 0
            is left out of that tree (a bootstrap sample is a vector of counts).
        random_states: one ``numpy.random.RandomState`` per tree.
        criterion: ``"gini"``, ``"entropy"`` or ``"squared_error"``.
        n_classes: the number of classes; 0 for regression.
        max_depth: the deepest level allowed, None for no limit.
        min_samples_split, min_samples_leaf: integers, as scikit-learn's.
        max_features: how many features each node examines; None for all.
        ranked_columns: ``rank_columns(X)``, when several calls share ``X``.

    Returns:
        A list of :class:`Tree`, one per row of ``sample_weights``.
    """
    n_samples, n_features = X.shape
    criterion = "entropy" if criterion == "log_loss" else criterion
    max_features = n_features if max_features is None else int(max_features)
    max_depth = np.iinfo(np.int64).max if max_depth is None else max_depth
    data = rank_columns(X) if ranked_columns is None else ranked_columns
    targets = np.asarray(targets)

    tree_of, sample = np.nonzero(sample_weights > 0)
    weight = sample_weights[tree_of, sample]
    target = targets[sample] if targets.ndim == 1 else targets[tree_of, sample]
    node_of = tree_of  # one root per tree
    node_tree = np.arange(len(sample_weights))
    parent = np.full(len(node_tree), -1)
    is_left = np.zeros(len(node_tree), dtype=bool)
    first_id = 0
    levels = []
    for depth in range(n_samples + 1):
        n_nodes = len(node_tree)
        stats = _node_statistics(node_of, weight, target, n_nodes, criterion, n_classes)
        count = np.bincount(node_of, minlength=n_nodes)
        impurity = node_impurity(stats, criterion)
        node_weight = _node_weight(stats, criterion)
        value = stats / node_weight[:, None] if n_classes else stats[:, 1:2] / node_weight[:, None]
        feature = np.full(n_nodes, TREE_UNDEFINED, dtype=np.intp)
        threshold = np.full(n_nodes, float(TREE_UNDEFINED))
        splittable = (
            (depth < max_depth)
            & (count >= min_samples_split)
            & (count >= 2 * min_samples_leaf)
            & (impurity > EPSILON)
        )
        if splittable.any():
            level = (*_keep_nodes(splittable, node_of, sample, weight, target), node_tree[splittable])
            feature[splittable], threshold[splittable] = _split_level(
                X, data, level, random_states, max_features, criterion, n_classes, min_samples_leaf
            )
        ids = first_id + np.arange(n_nodes)
        first_id += n_nodes
        levels.append((node_tree, parent, is_left, feature, threshold, value, impurity, count, node_weight))

        split = feature >= 0
        if not split.any():
            break
        node_of, sample, weight, target = _keep_nodes(split, node_of, sample, weight, target)
        go_right = X[sample, feature[split][node_of]] > threshold[split][node_of]
        child = 2 * node_of + go_right
        order, _ = _stable_argsort(child, 2 * np.count_nonzero(split))
        node_of, sample, weight, target = child[order], sample[order], weight[order], target[order]
        node_tree = np.repeat(node_tree[split], 2)
        parent = np.repeat(ids[split], 2)
        is_left = np.tile([True, False], np.count_nonzero(split))
    return _assemble_trees(levels, len(sample_weights), n_features)


def _assemble_trees(levels, n_trees, n_features):
    """Turn the per-level node records of :func:`grow_trees` into one :class:`Tree` per tree.

    Nodes were numbered level by level; scikit-learn numbers them depth first,
    left before right. A node's depth-first number is its parent's plus one,
    plus the size of the left sibling's subtree for a right child.
    """
    columns = [np.concatenate(column) for column in zip(*levels)]
    node_tree, parent, is_left, feature, threshold, value, impurity, count, node_weight = columns
    level_sizes = [len(level[0]) for level in levels]
    bounds = np.cumsum([0, *level_sizes])
    n_nodes = len(node_tree)
    depth = np.repeat(np.arange(len(levels)), level_sizes)

    subtree_size = np.ones(n_nodes, dtype=np.int64)
    for start, stop in reversed(list(zip(bounds[1:-1], bounds[2:]))):
        np.add.at(subtree_size, parent[start:stop], subtree_size[start:stop])
    preorder = np.zeros(n_nodes, dtype=np.int64)
    for start, stop in zip(bounds[1:-1], bounds[2:]):
        ids = np.arange(start, stop)
        left_sibling_size = np.where(is_left[ids], 0, subtree_size[ids - 1])
        preorder[ids] = preorder[parent[ids]] + 1 + left_sibling_size

    children_left = np.full(n_nodes, TREE_LEAF, dtype=np.intp)
    children_right = np.full(n_nodes, TREE_LEAF, dtype=np.intp)
    child = np.arange(bounds[1], n_nodes)
    left_child, right_child = child[is_left[child]], child[~is_left[child]]
    children_left[parent[left_child]] = preorder[left_child]
    children_right[parent[right_child]] = preorder[right_child]

    order = np.lexsort((preorder, node_tree))
    ends = np.cumsum(np.bincount(node_tree, minlength=n_trees))
    trees = []
    for nodes in np.split(order, ends[:-1]):
        trees.append(
            Tree(
                children_left=children_left[nodes],
                children_right=children_right[nodes],
                feature=feature[nodes],
                threshold=threshold[nodes],
                value=value[nodes][:, None, :],
                impurity=impurity[nodes],
                n_node_samples=count[nodes],
                weighted_n_node_samples=node_weight[nodes],
                max_depth=depth[nodes].max(),
                n_features=n_features,
            )
        )
    return trees


# ---------------------------------------------------------------------------
# CART estimators
# ---------------------------------------------------------------------------


def _resolve_max_features(max_features, n_features):
    """scikit-learn's ``max_features`` (None, "sqrt", "log2", int, fraction) as a count."""
    if max_features is None:
        return n_features
    if max_features == "sqrt":
        return max(1, int(np.sqrt(n_features)))
    if max_features == "log2":
        return max(1, int(np.log2(n_features)))
    if isinstance(max_features, Integral):
        return min(int(max_features), n_features)
    return max(1, int(max_features * n_features))


def _resolve_min_samples(min_samples_split, min_samples_leaf, n_samples):
    """``(min_samples_split, min_samples_leaf)`` as counts (fractions are of ``n_samples``)."""
    if not isinstance(min_samples_leaf, Integral):
        min_samples_leaf = int(np.ceil(min_samples_leaf * n_samples))
    if not isinstance(min_samples_split, Integral):
        min_samples_split = max(2, int(np.ceil(min_samples_split * n_samples)))
    return max(min_samples_split, 2 * min_samples_leaf), min_samples_leaf


_TREE_PARAMETERS = {
    "max_depth": [Interval(Integral, 1, None, closed="left"), None],
    "min_samples_split": [
        Interval(Integral, 2, None, closed="left"),
        Interval(RealNotInt, 0.0, 1.0, closed="right"),
    ],
    "min_samples_leaf": [
        Interval(Integral, 1, None, closed="left"),
        Interval(RealNotInt, 0.0, 1.0, closed="neither"),
    ],
    "max_features": [
        Interval(Integral, 1, None, closed="left"),
        Interval(RealNotInt, 0.0, 1.0, closed="right"),
        StrOptions({"sqrt", "log2"}),
        None,
    ],
    "random_state": ["random_state"],
}


class ProbabilisticClassifierMixin:
    """``predict`` and ``predict_log_proba`` from a classifier's ``predict_proba`` (trees and forests)."""

    def predict_log_proba(self, X):
        """The logarithm of :meth:`predict_proba` (``-inf`` for a probability of 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The class of highest probability, shape ``(n_samples,)`` (the first on ties)."""
        proba = self.predict_proba(X)  # first: it checks that the estimator is fitted
        return self.classes_[np.argmax(proba, axis=1)]


class BaseDecisionTree(BaseEstimator):
    """What the CART classifier and regressor share: ``fit``, ``apply`` and the tree's shape.

    Subclasses set ``_classifier``.
    """

    _parameter_constraints: dict = dict(_TREE_PARAMETERS)
    _classifier = False

    def __init__(self, *, criterion, max_depth, min_samples_split, min_samples_leaf, max_features, random_state):
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Grow the tree on ``X`` (shape ``(n_samples, n_features)``) and ``y`` (``(n_samples,)``).

        Args:
            sample_weight: shape ``(n_samples,)``; None weighs every sample 1.
                Samples of weight 0 are left out.

        Returns:
            self
        """
        X, y, sample_weight = _validate_fit_data(self, X, y, sample_weight, classifier=self._classifier)
        (self.tree_,) = grow_trees(
            X, y, sample_weight[None, :], [check_random_state(self.random_state)], **self._growth_parameters(X.shape)
        )
        return self

    def _growth_parameters(self, shape):
        """The keyword arguments of :func:`grow_trees` for data of ``shape``; sets ``max_features_``."""
        n_samples, n_features = shape
        self.n_outputs_ = 1
        self.max_features_ = _resolve_max_features(self.max_features, n_features)
        min_samples_split, min_samples_leaf = _resolve_min_samples(
            self.min_samples_split, self.min_samples_leaf, n_samples
        )
        return dict(
            criterion=self.criterion,
            n_classes=getattr(self, "n_classes_", 0),
            max_depth=self.max_depth,
            min_samples_split=min_samples_split,
            min_samples_leaf=min_samples_leaf,
            max_features=self.max_features_,
        )

    def apply(self, X):
        """The index of the leaf each sample of ``X`` lands in, shape ``(n_samples,)``."""
        X = _validate_predict_data(self, X)
        return self.tree_.apply(X)

    def get_depth(self):
        """The depth of the tree: the longest path from the root to a leaf."""
        check_is_fitted(self)
        return self.tree_.max_depth

    def get_n_leaves(self):
        """The number of leaves of the tree."""
        check_is_fitted(self)
        return self.tree_.n_leaves

    @property
    def feature_importances_(self):
        """Impurity-based importance of each feature, summing to 1 (see :meth:`Tree.compute_feature_importances`)."""
        check_is_fitted(self)
        return self.tree_.compute_feature_importances()


class DecisionTreeClassifier(ProbabilisticClassifierMixin, ClassifierMixin, BaseDecisionTree):
    """CART classification tree, grown as scikit-learn grows it.

    Each node is split by the test ``x[feature] <= threshold`` that most
    reduces the weighted impurity of its children. With ``p_k`` the weighted
    fraction of class ``k`` among a node's samples::

        gini(node)    = 1 - sum_k p_k**2
        entropy(node) = -sum_k p_k * log2(p_k)
        split = argmax  w * impurity(node) - w_left * impurity(left) - w_right * impurity(right)

    A leaf predicts the class fractions of its training samples.

    Args:
        criterion: ``"gini"``, ``"entropy"`` or ``"log_loss"`` (the entropy).
        max_depth: the deepest level a node may sit at; None grows until the
            leaves are pure or too small.
        min_samples_split: the fewest samples a node needs to be split (an
            int, or a fraction of the training samples).
        min_samples_leaf: the fewest samples a child may hold (an int, or a
            fraction).
        max_features: how many features each node examines, drawn at random:
            None (all), an int, a fraction, ``"sqrt"`` or ``"log2"``.
        random_state: seeds the order in which features are examined, which
            breaks ties between equally good splits (and draws the features
            when ``max_features`` is below the number of features).

    Attributes:
        tree_: the fitted :class:`Tree`.
        classes_: the class labels, shape ``(n_classes,)``.
        n_classes_, n_features_in_, max_features_: as scikit-learn's.
        feature_importances_: shape ``(n_features,)``.
    """

    _parameter_constraints: dict = {
        **BaseDecisionTree._parameter_constraints,
        "criterion": [StrOptions(set(_CLASSIFICATION_CRITERIA))],
    }
    _classifier = True

    def __init__(
        self,
        *,
        criterion="gini",
        max_depth=None,
        min_samples_split=2,
        min_samples_leaf=1,
        max_features=None,
        random_state=None,
    ):
        super().__init__(
            criterion=criterion,
            max_depth=max_depth,
            min_samples_split=min_samples_split,
            min_samples_leaf=min_samples_leaf,
            max_features=max_features,
            random_state=random_state,
        )

    def predict_proba(self, X):
        """Class fractions of the leaf of each sample, shape ``(n_samples, n_classes)``."""
        X = _validate_predict_data(self, X)
        return self.tree_.predict(X)[:, 0, :]


class DecisionTreeRegressor(RegressorMixin, BaseDecisionTree):
    """CART regression tree, grown as scikit-learn grows it.

    Each node is split by the test ``x[feature] <= threshold`` that most
    reduces the weighted variance of its children; a leaf predicts the mean
    target of its training samples::

        squared_error(node) = mean_node(y**2) - mean_node(y)**2
        split = argmax  w * squared_error(node) - w_left * squared_error(left) - w_right * squared_error(right)

    Args:
        criterion: ``"squared_error"``.
        max_depth, min_samples_split, min_samples_leaf, max_features,
            random_state: as :class:`DecisionTreeClassifier`'s.

    Attributes:
        tree_: the fitted :class:`Tree` (``value[:, 0, 0]`` are the node means).
        n_features_in_, max_features_, feature_importances_: as scikit-learn's.
    """

    _parameter_constraints: dict = {
        **BaseDecisionTree._parameter_constraints,
        "criterion": [StrOptions({"squared_error"})],
    }

    def __init__(
        self,
        *,
        criterion="squared_error",
        max_depth=None,
        min_samples_split=2,
        min_samples_leaf=1,
        max_features=None,
        random_state=None,
    ):
        super().__init__(
            criterion=criterion,
            max_depth=max_depth,
            min_samples_split=min_samples_split,
            min_samples_leaf=min_samples_leaf,
            max_features=max_features,
            random_state=random_state,
        )

    def predict(self, X):
        """The mean training target of the leaf of each sample, shape ``(n_samples,)``."""
        X = _validate_predict_data(self, X)
        return self.tree_.predict(X)[:, 0, 0]


# ---------------------------------------------------------------------------
# ID3 and C4.5: multiway trees chosen by information gain and gain ratio
# ---------------------------------------------------------------------------


def entropy(class_weights):
    """Entropy in bits of class distributions, ``H = -sum_k p_k log2(p_k)``.

    Args:
        class_weights: counts (or weights) per class, shape ``(..., n_classes)``.

    Returns:
        Shape ``class_weights.shape[:-1]``.
    """
    return node_impurity(np.asarray(class_weights, dtype=np.float64), "entropy")


def _branch_tables(codes, y, n_categories, n_classes):
    """Class counts of every branch of every categorical feature, for all features at once.

    Args:
        codes: category codes, shape ``(n_samples, n_features)``; feature ``j``
            has codes ``0 .. n_categories[j] - 1``.
        y: class indices, shape ``(n_samples,)``.

    Returns:
        ``(table, first_row)``: ``table[first_row[j] + c]`` holds the class
        counts of category ``c`` of feature ``j``, shape ``(sum(n_categories), n_classes)``.
    """
    first_row = np.concatenate([[0], np.cumsum(n_categories)[:-1]]).astype(np.intp)
    rows = (first_row + codes) * n_classes + y[:, None]
    table = np.bincount(rows.ravel(), minlength=int(np.sum(n_categories)) * n_classes)
    return table.reshape(-1, n_classes).astype(np.float64), first_row


def _gains_from_tables(table, first_row, parent_counts):
    """Information gain and split information of each feature from its branch table.

    With ``S_v`` the samples of branch ``v``::

        Gain(S, A)      = H(S) - sum_v |S_v| / |S| * H(S_v)
        SplitInfo(S, A) = -sum_v |S_v| / |S| * log2(|S_v| / |S|)

    Returns:
        ``(gain, split_information)``, shape ``(n_features,)`` each.
    """
    n = parent_counts.sum()
    branch_share = table.sum(axis=1) / n
    branch_entropy = np.where(branch_share > 0, entropy(table), 0.0)  # empty branches weigh nothing
    weighted_entropy = np.add.reduceat(branch_share * branch_entropy, first_row)
    split_information = -np.add.reduceat(scipy.special.xlogy(branch_share, branch_share), first_row) / np.log(2)
    return entropy(parent_counts) - weighted_entropy, split_information


def _encode_categories(x):
    """``(categories, codes)`` of a 1-D array of category values."""
    return np.unique(np.asarray(x), return_inverse=True)


def information_gain(x, y):
    """The information gain of splitting labels ``y`` by the categories of ``x``.

    ``Gain(S, A) = H(S) - sum_v |S_v| / |S| * H(S_v)``, in bits, where
    ``S_v`` are the samples whose ``x`` equals ``v``.

    Args:
        x: one categorical feature, shape ``(n_samples,)`` (any values).
        y: labels, shape ``(n_samples,)``.

    Returns:
        A float.
    """
    categories, codes = _encode_categories(x)
    classes, y = _encode_categories(y)
    table, first_row = _branch_tables(codes[:, None], y, [len(categories)], len(classes))
    return float(_gains_from_tables(table, first_row, np.bincount(y).astype(np.float64))[0][0])


def gain_ratio(x, y):
    """C4.5's gain ratio: :func:`information_gain` over the split information of ``x``.

    ``GainRatio(S, A) = Gain(S, A) / SplitInfo(S, A)`` with
    ``SplitInfo(S, A) = -sum_v |S_v| / |S| * log2(|S_v| / |S|)``: the
    entropy of the split itself, large for features with many small branches.

    Args:
        x: one categorical feature, shape ``(n_samples,)``.
        y: labels, shape ``(n_samples,)``.

    Returns:
        A float (0.0 when ``x`` has one category).
    """
    categories, codes = _encode_categories(x)
    classes, y = _encode_categories(y)
    table, first_row = _branch_tables(codes[:, None], y, [len(categories)], len(classes))
    gain, split_information = _gains_from_tables(table, first_row, np.bincount(y).astype(np.float64))
    return float(_ratio(gain, split_information)[0])


def _continuous_gains(values, y, n_classes, min_samples_leaf):
    """The best binary cut ``x <= threshold`` of every continuous feature, by information gain.

    As in :func:`best_split`: sort each feature, accumulate class counts,
    and every cut between two different values with at least
    ``min_samples_leaf`` samples on each side is scored at once.

    Args:
        values: shape ``(n_samples, n_features)``.
        y: class indices, shape ``(n_samples,)``.

    Returns:
        ``(gain, split_information, threshold)``, shape ``(n_features,)``
        each; the gain is ``-inf`` for a feature with no allowed cut.
    """
    n, d = values.shape
    order = np.argsort(values, axis=0, kind="stable")
    in_order = np.take_along_axis(values, order, axis=0)
    counts = np.eye(n_classes)[y]
    left = np.cumsum(counts[order], axis=0)[:-1]  # (n - 1, d, K)
    right = counts.sum(axis=0) - left
    n_left = np.arange(1, n)[:, None]
    children = (n_left * entropy(left) + (n - n_left) * entropy(right)) / n
    allowed = (in_order[1:] > in_order[:-1]) & (n_left >= min_samples_leaf) & (n - n_left >= min_samples_leaf)
    children = np.where(allowed, children, np.inf)
    cut = np.argmin(children, axis=0)  # (d,)
    columns = np.arange(d)
    gain = entropy(counts.sum(axis=0)) - children[cut, columns]
    share = (cut + 1) / n
    split_information = -(scipy.special.xlogy(share, share) + scipy.special.xlogy(1 - share, 1 - share)) / np.log(2)
    threshold = (in_order[cut, columns] + in_order[np.minimum(cut + 1, n - 1), columns]) / 2
    return gain, split_information, threshold


def _ratio(gain, split_information):
    """Gain ratios, 0 where the split information is 0 (a test with one branch)."""
    return np.divide(gain, split_information, out=np.zeros_like(gain), where=split_information > 0)


@dataclass
class MultiwayNode:
    """One node of an ID3 / C4.5 tree.

    Attributes:
        class_counts: the training samples of each class in the node, shape ``(n_classes,)``.
        depth: 0 for the root.
        feature: the feature tested, -1 at a leaf.
        threshold: for a continuous test, ``x <= threshold`` goes to
            ``children[0]``, the rest to ``children[1]``; None otherwise.
        categories: for a categorical test, the category code of each child.
        gain, gain_ratio: of the chosen test.
        children: the child nodes.
    """

    class_counts: np.ndarray
    depth: int
    feature: int = -1
    threshold: float | None = None
    categories: np.ndarray | None = None
    gain: float = 0.0
    gain_ratio: float = 0.0
    children: list = field(default_factory=list)

    @property
    def is_leaf(self):
        return not self.children


class _MultiwayTreeClassifier(ProbabilisticClassifierMixin, ClassifierMixin, BaseEstimator):
    """ID3 and C4.5 share everything but the choice of the test (``_choose``).

    Categorical features are stored as codes (``categories_[j]`` lists
    feature ``j``'s categories); a categorical test makes one child per
    category present in the node. A sample whose category the node has no
    child for (unseen in training, or absent from the node) stops there and
    gets the node's class distribution.
    """

    _parameter_constraints: dict = {
        "max_depth": [Interval(Integral, 1, None, closed="left"), None],
        "min_samples_split": [Interval(Integral, 2, None, closed="left")],
    }

    def _categorical_mask(self, n_features):
        return np.ones(n_features, dtype=bool)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Grow the tree on ``X`` (shape ``(n_samples, n_features)``, any values for
        categorical features) and labels ``y`` (``(n_samples,)``).

        Returns:
            self
        """
        with named_errors(self):
            X, y = validate_data(self, X, y, dtype=None)
            check_classification_targets(y)
            self.classes_, y = np.unique(y, return_inverse=True)
            self.n_classes_ = len(self.classes_)
            self.categorical_ = self._categorical_mask(X.shape[1])
            codes, values = self._encode(X, fit=True)
        self.tree_ = self._grow(codes, values, y, np.arange(len(y)), depth=0)
        return self

    def _encode(self, X, fit=False):
        """Split ``X`` into category codes (categorical features) and float64 values (continuous).

        Unknown categories get the code -1.
        """
        categorical = np.flatnonzero(self.categorical_)
        continuous = np.flatnonzero(~self.categorical_)
        if fit:
            self.categories_ = {}
        codes = np.empty((len(X), len(categorical)), dtype=np.intp)
        for column, j in enumerate(categorical):
            try:
                if fit:
                    self.categories_[j], codes[:, column] = _encode_categories(X[:, j])
                else:
                    known = self.categories_[j]
                    position = np.minimum(np.searchsorted(known, X[:, j]), len(known) - 1)
                    codes[:, column] = np.where(known[position] == X[:, j], position, -1)
            except TypeError as error:
                raise TypeError(
                    f"{type(self).__name__}: the categories of feature {j} cannot be compared "
                    f"(mixed types?): {error}"
                ) from error
        values = X[:, continuous].astype(np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{type(self).__name__}: Input X contains NaN or infinity in a continuous feature.")
        return codes, values

    def _grow(self, codes, values, y, rows, depth):
        """The subtree of the samples ``rows``, grown recursively (one call per node)."""
        counts = np.bincount(y[rows], minlength=self.n_classes_).astype(np.float64)
        node = MultiwayNode(class_counts=counts, depth=depth)
        if (
            np.count_nonzero(node.class_counts) <= 1
            or (self.max_depth is not None and depth >= self.max_depth)
            or len(rows) < self.min_samples_split
        ):
            return node
        test = self._choose(codes[rows], values[rows], y[rows])
        if test is None:
            return node
        node.feature, node.gain, node.gain_ratio, threshold = test
        if self.categorical_[node.feature]:
            column = codes[rows, self._column(node.feature)]
            node.categories = np.unique(column)
            branches = [rows[column == category] for category in node.categories]
        else:
            node.threshold = threshold
            goes_left = values[rows, self._column(node.feature)] <= threshold
            branches = [rows[goes_left], rows[~goes_left]]
        node.children = [self._grow(codes, values, y, branch, depth + 1) for branch in branches]
        return node

    def _column(self, feature):
        """The column of ``feature`` among the codes (categorical) or the values (continuous)."""
        return int(np.count_nonzero(self.categorical_[:feature] == self.categorical_[feature]))

    def _candidates(self, codes, values, y, min_branches):
        """Gain, gain ratio and threshold of the best test on every feature of a node.

        Returns:
            ``(gain, ratio, threshold)`` indexed by feature; ``gain`` is
            ``-inf`` where the feature offers no test (one category, or
            fewer than ``min_branches`` branches with ``min_samples_leaf``
            samples).
        """
        n_features = len(self.categorical_)
        gain = np.full(n_features, -np.inf)
        ratio = np.zeros(n_features)
        threshold = np.full(n_features, np.nan)
        parent = np.bincount(y, minlength=self.n_classes_).astype(np.float64)
        categorical = np.flatnonzero(self.categorical_)
        if len(categorical):
            n_categories = np.array([len(self.categories_[j]) for j in categorical])
            table, first_row = _branch_tables(codes, y, n_categories, self.n_classes_)
            cat_gain, split_information = _gains_from_tables(table, first_row, parent)
            big_branches = np.add.reduceat(table.sum(axis=1) >= self._min_leaf(), first_row)
            branches = np.add.reduceat(table.sum(axis=1) > 0, first_row)
            offers_test = (branches >= 2) & (big_branches >= min_branches)
            gain[categorical] = np.where(offers_test, cat_gain, -np.inf)
            ratio[categorical] = _ratio(cat_gain, split_information)
        continuous = np.flatnonzero(~self.categorical_)
        if len(continuous) and len(y) > 1:
            cont_gain, split_information, cut = _continuous_gains(values, y, self.n_classes_, self._min_leaf())
            gain[continuous] = cont_gain
            ratio[continuous] = _ratio(cont_gain, split_information)
            threshold[continuous] = cut
        return gain, ratio, threshold

    def _min_leaf(self):
        return 1

    def predict_proba(self, X):
        """Class fractions of the node each sample stops at, shape ``(n_samples, n_classes)``."""
        check_is_fitted(self)
        with named_errors(self):
            X = validate_data(self, X, dtype=None, reset=False)
            codes, values = self._encode(X)
        proba = np.empty((len(X), self.n_classes_))
        self._descend(self.tree_, codes, values, np.arange(len(X)), proba)
        return proba

    def _descend(self, node, codes, values, rows, proba):
        """Send the samples ``rows`` down from ``node``, writing the probabilities where they stop."""
        proba[rows] = node.class_counts / node.class_counts.sum()
        if node.is_leaf or not len(rows):
            return
        if node.categories is not None:
            column = codes[rows, self._column(node.feature)]
            for category, child in zip(node.categories, node.children):
                self._descend(child, codes, values, rows[column == category], proba)
        else:
            goes_left = values[rows, self._column(node.feature)] <= node.threshold
            self._descend(node.children[0], codes, values, rows[goes_left], proba)
            self._descend(node.children[1], codes, values, rows[~goes_left], proba)

    def get_depth(self):
        """The depth of the deepest leaf (the root alone has depth 0)."""
        check_is_fitted(self)
        return max(node.depth for node in self._nodes())

    def get_n_leaves(self):
        """The number of leaves."""
        check_is_fitted(self)
        return sum(node.is_leaf for node in self._nodes())

    def _nodes(self):
        stack = [self.tree_]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children)

    def export_text(self, feature_names=None):
        """The tree as indented text, one test per line and the class at each leaf.

        Args:
            feature_names: a name per feature; by default ``feature_names_in_``
                when fitted on a DataFrame, else ``x0, x1, ...``.

        Returns:
            A string, e.g. ``"outlook = overcast: yes"`` lines.
        """
        check_is_fitted(self)
        if feature_names is None:
            feature_names = getattr(self, "feature_names_in_", [f"x{j}" for j in range(len(self.categorical_))])
        lines = []

        def write(node, indent):
            name = feature_names[node.feature]
            if node.categories is not None:
                tests = [f"{name} = {self.categories_[node.feature][c]}" for c in node.categories]
            else:
                tests = [f"{name} <= {node.threshold:g}", f"{name} > {node.threshold:g}"]
            for test, child in zip(tests, node.children):
                if child.is_leaf:
                    lines.append(f"{indent}{test}: {self.classes_[np.argmax(child.class_counts)]}")
                else:
                    lines.append(f"{indent}{test}")
                    write(child, indent + "|   ")

        if self.tree_.is_leaf:
            return str(self.classes_[np.argmax(self.tree_.class_counts)])
        write(self.tree_, "")
        return "\n".join(lines)


class ID3Classifier(_MultiwayTreeClassifier):
    """Quinlan's ID3: every feature categorical, one branch per category, largest information gain.

    At each node the feature ``A`` that most reduces the entropy of the class
    labels is chosen (the lowest index among equals), and the node gets one
    child per category of ``A`` present in it::

        H(S) = -sum_k p_k log2(p_k)
        Gain(S, A) = H(S) - sum_v |S_v| / |S| * H(S_v)

    Growth stops at pure nodes, at ``max_depth``, below ``min_samples_split``
    samples, or when no feature has two categories left in the node (a
    feature once tested is constant below it, so no path tests it twice).
    As in Quinlan's algorithm, a node with an impure class mix is split even
    when the best gain is 0 (XOR-like data needs that).

    Args:
        max_depth: the deepest level a node may sit at; None for no limit.
        min_samples_split: the fewest samples a node needs to be split.

    Attributes:
        tree_: the root :class:`MultiwayNode`.
        classes_, n_classes_, n_features_in_: as scikit-learn's.
        categories_: ``categories_[j]`` lists the categories of feature ``j``.
    """

    def __init__(self, *, max_depth=None, min_samples_split=2):
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split

    def _choose(self, codes, values, y):
        """``(feature, gain, gain_ratio, threshold)`` of the test of largest gain, or None."""
        gain, ratio, threshold = self._candidates(codes, values, y, min_branches=1)
        best = int(np.argmax(gain))
        if gain[best] == -np.inf:
            return None
        return best, float(gain[best]), float(ratio[best]), None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags


class C45Classifier(_MultiwayTreeClassifier):
    """Quinlan's C4.5: the gain ratio, binary thresholds on continuous features, multiway on categorical ones.

    A continuous feature offers the test ``x <= threshold`` whose cut has
    the largest information gain (the threshold is the midpoint of the two
    values around the cut, as CART's; Quinlan's program takes the lower
    value, which splits the training data alike); a
    categorical feature offers one branch per category. Among the tests
    whose gain is positive and at least the average gain of those tests,
    the one of largest gain ratio is chosen::

        SplitInfo(S, A) = -sum_v |S_v| / |S| * log2(|S_v| / |S|)
        GainRatio(S, A) = Gain(S, A) / SplitInfo(S, A)

    (Dividing by the split information keeps many-valued features from
    winning by fragmenting the data; the average-gain rule keeps tests with
    a tiny split information from winning by a tiny gain.) A test must leave
    at least two branches with ``min_samples_leaf`` samples, as Quinlan's
    ``-m`` option. Growth stops at pure nodes, at ``max_depth``, below
    ``min_samples_split`` samples or when no test has a positive gain.
    Missing values and C4.5's error-based pruning are not part of this
    version.

    Args:
        categorical_features: which features are categorical: indices, a
            boolean mask, or None (all continuous).
        max_depth: the deepest level a node may sit at; None for no limit.
        min_samples_split: the fewest samples a node needs to be split.
        min_samples_leaf: the fewest samples on each side of a threshold,
            and in at least two branches of a categorical test (2, Quinlan's
            default).

    Attributes:
        tree_: the root :class:`MultiwayNode`.
        classes_, n_classes_, n_features_in_: as scikit-learn's.
        categorical_: boolean mask of the categorical features.
        categories_: ``categories_[j]`` for each categorical feature ``j``.
    """

    _parameter_constraints: dict = {
        **_MultiwayTreeClassifier._parameter_constraints,
        "categorical_features": ["array-like", None],
        "min_samples_leaf": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, *, categorical_features=None, max_depth=None, min_samples_split=2, min_samples_leaf=2):
        self.categorical_features = categorical_features
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf

    def _categorical_mask(self, n_features):
        if self.categorical_features is None:
            return np.zeros(n_features, dtype=bool)
        given = np.asarray(self.categorical_features)
        if given.dtype == bool:
            if given.shape != (n_features,):
                raise ValueError(
                    f"{type(self).__name__}: a boolean categorical_features needs one entry per feature "
                    f"({n_features}). Received: shape {given.shape}."
                )
            return given.copy()
        if given.size and (given.dtype.kind not in "iu" or given.min() < -n_features or given.max() >= n_features):
            raise ValueError(
                f"{type(self).__name__}: categorical_features must hold feature indices below {n_features}. "
                f"Received: categorical_features={self.categorical_features!r}."
            )
        mask = np.zeros(n_features, dtype=bool)
        mask[given.astype(np.intp)] = True
        return mask

    def _min_leaf(self):
        return self.min_samples_leaf

    def _choose(self, codes, values, y):
        """``(feature, gain, gain_ratio, threshold)`` of C4.5's choice, or None."""
        gain, ratio, threshold = self._candidates(codes, values, y, min_branches=2)
        candidates = gain > 1e-12
        if not candidates.any():
            return None
        eligible = candidates & (gain >= gain[candidates].mean() - 1e-12)
        best = int(np.argmax(np.where(eligible, ratio, -np.inf)))
        return best, float(gain[best]), float(ratio[best]), float(threshold[best])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = self.categorical_features is not None
        return tags
