"""Attention kernels (course_lib.ops.attention) and the MultiHeadAttention layer.

Gradient checks are float64 central differences with random upstream gradients,
relative error < 1e-6 (epsilon 1e-5: with 1e-6 the rounding of the objective, a sum
over every output, swamps the smallest entries). The key's bias is the exception
that proves the rule: its gradient is exactly zero (adding ``q . b`` to every score
of a query row leaves the softmax unchanged), so it is checked to be zero, on both
sides, instead of through a relative error of two roundings.

The independent oracle is tf.keras (tests/parity/test_multi_head_attention_parity.py);
here the kernels are also compared with naive per-head loops written in the test.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend
from course_lib.ops import attention as ops
from course_lib.testing.gradient_check import assert_gradients_close, check_gradients
from course_lib.testing.layer_test import layer_test

from attention_checks import (  # noqa: E402
    B, DK, DQ, DV, TOLERANCE, TQ, TV, assert_report as _assert_report, assert_tape_matches_backward, checked_layer,
    fixed_call, layer_inputs as _layer_inputs, normal as _normal, randomize as _randomize,
)


def _fixed_call(**call_options):
    return fixed_call(cl.layers.MultiHeadAttention, **call_options)


def _checked_layer(options, inputs, training=False, before_forward=None, **call_options):
    return checked_layer(cl.layers.MultiHeadAttention, options, inputs, training, before_forward, **call_options)


# ------------------------------------------------------------ adapters for the kernels
class Kernel:
    """A forward/backward pair of arrays seen by the course's gradient checker as a weightless layer."""

    dtype = "float64"

    def __init__(self, forward, backward, weights=None):
        self._forward, self._backward = forward, backward
        self.name = "kernel"
        self.weights = weights or {}
        self.trainable_weight_names = list(self.weights)
        self.trainable_weights = [self.weights[name] for name in self.trainable_weight_names]
        self.grads = {}

    def __call__(self, inputs, training=False):
        outputs, self._cache = self._forward(inputs)
        return outputs

    def backward(self, d_outputs):
        input_grads, self.grads = self._backward(d_outputs, self._cache)
        return input_grads


def _softmax_kernel(mask=None, axis=-1, zero_masked=True):
    return Kernel(lambda s: ops.softmax_forward(s, mask, axis=axis, zero_masked=zero_masked),
                  lambda d, cache: (ops.softmax_backward(d, cache), {}))


def _attention_kernel(mask=None, dropout_mask=None, scale=None):
    def forward(inputs):
        output, _, cache = ops.scaled_dot_product_attention_forward(*inputs, mask=mask, scale=scale,
                                                                    dropout_mask=dropout_mask)
        return output, cache

    return Kernel(forward, lambda d, cache: (list(ops.scaled_dot_product_attention_backward(d, cache)), {}))


def _op_weights(seed=0, heads=2, key_dim=3, value_dim=4, out=DQ, use_bias=True, dims=(DQ, DV, DK)):
    dq, dv, dk = dims
    shapes = {"query_kernel": (dq, heads, key_dim), "query_bias": (heads, key_dim),
              "key_kernel": (dk, heads, key_dim), "key_bias": (heads, key_dim),
              "value_kernel": (dv, heads, value_dim), "value_bias": (heads, value_dim),
              "output_kernel": (heads, value_dim, out), "output_bias": (out,)}
    return {name: _normal(shape, seed + i, 0.5) for i, (name, shape) in enumerate(shapes.items())
            if use_bias or not name.endswith("bias")}


def _mha_kernel(weights, key_given=True, mask=None, dropout_mask=None):
    def forward(inputs):
        query, value = inputs[0], inputs[1]
        key = inputs[2] if key_given else None
        output, _, cache = ops.multi_head_attention_forward(query, value, key, weights, mask=mask,
                                                            dropout_mask=dropout_mask)
        return output, cache

    def backward(d_output, cache):
        d_query, d_value, d_key, grads = ops.multi_head_attention_backward(d_output, cache)
        return [d_query, d_value] + ([d_key] if key_given else []), grads

    return Kernel(forward, backward, weights)


# ------------------------------------------------------------ softmax
def test_softmax_rows_sum_to_one_masked_weights_are_zero_and_large_scores_are_stable():
    scores = np.array([[1000.0, 1001.0, 999.0, 5.0], [1.0, 2.0, 3.0, 4.0]], dtype="float32")
    mask = np.array([[True, True, True, False], [False, True, True, True]])
    weights, _ = ops.softmax_forward(scores, mask)
    assert weights.dtype == np.float32 and np.all(np.isfinite(weights))
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
    assert weights[0, 3] == 0 and weights[1, 0] == 0
    expected = np.exp([0.0, 1.0, -1.0]) / np.exp([0.0, 1.0, -1.0]).sum()
    np.testing.assert_allclose(weights[0, :3], expected, rtol=1e-6)
    row = scores[1:].astype("float64")
    plain, _ = ops.softmax_forward(row)
    assert plain.dtype == np.float64
    np.testing.assert_allclose(plain, np.exp(row) / np.exp(row).sum(), rtol=1e-12)


def test_a_fully_masked_row_is_zero_as_keras_softmax_layer_or_uniform_as_its_fused_attention():
    scores = _normal((2, 5), 0)
    mask = np.array([[False] * 5, [True, False, True, False, True]])
    zeros, _ = ops.softmax_forward(scores, mask)
    uniform, _ = ops.softmax_forward(scores, mask, zero_masked=False)
    np.testing.assert_array_equal(zeros[0], 0.0)
    np.testing.assert_allclose(uniform[0], 0.2, rtol=1e-12)
    np.testing.assert_array_equal(zeros[1], uniform[1])  # only fully masked rows tell the two apart
    d_scores = ops.softmax_backward(np.ones((2, 5)) + _normal((2, 5), 1), ops.softmax_forward(scores, mask)[1])
    np.testing.assert_array_equal(d_scores[0], 0.0)
    assert np.all(d_scores[1, [1, 3]] == 0)


def test_a_numeric_mask_keeps_the_entries_above_one_half_as_keras_softmax():
    scores = _normal((1, 4), 2)
    numeric, _ = ops.softmax_forward(scores, np.array([[0.9, 0.5, 0.2, 1.0]]))
    boolean, _ = ops.softmax_forward(scores, np.array([[True, False, False, True]]))
    np.testing.assert_array_equal(numeric, boolean)


@pytest.mark.parametrize("mask_shape", [(3, 5), (2, 1, 3), (1, 2, 3, 4)])
def test_a_mask_that_does_not_broadcast_to_the_scores_is_refused(mask_shape):
    with pytest.raises(ValueError, match=r"softmax_forward: the mask must be broadcastable.*Received: "
                                         r"scores\.shape=\(2, 3, 4\), mask\.shape="):
        ops.softmax_forward(np.zeros((2, 3, 4)), np.ones(mask_shape, bool))


@pytest.mark.parametrize("axis", [-1, 1])
@pytest.mark.parametrize("masked", [False, True], ids=["plain", "masked"])
def test_softmax_gradient_check(axis, masked):
    mask = (np.random.default_rng(3).random((2, 1, 5)) > 0.4) if masked else None
    if masked:
        mask[0, 0, :] = False  # a fully masked row too
    assert_gradients_close(_softmax_kernel(mask, axis=axis), _normal((2, 4, 5), 4), tolerance=TOLERANCE,
                           epsilon=1e-5)


def test_softmax_gradient_check_of_the_uniform_variant():
    mask = np.array([[True, False, True, True], [False, False, False, False]])
    assert_gradients_close(_softmax_kernel(mask, zero_masked=False), _normal((2, 4), 5), tolerance=TOLERANCE,
                           epsilon=1e-5)


# ------------------------------------------------------------ causal mask
def test_the_causal_mask_is_keras_lower_triangle_for_any_lengths():
    np.testing.assert_array_equal(ops.causal_mask(3, 5), [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0]])
    np.testing.assert_array_equal(ops.causal_mask(4, 2), [[1, 0], [1, 1], [1, 1], [1, 1]])
    assert ops.causal_mask(2, 2).dtype == bool


@pytest.mark.parametrize("lengths", [(-1, 3), (2.0, 3), (2, True)])
def test_the_causal_mask_refuses_bad_lengths(lengths):
    with pytest.raises(ValueError, match=r"causal_mask: (query|value)_length must be a non-negative int\. Received"):
        ops.causal_mask(*lengths)


# ------------------------------------------------------------ scaled dot-product attention
def _naive_attention(query, key, value, mask=None, scale=None):
    """Per-matrix loops over the leading axes: the formula written out, independent of the kernel."""
    scale = 1 / np.sqrt(query.shape[-1]) if scale is None else scale
    lead = query.shape[:-2]
    output = np.zeros(lead + (query.shape[-2], value.shape[-1]))
    for index in np.ndindex(*lead):
        scores = (query[index] * scale) @ key[index].T
        keep = np.ones(scores.shape, bool) if mask is None else np.broadcast_to(mask, lead + scores.shape)[index]
        scores = np.where(keep, scores, -1e9)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights = np.where(keep, weights / weights.sum(-1, keepdims=True), 0)
        output[index] = weights @ value[index]
    return output


def _qkv(seed=0, lead=(2, 3)):
    return [_normal(lead + (TQ, 4), seed), _normal(lead + (TV, 4), seed + 1), _normal(lead + (TV, 5), seed + 2)]


@pytest.mark.parametrize("case", ["plain", "masked", "causal", "scaled"])
def test_scaled_dot_product_attention_matches_the_naive_loops(case):
    query, key, value = _qkv()
    mask = {"masked": np.random.default_rng(1).random((2, 1, TQ, TV)) > 0.3,
            "causal": ops.causal_mask(TQ, TV)}.get(case)
    scale = 0.7 if case == "scaled" else None
    output, weights, _ = ops.scaled_dot_product_attention_forward(query, key, value, mask=mask, scale=scale)
    np.testing.assert_allclose(output, _naive_attention(query, key, value, mask, scale), rtol=1e-12, atol=1e-14)
    assert weights.shape == (2, 3, TQ, TV)
    if case == "causal":
        assert np.all(weights[..., 0, 1:] == 0)


@pytest.mark.parametrize("case", ["plain", "masked", "causal", "dropout"])
def test_scaled_dot_product_attention_gradient_check(case):
    rng = np.random.default_rng(2)
    mask = {"masked": rng.random((2, 1, TQ, TV)) > 0.3, "causal": ops.causal_mask(TQ, TV)}.get(case)
    dropout_mask = (rng.random((2, 3, TQ, TV)) > 0.3) / 0.7 if case == "dropout" else None
    report = check_gradients(_attention_kernel(mask, dropout_mask), _qkv(3), epsilon=1e-5)
    _assert_report(report)
    assert list(report.entries) == ["input_0", "input_1", "input_2"]


def test_scaled_dot_product_attention_sums_the_gradient_of_a_broadcast_operand():
    query, key, value = _qkv(lead=(2, 3))
    kernel = _attention_kernel()
    _assert_report(check_gradients(kernel, [query, key[:1], value[:, :1]], epsilon=1e-5))


def test_scaled_dot_product_attention_refuses_mismatched_shapes():
    query, key, value = _qkv()
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention_forward: expected query \(\.\.\., Tq, d\)"):
        ops.scaled_dot_product_attention_forward(query, key[..., :3], value)


# ------------------------------------------------------------ heads
def test_split_heads_and_merge_heads_round_trip():
    x = _normal((2, 5, 12), 0).astype("float32")
    split = ops.split_heads(x, 3)
    assert split.shape == (2, 3, 5, 4) and split.dtype == np.float32
    np.testing.assert_array_equal(split[:, 1], x[:, :, 4:8])
    np.testing.assert_array_equal(ops.merge_heads(split), x)


@pytest.mark.parametrize("call,message", [
    (lambda: ops.split_heads(np.zeros((2, 5, 12)), 5), r"split_heads: the last axis \(12\) must divide by num_heads=5"),
    (lambda: ops.split_heads(np.zeros((2, 12)), 3), r"split_heads: expected x of rank 3"),
    (lambda: ops.split_heads(np.zeros((2, 5, 12)), 0), r"split_heads: num_heads must be a positive int"),
    (lambda: ops.merge_heads(np.zeros((2, 5, 12))), r"merge_heads: expected x of rank 4"),
])
def test_split_and_merge_heads_refuse_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------ the multi-head kernel
def _naive_multi_head(query, value, key, weights, mask=None):
    """Each head on its own, with Keras's einsum layouts written out."""
    heads = weights["query_kernel"].shape[1]
    key_dim = weights["query_kernel"].shape[2]
    total = weights["output_bias"].copy() if "output_bias" in weights else 0.0
    for head in range(heads):
        q = query @ weights["query_kernel"][:, head] + weights.get("query_bias", np.zeros((heads, key_dim)))[head]
        k = key @ weights["key_kernel"][:, head] + weights.get("key_bias", np.zeros((heads, key_dim)))[head]
        v = value @ weights["value_kernel"][:, head] + weights.get(
            "value_bias", np.zeros(weights["value_kernel"].shape[1:]))[head]
        context = _naive_attention(q, k, v, mask)
        total = total + context @ weights["output_kernel"][head]
    return total


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("masked", [False, True], ids=["plain", "masked"])
def test_multi_head_attention_kernel_matches_per_head_loops(use_bias, masked):
    weights = _op_weights(use_bias=use_bias)
    query, value, key = _normal((B, TQ, DQ), 1), _normal((B, TV, DV), 2), _normal((B, TV, DK), 3)
    mask = np.random.default_rng(4).random((B, TQ, TV)) > 0.3 if masked else None
    output, scores, _ = ops.multi_head_attention_forward(query, value, key, weights, mask=mask)
    np.testing.assert_allclose(output, _naive_multi_head(query, value, key, weights, mask), rtol=1e-10, atol=1e-12)
    assert scores.shape == (B, 2, TQ, TV)


@pytest.mark.parametrize("case", ["plain", "masked", "dropout", "no-bias"])
def test_multi_head_attention_kernel_gradient_check(case):
    rng = np.random.default_rng(5)
    weights = _op_weights(use_bias=case != "no-bias")
    mask = rng.random((B, TQ, TV)) > 0.3 if case == "masked" else None
    dropout_mask = (rng.random((B, 2, TQ, TV)) > 0.25) / 0.75 if case == "dropout" else None
    inputs = [_normal((B, TQ, DQ), 1), _normal((B, TV, DV), 2), _normal((B, TV, DK), 3)]
    report = check_gradients(_mha_kernel(weights, mask=mask, dropout_mask=dropout_mask), inputs, epsilon=1e-5)
    _assert_report(report, zero_gradients={"key_bias"} & set(weights))
    assert set(report.entries) == {"input_0", "input_1", "input_2"} | set(weights)


def test_multi_head_attention_kernel_without_key_uses_the_value_and_gives_it_both_gradients():
    weights = _op_weights(dims=(DQ, DV, DV))
    query, value = _normal((B, TQ, DQ), 1), _normal((B, TV, DV), 2)
    _assert_report(check_gradients(_mha_kernel(weights, key_given=False), [query, value], epsilon=1e-5),
                   zero_gradients={"key_bias"})
    alone, _, cache = ops.multi_head_attention_forward(query, value, None, weights)
    given, _, given_cache = ops.multi_head_attention_forward(query, value, value, weights)
    np.testing.assert_array_equal(alone, given)
    d_output = _normal(alone.shape, 3)
    _, d_value, d_key, _ = ops.multi_head_attention_backward(d_output, cache)
    _, d_value_given, d_key_given, _ = ops.multi_head_attention_backward(d_output, given_cache)
    assert d_key is None
    np.testing.assert_allclose(d_value, d_value_given + d_key_given, rtol=1e-12)


def test_multi_head_attention_kernel_checks_num_heads_and_ranks():
    weights = _op_weights()
    query, value = _normal((B, TQ, DQ), 1), _normal((B, TV, DV), 2)
    with pytest.raises(ValueError, match=r"multi_head_attention_forward: num_heads=3 but the query kernel has 2 heads"):
        ops.multi_head_attention_forward(query, value, _normal((B, TV, DK), 3), weights, num_heads=3)
    with pytest.raises(ValueError, match=r"multi_head_attention_forward: query must have rank 3"):
        ops.multi_head_attention_forward(query[0], value, None, weights)


def test_the_kernels_keep_float32():
    weights = {name: value.astype("float32") for name, value in _op_weights().items()}
    arrays = [_normal((B, TQ, DQ), 1), _normal((B, TV, DV), 2), _normal((B, TV, DK), 3)]
    query, value, key = (x.astype("float32") for x in arrays)
    output, scores, cache = ops.multi_head_attention_forward(query, value, key, weights, mask=np.ones((TQ, TV), bool))
    assert output.dtype == scores.dtype == np.float32
    d_query, d_value, d_key, grads = ops.multi_head_attention_backward(output, cache)
    assert {d.dtype for d in [d_query, d_value, d_key, *grads.values()]} == {np.dtype("float32")}


# ------------------------------------------------------------ the layer: gradients
LAYER_CONFIGS = [
    {"num_heads": 1, "key_dim": 3},
    {"num_heads": 3, "key_dim": 2, "value_dim": 4},
    {"num_heads": 2, "key_dim": 3, "output_shape": 8},
    {"num_heads": 2, "key_dim": 3, "output_shape": (2, 3)},
    {"num_heads": 2, "key_dim": 3, "use_bias": False},
]
LAYER_IDS = ["one-head", "value-dim", "output-shape", "output-shape-2d", "no-bias"]


@pytest.mark.parametrize("options", LAYER_CONFIGS, ids=LAYER_IDS)
@pytest.mark.parametrize("key_given", [False, True], ids=["value-as-key", "key-given"])
def test_layer_gradients_of_inputs_and_weights(options, key_given):
    _checked_layer(options, _layer_inputs(key_given))


def _attention_mask():
    mask = np.random.default_rng(6).random((B, TQ, TV)) > 0.35
    mask[0, 1] = False  # a fully masked query row
    return mask


@pytest.mark.parametrize("call", [
    {"attention_mask": "mask"},
    {"use_causal_mask": True},
    {"attention_mask": "mask", "use_causal_mask": True},
    {"value_mask": "value", "key_mask": "key"},
    {"attention_mask": "mask", "return_attention_scores": True},
    {"use_causal_mask": True, "value_mask": "value", "return_attention_scores": True},
], ids=["attention-mask", "causal", "attention-and-causal", "value-and-key-masks", "scores", "scores-causal-value"])
def test_layer_gradients_with_masks_and_scores(call):
    masks = {"mask": _attention_mask(), "value": np.array([[True, True, False, True], [False, True, True, True]]),
             "key": np.array([[True, False, True, True], [True, True, True, False]])}
    call = {name: masks.get(value, value) if isinstance(value, str) else value for name, value in call.items()}
    _checked_layer({"num_heads": 2, "key_dim": 3, "value_dim": 2}, _layer_inputs(), **call)


def test_layer_gradients_for_cross_attention_with_tq_other_than_tv():
    _checked_layer({"num_heads": 2, "key_dim": 3}, _layer_inputs(tq=2, tv=5), use_causal_mask=True,
                   return_attention_scores=True)


def test_layer_gradients_with_dropout_in_training_use_the_forward_mask():
    holder = {}

    def reseed():
        holder["layer"]._rng = np.random.default_rng(11)  # the same dropout mask on every pass

    with backend.floatx_scope("float64"):
        layer = _fixed_call(return_attention_scores=True)(num_heads=2, key_dim=3, dropout=0.4, seed=5)
        holder["layer"] = layer
        inputs = _layer_inputs()
        layer(inputs)
        _randomize(layer)
        report = check_gradients(layer, inputs, training=True, before_forward=reseed, epsilon=1e-5)
        _assert_report(report, zero_gradients={"key/bias"})
        reseed()
        output, scores = layer(inputs, training=True)
        reseed()
        dropped = backend.rng(11).random((B, 2, TQ, TV)) < 0.4
    # The scores are the weights before dropout (as Keras returns them); the output used the dropped ones.
    np.testing.assert_allclose(scores.sum(-1), 1.0, rtol=1e-12)
    assert 0 < dropped.sum() < dropped.size
    with backend.floatx_scope("float64"):
        inference = layer(inputs, training=False)[0]
    assert not np.allclose(output, inference)


# ------------------------------------------------------------ the layer contract, weights and config
@pytest.mark.parametrize("options", LAYER_CONFIGS, ids=LAYER_IDS)
@pytest.mark.parametrize("key_given", [False, True], ids=["value-as-key", "key-given"])
def test_layer_contract(options, key_given):
    shapes = [(B, TQ, DQ), (B, TV, DV), (B, TV, DK)] if key_given else [(B, TQ, DQ), (B, TV, DQ)]
    heads, key_dim = options["num_heads"], options["key_dim"]
    value_dim = options.get("value_dim", key_dim)
    out = options.get("output_shape", DQ)
    out = (out,) if isinstance(out, int) else out
    biases = options.get("use_bias", True)
    dk = shapes[-1][-1]
    params = (shapes[0][-1] * heads * key_dim + dk * heads * key_dim + shapes[1][-1] * heads * value_dim
              + heads * value_dim * int(np.prod(out)))
    params += (2 * heads * key_dim + heads * value_dim + int(np.prod(out))) if biases else 0
    layer_test(cl.layers.MultiHeadAttention, options, input_shape=shapes,
               expected_output_shape=(None, TQ) + out, expected_num_weights=8 if biases else 4,
               expected_num_params=params)


def test_weights_have_keras_names_shapes_order_and_paths():
    layer = cl.layers.MultiHeadAttention(2, 3, value_dim=4, output_shape=8, name="mha")
    layer(*_layer_inputs(key_given=True)[:2], key=_layer_inputs()[2])
    assert layer.weight_names == ["query/kernel", "query/bias", "key/kernel", "key/bias", "value/kernel",
                                  "value/bias", "attention_output/kernel", "attention_output/bias"]
    assert [w.shape for w in layer.weights] == [(DQ, 2, 3), (2, 3), (DK, 2, 3), (2, 3), (DV, 2, 4), (2, 4),
                                                (2, 4, 8), (8,)]
    assert [w.path for w in layer.weights][::2] == ["mha/query/kernel", "mha/key/kernel", "mha/value/kernel",
                                                    "mha/attention_output/kernel"]
    assert [group for group, _ in layer.saving_children()] == [
        "query_dense", "key_dense", "value_dense", "output_dense", "_softmax", "_dropout_layer"]
    assert all(np.all(w.numpy() == 0) for w in layer.weights[1::2])  # zeros biases
    # glorot_uniform, each projection its own draw (Keras clones the initializer for each)
    assert not np.allclose(layer.weights[0].numpy(), layer.weights[2].numpy()[:DQ])


def test_config_has_keras_keys_and_round_trips_with_the_axes_keras_resolves_at_build():
    layer = cl.layers.MultiHeadAttention(2, 3, attention_axes=-2, kernel_regularizer="l2", seed=4, name="mha")
    config = layer.get_config()
    assert list(config) == ["name", "trainable", "dtype", "num_heads", "key_dim", "value_dim", "dropout", "use_bias",
                            "use_gate", "output_shape", "attention_axes", "sliding_window", "kernel_initializer",
                            "bias_initializer", "kernel_regularizer", "bias_regularizer", "activity_regularizer",
                            "kernel_constraint", "bias_constraint", "seed"]
    assert config["attention_axes"] == (-2,) and config["value_dim"] == 3 and config["use_gate"] is False
    layer(*_layer_inputs(key_given=False))
    assert layer.get_config()["attention_axes"] == (1,)
    clone = cl.layers.MultiHeadAttention.from_config(dict(layer.get_config(), output_shape=[5]))
    assert clone.get_config()["output_shape"] == (5,)
    entry = cl.layers.serialize(layer)
    assert entry["build_config"] == {"shapes_dict": {"query_shape": [B, TQ, DQ], "value_shape": [B, TV, DQ]}}
    rebuilt = cl.layers.deserialize(entry)
    assert rebuilt.built and [w.shape for w in rebuilt.weights] == [w.shape for w in layer.weights]


def test_kernel_and_bias_regularizers_and_constraints_reach_every_projection():
    layer = cl.layers.MultiHeadAttention(2, 3, kernel_regularizer=cl.regularizers.L2(0.1),
                                         bias_regularizer=cl.regularizers.L1(0.2), kernel_constraint="non_neg")
    layer(*_layer_inputs(key_given=False))
    _randomize(layer)
    expected = sum(0.1 * np.sum(np.square(w.numpy())) for w in layer.weights[::2])
    expected += sum(0.2 * np.sum(np.abs(w.numpy())) for w in layer.weights[1::2])
    np.testing.assert_allclose(sum(float(loss) for loss in layer.losses), expected, rtol=1e-5)
    assert all(type(w.constraint).__name__ == "NonNeg" for w in layer.weights[::2])


# ------------------------------------------------------------ the layer: behaviour
def test_the_layer_computes_the_kernel_with_its_weights():
    layer = cl.layers.MultiHeadAttention(2, 3, value_dim=4, name="mha")
    with backend.floatx_scope("float64"):
        layer = cl.layers.MultiHeadAttention(2, 3, value_dim=4, name="mha")
        query, value, key = _layer_inputs()
        output = layer(query, value, key=key)
        weights = _op_weights(seed=20, heads=2, key_dim=3, value_dim=4)
        layer.set_weights([weights[name] for name in ops._WEIGHT_KEYS])
        output = layer(query, value, key=key, use_causal_mask=True)
    np.testing.assert_allclose(output, _naive_multi_head(query, value, key, weights, ops.causal_mask(TQ, TV)),
                               rtol=1e-10, atol=1e-12)


def test_a_fully_masked_query_row_follows_keras_two_paths():
    with backend.floatx_scope("float64"):
        layer = cl.layers.MultiHeadAttention(2, 3)
        query, value = _layer_inputs(key_given=False)
        mask = np.ones((B, TQ, TV), bool)
        mask[0, 1] = False
        fused = layer(query, value, attention_mask=mask)
        with_scores, scores = layer(query, value, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_array_equal(scores[0, :, 1], 0.0)  # Keras's Softmax layer: zero weights
    # ... so the context is zero and the output is the output bias; the fused path is uniform: the mean of v.
    np.testing.assert_allclose(with_scores[0, 1], layer.weights[-1].numpy(), atol=1e-12)
    v = np.einsum("td,dhk->htk", value[0], layer.weights[4].numpy()) + layer.weights[5].numpy()[:, None]
    uniform = np.einsum("hk,hke->e", v.mean(axis=1), layer.weights[6].numpy()) + layer.weights[7].numpy()
    np.testing.assert_allclose(fused[0, 1], uniform, rtol=1e-10)
    np.testing.assert_allclose(fused[1], with_scores[1], rtol=1e-12)  # the other rows agree


def test_an_explicit_query_mask_is_ignored_as_keras_ignores_it_but_value_and_key_masks_count():
    layer = cl.layers.MultiHeadAttention(2, 3)
    query, value = (x.astype("float32") for x in _layer_inputs(key_given=False))
    plain = layer(query, value)
    np.testing.assert_array_equal(layer(query, value, query_mask=np.zeros((B, TQ), bool)), plain)
    value_mask = np.array([[True, True, False, False], [True, False, True, True]])
    _, scores = layer(query, value, value_mask=value_mask, return_attention_scores=True)
    np.testing.assert_array_equal(scores[0, :, :, 2:], 0.0)
    _, key_scores = layer(query, value, key_mask=value_mask, return_attention_scores=True)
    np.testing.assert_array_equal(key_scores, scores)


def test_a_sliding_window_keeps_the_band_as_keras():
    layer = cl.layers.MultiHeadAttention(2, 3, sliding_window=2)
    _, scores = layer(*_layer_inputs(key_given=False), return_attention_scores=True)
    band = np.abs(np.arange(TQ)[:, None] - np.arange(TV)[None, :]) < 2
    assert np.all(scores[..., ~band] == 0) and np.all(scores[..., band] > 0)


def test_dropout_applies_only_in_training_is_seeded_and_scales_the_kept_weights():
    query, value = (x.astype("float32") for x in _layer_inputs(key_given=False))
    first = cl.layers.MultiHeadAttention(2, 3, dropout=0.5, seed=3)
    second = cl.layers.MultiHeadAttention(2, 3, dropout=0.5, seed=3)
    first(query, value)
    second(query, value)
    second.set_weights(first.get_weights())
    np.testing.assert_array_equal(first(query, value, training=True), second(query, value, training=True))
    assert not np.allclose(first(query, value, training=True), first(query, value))
    np.testing.assert_array_equal(first(query, value), first(query, value, training=False))
    _, cache = first.forward([query, value], training=True)
    dropout_mask = cache[3]
    assert set(np.unique(dropout_mask)) == {0.0, 2.0}


def test_a_gradient_tape_differentiates_the_layer_as_its_backward():
    assert_tape_matches_backward(cl.layers.MultiHeadAttention(2, 3))


def test_frozen_layer_freezes_its_projections():
    layer = cl.layers.MultiHeadAttention(2, 3, trainable=False)
    layer(*_layer_inputs(key_given=False))
    assert layer.trainable_weights == [] and not any(w.trainable for w in layer.weights)
    layer.trainable = True
    assert len(layer.trainable_weights) == 8 and all(w.trainable for w in layer.weights)


def test_integer_inputs_are_cast_to_the_layer_dtype():
    layer = cl.layers.MultiHeadAttention(2, 3)
    output = layer(np.ones((B, TQ, 4), "int32"), np.ones((B, TV, 4), "int64"))
    assert output.dtype == np.float32


def test_the_strict_backend_gives_the_numpy_results():
    results = []
    for name in ("numpy", "strict"):
        backend.clear_session()
        backend.set_seed(7)
        with backend.backend_scope(name):
            layer = cl.layers.MultiHeadAttention(2, 3, dropout=0.3, seed=2)
            query, value, key = (backend.xp.asarray(x.astype("float32")) for x in _layer_inputs())
            mask = backend.xp.asarray(_attention_mask())
            output, scores = layer(query, value, key=key, attention_mask=mask, training=True,
                                   return_attention_scores=True, use_causal_mask=True)
            grads = layer.backward([output * 0 + 1, scores * 0 + 1])
            results.append([backend.to_numpy(a) for a in [output, scores, *grads[:3]]]
                           + [backend.to_numpy(layer.grads[n]) for n in layer.trainable_weight_names])
    for numpy_array, strict_array in zip(*results, strict=True):
        np.testing.assert_allclose(strict_array, numpy_array, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------ the layer in a graph
def _padded_ids(samples=4, steps=6, vocabulary=9):
    ids = np.random.default_rng(0).integers(1, vocabulary, (samples, steps))
    ids[1, 4:] = 0
    ids[2, :3] = 0
    ids[3, 2] = 0
    return ids


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_embedding_masks_reach_the_layer_and_the_query_mask_reaches_the_pooling(causal):
    ids_input = cl.Input((6,), dtype="int32")
    embedding = cl.layers.Embedding(9, 8, mask_zero=True)
    attention = cl.layers.MultiHeadAttention(2, 4)
    vectors = embedding(ids_input)
    attended = attention(vectors, vectors, use_causal_mask=causal)
    model = cl.Model(ids_input, cl.layers.GlobalAveragePooling1D()(attended))
    ids = _padded_ids()
    mask = ids != 0
    embedded = embedding(ids)
    # The query's mask (B, Tq, 1) and the value's (B, 1, Tv), as Keras's _compute_attention_mask.
    expected = attention(embedded, embedded, use_causal_mask=causal,
                         attention_mask=mask[:, :, None] & mask[:, None, :])
    pooled = (expected * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
    np.testing.assert_allclose(model(ids), pooled, rtol=1e-5, atol=1e-7)
    model.backward(np.ones((4, 8), "float32"))
    grads = model.grads
    np.testing.assert_array_equal(grads[f"{embedding.name}/embeddings"][0], 0.0)  # padding id: no gradient
    assert set(grads) >= {f"{attention.name}/{weight}" for weight in attention.trainable_weight_names}


def test_self_attention_in_a_graph_returns_the_scores_as_a_second_output_and_matches_eager():
    tokens = cl.Input((TQ, DQ))
    layer = cl.layers.MultiHeadAttention(2, 3, name="mha")
    output, scores = layer(tokens, tokens, return_attention_scores=True)
    assert output.shape == (None, TQ, DQ) and scores.shape == (None, 2, TQ, TQ)
    model = cl.Model(tokens, [output, scores])
    x = _layer_inputs()[0].astype("float32")
    model_output, model_scores = model(x)
    eager_output, eager_scores = layer(x, x, return_attention_scores=True)
    np.testing.assert_allclose(model_output, eager_output, rtol=1e-6)
    np.testing.assert_allclose(model_scores, eager_scores, rtol=1e-6)
    assert not isinstance(layer(x, x), list)  # an eager call with other options leaves the graph's alone
    d_output = _normal(model_output.shape, 1).astype("float32")
    d_x = model.backward([d_output, None])
    d_query, d_value = layer.backward(d_output)[:2]
    np.testing.assert_allclose(d_x, d_query + d_value, rtol=1e-5, atol=1e-6)  # the graph sums the two uses


def test_cross_attention_with_a_symbolic_attention_mask_input():
    query, value, key = cl.Input((TQ, DQ)), cl.Input((TV, DV)), cl.Input((TV, DK))
    mask_input = cl.Input((TQ, TV), dtype="bool")
    layer = cl.layers.MultiHeadAttention(2, 3, output_shape=4)
    output, scores = layer(query, value, key=key, attention_mask=mask_input, return_attention_scores=True)
    assert scores.shape == (None, 2, TQ, TV)  # Keras's compute_output_spec says (None, 2, TQ, TQ)
    model = cl.Model([query, value, key, mask_input], [output, scores])
    arrays = [x.astype("float32") for x in _layer_inputs()]
    mask = _attention_mask()
    found = model(arrays + [mask])
    expected = layer(*arrays[:2], key=arrays[2], attention_mask=mask, return_attention_scores=True)
    for mine, theirs in zip(found, expected, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)
    grads = model.backward([np.ones_like(found[0]), None])
    assert grads[3] is None and grads[0].shape == arrays[0].shape


def test_a_model_with_attention_trains_and_saves(tmp_path):
    ids_input = cl.Input((6,), dtype="int32")
    vectors = cl.layers.Embedding(9, 8, mask_zero=True)(ids_input)
    attended = cl.layers.MultiHeadAttention(2, 4, dropout=0.1, seed=1)(vectors, vectors, use_causal_mask=True)
    model = cl.Model(ids_input, cl.layers.Dense(1, activation="sigmoid")(cl.layers.GlobalAveragePooling1D()(attended)))
    model.compile(cl.optimizers.Adam(0.01), "binary_crossentropy")
    ids = np.tile(_padded_ids(), (8, 1))
    labels = (ids[:, :1] > 4).astype("float32")
    history = model.fit(ids, labels, epochs=15, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    model.save(tmp_path / "attention.keras")
    loaded = cl.models.load_model(tmp_path / "attention.keras")
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0), rtol=1e-6)
    config = model.get_config()["layers"][2]
    assert config["inbound_nodes"][0]["kwargs"] == {"use_causal_mask": True}
    assert len(config["inbound_nodes"][0]["args"]) == 2


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize("options,message", [
    ({"num_heads": 0, "key_dim": 2}, r"MultiHeadAttention: num_heads must be a positive int\. Received: num_heads=0"),
    ({"num_heads": 2.0, "key_dim": 2}, r"Received: num_heads=2\.0"),
    ({"num_heads": 2, "key_dim": 0}, r"MultiHeadAttention: key_dim must be a positive int\. Received: key_dim=0"),
    ({"num_heads": 2, "key_dim": "8"}, r"key_dim must be a positive int\. Received: key_dim='8'"),
    ({"num_heads": 2, "key_dim": 2, "value_dim": -1},
     r"value_dim must be a positive int or None\. Received: value_dim=-1"),
    ({"num_heads": 2, "key_dim": 2, "dropout": 1.0},
     r"dropout must be a float in the range \[0, 1\)\. Received: dropout=1\.0"),
    ({"num_heads": 2, "key_dim": 2, "dropout": -0.1}, r"Received: dropout=-0\.1"),
    ({"num_heads": 2, "key_dim": 2, "attention_axes": (1, 2)}, r"attention_axes must be None, 1 or -2 .*"
                                                               r"Received: attention_axes=\(1, 2\)"),
    ({"num_heads": 2, "key_dim": 2, "attention_axes": 2}, r"Received: attention_axes=2"),
    ({"num_heads": 2, "key_dim": 2, "output_shape": 0}, r"output_shape must be a positive int or a tuple of them"),
    ({"num_heads": 2, "key_dim": 2, "use_gate": True}, r"`use_gate` is not supported by course_lib"),
    ({"num_heads": 2, "key_dim": 2, "activity_regularizer": "l2"}, r"`activity_regularizer` is not supported"),
    ({"num_heads": 2, "key_dim": 2, "sliding_window": 0}, r"sliding_window must be None or a positive int"),
    ({"num_heads": 2, "key_dim": 2, "flash_attention": True, "dropout": 0.2}, r"dropout is not supported when flash"),
    ({"num_heads": 0, "key_dim": 2, "name": "mha"}, r"MultiHeadAttention 'mha': num_heads must be"),
])
def test_bad_arguments_are_refused_at_construction(options, message):
    with pytest.raises(ValueError, match=message):
        cl.layers.MultiHeadAttention(**options)


def _built(**options):
    layer = cl.layers.MultiHeadAttention(2, 3, name="mha", **options)
    layer(*(x.astype("float32") for x in _layer_inputs(key_given=False)))
    return layer


@pytest.mark.parametrize("call,message", [
    (lambda layer, q, v: layer(q[0], v), r"MultiHeadAttention 'mha': query must have rank 3.*Received: query shape "
                                         r"\(3, 5\)"),
    (lambda layer, q, v: layer(q, v[0]), r"value must have rank 3.*\(query and value ranks must match\)"),
    (lambda layer, q, v: layer(q[..., :4], v), r"the last dimension of the query must be 5, as the layer was built\. "
                                               r"Received: query shape \(2, 3, 4\)"),
    (lambda layer, q, v: layer(q, v[..., :4]), r"the last dimension of the value must be 5"),
    (lambda layer, q, v: layer(q, v, key=v[:, :2]),
     r"all dimensions of value and key, except the last one, must be equal\. Received: value shape \(2, 4, 5\), "
     r"key shape \(2, 2, 5\)"),
    (lambda layer, q, v: layer(q, v[:1]), r"must have the same batch size"),
    (lambda layer, q, v: layer(q, v, value_mask=np.ones((2, 3), bool)), r"value_mask must have shape \(batch_size, "
                                                                        r"Tv\) = \(2, 4\)\. Received: value_mask shape "
                                                                        r"\(2, 3\)"),
    (lambda layer, q, v: layer(q, v, attention_mask=np.ones((2, 4, 3), bool)),
     r"attention_mask must be broadcastable to \(batch_size, Tq, Tv\) = \(2, 3, 4\).*Received: attention_mask shape "
     r"\(2, 4, 3\)"),
    (lambda layer, q, v: layer([q, v, v, v]), r"a list of inputs must be \[query, value\] or \[query, value, key\]"),
])
def test_bad_inputs_name_the_layer_what_it_expected_and_what_it_received(call, message):
    layer = _built()
    query, value = (x.astype("float32") for x in _layer_inputs(key_given=False))
    with pytest.raises(ValueError, match=message):
        call(layer, query, value)


def test_bad_calls_are_refused_with_a_reason():
    layer = _built()
    query = _layer_inputs()[0]
    with pytest.raises(TypeError, match=r"MultiHeadAttention 'mha': missing the `value` input"):
        layer(query)
    with pytest.raises(TypeError, match=r"takes no `mask` argument"):
        layer(query, query, mask=np.ones((B, TQ), bool))
    flash = cl.layers.MultiHeadAttention(2, 3, flash_attention=True)
    with pytest.raises(ValueError, match=r"returning attention scores is not supported when flash attention"):
        flash(query, query, return_attention_scores=True)


def test_a_graph_keeps_one_set_of_call_options_and_takes_its_masks_from_the_tensors():
    tokens = cl.Input((TQ, DQ))
    layer = cl.layers.MultiHeadAttention(2, 3, name="mha")
    layer(tokens, tokens, use_causal_mask=True)
    with pytest.raises(ValueError, match=r"keeps one set of call options per layer in a graph"):
        layer(tokens, tokens)
    with pytest.raises(TypeError, match=r"in a functional graph the masks come from the input tensors.*value_mask"):
        cl.layers.MultiHeadAttention(2, 3)(tokens, tokens, value_mask=np.ones((B, TQ), bool))
    with pytest.raises(TypeError, match=r"the attention_mask must be a symbolic input.*Received: ndarray"):
        cl.layers.MultiHeadAttention(2, 3)(tokens, tokens, attention_mask=np.ones((TQ, TQ), bool))
