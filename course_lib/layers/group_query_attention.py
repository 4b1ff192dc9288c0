"""Keras's GroupQueryAttention (分组查询注意力): query heads that share key/value heads in groups.

keras/src/layers/attention/grouped_query_attention.py (Keras 3.15, class
``GroupedQueryAttention``, exported and serialized as ``GroupQueryAttention``):
the query is projected to ``num_query_heads`` heads, the key and the value to
``num_key_value_heads`` heads, each key/value head is repeated for the
``num_query_heads // num_key_value_heads`` query heads of its group (head ``j``
serves query heads ``j*r .. j*r + r - 1``, as ``ops.repeat`` on the heads'
axis gives), and the heads' results are projected back to the query's last
dimension. ``num_key_value_heads == 1`` is multi-query attention,
``num_key_value_heads == num_query_heads`` is multi-head attention.

The layer is course_lib's :class:`MultiHeadAttention` with other weights: the
call (masks, causal and sliding-window masks, ``attention_mask``, the graph
call options, dropout, Keras's two softmax paths) is MultiHeadAttention's, and
the maths reuses its kernels (:mod:`course_lib.ops.attention`: the EinsumDense
projections, the scaled dot-product attention with its masked softmax and
their backward passes); the gradient of a shared key/value head is the sum
over the query heads of its group.

- weights, in Keras's order and with its names: ``query`` (kernel
  ``(dq, num_query_heads, head_dim)``, bias ``(num_query_heads, head_dim)``),
  ``key`` (``(dk, num_key_value_heads, head_dim)``), ``value``
  (``(dv, num_key_value_heads, head_dim)``) and ``attention_output``
  (``(num_query_heads, head_dim, dq)``, bias ``(dq,)``); the ``.weights.h5``
  file nests them in the groups ``_query_dense``, ``_key_dense``,
  ``_value_dense``, ``_output_dense`` (and the empty ``_softmax`` and
  ``_dropout_layer`` groups Keras writes);
- unlike MultiHeadAttention, Keras's GroupQueryAttention uses an explicit
  ``query_mask=`` argument, and so does this layer;
- in a functional graph Keras refuses a query and a value of different last
  dimensions (its ``compute_output_shape``), eager calls accept them; so does
  this layer.

Deliberate differences from Keras (pinned in tests/unit/test_group_query_attention.py):

- ``flash_attention=True`` is refused when the layer is made; Keras's
  TensorFlow backend refuses it at the first call ("Flash attention is not
  supported in tensorflow backend"). None and False are accepted;
- ``head_dim``, ``num_query_heads`` and ``num_key_value_heads`` must be
  positive ints (Keras fails later, e.g. with a ZeroDivisionError for
  ``head_dim=0``); ``dropout`` must lie in [0, 1);
- ``use_gate`` and ``activity_regularizer`` are refused; inputs must have rank 3;
- ``return_attention_scores=True`` returns the list ``[output, scores]`` (Keras a tuple).
"""
from __future__ import annotations

import math

from course_lib import backend
from course_lib.layers.base import Layer
from course_lib.layers.multi_head_attention import (
    _PROJECTIONS, MultiHeadAttention, _check_shared_options, _positive_int, _Projection, _set_weight_options,
    _weight_options_config,
)
from course_lib.ops.attention import (
    _expand_attention_mask, _project_backward, _project_forward, scaled_dot_product_attention_backward,
    scaled_dot_product_attention_forward,
)

# Keras's attribute names of the sublayers, the groups of its .weights.h5 files, in its order.
_GROUPS = ("_query_dense", "_key_dense", "_value_dense", "_output_dense")


class GroupQueryAttention(MultiHeadAttention):
    """Grouped-query attention (Ainslie et al., 2023), Keras's ``GroupQueryAttention``.

    The query has ``num_query_heads`` heads; the key and the value have
    ``num_key_value_heads``, each shared by ``num_query_heads //
    num_key_value_heads`` consecutive query heads. Each head weighs the values
    by ``softmax(q k^T / sqrt(head_dim))``; the heads' results are projected
    back to the query's last dimension.

    Args:
        head_dim: positive int, the size of each head (query, key and value).
        num_query_heads: positive int, the number of query heads.
        num_key_value_heads: positive int dividing ``num_query_heads``, the number of key/value heads.
        dropout: float in [0, 1), the fraction of the attention weights dropped
            while training (kept weights scaled by ``1/(1-dropout)``), drawn from
            the layer's own generator when ``seed`` is given.
        use_bias: whether the four projections have biases.
        sliding_window: None or a positive int: query step ``i`` sees key steps
            ``j`` with ``|i - j| < sliding_window`` only.
        flash_attention: None or False (Keras's TensorFlow backend has no flash attention).
        kernel_initializer, bias_initializer: initializers of the four projections.
        kernel_regularizer, bias_regularizer: penalties on their kernels and biases.
        kernel_constraint, bias_constraint: projections applied after each step.
        seed: int seed of the dropout draws, or None.

    Call arguments:
        query: ``(B, Tq, dq)``.
        value: ``(B, Tv, dv)``.
        key: ``(B, Tv, dk)``; ``value`` if None.
        query_mask: boolean ``(B, Tq)`` (eager calls; a graph takes the query tensor's mask).
        value_mask, key_mask: boolean ``(B, Tv)`` (eager calls; a graph takes the tensors' masks).
        attention_mask: boolean, broadcastable to ``(B, Tq, Tv)`` (or to
            ``(B, num_query_heads, Tq, Tv)`` with four axes); True = may attend.
        return_attention_scores: also return the attention weights ``(B, num_query_heads, Tq, Tv)``.
        training: dropout applies only when True.
        use_causal_mask: query step ``i`` sees key steps ``j <= i`` only.

    Input shape:
        query ``(batch_size, Tq, dq)``, value ``(batch_size, Tv, dv)``, key ``(batch_size, Tv, dk)``.

    Output shape:
        ``(batch_size, Tq, dq)``, and with ``return_attention_scores`` the
        scores ``(batch_size, num_query_heads, Tq, Tv)``. The output's mask is the query's mask.
    """

    _uses_query_mask_argument = True  # Keras's GroupQueryAttention.call uses query_mask=
    _keras_saving_name = "grouped_query_attention"  # Keras's group in files: its class is GroupedQueryAttention

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0, use_bias=True,
                 sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, use_gate=False,
                 seed=None, **kwargs):
        where = "GroupQueryAttention" + (f" '{kwargs['name']}'" if isinstance(kwargs.get("name"), str) else "")
        for name, value in (("head_dim", head_dim), ("num_query_heads", num_query_heads),
                            ("num_key_value_heads", num_key_value_heads)):
            if not _positive_int(value):
                raise ValueError(f"{where}: {name} must be a positive int. Received: {name}={value!r}")
        if num_query_heads % num_key_value_heads:
            raise ValueError(
                f"{where}: num_query_heads must be divisible by num_key_value_heads. Received: "
                f"num_query_heads={num_query_heads}, num_key_value_heads={num_key_value_heads}")
        _check_shared_options(where, dropout, sliding_window, seed, use_gate, activity_regularizer)
        if flash_attention not in (None, False):
            raise ValueError(
                f"{where}: flash_attention must be None or False: Keras's TensorFlow backend refuses flash "
                f"attention ('Flash attention is not supported in tensorflow backend'), and so does course_lib. "
                f"Received: flash_attention={flash_attention!r}")
        if kwargs.get("name") is None:  # Keras's default name comes from its class, GroupedQueryAttention
            kwargs["name"] = backend.unique_name("grouped_query_attention")
        Layer.__init__(self, **kwargs)  # MultiHeadAttention's arguments are not this layer's
        self.head_dim = head_dim
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        self.num_repeats = num_query_heads // num_key_value_heads
        self.dropout = dropout
        self.use_bias = bool(use_bias)
        self.sliding_window = sliding_window
        _set_weight_options(self, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                            kernel_constraint, bias_constraint, seed)
        # What MultiHeadAttention's call machinery reads.
        self.key_dim = self.value_dim = head_dim
        self._output_shape = None  # the query's last dimension
        self._attention_axes = None
        self._flash_attention = False
        dtype = self.dtype
        self._query_dense, self._key_dense, self._value_dense, self._output_dense = (
            _Projection(name=name, dtype=dtype, trainable=self.trainable) for name, _, _ in _PROJECTIONS)
        for child in self._projections():
            child._owner = self
        self._softmax = Layer(name="softmax", dtype=dtype)
        self._dropout_layer = Layer(name="dropout", dtype=dtype)
        self._graph_options = None
        self._call_state = None
        self._build_shapes_dict = None

    @property
    def num_heads(self):
        """The heads of the attention scores, ``num_query_heads`` (what MultiHeadAttention's masks read)."""
        return self.num_query_heads

    def _where(self):
        return f"GroupQueryAttention '{self.name}'"

    def saving_children(self):
        children = list(zip(_GROUPS, self._projections()))
        return children[:3] + [("_softmax", self._softmax), ("_dropout_layer", self._dropout_layer), children[3]]

    # ------------------------------------------------------------- shapes
    def _weight_layout(self, query_shape, value_shape, key_shape):
        query_heads, kv_heads, depth = self.num_query_heads, self.num_key_value_heads, self.head_dim
        return (
            ((query_shape[-1], query_heads, depth), (query_heads, depth)),
            ((key_shape[-1], kv_heads, depth), (kv_heads, depth)),
            ((value_shape[-1], kv_heads, depth), (kv_heads, depth)),
            ((query_heads, depth, query_shape[-1]), (query_shape[-1],)),
        )

    def compute_output_shape(self, input_shape, value_shape=None, key_shape=None):
        """The query's shape; with ``return_attention_scores`` in a call, also ``(batch, num_query_heads, Tq, Tv)``.

        As Keras's, it refuses a query and a value of different last dimensions.
        """
        if value_shape is not None:
            query_shape, values = input_shape, value_shape
        else:
            query_shape, values, _, _ = self._unpack(input_shape, self._options(len(input_shape)))
        if query_shape[-1] != values[-1]:
            raise ValueError(
                f"{self._where()}: the last dimension of the query shape and the value shape must be equal "
                f"(Keras's compute_output_shape). Received: query shape {tuple(query_shape)}, "
                f"value shape {tuple(values)}")
        return super().compute_output_shape(input_shape, value_shape, key_shape)

    # ------------------------------------------------------ forward/back
    def forward(self, inputs, training=False, mask=None, has_key=False, has_attention_mask=False,
                return_attention_scores=False, use_causal_mask=False, attention_mask=None):
        """``(output, cache)``, or ``([output, scores], cache)`` with ``return_attention_scores``.

        ``inputs`` is ``[query, value(, attention_mask)(, key)]`` (the mask is an input when
        ``has_attention_mask``, a graph's); ``attention_mask`` is an eager call's constant mask.
        """
        xp = backend.xp
        options = {"has_key": has_key, "has_attention_mask": has_attention_mask,
                   "return_attention_scores": return_attention_scores, "use_causal_mask": use_causal_mask}
        query, value, key, mask_input = self._unpack(inputs, options)
        attention_mask = mask_input if has_attention_mask else attention_mask
        self._check_shapes(query.shape, value.shape, None if key is None else key.shape)
        query_mask, value_mask, key_mask = self._masks(mask, query, value)
        combined = self._attention_mask(query, value, query_mask, value_mask, key_mask, attention_mask,
                                        use_causal_mask)
        if combined is not None:
            combined = _expand_attention_mask(combined, self._where())
        dropout_mask = None
        if training and self.dropout > 0:
            shape = (query.shape[0], self.num_query_heads, query.shape[1], value.shape[1])
            keep = backend.random_uniform(shape, self._rng or backend.rng()) >= self.dropout
            dropout_mask = keep.astype(query.dtype) / query.dtype.type(1.0 - self.dropout)
        key_input = value if key is None else key
        dense = self._projections()
        q = _project_forward(query, dense[0].kernel.value, _bias(dense[0]))       # (B, Hq, Tq, h)
        k = _project_forward(key_input, dense[1].kernel.value, _bias(dense[1]))   # (B, Hkv, Tv, h)
        v = _project_forward(value, dense[2].kernel.value, _bias(dense[2]))
        # Each key/value head serves the num_repeats query heads of its group (Keras's ops.repeat).
        k_heads, v_heads = xp.repeat(k, self.num_repeats, axis=1), xp.repeat(v, self.num_repeats, axis=1)
        # Keras's Softmax layer (masked weights 0) where it returns scores or has dropout, else its fused kernel.
        context, scores, attention_cache = scaled_dot_product_attention_forward(
            q, k_heads, v_heads, mask=combined, scale=1.0 / math.sqrt(float(self.head_dim)),
            dropout_mask=dropout_mask, zero_masked=return_attention_scores or self.dropout > 0)
        # The output projection "bquh,uhm->bqm" as a one-head projection of the merged heads.
        batch, heads, steps, depth = context.shape
        merged = context.transpose(0, 2, 1, 3).reshape(batch, steps, heads * depth)
        output = _project_forward(merged, self._output_kernel(), _bias(dense[3], (1, -1)))[:, 0]
        cache = ((query, value, key_input, k, v, merged, attention_cache), options, output.shape)
        return ([output, scores] if return_attention_scores else output), cache

    def _output_kernel(self):
        """The output kernel ``(Hq, h, dq)`` as the kernel of a one-head projection ``(Hq * h, 1, dq)``."""
        kernel = self._output_dense.kernel.value
        return kernel.reshape(-1, 1, kernel.shape[-1])

    def _backpropagate(self, output_grads, cache, need_input_grads):
        (query, value, key_input, k, v, merged, attention_cache), options, output_shape = cache
        if options["return_attention_scores"]:
            d_output, d_scores = output_grads
        else:
            d_output, d_scores = output_grads, None
        if d_output is None:
            d_output = backend.xp.zeros(output_shape, dtype=merged.dtype)
        dense = self._projections()
        d_merged, d_output_kernel, d_output_bias = _project_backward(
            d_output[:, None], merged, self._output_kernel(), dense[3].bias is not None)
        batch, steps = merged.shape[:2]
        d_context = d_merged.reshape(batch, steps, self.num_query_heads, self.head_dim).transpose(0, 2, 1, 3)
        d_q, d_k_heads, d_v_heads = scaled_dot_product_attention_backward(d_context, attention_cache, d_scores)

        def grouped(d_heads, shared):
            # A shared head's gradient: the sum over the query heads of its group.
            return d_heads.reshape(shared.shape[:2] + (self.num_repeats,) + shared.shape[2:]).sum(axis=2)

        weight_grads = {}
        input_grads = {}
        for (name, _, _), child, x, d in zip(_PROJECTIONS[:3], dense[:3], (query, key_input, value),
                                             (d_q, grouped(d_k_heads, k), grouped(d_v_heads, v))):
            input_grads[name], d_kernel, d_bias = _project_backward(
                d, x, child.kernel.value, child.bias is not None, need_dx=need_input_grads)
            weight_grads[f"{name}/kernel"] = d_kernel
            if d_bias is not None:
                weight_grads[f"{name}/bias"] = d_bias
        weight_grads["attention_output/kernel"] = d_output_kernel.reshape(dense[3].kernel.shape)
        if d_output_bias is not None:
            weight_grads["attention_output/bias"] = d_output_bias.reshape(dense[3].bias.shape)
        weight_grads = {name: weight_grads[name] for name in self._trainable_names}  # Keras's order
        if not need_input_grads:
            return None, weight_grads
        d_value, d_key = input_grads["value"], input_grads["key"]
        if not options["has_key"]:
            d_value, d_key = d_value + d_key, None  # the value was also the key
        grads = [input_grads["query"], d_value] + ([None] if options["has_attention_mask"] else [])
        return grads + ([d_key] if options["has_key"] else []), weight_grads

    # ---------------------------------------------------------- serialization
    def get_config(self):
        config = Layer.get_config(self)
        config.update(
            head_dim=self.head_dim,
            num_query_heads=self.num_query_heads,
            num_key_value_heads=self.num_key_value_heads,
            use_bias=self.use_bias,
            use_gate=False,
            sliding_window=self.sliding_window,
            dropout=self.dropout,
            **_weight_options_config(self),
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _bias(child, shape=None):
    if child.bias is None:
        return None
    return child.bias.value if shape is None else child.bias.value.reshape(shape)


__all__ = ["GroupQueryAttention"]
