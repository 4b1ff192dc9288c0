"""Fixtures shared by the graded notebooks' tests."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The planted bugs' expected partial credit is pinned on the self-checks' inputs (seed 0). The course's
# own seed (trusted.grading_seed), the one real grading uses, has tests of its own.
os.environ.setdefault("COURSE_GRADER_SEED", "0")


def _nbgrader(course, env, *args):
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _grade(tmp_path_factory, assignment, submissions, never_submitted=(), cell_timeout=None):
    """One ``nbgrader autograde`` of a scratch copy of the course, then ``nbgrader export``.

    ``submissions`` maps each student to a notebook (a dict), or to a function of
    the released notebook regenerated in the scratch course (for the blank
    release); ``never_submitted`` students are in the gradebook without a
    submission. Returns ``{"course", "scores": {student: {exercise: score}},
    "rows": the export's rows, "log": autograde's output}``.
    """
    from nbgrader.api import Gradebook

    from course_lib.grading.grade_class import scratch_course

    course = tmp_path_factory.mktemp("course")
    env = scratch_course(REPO, course, assignment)
    env["PYTHONPATH"] = str(REPO)
    release = json.loads((course / "regenerated" / assignment / f"{assignment}.ipynb").read_text())
    for student, notebook in submissions.items():
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        notebook = notebook(release) if callable(notebook) else notebook
        (folder / f"{assignment}.ipynb").write_text(json.dumps(notebook))
    for student in never_submitted:
        _nbgrader(course, env, "db", "student", "add", student, f"--first-name={student.title()}",
                  "--last-name=Tester")
    options = [f"--Execute.timeout={cell_timeout}"] if cell_timeout else []
    log = _nbgrader(course, env, "autograde", assignment, *options)
    _nbgrader(course, env, "export", "--to=grades.csv")
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in submissions:
            notebook = gradebook.find_submission_notebook(assignment, assignment, student)
            scores[student] = {grade.name.removesuffix("_tests"): grade.score for grade in notebook.grades}
    with open(course / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {"course": course, "scores": scores, "rows": rows, "log": log}


@pytest.fixture(scope="module")
def autograde(tmp_path_factory):
    """``autograde(assignment, submissions)``: the ``{student: {exercise: score}}`` of one grading run."""
    return lambda assignment, submissions: _grade(tmp_path_factory, assignment, submissions)["scores"]


@pytest.fixture(scope="module")
def grade_class(tmp_path_factory):
    """``grade_class(assignment, submissions, never_submitted=(), cell_timeout=None)``: the whole run (see _grade)."""
    return lambda *args, **kwargs: _grade(tmp_path_factory, *args, **kwargs)
