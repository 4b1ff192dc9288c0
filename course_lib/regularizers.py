"""Regularizers (正则化): penalties added to the training loss, with their gradients.

As in Keras, a regularizer is a callable ``penalty = regularizer(x)`` on a
weight (``kernel_regularizer=``, ``bias_regularizer=``) or on a layer's output
(``activity_regularizer=``). course_lib has no automatic differentiation, so
each regularizer also gives ``regularizer.gradient(x)``, the derivative of
the penalty with respect to ``x``; the training engine adds it to the
weight's gradient (or to the output's upstream gradient). A layer needs no
knowledge of any of this: it passes ``regularizer=`` to ``add_weight``.

The numbers are Keras 3's, odd corners included:

- Every factor goes through float32 before it is cast to the weight's dtype
  (Keras's ``ops.cast`` of a Python float converts it to a float32 tensor
  first), so a float64 weight is penalized with ``float64(float32(0.01))``.
- ``L1`` (and ``OrthogonalRegularizer``) also *store* their factor as float32,
  as Keras's ``ops.convert_to_tensor`` does: ``L1(0.01).get_config()`` is
  ``{'l1': 0.009999999776482582}``; ``L2`` and ``L1L2`` keep Python floats
  in their configs.
- The L1 subgradient at 0 is 0 (TensorFlow's gradient of ``abs``).
- The string ``'l1l2'`` (Keras's snake case of ``L1L2``) gives ``L1L2()``,
  whose factors default to 0; ``'l1_l2'`` is not a name Keras's ``get``
  knows (only the function alias ``l1_l2`` is), so it is refused here too.

Example::

    from course_lib import layers, regularizers
    layers.Dense(64, kernel_regularizer=regularizers.l2(1e-4),
                 activity_regularizer=regularizers.L1(1e-5))
"""
from __future__ import annotations

import inspect
import math
import struct

from course_lib import backend
from course_lib.variables import unwrap


def _float32(value):
    """``value`` rounded to float32 (as Keras's convert_to_tensor stores a factor), as a Python float."""
    try:
        return struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)


def _factor(value, dtype):
    """A factor as Keras's ``ops.cast(factor, dtype)`` gives it: through float32, then ``dtype``."""
    return dtype.type(_float32(value))


def validate_float_arg(value, name, where):
    """Keras's check of a penalty factor: a non-negative, finite Python float (or int)."""
    if (
        not isinstance(value, (float, int))
        or math.isinf(value) or math.isnan(value)
        or value < 0
    ):
        raise ValueError(
            f"{where}: Invalid value for argument {name}: expected a non-negative float. "
            f"Received: {name}={value}"
        )
    return float(value)


def _as_array(x):
    """The array to penalize: a Variable's array, or ``x`` as a float array of the active module."""
    x = backend.xp.asarray(unwrap(x))
    if x.dtype.kind != "f":
        x = x.astype(backend.floatx())
    return x


def _scalar(value, dtype):
    """A 0-d array of the active module (a NumPy reduction gives a NumPy scalar instead)."""
    return backend.xp.asarray(value, dtype=dtype)


class Regularizer:
    """Base class: ``__call__(x)`` is the penalty, ``gradient(x)`` its derivative with respect to ``x``.

    A subclass overrides both, and ``get_config`` (the constructor arguments)
    so that models using it can be saved. The base penalty is 0.
    """

    def __call__(self, x):
        """The penalty: a 0-d array of ``x``'s float dtype."""
        x = _as_array(x)
        return _scalar(0.0, x.dtype)

    def gradient(self, x):
        """d(penalty)/dx: an array of ``x``'s shape and dtype."""
        return backend.xp.zeros_like(_as_array(x))

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_config(self):
        # Keras raises here too: a regularizer of your own must say how to rebuild it.
        raise TypeError(
            f"{type(self).__name__} does not implement get_config(): a Regularizer subclass must return its "
            "constructor arguments from get_config() to be saved."
        )

    def __repr__(self):
        try:
            arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        except TypeError:
            arguments = ""
        return f"{type(self).__name__}({arguments})"


class L1L2(Regularizer):
    """Both penalties: ``l1 * sum(|x|) + l2 * sum(x**2)``.

    Args:
        l1: non-negative float, the L1 factor (0 by default, as in Keras;
            the string ``'l1l2'`` also gives 0 and 0).
        l2: non-negative float, the L2 factor.
    """

    def __init__(self, l1=0.0, l2=0.0):
        l1 = 0.0 if l1 is None else l1
        l2 = 0.0 if l2 is None else l2
        self.l1 = validate_float_arg(l1, "l1", "L1L2")
        self.l2 = validate_float_arg(l2, "l2", "L1L2")

    def __call__(self, x):
        xp, x = backend.xp, _as_array(x)
        penalty = _scalar(0.0, x.dtype)
        if self.l1 != 0.0:
            penalty = penalty + _factor(self.l1, x.dtype) * xp.sum(xp.abs(x))
        if self.l2 != 0.0:
            penalty = penalty + _factor(self.l2, x.dtype) * xp.sum(xp.square(x))
        return _scalar(penalty, x.dtype)

    def gradient(self, x):
        xp, x = backend.xp, _as_array(x)
        grad = xp.zeros_like(x)
        if self.l1 != 0.0:
            grad = grad + _factor(self.l1, x.dtype) * xp.sign(x)
        if self.l2 != 0.0:
            grad = grad + x.dtype.type(2) * _factor(self.l2, x.dtype) * x
        return grad

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 * sum(|x|)``; its gradient is ``l1 * sign(x)`` (0 at 0, as TensorFlow's).

    Args:
        l1: non-negative float (default 0.01), kept as float32 as Keras does.
    """

    def __init__(self, l1=0.01):
        l1 = 0.01 if l1 is None else l1
        self.l1 = _float32(validate_float_arg(l1, "l1", "L1"))

    def __call__(self, x):
        xp, x = backend.xp, _as_array(x)
        return _scalar(_factor(self.l1, x.dtype) * xp.sum(xp.abs(x)), x.dtype)

    def gradient(self, x):
        x = _as_array(x)
        return _factor(self.l1, x.dtype) * backend.xp.sign(x)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(x**2)``; its gradient is ``2 * l2 * x``.

    Args:
        l2: non-negative float (default 0.01).
    """

    def __init__(self, l2=0.01):
        l2 = 0.01 if l2 is None else l2
        self.l2 = validate_float_arg(l2, "l2", "L2")

    def __call__(self, x):
        xp, x = backend.xp, _as_array(x)
        return _scalar(_factor(self.l2, x.dtype) * xp.sum(xp.square(x)), x.dtype)

    def gradient(self, x):
        x = _as_array(x)
        return x.dtype.type(2) * _factor(self.l2, x.dtype) * x

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (or columns) of a 2-D weight towards being orthogonal.

    ``factor * 0.5 * sum(|N @ N.T| off the diagonal) / (n * (n - 1) / 2)``
    where ``N`` holds the L2-normalized rows (``mode='rows'``) or columns
    (``mode='columns'``), normalized as Keras's ``ops.normalize``:
    ``x * minimum(rsqrt(sum(x**2)), 1 / epsilon)``. The gradient is exact,
    including that clamp (no gradient flows through the norm of a row whose
    inverse norm is clamped) and ``|0|``'s subgradient 0.

    Args:
        factor: non-negative float (default 0.01), kept as float32 as Keras does.
        mode: ``'rows'`` or ``'columns'``.
    """

    def __init__(self, factor=0.01, mode="rows"):
        validate_float_arg(factor, "factor", "OrthogonalRegularizer")
        self.factor = _float32(float(factor))
        if mode not in {"rows", "columns"}:
            raise ValueError(
                "Invalid value for argument `mode`. Expected one of "
                f'{{"rows", "columns"}}. Received: mode={mode}'
            )
        self.mode = mode

    def _rows(self, x):
        x = _as_array(x)
        if x.ndim != 2:
            raise ValueError(
                f"Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape={tuple(x.shape)}"
            )
        return x if self.mode == "rows" else x.T

    def _forward(self, rows):
        xp = backend.xp
        cast = rows.dtype.type
        square_sum = xp.sum(xp.square(rows), axis=1, keepdims=True)
        with backend.errstate(divide="ignore"):
            rsqrt = cast(1.0) / xp.sqrt(square_sum)
        limit = cast(1.0 / backend.epsilon())
        inv_norm = xp.minimum(rsqrt, limit)
        normalized = rows * inv_norm
        product = normalized @ normalized.T
        size = rows.shape[0]
        mask = cast(1.0) - xp.eye(size, dtype=rows.dtype)
        return rsqrt, limit, inv_norm, normalized, product * mask, mask, size

    def __call__(self, x):
        xp = backend.xp
        rows = self._rows(x)
        *_, off_diagonal, _, size = self._forward(rows)
        cast = rows.dtype.type
        pairs = size * (size - 1.0) / 2.0
        with backend.errstate(divide="ignore", invalid="ignore"):
            penalty = _factor(self.factor, rows.dtype) * cast(0.5) * xp.sum(xp.abs(off_diagonal)) / cast(pairs)
        return _scalar(penalty, rows.dtype)

    def gradient(self, x):
        xp = backend.xp
        rows = self._rows(x)
        rsqrt, limit, inv_norm, normalized, off_diagonal, mask, size = self._forward(rows)
        cast = rows.dtype.type
        pairs = size * (size - 1.0) / 2.0
        with backend.errstate(divide="ignore", invalid="ignore"):
            scale = _factor(self.factor, rows.dtype) * cast(0.5) / cast(pairs)
        d_product = scale * xp.sign(off_diagonal) * mask
        d_normalized = (d_product + d_product.T) @ normalized
        d_inv_norm = xp.sum(d_normalized * rows, axis=1, keepdims=True)
        # minimum(rsqrt, limit): the gradient goes to rsqrt where rsqrt <= limit (TensorFlow's rule);
        # d rsqrt(s) / ds = -0.5 * rsqrt(s)**3 and ds/dx = 2x.
        through = xp.where(rsqrt <= limit, d_inv_norm, cast(0.0))
        with backend.errstate(invalid="ignore", over="ignore"):
            d_square_sum = xp.where(rsqrt <= limit, cast(-0.5) * through * rsqrt ** 3, cast(0.0))
        grad = d_normalized * inv_norm + d_square_sum * cast(2.0) * rows
        return grad if self.mode == "rows" else grad.T

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


# The lower-case aliases are the classes themselves, as in Keras.
l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer

_CLASSES = (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)
# Keras's ALL_OBJECTS_DICT: class names and their snake case ('l1', 'l2', 'l1l2', ...).
# (Keras's to_snake_case writes 'l1l2', not course_lib's snake_case 'l1_l2': spelled out here.)
_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update(regularizer=Regularizer, l1=L1, l2=L2, l1l2=L1L2, orthogonal_regularizer=OrthogonalRegularizer)


def serialize(regularizer):
    """Keras's saved form: ``{'module': 'keras.regularizers', 'class_name': 'L2', 'config': {...},
    'registered_name': None}``; None stays None and a string stays the string, as in Keras.

    A subclass of your own gets its module and registered name (see
    ``saving.register_keras_serializable``); a plain function is saved by
    name, as Keras does (and cannot be rebuilt from it).
    """
    if regularizer is None or isinstance(regularizer, str):
        return regularizer
    return _serialize("regularizers", regularizer, _BY_NAME)


def _serialize(module, instance, by_name):
    """Shared with :mod:`course_lib.constraints`."""
    cls = type(instance)
    if inspect.isfunction(instance):
        return {"module": "builtins", "class_name": "function", "config": instance.__name__,
                "registered_name": "function"}
    if not hasattr(instance, "get_config"):
        raise TypeError(
            f"{module}.serialize: cannot serialize {instance!r}: it has no get_config() method."
        )
    config = instance.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"The `get_config()` method of {instance} should return a dict. It returned: {config}")
    if by_name.get(cls.__name__) is cls:
        return {"module": f"keras.{module}", "class_name": cls.__name__, "config": config,
                "registered_name": None}
    return {"module": cls.__module__, "class_name": cls.__name__, "config": config,
            "registered_name": _registered_name(cls)}


def deserialize(config, custom_objects=None):
    """Rebuild a regularizer from :func:`serialize`'s output, Keras's, or a name (``'l2'``).

    Unlike Keras (whose deserialize hands an unknown name back as a string),
    an unknown name is a ValueError listing the known ones.
    """
    return _deserialize("regularizer", config, custom_objects, _BY_NAME)


def _deserialize(kind, config, custom_objects, by_name):
    """Shared with :mod:`course_lib.constraints`."""
    from course_lib import saving

    if config is None:
        return None
    # custom_objects, the global custom objects and an enclosing custom_object_scope, as Keras looks them up
    custom_objects = saving.custom_objects_in_effect(custom_objects)
    if isinstance(config, str):
        cls = saving.find_object(config, by_name, custom_objects)
        if cls is None:
            raise _unknown(kind, config, by_name)
        return cls() if inspect.isclass(cls) else cls
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"Could not interpret {kind} identifier: {config!r}. Expected a name, or a dict "
            "{'class_name': ..., 'config': {...}} as serialize() writes it."
        )
    name, registered = config["class_name"], config.get("registered_name")
    classes = dict(by_name, **custom_objects)
    cls = saving.find_object(name, by_name, custom_objects, registered)
    if name == "function" and cls is None:
        cls = classes.get(config.get("config"))
        if cls is None:
            raise ValueError(
                f"Could not interpret {kind} identifier: {config!r} names a function of your own, which "
                "cannot be rebuilt from its name; pass custom_objects={name: function}."
            )
        return cls
    if cls is None:
        raise _unknown(kind, name, by_name)
    arguments = config.get("config") or {}
    if not isinstance(arguments, dict):
        raise ValueError(f"Could not interpret {kind} identifier: 'config' must be a dict. Received: {config!r}")
    return cls.from_config(dict(arguments))


def _unknown(kind, identifier, by_name):
    return ValueError(
        f"Could not interpret {kind} identifier: {identifier}. Known names: {sorted(by_name)} "
        "(or pass an instance, a class, a callable or a serialized dict)."
    )


def _get(kind, identifier, by_name, deserialize_function):
    """The shared body of ``regularizers.get`` and ``constraints.get``."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize_function(identifier)
    elif isinstance(identifier, str):
        obj = deserialize_function(identifier)  # a built-in name, or a custom one in the custom objects
    else:
        obj = identifier
    if callable(obj):
        return obj() if inspect.isclass(obj) else obj
    raise ValueError(f"Could not interpret {kind} identifier: {identifier}")


def get(identifier):
    """The regularizer an identifier stands for (Keras's ``regularizers.get``).

    Args:
        identifier: None (returns None); a name with Keras's default factors
            (``'l1'``, ``'l2'``: 0.01; ``'l1l2'``: 0 and 0; ``'L2'``, ...); a
            serialized dict; a class (instantiated with its defaults); an
            instance or any callable (returned as it is).

    Raises:
        ValueError: for an unknown name, listing the known ones, or anything
            that is not callable.
    """
    return _get("regularizer", identifier, _BY_NAME, deserialize)


def gradient(regularizer, x, where="course_lib"):
    """``regularizer.gradient(x)``, or a clear error for a plain function that has none."""
    compute = getattr(regularizer, "gradient", None)
    if compute is None:
        raise TypeError(
            f"{where}: the regularizer {regularizer!r} has no `gradient(x)` method. course_lib has no "
            "automatic differentiation, so a regularizer used in training must give the derivative of "
            "its penalty: subclass course_lib.regularizers.Regularizer and write __call__(x) and gradient(x)."
        )
    return compute(x)


def _registered_name(cls):
    """The name the class itself is registered under (a subclass of a registered class is not registered)."""
    from course_lib import saving  # saving reads the regularizers' configs

    return saving.get_registered_name(cls)
