"""Zalando's Fashion-MNIST (28x28 grey photos of clothes, 10 classes): Keras's ``keras.datasets.fashion_mnist``.

Read from the four gzip files that Keras's ``fashion_mnist.load_data()`` caches in
``$KERAS_HOME/datasets/fashion-mnist/`` (``~/.keras/datasets/fashion-mnist/``
without ``KERAS_HOME``), parsed as Keras parses them. course_lib downloads
nothing and ships no stand-in: without the files :func:`load_data` raises a
``FileNotFoundError`` that says where they are expected.
"""
import gzip
import os

import numpy

from course_lib.datasets.keras_cache import cached, missing

SUBDIR = "fashion-mnist"
"""The sub-folder of the datasets folder that Keras's ``get_file`` uses (its ``cache_subdir``)."""
FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
"""The IDX files, in the order Keras reads them."""
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")
"""The label of each class index, from Keras's documentation."""


def load_data():
    """Load Fashion-MNIST exactly as ``keras.datasets.fashion_mnist.load_data`` does.

    Each labels file is an IDX file whose bytes after an 8-byte header are the
    labels; each images file has a 16-byte header, then 28x28 bytes an image.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x_*`` uint8 arrays of shape
        ``(samples, 28, 28)`` (60,000 and 10,000 in Keras's files), ``y_*``
        uint8 arrays of labels 0-9 (see :data:`CLASS_NAMES`). Like Keras's,
        the arrays are read-only views of the files' bytes.

    Raises:
        FileNotFoundError: one of the four files is not in the cache folder.
    """
    paths = [cached(name, SUBDIR) for name in FILES]
    absent = [path for path in paths if not os.path.exists(path)]
    if absent:
        raise missing("fashion_mnist.load_data", " and ".join(absent), "keras.datasets.fashion_mnist.load_data()")
    with gzip.open(paths[0], "rb") as file:
        y_train = numpy.frombuffer(file.read(), numpy.uint8, offset=8)
    with gzip.open(paths[1], "rb") as file:
        x_train = numpy.frombuffer(file.read(), numpy.uint8, offset=16).reshape(len(y_train), 28, 28)
    with gzip.open(paths[2], "rb") as file:
        y_test = numpy.frombuffer(file.read(), numpy.uint8, offset=8)
    with gzip.open(paths[3], "rb") as file:
        x_test = numpy.frombuffer(file.read(), numpy.uint8, offset=16).reshape(len(y_test), 28, 28)
    return (x_train, y_train), (x_test, y_test)
