"""Attention kernels: masked softmax, scaled dot-product attention and multi-head attention.

Each forward returns ``(outputs, cache)`` and sits beside its backward, as the
CS231n layers do. Float32 and float64 inputs keep their dtype. The maths is
Keras 3's (keras/src/layers/attention/multi_head_attention.py and the
``Softmax`` layer it uses):

- a masked score is *replaced* by a large negative number (``-1e9``; ``-3e4``
  in float16) before a stable softmax, and the masked weights are then set to
  exactly 0, so a fully masked row gives all-zero weights, as Keras's
  ``Softmax`` layer (and so ``return_attention_scores=True``) gives;
  ``zero_masked=False`` keeps the softmax of the filled row instead, a uniform
  row where every position is masked, as Keras's fused
  ``ops.dot_product_attention`` gives (the path its MultiHeadAttention takes
  when it returns no scores and has no dropout);
- the query is scaled by ``1/sqrt(key_dim)`` *before* the dot product.
"""
from __future__ import annotations

import math

from course_lib import backend


# ------------------------------------------------------------------ softmax
def _large_negative_number(dtype):
    """Keras's ``Softmax`` fill value for masked scores (keras/src/layers/activations/softmax.py)."""
    return -3e4 if backend.xp.dtype(dtype) == backend.xp.float16 else -1e9


def _check_broadcastable(mask_shape, scores_shape, where):
    """Keras's ``Softmax`` rule: the mask has no more axes than the scores, each 1 or equal."""
    if len(mask_shape) > len(scores_shape) or any(
        m != 1 and m != s for m, s in zip(mask_shape[::-1], scores_shape[::-1])
    ):
        raise ValueError(
            f"{where}: the mask must be broadcastable to the scores (each axis 1 or equal, no more axes). "
            f"Received: scores.shape={tuple(scores_shape)}, mask.shape={tuple(mask_shape)}"
        )


def _as_bool_mask(mask):
    """A boolean mask; a numeric one keeps the entries above 0.5, as Keras's ``Softmax`` does."""
    mask = backend.xp.asarray(mask)
    return mask if mask.dtype.kind == "b" else mask > 0.5


def softmax_forward(scores, mask=None, axis=-1, zero_masked=True):
    """Stable softmax along ``axis``, with Keras's ``Softmax`` masking.

    Args:
        scores: float array of any shape, e.g. ``(batch, heads, Tq, Tv)``.
        mask: None, or a boolean array broadcastable to ``scores`` (True =
            keep). A numeric mask keeps the entries above 0.5.
        axis: the axis that sums to one.
        zero_masked: True (Keras's ``Softmax``): masked weights are exactly 0,
            a fully masked row is all zeros. False: the softmax of the filled
            scores, a fully masked row is uniform (Keras's fused attention).

    Returns:
        ``(weights, cache)``; ``weights`` has the shape and dtype of ``scores``.
    """
    xp = backend.xp
    if mask is not None:
        mask = _as_bool_mask(mask)
        _check_broadcastable(mask.shape, scores.shape, "softmax_forward")
        scores = xp.where(mask, scores, scores.dtype.type(_large_negative_number(scores.dtype)))
    shifted = scores - scores.max(axis=axis, keepdims=True)  # exp never overflows
    weights = xp.exp(shifted)
    weights /= weights.sum(axis=axis, keepdims=True)
    if mask is not None and zero_masked:
        weights = xp.where(mask, weights, weights.dtype.type(0))
    return weights, (weights, mask, axis)


def softmax_backward(d_weights, cache):
    """Gradient of :func:`softmax_forward` with respect to ``scores``.

    ``d_scores = w * (d_w - sum(d_w * w))`` along the axis; a masked score
    received a constant, so its gradient is exactly 0.

    Args:
        d_weights: upstream gradient, the shape of the weights.
        cache: what :func:`softmax_forward` returned.

    Returns:
        ``d_scores``, the shape of the weights.
    """
    weights, mask, axis = cache
    d_scores = weights * (d_weights - (d_weights * weights).sum(axis=axis, keepdims=True))
    if mask is not None:
        d_scores = backend.xp.where(mask, d_scores, d_scores.dtype.type(0))
    return d_scores


def causal_mask(query_length, value_length):
    """Keras's ``_compute_causal_mask``: position ``i`` of the query sees positions ``j <= i``.

    Args:
        query_length: ``Tq``, a non-negative int.
        value_length: ``Tv``, a non-negative int.

    Returns:
        A boolean array ``(query_length, value_length)``, True on and below the diagonal.
    """
    for name, value in (("query_length", query_length), ("value_length", value_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"causal_mask: {name} must be a non-negative int. Received: {name}={value!r}")
    xp = backend.xp
    return xp.arange(query_length)[:, None] >= xp.arange(value_length)[None, :]


# ------------------------------------------------ scaled dot-product attention
def _unbroadcast(grad, shape):
    """Sum ``grad`` over the axes an operand of ``shape`` was broadcast along."""
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def scaled_dot_product_attention_forward(query, key, value, mask=None, scale=None, dropout_mask=None,
                                         zero_masked=True):
    """``softmax(scale * query @ key^T, mask) @ value``.

    Args:
        query: ``(..., Tq, d)``.
        key: ``(..., Tv, d)``.
        value: ``(..., Tv, dv)``.
        mask: None or a boolean array broadcastable to ``(..., Tq, Tv)`` (True = attend).
        scale: the factor of the scores; ``1/sqrt(d)`` if None. As in Keras,
            the query is multiplied by it before the product.
        dropout_mask: None, or a multiplicative mask broadcastable to the
            weights (already scaled by ``1/(1-rate)``) applied to the weights
            before they weigh the values.
        zero_masked: see :func:`softmax_forward`.

    Returns:
        ``(output, weights, cache)``: ``output`` ``(..., Tq, dv)`` and the
        attention weights ``(..., Tq, Tv)`` (before dropout).
    """
    depth = query.shape[-1]
    if key.shape[-1] != depth or key.shape[-2] != value.shape[-2]:
        raise ValueError(
            "scaled_dot_product_attention_forward: expected query (..., Tq, d), key (..., Tv, d) and "
            f"value (..., Tv, dv). Received: query.shape={query.shape}, key.shape={key.shape}, "
            f"value.shape={value.shape}"
        )
    scale = 1.0 / math.sqrt(depth) if scale is None else scale
    scaled_query = query * query.dtype.type(scale)
    scores = scaled_query @ key.swapaxes(-1, -2)
    weights, softmax_cache = softmax_forward(scores, mask, axis=-1, zero_masked=zero_masked)
    used = weights if dropout_mask is None else weights * dropout_mask
    output = used @ value
    cache = (scaled_query, key, value, used, dropout_mask, softmax_cache, scale,
             (query.shape, key.shape, value.shape))
    return output, weights, cache


def scaled_dot_product_attention_backward(d_output, cache, d_weights=None):
    """Gradients of :func:`scaled_dot_product_attention_forward`.

    Args:
        d_output: ``(..., Tq, dv)``.
        cache: what the forward returned.
        d_weights: None, or the upstream gradient of the returned weights
            ``(..., Tq, Tv)`` (when they are used, as Keras's attention scores).

    Returns:
        ``(d_query, d_key, d_value)`` with the shapes of query, key and value.
    """
    scaled_query, key, value, used, dropout_mask, softmax_cache, scale, shapes = cache
    d_value = used.swapaxes(-1, -2) @ d_output
    d_used = d_output @ value.swapaxes(-1, -2)
    if dropout_mask is not None:
        d_used *= dropout_mask
    if d_weights is not None:
        d_used += d_weights
    d_scores = softmax_backward(d_used, softmax_cache)
    d_query = (d_scores @ key) * d_scores.dtype.type(scale)
    d_key = d_scores.swapaxes(-1, -2) @ scaled_query
    query_shape, key_shape, value_shape = shapes
    return _unbroadcast(d_query, query_shape), _unbroadcast(d_key, key_shape), _unbroadcast(d_value, value_shape)


# ------------------------------------------------------------------- heads
def split_heads(x, num_heads):
    """``(batch, T, num_heads * depth) -> (batch, num_heads, T, depth)``.

    Args:
        x: a rank-3 array whose last axis divides by ``num_heads``.
        num_heads: positive int.
    """
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads <= 0:
        raise ValueError(f"split_heads: num_heads must be a positive int. Received: num_heads={num_heads!r}")
    if x.ndim != 3:
        raise ValueError(
            f"split_heads: expected x of rank 3 (batch, T, num_heads * depth). Received: x.shape={x.shape}"
        )
    batch, steps, features = x.shape
    if features % num_heads:
        raise ValueError(
            f"split_heads: the last axis ({features}) must divide by num_heads={num_heads}. "
            f"Received: x.shape={x.shape}"
        )
    return x.reshape(batch, steps, num_heads, features // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    """The inverse of :func:`split_heads`: ``(batch, num_heads, T, depth) -> (batch, T, num_heads * depth)``."""
    if x.ndim != 4:
        raise ValueError(
            f"merge_heads: expected x of rank 4 (batch, num_heads, T, depth). Received: x.shape={x.shape}"
        )
    batch, heads, steps, depth = x.shape
    return x.transpose(0, 2, 1, 3).reshape(batch, steps, heads * depth)


# ------------------------------------------------------ multi-head attention
_WEIGHT_KEYS = ("query_kernel", "query_bias", "key_kernel", "key_bias", "value_kernel", "value_bias",
                "output_kernel", "output_bias")


def _project_forward(x, kernel, bias):
    """Keras's EinsumDense ``abc,cde->abde``: ``(B, T, d) x (d, H, K) -> (B, H, T, K)``, heads first."""
    batch, steps, features = x.shape
    _, heads, depth = kernel.shape
    out = x.reshape(batch * steps, features) @ kernel.reshape(features, heads * depth)
    if bias is not None:
        out += bias.reshape(1, heads * depth)
    return out.reshape(batch, steps, heads, depth).transpose(0, 2, 1, 3)


def _project_backward(d_out, x, kernel, has_bias, need_dx=True):
    """Gradients of :func:`_project_forward` from ``d_out`` ``(B, H, T, K)``: ``(dx, dkernel, dbias)``."""
    batch, steps, features = x.shape
    _, heads, depth = kernel.shape
    d2 = d_out.transpose(0, 2, 1, 3).reshape(batch * steps, heads * depth)
    d_kernel = (x.reshape(batch * steps, features).T @ d2).reshape(kernel.shape)
    d_bias = d2.sum(axis=0).reshape(heads, depth) if has_bias else None
    dx = (d2 @ kernel.reshape(features, heads * depth).T).reshape(x.shape) if need_dx else None
    return dx, d_kernel, d_bias


def _expand_attention_mask(mask, where):
    """Keras's ``_masked_softmax``: a mask of rank < 4 gains axes before ``(Tq, Tv)`` (the heads' axis)."""
    mask = backend.xp.asarray(mask)
    if mask.ndim > 4:
        raise ValueError(f"{where}: the mask has more than 4 axes. Received: mask.shape={mask.shape}")
    while mask.ndim < 4:
        mask = backend.xp.expand_dims(mask, -3)
    return mask


def multi_head_attention_forward(query, value, key, weights, num_heads=None, mask=None, dropout_mask=None,
                                 zero_masked=True):
    """Keras's MultiHeadAttention for sequences: project, attend per head, project back.

    Args:
        query: ``(B, Tq, dq)``.
        value: ``(B, Tv, dv)``.
        key: ``(B, Tv, dk)``, or None to use ``value`` (self-attention's ``mha(x, x)``).
        weights: dict with Keras's layouts: ``query_kernel (dq, H, K)``,
            ``query_bias (H, K)`` or None, ``key_kernel (dk, H, K)``,
            ``key_bias``, ``value_kernel (dv, H, V)``, ``value_bias (H, V)``,
            ``output_kernel (H, V, d_out)``, ``output_bias (d_out,)`` or None.
            A missing bias key means no bias.
        num_heads: H; read from the kernels if None (checked against them if given).
        mask: None or a boolean attention mask ``(B, Tq, Tv)`` (or any shape
            Keras expands to ``(B, H, Tq, Tv)``: axes are added before ``Tq``).
        dropout_mask: None or a multiplicative mask ``(B, H, Tq, Tv)`` already
            scaled by ``1/(1-rate)``, applied to the attention weights.
        zero_masked: see :func:`softmax_forward` (True: Keras's ``Softmax``).

    Returns:
        ``(output, scores, cache)``: ``output`` ``(B, Tq, d_out)``, ``scores``
        the attention weights ``(B, H, Tq, Tv)`` before dropout (what Keras's
        ``return_attention_scores=True`` returns).
    """
    where = "multi_head_attention_forward"
    key_given = key is not None
    key = value if key is None else key
    for name, array in (("query", query), ("value", value), ("key", key)):
        if array.ndim != 3:
            raise ValueError(f"{where}: {name} must have rank 3 (batch, T, features). Received: {array.shape}")
    heads, key_dim = weights["query_kernel"].shape[1:]
    if num_heads is not None and num_heads != heads:
        raise ValueError(
            f"{where}: num_heads={num_heads} but the query kernel has {heads} heads: "
            f"query_kernel.shape={weights['query_kernel'].shape}"
        )
    q = _project_forward(query, weights["query_kernel"], weights.get("query_bias"))
    k = _project_forward(key, weights["key_kernel"], weights.get("key_bias"))
    v = _project_forward(value, weights["value_kernel"], weights.get("value_bias"))
    if mask is not None:
        mask = _expand_attention_mask(mask, where)
    context, scores, attention_cache = scaled_dot_product_attention_forward(
        q, k, v, mask=mask, scale=1.0 / math.sqrt(float(key_dim)), dropout_mask=dropout_mask,
        zero_masked=zero_masked)
    batch, _, steps, value_dim = context.shape
    output_kernel = weights["output_kernel"]
    merged = context.transpose(0, 2, 1, 3).reshape(batch * steps, heads * value_dim)
    output = merged @ output_kernel.reshape(heads * value_dim, -1)
    if weights.get("output_bias") is not None:
        output += weights["output_bias"]
    output = output.reshape(batch, steps, -1)
    present = tuple(name for name in _WEIGHT_KEYS if weights.get(name) is not None)
    cache = (query, value, key, key_given, weights, merged, attention_cache, present)
    return output, scores, cache


def multi_head_attention_backward(d_output, cache, d_scores=None, need_input_grads=True):
    """Gradients of :func:`multi_head_attention_forward`.

    Args:
        d_output: ``(B, Tq, d_out)``.
        cache: what the forward returned.
        d_scores: None, or the upstream gradient of the returned scores ``(B, H, Tq, Tv)``.
        need_input_grads: False skips the three input gradients (returned as None).

    Returns:
        ``(d_query, d_value, d_key, weight_grads)``: ``d_key`` is None when
        the forward had ``key=None`` (its gradient is then part of
        ``d_value``); ``weight_grads`` has the keys of the weights present.
    """
    query, value, key, key_given, weights, merged, attention_cache, present = cache
    output_kernel = weights["output_kernel"]
    heads, value_dim, out_features = output_kernel.shape
    batch, steps = d_output.shape[:2]
    d2 = d_output.reshape(batch * steps, out_features)
    grads = {"output_kernel": (merged.T @ d2).reshape(output_kernel.shape)}
    if "output_bias" in present:
        grads["output_bias"] = d2.sum(axis=0)
    d_context = (d2 @ output_kernel.reshape(heads * value_dim, out_features).T)
    d_context = d_context.reshape(batch, steps, heads, value_dim).transpose(0, 2, 1, 3)
    d_q, d_k, d_v = scaled_dot_product_attention_backward(d_context, attention_cache, d_scores)
    inputs = {}
    for name, x, d in (("query", query, d_q), ("key", key, d_k), ("value", value, d_v)):
        bias = f"{name}_bias"
        inputs[name], grads[f"{name}_kernel"], d_bias = _project_backward(
            d, x, weights[f"{name}_kernel"], bias in present, need_dx=need_input_grads)
        if d_bias is not None:
            grads[bias] = d_bias
    d_key = inputs["key"]
    d_value = inputs["value"]
    if not key_given and need_input_grads:
        d_value, d_key = d_value + d_key, None
    weight_grads = {name: grads[name] for name in present}
    return inputs["query"], d_value, d_key, weight_grads
