"""What the grading design relies on in nbgrader itself, and course_lib's nbgrader pieces.

How nbgrader turns a graded cell's output into points, the course's nbgrader
configuration, the feedback preprocessor of course_lib.grading, and the points
of the source notebook against the checkers' defaults. (Moved out of the unit
suite: these exercise nbgrader and the course directory, not a kernel alone.)
"""
from pathlib import Path

import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_output

from course_lib.grading import registry
from course_lib.grading.harness import run_cases

REPO = Path(__file__).resolve().parents[2]


# --- how nbgrader turns a checker's result into points -------------------------------------


def graded_cell(outputs, points=3):
    cell = new_code_cell("grading.check_x(x)", metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "points": points, "grade_id": "x_tests",
        "schema_version": 3}})
    cell.outputs = outputs
    return cell


@pytest.mark.parametrize("passed", [0, 1, 3, 4])
def test_nbgrader_reads_the_checkers_result_as_the_cells_points(passed, capsys):
    """What a checker prints and returns (harness.run_cases) is what nbgrader scores the cell."""
    from nbgrader.utils import determine_grade

    cases = [(f"case {number}", lambda notes, right=number < passed: [(1, None if right else "something wrong")])
             for number in range(4)]
    score = run_cases("x", 3, cases)
    outputs = [
        new_output("stream", name="stdout", text=capsys.readouterr().out),
        new_output("execute_result", data={"text/plain": repr(score)}, execution_count=1),
    ]
    assert determine_grade(graded_cell(outputs)) == (3.0 * passed / 4, 3.0)


def test_numpy_scalars_would_not_be_read_as_partial_credit():
    """Why the checkers return Python floats: nbgrader cannot parse numpy's repr and gives full marks."""
    from nbgrader.utils import determine_grade

    outputs = [new_output("execute_result", data={"text/plain": repr(np.float64(0.5))}, execution_count=1)]
    assert determine_grade(graded_cell(outputs)) == (3.0, 3.0)


def load_course_config():
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()


def test_nbgrader_config_settings():
    config = load_course_config()
    assert config.CourseDirectory.source_directory == "solutions"
    assert config.CourseDirectory.release_directory == "exercises"
    assert config.OverwriteCells.add_missing_cells is True
    assert config.Execute.raise_on_iopub_timeout is False
    assert config.Execute.timeout >= 60


def test_ignore_pattern_drops_warnings_but_keeps_other_stderr():
    from nbgrader.preprocessors import IgnorePattern
    from nbgrader.utils import determine_grade

    preprocessor = IgnorePattern(config=load_course_config())
    warning = new_output("stream", name="stderr",
                         text="/x/y.py:3: RuntimeWarning: overflow encountered in exp\n  e = np.exp(z)\n")
    cell = graded_cell([warning, new_output("execute_result", data={"text/plain": "3.0"}, execution_count=1)])
    # nbconvert calls a preprocessor only when enabled (IgnorePattern is off by default).
    assert preprocessor.enabled
    cleaned = preprocessor(new_notebook_with(cell), {})[0].cells[0]
    assert determine_grade(cleaned) == (3.0, 3.0)

    other = graded_cell([new_output("stream", name="stderr", text="Traceback: it broke\n")])
    other = preprocessor(new_notebook_with(other), {})[0].cells[0]
    assert determine_grade(other) == (0, 3.0)


def new_notebook_with(cell):
    from nbformat.v4 import new_notebook

    return new_notebook(cells=[cell])


def test_feedback_preprocessor_cuts_test_cell_tracebacks():
    from course_lib.grading.feedback import HideTestTracebacks

    error = new_output("error", ename="AttributeError", evalue="'NoneType' object has no attribute 'check_x'",
                       traceback=["----> 2 grading.check_x(secret_hidden_line)", "AttributeError: ..."])
    test_cell = graded_cell([error])
    answer_cell = new_code_cell("raise ValueError('mine')", metadata={"nbgrader": {
        "grade": False, "solution": True, "locked": False, "grade_id": "x_answer", "schema_version": 3}})
    answer_cell.outputs = [new_output("error", ename="ValueError", evalue="mine", traceback=["----> 1 raise", "x"])]
    nb, _ = HideTestTracebacks()(new_notebook_with(test_cell), {})
    assert nb.cells[0].outputs[0].traceback == ["AttributeError: 'NoneType' object has no attribute 'check_x'"]
    nb, _ = HideTestTracebacks()(new_notebook_with(answer_cell), {})
    assert nb.cells[0].outputs[0].traceback == ["----> 1 raise", "x"]  # the student's own traceback stays


@pytest.mark.parametrize("assignment", sorted(registry.ASSIGNMENTS))
def test_checker_defaults_match_the_notebook_points(assignment):
    import nbformat

    notebook = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    points = {
        cell.metadata["nbgrader"]["grade_id"].removesuffix("_tests"): cell.metadata["nbgrader"]["points"]
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    }
    assert points == registry.default_points(assignment)
    # The exercises appear in the notebook in the order the grader runs them.
    assert list(points) == list(registry.checkers(assignment))
