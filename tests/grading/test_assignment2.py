"""Assignment 2 (how a network learns): its checkers, its notebooks, and nbgrader on them.

The checkers must give full points to the references and to the solution
notebook's functions, fewer to each planted bug, and nothing to the release's
stubs; the trusted grader must give nothing to forged answers; and nbgrader,
configured as the course is, must autograde the solution to full marks, the
release to 0 and a forgery to 0 for the exercise it forges.
"""
import copy
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from course_lib.grading import assignment2, registry, trusted

ASSIGNMENT = "assignment2"
REPO = Path(__file__).resolve().parents[2]
SOLUTION = json.loads((REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
RELEASE = json.loads((REPO / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
FULL = {name: float(points) for name, points in assignment2.DEFAULT_POINTS.items()}


def answer_functions(notebook):
    """What a kernel holds after running the notebook's setup and answer cells."""
    namespace = {}
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and (meta.get("solution") or meta.get("grade_id") == "setup"):
            exec("".join(cell["source"]), namespace)
    return namespace


def checker(name):
    return registry.checkers(ASSIGNMENT)[name][0]


def quiet(name, function):
    return checker(name)(function, verbose=False)


def defined(source, name):
    namespace = {"np": np}
    exec(textwrap.dedent(source), namespace)
    return namespace[name]


# --- the references and the solution notebook earn everything -----------------------


REFERENCES = {
    "numerical_gradient": assignment2.reference_numerical_gradient,
    "two_layer_backward": assignment2.reference_two_layer_backward,
    "gradient_descent": assignment2.reference_gradient_descent,
    "learning_rate_sweep": assignment2.reference_learning_rate_sweep,
}


@pytest.mark.parametrize("name", sorted(FULL))
def test_the_reference_earns_full_points(name):
    assert quiet(name, REFERENCES[name]) == FULL[name]


@pytest.mark.parametrize("name", sorted(FULL))
def test_the_solution_notebook_earns_full_points_and_the_release_nothing(name):
    assert quiet(name, answer_functions(SOLUTION)[name]) == FULL[name]
    assert quiet(name, answer_functions(RELEASE)[name]) == 0.0


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

NUMERICAL_GRADIENT_BUGS = {
    "forward difference": """
        def numerical_gradient(f, x, eps=1e-5):
            grad = np.zeros_like(x)
            for i in np.ndindex(x.shape):
                shifted = x.copy()
                shifted[i] += eps
                grad[i] = (f(shifted) - f(x)) / eps
            return grad
        """,
    "wrong sign": """
        def numerical_gradient(f, x, eps=1e-5):
            grad = np.zeros_like(x)
            for i in np.ndindex(x.shape):
                up, down = x.copy(), x.copy()
                up[i] += eps
                down[i] -= eps
                grad[i] = (f(down) - f(up)) / (2 * eps)
            return grad
        """,
    "ignores eps": """
        def numerical_gradient(f, x, eps=1e-5):
            grad = np.zeros_like(x)
            for i in np.ndindex(x.shape):
                up, down = x.copy(), x.copy()
                up[i] += 1e-5
                down[i] -= 1e-5
                grad[i] = (f(up) - f(down)) / 2e-5
            return grad
        """,
    "leaves x changed": """
        def numerical_gradient(f, x, eps=1e-5):
            grad = np.zeros_like(x)
            for i in np.ndindex(x.shape):
                x[i] += eps
                above = f(x)
                x[i] -= 2 * eps
                grad[i] = (above - f(x)) / (2 * eps)
            return grad
        """,
    "vectors only": """
        def numerical_gradient(f, x, eps=1e-5):
            grad = np.zeros_like(x)
            for i in range(len(x)):
                up, down = x.copy(), x.copy()
                up[i] += eps
                down[i] -= eps
                grad[i] = (f(up) - f(down)) / (2 * eps)
            return grad
        """,
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


def _planted(source, name, old, new, extra=None):
    """``source`` (indented as written above) with ``old`` replaced by ``new``, defined."""
    assert old in source, old
    namespace = {"np": np}
    if extra:
        exec(textwrap.dedent(extra), namespace)
    exec(textwrap.dedent(source.replace(old, new)), namespace)
    return namespace[name]


PLANTED = (
    [("numerical_gradient", label, lambda source=source: defined(source, "numerical_gradient"))
     for label, source in NUMERICAL_GRADIENT_BUGS.items()]
    + [("two_layer_backward", label, lambda old=old, new=new: _planted(BACKWARD_SOURCE, "two_layer_backward", old, new))
       for label, (old, new) in BACKWARD_BUGS.items()]
    + [("gradient_descent", label, lambda old=old, new=new: _planted(DESCENT_SOURCE, "gradient_descent", old, new))
       for label, (old, new) in DESCENT_BUGS.items()]
    + [("learning_rate_sweep", label,
        lambda old=old, new=new: _planted(SWEEP_SOURCE, "learning_rate_sweep", old, new, extra=DESCENT_SOURCE))
       for label, (old, new) in SWEEP_BUGS.items()]
)


def test_the_correct_versions_of_the_planted_bugs_earn_full_points():
    """The sources the bugs are planted into are right: each bug is the only thing wrong."""
    assert quiet("two_layer_backward", defined(BACKWARD_SOURCE, "two_layer_backward")) == FULL["two_layer_backward"]
    assert quiet("gradient_descent", defined(DESCENT_SOURCE, "gradient_descent")) == FULL["gradient_descent"]
    sweep = _planted(SWEEP_SOURCE, "learning_rate_sweep", "np.zeros(D)", "np.zeros(D)", extra=DESCENT_SOURCE)
    assert quiet("learning_rate_sweep", sweep) == FULL["learning_rate_sweep"]


@pytest.mark.parametrize("name, bug, make", PLANTED, ids=[f"{name}: {bug}" for name, bug, _ in PLANTED])
def test_each_planted_bug_earns_less_and_says_why(name, bug, make, capsys):
    points = checker(name)(make())
    printed = capsys.readouterr().out
    assert points < FULL[name], printed
    assert f"{name} [" in printed  # a reason line that names the function and the case


def test_reasons_name_what_is_wrong(capsys):
    changed = defined(NUMERICAL_GRADIENT_BUGS["leaves x changed"], "numerical_gradient")
    checker("numerical_gradient")(changed)
    assert "x was changed by your function" in capsys.readouterr().out
    short = _planted(DESCENT_SOURCE, "gradient_descent", *DESCENT_BUGS["one point short (off by one)"])
    checker("gradient_descent")(short)
    assert "trajectory shape (11, 3) expected, received (10, 3)" in capsys.readouterr().out
    no_shift = _planted(BACKWARD_SOURCE, "two_layer_backward", *BACKWARD_BUGS["no max shift"])
    assert checker("two_layer_backward")(no_shift) == pytest.approx(FULL["two_layer_backward"] * 4 / 5)
    assert "large scores" in capsys.readouterr().out


# --- the trusted grader: forged answers earn nothing -------------------------------------


def _cell(notebook, grade_id):
    return next(c for c in notebook["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def submission(base, **replace):
    notebook = copy.deepcopy(base)
    for grade_id, source in replace.items():
        _cell(notebook, grade_id)["source"] = source
    return notebook


STUB = "".join(_cell(RELEASE, "numerical_gradient_answer")["source"])
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


def test_the_trusted_grader_gives_the_solution_everything_and_the_release_nothing():
    assert {name: points for name, (points, _, _) in trusted.grade_notebook(SOLUTION, ASSIGNMENT).items()} == FULL
    assert sum(points for points, _, _ in trusted.grade_notebook(RELEASE, ASSIGNMENT).values()) == 0.0


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_answer_earns_nothing_for_its_exercise(forgery):
    results = trusted.grade_notebook(submission(SOLUTION, numerical_gradient_answer=FORGERIES[forgery]), ASSIGNMENT)
    scores = {name: points for name, (points, _, _) in results.items()}
    assert scores == dict(FULL, numerical_gradient=0.0)


# --- nbgrader itself ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def autograded(autograde):
    """The solution, the blank release and a forgery through one ``nbgrader autograde``."""
    forged = submission(SOLUTION, numerical_gradient_answer=FORGERIES["returns the reference from course_lib"]
                        + "print(2.0)\n")
    return autograde(ASSIGNMENT, {"alice": SOLUTION, "bob": lambda release: release, "mallory": forged})


@pytest.mark.slow
def test_nbgrader_autogrades_solution_release_and_forgery(autograded):
    assert autograded["alice"] == pytest.approx(FULL)
    assert sum(autograded["bob"].values()) == 0.0
    assert autograded["mallory"] == pytest.approx(dict(FULL, numerical_gradient=0.0))
