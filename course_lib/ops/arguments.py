"""The argument checks the image layers and kernels share: integer tuples and data formats."""
from __future__ import annotations

import numbers

DATA_FORMATS = ("channels_last", "channels_first")


def positive_ints(where, argument, value, count, minimum=1):
    """``value`` (an int or a sequence of ``count`` ints) as a tuple of Python ints >= ``minimum``, or a ValueError.

    ``minimum=0`` is Keras's ``standardize_tuple(..., allow_zero=True)`` (paddings, croppings).
    """
    items = (value,) * count if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    try:
        items = tuple(items)
    except TypeError:
        items = None
    if (
        items is None
        or len(items) != count
        or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum for v in items)
    ):
        expected = "positive ints" if minimum == 1 else f"ints >= {minimum}"
        raise ValueError(
            f"{where}: {argument} must be {expected} (an int or a tuple of {count}). "
            f"Received: {argument}={value!r}"
        )
    return tuple(int(v) for v in items)


def check_data_format(where, data_format):
    """Keras's ``standardize_data_format``: None is ``config.image_data_format()`` (``'channels_last'``
    unless set otherwise), case is ignored, others raise."""
    if data_format is None:
        from course_lib import config  # config imports the layers' safe mode, which imports this module

        return config.image_data_format()
    if not isinstance(data_format, str) or data_format.lower() not in DATA_FORMATS:
        raise ValueError(
            f"{where}: data_format must be 'channels_last' or 'channels_first'. "
            f"Received: data_format={data_format!r}"
        )
    return data_format.lower()


def to_channels_last(x, data_format):
    """``(N, C, *spatial)`` -> ``(N, *spatial, C)`` for channels_first (a view); unchanged otherwise."""
    return x.transpose((0,) + tuple(range(2, x.ndim)) + (1,)) if data_format == "channels_first" else x


def from_channels_last(x, data_format):
    """The inverse of :func:`to_channels_last`."""
    return x.transpose((0, x.ndim - 1) + tuple(range(1, x.ndim - 1))) if data_format == "channels_first" else x
