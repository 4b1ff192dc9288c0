"""BatchNormalization (批归一化): Keras 3's layer, forward and backward side by side.

For each feature ``c`` (a position on ``axis``), with the ``N`` values of ``c``
in a batch (every other axis is reduced):

Training (``training=True`` and the layer trainable), batch statistics::

    mu    = mean(x)                          # over the N values
    var   = mean((x - mu) ** 2)              # biased: divides by N
    x_hat = (x - mu) / sqrt(var + epsilon)
    y     = gamma * x_hat + beta
    moving_mean     = moving_mean * momentum     + mu  * (1 - momentum)
    moving_variance = moving_variance * momentum + var * (1 - momentum)

Inference (``training=False``, or a frozen layer: Keras 3 runs a
``trainable=False`` BatchNormalization in inference mode even when
``training=True``): the same ``y`` with ``mu, var = moving_mean,
moving_variance``, and no update.

Backward, with ``s = gamma / sqrt(var + epsilon)`` and sums over the N values::

    dbeta  = sum(dy)
    dgamma = sum(dy * x_hat)
    dx     = s * dy                                               # inference: an affine map
    dx     = s / N * (N * dy - sum(dy) - x_hat * sum(dy * x_hat))  # training: through mu and var
"""
from __future__ import annotations

from course_lib import backend, constraints, initializers, regularizers
from course_lib.layers.base import InputSpec, Layer
from course_lib.layers.core import _not_yet_supported


class BatchNormalization(Layer):
    """Normalizes each feature with batch statistics while training, moving averages at inference.

    Args:
        axis: int or list of ints, the feature axis (axes) that keep their own
            statistics: -1 after Dense or a channels_last convolution, 1 after
            a channels_first one. (Keras 3 takes an int only; a list is
            course_lib's addition, and such a config does not load in Keras.)
        momentum: float in [0, 1], the moving averages' momentum.
        epsilon: float >= 0 added to the variance.
        center, scale: whether to learn ``beta`` / ``gamma``.
        beta_initializer, gamma_initializer, moving_mean_initializer,
            moving_variance_initializer: initializers of the four weights.
        beta_regularizer, gamma_regularizer: penalties on beta / gamma added to
            the training loss (see :mod:`course_lib.regularizers`).
        beta_constraint, gamma_constraint: projections applied to beta / gamma
            after each optimizer step (see :mod:`course_lib.constraints`).

    Weights, in Keras's order: ``gamma``, ``beta`` (trainable, when ``scale`` /
    ``center``), ``moving_mean``, ``moving_variance`` (non-trainable), each
    shaped like the feature axes. Input and output shapes are the same.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        where = f"BatchNormalization '{self.name}'"
        _not_yet_supported(where, renorm=renorm or None, renorm_clipping=renorm_clipping,
                           renorm_momentum=None if renorm_momentum == 0.99 else renorm_momentum,
                           synchronized=synchronized or None)  # one device: nothing to synchronize
        self.axis = _check_axis(where, axis)
        self.momentum = _check_float(where, "momentum", momentum, "a float in [0, 1]", lambda m: 0 <= m <= 1)
        self.epsilon = _check_float(where, "epsilon", epsilon, "a float >= 0", lambda e: e >= 0)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def build(self, input_shape):
        features = self._feature_axes(input_shape)
        shape = tuple(input_shape[a] for a in features)
        if None in shape:
            raise ValueError(
                f"BatchNormalization '{self.name}': the size of the feature axis (axes) {self.axis} "
                f"must be known. Received: input_shape={tuple(input_shape)}"
            )
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer,
                                         regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer,
                                        regularizer=self.beta_regularizer, constraint=self.beta_constraint)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, self.moving_variance_initializer,
                                               trainable=False)
        rank = len(input_shape)
        self._reduction_axes = tuple(i for i in range(rank) if i not in features)
        self._broadcast_shape = tuple(input_shape[i] if i in features else 1 for i in range(rank))
        given = self.axis if isinstance(self.axis, list) else [self.axis]
        self.input_spec = InputSpec(ndim=rank, axes={a: input_shape[a] for a in given})
        self.built = True

    def forward(self, inputs, training=False):
        xp, axes = backend.xp, self._reduction_axes
        x = inputs.astype(self._compute_dtype(), copy=False)  # float16 is computed in float32, as in Keras
        gamma, beta = self._param(self.gamma, absent=1), self._param(self.beta, absent=0)
        batch_statistics = bool(training) and self.trainable  # a frozen layer runs in inference mode
        if batch_statistics:
            mean = xp.mean(x, axis=axes, keepdims=True)
            variance = xp.mean(xp.square(x - mean), axis=axes, keepdims=True)  # biased: divides by N
            self._update(self.moving_mean, mean)
            self._update(self.moving_variance, variance)
        else:
            mean, variance = self._param(self.moving_mean), self._param(self.moving_variance)
        inverse_std = 1 / xp.sqrt(variance + self.epsilon)
        x_hat = (x - mean) * inverse_std
        outputs = gamma * x_hat + beta
        # The cache: x_hat, s = gamma / sqrt(var + epsilon), and which backward pass applies.
        return outputs.astype(self.dtype, copy=False), (x_hat, gamma * inverse_std, batch_statistics)

    def backward(self, output_grads, cache):
        xp, axes = backend.xp, self._reduction_axes
        x_hat, s, batch_statistics = cache
        dy = output_grads.astype(x_hat.dtype, copy=False)
        sum_dy = xp.sum(dy, axis=axes, keepdims=True)
        sum_dy_x_hat = xp.sum(dy * x_hat, axis=axes, keepdims=True)
        if batch_statistics:
            n = x_hat.size // sum_dy.size  # N: the values behind each feature's statistics
            dx = s / n * (n * dy - sum_dy - x_hat * sum_dy_x_hat)
        else:
            dx = s * dy
        grads = {}
        if self.scale:
            grads["gamma"] = self._weight_grad(sum_dy_x_hat, self.gamma)
        if self.center:
            grads["beta"] = self._weight_grad(sum_dy, self.beta)
        return dx.astype(self.dtype, copy=False), grads

    # ------------------------------------------------------------- helpers
    def _compute_dtype(self):
        return backend.xp.result_type(self.dtype, "float32")

    def _param(self, variable, absent=None):
        """A weight reshaped to broadcast against the input, in the compute dtype (``absent`` without it)."""
        if variable is None:
            return absent
        return variable.value.reshape(self._broadcast_shape).astype(self._compute_dtype(), copy=False)

    def _update(self, variable, batch_value):
        """``moving = moving * momentum + batch * (1 - momentum)``, in place (Keras's order and dtype)."""
        dtype = batch_value.dtype.type
        moving = self._param(variable)
        new = moving * dtype(self.momentum) + batch_value * dtype(1.0 - self.momentum)
        variable.assign(new.reshape(variable.shape).astype(variable.dtype, copy=False))

    @staticmethod
    def _weight_grad(summed, variable):
        return summed.reshape(variable.shape).astype(variable.dtype, copy=False)

    def _feature_axes(self, input_shape):
        """The feature axes as sorted non-negative ints, checked against the input's rank."""
        rank = len(input_shape)
        given = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in given:
            if not -rank <= a < rank:
                raise ValueError(
                    f"BatchNormalization '{self.name}': axis {a} is out of range for an input of rank "
                    f"{rank}: expected -{rank} <= axis < {rank}. Received: axis={self.axis}, "
                    f"input_shape={tuple(input_shape)}"
                )
        features = sorted(a % rank for a in given)
        if len(set(features)) != len(features):
            raise ValueError(
                f"BatchNormalization '{self.name}': axis lists the same axis twice for an input of "
                f"rank {rank}. Received: axis={self.axis}"
            )
        return features

    def compute_output_shape(self, input_shape):
        self._feature_axes(input_shape)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            axis=self.axis, momentum=self.momentum, epsilon=self.epsilon, center=self.center,
            scale=self.scale,
            beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            moving_mean_initializer=initializers.serialize(self.moving_mean_initializer),
            moving_variance_initializer=initializers.serialize(self.moving_variance_initializer),
            beta_regularizer=regularizers.serialize(self.beta_regularizer),
            gamma_regularizer=regularizers.serialize(self.gamma_regularizer),
            beta_constraint=constraints.serialize(self.beta_constraint),
            gamma_constraint=constraints.serialize(self.gamma_constraint),
            synchronized=False, renorm=False, renorm_clipping=None, renorm_momentum=0.99,
        )
        return config


def _check_axis(where, axis):
    """An int stays an int (Keras's form); a list or tuple of ints becomes a list."""
    items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if not items or any(isinstance(a, bool) or not isinstance(a, int) for a in items):
        raise TypeError(
            f"{where}: axis must be an int or a non-empty list of ints. Received: axis={axis!r}"
        )
    return items if isinstance(axis, (list, tuple)) else axis


def _check_float(where, argument, value, expected, valid):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not valid(value):
        raise ValueError(f"{where}: {argument} must be {expected}. Received: {argument}={value!r}")
    return float(value)
