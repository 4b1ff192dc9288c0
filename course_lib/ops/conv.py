"""Convolution in any number of dimensions, forward and backward side by side.

Keras's convolution is a cross-correlation (the kernel is not flipped). For a
``channels_last`` input ``x`` of shape ``(N, *spatial, C)`` and a kernel of
shape ``(*kernel_size, C // groups, filters)``::

    out[n, o, f] = bias[f] + sum over k, c of x_pad[n, o * s + k * d, c] * kernel[k, c, f]

(``o``, ``k``, ``s`` and ``d`` are tuples over the spatial axes: output
position, kernel offset, stride and dilation.) The fast path turns it into ONE
matrix product: a strided *view* of every window of the padded input (no
copy), one copy of it laid out as ``(positions, kernel offsets * channels)``
(im2col), times the kernel reshaped to ``(kernel offsets * channels,
filters)``. The backward pass reuses those columns for the kernel gradient
(one product) and, for the input gradient, multiplies by the transposed
kernel and adds each kernel offset's slab back into place with one strided
slice per offset (col2im): a loop over the 9 offsets of a 3x3 kernel, never
over pixels or samples.

The column matrix is made in pieces of a few samples (or of a few output rows
of one large image), each about :data:`COLUMN_CHUNK_BYTES`, into one reused
buffer, and multiplied at once while it is still in the processor's cache:
twice as fast on a CPU as one whole matrix, which goes out to memory and back
(the whole one for 32 images of 32x32x64 is 75 MB). The backward pass keeps
the padded input and remakes each piece's columns the same way; only a column
matrix small enough to be one piece is kept from the forward pass.

:func:`conv2d_forward_naive` is the same computation written with loops, to
read; the tests check the fast path against it.
"""
from __future__ import annotations

import itertools
import math

from course_lib import backend
from course_lib.ops.arguments import positive_ints

COLUMN_CHUNK_BYTES = 4 * 2**20
"""The size of one piece of the column matrix on the CPU: it and its product stay in the cache."""
DEVICE_COLUMN_CHUNK_BYTES = 256 * 2**20
"""The same on a GPU (CuPy), where few large products beat many small ones."""


def conv_output_length(size, kernel, stride=1, padding="valid", dilation=1):
    """The output length of one spatial axis (None stays None).

    ``valid``: ``floor((size - (kernel - 1) * dilation - 1) / stride) + 1``;
    ``same``: ``ceil(size / stride)``; ``causal`` (1D): the same as ``same``
    at stride 1 (the input is padded on the left only).
    """
    if size is None:
        return None
    if padding == "valid":
        return (size - (kernel - 1) * dilation - 1) // stride + 1
    if padding in ("same", "causal"):
        return -(-size // stride)
    raise ValueError(f"conv_output_length: padding must be 'valid', 'same' or 'causal'. Received: {padding!r}")


def padding_amounts(size, kernel, stride, dilation, padding):
    """``(before, after)`` zeros for one axis; TF's ``same`` puts the odd one after (right, bottom)."""
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    total = max((conv_output_length(size, kernel, stride, "same") - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def _pad(x, pads):
    """``x`` inside a frame of zeros, ``pads`` = one ``(before, after)`` per spatial axis."""
    if not any(before or after for before, after in pads):
        return x
    shape = (x.shape[0],) + tuple(n + b + a for n, (b, a) in zip(x.shape[1:-1], pads)) + (x.shape[-1],)
    padded = backend.xp.zeros(shape, dtype=x.dtype)  # faster than xp.pad, which is general
    padded[(slice(None),) + tuple(slice(b, b + n) for n, (b, _) in zip(x.shape[1:-1], pads))] = x
    return padded


def _windows(x_pad, kernel_size, strides, dilation, groups):
    """A strided view (no copy) of every window, laid out as the columns' rows.

    ``(N, *out, *kernel_size, C)``, or ``(groups, N, *out, *kernel_size, C // groups)``:
    the channels after the kernel offsets, as the kernel is laid out.
    """
    rank = len(kernel_size)
    spans = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation)]
    windows = backend.sliding_window_view(x_pad, spans, axis=tuple(range(1, rank + 1)))
    # (N, *positions, C, *spans) -> every stride-th position, every dilation-th offset.
    windows = windows[(slice(None),) + tuple(slice(None, None, s) for s in strides) + (slice(None),)
                      + tuple(slice(None, None, d) for d in dilation)]
    order = (0,) + tuple(range(1, rank + 1)) + tuple(range(rank + 2, 2 * rank + 2)) + (rank + 1,)
    windows = windows.transpose(order)
    if groups == 1:
        return windows
    windows = windows.reshape(windows.shape[:-1] + (groups, windows.shape[-1] // groups))
    return windows.transpose((2 * rank + 1,) + tuple(range(2 * rank + 1)) + (2 * rank + 2,))


def _copy_columns(windows, groups, buffer=None):
    """``(groups, rows, K * C // groups)`` from a (piece of a) :func:`_windows` view.

    ``buffer``: a flat array with room for them (reused across pieces), or None for a new
    array. A view already laid out as the columns (a 1x1 kernel at stride 1) is not copied.
    """
    if groups == 1 and windows.shape[-1] == 1:
        return _copy_one_channel_columns(windows, buffer)
    grouped = windows if groups > 1 else windows[None]
    rank = (grouped.ndim - 3) // 2
    rows = math.prod(grouped.shape[1:rank + 2])
    if buffer is None or (groups == 1 and backend.is_c_contiguous(windows)):
        return backend.xp.ascontiguousarray(grouped).reshape(groups, rows, -1)
    target = buffer[:grouped.size].reshape(grouped.shape)
    backend.xp.copyto(target, grouped)
    return target.reshape(groups, rows, -1)


def _copy_one_channel_columns(windows, buffer=None):
    """The columns of a one-channel input (grey images), copied offset by offset.

    With one channel a window's row holds single numbers, so a copy window by window moves
    runs of a few values; offset by offset, each copy is a long run. They fill an
    ``(offsets, rows)`` matrix, and the product takes its transpose (BLAS reads either layout).
    """
    rank = (windows.ndim - 2) // 2
    positions, kernel_size = windows.shape[:rank + 1], windows.shape[rank + 1:-1]
    count, rows = math.prod(kernel_size), math.prod(positions)
    target = backend.xp.empty((count, rows), dtype=windows.dtype) if buffer is None else \
        buffer[:count * rows].reshape(count, rows)
    for index, offset in enumerate(itertools.product(*(range(k) for k in kernel_size))):
        backend.xp.copyto(target[index].reshape(positions), windows[(Ellipsis,) + offset + (0,)])
    return target.T[None]


def _columns(x_pad, kernel_size, strides, dilation, groups):
    """im2col: ``((groups, N * prod(out), prod(kernel_size) * C // groups), out)``, one copy of a strided view."""
    windows = _windows(x_pad, kernel_size, strides, dilation, groups)
    outs = windows.shape[2 if groups > 1 else 1:][:len(kernel_size)]
    return _copy_columns(windows, groups), tuple(outs)


def _grouped_kernel(kernel, groups):
    """``(*k, C/g, F)`` -> ``(groups, prod(k) * C/g, F/g)``: group g uses filters g*F/g ... (g+1)*F/g."""
    *k, per_group, filters = kernel.shape
    matrix = kernel.reshape(math.prod(k), per_group, groups, filters // groups)
    return matrix.transpose(2, 0, 1, 3).reshape(groups, -1, filters // groups)


def _chunk_bytes():
    return DEVICE_COLUMN_CHUNK_BYTES if backend.backend_name() == "cupy" else COLUMN_CHUNK_BYTES


def _chunks(batch, row_bytes):
    """Batch slices whose column matrices stay near the chunk size (at least one sample each)."""
    per_chunk = max(1, _chunk_bytes() // max(row_bytes, 1))
    return [slice(start, min(start + per_chunk, batch)) for start in range(0, batch, per_chunk)]


def _pieces(batch, outs, position_bytes):
    """``(samples, output rows)`` slice pairs that cover the output, each piece's columns near the chunk size.

    A piece is a few whole samples, or, where one sample's columns are larger than the
    chunk (a 224x224 image), a few rows (along the first spatial axis) of one sample.
    """
    per_row = math.prod(outs[1:]) * position_bytes
    if outs[0] * per_row <= _chunk_bytes():
        return [(part, slice(0, outs[0])) for part in _chunks(batch, outs[0] * per_row)]
    rows = max(1, _chunk_bytes() // max(per_row, 1))
    return [(slice(n, n + 1), slice(start, min(start + rows, outs[0])))
            for n in range(batch) for start in range(0, outs[0], rows)]


def _piece_input(x_pad, samples, rows, stride, dilation, kernel):
    """The slab of the padded input that the output rows ``rows`` of ``samples`` read (first spatial axis)."""
    span = (kernel - 1) * dilation + 1
    return x_pad[samples, rows.start * stride:(rows.stop - 1) * stride + span]


def _column_buffer(pieces, outs, kernel, x_pad, groups):
    """One flat buffer for the largest piece's columns, reused by every piece."""
    per_sample_row = math.prod(outs[1:]) * math.prod(kernel.shape[:-1]) * groups
    largest = max((samples.stop - samples.start) * (rows.stop - rows.start) for samples, rows in pieces)
    return backend.xp.empty(largest * per_sample_row, dtype=x_pad.dtype)


def conv_forward(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups=1):
    """N-dimensional convolution of a ``channels_last`` input.

    Args:
        x: ``(N, *spatial, C)``.
        kernel: ``(*kernel_size, C // groups, filters)``.
        bias: ``(filters,)`` or None.
        strides, dilation_rate: an int or one int per spatial axis.
        padding: ``"valid"``, ``"same"`` or ``"causal"`` (left padding, for sequences).
        groups: split the channels and the filters into this many independent groups.

    Returns:
        ``(out, cache)`` with ``out`` of shape ``(N, *out_spatial, filters)``; the cache
        holds the padded input, from which the backward pass remakes the columns (and
        the columns themselves when they fit in one piece).
    """
    rank = kernel.ndim - 2
    kernel_size = tuple(kernel.shape[:rank])
    strides = positive_ints("conv_forward", "strides", strides, rank)
    dilation = positive_ints("conv_forward", "dilation_rate", dilation_rate, rank)
    pads = [padding_amounts(size, k, s, d, padding)
            for size, k, s, d in zip(x.shape[1:-1], kernel_size, strides, dilation)]
    x_pad = _pad(x, pads)
    outs = tuple(conv_output_length(size, k, s, padding, d)
                 for size, k, s, d in zip(x.shape[1:-1], kernel_size, strides, dilation))
    if min(outs) <= 0:
        raise ValueError(
            f"conv_forward: the input's spatial shape {tuple(x.shape[1:-1])} is smaller than the kernel "
            f"{kernel_size} (dilation {dilation}) with padding={padding!r}: the output would be empty."
        )
    out, kept = _correlate(x_pad, kernel, outs, strides, dilation, groups, keep=True)
    if bias is not None:
        out += bias
    config = (x.shape, pads, kernel_size, strides, dilation, groups, bias is not None)
    return out, (x_pad, kernel, outs, config, kept)


def _each_piece(x_pad, kernel, outs, strides, dilation, groups, kept=None):
    """``(samples, rows, columns)`` for every piece of the column matrix, made into one reused buffer.

    ``kept``: the columns of a convolution that fit in one piece, as the forward pass made them.
    """
    if kept is not None:
        yield slice(0, x_pad.shape[0]), slice(0, outs[0]), kept
        return
    windows = _windows(x_pad, tuple(kernel.shape[:-2]), strides, dilation, groups)
    pieces = _pieces(x_pad.shape[0], outs, math.prod(kernel.shape[:-1]) * x_pad.dtype.itemsize * groups)
    buffer = _column_buffer(pieces, outs, kernel, x_pad, groups) if len(pieces) > 1 else None
    lead = (slice(None),) if groups > 1 else ()
    for samples, rows in pieces:
        yield samples, rows, _copy_columns(windows[lead + (samples, rows)], groups, buffer)


def _correlate(x_pad, kernel, outs, strides, dilation, groups, keep=False):
    """The 'valid' correlation of an already padded input, piece by piece.

    With ``keep``, returns ``(out, kept)``: ``kept`` is the column matrix when it was made in one
    piece (no larger than a piece: the backward pass reuses it), else None.
    """
    filters = kernel.shape[-1]
    matrix = _grouped_kernel(kernel, groups)
    dtype = backend.xp.result_type(x_pad, kernel)
    out = backend.xp.empty((x_pad.shape[0],) + outs + (filters,), dtype=dtype)
    count = 0
    for samples, rows, columns in _each_piece(x_pad, kernel, outs, strides, dilation, groups):
        target = out[samples, rows]
        if groups == 1 and columns.dtype == matrix.dtype == dtype:
            backend.xp.matmul(columns[0], matrix[0], out=target.reshape(-1, filters))  # a view: contiguous
        else:
            target[...] = _ungroup(backend.xp.matmul(columns, matrix)).reshape(target.shape)
        count += 1
    if not keep:
        return out
    return out, (columns if count == 1 else None)


def _ungroup(product):
    """``(groups, rows, F/g)`` -> ``(rows, F)`` with group g's filters at g*F/g ... (g+1)*F/g."""
    if product.shape[0] == 1:
        return product[0]
    return product.transpose(1, 0, 2).reshape(product.shape[1], -1)


def conv_backward(dout, cache, need_dx=True):
    """Gradients of :func:`conv_forward`.

    Args:
        dout: ``(N, *out_spatial, filters)``, the upstream gradient.
        cache: what :func:`conv_forward` returned.
        need_dx: False skips the input gradient (a model's first layer needs none).

    Returns:
        ``(dx, dkernel, dbias)``; ``dbias`` is None without a bias, ``dx`` is
        None when ``need_dx`` is False.
    """
    x_pad, kernel, outs, config, kept = cache
    x_shape, pads, kernel_size, strides, dilation, groups, has_bias = config
    filters = kernel.shape[-1]
    matrix = _grouped_kernel(kernel, groups)  # (g, K*C/g, F/g)
    dmatrix = backend.xp.zeros(matrix.shape, dtype=matrix.dtype)
    # Stride 1: the input gradient is itself a correlation (of dout with the flipped kernel); it
    # is the faster way when its columns (input positions x filters) are no larger than the
    # scattered ones (output positions x channels). Other strides, or more filters than
    # channels, scatter a column matrix back (col2im).
    transposed = max(strides) == 1 and math.prod(x_shape[1:-1]) * filters <= math.prod(outs) * x_shape[-1]
    scatter = need_dx and not transposed
    dx_pad = backend.xp.zeros(x_pad.shape, dtype=dout.dtype) if scatter else None
    if scatter and groups == 1:
        per_offset = matrix[0].reshape(-1, x_shape[-1], filters).transpose(0, 2, 1)  # (K, F, C)
    for samples, rows, columns in _each_piece(x_pad, kernel, outs, strides, dilation, groups, kept):
        d = dout[samples, rows]
        grouped = d.reshape(1, -1, filters) if groups == 1 else \
            d.reshape(-1, groups, filters // groups).transpose(1, 0, 2)
        dmatrix += backend.xp.matmul(columns.transpose(0, 2, 1), grouped)
        if not scatter:
            continue
        target = _piece_input(dx_pad, samples, rows, strides[0], dilation[0], kernel_size[0])
        if groups == 1:
            # One product per kernel offset, (K, rows, C): each offset's slab is contiguous, so the scatter
            # adds long runs (twice as fast as slabs strided inside one (rows, K*C) matrix).
            _scatter_offsets(backend.xp.matmul(grouped[0], per_offset), target, d.shape[1:-1], kernel_size,
                             strides, dilation)
        else:
            dcolumns = backend.xp.matmul(grouped, matrix.transpose(0, 2, 1))  # (g, rows, K*C/g)
            _col2im(dcolumns, target, d.shape[1:-1], kernel_size, strides, dilation, groups)
    dkernel = _ungroup_kernel(dmatrix, kernel.shape, groups)
    dbias = bias_gradient(dout) if has_bias else None
    if not need_dx:
        return None, dkernel, dbias
    if scatter:
        crop = tuple(slice(b, b + s) for s, (b, _) in zip(x_shape[1:-1], pads))
        return dx_pad[(slice(None),) + crop + (slice(None),)], dkernel, dbias
    return _input_gradient_stride_one(dout, kernel, x_shape, pads, dilation, groups), dkernel, dbias


def bias_gradient(dout):
    """The sum of ``dout`` over every axis but the last: a vector-matrix product with ones.

    Five times faster than ``dout.sum(axis=...)`` on a (32768, 64) gradient: NumPy adds such
    a reduction row by row, BLAS runs the product on every core.
    """
    flat = dout.reshape(-1, dout.shape[-1])
    return backend.xp.ones(flat.shape[0], dtype=flat.dtype) @ flat


def _input_gradient_stride_one(dout, kernel, x_shape, pads, dilation, groups):
    """dx of a stride-1 convolution: dout, padded by ``span - 1 - pad`` on each side, correlated
    with the kernel flipped along every spatial axis and with its channel axes swapped per group."""
    rank = kernel.ndim - 2
    kernel_size = kernel.shape[:rank]
    spans = [(k - 1) * d for k, d in zip(kernel_size, dilation)]
    padded = _pad(dout, [(span - before, span - after) for span, (before, after) in zip(spans, pads)])
    per_group, filters = kernel.shape[-2], kernel.shape[-1]
    flipped = kernel[tuple(slice(None, None, -1) for _ in range(rank))]
    # (*k, C/g, g, F/g) -> (*k, F/g, g, C/g): group g maps its F/g filters back to its C/g channels.
    swapped = flipped.reshape(tuple(kernel_size) + (per_group, groups, filters // groups))
    swapped = swapped.transpose(tuple(range(rank)) + (rank + 2, rank + 1, rank))
    swapped = swapped.reshape(tuple(kernel_size) + (filters // groups, groups * per_group))
    return _correlate(padded, swapped, tuple(x_shape[1:-1]), (1,) * rank, dilation, groups)


def _ungroup_kernel(dmatrix, kernel_shape, groups):
    *k, per_group, filters = kernel_shape
    blocks = dmatrix.reshape(groups, math.prod(k), per_group, filters // groups).transpose(1, 2, 0, 3)
    return blocks.reshape(kernel_shape)


def _scatter_offsets(slabs, dx_pad, outs, kernel_size, strides, dilation):
    """Add each kernel offset's slab ``slabs[k]`` (``(K, N * out, C)``, offsets in row-major order) back into
    ``dx_pad`` (in place), one strided slice each: :func:`_col2im` for columns made one offset at a time."""
    slabs = slabs.reshape((slabs.shape[0], dx_pad.shape[0]) + tuple(outs) + (dx_pad.shape[-1],))
    for index, offset in enumerate(itertools.product(*(range(k) for k in kernel_size))):
        target = tuple(slice(o * d, o * d + s * (size - 1) + 1, s)
                       for o, d, s, size in zip(offset, dilation, strides, outs))
        dx_pad[(slice(None),) + target + (slice(None),)] += slabs[index]


def _col2im(dcolumns, dx_pad, outs, kernel_size, strides, dilation, groups):
    """Add every kernel offset's slab of ``dcolumns`` back into ``dx_pad`` (in place), one strided slice each."""
    rank = len(kernel_size)
    n, channels = dx_pad.shape[0], dx_pad.shape[-1]
    per_group = channels // groups
    # (g, N*out, K*C/g) -> (N, *out, *K, C): the layout of the columns, channels of all groups together.
    slabs = dcolumns.reshape((groups, n) + tuple(outs) + tuple(kernel_size) + (per_group,))
    if groups > 1:
        slabs = slabs.transpose(tuple(range(1, 2 * rank + 2)) + (0, 2 * rank + 2))
        slabs = slabs.reshape(slabs.shape[:-2] + (channels,))
    else:
        slabs = slabs[0]
    for offset in itertools.product(*(range(k) for k in kernel_size)):
        target = tuple(slice(o * d, o * d + s * (size - 1) + 1, s)
                       for o, d, s, size in zip(offset, dilation, strides, outs))
        dx_pad[(slice(None),) + target + (slice(None),)] += slabs[(slice(None),) * (rank + 1) + offset]


def conv2d_forward(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1):
    """2D convolution of ``(N, H, W, C)`` with a ``(kh, kw, C, F)`` kernel: ``(out, cache)``.

    The vectorised kernel of :class:`course_lib.layers.Conv2D` (see :func:`conv_forward`).
    """
    _check_rank("conv2d_forward", x, kernel, 2)
    return conv_forward(x, kernel, bias, strides, padding, dilation_rate)


def conv2d_backward(dout, cache):
    """Gradients of :func:`conv2d_forward`: ``(dx, dkernel, dbias)``."""
    return conv_backward(dout, cache)


def conv2d_output_shape(input_shape, kernel_size, filters, strides=1, padding="valid", dilation_rate=1):
    """The output shape ``(N, H', W', filters)`` of a 2D convolution of ``(N, H, W, C)``."""
    kernel_size = positive_ints("conv2d_output_shape", "kernel_size", kernel_size, 2)
    strides = positive_ints("conv2d_output_shape", "strides", strides, 2)
    dilation = positive_ints("conv2d_output_shape", "dilation_rate", dilation_rate, 2)
    spatial = tuple(conv_output_length(size, k, s, padding, d)
                    for size, k, s, d in zip(input_shape[1:3], kernel_size, strides, dilation))
    return (input_shape[0],) + spatial + (filters,)


def conv2d_forward_naive(x, kernel, bias=None, strides=1, padding="valid"):
    """The same 2D convolution with loops over every output pixel: slow, and easy to read.

    Returns only the output (no cache): it exists to be read and to check the fast one.
    """
    _check_rank("conv2d_forward_naive", x, kernel, 2)
    kh, kw, _, filters = kernel.shape
    sh, sw = positive_ints("conv2d_forward_naive", "strides", strides, 2)
    pads = [padding_amounts(x.shape[1], kh, sh, 1, padding), padding_amounts(x.shape[2], kw, sw, 1, padding)]
    x_pad = _pad(x, pads)
    out_h = conv_output_length(x.shape[1], kh, sh, padding)
    out_w = conv_output_length(x.shape[2], kw, sw, padding)
    out = backend.xp.zeros((x.shape[0], out_h, out_w, filters), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            patch = x_pad[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]  # (N, kh, kw, C)
            for f in range(filters):
                out[:, i, j, f] = (patch * kernel[..., f]).sum(axis=(1, 2, 3))
    if bias is not None:
        out += bias
    return out


def _check_rank(where, x, kernel, rank):
    if x.ndim != rank + 2 or kernel.ndim != rank + 2:
        raise ValueError(
            f"{where}: expected an input of rank {rank + 2} (N, H, W, C) and a kernel of rank {rank + 2} "
            f"(kh, kw, C, F). Received: x.shape={tuple(x.shape)}, kernel.shape={tuple(kernel.shape)}"
        )
    if x.shape[-1] != kernel.shape[-2]:
        raise ValueError(
            f"{where}: the input has {x.shape[-1]} channels but the kernel expects {kernel.shape[-2]}. "
            f"Received: x.shape={tuple(x.shape)}, kernel.shape={tuple(kernel.shape)}"
        )
