"""The machinery every checker shares: calling student code safely, comparing
arrays with a readable reason, and turning passed cases into points.

A checker never raises because of the student's code: whatever the student's
function does (raise, loop, print to stderr, return the wrong type) becomes a
line of explanation and fewer points. That keeps nbgrader's traceback (which
would show the hidden test) out of the student's feedback.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import reprlib
import signal
import threading
import time
import warnings

try:
    import resource
except ImportError:  # not on Windows
    resource = None

import numpy

RELATIVE_TOLERANCE = 1e-6
"""Largest accepted relative error for float64 results (CS231n's rule of thumb)."""


class StudentCodeError(Exception):
    """The student's function failed; ``str(error)`` is the reason shown to the student.

    ``fatal`` marks failures (an endless loop) after which running more cases
    would only waste the time limit again.
    """

    def __init__(self, reason: str, fatal: bool = False):
        super().__init__(reason)
        self.fatal = fatal


class _TimeLimitReached(BaseException):
    # BaseException, not Exception: a student's ``except Exception`` must not
    # swallow the alarm and keep looping.
    pass


@contextlib.contextmanager
def _time_limit(seconds):
    """Raise :class:`_TimeLimitReached` in the main thread after ``seconds``.

    Uses SIGALRM, which exists on Linux and macOS and fires only in the main
    thread (where Jupyter kernels run cells); elsewhere there is no limit and
    nbgrader's cell timeout is the only guard.
    """
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def _on_alarm(signum, frame):
        raise _TimeLimitReached()

    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def call_student(name: str, func, *args, time_limit=10.0, notes=None):
    """Call ``func(*args)`` and return its result, or raise :class:`StudentCodeError`.

    Anything the function writes to stderr, and any warning it emits, is
    captured (nbgrader scores a test cell 0 as soon as it sees stderr output)
    and added to ``notes`` so that it can be reported on stdout instead.

    Args:
        name: the function's name as the exercise calls it, for messages.
        func: the student's function.
        *args: its arguments (pass copies: the student may modify them).
        time_limit: seconds before the call is abandoned, or None.
        notes: a list that collects warnings and stderr text, or None.
    """
    if func is None:
        raise StudentCodeError(
            f"{name} is not defined: did the cell that defines it run without an error?"
        )
    if not callable(func):
        raise StudentCodeError(
            f"{name}: expected a function, received {type(func).__name__} {shown(func, 60)}"
        )
    stderr = io.StringIO()
    try:
        with _time_limit(time_limit), contextlib.redirect_stderr(stderr), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = func(*args)
    except _TimeLimitReached:
        raise StudentCodeError(
            f"{name} did not return within {time_limit:g} s (an endless loop?)", fatal=True
        ) from None
    except (Exception, SystemExit) as error:
        message = f": {error}" if str(error) else ""
        raise StudentCodeError(f"{name} raised {type(error).__name__}{message}") from None
    if notes is not None:
        for warning in caught:
            notes.append(f"{name} emitted {warning.category.__name__}: {warning.message}")
        if stderr.getvalue().strip():
            notes.append(f"{name} wrote to stderr: {stderr.getvalue().strip()[:200]}")
    return result


def cpu_seconds():
    """User-mode CPU seconds of the calling thread (Linux; elsewhere of the whole process, all threads).

    The clock of the timed cases in the student's own kernel: a Python loop
    spends its time here, while neither a machine busy with other work (a
    whole class graded at once) nor the kernel's time faulting in a large new
    array counts; both can slow a vectorised answer's wall-clock time
    several-fold. Nor do the kernel's other threads: TensorFlow's and BLAS's
    idle workers spin for a while after their last task (measured: 0.1 s of
    CPU during a 0.4 s sleep, on a 2-core machine after tf.keras ran). The
    BLAS threads of the answer's own matrix products are left out with them,
    which only favours a vectorised answer. (The trusted grader reads its
    sandboxed child's time from outside, whole process: nothing else runs there.)
    """
    if resource is not None and hasattr(resource, "RUSAGE_THREAD"):
        return resource.getrusage(resource.RUSAGE_THREAD).ru_utime
    return os.times().user


def timed_call(name: str, func, *args, time_limit=10.0, notes=None):
    """:func:`call_student`, and the seconds the call took.

    The seconds are user-mode CPU seconds of whatever ran the code: the
    grader's sandboxed child when ``func`` is the trusted grader's proxy (it
    reads them from outside the child, which cannot forge them), otherwise
    this process's (:func:`cpu_seconds`); wall-clock seconds where the child's cannot be read.

    Returns:
        ``(result, seconds, clock)``, ``clock`` naming what was measured ("CPU" or "wall-clock").
    """
    clock = getattr(func, "cpu_seconds", cpu_seconds)
    started_wall, started = time.perf_counter(), clock()
    result = call_student(name, func, *args, time_limit=time_limit, notes=notes)
    ended_wall, ended = time.perf_counter(), clock()
    if started is None or ended is None:
        return result, ended_wall - started_wall, "wall-clock"
    return result, ended - started, "CPU"


def speed_case(name: str, student, arguments, reference, differs, *, work: str, vectorise: str, loop: str,
               factor=15.0, floor=1.5, cap=3.0, time_limit=15.0):
    """The ``run(notes)`` of a timed case: right, and fast enough to rule out a Python loop.

    The reference's time is its best of three wall-clock runs; the answer may
    take ``factor`` times that, never less than ``floor`` nor more than ``cap``
    seconds, measured as :func:`timed_call` does (CPU seconds, so that a busy
    machine does not fail a vectorised answer). A call still running after
    ``time_limit`` wall-clock seconds is abandoned.

    Args:
        name: the exercise's function, for messages.
        student: the student's function.
        arguments: a function returning fresh copies of the arguments (a tuple).
        reference: a function of no arguments returning the expected result.
        differs: ``differs(expected, received)``, the reason they differ or None.
        work: what the call works on, after "on" ("an image of 2359296 output positions").
        vectorise: the advice when the call is abandoned.
        loop: the question asked when the call is right but too slow.
    """
    def run(notes):
        expected, reference_seconds = None, float("inf")
        for _ in range(3):
            started = time.perf_counter()
            expected = reference()
            reference_seconds = min(reference_seconds, time.perf_counter() - started)
        try:
            received, seconds, clock = timed_call(name, student, *arguments(), time_limit=time_limit, notes=notes)
        except StudentCodeError as error:
            if "did not return within" not in str(error):
                raise
            raise StudentCodeError(f"{name} did not return within {time_limit:g} s on {work}: {vectorise}") from None
        budget = min(max(floor, factor * reference_seconds), cap)
        notes.append(f"{name} took {seconds:.2f} s of {clock} time on {work} (the reference "
                     f"{reference_seconds:.3f} s; at most {budget:.1f} s accepted)")
        reason = differs(expected, received)
        if reason is None and seconds > budget:
            reason = f"took {seconds:.2f} s of {clock} time on {work}, more than the {budget:.1f} s accepted: {loop}"
        return [(1, reason)]

    return run


def unpack(name: str, result, count: int, description: str):
    """Check that ``result`` is a tuple or list of ``count`` items and return it.

    Raises:
        StudentCodeError: naming what was expected (``description``) and received.
    """
    if not isinstance(result, (tuple, list)) or len(result) != count:
        received = (
            f"a {type(result).__name__} of length {len(result)}"
            if isinstance(result, (tuple, list))
            else f"a {type(result).__name__}"
        )
        raise StudentCodeError(f"{name} must return {description}; it returned {received}")
    return result


def compare(what: str, expected, received, tolerance: float = RELATIVE_TOLERANCE):
    """Compare a student's array with the reference.

    Args:
        what: how to name the value in the message, e.g. ``'dW'``.
        expected: the reference array.
        received: the student's value (anything).
        tolerance: largest accepted relative error.

    Returns:
        None when they agree, else a one-line reason such as
        ``'dW relative error 3.0e-02 at index (1, 4); expected < 1e-06'``.
    """
    expected = numpy.asarray(expected)
    if received is None:
        return f"{what}: an array of shape {expected.shape} expected, received None"
    try:
        received = numpy.asarray(received)
    except Exception as error:  # ragged lists and the like
        return f"{what}: could not be turned into an array ({type(error).__name__}: {error})"
    if received.dtype.kind not in "biuf":
        return f"{what}: a numeric array expected, received dtype {received.dtype}"
    if received.shape != expected.shape:
        return f"{what} shape {expected.shape} expected, received {received.shape}"
    received = received.astype("float64")
    finite = numpy.isfinite(received)
    if not finite.all():
        position = int(numpy.argmin(finite.ravel()))
        where = f" at index {_index(position, received.shape)}" if received.ndim else ""
        return f"{what} is {received.ravel()[position]}{where}; expected finite numbers"
    error = relative_error(expected, received)
    if error.size and error.max() > tolerance:
        position = int(numpy.argmax(error))
        return (
            f"{what} relative error {error.max():.1e} at index {_index(position, error.shape)}; "
            f"expected < {tolerance:.0e}"
        )
    return None


def matches(expected, received, tolerance: float = RELATIVE_TOLERANCE):
    """Whether ``received`` is ``expected`` within ``tolerance`` (for hints: never raises)."""
    try:
        return compare("", expected, received, tolerance) is None
    except Exception:
        return False


def drawn_cases(seed, listed, draw):
    """The cases of a checker for ``seed``: ``listed`` itself for seed 0 (the self-checks' inputs, which anyone can
    record); for another seed, a new case of the same kind for each, ``draw(rng, number)``.

    Each case has a generator of its own, ``default_rng([seed, number])``; a draw that repeats a case of
    seed 0 (or an earlier draw) is drawn again.
    """
    if seed == 0:
        return list(listed)
    cases = []
    for number in range(len(listed)):
        rng = numpy.random.default_rng([seed, number])
        case = draw(rng, number)
        while case in listed or case in cases:
            case = draw(rng, number)
        cases.append(case)
    return cases


def with_hint(reason, hints, received, matches=matches):
    """``reason`` followed by the first hint whose numbers ``received`` reproduces.

    Args:
        reason: a failure reason, or None (then None is returned: nothing to explain).
        hints: ``[(make_expected, hint)]``: a function computing what a known
            mistake would return, and the sentence that names the mistake.
        received: the student's value.
        matches: how ``received`` is compared with each mistake's numbers.
    """
    if reason is None:
        return None
    for make_expected, hint in hints:
        try:
            alternative = make_expected()
        except Exception:
            continue
        if matches(alternative, received):
            return f"{reason}: {hint}"
    return reason


def compare_mean_loss(expected, received):
    """:func:`compare` for a loss, which must be one number (the mean over the batch)."""
    shape = shape_of(received)
    if shape not in ((), None):  # None: not an array at all, which compare explains
        return f"loss: a single number (the mean over the batch) expected, received an array of shape {shape}"
    return compare("loss", expected, received)


def shape_of(value):
    """``numpy.shape(value)``, or None for what no array can be made of (ragged lists and the like)."""
    try:
        return numpy.shape(value)
    except Exception:
        return None


_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxtuple, _SHOWN.maxlist, _SHOWN.maxother = 3, 10, 10, 40


def shown(value, width=80):
    """A student's value as a reason quotes it: at most ``width`` characters, never raising.

    ``repr`` itself fails on a list nested a thousand deep (RecursionError) and
    takes its time on a huge one; a checker must not raise because of an answer.
    """
    return _SHOWN.repr(value)[:width]


MODEL_LAYERS = ("InputLayer", "Dense", "Concatenate", "Add", "Average", "Dropout", "Activation")
"""The layers a rebuilt student model may have (:func:`rebuilt_model`)."""
MODEL_LIMITS = {"layers": 16, "units": 512, "json": 1_000_000}
"""Bounds checked before rebuilding: a model of :data:`MODEL_LAYERS` within them has at most ~40 M weights.

``units`` bounds every size a layer's config sets (units, filters, kernel and pool windows, strides,
dilations, the input's sizes). An exercise that also allows ``Flatten`` (whose Dense can then read a
whole image) bounds the total weights itself before rebuilding (assignment 6).
"""


def _sizes(settings):
    """The numbers a layer's config sets its size with, each of which must lie within ``MODEL_LIMITS['units']``."""
    def listed(value):
        return list(value) if isinstance(value, (list, tuple)) else [value]

    sizes = [settings.get("units", 1), settings.get("filters", 1)] + listed(settings.get("batch_shape") or [None])[1:]
    for key in ("kernel_size", "pool_size", "strides", "dilation_rate"):
        if settings.get(key) is not None:  # a pooling layer's strides may be None (its pool size)
            sizes += listed(settings[key])
    return sizes


def rebuilt_model(name, result, layers=MODEL_LAYERS):
    """The course_lib Model a student's function returned, rebuilt from its architecture and weights.

    In the grader a model arrives as ``{"model_json": ..., "weights": [...]}``
    (what the sandbox makes of a returned model); in the student's own kernel
    (the self-check) it is the Model itself. The JSON is checked before it is
    built (only ``layers``, within :data:`MODEL_LIMITS`), so a student's file
    can neither name other classes nor make the grader allocate without bound.

    Raises:
        StudentCodeError: the reason, for anything that is not such a model.
    """
    if callable(getattr(result, "to_json", None)) and callable(getattr(result, "get_weights", None)):
        result = {"model_json": result.to_json(), "weights": list(result.get_weights())}
    if not (isinstance(result, dict) and isinstance(result.get("model_json"), str)
            and isinstance(result.get("weights"), list)):
        raise StudentCodeError(f"{name} must return a course_lib Model; it returned {shown(result)}")
    if len(result["model_json"]) > MODEL_LIMITS["json"]:
        raise StudentCodeError(f"{name}: the returned model's description is over {MODEL_LIMITS['json']} characters")
    try:
        config = json.loads(result["model_json"])
    except (ValueError, RecursionError):
        raise StudentCodeError(f"{name}: the returned model's description is not JSON") from None
    kind = config.get("class_name") if isinstance(config, dict) else type(config).__name__
    inner = config.get("config") if isinstance(config, dict) else None
    described = inner.get("layers") if isinstance(inner, dict) else None
    # course_lib builds the class a "registered_name" names in preference to "class_name": it must name no other.
    registered = config.get("registered_name") if isinstance(config, dict) else None
    if kind not in ("Functional", "Model") or not isinstance(described, list) or registered not in (None, kind):
        what = shown(kind) if registered in (None, kind) else f"{shown(kind)} registered as {shown(registered)}"
        raise StudentCodeError(f"{name} must return a functional model, keras.Model(inputs, outputs); "
                               f"it returned a {what}")
    if len(described) > MODEL_LIMITS["layers"]:
        raise StudentCodeError(f"{name}: the model has {len(described)} layers; at most "
                               f"{MODEL_LIMITS['layers']} are accepted here")
    for layer in described:
        kind = layer.get("class_name") if isinstance(layer, dict) else None
        settings = layer.get("config") if isinstance(layer, dict) else None
        if kind not in layers or not isinstance(settings, dict):
            raise StudentCodeError(f"{name}: the model has a {shown(kind)} layer; this exercise accepts {list(layers)}")
        if layer.get("registered_name") not in (None, kind):
            raise StudentCodeError(f"{name}: layer {shown(settings.get('name'))} is a {shown(kind)} registered as "
                                   f"{shown(layer.get('registered_name'))}; this exercise accepts {list(layers)}")
        sizes = _sizes(settings)
        if not all(isinstance(n, int) and 0 < n <= MODEL_LIMITS["units"] for n in sizes):
            raise StudentCodeError(f"{name}: layer {shown(settings.get('name'))} has sizes {shown(sizes)}; "
                                   f"each must be a whole number from 1 to {MODEL_LIMITS['units']}")
    from course_lib import models  # the grader's own library: only the classes checked above are built

    try:
        model = models.model_from_json(result["model_json"])
        model.set_weights([numpy.asarray(weight) for weight in result["weights"]])
    except Exception as error:
        raise StudentCodeError(f"{name}: the returned model could not be rebuilt "
                               f"({type(error).__name__}: {shown(str(error), 200)})") from None
    return model


def relative_error(expected, received):
    """Element-wise ``|a - b| / max(1e-8, |a| + |b|)``.

    The floor keeps values that should be zero (and are 1e-17 after a
    different summation order) from looking 100% wrong.
    """
    expected = numpy.asarray(expected, dtype="float64")
    received = numpy.asarray(received, dtype="float64")
    return numpy.abs(expected - received) / numpy.maximum(1e-8, numpy.abs(expected) + numpy.abs(received))


def _index(flat_position: int, shape) -> tuple:
    return tuple(int(i) for i in numpy.unravel_index(flat_position, shape)) if shape else ()


def describe(**arrays) -> str:
    """``describe(x=x, W=W)`` -> ``'x (4, 3), W (3, 5)'`` for case labels."""
    return ", ".join(f"{key} {numpy.shape(value)}" for key, value in arrays.items())


def run_cases(name: str, points, cases, verbose: bool = True) -> float:
    """Run a checker's cases, print the reasons, and return the points earned.

    Args:
        name: the exercise (function) name, first word of every line printed.
        points: the points the whole check is worth.
        cases: list of ``(label, run)`` where ``run(notes)`` returns a list of
            ``(weight, reason_or_None)`` parts; a part with a reason fails.
            ``notes`` is a list ``run`` passes on to :func:`call_student`.
            ``run`` may raise :class:`StudentCodeError`, failing the whole case.
        verbose: print a line per failed part and a summary line.

    Returns:
        A Python float in ``[0, points]``, rounded to 2 decimals: nbgrader reads
        a test cell whose result is a number as its partial credit, and
        ``numpy.float64`` would print as ``np.float64(...)``, which it cannot read.
    """
    points = float(points)
    earned_fraction = 0.0
    failures = {}  # reason -> labels of the cases where it happened
    notes = []
    passed_cases = 0
    stopped = None
    for label, run in cases:
        if stopped is not None:
            failures.setdefault(f"skipped ({stopped})", []).append(label)
            continue
        try:
            parts = run(notes)
        except StudentCodeError as error:
            failures.setdefault(str(error), []).append(label)
            if error.fatal:
                stopped = "an earlier case ran out of time"
            continue
        total_weight = sum(weight for weight, _ in parts)
        case_fraction = sum(weight for weight, reason in parts if reason is None) / total_weight
        earned_fraction += case_fraction
        passed_cases += case_fraction == 1.0
        for _, reason in parts:
            labels = failures.setdefault(reason, []) if reason is not None else None
            if labels is not None and label not in labels:
                labels.append(label)
    score = round(min(points, points * earned_fraction / max(len(cases), 1)), 2)
    if verbose:
        for reason, labels in failures.items():
            # One line per distinct problem: a function that raises fails every
            # case the same way, and repeating that helps nobody.
            more = f" (and {len(labels) - 1} more case{'s' if len(labels) > 2 else ''})" if len(labels) > 1 else ""
            print(f"{name} [{labels[0]}]: {reason}{more}")
        for note in dict.fromkeys(notes):
            print(f"note: {note}")
        print(f"{name}: {passed_cases} of {len(cases)} cases fully passed; {score:g} / {points:g} points")
    return float(score)
