"""What the tests of each graded notebook share (imported by them; pytest collects nothing here).

``Assignment(name)`` holds the notebook's solution and release, its checkers
and their full points; the functions below build planted bugs and forged
submissions from sources and cells.
"""
import copy
import functools
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from course_lib.grading import registry, trusted

REPO = Path(__file__).resolve().parents[2]


class Assignment:
    """One graded notebook: ``solution`` and ``release`` (dicts), ``full`` points per exercise."""

    def __init__(self, name):
        self.name = name
        self.module = registry.checker_module(name)
        self.solution = json.loads((REPO / "solutions" / name / f"{name}.ipynb").read_text())
        self.release = json.loads((REPO / "exercises" / name / f"{name}.ipynb").read_text())
        self.full = {exercise: float(points) for exercise, points in registry.default_points(name).items()}

    def checker(self, exercise):
        return registry.checkers(self.name)[exercise][0]

    def quiet(self, exercise, function):
        """The points ``function`` earns from the exercise's checker, nothing printed."""
        return self.checker(exercise)(function, verbose=False)

    def reference(self, exercise):
        """The checker module's own ``reference_<exercise>``."""
        return getattr(self.module, f"reference_{exercise}")

    def trusted_scores(self, notebook):
        return {exercise: points for exercise, (points, _, _) in trusted.grade_notebook(notebook, self.name).items()}


def answer_functions(notebook):
    """What a kernel holds after running the notebook's setup and answer cells."""
    namespace = {}
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and (meta.get("solution") or meta.get("grade_id") == "setup"):
            exec("".join(cell["source"]), namespace)
    return namespace


def cell(notebook, grade_id):
    return next(c for c in notebook["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def submission(base, **replace):
    """``base`` with the sources of the named cells replaced (``dense_forward_answer="..."``)."""
    notebook = copy.deepcopy(base)
    for grade_id, source in replace.items():
        cell(notebook, grade_id)["source"] = source
    return notebook


def planted(source, name, old="", new="", extra=None):
    """The function ``name`` of ``source`` (indented as written in a test) with ``old`` replaced by ``new``.

    ``extra``: a source run first, for functions the planted one calls.
    """
    assert old in source, old
    namespace = {"np": np}
    if extra:
        exec(textwrap.dedent(extra), namespace)
    exec(textwrap.dedent(source.replace(old, new)), namespace)
    return namespace[name]


def planted_cases(bugs):
    """``bugs`` (``{exercise: {label: (old, new)}}``) as pytest parameters and their ids."""
    cases = [(name, label, old, new) for name, by_label in bugs.items() for label, (old, new) in by_label.items()]
    return cases, [f"{name}: {label}" for name, label, _, _ in cases]


def full_points_tests(notebook, references=None):
    """The two tests that open every graded notebook's suite, for a module to bind to its own names.

    The checker module's references (of ``references``, by default every exercise; an exercise
    that trains a model may have none) and the solution notebook's answers earn every point;
    the released stubs earn none (and are graded without a crash).
    """
    solution = answer_functions(notebook.solution)

    @pytest.mark.parametrize("name", sorted(notebook.full if references is None else references))
    def test_the_reference_earns_full_points(name):
        assert notebook.quiet(name, notebook.reference(name)) == notebook.full[name]

    @pytest.mark.parametrize("name", sorted(notebook.full))
    def test_the_solution_notebook_earns_full_points_and_the_release_nothing(name):
        assert notebook.quiet(name, solution[name]) == notebook.full[name]
        assert notebook.quiet(name, answer_functions(notebook.release)[name]) == 0.0

    return test_the_reference_earns_full_points, test_the_solution_notebook_earns_full_points_and_the_release_nothing


def release_baseline_test(notebook):
    """The test that the released stubs, made to run (their raise line deleted), earn nothing.

    Credit then counts from 0: a stub that happens to return something gets no points for it.
    """

    def test_the_release_baseline_is_zero():
        stubs = trusted.stubs_made_to_run(notebook.release)
        raw = trusted.grade_notebook(stubs, notebook.name, baseline=False)
        assert {name: points for name, (points, _, _) in raw.items()} == {name: 0.0 for name in notebook.full}

    return test_the_release_baseline_is_zero


def forgery_tests(notebook, forgeries, depends_on):
    """The sandbox tests of a graded notebook, for a module to bind to its own names.

    ``forgeries`` maps a label to ``(exercise, forged answer source, exercises that must lose
    everything)``; ``depends_on`` maps an exercise to those whose solutions call its function
    (they may lose points with it). The solution earns every point in the trusted sandboxes;
    a forgery earns nothing where it should and costs no other exercise a point.
    """

    def test_the_solution_is_graded_in_sandboxes():
        assert notebook.trusted_scores(notebook.solution) == notebook.full

    @pytest.mark.parametrize("forgery", sorted(forgeries))
    def test_a_forged_answer_earns_nothing_for_its_exercise(forgery):
        name, source, lost = forgeries[forgery]
        scores = notebook.trusted_scores(submission(notebook.solution, **{f"{name}_answer": source}))
        assert {exercise: scores[exercise] for exercise in lost} == {exercise: 0.0 for exercise in lost}
        for exercise, points in scores.items():
            if exercise not in lost and exercise not in depends_on.get(name, ()):
                assert points == notebook.full[exercise], (forgery, exercise)

    return test_the_solution_is_graded_in_sandboxes, test_a_forged_answer_earns_nothing_for_its_exercise


def planted_bug_tests(notebook, sources, bugs, plant):
    """The two tests every graded notebook's suite has, for a module to bind to its own names.

    ``plant(name, old="", new="")`` builds the exercise's function from ``sources[name]`` with
    ``old`` replaced by ``new``. The unplanted sources must earn full points (so each bug is the
    only thing wrong); each bug of ``bugs`` (``{exercise: {label: (old, new)}}``) must earn less
    and print a reason line that names the exercise and the case.
    """
    cases, ids = planted_cases(bugs)

    @pytest.mark.parametrize("name", sorted(sources))
    def test_the_sources_the_bugs_are_planted_into_earn_full_points(name):
        assert notebook.quiet(name, plant(name)) == notebook.full[name]

    @pytest.mark.parametrize("name, bug, old, new", cases, ids=ids)
    def test_each_planted_bug_earns_less_and_says_why(name, bug, old, new, capsys):
        points = notebook.checker(name)(plant(name, old, new))
        printed = capsys.readouterr().out
        assert points < notebook.full[name], printed
        assert f"{name} [" in printed

    return test_the_sources_the_bugs_are_planted_into_earn_full_points, test_each_planted_bug_earns_less_and_says_why


def without(notebook, *grade_ids):
    """The notebook with the named cells deleted."""
    notebook = copy.deepcopy(notebook)
    notebook["cells"] = [c for c in notebook["cells"]
                         if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") not in grade_ids]
    return notebook


def class_grading_tests(notebook, students, expected, never_submitted="gina", cell_timeout=15):
    """One ``nbgrader autograde`` + ``export`` of a class, and the tests every graded notebook runs on it.

    ``students``: student -> notebook (or a function of the regenerated release);
    ``expected``: student -> ``{exercise: points}``, or None for "what the checkers give
    this student's functions in this process" (a student with planted bugs). Returns
    ``(graded_class fixture, scores_of(student), the autograde test, the export test)``
    for a module to bind to its own names.
    """
    @functools.lru_cache(maxsize=None)
    def scores_of(student):
        if expected[student] is not None:
            return expected[student]
        functions = answer_functions(students[student])
        return {name: notebook.quiet(name, functions[name]) for name in notebook.full}

    @pytest.fixture(scope="module")
    def graded_class(grade_class):
        """The whole run (a short cell timeout, for a student's endless loop)."""
        return grade_class(notebook.name, students, never_submitted=[never_submitted], cell_timeout=cell_timeout)

    @pytest.mark.slow
    @pytest.mark.parametrize("student", sorted(expected))
    def test_nbgrader_autogrades_every_kind_of_submission(graded_class, student):
        assert graded_class["scores"][student] == pytest.approx(scores_of(student), abs=0.011), student

    @pytest.mark.slow
    def test_the_export_lists_every_student(graded_class):
        rows = {row["student_id"]: row for row in graded_class["rows"] if row["assignment"] == notebook.name}
        assert set(rows) == set(students) | {never_submitted}
        for student in expected:
            assert float(rows[student]["score"]) == pytest.approx(sum(scores_of(student).values()), abs=0.05)
            assert float(rows[student]["max_score"]) == pytest.approx(sum(notebook.full.values()))
        assert float(rows[never_submitted]["score"]) == 0.0

    return graded_class, scores_of, test_nbgrader_autogrades_every_kind_of_submission, test_the_export_lists_every_student


def autograded_output(graded, assignment, student, exercise):
    """What the autograded notebook shows in the exercise's graded cell (the checker's reasons)."""
    import nbformat

    path = graded["course"] / "autograded" / student / assignment / f"{assignment}.ipynb"
    found = cell(nbformat.read(path, as_version=4), f"{exercise}_tests")
    return "".join(output.get("text", "") for output in found.outputs)
