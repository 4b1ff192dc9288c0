"""CIFAR-100 (32x32 colour photos, 100 classes in 20 superclasses): Keras's ``keras.datasets.cifar100``.

Read from the pickled ``train`` and ``test`` files that Keras's
``cifar100.load_data()`` caches in ``$KERAS_HOME/datasets``
(``~/.keras/datasets`` without ``KERAS_HOME``): the folder
``cifar-100-python-target/cifar-100-python/`` that Keras 3 extracts, else
Keras 3's archive ``cifar-100-python-target_archive``, else Keras 2's folder
``cifar-100-python/``. course_lib downloads nothing and ships no stand-in:
without the files :func:`load_data` raises a ``FileNotFoundError`` that says
where they are expected.
"""
import numpy

from course_lib import config
from course_lib.datasets._cifar import images, read_batches

INNER_FOLDER = "cifar-100-python"
"""The archive's folder of batches."""
BATCHES = ("train", "test")
LABEL_MODES = ("fine", "coarse")


def load_data(label_mode="fine"):
    """Load CIFAR-100 exactly as ``keras.datasets.cifar100.load_data`` does.

    Args:
        label_mode: ``"fine"`` (the 100 classes) or ``"coarse"`` (the 20 superclasses).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x_*`` uint8 arrays of shape
        ``(samples, 32, 32, 3)`` (``(samples, 3, 32, 32)`` when
        ``config.image_data_format()`` is ``"channels_first"``), 50,000 and
        10,000 in Keras's files; ``y_*`` int64 arrays of shape ``(samples, 1)``
        (Keras leaves them in NumPy's default integer type, unlike CIFAR-10's uint8).

    Raises:
        ValueError: an unknown ``label_mode`` (checked before any file is looked for).
        FileNotFoundError: no cached copy of the files.
    """
    if label_mode not in LABEL_MODES:
        raise ValueError(
            f"cifar100.load_data: label_mode must be one of 'fine', 'coarse'. Received: label_mode={label_mode!r}"
        )
    train, test = read_batches("cifar100.load_data", INNER_FOLDER, BATCHES, "keras.datasets.cifar100.load_data()")
    key = f"{label_mode}_labels"
    x_train, y_train = images(train), train[key]
    x_test, y_test = images(test), test[key]
    y_train = numpy.reshape(y_train, (len(y_train), 1))
    y_test = numpy.reshape(y_test, (len(y_test), 1))
    if config.image_data_format() == "channels_last":
        x_train = x_train.transpose(0, 2, 3, 1)
        x_test = x_test.transpose(0, 2, 3, 1)
    return (x_train, y_train), (x_test, y_test)
