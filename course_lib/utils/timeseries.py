"""``timeseries_dataset_from_array``: Keras 3's sliding windows over a series, as a course_lib PyDataset.

Keras returns a ``tf.data.Dataset``; course_lib returns a
:class:`TimeseriesDataset`, a :class:`~course_lib.utils.dataset_ops.Dataset` (a PyDataset with the
tf.data methods tutorials call: ``take``, ``map``, ``cache``...) of
``(windows, targets)`` batches (``windows`` alone when ``targets`` is None)
that ``fit``, ``evaluate`` and ``predict`` accept. What is the same as Keras:

* the windows: window ``k`` starts at ``start_index + k * sequence_stride``
  and takes ``sequence_length`` steps ``sampling_rate`` apart, all before
  ``end_index``; its target is ``targets[start_index + k * sequence_stride]``;
  there are ``min(end_index - start_index - (sequence_length - 1) *
  sampling_rate, len(targets))`` possible starts, every ``sequence_stride``-th
  one is used; the batches have Keras's shapes and the data's dtypes;
* ``shuffle``: the window starts are shuffled by
  ``numpy.random.RandomState(seed)`` exactly as Keras shuffles them;
* the argument checks and their order (Keras's messages, naming this function).

What differs: after that first shuffle TensorFlow shuffles the windows again
through a buffer of ``8 * batch_size`` (1024 without batches), on its own
random stream and anew every epoch; here the first epoch keeps Keras's
shuffled order of the starts, and every later one is a full shuffle drawn
from the seed. So with ``shuffle=True`` the SET of windows (with their
targets) is Keras's, their order is not. Without shuffling every batch is
Keras's, exactly. Targets too short for the windows' starts are refused here
(TensorFlow fails later, while iterating), as is a ``sequence_length`` below 1.

The windows are strided views of the series (no copy, no loop over windows);
each batch gathers its windows with one indexing operation.
"""
import math
import numbers

import numpy

from course_lib import backend
from course_lib.utils.dataset_ops import Dataset

__all__ = ["TimeseriesDataset", "timeseries_dataset_from_array"]

_WHERE = "timeseries_dataset_from_array"


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class TimeseriesDataset(Dataset):
    """Batches of windows over a series: what :func:`timeseries_dataset_from_array` returns.

    ``dataset[i]`` is batch ``i`` of the current epoch's order:
    ``(windows, targets)``, or ``windows`` without targets; ``windows`` has the
    shape ``(batch, sequence_length) + data.shape[1:]``. With
    ``batch_size=None`` it is one window instead. ``on_epoch_end``
    reshuffles when ``shuffle``.

    Attributes:
        start_positions: where each window starts, relative to ``start_index``
            (in Keras's order: shuffled by the seed when ``shuffle``).
        sequence_length, sampling_rate, batch_size, shuffle.
    """

    def __init__(self, data, targets, start_positions, sequence_length, sampling_rate, batch_size, shuffle, random,
                 **kwargs):
        super().__init__(**kwargs)
        self.start_positions = start_positions
        self.sequence_length = sequence_length
        self.sampling_rate = sampling_rate
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._random = random
        self._count = len(start_positions)
        self._starts = backend.xp.asarray(start_positions)
        self.order = backend.xp.arange(self._count)
        self._targets = targets
        self._windows = None
        if self._count:
            span = (sequence_length - 1) * sampling_rate + 1
            # Every window of `span` steps as a view (window axis last), then every sampling_rate-th step: no copy.
            self._windows = backend.sliding_window_view(data, span, axis=0)[..., ::sampling_rate]

    def __len__(self):
        if self.batch_size is None:
            return self._count
        return math.ceil(self._count / self.batch_size)

    def on_epoch_end(self):
        """A new order of the windows for the next epoch (when ``shuffle``)."""
        if self.shuffle:
            self.order = backend.xp.asarray(self._random.permutation(self._count))

    def __getitem__(self, index):
        if not _is_int(index) or not 0 <= index < len(self):
            raise IndexError(f"TimeseriesDataset: index must be an int from 0 to {len(self) - 1}. Received: {index!r}")
        size = 1 if self.batch_size is None else self.batch_size
        starts = self._starts[self.order[index * size:(index + 1) * size]]
        # (batch, features..., sequence_length) -> (batch, sequence_length, features...), one copy.
        windows = backend.xp.ascontiguousarray(backend.xp.moveaxis(self._windows[starts], -1, 1))
        targets = None if self._targets is None else self._targets[starts]
        if self.batch_size is None:
            windows, targets = windows[0], None if targets is None else targets[0]
        return windows if targets is None else (windows, targets)


def _check_arguments(data, sequence_length, sequence_stride, sampling_rate, batch_size, start_index, end_index,
                     format):
    # Keras's checks, in Keras's order (including its `if start_index:` tests, which let 0 through).
    for name, value in (("start_index", start_index), ("end_index", end_index)):
        if value is not None and not _is_int(value):
            raise TypeError(f"{_WHERE}: {name} must be None or an int. Received: {name}={value!r}")
    length = len(data)
    if start_index:
        if start_index < 0:
            raise ValueError(f"{_WHERE}: start_index must be 0 or greater. Received: start_index={start_index}")
        if start_index >= length:
            raise ValueError(
                f"{_WHERE}: start_index must be lower than the length of the data. Received: "
                f"start_index={start_index}, for data of length {length}"
            )
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(
                f"{_WHERE}: end_index must be higher than start_index. Received: start_index={start_index}, "
                f"and end_index={end_index}"
            )
        if end_index >= length:
            raise ValueError(
                f"{_WHERE}: end_index must be lower than the length of the data. Received: "
                f"end_index={end_index}, for data of length {length}"
            )
        if end_index <= 0:
            raise ValueError(f"{_WHERE}: end_index must be higher than 0. Received: end_index={end_index}")
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if not _is_int(value):
            raise TypeError(f"{_WHERE}: {name} must be an int. Received: {name}={value!r}")
        if value <= 0:
            raise ValueError(f"{_WHERE}: {name} must be higher than 0. Received: {name}={value}")
        if value >= length:
            raise ValueError(
                f"{_WHERE}: {name} must be lower than the length of the data. Received: {name}={value}, "
                f"for data of length {length}"
            )
    if format not in ("tf", "grain"):
        raise ValueError(f"{_WHERE}: format must be 'tf' or 'grain'. Received: format={format!r}")
    if not _is_int(sequence_length) or sequence_length < 1:
        raise ValueError(f"{_WHERE}: sequence_length must be a positive int. Received: sequence_length={sequence_length!r}")
    if batch_size is not None and (not _is_int(batch_size) or batch_size < 1):
        raise ValueError(f"{_WHERE}: batch_size must be None or a positive int. Received: batch_size={batch_size!r}")


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1, batch_size=128,
                                  shuffle=False, seed=None, start_index=None, end_index=None, format="tf"):
    """A dataset of sliding windows over a series (time on axis 0), with their targets: Keras's function.

    Example: ``timeseries_dataset_from_array(series[:-10], series[10:], sequence_length=10)``
    pairs every 10 steps of ``series`` with the step that follows them.

    Args:
        data: the series, an array whose axis 0 is time.
        targets: ``targets[i]`` is the target of the window that starts at
            ``data[i]``; None for windows alone.
        sequence_length: steps per window.
        sequence_stride: steps between the starts of two windows.
        sampling_rate: steps between two samples inside a window.
        batch_size: windows per batch (the last batch may be smaller), or None
            for one window at a time.
        shuffle: shuffle the windows (by ``seed``), anew every epoch; else in time order.
        seed: the shuffling seed (drawn from course_lib's generator when None).
        start_index: the first step windows may use (None: 0).
        end_index: steps from this one on are never used (None: the end).
        format: ``"tf"`` or ``"grain"``, accepted as Keras accepts them; course_lib
            returns the same :class:`TimeseriesDataset` for both.

    Returns:
        A :class:`TimeseriesDataset`.
    """
    if not hasattr(data, "__len__"):
        raise TypeError(f"{_WHERE}: data must be an array (time on axis 0). Received: {type(data).__name__}")
    _check_arguments(data, sequence_length, sequence_stride, sampling_rate, batch_size, start_index, end_index, format)
    start = 0 if start_index is None else start_index
    end = len(data) if end_index is None else end_index
    series = backend.xp.asarray(data)[start:end]
    count = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        if not hasattr(targets, "__len__"):
            raise TypeError(f"{_WHERE}: targets must be an array or None. Received: {type(targets).__name__}")
        target_count = len(targets)
        count = min(count, target_count)
        targets = backend.xp.asarray(targets)[start:end]
    # Host index arithmetic: Keras's start positions and Keras's shuffle of them (its NumPy RandomState).
    positions = numpy.arange(0, max(count, 0), sequence_stride, dtype="int64")
    if shuffle and seed is None:
        seed = int(backend.rng().integers(10 ** 6))  # Keras draws one too; here from course_lib's generator
    random = numpy.random.RandomState(seed) if shuffle else None
    if shuffle:
        random.shuffle(positions)
    if targets is not None and len(positions) and int(positions.max()) >= len(targets):
        raise ValueError(
            f"{_WHERE}: targets is too short for the windows: the window starting at step "
            f"{start + int(positions.max())} has no target (targets has {target_count} entries). Received: "
            f"start_index={start_index}, end_index={end_index}"
        )
    return TimeseriesDataset(series, targets, positions, sequence_length, sampling_rate, batch_size, shuffle, random)
