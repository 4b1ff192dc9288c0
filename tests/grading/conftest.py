"""Fixtures shared by the graded notebooks' tests."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def autograde(tmp_path_factory):
    """``autograde(assignment, submissions)``: one ``nbgrader autograde`` of a scratch copy of the course.

    ``submissions`` maps each student to a notebook (a dict), or to a function
    of the released notebook regenerated in the scratch course (for the blank
    release). Returns ``{student: {exercise: score}}`` from the gradebook.
    """
    from nbgrader.api import Gradebook

    from course_lib.grading.grade_class import scratch_course

    def run(assignment, submissions):
        course = tmp_path_factory.mktemp("course")
        env = scratch_course(REPO, course, assignment)
        env["PYTHONPATH"] = str(REPO)
        release = json.loads((course / "regenerated" / assignment / f"{assignment}.ipynb").read_text())
        for student, notebook in submissions.items():
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True)
            notebook = notebook(release) if callable(notebook) else notebook
            (folder / f"{assignment}.ipynb").write_text(json.dumps(notebook))
        result = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment], cwd=course,
                                env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        scores = {}
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
            for student in submissions:
                notebook = gradebook.find_submission_notebook(assignment, assignment, student)
                scores[student] = {grade.name.removesuffix("_tests"): grade.score for grade in notebook.grades}
        return scores

    return run
