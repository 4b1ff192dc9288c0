"""Reshaping layers (形状变换层): zero padding, cropping and upsampling in 1-3 D, RepeatVector and Permute.

None of them has weights; each backward pass is the adjoint of its forward:
padding's gradient is the central crop, cropping's is zero padding, nearest
upsampling's sums each block of repeated entries, bilinear upsampling's
applies the transposed interpolation matrices, RepeatVector's sums the copies
and Permute's applies the inverse permutation.

The arguments follow Keras 3 exactly (the same standardisation, the same
configs). Deliberate differences: negative padding (an int) and unknown or
unsupported ``interpolation`` names are refused in ``__init__`` (Keras fails
only when the layer is called); ``UpSampling1D.compute_output_shape`` returns
a tuple (Keras returns a list, which course_lib reserves for several outputs).
"""
from __future__ import annotations

import numbers

from course_lib import backend
from course_lib.layers.base import InputSpec, Layer
from course_lib.ops.arguments import check_data_format as _data_format
from course_lib.ops.arguments import from_channels_last, to_channels_last
from course_lib.ops.arguments import positive_ints as _positive_ints

_ORDINALS = ("1st", "2nd", "3rd")


def _nonnegative_pair(where, argument, value):
    """Keras's ``standardize_tuple(value, 2, allow_zero=True)``: an int or a pair of ints >= 0."""
    return _positive_ints(where, argument, value, 2, minimum=0)


def _pairs(where, argument, value, rank):
    """One (before, after) pair per spatial axis, as Keras's ZeroPadding/Cropping 2D/3D read them."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        pair = _nonnegative_pair(where, argument, value)
        return (pair,) * rank
    if not hasattr(value, "__len__") or isinstance(value, str) or len(value) != rank:
        raise ValueError(
            f"{where}: {argument} must be an int, a tuple of {rank} ints (symmetric per axis) or a tuple "
            f"of {rank} tuples of 2 ints ((before, after) per axis). Received: {argument}={value!r}"
        )
    return tuple(
        _nonnegative_pair(where, f"the {_ORDINALS[i]} entry of {argument}", item) for i, item in enumerate(value)
    )


class _SpatialLayer(Layer):
    """Shared code: ``_rank`` spatial axes after the batch axis (channels_last) or after channels."""

    _rank = None
    keeps_integers = True  # they move numbers around: integer inputs stay integers

    def _first_axis(self):
        return 2 if getattr(self, "data_format", "channels_last") == "channels_first" else 1

    def _check_rank(self, input_shape):
        input_shape = tuple(input_shape)
        self.input_spec.check(self.name, input_shape)
        return input_shape


# -------------------------------------------------------------- zero padding
class _ZeroPadding(_SpatialLayer):
    def _init(self, padding, data_format):
        self.data_format = data_format
        self.padding = padding
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def _widths(self):
        pairs = (self.padding,) if self._rank == 1 else self.padding
        first = self._first_axis()
        widths = [(0, 0)] * (self._rank + 2)
        for axis, pair in enumerate(pairs):
            widths[first + axis] = pair
        return widths

    def compute_output_shape(self, input_shape):
        shape = list(self._check_rank(input_shape))
        for axis, (before, after) in enumerate(self._widths()):
            if shape[axis] is not None and (before or after):
                shape[axis] += before + after
        return tuple(shape)

    def forward(self, inputs, training=False):
        widths = self._widths()
        return backend.xp.pad(inputs, widths), widths

    def backward(self, output_grads, widths):
        index = tuple(slice(before, size - after) for (before, after), size in zip(widths, output_grads.shape))
        return output_grads[index], {}

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class ZeroPadding1D(_ZeroPadding):
    """Adds zeros at the start and end of the steps axis (一维零填充).

    Args:
        padding: int (the same at both ends) or a pair ``(before, after)`` of ints >= 0.
        data_format: ``"channels_last"`` (``(batch, steps, channels)``, the default) or
            ``"channels_first"``.

    Input shape: 3-D. Output shape: the steps axis grown by ``before + after``.
    """

    _rank = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        data_format = _data_format("ZeroPadding1D", data_format)
        padding = _nonnegative_pair("ZeroPadding1D", "padding", padding)
        super().__init__(**kwargs)
        self._init(padding, data_format)


class ZeroPadding2D(_ZeroPadding):
    """Adds rows and columns of zeros around images (二维零填充).

    Args:
        padding: int (the same everywhere); a tuple of 2 ints (symmetric height, width
            padding); or ``((top, bottom), (left, right))``, ints >= 0.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape: 4-D. Output shape: height and width grown by their paddings.
    """

    _rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        data_format = _data_format("ZeroPadding2D", data_format)
        padding = _pairs("ZeroPadding2D", "padding", padding, 2)
        super().__init__(**kwargs)
        self._init(padding, data_format)


class ZeroPadding3D(_ZeroPadding):
    """Adds zeros around volumes, on three spatial axes (三维零填充).

    Args:
        padding: int; a tuple of 3 ints (symmetric per axis); or three ``(before, after)``
            pairs, ints >= 0.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape: 5-D. Output shape: each spatial axis grown by its padding.
    """

    _rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        data_format = _data_format("ZeroPadding3D", data_format)
        padding = _pairs("ZeroPadding3D", "padding", padding, 3)
        super().__init__(**kwargs)
        self._init(padding, data_format)


# ------------------------------------------------------------------ cropping
class _Cropping(_SpatialLayer):
    def _init(self, cropping, data_format):
        if data_format is not None:
            self.data_format = data_format
        self.cropping = cropping
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def _pairs(self):
        return (self.cropping,) if self._rank == 1 else self.cropping

    def compute_output_shape(self, input_shape):
        shape = list(self._check_rank(input_shape))
        first = self._first_axis()
        for axis, (before, after) in enumerate(self._pairs()):
            size = shape[first + axis]
            if size is None:
                continue
            if before + after >= size:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': cropping must leave at least one entry on "
                    f"every cropped axis: it is {self.cropping} for an input of shape {tuple(input_shape)} "
                    f"(axis {first + axis} has {size} entries)."
                )
            shape[first + axis] = size - before - after
        return tuple(shape)

    def _index(self, shape):
        first = self._first_axis()
        index = [slice(None)] * len(shape)
        for axis, (before, after) in enumerate(self._pairs()):
            index[first + axis] = slice(before, shape[first + axis] - after)
        return tuple(index)

    def forward(self, inputs, training=False):
        self.compute_output_shape(inputs.shape)
        return inputs[self._index(inputs.shape)], (tuple(inputs.shape), inputs.dtype)

    def backward(self, output_grads, cache):
        shape, dtype = cache
        xp = backend.xp
        dx = xp.zeros(shape, dtype=xp.result_type(output_grads.dtype, dtype))
        dx[self._index(shape)] = output_grads
        return dx, {}

    def get_config(self):
        config = {**super().get_config(), "cropping": self.cropping}
        if self._rank > 1:
            config["data_format"] = self.data_format
        return config


class Cropping1D(_Cropping):
    """Removes entries at the start and end of the steps axis (一维裁剪).

    Args:
        cropping: int (the same at both ends) or ``(before, after)``, ints >= 0.

    Input shape: 3-D ``(batch, steps, channels)`` (Keras's Cropping1D has no data_format).
    Output shape: ``(batch, steps - before - after, channels)``; a crop that leaves
    nothing raises a ValueError, as in Keras.
    """

    _rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        cropping = _nonnegative_pair("Cropping1D", "cropping", cropping)
        super().__init__(**kwargs)
        self._init(cropping, None)


class Cropping2D(_Cropping):
    """Removes rows and columns at the borders of images (二维裁剪).

    Args:
        cropping: int; a tuple of 2 ints (symmetric height, width crops); or
            ``((top, bottom), (left, right))``, ints >= 0.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape: 4-D. Output shape: height and width reduced; a crop that leaves
    nothing raises a ValueError, as in Keras.
    """

    _rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        data_format = _data_format("Cropping2D", data_format)
        cropping = _pairs("Cropping2D", "cropping", cropping, 2)
        super().__init__(**kwargs)
        self._init(cropping, data_format)


class Cropping3D(_Cropping):
    """Removes entries at the borders of volumes, on three spatial axes (三维裁剪).

    Args:
        cropping: int; a tuple of 3 ints; or three ``(before, after)`` pairs, ints >= 0.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape: 5-D. Output shape: each spatial axis reduced; a crop that leaves
    nothing raises a ValueError, as in Keras.
    """

    _rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        data_format = _data_format("Cropping3D", data_format)
        cropping = _pairs("Cropping3D", "cropping", cropping, 3)
        super().__init__(**kwargs)
        self._init(cropping, data_format)


# ---------------------------------------------------------------- upsampling
def _repeat(x, sizes, first):
    """Nearest upsampling: each entry of the spatial axes ``first, first+1, ...`` repeated ``sizes`` times.

    One copy: a broadcast view with a size-``f`` axis after each spatial axis, then a reshape.
    """
    shape = list(x.shape)
    lead, spatial, rest = shape[:first], shape[first:first + len(sizes)], shape[first + len(sizes):]
    expanded = x.reshape(lead + [v for n in spatial for v in (n, 1)] + rest)
    blocks = tuple(lead + [v for n, f in zip(spatial, sizes) for v in (n, f)] + rest)
    broadcast = backend.xp.broadcast_to(expanded, blocks)
    return broadcast.reshape(lead + [n * f for n, f in zip(spatial, sizes)] + rest)


def _repeat_backward(dy, sizes, first):
    """Adjoint of :func:`_repeat`: the sum over each block of repeated entries."""
    shape = list(dy.shape)
    split = list(shape[:first])
    for axis, factor in enumerate(sizes):
        split += [shape[first + axis] // factor, factor]
    rest = shape[first + len(sizes):]
    summed_axes = tuple(first + 2 * axis + 1 for axis in range(len(sizes)))
    return dy.reshape(split + rest).sum(axis=summed_axes)


class UpSampling1D(_SpatialLayer):
    """Repeats each step ``size`` times (一维上采样): ``(batch, steps, ch) -> (batch, steps*size, ch)``.

    Args:
        size: positive int, the upsampling factor (a TypeError for a non-int, as in Keras).
    """

    _rank = 1

    def __init__(self, size=2, **kwargs):
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise TypeError(f"UpSampling1D: size must be a positive int. Received: size={size!r}")
        if size <= 0:
            raise ValueError(f"UpSampling1D: size must be a positive int. Received: size={size!r}")
        super().__init__(**kwargs)
        self.size = int(size)
        self.input_spec = InputSpec(ndim=3)

    def compute_output_shape(self, input_shape):
        shape = self._check_rank(input_shape)
        return (shape[0], None if shape[1] is None else shape[1] * self.size, shape[2])

    def forward(self, inputs, training=False):
        return _repeat(inputs, (self.size,), 1), None

    def backward(self, output_grads, cache):
        return _repeat_backward(backend.xp.asarray(output_grads), (self.size,), 1), {}

    def get_config(self):
        return {**super().get_config(), "size": self.size}


# Keras 3 accepts these names (tf.image.resize's methods); course_lib computes two of them.
_KERAS_INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic", "area")
_SUPPORTED_INTERPOLATIONS = ("nearest", "bilinear")


def _bilinear_weights(size, factor, dtype):
    """TF's half-pixel bilinear resize along one axis, from ``size`` entries to ``size * factor``.

    Output entry ``o`` samples the input at ``(o + 0.5) * (size / out) - 0.5``
    (computed in ``dtype``, as TF computes it in float32), between entries
    ``lower = max(floor, 0)`` and ``upper = min(ceil, size - 1)`` with the
    fractional part ``lerp`` as weight: tensorflow/core/kernels/image/
    resize_bilinear_op.cc with ``half_pixel_centers=True``, what
    ``tf.image.resize`` (and so Keras) runs.

    Returns:
        ``(lower, upper, lerp, matrix)``: index arrays, the weights, and the
        ``(size * factor, size)`` interpolation matrix the backward pass transposes.
    """
    xp = backend.xp
    out = size * factor
    scale = xp.asarray(size, dtype=dtype) / xp.asarray(out, dtype=dtype)
    source = (xp.arange(out, dtype=dtype) + xp.asarray(0.5, dtype=dtype)) * scale - xp.asarray(0.5, dtype=dtype)
    floor = xp.floor(source)
    lerp = source - floor
    lower = xp.maximum(floor, 0).astype("int64")
    upper = xp.minimum(xp.ceil(source), size - 1).astype("int64")
    columns = xp.arange(size)[None, :]
    matrix = (columns == lower[:, None]) * (1 - lerp)[:, None] + (columns == upper[:, None]) * lerp[:, None]
    return lower, upper, lerp, matrix.astype(dtype)


def _lerp(x, lower, upper, lerp, axis):
    """``a + (b - a) * lerp`` along ``axis``, in TF's order of operations (bit-exact with its forward)."""
    xp = backend.xp
    a, b = xp.take(x, lower, axis=axis), xp.take(x, upper, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = lerp.shape[0]
    return a + (b - a) * lerp.reshape(shape)


class _UpSampling(_SpatialLayer):
    def compute_output_shape(self, input_shape):
        shape = list(self._check_rank(input_shape))
        first = self._first_axis()
        for axis, factor in enumerate(self.size):
            if shape[first + axis] is not None:
                shape[first + axis] *= factor
        return tuple(shape)


class UpSampling2D(_UpSampling):
    """Enlarges images by integer factors (二维上采样).

    Args:
        size: int or ``(rows, cols)`` positive ints: the factors.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        interpolation: ``"nearest"`` (each pixel repeated, the default) or
            ``"bilinear"`` (tf.image.resize's half-pixel bilinear, as Keras
            computes it; the backward pass applies the transposed
            interpolation matrices). Keras's other methods ("bicubic",
            "area", "lanczos3", "lanczos5") are refused with a ValueError.

    Input shape: 4-D. Output shape: height and width multiplied by ``size``.
    """

    _rank = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        data_format = _data_format("UpSampling2D", data_format)
        size = _positive_ints("UpSampling2D", "size", size, 2)
        method = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if method not in _KERAS_INTERPOLATIONS:
            raise ValueError(
                f"UpSampling2D: interpolation must be one of {_KERAS_INTERPOLATIONS}. "
                f"Received: interpolation={interpolation!r}"
            )
        if method not in _SUPPORTED_INTERPOLATIONS:
            raise ValueError(
                f"UpSampling2D: interpolation={interpolation!r} is not supported by course_lib: "
                f"only {_SUPPORTED_INTERPOLATIONS} are computed (and proved equal to Keras)."
            )
        super().__init__(**kwargs)
        self.size = size
        self.data_format = data_format
        self.interpolation = method
        self.input_spec = InputSpec(ndim=4)

    def forward(self, inputs, training=False):
        if self.interpolation == "nearest":
            return _repeat(inputs, self.size, self._first_axis()), None
        x = to_channels_last(inputs, self.data_format)
        *row_weights, rows = _bilinear_weights(x.shape[1], self.size[0], x.dtype)
        *col_weights, cols = _bilinear_weights(x.shape[2], self.size[1], x.dtype)
        # TF's order: every row interpolated along the width first, then between the rows above and below.
        out = _lerp(_lerp(x, *col_weights, axis=2), *row_weights, axis=1)
        return from_channels_last(out, self.data_format), (rows, cols)

    def backward(self, output_grads, cache):
        xp = backend.xp
        dy = xp.asarray(output_grads)
        if self.interpolation == "nearest":
            return _repeat_backward(dy, self.size, self._first_axis()), {}
        rows, cols = cache
        dy = to_channels_last(dy, self.data_format)
        dx = xp.einsum("oh,nowc->nhwc", rows, xp.einsum("pw,nopc->nowc", cols, dy))
        return from_channels_last(dx, self.data_format), {}

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}


class UpSampling3D(_UpSampling):
    """Enlarges volumes by integer factors on three axes, repeating each entry (三维上采样).

    Args:
        size: int or a tuple of 3 positive ints: the factors.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape: 5-D. Output shape: each spatial axis multiplied by its factor.
    """

    _rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        data_format = _data_format("UpSampling3D", data_format)
        size = _positive_ints("UpSampling3D", "size", size, 3)
        super().__init__(**kwargs)
        self.size = size
        self.data_format = data_format
        self.input_spec = InputSpec(ndim=5)

    def forward(self, inputs, training=False):
        return _repeat(inputs, self.size, self._first_axis()), None

    def backward(self, output_grads, cache):
        return _repeat_backward(backend.xp.asarray(output_grads), self.size, self._first_axis()), {}

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format}


__all__ = [
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "RepeatVector", "Permute",
]


# ------------------------------------------------------- repeat and permute
class RepeatVector(Layer):
    """Repeats each sample's vector ``n`` times (重复向量): ``(batch, features) -> (batch, n, features)``.

    Args:
        n: positive int, the number of repetitions (a TypeError for a non-int, a
            ValueError for ``n <= 0``, as in Keras).

    Input shape: 2-D ``(batch, features)``. Output shape: 3-D ``(batch, n, features)``.
    No mask is passed on (Keras's RepeatVector does not support masking).
    The backward pass sums the ``n`` copies' gradients.
    """

    keeps_integers = True

    def __init__(self, n, **kwargs):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(f"RepeatVector: n must be a positive int. Received: n={n!r} of type {type(n).__name__}")
        if n <= 0:
            raise ValueError(f"RepeatVector: n must be a positive int. Received: n={n!r}")
        super().__init__(**kwargs)
        self.n = int(n)
        self.input_spec = InputSpec(ndim=2)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        self.input_spec.check(self.name, input_shape)
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, inputs, training=False):
        return backend.xp.repeat(inputs[:, None, :], self.n, axis=1), None

    def backward(self, output_grads, cache):
        return backend.xp.asarray(output_grads).sum(axis=1), {}

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    """Reorders the axes of each sample (维度置换), e.g. ``Permute((2, 1))``: ``(batch, a, b) -> (batch, b, a)``.

    Args:
        dims: a tuple of ints, a permutation of ``1 .. rank - 1`` (the batch axis is
            axis 0 and never moves; indexing starts at 1, as in Keras). Anything else is
            Keras's ValueError.

    Input shape: ``len(dims) + 1`` axes. Output shape: the input's sizes in the order
    ``(batch,) + dims``. No mask is passed on (Keras's Permute does not support masking).
    The backward pass applies the inverse permutation.
    """

    keeps_integers = True

    def __init__(self, dims, **kwargs):
        try:
            items = tuple(dims)
        except TypeError:
            raise TypeError(f"Permute: dims must be a tuple of ints. Received: dims={dims!r}") from None
        if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in items) or (
            sorted(items) != list(range(1, len(items) + 1))
        ):
            raise ValueError(
                "Permute: dims must be a permutation of 1, 2, ..., len(dims): consecutive ints starting "
                f"from 1 (the batch axis 0 is not included). Received: dims={dims!r}"
            )
        super().__init__(**kwargs)
        self.dims = tuple(int(v) for v in items)
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        self.input_spec.check(self.name, input_shape)
        return (input_shape[0],) + tuple(input_shape[dim] for dim in self.dims)

    def forward(self, inputs, training=False):
        return backend.xp.transpose(inputs, (0,) + self.dims), None

    def backward(self, output_grads, cache):
        order = (0,) + self.dims
        inverse = tuple(order.index(axis) for axis in range(len(order)))
        return backend.xp.transpose(backend.xp.asarray(output_grads), inverse), {}

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}
