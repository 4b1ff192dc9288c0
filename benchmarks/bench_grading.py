"""Grade a class of N submissions of assignment 1 (default 100) with `make grade`'s command, timed.

The class is a mix, as a real one: correct work, partial work (a softmax
without the max shift, an SGD step that rebinds), broken work (a backward that
raises, a cell that raises before its def), untouched releases, endless loops
and forged outputs. It is built in a temporary copy of the course directory;
nothing is written into the repository.

Usage: python benchmarks/bench_grading.py [--students N] [--jobs J]
"""
import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cells(notebook):
    return {c["metadata"].get("nbgrader", {}).get("grade_id"): c for c in notebook["cells"]}


def _variants(release, solution):
    answers = {gid: "\n".join(line for line in "".join(c["source"]).split("\n") if "SOLUTION" not in line)
               for gid, c in _cells(solution).items() if c["metadata"].get("nbgrader", {}).get("solution")}

    def build(**replace):
        notebook = copy.deepcopy(release)
        for gid, cell in _cells(notebook).items():
            if gid in answers:
                cell["source"] = replace.get(gid, answers[gid])
        return notebook

    stub = copy.deepcopy(release)
    forged = copy.deepcopy(release)
    _cells(forged)["dense_forward_answer"]["source"] = (
        "get_ipython().ast_node_interactivity = 'none'\n" + "".join(_cells(release)["dense_forward_answer"]["source"]))
    return [
        ("correct", 40, build()),
        ("partial", 20, build(sgd_step_answer=(
            "def sgd_step(params, grads, learning_rate):\n    for k in params:\n"
            "        params[k] = params[k] - learning_rate * grads[k]\n"))),
        ("broken", 20, build(dense_backward_answer="def dense_backward(dout, cache):\n    raise ValueError('todo')\n")),
        ("untouched", 10, stub),
        ("loop", 5, build(relu_forward_answer="while True:\n    pass\n")),
        ("forged", 5, forged),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    release = json.loads((REPO / "exercises" / "assignment1" / "assignment1.ipynb").read_text())
    solution = json.loads((REPO / "solutions" / "assignment1" / "assignment1.ipynb").read_text())
    from course_lib.grading.grade_class import scratch_course

    with tempfile.TemporaryDirectory() as scratch:
        course = Path(scratch) / "course"
        env = scratch_course(REPO, course)
        plan = []
        for kind, share, notebook in _variants(release, solution):
            plan += [(kind, notebook)] * share
        for index in range(args.students):
            kind, notebook = plan[index % len(plan)]
            folder = course / "submitted" / f"s{index:03d}-{kind}" / "assignment1"
            folder.mkdir(parents=True)
            (folder / "assignment1.ipynb").write_text(json.dumps(notebook))
        start = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "course_lib.grading.grade_class", "assignment1",
                                 f"--jobs={args.jobs}"], cwd=course, env=env, capture_output=True, text=True)
        elapsed = time.monotonic() - start
        print(result.stdout[-3000:])
        # The class command's own summary ("graded N submissions ...", "nbgrader autograde: K of N
        # notebooks took the parallel results"), which the table above may have pushed out.
        for line in result.stdout.splitlines():
            if line.startswith(("graded ", "nbgrader autograde:")):
                print(line)
        if result.returncode:
            print(result.stderr[-3000:])
        print(f"{args.students} submissions on {args.jobs} cores: {elapsed:.1f} s wall "
              f"({elapsed / args.students:.2f} s per submission), exit {result.returncode}")


if __name__ == "__main__":
    main()
