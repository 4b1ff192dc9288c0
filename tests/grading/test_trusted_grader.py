"""The trusted grader against the red team's submissions and honest students' mistakes.

Each submission is the reference solution with one cell changed (or the
release's stubs), graded by course_lib.grading.trusted. Expected: cheating
earns nothing, honest mistakes cost only the affected exercise, the course
directory is unchanged and no process is left running.
"""
import copy
import json
import os
import subprocess
import time

import pytest
from graded_notebooks import REPO, Assignment, cell, submission

from course_lib.grading import registry, trusted

pytestmark = pytest.mark.slow

NOTEBOOK = Assignment("assignment1")
SOLUTION, RELEASE, FULL = NOTEBOOK.solution, NOTEBOOK.release, NOTEBOOK.full


def scores(notebook, **kwargs):
    return {name: points for name, (points, _, _) in trusted.grade_notebook(notebook, **kwargs).items()}


def reports(notebook):
    return {name: report for name, (_, _, report) in trusted.grade_notebook(notebook).items()}


STUB = "".join(cell(RELEASE, "dense_forward_answer")["source"])


def test_the_reference_gets_full_marks_and_the_release_none():
    assert scores(SOLUTION) == FULL
    assert sum(scores(RELEASE).values()) == 0.0


@pytest.mark.parametrize("forgery", [
    "get_ipython().ast_node_interactivity = 'none'\n",
    "import sys\nsys.displayhook = lambda value: print(2.0)\n",
    "import course_lib.grading as g\ng.check_dense_forward = lambda *a, points=2, **k: float(points)\n",
    "from course_lib import grading\ngrading.check_dense_forward = lambda *a, **k: 2.0\n",
    "import builtins\nbuiltins.round = lambda *a, **k: 2.0\n",
    "import numpy as np\nnp.abs = lambda x: x * 0\n",
])
def test_forged_output_and_patched_checkers_earn_nothing(forgery):
    forged = submission(RELEASE, dense_forward_answer=forgery + STUB)
    assert scores(forged)["dense_forward"] == 0.0


def test_delegating_to_the_reference_kernels_earns_nothing_and_says_why():
    direct = submission(SOLUTION, dense_forward_answer="from course_lib.ops import dense_forward\n")
    result = trusted.grade_notebook(direct)["dense_forward"]
    assert result[0] == 0.0 and "uses course_lib.ops" in result[2]
    hidden = submission(SOLUTION, dense_forward_answer=(
        "import importlib\nreference = importlib.import_module('course_' + 'lib.ops')\n"
        "def dense_forward(x, W, b):\n    return reference.dense_forward(x, W, b)\n"))
    assert scores(hidden)["dense_forward"] == 0.0


def test_the_course_directory_cannot_be_read_or_written(tmp_path):
    """Against a copy of the course directory, so that a failure cannot damage the real one."""
    course = tmp_path / "course"
    (course / "solutions" / "assignment1").mkdir(parents=True)
    (course / "course_lib" / "grading").mkdir(parents=True)
    (course / "gradebook.db").write_bytes(b"the real grades")
    (course / "solutions" / "assignment1" / "assignment1.ipynb").write_text(json.dumps(SOLUTION))
    grading_file = course / "course_lib" / "grading" / "assignment1.py"
    grading_file.write_text("CHECKERS = 'honest'\n")
    attack = submission(SOLUTION, relu_forward_answer="".join(cell(SOLUTION, "relu_forward_answer")["source"]) + (
        f"\ntry:\n    open({str(course / 'gradebook.db')!r}, 'wb').write(b'forged')\nexcept PermissionError:\n"
        "    pass\n"), relu_backward_answer=f"open({str(grading_file)!r}, 'a').write('forged = True')\n",
        sgd_step_answer=f"exec(open({str(course / 'solutions' / 'assignment1' / 'assignment1.ipynb')!r}).read())\n")
    result = scores(attack, course_directory=course)
    assert result["relu_forward"] == FULL["relu_forward"]  # its own code is right: the attack just fails
    assert result["relu_backward"] == 0.0 and result["sgd_step"] == 0.0
    assert (course / "gradebook.db").read_bytes() == b"the real grades"
    assert grading_file.read_text() == "CHECKERS = 'honest'\n"


IMPORTS = """
import importlib
found = {}
for name in ("course_lib.datasets.digits", "course_lib.preprocessing.image", "course_lib.backend", "course_lib"):
    try:
        found[name] = hasattr(importlib.import_module(name), "__name__")
    except ImportError as error:
        found[name] = str(error)

def imports():
    return found
"""


def test_outside_the_course_directory_the_library_is_still_only_its_stand_in(tmp_path):
    """A course directory apart from the checkout course_lib is installed from (an editable install's
    import finder ignores the stand-in package's empty path): assignment 8's answers found
    course_lib.preprocessing.image, whose warp does exercise 2, and earned every point with it."""
    course = tmp_path / "course"
    course.mkdir()
    sandbox = trusted.Sandbox([("imports", IMPORTS)], str(tmp_path), course_directory=str(course),
                              assignment="assignment8", exercise="apply_affine_nearest")
    try:
        found = trusted.RemoteFunction(sandbox, "imports")()
    finally:
        sandbox.close()
    assert found["course_lib.datasets.digits"] is True and found["course_lib"] is True
    for name in ("course_lib.preprocessing", "course_lib.backend"):  # refused, or not found at all
        message = found[name + ".image" if name.endswith("preprocessing") else name]
        assert isinstance(message, str) and name in message, found


# Reads or appends to an absolute path through a descriptor of the working directory, with a
# relative path that a hook resolving from a deeper working directory would place inside it: the
# audit events do not report `dir_fd`, so a hook that trusted its own resolution was fooled.
DIR_FD_ATTACK = """
import os

def through_dir_fd(target, append=None):
    base = os.getcwd()
    descriptor = os.open(base, os.O_RDONLY)
    depth = len([part for part in base.split(os.sep) if part])
    deep = os.path.join(base, *["d"] * depth)
    os.makedirs(deep, exist_ok=True)
    os.chdir(deep)
    try:
        relative = "/".join([".."] * depth) + target
        if append is None:
            handle = os.open(relative, os.O_RDONLY, dir_fd=descriptor)
            return os.read(handle, 1 << 20).decode()
        handle = os.open(relative, os.O_WRONLY | os.O_APPEND, dir_fd=descriptor)
        os.write(handle, append.encode())
    finally:
        os.chdir(base)
"""


def test_a_directory_descriptor_does_not_open_the_course_directory(tmp_path, monkeypatch):
    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    answer = course / "solutions" / "relu_backward.py"
    answer.write_text("".join(cell(SOLUTION, "relu_backward_answer")["source"]))
    grading_file = course / "course_lib" / "grading" / "assignment1.py"
    grading_file.parent.mkdir(parents=True)
    grading_file.write_text("CHECKERS = 'honest'\n")
    # Outside the sandbox the attack does what it says: the test would not catch a broken attack.
    namespace = {}
    exec(DIR_FD_ATTACK, namespace)
    monkeypatch.chdir(tmp_path)
    assert namespace["through_dir_fd"](str(answer)) == answer.read_text()
    attack = submission(
        SOLUTION, relu_backward_answer=DIR_FD_ATTACK + f"exec(through_dir_fd({str(answer)!r}))\n",
        sgd_step_answer=DIR_FD_ATTACK + f"through_dir_fd({str(grading_file)!r}, 'forged = True')\n"
        + "".join(cell(SOLUTION, "sgd_step_answer")["source"]))
    result = trusted.grade_notebook(attack, course_directory=course)
    assert result["relu_backward"][0] == 0.0
    assert result["sgd_step"][0] == 0.0
    assert grading_file.read_text() == "CHECKERS = 'honest'\n"


# --- the hidden tests' inputs come from the course's own seed ---------------------------------------------


def test_the_course_seed_is_drawn_once_kept_private_and_never_the_self_checks(tmp_path, monkeypatch):
    monkeypatch.delenv(trusted.SEED_VARIABLE, raising=False)
    seed = trusted.grading_seed(tmp_path)
    assert seed != trusted.DEFAULT_SEED and trusted.grading_seed(tmp_path) == seed
    assert (tmp_path / trusted.SEED_FILE).stat().st_mode & 0o777 == 0o600
    (tmp_path / "another course").mkdir()
    assert trusted.grading_seed(tmp_path / "another course") != seed  # 1 chance in 2**31 to fail
    monkeypatch.setenv(trusted.SEED_VARIABLE, "42")
    assert trusted.grading_seed(tmp_path) == 42
    monkeypatch.delenv(trusted.SEED_VARIABLE)
    (tmp_path / trusted.SEED_FILE).write_text("0\n")
    with pytest.raises(ValueError, match="must hold one positive integer"):
        trusted.grading_seed(tmp_path)


def _recorded_answers(exercise):
    """A forged answer: a table of the reference's outputs for every input the self-check passes at seed 0."""
    import pickle

    from course_lib import ops

    reference = getattr(ops, exercise)
    table = {}

    def recorder(*args):
        table[pickle.dumps(args)] = reference(*args)
        return table[pickle.dumps(args)]

    assert NOTEBOOK.quiet(exercise, recorder) == FULL[exercise]
    return (f"import pickle\n_TABLE = pickle.loads({pickle.dumps(table)!r})\n"
            f"def {exercise}(*args):\n    return _TABLE.get(pickle.dumps(args))\n")


def test_a_table_of_the_self_checks_answers_earns_nothing_in_the_hidden_tests():
    forged = submission(SOLUTION, dense_forward_answer=_recorded_answers("dense_forward"),
                        relu_forward_answer=_recorded_answers("relu_forward"))
    # On the self-checks' inputs the table is perfect: the attack works where it can.
    assert scores(forged, seed=trusted.DEFAULT_SEED)["dense_forward"] == FULL["dense_forward"]
    course_seed = scores(forged, seed=20261201)
    assert course_seed["dense_forward"] == 0.0 and course_seed["relu_forward"] == 0.0
    assert scores(SOLUTION, seed=20261201) == FULL


# --- what a student is told ---------------------------------------------------------------------------------


def test_the_error_of_the_cell_that_defines_the_function_is_in_the_report():
    unfinished = submission(SOLUTION, relu_forward_answer="raise RuntimeError('not finished')\n"
                         + "".join(cell(SOLUTION, "relu_forward_answer")["source"]))
    report = trusted.grade_notebook(unfinished)["relu_forward"][2]
    assert "relu_forward is not defined" in report
    assert report.endswith("(cell relu_forward_answer stopped with RuntimeError: not finished)"), report


def test_a_checker_that_fails_costs_that_exercise_only(monkeypatch):
    module = registry.checker_module("assignment1")

    def broken(*args, **kwargs):
        raise KeyError("the grid world")

    monkeypatch.setitem(module._CHECKERS, "relu_forward", (broken, None))
    result = trusted.grade_notebook(SOLUTION, baseline=False)
    assert result["relu_forward"][0] == 0.0
    assert "relu_forward: grading stopped: KeyError: 'the grid world'" in result["relu_forward"][2]
    assert {name: points for name, (points, _, _) in result.items() if name != "relu_forward"} == \
        {name: points for name, points in FULL.items() if name != "relu_forward"}


def test_no_process_is_left_behind():
    marker = f"trusted-grader-test-{os.getpid()}"
    attack = submission(SOLUTION, dense_forward_answer=(
        "import subprocess\ntry:\n    subprocess.Popen(['sleep', '300', '" + marker + "'])\nexcept PermissionError:\n    pass\n" +
        "".join(cell(SOLUTION, "dense_forward_answer")["source"])))
    assert scores(attack)["dense_forward"] == FULL["dense_forward"]
    time.sleep(0.5)
    assert marker not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


def test_a_dying_kernel_costs_only_the_exercises_after_it():
    dies = submission(SOLUTION, relu_backward_answer="import os\nos._exit(3)\n")
    result = scores(dies)
    for name in ("dense_forward", "dense_backward", "relu_forward", "softmax_cross_entropy", "sgd_step"):
        assert result[name] == FULL[name], name
    assert result["relu_backward"] == 0.0 and result["train_mlp"] == 0.0


def test_an_endless_loop_that_ignores_sigint_is_bounded():
    loop = submission(SOLUTION, dense_forward_answer="import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n")
    start = time.monotonic()
    result = scores(loop, cells_seconds=3)
    assert time.monotonic() - start < 60
    # The looping cell is left out of every later try: only the exercise it held is lost.
    assert result == dict(FULL, dense_forward=0.0, dense_backward=0.0, train_mlp=0.0)


def test_stderr_memory_bombs_and_huge_output_do_not_change_honest_scores():
    noisy = submission(
        SOLUTION, dense_forward_answer="import logging\nlogging.warning('debugging')\nprint('x' * 100_000_000)\n"
        + "".join(cell(SOLUTION, "dense_forward_answer")["source"]).replace(
            "    return", "    import sys\n    print('to stderr', file=sys.stderr)\n    return", 1),
        softmax_cross_entropy_answer="try:\n    hog = bytearray(50 * 2**30)\nexcept MemoryError:\n    pass\n"
        + "".join(cell(SOLUTION, "softmax_cross_entropy_answer")["source"]),
    )
    assert scores(noisy) == FULL


@pytest.mark.parametrize("message", ["5", "('ready', __import__('collections').OrderedDict())"])
def test_a_forged_message_to_the_grader_costs_only_its_own_cell(message):
    """A cell writing its own message on the child's channel (fd 3) used to crash the whole grading
    (TypeError on a message that is no tuple, StudentCodeError on one of classes the grader refuses)."""
    forged = submission(SOLUTION, relu_forward_answer="".join(cell(SOLUTION, "relu_forward_answer")["source"]) + (
        f"\nimport os, pickle, struct\nforged = pickle.dumps({message})\n"
        "os.write(3, struct.pack('<Q', len(forged)) + forged)\n"))
    result = scores(forged)
    assert result == dict(FULL, relu_forward=0.0, relu_backward=0.0, train_mlp=0.0)  # that cell is left out


def test_copied_renamed_and_stripped_cells_are_graded_on_what_is_there():
    notebook = copy.deepcopy(SOLUTION)
    answer = cell(notebook, "dense_forward_answer")
    notebook["cells"].insert(notebook["cells"].index(answer), copy.deepcopy(answer))  # a pasted copy
    cell(notebook, "relu_forward_answer")["metadata"]["nbgrader"]["grade_id"] = "my_relu"  # renamed
    del cell(notebook, "sgd_step_answer")["metadata"]["nbgrader"]  # stripped
    assert scores(notebook) == FULL


def test_an_answer_that_is_not_plain_arrays_is_refused():
    sneaky = submission(SOLUTION, dense_forward_answer=(
        "class Liar:\n    def __array__(self, *a, **k):\n        import numpy\n        return numpy.zeros(1)\n"
        "def dense_forward(x, W, b):\n    return Liar(), None\n"))
    result = trusted.grade_notebook(sneaky)["dense_forward"]
    assert result[0] == 0.0 and "could not be" in result[2]


@pytest.mark.parametrize("assignment", sorted(registry.ASSIGNMENTS))
def test_every_stub_made_to_run_without_doing_the_work_scores_zero(assignment):
    """And the solution earns everything (the one trusted-grader run of each assignment's solution)."""
    notebook = Assignment(assignment)
    stubs = trusted.stubs_made_to_run(notebook.release)
    raw = {name: points for name, (points, _, _) in trusted.grade_notebook(stubs, assignment, baseline=False).items()}
    if assignment == "assignment1":
        assert raw["train_mlp"] > 0  # what the skeleton alone would have earned (an untrained net above chance)
    assert all(points == 0.0 for points in scores(stubs, assignment=assignment).values())
    assert notebook.trusted_scores(notebook.solution) == notebook.full


def test_the_class_command_grades_everyone_with_one_gradebook_writer(tmp_path):
    """`make grade`'s command on a small class: parallel trusted grading, then nbgrader once."""
    import sys

    from course_lib.grading.grade_class import scratch_course

    course = tmp_path / "course"
    env = scratch_course(REPO, course)
    class_ = {"ada": (SOLUTION, "assignment1.ipynb"), "bea": (RELEASE, "assignment1.ipynb"),
              "cy": (SOLUTION, "assignment1 (1).ipynb"), "dot": (None, "assignment1.ipynb")}
    for student, (notebook, filename) in class_.items():
        folder = course / "submitted" / student / "assignment1"
        folder.mkdir(parents=True)
        text = json.dumps(notebook) if notebook is not None else json.dumps(SOLUTION)[:5000]  # truncated JSON
        (folder / filename).write_text(text)
    result = subprocess.run([sys.executable, "-m", "course_lib.grading.grade_class", "assignment1", "--jobs=2"],
                            cwd=course, env=env, capture_output=True, text=True, timeout=600)
    table = result.stdout
    assert "graded 4 submissions" in table
    assert "took the parallel results" in table
    rows = {line.split()[0]: line for line in table.splitlines()[-5:] if line and not line.startswith("student")}
    assert "15 / 15" in rows["ada"] and "0 / 15" in rows["bea"]
    assert "15 / 15" in rows["cy"] and "was named 'assignment1 (1).ipynb'" in rows["cy"]
    assert "unreadable notebook" in rows["dot"]
