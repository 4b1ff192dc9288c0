"""The timed cases (assignments 5 and 8): the time an answer is charged is the CPU time it computes for.

A whole class graded at once, or a virtual machine slow to fault in a large
new array, can make an honest vectorised answer take several times its usual
wall-clock time (the course's own im2col once took 1.5 s where it computes
for 0.1 s, and lost half a point). What a Python loop costs is CPU time in
user mode, and that is what :func:`course_lib.grading.harness.timed_call`
charges: for the trusted grader's proxy it is read from outside the sandboxed
child, so nothing the student's code patches can change it.
"""
import os
import threading
import time

import numpy as np
import pytest
from graded_notebooks import Assignment, cell, submission

from course_lib.grading import harness, trusted

CLOCKS = """
import time

def spin(seconds, clock=time.thread_time):  # seconds of CPU time, however busy the machine
    started = clock()
    while clock() - started < seconds:
        for _ in range(20_000):  # Python work between two reads of the clock (each is a system call)
            pass
    return 1.0

def nap(seconds):
    time.sleep(seconds)
    return 1.0

def forge(seconds):
    import os, resource
    os.times = lambda: os.times_result((0.0, 0.0, 0.0, 0.0, 0.0))
    resource.getrusage = lambda who: None
    clock, time.process_time, time.thread_time = time.thread_time, (lambda: 0.0), (lambda: 0.0)
    return spin(seconds, clock)
"""

linux_only = pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/stat"),
                                reason="the sandbox's CPU time is read from /proc")


_LOCAL = {}
exec(CLOCKS, _LOCAL)  # the same functions, here


def _spinning(seconds):
    """An answer that computes for ``seconds`` of CPU time (however busy the machine), then answers right."""
    def answer(x):
        _LOCAL["spin"](seconds)
        return x * 2
    return answer


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    child = trusted.Sandbox([("clocks", CLOCKS)], str(tmp_path_factory.mktemp("sandbox")), course_directory=None)
    assert child.cell_failures == []
    yield child
    child.close()


@linux_only
@pytest.mark.parametrize("name", ["spin", "forge"])
def test_the_child_is_charged_for_the_work_it_does_whatever_it_patches(sandbox, name):
    _, seconds, clock = harness.timed_call(name, trusted.RemoteFunction(sandbox, name), 0.6)
    assert clock == "CPU" and 0.45 < seconds < 1.5, seconds


@linux_only
def test_the_child_is_not_charged_for_waiting_nor_for_the_grader_s_own_work(sandbox):
    started = time.perf_counter()
    _, seconds, clock = harness.timed_call("nap", trusted.RemoteFunction(sandbox, "nap"), 0.6)
    assert time.perf_counter() - started >= 0.6
    assert clock == "CPU" and seconds < 0.15, seconds
    before = sandbox.cpu_seconds()
    np.linalg.svd(np.random.default_rng(0).normal(size=(400, 400)))  # the grader's work, in this process
    assert sandbox.cpu_seconds() - before < 0.05


def test_in_the_student_s_own_kernel_the_clock_is_the_calling_thread_s_cpu_time():
    _, seconds, clock = harness.timed_call("nap", lambda: time.sleep(0.4))
    assert clock == "CPU" and seconds < 0.1, seconds
    _, seconds, _ = harness.timed_call("spin", _spinning(0.4), 1.0)
    assert 0.3 < seconds < 1.0, seconds
    # Another thread's work (TensorFlow's or BLAS's idle workers spin after their last task) is not charged.
    if hasattr(harness.resource, "RUSAGE_THREAD"):
        busy = threading.Thread(target=_LOCAL["spin"], args=(0.4,))
        busy.start()
        _, seconds, _ = harness.timed_call("nap beside a busy thread", lambda: time.sleep(0.4))
        busy.join()
        assert seconds < 0.1, seconds


def _run(student, floor=0.5, cap=1.0, time_limit=3.0):
    run = harness.speed_case(
        "answer", student, lambda: (np.arange(3.0),), lambda: np.arange(3.0) * 2,
        lambda expected, received: None if np.array_equal(expected, received) else "the output differs",
        work="three numbers", vectorise="vectorise it", loop="is there a loop?",
        factor=15.0, floor=floor, cap=cap, time_limit=time_limit)
    notes = []
    return run(notes), notes


def test_a_right_answer_slowed_by_a_busy_machine_passes():
    def slowed(x):
        time.sleep(1.2)  # longer than the budget of wall-clock time, spent waiting, not computing
        return x * 2
    parts, notes = _run(slowed)
    assert parts == [(1, None)], notes
    assert "s of CPU time on three numbers" in notes[0] and "at most 0.5 s accepted" in notes[0]


def test_a_right_answer_that_computes_for_too_long_fails_and_says_why():
    parts, notes = _run(_spinning(1.2))
    (_, reason), = parts
    assert reason.startswith("took 1.") and "of CPU time on three numbers, more than the 0.5 s accepted: " \
        "is there a loop?" in reason, reason


def test_a_wrong_answer_is_reported_as_wrong_however_fast_and_an_endless_one_is_stopped():
    parts, _ = _run(lambda x: x)
    assert parts == [(1, "the output differs")]
    started = time.perf_counter()
    with pytest.raises(harness.StudentCodeError, match="did not return within 1 s on three numbers: vectorise it"):
        _run(_spinning(30.0), time_limit=1.0)
    assert time.perf_counter() - started < 5


@pytest.mark.slow
@linux_only
def test_the_solution_s_im2col_keeps_its_points_when_the_machine_is_slow():
    """A vectorised convolution that waits 2 s on the timed image (a stand-in for a loaded grading
    machine) earns every point through the trusted grader; before, 1.5 s of wall-clock time was
    the budget and the solution itself lost the timed case on a busy machine."""
    notebook = Assignment("assignment5")
    answer = "".join(cell(notebook.solution, "conv2d_forward_answer")["source"])
    slowed = answer.replace('    ### BEGIN SOLUTION\n',
                            '    ### BEGIN SOLUTION\n    if x.size > 10**6:\n        __import__("time").sleep(2.0)\n', 1)
    assert slowed != answer
    report = trusted.grade_notebook(submission(notebook.solution, conv2d_forward_answer=slowed),
                                    "assignment5")["conv2d_forward"]
    assert report[0] == notebook.full["conv2d_forward"], report[2]
    assert "s of CPU time on an image of 2359296 output positions" in report[2], report[2]

