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
import math
import numbers
import warnings

import numpy

from course_lib import activations, backend, tape
from course_lib.ops import ctc as _ctc_ops

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


class Reduction:
    """tf.keras's legacy names for the reductions (``keras.losses.Reduction``), kept for old code.

    ``Reduction.SUM`` is ``"sum"``, ``NONE`` ``"none"``, ``SUM_OVER_BATCH_SIZE``
    ``"sum_over_batch_size"``; ``AUTO`` (``"auto"``) is a name Keras 3's losses
    refuse, as course_lib's do. :meth:`validate` checks a key against these
    four only, as Keras's does.
    """

    AUTO = "auto"
    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"

    @classmethod
    def all(cls):
        return cls.AUTO, cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE

    @classmethod
    def validate(cls, key):
        if key not in cls.all():
            raise ValueError(f'Invalid Reduction Key: {key}. Expected keys are "{cls.all()}"')


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


def _squared_hinge_forward(y_true, y_pred):
    signs = _hinge_labels(y_true)
    margin = backend.xp.maximum(y_pred.dtype.type(1) - signs * y_pred, 0)
    return backend.xp.mean(backend.xp.square(margin), axis=-1)


def _squared_hinge_backward(y_true, y_pred, d_loss):
    signs = _hinge_labels(y_true)
    margin = backend.xp.maximum(y_pred.dtype.type(1) - signs * y_pred, 0)
    size = margin.shape[-1]
    return -(d_loss / y_pred.dtype.type(size))[..., None] * y_pred.dtype.type(2) * margin * signs


def _categorical_hinge_parts(y_true, y_pred):
    one = y_pred.dtype.type(1)
    negatives = (one - y_true) * y_pred
    positive = backend.xp.sum(y_true * y_pred, axis=-1)
    negative = backend.xp.max(negatives, axis=-1)
    return negatives, negative, negative - positive + one


def _categorical_hinge_forward(y_true, y_pred):
    _, _, margin = _categorical_hinge_parts(y_true, y_pred)
    return backend.xp.maximum(margin, y_pred.dtype.type(0))


def _categorical_hinge_backward(y_true, y_pred, d_loss):
    negatives, negative, margin = _categorical_hinge_parts(y_true, y_pred)
    # tf.maximum passes the gradient on a tie (margin 0); reduce_max shares it among tied maxima.
    upstream = (d_loss * (margin >= 0).astype(y_pred.dtype))[..., None]
    tied = (negatives == negative[..., None]).astype(y_pred.dtype)
    tied = tied / backend.xp.sum(tied, axis=-1, keepdims=True)
    one = y_pred.dtype.type(1)
    return upstream * (tied * (one - y_true) - y_true)


def _poisson_forward(y_true, y_pred):
    eps = y_pred.dtype.type(backend.epsilon())
    return backend.xp.mean(y_pred - y_true * backend.xp.log(y_pred + eps), axis=-1)


def _poisson_backward(y_true, y_pred, d_loss):
    eps = y_pred.dtype.type(backend.epsilon())
    size = numpy.broadcast_shapes(y_true.shape, y_pred.shape)[-1]
    return (d_loss / y_pred.dtype.type(size))[..., None] * (y_pred.dtype.type(1) - y_true / (y_pred + eps))


def _log_cosh_forward(y_true, y_pred):
    # Keras's overflow-safe form: log(cosh(x)) = x + softplus(-2x) - log(2).
    error = y_pred - y_true
    log2 = y_pred.dtype.type(math.log(2.0))
    return backend.xp.mean(error + activations._softplus_forward(error * y_pred.dtype.type(-2)) - log2, axis=-1)


def _log_cosh_backward(y_true, y_pred, d_loss):
    error = y_pred - y_true
    size = error.shape[-1]
    upstream = (d_loss / y_pred.dtype.type(size))[..., None]
    # d/dx (x + softplus(-2x)) = 1 - 2 sigmoid(-2x), i.e. tanh(x), in autodiff's order.
    return upstream + upstream * _sigmoid(error * y_pred.dtype.type(-2)) * y_pred.dtype.type(-2)


def _axes(axis, ndim, where):
    """``axis`` (None, an int or a tuple of ints) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    return tuple(sorted({_check_axis(item, ndim, where) for item in items}))


def _l2_normalize(x, axes):
    """Keras's ``ops.normalize``: ``x * min(rsqrt(sum(x**2)), 1/epsilon)``, and what autodiff needs."""
    square_sum = backend.xp.sum(backend.xp.square(x), axis=axes, keepdims=True)
    with backend.errstate(divide="ignore"):
        inverse_root = x.dtype.type(1) / backend.xp.sqrt(square_sum)
    limit = x.dtype.type(1.0 / backend.epsilon())
    inverse_norm = backend.xp.minimum(inverse_root, limit)
    return x * inverse_norm, inverse_root, inverse_norm, limit


def _l2_normalize_backward(x, d_normalized, inverse_root, inverse_norm, limit, axes):
    # tf.minimum sends the gradient to rsqrt on a tie; rsqrt's derivative is -0.5 y**3.
    d_inverse = backend.xp.sum(d_normalized * x, axis=axes, keepdims=True)
    d_inverse = d_inverse * (inverse_root <= limit).astype(x.dtype)
    with backend.errstate(invalid="ignore", over="ignore"):  # a zero vector: rsqrt is inf, its gradient blocked
        d_square_sum = d_inverse * x.dtype.type(-0.5) * inverse_root ** 3
    d_square_sum = backend.xp.where(backend.xp.isfinite(inverse_root), d_square_sum, 0)
    return d_normalized * inverse_norm + d_square_sum * x.dtype.type(2) * x


def _cosine_forward(y_true, y_pred, axis=-1):
    axes = _axes(axis, y_pred.ndim, "cosine_similarity")
    true_normalized = _l2_normalize(y_true, axes)[0]
    pred_normalized = _l2_normalize(y_pred, axes)[0]
    return -backend.xp.sum(true_normalized * pred_normalized, axis=axes)


def _cosine_backward(y_true, y_pred, d_loss, axis=-1):
    axes = _axes(axis, y_pred.ndim, "cosine_similarity")
    true_normalized = _l2_normalize(y_true, axes)[0]
    _, inverse_root, inverse_norm, limit = _l2_normalize(y_pred, axes)
    d_normalized = -backend.xp.expand_dims(d_loss, axes) * true_normalized
    d_normalized = backend.xp.broadcast_to(d_normalized, numpy.broadcast_shapes(d_normalized.shape, y_pred.shape))
    return _l2_normalize_backward(y_pred, d_normalized, inverse_root, inverse_norm, limit, axes)


def _circle_labels(y_true, y_pred, where, argument="y_true"):
    """Integer labels, one per row of ``y_pred``: shape ``(batch,)`` or ``(batch, 1)``, truncated as Keras casts."""
    labels = y_true[..., 0] if y_true.ndim == 2 and y_true.shape[-1] == 1 else y_true
    if labels.ndim != 1 or labels.shape[0] != y_pred.shape[0]:
        raise ValueError(
            f"{where}: {argument} must hold one integer label per embedding, with shape "
            f"({y_pred.shape[0]},) or ({y_pred.shape[0]}, 1). Received: {argument}.shape={y_true.shape}, "
            f"embeddings shape={y_pred.shape}"
        )
    if not bool(backend.to_numpy(backend.xp.all(backend.xp.isfinite(labels)))):
        raise ValueError(f"{where}: {argument} contains NaN or infinite labels.")
    return labels.astype(backend.xp.int64)


def _check_embeddings(embeddings, where, argument="y_pred"):
    if embeddings.ndim != 2:
        raise ValueError(
            f"{where}: {argument} must be a batch of embeddings of shape (batch, dim). "
            f"Received: {argument}.shape={embeddings.shape}"
        )


def _circle_parts(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80.0,
                  margin=0.4, where="circle"):
    """Every intermediate of Keras's circle loss (its names), from labels and L2-normalised embeddings."""
    xp = backend.xp
    dt = y_pred.dtype.type
    _check_embeddings(y_pred, where)
    reference = y_pred if ref_embeddings is None else ref_embeddings
    if ref_embeddings is not None:
        _check_embeddings(reference, where, "ref_embeddings")
        if reference.shape[1] != y_pred.shape[1]:
            raise ValueError(
                f"{where}: ref_embeddings must have the embedding size of y_pred ({y_pred.shape[1]}). "
                f"Received: ref_embeddings.shape={reference.shape}, y_pred.shape={y_pred.shape}"
            )
    labels = _circle_labels(y_true, y_pred, where)
    keys = labels if ref_labels is None else _circle_labels(ref_labels, reference, where, "ref_labels")
    raw = dt(1) - y_pred @ reference.T
    distances = xp.maximum(raw, dt(0))
    positive = labels[:, None] == keys[None, :]
    negative = ~positive
    if remove_diagonal:
        positive = positive & ~xp.eye(labels.shape[0], keys.shape[0], dtype=bool)
    positive_float, negative_float = positive.astype(y_pred.dtype), negative.astype(y_pred.dtype)
    margin_ = dt(margin)
    pos_raw = (margin_ + distances) * positive_float
    neg_raw = (dt(1.0 + margin) - distances) * negative_float
    pos_weights, neg_weights = xp.maximum(pos_raw, dt(0)), xp.maximum(neg_raw, dt(0))
    pos_dists, neg_dists = margin_ - distances, dt(1.0 - margin) - distances
    pos_wdists = dt(-gamma) * pos_weights * pos_dists
    neg_wdists = dt(gamma) * neg_weights * neg_dists
    return dict(reference=reference, raw=raw, positive=positive, negative=negative,
                positive_float=positive_float, negative_float=negative_float, pos_raw=pos_raw, neg_raw=neg_raw,
                pos_weights=pos_weights, neg_weights=neg_weights, pos_dists=pos_dists, neg_dists=neg_dists,
                pos_wdists=pos_wdists, neg_wdists=neg_wdists)


def _masked_logsumexp(x, keep):
    """``tf.reduce_logsumexp(where(keep, x, -inf), axis=1)`` and its softmax weights (0 where not kept).

    A row with nothing kept gives ``-inf`` and weights 0: TensorFlow's 0/0 there is
    blocked by the ``where``'s gradient.
    """
    xp = backend.xp
    masked = xp.where(keep, x, x.dtype.type(-xp.inf))
    peak = xp.max(masked, axis=1, keepdims=True)
    peak = xp.where(xp.isfinite(peak), peak, x.dtype.type(0))
    with backend.errstate(divide="ignore", invalid="ignore", over="ignore"):
        shifted = xp.exp(masked - peak)
        total = xp.sum(shifted, axis=1, keepdims=True)
        value = xp.log(total) + peak
        weights = xp.where(keep, shifted / total, x.dtype.type(0))
    return value[:, 0], weights


def _circle_forward(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80.0,
                    margin=0.4, where="circle"):
    parts = _circle_parts(y_true, y_pred, ref_labels, ref_embeddings, remove_diagonal, gamma, margin, where)
    p_loss, _ = _masked_logsumexp(parts["pos_wdists"], parts["positive"])
    n_loss, _ = _masked_logsumexp(parts["neg_wdists"], parts["negative"])
    return activations._softplus_forward(p_loss + n_loss)


def _circle_backward(y_true, y_pred, d_loss, remove_diagonal=True, gamma=80.0, margin=0.4, where="circle"):
    """d loss / d y_pred when the reference is the batch itself (labels and embeddings), as the class uses it."""
    dt = y_pred.dtype.type
    parts = _circle_parts(y_true, y_pred, None, None, remove_diagonal, gamma, margin, where)
    p_loss, pos_softmax = _masked_logsumexp(parts["pos_wdists"], parts["positive"])
    n_loss, neg_softmax = _masked_logsumexp(parts["neg_wdists"], parts["negative"])
    d_sum = (d_loss * _sigmoid(p_loss + n_loss))[:, None]  # softplus' = sigmoid; 0 at -inf
    d_pos_wdists, d_neg_wdists = d_sum * pos_softmax, d_sum * neg_softmax
    # pos_wdists = -gamma * pos_weights * pos_dists; neg_wdists = gamma * neg_weights * neg_dists.
    d_pos_weights = d_pos_wdists * dt(-gamma) * parts["pos_dists"]
    d_pos_dists = d_pos_wdists * dt(-gamma) * parts["pos_weights"]
    d_neg_weights = d_neg_wdists * dt(gamma) * parts["neg_dists"]
    d_neg_dists = d_neg_wdists * dt(gamma) * parts["neg_weights"]
    # tf.maximum(x, 0) passes the gradient to x on a tie.
    d_pos_raw = d_pos_weights * (parts["pos_raw"] >= 0).astype(y_pred.dtype)
    d_neg_raw = d_neg_weights * (parts["neg_raw"] >= 0).astype(y_pred.dtype)
    d_distances = (d_pos_raw * parts["positive_float"] - d_neg_raw * parts["negative_float"]
                   - d_pos_dists - d_neg_dists)
    d_similarity = -d_distances * (parts["raw"] >= 0).astype(y_pred.dtype)
    # similarity = y_pred @ y_pred.T: the reference is y_pred too.
    return d_similarity @ y_pred + d_similarity.T @ y_pred


def _overlap_sums(y_true, y_pred, axis, where):
    """The summed axes (None: every axis) and ``sum(y_true * y_pred)`` over them, for Dice and Tversky."""
    axes = None if axis is None else _axes(axis, y_pred.ndim, where)
    return axes, backend.xp.sum(y_true * y_pred, axis=axes)


def _expand_reduced(d_loss, axes, ndim):
    """The upstream gradient of a sum over ``axes`` (None: all), broadcastable against the summed array."""
    if axes is None:
        return backend.xp.reshape(d_loss, (1,) * ndim)
    return backend.xp.expand_dims(d_loss, axes)


def _dice_denominator(y_true, y_pred, axes):
    eps = y_pred.dtype.type(backend.epsilon())
    return backend.xp.sum(y_true, axis=axes) + backend.xp.sum(y_pred, axis=axes) + eps


def _dice_forward(y_true, y_pred, axis=None):
    axes, intersection = _overlap_sums(y_true, y_pred, axis, "dice")
    denominator = _dice_denominator(y_true, y_pred, axes)
    return y_pred.dtype.type(1) - y_pred.dtype.type(2) * intersection / denominator


def _dice_backward(y_true, y_pred, d_loss, axis=None):
    axes, intersection = _overlap_sums(y_true, y_pred, axis, "dice")
    denominator = _dice_denominator(y_true, y_pred, axes)
    two = y_pred.dtype.type(2)
    d_intersection = _expand_reduced(-d_loss * two / denominator, axes, y_pred.ndim)
    d_denominator = _expand_reduced(d_loss * two * intersection / denominator / denominator, axes, y_pred.ndim)
    return d_intersection * y_true + d_denominator * backend.xp.ones_like(y_pred)


def _tversky_parts(y_true, y_pred, alpha, beta, axis):
    axes, intersection = _overlap_sums(y_true, y_pred, axis, "tversky")
    one = y_pred.dtype.type(1)
    # Keras's names: its "fp" sums (1 - y_pred) * y_true and its "fn" sums y_pred * (1 - y_true).
    fp = backend.xp.sum((one - y_pred) * y_true, axis=axes)
    fn = backend.xp.sum(y_pred * (one - y_true), axis=axes)
    denominator = (intersection + fp * y_pred.dtype.type(alpha) + fn * y_pred.dtype.type(beta)
                   + y_pred.dtype.type(backend.epsilon()))
    return axes, intersection, denominator


def _tversky_forward(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    _, intersection, denominator = _tversky_parts(y_true, y_pred, alpha, beta, axis)
    return y_pred.dtype.type(1) - intersection / denominator


def _tversky_backward(y_true, y_pred, d_loss, alpha=0.5, beta=0.5, axis=None):
    axes, intersection, denominator = _tversky_parts(y_true, y_pred, alpha, beta, axis)
    one = y_pred.dtype.type(1)
    d_intersection = _expand_reduced(-d_loss / denominator, axes, y_pred.ndim)
    d_denominator = _expand_reduced(d_loss * intersection / denominator / denominator, axes, y_pred.ndim)
    # d(denominator)/d(y_pred) = y_true - alpha * y_true + beta * (1 - y_true)
    slope = y_true - y_pred.dtype.type(alpha) * y_true + y_pred.dtype.type(beta) * (one - y_true)
    return d_intersection * y_true + d_denominator * slope * backend.xp.ones_like(y_pred)


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


def _cgce_forward(y_true, y_pred, q=0.5, where="categorical_generalized_cross_entropy"):
    _check_rank_at_least_1(y_pred, where)
    labels = _sparse_labels(y_true, y_pred, where)
    p = backend.xp.sum(y_pred * _one_hot(labels, y_pred.shape[-1], y_pred.dtype), axis=-1)
    q = y_pred.dtype.type(q)
    return (y_pred.dtype.type(1) - backend.xp.power(p, q)) / q


def _cgce_backward(y_true, y_pred, d_loss, q=0.5, where="categorical_generalized_cross_entropy"):
    labels = _sparse_labels(y_true, y_pred, where)
    one_hot = _one_hot(labels, y_pred.shape[-1], y_pred.dtype)
    p = backend.xp.sum(y_pred * one_hot, axis=-1)
    q = y_pred.dtype.type(q)
    # TensorFlow's pow gradient, q * p ** (q - 1): infinite at p = 0, and then NaN (inf * 0) off the true class.
    with backend.errstate(divide="ignore", invalid="ignore"):
        d_p = -(d_loss / q) * q * backend.xp.power(p, q - y_pred.dtype.type(1))
        return d_p[..., None] * one_hot


def _focal_power_backward(base, gamma):
    """d(base ** gamma) / d(base) as TensorFlow's pow gradient gives it: ``gamma * base ** (gamma - 1)``."""
    with backend.errstate(divide="ignore", invalid="ignore"):
        return base.dtype.type(gamma) * backend.xp.power(base, base.dtype.type(gamma - 1))


def _bfce_parts(y_true, y_pred, from_logits, label_smoothing):
    """Smoothed labels, probabilities, the cross-entropy elements and ``1 - p_t``."""
    y_true = _smooth_binary(y_true, label_smoothing)
    one = y_pred.dtype.type(1)
    # From logits, Keras's sigmoid output keeps its logits, so the cross-entropy is the stable logits form.
    probabilities = _sigmoid(y_pred) if from_logits else y_pred
    elements = _bce_elements(y_true, y_pred, from_logits)
    p_t = y_true * probabilities + (one - y_true) * (one - probabilities)
    return y_true, probabilities, elements, one - p_t


def _bfce_weight(y_true, alpha):
    one = y_true.dtype.type(1)
    alpha = y_true.dtype.type(alpha)
    return y_true * alpha + (one - y_true) * (one - alpha)


def _bfce_forward(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                  label_smoothing=0.0, axis=-1, where="binary_focal_crossentropy"):
    _check_same_shape(y_true, y_pred, where)
    _check_rank_at_least_1(y_pred, where)
    axis = _check_axis(axis, y_pred.ndim, where)
    y_true, _, elements, miss = _bfce_parts(y_true, y_pred, from_logits, label_smoothing)
    focal = backend.xp.power(miss, y_pred.dtype.type(gamma)) * elements
    if apply_class_balancing:
        focal = _bfce_weight(y_true, alpha) * focal
    return backend.xp.mean(focal, axis=axis)


def _bfce_backward(y_true, y_pred, d_loss, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                   from_logits=False, label_smoothing=0.0, axis=-1):
    axis = axis % y_pred.ndim
    y_true, probabilities, elements, miss = _bfce_parts(y_true, y_pred, from_logits, label_smoothing)
    one = y_pred.dtype.type(1)
    upstream = backend.xp.expand_dims(d_loss / y_pred.dtype.type(y_pred.shape[axis]), axis)
    if apply_class_balancing:
        upstream = upstream * _bfce_weight(y_true, alpha)
    factor = backend.xp.power(miss, y_pred.dtype.type(gamma))
    # 1 - p_t falls by (2 y - 1) for every unit the probability rises.
    d_probabilities = -upstream * elements * _focal_power_backward(miss, gamma) * (y_true + y_true - one)
    d_elements = upstream * factor
    if from_logits:
        d_logits_elements = d_elements * (probabilities - y_true)
        return d_probabilities * probabilities * (one - probabilities) + d_logits_elements
    low, high = _bounds(y_pred.dtype)
    clipped = backend.xp.clip(y_pred, low, high)
    d_clipped = -d_elements * (y_true / clipped) + d_elements * (one - y_true) / (one - clipped)
    return d_probabilities + d_clipped * _clip_mask(y_pred, low, high)


def _cfce_labels(y_true, label_smoothing):
    if label_smoothing:
        # Keras divides by the size of the LAST axis, whatever the class axis.
        smoothing = y_true.dtype.type(label_smoothing)
        return y_true * (y_true.dtype.type(1) - smoothing) + smoothing / y_true.dtype.type(y_true.shape[-1])
    return y_true


def _cfce_alpha(alpha, dtype):
    return backend.xp.asarray(alpha, dtype)


def _cfce_parts(y_pred, from_logits, axis):
    probabilities = _softmax(y_pred, axis) if from_logits else y_pred
    total = backend.xp.sum(probabilities, axis=axis, keepdims=True)
    normalised = probabilities / total
    low, high = _bounds(y_pred.dtype)
    return probabilities, total, normalised, backend.xp.clip(normalised, low, high)


def _cfce_forward(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                  where="categorical_focal_crossentropy"):
    if isinstance(axis, bool):
        raise ValueError(f"{where}: axis must be of type int. Received: axis={axis} of type {type(axis)}")
    _check_rank_at_least_1(y_pred, where)
    _check_broadcast(y_true, y_pred, where)
    axis = _check_axis(axis, y_pred.ndim, where)
    if y_pred.shape[-1] == 1:
        warnings.warn(
            f"In loss {where}, expected y_pred.shape to be (batch_size, num_classes) with "
            f"num_classes > 1. Received: y_pred.shape={y_pred.shape}. Consider using "
            "'binary_crossentropy' if you only have 2 classes.",
            SyntaxWarning,
            stacklevel=3,
        )
    y_true = _cfce_labels(y_true, label_smoothing)
    _, _, _, clipped = _cfce_parts(y_pred, from_logits, axis)
    one = y_pred.dtype.type(1)
    cross_entropy = -y_true * backend.xp.log(clipped)
    weighting = backend.xp.power(one - clipped, y_pred.dtype.type(gamma)) * _cfce_alpha(alpha, y_pred.dtype)
    return backend.xp.sum(weighting * cross_entropy, axis=axis)


def _cfce_backward(y_true, y_pred, d_loss, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                   axis=-1):
    axis = axis % y_pred.ndim
    y_true = _cfce_labels(y_true, label_smoothing)
    probabilities, total, normalised, clipped = _cfce_parts(y_pred, from_logits, axis)
    one = y_pred.dtype.type(1)
    upstream = backend.xp.expand_dims(d_loss, axis) * _cfce_alpha(alpha, y_pred.dtype)
    cross_entropy = -y_true * backend.xp.log(clipped)
    factor = backend.xp.power(one - clipped, y_pred.dtype.type(gamma))
    d_clipped = -upstream * cross_entropy * _focal_power_backward(one - clipped, gamma)
    d_clipped = d_clipped - upstream * factor * y_true / clipped
    low, high = _bounds(y_pred.dtype)
    d_normalised = d_clipped * _clip_mask(normalised, low, high)
    d_total = -backend.xp.sum(d_normalised * probabilities / total / total, axis=axis, keepdims=True)
    d_probabilities = d_normalised / total + d_total
    if not from_logits:
        return d_probabilities
    # The softmax's backward: p * (g - sum(g * p)).
    return probabilities * (d_probabilities - backend.xp.sum(d_probabilities * probabilities, axis=axis,
                                                             keepdims=True))


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


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Categorical cross-entropy for integer class ids.

    From probabilities, Keras takes ``log(clip(p))`` as logits and applies a
    softmax cross-entropy: the loss is ``-log(p_y) + log(sum(clip(p)))``, so
    rows that do not sum to one are renormalised here too.

    Args:
        y_true: class ids, shape ``(batch, ...)`` or ``(batch, ..., 1)``.
        y_pred: probabilities (or logits), shape ``(batch, ..., classes)``.
        from_logits: whether ``y_pred`` holds logits.
        ignore_class: None, or a label whose entries get a loss of 0.
        axis: the class axis; only -1 is supported, as in Keras's TF backend.

    Returns:
        Per-sample losses, shape ``(batch, ...)``.
    """
    y_true, y_pred = _as_float_pair(y_true, y_pred, "sparse_categorical_crossentropy")
    y_true, kept = _ignore_class(y_true, y_pred, ignore_class)
    values = _scce_forward(y_true, y_pred, from_logits, axis)
    return values if kept is None else backend.xp.where(kept, values, values.dtype.type(0))


def squared_hinge(y_true, y_pred):
    """Squared hinge loss ``mean(max(1 - y_true * y_pred, 0)**2, -1)``.

    Labels are expected in {-1, 1}; when every label in the batch is 0 or 1
    they are first mapped to -1 and 1.

    Args:
        y_true: labels, shape ``(batch, ..., d)``.
        y_pred: scores, same shape.

    Returns:
        Per-sample losses, shape ``(batch, ...)``.
    """
    y_true, y_pred = _as_float_pair(y_true, y_pred, "squared_hinge")
    _check_rank_at_least_1(y_pred, "squared_hinge")
    _check_broadcast(y_true, y_pred, "squared_hinge")
    return _squared_hinge_forward(y_true, y_pred)


def categorical_hinge(y_true, y_pred):
    """Categorical hinge loss ``max(neg - pos + 1, 0)``.

    ``pos = sum(y_true * y_pred, -1)`` is the score of the true class and
    ``neg = max((1 - y_true) * y_pred, -1)`` the best score of the others.

    Args:
        y_true: one-hot labels (or {-1, 1}), shape ``(batch, ..., classes)``.
        y_pred: scores, same shape.

    Returns:
        Per-sample losses, shape ``(batch, ...)``.
    """
    y_true, y_pred = _as_float_pair(y_true, y_pred, "categorical_hinge")
    _check_rank_at_least_1(y_pred, "categorical_hinge")
    _check_broadcast(y_true, y_pred, "categorical_hinge")
    return _categorical_hinge_forward(y_true, y_pred)


def poisson(y_true, y_pred):
    """Poisson loss ``mean(y_pred - y_true * log(y_pred + epsilon), -1)``.

    Args:
        y_true: observed counts, shape ``(batch, ..., d)``.
        y_pred: predicted rates (positive), same shape.

    Returns:
        Per-sample losses, shape ``(batch, ...)``.
    """
    y_true, y_pred = _as_float_pair(y_true, y_pred, "poisson")
    _check_rank_at_least_1(y_pred, "poisson")
    _check_broadcast(y_true, y_pred, "poisson")
    return _poisson_forward(y_true, y_pred)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), -1)``, computed as ``x + softplus(-2x) - log(2)``.

    About ``x**2 / 2`` for small errors and ``|x| - log(2)`` for large ones:
    the mean squared error, less swayed by outliers.

    Args:
        y_true: targets, shape ``(batch, ..., d)``.
        y_pred: predictions, same shape.

    Returns:
        Per-sample losses, shape ``(batch, ...)``.
    """
    return _regression(_log_cosh_forward, "log_cosh", y_true, y_pred)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Minus the cosine similarity: ``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``.

    Between -1 (same direction) and 1 (opposite); 0 when either vector is
    zero. As Keras's ``ops.normalize``, a vector is multiplied by
    ``min(1 / ||x||, 1 / epsilon)``.

    Args:
        y_true: targets, shape ``(batch, ..., d)``.
        y_pred: predictions, same shape.
        axis: the axis (or tuple of axes) along which the similarity is computed.

    Returns:
        Per-sample losses, ``y_pred``'s shape without ``axis``.
    """
    return _regression(_cosine_forward, "cosine_similarity", y_true, y_pred, axis=axis)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy scaled by the focal factor ``(1 - p_t) ** gamma`` (Lin et al., 2018).

    ``p_t = y * p + (1 - y) * (1 - p)`` is the probability given to the true
    label, so easy examples count less. From logits the cross-entropy is the
    stable logits form (as Keras's sigmoid output keeps its logits).

    Args:
        y_true: labels in [0, 1], same shape as ``y_pred``.
        y_pred: probabilities (or logits), shape ``(batch, ..., d)``.
        apply_class_balancing: also weigh class 1 by ``alpha`` and class 0 by ``1 - alpha``.
        alpha: the weight of class 1 with ``apply_class_balancing``.
        gamma: the focusing exponent; 0 gives the binary cross-entropy.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1]; labels become ``z * (1 - s) + 0.5 * s``.
        axis: the axis that is averaged.

    Returns:
        Per-sample losses, ``y_pred``'s shape without ``axis``.
    """
    y_true, y_pred = _as_float_pair(y_true, y_pred, "binary_focal_crossentropy")
    return _bfce_forward(y_true, y_pred, apply_class_balancing, alpha, gamma, from_logits, label_smoothing, axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """Categorical cross-entropy scaled by ``alpha * (1 - p) ** gamma`` for each class.

    As Keras: from logits a softmax is applied first; the probabilities are
    divided by their sum and clipped to ``[eps, 1 - eps]``; the loss is
    ``sum(alpha * (1 - p) ** gamma * -y * log(p), axis)``.

    Args:
        y_true: one-hot labels, same shape as ``y_pred``.
        y_pred: probabilities (or logits), shape ``(batch, ..., classes)``.
        alpha: a weight for every class (a float, or one float per class).
        gamma: the focusing exponent; 0 gives ``alpha`` times the cross-entropy.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1]; labels become ``t * (1 - s) + s / classes``
            (classes: the size of the last axis, as in Keras).
        axis: the class axis.

    Returns:
        Per-sample losses, ``y_pred``'s shape without ``axis``.
    """
    y_true, y_pred = _as_float_pair(y_true, y_pred, "categorical_focal_crossentropy")
    return _cfce_forward(y_true, y_pred, alpha, gamma, from_logits, label_smoothing, axis)


def dice(y_true, y_pred, axis=None):
    """Dice loss ``1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + epsilon)``.

    Args:
        y_true: targets (masks in [0, 1]), shape ``(batch, ...)``.
        y_pred: predictions, same shape.
        axis: the axes summed; None (Keras's default) sums every axis, batch
            included, and gives one number; ``(1, 2, 3)`` gives one per image.

    Returns:
        The losses, ``y_pred``'s shape without ``axis`` (a 0-d array for None).
    """
    y_true, y_pred = _as_float_pair(y_true, y_pred, "dice")
    _check_rank_at_least_1(y_pred, "dice")
    _check_broadcast(y_true, y_pred, "dice")
    return _dice_forward(y_true, y_pred, axis)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """Tversky loss ``1 - sum(t p) / (sum(t p) + alpha * sum((1 - p) t) + beta * sum(p (1 - t)) + epsilon)``.

    ``alpha`` weighs the missed positives and ``beta`` the false alarms, exactly
    as Keras's formula does; ``alpha = beta = 0.5`` is the Dice loss.

    Args:
        y_true: targets (masks in [0, 1]), shape ``(batch, ...)``.
        y_pred: predictions, same shape.
        alpha, beta: the two weights.
        axis: the axes summed; None (Keras's default) sums every axis.

    Returns:
        The losses, ``y_pred``'s shape without ``axis`` (a 0-d array for None).
    """
    y_true, y_pred = _as_float_pair(y_true, y_pred, "tversky")
    _check_rank_at_least_1(y_pred, "tversky")
    _check_broadcast(y_true, y_pred, "tversky")
    return _tversky_forward(y_true, y_pred, alpha, beta, axis)


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80, margin=0.4):
    """Circle loss (Sun et al., 2020) between integer labels and L2-normalised embeddings.

    With cosine distances ``d = max(1 - y_pred @ ref_embeddings.T, 0)``, every
    pair of the same label (a positive; the embedding with itself left out
    when ``remove_diagonal``) and of different labels (a negative) is weighted
    by how far it is from its optimum::

        p = logsumexp(-gamma * max(margin + d, 0) * (margin - d))          over positives
        n = logsumexp(gamma * max(1 + margin - d, 0) * (1 - margin - d))   over negatives
        loss = softplus(p + n)

    A row without positives (or without negatives) gets 0; the :class:`Circle`
    loss leaves such rows out of its mean, as Keras's loss mask does.

    Args:
        y_true: integer labels, shape ``(batch,)`` or ``(batch, 1)``.
        y_pred: L2-normalised embeddings, shape ``(batch, dim)``.
        ref_labels: labels of the reference embeddings; None: ``y_true``.
        ref_embeddings: L2-normalised reference embeddings ``(refs, dim)``; None: ``y_pred``.
        remove_diagonal: leave each embedding's pair with itself out of the positives.
        gamma: the scale of the similarity scores.
        margin: the relaxation margin.

    Returns:
        Per-sample losses, shape ``(batch,)``.
    """
    y_true, y_pred = _as_float_pair(y_true, y_pred, "circle")
    if ref_embeddings is not None:
        ref_embeddings = backend.to_array(ref_embeddings, y_pred.dtype, where="circle (ref_embeddings)")
    if ref_labels is not None:
        ref_labels = backend.to_array(ref_labels, y_pred.dtype, where="circle (ref_labels)")
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return _circle_forward(y_true, y_pred, ref_labels, ref_embeddings, bool(remove_diagonal),
                           _check_number("circle", "gamma", gamma), _check_number("circle", "margin", margin))


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """Generalized cross-entropy (Zhang and Sabuncu, 2018): ``(1 - p ** q) / q``.

    ``p`` is the probability given to the true class. Small ``q`` approaches the
    cross-entropy, ``q = 1`` the mean absolute error: a loss robust to noisy labels.

    Args:
        y_true: integer class ids, shape ``y_pred.shape[:-1]`` (or with a
            trailing axis of 1, read as one id per sample: Keras's TF backend
            broadcasts that shape to a (batch, batch) result instead).
        y_pred: class probabilities, shape ``(batch, ..., classes)``.
        q: the noise parameter (Keras's function does not check it; the class keeps it in (0, 1)).

    Returns:
        Per-sample losses, shape ``(batch, ...)``.
    """
    y_true, y_pred = _as_float_pair(y_true, y_pred, "categorical_generalized_cross_entropy")
    return _cgce_forward(y_true, y_pred, _check_number("categorical_generalized_cross_entropy", "q", q))


def _ctc_logits(y_pred):
    """Keras's TensorFlow backend computes CTC in float32 at least (float16 rises to float32)."""
    if getattr(getattr(y_pred, "dtype", None), "kind", None) == "f" and y_pred.dtype.itemsize < 4:
        return y_pred.astype("float32")
    return y_pred


def ctc(y_true, y_pred):
    """CTC (connectionist temporal classification) loss: ``-log p(y_true | y_pred)`` over every alignment.

    The recursion, its gradient and TensorFlow's conventions are explained in
    :mod:`course_lib.ops.ctc`. Every sequence uses all the time steps of
    ``y_pred``; its label length is its number of non-zero labels.

    Args:
        y_true: ``(batch_size, max_label_length)`` integer class ids; 0 is the
            blank and the padding, so it may only end a sequence.
        y_pred: ``(batch_size, max_length, num_classes)`` logits (not softmax
            probabilities). float64 stays float64 here, where Keras computes in
            float32 and casts back.

    Returns:
        Per-sample losses, shape ``(batch_size,)``. Labels too long for the time
        axis (no alignment) give TensorFlow's large finite loss (about 707 plus
        the ``-log`` of the prefixes' probability), not an error.

    Raises:
        ValueError: wrong ranks or batch sizes; a label that is not a whole
            number in ``[0, num_classes)``; a 0 followed by a non-zero label
            (Keras returns a meaningless number for those).
    """
    return _ctc_ops.ctc_loss_forward(y_true, _ctc_logits(y_pred), where="ctc")[0]


# Keras's short names for the same functions (tf.keras.losses.mse is keras.losses.mean_squared_error).
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
bce = BCE = binary_crossentropy
logcosh = log_cosh


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


def apply_mask(sample_weight, mask, dtype, reduction):
    """Keras's ``apply_mask``: a boolean mask folded into the sample weights of a loss.

    For a mean reduction the kept entries weigh ``total / kept`` and the masked
    ones 0, so the loss is the mean over the kept entries only (0 when none is kept).
    """
    xp = backend.xp
    mask = xp.asarray(mask, dtype=bool)
    if reduction in ("mean", "sum_over_batch_size"):
        kept = int(mask.sum())
        scale = mask.size / kept if kept else 0.0
        float_mask = xp.where(mask, xp.asarray(scale, dtype=dtype), xp.asarray(0, dtype=dtype))
    else:
        float_mask = mask.astype(dtype)
    if sample_weight is None:
        return float_mask
    weights = xp.asarray(sample_weight, dtype=dtype)
    while weights.ndim < float_mask.ndim:
        weights = weights[..., None]
    return float_mask * weights


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

    def _own_mask(self, y_true, y_pred):
        """``(y_true, mask)``: the entries this loss leaves out (None: none), as Keras's loss masks.

        SparseCategoricalCrossentropy's ``ignore_class`` overrides it; ``y_true`` comes back
        with the left-out labels replaced by valid ones.
        """
        return y_true, None

    def _masked_values(self, y_true, y_pred, sample_weight, mask):
        """Per-sample values, labels and sample weights with this loss's mask and ``mask`` folded in.

        ``mask``: the predictions' own mask (Keras carries it on ``y_pred``: an output's mask),
        combined with the loss's as Keras combines them, then folded into the sample weights.
        """
        y_true, own = self._own_mask(y_true, y_pred)
        values = backend.xp.asarray(self.call(y_true, y_pred), dtype=y_pred.dtype)
        if own is not None:
            values = backend.xp.where(own, values, values.dtype.type(0))
            mask = own if mask is None else backend.xp.asarray(mask, dtype=bool) & own
        if mask is not None:
            sample_weight = apply_mask(sample_weight, mask, values.dtype, self.reduction)
        return y_true, values, sample_weight

    def __call__(self, y_true, y_pred, sample_weight=None, *, mask=None):
        """The reduced loss.

        Args:
            y_true: targets.
            y_pred: predictions (probabilities, logits or values).
            sample_weight: None, a scalar, or one weight per sample.
            mask: keyword only, boolean, ``y_pred.shape[:-1]``-like: entries to leave out of
                the loss (course_lib's stand-in for the mask Keras carries on ``y_pred``).

        Returns:
            A float, or the per-sample array when ``reduction`` is None/'none'.
        """
        given_true, given_pred = y_true, y_pred
        y_true, y_pred = self._prepare(y_true, y_pred)
        _, values, weights = self._masked_values(y_true, y_pred, sample_weight, mask)
        # Inside a GradientTape the float comes back as a TapeScalar that tape.gradient can differentiate
        # (it finds the predictions by identity: the array the layer returned, not a cast copy).
        return tape.record_loss(self, given_true, given_pred, sample_weight, self._reduced(values, weights))

    def _reduced(self, values, sample_weight):
        reduced = _reduce(values, sample_weight, self.reduction, type(self).__name__)
        if reduced.ndim == 0 and self.reduction not in (None, "none"):
            return backend.to_float(reduced)
        return reduced

    def value_and_gradient(self, y_true, y_pred, sample_weight=None, *, mask=None):
        """``(self(y_true, y_pred, sample_weight), self.gradient(...))`` from one forward pass (the engine's step)."""
        y_true, y_pred = self._prepare(y_true, y_pred)
        y_true, values, weights = self._masked_values(y_true, y_pred, sample_weight, mask)
        return self._reduced(values, weights), self._gradient_from(y_true, y_pred, values, weights)

    def gradient(self, y_true, y_pred, sample_weight=None, *, mask=None):
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
        y_true, values, weights = self._masked_values(y_true, y_pred, sample_weight, mask)
        return self._gradient_from(y_true, y_pred, values, weights)

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
            A new loss of the same class with ``from_logits=True`` (a copy of
            this one when it already reads logits).
        """
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
        ignore_class: None, or a label (an int: -1 or 255 for padding, say) whose entries
            are left out: their loss is 0 and, as in Keras, a mean reduction averages over
            the other entries only.
        axis: the class axis (only -1).
    """

    _forward = staticmethod(_scce_forward)
    _backward = staticmethod(_scce_backward)

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", axis=-1,
                 name="sparse_categorical_crossentropy", dtype=None):
        if axis != -1:
            raise ValueError(
                f"SparseCategoricalCrossentropy: only axis=-1 is supported. Received: axis={axis!r}"
            )
        if ignore_class is not None and (isinstance(ignore_class, bool)
                                         or not isinstance(ignore_class, numbers.Integral)):
            raise TypeError(
                f"SparseCategoricalCrossentropy: ignore_class must be None or an int label. "
                f"Received: ignore_class={ignore_class!r}"
            )
        super().__init__(reduction=reduction, name=name, dtype=dtype,
                         from_logits=bool(from_logits), axis=axis)
        self.from_logits = bool(from_logits)
        self.ignore_class = None if ignore_class is None else int(ignore_class)
        self.axis = axis

    def get_config(self):
        config = {**super().get_config(), "ignore_class": self.ignore_class}
        config.pop("axis")  # Keras's config has no axis for this loss (it is always -1)
        return config

    def _line_up(self, y_true, y_pred):
        return y_true, y_pred

    def _own_mask(self, y_true, y_pred):
        return _ignore_class(y_true, y_pred, self.ignore_class)

    def value_and_gradient(self, y_true, y_pred, sample_weight=None, *, mask=None):
        if not self.from_logits:
            return super().value_and_gradient(y_true, y_pred, sample_weight, mask=mask)
        y_true, y_pred = self._prepare(y_true, y_pred)
        if y_pred.ndim < 1:
            return super().value_and_gradient(y_true, y_pred, sample_weight, mask=mask)  # its error message
        y_true, own = self._own_mask(y_true, y_pred)
        values, d_logits = _scce_logits_value_and_gradient(y_true, y_pred, type(self).__name__)
        if own is not None:
            values = backend.xp.where(own, values, values.dtype.type(0))
            mask = own if mask is None else backend.xp.asarray(mask, dtype=bool) & own
        if mask is not None:
            sample_weight = apply_mask(sample_weight, mask, values.dtype, self.reduction)
        d_values = _reduce_backward(values, sample_weight, self.reduction, type(self).__name__)
        d_logits *= d_values[..., None]
        return self._reduced(values, sample_weight), d_logits


def _ignore_class(y_true, y_pred, ignore_class):
    """``(labels, kept)``: Keras's ``ignore_class``, the ignored labels replaced by 0 (or ``kept`` None)."""
    if ignore_class is None:
        return y_true, None
    xp = backend.xp
    if y_true.ndim == y_pred.ndim and y_true.ndim > 0 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    kept = y_true != y_true.dtype.type(ignore_class)
    return xp.where(kept, y_true, y_true.dtype.type(0)), kept


class SquaredHinge(_FunctionLoss):
    """Squared hinge loss; see :func:`squared_hinge`."""

    _forward = staticmethod(_squared_hinge_forward)
    _backward = staticmethod(_squared_hinge_backward)

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class CategoricalHinge(_FunctionLoss):
    """Categorical hinge loss; see :func:`categorical_hinge`."""

    _forward = staticmethod(_categorical_hinge_forward)
    _backward = staticmethod(_categorical_hinge_backward)

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class Poisson(_FunctionLoss):
    """Poisson loss; see :func:`poisson`."""

    _forward = staticmethod(_poisson_forward)
    _backward = staticmethod(_poisson_backward)

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class LogCosh(_FunctionLoss):
    """Logarithm of the hyperbolic cosine of the error; see :func:`log_cosh`."""

    _forward = staticmethod(_log_cosh_forward)
    _backward = staticmethod(_log_cosh_backward)

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class CosineSimilarity(_FunctionLoss):
    """Minus the cosine similarity; see :func:`cosine_similarity`.

    Args:
        axis: the axis (or axes) along which the similarity is computed.

    As Keras 3.15, ``get_config`` does not write ``axis`` (a saved loss comes
    back with ``axis=-1``).
    """

    _forward = staticmethod(_cosine_forward)
    _backward = staticmethod(_cosine_backward)

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis


def _check_number(where, argument, value):
    backend.check_real(where, argument, value)
    return float(value)


class BinaryFocalCrossentropy(BinaryCrossentropy):
    """Binary focal cross-entropy; see :func:`binary_focal_crossentropy`.

    It is a :class:`BinaryCrossentropy` for the training engine: when the model
    ends in a sigmoid, the loss is computed from the logits, as Keras's
    TensorFlow backend does through the sigmoid's ``_keras_logits``.

    Args:
        apply_class_balancing: weigh class 1 by ``alpha`` and class 0 by ``1 - alpha``.
        alpha: the weight of class 1 (with ``apply_class_balancing``).
        gamma: the focusing exponent (``0`` gives the binary cross-entropy).
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1], squeezes labels towards 0.5.
        axis: the averaged axis.
    """

    _forward = staticmethod(_bfce_forward)
    _backward = staticmethod(_bfce_backward)

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_focal_crossentropy", dtype=None):
        where = type(self).__name__
        alpha, gamma = _check_number(where, "alpha", alpha), _check_number(where, "gamma", gamma)
        self._set_options(from_logits, label_smoothing, axis, reduction, name, dtype)
        self._kwargs.update(apply_class_balancing=bool(apply_class_balancing), alpha=alpha, gamma=gamma)
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha = alpha
        self.gamma = gamma

    def get_config(self):
        config = Loss.get_config(self)
        config.update(from_logits=self.from_logits, label_smoothing=self.label_smoothing, axis=self.axis,
                      apply_class_balancing=self.apply_class_balancing, alpha=self.alpha, gamma=self.gamma)
        return config


class CategoricalFocalCrossentropy(_FunctionLoss):
    """Categorical focal cross-entropy; see :func:`categorical_focal_crossentropy`.

    Keras computes it from the probabilities even when the model ends in a
    softmax (no logits shortcut), and so does course_lib.

    Args:
        alpha: a weight for every class (a float, or a list of one float per class).
        gamma: the focusing exponent.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1], mixes labels with the uniform distribution.
        axis: the class axis.
    """

    _forward = staticmethod(_cfce_forward)
    _backward = staticmethod(_cfce_backward)

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy", dtype=None):
        where = type(self).__name__
        if isinstance(alpha, (list, tuple)):
            alpha = [_check_number(where, "alpha", value) for value in alpha]
        else:
            alpha = _check_number(where, "alpha", alpha)
        gamma = _check_number(where, "gamma", gamma)
        label_smoothing = _check_smoothing(where, label_smoothing)
        super().__init__(reduction=reduction, name=name, dtype=dtype, alpha=alpha, gamma=gamma,
                         from_logits=bool(from_logits), label_smoothing=label_smoothing, axis=axis)
        self.from_logits = bool(from_logits)
        self.label_smoothing = label_smoothing
        self.axis = axis
        self.alpha = alpha
        self.gamma = gamma

    def _line_up(self, y_true, y_pred):
        return squeeze_or_expand_to_same_rank(y_true, y_pred)

    def call(self, y_true, y_pred):
        y_true, y_pred = self._line_up(y_true, y_pred)
        return _cfce_forward(y_true, y_pred, **self._kwargs, where=type(self).__name__)

    def get_config(self):
        config = super().get_config()
        config.update(from_logits=self.from_logits, label_smoothing=self.label_smoothing, axis=self.axis,
                      alpha=self.alpha, gamma=self.gamma)
        return config


class Dice(_FunctionLoss):
    """Dice loss; see :func:`dice`.

    Args:
        axis: the axes summed; None (default) sums every axis, batch included.
    """

    _forward = staticmethod(_dice_forward)
    _backward = staticmethod(_dice_backward)

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Tversky(_FunctionLoss):
    """Tversky loss; see :func:`tversky`.

    Args:
        alpha: the weight of Keras's "false positives" term (``sum((1 - p) t)``).
        beta: the weight of its "false negatives" term (``sum(p (1 - t))``).
        axis: the axes summed; None (default) sums every axis, batch included.
    """

    _forward = staticmethod(_tversky_forward)
    _backward = staticmethod(_tversky_backward)

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky", axis=None,
                 dtype=None):
        where = type(self).__name__
        alpha, beta = _check_number(where, "alpha", alpha), _check_number(where, "beta", beta)
        super().__init__(reduction=reduction, name=name, dtype=dtype, alpha=alpha, beta=beta, axis=axis)
        self.alpha = alpha
        self.beta = beta
        self.axis = axis

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta, "axis": self.axis}


class CategoricalGeneralizedCrossEntropy(_FunctionLoss):
    """Generalized cross-entropy for integer labels; see :func:`categorical_generalized_cross_entropy`.

    Args:
        q: the noise parameter, strictly between 0 and 1.
    """

    _forward = staticmethod(_cgce_forward)
    _backward = staticmethod(_cgce_backward)

    def __init__(self, q=0.5, reduction="sum_over_batch_size", name="categorical_generalized_cross_entropy",
                 dtype=None):
        where = type(self).__name__
        q = _check_number(where, "q", q)
        if not 0 < q < 1:
            raise ValueError(f"{where}: q must be in the interval (0, 1). Received: q={q!r}")
        super().__init__(reduction=reduction, name=name, dtype=dtype, q=q)
        self.q = q

    def _line_up(self, y_true, y_pred):
        return y_true, y_pred  # class ids are checked by the kernel

    def call(self, y_true, y_pred):
        return _cgce_forward(y_true, y_pred, self.q, where=type(self).__name__)

    def backward(self, y_true, y_pred, d_losses):
        return _cgce_backward(y_true, y_pred, d_losses, self.q, where=type(self).__name__)

    def get_config(self):
        return {**super().get_config(), "q": self.q}


class Circle(_FunctionLoss):
    """Circle loss over a batch of labelled embeddings; see :func:`circle`.

    The model should end in L2-normalised embeddings (a ``Dense`` layer without
    activation, then ``UnitNormalization``); ``y_true`` holds integer labels. As
    Keras, the per-sample losses that are 0 (rows without a positive or a
    negative pair) are masked out of the mean.

    Args:
        gamma: the scale of the similarity scores.
        margin: the relaxation margin.
        remove_diagonal: leave each embedding's pair with itself out of the positives.
    """

    _forward = staticmethod(_circle_forward)
    _backward = staticmethod(_circle_backward)

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True, reduction="sum_over_batch_size",
                 name="circle", dtype=None):
        where = type(self).__name__
        gamma, margin = _check_number(where, "gamma", gamma), _check_number(where, "margin", margin)
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.gamma = gamma
        self.margin = margin
        self.remove_diagonal = bool(remove_diagonal)

    def _options(self):
        return dict(remove_diagonal=self.remove_diagonal, gamma=self.gamma, margin=self.margin,
                    where=type(self).__name__)

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return _circle_forward(y_true, y_pred, **self._options())

    def backward(self, y_true, y_pred, d_losses):
        lined_true, lined_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return _circle_backward(lined_true, lined_pred, d_losses, **self._options()).reshape(y_pred.shape)

    def _masked_values(self, y_true, y_pred, sample_weight, mask):
        # Keras's circle sets a mask on its output, ``loss > 0``, combined with the predictions' mask.
        values = backend.xp.asarray(self.call(y_true, y_pred), dtype=y_pred.dtype)
        kept = values > 0
        mask = kept if mask is None else backend.xp.asarray(mask, dtype=bool) & kept
        return y_true, values, apply_mask(sample_weight, mask, values.dtype, self.reduction)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "margin": self.margin,
                "remove_diagonal": self.remove_diagonal}


class CTC(_FunctionLoss):
    """CTC (connectionist temporal classification) loss; see :func:`ctc` and :mod:`course_lib.ops.ctc`.

    ``y_true`` holds ``(batch_size, max_label_length)`` class ids padded with
    0 (the blank), ``y_pred`` the model's ``(batch_size, max_length,
    num_classes)`` logits (end the model with a ``Dense`` layer without
    activation).
    """

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)

    def call(self, y_true, y_pred):
        return _ctc_ops.ctc_loss_forward(y_true, _ctc_logits(y_pred), where=type(self).__name__)[0]

    def backward(self, y_true, y_pred, d_losses):
        logits = _ctc_logits(y_pred)
        _, cache = _ctc_ops.ctc_loss_forward(y_true, logits, where=type(self).__name__)
        return _ctc_ops.ctc_loss_backward(d_losses, cache).astype(y_pred.dtype, copy=False)


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
        SquaredHinge, CategoricalHinge, Poisson, LogCosh, CosineSimilarity,
        BinaryFocalCrossentropy, CategoricalFocalCrossentropy, Dice, Tversky,
        CategoricalGeneralizedCrossEntropy, Circle, CTC,
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
    "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge, "poisson": Poisson,
    "log_cosh": LogCosh, "cosine_similarity": CosineSimilarity,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "dice": Dice, "tversky": Tversky, "circle": Circle, "ctc": CTC,
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
        from course_lib import saving

        found = saving.find_object(identifier, set(_CLASSES))  # a custom loss in the global custom objects or the scope
        if found is not None and not isinstance(found, str):
            return get(found)
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
    from course_lib import saving

    if isinstance(config, str):
        found = saving.find_object(config, set(_CLASSES) | set(_FUNCTION_NAMES), custom_objects)
        return get(config if found is None else found)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "losses.deserialize: expected a dict with 'class_name' and 'config'. "
            f"Received: {config!r}"
        )
    class_name = config["class_name"]
    if class_name == "function":  # a loss function, saved by its (registered) name
        name = config.get("config")
        found = saving.find_object(name, set(_FUNCTION_NAMES), custom_objects)
        return get(name if found is None else found)
    cls = saving.find_object(class_name, _CLASSES, custom_objects, config.get("registered_name"))
    if cls is None:
        raise ValueError(
            f"losses.deserialize: unknown loss class {class_name!r}. "
            f"Known classes: {', '.join(sorted({**_CLASSES, **saving.custom_objects_in_effect(custom_objects)}))}"
        )
    if not inspect.isclass(cls):  # a Loss instance or a function in the custom objects
        return get(cls)
    return cls.from_config(dict(config.get("config", {})))
