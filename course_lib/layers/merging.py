"""Merging layers: combine a list of tensors into one (Concatenate, Add)."""
from __future__ import annotations

from course_lib import backend
from course_lib.layers.base import Layer


class _Merge(Layer):
    """Base of merging layers: takes a list of at least two inputs."""

    def _check_list(self, shapes):
        if not isinstance(shapes, list) or len(shapes) < 2:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' must be called on a list of at least 2 inputs. "
                f"Received: {shapes if isinstance(shapes, list) else 'a single input of shape ' + str(shapes)}"
            )

    def _maybe_build(self, shapes):
        self._check_list(shapes)
        super()._maybe_build(shapes)

    def _check_input(self, shapes):
        self._check_list(shapes)
        self._check_shapes(shapes)


class Add(_Merge):
    """Adds a list of inputs of the same shape, element by element.

    Input shape: a list of tensors of one shape. Output shape: that shape.
    """

    def _check_shapes(self, shapes):
        first = shapes[0]
        for shape in shapes[1:]:
            if len(shape) != len(first) or any(
                a is not None and b is not None and a != b for a, b in zip(first[1:], shape[1:])
            ):
                raise ValueError(
                    f"Add '{self.name}': inputs must all have the same shape. "
                    f"Received: input shapes {shapes}"
                )

    def call(self, inputs, training=False):
        self._cache = len(inputs)
        total = inputs[0]
        for item in inputs[1:]:
            total = total + item
        return total

    def backward(self, dy):
        self.grads = {}
        return [dy for _ in range(self._cache)]

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[0])


class Concatenate(_Merge):
    """Joins a list of inputs along ``axis`` (拼接).

    Args:
        axis: the axis to join along (default -1, the features).

    Input shape: tensors whose shapes agree on every axis but ``axis``.
    Output shape: the same, with the ``axis`` sizes added.
    """

    def __init__(self, axis=-1, **kwargs):
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise TypeError(f"Concatenate: axis must be an int. Received: axis={axis!r}")
        super().__init__(**kwargs)
        self.axis = axis

    def _check_shapes(self, shapes):
        rank = len(shapes[0])
        axis = self.axis % rank if -rank <= self.axis < rank else None
        if axis is None or axis == 0:
            raise ValueError(
                f"Concatenate '{self.name}': axis={self.axis} is not a feature axis of inputs of "
                f"rank {rank}. Received: input shapes {shapes}"
            )
        for shape in shapes:
            if len(shape) != rank or any(
                i != axis and a is not None and b is not None and a != b
                for i, (a, b) in enumerate(zip(shapes[0], shape))
            ):
                raise ValueError(
                    f"Concatenate '{self.name}': inputs must have matching shapes except on the "
                    f"concatenation axis {self.axis}. Received: input shapes {shapes}"
                )

    def call(self, inputs, training=False):
        self._cache = [item.shape[self.axis] for item in inputs]
        return backend.xp.concatenate(inputs, axis=self.axis)

    def backward(self, dy):
        self.grads = {}
        splits = backend.xp.cumsum(self._cache)[:-1]
        return backend.xp.split(dy, splits, axis=self.axis)

    def compute_output_shape(self, input_shapes):
        shape = list(input_shapes[0])
        sizes = [s[self.axis] for s in input_shapes]
        shape[self.axis] = None if any(s is None for s in sizes) else sum(sizes)
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config
