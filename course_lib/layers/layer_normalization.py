"""LayerNormalization (层归一化): Keras 3's layer, forward and backward side by side.

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
"""
from __future__ import annotations

import warnings

from course_lib import backend, constraints, initializers, regularizers
from course_lib.layers.base import Layer
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
        mean = xp.mean(x, axis=axes, keepdims=True)
        variance = xp.mean(xp.square(x - mean), axis=axes, keepdims=True)  # biased: divides by N
        inverse_std = 1 / xp.sqrt(variance + self.epsilon)
        x_hat = (x - mean) * inverse_std
        if self.rms_scaling:
            scaled = x * inverse_std  # what gamma multiplies: the uncentred input
            outputs = scaled if gamma is None else scaled * gamma
        else:
            scaled = x_hat
            # Keras's order of operations (so that float32 rounds alike): x * inv + (beta - mu * inv).
            inv = inverse_std if gamma is None else inverse_std * gamma
            shift = -mean * inv
            outputs = x * inv + (shift if beta is None else shift + beta)
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
            dx = inverse_std * (g - xp.mean(g, axis=axes, keepdims=True)
                                - x_hat * xp.mean(g * x_hat, axis=axes, keepdims=True))
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
        rank = len(shape)
        given = self.axis if isinstance(self.axis, list) else [self.axis]
        axes = tuple(sorted(a % rank for a in given))
        return axes, tuple(shape[i] if i in axes else 1 for i in range(rank))

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
        rank = len(input_shape)
        given = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in given:
            if not -rank <= a < rank:
                raise ValueError(
                    f"LayerNormalization '{self.name}': axis {a} is out of bounds for an input of rank "
                    f"{rank}: expected -{rank} <= axis < {rank}. Received: axis={self.axis}, "
                    f"input_shape={tuple(input_shape)}"
                )
        if len({a % rank for a in given}) != len(given):
            raise ValueError(
                f"LayerNormalization '{self.name}': axis lists the same axis twice for an input of "
                f"rank {rank}. Received: axis={self.axis}"
            )

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
            beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            beta_regularizer=regularizers.serialize(self.beta_regularizer),
            gamma_regularizer=regularizers.serialize(self.gamma_regularizer),
            beta_constraint=constraints.serialize(self.beta_constraint),
            gamma_constraint=constraints.serialize(self.gamma_constraint),
        )
        return config
