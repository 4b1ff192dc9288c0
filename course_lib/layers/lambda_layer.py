"""Lambda: a layer made of a Python function, its backward derived by tracing (:mod:`course_lib.autodiff`).

Keras's ``Lambda`` runs any function of tensors, and TensorFlow differentiates
it. course_lib's layers write their backward by hand; a Lambda cannot, so in
training it calls the function on :class:`~course_lib.autodiff.Traced` arrays,
which record every NumPy operation, and its backward walks that record in
reverse. Saving follows Keras 3 exactly: a Python lambda is stored as its
marshalled bytecode (``__lambda__``), which :meth:`Lambda.from_config`
refuses to load in safe mode, as Keras does.
"""
from __future__ import annotations

import binascii
import codecs
import contextlib
import inspect
import marshal
import os
import types
import warnings

from course_lib import autodiff, backend
from course_lib.layers.base import Layer
from course_lib.variables import Variable

_SAFE_MODE = {"value": None}
"""Keras's ``safe_mode_saving`` global: None (unset, treated as safe), True or False."""

_LAMBDA_REFUSAL = (
    "Requested the deserialization of a `Lambda` layer whose "
    "`function` is a Python lambda. This carries a potential risk "
    "of arbitrary code execution and thus it is disallowed by "
    "default. If you trust the source of the artifact, you can "
    "override this error by passing `safe_mode=False` to the "
    "loading function, or calling "
    "`keras.config.enable_unsafe_deserialization()."
)
_VALUE_REFUSAL = (
    "Requested the deserialization of a Python lambda. This "
    "carries a potential risk of arbitrary code execution and thus "
    "it is disallowed by default. If you trust the source of the "
    "artifact, you can override this error by passing "
    "`safe_mode=False` to the loading function, or calling "
    "`keras.config.enable_unsafe_deserialization()."
)
_COURSE_LIB_REMEDY = (
    " In course_lib: Lambda.from_config(config, safe_mode=False), `with "
    "course_lib.layers.lambda_layer.safe_mode_scope(False):`, or "
    "course_lib.layers.lambda_layer.enable_unsafe_deserialization()."
)


def in_safe_mode():
    """The safe mode in force (Keras's ``serialization_lib.in_safe_mode``): None when unset."""
    return _SAFE_MODE["value"]


@contextlib.contextmanager
def safe_mode_scope(safe_mode=True):
    """Set the safe mode inside a ``with`` block (Keras's ``SafeModeScope``); loaders wrap deserialization in it."""
    previous = _SAFE_MODE["value"]
    _SAFE_MODE["value"] = safe_mode
    try:
        yield
    finally:
        _SAFE_MODE["value"] = previous


def enable_unsafe_deserialization():
    """Allow lambdas to be deserialized everywhere (Keras's ``keras.config.enable_unsafe_deserialization``)."""
    _SAFE_MODE["value"] = False


# ------------------------------------------------------- Keras's func_dump
def func_dump(func):
    """Keras's ``python_utils.func_dump``: ``(code, defaults, closure)``, the code marshalled in base64."""
    raw_code = marshal.dumps(func.__code__)
    if os.name == "nt":
        raw_code = raw_code.replace(b"\\", b"/")
    code = codecs.encode(raw_code, "base64").decode("ascii")
    closure = tuple(cell.cell_contents for cell in func.__closure__) if func.__closure__ else None
    return code, func.__defaults__, closure


def func_load(code, defaults=None, closure=None, globs=None):
    """Keras's ``python_utils.func_load``: the function :func:`func_dump` described.

    As in Keras, the function's globals are this module's unless ``globs`` is
    given: a loaded lambda that used ``np`` or ``keras.ops`` must find them again.
    """
    if isinstance(code, (tuple, list)):  # a whole previous dump
        code, defaults, closure = code
        if isinstance(defaults, list):
            defaults = tuple(defaults)

    def cell(value):
        def capture():
            return value

        return capture.__closure__[0]

    if closure is not None:
        closure = tuple(item if isinstance(item, types.CellType) else cell(item) for item in closure)
    try:
        raw_code = codecs.decode(code.encode("ascii"), "base64")
    except (UnicodeEncodeError, binascii.Error):
        raw_code = code.encode("raw_unicode_escape")
    code = marshal.loads(raw_code)
    return types.FunctionType(code, globals() if globs is None else globs, name=code.co_name,
                              argdefs=defaults, closure=closure)


class OutputShapeUnknown(NotImplementedError):
    """The Lambda's output shape could not be found by running its function on arrays of ones.

    Keras raises ``NotImplementedError`` with the same message, so this subclasses it: code that
    catches Keras's exception catches this one. The remedy is the ``output_shape`` argument.
    """


def _saving():
    from course_lib import saving  # saving reads this module's safe mode

    return saving


def _is_lambda(function):
    return isinstance(function, types.LambdaType) and function.__name__ == "<lambda>"


def serialize_function(function):
    """A function as Keras's Lambda writes it: ``__lambda__`` bytecode for a lambda, else by name."""
    if _is_lambda(function):
        code, defaults, closure = func_dump(function)
        return {"class_name": "__lambda__", "config": {"code": code, "defaults": defaults, "closure": closure}}
    if callable(function):
        return serialize_value(function)
    raise ValueError(
        f"Invalid input type for serialization. Received: {function} of type {type(function)}."
    )


def serialize_value(value):
    """Keras's ``serialize_keras_object`` for what a Lambda's arguments and mask hold."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        items = [serialize_value(item) for item in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {key: serialize_value(item) for key, item in value.items()}
    if isinstance(value, bytes):
        return {"class_name": "__bytes__", "config": {"value": value.decode("utf-8")}}
    if isinstance(value, slice):
        return {"class_name": "__slice__", "config": {
            "start": serialize_value(value.start), "stop": serialize_value(value.stop),
            "step": serialize_value(value.step)}}
    if value is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if hasattr(value, "dtype") and hasattr(value, "shape"):  # an array (NumPy's, or the array module's)
        host = backend.to_numpy(value)
        if host.ndim == 0:
            return host.item()
        return {"class_name": "__numpy__", "config": {"value": host.tolist(), "dtype": host.dtype.name}}
    if _is_lambda(value):
        warnings.warn(
            "The object being serialized includes a `lambda`. This is unsafe. In order to reload the "
            "object, you will have to pass `safe_mode=False` to the loading function. Please avoid "
            "using `lambda` in the future, and use named Python functions instead.",
            stacklevel=2,
        )
        return {"class_name": "__lambda__", "config": {"value": func_dump(value)}}
    from course_lib import activations

    if isinstance(value, activations.ActivationFunction):  # keras.activations.relu and friends: by name
        return {"module": "builtins", "class_name": "function", "config": value.name, "registered_name": "function"}
    if hasattr(value, "get_config") and not isinstance(value, types.FunctionType):
        return {"module": type(value).__module__, "class_name": type(value).__name__,
                "config": serialize_value(value.get_config()),
                "registered_name": _saving().get_registered_name(type(value))}
    if hasattr(value, "__name__"):
        # Keras 3.15 writes a plain function so: module and class name of its *type*, its name as config.
        return {"module": type(value).__module__, "class_name": type(value).__name__,
                "config": _saving().get_registered_name(value),
                "registered_name": type(value).__name__}
    raise TypeError(f"Lambda: cannot serialize {value!r} of type {type(value).__name__}: it has no get_config().")


def _find_function(config, custom_objects):
    from course_lib import activations, saving

    name = config.get("config")
    known = {**saving.registered_objects(), **(custom_objects or {})}
    if name in known:
        return known[name]
    if isinstance(name, str) and ">" not in name:  # Keras <= 3.6 saved registered functions by bare name
        for registered, found in known.items():
            if registered.endswith(f">{name}"):
                return found
    if config.get("module") == "builtins" and isinstance(name, str) and name in activations.__all__:
        return activations.get(name)  # Keras's built-in functions are found by name (relu, tanh, ...)
    raise TypeError(
        f"Could not locate function '{name}'. Make sure custom classes and functions are decorated with "
        "`@keras.saving.register_keras_serializable()`, or pass them in custom_objects. "
        f"Full object config: {config}"
    )


def deserialize_value(config, custom_objects=None, safe_mode=True):
    """Keras's ``deserialize_keras_object`` for what :func:`serialize_value` writes."""
    if isinstance(config, list):
        return [deserialize_value(item, custom_objects, safe_mode) for item in config]
    if isinstance(config, tuple):
        return tuple(deserialize_value(item, custom_objects, safe_mode) for item in config)
    if not isinstance(config, dict):
        return config
    if "class_name" not in config:
        return {key: deserialize_value(item, custom_objects, safe_mode) for key, item in config.items()}
    kind, inner = config["class_name"], config.get("config")
    if kind in ("__numpy__", "__tensor__"):
        return backend.xp.asarray(inner["value"], dtype=inner["dtype"])
    if kind == "__bytes__":
        return inner["value"].encode("utf-8")
    if kind == "__ellipsis__":
        return Ellipsis
    if kind == "__slice__":
        return slice(*(deserialize_value(inner[key], custom_objects, safe_mode) for key in ("start", "stop", "step")))
    if kind == "__lambda__":
        if safe_mode:
            raise ValueError(_VALUE_REFUSAL + _COURSE_LIB_REMEDY)
        return func_load(inner["value"])
    if isinstance(inner, str):
        return _find_function(config, custom_objects)
    raise TypeError(f"Lambda: cannot deserialize {config!r}: course_lib deserializes functions and plain values here.")


def _deserialize_function(config, custom_objects, safe_mode):
    if callable(config):
        return config
    if isinstance(config, dict) and config.get("class_name") == "__lambda__":
        if safe_mode:
            raise ValueError(_LAMBDA_REFUSAL + _COURSE_LIB_REMEDY)
        inner = config["config"]
        return func_load(inner["code"], defaults=inner["defaults"], closure=inner["closure"])
    return deserialize_value(config, custom_objects, safe_mode)


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(
        item is None or (isinstance(item, int) and not isinstance(item, bool)) for item in value
    )


def _standard_shapes(value, where):
    """One shape as a tuple, or several (a list of shapes) as a list of tuples."""
    if _is_shape(value):
        return tuple(value)
    if isinstance(value, (tuple, list)) and value and all(_is_shape(item) for item in value):
        return [tuple(item) for item in value]
    raise ValueError(f"{where}: expected a shape tuple, a list of shapes, or a function. Received: {value!r}")


def _accepted_arguments(function):
    try:
        return inspect.getfullargspec(function).args
    except TypeError:  # a builtin or a ufunc: no Python signature
        return []


class _Trace:
    """The cache of a traced call: the Traced inputs and outputs, for :func:`autodiff.backward`."""

    def __init__(self, leaves, outputs, several_inputs, several_outputs):
        self.leaves, self.outputs = leaves, outputs
        self.several_inputs, self.several_outputs = several_inputs, several_outputs


class _Replay:
    """The cache of an inference call: the inputs, traced again only if a backward asks (GradientTape)."""

    def __init__(self, inputs, mask):
        self.inputs, self.mask = inputs, mask


class _Untraceable:
    """The cache of a call the autodiff could not trace: why, for the error backward raises."""

    def __init__(self, operation, message):
        self.operation, self.message = operation, message


class Lambda(Layer):
    """Wraps a function of arrays as a layer (Keras's ``Lambda``), differentiated by tracing.

    Args:
        function: called as ``function(inputs, **arguments)`` (``inputs`` a
            list when the layer is called on a list); it may also take
            ``mask=`` and ``training=``, which it then receives, as in Keras.
            Write it with NumPy operations (``x / 255.0``,
            ``np.sqrt(np.sum(x ** 2, axis=-1, keepdims=True))``, ``t[0] * t[1]``);
            the ones :mod:`course_lib.autodiff` supports can be trained through.
            A ``keras.activations`` function is differentiated by its own backward.
        output_shape: None (inferred by running the function on small arrays
            where the input shape has ``None``, as Keras's symbolic run does), a
            shape without the batch axis (the batch axis of the input is put in
            front), a list of such shapes for several outputs, or a function
            of the full input shape giving the full output shape.
        mask: None (no mask), a function ``mask(inputs, previous_mask)``, or a
            fixed mask returned whatever the input (Keras's ``compute_mask``).
        arguments: a dict of keyword arguments passed to ``function``.

    In training, the function runs on traced arrays and its backward is
    exact. An operation the autodiff does not know makes the layer run the
    function on plain arrays instead; only a backward through it then fails,
    with an error naming the operation and the remedy (a Layer subclass with
    its own ``forward``/``backward``, see ``course_lib/layers/leaky_relu.py``).
    In inference it runs on plain arrays (no tracing cost); a backward asked
    later (``GradientTape`` around ``model(x)``) traces it again then.

    A Lambda has no weights. A function that uses a course_lib ``Variable``
    (closed over, global, in ``arguments``, or met by a traced operation)
    would never give it a gradient, so a training call raises ``TypeError``:
    create such weights in a Layer subclass with ``add_weight``.

    Saving: a Python lambda is written as its bytecode (Keras's format, the
    same Python version needed to read it back), and reading it back is
    refused in safe mode (:meth:`from_config`).
    """

    uses_mask = True  # Keras's Lambda.call takes `mask` and hands it to a function that asks for it

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable. Received: function={function!r}")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"Lambda: arguments must be a dict of keyword arguments. Received: arguments={arguments!r}")
        if output_shape is not None and not callable(output_shape):
            output_shape = _standard_shapes(output_shape, "Lambda output_shape")
        super().__init__(**kwargs)
        self.arguments = arguments or {}
        self.function = function
        self.supports_masking = mask is not None
        self.mask = mask
        self._output_shape = output_shape
        accepted = _accepted_arguments(function)
        self._fn_expects_training_arg = "training" in accepted
        self._fn_expects_mask_arg = "mask" in accepted

    # ------------------------------------------------------------- shapes
    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            return self._infer_output_shape(input_shape)
        if callable(self._output_shape):
            return _standard_shapes(self._output_shape(input_shape), f"Lambda '{self.name}' output_shape()")
        first = input_shape[0] if isinstance(input_shape, list) else input_shape
        batch = first[0] if _is_shape(first) and first else first
        if isinstance(self._output_shape, list):
            return [(batch,) + shape for shape in self._output_shape]
        return (batch,) + self._output_shape

    def _infer_output_shape(self, input_shape):
        """Keras runs the function on symbolic tensors; here it runs on ones, twice where a size is None.

        An axis whose size follows the unknown sizes (2 in one run, 3 in the
        other) is None in the result, as it is in Keras's symbolic shapes.
        """
        several = isinstance(input_shape, list)
        shapes = [tuple(shape) for shape in (input_shape if several else [input_shape])]
        unknown = any(size is None for shape in shapes for size in shape)

        def probe(size):
            arrays = [backend.xp.ones(tuple(size if s is None else s for s in shape), dtype=self.dtype)
                      for shape in shapes]
            with backend.errstate(all="ignore"):
                result = self._run(arrays if several else arrays[0], training=False, mask=None)
            return [tuple(backend.xp.shape(item)) for item in result] if isinstance(result, (list, tuple)) \
                else tuple(backend.xp.shape(result))

        try:
            first = probe(2)
            if not unknown:
                return first
            second = probe(3)
            pairs = list(zip(first, second)) if isinstance(first, list) else [(first, second)]
            merged = []
            for one, other in pairs:
                if len(one) != len(other):
                    raise ValueError("the rank of the output depends on the unknown sizes")
                merged.append(tuple(a if a == b else None for a, b in zip(one, other)))
        except Exception as error:
            raise OutputShapeUnknown(
                "We could not automatically infer the shape of the Lambda's output. Please specify the "
                f"`output_shape` argument for this Lambda layer. (Lambda '{self.name}': running the function "
                f"on arrays of ones of shape {input_shape} raised {type(error).__name__}: {error})"
            ) from error
        return merged if isinstance(first, list) else merged[0]

    # ------------------------------------------------------------ forward
    def _run(self, inputs, training, mask):
        kwargs = dict(self.arguments)  # a copy, as Keras's call makes
        if self._fn_expects_mask_arg:
            kwargs["mask"] = mask
        if self._fn_expects_training_arg:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    @staticmethod
    def _plain(result):
        def plain(item):
            return item.value if isinstance(item, autodiff.Traced) else backend.xp.asarray(item)

        return [plain(item) for item in result] if isinstance(result, (list, tuple)) else plain(result)

    def forward(self, inputs, training=False, mask=None):
        if self._is_activation():
            outputs = self.function(inputs, **self.arguments)
            return outputs, ("activation", inputs, outputs)
        if not training:
            return self._plain(self._run(inputs, training, mask)), _Replay(inputs, mask)
        return self._traced_forward(inputs, training, mask)

    def _is_activation(self):
        from course_lib import activations

        return isinstance(self.function, activations.ActivationFunction)

    def _traced_forward(self, inputs, training, mask):
        self._refuse_variables()
        several = isinstance(inputs, list)
        leaves = [autodiff.Traced(item) for item in (inputs if several else [inputs])]
        try:
            result = self._run(leaves if several else leaves[0], training, mask)
        except autodiff.VariableInTrace as error:
            raise TypeError(f"Lambda layer '{self.name}': {error}") from None
        except autodiff.UnsupportedOperation as error:
            outputs = self._plain(self._run(inputs, training, mask))
            return outputs, _Untraceable(error.operation, str(error))
        several_outputs = isinstance(result, (list, tuple))
        traced = list(result) if several_outputs else [result]
        return self._plain(result), _Trace(leaves, traced, several, several_outputs)

    def _refuse_variables(self):
        found = _variables_used(self.function, self.arguments)
        if found:
            raise TypeError(
                f"Lambda layer '{self.name}': its function uses the course_lib Variable(s) {found}. A Lambda "
                "has no weights and differentiates only with respect to its inputs, so these would never "
                "receive a gradient and never train. Create them in a Layer subclass with add_weight() and "
                "write its forward(inputs, training) -> (outputs, cache) and backward(output_grads, cache) -> "
                "(input_grads, weight_grads) (see course_lib/layers/leaky_relu.py)."
            )

    # ----------------------------------------------------------- backward
    def backward(self, output_grads, cache):
        if isinstance(cache, tuple) and cache and cache[0] == "activation":
            _, inputs, outputs = cache
            return self.function.backward(inputs, outputs, output_grads, **self.arguments), {}
        if isinstance(cache, _Replay):
            cache = self._traced_forward(cache.inputs, False, cache.mask)[1]
        if isinstance(cache, _Untraceable):
            raise TypeError(
                f"Lambda layer '{self.name}': no gradient can flow through its function, which uses "
                f"{cache.operation}: course_lib.autodiff has no gradient for it. Use only the operations it "
                "supports, or write the computation as a Layer subclass with forward(inputs, training) -> "
                "(outputs, cache) and backward(output_grads, cache) -> (input_grads, {}) (the whole contract "
                f"is in course_lib/layers/leaky_relu.py). Details: {cache.message}"
            )
        grads = output_grads if cache.several_outputs else [output_grads]
        input_grads = autodiff.backward(cache.outputs, list(grads), cache.leaves)
        return (input_grads if cache.several_inputs else input_grads[0]), {}

    # ---------------------------------------------------------------- mask
    def compute_mask(self, inputs, previous_mask=None):
        if callable(self.mask):
            return self.mask(inputs, previous_mask)
        return self.mask

    # ------------------------------------------------------ serialization
    def get_config(self):
        config = {"function": serialize_function(self.function)}
        if self._output_shape is not None:
            config["output_shape"] = (
                serialize_function(self._output_shape) if callable(self._output_shape) else self._output_shape
            )
        if self.mask is not None:
            config["mask"] = serialize_function(self.mask) if callable(self.mask) else serialize_value(self.mask)
        config["arguments"] = serialize_value(self.arguments)
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=None):
        """Rebuild a Lambda from Keras's config, refusing Python lambdas in safe mode.

        Args:
            custom_objects: ``{name: function}`` for functions saved by name.
            safe_mode: True refuses a ``__lambda__`` (bytecode) function, output
                shape or mask with Keras's error; False loads it (only for a file
                you trust: loading runs its code). None (the default) takes the
                mode of the surrounding :func:`safe_mode_scope`, and an unset mode
                counts as safe, as in Keras 3.15.
        """
        effective = safe_mode if safe_mode is not None else in_safe_mode()
        safe = effective is not False
        config = dict(config)
        config["function"] = _deserialize_function(config["function"], custom_objects, safe)
        if "output_shape" in config:
            shape = config["output_shape"]
            if isinstance(shape, dict):
                config["output_shape"] = _deserialize_function(shape, custom_objects, safe)
            elif shape is not None:
                config["output_shape"] = _standard_shapes(shape, "Lambda output_shape")
        if isinstance(config.get("mask"), dict):
            # Keras 3.15 passes the serialized mask on unchanged (a dict as the mask); course_lib rebuilds it.
            config["mask"] = _deserialize_function(config["mask"], custom_objects, safe)
        if "arguments" in config:
            config["arguments"] = deserialize_value(config["arguments"], custom_objects, safe)
        return cls(**config)


def _variables_used(function, arguments):
    """Paths of the course_lib Variables a function reaches by name: closure, globals, defaults, arguments."""
    candidates = list(arguments.values())
    code = getattr(function, "__code__", None)
    if code is not None:
        candidates += [cell.cell_contents for cell in (function.__closure__ or ()) if _cell_filled(cell)]
        candidates += list(function.__defaults__ or ())
        names, pending = set(), [code]
        while pending:
            current = pending.pop()
            names.update(current.co_names)
            pending.extend(const for const in current.co_consts if isinstance(const, types.CodeType))
        scope = getattr(function, "__globals__", {})
        candidates += [scope[name] for name in names if name in scope]
    found = []
    for item in candidates:
        for part in (item if isinstance(item, (list, tuple)) else
                     list(item.values()) if isinstance(item, dict) else [item]):
            if isinstance(part, Variable):
                found.append(part.path)
            elif isinstance(part, Layer) and not isinstance(part, Lambda):
                found.extend(weight.path for weight in part.weights)
    return sorted(set(found))


def _cell_filled(cell):
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True
