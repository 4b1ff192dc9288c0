"""Checkers for assignment 3 (shapes: the batch axis, output shapes, parameter counts).

Each ``check_*`` takes the student's function, runs it on random shapes and
layer lists (edge cases included), compares the result with a reference built
on :mod:`course_lib.layers` (whose shapes and parameter counts the course's
parity tests hold equal to ``tf.keras``) or :mod:`course_lib.ops`, prints one
line per problem found and a summary, and returns the points earned as a
Python float.

Layer lists are lists of tuples, the first item naming the layer as Keras does:
``("Dense", units, use_bias)``, ``("Flatten",)``, ``("Reshape", target_shape)``
and ``("Dropout", rate)``.
"""
from __future__ import annotations

import math
import numbers

import numpy

from course_lib import layers, ops
from course_lib.grading.harness import (
    StudentCodeError,
    call_student,
    compare,
    describe,
    run_cases,
    shown,
)

DEFAULT_POINTS = {
    "dense_output_shape": 1,
    "count_params": 2,
    "layer_summary": 4,
    "mlp_probabilities": 3,
}

LAYER_KINDS = ("Dense", "Flatten", "Reshape", "Dropout")


def _shape_problem(what, expected, received):
    """None when ``received`` is the tuple ``expected`` (None or integers), else a one-line reason."""
    if not isinstance(received, tuple):
        return f"{what}: the tuple {expected} expected, received a {type(received).__name__} {shown(received, 60)}"
    entries_ok = all(entry is None or (isinstance(entry, numbers.Integral) and not isinstance(entry, bool))
                     for entry in received)
    if not entries_ok or tuple(None if e is None else int(e) for e in received) != expected:
        return f"{what}: {expected} expected, received {shown(received)}"
    return None


def _count_problem(what, expected, received):
    if isinstance(received, bool) or not isinstance(received, numbers.Integral):
        return f"{what}: the integer {expected} expected, received a {type(received).__name__} {shown(received, 40)}"
    if int(received) != expected:
        return f"{what}: {expected} expected, received {int(received)}"
    return None


# --- one Dense layer ---------------------------------------------------------------


def reference_dense_output_shape(input_shape, units):
    """Output shape of ``Dense(units)`` for ``input_shape`` (batch axis first, None allowed), from :mod:`course_lib.layers`."""
    return tuple(layers.Dense(units).compute_output_shape(tuple(input_shape)))


def _dense_shape_cases(rng):
    return [
        ((None, int(rng.integers(2, 800))), int(rng.integers(1, 65))),
        ((int(rng.integers(1, 65)), int(rng.integers(2, 50))), int(rng.integers(1, 20))),  # a fixed batch size
        ((None, int(rng.integers(2, 12)), int(rng.integers(2, 12))), int(rng.integers(1, 20))),  # acts on the last axis
        ((None, None, int(rng.integers(2, 8))), int(rng.integers(1, 10))),  # sequences of any length
        ((None, 2, 3, int(rng.integers(2, 6))), 1),
    ]


def check_dense_output_shape(dense_output_shape, points=DEFAULT_POINTS["dense_output_shape"], seed=0, verbose=True):
    """Check ``dense_output_shape(input_shape, units) -> output_shape`` (tuples, batch axis first).

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for input_shape, units in _dense_shape_cases(rng):
        def run(notes, input_shape=input_shape, units=units):
            received = call_student("dense_output_shape", dense_output_shape, input_shape, units, notes=notes)
            return [(1, _shape_problem("output shape", reference_dense_output_shape(input_shape, units), received))]

        cases.append((f"input_shape={input_shape}, units={units}", run))
    return run_cases("dense_output_shape", points, cases, verbose)


# --- a stack of Dense layers ---------------------------------------------------------


def reference_count_params(layer_sizes, use_bias=True):
    """Parameters of ``Input((layer_sizes[0],))`` followed by ``Dense(n)`` for each later ``n``, from :mod:`course_lib.layers`."""
    rows = reference_layer_summary(layer_sizes[:1], [("Dense", units, use_bias) for units in layer_sizes[1:]])
    return sum(count for _, count in rows)


def _count_cases(rng):
    def sizes(count, high):
        return [int(n) for n in rng.integers(1, high, size=count)]

    return [
        ("one layer", [int(rng.integers(2, 100)), int(rng.integers(1, 20))], True),
        ("the chapter's 784-128-10", [784, 128, 10], True),
        ("a deep stack", sizes(6, 60), True),
        ("without bias", sizes(4, 60), False),
        ("widths of one", [1, 1, 1], True),
        ("no layers at all", [int(rng.integers(2, 10))], True),
    ]


def check_count_params(count_params, points=DEFAULT_POINTS["count_params"], seed=0, verbose=True):
    """Check ``count_params(layer_sizes, use_bias=True) -> int`` for a Sequential of Dense layers.

    ``layer_sizes[0]`` is the input's size, every later entry a Dense layer's
    units; the answer is the total number of weights (kernels and, with
    ``use_bias``, biases). A list with one entry has no layer: 0.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, layer_sizes, use_bias in _count_cases(rng):
        def run(notes, layer_sizes=layer_sizes, use_bias=use_bias):
            args = (list(layer_sizes),) if use_bias else (list(layer_sizes), False)
            received = call_student("count_params", count_params, *args, notes=notes)
            return [(1, _count_problem("parameters", reference_count_params(layer_sizes, use_bias), received))]

        cases.append((f"{label}: layer_sizes={layer_sizes}, use_bias={use_bias}", run))
    return run_cases("count_params", points, cases, verbose)


# --- a whole summary() --------------------------------------------------------------------


def _course_layer(spec):
    kind = spec[0]
    if kind == "Dense":
        return layers.Dense(spec[1], use_bias=spec[2])
    if kind == "Flatten":
        return layers.Flatten()
    if kind == "Reshape":
        return layers.Reshape(tuple(spec[1]))
    if kind == "Dropout":
        return layers.Dropout(spec[1])
    raise ValueError(f"layer_summary: unknown layer {kind!r}; expected one of {LAYER_KINDS}")


def reference_layer_summary(input_shape, layer_specs):
    """``[(output_shape, param_count), ...]`` as ``model.summary()`` shows them, from :mod:`course_lib.layers`.

    Args:
        input_shape: the shape of one sample, as given to ``Input(shape=...)`` (no batch axis).
        layer_specs: tuples such as ``("Dense", 16, True)``, see the module's docstring.

    Raises:
        ValueError: when a Reshape's target does not hold as many numbers as its input.
    """
    shape = (None,) + tuple(input_shape)
    rows = []
    for spec in layer_specs:
        layer = _course_layer(spec)
        layer.build(shape)
        shape = tuple(layer.compute_output_shape(shape))
        rows.append((shape, layer.count_params()))
    return rows


def _describe_specs(specs):
    return ", ".join(f"{spec[0]}({', '.join(map(repr, spec[1:]))})" for spec in specs)


def random_model(rng):
    """A random ``(input_shape, layer_specs)`` that Keras can build: 2 to 6 layers of the four kinds."""
    rank = int(rng.integers(1, 4))
    shape = tuple(int(n) for n in rng.integers(2, 7, size=rank))
    input_shape, specs = shape, []
    for _ in range(int(rng.integers(2, 7))):
        kind = LAYER_KINDS[int(rng.integers(0, 4))]
        size = math.prod(shape)
        if kind == "Dense":
            units = int(rng.integers(1, 9))
            specs.append(("Dense", units, bool(rng.integers(0, 4))))  # a quarter without bias
            shape = shape[:-1] + (units,)
        elif kind == "Flatten":
            specs.append(("Flatten",))
            shape = (size,)
        elif kind == "Dropout":
            specs.append(("Dropout", float(rng.choice([0.1, 0.25, 0.5]))))
        else:
            divisors = [d for d in range(1, size + 1) if size % d == 0]
            first = int(rng.choice(divisors))
            target = (first, size // first)
            if rng.integers(0, 2):  # let Keras infer one axis
                target = (first, -1)
            specs.append(("Reshape", target))
            shape = (first, size // first)
    return input_shape, specs


def _summary_cases(rng):
    cases = [("the chapter's model", (64,), [("Reshape", (8, 8)), ("Dense", 16, True), ("Flatten",),
                                             ("Dense", 10, True)])]
    cases += [(f"random model {number}", *random_model(rng)) for number in range(1, 6)]
    cases.append(("sequences of any length", (None, 3), [("Dense", 4, True), ("Dropout", 0.5), ("Flatten",)]))
    cases.append(("a Reshape whose sizes do not match", (4, 5), [("Dense", 3, True), ("Reshape", (7, -1))]))
    return cases


def check_layer_summary(layer_summary, points=DEFAULT_POINTS["layer_summary"], seed=0, verbose=True):
    """Check ``layer_summary(input_shape, layers) -> [(output_shape, param_count), ...]``.

    A model is half its output shapes and half its parameter counts (the first
    wrong layer is named). A Reshape that cannot hold its input must raise
    ValueError, as Keras does.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, input_shape, specs in _summary_cases(rng):
        def run(notes, input_shape=input_shape, specs=specs):
            try:
                expected = reference_layer_summary(input_shape, specs)
            except ValueError:
                expected = None
            try:
                rows = call_student("layer_summary", layer_summary, tuple(input_shape), [tuple(s) for s in specs],
                                    notes=notes)
            except StudentCodeError as error:
                if expected is None and str(error).startswith("layer_summary raised ValueError"):
                    return [(1, None)]
                raise
            if expected is None:
                return [(1, f"a ValueError expected (the Reshape cannot hold its input), received {shown(rows)}")]
            if not isinstance(rows, (list, tuple)) or len(rows) != len(expected):
                count = len(rows) if isinstance(rows, (list, tuple)) else type(rows).__name__
                return [(2, f"a list of {len(expected)} (output_shape, param_count) pairs expected, received {count}")]
            shape_reason = count_reason = None
            for number, (spec, row, (shape, count)) in enumerate(zip(specs, rows, expected), start=1):
                what = f"layer {number} ({spec[0]})"
                if not isinstance(row, (list, tuple)) or len(row) != 2:
                    shape_reason = shape_reason or f"{what}: a pair (output_shape, param_count) expected"
                    count_reason = count_reason or shape_reason
                    continue
                shape_reason = shape_reason or _shape_problem(f"{what} output shape", shape, row[0])
                count_reason = count_reason or _count_problem(f"{what} parameters", count, row[1])
            return [(1, shape_reason), (1, count_reason)]

        cases.append((f"{label}: input {tuple(input_shape)}, {_describe_specs(specs)}", run))
    return run_cases("layer_summary", points, cases, verbose)


# --- the shape-bug hunt ----------------------------------------------------------------------


def reference_mlp_probabilities(images, params):
    """``softmax(relu(flatten(images) W1 + b1) W2 + b2)`` per image, from :mod:`course_lib.ops`."""
    flat = images.reshape(images.shape[0], -1)
    hidden, _ = ops.dense_forward(flat, params["W1"], params["b1"])
    activated, _ = ops.relu_forward(hidden)
    scores, _ = ops.dense_forward(activated, params["W2"], params["b2"])
    return ops.softmax(scores, axis=1)


_MLP_CASES = [  # (label, N, H, W, M, C, scale of W2; a scale above 1 also adds 1000 to every score)
    ("ordinary", 5, 4, 3, 6, 3, 1.0),
    ("one image", 1, 3, 3, 4, 2, 1.0),
    ("square W2 (hidden units = classes)", 6, 2, 5, 4, 4, 1.0),
    ("as many images as pixels", 6, 2, 3, 5, 3, 1.0),
    ("digits-sized", 16, 8, 8, 32, 10, 1.0),
    ("large scores", 4, 3, 2, 5, 3, 10.0),
]


def check_mlp_probabilities(mlp_probabilities, points=DEFAULT_POINTS["mlp_probabilities"], seed=0, verbose=True):
    """Check the repaired ``mlp_probabilities(images, params) -> probabilities`` against :mod:`course_lib.ops`.

    ``images`` has shape (N, H, W); ``params`` holds ``W1`` (H*W, M), ``b1``
    (M,), ``W2`` (M, C), ``b2`` (C,); the result has shape (N, C), each row
    a softmax over the classes. The cases include shapes on which each of the
    notebook's three bugs is silent, and scores in the thousands.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, batch, height, width, hidden, classes, scale in _MLP_CASES:
        images = rng.uniform(0.0, 1.0, size=(batch, height, width))
        params = {
            "W1": rng.normal(size=(height * width, hidden)) / numpy.sqrt(height * width),
            "b1": rng.normal(scale=0.1, size=(hidden,)),
            "W2": rng.normal(size=(hidden, classes)) * scale,
            "b2": rng.normal(scale=0.1, size=(classes,)) + (1000.0 if scale > 1 else 0.0),
        }

        def run(notes, images=images, params=params):
            received = call_student("mlp_probabilities", mlp_probabilities, images.copy(),
                                    {key: value.copy() for key, value in params.items()}, notes=notes)
            return [(1, compare("probabilities", reference_mlp_probabilities(images, params), received))]

        cases.append((f"{label}: " + describe(images=images, W1=params["W1"], W2=params["W2"]), run))
    return run_cases("mlp_probabilities", points, cases, verbose)


_CHECKERS = {
    "dense_output_shape": (check_dense_output_shape, None),
    "count_params": (check_count_params, None),
    "layer_summary": (check_layer_summary, None),
    "mlp_probabilities": (check_mlp_probabilities, None),
}
