"""Activation functions, each a forward and its backward side by side.

Every activation is an :class:`ActivationFunction`: calling it computes the
forward pass, and ``fn.backward(x, y, dy)`` returns the gradient with respect to
the input (the vector-Jacobian product). Names, keyword arguments and defaults
are those of ``keras.activations`` in Keras 3, so ``get('relu')`` here and
``keras.activations.get('relu')`` there compute the same numbers.

Example::

    from course_lib import activations
    y = activations.relu(x, max_value=6.0)
    dx = activations.relu.backward(x, y, dy, max_value=6.0)

Conventions shared by every function below:

* an input of a float dtype keeps that dtype (float32 stays float32); an
  integer or boolean input is cast to ``backend.floatx()`` first;
* ``x``, ``y`` and ``dy`` all have the same shape;
* at a kink (relu at 0, the ends of hard_sigmoid ...) the derivative is the one
  TensorFlow uses, so gradients agree with ``tf.GradientTape`` there too.
"""
from __future__ import annotations

import inspect
import math
import numbers

from course_lib import backend

__all__ = [
    "ActivationFunction",
    "celu",
    "deserialize",
    "elu",
    "exponential",
    "gelu",
    "get",
    "glu",
    "hard_shrink",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "leaky_relu",
    "linear",
    "log_sigmoid",
    "log_softmax",
    "mish",
    "relu",
    "relu6",
    "selu",
    "serialize",
    "sigmoid",
    "silu",
    "soft_shrink",
    "softmax",
    "softplus",
    "softsign",
    "sparse_plus",
    "sparse_sigmoid",
    "sparsemax",
    "squareplus",
    "swish",
    "tanh",
    "tanh_shrink",
    "threshold",
]


class ActivationFunction:
    """An element-wise (or per-axis, for softmax) function with its derivative.

    Args:
        name: the Keras serialization name, e.g. ``'relu'``.
        forward: ``forward(x, **kwargs) -> y`` on arrays.
        backward: ``backward(x, y, dy, **kwargs) -> dx``, the vector-Jacobian
            product; None for a function whose derivative is unknown (a custom
            callable given to :func:`get`), in which case calling
            :meth:`backward` raises a ``TypeError`` that says how to supply one.

    Calling the object runs ``forward`` after turning ``x`` into an array; the
    keyword arguments are checked against ``forward``'s signature so that a
    misspelled one (``relu(x, max_val=6)``) raises instead of being ignored.
    """

    def __init__(self, name, forward, backward=None):
        if not isinstance(name, str) or not name:
            raise ValueError(
                "ActivationFunction: name must be a non-empty string. "
                f"Received: name={name!r}"
            )
        if not callable(forward):
            raise TypeError(
                f"ActivationFunction '{name}': forward must be callable. "
                f"Received: forward={forward!r}"
            )
        if backward is not None and not callable(backward):
            raise TypeError(
                f"ActivationFunction '{name}': backward must be callable or None. "
                f"Received: backward={backward!r}"
            )
        self.name = name
        self.__name__ = name
        self.forward = forward
        self._backward = backward
        self.__doc__ = getattr(forward, "__doc__", None) or self.__class__.__doc__
        self._keyword_names = _keyword_names(forward)

    def __call__(self, x, **kwargs):
        """Apply the activation.

        Args:
            x: array-like of any shape.
            **kwargs: the activation's own options (e.g. ``max_value`` for relu).

        Returns:
            An array of the same shape as ``x`` (and the same float dtype).
        """
        self._check_keywords(kwargs)
        return self.forward(_as_float_array(x, self.name), **kwargs)

    def backward(self, x, y, dy, **kwargs):
        """Gradient of the loss with respect to the input.

        Args:
            x: the input given to the forward pass, shape ``S``.
            y: the output the forward pass returned, shape ``S``.
            dy: the gradient of the loss with respect to ``y``, shape ``S``.
            **kwargs: the same options the forward pass was called with.

        Returns:
            ``dx`` of shape ``S``: ``dy`` multiplied by the Jacobian of the
            activation (for softmax, the full per-row Jacobian, not its diagonal).
        """
        if self._backward is None:
            raise TypeError(
                f"Activation '{self.name}' is a custom callable and has no "
                "derivative, so it cannot be used in a backward pass. Wrap it "
                "with its derivative instead: "
                "activations.ActivationFunction(name, forward, backward) where "
                "backward(x, y, dy, **kwargs) returns dx."
            )
        self._check_keywords(kwargs)
        x = _as_float_array(x, self.name)
        y = _as_float_array(y, self.name)
        dy = _as_float_array(dy, self.name)
        if not (x.shape == y.shape == dy.shape):
            raise ValueError(
                f"{self.name}.backward: x, y and dy must have the same shape. "
                f"Received: x.shape={x.shape}, y.shape={y.shape}, dy.shape={dy.shape}"
            )
        return self._backward(x, y, dy, **kwargs)

    @property
    def has_backward(self):
        """Whether :meth:`backward` is available."""
        return self._backward is not None

    def _check_keywords(self, kwargs):
        if self._keyword_names is None or not kwargs:
            return
        unknown = sorted(set(kwargs) - set(self._keyword_names))
        if unknown:
            raise TypeError(
                f"Activation '{self.name}' got unexpected keyword argument(s) "
                f"{unknown}. It accepts: {list(self._keyword_names) or 'none'}"
            )

    def __repr__(self):
        return f"<ActivationFunction '{self.name}'>"


def _keyword_names(function):
    """Names of the keyword options after ``x``; None when they cannot be read."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return tuple(p.name for p in parameters[1:])


def _as_float_array(value, where):
    array = backend.xp.asarray(value)
    if array.dtype.kind == "f":
        return array
    return backend.to_array(array, where=f"activations.{where}")


def _check_number(where, argument, value, allow_none=False):
    backend.check_real(f"activations.{where}", argument, value, allow_none=allow_none)


def _check_axis(where, x, axis):
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(
            f"activations.{where}: axis must be an int. Received: axis={axis!r}"
        )
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(
            f"activations.{where}: axis {axis} is out of range for an input of "
            f"shape {x.shape} (rank {x.ndim})."
        )


def _stable_sigmoid(x):
    # exp(-|x|) never overflows; the two branches are the same function
    # written so that neither divides inf by inf.
    xp = backend.xp
    z = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + z), z / (1 + z))


# --------------------------------------------------------------------- linear

def _linear_forward(x):
    """Identity: returns ``x`` unchanged."""
    return x


def _linear_backward(x, y, dy):
    return dy


# ----------------------------------------------------------------------- relu

def _relu_forward(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit, with Keras 3's three options.

    ``f(x) = x`` above ``threshold`` (capped at ``max_value``), and
    ``negative_slope * (x - threshold)`` below it. With the defaults this is
    ``max(x, 0)``.
    """
    xp = backend.xp
    _check_number("relu", "negative_slope", negative_slope)
    _check_number("relu", "threshold", threshold)
    _check_number("relu", "max_value", max_value, allow_none=True)
    if max_value is not None and max_value < 0:
        raise ValueError(
            "activations.relu: max_value must be >= 0 or None. "
            f"Received: max_value={max_value}"
        )
    if negative_slope != 0 and max_value is None and threshold == 0:
        # Keras hands this case to leaky_relu, which keeps x at exactly 0.
        return xp.where(x > 0, x, x * negative_slope)
    if threshold != 0:
        y = xp.where(x > threshold, x, 0)
    else:
        y = xp.maximum(x, 0)
    if max_value is not None:
        y = xp.clip(y, 0, max_value)
    if negative_slope != 0:
        y = y - negative_slope * xp.maximum(threshold - x, 0)
    return y.astype(x.dtype, copy=False)


def _relu_backward(x, y, dy, negative_slope=0.0, max_value=None, threshold=0.0):
    xp = backend.xp
    if negative_slope != 0 and max_value is None and threshold == 0:
        return xp.where(x > 0, dy, dy * negative_slope)
    if threshold != 0:
        positive = x > threshold
    else:
        positive = x > 0
    if max_value == 6 and threshold == 0:
        # Keras routes this case through relu6, whose gradient is 0 at 6 itself.
        positive = positive & (x < 6)
    elif max_value is not None:
        # The clip to [0, max_value] passes the gradient at both bounds
        # (TensorFlow's convention) and stops it outside them.
        positive = positive & (x >= 0) & (x <= max_value)
    # A product with the mask, as TensorFlow's ReluGrad (a NaN upstream stays NaN), and
    # branch-free: xp.where is several times slower on a random mask.
    dx = dy * positive
    if negative_slope != 0:
        dx = dx + xp.where(x < threshold, dy * negative_slope, 0)
    return dx.astype(x.dtype, copy=False)


def _leaky_relu_forward(x, negative_slope=0.2):
    """``x`` for ``x > 0``, else ``negative_slope * x`` (Keras 3 default 0.2)."""
    _check_number("leaky_relu", "negative_slope", negative_slope)
    return backend.xp.where(x > 0, x, x * negative_slope)


def _leaky_relu_backward(x, y, dy, negative_slope=0.2):
    return backend.xp.where(x > 0, dy, dy * negative_slope)


def _relu6_forward(x):
    """``min(max(x, 0), 6)``."""
    return backend.xp.clip(x, 0, 6)


def _relu6_backward(x, y, dy):
    return backend.xp.where((x > 0) & (x < 6), dy, 0)


# ---------------------------------------------------------- sigmoid and tanh

def _sigmoid_forward(x):
    """``1 / (1 + exp(-x))``, computed without overflow for large ``|x|``."""
    return _stable_sigmoid(x)


def _sigmoid_backward(x, y, dy):
    return dy * y * (1 - y)


def _tanh_forward(x):
    """Hyperbolic tangent."""
    return backend.xp.tanh(x)


def _tanh_backward(x, y, dy):
    return dy * (1 - y * y)


def _hard_sigmoid_forward(x):
    """Keras 3's hard sigmoid: ``relu6(x + 3) / 6``.

    That is 0 below -3, 1 above 3 and ``x / 6 + 0.5`` between (Keras 2 used
    ``0.2 * x + 0.5``; Keras 3 changed the slope).
    """
    return backend.xp.clip(x + 3, 0, 6) / 6


def _hard_sigmoid_backward(x, y, dy):
    return backend.xp.where((x > -3) & (x < 3), dy / 6, 0)


# --------------------------------------------------------------- exponentials

def _exponential_forward(x):
    """``exp(x)``; overflows to ``inf`` (silently, as in Keras) past ~88 in float32."""
    xp = backend.xp
    with _quiet_overflow():
        return xp.exp(x)


def _exponential_backward(x, y, dy):
    with _quiet_overflow():
        return dy * y


def _quiet_overflow():
    return backend.errstate(over="ignore")


def _elu_forward(x, alpha=1.0):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    _check_number("elu", "alpha", alpha)
    xp = backend.xp
    # expm1 of min(x, 0) avoids overflow in the branch that is thrown away.
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))


def _elu_backward(x, y, dy, alpha=1.0):
    xp = backend.xp
    return xp.where(x > 0, dy, dy * alpha * xp.exp(xp.minimum(x, 0)))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _selu_forward(x):
    """``scale * elu(x, alpha)`` with the fixed constants of Klambauer et al. (2017)."""
    xp = backend.xp
    negative = _SELU_ALPHA * xp.expm1(xp.minimum(x, 0))
    return _SELU_SCALE * xp.where(x > 0, x, negative)


def _selu_backward(x, y, dy):
    xp = backend.xp
    negative = _SELU_ALPHA * xp.exp(xp.minimum(x, 0))
    # At x = 0 TensorFlow takes the right-hand slope; so do we.
    return dy * _SELU_SCALE * xp.where(x >= 0, 1, negative)


def _softplus_forward(x):
    """``log(1 + exp(x))`` as ``logaddexp(0, x)``, exact for large ``|x|``."""
    return backend.xp.logaddexp(0, x).astype(x.dtype, copy=False)


def _softplus_backward(x, y, dy):
    return dy * _stable_sigmoid(x)


def _softsign_forward(x):
    """``x / (1 + |x|)``."""
    return x / (1 + backend.xp.abs(x))


def _softsign_backward(x, y, dy):
    denominator = 1 + backend.xp.abs(x)
    return dy / (denominator * denominator)


# ------------------------------------------------------- silu, gelu and kin

def _silu_forward(x):
    """``x * sigmoid(x)`` (also called swish)."""
    return x * _stable_sigmoid(x)


def _silu_backward(x, y, dy):
    s = _stable_sigmoid(x)
    return dy * s * (1 + x * (1 - s))


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715


def _erfc(x):
    """The complementary error function on the active array module.

    NumPy has no erf, so SciPy's (installed with scikit-learn) is used; without
    SciPy a slower element-by-element ``math.erfc`` gives the same values.
    """
    xp = backend.xp
    if xp.__name__.startswith("cupy"):
        from cupyx.scipy import special
    else:
        try:
            from scipy import special
        except ImportError:
            return xp.vectorize(math.erfc, otypes=[x.dtype])(x)
    return special.erfc(x)


def _gelu_forward(x, approximate=False):
    """Gaussian error linear unit, ``x * Phi(x)`` with ``Phi`` the normal CDF.

    ``approximate=False`` (the Keras 3 default of ``keras.activations.gelu``)
    uses the error function; ``approximate=True`` uses
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.
    """
    if not isinstance(approximate, bool):
        raise TypeError(
            "activations.gelu: approximate must be a bool. "
            f"Received: approximate={approximate!r}"
        )
    xp = backend.xp
    if approximate:
        inner = _SQRT_2_OVER_PI * (x + _GELU_CUBIC * x * x * x)
        return 0.5 * x * (1 + xp.tanh(inner))
    # erfc(-x/sqrt 2) keeps its precision for large negative x, where
    # 1 + erf(x/sqrt 2) would cancel to 0.
    return (0.5 * x * _erfc(-x * _INV_SQRT_2)).astype(x.dtype, copy=False)


def _gelu_backward(x, y, dy, approximate=False):
    xp = backend.xp
    if approximate:
        inner = _SQRT_2_OVER_PI * (x + _GELU_CUBIC * x * x * x)
        t = xp.tanh(inner)
        d_inner = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * x * x)
        return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
    cdf = 0.5 * _erfc(-x * _INV_SQRT_2)
    pdf = _INV_SQRT_2PI * xp.exp(-0.5 * x * x)
    return (dy * (cdf + x * pdf)).astype(x.dtype, copy=False)


def _hard_silu_forward(x):
    """``x * hard_sigmoid(x)`` (also called hard swish)."""
    return x * _hard_sigmoid_forward(x)


def _hard_silu_backward(x, y, dy):
    slope = backend.xp.where((x > -3) & (x < 3), x / 6, 0)
    return dy * (_hard_sigmoid_forward(x) + slope)


def _mish_forward(x):
    """``x * tanh(softplus(x))``."""
    return x * backend.xp.tanh(_softplus_forward(x))


def _mish_backward(x, y, dy):
    t = backend.xp.tanh(_softplus_forward(x))
    return dy * (t + x * (1 - t * t) * _stable_sigmoid(x))


# -------------------------------------------------------------------- softmax

def _softmax_forward(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``; the max is subtracted first."""
    _check_axis("softmax", x, axis)
    xp = backend.xp
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    exponentials = xp.exp(shifted)
    return exponentials / xp.sum(exponentials, axis=axis, keepdims=True)


def _softmax_backward(x, y, dy, axis=-1):
    # The Jacobian is diag(y) - y y^T per slice, so J^T dy = y * (dy - <dy, y>).
    _check_axis("softmax", x, axis)
    inner = backend.xp.sum(dy * y, axis=axis, keepdims=True)
    return y * (dy - inner)


def _log_softmax_forward(x, axis=-1):
    """``x - log(sum(exp(x)))`` along ``axis``, without forming ``softmax``."""
    _check_axis("log_softmax", x, axis)
    xp = backend.xp
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def _log_softmax_backward(x, y, dy, axis=-1):
    _check_axis("log_softmax", x, axis)
    xp = backend.xp
    return dy - xp.exp(y) * xp.sum(dy, axis=axis, keepdims=True)


# ------------------------------------------- Keras 3's newer activations

def _celu_forward(x, alpha=1.0):
    """``x`` for ``x >= 0``, else ``alpha * (exp(x / alpha) - 1)`` (a continuously differentiable elu).

    Computed as TensorFlow does, ``max(x, 0) + alpha * expm1(min(x, 0) / alpha)``.
    """
    _check_number("celu", "alpha", alpha)
    if alpha == 0:
        raise ValueError(
            "activations.celu: alpha must be non-zero (x is divided by it). Received: alpha=0"
        )
    xp = backend.xp
    return (xp.maximum(x, 0) + alpha * xp.expm1(xp.minimum(x, 0) / alpha)).astype(x.dtype, copy=False)


def _celu_backward(x, y, dy, alpha=1.0):
    xp = backend.xp
    # TensorFlow's max and min both pass the gradient at a tie, so at x = 0 the
    # two branches add up: the derivative there is 2, as tf.GradientTape says.
    slope = (x >= 0) + (x <= 0) * xp.exp(xp.minimum(x, 0) / alpha)
    return (dy * slope).astype(x.dtype, copy=False)


def _glu_halves(x, axis):
    if x.shape[axis] % 2 != 0:
        raise ValueError(
            "activations.glu: the size of the split axis must be divisible by 2. "
            f"Received: x.shape={x.shape} with axis={axis}"
        )
    return backend.xp.split(x, 2, axis=axis)


def _glu_forward(x, axis=-1):
    """Gated linear unit: ``a * sigmoid(b)`` where ``x`` is split into halves ``a, b`` along ``axis``.

    The output is half the size of ``x`` along ``axis``.
    """
    _check_axis("glu", x, axis)
    a, b = _glu_halves(x, axis)
    return a * _stable_sigmoid(b)


def _glu_backward(x, y, dy, axis=-1):
    _check_axis("glu", x, axis)
    a, b = _glu_halves(x, axis)
    s = _stable_sigmoid(b)
    return backend.xp.concatenate([dy * s, dy * a * s * (1 - s)], axis=axis)


class _HalvingActivation(ActivationFunction):
    """An activation whose output is half its input along ``axis`` (glu): only the shape check differs."""

    def output_shape(self, shape, axis=-1):
        """The output shape for an input of ``shape`` (a None size stays None), as a symbolic call needs it."""
        shape = list(shape)
        shape[axis] = None if shape[axis] is None else shape[axis] // 2
        return tuple(shape)

    def backward(self, x, y, dy, **kwargs):
        """Gradient of the loss with respect to the input.

        Args:
            x: the input given to the forward pass.
            y: the output the forward pass returned (``x``'s shape, halved along ``axis``).
            dy: the gradient of the loss with respect to ``y``, ``y``'s shape.
            **kwargs: the same options the forward pass was called with.

        Returns:
            ``dx`` of ``x``'s shape.
        """
        self._check_keywords(kwargs)
        x = _as_float_array(x, self.name)
        y = _as_float_array(y, self.name)
        dy = _as_float_array(dy, self.name)
        axis = kwargs.get("axis", -1)
        _check_axis(self.name, x, axis)
        expected = list(x.shape)
        expected[axis] //= 2
        if not (y.shape == dy.shape == tuple(expected)):
            raise ValueError(
                f"{self.name}.backward: y and dy must have x's shape with axis {axis} halved, "
                f"{tuple(expected)}. Received: x.shape={x.shape}, y.shape={y.shape}, dy.shape={dy.shape}"
            )
        return self._backward(x, y, dy, **kwargs)


def _hard_shrink_forward(x, threshold=0.5):
    """``x`` where ``|x| > threshold``, else 0."""
    _check_number("hard_shrink", "threshold", threshold)
    return backend.xp.where(backend.xp.abs(x) > threshold, x, 0).astype(x.dtype, copy=False)


def _hard_shrink_backward(x, y, dy, threshold=0.5):
    return (dy * (backend.xp.abs(x) > threshold)).astype(x.dtype, copy=False)


def _hard_tanh_forward(x):
    """``x`` clipped to ``[-1, 1]``."""
    return backend.xp.clip(x, -1, 1).astype(x.dtype, copy=False)


def _hard_tanh_backward(x, y, dy):
    # TensorFlow's clip_by_value passes the gradient at both bounds.
    return (dy * ((x >= -1) & (x <= 1))).astype(x.dtype, copy=False)


def _log_sigmoid_forward(x):
    """``log(sigmoid(x)) = -softplus(-x)``, exact for large ``|x|``."""
    return (-backend.xp.logaddexp(0, -x)).astype(x.dtype, copy=False)


def _log_sigmoid_backward(x, y, dy):
    return (dy * _stable_sigmoid(-x)).astype(x.dtype, copy=False)


def _soft_shrink_forward(x, threshold=0.5):
    """``x - threshold`` above ``threshold``, ``x + threshold`` below ``-threshold``, else 0."""
    _check_number("soft_shrink", "threshold", threshold)
    xp = backend.xp
    y = xp.where(x > threshold, x - threshold, xp.where(x < -threshold, x + threshold, 0))
    return y.astype(x.dtype, copy=False)


def _soft_shrink_backward(x, y, dy, threshold=0.5):
    return (dy * ((x > threshold) | (x < -threshold))).astype(x.dtype, copy=False)


def _sparse_plus_forward(x):
    """0 for ``x <= -1``, ``(x + 1)^2 / 4`` for ``-1 < x < 1``, ``x`` for ``x >= 1``."""
    xp = backend.xp
    y = xp.where(x <= -1, 0, xp.where(x < 1, 0.25 * (x + 1) ** 2, x))
    return y.astype(x.dtype, copy=False)


def _sparse_plus_backward(x, y, dy):
    xp = backend.xp
    slope = xp.where(x <= -1, 0, xp.where(x < 1, 0.5 * (x + 1), 1))
    return (dy * slope).astype(x.dtype, copy=False)


def _sparse_sigmoid_forward(x):
    """0 for ``x <= -1``, ``(x + 1) / 2`` for ``-1 < x < 1``, 1 for ``x >= 1``."""
    xp = backend.xp
    return xp.where(x <= -1, 0, xp.where(x >= 1, 1, 0.5 * (x + 1))).astype(x.dtype, copy=False)


def _sparse_sigmoid_backward(x, y, dy):
    # TensorFlow's where sends no gradient to the constant branches, at -1 and 1 included.
    return (dy * ((x > -1) & (x < 1)) * 0.5).astype(x.dtype, copy=False)


def _sparsemax_parts(x, axis):
    """The threshold ``tau`` and the support (a mask of ``x``'s shape) of sparsemax along ``axis``."""
    xp = backend.xp
    ordered = -xp.sort(-x, axis=axis)  # descending
    cumulative = xp.cumsum(ordered, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    ranks = xp.arange(1, x.shape[axis] + 1, dtype=x.dtype).reshape(shape)
    in_support = ordered - (cumulative - 1) / ranks > 0
    k = xp.sum(in_support, axis=axis, keepdims=True)
    # The sum of the k largest values, i.e. the k-th cumulative sum (Martins & Astudillo's tau).
    tau = (xp.sum(xp.where(in_support, ordered, 0), axis=axis, keepdims=True) - 1) / k.astype(x.dtype)
    smallest_kept = xp.take_along_axis(ordered, k - 1, axis=axis)
    return tau.astype(x.dtype, copy=False), x >= smallest_kept


def _sparsemax_forward(x, axis=-1):
    """Euclidean projection of ``x`` onto the probability simplex along ``axis``: ``max(x - tau, 0)``.

    ``tau`` is chosen so that each slice sums to 1; unlike softmax, the
    smallest entries come out exactly 0. (Keras 3.15 computes ``tau`` from the
    sum of the cumulative sums, which is wrong whenever more than one entry is
    kept, keras-team/keras#23425, fixed upstream; course_lib uses the paper's
    ``tau``, which agrees with Keras 3.15 when a single entry is kept.)
    """
    _check_axis("sparsemax", x, axis)
    tau, _ = _sparsemax_parts(x, axis)
    return backend.xp.maximum(x - tau, 0).astype(x.dtype, copy=False)


def _sparsemax_backward(x, y, dy, axis=-1):
    # The Jacobian is diag(s) - s s^T / k on the support s, of size k. As in
    # TensorFlow, the max passes the gradient where x - tau is exactly 0.
    _check_axis("sparsemax", x, axis)
    xp = backend.xp
    tau, support = _sparsemax_parts(x, axis)
    passed = dy * (x - tau >= 0)
    k = xp.sum(support, axis=axis, keepdims=True).astype(x.dtype)
    return (passed - support * (xp.sum(passed, axis=axis, keepdims=True) / k)).astype(x.dtype, copy=False)


def _squareplus_forward(x, b=4):
    """``(x + sqrt(x^2 + b)) / 2``, a smooth relu; ``b >= 0`` sets the smoothness."""
    _check_number("squareplus", "b", b)
    return ((x + backend.xp.sqrt(x * x + b)) / 2).astype(x.dtype, copy=False)


def _squareplus_backward(x, y, dy, b=4):
    return (dy * 0.5 * (1 + x / backend.xp.sqrt(x * x + b))).astype(x.dtype, copy=False)


def _tanh_shrink_forward(x):
    """``x - tanh(x)``."""
    return x - backend.xp.tanh(x)


def _tanh_shrink_backward(x, y, dy):
    t = backend.xp.tanh(x)
    return dy * t * t


def _threshold_forward(x, threshold, default_value):
    """``x`` where ``x > threshold``, else ``default_value`` (both required, as in Keras)."""
    _check_number("threshold", "threshold", threshold)
    _check_number("threshold", "default_value", default_value)
    return backend.xp.where(x > threshold, x, default_value).astype(x.dtype, copy=False)


def _threshold_backward(x, y, dy, threshold, default_value):
    return (dy * (x > threshold)).astype(x.dtype, copy=False)


# ---------------------------------------------------------------- the registry

linear = ActivationFunction("linear", _linear_forward, _linear_backward)
relu = ActivationFunction("relu", _relu_forward, _relu_backward)
leaky_relu = ActivationFunction("leaky_relu", _leaky_relu_forward, _leaky_relu_backward)
relu6 = ActivationFunction("relu6", _relu6_forward, _relu6_backward)
sigmoid = ActivationFunction("sigmoid", _sigmoid_forward, _sigmoid_backward)
tanh = ActivationFunction("tanh", _tanh_forward, _tanh_backward)
hard_sigmoid = ActivationFunction("hard_sigmoid", _hard_sigmoid_forward, _hard_sigmoid_backward)
exponential = ActivationFunction("exponential", _exponential_forward, _exponential_backward)
elu = ActivationFunction("elu", _elu_forward, _elu_backward)
selu = ActivationFunction("selu", _selu_forward, _selu_backward)
softplus = ActivationFunction("softplus", _softplus_forward, _softplus_backward)
softsign = ActivationFunction("softsign", _softsign_forward, _softsign_backward)
silu = ActivationFunction("silu", _silu_forward, _silu_backward)
swish = silu
gelu = ActivationFunction("gelu", _gelu_forward, _gelu_backward)
hard_silu = ActivationFunction("hard_silu", _hard_silu_forward, _hard_silu_backward)
hard_swish = hard_silu
mish = ActivationFunction("mish", _mish_forward, _mish_backward)
softmax = ActivationFunction("softmax", _softmax_forward, _softmax_backward)
log_softmax = ActivationFunction("log_softmax", _log_softmax_forward, _log_softmax_backward)
celu = ActivationFunction("celu", _celu_forward, _celu_backward)
glu = _HalvingActivation("glu", _glu_forward, _glu_backward)
hard_shrink = ActivationFunction("hard_shrink", _hard_shrink_forward, _hard_shrink_backward)
hard_tanh = ActivationFunction("hard_tanh", _hard_tanh_forward, _hard_tanh_backward)
log_sigmoid = ActivationFunction("log_sigmoid", _log_sigmoid_forward, _log_sigmoid_backward)
soft_shrink = ActivationFunction("soft_shrink", _soft_shrink_forward, _soft_shrink_backward)
sparse_plus = ActivationFunction("sparse_plus", _sparse_plus_forward, _sparse_plus_backward)
sparse_sigmoid = ActivationFunction("sparse_sigmoid", _sparse_sigmoid_forward, _sparse_sigmoid_backward)
sparsemax = ActivationFunction("sparsemax", _sparsemax_forward, _sparsemax_backward)
squareplus = ActivationFunction("squareplus", _squareplus_forward, _squareplus_backward)
tanh_shrink = ActivationFunction("tanh_shrink", _tanh_shrink_forward, _tanh_shrink_backward)
threshold = ActivationFunction("threshold", _threshold_forward, _threshold_backward)

_BUILTINS = {
    fn.name: fn
    for fn in (
        linear, relu, leaky_relu, relu6, sigmoid, tanh, hard_sigmoid,
        exponential, elu, selu, softplus, softsign, silu, gelu, hard_silu,
        mish, softmax, log_softmax, celu, glu, hard_shrink, hard_tanh, log_sigmoid,
        soft_shrink, sparse_plus, sparse_sigmoid, sparsemax, squareplus, tanh_shrink, threshold,
    )
}
# Aliases Keras also accepts; they resolve to the same object, whose name is canonical.
_ALIASES = {"swish": silu, "hard_swish": hard_silu}
_BY_NAME = {**_BUILTINS, **_ALIASES}


def _known_names():
    return sorted(_BY_NAME)


def _unknown(identifier, where="activations.get"):
    return ValueError(
        f"{where}: could not interpret activation identifier. "
        f"Received: {identifier!r}. Expected None, a callable, a dict "
        f"{{'class_name': ...}} or one of the names {_known_names()}."
    )


def get(identifier):
    """Find the activation an identifier stands for.

    Args:
        identifier: None (gives ``linear``); a name such as ``'relu'`` or
            ``'swish'``; an :class:`ActivationFunction` (returned as it is);
            a Keras serialized dict, ``{'class_name': 'function', 'config':
            'relu'}`` or ``{'class_name': 'relu'}``; or any other callable,
            which is wrapped in an :class:`ActivationFunction` without a
            derivative (forward works, backward raises ``TypeError``).

    Returns:
        An :class:`ActivationFunction`.

    Raises:
        ValueError: for an unknown name or anything else.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, ActivationFunction):
        return identifier
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]
        from course_lib import saving

        found = saving.find_object(identifier, _BY_NAME)  # a custom activation in the global custom objects or the scope
        if found is not None and not isinstance(found, str):
            return get(found)
        raise _unknown(identifier)
    if isinstance(identifier, dict):
        return _from_dict(identifier, where="activations.get")
    if callable(identifier) and not isinstance(identifier, type):
        name = getattr(identifier, "__name__", None) or type(identifier).__name__
        return ActivationFunction(name, identifier, None)
    raise _unknown(identifier)


def _from_dict(config, where, custom_objects=None):
    from course_lib import saving

    class_name = config.get("class_name")
    name = config.get("config") if class_name == "function" else class_name
    if isinstance(name, str) and name in _BY_NAME:
        return _BY_NAME[name]
    registered = None if class_name == "function" else config.get("registered_name")
    found = saving.find_object(name, _BY_NAME, custom_objects, registered) if isinstance(name, str) else None
    if inspect.isclass(found) and hasattr(found, "from_config"):  # a custom activation object, by its config
        found = found.from_config(dict(config.get("config") or {}))
    if found is not None:
        return get(found)
    raise _unknown(config, where)


def serialize(activation):
    """The name under which an activation is saved in a layer's config.

    Args:
        activation: an :class:`ActivationFunction` (or anything :func:`get` accepts).

    Returns:
        Its name as a string, e.g. ``'relu'``; the aliases ``swish`` and
        ``hard_swish`` serialize as ``'silu'`` and ``'hard_silu'``, as in Keras.
    """
    return get(activation).name


def deserialize(name, custom_objects=None):
    """The activation saved under ``name``.

    Args:
        name: a string from :func:`serialize` (a Keras dict is accepted too).
        custom_objects: optional ``{name: callable}`` for activations that are
            not built in; an :class:`ActivationFunction` there keeps its backward.

    Returns:
        An :class:`ActivationFunction`.

    Raises:
        ValueError: when the name is neither built in nor in ``custom_objects``.
    """
    from course_lib import saving

    # custom_objects, the global custom objects and an enclosing custom_object_scope come first, as in Keras
    found = saving.find_object(name, _BY_NAME, custom_objects) if isinstance(name, str) else None
    if found is not None:
        return get(found)
    if isinstance(name, str):
        if name in _BY_NAME:
            return _BY_NAME[name]
        raise _unknown(name, where="activations.deserialize")
    if isinstance(name, dict):
        return _from_dict(name, where="activations.deserialize", custom_objects=custom_objects)
    raise _unknown(name, where="activations.deserialize")
