"""course_lib.ml.tree: CART against scikit-learn's trees, ID3 and C4.5 against hand-computed gains.

CART is compared node by node with ``sklearn.tree``'s tree grown in the same
test. scikit-learn resolves equally good splits through a random feature
order that cannot be reproduced, so every comparison runs on a configuration
where each node's best split is unique: ``assert_unique_best_splits`` checks
that (the runner-up split of every node of scikit-learn's tree is worse by a
relative 1e-6 or more) before the trees are compared.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import tree as sklearn_tree
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from course_lib.ml import tree as tree_module
from course_lib.ml.tree import (
    C45Classifier,
    DecisionTreeClassifier,
    DecisionTreeRegressor,
    ID3Classifier,
    best_split,
    entropy,
    gain_ratio,
    grow_trees,
    information_gain,
)

LOADERS = {
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
    "diabetes": load_diabetes,
}


def load(name):
    return LOADERS[name](return_X_y=True)


# ---------------------------------------------------------------------------
# scikit-learn's estimator checks
# ---------------------------------------------------------------------------


def expected_failed_checks(estimator):
    if getattr(estimator, "min_samples_leaf", 1) > 1:
        return {
            "check_sample_weight_equivalence_on_dense_data": (
                "min_samples_leaf counts samples: a sample of weight 3 is one sample where its three "
                "repeated copies are three (scikit-learn's trees behave the same)"
            )
        }
    return {}


@parametrize_with_checks(
    [
        DecisionTreeClassifier(random_state=0),
        DecisionTreeClassifier(criterion="entropy", max_features="sqrt", random_state=0),
        DecisionTreeRegressor(random_state=0),
        DecisionTreeRegressor(max_depth=3, min_samples_leaf=2, max_features=0.5, random_state=0),
        ID3Classifier(),
        C45Classifier(),
        C45Classifier(categorical_features=[0]),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------
# CART node by node against scikit-learn
# ---------------------------------------------------------------------------


def all_cut_scores(X, y, criterion, weight, min_samples_leaf):
    """Weighted children impurity of every allowed cut of one node (an independent brute force)."""
    X = X.astype(np.float32)
    n = len(X)
    order = np.argsort(X, axis=0, kind="stable")
    x_sorted = np.take_along_axis(X, order, axis=0)
    if criterion == "squared_error":
        stats = np.stack([weight, weight * y, weight * y * y], axis=1)
    else:
        stats = weight[:, None] * (y[:, None] == np.unique(y)[None, :])
    left = np.cumsum(stats[order], axis=0)[:-1]
    right = stats.sum(axis=0) - left

    def weighted_impurity(s):
        if criterion == "squared_error":
            return s[..., 2] - s[..., 1] ** 2 / s[..., 0]
        w = s.sum(axis=-1)
        p = s / w[..., None]
        if criterion == "gini":
            return w * (1 - (p**2).sum(axis=-1))
        with np.errstate(divide="ignore", invalid="ignore"):
            return -w * np.nansum(p * np.log2(p), axis=-1)

    scores = weighted_impurity(left) + weighted_impurity(right)
    n_left = np.arange(1, n)[:, None]
    allowed = (x_sorted[1:] > x_sorted[:-1] + np.float32(1e-7)) & (n_left >= min_samples_leaf)
    allowed &= n - n_left >= min_samples_leaf
    return np.sort(scores[allowed])


def assert_unique_best_splits(reference, X, y, criterion, weight, min_samples_leaf):
    """Every split node of the scikit-learn tree ``reference`` had one best split, by a margin."""
    in_node = reference.decision_path(X).toarray().astype(bool)
    for node in np.flatnonzero(reference.tree_.children_left != -1):
        rows = in_node[:, node]
        scores = all_cut_scores(X[rows], y[rows], criterion, weight[rows], min_samples_leaf)
        margin = (scores[1] - scores[0]) / max(abs(scores[0]), 1e-300)
        assert margin > 1e-6, f"node {node}: two splits within {margin:.1e}: pick another configuration"


def assert_same_tree(ours, theirs):
    a, b = ours.tree_, theirs.tree_
    assert a.node_count == b.node_count
    for name in ("children_left", "children_right", "feature", "n_node_samples"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_allclose(a.threshold, b.threshold, rtol=0, atol=1e-12, err_msg="threshold")
    np.testing.assert_allclose(a.value, b.value, rtol=1e-12, atol=1e-12, err_msg="value")
    np.testing.assert_allclose(a.impurity, b.impurity, rtol=1e-12, atol=1e-12, err_msg="impurity")
    np.testing.assert_allclose(a.weighted_n_node_samples, b.weighted_n_node_samples, rtol=1e-12)
    assert a.max_depth == b.max_depth and ours.get_n_leaves() == theirs.get_n_leaves()


# (dataset, criterion, max_depth, min_samples_leaf, weighted): each checked to have unique best splits.
UNIQUE_SPLIT_CONFIGURATIONS = [
    ("digits", "gini", 3, 1, False),
    ("digits", "entropy", 3, 1, False),
    ("breast_cancer", "gini", 3, 1, True),
    ("breast_cancer", "entropy", 4, 5, True),
    ("breast_cancer", "gini", None, 10, True),
    ("wine", "entropy", None, 5, True),
    ("diabetes", "squared_error", 3, 1, False),
    ("diabetes", "squared_error", None, 10, False),
    ("diabetes", "squared_error", None, 5, True),
]


@pytest.mark.parametrize("name, criterion, max_depth, min_samples_leaf, weighted", UNIQUE_SPLIT_CONFIGURATIONS)
def test_cart_grows_scikit_learns_tree(name, criterion, max_depth, min_samples_leaf, weighted):
    X, y = load(name)
    weight = np.random.default_rng(0).uniform(0.5, 1.5, len(y)) if weighted else np.ones(len(y))
    parameters = dict(criterion=criterion, max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=0)
    if criterion == "squared_error":
        ours, theirs = DecisionTreeRegressor(**parameters), sklearn_tree.DecisionTreeRegressor(**parameters)
    else:
        ours, theirs = DecisionTreeClassifier(**parameters), sklearn_tree.DecisionTreeClassifier(**parameters)
    sample_weight = weight if weighted else None
    ours.fit(X, y, sample_weight=sample_weight)
    theirs.fit(X, y, sample_weight=sample_weight)
    assert_unique_best_splits(theirs, X, y, criterion, weight, min_samples_leaf)

    assert_same_tree(ours, theirs)
    np.testing.assert_array_equal(ours.apply(X), theirs.apply(X))
    np.testing.assert_allclose(ours.feature_importances_, theirs.feature_importances_, rtol=1e-9, atol=1e-12)
    if criterion == "squared_error":
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=0, atol=1e-9)
    else:
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=0, atol=1e-12)
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_values_closer_than_feature_threshold_are_cut_node_by_node_as_in_scikit_learn():
    """0, 6e-8 and 1.2e-7 chain within 1e-7 of each other: no cut at the root. Once the 6e-8
    samples have gone right (feature 1), 0 and 1.2e-7 are neighbours 1.2e-7 apart: a cut."""
    X = np.array([[0, 0], [1.2e-7, 0], [6e-8, 1], [0, 0], [1.2e-7, 0], [6e-8, 1], [0, 0]], dtype=np.float32)
    y = np.array([0, 1, 2, 0, 1, 2, 0])
    assert not tree_module.rank_columns(X).cut_by_rank and tree_module.rank_columns(load("iris")[0]).cut_by_rank
    ours = DecisionTreeClassifier(random_state=0).fit(X, y)
    theirs = sklearn_tree.DecisionTreeClassifier(random_state=0).fit(X, y)
    assert_same_tree(ours, theirs)
    assert ours.tree_.node_count == 5 and ours.tree_.feature[0] == 1 and ours.score(X, y) == 1.0
    root_only_chain = DecisionTreeClassifier().fit(X[:, :1], np.array([0, 1, 1, 0, 1, 1, 0]))
    assert root_only_chain.get_n_leaves() == 1  # no two neighbours more than 1e-7 apart


def test_full_depth_trees_fit_the_training_data_like_scikit_learns():
    """Grown to purity, ties resolved differently or not, both trees fit the training set exactly."""
    for name in ("iris", "wine", "breast_cancer", "digits"):
        X, y = load(name)
        ours = DecisionTreeClassifier(random_state=0).fit(X, y)
        theirs = sklearn_tree.DecisionTreeClassifier(random_state=0).fit(X, y)
        assert ours.score(X, y) == theirs.score(X, y) == 1.0
        assert abs(ours.get_n_leaves() - theirs.get_n_leaves()) <= 0.05 * theirs.get_n_leaves()


def test_cross_validated_accuracy_matches_scikit_learns():
    X, y = load("breast_cancer")
    for depth in (2, 4, None):
        ours = cross_val_score(DecisionTreeClassifier(max_depth=depth, random_state=0), X, y, cv=5).mean()
        theirs = cross_val_score(sklearn_tree.DecisionTreeClassifier(max_depth=depth, random_state=0), X, y, cv=5)
        assert abs(ours - theirs.mean()) < 0.03


# ---------------------------------------------------------------------------
# The readable best_split against the level-wise builder
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("criterion", ["gini", "entropy", "squared_error"])
@pytest.mark.parametrize("seed", range(4))
def test_best_split_and_grow_trees_agree(criterion, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(80, 6)).astype(np.float32)
    if criterion == "squared_error":
        y = X[:, 2] * 2 + rng.normal(size=80)
    else:
        y = (X[:, 1] + 0.5 * rng.normal(size=80) > 0).astype(int) + (X[:, 4] > 1)
    weight = rng.uniform(0.5, 2.0, size=80)
    min_samples_leaf = int(rng.integers(1, 6))
    feature, threshold, decrease = best_split(X, y, criterion, weight, min_samples_leaf)
    (stump,) = grow_trees(
        X,
        y,
        weight[None, :],
        [np.random.RandomState(seed)],
        criterion=criterion,
        n_classes=0 if criterion == "squared_error" else 3,
        max_depth=1,
        min_samples_leaf=min_samples_leaf,
    )
    assert stump.feature[0] == feature
    assert stump.threshold[0] == threshold
    children = stump.weighted_n_node_samples[1:] @ stump.impurity[1:] / weight.sum()
    assert math.isclose(stump.impurity[0] - children, decrease, rel_tol=1e-9)


@pytest.mark.parametrize("max_features", [None, 5])
def test_searching_a_few_features_at_a_time_grows_the_same_tree(monkeypatch, max_features):
    """Large levels are searched in chunks of features; ties still go to the first feature drawn."""
    X, y = load("digits")
    whole = DecisionTreeClassifier(max_features=max_features, random_state=0).fit(X, y)
    monkeypatch.setattr(tree_module, "_MAX_BLOCK_ELEMENTS", 3000)  # at the root: one feature at a time
    chunked = DecisionTreeClassifier(max_features=max_features, random_state=0).fit(X, y)
    for name in ("feature", "threshold", "children_left", "n_node_samples"):
        np.testing.assert_array_equal(getattr(chunked.tree_, name), getattr(whole.tree_, name))


@pytest.mark.parametrize("key_bound", [7, 1 << 20, 1 << 61])
def test_packed_sort_is_a_stable_argsort(key_bound):
    keys = np.random.default_rng(0).integers(0, min(key_bound, 50), size=(3, 500))
    expected = np.argsort(keys, axis=-1, kind="stable")
    order, sorted_keys = tree_module._stable_argsort(keys, key_bound)
    np.testing.assert_array_equal(order, expected)
    np.testing.assert_array_equal(sorted_keys, np.sort(keys, axis=-1))


def test_best_split_with_no_allowed_cut():
    assert best_split(np.ones((5, 2)), np.array([0, 1, 0, 1, 0])) == (None, None, 0.0)
    assert best_split(np.arange(4.0)[:, None], np.array([0, 1, 0, 1]), min_samples_leaf=3) == (None, None, 0.0)


# ---------------------------------------------------------------------------
# CART's hyper-parameters and properties
# ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    max_depth=st.sampled_from([1, 2, 3, None]),
    min_samples_leaf=st.integers(1, 8),
    min_samples_split=st.integers(2, 20),
    criterion=st.sampled_from(["gini", "entropy"]),
)
def test_cart_limits_and_pure_leaves(seed, max_depth, min_samples_leaf, min_samples_split, criterion):
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(60, 3)), 1)
    y = rng.integers(0, 3, size=60)
    model = DecisionTreeClassifier(
        criterion=criterion,
        max_depth=max_depth,
        min_samples_leaf=min_samples_leaf,
        min_samples_split=min_samples_split,
        random_state=seed,
    ).fit(X, y)
    tree = model.tree_
    leaf = tree.children_left == -1
    assert max_depth is None or model.get_depth() <= max_depth
    assert np.all(tree.n_node_samples[leaf] >= min_samples_leaf)
    split = ~leaf
    assert np.all(tree.n_node_samples[split] >= max(min_samples_split, 2 * min_samples_leaf))
    assert np.all(tree.impurity[split] > 0), "a pure node was split"
    children_samples = tree.n_node_samples[tree.children_left] + tree.n_node_samples[tree.children_right]
    np.testing.assert_array_equal(tree.n_node_samples[split], children_samples[split])
    assert np.all(tree.children_left[split] > np.flatnonzero(split)), "nodes are numbered depth first"
    np.testing.assert_allclose(tree.value[:, 0].sum(axis=1), 1.0)


def test_max_features_draws_and_falls_back_past_constant_features():
    rng = np.random.default_rng(0)
    informative = rng.normal(size=(200, 1))
    X = np.hstack([np.zeros((200, 30)), informative, np.ones((200, 30))])
    y = (informative[:, 0] > 0.3).astype(int)
    model = DecisionTreeClassifier(max_features=1, random_state=0).fit(X, y)
    # Each node examines one random feature; when it is constant, it goes on to the first that is not.
    assert model.get_depth() == 1 and model.tree_.feature[0] == 30
    assert model.score(X, y) == 1.0

    X, y = load("digits")
    first = DecisionTreeClassifier(max_features="sqrt", random_state=3).fit(X, y)
    again = DecisionTreeClassifier(max_features="sqrt", random_state=3).fit(X, y)
    other = DecisionTreeClassifier(max_features="sqrt", random_state=4).fit(X, y)
    np.testing.assert_array_equal(first.tree_.feature, again.tree_.feature)
    assert first.tree_.node_count != other.tree_.node_count or np.any(first.tree_.feature != other.tree_.feature)
    assert first.max_features_ == 8 and first.score(X, y) == 1.0


def test_fractional_hyper_parameters_resolve_like_scikit_learns():
    X, y = load("breast_cancer")
    parameters = dict(min_samples_leaf=0.05, min_samples_split=0.2, max_features=0.5, random_state=0)
    ours = DecisionTreeClassifier(**parameters).fit(X, y)
    theirs = sklearn_tree.DecisionTreeClassifier(**parameters).fit(X, y)
    assert ours.max_features_ == theirs.max_features_ == 15
    assert ours.tree_.n_node_samples[ours.tree_.children_left == -1].min() >= math.ceil(0.05 * len(X))


def test_zero_weight_samples_are_left_out():
    X, y = load("iris")
    weight = np.ones(len(y))
    weight[::3] = 0
    weighted = DecisionTreeClassifier(random_state=0).fit(X, y, sample_weight=weight)
    removed = DecisionTreeClassifier(random_state=0).fit(X[weight > 0], y[weight > 0])
    np.testing.assert_array_equal(weighted.tree_.feature, removed.tree_.feature)
    np.testing.assert_array_equal(weighted.tree_.threshold, removed.tree_.threshold)
    assert weighted.tree_.n_node_samples[0] == np.count_nonzero(weight)


def test_log_proba_and_string_labels():
    X, y = load("iris")
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, names)
    assert set(model.predict(X)) <= set(names)
    np.testing.assert_allclose(np.exp(model.predict_log_proba(X)), model.predict_proba(X))
    assert model.classes_.tolist() == names[[0, 50, 100]].tolist()


# ---------------------------------------------------------------------------
# Bad input: scikit-learn's messages, naming the estimator
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [DecisionTreeClassifier, DecisionTreeRegressor, ID3Classifier, C45Classifier])
def test_bad_input_errors_name_the_estimator(make):
    name = make.__name__
    X, y = load("iris")
    with pytest.raises(NotFittedError, match=name):
        make().predict(X)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=f"(?s)NaN.*{name}|{name}.*NaN"):
        make().fit(bad, y)
    if make is not ID3Classifier:  # for ID3 every value, infinity too, is a category
        bad[3, 1] = np.inf
        with pytest.raises(ValueError, match=f"{name}.*infinity"):
            make().fit(bad, y)
    with pytest.raises(ValueError, match=rf"{name}.*inconsistent numbers of samples: \[150, 149\]"):
        make().fit(X, y[:-1])
    model = make().fit(X, y)
    with pytest.raises(ValueError, match=f"X has 3 features, but {name} is expecting 4"):
        model.predict(X[:, :3])


def test_strings_and_targets_errors_name_what_was_received():
    X, y = load("iris")
    text = X.astype(object)
    text[0, 0] = "tall"
    with pytest.raises(ValueError, match="DecisionTreeClassifier.*'tall'"):
        DecisionTreeClassifier().fit(text, y)
    with pytest.raises(ValueError, match="C45Classifier.*'tall'"):
        C45Classifier().fit(text, y)
    with pytest.raises(ValueError, match="DecisionTreeClassifier.*Unknown label type: continuous"):
        DecisionTreeClassifier().fit(X, y + 0.5)
    with pytest.raises(InvalidParameterError, match="max_depth"):
        DecisionTreeClassifier(max_depth=0).fit(X, y)
    with pytest.raises(InvalidParameterError, match="criterion"):
        DecisionTreeRegressor(criterion="gini").fit(X, y)
    with pytest.raises(ValueError, match="C45Classifier.*categorical_features.*below 4.*7"):
        C45Classifier(categorical_features=[7]).fit(X, y)


def test_one_class_is_a_single_leaf_as_in_scikit_learn():
    X, _ = load("iris")
    for make in (DecisionTreeClassifier, ID3Classifier, C45Classifier):
        model = make().fit(X, np.full(len(X), "only"))
        assert model.get_n_leaves() == 1 and np.all(model.predict(X) == "only")


# ---------------------------------------------------------------------------
# ID3 and C4.5 on the play-tennis table, gains computed by hand
# ---------------------------------------------------------------------------

PLAY_TENNIS = """\
sunny    hot  high   weak   no
sunny    hot  high   strong no
overcast hot  high   weak   yes
rain     mild high   weak   yes
rain     cool normal weak   yes
rain     cool normal strong no
overcast cool normal strong yes
sunny    mild high   weak   no
sunny    cool normal weak   yes
rain     mild normal weak   yes
sunny    mild normal strong yes
overcast mild high   strong yes
overcast hot  normal weak   yes
rain     mild high   strong no"""
TABLE = np.array([row.split() for row in PLAY_TENNIS.splitlines()], dtype=object)
WEATHER, PLAY = TABLE[:, :4], TABLE[:, 4]
NAMES = ["outlook", "temperature", "humidity", "wind"]
# Quinlan's numeric version (C4.5, 1993): temperature and humidity as measured.
TEMPERATURE = [85, 80, 83, 70, 68, 65, 64, 72, 69, 75, 75, 72, 81, 71]
HUMIDITY = [85, 90, 78, 96, 80, 70, 65, 95, 70, 80, 70, 90, 75, 80]


def H(*counts):
    """Entropy in bits of a class distribution given as counts, written out."""
    total = sum(counts)
    return -sum(c / total * math.log2(c / total) for c in counts if c)


def test_entropy_and_information_gain_by_hand():
    assert math.isclose(entropy([9, 5]), H(9, 5)) and math.isclose(H(9, 5), 0.9402859586706311)
    parent = H(9, 5)
    by_hand = {
        # outlook: sunny 2 yes / 3 no, overcast 4 / 0, rain 3 / 2
        "outlook": parent - 5 / 14 * H(2, 3) - 4 / 14 * H(4, 0) - 5 / 14 * H(3, 2),
        # temperature: hot 2 / 2, mild 4 / 2, cool 3 / 1
        "temperature": parent - 4 / 14 * H(2, 2) - 6 / 14 * H(4, 2) - 4 / 14 * H(3, 1),
        # humidity: high 3 / 4, normal 6 / 1
        "humidity": parent - 7 / 14 * H(3, 4) - 7 / 14 * H(6, 1),
        # wind: weak 6 / 2, strong 3 / 3
        "wind": parent - 8 / 14 * H(6, 2) - 6 / 14 * H(3, 3),
    }
    split_information = {"outlook": H(5, 4, 5), "temperature": H(4, 6, 4), "humidity": H(7, 7), "wind": H(8, 6)}
    for j, name in enumerate(NAMES):
        assert math.isclose(information_gain(WEATHER[:, j], PLAY), by_hand[name], rel_tol=1e-12)
        ratio = by_hand[name] / split_information[name]
        assert math.isclose(gain_ratio(WEATHER[:, j], PLAY), ratio, rel_tol=1e-12)
    # The textbook values (Mitchell, 1997; Quinlan, 1986).
    assert [round(by_hand[name], 3) for name in NAMES] == [0.247, 0.029, 0.152, 0.048]


TEXTBOOK_TREE = """\
outlook = overcast: yes
outlook = rain
|   wind = strong: no
|   wind = weak: yes
outlook = sunny
|   humidity = high: no
|   humidity = normal: yes"""


def test_id3_grows_the_textbook_tree():
    model = ID3Classifier().fit(WEATHER, PLAY)
    assert model.export_text(NAMES) == TEXTBOOK_TREE
    root = model.tree_
    assert math.isclose(root.gain, information_gain(WEATHER[:, 0], PLAY))
    rain = root.children[list(model.categories_[0]).index("rain")]
    rainy = WEATHER[:, 0] == "rain"
    assert math.isclose(rain.gain, information_gain(WEATHER[rainy, 3], PLAY[rainy]))  # = H(3, 2): a perfect split
    assert model.score(WEATHER, PLAY) == 1.0 and model.get_depth() == 2 and model.get_n_leaves() == 5


def test_id3_unseen_category_gets_the_node_distribution():
    model = ID3Classifier().fit(WEATHER, PLAY)
    unseen = np.array([["foggy", "hot", "high", "weak"], ["sunny", "hot", "tropical", "weak"]], dtype=object)
    proba = model.predict_proba(unseen)
    np.testing.assert_allclose(proba[0], [5 / 14, 9 / 14])  # stops at the root
    np.testing.assert_allclose(proba[1], [3 / 5, 2 / 5])  # stops at the sunny node


def test_id3_splits_xor_although_each_gain_is_zero():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 3)
    y = X[:, 0] ^ X[:, 1]
    assert information_gain(X[:, 0], y) == 0.0
    assert ID3Classifier().fit(X, y).score(X, y) == 1.0
    assert C45Classifier(categorical_features=[0, 1]).fit(X, y).get_n_leaves() == 1  # C4.5 needs a positive gain


def test_c45_on_the_categorical_table_chooses_by_gain_ratio():
    model = C45Classifier(categorical_features=[0, 1, 2, 3], min_samples_leaf=1).fit(WEATHER, PLAY)
    # Average gain of the four tests is 0.1190: outlook and humidity qualify, outlook's ratio is larger.
    assert model.export_text(NAMES) == TEXTBOOK_TREE
    assert math.isclose(model.tree_.gain_ratio, gain_ratio(WEATHER[:, 0], PLAY))


def test_c45_numeric_thresholds_by_hand():
    X = np.column_stack([WEATHER[:, 0], TEMPERATURE, HUMIDITY, WEATHER[:, 3]])
    # The root's candidate tests, by hand. Humidity's best cut: <= 82.5 (7 play, 2 not) against (2, 3).
    humidity = H(9, 5) - 9 / 14 * H(7, 2) - 5 / 14 * H(2, 3)
    # Temperature's best cut, <= 83 (9, 4 | 0, 1), leaves one sample: with at least 2 a side, <= 70.5.
    temperature = H(9, 5) - 5 / 14 * H(4, 1) - 9 / 14 * H(5, 4)
    for column, gain, threshold in ((2, humidity, 82.5), (1, temperature, 70.5)):
        stump = C45Classifier(max_depth=1).fit(X[:, [column]].astype(float), PLAY)
        assert stump.tree_.threshold == threshold and math.isclose(stump.tree_.gain, gain, rel_tol=1e-12)
        assert math.isclose(stump.tree_.gain_ratio, gain / H(9, 5), rel_tol=1e-12)  # both cuts split 9 / 5

    model = C45Classifier(categorical_features=[0, 3]).fit(X, PLAY)
    # Gains: outlook 0.247, temperature 0.045, humidity 0.102, wind 0.048; their mean, 0.111,
    # leaves outlook alone eligible.
    gains = [information_gain(WEATHER[:, 0], PLAY), temperature, humidity, information_gain(WEATHER[:, 3], PLAY)]
    assert gains[2] < np.mean(gains) < gains[0]
    assert model.tree_.feature == 0 and math.isclose(model.tree_.gain_ratio, gain_ratio(WEATHER[:, 0], PLAY))
    # With one sample allowed a side, temperature <= 83 (9, 4 | 0, 1) has the largest gain ratio,
    # 0.113 / SplitInfo(13, 1) = 0.31 against outlook's 0.16; its gain is below the average, so
    # the average-gain rule still picks outlook.
    loose = C45Classifier(categorical_features=[0, 3], min_samples_leaf=1).fit(X, PLAY)
    cut_83 = H(9, 5) - 13 / 14 * H(9, 4)
    assert cut_83 / H(13, 1) > gain_ratio(WEATHER[:, 0], PLAY)
    assert cut_83 < np.mean([gains[0], cut_83, humidity, gains[3]])
    assert loose.tree_.feature == 0
    sunny = model.tree_.children[list(model.categories_[0]).index("sunny")]
    # Sunny days: humidity 70, 70 play; 85, 90, 95 do not: the cut halfway between 70 and 85.
    assert sunny.feature == 2 and sunny.threshold == 77.5
    assert math.isclose(sunny.gain, H(2, 3)) and math.isclose(sunny.gain_ratio, 1.0)
    assert model.score(X, PLAY) == 1.0


def test_c45_accuracy_on_iris_is_comparable_to_cart():
    X, y = load("iris")
    c45 = cross_val_score(C45Classifier(), X, y, cv=5).mean()
    cart = cross_val_score(DecisionTreeClassifier(random_state=0), X, y, cv=5).mean()
    assert c45 > 0.92 and abs(c45 - cart) < 0.04


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    max_depth=st.sampled_from([1, 2, 4, None]),
    min_samples_leaf=st.integers(1, 6),
)
def test_c45_and_id3_limits_and_pure_leaves(seed, max_depth, min_samples_leaf):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.integers(0, 4, 50), rng.normal(size=50), rng.integers(0, 3, 50)]).astype(object)
    y = rng.integers(0, 2, 50)
    for model in (
        ID3Classifier(max_depth=max_depth).fit(X[:, [0, 2]], y),
        C45Classifier(categorical_features=[0, 2], max_depth=max_depth, min_samples_leaf=min_samples_leaf).fit(X, y),
    ):
        assert max_depth is None or model.get_depth() <= max_depth
        for node in model._nodes():
            if np.count_nonzero(node.class_counts) == 1:
                assert node.is_leaf, "a pure node was split"
            if not node.is_leaf:
                sizes = [child.class_counts.sum() for child in node.children]
                assert sum(sizes) == node.class_counts.sum() and min(sizes) > 0
                if node.threshold is not None:
                    assert min(sizes) >= min_samples_leaf
                elif isinstance(model, C45Classifier):
                    assert sum(size >= min_samples_leaf for size in sizes) >= 2
