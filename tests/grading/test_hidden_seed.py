"""The hidden tests draw their inputs from the course's seed: new inputs, the same fairness.

The self-checks (``grading.check``) run every checker at seed 0, so anyone can
record their inputs. Graded, a checker gets the course's own seed
(``trusted.grading_seed``): its inputs must then be new ones (a table of
recorded answers earns nothing, see test_trusted_grader), and the solution
must still earn every point and the release none.
"""
import functools
import inspect
import pickle

import pytest
from graded_notebooks import Assignment

from course_lib.grading import registry

SEED = 20261201
ASSIGNMENTS = sorted(registry.ASSIGNMENTS, key=lambda name: int(name.removeprefix("assignment")))
NOTEBOOKS = {name: Assignment(name) for name in ASSIGNMENTS}
SEEDED = [(name, exercise) for name in ASSIGNMENTS for exercise, (checker, _) in registry.checkers(name).items()
          if "seed" in inspect.signature(checker).parameters]
@functools.lru_cache(maxsize=None)
def _kernels(name):
    """The solution's and the release's kernels of one assignment, run once (their cells train networks)."""
    return _kernel(NOTEBOOKS[name].solution), _kernel(NOTEBOOKS[name].release)


def _kernel(notebook):
    """What a kernel holds after running every code cell but the graded ones (the answers use the given helpers);
    a cell that raises (a release's demo calling a stub) is passed over, as a kernel goes on to the next cell."""
    namespace = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and not cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            try:
                exec("".join(cell["source"]), namespace)
            except Exception:
                pass
    return namespace


def _grade(name, exercise, function, seed, partners):
    checker, partner = registry.checkers(name)[exercise]
    parameters = list(inspect.signature(checker).parameters.values())
    if partner and parameters[1].default is inspect.Parameter.empty:
        return checker(function, partners[partner], seed=seed, verbose=False)
    return checker(function, seed=seed, verbose=False)


def test_every_exercise_draws_its_inputs_from_a_seed():
    every = {(name, exercise) for name in ASSIGNMENTS for exercise in registry.checkers(name)}
    assert every == set(SEEDED)


@pytest.mark.parametrize("name, exercise", SEEDED, ids=[f"{name}-{exercise}" for name, exercise in SEEDED])
def test_another_seed_gives_new_inputs_and_the_same_points(name, exercise):
    notebook = NOTEBOOKS[name]
    solution, release = _kernels(name)
    inputs = {}
    for seed in (0, SEED):
        calls = inputs[seed] = []

        def recorded(*args, calls=calls):
            calls.append(pickle.dumps(args))
            return solution[exercise](*args)

        assert _grade(name, exercise, recorded, seed, solution) == notebook.full[exercise], seed
    assert _grade(name, exercise, release[exercise], SEED, solution) == 0.0
    repeated = set(inputs[0]) & set(inputs[SEED])
    # A case may be fixed on purpose (an edge case, one walk to the goal): most must be new.
    assert len(repeated) <= len(set(inputs[SEED])) // 2, f"{len(repeated)} of {len(set(inputs[SEED]))} inputs repeat"


@pytest.mark.parametrize("name, exercise", [("assignment1", "train_mlp"), ("assignment4", "train_model")])
def test_a_network_trained_elsewhere_does_not_fit_the_hidden_tests_pixel_order(name, exercise):
    """The forgery a fixed data set allows: weights trained at home (here by the solution itself), returned
    whatever the data. They earn everything on the self-check's digits and little once the pixels are reordered."""
    notebook = NOTEBOOKS[name]
    solution, _ = _kernels(name)
    trained = []

    def training_once(*data):
        if not trained:
            trained.append(solution[exercise](*data))
        return trained[0]

    assert _grade(name, exercise, training_once, 0, solution) == notebook.full[exercise]
    assert _grade(name, exercise, training_once, SEED, solution) <= 0.5 * notebook.full[exercise]
