"""Metrics with Keras 3's names and numbers: per-sample functions and stateful classes.

A metric accumulates over batches: ``update_state`` adds a batch,
``result`` reads the running value, ``reset_state`` starts again (the training
engine resets at the start of each epoch). As in Keras, the running totals are
kept in ``keras.config.floatx()`` (float32 unless changed) unless a metric is
given a ``dtype``, so the numbers match ``tf.keras`` metric objects fed the same
batches. ``result`` gives a float, or a NumPy array where Keras gives one value
per threshold or per class (``Precision(thresholds=[...])``, ``F1Score()``).

``get`` resolves what ``model.compile(metrics=[...])`` accepts, including
Keras's shape-based choice for ``'accuracy'``/``'acc'``.
"""
from __future__ import annotations

import abc
import inspect
import warnings

import numpy

from course_lib import activations
from course_lib import backend
from course_lib import losses
from course_lib.losses import (
    _check_broadcast,
    is_binary_or_sparse_categorical,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    squeeze_or_expand_to_same_rank,
)


# ---------------------------------------------------------------------------
# Per-sample functions
# ---------------------------------------------------------------------------


_numeric = backend.as_numeric  # the one numeric-array check


def _float_predictions(y_pred, where):
    y_pred = _numeric(y_pred, where)
    return y_pred if y_pred.dtype.kind == "f" else y_pred.astype(backend.floatx())


def accuracy(y_true, y_pred):
    """1.0 where ``y_pred`` equals ``y_true`` exactly, else 0.0.

    Args:
        y_true: labels, shape ``(batch, ...)``.
        y_pred: predicted labels (not probabilities), same shape.

    Returns:
        float32 matches, the broadcast shape of the two arguments.
    """
    y_pred = _float_predictions(y_pred, "accuracy")
    y_true = _numeric(y_true, "accuracy").astype(y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    _check_broadcast(y_true, y_pred, "accuracy")
    return (y_true == y_pred).astype(backend.floatx())


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where ``y_pred > threshold`` agrees with the 0/1 label, else 0.0.

    Args:
        y_true: 0/1 labels, shape ``(batch, ...)`` (``(batch,)`` against
            ``(batch, 1)`` predictions is reshaped, not broadcast).
        y_pred: probabilities (or scores), same shape.
        threshold: predictions above it count as 1.

    Returns:
        float32 matches with the shape of the lined-up arguments.
    """
    y_pred = _numeric(y_pred, "binary_accuracy")
    y_true = _numeric(y_true, "binary_accuracy")
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    _check_broadcast(y_true, y_pred, "binary_accuracy")
    # The thresholded prediction takes the label's dtype before the comparison,
    # so labels that are not exactly 0 or 1 never match.
    predicted = (y_pred > threshold).astype(y_true.dtype)
    return (y_true == predicted).astype(backend.floatx())


def categorical_accuracy(y_true, y_pred):
    """1.0 where the arg-max of ``y_pred`` is the arg-max of the one-hot label.

    Args:
        y_true: one-hot labels, shape ``(batch, ..., classes)``.
        y_pred: probabilities or logits, same shape.

    Returns:
        float32 matches, shape ``(batch, ...)``.
    """
    y_pred = _float_predictions(y_pred, "categorical_accuracy")
    y_true = _numeric(y_true, "categorical_accuracy")
    if y_true.ndim < 1 or y_pred.ndim < 1:
        raise ValueError(
            "categorical_accuracy: y_true and y_pred need a class axis. "
            f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
        )
    labels = backend.xp.argmax(y_true, axis=-1).astype(y_pred.dtype)
    original_shape = labels.shape
    reshape = labels.ndim == y_pred.ndim
    if reshape:
        if labels.shape[-1] != 1:
            raise ValueError(
                "categorical_accuracy: y_true has one more axis than expected. "
                f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
            )
        labels = labels[..., 0]
    predicted = backend.xp.argmax(y_pred, axis=-1).astype(labels.dtype)
    _check_broadcast(labels, predicted, "categorical_accuracy")
    matches = (labels == predicted).astype(backend.floatx())
    return matches.reshape(original_shape) if reshape else matches


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the arg-max of ``y_pred`` equals the integer label.

    Args:
        y_true: class ids, shape ``(batch, ...)`` or ``(batch, ..., 1)``.
        y_pred: probabilities or logits, shape ``(batch, ..., classes)``.

    Returns:
        float32 matches, shape ``(batch, ...)``.
    """
    y_pred = _float_predictions(y_pred, "sparse_categorical_accuracy")
    y_true = _numeric(y_true, "sparse_categorical_accuracy").astype(y_pred.dtype)
    if y_pred.ndim < 1:
        raise ValueError(
            "sparse_categorical_accuracy: y_pred needs a class axis. "
            f"Received: y_pred.shape={y_pred.shape}"
        )
    original_shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1
    if reshape:
        y_true = y_true[..., 0]
    predicted = backend.xp.argmax(y_pred, axis=-1).astype(y_true.dtype)
    if y_true.shape != predicted.shape:
        raise ValueError(
            "sparse_categorical_accuracy: y_true must hold one class id per sample, "
            f"shape {y_pred.shape[:-1]}. Received: y_true.shape={original_shape}, "
            f"y_pred.shape={y_pred.shape}"
        )
    matches = (y_true == predicted).astype(backend.floatx())
    if reshape:
        matches = matches.reshape(original_shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = matches[..., 0]
    return matches


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the one-hot label's class is among the ``k`` highest predictions.

    As TensorFlow's ``in_top_k``: classes tied with the label's score all count
    as in the top k, and a non-finite prediction never matches.

    Args:
        y_true: one-hot labels, shape ``(batch, ..., classes)``.
        y_pred: scores, same shape.

    Returns:
        float matches, shape ``(batch, ...)``.
    """
    y_pred = _float_predictions(y_pred, "top_k_categorical_accuracy")
    labels = backend.xp.argmax(_numeric(y_true, "top_k_categorical_accuracy"), axis=-1)
    return _in_top_k(labels, y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1.0 where the integer label is among the ``k`` highest predictions.

    Args:
        y_true: class ids, shape ``(batch, ...)`` or ``(batch, ..., 1)``.
        y_pred: scores ``(batch, ..., classes)``, or with ``from_sorted_ids``
            the class ids ranked from the best, ``(batch, N)``.
    """
    y_pred = _numeric(y_pred, "sparse_top_k_categorical_accuracy")
    labels = _numeric(y_true, "sparse_top_k_categorical_accuracy")
    if from_sorted_ids:
        shape = labels.shape
        flat = labels.reshape(-1)
        found = (y_pred.reshape(flat.shape[0], -1)[:, :k] == flat[:, None].astype(y_pred.dtype)).any(axis=-1)
        return found.astype(backend.floatx()).reshape(shape)
    return _in_top_k(labels.astype("int64"), y_pred.astype(backend.floatx(), copy=False), k)


def _in_top_k(labels, y_pred, k):
    shape = labels.shape
    scores = y_pred.reshape(-1, y_pred.shape[-1])
    flat = labels.reshape(-1)
    if flat.shape[0] != scores.shape[0]:
        raise ValueError(
            f"top-k accuracy: {flat.shape[0]} labels for {scores.shape[0]} rows of predictions. "
            f"Received: y_true of shape {shape}, y_pred of shape {y_pred.shape}"
        )
    target = backend.xp.take_along_axis(scores, flat[:, None], axis=-1)
    better = (scores > target).sum(axis=-1)
    matches = (better < k) & backend.xp.isfinite(scores).all(axis=-1)
    return matches.astype(backend.floatx()).reshape(shape)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error


# Keras's metric functions that are its loss functions (keras.metrics.hinge is keras.losses.hinge).
binary_crossentropy = losses.binary_crossentropy
categorical_crossentropy = losses.categorical_crossentropy
sparse_categorical_crossentropy = losses.sparse_categorical_crossentropy
binary_focal_crossentropy = losses.binary_focal_crossentropy
categorical_focal_crossentropy = losses.categorical_focal_crossentropy
hinge = losses.hinge
squared_hinge = losses.squared_hinge
categorical_hinge = losses.categorical_hinge
huber = losses.huber
kl_divergence = kld = KLD = kullback_leibler_divergence = losses.kl_divergence
log_cosh = logcosh = losses.log_cosh
poisson = losses.poisson


def _cosine_similarity(y_true, y_pred, axis=-1):
    """The cosine similarity itself, ``sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``.

    :class:`CosineSimilarity`'s per-sample function: minus :func:`losses.cosine_similarity`.
    """
    return -losses.cosine_similarity(y_true, y_pred, axis=axis)


def _centred_pair(y_true, y_pred, where):
    y_pred = _float_predictions(y_pred, where)
    y_true = backend.to_array(y_true, y_pred.dtype, where=where)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    _check_broadcast(y_true, y_pred, where)
    return y_true, y_pred


def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson's correlation coefficient of ``y_true`` and ``y_pred`` along ``axis``.

    Both are centred and divided by their (population) standard deviation;
    the mean of their product is the coefficient. A constant row gives NaN, as
    in Keras.

    Args:
        y_true: targets, shape ``(batch, d)``.
        y_pred: predictions, same shape.
        axis: the axis along which the correlation is computed.

    Returns:
        One coefficient per sample, ``y_pred``'s shape without ``axis``.
    """
    y_true, y_pred = _centred_pair(y_true, y_pred, "pearson_correlation")
    xp = backend.xp
    with backend.errstate(divide="ignore", invalid="ignore"):
        true_centred = y_true - xp.mean(y_true, axis=axis, keepdims=True)
        pred_centred = y_pred - xp.mean(y_pred, axis=axis, keepdims=True)
        true_centred = true_centred / xp.std(true_centred, axis=axis, keepdims=True)
        pred_centred = pred_centred / xp.std(pred_centred, axis=axis, keepdims=True)
        return xp.mean(true_centred * pred_centred, axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance correlation coefficient, written as Keras 3.15 computes it.

    ``mean(2 * (y_true - mean(y_pred)) * (y_pred - mean(y_pred)) / (var(y_true)
    + var(y_pred) + (mean(y_true) - mean(y_pred))**2 + epsilon), axis)``: note
    that Keras centres ``y_true`` on the mean of ``y_pred`` in the covariance;
    course_lib reproduces that, so the numbers are Keras's.

    Args:
        y_true: targets, shape ``(batch, d)``.
        y_pred: predictions, same shape.
        axis: the axis along which the coefficient is computed.

    Returns:
        One coefficient per sample, ``y_pred``'s shape without ``axis``.
    """
    y_true, y_pred = _centred_pair(y_true, y_pred, "concordance_correlation")
    xp = backend.xp
    true_mean = xp.mean(y_true, axis=axis, keepdims=True)
    pred_mean = xp.mean(y_pred, axis=axis, keepdims=True)
    true_var = xp.var(y_true - true_mean, axis=axis, keepdims=True)
    pred_var = xp.var(y_pred - pred_mean, axis=axis, keepdims=True)
    covariance = (y_true - pred_mean) * (y_pred - pred_mean)
    norm = true_var + pred_var + xp.square(true_mean - pred_mean)
    two, eps = y_pred.dtype.type(2), y_pred.dtype.type(backend.epsilon())
    return xp.mean(two * covariance / (norm + eps), axis=axis)


# ---------------------------------------------------------------------------
# Stateful metrics
# ---------------------------------------------------------------------------


class Metric(abc.ABC):
    """Base of every metric: running state updated batch by batch.

    Subclasses define ``update_state``, ``result`` and ``reset_state``.

    Args:
        name: the name shown in training logs; by default the snake-case class name.
        dtype: float type of the result (``keras.config.floatx()`` by default, as Keras).
    """

    _direction = None  # "up" or "down" where it is known whether larger is better (EarlyStopping)

    def __init__(self, name=None, dtype=None):
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self.dtype = numpy.dtype(dtype or backend.floatx()).name  # Keras: floatx() when none is given

    @abc.abstractmethod
    def update_state(self, *args, **kwargs):
        """Add one batch to the running state."""

    @abc.abstractmethod
    def result(self) -> float:
        """The metric's value over every batch since the last reset."""

    @abc.abstractmethod
    def reset_state(self):
        """Forget every batch seen so far."""

    def __call__(self, *args, **kwargs):
        """Update with one batch, then return the running result."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        value = self.result()  # a float, or an array (one value per threshold or class)
        shown = f"{value:.6g}" if isinstance(value, float) else value
        return f"<{type(self).__name__} name={self.name!r} result={shown}>"


def _reduce_to_samplewise(values, sample_weight, dtype, reduce=None):
    """Per-sample values (and weights), reduced the way Keras's Mean (and Sum) metric does.

    Weights are lined up with the values; values with more axes than the
    weights are averaged (``reduce``: summed for Sum) down to the weights'
    rank; finally every axis after the first is reduced away.
    """
    reduce = reduce or backend.xp.mean
    values = backend.xp.asarray(values).astype(dtype)
    if sample_weight is not None:
        sample_weight = backend.to_array(sample_weight, dtype, where="Mean (sample_weight)")
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim, values_ndim = sample_weight.ndim, values.ndim
        if values_ndim > weight_ndim:
            values = reduce(values, axis=tuple(range(weight_ndim, values_ndim)))
        try:
            sample_weight = backend.xp.broadcast_to(sample_weight, values.shape)
        except ValueError:
            raise ValueError(
                f"Mean: sample_weight of shape {sample_weight.shape} does not fit "
                f"values of shape {values.shape}."
            ) from None
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = reduce(sample_weight, axis=tuple(range(1, weight_ndim)))
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Mean(Metric):
    """The (weighted) mean of every value seen: ``total / count``.

    Args:
        name: the metric's name.
        dtype: float type of the running total and count (``floatx()``, float32 by default).
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def update_state(self, values, sample_weight=None):
        """Add values (any shape; axes after the first are averaged per sample).

        Args:
            values: array of shape ``(batch, ...)`` or a scalar.
            sample_weight: None or weights that line up with ``values``.
        """
        if isinstance(values, (int, float)) and isinstance(sample_weight, (int, float, type(None))):
            # A Python number (the engine's loss of a batch): the general path's
            # arithmetic in the metric's dtype, without its array work.
            cast = backend.xp.dtype(self.dtype).type
            weight = cast(1 if sample_weight is None else sample_weight)
            self.total = self.total + cast(values) * weight
            self.count = self.count + weight
            return
        values, sample_weight = _reduce_to_samplewise(values, sample_weight, self.dtype)
        self.total = self.total + backend.xp.sum(values, dtype=self.dtype)
        if sample_weight is not None:
            count = backend.xp.sum(sample_weight, dtype=self.dtype)
        elif values.ndim >= 1:
            count = values.shape[0]
        else:
            count = 1
        self.count = self.count + backend.xp.asarray(count, self.dtype)

    def result(self) -> float:
        if self.count == 0:
            return 0.0
        return backend.to_float(backend.xp.asarray(self.total / self.count, self.dtype))

    def reset_state(self):
        self.total = backend.xp.zeros((), self.dtype)
        self.count = backend.xp.zeros((), self.dtype)


class MeanMetricWrapper(Mean):
    """The running mean of a per-sample function ``fn(y_true, y_pred, **kwargs)``.

    Args:
        fn: the per-sample function.
        name: the metric's name (by default the snake-case class name).
        dtype: float type of the running totals.
        **kwargs: passed on to ``fn``.
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper: fn must be callable. Received: fn={fn!r}")
        super().__init__(name=name or backend.unique_name("mean_metric_wrapper"), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch.

        Args:
            y_true: labels or targets for the batch.
            y_pred: predictions for the batch.
            sample_weight: None or one weight per sample.
        """
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly; see :func:`accuracy`."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)

    def get_config(self):
        return Metric.get_config(self)


class BinaryAccuracy(MeanMetricWrapper):
    """How often thresholded predictions match 0/1 labels; see :func:`binary_accuracy`.

    Args:
        threshold: predictions above it count as 1.
    """

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the arg-max matches one-hot labels; see :func:`categorical_accuracy`."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the arg-max matches integer labels; see :func:`sparse_categorical_accuracy`."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label is in the top ``k`` predictions; see :func:`top_k_categorical_accuracy`."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is in the top ``k``; see :func:`sparse_top_k_categorical_accuracy`."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
                         from_sorted_ids=from_sorted_ids)

    def get_config(self):
        config = super().get_config()
        if not config["from_sorted_ids"]:
            del config["from_sorted_ids"]  # as Keras writes it
        return config


class MeanAbsoluteError(MeanMetricWrapper):
    """Running mean absolute error; see :func:`mean_absolute_error`."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


class MeanSquaredError(MeanMetricWrapper):
    """Running mean squared error; see :func:`mean_squared_error`."""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """Running mean absolute percentage error."""

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """Running mean squared logarithmic error."""

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, name=name, dtype=dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    """Running binary cross-entropy; see :func:`losses.binary_crossentropy`."""

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0):
        super().__init__(losses.binary_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(MeanMetricWrapper):
    """Running categorical cross-entropy; see :func:`losses.categorical_crossentropy`."""

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0, axis=-1):
        super().__init__(losses.categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Running sparse categorical cross-entropy."""

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, axis=-1):
        super().__init__(losses.sparse_categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, axis=axis)


class KLDivergence(MeanMetricWrapper):
    """Running Kullback-Leibler divergence."""

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(losses.kl_divergence, name=name, dtype=dtype)


class Hinge(MeanMetricWrapper):
    """Running hinge loss."""

    def __init__(self, name="hinge", dtype=None):
        super().__init__(losses.hinge, name=name, dtype=dtype)


class _NameAndDtypeConfig(MeanMetricWrapper):
    """A wrapped function whose config is only ``name`` and ``dtype``, as Keras writes these metrics."""

    def get_config(self):
        return Metric.get_config(self)


class SquaredHinge(_NameAndDtypeConfig):
    """Running squared hinge loss; see :func:`losses.squared_hinge`."""

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(losses.squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(_NameAndDtypeConfig):
    """Running categorical hinge loss; see :func:`losses.categorical_hinge`."""

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(losses.categorical_hinge, name=name, dtype=dtype)


class Poisson(_NameAndDtypeConfig):
    """Running Poisson loss ``y_pred - y_true * log(y_pred)``; see :func:`losses.poisson`."""

    def __init__(self, name="poisson", dtype=None):
        super().__init__(losses.poisson, name=name, dtype=dtype)


class LogCoshError(_NameAndDtypeConfig):
    """Running ``log(cosh(y_pred - y_true))``; see :func:`losses.log_cosh`. Keras names it ``logcosh``."""

    def __init__(self, name="logcosh", dtype=None):
        super().__init__(losses.log_cosh, name=name, dtype=dtype)


class CosineSimilarity(_NameAndDtypeConfig):
    """Running cosine similarity of labels and predictions (1 for the same direction).

    Args:
        name: the metric's name.
        dtype: float type of the running totals.
        axis: the axis along which the similarity is computed. As Keras 3.15,
            ``get_config`` does not write it.
    """

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(_cosine_similarity, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class PearsonCorrelation(MeanMetricWrapper):
    """Running mean of the per-sample Pearson correlation; see :func:`pearson_correlation`.

    Args:
        name: the metric's name.
        dtype: float type of the running totals.
        axis: the axis along which each correlation is computed.
    """

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class ConcordanceCorrelation(MeanMetricWrapper):
    """Running mean of the per-sample concordance correlation; see :func:`concordance_correlation`.

    Args:
        name: the metric's name.
        dtype: float type of the running totals.
        axis: the axis along which each coefficient is computed.
    """

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class Sum(Metric):
    """The (weighted) sum of every value seen.

    As Keras, the axes after the first are summed per sample (after the
    weights are lined up with the values, as in :class:`Mean`).

    Args:
        name: the metric's name.
        dtype: float type of the running total (``floatx()``, float32 by default).
    """

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def update_state(self, values, sample_weight=None):
        """Add values (any shape) and, optionally, their weights.

        Args:
            values: array of shape ``(batch, ...)`` or a scalar.
            sample_weight: None or weights that line up with ``values``.
        """
        values, _ = _reduce_to_samplewise(values, sample_weight, self.dtype, reduce=backend.xp.sum)
        self.total = self.total + backend.xp.sum(values, dtype=self.dtype)

    def result(self) -> float:
        return backend.to_float(self.total)

    def reset_state(self):
        self.total = backend.xp.zeros((), self.dtype)


class RootMeanSquaredError(Mean):
    """Running root mean squared error: ``sqrt(mean((y_pred - y_true) ** 2))``.

    The squared errors go through :class:`Mean` (sample weights as there), and
    the square root is taken of the running mean, as Keras does.

    Args:
        name: the metric's name.
        dtype: float type of the running totals (``floatx()``, float32 by default).
    """

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch.

        Args:
            y_true: targets, shape ``(batch, ...)``.
            y_pred: predictions, the same shape (``(batch,)`` against ``(batch, 1)`` is lined up).
            sample_weight: None or weights that line up with the squared errors.
        """
        y_true = backend.to_array(y_true, self.dtype, where="RootMeanSquaredError")
        y_pred = backend.to_array(y_pred, self.dtype, where="RootMeanSquaredError")
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        _check_broadcast(y_true, y_pred, "RootMeanSquaredError")
        super().update_state(backend.xp.square(y_pred - y_true), sample_weight=sample_weight)

    def result(self) -> float:
        mean = backend.xp.asarray(super().result(), self.dtype)
        return backend.to_float(backend.xp.sqrt(mean))


# ---------------------------------------------------------------------------
# Confusion-matrix metrics: Precision, Recall, AUC
# ---------------------------------------------------------------------------

_NEG_INF = -1e10  # Keras's threshold when only top_k is given: every kept prediction is above it


def _divide_no_nan(numerator, denominator):
    """``numerator / denominator``, and 0 where the denominator is 0 (TensorFlow's ``divide_no_nan``)."""
    xp = backend.xp
    zero = denominator == 0
    return xp.where(zero, 0, numerator / xp.where(zero, 1, denominator))


def _host_result(value, dtype):
    """A metric's value for the user: a float for one number, else a NumPy array (one per threshold/class)."""
    value = backend.xp.asarray(value, dtype)
    return backend.to_float(value) if value.ndim == 0 else backend.to_numpy(value)


def _parse_thresholds(where, thresholds, default):
    """Keras's ``parse_init_thresholds``: a list of thresholds in ``[0, 1]`` (``default`` when None)."""
    if thresholds is None:
        return [default]
    values = list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds]
    if not values:
        raise ValueError(f"{where}: thresholds must not be empty. Received: thresholds={thresholds!r}")
    for value in values:
        backend.check_real(where, "thresholds", value)
    invalid = [value for value in values if not 0 <= value <= 1]
    if invalid:
        raise ValueError(f"{where}: threshold values must be in [0, 1]. Received: {invalid}")
    return [float(value) for value in values]


def _evenly_distributed(thresholds):
    """Keras's test for thresholds ``0, 1/(n-1), ..., 1`` (numpy.allclose, atol epsilon): the bucketed update."""
    count = len(thresholds)
    if count < 3:
        return False
    return all(abs(value - index / (count - 1)) <= backend.epsilon() + 1e-5 * (index / (count - 1))
               for index, value in enumerate(thresholds))


def _check_index(where, argument, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}: {argument} must be an integer or None. Received: {argument}={value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {argument} must be >= {minimum}. Received: {argument}={value}")
    return value


def _broadcast_weights(where, argument, weights, shape):
    try:
        return backend.xp.broadcast_to(weights, shape)
    except ValueError:
        raise ValueError(
            f"{where}: {argument} of shape {weights.shape} does not broadcast to the "
            f"predictions' shape {shape}."
        ) from None


def _filter_top_k(y_pred, k):
    """Keras's ``_filter_top_k``: the ``k`` largest scores of each row kept, the others set to -1e10.

    Ties go to the lower index, as TensorFlow's ``top_k`` breaks them.
    """
    xp = backend.xp
    order = xp.argsort(-y_pred, axis=-1, kind="stable")
    rank = xp.argsort(order, axis=-1, kind="stable")
    return xp.where(rank < k, y_pred, xp.asarray(_NEG_INF, y_pred.dtype))


def _confusion_increments(where, wanted, y_true, y_pred, thresholds, evenly, dtype, top_k=None,
                          class_id=None, sample_weight=None, multi_label=False, label_weights=None):
    """One batch's true/false positives/negatives per threshold: Keras's ``update_confusion_matrix_variables``.

    A prediction counts as positive above a threshold (strictly). Labels count
    as positive where they are non-zero. Without ``multi_label`` every entry is
    one example; with it the counts are kept per column (label).

    Args:
        where: the metric's name for error messages.
        wanted: the keys to compute, among ``'tp'``, ``'fp'``, ``'tn'``, ``'fn'``.
        thresholds: host list of floats, sorted when ``evenly``.
        evenly: the thresholds are ``0, 1/(n-1), ..., 1`` (maybe with the
            ``-epsilon``/``1+epsilon`` ends): Keras's bucketed update is used,
            whose rounding this reproduces.
        dtype: the accumulators' float type.
        top_k, class_id: Precision/Recall's restriction to the top-k scores / one column.
        sample_weight: None, or weights that line up with the labels.
        label_weights: None, or one weight per column (flattened case only).

    Returns:
        ``{key: increment}``, each of shape ``(thresholds,)``, or
        ``(thresholds, labels)`` with ``multi_label``.
    """
    xp = backend.xp
    y_true = _numeric(y_true, where).astype(dtype)
    y_pred = _numeric(y_pred, where).astype(dtype)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"{where}: y_true and y_pred must have the same shape. "
            f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
        )
    if sample_weight is not None:
        sample_weight = backend.to_array(sample_weight, dtype, where=f"{where} (sample_weight)")[..., None]
        _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight, expand_rank_1=False)
    if top_k is not None:
        if y_pred.ndim == 0 or top_k > y_pred.shape[-1]:
            raise ValueError(
                f"{where}: top_k={top_k} needs at least {top_k} scores on the last axis of y_pred. "
                f"Received: y_pred.shape={y_pred.shape}"
            )
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim < 2:
            raise ValueError(
                f"{where}: when class_id is provided, y_pred must be a 2D array with shape "
                f"(num_samples, num_classes). Received: y_pred.shape={y_pred.shape}"
            )
        if class_id >= y_pred.shape[-1]:
            raise ValueError(
                f"{where}: class_id={class_id} is not a column of y_pred of shape {y_pred.shape}."
            )
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    weights = None
    if sample_weight is not None:
        weights = _broadcast_weights(where, "sample_weight", sample_weight, y_pred.shape)
    if label_weights is not None and not multi_label:
        label_weights = _broadcast_weights(where, "label_weights", label_weights[None], y_pred.shape)
        weights = label_weights if weights is None else weights * label_weights
    if not multi_label:
        y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
        weights = None if weights is None else weights.reshape(-1)
    if evenly:
        return _bucketed_increments(wanted, y_true, y_pred, weights, thresholds, multi_label, dtype)

    # Every prediction against every threshold: (T, N) or, per label, (T, N, L).
    shape = (-1,) + (1,) * y_pred.ndim
    above = y_pred[None] > xp.asarray(thresholds, dtype).reshape(shape)
    positive = (y_true != 0)[None]

    def count(label, predicted):
        hit = label & predicted
        if weights is None:
            return xp.sum(hit, axis=1, dtype=dtype)
        return xp.sum(xp.where(hit, weights[None], 0), axis=1, dtype=dtype)

    pairs = {"tp": (positive, above), "fp": (~positive, above),
             "tn": (~positive, ~above), "fn": (positive, ~above)}
    return {key: count(*pairs[key]) for key in wanted}


def _bucketed_increments(wanted, y_true, y_pred, weights, thresholds, multi_label, dtype):
    """Keras's update for evenly spaced thresholds: one bucket per prediction, then reversed cumulative sums.

    Predictions are clipped to ``[0, 1]``; a prediction ``p`` falls in bucket
    ``ceil(p * (T - 1)) - 1`` (the lowest bucket also takes 0 when the first
    threshold is ``-epsilon``), and is above every threshold up to its bucket.
    """
    xp = backend.xp
    count = len(thresholds)
    with_epsilon = thresholds[0] < 0.0 or thresholds[-1] > 1.0
    truth = (y_true != 0).astype(dtype)
    positives = truth if weights is None else truth * weights
    negatives = (1 - truth) if weights is None else (1 - truth) * weights
    bucket = xp.ceil(xp.clip(y_pred, 0.0, 1.0) * (count - 1)) - 1
    if with_epsilon:
        bucket = xp.maximum(bucket, 0)
    # Shifted by one: slot 0 holds the predictions below the first bucket, which count nowhere.
    slot = bucket.astype("int64") + 1
    labels = y_pred.shape[1] if multi_label else 1
    if multi_label:
        slot = slot + (count + 1) * xp.arange(labels)[None, :]

    def above(values):
        sums = xp.bincount(slot.reshape(-1), weights=values.reshape(-1), minlength=labels * (count + 1))
        sums = sums.astype(dtype).reshape(labels, count + 1)[:, 1:]
        totals = xp.cumsum(sums[:, ::-1], axis=-1)[:, ::-1]
        return totals.T if multi_label else totals[0]

    increments = {}
    tp = above(positives) if "tp" in wanted or "fn" in wanted else None
    fp = above(negatives) if "fp" in wanted or "tn" in wanted else None
    axis = 0 if multi_label else None
    if "tp" in wanted:
        increments["tp"] = tp
    if "fp" in wanted:
        increments["fp"] = fp
    if "tn" in wanted:
        increments["tn"] = xp.sum(negatives, axis=axis, dtype=dtype) - fp
    if "fn" in wanted:
        increments["fn"] = xp.sum(positives, axis=axis, dtype=dtype) - tp
    return increments


class _PrecisionRecall(Metric):
    """Shared by Precision and Recall: thresholds, top_k, class_id and two running counts per threshold."""

    _counts = ()  # the two confusion-matrix counts kept, e.g. ("tp", "fp")
    _attributes = {"tp": "true_positives", "fp": "false_positives", "fn": "false_negatives"}

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        where = type(self).__name__
        self.init_thresholds = thresholds
        self.top_k = None if top_k is None else _check_index(where, "top_k", top_k, 1)
        self.class_id = None if class_id is None else _check_index(where, "class_id", class_id, 0)
        default = 0.5 if top_k is None else _NEG_INF
        self.thresholds = _parse_thresholds(where, thresholds, default)
        self._thresholds_distributed_evenly = _evenly_distributed(self.thresholds)
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch.

        Args:
            y_true: labels, the shape of ``y_pred`` (non-zero counts as positive).
            y_pred: scores, compared with each threshold (above it counts as positive).
            sample_weight: None, or weights whose rank is 0 or that of ``y_true``
                (broadcast to it); one weight per sample also works.
        """
        increments = _confusion_increments(
            type(self).__name__, self._counts, y_true, y_pred, self.thresholds,
            self._thresholds_distributed_evenly, self.dtype, top_k=self.top_k,
            class_id=self.class_id, sample_weight=sample_weight)
        for key, increment in increments.items():
            name = self._attributes[key]
            setattr(self, name, getattr(self, name) + increment)

    def result(self):
        """A float for one threshold, else a NumPy array with one value per threshold."""
        first, second = (getattr(self, self._attributes[key]) for key in self._counts)
        value = _divide_no_nan(first, first + second)
        return _host_result(value[0] if len(self.thresholds) == 1 else value, self.dtype)

    def reset_state(self):
        for key in self._counts:
            setattr(self, self._attributes[key], backend.xp.zeros((len(self.thresholds),), self.dtype))

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """How many of the predicted positives are positive: ``tp / (tp + fp)``, as Keras computes it.

    Args:
        thresholds: a float or a list of floats in ``[0, 1]``; a prediction
            above a threshold counts as positive (use 0 for logits). A list
            gives one result per threshold. Default 0.5, or with ``top_k`` any
            score among the top k.
        top_k: only the ``k`` highest scores of each row count as predicted positives.
        class_id: only this column (class) of ``y_pred`` and ``y_true`` is scored.
        name: the name in logs (by default ``precision``, ``precision_1`` ...).
        dtype: float type of the counts (``floatx()``, float32 by default).
    """

    _counts = ("tp", "fp")


class Recall(_PrecisionRecall):
    """How many of the positives are predicted positive: ``tp / (tp + fn)``, as Keras computes it.

    Args:
        thresholds: a float or a list of floats in ``[0, 1]``; a prediction
            above a threshold counts as positive (use 0 for logits). A list
            gives one result per threshold. Default 0.5, or with ``top_k`` any
            score among the top k.
        top_k: only the ``k`` highest scores of each row count as predicted positives.
        class_id: only this column (class) of ``y_pred`` and ``y_true`` is scored.
        name: the name in logs (by default ``recall``, ``recall_1`` ...).
        dtype: float type of the counts (``floatx()``, float32 by default).
    """

    _counts = ("tp", "fn")


class _ConfusionMatrixConditionCount(Metric):
    """One confusion-matrix count per threshold: the base of TruePositives ... FalseNegatives.

    Args:
        thresholds: a float or a list of floats in ``[0, 1]`` (default 0.5);
            a prediction above a threshold counts as positive. A list gives
            one count per threshold.
        name: the name in logs.
        dtype: float type of the counts (``floatx()``, float32 by default).
    """

    _count = None  # "tp", "fp", "tn" or "fn"

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = _parse_thresholds(type(self).__name__, thresholds, 0.5)
        self._thresholds_distributed_evenly = _evenly_distributed(self.thresholds)
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch.

        Args:
            y_true: labels, the shape of ``y_pred`` (non-zero counts as positive).
            y_pred: scores, compared with each threshold (above it counts as positive).
            sample_weight: None, or weights whose rank is 0 or that of ``y_true``
                (broadcast to it); one weight per sample also works.
        """
        increments = _confusion_increments(
            type(self).__name__, (self._count,), y_true, y_pred, self.thresholds,
            self._thresholds_distributed_evenly, self.dtype, sample_weight=sample_weight)
        self.accumulator = self.accumulator + increments[self._count]

    def result(self):
        """A float for one threshold, else a NumPy array with one count per threshold."""
        value = self.accumulator[0] if len(self.thresholds) == 1 else self.accumulator
        return _host_result(value, self.dtype)

    def reset_state(self):
        self.accumulator = backend.xp.zeros((len(self.thresholds),), self.dtype)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionMatrixConditionCount):
    """How many (or, with weights, how much weight of) the positives are predicted positive."""

    _count = "tp"


class FalsePositives(_ConfusionMatrixConditionCount):
    """How many negatives are predicted positive (weighted by ``sample_weight``)."""

    _count = "fp"


class TrueNegatives(_ConfusionMatrixConditionCount):
    """How many negatives are predicted negative (weighted by ``sample_weight``)."""

    _count = "tn"


class FalseNegatives(_ConfusionMatrixConditionCount):
    """How many positives are predicted negative (weighted by ``sample_weight``)."""

    _count = "fn"


# ---------------------------------------------------------------------------
# One rate at the best threshold under a constraint on another
# ---------------------------------------------------------------------------


class _SensitivitySpecificityBase(Metric):
    """Shared by SensitivityAtSpecificity ... RecallAtPrecision: Keras's ``SensitivitySpecificityBase``.

    Keeps the four confusion counts at ``num_thresholds`` thresholds
    ``0, 1/(n-1), ..., 1`` (one threshold, 0.5, when ``n`` is 1), counted by the
    same update as Precision and Recall (Keras's bucketed one for the grid).
    ``result`` takes the thresholds where the constrained rate is at least
    ``value`` (the feasible ones) and returns the largest dependent rate among
    them, or 0 when none is feasible. The bound is compared in the counts'
    float type, as Keras compares it. As in Keras, the true/false negatives
    are a total minus a running sum: with float weights, a threshold below
    every negative (positive) score keeps a float32 residue of about 1e-6
    there, which can decide the bounds 0 and 1 either way.

    Args:
        value: the bound on the constrained rate, in ``[0, 1]``.
        num_thresholds: how many thresholds (an integer > 0).
        class_id: only this column (class) of ``y_pred`` and ``y_true`` is scored.
        name: the name in logs.
        dtype: float type of the counts (``floatx()``, float32 by default).
    """

    _argument = None  # the subclass's name for ``value``: "specificity", "sensitivity", "recall", "precision"
    _constrained = None  # the rate that must reach ``value``
    _dependent = None  # the rate maximised over the feasible thresholds

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        where = type(self).__name__
        backend.check_real(where, self._argument, value)
        # Keras's test, word for word: NaN passes it (and then no threshold is feasible).
        if value < 0 or value > 1:
            raise ValueError(
                f"{where}: {self._argument} must be in the range [0, 1]. Received: {self._argument}={value}"
            )
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int):
            raise TypeError(
                f"{where}: num_thresholds must be an integer > 0. Received: num_thresholds={num_thresholds!r}"
            )
        if num_thresholds <= 0:
            raise ValueError(
                f"{where}: num_thresholds must be an integer > 0. Received: num_thresholds={num_thresholds}"
            )
        super().__init__(name=name, dtype=dtype)
        setattr(self, self._argument, value)
        self.value = value
        self.num_thresholds = num_thresholds
        self.class_id = None if class_id is None else _check_index(where, "class_id", class_id, 0)
        if num_thresholds == 1:
            self.thresholds = [0.5]
            self._thresholds_distributed_evenly = False
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds = [0.0] + inner + [1.0]
            self._thresholds_distributed_evenly = True
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch.

        Args:
            y_true: labels, the shape of ``y_pred`` (non-zero counts as positive).
            y_pred: scores, compared with each threshold (above it counts as positive).
            sample_weight: None, or weights whose rank is 0 or that of ``y_true``
                (broadcast to it); one weight per sample also works.
        """
        increments = _confusion_increments(
            type(self).__name__, ("tp", "fp", "tn", "fn"), y_true, y_pred, self.thresholds,
            self._thresholds_distributed_evenly, self.dtype, class_id=self.class_id,
            sample_weight=sample_weight)
        self.true_positives = self.true_positives + increments["tp"]
        self.false_positives = self.false_positives + increments["fp"]
        self.true_negatives = self.true_negatives + increments["tn"]
        self.false_negatives = self.false_negatives + increments["fn"]

    def _rate(self, kind):
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        if kind in ("sensitivity", "recall"):
            return _divide_no_nan(tp, tp + fn)
        if kind == "specificity":
            return _divide_no_nan(tn, tn + fp)
        return _divide_no_nan(tp, tp + fp)  # precision

    def result(self) -> float:
        """The largest dependent rate over the thresholds whose constrained rate is >= ``value``; else 0."""
        xp = backend.xp
        # The bound in the counts' float type, as Keras compares (float32 0.8, not the double 0.8).
        feasible = self._rate(self._constrained) >= xp.asarray(self.value, self.dtype)
        best = xp.max(xp.where(feasible, self._rate(self._dependent), 0))
        return _host_result(xp.maximum(best, 0), self.dtype)  # Keras's max(..., initial=0)

    def reset_state(self):
        shape = (len(self.thresholds),)
        self.true_positives = backend.xp.zeros(shape, self.dtype)
        self.false_positives = backend.xp.zeros(shape, self.dtype)
        self.true_negatives = backend.xp.zeros(shape, self.dtype)
        self.false_negatives = backend.xp.zeros(shape, self.dtype)

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id, "num_thresholds": self.num_thresholds,
                self._argument: getattr(self, self._argument)}


class SensitivityAtSpecificity(_SensitivitySpecificityBase):
    """The best sensitivity ``tp / (tp + fn)`` over the thresholds where specificity is >= ``specificity``.

    Specificity is ``tn / (tn + fp)``; 0 when no threshold reaches it.

    Args:
        specificity: a float in ``[0, 1]``.
        num_thresholds: how many thresholds ``0, 1/(n-1), ..., 1`` are tried
            (default 200; one gives the single threshold 0.5).
        class_id: only this column (class) of ``y_pred`` and ``y_true`` is scored.
        name: the name in logs (by default ``sensitivity_at_specificity`` ...).
        dtype: float type of the counts (``floatx()``, float32 by default).
    """

    _argument, _constrained, _dependent = "specificity", "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)


class SpecificityAtSensitivity(_SensitivitySpecificityBase):
    """The best specificity ``tn / (tn + fp)`` over the thresholds where sensitivity is >= ``sensitivity``.

    Sensitivity is ``tp / (tp + fn)``; 0 when no threshold reaches it.

    Args:
        sensitivity: a float in ``[0, 1]``.
        num_thresholds: how many thresholds ``0, 1/(n-1), ..., 1`` are tried
            (default 200; one gives the single threshold 0.5).
        class_id: only this column (class) of ``y_pred`` and ``y_true`` is scored.
        name: the name in logs (by default ``specificity_at_sensitivity`` ...).
        dtype: float type of the counts (``floatx()``, float32 by default).
    """

    _argument, _constrained, _dependent = "sensitivity", "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)


class PrecisionAtRecall(_SensitivitySpecificityBase):
    """The best precision ``tp / (tp + fp)`` over the thresholds where recall is >= ``recall``.

    Recall is ``tp / (tp + fn)``; 0 when no threshold reaches it.

    Args:
        recall: a float in ``[0, 1]``.
        num_thresholds: how many thresholds ``0, 1/(n-1), ..., 1`` are tried
            (default 200; one gives the single threshold 0.5).
        class_id: only this column (class) of ``y_pred`` and ``y_true`` is scored.
        name: the name in logs (by default ``precision_at_recall`` ...).
        dtype: float type of the counts (``floatx()``, float32 by default).
    """

    _argument, _constrained, _dependent = "recall", "recall", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)


class RecallAtPrecision(_SensitivitySpecificityBase):
    """The best recall ``tp / (tp + fn)`` over the thresholds where precision is >= ``precision``.

    Precision is ``tp / (tp + fp)``; 0 when no threshold reaches it (a
    threshold with no predicted positive has precision 0, as Keras counts it).

    Args:
        precision: a float in ``[0, 1]``.
        num_thresholds: how many thresholds ``0, 1/(n-1), ..., 1`` are tried
            (default 200; one gives the single threshold 0.5).
        class_id: only this column (class) of ``y_pred`` and ``y_true`` is scored.
        name: the name in logs (by default ``recall_at_precision`` ...).
        dtype: float type of the counts (``floatx()``, float32 by default).
    """

    _argument, _constrained, _dependent = "precision", "precision", "recall"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)


_AUC_CURVES = {"ROC": "ROC", "roc": "ROC", "PR": "PR", "pr": "PR", "PRGAIN": "PRGAIN", "prgain": "PRGAIN"}
_AUC_SUMMATIONS = {"interpolation": "interpolation", "Interpolation": "interpolation",
                   "majoring": "majoring", "Majoring": "majoring", "minoring": "minoring", "Minoring": "minoring"}


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from confusion counts at fixed thresholds.

    As Keras: predictions are counted at ``num_thresholds`` thresholds
    (``-epsilon``, ``1/(n-1)`` ... ``1+epsilon``), and the curve through those
    points is summed as a Riemann sum. For ``curve='PR'`` with
    ``'interpolation'`` the true and false positives are interpolated
    (Davis & Goadrich 2006), not the precision.

    Args:
        num_thresholds: how many thresholds (> 1); ignored when ``thresholds`` is given.
        curve: ``'ROC'`` (default), ``'PR'`` or ``'PRGAIN'`` (also lower case).
        summation_method: ``'interpolation'`` (trapezoids), ``'minoring'``
            (lower bound) or ``'majoring'`` (upper bound).
        name: the name in logs (by default ``auc``, ``auc_1`` ...).
        dtype: float type of the counts (``floatx()``, float32 by default).
        thresholds: a list of thresholds to use instead; the two end points
            are added to them.
        multi_label: one curve per column of ``(batch, labels)`` data, the AUCs
            averaged; otherwise every entry is one example.
        num_labels: the number of labels with ``multi_label`` (else known at the first batch).
        label_weights: one weight per label: how the label AUCs are averaged
            with ``multi_label``, else how each column's entries are weighted.
        from_logits: apply a sigmoid to the predictions first.
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None,
                 dtype=None, thresholds=None, multi_label=False, num_labels=None, label_weights=None,
                 from_logits=False):
        if not isinstance(curve, str) or curve not in _AUC_CURVES:
            raise ValueError(
                f'AUC: invalid curve "{curve}". Expected one of "ROC", "PR", "PRGAIN" (or lower case).'
            )
        if not isinstance(summation_method, str) or summation_method not in _AUC_SUMMATIONS:
            raise ValueError(
                f'AUC: invalid summation_method "{summation_method}". Expected one of "interpolation", '
                '"majoring", "minoring".'
            )
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            if not isinstance(thresholds, (list, tuple)):
                raise TypeError(f"AUC: thresholds must be a list of floats. Received: thresholds={thresholds!r}")
            for value in thresholds:
                backend.check_real("AUC", "thresholds", value)
            thresholds = sorted(float(value) for value in thresholds)
            self.num_thresholds = len(thresholds) + 2
            self._thresholds_distributed_evenly = _evenly_distributed([0.0] + thresholds + [1.0])
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int):
                raise TypeError(
                    f"AUC: num_thresholds must be an integer > 1. Received: num_thresholds={num_thresholds!r}"
                )
            if num_thresholds <= 1:
                raise ValueError(
                    f"AUC: num_thresholds must be an integer > 1. Received: num_thresholds={num_thresholds}"
                )
            self.num_thresholds = num_thresholds
            thresholds = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._thresholds_distributed_evenly = True
        # End points below 0 and above 1, so that predictions of exactly 0 or 1 are counted.
        self._thresholds = [0.0 - backend.epsilon()] + thresholds + [1.0 + backend.epsilon()]
        self.curve = _AUC_CURVES[curve]
        self.summation_method = _AUC_SUMMATIONS[summation_method]
        super().__init__(name=name, dtype=dtype)
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        if num_labels is not None:
            _check_index("AUC", "num_labels", num_labels, 1)
        self.label_weights = (None if label_weights is None
                              else backend.to_array(label_weights, self.dtype, where="AUC (label_weights)"))
        if self.label_weights is not None and self.label_weights.ndim != 1:
            raise ValueError(
                f"AUC: label_weights must be one weight per label. Received shape {self.label_weights.shape}"
            )
        self._from_logits = from_logits
        self._built = False
        if self.multi_label:
            if num_labels:
                self._build((None, num_labels))
        else:
            if num_labels:
                raise ValueError("AUC: num_labels is needed only when multi_label is True.")
            self._build(None)

    @property
    def thresholds(self):
        """The thresholds the counts are kept at, end points included."""
        return list(self._thresholds)

    def _build(self, shape):
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError(
                    f"AUC: y_pred must have rank 2 when multi_label=True. Found rank {len(shape)}. "
                    f"Full shape received for y_pred: {tuple(shape)}"
                )
            self._num_labels = shape[1]
        self._built = True
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch.

        Args:
            y_true: 0/1 labels, the shape of ``y_pred`` (non-zero counts as positive).
            y_pred: probabilities (or logits with ``from_logits``), ``(batch, labels)``
                with ``multi_label``.
            sample_weight: None, or weights whose rank is 0 or that of ``y_true``.
        """
        y_pred = _float_predictions(y_pred, "AUC")
        if not self._built:
            self._build(y_pred.shape)
        elif self.multi_label and (y_pred.ndim != 2 or y_pred.shape[1] != self._num_labels):
            raise ValueError(
                f"AUC: with multi_label=True, y_pred must have shape (batch, {self._num_labels}). "
                f"Received: y_pred.shape={y_pred.shape}"
            )
        if self._from_logits:
            y_pred = activations.sigmoid(y_pred)
        increments = _confusion_increments(
            "AUC", ("tp", "tn", "fp", "fn"), y_true, y_pred, self._thresholds,
            self._thresholds_distributed_evenly, self.dtype, sample_weight=sample_weight,
            multi_label=self.multi_label, label_weights=None if self.multi_label else self.label_weights)
        self.true_positives = self.true_positives + increments["tp"]
        self.true_negatives = self.true_negatives + increments["tn"]
        self.false_positives = self.false_positives + increments["fp"]
        self.false_negatives = self.false_negatives + increments["fn"]

    def _average_labels(self, by_label):
        """With multi_label: the mean of the label AUCs, or their label_weights-weighted mean."""
        if self.label_weights is None:
            return backend.xp.mean(by_label)
        return _divide_no_nan(backend.xp.sum(by_label * self.label_weights), backend.xp.sum(self.label_weights))

    def _interpolate_pr_auc(self):
        """Keras's closed form of the PR area with true and false positives linear between thresholds."""
        xp = backend.xp
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, xp.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        with backend.errstate(divide="ignore", invalid="ignore"):
            ratio = xp.where((p[:-1] > 0) & (p[1:] > 0), _divide_no_nan(p[:-1], xp.maximum(p[1:], 0)),
                             xp.ones_like(p[1:]))
            increments = _divide_no_nan(slope * (dtp + intercept * xp.log(ratio)), xp.maximum(tp[1:] + fn[1:], 0))
        if self.multi_label:
            return self._average_labels(xp.sum(increments, axis=0))
        return xp.sum(increments)

    def result(self) -> float:
        if not self._built:
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            return _host_result(self._interpolate_pr_auc(), self.dtype)
        xp = backend.xp
        tp, fp = self.true_positives, self.false_positives
        tn, fn = self.true_negatives, self.false_negatives
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(tp, tp + fp)
        else:  # PRGAIN, with Keras's fixes where it is undefined
            scaling = _divide_no_nan(tp + fn, tn + fp)
            recall_gain = 1 - scaling * _divide_no_nan(fn, tp)
            precision_gain = 1 - scaling * _divide_no_nan(fp, tp)
            recall_gain = xp.maximum(xp.where(tp == 0, 0, recall_gain), 0)
            precision_gain = xp.where(tp == 0, 1, precision_gain)
            x, y = recall_gain, precision_gain
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2
        elif self.summation_method == "minoring":
            heights = xp.minimum(y[:-1], y[1:])
        else:
            heights = xp.maximum(y[:-1], y[1:])
        terms = (x[:-1] - x[1:]) * heights
        value = self._average_labels(xp.sum(terms, axis=0)) if self.multi_label else xp.sum(terms)
        return _host_result(value, self.dtype)

    def reset_state(self):
        if not self._built:
            return
        shape = (self.num_thresholds, self._num_labels) if self.multi_label else (self.num_thresholds,)
        self.true_positives = backend.xp.zeros(shape, self.dtype)
        self.false_positives = backend.xp.zeros(shape, self.dtype)
        self.true_negatives = backend.xp.zeros(shape, self.dtype)
        self.false_negatives = backend.xp.zeros(shape, self.dtype)

    def get_config(self):
        label_weights = None if self.label_weights is None else backend.to_numpy(self.label_weights).tolist()
        config = {
            **super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
            "summation_method": self.summation_method, "multi_label": self.multi_label,
            "num_labels": self.num_labels, "label_weights": label_weights, "from_logits": self._from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]  # without the end points, as Keras writes it
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        weights = config.get("label_weights")
        if isinstance(weights, dict) and weights.get("class_name") in ("__tensor__", "__numpy__"):
            config["label_weights"] = weights["config"]["value"]  # how Keras's files store a tensor
        return cls(**config)


# ---------------------------------------------------------------------------
# F-scores
# ---------------------------------------------------------------------------


class FBetaScore(Metric):
    """The F-beta score ``(1 + b²) · precision · recall / (b² · precision + recall)``, per class or averaged.

    Predictions above ``threshold`` count as 1 (with ``threshold=None``, the
    largest score of each row does); labels and predictions are
    ``(batch, classes)``. As Keras, ``epsilon`` is added to every denominator.

    Args:
        average: None (one score per class), ``'micro'`` (counts pooled over
            the classes), ``'macro'`` (the mean of the class scores) or
            ``'weighted'`` (their mean weighted by the number of true labels).
        beta: the weight of recall, a Python float > 0.
        threshold: None or a Python float in ``(0, 1]``.
        name: the name in logs.
        dtype: float type of the counts (``floatx()``, float32 by default).
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        where = type(self).__name__
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                f"{where}: invalid average. Expected one of None, 'micro', 'macro', 'weighted'. "
                f"Received: average={average!r}"
            )
        if not isinstance(beta, float):  # as Keras: an int is refused too
            raise ValueError(f"{where}: beta must be a Python float. Received: beta={beta!r} of type {type(beta)}")
        if beta <= 0.0:
            raise ValueError(f"{where}: beta must be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(
                    f"{where}: threshold must be a Python float or None. "
                    f"Received: threshold={threshold!r} of type {type(threshold)}"
                )
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError(f"{where}: threshold must verify 0 < threshold <= 1. Received: threshold={threshold}")
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, classes):
        self._num_classes = classes
        self._built = True
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch.

        Args:
            y_true: 0/1 labels (one-hot or multi-hot), ``(batch, classes)``.
            y_pred: scores, the same shape.
            sample_weight: None or one weight per sample, shape ``(batch,)``.
        """
        xp = backend.xp
        where = type(self).__name__
        y_true = backend.to_array(y_true, self.dtype, where=where)
        y_pred = backend.to_array(y_pred, self.dtype, where=where)
        if y_pred.ndim != 2 or y_true.ndim != 2:
            raise ValueError(
                f"{where} expects 2D inputs with shape (batch_size, output_dim). Received input shapes: "
                f"y_pred.shape={y_pred.shape} and y_true.shape={y_true.shape}."
            )
        if not self._built:
            self._build(y_pred.shape[-1])
        if y_true.shape != y_pred.shape or y_pred.shape[-1] != self._num_classes:
            raise ValueError(
                f"{where}: y_true and y_pred must both have shape (batch_size, {self._num_classes}). "
                f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
            )
        if self.threshold is None:
            top = xp.max(y_pred, axis=-1, keepdims=True)
            y_pred = (y_pred >= top) & (xp.abs(y_pred) > xp.asarray(1e-9, self.dtype))
        else:
            y_pred = y_pred > xp.asarray(self.threshold, self.dtype)
        y_pred = y_pred.astype(self.dtype)
        if sample_weight is not None:
            sample_weight = backend.to_array(sample_weight, self.dtype, where=f"{where} (sample_weight)")
            if sample_weight.shape != y_pred.shape[:1]:
                raise ValueError(
                    f"{where}: sample_weight must hold one weight per sample, shape {y_pred.shape[:1]}. "
                    f"Received: sample_weight.shape={sample_weight.shape}"
                )

        def weighted_sum(values):
            if sample_weight is not None:
                values = values * sample_weight[:, None]
            return xp.sum(values, axis=self.axis, dtype=self.dtype)

        self.true_positives = self.true_positives + weighted_sum(y_pred * y_true)
        self.false_positives = self.false_positives + weighted_sum(y_pred * (1 - y_true))
        self.false_negatives = self.false_negatives + weighted_sum((1 - y_pred) * y_true)
        self.intermediate_weights = self.intermediate_weights + weighted_sum(y_true)

    def result(self):
        """A float when averaged, else a NumPy array with one score per class."""
        if not self._built:
            return 0.0
        xp = backend.xp
        epsilon = xp.asarray(backend.epsilon(), self.dtype)
        beta_squared = xp.asarray(self.beta ** 2, self.dtype)
        tp = self.true_positives
        precision = tp / (tp + self.false_positives + epsilon)
        recall = tp / (tp + self.false_negatives + epsilon)
        score = precision * recall / (beta_squared * precision + recall + epsilon) * (1 + beta_squared)
        if self.average == "weighted":
            weights = self.intermediate_weights / (xp.sum(self.intermediate_weights) + epsilon)
            score = xp.sum(score * weights)
        elif self.average is not None:
            score = xp.mean(score)
        return _host_result(score, self.dtype)

    def reset_state(self):
        if not self._built:
            return
        shape = () if self.average == "micro" else (self._num_classes,)
        for name in ("true_positives", "false_positives", "false_negatives", "intermediate_weights"):
            setattr(self, name, backend.xp.zeros(shape, self.dtype))

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score ``2 · precision · recall / (precision + recall)``: :class:`FBetaScore` with ``beta=1``.

    Args:
        average: None (one score per class), ``'micro'``, ``'macro'`` or ``'weighted'``.
        threshold: None (the largest score of each row counts as 1) or a Python float in ``(0, 1]``.
        name: the name in logs.
        dtype: float type of the counts (``floatx()``, float32 by default).
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


# ---------------------------------------------------------------------------
# R2 score
# ---------------------------------------------------------------------------


class R2Score(Metric):
    """The coefficient of determination ``1 - SS_residual / SS_total``, per output column or aggregated.

    Sums of ``y``, ``y**2``, the squared residuals and the weights are kept
    per column in float32, as Keras keeps them. A column whose total sum of
    squares is 0 scores 0 (Keras replaces the infinite ratio), or NaN when its
    residuals are 0 too.

    Args:
        class_aggregation: ``'uniform_average'`` (the mean of the column
            scores), ``'variance_weighted_average'`` (weighted by each column's
            total sum of squares) or None (one score per column).
        num_regressors: the number of independent regressors ``p`` for the
            adjusted score ``1 - (1 - R2) (n - 1) / (n - p - 1)``, where ``n``
            counts every entry of ``y_true`` (as Keras); 0 is the plain score.
        name: the name in logs.
        dtype: float type of the sums (float32).
    """

    _aggregations = (None, "uniform_average", "variance_weighted_average")

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in self._aggregations:
            raise ValueError(
                f"R2Score: invalid class_aggregation. Expected one of {self._aggregations}. "
                f"Received: class_aggregation={class_aggregation!r}"
            )
        backend.check_real("R2Score", "num_regressors", num_regressors)
        if num_regressors < 0:
            raise ValueError(
                f"R2Score: num_regressors must be >= 0. Received: num_regressors={num_regressors}"
            )
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self._built = False
        self.num_samples = backend.xp.zeros((), self.dtype)

    def _build(self, true_shape, pred_shape):
        if len(pred_shape) != 2 or len(true_shape) != 2:
            raise ValueError(
                "R2Score expects 2D inputs with shape (batch_size, output_dim). Received input "
                f"shapes: y_pred.shape={pred_shape} and y_true.shape={true_shape}."
            )
        self._num_columns = pred_shape[-1]
        self._built = True
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch.

        Args:
            y_true: targets, ``(batch, outputs)`` (``(batch,)`` against ``(batch, 1)`` is lined up).
            y_pred: predictions, the same shape.
            sample_weight: None, a scalar, one weight per sample or one per entry.
        """
        xp = backend.xp
        y_true = backend.to_array(y_true, self.dtype, where="R2Score")
        y_pred = backend.to_array(y_pred, self.dtype, where="R2Score")
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        if y_true.shape != y_pred.shape or y_pred.shape[-1] != self._num_columns:
            raise ValueError(
                f"R2Score: y_true and y_pred must both have shape (batch_size, {self._num_columns}). "
                f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
            )
        weight = xp.ones((), self.dtype) if sample_weight is None else backend.to_array(
            sample_weight, self.dtype, where="R2Score (sample_weight)")
        if weight.ndim == 1:
            weight = weight[:, None]  # a features axis
        weight = _broadcast_weights("R2Score", "sample_weight", weight, y_true.shape)
        weighted_true = y_true * weight
        self.sum = self.sum + xp.sum(weighted_true, axis=0)
        self.squared_sum = self.squared_sum + xp.sum(y_true * weighted_true, axis=0)
        self.total_mse = self.total_mse + xp.sum(xp.square(y_true - y_pred) * weight, axis=0)
        self.count = self.count + xp.sum(weight, axis=0)
        self.num_samples = self.num_samples + xp.asarray(y_true.size, self.dtype)

    def result(self):
        """A float when aggregated, else a NumPy array with one score per column."""
        if not self._built:
            return 0.0
        xp = backend.xp
        with backend.errstate(divide="ignore", invalid="ignore"):
            mean = self.sum / self.count
            total = self.squared_sum - self.sum * mean
            raw_scores = 1 - self.total_mse / total
        raw_scores = xp.where(xp.isinf(raw_scores), xp.asarray(0.0, self.dtype), raw_scores)
        if self.class_aggregation == "uniform_average":
            score = xp.mean(raw_scores)
        elif self.class_aggregation == "variance_weighted_average":
            with backend.errstate(divide="ignore", invalid="ignore"):
                score = xp.sum(total * raw_scores) / xp.sum(total)
        else:
            score = raw_scores
        if self.num_regressors != 0:
            samples = backend.to_float(self.num_samples)
            if self.num_regressors > samples - 1:
                warnings.warn("More independent predictors than datapoints in adjusted R2 score. "
                              "Falling back to standard R2 score.", stacklevel=2)
            elif self.num_regressors == samples - 1:
                warnings.warn("Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                              stacklevel=2)
            else:
                n = xp.asarray(samples, "float32")
                p = xp.asarray(self.num_regressors, "float32")
                score = 1 - (1 - score) * (n - 1) / (n - p - 1)
        return _host_result(score, self.dtype)

    def reset_state(self):
        self.num_samples = backend.xp.zeros((), self.dtype)
        if not self._built:
            return
        for name in ("squared_sum", "sum", "total_mse", "count"):
            setattr(self, name, backend.xp.zeros((self._num_columns,), self.dtype))

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


# ---------------------------------------------------------------------------
# Intersection over union: one confusion matrix of class ids
# ---------------------------------------------------------------------------


def _class_confusion_matrix(labels, predictions, num_classes, weights, dtype):
    """``matrix[true, predicted]`` summed over the (flat) samples, with their weights, in ``dtype``."""
    cells = labels.astype("int64") * num_classes + predictions.astype("int64")
    counts = backend.xp.bincount(cells, weights=weights, minlength=num_classes * num_classes)
    return counts.astype(dtype).reshape(num_classes, num_classes)


class _IoUBase(Metric):
    """The running confusion matrix of class ids that every IoU metric reads.

    Entries whose label or prediction is not a class id in ``[0, num_classes)``,
    or whose label is ``ignore_class``, are left out (weight 0), as Keras does.
    The matrix has the metric's dtype, ``int64`` by default as in Keras (float
    weights are then truncated, with Keras's warning).
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype=dtype or "int64")
        _check_index(type(self).__name__, "num_classes", num_classes, 1)
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = axis
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch.

        Args:
            y_true: class ids (or, with ``sparse_y_true=False``, scores whose
                arg-max along ``axis`` is the class), any shape; flattened.
            y_pred: the same for the predictions.
            sample_weight: None, a scalar, or one weight per entry.
        """
        xp = backend.xp
        where = type(self).__name__
        y_true, y_pred = _numeric(y_true, where), _numeric(y_pred, where)
        if not self.sparse_y_true:
            y_true = xp.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = xp.argmax(y_pred, axis=self.axis)
        y_true = y_true.astype(self.dtype).reshape(-1)
        y_pred = y_pred.astype(self.dtype).reshape(-1)
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"{where}: y_true and y_pred must hold as many class ids. Received {y_true.shape[0]} "
                f"labels and {y_pred.shape[0]} predictions."
            )
        if sample_weight is None:
            weight = xp.ones(y_true.shape, self.dtype)
        else:
            weight = _numeric(sample_weight, f"{where} (sample_weight)")
            if weight.dtype.kind == "f" and numpy.dtype(self.dtype).kind in "iu":
                warnings.warn(
                    "You are passing weight as `float`, but dtype is `int`. This may result in an incorrect "
                    "weight due to type casting Consider using integer weights.", stacklevel=2)
            weight = weight.astype(self.dtype)
            weight = weight.reshape(-1) if weight.ndim > 1 else weight
            weight = _broadcast_weights(where, "sample_weight", weight, y_true.shape)
        kept = (y_true >= 0) & (y_true < self.num_classes) & (y_pred >= 0) & (y_pred < self.num_classes)
        if self.ignore_class is not None:
            kept = kept & (y_true != self.ignore_class)
        zero = xp.zeros((), self.dtype)
        self.total_cm = self.total_cm + _class_confusion_matrix(
            xp.where(kept, y_true, zero), xp.where(kept, y_pred, zero), self.num_classes,
            xp.where(kept, weight, zero), self.dtype)

    def reset_state(self):
        self.total_cm = backend.xp.zeros((self.num_classes, self.num_classes), self.dtype)


class IoU(_IoUBase):
    """Intersection over union ``tp / (tp + fp + fn)`` of the chosen classes, averaged.

    Classes that never occur (an empty union) are left out of the mean.

    Args:
        num_classes: the number of classes (the confusion matrix is ``num_classes``²).
        target_class_ids: the classes whose IoUs are averaged.
        name: the name in logs.
        dtype: the confusion matrix's type (``int64`` by default, as Keras).
        ignore_class: a label id to leave out (a "void" class), or None.
        sparse_y_true: whether labels are class ids; else the arg-max along ``axis`` is taken.
        sparse_y_pred: the same for the predictions.
        axis: the class axis of dense labels or predictions.
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)
        target_class_ids = list(target_class_ids)
        if not target_class_ids:
            raise ValueError(f"{type(self).__name__}: target_class_ids must not be empty.")
        if max(target_class_ids) >= num_classes:
            raise ValueError(
                f"{type(self).__name__}: target class id {max(target_class_ids)} is out of range, "
                f"which is [0, {num_classes})."
            )
        self.target_class_ids = target_class_ids

    def result(self) -> float:
        xp = backend.xp
        matrix = self.total_cm
        true_positives = xp.diag(matrix)
        denominator = xp.sum(matrix, axis=0) + xp.sum(matrix, axis=1) - true_positives
        ids = xp.asarray(self.target_class_ids, "int64")
        true_positives = true_positives[ids].astype("float32")
        denominator = denominator[ids].astype("float32")
        valid = denominator > xp.asarray(1e-9, "float32")
        eps = xp.asarray(backend.epsilon(), "float32")
        iou = xp.where(valid, true_positives / (denominator + eps), xp.asarray(0.0, "float32"))
        return _host_result(xp.sum(iou) / (xp.sum(valid.astype("float32")) + eps), "float32")

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class BinaryIoU(IoU):
    """IoU of a binary task: predictions at or above ``threshold`` are class 1, the others class 0.

    Args:
        target_class_ids: ``[0]``, ``[1]`` or ``[0, 1]`` (the mean of both).
        threshold: the score from which a prediction is class 1.
        name: the name in logs.
        dtype: the confusion matrix's type (``int64``).
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        backend.check_real("BinaryIoU", "threshold", threshold)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch: labels 0/1, scores thresholded at ``threshold``."""
        y_true = _numeric(y_true, "BinaryIoU").astype(self.dtype)
        y_pred = _numeric(y_pred, "BinaryIoU").astype("float32")
        y_pred = (y_pred >= backend.xp.asarray(self.threshold, "float32")).astype(self.dtype)
        super().update_state(y_true, y_pred, sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name,
                "dtype": self.dtype}


class MeanIoU(IoU):
    """The mean IoU over every class (those that never occur are left out).

    Args:
        num_classes: the number of classes.
        name, dtype, ignore_class, sparse_y_true, sparse_y_pred, axis: as in :class:`IoU`.
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        _check_index("MeanIoU", "num_classes", num_classes, 1)
        super().__init__(num_classes=num_classes, target_class_ids=list(range(num_classes)), name=name,
                         dtype=dtype, ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotIoU(IoU):
    """:class:`IoU` for one-hot labels: the arg-max along ``axis`` gives the class.

    Args:
        num_classes, target_class_ids, name, dtype, ignore_class: as in :class:`IoU`.
        sparse_y_pred: whether predictions are class ids (default: scores, arg-maxed).
        axis: the class axis.
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes=num_classes, target_class_ids=target_class_ids, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "target_class_ids": self.target_class_ids, "name": self.name,
                "dtype": self.dtype, "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class OneHotMeanIoU(MeanIoU):
    """:class:`MeanIoU` for one-hot labels: the arg-max along ``axis`` gives the class.

    Args:
        num_classes, name, dtype, ignore_class: as in :class:`MeanIoU`.
        sparse_y_pred: whether predictions are class ids (default: scores, arg-maxed).
        axis: the class axis.
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


# ---------------------------------------------------------------------------
# Lookup
# ---------------------------------------------------------------------------

_CLASSES = {
    cls.__name__: cls
    for cls in (
        Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
        TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
        MeanAbsoluteError, MeanSquaredError, MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError, BinaryCrossentropy, CategoricalCrossentropy,
        SparseCategoricalCrossentropy, KLDivergence, Hinge,
        RootMeanSquaredError, Precision, Recall, AUC, FBetaScore, F1Score,
        TruePositives, FalsePositives, TrueNegatives, FalseNegatives, Poisson, LogCoshError,
        CosineSimilarity, CategoricalHinge, SquaredHinge, R2Score, Sum, IoU, MeanIoU, BinaryIoU,
        OneHotIoU, OneHotMeanIoU, PearsonCorrelation, ConcordanceCorrelation,
        SensitivityAtSpecificity, SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision,
    )
}
# Whether a larger value is better, for EarlyStopping(mode="auto") (Keras's `_direction`).
for _cls in (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
             TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, Precision, Recall, AUC, FBetaScore,
             CosineSimilarity, R2Score, _IoUBase, PearsonCorrelation, ConcordanceCorrelation,
             _SensitivitySpecificityBase):
    _cls._direction = "up"
for _cls in (MeanAbsoluteError, MeanSquaredError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
             BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, KLDivergence, Hinge,
             RootMeanSquaredError, LogCoshError, SquaredHinge, CategoricalHinge):
    _cls._direction = "down"
del _cls
# As in Keras: class names, their snake-case forms, and a few short aliases.
_NAMES = {**_CLASSES, **{backend.snake_case(name): cls for name, cls in _CLASSES.items()}}
_NAMES.update({
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
})
KNOWN_NAMES = tuple(sorted(_NAMES)) + ("acc",)

_ACCURACY_FOR_LOSS = {
    losses.BinaryCrossentropy: BinaryAccuracy,
    losses.CategoricalCrossentropy: CategoricalAccuracy,
    losses.SparseCategoricalCrossentropy: SparseCategoricalAccuracy,
}


def get(identifier, loss=None, y_true=None, y_pred=None):
    """A Metric instance for what ``compile(metrics=[...])`` accepts.

    ``'accuracy'`` and ``'acc'`` (any case) are resolved as Keras 3's compile
    does, from the SHAPES of a batch, not from the loss: predictions with one
    column give :class:`BinaryAccuracy`; labels with fewer axes than the
    predictions (or one column against several) give
    :class:`SparseCategoricalAccuracy`; anything else
    :class:`CategoricalAccuracy`. So ``loss='mse'`` with one output also gets
    BinaryAccuracy. When no batch is given, a cross-entropy ``loss`` decides
    (binary/categorical/sparse); with neither, ``'accuracy'`` is the
    exact-match :class:`Accuracy` (``keras.metrics.get``'s answer).

    A string keeps the name the user wrote (``'acc'`` is logged as ``acc``,
    ``'mae'`` as ``mae``), as in Keras's logs.

    Args:
        identifier: a name (``'accuracy'``, ``'acc'``, ``'mae'``,
            ``'mean_squared_error'``, ``'BinaryAccuracy'`` ...), a
            :class:`Metric` (returned as is), a Metric subclass, or a function
            ``f(y_true, y_pred)`` (wrapped in :class:`MeanMetricWrapper`).
        loss: the compiled loss (anything :func:`losses.get` accepts).
        y_true, y_pred: a batch of labels and predictions (only shapes are read).

    Returns:
        A :class:`Metric`.
    """
    if isinstance(identifier, Metric):
        return identifier
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            resolved = _resolve_accuracy(identifier, loss, y_true, y_pred)
            if resolved is not None:
                return resolved
        if identifier in _NAMES:
            # As Keras: the class's own default first (an automatic name such as
            # `auc` is then taken, so a later AUC() is `auc_1`), then the name written.
            metric = _NAMES[identifier]()
            metric.name = identifier
            return metric
        from course_lib import saving

        found = saving.find_object(identifier)  # a custom metric in the global custom objects or the scope
        if found is not None and not isinstance(found, str):
            return get(found)
    elif callable(identifier):
        name = backend.snake_case(getattr(identifier, "__name__", type(identifier).__name__))
        return MeanMetricWrapper(identifier, name=name)
    raise ValueError(
        f"metrics.get: could not interpret metric identifier {identifier!r}. "
        f"Known names: {', '.join(KNOWN_NAMES)}; or pass a Metric instance, a Metric "
        "class or a function f(y_true, y_pred)."
    )


def _resolve_accuracy(identifier, loss, y_true, y_pred):
    if y_true is not None and y_pred is not None:
        is_binary, is_sparse = is_binary_or_sparse_categorical(y_true, y_pred)
        if is_binary:
            return BinaryAccuracy(name=identifier)
        if is_sparse:
            return SparseCategoricalAccuracy(name=identifier)
        return CategoricalAccuracy(name=identifier)
    if loss is not None:
        loss_object = losses.get(loss)
        for loss_class, metric_class in _ACCURACY_FOR_LOSS.items():
            if isinstance(loss_object, loss_class):
                return metric_class(name=identifier)
        raise ValueError(
            f"metrics.get: {identifier!r} is resolved from the shapes of y_true and "
            f"y_pred (Keras 3 compile); with loss {loss_object.name!r} it cannot be "
            "guessed from the loss alone. Pass y_true= and y_pred= (one batch)."
        )
    if identifier == "accuracy":
        return None
    raise ValueError(
        f"metrics.get: {identifier!r} is resolved from the shapes of y_true and y_pred, "
        "as Keras 3's compile does. Pass y_true= and y_pred= (one batch), or loss=."
    )


def serialize(metric) -> dict:
    """``{'class_name': ..., 'config': ...}`` for a built-in Metric."""
    if not isinstance(metric, Metric) or type(metric).__name__ not in _CLASSES:
        raise TypeError(f"metrics.serialize: expected a built-in Metric. Received: {metric!r}")
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config, custom_objects=None):
    """A Metric from :func:`serialize`'s dict, or from a name as :func:`get`.

    ``custom_objects`` (``{name: Metric subclass or function}``), the global
    custom objects and an enclosing ``custom_object_scope`` are looked up first.
    """
    from course_lib import saving

    if isinstance(config, str):
        found = saving.find_object(config, set(_NAMES) | set(_CLASSES), custom_objects)
        return get(config if found is None else found)
    if isinstance(config, dict) and config.get("class_name") == "function":  # a metric function, by name
        found = saving.find_object(config.get("config"), set(_NAMES), custom_objects)
        return get(config.get("config") if found is None else found)
    cls = None
    if isinstance(config, dict):
        cls = saving.find_object(config.get("class_name"), _CLASSES, custom_objects, config.get("registered_name"))
    if cls is None:
        raise ValueError(
            "metrics.deserialize: expected {'class_name': one of "
            f"{sorted(_CLASSES)} or a custom object's name, 'config': {{...}}}}. Received: {config!r}"
        )
    if not inspect.isclass(cls):  # a Metric instance or a function in the custom objects
        return get(cls)
    return cls.from_config(dict(config.get("config", {})))
