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
    """An element-wise merge with Keras's broadcasting; subclasses define ``_combine``/``_partials``
    (or, through :class:`_MaskedValues`, ``_combine_masked``/``_partials_masked``).

    Masks as Keras's merge layers: the OR of the inputs' masks, or no mask when
    any input has none (a residual ``Add`` keeps an Embedding's padding mask).
    """

    supports_masking = True

    def compute_mask(self, inputs, previous_mask=None):
        if previous_mask is None or any(mask is None for mask in previous_mask):
            return None
        output = previous_mask[0]
        for mask in previous_mask[1:]:
            output = backend.xp.logical_or(output, mask)
        return output

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


class _MaskedValues(_ElementwiseMerge):
    """A merge whose values Keras computes from the inputs' masks too (Multiply, Maximum, Minimum)."""

    uses_mask = True

    def forward(self, inputs, training=False, mask=None):
        rank = max(item.ndim for item in inputs)
        aligned = [item.reshape(_padded(item.shape, rank)) for item in inputs]
        masks = [None] * len(inputs) if mask is None else [_widened(m, item) for m, item in zip(mask, aligned)]
        output, state = self._combine_masked(aligned, masks)
        return output, ([item.shape for item in inputs], aligned, masks, state)

    def backward(self, output_grads, cache):
        shapes, aligned, masks, state = cache
        partials = self._partials_masked(aligned, masks, state, output_grads)
        return [_unbroadcast(grad, shape) for grad, shape in zip(partials, shapes)], {}


class Multiply(_MaskedValues):
    """The element-wise product of the inputs.

    With masks, as Keras: a masked entry of an input counts as 1 (it does not
    change the product), and when every input has a mask the product is 0
    where all of them are masked.
    """

    def _combine_masked(self, inputs, masks):
        xp = backend.xp
        used = [item if m is None else xp.where(m, item, item.dtype.type(1)) for item, m in zip(inputs, masks)]
        product = used[0]
        for item in used[1:]:
            product = product * item
        keep = None
        if all(m is not None for m in masks):
            keep = masks[0]
            for m in masks[1:]:
                keep = keep | m
            product = xp.where(keep, product, product.dtype.type(0))
        return product, (used, keep)

    def _partials_masked(self, inputs, masks, state, dy):
        used, keep = state
        dy = dy if keep is None else dy * keep
        partials = []
        for index, m in enumerate(masks):
            grad = dy
            for other, item in enumerate(used):
                if other != index:
                    grad = grad * item
            partials.append(grad if m is None else grad * m)
        return partials


class Average(_ElementwiseMerge):
    """The element-wise mean of the inputs."""

    def _combine(self, inputs):
        return Add._combine(self, inputs) / len(inputs)

    def _partials(self, inputs, dy):
        return [dy / len(inputs)] * len(inputs)


class Maximum(_MaskedValues):
    """The element-wise maximum; where inputs tie, the first of them gets the gradient.

    With masks, Keras's rule (``_apply_merge_op_and_or_mask``), input by input:
    a masked entry of the next input is replaced by the running result, a
    masked entry of the running result by the next input, so masked entries
    lose to unmasked ones. Each output entry is one input's entry, which gets
    the whole gradient.
    """

    @staticmethod
    def _takes_next(running, candidate):
        return candidate > running

    def _combine_masked(self, inputs, masks):
        xp = backend.xp
        shape = xp.broadcast_shapes(*(item.shape for item in inputs))
        output, source, running_mask = xp.broadcast_to(inputs[0], shape), xp.zeros(shape, int), masks[0]
        for index, (item, m) in enumerate(zip(inputs[1:], masks[1:]), start=1):
            item = xp.broadcast_to(item, source.shape)
            item_source = xp.full(source.shape, index)
            if m is not None:
                item, item_source = xp.where(m, item, output), xp.where(m, item_source, source)
            if running_mask is not None:
                output, source = xp.where(running_mask, output, item), xp.where(running_mask, source, item_source)
            running_mask = running_mask | m if m is not None and running_mask is not None else None
            take = self._takes_next(output, item)  # ties keep the running (earlier) entry
            output, source = xp.where(take, item, output), xp.where(take, item_source, source)
        return output, source

    def _partials_masked(self, inputs, masks, source, dy):
        return [dy * (source == index) for index in range(len(inputs))]


class Minimum(Maximum):
    """The element-wise minimum; where inputs tie, the first of them gets the gradient (masks as Maximum)."""

    @staticmethod
    def _takes_next(running, candidate):
        return candidate < running


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

    supports_masking = True

    def compute_mask(self, inputs, previous_mask=None):
        """Keras's rule: each input's mask widened to the input's shape (all True where it has none),
        joined along ``axis``, then reduced by ``any`` over the last axis."""
        if previous_mask is None or all(mask is None for mask in previous_mask):
            return None
        xp = backend.xp
        widened = []
        for item, mask in zip(inputs, previous_mask):
            if mask is None:
                mask = xp.ones(item.shape, dtype=bool)
            elif mask.ndim < item.ndim:
                mask = xp.broadcast_to(xp.expand_dims(mask, -1), item.shape)
            widened.append(mask)
        return xp.any(xp.concatenate(widened, axis=self.axis), axis=-1)

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


def _widened(mask, item):
    """Keras's ``broadcast_to(expand_dims(mask, -1), x.shape)``: a (batch, steps) mask over every feature."""
    if mask is None:
        return None
    return backend.xp.broadcast_to(mask[..., None] if mask.ndim < item.ndim else mask, item.shape)


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


# ------------------------------------------------------------------------ dot
def _l2_normalize(x, axis):
    """Keras's ``ops.normalize(x, axis)`` (order 2): ``x * min(rsqrt(sum(x**2, axis)), 1 / epsilon)``.

    Returns ``(normalized, inv_norm, active)``: the factor and where it is
    ``rsqrt`` rather than the ``1 / epsilon`` cap (a norm of at most ``epsilon``),
    for the backward pass.
    """
    xp = backend.xp
    dtype = x.dtype.type
    square_sum = xp.sum(xp.square(x), axis=axis, keepdims=True)
    # rsqrt(0) is inf, which the cap replaces anyway: the smallest normal number avoids it.
    rsqrt = dtype(1) / xp.sqrt(xp.maximum(square_sum, dtype(xp.finfo(x.dtype).tiny)))
    cap = dtype(1.0 / backend.epsilon())
    inv_norm = xp.minimum(rsqrt, cap)
    return x * inv_norm, inv_norm, rsqrt <= cap  # ties: TensorFlow's minimum sends the gradient to rsqrt


def _l2_normalize_backward(dy, x, inv_norm, active, axis):
    """The adjoint of :func:`_l2_normalize`: ``inv * dy - x * inv**3 * sum(x * dy)`` where the
    norm is above ``epsilon``, ``dy / epsilon`` (a constant factor) where it is capped."""
    xp = backend.xp
    projection = xp.sum(x * dy, axis=axis, keepdims=True)
    return dy * inv_norm - x * xp.where(active, inv_norm ** 3, inv_norm.dtype.type(0)) * projection


class Dot(_Merge):
    """The dot product of two tensors along one axis of each, sample by sample (点积).

    Keras's ``batch_dot``: for inputs ``x`` and ``y`` and axes ``(a, b)``, the
    output keeps ``x``'s other axes, then ``y``'s other axes but its batch axis, and sums
    ``x[..., k, ...] * y[..., k, ...]`` over ``k`` (the sizes of ``x.shape[a]`` and
    ``y.shape[b]`` must agree). Two inputs of shape ``(batch, n)`` give ``(batch, 1)``.

    Args:
        axes: an int (the same axis of both inputs) or a pair ``(a, b)`` of ints; negative
            axes count from the end of each input's shape. The batch axis 0 cannot be one.
        normalize: whether to L2-normalize both inputs along their dot axes first, as
            Keras's ``ops.normalize`` does (``x * min(1 / ||x||, 1 / epsilon)``,
            ``epsilon = 1e-7``): the output is then the cosine similarity.

    Input shape: a list of two tensors of rank >= 2. Output shape: as above.
    No mask is passed on (Keras's Dot returns none). The backward pass goes through the
    normalization too.
    """

    keeps_integers = False  # a product of integers is computed in floats, the layer's dtype
    supports_masking = True

    def __init__(self, axes, normalize=False, **kwargs):
        if isinstance(axes, bool) or not isinstance(axes, (int, list, tuple)):
            raise TypeError(f"Dot: axes must be an int or a pair of ints. Received: axes={axes!r}")
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2:
                raise ValueError(
                    f"Dot: axes must be an int or a pair of ints (one axis per input). Received: axes={axes!r}"
                )
            if any(isinstance(a, bool) or not isinstance(a, int) for a in axes):
                raise ValueError(f"Dot: the entries of axes must be ints. Received: axes={axes!r}")
            axes = list(axes) if isinstance(axes, list) else tuple(axes)
        super().__init__(**kwargs)
        self.axes = axes
        self.normalize = bool(normalize)

    def _check_list(self, shapes):
        if not isinstance(shapes, list) or len(shapes) != 2:
            raise ValueError(
                f"Dot '{self.name}' must be called on a list of exactly 2 inputs. "
                f"Received: {f'a list of {len(shapes)}' if isinstance(shapes, list) else 'a single input'}"
            )

    def _axes_for(self, shapes):
        """The two dot axes as non-negative ints, Keras's ``axes % rank`` for negative ones."""
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else tuple(self.axes)
        return tuple(axis % len(shape) if axis < 0 else axis for axis, shape in zip(pair, shapes))

    def _check_shapes(self, shapes):
        first, second = (tuple(shape) for shape in shapes)
        if len(first) < 2 or len(second) < 2:
            raise ValueError(
                f"Dot '{self.name}': both inputs must have rank >= 2 (a batch axis and a dot axis). "
                f"Received: input shapes {first} and {second}"
            )
        a, b = self._axes_for((first, second))
        if a >= len(first) or b >= len(second) or a == 0 or b == 0:
            raise ValueError(
                f"Dot '{self.name}': axes={self.axes} must name a non-batch axis of each input (never "
                f"axis 0). Received: input shapes {first} and {second}"
            )
        if first[0] is not None and second[0] is not None and first[0] != second[0]:
            raise ValueError(
                f"Dot '{self.name}': the inputs have different batch sizes. Received: input shapes "
                f"{first} and {second}"
            )
        if first[a] is not None and second[b] is not None and first[a] != second[b]:
            raise ValueError(
                f"Dot '{self.name}': incompatible input shapes: axis values {first[a]} (at axis {a}) != "
                f"{second[b]} (at axis {b}). Received: input shapes {first} and {second}"
            )

    def compute_output_shape(self, input_shapes):
        self._check_list(list(input_shapes) if isinstance(input_shapes, tuple) else input_shapes)
        self._check_shapes(input_shapes)
        first, second = (list(shape) for shape in input_shapes)
        a, b = self._axes_for((first, second))
        first.pop(a)
        second.pop(b)
        output = first + second[1:]
        return tuple(output + [1] if len(output) == 1 else output)

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def forward(self, inputs, training=False):
        xp = backend.xp
        x, y = inputs
        a, b = self._axes_for((x.shape, y.shape))
        states = (None, None)
        if self.normalize:
            (x, *x_state), (y, *y_state) = _l2_normalize(x, a), _l2_normalize(y, b)
            states = (x_state, y_state)
        # batch_dot: x's dot axis last, y's second, every other axis flattened into one.
        xt, yt = xp.moveaxis(x, a, -1), xp.moveaxis(y, b, 1)
        rows, cols = xt.shape[1:-1], yt.shape[2:]
        product = xp.matmul(xt.reshape(xt.shape[0], -1, xt.shape[-1]), yt.reshape(yt.shape[0], yt.shape[1], -1))
        output = product.reshape((product.shape[0],) + rows + cols)
        if output.ndim == 1:
            output = output[:, None]
        return output, (x, y, (a, b), states, inputs)

    def backward(self, output_grads, cache):
        xp = backend.xp
        x, y, (a, b), states, inputs = cache
        xt, yt = xp.moveaxis(x, a, -1), xp.moveaxis(y, b, 1)
        size = xt.shape[-1]
        x3 = xt.reshape(xt.shape[0], -1, size)
        y3 = yt.reshape(yt.shape[0], size, -1)
        dout = xp.asarray(output_grads).reshape(x3.shape[0], x3.shape[1], y3.shape[2])
        dx = xp.moveaxis(xp.matmul(dout, xp.swapaxes(y3, 1, 2)).reshape(xt.shape), -1, a)
        dy = xp.moveaxis(xp.matmul(xp.swapaxes(x3, 1, 2), dout).reshape(yt.shape), 1, b)
        if self.normalize:
            (x_inv, x_active), (y_inv, y_active) = states
            dx = _l2_normalize_backward(dx, inputs[0], x_inv, x_active, a)
            dy = _l2_normalize_backward(dy, inputs[1], y_inv, y_active, b)
        return [dx, dy], {}

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def dot(inputs, axes=-1, **kwargs):
    """``Dot(axes=axes, **kwargs)(inputs)``: Keras's functional ``keras.layers.dot`` (its default ``axes=-1``)."""
    return Dot(axes=axes, **kwargs)(inputs)
