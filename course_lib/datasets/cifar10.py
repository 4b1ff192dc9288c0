"""CIFAR-10 (32x32 colour photos, 10 classes): Keras's ``keras.datasets.cifar10``.

Read from the pickled batches that Keras's ``cifar10.load_data()`` caches in
``$KERAS_HOME/datasets`` (``~/.keras/datasets`` without ``KERAS_HOME``):
the folder ``cifar-10-batches-py-target/cifar-10-batches-py/`` that Keras 3
extracts, else Keras 3's archive ``cifar-10-batches-py-target_archive``, else
Keras 2's folder ``cifar-10-batches-py/``. course_lib downloads nothing and
ships no stand-in: without the batches :func:`load_data` raises a
``FileNotFoundError`` that says where they are expected.
"""
import numpy

from course_lib import config
from course_lib.datasets._cifar import images, read_batches

INNER_FOLDER = "cifar-10-batches-py"
"""The archive's folder of batches."""
BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
"""The five training batches, then the test batch."""
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
"""The label of each class index, from Keras's documentation."""


def load_data():
    """Load CIFAR-10 exactly as ``keras.datasets.cifar10.load_data`` does.

    The five training batches are put one after the other (10,000 images each
    in Keras's files; course_lib also accepts batches of other sizes, which
    Keras's fixed 50,000 does not), then the test batch is read; every pickle
    goes through an unpickler that rebuilds NumPy arrays and nothing else.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x_*`` uint8 arrays of shape
        ``(samples, 32, 32, 3)`` (``(samples, 3, 32, 32)`` when
        ``config.image_data_format()`` is ``"channels_first"``), ``y_*`` uint8
        arrays of shape ``(samples, 1)`` with labels 0-9 (see :data:`CLASS_NAMES`).

    Raises:
        FileNotFoundError: no cached copy of the batches.
    """
    batches = read_batches("cifar10.load_data", INNER_FOLDER, BATCHES, "keras.datasets.cifar10.load_data()")
    training, test = batches[:5], batches[5]
    total = sum(len(batch["labels"]) for batch in training)
    x_train = numpy.empty((total, 3, 32, 32), dtype="uint8")
    y_train = numpy.empty((total,), dtype="uint8")
    start = 0
    for batch in training:
        stop = start + len(batch["labels"])
        x_train[start:stop], y_train[start:stop] = images(batch), batch["labels"]
        start = stop
    x_test, y_test = images(test), test["labels"]
    y_train = numpy.reshape(y_train, (len(y_train), 1))
    y_test = numpy.reshape(y_test, (len(y_test), 1))
    if config.image_data_format() == "channels_last":
        x_train = x_train.transpose(0, 2, 3, 1)
        x_test = x_test.transpose(0, 2, 3, 1)
    return (x_train, y_train), (x_test.astype(x_train.dtype), y_test.astype(y_train.dtype))
