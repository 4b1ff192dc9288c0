"""The trusted grader: scores come from this process, never from the student's kernel.

For each exercise of a submitted notebook it starts a fresh sandboxed child
(:mod:`course_lib.grading.sandbox`) in a scratch directory, which runs the
submission's own code cells up to that exercise (never the hidden tests),
then answers calls. The exercise's checker runs *here*, with the reference
kernels of this process, and calls the student's function through a proxy:
its arguments are pickled to the child, its results (plain arrays) are
unpickled here by an unpickler that builds nothing but NumPy arrays and
Python containers. Whatever the notebook prints, patches or forges cannot
change a score, and a child that dies, loops or runs out of memory costs
that one exercise.

It plugs into nbgrader as :class:`course_lib.grading.nbgrader_plugins.TrustedExecute`,
which takes the place of nbgrader's ``Execute`` in ``Autograde.autograde_preprocessors``
(``nbgrader_config.py``): instructors keep ``nbgrader autograde`` and
``generate_feedback``; the graded cells simply show the trusted points and
the reasons. ``python -m course_lib.grading.trusted NOTEBOOK`` grades one
notebook from the command line.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy

from course_lib.grading import registry
from course_lib.grading.harness import StudentCodeError

SANDBOX = Path(__file__).with_name("sandbox.py")
COURSE_LIB = Path(__file__).resolve().parents[1]
COURSE_DIRECTORY = COURSE_LIB.parent
# What a checker call may take, and the child altogether (it also runs the cells).
CALL_SECONDS = 60.0
CELLS_SECONDS = 30.0  # the reference notebook's cells take about 2 s
LIMITS = {"RLIMIT_AS": 4 << 30, "RLIMIT_FSIZE": 64 << 20, "RLIMIT_NOFILE": 256, "RLIMIT_CPU": 600}
MAX_MESSAGE = 256 << 20
DEFAULT_SEED = 0
"""The seed of the self-checks (``grading.check``): anyone can see their inputs, so grading never uses it."""
SEED_FILE = ".grader_seed"
"""Under the course directory, the instructor's seed of the hidden tests' inputs (made at random, git-ignored)."""
SEED_VARIABLE = "COURSE_GRADER_SEED"


def grading_seed(course_directory=None):
    """The seed the checkers draw the hidden tests' inputs from.

    ``$COURSE_GRADER_SEED`` if set, otherwise the number in the course
    directory's :data:`SEED_FILE`, written at random the first time. The
    sandbox cannot read the course directory, and the seed is never
    :data:`DEFAULT_SEED`, so the inputs of the graded calls are not those a
    student can record with the self-checks: a table of recorded answers earns
    nothing. The same seed for the whole class (and for regrading) keeps scores
    reproducible.
    """
    given = os.environ.get(SEED_VARIABLE, "").strip()
    if given:
        try:
            return int(given)
        except ValueError:
            raise ValueError(f"grading_seed: {SEED_VARIABLE} must be an integer. Received: {given!r}") from None
    path = Path(course_directory or COURSE_DIRECTORY) / SEED_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        import secrets

        with os.fdopen(descriptor, "w") as handle:  # O_EXCL: parallel graders agree on the first one written
            handle.write(f"{DEFAULT_SEED + 1 + secrets.randbelow(2**31 - 2)}\n")
    text = path.read_text().strip()
    if not text.isdigit() or int(text) == DEFAULT_SEED:
        raise ValueError(f"grading_seed: {path} must hold one positive integer (the hidden tests' seed), "
                         f"not {text[:40]!r}; delete it to draw a new one")
    return int(text)


def seed_argument(checker, seed):
    """``{"seed": seed}`` for a checker that draws its inputs from a seed, ``{}`` for one with fixed cases."""
    import inspect

    return {"seed": seed} if "seed" in inspect.signature(checker).parameters else {}


# What an assignment's answers may not use: the reference implementation and the checkers
# (every registered assignment's checker module, whose references answer the exercises,
# and the grading modules that import them).
LIBRARY_MODULES = ("course_lib.ops", "course_lib.layers", "course_lib.models", "course_lib.testing",
                   "course_lib.training")
"""The library itself: forbidden where the exercises rebuild it, the tool where they use it."""
FORBIDDEN_MODULES = LIBRARY_MODULES + registry.module_names() + (
                     "course_lib.grading.registry", "course_lib.grading.harness", "course_lib.grading.trusted",
                     "course_lib.grading.grade_class", "course_lib.grading.nbgrader_plugins",
                     "tensorflow", "keras", "torch", "jax", "sklearn")


def forbidden_modules(assignment, exercise=None):
    """What ``assignment``'s answers (or ``exercise``'s) may not import: everything above, less the library
    where they use it, plus what the assignment's checker module adds in ``FORBIDDEN_MODULES`` (assignment 8
    forbids SciPy and the image libraries whose warps would do its exercises). That is a tuple for every
    exercise, or a dict from exercise to tuple (``exercise`` None: what every exercise forbids)."""
    extra = getattr(registry.checker_module(assignment), "FORBIDDEN_MODULES", ())
    if isinstance(extra, dict):
        extra = extra.get(exercise, ()) if exercise is not None else tuple(
            set.intersection(*(set(names) for names in extra.values())) if extra else ())
    extra = tuple(extra)
    if registry.uses_course_lib(assignment, exercise):
        return tuple(name for name in FORBIDDEN_MODULES if name not in LIBRARY_MODULES) + extra
    return FORBIDDEN_MODULES + extra


class _ChildDied(Exception):
    pass


class _SafeUnpickler(pickle.Unpickler):
    """Builds NumPy arrays, NumPy scalars and Python containers, nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("builtins", "complex"), ("builtins", "slice"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        if module == "numpy" and name in numpy.sctypeDict and isinstance(getattr(numpy, name, None), type):
            return getattr(numpy, name)
        if module.startswith("numpy.dtypes") and name.endswith("DType"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"the grader does not accept a {module}.{name} from student code")


class Sandbox:
    """One child process: the submission's cells, then calls of its functions."""

    def __init__(self, cells, scratch, cells_seconds=CELLS_SECONDS, course_directory=str(COURSE_DIRECTORY),
                 assignment="assignment1", exercise=None):
        self.scratch = scratch
        library = registry.uses_course_lib(assignment, exercise)  # the answers build with course_lib itself
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(SANDBOX)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, cwd=scratch, env={"PATH": "/usr/bin:/bin", "HOME": scratch,
                                                          "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
            start_new_session=True,  # its own process group: killed whole at the end
        )
        self._send({
            "scratch": scratch, "cells": cells, "limits": LIMITS, "course_directory": course_directory,
            "library_folder": str(COURSE_LIB),
            "readable": [str(COURSE_LIB if library else COURSE_LIB / "datasets")],
            "blocked_modules": forbidden_modules(assignment, exercise), "library": library,
            "datasets_file": str(COURSE_LIB / "datasets" / "digits.py"),
        })
        # Cells run in order; the child says which one starts. If the process ends or a cell
        # outlives the limit, `fatal_cell` names it, so that the grader can try again without it.
        self.cell_failures, self.fatal_cell = None, None
        deadline = time.monotonic() + cells_seconds
        running = None
        while True:
            try:
                reply = self._receive(max(0.0, deadline - time.monotonic()))
            except (TimeoutError, StudentCodeError):  # out of time, or a message of classes it never sends
                reply = None
            kind, *rest = reply or (None,)
            if kind == "running" and len(rest) == 1 and isinstance(rest[0], int) and 0 <= rest[0] < len(cells):
                running = rest[0]
                continue
            if kind == "ready" and len(rest) == 1:
                self.cell_failures = rest[0]
                return
            # Gone, out of time, or a message the child never sends (a cell that forged one): that cell is out.
            self.fatal_cell = running
            return

    def _send(self, message):
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.process.stdin.write(struct.pack("<Q", len(data)) + data)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise _ChildDied() from None

    def _read(self, size, deadline):
        chunks, remaining = [], size
        stream = self.process.stdout
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError()
            ready, _, _ = select.select([stream], [], [], max(0.0, min(1.0, deadline - time.monotonic())))
            if not ready:
                continue
            chunk = os.read(stream.fileno(), min(remaining, 1 << 20))
            if not chunk:
                raise _ChildDied()
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _receive(self, seconds):
        deadline = time.monotonic() + seconds
        try:
            (size,) = struct.unpack("<Q", self._read(8, deadline))
            if size > MAX_MESSAGE:
                raise _ChildDied()
            message = _SafeUnpickler(io.BytesIO(self._read(size, deadline))).load()
            if not (isinstance(message, tuple) and message and isinstance(message[0], str)):
                raise _ChildDied()  # every message of the child is a tuple led by its kind: this one was forged
            return message
        except TimeoutError:
            self.close()
            raise
        except (_ChildDied, pickle.UnpicklingError, EOFError, ValueError, struct.error) as error:
            self.close()
            if isinstance(error, pickle.UnpicklingError):
                raise StudentCodeError(f"the answer could not be read: {error}") from None
            return None

    def call(self, name, args, seconds=CALL_SECONDS):
        """The child's reply to one call, or None when the child is gone."""
        try:
            self._send((name, args, {}))
        except _ChildDied:
            self.close()
            return None
        return self._receive(seconds)

    def cpu_seconds(self):
        """User-mode CPU seconds the child has used so far (all its threads), read from outside it
        (``/proc``, so that nothing the child runs can forge them); None where that cannot be read."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return int(fields[11]) / os.sysconf("SC_CLK_TCK")  # utime, the 14th field
        except (OSError, ValueError, IndexError):
            return None

    def close(self):
        # The whole process group, whether the child still runs or not: anything it started goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                stream.close()


class RemoteFunction:
    """The student's function as a checker sees it: called here, run in the sandbox."""

    def __init__(self, sandbox, name):
        self.sandbox, self.__name__ = sandbox, name

    def cpu_seconds(self):
        """The clock of :func:`course_lib.grading.harness.timed_call`: the child's CPU time."""
        return self.sandbox.cpu_seconds()

    def __call__(self, *args):
        try:
            reply = self.sandbox.call(self.__name__, args)
        except TimeoutError:
            from course_lib.grading.harness import _TimeLimitReached

            raise _TimeLimitReached() from None
        if reply is None:
            raise StudentCodeError(
                f"{self.__name__}: the process running your code ended (os._exit, exit(), the memory "
                "limit, a crash?)", fatal=True)
        kind = reply[0]
        if kind == "ok":
            _, result, after = reply
            _apply_in_place(args, after)
            return result
        if kind == "missing":
            raise StudentCodeError(f"{self.__name__} is not defined: did the cell that defines it run "
                                   "without an error?")
        if kind == "not_callable":
            raise StudentCodeError(f"{self.__name__}: expected a function, received a {reply[1]}")
        if kind == "raised":
            raise type(reply[1], (Exception,), {})(reply[2])
        raise StudentCodeError(f"{self.__name__}: its result could not be sent back ({reply[1]})")


def _apply_in_place(args, after):
    """Mirror what the call did to its arguments: updated arrays in place, rebound entries rebound."""
    for original, changed in zip(args, after):
        if isinstance(original, numpy.ndarray) and isinstance(changed, numpy.ndarray) \
                and changed.shape == original.shape:
            original[...] = changed
        elif isinstance(original, dict) and isinstance(changed, dict):
            for key in list(original):
                if key not in changed:
                    del original[key]
            for key, (value, same_object) in changed.items():
                target = original.get(key)
                if same_object and isinstance(target, numpy.ndarray) and isinstance(value, numpy.ndarray) \
                        and value.shape == target.shape:
                    target[...] = value
                else:
                    original[key] = value


# ------------------------------------------------------------------ notebook
def _code_cells(notebook):
    """``(label, source, metadata)`` of the code cells, in order."""
    cells = []
    for position, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        cells.append((meta.get("grade_id") or f"cell {position}", source, meta))
    return cells


def _definitions(source):
    """The names of the functions and classes a cell defines at its top level (none for a cell that cannot parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _defines(source, name):
    return name in _definitions(source)


def _bindings(node):
    """``(name, module)`` for each name an import statement binds; ``[]`` for any other node."""
    if isinstance(node, ast.Import):
        return [(alias.asname or alias.name.split(".")[0], alias.name if alias.asname else alias.name.split(".")[0])
                for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [(alias.asname or alias.name, f"{node.module}.{alias.name}") for alias in node.names]
    return []


def import_aliases(sources):
    """``{name: module}`` for every name the sources' imports bind (``import course_lib as keras``)."""
    aliases = {}
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            aliases.update(_bindings(node))
    return aliases


def policy_violation(source, forbidden=FORBIDDEN_MODULES, aliases=None):
    """The module of ``forbidden`` an answer's source imports or names, or None.

    ``aliases`` (:func:`import_aliases` of the notebook's cells) resolves a name
    such as ``keras.layers`` to the module it was imported as, so that
    ``import course_lib as keras`` is not mistaken for Keras.
    """
    aliases = aliases or {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        names = [module for _, module in _bindings(node)]
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]  # `import a.b` imports a.b, binding only a
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Attribute):
            parts = []
            current = node
            while isinstance(current, ast.Attribute):
                parts.append(current.attr)
                current = current.value
            if isinstance(current, ast.Name):
                names = [".".join([aliases.get(current.id, current.id)] + parts[::-1])]
        for name in names:
            for module in forbidden:
                if name == module or name.startswith(module + "."):
                    return module
    return None


def grade_notebook(notebook, assignment="assignment1", cells_seconds=None, course_directory=None,
                   baseline=True, seed=None):
    """Trusted scores of a notebook (a dict as nbformat reads it).

    Credit starts from what the release itself earns: each exercise's points
    are rescaled so that the release's stubs, made to run without doing the
    work (the release's NotImplementedError line deleted), score 0 and a
    perfect answer the full points (an untrained network above chance earns
    nothing, for example).

    Args:
        cells_seconds: wall-clock limit for running the cells before an exercise
            (``CELLS_SECONDS`` by default).
        course_directory: the directory the sandbox must not read or write
            (the repository root, where nbgrader keeps the gradebook and submissions).
        baseline: False grades without subtracting what the release's stubs earn.
        seed: the seed of the checkers' inputs; :func:`grading_seed` of the course directory by default.

    Returns:
        ``{exercise: (points, max_points, report)}`` where ``report`` is the
        checker's printed reasons (never the hidden tests).
    """
    checkers = registry.checkers(assignment)
    exercise_points = registry.default_points(assignment)
    seed = grading_seed(course_directory) if seed is None else seed
    cells = _code_cells(notebook)
    results, skipped = {}, set()
    for exercise, (checker, partner) in checkers.items():
        maximum = float(exercise_points[exercise])
        # The code a kernel would have run before this exercise's hidden tests: every code
        # cell before the (first) test cell, except other test cells; a renamed or copied
        # cell still counts, since the functions are found by name.
        position = next((i for i, (label, _, _) in enumerate(cells) if label == f"{exercise}_tests"), None)
        if position is None:
            position = max((i + 1 for i, (_, source, _) in enumerate(cells) if _defines(source, exercise)),
                           default=len(cells))
        runnable = [(label, source) for label, source, meta in cells[:position] if not meta.get("grade")]
        # The student's own code for this exercise: the cells that define its functions, and the
        # editable cells of its section (between the previous exercise's tests and its own).
        start = max((i + 1 for i, (label, _, meta) in enumerate(cells[:position])
                     if meta.get("grade") and label.endswith("_tests")), default=0)
        answers = [source for label, source, meta in cells[:position] if not meta.get("grade") and (
            _defines(source, exercise) or (partner and _defines(source, partner))
            or (cells.index((label, source, meta)) >= start and not meta.get("locked")))]
        aliases = import_aliases([source for _, source in runnable])
        not_allowed = forbidden_modules(assignment, exercise)
        forbidden = next((v for v in (policy_violation(a, not_allowed, aliases) for a in answers) if v), None)
        if forbidden:
            results[exercise] = (0.0, maximum, f"{exercise}: your answer uses {forbidden}, which this "
                                 f"assignment does not allow (write it yourself): 0 / {maximum:g} points")
            continue
        results[exercise] = _grade_one(exercise, checker, partner, runnable, maximum,
                                       cells_seconds or CELLS_SECONDS, skipped,
                                       str(course_directory or COURSE_DIRECTORY), assignment, seed)
    if baseline:
        floors = release_baseline(assignment, course_directory, seed)
        for exercise, (points, maximum, report) in results.items():
            floor = floors.get(exercise, 0.0)
            if floor > 0:
                credited = 0.0 if floor >= maximum else max(0.0, points - floor) * maximum / (maximum - floor)
                report += (f"\n(credit counts from what the release's own code earns, {floor:.2f} points: "
                           f"{credited:.2f} / {maximum:g} points)")
                results[exercise] = (credited, maximum, report)
    return results


_BASELINES = {}
_STUB_LINE = f"raise {NotImplementedError.__name__}()"  # the line each answer cell of a release holds
CACHE_FOLDER = ".trusted_cache"
"""Under the course directory: results the class command computed in parallel, by notebook digest."""


def notebook_digest(notebook, assignment="assignment1", seed=DEFAULT_SEED):
    """A digest of exactly what :func:`grade_notebook` reads: the code cells, their ids and grade flags,
    and the seed of the inputs."""
    import hashlib

    # A graded cell's source is never run (nbgrader puts the hidden tests back into it): only its place counts.
    cells = [(label, "" if meta.get("grade") else source, bool(meta.get("grade")))
             for label, source, meta in _code_cells(notebook)]
    return hashlib.sha256(json.dumps([assignment, seed, cells]).encode("utf-8")).hexdigest()


def cached_results(notebook, assignment, course_directory):
    """Results stored by the class command for this very notebook content, or None."""
    digest = notebook_digest(notebook, assignment, grading_seed(course_directory))
    path = Path(course_directory) / CACHE_FOLDER / f"{digest}.json"
    if not path.exists():
        return None
    stored = json.loads(path.read_text(encoding="utf-8"))
    return {exercise: tuple(value) for exercise, value in stored.items()}


def store_results(notebook, assignment, course_directory, results):
    folder = Path(course_directory) / CACHE_FOLDER
    folder.mkdir(exist_ok=True)
    digest = notebook_digest(notebook, assignment, grading_seed(course_directory))
    (folder / f"{digest}.json").write_text(json.dumps(results), encoding="utf-8")


def stubs_made_to_run(release):
    """The release with each stub's NotImplementedError line deleted: stubs that run but do no work."""
    notebook = json.loads(json.dumps(release))
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code" and (cell.get("metadata") or {}).get("nbgrader", {}).get("solution"):
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            cell["source"] = "\n".join(line for line in source.split("\n")
                                       if line.strip() != _STUB_LINE)
    return notebook


def release_baseline(assignment, course_directory=None, seed=None):
    """Per exercise, the points the release's stubs earn once made to run (cached per release file and seed)."""
    seed = grading_seed(course_directory) if seed is None else seed
    path = Path(course_directory or COURSE_DIRECTORY) / "exercises" / assignment / f"{assignment}.ipynb"
    if not path.exists():
        path = COURSE_DIRECTORY / "exercises" / assignment / f"{assignment}.ipynb"
    key = (str(path), path.stat().st_mtime_ns, seed)
    if key not in _BASELINES:
        release = json.loads(path.read_text(encoding="utf-8"))
        graded = grade_notebook(stubs_made_to_run(release), assignment, course_directory=course_directory,
                                baseline=False, seed=seed)
        _BASELINES[key] = {exercise: points for exercise, (points, _, _) in graded.items()}
    return _BASELINES[key]


def _own_failures(failures, runnable, names, limit=3):
    """The errors of the cells that define this exercise's functions, or no function at all (imports, set-up),
    as the child reported them: "label: Error: message" (the student's own text: strings only, shortened)."""
    if not isinstance(failures, list):
        return []
    labels = {label for label, source in runnable
              if not _definitions(source) or _definitions(source) & set(names)}
    own = [failure[:400] for failure in failures
           if isinstance(failure, str) and failure.split(":", 1)[0] in labels]
    return [failure.replace(":", " stopped with", 1) for failure in own[:limit]]


def _grade_one(exercise, checker, partner, runnable, maximum, cells_seconds, skipped, course_directory,
               assignment, seed):
    """Grade one exercise in a child of its own; a cell that kills the child or never ends is
    left out (and remembered in ``skipped`` for the later exercises) and the child started again."""
    with tempfile.TemporaryDirectory(prefix="trusted-grader-") as scratch:
        while True:
            cells = [cell for cell in runnable if cell[0] not in skipped]
            sandbox = Sandbox(cells, scratch, cells_seconds, course_directory, assignment, exercise)
            if sandbox.cell_failures is not None or sandbox.fatal_cell is None:
                break
            sandbox.close()
            skipped.add(cells[sandbox.fatal_cell][0])
        try:
            if sandbox.cell_failures is None:
                return (0.0, maximum, f"{exercise}: running your notebook's cells ended the process: "
                        f"0 / {maximum:g} points")
            printed = io.StringIO()
            functions = [RemoteFunction(sandbox, exercise)] + ([RemoteFunction(sandbox, partner)] if partner else [])
            with contextlib.redirect_stdout(printed):
                try:
                    points = float(checker(*functions, **seed_argument(checker, seed)))
                except Exception as error:  # whatever the answer did, it costs this exercise, not the class
                    points = 0.0
                    print(f"{exercise}: grading stopped: {type(error).__name__}: {str(error)[:300]}; "
                          f"0 / {maximum:g} points")
            left_out = [label for label, _ in runnable if label in skipped]
            notes = "".join(f"\n(cell {label} was left out: it ended the process running your code or "
                            f"did not finish within {cells_seconds:g} s)" for label in left_out)
            notes += "".join(f"\n(cell {failure})" for failure in _own_failures(sandbox.cell_failures, runnable,
                                                                                 (exercise, partner)))
            return (min(max(points, 0.0), maximum), maximum, printed.getvalue().strip() + notes)
        finally:
            sandbox.close()


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Grade one notebook with the trusted grader.")
    parser.add_argument("notebook")
    parser.add_argument("--assignment", default=None,
                        help=f"one of {sorted(registry.ASSIGNMENTS)} (default: the notebook's file name)")
    args = parser.parse_args(argv)
    try:
        notebook = json.loads(Path(args.notebook).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"{args.notebook}: not a readable notebook ({error}); nothing graded")
        return 1
    assignment = args.assignment or Path(args.notebook).stem
    if assignment not in registry.ASSIGNMENTS:
        print(f"{args.notebook}: no checkers for assignment {assignment!r} (known: {sorted(registry.ASSIGNMENTS)}); "
              "pass --assignment")
        return 1
    total = 0.0
    for exercise, (points, maximum, report) in grade_notebook(notebook, assignment).items():
        total += points
        print(f"{exercise}: {points:g} / {maximum:g}")
    print(f"total: {total:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
