"""Adaptive pooling layers (自适应池化层): pool any spatial size down (or up) to a fixed ``output_size``.

Keras 3's windows (``keras.ops.adaptive_average_pool`` / ``adaptive_max_pool``),
along each spatial axis of length ``n`` pooled to ``m`` outputs::

    start_i = floor(i * n / m)        end_i = ceil((i + 1) * n / m)        i = 0 .. m - 1

(PyTorch's rule too). Windows overlap when ``m`` does not divide ``n`` and
have ``ceil(n / m)`` or ``ceil(n / m) + 1`` entries. Keras pools one axis
after the other (depth, height, width), which gives the mean / maximum over
the whole box window; so does course_lib, vectorised per axis:

- average: a ``(m, n)`` matrix holding ``1 / size_i`` on window ``i``, applied
  along the axis with ``tensordot``; its transpose is the backward;
- max: an index array ``(m, window)`` gathers every window at once (a short
  window repeats its last entry, which changes no maximum); the backward sends
  each output gradient to its window's first maximum with one ``bincount``.

Deliberate differences from Keras, each pinned by a test: ``output_size``
must be positive ints (Keras stores anything and fails at call time), and
``data_format`` is case-insensitive like the other pooling layers'.
"""
from __future__ import annotations

import numbers

from course_lib import backend
from course_lib.layers.base import InputSpec, Layer
from course_lib.ops.arguments import check_data_format as _data_format
from course_lib.ops.arguments import from_channels_last as _from_channels_last
from course_lib.ops.arguments import to_channels_last as _to_channels_last


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def adaptive_windows(length, output_length):
    """``(starts, ends)`` of the ``output_length`` windows over an axis of ``length`` (``backend.xp`` int64 arrays)."""
    xp = backend.xp
    i = xp.arange(output_length, dtype="int64")
    starts = (i * length) // output_length
    ends = -((-(i + 1) * length) // output_length)
    return starts, ends


def _average_matrix(length, output_length, dtype):
    xp = backend.xp
    starts, ends = adaptive_windows(length, output_length)
    positions = xp.arange(length, dtype="int64")
    inside = (positions >= starts[:, None]) & (positions < ends[:, None])
    return inside.astype(dtype) / (ends - starts)[:, None].astype(dtype)


def _along(matrix, x, axis):
    """``matrix`` (m, n) applied to axis ``axis`` of ``x`` (of length n)."""
    xp = backend.xp
    return xp.moveaxis(xp.tensordot(matrix, x, axes=([1], [axis])), 0, axis)


def _max_forward(x, axis, output_length):
    xp = backend.xp
    length = x.shape[axis]
    starts, ends = adaptive_windows(length, output_length)
    width = int(backend.to_numpy((ends - starts).max()))
    index = xp.minimum(starts[:, None] + xp.arange(width, dtype="int64"), ends[:, None] - 1)  # (m, width)
    moved = xp.moveaxis(x, axis, -1)
    windows = moved[..., index]                                       # (..., m, width)
    best = xp.argmax(windows, axis=-1)                                # (..., m)
    out = xp.take_along_axis(windows, best[..., None], axis=-1)[..., 0]
    chosen = index[xp.arange(output_length)[None, :], best.reshape(-1, output_length)]  # (rows, m)
    return xp.moveaxis(out, -1, axis), (axis, length, chosen, moved.shape)


def _max_backward(dy, saved):
    xp = backend.xp
    axis, length, chosen, moved_shape = saved
    rows = chosen.shape[0]
    moved = xp.moveaxis(dy, axis, -1).reshape(rows, -1)
    positions = (xp.arange(rows, dtype="int64")[:, None] * length + chosen).reshape(-1)
    dx = xp.bincount(positions, weights=moved.reshape(-1).astype("float64"), minlength=rows * length)
    return xp.moveaxis(dx.astype(dy.dtype).reshape(moved_shape), -1, axis)


class _AdaptivePooling(Layer):
    """Shared code of the adaptive pooling layers; subclasses set ``_rank`` and ``_mode``."""

    _rank = None
    _mode = None

    def __init__(self, output_size, data_format=None, **kwargs):
        where = type(self).__name__
        if _is_int(output_size):
            output_size = (output_size,) * self._rank
        elif isinstance(output_size, (tuple, list)) and len(output_size) == self._rank:
            output_size = tuple(output_size)
        else:
            raise TypeError(f"{where}: output_size must be an int or a tuple of {self._rank} ints. "
                            f"Received: output_size={output_size!r}")
        if not all(_is_int(size) and size > 0 for size in output_size):
            raise ValueError(f"{where}: output_size must hold positive ints. Received: output_size={output_size!r}")
        data_format = _data_format(where, data_format)
        super().__init__(**kwargs)
        self.output_size = tuple(int(size) for size in output_size)
        self.data_format = data_format
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        self.input_spec.check(self.name, input_shape)
        if self.data_format == "channels_last":
            return (input_shape[0],) + self.output_size + (input_shape[-1],)
        return (input_shape[0], input_shape[1]) + self.output_size

    def forward(self, inputs, training=False):
        x = _to_channels_last(inputs, self.data_format)
        saved = []
        for axis, size in zip(range(1, self._rank + 1), self.output_size):
            if self._mode == "average":
                matrix = _average_matrix(x.shape[axis], size, x.dtype)
                x = _along(matrix, x, axis)
                saved.append((axis, matrix))
            else:
                x, entry = _max_forward(x, axis, size)
                saved.append(entry)
        return _from_channels_last(x, self.data_format), saved

    def backward(self, output_grads, cache):
        dy = _to_channels_last(backend.xp.asarray(output_grads), self.data_format)
        for entry in reversed(cache):
            if self._mode == "average":
                axis, matrix = entry
                dy = _along(matrix.T, dy, axis)
            else:
                dy = _max_backward(dy, entry)
        return _from_channels_last(dy, self.data_format), {}

    def get_config(self):
        config = super().get_config()
        config.update({"output_size": self.output_size, "data_format": self.data_format})
        return config


_DOC = """

    Args:
        output_size: an int or a tuple of {rank} positive ints: the output's {axes}.
        data_format: ``"channels_last"`` (the default, ``(batch, {axes}, channels)``) or
            ``"channels_first"`` (``(batch, channels, {axes})``).

    Windows along an axis of ``n`` to ``m`` outputs: ``floor(i n / m)`` to ``ceil((i + 1) n / m)``
    (Keras's and PyTorch's), so any input size gives ``output_size``.
"""


class AdaptiveAveragePooling1D(_AdaptivePooling):
    _rank, _mode = 1, "average"

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(output_size, data_format, **kwargs)


class AdaptiveAveragePooling2D(_AdaptivePooling):
    _rank, _mode = 2, "average"

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(output_size, data_format, **kwargs)


class AdaptiveAveragePooling3D(_AdaptivePooling):
    _rank, _mode = 3, "average"

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(output_size, data_format, **kwargs)


class AdaptiveMaxPooling1D(_AdaptivePooling):
    _rank, _mode = 1, "max"

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(output_size, data_format, **kwargs)


class AdaptiveMaxPooling2D(_AdaptivePooling):
    _rank, _mode = 2, "max"

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(output_size, data_format, **kwargs)


class AdaptiveMaxPooling3D(_AdaptivePooling):
    _rank, _mode = 3, "max"

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(output_size, data_format, **kwargs)


_AXES = {1: "length", 2: "height, width", 3: "depth, height, width"}
for _cls, _summary in (
    (AdaptiveAveragePooling1D, "Adaptive average pooling over steps (一维自适应平均池化): the mean of each window."),
    (AdaptiveAveragePooling2D, "Adaptive average pooling over height and width (二维自适应平均池化): a 64x64 "
                               "input pooled to ``output_size=32`` gives 32x32."),
    (AdaptiveAveragePooling3D, "Adaptive average pooling over three spatial axes (三维自适应平均池化)."),
    (AdaptiveMaxPooling1D, "Adaptive max pooling over steps (一维自适应最大池化): the largest value of each window."),
    (AdaptiveMaxPooling2D, "Adaptive max pooling over height and width (二维自适应最大池化). The gradient goes "
                           "to the first maximum of each window."),
    (AdaptiveMaxPooling3D, "Adaptive max pooling over three spatial axes (三维自适应最大池化)."),
):
    _cls.__doc__ = _summary + _DOC.format(rank=_cls._rank, axes=_AXES[_cls._rank])
