"""A strict stand-in for CuPy, made of NumPy: ``backend.set_backend("strict")``.

CPU CI has no GPU, yet a CuPy run fails on things NumPy lets pass. This module
behaves like CuPy where the two differ, so those mistakes fail here first:

- its arrays (:class:`StrictArray`) refuse to be mixed with plain NumPy arrays
  in any computation (CuPy raises ``TypeError`` for a host array);
- they refuse silent host conversions: ``float(x)``, ``int(x)``, ``x.item()``,
  ``x.tolist()``; numbers leave only through ``backend.to_numpy`` / ``backend.to_float``;
- reductions give 0-d arrays, not NumPy scalars, as CuPy's do;
- NumPy-only attributes are missing: ``x.flags``, ``xp.errstate``, ``xp.random``
  (random numbers come from ``backend.rng`` / ``backend.random_uniform``),
  ``xp.seterr``, ``xp.lib``.

``xp.asarray``/``xp.array`` accept NumPy input: that is the explicit host-to-device
transfer, as ``cupy.asarray`` does.
"""
from __future__ import annotations

import types

import numpy

_NUMPY_ONLY = {
    "errstate": "CuPy has no errstate; use backend.errstate(), a no-op where the module never warns",
    "random": "draw through backend.rng() / backend.random_uniform(), the one seeded generator",
    "seterr": "CuPy has no seterr",
    "geterr": "CuPy has no geterr",
    "lib": "numpy.lib (stride tricks, ...) is NumPy's; CuPy keeps them elsewhere (cupy.lib.stride_tricks)",
    "testing": "numpy.testing compares host arrays: convert with backend.to_numpy first",
}
# Explicit host-to-device transfers, and functions that only read metadata.
_TRANSFERS = {"asarray", "array", "asanyarray", "ascontiguousarray", "shape", "ndim", "size", "result_type"}


class StrictHostConversion(TypeError):
    """A device array was turned into a host number without backend.to_numpy / backend.to_float."""


class StrictArray(numpy.ndarray):
    """A NumPy array that behaves like a CuPy array where the two differ."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        where = f"numpy ufunc '{ufunc.__name__}'"
        inputs = tuple(_unwrap(item, where) for item in inputs)
        if out is not None:
            kwargs["out"] = tuple(_unwrap(item, where) for item in out)
        return _wrap(getattr(ufunc, method)(*inputs, **kwargs))

    def __array_function__(self, func, types_, args, kwargs):
        where = f"numpy.{func.__name__}"
        return _wrap(func(*_unwrap(args, where), **_unwrap(kwargs, where)))

    def _refuse(self, what):
        raise StrictHostConversion(
            f"strict backend: {what} on an array of the array module (shape {self.shape}) is a "
            "silent host transfer, which CuPy syncs on or refuses. Use backend.to_float(x) or "
            "backend.to_numpy(x) where a number is really needed."
        )

    def __float__(self):
        self._refuse("float()")

    def __int__(self):
        self._refuse("int()")

    def __index__(self):
        self._refuse("using it as an index number")

    def item(self, *args):
        self._refuse(".item()")

    def tolist(self):
        self._refuse(".tolist()")

    @property
    def flags(self):
        raise AttributeError("strict backend: `.flags` is NumPy-only (CuPy arrays have no writeable flag).")

    def __reduce__(self):
        raise TypeError("strict backend: pickling a device array; convert with backend.to_numpy first.")


def _unwrap(value, where):
    if isinstance(value, StrictArray):
        return value.view(numpy.ndarray)
    if isinstance(value, numpy.ndarray):
        raise TypeError(
            f"strict backend: a NumPy array of shape {value.shape} was mixed into {where} with arrays "
            "of the array module. CuPy refuses host arrays there: create it with backend.xp, or "
            "convert it once with backend.xp.asarray."
        )
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(item, where) for item in value)
    if isinstance(value, dict):
        return {key: _unwrap(item, where) for key, item in value.items()}
    return value


def _wrap(value):
    if isinstance(value, StrictArray):
        return value
    if isinstance(value, numpy.ndarray):
        return value.view(StrictArray)
    if isinstance(value, numpy.generic) and not isinstance(value, (numpy.str_, numpy.bytes_)):
        return numpy.asarray(value).view(StrictArray)
    if isinstance(value, tuple):
        return tuple(_wrap(item) for item in value)
    if isinstance(value, list):
        return [_wrap(item) for item in value]
    return value


def to_numpy(value):
    """The explicit device-to-host copy."""
    if isinstance(value, StrictArray):
        return numpy.array(value.view(numpy.ndarray))
    return numpy.asarray(value)


class _StrictModule(types.ModuleType):
    """``backend.xp`` under the strict backend: NumPy's functions, wrapped."""

    def __getattr__(self, name):
        if name in _NUMPY_ONLY:
            raise AttributeError(f"strict backend: xp.{name} is NumPy-only: {_NUMPY_ONLY[name]}.")
        attribute = getattr(numpy, name)
        if isinstance(attribute, (type, types.ModuleType)) or not callable(attribute):
            return attribute  # dtypes, scalar types, constants, submodules (linalg)
        transfer = name in _TRANSFERS

        def strict_function(*args, **kwargs):
            if transfer:
                args = tuple(
                    item.view(numpy.ndarray) if isinstance(item, StrictArray) else item for item in args
                )
            else:
                args, kwargs = _unwrap(args, f"xp.{name}"), _unwrap(kwargs, f"xp.{name}")
            return _wrap(attribute(*args, **kwargs))

        strict_function.__name__ = name
        setattr(self, name, strict_function)
        return strict_function


module = _StrictModule("course_lib.strict_backend.module", "NumPy behind CuPy's rules.")
