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

It also has every name of Keras 3's ``keras.backend`` (``image_data_format``,
``epsilon``, ``standardize_dtype``, ``result_type`` with Keras's promotion
lattice, ``get_uid`` ...), so that ``from course_lib import backend as K`` serves
code written against Keras's; ``keras.config`` reads the same settings.
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
_config = {"floatx": "float32", "epsilon": 1e-7, "image_data_format": "channels_last"}
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


def set_epsilon(value) -> None:
    """Set the fuzz factor that losses, metrics and constraints read (Keras's ``set_epsilon``).

    Raises:
        TypeError: for something that is not a real number (Keras stores anything).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"set_epsilon: expected a float. Received: {value!r} of type {type(value).__name__}")
    _config["epsilon"] = float(value)


def image_data_format() -> str:
    """``'channels_last'`` (the default) or ``'channels_first'``: the layout image layers assume."""
    return _config["image_data_format"]


def set_image_data_format(data_format: str) -> None:
    """Set the default ``data_format`` of image layers: ``'channels_last'`` or ``'channels_first'`` (any case).

    Raises:
        ValueError: for any other value.
    """
    if not isinstance(data_format, str) or data_format.lower() not in ("channels_last", "channels_first"):
        raise ValueError(
            "set_image_data_format: the data_format argument must be one of {'channels_first', 'channels_last'}. "
            f"Received: data_format={data_format!r}"
        )
    _config["image_data_format"] = data_format.lower()


def backend() -> str:
    """The name of the array module in use: ``'numpy'``, ``'cupy'`` or ``'strict'``.

    Keras's ``keras.backend.backend()`` names Keras's backend (``'tensorflow'``, ``'jax'`` ...);
    course_lib's backend is the array module every computation goes through.
    """
    return _backend_name


# ---------------------------------------------------------------- dtypes, as Keras names and promotes them
_PYTHON_DTYPES = {bool: "bool", int: "int64", float: "float32", str: "string", complex: "complex128", "int": "int64"}
_ALLOWED_DTYPES = frozenset({
    "bfloat16", "bool", "complex128", "complex64", "float16", "float32", "float64", "float8_e4m3fn", "float8_e5m2",
    "int16", "int32", "int64", "int8", "string", "uint16", "uint32", "uint64", "uint8",
})


def standardize_dtype(dtype) -> str:
    """Keras's name for a dtype: ``None`` is ``floatx()``, Python's ``int`` ``"int64"``, ``float`` ``"float32"``,
    ``str`` ``"string"``; a NumPy dtype or type its name; anything Keras does not list is a ValueError."""
    if dtype is None:
        return floatx()
    try:
        dtype = _PYTHON_DTYPES.get(dtype, dtype)
    except TypeError:  # unhashable (a list): Keras's lookup fails with a TypeError too
        raise TypeError("standardize_dtype: a dtype is a name, a NumPy dtype or a type. "
                        f"Received: {dtype!r}") from None
    if hasattr(dtype, "name"):
        dtype = dtype.name
    elif hasattr(dtype, "__name__"):
        dtype = dtype.__name__
    if not isinstance(dtype, str) or dtype not in _ALLOWED_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}")
    return dtype


def is_float_dtype(dtype) -> bool:
    """Whether :func:`standardize_dtype` names a float type (``bfloat16`` included, float8 too)."""
    return standardize_dtype(dtype).startswith(("float", "bfloat"))


def is_int_dtype(dtype) -> bool:
    """Whether :func:`standardize_dtype` names a signed or unsigned integer type."""
    return standardize_dtype(dtype).startswith(("int", "uint"))


# Keras's promotion lattice (JAX's): each type and the types just above it. "int" and "float" are
# the weak types of Python numbers, which take the other operand's width.
_PROMOTES_TO = {
    "bool": ("int",), "int": ("uint8", "int8", "complex64"),
    "uint8": ("int16", "uint16"), "uint16": ("int32", "uint32"), "uint32": ("int64", "uint64"),
    "uint64": ("float",), "int8": ("int16",), "int16": ("int32",), "int32": ("int64",), "int64": ("float",),
    "float": ("bfloat16", "float16"), "bfloat16": ("float32",), "float16": ("float32",),
    "float32": ("float64", "complex64"), "float64": ("complex128",), "complex64": ("complex128",),
    "complex128": (),
}


def _above(node):
    """``node`` and every type it promotes to, directly or through others."""
    seen, todo = {node}, [node]
    while todo:
        for higher in _PROMOTES_TO[todo.pop()]:
            if higher not in seen:
                seen.add(higher)
                todo.append(higher)
    return seen


_ABOVE = {node: frozenset(_above(node)) for node in _PROMOTES_TO}
# On TensorFlow (course_lib's oracle) Keras keeps 64-bit ints and floats but narrows these two.
_NARROWED = {"uint64": "uint32", "complex128": "complex64"}


def _least_upper_bound(nodes):
    unknown = sorted(node for node in nodes if node not in _ABOVE)
    if unknown:
        raise ValueError(f"result_type: {unknown[0]!r} has no place in Keras's type promotion.")
    common = frozenset.intersection(*(_ABOVE[node] for node in nodes))
    least = [node for node in common if common <= _ABOVE[node]]
    if not least:
        raise ValueError(f"result_type: the dtypes {tuple(nodes)} have no common type to promote to; "
                         "cast them explicitly.")
    return least[0]


def result_type(*dtypes) -> str:
    """The dtype Keras's promotion rules give these dtypes (Keras's ``keras.backend.result_type``).

    Each argument is named by :func:`standardize_dtype` (None is ``floatx()``); Python's ``int`` and
    ``float`` are weak: they take the width of the typed arguments, or of ``floatx()`` when every
    argument is weak. The result is the least type above them all on the lattice of
    ``_PROMOTES_TO``, as Keras's TensorFlow backend reports it. No argument gives ``floatx()``.
    """
    if not dtypes:
        return floatx()
    if any(isinstance(dtype, str) and dtype.startswith("float8") for dtype in dtypes):
        raise ValueError(f"result_type: float8 types promote to nothing; cast them first. Received: {dtypes}")
    named = [(standardize_dtype(dtype), dtype is int or dtype is float) for dtype in dtypes]
    names, weak = {name for name, _ in named}, [is_weak for _, is_weak in named]
    if len(named) == 1 or (len(names) == 1 and not all(weak)):
        result, result_weak = named[0][0], weak[0] and len(named) == 1
    elif all(weak):
        result, result_weak = _least_upper_bound(names), True
    else:
        result = _least_upper_bound({("float" if name.startswith("float") else "int") if is_weak else name
                                     for name, is_weak in named})
        result_weak = result in ("int", "float")
    if result_weak and result != "bool":  # a weak result takes floatx()'s width
        result = {"i": "int", "u": "uint"}.get(result[0], "float") + floatx()[-2:]
    return _NARROWED.get(result, result)


def get_uid(prefix: str = "") -> int:
    """The next number of ``prefix`` on the counter that automatic layer names use (Keras's ``get_uid``).

    After ``Dense()`` named ``dense``, ``get_uid("dense")`` is 2; :func:`clear_session` resets it.
    """
    _name_counts[prefix] += 1
    return _name_counts[prefix]


def is_keras_tensor(x) -> bool:
    """Whether ``x`` is a symbolic tensor (a :class:`~course_lib.layers.KerasTensor`, from ``Input`` or a layer call)."""
    from course_lib.layers.base import KerasTensor

    return isinstance(x, KerasTensor)


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
