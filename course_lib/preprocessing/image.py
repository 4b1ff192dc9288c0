"""Image augmentation with Keras 2's names: ``ImageDataGenerator``, its iterators and the affine helpers.

Keras 3 keeps this API in ``keras.preprocessing.image`` (its "legacy" module):
random rotations, shifts, shears, zooms, flips, channel and brightness shifts,
and the feature-wise statistics (mean, standard deviation, ZCA whitening) that
``fit`` learns. course_lib gives the same arguments, defaults, dictionary keys
and numbers, with one difference in how the work is done: Keras transforms one
image at a time, channel by channel, through ``scipy.ndimage.affine_transform``;
course_lib draws the parameters per image exactly as Keras does (same random
stream for the same seed) and then warps the whole batch at once in
:func:`affine_transform_batch`, a NumPy gather written from scratch that
reproduces SciPy's interpolation and boundary rules.

The geometry, once (it is easy to get wrong):

* A transform is a 3x3 matrix ``M`` in homogeneous coordinates that maps an
  OUTPUT pixel to the INPUT point it is read from (inverse mapping, "pull"):
  ``M @ (x_out, y_out, 1) = (x_in, y_in, 1)``. Rotating the picture by +θ
  therefore needs the matrix of -θ, and so on; :func:`affine_matrix` composes
  the matrix Keras composes, so the picture moves as it does in Keras.
* ``x`` is the column index (horizontal, grows to the right) and ``y`` the row
  index (vertical, grows downwards). Pixel centres sit on whole numbers:
  the top-left pixel is at ``(0, 0)``, the image spans ``-0.5 .. W - 0.5``.
* Keras centres the transform with ``transform_matrix_offset_center(M, h, w)``,
  which puts ``h / 2 - 0.5`` on ``x`` and ``w / 2 - 0.5`` on ``y``: for a
  non-square image the pivot is not the image's centre. Keras's
  ``get_random_transform`` likewise scales ``tx`` (the x, that is horizontal,
  shift) by the image's height and draws it from ``height_shift_range``, so
  ``height_shift_range`` moves pictures left and right and
  ``width_shift_range`` up and down (keras-team/keras#17398). course_lib keeps
  both quirks, so that a seed gives the pictures Keras gives; the book shows them.

Everything here runs on the host in NumPy (as Keras's legacy preprocessing
does) and returns NumPy arrays, whatever course_lib's array backend.
"""
import math
import numbers
import os
import threading
import warnings

import numpy

from course_lib import backend
from course_lib.utils import image_utils
from course_lib.utils.image_utils import array_to_img, img_to_array, load_img, save_img
from course_lib.utils.py_dataset import PyDataset

__all__ = [
    "DirectoryIterator", "ImageDataGenerator", "Iterator", "NumpyArrayIterator", "affine_matrix",
    "affine_transform_batch", "apply_affine_transform", "apply_brightness_shift", "apply_channel_shift",
    "array_to_img", "flip_axis", "img_to_array", "load_img", "random_brightness", "random_channel_shift",
    "random_rotation", "random_shear", "random_shift", "random_zoom", "save_img", "smart_resize",
    "transform_matrix_offset_center",
]

FILL_MODES = ("constant", "nearest", "reflect", "wrap")
"""The ``fill_mode`` values: how points outside the input image are filled (SciPy's rules, see below)."""


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_fill_mode(where, fill_mode):
    if fill_mode not in FILL_MODES:
        raise ValueError(f"{where}: fill_mode must be one of {FILL_MODES}. Received: fill_mode={fill_mode!r}")


def _check_order(where, order, name="order"):
    if order not in (0, 1) or isinstance(order, bool):
        raise ValueError(
            f"{where}: {name} must be 0 (nearest neighbour) or 1 (bilinear); course_lib implements the two "
            f"orders Keras's augmentation uses. Received: {name}={order!r}"
        )


# ---------------------------------------------------------------- the matrices
def _rotation(theta_degrees):
    radians = numpy.deg2rad(theta_degrees)
    cos, sin = numpy.cos(radians), numpy.sin(radians)
    return numpy.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])


def _shift(tx, ty):
    return numpy.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])


def _shear(shear_degrees):
    radians = numpy.deg2rad(shear_degrees)
    return numpy.array([[1, -numpy.sin(radians), 0], [0, numpy.cos(radians), 0], [0, 0, 1]])


def _zoom(zx, zy):
    return numpy.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])


def transform_matrix_offset_center(matrix, x, y):
    """Move a 3x3 transform's origin to the image centre: ``offset @ matrix @ offset⁻¹``.

    The offset is ``x / 2 - 0.5`` on the first coordinate and ``y / 2 - 0.5``
    on the second (the centre of ``x`` by ``y`` pixels whose centres are whole
    numbers). Keras calls it with ``x = height`` and ``y = width`` although
    the first coordinate is the column: see the module's docstring.

    Args:
        matrix: a ``(3, 3)`` array.
        x, y: the two sizes (Keras passes the height, then the width).

    Returns:
        A new ``(3, 3)`` float64 array.
    """
    matrix = numpy.asarray(matrix, dtype="float64")
    if matrix.shape != (3, 3):
        raise ValueError(
            f"transform_matrix_offset_center: expected a (3, 3) matrix. Received: an array of shape {matrix.shape}"
        )
    centre_x, centre_y = float(x) / 2 - 0.5, float(y) / 2 - 0.5
    to_centre = numpy.array([[1, 0, centre_x], [0, 1, centre_y], [0, 0, 1]])
    from_centre = numpy.array([[1, 0, -centre_x], [0, 1, -centre_y], [0, 0, 1]])
    # Keras's order of products (left to right), so the float64 entries agree to the last bit.
    return numpy.dot(numpy.dot(to_centre, matrix), from_centre)


def affine_matrix(theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, height=None, width=None):
    """The 3x3 inverse-mapping matrix of a rotation, shift, shear and zoom, composed as Keras composes it.

    ``M = R(theta) @ T(tx, ty) @ S(shear) @ Z(zx, zy)`` where (``x`` = column,
    ``y`` = row, angles in degrees)::

        R = [[cos θ, -sin θ, 0],    T = [[1, 0, tx],    S = [[1, -sin s, 0],    Z = [[zx, 0,  0],
             [sin θ,  cos θ, 0],         [0, 1, ty],         [0,  cos s, 0],         [0,  zy, 0],
             [0,      0,     1]]         [0, 0, 1]]          [0,  0,     1]]         [0,  0,  1]]

    The matrix maps an output pixel ``(x, y, 1)`` to the input point it is read
    from, so the picture turns by ``-theta`` in the x/y frame (counter-clockwise
    on screen for a positive theta, since y grows downwards), moves by
    ``(-tx, -ty)``, and ``zx = 2`` reads twice as much of the width, so the
    picture shrinks to half its width (``zx = 0.5`` enlarges it). With ``height`` and ``width`` the matrix is re-centred by
    :func:`transform_matrix_offset_center` ``(M, height, width)``, as Keras's
    ``apply_affine_transform`` does before warping.

    Args:
        theta: rotation in degrees.
        tx, ty: shift of the read position along x (columns) and y (rows), in pixels.
        shear: shear angle in degrees.
        zx, zy: zoom factors along x and y (above 1: the read area grows, the picture shrinks).
        height, width: the image's size, both or neither.

    Returns:
        A ``(3, 3)`` float64 array whose last row is ``(0, 0, 1)``.
    """
    for name, value in (("theta", theta), ("tx", tx), ("ty", ty), ("shear", shear), ("zx", zx), ("zy", zy)):
        if not _is_real(value) or not math.isfinite(value):
            raise ValueError(f"affine_matrix: {name} must be a finite real number. Received: {name}={value!r}")
    if (height is None) != (width is None):
        raise ValueError(
            f"affine_matrix: pass both height and width (to centre the transform) or neither. "
            f"Received: height={height!r}, width={width!r}"
        )
    matrix = numpy.eye(3)
    # Keras multiplies only the factors that are not the identity; a product with
    # the identity is exact in floating point, so including them changes nothing.
    if theta != 0:
        matrix = _rotation(theta)
    if tx != 0 or ty != 0:
        matrix = numpy.dot(matrix, _shift(tx, ty))
    if shear != 0:
        matrix = numpy.dot(matrix, _shear(shear))
    if zx != 1 or zy != 1:
        matrix = numpy.dot(matrix, _zoom(zx, zy))
    if height is not None:
        for name, value in (("height", height), ("width", width)):
            if not _is_int(value) or value < 1:
                raise ValueError(f"affine_matrix: {name} must be a positive int. Received: {name}={value!r}")
        matrix = transform_matrix_offset_center(matrix, height, width)
    return numpy.asarray(matrix, dtype="float64")


# ---------------------------------------------------------------- SciPy's boundary rules
def _truncate(values):
    """C's cast of a double to an integer: toward zero."""
    return numpy.trunc(values)


def _map_coordinate(coordinate, length, mode):
    """Fold a (real) coordinate outside ``[0, length - 1]`` back in, as SciPy's ``map_coordinate`` does.

    ``constant`` marks points outside with -1 (the pixel becomes ``cval``);
    ``reflect`` is half-sample symmetric (``d c b a | a b c d | d c b a``);
    ``wrap`` repeats with period ``length - 1``, so the first and last samples
    coincide (SciPy's ``'wrap'``, not ``'grid-wrap'``); ``nearest`` is never
    folded here: the neighbours are clamped instead. The arithmetic,
    truncations and the 1e-15 guard are SciPy's, so the folded coordinate is
    the same double.
    """
    c = coordinate
    if length <= 1:
        return numpy.where((c < 0) | (c > length - 1), -1.0 if mode == "constant" else 0.0, c)
    below, above = c < 0, c > length - 1
    if mode == "constant":
        return numpy.where(below | above, -1.0, c)
    if mode == "reflect":
        period = 2 * length
        low = numpy.where(c < -period, period * _truncate(-c / period) + c, c)
        low = numpy.where(low < -length, low + period, numpy.where(low > -1e-15, 1e-15, -low) - 1)
        high = c - period * _truncate(c / period)
        high = numpy.where(high >= length, period - high - 1, high)
    elif mode == "wrap":
        period = length - 1
        low = c + period * (_truncate(-c / period) + 1)
        high = c - period * _truncate(c / period)
    else:
        raise ValueError(f"_map_coordinate: unexpected mode {mode!r}")
    return numpy.where(below, low, numpy.where(above, high, c))


def _map_index(index, length, mode):
    """Fold integer neighbour indices into ``[0, length)``, in place: SciPy's rule for the spline's footprint.

    SciPy folds the neighbours of a point by mirroring (``d c b | a b c d | c b a``)
    in ``constant`` and ``wrap`` modes, half-sample reflection in ``reflect``
    mode and clamping in ``nearest`` mode. (Only neighbours with weight 0 ever
    need it in ``constant``/``wrap``/``reflect``, after the coordinate itself was folded.)
    """
    if length <= 1:
        index[...] = 0
        return index
    if mode == "nearest":
        numpy.maximum(index, 0, out=index)
        return numpy.minimum(index, length - 1, out=index)
    below, above = index < 0, index >= length
    if not (below.any() or above.any()):
        return index
    if mode == "reflect":
        period = 2 * length
        low = numpy.where(index < -period, period * (-index // period) + index, index)
        low = numpy.where(low < -length, low + period, -low - 1)
        high = index - period * (index // period)
        high = numpy.where(high >= length, period - high - 1, high)
    else:  # mirror, for 'constant' and 'wrap'
        period = 2 * length - 2
        low = period * (-index // period) + index
        low = numpy.where(low <= 1 - length, low + period, -low)
        high = index - period * (index // period)
        high = numpy.where(high >= length, period - high, high)
    return numpy.where(below, low, numpy.where(above, high, index))


def _axis_samples(coordinate, length, mode, order):
    """Per output pixel along one axis: neighbour indices, their weights, and where the pixel is ``cval``.

    Returns ``(indices, weights, outside)``: for order 0 one index array and
    ``weights=None``; for order 1 two index arrays and two float64 weight
    arrays (SciPy's: ``w0 = 1 - t``, ``w1 = 1 - w0`` with ``t`` the fractional
    part). ``outside`` is None in ``nearest`` mode (nothing is ever outside).
    """
    folded = coordinate if mode == "nearest" else _map_coordinate(coordinate, length, mode)
    outside = None if mode == "nearest" else ~(folded > -1.0)
    if order == 0:
        start = numpy.floor(folded + 0.5)
        return [_map_index(start.astype(numpy.intp), length, mode)], None, outside
    start = numpy.floor(folded)
    first = numpy.subtract(folded, start)
    numpy.subtract(1.0, first, out=first)
    first_index = start.astype(numpy.intp)
    second_index = first_index + 1
    indices = [_map_index(first_index, length, mode), _map_index(second_index, length, mode)]
    return indices, [first, 1.0 - first], outside


def _check_batch(where, images, matrices):
    images = numpy.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"{where}: expected images of shape (N, H, W, C) (rank 4). Received: an array of shape {images.shape}"
        )
    if images.dtype.kind not in "biuf":
        raise ValueError(f"{where}: expected real-valued images. Received: dtype {images.dtype}")
    matrices = numpy.asarray(matrices, dtype="float64")
    if matrices.shape == (3, 3):
        matrices = numpy.broadcast_to(matrices, (len(images), 3, 3))
    if matrices.shape != (len(images), 3, 3):
        raise ValueError(
            f"{where}: expected one (3, 3) matrix per image, shape ({len(images)}, 3, 3) (or a single (3, 3) "
            f"matrix for all). Received: matrices of shape {matrices.shape}"
        )
    if not numpy.isfinite(matrices).all():
        raise ValueError(f"{where}: the matrices contain NaN or infinity")
    return images, matrices


def affine_transform_batch(images, matrices, fill_mode="nearest", cval=0.0, order=1):
    """Warp a batch of images by one 3x3 inverse-mapping matrix each, all at once.

    Output pixel ``(row r, column c)`` of image ``n`` reads the input at
    ``(x, y, 1) = matrices[n] @ (c, r, 1)`` (``x`` column, ``y`` row; see
    :func:`affine_matrix`), interpolated and filled as
    ``scipy.ndimage.affine_transform`` does for Keras (which calls it once per
    channel per image, on the row/column-swapped matrix):

    * ``order=0``: the nearest sample, ``floor(coordinate + 0.5)`` (halves round up);
    * ``order=1``: bilinear, weights ``1 - t`` and ``t`` of the fractional part ``t`` on each axis;
    * ``fill_mode="nearest"``: the neighbours are clamped to the edge (``a a | a b c d | d d``);
      ``"constant"``: a point outside ``[0, H - 1] x [0, W - 1]`` becomes ``cval``
      (no blending with cval at the border: SciPy's ``'constant'``, not ``'grid-constant'``);
      ``"reflect"``: half-sample symmetric (``d c b a | a b c d | d c b a``);
      ``"wrap"``: periodic with period ``size - 1``, the last row/column
      coinciding with the first (SciPy's ``'wrap'``, not ``'grid-wrap'``).

    Where each output pixel reads (the coordinates, their folding at the
    borders, the neighbours and the weights) is computed in float64 with
    SciPy's arithmetic in SciPy's order, so the same pixels are chosen and
    ``order=0`` agrees with Keras to the last bit. For ``order=1`` the four
    neighbours are combined in the images' dtype with weights
    ``w_row * w_col`` (SciPy accumulates ``(v * w_row) * w_col`` in float64):
    for float32 images the two differ by a few float32 rounding steps (at
    most about 3e-5 for values in 0..255), and the combination runs several
    times faster. The work is a handful of NumPy gathers over all the images
    and channels together, with no loop over images or channels; only the
    output rows are taken :data:`BLOCK_PIXELS` pixels at a time, so that the
    temporaries stay in the CPU's cache.

    Args:
        images: ``(N, H, W, C)`` real array.
        matrices: ``(N, 3, 3)`` (or one ``(3, 3)`` for every image).
        fill_mode: ``"nearest"``, ``"constant"``, ``"reflect"`` or ``"wrap"``.
        cval: the fill value of ``fill_mode="constant"``.
        order: 0 (nearest neighbour) or 1 (bilinear).

    Returns:
        ``(N, H, W, C)`` array of the images' dtype (integers are rounded and clipped as SciPy does).
    """
    where = "affine_transform_batch"
    images, matrices = _check_batch(where, images, matrices)
    _check_fill_mode(where, fill_mode)
    _check_order(where, order)
    if not _is_real(cval):
        raise ValueError(f"{where}: cval must be a real number. Received: cval={cval!r}")
    count, height, width, channels = images.shape
    if images.size == 0:
        return images.copy()
    flat = images.reshape(count * height * width, channels)
    work_dtype = images.dtype if images.dtype.kind == "f" else numpy.dtype("float64")
    result = numpy.empty((count * height * width, channels), dtype=work_dtype)
    # Output rows of all the images, taken a block at a time: one block's temporaries stay in the
    # CPU's cache, which makes the batch about twice as fast as one pass over all its pixels.
    rows_per_block = max(1, BLOCK_PIXELS // width)
    for first in range(0, count * height, rows_per_block):
        rows = numpy.arange(first, min(first + rows_per_block, count * height))
        block = slice(first * width, (first + len(rows)) * width)
        result[block] = _warp_rows(flat, matrices, rows // height, rows % height, height, width, fill_mode, cval,
                                   order, work_dtype)
    return _to_dtype(result, images.dtype).reshape(images.shape)


BLOCK_PIXELS = 1 << 15
"""Output pixels warped together by :func:`affine_transform_batch` (its temporaries fit the CPU's cache)."""


def _warp_rows(flat, matrices, image_index, row_index, height, width, fill_mode, cval, order, work_dtype):
    """The output pixels of some rows (row ``row_index[k]`` of image ``image_index[k]``): ``(rows * width, C)``."""
    m = matrices[image_index][:, :, :, None]  # (rows, 3, 3, 1): each row's matrix, broadcast along the columns
    rows = row_index.astype("float64")[:, None]
    cols = numpy.arange(width, dtype="float64")[None, :]
    # SciPy accumulates offset + row * m_row + col * m_col, in that order, for each input axis.
    row_in = (m[:, 1, 2] + rows * m[:, 1, 1]) + cols * m[:, 1, 0]
    col_in = (m[:, 0, 2] + rows * m[:, 0, 1]) + cols * m[:, 0, 0]
    row_indices, row_weights, row_outside = _axis_samples(row_in, height, fill_mode, order)
    col_indices, col_weights, col_outside = _axis_samples(col_in, width, fill_mode, order)
    image_start = (image_index * height)[:, None]
    result = None
    for i, source_row in enumerate(row_indices):
        row_start = numpy.add(image_start, source_row)
        row_start *= width
        for j, source_col in enumerate(col_indices):
            sample = numpy.take(flat, numpy.add(row_start, source_col).ravel(), axis=0)
            if order:
                weight = numpy.multiply(row_weights[i], col_weights[j]).astype(work_dtype).ravel()
                sample = numpy.multiply(sample, weight[:, None], dtype=work_dtype)
            if result is None:
                result = sample.astype(work_dtype, copy=False)
            else:
                result += sample
    if fill_mode != "nearest":
        outside = (row_outside | col_outside).ravel()
        if outside.any():
            result[outside] = cval
    return result


def _to_dtype(values, dtype):
    if dtype.kind == "f":
        return values.astype(dtype, copy=False)
    if dtype.kind == "b":
        return values != 0
    info = numpy.iinfo(dtype)
    # SciPy rounds half away from zero (unsigned: negatives become 0) and saturates.
    rounded = numpy.where(values > 0, numpy.floor(values + 0.5), numpy.ceil(values - 0.5))
    return numpy.clip(rounded, info.min, info.max).astype(dtype)


def _check_axes(where, row_axis, col_axis, channel_axis):
    axes = (row_axis, col_axis, channel_axis)
    if any(not _is_int(axis) for axis in axes) or sorted(axes) != [0, 1, 2]:
        raise ValueError(
            f"{where}: row_axis, col_axis and channel_axis must be 0, 1 and 2 in some order. "
            f"Received: row_axis={row_axis!r}, col_axis={col_axis!r}, channel_axis={channel_axis!r}"
        )
    if channel_axis not in (0, 2):
        raise ValueError(f"{where}: the channels must be the first or the last axis. Received: channel_axis={channel_axis}")


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, row_axis=1, col_axis=2, channel_axis=0,
                           fill_mode="nearest", cval=0.0, order=1):
    """Rotate, shift, shear and zoom one image: Keras's ``apply_affine_transform``.

    The matrix is :func:`affine_matrix` ``(theta, tx, ty, shear, zx, zy)``
    centred on the image; the warp is :func:`affine_transform_batch` on a batch
    of one. With every parameter at its neutral value the image is returned
    unchanged (no interpolation), as in Keras.

    Args:
        x: a 3-D image; the channels on the first or the last axis.
        theta: rotation in degrees. tx, ty: shifts in pixels (see :func:`affine_matrix`).
        shear: shear in degrees. zx, zy: zoom factors.
        row_axis, col_axis, channel_axis: the image's axes (Keras's defaults are channels first).
        fill_mode: ``"nearest"``, ``"constant"``, ``"reflect"`` or ``"wrap"``.
        cval: the value outside the image for ``fill_mode="constant"``.
        order: 0 (nearest) or 1 (bilinear).

    Returns:
        The transformed image, of the same shape and dtype.
    """
    where = "apply_affine_transform"
    _check_axes(where, row_axis, col_axis, channel_axis)
    x = numpy.asarray(x)
    if x.ndim != 3:
        raise ValueError(
            f"{where}: expected one image with channels (a 3-D array). Received: an array of shape {x.shape}"
        )
    _check_fill_mode(where, fill_mode)
    _check_order(where, order)
    matrix = affine_matrix(theta, tx, ty, shear, zx, zy)
    if numpy.array_equal(matrix, numpy.eye(3)):
        return x
    height, width = x.shape[row_axis], x.shape[col_axis]
    matrix = transform_matrix_offset_center(matrix, height, width)
    if col_axis < row_axis:
        # The matrix speaks of (column, row); with the rows after the columns, its two axes trade places.
        matrix = matrix[[1, 0, 2]][:, [1, 0, 2]]
    image = numpy.transpose(x, (min(row_axis, col_axis), max(row_axis, col_axis), channel_axis))
    warped = affine_transform_batch(image[None], matrix[None], fill_mode=fill_mode, cval=cval, order=order)[0]
    return numpy.transpose(warped, numpy.argsort((min(row_axis, col_axis), max(row_axis, col_axis), channel_axis)))


# ---------------------------------------------------------------- the other single-image transforms
def flip_axis(x, axis):
    """``x`` reversed along ``axis`` (a view)."""
    return numpy.flip(numpy.asarray(x), axis)


def apply_channel_shift(x, intensity, channel_axis=0):
    """Add ``intensity`` to every channel, clipped to the image's own minimum and maximum (Keras's rule).

    Args:
        x: a 3-D image.
        intensity: the shift.
        channel_axis: accepted as in Keras; every channel gets the same shift and the same bounds,
            so the result does not depend on it.
    """
    x = numpy.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"apply_channel_shift: expected a 3-D image. Received: an array of shape {x.shape}")
    return _channel_shift_batch(x[None], numpy.array([intensity]))[0]


def _channel_shift_batch(batch, intensities):
    """Per image: ``clip(x + intensity, min(x), max(x))``, the shift in the images' dtype as NumPy adds a Python float."""
    low = batch.min(axis=(1, 2, 3), keepdims=True)
    high = batch.max(axis=(1, 2, 3), keepdims=True)
    shift = numpy.asarray(intensities, dtype=batch.dtype if batch.dtype.kind == "f" else "float64")
    return numpy.clip(batch + shift[:, None, None, None], low, high)


def random_channel_shift(x, intensity_range, channel_axis=0):
    """:func:`apply_channel_shift` by an intensity drawn uniformly from ``[-intensity_range, intensity_range]``."""
    return apply_channel_shift(x, backend.rng().uniform(-intensity_range, intensity_range), channel_axis)


def apply_brightness_shift(x, brightness, scale=True):
    """Scale an image's brightness by ``brightness`` through Pillow, as Keras does (channels last).

    The image goes to 8 bits (stretched to 0..255 when ``scale`` or when its
    values leave 0..255, else cut toward zero), Pillow multiplies every colour
    by ``brightness`` (clipped to 255, the alpha channel kept), and the result
    comes back as float; when it was stretched but ``scale`` is False, it is
    stretched back to the image's original range.

    Args:
        x: ``(H, W, C)`` image, C in 1, 3, 4.
        brightness: the factor (1 keeps the image, 0 makes it black).
        scale: keep the result in 0..255 (True) or map it back to ``x``'s range.
    """
    from PIL import ImageEnhance

    x = numpy.asarray(x)
    low, high = numpy.min(x), numpy.max(x)
    stretched = bool(low < 0 or high > 255)
    image = array_to_img(x, scale=stretched or scale)
    result = img_to_array(ImageEnhance.Brightness(image).enhance(brightness))
    if stretched and not scale:
        result = result / 255 * (high - low) + low
    return result


def random_brightness(x, brightness_range, scale=True):
    """:func:`apply_brightness_shift` by a factor drawn uniformly from ``brightness_range`` (two numbers)."""
    if not isinstance(brightness_range, (tuple, list)) or len(brightness_range) != 2:
        raise ValueError(
            f"random_brightness: brightness_range must be a (low, high) pair. Received: {brightness_range!r}"
        )
    return apply_brightness_shift(x, backend.rng().uniform(brightness_range[0], brightness_range[1]), scale)


def _random_affine(x, row_axis, col_axis, channel_axis, fill_mode, cval, interpolation_order, **parameters):
    return apply_affine_transform(x, row_axis=row_axis, col_axis=col_axis, channel_axis=channel_axis,
                                  fill_mode=fill_mode, cval=cval, order=interpolation_order, **parameters)


def random_rotation(x, rg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                    interpolation_order=1):
    """Rotate one image by an angle drawn uniformly from ``[-rg, rg]`` degrees (course_lib's seeded generator)."""
    theta = backend.rng().uniform(-rg, rg)
    return _random_affine(x, row_axis, col_axis, channel_axis, fill_mode, cval,
                          interpolation_order, theta=theta)


def random_shift(x, wrg, hrg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                 interpolation_order=1):
    """Shift one image by fractions drawn from ``[-hrg, hrg]`` of its height (tx) and ``[-wrg, wrg]`` of its width (ty)."""
    x = numpy.asarray(x)
    tx = backend.rng().uniform(-hrg, hrg) * x.shape[row_axis]
    ty = backend.rng().uniform(-wrg, wrg) * x.shape[col_axis]
    return _random_affine(x, row_axis, col_axis, channel_axis, fill_mode, cval,
                          interpolation_order, tx=tx, ty=ty)


def random_shear(x, intensity, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                 interpolation_order=1):
    """Shear one image by an angle drawn uniformly from ``[-intensity, intensity]`` degrees."""
    shear = backend.rng().uniform(-intensity, intensity)
    return _random_affine(x, row_axis, col_axis, channel_axis, fill_mode, cval,
                          interpolation_order, shear=shear)


def random_zoom(x, zoom_range, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                interpolation_order=1):
    """Zoom one image by factors ``zx, zy`` drawn uniformly from ``zoom_range = (low, high)``."""
    if not isinstance(zoom_range, (tuple, list)) or len(zoom_range) != 2:
        raise ValueError(f"random_zoom: zoom_range must be a (low, high) pair. Received: zoom_range={zoom_range!r}")
    if zoom_range[0] == 1 and zoom_range[1] == 1:
        zx, zy = 1, 1
    else:
        zx, zy = backend.rng().uniform(zoom_range[0], zoom_range[1], 2)
    return _random_affine(x, row_axis, col_axis, channel_axis, fill_mode, cval,
                          interpolation_order, zx=zx, zy=zy)


def smart_resize(x, size, interpolation="bilinear", data_format="channels_last"):
    """Resize to ``size`` without distorting the aspect ratio: the largest centred crop of that ratio, resized.

    The resize is TensorFlow's ``tf.image.resize`` (course_lib.ops.image.resize).

    Args:
        x: ``(H, W, C)`` or ``(N, H, W, C)`` (channels first with ``data_format="channels_first"``).
        size: ``(height, width)``.
        interpolation: ``"bilinear"`` or ``"nearest"``.

    Returns:
        A NumPy array with the new height and width.
    """
    from course_lib.ops.image import resize

    where = "smart_resize"
    size = image_utils.check_target_size(where, size, name="size")
    data_format = image_utils.standardize_data_format(where, data_format)
    x = numpy.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{where}: expected (height, width, channels) or (batch, height, width, channels). "
            f"Received: an array of shape {x.shape}"
        )
    batch = x if x.ndim == 4 else x[None]
    if data_format == "channels_first":
        batch = batch.transpose(0, 2, 3, 1)
    (top, bottom), (left, right) = _crop_span(batch.shape[1], batch.shape[2], size)
    cropped = batch[:, top:bottom, left:right]
    resized = backend.to_numpy(resize(cropped, size, interpolation=interpolation))
    if data_format == "channels_first":
        resized = resized.transpose(0, 3, 1, 2)
    return resized if x.ndim == 4 else resized[0]


def _crop_span(height, width, size):
    """Keras's smart_resize crop: ``((top, bottom), (left, right))`` of the largest centred box with ``size``'s ratio."""
    target_height, target_width = size
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    top, left = int(float(height - crop_height) / 2), int(float(width - crop_width) / 2)
    return (top, top + crop_height), (left, left + crop_width)


# ---------------------------------------------------------------- ImageDataGenerator
def _shift_range(where, name, value):
    """A shift range as Keras reads it: a float (fraction below 1, else pixels), an int (pixels) or a list of choices."""
    if isinstance(value, (list, tuple, numpy.ndarray)):
        choices = numpy.asarray(value)
        if choices.ndim != 1 or choices.size == 0 or choices.dtype.kind not in "iuf":
            raise ValueError(
                f"{where}: {name} as a list must hold one or more numbers to choose from. Received: {name}={value!r}"
            )
        return choices
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(
            f"{where}: {name} must be a non-negative float (a fraction of the size when below 1, else pixels), "
            f"an int (pixels) or a list of choices. Received: {name}={value!r}"
        )
    return value


def _non_negative(where, name, value):
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: {name} must be a non-negative number. Received: {name}={value!r}")
    return value


def _pair(where, name, value):
    if (not isinstance(value, (tuple, list)) or len(value) != 2 or not all(_is_real(item) for item in value)):
        raise ValueError(f"{where}: {name} must be a (low, high) pair of numbers. Received: {name}={value!r}")
    return [value[0], value[1]]


def _unseeded_stream():
    """A legacy NumPy stream (the kind Keras draws from) seeded by course_lib's generator, so set_random_seed rules it."""
    return numpy.random.RandomState(int(backend.rng().integers(2 ** 32)))


class ImageDataGenerator:
    """Real-time image augmentation and normalisation: Keras's (legacy) ``ImageDataGenerator``.

    ``flow(x, y)`` and ``flow_from_directory(directory)`` return iterators (a
    :class:`~course_lib.utils.PyDataset`, so ``model.fit(iterator, ...)``
    works) whose every batch is freshly transformed. Per image, in Keras's order:

    1. a random affine warp (rotation, shifts, shear, zoom) filled by ``fill_mode``;
    2. a random channel shift, then random horizontal and vertical flips, then a random brightness;
    3. ``standardize``: ``preprocessing_function``, ``rescale``, sample-wise
       centring and scaling, feature-wise centring and scaling (statistics from
       :meth:`fit`), ZCA whitening.

    The parameters are drawn per image exactly as Keras draws them (see
    :meth:`get_random_transform`); the warps of a batch are computed together
    by :func:`affine_transform_batch`.

    Args:
        featurewise_center: subtract the per-channel mean of the data given to ``fit``.
        samplewise_center: subtract each image's own mean.
        featurewise_std_normalization: divide by the per-channel standard deviation from ``fit``.
        samplewise_std_normalization: divide each image by its own standard deviation.
        zca_whitening: apply the ZCA whitening matrix learnt by ``fit``.
        zca_epsilon: added to the singular values before inverting them (1e-6).
        rotation_range: degrees; the angle is drawn from ``[-rotation_range, rotation_range]``.
        width_shift_range, height_shift_range: a float (a fraction of the size when
            below 1, else pixels, drawn uniformly from ``[-r, r]``), an int ``n``
            (whole pixels from ``-(n-1) .. n-1``) or a list of values (one chosen, with a random sign).
            As in Keras, ``height_shift_range`` scaled by the height moves the
            picture along x (horizontally) and ``width_shift_range`` along y:
            see the module's docstring.
        brightness_range: ``(low, high)`` factors, or None.
        shear_range: degrees (Keras's docs say intensity; it is an angle in degrees).
        zoom_range: a float ``z`` (``[1 - z, 1 + z]``) or ``[low, high]``; zx and zy are drawn separately.
        channel_shift_range: the channel shift is drawn from ``[-r, r]``.
        fill_mode: ``"nearest"`` (the default), ``"constant"``, ``"reflect"`` or ``"wrap"``.
        cval: the value outside the image for ``fill_mode="constant"``.
        horizontal_flip, vertical_flip: flip half of the images at random.
        rescale: multiply every image by this factor (after the transforms).
        preprocessing_function: applied to each image (a rank-3 array) first in ``standardize``.
        data_format: ``"channels_last"`` (None) or ``"channels_first"``.
        validation_split: the fraction in ``[0, 1)`` kept for ``subset="validation"``.
        interpolation_order: 0 (nearest) or 1 (bilinear, the default). Keras
            passes 0..5 to SciPy; course_lib implements the two orders augmentation uses.
        dtype: the dtype of the generated batches; ``floatx()`` when None.
    """

    def __init__(self, featurewise_center=False, samplewise_center=False, featurewise_std_normalization=False,
                 samplewise_std_normalization=False, zca_whitening=False, zca_epsilon=1e-6, rotation_range=0,
                 width_shift_range=0.0, height_shift_range=0.0, brightness_range=None, shear_range=0.0,
                 zoom_range=0.0, channel_shift_range=0.0, fill_mode="nearest", cval=0.0, horizontal_flip=False,
                 vertical_flip=False, rescale=None, preprocessing_function=None, data_format=None,
                 validation_split=0.0, interpolation_order=1, dtype=None):
        where = "ImageDataGenerator"
        self.data_format = image_utils.standardize_data_format(where, data_format)
        self.dtype = dtype or backend.floatx()
        self.featurewise_center = featurewise_center
        self.samplewise_center = samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening = zca_whitening
        self.zca_epsilon = _non_negative(where, "zca_epsilon", zca_epsilon)
        self.rotation_range = _non_negative(where, "rotation_range", rotation_range)
        self.width_shift_range = _shift_range(where, "width_shift_range", width_shift_range)
        self.height_shift_range = _shift_range(where, "height_shift_range", height_shift_range)
        self.shear_range = _non_negative(where, "shear_range", shear_range)
        self.channel_shift_range = _non_negative(where, "channel_shift_range", channel_shift_range)
        _check_fill_mode(where, fill_mode)
        self.fill_mode = fill_mode
        if not _is_real(cval):
            raise ValueError(f"{where}: cval must be a number. Received: cval={cval!r}")
        self.cval = cval
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        if rescale is not None and not _is_real(rescale):
            raise ValueError(f"{where}: rescale must be None or a number. Received: rescale={rescale!r}")
        self.rescale = rescale
        if preprocessing_function is not None and not callable(preprocessing_function):
            raise ValueError(
                f"{where}: preprocessing_function must be callable (image -> image). "
                f"Received: {type(preprocessing_function).__name__}"
            )
        self.preprocessing_function = preprocessing_function
        _check_order(where, interpolation_order, "interpolation_order")
        self.interpolation_order = interpolation_order
        if not _is_real(validation_split) or not 0 <= validation_split < 1:
            raise ValueError(
                f"{where}: validation_split must be a number in [0, 1). Received: validation_split={validation_split!r}"
            )
        self._validation_split = validation_split
        # Axes of a batch; an image's are one less.
        self.channel_axis, self.row_axis, self.col_axis = (3, 1, 2) if self.data_format == "channels_last" else (1, 2, 3)
        self.mean = None
        self.std = None
        self.zca_whitening_matrix = None
        if _is_real(zoom_range):
            self.zoom_range = [1 - zoom_range, 1 + zoom_range]
        else:
            try:
                self.zoom_range = _pair(where, "zoom_range", zoom_range)
            except ValueError:
                raise ValueError(
                    f"{where}: zoom_range must be a float or a [low, high] pair of numbers. Received: zoom_range={zoom_range!r}"
                ) from None
        self.brightness_range = None if brightness_range is None else _pair(where, "brightness_range", brightness_range)
        if zca_whitening:
            if not featurewise_center:
                self.featurewise_center = True
                warnings.warn(f"{where}: zca_whitening=True also sets featurewise_center=True.", stacklevel=2)
            if featurewise_std_normalization:
                self.featurewise_std_normalization = False
                warnings.warn(f"{where}: zca_whitening=True turns featurewise_std_normalization off.", stacklevel=2)
        if self.featurewise_std_normalization and not self.featurewise_center:
            self.featurewise_center = True
            warnings.warn(f"{where}: featurewise_std_normalization=True also sets featurewise_center=True.", stacklevel=2)
        if samplewise_std_normalization and not samplewise_center:
            self.samplewise_center = True
            warnings.warn(f"{where}: samplewise_std_normalization=True also sets samplewise_center=True.", stacklevel=2)
        self._random = None

    # ------------------------------------------------------------ iterators
    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None, save_to_dir=None,
             save_prefix="", save_format="png", ignore_class_split=False, subset=None):
        """Batches of augmented images from arrays: a :class:`NumpyArrayIterator`.

        Args:
            x: images ``(N, H, W, C)`` (or ``(N, C, H, W)``), or a tuple
                ``(images, other_input)`` / ``(images, [inputs, ...])`` whose
                other inputs are batched alongside, untransformed.
            y: labels (any array of length N), or None (batches are then the images only).
            batch_size: images per batch. shuffle: reshuffle every epoch.
            sample_weight: per-sample weights, returned as a third element.
            seed: seeds the shuffling and the transforms: the same seed gives Keras's batches.
            save_to_dir, save_prefix, save_format: also write every augmented image there.
            ignore_class_split: allow training and validation subsets with different classes.
            subset: ``"training"`` or ``"validation"`` (with ``validation_split``): the first
                ``int(N * validation_split)`` samples are the validation subset.
        """
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle, sample_weight=sample_weight,
                                  seed=seed, data_format=self.data_format, save_to_dir=save_to_dir,
                                  save_prefix=save_prefix, save_format=save_format,
                                  ignore_class_split=ignore_class_split, subset=subset, dtype=self.dtype)

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb", classes=None,
                            class_mode="categorical", batch_size=32, shuffle=True, seed=None, save_to_dir=None,
                            save_prefix="", save_format="png", follow_links=False, subset=None,
                            interpolation="nearest", keep_aspect_ratio=False):
        """Batches of augmented images read from class sub-folders: a :class:`DirectoryIterator`.

        ``directory`` holds one sub-folder per class (sorted by name, so
        ``class_indices`` is ``{"cats": 0, "dogs": 1}``); their images (png,
        jpg, jpeg, bmp, ppm, tif, tiff, nested folders included) are listed in
        sorted order. Files that are not readable images are skipped with a warning.

        Args:
            directory: the folder of class folders.
            target_size: ``(height, width)`` every image is resized to (Pillow, ``interpolation``).
            color_mode: ``"rgb"``, ``"rgba"`` or ``"grayscale"``.
            classes: the class folders to use, in label order (default: all, sorted).
            class_mode: ``"categorical"`` (one-hot), ``"binary"`` (0/1, two classes),
                ``"sparse"`` (integer labels), ``"input"`` (the images themselves) or None (no labels).
            batch_size, shuffle, seed: as in :meth:`flow`.
            save_to_dir, save_prefix, save_format: also write every augmented image there.
            follow_links: follow symbolic links to folders.
            subset: ``"training"`` or ``"validation"`` (with ``validation_split``): in every
                class the first ``validation_split`` fraction of the files is the validation subset.
            interpolation: Pillow's resize filter (``"nearest"`` by default).
            keep_aspect_ratio: resize a centred crop of the target's aspect ratio.
        """
        return DirectoryIterator(directory, self, target_size=target_size, color_mode=color_mode,
                                 keep_aspect_ratio=keep_aspect_ratio, classes=classes, class_mode=class_mode,
                                 data_format=self.data_format, batch_size=batch_size, shuffle=shuffle, seed=seed,
                                 save_to_dir=save_to_dir, save_prefix=save_prefix, save_format=save_format,
                                 follow_links=follow_links, subset=subset, interpolation=interpolation,
                                 dtype=self.dtype)

    # ------------------------------------------------------------ normalisation
    def standardize(self, x):
        """Apply the normalisation to ``x`` (one image or a batch treated as one), in place where it can.

        In order: ``preprocessing_function``, ``x *= rescale``, ``x -= mean(x)``,
        ``x /= std(x) + 1e-6`` (sample-wise: over all of ``x``), ``x -= self.mean``,
        ``x /= self.std + 1e-6`` (feature-wise, from :meth:`fit`), then ZCA
        whitening of each image flattened. A feature-wise step asked for but not
        fitted is skipped with a warning, as in Keras.

        Returns:
            The normalised array (``x`` itself unless a step made a new one).
        """
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        return self._normalize(x, per_image_axes=None)

    def _normalize(self, x, per_image_axes):
        """Every standardize step after ``preprocessing_function``; sample-wise statistics over ``per_image_axes``."""
        keep = {"axis": per_image_axes, "keepdims": True}
        if self.rescale:
            x *= self.rescale
        if self.samplewise_center:
            x -= numpy.mean(x, **keep)
        if self.samplewise_std_normalization:
            x /= numpy.std(x, **keep) + 1e-6
        for step, value, message in (("featurewise_center", self.mean, "featurewise_center"),
                                     ("featurewise_std_normalization", self.std, "featurewise_std_normalization"),
                                     ("zca_whitening", self.zca_whitening_matrix, "zca_whitening")):
            if not getattr(self, step):
                continue
            if value is None:
                warnings.warn(
                    f"ImageDataGenerator: {message}=True but the generator has not been fitted: call "
                    "`.fit(images)` first; the step is skipped.", stacklevel=3,
                )
            elif step == "featurewise_center":
                x -= value
            elif step == "featurewise_std_normalization":
                x /= value + 1e-6
            else:
                flat = x.reshape(-1, math.prod(x.shape[-3:]))
                x = numpy.reshape(flat @ value, x.shape)
        return x

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Learn the feature-wise statistics from sample images: per-channel mean and std, and the ZCA matrix.

        The images are rescaled first (``rescale``); with ``augment`` the
        statistics come from ``rounds`` randomly transformed copies instead.
        ``mean`` (and ``std``) have shape ``(1, 1, C)`` (``(C, 1, 1)`` channels
        first); the std is computed after centring. The ZCA matrix is
        ``U diag(sqrt(N) / (s + zca_epsilon)) Uᵀ`` from the SVD of the centred,
        flattened images (``D x D`` with ``D = H * W * C``, so keep images small).

        Args:
            x: ``(N, H, W, C)`` images (rank 4).
            augment: fit on augmented copies.
            rounds: how many augmented copies of every image.
            seed: seeds the augmentation (Keras's stream for the same seed).
        """
        where = "ImageDataGenerator.fit"
        x = numpy.array(x, dtype=self.dtype)  # a copy: rescaling and centring work in place
        if x.ndim != 4:
            raise ValueError(f"{where}: expected images of rank 4, (N, H, W, C). Received: an array of shape {x.shape}")
        if x.shape[self.channel_axis] not in (1, 3, 4):
            warnings.warn(
                f"{where}: with data_format={self.data_format!r} the channels are on axis {self.channel_axis}, "
                f"which has {x.shape[self.channel_axis]} entries (expected 1, 3 or 4). Received: shape {x.shape}",
                stacklevel=2,
            )
        if not _is_int(rounds) or rounds < 1:
            raise ValueError(f"{where}: rounds must be a positive int. Received: rounds={rounds!r}")
        if self.rescale:
            x *= self.rescale
        if augment:
            stream = numpy.random.RandomState(seed) if seed is not None else _unseeded_stream()
            parameters = [self._draw_transform(x.shape[1:], stream) for _ in range(rounds) for _ in range(len(x))]
            x = self._transform_batch(numpy.concatenate([x] * rounds), parameters).astype(self.dtype, copy=False)
        axes = (0, self.row_axis, self.col_axis)
        broadcast = [1, 1, 1]
        broadcast[self.channel_axis - 1] = x.shape[self.channel_axis]
        if self.featurewise_center:
            self.mean = numpy.reshape(numpy.mean(x, axis=axes), broadcast)
            x -= self.mean
        if self.featurewise_std_normalization:
            self.std = numpy.reshape(numpy.std(x, axis=axes), broadcast)
            x /= self.std + 1e-6
        if self.zca_whitening:
            flat = numpy.reshape(x, (len(x), -1))
            u, s, _ = numpy.linalg.svd(flat.T, full_matrices=False)
            self.zca_whitening_matrix = (u * (numpy.sqrt(len(x)) / (s + self.zca_epsilon))).dot(u.T)
        return self

    # ------------------------------------------------------------ random transforms
    def get_random_transform(self, img_shape, seed=None):
        """Draw the parameters of one random transform, as Keras draws them.

        Draws, in this order: theta, tx, ty, shear, (zx, zy), the two flips
        (always drawn, used only if enabled), the channel shift, the brightness;
        a seed gives the values Keras gives for the same seed.

        Args:
            img_shape: the shape of one image (rank 3).
            seed: an int to draw from a fresh stream seeded by it; else the generator's own stream.

        Returns:
            A dict with the keys ``theta``, ``tx``, ``ty``, ``shear``, ``zx``,
            ``zy``, ``flip_horizontal``, ``flip_vertical``,
            ``channel_shift_intensity`` (None when off) and ``brightness`` (None when off).
        """
        if seed is not None:
            stream = numpy.random.RandomState(seed)
        else:
            if self._random is None:
                self._random = _unseeded_stream()
            stream = self._random
        return self._draw_transform(img_shape, stream)

    def _draw_transform(self, img_shape, stream):
        img_shape = tuple(img_shape)
        if len(img_shape) != 3:
            raise ValueError(
                f"ImageDataGenerator.get_random_transform: expected the shape of one image (rank 3). "
                f"Received: img_shape={img_shape}"
            )
        theta = stream.uniform(-self.rotation_range, self.rotation_range) if self.rotation_range else 0
        tx = self._draw_shift(stream, self.height_shift_range, img_shape[self.row_axis - 1])
        ty = self._draw_shift(stream, self.width_shift_range, img_shape[self.col_axis - 1])
        shear = stream.uniform(-self.shear_range, self.shear_range) if self.shear_range else 0
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx, zy = 1, 1
        else:
            zx, zy = stream.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        flip_horizontal = (stream.random_sample() < 0.5) * self.horizontal_flip
        flip_vertical = (stream.random_sample() < 0.5) * self.vertical_flip
        channel_shift_intensity = None
        if self.channel_shift_range != 0:
            channel_shift_intensity = stream.uniform(-self.channel_shift_range, self.channel_shift_range)
        brightness = None
        if self.brightness_range is not None:
            brightness = stream.uniform(self.brightness_range[0], self.brightness_range[1])
        return {"theta": theta, "tx": tx, "ty": ty, "shear": shear, "zx": zx, "zy": zy,
                "flip_horizontal": flip_horizontal, "flip_vertical": flip_vertical,
                "channel_shift_intensity": channel_shift_intensity, "brightness": brightness}

    @staticmethod
    def _draw_shift(stream, shift_range, size):
        """Keras's rule: choose from a list (or range(n) for an int n) with a random sign, else uniform; fractions scale."""
        if isinstance(shift_range, numpy.ndarray) or _is_int(shift_range):
            if isinstance(shift_range, numpy.ndarray) or shift_range:
                shift = stream.choice(shift_range) * stream.choice([-1, 1])
            else:
                return 0
        elif shift_range:
            shift = stream.uniform(-shift_range, shift_range)
        else:
            return 0
        return shift * size if numpy.max(shift_range) < 1 else shift

    def apply_transform(self, x, transform_parameters):
        """Transform one image by the parameters of :meth:`get_random_transform` (missing keys: no change).

        Args:
            x: one image (rank 3, in ``data_format``).
            transform_parameters: a dict with any of ``theta``, ``tx``, ``ty``,
                ``shear``, ``zx``, ``zy``, ``flip_horizontal``, ``flip_vertical``,
                ``channel_shift_intensity``, ``brightness``.

        Returns:
            The transformed image (same shape).
        """
        x = numpy.asarray(x)
        if x.ndim != 3:
            raise ValueError(
                f"ImageDataGenerator.apply_transform: expected one image (rank 3). Received: an array of shape {x.shape}"
            )
        return self._transform_batch(x[None], [transform_parameters])[0]

    def random_transform(self, x, seed=None):
        """:meth:`apply_transform` with parameters from :meth:`get_random_transform` ``(x.shape, seed)``."""
        x = numpy.asarray(x)
        return self.apply_transform(x, self.get_random_transform(x.shape, seed))

    def _transform_batch(self, batch, parameters):
        """Apply one parameter dict per image to a batch (in ``data_format``), vectorised over the images."""
        channels_first = self.data_format == "channels_first"
        batch = numpy.asarray(batch)
        if channels_first:
            batch = batch.transpose(0, 2, 3, 1)
        height, width = batch.shape[1:3]
        matrices = numpy.stack([
            affine_matrix(*(p.get(name, default) for name, default in
                            (("theta", 0), ("tx", 0), ("ty", 0), ("shear", 0), ("zx", 1), ("zy", 1))))
            for p in parameters
        ]) if parameters else numpy.zeros((0, 3, 3))
        moving = [n for n, matrix in enumerate(matrices) if not numpy.array_equal(matrix, numpy.eye(3))]
        # The batch itself is never written to: the first step that changes an image works on a copy.
        result = batch.copy() if 0 < len(moving) < len(batch) else batch
        if moving:
            # Keras leaves an image untouched (no interpolation) when every affine parameter is neutral.
            centred = numpy.stack([transform_matrix_offset_center(matrices[n], height, width) for n in moving])
            source = batch if len(moving) == len(batch) else batch[moving]
            warped = affine_transform_batch(source, centred, fill_mode=self.fill_mode, cval=self.cval,
                                            order=self.interpolation_order)
            if len(moving) == len(batch):
                result = warped
            else:
                result[moving] = warped
        shifted = [n for n, p in enumerate(parameters) if p.get("channel_shift_intensity") is not None]
        flips = [[n for n, p in enumerate(parameters) if p.get(key, False)] for key in ("flip_horizontal", "flip_vertical")]
        if result is batch and (shifted or any(flips)):
            result = batch.copy()
        if shifted:
            result[shifted] = _channel_shift_batch(
                result[shifted], [parameters[n]["channel_shift_intensity"] for n in shifted]
            )
        for flipped, axis in zip(flips, (2, 1)):
            if flipped:
                result[flipped] = numpy.flip(result[flipped], axis)
        brightened = [n for n, p in enumerate(parameters) if p.get("brightness") is not None]
        if brightened:
            # Pillow's round trip gives floats, as Keras's img_to_array does.
            result = result.astype(numpy.promote_types(result.dtype, backend.floatx()))
            for n in brightened:
                result[n] = apply_brightness_shift(result[n], parameters[n]["brightness"], False)
        return result.transpose(0, 3, 1, 2) if channels_first else result

    def _augment_and_standardize(self, batch, parameters):
        """An iterator's batch (a fresh array the generator may overwrite): transforms, then per-image standardisation.

        Returned in ``self.dtype``; as in Keras, ``preprocessing_function`` sees
        one transformed image at a time and the later steps work in the dtype it returns.
        """
        batch = self._transform_batch(batch, parameters)
        if self.preprocessing_function:
            batch = numpy.stack([self.preprocessing_function(image) for image in batch])
        return self._normalize(batch, per_image_axes=(1, 2, 3)).astype(self.dtype, copy=False)


# ---------------------------------------------------------------- the iterators
class Iterator(PyDataset):
    """Base of the image iterators: batches by index (a PyDataset) or endlessly with ``next()``.

    ``len(iterator)`` is the number of batches, ``ceil(n / batch_size)``;
    ``iterator[i]`` builds batch ``i`` of the current epoch's order (reshuffled
    by ``on_epoch_end`` when ``shuffle``). ``next(iterator)`` (and
    ``iterator.next()``) walks through the batches endlessly, as Keras's
    iterators do, and ``for batch in iterator`` never ends on its own.

    Random numbers: with a ``seed``, the stream is re-seeded with
    ``seed + total_batches_seen`` before every batch (Keras's rule, so a seed
    gives Keras's batches); without one, it is seeded once from course_lib's
    generator (``course_lib.utils.set_random_seed`` makes runs repeatable).

    Subclasses implement ``_get_batches_of_transformed_samples(index_array)``.
    """

    white_list_formats = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")

    def __init__(self, n, batch_size, shuffle, seed, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        if not _is_int(batch_size) or batch_size < 1:
            raise ValueError(f"{name}: batch_size must be a positive int. Received: batch_size={batch_size!r}")
        if seed is not None and (not _is_int(seed) or seed < 0):
            raise ValueError(f"{name}: seed must be None or a non-negative int. Received: seed={seed!r}")
        self.n = n
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.batch_index = 0
        self.total_batches_seen = 0
        self.lock = threading.Lock()
        self.index_array = None
        self._random = numpy.random.RandomState(seed) if seed is not None else _unseeded_stream()
        self.index_generator = self._flow_index()

    def _set_index_array(self):
        self.index_array = self._random.permutation(self.n) if self.shuffle else numpy.arange(self.n)

    def _reseed(self):
        if self.seed is not None:
            self._random.seed(self.seed + self.total_batches_seen)

    def __len__(self):
        return (self.n + self.batch_size - 1) // self.batch_size

    def __getitem__(self, idx):
        if not _is_int(idx) or not 0 <= idx < len(self):
            raise IndexError(
                f"{type(self).__name__}: batch index must be an int from 0 to {len(self) - 1}. Received: {idx!r}"
            )
        with self.lock:
            self._reseed()
            self.total_batches_seen += 1
            if self.index_array is None:
                self._set_index_array()
            index_array = self.index_array[self.batch_size * idx:self.batch_size * (idx + 1)]
            prepared = self._draw_batch(index_array)
        return self._get_batches_of_transformed_samples(index_array, prepared)

    def on_epoch_end(self):
        """Reshuffle the order of the samples (when ``shuffle``)."""
        self._set_index_array()

    def reset(self):
        """Start ``next()`` again from the first batch of an epoch."""
        self.batch_index = 0

    def _flow_index(self):
        self.reset()
        while True:
            self._reseed()
            if self.batch_index == 0:
                self._set_index_array()
            current = (self.batch_index * self.batch_size) % self.n if self.n else 0
            if self.n > current + self.batch_size:
                self.batch_index += 1
            else:
                self.batch_index = 0
            self.total_batches_seen += 1
            index_array = self.index_array[current:current + self.batch_size]
            yield index_array, self._draw_batch(index_array)

    def __iter__(self):
        return self

    def __next__(self):
        with self.lock:
            index_array, prepared = next(self.index_generator)
        return self._get_batches_of_transformed_samples(index_array, prepared)

    def next(self):
        """The next batch (Keras 2's spelling of ``next(iterator)``)."""
        return self.__next__()

    def _draw_batch(self, index_array):
        """The random parameters of a batch, drawn under the lock (the stream is shared); None if nothing is drawn."""
        return None

    def _save_batch(self, batch_x, index_array, hash_high):
        for image, sample in zip(batch_x, index_array):
            name = f"{self.save_prefix}_{sample}_{self._random.randint(hash_high)}.{self.save_format}"
            array_to_img(image, self.data_format, scale=True).save(os.path.join(self.save_to_dir, name))

    def _get_batches_of_transformed_samples(self, index_array, prepared=None):
        raise TypeError(f"{type(self).__name__} must implement _get_batches_of_transformed_samples(index_array)")


def _check_subset(where, subset, validation_split):
    if subset is None:
        return
    if subset not in ("training", "validation"):
        raise ValueError(f"{where}: subset must be None, 'training' or 'validation'. Received: subset={subset!r}")
    if not validation_split:
        raise ValueError(
            f"{where}: subset={subset!r} needs ImageDataGenerator(validation_split=...) above 0. "
            f"Received: validation_split={validation_split!r}"
        )


class NumpyArrayIterator(Iterator):
    """Augmented batches from arrays (what :meth:`ImageDataGenerator.flow` returns).

    Each batch is ``images``, ``(images, y)`` or ``(images, y, sample_weight)``;
    with extra inputs (``x=(images, other)``) the first element is the list
    ``[images, other, ...]``. Attributes: ``x``, ``y``, ``n``, ``batch_size``, ``index_array``.
    """

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False, sample_weight=None, seed=None,
                 data_format=None, save_to_dir=None, save_prefix="", save_format="png", subset=None,
                 ignore_class_split=False, dtype=None):
        where = "NumpyArrayIterator"
        self.data_format = image_utils.standardize_data_format(where, data_format)
        self.dtype = dtype or backend.floatx()
        if isinstance(x, (tuple, list)):
            if len(x) != 2:
                raise ValueError(
                    f"{where}: x as a tuple must be (images, other_input) or (images, [inputs, ...]). "
                    f"Received: a {type(x).__name__} of length {len(x)}"
                )
            x_misc = [numpy.asarray(item) for item in (x[1] if isinstance(x[1], list) else [x[1]])]
            x = x[0]
            for item in x_misc:
                if len(item) != len(x):
                    raise ValueError(
                        f"{where}: every array in x must have the same length. Received: {len(x)} images "
                        f"and another input of length {len(item)}"
                    )
        else:
            x_misc = []
        x = numpy.asarray(x)
        if y is not None and len(x) != len(y):
            raise ValueError(f"{where}: x (images) and y (labels) must have the same length. Received: {len(x)} and {len(y)}")
        if sample_weight is not None and len(x) != len(sample_weight):
            raise ValueError(
                f"{where}: x (images) and sample_weight must have the same length. Received: {len(x)} and {len(sample_weight)}"
            )
        validation_split = image_data_generator._validation_split
        _check_subset(where, subset, validation_split)
        if subset is not None:
            split = int(len(x) * validation_split)
            if (y is not None and not ignore_class_split
                    and not numpy.array_equal(numpy.unique(y[:split]), numpy.unique(y[split:]))):
                raise ValueError(
                    f"{where}: the training and validation subsets have different classes after the split "
                    f"(validation is the first {split} samples). If your arrays are sorted by label, shuffle "
                    "them first, or pass ignore_class_split=True."
                )
            part = slice(None, split) if subset == "validation" else slice(split, None)
            x, x_misc = x[part], [item[part] for item in x_misc]
            y = None if y is None else y[part]
            sample_weight = None if sample_weight is None else sample_weight[part]
        self.x = numpy.asarray(x, dtype=self.dtype)
        self.x_misc = x_misc
        if self.x.ndim != 4:
            raise ValueError(
                f"{where}: expected images of rank 4, (N, H, W, C) or (N, C, H, W). Received: an array of shape {self.x.shape}"
            )
        channels_axis = 3 if self.data_format == "channels_last" else 1
        if self.x.shape[channels_axis] not in (1, 3, 4):
            warnings.warn(
                f"{where}: with data_format={self.data_format!r} the channels are on axis {channels_axis}, which has "
                f"{self.x.shape[channels_axis]} entries (expected 1, 3 or 4). Received: shape {self.x.shape}",
                stacklevel=3,
            )
        self.y = None if y is None else numpy.asarray(y)
        self.sample_weight = None if sample_weight is None else numpy.asarray(sample_weight)
        self.image_data_generator = image_data_generator
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        super().__init__(len(self.x), batch_size, shuffle, seed)

    def _draw_batch(self, index_array):
        shape = self.x.shape[1:]
        return [self.image_data_generator._draw_transform(shape, self._random) for _ in index_array]

    def _get_batches_of_transformed_samples(self, index_array, prepared=None):
        if prepared is None:
            prepared = self._draw_batch(index_array)
        batch_x = self.image_data_generator._augment_and_standardize(self.x[index_array], prepared)
        if self.save_to_dir:
            self._save_batch(batch_x, index_array, 10 ** 4)
        inputs = [batch_x] + [item[index_array] for item in self.x_misc] if self.x_misc else batch_x
        if self.y is None:
            return inputs
        output = (inputs, self.y[index_array])
        if self.sample_weight is not None:
            output += (self.sample_weight[index_array],)
        return output


def _list_class_files(where, class_directory, white_list_formats, follow_links):
    """A class folder's image files: the walk sorted by folder, each folder's files sorted, Keras's extensions."""
    found = []
    for root, _, files in sorted(os.walk(class_directory, followlinks=follow_links), key=lambda entry: entry[0]):
        for name in sorted(files):
            lower = name.lower()
            if lower.endswith(".tiff"):
                warnings.warn(f"{where}: {name}: a .tiff file with several bands may be distorted.", stacklevel=4)
            if lower.endswith(white_list_formats):
                found.append(os.path.join(root, name))
    return found


class DirectoryIterator(Iterator):
    """Augmented batches of images read from class folders (what :meth:`ImageDataGenerator.flow_from_directory` returns).

    Attributes (Keras's): ``directory``, ``classes`` (the label of every
    file, int32), ``class_indices`` (``{folder: label}``), ``num_classes``,
    ``filenames`` (relative to ``directory``, e.g. ``"cats/cat001.png"``),
    ``filepaths`` (full paths), ``samples`` (= ``n``), ``image_shape``,
    ``labels`` (= ``classes``). A file that Pillow cannot read is left out with
    a warning naming it, at listing time; one that still fails to decode later
    gives a black image and a warning.
    """

    allowed_class_modes = ("categorical", "binary", "sparse", "input", None)

    def __init__(self, directory, image_data_generator, target_size=(256, 256), color_mode="rgb", classes=None,
                 class_mode="categorical", batch_size=32, shuffle=True, seed=None, data_format=None, save_to_dir=None,
                 save_prefix="", save_format="png", follow_links=False, subset=None, interpolation="nearest",
                 keep_aspect_ratio=False, dtype=None):
        where = "DirectoryIterator"
        self.data_format = image_utils.standardize_data_format(where, data_format)
        self.dtype = dtype or backend.floatx()
        self.target_size = image_utils.check_target_size(where, target_size)
        if color_mode not in image_utils.COLOR_MODES:
            raise ValueError(f"{where}: color_mode must be one of {image_utils.COLOR_MODES}. Received: color_mode={color_mode!r}")
        if class_mode not in self.allowed_class_modes:
            raise ValueError(
                f"{where}: class_mode must be one of {self.allowed_class_modes}. Received: class_mode={class_mode!r}"
            )
        if interpolation not in image_utils.INTERPOLATIONS:
            raise ValueError(
                f"{where}: interpolation must be one of {image_utils.INTERPOLATIONS}. Received: interpolation={interpolation!r}"
            )
        if not isinstance(directory, (str, os.PathLike)) or not os.path.isdir(directory):
            raise ValueError(f"{where}: directory must be an existing folder of class folders. Received: {directory!r}")
        validation_split = image_data_generator._validation_split if image_data_generator is not None else 0.0
        _check_subset(where, subset, validation_split)
        self.image_data_generator = image_data_generator
        self.color_mode, self.class_mode = color_mode, class_mode
        self.interpolation, self.keep_aspect_ratio = interpolation, keep_aspect_ratio
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        self.subset = subset
        self.split = None if subset is None else ((0, validation_split) if subset == "validation" else (validation_split, 1))
        channels = {"rgb": 3, "rgba": 4, "grayscale": 1}[color_mode]
        self.image_shape = (self.target_size + (channels,) if self.data_format == "channels_last"
                            else (channels,) + self.target_size)
        self.directory = directory
        if not classes:
            classes = [name for name in sorted(os.listdir(directory)) if os.path.isdir(os.path.join(directory, name))]
        else:
            missing = [name for name in classes if not os.path.isdir(os.path.join(directory, name))]
            if missing:
                raise ValueError(f"{where}: no folder for the classes {missing} in {directory!r}")
        if class_mode == "binary" and len(classes) != 2:
            raise ValueError(
                f"{where}: class_mode='binary' needs exactly 2 classes. Received: {len(classes)} classes {list(classes)}"
            )
        self.num_classes = len(classes)
        self.class_indices = dict(zip(classes, range(len(classes))))
        self.filenames, labels = [], []
        for name in classes:
            class_directory = os.path.join(directory, name)
            paths = [path for path in _list_class_files(where, class_directory, self.white_list_formats, follow_links)
                     if image_utils.readable_image(where, path)]
            if self.split:
                paths = paths[int(self.split[0] * len(paths)):int(self.split[1] * len(paths))]
            for path in paths:
                self.filenames.append(os.path.join(os.path.basename(class_directory),
                                                   os.path.relpath(path, class_directory)))
                labels.append(self.class_indices[name])
        self.samples = len(self.filenames)
        self.classes = numpy.array(labels, dtype="int32")
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        if not self.samples:
            part = "" if subset is None else f" for subset={subset!r}"
            raise ValueError(
                f"{where}: found no images{part} in {directory!r} (expected one folder per class holding "
                f"files ending in {self.white_list_formats})"
            )
        self._filepaths = [os.path.join(directory, name) for name in self.filenames]
        super().__init__(self.samples, batch_size, shuffle, seed)

    @property
    def filepaths(self):
        """The full path of every file, in label order."""
        return self._filepaths

    @property
    def labels(self):
        return self.classes

    @property
    def sample_weight(self):
        return None

    def _draw_batch(self, index_array):
        if not self.image_data_generator:
            return None
        return [self.image_data_generator._draw_transform(self.image_shape, self._random) for _ in index_array]

    def _load(self, path):
        try:
            image = load_img(path, color_mode=self.color_mode, target_size=self.target_size,
                             interpolation=self.interpolation, keep_aspect_ratio=self.keep_aspect_ratio)
        except Exception as error:  # decoding errors come in many types; one bad file must not end training
            warnings.warn(f"DirectoryIterator: could not decode {path} ({type(error).__name__}: {error}); "
                          "its image in this batch is black.", stacklevel=4)
            return numpy.zeros(self.image_shape, dtype=backend.floatx())
        return img_to_array(image, data_format=self.data_format)

    def _get_batches_of_transformed_samples(self, index_array, prepared=None):
        batch_x = numpy.stack([self._load(self._filepaths[j]) for j in index_array])
        if self.image_data_generator:
            if prepared is None:
                prepared = self._draw_batch(index_array)
            batch_x = self.image_data_generator._augment_and_standardize(batch_x, prepared)
        batch_x = batch_x.astype(self.dtype, copy=False)
        if self.save_to_dir:
            self._save_batch(batch_x, index_array, 10 ** 7)
        if self.class_mode == "input":
            return batch_x, batch_x.copy()
        if self.class_mode in ("binary", "sparse"):
            return batch_x, self.classes[index_array].astype(self.dtype)
        if self.class_mode == "categorical":
            one_hot = numpy.zeros((len(batch_x), self.num_classes), dtype=self.dtype)
            one_hot[numpy.arange(len(batch_x)), self.classes[index_array]] = 1
            return batch_x, one_hot
        return batch_x
