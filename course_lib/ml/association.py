"""Association rules (关联规则) with the Apriori algorithm (Agrawal & Srikant 1994).

A basket is a set of items bought together. The *support* of an itemset is
the fraction of baskets that contain all its items; a rule ``A -> C`` has

.. math::

    \\text{confidence}(A \\to C) = \\frac{\\text{support}(A \\cup C)}{\\text{support}(A)},
    \\qquad
    \\text{lift}(A \\to C) = \\frac{\\text{confidence}(A \\to C)}{\\text{support}(C)}.

Apriori rests on one fact: every subset of a frequent itemset is frequent. So
the candidates of size ``k`` are unions of two frequent ``(k-1)``-itemsets
that share their first ``k-2`` items, and a candidate with an infrequent
``(k-1)``-subset is dropped before the baskets are counted.

This is not a scikit-learn estimator (baskets are not a feature matrix): two
functions, :func:`apriori` and :func:`association_rules`.
"""
from __future__ import annotations

import itertools
from numbers import Real
from typing import NamedTuple

import numpy as np

__all__ = ["Rule", "apriori", "association_rules", "basket_matrix"]


class Rule(NamedTuple):
    """One association rule ``antecedent -> consequent`` and its measures."""

    antecedent: frozenset
    consequent: frozenset
    support: float
    confidence: float
    lift: float


def _check_fraction(where, name, value):
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value <= 1:
        raise ValueError(f"{where}: {name} must be a number in (0, 1]. Received: {name}={value!r}")


def basket_matrix(baskets):
    """One-hot encode baskets: ``B[b, i]`` is True when basket ``b`` holds item ``i``.

    Args:
        baskets: a sequence of iterables of hashable, mutually sortable items.

    Returns:
        ``(matrix, items)``: a bool array ``(n_baskets, n_items)`` and the sorted
        list of items naming its columns.
    """
    baskets = [set(basket) for basket in baskets]
    items = sorted(set().union(*baskets))
    column = {item: index for index, item in enumerate(items)}
    matrix = np.zeros((len(baskets), len(items)), dtype=bool)
    rows = [row for row, basket in enumerate(baskets) for _ in basket]
    columns = [column[item] for basket in baskets for item in basket]
    matrix[rows, columns] = True
    return matrix, items


def _candidates(frequent):
    """Apriori's join and prune: ``k``-itemsets (sorted column tuples) from frequent ``(k-1)``-itemsets."""
    known = set(frequent)
    joined = []
    for first, second in itertools.combinations(sorted(frequent), 2):
        if first[:-1] != second[:-1]:
            continue
        candidate = first + second[-1:]
        # Prune: every (k-1)-subset must itself be frequent.
        if all(candidate[:drop] + candidate[drop + 1:] in known for drop in range(len(candidate))):
            joined.append(candidate)
    return joined


def apriori(baskets, min_support):
    """All itemsets whose support is at least ``min_support``.

    The support of every candidate of one size is counted in one vectorised
    pass over the one-hot basket matrix.

    Args:
        baskets: a sequence of baskets, each an iterable of hashable, mutually
            sortable items (duplicates in a basket count once).
        min_support: the smallest support kept, a fraction in ``(0, 1]``.

    Returns:
        A dict ``{frozenset(items): support}``, smaller itemsets first.

    Example::

        apriori([{"bread", "milk"}, {"bread", "beer"}, {"bread", "milk"}], 0.5)
        # {frozenset({'bread'}): 1.0, frozenset({'milk'}): 0.667, frozenset({'bread', 'milk'}): 0.667}
    """
    _check_fraction("apriori", "min_support", min_support)
    matrix, items = basket_matrix(baskets)
    if matrix.shape[0] == 0:
        raise ValueError("apriori: baskets is empty; pass at least one basket.")
    n_baskets = matrix.shape[0]
    # A small tolerance so that a support equal to min_support is not lost to rounding.
    threshold = min_support * n_baskets - 1e-9 * n_baskets
    result = {}
    counts = matrix.sum(axis=0)
    level = {(column,): counts[column] for column in np.flatnonzero(counts >= threshold)}
    while level:
        for columns, count in level.items():
            result[frozenset(items[column] for column in columns)] = float(count) / n_baskets
        candidates = _candidates(list(level))
        if not candidates:
            break
        columns = np.array(candidates)  # (n_candidates, k)
        counts = matrix[:, columns].all(axis=2).sum(axis=0)
        level = {candidate: count for candidate, count in zip(candidates, counts) if count >= threshold}
    return result


def association_rules(frequent, min_confidence):
    """Rules ``A -> C`` from frequent itemsets, with confidence at least ``min_confidence``.

    Every frequent itemset ``I`` of two or more items gives the rules
    ``A -> I \\ A`` for each non-empty proper subset ``A``. Since every subset
    of a frequent itemset is frequent, all supports needed are in ``frequent``.

    Args:
        frequent: the dict returned by :func:`apriori`.
        min_confidence: the smallest confidence kept, a fraction in ``(0, 1]``.

    Returns:
        A list of :class:`Rule`, highest confidence first (then highest lift).
    """
    _check_fraction("association_rules", "min_confidence", min_confidence)
    rules = []
    for itemset, support in frequent.items():
        for size in range(1, len(itemset)):
            for antecedent in map(frozenset, itertools.combinations(sorted(itemset), size)):
                consequent = itemset - antecedent
                try:
                    confidence = support / frequent[antecedent]
                    lift = confidence / frequent[consequent]
                except KeyError as error:
                    raise ValueError(
                        "association_rules: frequent must hold every subset of its itemsets, as "
                        f"apriori returns. Missing: {set(error.args[0])}"
                    ) from None
                if confidence >= min_confidence - 1e-12:
                    rules.append(Rule(antecedent, consequent, support, confidence, lift))
    rules.sort(key=lambda rule: (-rule.confidence, -rule.lift, sorted(rule.antecedent), sorted(rule.consequent)))
    return rules
