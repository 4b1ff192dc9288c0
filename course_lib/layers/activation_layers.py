"""Keras 3's activation layers Softmax, ELU, PReLU and ThresholdedReLU, forward and backward side by side.

- :class:`Softmax` (softmax 层): ``activations.softmax`` along ``axis``; an axis
  list of several axes normalizes over all of them at once
  (``exp(x - logsumexp(x, axis))``, as Keras). ``mask`` (broadcastable to the
  input, 1 keeps, 0 masks) sets the masked logits to a large negative number
  (-1e9, -3e4 in float16) before the softmax and the masked outputs to 0 after
  it; no gradient reaches a masked input.
- :class:`ELU` (指数线性单元层): ``activations.elu`` with its ``alpha``.
- :class:`PReLU` (参数化 ReLU): ``x`` for ``x >= 0``, ``alpha * x`` below, with
  ``alpha`` a trained weight, one per input entry except along ``shared_axes``
  (size 1 there). Its regularizer and constraint live on the Variable, as a
  Dense kernel's do (``add_weight(regularizer=..., constraint=...)``): the
  engine adds the penalty to the loss, the optimizer projects after each step.

- :class:`ThresholdedReLU` (阈值 ReLU, tf.keras's deprecated legacy layer):
  ``x`` where ``x > theta``, else 0.

The gradients at the kinks are TensorFlow's: PReLU passes 0 at ``x = 0``
(``relu(x) - alpha * relu(-x)``, each ``relu`` with slope 0 at 0); ELU passes
``alpha * dy`` there (``activations.elu``).
"""
from __future__ import annotations

import numbers

from course_lib import activations, backend, constraints, initializers, regularizers
from course_lib.layers.base import InputSpec, Layer, _is_symbolic
from course_lib.layers.noise_and_normalization import _sum_to_shape
from course_lib.ops.attention import _as_bool_mask, _check_broadcastable, _large_negative_number


# -------------------------------------------------------------------- Softmax
def _check_softmax_axis(axis):
    """An int, or a non-empty list/tuple of distinct ints (kept as given, as Keras keeps it)."""
    def is_int(value):
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)

    if is_int(axis):
        return axis
    if isinstance(axis, (list, tuple)) and axis and all(is_int(a) for a in axis):
        return axis
    raise TypeError(
        f"Softmax: axis must be an int or a non-empty list/tuple of ints. Received: axis={axis!r}"
    )


class Softmax(Layer):
    """Softmax activation layer (softmax 层): ``exp(x - max(x)) / sum(exp(x - max(x)))`` along ``axis``.

    Args:
        axis: int, or list/tuple of ints: the axis (axes) along which the
            normalization is applied (default -1). Several axes are normalized
            together, as one flattened axis.

    Call arguments:
        inputs: the logits.
        mask: optional boolean mask broadcastable to ``inputs`` (each of its
            dimensions 1 or the input's, its rank at most the input's): True
            (or > 0.5 for a float mask) keeps a logit, False masks it. Masked
            logits are replaced by -1e9 (-3e4 in float16) before the softmax
            and the masked outputs set to 0, so a fully masked slice gives
            zeros rather than a uniform distribution. Masked inputs get a zero
            gradient.

    Input shape: any. Output shape: the same.
    """

    supports_masking = True  # as Keras: a mask passes through unchanged
    uses_mask = True

    def __init__(self, axis=-1, **kwargs):
        axis = _check_softmax_axis(axis)
        super().__init__(**kwargs)
        self.axis = axis

    def __call__(self, inputs, training=None, mask=None, **kwargs):
        # Keras reads a float mask as mask > 0.5; the base's cast to bool would read it as mask != 0.
        if mask is not None and not _is_symbolic(mask):
            mask = _as_bool_mask(mask)
        return super().__call__(inputs, training=training, mask=mask, **kwargs)

    def _axes(self, ndim):
        axes = self._axes_given()
        for axis in axes:
            if not -ndim <= axis < ndim:
                raise ValueError(
                    f"Softmax '{self.name}': axis {axis} is out of range for an input of rank {ndim}. "
                    f"Received: axis={self.axis!r}"
                )
        if len({axis % ndim for axis in axes}) != len(axes):
            raise ValueError(f"Softmax '{self.name}': axis must not repeat an axis. Received: axis={self.axis!r}")
        return axes

    def forward(self, inputs, training=False, mask=None):
        xp = backend.xp
        axes = self._axes(inputs.ndim)
        if mask is not None:
            mask = _as_bool_mask(mask)
            _check_broadcastable(mask.shape, inputs.shape, f"Softmax '{self.name}'")
            inputs = xp.where(mask, inputs, inputs.dtype.type(_large_negative_number(inputs.dtype)))
        if len(axes) == 1:
            outputs = activations.softmax(inputs, axis=axes[0])
        else:
            # Keras's form for several axes (activations.softmax takes one): exp(x - logsumexp(x)).
            peak = xp.max(inputs, axis=axes, keepdims=True)
            shifted = inputs - peak
            outputs = xp.exp(shifted - xp.log(xp.sum(xp.exp(shifted), axis=axes, keepdims=True)))
        cache = (inputs, outputs, mask, axes)
        if mask is not None:
            outputs = xp.where(mask, outputs, outputs.dtype.type(0))
        return outputs, cache

    def backward(self, output_grads, cache):
        xp = backend.xp
        inputs, outputs, mask, axes = cache  # outputs: the softmax before masked entries were zeroed
        if mask is not None:
            output_grads = xp.where(mask, output_grads, output_grads.dtype.type(0))
        if len(axes) == 1:
            grads = activations.softmax.backward(inputs, outputs, output_grads, axis=axes[0])
        else:
            # The same vector-Jacobian product over the joint axes: y * (dy - <dy, y>).
            grads = outputs * (output_grads - xp.sum(output_grads * outputs, axis=axes, keepdims=True))
        if mask is not None:
            grads = xp.where(mask, grads, grads.dtype.type(0))  # a masked logit was replaced by a constant
        return grads, {}

    # The engine's logits protocol (see ActivatedLayer): Keras's softmax over one axis keeps its
    # input as the output's `_keras_logits`, so a crossentropy on this layer's output is scored
    # from the logits. Not over several axes, nor where a mask zeroed outputs: those outputs
    # come from other ops, which keep no logits.
    def output_logits_activation(self):
        return "softmax" if len(self._axes_given()) == 1 else None

    def _axes_given(self):
        return tuple(self.axis) if isinstance(self.axis, (list, tuple)) else (self.axis,)

    @staticmethod
    def pre_activation(cache):
        inputs, _, mask, _ = cache
        return inputs if mask is None else None

    def logits_gradient(self, output_grads, cache):
        return self.backward(output_grads, cache)[0]

    def backward_from_logits(self, dpre, cache, need_dx=True):
        return (dpre if need_dx else None), {}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


# ------------------------------------------------------------------------ ELU
class ELU(Layer):
    """Exponential linear unit as a layer (指数线性单元层): ``activations.elu``.

    ``f(x) = x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    Args:
        alpha: float, the scale of the negative part (default 1.0), kept as given.

    Input shape: any. Output shape: the same.
    """

    supports_masking = True  # as Keras: a mask passes through unchanged

    def __init__(self, alpha=1.0, **kwargs):
        backend.check_real("ELU", "alpha", alpha)
        super().__init__(**kwargs)
        self.alpha = alpha

    def forward(self, inputs, training=False):
        outputs = activations.elu(inputs, alpha=self.alpha)
        return outputs, (inputs, outputs)

    def backward(self, output_grads, cache):
        inputs, outputs = cache
        return activations.elu.backward(inputs, outputs, output_grads, alpha=self.alpha), {}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


# ------------------------------------------------------------- ThresholdedReLU
class ThresholdedReLU(Layer):
    """``x`` where ``x > theta``, else 0 (阈值 ReLU): tf.keras's legacy layer, deprecated there.

    As in Keras, ``theta`` is held in the layer's compute dtype, so
    ``get_config()`` returns it rounded (0.1 comes back as 0.10000000149011612
    in float32), and the gradient is ``dy`` where ``x > theta``, 0 elsewhere,
    at ``x == theta`` included.

    Args:
        theta: float >= 0, the threshold (default 1.0).

    Input shape: any. Output shape: the same.
    """

    supports_masking = True  # as Keras: a mask passes through unchanged
    _keras_module = "keras._legacy.layers"  # where tf.keras's files say it lives

    def __init__(self, theta=1.0, **kwargs):
        if theta is None:
            raise ValueError(
                f"ThresholdedReLU: theta cannot be None, expecting a float >= 0. Received: theta={theta}"
            )
        backend.check_real("ThresholdedReLU", "theta", theta)
        if theta < 0:
            raise ValueError(f"ThresholdedReLU: theta should be >= 0. Received: theta={theta}")
        super().__init__(**kwargs)
        self.theta = backend.xp.asarray(theta, dtype=self.dtype)

    def forward(self, inputs, training=False):
        passed = inputs > self.theta
        return inputs * passed.astype(inputs.dtype), passed

    def backward(self, output_grads, passed):
        return output_grads * passed.astype(output_grads.dtype), {}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "theta": float(self.theta)}


# ---------------------------------------------------------------------- PReLU
def _check_shared_axes(shared_axes):
    """None, or Keras's list of ints (an int alone becomes a one-element list)."""
    if shared_axes is None:
        return None
    listed = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
    if any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in listed):
        raise TypeError(
            f"PReLU: shared_axes must be None, an int or a list/tuple of ints. Received: shared_axes={shared_axes!r}"
        )
    return [int(a) for a in listed]


class PReLU(Layer):
    """Parametric rectified linear unit (参数化 ReLU): ``x`` for ``x >= 0``, ``alpha * x`` below.

    ``alpha`` is a trainable weight shaped like one sample (the input without
    its batch axis), with size 1 along ``shared_axes``. Forward:
    ``relu(x) - alpha * relu(-x)``; backward: ``dx = dy`` where ``x > 0``,
    ``alpha * dy`` where ``x < 0``, 0 at ``x = 0`` (TensorFlow's relu
    gradients); ``dalpha = sum(dy * min(x, 0))`` over the batch and the
    shared axes.

    Args:
        alpha_initializer: initializer of ``alpha`` (default ``"Zeros"``:
            the layer starts as a ReLU).
        alpha_regularizer: penalty on ``alpha`` added to the training loss
            (name, object or dict; see :mod:`course_lib.regularizers`).
        alpha_constraint: projection applied to ``alpha`` after each optimizer
            step (see :mod:`course_lib.constraints`).
        shared_axes: int or list of ints, the input axes (1 is the first after
            the batch axis) along which one ``alpha`` is shared, e.g. ``[1, 2]``
            for one slope per channel of ``(batch, rows, cols, channels)``
            feature maps. As Keras, axis ``i`` sets entry ``i - 1`` of the
            weight's shape to 1 (so a negative axis counts from the end of
            that shape shifted by one: ``-1`` shares the second-to-last axis).

    Input shape: any, with the not-shared axes known. Output shape: the same.
    """

    supports_masking = True  # as Keras: a mask passes through unchanged

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        shared_axes = _check_shared_axes(shared_axes)
        alpha_initializer = initializers.get(alpha_initializer)
        alpha_regularizer = regularizers.get(alpha_regularizer)
        alpha_constraint = constraints.get(alpha_constraint)
        super().__init__(**kwargs)
        self.alpha_initializer = alpha_initializer
        self.alpha_regularizer = alpha_regularizer
        self.alpha_constraint = alpha_constraint
        self.shared_axes = shared_axes

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        param_shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if not -len(param_shape) <= axis - 1 < len(param_shape):
                raise ValueError(
                    f"PReLU '{self.name}': shared axis {axis} is out of range for inputs of shape "
                    f"{input_shape}. Received: shared_axes={self.shared_axes}"
                )
            param_shape[axis - 1] = 1  # Keras's indexing, negative axes included
        if any(size is None for size in param_shape):
            raise ValueError(
                f"PReLU '{self.name}': every axis not in shared_axes must have a known size, to give alpha "
                f"its shape. Received: input_shape={input_shape}, shared_axes={self.shared_axes}"
            )
        self.alpha = self.add_weight("alpha", tuple(param_shape), self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)
        # Keras's input spec: the rank, and the sizes of the not-shared axes only when some are shared.
        axes = {}
        if self.shared_axes:
            axes = {i: input_shape[i] for i in range(1, len(input_shape)) if i not in self.shared_axes}
        self.input_spec = InputSpec(ndim=len(input_shape), axes=axes)
        self.built = True

    def forward(self, inputs, training=False):
        xp = backend.xp
        negative = xp.minimum(inputs, inputs.dtype.type(0))  # -relu(-x)
        outputs = xp.maximum(inputs, inputs.dtype.type(0)) + self.alpha.value * negative
        return outputs, (inputs, negative)

    def backward(self, output_grads, cache):
        inputs, negative = cache
        alpha = self.alpha.value
        grads = output_grads * ((inputs > 0) + alpha * (inputs < 0))
        return (_sum_to_shape(grads, inputs.shape),
                {"alpha": _sum_to_shape(output_grads * negative, alpha.shape)})

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": self.shared_axes,
        }
