"""Checkers for assignment 9 (classical machine learning, written with NumPy alone).

Four algorithms of chapter 11, each rebuilt from its steps:

1. k-means: the assignment step (``assign_clusters``), the update step
   (``update_centers``), the within-cluster sum of squares (``inertia``) and
   Lloyd's loop from given centres (``kmeans``);
2. logistic regression: scikit-learn's objective ``C Σ logloss + ½‖w‖²``
   with its gradient (``logistic_loss_and_gradient``), then batch gradient
   descent on it (``fit_logistic_gd``);
3. a decision tree's split: ``entropy`` in bits, ``information_gain`` of a
   binary split and the best threshold over all features (``best_split``);
4. Q-learning on a grid world: one update (``q_update``) and the whole
   ε-greedy learning loop (``q_learning``).

The references are the course's own estimators in :mod:`course_lib.ml`, held
equal to scikit-learn by ``tests/ml``: :func:`course_lib.ml.cluster.kmeans_assign`,
:func:`~course_lib.ml.cluster.kmeans_update` and
:func:`~course_lib.ml.cluster.kmeans_lloyd`; the loss of
:func:`course_lib.ml.linear.logistic_loss_gradient` (scaled back from the mean
the library minimises) and :class:`~course_lib.ml.linear.LogisticRegression`
with its ``"gd"`` and ``"newton"`` solvers; :func:`course_lib.ml.tree.entropy`,
:func:`~course_lib.ml.tree.information_gain` and
:func:`~course_lib.ml.tree.best_split` with ``criterion="entropy"``;
:class:`course_lib.ml.reinforcement.GridWorld`, its
:func:`~course_lib.ml.reinforcement.value_iteration` and
:class:`~course_lib.ml.reinforcement.QLearning`. Only ``inertia`` has a
one-line reference here: the library computes the inertia inside its loop,
of the nearest centres, and has no function for given labels.

The answers may not import SciPy (``scipy.special.expit`` and ``logsumexp``
would do half of exercise 2), scikit-learn (refused by the trusted grader
for every assignment) or :mod:`course_lib.ml` (the references).

A grid world cannot travel to the sandbox that runs the student's code (the
sandbox has no course_lib), so the trusted grader sends a plain description,
``{"shape", "walls", "terminals", "step_reward", "start"}``, to the
notebook's read-only helper ``q_learning_on``, which builds the notebook's
own ``GridWorld`` (the same moves and rewards as the library's, checked by
the tests) and calls the student's ``q_learning``. The grader computes the
optimum from the library's ``GridWorld`` of the same description.

A failed comparison names the first wrong entry with both values; where a
known mistake explains the numbers (ties to the wrong index, an empty
cluster, the intercept penalised, the ½ forgotten, a log of 0, a threshold
on a data value, the future value kept at a terminal state, an agent that
never explores) the reason says so.
"""
from __future__ import annotations

import copy
import warnings

import numpy

from course_lib.grading.harness import (
    StudentCodeError,
    call_student,
    compare,
    describe,
    matches,
    run_cases,
    shape_of,
    shown,
    unpack,
    with_hint,
)
from course_lib.ml import cluster, linear, reinforcement, tree

FORBIDDEN_MODULES = ("scipy", "course_lib.ml")
"""Modules the answers may not import beyond the trusted grader's own list (which refuses scikit-learn)."""

DEFAULT_POINTS = {
    "assign_clusters": 1,
    "update_centers": 1,
    "inertia": 1,
    "kmeans": 1,
    "logistic_loss_and_gradient": 2,
    "fit_logistic_gd": 2,
    "entropy": 1,
    "information_gain": 1,
    "best_split": 2,
    "q_update": 1,
    "q_learning": 3,
}


def _copy(value):
    return numpy.array(value, copy=True)


def _number_reason(what, expected, received, tolerance=1e-6):
    """:func:`compare` for a value that must be one number."""
    shape = shape_of(received)
    if shape not in ((), None):
        return f"{what}: one number expected, received an array of shape {shape}"
    reason = compare(what, expected, received, tolerance)
    if reason is not None and " relative error " in reason:
        return f"{what} is {float(numpy.asarray(received)):.8g}, expected {float(expected):.8g}"
    return reason


def _array_reason(what, expected, received, tolerance=1e-6):
    """:func:`compare`, saying where the worst entry is and both its values."""
    reason = compare(what, expected, received, tolerance)
    if reason is None or " relative error " not in reason:
        return reason
    expected = numpy.asarray(expected, dtype="float64")
    received = numpy.asarray(received, dtype="float64")
    error = numpy.abs(expected - received) / numpy.maximum(1e-8, numpy.abs(expected) + numpy.abs(received))
    index = tuple(int(i) for i in numpy.unravel_index(int(numpy.argmax(error)), error.shape))
    wrong = int((error > tolerance).sum())
    where = f"[{', '.join(str(i) for i in index)}]" if index else ""
    return (f"{what}{where} is {received[index]:.8g}, expected {expected[index]:.8g} ({wrong} of {error.size} "
            f"entr{'y differs' if wrong == 1 else 'ies differ'})")


def _labels_reason(what, expected, received):
    """None when the integer labels are exactly ``expected``, else the first wrong one."""
    expected = numpy.asarray(expected)
    if received is None:
        return f"{what}: an array of shape {expected.shape} expected, received None"
    try:
        received = numpy.asarray(received)
    except Exception as error:
        return f"{what}: could not be turned into an array ({type(error).__name__})"
    if received.shape != expected.shape:
        return f"{what} shape {expected.shape} expected, received {received.shape}"
    if received.dtype.kind not in "iu":
        return (f"{what}: integer labels expected, received dtype {received.dtype} (np.argmin gives integers; "
                "labels index the centres, centers[labels])")
    wrong = numpy.flatnonzero(received != expected)
    if wrong.size == 0:
        return None
    first = int(wrong[0])
    return (f"{what}[{first}] is {int(received[first])}, expected {int(expected[first])} ({wrong.size} of "
            f"{expected.size} differ)")


# --- exercise 1: k-means -------------------------------------------------------------------------------------

def _blobs(rng, sizes, centres, spread):
    """Points around ``centres`` (one row per blob), ``sizes[j]`` of them around centre ``j``, shuffled."""
    centres = numpy.asarray(centres, dtype="float64")
    points = numpy.concatenate([centre + spread * rng.normal(size=(size, centres.shape[1]))
                                for size, centre in zip(sizes, centres)])
    return points[rng.permutation(len(points))]


def reference_assign_clusters(X, centers):
    """The nearest centre of each point, ties to the lowest index: :func:`course_lib.ml.cluster.kmeans_assign`."""
    return cluster.kmeans_assign(numpy.asarray(X, dtype="float64"), numpy.asarray(centers, dtype="float64"))


def _direct_distances(X, centers):
    """Squared distances from exact coordinate differences ``(n, k)`` (the hints' alternatives)."""
    return ((numpy.asarray(X)[:, None, :] - numpy.asarray(centers)[None, :, :]) ** 2).sum(axis=2)


_TIE_POINTS = numpy.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [1.0, 1.0], [1.0, -2.0], [3.0, 0.0], [-1.0, 0.0]])
"""Whole numbers, so that every distance is exact and the ties at x = 1 are exact ties."""


def _assign_cases(rng):
    """``(label, X, centers)`` of the assignment cases."""
    centres = numpy.array([[0.0, 0.0], [4.0, 1.0], [1.0, 5.0]])
    blobs = _blobs(rng, (12, 10, 8), centres, 1.2)
    wide = rng.normal(size=(60, 5))
    return [
        ("three blobs in 2-D, 3 centres", blobs, centres + rng.normal(scale=0.3, size=centres.shape)),
        ("60 points in 5-D, 4 centres", wide, rng.normal(size=(4, 5))),
        ("one centre", wide[:9], rng.normal(size=(1, 5))),
        ("points halfway between two centres (exact ties)", _TIE_POINTS, numpy.array([[2.0, 0.0], [0.0, 0.0]])),
        ("two centres at the same place", _TIE_POINTS, numpy.array([[5.0, 5.0], [1.0, 0.5], [1.0, 0.5]])),
    ]


def _assign_hints(X, centers):
    distances = _direct_distances(X, centers)
    last = distances.shape[1] - 1 - numpy.argmin(distances[:, ::-1], axis=1)
    return [(lambda: last, "ties go to the LOWEST centre index (np.argmin keeps the first minimum; a loop that "
                           "updates on <= keeps the last)"),
            (lambda: numpy.argmax(distances, axis=1), "these are the FARTHEST centres: take the argmin of the "
                                                      "distances"),
            (lambda: numpy.argmin(distances, axis=0), "the argmin ran over the points (axis 0); take it over the "
                                                      "centres, axis=1 of the (n, k) distances"),
            (lambda: numpy.argmin(distances, axis=1) + 1, "labels start at 0, the index of the centre")]


def _labels_match(expected, received):
    try:
        received = numpy.asarray(received)
        return received.shape == numpy.shape(expected) and bool(numpy.all(received == expected))
    except Exception:
        return False


def check_assign_clusters(assign_clusters, points=DEFAULT_POINTS["assign_clusters"], seed=0, verbose=True):
    """Check ``assign_clusters(X, centers) -> labels (n,)`` against :func:`course_lib.ml.cluster.kmeans_assign`.

    Five cases, each worth the same: blobs in 2-D, random points in 5-D, a
    single centre, points exactly halfway between two centres (ties go to
    the lowest index) and two identical centres. Labels must be equal.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, X, centers in _assign_cases(rng):
        def run(notes, X=X, centers=centers):
            received = call_student("assign_clusters", assign_clusters, _copy(X), _copy(centers), notes=notes)
            expected = reference_assign_clusters(X, centers)
            reason = _labels_reason("labels", expected, received)
            return [(1, with_hint(reason, _assign_hints(X, centers), received, _labels_match))]

        cases.append((f"{label}: " + describe(X=X, centers=centers), run))
    return run_cases("assign_clusters", points, cases, verbose)


def reference_update_centers(X, labels, k):
    """The mean of each cluster; an empty cluster gets the centre of the largest one:
    :func:`course_lib.ml.cluster.kmeans_update`."""
    return cluster.kmeans_update(numpy.asarray(X, dtype="float64"), numpy.asarray(labels), int(k))


def _update_cases(rng):
    """``(label, X, labels, k)``; the last two leave clusters empty."""
    X = rng.normal(size=(20, 3))
    return [
        ("20 points in 3-D, 3 clusters", X, rng.integers(0, 3, size=20), 3),
        ("a cluster of a single point", X[:9], numpy.array([0, 1, 1, 0, 2, 1, 0, 1, 1]), 3),
        ("40 points in 2-D, 5 clusters", rng.normal(size=(40, 2)), rng.permutation(numpy.arange(40) % 5), 5),
        ("cluster 1 empty", X[:10], numpy.array([0, 2, 2, 0, 3, 2, 0, 2, 3, 2]), 4),
        ("clusters 0 and 3 empty, two largest clusters of the same size", X[:8],
         numpy.array([2, 1, 2, 1, 4, 1, 2, 4]), 5),
    ]


def _update_hints(X, labels, k):
    counts = numpy.bincount(labels, minlength=k)
    sums = numpy.zeros((k, X.shape[1]))
    numpy.add.at(sums, labels, X)
    with numpy.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
    zeros = numpy.where(counts[:, None] > 0, means, 0.0)
    reference = reference_update_centers(X, labels, k)
    last_largest = k - 1 - int(numpy.argmax(counts[::-1]))
    hints = [(lambda: sums, "these are the sums of each cluster's points; divide by the cluster's size (the mean)")]
    if (counts == 0).any():
        hints += [(lambda: zeros, "an empty cluster is put at 0; the convention is the centre (the mean) of the "
                                  "largest cluster"),
                  (lambda: numpy.where(counts[:, None] > 0, means, reference[last_largest]),
                   "the largest cluster is found with ties to the highest index; take the lowest (np.argmax of "
                   "the counts)"),
                  (lambda: numpy.where(counts[:, None] > 0, means, X.mean(axis=0)),
                   "an empty cluster is put at the mean of all the points; the convention is the centre of the "
                   "largest cluster")]
    return hints


def check_update_centers(update_centers, points=DEFAULT_POINTS["update_centers"], seed=0, verbose=True):
    """Check ``update_centers(X, labels, k) -> centers (k, d)`` against :func:`course_lib.ml.cluster.kmeans_update`.

    Five cases, each worth the same; in the last two some clusters have no
    point: an empty cluster's centre is the mean of the largest cluster (the
    lowest index among equally large ones).

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, X, labels, k in _update_cases(rng):
        def run(notes, X=X, labels=labels, k=k):
            received = call_student("update_centers", update_centers, _copy(X), _copy(labels), k, notes=notes)
            expected = reference_update_centers(X, labels, k)
            reason = _array_reason("centers", expected, received)
            if reason is not None and "expected finite numbers" in reason:
                empty = numpy.flatnonzero(numpy.bincount(labels, minlength=k) == 0)
                if empty.size:
                    reason += (f": cluster {int(empty[0])} has no point, and 0 / 0 is nan; give an empty cluster the "
                               "centre of the largest cluster")
            return [(1, with_hint(reason, _update_hints(X, labels, k), received))]

        cases.append((f"{label}: " + describe(X=X) + f", k={k}", run))
    return run_cases("update_centers", points, cases, verbose)


def reference_inertia(X, centers, labels):
    """``Σ_i ||x_i - centers[labels_i]||²``, written here: the library computes the inertia inside
    :func:`course_lib.ml.cluster.kmeans_lloyd`, of the nearest centres, and has no function for given labels."""
    X, centers = numpy.asarray(X, dtype="float64"), numpy.asarray(centers, dtype="float64")
    return float(((X - centers[numpy.asarray(labels)]) ** 2).sum())


def _inertia_cases(rng):
    """``(label, X, centers, labels)``: the labels of the nearest centres, then labels that are not."""
    X = _blobs(rng, (10, 9, 11), [[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]], 1.0)
    centers = numpy.array([[0.2, -0.1], [4.8, 0.3], [0.1, 5.2]])
    wide = rng.normal(size=(25, 4))
    wide_centers = rng.normal(size=(3, 4))
    return [
        ("blobs and their nearest centres", X, centers, reference_assign_clusters(X, centers)),
        ("4-D points and their nearest centres", wide, wide_centers, reference_assign_clusters(wide, wide_centers)),
        ("labels that are NOT the nearest centres", X, centers, rng.integers(0, 3, size=len(X))),
        ("one point per cluster", wide[:3], wide_centers, numpy.array([2, 0, 1])),
    ]


def _inertia_hints(X, centers, labels):
    difference = X - centers[labels]
    distances = numpy.sqrt((difference**2).sum(axis=1))
    nearest = reference_assign_clusters(X, centers)
    return [(lambda: distances.sum(), "this is the sum of the distances; the inertia sums the SQUARED distances"),
            (lambda: (difference**2).sum() / len(X), "this is the mean over the points; the inertia is the sum"),
            (lambda: reference_inertia(X, centers, nearest),
             "this is the inertia of the nearest centres; use the labels you are given (centers[labels])")]


def check_inertia(inertia, points=DEFAULT_POINTS["inertia"], seed=0, verbose=True):
    """Check ``inertia(X, centers, labels) -> float``: the sum of squared distances to each point's own centre.

    Four cases, each worth the same, one with labels that are not the
    nearest centres (the inertia is of the labels given). Relative error 1e-8.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, X, centers, labels in _inertia_cases(rng):
        def run(notes, X=X, centers=centers, labels=labels):
            received = call_student("inertia", inertia, _copy(X), _copy(centers), _copy(labels), notes=notes)
            expected = reference_inertia(X, centers, labels)
            reason = _number_reason("inertia", expected, received, 1e-8)
            return [(1, with_hint(reason, _inertia_hints(X, centers, labels), received))]

        cases.append((f"{label}: " + describe(X=X, centers=centers), run))
    return run_cases("inertia", points, cases, verbose)


def reference_kmeans(X, initial_centers, n_iter):
    """``(centers, labels, inertia)`` after ``n_iter`` iterations of Lloyd's algorithm from ``initial_centers``
    (fewer if the labels stop changing), the labels of the final centres: :func:`course_lib.ml.cluster.kmeans_lloyd`
    with ``tol=0``."""
    labels, inertia, centers, _ = cluster.kmeans_lloyd(numpy.asarray(X, dtype="float64"),
                                                      numpy.array(initial_centers, dtype="float64"),
                                                      max_iter=int(n_iter), tol=0.0)
    return centers, labels, inertia


def _kmeans_cases(rng):
    """``(label, X, initial_centers, n_iter)``; no cluster ever becomes empty (the tests check it)."""
    X = _blobs(rng, (15, 12, 13), [[0.0, 0.0], [6.0, 1.0], [2.0, 6.0]], 1.3)
    poor = X[[9, 22, 33]]  # three points of the data from which Lloyd's loop takes 13 iterations
    wide = _blobs(rng, (20, 15, 18, 12), rng.normal(scale=4.0, size=(4, 5)), 1.5)
    return [
        ("three blobs in 2-D from three of the points, 50 iterations", X, poor, 50),
        ("the same start, one iteration", X, poor, 1),
        ("the same start, two iterations", X, poor, 2),
        ("four blobs in 5-D, 100 iterations", wide, wide[:4], 100),
    ]


def _kmeans_label_hints(X, initial_centers, n_iter):
    hints = []
    if n_iter > 1:
        before = reference_kmeans(X, initial_centers, n_iter - 1)[0]
    else:
        before = numpy.asarray(initial_centers, dtype="float64")
    hints.append((lambda: reference_assign_clusters(X, before),
                  "these are the labels of the centres BEFORE the last update: assign the points once more to the "
                  "final centres"))
    hints.append((lambda: reference_kmeans(X, initial_centers, n_iter + 1)[1],
                  f"these are the labels after {n_iter + 1} iterations; run n_iter = {n_iter}"))
    return hints


def check_kmeans(kmeans, points=DEFAULT_POINTS["kmeans"], seed=0, verbose=True):
    """Check ``kmeans(X, initial_centers, n_iter) -> (centers, labels, inertia)`` against
    :func:`course_lib.ml.cluster.kmeans_lloyd` from the same centres.

    Four cases, each worth the same: a converged run, one and two
    iterations from a poor start, and 5-D blobs. Half of a case is the
    partition (labels equal, those of the final centres), a quarter the
    centres, a quarter the inertia (relative error 1e-8).

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, X, initial_centers, n_iter in _kmeans_cases(rng):
        def run(notes, X=X, initial_centers=initial_centers, n_iter=n_iter):
            result = call_student("kmeans", kmeans, _copy(X), _copy(initial_centers), n_iter, notes=notes)
            centers, labels, total = unpack("kmeans", result, 3, "(centers, labels, inertia)")
            expected_centers, expected_labels, expected_inertia = reference_kmeans(X, initial_centers, n_iter)
            label_reason = with_hint(_labels_reason("labels", expected_labels, labels),
                                      _kmeans_label_hints(X, initial_centers, n_iter), labels, _labels_match)
            centre_hints = [(lambda: reference_kmeans(X, initial_centers, n_iter + 1)[0],
                             f"these are the centres after {n_iter + 1} updates; run n_iter = {n_iter}")]
            if n_iter > 1:
                centre_hints.append((lambda: reference_kmeans(X, initial_centers, n_iter - 1)[0],
                                     f"these are the centres after {n_iter - 1} updates; run n_iter = {n_iter}"))
            centre_reason = with_hint(_array_reason("centers", expected_centers, centers, 1e-8), centre_hints,
                                       centers, lambda a, b: matches(a, b, 1e-8))
            return [(2, label_reason), (1, centre_reason),
                    (1, _number_reason("inertia", expected_inertia, total, 1e-8))]

        cases.append((f"{label}: " + describe(X=X, initial_centers=initial_centers), run))
    return run_cases("kmeans", points, cases, verbose)


# --- exercise 2: logistic regression --------------------------------------------------------------------------

def _design(X):
    """``[X, 1]``: the library's design matrix with the intercept's column last."""
    return numpy.hstack([X, numpy.ones((len(X), 1))])


def reference_logistic_loss_and_gradient(w, b, X, y, C):
    """``(J, dJ/dw, dJ/db)`` of ``J = C Σ_i [log(1 + exp(z_i)) - y_i z_i] + ½||w||²``, ``z = X w + b``.

    The library's :func:`course_lib.ml.linear.logistic_loss_gradient` is this
    objective divided by ``C n`` (the mean log-loss plus ``||w||² / (2 C n)``,
    which is what :class:`~course_lib.ml.linear.LogisticRegression` minimises,
    the intercept's column unpenalised): scaled back by ``C n`` here.
    """
    X = numpy.asarray(X, dtype="float64")
    n, d = X.shape
    weights = numpy.append(numpy.asarray(w, dtype="float64"), float(b))[None, :]
    penalised = numpy.ones(d + 1)
    penalised[d] = 0.0
    loss, gradient, _ = linear.logistic_loss_gradient(weights, _design(X), numpy.asarray(y, dtype="float64")[:, None],
                                                      1.0 / (C * n), penalised)
    scale = C * n
    return float(loss * scale), gradient[0, :d] * scale, float(gradient[0, d] * scale)


def _logistic_data(rng, n, d, weight_scale=1.0, bias=0.0):
    X = rng.normal(size=(n, d))
    w = weight_scale * rng.normal(size=d)
    y = (rng.uniform(size=n) < 1.0 / (1.0 + numpy.exp(-numpy.clip(X @ w + bias, -30, 30)))).astype("float64")
    return X, y


def _loss_cases(rng):
    """``(label, w, b, X, y, C)`` of the loss cases; the last has scores in the hundreds."""
    cases = []
    for label, n, d, C, b in [("6 samples, 3 features, C=1", 6, 3, 1.0, 0.4),
                              ("10 samples, 2 features, C=0.1", 10, 2, 0.1, -0.7),
                              ("25 samples, 4 features, C=10, a large intercept", 25, 4, 10.0, 2.5),
                              ("a gradient check: 8 samples, 3 features, C=0.5", 8, 3, 0.5, 0.3)]:
        X, y = _logistic_data(rng, n, d)
        cases.append((label, rng.normal(size=d), b, X, y, C))
    X, y = _logistic_data(rng, 12, 3)
    w = numpy.array([150.0, -120.0, 90.0])
    cases.append(("scores in the hundreds (sigmoid is 0 or 1 in float64): 12 samples, C=1", w, 1.0, X, y, 1.0))
    return cases


def _penalty_hints(w, b, X, y, C):
    """``(make_alternative, hint)`` of the usual mistakes, for the loss and the two gradients alike."""
    reference = reference_logistic_loss_and_gradient
    n = len(X)
    half = 0.5 * float(numpy.dot(w, w))

    def loss_and_gradients(loss_change=0.0, w_change=0.0, b_change=0.0, scale=1.0):
        loss, dw, db = reference(w, b, X, y, C)
        return ((loss - half) * scale + half + loss_change, (dw - w) * scale + w + w_change, (db * scale) + b_change)

    return [
        (lambda: loss_and_gradients(0.5 * b * b, 0.0, b), "the intercept is penalised: the penalty is ½||w||², b "
                                                         "is left out of it (scikit-learn does not penalise it)"),
        (lambda: loss_and_gradients(half, w), "the penalty is ½||w||² (its gradient is w), not ||w||²: the ½ is "
                                              "missing"),
        (lambda: loss_and_gradients(scale=1.0 / n), "the log-losses are averaged: scikit-learn's C multiplies their "
                                                    "SUM, C Σ logloss + ½||w||²"),
        (lambda: ((reference(w, b, X, y, C)[0] - half) / C + C * half, (reference(w, b, X, y, C)[1] - w) / C + C * w,
                  reference(w, b, X, y, C)[2] / C),
         "C multiplies the penalty here; in scikit-learn's convention C multiplies the log-loss: "
         "C Σ logloss + ½||w||²"),
        (lambda: loss_and_gradients(-half, -w), "the penalty ½||w||² is missing"),
    ]


def _numerical_gradients(loss_of, w, b, step=1e-6):
    """Central differences of ``loss_of(w, b)`` in every entry of ``w`` and in ``b``."""
    dw = numpy.zeros_like(w)
    for index in range(len(w)):
        shift = numpy.zeros_like(w)
        shift[index] = step
        dw[index] = (loss_of(w + shift, b) - loss_of(w - shift, b)) / (2 * step)
    return dw, (loss_of(w, b + step) - loss_of(w, b - step)) / (2 * step)


def check_logistic_loss_and_gradient(logistic_loss_and_gradient, points=DEFAULT_POINTS["logistic_loss_and_gradient"],
                                     seed=0, verbose=True):
    """Check ``logistic_loss_and_gradient(w, b, X, y, C) -> (loss, dw, db)``.

    ``loss = C Σ_i [log(1 + exp(z_i)) - y_i z_i] + ½||w||²`` with ``z = X w + b``
    and ``y`` in {0, 1}; the reference is the library's mean objective scaled
    back (:func:`reference_logistic_loss_and_gradient`). Five cases, each
    worth the same: the loss, ``dw`` and ``db`` a third each (relative error
    1e-6); the fourth case also checks ``dw`` and ``db`` against central
    differences of the student's own loss (a quarter of that case), the
    fifth has scores in the hundreds (only a loss written with
    ``np.logaddexp`` or an equivalent stays finite).

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    name = "logistic_loss_and_gradient"
    cases = []
    for label, w, b, X, y, C in _loss_cases(rng):
        def run(notes, label=label, w=w, b=b, X=X, y=y, C=C):
            result = call_student(name, logistic_loss_and_gradient, _copy(w), b, _copy(X), _copy(y), C, notes=notes)
            loss, dw, db = unpack(name, result, 3, "(loss, dw, db)")
            expected = reference_logistic_loss_and_gradient(w, b, X, y, C)
            hints = _penalty_hints(w, b, X, y, C)
            reasons = [_number_reason("loss", expected[0], loss), _array_reason("dw", expected[1], dw),
                       _number_reason("db", expected[2], db)]
            for position, received in enumerate((loss, dw, db)):
                reasons[position] = with_hint(reasons[position],
                                               [(lambda make=make, position=position: make()[position], hint)
                                                for make, hint in hints], received)
            unexplained = reasons[0] is not None and ": " not in reasons[0].split(", expected ", 1)[-1]
            if unexplained and ("expected finite numbers" in reasons[0] or "scores in the hundreds" in label):
                reasons[0] += (": log(sigmoid(z)) is log(0) once sigmoid(z) rounds to 0 or 1 (and a clipped "
                               "probability gives the wrong number); write the log-loss as log(1 + exp(z)) - y z, "
                               "with np.logaddexp(0, z) for log(1 + exp(z))")
            parts = [(1, reasons[0]), (1, reasons[1]), (1, reasons[2])]
            if "gradient check" in label:
                parts.append((1, _gradient_check_reason(logistic_loss_and_gradient, w, b, X, y, C, dw, db, notes)))
            return parts

        cases.append((f"{label}: " + describe(w=w, X=X), run))
    return run_cases(name, points, cases, verbose)


def _gradient_check_reason(logistic_loss_and_gradient, w, b, X, y, C, dw, db, notes):
    """None when ``dw`` and ``db`` are the central differences of the student's own loss."""
    def loss_of(w_value, b_value):
        result = call_student("logistic_loss_and_gradient", logistic_loss_and_gradient, _copy(w_value),
                              float(b_value), _copy(X), _copy(y), C, notes=notes)
        return float(numpy.asarray(unpack("logistic_loss_and_gradient", result, 3, "(loss, dw, db)")[0]))

    try:
        numeric_dw, numeric_db = _numerical_gradients(loss_of, numpy.asarray(w, dtype="float64"), float(b))
    except (TypeError, ValueError):
        return "the gradient check needs the loss as a number"
    reason = compare("dw", numeric_dw, dw, 1e-5) or compare("db", numeric_db, db, 1e-5)
    if reason is None:
        return None
    return (f"gradient check: your gradient is not the slope of your own loss ({reason} against central differences "
            "of your loss): one of the two is wrong")


def reference_fit_logistic_gd(X, y, C, learning_rate, n_iter):
    """``(w, b)`` after ``n_iter`` steps of batch gradient descent from zero on ``J / (C n)``:
    :class:`course_lib.ml.linear.LogisticRegression` with ``solver="gd"`` and ``tol=0``."""
    model = linear.LogisticRegression(C=C, solver="gd", learning_rate=learning_rate, max_iter=int(n_iter), tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not converge": a fixed number of steps is the point here
        model.fit(numpy.asarray(X, dtype="float64"), numpy.asarray(y))
    return model.coef_[0].copy(), float(model.intercept_[0])


def reference_logistic_optimum(X, y, C):
    """The minimiser of ``J``: :class:`course_lib.ml.linear.LogisticRegression` with Newton's method."""
    model = linear.LogisticRegression(C=C, solver="newton", tol=1e-12, max_iter=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(numpy.asarray(X, dtype="float64"), numpy.asarray(y))
    return model.coef_[0].copy(), float(model.intercept_[0])


CONVERGED_TOLERANCE = 1e-6
"""How close (relative error) the long runs' coefficients must come to Newton's optimum."""


def _fit_cases(rng):
    """``(label, X, y, C, learning_rate, n_iter, converged)``: short runs step by step, then long runs."""
    cases = []
    for label, n, d, C, learning_rate, n_iter, converged in [
            ("5 steps, learning_rate=0.5, C=1", 30, 3, 1.0, 0.5, 5, False),
            ("15 steps, learning_rate=0.5, C=0.1", 50, 2, 0.1, 0.5, 15, False),
            ("2000 steps, learning_rate=1, C=1: the optimum", 80, 3, 1.0, 1.0, 2000, True),
            ("2000 steps, learning_rate=1, C=0.05: the optimum", 200, 4, 0.05, 1.0, 2000, True)]:
        X, y = _logistic_data(rng, n, d, weight_scale=1.5, bias=0.3)
        cases.append((label, X, y, C, learning_rate, n_iter, converged))
    return cases


def _descent(X, y, C, learning_rate, n_iter, scale=True, intercept=True, penalise_intercept=False):
    """Gradient descent from zero with the reference gradient, changed as a usual mistake would (hints only)."""
    n, d = X.shape
    w, b = numpy.zeros(d), 0.0
    for _ in range(n_iter):
        _, dw, db = reference_logistic_loss_and_gradient(w, b, X, y, C)
        if penalise_intercept:
            db += b
        factor = learning_rate / (C * n) if scale else learning_rate
        w = w - factor * dw
        if intercept:
            b = b - factor * db
        if not numpy.all(numpy.isfinite(w)):
            break
    return w, b


def _fit_hints(X, y, C, learning_rate, n_iter, part):
    def run(**changes):
        return lambda: _descent(X, y, C, learning_rate, n_iter, **changes)[part]

    return [(run(scale=False), "the step is learning_rate times the gradient of J divided by C·n (the mean "
                               "objective, whose learning rates do not depend on n or C)"),
            (run(intercept=False), "the intercept b is never updated: it takes a step too, b -= learning_rate · "
                                   "dJ/db / (C·n)"),
            (run(penalise_intercept=True), "the intercept is penalised: dJ/db has no b term"),
            (lambda: reference_fit_logistic_gd(X, y, C, learning_rate, n_iter + 1)[part],
             f"these are the coefficients after {n_iter + 1} steps; take n_iter = {n_iter}")]


def check_fit_logistic_gd(fit_logistic_gd, points=DEFAULT_POINTS["fit_logistic_gd"], seed=0, verbose=True):
    """Check ``fit_logistic_gd(X, y, C, learning_rate, n_iter) -> (w, b)``.

    From ``w = 0, b = 0``, ``n_iter`` steps ``w -= learning_rate · dJ/dw / (C n)``
    (the same for ``b``). Four cases, each worth the same, ``w`` and ``b``
    half each: two short runs compared with the library's gradient descent
    step for step (relative error 1e-6), two runs of 2000 steps compared with
    the optimum Newton's method finds (relative error
    :data:`CONVERGED_TOLERANCE`).

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    name = "fit_logistic_gd"
    cases = []
    for label, X, y, C, learning_rate, n_iter, converged in _fit_cases(rng):
        def run(notes, X=X, y=y, C=C, learning_rate=learning_rate, n_iter=n_iter, converged=converged):
            result = call_student(name, fit_logistic_gd, _copy(X), _copy(y), C, learning_rate, n_iter, notes=notes)
            w, b = unpack(name, result, 2, "(w, b)")
            if converged:
                expected = reference_logistic_optimum(X, y, C)
                tolerance = CONVERGED_TOLERANCE
            else:
                expected = reference_fit_logistic_gd(X, y, C, learning_rate, n_iter)
                tolerance = 1e-6
            reasons = [_array_reason("w", expected[0], w, tolerance), _number_reason("b", expected[1], b, tolerance)]
            if converged:
                reasons = [reason if reason is None else reason + " (the optimum, found by Newton's method)"
                           for reason in reasons]
            reasons = [with_hint(reason, _fit_hints(X, y, C, learning_rate, n_iter, part), received,
                                  lambda a, b_: matches(a, b_, 1e-6))
                       for part, (reason, received) in enumerate(zip(reasons, (w, b)))]
            reasons = [reason + (": the steps blew up; each step is learning_rate times the gradient of J divided by "
                                 "C·n") if reason is not None and reason.endswith("expected finite numbers") else reason
                       for reason in reasons]
            return [(1, reasons[0]), (1, reasons[1])]

        cases.append((f"{label}: " + describe(X=X), run))
    return run_cases(name, points, cases, verbose)


# --- exercise 3: a decision tree's split -----------------------------------------------------------------------

def _class_counts(y):
    return numpy.unique(numpy.asarray(y), return_counts=True)[1]


def reference_entropy(y):
    """Entropy in bits of the labels' class shares: :func:`course_lib.ml.tree.entropy` of the class counts."""
    return float(tree.entropy(_class_counts(y)))


def _missing_classes(labels):
    """``'classes 0-2 and 4-6 have no sample'``: the classes below the largest label that have none."""
    present = {int(label) for label in labels}
    missing = [c for c in range(max(present)) if c not in present]
    spans = []
    for c in missing:
        if spans and spans[-1][1] == c - 1:
            spans[-1][1] = c
        else:
            spans.append([c, c])
    names = [str(a) if a == b else f"{a}-{b}" for a, b in spans]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"class {listed} has no sample" if len(missing) == 1 else f"classes {listed} have no sample"


def _entropy_cases(rng, drawn=False):
    """``(label, y)``; ``drawn`` (a seed other than 0) draws the listed ones anew from ``rng``, of the same kinds."""
    cases = [
        ("two classes, half and half", numpy.array([0, 1, 1, 0])),
        ("one class only", numpy.array([2, 2, 2, 2, 2])),
        ("three classes, 5 / 3 / 2", rng.permutation(numpy.repeat([0, 1, 2], [5, 3, 2]))),
        ("labels 3, 7, 8 (classes 0-2 and 4-6 have no sample)", numpy.array([7, 3, 3, 8, 7, 7])),
        ("200 samples of 6 classes", rng.integers(0, 6, size=200)),
    ]
    if not drawn:
        return cases
    half = int(rng.integers(1, 7))
    counts = [int(n) for n in rng.integers(1, 8, size=3)]
    labels = sorted(int(label) for label in rng.choice(numpy.arange(1, 12), size=3, replace=False))
    skipping = rng.permutation(numpy.repeat(labels, rng.integers(1, 5, size=3)))
    cases[:4] = [
        ("two classes, half and half", rng.permutation(numpy.repeat([0, 1], half))),
        ("one class only", numpy.full(int(rng.integers(2, 10)), int(rng.integers(1, 10)))),  # skips class 0
        (f"three classes, {' / '.join(map(str, counts))}", rng.permutation(numpy.repeat([0, 1, 2], counts))),
        (f"labels {', '.join(map(str, labels))} ({_missing_classes(labels)})", skipping),
    ]
    return cases


def _entropy_hints(y):
    shares = _class_counts(y) / len(y)
    return [(lambda: float(-(shares * numpy.log(shares)).sum()),
             "this is the entropy in nats (natural log); the tree's entropy is in bits: np.log2"),
            (lambda: float((shares * numpy.log2(shares)).sum()), "the sign: H = -Σ p log2 p is never negative")]


def check_entropy(entropy, points=DEFAULT_POINTS["entropy"], seed=0, verbose=True):
    """Check ``entropy(y) -> float``, in bits, against :func:`course_lib.ml.tree.entropy`.

    Five cases, each worth the same; one has labels that skip values (a
    count of 0 for the classes between them must not give ``0 · log 0 = nan``).
    ``seed=0`` gives the listed cases; another seed draws new ones of the
    same kinds (the hidden tests' labels are new ones).

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, y in _entropy_cases(rng, drawn=seed != 0):
        def run(notes, y=y):
            received = call_student("entropy", entropy, _copy(y), notes=notes)
            reason = _number_reason("entropy", reference_entropy(y), received)
            if reason is not None and "expected finite numbers" in reason:
                reason += (": a class with no sample gives 0 · log2(0) = nan; its term is 0 (count the classes "
                           "present with np.unique(y, return_counts=True))")
            return [(1, with_hint(reason, _entropy_hints(y), received))]

        cases.append((f"{label}: " + describe(y=y), run))
    return run_cases("entropy", points, cases, verbose)


def reference_information_gain(y, left_mask):
    """``H(y) - n_L/n H(y_L) - n_R/n H(y_R)`` in bits: :func:`course_lib.ml.tree.information_gain` of the split
    by the mask's two values."""
    return float(tree.information_gain(numpy.asarray(left_mask, dtype=bool), numpy.asarray(y)))


def _gain_cases(rng, drawn=False):
    """``(label, y, left_mask)``; ``drawn`` (a seed other than 0) draws the listed ones anew from ``rng``, of the
    same kinds."""
    y = rng.integers(0, 3, size=30)
    pure = numpy.array([0, 0, 0, 1, 1, 1, 1, 1])
    cases = [
        ("30 samples of 3 classes, a random split", y, rng.uniform(size=30) < 0.4),
        ("a split into two pure children", pure, pure == 0),
        ("a useless split (both children like the parent)", numpy.array([0, 1, 0, 1, 0, 1, 0, 1]),
         numpy.array([True, True, False, False, True, True, False, False])),
        ("labels 2 and 9, an uneven split", numpy.array([9, 2, 2, 9, 9, 9, 2, 9, 9]),
         numpy.array([True, False, False, True, True, False, False, False, True])),
        ("every sample on the left (the right side is empty)", y[:12], numpy.ones(12, dtype=bool)),
    ]
    if not drawn:
        return cases
    pure = rng.permutation(numpy.repeat([0, 1], rng.integers(1, 7, size=2)))
    # Both children hold the parent's class shares: the same counts of each class, times 1 to 3 per side.
    shares = rng.integers(1, 4, size=int(rng.integers(2, 4)))
    sides = [numpy.repeat(numpy.arange(len(shares)), shares * int(m)) for m in rng.integers(1, 4, size=2)]
    order = rng.permutation(len(sides[0]) + len(sides[1]))
    useless = numpy.concatenate(sides)[order]
    useless_mask = (numpy.arange(len(order)) < len(sides[0]))[order]
    low = int(rng.integers(1, 6))
    labels = (low, low + int(rng.integers(2, 8)))  # both skip values: classes 0 and low + 1 have no sample
    n = int(rng.integers(7, 13))
    uneven = rng.permutation(list(labels) + rng.choice(labels, size=n - 2).tolist())
    left = int(rng.choice([k for k in range(1, n) if 2 * k != n]))
    cases[1:4] = [
        ("a split into two pure children", pure, pure == int(rng.integers(2))),
        ("a useless split (both children like the parent)", useless, useless_mask),
        (f"labels {labels[0]} and {labels[1]}, an uneven split", uneven, rng.permutation(numpy.arange(n) < left)),
    ]
    return cases


def _gain_hints(y, left_mask):
    left, right = y[left_mask], y[~left_mask]
    parent = reference_entropy(y)
    children = [reference_entropy(side) for side in (left, right) if len(side)]
    return [(lambda: parent - sum(children) / 2,
             "the children's entropies are averaged; weight each by its share of the samples, n_L / n and n_R / n"),
            (lambda: parent - sum(children), "the children's entropies are weighted by n_L / n and n_R / n, "
                                             "not simply added"),
            (lambda: sum(len(side) / len(y) * reference_entropy(side) for side in (left, right) if len(side)),
             "this is the children's weighted entropy; the gain is the parent's entropy minus it")]


def check_information_gain(information_gain, points=DEFAULT_POINTS["information_gain"], seed=0, verbose=True):
    """Check ``information_gain(y, left_mask) -> float`` against :func:`course_lib.ml.tree.information_gain`.

    Five cases, each worth the same: a random split, two pure children, a
    useless split (gain 0), labels that skip values, and an empty right side
    (its weight is 0: the gain is 0). ``seed=0`` gives the listed cases;
    another seed draws new ones of the same kinds.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, y, left_mask in _gain_cases(rng, drawn=seed != 0):
        def run(notes, y=y, left_mask=left_mask):
            received = call_student("information_gain", information_gain, _copy(y), _copy(left_mask), notes=notes)
            reason = _number_reason("information gain", reference_information_gain(y, left_mask), received)
            if reason is not None and "expected finite numbers" in reason and left_mask.all():
                reason += (": the right side is empty; its weight n_R / n is 0, so it adds nothing (skip it rather "
                           "than take the entropy of no labels, 0 / 0)")
            elif reason is not None and "expected finite numbers" in reason:
                reason += ": a class with no sample gives 0 · log2(0) = nan; its term is 0"
            return [(1, with_hint(reason, _gain_hints(y, left_mask), received))]

        cases.append((f"{label}: " + describe(y=y), run))
    return run_cases("information_gain", points, cases, verbose)


def reference_best_split(X, y):
    """``(feature, threshold, gain)`` of the best split ``X[:, feature] <= threshold`` by information gain:
    :func:`course_lib.ml.tree.best_split` with ``criterion="entropy"`` (thresholds halfway between neighbouring
    distinct values; ties to the lowest feature, then the lowest threshold; ``(None, None, 0.0)`` without a cut)."""
    _, codes = numpy.unique(numpy.asarray(y), return_inverse=True)
    feature, threshold, gain = tree.best_split(numpy.asarray(X, dtype="float64"), codes, criterion="entropy")
    return feature, threshold, float(gain)


def _grid(rng, size, low=-4, high=5, step=0.5):
    """Values on a grid of halves: exact in float32 (the library's) and float64, so are their midpoints."""
    return rng.integers(int(low / step), int(high / step), size=size) * step


def _best_splits(X, y, tolerance=1e-6):
    """``(gain, [(feature, threshold), ...])``: the largest gain over every cut, and every split within
    ``tolerance`` of it (one, unless a case ties on purpose)."""
    gains = [(reference_information_gain(y, X[:, j] <= t), j, float(t)) for j in range(X.shape[1])
             for t in (numpy.unique(X[:, j])[:-1] + numpy.unique(X[:, j])[1:]) / 2]
    best = max((gain for gain, _, _ in gains), default=0.0)
    return best, [(j, t) for gain, j, t in gains if gain >= best - tolerance]


def _drawn_split(draw, ties=1):
    """``draw()`` (an ``(X, y)``) again until its best split gains something and only ``ties`` splits gain as much
    (the drawn cases, as the listed ones, have no near ties but those of their label)."""
    for _ in range(10000):
        X, y = draw()
        gain, best = _best_splits(X, y)
        if gain > 1e-6 and len(best) == ties:
            return X, y, best
    raise RuntimeError("no split case without near ties was drawn")


def _drawn_split_cases(rng):
    """New ``(label, X, y)`` of the kinds of :func:`_split_cases` (its labels), for a seed other than 0."""
    halves = numpy.arange(-8, 10) * 0.5

    def one():
        y = rng.permutation([0, 0, 1, 1] + list(rng.integers(0, 2, size=4)))
        return rng.choice(halves, size=(8, 1), replace=False), y

    def three():
        return _grid(rng, (12, 3)), rng.permutation([0, 1, 2] + list(rng.integers(0, 3, size=9)))

    def duplicated():
        copy = _grid(rng, (10, 1))
        return numpy.hstack([_grid(rng, (10, 1)), copy, copy]), (copy[:, 0] > 0).astype(int)

    def symmetric():
        outer, inner = int(rng.integers(1, 4)), int(rng.integers(2, 5))
        n = 2 * outer + inner
        classes = rng.permutation(2)
        y = numpy.repeat([classes[0], classes[1], classes[0]], [outer, inner, outer])
        order = rng.permutation(n)
        return numpy.sort(rng.choice(halves, size=n, replace=False))[order, None], y[order]

    def repeated():  # as the listed case: three values of feature 0 in blocks, the outer two of one class
        outer, inner = (int(size) for size in rng.integers(2, 4, size=2))
        sizes = [outer, inner, outer]
        classes = rng.permutation(2)
        column = numpy.repeat(numpy.sort(rng.choice(halves, size=3, replace=False)), sizes)
        other = numpy.resize(rng.choice(halves, size=int(rng.integers(2, 4)), replace=False), len(column))
        order = rng.permutation(len(column))
        return (numpy.stack([column, rng.permutation(other)], axis=1)[order],
                numpy.repeat(classes[[0, 1, 0]], sizes)[order])

    def two_thresholds(draw):
        """The two cuts around the middle block, of feature 0, gain the most."""
        while True:
            X, y, best = _drawn_split(draw, ties=2)
            if [j for j, _ in best] == [0, 0]:
                return X, y

    def noisy():
        X40 = _grid(rng, (40, 4), -10, 10)
        return X40, ((X40[:, 2] > 1.0) ^ (rng.uniform(size=40) < 0.15)).astype(int)

    X1, y1, _ = _drawn_split(one)
    X3, y3, _ = _drawn_split(three)
    while True:  # feature 1 and its copy, feature 2, cut the labels (copy > 0) at the same threshold, alone
        Xd, yd, best = _drawn_split(duplicated, ties=2)
        if [j for j, _ in best] == [1, 2] and best[0][1] == best[1][1]:
            break
    Xs, ys = two_thresholds(symmetric)
    Xr, yr = two_thresholds(repeated)
    X40, y40, _ = _drawn_split(noisy)
    n, d = int(rng.integers(3, 8)), int(rng.integers(1, 4))
    constant = numpy.broadcast_to(_grid(rng, (1, d)), (n, d)).copy()
    return [
        ("one feature, 8 samples, two classes", X1, y1),
        ("3 features, 12 samples of 3 classes", X3, y3),
        ("features 1 and 2 are the same column (a tie between features)", Xd, yd),
        ("two equally good thresholds of one feature", Xs, ys),
        ("repeated values", Xr, yr),
        ("4 features, 40 samples, noisy labels", X40, y40),
        ("every feature constant (no split at all)", constant, rng.integers(0, 2, size=n)),
    ]


def _split_cases(rng):
    """``(label, X, y)`` of the split cases."""
    one = numpy.array([[1.0], [3.0], [2.0], [7.0], [5.0], [6.0], [8.0], [4.0]])
    X3 = _grid(rng, (12, 3))
    y3 = rng.integers(0, 3, size=12)
    copy = _grid(rng, (10, 1))
    duplicated = numpy.hstack([_grid(rng, (10, 1)), copy, copy])
    y_duplicated = (copy[:, 0] > 0).astype(int)
    symmetric = numpy.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]])
    repeated = numpy.array([[1.0, 0.5], [1.0, 0.5], [2.0, 0.5], [2.0, 1.5], [2.0, 1.5], [3.5, 1.5], [3.5, 1.5]])
    X40 = _grid(rng, (40, 4), -10, 10)
    y40 = ((X40[:, 2] > 1.0) ^ (rng.uniform(size=40) < 0.15)).astype(int)
    return [
        ("one feature, 8 samples, two classes", one, numpy.array([0, 0, 0, 1, 1, 1, 1, 0])),
        ("3 features, 12 samples of 3 classes", X3, y3),
        ("features 1 and 2 are the same column (a tie between features)", duplicated, y_duplicated),
        ("two equally good thresholds of one feature", symmetric, numpy.array([0, 0, 1, 1, 0, 0])),
        ("repeated values", repeated, numpy.array([0, 0, 1, 1, 1, 0, 0])),
        ("4 features, 40 samples, noisy labels", X40, y40),
        ("every feature constant (no split at all)", numpy.full((5, 2), 3.0), numpy.array([0, 1, 0, 1, 1])),
    ]


def _split_value(value):
    """A feature or threshold the student returned as a float, or None (for the reasons)."""
    try:
        return None if value is None else float(numpy.asarray(value))
    except (TypeError, ValueError):
        return numpy.nan


def _split_reason(X, y, expected, feature, threshold):
    """None when ``(feature, threshold)`` is the expected split, else what is wrong with it."""
    want_feature, want_threshold, want_gain = expected
    if want_feature is None:
        if feature is None and threshold is None:
            return None
        return (f"no split exists (every feature is constant), so (None, None, 0.0) is expected; received feature "
                f"{shown(feature, 30)}, threshold {shown(threshold, 30)}")
    got_feature, got_threshold = _split_value(feature), _split_value(threshold)
    if got_feature is None or got_threshold is None:
        return f"the split X[:, {want_feature}] <= {want_threshold:g} expected, received None"
    if not (numpy.isfinite(got_feature) and numpy.isfinite(got_threshold)) or got_feature != int(got_feature):
        return (f"feature must be a column index and threshold a number; received {shown(feature, 30)} and "
                f"{shown(threshold, 30)}")
    got_feature = int(got_feature)
    if got_feature == want_feature and compare("", want_threshold, got_threshold) is None:
        return None
    reason = (f"the split X[:, {got_feature}] <= {got_threshold:g} received, X[:, {want_feature}] <= "
              f"{want_threshold:g} expected")
    if not 0 <= got_feature < X.shape[1]:
        return reason + f": X has {X.shape[1]} features, 0 to {X.shape[1] - 1}"
    column = X[:, got_feature]
    if numpy.any(numpy.isclose(column, got_threshold, rtol=0, atol=1e-9)):
        distinct = numpy.unique(column)
        if got_threshold in distinct[:-1]:
            position = int(numpy.searchsorted(distinct, got_threshold))
            middle = (distinct[position] + distinct[position + 1]) / 2
            return reason + (f": {got_threshold:g} is a value of the feature; the threshold lies halfway between it "
                             f"and the next distinct value, here {middle:g}")
    mask = column <= got_threshold
    if 0 < mask.sum() < len(mask):
        gain = reference_information_gain(y, mask)
        if abs(gain - want_gain) <= 1e-9:
            return reason + (": that split is just as good (the same gain); ties go to the lowest feature, then "
                             "the lowest threshold: keep the first best split, replace it only by a strictly larger "
                             "gain")
        return reason + f": that split gains {gain:.6g} bits, the best {want_gain:.6g}"
    return reason + ": that threshold puts every sample on one side"


def check_best_split(best_split, points=DEFAULT_POINTS["best_split"], seed=0, verbose=True):
    """Check ``best_split(X, y) -> (feature, threshold, gain)`` against :func:`course_lib.ml.tree.best_split`.

    The split sends ``X[:, feature] <= threshold`` to the left; thresholds lie
    halfway between neighbouring distinct values of a feature; equally good
    splits go to the lowest feature, then the lowest threshold; without any
    possible split (every feature constant) the answer is ``(None, None, 0.0)``.
    Seven cases, each worth the same: two thirds the split, a third the gain
    (relative error 1e-6). ``seed=0`` gives the listed cases; another seed
    draws new ones of the same kinds (without near ties but those of their label).

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, X, y in (_split_cases(rng) if seed == 0 else _drawn_split_cases(rng)):
        def run(notes, X=X, y=y):
            result = call_student("best_split", best_split, _copy(X), _copy(y), notes=notes)
            feature, threshold, gain = unpack("best_split", result, 3, "(feature, threshold, gain)")
            expected = reference_best_split(X, y)
            gain_reason = _number_reason("gain", expected[2], gain)
            if gain_reason is not None and expected[0] is not None:
                gain_reason = with_hint(gain_reason, [(lambda: expected[2] * numpy.log(2),
                                                        "this is the gain in nats; the entropy is in bits (np.log2)")],
                                         gain)
            return [(2, _split_reason(X, y, expected, feature, threshold)), (1, gain_reason)]

        cases.append((f"{label}: " + describe(X=X), run))
    return run_cases("best_split", points, cases, verbose)


# --- exercise 4: Q-learning -------------------------------------------------------------------------------------

def reference_q_update(Q, s, a, r, s_next, done, alpha, gamma):
    """``Q[s, a] += alpha (r + gamma max Q[s_next] - Q[s, a])``, in place, without the max term at a terminal
    ``s_next``: the target is :class:`course_lib.ml.reinforcement.QLearning`'s own (``_target``), the step the one
    its ``fit`` takes."""
    target = r + reinforcement.QLearning(gamma=gamma)._target(Q, s_next, None, done)
    Q[s, a] += alpha * (target - Q[s, a])


def _update_q_cases(rng):
    """``(label, Q, s, a, r, s_next, done, alpha, gamma)``; every case changes ``Q[s, a]``."""
    def table():
        return rng.normal(size=(6, 4))

    return [
        ("an ordinary step", table(), 1, 2, -1.0, 3, False, 0.5, 0.9),
        ("a step into a terminal state whose row is not zero", table(), 4, 1, 10.0, 5, True, 0.3, 0.95),
        ("a bump into a wall (s_next is s)", table(), 2, 0, -0.04, 2, False, 0.25, 0.9),
        ("alpha = 1 (the target itself)", table(), 0, 3, 0.5, 1, False, 1.0, 0.8),
        ("gamma = 0 (no future)", table(), 3, 1, 2.0, 0, False, 0.4, 0.0),
    ]


def _q_update_hints(Q, s, a, r, s_next, done, alpha, gamma):
    def changed(target=None, step=alpha):
        table = _copy(Q)
        target = r + gamma * Q[s_next].max() if target is None else target
        table[s, a] += step * (target - Q[s, a])
        return table

    return [(lambda: changed(), "at a terminal s_next there is no future: the target is r alone (zero the "
                                "gamma · max Q[s_next] term when done)"),
            (lambda: changed(r + gamma * Q[s].max()), "the future value is max Q[s_next], the row of the NEXT state"),
            (lambda: changed(r + gamma * Q[s_next, a]), "the future value is the max over all actions of "
                                                        "Q[s_next], not Q[s_next, a]"),
            (lambda: changed(r if done else r + gamma * Q[s_next].mean()), "the future value is the max of "
                                                                          "Q[s_next], not its mean"),
            (lambda: changed(step=1.0), "alpha is missing: Q[s, a] moves by alpha times the error, not to the target")]


def check_q_update(q_update, points=DEFAULT_POINTS["q_update"], seed=0, verbose=True):
    """Check ``q_update(Q, s, a, r, s_next, done, alpha, gamma)``, which changes ``Q[s, a]`` in place.

    Five cases, each worth the same: an ordinary step, a step into a
    terminal state (whose row of Q is not zero here: the target is ``r``
    alone), a bump into a wall (``s_next == s``), ``alpha = 1`` and
    ``gamma = 0``. The whole table after the call must be the reference's.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, Q, s, a, r, s_next, done, alpha, gamma in _update_q_cases(rng):
        def run(notes, Q=Q, s=s, a=a, r=r, s_next=s_next, done=done, alpha=alpha, gamma=gamma):
            table = _copy(Q)
            returned = call_student("q_update", q_update, table, s, a, r, s_next, done, alpha, gamma, notes=notes)
            expected = _copy(Q)
            reference_q_update(expected, s, a, r, s_next, done, alpha, gamma)
            if numpy.array_equal(table, Q):
                if returned is not None and matches(expected, returned):
                    return [(1, "Q is unchanged, the new table was returned: change Q in place (Q[s, a] += ...), "
                                "as the agent's loop expects")]
                return [(1, f"Q is unchanged after the call; Q[{s}, {a}] should become {expected[s, a]:.8g}")]
            reason = _array_reason("Q", expected, table)
            return [(1, with_hint(reason, _q_update_hints(Q, s, a, r, s_next, done, alpha, gamma), table))]

        arguments = f"s={s}, a={a}, r={r:g}, s_next={s_next}, done={done}, alpha={alpha:g}, gamma={gamma:g}"
        cases.append((f"{label}: {arguments}", run))
    return run_cases("q_update", points, cases, verbose)


def reference_q_learning(env, n_episodes, alpha, gamma, epsilon, seed, max_steps=100):
    """The Q table of :class:`course_lib.ml.reinforcement.QLearning` after ``n_episodes`` episodes in ``env``."""
    agent = reinforcement.QLearning(alpha=alpha, gamma=gamma, epsilon=epsilon, n_episodes=int(n_episodes),
                                    max_steps=int(max_steps), random_state=int(seed))
    return agent.fit(env).q_values_


WORLDS = {
    "the classic 3 x 4 world": {"shape": (3, 4), "walls": [(1, 1)], "terminals": {(0, 3): 1.0, (1, 3): -1.0},
                                "step_reward": -0.04, "start": (2, 0)},
    "a maze": {"shape": (4, 4), "walls": [(1, 1), (1, 2), (3, 1), (2, 3)], "terminals": {(3, 3): 0.0},
               "step_reward": -1.0, "start": (0, 0)},
    "a corridor, 1 two steps left, 3 three steps right": {
        "shape": (1, 6), "walls": [], "terminals": {(0, 0): 1.0, (0, 5): 3.0}, "step_reward": 0.0, "start": (0, 2)},
    "a cliff walk": {"shape": (3, 6), "walls": [],
                     "terminals": {(2, 5): 10.0, (2, 1): -10.0, (2, 2): -10.0, (2, 3): -10.0, (2, 4): -10.0},
                     "step_reward": -1.0, "start": (2, 0)},
    "a corridor of 4 cells": {"shape": (1, 4), "walls": [], "terminals": {(0, 3): 1.0}, "step_reward": 0.0,
                              "start": (0, 0)},
}
"""The grader's grid worlds (deterministic: no slip), as ``GridWorld`` takes them."""

_LEARNING_CASES = [
    # (world, gamma, n_episodes, alpha, epsilon): the optimal policy must be learnt.
    ("the classic 3 x 4 world", 0.9, 300, 0.5, 0.2),
    ("a maze", 0.95, 300, 0.5, 0.2),
    ("a corridor, 1 two steps left, 3 three steps right", 0.9, 500, 0.5, 0.8),  # 3 γ² = 2.43 > 1 γ = 0.9: right
    ("a corridor, 1 two steps left, 3 three steps right", 0.3, 400, 0.5, 0.5),  # 3 γ² = 0.27 < 1 γ = 0.3: left
    ("a cliff walk", 0.9, 400, 0.5, 0.5),
]
ONE_EPISODE = ("a corridor of 4 cells", 0.9, 1, 0.5, 1.0, 7, 1000)
"""(world, gamma, n_episodes, alpha, epsilon, seed, max_steps): one random walk to the only reward."""
SEED_CASE = ("the classic 3 x 4 world", 0.9, 50, 0.5, 0.3, (5, 6))
"""(world, gamma, n_episodes, alpha, epsilon, (seed, other seed)): the same seed, the same table."""
LEARNING_SEED = 11
Q_TOLERANCE = 0.01
"""Along the greedy path, ``|Q - Q*| <= Q_TOLERANCE · max(1, |Q*|)``."""
ACTION_NAMES = reinforcement.ACTION_NAMES


def grid_world(name):
    """The library's :class:`course_lib.ml.reinforcement.GridWorld` of one of :data:`WORLDS`."""
    return reinforcement.GridWorld(**WORLDS[name])


def _q_table(name, result, env):
    """The student's Q as a float array ``(n_states, 4)``, or a StudentCodeError saying what is wrong."""
    shape = shape_of(result)
    want = (env.n_states, env.n_actions)
    if shape != want:
        raise StudentCodeError(f"{name} must return the Q table, an array of shape {want} (n_states, n_actions); "
                               f"it returned {shown(result, 60) if shape is None else f'shape {shape}'}")
    table = numpy.asarray(result)
    if table.dtype.kind not in "biuf":
        raise StudentCodeError(f"{name}: the Q table must hold numbers, received dtype {table.dtype}")
    table = table.astype("float64")
    if not numpy.all(numpy.isfinite(table)):
        raise StudentCodeError(f"{name}: the Q table holds {table[~numpy.isfinite(table)][0]}; expected finite "
                               "numbers")
    return table


def _cell(env, state):
    return tuple(int(i) for i in env.cell_of(state))


def _greedy_path_reasons(env, table, gamma, n_episodes):
    """``(policy_reason, values_reason)`` of the greedy path from the start under the student's Q."""
    _, _, optimal = reinforcement.value_iteration(env, gamma=gamma)
    P, _ = env.transition_probabilities()
    done = env.terminal_states
    state = env.reset()
    visited, policy_reason, values_reason = [], None, None
    for _ in range(env.n_states):
        if done[state]:
            break
        action = int(numpy.argmax(table[state]))
        best = optimal[state].max()
        if policy_reason is None and optimal[state, action] < best - 1e-9:
            good = [ACTION_NAMES[a] for a in numpy.flatnonzero(optimal[state] >= best - 1e-9)]
            policy_reason = (f"the greedy policy goes {ACTION_NAMES[action]} in cell {_cell(env, state)}, but the best "
                             f"move there is {' or '.join(good)} (Q* = {best:.4g}, and {optimal[state, action]:.4g} "
                             f"for {ACTION_NAMES[action]})")
        error = abs(table[state, action] - optimal[state, action])
        if values_reason is None and error > Q_TOLERANCE * max(1.0, abs(optimal[state, action])):
            values_reason = (f"Q[{_cell(env, state)}, {ACTION_NAMES[action]}] is {table[state, action]:.4g}, value "
                             f"iteration's Q* is {optimal[state, action]:.4g} (tolerance "
                             f"{Q_TOLERANCE:g} · max(1, |Q*|))")
        visited.append(state)
        state = int(numpy.argmax(P[state, action]))
        if state in visited:
            policy_reason = policy_reason or (f"the greedy policy goes round in circles from cell "
                                              f"{_cell(env, state)} and never reaches a terminal cell")
            break
    if not done[state] and policy_reason is None:
        policy_reason = "the greedy path from the start never reaches a terminal cell"
    if policy_reason is not None and not table.any():
        policy_reason += (f": the Q table is all zeros after {n_episodes} episodes, so the agent never met a reward. "
                          "With every Q equal, argmax always picks action 0 (up): with probability epsilon the agent "
                          "must take a random action instead (rng.random() < epsilon, then rng.integers(4))")
    if policy_reason is not None:
        values_reason = values_reason or "the Q values are checked along the optimal greedy path only"
    return policy_reason, values_reason


def check_q_learning(q_learning, q_learning_on=None, points=DEFAULT_POINTS["q_learning"], seed=0, verbose=True):
    """Check ``q_learning(env, n_episodes, alpha, gamma, epsilon, seed, max_steps=100) -> Q (n_states, 4)``.

    Seven cases, each worth the same:

    - one episode with ``epsilon = 1`` in a corridor whose only reward is the
      last cell's: exactly one entry of Q changes, by ``alpha · 1``;
    - the same seed twice gives the same table, another seed another one
      (half each);
    - five grid worlds (:data:`_LEARNING_CASES`): following the greedy
      policy of the student's Q from the start must be an optimal path, by
      value iteration's ``Q*`` (two thirds), and Q along that path must be
      within :data:`Q_TOLERANCE` of ``Q*`` (a third).

    In the trusted grader ``q_learning`` is called through the notebook's
    ``q_learning_on``, which builds the notebook's own GridWorld from a
    description (a GridWorld cannot leave the grader's process); in the
    student's kernel ``q_learning_on`` may be left out, and the library's
    GridWorld is passed.

    ``seed=0`` passes the listed seeds (:data:`ONE_EPISODE`, :data:`SEED_CASE`,
    :data:`LEARNING_SEED`) to ``q_learning``; another seed passes others.

    Returns:
        Points earned (float).
    """
    name = "q_learning"

    def case_seed(listed):
        return listed if seed == 0 else int(numpy.random.default_rng([seed, listed]).integers(2**31))

    def learn(notes, world, *arguments):
        if q_learning_on is not None:
            try:
                result = call_student("q_learning_on", q_learning_on, copy.deepcopy(WORLDS[world]), *arguments,
                                      notes=notes)
            except StudentCodeError as error:
                if "q_learning_on is not defined" in str(error):
                    raise StudentCodeError(f"{error} (the read-only cell that defines q_learning_on must stay in the "
                                           "notebook)") from None
                raise StudentCodeError(str(error).replace("q_learning_on raised", f"{name} raised", 1),
                                       fatal=error.fatal) from None
        else:
            result = call_student(name, q_learning, grid_world(world), *arguments, notes=notes)
        return _q_table(name, result, grid_world(world))

    cases = []
    world, gamma, n_episodes, alpha, epsilon, walk_seed, max_steps = ONE_EPISODE

    def one_episode(notes, world=world, gamma=gamma, n_episodes=n_episodes, alpha=alpha, epsilon=epsilon,
                    walk_seed=case_seed(walk_seed), max_steps=max_steps):
        table = learn(notes, world, n_episodes, alpha, gamma, epsilon, walk_seed, max_steps)
        env = grid_world(world)
        expected = numpy.zeros_like(table)
        last = env.state_of((0, 2))
        expected[last, 1] = alpha
        if numpy.array_equal(table, expected):
            return [(1, None)]
        changed = [(_cell(env, s), ACTION_NAMES[a], table[s, a]) for s, a in zip(*numpy.nonzero(table))]
        shown_changes = ", ".join(f"Q[{cell}, {action}] = {value:.4g}" for cell, action, value in changed[:4])
        reason = (f"after one episode in which only the last move (right, into the goal) pays a reward, exactly one "
                  f"entry changes, Q[(0, 2), right] = alpha · 1 = {alpha:g}; your table has {len(changed)} nonzero "
                  f"entr{'y' if len(changed) == 1 else 'ies'}" + (f": {shown_changes}" if changed else ""))
        if len(changed) == 1 and numpy.isclose(table[last, 1], 1.0):
            reason += " (alpha is missing from the update)"
        elif not changed:
            reason += (" (an episode runs until the agent enters a terminal cell, or for max_steps steps, and Q is "
                       "updated after every step)")
        else:
            reason += (" (each step updates Q[s, a] of the state the move was made from, with the reward of that "
                       "move; all the others are 0 here, and so is every Q the agent has not yet learnt)")
        return [(1, reason)]

    cases.append((f"one episode with epsilon=1 in {world}, alpha={alpha:g}", one_episode))

    world, gamma, n_episodes, alpha, epsilon, (first_seed, other_seed) = SEED_CASE
    first_seed, other_seed = case_seed(first_seed), case_seed(other_seed)
    other_seed += other_seed == first_seed

    def seeds(notes, world=world, gamma=gamma, n_episodes=n_episodes, alpha=alpha, epsilon=epsilon, seed=first_seed,
              other_seed=other_seed):
        first = learn(notes, world, n_episodes, alpha, gamma, epsilon, seed)
        again = learn(notes, world, n_episodes, alpha, gamma, epsilon, seed)
        other = learn(notes, world, n_episodes, alpha, gamma, epsilon, other_seed)
        same = None if numpy.array_equal(first, again) else (
            f"two runs with seed={seed} gave different tables: draw every random number from "
            "rng = np.random.default_rng(seed), made once at the start")
        different = None if not numpy.array_equal(first, other) else (
            f"seed={seed} and seed={other_seed} gave the same table: the generator must be seeded with the seed "
            "argument (np.random.default_rng(seed)), and the agent must explore")
        return [(1, same), (1, different)]

    cases.append((f"seeds {first_seed}, {first_seed} and {other_seed} in {world}, {n_episodes} episodes", seeds))

    for world, gamma, n_episodes, alpha, epsilon in _LEARNING_CASES:
        def run(notes, world=world, gamma=gamma, n_episodes=n_episodes, alpha=alpha, epsilon=epsilon,
                learning_seed=case_seed(LEARNING_SEED)):
            table = learn(notes, world, n_episodes, alpha, gamma, epsilon, learning_seed)
            policy_reason, values_reason = _greedy_path_reasons(grid_world(world), table, gamma, n_episodes)
            return [(2, policy_reason), (1, values_reason)]

        cases.append((f"{world}, gamma={gamma:g}, {n_episodes} episodes, alpha={alpha:g}, epsilon={epsilon:g}", run))
    return run_cases(name, points, cases, verbose)


_CHECKERS = {
    "assign_clusters": (check_assign_clusters, None),
    "update_centers": (check_update_centers, None),
    "inertia": (check_inertia, None),
    "kmeans": (check_kmeans, None),
    "logistic_loss_and_gradient": (check_logistic_loss_and_gradient, None),
    "fit_logistic_gd": (check_fit_logistic_gd, None),
    "entropy": (check_entropy, None),
    "information_gain": (check_information_gain, None),
    "best_split": (check_best_split, None),
    "q_update": (check_q_update, None),
    "q_learning": (check_q_learning, "q_learning_on"),
}
