"""What the two housing loaders share: the argument checks and Keras's seeded split of ``x`` and ``y``."""
import numbers
import os

import numpy

from course_lib.datasets.keras_cache import cached, missing, read_npz


def check(where, test_split, seed):
    """Keras's ``0 <= test_split < 1``, and an int ``seed``."""
    if isinstance(test_split, bool) or not isinstance(test_split, numbers.Real) or not 0 <= test_split < 1:
        raise ValueError(
            f"{where}: test_split must be a number from 0 to 1 (1 excluded). Received: test_split={test_split!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"{where}: seed must be an int. Received: seed={seed!r}")


def read(where, path, name, keras_loader):
    """``(x, y)`` of Keras's ``.npz`` file ``path`` in the cache folder (read without pickle, as Keras does)."""
    location = cached(path)
    if not os.path.exists(location):
        raise missing(where, location, keras_loader)
    arrays = read_npz(location, where, ("x", "y"), name, allow_objects=False)
    return arrays["x"], arrays["y"]


def split(x, y, test_split, seed):
    """Keras's split: shuffle by ``numpy.random.RandomState(seed)``, the first ``int(n * (1 - test_split))`` train."""
    order = numpy.arange(len(x))
    numpy.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (numpy.array(x[:cut]), numpy.array(y[:cut])), (numpy.array(x[cut:]), numpy.array(y[cut:]))
