"""Pooling layers (池化层): windowed max/average pooling in 1-3 D, and global pooling.

Each windowed layer is a thin wrapper around :func:`course_lib.ops.pooling.pool_forward`
/ :func:`~course_lib.ops.pooling.pool_backward` (channels_last kernels; a
``channels_first`` input is transposed to channels_last and back). The
semantics are TensorFlow's, which Keras 3 runs on:

- ``strides`` default to ``pool_size`` (non-overlapping windows);
- ``padding="valid"`` drops the windows that do not fit; ``"same"`` gives
  ``ceil(size / stride)`` outputs, padding with the smaller half before and
  the extra entry after; max pooling pads with ``-inf``, average pooling
  divides each window by its number of REAL entries;
- max pooling's gradient goes to one maximum per window, the first in
  row-major order on ties (as TensorFlow's CPU kernel does), whereas the global
  max layers split it equally among tied maxima (TensorFlow's ``reduce_max``
  gradient, which Keras's global max pooling uses).

Deliberate differences from Keras, each pinned by a test:

- a window larger than the input with ``padding="valid"`` raises a ValueError
  naming the layer, in eager calls too (Keras raises it only for symbolic
  inputs; eagerly its average pooling returns an empty tensor and its max
  pooling fails inside oneDNN);
- ``strides=0``, an unknown ``padding`` and boolean or float sizes are
  refused in ``__init__`` (Keras accepts them there and fails at call time,
  or silently stores ``True``);
- ``keepdims`` must be a bool.

As in Keras, ``padding`` is case-insensitive and stored as given (``"SAME"``
stays ``"SAME"`` in the config), and ``data_format`` is lowercased. (Keras's
own ``compute_output_shape`` refuses ``"SAME"``, so its symbolic calls fail
where its eager calls work; course_lib accepts it in both.)
"""
from __future__ import annotations

import math

from course_lib import backend
from course_lib.layers.base import InputSpec, Layer
from course_lib.ops.arguments import check_data_format as _data_format
from course_lib.ops.arguments import from_channels_last as _from_channels_last
from course_lib.ops.arguments import positive_ints as _positive_ints
from course_lib.ops.arguments import to_channels_last as _to_channels_last
from course_lib.ops.pooling import _check_padding, _output_length, pool_backward, pool_forward

class _Pooling(Layer):
    """Shared code of the windowed pooling layers; subclasses set ``_rank`` and ``_mode``."""

    _rank = None
    _mode = None

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        where = type(self).__name__
        pool_size = _positive_ints(where, "pool_size", pool_size, self._rank)
        strides = pool_size if strides is None else _positive_ints(where, "strides", strides, self._rank)
        self._padding = _check_padding(where, padding)
        data_format = _data_format(where, data_format)
        super().__init__(name=name, **kwargs)
        self.pool_size = pool_size
        self.strides = strides
        self.padding = padding  # as given, like Keras's config; the kernels use the lowercase _padding
        self.data_format = data_format
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def _spatial(self, shape):
        return tuple(shape[1:-1]) if self.data_format == "channels_last" else tuple(shape[2:])

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        self.input_spec.check(self.name, input_shape)
        where = f"{type(self).__name__} '{self.name}'"
        out = tuple(
            _output_length(where, n, k, s, self._padding)
            for n, k, s in zip(self._spatial(input_shape), self.pool_size, self.strides)
        )
        if self.data_format == "channels_last":
            return (input_shape[0],) + out + (input_shape[-1],)
        return (input_shape[0], input_shape[1]) + out

    def forward(self, inputs, training=False):
        self.compute_output_shape(inputs.shape)  # a clear error naming the layer if a window does not fit
        x = _to_channels_last(inputs, self.data_format)
        out, cache = pool_forward(x, self.pool_size, self.strides, self._padding, self._mode)
        return _from_channels_last(out, self.data_format), cache

    def backward(self, output_grads, cache):
        dy = _to_channels_last(backend.xp.asarray(output_grads), self.data_format)
        return _from_channels_last(pool_backward(dy, cache), self.data_format), {}

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "padding": self.padding, "strides": self.strides,
                       "data_format": self.data_format})
        return config


_WINDOW_DOC = """

    Args:
        pool_size: int or tuple of {rank} positive ints: the window{default}.
        strides: int or tuple of {rank} positive ints, or None (the default) for ``pool_size``.
        padding: ``"valid"`` (no padding) or ``"same"`` (``ceil(size / stride)`` outputs);
            case-insensitive.
        data_format: ``"channels_last"`` (the default, ``(batch, {axes}, channels)``) or
            ``"channels_first"`` (``(batch, channels, {axes})``).

    Input shape: {ndim}-D. Output shape: the spatial axes pooled, batch and channels unchanged.
    A window larger than the input with ``padding="valid"`` raises a ValueError
    (a deliberate difference from Keras's eager call, see the module docstring).
"""


class MaxPooling1D(_Pooling):
    _rank, _mode = 1, "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class MaxPooling2D(_Pooling):
    _rank, _mode = 2, "max"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class MaxPooling3D(_Pooling):
    _rank, _mode = 3, "max"

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling1D(_Pooling):
    _rank, _mode = 1, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling2D(_Pooling):
    _rank, _mode = 2, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling3D(_Pooling):
    _rank, _mode = 3, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


_AXES = {1: "steps", 2: "height, width", 3: "dim1, dim2, dim3"}
for _cls, _summary, _default in (
    (MaxPooling1D, "Max pooling over steps (一维最大池化): the largest value of each window, per channel.", 2),
    (MaxPooling2D, "Max pooling over height and width (二维最大池化): the largest value of each window, per "
                   "channel; a 28x28x32 input pooled 2x2 gives 14x14x32.", (2, 2)),
    (MaxPooling3D, "Max pooling over three spatial axes (三维最大池化).", (2, 2, 2)),
    (AveragePooling1D, "Average pooling over steps (一维平均池化): the mean of each window, per channel.", None),
    (AveragePooling2D, "Average pooling over height and width (二维平均池化). With ``padding='same'`` each "
                       "window is divided by its count of real entries.", None),
    (AveragePooling3D, "Average pooling over three spatial axes (三维平均池化).", None),
):
    _cls.__doc__ = _summary + _WINDOW_DOC.format(
        rank=_cls._rank, axes=_AXES[_cls._rank], ndim=_cls._rank + 2,
        default=f" (default {_default})" if _default is not None else " (required)",
    )


# ----------------------------------------------------------------- global
class _GlobalPooling(Layer):
    """Shared code of the global pooling layers; subclasses set ``_rank`` and ``_mode``."""

    _rank = None
    _mode = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        where = type(self).__name__
        data_format = _data_format(where, data_format)
        if not isinstance(keepdims, bool):
            raise TypeError(f"{where}: keepdims must be a bool. Received: keepdims={keepdims!r}")
        super().__init__(**kwargs)
        self.data_format = data_format
        self.keepdims = keepdims
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def _axes(self):
        first = 1 if self.data_format == "channels_last" else 2
        return tuple(range(first, first + self._rank))

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        self.input_spec.check(self.name, input_shape)
        channels_axis = -1 if self.data_format == "channels_last" else 1
        channels = input_shape[channels_axis]
        if not self.keepdims:
            return (input_shape[0], channels)
        if self.data_format == "channels_last":
            return (input_shape[0],) + (1,) * self._rank + (channels,)
        return (input_shape[0], channels) + (1,) * self._rank

    def forward(self, inputs, training=False):
        xp = backend.xp
        axes = self._axes()
        if self._mode == "max":
            out = xp.max(inputs, axis=axes, keepdims=True)
            tied = inputs == out
            # TF's reduce_max gradient: split equally among the tied maxima.
            cache = (tied, xp.sum(tied, axis=axes, keepdims=True).astype(inputs.dtype))
        else:
            out = xp.mean(inputs, axis=axes, keepdims=True)
            cache = (tuple(inputs.shape), inputs.dtype)
        return (out if self.keepdims else xp.squeeze(out, axis=axes)), cache

    def backward(self, output_grads, cache):
        xp = backend.xp
        axes = self._axes()
        dy = xp.asarray(output_grads)
        if not self.keepdims:
            dy = xp.expand_dims(dy, axis=axes)
        if self._mode == "max":
            tied, counts = cache
            return xp.where(tied, dy / counts, 0), {}
        shape, dtype = cache
        size = math.prod(shape[axis] for axis in axes)
        return xp.zeros(shape, dtype=xp.result_type(dy.dtype, dtype)) + dy / size, {}

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


_GLOBAL_DOC = """

    Args:
        data_format: ``"channels_last"`` (the default, ``(batch, {axes}, channels)``) or
            ``"channels_first"`` (``(batch, channels, {axes})``).
        keepdims: bool; True keeps the pooled axes with size 1.

    Input shape: {ndim}-D. Output shape: ``(batch, channels)``, or with ``keepdims``
    the input's rank with every spatial axis of size 1.
"""


class GlobalMaxPooling1D(_GlobalPooling):
    _rank, _mode = 1, "max"


class GlobalMaxPooling2D(_GlobalPooling):
    _rank, _mode = 2, "max"


class GlobalMaxPooling3D(_GlobalPooling):
    _rank, _mode = 3, "max"


class GlobalAveragePooling1D(_GlobalPooling):
    _rank, _mode = 1, "average"
    # As Keras: with a mask (from Embedding(mask_zero=True) or Masking) the mean runs over the
    # kept steps only, and the mask stops here.
    uses_mask = True
    supports_masking = True

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def forward(self, inputs, training=False, mask=None):
        if mask is None:
            return super().forward(inputs, training=training)
        xp = backend.xp
        steps_axis = 1 if self.data_format == "channels_last" else 2
        keep = xp.expand_dims(xp.asarray(mask, dtype=bool), 2 if self.data_format == "channels_last" else 1)
        weights = keep.astype(inputs.dtype)
        counts = xp.sum(weights, axis=steps_axis, keepdims=True)
        with backend.errstate(invalid="ignore", divide="ignore"):  # a fully masked sample: 0 / 0, as Keras
            out = xp.sum(xp.where(keep, inputs, 0), axis=steps_axis, keepdims=True) / counts
        return (out if self.keepdims else xp.squeeze(out, axis=steps_axis)), ("masked", keep, counts)

    def backward(self, output_grads, cache):
        if not (isinstance(cache, tuple) and cache and cache[0] == "masked"):
            return super().backward(output_grads, cache)
        xp = backend.xp
        steps_axis = 1 if self.data_format == "channels_last" else 2
        _, keep, counts = cache
        dy = xp.asarray(output_grads)
        if not self.keepdims:
            dy = xp.expand_dims(dy, axis=steps_axis)
        with backend.errstate(invalid="ignore", divide="ignore"):
            # Masked steps get exactly 0 (Keras's where), even in a sample with no kept step.
            return xp.where(keep, dy / counts, 0), {}


class GlobalAveragePooling2D(_GlobalPooling):
    _rank, _mode = 2, "average"


class GlobalAveragePooling3D(_GlobalPooling):
    _rank, _mode = 3, "average"


for _cls in (GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D,
             GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D):
    _what = ("The maximum over every spatial position, per channel (全局最大池化); on ties the "
             "gradient is split equally among the maxima, as TensorFlow's reduce_max does."
             if _cls._mode == "max" else "The mean over every spatial position, per channel (全局平均池化).")
    _cls.__doc__ = f"{_what} {_cls._rank}-D spatial input." + _GLOBAL_DOC.format(
        axes=_AXES[_cls._rank], ndim=_cls._rank + 2
    )

del _cls, _summary, _default, _what

# Keras 3's other spellings (the same classes, so configs name the long form).
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (
    GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D
)

__all__ = [
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
    "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D", "GlobalAvgPool1D", "GlobalAvgPool2D",
    "GlobalAvgPool3D",
]
