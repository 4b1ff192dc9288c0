"""Checkers for assignment 2 (how a network learns: gradients, backpropagation, descent).

Each ``check_*`` takes the student's function, runs it on random float64
inputs of several shapes (edge cases included), compares the result with a
reference (:mod:`course_lib.ops` for the network, the small references below
for what ``course_lib`` has no kernel of), prints one line per problem found
and a summary, and returns the points earned as a Python float.

The functions the students receive as arguments (the ``f`` of
``numerical_gradient``, the ``grad_fn`` of ``gradient_descent``) are NumPy
functions or ``functools.partial`` objects of them: the trusted grader sends
them by name into the process that runs the student's code, so they cannot
be closures of this module.
"""
from __future__ import annotations

import functools

import numpy

from course_lib import ops
from course_lib.grading.harness import (
    call_student,
    compare,
    compare_mean_loss,
    describe,
    run_cases,
    unpack,
)

DEFAULT_POINTS = {
    "numerical_gradient": 2,
    "two_layer_backward": 4,
    "gradient_descent": 2,
    "learning_rate_sweep": 2,
}

GRADIENT_NAMES = ("W1", "b1", "W2", "b2")
"""The keys of the gradient dictionary ``two_layer_backward`` returns."""


def _copy(value):
    return numpy.array(value, copy=True)


def _unchanged(what, original, after_call):
    """A reason when the student's call changed an input array, else None."""
    if numpy.array_equal(original, after_call):
        return None
    problem = compare(what, original, after_call, tolerance=1e-12)
    return f"{what} was changed by your function ({problem or 'values differ'}); leave the inputs as they are"


def _result_and_inputs(what, expected, received, **inputs):
    """A case's parts: three quarters the result, a quarter the inputs left as they were.

    ``inputs`` maps each input's name to ``(original, the copy the student's function received)``.
    """
    changed = next(filter(None, (_unchanged(name, *pair) for name, pair in inputs.items())), None)
    return [(3, compare(what, expected, received)), (1, changed)]


# --- numerical gradient ------------------------------------------------------------


def reference_numerical_gradient(f, x, eps=1e-5):
    """Central differences ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` for every entry ``i`` of ``x``.

    Args:
        f: a function of one float64 array returning a number.
        x: float64 array of any shape (not modified).
        eps: the step of the difference.

    Returns:
        An array of the shape of ``x``.
    """
    x = numpy.array(x, dtype="float64", copy=True)
    gradient = numpy.zeros_like(x)
    for index in numpy.ndindex(x.shape):
        old = x[index]
        x[index] = old + eps
        above = float(f(x))
        x[index] = old - eps
        below = float(f(x))
        x[index] = old
        gradient[index] = (above - below) / (2 * eps)
    return gradient


def _numerical_gradient_cases(rng):
    """``(label, f, x, eps)``: smooth functions of vectors, matrices and a 3-D array."""
    spread = numpy.linspace(0.5, 1.5, 6)
    return [
        ("sum of squares of a matrix (variance)", numpy.var, rng.normal(size=(3, 4)), None),
        ("Euclidean norm of a vector", numpy.linalg.norm, rng.normal(size=(5,)), None),
        ("product of a 3-D array", numpy.prod, rng.uniform(0.5, 1.5, size=(2, 3, 2)), None),
        ("determinant of a 3x3 matrix", numpy.linalg.det, rng.normal(size=(3, 3)) + 2 * numpy.eye(3), None),
        ("one-element array", numpy.var, numpy.array([rng.normal()]), None),
        # A step this large makes central differences visibly differ from forward ones and from eps=1e-5.
        ("3-norm with eps=0.1", functools.partial(numpy.linalg.norm, ord=3), rng.permutation(spread), 0.1),
    ]


def check_numerical_gradient(numerical_gradient, points=DEFAULT_POINTS["numerical_gradient"], seed=0,
                             verbose=True):
    """Check ``numerical_gradient(f, x, eps=1e-5) -> gradient`` against central differences.

    Each case is three quarters the gradient (relative error below 1e-6
    against :func:`reference_numerical_gradient` with the same ``eps``) and a
    quarter ``x`` left unchanged after the call.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, f, x, eps in _numerical_gradient_cases(rng):
        def run(notes, f=f, x=x, eps=eps):
            argument = _copy(x)
            args = (f, argument) if eps is None else (f, argument, eps)
            gradient = call_student("numerical_gradient", numerical_gradient, *args, notes=notes)
            expected = reference_numerical_gradient(f, x, 1e-5 if eps is None else eps)
            return _result_and_inputs("gradient", expected, gradient, x=(x, argument))

        cases.append((f"{label}, " + describe(x=x), run))
    return run_cases("numerical_gradient", points, cases, verbose)


# --- backpropagation through Dense-ReLU-Dense-softmax ----------------------------------


def reference_two_layer_backward(x, y, W1, b1, W2, b2):
    """Loss and gradients of ``softmax(relu(x W1 + b1) W2 + b2)`` with the mean cross-entropy, from :mod:`course_lib.ops`."""
    hidden, first_cache = ops.dense_forward(x, W1, b1)
    activated, relu_cache = ops.relu_forward(hidden)
    scores, second_cache = ops.dense_forward(activated, W2, b2)
    loss, dscores = ops.softmax_cross_entropy(scores, y)
    dactivated, dW2, db2 = ops.dense_backward(dscores, second_cache)
    dhidden = ops.relu_backward(dactivated, relu_cache)
    _, dW1, db1 = ops.dense_backward(dhidden, first_cache, need_dx=False)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


_NETWORK_CASES = [  # (label, N, D, H, C, added to every score)
    ("ordinary", 4, 3, 5, 2, 0.0),
    ("batch of one", 1, 2, 3, 4, 0.0),
    ("wider", 8, 6, 7, 3, 0.0),
    ("digits-sized", 16, 64, 32, 10, 0.0),
    # exp(1000) overflows: only a softmax that subtracts each row's maximum first stays finite.
    ("large scores", 6, 4, 5, 3, 1000.0),
]


def check_two_layer_backward(two_layer_backward, points=DEFAULT_POINTS["two_layer_backward"], seed=0,
                             verbose=True):
    """Check ``two_layer_backward(x, y, W1, b1, W2, b2) -> (loss, grads)`` against :mod:`course_lib.ops`.

    ``grads`` is a dict with keys ``'W1', 'b1', 'W2', 'b2'``. The loss and the
    four gradients are each a fifth of a case. Cases include a batch of one and
    scores in the hundreds (softmax overflows unless each row's maximum is
    subtracted first).

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, batch, features, hidden, classes, offset in _NETWORK_CASES:
        x = rng.normal(size=(batch, features))
        y = rng.integers(0, classes, size=batch)
        W1 = rng.normal(size=(features, hidden)) / numpy.sqrt(features)
        b1 = rng.normal(scale=0.1, size=(hidden,))
        W2 = rng.normal(size=(hidden, classes)) * (3.0 if offset else 1.0) / numpy.sqrt(hidden)
        b2 = rng.normal(scale=0.1, size=(classes,)) + offset

        def run(notes, arrays=(x, y, W1, b1, W2, b2)):
            result = call_student("two_layer_backward", two_layer_backward, *map(_copy, arrays), notes=notes)
            loss, grads = unpack("two_layer_backward", result, 2, "a pair (loss, grads)")
            expected_loss, expected = reference_two_layer_backward(*arrays)
            parts = [(1, compare_mean_loss(expected_loss, loss))]
            if not isinstance(grads, dict):
                reason = f"grads: a dict with keys {list(GRADIENT_NAMES)} expected, received a {type(grads).__name__}"
                return parts + [(4, reason)]
            for name in GRADIENT_NAMES:
                if name not in grads:
                    parts.append((1, f"grads has no key {name!r}"))
                else:
                    parts.append((1, compare(f"d{name}", expected[name], grads[name])))
            return parts

        cases.append((f"{label}: " + describe(x=x, W1=W1, W2=W2), run))
    return run_cases("two_layer_backward", points, cases, verbose)


# --- gradient descent ------------------------------------------------------------------


def reference_gradient_descent(grad_fn, w0, learning_rate, steps):
    """The points ``w_0, w_1, ..., w_steps`` of ``w_{t+1} = w_t - learning_rate * grad_fn(w_t)``.

    Returns:
        An array of shape ``(steps + 1,) + w0.shape``.
    """
    trajectory = [numpy.array(w0, dtype="float64", copy=True)]
    for _ in range(steps):
        trajectory.append(trajectory[-1] - learning_rate * numpy.asarray(grad_fn(trajectory[-1])))
    return numpy.stack(trajectory)


def _bowl(rng, size, condition):
    """A symmetric positive definite matrix with eigenvalues from 1 to ``condition``."""
    basis, _ = numpy.linalg.qr(rng.normal(size=(size, size)))
    return basis @ numpy.diag(numpy.linspace(1.0, condition, size)) @ basis.T


def _descent_cases(rng):
    """``(label, grad_fn, w0, learning_rate, steps)``."""
    bowl = _bowl(rng, 3, 4.0)
    return [
        ("quadratic bowl, converging", functools.partial(numpy.dot, bowl), rng.normal(size=(3,)), 0.2, 10),
        # Largest eigenvalue 4: any rate above 2 / 4 makes the iterates grow.
        ("quadratic bowl, diverging", functools.partial(numpy.dot, bowl), rng.normal(size=(3,)), 0.6, 8),
        ("sine landscape, matrix parameter", numpy.sin, rng.normal(size=(2, 3)), 0.5, 6),
        ("per-entry curvature", functools.partial(numpy.multiply, rng.uniform(0.5, 2.0, size=(4,))),
         rng.normal(size=(4,)), 0.3, 5),
        ("zero steps", numpy.sin, rng.normal(size=(2,)), 0.1, 0),
        ("one parameter, one step", numpy.tanh, rng.normal(size=(1,)), 1.0, 1),
    ]


def check_gradient_descent(gradient_descent, points=DEFAULT_POINTS["gradient_descent"], seed=0, verbose=True):
    """Check ``gradient_descent(grad_fn, w0, learning_rate, steps) -> trajectory``.

    The trajectory must be an array of shape ``(steps + 1,) + w0.shape``
    whose row 0 is ``w0``; each case is three quarters the trajectory and a
    quarter ``w0`` left unchanged.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, grad_fn, w0, learning_rate, steps in _descent_cases(rng):
        def run(notes, grad_fn=grad_fn, w0=w0, learning_rate=learning_rate, steps=steps):
            start = _copy(w0)
            trajectory = call_student("gradient_descent", gradient_descent, grad_fn, start, learning_rate, steps,
                                      notes=notes)
            expected = reference_gradient_descent(grad_fn, w0, learning_rate, steps)
            return _result_and_inputs("trajectory", expected, trajectory, w0=(w0, start))

        cases.append((f"{label}, learning_rate={learning_rate}, steps={steps}, " + describe(w0=w0), run))
    return run_cases("gradient_descent", points, cases, verbose)


# --- learning-rate sweep ------------------------------------------------------------------


def least_squares_loss(x, y, w):
    """``||x w - y||^2 / (2 N)`` for ``x`` of shape (N, D), ``y`` (N,), ``w`` (D,)."""
    residual = x @ w - y
    return float(residual @ residual / (2 * len(y)))


def reference_learning_rate_sweep(x, y, learning_rates, steps):
    """Final least-squares losses after ``steps`` steps of gradient descent from ``w = 0``, one per rate."""
    def gradient(w):
        return x.T @ (x @ w - y) / len(y)

    finals = []
    for learning_rate in learning_rates:
        trajectory = reference_gradient_descent(gradient, numpy.zeros(x.shape[1]), learning_rate, steps)
        finals.append(least_squares_loss(x, y, trajectory[-1]))
    return numpy.array(finals)


def _sweep_cases(rng):
    """``(label, x, y, learning_rates, steps)``; every final loss is finite."""
    cases = []
    for label, batch, features, learning_rates, steps in [
        ("a line through 20 points", 20, 1, [0.01, 0.1, 0.5, 1.0], 20),
        ("three features, one rate too large", 30, 3, [0.05, 0.3, 1.2, 3.0], 15),
        ("a single learning rate", 12, 2, [0.2], 10),
        ("zero steps", 8, 4, [0.1, 1.0], 0),
        ("batch of one", 1, 2, [0.1, 0.5], 5),
    ]:
        x = rng.normal(size=(batch, features))
        y = x @ rng.normal(size=(features,)) + 0.1 * rng.normal(size=(batch,)) + 0.5
        cases.append((label, x, y, learning_rates, steps))
    return cases


def check_learning_rate_sweep(learning_rate_sweep, points=DEFAULT_POINTS["learning_rate_sweep"], seed=0,
                              verbose=True):
    """Check ``learning_rate_sweep(x, y, learning_rates, steps) -> final_losses``.

    For each learning rate: gradient descent (the student's own
    ``gradient_descent``, called from their function) on
    ``L(w) = ||x w - y||^2 / (2 N)`` from ``w = zeros(D)`` for ``steps`` steps;
    the result is an array of the final losses, shape ``(len(learning_rates),)``.
    Each case is three quarters the losses, a quarter ``x`` and ``y`` unchanged.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, x, y, learning_rates, steps in _sweep_cases(rng):
        def run(notes, x=x, y=y, learning_rates=learning_rates, steps=steps):
            inputs, targets = _copy(x), _copy(y)
            losses = call_student("learning_rate_sweep", learning_rate_sweep, inputs, targets, list(learning_rates),
                                  steps, notes=notes)
            expected = reference_learning_rate_sweep(x, y, learning_rates, steps)
            return _result_and_inputs("final losses", expected, losses, x=(x, inputs), y=(y, targets))

        cases.append((f"{label}, learning_rates={learning_rates}, steps={steps}, " + describe(x=x), run))
    return run_cases("learning_rate_sweep", points, cases, verbose)


_CHECKERS = {
    "numerical_gradient": (check_numerical_gradient, None),
    "two_layer_backward": (check_two_layer_backward, None),
    "gradient_descent": (check_gradient_descent, None),
    "learning_rate_sweep": (check_learning_rate_sweep, None),
}
