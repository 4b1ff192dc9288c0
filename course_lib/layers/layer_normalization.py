"""LayerNormalization (层归一化) and its relatives UnitNormalization, GroupNormalization (组归一化) and
RMSNormalization: Keras 3's layers, forward and backward side by side.

Each sample is normalized on its own, over the axes in ``axis`` (the features;
every other axis, the batch axis first, keeps its own statistics). With the
``N`` values of one sample on those axes:

    mu    = mean(x)                          # over the N values of the sample
    var   = mean((x - mu) ** 2)              # biased: divides by N
    r     = 1 / sqrt(var + epsilon)
    x_hat = (x - mu) * r
    y     = gamma * x_hat + beta             # Keras evaluates x * (r * gamma) + (beta - mu * r * gamma)

The same in training and inference: there are no moving statistics.

``rms_scaling=True`` (deprecated in Keras 3.15, kept for its saved models) is
NOT the RMS normalization its name suggests: Keras divides the UNCENTRED input
by the square root of the (centred) variance and has no ``beta``::

    y = gamma * x * r                        # r as above, from the centred variance

Backward, with ``g = dy * gamma`` (``g = dy`` without ``scale``), means over the
N values of each sample and sums over every other axis (the batch axes)::

    dbeta  = sum(dy)
    dgamma = sum(dy * x_hat)                 # rms_scaling: sum(dy * x * r)
    dx     = r * (g - mean(g) - x_hat * mean(g * x_hat))   # through mu and var
    dx     = r * (g - x_hat * mean(g * x * r))             # rms_scaling: through var only

GroupNormalization splits the C channels on ``axis`` into ``groups`` groups of
C // groups (a reshape ``(..., C, ...) -> (..., groups, C // groups, ...)``) and
applies the same statistics to each sample and group, over the group's
channels and every other non-batch axis; ``gamma`` and ``beta`` are per
channel, shaped (C,). The forward and the input gradient are the formulas
above with "the N values of a sample" read as "of a sample's group"
(``groups=1``: all of a sample's values; ``groups=-1``, i.e. C: each channel
over the spatial axes, instance normalization); the weight gradients sum over
the batch and the spatial axes, one entry per channel::

    dgamma[c] = sum(dy[..., c] * x_hat[..., c])     dbeta[c] = sum(dy[..., c])

RMSNormalization neither centres nor shifts. Over the N values of each sample
on ``axis``, with ``scale`` broadcast against ``x`` as it is (as Keras does)::

    r  = 1 / sqrt(mean(x ** 2) + epsilon)
    y  = x * r * scale
    g  = dy * scale
    dx = r * (g - (x * r) * mean(g * x * r))         # through r
    dscale = sum(dy * x * r)                          # over the axes scale was broadcast along

UnitNormalization divides each sample by its L2 norm over ``axis``, with
Keras's fixed floor ``epsilon = 1e-12`` on the norm::

    s  = min(1 / sqrt(sum(x ** 2)), 1 / epsilon)
    y  = x * s
    dx = s * (dy - y * sum(dy * y))                  # the norm above epsilon
    dx = s * dy                                       # a norm below it: s is the constant 1 / epsilon
"""
from __future__ import annotations

import warnings

from course_lib import backend, constraints, initializers, regularizers
from course_lib.layers.base import InputSpec, Layer
from course_lib.layers.noise_and_normalization import _sum_to_shape
from course_lib.layers.normalization import _check_axis, _check_float

_RMS_SCALING_WARNING = (
    "You passed `rms_scaling=True`, which is deprecated. This argument incorrectly scales the input by the "
    "variance, not the root mean square. To correctly use RMS Normalization, please use "
    "`keras.layers.RMSNormalization` instead."
)


class LayerNormalization(Layer):
    """Normalizes each sample over its feature axes (Ba et al., 2016), then scales and shifts.

    Args:
        axis: int, or list/tuple of ints: the axis (axes) to normalize over,
            usually the features, ``-1``. The statistics are per sample and per
            position on every other axis. A list is sorted at ``build`` and an
            int becomes a one-item list there, as in Keras (so ``get_config``
            says ``-1`` before the first call and ``[-1]`` after it).
        epsilon: float >= 0 added to the variance. (Keras stores any value;
            course_lib refuses a negative one.)
        center: whether to learn the offset ``beta``.
        scale: whether to learn the factor ``gamma``.
        rms_scaling: Keras 3.15's deprecated option (it warns, as Keras does):
            ``y = gamma * x / sqrt(var + epsilon)`` with the centred variance
            and no centring of ``x``; it creates ``gamma`` even when
            ``scale=False`` and never ``beta``.
        beta_initializer, gamma_initializer: initializers of the weights
            (``"zeros"`` and ``"ones"``: the layer starts as a pure normalization).
        beta_regularizer, gamma_regularizer: penalties added to the training loss.
        beta_constraint, gamma_constraint: projections applied after each optimizer step.

    Weights, in Keras's order: ``gamma`` (with ``scale`` or ``rms_scaling``),
    ``beta`` (with ``center`` and without ``rms_scaling``), both shaped
    ``tuple(input_shape[a] for a in sorted(axis))``. Keras reshapes them to the
    input's broadcast shape, it does not transpose them: with an axis list out
    of the input's order once sorted (``[-1, 1]`` sorts as ``[-1, 1]``, a
    ``(C, A)`` weight laid onto axes ``(A, C)``) the entries land on other
    features than their index says. course_lib does the same, so weights copy
    both ways.

    Input shape:
        any rank that has the axes; the normalized axes must keep the sizes
        the layer was built with (other axes, even the rank, may change, as in
        Keras).

    Output shape:
        the input's shape.

    Dtypes, as Keras: the layer does not cast float inputs to its dtype; it
    computes in ``result_type(input dtype, float32)`` (float16 in float32),
    casts the result back to the input's dtype, then to the layer's dtype.
    A deliberate difference: integer inputs are cast to the layer's dtype and
    normalized; Keras casts its float result back to the integer dtype
    (``[1, 2, 4]`` gives ``[-1, 0, 1]`` there).

    Masks pass through unchanged (``supports_masking``); as in Keras the
    statistics do not look at the mask (with the usual ``axis=-1`` each time
    step is normalized on its own anyway).
    """

    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        where = f"LayerNormalization '{self.name}'"
        self.axis = _check_axis(where, axis)
        self.epsilon = _check_float(where, "epsilon", epsilon, "a float >= 0", lambda e: e >= 0)
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), bool(rms_scaling)
        if self.rms_scaling:
            warnings.warn(_RMS_SCALING_WARNING, UserWarning, stacklevel=2)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.gamma = self.beta = None
        self._weight_shape = None

    def build(self, input_shape):
        self._check_axes(input_shape)
        # Keras's own normalization of `axis`, visible in get_config afterwards: a sorted list.
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        shape = tuple(input_shape[a] for a in self.axis)
        if None in shape:
            raise ValueError(
                f"LayerNormalization '{self.name}': the size of the normalized axis (axes) {self.axis} "
                f"must be known to create gamma and beta. Received: input_shape={tuple(input_shape)}"
            )
        if self.scale or self.rms_scaling:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer,
                                         regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight("beta", shape, self.beta_initializer,
                                        regularizer=self.beta_regularizer, constraint=self.beta_constraint)
        self._weight_shape = shape
        self.built = True

    def forward(self, inputs, training=False):
        xp = backend.xp
        input_dtype = inputs.dtype
        x = inputs.astype(xp.result_type(input_dtype, "float32"), copy=False)  # float16 in float32
        axes, broadcast_shape = self._axes_and_broadcast_shape(x.shape)
        gamma, beta = self._param(self.gamma, broadcast_shape, x.dtype), self._param(self.beta, broadcast_shape,
                                                                                       x.dtype)
        mean, inverse_std, x_hat = _moments(x, axes, self.epsilon)
        if self.rms_scaling:
            scaled = x * inverse_std  # what gamma multiplies: the uncentred input
            outputs = scaled if gamma is None else scaled * gamma
        else:
            scaled = x_hat
            outputs = _scale_and_shift(x, mean, inverse_std, gamma, beta)
        outputs = outputs.astype(input_dtype, copy=False).astype(self.dtype, copy=False)
        return outputs, (x_hat, scaled, inverse_std, gamma, axes, input_dtype)

    def backward(self, output_grads, cache):
        xp = backend.xp
        x_hat, scaled, inverse_std, gamma, axes, input_dtype = cache
        dy = output_grads.astype(x_hat.dtype, copy=False)
        g = dy if gamma is None else dy * gamma
        if self.rms_scaling:
            dx = inverse_std * (g - x_hat * xp.mean(g * scaled, axis=axes, keepdims=True))
        else:
            dx = _centred_input_grad(g, x_hat, inverse_std, axes)
        batch_axes = tuple(i for i in range(dy.ndim) if i not in axes)
        grads = {}
        if self.gamma is not None:
            grads["gamma"] = self._weight_grad(xp.sum(dy * scaled, axis=batch_axes, keepdims=True), self.gamma)
        if self.beta is not None:
            grads["beta"] = self._weight_grad(xp.sum(dy, axis=batch_axes, keepdims=True), self.beta)
        return dx.astype(input_dtype, copy=False), grads

    # ------------------------------------------------------------- helpers
    def _autocast(self, value):
        # As Keras (autocast=False): float inputs keep their dtype. Integers become the layer's floats.
        if isinstance(value, list) or value.dtype.kind == "f":
            return value
        return value.astype(self.dtype)

    def _axes_and_broadcast_shape(self, shape):
        """The normalized axes as non-negative ints, and the shape gamma and beta are reshaped to."""
        return _axes_and_broadcast_shape(self.axis, shape)

    @staticmethod
    def _param(variable, broadcast_shape, dtype):
        """A weight reshaped (never transposed, as Keras does) onto the input's axes, or None."""
        if variable is None:
            return None
        return variable.value.astype(dtype, copy=False).reshape(broadcast_shape)

    @staticmethod
    def _weight_grad(summed, variable):
        return summed.reshape(variable.shape).astype(variable.dtype, copy=False)

    def _check_axes(self, input_shape):
        """Every axis inside the input's rank, none twice."""
        _check_axes(f"LayerNormalization '{self.name}'", self.axis, input_shape)

    def _check_input(self, shapes):
        if isinstance(shapes, list):
            raise TypeError(f"LayerNormalization '{self.name}' takes one input. Received: {len(shapes)} inputs")
        self._check_axes(shapes)
        if self._weight_shape is None or (self.gamma is None and self.beta is None):
            return  # without weights, Keras normalizes inputs of any size
        sizes = tuple(shapes[a] for a in self.axis)
        if any(s is not None and s != w for s, w in zip(sizes, self._weight_shape)):
            raise ValueError(
                f"LayerNormalization '{self.name}': the normalized axes {self.axis} must have the sizes "
                f"{self._weight_shape} the layer was built with (the shape of gamma and beta). "
                f"Received: input with shape {tuple(shapes)}"
            )

    def compute_output_shape(self, input_shape):
        self._check_axes(input_shape)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            axis=self.axis, epsilon=self.epsilon, center=self.center, scale=self.scale,
            rms_scaling=self.rms_scaling,
            **_gamma_beta_config(self),
        )
        return config


# ------------------------------------------------ shared by the layers of this module
def _gamma_beta_config(layer):
    """The initializers, regularizers and constraints of ``gamma`` and ``beta``, as Keras's configs write them."""
    return dict(
        beta_initializer=initializers.serialize(layer.beta_initializer),
        gamma_initializer=initializers.serialize(layer.gamma_initializer),
        beta_regularizer=regularizers.serialize(layer.beta_regularizer),
        gamma_regularizer=regularizers.serialize(layer.gamma_regularizer),
        beta_constraint=constraints.serialize(layer.beta_constraint),
        gamma_constraint=constraints.serialize(layer.gamma_constraint),
    )


def _check_axes(where, axis, input_shape):
    """Every axis in ``axis`` (an int, a list or a tuple) inside the input's rank, none twice."""
    rank = len(input_shape)
    given = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    for a in given:
        if not -rank <= a < rank:
            raise ValueError(
                f"{where}: axis {a} is out of bounds for an input of rank {rank}: expected "
                f"-{rank} <= axis < {rank}. Received: axis={axis}, input_shape={tuple(input_shape)}"
            )
    if len({a % rank for a in given}) != len(given):
        raise ValueError(f"{where}: axis lists the same axis twice for an input of rank {rank}. Received: axis={axis}")


def _axes_and_broadcast_shape(axis, shape):
    """The axes of ``axis`` as sorted non-negative ints, and ``shape`` with every other axis set to 1."""
    rank = len(shape)
    given = axis if isinstance(axis, (list, tuple)) else [axis]
    axes = tuple(sorted(a % rank for a in given))
    return axes, tuple(shape[i] if i in axes else 1 for i in range(rank))


def _moments(x, axes, epsilon):
    """``(mean, 1 / sqrt(var + epsilon), x_hat)`` over ``axes`` (kept as size 1); the variance is biased."""
    xp = backend.xp
    mean = xp.mean(x, axis=axes, keepdims=True)
    variance = xp.mean(xp.square(x - mean), axis=axes, keepdims=True)  # biased: divides by N
    inverse_std = 1 / xp.sqrt(variance + epsilon)
    return mean, inverse_std, (x - mean) * inverse_std


def _scale_and_shift(x, mean, inverse_std, gamma, beta):
    """``gamma * x_hat + beta`` in Keras's order of operations (so that float32 rounds alike):
    ``x * inv + (beta - mean * inv)`` with ``inv = inverse_std * gamma``; ``gamma``/``beta`` may be None."""
    inv = inverse_std if gamma is None else inverse_std * gamma
    shift = -mean * inv
    return x * inv + (shift if beta is None else shift + beta)


def _centred_input_grad(g, x_hat, inverse_std, axes):
    """``dx`` of ``x_hat`` (through the mean and the variance) from ``g = dy * gamma``."""
    xp = backend.xp
    return inverse_std * (g - xp.mean(g, axis=axes, keepdims=True)
                          - x_hat * xp.mean(g * x_hat, axis=axes, keepdims=True))


# ------------------------------------------------------------------ UnitNormalization
class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over the axes in ``axis`` (Keras's ``ops.normalize``, order 2).

    ``y = x * min(1 / sqrt(sum(x ** 2)), 1 / epsilon)`` with Keras's fixed
    ``epsilon = 1e-12``: a (nearly) zero sample, whose norm is below ``1e-12``,
    is multiplied by ``1e12`` instead of being divided by its norm (a zero
    sample stays zero).

    Args:
        axis: int, or list/tuple of ints: the axis (axes) whose values form one
            vector, usually the features, ``-1``. Kept as given (a tuple becomes
            a list; no sorting), as in Keras.

    No weights. Input shape: any rank that has the axes. Output shape: the
    input's shape.

    Dtypes, as Keras: float inputs are cast to the layer's dtype and computed
    in it. A deliberate difference: integer inputs are cast to the layer's
    dtype and normalized; Keras raises (its ``rsqrt`` takes no integers).

    Masks pass through unchanged (``supports_masking``); the norms do not look
    at the mask.
    """

    supports_masking = True
    epsilon = 1e-12  # Keras's, fixed: not an argument and not in the config

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _check_axis(f"UnitNormalization '{self.name}'", axis)

    def forward(self, inputs, training=False):
        xp = backend.xp
        axes, _ = _axes_and_broadcast_shape(self.axis, inputs.shape)
        square_sum = xp.sum(xp.square(inputs), axis=axes, keepdims=True)
        # min(rsqrt(s), 1 / epsilon) is rsqrt(max(s, epsilon ** 2)), without a division by zero.
        unclipped = square_sum > self.epsilon ** 2
        inverse_norm = 1 / xp.sqrt(xp.maximum(square_sum, self.epsilon ** 2))
        outputs = inputs * inverse_norm
        return outputs, (outputs, inverse_norm, unclipped, axes)

    def backward(self, output_grads, cache):
        xp = backend.xp
        outputs, inverse_norm, unclipped, axes = cache
        dy = output_grads.astype(outputs.dtype, copy=False)
        # Where the norm was clipped, the factor is the constant 1 / epsilon: no gradient through the norm.
        through_norm = xp.where(unclipped, outputs * xp.sum(dy * outputs, axis=axes, keepdims=True), 0)
        return inverse_norm * (dy - through_norm), {}

    def _check_input(self, shapes):
        if isinstance(shapes, list):
            raise TypeError(f"UnitNormalization '{self.name}' takes one input. Received: {len(shapes)} inputs")
        _check_axes(f"UnitNormalization '{self.name}'", self.axis, shapes)

    def compute_output_shape(self, input_shape):
        _check_axes(f"UnitNormalization '{self.name}'", self.axis, input_shape)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis)
        return config


# ------------------------------------------------------------------ GroupNormalization
class GroupNormalization(Layer):
    """Normalizes each sample over groups of channels (Wu & He, 2018), then scales and shifts per channel.

    The ``C`` channels on ``axis`` are split into ``groups`` consecutive groups
    of ``C // groups``; each sample's statistics are taken over one group's
    channels and every other non-batch axis (the spatial positions).
    ``groups=1`` is a layer normalization over all the non-batch axes with a
    per-channel ``gamma``; ``groups=-1`` (one group per channel, set to ``C`` at
    ``build`` as in Keras, so ``get_config`` says ``C`` afterwards) is instance
    normalization.

    Args:
        groups: int >= 1, or -1: the number of groups; it must divide the number
            of channels. Keras's default, 32.
        axis: int: the channels axis, ``-1`` (channels last) or ``1``
            (channels first). Not the batch axis. (Keras's docstring speaks of
            lists, but its ``build`` only takes an int.)
        epsilon: float >= 0 added to the variance. (Keras stores any value;
            course_lib refuses a negative one.)
        center: whether to learn the offset ``beta``.
        scale: whether to learn the factor ``gamma``.
        beta_initializer, gamma_initializer: initializers of the weights
            (``"zeros"`` and ``"ones"``).
        beta_regularizer, gamma_regularizer: penalties added to the training loss.
        beta_constraint, gamma_constraint: projections applied after each optimizer step.

    Weights, in Keras's order: ``gamma`` (with ``scale``), ``beta`` (with
    ``center``), both shaped ``(C,)``.

    Input shape:
        any rank >= 2; once built, the rank and the number of channels are fixed
        (Keras's ``InputSpec``).

    Output shape:
        the input's shape.

    Dtypes, as Keras: float inputs keep their dtype (no autocast), the maths is
    in ``result_type(input dtype, float32)``, the result is cast back to the
    input's dtype, then to the layer's. A deliberate difference, as for
    LayerNormalization: integer inputs are cast to the layer's dtype and
    normalized; Keras truncates its float result back to integers.

    Masks pass through unchanged (``supports_masking``); as in Keras the
    statistics do not look at the mask.
    """

    supports_masking = True

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        where = f"GroupNormalization '{self.name}'"
        if isinstance(groups, bool) or not isinstance(groups, int) or (groups <= 0 and groups != -1):
            raise ValueError(
                f"{where}: groups must be a positive int (or -1 for instance normalization). "
                f"Received: groups={groups!r}"
            )
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"{where}: axis must be an int (the channels axis). Received: axis={axis!r}")
        self.groups, self.axis = groups, axis
        self.epsilon = _check_float(where, "epsilon", epsilon, "a float >= 0", lambda e: e >= 0)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.gamma = self.beta = None

    _autocast = LayerNormalization._autocast  # float inputs keep their dtype; integers become floats

    def build(self, input_shape):
        where = f"GroupNormalization '{self.name}'"
        if isinstance(input_shape, list):
            raise TypeError(f"{where} takes one input. Received: {len(input_shape)} inputs")
        input_shape = tuple(input_shape)
        _check_axes(where, self.axis, input_shape)
        if self.axis % len(input_shape) == 0:
            raise ValueError(
                f"{where}: axis {self.axis} is the batch axis; expected the channels axis (-1 or 1, "
                f"say). Received: axis={self.axis}, input_shape={input_shape}"
            )
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(
                f"{where}: axis {self.axis} (the channels) must have a known size to create gamma and "
                f"beta. Received: input_shape={input_shape}"
            )
        if self.groups == -1:
            self.groups = channels  # instance normalization; Keras's config says so after build
        if self.groups > channels or channels % self.groups:
            raise ValueError(
                f"{where}: groups must divide the number of channels (axis {self.axis}, {channels}): "
                f"expected groups <= {channels} and {channels} % groups == 0. Received: groups={self.groups}, "
                f"input_shape={input_shape}"
            )
        self.input_spec = InputSpec(ndim=len(input_shape), axes={self.axis: channels})
        if self.scale:
            self.gamma = self.add_weight("gamma", (channels,), self.gamma_initializer,
                                         regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", (channels,), self.beta_initializer,
                                        regularizer=self.beta_regularizer, constraint=self.beta_constraint)
        self.built = True

    def _grouped(self, shape):
        """The shape with the channels split into (groups, channels // groups), the split axis, the
        statistics' axes (all but the batch and the groups) and the weights' broadcast shape."""
        axis = self.axis % len(shape)
        group_shape = tuple(shape[:axis]) + (self.groups, shape[axis] // self.groups) + tuple(shape[axis + 1:])
        reduction = tuple(i for i in range(1, len(group_shape)) if i != axis)
        broadcast = tuple(group_shape[i] if i in (axis, axis + 1) else 1 for i in range(len(group_shape)))
        return group_shape, axis, reduction, broadcast

    def forward(self, inputs, training=False):
        xp = backend.xp
        input_dtype = inputs.dtype
        x = inputs.astype(xp.result_type(input_dtype, "float32"), copy=False)  # float16 in float32
        group_shape, axis, reduction, broadcast = self._grouped(x.shape)
        grouped = x.reshape(group_shape)
        gamma = LayerNormalization._param(self.gamma, broadcast, x.dtype)
        beta = LayerNormalization._param(self.beta, broadcast, x.dtype)
        mean, inverse_std, x_hat = _moments(grouped, reduction, self.epsilon)
        outputs = _scale_and_shift(grouped, mean, inverse_std, gamma, beta).reshape(x.shape)
        outputs = outputs.astype(input_dtype, copy=False).astype(self.dtype, copy=False)
        return outputs, (x_hat, inverse_std, gamma, axis, reduction, input_dtype)

    def backward(self, output_grads, cache):
        xp = backend.xp
        x_hat, inverse_std, gamma, axis, reduction, input_dtype = cache
        dy = output_grads.astype(x_hat.dtype, copy=False).reshape(x_hat.shape)
        g = dy if gamma is None else dy * gamma
        dx = _centred_input_grad(g, x_hat, inverse_std, reduction)
        weight_axes = tuple(i for i in range(dy.ndim) if i not in (axis, axis + 1))  # all but the channels
        grads = {}
        if self.gamma is not None:
            grads["gamma"] = LayerNormalization._weight_grad(
                xp.sum(dy * x_hat, axis=weight_axes, keepdims=True), self.gamma)
        if self.beta is not None:
            grads["beta"] = LayerNormalization._weight_grad(xp.sum(dy, axis=weight_axes, keepdims=True), self.beta)
        shape = x_hat.shape[:axis] + (x_hat.shape[axis] * x_hat.shape[axis + 1],) + x_hat.shape[axis + 2:]
        return dx.reshape(shape).astype(input_dtype, copy=False), grads

    def _check_input(self, shapes):
        if isinstance(shapes, list):
            raise TypeError(f"GroupNormalization '{self.name}' takes one input. Received: {len(shapes)} inputs")
        super()._check_input(shapes)  # the InputSpec: the rank and the channels it was built with

    def compute_output_shape(self, input_shape):
        _check_axes(f"GroupNormalization '{self.name}'", self.axis, input_shape)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            groups=self.groups, axis=self.axis, epsilon=self.epsilon, center=self.center, scale=self.scale,
            **_gamma_beta_config(self),
        )
        return config


# ------------------------------------------------------------------ RMSNormalization
class RMSNormalization(Layer):
    """Divides each sample by its root mean square over ``axis`` (Zhang & Sennrich, 2019), then scales it.

    ``y = x / sqrt(mean(x ** 2) + epsilon) * scale``: no centring and no offset.

    Args:
        axis: int, or list/tuple of ints: the axis (axes) of the mean, usually
            ``-1``. As in Keras, it becomes a sorted list at ``build`` (an int a
            one-item list), so ``get_config`` says ``[-1]`` after the first call.
        epsilon: float >= 0 added to the mean square (Keras's default 1e-6).
            (Keras stores any value; course_lib refuses a negative one.)

    Weight: ``scale``, initialized to ones, shaped
    ``tuple(input_shape[a] for a in sorted(axis))``.

    Keras multiplies the normalized input by ``scale`` as it is, by NumPy's
    broadcasting (trailing axes first), not reshaped onto ``axis``: with the
    trailing axes (``-1``, or ``[1, 2]`` of a rank-3 input) that is the
    intended per-feature scale; with other axes ``scale`` lands on the
    trailing ones. course_lib does the same, so the numbers and the weights
    match Keras's; an input that ``scale`` does not broadcast against (which
    Keras refuses at its multiplication) is refused with the shapes named.

    Input shape: any rank that has the axes. Output shape: the input's shape.

    Dtypes, as Keras: float inputs are cast to the layer's dtype; the maths is
    in ``result_type(dtype, float32)`` and the result is cast back. A
    deliberate difference, as for LayerNormalization: integer inputs are
    cast to the layer's dtype and normalized; Keras casts its float result
    back to the integer dtype.

    As in Keras 3.15 the layer does not support masking: a mask reaching it
    is dropped (with course_lib's warning).
    """

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        where = f"RMSNormalization '{self.name}'"
        _check_axis(where, axis)
        self.axis = axis  # as given (a tuple stays a tuple in get_config, as in Keras) until build sorts it
        self.epsilon = _check_float(where, "epsilon", epsilon, "a float >= 0", lambda e: e >= 0)
        self.scale = None

    def build(self, input_shape):
        where = f"RMSNormalization '{self.name}'"
        if isinstance(input_shape, list):
            raise TypeError(f"{where} takes one input. Received: {len(input_shape)} inputs")
        _check_axes(where, self.axis, input_shape)
        self.axis = sorted(self.axis) if isinstance(self.axis, (list, tuple)) else [self.axis]
        shape = tuple(input_shape[a] for a in self.axis)
        if None in shape:
            raise ValueError(
                f"{where}: the size of the normalized axis (axes) {self.axis} must be known to create "
                f"scale. Received: input_shape={tuple(input_shape)}"
            )
        self.scale = self.add_weight("scale", shape, "ones")
        self.built = True

    def forward(self, inputs, training=False):
        xp = backend.xp
        input_dtype = inputs.dtype
        x = inputs.astype(xp.result_type(input_dtype, "float32"), copy=False)  # float16 in float32
        axes, _ = _axes_and_broadcast_shape(self.axis, x.shape)
        scale = self.scale.value.astype(x.dtype, copy=False)  # broadcast as it is, as Keras does
        inverse_rms = 1 / xp.sqrt(xp.mean(xp.square(x), axis=axes, keepdims=True) + self.epsilon)
        scaled = x * inverse_rms
        outputs = (scaled * scale).astype(input_dtype, copy=False)
        return outputs, (scaled, inverse_rms, scale, axes, input_dtype)

    def backward(self, output_grads, cache):
        xp = backend.xp
        scaled, inverse_rms, scale, axes, input_dtype = cache
        dy = output_grads.astype(scaled.dtype, copy=False)
        g = dy * scale
        dx = inverse_rms * (g - scaled * xp.mean(g * scaled, axis=axes, keepdims=True))
        grads = {"scale": _sum_to_shape(dy * scaled, self.scale.shape).astype(self.scale.dtype, copy=False)}
        return dx.astype(input_dtype, copy=False), grads

    def _check_input(self, shapes):
        where = f"RMSNormalization '{self.name}'"
        if isinstance(shapes, list):
            raise TypeError(f"{where} takes one input. Received: {len(shapes)} inputs")
        _check_axes(where, self.axis, shapes)
        if self.scale is None:
            return
        shape, trailing = self.scale.shape, tuple(shapes)[len(shapes) - len(self.scale.shape):]
        if len(shape) > len(shapes) or any(s != 1 and t is not None and s != t for s, t in zip(shape, trailing)):
            raise ValueError(
                f"{where}: scale, of shape {shape}, multiplies the input by broadcasting (trailing axes "
                f"first, as in Keras), so the input's last {len(shape)} axes must have the sizes {shape}. "
                f"Received: axis={self.axis}, input with shape {tuple(shapes)}"
            )

    def compute_output_shape(self, input_shape):
        _check_axes(f"RMSNormalization '{self.name}'", self.axis, input_shape)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, epsilon=self.epsilon)
        return config
