"""The ``tf.data.Dataset`` methods that Keras tutorials call on a loader's dataset.

Keras's ``timeseries_dataset_from_array``, ``image_dataset_from_directory`` and
``text_dataset_from_directory`` return a ``tf.data.Dataset``; course_lib's
return a :class:`Dataset`, a :class:`~course_lib.utils.PyDataset` of the same
batches. Tutorials then call a few of tf.data's methods on it, so a Dataset has
them, acting on its elements (the batches, or the samples when the loader was
asked for ``batch_size=None``) as tf.data's do:

- ``take(count)`` / ``skip(count)``: the first ``count`` elements / all but
  them (``count=-1``: all of them / none);
- ``map(map_func)``: ``map_func(*element)`` for a tuple element (tf.data
  unpacks tuples), ``map_func(element)`` otherwise, each time an element is read;
- ``cache()``: each element computed once, the first time it is read, and kept
  in memory (so a shuffled dataset keeps its first epoch's order, as tf.data's
  cache does);
- ``repeat(count=None)``: the elements ``count`` times over, endlessly with None;
- ``prefetch(buffer_size)``: the same elements (``fit`` loads ahead with the
  PyDataset's ``workers``);
- ``as_numpy_iterator()`` and ``for element in dataset``: every element once,
  as NumPy arrays;
- ``cardinality()``: the number of elements, ``-1`` when endless (tf.data's
  ``INFINITE_CARDINALITY``).

``fit`` keeps a Dataset's order, as Keras's fit keeps a ``tf.data.Dataset``'s
(its ``shuffle`` argument is for arrays): the loaders shuffle for themselves
when asked to. Other tf.data methods (``batch``, ``unbatch``, ``shuffle``,
``filter``...) raise an AttributeError that says which ones exist.
"""
import numbers

from course_lib import backend
from course_lib.utils.py_dataset import PyDataset

__all__ = ["Dataset"]

_METHODS = ("take", "skip", "map", "cache", "repeat", "prefetch", "as_numpy_iterator", "cardinality")
_TF_DATA_ONLY = ("batch", "unbatch", "shuffle", "filter", "flat_map", "interleave", "zip", "concatenate",
                 "padded_batch", "rebatch", "window", "enumerate", "reduce", "apply", "shard", "element_spec",
                 "with_options", "ignore_errors", "scan", "unique", "group_by_window", "bucket_by_sequence_length")


def _count(method, count, allow_none=False):
    if count is None and allow_none:
        return -1
    if not isinstance(count, numbers.Integral) or isinstance(count, bool) or count < -1:
        raise ValueError(f"Dataset.{method}: count must be an int >= -1 (-1: all). Received: count={count!r}")
    return int(count)


class Dataset(PyDataset):
    """A PyDataset that stands for the ``tf.data.Dataset`` a Keras loader returns: see the module's docstring.

    A subclass implements ``__getitem__`` and ``num_batches`` (or ``__len__``) as any PyDataset.
    """

    _keeps_order_in_fit = True  # read by fit: Keras's fit never reorders a tf.data.Dataset

    def take(self, count):
        """The first ``count`` elements (all of them with -1)."""
        return _Slice(self, 0, _count("take", count))

    def skip(self, count):
        """All elements but the first ``count`` (none with -1)."""
        count = _count("skip", count)
        return _Slice(self, None if count == -1 else count, -1)

    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None):
        """Each element through ``map_func`` (tuple elements unpacked into its arguments), when it is read."""
        if not callable(map_func):
            raise TypeError(f"Dataset.map: map_func must be callable. Received: {map_func!r}")
        return _Map(self, map_func)

    def cache(self, filename="", name=None):
        """The same elements, each computed once (the first time it is read) and then kept in memory."""
        if filename:
            raise ValueError(
                f"Dataset.cache: course_lib caches in memory only (filename=''). Received: filename={filename!r}")
        return _Cache(self)

    def repeat(self, count=None, name=None):
        """The elements ``count`` times over (endlessly with None or -1)."""
        return _Repeat(self, _count("repeat", count, allow_none=True))

    def prefetch(self, buffer_size, name=None):
        """The same dataset: ``fit`` already loads elements ahead with the PyDataset's ``workers``."""
        return self

    def cardinality(self):
        """The number of elements, or -1 for an endless dataset (tf.data's INFINITE_CARDINALITY)."""
        count = self.num_batches
        return -1 if count is None else count

    def as_numpy_iterator(self):
        """Every element once (endlessly for an endless dataset), its arrays as NumPy arrays."""
        for element in self:
            yield _to_numpy(element)

    def __getattr__(self, name):
        if name in _TF_DATA_ONLY:
            raise AttributeError(
                f"{type(self).__name__}.{name}: course_lib's datasets stand for Keras's tf.data.Dataset but have "
                f"only the tf.data methods {', '.join(_METHODS)}. Ask the loader for the batches you need "
                f"(batch_size, shuffle) or write a PyDataset."
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def _to_numpy(element):
    if isinstance(element, tuple):
        return tuple(_to_numpy(part) for part in element)
    if isinstance(element, list):
        return [_to_numpy(part) for part in element]
    if isinstance(element, dict):
        return {key: _to_numpy(value) for key, value in element.items()}
    if element is None or isinstance(element, (str, bytes, numbers.Number)):
        return element
    return backend.to_numpy(element)


class _Derived(Dataset):
    """A dataset made from another one; a new pass over it is a new pass over the source."""

    def __init__(self, source):
        super().__init__(workers=source.workers, use_multiprocessing=source.use_multiprocessing,
                         max_queue_size=source.max_queue_size)
        self.source = source

    def on_epoch_begin(self):
        self.source.on_epoch_begin()

    def on_epoch_end(self):
        self.source.on_epoch_end()

    def _check_index(self, index):
        count = self.num_batches
        if not isinstance(index, numbers.Integral) or isinstance(index, bool) or index < 0 \
                or (count is not None and index >= count):
            end = "" if count is None else f" to {count - 1}"
            raise IndexError(f"{type(self).__name__}: index must be an int from 0{end}. Received: {index!r}")


class _Slice(_Derived):
    """Elements ``start`` ... ``start + count - 1`` of the source (``start`` None: none; ``count`` -1: to the end)."""

    def __init__(self, source, start, count):
        super().__init__(source)
        self.start, self.count = start, count

    @property
    def num_batches(self):
        if self.start is None:
            return 0
        total = self.source.num_batches
        if total is None:
            return None if self.count == -1 else self.count
        rest = max(total - self.start, 0)
        return rest if self.count == -1 else min(self.count, rest)

    def __getitem__(self, index):
        self._check_index(index)
        return self.source[self.start + index]


class _Map(_Derived):
    def __init__(self, source, function):
        super().__init__(source)
        self.function = function

    @property
    def num_batches(self):
        return self.source.num_batches

    def __getitem__(self, index):
        self._check_index(index)
        element = self.source[index]
        return self.function(*element) if isinstance(element, tuple) else self.function(element)


class _Cache(_Derived):
    def __init__(self, source):
        super().__init__(source)
        self.kept = {}

    @property
    def num_batches(self):
        return self.source.num_batches

    def __getitem__(self, index):
        self._check_index(index)
        if index not in self.kept:
            self.kept[index] = self.source[index]
        return self.kept[index]


class _Repeat(_Derived):
    def __init__(self, source, count):
        super().__init__(source)
        self.count = count

    @property
    def num_batches(self):
        total = self.source.num_batches
        if total is None or self.count == -1:
            return None if total != 0 else 0
        return total * self.count

    def __getitem__(self, index):
        self._check_index(index)
        total = self.source.num_batches
        if total is None:
            return self.source[index]
        if index and index % total == 0:  # a new pass over the source, as tf.data's repeat makes one
            self.source.on_epoch_end()
        return self.source[index % total]
