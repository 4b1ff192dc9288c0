"""Pooling kernels (池化): N-dimensional max and average pooling, forward and backward.

Arrays are channels_last, ``(batch, *spatial, channels)``, with one to three
(or more) spatial axes. Both passes loop over the ``prod(pool_size)`` offsets
inside a window, never over output positions or samples: at offset ``k`` the
input entries ``k, k + stride, k + 2*stride, ...`` form one strided slice (a
view, no copy), one entry per output position. The forward pass combines those
slices element-wise (``maximum`` or ``+``); the backward pass adds the
gradient of every window to its slice in one vectorised ``+=``. Only
``padding="same"`` copies the input, once, into a padded frame.

Conventions, the same as TensorFlow's (what Keras 3 runs on):

- ``valid``: no padding; the windows that do not fit are dropped, so the
  last input entries may be unused (``floor((size - pool) / stride) + 1``
  outputs).
- ``same``: ``ceil(size / stride)`` outputs; the input is padded by
  ``max((out - 1) * stride + pool - size, 0)`` entries split with the smaller
  half *before* and the extra entry *after*. Max pooling pads with ``-inf``
  (padding never wins); average pooling divides each window by the number of
  REAL entries it covers, not by the window size.
- Max pooling's gradient goes to ONE maximum per window: on ties, the first in
  row-major order inside the window (TensorFlow's CPU kernel does the same).
  Overlapping windows that share a maximum both route their gradient to it.
"""
from __future__ import annotations

import itertools

from course_lib import backend
from course_lib.ops.arguments import positive_ints as _positive_ints
from course_lib.ops.conv import padding_amounts

_MODES = ("max", "average")
_PADDINGS = ("valid", "same")


# ------------------------------------------------------------------- geometry
def _check_padding(where, padding):
    if not isinstance(padding, str) or padding.lower() not in _PADDINGS:
        raise ValueError(f"{where}: padding must be 'valid' or 'same'. Received: padding={padding!r}")
    return padding.lower()


def _output_length(where, size, pool, stride, padding):
    if size is None:
        return None
    if padding == "same":
        return (size - 1) // stride + 1
    length = (size - pool) // stride + 1
    if length <= 0:
        raise ValueError(
            f"{where}: the pooling window does not fit in the input with padding='valid': "
            f"an input of size {size} and a window of {pool} (stride {stride}) give an output of "
            f"size {length}. Use a smaller pool_size or padding='same'."
        )
    return length


def pool_output_length(size, pool, stride, padding):
    """Length of the pooled axis: TensorFlow's (and Keras's) formula.

    Args:
        size: input length along the axis (None for unknown: returns None).
        pool: window length (positive int).
        stride: step between windows (positive int).
        padding: ``"valid"``: ``floor((size - pool) / stride) + 1``;
            ``"same"``: ``floor((size - 1) / stride) + 1 = ceil(size / stride)``.

    Returns:
        The output length (int), or None when ``size`` is None.

    Raises:
        ValueError: for a non-positive pool or stride, an unknown padding, or a
            window larger than the input with ``"valid"`` (zero or negative output).
    """
    where = "pool_output_length"
    pool = _positive_ints(where, "pool", pool, 1)[0]
    stride = _positive_ints(where, "stride", stride, 1)[0]
    return _output_length(where, size, pool, stride, _check_padding(where, padding))


def _geometry(where, shape, pool_size, strides, padding):
    """Standardised pool_size, strides, padding, output lengths and paddings for input ``shape``."""
    rank = len(shape) - 2
    if rank < 1:
        raise ValueError(
            f"{where}: expected a channels_last input (batch, *spatial, channels) with at least one "
            f"spatial axis. Received: input with shape {tuple(shape)}"
        )
    pool_size = _positive_ints(where, "pool_size", pool_size, rank)
    strides = pool_size if strides is None else _positive_ints(where, "strides", strides, rank)
    padding = _check_padding(where, padding)
    spatial = tuple(shape[1:-1])
    out = tuple(_output_length(where, n, k, s, padding) for n, k, s in zip(spatial, pool_size, strides))
    if padding == "same":
        pads = tuple(padding_amounts(n, k, s, 1, "same") for n, k, s in zip(spatial, pool_size, strides))
    else:
        pads = ((0, 0),) * rank
    return pool_size, strides, padding, out, pads


def _offset_slices(offset, strides, out):
    """The strided slice of the (padded) input that offset ``offset`` of every window reads."""
    spatial = tuple(slice(k, k + s * (o - 1) + 1, s) for k, s, o in zip(offset, strides, out))
    return (slice(None),) + spatial + (slice(None),)


def _real_counts(spatial, pool_size, strides, out, pads, dtype):
    """How many real (unpadded) entries each window covers: shape ``(1, *out, 1)``."""
    xp = backend.xp
    counts = None
    for axis, (n, k, s, o, (before, _)) in enumerate(zip(spatial, pool_size, strides, out, pads)):
        start = xp.arange(o) * s - before
        covered = xp.minimum(start + k, n) - xp.maximum(start, 0)
        shape = [1] * (len(spatial) + 2)
        shape[axis + 1] = o
        covered = covered.reshape(shape)
        counts = covered if counts is None else counts * covered
    return counts.astype(dtype)


# ---------------------------------------------------------------- N-d kernels
def pool_forward(x, pool_size, strides=None, padding="valid", mode="max"):
    """Max or average pooling over every spatial axis of a channels_last array.

    Args:
        x: array ``(batch, *spatial, channels)`` (float), one or more spatial axes.
        pool_size: int or tuple (one per spatial axis) of positive ints: the window.
        strides: int or tuple of positive ints, or None for ``pool_size``
            (non-overlapping windows).
        padding: ``"valid"`` (no padding; windows that do not fit are dropped)
            or ``"same"`` (``ceil(size / stride)`` outputs, TF's split of the
            padding, the extra entry at the end).
        mode: ``"max"`` (pads with ``-inf``) or ``"average"`` (divides by the
            number of real entries in each window).

    Returns:
        ``(out, cache)``: ``out`` has shape ``(batch, *out_spatial, channels)``;
        ``cache`` holds what :func:`pool_backward` needs.

    Raises:
        ValueError: bad pool_size, strides, padding or mode, or a window larger
            than the input with ``"valid"``.
    """
    xp = backend.xp
    where = "pool_forward"
    if mode not in _MODES:
        raise ValueError(f"{where}: mode must be 'max' or 'average'. Received: mode={mode!r}")
    x = xp.asarray(x)
    pool_size, strides, padding, out_shape, pads = _geometry(where, x.shape, pool_size, strides, padding)
    spatial = tuple(x.shape[1:-1])
    padded = x
    if any(before or after for before, after in pads):
        # The one copy: the input inside a frame of -inf (max) or 0 (average).
        if mode == "max":
            fill = -xp.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min
        else:
            fill = 0
        padded_shape = (x.shape[0],) + tuple(n + b + a for n, (b, a) in zip(spatial, pads)) + (x.shape[-1],)
        padded = xp.full(padded_shape, fill, dtype=x.dtype)
        inner = tuple(slice(b, b + n) for n, (b, _) in zip(spatial, pads))
        padded[(slice(None),) + inner + (slice(None),)] = x
    # One strided slice per offset inside the window holds that offset of every window; combining
    # the prod(pool_size) slices element-wise (row-major order) pools all windows at once. It is
    # several times faster than a reduction over the small window axes of a sliding-window view.
    combine = xp.maximum if mode == "max" else xp.add
    offsets = itertools.product(*(range(k) for k in pool_size))
    out = padded[_offset_slices(next(offsets), strides, out_shape)].copy()
    for offset in offsets:
        combine(out, padded[_offset_slices(offset, strides, out_shape)], out=out)
    counts = None
    if mode == "average":
        counts = _real_counts(spatial, pool_size, strides, out_shape, pads, x.dtype)
        out /= counts
    cache = {"mode": mode, "padded": padded, "out": out, "counts": counts, "input_shape": tuple(x.shape),
             "pool_size": pool_size, "strides": strides, "pads": pads}
    return out, cache


def pool_backward(dout, cache):
    """Gradient of :func:`pool_forward` with respect to its input.

    Loops over the ``prod(pool_size)`` offsets inside a window; at each offset
    one strided-slice ``+=`` adds the gradient of every window at once.

    Args:
        dout: upstream gradient, shaped like the forward output.
        cache: the cache :func:`pool_forward` returned.

    Returns:
        ``dx``, shaped like the forward input. For max pooling each window's
        gradient goes to one maximum: the first in row-major order inside the
        window on ties. For average pooling each window's gradient is divided
        by its count of real entries and spread over them.
    """
    xp = backend.xp
    padded, out = cache["padded"], cache["out"]
    pool_size, strides, pads = cache["pool_size"], cache["strides"], cache["pads"]
    dout = xp.asarray(dout)
    if tuple(dout.shape) != tuple(out.shape):
        raise ValueError(
            f"pool_backward: dout must have the forward output's shape {tuple(out.shape)}. "
            f"Received: dout with shape {tuple(dout.shape)}"
        )
    out_shape = tuple(out.shape[1:-1])
    dtype = xp.result_type(dout.dtype, padded.dtype)
    if cache["mode"] == "average":
        dpadded = xp.zeros(padded.shape, dtype=dtype)
        share = dout / cache["counts"]
        for offset in itertools.product(*(range(k) for k in pool_size)):
            dpadded[_offset_slices(offset, strides, out_shape)] += share
    else:
        tiles = tuple(strides) == tuple(pool_size)
        dpadded = _max_backward_tiled(padded, out, dout, pool_size) if tiles else None
        if dpadded is None:  # overlapping or gapped windows
            dpadded = xp.zeros(padded.shape, dtype=dtype)
            routed = xp.zeros(out.shape, dtype=bool)  # windows whose gradient already has a home
            for offset in itertools.product(*(range(k) for k in pool_size)):
                index = _offset_slices(offset, strides, out_shape)
                hit = (padded[index] == out) & ~routed
                dpadded[index] += dout * hit
                routed |= hit
    spatial = cache["input_shape"][1:-1]
    inner = tuple(slice(b, b + n) for n, (b, _) in zip(spatial, pads))
    # Gradient that reached the padding (average pooling adds zeros there) is dropped.
    return dpadded[(slice(None),) + inner + (slice(None),)]


def _max_backward_tiled(padded, out, dout, pool_size):
    """Max-pool backward when the windows tile the input (strides == pool_size, the usual case).

    The windows are disjoint blocks, so a view of the input as ``(N, o1, k1, o2, k2, ..., C)``
    compared with the broadcast maxima marks each window's maximum in one pass, and the mask
    times the broadcast gradient is the input gradient. Windows holding their maximum twice
    (ties) keep the first in row-major order: a loop over the offsets on the boolean mask only.
    """
    xp = backend.xp
    out_shape = tuple(out.shape[1:-1])
    covered = tuple(o * k for o, k in zip(out_shape, pool_size))
    region = padded[(slice(None),) + tuple(slice(0, c) for c in covered) + (slice(None),)]
    blocks, single = (), ()
    for o, k in zip(out_shape, pool_size):
        blocks, single = blocks + (o, k), single + (o, 1)
    split = region.reshape((padded.shape[0],) + blocks + (padded.shape[-1],))
    hit = split == out.reshape((out.shape[0],) + single + (out.shape[-1],))
    if backend.to_float(xp.count_nonzero(hit)) != out.size:
        # Ties (all-zero windows after a ReLU are common): keep each window's first maximum only,
        # walking the offsets in row-major order over the boolean mask.
        offsets = list(itertools.product(*(range(k) for k in pool_size)))
        routed = None  # windows whose maximum was met at an earlier offset
        for position, offset in enumerate(offsets):
            view = hit[(slice(None),) + tuple(x for k in offset for x in (slice(None), k)) + (slice(None),)]
            if routed is None:
                routed = view.copy()
                continue
            xp.greater(view, routed, out=view)  # for booleans, hit > routed is hit and not routed: in place
            if position < len(offsets) - 1:
                routed |= view
    grads = (hit * dout.reshape((dout.shape[0],) + single + (dout.shape[-1],))).reshape(region.shape)
    if covered == tuple(padded.shape[1:-1]):
        return grads
    dpadded = xp.zeros(padded.shape, dtype=grads.dtype)  # the rows and columns no window reached
    dpadded[(slice(None),) + tuple(slice(0, c) for c in covered) + (slice(None),)] = grads
    return dpadded


# ---------------------------------------------------------- 2-D, as graded
def _check_4d(where, x):
    x = backend.xp.asarray(x)
    if x.ndim != 4:
        raise ValueError(
            f"{where}: expected a 4-D channels_last input (batch, height, width, channels). "
            f"Received: input with shape {tuple(x.shape)}"
        )
    return x


def max_pool2d_forward(x, pool_size, strides=None, padding="valid"):
    """2-D max pooling (最大池化) of ``(N, H, W, C)`` images.

    Args:
        x: array ``(N, H, W, C)``.
        pool_size: int or (ph, pw): the window.
        strides: int or (sh, sw); None means ``pool_size``.
        padding: ``"valid"`` or ``"same"`` (pads with ``-inf``, TF's split).

    Returns:
        ``(out, cache)``: ``out`` of shape ``(N, H_out, W_out, C)``, e.g. a
        28x28x32 input pooled 2x2 gives 14x14x32.
    """
    return pool_forward(_check_4d("max_pool2d_forward", x), pool_size, strides, padding, "max")


def max_pool2d_backward(dout, cache):
    """Gradient of :func:`max_pool2d_forward`.

    Args:
        dout: ``(N, H_out, W_out, C)`` upstream gradient.
        cache: from :func:`max_pool2d_forward`.

    Returns:
        ``dx`` of shape ``(N, H, W, C)``: each window's gradient at its maximum
        (the first in row-major order on ties), zero elsewhere.
    """
    return pool_backward(dout, cache)


def avg_pool2d_forward(x, pool_size, strides=None, padding="valid"):
    """2-D average pooling (平均池化) of ``(N, H, W, C)`` images.

    Args:
        x: array ``(N, H, W, C)``.
        pool_size: int or (ph, pw): the window.
        strides: int or (sh, sw); None means ``pool_size``.
        padding: ``"valid"`` or ``"same"`` (each window is divided by its
            count of real entries, padding excluded, as TensorFlow does).

    Returns:
        ``(out, cache)``: ``out`` of shape ``(N, H_out, W_out, C)``.
    """
    return pool_forward(_check_4d("avg_pool2d_forward", x), pool_size, strides, padding, "average")


def avg_pool2d_backward(dout, cache):
    """Gradient of :func:`avg_pool2d_forward`.

    Args:
        dout: ``(N, H_out, W_out, C)`` upstream gradient.
        cache: from :func:`avg_pool2d_forward`.

    Returns:
        ``dx`` of shape ``(N, H, W, C)``: each window's gradient divided by
        its count of real entries, added to every entry it covers.
    """
    return pool_backward(dout, cache)


def _pool2d_naive(where, x, pool_size, strides, padding, mode):
    xp = backend.xp
    x = _check_4d(where, x)
    pool_size, strides, padding, (out_h, out_w), ((top, _), (left, _)) = _geometry(
        where, x.shape, pool_size, strides, padding
    )
    (ph, pw), (sh, sw) = pool_size, strides
    height, width = x.shape[1], x.shape[2]
    out = xp.zeros((x.shape[0], out_h, out_w, x.shape[3]), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            # The window in input coordinates, clipped to the real entries.
            r0, c0 = i * sh - top, j * sw - left
            r1, c1 = min(r0 + ph, height), min(c0 + pw, width)
            r0, c0 = max(r0, 0), max(c0, 0)
            window = x[:, r0:r1, c0:c1, :]
            if mode == "max":
                out[:, i, j, :] = xp.max(window, axis=(1, 2))
            else:
                out[:, i, j, :] = xp.sum(window, axis=(1, 2)) / ((r1 - r0) * (c1 - c0))
    return out


def max_pool2d_forward_naive(x, pool_size, strides=None, padding="valid"):
    """The readable version of :func:`max_pool2d_forward`: one loop step per output pixel.

    For teaching and for tests only (slow): it visits each output position
    ``(i, j)``, cuts its window out of the input (clipped to the real entries
    for ``"same"``) and takes the maximum over batch and channels at once.

    Args:
        x: array ``(N, H, W, C)``.
        pool_size, strides, padding: as in :func:`max_pool2d_forward`.

    Returns:
        ``out`` alone (no cache), equal to ``max_pool2d_forward(...)[0]``.
    """
    return _pool2d_naive("max_pool2d_forward_naive", x, pool_size, strides, padding, "max")


def avg_pool2d_forward_naive(x, pool_size, strides=None, padding="valid"):
    """The readable version of :func:`avg_pool2d_forward`: one loop step per output pixel.

    Args:
        x: array ``(N, H, W, C)``.
        pool_size, strides, padding: as in :func:`avg_pool2d_forward`.

    Returns:
        ``out`` alone (no cache), equal to ``avg_pool2d_forward(...)[0]``.
    """
    return _pool2d_naive("avg_pool2d_forward_naive", x, pool_size, strides, padding, "average")

