"""Keras's Variable: what ``layer.weights`` and ``layer.kernel`` are.

A Variable names one weight array of a layer and updates it *in place*
(optimizers, ``set_weights`` and ``assign`` all write into the same array, so
every reference stays valid). It behaves like an array in arithmetic and in
NumPy functions, as Keras's variables behave like tensors; layers compute with
``variable.value``, the array itself.
"""
from __future__ import annotations

from numpy.lib.mixins import NDArrayOperatorsMixin

from course_lib import backend


def _array_attribute(name):
    """A read-only property that reads ``name`` off the Variable's array."""
    return property(lambda self: getattr(self._value, name), doc=f"The array's ``{name}``.")


# Bumped whenever a Variable's regularizer or constraint is set: the training engine
# caches the list of regularized weights and rebuilds it only when this changes.
_generation = 0


def generation():
    """A counter that changes whenever a Variable's regularizer or constraint is set."""
    return _generation


def _callable_attribute(name, example, doc):
    """A Variable property holding a callable or None; setting it tells the engine to look again."""
    private = f"_{name}"

    def getter(self):
        return getattr(self, private)

    def setter(self, value):
        global _generation
        if value is not None and not callable(value):
            raise ValueError(
                f"Invalid value for attribute `{name}`. Expected a callable (such as a "
                f"`{example}` instance) or `None`. Received: {name}={value}"
            )
        setattr(self, private, value)
        _generation += 1

    return property(getter, setter, doc=doc)


class Variable(NDArrayOperatorsMixin):
    """One weight: ``name`` (``'kernel'``), ``path`` (``'dense/kernel'``), ``shape``, ``dtype``, ``trainable``.

    ``trainable`` follows its layer, as in Keras: a weight created trainable is
    trainable while its layer is.

    ``regularizer`` (a penalty added to the training loss, see
    :mod:`course_lib.regularizers`) and ``constraint`` (a projection applied
    after each optimizer step, see :mod:`course_lib.constraints`) are None
    unless ``add_weight`` was given them; both may be set later, as in Keras.
    """

    def __init__(self, value, name, layer, trainable=True, regularizer=None, constraint=None):
        self._value = value
        self.name = name
        self._layer = layer
        self._created_trainable = bool(trainable)
        self._regularizer = None
        self._constraint = None
        if regularizer is not None:
            self.regularizer = regularizer
        if constraint is not None:
            self.constraint = constraint

    regularizer = _callable_attribute(
        "regularizer", "keras.regularizers.Regularizer", "The penalty on this weight added to the training loss, or None.")
    constraint = _callable_attribute(
        "constraint", "keras.constraints.Constraint", "The projection applied to this weight after each optimizer step, or None.")

    @property
    def path(self):
        """``'dense/kernel'``; as in Keras, a layer a Sequential model builds gets the model's name first."""
        return f"{self._layer._path_prefix}{self._layer.name}/{self.name}"

    # ------------------------------------------------------------ reading
    @property
    def value(self):
        """The array itself (of the active array module)."""
        return self._value

    def numpy(self):
        """A NumPy copy of the values."""
        return backend.to_numpy(self._value).copy()

    @property
    def shape(self):
        return tuple(self._value.shape)

    dtype = _array_attribute("dtype")
    ndim = _array_attribute("ndim")
    size = _array_attribute("size")
    nbytes = _array_attribute("nbytes")

    @property
    def trainable(self):
        return self._created_trainable and self._layer.trainable

    def __len__(self):
        return len(self._value)

    def __getitem__(self, index):
        return self._value[index]

    def __array__(self, dtype=None, copy=None):
        array = backend.to_numpy(self._value)
        return array if dtype is None else array.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(unwrap(item) for item in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(unwrap(item) for item in kwargs["out"])
        return getattr(ufunc, method)(*inputs, **kwargs)

    def copy(self):
        return self._value.copy()

    def astype(self, dtype, **kwargs):
        return self._value.astype(dtype, **kwargs)

    # ------------------------------------------------------------ writing
    def assign(self, value):
        """Overwrite the values in place (the shape must match); returns the Variable."""
        value = backend.xp.asarray(unwrap(value))
        if tuple(value.shape) != self.shape:
            raise ValueError(
                f"Variable '{self.path}': assign expects shape {self.shape}. Received: shape {tuple(value.shape)}"
            )
        self._value[...] = value
        return self

    def assign_add(self, delta):
        return self.assign(self._value + unwrap(delta))

    def assign_sub(self, delta):
        return self.assign(self._value - unwrap(delta))

    def __setitem__(self, index, value):
        self._value[index] = value

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype.name}>"


def unwrap(value):
    """The array behind a Variable (anything else is returned as it is)."""
    return value._value if isinstance(value, Variable) else value
