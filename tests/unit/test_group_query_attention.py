"""The GroupQueryAttention layer: gradients, behaviour, errors, config and files.

Gradient checks are float64 central differences with random upstream gradients,
relative error < 1e-6 (epsilon 1e-5, as for MultiHeadAttention). The key's bias
gradient is exactly zero (adding ``q . b`` to every score of a query row leaves
the softmax unchanged), so it is checked to be zero on both sides instead.

The independent oracles are a naive per-head loop written here and tf.keras
(tests/parity/test_group_query_attention_parity.py).
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend
from course_lib.testing.gradient_check import check_gradients
from course_lib.testing.layer_test import layer_test

from attention_checks import (  # noqa: E402
    B, DK, DQ, DV, TQ, TV, assert_report as _assert_report, assert_tape_matches_backward, checked_layer, fixed_call,
    layer_inputs as _layer_inputs, randomize as _randomize,
)


def _fixed_call(**call_options):
    return fixed_call(cl.layers.GroupQueryAttention, **call_options)


def _checked_layer(options, inputs, training=False, before_forward=None, **call_options):
    return checked_layer(cl.layers.GroupQueryAttention, options, inputs, training, before_forward, **call_options)


LAYER_CONFIGS = [
    {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2},
    {"head_dim": 2, "num_query_heads": 3, "num_key_value_heads": 1},
    {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 2},
    {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2, "use_bias": False},
]
LAYER_IDS = ["two-groups", "multi-query", "multi-head", "no-bias"]


# ------------------------------------------------------------ gradients
@pytest.mark.parametrize("options", LAYER_CONFIGS, ids=LAYER_IDS)
@pytest.mark.parametrize("key_given", [False, True], ids=["value-as-key", "key-given"])
def test_layer_gradients_of_inputs_and_weights(options, key_given):
    _checked_layer(options, _layer_inputs(key_given))


def _attention_mask(tq=TQ, tv=TV):
    mask = np.random.default_rng(6).random((B, tq, tv)) > 0.35
    mask[0, 1] = False  # a fully masked query row
    return mask


MASKS = {"mask": _attention_mask(), "value": np.array([[True, True, False, True], [False, True, True, True]]),
         "key": np.array([[True, False, True, True], [True, True, True, False]]),
         "query": np.array([[True, False, True], [True, True, True]])}


@pytest.mark.parametrize("kv_heads", [1, 2], ids=["one-kv-head", "two-kv-heads"])
@pytest.mark.parametrize("call", [
    {"attention_mask": "mask"},
    {"use_causal_mask": True},
    {"attention_mask": "mask", "use_causal_mask": True},
    {"value_mask": "value", "key_mask": "key"},
    {"query_mask": "query", "return_attention_scores": True},
    {"attention_mask": "mask", "return_attention_scores": True},
    {"use_causal_mask": True, "value_mask": "value", "return_attention_scores": True},
], ids=["attention-mask", "causal", "attention-and-causal", "value-and-key-masks", "query-mask-scores", "scores",
        "scores-causal-value"])
def test_layer_gradients_with_masks_and_scores(call, kv_heads):
    call = {name: MASKS.get(value, value) if isinstance(value, str) else value for name, value in call.items()}
    _checked_layer({"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": kv_heads}, _layer_inputs(), **call)


def test_layer_gradients_for_cross_attention_with_tq_other_than_tv():
    _checked_layer({"head_dim": 3, "num_query_heads": 2, "num_key_value_heads": 1}, _layer_inputs(tq=2, tv=5),
                   use_causal_mask=True, return_attention_scores=True)


def test_layer_gradients_with_dropout_in_training_use_the_forward_mask():
    holder = {}

    def reseed():
        holder["layer"]._rng = np.random.default_rng(11)  # the same dropout mask on every pass

    with backend.floatx_scope("float64"):
        layer = _fixed_call(return_attention_scores=True)(2, 4, 2, dropout=0.4, seed=5)
        holder["layer"] = layer
        inputs = _layer_inputs()
        layer(inputs)
        _randomize(layer)
        report = check_gradients(layer, inputs, training=True, before_forward=reseed, epsilon=1e-5)
        _assert_report(report, zero_gradients={"key/bias"})
        reseed()
        output, scores = layer(inputs, training=True)
        inference = layer(inputs, training=False)[0]
    np.testing.assert_allclose(scores.sum(-1), 1.0, rtol=1e-12)  # the weights before dropout, as Keras returns
    assert not np.allclose(output, inference)


# ------------------------------------------------------------ behaviour against a naive loop
def _naive_group_query(query, value, key, weights, mask, repeats):
    """Per batch, per query head: the head's key/value head is ``head // repeats``."""
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    heads, depth = wq.shape[1:]
    output = np.zeros(query.shape[:2] + (wo.shape[-1],))
    scores = np.zeros((query.shape[0], heads, query.shape[1], value.shape[1]))
    for b in range(query.shape[0]):
        for h in range(heads):
            g = h // repeats
            q = query[b] @ wq[:, h] + bq[h]
            k = key[b] @ wk[:, g] + bk[g]
            v = value[b] @ wv[:, g] + bv[g]
            logits = (q / np.sqrt(depth)) @ k.T
            logits = np.where(mask[b], logits, -1e9)
            weight = np.exp(logits - logits.max(-1, keepdims=True))
            weight /= weight.sum(-1, keepdims=True)
            scores[b, h] = weight
            output[b] += (weight @ v) @ wo[h]
    return output + bo, scores


@pytest.mark.parametrize("kv_heads", [1, 2, 4])
def test_the_layer_computes_grouped_query_attention_with_its_weights(kv_heads):
    with backend.floatx_scope("float64"):
        layer = cl.layers.GroupQueryAttention(3, 4, kv_heads)
        query, value, key = _layer_inputs()
        layer(query, value, key=key)
        _randomize(layer, seed=20)
        mask = _attention_mask() | np.eye(TQ, TV, dtype=bool)  # no fully masked row
        output, scores = layer(query, value, key=key, attention_mask=mask, return_attention_scores=True)
        fused = layer(query, value, key=key, attention_mask=mask)
    expected, expected_scores = _naive_group_query(query, value, key, layer.get_weights(), mask, 4 // kv_heads)
    np.testing.assert_allclose(output, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fused, expected, rtol=1e-10, atol=1e-12)


def test_equal_heads_is_multi_head_attention_with_the_same_weights():
    query, value, key = (x.astype("float32") for x in _layer_inputs())
    gqa = cl.layers.GroupQueryAttention(3, 2, 2)
    mha = cl.layers.MultiHeadAttention(2, 3)
    gqa(query, value, key=key)
    mha(query, value, key=key)
    _randomize(gqa)
    mha.set_weights(gqa.get_weights())
    np.testing.assert_allclose(gqa(query, value, key=key, use_causal_mask=True),
                               mha(query, value, key=key, use_causal_mask=True), rtol=1e-6, atol=1e-7)


def test_a_fully_masked_query_row_follows_keras_two_paths():
    with backend.floatx_scope("float64"):
        layer = cl.layers.GroupQueryAttention(3, 4, 2)
        query, value = _layer_inputs(key_given=False)
        mask = np.ones((B, TQ, TV), bool)
        mask[0, 1] = False
        fused = layer(query, value, attention_mask=mask)
        with_scores, scores = layer(query, value, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_array_equal(scores[0, :, 1], 0.0)  # Keras's Softmax layer: zero weights, zero context
    np.testing.assert_allclose(with_scores[0, 1], layer.weights[-1].numpy(), atol=1e-12)
    assert not np.allclose(fused[0, 1], with_scores[0, 1])  # its fused kernel: a uniform row
    np.testing.assert_allclose(fused[1], with_scores[1], rtol=1e-12)


def test_an_explicit_query_mask_is_used_as_keras_uses_it_and_value_and_key_masks_count():
    layer = cl.layers.GroupQueryAttention(3, 4, 2)
    query, value = (x.astype("float32") for x in _layer_inputs(key_given=False))
    _, scores = layer(query, value, query_mask=MASKS["query"], return_attention_scores=True)
    np.testing.assert_array_equal(scores[0, :, 1], 0.0)
    assert np.all(scores[1].sum(-1) > 0.99)
    value_mask = np.array([[True, True, False, False], [True, False, True, True]])
    _, scores = layer(query, value, value_mask=value_mask, return_attention_scores=True)
    np.testing.assert_array_equal(scores[0, :, :, 2:], 0.0)
    _, key_scores = layer(query, value, key_mask=value_mask, return_attention_scores=True)
    np.testing.assert_array_equal(key_scores, scores)


def test_causal_and_sliding_window_masks_keep_keras_bands():
    layer = cl.layers.GroupQueryAttention(2, 4, 2, sliding_window=2)
    _, scores = layer(*_layer_inputs(key_given=False), return_attention_scores=True, use_causal_mask=True)
    band = (np.abs(np.arange(TQ)[:, None] - np.arange(TV)[None, :]) < 2) & np.tri(TQ, TV, dtype=bool)
    assert scores.shape == (B, 4, TQ, TV)
    assert np.all(scores[..., ~band] == 0) and np.all(scores[..., band] > 0)


def test_dropout_applies_only_in_training_and_is_seeded():
    query, value = (x.astype("float32") for x in _layer_inputs(key_given=False))
    first = cl.layers.GroupQueryAttention(3, 4, 2, dropout=0.5, seed=3)
    second = cl.layers.GroupQueryAttention(3, 4, 2, dropout=0.5, seed=3)
    first(query, value)
    second(query, value)
    second.set_weights(first.get_weights())
    np.testing.assert_array_equal(first(query, value, training=True), second(query, value, training=True))
    assert not np.allclose(first(query, value, training=True), first(query, value))
    np.testing.assert_array_equal(first(query, value), first(query, value, training=False))


def test_a_gradient_tape_differentiates_the_layer_as_its_backward():
    assert_tape_matches_backward(cl.layers.GroupQueryAttention(3, 4, 1))


def test_float32_inputs_keep_float32():
    layer = cl.layers.GroupQueryAttention(3, 4, 2)
    output, scores = layer(*(x.astype("float32") for x in _layer_inputs()[:2]), return_attention_scores=True)
    assert output.dtype == scores.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.backward([np.ones_like(output), None]) if g is not None)


# ------------------------------------------------------------ contract, weights, config
@pytest.mark.parametrize("options", LAYER_CONFIGS, ids=LAYER_IDS)
@pytest.mark.parametrize("key_given", [False, True], ids=["value-as-key", "key-given"])
def test_layer_contract(options, key_given):
    # The value's last dimension is the query's: Keras's compute_output_shape (which the harness calls) says so.
    shapes = [(B, TQ, DQ), (B, TV, DQ), (B, TV, DK)] if key_given else [(B, TQ, DQ), (B, TV, DQ)]
    depth, heads, kv = options["head_dim"], options["num_query_heads"], options["num_key_value_heads"]
    dq, dv, dk = shapes[0][-1], shapes[1][-1], shapes[-1][-1]
    params = dq * heads * depth + dk * kv * depth + dv * kv * depth + heads * depth * dq
    biases = options.get("use_bias", True)
    params += (heads * depth + 2 * kv * depth + dq) if biases else 0
    layer_test(cl.layers.GroupQueryAttention, options, input_shape=shapes, expected_output_shape=(None, TQ, DQ),
               expected_num_weights=8 if biases else 4, expected_num_params=params)


def test_weights_have_keras_names_shapes_order_paths_and_groups():
    layer = cl.layers.GroupQueryAttention(3, 4, 2, name="gqa")
    query, value, key = _layer_inputs()
    layer(query, value, key=key)
    assert layer.weight_names == ["query/kernel", "query/bias", "key/kernel", "key/bias", "value/kernel",
                                  "value/bias", "attention_output/kernel", "attention_output/bias"]
    assert [w.shape for w in layer.weights] == [(DQ, 4, 3), (4, 3), (DK, 2, 3), (2, 3), (DV, 2, 3), (2, 3),
                                                (4, 3, DQ), (DQ,)]
    assert [w.path for w in layer.weights][::2] == ["gqa/query/kernel", "gqa/key/kernel", "gqa/value/kernel",
                                                    "gqa/attention_output/kernel"]
    assert [group for group, _ in layer.saving_children()] == [
        "_query_dense", "_key_dense", "_value_dense", "_softmax", "_dropout_layer", "_output_dense"]
    assert all(np.all(w.numpy() == 0) for w in layer.weights[1::2])
    assert not np.allclose(layer.weights[2].numpy()[:DV], layer.weights[4].numpy())  # each its own draw
    assert cl.layers.GroupQueryAttention(3, 4, 2).name.startswith("grouped_query_attention")  # Keras's default


def test_config_has_keras_keys_and_round_trips():
    layer = cl.layers.GroupQueryAttention(3, 4, 2, dropout=0.1, sliding_window=3, kernel_regularizer="l2",
                                          seed=4, name="gqa")
    config = layer.get_config()
    assert list(config) == ["name", "trainable", "dtype", "head_dim", "num_query_heads", "num_key_value_heads",
                            "use_bias", "use_gate", "sliding_window", "dropout", "kernel_initializer",
                            "bias_initializer", "kernel_regularizer", "bias_regularizer", "activity_regularizer",
                            "kernel_constraint", "bias_constraint", "seed"]
    clone = cl.layers.GroupQueryAttention.from_config(config)
    assert clone.get_config() == config
    layer(*_layer_inputs(key_given=False))
    entry = cl.layers.serialize(layer)
    assert entry["class_name"] == "GroupQueryAttention" and entry["module"] == "keras.layers"
    assert entry["build_config"] == {"shapes_dict": {"query_shape": [B, TQ, DQ], "value_shape": [B, TV, DQ]}}
    rebuilt = cl.layers.deserialize(entry)
    assert type(rebuilt) is cl.layers.GroupQueryAttention
    assert rebuilt.built and [w.shape for w in rebuilt.weights] == [w.shape for w in layer.weights]


def test_a_functional_model_saves_and_loads_in_course_lib(tmp_path):
    query, value = cl.Input((TQ, DQ)), cl.Input((TV, DQ))
    output, scores = cl.layers.GroupQueryAttention(2, 4, 2, name="gqa")(query, value, use_causal_mask=True,
                                                                        return_attention_scores=True)
    model = cl.Model([query, value], [output, scores])
    assert model.output_shape == [(None, TQ, DQ), (None, 4, TQ, TV)]
    inputs = [x.astype("float32") for x in _layer_inputs(key_given=False)]
    model.save(tmp_path / "gqa.keras")
    loaded = cl.models.load_model(tmp_path / "gqa.keras")
    for mine, theirs in zip(loaded(inputs), model(inputs), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------ errors naming the layer
@pytest.mark.parametrize("options, message", [
    ({"head_dim": 0, "num_query_heads": 4, "num_key_value_heads": 2}, "head_dim must be a positive int"),
    ({"head_dim": -2, "num_query_heads": 4, "num_key_value_heads": 2}, "head_dim must be a positive int"),
    ({"head_dim": 2.0, "num_query_heads": 4, "num_key_value_heads": 2}, "head_dim must be a positive int"),
    ({"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 3}, "num_query_heads must be divisible"),
    ({"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 0}, "num_key_value_heads must be a positive"),
    ({"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2, "dropout": 1.0}, "dropout must be"),
    ({"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2, "sliding_window": 0}, "sliding_window"),
    ({"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2, "flash_attention": True},
     "flash_attention must be None or False"),
])
def test_bad_arguments_raise_naming_the_layer(options, message):
    with pytest.raises(ValueError, match=f"GroupQueryAttention 'bad': {message}"):
        cl.layers.GroupQueryAttention(name="bad", **options)


def test_flash_attention_none_and_false_are_accepted():
    for flag in (None, False):
        layer = cl.layers.GroupQueryAttention(2, 4, 2, flash_attention=flag)
        assert layer(*_layer_inputs(key_given=False)).shape == (B, TQ, DQ)


def test_use_gate_and_activity_regularizer_are_refused():
    with pytest.raises(ValueError, match="GroupQueryAttention 'g'.*use_gate"):
        cl.layers.GroupQueryAttention(2, 4, 2, use_gate=True, name="g")
    with pytest.raises(ValueError, match="GroupQueryAttention 'g'.*activity_regularizer"):
        cl.layers.GroupQueryAttention(2, 4, 2, activity_regularizer="l2", name="g")


@pytest.mark.parametrize("call, message", [
    ({"value_mask": np.ones((B, TV + 1), bool)}, r"value_mask must have shape \(batch_size, Tv\)"),
    ({"query_mask": np.ones((B, TV), bool)}, r"query_mask must have shape \(batch_size, Tq\)"),
    ({"key_mask": np.ones((B + 1, TV), bool)}, r"key_mask must have shape \(batch_size, Tv\)"),
    ({"attention_mask": np.ones((B, TQ, TV + 1), bool)}, "attention_mask must be broadcastable"),
    ({"attention_mask": np.ones((B, 3, TQ, TV), bool)}, "attention_mask must be broadcastable"),
])
def test_wrong_mask_shapes_raise_naming_the_layer(call, message):
    layer = cl.layers.GroupQueryAttention(2, 4, 2, name="gqa")
    with pytest.raises(ValueError, match=f"GroupQueryAttention 'gqa': {message}"):
        layer(*_layer_inputs(key_given=False), **call)


def test_bad_inputs_raise_naming_the_layer():
    layer = cl.layers.GroupQueryAttention(2, 4, 2, name="gqa")
    query, value, key = _layer_inputs()
    with pytest.raises(ValueError, match="GroupQueryAttention 'gqa': all dimensions of value and key"):
        layer(query, value, key=key[:, :2])
    with pytest.raises(ValueError, match="GroupQueryAttention 'gqa': query must have rank 3"):
        layer(query[0], value)
    layer(query, value, key=key)
    with pytest.raises(ValueError, match="GroupQueryAttention 'gqa': the last dimension of the key must be 7"):
        layer(query, value, key=value)


def test_a_graph_refuses_a_query_and_a_value_of_different_last_dimensions_as_keras():
    layer = cl.layers.GroupQueryAttention(2, 4, 2, name="gqa")
    with pytest.raises(ValueError, match="GroupQueryAttention 'gqa': the last dimension of the query shape"):
        layer(cl.Input((TQ, DQ)), cl.Input((TV, DV)))
    eager = cl.layers.GroupQueryAttention(2, 4, 2)  # eager calls accept them, as Keras's
    assert eager(*_layer_inputs()[:2]).shape == (B, TQ, DQ)
