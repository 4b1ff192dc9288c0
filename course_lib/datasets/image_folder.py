"""Small image folders and photos made from data scikit-learn ships, for ``flow_from_directory`` without a network.

- :func:`make_digit_folder` writes scikit-learn's handwritten digits (8x8,
  1,797 of them) as PNG files, one sub-folder per class, enlarged to a size of
  your choice: the layout ``flow_from_directory`` and
  ``image_dataset_from_directory`` read (``cats/``, ``dogs/`` in the
  documents; ``0/``, ``1/``, ``2/`` here). The same arguments always give the same files.
- :func:`sample_images` returns scikit-learn's two sample photographs
  (a Chinese temple and a flower, 427 x 640 RGB) to show augmentations on.
"""
import numbers
import os
import pathlib

import numpy

__all__ = ["make_digit_folder", "sample_images"]

DIGIT_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)
"""How many images of each digit scikit-learn's ``load_digits`` has (so ``per_class`` can be checked first)."""


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_split(split):
    """``None`` or a mapping ``{name: fraction}`` with positive fractions adding up to at most 1."""
    if split is None:
        return None
    if not isinstance(split, dict) or not split:
        raise ValueError(
            "make_digit_folder: split must be None or a dict of folder name -> fraction, e.g. "
            f"{{'train': 0.75, 'validation': 0.25}}. Received: split={split!r}"
        )
    for name, fraction in split.items():
        if not isinstance(name, str) or not name or os.sep in name:
            raise ValueError(f"make_digit_folder: split names must be folder names. Received: {name!r}")
        if not isinstance(fraction, numbers.Real) or isinstance(fraction, bool) or not 0 < fraction <= 1:
            raise ValueError(f"make_digit_folder: split fractions must be in (0, 1]. Received: {name!r}: {fraction!r}")
    if sum(split.values()) > 1 + 1e-9:
        raise ValueError(f"make_digit_folder: the split fractions add up to more than 1. Received: split={split!r}")
    return split


def make_digit_folder(directory, classes=(0, 1, 2), per_class=30, size=(32, 32), seed=0, split=None,
                      color_mode="grayscale"):
    """Write digits as PNG files in class folders: ``directory/<digit>/<digit>_<nnn>.png``.

    Each image is one of scikit-learn's 8x8 digits (values 0..16), stretched to
    0..255 and enlarged to ``size`` with Pillow's bilinear filter. The images of
    each class are a random choice (by ``seed``) among that digit's images, so
    the same arguments write the same bytes. With ``color_mode="rgb"`` each
    digit is drawn in a colour of its own (random, by ``seed``) on black.

    With ``split`` (e.g. ``{"train": 0.75, "validation": 0.25}``) the images of
    every class are divided between sub-folders, ``directory/train/<digit>/...``
    and so on, like the train/validation folders of the cats-and-dogs example.

    Args:
        directory: where to write (created if needed; existing files of the same names are replaced).
        classes: the digits to write (0..9); each becomes a folder named by the digit.
        per_class: images per class (at most 174, the rarest digit's count).
        size: ``(height, width)`` of the images.
        seed: chooses the images and their colours.
        split: None, or ``{folder: fraction}`` to divide each class between folders.
        color_mode: ``"grayscale"`` (8-bit grey PNG) or ``"rgb"``.

    Returns:
        The folder as a ``pathlib.Path``; with ``split``, a dict ``{folder name: Path}``.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    where = "make_digit_folder"
    classes = tuple(classes)
    if not classes or any(not _is_int(digit) or not 0 <= digit <= 9 for digit in classes):
        raise ValueError(f"{where}: classes must be digits from 0 to 9. Received: classes={classes!r}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"{where}: classes must not repeat. Received: classes={classes!r}")
    most = min(DIGIT_COUNTS[digit] for digit in classes)
    if not _is_int(per_class) or not 1 <= per_class <= most:
        raise ValueError(f"{where}: per_class must be an int from 1 to {most}. Received: per_class={per_class!r}")
    if (not isinstance(size, (tuple, list)) or len(size) != 2 or any(not _is_int(side) or side < 1 for side in size)):
        raise ValueError(f"{where}: size must be a (height, width) pair of positive ints. Received: size={size!r}")
    if color_mode not in ("grayscale", "rgb"):
        raise ValueError(f"{where}: color_mode must be 'grayscale' or 'rgb'. Received: color_mode={color_mode!r}")
    if not _is_int(seed):
        raise ValueError(f"{where}: seed must be an int. Received: seed={seed!r}")
    split = _check_split(split)

    digits = load_digits()
    generator = numpy.random.default_rng(seed)
    root = pathlib.Path(directory)
    parts = {None: 1.0} if split is None else split
    folders = {name: (root if name is None else root / name) for name in parts}
    counts = [round(fraction * per_class) for fraction in parts.values()]
    if abs(sum(parts.values()) - 1) < 1e-9:
        counts[-1] = per_class - sum(counts[:-1])  # fractions adding up to 1 use every image
    for digit in classes:
        chosen = generator.permutation(numpy.flatnonzero(digits.target == digit))[:per_class]
        colours = generator.uniform(0.35, 1.0, size=(per_class, 3))
        start = 0
        for name, count in zip(parts, counts):
            folder = folders[name] / str(digit)
            folder.mkdir(parents=True, exist_ok=True)
            for position in range(start, start + count):
                pixels = (digits.images[chosen[position]] * (255 / 16)).round().astype("uint8")
                image = Image.fromarray(pixels, "L").resize((size[1], size[0]), Image.Resampling.BILINEAR)
                if color_mode == "rgb":
                    grey = numpy.asarray(image, dtype="float64")[..., None]
                    image = Image.fromarray((grey * colours[position]).round().astype("uint8"), "RGB")
                image.save(folder / f"{digit}_{position:03d}.png")
            start += count
    return folders[None] if split is None else folders


def sample_images():
    """scikit-learn's two sample photographs, ``china`` then ``flower``, as one uint8 array ``(2, 427, 640, 3)``."""
    from sklearn.datasets import load_sample_images

    return numpy.stack(load_sample_images().images)
