"""Core layers: Input, Dense, Activation, Dropout, Flatten, Reshape, Identity, ActivityRegularization."""
from __future__ import annotations

import math

from course_lib import activations, backend, constraints, initializers, regularizers
from course_lib.layers.base import InputSpec, KerasTensor, Layer, Node, standardize_shape
from course_lib.ops import dense_backward, dense_forward
from course_lib.ops.arguments import check_data_format


class InputLayer(Layer):
    """The entry point of a model: holds the expected shape and dtype, computes nothing.

    Args:
        shape: shape of one sample, without the batch axis.
        batch_size: fixed batch size, or None.
        dtype: the inputs' dtype: a float type, or an integer type for token
            ids and other integer inputs (``Input(shape=(10,), dtype="int32")``).
        batch_shape: the full shape including the batch axis (instead of shape).
    """

    keeps_integers = True

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None,
                 input_shape=None, batch_input_shape=None, sparse=False, ragged=False, optional=False,
                 **kwargs):
        _not_yet_supported("InputLayer", sparse=sparse or None, ragged=ragged or None, optional=optional or None)
        shape = shape if shape is not None else input_shape
        batch_shape = batch_shape if batch_shape is not None else batch_input_shape
        if shape is None and batch_shape is None:
            raise ValueError("InputLayer: you must pass a `shape` argument (the shape of one sample).")
        if shape is not None and batch_shape is not None:
            raise ValueError(
                f"InputLayer: pass either `shape` or `batch_shape`, not both. "
                f"Received: shape={shape}, batch_shape={batch_shape}"
            )
        super().__init__(name=name or backend.unique_name("input_layer"), **kwargs)
        self._dtype = _input_dtype_name(dtype)
        if batch_shape is None:
            batch_shape = (batch_size,) + standardize_shape(shape, "InputLayer shape")
        self.batch_shape = standardize_shape(batch_shape, "InputLayer batch_shape")
        self.built = True
        node = Node(self, [], [], False)
        node.outputs.append(KerasTensor(self.batch_shape, self.dtype, node=node, name=self.name))
        self._inbound_nodes.append(node)

    def get_config(self):
        return {"batch_shape": self.batch_shape, "dtype": self.dtype, "sparse": False, "ragged": False,
                "name": self.name, "optional": False}


def _not_yet_supported(where, **options):
    """Keras's options course_lib does not implement: accepted at their defaults, refused otherwise."""
    for option, value in options.items():
        if value is not None:
            raise ValueError(
                f"{where}: `{option}` is not supported by course_lib (only its default, which "
                f"Keras writes into saved configs, is accepted). Received: {option}={value!r}"
            )


def _input_dtype_name(dtype):
    from course_lib.layers.base import _dtype_name

    name = _dtype_name(dtype or backend.floatx())
    if name in ("string", "str"):
        return "string"  # texts, for TextVectorization and StringLookup (host NumPy arrays of str)
    try:
        kind = backend.xp.dtype(name).kind
    except TypeError:
        kind = None
    if kind not in ("b", "i", "u", "f"):
        raise ValueError(
            f"InputLayer: dtype must be a float, integer or bool type, or 'string' for texts. Received: dtype={dtype!r}"
        )
    return backend.xp.dtype(name).name


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None):
    """A symbolic input tensor for the functional API (or the start of a Sequential model).

    Args:
        shape: shape of one sample, without the batch axis, e.g. ``(784,)``.
        batch_size: optional fixed batch size.
        dtype: float type (default ``floatx()``) or an integer type.
        batch_shape: full shape with the batch axis, instead of ``shape``.

    Returns:
        A :class:`KerasTensor` of shape ``(batch_size, *shape)``.
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name)
    return layer.output


class ActivatedLayer(Layer):
    """A layer whose forward ends in ``self.activation`` (Dense, Activation, convolutions).

    Subclasses write the part before the activation as a pure pair,
    ``forward_pre_activation(inputs, training) -> (pre, cache)`` and
    ``backward_pre_activation(dpre, cache) -> (input_grads, weight_grads)``;
    this class adds the activation on both sides. The training engine reads
    the pre-activation (the logits) from the cache with
    :meth:`pre_activation` when it scores a softmax or sigmoid output with
    crossentropy from logits, as Keras's TensorFlow backend does.
    """

    owns_pre_activation = False
    """True where ``forward_pre_activation`` always returns a new array of the layer's own (a
    product, not the input): a plain relu then overwrites it instead of allocating its output."""

    def forward(self, inputs, training=False):
        pre, inner = self.forward_pre_activation(inputs, training)
        if self.owns_pre_activation and self.activation is activations.relu:
            # max(pre, 0) in place: no new array, and backward keeps one array instead of two;
            # relu's derivative reads the output as well as the input (out > 0 exactly where pre > 0).
            out = backend.xp.maximum(pre, 0, out=pre)
            return out, (inner, out, out)
        out = self.activation(pre)
        return out, (inner, pre, out)

    def _symbolic_output_shape(self, input_shapes):
        shape = self.compute_output_shape(input_shapes)
        halves = getattr(self.activation, "output_shape", None)  # glu halves its axis
        return shape if halves is None else halves(shape)

    def backward(self, output_grads, cache):
        inner, pre, out = cache
        return self.backward_pre_activation(self.activation.backward(pre, out, output_grads), inner)

    def weight_gradients(self, output_grads, cache):
        inner, pre, out = cache
        return self.weight_gradients_pre_activation(self.activation.backward(pre, out, output_grads), inner)

    def weight_gradients_pre_activation(self, dpre, inner):
        return self.backward_pre_activation(dpre, inner)[1]

    # The engine's logits protocol (Keras's `_keras_logits`): a crossentropy on this layer's output
    # is scored from the pre-activation when the activation is the matching softmax/sigmoid.
    def output_logits_activation(self):
        """The name of the activation whose logits this layer's output carries (``'softmax'``...)."""
        return getattr(self.activation, "name", None)

    @staticmethod
    def pre_activation(cache):
        """The logits kept in a forward ``cache`` of this layer."""
        return cache[1]

    def logits_gradient(self, output_grads, cache):
        """An upstream gradient of the output, taken back through the activation onto the logits."""
        _, pre, out = cache
        return self.activation.backward(pre, out, output_grads)

    def backward_from_logits(self, dpre, cache, need_dx=True):
        """Backward from the gradient with respect to the logits: ``(input_grads or None, weight_grads)``."""
        if need_dx:
            return self.backward_pre_activation(dpre, cache[0])
        return None, self.weight_gradients_pre_activation(dpre, cache[0])


class KernelLayer(ActivatedLayer):
    """An ActivatedLayer with a kernel and an optional bias: Dense and the convolutions.

    Holds the options the two share, as Keras names them (activation,
    use_bias, the kernel's and the bias's initializers, regularizers and
    constraints), creates the two weights and writes their part of the config.
    Their pre-activation is always a new product, so a relu overwrites it in place
    (a subclass whose ``forward_pre_activation`` may return its input sets
    ``owns_pre_activation = False``).
    """

    owns_pre_activation = True

    def _kernel_options(self, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                        bias_regularizer, kernel_constraint, bias_constraint):
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def _add_kernel_and_bias(self, kernel_shape, units):
        self.kernel = self.add_weight("kernel", kernel_shape, self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (units,), self.bias_initializer, regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def _weight_grads(self, dkernel, dbias):
        return {"kernel": dkernel, "bias": dbias} if self.use_bias else {"kernel": dkernel}

    def weight_gradients_pre_activation(self, dpre, cache):
        return self.backward_pre_activation(dpre, cache, need_dx=False)[1]

    def _kernel_config(self):
        return dict(
            activation=activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
            kernel_constraint=constraints.serialize(self.kernel_constraint),
            bias_constraint=constraints.serialize(self.bias_constraint),
        )


class Dense(KernelLayer):
    """Densely connected layer (全连接层): ``activation(x @ kernel + bias)``.

    Args:
        units: positive int, size of the output.
        activation: name or function; None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: initializers (names or objects).
        kernel_regularizer, bias_regularizer: penalties on the weights added to
            the training loss (names, objects or dicts; see
            :mod:`course_lib.regularizers`).
        activity_regularizer: a penalty on the output, divided by the batch size.
        kernel_constraint, bias_constraint: projections applied to the weights
            after each optimizer step (see :mod:`course_lib.constraints`).

    Input shape:
        ``(batch_size, ..., input_dim)``.

    Output shape:
        ``(batch_size, ..., units)``.
    """

    supports_masking = True  # as Keras: a mask passes through unchanged

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 quantization_config=None, **kwargs):
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"Dense: units must be a positive int. Received: units={units!r}")
        _not_yet_supported("Dense", quantization_config=quantization_config)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = units
        self._kernel_options(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                             bias_regularizer, kernel_constraint, bias_constraint)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"Dense '{self.name}': the last dimension of the input must be known. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self._add_kernel_and_bias((input_dim, self.units), self.units)
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})
        self.built = True

    def forward_pre_activation(self, inputs, training=False):
        return dense_forward(inputs, self.kernel.value, None if self.bias is None else self.bias.value)

    def backward_pre_activation(self, dpre, cache, need_dx=True):
        dx, dkernel, dbias = dense_backward(dpre, cache, need_dx=need_dx)
        return dx, self._weight_grads(dkernel, dbias)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, **self._kernel_config(), quantization_config=None)
        return config


class Activation(ActivatedLayer):
    """Applies an activation function (激活函数) to its input.

    Args:
        activation: a name such as ``'relu'`` or a function from ``course_lib.activations``.
    """

    supports_masking = True  # as Keras: a mask passes through unchanged

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def forward_pre_activation(self, inputs, training=False):
        return inputs, None

    def backward_pre_activation(self, dpre, cache):
        return dpre, {}

    def get_config(self):
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config


class Dropout(Layer):
    """Randomly sets a fraction ``rate`` of inputs to 0 while training (随机失活).

    Kept units are scaled by ``1 / (1 - rate)`` so the expected sum is unchanged;
    at inference time the layer is the identity.

    Args:
        rate: float in [0, 1], the fraction of units to drop. As in Keras,
            ``rate=1`` drops every unit while training (the output is zeros).
        noise_shape: shape of the binary mask, broadcast against the input
            (``None`` entries take the input's size), e.g. ``(None, 1, features)``.
        seed: int seed for the mask.
    """

    supports_masking = True  # as Keras: a mask passes through unchanged

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(
                f"Dropout: rate must be a float in the range [0, 1]. Received: rate={rate!r}"
            )
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._rng = backend.rng(seed) if seed is not None else None

    def forward(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs, None
        if self.rate == 1:
            mask = backend.xp.zeros_like(inputs)
            return mask, mask
        shape = inputs.shape
        if self.noise_shape is not None:
            shape = tuple(
                size if want is None else want for size, want in zip(inputs.shape, self.noise_shape)
            )
        generator = self._rng or backend.rng()
        keep = backend.random_uniform(shape, generator) >= self.rate
        mask = keep.astype(inputs.dtype) / inputs.dtype.type(1.0 - self.rate)
        return inputs * mask, mask

    def backward(self, output_grads, mask):
        return (output_grads if mask is None else output_grads * mask), {}

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=self.noise_shape, seed=self.seed)
        return config


class Flatten(Layer):
    """Flattens every axis but the batch axis (压平): ``(N, H, W, C) -> (N, H*W*C)``.

    The order is (H, W, C), as in Keras with ``data_format='channels_last'``;
    with ``'channels_first'`` the channel axis is first moved last.
    """

    keeps_integers = True

    def __init__(self, data_format=None, **kwargs):
        data_format = check_data_format("Flatten", data_format)
        super().__init__(**kwargs)
        self.data_format = data_format

    def forward(self, inputs, training=False):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = backend.xp.moveaxis(inputs, 1, -1)
        return inputs.reshape(inputs.shape[0], -1), inputs.shape

    def backward(self, output_grads, input_shape):
        dx = output_grads.reshape(input_shape)
        if self.data_format == "channels_first" and dx.ndim > 2:
            dx = backend.xp.moveaxis(dx, -1, 1)
        return dx, {}

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(s is None for s in rest) else int(math.prod(rest))
        return (input_shape[0], size)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (the batch axis is kept).

    Args:
        target_shape: tuple of ints, without the batch axis; one entry may be -1.
    """

    keeps_integers = True

    def __init__(self, target_shape, **kwargs):
        try:
            target_shape = tuple(target_shape)
        except TypeError:
            raise TypeError(
                f"Reshape: target_shape must be a tuple of ints. Received: target_shape={target_shape!r}"
            ) from None
        if any(not isinstance(s, int) or (s <= 0 and s != -1) for s in target_shape) or (
            list(target_shape).count(-1) > 1
        ):
            raise ValueError(
                "Reshape: target_shape must hold positive ints and at most one -1. "
                f"Received: target_shape={target_shape}"
            )
        super().__init__(**kwargs)
        self.target_shape = target_shape

    def _resolve(self, input_shape):
        size = None if any(s is None for s in input_shape[1:]) else int(math.prod(input_shape[1:]))
        known = int(math.prod(s for s in self.target_shape if s != -1))
        if -1 in self.target_shape:
            if size is None:
                return tuple(None if s == -1 else s for s in self.target_shape)
            if size % known:
                self._size_error(input_shape)
            return tuple(size // known if s == -1 else s for s in self.target_shape)
        if size is not None and size != known:
            self._size_error(input_shape)
        return self.target_shape

    def _size_error(self, input_shape):
        raise ValueError(
            f"Reshape '{self.name}': cannot reshape a sample of shape {tuple(input_shape[1:])} "
            f"into target_shape {self.target_shape}: the total sizes differ."
        )

    def build(self, input_shape):
        self._resolve(input_shape)
        self.built = True

    def forward(self, inputs, training=False):
        shape = self._resolve(inputs.shape)
        return inputs.reshape((inputs.shape[0],) + shape), inputs.shape

    def backward(self, output_grads, input_shape):
        return output_grads.reshape(input_shape), {}

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolve(input_shape)

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = self.target_shape
        return config


class _PassThrough(Layer):
    """A layer whose outputs are its inputs (one tensor or a list): the gradient passes unchanged."""

    keeps_integers = True
    supports_masking = True  # as Keras: a mask passes through unchanged

    def forward(self, inputs, training=False):
        # New array objects over the same data: a GradientTape tells a call's outputs from its
        # inputs by identity, so an output that *is* the input would get its gradient twice.
        if isinstance(inputs, list):
            return [item.view() for item in inputs], None
        return inputs.view(), None

    def backward(self, output_grads, cache):
        return output_grads, {}

    def compute_output_shape(self, input_shape):
        return list(input_shape) if isinstance(input_shape, list) else tuple(input_shape)


class Identity(_PassThrough):
    """Returns its input unchanged (恒等层): a placeholder where no operation is to be done.

    Input shape: any (a list of tensors too). Output shape: the same. Built at
    construction, as in Keras; a mask passes through unchanged.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.built = True


class ActivityRegularization(_PassThrough):
    """Returns its input unchanged and adds a penalty on it to the loss (活动正则化).

    The penalty is Keras's activity regularizer ``L1L2(l1, l2)`` of the output,
    ``(l1 * sum(|x|) + l2 * sum(x**2)) / batch_size``, at every call: it is in
    ``layer.losses`` / ``model.losses`` and in the training loss, and its gradient
    reaches the input through the engine, as every layer's ``activity_regularizer``
    does. The layer's own backward passes the upstream gradient through unchanged.

    Args:
        l1: L1 factor, a float >= 0 (default 0).
        l2: L2 factor, a float >= 0 (default 0).

    Input shape: any. Output shape: the same. Built at construction, as in Keras;
    a mask passes through unchanged. Its config holds ``l1`` and ``l2`` (no
    ``activity_regularizer`` key, as Keras's).
    """

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        if "activity_regularizer" in kwargs:
            raise TypeError(
                "ActivityRegularization: the regularizer is L1L2(l1, l2): pass l1 and l2, not "
                f"activity_regularizer. Received: activity_regularizer={kwargs['activity_regularizer']!r}"
            )
        for argument, value in (("l1", l1), ("l2", l2)):
            if value is not None:
                regularizers.validate_float_arg(value, argument, "ActivityRegularization")
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1 = l1
        self.l2 = l2
        self.built = True

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}
