"""``PyDataset``: a dataset written in Python, one batch per ``__getitem__`` (Keras's ``keras.utils.PyDataset``).

A PyDataset knows how many batches it has (``__len__``, or a ``num_batches``
property that may be None for an endless dataset) and builds batch ``index``
on request. Because fit asks for batches by index, it can visit each batch
exactly once per epoch and shuffle their order, which a Python generator
cannot do.

How fit/evaluate/predict use one (Keras's rules, matched by course_lib.training):

* a batch is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (a tuple
  or a list), or a dict of inputs;
* ``fit(shuffle=True)`` shuffles the ORDER of the batches at every new pass over
  the dataset, never the samples inside a batch; evaluate and predict never shuffle;
* ``on_epoch_begin()`` runs before each pass and ``on_epoch_end()`` after it; fit and
  evaluate also call ``on_epoch_end()`` once before they start (Keras resets the
  dataset that way), so ``fit(epochs=3)`` calls it 4 times, ``evaluate`` twice,
  ``predict`` once, and each validation run during fit twice;
* with ``steps_per_epoch`` smaller than the number of batches, the next epoch
  carries on where the last one stopped.
"""
import concurrent.futures
import itertools
import warnings

_SUPER_NOT_CALLED = (
    "Your `PyDataset` class should call `super().__init__(**kwargs)` in its constructor. "
    "`**kwargs` can include `workers`, `use_multiprocessing`, `max_queue_size`. Do not pass "
    "these arguments to `fit()`, as they will be ignored."
)


_DEFAULTS = {"workers": 1, "use_multiprocessing": False, "max_queue_size": 10}  # as PyDataset.__init__'s


def _setting(name, doc):
    """A property over ``self._<name>`` whose getter warns, as Keras's, if super().__init__ was skipped."""

    def get(self):
        self._warn_if_super_not_called()
        return getattr(self, f"_{name}")

    def set(self, value):
        setattr(self, f"_{name}", value)

    return property(get, set, doc=doc)


class PyDataset:
    """Base class for a dataset that builds its batches in Python code.

    A subclass implements ``__getitem__(index)`` (returning a whole batch) and
    ``__len__()`` (the number of batches, not of samples), or instead of
    ``__len__`` a ``num_batches`` property that returns None for an endless
    dataset. It may also implement ``on_epoch_begin`` / ``on_epoch_end``, for
    instance to reshuffle its samples between epochs. Its ``__init__`` must
    call ``super().__init__(**kwargs)``.

    Args:
        workers: how many threads load batches ahead of the training step. With
            1 (the default) batches are loaded in the main thread, one at a time.
        use_multiprocessing: accepted for Keras compatibility. Keras then loads
            batches in forked processes; course_lib never forks and uses threads
            (``workers`` of them, at least one besides the main thread) instead.
        max_queue_size: at most this many batches are loaded ahead (with workers).

    Example:

        class Batches(course_lib.utils.PyDataset):
            def __init__(self, x, y, batch_size, **kwargs):
                super().__init__(**kwargs)
                self.x, self.y, self.batch_size = x, y, batch_size

            def __len__(self):
                return math.ceil(len(self.x) / self.batch_size)

            def __getitem__(self, index):
                part = slice(index * self.batch_size, (index + 1) * self.batch_size)
                return self.x[part], self.y[part]
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        # As Keras: a subclass that forgot super().__init__ gets the defaults and a warning.
        missing = [name for name in _DEFAULTS if not hasattr(self, f"_{name}")]
        if missing:
            for name in missing:
                setattr(self, f"_{name}", _DEFAULTS[name])
            warnings.warn(_SUPER_NOT_CALLED, stacklevel=3)

    workers = _setting("workers", "Number of threads loading batches (1: the main thread only).")
    use_multiprocessing = _setting(
        "use_multiprocessing", "Accepted as in Keras; course_lib loads batches in threads either way."
    )
    max_queue_size = _setting("max_queue_size", "At most this many batches are loaded ahead by the worker threads.")

    def __getitem__(self, index):
        """The batch at position ``index`` (from 0 to ``num_batches - 1``).

        Returns:
            ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``, or a dict of inputs.
        """
        raise TypeError(
            f"{type(self).__name__} must implement __getitem__(index), returning the batch at "
            f"position index. Received a request for batch {index!r}."
        )

    def __iter__(self):
        """Every batch in order (endlessly when ``num_batches`` is None); no worker threads."""
        endless = type(self).num_batches is PyDataset.num_batches and not hasattr(self, "__len__")
        count = None if endless else self.num_batches
        for index in itertools.count() if count is None else range(count):
            yield self[index]

    @property
    def num_batches(self):
        """Number of batches, or None for an endless dataset; ``len(self)`` unless overridden."""
        if hasattr(self, "__len__"):
            return len(self)
        raise TypeError(
            f"{type(self).__name__} must implement __len__() or the num_batches property "
            "(returning None for an endless dataset)."
        )

    def on_epoch_begin(self):
        """Called at the start of every pass over the dataset."""

    def on_epoch_end(self):
        """Called at the end of every pass over the dataset (and once before fit/evaluate start)."""


def load_batches(dataset, indices, where):
    """Yield ``(index, dataset[index])`` for each index, with the dataset's worker threads if any.

    With ``workers > 1`` (or ``use_multiprocessing``) up to ``max_queue_size``
    batches are requested ahead in a thread pool; they still come back in the
    order of ``indices``. Every request of this call finishes before the
    generator ends (or is closed), so ``on_epoch_end`` never runs while a
    worker is still inside ``__getitem__``.

    Args:
        dataset: a :class:`PyDataset`.
        indices: the batch positions to load, in order.
        where: the calling function's name, for error messages.
    """
    workers = dataset.workers
    threads = workers if workers > 1 else (1 if dataset.use_multiprocessing and workers > 0 else 0)
    if threads == 0:
        for index in indices:
            yield index, _get(dataset, index, where)
        return
    ahead = max(1, dataset.max_queue_size)
    pending = []
    indices = iter(indices)
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        try:
            for index in itertools.islice(indices, ahead):
                pending.append((index, pool.submit(_get, dataset, index, where)))
            while pending:
                index, future = pending.pop(0)
                following = next(indices, None)
                if following is not None:
                    pending.append((following, pool.submit(_get, dataset, following, where)))
                yield index, future.result()
        finally:
            for _, future in pending:
                future.cancel()


def _get(dataset, index, where):
    try:
        return dataset[index]
    except Exception as error:
        if hasattr(error, "add_note"):  # Python 3.11+: keep the user's exception, say where it came from
            error.add_note(f"{where}: raised by {type(dataset).__name__}.__getitem__({index}).")
        raise
