"""Checkers for assignment 10 (attention and GANs, written with NumPy alone).

Chapter 12's two ideas, rebuilt from their equations:

1. scaled dot-product attention, ``softmax(Q K^T / sqrt(d), mask) V``, with
   its weights (``scaled_dot_product_attention``), then its backward pass
   (``scaled_dot_product_attention_backward``);
2. the heads of multi-head attention: ``split_heads`` and ``merge_heads``;
3. ``multi_head_attention`` with the kernels of Keras's ``MultiHeadAttention``
   (``query_kernel (dq, H, K)``, ``query_bias (H, K)``, ..., ``output_kernel
   (H, V, d_out)``, ``output_bias (d_out,)``), returning the output and the
   attention scores;
4. a GAN's losses from the discriminator's logits with their gradients:
   ``discriminator_loss`` (real labelled 1, fake 0, the sum of the two batch
   means) and the non-saturating ``generator_loss`` (fake labelled 1).

The references are the course's kernels, held equal to tf.keras by their
tests: :mod:`course_lib.ops.attention` (``scaled_dot_product_attention_forward``
and ``_backward``, ``split_heads``, ``merge_heads``,
``multi_head_attention_forward``) and :mod:`course_lib.ops.gan`.

Masks follow Keras's fused attention (``ops.dot_product_attention``, the path
Keras's MultiHeadAttention takes when it returns no scores): a masked score
is *replaced* by -1e9 before the softmax, so a row whose every position is
masked gets uniform weights (the references' ``zero_masked=False``). Keras's
``Softmax`` layer, on the path that returns the scores, also sets the masked
weights to 0 and so returns a row of zeros there; the notebook asks for the
uniform row, and a reason says so when it receives zeros.

The answers may not import the references (course_lib.ops and
course_lib.layers, refused by the trusted grader for every NumPy assignment),
SciPy (``scipy.special.softmax``, ``expit`` and ``log_expit``), TensorFlow,
Keras, PyTorch or JAX.

Every case is drawn by the checker in float64 from its own seed: random
sizes, Tq different from Tv, a causal mask, padding masks, a fully masked
row, logits of ±1000. A failed comparison says which value is wrong, its
largest relative error and where (never the inputs); where a known mistake
explains the numbers exactly (the scale forgotten or taken from the wrong
size, the mask ignored or added instead of filled in, the softmax over the
wrong axis or its Jacobian's diagonal only, heads and steps mixed up, the
biases left out, a log of 0, the average of the two batch means, the
saturating generator loss) the reason says so.
"""
from __future__ import annotations

import math

import numpy

from course_lib.grading.harness import (
    call_student, compare, describe, matches, run_cases, shape_of, unpack, with_hint,
)
from course_lib.ops import attention, gan

FORBIDDEN_MODULES = ("scipy",)
"""Modules the answers may not import beyond the trusted grader's own list (which refuses course_lib.ops and
course_lib.layers, the grading modules, TensorFlow, Keras, PyTorch, JAX and scikit-learn)."""

DEFAULT_POINTS = {
    "scaled_dot_product_attention": 3,
    "scaled_dot_product_attention_backward": 4,
    "split_heads": 1,
    "merge_heads": 1,
    "multi_head_attention": 4,
    "discriminator_loss": 2,
    "generator_loss": 2,
}

LARGE_NEGATIVE = -1e9
"""What a masked score is replaced by (Keras's ``Softmax`` fill value for float32 and float64)."""


def _copy(value):
    return None if value is None else numpy.array(value, copy=True)


def _differs(what, expected, received, tolerance=1e-6):
    """:func:`compare`, with the number of wrong entries added to its reason."""
    reason = compare(what, expected, received, tolerance)
    if reason is None or " relative error " not in reason:
        return reason
    error = numpy.abs(numpy.asarray(expected, dtype="float64") - numpy.asarray(received, dtype="float64"))
    error /= numpy.maximum(1e-8, numpy.abs(expected) + numpy.abs(numpy.asarray(received, dtype="float64")))
    wrong = int((error > tolerance).sum())
    return f"{reason} ({wrong} of {error.size} entries {'differs' if wrong == 1 else 'differ'})"


def _number_reason(what, expected, received, tolerance=1e-6):
    """:func:`compare` for a value that must be one number."""
    shape = shape_of(received)
    if shape not in ((), None):
        return f"{what}: one number (the mean over the batch) expected, received an array of shape {shape}"
    reason = compare(what, expected, received, tolerance)
    if reason is not None and " relative error " in reason:
        return f"{what} is {float(numpy.asarray(received)):.8g}, expected {float(expected):.8g}"
    return reason


def _masked_rows(mask, shape):
    """Bool ``(batch, Tq)``: the query rows in which every position is masked."""
    if mask is None:
        return numpy.zeros(shape[:-1], dtype=bool)
    return ~numpy.broadcast_to(mask, shape).any(axis=-1)


# --- exercise 1: scaled dot-product attention --------------------------------------------------------------


def reference_scaled_dot_product_attention(query, key, value, mask=None):
    """``(output, weights)`` of :func:`course_lib.ops.attention.scaled_dot_product_attention_forward`
    with the masked scores replaced by -1e9 and kept in the softmax (a fully masked row is uniform)."""
    output, weights, _ = attention.scaled_dot_product_attention_forward(
        numpy.asarray(query, dtype="float64"), numpy.asarray(key, dtype="float64"),
        numpy.asarray(value, dtype="float64"), mask=mask, zero_masked=False)
    return output, weights


def _padding_mask(rng, batch, steps):
    """``(batch, 1, steps)``: each sequence keeps its first ``length`` steps (at least one)."""
    lengths = rng.integers(1, steps + 1, size=batch)
    lengths[0] = steps  # one sequence without padding
    if batch > 1:
        lengths[1] = max(1, steps - 2)
    return (numpy.arange(steps)[None, :] < lengths[:, None])[:, None, :]


def _attention_cases(rng, large_scores=True):
    """``(label, query, key, value, mask)`` of the attention cases, float64; the last has scores in the
    hundreds (left out with ``large_scores=False``: its gradients are 0 up to rounding)."""
    cases = []
    batch, steps, depth, value_depth = (int(n) for n in rng.integers(2, 6, size=4))
    cases.append(("no mask", rng.normal(size=(batch, steps, depth)), rng.normal(size=(batch, steps, depth)),
                  rng.normal(size=(batch, steps, value_depth)), None))
    cases.append(("Tq != Tv, no mask", rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 6, 4)),
                  rng.normal(size=(2, 6, 2)), None))
    steps = 5
    cases.append(("a causal mask (Tq, Tv), the same for the whole batch", rng.normal(size=(3, steps, 4)),
                  rng.normal(size=(3, steps, 4)), rng.normal(size=(3, steps, 3)),
                  attention.causal_mask(steps, steps)))
    cases.append(("a padding mask (batch, 1, Tv), Tq != Tv", rng.normal(size=(4, 3, 2)), rng.normal(size=(4, 6, 2)),
                  rng.normal(size=(4, 6, 5)), _padding_mask(rng, 4, 6)))
    mask = rng.uniform(size=(2, 4, 5)) < 0.6
    mask[:, :, 0] = True
    mask[1, 2] = False  # query 2 of the second sample sees nothing
    cases.append(("a mask (batch, Tq, Tv) with a fully masked row", rng.normal(size=(2, 4, 3)),
                  rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5, 4)), mask))
    cases.append(("one key and one value per sample", rng.normal(size=(3, 2, 3)), rng.normal(size=(3, 1, 3)),
                  rng.normal(size=(3, 1, 2)), None))
    if large_scores:
        cases.append((LARGE_SCORES, 1000.0 * rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 4, 4)),
                      rng.normal(size=(2, 4, 3)), None))
    return cases


LARGE_SCORES = "scores in the hundreds (np.exp overflows above 709)"


def _softmax(scores, axis=-1):
    shifted = scores - scores.max(axis=axis, keepdims=True)
    weights = numpy.exp(shifted)
    return weights / weights.sum(axis=axis, keepdims=True)


def _attention_variant(query, key, value, mask, scale=None, fill="replace", axis=-1):
    """``(output, weights)`` of attention computed as a usual mistake would (hints only).

    ``fill``: "replace" (the convention), "add" (-1e9 added to the masked scores), "zeros" (then masked
    weights set to 0, Keras's Softmax layer) or "ignore" (no mask at all); ``axis`` of the softmax.
    """
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query * scale) @ numpy.swapaxes(key, -1, -2)
    if mask is not None and fill in ("replace", "zeros"):
        scores = numpy.where(mask, scores, LARGE_NEGATIVE)
    elif mask is not None and fill == "add":
        scores = scores + numpy.where(mask, 0.0, LARGE_NEGATIVE)
    weights = _softmax(scores, axis)
    if mask is not None and fill == "zeros":
        weights = numpy.where(mask, weights, 0.0)
    return weights @ value, weights


def _attention_hints(query, key, value, mask, part):
    """Hints for the output (``part`` 0) or the weights (``part`` 1) of scaled dot-product attention."""
    depth = query.shape[-1]

    def pick(**options):
        return lambda: _attention_variant(query, key, value, mask, **options)[part]

    hints = [(pick(scale=1.0), "the scores are not scaled: the query is multiplied by 1/sqrt(d) before the dot "
                               "product (d = query.shape[-1])"),
             (pick(scale=1.0 / depth), "the scores are divided by d; the scale is 1/sqrt(d)"),
             (pick(scale=math.sqrt(depth)), "the scores are multiplied by sqrt(d); the scale is 1/sqrt(d)")]
    if query.shape[-2] != 1:
        hints.append((pick(axis=-2), "the softmax runs over the queries (axis -2); each query's weights over the "
                                     "keys must sum to 1: softmax over the last axis"))
    if mask is not None:
        hints += [(pick(fill="ignore"), "the mask is not applied: masked scores are replaced by -1e9 "
                                        "(np.where(mask, scores, -1e9)) before the softmax"),
                  (lambda: _attention_variant(query, key, value, ~numpy.asarray(mask))[part],
                   "the mask is inverted: True means the query MAY attend to that key"),
                  (pick(fill="zeros"), "a fully masked row is all zeros here, as Keras's Softmax layer leaves it; "
                                       "this notebook keeps the softmax of the filled scores, a uniform row (1/Tv)"),
                  (pick(fill="add"), "-1e9 is added to the masked scores instead of replacing them: in float64 "
                                     "s - 1e9 keeps the differences between the scores, so a fully masked row is "
                                     "the softmax of its unmasked scores instead of uniform; replace them "
                                     "(np.where(mask, scores, -1e9))")]
    return hints


def _nan_note(reason, mask):
    """For a result that is not finite: the overflow of an unshifted softmax, or a row filled with -inf."""
    if reason is None or "expected finite numbers" not in reason or ": " in reason.split("finite numbers", 1)[1]:
        return reason
    if mask is not None and _masked_rows(mask, numpy.broadcast_shapes(numpy.shape(mask), (1, 1))).any():
        return (f"{reason}: a fully masked row gives nan when its scores are filled with -np.inf (-inf - (-inf) is "
                "nan), or with -1e9 but without the row maximum subtracted (every exp(-1e9) is 0, and 0 / 0 is "
                "nan): fill with -1e9 and subtract each row's maximum before np.exp")
    return (f"{reason}: np.exp overflows for scores above 709; subtract each row's maximum before np.exp (the "
            "softmax is the same)")


def _masked_row_note(reason, expected_weights, weights, mask):
    """A sentence for weights right everywhere but in the fully masked rows."""
    rows = _masked_rows(mask, expected_weights.shape)
    if reason is None or not rows.any() or ": " in reason.split("expected < ", 1)[-1]:
        return reason
    try:
        received = numpy.asarray(weights, dtype="float64")
        if received.shape != expected_weights.shape or not matches(expected_weights[~rows], received[~rows]):
            return reason
    except Exception:
        return reason
    return (f"{reason}: only the fully masked rows are wrong; where every score is replaced by -1e9 the softmax "
            "is uniform, 1/Tv each")


def check_scaled_dot_product_attention(scaled_dot_product_attention,
                                       points=DEFAULT_POINTS["scaled_dot_product_attention"], seed=0, verbose=True):
    """Check ``scaled_dot_product_attention(query, key, value, mask=None) -> (output, weights)``.

    ``weights = softmax(query key^T / sqrt(d))`` over the keys, with the
    masked scores replaced by -1e9 (a fully masked row is uniform), and
    ``output = weights value``. Seven cases, each worth the same (the output
    and the weights half each): random sizes without a mask, Tq != Tv, a
    causal mask ``(Tq, Tv)``, a padding mask ``(batch, 1, Tv)``, a mask
    ``(batch, Tq, Tv)`` with a fully masked row, a single key, scores in the
    hundreds (a softmax without its row maximum subtracted overflows).

    Returns:
        Points earned (float).
    """
    name = "scaled_dot_product_attention"
    rng = numpy.random.default_rng(seed)
    cases = []
    for label, query, key, value, mask in _attention_cases(rng):
        def run(notes, query=query, key=key, value=value, mask=mask):
            result = call_student(name, scaled_dot_product_attention, _copy(query), _copy(key), _copy(value),
                                  _copy(mask), notes=notes)
            output, weights = unpack(name, result, 2, "a pair (output, weights)")
            expected_output, expected_weights = reference_scaled_dot_product_attention(query, key, value, mask)
            output_reason = _nan_note(with_hint(_differs("output", expected_output, output),
                                                 _attention_hints(query, key, value, mask, 0), output), mask)
            weights_reason = _nan_note(with_hint(_differs("weights", expected_weights, weights),
                                                  _attention_hints(query, key, value, mask, 1), weights), mask)
            weights_reason = _masked_row_note(weights_reason, expected_weights, weights, mask)
            return [(1, output_reason), (1, weights_reason)]

        arrays = describe(query=query, key=key, value=value) + ("" if mask is None else f", mask {mask.shape}")
        cases.append((f"{label}: {arrays}", run))
    return run_cases(name, points, cases, verbose)


# --- exercise 1b: its backward pass ------------------------------------------------------------------------


def reference_scaled_dot_product_attention_backward(d_output, query, key, value, weights, mask=None):
    """``(d_query, d_key, d_value)`` of :func:`course_lib.ops.attention.scaled_dot_product_attention_backward`.

    The reference runs its own forward pass for the cache; ``weights`` (the
    correct ones, which the checker passes) is not needed.
    """
    _, _, cache = attention.scaled_dot_product_attention_forward(
        numpy.asarray(query, dtype="float64"), numpy.asarray(key, dtype="float64"),
        numpy.asarray(value, dtype="float64"), mask=mask, zero_masked=False)
    return attention.scaled_dot_product_attention_backward(numpy.asarray(d_output, dtype="float64"), cache)


def _backward_variant(d_output, query, key, value, weights, mask, jacobian="full", masked_rows=True,
                      query_scale=True, key_scale=True):
    """``(d_query, d_key, d_value)`` computed as a usual mistake would (hints only)."""
    scale = 1.0 / math.sqrt(query.shape[-1])
    d_value = numpy.swapaxes(weights, -1, -2) @ d_output
    d_weights = d_output @ numpy.swapaxes(value, -1, -2)
    if jacobian == "full":
        d_scores = weights * (d_weights - (d_weights * weights).sum(axis=-1, keepdims=True))
    else:
        d_scores = d_weights * weights * (1.0 - weights)
    if mask is not None and masked_rows:
        d_scores = numpy.where(mask, d_scores, 0.0)
    d_query = (d_scores @ key) * (scale if query_scale else 1.0)
    d_key = numpy.swapaxes(d_scores, -1, -2) @ (query * (scale if key_scale else 1.0))
    return d_query, d_key, d_value


def _backward_hints(d_output, query, key, value, weights, mask, part):
    def pick(**options):
        return lambda: _backward_variant(d_output, query, key, value, weights, mask, **options)[part]

    hints = [(pick(jacobian="diagonal"), "the softmax's backward uses only the diagonal of its Jacobian, "
                                         "w (1 - w); each weight depends on every score of its row: d_scores = "
                                         "w * (d_weights - sum(d_weights * w, axis=-1, keepdims=True))"),
             (pick(query_scale=False), "the 1/sqrt(d) scale is missing: d_query = (d_scores key) / sqrt(d)"),
             (pick(key_scale=False), "the 1/sqrt(d) scale is missing: d_key = d_scores^T query / sqrt(d)")]
    if mask is not None and _masked_rows(mask, weights.shape).any():
        hints.append((pick(masked_rows=False), "in a fully masked row every score was replaced by the constant "
                                               "-1e9, so no gradient reaches those scores: set d_scores to 0 where "
                                               "the mask is False"))
    return hints


def check_scaled_dot_product_attention_backward(scaled_dot_product_attention_backward,
                                                points=DEFAULT_POINTS["scaled_dot_product_attention_backward"],
                                                seed=0, verbose=True):
    """Check ``scaled_dot_product_attention_backward(d_output, query, key, value, weights, mask=None)
    -> (d_query, d_key, d_value)``.

    ``weights`` are the correct attention weights of the forward pass (the
    checker computes them), ``d_output`` a random upstream gradient. The six
    cases are those of :func:`check_scaled_dot_product_attention` but the
    last (whose gradients are 0 up to rounding), each worth the same, each
    gradient a third of a case.

    Returns:
        Points earned (float).
    """
    name = "scaled_dot_product_attention_backward"
    rng = numpy.random.default_rng(seed + 1)
    cases = []
    for label, query, key, value, mask in _attention_cases(rng, large_scores=False):
        d_output = rng.normal(size=query.shape[:-1] + value.shape[-1:])

        def run(notes, query=query, key=key, value=value, mask=mask, d_output=d_output):
            _, weights = reference_scaled_dot_product_attention(query, key, value, mask)
            result = call_student(name, scaled_dot_product_attention_backward, _copy(d_output), _copy(query),
                                  _copy(key), _copy(value), _copy(weights), _copy(mask), notes=notes)
            received = unpack(name, result, 3, "three gradients (d_query, d_key, d_value)")
            expected = reference_scaled_dot_product_attention_backward(d_output, query, key, value, weights, mask)
            parts = []
            for part, (what, want, got) in enumerate(zip(("d_query", "d_key", "d_value"), expected, received)):
                hints = _backward_hints(d_output, query, key, value, weights, mask, part)
                parts.append((1, with_hint(_differs(what, want, got), hints, got)))
            return parts

        arrays = describe(query=query, key=key, value=value) + ("" if mask is None else f", mask {mask.shape}")
        cases.append((f"{label}: {arrays}", run))
    return run_cases(name, points, cases, verbose)


# --- exercise 2: the heads ---------------------------------------------------------------------------------


def reference_split_heads(x, num_heads):
    """:func:`course_lib.ops.attention.split_heads`: ``(batch, T, H*depth) -> (batch, H, T, depth)``."""
    return attention.split_heads(numpy.asarray(x, dtype="float64"), int(num_heads))


def reference_merge_heads(x):
    """:func:`course_lib.ops.attention.merge_heads`: ``(batch, H, T, depth) -> (batch, T, H*depth)``."""
    return attention.merge_heads(numpy.asarray(x, dtype="float64"))


_HEAD_SHAPES = [(2, 5, 3, 4), (1, 1, 4, 1), (3, 4, 1, 6), (2, 3, 2, 2), (4, 6, 3, 5)]
"""(batch, T, H, depth) of the heads' cases: ordinary, depth 1, one head, square, larger."""


def _split_hints(x, num_heads):
    batch, steps, features = x.shape
    depth = features // num_heads
    return [(lambda: x.reshape(batch, num_heads, steps, depth), "x.reshape(batch, H, T, depth) mixes time steps "
                                                                "and features; reshape to (batch, T, H, depth), "
                                                                "then swap the T and H axes (transpose(0, 2, 1, 3))"),
            (lambda: x.reshape(batch, steps, depth, num_heads).transpose(0, 3, 1, 2),
             "the features are split as (depth, H); head h holds the features h*depth to (h+1)*depth - 1: "
             "reshape to (batch, T, H, depth)")]


def check_split_heads(split_heads, points=DEFAULT_POINTS["split_heads"], seed=0, verbose=True):
    """Check ``split_heads(x, num_heads)``: ``(batch, T, H*depth) -> (batch, H, T, depth)``, head ``h`` holding
    the features ``h*depth`` to ``(h+1)*depth - 1`` of every step (Keras's layout). Five cases.

    Returns:
        Points earned (float).
    """
    name = "split_heads"
    rng = numpy.random.default_rng(seed + 2)
    cases = []
    for batch, steps, heads, depth in _HEAD_SHAPES:
        x = rng.normal(size=(batch, steps, heads * depth))

        def run(notes, x=x, heads=heads):
            received = call_student(name, split_heads, _copy(x), heads, notes=notes)
            expected = reference_split_heads(x, heads)
            reason = _differs("the heads", expected, received, 1e-12)
            if reason is not None and shape_of(received) == (x.shape[0], x.shape[1], heads, expected.shape[-1]):
                reason += ": this is (batch, T, H, depth); swap the T and H axes (transpose(0, 2, 1, 3))"
            return [(1, with_hint(reason, _split_hints(x, heads), received))]

        cases.append((f"x {x.shape}, num_heads={heads}", run))
    return run_cases(name, points, cases, verbose)


def check_merge_heads(merge_heads, points=DEFAULT_POINTS["merge_heads"], seed=0, verbose=True):
    """Check ``merge_heads(x)``: ``(batch, H, T, depth) -> (batch, T, H*depth)``, the inverse of
    :func:`check_split_heads`'s function. Five cases.

    Returns:
        Points earned (float).
    """
    name = "merge_heads"
    rng = numpy.random.default_rng(seed + 3)
    cases = []
    for batch, steps, heads, depth in _HEAD_SHAPES:
        x = rng.normal(size=(batch, heads, steps, depth))

        def run(notes, x=x):
            received = call_student(name, merge_heads, _copy(x), notes=notes)
            expected = reference_merge_heads(x)
            batch, heads, steps, depth = x.shape
            hints = [(lambda: x.reshape(batch, steps, heads * depth),
                      "x.reshape(batch, T, H*depth) with the heads' axis still before the steps mixes heads and "
                      "steps: transpose(0, 2, 1, 3) first, then reshape"),
                     (lambda: x.transpose(0, 2, 3, 1).reshape(batch, steps, heads * depth),
                      "the features are laid out as (depth, H); Keras's are (H, depth): head h first, then its depth")]
            return [(1, with_hint(_differs("the merged array", expected, received, 1e-12), hints, received))]

        cases.append((f"x {x.shape}", run))
    return run_cases(name, points, cases, verbose)


# --- exercise 3: multi-head attention ----------------------------------------------------------------------

WEIGHT_NAMES = ("query_kernel", "query_bias", "key_kernel", "key_bias", "value_kernel", "value_bias",
                "output_kernel", "output_bias")
"""The keys of the ``weights`` dict, Keras's MultiHeadAttention weights in its order."""


def reference_multi_head_attention(query, value, key, weights, num_heads, mask=None):
    """``(output, scores)`` of :func:`course_lib.ops.attention.multi_head_attention_forward`, the masked scores
    replaced by -1e9 and kept in the softmax (a fully masked row is uniform)."""
    weights = {name: numpy.asarray(array, dtype="float64") for name, array in weights.items()}
    output, scores, _ = attention.multi_head_attention_forward(
        numpy.asarray(query, dtype="float64"), numpy.asarray(value, dtype="float64"),
        numpy.asarray(key, dtype="float64"), weights, num_heads=int(num_heads), mask=mask, zero_masked=False)
    return output, scores


def _mha_weights(rng, query_features, key_features, value_features, heads, key_dim, value_dim, out_features):
    """Kernels scaled like Glorot's (the softmax neither saturates nor flattens) and nonzero biases."""
    def kernel(fan_in, *shape):
        return rng.normal(size=(fan_in, *shape)) / math.sqrt(fan_in)

    return {
        "query_kernel": kernel(query_features, heads, key_dim),
        "query_bias": rng.normal(scale=0.3, size=(heads, key_dim)),
        "key_kernel": kernel(key_features, heads, key_dim), "key_bias": rng.normal(scale=0.3, size=(heads, key_dim)),
        "value_kernel": kernel(value_features, heads, value_dim),
        "value_bias": rng.normal(scale=0.3, size=(heads, value_dim)),
        "output_kernel": rng.normal(size=(heads, value_dim, out_features)) / math.sqrt(heads * value_dim),
        "output_bias": rng.normal(scale=0.3, size=(out_features,)),
    }


def _mha_cases(rng):
    """``(label, query, value, key, weights, num_heads, mask)``; masks are ``(batch, Tq, Tv)``."""
    cases = []
    x = rng.normal(size=(2, 5, 8))
    cases.append(("self-attention, no mask", x, x, x, _mha_weights(rng, 8, 8, 8, 2, 4, 4, 8), 2, None))
    query, value, key = rng.normal(size=(2, 3, 6)), rng.normal(size=(2, 7, 5)), rng.normal(size=(2, 7, 5))
    cases.append(("cross-attention, Tq != Tv, key and value different arrays", query, value, key,
                  _mha_weights(rng, 6, 5, 5, 3, 2, 3, 4), 3, None))
    query, value, key = rng.normal(size=(3, 4, 3)), rng.normal(size=(3, 6, 5)), rng.normal(size=(3, 6, 2))
    cases.append(("features of query, key and value all different", query, value, key,
                  _mha_weights(rng, 3, 2, 5, 2, 3, 2, 6), 2, None))
    x = rng.normal(size=(2, 6, 4))
    causal = numpy.broadcast_to(attention.causal_mask(6, 6), (2, 6, 6)).copy()
    cases.append(("a causal mask (batch, T, T)", x, x, x, _mha_weights(rng, 4, 4, 4, 2, 3, 3, 4), 2, causal))
    query, value = rng.normal(size=(4, 4, 4)), rng.normal(size=(4, 5, 4))
    query_lengths, value_lengths = numpy.array([4, 2, 3, 1]), numpy.array([5, 3, 1, 4])
    mask = ((numpy.arange(4)[None, :, None] < query_lengths[:, None, None])
            & (numpy.arange(5)[None, None, :] < value_lengths[:, None, None]))
    cases.append(("padded queries and values: a padded query's row is fully masked", query, value, value,
                  _mha_weights(rng, 4, 4, 4, 4, 2, 2, 3), 4, mask))
    x = rng.normal(size=(2, 3, 4))
    cases.append(("one head", x, x, x, _mha_weights(rng, 4, 4, 4, 1, 4, 4, 4), 1, None))
    return cases


def _mha_hints(query, value, key, weights, num_heads, mask, part):
    """Hints for the output (``part`` 0) or the scores (``part`` 1) of multi-head attention."""
    key_dim = weights["query_kernel"].shape[-1]
    model_dim = query.shape[-1]

    def changed(query_factor=1.0, biases=True, output_bias=True, mask=mask, swap=False, zero_masked=False):
        changed_weights = dict(weights)
        changed_weights["query_kernel"] = weights["query_kernel"] * query_factor
        changed_weights["query_bias"] = weights["query_bias"] * query_factor * biases
        changed_weights["key_bias"] = weights["key_bias"] * biases
        changed_weights["value_bias"] = weights["value_bias"] * biases
        changed_weights["output_bias"] = weights["output_bias"] * output_bias
        values, keys = (key, value) if swap else (value, key)
        return lambda: attention.multi_head_attention_forward(query, values, keys, changed_weights, num_heads,
                                                              mask=mask, zero_masked=zero_masked)[part]

    hints = [(changed(math.sqrt(key_dim)), "the scores are not scaled: multiply the projected query by "
                                           "1/sqrt(K), K = key_dim (query_kernel.shape[-1])"),
             (changed(math.sqrt(key_dim / model_dim)), "the query is scaled by 1/sqrt of the query's features; the "
                                                       "scale is 1/sqrt(K), K = key_dim, the depth of one head"),
             (changed(1.0 / math.sqrt(num_heads)), "the query is scaled by 1/sqrt(H*K); the scale is 1/sqrt(K), the "
                                                   "depth of one head"),
             (changed(biases=False), "the projections' biases are missing: q = query @ query_kernel + query_bias, "
                                     "and the same for k and v"),
             (changed(biases=False, output_bias=False), "the biases are missing (query_bias, key_bias, value_bias "
                                                        "and output_bias)"),
             (changed(output_bias=False), "output_bias is missing"),
             (changed(swap=True), "key and value are swapped: the scores compare the query with the KEY (third "
                                  "argument), the output mixes the VALUE (second argument, as in Keras's "
                                  "mha(query, value, key))")]
    if mask is not None:
        hints += [(changed(mask=None), "the mask is not applied: it has shape (batch, Tq, Tv); give it an axis "
                                       "for the heads (mask[:, None]) and fill the masked scores with -1e9"),
                  (changed(mask=numpy.asarray(mask)[None]),
                   "the mask (batch, Tq, Tv) met the scores (batch, H, Tq, Tv) without an axis for the heads: NumPy "
                   "aligns the LAST axes, so the mask's batch axis fell on the heads' axis; use mask[:, None]"),
                  (changed(zero_masked=True), "a fully masked row is all zeros here, as Keras's Softmax layer "
                                              "leaves it; this notebook keeps the uniform row (1/Tv)")]
    return hints


def check_multi_head_attention(multi_head_attention, points=DEFAULT_POINTS["multi_head_attention"], seed=0,
                               verbose=True):
    """Check ``multi_head_attention(query, value, key, weights, num_heads, mask=None) -> (output, scores)``.

    ``weights`` holds Keras's MultiHeadAttention kernels (:data:`WEIGHT_NAMES`);
    ``mask`` is None or a bool ``(batch, Tq, Tv)``; ``output`` is
    ``(batch, Tq, d_out)``, ``scores`` the attention weights ``(batch, H, Tq, Tv)``.
    Six cases, each worth the same (the output two thirds, the scores a
    third): self-attention, cross-attention with Tq != Tv, three different
    feature sizes, a causal mask, padded queries and values (fully masked
    rows), one head.

    Returns:
        Points earned (float).
    """
    name = "multi_head_attention"
    rng = numpy.random.default_rng(seed + 4)
    cases = []
    for label, query, value, key, weights, num_heads, mask in _mha_cases(rng):
        def run(notes, query=query, value=value, key=key, weights=weights, num_heads=num_heads, mask=mask):
            result = call_student(name, multi_head_attention, _copy(query), _copy(value), _copy(key),
                                  {weight: _copy(array) for weight, array in weights.items()}, num_heads,
                                  _copy(mask), notes=notes)
            output, scores = unpack(name, result, 2, "a pair (output, scores)")
            expected_output, expected_scores = reference_multi_head_attention(query, value, key, weights, num_heads,
                                                                              mask)
            output_reason = with_hint(_differs("output", expected_output, output),
                                       _mha_hints(query, value, key, weights, num_heads, mask, 0), output)
            scores_reason = with_hint(_differs("scores", expected_scores, scores),
                                       _mha_hints(query, value, key, weights, num_heads, mask, 1), scores)
            if scores_reason is not None and shape_of(scores) == expected_scores.shape[:1] + expected_scores.shape[2:]:
                scores_reason += ": one set of weights per head is expected, shape (batch, H, Tq, Tv)"
            return [(2, output_reason), (1, scores_reason)]

        heads, key_dim = weights["query_kernel"].shape[1:]
        arrays = (describe(query=query, value=value, key=key) + f", H={heads}, K={key_dim}"
                  + ("" if mask is None else f", mask {mask.shape}"))
        cases.append((f"{label}: {arrays}", run))
    return run_cases(name, points, cases, verbose)


# --- exercise 4: the GAN losses ----------------------------------------------------------------------------


def reference_discriminator_loss(real_logits, fake_logits):
    """``(loss, d_real_logits, d_fake_logits)`` of :func:`course_lib.ops.gan.discriminator_loss_forward`
    and ``_backward``: ``mean softplus(-real) + mean softplus(fake)``."""
    loss, cache = gan.discriminator_loss_forward(numpy.asarray(real_logits, dtype="float64"),
                                                 numpy.asarray(fake_logits, dtype="float64"))
    d_real, d_fake = gan.discriminator_loss_backward(1.0, cache)
    return float(loss), d_real, d_fake


def reference_generator_loss(fake_logits):
    """``(loss, d_fake_logits)`` of :func:`course_lib.ops.gan.generator_loss_forward` and ``_backward``:
    the non-saturating ``mean softplus(-fake) = mean -log σ(fake)``."""
    loss, cache = gan.generator_loss_forward(numpy.asarray(fake_logits, dtype="float64"))
    return float(loss), gan.generator_loss_backward(1.0, cache)


def _gan_cases(rng, drawn=False):
    """``(label, real_logits, fake_logits)`` of the loss cases; ``drawn`` (a seed other than 0) draws the listed
    ones anew from ``rng``, of the same kinds."""
    cases = [
        ("8 real and 8 fake logits (batch, 1)", rng.normal(scale=2.0, size=(8, 1)), rng.normal(scale=2.0, size=(8, 1))),
        ("6 real and 10 fake logits (batch,): batches of different sizes", rng.normal(scale=3.0, size=6),
         rng.normal(scale=3.0, size=10)),
        ("logits of +-1000 among ordinary ones", numpy.array([1000.0, -1000.0, 2.0, -0.5]),
         numpy.array([-1000.0, 1000.0, 0.3])),
        ("logits of +-40 (sigmoid rounds to 0 or 1 in float64)", numpy.array([[40.0], [-40.0], [1.5]]),
         numpy.array([[-40.0], [40.0], [-1.0]])),
        ("every logit 0 (the discriminator cannot tell): log 2 per term", numpy.zeros((5, 1)), numpy.zeros((4, 1))),
    ]
    if not drawn:
        return cases

    def among(large, shape=None):
        """``+large`` and ``-large`` among 1 to 3 ordinary logits, in a random order."""
        ordinary = rng.normal(scale=2.0, size=int(rng.integers(1, 4)))
        values = rng.permutation(numpy.concatenate([[large, -large], ordinary]))
        return values if shape is None else values.reshape(shape)

    huge = float(rng.integers(750, 1501))  # exp(x) overflows above 709.78, log σ(-x) is then log 0
    rounding = round(float(rng.uniform(38.0, 80.0)), 1)  # 1 + exp(-x) rounds to 1 above 36.7; exp(x) is finite
    cases[2:] = [
        (f"logits of +-{huge:g} among ordinary ones", among(huge), among(huge)),
        (f"logits of +-{rounding:g} (sigmoid rounds to 0 or 1 in float64)", among(rounding, (-1, 1)),
         among(rounding, (-1, 1))),
        ("every logit 0 (the discriminator cannot tell): log 2 per term", numpy.zeros((int(rng.integers(2, 10)), 1)),
         numpy.zeros((int(rng.integers(2, 10)), 1))),
    ]
    return cases


def _softplus(x):
    return numpy.logaddexp(0.0, x)


def _sigmoid(x):
    return numpy.exp(-numpy.logaddexp(0.0, -x))


_OVERFLOW_HINT = ("log(sigmoid(x)) is log(0) once sigmoid(x) rounds to 0 or 1 (at x = -40 or 1000 in float64), and "
                  "exp(1000) overflows: write -log σ(x) = log(1 + exp(-x)) as np.logaddexp(0, -x), or "
                  "np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))")


def _discriminator_hints(real, fake, part):
    n_real, n_fake = real.size, fake.size
    total = n_real + n_fake

    def values(real_label=1.0, fake_label=0.0, real_scale=None, fake_scale=None, loss_scale=1.0, sign=1.0):
        """(loss, d_real, d_fake) with other labels, means or gradient factors."""
        real_scale = 1.0 / n_real if real_scale is None else real_scale
        fake_scale = 1.0 / n_fake if fake_scale is None else fake_scale
        loss = (numpy.sum(_softplus(real) - real_label * real) * real_scale
                + numpy.sum(_softplus(fake) - fake_label * fake) * fake_scale) * loss_scale
        d_real = sign * (_sigmoid(real) - real_label) * real_scale * loss_scale
        d_fake = sign * (_sigmoid(fake) - fake_label) * fake_scale * loss_scale
        return (loss, d_real, d_fake)[part]

    return [(lambda: values(loss_scale=0.5), "this is the average of the two batch means; the discriminator's loss "
                                             "is their SUM, mean over the real logits + mean over the fake ones"),
            (lambda: values(real_scale=1.0 / total, fake_scale=1.0 / total),
             "this is one mean over the real and fake logits together; the loss is the sum of the two batch means "
             "(each divided by its own batch size)"),
            (lambda: values(real_label=0.0, fake_label=1.0), "the labels are swapped: the discriminator labels the "
                                                             "real samples 1 and the fakes 0"),
            (lambda: values(real_scale=1.0, fake_scale=1.0), "these are sums over the batch; the loss is a mean, and "
                                                             "each gradient is divided by its batch size"),
            (lambda: values(sign=-1.0), "the gradient has the wrong sign: d/dx of ℓ(x, y) is σ(x) - y"),
            (lambda: values(real_scale=1.0 / n_fake, fake_scale=1.0 / n_real),
             "the real batch's mean is divided by the fake batch's size and vice versa")]


def _generator_hints(fake, part):
    n = fake.size

    def values(label=1.0, sign=1.0, scale=1.0 / n, loss_sign=1.0):
        loss = loss_sign * numpy.sum(_softplus(fake) - label * fake) * scale
        gradient = loss_sign * sign * (_sigmoid(fake) - label) * scale
        return (loss, gradient)[part]

    return [(lambda: values(label=0.0, loss_sign=-1.0), "this is the saturating loss of the minimax game, "
                                                        "mean log(1 - σ(x)), whose gradient vanishes when the "
                                                        "discriminator rejects the fakes; the non-saturating loss "
                                                        "is mean -log σ(x): the fakes labelled 1"),
            (lambda: values(label=0.0), "the fakes are labelled 0, as the discriminator labels them; the generator "
                                        "labels its fakes 1 (real)"),
            (lambda: values(scale=1.0), "these are sums over the batch; the loss is a mean, and its gradient is "
                                        "divided by the batch size"),
            (lambda: values(sign=-1.0), "the gradient has the wrong sign: d/dx of -log σ(x) is σ(x) - 1")]


def _loss_reason(what, expected, received, hints):
    reason = with_hint(_number_reason(what, expected, received), hints, received)
    return _overflow_note(reason)


def _gradient_reason(what, expected, received, hints):
    return _overflow_note(with_hint(_differs(what, expected, received), hints, received))


def _overflow_note(reason):
    if reason is not None and "expected finite numbers" in reason and ": " not in reason.split("finite numbers", 1)[1]:
        return f"{reason}: {_OVERFLOW_HINT}"
    return reason


def check_discriminator_loss(discriminator_loss, points=DEFAULT_POINTS["discriminator_loss"], seed=0,
                             verbose=True):
    """Check ``discriminator_loss(real_logits, fake_logits) -> (loss, d_real_logits, d_fake_logits)``.

    ``loss = mean ℓ(real, 1) + mean ℓ(fake, 0)`` with the binary cross-entropy
    from logits ``ℓ(x, y) = log(1 + exp(x)) - y x``; the gradients have the
    shapes of the logits. Five cases, each worth the same (the loss and each
    gradient a third): ``(batch, 1)`` logits, batches of different sizes,
    logits of ±1000 and ±40 (only a stable log-sigmoid stays finite), zeros.
    ``seed=0`` gives the listed cases; another seed draws new ones of the
    same kinds (other large logits, other batch sizes).

    Returns:
        Points earned (float).
    """
    name = "discriminator_loss"
    cases = []
    for label, real, fake in _gan_cases(numpy.random.default_rng(seed + 5), drawn=seed != 0):
        def run(notes, real=real, fake=fake):
            result = call_student(name, discriminator_loss, _copy(real), _copy(fake), notes=notes)
            loss, d_real, d_fake = unpack(name, result, 3, "(loss, d_real_logits, d_fake_logits)")
            expected = reference_discriminator_loss(real, fake)
            return [(1, _loss_reason("loss", expected[0], loss, _discriminator_hints(real, fake, 0))),
                    (1, _gradient_reason("d_real_logits", expected[1], d_real, _discriminator_hints(real, fake, 1))),
                    (1, _gradient_reason("d_fake_logits", expected[2], d_fake, _discriminator_hints(real, fake, 2)))]

        cases.append((f"{label}: " + describe(real_logits=real, fake_logits=fake), run))
    return run_cases(name, points, cases, verbose)


def check_generator_loss(generator_loss, points=DEFAULT_POINTS["generator_loss"], seed=0, verbose=True):
    """Check ``generator_loss(fake_logits) -> (loss, d_fake_logits)``, the non-saturating
    ``mean ℓ(fake, 1) = mean -log σ(fake)``. The fake logits of the five
    discriminator cases, each worth the same (the loss and the gradient half each).
    ``seed=0`` gives the listed cases; another seed draws new ones of the
    same kinds.

    Returns:
        Points earned (float).
    """
    name = "generator_loss"
    cases = []
    for label, _, fake in _gan_cases(numpy.random.default_rng(seed + 6), drawn=seed != 0):
        def run(notes, fake=fake):
            result = call_student(name, generator_loss, _copy(fake), notes=notes)
            loss, d_fake = unpack(name, result, 2, "(loss, d_fake_logits)")
            expected = reference_generator_loss(fake)
            return [(1, _loss_reason("loss", expected[0], loss, _generator_hints(fake, 0))),
                    (1, _gradient_reason("d_fake_logits", expected[1], d_fake, _generator_hints(fake, 1)))]

        cases.append((f"{label}: " + describe(fake_logits=fake), run))
    return run_cases(name, points, cases, verbose)


_CHECKERS = {
    "scaled_dot_product_attention": (check_scaled_dot_product_attention, None),
    "scaled_dot_product_attention_backward": (check_scaled_dot_product_attention_backward, None),
    "split_heads": (check_split_heads, None),
    "merge_heads": (check_merge_heads, None),
    "multi_head_attention": (check_multi_head_attention, None),
    "discriminator_loss": (check_discriminator_loss, None),
    "generator_loss": (check_generator_loss, None),
}
