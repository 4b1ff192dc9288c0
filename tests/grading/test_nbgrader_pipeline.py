"""The whole nbgrader pipeline of assignment 1, run in a copy of the course directory.

One module-scoped run does the instructor's work once: regenerate the release,
add students, autograde six kinds of submission, generate feedback and export.
The tests then read what that run left behind. Nothing is written into the
repository (gradebook.db, submitted/, autograded/ and feedback/ live under tmp).
"""
from __future__ import annotations

import copy
import csv
import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib.grading import registry

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "assignment1"
SOURCE_NOTEBOOK = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"

POINTS = {
    "dense_forward_tests": 2.0,
    "dense_backward_tests": 3.0,
    "relu_forward_tests": 1.0,
    "relu_backward_tests": 1.0,
    "softmax_cross_entropy_tests": 3.0,
    "sgd_step_tests": 1.0,
    "train_mlp_tests": 4.0,
}
TOTAL = sum(POINTS.values())
# Short enough that the endless-loop submission costs little, long enough for
# every real cell (the slowest, training, takes about a second).
CELL_TIMEOUT = 20

# What each kind of submission should score, cell by cell (a missing key means full points).
EXPECTED = {
    "alice": {},  # the reference solution
    "bob": {cell: 0.0 for cell in POINTS},  # the untouched release
    # dense_backward raises inside; the sgd_step cell raises before its def,
    # so sgd_step does not exist; training needs both (and its hidden cell
    # raises too: the student rebound `grading`).
    "carol": {"dense_backward_tests": 0.0, "sgd_step_tests": 0.0, "train_mlp_tests": 0.0},
    # an endless loop before relu_backward's def: the cell times out, so
    # relu_backward does not exist, and training needs it.
    "dave": {"relu_backward_tests": 0.0, "train_mlp_tests": 0.0},
    # deleted two test cells; dense_forward is right, relu_backward left as the stub.
    "erin": {"relu_backward_tests": 0.0, "train_mlp_tests": 0.0},
    # softmax without the max shift (fails only the large-logit case, a quarter of 3 points)
    # and an SGD step that rebinds instead of updating in place (half of 1 point).
    "frank": {"softmax_cross_entropy_tests": 2.25, "sgd_step_tests": 0.5},
    # the untouched release plus the one-line forgery that earned 15/15 in a kernel
    "mallory": {cell: 0.0 for cell in POINTS},
    # honest work with a pasted copy of an answer cell and of a test cell (nbgrader crashed: 0/15)
    "oscar": {},
    # honest work, plus an attempt to overwrite the gradebook from an answer cell
    "trent": {},
    # dense_forward delegated to the reference kernels: that exercise and those built on it get 0
    "peggy": {"dense_forward_tests": 0.0, "dense_backward_tests": 0.0, "train_mlp_tests": 0.0},
    # honest work that logs to stderr, prints 100 MB and tries to allocate 50 GiB
    "sybil": {},
    # honest work plus an attempt to read a classmate's submission (were it allowed, the cell would raise)
    "victor": {},
    # the kernel dies in relu_backward's cell: what came before keeps its points
    "walter": {"relu_backward_tests": 0.0, "train_mlp_tests": 0.0},
    # the untouched release plus a fake course_lib beside the notebook, an import hook and patched checkers
    "yuri": {cell: 0.0 for cell in POINTS},
}
ADDED_STUDENTS = ["alice", "bob", "carol", "gina"]  # gina never submits; the others are added by autograde


def _environment():
    env = dict(os.environ)
    # nbgrader runs `alembic` from PATH when it creates the gradebook.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    # The grading kernel runs in autograded/<student>/assignment1/ and must import course_lib.
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def nbgrader(course: Path, *args, timeout=300):
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course, env=_environment(), capture_output=True, text=True, timeout=timeout,
    )
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def strip_solution_markers(source: str) -> str:
    return "\n".join(line for line in source.split("\n") if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)


def solution_lines(source_nb) -> list[str]:
    """Lines inside BEGIN/END SOLUTION or BEGIN/END HIDDEN TESTS regions of the source notebook."""
    found = []
    for cell in source_nb.cells:
        inside = False
        for line in cell.source.split("\n"):
            if re.search(r"BEGIN (SOLUTION|HIDDEN TESTS)", line):
                inside = True
            elif re.search(r"END (SOLUTION|HIDDEN TESTS)", line):
                inside = False
            elif inside and line.strip():
                found.append(line.strip())
    return found


def make_submission(release_nb, source_nb, answered=(), replace=None, delete=()):
    """A student's notebook: the release with some answers filled in from the solution.

    Args:
        answered: grade_ids of the solution cells to fill in with the reference answer.
        replace: grade_id -> source written instead (a broken answer).
        delete: grade_ids of cells the student deleted.
    """
    replace = replace or {}
    solutions = {nbgrader_meta(c).get("grade_id"): c.source for c in source_nb.cells if nbgrader_meta(c).get("solution")}
    nb = copy.deepcopy(release_nb)
    kept = []
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in delete:
            continue
        if grade_id in replace:
            cell.source = replace[grade_id]
        elif grade_id in answered:
            cell.source = strip_solution_markers(solutions[grade_id])
        kept.append(cell)
    nb.cells = kept
    return nb


def _answer_ids(source_nb):
    return [nbgrader_meta(c)["grade_id"] for c in source_nb.cells if nbgrader_meta(c).get("solution")]


def _submissions(release_nb, source_nb, root):
    answers = _answer_ids(source_nb)
    solutions = {nbgrader_meta(c).get("grade_id"): strip_solution_markers(c.source)
                 for c in source_nb.cells if nbgrader_meta(c).get("solution")}
    raising_backward = solutions["dense_backward_answer"].replace(
        "    x, W, b = cache\n", "    raise ValueError('shapes do not match')\n")
    assert raising_backward != solutions["dense_backward_answer"]
    naive_softmax = '''
def softmax_cross_entropy(logits, labels):
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    batch = len(labels)
    loss = -np.log(probs[np.arange(batch), labels]).mean()
    dlogits = probs.copy()
    dlogits[np.arange(batch), labels] -= 1
    return loss, dlogits / batch
'''
    rebinding_sgd = '''
def sgd_step(params, grads, learning_rate):
    for name in params:
        params[name] = params[name] - learning_rate * grads[name]
'''
    return {
        "alice": make_submission(release_nb, source_nb, answered=answers),
        "bob": copy.deepcopy(release_nb),
        "carol": make_submission(release_nb, source_nb, answered=answers, replace={
            "dense_backward_answer": raising_backward,
            "sgd_step_answer": "raise RuntimeError('not finished')\n" + solutions["sgd_step_answer"],
            # Rebinding the checkers' module makes the hidden training cell itself raise.
            "train_mlp_answer": solutions["train_mlp_answer"] + "\n\ngrading = None\n",
        }),
        "dave": make_submission(release_nb, source_nb, answered=answers, replace={
            "relu_backward_answer": "while True:\n    pass\n" + solutions["relu_backward_answer"],
        }),
        "erin": make_submission(
            release_nb, source_nb,
            answered=[a for a in answers if a != "relu_backward_answer"],
            delete={"dense_forward_tests", "relu_backward_tests"},
        ),
        "frank": make_submission(release_nb, source_nb, answered=answers, replace={
            "softmax_cross_entropy_answer": naive_softmax,
            "sgd_step_answer": rebinding_sgd,
        }),
        "mallory": make_submission(release_nb, source_nb, replace={
            "dense_forward_answer": "get_ipython().ast_node_interactivity = 'none'\n"
                                    + next(c.source for c in release_nb.cells
                                           if nbgrader_meta(c).get("grade_id") == "dense_forward_answer"),
        }),
        "oscar": _with_copies(make_submission(release_nb, source_nb, answered=answers),
                              ["dense_forward_answer", "relu_forward_tests"]),
        "trent": make_submission(release_nb, source_nb, answered=answers, replace={
            "relu_forward_answer": solutions["relu_forward_answer"] + (
                "\nimport pathlib\ntry:\n    pathlib.Path('../../../gradebook.db').write_bytes(b'all 15/15')\n"
                "except PermissionError:\n    pass\n"),
        }),
        "peggy": make_submission(release_nb, source_nb, answered=answers, replace={
            "dense_forward_answer": "from course_lib.ops import dense_forward\n",
        }),
        "sybil": make_submission(release_nb, source_nb, answered=answers, replace={
            "dense_forward_answer": "import logging, sys\nlogging.warning('debugging')\nprint('x' * 100_000_000)\n"
                                    "print('noise', file=sys.stderr)\ntry:\n    hog = bytearray(50 * 2**30)\n"
                                    "except MemoryError:\n    pass\n" + solutions["dense_forward_answer"],
        }),
        "victor": make_submission(release_nb, source_nb, answered=answers, replace={
            "sgd_step_answer": "try:\n    copied = open("
                               + repr(str(root / "submitted" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"))
                               + ").read()\nexcept PermissionError:\n    pass\n"
                               "else:\n    raise RuntimeError('read a classmate')\n" + solutions["sgd_step_answer"],
        }),
        "walter": make_submission(release_nb, source_nb, answered=answers, replace={
            "relu_backward_answer": "import os\nos._exit(1)\n" + solutions["relu_backward_answer"],
        }),
        "yuri": make_submission(release_nb, source_nb, replace={
            "dense_forward_answer": (
                "import os, sys, importlib.abc\nos.makedirs('course_lib/grading', exist_ok=True)\n"
                "open('course_lib/__init__.py', 'w').write('')\n"
                "open('course_lib/grading/__init__.py', 'w').write('check_dense_forward = lambda *a, **k: 2.0')\n"
                "sys.path.insert(0, '.')\n"
                "class Fake(importlib.abc.MetaPathFinder):\n    def find_spec(self, *args):\n        return None\n"
                "sys.meta_path.insert(0, Fake())\n"
                "from course_lib import grading\ngrading.check_dense_forward = lambda *a, **k: 2.0\n"
                + next(c.source for c in release_nb.cells if nbgrader_meta(c).get("grade_id") == "dense_forward_answer")),
        }),
    }


def _with_copies(nb, grade_ids):
    """The notebook with each named cell pasted again right after itself (metadata and all)."""
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        if nbgrader_meta(cell).get("grade_id") in grade_ids:
            cells.append(copy.deepcopy(cell))
    nb.cells = cells
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Run the instructor's whole pipeline once in a copy of the course directory."""
    root = tmp_path_factory.mktemp("course")
    library_before = _tree_digest(REPO / "course_lib")
    shutil.copytree(REPO / "solutions", root / "solutions")
    shutil.copytree(REPO / "exercises", root / "exercises")
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")

    # Regenerate every assignment into a separate folder so that the committed releases can be compared.
    for assignment in registry.ASSIGNMENTS:
        nbgrader(root, "generate_assignment", assignment, "--force",
                 "--CourseDirectory.release_directory=regenerated")
    for student in ADDED_STUDENTS:
        nbgrader(root, "db", "student", "add", student, f"--first-name={student.title()}", "--last-name=Tester")

    source_nb = nbformat.read(SOURCE_NOTEBOOK, as_version=4)
    release_nb = nbformat.read(root / "regenerated" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    for student, nb in _submissions(release_nb, source_nb, root).items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")

    autograde = nbgrader(root, "autograde", ASSIGNMENT, f"--Execute.timeout={CELL_TIMEOUT}", timeout=600)
    nbgrader(root, "generate_feedback", ASSIGNMENT)
    nbgrader(root, "export", "--to=grades.csv")
    return {"root": root, "autograde_log": autograde.stderr + autograde.stdout, "library_before": library_before}


def _tree_digest(folder: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_grading_left_course_lib_unchanged_and_no_process_behind(course):
    assert _tree_digest(REPO / "course_lib") == course["library_before"]
    # A sandbox left behind is an orphan (its parent gone); other test workers may be grading right now.
    listing = subprocess.run(["ps", "-eo", "ppid=,args="], capture_output=True, text=True).stdout
    orphans = [line for line in listing.splitlines() if "sandbox.py" in line and line.split()[0] == "1"]
    assert not orphans, orphans


def cell_scores(root: Path, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        return {grade.name: grade.score for grade in notebook.grades}


def autograded_notebook(root: Path, student: str):
    return nbformat.read(root / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)


# --- release -----------------------------------------------------------------


def _comparable(nb):
    return [
        (cell.cell_type, cell.source, nbgrader_meta(cell))
        for cell in nb.cells
    ]


@pytest.mark.parametrize("assignment", sorted(registry.ASSIGNMENTS))
def test_regenerated_release_matches_committed_exercises(course, assignment):
    regenerated = nbformat.read(course["root"] / "regenerated" / assignment / f"{assignment}.ipynb", as_version=4)
    committed = nbformat.read(REPO / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
    assert _comparable(regenerated) == _comparable(committed), (
        f"exercises/ is out of date: run `make release` (nbgrader generate_assignment {assignment} --force)"
    )
    assert committed.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("assignment", sorted(registry.ASSIGNMENTS))
def test_release_contains_no_solutions_and_no_hidden_tests(assignment):
    text = (REPO / "exercises" / assignment / f"{assignment}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert "BEGIN HIDDEN TESTS" not in text
    release_lines = {line.strip() for cell in nbformat.reads(text, as_version=4).cells for line in cell.source.split("\n")}
    secret = solution_lines(nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4))
    # The extraction found the answers and hidden tests: several lines per exercise.
    assert len(secret) >= 4 * len(registry.default_points(assignment))
    leaked = [line for line in secret if line in release_lines]
    assert leaked == []
    assert "raise NotImplementedError()" in release_lines


@pytest.mark.parametrize("assignment", sorted(registry.ASSIGNMENTS))
def test_every_graded_cell_is_a_single_checker_call(assignment):
    """Hidden tests hold no checking logic: only calls into course_lib.grading."""
    source_nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    graded = {nbgrader_meta(c)["grade_id"]: c for c in source_nb.cells if nbgrader_meta(c).get("grade")}
    assert {k: float(nbgrader_meta(c)["points"]) for k, c in graded.items()} == {
        f"{exercise}_tests": float(points) for exercise, points in registry.default_points(assignment).items()}
    for cell in graded.values():
        code = [line for line in cell.source.split("\n") if line.strip() and not line.lstrip().startswith("#")]
        assert len(code) == 1 and code[0].startswith("grading.check_"), cell.source


@pytest.mark.parametrize("assignment", sorted(registry.ASSIGNMENTS))
def test_every_graded_cell_follows_an_answer_cell(assignment):
    """nbgrader 0.9.6 puts a deleted test cell back after the cell before it in the source,
    and crashes (KeyError) unless that cell is a solution or graded cell."""
    cells = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4).cells
    for previous, cell in zip(cells, cells[1:]):
        if nbgrader_meta(cell).get("grade"):
            assert nbgrader_meta(previous).get("solution") or nbgrader_meta(previous).get("grade"), (
                nbgrader_meta(cell)["grade_id"]
            )


# --- autograding -------------------------------------------------------------


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_autograde_scores(course, student):
    scores = cell_scores(course["root"], student)
    expected = {cell: EXPECTED[student].get(cell, points) for cell, points in POINTS.items()}
    assert scores == pytest.approx(expected), f"{student}: {scores}"


def test_reference_solution_gets_full_marks_and_passes_every_visible_test(course):
    assert sum(cell_scores(course["root"], "alice").values()) == pytest.approx(TOTAL)
    nb = autograded_notebook(course["root"], "alice")
    errors = [(nbgrader_meta(c).get("grade_id"), o.get("ename")) for c in nb.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error" or o.get("name") == "stderr"]
    assert errors == []


def test_student_code_errors_are_reported_not_raised_in_hidden_cells(course):
    nb = autograded_notebook(course["root"], "carol")
    cell = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == "dense_backward_tests")
    assert all(output.output_type != "error" for output in cell.outputs)
    printed = "".join(output.get("text", "") for output in cell.outputs)
    assert "dense_backward raised ValueError: shapes do not match" in printed


def test_endless_loop_times_out_and_grading_goes_on(course):
    nb = autograded_notebook(course["root"], "dave")
    tests = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == "relu_backward_tests")
    printed = "".join(output.get("text", "") for output in tests.outputs)
    assert "cell relu_backward_answer was left out" in printed and "did not finish" in printed
    # The looping cell is left out of later tries: the exercises after it are still graded.
    assert cell_scores(course["root"], "dave")["softmax_cross_entropy_tests"] == 3.0


def test_deleted_test_cells_are_restored(course):
    nb = autograded_notebook(course["root"], "erin")
    grade_ids = [nbgrader_meta(c).get("grade_id") for c in nb.cells]
    for deleted in ("dense_forward_tests", "relu_backward_tests"):
        assert deleted in grade_ids
        restored = nb.cells[grade_ids.index(deleted)]
        assert "was missing from the submission" in restored.source
    # Restored right after the answer cell that precedes them in the source.
    assert grade_ids.index("dense_forward_tests") == grade_ids.index("dense_forward_answer") + 1
    assert "Missing grade cell relu_backward_tests encountered, adding to notebook" in course["autograde_log"]


def test_partial_credit_reasons_are_printed(course):
    nb = autograded_notebook(course["root"], "frank")
    cell = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == "softmax_cross_entropy_tests")
    printed = "".join(output.get("text", "") for output in cell.outputs)
    assert "large logits" in printed and "expected finite numbers" in printed
    # The overflow warning went to stdout as a note, not to stderr (which would zero the cell).
    assert all(getattr(output, "name", "") != "stderr" for output in cell.outputs)


# --- feedback and export -----------------------------------------------------------


def test_feedback_hides_hidden_tests(course):
    hidden = [line for line in solution_lines(nbformat.read(SOURCE_NOTEBOOK, as_version=4)) if "grading.check_" in line]
    assert len(hidden) == len(POINTS)
    pages = sorted((course["root"] / "feedback").glob(f"*/{ASSIGNMENT}/{ASSIGNMENT}.html"))
    assert {page.parts[-3] for page in pages} == set(EXPECTED)
    for page in pages:
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        assert "HIDDEN TESTS" not in text, page
        for line in hidden:
            assert line not in text, (page, line)
    carol = html.unescape(re.sub(r"<[^>]+>", "", (course["root"] / "feedback" / "carol" / ASSIGNMENT /
                                                   f"{ASSIGNMENT}.html").read_text()))
    # The checkers' reasons reach the student ...
    assert "dense_backward raised ValueError: shapes do not match" in carol
    # ... and rebinding `grading` in an answer cell changes nothing: the trusted grader
    # never runs the hidden cells in the student's kernel, so no error quotes them.
    train_cell = next(c for c in autograded_notebook(course["root"], "carol").cells
                      if nbgrader_meta(c).get("grade_id") == "train_mlp_tests")
    assert all(output.output_type != "error" for output in train_cell.outputs)
    assert "train_mlp: 0 of 1 cases fully passed" in carol and "check_train_mlp" not in carol


def test_export_lists_every_student(course):
    with open(course["root"] / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # The gradebook also knows the other assignments (their releases were regenerated): one row each.
    assert {row["assignment"] for row in rows} == set(registry.ASSIGNMENTS)
    by_student = {row["student_id"]: row for row in rows if row["assignment"] == ASSIGNMENT}
    assert set(by_student) == set(EXPECTED) | set(ADDED_STUDENTS)
    for student, missing in EXPECTED.items():
        expected_total = sum(missing.get(cell, points) for cell, points in POINTS.items())
        assert float(by_student[student]["score"]) == pytest.approx(expected_total)
        assert float(by_student[student]["max_score"]) == pytest.approx(TOTAL)
    assert float(by_student["gina"]["score"]) == 0.0
