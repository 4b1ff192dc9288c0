"""Grade a whole class: ``python -m course_lib.grading.grade_class ASSIGNMENT`` (or ``make grade``).

1. Finds every submission in ``submitted/<student>/<assignment>/``; a notebook
   saved under a slightly different name (``assignment1 (1).ipynb``) is taken
   as the assignment's notebook when it is the only one, and said so.
2. Grades them in parallel on all cores with the trusted grader (each
   exercise in its own sandboxed child), with a progress bar, after putting
   back the read-only cells from the release as nbgrader would; the results
   are stored by notebook content.
3. Runs ``nbgrader autograde`` once, the one writer of the gradebook, which
   finds those results instead of grading again (anything that differs is
   graded there), then prints a table: student, score, and what went wrong.

A submission that cannot be read (truncated JSON, say) is reported in the
table and the others are graded as usual.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from course_lib.grading import registry, trusted


def scratch_course(repository, target, assignment="assignment1"):
    """A copy of the course directory at ``target`` with ``assignment`` registered in a fresh gradebook.

    For trying the grading on made-up submissions (the benchmark, the tests)
    without touching the real gradebook. Returns the environment to run
    nbgrader with (the interpreter's folder first on PATH: nbgrader runs alembic).
    """
    import shutil

    repository, target = Path(repository), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for name in ("solutions", "exercises"):
        shutil.copytree(repository / name, target / name)
    shutil.copy(repository / "nbgrader_config.py", target / "nbgrader_config.py")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
                    "--CourseDirectory.release_directory=regenerated"], cwd=target, env=env, check=True,
                   capture_output=True)
    return env


def _restored(submission, release):
    """The submission with the release's read-only cells put back (what nbgrader's sanitizing does)."""
    locked = {}
    for cell in release.get("cells", []):
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if meta.get("locked") and meta.get("grade_id"):
            locked[meta["grade_id"]] = cell.get("source", "")
    for cell in submission.get("cells", []):
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if meta.get("grade_id") in locked:
            cell["source"] = locked[meta["grade_id"]]
    return submission


def find_submissions(course, assignment):
    """``{student: notebook path}`` and ``{student: problem}`` for the submitted folder."""
    found, problems = {}, {}
    for folder in sorted((course / "submitted").glob(f"*/{assignment}")):
        student = folder.parent.name
        expected = folder / f"{assignment}.ipynb"
        notebooks = sorted(folder.glob("*.ipynb"))
        if expected.exists():
            found[student] = expected
        elif len(notebooks) == 1:
            notebooks[0].rename(expected)
            found[student] = expected
            problems[student] = f"notebook was named {notebooks[0].name!r}: graded as {expected.name}"
        else:
            problems[student] = f"no {expected.name} among {[n.name for n in notebooks]}"
    return found, problems


def _grade(path, assignment, course, release):
    """Grade one submission and store its results for nbgrader; returns a problem to report, or None."""
    try:
        submission = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return f"unreadable notebook ({type(error).__name__}: {str(error)[:80]})"
    notebook = _restored(submission, release)
    results = trusted.grade_notebook(notebook, assignment, course_directory=course)
    trusted.store_results(notebook, assignment, course, results)
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignment", choices=sorted(registry.ASSIGNMENTS))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--course", default=".", help="the course directory (default: here)")
    args = parser.parse_args(argv)
    course = Path(args.course).resolve()
    release = json.loads((course / "exercises" / args.assignment / f"{args.assignment}.ipynb").read_text())
    submissions, problems = find_submissions(course, args.assignment)
    started = time.monotonic()
    trusted.release_baseline(args.assignment, course)  # once, before the workers need it
    done = 0
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(_grade, path, args.assignment, course, release): student
                   for student, path in submissions.items()}
        for future in concurrent.futures.as_completed(futures):
            done += 1
            problem = future.result()
            if problem:
                problems[futures[future]] = problem
            width = 30
            filled = width * done // max(1, len(futures))
            print(f"\rgrading [{'=' * filled}{'.' * (width - filled)}] {done}/{len(futures)}", end="", flush=True)
    print(f"\ngraded {len(submissions)} submissions in {time.monotonic() - started:.1f} s "
          f"({(time.monotonic() - started) / max(1, len(submissions)):.2f} s each on {args.jobs} workers)")
    command = [sys.executable, "-m", "nbgrader", "autograde", args.assignment]
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    result = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True)
    reused = (result.stdout + result.stderr).count("are reused")
    print(f"nbgrader autograde: {reused} of {len(submissions)} notebooks took the parallel results")
    if result.returncode != 0:
        problems["(nbgrader)"] = "autograde reported errors; see its log above"
        print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
    _print_table(course, args.assignment, problems)
    return 0 if result.returncode == 0 else 1


def _print_table(course, assignment, problems):
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        rows = []
        for student in sorted(s.id for s in gradebook.students):
            try:
                submission = gradebook.find_submission(assignment, student)
                rows.append((student, f"{submission.score:g} / {submission.max_score:g}", problems.get(student, "")))
            except MissingEntry:
                rows.append((student, "-", problems.get(student, "no submission")))
    width = max([len(r[0]) for r in rows] + [7])
    print(f"{'student':<{width}}  {'score':>11}  notes")
    for student, score, note in rows:
        print(f"{student:<{width}}  {score:>11}  {note}")
    for student, note in problems.items():
        if student not in {r[0] for r in rows}:
            print(f"{student:<{width}}  {'-':>11}  {note}")


if __name__ == "__main__":
    sys.exit(main())
