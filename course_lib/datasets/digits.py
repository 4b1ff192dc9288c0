"""The 8x8 handwritten digits that scikit-learn ships (1797 images, 10 classes)."""
import numbers

import numpy


def load_data(test_split=0.2, seed=0):
    """Load scikit-learn's bundled digits, split into train and test sets.

    No network is needed: the data file is part of the scikit-learn package.
    The split is a seeded shuffle, so the same ``(test_split, seed)`` always
    gives the same arrays.

    Args:
        test_split: fraction of the 1797 images put in the test set, in (0, 1).
        seed: integer seed of the shuffle.

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` where ``x_*`` is float32 of
        shape ``(samples, 64)`` with pixels scaled to [0, 1] and ``y_*`` is
        int64 of shape ``(samples,)`` with labels 0-9.
    """
    if isinstance(test_split, bool) or not isinstance(test_split, numbers.Real) \
            or not 0 < test_split < 1:
        raise ValueError(
            f"digits.load_data: test_split must be a number strictly between 0 and 1. "
            f"Received: test_split={test_split!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"digits.load_data: seed must be an int. Received: seed={seed!r}")
    # Imported here so that importing course_lib does not pay for scikit-learn.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel intensities in this data set are integers from 0 to 16.
    images = (bunch.data / 16.0).astype("float32")
    labels = bunch.target.astype("int64")
    order = numpy.random.default_rng(seed).permutation(len(labels))
    test_count = int(round(len(labels) * test_split))
    if test_count == 0 or test_count == len(labels):
        raise ValueError(
            f"digits.load_data: test_split={test_split!r} leaves an empty train or test set "
            f"out of {len(labels)} images"
        )
    test_index, train_index = order[:test_count], order[test_count:]
    return (images[train_index], labels[train_index]), (images[test_index], labels[test_index])
