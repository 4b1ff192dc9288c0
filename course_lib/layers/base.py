"""The Layer base class: Keras's lifecycle plus an explicit backward pass.

Lifecycle (as in Keras): ``__init__`` stores and validates configuration only;
``build(input_shape)`` creates the weights the first time the layer sees an
input; ``call(inputs, training)`` is the forward pass. On top of Keras, every
layer has ``backward(dy) -> dx`` which fills ``layer.grads`` (same keys as the
weights). Gradients OVERWRITE: each backward replaces the previous ones.

Calling a layer on a symbolic :class:`KerasTensor` (what ``Input`` returns)
records a :class:`Node` in the graph instead of computing numbers; that is how
the functional API builds models.
"""
from __future__ import annotations

from course_lib import backend, initializers


class KerasTensor:
    """A symbolic tensor: a shape and dtype, plus the layer call that made it.

    Args:
        shape: full shape including the batch axis (``None`` where unknown).
        dtype: dtype name.
        node: the :class:`Node` that produced it (None for a bare tensor).
        index: which of the node's outputs this tensor is.
    """

    def __init__(self, shape, dtype=None, node=None, index=0, name=None):
        self.shape = tuple(shape)
        self.dtype = dtype or backend.floatx()
        self.node = node
        self.index = index
        self.name = name

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(
            "A symbolic KerasTensor (from keras.Input) has no values: it only "
            "describes a shape. Build a Model from it and call the model on arrays."
        )


class Node:
    """One call of a layer inside a functional graph.

    Holds the input and output tensors and, during a forward pass, the layer's
    cache for that call, so that a layer used twice keeps two caches.
    """

    def __init__(self, layer, inputs, outputs, inputs_are_list):
        self.layer = layer
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.inputs_are_list = inputs_are_list
        self.cache = None


class InputSpec:
    """What a layer accepts: a rank (exact or minimum) and fixed sizes on some axes."""

    def __init__(self, ndim=None, min_ndim=None, axes=None):
        self.ndim = ndim
        self.min_ndim = min_ndim
        self.axes = dict(axes or {})

    def check(self, layer_name, shape):
        def fail(expected):
            raise ValueError(
                f"Input 0 of layer '{layer_name}' is incompatible with the layer: "
                f"{expected}. Received: input with shape {tuple(shape)}"
            )

        if self.ndim is not None and len(shape) != self.ndim:
            fail(f"expected ndim={self.ndim}, found ndim={len(shape)}")
        if self.min_ndim is not None and len(shape) < self.min_ndim:
            fail(f"expected min_ndim={self.min_ndim}, found ndim={len(shape)}")
        for axis, size in self.axes.items():
            if size is not None and shape[axis] is not None and shape[axis] != size:
                fail(f"expected axis {axis} of input shape to have value {size}")


def _is_symbolic(inputs):
    if isinstance(inputs, KerasTensor):
        return True
    if isinstance(inputs, (list, tuple)):
        return any(isinstance(item, KerasTensor) for item in inputs)
    return False


def standardize_shape(shape, where):
    """Turn ``shape`` into a tuple of positive ints or None, or raise."""
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{where}: expected a shape tuple. Received: {shape!r}") from None
    for size in shape:
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
            raise ValueError(
                f"{where}: every dimension must be a positive int or None. Received: {shape}"
            )
    return shape


class Layer:
    """Base class of every layer.

    Args:
        name: a unique name; Keras-style automatic names (``dense_1``) if None.
        dtype: float type of weights and computation; ``backend.floatx()`` if None.
        trainable: whether the optimizer updates this layer's weights.
        input_shape: shape of one sample (no batch axis), for the first layer
            of a Sequential model.
        input_dim: the old Keras 2 spelling of ``input_shape=(input_dim,)``.
        batch_input_shape / batch_size: the shape with the batch axis (Keras 2);
            ``batch_size`` fixes the batch axis of ``input_shape``.
    """

    def __init__(
        self,
        name=None,
        dtype=None,
        trainable=True,
        input_shape=None,
        input_dim=None,
        batch_input_shape=None,
        batch_size=None,
        **kwargs,
    ):
        class_name = type(self).__name__
        if kwargs:
            raise TypeError(
                f"{class_name}: unrecognized keyword arguments: {sorted(kwargs)}."
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{class_name}: name must be a string. Received: name={name!r}")
        self.name = name or backend.unique_name(backend.snake_case(class_name))
        # Fixed at construction, as Keras's dtype policy is: a layer made inside
        # floatx_scope('float64') stays float64 afterwards.
        self._dtype = backend._check_float_name(class_name, _dtype_name(dtype or backend.floatx()))
        self.trainable = bool(trainable)
        self.built = False
        self.grads = {}
        self.input_spec = None
        self._params = {}
        self._trainable_names = []
        self._cache = None
        self._inbound_nodes = []
        self._batch_input_shape = None
        if input_dim is not None:
            if not isinstance(input_dim, int) or input_dim <= 0:
                raise ValueError(
                    f"{class_name}: input_dim must be a positive int. Received: input_dim={input_dim!r}"
                )
            input_shape = (input_dim,)
        if input_shape is not None:
            shape = standardize_shape(input_shape, f"{class_name} input_shape")
            self._batch_input_shape = (batch_size,) + shape
        if batch_input_shape is not None:
            self._batch_input_shape = tuple(batch_input_shape)
            standardize_shape(self._batch_input_shape, f"{class_name} batch_input_shape")

    # ------------------------------------------------------------------ dtype
    @property
    def dtype(self):
        return self._dtype

    # ---------------------------------------------------------------- weights
    def add_weight(self, name, shape, initializer="glorot_uniform", trainable=True, dtype=None):
        """Create a weight, remember it under ``name`` and return the array."""
        dtype = dtype or self.dtype
        # asarray with the dtype also fixes up plain callables used as initializers.
        value = backend.xp.asarray(initializers.get(initializer)(tuple(shape), dtype=dtype), dtype=dtype)
        if name in self._params:
            raise ValueError(f"Layer '{self.name}': a weight named '{name}' already exists.")
        self._params[name] = value
        if trainable:
            self._trainable_names.append(name)
        return value

    @property
    def weights(self):
        """All weights, trainable first as Keras lists them (creation order within each group)."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [self._params[name] for name in self._params if name in self._trainable_names]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return list(self._params.values())
        return [self._params[name] for name in self._params if name not in self._trainable_names]

    @property
    def trainable_weight_names(self):
        return [name for name in self._params if name in self._trainable_names] if self.trainable else []

    @property
    def weight_names(self):
        """Weight names in the order of :attr:`weights`."""
        trainable = self.trainable_weight_names
        return trainable + [name for name in self._params if name not in trainable]

    def get_weights(self):
        """Copies of the weights, in Keras's order."""
        return [weight.copy() for weight in self.weights]

    def set_weights(self, weights):
        """Copy ``weights`` (a list in Keras's order) into this layer's arrays."""
        weights = list(weights)
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(
                f"Layer '{self.name}' expects {len(own)} weights, "
                f"but received {len(weights)} weights: "
                f"shapes {[tuple(backend.xp.shape(w)) for w in weights]}"
            )
        for name, target, value in zip(self.weight_names, own, weights):
            value = backend.xp.asarray(value)
            if value.shape != target.shape:
                raise ValueError(
                    f"Layer '{self.name}' weight '{name}' has shape {target.shape}, "
                    f"but received a value of shape {value.shape}"
                )
        for target, value in zip(own, weights):
            # In place: optimizers and attributes hold references to these arrays.
            target[...] = value

    def count_params(self):
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on layer '{self.name}', "
                "but the layer isn't built. You can build it manually via: "
                f"`{self.name}.build(batch_input_shape)`."
            )
        return int(sum(weight.size for weight in self._params.values()))

    # -------------------------------------------------------------- lifecycle
    def build(self, input_shape):
        """Create weights for inputs of ``input_shape``; the base has none."""
        self.built = True

    def call(self, inputs, training=False):
        return inputs

    def backward(self, dy):
        """Return dL/dx given dL/dy, and store the weights' gradients in ``self.grads``."""
        raise TypeError(f"Layer '{self.name}' ({type(self).__name__}) does not define backward.")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    # Layers may skip computing dx when this is False (set by a model for its
    # first layers during training, where no one needs the input gradient).
    _input_gradient_needed = True

    def _backward_without_input_gradient(self, dy, **kwargs):
        self._input_gradient_needed = False
        try:
            return self.backward(dy, **kwargs)
        finally:
            del self._input_gradient_needed

    def __call__(self, inputs, training=None, **kwargs):
        if kwargs:
            raise TypeError(f"Layer '{self.name}': unrecognized call arguments: {sorted(kwargs)}.")
        if _is_symbolic(inputs):
            return self._symbolic_call(inputs)
        inputs = self._prepare_inputs(inputs)
        shapes = _shapes_of(inputs)
        self._maybe_build(shapes)
        self._check_input(shapes)
        return self.call(inputs, training=bool(training))

    def _prepare_inputs(self, inputs):
        if isinstance(inputs, (list, tuple)):
            return [backend.to_array(item, self.dtype, f"Layer '{self.name}'") for item in inputs]
        return backend.to_array(inputs, self.dtype, f"Layer '{self.name}'")

    def _maybe_build(self, shapes):
        if not self.built:
            self.build(shapes)
            self.built = True

    def _check_input(self, shapes):
        if self.input_spec is not None and not isinstance(shapes, list):
            self.input_spec.check(self.name, shapes)

    def _symbolic_call(self, inputs):
        inputs_are_list = isinstance(inputs, (list, tuple))
        tensors = list(inputs) if inputs_are_list else [inputs]
        for tensor in tensors:
            if not isinstance(tensor, KerasTensor):
                raise TypeError(
                    f"Layer '{self.name}': when one input is symbolic (from keras.Input), "
                    f"all must be. Received: {type(tensor).__name__}"
                )
        shapes = [t.shape for t in tensors] if inputs_are_list else tensors[0].shape
        self._maybe_build(shapes)
        self._check_input(shapes)
        output_shape = self.compute_output_shape(shapes)
        node = Node(self, tensors, [], inputs_are_list)
        output = KerasTensor(output_shape, self.dtype, node=node, index=0, name=self.name)
        node.outputs.append(output)
        self._inbound_nodes.append(node)
        return output

    @property
    def output(self):
        """The symbolic output of this layer's one call in a graph (as in Keras)."""
        return self._single_node("output").outputs[0]

    @property
    def input(self):
        """The symbolic input(s) of this layer's one call in a graph (as in Keras)."""
        node = self._single_node("input")
        return list(node.inputs) if node.inputs_are_list else node.inputs[0]

    def _single_node(self, what):
        if len(self._inbound_nodes) != 1:
            raise AttributeError(
                f"Layer '{self.name}' has {len(self._inbound_nodes)} calls in model graphs, so "
                f"`{what}` is ambiguous: it is defined for a layer called exactly once on a "
                "symbolic input (keras.Input), or inside one Sequential model with an input shape."
            )
        return self._inbound_nodes[0]

    # ---------------------------------------------------------- serialization
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = self._batch_input_shape
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _dtype_name(dtype):
    """Accept 'float32', numpy dtypes, or Keras 3's serialized DTypePolicy dict."""
    if isinstance(dtype, dict):
        return dtype.get("config", {}).get("name", "float32")
    if hasattr(dtype, "name") and not isinstance(dtype, str):
        return dtype.name
    return dtype


def _shapes_of(inputs):
    if isinstance(inputs, list):
        return [tuple(item.shape) for item in inputs]
    return tuple(inputs.shape)
