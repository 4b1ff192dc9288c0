"""Image files and arrays, with Keras's names: ``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``.

Keras 3 spells them ``keras.utils.load_img`` (and so does ``course_lib.utils``);
Keras 2 spelled them ``keras.preprocessing.image.load_img``, which
``course_lib.preprocessing.image`` keeps. Images are Pillow images; arrays are
NumPy arrays of shape ``(height, width, channels)`` (``"channels_last"``, the
default) or ``(channels, height, width)`` (``"channels_first"``).

This module reads and writes files on the host: it is host code by design,
whatever course_lib's array backend.
"""
import io
import os
import pathlib
import warnings

import numpy

from course_lib import backend

try:
    from PIL import Image
except ImportError:  # Pillow is in requirements.txt; a clear message if it is missing anyway
    Image = None

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]

DATA_FORMATS = ("channels_last", "channels_first")
COLOR_MODES = ("grayscale", "rgb", "rgba")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")
"""Pillow's resampling filters, by the names ``load_img`` accepts."""


def _pillow(where):
    if Image is None:
        raise ImportError(f"{where} needs Pillow (PIL); install it with `pip install pillow`.")
    return Image


def standardize_data_format(where, data_format):
    """``None`` means ``config.image_data_format()`` (Keras's default); anything else is checked."""
    if data_format is None:
        from course_lib import config

        return config.image_data_format()
    if data_format not in DATA_FORMATS:
        raise ValueError(f"{where}: data_format must be one of {DATA_FORMATS} or None. Received: data_format={data_format!r}")
    return data_format


def check_target_size(where, target_size, name="target_size"):
    """A ``(height, width)`` pair of positive ints, returned as a tuple."""
    if (not isinstance(target_size, (tuple, list)) or len(target_size) != 2
            or any(isinstance(side, bool) or not isinstance(side, (int, numpy.integer)) for side in target_size)):
        raise ValueError(f"{where}: {name} must be a (height, width) pair of ints. Received: {name}={target_size!r}")
    if min(target_size) <= 0:
        raise ValueError(f"{where}: {name} must be positive. Received: {name}={tuple(target_size)!r}")
    return int(target_size[0]), int(target_size[1])


def _check_color_mode(where, color_mode):
    if color_mode not in COLOR_MODES:
        raise ValueError(f"{where}: color_mode must be one of {COLOR_MODES}. Received: color_mode={color_mode!r}")


def _open(where, path):
    """A Pillow image of ``path`` (a path, bytes path or ``io.BytesIO``), with the file already closed."""
    pillow = _pillow(where)
    if isinstance(path, io.BytesIO):
        return pillow.open(path)
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{where}: path must be a path (str, bytes, pathlib.Path) or io.BytesIO. Received: {type(path).__name__}")
    with open(path, "rb") as handle:  # read it all, so no file stays open behind the lazy image
        return pillow.open(io.BytesIO(handle.read()))


def _convert(image, color_mode):
    """Keras's conversions: grayscale keeps 8-, 16- and 32-bit grey images, the rest becomes "L", "RGB" or "RGBA"."""
    if color_mode == "grayscale":
        return image if image.mode in ("L", "I;16", "I") else image.convert("L")
    wanted = "RGB" if color_mode == "rgb" else "RGBA"
    return image if image.mode == wanted else image.convert(wanted)


def _centre_crop_box(size, target_size):
    """The largest centred box of ``size = (width, height)`` with the aspect ratio of ``target_size = (h, w)``."""
    width, height = size
    target_height, target_width = target_size
    crop_height = min(height, (width * target_height) // target_width)
    crop_width = min(width, (height * target_width) // target_height)
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return left, top, left + crop_width, top + crop_height


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """Read an image file into a Pillow image: Keras's ``load_img``.

    Args:
        path: a file path (str, bytes or ``pathlib.Path``) or an ``io.BytesIO``.
        color_mode: ``"rgb"`` (the default), ``"rgba"`` or ``"grayscale"``
            (a 16- or 32-bit grey image keeps its depth; others become 8-bit "L").
        target_size: ``None`` (keep the file's size) or ``(height, width)``.
        interpolation: Pillow's filter for resizing: ``"nearest"`` (the default),
            ``"bilinear"``, ``"bicubic"``, ``"hamming"``, ``"box"`` or ``"lanczos"``.
        keep_aspect_ratio: resize the largest centred crop with the target's
            aspect ratio instead of stretching the whole image.

    Returns:
        A ``PIL.Image.Image``.

    Raises:
        ValueError: a bad color_mode, target_size or interpolation.
        TypeError: a path of another type.
        PIL.UnidentifiedImageError / OSError: the file is not an image Pillow can read.
    """
    where = "load_img"
    _check_color_mode(where, color_mode)
    if target_size is not None:
        target_size = check_target_size(where, target_size)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"{where}: interpolation must be one of {INTERPOLATIONS}. Received: interpolation={interpolation!r}"
            )
    image = _convert(_open(where, path), color_mode)
    if target_size is not None:
        width_height = (target_size[1], target_size[0])
        if image.size != width_height:
            resample = getattr(Image.Resampling, interpolation.upper())
            box = _centre_crop_box(image.size, target_size) if keep_aspect_ratio else None
            image = image.resize(width_height, resample, box=box)
    return image


def img_to_array(img, data_format=None, dtype=None):
    """A Pillow image as a 3-D NumPy array: Keras's ``img_to_array``.

    Args:
        img: a Pillow image (or anything NumPy turns into a 2-D or 3-D array).
        data_format: ``"channels_last"`` (``(H, W, C)``, the default) or ``"channels_first"``.
        dtype: the array's dtype; course_lib's ``floatx()`` when None.

    Returns:
        ``(H, W, C)`` or ``(C, H, W)``; a grey image gets a channel axis of size 1.
    """
    where = "img_to_array"
    data_format = standardize_data_format(where, data_format)
    array = numpy.asarray(img, dtype=dtype or backend.floatx())
    if array.ndim == 2:
        array = array[:, :, None]
    elif array.ndim != 3:
        raise ValueError(f"{where}: expected a 2-D (grey) or 3-D image. Received: an array of shape {array.shape}")
    return array.transpose(2, 0, 1) if data_format == "channels_first" else array


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A 3-D array as a Pillow image: Keras's ``array_to_img``.

    With ``scale=True`` the values are stretched to ``0 .. 255`` first
    (``(x - min) / (max - min) * 255``, in ``dtype``); the values are then cut
    to 8 bits as NumPy's ``astype("uint8")`` does (toward zero). One channel
    gives a "L" image (or a 32-bit "I" image when values exceed 255), three "RGB", four "RGBA".

    Args:
        x: ``(H, W, C)`` or ``(C, H, W)`` array-like, C in 1, 3, 4.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        scale: stretch the values to ``0 .. 255``.
        dtype: the float type of the scaling arithmetic; ``floatx()`` when None.

    Returns:
        A ``PIL.Image.Image``.
    """
    where = "array_to_img"
    pillow = _pillow(where)
    data_format = standardize_data_format(where, data_format)
    x = numpy.array(x, dtype=dtype or backend.floatx())  # a copy: the scaling below works in place
    if x.ndim != 3:
        raise ValueError(f"{where}: expected one image, a 3-D array. Received: an array of shape {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x -= numpy.min(x)
        peak = numpy.max(x)
        if peak != 0:
            x /= peak
        x *= 255
    channels = x.shape[2]
    if channels == 4:
        return pillow.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return pillow.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if numpy.max(x) > 255:  # beyond 8 bits: a 32-bit grey image
            return pillow.fromarray(x[:, :, 0].astype("int32"), "I")
        return pillow.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"{where}: an image has 1, 3 or 4 channels. Received: an array of shape {x.shape} ({channels} channels)")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Write a 3-D array to an image file: Keras's ``save_img``.

    Args:
        path: a path or a writable file object.
        x: the image array (see :func:`array_to_img`).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        file_format: Pillow's format name; taken from the path's extension when
            None (``"jpg"`` means ``"jpeg"``). Required for a file object.
        scale: stretch the values to ``0 .. 255`` first.
        **kwargs: passed to ``PIL.Image.Image.save`` (``quality=``, ...).
    """
    where = "save_img"
    data_format = standardize_data_format(where, data_format)
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower() or None
    if file_format is None and not isinstance(path, (str, pathlib.Path)):
        raise ValueError(f"{where}: pass file_format when saving to a file object. Received: {type(path).__name__}")
    if file_format is not None and file_format.lower() == "jpg":
        file_format = "jpeg"
    image = array_to_img(x, data_format=data_format, scale=scale)
    if image.mode == "RGBA" and file_format == "jpeg":
        warnings.warn(f"{where}: JPEG has no alpha channel; the RGBA image is saved as RGB.", stacklevel=2)
        image = image.convert("RGB")
    image.save(path, format=file_format, **kwargs)


# ---------------------------------------------------------------- folders of images (used by the directory readers)
def unreadable_reason(path):
    """None when Pillow recognises ``path`` as an intact image, else the reason it cannot be used.

    Opening reads the header; ``verify()`` then walks the file's structure
    (for PNG every chunk and its checksum) without decoding the pixels, so a
    text file named ``.png``, an empty file or a truncated PNG is caught cheaply.
    """
    pillow = _pillow("unreadable_reason")
    try:
        with pillow.open(path) as image:
            image.verify()
    except Exception as error:  # Pillow raises many kinds (UnidentifiedImageError, SyntaxError, OSError, ...)
        return f"{type(error).__name__}: {error}"
    return None


def readable_image(where, path):
    """True when ``path`` is an intact image; otherwise warn, naming the file and the reason, and return False."""
    reason = unreadable_reason(path)
    if reason is not None:
        warnings.warn(f"{where}: skipping {path}: not a readable image ({reason})", stacklevel=3)
    return reason is None
