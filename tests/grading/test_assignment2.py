"""Assignment 2 (how a network learns): its checkers, its notebooks, and nbgrader on them.

The checkers must give full points to the references and to the solution
notebook's functions, fewer to each planted bug, and nothing to the release's
stubs; the trusted grader must give nothing to forged answers; and nbgrader,
configured as the course is, must autograde the solution to full marks, the
release to 0 and a forgery to 0 for the exercise it forges.
"""
import numpy as np
import pytest
from graded_notebooks import Assignment, cell, full_points_tests, planted, planted_bug_tests, submission

from course_lib.grading import assignment2

ASSIGNMENT = "assignment2"
NOTEBOOK = Assignment(ASSIGNMENT)
FULL = NOTEBOOK.full


# --- the references and the solution notebook earn everything -----------------------


test_the_reference_earns_full_points, test_the_solution_notebook_earns_full_points_and_the_release_nothing = (
    full_points_tests(NOTEBOOK))


def test_the_checkers_agree_with_an_independent_gradient():
    """The references themselves: the numerical gradient of the network's loss matches its backward pass."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(3, 4)), np.array([0, 2, 1])
    params = [rng.normal(size=shape) for shape in [(4, 5), (5,), (5, 3), (3,)]]
    _, grads = assignment2.reference_two_layer_backward(x, y, *params)
    for position, name in enumerate(assignment2.GRADIENT_NAMES):
        def loss(value, position=position):
            changed = list(params)
            changed[position] = value
            return assignment2.reference_two_layer_backward(x, y, *changed)[0]

        numeric = assignment2.reference_numerical_gradient(loss, params[position])
        np.testing.assert_allclose(numeric, grads[name], rtol=1e-6, atol=1e-9)


# --- planted bugs earn less, with a reason ------------------------------------------------

NUMERICAL_GRADIENT_SOURCE = """
    def numerical_gradient(f, x, eps=1e-5):
        grad = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            up, down = x.copy(), x.copy()
            up[i] += eps
            down[i] -= eps
            grad[i] = (f(up) - f(down)) / (2 * eps)
        return grad
    """
NUMERICAL_GRADIENT_BUGS = {
    "forward difference": ("(f(up) - f(down)) / (2 * eps)", "(f(up) - f(x)) / eps"),
    "wrong sign": ("(f(up) - f(down))", "(f(down) - f(up))"),
    "ignores eps": ("grad = np.zeros_like(x)", "grad, eps = np.zeros_like(x), 1e-5"),
    "leaves x changed": ("up, down = x.copy(), x.copy()", "up, down = x, x.copy()"),
    "vectors only": ("for i in np.ndindex(x.shape):", "for i in range(len(x)):"),
}

BACKWARD_SOURCE = """
    def two_layer_backward(x, y, W1, b1, W2, b2):
        N = x.shape[0]
        a = x @ W1 + b1
        h = np.maximum(a, 0)
        s = h @ W2 + b2
        shifted = s - s.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_p[np.arange(N), y].mean()
        ds = np.exp(log_p)
        ds[np.arange(N), y] -= 1
        ds /= N
        da = (ds @ W2.T) * (a > 0)
        return loss, {"W1": x.T @ da, "b1": da.sum(axis=0), "W2": h.T @ ds, "b2": ds.sum(axis=0)}
    """
BACKWARD_BUGS = {
    "missing 1/N": ("ds /= N", "pass"),
    "wrong sign of dW2": ('"W2": h.T @ ds', '"W2": -(h.T @ ds)'),
    "no ReLU mask": ("* (a > 0)", ""),
    "db1 summed over the wrong axis": ('"b1": da.sum(axis=0)', '"b1": da.sum(axis=1)'),
    "no max shift": ("shifted = s - s.max(axis=1, keepdims=True)", "shifted = s"),
    "loss summed, not averaged": (".mean()", ".sum()"),
}

DESCENT_SOURCE = """
    def gradient_descent(grad_fn, w0, learning_rate, steps):
        w = np.array(w0, dtype=float)
        trajectory = [w.copy()]
        for _ in range(steps):
            w = w - learning_rate * grad_fn(w)
            trajectory.append(w.copy())
        return np.stack(trajectory)
    """
DESCENT_BUGS = {
    "ascends": ("w - learning_rate", "w + learning_rate"),
    "one point short (off by one)": ("trajectory = [w.copy()]", "trajectory = []"),
    "aliases one array": ("w = w - learning_rate * grad_fn(w)\n            trajectory.append(w.copy())",
                          "w -= learning_rate * grad_fn(w)\n            trajectory.append(w)"),
    "mutates w0": ("w = np.array(w0, dtype=float)\n        trajectory = [w.copy()]\n"
                   "        for _ in range(steps):\n            w = w - learning_rate * grad_fn(w)",
                   "w = w0\n        trajectory = [w.copy()]\n"
                   "        for _ in range(steps):\n            w -= learning_rate * grad_fn(w)"),
}

SWEEP_SOURCE = """
    def learning_rate_sweep(x, y, learning_rates, steps):
        N, D = x.shape
        losses = []
        for rate in learning_rates:
            w = gradient_descent(lambda w: x.T @ (x @ w - y) / N, np.zeros(D), rate, steps)[-1]
            losses.append(np.sum((x @ w - y) ** 2) / (2 * N))
        return np.array(losses)
    """
SWEEP_BUGS = {
    "gradient without 1/N": ("(x @ w - y) / N", "(x @ w - y)"),
    "loss without the 1/2": ("/ (2 * N)", "/ N"),
    "starts from ones": ("np.zeros(D)", "np.ones(D)"),
    "the first loss, not the last": (")[-1]", ")[0]"),
    "one step too many": ("rate, steps)", "rate, steps + 1)"),
}


SOURCES = {"numerical_gradient": NUMERICAL_GRADIENT_SOURCE, "two_layer_backward": BACKWARD_SOURCE,
           "gradient_descent": DESCENT_SOURCE, "learning_rate_sweep": SWEEP_SOURCE}
CALLED = {"learning_rate_sweep": DESCENT_SOURCE}  # the sweep calls the student's own gradient_descent
BUGS = {"numerical_gradient": NUMERICAL_GRADIENT_BUGS, "two_layer_backward": BACKWARD_BUGS,
        "gradient_descent": DESCENT_BUGS, "learning_rate_sweep": SWEEP_BUGS}


def _planted(name, old="", new=""):
    return planted(SOURCES[name], name, old, new, extra=CALLED.get(name))


test_the_sources_the_bugs_are_planted_into_earn_full_points, test_each_planted_bug_earns_less_and_says_why = \
    planted_bug_tests(NOTEBOOK, SOURCES, BUGS, _planted)


def test_reasons_name_what_is_wrong(capsys):
    NOTEBOOK.checker("numerical_gradient")(_planted("numerical_gradient", *NUMERICAL_GRADIENT_BUGS["leaves x changed"]))
    assert "x was changed by your function" in capsys.readouterr().out
    NOTEBOOK.checker("gradient_descent")(_planted("gradient_descent", *DESCENT_BUGS["one point short (off by one)"]))
    assert "trajectory shape (11, 3) expected, received (10, 3)" in capsys.readouterr().out
    no_shift = _planted("two_layer_backward", *BACKWARD_BUGS["no max shift"])
    assert NOTEBOOK.checker("two_layer_backward")(no_shift) == pytest.approx(FULL["two_layer_backward"] * 4 / 5)
    assert "large scores" in capsys.readouterr().out


def test_an_answer_no_array_can_be_made_of_costs_points_not_the_checker(capsys):
    """A loss given as a ragged list made the checker itself raise (numpy.ndim), which would crash the grader."""
    points = NOTEBOOK.checker("two_layer_backward")(lambda *arrays: ([1.0, [2.0]], {}))
    assert points == 0.0
    assert "loss: could not be turned into an array" in capsys.readouterr().out


# --- the trusted grader: forged answers earn nothing -------------------------------------


STUB = "".join(cell(NOTEBOOK.release, "numerical_gradient_answer")["source"])
FORGERIES = {
    "prints a number": "print(2.0)\n" + STUB,
    "patches the checker": ("from course_lib import grading\n"
                            "grading.check_numerical_gradient = lambda *args, **kwargs: 2.0\n" + STUB),
    "returns the reference from course_lib": (
        "from course_lib.grading.assignment2 import reference_numerical_gradient\n"
        "def numerical_gradient(f, x, eps=1e-5):\n    return reference_numerical_gradient(f, x, eps)\n"),
    "imports the reference by a computed name": (
        "import importlib\nreference = importlib.import_module('course_lib.grading.' + 'assignment2')\n"
        "def numerical_gradient(f, x, eps=1e-5):\n    return reference.reference_numerical_gradient(f, x, eps)\n"),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_answer_earns_nothing_for_its_exercise(forgery):
    forged = submission(NOTEBOOK.solution, numerical_gradient_answer=FORGERIES[forgery])
    assert NOTEBOOK.trusted_scores(forged) == dict(FULL, numerical_gradient=0.0)


# --- nbgrader itself ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def autograded(autograde):
    """The solution, the blank release and a forgery through one ``nbgrader autograde``."""
    forged = submission(NOTEBOOK.solution, numerical_gradient_answer=FORGERIES["returns the reference from course_lib"]
                        + "print(2.0)\n")
    return autograde(ASSIGNMENT, {"alice": NOTEBOOK.solution, "bob": lambda release: release, "mallory": forged})


@pytest.mark.slow
def test_nbgrader_autogrades_solution_release_and_forgery(autograded):
    assert autograded["alice"] == pytest.approx(FULL)
    assert sum(autograded["bob"].values()) == 0.0
    assert autograded["mallory"] == pytest.approx(dict(FULL, numerical_gradient=0.0))
