"""Small Keras 3 layers: ReLU, the noise layers and Normalization, forward and backward side by side.

- :class:`ReLU` (线性整流层): ``activations.relu`` with Keras's three options;
  forward and backward are the activation's own.
- :class:`GaussianNoise` (高斯噪声) adds ``stddev * z``, :class:`GaussianDropout`
  (高斯丢弃) multiplies by ``1 + sqrt(rate / (1 - rate)) * z``, with ``z`` standard
  normal, drawn at each training call from ``backend.rng()`` (or the layer's own
  generator when it has a ``seed``); the backward pass uses that same draw. At
  inference both are the identity.
- :class:`SpatialDropout1D` / ``2D`` / ``3D`` (空间随机失活) are :class:`Dropout` whose
  mask has Keras's noise shape: one draw per sample and channel, shared by every
  step / pixel / voxel of that channel, kept channels scaled by ``1 / (1 - rate)``.
- :class:`Normalization` (标准化): ``(x - mean) / max(sqrt(variance), epsilon)``
  with Keras's ``epsilon()`` (1e-7), statistics from ``adapt(data)`` or given;
  ``invert=True`` maps back, ``mean + x * max(sqrt(variance), epsilon)``. The
  backward pass divides (multiplies, inverted) by that same standard deviation.

Random draws are made on the host generator and moved once, as
``backend.random_uniform`` does, so a seed gives the same numbers on every backend.
A test can pin them by setting a layer's ``_rng`` to a generator of its own.
"""
from __future__ import annotations

import math
import numbers

from course_lib import activations, backend
from course_lib.layers.base import InputSpec, Layer
from course_lib.layers.core import Dropout
from course_lib.ops.arguments import check_data_format


def _check_rate(where, argument, value):
    """A real number in [0, 1] (Keras's test), or a TypeError / ValueError naming ``where``."""
    backend.check_real(where, argument, value)
    if not 0 <= value <= 1:
        raise ValueError(
            f"{where}: {argument} must be a float in the range [0, 1]. Received: {argument}={value!r}"
        )
    return value


def _check_seed(where, seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"{where}: seed must be an int or None. Received: seed={seed!r}")
    return seed


def _standard_normal(layer, shape):
    """Standard normal float64 numbers of ``shape`` from the layer's generator (or the shared one)."""
    generator = layer._rng or backend.rng()
    return backend.xp.asarray(generator.standard_normal(shape))


# ----------------------------------------------------------------------- ReLU
class ReLU(Layer):
    """Rectified linear unit as a layer (线性整流层): ``activations.relu`` with Keras's options.

    ``f(x) = max_value`` for ``x >= max_value``, ``x`` for ``threshold <= x < max_value``,
    ``negative_slope * (x - threshold)`` below ``threshold``.

    Args:
        max_value: float >= 0, the cap of the output, or None (no cap, Keras's default).
        negative_slope: float >= 0, the slope below ``threshold`` (default 0).
        threshold: float >= 0, where the unit starts passing its input (default 0).

    Input shape: any. Output shape: the same.
    """

    supports_masking = True  # as Keras: a mask passes through unchanged

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        for argument, value, allow_none in (("max_value", max_value, True),
                                            ("negative_slope", negative_slope, False),
                                            ("threshold", threshold, False)):
            backend.check_real("ReLU", argument, value, allow_none=allow_none)
            if value is not None and value < 0:
                raise ValueError(f"ReLU: {argument} must be a float >= 0. Received: {argument}={value!r}")
        super().__init__(**kwargs)
        # Kept as given, as Keras keeps them (its config says 6 for max_value=6).
        self.max_value = max_value
        self.negative_slope = negative_slope
        self.threshold = threshold

    def _options(self):
        return {"negative_slope": self.negative_slope, "max_value": self.max_value, "threshold": self.threshold}

    def forward(self, inputs, training=False):
        outputs = activations.relu(inputs, **self._options())
        return outputs, (inputs, outputs)

    def backward(self, output_grads, cache):
        inputs, outputs = cache
        return activations.relu.backward(inputs, outputs, output_grads, **self._options()), {}

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


# ---------------------------------------------------------------- Gaussian noise
class GaussianNoise(Layer):
    """Adds zero-centred Gaussian noise while training (高斯噪声); the identity at inference.

    ``y = x + stddev * z`` with ``z`` standard normal, a new draw at every
    training call. The gradient passes unchanged (the noise does not depend on x).

    Args:
        stddev: float in [0, 1] (Keras's range), the standard deviation of the noise.
        seed: int seed of the layer's own generator; None draws from ``backend.rng()``.

    Input shape: any. Output shape: the same.
    """

    supports_masking = True  # as Keras: a mask passes through unchanged

    def __init__(self, stddev, seed=None, **kwargs):
        _check_rate("GaussianNoise", "stddev", stddev)
        _check_seed("GaussianNoise", seed)
        super().__init__(**kwargs)
        self.stddev = stddev
        self.seed = seed
        self._rng = backend.rng(seed) if seed is not None else None

    def forward(self, inputs, training=False):
        if not training or self.stddev == 0:
            return inputs, None
        noise = (self.stddev * _standard_normal(self, inputs.shape)).astype(inputs.dtype)
        return inputs + noise, None

    def backward(self, output_grads, cache):
        return output_grads, {}

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """Multiplies by 1-centred Gaussian noise while training (高斯丢弃); the identity at inference.

    ``y = x * m`` with ``m = 1 + sqrt(rate / (1 - rate)) * z``, ``z`` standard
    normal, a new draw at every training call; backward: ``dx = dy * m`` with
    that same ``m``.

    Args:
        rate: float in [0, 1], the drop probability of the :class:`Dropout` this
            imitates: the noise has standard deviation ``sqrt(rate / (1 - rate))``.
            ``rate=1`` (an infinite deviation) is accepted, as Keras does, but
            refused when the layer is called in training (Keras then fails
            with a ZeroDivisionError; here it is a ValueError that says why).
        seed: int seed of the layer's own generator; None draws from ``backend.rng()``.

    Input shape: any. Output shape: the same.
    """

    supports_masking = True  # as Keras: a mask passes through unchanged

    def __init__(self, rate, seed=None, **kwargs):
        _check_rate("GaussianDropout", "rate", rate)
        _check_seed("GaussianDropout", seed)
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed
        self._rng = backend.rng(seed) if seed is not None else None

    def forward(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs, None
        if self.rate == 1:
            raise ValueError(
                f"GaussianDropout '{self.name}': rate=1 gives the noise an infinite standard deviation "
                "sqrt(rate / (1 - rate)), so the layer cannot be used in training. "
                "Expected a rate below 1. Received: rate=1"
            )
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        multiplier = (1.0 + stddev * _standard_normal(self, inputs.shape)).astype(inputs.dtype)
        return inputs * multiplier, multiplier

    def backward(self, output_grads, multiplier):
        return (output_grads if multiplier is None else output_grads * multiplier), {}

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


# --------------------------------------------------------------- spatial dropout
class _SpatialDropout(Dropout):
    """Dropout of whole channels: :class:`Dropout` with Keras's noise shape for the rank.

    ``noise_shape`` holds the pattern (``None`` takes the input's size), e.g.
    ``(None, 1, None)`` for SpatialDropout1D: the mask is ``(batch, 1, channels)``.
    Keras's own attribute is None there; its ``get_config`` has only ``rate``,
    ``seed``, ``name`` and ``dtype`` (a plain string), and ``data_format`` for 2D/3D.
    """

    _rank = None  # the input rank, with the batch axis

    def __init__(self, rate, seed=None, name=None, dtype=None, data_format="channels_last"):
        where = type(self).__name__
        _check_rate(where, "rate", rate)
        _check_seed(where, seed)
        spatial = (1,) * (self._rank - 2)
        pattern = (None, None) + spatial if data_format == "channels_first" else (None,) + spatial + (None,)
        super().__init__(float(rate), noise_shape=pattern, seed=seed, name=name, dtype=dtype)
        self.rate = rate  # as given, as Keras keeps it
        self.input_spec = InputSpec(ndim=self._rank)

    def get_config(self):
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype}


class SpatialDropout1D(_SpatialDropout):
    """Drops whole 1D feature maps (channels) while training (空间随机失活); the identity at inference.

    One keep-or-drop draw per sample and channel, shared by every time step;
    kept channels are scaled by ``1 / (1 - rate)``. Backward multiplies by the
    same mask.

    Args:
        rate: float in [0, 1], the fraction of channels to drop (``rate=1`` drops all).
        seed: int seed of the layer's own generator; None draws from ``backend.rng()``.

    Input shape: ``(batch, timesteps, channels)``. Output shape: the same.
    """

    _rank = 3

    def __init__(self, rate, seed=None, name=None, dtype=None):
        super().__init__(rate, seed=seed, name=name, dtype=dtype)


class SpatialDropout2D(_SpatialDropout):
    """Drops whole 2D feature maps (channels) while training (空间随机失活); the identity at inference.

    One keep-or-drop draw per sample and channel, shared by every pixel; kept
    channels are scaled by ``1 / (1 - rate)``. Backward multiplies by the same mask.

    Args:
        rate: float in [0, 1], the fraction of channels to drop.
        data_format: ``'channels_last'`` (None, the default: ``(batch, rows, cols, channels)``)
            or ``'channels_first'`` (``(batch, channels, rows, cols)``).
        seed: int seed of the layer's own generator; None draws from ``backend.rng()``.

    Input shape: 4D, as ``data_format`` says. Output shape: the same.
    """

    _rank = 4

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None):
        data_format = check_data_format(type(self).__name__, data_format)
        super().__init__(rate, seed=seed, name=name, dtype=dtype, data_format=data_format)
        self.data_format = data_format

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class SpatialDropout3D(SpatialDropout2D):
    """Drops whole 3D feature maps (channels) while training (空间随机失活); the identity at inference.

    One keep-or-drop draw per sample and channel, shared by every voxel; kept
    channels are scaled by ``1 / (1 - rate)``. Backward multiplies by the same mask.

    Args:
        rate: float in [0, 1], the fraction of channels to drop.
        data_format: ``'channels_last'`` (None, the default: ``(batch, d1, d2, d3, channels)``)
            or ``'channels_first'`` (``(batch, channels, d1, d2, d3)``).
        seed: int seed of the layer's own generator; None draws from ``backend.rng()``.

    Input shape: 5D, as ``data_format`` says. Output shape: the same.
    """

    _rank = 5


# ------------------------------------------------------------------ Normalization
def _sum_to_shape(grad, shape):
    """Sum ``grad`` down to ``shape``: the reverse of NumPy's broadcasting of an input against the statistics."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    axes = tuple(axis for axis, size in enumerate(shape) if size == 1 and grad.shape[axis] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def _first_batch(batch):
    """Keras's rule for a batch of an iterable: ``x`` alone, or ``x`` of ``(x, y[, sample_weight])``."""
    return batch[0] if isinstance(batch, tuple) else batch


class Normalization(Layer):
    """Shifts and scales inputs to mean 0 and standard deviation 1 per feature (标准化).

    ``y = (x - mean) / max(sqrt(variance), epsilon)`` with Keras's ``epsilon()``
    (1e-7), the statistics taken from ``adapt(data)`` or given; ``invert=True``
    computes ``mean + x * max(sqrt(variance), epsilon)``. Backward:
    ``dx = dy / max(sqrt(variance), epsilon)`` (times it, inverted); the
    statistics are not trained.

    Args:
        axis: int, tuple of ints, or None: the axes that keep a separate mean and
            variance for each index (``-1``: one per feature). None: one scalar
            mean and variance for every value.
        mean, variance: the statistics to use, given together (numbers or
            arrays broadcast to the kept axes, aligned from the right). Then the
            layer has no weights and ``adapt`` is refused.
        invert: apply the inverse transformation (turn normalized values back).

    Weights (without ``mean``/``variance``, all non-trainable, as Keras's):
    ``mean`` and ``variance`` of the kept axes' shape, and ``count`` (int64,
    a scalar Keras keeps for older saved models and never updates), so
    ``.keras`` files and ``save_weights`` round-trip with Keras's.

    Input shape: any with the kept axes known. Output shape: the same.
    """

    supports_masking = True  # as Keras: a mask passes through unchanged

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        if axis is None:
            axis = ()
        elif isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
            axis = (int(axis),)
        else:
            try:
                axis = tuple(axis)
            except TypeError:
                raise TypeError(
                    f"Normalization: axis must be an int, a tuple of ints or None. Received: axis={axis!r}"
                ) from None
            if any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axis):
                raise TypeError(
                    f"Normalization: axis must be an int, a tuple of ints or None. Received: axis={axis!r}"
                )
            axis = tuple(int(a) for a in axis)
        if (mean is None) != (variance is None):
            raise ValueError(
                "Normalization: when setting values directly, both `mean` and `variance` must be set. "
                f"Received: mean={mean!r} and variance={variance!r}"
            )
        if mean is not None:
            mean_shape = backend.as_numeric(mean, "Normalization mean").shape
            variance_shape = backend.as_numeric(variance, "Normalization variance").shape
            if mean_shape != variance_shape:
                raise ValueError(
                    "Normalization: when setting values directly, `mean` and `variance` must have the same "
                    f"shape. Received: mean shape {mean_shape} and variance shape {variance_shape}"
                )
            if len(mean_shape) > len(axis):
                raise ValueError(
                    f"Normalization: the rank of `mean` must be less than or equal to the number of axes "
                    f"({len(axis)}). Received: mean shape {mean_shape} for axis {axis}"
                )
        super().__init__(**kwargs)
        self.axis = axis
        self.input_mean = mean
        self.input_variance = variance
        self.invert = bool(invert)
        self._given = None  # (mean, variance) broadcast to the input's rank, when given

    # ---------------------------------------------------------------- build
    def build(self, input_shape):
        input_shape = tuple(input_shape)
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(
                f"Normalization '{self.name}': all `axis` values must be in the range [-ndim, ndim). "
                f"Received inputs with ndim={ndim}, while axis={self.axis}"
            )
        self._keep_axis = tuple(sorted(a % ndim for a in self.axis))
        for a in self._keep_axis:
            if input_shape[a] is None:
                raise ValueError(
                    f"Normalization '{self.name}': all `axis` values to be kept must have a known size. "
                    f"Received axis={self.axis}, inputs.shape={input_shape}, with unknown axis at index {a}"
                )
        self._reduce_axis = tuple(a for a in range(ndim) if a not in self._keep_axis)
        self._broadcast_shape = tuple(input_shape[a] if a in self._keep_axis else 1 for a in range(ndim))
        self._mean_and_var_shape = tuple(input_shape[a] for a in self._keep_axis)
        self._build_input_shape = list(input_shape)
        if self.input_mean is None:
            # Keras's attribute names for the three Variables.
            self.adapt_mean = self.add_weight("mean", self._mean_and_var_shape, "zeros", trainable=False)
            self.adapt_variance = self.add_weight("variance", self._mean_and_var_shape, "ones", trainable=False)
            self.count = self.add_weight("count", (), "zeros", trainable=False, dtype="int64")
        else:
            self._given = tuple(self._broadcast_given(value) for value in (self.input_mean, self.input_variance))
        self.built = True

    def _broadcast_given(self, value):
        """Keras's placing of a given mean/variance: a scalar everywhere, else aligned right onto the kept axes."""
        xp = backend.xp
        value = backend.to_array(value, self.dtype, "Normalization")
        expanded = [1] * len(self._broadcast_shape)
        for i in range(1, value.ndim + 1):
            expanded[self._keep_axis[-i]] = value.shape[-i]
        try:
            return xp.broadcast_to(value.reshape(expanded), self._broadcast_shape)
        except ValueError:
            raise ValueError(
                f"Normalization '{self.name}': the given mean/variance of shape {value.shape} cannot be "
                f"broadcast to the kept axes {self._keep_axis} of shape {self._mean_and_var_shape}."
            ) from None

    @property
    def mean(self):
        """The mean in use, broadcast to the input's rank (None before build)."""
        return self._statistic(0, "mean")

    @property
    def variance(self):
        """The variance in use, broadcast to the input's rank (None before build)."""
        return self._statistic(1, "variance")

    def _statistic(self, index, name):
        if not self.built:
            return None
        if self._given is not None:
            return self._given[index]
        return self._params[name].reshape(self._broadcast_shape)

    # ---------------------------------------------------------------- adapt
    def adapt(self, data):
        """Compute the mean and variance of ``data`` over every axis but ``axis`` (Keras's ``adapt``).

        Args:
            data: an array (the whole data set), or an iterable of batches
                (a list of arrays, a generator, a :class:`~course_lib.utils.PyDataset`);
                a batch that is a tuple ``(x, y[, sample_weight])`` contributes ``x``.
                As in Keras, a list is a list of BATCHES, not one array.

        An array's statistics are ``mean(data)`` and the biased ``var(data)``
        over the reduced axes; batches are combined as Keras does, by running
        weighted means (the lack-of-fit sum of squares), in the layer's dtype.
        """
        if self.input_mean is not None:
            raise ValueError(
                f"Normalization '{self.name}': adapt() computes the mean and variance, but they were given "
                "(mean=..., variance=...), so the layer has no statistics to adapt. Create the layer "
                "without mean and variance to adapt it."
            )
        xp = backend.xp
        if hasattr(data, "shape") and hasattr(data, "dtype"):
            batches = None
            data = backend.as_numeric(data, "Normalization.adapt")
            input_shape = tuple(data.shape)
        elif hasattr(data, "__iter__") and not isinstance(data, (str, bytes, dict)):
            iterator = iter(data)
            first = next(iterator, None)
            if first is None:
                raise ValueError(
                    "Normalization.adapt: received an empty iterable (no batches). Expected at least one "
                    "batch: pass an array, or a non-empty iterable of arrays, e.g. layer.adapt([x])."
                )
            first = _first_batch(first)
            if not hasattr(first, "shape"):
                raise TypeError(
                    "Normalization.adapt: expected an iterable that yields arrays (with a `.shape`), each a "
                    f"batch. Received an element of type {type(first).__name__}. To adapt on one array, "
                    "pass the array itself (a list is read as a list of batches, as Keras reads it)."
                )
            input_shape = tuple(first.shape)
            batches = self._chain(first, iterator)
        else:
            raise TypeError(
                "Normalization.adapt: expected an array or an iterable of batches (a list, a generator, a "
                f"PyDataset). Received: {type(data).__name__}"
            )
        if not self.built:
            self._maybe_build(input_shape)
        else:
            self._check_adapt_shape(input_shape, "data.shape")
        if batches is None:
            total_mean = xp.mean(data, axis=self._reduce_axis)
            total_var = xp.var(data, axis=self._reduce_axis)
        else:
            total_mean, total_var = self._combine(batches)
        self.adapt_mean.assign(xp.asarray(total_mean, dtype=self.dtype).reshape(self._mean_and_var_shape))
        self.adapt_variance.assign(xp.asarray(total_var, dtype=self.dtype).reshape(self._mean_and_var_shape))

    @staticmethod
    def _chain(first, iterator):
        yield first
        for batch in iterator:
            yield _first_batch(batch)

    def _check_adapt_shape(self, shape, what):
        built = self._build_input_shape
        if len(shape) != len(built) or any(shape[a] != built[a] for a in self._keep_axis):
            raise ValueError(
                f"Normalization '{self.name}': the layer was built with input_shape={tuple(built)}, "
                f"but adapt() received data with an incompatible shape, {what}={tuple(shape)}: expected the "
                f"same rank and the same sizes on the kept axes {self._keep_axis}."
            )

    def _combine(self, batches):
        """Keras's running mean and variance over batches (weights: the batch's share of the values so far)."""
        xp = backend.xp
        total_mean = xp.zeros(self._mean_and_var_shape, dtype=self.dtype)
        total_var = xp.zeros(self._mean_and_var_shape, dtype=self.dtype)
        total_count = 0
        for batch in batches:
            batch = backend.to_array(batch, self.dtype, "Normalization.adapt")
            self._check_adapt_shape(batch.shape, "batch.shape")
            batch_mean = xp.mean(batch, axis=self._reduce_axis)
            batch_var = xp.var(batch, axis=self._reduce_axis)
            batch_count = math.prod(batch.shape[a] for a in self._reduce_axis)
            total_count += batch_count
            batch_weight = float(batch_count) / total_count
            existing_weight = 1.0 - batch_weight
            new_total_mean = total_mean * existing_weight + batch_mean * batch_weight
            total_var = ((total_var + (total_mean - new_total_mean) ** 2) * existing_weight
                         + (batch_var + (batch_mean - new_total_mean) ** 2) * batch_weight)
            total_mean = new_total_mean
        return total_mean, total_var

    # ------------------------------------------------------ forward / backward
    def _std(self):
        xp = backend.xp
        return xp.maximum(xp.sqrt(self.variance), xp.dtype(self.dtype).type(backend.epsilon()))

    def forward(self, inputs, training=False):
        std = self._std()
        if self.invert:
            outputs = self.mean + inputs * std
        else:
            outputs = (inputs - self.mean) / std
        return outputs, (std, inputs.shape)

    def backward(self, output_grads, cache):
        std, input_shape = cache
        grads = output_grads * std if self.invert else output_grads / std
        return _sum_to_shape(grads, input_shape), {}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        def listed(value):
            return None if value is None else backend.as_numeric(value, "Normalization").tolist()

        return {**super().get_config(), "axis": self.axis, "invert": self.invert,
                "mean": listed(self.input_mean), "variance": listed(self.input_variance)}


# ------------------------------------------------------------------ alpha dropout
_ALPHA_P = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946  # -selu's alpha * scale


class AlphaDropout(Layer):
    """Dropout that keeps its inputs' mean and variance, for SELU networks (阿尔法丢弃); identity at inference.

    While training, each unit is kept where a uniform draw is ``>= rate`` and
    otherwise set to SELU's saturation value ``alpha_p = -alpha * scale``; then
    ``y = a * x' + b`` with ``a = ((1 - rate) * (1 + rate * alpha_p^2))^-1/2``
    and ``b = -a * alpha_p * rate`` (Keras's formula). Backward: ``dx = a * dy``
    where the unit was kept, 0 where it was dropped (the same draw).

    Args:
        rate: float in [0, 1], the drop probability. ``rate=1`` is accepted, as
            Keras does, but refused when the layer is called in training (``a`` is
            infinite; Keras then fails with a ZeroDivisionError, here a ValueError).
        noise_shape: shape of the keep-or-drop mask, broadcast against the input
            (``None`` entries take the input's size), e.g. ``(None, 1, features)``.
        seed: int seed of the layer's own generator; None draws from ``backend.rng()``.

    Input shape: any. Output shape: the same.
    """

    supports_masking = True  # as Keras: a mask passes through unchanged

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        _check_rate("AlphaDropout", "rate", rate)
        _check_seed("AlphaDropout", seed)
        super().__init__(**kwargs)
        self.rate = rate  # as given, as Keras keeps it
        self.noise_shape = noise_shape
        self.seed = seed
        self._rng = backend.rng(seed) if seed is not None else None

    def forward(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs, None
        if self.rate == 1:
            raise ValueError(
                f"AlphaDropout '{self.name}': rate=1 drops every unit and makes the scale "
                "((1 - rate) * (1 + rate * alpha_p^2))^-1/2 infinite, so the layer cannot be used in training. "
                "Expected a rate below 1. Received: rate=1"
            )
        shape = inputs.shape
        if self.noise_shape is not None:
            shape = tuple(size if want is None else want for size, want in zip(inputs.shape, self.noise_shape))
        kept = (backend.random_uniform(shape, self._rng or backend.rng()) >= self.rate).astype(inputs.dtype)
        a = ((1 - self.rate) * (1 + self.rate * _ALPHA_P ** 2)) ** -0.5
        b = -a * _ALPHA_P * self.rate
        dtype = inputs.dtype.type
        outputs = dtype(a) * (inputs * kept + dtype(_ALPHA_P) * (1 - kept)) + dtype(b)
        return outputs.astype(inputs.dtype, copy=False), dtype(a) * kept

    def backward(self, output_grads, slope):
        if slope is None:
            return output_grads, {}
        return output_grads * slope, {}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape}
