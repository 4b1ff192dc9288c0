"""Reverse-mode automatic differentiation by tracing (自动微分): how a Lambda layer gets its backward.

Every other layer in course_lib has a backward pass written by hand. A
``Lambda`` layer wraps *any* function of arrays, so its backward has to be
derived from the function itself. This module does that the way TensorFlow's
``GradientTape`` and PyTorch's autograd do, in about five hundred lines.

**Tracing.** The function is called on :class:`Traced` arrays instead of plain
ones. A Traced array holds a plain array (its ``value``) and behaves like it:
``x * 2``, ``np.sqrt(x)``, ``np.sum(x, axis=-1)`` and ``x[:, 0]`` all work,
because NumPy hands any operation on an object with ``__array_ufunc__`` /
``__array_function__`` to that object. Each operation computes its result on
the plain values, as usual, and wraps it in a new Traced array that remembers
its *parents* (the Traced operands) and, for each parent, a small function:
its **vector-Jacobian product** (VJP). The program the function ran is thus
recorded as a graph, from the inputs to the outputs.

**The backward walk.** For a loss ``L`` and an output ``y = f(a, b)``, the
chain rule says ``dL/da = dL/dy · dy/da``. The VJP of ``f`` with respect to
``a`` is exactly the map ``g -> g · dy/da`` for an upstream gradient ``g``
shaped like ``y``: for ``y = a * b`` it is ``g * b``; for ``y = exp(a)`` it is
``g * y``; for ``y = a.sum(axis=1)`` it is ``g`` broadcast back along axis 1.
:func:`backward` starts from the gradients of the outputs (what the next
layer's backward sent), visits the recorded operations from the last to the
first (a reverse topological order, so every consumer of a value is visited
before the value itself) and sends each operation's gradient through its VJPs
to its parents. Where one value fed several operations (``x * x``, or ``x``
used twice), the gradients arriving from each use are **summed**: that is the
multivariable chain rule. One backward walk costs about as much as the
forward pass, whatever the number of inputs: that is why reverse mode (and
not forward mode, which carries one derivative per input) is what deep
learning uses.

**Broadcasting.** ``a + b`` with ``a`` of shape (4, 3) and ``b`` of shape (3,)
uses each entry of ``b`` four times, so the gradient of ``b`` sums ``g`` over
the broadcast axis: :func:`unbroadcast` sums a gradient back down to its
operand's shape. Indexing is the same idea in reverse: ``x[[0, 0, 2]]`` reads
row 0 twice, so the backward *scatter-adds* both rows of ``g`` into row 0.

**Constants and limits.** Plain arrays and numbers used in a traced function
are constants: they get no gradient. Comparisons (``x > 0``) give plain
boolean arrays, so ``np.where(x > 0, x, 0.0)`` traces with a constant
condition. The gradient of ``max``/``min`` reductions goes to the positions
that reach the extreme, split evenly among ties (TensorFlow's
``reduce_max`` convention); the element-wise ``maximum(a, b)`` gives it to
``a`` where ``a >= b`` (``minimum``: ``a <= b``), as ``tf.maximum`` does;
``abs`` has gradient 0 at 0. An operation this module does not know raises
:class:`UnsupportedOperation` (a ``TypeError``) naming it, never a silent
wrong gradient; so does turning a Traced array into a plain one
(``np.asarray(x)``, ``float(x)``), which would cut the graph. A course_lib
:class:`~course_lib.variables.Variable` met by a traced operation raises
:class:`VariableInTrace`: the traced graph ends at the function's inputs, so
a weight used inside would never receive a gradient.

Example::

    from course_lib import autodiff
    x = autodiff.Traced(xp.asarray([1.0, 2.0, 3.0]))
    y = np.sum(x ** 2)                      # a Traced scalar: 14.0
    (dx,) = autodiff.backward([y], [1.0], [x])   # 2 * x = [2., 4., 6.]
"""
from __future__ import annotations

import math
import numbers

from course_lib import backend
from course_lib.variables import Variable


class UnsupportedOperation(TypeError):
    """A traced function used an operation the autodiff has no gradient for.

    Attributes:
        operation: the operation's name, as the message gives it (``'numpy.fft.fft'``).
    """

    def __init__(self, operation, detail=""):
        self.operation = operation
        super().__init__(
            f"autodiff: {operation} is not supported on traced arrays{': ' + detail if detail else ''}. "
            f"Supported: the operators + - * / ** @ (and reflected), unary -, abs(), indexing, the methods "
            f"{', '.join(_METHODS)}, the ufuncs {', '.join(sorted(_UFUNC_NAMES))}, and numpy.{{"
            f"{', '.join(sorted(_FUNCTIONS))}}}."
        )


class VariableInTrace(TypeError):
    """A course_lib Variable was used in a traced operation: it would get no gradient."""


# ----------------------------------------------------------------- helpers
def _xp():
    return backend.xp


def _value(item, operation):
    """The plain array behind ``item`` (a Traced array's value; a constant as it is)."""
    if isinstance(item, Traced):
        return item.value
    if isinstance(item, Variable):
        raise VariableInTrace(
            f"autodiff: the course_lib Variable '{item.path}' was used in {operation} together with a "
            "traced array. A traced function (a Lambda layer's) differentiates only with respect to its "
            "inputs, so this weight would never receive a gradient and never train. Create the weight in a "
            "Layer subclass with add_weight() and write its forward/backward."
        )
    if isinstance(item, (list, tuple)):
        return type(item)(_value(part, operation) for part in item)
    return item


def _make(value, parents):
    """A Traced result with ``parents`` = [(operand, vjp)]; constant operands are dropped."""
    kept = tuple((operand, vjp) for operand, vjp in parents if isinstance(operand, Traced))
    if not kept:
        return value
    return Traced(value, kept)


def _shape(value):
    return tuple(getattr(value, "shape", ()))


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the gradient of an operand that broadcasting stretched."""
    shape = tuple(shape)
    grad_shape = _shape(grad)
    if grad_shape == shape:
        return grad
    xp = _xp()
    extra = len(grad_shape) - len(shape)
    if extra > 0:
        grad = xp.sum(grad, axis=tuple(range(extra)))
    axes = tuple(axis for axis, size in enumerate(shape) if size == 1 and _shape(grad)[axis] != 1)
    if axes:
        grad = xp.sum(grad, axis=axes, keepdims=True)
    return xp.reshape(grad, shape)


def _axes(axis, ndim):
    """The reduced axes as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    return tuple(sorted(int(a) % ndim if ndim else 0 for a in axes))


def _kept_shape(shape, axes):
    return tuple(1 if axis in axes else size for axis, size in enumerate(shape))


def _reject(operation, **given):
    for name, value in given.items():
        if value is not None and value is not False:
            raise UnsupportedOperation(f"{operation} with {name}=", f"received {name}={value!r}")


# ------------------------------------------------------- element-wise ops
def _unary(name, x, compute, vjp):
    value = _value(x, f"numpy.{name}")
    out = compute(value)
    return _make(out, [(x, lambda g: vjp(g, value, out))])


def _ufunc_sign(value):
    return _xp().sign(value)


_UNARY = {
    "negative": (lambda v: -v, lambda g, v, o: -g),
    "positive": (lambda v: +v, lambda g, v, o: g),
    "absolute": (lambda v: _xp().absolute(v), lambda g, v, o: g * _ufunc_sign(v)),
    "exp": (lambda v: _xp().exp(v), lambda g, v, o: g * o),
    "expm1": (lambda v: _xp().expm1(v), lambda g, v, o: g * (o + 1)),
    "log": (lambda v: _xp().log(v), lambda g, v, o: g / v),
    "log1p": (lambda v: _xp().log1p(v), lambda g, v, o: g / (v + 1)),
    "sqrt": (lambda v: _xp().sqrt(v), lambda g, v, o: g / (2 * o)),
    "square": (lambda v: _xp().square(v), lambda g, v, o: g * 2 * v),
    "reciprocal": (lambda v: _xp().reciprocal(v), lambda g, v, o: -g * o * o),
    "tanh": (lambda v: _xp().tanh(v), lambda g, v, o: g * (1 - o * o)),
    "sin": (lambda v: _xp().sin(v), lambda g, v, o: g * _xp().cos(v)),
    "cos": (lambda v: _xp().cos(v), lambda g, v, o: -g * _xp().sin(v)),
}

# Ufuncs whose result carries no gradient (booleans, or piecewise-constant functions).
_CONSTANT_UFUNCS = {
    "greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "logical_and", "logical_or",
    "logical_xor", "logical_not", "isfinite", "isnan", "isinf", "signbit", "sign", "floor", "ceil", "rint",
    "trunc",
}


def _matmul_vjps(a, b):
    xp = _xp()
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b

    def lift(g):
        if a.ndim == 1 and b.ndim == 1:
            return xp.reshape(g, (1, 1))
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        if b.ndim == 1:
            g = xp.expand_dims(g, -1)
        return g

    def grad_a(g):
        da = xp.matmul(lift(g), xp.swapaxes(b2, -1, -2))
        return xp.reshape(unbroadcast(da, a2.shape), a.shape)

    def grad_b(g):
        db = xp.matmul(xp.swapaxes(a2, -1, -2), lift(g))
        return xp.reshape(unbroadcast(db, b2.shape), b.shape)

    return grad_a, grad_b


def _binary(name, a, b):
    """``a <name> b`` for a Traced on either side, with each operand's gradient unbroadcast to its shape."""
    xp = _xp()
    operation = f"numpy.{name}"
    va, vb = _value(a, operation), _value(b, operation)
    if name == "matmul":
        va, vb = xp.asarray(va), xp.asarray(vb)
        out = xp.matmul(va, vb)
        grad_a, grad_b = _matmul_vjps(va, vb)
        return _make(out, [(a, grad_a), (b, grad_b)])
    out = getattr(xp, name)(va, vb)
    sa, sb = _shape(va), _shape(vb)
    if name == "add":
        da, db = (lambda g: g), (lambda g: g)
    elif name == "subtract":
        da, db = (lambda g: g), (lambda g: -g)
    elif name == "multiply":
        da, db = (lambda g: g * vb), (lambda g: g * va)
    elif name == "divide":
        da, db = (lambda g: g / vb), (lambda g: -g * out / vb)
    elif name == "power":
        def da(g):
            return g * vb * va ** (vb - 1)

        def db(g):
            positive = va > 0
            return g * out * xp.where(positive, xp.log(xp.where(positive, va, 1)), 0)
    elif name == "maximum":
        da, db = (lambda g: g * (va >= vb)), (lambda g: g * (va < vb))
    elif name == "minimum":
        da, db = (lambda g: g * (va <= vb)), (lambda g: g * (va > vb))
    else:  # pragma: no cover - _BINARY lists the names
        raise UnsupportedOperation(operation)
    return _make(out, [(a, lambda g: unbroadcast(da(g), sa)), (b, lambda g: unbroadcast(db(g), sb))])


_BINARY = {"add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "matmul"}
_UFUNC_NAMES = set(_UNARY) | _BINARY | _CONSTANT_UFUNCS


def _constant(name, args, kwargs):
    operation = f"numpy.{name}"
    return getattr(_xp(), name)(*_value(args, operation), **_value(kwargs, operation))


# ------------------------------------------------------------- functions
def _sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _reject("numpy.sum", out=out, initial=initial, where=where)
    value = _value(a, "numpy.sum")
    result = _xp().sum(value, axis=axis, dtype=dtype, keepdims=keepdims)
    shape, axes = _shape(value), _axes(axis, value.ndim)

    def vjp(g):
        g = _xp().reshape(g, _kept_shape(shape, axes))
        return _xp().broadcast_to(g, shape).astype(value.dtype, copy=False)

    return _make(result, [(a, vjp)])


def _mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    _reject("numpy.mean", out=out, where=where)
    value = _value(a, "numpy.mean")
    result = _xp().mean(value, axis=axis, dtype=dtype, keepdims=keepdims)
    shape, axes = _shape(value), _axes(axis, value.ndim)
    count = math.prod(shape[axis] for axis in axes)

    def vjp(g):
        g = _xp().reshape(g, _kept_shape(shape, axes)) / count
        return _xp().broadcast_to(g, shape).astype(value.dtype, copy=False)

    return _make(result, [(a, vjp)])


def _extreme(name):
    def reduce(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        _reject(f"numpy.{name}", out=out, initial=initial, where=where)
        xp = _xp()
        value = _value(a, f"numpy.{name}")
        result = getattr(xp, name)(value, axis=axis, keepdims=keepdims)
        shape, axes = _shape(value), _axes(axis, value.ndim)

        def vjp(g):
            kept = _kept_shape(shape, axes)
            hits = value == xp.reshape(result, kept)
            count = xp.sum(hits, axis=axes, keepdims=True)
            return hits * (xp.reshape(g, kept) / count).astype(value.dtype, copy=False)

        return _make(result, [(a, vjp)])

    return reduce


def _reshape(a, *args, shape=None, order="C", newshape=None, copy=None):
    if order != "C":
        raise UnsupportedOperation("numpy.reshape with order=", f"received order={order!r}")
    shape = args if shape is None and newshape is None else ((newshape if shape is None else shape),)
    if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
        shape = shape[0]
    value = _value(a, "numpy.reshape")
    original = _shape(value)
    return _make(_xp().reshape(value, shape), [(a, lambda g: _xp().reshape(g, original))])


def _transpose(a, axes=None):
    value = _value(a, "numpy.transpose")
    ndim = value.ndim
    axes = tuple(reversed(range(ndim))) if axes is None else tuple(int(axis) % ndim for axis in axes)
    inverse = [0] * ndim
    for position, axis in enumerate(axes):
        inverse[axis] = position
    return _make(_xp().transpose(value, axes), [(a, lambda g: _xp().transpose(g, inverse))])


def _swapaxes(a, axis1, axis2):
    value = _value(a, "numpy.swapaxes")
    return _make(_xp().swapaxes(value, axis1, axis2), [(a, lambda g: _xp().swapaxes(g, axis1, axis2))])


def _expand_dims(a, axis):
    value = _value(a, "numpy.expand_dims")
    original = _shape(value)
    return _make(_xp().expand_dims(value, axis), [(a, lambda g: _xp().reshape(g, original))])


def _squeeze(a, axis=None):
    value = _value(a, "numpy.squeeze")
    original = _shape(value)
    return _make(_xp().squeeze(value, axis=axis), [(a, lambda g: _xp().reshape(g, original))])


def _broadcast_to(a, shape, subok=False):
    value = _value(a, "numpy.broadcast_to")
    original = _shape(value)
    return _make(_xp().broadcast_to(value, shape), [(a, lambda g: unbroadcast(g, original))])


def _concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    _reject("numpy.concatenate", out=out, dtype=dtype)
    arrays = list(arrays)
    values = [_xp().asarray(v) for v in _value(arrays, "numpy.concatenate")]
    result = _xp().concatenate(values, axis=axis)
    parents, offset = [], 0
    for item, value in zip(arrays, values):
        size = value.size if axis is None else value.shape[axis]

        def vjp(g, start=offset, stop=offset + size, shape=value.shape):
            if axis is None:
                return _xp().reshape(g[start:stop], shape)
            index = [slice(None)] * g.ndim
            index[axis] = slice(start, stop)
            return g[tuple(index)]

        parents.append((item, vjp))
        offset += size
    return _make(result, parents)


def _stack(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    _reject("numpy.stack", out=out, dtype=dtype)
    arrays = list(arrays)
    values = _value(arrays, "numpy.stack")
    result = _xp().stack(values, axis=axis)
    return _make(result, [
        (item, lambda g, i=i: _xp().take(g, i, axis=axis)) for i, item in enumerate(arrays)
    ])


_NO_VALUE = object()


def _clip(a, a_min=_NO_VALUE, a_max=_NO_VALUE, out=None, *, min=_NO_VALUE, max=_NO_VALUE, **kwargs):
    _reject("numpy.clip", out=out, **kwargs)
    low = None if a_min is _NO_VALUE else a_min
    high = None if a_max is _NO_VALUE else a_max
    low = low if min is _NO_VALUE else min
    high = high if max is _NO_VALUE else max
    if isinstance(low, Traced) or isinstance(high, Traced):
        raise UnsupportedOperation("numpy.clip with traced bounds", "the bounds must be constants")
    xp = _xp()
    value = _value(a, "numpy.clip")
    low, high = _value(low, "numpy.clip"), _value(high, "numpy.clip")
    result = xp.clip(value, low, high)

    def vjp(g):
        inside = xp.ones(_shape(value), dtype=bool)
        if low is not None:
            inside = inside & (value >= low)
        if high is not None:
            inside = inside & (value <= high)
        return g * inside  # TensorFlow's clip_by_value: the bounds themselves pass the gradient

    return _make(result, [(a, vjp)])


def _where(condition, *branches):
    if len(branches) != 2:
        raise UnsupportedOperation("numpy.where with one argument", "it gives indices, not values")
    xp = _xp()
    x, y = branches
    condition = xp.asarray(_value(condition, "numpy.where")).astype(bool)
    vx, vy = _value(x, "numpy.where"), _value(y, "numpy.where")
    result = xp.where(condition, vx, vy)
    sx, sy = _shape(vx), _shape(vy)
    return _make(result, [
        (x, lambda g: unbroadcast(xp.where(condition, g, xp.zeros((), g.dtype)), sx)),
        (y, lambda g: unbroadcast(xp.where(condition, xp.zeros((), g.dtype), g), sy)),
    ])


def _dot(a, b, out=None):
    _reject("numpy.dot", out=out)
    ndims = (_xp().ndim(_value(a, "numpy.dot")), _xp().ndim(_value(b, "numpy.dot")))
    if 0 in ndims:
        return _binary("multiply", a, b)
    if max(ndims) > 2:
        raise UnsupportedOperation("numpy.dot of arrays of rank > 2", "use numpy.matmul or @")
    return _binary("matmul", a, b)


def _constant_function(name):
    def compute(*args, **kwargs):
        return _constant(name, args, kwargs)

    return compute


_FUNCTIONS = {
    "sum": _sum, "mean": _mean, "max": _extreme("max"), "amax": _extreme("max"), "min": _extreme("min"),
    "amin": _extreme("min"), "reshape": _reshape, "transpose": _transpose, "swapaxes": _swapaxes,
    "expand_dims": _expand_dims, "squeeze": _squeeze, "broadcast_to": _broadcast_to,
    "concatenate": _concatenate, "stack": _stack, "clip": _clip, "where": _where, "dot": _dot,
    # Results without a gradient (metadata, or arrays that do not depend on the values):
    "shape": _constant_function("shape"), "ndim": _constant_function("ndim"), "size": _constant_function("size"),
    "zeros_like": _constant_function("zeros_like"), "ones_like": _constant_function("ones_like"),
    "full_like": _constant_function("full_like"),
}

_METHODS = ("reshape", "transpose", "sum", "mean", "max", "min", "astype", "squeeze", "swapaxes", "ravel",
            "flatten", "copy", ".T", ".shape", ".ndim", ".dtype", ".size")


def _is_advanced(index):
    """Whether ``index`` holds an array or a list (NumPy's advanced indexing: entries may repeat)."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(
        not (part is None or part is Ellipsis or isinstance(part, (slice, numbers.Integral))) for part in parts
    )


def _unwrap_index(index):
    if isinstance(index, Traced):
        return index.value
    if isinstance(index, tuple):
        return tuple(_unwrap_index(part) for part in index)
    return index


def _getitem(x, index):
    xp = _xp()
    index = _unwrap_index(index)
    value = x.value
    result = value[index]
    shape, size = value.shape, value.size

    def vjp(g):
        if not _is_advanced(index):
            grad = xp.zeros(shape, dtype=g.dtype)
            grad[index] = g
            return grad
        # A repeated index reads an entry several times: scatter-ADD its gradients (one bincount).
        positions = xp.reshape(xp.arange(size).reshape(shape)[index], (-1,))
        flat = xp.bincount(positions, weights=xp.reshape(xp.broadcast_to(g, result.shape), (-1,)), minlength=size)
        return xp.reshape(flat.astype(g.dtype, copy=False), shape)

    return _make(result, [(x, vjp)])


# ----------------------------------------------------------------- Traced
class Traced:
    """An array that records every operation done to it, for :func:`backward`.

    Args:
        value: the plain array (of ``backend.xp``) it stands for.
        parents: internal: ``((operand, vjp), ...)`` of the operation that made it;
            empty for an input (a leaf of the graph).

    It answers ``shape``, ``ndim``, ``dtype``, ``size``, ``T`` and ``len()`` as
    its value does, and the operations listed in :class:`UnsupportedOperation`.
    """

    __array_priority__ = 1000.0  # NumPy: our reflected operators win over ndarray's

    def __init__(self, value, parents=()):
        self.value = value
        self._parents = parents

    # --------------------------------------------------------- metadata
    shape = property(lambda self: _shape(self.value))
    ndim = property(lambda self: len(_shape(self.value)))
    dtype = property(lambda self: self.value.dtype)
    size = property(lambda self: math.prod(_shape(self.value)))

    def __len__(self):
        return len(self.value)

    def __repr__(self):
        return f"Traced({self.value!r})"

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        return bool(self.value)

    # ------------------------------------------------- NumPy's protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = ufunc.__name__
        if method != "__call__":
            raise UnsupportedOperation(f"numpy.{name}.{method}")
        if name in _CONSTANT_UFUNCS:
            return _constant(name, inputs, kwargs)
        if kwargs:
            raise UnsupportedOperation(f"numpy.{name} with {sorted(kwargs)}", "no out=, where=, dtype= in a trace")
        if name in _UNARY and len(inputs) == 1:
            compute, vjp = _UNARY[name]
            return _unary(name, inputs[0], compute, vjp)
        if name in _BINARY and len(inputs) == 2:
            return _binary(name, *inputs)
        raise UnsupportedOperation(f"numpy.{name}")

    def __array_function__(self, func, types, args, kwargs):
        name = getattr(func, "__name__", repr(func))
        module = getattr(func, "__module__", "") or ""
        handler = _FUNCTIONS.get(name) if module == "numpy" else None
        if handler is None:
            raise UnsupportedOperation(f"{module}.{name}" if module else name)
        return handler(*args, **kwargs)

    def __array__(self, dtype=None, copy=None):
        raise UnsupportedOperation(
            "conversion of a traced array to a plain one (numpy.asarray, numpy.array, a NumPy "
            "function that copies its argument)", "it would cut the graph"
        )

    def __float__(self):
        raise UnsupportedOperation("float() of a traced array", "it would cut the graph")

    def __int__(self):
        raise UnsupportedOperation("int() of a traced array", "it would cut the graph")

    # ------------------------------------------------------ operators
    def __add__(self, other):
        return _binary("add", self, other)

    def __radd__(self, other):
        return _binary("add", other, self)

    def __sub__(self, other):
        return _binary("subtract", self, other)

    def __rsub__(self, other):
        return _binary("subtract", other, self)

    def __mul__(self, other):
        return _binary("multiply", self, other)

    def __rmul__(self, other):
        return _binary("multiply", other, self)

    def __truediv__(self, other):
        return _binary("divide", self, other)

    def __rtruediv__(self, other):
        return _binary("divide", other, self)

    def __pow__(self, other):
        return _binary("power", self, other)

    def __rpow__(self, other):
        return _binary("power", other, self)

    def __matmul__(self, other):
        return _binary("matmul", self, other)

    def __rmatmul__(self, other):
        return _binary("matmul", other, self)

    def __neg__(self):
        return _unary("negative", self, *_UNARY["negative"])

    def __pos__(self):
        return self

    def __abs__(self):
        return _unary("absolute", self, *_UNARY["absolute"])

    def _compare(name):
        def compare(self, other):
            return _constant(name, (self, other), {})

        return compare

    __lt__, __le__ = _compare("less"), _compare("less_equal")
    __gt__, __ge__ = _compare("greater"), _compare("greater_equal")
    __eq__, __ne__ = _compare("equal"), _compare("not_equal")
    __hash__ = object.__hash__
    del _compare

    def __floordiv__(self, other):
        raise UnsupportedOperation("// (numpy.floor_divide)")

    __rfloordiv__ = __floordiv__

    def __mod__(self, other):
        raise UnsupportedOperation("% (numpy.remainder)")

    __rmod__ = __mod__

    def __getitem__(self, index):
        return _getitem(self, index)

    def __setitem__(self, index, value):
        raise UnsupportedOperation("item assignment (x[...] = ...)", "build a new array, e.g. with numpy.where")

    # -------------------------------------------------------- methods
    @property
    def T(self):
        return _transpose(self)

    def reshape(self, *shape, order="C"):
        return _reshape(self, *shape, order=order)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], numbers.Integral)):
            axes = axes[0]
        return _transpose(self, axes or None)

    def swapaxes(self, axis1, axis2):
        return _swapaxes(self, axis1, axis2)

    def sum(self, axis=None, dtype=None, keepdims=False):
        return _sum(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, keepdims=False):
        return _mean(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _FUNCTIONS["max"](self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _FUNCTIONS["min"](self, axis=axis, keepdims=keepdims)

    def squeeze(self, axis=None):
        return _squeeze(self, axis=axis)

    def ravel(self):
        return _reshape(self, -1)

    flatten = ravel

    def copy(self):
        return _make(self.value.copy(), [(self, lambda g: g)])

    def astype(self, dtype, copy=True):
        """A cast; to an integer or boolean type the result is a constant (no gradient)."""
        value = self.value
        result = value.astype(dtype)
        if result.dtype.kind not in "fc":
            return result
        return _make(result, [(self, lambda g: g.astype(value.dtype, copy=False))])


# --------------------------------------------------------------- backward
def _topological_order(outputs):
    """Every Traced array the outputs depend on, each after all of its parents."""
    order, seen = [], set()
    for output in outputs:
        if not isinstance(output, Traced) or id(output) in seen:
            continue
        stack = [(output, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for parent, _ in node._parents:
                if id(parent) not in seen:
                    stack.append((parent, False))
    return order


def backward(outputs, output_grads, inputs):
    """Reverse mode: the gradients of ``sum(output * output_grad)`` with respect to each input.

    Args:
        outputs: the traced function's outputs (Traced arrays; constants are skipped).
        output_grads: one upstream gradient per output (None: that output is unused).
        inputs: the Traced inputs (leaves) whose gradients are wanted.

    Returns:
        One gradient per input, shaped like it (zeros where no output depends on it).
    """
    xp = backend.xp
    grads = {}
    for output, grad in zip(outputs, output_grads):
        if isinstance(output, Traced) and grad is not None:
            grad = xp.asarray(grad)
            grads[id(output)] = grad if id(output) not in grads else grads[id(output)] + grad
    wanted = {id(item) for item in inputs}
    for node in reversed(_topological_order(outputs)):
        grad = grads.get(id(node)) if id(node) in wanted else grads.pop(id(node), None)
        if grad is None:
            continue
        for parent, vjp in node._parents:
            contribution = vjp(grad)
            key = id(parent)
            grads[key] = contribution if key not in grads else grads[key] + contribution  # a value used twice
    results = []
    for item in inputs:
        grad = grads.get(id(item))
        grad = None if grad is None else xp.asarray(grad)
        if grad is None:
            grad = xp.zeros(item.shape, dtype=item.dtype)
        elif not backend.is_writeable(grad) or _shape(grad) != item.shape:
            grad = xp.array(xp.broadcast_to(grad, item.shape))  # a fresh array the caller may keep
        results.append(grad)
    return results


def vjp(function, *inputs, **kwargs):
    """Trace ``function(*inputs, **kwargs)``: ``(outputs, pullback)`` with ``pullback(output_grads) -> input grads``.

    ``outputs`` are plain arrays (a list when the function returns several);
    ``pullback`` takes one upstream gradient per output (a single array for a
    single output) and returns one gradient per input.
    """
    leaves = [Traced(backend.xp.asarray(item)) for item in inputs]
    result = function(*leaves, **kwargs)
    several = isinstance(result, (list, tuple))
    outputs = list(result) if several else [result]

    def pullback(output_grads):
        return backward(outputs, list(output_grads) if several else [output_grads], leaves)

    plain = [item.value if isinstance(item, Traced) else item for item in outputs]
    return (plain if several else plain[0]), pullback
