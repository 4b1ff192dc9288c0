"""Which checker module grades which notebook: the one table the grading code reads.

Adding a graded notebook means writing one checker module (its ``check_*``
functions, ``DEFAULT_POINTS`` and ``_CHECKERS``: exercise name -> (checker,
the partner function the checker also needs, or None)) and one entry here.
The trusted grader, the nbgrader plugin, the class command and the students'
``grading.check`` all look assignments up through this module.
"""
from __future__ import annotations

from course_lib.grading import (
    assignment1, assignment2, assignment3, assignment4, assignment5, assignment6, assignment7, assignment8,
    assignment9, assignment10,
)

ASSIGNMENTS = {
    "assignment1": assignment1,  # chapter 2-3: a multilayer perceptron from scratch
    "assignment2": assignment2,  # chapter 3: how a network learns
    "assignment3": assignment3,  # chapter 4: shapes
    "assignment4": assignment4,  # chapter 6: the functional API (built with course_lib itself)
    "assignment5": assignment5,  # chapter 7: convolution and pooling (NumPy)
    "assignment6": assignment6,  # chapter 8: VGG-16 (counts, shapes, and the network built with course_lib)
    "assignment7": assignment7,  # recurrent networks: RNN, LSTM and GRU cells in NumPy, then a Bidirectional model
    "assignment8": assignment8,  # data augmentation: affine matrices, warps, flips and a folder reader in NumPy
    "assignment9": assignment9,  # classical machine learning: k-means, logistic regression, a tree's split, Q-learning
    "assignment10": assignment10,  # attention and GANs: scaled dot-product and multi-head attention, GAN losses (NumPy)
}
"""Assignment name (the folder under ``solutions/`` and ``exercises/``) -> its checker module."""


def checker_module(assignment):
    """The checker module of ``assignment``; a ValueError names the known ones otherwise."""
    try:
        return ASSIGNMENTS[assignment]
    except (KeyError, TypeError):
        raise ValueError(f"no checkers for assignment {assignment!r}; known: {sorted(ASSIGNMENTS)}") from None


def checkers(assignment):
    """``{exercise: (checker, partner)}`` of ``assignment``, in the notebook's order."""
    return checker_module(assignment)._CHECKERS


def default_points(assignment):
    """``{exercise: points}`` of ``assignment`` (what its notebook's graded cells are worth)."""
    return checker_module(assignment).DEFAULT_POINTS


def uses_course_lib(assignment, exercise=None):
    """Whether ``assignment``'s answers build with course_lib (``USES_COURSE_LIB`` in its module).

    Its sandbox then imports the real library instead of a stand-in with only
    the data loader, and the library's modules are not forbidden.
    ``USES_COURSE_LIB`` is True (every exercise) or the names of the exercises
    that do (assignment 7: its NumPy cells may not call the library, its model
    is built with it); ``exercise`` None asks whether any exercise does.
    """
    uses = getattr(checker_module(assignment), "USES_COURSE_LIB", False)
    if isinstance(uses, bool):
        return uses
    return bool(uses) if exercise is None else exercise in uses


def module_names():
    """The import names of every checker module (answers may not import them)."""
    return tuple(module.__name__ for module in ASSIGNMENTS.values())


def check(func, forward=None):
    """Self-check one of your functions of any graded notebook and print what is wrong.

    The checker is chosen by the function's name, so name your functions as
    the notebook does. Backward functions of assignment 1 need their forward
    partner, which makes the cache: ``check(dense_backward, forward=dense_forward)``.

    Args:
        func: your function.
        forward: for a checker that needs a partner function, that function.

    Returns:
        The points the graders' checker would award on these inputs.
    """
    name = getattr(func, "__name__", None)
    found = [module._CHECKERS[name] for module in ASSIGNMENTS.values() if name in module._CHECKERS]
    if not found:
        known = sorted(exercise for module in ASSIGNMENTS.values() for exercise in module._CHECKERS)
        raise ValueError(f"check: no checker for a function named {name!r}; expected one of {known}")
    checker, partner = found[0]
    if partner is None:
        return checker(func)
    if forward is None:
        raise ValueError(f"check: {name} needs its forward function (the partner its checker calls): "
                         f"check({name}, forward={partner})")
    return checker(func, forward)
