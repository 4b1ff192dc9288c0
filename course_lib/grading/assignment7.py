"""Checkers for assignment 7 (recurrent networks: the cells in NumPy, then a Bidirectional model).

Exercises 1 to 4 are written with NumPy alone: one step of a SimpleRNN, an
LSTM and a GRU, then the SimpleRNN's loop over time and backpropagation
through time. Their references are the course's own kernels,
:mod:`course_lib.ops.recurrent` (held equal to tf.keras by the parity tests),
and for the loop :class:`course_lib.layers.SimpleRNN` itself, run with the
student's weights and initial state. Weights use Keras's layouts: ``Wx`` is
the kernel ``(features, G*units)``, ``Wh`` the recurrent kernel ``(units,
G*units)``, ``b`` the bias ``(G*units,)``, with the gates in Keras's order
(LSTM i, f, c, o; GRU z, r, h) and a GRU bias of shape ``(2, 3*units)``
(``reset_after=True``: the input bias, then the recurrent bias).

Exercise 5 builds a ``Bidirectional`` model with course_lib and trains it on
a sequence task the grader generates itself (:func:`first_equals_last`);
only that exercise may use the library (``USES_COURSE_LIB`` names it), so the
NumPy exercises cannot hand their work to :mod:`course_lib.ops`.

A failed comparison names the worst entry, both values and, for gate-wide
arrays, the gates whose columns are wrong; where a known mistake explains
the numbers exactly (gates in another order, ``dc`` left out, time run
backwards) the reason says so.
"""
from __future__ import annotations

import itertools
import json
import time

import numpy

from course_lib.grading.harness import (
    MODEL_LIMITS,
    RELATIVE_TOLERANCE,
    StudentCodeError,
    call_student,
    compare,
    describe,
    rebuilt_model,
    relative_error,
    run_cases,
    shown,
    unpack,
    with_hint,
)
from course_lib.ops import recurrent

USES_COURSE_LIB = frozenset({"train_bidirectional"})
"""Only the model of exercise 5 is built with course_lib; the cells before it are NumPy alone."""

DEFAULT_POINTS = {
    "rnn_step_forward": 1,
    "rnn_step_backward": 2,
    "lstm_step_forward": 2,
    "lstm_step_backward": 4,
    "gru_step_forward": 3,
    "rnn_forward": 2,
    "rnn_backward": 3,
    "train_bidirectional": 3,
}

LSTM_GATES = ("i", "f", "c", "o")
GRU_GATES = ("z", "r", "h")

_STEP_SHAPES = [(4, 3, 5), (1, 1, 1), (3, 6, 2), (8, 10, 16)]
"""(batch, features, units) of the single-step cases: an ordinary batch, all sizes 1, more features than
units, a larger layer."""


def _copy(value):
    return numpy.array(value, copy=True)


def _weights(rng, features, units, gates, bias_rows=None):
    """Weights scaled like Keras's initialisers (the gates neither saturate nor vanish), and a nonzero bias."""
    kernel = rng.normal(size=(features, gates * units)) / numpy.sqrt(features)
    recurrent_kernel = rng.normal(size=(units, gates * units)) / numpy.sqrt(units)
    shape = (gates * units,) if bias_rows is None else (bias_rows, gates * units)
    bias = rng.normal(scale=0.5, size=shape)
    return kernel, recurrent_kernel, bias


def _state(rng, batch, units):
    """A previous hidden state: inside (-1, 1), as a tanh leaves it."""
    return rng.uniform(-0.9, 0.9, size=(batch, units))


def _differs(what, expected, received, gates=None):
    """None when ``received`` matches ``expected``, else a reason naming the worst entry and both its values.

    ``gates`` (names in Keras's order) marks an array whose last axis is gate blocks of equal width: the
    reason then also names the gates whose columns are wrong.
    """
    reason = compare(what, expected, received)
    if reason is None or " relative error " not in reason:
        return reason
    expected = numpy.asarray(expected, dtype="float64")
    received = numpy.asarray(received, dtype="float64")
    error = relative_error(expected, received)
    position = numpy.unravel_index(int(numpy.argmax(error)), error.shape)
    index = tuple(int(i) for i in position)
    wrong = int((error > RELATIVE_TOLERANCE).sum())
    reason = (f"{what} differs at index {index}: expected {expected[position]:.6g}, received "
              f"{received[position]:.6g} ({wrong} of {error.size} entries differ)")
    if gates and expected.ndim and expected.shape[-1] % len(gates) == 0:
        width = expected.shape[-1] // len(gates)
        bad = [name for number, name in enumerate(gates)
               if (error[..., number * width:(number + 1) * width] > RELATIVE_TOLERANCE).any()]
        if len(bad) < len(gates):
            reason += (f"; only the columns of gate{'s' if len(bad) > 1 else ''} {', '.join(bad)} are wrong "
                       f"(the blocks are {', '.join(gates)}, {width} columns each)")
    return reason


def _student_cache(name, forward, args, count, description, notes):
    """The cache the student's own forward returns (its layout is the student's choice)."""
    try:
        result = call_student(name, forward, *[_copy(a) for a in args], notes=notes)
        return unpack(name, result, count, description)[-1]
    except StudentCodeError as error:
        raise StudentCodeError(f"could not get a cache from your {name}: {error}", fatal=error.fatal) from None


# --- exercise 1: one SimpleRNN step --------------------------------------------------------------


def reference_rnn_step_forward(x, h_prev, Wx, Wh, b):
    """``(h, cache)`` of :func:`course_lib.ops.recurrent.simple_rnn_step_forward` (tanh)."""
    return recurrent.simple_rnn_step_forward(x, h_prev, Wx, Wh, b)


def reference_rnn_step_backward(dh, cache):
    """``(dx, dh_prev, dWx, dWh, db)`` of :func:`course_lib.ops.recurrent.simple_rnn_step_backward`."""
    return recurrent.simple_rnn_step_backward(dh, cache)


def _rnn_step_inputs(rng, batch, features, units):
    return (rng.normal(size=(batch, features)), _state(rng, batch, units)) + _weights(rng, features, units, 1)


def check_rnn_step_forward(rnn_step_forward, points=DEFAULT_POINTS["rnn_step_forward"], seed=0, verbose=True):
    """Check ``rnn_step_forward(x, h_prev, Wx, Wh, b) -> (h, cache)``: ``h = tanh(x Wx + h_prev Wh + b)``.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for shapes in _STEP_SHAPES:
        inputs = _rnn_step_inputs(rng, *shapes)

        def run(notes, inputs=inputs):
            result = call_student("rnn_step_forward", rnn_step_forward, *[_copy(a) for a in inputs], notes=notes)
            h, _ = unpack("rnn_step_forward", result, 2, "a pair (h, cache)")
            expected, _ = reference_rnn_step_forward(*inputs)
            x, h_prev, Wx, Wh, b = inputs
            hints = [(lambda: reference_rnn_step_forward(x, h_prev, Wx, Wh, 0 * b)[0], "the bias b is missing"),
                     (lambda: reference_rnn_step_forward(x, 0 * h_prev, Wx, Wh, b)[0],
                      "h_prev is missing: the new state reads the previous one through Wh")]
            return [(1, with_hint(_differs("h", expected, h), hints, h))]

        x, h_prev, Wx, Wh, b = inputs
        cases.append((describe(x=x, h_prev=h_prev, Wx=Wx, Wh=Wh, b=b), run))
    return run_cases("rnn_step_forward", points, cases, verbose)


def check_rnn_step_backward(rnn_step_backward, rnn_step_forward, points=DEFAULT_POINTS["rnn_step_backward"],
                            seed=0, verbose=True):
    """Check ``rnn_step_backward(dh, cache) -> (dx, dh_prev, dWx, dWh, db)``.

    The cache comes from the student's own ``rnn_step_forward``; ``dh`` is a
    random upstream gradient. Each of the five gradients is a fifth of a case.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for shapes in _STEP_SHAPES:
        inputs = _rnn_step_inputs(rng, *shapes)
        dh = rng.normal(size=(shapes[0], shapes[2]))

        def run(notes, inputs=inputs, dh=dh):
            cache = _student_cache("rnn_step_forward", rnn_step_forward, inputs, 2, "a pair (h, cache)", notes)
            result = call_student("rnn_step_backward", rnn_step_backward, _copy(dh), cache, notes=notes)
            received = unpack("rnn_step_backward", result, 5, "five gradients (dx, dh_prev, dWx, dWh, db)")
            expected = reference_rnn_step_backward(dh, reference_rnn_step_forward(*inputs)[1])
            return [(1, _differs(name, want, got))
                    for name, want, got in zip(("dx", "dh_prev", "dWx", "dWh", "db"), expected, received)]

        x, h_prev, Wx, Wh, b = inputs
        cases.append((describe(x=x, h_prev=h_prev, Wx=Wx, Wh=Wh, b=b), run))
    return run_cases("rnn_step_backward", points, cases, verbose)


# --- exercise 2: one LSTM step ------------------------------------------------------------------------


def reference_lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """``(h, c, cache)`` of :func:`course_lib.ops.recurrent.lstm_step_forward` (gates i, f, c, o)."""
    return recurrent.lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b)


def reference_lstm_step_backward(dh, dc, cache):
    """``(dx, dh_prev, dc_prev, dWx, dWh, db)`` of :func:`course_lib.ops.recurrent.lstm_step_backward`."""
    return recurrent.lstm_step_backward(dh, dc, cache)


def _lstm_step_inputs(rng, batch, features, units):
    x = rng.normal(size=(batch, features))
    c_prev = rng.normal(size=(batch, units))
    return (x, _state(rng, batch, units), c_prev) + _weights(rng, features, units, 4)


def _reordered(array, order, keras_order):
    """``array`` (gate blocks on its last axis) rearranged so that Keras's code reads it as ``order`` would.

    A student who takes block ``k`` of the columns as gate ``order[k]`` computes what Keras computes on the
    returned array, whose block for gate ``g`` is the student's block ``order.index(g)``.
    """
    width = array.shape[-1] // len(keras_order)
    blocks = [array[..., order.index(gate) * width:(order.index(gate) + 1) * width] for gate in keras_order]
    return numpy.concatenate(blocks, axis=-1)


def _gate_order_hints(forward, pick, x, h_prev, extra_states, Wx, Wh, b, keras_order):
    """Hints for a forward pass that read the gates in another order."""
    hints = []
    for order in itertools.permutations(keras_order):
        if order == keras_order:
            continue
        weights = [_reordered(w, order, keras_order) for w in (Wx, Wh, b)]
        hints.append((lambda weights=weights: pick(forward(x, h_prev, *extra_states, *weights)),
                      f"these are the numbers of gates read in the order {', '.join(order)}; Keras's column "
                      f"blocks are {', '.join(keras_order)}"))
    return hints


def check_lstm_step_forward(lstm_step_forward, points=DEFAULT_POINTS["lstm_step_forward"], seed=0, verbose=True):
    """Check ``lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b) -> (h, c, cache)`` with gates i, f, c, o.

    The new hidden state and the new cell state are each half of a case.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for shapes in _STEP_SHAPES:
        inputs = _lstm_step_inputs(rng, *shapes)

        def run(notes, inputs=inputs):
            result = call_student("lstm_step_forward", lstm_step_forward, *[_copy(a) for a in inputs], notes=notes)
            h, c, _ = unpack("lstm_step_forward", result, 3, "a triple (h, c, cache)")
            expected_h, expected_c, _ = reference_lstm_step_forward(*inputs)
            x, h_prev, c_prev, Wx, Wh, b = inputs
            parts = []
            for what, pick, expected, received in (("h", 0, expected_h, h), ("c", 1, expected_c, c)):
                hints = _gate_order_hints(reference_lstm_step_forward, lambda out, pick=pick: out[pick], x, h_prev,
                                          (c_prev,), Wx, Wh, b, LSTM_GATES)
                parts.append((1, with_hint(_differs(what, expected, received), hints, received)))
            return parts

        x, h_prev, c_prev, Wx, Wh, b = inputs
        cases.append((describe(x=x, h_prev=h_prev, c_prev=c_prev, Wx=Wx, Wh=Wh, b=b), run))
    return run_cases("lstm_step_forward", points, cases, verbose)


def check_lstm_step_backward(lstm_step_backward, lstm_step_forward, points=DEFAULT_POINTS["lstm_step_backward"],
                             seed=0, verbose=True):
    """Check ``lstm_step_backward(dh, dc, cache) -> (dx, dh_prev, dc_prev, dWx, dWh, db)``.

    The cache comes from the student's own ``lstm_step_forward``; ``dh`` and
    ``dc`` are random upstream gradients (the next step's, in a sequence).
    Each of the six gradients is a sixth of a case.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    names = ("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db")
    for shapes in _STEP_SHAPES:
        inputs = _lstm_step_inputs(rng, *shapes)
        dh = rng.normal(size=(shapes[0], shapes[2]))
        dc = rng.normal(size=(shapes[0], shapes[2]))

        def run(notes, inputs=inputs, dh=dh, dc=dc):
            cache = _student_cache("lstm_step_forward", lstm_step_forward, inputs, 3, "a triple (h, c, cache)", notes)
            result = call_student("lstm_step_backward", lstm_step_backward, _copy(dh), _copy(dc), cache, notes=notes)
            received = unpack("lstm_step_backward", result, 6,
                              "six gradients (dx, dh_prev, dc_prev, dWx, dWh, db)")
            expected = reference_lstm_step_backward(dh, dc, reference_lstm_step_forward(*inputs)[2])
            parts = []
            for number, (name, want, got) in enumerate(zip(names, expected, received)):
                hints = [(lambda number=number: reference_lstm_step_backward(
                              dh, 0 * dc, reference_lstm_step_forward(*inputs)[2])[number],
                          "these are the gradients without the upstream dc: the cell state's gradient is "
                          "dc + dh * o * (1 - tanh(c)**2)"),
                         (lambda number=number: reference_lstm_step_backward(
                              0 * dh, dc, reference_lstm_step_forward(*inputs)[2])[number],
                          "these are the gradients without the upstream dh")]
                gates = LSTM_GATES if name in ("dWx", "dWh", "db") else None
                parts.append((1, with_hint(_differs(name, want, got, gates), hints, got)))
            return parts

        x, h_prev, c_prev, Wx, Wh, b = inputs
        cases.append((describe(x=x, h_prev=h_prev, c_prev=c_prev, Wx=Wx, Wh=Wh, b=b), run))
    return run_cases("lstm_step_backward", points, cases, verbose)


# --- exercise 3: one GRU step -------------------------------------------------------------------------


def reference_gru_step_forward(x, h_prev, Wx, Wh, b):
    """``(h, cache)`` of :func:`course_lib.ops.recurrent.gru_step_forward`, ``reset_after=True`` (Keras 3)."""
    return recurrent.gru_step_forward(x, h_prev, Wx, Wh, b, reset_after=True)


def _gru_step_inputs(rng, batch, features, units):
    return (rng.normal(size=(batch, features)), _state(rng, batch, units)) + _weights(rng, features, units, 3, 2)


def _gru_hints(x, h_prev, Wx, Wh, b):
    """Hints for the mistakes a GRU step is most often written with, each computed with the reference."""
    units = Wh.shape[0]
    z_block, h_block = slice(0, units), slice(2 * units, 3 * units)

    def h_of(kernel=Wx, recurrent_kernel=Wh, bias=b, reset_after=True):
        return recurrent.gru_step_forward(x, h_prev, kernel, recurrent_kernel, bias, reset_after=reset_after)[0]

    def flipped_z():  # sigmoid(-a) = 1 - sigmoid(a): with the z columns negated, Keras's z becomes 1 - z
        kernel, recurrent_kernel, bias = _copy(Wx), _copy(Wh), _copy(b)
        for array in (kernel, recurrent_kernel, bias):
            array[..., z_block] *= -1
        return h_of(kernel, recurrent_kernel, bias)

    def without_recurrent_bias():
        bias = _copy(b)
        bias[1] = 0
        return h_of(bias=bias)

    def recurrent_bias_outside_r():
        bias = _copy(b)
        bias[0, h_block] += bias[1, h_block]
        bias[1, h_block] = 0
        return h_of(bias=bias)

    hints = [
        (flipped_z, "h = z * candidate + (1 - z) * h_prev; Keras keeps z of the previous state: "
                    "h = z * h_prev + (1 - z) * candidate"),
        (lambda: h_of(bias=b[0] + b[1], reset_after=False),
         "the reset gate multiplies h_prev before the recurrent product (reset_after=False); with "
         "reset_after=True (Keras 3's default) it multiplies the product: r * (h_prev Wh_h + b[1]_h)"),
        (without_recurrent_bias, "the recurrent bias b[1] is missing: reset_after=True adds b[0] to x Wx and "
                                 "b[1] to h_prev Wh"),
        (recurrent_bias_outside_r, "b[1]'s candidate block is added outside the reset gate; it belongs inside: "
                                   "r * (h_prev Wh_h + b[1]_h)"),
    ]
    return hints + _gate_order_hints(lambda *args: recurrent.gru_step_forward(*args, reset_after=True),
                                     lambda out: out[0], x, h_prev, (), Wx, Wh, b, GRU_GATES)


def check_gru_step_forward(gru_step_forward, points=DEFAULT_POINTS["gru_step_forward"], seed=0, verbose=True):
    """Check ``gru_step_forward(x, h_prev, Wx, Wh, b) -> (h, cache)``, gates z, r, h, ``reset_after=True``.

    ``b`` has shape ``(2, 3*units)``: the input bias, then the recurrent bias.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for shapes in _STEP_SHAPES:
        inputs = _gru_step_inputs(rng, *shapes)

        def run(notes, inputs=inputs):
            result = call_student("gru_step_forward", gru_step_forward, *[_copy(a) for a in inputs], notes=notes)
            h, _ = unpack("gru_step_forward", result, 2, "a pair (h, cache)")
            expected, _ = reference_gru_step_forward(*inputs)
            return [(1, with_hint(_differs("h", expected, h), _gru_hints(*inputs), h))]

        x, h_prev, Wx, Wh, b = inputs
        cases.append((describe(x=x, h_prev=h_prev, Wx=Wx, Wh=Wh, b=b), run))
    return run_cases("gru_step_forward", points, cases, verbose)


# --- exercise 4: the loop over time and backpropagation through time ------------------------------------

_SEQUENCE_CASES = [  # (batch, timesteps, features, units, return_sequences)
    (3, 5, 4, 6, True),
    (3, 5, 4, 6, False),
    (1, 1, 2, 3, True),   # one time step
    (2, 7, 3, 4, False),
    (4, 3, 1, 2, True),
]


def _sequence_inputs(rng, batch, steps, features, units):
    x = rng.normal(size=(batch, steps, features))
    return (x, _state(rng, batch, units)) + _weights(rng, features, units, 1)


def reference_rnn_forward(x, h0, Wx, Wh, b, return_sequences):
    """``(out, cache)``: :class:`course_lib.layers.SimpleRNN` (float64) run from ``h0`` with these weights.

    ``out`` is ``(N, T, units)`` with ``return_sequences``, else the last state ``(N, units)``; the cache
    is the layer, called once.
    """
    from course_lib import layers

    layer = layers.SimpleRNN(Wh.shape[0], return_sequences=bool(return_sequences), dtype="float64")
    layer.build([x.shape, h0.shape])
    layer.set_weights([Wx, Wh, b])
    return layer(x, initial_state=[h0]), layer


def reference_rnn_backward(dout, cache):
    """``(dx, dh0, dWx, dWh, db)`` from the layer's own backward pass (``cache`` is the layer)."""
    layer = cache
    dx, dh0 = layer.backward(dout)
    grads = layer.grads
    return dx, dh0, grads["kernel"], grads["recurrent_kernel"], grads["bias"]


def _sequence_label(x, units, return_sequences):
    batch, steps, features = x.shape
    return f"N={batch}, T={steps}, features={features}, units={units}, return_sequences={return_sequences}"


def _time_hints(x, h0, Wx, Wh, b, return_sequences):
    def reversed_outputs():
        out, _ = reference_rnn_forward(x, h0, Wx, Wh, b, True)
        return out[:, ::-1]

    hints = [(lambda: reference_rnn_forward(x[:, ::-1], h0, Wx, Wh, b, return_sequences)[0],
              "these are the numbers of the loop run from the last time step to the first; x[:, 0] comes first"),
             (lambda: reference_rnn_forward(x, 0 * h0, Wx, Wh, b, return_sequences)[0],
              "these are the numbers of a loop that starts from zeros; it starts from h0")]
    if return_sequences:
        hints.append((reversed_outputs, "the outputs are in reverse time order: out[:, t] is the state after x[:, t]"))
    else:
        hints.append((lambda: reference_rnn_forward(x[:, :1], h0, Wx, Wh, b, False)[0],
                      "this is the state after the first step; return_sequences=False returns the last one"))
    return hints


def check_rnn_forward(rnn_forward, points=DEFAULT_POINTS["rnn_forward"], seed=0, verbose=True):
    """Check ``rnn_forward(x, h0, Wx, Wh, b, return_sequences) -> (out, cache)`` against course_lib's SimpleRNN.

    ``x`` is ``(N, T, features)``; ``out`` is ``(N, T, units)`` with
    ``return_sequences`` and ``(N, units)`` (the last state) without.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    for batch, steps, features, units, return_sequences in _SEQUENCE_CASES:
        inputs = _sequence_inputs(rng, batch, steps, features, units)

        def run(notes, inputs=inputs, return_sequences=return_sequences):
            result = call_student("rnn_forward", rnn_forward, *[_copy(a) for a in inputs], return_sequences,
                                  notes=notes)
            out, _ = unpack("rnn_forward", result, 2, "a pair (out, cache)")
            expected, _ = reference_rnn_forward(*inputs, return_sequences)
            hints = _time_hints(*inputs, return_sequences)
            return [(1, with_hint(_differs("out", expected, out), hints, out))]

        cases.append((_sequence_label(inputs[0], units, return_sequences), run))
    return run_cases("rnn_forward", points, cases, verbose)


def _per_step(what, expected, received):
    """For a wrong ``dx`` of shape ``(N, T, F)``: which time steps are right, and what that suggests."""
    try:
        error = relative_error(expected, numpy.asarray(received, dtype="float64"))
    except Exception:
        return ""
    wrong = [t for t in range(expected.shape[1]) if (error[:, t] > RELATIVE_TOLERANCE).any()]
    right = [t for t in range(expected.shape[1]) if t not in wrong]
    if not right or not wrong:
        return ""
    def steps(numbers):
        return ", ".join(str(t) for t in numbers)

    text = f"; {what} is right at time step{'s' if len(right) > 1 else ''} {steps(right)} and wrong at {steps(wrong)}"
    if max(wrong) < min(right):
        text += (": the gradient reaching the earlier steps is wrong (each step's dh is its own dout[:, t], "
                 "nothing without return_sequences, plus the dh_prev the step after it sends back)")
    return text


def check_rnn_backward(rnn_backward, rnn_forward, points=DEFAULT_POINTS["rnn_backward"], seed=0, verbose=True):
    """Check ``rnn_backward(dout, cache) -> (dx, dh0, dWx, dWh, db)`` (backpropagation through time).

    The cache comes from the student's own ``rnn_forward``; ``dout`` is a
    random gradient shaped like its output (only the last state has one when
    ``return_sequences`` is False). The reference is the backward pass of
    course_lib's ``SimpleRNN``; each of the five gradients is a fifth of a case.

    Returns:
        Points earned (float).
    """
    rng = numpy.random.default_rng(seed)
    cases = []
    names = ("dx", "dh0", "dWx", "dWh", "db")
    for batch, steps, features, units, return_sequences in _SEQUENCE_CASES:
        inputs = _sequence_inputs(rng, batch, steps, features, units)
        dout = rng.normal(size=(batch, steps, units) if return_sequences else (batch, units))

        def run(notes, inputs=inputs, return_sequences=return_sequences, dout=dout):
            cache = _student_cache("rnn_forward", rnn_forward, inputs + (return_sequences,), 2, "a pair (out, cache)",
                                   notes)
            result = call_student("rnn_backward", rnn_backward, _copy(dout), cache, notes=notes)
            received = unpack("rnn_backward", result, 5, "five gradients (dx, dh0, dWx, dWh, db)")
            expected = reference_rnn_backward(dout, reference_rnn_forward(*inputs, return_sequences)[1])
            parts = []
            for name, want, got in zip(names, expected, received):
                reason = _differs(name, want, got)
                if name == "dx" and reason and " differs at " in reason:
                    reason += _per_step("dx", want, got)
                parts.append((1, reason))
            return parts

        cases.append((_sequence_label(inputs[0], units, return_sequences), run))
    return run_cases("rnn_backward", points, cases, verbose)


# --- exercise 5: a Bidirectional model trained on a sequence task -----------------------------------------

SEQUENCE_LENGTH = 30
"""Tokens per sequence in :func:`first_equals_last`."""
VOCABULARY = 4
"""Distinct tokens; each is one-hot encoded, so a sequence is ``(SEQUENCE_LENGTH, VOCABULARY)``."""
TRAIN_SIZE = 2000
TEST_SIZE = 1000
TARGET_ACCURACY = 0.95
"""Held-out accuracy that earns all the accuracy points (a share of them from 0.5, chance, up to it)."""
TRAIN_SECONDS = 55.0
"""What ``train_bidirectional`` may take (the sandbox's call limit is 60 s); the reference takes about 2."""
GRADER_SEEDS = (1701, 2718)
"""The seeds of the grader's own training and held-out sequences (the notebook uses others)."""
MODEL_LAYERS = ("InputLayer", "Bidirectional", "LSTM", "GRU", "SimpleRNN", "Dense", "Dropout", "Activation")
"""The layers a returned model may have."""
WRAPPED_LAYERS = ("LSTM", "GRU", "SimpleRNN")
"""What a ``Bidirectional`` may wrap."""
MAX_RECURRENT_UNITS = 128
"""Units a recurrent layer may have here (a few dozen are plenty)."""


def first_equals_last(count, seed):
    """``count`` one-hot sequences and their labels: 1.0 when the first token equals the last one.

    Half of the labels are 1; for the others the last token is one of the
    other tokens, at random. The tokens in between are random and carry no
    information.

    Returns:
        ``(x, y)``: ``x`` float32 of shape ``(count, SEQUENCE_LENGTH, VOCABULARY)``, ``y`` float32 ``(count,)``.
    """
    rng = numpy.random.default_rng(seed)
    tokens = rng.integers(0, VOCABULARY, size=(count, SEQUENCE_LENGTH))
    labels = rng.integers(0, 2, size=count)
    other = (tokens[:, 0] + rng.integers(1, VOCABULARY, size=count)) % VOCABULARY
    tokens[:, -1] = numpy.where(labels == 1, tokens[:, 0], other)
    x = numpy.eye(VOCABULARY, dtype="float32")[tokens]
    return x, labels.astype("float32")


def reference_train_bidirectional(x_train, y_train):
    """``Bidirectional(LSTM(16))``, a hidden ReLU layer and a sigmoid unit, 10 epochs of Adam (2 s on one core).

    The hidden layer is needed: "equal" is not a linear function of the two one-hot tokens the two
    directions carry to the end.
    """
    import course_lib as keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=x_train.shape[1:])
    features = keras.layers.Bidirectional(keras.layers.LSTM(16))(inputs)
    hidden = keras.layers.Dense(16, activation="relu")(features)
    outputs = keras.layers.Dense(1, activation="sigmoid")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=10, batch_size=64, verbose=0)
    return model


def _described(result):
    if callable(getattr(result, "to_json", None)) and callable(getattr(result, "get_weights", None)):
        return {"model_json": result.to_json(), "weights": list(result.get_weights())}
    return result


def _recurrent_problem(name, where, config):
    """None for a recurrent layer's config within the limits, else the reason."""
    if not isinstance(config, dict) or config.get("class_name") not in WRAPPED_LAYERS \
            or config.get("registered_name") not in (None, config.get("class_name")) \
            or not isinstance(config.get("config"), dict):
        kind = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        return f"{name}: {where} wraps a {shown(kind)}; a Bidirectional here wraps one of {list(WRAPPED_LAYERS)}"
    units = config["config"].get("units")
    if not isinstance(units, int) or isinstance(units, bool) or not 0 < units <= MAX_RECURRENT_UNITS:
        return (f"{name}: {where} has units={shown(units)}; each recurrent layer here has from 1 to "
                f"{MAX_RECURRENT_UNITS} units")
    return None


def rebuilt_bidirectional(name, result):
    """The returned model, rebuilt in the grader once every recurrent layer in it is within the limits.

    :func:`~course_lib.grading.harness.rebuilt_model` checks the top-level
    layers; the layers a ``Bidirectional`` wraps are nested in its config, so
    they are checked here first (their class, and at most
    :data:`MAX_RECURRENT_UNITS` units).

    Raises:
        StudentCodeError: the reason, for anything that is not such a model.
    """
    result = _described(result)
    text = result.get("model_json") if isinstance(result, dict) else None
    if isinstance(text, str) and len(text) <= MODEL_LIMITS["json"]:
        try:
            config = json.loads(text)
        except (ValueError, RecursionError):
            config = None  # rebuilt_model says why
        entries = config.get("config", {}).get("layers") if isinstance(config, dict) and isinstance(
            config.get("config"), dict) else None
        for entry in entries if isinstance(entries, list) else []:
            settings = entry.get("config") if isinstance(entry, dict) else None
            if not isinstance(settings, dict):
                continue
            label = f"layer {shown(settings.get('name'))}"
            if entry.get("class_name") == "Bidirectional":
                for key in ("layer", "backward_layer"):
                    if key == "layer" or settings.get(key) is not None:
                        problem = _recurrent_problem(name, f"{label} ({key})", settings.get(key))
                        if problem:
                            raise StudentCodeError(problem)
            elif entry.get("class_name") in WRAPPED_LAYERS:
                problem = _recurrent_problem(name, label, entry)
                if problem:
                    raise StudentCodeError(problem)
    return rebuilt_model(name, result, layers=MODEL_LAYERS)


def _architecture_problem(model):
    """None for a model of one-hot sequences to one probability with a Bidirectional layer, else the reason."""
    kinds = [type(layer).__name__ for layer in model.layers]
    if "Bidirectional" not in kinds:
        return f"the model has no Bidirectional layer (its layers: {shown(kinds, 120)})"
    inputs = [tuple(tensor.shape) for tensor in model.inputs]
    expected = (None, SEQUENCE_LENGTH, VOCABULARY)
    if len(inputs) != 1 or inputs[0][1:] != expected[1:]:
        return f"one input of shape {expected} expected, the model has {shown(inputs)}"
    outputs = [tuple(tensor.shape) for tensor in model.outputs]
    if outputs != [(None, 1)]:
        return f"one output of shape (None, 1) (the probability that first == last) expected, received {shown(outputs)}"
    return None


def check_train_bidirectional(train_bidirectional, points=DEFAULT_POINTS["train_bidirectional"],
                              target_accuracy=TARGET_ACCURACY, time_limit=TRAIN_SECONDS, seed=0, verbose=True):
    """Train with the student's ``train_bidirectional(x_train, y_train) -> model`` and score the model.

    The grader makes its own :data:`TRAIN_SIZE` training sequences and
    :data:`TEST_SIZE` held-out ones (:func:`first_equals_last` with
    :data:`GRADER_SEEDS`). A third of the points is for the model itself (a
    ``Bidirectional`` layer, input ``(None, SEQUENCE_LENGTH, VOCABULARY)``,
    output ``(None, 1)``); two thirds for held-out accuracy: all at
    ``target_accuracy`` or above, a linear share between chance (0.5) and
    the target below it. A prediction above 0.5 is read as "equal".
    ``seed=0`` makes the sequences of :data:`GRADER_SEEDS`; another seed makes new ones.

    Returns:
        Points earned (float).
    """
    seeds = GRADER_SEEDS if seed == 0 else tuple(int(s) for s in numpy.random.default_rng(seed).integers(2**31, size=2))
    x_train, y_train = first_equals_last(TRAIN_SIZE, seeds[0])
    x_test, y_test = first_equals_last(TEST_SIZE, seeds[1])

    def run(notes):
        started = time.perf_counter()
        result = call_student("train_bidirectional", train_bidirectional, _copy(x_train), _copy(y_train),
                              time_limit=time_limit, notes=notes)
        notes.append(f"training took {time.perf_counter() - started:.1f} s")
        model = rebuilt_bidirectional("train_bidirectional", result)
        parts = [(1, _architecture_problem(model))]
        try:
            probabilities = numpy.asarray(model.predict(x_test, verbose=0), dtype="float64").reshape(-1)
            if probabilities.shape != y_test.shape:
                raise ValueError(f"{probabilities.size} predictions for {y_test.size} sequences")
        except Exception as error:
            parts.append((2, f"the model could not predict the held-out sequences ({type(error).__name__}: "
                             f"{shown(str(error), 200)})"))
            return parts
        accuracy = float(((probabilities > 0.5) == (y_test > 0.5)).mean())
        notes.append(f"held-out accuracy {accuracy:.3f} (target {target_accuracy:.2f})")
        if accuracy >= target_accuracy:
            parts.append((2, None))
        else:
            share = max(0.0, (accuracy - 0.5) / (target_accuracy - 0.5))
            parts.append((2 * share, None))
            parts.append((2 * (1 - share), f"held-out accuracy {accuracy:.3f}; expected >= {target_accuracy:.2f}"))
        return parts

    label = f"first token == last token, {TRAIN_SIZE} training and {TEST_SIZE} held-out sequences"
    return run_cases("train_bidirectional", points, [(label, run)], verbose)


_CHECKERS = {
    "rnn_step_forward": (check_rnn_step_forward, None),
    "rnn_step_backward": (check_rnn_step_backward, "rnn_step_forward"),
    "lstm_step_forward": (check_lstm_step_forward, None),
    "lstm_step_backward": (check_lstm_step_backward, "lstm_step_forward"),
    "gru_step_forward": (check_gru_step_forward, None),
    "rnn_forward": (check_rnn_forward, None),
    "rnn_backward": (check_rnn_backward, "rnn_forward"),
    "train_bidirectional": (check_train_bidirectional, None),
}
