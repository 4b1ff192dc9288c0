"""Loss functions and loss classes with Keras 3's names, numbers and gradients.

Two layers, as in Keras:

* per-sample functions (``mean_squared_error``, ``binary_crossentropy`` ...)
  reduce the last axis and return one loss per sample;
* :class:`Loss` classes add a reduction over the batch (and ``sample_weight``)
  and return one number. Each built-in class also has :meth:`Loss.gradient`,
  the derivative of that number with respect to ``y_pred`` -- what the training
  engine feeds into the last layer's ``backward``.

Every forward sits next to its backward (``_mse_forward`` / ``_mse_backward``
and so on). The backward functions reproduce what TensorFlow's autodiff gives
for Keras's own formulas, including its conventions at the corners:
``tf.clip_by_value`` passes the gradient at the clip bounds and blocks it
strictly outside them; ``tf.maximum(a, b)`` sends the gradient to ``a`` on a
tie; ``abs`` has derivative 0 at 0; the fused softmax cross-entropy kernel
returns ``softmax(logits) - labels`` even when the labels do not sum to one.

Example::

    loss = losses.get("categorical_crossentropy")
    value = loss(y_true, probabilities)          # a float
    d_probabilities = loss.gradient(y_true, probabilities)
"""
from __future__ import annotations

import abc
import inspect
import warnings

import numpy

from course_lib import activations, backend, tape

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def _compute_dtype(y_pred, dtype=None) -> str:
    """The float type a loss computes in.

    An explicit ``dtype`` wins; otherwise a floating ``y_pred`` keeps its own
    type (so a float64 gradient check stays float64); anything else uses
    :func:`backend.floatx`.
    """
    if dtype is not None:
        return numpy.dtype(dtype).name
    kind = getattr(getattr(y_pred, "dtype", None), "kind", None)
    if kind == "f":
        return y_pred.dtype.name
    return backend.floatx()


def _as_float_pair(y_true, y_pred, where, dtype=None):
    """Both arguments as arrays of one float type; refuses non-numeric input."""
    dtype = _compute_dtype(y_pred, dtype)
    y_pred = backend.to_array(y_pred, dtype, where=f"{where} (y_pred)")
    y_true = backend.to_array(y_true, dtype, where=f"{where} (y_true)")
    return y_true, y_pred


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Make two arrays the same rank when they differ by a trailing axis of 1.

    This is what lets labels of shape ``(N,)`` meet predictions of shape
    ``(N, 1)`` without broadcasting to ``(N, N)``: the rank-1 array gains a
    trailing axis (or, above rank 1, the other one loses its trailing 1).

    Args:
        x1, x2: arrays.
        expand_rank_1: when one array has rank 1, expand it rather than squeeze
            the other.

    Returns:
        ``(x1, x2)``, reshaped where needed; otherwise unchanged.
    """
    rank1, rank2 = backend.xp.ndim(x1), backend.xp.ndim(x2)
    if rank1 == rank2:
        return x1, x2
    if rank1 == rank2 + 1 and x1.shape[-1] == 1:
        if rank2 == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    if rank2 == rank1 + 1 and x2.shape[-1] == 1:
        if rank1 == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _sum_to_shape(gradient, shape):
    """Undo broadcasting: sum ``gradient`` down to ``shape``."""
    shape = tuple(shape)
    if gradient.shape == shape:
        return gradient
    extra = gradient.ndim - len(shape)
    gradient = gradient.sum(axis=tuple(range(extra))) if extra > 0 else gradient
    stretched = tuple(i for i, size in enumerate(shape) if size == 1 and gradient.shape[i] != 1)
    if stretched:
        gradient = gradient.sum(axis=stretched, keepdims=True)
    return gradient.reshape(shape)


def _check_broadcast(y_true, y_pred, where):
    try:
        return numpy.broadcast_shapes(y_true.shape, y_pred.shape)
    except ValueError:
        raise ValueError(
            f"{where}: y_true and y_pred must have the same shape (or shapes that "
            f"broadcast). Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
        ) from None


def _check_same_shape(y_true, y_pred, where):
    if y_true.ndim != y_pred.ndim:
        raise ValueError(
            f"{where}: y_true and y_pred must have the same rank. "
            f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
        )
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"{where}: y_true and y_pred must have the same shape. "
            f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
        )


def _check_rank_at_least_1(y_pred, where):
    if y_pred.ndim < 1:
        raise ValueError(
            f"{where}: y_pred must have at least one axis (the last one is "
            f"averaged). Received: y_pred.shape={y_pred.shape}"
        )


def _clip_mask(x, low, high):
    """Where ``tf.clip_by_value`` lets the gradient through (bounds included)."""
    return ((x >= low) & (x <= high)).astype(x.dtype)


def _bounds(dtype):
    """``epsilon`` and ``1 - epsilon`` rounded to ``dtype`` as TensorFlow does."""
    eps = backend.epsilon()
    return backend.xp.asarray(eps, dtype), backend.xp.asarray(1.0 - eps, dtype)


# The library's one softmax, log-softmax and sigmoid (overflow-safe), shared with the activations.
_softmax = activations._softmax_forward
_log_softmax = activations._log_softmax_forward
_sigmoid = activations._stable_sigmoid


# ---------------------------------------------------------------------------
# Regression losses: forward and backward side by side.
# Every forward returns mean(..., axis=-1); every backward takes the upstream
# gradient ``d_loss`` (the per-sample shape) and returns d y_pred, possibly in
# the broadcast shape of y_true and y_pred (the caller sums it back).
# ---------------------------------------------------------------------------


def _mse_forward(y_true, y_pred):
    return backend.xp.mean(backend.xp.square(y_true - y_pred), axis=-1)


def _mse_backward(y_true, y_pred, d_loss):
    size = numpy.broadcast_shapes(y_true.shape, y_pred.shape)[-1]
    scale = (d_loss / y_pred.dtype.type(size))[..., None]
    return scale * (y_pred.dtype.type(2) * (y_pred - y_true))


def _mae_forward(y_true, y_pred):
    return backend.xp.mean(backend.xp.abs(y_true - y_pred), axis=-1)


def _mae_backward(y_true, y_pred, d_loss):
    size = numpy.broadcast_shapes(y_true.shape, y_pred.shape)[-1]
    return (d_loss / y_pred.dtype.type(size))[..., None] * backend.xp.sign(y_pred - y_true)


def _mape_forward(y_true, y_pred):
    eps = backend.xp.asarray(backend.epsilon(), y_pred.dtype)
    scaled = (y_true - y_pred) / backend.xp.maximum(backend.xp.abs(y_true), eps)
    return y_pred.dtype.type(100) * backend.xp.mean(backend.xp.abs(scaled), axis=-1)


def _mape_backward(y_true, y_pred, d_loss):
    eps = backend.xp.asarray(backend.epsilon(), y_pred.dtype)
    denominator = backend.xp.maximum(backend.xp.abs(y_true), eps)
    scaled = (y_true - y_pred) / denominator
    size = scaled.shape[-1]
    upstream = (y_pred.dtype.type(100) * d_loss / y_pred.dtype.type(size))[..., None]
    return -upstream * backend.xp.sign(scaled) / denominator


def _msle_forward(y_true, y_pred):
    eps = backend.xp.asarray(backend.epsilon(), y_pred.dtype)
    one = y_pred.dtype.type(1)
    first = backend.xp.log(backend.xp.maximum(y_pred, eps) + one)
    second = backend.xp.log(backend.xp.maximum(y_true, eps) + one)
    return backend.xp.mean(backend.xp.square(first - second), axis=-1)


def _msle_backward(y_true, y_pred, d_loss):
    eps = backend.xp.asarray(backend.epsilon(), y_pred.dtype)
    one = y_pred.dtype.type(1)
    shifted = backend.xp.maximum(y_pred, eps) + one
    difference = backend.xp.log(shifted) - backend.xp.log(backend.xp.maximum(y_true, eps) + one)
    size = difference.shape[-1]
    upstream = (d_loss / y_pred.dtype.type(size))[..., None]
    # tf.maximum sends the gradient to y_pred on a tie, so the mask is >=.
    passes = (y_pred >= eps).astype(y_pred.dtype)
    return upstream * y_pred.dtype.type(2) * difference / shifted * passes


def _huber_forward(y_true, y_pred, delta=1.0):
    delta = y_pred.dtype.type(delta)
    half = y_pred.dtype.type(0.5)
    error = y_pred - y_true
    abs_error = backend.xp.abs(error)
    quadratic = half * backend.xp.square(error)
    linear = delta * abs_error - half * backend.xp.square(delta)
    return backend.xp.mean(backend.xp.where(abs_error <= delta, quadratic, linear), axis=-1)


def _huber_backward(y_true, y_pred, d_loss, delta=1.0):
    delta = y_pred.dtype.type(delta)
    error = y_pred - y_true
    slope = backend.xp.where(backend.xp.abs(error) <= delta, error, delta * backend.xp.sign(error))
    size = error.shape[-1]
    return (d_loss / y_pred.dtype.type(size))[..., None] * slope


def _hinge_labels(y_true):
    """Labels in {0, 1} become {-1, 1}; any other labels are used as given.

    The test is over the whole batch, as Keras does it: a single label of 0.5
    leaves every label unchanged.
    """
    if backend.xp.all((y_true == 0) | (y_true == 1)):
        return y_true.dtype.type(2) * y_true - y_true.dtype.type(1)
    return y_true


def _hinge_forward(y_true, y_pred):
    signs = _hinge_labels(y_true)
    return backend.xp.mean(backend.xp.maximum(y_pred.dtype.type(1) - signs * y_pred, 0), axis=-1)


def _hinge_backward(y_true, y_pred, d_loss):
    signs = _hinge_labels(y_true)
    margin = y_pred.dtype.type(1) - signs * y_pred
    size = margin.shape[-1]
    # A margin of exactly 0 still passes the gradient (tf.maximum tie rule).
    active = (margin >= 0).astype(y_pred.dtype)
    return -(d_loss / y_pred.dtype.type(size))[..., None] * signs * active


def _kld_forward(y_true, y_pred):
    eps = backend.xp.asarray(backend.epsilon(), y_pred.dtype)
    one = y_pred.dtype.type(1)
    y_true = backend.xp.clip(y_true, eps, one)
    y_pred = backend.xp.clip(y_pred, eps, one)
    return backend.xp.sum(y_true * backend.xp.log(y_true / y_pred), axis=-1)


def _kld_backward(y_true, y_pred, d_loss):
    eps = backend.xp.asarray(backend.epsilon(), y_pred.dtype)
    one = y_pred.dtype.type(1)
    clipped_true = backend.xp.clip(y_true, eps, one)
    clipped_pred = backend.xp.clip(y_pred, eps, one)
    upstream = d_loss[..., None] * clipped_true
    # Same order of operations as autodiff through log(t / p), for float32 parity.
    d_ratio = upstream / (clipped_true / clipped_pred)
    d_clipped = -d_ratio * clipped_true / clipped_pred / clipped_pred
    return d_clipped * _clip_mask(y_pred, eps, one)


# ---------------------------------------------------------------------------
# Cross-entropies, following keras/src/backend/tensorflow/nn.py
# ---------------------------------------------------------------------------


def _check_axis(axis, ndim, where):
    if isinstance(axis, bool) or not isinstance(axis, (int, numpy.integer)):
        raise ValueError(f"{where}: axis must be an int. Received: axis={axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{where}: axis={axis} is out of range for y_pred of rank {ndim}."
        )
    return int(axis) % ndim


def _smooth_binary(y_true, label_smoothing):
    if label_smoothing:
        smoothing = y_true.dtype.type(label_smoothing)
        return y_true * (y_true.dtype.type(1) - smoothing) + y_true.dtype.type(0.5) * smoothing
    return y_true


def _bce_elements(y_true, y_pred, from_logits):
    if from_logits:
        # max(x, 0) - x z + log(1 + exp(-|x|)): never overflows.
        return (
            backend.xp.maximum(y_pred, 0) - y_pred * y_true
            + backend.xp.log1p(backend.xp.exp(-backend.xp.abs(y_pred)))
        )
    low, high = _bounds(y_pred.dtype)
    clipped = backend.xp.clip(y_pred, low, high)
    one = y_pred.dtype.type(1)
    return -(y_true * backend.xp.log(clipped) + (one - y_true) * backend.xp.log(one - clipped))


def _bce_forward(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1,
                 where="binary_crossentropy"):
    _check_same_shape(y_true, y_pred, where)
    _check_rank_at_least_1(y_pred, where)
    axis = _check_axis(axis, y_pred.ndim, where)
    y_true = _smooth_binary(y_true, label_smoothing)
    return backend.xp.mean(_bce_elements(y_true, y_pred, from_logits), axis=axis)


def _bce_backward(y_true, y_pred, d_loss, from_logits=False, label_smoothing=0.0, axis=-1):
    axis = axis % y_pred.ndim
    y_true = _smooth_binary(y_true, label_smoothing)
    upstream = backend.xp.expand_dims(d_loss / y_pred.dtype.type(y_pred.shape[axis]), axis)
    if from_logits:
        return upstream * (_sigmoid(y_pred) - y_true)
    low, high = _bounds(y_pred.dtype)
    clipped = backend.xp.clip(y_pred, low, high)
    one = y_pred.dtype.type(1)
    d_clipped = -upstream * (y_true / clipped) + upstream * (one - y_true) / (one - clipped)
    return d_clipped * _clip_mask(y_pred, low, high)


def _smooth_categorical(y_true, label_smoothing, axis):
    if label_smoothing:
        smoothing = y_true.dtype.type(label_smoothing)
        classes = y_true.dtype.type(y_true.shape[axis])
        return y_true * (y_true.dtype.type(1) - smoothing) + smoothing / classes
    return y_true


def _cce_forward(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1,
                 where="categorical_crossentropy"):
    _check_rank_at_least_1(y_pred, where)
    _check_same_shape(y_true, y_pred, where)
    axis = _check_axis(axis, y_pred.ndim, where)
    if y_pred.shape[axis] == 1:
        warnings.warn(
            f"{where}: expected y_pred of shape (batch_size, num_classes) with "
            f"num_classes > 1. Received: y_pred.shape={y_pred.shape}. Consider "
            "'binary_crossentropy' for two classes.",
            SyntaxWarning,
            stacklevel=3,
        )
    y_true = _smooth_categorical(y_true, label_smoothing, axis)
    if from_logits:
        return -backend.xp.sum(y_true * _log_softmax(y_pred, axis), axis=axis)
    # Rows are renormalised to sum to one before clipping, as Keras does.
    normalised = y_pred / backend.xp.sum(y_pred, axis=axis, keepdims=True)
    low, high = _bounds(y_pred.dtype)
    return -backend.xp.sum(y_true * backend.xp.log(backend.xp.clip(normalised, low, high)), axis=axis)


def _cce_backward(y_true, y_pred, d_loss, from_logits=False, label_smoothing=0.0, axis=-1):
    axis = axis % y_pred.ndim
    y_true = _smooth_categorical(y_true, label_smoothing, axis)
    upstream = backend.xp.expand_dims(d_loss, axis)
    if from_logits:
        # TensorFlow's fused kernel: softmax - labels, whatever the labels sum to.
        return upstream * (_softmax(y_pred, axis) - y_true)
    total = backend.xp.sum(y_pred, axis=axis, keepdims=True)
    normalised = y_pred / total
    low, high = _bounds(y_pred.dtype)
    clipped = backend.xp.clip(normalised, low, high)
    d_normalised = -upstream * y_true / clipped * _clip_mask(normalised, low, high)
    d_total = -backend.xp.sum(d_normalised * y_pred / total / total, axis=axis, keepdims=True)
    return d_normalised / total + d_total


def _sparse_labels(y_true, y_pred, where):
    """Integer class ids of shape ``y_pred.shape[:-1]``, checked against the classes."""
    if y_true.ndim == y_pred.ndim and y_true.ndim > 0 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"{where}: y_true must hold one class id per sample, with shape "
            f"y_pred.shape[:-1]={y_pred.shape[:-1]} (a trailing axis of 1 is also "
            f"accepted). Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
        )
    if not backend.xp.all(backend.xp.isfinite(y_true)):
        raise ValueError(f"{where}: y_true contains NaN or infinite class ids.")
    # Keras casts labels to int64, which truncates toward zero.
    labels = y_true.astype(backend.xp.int64)
    classes = y_pred.shape[-1]
    bad = (labels < 0) | (labels >= classes)
    if backend.xp.any(bad):
        raise ValueError(
            f"{where}: class ids must be in [0, {classes}) for y_pred with {classes} "
            f"classes. Received: class ids {backend.xp.unique(labels[bad])[:5].tolist()}"
        )
    return labels


def _one_hot(labels, classes, dtype):
    return (labels[..., None] == backend.xp.arange(classes)).astype(dtype)


def _scce_forward(y_true, y_pred, from_logits=False, axis=-1,
                  where="sparse_categorical_crossentropy"):
    if y_pred.ndim < 1:
        raise ValueError(f"{where}: y_pred must have at least one axis. Received: y_pred.shape={y_pred.shape}")
    if axis not in (-1, y_pred.ndim - 1):
        raise ValueError(f"{where}: only axis=-1 is supported. Received: axis={axis!r}")
    labels = _sparse_labels(y_true, y_pred, where)
    if from_logits:
        logits = y_pred
    else:
        low, high = _bounds(y_pred.dtype)
        logits = backend.xp.log(backend.xp.clip(y_pred, low, high))
    log_probabilities = _log_softmax(logits)
    return -backend.xp.take_along_axis(log_probabilities, labels[..., None], axis=-1)[..., 0]


def _scce_logits_value_and_gradient(y_true, logits, where):
    """Per-sample losses and their logit gradient ``softmax - one_hot`` from one log-softmax.

    The engine's training step: the labels are checked once and the softmax is
    ``exp`` of the log-softmax the losses already needed.
    """
    labels = _sparse_labels(y_true, logits, where)
    log_probabilities = _log_softmax(logits)
    values = -backend.xp.take_along_axis(log_probabilities, labels[..., None], axis=-1)[..., 0]
    d_logits = backend.xp.exp(log_probabilities, out=log_probabilities)
    flat = d_logits.reshape(-1, d_logits.shape[-1])
    flat[backend.xp.arange(flat.shape[0]), labels.reshape(-1)] -= 1
    return values, d_logits


def _scce_backward(y_true, y_pred, d_loss, from_logits=False, axis=-1):
    labels = _sparse_labels(y_true, y_pred, "sparse_categorical_crossentropy")
    one_hot = _one_hot(labels, y_pred.shape[-1], y_pred.dtype)
    upstream = d_loss[..., None]
    if from_logits:
        return upstream * (_softmax(y_pred) - one_hot)
    # From probabilities, the logits are log(clip(p)); the kernel's softmax of
    # them is clip(p) renormalised.
    low, high = _bounds(y_pred.dtype)
    clipped = backend.xp.clip(y_pred, low, high)
    d_logits = upstream * (_softmax(backend.xp.log(clipped)) - one_hot)
    return d_logits / clipped * _clip_mask(y_pred, low, high)


# ---------------------------------------------------------------------------
# Public per-sample functions (Keras names and signatures)
# ---------------------------------------------------------------------------


def _regression(forward, name, y_true, y_pred, **kwargs):
    y_true, y_pred = _as_float_pair(y_true, y_pred, name)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    _check_rank_at_least_1(y_pred, name)
    _check_broadcast(y_true, y_pred, name)
    return forward(y_true, y_pred, **kwargs)


def mean_squared_error(y_true, y_pred):
    """Mean of squared errors over the last axis: ``mean((y_true - y_pred)**2, -1)``.

    Args:
        y_true: targets, shape ``(batch, ..., d)`` (``(batch,)`` against
            ``(batch, 1)`` predictions is reshaped, not broadcast).
        y_pred: predictions, same shape.

    Returns:
        Per-sample losses, shape ``(batch, ...)``.
    """
    return _regression(_mse_forward, "mean_squared_error", y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """Mean of absolute errors over the last axis: ``mean(|y_true - y_pred|, -1)``.

    Args:
        y_true: targets, shape ``(batch, ..., d)``.
        y_pred: predictions, same shape.

    Returns:
        Per-sample losses, shape ``(batch, ...)``.
    """
    return _regression(_mae_forward, "mean_absolute_error", y_true, y_pred)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|(y_true - y_pred) / max(|y_true|, epsilon)|, -1)``.

    The ``max`` with ``epsilon`` (1e-7) keeps zero targets from dividing by zero.

    Args:
        y_true: targets, shape ``(batch, ..., d)``.
        y_pred: predictions, same shape.

    Returns:
        Per-sample losses in percent, shape ``(batch, ...)``.
    """
    return _regression(_mape_forward, "mean_absolute_percentage_error", y_true, y_pred)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))**2, -1)``.

    Values at or below zero count as ``epsilon`` (1e-7).

    Args:
        y_true: targets, shape ``(batch, ..., d)``.
        y_pred: predictions, same shape.

    Returns:
        Per-sample losses, shape ``(batch, ...)``.
    """
    return _regression(_msle_forward, "mean_squared_logarithmic_error", y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    """Huber loss: quadratic for errors up to ``delta``, linear beyond.

    ``0.5 * e**2`` where ``|e| <= delta``, else ``delta * |e| - 0.5 * delta**2``,
    averaged over the last axis.

    Args:
        y_true: targets, shape ``(batch, ..., d)``.
        y_pred: predictions, same shape.
        delta: where the quadratic part turns linear.

    Returns:
        Per-sample losses, shape ``(batch, ...)``.
    """
    return _regression(_huber_forward, "huber", y_true, y_pred, delta=delta)


def hinge(y_true, y_pred):
    """Hinge loss ``mean(max(1 - y_true * y_pred, 0), -1)``.

    Labels are expected in {-1, 1}; when every label in the batch is 0 or 1
    they are first mapped to -1 and 1.

    Args:
        y_true: labels, shape ``(batch, ..., d)``.
        y_pred: scores, same shape.

    Returns:
        Per-sample losses, shape ``(batch, ...)``.
    """
    y_true, y_pred = _as_float_pair(y_true, y_pred, "hinge")
    _check_rank_at_least_1(y_pred, "hinge")
    _check_broadcast(y_true, y_pred, "hinge")
    return _hinge_forward(y_true, y_pred)


def kl_divergence(y_true, y_pred):
    """Kullback-Leibler divergence ``sum(t * log(t / p), -1)``.

    Both arguments are clipped to ``[epsilon, 1]`` first.

    Args:
        y_true: target distributions, shape ``(batch, ..., d)``.
        y_pred: predicted distributions, same shape.

    Returns:
        Per-sample divergences, shape ``(batch, ...)``.
    """
    y_true, y_pred = _as_float_pair(y_true, y_pred, "kl_divergence")
    _check_rank_at_least_1(y_pred, "kl_divergence")
    _check_broadcast(y_true, y_pred, "kl_divergence")
    return _kld_forward(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy, averaged over ``axis``.

    From probabilities the predictions are clipped to ``[eps, 1 - eps]``
    (eps = 1e-7); from logits the stable form
    ``max(x, 0) - x * z + log(1 + exp(-|x|))`` is used.

    Args:
        y_true: labels in [0, 1], same shape as ``y_pred``.
        y_pred: probabilities (or logits), shape ``(batch, ..., d)``.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1]; labels become ``z * (1 - s) + 0.5 * s``.
        axis: the axis that is averaged.

    Returns:
        Per-sample losses, ``y_pred``'s shape without ``axis``.
    """
    y_true, y_pred = _as_float_pair(y_true, y_pred, "binary_crossentropy")
    return _bce_forward(y_true, y_pred, from_logits, label_smoothing, axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Categorical cross-entropy for one-hot (or soft) labels.

    From probabilities, each row is divided by its sum and clipped to
    ``[eps, 1 - eps]`` before the log; from logits a stable log-softmax is used.

    Args:
        y_true: one-hot labels, same shape as ``y_pred``.
        y_pred: probabilities (or logits), shape ``(batch, ..., classes)``.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1]; labels become ``t * (1 - s) + s / classes``.
        axis: the class axis.

    Returns:
        Per-sample losses, ``y_pred``'s shape without ``axis``.
    """
    y_true, y_pred = _as_float_pair(y_true, y_pred, "categorical_crossentropy")
    return _cce_forward(y_true, y_pred, from_logits, label_smoothing, axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Categorical cross-entropy for integer class ids.

    From probabilities, Keras takes ``log(clip(p))`` as logits and applies a
    softmax cross-entropy: the loss is ``-log(p_y) + log(sum(clip(p)))``, so
    rows that do not sum to one are renormalised here too.

    Args:
        y_true: class ids, shape ``(batch, ...)`` or ``(batch, ..., 1)``.
        y_pred: probabilities (or logits), shape ``(batch, ..., classes)``.
        from_logits: whether ``y_pred`` holds logits.
        axis: the class axis; only -1 is supported, as in Keras's TF backend.

    Returns:
        Per-sample losses, shape ``(batch, ...)``.
    """
    y_true, y_pred = _as_float_pair(y_true, y_pred, "sparse_categorical_crossentropy")
    return _scce_forward(y_true, y_pred, from_logits, axis)


# Keras's short names for the same functions (tf.keras.losses.mse is keras.losses.mean_squared_error).
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
bce = BCE = binary_crossentropy


# ---------------------------------------------------------------------------
# Reduction over the batch, forward and backward
# ---------------------------------------------------------------------------


def _check_reduction(reduction, where):
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"{where}: reduction must be one of {REDUCTIONS}. Received: reduction={reduction!r}"
        )
    return reduction


def _weigh(values, sample_weight, where):
    """Multiply per-sample losses by their weights, as Keras lines them up."""
    if sample_weight is None:
        return values, None, values.shape
    weights = backend.to_array(sample_weight, values.dtype, where=f"{where} (sample_weight)")
    lined_values, lined_weights = squeeze_or_expand_to_same_rank(values, weights)
    try:
        weighted = lined_values * lined_weights
    except ValueError:
        raise ValueError(
            f"{where}: sample_weight of shape {weights.shape} does not fit the "
            f"per-sample losses of shape {values.shape}."
        ) from None
    return weighted, lined_weights, lined_values.shape


def _reduce(values, sample_weight, reduction, where):
    """The Keras reduction of per-sample ``values``: a scalar or the values."""
    weighted, weights, _ = _weigh(values, sample_weight, where)
    if reduction in (None, "none") or weighted.ndim == 0 or weighted.shape == (0,):
        return weighted
    total = backend.xp.sum(weighted)
    if reduction == "sum":
        return total
    divisor = _divisor(weighted, weights, reduction)
    return total / divisor if divisor != 0 else backend.xp.zeros((), weighted.dtype)


def _divisor(weighted, weights, reduction):
    if reduction == "mean_with_sample_weight" and weights is not None:
        return backend.xp.sum(weights, dtype=weighted.dtype)
    return weighted.dtype.type(weighted.size)


def _reduce_backward(values, sample_weight, reduction, where):
    """d(reduced loss) / d(values); for no reduction, the derivative of the sum."""
    weighted, weights, lined_shape = _weigh(values, sample_weight, where)
    if reduction in (None, "none", "sum") or weighted.ndim == 0 or weighted.shape == (0,):
        d_weighted = backend.xp.ones_like(weighted)
    else:
        divisor = _divisor(weighted, weights, reduction)
        scale = 1 / divisor if divisor != 0 else 0
        d_weighted = backend.xp.full_like(weighted, scale)
    d_lined = d_weighted * weights if weights is not None else d_weighted
    return _sum_to_shape(d_lined, lined_shape).reshape(values.shape)


# ---------------------------------------------------------------------------
# Loss classes
# ---------------------------------------------------------------------------


class Loss(abc.ABC):
    """Base of every loss: per-sample :meth:`call`, then a reduction.

    Subclass it and define ``call(y_true, y_pred)`` (per-sample losses). To
    train with it, also define ``backward(y_true, y_pred, d_losses)``: the
    derivative with respect to ``y_pred`` given the upstream gradient of the
    per-sample losses.

    Args:
        reduction: ``'sum_over_batch_size'`` (default: sum divided by the number
            of per-sample values), ``'mean'`` (the same), ``'sum'``,
            ``'mean_with_sample_weight'`` (sum divided by the sum of the
            weights) or ``None``/``'none'`` (no reduction).
        name: the loss's name; by default the snake-case class name.
        dtype: float type of the computation; by default ``y_pred``'s float
            type, else :func:`backend.floatx`.
    """

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        self.reduction = _check_reduction(reduction, type(self).__name__)
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self.dtype = None if dtype is None else backend._check_float_name(type(self).__name__, dtype)

    @abc.abstractmethod
    def call(self, y_true, y_pred):
        """Per-sample losses for arrays already in the compute dtype."""

    def backward(self, y_true, y_pred, d_losses):
        """Derivative of the per-sample losses with respect to ``y_pred``.

        Built-in losses define it; a user's subclass without it cannot train.
        """
        raise TypeError(
            f"{type(self).__name__} (loss {self.name!r}) defines no backward(y_true, "
            "y_pred, d_losses), so course_lib cannot compute its gradient: course_lib "
            "has no automatic differentiation. Use a built-in loss or define backward()."
        )

    def _prepare(self, y_true, y_pred):
        return _as_float_pair(y_true, y_pred, type(self).__name__, self.dtype)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss.

        Args:
            y_true: targets.
            y_pred: predictions (probabilities, logits or values).
            sample_weight: None, a scalar, or one weight per sample.

        Returns:
            A float, or the per-sample array when ``reduction`` is None/'none'.
        """
        given_true, given_pred = y_true, y_pred
        y_true, y_pred = self._prepare(y_true, y_pred)
        values = backend.xp.asarray(self.call(y_true, y_pred), dtype=y_pred.dtype)
        # Inside a GradientTape the float comes back as a TapeScalar that tape.gradient can differentiate
        # (it finds the predictions by identity: the array the layer returned, not a cast copy).
        return tape.record_loss(self, given_true, given_pred, sample_weight, self._reduced(values, sample_weight))

    def _reduced(self, values, sample_weight):
        reduced = _reduce(values, sample_weight, self.reduction, type(self).__name__)
        if reduced.ndim == 0 and self.reduction not in (None, "none"):
            return backend.to_float(reduced)
        return reduced

    def value_and_gradient(self, y_true, y_pred, sample_weight=None):
        """``(self(y_true, y_pred, sample_weight), self.gradient(...))`` from one forward pass (the engine's step)."""
        y_true, y_pred = self._prepare(y_true, y_pred)
        values = backend.xp.asarray(self.call(y_true, y_pred), dtype=y_pred.dtype)
        return self._reduced(values, sample_weight), self._gradient_from(y_true, y_pred, values, sample_weight)

    def gradient(self, y_true, y_pred, sample_weight=None):
        """Derivative of ``self(y_true, y_pred, sample_weight)`` w.r.t. ``y_pred``.

        For ``reduction=None``/``'none'`` it is the derivative of the sum of the
        per-sample losses (what ``tf.GradientTape`` returns for a non-scalar
        target). Cross-entropies with ``from_logits=True`` differentiate with
        respect to the logits.

        Args:
            y_true: targets.
            y_pred: predictions, shape ``S``.
            sample_weight: as in :meth:`__call__`.

        Returns:
            An array of shape ``S`` in the compute dtype.
        """
        y_true, y_pred = self._prepare(y_true, y_pred)
        values = backend.xp.asarray(self.call(y_true, y_pred), dtype=y_pred.dtype)
        return self._gradient_from(y_true, y_pred, values, sample_weight)

    def _gradient_from(self, y_true, y_pred, values, sample_weight):
        d_values = _reduce_backward(values, sample_weight, self.reduction, type(self).__name__)
        d_pred = backend.xp.asarray(self.backward(y_true, y_pred, d_values), dtype=y_pred.dtype)
        if d_pred.shape != y_pred.shape:
            raise ValueError(
                f"{type(self).__name__}: backward returned shape {d_pred.shape}; "
                f"expected y_pred's shape {y_pred.shape}."
            )
        return d_pred

    def get_config(self) -> dict:
        """The constructor arguments, so that ``from_config`` rebuilds the loss."""
        config = {"name": self.name, "reduction": self.reduction}
        if self.dtype is not None:
            config["dtype"] = self.dtype
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


class _FunctionLoss(Loss):
    """A Loss around a pair of kernels: a forward and its backward."""

    _forward = None
    _backward = None

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self._kwargs = kwargs

    def _line_up(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        _check_rank_at_least_1(y_pred, type(self).__name__)
        _check_broadcast(y_true, y_pred, type(self).__name__)
        return y_true, y_pred

    def call(self, y_true, y_pred):
        y_true, y_pred = self._line_up(y_true, y_pred)
        return type(self)._forward(y_true, y_pred, **self._kwargs)

    def backward(self, y_true, y_pred, d_losses):
        lined_true, lined_pred = self._line_up(y_true, y_pred)
        d_lined = type(self)._backward(lined_true, lined_pred, d_losses, **self._kwargs)
        return _sum_to_shape(d_lined, lined_pred.shape).reshape(y_pred.shape)


class MeanSquaredError(_FunctionLoss):
    """Mean of squared errors; see :func:`mean_squared_error`."""

    _forward = staticmethod(_mse_forward)
    _backward = staticmethod(_mse_backward)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class MeanAbsoluteError(_FunctionLoss):
    """Mean of absolute errors; see :func:`mean_absolute_error`."""

    _forward = staticmethod(_mae_forward)
    _backward = staticmethod(_mae_backward)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class MeanAbsolutePercentageError(_FunctionLoss):
    """Mean absolute percentage error; see :func:`mean_absolute_percentage_error`."""

    _forward = staticmethod(_mape_forward)
    _backward = staticmethod(_mape_backward)

    def __init__(self, reduction="sum_over_batch_size",
                 name="mean_absolute_percentage_error", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(_FunctionLoss):
    """Mean squared logarithmic error; see :func:`mean_squared_logarithmic_error`."""

    _forward = staticmethod(_msle_forward)
    _backward = staticmethod(_msle_backward)

    def __init__(self, reduction="sum_over_batch_size",
                 name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class Huber(_FunctionLoss):
    """Huber loss; see :func:`huber`.

    Args:
        delta: where the quadratic part turns linear (a positive float).
    """

    _forward = staticmethod(_huber_forward)
    _backward = staticmethod(_huber_backward)

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        if not isinstance(delta, (int, float, numpy.floating, numpy.integer)) or delta < 0:
            raise ValueError(f"Huber: delta must be a non-negative number. Received: delta={delta!r}")
        super().__init__(reduction=reduction, name=name, dtype=dtype, delta=float(delta))
        self.delta = float(delta)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class Hinge(_FunctionLoss):
    """Hinge loss; see :func:`hinge`."""

    _forward = staticmethod(_hinge_forward)
    _backward = staticmethod(_hinge_backward)

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class KLDivergence(_FunctionLoss):
    """Kullback-Leibler divergence; see :func:`kl_divergence`."""

    _forward = staticmethod(_kld_forward)
    _backward = staticmethod(_kld_backward)

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class _Crossentropy(_FunctionLoss):
    """Shared parts of the three cross-entropies: options, checks, with_logits."""

    def _line_up(self, y_true, y_pred):
        # Cross-entropies check shapes themselves (same shape, or class ids).
        return squeeze_or_expand_to_same_rank(y_true, y_pred)

    def call(self, y_true, y_pred):
        y_true, y_pred = self._line_up(y_true, y_pred)
        return type(self)._forward(y_true, y_pred, **self._kwargs, where=type(self).__name__)

    def _set_options(self, from_logits, label_smoothing, axis, reduction, name, dtype):
        label_smoothing = _check_smoothing(type(self).__name__, label_smoothing)
        super().__init__(reduction=reduction, name=name, dtype=dtype, from_logits=bool(from_logits),
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits = bool(from_logits)
        self.label_smoothing = label_smoothing
        self.axis = axis

    def get_config(self):
        config = {**super().get_config(), "from_logits": self.from_logits, "axis": self.axis}
        if hasattr(self, "label_smoothing"):
            config["label_smoothing"] = self.label_smoothing
        return config

    def with_logits(self):
        """The same loss reading ``y_pred`` as logits.

        The training engine uses it when the model ends in a softmax/sigmoid, so
        that the loss is computed from the pre-activation (as Keras's TF backend
        does through ``_keras_logits``).

        Returns:
            A new loss of the same class with ``from_logits=True``.
        """
        if self.from_logits:
            warnings.warn(
                f"{type(self).__name__}: from_logits=True, but the predictions come "
                "from a softmax/sigmoid and are not logits. Was this intended?",
                stacklevel=2,
            )
        config = self.get_config()
        config["from_logits"] = True
        return type(self).from_config(config)


def _check_smoothing(where, label_smoothing):
    if not isinstance(label_smoothing, (int, float, numpy.floating, numpy.integer)) or not (
        0 <= label_smoothing <= 1
    ):
        raise ValueError(
            f"{where}: label_smoothing must be a float in [0, 1]. "
            f"Received: label_smoothing={label_smoothing!r}"
        )
    return float(label_smoothing)


class BinaryCrossentropy(_Crossentropy):
    """Binary cross-entropy; see :func:`binary_crossentropy`.

    Args:
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1], squeezes labels towards 0.5.
        axis: the averaged axis.
    """

    _forward = staticmethod(_bce_forward)
    _backward = staticmethod(_bce_backward)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        self._set_options(from_logits, label_smoothing, axis, reduction, name, dtype)


class CategoricalCrossentropy(_Crossentropy):
    """Categorical cross-entropy for one-hot labels; see :func:`categorical_crossentropy`.

    Args:
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1], mixes labels with the uniform distribution.
        axis: the class axis.
    """

    _forward = staticmethod(_cce_forward)
    _backward = staticmethod(_cce_backward)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        self._set_options(from_logits, label_smoothing, axis, reduction, name, dtype)


class SparseCategoricalCrossentropy(_Crossentropy):
    """Categorical cross-entropy for integer labels; see :func:`sparse_categorical_crossentropy`.

    Args:
        from_logits: whether ``y_pred`` holds logits.
        axis: the class axis (only -1).

    Keras's ``ignore_class`` option is not implemented.
    """

    _forward = staticmethod(_scce_forward)
    _backward = staticmethod(_scce_backward)

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", axis=-1,
                 name="sparse_categorical_crossentropy", dtype=None):
        if axis != -1:
            raise ValueError(
                f"SparseCategoricalCrossentropy: only axis=-1 is supported. Received: axis={axis!r}"
            )
        super().__init__(reduction=reduction, name=name, dtype=dtype,
                         from_logits=bool(from_logits), axis=axis)
        self.from_logits = bool(from_logits)
        self.axis = axis

    def _line_up(self, y_true, y_pred):
        return y_true, y_pred

    def value_and_gradient(self, y_true, y_pred, sample_weight=None):
        if not self.from_logits:
            return super().value_and_gradient(y_true, y_pred, sample_weight)
        y_true, y_pred = self._prepare(y_true, y_pred)
        if y_pred.ndim < 1:
            return super().value_and_gradient(y_true, y_pred, sample_weight)  # its error message
        values, d_logits = _scce_logits_value_and_gradient(y_true, y_pred, type(self).__name__)
        d_values = _reduce_backward(values, sample_weight, self.reduction, type(self).__name__)
        d_logits *= d_values[..., None]
        return self._reduced(values, sample_weight), d_logits


class LossFunctionWrapper(Loss):
    """A Loss around a plain function ``fn(y_true, y_pred) -> per-sample losses``.

    It evaluates like any loss, but has no gradient: course_lib has no
    automatic differentiation, so training with it raises a clear TypeError.

    Args:
        fn: the function.
        reduction, name, dtype: as in :class:`Loss`.
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None):
        if not callable(fn):
            raise TypeError(f"LossFunctionWrapper: fn must be callable. Received: fn={fn!r}")
        fn_name = getattr(fn, "__name__", type(fn).__name__)
        super().__init__(reduction=reduction, name=name or backend.snake_case(fn_name), dtype=dtype)
        self.fn = fn

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred)

    def backward(self, y_true, y_pred, d_losses):
        raise TypeError(
            f"Loss {self.name!r} wraps the custom function "
            f"{getattr(self.fn, '__name__', self.fn)!r}. Custom functions have no "
            "derivative here (course_lib has no automatic differentiation), so it "
            "cannot be trained with. Use a built-in loss, or subclass losses.Loss "
            "and define call() and backward()."
        )

    def get_config(self):
        raise TypeError(
            f"LossFunctionWrapper: the custom function {self.fn!r} cannot be serialised."
        )


# ---------------------------------------------------------------------------
# Lookup and serialisation
# ---------------------------------------------------------------------------

_CLASSES = {
    cls.__name__: cls
    for cls in (
        MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError, Huber, Hinge, KLDivergence,
        BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
    )
}
# Names of functions (and Keras's aliases): ``get`` returns the class with
# default options, named as the user wrote it -- what Keras's compile does
# when it wraps a loss function.
_FUNCTION_NAMES = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
    "huber": Huber, "hinge": Hinge,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "KLD": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
KNOWN_NAMES = tuple(sorted(_FUNCTION_NAMES)) + tuple(sorted(_CLASSES)) + ("crossentropy", "ce")


def is_binary_or_sparse_categorical(y_true, y_pred):
    """Keras's compile-time guess of the label format from array shapes.

    Args:
        y_true, y_pred: arrays (only their shapes are read).

    Returns:
        ``(is_binary, is_sparse_categorical)``: binary when predictions have
        one column; sparse when the labels have fewer axes, or one column
        against several predicted ones.
    """
    # Shapes only: arrays, or the model's symbolic outputs before the first batch.
    true_shape, pred_shape = tuple(getattr(y_true, "shape", ())), tuple(getattr(y_pred, "shape", ()))
    true_last = true_shape[-1] if true_shape else None
    pred_last = pred_shape[-1] if pred_shape else None
    is_binary = pred_last == 1
    is_sparse = len(true_shape) < len(pred_shape) or (
        true_last == 1 and pred_last is not None and pred_last > 1
    )
    return is_binary, is_sparse


def get(identifier, y_true=None, y_pred=None):
    """A Loss instance from a name, a config, a Loss, a Loss class or a function.

    Args:
        identifier: ``'mse'``, ``'categorical_crossentropy'``,
            ``'CategoricalCrossentropy'``, a config dict from :func:`serialize`,
            a :class:`Loss` (returned as is), a Loss subclass (instantiated), or
            a function ``f(y_true, y_pred)`` (wrapped; it evaluates but cannot
            be differentiated). ``'crossentropy'``/``'ce'`` pick binary, sparse
            or categorical cross-entropy from the shapes of ``y_true`` and
            ``y_pred``, as Keras's compile does.
        y_true, y_pred: sample arrays, needed only for ``'crossentropy'``.

    Returns:
        A :class:`Loss`, or None for None.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        if identifier.lower() in ("crossentropy", "ce"):
            return _pick_crossentropy(identifier, y_true, y_pred)
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        if identifier in _FUNCTION_NAMES:
            return _FUNCTION_NAMES[identifier](name=identifier)
    elif callable(identifier):
        name = getattr(identifier, "__name__", None)
        module = getattr(identifier, "__module__", "") or ""
        if name in _FUNCTION_NAMES and (globals().get(name) is identifier or module.startswith("keras")):
            # A built-in loss function (course_lib's or Keras's): its Loss class, which has a backward.
            return _FUNCTION_NAMES[name](name=name)
        return LossFunctionWrapper(identifier)
    raise ValueError(
        f"losses.get: could not interpret loss identifier {identifier!r}. "
        f"Known names: {', '.join(KNOWN_NAMES)}; or pass a Loss instance, a Loss "
        "class or a function f(y_true, y_pred)."
    )


def _pick_crossentropy(identifier, y_true, y_pred):
    if y_true is None or y_pred is None:
        raise ValueError(
            f"losses.get: {identifier!r} chooses binary, sparse or categorical "
            "cross-entropy from the data, so it needs y_true= and y_pred= arrays. "
            f"Received: y_true={'None' if y_true is None else 'an array'}, "
            f"y_pred={'None' if y_pred is None else 'an array'}"
        )
    is_binary, is_sparse = is_binary_or_sparse_categorical(y_true, y_pred)
    if is_binary:
        return BinaryCrossentropy(name=identifier)
    if is_sparse:
        return SparseCategoricalCrossentropy(name=identifier)
    return CategoricalCrossentropy(name=identifier)


def serialize(loss) -> dict:
    """``{'class_name': ..., 'config': ...}`` for a built-in Loss instance.

    Args:
        loss: a :class:`Loss`.

    Returns:
        A dict that :func:`deserialize` turns back into an equal loss.
    """
    if not isinstance(loss, Loss):
        raise TypeError(f"losses.serialize: expected a Loss instance. Received: {loss!r}")
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config, custom_objects=None):
    """A Loss from :func:`serialize`'s dict (or from a name, as :func:`get`).

    Args:
        config: ``{'class_name': ..., 'config': {...}}`` or a string name.
        custom_objects: optional ``{name: Loss subclass}`` for user classes.

    Returns:
        A :class:`Loss`.
    """
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "losses.deserialize: expected a dict with 'class_name' and 'config'. "
            f"Received: {config!r}"
        )
    classes = {**_CLASSES, **(custom_objects or {})}
    class_name = config["class_name"]
    if class_name not in classes:
        raise ValueError(
            f"losses.deserialize: unknown loss class {class_name!r}. "
            f"Known classes: {', '.join(sorted(classes))}"
        )
    return classes[class_name].from_config(dict(config.get("config", {})))
