"""Keras's Attention (Luong, dot-product) and AdditiveAttention (Bahdanau) layers (注意力层).

Both take ``[query, value]`` or ``[query, value, key]`` (the key is the value
when not given) and compute, as keras/src/layers/attention/attention.py does:

1. scores ``(batch, Tq, Tv)`` from the query and the key (the subclass's formula);
2. the masked positions (the value mask as padding, the causal mask) get
   ``scores - 1e9`` (``- 65504`` in float16): Keras *subtracts*, it does not replace,
   so a row with every position masked keeps the shape of its scores (float64)
   or rounds to a uniform row (float32), and masked weights are not set to 0;
3. ``weights = softmax(scores)`` (stable, along Tv), then dropout on the
   weights while training (kept weights scaled by ``1 / (1 - dropout)``);
4. ``output = weights @ value``, zero at the masked query steps.

The forward pass and its backward sit side by side; the softmax pair is
:func:`course_lib.ops.attention.softmax_forward` / ``softmax_backward``.

Deliberate differences from Keras (each pinned in tests/unit/test_attention_layers.py
or tests/parity/test_attention_layers_parity.py):

- ``return_attention_scores=True`` returns the list ``[output, scores]`` (Keras a
  tuple), the multi-output convention of course_lib (LSTM's ``return_state``);
- the inputs must have rank 3, ``(batch, T, dim)``, as Keras documents, and the
  query and the key the same last dimension in every score mode (Keras broadcasts
  a size-1 dimension in ``"concat"`` and in AdditiveAttention); masks must have the
  shapes ``(batch, Tq)`` and ``(batch, Tv)`` exactly;
- ``dropout`` must lie in [0, 1): Keras silently ignores a negative rate;
- inside a functional graph a layer keeps one set of call options
  (``return_attention_scores``, ``use_causal_mask``): a second graph call with
  other options raises (call it eagerly, or use a second layer). The masks of a
  graph come from its tensors (``Embedding(mask_zero=True)``, ``Masking``), not from
  a ``mask=`` argument.

Not yet: a functional model saved with ``use_causal_mask=True`` or
``return_attention_scores=True`` reloads without them: the model config course_lib
writes has no call arguments for a layer called on a list (Keras writes
``"args": [[query, value]], "kwargs": {"use_causal_mask": true}``); a strict xfail
in the tests marks it.
"""
from __future__ import annotations

from course_lib import backend
from course_lib.layers.base import Layer, _is_symbolic
from course_lib.ops.attention import causal_mask, softmax_backward, softmax_forward

_INPUT_NAMES = ("query", "value", "key")
_DEFAULT_OPTIONS = {"return_attention_scores": False, "use_causal_mask": False}


class Attention(Layer):
    """Dot-product attention, a.k.a. Luong-style attention.

    Scores are ``query @ key^T`` (``score_mode="dot"``, times the scalar weight
    ``scale`` when ``use_scale``) or
    ``concat_score_weight * sum(tanh(scale * (query + key)), axis=-1)``
    (``score_mode="concat"``, without ``scale`` when not ``use_scale``).

    Args:
        use_scale: if True, a trainable scalar ``scale`` (initialised to 1)
            multiplies the scores ("dot") or the sums inside the tanh ("concat").
        score_mode: ``"dot"`` or ``"concat"``; "concat" adds the trainable scalar
            ``concat_score_weight`` (initialised to 1). Weights in Keras's order:
            ``scale`` (if use_scale), then ``concat_score_weight`` (if concat).
        dropout: float in [0, 1), the fraction of the attention weights dropped
            while training.
        seed: int seed of the dropout draws (the layer's own generator), or None.

    Call arguments:
        inputs: ``[query, value]`` or ``[query, value, key]`` (a list).
        mask: ``[query_mask, value_mask]`` (either may be None; a third entry, the
            key's mask, is accepted and ignored, as in Keras). ``value_mask`` hides
            value steps; the output is zero where ``query_mask`` is False.
        return_attention_scores: also return the weights (after masking, softmax
            and dropout): ``[output, scores]``.
        training: dropout is applied only when True.
        use_causal_mask: query step ``i`` sees value steps ``j <= i`` only.

    Input shape:
        query ``(batch_size, Tq, dim)``, value ``(batch_size, Tv, value_dim)``,
        key ``(batch_size, Tv, dim)``.

    Output shape:
        ``(batch_size, Tq, value_dim)``; the scores ``(batch_size, Tq, Tv)``.
        The output's mask is the query mask.
    """

    supports_masking = True
    uses_mask = True

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        class_name = type(self).__name__
        if not isinstance(score_mode, str) or score_mode not in ("dot", "concat"):
            raise ValueError(
                f"{class_name}: invalid value for argument score_mode. Expected one of {{'dot', 'concat'}}. "
                f"Received: score_mode={score_mode!r}"
            )
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(
                f"{class_name}: dropout must be a float in the range [0, 1). Received: dropout={dropout!r}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"{class_name}: seed must be an int or None. Received: seed={seed!r}")
        super().__init__(**kwargs)
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = float(dropout)
        self.seed = seed
        self._rng = backend.rng(seed) if seed is not None else None
        self.scale = None
        self.concat_score_weight = None
        self._graph_options = None  # the call options of this layer's calls in a graph
        self._call_state = None     # (options, masks) while a __call__ runs

    # ------------------------------------------------------------ calling
    def __call__(self, inputs, training=None, mask=None, return_attention_scores=False, use_causal_mask=False,
                 **kwargs):
        self._check_list(inputs)
        options = {"return_attention_scores": bool(return_attention_scores),
                   "use_causal_mask": bool(use_causal_mask)}
        if _is_symbolic(inputs):
            if mask is not None:
                raise TypeError(
                    f"{self._where()}: in a functional graph the masks come from the input tensors "
                    "(Embedding(mask_zero=True), Masking); course_lib takes no symbolic `mask=` argument. "
                    f"Received: mask={mask!r}"
                )
            if self._graph_options is not None and self._graph_options != options:
                raise ValueError(
                    f"{self._where()}: course_lib keeps one set of call options per layer in a graph; this "
                    f"layer was called with {self._graph_options}. Received: {options}. Use a second layer."
                )
            masks = None
        else:
            masks = self._eager_masks(mask)
        self._call_state = (options, masks)
        try:
            outputs = super().__call__(inputs, training=training, **kwargs)
        finally:
            self._call_state = None
        if _is_symbolic(inputs):
            self._graph_options = options
        return outputs

    def call_arguments(self, node):
        """Keras's record of a graph call, ``([[query, value(, key)]], options)``: what a saved model replays."""
        options = self._graph_options or _DEFAULT_OPTIONS
        return [list(node.inputs)], {name: True for name, value in options.items() if value}

    def _options(self):
        if self._call_state is not None:
            return self._call_state[0]
        return self._graph_options or _DEFAULT_OPTIONS

    def _forward_with_mask(self, inputs, training, mask):
        if mask is None and self._call_state is not None:
            mask = self._call_state[1]  # an eager call's masks (a graph hands them in)
        return self.forward(inputs, training=training, mask=mask, **self._options())

    def _where(self):
        return f"{type(self).__name__} '{self.name}'"

    def _check_list(self, inputs):
        if not isinstance(inputs, list):
            received = (f"a tuple of {len(inputs)}" if isinstance(inputs, tuple)
                        else f"a single input of shape {tuple(getattr(inputs, 'shape', ()))}")
            raise ValueError(
                f"{self._where()} must be called on a list of inputs, namely [query, value] or "
                f"[query, value, key]. Received: {received}"
            )
        if not 2 <= len(inputs) <= 3:
            raise ValueError(
                f"{self._where()} accepts a list of 2 or 3 inputs, namely [query, value] or "
                f"[query, value, key]. Received: a list of {len(inputs)}"
            )

    def _eager_masks(self, mask):
        if mask is None:
            return None
        if not isinstance(mask, list) or not 2 <= len(mask) <= 3:
            raise ValueError(
                f"{self._where()}: mask must be a list [query_mask, value_mask] (each a boolean array or "
                f"None). Received: mask={mask!r}"
            )
        return [None if item is None else backend.xp.asarray(item) for item in mask]

    def _check_shapes(self, shapes):
        """Ranks, batch sizes, Tv and dims of ``[query, value(, key)]`` shapes, with errors naming them."""
        self._check_list(shapes)
        for name, shape in zip(_INPUT_NAMES, shapes):
            if len(shape) != 3:
                raise ValueError(
                    f"{self._where()}: {name} must have rank 3, (batch_size, steps, dim). "
                    f"Received: {name} shape {tuple(shape)}"
                )
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) == 3 else value
        named = dict(zip(_INPUT_NAMES, shapes))
        if len({shape[0] for shape in shapes} - {None}) > 1:
            raise ValueError(
                f"{self._where()}: the inputs must have the same batch size. Received: "
                + ", ".join(f"{name} shape {tuple(shape)}" for name, shape in named.items())
            )
        if None not in (key[1], value[1]) and key[1] != value[1]:
            raise ValueError(
                f"{self._where()}: key and value must have the same number of steps Tv. "
                f"Received: value shape {tuple(value)}, key shape {tuple(key)}"
            )
        if None not in (query[-1], key[-1]) and query[-1] != key[-1]:
            key_name = "key" if len(shapes) == 3 else "value (the key)"
            raise ValueError(
                f"{self._where()}: query and {key_name} must have the same last dimension for "
                f"{self._score_name()}. Received: query shape {tuple(query)}, {key_name} shape {tuple(key)}"
            )

    def _score_name(self):
        return f"score_mode='{self.score_mode}'"

    def _maybe_build(self, shapes):
        self._check_shapes(shapes)
        super()._maybe_build(shapes)

    def _check_input(self, shapes):
        self._check_shapes(shapes)

    # ----------------------------------------------------------- weights
    def build(self, input_shape):
        self._check_shapes(input_shape)
        if self.use_scale:
            self.scale = self.add_weight("scale", (), "ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight("concat_score_weight", (), "ones")
        self.built = True

    # ------------------------------------------------------------ scores
    def _scores_forward(self, query, key):
        """``(scores (batch, Tq, Tv), cache)`` from query ``(batch, Tq, dim)`` and key ``(batch, Tv, dim)``."""
        xp = backend.xp
        if self.score_mode == "dot":
            raw = xp.matmul(query, xp.swapaxes(key, -1, -2))
            if self.scale is None:
                return raw, (query, key, None)
            return raw * self.scale.value, (query, key, raw)
        pairs = query[:, :, None, :] + key[:, None, :, :]  # (batch, Tq, Tv, dim)
        tanh = xp.tanh(pairs if self.scale is None else self.scale.value * pairs)
        summed = xp.sum(tanh, axis=-1)
        return self.concat_score_weight.value * summed, (pairs, tanh, summed)

    def _scores_backward(self, d_scores, cache):
        """``(d_query, d_key, weight_grads)`` from ``d_scores`` (batch, Tq, Tv)."""
        xp = backend.xp
        grads = {}
        if self.score_mode == "dot":
            query, key, raw = cache
            d_raw = d_scores
            if raw is not None:
                grads["scale"] = xp.asarray(xp.sum(d_scores * raw))
                d_raw = d_scores * self.scale.value
            return xp.matmul(d_raw, key), xp.matmul(xp.swapaxes(d_raw, -1, -2), query), grads
        pairs, tanh, summed = cache
        grads["concat_score_weight"] = xp.asarray(xp.sum(d_scores * summed))
        d_inner = (self.concat_score_weight.value * d_scores)[..., None] * (1 - tanh * tanh)
        if self.scale is not None:
            grads["scale"] = xp.asarray(xp.sum(d_inner * pairs))
            d_inner = d_inner * self.scale.value
        return xp.sum(d_inner, axis=2), xp.sum(d_inner, axis=1), grads

    # ------------------------------------------------------ forward/back
    def forward(self, inputs, training=False, mask=None, return_attention_scores=False, use_causal_mask=False):
        """``(output, cache)``, or ``([output, scores], cache)`` with ``return_attention_scores``."""
        xp = backend.xp
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) == 3 else value
        query_mask, value_mask = self._masks(mask, query, value)
        scores, score_cache = self._scores_forward(query, key)
        keep = _score_mask(value_mask, scores.shape, use_causal_mask)
        if keep is not None:
            # Keras subtracts a large number (65504 is float16's largest), it does not replace the score.
            large = scores.dtype.type(65504.0 if scores.dtype == xp.float16 else 1e9)
            scores = xp.where(keep, scores, scores - large)
        weights, softmax_cache = softmax_forward(scores, axis=-1)
        drop = None
        if training and self.dropout > 0:
            kept = backend.random_uniform(weights.shape, self._rng or backend.rng()) >= self.dropout
            drop = kept.astype(weights.dtype) / weights.dtype.type(1.0 - self.dropout)
            weights = weights * drop
        output = xp.matmul(weights, value)
        if query_mask is not None:
            output = xp.where(query_mask[:, :, None], output, output.dtype.type(0))
        cache = {"score_cache": score_cache, "softmax_cache": softmax_cache, "weights": weights, "drop": drop,
                 "value": value, "query_mask": query_mask, "key_given": len(inputs) == 3,
                 "returns_scores": return_attention_scores, "output_shape": output.shape}
        return ([output, weights] if return_attention_scores else output), cache

    def backward(self, output_grads, cache):
        """``([d_query, d_value(, d_key)], weight_grads)``; ``output_grads`` is a list of two (None
        where unused) when the call returned the scores."""
        xp = backend.xp
        d_output, d_weights = output_grads if cache["returns_scores"] else (output_grads, None)
        weights, value = cache["weights"], cache["value"]
        if d_output is None:
            d_output = xp.zeros(cache["output_shape"], weights.dtype)
        if cache["query_mask"] is not None:
            d_output = xp.where(cache["query_mask"][:, :, None], d_output, d_output.dtype.type(0))
        d_value = xp.matmul(xp.swapaxes(weights, -1, -2), d_output)
        d_dropped = xp.matmul(d_output, xp.swapaxes(value, -1, -2))
        if d_weights is not None:
            d_dropped = d_dropped + d_weights
        if cache["drop"] is not None:
            d_dropped = d_dropped * cache["drop"]
        # The masked scores got a constant subtracted: their gradient passes through unchanged.
        d_scores = softmax_backward(d_dropped, cache["softmax_cache"])
        d_query, d_key, weight_grads = self._scores_backward(d_scores, cache["score_cache"])
        if cache["key_given"]:
            return [d_query, d_value, d_key], weight_grads
        return [d_query, d_value + d_key], weight_grads

    def _masks(self, mask, query, value):
        """``(query_mask, value_mask)`` as boolean arrays (or None), their shapes checked."""
        if mask is None:
            return None, None
        found = []
        for name, item, tensor in (("query_mask", mask[0], query), ("value_mask", mask[1], value)):
            if item is not None:
                item = backend.xp.asarray(item).astype(bool, copy=False)
                if item.shape != tensor.shape[:2]:
                    steps = "Tq" if name == "query_mask" else "Tv"
                    raise ValueError(
                        f"{self._where()}: {name} must have shape (batch_size, {steps}) = {tensor.shape[:2]}. "
                        f"Received: {name} shape {item.shape}"
                    )
            found.append(item)
        return found[0], found[1]

    # ------------------------------------------------------------ shapes
    def compute_output_shape(self, input_shape):
        """Keras's ``(*query_shape[:-1], value_dim)``.

        While a call with ``return_attention_scores=True`` runs, the list
        ``[output shape, scores shape (*query_shape[:-1], Tv)]``: that is how the
        graph learns that the node has a second output.
        """
        query, value = tuple(input_shape[0]), tuple(input_shape[1])
        key = tuple(input_shape[2]) if len(input_shape) == 3 else value
        output = query[:-1] + (value[-1],)
        if self._call_state is not None and self._call_state[0]["return_attention_scores"]:
            return [output, query[:-1] + (key[-2],)]
        return output

    def compute_mask(self, inputs, previous_mask=None):
        """The query mask (Keras's ``mask[0]``); None for the scores when they are returned."""
        query_mask = None if previous_mask is None else previous_mask[0]
        if query_mask is not None:
            query_mask = backend.xp.asarray(query_mask).astype(bool, copy=False)
        return [query_mask, None] if self._options()["return_attention_scores"] else query_mask

    def get_config(self):
        config = super().get_config()
        config.update(use_scale=self.use_scale, score_mode=self.score_mode, dropout=self.dropout, seed=self.seed)
        return config


def _score_mask(value_mask, scores_shape, use_causal_mask):
    """Keras's ``_calculate_score_mask``: True where a score counts, broadcastable to the scores, or None."""
    padding = None if value_mask is None else value_mask[:, None, :]  # (batch, 1, Tv)
    if not use_causal_mask:
        return padding
    causal = causal_mask(int(scores_shape[-2]), int(scores_shape[-1]))[None]  # (1, Tq, Tv)
    return causal if padding is None else padding & causal


class AdditiveAttention(Attention):
    """Additive attention, a.k.a. Bahdanau-style attention.

    Scores are ``sum(scale * tanh(query + key), axis=-1)``: ``scale`` is a
    trainable vector of shape ``(dim,)`` (Glorot-uniform) when ``use_scale``,
    else 1. Masks, softmax, dropout and output are :class:`Attention`'s.

    Args:
        use_scale: if True (the default), create the weight ``scale``.
        dropout: float in [0, 1), the fraction of the attention weights dropped
            while training.
        **kwargs: ``seed`` and the base layer's arguments; as in Keras a
            ``score_mode`` is accepted (and checked) but has no effect.

    Call arguments:
        See :class:`Attention`.

    Input shape:
        query ``(batch_size, Tq, dim)``, value ``(batch_size, Tv, value_dim)``,
        key ``(batch_size, Tv, dim)``.

    Output shape:
        ``(batch_size, Tq, value_dim)``; the scores ``(batch_size, Tq, Tv)``.
    """

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        self._check_shapes(input_shape)
        dim = input_shape[0][-1]
        if dim is None:
            raise ValueError(
                f"{self._where()}: the last dimension of the query must be known. "
                f"Received: query shape {tuple(input_shape[0])}"
            )
        if self.use_scale:
            self.scale = self.add_weight("scale", (dim,), "glorot_uniform")
        self.built = True

    def _score_name(self):
        return "additive scores"

    def _check_shapes(self, shapes):
        super()._check_shapes(shapes)
        dim = shapes[0][-1]
        if self.scale is not None and dim is not None and dim != self.scale.shape[0]:
            raise ValueError(
                f"{self._where()}: the query's last dimension must be {self.scale.shape[0]}, the size of the "
                f"weight 'scale' built for it. Received: query shape {tuple(shapes[0])}"
            )

    def _scores_forward(self, query, key):
        tanh = backend.xp.tanh(query[:, :, None, :] + key[:, None, :, :])  # (batch, Tq, Tv, dim)
        weighted = tanh if self.scale is None else self.scale.value * tanh
        return backend.xp.sum(weighted, axis=-1), tanh

    def _scores_backward(self, d_scores, tanh):
        xp = backend.xp
        grads = {}
        d_tanh = xp.broadcast_to(d_scores[..., None], tanh.shape)
        if self.scale is not None:
            grads["scale"] = xp.einsum("bqv,bqvd->d", d_scores, tanh)
            d_tanh = d_tanh * self.scale.value
        d_pairs = d_tanh * (1 - tanh * tanh)
        return xp.sum(d_pairs, axis=2), xp.sum(d_pairs, axis=1), grads

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config
