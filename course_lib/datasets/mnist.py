"""Handwritten digits as 28x28 uint8 images: Keras's ``keras.datasets.mnist``.

Two sources, one layout:

- ``"keras-cache mnist.npz"``: Keras's own MNIST file (60,000 training and
  10,000 test images), read from the Keras cache folder
  (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``) when it is there; the
  arrays are then exactly Keras's. course_lib downloads nothing; a machine
  that has run Keras's ``mnist.load_data()`` once has the file.
- ``"digits stand-in"``: otherwise, a small stand-in that is **not MNIST**: the
  1,797 8x8 handwritten digits that scikit-learn ships (see
  :mod:`course_lib.datasets.digits`), redrawn as MNIST draws its digits. Each
  one is cropped to its ink, enlarged (bilinear, aspect ratio kept) until its
  longer side is 20 pixels, and put in a 28x28 black image with its centre
  of mass at the centre, as in MNIST; intensities go from 0 to 255. The images
  are coarser than MNIST's (8x8 at heart) and there are 1,540 for training and
  257 for testing (MNIST's 6:1 proportion, split class by class so that each
  digit keeps it too), in a fixed order: the same arrays on every call.

:func:`source` says which one :func:`load_data` reads; it prints it once when
it falls back to the stand-in.
"""
import functools
import os

import numpy

from course_lib.datasets.keras_cache import cached, datasets_folder, read_npz

KERAS_CACHE_SOURCE = "keras-cache mnist.npz"
"""What :func:`source` returns when Keras's ``mnist.npz`` is read."""
STAND_IN_SOURCE = "digits stand-in"
"""What :func:`source` returns when the stand-in made of scikit-learn's digits is used."""
SOURCES = (KERAS_CACHE_SOURCE, STAND_IN_SOURCE)
DEFAULT_PATH = "mnist.npz"
IMAGE_SIZE = 28
BOX_SIZE = 20
"""MNIST's digits are scaled to fit a 20x20 box inside the 28x28 image."""
TRAIN_TO_TEST = 6
"""MNIST's 60,000 training images are six times its 10,000 test images."""
STAND_IN_SEED = 0
"""The seed of the stand-in's fixed split and order."""

_fallback_announced = False


def source(path=DEFAULT_PATH):
    """Which data :func:`load_data` reads: ``"keras-cache mnist.npz"`` or ``"digits stand-in"``."""
    return KERAS_CACHE_SOURCE if os.path.exists(cached(path)) else STAND_IN_SOURCE


def load_data(path=DEFAULT_PATH):
    """Load MNIST's images and labels, as ``keras.datasets.mnist.load_data`` does.

    With Keras's ``mnist.npz`` in the Keras cache folder, its four arrays as
    they are: 60,000 training and 10,000 test images. Otherwise the digits
    stand-in (see the module's description: scikit-learn's 1,797 8x8 digits
    redrawn in MNIST's layout, 1,540 + 257 images; not MNIST itself), with a
    note printed the first time.

    Args:
        path: the file's name in ``~/.keras/datasets`` (or an absolute path);
            only the default name may be missing, which selects the stand-in.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x_*`` uint8 arrays of shape
        ``(samples, 28, 28)`` with values 0-255 (the digit white on black),
        ``y_*`` uint8 arrays of shape ``(samples,)`` with labels 0-9.

    Raises:
        FileNotFoundError: a ``path`` other than the default is not in the cache folder.
    """
    global _fallback_announced
    location = cached(path)
    if os.path.exists(location):
        arrays = read_npz(location, "mnist.load_data", ("x_train", "y_train", "x_test", "y_test"), DEFAULT_PATH,
                          allow_objects=False)
        return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
    if os.fspath(path) != DEFAULT_PATH:
        raise FileNotFoundError(
            f"mnist.load_data: no file at {location}, and course_lib downloads nothing. "
            f"Leave path={DEFAULT_PATH!r} to use the digits stand-in. Received: path={path!r}"
        )
    if not _fallback_announced:
        print(f"mnist.load_data: no {DEFAULT_PATH} in {datasets_folder()}; using a stand-in, not MNIST: "
              "scikit-learn's 1,797 8x8 digits redrawn as 28x28 MNIST-style images (1,540 train + 257 test).")
        _fallback_announced = True
    (x_train, y_train), (x_test, y_test) = _stand_in()
    return (x_train.copy(), y_train.copy()), (x_test.copy(), y_test.copy())


def _as_mnist_image(digit):
    """One 8x8 digit (values 0-16) drawn as MNIST draws its digits: a uint8 (28, 28) image."""
    from PIL import Image

    rows, columns = numpy.flatnonzero(digit.any(axis=1)), numpy.flatnonzero(digit.any(axis=0))
    ink = digit[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1] * (255.0 / 16.0)
    scale = BOX_SIZE / max(ink.shape)
    height, width = (max(1, int(round(side * scale))) for side in ink.shape)
    enlarged = Image.fromarray(ink.astype("float32"), "F").resize((width, height), Image.Resampling.BILINEAR)
    enlarged = numpy.clip(numpy.asarray(enlarged, dtype="float64"), 0.0, 255.0)
    # The centre of mass goes to the image's centre (13.5, 13.5), as far as the box stays inside.
    weights = enlarged.sum()
    centre_row = (enlarged.sum(axis=1) * numpy.arange(height)).sum() / weights
    centre_column = (enlarged.sum(axis=0) * numpy.arange(width)).sum() / weights
    top = min(max(int(round((IMAGE_SIZE - 1) / 2 - centre_row)), 0), IMAGE_SIZE - height)
    left = min(max(int(round((IMAGE_SIZE - 1) / 2 - centre_column)), 0), IMAGE_SIZE - width)
    image = numpy.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype="uint8")
    image[top:top + height, left:left + width] = numpy.round(enlarged).astype("uint8")
    return image


@functools.lru_cache(maxsize=1)
def _stand_in():
    """The digits stand-in, computed once: ``((x_train, y_train), (x_test, y_test))``."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = numpy.stack([_as_mnist_image(digit) for digit in bunch.images])
    labels = bunch.target.astype("uint8")
    generator = numpy.random.default_rng(STAND_IN_SEED)
    train, test = [], []
    for digit in range(10):
        members = generator.permutation(numpy.flatnonzero(labels == digit))
        test_count = int(round(len(members) / (TRAIN_TO_TEST + 1)))
        test.append(members[:test_count])
        train.append(members[test_count:])
    # Mixed, as MNIST's files are, not grouped by digit.
    train, test = generator.permutation(numpy.concatenate(train)), generator.permutation(numpy.concatenate(test))
    return (images[train], labels[train]), (images[test], labels[test])
