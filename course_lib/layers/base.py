"""The Layer base class: Keras's lifecycle plus a pure, explicit backward pass.

Lifecycle (as in Keras): ``__init__`` stores and validates configuration only;
``build(input_shape)`` creates the weights the first time the layer sees an
input. The forward and backward passes are a pair of pure methods:

- ``forward(inputs, training) -> (outputs, cache)``: the cache is whatever the
  backward pass will need; it belongs to the *call*, not to the layer, so a
  layer called twice (shared, nested, wrapped) keeps one cache per call;
- ``backward(output_grads, cache) -> (input_grads, weight_grads)``:
  ``weight_grads`` is a dict with the same keys as the layer's trainable
  weights. A layer with several outputs gets a list of upstream gradients,
  ``None`` where an output is unused.

``layer.backward(dy)`` without a cache is sugar for a layer called once on
arrays: it uses that last call's cache, stores the weight gradients in
``layer.grads`` (they OVERWRITE, never accumulate) and returns the input
gradients. ``call(inputs, training)`` is Keras's name for the forward pass and
returns the outputs alone.

Calling a layer on a symbolic :class:`KerasTensor` (what ``Input`` returns)
records a :class:`Node` in the graph instead of computing numbers; that is how
the functional API builds models.
"""
from __future__ import annotations

import functools

from course_lib import backend, constraints, initializers, regularizers, tape
from course_lib.variables import Variable

# The default of ``backward``'s cache: "use the cache of this layer's last call".
_LAST_CALL = object()
# While a model's forward pass runs, add_loss values go to the innermost list here.
_LOSS_COLLECTORS = []


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

    # Arithmetic records an operation of the graph, as Keras 3 does (keras.ops.Add for `x + y` ...,
    # see course_lib.layers.operations); a NumPy array on the left defers to the reflected operator.
    __array_ufunc__ = None

    def __add__(self, other):
        return _operation("Add", self, other)

    def __radd__(self, other):
        return _operation("Add", other, self)

    def __sub__(self, other):
        return _operation("Subtract", self, other)

    def __rsub__(self, other):
        return _operation("Subtract", other, self)

    def __mul__(self, other):
        return _operation("Multiply", self, other)

    def __rmul__(self, other):
        return _operation("Multiply", other, self)

    def __truediv__(self, other):
        return _operation("TrueDivide", self, other)

    def __rtruediv__(self, other):
        return _operation("TrueDivide", other, self)

    def __pow__(self, other):
        return _operation("Power", self, other)

    def __rpow__(self, other):
        return _operation("Power", other, self)

    def __matmul__(self, other):
        return _operation("Matmul", self, other)

    def __rmatmul__(self, other):
        return _operation("Matmul", other, self)

    def __neg__(self):
        return _operation("Negative", self)

    def __abs__(self):
        return _operation("Absolute", self)


def _operation(class_name, *operands):
    """A new operation of the graph (one per operator, as in Keras) applied to the operands."""
    from course_lib.layers import operations

    return operations.OPERATIONS[class_name]()(*operands)


class Node:
    """One call of a layer inside a functional graph: its input and output tensors.

    The forward pass of a model keeps each node's cache in a list of its own
    (one per model call), never on the node or the layer.
    """

    def __init__(self, layer, inputs, outputs, inputs_are_list, outputs_are_list=False):
        self.layer = layer
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.inputs_are_list = inputs_are_list
        self.outputs_are_list = outputs_are_list


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
        autocast: whether float inputs are cast to the layer's dtype (Keras's
            autocast); integer and boolean inputs are never cast by it.
        input_shape: shape of one sample (no batch axis), for the first layer
            of a Sequential model.
        input_dim: the old Keras 2 spelling of ``input_shape=(input_dim,)``.
        batch_input_shape / batch_size: the shape with the batch axis (Keras 2);
            ``batch_size`` fixes the batch axis of ``input_shape``.
        activity_regularizer: a regularizer (name, object or dict, see
            :mod:`course_lib.regularizers`) of the layer's outputs: at every
            call, ``regularizer(output) / batch_size`` joins the loss, as in
            Keras 3. The training engine adds its gradient; the layer itself
            needs no code for it.

    Class attributes a subclass may set:
        differentiable: False for a layer no gradient flows through
            (preprocessing, integer lookups): the engine stops there.
        keeps_integers: True for a layer that passes integer inputs through
            unchanged (reshaping, merging); the others compute in floats, so
            integer inputs are cast to the layer's dtype, as Keras's type
            promotion does.
    """

    differentiable = True
    keeps_integers = False
    # Keras's masking protocol. A layer that `supports_masking` passes a mask on to its outputs
    # through `compute_mask`; one that `uses_mask` takes it in `forward(inputs, training, mask=...)`
    # (an RNN skips the masked time steps). A mask reaching a layer that supports neither is
    # dropped with a warning, as Keras does.
    supports_masking = False
    uses_mask = False
    # What a call without `training` means for this layer: Keras takes the default of the layer's
    # call(); False for almost every layer, True for the random augmentation layers, which
    # augment when a model is called directly (`model(x)`) but not in predict/evaluate.
    training_default = False
    activity_regularizer = None  # settable on any layer, as in Keras
    # Keras's base Layer writes `activity_regularizer` into its config only when it is set; a few
    # layers (Embedding, the recurrent layers) always write it, None included.
    lists_activity_regularizer = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Each class writes the pure backward(output_grads, cache); the sugar
        # backward(dy) for a layer called once is added around it here.
        if "backward" in cls.__dict__:
            cls.backward = _with_single_call_sugar(cls.__dict__["backward"])

    def __init__(
        self,
        name=None,
        dtype=None,
        trainable=True,
        autocast=True,
        input_shape=None,
        input_dim=None,
        batch_input_shape=None,
        batch_size=None,
        activity_regularizer=None,
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
        self._trainable = bool(trainable)
        self.autocast = bool(autocast)
        if activity_regularizer is not None:
            self.activity_regularizer = regularizers.get(activity_regularizer)
        self.built = False
        self.grads = {}
        self.input_spec = None
        self._params = {}      # name -> the array the layer computes with
        self._variables = {}   # name -> its Variable (what `weights` lists and add_weight returns)
        self._trainable_names = []
        self._last_call = _LAST_CALL  # not called on arrays yet
        self._eager_losses = []
        self._path_prefix = ""  # Keras's name scope of the weights' paths (set by a Sequential that builds it)
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

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)

    # ---------------------------------------------------------------- weights
    def add_weight(self, name, shape, initializer="glorot_uniform", trainable=True, dtype=None,
                   regularizer=None, constraint=None):
        """Create a weight, remember it under ``name`` and return its Variable.

        Args:
            regularizer: a penalty on the weight added to the training loss
                (name, object or dict; see :mod:`course_lib.regularizers`).
            constraint: a projection applied after each optimizer step (see
                :mod:`course_lib.constraints`).

        Both are kept on the Variable; the engine and the optimizers apply
        them, the layer's forward and backward need no code for them.
        """
        regularizer = regularizers.get(regularizer)
        constraint = constraints.get(constraint)
        dtype = dtype or self.dtype
        # asarray with the dtype also fixes up plain callables used as initializers.
        value = backend.xp.asarray(initializers.get(initializer)(tuple(shape), dtype=dtype), dtype=dtype)
        if name in self._params:
            raise ValueError(f"Layer '{self.name}': a weight named '{name}' already exists.")
        self._params[name] = value
        self._variables[name] = Variable(value, name, self, trainable, regularizer=regularizer, constraint=constraint)
        if trainable:
            self._trainable_names.append(name)
        return self._variables[name]

    @property
    def weights(self):
        """All weights, trainable first as Keras lists them (creation order within each group)."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [self._variables[name] for name in self._params if name in self._trainable_names]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return list(self._variables.values())
        return [self._variables[name] for name in self._params if name not in self._trainable_names]

    @property
    def trainable_weight_names(self):
        return [name for name in self._params if name in self._trainable_names] if self.trainable else []

    @property
    def weight_names(self):
        """Weight names in the order of :attr:`weights`."""
        trainable = self.trainable_weight_names
        return trainable + [name for name in self._params if name not in trainable]

    def get_weights(self):
        """NumPy copies of the weights, in Keras's order."""
        return [weight.numpy() for weight in self.weights]

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
            target.assign(value)

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

    def forward(self, inputs, training=False):
        """The forward pass: ``(outputs, cache)``.

        The base runs :meth:`call` (for a Keras-style layer that only defines
        ``call``) and keeps no cache; a layer that can be trained through
        overrides this method and :meth:`backward`.
        """
        if type(self).call is Layer.call:
            return inputs, None
        return self.call(inputs, training=training), None

    def call(self, inputs, training=False):
        """Keras's forward pass: the outputs of :meth:`forward`, without the cache."""
        return self.forward(inputs, training=training)[0]

    def backward(self, output_grads, cache):
        """The backward pass: ``(input_grads, weight_grads)`` from the upstream gradients and the cache."""
        if type(self).forward is Layer.forward and type(self).call is Layer.call:
            return output_grads, {}
        raise TypeError(
            f"Layer '{self.name}' ({type(self).__name__}) defines no backward pass, so no gradient "
            "can flow through it. Write `forward(self, inputs, training) -> (outputs, cache)` and "
            "`backward(self, output_grads, cache) -> (input_grads, weight_grads)`, or set "
            "`differentiable = False` on the class if no gradient should flow through it."
        )

    def add_loss(self, value):
        """Add ``value`` (a scalar) to the training loss, from inside ``forward`` (Keras's ``add_loss``).

        course_lib has no automatic differentiation, so the layer's
        ``backward`` must add the penalty's gradient itself (with respect to
        its inputs and weights); the engine runs that backward even when no
        gradient reaches the layer's outputs.
        """
        if _LOSS_COLLECTORS:
            _LOSS_COLLECTORS[-1].append(value)
        else:
            self._eager_losses.append(value)

    @property
    def losses(self):
        """Keras's ``losses``: what ``add_loss`` and the activity regularizers gave during this
        layer's (or model's) last forward pass, then the penalties of the trainable weights that
        have a regularizer, at their current values."""
        eager = list(self._eager_losses)
        regularized = self._regularized_weights()
        penalties = [regularizer(variable.value) for _, variable, regularizer in regularized]
        if tape.recording():
            # Inside a GradientTape, `loss + sum(model.losses)` must carry the penalties' gradients
            # (Keras's custom training loops add them so).
            eager = tape.record_eager_losses(self, eager)
            penalties = [tape.record_penalty([entry], backend.to_float(value), f"Layer '{self.name}'")
                         for entry, value in zip(regularized, penalties)]
        return eager + penalties

    def _regularized_weights(self, trainable_only=True):
        """``[(weight name, Variable, regularizer)]`` for the weights that have a regularizer.

        Names are keyed like :attr:`trainable_weight_names` (a model prefixes
        its layers' names), so the engine adds each penalty's gradient to the
        matching weight gradient. ``trainable_only=False`` lists the frozen
        weights too (the engine caches that list and filters it per step).
        """
        names = self.trainable_weight_names if trainable_only else list(self._params)
        return [
            (name, self._variables[name], self._variables[name].regularizer)
            for name in names if self._variables[name].regularizer is not None
        ]

    def weight_gradients(self, output_grads, cache):
        """Only the weight gradients: the engine calls this where no input gradient is needed.

        The default runs :meth:`backward`; a layer whose input gradient is
        costly (Dense, convolutions) overrides it to skip that work.
        """
        return self.backward(output_grads, cache)[1]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _symbolic_output_shape(self, input_shapes):
        """The shape of a symbolic call's output (ActivatedLayer adds what its activation does to it)."""
        return self.compute_output_shape(input_shapes)

    def saving_children(self):
        """``[(group name, sublayer)]`` whose weights are this layer's, as Keras nests them in files.

        An RNN's weights are its cell's (``cell``), a Bidirectional's its two
        layers' (``forward_layer``, ``backward_layer``), a TimeDistributed's its
        layer's (``layer``); such a layer has no variables of its own.
        """
        return []

    def compute_mask(self, inputs, previous_mask=None):
        """The mask of the outputs (Keras's ``compute_mask``): the input's mask, unchanged, by default.

        Only called for a layer that ``supports_masking``; a layer that makes
        a mask (``Embedding(mask_zero=True)``, ``Masking``) or changes it (an
        RNN without ``return_sequences``) overrides it.
        """
        return previous_mask

    def _forward_with_mask(self, inputs, training, mask):
        """``forward``, given the mask when the layer takes one."""
        if self.uses_mask:
            return self.forward(inputs, training=training, mask=mask)
        return self.forward(inputs, training=training)

    def __call__(self, inputs, training=None, mask=None, **kwargs):
        if kwargs:
            raise TypeError(f"Layer '{self.name}': unrecognized call arguments: {sorted(kwargs)}.")
        if mask is not None and not self.uses_mask:
            raise TypeError(
                f"Layer '{self.name}' ({type(self).__name__}) takes no `mask` argument: it does not "
                "use a mask. Only layers that skip masked steps (the recurrent layers, their wrappers) do."
            )
        if _is_symbolic(inputs):
            return self._symbolic_call(inputs)
        given, inputs = inputs, self._prepare_inputs(inputs)
        shapes = _shapes_of(inputs)
        self._maybe_build(shapes)
        self._check_input(shapes)
        self._eager_losses = []
        if mask is not None:
            mask = backend.xp.asarray(mask).astype(bool)
        training = self.training_default if training is None else bool(training)
        with tape.recorded_call(self) as record:
            outputs, cache = self._forward_with_mask(inputs, training, mask)
        record(inputs, outputs, cache, given=given)
        if self.activity_regularizer is not None:
            self._eager_losses.extend(activity_penalties(self.activity_regularizer, outputs))
        # Only for the sugar `layer.backward(dy)`; models and the engine never read it.
        self._last_call = cache
        return outputs

    def _prepare_inputs(self, inputs):
        where = f"Layer '{self.name}'"
        if isinstance(inputs, (list, tuple)):
            return [self._autocast(backend.as_numeric(item, where)) for item in inputs]
        return self._autocast(backend.as_numeric(inputs, where))

    def _autocast(self, value):
        """Keras's dtype policy: floats take the layer's dtype; integers stay unless the layer computes in floats."""
        if isinstance(value, list):
            return [self._autocast(item) for item in value]
        kind = value.dtype.kind
        if kind == "f":
            return value.astype(self.dtype, copy=False) if self.autocast else value
        if self.keeps_integers:
            return value
        return value.astype(self.dtype)

    def _output_dtype(self, input_dtypes):
        if self.keeps_integers and input_dtypes and all(
            backend.xp.dtype(d).kind in "biu" for d in input_dtypes
        ):
            return input_dtypes[0]
        return self.dtype

    def _maybe_build(self, shapes):
        if not self.built:
            self.build(shapes)
            self.built = True
            self._build_input_shape = [list(s) for s in shapes] if isinstance(shapes, list) else list(shapes)

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
        output_shape = self._symbolic_output_shape(shapes)
        # Several outputs are declared by a list of shapes (a shape itself is a tuple).
        outputs_are_list = isinstance(output_shape, list)
        node = Node(self, tensors, [], inputs_are_list, outputs_are_list)
        dtype = self._output_dtype([t.dtype for t in tensors])
        for index, shape in enumerate(output_shape if outputs_are_list else [output_shape]):
            node.outputs.append(KerasTensor(shape, dtype, node=node, index=index, name=self.name))
        self._inbound_nodes.append(node)
        return list(node.outputs) if outputs_are_list else node.outputs[0]

    @property
    def output(self):
        """The symbolic output(s) of this layer's first call in a graph (as in Keras)."""
        node = self._first_node("output")
        return list(node.outputs) if node.outputs_are_list else node.outputs[0]

    @property
    def input(self):
        """The symbolic input(s) of this layer's first call in a graph (as in Keras)."""
        node = self._first_node("input")
        return list(node.inputs) if node.inputs_are_list else node.inputs[0]

    def _first_node(self, what):
        # Keras 3 answers with the first call of a layer called several times (a shared layer).
        if not self._inbound_nodes:
            raise AttributeError(
                f"Layer '{self.name}' has never been called and thus has no defined {what}: call it "
                "on a symbolic input (keras.Input), or put it in a Sequential model with an input shape."
            )
        return self._inbound_nodes[0]

    # ---------------------------------------------------------- serialization
    def get_config(self):
        """Keras's config: the same keys and values ``keras.layers.X.get_config()`` gives."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": dtype_policy(self.dtype)}
        if self.activity_regularizer is not None or self.lists_activity_regularizer:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        if not self.autocast:
            config["autocast"] = False
        # No batch_input_shape (Keras 3 refuses it): a Sequential saves an InputLayer instead.
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _with_single_call_sugar(pure_backward):
    """``backward(dy)`` without a cache: the last call's cache, ``self.grads`` filled, input gradients returned."""

    @functools.wraps(pure_backward)
    def backward(self, output_grads, cache=_LAST_CALL):
        if cache is not _LAST_CALL:
            return pure_backward(self, output_grads, cache)
        if self._last_call is _LAST_CALL:
            raise RuntimeError(
                f"Layer '{self.name}': backward(dy) uses the cache of the layer's last call on "
                "arrays, and there is none yet. Call the layer on arrays first: "
                "`y = layer(x); dx = layer.backward(dy)`."
            )
        input_grads, weight_grads = pure_backward(self, output_grads, self._last_call)
        self.grads = dict(weight_grads)
        return input_grads

    return backward


Layer.backward = _with_single_call_sugar(Layer.backward)


def _is_float_array(value):
    return hasattr(value, "dtype") and hasattr(value, "ndim") and value.dtype.kind == "f"


def _batch_divisor(output):
    """Keras divides an activity penalty by the batch size (divide_no_nan: 0 for an empty batch)."""
    return output.shape[0] if output.ndim > 0 else 1


def activity_penalties(regularizer, outputs):
    """Keras 3's activity penalties of one layer call: ``regularizer(output) / batch_size`` per float output."""
    penalties = []
    for output in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
        if not _is_float_array(output):
            continue
        penalty = regularizer(output)
        divisor = _batch_divisor(output)
        penalty = penalty * 0 if divisor == 0 else penalty / output.dtype.type(divisor)
        penalties.append(backend.xp.asarray(penalty, dtype=output.dtype))
    return penalties


def activity_gradients(regularizer, outputs, where):
    """The gradients of :func:`activity_penalties` with respect to each output (None for a non-float one)."""
    grads = []
    for output in outputs:
        if not _is_float_array(output):
            grads.append(None)
            continue
        grad = regularizers.gradient(regularizer, output, where)
        divisor = _batch_divisor(output)
        grads.append(grad * 0 if divisor == 0 else grad / output.dtype.type(divisor))
    return grads


def dtype_policy(name):
    """Keras 3's serialized dtype policy for a dtype name."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


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
