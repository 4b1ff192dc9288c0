"""Keras's MultiHeadAttention (多头注意力), the attention of a Transformer block.

The maths is :func:`course_lib.ops.attention.multi_head_attention_forward` and
its backward; this layer adds Keras's lifecycle, weights, masks and call
options (keras/src/layers/attention/multi_head_attention.py, Keras 3.15):

- weights in four sublayers, as Keras's ``EinsumDense`` projections:
  ``query`` (kernel ``(dq, H, key_dim)``, bias ``(H, key_dim)``), ``key``,
  ``value`` (``(dv, H, value_dim)``) and ``attention_output`` (kernel
  ``(H, value_dim, *output_shape)``); ``get_weights()`` lists them in that
  order, the ``.weights.h5`` file nests them in the groups ``query_dense``,
  ``key_dense``, ``value_dense``, ``output_dense`` (and the empty ``_softmax``
  and ``_dropout_layer`` groups Keras writes);
- the attention mask is Keras's ``_compute_attention_mask``: the query's mask
  ``(B, Tq, 1)``, the value's and the key's masks ``(B, 1, Tv)``, the causal
  mask and the ``attention_mask`` argument, all combined with AND;
- two softmax paths, as Keras's TensorFlow backend takes them. With
  ``return_attention_scores=True`` or ``dropout > 0`` Keras runs its
  ``Softmax`` layer, whose masked weights are exactly 0, so a fully masked
  query row gives zero weights and a zero context; otherwise it runs the
  fused ``ops.dot_product_attention``, whose fully masked row is uniform (the
  mean of the values). Only fully masked rows tell the two apart;
- Keras reads the query's mask from the query tensor only: an explicit
  ``query_mask=`` argument is ignored, as Keras ignores it (pinned in the tests);
  ``value_mask=`` and ``key_mask=`` are used.

Deliberate differences from Keras (each pinned in tests/unit/test_multi_head_attention.py):

- inputs must have rank 3, ``(batch, T, dim)``: attention over the sequence
  axis (``attention_axes`` None, 1 or -2); ``use_gate`` and
  ``activity_regularizer`` are refused (Keras applies the latter to each of
  the four projections, not to the layer's output);
- the symbolic shape of the scores is ``(batch, H, Tq, Tv)``; Keras's
  ``compute_output_spec`` says ``(batch, H, Tq, Tq)`` even when ``Tv != Tq``;
- ``return_attention_scores=True`` returns the list ``[output, scores]`` (Keras a tuple);
- ``dropout`` must lie in [0, 1);
- in a functional graph a layer keeps one set of call options (which inputs
  it takes, ``return_attention_scores``, ``use_causal_mask``): a second graph
  call with other options raises. The masks of a graph come from its tensors
  (``Embedding(mask_zero=True)``, ``Masking``); an ``attention_mask`` in a graph
  is a symbolic input (``keras.Input(shape=(Tq, Tv), dtype="bool")``).
"""
from __future__ import annotations

from course_lib import backend, constraints, initializers, regularizers
from course_lib.layers.base import KerasTensor, Layer, _is_symbolic
from course_lib.layers.attention import Attention
from course_lib.layers.core import _not_yet_supported
from course_lib.ops.attention import causal_mask, multi_head_attention_backward, multi_head_attention_forward

_DEFAULT_OPTIONS = {"has_key": False, "has_attention_mask": False, "return_attention_scores": False,
                    "use_causal_mask": False}
# The four projections: (sublayer name, h5 group, key of the ops' weights dict).
_PROJECTIONS = (("query", "query_dense", "query"), ("key", "key_dense", "key"),
                ("value", "value_dense", "value"), ("attention_output", "output_dense", "output"))


def _positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class _Projection(Layer):
    """One of the four projections of MultiHeadAttention: Keras's ``EinsumDense`` sublayer, its weights only."""

    _owner = None

    @property
    def _path_prefix(self):
        # Its weights' paths are its owner's: 'multi_head_attention/query/kernel', as in Keras.
        owner = self._owner
        return "" if owner is None else f"{owner._path_prefix}{owner.name}/"

    @_path_prefix.setter
    def _path_prefix(self, value):
        pass  # always derived from the owner

    def build_weights(self, kernel_shape, bias_shape, owner):
        self.kernel = self.add_weight("kernel", kernel_shape, owner._kernel_initializer(),
                                      regularizer=owner.kernel_regularizer, constraint=owner.kernel_constraint)
        self.bias = None
        if bias_shape is not None:
            self.bias = self.add_weight("bias", bias_shape, owner._bias_initializer(),
                                        regularizer=owner.bias_regularizer, constraint=owner.bias_constraint)
        self.built = True


def _check_shared_options(where, dropout, sliding_window, seed, use_gate, activity_regularizer):
    """The argument checks MultiHeadAttention and GroupQueryAttention share (Keras's words where it has them)."""
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"{where}: dropout must be a float in the range [0, 1). Received: dropout={dropout!r}")
    if sliding_window is not None and not _positive_int(sliding_window):
        raise ValueError(
            f"{where}: sliding_window must be None or a positive int. Received: sliding_window={sliding_window!r}")
    if seed is not None and not isinstance(seed, int):
        raise ValueError(f"{where}: seed must be an int or None. Received: seed={seed!r}")
    _not_yet_supported(where, use_gate=use_gate or None, activity_regularizer=activity_regularizer)


def _set_weight_options(layer, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                        kernel_constraint, bias_constraint, seed):
    """An attention layer's initializers, regularizers, constraints, seed and dropout generator."""
    layer.seed = seed
    layer.kernel_initializer = initializers.get(kernel_initializer)
    layer.bias_initializer = initializers.get(bias_initializer)
    layer.kernel_regularizer = regularizers.get(kernel_regularizer)
    layer.bias_regularizer = regularizers.get(bias_regularizer)
    layer.kernel_constraint = constraints.get(kernel_constraint)
    layer.bias_constraint = constraints.get(bias_constraint)
    layer._rng = backend.rng(seed) if seed is not None else None


def _weight_options_config(layer):
    """The config entries of an attention layer's initializers, regularizers, constraints and seed, in Keras's order."""
    return {
        "kernel_initializer": initializers.serialize(layer.kernel_initializer),
        "bias_initializer": initializers.serialize(layer.bias_initializer),
        "kernel_regularizer": regularizers.serialize(layer.kernel_regularizer),
        "bias_regularizer": regularizers.serialize(layer.bias_regularizer),
        "activity_regularizer": None,
        "kernel_constraint": constraints.serialize(layer.kernel_constraint),
        "bias_constraint": constraints.serialize(layer.bias_constraint),
        "seed": layer.seed,
    }


class MultiHeadAttention(Layer):
    """Multi-head attention (多头注意力), as in "Attention is all you need".

    Each of ``num_heads`` heads projects the query and the key to ``key_dim``
    features and the value to ``value_dim``, weighs the values by
    ``softmax(q k^T / sqrt(key_dim))`` and the heads' results are projected
    back to the query's last dimension (or ``output_shape``). Self-attention
    is ``MultiHeadAttention(2, 8)(x, x)``.

    Args:
        num_heads: positive int, the number of heads H.
        key_dim: positive int, the size of each head for the query and the key.
        value_dim: positive int, the size of each head for the value; ``key_dim`` if None.
        dropout: float in [0, 1), the fraction of the attention weights dropped
            while training (kept weights scaled by ``1/(1-dropout)``), drawn from
            the layer's own generator when ``seed`` is given.
        use_bias: whether the four projections have biases.
        output_shape: the size(s) of the output's last axes: an int or a tuple;
            the query's last dimension if None.
        attention_axes: None, 1 or -2 (or a one-element tuple/list of them): the
            sequence axis of rank-3 inputs; other axes are refused.
        flash_attention: accepted as Keras does (the same numbers); with it,
            ``dropout > 0`` and ``return_attention_scores`` are refused, as in Keras.
        kernel_initializer, bias_initializer: initializers of the four projections.
        kernel_regularizer, bias_regularizer: penalties on their kernels and biases.
        kernel_constraint, bias_constraint: projections applied after each step.
        sliding_window: None or a positive int: query step ``i`` sees key steps
            ``j`` with ``|i - j| < sliding_window`` only.
        seed: int seed of the dropout draws, or None.

    Call arguments:
        query: ``(B, Tq, dq)``.
        value: ``(B, Tv, dv)``.
        key: ``(B, Tv, dk)``; ``value`` if None.
        query_mask: ignored, as Keras ignores it (the query tensor's own mask is used).
        value_mask, key_mask: boolean ``(B, Tv)`` (eager calls; a graph takes the tensors' masks).
        attention_mask: boolean, broadcastable to ``(B, Tq, Tv)`` (or to
            ``(B, H, Tq, Tv)`` with four axes); True = may attend.
        return_attention_scores: also return the attention weights ``(B, H, Tq, Tv)``.
        training: dropout applies only when True.
        use_causal_mask: query step ``i`` sees key steps ``j <= i`` only.

    Input shape:
        query ``(batch_size, Tq, dq)``, value ``(batch_size, Tv, dv)``, key ``(batch_size, Tv, dk)``.

    Output shape:
        ``(batch_size, Tq, dq)`` (``(batch_size, Tq, *output_shape)``), and with
        ``return_attention_scores`` the scores ``(batch_size, num_heads, Tq, Tv)``.
        The output's mask is the query's mask.
    """

    supports_masking = True
    uses_mask = True
    _uses_query_mask_argument = False  # an eager call's query_mask= is ignored, as Keras ignores it

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, use_gate=False,
                 sliding_window=None, seed=None, **kwargs):
        where = "MultiHeadAttention" + (f" '{kwargs['name']}'" if isinstance(kwargs.get("name"), str) else "")
        if not _positive_int(num_heads):
            raise ValueError(f"{where}: num_heads must be a positive int. Received: num_heads={num_heads!r}")
        if not _positive_int(key_dim):
            raise ValueError(f"{where}: key_dim must be a positive int. Received: key_dim={key_dim!r}")
        if value_dim is not None and not _positive_int(value_dim):
            raise ValueError(
                f"{where}: value_dim must be a positive int or None. Received: value_dim={value_dim!r}")
        _check_shared_options(where, dropout, sliding_window, seed, use_gate, activity_regularizer)
        self._attention_axes = _attention_axes(attention_axes, where)
        self._output_shape = _output_shape(output_shape, where)
        self._flash_attention = bool(flash_attention)
        if self._flash_attention and dropout > 0:
            raise ValueError(
                f"{where}: dropout is not supported when flash attention is enabled. Please set dropout to 0.0 "
                f"to use flash attention. Received: dropout={dropout!r}")
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim if value_dim else key_dim
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.sliding_window = sliding_window
        _set_weight_options(self, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                            kernel_constraint, bias_constraint, seed)
        dtype = self.dtype
        self._query_dense, self._key_dense, self._value_dense, self._output_dense = (
            _Projection(name=name, dtype=dtype, trainable=self.trainable) for name, _, _ in _PROJECTIONS)
        for child in self._projections():
            child._owner = self
        # Keras's weightless sublayers: their (empty) groups are in Keras's .weights.h5 files.
        self._softmax = Layer(name="softmax", dtype=dtype)
        self._dropout_layer = Layer(name="dropout", dtype=dtype)
        self._graph_options = None  # the call options of this layer's calls in a graph
        self._call_state = None     # (options, explicit masks, constant attention mask) while a __call__ runs
        self._build_shapes_dict = None

    def _where(self):
        return f"MultiHeadAttention '{self.name}'"

    # Keras clones the initializers for each projection, so that seeded ones do not repeat themselves.
    def _kernel_initializer(self):
        return initializers.get(initializers.serialize(self.kernel_initializer))

    def _bias_initializer(self):
        return initializers.get(initializers.serialize(self.bias_initializer))

    @property
    def attention_axes(self):
        return self._attention_axes

    @Layer.trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for child in self._projections():
            child.trainable = value

    def _projections(self):
        return [self._query_dense, self._key_dense, self._value_dense, self._output_dense]

    def saving_children(self):
        children = [(group, child) for (_, group, _), child in zip(_PROJECTIONS, self._projections())]
        return children + [("_softmax", self._softmax), ("_dropout_layer", self._dropout_layer)]

    # ------------------------------------------------------------ calling
    def __call__(self, query, value=None, key=None, query_mask=None, value_mask=None, key_mask=None,
                 attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False,
                 **kwargs):
        if value is None and isinstance(query, (list, tuple)):
            # course_lib's list form, [query, value] or [query, value, key] (what the test harnesses pass).
            if not 2 <= len(query) <= 3:
                raise ValueError(
                    f"{self._where()}: a list of inputs must be [query, value] or [query, value, key]. "
                    f"Received: a list of {len(query)}")
            query, value, key = query[0], query[1], (query[2] if len(query) == 3 else None)
        if value is None:
            raise TypeError(f"{self._where()}: missing the `value` input: call it as layer(query, value).")
        if "mask" in kwargs:
            raise TypeError(
                f"{self._where()}: takes no `mask` argument; pass value_mask=/key_mask= (or attention_mask=), "
                "or let the masks come from the tensors (Embedding(mask_zero=True)).")
        if self._flash_attention and return_attention_scores:
            raise ValueError(
                f"{self._where()}: returning attention scores is not supported when flash attention is "
                "enabled. Please disable flash attention to access attention scores.")
        symbolic = _is_symbolic([item for item in (query, value, key, attention_mask) if item is not None])
        # In a graph the attention_mask is an input tensor; an eager call's is a constant, not an input.
        mask_is_input = symbolic and attention_mask is not None
        options = {"has_key": key is not None, "has_attention_mask": mask_is_input,
                   "return_attention_scores": bool(return_attention_scores),
                   "use_causal_mask": bool(use_causal_mask)}
        # Keras's order of a node's tensors: the positional ones, then the keyword ones by name.
        inputs = [query, value] + ([attention_mask] if mask_is_input else []) + ([key] if key is not None else [])
        constant_mask = None if mask_is_input else attention_mask
        if symbolic:
            explicit = {"query_mask": query_mask, "value_mask": value_mask, "key_mask": key_mask}
            given = sorted(name for name, item in explicit.items() if item is not None)
            if given:
                raise TypeError(
                    f"{self._where()}: in a functional graph the masks come from the input tensors "
                    "(Embedding(mask_zero=True), Masking); course_lib takes no symbolic mask arguments. "
                    f"Received: {', '.join(given)}")
            if attention_mask is not None and not isinstance(attention_mask, KerasTensor):
                raise TypeError(
                    f"{self._where()}: in a functional graph the attention_mask must be a symbolic input, e.g. "
                    "keras.Input(shape=(Tq, Tv), dtype='bool'). "
                    f"Received: {type(attention_mask).__name__}")
            if self._graph_options is not None and self._graph_options != options:
                raise ValueError(
                    f"{self._where()}: course_lib keeps one set of call options per layer in a graph; this "
                    f"layer was called with {self._graph_options}. Received: {options}. Use a second layer.")
            masks = None
        else:
            # Keras's MultiHeadAttention ignores an explicit query_mask; its GroupQueryAttention uses it.
            masks = [query_mask if self._uses_query_mask_argument else None, value_mask, key_mask]
        self._call_state = (options, masks, constant_mask)
        try:
            outputs = super().__call__(inputs, training=training, **kwargs)
        finally:
            self._call_state = None
        if symbolic:
            self._graph_options = options
        return outputs

    def _options(self, count=None):
        if self._call_state is not None:
            return self._call_state[0]
        if self._graph_options is not None:
            return self._graph_options
        # Neither in a call nor in a graph (a bare compute_output_shape/build): [query, value(, key)].
        return dict(_DEFAULT_OPTIONS, has_key=count is not None and count >= 3)

    def _forward_with_mask(self, inputs, training, mask):
        options = self._options(len(inputs))
        constant_mask = None
        if self._call_state is not None:
            mask, constant_mask = self._call_state[1:]  # an eager call's explicit masks
        elif mask is not None:
            # A graph hands in one mask per input tensor: the query's, the value's, the
            # attention_mask's (no padding mask: not used) and the key's (if a key is an input).
            mask = [mask[0], mask[1], mask[-1] if options["has_key"] else None]
        return self.forward(inputs, training=training, mask=mask, attention_mask=constant_mask, **options)

    def _unpack(self, items, options):
        """``(query, value, key or None, attention_mask or None)`` from the list of inputs (or shapes):
        ``[query, value(, attention_mask)(, key)]``, Keras's order (the keyword tensors by name)."""
        expected = 2 + options["has_key"] + options["has_attention_mask"]
        if not isinstance(items, (list, tuple)) or len(items) != expected:
            count = len(items) if isinstance(items, (list, tuple)) else 1
            raise ValueError(
                f"{self._where()}: expected {expected} inputs (query, value"
                f"{', attention_mask' if options['has_attention_mask'] else ''}{', key' if options['has_key'] else ''}"
                f"). Received: {count}")
        key = items[-1] if options["has_key"] else None
        return items[0], items[1], key, (items[2] if options["has_attention_mask"] else None)

    # ------------------------------------------------------------- shapes
    def _check_shapes(self, query, value, key):
        """Ranks, batch sizes, Tv and (once built) the last dimensions, with errors naming the layer."""
        for name, shape in (("query", query), ("value", value), ("key", key)):
            if shape is not None and len(shape) != 3:
                raise ValueError(
                    f"{self._where()}: {name} must have rank 3, (batch_size, steps, dim) (query and value ranks "
                    f"must match). Received: query shape {tuple(query)}, {name} shape {tuple(shape)}")
        key_shape = value if key is None else key
        if None not in (key_shape[1], value[1]) and key_shape[1] != value[1]:
            raise ValueError(
                f"{self._where()}: all dimensions of value and key, except the last one, must be equal. "
                f"Received: value shape {tuple(value)}, key shape {tuple(key_shape)}")
        batches = {shape[0] for shape in (query, value, key_shape)} - {None}
        if len(batches) > 1:
            raise ValueError(
                f"{self._where()}: query, value and key must have the same batch size. Received: query shape "
                f"{tuple(query)}, value shape {tuple(value)}, key shape {tuple(key_shape)}")
        if self.built:
            key_name = "key" if key is not None else "key (the value, as no key was given)"
            for name, shape, child in (("query", query, self._query_dense), ("value", value, self._value_dense),
                                       (key_name, key_shape, self._key_dense)):
                expected = child.kernel.shape[0]
                if shape[-1] is not None and shape[-1] != expected:
                    raise ValueError(
                        f"{self._where()}: the last dimension of the {name} must be {expected}, as the layer was "
                        f"built. Received: {name} shape {tuple(shape)}")

    def _check_input(self, shapes):
        query, value, key, _ = self._unpack(shapes, self._options(len(shapes)))
        self._check_shapes(query, value, key)

    def build(self, input_shape, value_shape=None, key_shape=None):
        """Create the four projections for ``[query, value(, key)]`` shapes (or Keras's three arguments)."""
        if value_shape is not None:
            query_shape = input_shape
        else:
            query_shape, value_shape, key_shape, _ = self._unpack(input_shape, self._options(len(input_shape)))
        query_shape, value_shape = tuple(query_shape), tuple(value_shape)
        key_shape = None if key_shape is None else tuple(key_shape)
        self._check_shapes(query_shape, value_shape, key_shape)
        full_key = value_shape if key_shape is None else key_shape
        for name, shape in (("query", query_shape), ("value", value_shape), ("key", full_key)):
            if shape[-1] is None:
                raise ValueError(
                    f"{self._where()}: the last dimension of the {name} must be known. Received: {name} shape {shape}")
        layout = self._weight_layout(query_shape, value_shape, full_key)
        # The layer's weights are its projections' (the same Variables), in Keras's order.
        self._params, self._variables, self._trainable_names = {}, {}, []
        for (name, _, _), child, (kernel_shape, bias_shape) in zip(_PROJECTIONS, self._projections(), layout):
            if not child.built:
                child.build_weights(kernel_shape, bias_shape if self.use_bias else None, self)
            for weight in child._params:
                self._params[f"{name}/{weight}"] = child._params[weight]
                self._variables[f"{name}/{weight}"] = child._variables[weight]
                self._trainable_names.append(f"{name}/{weight}")
        self._attention_axes = (1,)  # as Keras, which resolves the axes when it builds
        self._build_shapes_dict = {"query_shape": list(query_shape), "value_shape": list(value_shape)}
        if key_shape is not None:
            self._build_shapes_dict["key_shape"] = list(key_shape)
        self.built = True

    def _weight_layout(self, query_shape, value_shape, key_shape):
        """``((kernel shape, bias shape), ...)`` of the four projections, in :data:`_PROJECTIONS`'s order."""
        heads = self.num_heads
        out = self._output_shape or (query_shape[-1],)
        return (
            ((query_shape[-1], heads, self.key_dim), (heads, self.key_dim)),
            ((key_shape[-1], heads, self.key_dim), (heads, self.key_dim)),
            ((value_shape[-1], heads, self.value_dim), (heads, self.value_dim)),
            ((heads, self.value_dim) + tuple(out), tuple(out)),
        )

    def get_build_config(self):
        """Keras's build config: ``{"shapes_dict": {"query_shape": ..., "value_shape": ...(, "key_shape")}}``."""
        return None if self._build_shapes_dict is None else {"shapes_dict": self._build_shapes_dict}

    def build_from_config(self, config):
        """Build from :meth:`get_build_config`'s (or Keras's) ``shapes_dict``."""
        if config and "shapes_dict" in config and not self.built:
            shapes = config["shapes_dict"]
            key_shape = shapes.get("key_shape")
            self.build(tuple(shapes["query_shape"]), tuple(shapes["value_shape"]),
                       None if key_shape is None else tuple(key_shape))

    def compute_output_shape(self, input_shape, value_shape=None, key_shape=None):
        """``(batch, Tq, *output_shape)``; with ``return_attention_scores`` in a call, also the scores' shape.

        Accepts the list ``[query, value(, key)]`` of shapes (course_lib) or Keras's three arguments.
        """
        if value_shape is not None:
            query_shape, returns_scores = tuple(input_shape), False
        else:
            options = self._options(len(input_shape))
            query_shape, value_shape, key_shape, _ = self._unpack(input_shape, options)
            returns_scores = self._call_state is not None and options["return_attention_scores"]
        query_shape, value_shape = tuple(query_shape), tuple(value_shape)
        self._check_shapes(query_shape, value_shape, None if key_shape is None else tuple(key_shape))
        output = query_shape[:-1] + tuple(self._output_shape or (query_shape[-1],))
        if returns_scores:
            return [output, (query_shape[0], self.num_heads, query_shape[1], value_shape[1])]
        return output

    compute_mask = Attention.compute_mask  # the query's mask, as Attention's (both read _options())

    # ------------------------------------------------------------ masks
    def _masks(self, mask, query, value):
        """``(query_mask, value_mask, key_mask)`` as boolean arrays (or None), their shapes checked.

        ``mask`` is None or ``[query_mask, value_mask, key_mask]`` (entries may be None).
        """
        if mask is None:
            return None, None, None
        if not isinstance(mask, (list, tuple)):
            mask = [mask]
        found = []
        names = ("query_mask", "value_mask", "key_mask")
        for index, (name, tensor) in enumerate(zip(names, (query, value, value))):
            item = mask[index] if index < len(mask) else None
            if item is not None:
                item = backend.xp.asarray(item).astype(bool, copy=False)
                if item.shape != tensor.shape[:2]:
                    steps = "Tq" if name == "query_mask" else "Tv"
                    raise ValueError(
                        f"{self._where()}: {name} must have shape (batch_size, {steps}) = {tensor.shape[:2]}. "
                        f"Received: {name} shape {item.shape}")
            found.append(item)
        return tuple(found)

    def _attention_mask(self, query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask):
        """Keras's ``_compute_attention_mask``: every mask given, combined with AND (None when none)."""
        xp = backend.xp
        combined = None

        def both(first, second):
            return second if first is None else first & second

        if query_mask is not None:
            combined = query_mask[:, :, None]
        if value_mask is not None:
            combined = both(combined, value_mask[:, None, :])
        if key_mask is not None:
            combined = both(combined, key_mask[:, None, :])
        steps_q, steps_v = query.shape[1], value.shape[1]
        if use_causal_mask:
            combined = both(combined, causal_mask(steps_q, steps_v)[None])
        if self.sliding_window is not None:
            band = xp.abs(xp.arange(steps_q)[:, None] - xp.arange(steps_v)[None, :]) < self.sliding_window
            combined = both(combined, band[None])
        if attention_mask is not None:
            attention_mask = xp.asarray(attention_mask)
            attention_mask = attention_mask if attention_mask.dtype.kind == "b" else attention_mask != 0
            full = (query.shape[0], steps_q, steps_v)
            heads_full = (query.shape[0], self.num_heads, steps_q, steps_v)
            target = heads_full if attention_mask.ndim == 4 else full
            if attention_mask.ndim < 2 or any(
                    m != 1 and m != s for m, s in zip(attention_mask.shape[::-1], target[::-1])):
                raise ValueError(
                    f"{self._where()}: attention_mask must be broadcastable to (batch_size, Tq, Tv) = {full} "
                    f"(or to (batch_size, num_heads, Tq, Tv) with four axes). "
                    f"Received: attention_mask shape {attention_mask.shape}")
            if combined is not None and attention_mask.ndim == 4:
                combined = combined[:, None]
            combined = attention_mask if combined is None else attention_mask & combined
        return combined

    # ------------------------------------------------------ forward/back
    def _op_weights(self):
        """The ops' weights dict (the output kernel flattened to ``(H, value_dim, prod(output_shape))``)."""
        weights = {}
        for (_, _, key), child in zip(_PROJECTIONS, self._projections()):
            kernel = child.kernel.value
            bias = None if child.bias is None else child.bias.value
            if key == "output":
                kernel = kernel.reshape(self.num_heads, self.value_dim, -1)
                bias = None if bias is None else bias.reshape(-1)
            weights[f"{key}_kernel"] = kernel
            if bias is not None:
                weights[f"{key}_bias"] = bias
        return weights

    def forward(self, inputs, training=False, mask=None, has_key=False, has_attention_mask=False,
                return_attention_scores=False, use_causal_mask=False, attention_mask=None):
        """``(output, cache)``, or ``([output, scores], cache)`` with ``return_attention_scores``.

        ``inputs`` is ``[query, value(, attention_mask)(, key)]`` (the mask is an input when
        ``has_attention_mask``, a graph's); ``attention_mask`` is an eager call's constant mask.
        """
        options = {"has_key": has_key, "has_attention_mask": has_attention_mask,
                   "return_attention_scores": return_attention_scores, "use_causal_mask": use_causal_mask}
        query, value, key, mask_input = self._unpack(inputs, options)
        attention_mask = mask_input if has_attention_mask else attention_mask
        self._check_shapes(query.shape, value.shape, None if key is None else key.shape)
        query_mask, value_mask, key_mask = self._masks(mask, query, value)
        combined = self._attention_mask(query, value, query_mask, value_mask, key_mask, attention_mask,
                                        use_causal_mask)
        dropout_mask = None
        if training and self.dropout > 0:
            shape = (query.shape[0], self.num_heads, query.shape[1], value.shape[1])
            keep = backend.random_uniform(shape, self._rng or backend.rng()) >= self.dropout
            dropout_mask = keep.astype(query.dtype) / query.dtype.type(1.0 - self.dropout)
        # Keras's Softmax layer (masked weights 0) where it returns scores or has dropout, else its fused kernel.
        softmax_layer_path = return_attention_scores or self.dropout > 0
        output, scores, op_cache = multi_head_attention_forward(
            query, value, key, self._op_weights(), num_heads=self.num_heads, mask=combined,
            dropout_mask=dropout_mask, zero_masked=softmax_layer_path)
        output = output.reshape(output.shape[:2] + tuple(self._output_shape or (query.shape[-1],)))
        cache = (op_cache, options, output.shape, dropout_mask)
        return ([output, scores] if return_attention_scores else output), cache

    def backward(self, output_grads, cache):
        """``([d_query, d_value(, None)(, d_key)], weight_grads)``: one entry per input, in the
        inputs' order (None for the attention_mask); ``output_grads`` is a list of two (None where
        unused) when the call returned the scores."""
        return self._backpropagate(output_grads, cache, need_input_grads=True)

    def weight_gradients(self, output_grads, cache):
        return self._backpropagate(output_grads, cache, need_input_grads=False)[1]

    def _backpropagate(self, output_grads, cache, need_input_grads):
        op_cache, options, output_shape, _ = cache
        if options["return_attention_scores"]:
            d_output, d_scores = output_grads
        else:
            d_output, d_scores = output_grads, None
        if d_output is None:
            d_output = backend.xp.zeros(output_shape, dtype=op_cache[0].dtype)
        d_output = d_output.reshape(output_shape[:2] + (-1,))
        d_query, d_value, d_key, grads = multi_head_attention_backward(
            d_output, op_cache, d_scores=d_scores, need_input_grads=need_input_grads)
        weight_grads = {}
        for (name, _, key), child in zip(_PROJECTIONS, self._projections()):
            weight_grads[f"{name}/kernel"] = grads[f"{key}_kernel"].reshape(child.kernel.shape)
            if child.bias is not None:
                weight_grads[f"{name}/bias"] = grads[f"{key}_bias"].reshape(child.bias.shape)
        if not need_input_grads:
            return None, weight_grads
        input_grads = [d_query, d_value] + ([None] if options["has_attention_mask"] else [])  # a mask: none
        return input_grads + ([d_key] if options["has_key"] else []), weight_grads

    # ---------------------------------------------------------- serialization
    def call_arguments(self, node):
        """Keras's record of a graph call: ``(args, kwargs)``, as ``layer(query, value, key=..., ...)``.

        Keras writes this into a functional model's ``inbound_nodes``, so that
        loading calls ``layer(*args, **kwargs)`` again.
        """
        options = self._graph_options or _DEFAULT_OPTIONS
        query, value, key, attention_mask = self._unpack(node.inputs, options)
        kwargs = {}
        if key is not None:
            kwargs["key"] = key
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask
        for name in ("return_attention_scores", "use_causal_mask"):
            if options[name]:
                kwargs[name] = True
        return [query, value], kwargs

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            value_dim=self.value_dim,
            dropout=self.dropout,
            use_bias=self.use_bias,
            use_gate=False,
            output_shape=self._output_shape,
            attention_axes=self._attention_axes,
            sliding_window=self.sliding_window,
            **_weight_options_config(self),
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("output_shape"), list):
            config["output_shape"] = tuple(config["output_shape"])
        return cls(**config)


def _attention_axes(attention_axes, where):
    """Keras's stored form (an int becomes a tuple), refusing all but the sequence axis of rank-3 inputs."""
    if attention_axes is None:
        return None
    stored = (attention_axes,) if isinstance(attention_axes, int) and not isinstance(attention_axes, bool) \
        else attention_axes
    if not isinstance(stored, (list, tuple)) or len(stored) != 1 or stored[0] not in (1, -2) \
            or isinstance(stored[0], bool):
        raise ValueError(
            f"{where}: course_lib attends over the sequence axis of rank-3 inputs only: attention_axes must be "
            f"None, 1 or -2 (or a one-element tuple of them). Received: attention_axes={attention_axes!r}")
    return stored


def _output_shape(output_shape, where):
    if output_shape is None:
        return None
    shape = (output_shape,) if isinstance(output_shape, int) and not isinstance(output_shape, bool) else output_shape
    try:
        shape = tuple(shape)
    except TypeError:
        shape = None
    if not shape or not all(_positive_int(size) for size in shape):
        raise ValueError(
            f"{where}: output_shape must be a positive int or a tuple of them. Received: output_shape={output_shape!r}")
    return shape


__all__ = ["MultiHeadAttention"]
