"""The hidden tests draw their inputs from the course's seed: new inputs, the same fairness.

The self-checks (``grading.check``) run every checker at seed 0, so anyone can
record their inputs. Graded, a checker gets the course's own seed
(``trusted.grading_seed``): its inputs must then be new ones (a table of
recorded answers earns nothing, see test_trusted_grader), and the solution
must still earn every point and the release none.
"""
import inspect
import pickle

import pytest
from graded_notebooks import Assignment, answer_functions

from course_lib.grading import registry

SEED = 20261201
ASSIGNMENTS = sorted(registry.ASSIGNMENTS, key=lambda name: int(name.removeprefix("assignment")))
NOTEBOOKS = {name: Assignment(name) for name in ASSIGNMENTS}
SEEDED = [(name, exercise) for name in ASSIGNMENTS for exercise, (checker, _) in registry.checkers(name).items()
          if "seed" in inspect.signature(checker).parameters]
TRAINING = {("assignment1", "train_mlp"), ("assignment4", "train_model"), ("assignment7", "train_bidirectional")}
"""The exercises without a seed: they train a network on a fixed data set and test it on held-out data."""


def _grade(name, exercise, function, seed, partners):
    checker, partner = registry.checkers(name)[exercise]
    parameters = list(inspect.signature(checker).parameters.values())
    if partner and parameters[1].default is inspect.Parameter.empty:
        return checker(function, partners[partner], seed=seed, verbose=False)
    return checker(function, seed=seed, verbose=False)


def test_every_exercise_but_the_training_ones_draws_its_inputs_from_a_seed():
    every = {(name, exercise) for name in ASSIGNMENTS for exercise in registry.checkers(name)}
    assert every - set(SEEDED) == TRAINING


@pytest.mark.parametrize("name, exercise", SEEDED, ids=[f"{name}-{exercise}" for name, exercise in SEEDED])
def test_another_seed_gives_new_inputs_and_the_same_points(name, exercise):
    notebook = NOTEBOOKS[name]
    solution, release = answer_functions(notebook.solution), answer_functions(notebook.release)
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
