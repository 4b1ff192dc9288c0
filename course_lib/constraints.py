"""Weight constraints (权重约束): projections applied to a weight after each optimizer step.

As in Keras, a layer passes ``constraint=`` to ``add_weight`` (Dense's
``kernel_constraint=`` / ``bias_constraint=``); the weight's Variable keeps
it, and every optimizer replaces the weight by ``constraint(weight)`` once all
the weights of the step have been updated. A constraint is not part of the
loss, so it needs no gradient.

The formulas are Keras 3's to the letter, epsilon included: the norms are
``sqrt(sum(w**2, axis, keepdims=True))`` and the weights are rescaled by
``desired / (epsilon + norms)``, so a weight already inside the bounds still
moves by about ``epsilon / norm``, as in Keras.
"""
from __future__ import annotations

import numbers

from course_lib import backend
from course_lib.regularizers import _deserialize, _get, _serialize
from course_lib.variables import unwrap


def _weight(w):
    return backend.xp.asarray(unwrap(w))


def _check_axis(where, axis):
    """An int or a list/tuple of ints (checked against the weight's rank when it is applied)."""
    items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if not items or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in items):
        raise ValueError(
            f"{where}: axis must be an int or a list/tuple of ints (the axes the norms are taken "
            f"over). Received: axis={axis!r}"
        )
    return axis


def _check_value(where, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where}: {name} must be a real number. Received: {name}={value!r}")
    return value


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight (the base returns ``w`` unchanged)."""

    def __call__(self, w):
        return _weight(w)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class _NormConstraint(Constraint):
    """The constraints that rescale slices of the weight by their L2 norm over ``axis``."""

    def _norms(self, w):
        w = _weight(w)
        axis = tuple(self.axis) if isinstance(self.axis, (list, tuple)) else self.axis
        axes = axis if isinstance(axis, tuple) else (axis,)
        resolved = [a + w.ndim if a < 0 else a for a in axes]
        if any(not 0 <= a < w.ndim for a in resolved) or len(set(resolved)) != len(resolved):
            raise ValueError(
                f"{type(self).__name__}: axis={self.axis!r} is not valid for a weight of shape "
                f"{tuple(w.shape)} (rank {w.ndim}): each axis must be distinct and in "
                f"[{-w.ndim}, {w.ndim})."
            )
        xp = backend.xp
        return w, xp.sqrt(xp.sum(xp.square(w), axis=axis, keepdims=True))


class MaxNorm(_NormConstraint):
    """Caps the L2 norm of each slice along ``axis`` at ``max_value``.

    ``w * clip(norms, 0, max_value) / (epsilon + norms)``.

    Args:
        max_value: the largest norm allowed.
        axis: the axis (or axes) the norms are taken over: 0 for a Dense
            kernel ``(input_dim, units)`` (one norm per unit); ``[0, 1, 2]`` for
            a Conv2D kernel ``(rows, cols, in, out)``.
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value = _check_value("MaxNorm", "max_value", max_value)
        self.axis = _check_axis("MaxNorm", axis)

    def __call__(self, w):
        w, norms = self._norms(w)
        desired = backend.xp.clip(norms, 0, self.max_value)
        return w * (desired / (backend.epsilon() + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Sets negative weights to 0: ``maximum(w, 0)``."""

    def __call__(self, w):
        return backend.xp.maximum(_weight(w), 0)


class UnitNorm(_NormConstraint):
    """Rescales each slice along ``axis`` to norm 1: ``w / (epsilon + norms)``.

    Args:
        axis: as :class:`MaxNorm`'s.
    """

    def __init__(self, axis=0):
        self.axis = _check_axis("UnitNorm", axis)

    def __call__(self, w):
        w, norms = self._norms(w)
        return w / (backend.epsilon() + norms)

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(_NormConstraint):
    """Keeps the norm of each slice along ``axis`` between ``min_value`` and ``max_value``.

    ``desired = rate * clip(norms, min_value, max_value) + (1 - rate) * norms``,
    then ``w * desired / (epsilon + norms)``: ``rate=1`` enforces the bounds
    strictly, a smaller rate moves the norms towards them step by step.

    Args:
        min_value, max_value: the bounds of the norms.
        rate: how far each application moves towards the bounds.
        axis: as :class:`MaxNorm`'s.
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = _check_value("MinMaxNorm", "min_value", min_value)
        self.max_value = _check_value("MinMaxNorm", "max_value", max_value)
        self.rate = _check_value("MinMaxNorm", "rate", rate)
        self.axis = _check_axis("MinMaxNorm", axis)

    def __call__(self, w):
        w, norms = self._norms(w)
        xp = backend.xp
        desired = self.rate * xp.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (backend.epsilon() + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


# The lower-case aliases are the classes themselves, as in Keras.
max_norm = MaxNorm
non_neg = NonNeg
unit_norm = UnitNorm
min_max_norm = MinMaxNorm

_CLASSES = (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
# Keras's ALL_OBJECTS_DICT: class names and their snake case.
_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update(constraint=Constraint, max_norm=MaxNorm, min_max_norm=MinMaxNorm, non_neg=NonNeg,
                unit_norm=UnitNorm)


def serialize(constraint):
    """Keras's saved form: ``{'module': 'keras.constraints', 'class_name': 'MaxNorm', 'config': {...},
    'registered_name': None}``; None stays None and a string stays the string, as in Keras."""
    if constraint is None or isinstance(constraint, str):
        return constraint
    return _serialize("constraints", constraint, _BY_NAME)


def deserialize(config, custom_objects=None):
    """Rebuild a constraint from :func:`serialize`'s output, Keras's, or a name (``'max_norm'``).

    Unlike Keras (whose deserialize hands an unknown name back as a string),
    an unknown name is a ValueError listing the known ones.
    """
    return _deserialize("constraint", config, custom_objects, _BY_NAME)


def get(identifier):
    """The constraint an identifier stands for (Keras's ``constraints.get``).

    Args:
        identifier: None (returns None); a name (``'max_norm'``, ``'NonNeg'``
            ...: the defaults); a serialized dict; a class (instantiated with
            its defaults); an instance or any callable (returned as it is).

    Raises:
        ValueError: for an unknown name, listing the known ones, or anything
            that is not callable.
    """
    return _get("constraint", identifier, _BY_NAME, deserialize)
