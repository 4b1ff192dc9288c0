"""Image kernels (图像运算): resizing and projective warps, each with its backward pass.

Images are 3-D ``(height, width, channels)`` or 4-D ``(batch, height, width,
channels)`` (``data_format="channels_first"`` puts channels before height).
The conventions are TensorFlow's, what ``keras.ops.image`` runs on the
TensorFlow backend; coordinates are computed in float32 as TensorFlow computes
them, so that nearest-neighbour choices and the bilinear forward agree bit for
bit.

Resizing (``tf.image.resize``) is separable: every output row is a weighted sum
of input rows, every output column one of input columns. Each axis is
described by an ``(out, in)`` interpolation matrix ``M``, and

    forward:  ``y = M_h · x · M_wᵀ``        backward:  ``dx = M_hᵀ · dy · M_w``

(the backward pass is the adjoint: every upstream gradient is sent back to the
input pixels it was read from, with the weights it was read with). The
matrices follow TensorFlow's kernels:

- ``bilinear``: half-pixel centres, output entry ``o`` samples the input at
  ``s = (o + 0.5) · in/out − 0.5`` between ``max(floor(s), 0)`` and
  ``min(ceil(s), in − 1)`` with weight ``s − floor(s)``; the forward runs as
  gathers in TensorFlow's order ``a + (b − a)·t`` (width first, then height).
- ``nearest``: entry ``min(floor((o + 0.5) · in/out), in − 1)``: a floor of
  the half-pixel position, not a round (TensorFlow's ``resize_nearest_neighbor``
  with ``half_pixel_centers=True``).
- ``bicubic``: Keys's cubic (a = −0.5) at half-pixel positions, the fraction
  quantised to 1/1024 as TensorFlow's coefficient table does; taps outside the
  image get weight 0 and the others are renormalised to sum to 1.
- ``area``: the fraction of each input pixel covered by the output pixel's
  footprint ``[o · in/out, (o + 1) · in/out)``, divided by the footprint's size.
- ``lanczos3`` / ``lanczos5`` and ``antialias=True`` (bilinear → triangle
  kernel, bicubic → Keys cubic): ``ScaleAndTranslate``: the kernel is widened
  by ``in/out`` when shrinking (that is the antialiasing), sampled at pixel
  centres and renormalised.

The projective warp (``ImageProjectiveTransformV3``) maps each OUTPUT pixel
``(x, y)`` (column, row, in pixel indices: the centre of pixel ``(0, 0)`` is
the point ``(0, 0)``) to the input point

    ``x' = (a0·x + a1·y + a2) / k``,  ``y' = (b0·x + b1·y + b2) / k``,  ``k = c0·x + c1·y + 1``

and reads the input there. ``fill_mode`` says what lies outside the input
(``abcd`` is a row of length 4):

- ``constant``: ``kkkk | abcd | kkkk``, with ``k = fill_value``; a bilinear
  read near the edge blends image and ``k``.
- ``nearest``: ``aaaa | abcd | dddd``: the coordinate is clamped to ``[0, len − 1]``.
- ``reflect``: ``dcba | abcd | dcba``: mirrored about the outer edge of the
  border pixel (the border pixel is repeated), with period ``2·len``, then
  clamped. Not scipy's ``reflect`` of ndimage (which TF calls "symmetric").
- ``wrap``: ``abcd | abcd | abcd``, TensorFlow's formula exactly: a coordinate
  below 0 is moved up by ``len · (trunc(−x / (len − 1)) + 1)``, one above
  ``len − 1`` down by ``len · trunc(x / (len − 1))``, then clamped (the
  ``len − 1`` is TensorFlow's, so far-away points differ from a plain modulo).

``nearest`` interpolation rounds half away from zero (C's ``round``);
``bilinear`` mixes the four pixels around the point. Its backward pass is the
adjoint again: a scatter-add (one ``bincount``) of the upstream gradient to
the pixels each output read, with the same weights. TensorFlow registers
another gradient for this op (the warp by the inverse transform, an
approximation of the adjoint), so image gradients through it are checked here
by finite differences, not against TensorFlow.
"""
from __future__ import annotations

import math
import numbers

from course_lib import backend
from course_lib.ops.arguments import check_data_format, from_channels_last, to_channels_last

RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5")
AFFINE_INTERPOLATIONS = ("nearest", "bilinear")
FILL_MODES = ("constant", "nearest", "wrap", "reflect")

_KEYS_A = -0.5          # Keys's cubic parameter of TF's half-pixel bicubic
_TABLE_SIZE = 1024      # TF quantises the bicubic fraction to 1/1024
_FLOAT32_TINY = 1.1754943508222875e-38  # smallest normal float32: TF renormalises weight sums above 1000x it
_KERNEL_RADII = {"triangle": 1.0, "keyscubic": 2.0, "lanczos3": 3.0, "lanczos5": 5.0}


# ---------------------------------------------------------------- arguments
def _check_images(where, images):
    images = backend.as_numeric(images, where)
    if images.dtype.kind == "b":
        raise TypeError(f"{where}: expected numeric images (float or int). Received: images of dtype bool")
    if images.ndim not in (3, 4):
        raise ValueError(
            f"{where}: expected images of rank 3 (height, width, channels) or 4 (batch, height, "
            f"width, channels). Received: images with shape {tuple(images.shape)}"
        )
    return images


def _check_choice(where, argument, value, choices):
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"{where}: {argument} must be one of {choices}. Received: {argument}={value!r}")
    return value.lower()


def _check_size(where, size):
    try:
        items = tuple(size)
    except TypeError:
        items = None
    if (
        items is None
        or len(items) != 2
        or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s <= 0 for s in items)
    ):
        raise ValueError(f"{where}: size must be (height, width), two positive ints. Received: size={size!r}")
    return int(items[0]), int(items[1])


def _to_nhwc(images, data_format):
    """A batched channels_last view of ``images`` and whether a batch axis was added."""
    unbatched = images.ndim == 3
    x = images[None] if unbatched else images
    return to_channels_last(x, data_format), unbatched


def _from_nhwc(x, data_format, unbatched):
    x = from_channels_last(x, data_format)
    return x[0] if unbatched else x


def _compute_dtype(dtype):
    """TF interpolates in float32; float64 images are computed in float64 here (a closer answer)."""
    return "float64" if dtype == backend.xp.dtype("float64") else "float32"


def _restore_dtype(values, dtype):
    """Keras's ``ops.image.resize`` cast back: floats as they were, integers rounded and saturated."""
    xp = backend.xp
    if values.dtype == dtype:
        return values
    if dtype.kind in "iu":
        info = xp.iinfo(dtype)
        return xp.clip(xp.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


# ------------------------------------------------- resizing: one axis at a time
def _f32(value):
    return backend.xp.asarray(value, dtype="float32")


def _matrix_from_taps(indices, weights, in_size, dtype):
    """The ``(out, in)`` matrix whose row ``o`` holds ``weights[o, k]`` at column ``indices[o, k]``.

    One assignment per tap (at most a few, never per pixel); taps of a row
    that share a column (the edges) add up.
    """
    xp = backend.xp
    out_size = indices.shape[0]
    matrix = xp.zeros((out_size, in_size), dtype=dtype)
    rows = xp.arange(out_size)
    for tap in range(indices.shape[1]):
        matrix[rows, indices[:, tap]] += weights[:, tap].astype(dtype)
    return matrix


def _bilinear_taps(in_size, out_size):
    """``(lower, upper, lerp)``: TF's half-pixel bilinear sampling of one axis, in float32."""
    xp = backend.xp
    scale = _f32(in_size) / _f32(out_size)
    source = (xp.arange(out_size, dtype="float32") + _f32(0.5)) * scale - _f32(0.5)
    floor = xp.floor(source)
    lower = xp.maximum(floor, 0).astype("int64")
    upper = xp.minimum(xp.ceil(source), in_size - 1).astype("int64")
    return lower, upper, source - floor


def _nearest_index(in_size, out_size):
    """TF's half-pixel nearest neighbour: ``min(floor((o + 0.5) * in/out), in - 1)``, in float32."""
    xp = backend.xp
    scale = _f32(in_size) / _f32(out_size)
    source = (xp.arange(out_size, dtype="float32") + _f32(0.5)) * scale
    return xp.clip(xp.floor(source), 0, in_size - 1).astype("int64")


def _bicubic_taps(in_size, out_size):
    """TF's half-pixel Keys-cubic taps (four per output entry), weights renormalised at the edges."""
    xp = backend.xp
    scale = _f32(in_size) / _f32(out_size)
    source = (xp.arange(out_size, dtype="float32") + _f32(0.5)) * scale - _f32(0.5)
    start = xp.floor(source)
    offset = xp.rint((source - start) * _f32(_TABLE_SIZE)).astype("int64")
    start = start.astype("int64")
    a = _KEYS_A
    # TF's coefficient table, computed in double and stored in float32:
    # near[i] = weight at distance i/1024, far[i] = weight at distance 1 + i/1024.
    x = xp.arange(_TABLE_SIZE + 1, dtype="float64") / _TABLE_SIZE
    near = (((a + 2) * x - (a + 3)) * x * x + 1).astype("float32")
    far_x = x + 1
    far = (((a * far_x - 5 * a) * far_x + 8 * a) * far_x - 4 * a).astype("float32")
    weights = xp.stack([far[offset], near[offset], near[_TABLE_SIZE - offset], far[_TABLE_SIZE - offset]], axis=1)
    indices = start[:, None] + xp.arange(-1, 3)[None, :]
    inside = (indices >= 0) & (indices < in_size)
    weights = xp.where(inside, weights, _f32(0.0))
    return xp.clip(indices, 0, in_size - 1), _renormalise(weights)


def _renormalise(weights):
    """Divide each row by its sum (summed left to right, in float32), unless the sum is ~0, as TF does."""
    xp = backend.xp
    total = weights[:, 0]
    for tap in range(1, weights.shape[1]):
        total = total + weights[:, tap]
    usable = xp.abs(total) >= _f32(1000.0 * _FLOAT32_TINY)
    inverse = _f32(1.0) / xp.where(usable, total, _f32(1.0))
    return xp.where(usable[:, None], weights * inverse[:, None], weights)


def _area_taps(in_size, out_size):
    """TF's ``resize_area``: the share of each input pixel inside ``[o, o + 1) * in/out``, over in/out."""
    xp = backend.xp
    scale = _f32(in_size) / _f32(out_size)
    positions = xp.arange(out_size, dtype="float32")
    begin, end = positions * scale, (positions + _f32(1.0)) * scale
    first = xp.floor(begin).astype("int64")
    count = int(math.ceil(in_size / out_size)) + 1  # the most pixels one footprint can touch
    cells = first[:, None] + xp.arange(count)[None, :]
    cell = cells.astype("float32")
    begin, end = begin[:, None], end[:, None]
    share = xp.where(
        cell < begin,
        xp.where(cell + 1 > end, scale, cell + 1 - begin),
        xp.where(cell + 1 > end, end - cell, _f32(1.0)),
    )
    share = xp.where(cell < xp.ceil(end), share, _f32(0.0))
    return xp.clip(cells, 0, in_size - 1), share / scale


def _kernel(name, x):
    """TF's sampling kernels (sampling_kernels.h) at ``|x|``, in float32."""
    xp = backend.xp
    if name == "triangle":
        return xp.where(x < 1, 1 - x, _f32(0.0))
    if name == "keyscubic":
        inner = ((_f32(1.5) * x - _f32(2.5)) * x) * x + _f32(1.0)
        outer = ((_f32(-0.5) * x + _f32(2.5)) * x - _f32(4.0)) * x + _f32(2.0)
        return xp.where(x >= 2, _f32(0.0), xp.where(x >= 1, outer, inner))
    radius = _f32(_KERNEL_RADII[name])
    pi = _f32(3.14159265359)
    safe = xp.where(x > _f32(1e-3), x, _f32(1.0))
    value = radius * xp.sin(pi * safe) * xp.sin(pi * safe / radius) / (pi * pi * safe * safe)
    return xp.where(x > radius, _f32(0.0), xp.where(x <= _f32(1e-3), _f32(1.0), value))


def _scale_and_translate_taps(in_size, out_size, kernel_name, antialias):
    """TF's ``ScaleAndTranslate`` spans (translation 0): a kernel sampled at pixel centres, renormalised."""
    xp = backend.xp
    f32 = xp.float32  # host float32 scalars: the span width is a Python int, computed as TF computes it
    scale = f32(out_size) / f32(in_size)
    inverse_scale = f32(1.0 / float(scale))
    kernel_scale = max(inverse_scale, f32(1.0)) if antialias else f32(1.0)
    reach = f32(_KERNEL_RADII[kernel_name]) * kernel_scale
    span = min(2 * int(math.ceil(float(reach))) + 1, in_size)
    sample = (xp.arange(out_size, dtype="float32") + _f32(0.5)) * _f32(inverse_scale)
    inside = (sample >= 0) & (sample <= in_size)
    start = xp.clip(xp.ceil(sample - _f32(reach) - _f32(0.5)), 0, in_size - 1).astype("int64")
    stop = xp.clip(xp.floor(sample + _f32(reach) - _f32(0.5)), 0, in_size - 1).astype("int64") + 1
    indices = start[:, None] + xp.arange(span)[None, :]
    position = indices.astype("float32") + _f32(0.5) - sample[:, None]
    weights = _kernel(kernel_name, xp.abs(position * _f32(f32(1.0) / kernel_scale)))
    weights = xp.where((indices < stop[:, None]) & inside[:, None], weights, _f32(0.0))
    return xp.clip(indices, 0, in_size - 1), _renormalise(weights)


def _axis_plan(interpolation, antialias, in_size, out_size, dtype):
    """How one axis is resized: ``(gather, matrix)``.

    ``gather`` is what the forward pass gathers with (``("bilinear", lower,
    upper, lerp)``, ``("nearest", index)``) or None to multiply by ``matrix``,
    the ``(out, in)`` interpolation matrix the backward pass transposes.
    """
    xp = backend.xp
    if interpolation == "nearest":
        index = _nearest_index(in_size, out_size)
        ones = xp.ones((out_size, 1), dtype="float32")
        return ("nearest", index), _matrix_from_taps(index[:, None], ones, in_size, dtype)
    if interpolation == "bilinear" and not antialias:
        lower, upper, lerp = _bilinear_taps(in_size, out_size)
        taps = xp.stack([lower, upper], axis=1)
        weights = xp.stack([_f32(1.0) - lerp, lerp], axis=1)
        return ("bilinear", lower, upper, lerp.astype(dtype)), _matrix_from_taps(taps, weights, in_size, dtype)
    if interpolation == "bicubic" and not antialias:
        return None, _matrix_from_taps(*_bicubic_taps(in_size, out_size), in_size, dtype)
    if interpolation == "area":
        return None, _matrix_from_taps(*_area_taps(in_size, out_size), in_size, dtype)
    kernel_name = {"bilinear": "triangle", "bicubic": "keyscubic"}.get(interpolation, interpolation)
    taps = _scale_and_translate_taps(in_size, out_size, kernel_name, antialias)
    return None, _matrix_from_taps(*taps, in_size, dtype)


def _apply_axis(x, plan, matrix, axis):
    """Resize ``x`` (``(N, H, W, C)``) along ``axis`` (1 or 2) by its plan."""
    xp = backend.xp
    if plan is not None and plan[0] == "nearest":
        return xp.take(x, plan[1], axis=axis)
    if plan is not None:
        _, lower, upper, lerp = plan
        a, b = xp.take(x, lower, axis=axis), xp.take(x, upper, axis=axis)
        shape = [1] * x.ndim
        shape[axis] = lerp.shape[0]
        return a + (b - a) * lerp.reshape(shape)  # TF's order of operations
    return _multiply_axis(x, matrix, axis)


def _multiply_axis(x, matrix, axis):
    """``matrix`` (``(out, in)``) applied along ``axis`` (1 or 2) of ``(N, H, W, C)``: one matrix product."""
    xp = backend.xp
    product = xp.tensordot(x, matrix, axes=([axis], [1]))  # the new axis comes last
    order = (0, 1, 3, 2) if axis == 2 else (0, 3, 1, 2)
    return xp.ascontiguousarray(product.transpose(order))


# ------------------------------------------------------------------- resize
def _aspect_crop(height, width, target_height, target_width):
    """The largest centred window of the target's aspect ratio: ``(top, left, rows, columns)`` (Keras's rule)."""
    rows = max(min(height, int(float(width * target_height) / target_width)), 1)
    columns = max(min(width, int(float(height * target_width) / target_height)), 1)
    return int(float(height - rows) / 2), int(float(width - columns) / 2), rows, columns


def _aspect_pad(height, width, target_height, target_width):
    """Rows and columns of padding on EACH side to reach the target's aspect ratio (Keras's rule)."""
    padded_height = max(height, int(float(width * target_height) / target_width))
    padded_width = max(width, int(float(height * target_width) / target_height))
    return int(float(padded_height - height) / 2), int(float(padded_width - width) / 2)


def resize_forward(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
                   pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0,
                   data_format="channels_last"):
    """Resize images to ``size``: ``keras.ops.image.resize`` on TensorFlow, with a cache for the backward pass.

    Args:
        images: ``(H, W, C)`` or ``(N, H, W, C)`` (``(C, H, W)`` / ``(N, C, H, W)``
            for channels_first), float or integer.
        size: ``(height, width)`` of the output, positive ints.
        interpolation: one of :data:`RESIZE_INTERPOLATIONS` (see the module's docstring).
        antialias: widen the kernel when shrinking (bilinear, bicubic, lanczos;
            nearest and area ignore it, as in TensorFlow).
        crop_to_aspect_ratio: first crop the largest centred window of the
            target's aspect ratio, then resize (no distortion).
        pad_to_aspect_ratio: first pad the short side evenly with ``fill_value``
            to the target's aspect ratio, then resize.
        fill_mode: only ``"constant"`` (Keras's TensorFlow backend refuses others).
        fill_value: the padding value.
        data_format: ``"channels_last"`` (None means it too) or ``"channels_first"``.

    Returns:
        ``(resized, cache)``: ``resized`` has the input's rank and layout with
        height and width replaced by ``size``, and the input's dtype: integer
        images are interpolated in float32, rounded and saturated, as Keras does.

    Raises:
        ValueError: a bad size, rank, interpolation, fill_mode or data_format,
            or both aspect-ratio options at once.
    """
    where = "resize"
    xp = backend.xp
    images = _check_images(where, images)
    size = _check_size(where, size)
    interpolation = _check_choice(where, "interpolation", interpolation, RESIZE_INTERPOLATIONS)
    data_format = check_data_format(where, data_format)
    if fill_mode != "constant":
        raise ValueError(
            f"{where}: fill_mode must be 'constant' (the only one Keras's TensorFlow backend supports). "
            f"Received: fill_mode={fill_mode!r}"
        )
    backend.check_real(where, "fill_value", fill_value)
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(
            f"{where}: crop_to_aspect_ratio and pad_to_aspect_ratio cannot both be True. "
            f"Received: crop_to_aspect_ratio={crop_to_aspect_ratio}, pad_to_aspect_ratio={pad_to_aspect_ratio}"
        )
    dtype = images.dtype
    x, unbatched = _to_nhwc(images, data_format)
    original_height, original_width = x.shape[1], x.shape[2]
    crop = pad = None
    if crop_to_aspect_ratio:
        top, left, rows, columns = _aspect_crop(original_height, original_width, *size)
        crop = (top, left, rows, columns)
        x = x[:, top:top + rows, left:left + columns, :]
    elif pad_to_aspect_ratio:
        pad_rows, pad_columns = _aspect_pad(original_height, original_width, *size)
        pad = (pad_rows, pad_columns)
        if dtype.kind in "iu" and (pad_rows or pad_columns) and float(fill_value) != int(fill_value):
            raise ValueError(
                f"{where}: fill_value={fill_value!r} cannot pad integer images (dtype {dtype}); Keras refuses it "
                "too. Use an integer fill_value or cast the images to float."
            )
        fill = int(fill_value) if dtype.kind in "iu" else float(fill_value)
        x = xp.pad(x, ((0, 0), (pad_rows, pad_rows), (pad_columns, pad_columns), (0, 0)), constant_values=fill)
    compute = _compute_dtype(dtype)
    row_plan, rows = _axis_plan(interpolation, antialias, x.shape[1], size[0], compute)
    column_plan, columns = _axis_plan(interpolation, antialias, x.shape[2], size[1], compute)
    if interpolation == "nearest":
        resized = xp.take(xp.take(x, row_plan[1], axis=1), column_plan[1], axis=2)  # exact in any dtype
    else:
        values = x.astype(compute, copy=False)
        resized = _apply_axis(_apply_axis(values, column_plan, columns, 2), row_plan, rows, 1)
        resized = _restore_dtype(resized, dtype)
    cache = {"shape": tuple(images.shape), "data_format": data_format, "unbatched": unbatched, "crop": crop,
             "pad": pad, "rows": rows, "columns": columns,
             "original": (original_height, original_width)}
    return _from_nhwc(resized, data_format, unbatched), cache


def resize_backward(output_grads, cache):
    """The gradient of :func:`resize_forward` with respect to its images.

    Args:
        output_grads: dL/d(resized), the shape of the resized images.
        cache: what :func:`resize_forward` returned.

    Returns:
        dL/d(images), the shape of the input: ``M_hᵀ · dy · M_w`` per image and
        channel, the padding's share dropped, the cropped-away pixels zero.
    """
    xp = backend.xp
    dy, _ = _to_nhwc(xp.asarray(output_grads), cache["data_format"])
    dtype = dy.dtype if dy.dtype.kind == "f" else backend.floatx()
    dy = dy.astype(cache["rows"].dtype, copy=False)
    dx = _multiply_axis(_multiply_axis(dy, cache["columns"].T, 2), cache["rows"].T, 1)
    height, width = cache["original"]
    if cache["pad"] is not None:
        pad_rows, pad_columns = cache["pad"]
        dx = dx[:, pad_rows:pad_rows + height, pad_columns:pad_columns + width, :]
    if cache["crop"] is not None:
        top, left, rows, columns = cache["crop"]
        full = xp.zeros((dx.shape[0], height, width, dx.shape[3]), dtype=dx.dtype)
        full[:, top:top + rows, left:left + columns, :] = dx
        dx = full
    return _from_nhwc(dx.astype(dtype, copy=False), cache["data_format"], cache["unbatched"])


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format="channels_last"):
    """``keras.ops.image.resize`` (TensorFlow backend): :func:`resize_forward` without the cache.

    Example: ``resize(batch, (224, 224))`` turns ``(N, H, W, 3)`` into ``(N, 224, 224, 3)``.
    """
    return resize_forward(images, size, interpolation, antialias, crop_to_aspect_ratio, pad_to_aspect_ratio,
                          fill_mode, fill_value, data_format)[0]


# ------------------------------------------------------- projective transforms
def _check_transform(where, transform, batch):
    xp = backend.xp
    transform = backend.as_numeric(transform, where)
    if transform.ndim not in (1, 2) or transform.shape[-1] != 8:
        raise ValueError(
            f"{where}: transform must have shape (8,) or (batch, 8): [a0, a1, a2, b0, b1, b2, c0, c1] per "
            f"image. Received: transform with shape {tuple(transform.shape)}"
        )
    transform = transform.reshape(-1, 8).astype("float32")  # TF casts the transforms to float32
    if transform.shape[0] not in (1, batch):
        raise ValueError(
            f"{where}: expected one transform for all images or one per image ({batch}). "
            f"Received: {transform.shape[0]} transforms"
        )
    return xp.broadcast_to(transform, (batch, 8)) if transform.shape[0] != batch else transform


def _map_reflect(coordinate, size):
    """TF's FILL_REFLECT: ``dcba|abcd|dcba`` with period ``2 * size``, then clamped to ``[0, size - 1]``."""
    xp = backend.xp
    if size <= 1:
        return xp.zeros_like(coordinate)
    period = _f32(2 * size)
    below = coordinate < 0
    shifted = period * xp.trunc(-coordinate / period) + coordinate  # into (-2 size, 0]
    shifted = xp.where(shifted < -size, shifted + period, -shifted - 1)
    above = coordinate > size - 1
    folded = coordinate - period * xp.trunc(coordinate / period)  # into [0, 2 size)
    folded = xp.where(folded >= size, period - folded - 1, folded)
    mapped = xp.where(below, shifted, xp.where(above, folded, coordinate))
    return xp.clip(mapped, _f32(0.0), _f32(size - 1))


def _map_wrap(coordinate, size):
    """TF's FILL_WRAP (its own formula, with ``size - 1`` as the divisor), then clamped."""
    xp = backend.xp
    if size <= 1:
        return xp.zeros_like(coordinate)
    divisor = _f32(size - 1)
    up = coordinate + (_f32(size) * (xp.trunc(-coordinate / divisor) + 1))
    down = coordinate - _f32(size) * xp.trunc(coordinate / divisor)
    mapped = xp.where(coordinate < 0, up, xp.where(coordinate > size - 1, down, coordinate))
    return xp.clip(mapped, _f32(0.0), _f32(size - 1))


def _map_coordinate(coordinate, size, fill_mode):
    if fill_mode == "reflect":
        return _map_reflect(coordinate, size)
    if fill_mode == "wrap":
        return _map_wrap(coordinate, size)
    if fill_mode == "nearest":
        return backend.xp.clip(coordinate, _f32(0.0), _f32(size - 1))
    return coordinate


def _round_half_away(values):
    """C's ``round``: halves go away from zero (``xp.round`` would round them to even)."""
    xp = backend.xp
    magnitude = xp.abs(values)
    whole = xp.floor(magnitude)
    return xp.sign(values) * (whole + (magnitude - whole >= _f32(0.5)))


def _mapped_points(transform, height, width, fill_mode):
    """The input point each output pixel reads, after ``fill_mode``'s mapping: ``(y, x, degenerate)``.

    ``y`` and ``x`` are float32 ``(N, H, W)`` in TF's order of operations;
    ``degenerate`` marks the points whose projection ``k`` is 0 (at infinity:
    TF writes the fill value there).
    """
    xp = backend.xp
    columns = xp.arange(width, dtype="float32")[None, None, :]
    rows = xp.arange(height, dtype="float32")[None, :, None]
    a0, a1, a2, b0, b1, b2, c0, c1 = (transform[:, k][:, None, None] for k in range(8))
    projection = c0 * columns + c1 * rows + _f32(1.0)
    degenerate = projection == 0
    projection = xp.where(degenerate, _f32(1.0), projection)
    x = _map_coordinate((a0 * columns + a1 * rows + a2) / projection, width, fill_mode)
    y = _map_coordinate((b0 * columns + b1 * rows + b2) / projection, height, fill_mode)
    return y, x, degenerate


def _flat_positions(row, column, height, width):
    """Flat positions of ``(n, row, column)`` in ``(N*H*W, C)`` (0 where outside) and the inside mask."""
    xp = backend.xp
    # Clip far-away coordinates before the integer cast (constant mode lets them grow without bound).
    row = xp.clip(row, -1, height).astype("int64")
    column = xp.clip(column, -1, width).astype("int64")
    inside = (row >= 0) & (row < height) & (column >= 0) & (column < width)
    image = xp.arange(row.shape[0])[:, None, None]
    flat = (image * height + xp.clip(row, 0, height - 1)) * width + xp.clip(column, 0, width - 1)
    return flat, inside


def affine_transform_forward(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0,
                             data_format="channels_last"):
    """Warp images by projective transforms: ``keras.ops.image.affine_transform`` on TensorFlow.

    Args:
        images: ``(H, W, C)`` or ``(N, H, W, C)`` (channels_first: ``(C, H, W)``,
            ``(N, C, H, W)``), float or integer.
        transform: ``(8,)`` or ``(N, 8)`` (``(1, 8)`` serves every image):
            ``[a0, a1, a2, b0, b1, b2, c0, c1]`` mapping OUTPUT pixel ``(x, y)``
            to the input point it reads (see the module's docstring).
        interpolation: ``"bilinear"`` or ``"nearest"``.
        fill_mode: ``"constant"``, ``"nearest"``, ``"wrap"`` or ``"reflect"`` (TF's definitions).
        fill_value: the value outside the image for ``"constant"``.
        data_format: ``"channels_last"`` (None means it too) or ``"channels_first"``.

    Returns:
        ``(warped, cache)``: ``warped`` has the shape and dtype of ``images``
        (integer images are interpolated in float32 and truncated, as TF does).

    Raises:
        ValueError: a bad rank, transform shape, interpolation, fill_mode or data_format.
    """
    where = "affine_transform"
    xp = backend.xp
    images = _check_images(where, images)
    interpolation = _check_choice(where, "interpolation", interpolation, AFFINE_INTERPOLATIONS)
    fill_mode = _check_choice(where, "fill_mode", fill_mode, FILL_MODES)
    data_format = check_data_format(where, data_format)
    backend.check_real(where, "fill_value", fill_value)
    dtype = images.dtype
    x, unbatched = _to_nhwc(images, data_format)
    batch, height, width, channels = x.shape
    transform = _check_transform(where, transform, batch)
    positions, fractions, degenerate = _corner_taps(transform, height, width, interpolation, fill_mode)
    compute = _compute_dtype(dtype)
    flat_images = x.reshape(-1, channels)
    # TF reads the fill value as the image's type, then interpolates in float.
    fill = xp.asarray(fill_value).astype(dtype).astype(compute)
    reads = [xp.where(inside[..., None], xp.take(flat_images, flat, axis=0).astype(compute), fill)
             for flat, inside in positions]
    if fractions is None:
        warped = reads[0]
    else:
        left, right, up, down = (fraction.astype(compute)[..., None] for fraction in fractions)
        # TF's order: along x in the floor row and in the ceil row, then along y.
        warped = up * (left * reads[0] + right * reads[1]) + down * (left * reads[2] + right * reads[3])
    warped = xp.where(degenerate[..., None], fill, warped)
    warped = warped.astype(dtype)  # integers: C++'s float-to-int conversion truncates, as astype does
    # The backward pass recomputes the taps from the transforms (cheap) rather than keeping them.
    cache = {"transform": transform, "nhwc": (batch, height, width, channels), "interpolation": interpolation,
             "fill_mode": fill_mode, "data_format": data_format, "unbatched": unbatched, "compute": compute}
    return _from_nhwc(warped, data_format, unbatched), cache


def _corner_taps(transform, height, width, interpolation, fill_mode):
    """Where each output pixel reads: ``(positions, fractions, degenerate)``.

    ``positions`` lists one ``(flat, inside)`` pair per tap (one for nearest,
    the four corners floor/ceil row x floor/ceil column for bilinear, in that
    order), each ``(N, H, W)``; ``fractions`` is ``(left, right, up, down)``,
    the float32 weights of the floor and ceil column and row (None for nearest).
    """
    xp = backend.xp
    y_point, x_point, degenerate = _mapped_points(transform, height, width, fill_mode)
    if interpolation == "nearest":
        corners, fractions = [(_round_half_away(y_point), _round_half_away(x_point))], None
    else:
        y_floor, x_floor = xp.floor(y_point), xp.floor(x_point)
        y_ceil, x_ceil = y_floor + 1, x_floor + 1
        corners = [(y_floor, x_floor), (y_floor, x_ceil), (y_ceil, x_floor), (y_ceil, x_ceil)]
        fractions = (x_ceil - x_point, x_point - x_floor, y_ceil - y_point, y_point - y_floor)
    return [_flat_positions(row, column, height, width) for row, column in corners], fractions, degenerate


def affine_transform_backward(output_grads, cache):
    """The gradient of :func:`affine_transform_forward` with respect to its images (not the transforms).

    Every output pixel sends its upstream gradient back to the pixels it read,
    times the weights it read them with (the products of the forward's
    fractions, in the same float type, so that this is its exact adjoint):
    one ``bincount`` over all taps and channels. Reads of the fill value send nothing.

    Args:
        output_grads: dL/d(warped), the shape of the images.
        cache: what :func:`affine_transform_forward` returned.

    Returns:
        dL/d(images), the shape of the images.
    """
    xp = backend.xp
    dy, _ = _to_nhwc(xp.asarray(output_grads), cache["data_format"])
    dtype = dy.dtype if dy.dtype.kind == "f" else backend.floatx()
    batch, height, width, channels = cache["nhwc"]
    positions, fractions, degenerate = _corner_taps(cache["transform"], height, width, cache["interpolation"],
                                                    cache["fill_mode"])
    if fractions is None:
        weights = [xp.ones(degenerate.shape, dtype=cache["compute"])]
    else:
        left, right, up, down = (fraction.astype(cache["compute"]) for fraction in fractions)
        weights = [up * left, up * right, down * left, down * right]
    channel = xp.arange(channels)
    indices, contributions = [], []
    for (flat, inside), weight in zip(positions, weights):
        weight = xp.where(degenerate | ~inside, 0, weight).astype(dy.dtype)
        indices.append((flat[..., None] * channels + channel).reshape(-1))
        contributions.append((weight[..., None] * dy).reshape(-1))
    dx = xp.bincount(xp.concatenate(indices), weights=xp.concatenate(contributions),
                     minlength=batch * height * width * channels)
    dx = dx.astype(dtype).reshape(batch, height, width, channels)
    return _from_nhwc(dx, cache["data_format"], cache["unbatched"])


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0,
                     data_format="channels_last"):
    """``keras.ops.image.affine_transform`` (TensorFlow backend): :func:`affine_transform_forward` without the cache.

    Example: ``affine_transform(batch, [1, 0, -5, 0, 1, 0, 0, 0])`` shifts every
    image 5 pixels to the right (output column x reads input column x - 5).
    """
    return affine_transform_forward(images, transform, interpolation, fill_mode, fill_value, data_format)[0]
