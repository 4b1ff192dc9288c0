"""course_lib.ml.association: Apriori against brute force, and a hand-checked example.

Brute force enumerates every itemset over the items present and counts its
support directly; Hypothesis draws the baskets and the thresholds. Apriori is
not a scikit-learn estimator (baskets are not a feature matrix), so it is not
run through scikit-learn's estimator checks.
"""
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.ml.association import Rule, _candidates, apriori, association_rules, basket_matrix

ITEMS = "abcdefg"


def brute_force_frequent(baskets, min_support):
    baskets = [set(basket) for basket in baskets]
    items = sorted(set().union(*baskets))
    frequent = {}
    for size in range(1, len(items) + 1):
        for itemset in itertools.combinations(items, size):
            support = sum(set(itemset) <= basket for basket in baskets) / len(baskets)
            if support >= min_support - 1e-12:
                frequent[frozenset(itemset)] = support
    return frequent


def brute_force_rules(frequent, min_confidence):
    rules = {}
    for itemset, support in frequent.items():
        for antecedent in frequent:
            if antecedent < itemset:
                confidence = support / frequent[antecedent]
                if confidence >= min_confidence - 1e-12:
                    consequent = itemset - antecedent
                    rules[(antecedent, consequent)] = (support, confidence, confidence / frequent[consequent])
    return rules


baskets_strategy = st.lists(st.sets(st.sampled_from(ITEMS), max_size=len(ITEMS)), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None)
@given(baskets=baskets_strategy, min_support=st.sampled_from([0.05, 0.1, 0.2, 0.25, 1 / 3, 0.5, 0.8, 1.0]))
def test_apriori_finds_exactly_the_frequent_itemsets(baskets, min_support):
    found = apriori(baskets, min_support)
    expected = brute_force_frequent(baskets, min_support)
    assert set(found) == set(expected)
    for itemset, support in expected.items():
        assert math.isclose(found[itemset], support, rel_tol=1e-12)


@settings(max_examples=100, deadline=None)
@given(baskets=baskets_strategy, min_support=st.sampled_from([0.1, 0.2, 0.4]),
       min_confidence=st.sampled_from([0.1, 0.5, 0.75, 1.0]))
def test_association_rules_equal_brute_force(baskets, min_support, min_confidence):
    frequent = apriori(baskets, min_support)
    rules = association_rules(frequent, min_confidence)
    expected = brute_force_rules(brute_force_frequent(baskets, min_support), min_confidence)
    assert {(rule.antecedent, rule.consequent) for rule in rules} == set(expected)
    assert len(rules) == len(expected)
    for rule in rules:
        support, confidence, lift = expected[(rule.antecedent, rule.consequent)]
        assert math.isclose(rule.support, support) and math.isclose(rule.confidence, confidence)
        assert math.isclose(rule.lift, lift)
    confidences = [rule.confidence for rule in rules]
    assert confidences == sorted(confidences, reverse=True)


def test_hand_checked_example():
    baskets = [
        {"bread", "milk"},
        {"bread", "diapers", "beer", "eggs"},
        {"milk", "diapers", "beer", "cola"},
        {"bread", "milk", "diapers", "beer"},
        {"bread", "milk", "diapers", "cola"},
    ]
    frequent = apriori(baskets, min_support=0.6)
    # Counted by hand: bread 4, milk 4, diapers 4, beer 3; bread+milk 3, bread+diapers 3,
    # milk+diapers 3, diapers+beer 3; no triple is in 3 baskets.
    assert frequent == {
        frozenset({"bread"}): 0.8, frozenset({"milk"}): 0.8, frozenset({"diapers"}): 0.8,
        frozenset({"beer"}): 0.6, frozenset({"bread", "milk"}): 0.6, frozenset({"bread", "diapers"}): 0.6,
        frozenset({"milk", "diapers"}): 0.6, frozenset({"beer", "diapers"}): 0.6,
    }
    rules = association_rules(frequent, min_confidence=0.8)
    # beer -> diapers: 3 of the 3 beer baskets hold diapers (confidence 1), lift 1 / 0.8 = 1.25.
    assert rules[0] == Rule(frozenset({"beer"}), frozenset({"diapers"}), 0.6, 1.0, 1.25)
    assert len(rules) == 1
    # At 0.75: both directions of the four pairs (0.6 / 0.8 each), except beer -> diapers at 1.
    assert len(association_rules(frequent, min_confidence=0.75)) == 8


def test_candidates_join_on_a_common_prefix_and_prune_infrequent_subsets():
    # {0,1} and {0,2} join into {0,1,2}, but its subset {1,2} is not frequent: pruned.
    assert _candidates([(0, 1), (0, 2)]) == []
    assert _candidates([(0, 1), (0, 2), (1, 2)]) == [(0, 1, 2)]
    # {0,1,2} and {0,1,3} join (prefix 0,1); {0,2,3}, {1,2,3} are frequent too.
    assert _candidates([(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)]) == [(0, 1, 2, 3)]
    assert _candidates([(0, 1, 2), (0, 1, 3), (0, 2, 3)]) == []


def test_basket_matrix():
    matrix, items = basket_matrix([["b", "a", "a"], [], ["c"]])
    assert items == ["a", "b", "c"]
    assert matrix.tolist() == [[True, True, False], [False, False, False], [False, False, True]]


def test_bad_input():
    with pytest.raises(ValueError, match=r"apriori: min_support must be a number in \(0, 1\]. Received: min_support=0"):
        apriori([{"a"}], 0)
    with pytest.raises(ValueError, match="min_support='0.5'"):
        apriori([{"a"}], "0.5")
    with pytest.raises(ValueError, match="apriori: baskets is empty"):
        apriori([], 0.5)
    with pytest.raises(ValueError, match="association_rules: min_confidence must be a number in"):
        association_rules({}, 1.5)
    with pytest.raises(ValueError, match="frequent must hold every subset"):
        association_rules({frozenset({"a", "b"}): 0.5}, 0.5)
