"""Checkers for assignment 1 (a multilayer perceptron from scratch).

Each ``check_*`` takes the student's function, runs it next to the
:mod:`course_lib.ops` reference on random float64 inputs of several shapes
(edge cases included), prints one line per problem found and a summary, and
returns the points earned as a Python float. The hidden tests of the graded
notebook are single calls to these functions, so that the cell's result is
exactly the checker's points (nbgrader's partial credit).
"""
from __future__ import annotations

import time

import numpy

from course_lib import ops
from course_lib.grading.harness import (
    StudentCodeError,
    call_student,
    compare,
    compare_mean_loss,
    describe,
    run_cases,
    shape_of,
    unpack,
)

MLP_SHAPES = {"W1": (64, 32), "b1": (32,), "W2": (32, 10), "b2": (10,)}
"""The parameters ``train_mlp`` must return: a 64-32-10 network."""

DEFAULT_POINTS = {
    "dense_forward": 2,
    "dense_backward": 3,
    "relu_forward": 1,
    "relu_backward": 1,
    "softmax_cross_entropy": 3,
    "sgd_step": 1,
    "train_mlp": 4,
}


def _nonzero(rng, shape, low=0.1, high=2.0, sign=None):
    # Values bounded away from 0, so that ReLU's kink (where the derivative is
    # a convention) is never hit by a random input.
    magnitude = rng.uniform(low, high, size=shape)
    signs = rng.choice([-1.0, 1.0], size=shape) if sign is None else sign
    return magnitude * signs


def _copy(value):
    return numpy.array(value, copy=True)


# --- dense -----------------------------------------------------------------

_DENSE_SHAPES = [(4, 3, 5), (1, 1, 1), (7, 10, 2), (16, 64, 32)]


def _dense_inputs(rng, batch, features, units):
    x = rng.normal(size=(batch, features))
    kernel = rng.normal(size=(features, units))
    bias = rng.normal(size=(units,))
    return x, kernel, bias


def check_dense_forward(dense_forward, points=DEFAULT_POINTS["dense_forward"], seed=0, verbose=True):
    """Check ``dense_forward(x, W, b) -> (out, cache)`` against :func:`course_lib.ops.dense_forward`.

    Args:
        dense_forward: the student's function.
        points: what the whole check is worth.
        seed: seed of the random inputs.
        verbose: print the reasons and a summary line.

    Returns:
        Points earned (float), one equal share per input shape.
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for shapes in _DENSE_SHAPES:
        x, kernel, bias = _dense_inputs(rng, *shapes)

        def run(notes, x=x, kernel=kernel, bias=bias):
            result = call_student("dense_forward", dense_forward, _copy(x), _copy(kernel), _copy(bias), notes=notes)
            out, _ = unpack("dense_forward", result, 2, "a pair (out, cache)")
            expected, _ = ops.dense_forward(x, kernel, bias)
            return [(1, compare("output", expected, out))]

        cases.append((describe(x=x, W=kernel, b=bias), run))
    return run_cases("dense_forward", points, cases, verbose)


def check_dense_backward(dense_backward, dense_forward, points=DEFAULT_POINTS["dense_backward"], seed=0,
                         verbose=True):
    """Check ``dense_backward(dout, cache) -> (dx, dW, db)``.

    The cache comes from the student's own ``dense_forward`` (its layout is the
    student's choice); the gradients are compared with
    :func:`course_lib.ops.dense_backward`. dx, dW and db are each a third of a case.

    Args:
        dense_backward: the student's backward function.
        dense_forward: the student's forward function, used only to make the cache.
        points: what the whole check is worth.
        seed: seed of the random inputs.
        verbose: print the reasons and a summary line.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for shapes in _DENSE_SHAPES:
        x, kernel, bias = _dense_inputs(rng, *shapes)
        dout = rng.normal(size=(shapes[0], shapes[2]))

        def run(notes, x=x, kernel=kernel, bias=bias, dout=dout):
            try:
                result = call_student("dense_forward", dense_forward, _copy(x), _copy(kernel), _copy(bias), notes=notes)
                _, cache = unpack("dense_forward", result, 2, "a pair (out, cache)")
            except StudentCodeError as error:
                raise StudentCodeError(f"could not get a cache from your dense_forward: {error}") from None
            result = call_student("dense_backward", dense_backward, _copy(dout), cache, notes=notes)
            dx, dkernel, dbias = unpack("dense_backward", result, 3, "a triple (dx, dW, db)")
            _, reference_cache = ops.dense_forward(x, kernel, bias)
            expected = ops.dense_backward(dout, reference_cache)
            return [
                (1, compare("dx", expected[0], dx)),
                (1, compare("dW", expected[1], dkernel)),
                (1, compare("db", expected[2], dbias)),
            ]

        cases.append((describe(x=x, W=kernel, b=bias), run))
    return run_cases("dense_backward", points, cases, verbose)


# --- relu ------------------------------------------------------------------

def _relu_cases(rng):
    # The last input is all negative: its output and gradient are all zero.
    return [_nonzero(rng, (4, 5)), _nonzero(rng, (1, 1)), _nonzero(rng, (2, 3, 4)),
            _nonzero(rng, (3, 3), sign=-1.0)]


def check_relu_forward(relu_forward, points=DEFAULT_POINTS["relu_forward"], seed=0, verbose=True):
    """Check ``relu_forward(x) -> (out, cache)`` on 2-D and 3-D inputs, including all-negative ones.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for x in _relu_cases(rng):
        def run(notes, x=x):
            result = call_student("relu_forward", relu_forward, _copy(x), notes=notes)
            out, _ = unpack("relu_forward", result, 2, "a pair (out, cache)")
            expected, _ = ops.relu_forward(x)
            return [(1, compare("output", expected, out))]

        cases.append((describe(x=x), run))
    return run_cases("relu_forward", points, cases, verbose)


def check_relu_backward(relu_backward, relu_forward, points=DEFAULT_POINTS["relu_backward"], seed=0,
                        verbose=True):
    """Check ``relu_backward(dout, cache) -> dx``, with the cache from the student's ``relu_forward``.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for x in _relu_cases(rng):
        dout = rng.normal(size=x.shape)

        def run(notes, x=x, dout=dout):
            try:
                result = call_student("relu_forward", relu_forward, _copy(x), notes=notes)
                _, cache = unpack("relu_forward", result, 2, "a pair (out, cache)")
            except StudentCodeError as error:
                raise StudentCodeError(f"could not get a cache from your relu_forward: {error}") from None
            dx = call_student("relu_backward", relu_backward, _copy(dout), cache, notes=notes)
            _, reference_cache = ops.relu_forward(x)
            return [(1, compare("dx", ops.relu_backward(dout, reference_cache), dx))]

        cases.append((describe(x=x), run))
    return run_cases("relu_backward", points, cases, verbose)


# --- softmax cross-entropy -----------------------------------------------------


def check_softmax_cross_entropy(softmax_cross_entropy, points=DEFAULT_POINTS["softmax_cross_entropy"], seed=0,
                                verbose=True):
    """Check ``softmax_cross_entropy(logits, labels) -> (loss, dlogits)``.

    Cases: an ordinary batch, a batch of one, two classes, and logits near
    1000 that overflow ``exp`` unless the row maximum is subtracted first.
    The loss and the gradient are each half of a case.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for batch, classes, offset, label in [
        (5, 10, 0.0, "ordinary"),
        (1, 3, 0.0, "batch of one"),
        (4, 2, 0.0, "two classes"),
        (6, 10, 1000.0, "large logits"),
    ]:
        logits = rng.normal(scale=3.0, size=(batch, classes)) + offset
        labels = rng.integers(0, classes, size=batch)

        def run(notes, logits=logits, labels=labels):
            result = call_student("softmax_cross_entropy", softmax_cross_entropy, _copy(logits), _copy(labels),
                                  notes=notes)
            loss, dlogits = unpack("softmax_cross_entropy", result, 2, "a pair (loss, dlogits)")
            expected_loss, expected_dlogits = ops.softmax_cross_entropy(logits, labels)
            return [(1, compare_mean_loss(expected_loss, loss)), (1, compare("dlogits", expected_dlogits, dlogits))]

        cases.append((f"{label}: " + describe(logits=logits), run))
    return run_cases("softmax_cross_entropy", points, cases, verbose)


# --- sgd ---------------------------------------------------------------------


def check_sgd_step(sgd_step, points=DEFAULT_POINTS["sgd_step"], seed=0, verbose=True):
    """Check ``sgd_step(params, grads, learning_rate)`` updates the arrays in ``params`` in place.

    A step that puts the right values into the dictionary but as new arrays
    (``params[k] = params[k] - ...``) earns half of a case: code holding the
    old arrays would not see the update.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for shapes, learning_rate in [
        ({"W": (3, 4), "b": (4,)}, 0.1),
        ({"W1": (1, 1)}, 0.5),
        ({"W1": (5, 2), "b1": (2,), "W2": (2, 3), "b2": (3,)}, 0.01),
    ]:
        start = {key: rng.normal(size=shape) for key, shape in shapes.items()}
        grads = {key: rng.normal(size=shape) for key, shape in shapes.items()}

        def run(notes, start=start, grads=grads, learning_rate=learning_rate):
            params = {key: _copy(value) for key, value in start.items()}
            originals = dict(params)
            call_student("sgd_step", sgd_step, params, {k: _copy(v) for k, v in grads.items()}, learning_rate,
                         notes=notes)
            expected = {key: _copy(value) for key, value in start.items()}
            ops.sgd_step(expected, grads, learning_rate)
            parts = []
            for key in start:
                if key not in params:
                    parts.append((2, f"params[{key!r}] was removed"))
                    continue
                in_place = compare(f"{key} (the original array)", expected[key], originals[key])
                in_dict = compare(f"params[{key!r}]", expected[key], params[key])
                if in_place is None:
                    parts.append((2, None))
                elif in_dict is None:
                    parts.append((1, None))
                    parts.append((1, "params holds the right values, but in new arrays; update each "
                                     "array in place (param -= learning_rate * grad)"))
                else:
                    parts.append((2, in_dict))
            return parts

        cases.append((f"learning_rate={learning_rate}, " + describe(**start), run))
    return run_cases("sgd_step", points, cases, verbose)


# --- training ------------------------------------------------------------------


def mlp_accuracy(params, x, labels):
    """Accuracy of the 64-32-10 ReLU network ``params`` on ``(x, labels)``, computed with the reference ops."""
    hidden, _ = ops.dense_forward(x, params["W1"], params["b1"])
    hidden, _ = ops.relu_forward(hidden)
    logits, _ = ops.dense_forward(hidden, params["W2"], params["b2"])
    return float((logits.argmax(axis=1) == labels).mean())


def check_train_mlp(train_mlp, points=DEFAULT_POINTS["train_mlp"], target_accuracy=0.90, time_limit=60.0,
                    seed=0, verbose=True):
    """Train with the student's ``train_mlp(x_train, y_train)`` and score the returned network.

    A quarter of the points is for returning ``{'W1', 'b1', 'W2', 'b2'}`` with
    the shapes of a 64-32-10 network; three quarters for test accuracy, all of
    them at ``target_accuracy`` or above and a linear share between chance
    (0.1) and the target below it.

    Args:
        train_mlp: the student's function; called as ``train_mlp(x_train, y_train)``.
        points: what the whole check is worth.
        target_accuracy: test accuracy that earns all the accuracy points.
        time_limit: seconds training may take.
        seed: 0 passes the digits as they are; another seed shuffles the training images and reorders the
            64 pixels of every image (train and test alike) in one random order. A fully connected network
            learns as well either way; weights trained somewhere else on the usual pixel order do not fit.
        verbose: print the reasons and a summary line.

    Returns:
        Points earned (float).
    """
    from course_lib.datasets import digits

    (x_train, y_train), (x_test, y_test) = digits.load_data()
    if seed != 0:
        rng = numpy.random.default_rng(seed)
        pixels, order = rng.permutation(x_train.shape[1]), rng.permutation(len(x_train))
        x_train, y_train, x_test = x_train[order][:, pixels], y_train[order], x_test[:, pixels]

    def run(notes):
        started = time.perf_counter()
        params = call_student("train_mlp", train_mlp, _copy(x_train), _copy(y_train), time_limit=time_limit,
                              notes=notes)
        notes.append(f"training took {time.perf_counter() - started:.2f} s")
        if not isinstance(params, dict):
            raise StudentCodeError(
                f"train_mlp must return a dict with keys {sorted(MLP_SHAPES)}; it returned a {type(params).__name__}"
            )
        shape_problems = [
            f"params[{key!r}] shape {shape} expected, received "
            f"{shape_of(params[key]) if key in params else 'nothing (missing key)'}"
            for key, shape in MLP_SHAPES.items()
            if key not in params or shape_of(params[key]) != shape
        ]
        parts = [(1, "; ".join(shape_problems) or None)]
        try:
            accuracy = mlp_accuracy({key: numpy.asarray(params[key], dtype="float64") for key in MLP_SHAPES},
                                    x_test.astype("float64"), y_test)
        except Exception as error:
            parts.append((3, f"could not evaluate the returned network ({type(error).__name__}: {error})"))
            return parts
        notes.append(f"test accuracy {accuracy:.3f} (target {target_accuracy:.2f})")
        if accuracy >= target_accuracy:
            parts.append((3, None))
        else:
            share = max(0.0, (accuracy - 0.1) / (target_accuracy - 0.1))
            # Partial credit in proportion: split the 3 accuracy units into an
            # earned part and a reported shortfall.
            parts.append((3 * share, None))
            parts.append((3 * (1 - share), f"test accuracy {accuracy:.3f}; expected >= {target_accuracy:.2f}"))
        return parts

    return run_cases("train_mlp", points, [("digits, 64-32-10", run)], verbose)


_CHECKERS = {
    "dense_forward": (check_dense_forward, None),
    "dense_backward": (check_dense_backward, "dense_forward"),
    "relu_forward": (check_relu_forward, None),
    "relu_backward": (check_relu_backward, "relu_forward"),
    "softmax_cross_entropy": (check_softmax_cross_entropy, None),
    "sgd_step": (check_sgd_step, None),
    "train_mlp": (check_train_mlp, None),
}

