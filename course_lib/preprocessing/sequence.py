"""Sequence utilities: padding ragged sequences, and windows over a time series.

``pad_sequences`` is Keras's (``keras.utils.pad_sequences`` in Keras 3,
``keras.preprocessing.sequence.pad_sequences`` in Keras 2) with the same
results; ``timeseries_batches`` is the windowed generator of the temperature
forecasting example in *Deep Learning with Python* (chapter 6), with
``timeseries_steps`` to count its batches.

Both work on the host, in NumPy, whatever the array backend: they prepare data
before it reaches a model, as Keras's own utilities do.
"""
import math
import numbers

import numpy

from course_lib import backend

__all__ = ["pad_sequences", "timeseries_batches", "timeseries_steps"]


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pad (and truncate) a list of sequences to one length: Keras's ``pad_sequences``.

    Sequences shorter than the length are filled with ``value``; longer ones
    lose values at the start (``truncating="pre"``) or at the end (``"post"``).
    Empty sequences become rows of ``value`` only. The elements of a sequence
    may themselves be arrays (the *sample shape*, taken from the first
    non-empty sequence); every sequence must then have the same sample shape.

    >>> pad_sequences([[1], [2, 3], [4, 5, 6]])
    array([[0, 0, 1],
           [0, 2, 3],
           [4, 5, 6]], dtype=int32)
    >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2, padding="post")
    array([[1, 0],
           [2, 3],
           [5, 6]], dtype=int32)

    The values are cast to ``dtype`` as NumPy casts them: a float ``value`` or
    float elements with an integer dtype are truncated toward zero
    (``value=0.5`` pads with 0). Strings need ``dtype=object`` (any length) or
    a NumPy string dtype such as ``"U10"``, which cuts longer strings as NumPy does.

    One deliberate difference from Keras: ``maxlen=0`` gives rows of length 0
    for every ``truncating``. (Keras's ``truncating="pre"`` slices ``s[-0:]``,
    which is the whole sequence, and then fails to fit it in zero columns.)

    Args:
        sequences: a list (or anything with a length) of sequences: lists,
            tuples or arrays of numbers, strings or equally shaped arrays.
        maxlen: the length of the output rows; the longest sequence's length when None.
        dtype: the output's dtype; ``object`` for strings of any length.
        padding: ``"pre"`` or ``"post"``: where the padding goes.
        truncating: ``"pre"`` or ``"post"``: which end of a long sequence is cut.
        value: the padding value (a number, or a string with a string/object dtype).

    Returns:
        A NumPy array of shape ``(len(sequences), maxlen) + sample_shape``.

    Raises:
        ValueError: for a non-sequence, a bad ``maxlen``/``padding``/``truncating``,
            a string ``value`` with a non-string dtype, or mismatched sample shapes.
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError(
            "pad_sequences: `sequences` must be a list of sequences (something with a length). "
            f"Received: {type(sequences).__name__} {sequences!r:.80}"
        )
    if maxlen is not None and (not _is_int(maxlen) or maxlen < 0):
        raise ValueError(f"pad_sequences: maxlen must be None or a non-negative int. Received: maxlen={maxlen!r}")
    for name, given in (("padding", padding), ("truncating", truncating)):
        if given not in ("pre", "post"):
            raise ValueError(f"pad_sequences: {name} must be 'pre' or 'post'. Received: {name}={given!r}")
    try:
        dtype_kind = numpy.dtype(dtype).kind
    except TypeError as error:
        raise TypeError(f"pad_sequences: dtype must be a NumPy dtype. Received: dtype={dtype!r}") from error
    if isinstance(value, str) and dtype_kind not in "OUS":
        raise ValueError(
            f"pad_sequences: a string value needs dtype=object (or a NumPy string dtype). "
            f"Received: value={value!r} with dtype={dtype!r}"
        )

    lengths = []
    sample_shape = None  # the first non-empty sequence's, checked against the others below
    for position, sequence in enumerate(sequences):
        try:
            lengths.append(len(sequence))
        except TypeError as error:
            raise ValueError(
                "pad_sequences: `sequences` must be a list of sequences (each with a length). "
                f"Received: {sequence!r:.80} at position {position}"
            ) from error
        if lengths[-1] and sample_shape is None:
            sample_shape = numpy.asarray(sequence).shape[1:]
    sample_shape = sample_shape or ()
    if maxlen is None:
        if not lengths:
            raise ValueError("pad_sequences: cannot infer maxlen from an empty list of sequences; pass maxlen.")
        maxlen = max(lengths)

    try:
        padded = numpy.full((len(lengths), maxlen) + sample_shape, value, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as error:
        raise type(error)(
            f"pad_sequences: value={value!r} cannot be stored in dtype={dtype!r}: {error}"
        ) from error
    if maxlen == 0:
        return padded
    for position, sequence in enumerate(sequences):
        if not lengths[position]:
            continue
        kept = sequence[-maxlen:] if truncating == "pre" else sequence[:maxlen]
        kept = numpy.asarray(kept, dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise ValueError(
                f"pad_sequences: the sequence at position {position} has samples of shape {kept.shape[1:]}, "
                f"but the first non-empty sequence's samples have shape {sample_shape}"
            )
        if padding == "post":
            padded[position, :len(kept)] = kept
        else:
            padded[position, -len(kept):] = kept
    return padded


def _window_bounds(where, data, lookback, delay, min_index, max_index, batch_size, step, target_column):
    """Validate the windowing arguments; return ``(data as an array, first row, end row)``."""
    data = numpy.asarray(data)
    if data.ndim != 2 or data.dtype.kind not in "biuf":
        raise ValueError(
            f"{where}: data must be a numeric 2-D array of shape (rows, features). "
            f"Received: an array of dtype {data.dtype} and shape {data.shape}"
        )
    for name, given, minimum in (("lookback", lookback, 1), ("delay", delay, 0), ("batch_size", batch_size, 1),
                                 ("step", step, 1), ("min_index", min_index, 0)):
        if not _is_int(given) or given < minimum:
            kind = "a positive int" if minimum == 1 else "a non-negative int"
            raise ValueError(f"{where}: {name} must be {kind}. Received: {name}={given!r}")
    if step > lookback:
        raise ValueError(
            f"{where}: step must be at most lookback, or a window holds no rows. "
            f"Received: step={step}, lookback={lookback}"
        )
    if max_index is None:
        max_index = len(data)
    elif not _is_int(max_index) or not 0 < max_index <= len(data):
        raise ValueError(
            f"{where}: max_index must be None or an int in [1, len(data)={len(data)}]. "
            f"Received: max_index={max_index!r}"
        )
    if not _is_int(target_column) or not -data.shape[1] <= target_column < data.shape[1]:
        raise ValueError(
            f"{where}: target_column must be an int index of one of the {data.shape[1]} columns. "
            f"Received: target_column={target_column!r}"
        )
    first, end = min_index + lookback, max_index - delay
    if first >= end:
        raise ValueError(
            f"{where}: the window does not fit: a target row must lie in [min_index + lookback, max_index - delay) "
            f"= [{first}, {end}), which is empty. Received: min_index={min_index}, max_index={max_index}, "
            f"lookback={lookback}, delay={delay}"
        )
    return data, first, end


def timeseries_batches(data, lookback, delay, min_index=0, max_index=None, shuffle=False, batch_size=128,
                       step=6, target_column=1, seed=None):
    """An endless generator of ``(samples, targets)`` windows over a time series.

    The generator of *Deep Learning with Python*'s temperature forecast. Each
    sample ends at a row ``i`` and looks back ``lookback`` rows, keeping every
    ``step``-th row; its target is the value ``delay`` rows later::

        samples[b] = data[i - (lookback // step) * step : i : step]   # lookback // step rows
        targets[b] = data[i + delay, target_column]

    The rows ``i`` range over ``[min_index + lookback, max_index - delay)``, so
    a window and its target stay inside ``data[min_index:max_index]`` (the book
    lets targets run ``delay`` rows past ``max_index``; here a training range
    never peeks into the validation rows after it). With ``shuffle=True`` each
    batch draws ``batch_size`` rows at random (with replacement); otherwise
    the batches walk the rows in order, the last one of a pass may be shorter,
    and the walk then starts again from the first row: a pass takes
    :func:`timeseries_steps` batches, the ``steps_per_epoch`` or
    ``validation_steps`` to give ``fit``.

    Args:
        data: a 2-D array ``(rows, features)``, e.g. normalised weather measurements.
        lookback: how many rows back a sample reaches.
        delay: how many rows after the sample's last row its target lies.
        min_index, max_index: the rows ``data[min_index:max_index]`` the
            generator may use (``max_index=None`` means ``len(data)``).
        shuffle: draw rows at random instead of in order.
        batch_size: samples per batch.
        step: keep one row in ``step`` (6 on 10-minute data gives hourly rows).
        target_column: the column whose future value is the target.
        seed: seed of the random draws; None draws from course_lib's shared
            generator (seeded by ``keras.utils.set_random_seed``).

    Yields:
        ``(samples, targets)``: ``samples`` of shape ``(batch, lookback // step, features)``
        and ``targets`` of shape ``(batch,)``, both of ``data``'s dtype.

    Raises:
        ValueError: at the call (not at the first ``next``) for a bad argument
            or a window that does not fit between ``min_index`` and ``max_index``.
    """
    data, first, end = _window_bounds("timeseries_batches", data, lookback, delay, min_index, max_index,
                                      batch_size, step, target_column)
    offsets = step * numpy.arange(-(lookback // step), 0)
    generator = backend.rng(seed) if shuffle else None
    return _batches(data, first, end, shuffle, batch_size, offsets, delay, target_column, generator)


def _batches(data, first, end, shuffle, batch_size, offsets, delay, target_column, generator):
    row = first
    while True:
        if shuffle:
            rows = generator.integers(first, end, size=batch_size)
        else:
            rows = numpy.arange(row, min(row + batch_size, end))
            row = first if rows[-1] + 1 >= end else rows[-1] + 1
        yield data[rows[:, None] + offsets], data[rows + delay, target_column]


def timeseries_steps(data, lookback, delay, min_index=0, max_index=None, batch_size=128):
    """How many batches of :func:`timeseries_batches` (in order) visit each row once.

    That is ``ceil(rows / batch_size)`` with ``rows = (max_index - delay) - (min_index + lookback)``:
    the ``steps_per_epoch`` or ``validation_steps`` to pass to ``fit`` with
    ``shuffle=False`` generators. (The book's ``(max_index - min_index - lookback) // batch_size``
    drops the last, shorter batch.)

    Args:
        data, lookback, delay, min_index, max_index, batch_size: as for :func:`timeseries_batches`.

    Returns:
        The number of batches, an int.
    """
    _, first, end = _window_bounds("timeseries_steps", data, lookback, delay, min_index, max_index,
                                   batch_size, 1, 0)
    return math.ceil((end - first) / batch_size)
