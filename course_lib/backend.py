"""The array module, the default float type and seeding.

Every other module takes its arrays from :data:`xp` and its float type from
:func:`floatx`, so that a GPU array module with NumPy's interface (CuPy) can
replace NumPy later without touching the layers.
"""
from __future__ import annotations

import contextlib
import re
import threading
from collections import defaultdict

import numpy

xp = numpy
"""The array module every kernel uses (NumPy; CuPy can take its place later)."""

_FLOAT_TYPES = ("float16", "float32", "float64")
_state = threading.local()
_config = {"floatx": "float32", "epsilon": 1e-7}
_name_counts: defaultdict[str, int] = defaultdict(int)
_rng = numpy.random.default_rng()


def floatx() -> str:
    """The default float type as a string, ``'float32'`` unless changed."""
    return getattr(_state, "floatx", None) or _config["floatx"]


def set_floatx(value: str) -> None:
    """Set the default float type (``'float16'``, ``'float32'`` or ``'float64'``)."""
    _config["floatx"] = _check_float_name("set_floatx", value)


@contextlib.contextmanager
def floatx_scope(value: str):
    """Use ``value`` as the default float type inside a ``with`` block.

    Gradient checks build their layers inside ``floatx_scope('float64')``.
    """
    value = _check_float_name("floatx_scope", value)
    previous = getattr(_state, "floatx", None)
    _state.floatx = value
    try:
        yield
    finally:
        _state.floatx = previous


def _check_float_name(where: str, value) -> str:
    name = numpy.dtype(value).name if not isinstance(value, str) else value
    if name not in _FLOAT_TYPES:
        raise ValueError(
            f"{where}: expected one of {_FLOAT_TYPES}. Received: {value!r}"
        )
    return name


def epsilon() -> float:
    """The fuzz factor Keras uses in losses and optimizers (1e-7)."""
    return _config["epsilon"]


def set_seed(seed: int) -> None:
    """Seed every random draw course_lib makes (initializers, dropout, shuffling)."""
    global _rng
    _rng = numpy.random.default_rng(seed)


def rng(seed=None) -> numpy.random.Generator:
    """The shared random generator, or a fresh one when ``seed`` is given."""
    if seed is not None:
        return numpy.random.default_rng(seed)
    return _rng


def as_numeric(value, where: str = "course_lib"):
    """Turn ``value`` into an array of its own numeric dtype, or raise a clear error.

    Strings, objects and complex numbers are refused.
    """
    array = xp.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{where}: expected a numeric array (float, int or bool). "
            f"Received: an array of dtype {array.dtype} with shape {array.shape}"
        )
    return array


def to_array(value, dtype=None, where: str = "course_lib"):
    """:func:`as_numeric`, then cast to ``dtype`` (the default float type when None)."""
    return as_numeric(value, where).astype(dtype or floatx(), copy=False)


def unique_name(base: str) -> str:
    """Keras-style automatic names: ``dense``, ``dense_1``, ``dense_2`` ..."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def snake_case(name: str) -> str:
    """``BatchNormalization`` -> ``batch_normalization``, as Keras names layers."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def clear_session() -> None:
    """Reset automatic layer names, like ``keras.backend.clear_session``."""
    _name_counts.clear()
