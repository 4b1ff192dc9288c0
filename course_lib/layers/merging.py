"""Merging layers: combine a list of tensors into one.

Add, Subtract, Multiply, Average, Maximum and Minimum work element by element
and broadcast as Keras's merge layers do: axes of size 1 stretch, and an input
of lower rank gets size-1 axes inserted after the batch axis. Their backward
sums each gradient back down to its input's shape. Concatenate joins along an axis.
"""
from __future__ import annotations

import itertools

from course_lib import backend
from course_lib.layers.base import Layer


class _Merge(Layer):
    """Base of merging layers: takes a list of inputs (Keras accepts a list of one)."""

    keeps_integers = True
    minimum_inputs = 1

    def _check_list(self, shapes):
        if not isinstance(shapes, list) or len(shapes) < self.minimum_inputs:
            received = (
                f"a list of {len(shapes)}" if isinstance(shapes, list)
                else f"a single input of shape {shapes}"
            )
            raise ValueError(
                f"{type(self).__name__} '{self.name}' must be called on a list of at least "
                f"{self.minimum_inputs} inputs. Received: {received}"
            )

    def _maybe_build(self, shapes):
        self._check_list(shapes)
        super()._maybe_build(shapes)

    def _check_input(self, shapes):
        self._check_list(shapes)
        self._check_shapes(shapes)


class _ElementwiseMerge(_Merge):
    """An element-wise merge with Keras's broadcasting; subclasses define ``_combine``/``_partials``."""

    def _check_shapes(self, shapes):
        self.compute_output_shape(shapes)

    def compute_output_shape(self, input_shapes):
        batch_sizes = {shape[0] for shape in input_shapes} - {None}
        if len(batch_sizes) > 1:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': cannot merge tensors with different batch "
                f"sizes. Received: input shapes {input_shapes}"
            )
        rank = max(len(shape) for shape in input_shapes)
        output = []
        for axis in range(1, rank):
            sizes = [_padded(shape, rank)[axis] for shape in input_shapes]
            if any(size is None for size in sizes):
                output.append(None)
                continue
            known = {size for size in sizes if size != 1}
            if len(known) > 1:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': inputs have incompatible shapes for an "
                    f"element-wise merge (axis {axis}: sizes {sizes}). Received: input shapes {input_shapes}"
                )
            output.append(known.pop() if known else 1)
        return (input_shapes[0][0],) + tuple(output)

    def forward(self, inputs, training=False):
        rank = max(item.ndim for item in inputs)
        aligned = [item.reshape(_padded(item.shape, rank)) for item in inputs]
        return self._combine(aligned), ([item.shape for item in inputs], aligned)

    def backward(self, output_grads, cache):
        shapes, aligned = cache
        partials = self._partials(aligned, output_grads)
        return [_unbroadcast(grad, shape) for grad, shape in zip(partials, shapes)], {}


class Add(_ElementwiseMerge):
    """Adds a list of inputs element by element (broadcasting as Keras does)."""

    def _combine(self, inputs):
        total = inputs[0]
        for item in inputs[1:]:
            total = total + item
        return total

    def _partials(self, inputs, dy):
        return [dy] * len(inputs)


class Subtract(_ElementwiseMerge):
    """``inputs[0] - inputs[1]``: exactly two inputs."""

    def _check_list(self, shapes):
        if not isinstance(shapes, list) or len(shapes) != 2:
            raise ValueError(
                f"Subtract '{self.name}' must be called on a list of exactly 2 inputs. "
                f"Received: {len(shapes) if isinstance(shapes, list) else 'a single input'}"
            )

    def _combine(self, inputs):
        return inputs[0] - inputs[1]

    def _partials(self, inputs, dy):
        return [dy, -dy]


class Multiply(_ElementwiseMerge):
    """The element-wise product of the inputs."""

    def _combine(self, inputs):
        product = inputs[0]
        for item in inputs[1:]:
            product = product * item
        return product

    def _partials(self, inputs, dy):
        partials = []
        for index in range(len(inputs)):
            grad = dy
            for other, item in enumerate(inputs):
                if other != index:
                    grad = grad * item
            partials.append(grad)
        return partials


class Average(_ElementwiseMerge):
    """The element-wise mean of the inputs."""

    def _combine(self, inputs):
        return Add._combine(self, inputs) / len(inputs)

    def _partials(self, inputs, dy):
        return [dy / len(inputs)] * len(inputs)


class Maximum(_ElementwiseMerge):
    """The element-wise maximum; where inputs tie, the first of them gets the gradient."""

    _pick = staticmethod(lambda stacked: stacked.argmax(axis=0))

    def _combine(self, inputs):
        stacked = _stack_broadcast(inputs)
        return backend.xp.take_along_axis(stacked, self._pick(stacked)[None], axis=0)[0]

    def _partials(self, inputs, dy):
        winner = self._pick(_stack_broadcast(inputs))
        return [dy * (winner == index) for index in range(len(inputs))]


class Minimum(Maximum):
    """The element-wise minimum; where inputs tie, the first of them gets the gradient."""

    _pick = staticmethod(lambda stacked: stacked.argmin(axis=0))


class Concatenate(_Merge):
    """Joins a list of inputs along ``axis`` (拼接).

    Args:
        axis: the axis to join along (default -1, the features).

    Input shape: tensors whose shapes agree on every axis but ``axis``.
    Output shape: the same, with the ``axis`` sizes added.
    """

    minimum_inputs = 2

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

    def forward(self, inputs, training=False):
        sizes = [item.shape[self.axis] for item in inputs]
        return backend.xp.concatenate(inputs, axis=self.axis), sizes

    def backward(self, output_grads, sizes):
        # The split points are Python ints: no array (nor, on a GPU, a device round trip) for them.
        splits = list(itertools.accumulate(sizes))[:-1]
        return backend.xp.split(output_grads, splits, axis=self.axis), {}

    def compute_output_shape(self, input_shapes):
        shape = list(input_shapes[0])
        sizes = [s[self.axis] for s in input_shapes]
        shape[self.axis] = None if any(s is None for s in sizes) else sum(sizes)
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


def _padded(shape, rank):
    """Keras's rule for inputs of lower rank: size-1 axes inserted after the batch axis."""
    shape = tuple(shape)
    return shape[:1] + (1,) * (rank - len(shape)) + shape[1:]


def _stack_broadcast(inputs):
    return backend.xp.stack(backend.xp.broadcast_arrays(*inputs))


def _unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape`` (the reverse of broadcasting), then restore its rank."""
    rank = grad.ndim
    padded = _padded(shape, rank)
    axes = tuple(axis for axis in range(rank) if padded[axis] == 1 and grad.shape[axis] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _functional(cls):
    """Keras's functional spelling: ``layers.add([a, b])`` is ``layers.Add()([a, b])``."""

    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)

    merge.__name__ = cls.__name__.lower()
    merge.__doc__ = f"``{cls.__name__}(**kwargs)(inputs)``: {cls.__doc__.splitlines()[0]}"
    return merge


add, subtract, multiply, average, maximum, minimum, concatenate = (
    _functional(cls) for cls in (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate)
)
