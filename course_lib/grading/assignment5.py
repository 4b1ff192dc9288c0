"""Checkers for assignment 5 (convolution and pooling, written with NumPy).

Each ``check_*`` takes the student's function, runs it next to the course's
own kernels (:mod:`course_lib.ops.conv` and :mod:`course_lib.ops.pooling`,
which the parity tests hold equal to TensorFlow's) on float64 inputs the
grader chooses: several shapes, kernels that are not square, strides that do
not tile the input, odd sizes, and ``"same"`` padding whose total is odd (the
extra row or column goes at the end, as TensorFlow does). It prints one line
per problem found and a summary, and returns the points earned as a Python
float.

Arrays are channels_last: images ``(N, H, W, C)``, kernels ``(kh, kw, C, F)``,
biases ``(F,)``; ``stride`` and ``pool`` are ints (the same along both axes).

``check_conv2d_forward`` also times the vectorised convolution once, on an
image of about two million output positions and a 3x3 kernel: a Python loop
over output pixels takes seconds there, one matrix product (or an einsum, or
a loop over the nine kernel offsets) a tenth of one. The time accepted is
:data:`SPEED_FACTOR` times the reference's, measured in the same run, within
:data:`SPEED_SECONDS` and :data:`SPEED_MAX_SECONDS`, and the answer's time is
the CPU time it spends computing (:func:`course_lib.grading.harness.timed_call`),
so that neither a loaded machine nor the kernel's time to fault in the
170 MB of columns of an honest im2col (a second of wall-clock time on some
virtual machines) fails a vectorised answer; the timed case is one case of six.
"""
from __future__ import annotations

import numbers

import numpy

from course_lib.grading.harness import (
    RELATIVE_TOLERANCE,
    StudentCodeError,
    call_student,
    compare,
    drawn_cases,
    relative_error,
    run_cases,
    shown,
    speed_case,
)
from course_lib.ops import conv, pooling

DEFAULT_POINTS = {
    "conv_output_length": 1,
    "conv2d_forward_naive": 3,
    "conv2d_forward": 3,
    "conv2d_backward": 4,
    "max_pool2d_forward": 2,
    "max_pool2d_backward": 2,
}

SPEED_SHAPE = (1, 1536, 1536, 1)
"""The image the vectorised convolution is timed on (a 3x3 kernel, one filter, stride 1, ``same``)."""
SPEED_FACTOR = 15.0
"""The timed call may take this many times the reference (its best of three runs) ..."""
SPEED_SECONDS = 1.5
"""... but never less than this (the course's im2col answer spends 0.1 to 0.2 s) ..."""
SPEED_MAX_SECONDS = 3.0
"""... nor more than this (a Python loop over its 2.4 million pixels takes 2 s or more on a fast machine)."""
SPEED_TIME_LIMIT = 15.0
"""Wall-clock seconds after which the timed call is abandoned."""


def _copy(value):
    return numpy.array(value, copy=True)


def _differs(what, expected, received, where="", tolerance=RELATIVE_TOLERANCE):
    """None when ``received`` matches ``expected``, else a reason naming the worst entry and both its values.

    ``where`` (e.g. ``" for stride 2, padding 'same'"``) is added after the index.
    """
    if isinstance(received, tuple) and len(received) == 2 and numpy.ndim(expected) > 0:
        return f"{what}: return the array alone (this exercise has no cache); received a tuple of 2"
    reason = compare(what, expected, received, tolerance)
    if reason is None or " relative error " not in reason:
        return reason
    expected = numpy.asarray(expected, dtype="float64")
    received = numpy.asarray(received, dtype="float64")
    error = relative_error(expected, received)
    position = numpy.unravel_index(int(numpy.argmax(error)), error.shape)
    index = tuple(int(i) for i in position)
    wrong = int((error > tolerance).sum())
    return (f"{what} differs at index {index}{where}: expected {expected[position]:.6g}, received "
            f"{received[position]:.6g} ({wrong} of {error.size} entries differ)")


def _plain(value):
    """A NumPy scalar as the Python number it holds (``4.0``, not ``np.float64(4.0)``), anything else as it is."""
    return value.item() if isinstance(value, numpy.generic) else value


def _where(stride, padding):
    return f" for stride {stride}, padding {padding!r}"


def _label(x, kernel, stride, padding):
    return f"x {x.shape}, kernel {kernel.shape}, stride {stride}, padding {padding!r}"


# --- the output length -------------------------------------------------------------


def reference_conv_output_length(size, kernel, stride, padding, dilation=1):
    """Output length of one axis: :func:`course_lib.ops.conv.conv_output_length`."""
    return conv.conv_output_length(size, kernel, stride, padding, dilation)


_LENGTH_CASES = [  # (size, kernel, stride, padding, dilation); None: called without the dilation argument
    (7, 3, 1, "valid", None),
    (7, 3, 2, "valid", None),
    (8, 3, 2, "valid", None),  # the stride does not tile: the last row is never read
    (5, 5, 1, "valid", None),  # the kernel as large as the input
    (224, 3, 1, "same", None),
    (7, 3, 2, "same", None),
    (8, 2, 3, "same", None),
    (10, 3, 1, "valid", 2),  # a dilated kernel spans (3 - 1) * 2 + 1 = 5
    (9, 3, 2, "valid", 3),
    (11, 4, 3, "same", 2),  # same does not depend on the kernel
]


def _integer(rng, low, high):
    """A Python int drawn from ``low`` to ``high``, both included."""
    return int(rng.integers(low, high + 1))


def _drawn_length_case(rng, number):
    """A new case of the same kind as ``_LENGTH_CASES[number]`` (the comments there say what each one is for)."""
    if number == 0:  # valid, stride 1
        kernel = _integer(rng, 2, 5)
        return _integer(rng, kernel + 1, 32), kernel, 1, "valid", None
    if number in (1, 2):  # valid, stride 2 or 3: one that tiles the input, then one that does not
        kernel, stride = _integer(rng, 2, 5), _integer(rng, 2, 3)
        steps = _integer(rng, 2, 8)
        size = kernel + steps * stride + (0 if number == 1 else _integer(rng, 1, stride - 1))
        return size, kernel, stride, "valid", None
    if number == 3:  # the kernel as large as the input
        size = _integer(rng, 2, 16)
        return size, size, 1, "valid", None
    if number == 4:  # same, stride 1, a large input
        return _integer(rng, 100, 512), rng.choice([1, 3, 5]).item(), 1, "same", None
    if number in (5, 6):  # same, a stride that does not divide the size: the output rounds up
        stride = _integer(rng, 2, 3) if number == 5 else _integer(rng, 3, 4)
        size = stride * _integer(rng, 2, 10) + _integer(rng, 1, stride - 1)
        return size, _integer(rng, 2, 5), stride, "same", None
    if number in (7, 8):  # valid with a dilated kernel: stride 1, then a stride of 2 or 3
        kernel, dilation = _integer(rng, 2, 4), _integer(rng, 2, 3)
        stride = 1 if number == 7 else _integer(rng, 2, 3)
        span = (kernel - 1) * dilation + 1
        return span + _integer(rng, 0, 12), kernel, stride, "valid", dilation
    stride = _integer(rng, 2, 4)  # same with a dilation: it does not depend on the kernel
    return stride * _integer(rng, 2, 6) + _integer(rng, 1, stride - 1), _integer(rng, 2, 5), stride, "same", \
        _integer(rng, 2, 3)


def check_conv_output_length(conv_output_length, points=DEFAULT_POINTS["conv_output_length"], seed=0,
                             verbose=True):
    """Check ``conv_output_length(size, kernel, stride, padding, dilation=1) -> int``.

    ``padding`` is ``"valid"`` or ``"same"``; some cases leave ``dilation`` to its default.
    ``seed=0`` checks the cases of :data:`_LENGTH_CASES`; another seed draws new ones of the same
    kinds (strides that tile the input or not, a kernel as large as the input, dilations, ...).

    Returns:
        Points earned (float).
    """
    cases = []
    for size, kernel, stride, padding, dilation in drawn_cases(seed, _LENGTH_CASES, _drawn_length_case):
        def run(notes, size=size, kernel=kernel, stride=stride, padding=padding, dilation=dilation):
            args = (size, kernel, stride, padding) + (() if dilation is None else (dilation,))
            received = call_student("conv_output_length", conv_output_length, *args, notes=notes)
            expected = reference_conv_output_length(size, kernel, stride, padding, dilation or 1)
            if isinstance(received, bool) or not isinstance(received, numbers.Integral):
                return [(1, f"the integer {expected} expected, received a {type(received).__name__} "
                            f"{shown(_plain(received), 40)}")]
            return [(1, None if int(received) == expected else f"{expected} expected, received {int(received)}")]

        shown_dilation = "" if dilation is None else f", dilation={dilation}"
        cases.append((f"size={size}, kernel={kernel}, stride={stride}, padding={padding!r}{shown_dilation}", run))
    return run_cases("conv_output_length", points, cases, verbose)


# --- the forward convolution ----------------------------------------------------------

_CONV_CASES = [  # (x shape, kernel shape, stride, padding)
    ((2, 6, 7, 3), (3, 3, 3, 4), 1, "valid"),
    ((2, 5, 6, 2), (3, 3, 2, 3), 1, "same"),
    ((1, 8, 9, 2), (3, 3, 2, 2), 2, "valid"),  # the stride does not tile: the last row is never read
    ((2, 8, 7, 1), (3, 3, 1, 2), 2, "same"),   # a padding total of 1 rows: the extra one at the bottom
    ((1, 5, 6, 3), (2, 4, 3, 2), 1, "same"),   # an even, not square kernel: 1 row and 3 columns of padding
    ((3, 7, 7, 1), (3, 2, 1, 5), 3, "same"),
    ((2, 4, 4, 2), (4, 4, 2, 3), 1, "valid"),  # the kernel as large as the input: a 1x1 output
]
_FORWARD_CASES = [0, 2, 3, 4, 5]  # the vectorised forward: these, and the timed case


def _conv_inputs(rng, x_shape, kernel_shape):
    x = rng.normal(size=x_shape)
    kernel = rng.normal(size=kernel_shape)
    bias = rng.normal(size=kernel_shape[-1:])
    return x, kernel, bias


def reference_conv2d_forward_naive(x, kernel, bias, stride, padding):
    """:func:`course_lib.ops.conv.conv2d_forward_naive` (loops over output pixels)."""
    return conv.conv2d_forward_naive(x, kernel, bias, stride, padding)


def reference_conv2d_forward(x, kernel, bias, stride, padding):
    """The output of :func:`course_lib.ops.conv.conv_forward` (im2col and one matrix product)."""
    return conv.conv_forward(x, kernel, bias, stride, padding)[0]


def _forward_case(name, function, x, kernel, bias, stride, padding):
    def run(notes):
        received = call_student(name, function, _copy(x), _copy(kernel), _copy(bias), stride, padding, notes=notes)
        expected = reference_conv2d_forward_naive(x, kernel, bias, stride, padding)
        return [(1, _differs("output", expected, received, _where(stride, padding)))]

    return _label(x, kernel, stride, padding), run


def check_conv2d_forward_naive(conv2d_forward_naive, points=DEFAULT_POINTS["conv2d_forward_naive"], seed=0,
                               verbose=True):
    """Check ``conv2d_forward_naive(x, kernel, bias, stride, padding) -> out`` against the course's kernel.

    Only the result counts here (the loops are for you to read); see
    :data:`_CONV_CASES` for the shapes.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = [_forward_case("conv2d_forward_naive", conv2d_forward_naive, *_conv_inputs(rng, x_shape, kernel_shape),
                           stride, padding)
             for x_shape, kernel_shape, stride, padding in _CONV_CASES]
    return run_cases("conv2d_forward_naive", points, cases, verbose)


def _speed_case(conv2d_forward, rng):
    x, kernel, bias = _conv_inputs(rng, SPEED_SHAPE, (3, 3, SPEED_SHAPE[-1], 1))
    positions = SPEED_SHAPE[0] * SPEED_SHAPE[1] * SPEED_SHAPE[2]
    run = speed_case(
        "conv2d_forward", conv2d_forward, lambda: (_copy(x), _copy(kernel), _copy(bias), 1, "same"),
        lambda: reference_conv2d_forward(x, kernel, bias, 1, "same"),
        lambda expected, received: _differs("output", expected, received, _where(1, "same")),
        work=f"an image of {positions} output positions",
        vectorise="vectorise it (one matrix product, no Python loop over output pixels)",
        loop="is there a Python loop over output pixels?",
        factor=SPEED_FACTOR, floor=SPEED_SECONDS, cap=SPEED_MAX_SECONDS, time_limit=SPEED_TIME_LIMIT)
    return f"timed: {_label(x, kernel, 1, 'same')}", run


def check_conv2d_forward(conv2d_forward, points=DEFAULT_POINTS["conv2d_forward"], seed=0, verbose=True):
    """Check the vectorised ``conv2d_forward(x, kernel, bias, stride, padding) -> out``.

    Five cases compare the output with the course's kernel; the sixth, on a
    ``(1, 1536, 1536, 1)`` image, also needs it within the time accepted
    (:data:`SPEED_FACTOR` times the reference, from :data:`SPEED_SECONDS` to
    :data:`SPEED_MAX_SECONDS`).

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    inputs = [_conv_inputs(rng, x_shape, kernel_shape) for x_shape, kernel_shape, _, _ in _CONV_CASES]
    cases = [_forward_case("conv2d_forward", conv2d_forward, *inputs[number], *_CONV_CASES[number][2:])
             for number in _FORWARD_CASES]
    cases.append(_speed_case(conv2d_forward, rng))
    return run_cases("conv2d_forward", points, cases, verbose)


# --- the backward convolution ----------------------------------------------------------


def reference_conv2d_backward(dout, x, kernel, stride, padding):
    """``(dx, dkernel, dbias)`` from :func:`course_lib.ops.conv.conv_backward`."""
    _, cache = conv.conv_forward(x, kernel, numpy.zeros(kernel.shape[-1]), stride, padding)
    return conv.conv_backward(dout, cache)


def check_conv2d_backward(conv2d_backward, points=DEFAULT_POINTS["conv2d_backward"], seed=0, verbose=True):
    """Check ``conv2d_backward(dout, x, kernel, stride, padding) -> (dx, dkernel, dbias)``.

    ``dout`` is a random upstream gradient shaped like the output. Each case
    is two fifths dx, two fifths dkernel and one fifth dbias.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for x_shape, kernel_shape, stride, padding in _CONV_CASES:
        x, kernel, _ = _conv_inputs(rng, x_shape, kernel_shape)
        dout = rng.normal(size=reference_conv2d_forward(x, kernel, None, stride, padding).shape)

        def run(notes, x=x, kernel=kernel, stride=stride, padding=padding, dout=dout):
            result = call_student("conv2d_backward", conv2d_backward, _copy(dout), _copy(x), _copy(kernel), stride,
                                  padding, notes=notes)
            if not isinstance(result, (tuple, list)) or len(result) != 3:
                count = f"a {type(result).__name__} of length {len(result)}" if isinstance(result, (tuple, list)) \
                    else f"a {type(result).__name__}"
                raise StudentCodeError(f"conv2d_backward must return a triple (dx, dkernel, dbias); it returned {count}")
            dx, dkernel, dbias = result
            expected = reference_conv2d_backward(dout, x, kernel, stride, padding)
            where = _where(stride, padding)
            return [(2, _differs("dx", expected[0], dx, where)), (2, _differs("dkernel", expected[1], dkernel, where)),
                    (1, _differs("dbias", expected[2], dbias, where))]

        cases.append((_label(x, kernel, stride, padding), run))
    return run_cases("conv2d_backward", points, cases, verbose)


# --- max pooling ----------------------------------------------------------------------------

_POOL_CASES = [  # (label, x shape, pool, stride)
    ("2x2 windows", (2, 6, 8, 3), 2, 2),
    ("odd sizes: the last row and column are dropped", (1, 7, 5, 2), 2, 2),
    ("overlapping 3x3 windows, stride 2", (2, 7, 9, 2), 3, 2),
    ("gaps between windows: pool 2, stride 3", (1, 8, 8, 1), 2, 3),
    ("3x3 windows, stride 1", (1, 5, 6, 2), 3, 1),
    ("1x1 windows", (2, 3, 3, 2), 1, 1),
]


def _distinct(rng, shape):
    """Random values without ties (a permutation, scaled), so that each window has one maximum."""
    size = int(numpy.prod(shape))
    return (rng.permutation(size).reshape(shape) - size / 2) / size + rng.uniform(0, 1e-3)


def _after_relu(rng, shape):
    """Values after a ReLU: most windows hold several zeros, some nothing else (ties)."""
    return numpy.maximum(numpy.round(rng.normal(size=shape) - 0.8, 1), 0.0)


def reference_max_pool2d_forward(x, pool, stride):
    """:func:`course_lib.ops.pooling.max_pool2d_forward` with ``"valid"`` padding."""
    return pooling.max_pool2d_forward(x, pool, stride, "valid")[0]


def reference_max_pool2d_backward(dout, x, pool, stride):
    """:func:`course_lib.ops.pooling.max_pool2d_backward`: each window's gradient to its first maximum."""
    return pooling.max_pool2d_backward(dout, pooling.max_pool2d_forward(x, pool, stride, "valid")[1])


def check_max_pool2d_forward(max_pool2d_forward, points=DEFAULT_POINTS["max_pool2d_forward"], seed=0,
                             verbose=True):
    """Check ``max_pool2d_forward(x, pool, stride) -> out`` (``"valid"``: windows that do not fit are dropped).

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, shape, pool, stride in _POOL_CASES:
        x = rng.normal(size=shape)

        def run(notes, x=x, pool=pool, stride=stride):
            received = call_student("max_pool2d_forward", max_pool2d_forward, _copy(x), pool, stride, notes=notes)
            return [(1, _differs("output", reference_max_pool2d_forward(x, pool, stride), received,
                                 f" for pool {pool}, stride {stride}"))]

        cases.append((f"{label}: x {shape}, pool {pool}, stride {stride}", run))
    return run_cases("max_pool2d_forward", points, cases, verbose)


def check_max_pool2d_backward(max_pool2d_backward, points=DEFAULT_POINTS["max_pool2d_backward"], seed=0,
                              verbose=True):
    """Check ``max_pool2d_backward(dout, x, pool, stride) -> dx``.

    The inputs of the first cases have no ties (one maximum per window;
    overlapping windows that share their maximum add their gradients there).
    The last case is an input after a ReLU, with windows of equal zeros: the
    gradient goes to the first maximum in row-major order inside the window,
    as TensorFlow and the notebook say.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = [(label, _distinct(rng, shape), pool, stride) for label, shape, pool, stride in _POOL_CASES]
    cases.append(("ties, after a ReLU: the first maximum in row-major order", _after_relu(rng, (2, 6, 6, 2)), 2, 2))
    checked = []
    for label, x, pool, stride in cases:
        dout = rng.normal(size=reference_max_pool2d_forward(x, pool, stride).shape)

        def run(notes, x=x, pool=pool, stride=stride, dout=dout):
            received = call_student("max_pool2d_backward", max_pool2d_backward, _copy(dout), _copy(x), pool, stride,
                                    notes=notes)
            return [(1, _differs("dx", reference_max_pool2d_backward(dout, x, pool, stride), received,
                                 f" for pool {pool}, stride {stride}"))]

        checked.append((f"{label}: x {x.shape}, pool {pool}, stride {stride}", run))
    return run_cases("max_pool2d_backward", points, checked, verbose)


_CHECKERS = {
    "conv_output_length": (check_conv_output_length, None),
    "conv2d_forward_naive": (check_conv2d_forward_naive, None),
    "conv2d_forward": (check_conv2d_forward, None),
    "conv2d_backward": (check_conv2d_backward, None),
    "max_pool2d_forward": (check_max_pool2d_forward, None),
    "max_pool2d_backward": (check_max_pool2d_backward, None),
}
