"""ReversibleEmbedding (可逆词嵌入): an Embedding that also maps hidden states back to logits.

``layer(ids)`` is :class:`Embedding`'s lookup; ``layer(hidden, reverse=True)``
is the linear projection ``hidden @ embeddings.T`` (tied weights, the default)
or ``hidden @ reverse_embeddings`` (``tie_weights=False``), from
``output_dim`` back to ``input_dim``, optionally soft-capped:
``logits = c * tanh(logits / c)``. Language models use it for their input
embedding and output layer at once (Press and Wolf, 2016).
"""
from __future__ import annotations

from course_lib import backend
from course_lib.layers.base import _is_symbolic
from course_lib.layers.embedding import Embedding


def reverse_forward(hidden, kernel, logit_soft_cap=None):
    """``(logits, cache)``: ``hidden @ kernel``, soft-capped when ``logit_soft_cap`` is set.

    Args:
        hidden: ``(..., output_dim)``.
        kernel: ``(output_dim, input_dim)``.
        logit_soft_cap: None or a positive number ``c``: ``logits = c * tanh(logits / c)``.
    """
    logits = hidden @ kernel
    capped = None
    if logit_soft_cap is not None:
        capped = backend.xp.tanh(logits / logits.dtype.type(logit_soft_cap))
        logits = capped * logits.dtype.type(logit_soft_cap)
    return logits, (hidden, kernel, capped)


def reverse_backward(output_grads, cache):
    """``(d_hidden, d_kernel)`` for :func:`reverse_forward`; ``d_kernel`` is ``(output_dim, input_dim)``."""
    hidden, kernel, capped = cache
    if capped is not None:
        output_grads = output_grads * (1 - capped * capped)
    d_hidden = output_grads @ kernel.T
    d_kernel = hidden.reshape(-1, hidden.shape[-1]).T @ output_grads.reshape(-1, output_grads.shape[-1])
    return d_hidden, d_kernel


class ReversibleEmbedding(Embedding):
    """An embedding layer which can project backwards to the input dim (Keras's ``ReversibleEmbedding``).

    Args:
        input_dim: size of the vocabulary, the largest token id + 1.
        output_dim: size of each embedding vector.
        tie_weights: True: the reverse projection uses ``embeddings.T``;
            False: a separate trainable ``reverse_embeddings`` of shape
            ``(output_dim, input_dim)``, with the same initializer.
        embeddings_initializer, embeddings_regularizer, embeddings_constraint,
        mask_zero: as :class:`Embedding` (``mask_zero`` masks the forward outputs).
        reverse_dtype: the dtype of the reverse projection (None, Keras's
            default: the layer's dtype).
        logit_soft_cap: None or a positive number ``c``; the reverse outputs
            become ``c * tanh(logits / c)``.
        **kwargs: the other :class:`Embedding` arguments (``name``, ``dtype``...).

    Call arguments:
        inputs: integer ids ``(batch, ...)``, or with ``reverse=True`` hidden
            states ``(batch, ..., output_dim)``.
        reverse: False: the embedding lookup; True: logits ``(batch, ..., input_dim)``.

    Weights: ``embeddings`` (then ``reverse_embeddings`` when untied), Keras's names and order.

    In a functional graph the same layer may be called both ways (a tied
    language model); course_lib then tells the calls apart by their input
    dtype, so the ids' input must be an integer ``Input(dtype="int32")``.
    """

    def __init__(self, input_dim, output_dim, tie_weights=True, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False, reverse_dtype=None,
                 logit_soft_cap=None, **kwargs):
        if not isinstance(tie_weights, bool):
            raise TypeError(f"ReversibleEmbedding: `tie_weights` must be a bool. Received: tie_weights={tie_weights!r}")
        if logit_soft_cap is not None:
            backend.check_real("ReversibleEmbedding", "logit_soft_cap", logit_soft_cap, finite=True)
            if logit_soft_cap <= 0:
                raise ValueError(
                    "ReversibleEmbedding: `logit_soft_cap` must be None or a positive number. "
                    f"Received: logit_soft_cap={logit_soft_cap!r}"
                )
        if reverse_dtype is not None:
            reverse_dtype = backend._check_float_name("ReversibleEmbedding", reverse_dtype)
        self.tie_weights = tie_weights
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap
        self._reverse_call = None   # the `reverse` of the eager or symbolic call in progress
        self._graph_reverse = {}    # id(node) -> reverse, for this layer's calls in a graph
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer,
                         embeddings_constraint=embeddings_constraint, mask_zero=mask_zero, **kwargs)

    @property
    def _where(self):
        return f"ReversibleEmbedding '{self.name}'"

    def build(self, input_shape=None):
        super().build(input_shape)
        if not self.tie_weights:
            self.reverse_embeddings = self.add_weight(
                "reverse_embeddings", (self.output_dim, self.input_dim), self.embeddings_initializer,
            )
        self.built = True

    # ------------------------------------------------------------ calling
    def __call__(self, inputs, training=None, mask=None, reverse=False, **kwargs):
        if not isinstance(reverse, bool):
            raise TypeError(f"{self._where}: `reverse` must be a bool. Received: reverse={reverse!r}")
        symbolic = _is_symbolic(inputs)
        if symbolic and self._graph_reverse:
            self._check_graph_call(inputs, reverse)
        self._reverse_call = reverse
        try:
            outputs = super().__call__(inputs, training=training, mask=mask, **kwargs)
        finally:
            self._reverse_call = None
        if symbolic:
            self._graph_reverse[id(self._inbound_nodes[-1])] = reverse
        return outputs

    def _check_graph_call(self, inputs, reverse):
        """Both directions in one graph are told apart by dtype: ids must be integers, hidden states floats."""
        kinds = {backend.xp.dtype(node.inputs[0].dtype).kind: self._graph_reverse[id(node)]
                 for node in self._inbound_nodes if id(node) in self._graph_reverse}
        kind = backend.xp.dtype(inputs.dtype).kind
        directions = set(self._graph_reverse.values()) | {reverse}
        if len(directions) == 2 and (
            (not reverse and kind == "f") or any(k == "f" and not r for k, r in kinds.items())
        ):
            raise ValueError(
                f"{self._where}: called both ways in one graph, course_lib tells the calls apart by the "
                "inputs' dtype, so the token ids must be integers: use keras.Input(..., dtype='int32'). "
                f"Received: ids of dtype {inputs.dtype if not reverse else 'float'}"
            )

    def _direction(self, inputs):
        if self._reverse_call is not None:
            return self._reverse_call
        directions = set(self._graph_reverse.values())
        if len(directions) == 1:
            return directions.pop()
        return inputs.dtype.kind == "f"  # both ways in a graph: ids are integers there (checked when built)

    def call(self, inputs, reverse=False):
        """Keras's forward pass: the embeddings of ``inputs``, or the logits with ``reverse=True``."""
        return self(inputs, reverse=reverse)

    def call_arguments(self, node):
        """Keras's record of a graph call: ``([inputs], {"reverse": True})`` for a reverse call."""
        return [node.inputs[0]], ({"reverse": True} if self._graph_reverse.get(id(node)) else {})

    def _reverse_kernel(self):
        if self.tie_weights:
            return self.embeddings.value.T
        return self.reverse_embeddings.value

    def _reverse_compute_dtype(self):
        return self.reverse_dtype or self.dtype

    def _check_input(self, shapes):
        if not self._direction_for_shapes():
            return super()._check_input(shapes)
        if isinstance(shapes, list) or len(shapes) < 1 or shapes[-1] != self.output_dim:
            raise ValueError(
                f"{self._where}: with reverse=True the inputs are hidden states whose last axis is "
                f"output_dim={self.output_dim}. Received: input with shape {shapes}"
            )

    def _direction_for_shapes(self):
        # Shapes carry no dtype: an eager or symbolic call knows its direction; a graph run checks in forward.
        return bool(self._reverse_call)

    def forward(self, inputs, training=False):
        if not self._direction(inputs):
            outputs, cache = super().forward(inputs, training)
            return outputs, (False, cache)
        xp = backend.xp
        if inputs.dtype.kind != "f":
            raise TypeError(
                f"{self._where}: with reverse=True the inputs are float hidden states. Received dtype {inputs.dtype}"
            )
        if inputs.ndim < 1 or inputs.shape[-1] != self.output_dim:
            raise ValueError(
                f"{self._where}: with reverse=True the inputs' last axis must be output_dim={self.output_dim}. "
                f"Received: input with shape {tuple(inputs.shape)}"
            )
        dtype = self._reverse_compute_dtype()
        hidden = inputs.astype(dtype, copy=False)
        kernel = xp.asarray(self._reverse_kernel(), dtype=dtype)
        logits, cache = reverse_forward(hidden, kernel, self.logit_soft_cap)
        return logits, (True, (cache, inputs.dtype))

    def _gradients(self, output_grads, cache):
        reverse, inner = cache
        xp = backend.xp
        if not reverse:
            grads = dict(super().backward(output_grads, inner)[1])
            if not self.tie_weights:
                grads["reverse_embeddings"] = xp.zeros(self.reverse_embeddings.shape, self.reverse_embeddings.dtype)
            return None, grads
        inner_cache, input_dtype = inner
        dtype = inner_cache[0].dtype
        d_hidden, d_kernel = reverse_backward(output_grads.astype(dtype, copy=False), inner_cache)
        grads = {}
        if self.tie_weights:
            grads["embeddings"] = d_kernel.T.astype(self.embeddings.dtype)
        else:
            grads["embeddings"] = xp.zeros(self.embeddings.shape, dtype=self.embeddings.dtype)
            grads["reverse_embeddings"] = d_kernel.astype(self.reverse_embeddings.dtype)
        return d_hidden.astype(input_dtype, copy=False), grads

    def backward(self, output_grads, cache):
        return self._gradients(output_grads, cache)

    def weight_gradients(self, output_grads, cache):
        return self._gradients(output_grads, cache)[1]

    # ------------------------------------------------------------ shapes and masks
    def compute_output_shape(self, input_shape, reverse=None):
        reverse = self._reverse_call if reverse is None else reverse
        if reverse:
            return tuple(input_shape[:-1]) + (self.input_dim,)
        return tuple(input_shape) + (self.output_dim,)

    def _output_dtype(self, input_dtypes):
        return self._reverse_compute_dtype() if self._reverse_call else self.dtype

    def compute_mask(self, inputs, previous_mask=None):
        if self._direction(inputs):
            return None  # Keras: a reverse call makes no mask
        return super().compute_mask(inputs, previous_mask)

    def get_config(self):
        config = super().get_config()
        config.update(tie_weights=self.tie_weights, reverse_dtype=self.reverse_dtype,
                      logit_soft_cap=self.logit_soft_cap)
        return config
