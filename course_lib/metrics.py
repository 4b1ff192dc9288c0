"""Metrics with Keras 3's names and numbers: per-sample functions and stateful classes.

A metric accumulates over batches: ``update_state`` adds a batch,
``result`` reads the running value, ``reset_state`` starts again (the training
engine resets at the start of each epoch). As in Keras, the running totals are
kept in float32, so the numbers match ``tf.keras`` metric objects fed the same
batches.

``get`` resolves what ``model.compile(metrics=[...])`` accepts, including
Keras's shape-based choice for ``'accuracy'``/``'acc'``.
"""
from __future__ import annotations

import abc
import inspect

import numpy

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

_ACCUMULATOR = "float32"


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


# ---------------------------------------------------------------------------
# Stateful metrics
# ---------------------------------------------------------------------------


class Metric(abc.ABC):
    """Base of every metric: running state updated batch by batch.

    Subclasses define ``update_state``, ``result`` and ``reset_state``.

    Args:
        name: the name shown in training logs; by default the snake-case class name.
        dtype: float type of the result (float32 by default, as Keras).
    """

    _direction = None  # "up" or "down" where it is known whether larger is better (EarlyStopping)

    def __init__(self, name=None, dtype=None):
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self.dtype = numpy.dtype(dtype or _ACCUMULATOR).name

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
        return f"<{type(self).__name__} name={self.name!r} result={self.result():.6g}>"


def _reduce_to_samplewise(values, sample_weight, dtype):
    """Per-sample values (and weights), reduced the way Keras's Mean metric does.

    Weights are lined up with the values; values with more axes than the
    weights are averaged down to the weights' rank; finally every axis after
    the first is averaged away.
    """
    values = backend.xp.asarray(values).astype(dtype)
    if sample_weight is not None:
        sample_weight = backend.to_array(sample_weight, dtype, where="Mean (sample_weight)")
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim, values_ndim = sample_weight.ndim, values.ndim
        if values_ndim > weight_ndim:
            values = backend.xp.mean(values, axis=tuple(range(weight_ndim, values_ndim)))
        try:
            sample_weight = backend.xp.broadcast_to(sample_weight, values.shape)
        except ValueError:
            raise ValueError(
                f"Mean: sample_weight of shape {sample_weight.shape} does not fit "
                f"values of shape {values.shape}."
            ) from None
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = backend.xp.mean(sample_weight, axis=tuple(range(1, weight_ndim)))
    if values.ndim > 1:
        values = backend.xp.mean(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Mean(Metric):
    """The (weighted) mean of every value seen: ``total / count``.

    Args:
        name: the metric's name.
        dtype: float type of the running total and count (float32).
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
            # float32 arithmetic without its array work.
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
    )
}
# Whether a larger value is better, for EarlyStopping(mode="auto") (Keras's `_direction`).
for _cls in (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
             TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy):
    _cls._direction = "up"
for _cls in (MeanAbsoluteError, MeanSquaredError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
             BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, KLDivergence, Hinge):
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
            return _NAMES[identifier](name=identifier)
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


def deserialize(config):
    """A Metric from :func:`serialize`'s dict, or from a name as :func:`get`."""
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or config.get("class_name") not in _CLASSES:
        raise ValueError(
            "metrics.deserialize: expected {'class_name': one of "
            f"{sorted(_CLASSES)}, 'config': {{...}}}}. Received: {config!r}"
        )
    return _CLASSES[config["class_name"]].from_config(dict(config.get("config", {})))
