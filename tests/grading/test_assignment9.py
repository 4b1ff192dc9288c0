"""Assignment 9 (classical machine learning): its checkers, their references against scikit-learn, and nbgrader.

The checkers must give full points to the references (course_lib.ml) and to
the solution notebook's functions, exactly the points a planted bug leaves
(ties to the wrong index, an empty cluster left nan, the intercept
penalised, the ½ forgotten, a log of 0, a threshold on a data value, the
future value kept at a terminal state, an agent that never explores ...)
with a reason that says what is wrong, and nothing to the release's stubs;
the references must be scikit-learn's numbers where scikit-learn has the
same function; the grader's cases must not depend on rounding (no near
ties, no cluster emptied, Q-learning's worlds learnt by any correct agent);
an answer that hands the work to scikit-learn, SciPy, course_lib.ml or the
checker's own reference must earn nothing; and one ``nbgrader autograde`` of
a scratch course must grade raising, looping and test-deleting submissions
without a crash, then export every student.
"""
import copy
import warnings

import numpy as np
import pytest
from graded_notebooks import (
    Assignment, answer_functions, autograded_output, cell, class_grading_tests, forgery_tests, full_points_tests,
    planted, planted_bug_tests, release_baseline_test, submission, without,
)

from course_lib.grading import assignment9, registry, trusted
from course_lib.ml import cluster, reinforcement

ASSIGNMENT = "assignment9"
NOTEBOOK = Assignment(ASSIGNMENT)
FULL = NOTEBOOK.full
SOLUTION = answer_functions(NOTEBOOK.solution)


def test_the_points_add_up_to_sixteen_and_no_exercise_uses_course_lib():
    assert sum(FULL.values()) == 16
    assert not registry.uses_course_lib(ASSIGNMENT)
    for exercise in FULL:
        forbidden = trusted.forbidden_modules(ASSIGNMENT, exercise)
        for module in ("sklearn", "scipy", "course_lib.ml", "course_lib.ops", "course_lib.grading.assignment9"):
            assert module in forbidden, (exercise, module)


# --- the references and the solution notebook earn everything -----------------------


test_the_reference_earns_full_points, test_the_solution_notebook_earns_full_points_and_the_release_nothing = (
    full_points_tests(NOTEBOOK))


def test_q_learning_is_also_graded_through_the_notebook_s_helper():
    """In the trusted grader the worlds come as descriptions to q_learning_on (a GridWorld cannot reach the sandbox)."""
    check = assignment9.check_q_learning
    assert check(SOLUTION["q_learning"], SOLUTION["q_learning_on"], verbose=False) == FULL["q_learning"]
    assert registry.checkers(ASSIGNMENT)["q_learning"][1] == "q_learning_on"


def test_the_notebook_s_grid_world_moves_and_pays_as_the_library_s():
    """Every step from every cell of every grader world: the same next state, reward and end."""
    notebook_world = SOLUTION["GridWorld"]
    for name, description in assignment9.WORLDS.items():
        library, mine = reinforcement.GridWorld(**description), notebook_world(**description)
        assert (mine.n_states, mine.n_actions) == (library.n_states, library.n_actions)
        np.testing.assert_array_equal(mine.terminal_states, library.terminal_states)
        P, R = library.transition_probabilities()
        for state in range(library.n_states):
            for action in range(4):
                mine.state = state
                next_state, reward, done = mine.step(action)
                expected = int(np.argmax(P[state, action]))
                assert (next_state, reward, done) == (expected, R[state, action, expected],
                                                      bool(library.terminal_states[expected])), (name, state, action)
        assert mine.reset() == library.reset()


# --- the grader's cases: scikit-learn's numbers, and nothing decided by rounding -------------------


def test_the_assignment_cases_have_no_near_ties_but_the_exact_ones():
    """A correct answer computing distances another way must find the same labels."""
    for label, X, centers in assignment9._assign_cases(np.random.default_rng(0)):
        distances = assignment9._direct_distances(X, centers)
        np.testing.assert_array_equal(np.argmin(distances, axis=1), assignment9.reference_assign_clusters(X, centers))
        ordered = np.sort(distances, axis=1)
        gaps = ordered[:, 1] - ordered[:, 0] if centers.shape[0] > 1 else np.ones(len(X))
        assert np.all((gaps == 0) | (gaps > 1e-6)), label


def test_the_kmeans_cases_never_empty_a_cluster_and_are_scikit_learn_s_runs():
    from sklearn.cluster import KMeans

    for label, X, start, n_iter in assignment9._kmeans_cases(np.random.default_rng(0)):
        centers = start.copy()
        for _ in range(n_iter):
            labels = cluster.kmeans_assign(X, centers)
            assert np.bincount(labels, minlength=len(start)).min() > 0, label
            centers = cluster.kmeans_update(X, labels, len(start))
        expected_centers, expected_labels, expected_inertia = assignment9.reference_kmeans(X, start, n_iter)
        np.testing.assert_allclose(centers, expected_centers, rtol=1e-12)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = KMeans(n_clusters=len(start), init=start, n_init=1, max_iter=n_iter, tol=0.0,
                           algorithm="lloyd").fit(X)
        np.testing.assert_array_equal(model.labels_, expected_labels)
        np.testing.assert_allclose(model.cluster_centers_, expected_centers, rtol=1e-9, atol=1e-12)
        assert model.inertia_ == pytest.approx(expected_inertia, rel=1e-9), label


def test_the_update_cases_empty_clusters_where_they_say_and_the_convention_holds():
    cases = assignment9._update_cases(np.random.default_rng(0))
    for label, X, labels, k in cases:
        counts = np.bincount(labels, minlength=k)
        assert (counts == 0).any() == ("empty" in label), label
        centers = assignment9.reference_update_centers(X, labels, k)
        for j in np.flatnonzero(counts == 0):
            np.testing.assert_allclose(centers[j], X[labels == np.argmax(counts)].mean(axis=0))
    counts = np.bincount(cases[-1][2], minlength=cases[-1][3])
    assert (counts == counts.max()).sum() == 2  # the last case breaks a tie between the largest clusters


def test_the_logistic_references_are_scikit_learn_s_objective_and_optimum():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    for label, w, b, X, y, C in assignment9._loss_cases(np.random.default_rng(0)):
        loss, dw, db = assignment9.reference_logistic_loss_and_gradient(w, b, X, y, C)
        if "hundreds" not in label:  # log_loss clips probabilities; the hundreds have none to clip
            z = X @ w + b
            probabilities = 1 / (1 + np.exp(-z))
            expected = C * len(y) * log_loss(y, probabilities, labels=[0, 1]) + 0.5 * w @ w
            assert loss == pytest.approx(expected, rel=1e-9), label
        assert np.isfinite(loss) and np.all(np.isfinite(dw)) and np.isfinite(db)
    for label, X, y, C, learning_rate, n_iter, converged in assignment9._fit_cases(np.random.default_rng(0)):
        model = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)
        w, b = assignment9.reference_logistic_optimum(X, y, C)
        np.testing.assert_allclose(w, model.coef_[0], rtol=1e-6)
        assert b == pytest.approx(model.intercept_[0], rel=1e-6, abs=1e-9)
        if converged:  # a correct descent lands far inside the tolerance
            descended = assignment9.reference_fit_logistic_gd(X, y, C, learning_rate, n_iter)
            error = np.abs(np.append(descended[0], descended[1]) - np.append(w, b)).max()
            assert error < assignment9.CONVERGED_TOLERANCE * 1e-3, (label, error)


def test_the_split_references_are_scikit_learn_s_root_splits_and_have_no_near_ties():
    from sklearn.tree import DecisionTreeClassifier

    for label, X, y in assignment9._split_cases(np.random.default_rng(0)):
        feature, threshold, gain = assignment9.reference_best_split(X, y)
        if feature is None:
            assert np.ptp(X, axis=0).max() == 0 and gain == 0.0
            continue
        gains = sorted({round(assignment9.reference_information_gain(y, X[:, j] <= t), 12)
                        for j in range(X.shape[1]) for t in np.unique(X[:, j])[:-1]}, reverse=True)
        assert gains[0] == pytest.approx(gain, abs=1e-12) and gains[0] - gains[1] > 1e-6, label
        if "tie" in label or "equally" in label:
            continue  # scikit-learn breaks ties by drawing features at random
        root = DecisionTreeClassifier(criterion="entropy", max_depth=1).fit(X, y).tree_
        assert (root.feature[0], root.threshold[0]) == (feature, pytest.approx(threshold)), label


def test_the_split_ties_are_exact_and_go_to_the_lowest_feature_and_threshold():
    cases = {label: (X, y) for label, X, y in assignment9._split_cases(np.random.default_rng(0))}
    X, y = cases["features 1 and 2 are the same column (a tie between features)"]
    feature, threshold, _ = assignment9.reference_best_split(X, y)
    assert feature == 1 and assignment9.reference_best_split(X[:, [0, 2]], y)[0] == 1
    X, y = cases["two equally good thresholds of one feature"]
    assert assignment9.reference_best_split(X, y)[1] == 2.5
    assert assignment9.reference_information_gain(y, X[:, 0] <= 2.5) == assignment9.reference_information_gain(
        y, X[:, 0] <= 4.5)


def test_value_iteration_gives_the_corridor_two_answers():
    corridor = assignment9.grid_world("a corridor, 1 two steps left, 3 three steps right")
    start = corridor.reset()
    assert reinforcement.value_iteration(corridor, gamma=0.9)[1][start] == 1  # right: 3 γ² > γ
    assert reinforcement.value_iteration(corridor, gamma=0.3)[1][start] == 3  # left: 3 γ² < γ


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["solution", "library"])
def test_any_correct_agent_learns_the_grader_s_worlds_whatever_its_seed(agent):
    """So that the learning cases never fail a correct answer by bad luck (1500 seeds were tried while tuning)."""
    learn = SOLUTION["q_learning"] if agent == "solution" else assignment9.reference_q_learning
    for world, gamma, n_episodes, alpha, epsilon in assignment9._LEARNING_CASES:
        env = assignment9.grid_world(world)
        for seed in range(12):
            table = learn(env, n_episodes, alpha, gamma, epsilon, seed)
            assert assignment9._greedy_path_reasons(env, table, gamma, n_episodes) == (None, None), (world, seed)


# --- planted bugs earn exactly what they should, with a reason ------------------------------------------------

ASSIGN_SOURCE = """
    def assign_clusters(X, centers):
        distances = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        labels = np.argmin(distances, axis=1)
        return labels
    """
UPDATE_SOURCE = """
    def update_centers(X, labels, k):
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros((k, X.shape[1]))
        np.add.at(sums, labels, X)
        centers = sums / np.maximum(counts, 1)[:, None]
        centers[counts == 0] = centers[np.argmax(counts)]
        return centers
    """
INERTIA_SOURCE = """
    def inertia(X, centers, labels):
        return float(((X - centers[labels]) ** 2).sum())
    """
KMEANS_SOURCE = """
    def kmeans(X, initial_centers, n_iter):
        centers = np.array(initial_centers, dtype=float)
        k = len(centers)
        for _ in range(n_iter):
            labels = assign_clusters(X, centers)
            centers = update_centers(X, labels, k)
        labels = assign_clusters(X, centers)
        return centers, labels, inertia(X, centers, labels)
    """
LOSS_SOURCE = """
    def logistic_loss_and_gradient(w, b, X, y, C):
        z = X @ w + b
        loss = C * np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * np.dot(w, w)
        error = np.exp(-np.logaddexp(0.0, -z)) - y
        dw = C * (X.T @ error) + w
        db = C * np.sum(error)
        return loss, dw, db
    """
FIT_SOURCE = """
    def fit_logistic_gd(X, y, C, learning_rate, n_iter):
        n, d = X.shape
        w, b = np.zeros(d), 0.0
        for _ in range(n_iter):
            _, dw, db = logistic_loss_and_gradient(w, b, X, y, C)
            w = w - learning_rate * dw / (C * n)
            b = b - learning_rate * db / (C * n)
        return w, b
    """
ENTROPY_SOURCE = """
    def entropy(y):
        _, counts = np.unique(y, return_counts=True)
        p = counts / counts.sum()
        return float(-np.sum(p * np.log2(p)))
    """
GAIN_SOURCE = """
    def information_gain(y, left_mask):
        n = len(y)
        gain = entropy(y)
        for side in (y[left_mask], y[~left_mask]):
            if len(side):
                gain -= len(side) / n * entropy(side)
        return gain
    """
SPLIT_SOURCE = """
    def best_split(X, y):
        feature, threshold, gain = None, None, 0.0
        best = -np.inf
        for j in range(X.shape[1]):
            values = np.unique(X[:, j])
            for t in (values[:-1] + values[1:]) / 2:
                candidate = information_gain(y, X[:, j] <= t)
                if candidate > best:
                    best, feature, threshold, gain = candidate, j, float(t), candidate
        return feature, threshold, gain
    """
Q_UPDATE_SOURCE = """
    def q_update(Q, s, a, r, s_next, done, alpha, gamma):
        target = r if done else r + gamma * np.max(Q[s_next])
        Q[s, a] += alpha * (target - Q[s, a])
    """
Q_LEARNING_SOURCE = """
    def q_learning(env, n_episodes, alpha, gamma, epsilon, seed, max_steps=100):
        rng = np.random.default_rng(seed)
        Q = np.zeros((env.n_states, env.n_actions))
        for _ in range(n_episodes):
            s = env.reset()
            for _ in range(max_steps):
                if rng.random() < epsilon:
                    a = int(rng.integers(env.n_actions))
                else:
                    a = int(np.argmax(Q[s]))
                s_next, r, done = env.step(a)
                q_update(Q, s, a, r, s_next, done, alpha, gamma)
                s = s_next
                if done:
                    break
        return Q
    """
SOURCES = {"assign_clusters": ASSIGN_SOURCE, "update_centers": UPDATE_SOURCE, "inertia": INERTIA_SOURCE,
           "kmeans": KMEANS_SOURCE, "logistic_loss_and_gradient": LOSS_SOURCE, "fit_logistic_gd": FIT_SOURCE,
           "entropy": ENTROPY_SOURCE, "information_gain": GAIN_SOURCE, "best_split": SPLIT_SOURCE,
           "q_update": Q_UPDATE_SOURCE, "q_learning": Q_LEARNING_SOURCE}
EXTRA = {"inertia": ASSIGN_SOURCE, "kmeans": ASSIGN_SOURCE + UPDATE_SOURCE + INERTIA_SOURCE,
         "fit_logistic_gd": LOSS_SOURCE, "information_gain": ENTROPY_SOURCE,
         "best_split": ENTROPY_SOURCE + GAIN_SOURCE, "q_learning": Q_UPDATE_SOURCE}

LAST_TIE = ("labels = np.argmin(distances, axis=1)",
            "labels = distances.shape[1] - 1 - np.argmin(distances[:, ::-1], axis=1)")
EMPTY_NAN = ("centers = sums / np.maximum(counts, 1)[:, None]\n"
             "        centers[counts == 0] = centers[np.argmax(counts)]", "centers = sums / counts[:, None]")
HALF_FORGOTTEN = ("+ 0.5 * np.dot(w, w)", "+ np.dot(w, w)")
INTERCEPT_PENALISED = ("db = C * np.sum(error)\n", "db = C * np.sum(error) + b\n        loss += 0.5 * b * b\n")
LOG_OF_SIGMOID = ("loss = C * np.sum(np.logaddexp(0.0, z) - y * z)",
                  "p = 1 / (1 + np.exp(-z))\n        loss = -C * np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))")
DATA_VALUES = ("for t in (values[:-1] + values[1:]) / 2:", "for t in values[:-1]:")
KEPT_FUTURE = ("target = r if done else r + gamma * np.max(Q[s_next])", "target = r + gamma * np.max(Q[s_next])")
NEVER_EXPLORES = ("if rng.random() < epsilon:", "if False:")
BUGS = {
    "assign_clusters": {
        "ties to the highest index": LAST_TIE,
        "the farthest centre": ("np.argmin(distances, axis=1)", "np.argmax(distances, axis=1)"),
        "labels from 1": ("labels = np.argmin(distances, axis=1)", "labels = np.argmin(distances, axis=1) + 1"),
    },
    "update_centers": {
        "an empty cluster left nan": EMPTY_NAN,
        "an empty cluster at zero": ("        centers[counts == 0] = centers[np.argmax(counts)]\n", ""),
        "the largest cluster's last index": ("centers[np.argmax(counts)]",
                                             "centers[len(counts) - 1 - np.argmax(counts[::-1])]"),
        "sums, not means": ("sums / np.maximum(counts, 1)[:, None]", "sums"),
    },
    "inertia": {
        "distances, not squared": ("((X - centers[labels]) ** 2).sum()",
                                   "np.sqrt(((X - centers[labels]) ** 2).sum(axis=1)).sum()"),
        "the nearest centres, not the labels": ("centers[labels]", "centers[assign_clusters(X, centers)]"),
        "a mean": ("((X - centers[labels]) ** 2).sum()", "((X - centers[labels]) ** 2).sum() / len(X)"),
    },
    "kmeans": {
        "labels of the centres before the last update": (
            "        labels = assign_clusters(X, centers)\n        return", "        return"),
        "one iteration too many": ("range(n_iter)", "range(n_iter + 1)"),
    },
    "logistic_loss_and_gradient": {
        "the intercept penalised": INTERCEPT_PENALISED,
        "the ½ forgotten in the loss": HALF_FORGOTTEN,
        "the ½ forgotten in the loss and the gradient": (
            "+ 0.5 * np.dot(w, w)\n        error = np.exp(-np.logaddexp(0.0, -z)) - y\n"
            "        dw = C * (X.T @ error) + w",
            "+ np.dot(w, w)\n        error = np.exp(-np.logaddexp(0.0, -z)) - y\n"
            "        dw = C * (X.T @ error) + 2 * w"),
        "the log of a sigmoid": LOG_OF_SIGMOID,
        "a mean, not a sum": ("C * np.sum(np.logaddexp(0.0, z) - y * z)", "C * np.mean(np.logaddexp(0.0, z) - y * z)"),
        "C on the penalty": ("loss = C * np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * np.dot(w, w)\n"
                             "        error = np.exp(-np.logaddexp(0.0, -z)) - y\n"
                             "        dw = C * (X.T @ error) + w\n        db = C * np.sum(error)",
                             "loss = np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * C * np.dot(w, w)\n"
                             "        error = np.exp(-np.logaddexp(0.0, -z)) - y\n"
                             "        dw = X.T @ error + C * w\n        db = np.sum(error)"),
    },
    "fit_logistic_gd": {
        "the gradient not divided by C n": ("learning_rate * dw / (C * n)\n"
                                            "            b = b - learning_rate * db / (C * n)",
                                            "learning_rate * dw\n            b = b - learning_rate * db"),
        "the intercept never moves": ("            b = b - learning_rate * db / (C * n)\n", ""),
        "one step too many": ("range(n_iter)", "range(n_iter + 1)"),
    },
    "entropy": {
        "nats": ("np.log2(p)", "np.log(p)"),
        "np.bincount, and 0 log 0": ("_, counts = np.unique(y, return_counts=True)", "counts = np.bincount(y)"),
    },
    "information_gain": {
        "the children not weighted": ("gain -= len(side) / n * entropy(side)", "gain -= entropy(side)"),
        "the children's entropies averaged": ("gain -= len(side) / n * entropy(side)", "gain -= entropy(side) / 2"),
    },
    "best_split": {
        "ties to the last": ("if candidate > best:", "if candidate >= best:"),
        "thresholds on data values": DATA_VALUES,
        "the next value as the threshold": ("for t in (values[:-1] + values[1:]) / 2:", "for t in values[1:]:"),
        "feature 0 when no split exists": ("feature, threshold, gain = None, None, 0.0",
                                           "feature, threshold, gain = 0, 0.0, 0.0"),
    },
    "q_update": {
        "the future kept at a terminal state": KEPT_FUTURE,
        "the future of the same state": ("np.max(Q[s_next])", "np.max(Q[s])"),
        "alpha forgotten": ("Q[s, a] += alpha * (target - Q[s, a])", "Q[s, a] = target"),
        "a new table returned": ("Q[s, a] += alpha * (target - Q[s, a])",
                                 "Q = Q.copy()\n        Q[s, a] += alpha * (target - Q[s, a])\n        return Q"),
    },
    "q_learning": {
        "never explores": NEVER_EXPLORES,
        "a generator with a fixed seed": ("np.random.default_rng(seed)", "np.random.default_rng(0)"),
        "the update at the next state": ("q_update(Q, s, a, r, s_next, done, alpha, gamma)",
                                         "q_update(Q, s_next, a, r, s_next, done, alpha, gamma)"),
        "the discount ignored": ("q_update(Q, s, a, r, s_next, done, alpha, gamma)",
                                 "q_update(Q, s, a, r, s_next, done, alpha, 1.0)"),
    },
}


def plant(name, old="", new=""):
    return planted(SOURCES[name], name, old, new, extra=EXTRA.get(name))


test_the_sources_the_bugs_are_planted_into_earn_full_points, test_each_planted_bug_earns_less_and_says_why = \
    planted_bug_tests(NOTEBOOK, SOURCES, BUGS, plant)

EXPECTED_POINTS = {
    # 5 assignment cases of 0.2: two hold exact ties; with one centre, the farthest is the nearest.
    ("assign_clusters", "ties to the highest index"): 0.6,
    ("assign_clusters", "the farthest centre"): 0.2,
    # 5 update cases of 0.2, the last two with empty clusters, the last with two largest clusters.
    ("update_centers", "an empty cluster left nan"): 0.6,
    ("update_centers", "an empty cluster at zero"): 0.6,
    ("update_centers", "the largest cluster's last index"): 0.8,
    # 4 inertia cases of 0.25: the labels are the nearest centres in two (and, by chance, in the fourth).
    ("inertia", "the nearest centres, not the labels"): 0.5,
    # 4 k-means cases: labels 1/2, centres 1/4, inertia 1/4; the converged runs pass either way.
    ("kmeans", "labels of the centres before the last update"): 0.62,
    ("kmeans", "one iteration too many"): 0.5,
    # 5 loss cases of 0.4: the loss, dw, db a third each; the gradient check case a quarter each.
    ("logistic_loss_and_gradient", "the intercept penalised"): 0.73,
    ("logistic_loss_and_gradient", "the ½ forgotten in the loss"): 1.27,
    ("logistic_loss_and_gradient", "the ½ forgotten in the loss and the gradient"): 0.73,
    ("logistic_loss_and_gradient", "the log of a sigmoid"): 1.87,
    ("logistic_loss_and_gradient", "a mean, not a sum"): 1.27,  # in the loss only: dw and db are right
    ("logistic_loss_and_gradient", "C on the penalty"): 0.9,  # the two cases with C = 1 cannot tell
    # 4 fitting cases of 0.5: two short runs, two long ones that reach the optimum whatever the steps.
    ("fit_logistic_gd", "the gradient not divided by C n"): 0.0,
    ("fit_logistic_gd", "the intercept never moves"): 0.0,
    ("fit_logistic_gd", "one step too many"): 1.0,
    # 5 entropy cases of 0.2: one pure; bincount counts the missing classes of two.
    ("entropy", "nats"): 0.2,
    ("entropy", "np.bincount, and 0 log 0"): 0.6,
    # 5 gain cases of 0.2: pure children and an empty side gain the same unweighted.
    ("information_gain", "the children not weighted"): 0.4,
    # 7 split cases of 2/7: the split 2/3, the gain 1/3.
    ("best_split", "ties to the last"): 1.43,  # three cases hold exact ties, the repeated values one too
    ("best_split", "thresholds on data values"): 0.86,
    ("best_split", "feature 0 when no split exists"): 1.81,
    # 5 update cases of 0.2.
    ("q_update", "the future kept at a terminal state"): 0.8,
    # A terminal s_next, a bump (s_next = s) and gamma = 0 cannot tell the two rows apart.
    ("q_update", "the future of the same state"): 0.6,
    ("q_update", "alpha forgotten"): 0.2,
    ("q_update", "a new table returned"): 0.0,
    # 7 learning cases of 3/7: one episode; the seeds (half each); five worlds (policy 2/3, values 1/3).
    ("q_learning", "a generator with a fixed seed"): 2.79,
}


@pytest.mark.parametrize("name, bug", sorted(EXPECTED_POINTS), ids=[f"{n}: {b}" for n, b in sorted(EXPECTED_POINTS)])
def test_a_planted_bug_loses_exactly_the_points_of_the_cases_it_breaks(name, bug, capsys):
    points = NOTEBOOK.checker(name)(plant(name, *BUGS[name][bug]))
    assert points == pytest.approx(EXPECTED_POINTS[name, bug], abs=0.005), capsys.readouterr().out


def _printed(capsys, name, *bug):
    points = NOTEBOOK.checker(name)(plant(name, *bug))
    return points, capsys.readouterr().out


def test_the_k_means_mistakes_are_named(capsys):
    _, printed = _printed(capsys, "assign_clusters", *LAST_TIE)
    assert "[points halfway between two centres (exact ties)" in printed
    assert "ties go to the LOWEST centre index" in printed, printed
    _, printed = _printed(capsys, "assign_clusters", *BUGS["assign_clusters"]["the farthest centre"])
    assert "these are the FARTHEST centres" in printed, printed
    _, printed = _printed(capsys, "assign_clusters", *BUGS["assign_clusters"]["labels from 1"])
    assert "labels start at 0" in printed, printed
    _, printed = _printed(capsys, "update_centers", *EMPTY_NAN)
    assert "centers is nan at index (1, 0); expected finite numbers: cluster 1 has no point, and 0 / 0 is nan" \
        in printed, printed
    _, printed = _printed(capsys, "update_centers", *BUGS["update_centers"]["an empty cluster at zero"])
    assert "an empty cluster is put at 0; the convention is the centre (the mean) of the largest cluster" in printed
    _, printed = _printed(capsys, "update_centers", *BUGS["update_centers"]["the largest cluster's last index"])
    assert "ties to the highest index; take the lowest" in printed, printed
    _, printed = _printed(capsys, "update_centers", *BUGS["update_centers"]["sums, not means"])
    assert "these are the sums of each cluster's points" in printed, printed
    _, printed = _printed(capsys, "inertia", *BUGS["inertia"]["distances, not squared"])
    assert "the inertia sums the SQUARED distances" in printed, printed
    _, printed = _printed(capsys, "inertia", *BUGS["inertia"]["the nearest centres, not the labels"])
    assert "use the labels you are given" in printed, printed
    _, printed = _printed(capsys, "inertia", *BUGS["inertia"]["a mean"])
    assert "this is the mean over the points" in printed, printed
    _, printed = _printed(capsys, "kmeans", *BUGS["kmeans"]["labels of the centres before the last update"])
    assert "labels of the centres BEFORE the last update: assign the points once more" in printed, printed
    _, printed = _printed(capsys, "kmeans", *BUGS["kmeans"]["one iteration too many"])
    assert "these are the labels after 2 iterations; run n_iter = 1" in printed, printed
    assert "these are the centres after 3 updates; run n_iter = 2" in printed, printed


def test_the_logistic_mistakes_are_named(capsys):
    _, printed = _printed(capsys, "logistic_loss_and_gradient", *INTERCEPT_PENALISED)
    assert "the intercept is penalised: the penalty is ½||w||², b is left out of it" in printed, printed
    _, printed = _printed(capsys, "logistic_loss_and_gradient", *HALF_FORGOTTEN)
    assert "the ½ is missing" in printed and "gradient check: your gradient is not the slope of your own loss" \
        in printed, printed
    _, printed = _printed(capsys, "logistic_loss_and_gradient", *LOG_OF_SIGMOID)
    assert "expected finite numbers: log(sigmoid(z)) is log(0)" in printed, printed
    assert "np.logaddexp(0, z)" in printed
    clipped = ("loss = C * np.sum(np.logaddexp(0.0, z) - y * z)",
               "p = np.clip(1 / (1 + np.exp(-z)), 1e-15, 1 - 1e-15)\n"
               "        loss = -C * np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))")
    points, printed = _printed(capsys, "logistic_loss_and_gradient", *clipped)
    assert points == pytest.approx(1.87, abs=0.005) and "a clipped probability gives the wrong number" in printed
    bugs = BUGS["logistic_loss_and_gradient"]
    _, printed = _printed(capsys, "logistic_loss_and_gradient", *bugs["a mean, not a sum"])
    assert "the log-losses are averaged: scikit-learn's C multiplies their SUM" in printed, printed
    _, printed = _printed(capsys, "logistic_loss_and_gradient", *bugs["C on the penalty"])
    assert "C multiplies the penalty here" in printed, printed
    _, printed = _printed(capsys, "fit_logistic_gd", *BUGS["fit_logistic_gd"]["the gradient not divided by C n"])
    assert "divided by C·n" in printed, printed
    _, printed = _printed(capsys, "fit_logistic_gd", *BUGS["fit_logistic_gd"]["the intercept never moves"])
    assert "the intercept b is never updated" in printed, printed
    _, printed = _printed(capsys, "fit_logistic_gd", *BUGS["fit_logistic_gd"]["one step too many"])
    assert "these are the coefficients after 6 steps; take n_iter = 5" in printed, printed


def test_the_tree_mistakes_are_named(capsys):
    _, printed = _printed(capsys, "entropy", *BUGS["entropy"]["nats"])
    assert "this is the entropy in nats (natural log); the tree's entropy is in bits" in printed, printed
    _, printed = _printed(capsys, "entropy", *BUGS["entropy"]["np.bincount, and 0 log 0"])
    assert "a class with no sample gives 0 · log2(0) = nan" in printed, printed
    _, printed = _printed(capsys, "information_gain", *BUGS["information_gain"]["the children not weighted"])
    assert "weighted by n_L / n and n_R / n, not simply added" in printed, printed
    _, printed = _printed(capsys, "information_gain", *BUGS["information_gain"]["the children's entropies averaged"])
    assert "the children's entropies are averaged" in printed, printed
    _, printed = _printed(capsys, "best_split", *BUGS["best_split"]["ties to the last"])
    assert "that split is just as good (the same gain); ties go to the lowest feature, then the lowest threshold" \
        in printed, printed
    assert "X[:, 2] <= " in printed and "[two equally good thresholds of one feature" in printed
    _, printed = _printed(capsys, "best_split", *DATA_VALUES)
    assert "the split X[:, 0] <= 4 received, X[:, 0] <= 4.5 expected: 4 is a value of the feature; the threshold " \
           "lies halfway between it and the next distinct value, here 4.5" in printed, printed
    _, printed = _printed(capsys, "best_split", *BUGS["best_split"]["feature 0 when no split exists"])
    assert "no split exists (every feature is constant), so (None, None, 0.0) is expected" in printed, printed


def test_the_q_learning_mistakes_are_named(capsys):
    _, printed = _printed(capsys, "q_update", *KEPT_FUTURE)
    assert "at a terminal s_next there is no future: the target is r alone" in printed, printed
    _, printed = _printed(capsys, "q_update", *BUGS["q_update"]["the future of the same state"])
    assert "the row of the NEXT state" in printed, printed
    _, printed = _printed(capsys, "q_update", *BUGS["q_update"]["alpha forgotten"])
    assert "alpha is missing" in printed, printed
    _, printed = _printed(capsys, "q_update", *BUGS["q_update"]["a new table returned"])
    assert "Q is unchanged, the new table was returned: change Q in place" in printed, printed
    points, printed = _printed(capsys, "q_learning", *NEVER_EXPLORES)
    assert "the Q table is all zeros after 500 episodes, so the agent never met a reward" in printed, printed
    assert "your table has 0 nonzero entries" in printed and points < 2, printed
    _, printed = _printed(capsys, "q_learning", *BUGS["q_learning"]["a generator with a fixed seed"])
    assert "seed=5 and seed=6 gave the same table" in printed, printed
    _, printed = _printed(capsys, "q_learning", *BUGS["q_learning"]["the discount ignored"])
    assert "the greedy policy goes up in cell (0, 2), but the best move there is left" in printed, printed
    unseeded = plant("q_learning", "np.random.default_rng(seed)", "np.random.default_rng()")
    assert NOTEBOOK.checker("q_learning")(unseeded) == pytest.approx(3 - 3 / 14, abs=0.005)
    assert "two runs with seed=5 gave different tables" in capsys.readouterr().out


def test_planning_with_the_model_instead_of_learning_fails_the_one_episode_case(capsys):
    """An answer that solves the world by value iteration (reading the walls and rewards) is not Q-learning."""
    planner = planted("""
        def q_learning(env, n_episodes, alpha, gamma, epsilon, seed, max_steps=100):
            P, R = env.transition_probabilities()
            Q = np.zeros((env.n_states, 4))
            for _ in range(500):
                Q = (P * (R + gamma * Q.max(axis=1))).sum(axis=2)
            return Q
        """, "q_learning")
    points = NOTEBOOK.checker("q_learning")(planner)
    assert points == pytest.approx(3 - 3 / 7 - 3 / 14, abs=0.005), capsys.readouterr().out


# --- the trusted grader: NumPy only ------------------------------------------------------------------------------

SOLVED = {name: "".join(cell(NOTEBOOK.solution, f"{name}_answer")["source"]) for name in FULL}
RELEASED = {name: "".join(cell(NOTEBOOK.release, f"{name}_answer")["source"]) for name in FULL}
FORGERIES = {  # (the answer cell, its source, the exercises that earn nothing)
    "scikit-learn's k-means": ("kmeans", (
        "from sklearn.cluster import KMeans\n"
        "def kmeans(X, initial_centers, n_iter):\n"
        "    model = KMeans(len(initial_centers), init=initial_centers, n_init=1, max_iter=n_iter, tol=0).fit(X)\n"
        "    return model.cluster_centers_, model.labels_, model.inertia_\n"), ["kmeans"]),
    "SciPy's sigmoid": ("logistic_loss_and_gradient", SOLVED["logistic_loss_and_gradient"].replace(
        "    ### BEGIN SOLUTION\n", "    from scipy.special import expit\n    ### BEGIN SOLUTION\n"),
        ["logistic_loss_and_gradient"]),
    "course_lib.ml's tree": ("best_split", (
        "from course_lib.ml import tree\n"
        "def best_split(X, y):\n"
        "    return tree.best_split(X, y, criterion='entropy')\n"), ["best_split"]),
    "course_lib.ml imported at run time": ("entropy", (
        "import importlib\n"
        "def entropy(y):\n"
        "    tree = importlib.import_module('course_lib.' + 'ml.tree')\n"
        "    return float(tree.entropy(np.unique(y, return_counts=True)[1]))\n"), ["entropy"]),
    "the checker's reference": ("q_update",
                                "from course_lib.grading.assignment9 import reference_q_update as q_update\n",
                                ["q_update"]),
    "patches the checker": ("inertia", "grading.check_inertia = lambda *args, **kwargs: 1.0\n" + RELEASED["inertia"],
                            ["inertia"]),
    "prints a number": ("information_gain", "print(1.0)\n" + RELEASED["information_gain"], ["information_gain"]),
}
DEPENDS_ON = {"entropy": ("information_gain", "best_split"), "information_gain": ("best_split",),
              "q_update": ("q_learning",), "inertia": ("kmeans",),
              "logistic_loss_and_gradient": ("fit_logistic_gd",)}
"""The exercises whose solutions call another exercise's function."""


test_the_solution_is_graded_in_sandboxes, test_a_forged_answer_earns_nothing_for_its_exercise = (
    forgery_tests(NOTEBOOK, FORGERIES, DEPENDS_ON))


ALWAYS_LEFT = (
    "import sys\n"
    "def q_learning(env, n_episodes, alpha, gamma, epsilon, seed, max_steps=100):\n"
    "    Q = np.zeros((env.n_states, env.n_actions))\n"
    "    Q[:, 3] = 1e-9 * (1 + seed)  # always left, and another table for another seed\n"
    "    return Q\n")
REWRITES_THE_WORLD = ALWAYS_LEFT.replace("    return Q\n", (
    "    world = sys._getframe(1).f_locals.get('world')  # the description the grader sent\n"
    "    if isinstance(world, dict):  # a world where 'left' is optimal, were it mirrored back\n"
    "        world.update(walls=[], terminals={(0, 0): 0.0}, step_reward=0.0, start=(0, 1))\n"
    "    return Q\n"))


def test_rewriting_the_world_it_was_sent_earns_an_answer_nothing():
    """The red team's forgery: it learns nothing and rewrites the world description it was sent. Were the
    change mirrored into the grader's WORLDS, its greedy "left" would be optimal there (it scored 3 / 3)."""
    worlds = copy.deepcopy(assignment9.WORLDS)
    honest_score = NOTEBOOK.trusted_scores(submission(NOTEBOOK.solution, q_learning_answer=ALWAYS_LEFT))
    forged_score = NOTEBOOK.trusted_scores(submission(NOTEBOOK.solution, q_learning_answer=REWRITES_THE_WORLD))
    assert forged_score["q_learning"] == honest_score["q_learning"] < 1.0
    assert assignment9.WORLDS == worlds


def test_a_world_the_answer_breaks_costs_only_that_exercise_and_the_next_student_nothing():
    """The answer turns the grader's world description into an impossible one: were it mirrored into the
    grader's own WORLDS, grading would raise for this student and every later one."""
    worlds = copy.deepcopy(assignment9.WORLDS)
    breaks = SOLVED["q_learning"] + (
        "\nimport sys\n_honest = q_learning\n"
        "def q_learning(env, n_episodes, alpha, gamma, epsilon, seed, max_steps=100):\n"
        "    world = sys._getframe(1).f_locals.get('world')\n"
        "    if isinstance(world, dict):\n"
        "        world['start'] = next(iter(world['terminals']))  # a start GridWorld refuses\n"
        "    return _honest(env, n_episodes, alpha, gamma, epsilon, seed, max_steps)\n")
    scores = NOTEBOOK.trusted_scores(submission(NOTEBOOK.solution, q_learning_answer=breaks))
    assert scores == FULL  # the answer learns honestly; its copy of the world was its own
    assert assignment9.WORLDS == worlds
    assert NOTEBOOK.trusted_scores(NOTEBOOK.solution) == FULL


# --- nbgrader on a class: raising, looping, deleted tests, partial credit, the export ----------------


def _class():
    erin = submission(NOTEBOOK.solution, best_split_answer=RELEASED["best_split"])
    return {
        "alice": NOTEBOOK.solution,
        "bob": lambda regenerated: regenerated,
        # update_centers raises inside; the entropy cell raises before its def (and the gain and split need it).
        "carol": submission(NOTEBOOK.solution, update_centers_answer=SOLVED["update_centers"].replace(
            "    counts = np.bincount(labels, minlength=k)", "    raise ValueError('not averaged yet')", 1),
            entropy_answer="raise RuntimeError('not finished')\n" + SOLVED["entropy"]),
        # an endless loop before q_update's def: that cell is left out, the rest graded.
        "dave": submission(NOTEBOOK.solution, q_update_answer="while True:\n    pass\n" + SOLVED["q_update"]),
        # deleted two test cells, left best_split as the release's stub.
        "erin": without(erin, "inertia_tests", "best_split_tests"),
        # ties to the highest index, the intercept penalised, the future kept at a terminal state.
        "frank": submission(NOTEBOOK.solution,
                            assign_clusters_answer=SOLVED["assign_clusters"].replace(*LAST_TIE),
                            logistic_loss_and_gradient_answer=SOLVED["logistic_loss_and_gradient"].replace(
                                "    db = C * np.sum(error)\n", "    db = C * np.sum(error) + b\n"
                                "    loss += 0.5 * b * b\n"),
                            q_update_answer=SOLVED["q_update"].replace(
                                "target = r if done else r + gamma * np.max(Q[s_next])",
                                "target = r + gamma * np.max(Q[s_next])")),
        "mallory": submission(NOTEBOOK.solution, kmeans_answer=FORGERIES["scikit-learn's k-means"][1]),
    }


CLASS = _class()
EXPECTED = {
    "alice": FULL,
    "bob": {name: 0.0 for name in FULL},
    # best_split keeps the one case that needs no gain: every feature constant.
    "carol": dict(FULL, update_centers=0.0, kmeans=0.0, entropy=0.0, information_gain=0.0, best_split=0.29),
    "dave": dict(FULL, q_update=0.0, q_learning=0.0),
    "erin": dict(FULL, best_split=0.0),
    "frank": None,  # what the checkers give frank's functions in this process
    "mallory": dict(FULL, kmeans=0.0),
}


graded_class, scores_of, test_nbgrader_autogrades_every_kind_of_submission, test_the_export_lists_every_student = \
    class_grading_tests(NOTEBOOK, CLASS, EXPECTED)


def graded_cell(graded_class, student, exercise):
    """What the autograded notebook shows in the exercise's graded cell (the checker's reasons)."""
    return autograded_output(graded_class, ASSIGNMENT, student, exercise)


def test_the_planted_student_loses_points_in_the_right_exercises():
    frank = scores_of("frank")
    assert frank["assign_clusters"] == 0.6 and frank["logistic_loss_and_gradient"] == 0.73, frank
    assert frank["q_update"] == 0.8 and frank["q_learning"] == FULL["q_learning"], frank  # no terminal row is nonzero
    assert frank["kmeans"] == FULL["kmeans"] and frank["best_split"] == FULL["best_split"], frank


@pytest.mark.slow
def test_errors_loops_and_deleted_tests_are_reported_not_crashed_on(graded_class):
    assert "update_centers raised ValueError: not averaged yet" in graded_cell(graded_class, "carol", "update_centers")
    assert "entropy is not defined" in graded_cell(graded_class, "carol", "entropy")
    dave = graded_cell(graded_class, "dave", "q_update")
    assert "cell q_update_answer was left out" in dave and "did not finish" in dave
    assert "Missing grade cell best_split_tests encountered, adding to notebook" in graded_class["log"]
    assert "best_split raised NotImplementedError" in graded_cell(graded_class, "erin", "best_split")
    assert "ties go to the LOWEST centre index" in graded_cell(graded_class, "frank", "assign_clusters")
    assert "the intercept is penalised" in graded_cell(graded_class, "frank", "logistic_loss_and_gradient")
    assert "at a terminal s_next there is no future" in graded_cell(graded_class, "frank", "q_update")
    assert "does not allow" in graded_cell(graded_class, "mallory", "kmeans")


test_the_release_baseline_is_zero = release_baseline_test(NOTEBOOK)
