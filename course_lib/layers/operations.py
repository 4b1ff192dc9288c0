"""The operations Keras 3 records for arithmetic on symbolic tensors (``x + y``, ``x * 0.5``, ``-x`` ...).

In Keras 3, ``x + residual`` on two KerasTensors is not a layer: it calls
``keras.ops.Add`` (keras/src/ops/numpy.py), and the functional model records
that *operation* as a node of its graph. A model lists it in
``model.operations`` and in its summary, never in ``model.layers``; its
config writes it with ``"module": "keras.src.ops.numpy"``, its class name,
``{"name": ...}`` and the call's arguments (a constant operand as a plain
number, a NumPy array as ``{"class_name": "__numpy__", ...}``).

Here an operation is a :class:`~course_lib.layers.base.Layer` with
``is_operation = True``, so that one engine runs it: each object records
ONE call (Keras makes a new one per operator), keeps that call's constant
operands, and has a pure forward and backward like any layer (gradients
summed back over broadcast axes; none for a constant operand). Automatic
names share Keras's counters with the layers: ``add``, then a layer ``Add``
is ``add_1``.

The dtype of the result follows Keras's ``dtypes.result_type``: a Python
number is "weak" (``float32_tensor + 1.0`` stays float32, an integer tensor
plus a float becomes floatx), a tensor or NumPy array is "strong" (floats
win over integers, the wider float over the narrower one).
"""
from __future__ import annotations

import numbers

from course_lib import backend
from course_lib.layers.base import KerasTensor, Layer, Node

KERAS_MODULE = "keras.src.ops.numpy"


def _is_number(value):
    return isinstance(value, numbers.Number) and not hasattr(value, "dtype")


def _constant(op_name, value):
    """A call's non-tensor operand: a Python number as is, anything array-like as an array."""
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":  # as Keras writes arrays in configs
        config = value.get("config", {})
        return backend.xp.asarray(config.get("value"), dtype=config.get("dtype"))
    if _is_number(value):
        return value
    if isinstance(value, (Layer, str)) or value is None:
        raise TypeError(
            f"{op_name}: an operand must be a symbolic tensor, a Python number or an array. "
            f"Received: {value!r} (of type {type(value).__name__})"
        )
    try:
        array = backend.xp.asarray(value)
    except (TypeError, ValueError):
        array = None
    if array is None or array.dtype.kind not in "biuf":
        raise TypeError(
            f"{op_name}: an operand must be a symbolic tensor, a Python number or a numeric array. "
            f"Received: {value!r} (of type {type(value).__name__})"
        )
    return array


def _kind(dtype):
    return backend.xp.dtype(dtype).kind


def result_dtype(operands, floats_only=False):
    """Keras's ``dtypes.result_type`` of the operands (KerasTensors, arrays, Python numbers)."""
    xp = backend.xp
    strong = [str(item.dtype) for item in operands if isinstance(item, KerasTensor) or hasattr(item, "dtype")]
    weak_float = any(_is_number(item) and isinstance(item, float) for item in operands)
    floats = [name for name in strong if _kind(name) == "f"]
    if floats:
        return max(floats, key=lambda name: xp.dtype(name).itemsize)
    if not strong:
        return backend.floatx()
    if weak_float or floats_only:
        return backend.floatx()
    if all(_kind(name) == "b" for name in strong):
        return "bool"
    return str(xp.result_type(*[xp.dtype(name) for name in strong if _kind(name) != "b"]))


def broadcast_shapes(op_name, shape1, shape2):
    """Keras's ``broadcast_shapes`` (``None`` is an unknown size; ``None`` against 1 stays ``None``)."""
    first, second = list(shape1), list(shape2)
    if len(first) < len(second):
        first = [1] * (len(second) - len(first)) + first
    if len(second) < len(first):
        second = [1] * (len(first) - len(second)) + second
    output = []
    for a, b in zip(first, second):
        if a == 1:
            output.append(b)
        elif a is None:
            output.append(None if b == 1 else b)
        elif b == 1 or b is None or b == a:
            output.append(a)
        else:
            raise ValueError(
                f"{op_name}: cannot broadcast the operands' shapes: size {a} against {b}. "
                f"Received: shapes {tuple(shape1)} and {tuple(shape2)}"
            )
    return tuple(output)


def _unbroadcast(grad, shape):
    """Sum ``grad`` over the axes broadcasting added or stretched, back to ``shape``."""
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(axis for axis, size in enumerate(shape) if size == 1 and grad.shape[axis] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


class Operation(Layer):
    """Base of the recorded operations: one call, its constants, a pure forward and backward.

    Args:
        name: Keras's automatic name (``add``, ``true_divide_1``) when None.

    Subclasses set ``arity`` and write ``compute(operands)``, ``gradients(g,
    operands, output)`` (one gradient per operand, before unbroadcasting) and,
    when the result is not a broadcast, ``output_shape(shapes)``.
    """

    is_operation = True
    keeps_integers = True
    # Keras's operations take no mask and pass none on; the engine drops a mask here silently.
    uses_mask = True
    arity = 2
    floats_only = False

    def __init__(self, name=None):
        Layer.__init__(self, name=name)
        self.built = True
        self._template = None       # per operand: ("tensor", position among the tensors) or ("constant", value)
        self._result_dtype = None

    # ----------------------------------------------------------- recording
    def __call__(self, *operands, **kwargs):
        op_name = type(self).__name__
        if kwargs:
            raise TypeError(f"{op_name}: unrecognized call arguments: {sorted(kwargs)}.")
        if len(operands) != self.arity:
            raise TypeError(f"{op_name}: expected {self.arity} operand(s). Received: {len(operands)}")
        operands = [item if isinstance(item, KerasTensor) else _constant(op_name, item) for item in operands]
        if not any(isinstance(item, KerasTensor) for item in operands):
            self._result_dtype = result_dtype(operands, self.floats_only)
            return self.compute([backend.xp.asarray(item, dtype=self._result_dtype) for item in operands])
        return self._symbolic_call(operands)

    def _symbolic_call(self, operands):
        op_name = type(self).__name__
        if self._inbound_nodes:
            raise ValueError(
                f"{op_name} '{self.name}' already records a call: an operation object stands for ONE "
                "call in the graph (Keras makes a new one per operator). Apply the operator again instead."
            )
        tensors, template = [], []
        for item in operands:
            if isinstance(item, KerasTensor):
                template.append(("tensor", len(tensors)))
                tensors.append(item)
            else:
                template.append(("constant", item))
        shapes = [tuple(item.shape) if isinstance(item, KerasTensor) else tuple(backend.xp.shape(item))
                  for item in operands]
        shape = self.output_shape(shapes)
        self._template = template
        self._result_dtype = result_dtype(operands, self.floats_only)
        node = Node(self, tensors, [], inputs_are_list=True)
        node.outputs.append(KerasTensor(shape, self._result_dtype, node=node, index=0, name=self.name))
        self._inbound_nodes.append(node)
        return node.outputs[0]

    def output_shape(self, shapes):
        if len(shapes) == 1:
            return shapes[0]
        return broadcast_shapes(type(self).__name__, *shapes)

    def call_arguments(self, node):
        """Keras's record of the call: ``(args, kwargs)``, constants in place (arrays as ``__numpy__``)."""
        args = []
        for kind, value in self._template:
            if kind == "tensor":
                args.append(node.inputs[value])
            elif _is_number(value):
                args.append(value)
            else:
                args.append({"class_name": "__numpy__",
                             "config": {"value": value.tolist(), "dtype": str(value.dtype)}})
        return args, {}

    def replay(self, tensors):
        """The same call (same class, same constants) on other tensors: a new operation (clone_model)."""
        operands = [tensors[value] if kind == "tensor" else value for kind, value in self._template]
        return type(self)()(*operands)

    # ------------------------------------------------------ forward/back
    def _autocast(self, value):
        return value  # the operands take the result dtype in forward

    def _operands(self, inputs):
        xp = backend.xp
        values = [inputs[value] if kind == "tensor" else value for kind, value in self._template]
        return [xp.asarray(value, dtype=self._result_dtype) for value in values]

    def forward(self, inputs, training=False, mask=None):
        operands = self._operands(inputs)
        output = self.compute(operands)
        return output, (operands, output)

    def backward(self, output_grads, cache):
        operands, output = cache
        grads = self.gradients(output_grads, operands, output)
        input_grads = [None] * sum(1 for kind, _ in self._template if kind == "tensor")
        for (kind, position), operand, grad in zip(self._template, operands, grads):
            if kind == "tensor" and _kind(operand.dtype) == "f":
                input_grads[position] = self.reduce_gradient(grad, operand)
        return input_grads, {}

    def reduce_gradient(self, grad, operand):
        return _unbroadcast(grad, operand.shape)

    # ------------------------------------------------------ serialization
    def get_config(self):
        """Keras's config of an operation: its name alone."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def serialize(self):
        """The entry Keras writes for an operation in a functional model's ``layers`` (no build config)."""
        class_name = type(self).__name__
        return {"module": KERAS_MODULE, "class_name": class_name, "config": self.get_config(),
                "registered_name": class_name}

    def __repr__(self):
        return f"<{type(self).__name__} operation name={self.name}>"


class Add(Operation):
    """``x1 + x2`` (``keras.ops.add``)."""

    def compute(self, operands):
        return operands[0] + operands[1]

    def gradients(self, grad, operands, output):
        return grad, grad


class Subtract(Operation):
    """``x1 - x2`` (``keras.ops.subtract``)."""

    def compute(self, operands):
        return operands[0] - operands[1]

    def gradients(self, grad, operands, output):
        return grad, -grad


class Multiply(Operation):
    """``x1 * x2`` (``keras.ops.multiply``)."""

    def compute(self, operands):
        return operands[0] * operands[1]

    def gradients(self, grad, operands, output):
        return grad * operands[1], grad * operands[0]


class TrueDivide(Operation):
    """``x1 / x2`` (``keras.ops.true_divide``): integers divide into floatx, as in Keras."""

    floats_only = True

    def compute(self, operands):
        return operands[0] / operands[1]

    def gradients(self, grad, operands, output):
        quotient = grad / operands[1]
        return quotient, -quotient * output


class Power(Operation):
    """``x1 ** x2`` (``keras.ops.power``); the exponent's gradient uses ``log(x1)``, 0 where ``x1 <= 0``."""

    def compute(self, operands):
        return operands[0] ** operands[1]

    def gradients(self, grad, operands, output):
        xp = backend.xp
        base, exponent = operands
        if _kind(base.dtype) != "f":
            return None, None
        d_base = grad * exponent * base ** (exponent - 1)
        positive = base > 0
        log = xp.where(positive, xp.log(xp.where(positive, base, 1)), 0)
        return d_base, grad * output * log


class Negative(Operation):
    """``-x`` (``keras.ops.negative``)."""

    arity = 1

    def compute(self, operands):
        return -operands[0]

    def gradients(self, grad, operands, output):
        return (-grad,)


class Absolute(Operation):
    """``abs(x)`` (``keras.ops.absolute``); the gradient at 0 is 0, as the sign's."""

    arity = 1

    def compute(self, operands):
        return backend.xp.abs(operands[0])

    def gradients(self, grad, operands, output):
        return (grad * backend.xp.sign(operands[0]),)


class Matmul(Operation):
    """``x1 @ x2`` (``keras.ops.matmul``): NumPy's matmul, a 1-D operand promoted to a matrix and back."""

    def output_shape(self, shapes):
        op_name = type(self).__name__
        first, second = (list(shape) for shape in shapes)
        if not first or not second:
            raise ValueError(f"{op_name}: both operands need at least 1 dimension. Received: shapes {shapes}")
        vector1, vector2 = len(first) == 1, len(second) == 1
        first = [1] + first if vector1 else first
        second = second + [1] if vector2 else second
        if first[-1] is not None and second[-2] is not None and first[-1] != second[-2]:
            raise ValueError(
                f"{op_name}: the last axis of the first operand ({first[-1]}) must match the second-to-last "
                f"of the second ({second[-2]}). Received: shapes {tuple(shapes[0])} and {tuple(shapes[1])}"
            )
        batch = broadcast_shapes(op_name, first[:-2], second[:-2])
        return tuple(batch) + ((first[-2],) if not vector1 else ()) + ((second[-1],) if not vector2 else ())

    def compute(self, operands):
        return backend.xp.matmul(operands[0], operands[1])

    def gradients(self, grad, operands, output):
        xp = backend.xp
        first, second = operands
        a = first[None, :] if first.ndim == 1 else first
        b = second[:, None] if second.ndim == 1 else second
        if first.ndim == 1:
            grad = xp.expand_dims(grad, -2)
        if second.ndim == 1:
            grad = xp.expand_dims(grad, -1)
        d_a = xp.matmul(grad, xp.swapaxes(b, -1, -2))
        d_b = xp.matmul(xp.swapaxes(a, -1, -2), grad)
        return _unbroadcast(d_a, a.shape).reshape(first.shape), _unbroadcast(d_b, b.shape).reshape(second.shape)


OPERATIONS = {cls.__name__: cls for cls in (Add, Subtract, Multiply, TrueDivide, Power, Negative, Absolute, Matmul)}
"""The operations by the class names Keras writes (module ``keras.src.ops.numpy``)."""


def is_operation(layer):
    """Whether ``layer`` is a recorded operation (in ``model.operations``, not in ``model.layers``)."""
    return getattr(layer, "is_operation", False)
